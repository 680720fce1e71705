/*
 * Commands that talk to the server: enroll (join with a one-time code and
 * pin the server's key), sync (exchange changes until in sync) and status
 * (what is waiting to be sent, what the server refused). The daemon, which
 * syncs by itself, is cmd_daemon.c; it reads the server as sync does
 * (cmd_sync.h).
 *
 * The server's address is kept in the encrypted replica as a URL of the one
 * form "ws://HOST:PORT" (fs_replica_set_server), parsed strictly both when
 * the user types it and when sync reads it back. The link over the
 * transport (link.h) does the rest; a failed sync leaves every local
 * change in place, to be sent next time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <termios.h>
#include <unistd.h>

#include <cJSON.h>
#include <sodium.h>

#include "agent.h"
#include "cmd.h"
#include "cmd_sync.h"
#include "fieldsync/calendar.h"
#include "fieldsync/clock.h"
#include "fieldsync/enroll.h"
#include "fieldsync/keyfile.h"
#include "fieldsync/msg.h"
#include "fieldsync/passphrase.h"
#include "fieldsync/schema.h"
#include "i18n.h"
#include "link.h"
#include "record.h"
#include "refused.h"
#include "teamcal.h"

#define ENROLL_TIMEOUT_MS 30000

static int host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
}

/* NULL if url is a server URL we accept (and *out holds it), else why not. */
static const char *url_problem(const char *url, server_addr *out)
{
    const char *p, *colon;
    size_t hostlen, portlen;
    long port = 0;

    memset(out, 0, sizeof *out);
    if (strlen(url) > FS_SERVER_URL_MAX)
        return "too long";
    if (strncmp(url, "wss://", 6) == 0)
        out->tls = 1;
    else if (strncmp(url, "ws://", 5) != 0)
        return "must start with ws:// or wss://";
    p = url + (out->tls ? 6 : 5);
    colon = strchr(p, ':');
    if (colon == NULL)
        return "missing :PORT";
    hostlen = (size_t)(colon - p);
    if (hostlen == 0)
        return "missing host";
    if (hostlen > HOST_MAX)
        return "host too long";
    for (size_t i = 0; i < hostlen; i++)
        if (!host_char(p[i]))
            return "host may hold only letters, digits, '.' and '-'";
    if (p[0] == '-' || p[0] == '.')
        return "host must start with a letter or digit";
    portlen = strlen(colon + 1);
    if (portlen > 0 && colon[portlen] == '/')
        portlen--; /* one trailing slash */
    if (portlen == 0)
        return "missing port";
    if (portlen > 5)
        return "port must be 1-65535";
    for (size_t i = 0; i < portlen; i++) {
        char c = colon[1 + i];
        if (c < '0' || c > '9')
            return "port must be a number 1-65535";
        port = port * 10 + (c - '0');
    }
    if (colon[1] == '0' || port < 1 || port > 65535)
        return "port must be 1-65535";
    memcpy(out->host, p, hostlen);
    out->host[hostlen] = '\0';
    out->port = (int)port;
    return NULL;
}

/* Parses a server URL given as what ("--server", "server add"); on a bad
 * one prints why, naming what, echoing the value only if it is short and
 * printable (cmd_sync.h). */
int cmd_parse_server_url(const char *what, const char *url, server_addr *out)
{
    const char *why = url_problem(url, out);
    size_t n = strlen(url);
    int printable = n <= 80;
    if (why == NULL)
        return CLI_OK;
    for (size_t i = 0; printable && i < n; i++)
        printable = url[i] >= 0x20 && url[i] <= 0x7E;
    if (printable)
        cli_error(_("%s: expected ws://HOST:PORT or wss://HOST:PORT, got \"%s\": %s"), what, url,
                  why);
    else
        cli_error(_("%s: expected ws://HOST:PORT or wss://HOST:PORT: %s"), what, why);
    return CLI_EUSAGE;
}

static void key_hex16(const uint8_t pk[FS_SIGN_PK_BYTES], char out[17])
{
    sodium_bin2hex(out, 17, pk, 8);
}

/* The --server values of enroll (or server add's URL): each checked (the
 * flag named), no two the same, at most FS_SERVERS_MAX. Into set, in the
 * order given. */
static int parse_server_list(const cli_list *urls, server_set *set)
{
    memset(set, 0, sizeof *set);
    if (urls->count == 0)
        return cli_require("enroll", "--server", NULL);
    if (urls->count > FS_SERVERS_MAX) {
        cli_error(_("--server: at most %d addresses"), FS_SERVERS_MAX);
        return CLI_EUSAGE;
    }
    for (size_t i = 0; i < urls->count; i++) {
        int rc = cmd_parse_server_url("--server", urls->items[i], &set->addr[i]);
        if (rc != CLI_OK)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(urls->items[i], urls->items[j]) == 0) {
                cli_error(_("--server: \"%s\" is given twice"), urls->items[i]);
                return CLI_EUSAGE;
            }
        snprintf(set->url[i], sizeof set->url[i], "%s", urls->items[i]);
        memcpy(set->list.url[i], set->url[i], sizeof set->list.url[i]);
    }
    set->n = set->list.n = urls->count;
    return CLI_OK;
}

/* One address did not answer, the next is tried: said, never silent. */
static void say_moving_on(const char *url, const char *why, const char *next)
{
    printf(_("the server at %s did not answer (%s); trying %s\n"), url, why, next);
    fflush(stdout);
}

/* Creates the replica in home (asking for a new passphrase, as init does,
 * held to the team's rule pol when the server told it) or opens the one
 * there. */
static int open_or_create(const cli_ctx *ctx, const char *home, const fs_ws_policy *pol,
                          fs_replica **out)
{
    cli_pass pass = {NULL, 0};
    int rc;

    *out = NULL;
    if (cli_replica_exists(home))
        return cli_open_locked(ctx, out);
    fs_pass_policy rule;
    fs_pass_policy_default(&rule);
    if (pol != NULL) {
        rule.min_chars = pol->min_chars;
        rule.min_words = pol->min_words;
    }
    rc = cli_pass_get_new_for(&pass, "FIELDSYNC_PASSPHRASE", _("New passphrase: "),
                              _("Repeat the passphrase: "), &rule, pol != NULL ? pol->team : NULL);
    if (rc != CLI_OK)
        return rc;
    rc = fs_replica_create(out, home, pass.buf, pass.len, NULL);
    if (rc != 0) {
        cli_pass_free(&pass);
        *out = NULL;
        cli_error(_("enroll: creating the replica in %s: %s"), home, cli_strerror(rc));
        return CLI_ERUNTIME;
    }
    rc = cli_pass_remember(*out, pass.buf, pass.len);
    cli_pass_free(&pass);
    if (rc != 0)
        return cli_fail(*out, "enroll: recording the passphrase's measure", rc);
    printf(_("created an encrypted replica in %s\n"), home);
    return CLI_OK;
}

