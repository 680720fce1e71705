/*
 * The replica's encryption overhead (issue 21.6): the same workload through
 * the replica API (fs_insert, fs_rows) on a replica whose pages go through
 * the encrypting VFS (core/vfs.c, XChaCha20-Poly1305 per 8 KiB page) and on
 * one whose pages are written as they are, beside Turso's published 6 %
 * (reads) and 14 % (writes) for its page encryption.
 *
 * The unencrypted replica exists only in this program: it defines the
 * fs_cryptvfs_* functions itself (core/vfs.c is compiled into it under
 * other names, bench_real_cryptvfs_*, see bench/CMakeLists.txt), and while
 * `plain` is set they hand SQLite its default VFS instead of the encrypting
 * one. Nothing in libfieldsync, the CLI or the server can reach this path:
 * the linker never takes core/vfs.o into this program, and no other program
 * has these definitions. Everything else (page size, reserved bytes, WAL,
 * synchronous=NORMAL, the change log, the indexes) is the replica's own.
 *
 * Workload, per run and mode, on a fresh replica in a temp dir:
 *   writes  N visits of the free corpus (bench/visits.h) inserted with
 *           fs_insert, 1 per transaction for the first N/10, then 100 per
 *           transaction (what a daemon's pull applies)
 *   reads   the replica closed and opened again (SQLite's cache empty, the
 *           OS's warm), every visit read with fs_rows ordered by time and
 *           each of its 10 columns fetched; closed and opened again, 5,000
 *           visits by id (their notes)
 * Runs alternate plain / encrypted (RUNS each, medians), so a machine whose
 * load changes affects both alike. Overhead = encrypted / plain - 1.
 *
 *   bench_crypt [--visits N] [--runs R] [--quick] [--json]
 *   (N: 20,000, R: 5; quick: 2,000 and 3)
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "common.h"
#include "fieldsync/error.h"
#include "fieldsync/keyfile.h"
#include "fieldsync/replica.h"
#include "fieldsync/vfs.h"
#include "visits.h"

/* ---- the VFS switch: the real one (renamed) or SQLite's default ---- */

int bench_real_cryptvfs_new(fs_cryptvfs **out, const fs_secret *secret);
const char *bench_real_cryptvfs_name(const fs_cryptvfs *vfs);
void bench_real_cryptvfs_free(fs_cryptvfs *vfs);
int bench_real_cryptvfs_take_error(fs_cryptvfs *vfs, char *msg, size_t msgsize);
int bench_real_cryptvfs_open_page(const fs_cryptvfs *vfs, unsigned char *page, size_t pagesize,
                                  unsigned pgno);

static int plain; /* 1: new replicas of this process are not encrypted */
static char plain_marker; /* the handle a plain "VFS" returns */

int fs_cryptvfs_new(fs_cryptvfs **out, const fs_secret *secret)
{
    if (plain) {
        *out = (fs_cryptvfs *)&plain_marker;
        return 0;
    }
    return bench_real_cryptvfs_new(out, secret);
}

const char *fs_cryptvfs_name(const fs_cryptvfs *vfs)
{
    return vfs == (const fs_cryptvfs *)&plain_marker ? NULL : bench_real_cryptvfs_name(vfs);
}

void fs_cryptvfs_free(fs_cryptvfs *vfs)
{
    if (vfs != (fs_cryptvfs *)&plain_marker)
        bench_real_cryptvfs_free(vfs);
}

int fs_cryptvfs_take_error(fs_cryptvfs *vfs, char *msg, size_t msgsize)
{
    if (vfs == (fs_cryptvfs *)&plain_marker) {
        if (msg != NULL && msgsize > 0)
            msg[0] = '\0';
        return 0;
    }
    return bench_real_cryptvfs_take_error(vfs, msg, msgsize);
}

int fs_cryptvfs_open_page(const fs_cryptvfs *vfs, unsigned char *page, size_t pagesize,
                          unsigned pgno)
{
    if (vfs == (const fs_cryptvfs *)&plain_marker)
        return FS_EFORMAT;
    return bench_real_cryptvfs_open_page(vfs, page, pagesize, pgno);
}

/* ---- the workload ---- */

#define POINT_READS 5000

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int die(const char *what, const char *why)
{
    fprintf(stderr, "bench_crypt: %s: %s\n", what, why ? why : "");
    return 1;
}

typedef struct times {
    double write_s, scan_s, point_s;
} times;

