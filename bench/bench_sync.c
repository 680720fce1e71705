/*
 * bench_sync: sync throughput on loopback, both directions, against the
 * pipeline limit measured in the same run (issue 8, items 2-4).
 *
 *   limit      raw SQLite: the same change rows (table, column, row id,
 *              value, clock, device: one row per column of every visit)
 *              inserted into a plain WAL file, synchronous=NORMAL, 1,000 rows
 *              per transaction, prepared statement. No encryption, no
 *              network, no checks: what the pipeline can never beat.
 *   push       a rep's device holding N visits (recorded before, not timed)
 *              syncs with a fieldsync server over the websocket on 127.0.0.1
 *              (fs_ws_sync: handshake, every change pushed and acknowledged,
 *              the feed pulled) until it is in sync.
 *   pull       a fresh manager device syncs the same server: it pulls the N
 *              visits and is in sync.
 * The server runs in this process (its own thread, fs_ws_server_start) on
 * an encrypted store; a counting proxy thread between devices and server
 * counts every TCP payload byte in both directions (websocket upgrade and
 * framing included). After the pull, the manager's replica must hold the
 * rep's state exactly (fs_replica_state_hash) and pass fs_replica_check.
 * --corpus free: the visits' text fields free text that does not repeat
 * (bench/visits.h, issue 21.6) instead of the pools of phrases.
 *
 * Figures: changes/s for each (one change = one column of one visit, 10
 * per visit, plus the customer), the ratio to the limit (target >= 0.5),
 * seconds, and bytes on the wire per visit against the visits' raw field
 * bytes (target <= 1.3). --json prints one JSON object as the last line.
 *
 * Usage: bench_sync [--visits N] [--corpus pools|free] [--quick] [--json]
 *        (N: 100,000; quick: 2,000)
 * Exit status 0 when every run completed and verified, 1 on any error.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "common.h"
#include "fieldsync/error.h"
#include "fieldsync/identity.h"
#include "fieldsync/keyfile.h"
#include "fieldsync/replica.h"
#include "fieldsync/store.h"
#include "hub.h"
#include "link.h"
#include "store/store_sqlite.h"
#include "visits.h"

#define HOST       "127.0.0.1"
#define BATCH      1000
#define TIMEOUT_MS (30 * 60 * 1000)

static int die(const char *what, const char *why)
{
    fprintf(stderr, "bench_sync: %s: %s\n", what, why);
    return 1;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* ---- the counting proxy ------------------------------------------------------ */

typedef struct proxy {
    int listen_fd, port, upstream_port;
    atomic_ullong up, down; /* bytes device -> server, server -> device */
    atomic_int stop;
    pthread_t thread;
} proxy;

static int relay(int from, int to, atomic_ullong *count)
{
    char buf[65536];
    ssize_t n = read(from, buf, sizeof buf);
    if (n <= 0)
        return -1;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(to, buf + off, (size_t)(n - off));
        if (w <= 0)
            return -1;
        off += w;
    }
    atomic_fetch_add(count, (unsigned long long)n);
    return 0;
}

/* One connection at a time: the devices sync one after the other. */
static void *proxy_main(void *arg)
{
    proxy *p = arg;
    while (!atomic_load(&p->stop)) {
        struct pollfd lp = {p->listen_fd, POLLIN, 0};
        if (poll(&lp, 1, 100) <= 0)
            continue;
        int dev = accept(p->listen_fd, NULL, NULL);
        if (dev < 0)
            continue;
        int srv = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)p->upstream_port)};
        inet_pton(AF_INET, HOST, &a.sin_addr);
        if (srv < 0 || connect(srv, (struct sockaddr *)&a, sizeof a) != 0) {
            close(dev);
            if (srv >= 0)
                close(srv);
            continue;
        }
        struct pollfd fds[2] = {{dev, POLLIN, 0}, {srv, POLLIN, 0}};
        while (!atomic_load(&p->stop)) {
            if (poll(fds, 2, 100) < 0 && errno != EINTR)
                break;
            if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) && relay(dev, srv, &p->up) != 0)
                break;
            if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) && relay(srv, dev, &p->down) != 0)
                break;
        }
        close(dev);
        close(srv);
    }
    return NULL;
}

