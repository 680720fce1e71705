/*
 * The hub: what the server does with the websocket transport's events. One
 * fs_sync_server per connection, driven by the frames the transport hands
 * over and emitting through fs_net_conn_send; the feed head read before and
 * after every frame and HTTP request, and the other devices poked when it
 * grew; after an admin job, the connections of revoked devices closed. Every
 * function here but start, stop and call runs on the transport's thread,
 * the only one that touches the store while the server runs.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fieldsync/error.h"
#include "fieldsync/sync.h"
#include "hub.h"

struct fs_ws_server {
    fs_net_server *net;
    fs_store *store;              /* touched by the transport's thread only */
    const fs_identity *server_id; /* the caller's */
    fs_http_handler http_fn;
    void *http_ctx;
};

/* One connection's session, the transport's "session" for it. */
typedef struct hub_conn {
    fs_net_conn *conn;
    fs_sync_server *session;
    /* A POKE went out since the device's last frame: another would add
     * nothing, since the device pulls to the end of the feed after a POKE,
     * and its next frame (a PULL) is read after everything fed before it. */
    int poked;
} hub_conn;

static int hub_opened(void *ctx, fs_net_conn *conn, void **session)
{
    fs_ws_server *hub = ctx;
    hub_conn *hc = calloc(1, sizeof *hc);
    if (hc == NULL)
        return FS_ENOMEM;
    hc->conn = conn;
    int rc = fs_sync_server_new(&hc->session, hub->store, hub->server_id, fs_net_conn_send, conn);
    if (rc != 0) {
        fs_sync_server_free(hc->session);
        free(hc);
        return rc;
    }
    *session = hc;
    return 0;
}

static void hub_closed(void *ctx, void *session)
{
    (void)ctx;
    hub_conn *hc = session;
    fs_sync_server_free(hc->session); /* does not touch the store */
    free(hc);
}

static int hub_authenticated(void *ctx, void *session)
{
    (void)ctx;
    const hub_conn *hc = session;
    return fs_sync_server_device(hc->session) != NULL;
}

typedef struct poke {
    const hub_conn *except;
    uint64_t cursor;
} poke;

static void poke_one(void *ctx, void *session)
{
    const poke *p = ctx;
    hub_conn *o = session;
    if (o != p->except && !o->poked && fs_sync_server_device(o->session) != NULL &&
        fs_sync_server_poke(o->session, p->cursor) == 0)
        o->poked = 1;
}

/* Tells the open sessions but except's that the feed has grown to cursor:
 * one POKE per session between two frames from its device, so a push costs
 * one message per connected device at most, however many pushes follow
 * before the device pulls. */
static void poke_all(fs_ws_server *hub, const hub_conn *except, uint64_t cursor)
{
    poke p = {except, cursor};
    fs_net_server_each(hub->net, poke_one, &p);
}

static int hub_frame(void *ctx, void *session, const uint8_t *frame, size_t len)
{
    fs_ws_server *hub = ctx;
    hub_conn *hc = session;
    hc->poked = 0; /* what the device sends next is read after any news so far */
    uint64_t before = 0, after = 0;
    fs_store_feed_head(hub->store, &before);
    int rc = fs_sync_server_receive(hc->session, frame, len);
    fs_store_feed_head(hub->store, &after);
    if (after > before) /* news: the other connected devices pull it */
        poke_all(hub, hc, after);
    /* The server's own failures are the operator's to see (the messages
     * name no value); a peer's mistakes are its own. */
    if (rc == FS_EFULL || rc == FS_EIO || rc == FS_EDB || rc == FS_ENOMEM)
        fprintf(stderr, "fieldsync-server: a session ended (%s): %s\n", fs_errname(rc),
                fs_sync_server_errmsg(hc->session));
    return rc;
}

static void hub_oversize(void *ctx, void *session, size_t max_frame)
{
    (void)ctx;
    hub_conn *hc = session;
    fs_sync_server_refuse_frame(hc->session, max_frame); /* told why, and audited */
}

