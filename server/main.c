/*
 * fieldsync-server: the central server. For now its administrative command
 * line (commands.c): create the store, add users and set their dashboard
 * passwords, hand out enrollment codes, list and revoke devices, check and
 * show the audit log; and the sync service itself (serve.c).
 */
#include <libintl.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "fieldsync/harden.h"
#include "srv.h"

#define _(s) gettext(s) /* the operator's language: srv_lang */

#ifndef FS_VERSION_STRING
#define FS_VERSION_STRING "unknown"
#endif

static void usage(FILE *f)
{
    fputs(_("usage: fieldsync-server COMMAND --data DIR [options]\n"
               "  init --data DIR                       create the server store\n"
               "  user add --data DIR --name NAME --role rep|manager|admin --team TEAM\n"
               "  user passwd --data DIR --name NAME    dashboard password (manager, admin)\n"
               "  user disable|enable --data DIR --name NAME   one who left: no login, devices\n"
               "                                        revoked, sessions ended\n"
               "  enroll-code --data DIR --user NAME [--ttl-hours H]\n"
               "                                        a one-time code for a new device\n"
               "  device list --data DIR [--json]       enrolled devices\n"
               "  device revoke --data DIR --device FINGERPRINT-PREFIX\n"
               "  audit verify --data DIR               check the audit log's chain\n"
               "  audit show --data DIR                 print the audit log\n"
               "  backup --data DIR --out BACKUP        a sealed copy of the store, while\n"
               "                                        serving too\n"
               "  compact --data DIR [--keep-days N]    drop superseded feed changes older\n"
               "                                        than N days (30), while serving too\n"
               "  team set --data DIR --team TEAM [--tz ZONE] [--hours HH:MM-HH:MM]\n"
               "           [--holiday DATE]... [--workday DATE]...   the team's calendar\n"
               "  team show --data DIR --team TEAM [--json]\n"
               "  export-key --data DIR                        the company's export key (once)\n"
               "  export open FILE --out OUT --data DIR        open a sealed export\n"
               "  status --data DIR [--json]            serving?, devices, refused writes, store\n"
               "                                        size, last backup (exit 3: not serving)\n"
               "  restore --data DIR --from BACKUP      put back a copy of the data directory\n"
               "                                        (server stopped); devices re-sync\n"
               "  serve --data DIR --listen HOST:PORT [--lease D]\n"
               "                                        run the sync service until SIGTERM;\n"
               "                                        devices lock after D offline (7d)\n"
               "  version | --version                   show the version\n"
               "  help | --help                         show this help\n"
               "The passphrase comes from FIELDSYNC_PASSPHRASE or the terminal; user passwd's\n"
               "new password from FIELDSYNC_USER_PASSWORD or the terminal. While serve runs,\n"
               "user, enroll-code, device, audit, backup, compact and status go through it (DIR/control.sock).\n"
               "Exit status: 0 done, 1 runtime error, 2 bad command line.\n"),
          f);
    fputs(_("Several server nodes on one PostgreSQL database (a node is a copy of DIR):\n"
            "  init --data DIR --store postgresql://USER@HOST/DB   the store in PostgreSQL\n"
            "  migrate --data DIR [--store URL]      bring the store forward (server stopped)\n"
            "Every other command opens a node's DIR as it opens a store's.\n"),
          f);
}

int main(int argc, char **argv)
{
    if (fs_harden_process() != 0) {
        srv_error(_("cannot disable core dumps"));
        return 1;
    }
    if (sodium_init() < 0) {
        srv_error(_("libsodium failed to initialise"));
        return 1;
    }
    /* the operator's language for every command run here; serve keeps C
     * (its log is read by tools; the dashboard picks its own per request)
     * but for serve --help, which only prints its usage */
    int serve_help = 0;
    for (int i = 2; argc >= 2 && strcmp(argv[1], "serve") == 0 && i < argc; i++)
        serve_help |= strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
    if (argc < 2 || strcmp(argv[1], "serve") != 0 || serve_help)
        srv_lang();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    int rc;
    if ((strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) && argc == 2) {
        printf(SRV_PROG " %s\n", FS_VERSION_STRING);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if ((strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0) && argc == 2) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "init") == 0) {
        rc = srv_cmd_init(argc - 2, argv + 2);
    } else if (strcmp(cmd, "migrate") == 0) {
        rc = srv_cmd_migrate(argc - 2, argv + 2);
    } else if (strcmp(cmd, "user") == 0 || strcmp(cmd, "enroll-code") == 0 ||
               strcmp(cmd, "device") == 0 || strcmp(cmd, "audit") == 0 ||
               strcmp(cmd, "backup") == 0 || strcmp(cmd, "status") == 0 ||
               strcmp(cmd, "compact") == 0 ||
               strcmp(cmd, "team") == 0 || strcmp(cmd, "export-key") == 0) {
        /* Through a serve running on that store, else on the store itself;
         * team's values checked here first, in the operator's language. */
        if (strcmp(cmd, "team") == 0 || strcmp(cmd, "export-key") == 0) {
            rc = srv_team_check(argc - 2, argv + 2);
            if (rc != SRV_OK)
                return rc == SRV_EUSAGE ? 2 : rc == SRV_HELP ? 0 : 1;
        }
        if (!srv_ctl_forward(argc - 1, argv + 1, &rc))
            rc = srv_dispatch_admin(argc - 1, argv + 1);
    } else if (strcmp(cmd, "export") == 0) {
        rc = srv_cmd_export(argc - 2, argv + 2);
    } else if (strcmp(cmd, "restore") == 0) {
        rc = srv_cmd_restore(argc - 2, argv + 2);
    } else if (strcmp(cmd, "serve") == 0) {
        rc = srv_cmd_serve(argc - 2, argv + 2);
    } else {
        char shown[48];
        srv_printable(cmd, shown, sizeof shown);
        srv_error(_("unknown command '%s' (see help)"), shown);
        usage(stderr);
        return 2;
    }
    return rc == SRV_EUSAGE ? 2 : rc == SRV_ERUNTIME ? 1 : rc == SRV_NOTSERVING ? 3 : 0;
}