/* Asks for the passphrase of the replica in home (or FIELDSYNC_PASSPHRASE),
 * kept in *pass, and opens the replica with it into *out (out NULL: only
 * checks that it unlocks the key file). */
static int open_with_passphrase(const char *home, fs_replica **out, cli_pass *pass)
{
    char prompt[256], keypath[4096];
    fs_secret *key = NULL;
    int rc = cli_keyfile_path(home, keypath, sizeof keypath);
    if (rc != CLI_OK)
        return rc;
    snprintf(prompt, sizeof prompt, _("Passphrase for %s: "), home);
    rc = cli_pass_get(pass, "FIELDSYNC_PASSPHRASE", prompt, NULL);
    if (rc != CLI_OK)
        return rc;
    int frc = fs_keyfile_unlock(keypath, pass->buf, pass->len, &key);
    if (frc == 0 && out != NULL)
        frc = cli_open_key(home, key, out);
    fs_secret_free(key);
    if (frc != 0) {
        if (out != NULL)
            *out = NULL;
        cli_pass_free(pass);
        cli_error(_("opening the replica in %s: %s"), home, cli_strerror(frc));
        return CLI_ERUNTIME;
    }
    return CLI_OK;
}

/* Opens the replica a `fieldsync init` made in home: with the unlock
 * agent's key when one runs (*pass left empty: settle_passphrase checks
 * the passphrase's remembered measure, and asks for the passphrase only if
 * it must be changed or is not known), else with its passphrase (asked
 * for, or FIELDSYNC_PASSPHRASE), kept in *pass. */
static int open_existing(const char *home, fs_replica **out, cli_pass *pass)
{
    fs_secret *key = NULL;
    *out = NULL;
    int frc = agent_key(home, 0, &key);
    if (frc == FS_EAUTH) {
        cli_error(_("%s/agent.sock is served by another user: not using it; remove it"), home);
        return CLI_ERUNTIME;
    }
    if (frc == 0) {
        frc = cli_open_key(home, key, out);
        fs_secret_free(key);
        if (frc != 0) {
            *out = NULL;
            cli_error(_("opening the replica in %s: %s"), home, cli_strerror(frc));
            return CLI_ERUNTIME;
        }
        return CLI_OK;
    }
    if (frc != FS_ENOTFOUND)
        cli_error(_("the unlock agent of %s did not answer; asking for the passphrase"), home);
    return open_with_passphrase(home, out, pass);
}

/* A replica made by `init` before `enroll` was held to the built-in rule
 * only: its passphrase pass is checked against the team's (pol, or the
 * built-in rule from a server that tells none) before the code is spent.
 * Short of it: a new one is asked for (a terminal, or
 * FIELDSYNC_NEW_PASSPHRASE) and the key file re-wrapped as passwd does;
 * else refused, saying to run passwd first. CLI_OK when settled. */
static int settle_passphrase(const char *home, fs_replica *r, cli_pass *pass,
                             const fs_ws_policy *pol)
{
    fs_pass_policy rule;
    fs_pass_policy_default(&rule);
    if (pol != NULL) {
        rule.min_chars = pol->min_chars;
        rule.min_words = pol->min_words;
    }
    const char *team = pol != NULL ? pol->team : NULL;
    if (pass->buf == NULL) {
        /* opened with the agent's key: the measure remembered when the
         * passphrase was set, else the passphrase itself is asked for */
        char v[64];
        unsigned c = 0, wds = 0;
        int o = -1;
        if (fs_replica_setting(r, "passfit", v, sizeof v) == 0 &&
            sscanf(v, "%u %u %d", &c, &wds, &o) == 3 &&
            (o == FS_PASS_OK || o == FS_PASS_REPETITIVE || o == FS_PASS_COMMON)) {
            fs_pass_measure m = {c, wds, (fs_pass_weakness)o};
            if (fs_pass_measure_check(&m, &rule) == FS_PASS_OK)
                return CLI_OK;
        }
        int rc = open_with_passphrase(home, NULL, pass);
        if (rc != CLI_OK)
            return rc;
    }
    fs_pass_weakness w = fs_passphrase_weakness_for(pass->buf, pass->len, &rule);
    if (w == FS_PASS_OK) {
        int frc = cli_pass_remember(r, pass->buf, pass->len);
        return frc == 0 ? CLI_OK : cli_fail(r, "enroll: recording the passphrase's measure", frc);
    }
    char why[320];
    cli_pass_why(w, &rule, team, why, sizeof why);
    const char *env = getenv("FIELDSYNC_NEW_PASSPHRASE");
    if ((env == NULL || env[0] == '\0') && !isatty(STDIN_FILENO)) {
        cli_error(_("enroll: the passphrase of the replica in %s is %s. Run 'fieldsync --home %s "
                    "passwd' first (or give a new one in FIELDSYNC_NEW_PASSPHRASE), then enroll "
                    "again; the enrollment code was not used"),
                  home, why, home);
        return CLI_EUSAGE;
    }
    fprintf(stderr, _("The passphrase of the replica in %s is %s: choose a new one (the enrollment "
                      "code is used only once it is set).\n"),
            home, why);
    cli_pass newpass = {NULL, 0};
    int rc = cli_pass_get_new_for(&newpass, "FIELDSYNC_NEW_PASSPHRASE", _("New passphrase: "),
                                  _("Repeat the new passphrase: "), &rule, team);
    if (rc != CLI_OK) {
        cli_error(_("enroll: the enrollment code was not used"));
        return rc;
    }
    int frc = fs_replica_change_passphrase(home, pass->buf, pass->len, newpass.buf, newpass.len);
    if (frc == 0)
        frc = cli_pass_remember(r, newpass.buf, newpass.len);
    cli_pass_free(&newpass);
    if (frc != 0) {
        cli_error(_("enroll: changing the passphrase: %s; the enrollment code was not used"),
                  cli_strerror(frc));
        return CLI_ERUNTIME;
    }
    printf(_("passphrase changed for the replica in %s\n"), home);
    return CLI_OK;
}

