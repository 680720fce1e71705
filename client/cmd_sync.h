/*
 * What the commands that talk to the server share: the server a replica is
 * enrolled with, as its address is kept in the replica (a URL of the one
 * form "ws://HOST:PORT" or "wss://HOST:PORT", parsed strictly in cmd_sync.c), and how long one
 * sync may take. Used by cmd_sync.c (enroll, sync, status) and cmd_daemon.c.
 */
#ifndef FIELDSYNC_CLIENT_CMD_SYNC_H
#define FIELDSYNC_CLIENT_CMD_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "fieldsync/identity.h"
#include "fieldsync/replica.h"

#define SYNC_TIMEOUT_MS 60000
#define HOST_MAX        253 /* a DNS name at its longest */

/* A parsed "ws://HOST:PORT" or "wss://HOST:PORT" (tls; a trailing "/"
 * allowed). */
typedef struct server_addr {
    char host[HOST_MAX + 1];
    int port;
    int tls;
} server_addr;

/* Parses a server URL (ws://HOST:PORT or wss://HOST:PORT, one trailing
 * "/" allowed) given as what ("--server", "server add"). CLI_OK, or
 * CLI_EUSAGE after saying why, naming what. */
int cmd_parse_server_url(const char *what, const char *url, server_addr *out);

/* The server's addresses (issue 21.3), in the order to try them: the one
 * that answered last first, then the others in the order the replica keeps
 * them (list, as fs_replica_servers read it). */
typedef struct server_set {
    size_t n;
    char url[FS_SERVERS_MAX][FS_SERVER_URL_MAX + 1];
    server_addr addr[FS_SERVERS_MAX];
    fs_server_list list;
} server_set;

/* Reads the server this replica is enrolled with: its addresses into *set,
 * its pinned signing key into pk. Returns CLI_OK, or CLI_ERUNTIME after
 * printing why (not enrolled, or a stored URL we cannot use). */
int cmd_read_servers(fs_replica *r, server_set *set, uint8_t pk[FS_SIGN_PK_BYTES]);

/* How far this laptop's clock is from the server's, in words (status's
 * clock line; `today` says it when the clock is off). */
void cmd_clock_words(const fs_replica_status *st, char *out, size_t size);

/* What a sync did because the server was restored from a backup (issue
 * 25.2), from the replica's status before and after it: a re-sync of the
 * scope from the feed's start, changes sent again, records sent back
 * that only this device still held (lost25b). Writes one line of words
 * into out (no newline; 768 bytes hold all three in Chinese) and returns 1
 * when there is something to say, else 0. Never silent: sync prints it,
 * the daemon logs it. */
int sync_restore_words(const fs_replica_status *before, const fs_replica_status *after,
                       char *out, size_t cap);

#endif
