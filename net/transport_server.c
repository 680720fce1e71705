/*
 * The websocket server: one thread running one libwebsockets context, one
 * caller's session per connection (fs_net_server_hooks). The callbacks
 * below only move bytes: a received message goes to the caller's frame
 * callback, what the caller sends is queued and written one frame per
 * writable callback. A session that ends has its last frames (an ERROR or
 * a WIPE) written before the connection is closed.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <openssl/ssl.h>

#include "fieldsync/channel.h" /* FS_HANDSHAKE_MAX_FRAME */
#include "fieldsync/clock.h"
#include "fieldsync/error.h"
#include "fieldsync/msg.h" /* fs_reassembler, fs_proto_default_limits */
#include "fieldsync/transport.h"
#include "conn_budget.h"
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

struct fs_net_server {
    struct lws_context *ctx;
    struct fs_net_conn *conns; /* open connections, for fs_net_server_each */
    fs_net_server_hooks hooks;
    pthread_t thread;
    atomic_int stopping;
    int port;
    int tls; /* https:// and wss:// (fs_net_server_start_tls) */
    char *cert, *key; /* their paths, for fs_net_server_reload_tls */
    /* fs_net_server_call: one job at a time, run by the server thread */
    pthread_mutex_t job_lock;
    pthread_cond_t job_done_cond;
    int (*job_fn)(void *);
    void *job_ctx;
    int job_rc, job_done;
    /* fs_net_server_post: jobs from any thread, run by the server thread */
    pthread_mutex_t post_lock;
    struct post_job *post_head, *post_tail;
    /* HTTP transactions whose answer was deferred, for fs_net_server_answer */
    struct http_tx *deferred;
    uint64_t http_ids;
    /* answers held before they are sent (fs_http_response.hold_ms) */
    struct http_tx *held;
    size_t nheld;
    /* every accepted connection, by descriptor (conn_budget.h); the server
     * thread's only */
    fs__budget *budget;
};

typedef struct post_job {
    struct post_job *next;
    void (*fn)(void *);
    void *ctx;
} post_job;

/* One connection: lws allocates it zeroed (per_session_data_size) and frees
 * it; what it points to is freed by conn_free. */
typedef struct fs_net_conn {
    struct lws *wsi;
    struct fs_net_server *srv;
    struct fs_net_conn *next, *prev; /* in srv->conns while linked */
    int linked;
    void *session; /* the caller's, non-NULL once opened() succeeded */
    fs_reassembler rx;
    fs__ws_queue out;
    int closing;        /* the session ended: close once out is written */
    int64_t idle_armed; /* when the idle timeout was last armed (fs_clock_mono_us), 0: not yet */
    int budget_authed;  /* told the budget its peer is authenticated */
} conn;

int fs_net_conn_send(void *ctx, const uint8_t *frame, size_t len)
{
    conn *c = ctx;
    int rc = fs__ws_queue_push(&c->out, frame, len);
    if (rc == 0)
        lws_callback_on_writable(c->wsi);
    return rc;
}

void fs_net_network_of(const char *peer, char key[FS_NET_KEY_MAX])
{
    unsigned char a[16];
    const char *v4 = strncmp(peer, "::ffff:", 7) == 0 ? peer + 7 : peer;
    if (inet_pton(AF_INET, v4, a) == 1) {
        snprintf(key, FS_NET_KEY_MAX, "%u.%u.%u.0/24", a[0], a[1], a[2]);
    } else if (inet_pton(AF_INET6, peer, a) == 1) {
        memset(a + 8, 0, 8);
        char text[INET6_ADDRSTRLEN];
        if (inet_ntop(AF_INET6, a, text, sizeof text) != NULL)
            snprintf(key, FS_NET_KEY_MAX, "%s/64", text);
        else
            snprintf(key, FS_NET_KEY_MAX, "?");
    } else {
        snprintf(key, FS_NET_KEY_MAX, "%.*s", FS_NET_KEY_MAX - 1, peer);
    }
}

void fs_net_conn_network(fs_net_conn *c, char key[FS_NET_KEY_MAX])
{
    char peer[64] = "";
    lws_get_peer_simple(c->wsi, peer, sizeof peer);
    fs_net_network_of(peer, key);
}

