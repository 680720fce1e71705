/*
 * A fresh device's first sync (issue 21.6): a manager's new laptop pulls
 * its team's N visits (1,000,000 by default, the free corpus: text that
 * does not repeat, bench/visits.h) from a fieldsync server over the
 * websocket on 127.0.0.1, beside the published figures of two peers (Zero:
 * 280k rows/s initial sync; PowerSync: 27.6k rows/s on a desktop; quoted as
 * published, not measured here).
 *
 * Setup, not timed: the server's encrypted store is written directly, as a
 * rep's device's pushes of 1,000 visits each (fs_store_push: the same
 * checks, scope index and feed as a push over the network, without the
 * rep's replica and the wire), in this process.
 *
 * Timed: the manager's replica, created empty, syncs (fs_ws_sync: handshake,
 * the feed pulled in its batches, applied, until in sync) with the server
 * running in this process's thread (fs_ws_server_start). Rows/s = the rows
 * it received (N visits and their customer) / the sync's seconds; changes/s
 * beside it (one change = one column of one row). Then the time until
 * `visit list` works: the replica closed, opened again (the minimum KDF:
 * the CLI's own key derivation does not depend on the data) and the first
 * screen of the listing read as client/cmd_visit.c reads it (issue 21.6:
 * its default page, the newest 50 by time, newest first, through the
 * replica's index on a visit's time; the time, contact, purpose and
 * customer of each); and the whole listing's reads (`visit list --all`:
 * every visit oldest first, those four columns). Then the same replica
 * without the index (as 0.3.0 left it): 0.3.0's first screen (its listing
 * was oldest first, every visit sorted before the first 20); and the open
 * that builds the index again (an upgrade's one-time cost). The received
 * visits are counted: N, or the run fails.
 *
 *   bench_first [--visits N] [--quick] [--json]   (quick: 20,000)
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "common.h"
#include "fieldsync/error.h"
#include "fieldsync/identity.h"
#include "fieldsync/keyfile.h"
#include "fieldsync/replica.h"
#include "fieldsync/schema.h"
#include "fieldsync/store.h"
#include "hub.h"
#include "link.h"
#include "replica_int.h"
#include "store/store_sqlite.h"
#include "visits.h"

#define HOST         "127.0.0.1"
#define PUSH_VISITS  1000
#define FIRST_SCREEN 20
#define TIMEOUT_MS   (60 * 60 * 1000)
#define ZERO_ROWS_S  280000.0 /* published: Zero's initial sync */
#define PSYNC_ROWS_S 27600.0  /* published: PowerSync on a desktop */

