/*
 * The websocket transport alone (net/, fieldsync/transport.h): no session,
 * no store. A toy server echoes frames and calls a peer authenticated once
 * it has sent "auth"; a toy client drives it through the client callbacks.
 * What is checked: frames both ways, the frame limit before and after
 * authentication, a session ended by its frame callback (queued frames
 * written first), jobs on the server's thread closing connections, the
 * deadline, an unreachable server, the connection budget, and HTTP
 * answers held by the tarpit (issue 20.1) within its caps.
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fieldsync/channel.h"
#include "fieldsync/clock.h"
#include "fieldsync/error.h"
#include "fieldsync/msg.h"
#include "fieldsync/transport.h"
#include "test.h"

#define HOST "127.0.0.1"

/* ---- the toy server: touched on its thread only (or through a job) ---- */

typedef struct toy_server {
    int opened, closed, frames, oversized;
} toy_server;

typedef struct toy_session {
    fs_net_conn *conn;
    int authed;
} toy_session;

static int toy_opened(void *ctx, fs_net_conn *conn, void **session)
{
    toy_server *t = ctx;
    toy_session *s = calloc(1, sizeof *s);
    if (s == NULL)
        return FS_ENOMEM;
    s->conn = conn;
    t->opened++;
    *session = s;
    return 0;
}

/* Echoes every frame; "auth" authenticates, "bye" ends the session after
 * its echo. */
static int toy_frame(void *ctx, void *session, const uint8_t *frame, size_t len)
{
    toy_server *t = ctx;
    toy_session *s = session;
    t->frames++;
    if (len == 4 && memcmp(frame, "auth", 4) == 0)
        s->authed = 1;
    int rc = fs_net_conn_send(s->conn, frame, len);
    if (rc != 0)
        return rc;
    return len == 3 && memcmp(frame, "bye", 3) == 0 ? FS_ESTATE : 0;
}

static int toy_authenticated(void *ctx, void *session)
{
    (void)ctx;
    return ((toy_session *)session)->authed;
}

static void toy_oversize(void *ctx, void *session, size_t max_frame)
{
    toy_server *t = ctx;
    toy_session *s = session;
    t->oversized++;
    CHECK(max_frame == fs_proto_default_limits.max_frame);
    (void)fs_net_conn_send(s->conn, (const uint8_t *)"too big", 7);
}

static void toy_closed(void *ctx, void *session)
{
    toy_server *t = ctx;
    t->closed++;
    free(session);
}

static fs_net_server *toy_start(toy_server *t, int *port)
{
    memset(t, 0, sizeof *t);
    const fs_net_server_hooks hooks = {
        toy_opened, toy_frame, toy_authenticated, toy_oversize, toy_closed, NULL, NULL, t};
    fs_net_server *srv = NULL;
    CHECK_OK(fs_net_server_start(&srv, &hooks, HOST, 0));
    *port = fs_net_server_port(srv);
    CHECK(*port > 0);
    return srv;
}

typedef struct snapshot {
    toy_server *t;
    toy_server copy;
} snapshot;

static int take_snapshot(void *ctx)
{
    snapshot *s = ctx;
    s->copy = *s->t;
    return 0;
}

/* The server's counters, read on its thread. */
static toy_server counters(fs_net_server *srv, toy_server *t)
{
    snapshot s = {t, {0, 0, 0, 0}};
    CHECK_OK(fs_net_server_call(srv, take_snapshot, &s));
    return s.copy;
}

/* The server's counters once it has seen `closed` connections close (the
 * client's run may end before the server's close callback): up to 5 s. */
static toy_server after_closes(fs_net_server *srv, toy_server *t, int closed)
{
    toy_server seen = counters(srv, t);
    for (int i = 0; i < 500 && seen.closed < closed; i++) {
        usleep(10000);
        seen = counters(srv, t);
    }
    CHECK_EQ_INT(seen.closed, closed);
    return seen;
}

/* ---- the toy client: a script of frames to send, one per echo ---- */

typedef struct toy_client {
    const char *const *script; /* frames to send, NULL-terminated; "BIG:n" is n bytes of 'x' */
    size_t next;
    int received;
    char last[64];
    int failed, code, deadline_hits, ticks;
    char msg[256];
    fs_net_server *job_srv; /* tick: close every connection through a job */
    int job_closed;
} toy_client;

