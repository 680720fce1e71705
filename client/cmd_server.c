/*
 * fieldsync server list|add|remove: the addresses of the one server this
 * device is enrolled with (issue 21.3), kept in the encrypted replica. sync
 * and the daemon try them in turn, the one that answered last first, and
 * move to the next when one does not answer (cmd_sync.c, cmd_daemon.c).
 * Every address leads to the same server identity: the key pinned at
 * enrollment is checked at each handshake, whichever address it went to,
 * so adding one needs no connection (a rep told of a standby address on
 * the phone adds it offline) and a wrong one is caught at the next sync.
 */
#include <stdio.h>
#include <string.h>

#include <cJSON.h>
#include <sodium.h>

#include "cmd.h"
#include "cmd_sync.h"
#include "i18n.h"
#include "record.h"

/* Opens the replica (a locked device too: a new address may be how it
 * reaches the server to renew its lease) and reads the addresses. */
static int open_servers(cli_ctx *ctx, fs_replica **r, fs_server_list *list,
                        uint8_t pk[FS_SIGN_PK_BYTES])
{
    int rc = cli_open_locked(ctx, r);
    if (rc != CLI_OK)
        return rc;
    int frc = fs_replica_servers(*r, list, pk);
    if (frc == FS_ENOTFOUND) {
        cli_error(_("not enrolled: run fieldsync enroll"));
        return CLI_ERUNTIME;
    }
    if (frc != 0)
        return cli_fail(*r, "reading the server from the replica", frc);
    return CLI_OK;
}

static int list_json(const fs_server_list *list, const char *keyhex)
{
    cJSON *obj = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    int bad = obj == NULL || arr == NULL || rec_json_add(obj, "key", cJSON_CreateString(keyhex));
    for (size_t i = 0; !bad && i < list->n; i++) {
        cJSON *one = cJSON_CreateObject();
        bad = rec_json_add(arr, NULL, one) ||
              rec_json_add(one, "url", cJSON_CreateString(list->url[i])) ||
              rec_json_add(one, "answered_last",
                           cJSON_CreateBool(strcmp(list->url[i], list->last) == 0));
    }
    if (!bad && rec_json_add(obj, "servers", arr) == 0) {
        arr = NULL;
        bad = rec_json_print(obj, stdout) != 0;
    } else {
        bad = 1;
    }
    cJSON_Delete(arr);
    cJSON_Delete(obj);
    return bad ? cli_fail(NULL, "server list", FS_ENOMEM) : CLI_OK;
}

int cmd_server_list(cli_ctx *ctx, int argc, char **argv)
{
    int json = 0;
    const cli_opt opts[] = {{"--json", CLI_FLAG, &json, NULL, NULL}};
    int rc = cli_parse(ctx, USAGE_SERVER_LIST, opts, sizeof opts / sizeof opts[0], argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    fs_replica *r = NULL;
    fs_server_list list;
    uint8_t pk[FS_SIGN_PK_BYTES];
    char keyhex[17];
    rc = open_servers(ctx, &r, &list, pk);
    if (rc == CLI_OK) {
        sodium_bin2hex(keyhex, sizeof keyhex, pk, 8);
        if (json) {
            rc = list_json(&list, keyhex);
        } else {
            for (size_t i = 0; i < list.n; i++)
                if (strcmp(list.url[i], list.last) == 0)
                    printf(_("%s  (answered last: tried first)\n"), list.url[i]);
                else
                    printf("%s\n", list.url[i]);
            printf(_("server key: %s (every address must lead to it)\n"), keyhex);
        }
    }
    fs_replica_close(r);
    return rc;
}

/* The one URL argument of server add/remove (before or after --home). */
static int one_url(cli_ctx *ctx, const char *usage, int argc, char **argv, const char **url)
{
    *url = NULL;
    if (argc >= 1 && strncmp(argv[0], "--", 2) != 0) {
        *url = argv[0];
        argc--;
        argv++;
    }
    int rc = cli_parse(ctx, usage, NULL, 0, argc, argv);
    if (rc != CLI_OK)
        return rc;
    if (*url == NULL) {
        cli_error(_("missing the server's address (ws://HOST:PORT or wss://HOST:PORT)"));
        cli_usage(stderr, usage);
        return CLI_EUSAGE;
    }
    return CLI_OK;
}

int cmd_server_add(cli_ctx *ctx, int argc, char **argv)
{
    const char *url = NULL;
    int rc = one_url(ctx, USAGE_SERVER_ADD, argc, argv, &url);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    server_addr addr;
    rc = cmd_parse_server_url("server add", url, &addr);
    if (rc != CLI_OK)
        return rc;
    fs_replica *r = NULL;
    fs_server_list list;
    uint8_t pk[FS_SIGN_PK_BYTES];
    rc = open_servers(ctx, &r, &list, pk);
    for (size_t i = 0; rc == CLI_OK && i < list.n; i++)
        if (strcmp(list.url[i], url) == 0) {
            cli_error(_("server add: %s is already one of the server's addresses"), url);
            rc = CLI_EUSAGE;
        }
    if (rc == CLI_OK && list.n >= FS_SERVERS_MAX) {
        cli_error(_("server add: at most %d addresses; remove one first"), FS_SERVERS_MAX);
        rc = CLI_EUSAGE;
    }
    if (rc == CLI_OK) {
        snprintf(list.url[list.n++], sizeof list.url[0], "%s", url);
        int frc = fs_replica_set_servers(r, &list, pk);
        if (frc != 0)
            rc = cli_fail(r, "server add", frc);
        else
            printf(_("added %s: tried when the addresses before it do not answer; the server's "
                     "key is checked there at the next sync\n"),
                   url);
    }
    fs_replica_close(r);
    return rc;
}

int cmd_server_remove(cli_ctx *ctx, int argc, char **argv)
{
    const char *url = NULL;
    int rc = one_url(ctx, USAGE_SERVER_REMOVE, argc, argv, &url);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    fs_replica *r = NULL;
    fs_server_list list;
    uint8_t pk[FS_SIGN_PK_BYTES];
    rc = open_servers(ctx, &r, &list, pk);
    size_t at = list.n;
    for (size_t i = 0; rc == CLI_OK && i < list.n; i++)
        if (strcmp(list.url[i], url) == 0)
            at = i;
    if (rc == CLI_OK && at == list.n) {
        cli_error(_("server remove: not one of the server's addresses (see fieldsync server "
                    "list)"));
        rc = CLI_EUSAGE;
    } else if (rc == CLI_OK && list.n == 1) {
        cli_error(_("server remove: %s is the server's only address; add another first"), url);
        rc = CLI_EUSAGE;
    }
    if (rc == CLI_OK) {
        memmove(list.url[at], list.url[at + 1], (list.n - at - 1) * sizeof list.url[0]);
        list.n--;
        int frc = fs_replica_set_servers(r, &list, pk);
        if (frc != 0)
            rc = cli_fail(r, "server remove", frc);
        else
            printf(_("removed %s\n"), url);
    }
    fs_replica_close(r);
    return rc;
}
