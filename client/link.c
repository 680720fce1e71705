/*
 * The link: one fs_sync_client session over one transport connection
 * (fs_net_client_run), until the replica is in sync (then BYE), the session
 * fails, the connection drops, or the deadline passes. The transport reports
 * established / frame / written / tick / deadline / failed; the link feeds
 * the session and decides when the connection is done.
 *
 * Pipelining: the session holds a pulled batch (fs_sync_client_hold_batches)
 * until the transport has written everything queued, the PULL for the next
 * batch among it ("written"), so the server prepares the next batch while
 * this one is applied.
 *
 * Live mode (a daemon): the replica is attached only during a round; a
 * frame between rounds (a POKE) or a want_sync of 1 at a tick begins one,
 * each round has its own deadline, and the connection ends with BYE when
 * want_sync says so or half of the lease has passed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "fieldsync/clock.h"
#include "fieldsync/error.h"
#include "fieldsync/sync.h"
#include "fieldsync/transport.h"
#include "link.h"

typedef struct sync_link {
    fs_net_client *nc;      /* the connection, once the transport reported on it */
    const fs_ws_live *live; /* NULL: sync once and say BYE */
    int timeout_ms;         /* the whole sync, or (live) each round */
    int answer_ms;          /* > 0: the server must answer (a first frame) within it */
    int answered;           /* a first frame arrived */
    int attached;           /* live: a round holds the replica */
    uint64_t rounds;
    uint64_t last_round_end; /* fs_clock_mono_us */
    uint64_t ready_at;       /* live: when READY granted the lease, 0 before */
    fs_replica *r;
    const uint8_t *server_pk;
    const fs_enroll_request *enroll; /* NULL unless enrolling */
    const char *host;
    int port;
    fs_sync_client *session;
    int in_sync; /* BYE queued: the connection closes once it is written */
    int rc;      /* the first error, or 0 */
    char errmsg[256];
} sync_link;

/* Ends the run; keeps the first error. */
__attribute__((format(printf, 3, 4))) static void link_fail(sync_link *l, int code, const char *fmt,
                                                            ...)
{
    if (l->nc != NULL)
        fs_net_client_stop(l->nc);
    if (l->rc != 0)
        return; /* keep the first error */
    l->rc = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->errmsg, sizeof l->errmsg, fmt, ap);
    va_end(ap);
}

/* Every hook starts here: the link, knowing its connection. */
static sync_link *link_of(fs_net_client *nc, void *ctx)
{
    sync_link *l = ctx;
    l->nc = nc;
    return l;
}

/* Live mode: takes the replica for a round of syncing. */
static int begin_round(sync_link *l)
{
    fs_replica *r = NULL;
    int rc = l->live->open(l->live->ctx, &r);
    if (rc != 0)
        return rc;
    l->r = r;
    l->attached = 1;
    if (l->session != NULL)
        fs_sync_client_attach(l->session, r);
    /* the first round of a connection: the answer's bound while it lasts */
    fs_net_client_deadline(l->nc, l->answered || l->answer_ms <= 0 ? l->timeout_ms : l->answer_ms);
    return 0;
}

/* Live mode: in sync; gives the replica back and waits, connected. */
static void end_round(sync_link *l)
{
    fs_net_client_deadline(l->nc, 0);
    (void)fs_replica_mark_synced(l->r); /* for `status`; failing it is not a sync failure */
    fs_sync_client_attach(l->session, NULL);
    l->live->close(l->live->ctx, l->r, 0);
    l->r = NULL;
    l->attached = 0;
    l->rounds++;
    l->last_round_end = fs_clock_mono_us();
}

/* In sync, or told to stop: BYE, and the connection closes once it is
 * written. -1 when even the goodbye could not be queued. */
static int say_bye(sync_link *l)
{
    l->in_sync = 1;
    fs_net_client_close(l->nc);
    return fs_sync_client_bye(l->session) != 0 ? -1 : 0;
}

static int on_established(fs_net_client *nc, void *ctx)
{
    sync_link *l = link_of(nc, ctx);
    if (l->live != NULL) {
        int orc = begin_round(l);
        if (orc != 0) {
            link_fail(l, orc, "cannot open the replica: %s", fs_strerror(orc));
            return -1;
        }
    }
    int rc = fs_sync_client_new(&l->session, l->r, l->server_pk, l->enroll, fs_net_client_send, nc);
    if (rc == 0)
        fs_sync_client_hold_batches(l->session, 1);
    if (rc == 0)
        rc = fs_sync_client_start(l->session); /* HELLO */
    if (rc != 0) {
        link_fail(l, rc, "cannot start the session: %s",
                  l->session != NULL ? fs_sync_client_errmsg(l->session) : fs_strerror(rc));
        return -1;
    }
    return 0;
}

