/*
 * The websocket server: one thread running one libwebsockets context, one
 * fs_sync_server session per connection. The callbacks below only move
 * bytes: a received message goes to the session, what the session emits is
 * queued and written one frame per writable callback. A session that fails
 * has its last frames (an ERROR or a WIPE) written before the connection is
 * closed.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync/clock.h"
#include "fieldsync/error.h"
#include "fieldsync/sync.h"
#include "fieldsync/transport.h"
#include "ws_int.h"

/* A connection has this long to authenticate, and then may stay silent
 * between frames this long, before it is dropped. The idle timeout is armed
 * again only when IDLE_REARM_SECS have passed since it last was (for
 * IDLE_SECS + IDLE_REARM_SECS, so a connection always has at least
 * IDLE_SECS): libwebsockets keeps timeouts in a sorted list, and arming one
 * walks it, which at thousands of connections cost more than the frame. */
#define HANDSHAKE_SECS  10
#define IDLE_SECS       300
#define IDLE_REARM_SECS 30

struct conn;

struct fs_ws_server {
    struct lws_context *ctx;
    struct conn *conns;           /* open connections, for pokes */
    fs_store *store;              /* touched by the server thread only */
    const fs_identity *server_id; /* the caller's */
    pthread_t thread;
    atomic_int stopping;
    int port;
    /* fs_ws_server_call: one job at a time, run by the server thread */
    pthread_mutex_t job_lock;
    pthread_cond_t job_done_cond;
    int (*job_fn)(fs_store *, void *);
    void *job_ctx;
    int job_rc, job_done;
    fs_http_handler http_fn;
    void *http_ctx;
};

/* One connection: lws allocates it zeroed (per_session_data_size) and frees
 * it; what it points to is freed by conn_free. */
typedef struct conn {
    struct lws *wsi;
    struct fs_ws_server *srv;
    struct conn *next, *prev; /* in srv->conns while linked */
    int linked;
    fs_sync_server *session;
    fs_reassembler rx;
    fs__ws_queue out;
    int closing; /* the session ended: close once out is written */
    /* A POKE went out since the device's last frame: another would add
     * nothing, since the device pulls to the end of the feed after a POKE,
     * and its next frame (a PULL) is read after everything fed before it. */
    int poked;
    int64_t idle_armed; /* when the idle timeout was last armed (fs_clock_mono_us), 0: not yet */
} conn;

static int conn_emit(void *ctx, const uint8_t *frame, size_t len)
{
    conn *c = ctx;
    int rc = fs__ws_queue_push(&c->out, frame, len);
    if (rc == 0)
        lws_callback_on_writable(c->wsi);
    return rc;
}

/* Idempotent: called when the connection closes, and on a failed start. */
static void conn_free(conn *c)
{
    if (c->linked) {
        if (c->prev != NULL)
            c->prev->next = c->next;
        else
            c->srv->conns = c->next;
        if (c->next != NULL)
            c->next->prev = c->prev;
        c->linked = 0;
    }
    fs_sync_server_free(c->session);
    c->session = NULL;
    fs_reassembler_free(&c->rx);
    fs__ws_queue_clear(&c->out);
}

static int conn_open(conn *c, struct lws *wsi, fs_ws_server *srv)
{
    c->wsi = wsi;
    c->srv = srv;
    c->next = srv->conns;
    c->prev = NULL;
    if (srv->conns != NULL)
        srv->conns->prev = c;
    srv->conns = c;
    c->linked = 1;
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, HANDSHAKE_SECS);
    fs_reassembler_init(&c->rx, FS_HANDSHAKE_MAX_FRAME);
    return fs_sync_server_new(&c->session, srv->store, srv->server_id, conn_emit, c);
}

/* Tells the open sessions but except's that the feed has grown to cursor:
 * one POKE per session between two frames from its device, so a push costs
 * one message per connected device at most, however many pushes follow
 * before the device pulls. */
static void poke_all(fs_ws_server *srv, const conn *except, uint64_t cursor)
{
    for (conn *o = srv->conns; o != NULL; o = o->next)
        if (o != except && o->session != NULL && !o->closing && !o->poked &&
            fs_sync_server_device(o->session) != NULL &&
            fs_sync_server_poke(o->session, cursor) == 0)
            o->poked = 1;
}

