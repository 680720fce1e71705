/*
 * Sync over real websockets on the loopback: the server (the store behind
 * fs_ws_server, in a thread of its own) and devices syncing with fs_ws_sync.
 * The in-process twin of these tests is test_sync.c. While the server runs
 * only its thread touches the store, so the tests stop it before they read
 * or change the store.
 */
#define _GNU_SOURCE /* pipe2 */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "fieldsync/clock.h"
#include "fieldsync/error.h"
#include "fieldsync/sync.h"
#include "fieldsync/enroll.h"
#include "hub.h"
#include "link.h"
#include "records.h"
#include "test.h"
#include "store/store_sqlite.h"

#define HOST       "127.0.0.1"
#define TIMEOUT_MS 60000

typedef struct world {
    char dir[512];
    fs_store *store;
    fs_identity *server_id;
    fs_ws_server *srv;
    int port;
} world;

typedef struct dev {
    const char *user;
    fs_replica *r;
    uint8_t pk[FS_SIGN_PK_BYTES];
} dev;

static void server_start(world *w)
{
    CHECK_OK(fs_ws_server_start(&w->srv, w->store, w->server_id, HOST, 0));
    w->port = fs_ws_server_port(w->srv);
    CHECK(w->port > 0);
}

static void server_stop(world *w)
{
    fs_ws_server_stop(w->srv);
    w->srv = NULL;
}

static void world_open(world *w)
{
    memset(w, 0, sizeof *w);
    snprintf(w->dir, sizeof w->dir, "%s", test_tmpdir());
    char path[600];
    snprintf(path, sizeof path, "%s/server", w->dir);
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    CHECK_OK(fs_store_create(&w->store, path, "pw", 2, &o));
    CHECK_OK(fs_replica_identity(fs_store_replica(w->store), &w->server_id));
    CHECK_OK(fs_store_user_add(w->store, "li", FS_ROLE_MANAGER, "north"));
    CHECK_OK(fs_store_user_add(w->store, "zhang", FS_ROLE_REP, "north"));
}

static void world_close(world *w)
{
    fs_ws_server_stop(w->srv);
    fs_store_close(w->store);
    fs_identity_free(w->server_id);
    test_rmtree(w->dir);
}

/* A device replica for user, enrolled in the store (the server is stopped). */
static void dev_open(world *w, dev *d, const char *user)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", w->dir, user);
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    CHECK_OK(fs_replica_create(&d->r, path, "pw", 2, &o));
    d->user = user;
    fs_identity *id = NULL;
    CHECK_OK(fs_replica_identity(d->r, &id));
    memcpy(d->pk, id->pk, sizeof d->pk);
    fs_identity_free(id);
    CHECK_OK(fs_store_device_add(w->store, d->pk, user, "laptop"));
}

static int ws_sync(world *w, dev *d)
{
    char err[256];
    int rc = fs_ws_sync(d->r, w->server_id->pk, HOST, w->port, 0, TIMEOUT_MS, err, sizeof err);
    if (rc != 0)
        printf("  %s: %s (%s)\n", d->user, err, fs_errname(rc));
    else
        CHECK_STR(err, "");
    return rc;
}



/* Every row of table in a equals the one in b, field by field. */
static void same_rows(fs_replica *a, fs_replica *b, const char *table, const char **cols,
                      size_t ncols)
{
    fs_rows *ia = NULL, *ib = NULL;
    CHECK_OK(fs_rows_open(&ia, a, table, NULL, NULL, NULL));
    CHECK_OK(fs_rows_open(&ib, b, table, NULL, NULL, NULL));
    int n = 0;
    while (fs_rows_next(ia) == 1) {
        CHECK_EQ_INT(fs_rows_next(ib), 1);
        CHECK_MEM(fs_rows_id(ia), fs_rows_id(ib), 16);
        for (size_t k = 0; k < ncols; k++) {
            fs_value va, vb;
            CHECK_OK(fs_rows_get(ia, cols[k], &va));
            CHECK_OK(fs_rows_get(ib, cols[k], &vb));
            CHECK(va.type == vb.type && va.n == vb.n && memcmp(va.p, vb.p, va.n) == 0);
        }
        n++;
    }
    CHECK_EQ_INT(fs_rows_next(ib), 0);
    fs_rows_close(ia);
    fs_rows_close(ib);
    CHECK(n > 0);
}