/* After enrolling: who the device's user now is. The server names the
 * user and team in READY (protocol version 3), and the session has taken
 * them (fs_replica_adopt_user) before its first push: records made here
 * under another local name went to the server under the server's name. */
static void enroll_say_user(fs_replica *r, const char *before)
{
    char user[FS_USER_MAX + 1], team[FS_USER_MAX + 1], role[16];
    if (fs_replica_user(r, user) != 0) {
        printf("%s", _("the server did not name this device's user (a server older than this "
                       "client): set it with fieldsync whoami --set NAME\n"));
        return;
    }
    int has_role = fs_replica_setting(r, "role", role, sizeof role) == 0;
    int has_team = fs_replica_setting(r, "team", team, sizeof team) == 0;
    const char *said = has_role ? cli_role_words(role) : NULL; /* as whoami says it */
    if (has_team && said != NULL)
        printf(_("this device's user: %s (team %s, %s)\n"), user, team, said);
    else if (has_team)
        printf(_("this device's user: %s (team %s)\n"), user, team);
    else if (said != NULL)
        printf(_("this device's user: %s (%s)\n"), user, said);
    else
        printf(_("this device's user: %s\n"), user);
    if (before[0] != '\0' && strcmp(before, user) != 0)
        printf(_("note: the name set on this device was %s, not %s: the records made here under "
                 "%s now belong to %s and were sent to the server under that name\n"),
               before, user, before, user);
}

/* The enrollment code from the terminal (not echoed) or, when standard
 * input is not one, its first line; leading and trailing blanks dropped.
 * 1 if a code was read. Off the command line, where /proc/PID/cmdline and
 * the shell's history would keep it. */
static int read_code(char *buf, size_t size)
{
    int tty = isatty(STDIN_FILENO);
    struct termios old, quiet;
    int echo_off = 0;
    if (tty) {
        fputs(_("Enrollment code (as fieldsync-server enroll-code printed it): "), stderr);
        fflush(stderr);
        if (tcgetattr(STDIN_FILENO, &old) == 0) {
            quiet = old;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
        }
    }
    int got = fgets(buf, (int)size, stdin) != NULL;
    if (echo_off) {
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (!got) {
        buf[0] = '\0';
        return 0;
    }
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
                     buf[n - 1] == '\t'))
        buf[--n] = '\0';
    size_t lead = strspn(buf, " \t");
    memmove(buf, buf + lead, n - lead + 1);
    return buf[0] != '\0';
}

/* enroll on a replica that has its server already: refused, naming it.
 * CLI_OK when the replica has none. */
static int refuse_if_enrolled(fs_replica *r)
{
    uint8_t pk[FS_SIGN_PK_BYTES];
    char url[FS_SERVER_URL_MAX + 1];
    int frc = fs_replica_server(r, url, pk);
    if (frc == 0) {
        cli_error(_("enroll: this replica is already enrolled with the server at %s"), url);
        return CLI_ERUNTIME;
    }
    if (frc != FS_ENOTFOUND)
        return cli_fail(r, "enroll: reading the replica", frc);
    return CLI_OK;
}