/* After the session handled a frame or applied a held batch. */
static int after_session_step(sync_link *l)
{
    /* The server's WELCOME was the one handshake frame; batches follow. */
    fs_net_client_set_max_frame(l->nc, fs_proto_default_limits.max_frame);
    if (l->ready_at == 0 && fs_sync_client_open(l->session))
        l->ready_at = fs_clock_mono_us();
    if (l->live != NULL && fs_sync_client_in_sync(l->session))
        end_round(l);
    else if (fs_sync_client_in_sync(l->session))
        return say_bye(l); /* in sync all the same if only the goodbye failed */
    return 0;
}

static int on_frame(fs_net_client *nc, void *ctx, const uint8_t *frame, size_t len)
{
    sync_link *l = link_of(nc, ctx);
    if (l->in_sync || l->session == NULL)
        return 0;
    if (!l->answered) {
        /* The server answered: the run's (or the round's) own time from now. */
        l->answered = 1;
        if (l->answer_ms > 0)
            fs_net_client_deadline(nc, l->timeout_ms);
    }
    int rc;
    if (l->live != NULL && !l->attached) {
        /* A POKE (or anything) between rounds: the replica is needed. */
        rc = begin_round(l);
        if (rc != 0) {
            link_fail(l, rc, "cannot open the replica: %s", fs_strerror(rc));
            return -1;
        }
    }
    rc = fs_sync_client_receive(l->session, frame, len);
    if (rc != 0) {
        link_fail(l, rc, "%s", fs_sync_client_errmsg(l->session));
        return -1;
    }
    return after_session_step(l);
}

static int on_written(fs_net_client *nc, void *ctx)
{
    sync_link *l = link_of(nc, ctx);
    if (l->in_sync || l->session == NULL || (l->live != NULL && !l->attached))
        return 0;
    /* Everything is written (the PULL for the next batch among it): apply
     * the batch the session held meanwhile. */
    int rc = fs_sync_client_continue(l->session);
    if (rc < 0) {
        link_fail(l, rc, "%s", fs_sync_client_errmsg(l->session));
        return -1;
    }
    return rc > 0 ? after_session_step(l) : 0;
}

/* Live mode, between rounds: asks the hooks whether to sync or stop, and
 * pulls on its own now and then so the server's idle timeout never closes
 * a quiet connection. */
static void on_tick(fs_net_client *nc, void *ctx)
{
    sync_link *l = link_of(nc, ctx);
    if (l->session == NULL || l->attached || l->in_sync || !fs_sync_client_open(l->session))
        return;
    int want = l->live->want_sync(l->live->ctx);
    /* The lease is renewed at the handshake: with half of it gone, end the
     * connection so the caller connects (and handshakes) again. */
    uint64_t lease_ms = fs_sync_client_lease_ms(l->session);
    if (lease_ms > 0 && (fs_clock_mono_us() - l->ready_at) / 1000u >= lease_ms / 2)
        want = -1;
    if (want < 0) { /* stop: BYE, then close once it is written */
        if (say_bye(l) != 0)
            fs_net_client_stop(nc);
        return;
    }
    if (want == 0 &&
        fs_clock_mono_us() - l->last_round_end < (uint64_t)FS_WS_LIVE_KEEPALIVE_MS * 1000u)
        return;
    int rc = begin_round(l);
    if (rc == FS_EBUSY || rc == FS_ESTATE)
        return; /* a command is writing, or the key is locked: next tick */
    if (rc != 0) {
        link_fail(l, rc, "cannot open the replica: %s", fs_strerror(rc));
        return;
    }
    rc = fs_sync_client_kick(l->session);
    if (rc != 0)
        link_fail(l, rc, "%s", fs_sync_client_errmsg(l->session));
}

static void on_deadline(fs_net_client *nc, void *ctx)
{
    sync_link *l = link_of(nc, ctx);
    if (!l->in_sync && !l->answered && l->answer_ms > 0)
        link_fail(l, FS_EIO, "the server at %s:%d did not answer within %d s", l->host, l->port,
                  l->answer_ms / 1000);
    else if (!l->in_sync)
        link_fail(l, FS_EIO, "no sync with the server at %s:%d within the time allowed", l->host,
                  l->port);
}

