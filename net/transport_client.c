/*
 * The websocket client: one connection, one fs_sync_client session, on the
 * caller's thread with a libwebsockets context of its own, serviced until
 * the replica is in sync (then BYE), the session fails, the connection
 * drops, or the deadline passes. The callbacks only move bytes and
 * writability; the session decides everything else.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync/error.h"
#include "fieldsync/sync.h"
#include "fieldsync/transport.h"
#include "ws_int.h"

typedef struct client {
    lws_sorted_usec_list_t deadline; /* fires once: timed out */
    lws_sorted_usec_list_t tick;     /* live mode: look at the hooks again */
    struct lws_context *ctx;
    const fs_ws_live *live; /* NULL: sync once and say BYE */
    int timeout_ms;         /* the whole sync, or (live) each round */
    int attached;           /* live: a round holds the replica */
    int tick_due;
    uint64_t rounds;
    lws_usec_t last_round_end;
    lws_usec_t ready_at; /* live: when READY granted the lease, 0 before */
    fs_replica *r;
    const uint8_t *server_pk;
    const fs_enroll_request *enroll; /* NULL unless enrolling */
    const char *host;
    int port;
    struct lws *wsi;
    fs_sync_client *session;
    fs_reassembler rx;
    fs__ws_queue out;
    int in_sync; /* BYE queued: close once out is written */
    int done;    /* stop servicing */
    int rc;      /* the first error, or 0 */
    char errmsg[256];
} client;

__attribute__((format(printf, 3, 4))) static void client_fail(client *c, int code, const char *fmt,
                                                              ...)
{
    c->done = 1;
    if (c->rc != 0)
        return; /* keep the first error */
    c->rc = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
}

static int client_emit(void *ctx, const uint8_t *frame, size_t len)
{
    client *c = ctx;
    int rc = fs__ws_queue_push(&c->out, frame, len);
    if (rc == 0 && c->wsi != NULL)
        lws_callback_on_writable(c->wsi);
    return rc;
}

static void on_deadline(lws_sorted_usec_list_t *sul);

/* Live mode: takes the replica for a round of syncing. */
static int begin_round(client *c)
{
    fs_replica *r = NULL;
    int rc = c->live->open(c->live->ctx, &r);
    if (rc != 0)
        return rc;
    c->r = r;
    c->attached = 1;
    if (c->session != NULL)
        fs_sync_client_attach(c->session, r);
    lws_sul_schedule(c->ctx, 0, &c->deadline, on_deadline,
                     (lws_usec_t)c->timeout_ms * LWS_US_PER_MS);
    return 0;
}

/* Live mode: in sync; gives the replica back and waits, connected. */
static void end_round(client *c)
{
    lws_sul_cancel(&c->deadline);
    (void)fs_replica_mark_synced(c->r); /* for `status`; failing it is not a sync failure */
    fs_sync_client_attach(c->session, NULL);
    c->live->close(c->live->ctx, c->r, 0);
    c->r = NULL;
    c->attached = 0;
    c->rounds++;
    c->last_round_end = lws_now_usecs();
}

static int client_established(client *c, struct lws *wsi)
{
    c->wsi = wsi;
    if (c->live != NULL) {
        int orc = begin_round(c);
        if (orc != 0) {
            client_fail(c, orc, "cannot open the replica: %s", fs_strerror(orc));
            return -1;
        }
    }
    int rc = fs_sync_client_new(&c->session, c->r, c->server_pk, c->enroll, client_emit, c);
    if (rc == 0)
        fs_sync_client_hold_batches(c->session, 1);
    if (rc == 0)
        rc = fs_sync_client_start(c->session); /* HELLO */
    if (rc != 0) {
        client_fail(c, rc, "cannot start the session: %s",
                    c->session != NULL ? fs_sync_client_errmsg(c->session) : fs_strerror(rc));
        return -1;
    }
    return 0;
}

static int after_session_step(client *c);

static int client_receive(client *c, const uint8_t *p, size_t n, int is_final)
{
    if (c->in_sync || c->session == NULL)
        return 0;
    const uint8_t *frame = NULL;
    size_t len = 0;
    int rc = fs_reassembler_add(&c->rx, p, n, is_final, &frame, &len);
    if (rc < 0) {
        client_fail(c, rc, "%s",
                    rc == FS_ETOOBIG ? "the server sent a frame over the size limit"
                                     : fs_strerror(rc));
        return -1;
    }
    if (rc == 0)
        return 0;
    if (c->live != NULL && !c->attached) {
        /* A POKE (or anything) between rounds: the replica is needed. */
        rc = begin_round(c);
        if (rc != 0) {
            client_fail(c, rc, "cannot open the replica: %s", fs_strerror(rc));
            return -1;
        }
    }
    rc = fs_sync_client_receive(c->session, frame, len);
    if (rc != 0) {
        client_fail(c, rc, "%s", fs_sync_client_errmsg(c->session));
        return -1;
    }
    return after_session_step(c);
}