int cmd_enroll(cli_ctx *ctx, int argc, char **argv)
{
    const char *code = NULL, *name = NULL, *home;
    cli_list urls = {NULL, 0};
    const cli_opt opts[] = {
        {"--server", CLI_LIST, NULL, NULL, &urls},
        {"--code", CLI_VALUE, NULL, &code, NULL},
        {"--name", CLI_VALUE, NULL, &name, NULL},
    };
    uint8_t server_pk[FS_SIGN_PK_BYTES], secret[FS_ENROLL_SECRET_BYTES];
    char hostname[256], err[256], keyhex[17];
    char before[FS_USER_MAX + 1] = "";
    fs_enroll_request req;
    fs_identity *id = NULL;
    fs_replica *r = NULL;
    cli_pass pass = {NULL, 0};
    server_set set;
    int rc, frc;

    memset(&req, 0, sizeof req);
    rc = cli_parse(ctx, USAGE_ENROLL, opts, sizeof opts / sizeof opts[0], argc, argv);
    if (rc != CLI_OK) {
        cli_list_free(&urls);
        return rc == CLI_HELP ? CLI_OK : rc;
    }
    /* --server once or more: the server's addresses, tried in this order */
    rc = parse_server_list(&urls, &set);
    cli_list_free(&urls);
    if (rc != CLI_OK)
        return rc;
    char typed[FS_ENROLL_CODE_CHARS + 64];
    typed[0] = '\0';
    if (code != NULL) {
        fprintf(stderr, "fieldsync: %s\n",
                _("warning: --code puts the code where other users of this machine can read it "
                  "(the process list, the shell's history); leave it out to be asked for it, or "
                  "give it on standard input"));
    } else if (!read_code(typed, sizeof typed)) {
        cli_error(_("enroll: no enrollment code: type it at the prompt, give it on standard input, "
                  "or with --code"));
        return CLI_EUSAGE;
    } else {
        code = typed;
    }
    /* The code is a secret: never echoed. */
    if (fs_enroll_code_parse(code, server_pk, secret) != 0) {
        cli_error(_("%s: not a valid enrollment code (expected FS1- and %d letters, digits, "
                  "'-' or '_', as fieldsync-server enroll-code prints it)"),
                  code == typed ? _("the code typed") : "--code", FS_ENROLL_CODE_CHARS - 4);
        rc = CLI_EUSAGE;
        goto done;
    }
    if (name == NULL) {
        if (gethostname(hostname, sizeof hostname) != 0 || hostname[0] == '\0')
            snprintf(hostname, sizeof hostname, "device");
        hostname[sizeof hostname - 1] = '\0';
        name = hostname;
    } else if (cli_blank(name)) {
        cli_error(_("--name: must not be empty"));
        rc = CLI_EUSAGE;
        goto done;
    }
    rc = cli_check_text("--name", name);
    if (rc != CLI_OK)
        goto done;
    if (strlen(name) >= sizeof req.device_name) {
        if (name == hostname) {
            name = "device";
        } else {
            cli_error(_("--name: too long (at most %zu bytes)"), sizeof req.device_name - 1);
            rc = CLI_EUSAGE;
            goto done;
        }
    }
    rc = cli_home(ctx, &home);
    if (rc != CLI_OK)
        goto done;
    fs_enroll_request_code(secret, req.code);
    /* A replica made by init first: opened with its passphrase, which is
     * held to the team's rule below. One enrolled already: said now,
     * before the server is asked anything. */
    int existed = cli_replica_exists(home);
    if (existed) {
        rc = open_existing(home, &r, &pass);
        if (rc != CLI_OK)
            goto done;
        rc = refuse_if_enrolled(r);
        if (rc != CLI_OK)
            goto done;
    }
    /* The team's passphrase rule, before the passphrase is asked for (a
     * new replica's) or held to it (one init made): the server looks the
     * code up without spending it. */
    fs_ws_policy pol;
    int have_pol = 0;
    {
        /* asked of the first address that answers, as the code is redeemed */
        for (size_t k = 0;; k++) {
            const server_addr *a = &set.addr[k];
            int more = k + 1 < set.n;
            err[0] = '\0';
            frc = fs_ws_enroll_policy(server_pk, &req, a->host, a->port, a->tls,
                                      more ? FS_WS_ANSWER_MS : ENROLL_TIMEOUT_MS, &pol, err,
                                      sizeof err);
            if (frc != FS_EIO || !more)
                break;
            say_moving_on(set.url[k], err, set.url[k + 1]);
        }
        if (frc == FS_EAUTH) {
            cli_error(_("the server refused the enrollment code"));
            rc = CLI_ERUNTIME;
            goto done;
        }
        if (frc != 0 && frc != FS_EUNSUPPORTED) { /* older servers tell no rule */
            cli_error(_("enroll: %s"), err[0] != '\0' ? err : fs_strerror(frc));
            rc = CLI_ERUNTIME;
            goto done;
        }
        have_pol = frc == 0;
    }
    if (existed)
        rc = settle_passphrase(home, r, &pass, have_pol ? &pol : NULL);
    else
        rc = open_or_create(ctx, home, have_pol ? &pol : NULL, &r);
    cli_pass_free(&pass);
    if (rc != CLI_OK)
        goto done;

    rc = refuse_if_enrolled(r); /* also one made by another process meanwhile */
    if (rc != CLI_OK)
        goto done;
    frc = fs_replica_identity(r, &id);
    if (frc != 0) {
        rc = cli_fail(r, "enroll: reading the device identity", frc);
        goto done;
    }
    memcpy(req.device_pk, id->pk, sizeof req.device_pk);
    snprintf(req.device_name, sizeof req.device_name, "%s", name);

    if (fs_replica_user(r, before) != 0)
        before[0] = '\0';
    /* The code is redeemed by the first address that answers; one that does
     * not is passed over (said), one that refuses is the answer. */
    size_t used = 0;
    for (;; used++) {
        const server_addr *a = &set.addr[used];
        int more = used + 1 < set.n;
        err[0] = '\0';
        frc = fs_ws_enroll(r, server_pk, &req, a->host, a->port, a->tls, ENROLL_TIMEOUT_MS,
                           more ? FS_WS_ANSWER_MS : 0, err, sizeof err);
        cli_net_words(err, sizeof err, a->host, a->port);
        if (frc != FS_EIO || !more)
            break;
        say_moving_on(set.url[used], err, set.url[used + 1]);
    }
    if (frc == FS_EAUTH) {
        cli_error(_("the server refused the enrollment code"));
        rc = CLI_ERUNTIME;
        goto done;
    }
    if (frc != 0) {
        cli_error(_("enroll: %s"), err[0] != '\0' ? err : fs_strerror(frc));
        rc = CLI_ERUNTIME;
        goto done;
    }
    /* kept in the order given; the one that answered is tried first */
    frc = fs_replica_set_servers(r, &set.list, server_pk);
    if (frc == 0)
        frc = fs_replica_set_server_last(r, set.url[used]);
    if (frc != 0) {
        rc = cli_fail(r, "enroll: saving the server", frc);
        goto done;
    }
    key_hex16(server_pk, keyhex);
    printf(_("enrolled with the server at %s:%d (key %s)\n"), set.addr[used].host,
           set.addr[used].port, keyhex);
    if (set.n > 1)
        printf(
            ngettext("%zu more address of the same server is kept: see fieldsync server list\n",
                     "%zu more addresses of the same server are kept: see fieldsync server list\n",
                     (unsigned long)(set.n - 1)),
            set.n - 1);
    enroll_say_user(r, before);
    rc = CLI_OK;

done:
    cli_pass_free(&pass);
    sodium_memzero(typed, sizeof typed);
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(&req, sizeof req);
    fs_identity_free(id);
    fs_replica_close(r);
    return rc;
}

/* Reads the server's addresses and key (cmd_sync.h). */
int cmd_read_servers(fs_replica *r, server_set *set, uint8_t pk[FS_SIGN_PK_BYTES])
{
    fs_server_list list;
    int frc = fs_replica_servers(r, &list, pk);
    if (frc == FS_ENOTFOUND) {
        cli_error(_("not enrolled: run fieldsync enroll"));
        return CLI_ERUNTIME;
    }
    if (frc != 0)
        return cli_fail(r, "reading the server from the replica", frc);
    /* the one that answered last first, then the others as listed */
    memset(set, 0, sizeof *set);
    set->list = list;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < list.n; i++) {
            int is_last = list.last[0] != '\0' && strcmp(list.url[i], list.last) == 0;
            if (pass == 0 ? !is_last : is_last)
                continue;
            if (url_problem(list.url[i], &set->addr[set->n]) != NULL) {
                cli_error(_("the replica holds an unusable server address; enroll again"));
                return CLI_ERUNTIME;
            }
            memcpy(set->url[set->n++], list.url[i], sizeof set->url[0]);
        }
    return CLI_OK;
}