void fs_net_conn_close(fs_net_conn *c)
{
    c->closing = 1;
    lws_callback_on_writable(c->wsi);
}

/* ---- the connection budget (issue 20.2) ----
 *
 * A connection is in the budget from its accept (the filter callback,
 * which has its descriptor and address) to the end of its wsi. Its wsi
 * carries its descriptor + 1 as opaque user data, for the end, when the
 * socket is already closed. */

/* A new connection: 0 to take it, -1 to close it at once. Closing the
 * oldest unauthenticated one here is safe: the wsi being serviced is the
 * listening socket's, and libwebsockets takes the closed one out of its
 * poll table before the next service. */
static int budget_accept(fs_net_server *srv, const struct lws_filter_network_conn_args *a,
                         int fd)
{
    if (srv->budget == NULL)
        return 0;
    fs__budget_net_key net;
    if (fs__budget_net_of(&a->cli_addr, a->clilen, &net) != 0)
        memset(&net, 0, sizeof net);
    int victim = fs__budget_victim(srv->budget, &net);
    if (victim >= 0) {
        struct lws *old = fs__budget_handle(srv->budget, victim);
        if (old != NULL)
            lws_set_timeout(old, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
        else /* never instantiated (its adoption failed): its descriptor is gone */
            fs__budget_forget(srv->budget, victim);
    }
    return fs__budget_admit(srv->budget, fd, &net);
}

static void budget_bind(fs_net_server *srv, struct lws *wsi)
{
    int fd = (int)lws_get_socket_fd(wsi);
    if (srv == NULL || srv->budget == NULL || fd < 0)
        return;
    fs__budget_set_handle(srv->budget, fd, wsi);
    lws_set_opaque_user_data(wsi, (void *)(intptr_t)(fd + 1));
}

static void budget_forget(fs_net_server *srv, struct lws *wsi)
{
    intptr_t tag = (intptr_t)lws_get_opaque_user_data(wsi);
    if (srv == NULL || srv->budget == NULL || tag <= 0)
        return;
    lws_set_opaque_user_data(wsi, NULL);
    int fd = (int)(tag - 1);
    if (fs__budget_handle(srv->budget, fd) == wsi) /* not a newer connection on fd */
        fs__budget_forget(srv->budget, fd);
}

static int conn_authenticated(const conn *c)
{
    return c->srv->hooks.authenticated != NULL &&
           c->srv->hooks.authenticated(c->srv->hooks.ctx, c->session);
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
    if (c->session != NULL)
        c->srv->hooks.closed(c->srv->hooks.ctx, c->session);
    c->session = NULL;
    fs_reassembler_free(&c->rx);
    fs__ws_queue_clear(&c->out);
}

static int conn_open(conn *c, struct lws *wsi, fs_net_server *srv)
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
    void *session = NULL;
    int rc = srv->hooks.opened(srv->hooks.ctx, c, &session);
    if (rc == 0)
        c->session = session;
    return rc;
}

void fs_net_server_each(fs_net_server *srv, void (*fn)(void *ctx, void *session), void *ctx)
{
    for (conn *o = srv->conns; o != NULL; o = o->next)
        if (o->session != NULL && !o->closing)
            fn(ctx, o->session);
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
         * device may be told why. */
        if (!conn_authenticated(c))
            return -1;
        if (c->srv->hooks.oversize != NULL)
            c->srv->hooks.oversize(c->srv->hooks.ctx, c->session, c->rx.max_frame);
        c->closing = 1;
        if (fs__ws_queue_empty(&c->out))
            return -1;
        lws_callback_on_writable(c->wsi);
        return 0;
    }
    if (rc == 0)
        return 0;
    rc = c->srv->hooks.frame(c->srv->hooks.ctx, c->session, frame, len);
    if (rc != 0) {
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
    /* Once the peer is authenticated, whole batches may come. */
    if (conn_authenticated(c)) {
        if (!c->budget_authed && c->srv->budget != NULL) {
            fs__budget_authenticated(c->srv->budget, (int)lws_get_socket_fd(c->wsi));
            c->budget_authed = 1;
        }
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
        fs_net_server *srv = lws_context_user(lws_get_context(wsi));
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
    case LWS_CALLBACK_WSI_DESTROY:
        budget_forget(lws_context_user(lws_get_context(wsi)), wsi);
        return 0;
    default:
        return 0;
    }
}

