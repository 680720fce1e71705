/*
 * The websocket transport: carries frames over libwebsockets, websocket
 * subprotocol "fieldsync.v1", one binary websocket message per frame. (Not
 * "fieldsync/1": RFC 6455 subprotocol names are HTTP tokens, which cannot
 * hold a '/', and libwebsockets refuses the upgrade. The protocol version
 * itself is negotiated inside the channel's handshake.)
 *
 * The transport knows nothing of the protocol, the sessions or the store:
 * it moves bytes and reports events through callbacks. A received message
 * (its fragments joined by an fs_reassembler) is handed to the caller's
 * frame callback; what the caller sends is queued and written one frame per
 * writable callback. The sync sessions are driven by the callers: the
 * server's hub (server/hub.h) and the client's link (client/link.h).
 *
 * SERVER: one thread of its own with one lws context; per connection, an
 * object of the caller's (its "session"). Every callback runs on that
 * thread, and so do the jobs of fs_net_server_call: what the callbacks
 * touch (the store) is touched by that thread only while the server runs.
 *
 * CLIENT: one connection on the calling thread, serviced until the caller's
 * callbacks stop it, the connection ends, or a deadline passes.
 *
 * Frames are reassembled up to FS_HANDSHAKE_MAX_FRAME (fieldsync/channel.h)
 * until the peer is authenticated (so an unauthenticated peer cannot make
 * the transport buffer megabytes), then up to
 * fs_proto_default_limits.max_frame; a bigger frame ends the connection.
 * libwebsockets logs errors only, and nothing here logs message contents.
 */
#ifndef FIELDSYNC_TRANSPORT_H
#define FIELDSYNC_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#define FS_WS_PROTOCOL "fieldsync.v1" /* the websocket subprotocol */

/* ---- plain HTTP on the server's port (the managers' dashboard) ---- */

/* The transport collects a request (method, path, query, cookies, a form
 * body of at most FS_HTTP_MAX_BODY bytes; more is answered 413) and hands it
 * to the http callback on the server's thread, which fills the response.
 * Every response carries a strict Content-Security-Policy and no-store
 * caching. Without an http callback, every HTTP request is 404. */
#define FS_HTTP_MAX_BODY (16 * 1024)
typedef struct fs_http_request {
    const char *method; /* "GET", "POST" */
    const char *path;   /* "/team" */
    const char *query;  /* "week=2023-W41&x=y" (decoded by lws), "" if none */
    const char *cookie; /* the Cookie header, "" if none */
    const char *body;   /* POST body (application/x-www-form-urlencoded), NUL-terminated */
    size_t body_len;
    const char *peer; /* the client's address */
    uint64_t id;      /* the transaction, for a deferred answer (fs_net_server_answer) */
    const char *accept_language; /* the Accept-Language header, "" (or NULL) if none */
} fs_http_request;
typedef struct fs_http_response {
    int status;               /* 0 is answered 500 */
    const char *content_type; /* static */
    char *body;               /* malloc'd, freed by the transport */
    size_t body_len;
    char location[256];      /* a redirect's target, "" if none */
    char set_cookie[2][256]; /* Set-Cookie values, "" if none */
    char retry_after[16];    /* a 429's or 503's Retry-After (seconds), "" if none */
    /* Set by the handler: nothing is answered now; the answer comes later
     * through fs_net_server_answer(rq->id), and the service thread goes on
     * meanwhile (issue 20.1: a login's Argon2 check runs on a worker). */
    int deferred;
    /* Set by the handler for a refusal that costs the server nothing to
     * delay (a limited or busy login, issue 20.1): the answer is held this
     * many milliseconds, its connection idle, before it is sent (a tarpit:
     * a flooding client's rate is bounded by the hold, not by the server's
     * speed). At most FS_HTTP_HOLD_MAX answers are held at once, at most
     * FS_HTTP_HOLD_PER_NET from one network (fs_net_network_of); beyond
     * either, the answer is sent at once and its connection closed. */
    int hold_ms;
} fs_http_response;
#define FS_HTTP_HOLD_MAX     256
#define FS_HTTP_HOLD_PER_NET 4

/* The network a peer address belongs to, as a key: "a.b.c.0/24" for IPv4
 * (also IPv4-mapped IPv6), the first 64 bits and "/64" for IPv6, the text
 * itself (cut) for anything else: what one office or one attacker holds,
 * for the limits and the audit (issue 20). */
#define FS_NET_KEY_MAX 64
void fs_net_network_of(const char *peer, char key[FS_NET_KEY_MAX]);

/* ---- server ---- */

typedef struct fs_net_server fs_net_server;
typedef struct fs_net_conn fs_net_conn; /* one websocket connection */

/* What the server reports. Every callback runs on the server's thread;
 * session is what opened() returned for the connection. */