int cmd_sync(cli_ctx *ctx, int argc, char **argv)
{
    uint8_t pk[FS_SIGN_PK_BYTES];
    fs_replica_status before, after;
    fs_replica *r = NULL;
    server_set set;
    char err[256];
    int rc, frc;

    rc = cli_parse(ctx, USAGE_SYNC, NULL, 0, argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    rc = cli_open_locked(ctx, &r);
    if (rc != CLI_OK)
        return rc;
    rc = cmd_read_servers(r, &set, pk);
    if (rc != CLI_OK)
        goto done;
    uint64_t undone_before = 0, undone_after = 0;
    frc = fs_replica_status_get(r, &before);
    if (frc == 0)
        frc = refused_undone(r, &undone_before);
    if (frc != 0) {
        rc = cli_fail(r, "sync: reading the replica", frc);
        goto done;
    }
    char fork_before[320], fork_after[320];
    if (fs_replica_fork_note(r, fork_before, sizeof fork_before) != 0)
        fork_before[0] = '\0';
    fs_sync_att_stats att, one;
    memset(&att, 0, sizeof att);
    /* Each address in turn while one does not answer or goes away (FS_EIO:
     * what was applied stays, and the next picks up from there); one that
     * answers and refuses (another key, revoked) ends it: see DESIGN. */
    size_t used = 0;
    for (;; used++) {
        const server_addr *a = &set.addr[used];
        int more = used + 1 < set.n;
        err[0] = '\0';
        frc = fs_ws_sync_att(r, pk, a->host, a->port, a->tls, SYNC_TIMEOUT_MS,
                             more ? FS_WS_ANSWER_MS : 0, &one, err, sizeof err);
        cli_net_words(err, sizeof err, a->host, a->port);
        att.sent_bytes += one.sent_bytes;
        att.sent_chunks += one.sent_chunks;
        att.files_sent += one.files_sent;
        att.recv_bytes += one.recv_bytes;
        att.recv_chunks += one.recv_chunks;
        att.files_received += one.files_received;
        if (frc != FS_EIO || !more)
            break;
        say_moving_on(set.url[used], err, set.url[used + 1]);
    }
    /* tried first next time; failing to note it is not a sync failure */
    if (frc == 0)
        (void)fs_replica_set_server_last(r, set.url[used]);
    /* attachments' bytes moved, also by a session cut mid-way (issue 19.3) */
    if (att.sent_chunks > 0 || att.recv_chunks > 0)
        printf(_("attachments: %llu bytes sent in %llu chunks (%llu files complete), %llu bytes "
                 "received in %llu chunks (%llu files complete)\n"),
               (unsigned long long)att.sent_bytes, (unsigned long long)att.sent_chunks,
               (unsigned long long)att.files_sent, (unsigned long long)att.recv_bytes,
               (unsigned long long)att.recv_chunks, (unsigned long long)att.files_received);
    /* a restored or copied replica took a new identity (issue 25.3) */
    if (r != NULL && fs_replica_fork_note(r, fork_after, sizeof fork_after) == 0 &&
        fork_after[0] != '\0' && strcmp(fork_after, fork_before) != 0)
        printf(_("new device identity: %s\n"), fork_after);
    if (frc != 0) {
        const char *msg = err[0] != '\0' ? err : fs_strerror(frc);
        if (frc == FS_EREVOKED) {
            /* The server said to wipe: keys and data are destroyed. */
            const char *home = NULL;
            cli_error(_("sync: this device was revoked by the server: %s"), msg);
            fs_replica_close(r);
            r = NULL;
            if (cli_home(ctx, &home) == CLI_OK && fs_replica_wipe(home) == 0)
                cli_error(_("sync: the replica in %s was wiped"), home);
            else
                cli_error(_("sync: wiping the replica failed: remove it by hand"));
        } else if (frc == FS_EAUTH)
            /* it answered and refused: not a reason to try the next one */
            cli_error(_("sync: the server at %s: %s"), set.url[used], msg);
        else
            cli_error(_("sync: %s; local changes are kept and will be sent next time"), msg);
        rc = CLI_ERUNTIME;
        goto done;
    }
    frc = fs_replica_status_get(r, &after);
    if (frc == 0)
        frc = refused_undone(r, &undone_after);
    if (frc != 0) {
        rc = cli_fail(r, "sync: reading the replica", frc);
        goto done;
    }
    printf(
        _("in sync: %llu changes sent, cursor %llu"),
        (unsigned long long)(before.pending > after.pending ? before.pending - after.pending : 0),
        (unsigned long long)after.cursor);
    printf(_(", with the server at %s"), set.url[used]);
    if (after.refused > before.refused)
        printf(_(", %llu newly refused"), (unsigned long long)(after.refused - before.refused));
    if (after.open_conflicts > 0)
        printf(ngettext(", %llu open conflict", ", %llu open conflicts",
                        (unsigned long)after.open_conflicts),
               (unsigned long long)after.open_conflicts);
    putchar('\n');
    char words[768];
    if (sync_restore_words(&before, &after, words, sizeof words))
        printf("%s\n", words);
    rc = CLI_OK;
    /* Never silent: what is refused, and exit status 3 when it is new. */
    /* the records by name on a terminal; to a file or pipe by kind and id
     * only, as it is no export (issue 20.4) */
    frc = after.refused > 0 ? refused_summary(r, stdout, isatty(STDOUT_FILENO)) : 0;
    if (frc != 0)
        rc = cli_fail(r, "sync: reading the refusals", frc);
    else if (after.refused > before.refused)
        rc = CLI_EREFUSED;
    /* A refused hand-over is undone at once (sync/client.c), so it is not
     * open, but it is news all the same. */
    if (rc == CLI_OK && undone_after > undone_before) {
        refused_say_undone(undone_after - undone_before, stdout);
        rc = CLI_EREFUSED;
    }

done:
    fs_replica_close(r);
    return rc;
}

/* ---- status ---- */

typedef struct refusal_walk {
    cJSON *list; /* JSON output */
    fs_replica *r;
} refusal_walk;

static int refusal_cb(const fs_refusal *f, void *ctx)
{
    refusal_walk *w = ctx;
    const char *table, *column;
    char rowhex[2 * FS_ID_BYTES + 1], name[256];
    cJSON *obj;

    column = rec_schema_column(f->table, f->column, &table)->name;
    fs_id_to_hex(f->row, rowhex);
    int rc = refused_record_name(w->r, f->table, f->row, name, sizeof name);
    if (rc != 0)
        return rc;
    obj = cJSON_CreateObject();
    if (rec_json_add(w->list, NULL, obj) != 0)
        return FS_ENOMEM;
    if (rec_json_add(obj, "id", cJSON_CreateNumber((double)f->id)) != 0 ||
        rec_json_add(obj, "record", cJSON_CreateString(name)) != 0 ||
        rec_json_add(obj, "table", cJSON_CreateString(table)) != 0 ||
        rec_json_add(obj, "column", cJSON_CreateString(column)) != 0 ||
        rec_json_add(obj, "row", cJSON_CreateString(rowhex)) != 0 ||
        rec_json_add(obj, "reason", cJSON_CreateNumber((double)f->reason)) != 0 ||
        rec_json_add(obj, "reason_text", cJSON_CreateString(refused_reason_words(f->reason))) != 0 ||
        rec_json_add(obj, "reverted", cJSON_CreateBool(f->auto_reverted)) != 0)
        return FS_ENOMEM;
    {
        char *text = malloc(f->text_len + 1);
        cJSON *item;
        if (text == NULL)
            return FS_ENOMEM;
        memcpy(text, f->text, f->text_len);
        text[f->text_len] = '\0';
        item = cJSON_CreateString(text);
        free(text);
        if (rec_json_add(obj, "detail", item) != 0)
            return FS_ENOMEM;
    }
    return 0;
}

/* "3d 4h", "2h 5m", "7m", "under a minute" */
static void format_span(uint64_t ms, char *out, size_t size)
{
    uint64_t m = ms / 60000u, h = m / 60u, d = h / 24u;
    if (d > 0)
        snprintf(out, size, _("%llud %lluh"), (unsigned long long)d, (unsigned long long)(h % 24));
    else if (h > 0)
        snprintf(out, size, _("%lluh %llum"), (unsigned long long)h, (unsigned long long)(m % 60));
    else if (m > 0)
        snprintf(out, size, _("%llum"), (unsigned long long)m);
    else
        snprintf(out, size, "%s", _("under a minute"));
}

static void format_age(uint64_t ms, char *out, size_t size)
{
    char span[48];
    format_span(ms, span, sizeof span);
    snprintf(out, size, _("%s ago"), span);
}

/* The clock line of status (issue 23): how far this machine's clock is from
 * the server's, learnt at the last sync; within a minute it "agrees". The
 * gap is rounded to the minute (the measure includes the network's delay). */
void cmd_clock_words(const fs_replica_status *st, char *out, size_t size)
{
    if (!st->clock_known) {
        snprintf(out, size, "%s", _("not checked yet (this laptop's own time until the first sync)"));
        return;
    }
    uint64_t gap = st->clock_offset_ms < 0 ? (uint64_t)(-(st->clock_offset_ms + 1)) + 1
                                           : (uint64_t)st->clock_offset_ms;
    if (gap <= FS_CLOCK_TOLERANCE_MS) {
        snprintf(out, size, "%s", _("agrees with the server's"));
        return;
    }
    uint64_t m = (gap + 30000u) / 60000u, h = m / 60u, d = h / 24u;
    char amount[64], part[32];
    amount[0] = '\0';
    if (d > 0) {
        snprintf(part, sizeof part, d == 1 ? _("%llu day") : _("%llu days"), (unsigned long long)d);
        snprintf(amount, sizeof amount, "%s", part);
    }
    if (d > 0 ? h % 24 != 0 : h > 0) {
        snprintf(part, sizeof part, _("%llu h"), (unsigned long long)(h % 24));
        snprintf(amount + strlen(amount), sizeof amount - strlen(amount), "%s%s",
                 amount[0] ? " " : "", part);
    }
    if (d == 0) {
        if (h == 0 || m % 60 != 0) {
            snprintf(part, sizeof part, _("%llu min"), (unsigned long long)(h > 0 ? m % 60 : m));
            snprintf(amount + strlen(amount), sizeof amount - strlen(amount), "%s%s",
                     amount[0] ? " " : "", part);
        }
    }
    /* offset = server - laptop: negative when the laptop is ahead */
    snprintf(out, size,
             st->clock_offset_ms < 0 ? _("this laptop's clock is %s ahead of the server's (corrected)")
                                     : _("this laptop's clock is %s behind the server's (corrected)"),
             amount);
}

/* The lease line of status: when it ends, or that it has. */
static void format_lease(const fs_replica_status *st, uint64_t now, char *out, size_t size)
{
    char when[32], span[48];
    if (st->lease_expires_ms == 0) {
        snprintf(out, size, "%s", _("none yet (granted at the first sync)"));
        return;
    }
    if (fs_instant_format(when, sizeof when, st->lease_expires_ms, 0, "%Y-%m-%d %H:%M") != 0)
        snprintf(when, sizeof when, "?");
    if (st->locked) {
        snprintf(out, size, _("ended %s: LOCKED until the server renews it (sync)"), when);
        return;
    }
    format_span(st->lease_expires_ms - now, span, sizeof span);
    snprintf(out, size, _("until %s (%s left)"), when, span);
}

/* The unlock agent's state for status --json: null when none runs. */
static cJSON *agent_json(const char *home)
{
    uint32_t left, pid;
    if (agent_status(home, &left, &pid) != 0)
        return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    if (o != NULL && (rec_json_add(o, "pid", cJSON_CreateNumber(pid)) ||
                      rec_json_add(o, "idle_left_s", cJSON_CreateNumber(left)))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int status_json(fs_replica *r, const char *home, const fs_replica_status *st,
                       const fs_server_list *servers, const uint8_t *pk, uint64_t age_ms)
{
    /* "server": the one tried first (the one that answered last, else the
     * first); "servers": all of them as kept; "server_last": the one that
     * answered last, null before */
    const char *url = servers == NULL            ? NULL
                      : servers->last[0] != '\0' ? servers->last
                                                 : servers->url[0];
    /* the passphrase short of a rule the team raised since it was set
     * (issue 20.7); false when it meets it or is not known */
    fs_pass_policy prule;
    fs_pass_weakness pwhy;
    char pteam[FS_USER_MAX + 1];
    int pass_short = cli_pass_short_of_team(r, &prule, pteam, &pwhy);
    cJSON *urls = servers != NULL ? cJSON_CreateArray() : cJSON_CreateNull();
    for (size_t i = 0; servers != NULL && i < servers->n; i++)
        if (rec_json_add(urls, NULL, cJSON_CreateString(servers->url[i])) != 0) {
            cJSON_Delete(urls);
            return cli_fail(NULL, "status", FS_ENOMEM);
        }
    cJSON *obj = cJSON_CreateObject(), *list;
    refusal_walk w = {NULL, r};
    char keyhex[17];
    int rc;

    if (obj == NULL || urls == NULL) {
        cJSON_Delete(obj);
        cJSON_Delete(urls);
        return cli_fail(NULL, "status", FS_ENOMEM);
    }
    if (rec_json_add(obj, "servers", urls) != 0) {
        cJSON_Delete(obj);
        return cli_fail(NULL, "status", FS_ENOMEM);
    }
    if (pk != NULL)
        key_hex16(pk, keyhex);
    list = cJSON_CreateArray();
    w.list = list;
    char note[320];
    if (fs_replica_fork_note(r, note, sizeof note) != 0)
        note[0] = '\0';
    uint64_t queued = 0;
    if (fs_search_queued(r, &queued) != 0)
        queued = 0;
    fs_calendar cal;
    int found = 0;
    char team[FS_USER_MAX + 1];
    if (teamcal_load(r, &cal, &found, team) != 0)
        found = 0;
    if (rec_json_add(obj, "calendar", cJSON_CreateString(found > 0 ? "team" : "device")) ||
        rec_json_add(obj, "fork",
                     note[0] != '\0' ? cJSON_CreateString(note) : cJSON_CreateNull()) ||
        rec_json_add(obj, "server", url != NULL ? cJSON_CreateString(url) : cJSON_CreateNull()) ||
        rec_json_add(obj, "server_last",
                     servers != NULL && servers->last[0] != '\0' ? cJSON_CreateString(servers->last)
                                                                 : cJSON_CreateNull()) ||
        rec_json_add(obj, "server_key",
                     pk != NULL ? cJSON_CreateString(keyhex) : cJSON_CreateNull()) ||
        rec_json_add(obj, "pending", cJSON_CreateNumber((double)st->pending)) ||
        rec_json_add(obj, "oldest_pending_ms",
                     st->pending > 0 ? cJSON_CreateNumber((double)st->oldest_pending_ms)
                                     : cJSON_CreateNull()) ||
        rec_json_add(obj, "oldest_pending_age_s",
                     st->pending > 0 ? cJSON_CreateNumber((double)(age_ms / 1000u))
                                     : cJSON_CreateNull()) ||
        rec_json_add(obj, "last_sync_ms",
                     st->last_sync_ms > 0 ? cJSON_CreateNumber((double)st->last_sync_ms)
                                          : cJSON_CreateNull()) ||
        rec_json_add(obj, "cursor", cJSON_CreateNumber((double)st->cursor)) ||
        rec_json_add(obj, "open_conflicts", cJSON_CreateNumber((double)st->open_conflicts)) ||
        rec_json_add(obj, "search_queued", cJSON_CreateNumber((double)queued)) ||
        rec_json_add(obj, "resync_ms",
                     st->resync_ms > 0 ? cJSON_CreateNumber((double)st->resync_ms)
                                       : cJSON_CreateNull()) ||
        rec_json_add(obj, "resent_from",
                     st->rewind_ms > 0 ? cJSON_CreateNumber((double)st->rewind_to + 1)
                                       : cJSON_CreateNull()) ||
        rec_json_add(obj, "returned_ms",
                     st->returned_ms > 0 ? cJSON_CreateNumber((double)st->returned_ms)
                                         : cJSON_CreateNull()) ||
        rec_json_add(obj, "returned_count", cJSON_CreateNumber((double)st->returned_n)) ||
        rec_json_add(obj, "refused_count", cJSON_CreateNumber((double)st->refused)) ||
        rec_json_add(obj, "lease_expires_ms",
                     st->lease_expires_ms > 0 ? cJSON_CreateNumber((double)st->lease_expires_ms)
                                              : cJSON_CreateNull()) ||
        rec_json_add(obj, "locked", cJSON_CreateBool(st->locked)) ||
        rec_json_add(obj, "passphrase_below_team_rule", cJSON_CreateBool(pass_short)) ||
        rec_json_add(obj, "clock_offset_ms",
                     st->clock_known ? cJSON_CreateNumber((double)st->clock_offset_ms)
                                     : cJSON_CreateNull()) ||
        rec_json_add(obj, "agent", agent_json(home)) || rec_json_add(obj, "refused", list)) {
        rc = cli_fail(NULL, "status", FS_ENOMEM);
        goto done;
    }
    rc = fs_refusals(r, refusal_cb, &w);
    if (rc != 0) {
        rc = cli_fail(rc == FS_ENOMEM ? NULL : r, "status: reading the refusals", rc);
        goto done;
    }
    rc = rec_json_print(obj, stdout);
    if (rc != 0)
        rc = cli_fail(NULL, "status", rc);

done:
    cJSON_Delete(obj);
    return rc == 0 ? CLI_OK : CLI_ERUNTIME;
}

int cmd_status(cli_ctx *ctx, int argc, char **argv)
{
    int json = 0;
    const cli_opt opts[] = {{"--json", CLI_FLAG, &json, NULL, NULL}};
    char keyhex[17], age[128];
    uint8_t pk[FS_SIGN_PK_BYTES];
    fs_server_list servers;
    fs_replica_status st;
    fs_replica *r = NULL;
    uint64_t age_ms = 0, now;
    int rc, frc, enrolled;

    rc = cli_parse(ctx, USAGE_STATUS, opts, sizeof opts / sizeof opts[0], argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    rc = cli_open_locked(ctx, &r);
    if (rc != CLI_OK)
        return rc;
    frc = fs_replica_status_get(r, &st);
    if (frc != 0) {
        rc = cli_fail(r, _("status: reading the replica"), frc);
        goto done;
    }
    frc = fs_replica_servers(r, &servers, pk);
    if (frc != 0 && frc != FS_ENOTFOUND) {
        rc = cli_fail(r, _("status: reading the server"), frc);
        goto done;
    }
    enrolled = frc == 0;
    /* the replica's times are on the server-corrected clock */
    now = (uint64_t)((int64_t)fs_clock_wall_ms() + st.clock_offset_ms);
    if (st.pending > 0 && st.oldest_pending_ms > 0 && now > st.oldest_pending_ms)
        age_ms = now - st.oldest_pending_ms;

    if (json) {
        rc = status_json(r, ctx->home, &st, enrolled ? &servers : NULL, enrolled ? pk : NULL,
                         age_ms);
        goto done;
    }
    if (enrolled) {
        /* the one tried first: the one that answered last, else the first */
        const char *first = servers.last[0] != '\0' ? servers.last : servers.url[0];
        key_hex16(pk, keyhex);
        printf(_("server:          %s (key %s)\n"), first, keyhex);
        for (size_t i = 0; i < servers.n; i++)
            if (strcmp(servers.url[i], first) != 0)
                printf(_("  or else:       %s\n"), servers.url[i]);
        if (servers.last[0] != '\0')
            printf(_("last answered:   %s\n"), servers.last);
    } else {
        printf(_("server:          not enrolled\n"));
    }
    printf(_("pending changes: %llu\n"), (unsigned long long)st.pending);
    if (st.pending > 0)
        format_age(age_ms, age, sizeof age);
    else
        snprintf(age, sizeof age, "%s", _("none"));
    printf(_("oldest pending:  %s\n"), age);
    if (st.last_sync_ms == 0)
        snprintf(age, sizeof age, "%s", _("never"));
    else
        format_age(now > st.last_sync_ms ? now - st.last_sync_ms : 0, age, sizeof age);
    printf(_("last sync:       %s\n"), age);
    printf(_("cursor:          %llu\n"), (unsigned long long)st.cursor);
    printf(_("open conflicts:  %llu\n"), (unsigned long long)st.open_conflicts);
    printf(_("refused changes: %llu\n"), (unsigned long long)st.refused);
    if (st.resync_ms > 0) {
        format_age(now > st.resync_ms ? now - st.resync_ms : 0, age, sizeof age);
        printf(_("re-synced:       %s, everything in scope pulled again: %s\n"), age,
               st.resync_why == FS_RESYNC_EPOCH  ? _("the server was restored from a backup")
               : st.resync_why == FS_RESYNC_LOST ? _("the server had lost changes it had acknowledged")
                                                 : _("the server's feed no longer matched this device's position"));
    }
    if (st.rewind_ms > 0) {
        format_age(now > st.rewind_ms ? now - st.rewind_ms : 0, age, sizeof age);
        printf(_("sent again:      %s, changes %llu-%llu the server no longer held\n"), age,
               (unsigned long long)st.rewind_to + 1, (unsigned long long)st.rewind_from);
    }
    if (st.returned_ms > 0) {
        format_age(now > st.returned_ms ? now - st.returned_ms : 0, age, sizeof age);
        printf(ngettext("sent back:       %s, %llu record the server had lost and only this device"
                        " held\n",
                        "sent back:       %s, %llu records the server had lost and only this device"
                        " held\n",
                        (unsigned long)st.returned_n),
               age, (unsigned long long)st.returned_n);
    }
    char note[320];
    if (fs_replica_fork_note(r, note, sizeof note) == 0 && note[0] != '\0')
        printf(_("identity:        %s\n"), note);
    format_lease(&st, now, age, sizeof age);
    printf(_("lease:           %s\n"), age);
    {
        /* a team's rule made stricter since the passphrase was set (issue
         * 20.7): said while it holds; nothing is locked */
        fs_pass_policy rule;
        fs_pass_weakness w;
        char pteam[FS_USER_MAX + 1], why[320];
        const char *phome = NULL;
        if (cli_pass_short_of_team(r, &rule, pteam, &w) && cli_home(ctx, &phome) == CLI_OK) {
            cli_pass_why(w, &rule, pteam, why, sizeof why);
            printf(_("passphrase:      no longer meets the team's rule: it is %s. Run 'fieldsync "
                     "--home %s passwd' to choose a new one\n"),
                   why, phome);
        }
    }
    cmd_clock_words(&st, age, sizeof age);
    printf(_("clock:           %s\n"), age);
    uint64_t queued = 0;
    if (fs_search_queued(r, &queued) == 0 && queued > 0)
        printf(_("search index:    %llu records not yet in it (the daemon brings them in after a"
                 " sync; a search does it first)\n"),
               (unsigned long long)queued);
    fs_calendar cal;
    int found = 0;
    char team[FS_USER_MAX + 1];
    frc = teamcal_load(r, &cal, &found, team);
    if (frc != 0) {
        rc = cli_fail(r, "status: reading the calendar", frc);
        goto done;
    }
    if (found > 0)
        printf(_("calendar:        the team's (%s), set on the server: %s\n"), team,
               cal.tz[0] ? cal.tz : _("this machine's time zone"));
    else
        printf(_("calendar:        this device's own (fieldsync calendar): no team calendar from "
                 "the server yet\n"));
    uint32_t left, pid;
    if (agent_status(ctx->home, &left, &pid) == 0)
        printf(_("unlock agent:    running (pid %u); wipes the key after %um %02us idle\n"), pid,
               left / 60u, left % 60u);
    else
        printf(_("unlock agent:    not running\n"));
    if (st.refused > 0) {
        frc = refused_summary(r, stdout, isatty(STDOUT_FILENO)); /* as sync's */
        if (frc != 0) {
            rc = cli_fail(r, "status: reading the refusals", frc);
            goto done;
        }
    }
    rc = CLI_OK;

done:
    fs_replica_close(r);
    return rc;
}

int sync_restore_words(const fs_replica_status *before, const fs_replica_status *after,
                       char *out, size_t cap)
{
    int resynced = after->resync_ms != before->resync_ms && after->resync_ms != 0;
    int rewound = after->rewind_ms != before->rewind_ms && after->rewind_ms != 0;
    int returned = after->returned_ms != before->returned_ms && after->returned_ms != 0;
    out[0] = '\0';
    if (!resynced && !rewound && !returned)
        return 0;
    int n = 0;
    if (resynced)
        n = snprintf(out, cap, _("re-synced: %s; everything in scope was pulled again"),
                     after->resync_why == FS_RESYNC_EPOCH
                         ? _("the server was restored from a backup (a new feed epoch)")
                     : after->resync_why == FS_RESYNC_LOST
                         ? _("the server had lost changes it had acknowledged (restored from a"
                             " backup)")
                         : _("the server's feed no longer matched this device's position"
                             " (restored from a backup?)"));
    if (rewound && n >= 0 && (size_t)n < cap)
        snprintf(out + n, cap - (size_t)n,
                 _("%ssent changes %llu-%llu again: the server no longer held them"),
                 n > 0 ? _("; ") : "", (unsigned long long)after->rewind_to + 1,
                 (unsigned long long)after->rewind_from);
    size_t used = strlen(out);
    if (returned && used < cap)
        snprintf(out + used, cap - used,
                 ngettext("%ssent back %llu record the server had lost, which no other device"
                          " sent again (it was restored from a backup)",
                          "%ssent back %llu records the server had lost, which no other device"
                          " sent again (it was restored from a backup)",
                          (unsigned long)after->returned_n),
                 used > 0 ? _("; ") : "", (unsigned long long)after->returned_n);
    return 1;
}