static void test_visits_reach_the_manager_over_websockets(void)
{
    world w;
    dev zhang, li;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    dev_open(&w, &li, "li");
    uint8_t cust[16];
    test_record_visits(zhang.r, 50, cust);
    server_start(&w);

    CHECK_OK(ws_sync(&w, &zhang));
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(zhang.r, &st));
    CHECK_EQ_INT(st.pending, 0);
    CHECK_OK(ws_sync(&w, &li));
    CHECK_EQ_INT(test_count_rows(li.r, "visit"), 50);
    CHECK_EQ_INT(test_count_rows(li.r, "commitment"), 50);
    static const char *visit_cols[] = {"customer", "time", "place", "purpose", "notes"};
    static const char *commitment_cols[] = {"visit", "customer", "text", "due"};
    same_rows(zhang.r, li.r, "visit", visit_cols, 5);
    same_rows(zhang.r, li.r, "commitment", commitment_cols, 4);

    /* Syncing again is a no-op: neither the devices nor the feed change. */
    uint8_t hz[32], hl[32], h[32];
    CHECK_OK(fs_replica_state_hash(zhang.r, hz));
    CHECK_OK(fs_replica_state_hash(li.r, hl));
    server_stop(&w);
    uint64_t before = 0, after = 0;
    CHECK_OK(fs_feed_last(fs_store_replica(w.store), &before));
    server_start(&w);
    CHECK_OK(ws_sync(&w, &zhang));
    CHECK_OK(ws_sync(&w, &li));
    server_stop(&w);
    CHECK_OK(fs_feed_last(fs_store_replica(w.store), &after));
    CHECK_EQ_INT(before, after);
    CHECK_OK(fs_replica_state_hash(zhang.r, h));
    CHECK_MEM(h, hz, 32);
    CHECK_OK(fs_replica_state_hash(li.r, h));
    CHECK_MEM(h, hl, 32);

    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    world_close(&w);
}

static void test_unreachable_server_leaves_the_replica_alone(void)
{
    world w;
    dev zhang;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    uint8_t cust[16];
    test_record_visits(zhang.r, 3, cust);
    /* A port that was free a moment ago and where nothing listens now. */
    server_start(&w);
    server_stop(&w);
    uint8_t before[32], after[32];
    CHECK_OK(fs_replica_state_hash(zhang.r, before));
    char err[256];
    CHECK_ERR(fs_ws_sync(zhang.r, w.server_id->pk, HOST, w.port, 0, TIMEOUT_MS, err, sizeof err),
              FS_EIO);
    char want[64];
    snprintf(want, sizeof want, "cannot reach the server at %s:%d", HOST, w.port);
    CHECK(strncmp(err, want, strlen(want)) == 0);
    printf("  unreachable: %s\n", err);
    CHECK_OK(fs_replica_state_hash(zhang.r, after));
    CHECK_MEM(before, after, 32);
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(zhang.r, &st));
    CHECK(st.pending > 0);
    fs_replica_close(zhang.r);
    world_close(&w);
}

/* A listener that accepts TCP connections (the kernel does) but never
 * answers: the sync gives up at its deadline. */
static void test_silent_server_times_out(void)
{
    world w;
    dev zhang;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    uint8_t cust[16];
    test_record_visits(zhang.r, 3, cust);
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
    uint8_t before[32], after[32];
    CHECK_OK(fs_replica_state_hash(zhang.r, before));
    char err[256];
    CHECK_ERR(fs_ws_sync(zhang.r, w.server_id->pk, HOST, ntohs(a.sin_port), 0, 300, err, sizeof err),
              FS_EIO);
    printf("  silent: %s\n", err);
    CHECK(strstr(err, "within the time allowed") != NULL);
    CHECK_OK(fs_replica_state_hash(zhang.r, after));
    CHECK_MEM(before, after, 32);
    close(fd);
    fs_replica_close(zhang.r);
    world_close(&w);
}