static int send_next(fs_net_client *nc, toy_client *c)
{
    const char *f = c->script[c->next];
    if (f == NULL) {
        fs_net_client_close(nc);
        return 0;
    }
    c->next++;
    if (strncmp(f, "BIG:", 4) == 0) {
        size_t n = (size_t)strtoul(f + 4, NULL, 10);
        uint8_t *big = malloc(n);
        CHECK(big != NULL);
        memset(big, 'x', n);
        int rc = fs_net_client_send(nc, big, n);
        free(big);
        return rc;
    }
    return fs_net_client_send(nc, (const uint8_t *)f, strlen(f));
}

static int cl_established(fs_net_client *nc, void *ctx)
{
    return send_next(nc, ctx);
}

static int cl_frame(fs_net_client *nc, void *ctx, const uint8_t *frame, size_t len)
{
    toy_client *c = ctx;
    c->received++;
    snprintf(c->last, sizeof c->last, "%.*s", (int)(len < 40 ? len : 40), (const char *)frame);
    if (c->received == 1) /* the first echo: batches may come */
        fs_net_client_set_max_frame(nc, fs_proto_default_limits.max_frame);
    if (c->job_srv != NULL)
        return 0; /* the tick ends it */
    if (len == 7 && memcmp(frame, "too big", 7) == 0)
        return 0; /* the server closes */
    return send_next(nc, c);
}

static int close_all_job(void *ctx);

static void cl_tick(fs_net_client *nc, void *ctx)
{
    (void)nc;
    toy_client *c = ctx;
    c->ticks++;
    if (c->job_srv != NULL && c->received > 0 && c->job_closed == 0)
        c->job_closed = fs_net_server_call(c->job_srv, close_all_job, c->job_srv);
}

static void cl_deadline(fs_net_client *nc, void *ctx)
{
    (void)nc;
    ((toy_client *)ctx)->deadline_hits++;
}

static void cl_failed(fs_net_client *nc, void *ctx, int code, const char *msg)
{
    (void)nc;
    toy_client *c = ctx;
    if (c->failed++ == 0) {
        c->code = code;
        snprintf(c->msg, sizeof c->msg, "%s", msg);
    }
}

static void count_and_close(void *ctx, void *session)
{
    int *n = ctx;
    (*n)++;
    fs_net_conn_close(((toy_session *)session)->conn);
}

/* A job: closes every open connection; returns how many there were. */
static int close_all_job(void *ctx)
{
    int n = 0;
    fs_net_server_each(ctx, count_and_close, &n);
    return n;
}

static void run_client(toy_client *c, int port, int deadline_ms, int tick_ms)
{
    const fs_net_client_hooks hooks = {cl_established, cl_frame,  NULL, cl_tick,
                                       cl_deadline,    cl_failed, c};
    fs_net_client_run(&hooks, HOST, port, 0, deadline_ms, tick_ms);
}

static void test_frames_echo_and_the_session_ends_after_its_last_frame(void)
{
    toy_server t;
    int port = 0;
    fs_net_server *srv = toy_start(&t, &port);
    static const char *const script[] = {"hello", "auth", "BIG:100000", "bye", NULL};
    toy_client c = {.script = script};
    run_client(&c, port, 10000, 0);
    CHECK_EQ_INT(c.received, 4); /* the echo of "bye" came before the close */
    CHECK_STR(c.last, "bye");
    CHECK_EQ_INT(c.failed, 0); /* the client closed after it: no failure */
    toy_server seen = after_closes(srv, &t, 1);
    CHECK_EQ_INT(seen.opened, 1);
    CHECK_EQ_INT(seen.frames, 4);
    CHECK_EQ_INT(seen.oversized, 0);
    fs_net_server_stop(srv);
}

static void test_oversized_frame_before_authentication_drops_the_connection(void)
{
    toy_server t;
    int port = 0;
    fs_net_server *srv = toy_start(&t, &port);
    char big[32];
    snprintf(big, sizeof big, "BIG:%u", FS_HANDSHAKE_MAX_FRAME + 1);
    const char *const script[] = {big, NULL};
    toy_client c = {.script = script};
    run_client(&c, port, 10000, 0);
    CHECK_EQ_INT(c.code, FS_EIO);
    CHECK_EQ_INT(c.received, 0);
    toy_server seen = after_closes(srv, &t, 1);
    CHECK_EQ_INT(seen.frames, 0);
    CHECK_EQ_INT(seen.oversized, 0); /* nothing to tell an unknown peer */
    fs_net_server_stop(srv);
}