/* Feeds one fragment; returns -1 when the connection is to be dropped now. */
static int conn_receive(conn *c, const uint8_t *p, size_t n, int is_final)
{
    if (c->closing || c->session == NULL)
        return 0; /* the session is over; what follows is ignored */
    const uint8_t *frame = NULL;
    size_t len = 0;
    int rc = fs_reassembler_add(&c->rx, p, n, is_final, &frame, &len);
    if (rc < 0) {
        /* Too big for what the session accepts now. Before authentication
         * the connection just drops (nothing to tell an unknown peer); a
         * device is told why, and it is audited. */
        if (fs_sync_server_device(c->session) == NULL)
            return -1;
        fs_sync_server_refuse_frame(c->session, c->rx.max_frame);
        c->closing = 1;
        if (fs__ws_queue_empty(&c->out))
            return -1;
        lws_callback_on_writable(c->wsi);
        return 0;
    }
    if (rc == 0)
        return 0;
    c->poked = 0; /* what the device sends next is read after any news so far */
    uint64_t before = 0, after = 0;
    fs_feed_last(fs_store_replica(c->srv->store), &before);
    rc = fs_sync_server_receive(c->session, frame, len);
    fs_feed_last(fs_store_replica(c->srv->store), &after);
    if (after > before) /* news: the other connected devices pull it */
        poke_all(c->srv, c, after);
    if (rc != 0) {
        /* The server's own failures are the operator's to see (the
         * messages name no value); a peer's mistakes are its own. */
        if (rc == FS_EFULL || rc == FS_EIO || rc == FS_EDB || rc == FS_ENOMEM)
            fprintf(stderr, "fieldsync-server: a session ended (%s): %s\n", fs_errname(rc),
                    fs_sync_server_errmsg(c->session));
        c->closing = 1;
        if (fs__ws_queue_empty(&c->out))
            return -1;
        lws_callback_on_writable(c->wsi);
        return 0;
    }
    /* A frame over the receive buffer was joined in rx.buf: let it go
     * rather than keep the largest frame ever received per connection. */
    if (c->rx.buf.cap > FS__WS_RX_BUFFER) {
        size_t max = c->rx.max_frame;
        fs_reassembler_free(&c->rx);
        fs_reassembler_init(&c->rx, max);
    }
    /* Once the device is authenticated, whole batches may come. */
    if (fs_sync_server_device(c->session) != NULL) {
        /* monotonic: a wall-clock jump must not stop the timeout being armed again */
        int64_t now = (int64_t)fs_clock_mono_us();
        c->rx.max_frame = fs_proto_default_limits.max_frame;
        if (c->idle_armed == 0 || now - c->idle_armed >= IDLE_REARM_SECS * 1000000ll) {
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, IDLE_SECS + IDLE_REARM_SECS);
            c->idle_armed = now;
        }
    }
    return 0;
}

static int conn_writable(conn *c)
{
    if (fs__ws_queue_write(&c->out, c->wsi) != 0)
        return -1;
    if (!fs__ws_queue_empty(&c->out)) {
        lws_callback_on_writable(c->wsi);
        return 0;
    }
    if (c->closing) {
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        return -1;
    }
    return 0;
}

static int on_event(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED: {
        fs_ws_server *srv = lws_context_user(lws_get_context(wsi));
        if (conn_open(c, wsi, srv) != 0) {
            conn_free(c);
            return -1;
        }
        return 0;
    }
    case LWS_CALLBACK_RECEIVE:
        return conn_receive(c, in, len,
                            lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return c->session != NULL ? conn_writable(c) : -1;
    case LWS_CALLBACK_CLOSED:
        conn_free(c);
        return 0;
    default:
        return 0;
    }
}

/* ---- plain HTTP (the dashboard) ---- */

/* One HTTP transaction: lws allocates it zeroed and frees it. */
typedef struct http_tx {
    char method[8];
    char path[256];
    char query[1024];
    char cookie[2048];
    char peer[64];
    char *body;
    size_t body_len;
    int too_big;
    fs_http_response resp;
    int ready;
} http_tx;

static void http_tx_free(http_tx *t)
{
    free(t->body);
    t->body = NULL;
    free(t->resp.body);
    t->resp.body = NULL;
}

static void http_respond(struct lws *wsi, http_tx *t)
{
    fs_ws_server *srv = lws_context_user(lws_get_context(wsi));
    fs_http_request rq = {t->method,   t->path, t->query, t->cookie, t->body ? t->body : "",
                          t->body_len, t->peer};
    memset(&t->resp, 0, sizeof t->resp);
    if (t->too_big) {
        t->resp.status = 413;
    } else if (srv->http_fn != NULL) {
        uint64_t before = 0, after = 0;
        fs_feed_last(fs_store_replica(srv->store), &before);
        srv->http_fn(srv->http_ctx, srv->store, &rq, &t->resp);
        fs_feed_last(fs_store_replica(srv->store), &after);
        if (after > before) /* a manager's action: the devices pull it now */
            poke_all(srv, NULL, after);
    } else {
        t->resp.status = 404;
    }
    if (t->resp.status == 0)
        t->resp.status = 500;
    t->ready = 1;
    lws_callback_on_writable(wsi);
}