/* Connects a raw TCP socket to 127.0.0.1:port; the caller closes it. */
static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    CHECK_OK(connect(fd, (struct sockaddr *)&a, sizeof a));
    struct timeval tv = {5, 0};
    CHECK_OK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    return fd;
}

/* Before it has authenticated, a peer cannot make the server buffer more
 * than a handshake frame: a bigger one ends its connection, and the server
 * goes on serving others. */
static void test_oversized_handshake_frame_is_refused(void)
{
    world w;
    dev zhang;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    server_start(&w);
    int fd = tcp_connect(w.port);
    const char *upgrade =
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: " FS_WS_PROTOCOL "\r\n\r\n";
    CHECK_EQ_INT(send(fd, upgrade, strlen(upgrade), 0), strlen(upgrade));
    char resp[1024];
    size_t got = 0;
    while (got < sizeof resp - 1 && strstr(resp, "\r\n\r\n") == NULL) {
        ssize_t n = recv(fd, resp + got, sizeof resp - 1 - got, 0);
        CHECK(n > 0);
        got += (size_t)n;
        resp[got] = '\0';
    }
    CHECK(strncmp(resp, "HTTP/1.1 101", 12) == 0);
    /* The first fragment (no FIN) of a binary message, 8,000 bytes, masked
     * with a zero key: only the size limit can end the connection here, as
     * no whole frame ever reaches the session. */
    static uint8_t frame[8 + 8000];
    frame[0] = 0x02;
    frame[1] = 0x80 | 126;
    frame[2] = 8000 >> 8;
    frame[3] = 8000 & 0xff;
    CHECK_EQ_INT(send(fd, frame, sizeof frame, MSG_NOSIGNAL), sizeof frame);
    ssize_t n;
    do
        n = recv(fd, resp, sizeof resp, 0);
    while (n > 0);      /* a close frame, then the end of the stream */
    CHECK_EQ_INT(n, 0); /* closed, not timed out */
    close(fd);
    CHECK_OK(ws_sync(&w, &zhang));
    fs_replica_close(zhang.r);
    world_close(&w);
}

static void test_revoked_device_is_told_to_wipe(void)
{
    world w;
    dev zhang;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    server_start(&w);
    CHECK_OK(ws_sync(&w, &zhang));
    server_stop(&w);
    CHECK_OK(fs_store_device_revoke(w.store, zhang.pk));
    server_start(&w);
    CHECK_ERR(ws_sync(&w, &zhang), FS_EREVOKED);
    fs_replica_close(zhang.r);
    world_close(&w);
}

static void test_impostor_server_is_refused(void)
{
    world w;
    dev zhang;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    uint8_t cust[16];
    test_record_visits(zhang.r, 2, cust);
    server_start(&w);
    /* The device pinned another key than the one this server holds. */
    fs_identity *other = NULL;
    CHECK_OK(fs_identity_generate(&other));
    uint8_t before[32], after[32];
    CHECK_OK(fs_replica_state_hash(zhang.r, before));
    char err[256];
    CHECK_ERR(fs_ws_sync(zhang.r, other->pk, HOST, w.port, 0, TIMEOUT_MS, err, sizeof err), FS_EAUTH);
    printf("  impostor: %s\n", err);
    CHECK_OK(fs_replica_state_hash(zhang.r, after));
    CHECK_MEM(before, after, 32);
    /* The real server is still served. */
    CHECK_OK(ws_sync(&w, &zhang));
    fs_identity_free(other);
    fs_replica_close(zhang.r);
    world_close(&w);
}

