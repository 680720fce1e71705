/*
 * The server's hub (hub.c): the store and the sync sessions behind the
 * websocket transport (fieldsync/transport.h). The transport moves bytes and
 * reports events; the hub gives each connection an fs_sync_server, decides
 * the pokes (one POKE per device between two of its frames when the feed
 * grows), closes the connections of devices revoked by an admin command, and
 * hands the dashboard's HTTP requests to its handler with the store.
 *
 * The store is not thread-safe: while the hub runs, only the transport's
 * thread touches it, so the caller must not use the store between
 * fs_ws_server_start() and fs_ws_server_stop() other than through
 * fs_ws_server_call().
 */
#ifndef FIELDSYNC_SERVER_HUB_H
#define FIELDSYNC_SERVER_HUB_H

#include "fieldsync/identity.h"
#include "fieldsync/store.h"
#include "fieldsync/transport.h"

typedef struct fs_ws_server fs_ws_server;

/* Several nodes on one store (the PostgreSQL backend, issue 21.3): when the
 * store has a notification socket (fs_store_notify_fd), a thread of the
 * hub's polls it and has the server's thread call fs_store_refresh when it
 * becomes readable, and every FS_HUB_REFRESH_MS in any case (a notification
 * missed across a reconnect), at most one refresh per FS_HUB_REFRESH_GAP_MS;
 * when another node's writes grew the feed, every connected device is
 * poked. Without a socket (SQLite) there is no such thread. */
#define FS_HUB_REFRESH_MS     1000
#define FS_HUB_REFRESH_GAP_MS 5

/* Starts serving store as server_id on host:port (port 0: a free port, see
 * fs_ws_server_port) in a thread of its own. store and server_id must outlive
 * the server. Errors: FS_EINVAL (bad arguments), FS_EIO (cannot listen, or
 * cannot start the thread), FS_ENOMEM. *out is NULL on failure. */
int fs_ws_server_start(fs_ws_server **out, fs_store *store, const fs_identity *server_id,
                       const char *host, int port);
/* As fs_ws_server_start, over TLS (https:// and wss://) with the PEM files
 * cert and key (fs_net_server_start_tls). */
int fs_ws_server_start_tls(fs_ws_server **out, fs_store *store, const fs_identity *server_id,
                           const char *host, int port, const char *cert, const char *key);
/* The port the server listens on. */
int fs_ws_server_port(const fs_ws_server *srv);
/* Its connection budget (fs_net_server_budget). */
void fs_ws_server_budget(const fs_ws_server *srv, fs_net_budget *out);
/* Its connections now (fs_net_server_counts): on the server's thread only,
 * from a job of fs_ws_server_call. */
void fs_ws_server_counts(const fs_ws_server *srv, fs_net_conn_counts *out);

/* The dashboard's handler: called on the server's thread for each plain
 * HTTP request (fs_http_request, fieldsync/transport.h) with the store; it
 * fills the response. When the feed grew meanwhile, the connected devices
 * are poked. */
typedef void (*fs_http_handler)(void *ctx, fs_store *store, const fs_http_request *rq,
                                fs_http_response *out);
/* Sets the HTTP handler; call before requests arrive (right after start).
 * Without one, every HTTP request is 404. */
void fs_ws_server_set_http(fs_ws_server *srv, fs_http_handler fn, void *ctx);

/* Work too slow for the server's thread, which serves every device (a
 * login's Argon2 check, issue 20.1), for an HTTP request: called from the
 * handler, it defers the request's answer (out->deferred); work(ctx) runs
 * on one of the worker threads (half the machine's CPUs, at least one, at
 * most FS_HUB_WORKERS: the checks never take every core from the devices'
 * syncs) and must not touch the store. The devices' syncs come first: a
 * job starts once no device frame has arrived for 100 ms, or after a
 * second of waiting for that, and its finish is handed back in such a
 * lull too; an urgent job (a login from its account's
 * last good network) starts next, ahead of the others, without waiting,
 * and may exceed FS_HUB_WORK_MAX by FS_HUB_URGENT_MAX. Then
 * finish(ctx, store, answer) runs on the server's thread and fills the
 * answer, which is sent. finish is called exactly once and owns ctx; when
 * the server stops before the work ran, answer is NULL and finish only
 * frees ctx. At most FS_HUB_WORK_MAX jobs wait or run at once: above that
 * FS_EBUSY, at once, and the handler answers (503) itself; ctx stays the
 * caller's, as with FS_ENOMEM. */
#define FS_HUB_WORKERS  8 /* at most */
#define FS_HUB_WORK_MAX   4
#define FS_HUB_URGENT_MAX 2
int fs_ws_server_defer(fs_ws_server *srv, const fs_http_request *rq, fs_http_response *out,
                       int urgent, void (*work)(void *ctx),
                       void (*finish)(void *ctx, fs_store *store, fs_http_response *answer),
                       void *ctx);

/* Runs fn(store, ctx) on the server's thread between two events and
 * returns its result: the way to use the store while the server runs (an
 * admin command). Afterwards the open connections of devices the store now
 * says are revoked are closed: they connect again and are told to wipe.
 * Must not be called from fn, nor after fs_ws_server_stop. */
int fs_ws_server_call(fs_ws_server *srv, int (*fn)(fs_store *store, void *ctx), void *ctx);
/* The open connections whose sessions go on (devices connected now). On the
 * server's thread only: from a job of fs_ws_server_call. */
size_t fs_ws_server_connections(fs_ws_server *srv);
/* Loads the TLS certificate and key again from the files serve started with
 * (a certificate renewed in place), on the server's thread; new
 * connections get it, open ones keep theirs. 0, FS_EINVAL (not serving
 * TLS) or FS_EFORMAT (the files do not load: the old pair stays). Not from
 * the server's thread. */
int fs_ws_server_reload_tls(fs_ws_server *srv);
/* Stops serving (open connections are dropped), joins the thread and frees
 * everything. Accepts NULL. */
void fs_ws_server_stop(fs_ws_server *srv);

#endif