static int proxy_start(proxy *p, int upstream_port)
{
    memset(p, 0, sizeof *p);
    p->upstream_port = upstream_port;
    p->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    inet_pton(AF_INET, HOST, &a.sin_addr);
    socklen_t len = sizeof a;
    if (p->listen_fd < 0 || bind(p->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(p->listen_fd, 4) != 0 || getsockname(p->listen_fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    p->port = ntohs(a.sin_port);
    return pthread_create(&p->thread, NULL, proxy_main, p) == 0 ? 0 : -1;
}

static void proxy_stop(proxy *p)
{
    atomic_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
    close(p->listen_fd);
}

/* ---- the limit: raw SQLite ----------------------------------------------------- */

/* Inserts the change rows of n visits (customer id + 9 fields each) into a
 * plain SQLite file; returns seconds, or a negative value on error. */
static double raw_limit(const char *dir, const visit_set *vs, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/raw.db", dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    double secs = -1;
    uint8_t row[16], dev[16], cust[16];
    randombytes_buf(dev, sizeof dev);
    randombytes_buf(cust, sizeof cust);
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "CREATE TABLE changes(tbl INTEGER, col INTEGER, row BLOB, value,"
                     " hlc INTEGER, dev BLOB);",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO changes VALUES(?1,?2,?3,?4,?5,?6)", -1, &ins, NULL) !=
            SQLITE_OK)
        goto out;
    double t0 = bench_now();
    size_t rows = 0;
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        const visit_text *v = &vs->visits[i % vs->count];
        randombytes_buf(row, sizeof row);
        for (int f = -1; f < VF_COUNT; f++) {
            sqlite3_bind_int(ins, 1, 2);
            sqlite3_bind_int(ins, 2, f + 2);
            sqlite3_bind_blob(ins, 3, row, 16, SQLITE_STATIC);
            if (f < 0)
                sqlite3_bind_blob(ins, 4, cust, 16, SQLITE_STATIC);
            else
                sqlite3_bind_text(ins, 4, v->field[f], (int)v->len[f], SQLITE_STATIC);
            sqlite3_bind_int64(ins, 5, (sqlite3_int64)(i + 1) << 16);
            sqlite3_bind_blob(ins, 6, dev, 16, SQLITE_STATIC);
            if (sqlite3_step(ins) != SQLITE_DONE)
                goto out;
            sqlite3_reset(ins);
            if (++rows % BATCH == 0 &&
                sqlite3_exec(db, "COMMIT; BEGIN", NULL, NULL, NULL) != SQLITE_OK)
                goto out;
        }
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto out;
    secs = bench_now() - t0;
out:
    if (secs < 0)
        fprintf(stderr, "bench_sync: raw SQLite: %s\n", db ? sqlite3_errmsg(db) : "cannot open");
    sqlite3_finalize(ins);
    sqlite3_close(db);
    char p2[560];
    remove(path);
    snprintf(p2, sizeof p2, "%s-wal", path);
    remove(p2);
    snprintf(p2, sizeof p2, "%s-shm", path);
    remove(p2);
    return secs;
}

/* ---- fieldsync ----------------------------------------------------------------- */

static int record_visits(fs_replica *r, const visit_set *vs, size_t n)
{
    uint8_t customer[FS_ID_BYTES], id[FS_ID_BYTES];
    const fs_cell cc[] = {{"name", fs_text("XX科技有限公司 (XX Technology Co.)")},
                          {"owner", fs_text("zhang")}};
    if (fs_insert(r, "customer", cc, 2, customer) != 0)
        return -1;
    fs_cell cells[1 + VF_COUNT];
    cells[0].column = "customer";
    cells[0].value = fs_blob(customer, sizeof customer);
    for (int f = 0; f < VF_COUNT; f++)
        cells[1 + f].column = field_column[f];
    for (size_t i = 0; i < n; i++) {
        const visit_text *v = &vs->visits[i % vs->count];
        if (i % BATCH == 0 && fs_begin(r) != 0)
            return -1;
        for (int f = 0; f < VF_COUNT; f++)
            cells[1 + f].value = fs_textn(v->field[f], v->len[f]);
        if (fs_insert(r, "visit", cells, 1 + VF_COUNT, id) != 0)
            return -1;
        if (((i + 1) % BATCH == 0 || i + 1 == n) && fs_commit(r) != 0)
            return -1;
    }
    return 0;
}

static int device(fs_store *s, const char *dir, const char *user, fs_replica **out)
{
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    fs_identity *id = NULL;
    if (fs_replica_create(out, dir, "pw", 2, &o) != 0 || fs_replica_identity(*out, &id) != 0)
        return -1;
    int rc = fs_store_device_add(s, id->pk, user, "laptop");
    fs_identity_free(id);
    return rc;
}

typedef struct run {
    double secs;
    unsigned long long up, down;
} run;

static int sync_through(fs_replica *r, const uint8_t pk[32], proxy *p, run *out)
{
    char err[256];
    unsigned long long up0 = atomic_load(&p->up), down0 = atomic_load(&p->down);
    double t0 = bench_now();
    int rc = fs_ws_sync(r, pk, HOST, p->port, 0, TIMEOUT_MS, err, sizeof err);
    out->secs = bench_now() - t0;
    /* the proxy may still be passing the last bytes on */
    for (int i = 0; i < 50; i++) {
        unsigned long long u = atomic_load(&p->up), d = atomic_load(&p->down);
        usleep(2000);
        if (u == atomic_load(&p->up) && d == atomic_load(&p->down))
            break;
    }
    out->up = atomic_load(&p->up) - up0;
    out->down = atomic_load(&p->down) - down0;
    if (rc != 0)
        fprintf(stderr, "bench_sync: sync: %s\n", err);
    return rc;
}

int main(int argc, char **argv)
{
    size_t n = 100000;
    int json = 0;
    visit_corpus corpus = VISITS_POOLS;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            n = 2000;
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--visits") == 0 && i + 1 < argc &&
                 bench_parse_size(argv[++i], &n) == 0 && n > 0)
            ;
        else if (strcmp(argv[i], "--corpus") == 0 && i + 1 < argc &&
                 visit_corpus_parse(argv[++i], &corpus) == 0)
            ;
        else {
            fprintf(stderr, "usage: bench_sync [--visits N] [--corpus pools|free] [--quick] [--json]\n");
            return 2;
        }
    }
    if (sodium_init() < 0)
        return die("libsodium", "cannot initialise");
    char dir[] = "/tmp/bench_sync.XXXXXX";
    if (mkdtemp(dir) == NULL)
        return die("mkdtemp", strerror(errno));
    visit_set vs;
    if (visit_set_make_corpus(&vs, n, corpus) != 0)
        return 1;
    size_t raw_bytes = 0; /* the field values of the n visits, customer id included */
    for (size_t i = 0; i < n; i++) {
        raw_bytes += 16;
        for (int f = 0; f < VF_COUNT; f++)
            raw_bytes += vs.visits[i % vs.count].len[f];
    }
    int status = 1;
    char path[600];
    fs_store *s = NULL;
    fs_replica *zhang = NULL, *li = NULL;
    fs_identity *sid = NULL;
    fs_ws_server *srv = NULL;
    proxy p;
    int proxy_on = 0;
    uint8_t hz[32], hl[32];
    run push, pull;

    double raw = raw_limit(dir, &vs, n);
    if (raw <= 0)
        goto out;

    fs_replica_opts so = {.kdf = &fs_kdf_minimum};
    snprintf(path, sizeof path, "%s/server", dir);
    if (fs_store_create(&s, path, "pw", 2, &so) != 0 ||
        fs_store_user_add(s, "li", FS_ROLE_MANAGER, "north") != 0 ||
        fs_store_user_add(s, "zhang", FS_ROLE_REP, "north") != 0 ||
        fs_replica_identity(fs_store_replica(s), &sid) != 0) {
        die("store", fs_store_errmsg(s));
        goto out;
    }
    snprintf(path, sizeof path, "%s/zhang", dir);
    if (device(s, path, "zhang", &zhang) != 0 || record_visits(zhang, &vs, n) != 0) {
        die("rep's device", fs_replica_errmsg(zhang));
        goto out;
    }
    snprintf(path, sizeof path, "%s/li", dir);
    if (device(s, path, "li", &li) != 0) {
        die("manager's device", fs_replica_errmsg(li));
        goto out;
    }
    if (fs_ws_server_start(&srv, s, sid, HOST, 0) != 0 ||
        proxy_start(&p, fs_ws_server_port(srv)) != 0) {
        die("server", "cannot start");
        goto out;
    }
    proxy_on = 1;
    if (sync_through(zhang, sid->pk, &p, &push) != 0 || sync_through(li, sid->pk, &p, &pull) != 0)
        goto out;
    size_t problems = 1;
    if (fs_replica_state_hash(zhang, hz) != 0 || fs_replica_state_hash(li, hl) != 0 ||
        memcmp(hz, hl, 32) != 0 || fs_replica_check(li, &problems) != 0 || problems != 0) {
        die("verify", "the manager's replica does not hold the rep's state");
        goto out;
    }

    double changes = (double)n * (1 + VF_COUNT) + 2; /* the customer's 2 columns */
    double limit = changes / raw, push_rate = changes / push.secs, pull_rate = changes / pull.secs;
    double push_wire = (double)(push.up + push.down) / (double)n;
    double pull_wire = (double)(pull.up + pull.down) / (double)n;
    double raw_visit = (double)raw_bytes / (double)n;
    char cpu[128], b1[32], b2[32], b3[32];
    bench_cpu_model(cpu, sizeof cpu);
    printf("bench_sync: %zu visits of the %s corpus (%s changes, %.0f raw field bytes per visit),"
           " CPU %s\n",
           n, corpus == VISITS_FREE ? "free" : "pools", bench_fmt_count(b1, sizeof b1, changes),
           raw_visit, cpu);
    printf("%-34s %12s %10s %8s %14s %8s\n", "", "changes/s", "seconds", "ratio", "wire B/visit",
           "x raw");
    printf("%-34s %12s %10.2f %8s %14s %8s\n", "limit: raw SQLite, 1,000 rows/tx",
           bench_fmt_count(b1, sizeof b1, limit), raw, "1.00", "-", "-");
    printf("%-34s %12s %10.2f %8.2f %14s %8.2f  (target ratio >= 0.5, wire <= 1.3)\n",
           "push: rep -> server, acknowledged", bench_fmt_count(b2, sizeof b2, push_rate),
           push.secs, push_rate / limit, bench_fmt_count(b3, sizeof b3, push_wire),
           push_wire / raw_visit);
    printf("%-34s %12s %10.2f %8.2f %14s %8.2f\n", "pull: fresh manager <- server",
           bench_fmt_count(b2, sizeof b2, pull_rate), pull.secs, pull_rate / limit,
           bench_fmt_count(b3, sizeof b3, pull_wire), pull_wire / raw_visit);
    if (json)
        printf("{\"bench\":\"sync\",\"corpus\":\"%s\",\"visits\":%zu,\"changes\":%.0f,\"raw_field_bytes\":%zu,"
               "\"limit_s\":%.3f,\"push_s\":%.3f,\"push_bytes_up\":%llu,\"push_bytes_down\":%llu,"
               "\"pull_s\":%.3f,\"pull_bytes_up\":%llu,\"pull_bytes_down\":%llu}\n",
               corpus == VISITS_FREE ? "free" : "pools", n, changes, raw_bytes, raw, push.secs, push.up, push.down, pull.secs, pull.up,
               pull.down);
    status = 0;
out:
    if (proxy_on)
        proxy_stop(&p);
    fs_ws_server_stop(srv);
    fs_replica_close(zhang);
    fs_replica_close(li);
    fs_identity_free(sid);
    fs_store_close(s);
    visit_set_free(&vs);
    if (nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "bench_sync: cannot remove %s\n", dir);
    return status;
}