static int die(const char *what, const char *why)
{
    fprintf(stderr, "bench_first: %s: %s\n", what, why ? why : "");
    return 1;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int column(const char *table, const char *name)
{
    unsigned nt;
    const fs_table *t = &fs_schema_tables(&nt)[fs_schema_table_index(table)];
    return fs_schema_column_index(t, name);
}

/* A row id as the device that made the row gave it (fs__new_row_id): its
 * clock's milliseconds, 48 bits big-endian, then 80 random bits. Random
 * ids throughout would put each pulled row on a random leaf of every
 * B-tree keyed by id, which no replica's rows do (the first sync of
 * 20,000 visits wrote 17,008 WAL frames of 8 KiB into the manager's
 * replica that way: 0.85 a visit). */
static void made_id(uint64_t ms, uint8_t id[FS_ID_BYTES])
{
    for (int i = 0; i < FS_ID_CLOCK_BYTES; i++)
        id[i] = (uint8_t)(ms >> (8 * (FS_ID_CLOCK_BYTES - 1 - i)));
    randombytes_buf(id + FS_ID_CLOCK_BYTES, FS_ID_BYTES - FS_ID_CLOCK_BYTES);
}

/* The rep's device pushes the customer, then the visits PUSH_VISITS at a
 * time, straight into the store. */
static int fill_store(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], const visit_set *vs,
                      size_t n)
{
    uint8_t dev[FS_ID_BYTES], customer[FS_ID_BYTES];
    fs_device_id_from_pk(pk, dev);
    uint64_t hlc = ((uint64_t)time(NULL) * 1000u - 7200000u) << 16, seq = 0;
    made_id(hlc >> 16, customer);
    const uint16_t tc = (uint16_t)fs_schema_table_index("customer"),
                   tv = (uint16_t)fs_schema_table_index("visit");
    int vcol[1 + VF_COUNT];
    vcol[0] = column("visit", "customer");
    for (int f = 0; f < VF_COUNT; f++)
        vcol[1 + f] = column("visit", field_column[f]);
    size_t cap = (size_t)PUSH_VISITS * (1 + VF_COUNT) + 2;
    fs_change *buf = calloc(cap, sizeof *buf);
    if (buf == NULL)
        return die("memory", "out of memory");
    static const char cname[] = "XX科技有限公司 (XX Technology Co.)";
    size_t k = 0;
    const struct {
        int c;
        fs_value v;
    } cc[2] = {{column("customer", "name"), fs_textn(cname, sizeof cname - 1)},
               {column("customer", "owner"), fs_text("zhang")}};
    for (int j = 0; j < 2; j++) {
        fs_change *c = &buf[k++];
        c->table = tc;
        c->column = (uint16_t)cc[j].c;
        memcpy(c->row, customer, FS_ID_BYTES);
        c->value = cc[j].v;
        c->version.hlc = hlc;
        memcpy(c->version.device, dev, FS_ID_BYTES);
    }
    hlc++;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        size_t end = i + PUSH_VISITS < n ? i + PUSH_VISITS : n;
        for (; i < end; i++) {
            const visit_text *v = &vs->visits[i % vs->count];
            uint8_t row[FS_ID_BYTES];
            made_id((hlc >> 16) + i, row); /* a visit a millisecond, in the feed's order */
            for (int f = -1; f < VF_COUNT; f++) {
                fs_change *c = &buf[k++];
                memset(c, 0, sizeof *c);
                c->table = tv;
                c->column = (uint16_t)vcol[1 + f];
                memcpy(c->row, row, FS_ID_BYTES);
                c->value = f < 0 ? fs_blob(customer, FS_ID_BYTES)
                                 : fs_textn(v->field[f], v->len[f]);
                c->version.hlc = hlc;
                memcpy(c->version.device, dev, FS_ID_BYTES);
            }
            hlc++;
        }
        fs_push_result res;
        memset(&res, 0, sizeof res);
        rc = fs_store_push(s, pk, seq + 1, seq + k, buf, k, &res);
        if (rc == 0 && res.nrejects != 0) {
            fprintf(stderr, "bench_first: the store refused %zu changes\n", (size_t)res.nrejects);
            rc = FS_EINVAL;
        }
        free(res.rejects);
        free(res.restamps);
        seq += k;
        k = 0;
    }
    free(buf);
    if (rc != 0)
        return die("pushing into the store", fs_store_errmsg(s));
    return 0;
}

/* `visit list`'s reads: the first `limit` visits by time (0: all); returns
 * how many were read, or -1. */
static long long list_reads_by(fs_replica *r, size_t limit, const char *order)
{
    static const char *const cols[] = {"time", "contact", "purpose", "customer"};
    fs_rows *it = NULL;
    long long got = 0;
    size_t bytes = 0;
    int rc = fs_rows_open_only(&it, r, "visit", NULL, NULL, order, cols, 4);
    while (rc == 0 && (limit == 0 || (size_t)got < limit) && (rc = fs_rows_next(it)) == 1) {
        for (int c = 0; c < 4; c++) {
            fs_value v;
            if (fs_rows_get(it, cols[c], &v) == 0)
                bytes += v.n;
        }
        got++;
        rc = 0;
    }
    if (it != NULL)
        fs_rows_close(it);
    (void)bytes;
    return rc < 0 ? -1 : got;
}