static void test_oversized_frame_after_authentication_is_told(void)
{
    toy_server t;
    int port = 0;
    fs_net_server *srv = toy_start(&t, &port);
    char big[32];
    snprintf(big, sizeof big, "BIG:%zu", (size_t)fs_proto_default_limits.max_frame + 1);
    const char *const script[] = {"auth", big, NULL};
    toy_client c = {.script = script};
    run_client(&c, port, 30000, 0);
    CHECK_STR(c.last, "too big");
    CHECK_EQ_INT(c.code, FS_EIO); /* then the server closed */
    toy_server seen = after_closes(srv, &t, 1);
    CHECK_EQ_INT(seen.frames, 1);
    CHECK_EQ_INT(seen.oversized, 1);
    fs_net_server_stop(srv);
}

static void test_a_job_closes_connections_on_the_server_thread(void)
{
    toy_server t;
    int port = 0;
    fs_net_server *srv = toy_start(&t, &port);
    static const char *const script[] = {"auth", NULL};
    toy_client c = {.script = script, .job_srv = srv};
    run_client(&c, port, 10000, 50);
    CHECK_EQ_INT(c.job_closed, 1);
    CHECK(c.ticks > 0);
    CHECK_EQ_INT(c.code, FS_EIO);
    CHECK(strstr(c.msg, "closed the connection") != NULL);
    CHECK_EQ_INT(fs_net_server_call(srv, close_all_job, srv), 0); /* none left open */
    CHECK_ERR(fs_net_server_call(srv, NULL, NULL), FS_EINVAL);
    fs_net_server_stop(srv);
}

static void test_deadline_and_unreachable_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    CHECK_OK(bind(fd, (struct sockaddr *)&a, sizeof a));
    CHECK_OK(listen(fd, 4));
    CHECK_OK(getsockname(fd, (struct sockaddr *)&a, &alen));
    static const char *const script[] = {NULL};
    toy_client c = {.script = script};
    run_client(&c, ntohs(a.sin_port), 300, 0); /* accepts, never answers */
    CHECK_EQ_INT(c.deadline_hits, 1);
    close(fd); /* the port is free again: nothing listens */
    toy_client u = {.script = script};
    run_client(&u, ntohs(a.sin_port), 10000, 0);
    CHECK_EQ_INT(u.code, FS_EIO);
    printf("  unreachable: %s\n", u.msg);
    CHECK(strstr(u.msg, "cannot reach the server at " HOST) != NULL);
    CHECK_EQ_INT(u.deadline_hits, 0);
}

/* ---- the connection budget (issue 20.2), wired to libwebsockets ---- */

typedef struct counts_job {
    fs_net_server *srv;
    fs_net_conn_counts c;
} counts_job;

static int take_counts(void *ctx)
{
    counts_job *j = ctx;
    fs_net_server_counts(j->srv, &j->c);
    return 0;
}

/* The budget's counts once cond holds (up to 5 s), read on the server's thread. */
static fs_net_conn_counts counts_until(fs_net_server *srv, int (*cond)(const fs_net_conn_counts *))
{
    counts_job j = {srv, {0}};
    for (int i = 0; i < 500; i++) {
        CHECK_OK(fs_net_server_call(srv, take_counts, &j));
        if (cond(&j.c))
            break;
        usleep(10000);
    }
    return j.c;
}

static int six_closed(const fs_net_conn_counts *c)
{
    return c->closed_oldest >= 6;
}

static int none_open(const fs_net_conn_counts *c)
{
    return c->open == 0;
}

static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, HOST, &a.sin_addr);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    return fd;
}

/* 1 when the server closed fd (end of file or a reset within wait_ms). */
static int closed_by_server(int fd, int wait_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, wait_ms) <= 0)
        return 0;
    char b;
    return recv(fd, &b, 1, MSG_DONTWAIT) <= 0;
}

/* At a descriptor limit of 64, four unauthenticated connections from one
 * network are held: ten silent sockets from 127.0.0.1 have the six oldest
 * closed. Every connection, silent or a device's, is forgotten when it
 * closes. */