/* One run in dir (created): writes n visits, reads them back. */
static int run_once(const char *dir, const visit_set *vs, size_t n, uint8_t (*ids)[FS_ID_BYTES],
                    times *t)
{
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    fs_replica *r = NULL;
    uint8_t customer[FS_ID_BYTES];
    if (fs_replica_create(&r, dir, "pw", 2, &o) != 0)
        return die("create", fs_replica_errmsg(NULL));
    const fs_cell cc[] = {{"name", fs_text("XX科技有限公司 (XX Technology Co.)")},
                          {"owner", fs_text("zhang")}};
    if (fs_insert(r, "customer", cc, 2, customer) != 0)
        goto fail;
    fs_cell cells[1 + VF_COUNT];
    cells[0].column = "customer";
    cells[0].value = fs_blob(customer, sizeof customer);
    for (int f = 0; f < VF_COUNT; f++)
        cells[1 + f].column = field_column[f];
    size_t singles = n / 10;
    double t0 = bench_now();
    for (size_t i = 0; i < n; i++) {
        const visit_text *v = &vs->visits[i % vs->count];
        int batched = i >= singles;
        if (batched && (i - singles) % 100 == 0 && fs_begin(r) != 0)
            goto fail;
        for (int f = 0; f < VF_COUNT; f++)
            cells[1 + f].value = fs_textn(v->field[f], v->len[f]);
        if (fs_insert(r, "visit", cells, 1 + VF_COUNT, ids[i]) != 0)
            goto fail;
        if (batched && ((i - singles + 1) % 100 == 0 || i + 1 == n) && fs_commit(r) != 0)
            goto fail;
    }
    t->write_s = bench_now() - t0;
    fs_replica_close(r);
    r = NULL;

    if (fs_replica_open(&r, dir, "pw", 2, &o) != 0)
        return die("open", fs_replica_errmsg(NULL));
    fs_rows *it = NULL;
    size_t seen = 0, bytes = 0;
    t0 = bench_now();
    if (fs_rows_open(&it, r, "visit", NULL, NULL, "time") != 0)
        goto fail;
    int rc;
    while ((rc = fs_rows_next(it)) == 1) {
        fs_value v;
        for (int f = 0; f < VF_COUNT; f++)
            if (fs_rows_get(it, field_column[f], &v) == 0 && v.type == FS_TEXT)
                bytes += v.n;
        seen++;
    }
    fs_rows_close(it);
    t->scan_s = bench_now() - t0;
    if (rc != 0 || seen != n) {
        fprintf(stderr, "bench_crypt: read %zu visits of %zu\n", seen, n);
        goto fail;
    }
    fs_replica_close(r); /* the point reads start cold too */
    r = NULL;
    if (fs_replica_open(&r, dir, "pw", 2, &o) != 0)
        return die("open", fs_replica_errmsg(NULL));
    size_t found = 0;
    t0 = bench_now();
    for (size_t k = 0; k < POINT_READS; k++) {
        size_t i = (k * 7919u) % n;
        fs_value key = fs_blob(ids[i], FS_ID_BYTES);
        if (fs_rows_open(&it, r, "visit", "id", &key, NULL) != 0)
            goto fail;
        if (fs_rows_next(it) == 1) {
            fs_value v;
            if (fs_rows_get(it, "notes", &v) == 0)
                found++;
        }
        fs_rows_close(it);
    }
    t->point_s = bench_now() - t0;
    fs_replica_close(r);
    if (found != POINT_READS)
        return die("point reads", "a visit was not found by its id");
    (void)bytes;
    return 0;
fail:
    die("replica", fs_replica_errmsg(r));
    fs_replica_close(r);
    return 1;
}

/* 1 when dir/replica.db holds the marker in clear (a plain replica), 0 if
 * not, -1 on error: proves which mode a run used. */
static int file_has(const char *dir, const char *marker)
{
    char path[700];
    snprintf(path, sizeof path, "%s/replica.db", dir);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    size_t ml = strlen(marker), cap = 1 << 20, have = 0, n;
    char *buf = malloc(cap + ml);
    int hit = 0;
    if (buf == NULL) {
        fclose(f);
        return -1;
    }
    while (!hit && (n = fread(buf + have, 1, cap, f)) > 0) {
        size_t len = have + n;
        for (size_t i = 0; i + ml <= len && !hit; i++)
            hit = memcmp(buf + i, marker, ml) == 0;
        have = len < ml ? len : ml - 1;
        memmove(buf, buf + len - have, have);
    }
    free(buf);
    fclose(f);
    return hit;
}