static int http_write(struct lws *wsi, http_tx *t)
{
    static const char csp[] = "default-src 'none'; style-src 'self'; img-src 'self'; "
                              "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    uint8_t head[LWS_PRE + 4096], *start = head + LWS_PRE, *p = start,
                                  *end = head + sizeof head - 1;
    const fs_http_response *r = &t->resp;
    const char *ctype = r->content_type ? r->content_type : "text/plain; charset=utf-8";
    if (lws_add_http_common_headers(wsi, (unsigned)r->status, ctype, r->body_len, &p, end) ||
        lws_add_http_header_by_name(wsi, (const uint8_t *)"content-security-policy:",
                                    (const uint8_t *)csp, (int)strlen(csp), &p, end) ||
        lws_add_http_header_by_name(wsi, (const uint8_t *)"x-content-type-options:",
                                    (const uint8_t *)"nosniff", 7, &p, end) ||
        lws_add_http_header_by_name(wsi, (const uint8_t *)"referrer-policy:",
                                    (const uint8_t *)"no-referrer", 11, &p, end) ||
        lws_add_http_header_by_name(
            wsi, (const uint8_t *)"cache-control:", (const uint8_t *)"no-store", 8, &p, end))
        return -1;
    if (r->location[0] &&
        lws_add_http_header_by_name(wsi, (const uint8_t *)"location:", (const uint8_t *)r->location,
                                    (int)strlen(r->location), &p, end))
        return -1;
    for (int i = 0; i < 2; i++)
        if (r->set_cookie[i][0] &&
            lws_add_http_header_by_name(
                wsi, (const uint8_t *)"set-cookie:", (const uint8_t *)r->set_cookie[i],
                (int)strlen(r->set_cookie[i]), &p, end))
            return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    if (r->body_len > 0) {
        uint8_t *buf = malloc(LWS_PRE + r->body_len);
        if (buf == NULL)
            return -1;
        memcpy(buf + LWS_PRE, r->body, r->body_len);
        int n = lws_write(wsi, buf + LWS_PRE, r->body_len, LWS_WRITE_HTTP_FINAL);
        free(buf);
        if (n < 0)
            return -1;
    }
    http_tx_free(t);
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int on_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    http_tx *t = user;
    if (t == NULL) /* a callback about a connection that is not an HTTP transaction */
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        memset(t, 0, sizeof *t);
        int post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
        snprintf(t->method, sizeof t->method, "%s", post ? "POST" : "GET");
        snprintf(t->path, sizeof t->path, "%s", in ? (const char *)in : "/");
        if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COOKIE) < (int)sizeof t->cookie)
            (void)lws_hdr_copy(wsi, t->cookie, sizeof t->cookie, WSI_TOKEN_HTTP_COOKIE);
        size_t q = 0;
        char frag[512];
        for (int i = 0;
             lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i) > 0; i++) {
            int n = snprintf(t->query + q, sizeof t->query - q, "%s%s", q ? "&" : "", frag);
            if (n < 0 || (size_t)n >= sizeof t->query - q)
                break;
            q += (size_t)n;
        }
        lws_get_peer_simple(wsi, t->peer, sizeof t->peer);
        if (!post)
            http_respond(wsi, t);
        return 0;
    }
    case LWS_CALLBACK_HTTP_BODY:
        if (t->too_big || t->body_len + len > FS_HTTP_MAX_BODY) {
            t->too_big = 1;
            return 0;
        } else {
            char *more = realloc(t->body, t->body_len + len + 1);
            if (more == NULL)
                return -1;
            t->body = more;
            memcpy(t->body + t->body_len, in, len);
            t->body_len += len;
            t->body[t->body_len] = '\0';
        }
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        http_respond(wsi, t);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return t->ready ? http_write(wsi, t) : 0;
    case LWS_CALLBACK_CLOSED_HTTP:
        http_tx_free(t);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

typedef struct http_set {
    fs_ws_server *srv;
    fs_http_handler fn;
    void *ctx;
} http_set;

static int set_http_job(fs_store *store, void *ctx)
{
    (void)store;
    http_set *h = ctx;
    h->srv->http_fn = h->fn;
    h->srv->http_ctx = h->ctx;
    return 0;
}

void fs_ws_server_set_http(fs_ws_server *srv, fs_http_handler fn, void *ctx)
{
    http_set h = {srv, fn, ctx};
    (void)fs_ws_server_call(srv, set_http_job, &h); /* on the server's thread: no race */
}