static void test_budget_closes_the_oldest_and_forgets_every_connection(void)
{
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    rl.rlim_cur = 64;
    CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0); /* this test's child only */
    toy_server t;
    int port = 0;
    fs_net_server *srv = toy_start(&t, &port);
    fs_net_budget b;
    fs_net_server_budget(srv, &b);
    CHECK_EQ_INT(b.total, 32);
    CHECK_EQ_INT(b.unauthenticated, 24);
    CHECK_EQ_INT(b.per_network, 4);
    int fd[10];
    for (int i = 0; i < 10; i++)
        fd[i] = raw_connect(port);
    fs_net_conn_counts c = counts_until(srv, six_closed);
    CHECK_EQ_INT(c.closed_oldest, 6);
    CHECK_EQ_INT(c.unauthenticated, 4);
    CHECK_EQ_INT(c.refused, 0);
    for (int i = 0; i < 6; i++)
        CHECK(closed_by_server(fd[i], 2000));
    for (int i = 6; i < 10; i++)
        CHECK(!closed_by_server(fd[i], 100)); /* the newest are kept */
    for (int i = 0; i < 10; i++)
        close(fd[i]);
    c = counts_until(srv, none_open);
    CHECK_EQ_INT(c.open, 0);
    /* a device's websocket: authenticated, then gone */
    static const char *const script[] = {"auth", "hello", "bye", NULL};
    toy_client cl = {.script = script};
    run_client(&cl, port, 10000, 0);
    CHECK_EQ_INT(cl.received, 3);
    after_closes(srv, &t, 1);
    c = counts_until(srv, none_open);
    CHECK_EQ_INT(c.open, 0);
    CHECK_EQ_INT(c.authenticated, 0);
    CHECK_EQ_INT(c.closed_oldest, 6);
    fs_net_server_stop(srv);
}

/* ---- held answers: the tarpit of refused logins (issue 20.1) ---- */

#define HOLD_MS 4000

/* /hold is refused 429 and held HOLD_MS; anything else is 200 at once. */
static void toy_http(void *ctx, const fs_http_request *rq, fs_http_response *out)
{
    (void)ctx;
    int hold = strcmp(rq->path, "/hold") == 0;
    out->status = hold ? 429 : 200;
    out->hold_ms = hold ? HOLD_MS : 0;
    out->body = strdup(hold ? "wait" : "ok");
    out->body_len = out->body != NULL ? strlen(out->body) : 0;
}

static fs_net_server *http_toy_start(toy_server *t, int *port)
{
    memset(t, 0, sizeof *t);
    const fs_net_server_hooks hooks = {
        toy_opened, toy_frame, toy_authenticated, toy_oversize, toy_closed, toy_http, NULL, t};
    fs_net_server *srv = NULL;
    CHECK_OK(fs_net_server_start(&srv, &hooks, HOST, 0));
    *port = fs_net_server_port(srv);
    CHECK(*port > 0);
    return srv;
}

/* A connection from src (any of 127.0.0.0/8 answers on lo). */
static int connect_from(const char *src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    CHECK(inet_pton(AF_INET, src, &a.sin_addr) == 1);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    a.sin_port = htons((uint16_t)port);
    CHECK(inet_pton(AF_INET, HOST, &a.sin_addr) == 1);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    return fd;
}

/* Sends GET path on fd; returns when it was sent (fs_clock_mono_ms). */
static uint64_t get(int fd, const char *path)
{
    char rq[128];
    int n = snprintf(rq, sizeof rq, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    CHECK(send(fd, rq, (size_t)n, 0) == n);
    return fs_clock_mono_ms();
}

/* Waits up to wait_ms for an answer on fd and reads it whole (head and
 * Content-Length body): its status, or 0 for none. *at: when it began. */
static int answer(int fd, int wait_ms, uint64_t *at)
{
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, wait_ms) <= 0)
        return 0;
    *at = fs_clock_mono_ms();
    char b[8192];
    size_t have = 0;
    for (;;) {
        ssize_t n = recv(fd, b + have, sizeof b - 1 - have, 0);
        if (n <= 0)
            return 0;
        have += (size_t)n;
        b[have] = '\0';
        const char *end = strstr(b, "\r\n\r\n");
        const char *len = strcasestr(b, "\r\ncontent-length:");
        if (end != NULL && len != NULL && len < end &&
            have >= (size_t)(end + 4 - b) + strtoul(len + 17, NULL, 10))
            break;
        CHECK(have < sizeof b - 1);
        CHECK(poll(&p, 1, 5000) == 1);
    }
    return strncmp(b, "HTTP/1.1 ", 9) == 0 ? atoi(b + 9) : 0;
}

/* A held answer comes no sooner than HOLD_MS after its request, and its
 * connection stays open (the next request is answered); at most four are
 * held from one network and 256 in all: beyond either, the answer comes
 * at once and the connection closes. A held connection its client closes
 * frees its place by the end of its hold. */