static void test_large_backlog_goes_in_batches(void)
{
    world w;
    dev zhang, li;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    dev_open(&w, &li, "li");
    uint8_t cust[16];
    test_record_visits(zhang.r, 400, cust); /* 2,000 + 2 + 1,600 changes: 4 PUSH batches */
    server_start(&w);
    CHECK_OK(ws_sync(&w, &zhang));
    CHECK_OK(ws_sync(&w, &li)); /* and 4 CHANGES batches down */
    CHECK_EQ_INT(test_count_rows(li.r, "visit"), 400);
    CHECK_EQ_INT(test_count_rows(li.r, "commitment"), 400);
    test_same_state(zhang.r, li.r);
    /* The manager's 1,200 edits go up in 2 batches and down to zhang. */
    static uint8_t ids[400][16];
    size_t edited = 0;
    fs_rows *it = NULL;
    CHECK_OK(fs_rows_open(&it, li.r, "commitment", NULL, NULL, NULL));
    while (fs_rows_next(it) == 1 && edited < 400)
        memcpy(ids[edited++], fs_rows_id(it), 16);
    fs_rows_close(it);
    CHECK_OK(fs_begin(li.r));
    for (size_t i = 0; i < edited; i++) {
        fs_cell e[] = {{"text", fs_text("send 3 success cases and a quote")},
                       {"due", fs_text("2023-10-13")},
                       {"status", fs_text("done")}};
        CHECK_OK(fs_update(li.r, "commitment", ids[i], e, 3));
    }
    CHECK_OK(fs_commit(li.r));
    CHECK_EQ_INT(edited, 400);
    CHECK_OK(ws_sync(&w, &li));
    CHECK_OK(ws_sync(&w, &zhang));
    test_same_state(zhang.r, li.r);
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(li.r, &st));
    CHECK_EQ_INT(st.pending, 0);
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    world_close(&w);
}

/* A device enrolls with a one-time code over the websocket (pinning the
 * server key from the code), and syncs; the code does not work twice. */
static void test_enrollment_over_websockets(void)
{
    world w;
    world_open(&w);
    char code[128];
    CHECK_OK(fs_enroll_code_create(w.store, "zhang", 3600u * 1000u, w.server_id->pk, code,
                                   sizeof code));
    uint8_t pinned[32], secret[16];
    CHECK_OK(fs_enroll_code_parse(code, pinned, secret));
    CHECK_MEM(pinned, w.server_id->pk, 32);
    fs_replica *r = NULL, *r2 = NULL;
    char path[600];
    snprintf(path, sizeof path, "%s/new-laptop", w.dir);
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    CHECK_OK(fs_replica_create(&r, path, "pw", 2, &o));
    fs_identity *id = NULL;
    CHECK_OK(fs_replica_identity(r, &id));
    fs_enroll_request req;
    memset(&req, 0, sizeof req);
    fs_enroll_request_code(secret, req.code);
    memcpy(req.device_pk, id->pk, 32);
    snprintf(req.device_name, sizeof req.device_name, "zhang's laptop");
    server_start(&w);
    char err[256];
    CHECK_OK(fs_ws_enroll(r, pinned, &req, HOST, w.port, 0, TIMEOUT_MS, 0, err, sizeof err));
    uint8_t cust[16];
    fs_cell c[] = {{"name", fs_text("Enrolled Co.")}};
    CHECK_OK(fs_insert(r, "customer", c, 1, cust));
    CHECK_OK(fs_ws_sync(r, pinned, HOST, w.port, 0, TIMEOUT_MS, err, sizeof err));
    /* The same code, another device: refused. */
    snprintf(path, sizeof path, "%s/thief", w.dir);
    CHECK_OK(fs_replica_create(&r2, path, "pw", 2, &o));
    fs_identity *id2 = NULL;
    CHECK_OK(fs_replica_identity(r2, &id2));
    memcpy(req.device_pk, id2->pk, 32);
    CHECK_ERR(fs_ws_enroll(r2, pinned, &req, HOST, w.port, 0, TIMEOUT_MS, 0, err, sizeof err), FS_EAUTH);
    server_stop(&w);
    CHECK_OK(fs_store_device_check(w.store, id->pk));
    CHECK_ERR(fs_store_device_check(w.store, id2->pk), FS_ENOTFOUND);
    CHECK_EQ_INT(fs_exists(fs_store_replica(w.store), "customer", cust), 1);
    fs_identity_free(id);
    fs_identity_free(id2);
    sodium_memzero(secret, sizeof secret);
    fs_replica_close(r);
    fs_replica_close(r2);
    world_close(&w);
}

