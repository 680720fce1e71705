/*
 * Sync under SIGKILL, with real processes over the websocket on 127.0.0.1:
 * a rep's device syncing a backlog is killed at random moments (20 times),
 * then the server is killed mid-sync and restarted (10 times); with
 * FS_LONG=1, 350 and 160 times (510 kills; give it FS_TEST_TIMEOUT=3600). Afterwards,
 * with one clean sync each, every visit is on the server exactly once (no
 * change fed twice), the manager's device holds the same state as the rep's,
 * and both replicas and the store pass their checks. The seed is printed.
 */
#include <signal.h>
#include <sys/prctl.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>

#include "fieldsync/store.h"
#include "hub.h"
#include "link.h"
#include "store/store_sqlite.h"
#include "records.h"
#include "replica_int.h"
#include "rng.h"
#include "test.h"

#define HOST "127.0.0.1"
#define VISITS 300
#define MORE 100 /* visits the rep records before each killed sync */
static int client_kills = 20, server_kills = 10;

static char dir[512], store_dir[600], zhang_dir[600], li_dir[600];
static uint8_t server_pk[32];

static fs_replica *open_replica(const char *path)
{
    fs_replica *r = NULL;
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    int rc = fs_replica_open(&r, path, "pw", 2, &o);
    if (rc != 0)
        FAIL("cannot open %s: %s", path, fs_replica_errmsg(NULL));
    return r;
}

/* A server process; its port comes back through a pipe. */
static pid_t server_start(int *port)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
        close(fds[0]);
        fs_store *s = NULL;
        fs_replica_opts o = {.kdf = &fs_kdf_minimum};
        fs_identity *id = NULL;
        fs_ws_server *srv = NULL;
        if (fs_store_open(&s, store_dir, "pw", 2, &o) != 0 ||
            fs_replica_identity(fs_store_replica(s), &id) != 0 ||
            fs_ws_server_start(&srv, s, id, HOST, 0) != 0)
            _exit(3);
        int p = fs_ws_server_port(srv);
        if (write(fds[1], &p, sizeof p) != (ssize_t)sizeof p)
            _exit(4);
        for (;;)
            pause(); /* until killed */
    }
    close(fds[1]);
    CHECK_EQ_INT(read(fds[0], port, sizeof *port), sizeof *port);
    close(fds[0]);
    return pid;
}

static void reap(pid_t pid, int sig)
{
    kill(pid, sig);
    int st;
    waitpid(pid, &st, 0);
}

/* A process that syncs a replica once; killed or left to finish. */
static pid_t client_start(const char *path, int port)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        fs_replica *r = NULL;
        fs_replica_opts o = {.kdf = &fs_kdf_minimum};
        if (fs_replica_open(&r, path, "pw", 2, &o) != 0)
            _exit(3);
        char err[256];
        int rc = fs_ws_sync(r, server_pk, HOST, port, 0, 30000, err, sizeof err);
        fs_replica_close(r);
        _exit(rc == 0 ? 0 : 1);
    }
    return pid;
}

static void nap_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int sync_now(const char *path, int port)
{
    fs_replica *r = open_replica(path);
    char err[256];
    int rc = fs_ws_sync(r, server_pk, HOST, port, 0, 60000, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "sync of %s: %s\n", path, err);
    fs_replica_close(r);
    return rc;
}

static void check_replica(const char *path)
{
    fs_replica *r = open_replica(path);
    size_t problems = 9;
    CHECK_OK(fs_replica_check(r, &problems));
    if (problems != 0)
        FAIL("%s does not match its log: %s", path, fs_replica_errmsg(r));
    fs_replica_close(r);
}