typedef struct fs_net_server_hooks {
    /* A websocket connection opened: *session receives the caller's object
     * for it, which sends with fs_net_conn_send(conn, ...). 0, or an error
     * code: the connection is dropped and closed() is not called. */
    int (*opened)(void *ctx, fs_net_conn *conn, void **session);
    /* A whole frame arrived. 0 to go on; non-zero ends the session: what
     * it queued is written, then the connection closes, and what arrives
     * meanwhile is ignored. */
    int (*frame)(void *ctx, void *session, const uint8_t *frame, size_t len);
    /* 1 when the connection's peer is authenticated: from then on frames
     * up to fs_proto_default_limits.max_frame are taken (before, up to
     * FS_HANDSHAKE_MAX_FRAME), and the idle timeout replaces the handshake
     * timeout. An unauthenticated peer's oversized frame drops the
     * connection at once. */
    int (*authenticated)(void *ctx, void *session);
    /* An authenticated peer sent a frame over max_frame: the caller may
     * queue a last frame telling it why; the connection closes once that
     * is written. */
    void (*oversize)(void *ctx, void *session, size_t max_frame);
    /* The connection is gone (also when the server stops): the session is
     * the caller's to free; conn is no longer valid. */
    void (*closed)(void *ctx, void *session);
    /* A plain HTTP request; NULL: 404. */
    void (*http)(void *ctx, const fs_http_request *rq, fs_http_response *out);
    /* After each round of the service loop (the frames and requests that
     * were ready, handled), before posted jobs and admin calls run; NULL:
     * nothing. The hub commits its group of writes here (group commit). */
    void (*pass)(void *ctx);
    void *ctx;
} fs_net_server_hooks;

/* Starts serving on host:port (port 0: a free port, see
 * fs_net_server_port) in a thread of its own. host is an address (an IPv4
 * literal is bound exactly, as "::ffff:a.b.c.d"), NULL for every
 * interface. *hooks is copied; hooks->ctx must outlive the server.
 * Errors: FS_EINVAL (bad arguments), FS_EIO (cannot listen, or cannot
 * start the thread), FS_ENOMEM. *out is NULL on failure. */
int fs_net_server_start(fs_net_server **out, const fs_net_server_hooks *hooks, const char *host,
                        int port);
/* As fs_net_server_start, serving https:// and wss:// only, with the PEM
 * certificate (chain) in cert and its private key in key, by libwebsockets'
 * own TLS (OpenSSL); every HTTP answer carries Strict-Transport-Security.
 * FS_EFORMAT when the files cannot be loaded. */
int fs_net_server_start_tls(fs_net_server **out, const fs_net_server_hooks *hooks,
                            const char *host, int port, const char *cert, const char *key);
/* Loads the certificate and key again from the paths given to
 * fs_net_server_start_tls (renewed in place): checked first in a TLS
 * context of their own, then given to the serving one on its thread. New
 * connections get the new pair; open ones keep theirs. 0, FS_EINVAL (not a
 * TLS server), FS_EFORMAT (the files do not load, or do not belong
 * together: the old pair stays) or FS_ENOMEM. Not from the server's
 * thread. */
int fs_net_server_reload_tls(fs_net_server *srv);
/* The port the server listens on. */
int fs_net_server_port(const fs_net_server *srv);

/* The connection budget (issue 20.2), set at start from the descriptor
 * limit (RLIMIT_NOFILE) less a reserve for the store and the control
 * socket: at most `total` connections; at most `unauthenticated` of them
 * not yet authenticated devices (HTTP requests, handshakes, silent
 * sockets), and `per_network` of those from one IPv4 /24 or IPv6 /64. A
 * new connection beyond a cap closes the oldest unauthenticated one (of its
 * network, else of all) first; one beyond `total` is refused. */
typedef struct fs_net_budget {
    size_t total, unauthenticated, per_network;
} fs_net_budget;
void fs_net_server_budget(const fs_net_server *srv, fs_net_budget *out);
/* The connections the budget counts now, and what it did since the start.
 * On the server's thread only (a hook or a fs_net_server_call job). */
typedef struct fs_net_conn_counts {
    size_t open, unauthenticated, authenticated;
    uint64_t closed_oldest, refused;
} fs_net_conn_counts;
void fs_net_server_counts(const fs_net_server *srv, fs_net_conn_counts *out);
/* Queues one frame for conn, written when the socket is writable. Its
 * signature is a session's emit function (fieldsync/sync.h), with conn as
 * its context. 0, FS_ENOMEM or FS_ETOOBIG. Server thread only. */