/* ---- plain HTTP (the dashboard) ---- */

/* One HTTP transaction: lws allocates it zeroed and frees it. */
typedef struct http_tx {
    struct lws *wsi;
    uint64_t id;
    struct http_tx *dnext, *dprev; /* in srv->deferred while waiting */
    int waiting;                   /* deferred by the handler, not yet answered */
    struct http_tx *hnext, *hprev; /* in srv->held while its answer is held */
    int held;
    int close_after; /* a hold refused (the tarpit is full): close once answered */
    char method[8];
    char path[256];
    char query[1024];
    char cookie[2048];
    char accept_language[256];
    char peer[64];
    char *body;
    size_t body_len;
    int too_big;
    fs_http_response resp;
    int ready;
} http_tx;

/* A deferred transaction leaves srv->deferred: answered, or its client gone. */
static void http_tx_unlink(fs_net_server *srv, http_tx *t)
{
    if (!t->waiting)
        return;
    if (t->dprev != NULL)
        t->dprev->dnext = t->dnext;
    else
        srv->deferred = t->dnext;
    if (t->dnext != NULL)
        t->dnext->dprev = t->dprev;
    t->dnext = t->dprev = NULL;
    t->waiting = 0;
}

/* A held answer leaves srv->held: its time came, or its client is gone. */
static void http_tx_unhold(fs_net_server *srv, http_tx *t)
{
    if (!t->held)
        return;
    if (t->hprev != NULL)
        t->hprev->hnext = t->hnext;
    else
        srv->held = t->hnext;
    if (t->hnext != NULL)
        t->hnext->hprev = t->hprev;
    t->hnext = t->hprev = NULL;
    t->held = 0;
    srv->nheld--;
}

/* The tarpit (issue 20.1): a refusal is held hold_ms before it is sent,
 * when fewer than FS_HTTP_HOLD_MAX answers are held and fewer than
 * FS_HTTP_HOLD_PER_NET from its peer's network. Held, the connection costs
 * a descriptor and a timer, no CPU; it stays inside the connection budget
 * (an unauthenticated connection, closed first when the budget is full).
 * Otherwise the answer goes at once and the connection closes after it:
 * a client past the caps reconnects for each refusal. */
static int http_tx_hold(fs_net_server *srv, http_tx *t)
{
    if (srv->nheld >= FS_HTTP_HOLD_MAX)
        return -1;
    char net[FS_NET_KEY_MAX];
    fs_net_network_of(t->peer, net);
    int same = 0;
    for (const http_tx *o = srv->held; o != NULL; o = o->hnext) {
        char other[FS_NET_KEY_MAX];
        fs_net_network_of(o->peer, other);
        if (strcmp(net, other) == 0 && ++same >= FS_HTTP_HOLD_PER_NET)
            return -1;
    }
    t->held = 1;
    t->hprev = NULL;
    t->hnext = srv->held;
    if (srv->held != NULL)
        srv->held->hprev = t;
    srv->held = t;
    srv->nheld++;
    lws_set_timer_usecs(t->wsi, (lws_usec_t)t->resp.hold_ms * 1000);
    return 0;
}

/* The answer in t->resp is complete: written when the connection is
 * writable, or first held (hold_ms). */
static void http_tx_ready(fs_net_server *srv, http_tx *t)
{
    if (t->resp.status == 0)
        t->resp.status = 500;
    if (t->resp.hold_ms > 0 && !t->held) {
        if (http_tx_hold(srv, t) == 0)
            return; /* LWS_CALLBACK_TIMER sends it */
        t->close_after = 1;
    }
    t->ready = 1;
    lws_callback_on_writable(t->wsi);
}

static void http_tx_free(http_tx *t)
{
    free(t->body);
    t->body = NULL;
    free(t->resp.body);
    t->resp.body = NULL;
}