/* ---- another node's writes (issue 21.3): the hub's watcher ----
 *
 * The SQLite store stands in for a node of the PostgreSQL store: its ops
 * table is copied with refresh and notify_fd replaced. notify_fd is a
 * pipe's read end (the LISTEN socket); refresh, run on the server's thread,
 * applies "the other node's" write when a byte waits in the pipe (a
 * notification) or when told to without one (a notification lost across a
 * reconnect): zhang's visits pushed into the store behind the hub's back,
 * as a catch-up from the log would apply them. */
static struct {
    int pipe[2];
    fs_store *store;
    const uint8_t *pk;
    fs_changeset *cs;        /* what the other node wrote */
    atomic_int silent;       /* apply at the next refresh, without a byte */
    atomic_int applied;      /* the write is in the store */
    atomic_uint_fast64_t applied_ms, refreshes;
} other;

static void other_apply(fs_store *s)
{
    fs_push_result res;
    memset(&res, 0, sizeof res);
    CHECK_OK(fs_store_push(s, other.pk, other.cs->first_seq, other.cs->last_seq,
                           other.cs->changes, other.cs->count, &res));
    CHECK_EQ_INT(res.nrejects, 0);
    free(res.rejects);
    free(res.restamps);
    atomic_store(&other.applied_ms, fs_clock_mono_ms());
    atomic_store(&other.applied, 1);
}

static int other_refresh(fs_store *s)
{
    atomic_fetch_add(&other.refreshes, 1);
    char b;
    int notified = read(other.pipe[0], &b, 1) == 1;
    if ((notified || atomic_exchange(&other.silent, 0)) && !atomic_load(&other.applied))
        other_apply(s);
    return 0;
}

static int other_notify_fd(fs_store *s)
{
    (void)s;
    return other.pipe[0];
}

/* The hub's threads named fs-watcher in this process. */
static int watcher_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], name[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            if (fgets(name, sizeof name, f) != NULL && strncmp(name, "fs-watcher", 10) == 0)
                n++;
            fclose(f);
        }
    }
    closedir(d);
    return n;
}

/* The manager's daemon: a live connection that never asks for a round
 * itself; after each round, whether the visits are in its replica. */
typedef struct live_dev {
    fs_replica *r;
    fs_ws_live live;
    const uint8_t *server_pk;
    int port, rc;
    atomic_int rounds, stop;
    atomic_uint_fast64_t arrived_ms; /* 0 until the visits are in the replica */
    size_t want;
    pthread_t thread;
} live_dev;

static int live_open(void *ctx, fs_replica **out)
{
    *out = ((live_dev *)ctx)->r;
    return 0;
}

static void live_close(void *ctx, fs_replica *r, int rc)
{
    live_dev *l = ctx;
    if (rc == 0 && atomic_load(&l->arrived_ms) == 0 && test_count_rows(r, "visit") >= l->want)
        atomic_store(&l->arrived_ms, fs_clock_mono_ms());
    atomic_fetch_add(&l->rounds, 1);
}

static int live_want(void *ctx)
{
    return atomic_load(&((live_dev *)ctx)->stop) ? -1 : 0;
}

static void *live_run(void *arg)
{
    live_dev *l = arg;
    char err[256];
    l->rc = fs_ws_live_run(&l->live, l->server_pk, HOST, l->port, 0, TIMEOUT_MS, 0, err,
                           sizeof err);
    if (l->rc != 0)
        printf("  live: %s (%s)\n", err, fs_errname(l->rc));
    return NULL;
}

/* Waits up to ms for *flag (an atomic) to become non-zero. */
static int wait_for(atomic_int *flag, int ms)
{
    for (int i = 0; i < ms / 10 && !atomic_load(flag); i++)
        usleep(10000);
    return atomic_load(flag);
}