static void on_failed(fs_net_client *nc, void *ctx, int code, const char *msg)
{
    link_fail(link_of(nc, ctx), code, "%s", msg);
}

static int run_link(fs_replica *r, const fs_ws_live *live,
                    const uint8_t server_pk[FS_SIGN_PK_BYTES], const fs_enroll_request *enroll,
                    const char *host, int port, int tls, int timeout_ms, int answer_ms,
                    fs_sync_att_stats *att, char *err, size_t errlen)
{
    if (att != NULL)
        memset(att, 0, sizeof *att);
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if ((r == NULL) == (live == NULL) || server_pk == NULL || host == NULL || port <= 0 ||
        port > 65535 || timeout_ms <= 0 || answer_ms < 0) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "invalid arguments");
        return FS_EINVAL;
    }
    sync_link l;
    memset(&l, 0, sizeof l);
    l.r = r;
    l.live = live;
    l.timeout_ms = timeout_ms;
    l.answer_ms = answer_ms;
    l.server_pk = server_pk;
    l.enroll = enroll;
    l.host = host;
    l.port = port;
    const fs_net_client_hooks hooks = {
        .established = on_established,
        .frame = on_frame,
        .written = on_written,
        .tick = on_tick,
        .deadline = on_deadline,
        .failed = on_failed,
        .ctx = &l,
    };
    /* Live: the first round's deadline starts with it; until then, this. */
    int first_ms = answer_ms > 0 && answer_ms < timeout_ms ? answer_ms : timeout_ms;
    fs_net_client_run(&hooks, host, port, tls, first_ms, live != NULL ? FS_WS_LIVE_TICK_MS : 0);
    if (live != NULL && l.attached)
        live->close(live->ctx, l.r, l.rc);
    if (att != NULL && l.session != NULL)
        fs_sync_client_att_stats(l.session, att);
    fs_sync_client_free(l.session);
    if (l.rc != 0 && err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", l.errmsg);
    return l.rc;
}

int fs_ws_sync(fs_replica *r, const uint8_t server_pk[FS_SIGN_PK_BYTES], const char *host, int port,
               int tls, int timeout_ms, char *err, size_t errlen)
{
    return fs_ws_sync_att(r, server_pk, host, port, tls, timeout_ms, 0, NULL, err, errlen);
}

int fs_ws_sync_att(fs_replica *r, const uint8_t server_pk[FS_SIGN_PK_BYTES], const char *host,
                   int port, int tls, int timeout_ms, int answer_ms, fs_sync_att_stats *att,
                   char *err, size_t errlen)
{
    int rc = run_link(r, NULL, server_pk, NULL, host, port, tls, timeout_ms, answer_ms, att, err,
                      errlen);
    if (rc == 0)
        (void)fs_replica_mark_synced(r); /* for `status`; failing it is not a sync failure */
    return rc;
}

int fs_ws_enroll(fs_replica *r, const uint8_t server_pk[FS_SIGN_PK_BYTES],
                 const fs_enroll_request *req, const char *host, int port, int tls, int timeout_ms,
                 int answer_ms, char *err, size_t errlen)
{
    if (req == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "invalid arguments");
        return FS_EINVAL;
    }
    return run_link(r, NULL, server_pk, req, host, port, tls, timeout_ms, answer_ms, NULL, err,
                    errlen);
}

/* ---- the team's passphrase rule before enrolling (POLICY_ASK) ---- */

typedef struct policy_link {
    fs_channel *ch;
    const char *host;
    int port;
    int done; /* POLICY arrived */
    int rc;
    fs_ws_policy *out;
    char errmsg[256];
} policy_link;

__attribute__((format(printf, 4, 5))) static void policy_fail(policy_link *p, fs_net_client *nc,
                                                              int code, const char *fmt, ...)
{
    fs_net_client_stop(nc);
    if (p->rc != 0 || p->done)
        return;
    p->rc = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->errmsg, sizeof p->errmsg, fmt, ap);
    va_end(ap);
}