static void http_respond(struct lws *wsi, http_tx *t)
{
    fs_net_server *srv = lws_context_user(lws_get_context(wsi));
    t->wsi = wsi;
    t->id = ++srv->http_ids;
    fs_http_request rq = {t->method,   t->path, t->query, t->cookie, t->body ? t->body : "",
                          t->body_len, t->peer, t->id, t->accept_language};
    memset(&t->resp, 0, sizeof t->resp);
    if (t->too_big) {
        t->resp.status = 413;
    } else if (srv->hooks.http != NULL) {
        srv->hooks.http(srv->hooks.ctx, &rq, &t->resp);
    } else {
        t->resp.status = 404;
    }
    if (t->resp.deferred) { /* fs_net_server_answer completes it */
        free(t->resp.body);
        memset(&t->resp, 0, sizeof t->resp);
        t->waiting = 1;
        t->dprev = NULL;
        t->dnext = srv->deferred;
        if (srv->deferred != NULL)
            srv->deferred->dprev = t;
        srv->deferred = t;
        return;
    }
    http_tx_ready(srv, t);
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
    const fs_net_server *srv = lws_context_user(lws_get_context(wsi));
    static const char hsts[] = "max-age=31536000";
    if (srv != NULL && srv->tls &&
        lws_add_http_header_by_name(wsi, (const uint8_t *)"strict-transport-security:",
                                    (const uint8_t *)hsts, (int)strlen(hsts), &p, end))
        return -1;
    if (r->retry_after[0] &&
        lws_add_http_header_by_name(wsi, (const uint8_t *)"retry-after:",
                                    (const uint8_t *)r->retry_after, (int)strlen(r->retry_after),
                                    &p, end))
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
    if (t->close_after) {
        /* closed once this callback returns (returning -1 here had
         * libwebsockets wait for the client to close first); the page is
         * small and already went out in one send */
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return 0;
    }
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int on_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    fs_net_server *srv = lws_context_user(lws_get_context(wsi));
    switch (reason) { /* the budget's, whatever the connection */
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        return user != NULL ? budget_accept(srv, user, (int)(intptr_t)in) : 0;
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        budget_bind(srv, wsi);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        budget_forget(srv, wsi);
        return 0;
    default:
        break;
    }
    http_tx *t = user;
    if (t == NULL) /* a callback about a connection that is not an HTTP transaction */
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        http_tx_unlink(srv, t); /* defensive: never waiting nor held here */
        http_tx_unhold(srv, t);
        http_tx_free(t);
        memset(t, 0, sizeof *t);
        int post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
        snprintf(t->method, sizeof t->method, "%s", post ? "POST" : "GET");
        snprintf(t->path, sizeof t->path, "%s", in ? (const char *)in : "/");
        if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COOKIE) < (int)sizeof t->cookie)
            (void)lws_hdr_copy(wsi, t->cookie, sizeof t->cookie, WSI_TOKEN_HTTP_COOKIE);
        if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_ACCEPT_LANGUAGE) <
            (int)sizeof t->accept_language) /* a longer one: as none (English) */
            (void)lws_hdr_copy(wsi, t->accept_language, sizeof t->accept_language,
                               WSI_TOKEN_HTTP_ACCEPT_LANGUAGE);
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
    case LWS_CALLBACK_TIMER: /* a held answer's time came */
        if (t->held) {
            http_tx_unhold(srv, t);
            t->ready = 1;
            lws_callback_on_writable(wsi);
        }
        return 0;
    case LWS_CALLBACK_CLOSED_HTTP:
        http_tx_unlink(srv, t);
        http_tx_unhold(srv, t);
        http_tx_free(t);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols protocols[] = {
    {"http", on_http, sizeof(http_tx), 0, 0, NULL, 0},
    {FS_WS_PROTOCOL, on_event, sizeof(conn), FS__WS_RX_BUFFER, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void run_job(fs_net_server *srv)
{
    pthread_mutex_lock(&srv->job_lock);
    int (*fn)(void *) = srv->job_fn;
    void *ctx = srv->job_ctx;
    srv->job_fn = NULL;
    pthread_mutex_unlock(&srv->job_lock);
    if (fn == NULL)
        return;
    int rc = fn(ctx);
    pthread_mutex_lock(&srv->job_lock);
    srv->job_rc = rc;
    srv->job_done = 1;
    pthread_cond_signal(&srv->job_done_cond);
    pthread_mutex_unlock(&srv->job_lock);
}

int fs_net_server_answer(fs_net_server *srv, uint64_t id, fs_http_response *resp)
{
    http_tx *t = srv->deferred;
    while (t != NULL && t->id != id)
        t = t->dnext;
    if (t == NULL) { /* the client went away */
        free(resp->body);
        memset(resp, 0, sizeof *resp);
        return FS_ENOTFOUND;
    }
    http_tx_unlink(srv, t);
    t->resp = *resp;
    memset(resp, 0, sizeof *resp);
    t->resp.deferred = 0;
    http_tx_ready(srv, t);
    return 0;
}

int fs_net_server_post(fs_net_server *srv, void (*fn)(void *ctx), void *ctx)
{
    post_job *j = malloc(sizeof *j);
    if (j == NULL)
        return FS_ENOMEM;
    j->next = NULL;
    j->fn = fn;
    j->ctx = ctx;
    pthread_mutex_lock(&srv->post_lock);
    if (srv->post_tail != NULL)
        srv->post_tail->next = j;
    else
        srv->post_head = j;
    srv->post_tail = j;
    pthread_mutex_unlock(&srv->post_lock);
    if (srv->ctx != NULL) /* NULL: drained by fs_net_server_stop */
        lws_cancel_service(srv->ctx); /* wakes the service loop (thread-safe) */
    return 0;
}

/* Runs the posted jobs, those posted meanwhile included. */
static void run_posts(fs_net_server *srv)
{
    for (;;) {
        pthread_mutex_lock(&srv->post_lock);
        post_job *j = srv->post_head;
        if (j != NULL) {
            srv->post_head = j->next;
            if (srv->post_head == NULL)
                srv->post_tail = NULL;
        }
        pthread_mutex_unlock(&srv->post_lock);
        if (j == NULL)
            return;
        j->fn(j->ctx);
        free(j);
    }
}

static void *serve(void *arg)
{
    fs_net_server *srv = arg;
    pthread_setname_np(pthread_self(), "fs-server"); /* top -H, perf --comm */
    while (!atomic_load(&srv->stopping)) {
        lws_service(srv->ctx, 0);
        if (srv->hooks.pass != NULL)
            srv->hooks.pass(srv->hooks.ctx);
        run_posts(srv);
        run_job(srv);
    }
    return NULL;
}

int fs_net_server_call(fs_net_server *srv, int (*fn)(void *ctx), void *ctx)
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

int fs_net_server_start(fs_net_server **out, const fs_net_server_hooks *hooks, const char *host,
                        int port)
{
    return fs_net_server_start_tls(out, hooks, host, port, NULL, NULL);
}

int fs_net_server_start_tls(fs_net_server **out, const fs_net_server_hooks *hooks,
                            const char *host, int port, const char *cert, const char *key)
{
    *out = NULL;
    if (hooks == NULL || hooks->opened == NULL || hooks->frame == NULL || hooks->closed == NULL ||
        port < 0 || port > 65535 || (cert == NULL) != (key == NULL))
        return FS_EINVAL;
    fs_net_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return FS_ENOMEM;
    srv->hooks = *hooks;
    atomic_init(&srv->stopping, 0);
    pthread_mutex_init(&srv->job_lock, NULL);
    pthread_cond_init(&srv->job_done_cond, NULL);
    pthread_mutex_init(&srv->post_lock, NULL);
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
    if (cert != NULL) { /* libwebsockets' own TLS, on OpenSSL: the same port speaks
                           only https:// and wss:// */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cert;
        info.ssl_private_key_filepath = key;
        srv->tls = 1;
        srv->cert = strdup(cert);
        srv->key = strdup(key);
        if (srv->cert == NULL || srv->key == NULL) {
            rc = FS_ENOMEM;
            goto fail;
        }
        rc = FS_EFORMAT; /* a vhost that does not start: the files did not load */
    }
    info.port = port;
    info.iface = host != NULL ? iface : NULL;
    info.protocols = protocols;
    info.user = srv;
    /* The budget below the descriptor limit as it is now (serve raised it
     * first): libwebsockets sizes its tables by it too. */
    struct rlimit rl;
    uint64_t fd_limit = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        fd_limit = rl.rlim_cur == RLIM_INFINITY ? FS__BUDGET_MAX_FDS : (uint64_t)rl.rlim_cur;
    fs__budget_limits lim;
    fs__budget_limits_for(fd_limit, &lim);
    srv->budget = fs__budget_new(
        (size_t)(fd_limit < FS__BUDGET_MAX_FDS ? fd_limit : FS__BUDGET_MAX_FDS), &lim);
    if (srv->budget == NULL) {
        rc = FS_ENOMEM;
        goto fail;
    }
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
    fs__budget_free(srv->budget);
    pthread_mutex_destroy(&srv->job_lock);
    pthread_cond_destroy(&srv->job_done_cond);
    pthread_mutex_destroy(&srv->post_lock);
    free(srv->cert);
    free(srv->key);
    free(srv);
    return rc;
}

/* What libwebsockets does with the pair (a chain file, a PEM key, the key
 * matching the certificate), in a context of its own: a pair that fails
 * here would leave the serving context half-loaded. */
static int tls_pair_loads(const char *cert, const char *key)
{
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    if (c == NULL)
        return FS_ENOMEM;
    int ok = SSL_CTX_use_certificate_chain_file(c, cert) == 1 &&
             SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) == 1 &&
             SSL_CTX_check_private_key(c) == 1;
    SSL_CTX_free(c); /* wipes the key it loaded */
    return ok ? 0 : FS_EFORMAT;
}

static int reload_job(void *ctx)
{
    fs_net_server *srv = ctx;
    return lws_tls_cert_updated(srv->ctx, srv->cert, srv->key, NULL, 0, NULL, 0) == 0 ? 0
                                                                                        : FS_EFORMAT;
}

int fs_net_server_reload_tls(fs_net_server *srv)
{
    if (srv == NULL || !srv->tls)
        return FS_EINVAL;
    int rc = tls_pair_loads(srv->cert, srv->key);
    if (rc != 0)
        return rc;
    return fs_net_server_call(srv, reload_job, srv);
}

int fs_net_server_port(const fs_net_server *srv)
{
    return srv->port;
}

void fs_net_server_budget(const fs_net_server *srv, fs_net_budget *out)
{
    fs__budget_limits lim;
    fs__budget_get_limits(srv->budget, &lim);
    out->total = lim.total;
    out->unauthenticated = lim.unauth;
    out->per_network = lim.per_net;
}

void fs_net_server_counts(const fs_net_server *srv, fs_net_conn_counts *out)
{
    fs__budget_counts c;
    fs__budget_counts_get(srv->budget, &c);
    out->open = c.total;
    out->unauthenticated = c.unauth;
    out->authenticated = c.authenticated;
    out->closed_oldest = c.evicted;
    out->refused = c.refused;
}

void fs_net_server_stop(fs_net_server *srv)
{
    if (srv == NULL)
        return;
    atomic_store(&srv->stopping, 1);
    lws_cancel_service(srv->ctx); /* wakes the service loop */
    pthread_join(srv->thread, NULL);
    /* The thread is gone: the context is ours. Destroying it closes the open
     * connections; their CLOSED callbacks hand the sessions back to the
     * caller's closed(), on this thread. */
    lws_context_destroy(srv->ctx);
    srv->ctx = NULL;
    /* Jobs posted too late run here: no transaction is left for their
     * answers, which are freed. */
    srv->deferred = NULL;
    srv->held = NULL;
    srv->nheld = 0;
    run_posts(srv);
    pthread_mutex_destroy(&srv->job_lock);
    pthread_cond_destroy(&srv->job_done_cond);
    pthread_mutex_destroy(&srv->post_lock);
    fs__budget_free(srv->budget); /* after the context: its closes forget */
    free(srv->cert);
    free(srv->key);
    free(srv);
}
