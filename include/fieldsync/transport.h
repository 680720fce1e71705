/*
 * The websocket transport: carries the frames of the sync sessions
 * (fieldsync/sync.h) over libwebsockets, websocket subprotocol "fieldsync.v1",
 * one binary websocket message per frame. (Not "fieldsync/1": RFC 6455
 * subprotocol names are HTTP tokens, which cannot hold a '/', and
 * libwebsockets refuses the upgrade. The protocol version itself is
 * negotiated inside the channel's handshake.)
 *
 * The transport knows nothing of the protocol. Its callbacks only move bytes
 * and writability: a received message (its fragments joined by an
 * fs_reassembler) goes to *_receive() of the connection's session; what the
 * session emits is queued and written one frame per writable callback.
 *
 * SERVER: one thread of its own with one lws context; one fs_sync_server per
 * connection. The store is not thread-safe: while the server runs, only its
 * thread touches it, so the caller must not use the store between
 * fs_ws_server_start() and fs_ws_server_stop().
 *
 * CLIENT: fs_ws_sync() connects, syncs a replica until it is in sync, and
 * ends the session with BYE; all on the calling thread.
 *
 * Frames are reassembled up to FS_HANDSHAKE_MAX_FRAME until the peer is
 * authenticated (so an unauthenticated peer cannot make the transport buffer
 * megabytes), then up to fs_proto_default_limits.max_frame; a bigger frame
 * ends the connection. libwebsockets logs errors only, and nothing here logs
 * message contents.
 */
#ifndef FIELDSYNC_TRANSPORT_H
#define FIELDSYNC_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "fieldsync/channel.h"
#include "fieldsync/identity.h"
#include "fieldsync/replica.h"
#include "fieldsync/store.h"

#define FS_WS_PROTOCOL "fieldsync.v1" /* the websocket subprotocol */

typedef struct fs_ws_server fs_ws_server;

/* Starts serving store as server_id on host:port (port 0: a free port, see
 * fs_ws_server_port) in a thread of its own. store and server_id must outlive
 * the server. Errors: FS_EINVAL (bad arguments), FS_EIO (cannot listen, or
 * cannot start the thread), FS_ENOMEM. *out is NULL on failure. */
int fs_ws_server_start(fs_ws_server **out, fs_store *store, const fs_identity *server_id,
                       const char *host, int port);
/* The port the server listens on. */
int fs_ws_server_port(const fs_ws_server *srv);
/* Plain HTTP on the same port (the managers' dashboard): the transport
 * collects a request (method, path, query, cookies, a form body of at most
 * FS_HTTP_MAX_BODY bytes) and hands it to the handler on the server's
 * thread, which may use the store; the handler fills the response. Every
 * response carries a strict Content-Security-Policy and no-store caching.
 * Without a handler, every HTTP request is 404. */
#define FS_HTTP_MAX_BODY (16 * 1024)
typedef struct fs_http_request {
    const char *method; /* "GET", "POST" */
    const char *path;   /* "/team" */
    const char *query;  /* "week=2023-W41&x=y" (decoded by lws), "" if none */
    const char *cookie; /* the Cookie header, "" if none */
    const char *body;   /* POST body (application/x-www-form-urlencoded), NUL-terminated */
    size_t body_len;
    const char *peer; /* the client's address */
} fs_http_request;
typedef struct fs_http_response {
    int status;
    const char *content_type; /* static */
    char *body;               /* malloc'd, freed by the transport */
    size_t body_len;
    char location[256];      /* a redirect's target, "" if none */
    char set_cookie[2][256]; /* Set-Cookie values, "" if none */
} fs_http_response;
typedef void (*fs_http_handler)(void *ctx, fs_store *store, const fs_http_request *rq,
                                fs_http_response *out);
/* Sets the HTTP handler; call before requests arrive (right after start). */
void fs_ws_server_set_http(fs_ws_server *srv, fs_http_handler fn, void *ctx);

/* Runs fn(store, ctx) on the server's thread between two events and
 * returns its result: the way to use the store while the server runs (an
 * admin command). Afterwards the open connections of devices the store now
 * says are revoked are closed: they connect again and are told to wipe.
 * Must not be called from fn, nor after fs_ws_server_stop. */
int fs_ws_server_call(fs_ws_server *srv, int (*fn)(fs_store *store, void *ctx), void *ctx);
/* Stops serving (open connections are dropped), joins the thread and frees
 * everything. Accepts NULL. */
void fs_ws_server_stop(fs_ws_server *srv);

/* Syncs replica r with the server at ws://host:port/ whose identity is
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
               int timeout_ms, char *err, size_t errlen);

/* As fs_ws_sync, but the handshake first enrolls the device with req (its
 * one-time code's secret, the device key, a name): the server redeems the
 * code, then the session syncs as usual. FS_EAUTH when the server refuses
 * the enrollment. */
int fs_ws_enroll(fs_replica *r, const uint8_t server_pk[FS_SIGN_PK_BYTES],
                 const fs_enroll_request *req, const char *host, int port, int timeout_ms,
                 char *err, size_t errlen);

/* A daemon's connection: stays open between syncs so the server's POKE
 * arrives at once, while the replica is held only during a round of
 * syncing (other processes open it exclusively in between). */
#define FS_WS_LIVE_TICK_MS      200    /* how often want_sync is asked between rounds */
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
 * message in err. */
int fs_ws_live_run(const fs_ws_live *live, const uint8_t server_pk[FS_SIGN_PK_BYTES],
                   const char *host, int port, int round_timeout_ms, char *err, size_t errlen);

#endif