int fs_net_conn_send(void *conn, const uint8_t *frame, size_t len);
/* The network (fs_net_network_of) of conn's peer. Server thread only. */
void fs_net_conn_network(fs_net_conn *conn, char key[FS_NET_KEY_MAX]);
/* Ends conn: what is queued is written, then it closes; what arrives
 * meanwhile is ignored. Server thread only. */
void fs_net_conn_close(fs_net_conn *conn);
/* Calls fn(ctx, session) for every connection whose session goes on (not
 * ended by frame(), oversize or fs_net_conn_close), newest first. fn may
 * send to or close the connection it is given, nothing else. Server
 * thread only. */
void fs_net_server_each(fs_net_server *srv, void (*fn)(void *ctx, void *session), void *ctx);
/* Runs fn(ctx) on the server's thread between two events and returns its
 * result: the way to use what the callbacks use while the server runs.
 * Must not be called from the server's thread, nor after
 * fs_net_server_stop. FS_EINVAL when srv or fn is NULL. */
int fs_net_server_call(fs_net_server *srv, int (*fn)(void *ctx), void *ctx);
/* Answers the deferred HTTP transaction id (fs_http_response.deferred)
 * with *resp, whose body the transport takes (resp is zeroed). When the
 * client has gone meanwhile, the body is freed and FS_ENOTFOUND returned.
 * Server thread only. */
int fs_net_server_answer(fs_net_server *srv, uint64_t id, fs_http_response *resp);
/* Queues fn(ctx) to run on the server's thread soon, between two events,
 * and returns at once: from any thread (a worker handing back its result).
 * Jobs run in the order they were posted. Those still queued when the
 * server stops run on the stopping thread after the connections are closed
 * (so fn frees what ctx holds whatever happens). 0 or FS_ENOMEM. */
int fs_net_server_post(fs_net_server *srv, void (*fn)(void *ctx), void *ctx);
/* Stops serving, joins the thread, then closes the open connections (their
 * closed() runs on the caller's thread) and frees everything. Accepts
 * NULL. */
void fs_net_server_stop(fs_net_server *srv);

/* ---- client ---- */

typedef struct fs_net_client fs_net_client;

/* What the client reports, on the thread of fs_net_client_run; nc is the
 * client, for the calls below. A callback returning non-zero drops the
 * connection (the run ends once it is closed). */
typedef struct fs_net_client_hooks {
    /* The websocket is open. */
    int (*established)(fs_net_client *nc, void *ctx);
    /* A whole frame arrived (not once fs_net_client_close was called). */
    int (*frame)(fs_net_client *nc, void *ctx, const uint8_t *frame, size_t len);
    /* Every queued frame is written (not once fs_net_client_close was
     * called). May be NULL. */
    int (*written)(fs_net_client *nc, void *ctx);
    /* Every tick_ms of fs_net_client_run. May be NULL when tick_ms is 0. */
    void (*tick)(fs_net_client *nc, void *ctx);
    /* The deadline passed; the run ends after this returns. */
    void (*deadline)(fs_net_client *nc, void *ctx);
    /* The connection failed: it could not be made, a write failed, the
     * server closed it or sent a frame over the limit (none of these once
     * fs_net_client_close was called), or servicing it failed. code is a
     * fieldsync error code (FS_EIO, FS_ETOOBIG, FS_ENOMEM), msg one line
     * naming the server. The run ends after this returns. */
    void (*failed)(fs_net_client *nc, void *ctx, int code, const char *msg);
    void *ctx;
} fs_net_client_hooks;

/* Connects to ws://host:port/ (wss:// when tls, the server's certificate
 * checked against the system's CAs or SSL_CERT_FILE's, and its name against
 * host) and services the connection until a callback
 * or fs_net_client_stop ends the run, the connection ends, or deadline_ms
 * passes (see fs_net_client_deadline); calls hooks->tick every tick_ms
 * when tick_ms > 0. Failures are reported through hooks->failed only. */
void fs_net_client_run(const fs_net_client_hooks *hooks, const char *host, int port, int tls,
                       int deadline_ms, int tick_ms);
/* Queues one frame, written when the socket is writable. Its signature is
 * a session's emit function, with nc as its context. 0, FS_ENOMEM or
 * FS_ETOOBIG. */
int fs_net_client_send(void *nc, const uint8_t *frame, size_t len);
/* The largest frame taken from now on (FS_HANDSHAKE_MAX_FRAME at first). */
void fs_net_client_set_max_frame(fs_net_client *nc, size_t max_frame);
/* The run ends ms from now (unless this is called again); 0 cancels. */
void fs_net_client_deadline(fs_net_client *nc, int ms);
/* Writes what is queued, then closes the connection normally; received
 * frames are ignored from now on, and a failure is no longer reported. */
void fs_net_client_close(fs_net_client *nc);
/* Ends the run now (the connection is dropped). */
void fs_net_client_stop(fs_net_client *nc);

#endif