static const struct lws_protocols protocols[] = {
    {"http", on_http, sizeof(http_tx), 0, 0, NULL, 0},
    {FS_WS_PROTOCOL, on_event, sizeof(conn), FS__WS_RX_BUFFER, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* After a job: a device the store now says is revoked loses its open
 * connection; it connects again, and the handshake tells it to wipe. */
static void drop_revoked(fs_ws_server *srv)
{
    for (conn *c = srv->conns; c != NULL; c = c->next) {
        const uint8_t *pk = c->session != NULL ? fs_sync_server_device(c->session) : NULL;
        if (pk != NULL && !c->closing && fs_store_device_check(srv->store, pk) == FS_EREVOKED) {
            c->closing = 1;
            lws_callback_on_writable(c->wsi);
        }
    }
}

static void run_job(fs_ws_server *srv)
{
    pthread_mutex_lock(&srv->job_lock);
    int (*fn)(fs_store *, void *) = srv->job_fn;
    void *ctx = srv->job_ctx;
    srv->job_fn = NULL;
    pthread_mutex_unlock(&srv->job_lock);
    if (fn == NULL)
        return;
    int rc = fn(srv->store, ctx);
    drop_revoked(srv);
    pthread_mutex_lock(&srv->job_lock);
    srv->job_rc = rc;
    srv->job_done = 1;
    pthread_cond_signal(&srv->job_done_cond);
    pthread_mutex_unlock(&srv->job_lock);
}

static void *serve(void *arg)
{
    fs_ws_server *srv = arg;
    pthread_setname_np(pthread_self(), "fs-server"); /* top -H, perf --comm */
    while (!atomic_load(&srv->stopping)) {
        lws_service(srv->ctx, 0);
        run_job(srv);
    }
    return NULL;
}

int fs_ws_server_call(fs_ws_server *srv, int (*fn)(fs_store *store, void *ctx), void *ctx)
{
    if (srv == NULL || fn == NULL)
        return FS_EINVAL;
    pthread_mutex_lock(&srv->job_lock);
    srv->job_fn = fn;
    srv->job_ctx = ctx;
    srv->job_done = 0;
    pthread_mutex_unlock(&srv->job_lock);
    lws_cancel_service(srv->ctx); /* wakes the service loop */
    pthread_mutex_lock(&srv->job_lock);
    while (!srv->job_done)
        pthread_cond_wait(&srv->job_done_cond, &srv->job_lock);
    int rc = srv->job_rc;
    pthread_mutex_unlock(&srv->job_lock);
    return rc;
}

int fs_ws_server_start(fs_ws_server **out, fs_store *store, const fs_identity *server_id,
                       const char *host, int port)
{
    *out = NULL;
    if (store == NULL || server_id == NULL || port < 0 || port > 65535)
        return FS_EINVAL;
    fs_ws_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return FS_ENOMEM;
    srv->store = store;
    srv->server_id = server_id;
    atomic_init(&srv->stopping, 0);
    pthread_mutex_init(&srv->job_lock, NULL);
    pthread_cond_init(&srv->job_done_cond, NULL);
    fs__ws_quiet_logs();

    int rc = FS_EIO;
    /* libwebsockets 4.1 binds every interface when given an IPv4 literal as
     * its "iface", but binds an IPv4-mapped IPv6 address exactly: pass that,
     * so "127.0.0.1" means loopback only. */
    char iface[64];
    struct in_addr v4;
    if (host != NULL && inet_pton(AF_INET, host, &v4) == 1)
        snprintf(iface, sizeof iface, "::ffff:%s", host);
    else
        snprintf(iface, sizeof iface, "%s", host ? host : "");
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    info.port = port;
    info.iface = host != NULL ? iface : NULL;
    info.protocols = protocols;
    info.user = srv;
    srv->ctx = lws_create_context(&info);
    if (srv->ctx == NULL)
        goto fail;
    struct lws_vhost *vh = lws_create_vhost(srv->ctx, &info);
    if (vh == NULL)
        goto fail_ctx;
    srv->port = lws_get_vhost_listen_port(vh);
    if (srv->port <= 0)
        goto fail_ctx;
    if (pthread_create(&srv->thread, NULL, serve, srv) != 0)
        goto fail_ctx;
    *out = srv;
    return 0;

fail_ctx:
    lws_context_destroy(srv->ctx);
fail:
    pthread_mutex_destroy(&srv->job_lock);
    pthread_cond_destroy(&srv->job_done_cond);
    free(srv);
    return rc;
}

int fs_ws_server_port(const fs_ws_server *srv)
{
    return srv->port;
}

void fs_ws_server_stop(fs_ws_server *srv)
{
    if (srv == NULL)
        return;
    atomic_store(&srv->stopping, 1);
    lws_cancel_service(srv->ctx); /* wakes the service loop */
    pthread_join(srv->thread, NULL);
    /* The thread is gone: the context is ours. Destroying it closes the open
     * connections; their CLOSED callbacks free the sessions, which do not
     * touch the store. */
    lws_context_destroy(srv->ctx);
    pthread_mutex_destroy(&srv->job_lock);
    pthread_cond_destroy(&srv->job_done_cond);
    free(srv);
}
