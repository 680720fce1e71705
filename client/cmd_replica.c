/*
 * Commands on the replica as a whole: init (create this device's encrypted
 * replica) and passwd (re-wrap its key under a new passphrase; the database
 * is not touched).
 */
#include <stdio.h>

#include "cmd.h"
#include "fieldsync/keyfile.h"
#include "fieldsync/passphrase.h"
#include "fieldsync/rules.h"
#include "i18n.h"

int cmd_init(cli_ctx *ctx, int argc, char **argv)
{
    cli_pass pass = {NULL, 0};
    fs_replica *r = NULL;
    uint8_t device[FS_ID_BYTES];
    char hex[2 * FS_ID_BYTES + 1];
    const char *home;
    int rc;

    rc = cli_parse(ctx, USAGE_INIT, NULL, 0, argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    rc = cli_home(ctx, &home);
    if (rc != CLI_OK)
        return rc;
    if (cli_replica_exists(home)) {
        cli_error(_("init: a replica already exists in %s"), home);
        return CLI_ERUNTIME;
    }
    rc = cli_pass_get_new(&pass, "FIELDSYNC_PASSPHRASE", _("New passphrase: "),
                          _("Repeat the passphrase: "));
    if (rc != CLI_OK)
        return rc;
    rc = fs_replica_create(&r, home, pass.buf, pass.len, NULL);
    /* its measure kept: a team's stricter rule is checked at enroll and
     * after each sync without asking for it again */
    if (rc == 0 && (rc = cli_pass_remember(r, pass.buf, pass.len)) != 0) {
        cli_pass_free(&pass);
        return cli_fail(r, "init: recording the passphrase's measure", rc);
    }
    cli_pass_free(&pass);
    if (rc == FS_EEXIST) {
        cli_error(_("init: a replica already exists in %s"), home);
        return CLI_ERUNTIME;
    }
    if (rc != 0) {
        cli_error(_("init: creating the replica in %s: %s"), home, cli_strerror(rc));
        return CLI_ERUNTIME;
    }
    fs_replica_device(r, device);
    fs_replica_close(r);
    fs_id_to_hex(device, hex);
    printf(_("created an encrypted replica in %s (device %.8s)\n"), home, hex);
    return CLI_OK;
}

int cmd_passwd(cli_ctx *ctx, int argc, char **argv)
{
    cli_pass oldpass = {NULL, 0}, newpass = {NULL, 0};
    fs_secret *secret = NULL;
    fs_replica *r = NULL;
    char keyfile[4096];
    const char *home;
    int rc;

    rc = cli_parse(ctx, USAGE_PASSWD, NULL, 0, argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    rc = cli_home(ctx, &home);
    if (rc != CLI_OK)
        return rc;
    rc = cli_keyfile_path(home, keyfile, sizeof keyfile);
    if (rc != CLI_OK)
        return rc;
    if (!cli_replica_exists(home)) {
        cli_error(_("passwd: no replica in %s"), home);
        return CLI_ERUNTIME;
    }
    rc = cli_pass_get(&oldpass, "FIELDSYNC_PASSPHRASE", _("Current passphrase: "), NULL);
    if (rc != CLI_OK)
        goto done;

    /* Check the current passphrase before asking twice for a new one. */
    rc = fs_keyfile_unlock(keyfile, oldpass.buf, oldpass.len, &secret);
    if (rc != 0) {
        cli_error(_("passwd: %s; nothing was changed"), cli_strerror(rc));
        rc = CLI_ERUNTIME;
        goto done;
    }
    /* The team's passphrase rule as the last sync brought it (issue 20.7):
     * the replica opened with the key just unwrapped. */
    fs_pass_policy pol;
    char team[FS_USER_MAX + 1] = "";
    rc = cli_open_key(home, secret, &r);
    if (rc == 0 && fs_replica_setting(r, "team", team, sizeof team) != 0)
        team[0] = '\0';
    if (rc == 0)
        rc = fs_team_pass_policy(r, team, &pol);
    if (rc != 0) {
        cli_error(_("passwd: %s; nothing was changed"), cli_strerror(rc));
        rc = CLI_ERUNTIME;
        goto done;
    }
    /* not held while the new passphrase is typed (the daemon syncs) */
    fs_replica_close(r);
    r = NULL;
    rc = cli_pass_get_new_for(&newpass, "FIELDSYNC_NEW_PASSPHRASE", _("New passphrase: "),
                              _("Repeat the new passphrase: "), &pol, team);
    if (rc != CLI_OK)
        goto done;
    rc = fs_replica_change_passphrase(home, oldpass.buf, oldpass.len, newpass.buf, newpass.len);
    if (rc != 0) {
        cli_error(_("passwd: %s; nothing was changed"), cli_strerror(rc));
        rc = CLI_ERUNTIME;
        goto done;
    }
    printf(_("passphrase changed for the replica in %s\n"), home);
    /* the new one's measure, for the team's rule after the next syncs
     * (the key is the same: only its wrapping changed) */
    rc = cli_open_key(home, secret, &r);
    if (rc == 0)
        rc = cli_pass_remember(r, newpass.buf, newpass.len);
    if (rc != 0)
        rc = cli_fail(r, "passwd: recording the passphrase's measure", rc);

done:
    fs_secret_free(secret);
    fs_replica_close(r);
    cli_pass_free(&newpass);
    cli_pass_free(&oldpass);
    return rc;
}

int cmd_check(cli_ctx *ctx, int argc, char **argv)
{
    fs_replica *r = NULL;
    size_t problems = 0;
    int rc = cli_parse(ctx, USAGE_CHECK, NULL, 0, argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    rc = cli_open_locked(ctx, &r);
    if (rc != CLI_OK)
        return rc;
    int frc = fs_replica_check(r, &problems);
    if (frc != 0) {
        rc = cli_fail(r, "check", frc);
    } else if (problems > 0) {
        cli_error(_("check: %zu problems; the first: %s"), problems, fs_replica_errmsg(r));
        rc = CLI_ERUNTIME;
    } else {
        printf("%s", _("replica check: every value this device wrote matches its change log\n"));
        rc = CLI_OK;
    }
    fs_replica_close(r);
    return rc;
}