int main(int argc, char **argv)
{
    size_t n = 20000, runs = 5;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            n = 2000, runs = 3;
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--visits") == 0 && i + 1 < argc &&
                 bench_parse_size(argv[++i], &n) == 0 && n >= 100)
            ;
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc &&
                 bench_parse_size(argv[++i], &runs) == 0 && runs > 0 && runs <= 99)
            ;
        else {
            fprintf(stderr, "usage: bench_crypt [--visits N] [--runs R] [--quick] [--json]\n");
            return 2;
        }
    }
    if (sodium_init() < 0)
        return die("libsodium", "cannot initialise");
    char dir[] = "/tmp/bench_crypt.XXXXXX";
    if (mkdtemp(dir) == NULL)
        return die("mkdtemp", strerror(errno));
    visit_set vs;
    if (visit_set_make_corpus(&vs, n, VISITS_FREE) != 0)
        return 1;
    uint8_t(*ids)[FS_ID_BYTES] = calloc(n, FS_ID_BYTES);
    double *w[2], *s[2], *p[2];
    for (int m = 0; m < 2; m++) {
        w[m] = calloc(runs, sizeof(double));
        s[m] = calloc(runs, sizeof(double));
        p[m] = calloc(runs, sizeof(double));
    }
    int status = 1;
    if (ids == NULL || !w[0] || !w[1] || !s[0] || !s[1] || !p[0] || !p[1]) {
        die("memory", "out of memory");
        goto out;
    }
    /* a phrase of the first visit's notes: in clear only in a plain file */
    char marker[24];
    size_t ml = vs.visits[0].len[VF_NOTES] < 16 ? vs.visits[0].len[VF_NOTES] : 16;
    memcpy(marker, vs.visits[0].field[VF_NOTES], ml);
    marker[ml] = '\0';
    for (size_t k = 0; k < runs; k++) {
        for (int m = 0; m < 2; m++) {
            char sub[600];
            times t;
            snprintf(sub, sizeof sub, "%s/%s%zu", dir, m ? "sealed" : "plain", k);
            plain = m == 0;
            if (run_once(sub, &vs, n, ids, &t) != 0)
                goto out;
            int clear = file_has(sub, marker);
            if (ml == 0 || clear < 0 || clear != (m == 0)) {
                die("check", m ? "the encrypted replica holds a visit's text in clear"
                               : "the plain replica does not hold the visits' text in clear");
                goto out;
            }
            w[m][k] = t.write_s;
            s[m][k] = t.scan_s;
            p[m][k] = t.point_s;
            if (nftw(sub, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
                fprintf(stderr, "bench_crypt: cannot remove %s\n", sub);
        }
    }
    double mw[2], ms[2], mp[2];
    for (int m = 0; m < 2; m++) {
        mw[m] = bench_median(w[m], runs);
        ms[m] = bench_median(s[m], runs);
        mp[m] = bench_median(p[m], runs);
    }
    double ow = mw[1] / mw[0] - 1, os = ms[1] / ms[0] - 1, op = mp[1] / mp[0] - 1;
    double orr = (ms[1] + mp[1]) / (ms[0] + mp[0]) - 1;
    char cpu[128];
    bench_cpu_model(cpu, sizeof cpu);
    printf("bench_crypt: %zu visits of the free corpus, medians of %zu alternating runs, CPU %s\n",
           n, runs, cpu);
    printf("%-44s %12s %12s %10s\n", "", "plain", "encrypted", "overhead");
    printf("%-44s %10.3f s %10.3f s %+9.1f %%\n", "writes: insert (1/tx for 10 %, then 100/tx)",
           mw[0], mw[1], 100 * ow);
    printf("%-44s %10.3f s %10.3f s %+9.1f %%\n", "reads: scan every visit, cold cache", ms[0],
           ms[1], 100 * os);
    printf("%-44s %10.3f s %10.3f s %+9.1f %%\n", "reads: 5,000 visits by id, cold cache", mp[0], mp[1],
           100 * op);
    printf("%-44s %23s %+9.1f %%  (Turso publishes 6 %% reads, 14 %% writes)\n", "reads: both",
           "", 100 * orr);
    if (json)
        printf("{\"bench\":\"crypt\",\"visits\":%zu,\"runs\":%zu,\"plain_write_s\":%.4f,"
               "\"sealed_write_s\":%.4f,\"plain_scan_s\":%.4f,\"sealed_scan_s\":%.4f,"
               "\"plain_point_s\":%.4f,\"sealed_point_s\":%.4f,\"write_overhead\":%.4f,"
               "\"read_overhead\":%.4f}\n",
               n, runs, mw[0], mw[1], ms[0], ms[1], mp[0], mp[1], ow, orr);
    status = 0;
out:
    for (int m = 0; m < 2; m++) {
        free(w[m]);
        free(s[m]);
        free(p[m]);
    }
    free(ids);
    visit_set_free(&vs);
    if (nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "bench_crypt: cannot remove %s\n", dir);
    return status;
}