static void test_sync_survives_kills(void)
{
    uint64_t seed = (uint64_t)time(NULL);
    const char *e = getenv("FS_FAULT_SEED");
    if (e != NULL)
        seed = strtoull(e, NULL, 10);
    printf("seed %llu (FS_FAULT_SEED to repeat)\n", (unsigned long long)seed);
    rng g = {seed};
    const char *lng = getenv("FS_LONG");
    if (lng != NULL && strcmp(lng, "1") == 0) {
        client_kills = 350;
        server_kills = 160;
    }
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    snprintf(store_dir, sizeof store_dir, "%s/server", dir);
    snprintf(zhang_dir, sizeof zhang_dir, "%s/zhang", dir);
    snprintf(li_dir, sizeof li_dir, "%s/li", dir);

    /* The team, enrolled directly in the store; the rep's backlog. */
    fs_store *s = NULL;
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    CHECK_OK(fs_store_create(&s, store_dir, "pw", 2, &o));
    fs_identity *sid = NULL;
    CHECK_OK(fs_replica_identity(fs_store_replica(s), &sid));
    memcpy(server_pk, sid->pk, 32);
    fs_identity_free(sid);
    CHECK_OK(fs_store_user_add(s, "li", FS_ROLE_MANAGER, "north"));
    CHECK_OK(fs_store_user_add(s, "zhang", FS_ROLE_REP, "north"));
    const char *paths[2] = {zhang_dir, li_dir}, *users[2] = {"zhang", "li"};
    fs_replica *zhang = NULL;
    for (int i = 0; i < 2; i++) {
        fs_replica *r = NULL;
        fs_identity *id = NULL;
        CHECK_OK(fs_replica_create(&r, paths[i], "pw", 2, &o));
        CHECK_OK(fs_replica_identity(r, &id));
        CHECK_OK(fs_store_device_add(s, id->pk, users[i], "laptop"));
        fs_identity_free(id);
        if (i == 0)
            zhang = r;
        else
            fs_replica_close(r);
    }
    fs_store_close(s);
    uint8_t cust[16];
    test_record_visits(zhang, VISITS, cust);
    fs_replica_close(zhang);

    /* The rep's sync killed at random moments. */
    int port = 0;
    pid_t srv = server_start(&port);
    int finished = 0, total = VISITS;
    /* How long a sync of one round's work takes here: kills land within it. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int cst;
    waitpid(client_start(zhang_dir, port), &cst, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    {
        fs_replica *z = open_replica(zhang_dir);
        uint8_t c2[16];
        test_record_visits(z, MORE, c2);
        fs_replica_close(z);
        total += MORE;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        waitpid(client_start(zhang_dir, port), &cst, 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
    }
    unsigned span = (unsigned)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
    if (span < 4)
        span = 4;
    for (int k = 0; k < client_kills; k++) {
        fs_replica *z = open_replica(zhang_dir);
        uint8_t c2[16];
        test_record_visits(z, MORE, c2); /* work for the sync to do */
        fs_replica_close(z);
        total += MORE;
        pid_t c = client_start(zhang_dir, port);
        nap_ms(1 + rng_below(&g, span));
        int st;
        if (waitpid(c, &st, WNOHANG) == c) {
            finished++;
            /* the machine got faster than when the span was measured
             * (a load ended): the next kill comes sooner */
            span = span * 3 / 4 > 4 ? span * 3 / 4 : 4;
        } else
            reap(c, SIGKILL);
        check_replica(zhang_dir); /* reopens after the kill and is whole */
    }
    /* Most kills must land in a running sync, or this tests nothing. */
    CHECK(finished <= client_kills / 2);
    /* The server killed mid-sync and restarted. */
    int server_mid = 0;
    for (int k = 0; k < server_kills; k++) {
        if (k % 2 == 0) {
            fs_replica *z = open_replica(zhang_dir);
            uint8_t c2[16];
            test_record_visits(z, MORE, c2);
            fs_replica_close(z);
            total += MORE;
        }
        pid_t c = client_start(k % 2 ? li_dir : zhang_dir, port);
        nap_ms(1 + rng_below(&g, span));
        int st;
        server_mid += waitpid(c, &st, WNOHANG) == 0; /* its sync still running */
        reap(srv, SIGKILL);
        reap(c, SIGKILL);
        srv = server_start(&port);
    }
    CHECK(server_mid >= server_kills / 2);
    /* One clean sync each (the rep twice: acknowledgements lost to kills are
     * re-sent and answered without applying anything twice). */
    CHECK_OK(sync_now(zhang_dir, port));
    CHECK_OK(sync_now(zhang_dir, port));
    CHECK_OK(sync_now(li_dir, port));
    reap(srv, SIGTERM);
    printf("a round's sync takes %u ms; %d client kills (%d syncs finished first), %d server "
           "kills (%d mid-sync), %d visits\n",
           span, client_kills, finished, server_kills, server_mid, total);

    /* Every visit on the server once; no change fed twice. */
    CHECK_OK(fs_store_open(&s, store_dir, "pw", 2, &o));
    fs_replica *sr = fs_store_replica(s);
    CHECK_EQ_INT(test_count_rows(sr, "visit"), total);
    CHECK_EQ_INT(test_count_rows(sr, "commitment"), total);
    CHECK_EQ_INT(test_feed_duplicates(sr), 0);
    size_t problems = 9;
    CHECK_OK(fs_replica_check(sr, &problems));
    CHECK_EQ_INT(problems, 0);
    uint8_t hs[32], hz[32], hl[32];
    fs_store_close(s);
    check_replica(zhang_dir);
    check_replica(li_dir);
    fs_replica *z = open_replica(zhang_dir), *l = open_replica(li_dir);
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(z, &st));
    CHECK_EQ_INT(st.pending, 0);
    CHECK_OK(fs_replica_state_hash(z, hz));
    CHECK_OK(fs_replica_state_hash(l, hl));
    CHECK_MEM(hz, hl, 32); /* the manager holds exactly the rep's state */
    CHECK_EQ_INT(test_count_rows(l, "visit"), total);
    (void)hs;
    fs_replica_close(z);
    fs_replica_close(l);
    test_rmtree(dir);
}

TEST_LIST(TEST(sync_survives_kills))