static void test_held_answers_wait_and_the_tarpit_is_bounded(void)
{
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    if (rl.rlim_cur < 2048 && rl.rlim_max >= 2048) {
        rl.rlim_cur = 2048; /* 257 held connections, both ends in this process */
        CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    }
    toy_server t;
    int port = 0;
    fs_net_server *srv = http_toy_start(&t, &port);
    fs_net_budget b;
    fs_net_server_budget(srv, &b);
    CHECK(b.unauthenticated > FS_HTTP_HOLD_MAX + 8);
    CHECK(b.per_network >= FS_HTTP_HOLD_PER_NET);
    uint64_t at = 0;

    /* one network: four held, the fifth answered at once and closed */
    int fd[FS_HTTP_HOLD_PER_NET + 1];
    uint64_t sent[FS_HTTP_HOLD_PER_NET + 1];
    for (int i = 0; i <= FS_HTTP_HOLD_PER_NET; i++)
        fd[i] = connect_from("127.0.5.1", port);
    for (int i = 0; i < FS_HTTP_HOLD_PER_NET; i++)
        sent[i] = get(fd[i], "/hold");
    CHECK_EQ_INT(answer(fd[0], 300, &at), 0); /* the four are held by now */
    sent[FS_HTTP_HOLD_PER_NET] = get(fd[FS_HTTP_HOLD_PER_NET], "/hold");
    CHECK_EQ_INT(answer(fd[FS_HTTP_HOLD_PER_NET], HOLD_MS / 2, &at), 429);
    CHECK(at - sent[FS_HTTP_HOLD_PER_NET] < HOLD_MS / 2);
    CHECK(closed_by_server(fd[FS_HTTP_HOLD_PER_NET], 2000));
    close(fd[FS_HTTP_HOLD_PER_NET]);
    /* a held one its client gives up: its place is free when its hold
     * ends at the latest (the 256 below are all held) */
    close(fd[0]);
    for (int i = 1; i < FS_HTTP_HOLD_PER_NET; i++) {
        CHECK_EQ_INT(answer(fd[i], 3 * HOLD_MS, &at), 429);
        CHECK(at - sent[i] >= HOLD_MS);
        /* kept open: the next request on it is answered */
        uint64_t t0 = get(fd[i], "/now");
        CHECK_EQ_INT(answer(fd[i], 5000, &at), 200);
        CHECK(at - t0 < HOLD_MS);
        close(fd[i]);
    }

    /* 64 networks, four each: 256 held; one more from a 65th is not */
    enum { NHELD = FS_HTTP_HOLD_MAX };
    int many[NHELD];
    uint64_t msent[NHELD];
    for (int i = 0; i < NHELD; i++) {
        char src[32];
        snprintf(src, sizeof src, "127.1.%d.%d", i / FS_HTTP_HOLD_PER_NET,
                 i % FS_HTTP_HOLD_PER_NET + 1);
        many[i] = connect_from(src, port);
        msent[i] = get(many[i], "/hold");
    }
    CHECK_EQ_INT(answer(many[NHELD - 1], 300, &at), 0);
    int extra = connect_from("127.2.0.1", port);
    uint64_t xsent = get(extra, "/hold");
    CHECK_EQ_INT(answer(extra, HOLD_MS / 2, &at), 429);
    CHECK(at - xsent < HOLD_MS / 2);
    CHECK(closed_by_server(extra, 2000));
    close(extra);
    for (int i = 0; i < NHELD; i++) {
        CHECK_EQ_INT(answer(many[i], 3 * HOLD_MS, &at), 429);
        CHECK(at - msent[i] >= HOLD_MS);
        close(many[i]);
    }
    /* all answered: the tarpit holds again */
    extra = connect_from("127.2.0.1", port);
    xsent = get(extra, "/hold");
    CHECK_EQ_INT(answer(extra, 3 * HOLD_MS, &at), 429);
    CHECK(at - xsent >= HOLD_MS);
    close(extra);
    fs_net_server_stop(srv);
}

TEST_LIST(TEST(frames_echo_and_the_session_ends_after_its_last_frame)
              TEST(oversized_frame_before_authentication_drops_the_connection)
                  TEST(oversized_frame_after_authentication_is_told)
                      TEST(a_job_closes_connections_on_the_server_thread)
                          TEST(deadline_and_unreachable_server)
                              TEST(budget_closes_the_oldest_and_forgets_every_connection)
                                  TEST(held_answers_wait_and_the_tarpit_is_bounded))