static void hub_http(void *ctx, const fs_http_request *rq, fs_http_response *out)
{
    fs_ws_server *hub = ctx;
    if (hub->http_fn == NULL) {
        out->status = 404;
        return;
    }
    uint64_t before = 0, after = 0;
    fs_store_feed_head(hub->store, &before);
    hub->http_fn(hub->http_ctx, hub->store, rq, out);
    fs_store_feed_head(hub->store, &after);
    if (after > before) /* a manager's action: the devices pull it now */
        poke_all(hub, NULL, after);
}

int fs_ws_server_start(fs_ws_server **out, fs_store *store, const fs_identity *server_id,
                       const char *host, int port)
{
    return fs_ws_server_start_tls(out, store, server_id, host, port, NULL, NULL);
}

int fs_ws_server_start_tls(fs_ws_server **out, fs_store *store, const fs_identity *server_id,
                           const char *host, int port, const char *cert, const char *key)
{
    *out = NULL;
    if (store == NULL || server_id == NULL || port < 0 || port > 65535)
        return FS_EINVAL;
    fs_ws_server *hub = calloc(1, sizeof *hub);
    if (hub == NULL)
        return FS_ENOMEM;
    hub->store = store;
    hub->server_id = server_id;
    const fs_net_server_hooks hooks = {
        .opened = hub_opened,
        .frame = hub_frame,
        .authenticated = hub_authenticated,
        .oversize = hub_oversize,
        .closed = hub_closed,
        .http = hub_http,
        .ctx = hub,
    };
    int rc = fs_net_server_start_tls(&hub->net, &hooks, host, port, cert, key);
    if (rc != 0) {
        free(hub);
        return rc;
    }
    *out = hub;
    return 0;
}

int fs_ws_server_port(const fs_ws_server *srv)
{
    return fs_net_server_port(srv->net);
}

static void drop_if_revoked(void *ctx, void *session)
{
    fs_ws_server *hub = ctx;
    hub_conn *hc = session;
    const uint8_t *pk = fs_sync_server_device(hc->session);
    if (pk != NULL && fs_store_device_check(hub->store, pk) == FS_EREVOKED)
        fs_net_conn_close(hc->conn);
}

typedef struct job {
    fs_ws_server *hub;
    int (*fn)(fs_store *, void *);
    void *ctx;
} job;

/* On the transport's thread: the job, then a device the store now says is
 * revoked loses its open connection; it connects again, and the handshake
 * tells it to wipe. */
static int run_job(void *ctx)
{
    job *j = ctx;
    int rc = j->fn(j->hub->store, j->ctx);
    fs_net_server_each(j->hub->net, drop_if_revoked, j->hub);
    return rc;
}

int fs_ws_server_call(fs_ws_server *srv, int (*fn)(fs_store *store, void *ctx), void *ctx)
{
    if (srv == NULL || fn == NULL)
        return FS_EINVAL;
    job j = {srv, fn, ctx};
    return fs_net_server_call(srv->net, run_job, &j);
}

typedef struct http_set {
    fs_ws_server *hub;
    fs_http_handler fn;
    void *ctx;
} http_set;

static int set_http_job(fs_store *store, void *ctx)
{
    (void)store;
    http_set *h = ctx;
    h->hub->http_fn = h->fn;
    h->hub->http_ctx = h->ctx;
    return 0;
}

void fs_ws_server_set_http(fs_ws_server *srv, fs_http_handler fn, void *ctx)
{
    http_set h = {srv, fn, ctx};
    (void)fs_ws_server_call(srv, set_http_job, &h); /* on the server's thread: no race */
}

void fs_ws_server_stop(fs_ws_server *srv)
{
    if (srv == NULL)
        return;
    /* The transport's thread is joined first; the sessions it hands back
     * while closing the connections do not touch the store. */
    fs_net_server_stop(srv->net);
    free(srv);
}