static void test_another_nodes_write_pokes_the_devices(void)
{
    world w;
    dev zhang, li;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    dev_open(&w, &li, "li");
    uint8_t cust[16];
    test_record_visits(zhang.r, 5, cust);

    /* SQLite alone: no notification socket, no watcher. */
    CHECK_EQ_INT(fs_store_notify_fd(w.store), -1);
    CHECK_OK(fs_store_refresh(w.store));
    server_start(&w);
    CHECK_EQ_INT(watcher_threads(), 0);
    server_stop(&w);

    memset(&other, 0, sizeof other);
    CHECK_OK(pipe2(other.pipe, O_NONBLOCK | O_CLOEXEC));
    other.store = w.store;
    other.pk = zhang.pk;
    CHECK_OK(fs_changes_since(zhang.r, 0, 100000, &other.cs));
    CHECK(other.cs->count > 0);
    const fs_store_ops *sqlite_ops = w.store->ops;
    fs_store_ops ops = *sqlite_ops;
    ops.refresh = other_refresh;
    ops.notify_fd = other_notify_fd;

    for (int round = 0; round < 2; round++) {
        /* round 0: the other node's write announced on the socket; round 1:
         * no notification arrives, the periodic refresh finds the write. */
        w.store->ops = &ops;
        atomic_store(&other.applied, 0);
        atomic_store(&other.silent, 0);
        if (round == 1) { /* zhang's next visits, after the first batch */
            uint64_t acked = other.cs->last_seq;
            fs_changeset_free(other.cs);
            test_record_visits(zhang.r, 5, cust);
            CHECK_OK(fs_changes_since(zhang.r, acked, 100000, &other.cs));
            CHECK(other.cs->count > 0);
        }
        server_start(&w);
        CHECK_EQ_INT(watcher_threads(), 1);
        live_dev l;
        memset(&l, 0, sizeof l);
        l.r = li.r;
        l.live = (fs_ws_live){live_open, live_close, live_want, &l};
        l.server_pk = w.server_id->pk;
        l.port = w.port;
        l.want = 5 * (size_t)(round + 1);
        CHECK_OK(pthread_create(&l.thread, NULL, live_run, &l));
        CHECK(wait_for(&l.rounds, 30000)); /* its first round, at connect: nothing new */
        CHECK_EQ_INT(atomic_load(&l.arrived_ms), 0);
        /* A refresh just ran (the periodic one), so the next periodic one
         * is FS_HUB_REFRESH_MS away: the notified write must not wait for
         * it. */
        uint64_t n0 = atomic_load(&other.refreshes);
        for (int i = 0; i < 300 && atomic_load(&other.refreshes) == n0; i++)
            usleep(10000);
        CHECK(atomic_load(&other.refreshes) > n0);
        uint64_t t0 = fs_clock_mono_ms();
        if (round == 0)
            CHECK_EQ_INT(write(other.pipe[1], "n", 1), 1);
        else
            atomic_store(&other.silent, 1);
        CHECK(wait_for(&other.applied, 10000));
        uint64_t applied = atomic_load(&other.applied_ms) - t0;
        int arrived = 0;
        for (int i = 0; i < 1000 && !(arrived = atomic_load(&l.arrived_ms) != 0); i++)
            usleep(10000);
        CHECK(arrived); /* poked: li never asked for a round */
        uint64_t reached = atomic_load(&l.arrived_ms) - t0;
        printf("  %s: applied by a refresh %llu ms after, in the manager's replica %llu ms after\n",
               round == 0 ? "notified" : "no notification",
               (unsigned long long)applied, (unsigned long long)reached);
        if (round == 0) /* woken by the socket (margin: half the period) */
            CHECK(applied < FS_HUB_REFRESH_MS / 2);
        else /* the periodic refresh, within two periods of a loaded machine */
            CHECK(applied < 3 * FS_HUB_REFRESH_MS);
        atomic_store(&l.stop, 1);
        pthread_join(l.thread, NULL);
        CHECK_OK(l.rc);
        CHECK_EQ_INT(test_count_rows(li.r, "visit"), 5 * (size_t)(round + 1));
        server_stop(&w);
    }
    w.store->ops = sqlite_ops;
    fs_changeset_free(other.cs);
    close(other.pipe[0]);
    close(other.pipe[1]);
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    world_close(&w);
}

/* ---- the hub's workers (fs_ws_server_defer, issue 20.1) ---- */

static pthread_mutex_t order_lock = PTHREAD_MUTEX_INITIALIZER;
static char order[64]; /* the jobs' tags in the order the workers ran them */
static atomic_int released;

