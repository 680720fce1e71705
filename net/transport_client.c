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
    struct lws_context *ctx;
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

static int client_established(client *c, struct lws *wsi)
{
    c->wsi = wsi;
    int rc = fs_sync_client_new(&c->session, c->r, c->server_pk, c->enroll, client_emit, c);
    if (rc == 0)
        rc = fs_sync_client_start(c->session); /* HELLO */
    if (rc != 0) {
        client_fail(c, rc, "cannot start the session: %s",
                    c->session != NULL ? fs_sync_client_errmsg(c->session) : fs_strerror(rc));
        return -1;
    }
    return 0;
}

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
    rc = fs_sync_client_receive(c->session, frame, len);
    if (rc != 0) {
        client_fail(c, rc, "%s", fs_sync_client_errmsg(c->session));
        return -1;
    }
    /* The server's WELCOME was the one handshake frame; batches follow. */
    c->rx.max_frame = fs_proto_default_limits.max_frame;
    if (fs_sync_client_in_sync(c->session)) {
        c->in_sync = 1;
        rc = fs_sync_client_close(c->session); /* BYE */
        if (rc != 0)
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

static int run_client(fs_replica *r, const uint8_t server_pk[FS_SIGN_PK_BYTES],
                      const fs_enroll_request *enroll, const char *host, int port, int timeout_ms,
                      char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (r == NULL || server_pk == NULL || host == NULL || port <= 0 || port > 65535 ||
        timeout_ms <= 0) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "invalid arguments");
        return FS_EINVAL;
    }
    client c;
    memset(&c, 0, sizeof c);
    c.r = r;
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
    lws_sul_schedule(ctx, 0, &c.deadline, on_deadline, (lws_usec_t)timeout_ms * LWS_US_PER_MS);

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
    }
    lws_sul_cancel(&c.deadline);
    lws_context_destroy(ctx); /* closes the connection if still open */

done:
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
    int rc = run_client(r, server_pk, NULL, host, port, timeout_ms, err, errlen);
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
    return run_client(r, server_pk, req, host, port, timeout_ms, err, errlen);
}