/* After the session handled a frame or applied a held batch. */
static int after_session_step(client *c)
{
    /* The server's WELCOME was the one handshake frame; batches follow. */
    c->rx.max_frame = fs_proto_default_limits.max_frame;
    if (c->ready_at == 0 && fs_sync_client_open(c->session))
        c->ready_at = lws_now_usecs();
    if (c->live != NULL && fs_sync_client_in_sync(c->session)) {
        end_round(c);
    } else if (fs_sync_client_in_sync(c->session)) {
        c->in_sync = 1;
        if (fs_sync_client_bye(c->session) != 0) /* BYE */
            return -1; /* in sync all the same; only the goodbye failed */
    }
    return 0;
}

static int client_writable(client *c)
{
    if (fs__ws_queue_write(&c->out, c->wsi) != 0) {
        if (!c->in_sync)
            client_fail(c, FS_EIO, "cannot write to the server at %s:%d", c->host, c->port);
        return -1;
    }
    if (!fs__ws_queue_empty(&c->out)) {
        lws_callback_on_writable(c->wsi);
        return 0;
    }
    if (!c->in_sync && c->session != NULL && (c->live == NULL || c->attached)) {
        /* Everything is written (the PULL for the next batch among it):
         * apply the batch the session held meanwhile. */
        int rc = fs_sync_client_continue(c->session);
        if (rc < 0) {
            client_fail(c, rc, "%s", fs_sync_client_errmsg(c->session));
            return -1;
        }
        if (rc > 0)
            return after_session_step(c);
    }
    if (c->in_sync) {
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        return -1;
    }
    return 0;
}

static int on_event(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    (void)user;
    if (wsi == NULL)
        return 0;
    client *c = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        c->wsi = NULL;
        client_fail(c, FS_EIO, "cannot reach the server at %s:%d%s%s", c->host, c->port,
                    in != NULL ? ": " : "", in != NULL ? (const char *)in : "");
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        return client_established(c, wsi);
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return client_receive(c, in, len,
                              lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0);
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return client_writable(c);
    case LWS_CALLBACK_CLIENT_CLOSED:
        c->wsi = NULL;
        if (!c->in_sync)
            client_fail(c, FS_EIO,
                        "the server at %s:%d closed the connection before the sync was done",
                        c->host, c->port);
        c->done = 1;
        return 0;
    default:
        return 0;
    }
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
    client *c = lws_container_of(sul, client, tick);
    c->tick_due = 1;
    lws_cancel_service(c->ctx);
}

/* Live mode, between rounds: asks the hooks whether to sync or stop, and
 * pulls on its own now and then so the server's idle timeout never
 * closes a quiet connection. */
static void live_tick(client *c)
{
    c->tick_due = 0;
    lws_sul_schedule(c->ctx, 0, &c->tick, on_tick, (lws_usec_t)FS_WS_LIVE_TICK_MS * LWS_US_PER_MS);
    if (c->session == NULL || c->attached || c->in_sync || c->wsi == NULL ||
        !fs_sync_client_open(c->session))
        return;
    int want = c->live->want_sync(c->live->ctx);
    /* The lease is renewed at the handshake: with half of it gone, end the
     * connection so the caller connects (and handshakes) again. */
    uint64_t lease_ms = fs_sync_client_lease_ms(c->session);
    if (lease_ms > 0 && (uint64_t)(lws_now_usecs() - c->ready_at) / 1000u >= lease_ms / 2)
        want = -1;
    if (want < 0) { /* stop: BYE, then close once it is written */
        c->in_sync = 1;
        if (fs_sync_client_bye(c->session) != 0)
            c->done = 1;
        return;
    }
    if (want == 0 &&
        lws_now_usecs() - c->last_round_end < (lws_usec_t)FS_WS_LIVE_KEEPALIVE_MS * LWS_US_PER_MS)
        return;
    int rc = begin_round(c);
    if (rc == FS_EBUSY || rc == FS_ESTATE)
        return; /* a command is writing, or the key is locked: next tick */
    if (rc != 0) {
        client_fail(c, rc, "cannot open the replica: %s", fs_strerror(rc));
        return;
    }
    rc = fs_sync_client_kick(c->session);
    if (rc != 0)
        client_fail(c, rc, "%s", fs_sync_client_errmsg(c->session));
}