static void job_work(void *ctx)
{
    const char *tag = ctx;
    while (!atomic_load(&released)) /* every job holds its worker until released: */
        usleep(1000);                 /* what is in flight stays so, whatever the workers */
    pthread_mutex_lock(&order_lock);
    size_t n = strlen(order);
    if (n + 1 < sizeof order)
        order[n] = tag[0];
    pthread_mutex_unlock(&order_lock);
}

static void job_finish(void *ctx, fs_store *store, fs_http_response *answer)
{
    (void)store;
    const char *tag = ctx;
    if (answer != NULL) {
        answer->status = 200;
        answer->body = strdup(tag);
        answer->body_len = answer->body != NULL ? strlen(answer->body) : 0;
    }
}

/* /B, /a, /b ...: a job tagged by the path's first letter, urgent when it
 * is upper case; 503 when refused. */
static void job_http(void *ctx, fs_store *store, const fs_http_request *rq,
                     fs_http_response *out)
{
    (void)store;
    static const char *const tags[] = {"B", "a", "b", "c", "d", "U", "V", "W"};
    const char *tag = NULL;
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
        if (rq->path[0] == '/' && rq->path[1] == tags[i][0])
            tag = tags[i];
    if (tag == NULL) {
        out->status = 404;
        return;
    }
    int urgent = tag[0] >= 'A' && tag[0] <= 'Z' && tag[0] != 'B';
    int rc = fs_ws_server_defer(*(fs_ws_server **)ctx, rq, out, urgent, job_work, job_finish,
                                (void *)tag);
    if (rc != 0)
        out->status = rc == FS_EBUSY ? 503 : 500;
}

/* Sends GET path on a new connection; the socket. */
static int http_get(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, HOST, &a.sin_addr);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    char rq[96];
    int n = snprintf(rq, sizeof rq, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    CHECK(send(fd, rq, (size_t)n, 0) == n);
    usleep(100000); /* handled before the next one */
    return fd;
}

/* The answer's status on fd (waits up to 20 s). */
static int http_status(int fd)
{
    struct timeval tv = {20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char b[512];
    ssize_t n = recv(fd, b, sizeof b - 1, 0);
    close(fd);
    if (n < 12)
        return 0;
    b[n] = '\0';
    return atoi(b + 9);
}

/* B, a, b and c in flight (four): d is refused 503 at once; the urgent U
 * and V have places of their own, W (a third) is refused. With one worker,
 * busy with B, U and V run next, ahead of a, b and c, in their order. */
static void test_urgent_jobs_go_first_and_have_places_of_their_own(void)
{
    world w;
    world_open(&w);
    server_start(&w);
    fs_ws_server_set_http(w.srv, job_http, &w.srv);
    int fb = http_get(w.port, "/B");
    int fa = http_get(w.port, "/a"), fbb = http_get(w.port, "/b"), fc = http_get(w.port, "/c");
    CHECK_EQ_INT(http_status(http_get(w.port, "/d")), 503);
    int fu = http_get(w.port, "/U"), fv = http_get(w.port, "/V");
    CHECK_EQ_INT(http_status(http_get(w.port, "/W")), 503);
    atomic_store(&released, 1);
    int fds[] = {fb, fa, fbb, fc, fu, fv};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        CHECK_EQ_INT(http_status(fds[i]), 200);
    /* The order with the one worker of a machine of fewer than four CPUs
     * (hub.c); with more workers a, b and c do not wait behind B. */
    if (sysconf(_SC_NPROCESSORS_ONLN) < 4) {
        pthread_mutex_lock(&order_lock);
        CHECK_STR(order, "BUVabc");
        pthread_mutex_unlock(&order_lock);
    }
    world_close(&w);
}

TEST_LIST(TEST(urgent_jobs_go_first_and_have_places_of_their_own)
          TEST(enrollment_over_websockets) TEST(visits_reach_the_manager_over_websockets)
              TEST(unreachable_server_leaves_the_replica_alone) TEST(silent_server_times_out)
                  TEST(oversized_handshake_frame_is_refused) TEST(revoked_device_is_told_to_wipe)
                      TEST(impostor_server_is_refused) TEST(large_backlog_goes_in_batches)
                          TEST(another_nodes_write_pokes_the_devices))
