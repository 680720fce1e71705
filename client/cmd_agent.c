/*
 * unlock and lock: start and stop the unlock agent (agent.h), so the
 * passphrase is asked once per working session and the key is wiped after
 * an idle timeout.
 */
#include <stdio.h>
#include <stdlib.h>

#include "agent.h"
#include "cmd.h"
#include "fieldsync/duration.h"
#include "i18n.h"

#define IDLE_MIN_MS 1000u
#define IDLE_MAX_MS (24u * 3600u * 1000u)

int cmd_unlock(cli_ctx *ctx, int argc, char **argv)
{
    const char *idle_s = NULL;
    const cli_opt opts[] = {{"--idle", CLI_VALUE, NULL, &idle_s, NULL}};
    uint64_t idle_ms = AGENT_IDLE_DEFAULT_MS;
    uint32_t left, pid;
    const char *home;
    fs_secret *key = NULL;
    int rc = cli_parse(ctx, USAGE_UNLOCK, opts, sizeof opts / sizeof opts[0], argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    if (idle_s != NULL) {
        const char *why = fs_duration_parse(idle_s, IDLE_MIN_MS, IDLE_MAX_MS, &idle_ms);
        if (why != NULL) {
            cli_error(_("--idle: %s (from 1s to 24h)"), _(why));
            return CLI_EUSAGE;
        }
    }
    rc = cli_home(ctx, &home);
    if (rc != CLI_OK)
        return rc;
    if (!cli_replica_exists(home)) {
        cli_error(_("no replica in %s (create one with 'fieldsync --home %s init')"), home, home);
        return CLI_ERUNTIME;
    }
    int frc = agent_status(home, &left, &pid);
    if (frc == 0) {
        printf(_("already unlocked (agent pid %u; wipes the key after %um %02us idle)\n"), pid,
               left / 60u, left % 60u);
        return CLI_OK;
    }
    if (frc == FS_EAUTH) {
        cli_error(_("%s/agent.sock is served by another user: not replacing it; remove it"), home);
        return CLI_ERUNTIME;
    }
    /* The passphrase, checked by unwrapping the key file. */
    rc = cli_key(home, 0, &key, NULL);
    if (rc != CLI_OK)
        return rc;
    long agent = 0;
    frc = agent_spawn(home, key, idle_ms, &agent);
    fs_secret_free(key);
    if (frc != 0)
        return CLI_ERUNTIME;
    printf(_("unlocked %s: commands will not ask for the passphrase until %llus pass without "
             "one\n(agent pid %ld; 'fieldsync lock' wipes the key now)\n"),
           home, (unsigned long long)(idle_ms / 1000u), agent);
    return CLI_OK;
}

int cmd_lock(cli_ctx *ctx, int argc, char **argv)
{
    const char *home;
    int rc = cli_parse(ctx, USAGE_LOCK, NULL, 0, argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    rc = cli_home(ctx, &home);
    if (rc != CLI_OK)
        return rc;
    int frc = agent_lock(home);
    if (frc == 0) {
        printf("%s", _("locked: the agent wiped the key\n"));
        return CLI_OK;
    }
    if (frc == FS_ENOTFOUND) {
        printf(_("not unlocked: no agent runs for %s\n"), home);
        return CLI_OK;
    }
    cli_error(_("lock: %s"), frc == FS_EAUTH ? _("the agent socket belongs to another user")
                                             : _("the agent did not answer"));
    return CLI_ERUNTIME;
}