static int policy_established(fs_net_client *nc, void *ctx)
{
    policy_link *p = ctx;
    fs_buf out;
    fs_buf_init(&out);
    int rc = fs_channel_start(p->ch, &out); /* HELLO */
    if (rc == 0)
        rc = fs_net_client_send(nc, out.data, out.len);
    fs_buf_free(&out);
    if (rc != 0) {
        policy_fail(p, nc, rc, "cannot start the session: %s", fs_strerror(rc));
        return -1;
    }
    return 0;
}

static int policy_frame(fs_net_client *nc, void *ctx, const uint8_t *frame, size_t len)
{
    policy_link *p = ctx;
    if (p->done)
        return 0;
    fs_buf out;
    fs_msg *m = NULL;
    fs_buf_init(&out);
    int rc = fs_channel_receive(p->ch, frame, len, &out, &m);
    int src = out.len > 0 ? fs_net_client_send(nc, out.data, out.len) : 0;
    fs_buf_free(&out);
    if (rc == 0 && m != NULL && m->type == FS_MSG_POLICY) {
        p->out->min_chars = m->u.policy.min_chars;
        p->out->min_words = m->u.policy.min_words;
        snprintf(p->out->team, sizeof p->out->team, "%.*s", (int)m->u.policy.team_len,
                 m->u.policy.team_len > 0 ? m->u.policy.team : "");
        p->done = 1;
        fs_msg_free(m);
        fs_net_client_close(nc); /* the session is over: nothing to write */
        return 0;
    }
    fs_msg_free(m);
    if (rc == 0)
        rc = src;
    if (rc != 0) {
        policy_fail(p, nc, rc, "%s", fs_channel_errmsg(p->ch));
        return -1;
    }
    return 0;
}

static void policy_deadline(fs_net_client *nc, void *ctx)
{
    policy_link *p = ctx;
    policy_fail(p, nc, FS_EIO, "no answer from the server at %s:%d within the time allowed",
                p->host, p->port);
}

static void policy_failed(fs_net_client *nc, void *ctx, int code, const char *msg)
{
    policy_fail(ctx, nc, code, "%s", msg);
}

int fs_ws_enroll_policy(const uint8_t server_pk[FS_SIGN_PK_BYTES], const fs_enroll_request *req,
                        const char *host, int port, int tls, int timeout_ms, fs_ws_policy *out,
                        char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (server_pk == NULL || req == NULL || out == NULL || host == NULL || port <= 0 ||
        port > 65535 || timeout_ms <= 0) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "invalid arguments");
        return FS_EINVAL;
    }
    memset(out, 0, sizeof *out);
    /* A key made for the question: the device's own is made with the
     * replica, after the passphrase this rule governs. */
    fs_identity *id = NULL;
    int rc = fs_identity_generate(&id);
    if (rc != 0)
        return rc;
    fs_enroll_request ask = *req;
    memcpy(ask.device_pk, id->pk, sizeof ask.device_pk);
    fs_channel_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.self = id;
    cfg.pinned_server_pk = server_pk;
    cfg.enroll = &ask;
    cfg.ask_policy = 1;
    policy_link p;
    memset(&p, 0, sizeof p);
    p.host = host;
    p.port = port;
    p.out = out;
    rc = fs_channel_new(&p.ch, &cfg);
    if (rc == 0) {
        const fs_net_client_hooks hooks = {
            .established = policy_established,
            .frame = policy_frame,
            .deadline = policy_deadline,
            .failed = policy_failed,
            .ctx = &p,
        };
        fs_net_client_run(&hooks, host, port, tls, timeout_ms, 0);
        rc = p.done ? 0 : p.rc != 0 ? p.rc : FS_EIO;
        if (rc != 0 && err != NULL && errlen > 0)
            snprintf(err, errlen, "%s",
                     p.errmsg[0] != '\0' ? p.errmsg : "the server closed the connection");
    }
    fs_channel_free(p.ch);
    sodium_memzero(&ask, sizeof ask);
    fs_identity_free(id);
    return rc;
}

int fs_ws_live_run(const fs_ws_live *live, const uint8_t server_pk[FS_SIGN_PK_BYTES],
                   const char *host, int port, int tls, int round_timeout_ms, int answer_ms,
                   char *err, size_t errlen)
{
    if (live == NULL || live->open == NULL || live->close == NULL || live->want_sync == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "invalid arguments");
        return FS_EINVAL;
    }
    return run_link(NULL, live, server_pk, NULL, host, port, tls, round_timeout_ms, answer_ms, NULL,
                    err, errlen);
}