static void on_deadline(lws_sorted_usec_list_t *sul)
{
    client *c = lws_container_of(sul, client, deadline);
    if (!c->in_sync)
        client_fail(c, FS_EIO, "no sync with the server at %s:%d within the time allowed", c->host,
                    c->port);
    c->done = 1;
    /* Timers run before lws_service() polls: wake that poll now. */
    lws_cancel_service(c->ctx);
}

static const struct lws_protocols protocols[] = {
    {FS_WS_PROTOCOL, on_event, 0, FS__WS_RX_BUFFER, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static int run_client(fs_replica *r, const fs_ws_live *live,
                      const uint8_t server_pk[FS_SIGN_PK_BYTES], const fs_enroll_request *enroll,
                      const char *host, int port, int timeout_ms, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if ((r == NULL) == (live == NULL) || server_pk == NULL || host == NULL || port <= 0 ||
        port > 65535 || timeout_ms <= 0) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "invalid arguments");
        return FS_EINVAL;
    }
    client c;
    memset(&c, 0, sizeof c);
    c.r = r;
    c.live = live;
    c.timeout_ms = timeout_ms;
    c.server_pk = server_pk;
    c.enroll = enroll;
    c.host = host;
    c.port = port;
    fs_reassembler_init(&c.rx, FS_HANDSHAKE_MAX_FRAME);
    fs__ws_quiet_logs();

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.user = &c;
    struct lws_context *ctx = lws_create_context(&info);
    if (ctx == NULL) {
        client_fail(&c, FS_ENOMEM, "cannot create the websocket context");
        goto done;
    }
    c.ctx = ctx;
    /* Live: the first round's deadline starts with it; until then, this. */
    lws_sul_schedule(ctx, 0, &c.deadline, on_deadline, (lws_usec_t)timeout_ms * LWS_US_PER_MS);
    if (live != NULL)
        lws_sul_schedule(ctx, 0, &c.tick, on_tick, (lws_usec_t)FS_WS_LIVE_TICK_MS * LWS_US_PER_MS);

    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = ctx;
    ci.address = host;
    ci.port = port;
    ci.path = "/";
    ci.host = host;
    ci.origin = host;
    ci.protocol = FS_WS_PROTOCOL;
    if (lws_client_connect_via_info(&ci) == NULL)
        client_fail(&c, FS_EIO, "cannot reach the server at %s:%d", host, port);
    while (!c.done) {
        if (lws_service(ctx, 0) < 0) {
            client_fail(&c, FS_EIO, "the connection to %s:%d failed", host, port);
            break;
        }
        if (c.tick_due && !c.done)
            live_tick(&c);
    }
    lws_sul_cancel(&c.deadline);
    lws_sul_cancel(&c.tick);
    lws_context_destroy(ctx); /* closes the connection if still open */

done:
    if (live != NULL && c.attached)
        live->close(live->ctx, c.r, c.rc);
    fs_sync_client_free(c.session);
    fs_reassembler_free(&c.rx);
    fs__ws_queue_clear(&c.out);
    if (c.rc != 0 && err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", c.errmsg);
    return c.rc;
}

int fs_ws_sync(fs_replica *r, const uint8_t server_pk[FS_SIGN_PK_BYTES], const char *host, int port,
               int timeout_ms, char *err, size_t errlen)
{
    int rc = run_client(r, NULL, server_pk, NULL, host, port, timeout_ms, err, errlen);
    if (rc == 0)
        (void)fs_replica_mark_synced(r); /* for `status`; failing it is not a sync failure */
    return rc;
}

int fs_ws_enroll(fs_replica *r, const uint8_t server_pk[FS_SIGN_PK_BYTES],
                 const fs_enroll_request *req, const char *host, int port, int timeout_ms,
                 char *err, size_t errlen)
{
    if (req == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "invalid arguments");
        return FS_EINVAL;
    }
    return run_client(r, NULL, server_pk, req, host, port, timeout_ms, err, errlen);
}

int fs_ws_live_run(const fs_ws_live *live, const uint8_t server_pk[FS_SIGN_PK_BYTES],
                   const char *host, int port, int round_timeout_ms, char *err, size_t errlen)
{
    if (live == NULL || live->open == NULL || live->close == NULL || live->want_sync == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "invalid arguments");
        return FS_EINVAL;
    }
    return run_client(NULL, live, server_pk, NULL, host, port, round_timeout_ms, err, errlen);
}
