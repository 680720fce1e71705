/*
 * The websocket client: one connection on the caller's thread with a
 * libwebsockets context of its own, serviced until the caller's callbacks
 * stop it, the connection ends, or the deadline passes. The callbacks only
 * move bytes and writability; the caller (client/link.c drives a sync
 * session) decides everything else.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync/channel.h" /* FS_HANDSHAKE_MAX_FRAME */
#include "fieldsync/error.h"
#include "fieldsync/msg.h" /* fs_reassembler */
#include "fieldsync/transport.h"
#include "ws_int.h"

struct fs_net_client {
    lws_sorted_usec_list_t deadline; /* fires once: the run ends */
    lws_sorted_usec_list_t tick;     /* every tick_ms: hooks->tick */
    struct lws_context *ctx;
    const fs_net_client_hooks *hooks;
    const char *host;
    int port;
    int tick_ms;
    int tick_due;
    struct lws *wsi;
    fs_reassembler rx;
    fs__ws_queue out;
    int closing; /* fs_net_client_close: close once out is written */
    int done;    /* stop servicing */
};

/* Reports a failure (one line, naming the server) and ends the run. */
__attribute__((format(printf, 3, 4))) static void client_fail(fs_net_client *nc, int code,
                                                              const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    nc->done = 1;
    nc->hooks->failed(nc, nc->hooks->ctx, code, msg);
}

int fs_net_client_send(void *ctx, const uint8_t *frame, size_t len)
{
    fs_net_client *nc = ctx;
    int rc = fs__ws_queue_push(&nc->out, frame, len);
    if (rc == 0 && nc->wsi != NULL)
        lws_callback_on_writable(nc->wsi);
    return rc;
}

void fs_net_client_set_max_frame(fs_net_client *nc, size_t max_frame)
{
    nc->rx.max_frame = max_frame;
}

static void on_deadline(lws_sorted_usec_list_t *sul)
{
    fs_net_client *nc = lws_container_of(sul, fs_net_client, deadline);
    nc->hooks->deadline(nc, nc->hooks->ctx);
    nc->done = 1;
    /* Timers run before lws_service() polls: wake that poll now. */
    lws_cancel_service(nc->ctx);
}

void fs_net_client_deadline(fs_net_client *nc, int ms)
{
    if (ms > 0)
        lws_sul_schedule(nc->ctx, 0, &nc->deadline, on_deadline, (lws_usec_t)ms * LWS_US_PER_MS);
    else
        lws_sul_cancel(&nc->deadline);
}

void fs_net_client_close(fs_net_client *nc)
{
    nc->closing = 1;
    if (nc->wsi != NULL)
        lws_callback_on_writable(nc->wsi);
}

void fs_net_client_stop(fs_net_client *nc)
{
    nc->done = 1;
}

static int client_receive(fs_net_client *nc, const uint8_t *p, size_t n, int is_final)
{
    if (nc->closing)
        return 0;
    const uint8_t *frame = NULL;
    size_t len = 0;
    int rc = fs_reassembler_add(&nc->rx, p, n, is_final, &frame, &len);
    if (rc < 0) {
        client_fail(nc, rc, "%s",
                    rc == FS_ETOOBIG ? "the server sent a frame over the size limit"
                                     : fs_strerror(rc));
        return -1;
    }
    if (rc == 0)
        return 0;
    return nc->hooks->frame(nc, nc->hooks->ctx, frame, len) != 0 ? -1 : 0;
}

static int client_writable(fs_net_client *nc)
{
    if (fs__ws_queue_write(&nc->out, nc->wsi) != 0) {
        if (!nc->closing)
            client_fail(nc, FS_EIO, "cannot write to the server at %s:%d", nc->host, nc->port);
        return -1;
    }
    if (!fs__ws_queue_empty(&nc->out)) {
        lws_callback_on_writable(nc->wsi);
        return 0;
    }
    if (nc->closing) {
        lws_close_reason(nc->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        return -1;
    }
    if (nc->hooks->written != NULL && nc->hooks->written(nc, nc->hooks->ctx) != 0)
        return -1;
    return 0;
}

static int on_event(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    (void)user;
    if (wsi == NULL)
        return 0;
    fs_net_client *nc = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        nc->wsi = NULL;
        client_fail(nc, FS_EIO, "cannot reach the server at %s:%d%s%s", nc->host, nc->port,
                    in != NULL ? ": " : "", in != NULL ? (const char *)in : "");
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        nc->wsi = wsi;
        return nc->hooks->established(nc, nc->hooks->ctx) != 0 ? -1 : 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return client_receive(nc, in, len,
                              lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0);
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return client_writable(nc);
    case LWS_CALLBACK_CLIENT_CLOSED:
        nc->wsi = NULL;
        if (!nc->closing)
            client_fail(nc, FS_EIO,
                        "the server at %s:%d closed the connection before the sync was done",
                        nc->host, nc->port);
        nc->done = 1;
        return 0;
    default:
        return 0;
    }
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
    fs_net_client *nc = lws_container_of(sul, fs_net_client, tick);
    nc->tick_due = 1;
    lws_cancel_service(nc->ctx);
}

static const struct lws_protocols protocols[] = {
    {FS_WS_PROTOCOL, on_event, 0, FS__WS_RX_BUFFER, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

void fs_net_client_run(const fs_net_client_hooks *hooks, const char *host, int port, int tls,
                       int deadline_ms, int tick_ms)
{
    fs_net_client nc;
    memset(&nc, 0, sizeof nc);
    nc.hooks = hooks;
    nc.host = host;
    nc.port = port;
    nc.tick_ms = tick_ms;
    fs_reassembler_init(&nc.rx, FS_HANDSHAKE_MAX_FRAME);
    fs__ws_quiet_logs();

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.user = &nc;
    if (tls) /* OpenSSL's default paths, which SSL_CERT_FILE can name */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    nc.ctx = lws_create_context(&info);
    if (nc.ctx == NULL) {
        client_fail(&nc, FS_ENOMEM, "cannot create the websocket context");
        goto done;
    }
    fs_net_client_deadline(&nc, deadline_ms);
    if (tick_ms > 0)
        lws_sul_schedule(nc.ctx, 0, &nc.tick, on_tick, (lws_usec_t)tick_ms * LWS_US_PER_MS);

    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = nc.ctx;
    ci.address = host;
    ci.port = port;
    ci.path = "/";
    ci.host = host;
    ci.origin = host;
    ci.protocol = FS_WS_PROTOCOL;
    ci.ssl_connection = tls ? LCCSCF_USE_SSL : 0; /* certificate and name checked */
    if (lws_client_connect_via_info(&ci) == NULL)
        client_fail(&nc, FS_EIO, "cannot reach the server at %s:%d", host, port);
    while (!nc.done) {
        if (lws_service(nc.ctx, 0) < 0) {
            client_fail(&nc, FS_EIO, "the connection to %s:%d failed", host, port);
            break;
        }
        if (nc.tick_due && !nc.done) {
            nc.tick_due = 0;
            lws_sul_schedule(nc.ctx, 0, &nc.tick, on_tick, (lws_usec_t)nc.tick_ms * LWS_US_PER_MS);
            nc.hooks->tick(&nc, nc.hooks->ctx);
        }
    }
    lws_sul_cancel(&nc.deadline);
    lws_sul_cancel(&nc.tick);
    lws_context_destroy(nc.ctx); /* closes the connection if still open */

done:
    fs_reassembler_free(&nc.rx);
    fs__ws_queue_clear(&nc.out);
}
