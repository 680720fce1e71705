/*
 * The client's link (link.c): a device's sync session (fs_sync_client,
 * fieldsync/sync.h) over the websocket transport (fieldsync/transport.h).
 * The transport connects and reports events; the link drives the session
 * with them (batches pipelined: the next PULL is written before a batch is
 * applied), and decides when the connection is done: in sync, a daemon's
 * round over, a failure, or the deadline. All on the calling thread.
 */
#ifndef FIELDSYNC_CLIENT_LINK_H
#define FIELDSYNC_CLIENT_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "fieldsync/channel.h"
#include "fieldsync/identity.h"
#include "fieldsync/replica.h"
#include "fieldsync/sync.h"

/* Syncs replica r with the server at ws://host:port/ (wss:// when tls:
 * the certificate checked against the system's CAs, or SSL_CERT_FILE's)
 * whose identity is
 * server_pk (pinned at enrollment), until r is in sync, then ends the
 * session with BYE. Returns 0 when in sync, else a fieldsync error code with
 * a one-line message in err (may be NULL):
 *   FS_EIO        the server cannot be reached, the connection dropped before
 *                 the replica was in sync, or timeout_ms passed
 *   FS_EAUTH      the server is not the pinned one (or refused the device)
 *   FS_EREVOKED   the device was revoked; wiping it is the caller's act
 *   others        from the session (fieldsync/sync.h) or the replica.
 * Changes applied before a failure stay applied (each batch is atomic). */
int fs_ws_sync(fs_replica *r, const uint8_t server_pk[FS_SIGN_PK_BYTES], const char *host, int port,
               int tls, int timeout_ms, char *err, size_t errlen);

/* When the device has another address of the server to try (issue 21.3):
 * how long this one may take to answer (the connection made, TLS, the
 * websocket, the server's first frame) before the run ends with FS_EIO
 * "did not answer" and the caller moves on. Once the server answered, the
 * run's own timeout counts from then. */
#define FS_WS_ANSWER_MS 10000

/* As fs_ws_sync; *att (zeroed first) says what the session moved of
 * attachments' bytes, also when it failed (a cut mid-way). answer_ms > 0:
 * the server must answer within it (FS_WS_ANSWER_MS); 0: timeout_ms
 * alone. */
int fs_ws_sync_att(fs_replica *r, const uint8_t server_pk[FS_SIGN_PK_BYTES], const char *host,
                   int port, int tls, int timeout_ms, int answer_ms, fs_sync_att_stats *att,
                   char *err, size_t errlen);

/* As fs_ws_sync, but the handshake first enrolls the device with req (its
 * one-time code's secret, the device key, a name): the server redeems the
 * code, then the session syncs as usual. FS_EAUTH when the server refuses
 * the enrollment. answer_ms as for fs_ws_sync_att. */
int fs_ws_enroll(fs_replica *r, const uint8_t server_pk[FS_SIGN_PK_BYTES],
                 const fs_enroll_request *req, const char *host, int port, int tls, int timeout_ms,
                 int answer_ms, char *err, size_t errlen);

/* The team's passphrase rule as the server tells a device about to enroll
 * (POLICY, protocol version 8; fieldsync/msg.h). */
typedef struct fs_ws_policy {
    uint32_t min_chars, min_words;
    char team[FS_USER_MAX + 1]; /* "" when the code's user has no team */
} fs_ws_policy;

/* Asks the server for the passphrase rule of the team of req's code
 * (req->code only is used: the request goes with a key made for the
 * question), before the replica exists; the code is not spent. 0 with
 * *out; FS_EUNSUPPORTED when the server is older than protocol version 8
 * (nothing was sent it beyond HELLO); FS_EAUTH when it refused the code
 * (unknown, expired, used); else the connection's error. */
int fs_ws_enroll_policy(const uint8_t server_pk[FS_SIGN_PK_BYTES], const fs_enroll_request *req,
                        const char *host, int port, int tls, int timeout_ms, fs_ws_policy *out,
                        char *err, size_t errlen);

/* A daemon's connection: stays open between syncs so the server's POKE
 * arrives at once, while the replica is held only during a round of
 * syncing (other processes open it exclusively in between). */
#define FS_WS_LIVE_TICK_MS      50     /* how often want_sync is asked between rounds:
                                          * a stat of the replica's files; a write
                                          * waits 25 ms on average before it goes up */
#define FS_WS_LIVE_KEEPALIVE_MS 120000 /* a round at least this often (server idle: 300 s) */

typedef struct fs_ws_live {
    /* Opens the device's replica for a round. 0, or a fieldsync code:
     * FS_EBUSY (in use) and FS_ESTATE (no key now) at a tick mean "try at
     * the next tick"; any failure when a frame is waiting ends the
     * connection with that code. */
    int (*open)(void *ctx, fs_replica **out);
    /* Gives the replica back after a round; rc is 0 when the round ended in
     * sync, else the code the connection ends with. */
    void (*close)(void *ctx, fs_replica *r, int rc);
    /* Asked between rounds: 1 to sync now (local changes), 0 to wait, -1 to
     * end the connection with BYE. */
    int (*want_sync)(void *ctx);
    void *ctx;
} fs_ws_live;

/* Connects, syncs a first round, then stays connected: a POKE or a
 * want_sync of 1 starts another round, and every FS_WS_LIVE_KEEPALIVE_MS
 * one starts by itself. Each round must end in sync within
 * round_timeout_ms. Returns 0 after want_sync asked to stop or when half of
 * the lease granted at the handshake has passed (connect again: the new
 * handshake renews it), else the code that ended the connection, as
 * fs_ws_sync (FS_EIO when the server went away, FS_EREVOKED, ...), with a
 * message in err. answer_ms as for fs_ws_sync_att. */
int fs_ws_live_run(const fs_ws_live *live, const uint8_t server_pk[FS_SIGN_PK_BYTES],
                   const char *host, int port, int tls, int round_timeout_ms, int answer_ms,
                   char *err, size_t errlen);

#endif