static long long list_reads(fs_replica *r, size_t limit)
{
    return list_reads_by(r, limit, "time");
}

#define PAGE 50 /* visit list's default page: the newest 50 (client/form.h) */

int main(int argc, char **argv)
{
    size_t n = 1000000;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            n = 20000;
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--visits") == 0 && i + 1 < argc &&
                 bench_parse_size(argv[++i], &n) == 0 && n >= FIRST_SCREEN)
            ;
        else {
            fprintf(stderr, "usage: bench_first [--visits N] [--quick] [--json]\n");
            return 2;
        }
    }
    if (sodium_init() < 0)
        return die("libsodium", "cannot initialise");
    char dir[] = "/tmp/bench_first.XXXXXX";
    if (mkdtemp(dir) == NULL)
        return die("mkdtemp", strerror(errno));
    int status = 1;
    char path[600];
    fs_store *s = NULL;
    fs_replica *li = NULL;
    fs_identity *sid = NULL, *lid = NULL;
    fs_ws_server *srv = NULL;
    visit_set vs;
    memset(&vs, 0, sizeof vs);
    double t0 = bench_now();
    if (visit_set_make_corpus(&vs, n, VISITS_FREE) != 0)
        goto out;
    double raw_visit = (double)vs.value_bytes / (double)n;

    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    uint8_t zpk[crypto_sign_PUBLICKEYBYTES], zsk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(zpk, zsk);
    sodium_memzero(zsk, sizeof zsk);
    snprintf(path, sizeof path, "%s/server", dir);
    if (fs_store_create(&s, path, "pw", 2, &o) != 0 ||
        fs_store_user_add(s, "li", FS_ROLE_MANAGER, "north") != 0 ||
        fs_store_user_add(s, "zhang", FS_ROLE_REP, "north") != 0 ||
        fs_store_device_add(s, zpk, "zhang", "laptop") != 0 ||
        fs_replica_identity(fs_store_replica(s), &sid) != 0) {
        die("store", fs_store_errmsg(s));
        goto out;
    }
    if (fill_store(s, zpk, &vs, n) != 0)
        goto out;
    double setup_s = bench_now() - t0;
    visit_set_free(&vs); /* the manager gets its text from the server only */

    snprintf(path, sizeof path, "%s/li", dir);
    if (fs_replica_create(&li, path, "pw", 2, &o) != 0 || fs_replica_identity(li, &lid) != 0 ||
        fs_store_device_add(s, lid->pk, "li", "new laptop") != 0) {
        die("manager's device", fs_replica_errmsg(li));
        goto out;
    }
    if (fs_ws_server_start(&srv, s, sid, HOST, 0) != 0) {
        die("server", "cannot start");
        goto out;
    }
    char err[256] = "";
    t0 = bench_now();
    int rc = fs_ws_sync(li, sid->pk, HOST, fs_ws_server_port(srv), 0, TIMEOUT_MS, err, sizeof err);
    double sync_s = bench_now() - t0;
    if (rc != 0) {
        die("sync", err);
        goto out;
    }
    fs_replica_close(li);
    li = NULL;
    t0 = bench_now();
    if (fs_replica_open(&li, path, "pw", 2, &o) != 0) {
        die("open", fs_replica_errmsg(NULL));
        goto out;
    }
    long long first = list_reads_by(li, PAGE, "-time"); /* `visit list`'s default */
    double first_s = bench_now() - t0;
    t0 = bench_now();
    long long all = list_reads(li, 0);
    double all_s = bench_now() - t0;
    if (first != PAGE || all != (long long)n) {
        fprintf(stderr, "bench_first: the manager lists %lld visits of %zu\n", all, n);
        goto out;
    }
    /* The same replica as 0.3.0 left it, without the index on the visits'
     * time (issue 21.6): the first screen sorts every visit; then opened by
     * this build, which builds the index (the upgrade's one-time cost). */
    double noidx_s = 0, reindex_s = 0, again_s = 0;
    if (sqlite3_exec(fs__replica_db(li), "DROP INDEX " FS__VISIT_TIME_INDEX, NULL, NULL, NULL) !=
        SQLITE_OK) {
        die("dropping the index", sqlite3_errmsg(fs__replica_db(li)));
        goto out;
    }
    t0 = bench_now();
    if (list_reads(li, FIRST_SCREEN) != FIRST_SCREEN) {
        die("first screen without the index", fs_replica_errmsg(li));
        goto out;
    }
    noidx_s = bench_now() - t0;
    fs_replica_close(li);
    li = NULL;
    t0 = bench_now();
    if (fs_replica_open(&li, path, "pw", 2, &o) != 0) {
        die("open", fs_replica_errmsg(NULL));
        goto out;
    }
    reindex_s = bench_now() - t0;
    fs_replica_close(li);
    li = NULL;
    t0 = bench_now();
    if (fs_replica_open(&li, path, "pw", 2, &o) != 0 || list_reads_by(li, PAGE, "-time") != PAGE) {
        die("open", fs_replica_errmsg(NULL));
        goto out;
    }
    again_s = bench_now() - t0;
    size_t problems = 1;
    if (n <= 100000 && (fs_replica_check(li, &problems) != 0 || problems != 0)) {
        die("check", "the manager's replica does not pass fs_replica_check");
        goto out;
    }

    double rows = (double)n + 1, changes = (double)n * (1 + VF_COUNT) + 2;
    double rows_s = rows / sync_s;
    char cpu[128], b1[32], b2[32], b3[32];
    bench_cpu_model(cpu, sizeof cpu);
    printf("bench_first: a fresh manager's first sync of %s visits of the free corpus (%.0f raw"
           " field bytes per visit), CPU %s; store written in %.1f s (not timed)\n",
           bench_fmt_count(b1, sizeof b1, (double)n), raw_visit, cpu, setup_s);
    printf("  first sync            %9.2f s  %s rows/s (%s changes/s)\n", sync_s,
           bench_fmt_count(b2, sizeof b2, rows_s), bench_fmt_count(b3, sizeof b3, changes / sync_s));
    printf("  peers, published      Zero 280,000 rows/s (%.2fx ours), PowerSync 27,600 rows/s on"
           " desktop (%.2fx ours): not measured here\n",
           ZERO_ROWS_S / rows_s, PSYNC_ROWS_S / rows_s);
    printf("  visit list works      %9.2f s  after the sync began (sync + open + the newest %d: %.3f s)\n",
           sync_s + first_s, PAGE, first_s);
    printf("  visit list, all reads %9.2f s  (%s visits, oldest first: --all)\n", all_s, b1);
    printf("  0.3.0's first screen  %9.3f s  (no index: every visit sorted before the first %d; open"
           " not counted)\n",
           noidx_s, FIRST_SCREEN);
    printf("  0.3.0 replica opened  %9.2f s  (the index on the visits' time built; then open +"
           " the newest %d: %.3f s)\n",
           reindex_s, PAGE, again_s);
    if (json)
        printf("{\"bench\":\"first\",\"visits\":%zu,\"rows\":%.0f,\"changes\":%.0f,\"setup_s\":%.2f,"
               "\"sync_s\":%.3f,\"rows_per_s\":%.0f,\"first_screen_s\":%.4f,\"list_works_s\":%.3f,"
               "\"list_all_s\":%.3f,\"first_screen_noindex_s\":%.4f,\"reindex_s\":%.3f,\"reopen_page_s\":%.4f}\n",
               n, rows, changes, setup_s, sync_s, rows_s, first_s, sync_s + first_s, all_s, noidx_s,
               reindex_s, again_s);
    status = 0;
out:
    fs_ws_server_stop(srv);
    fs_replica_close(li);
    fs_identity_free(lid);
    fs_identity_free(sid);
    fs_store_close(s);
    visit_set_free(&vs);
    if (nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "bench_first: cannot remove %s\n", dir);
    return status;
}
