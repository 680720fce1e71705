/*
 * bench_search: `fieldsync search` on a replica of 100,000 visits (issue 17
 * point 2; target: under 50 ms a query on this machine), against a raw
 * SQLite FTS5 query on the same data in the same process.
 *
 * The visits' notes, objections and next steps are generated Chinese-like
 * text that does not repeat: characters drawn one by one, with a skewed
 * (Zipf-like) frequency, from 3,000 CJK ideographs, seeded, so a substring
 * of four characters names a handful of visits, as a real phrase does.
 * The visits are written through the replica API (fs_insert, 1,000 per
 * transaction: each write queues its record for the index), the first
 * search indexes the queue, and the replica's index is built once more as
 * an upgrade would (meta 'search' dropped, reopened).
 *
 * Baseline: a plain SQLite database (default VFS, no encryption) holding the
 * same folded bodies in a rowid table with the same FTS5 trigram table over
 * it, queried with a statement prepared once: the floor of any FTS5 search.
 * fieldsync's figure is fs_search whole: folding the query with OpenCC,
 * preparing the statement, the encrypted pages.
 *
 * Queries: substrings of random visits' notes, of 4 characters (the index),
 * 3 characters (the index's shortest) and 2 characters (no trigram: a scan
 * of the bodies), each timed alone; the median and 95th percentile of each
 * class are reported, after one warm-up query (the first query reads the
 * index's pages from disk into the cache).
 *
 *   bench_search [--quick] [--visits N] [--queries N]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "common.h"
#include "fieldsync/error.h"
#include "fieldsync/replica.h"
#include "replica_int.h"
#include "rng.h"

#ifndef FS_BENCH_VERSION
#define FS_BENCH_VERSION "?"
#endif
#ifndef FS_BENCH_BUILD_TYPE
#define FS_BENCH_BUILD_TYPE "?"
#endif
#if defined(__SANITIZE_ADDRESS__)
#define BENCH_SANITIZED 1
#endif
#ifndef BENCH_SANITIZED
#define BENCH_SANITIZED 0
#endif

#define NCHARS 3000
#define TARGET_MS 50.0
#define MAXQ 2000

static rng g = {0x5ea4c4u};

/* One character: index below NCHARS, small ones far more often. */
static unsigned draw_char(void)
{
    /* The product of two uniforms skews toward 0 (a density falling like
     * -log x), roughly the shape of Chinese character frequencies. */
    unsigned a = rng_below(&g, NCHARS), b = rng_below(&g, NCHARS);
    return (unsigned)((unsigned long)a * b / NCHARS);
}

/* Appends n generated characters (UTF-8, 3 bytes each) with a comma now
 * and then; returns the new end. */
static char *gen_text(char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned cp = 0x4E00 + draw_char() * 7; /* spread over the CJK block */
        if (i > 0 && rng_below(&g, 12) == 0) {
            memcpy(p, "，", 3);
            p += 3;
        }
        *p++ = (char)(0xE0 | (cp >> 12));
        *p++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *p++ = (char)(0x80 | (cp & 0x3F));
    }
    *p = '\0';
    return p;
}

static int fail(const char *what, int rc, fs_replica *r)
{
    fprintf(stderr, "bench_search: %s: %s (%s)\n", what, fs_errname(rc),
            r ? fs_replica_errmsg(r) : fs_strerror(rc));
    return 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

/* A substring of `chars` characters of the notes text s (ideographs only:
 * it does not start on or cross a comma). */
static int pick_query(const char *s, unsigned chars, char *out)
{
    size_t n = strlen(s) / 3;
    for (int tries = 0; tries < 50; tries++) {
        size_t at = rng_below(&g, (unsigned)(n - chars));
        const char *p = s + at * 3;
        /* s is all 3-byte characters, so at*3 is a boundary. */
        int ok = 1;
        for (unsigned k = 0; k < chars; k++)
            ok &= memcmp(p + k * 3, "，", 3) != 0;
        if (ok) {
            memcpy(out, p, chars * 3);
            out[chars * 3] = '\0';
            return 0;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    size_t nvisits = 100000, nq = 200;
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
            nvisits = 2000;
            nq = 20;
        } else if (strcmp(argv[i], "--visits") == 0 && i + 1 < argc) {
            if (bench_parse_size(argv[++i], &nvisits) != 0 || nvisits < 10)
                return fprintf(stderr, "bench_search: --visits needs a number >= 10\n"), 2;
        } else if (strcmp(argv[i], "--queries") == 0 && i + 1 < argc) {
            if (bench_parse_size(argv[++i], &nq) != 0 || nq > MAXQ)
                return fprintf(stderr, "bench_search: --queries needs 1..%d\n", MAXQ), 2;
        } else {
            fprintf(stderr, "usage: bench_search [--quick] [--visits N] [--queries N]\n");
            return 2;
        }
    }
    if (sodium_init() < 0)
        return fprintf(stderr, "bench_search: sodium_init failed\n"), 1;
    char tmpdir[512];
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/fieldsync-bsearch-XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(tmpdir) == NULL)
        return fprintf(stderr, "bench_search: mkdtemp: %s\n", strerror(errno)), 1;

    char model[256];
    bench_cpu_model(model, sizeof model);
    struct utsname u;
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    printf("bench_search: fieldsync search (fs_search) vs a raw SQLite FTS5 query%s\n",
           quick ? " (--quick: a smoke run, figures meaningless)" : "");
    printf("machine:  %ld CPUs online, %s, %s %s %s\n", sysconf(_SC_NPROCESSORS_ONLN), model,
           u.sysname, u.release, u.machine);
    printf("versions: fieldsync %s (%s), SQLite %s, fold %s\n", FS_BENCH_VERSION,
           FS_BENCH_BUILD_TYPE, sqlite3_libversion(), fs_fold_kind());
    if (BENCH_SANITIZED)
        printf("WARNING:  built with sanitizers: the figures below are not representative\n");

    /* ---- the replica ---- */
    char rdir[600];
    snprintf(rdir, sizeof rdir, "%s/replica", tmpdir);
    fs_replica *r = NULL;
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    int rc = fs_replica_create(&r, rdir, "bench", 5, &o);
    if (rc != 0)
        return fail("create", rc, NULL);
    uint8_t cust[16], vid[16];
    fs_cell cc[] = {{"name", fs_text("基准测试客户")}};
    if ((rc = fs_insert(r, "customer", cc, 1, cust)) != 0)
        return fail("insert customer", rc, r);
    char **notes = calloc(nvisits, sizeof *notes);
    char *buf = malloc(3 * 4096);
    if (notes == NULL || buf == NULL)
        return fprintf(stderr, "bench_search: out of memory\n"), 1;
    size_t text_bytes = 0;
    double t0 = bench_now();
    for (size_t i = 0; i < nvisits; i++) {
        if (i % 1000 == 0 && (rc = fs_begin(r)) != 0)
            return fail("begin", rc, r);
        char *nb = buf, *ob, *sb;
        char *e = gen_text(nb, 60 + rng_below(&g, 80));
        notes[i] = strdup(nb);
        ob = e + 1;
        e = gen_text(ob, 10 + rng_below(&g, 30));
        sb = e + 1;
        gen_text(sb, 10 + rng_below(&g, 30));
        if (notes[i] == NULL)
            return fprintf(stderr, "bench_search: out of memory\n"), 1;
        text_bytes += strlen(nb) + strlen(ob) + strlen(sb);
        /* a fixed time: rows go straight into the replica, not through the
         * client's 30-day check, and nothing here compares them with now */
        fs_cell v[] = {{"customer", fs_blob(cust, 16)}, {"time", fs_text("2026-12-03 10:00")},
                       {"place", fs_text("客户会议室")}, {"purpose", fs_text("需求调研")},
                       {"notes", fs_text(nb)},          {"objections", fs_text(ob)},
                       {"next_steps", fs_text(sb)}};
        if ((rc = fs_insert(r, "visit", v, 7, vid)) != 0)
            return fail("insert visit", rc, r);
        if ((i % 1000 == 999 || i + 1 == nvisits) && (rc = fs_commit(r)) != 0)
            return fail("commit", rc, r);
    }
    double t_write = bench_now() - t0;
    printf("visits:   %zu, notes/objections/next steps of generated non-repeating text "
           "(characters drawn from %d ideographs), %.0f bytes of text each\n",
           nvisits, NCHARS, (double)text_bytes / (double)nvisits);
    printf("write:    %.1f s through fs_insert (1,000 per transaction, each queued for the index), %.0f visits/s\n",
           t_write, (double)nvisits / t_write);

    /* The first search indexes what the writes queued. */
    {
        fs_search_hit h[1];
        size_t n = 0;
        t0 = bench_now();
        if ((rc = fs_search(r, "基准", NULL, h, 1, &n)) != 0)
            return fail("first search", rc, r);
        printf("queue:    the first search indexed the %zu queued visits in %.1f s\n", nvisits,
               bench_now() - t0);
    }
    /* The index built again, as on upgrade: meta 'search' dropped, reopened. */
    if (sqlite3_exec(fs__replica_db(r), "DELETE FROM meta WHERE k='search'", NULL, NULL, NULL) !=
        SQLITE_OK)
        return fprintf(stderr, "bench_search: cannot drop meta 'search'\n"), 1;
    fs_replica_close(r);
    t0 = bench_now();
    if ((rc = fs_replica_open(&r, rdir, "bench", 5, &o)) != 0)
        return fail("reopen", rc, NULL);
    double t_build = bench_now() - t0;
    printf("upgrade:  the index of %zu visits built at open in %.1f s (one transaction)\n",
           nvisits, t_build);

    /* ---- the baseline: the same folded bodies in plain SQLite ---- */
    char bpath[700];
    snprintf(bpath, sizeof bpath, "%s/baseline.db", tmpdir);
    sqlite3 *db = NULL;
    if (sqlite3_open(bpath, &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA page_size=8192;"
                     " PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;"
                     "CREATE TABLE docs(docid INTEGER PRIMARY KEY, body TEXT NOT NULL);"
                     "CREATE VIRTUAL TABLE fts USING fts5(body, content='docs',"
                     " content_rowid='docid', tokenize='trigram');",
                     NULL, NULL, NULL) != SQLITE_OK)
        return fprintf(stderr, "bench_search: baseline: %s\n", sqlite3_errmsg(db)), 1;
    {
        sqlite3_stmt *rd = NULL, *wr = NULL;
        if (sqlite3_prepare_v2(fs__replica_db(r), "SELECT docid, body FROM search_doc", -1, &rd,
                               NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db, "INSERT INTO docs(docid, body) VALUES(?1, ?2)", -1, &wr,
                               NULL) != SQLITE_OK)
            return fprintf(stderr, "bench_search: baseline copy failed\n"), 1;
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        while (sqlite3_step(rd) == SQLITE_ROW) {
            sqlite3_bind_int64(wr, 1, sqlite3_column_int64(rd, 0));
            sqlite3_bind_text(wr, 2, (const char *)sqlite3_column_text(rd, 1), -1,
                              SQLITE_TRANSIENT);
            if (sqlite3_step(wr) != SQLITE_DONE)
                return fprintf(stderr, "bench_search: baseline: %s\n", sqlite3_errmsg(db)), 1;
            sqlite3_reset(wr);
        }
        sqlite3_finalize(rd);
        sqlite3_finalize(wr);
        if (sqlite3_exec(db, "INSERT INTO fts(fts) VALUES('rebuild'); COMMIT", NULL, NULL, NULL) !=
            SQLITE_OK)
            return fprintf(stderr, "bench_search: baseline: %s\n", sqlite3_errmsg(db)), 1;
    }
    sqlite3_stmt *q_fts = NULL, *q_scan = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT d.docid FROM fts JOIN docs d ON d.docid=fts.rowid"
                           " WHERE fts MATCH ?1 ORDER BY fts.rank LIMIT 20",
                           -1, &q_fts, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT docid FROM docs WHERE instr(body, ?1) > 0"
                           " ORDER BY docid DESC LIMIT 20",
                           -1, &q_scan, NULL) != SQLITE_OK)
        return fprintf(stderr, "bench_search: baseline: %s\n", sqlite3_errmsg(db)), 1;

    /* ---- queries ---- */
    static const unsigned lens[] = {4, 3, 2};
    static double tf[MAXQ], tb[MAXQ];
    printf("\n%-22s %7s %10s %10s %10s %10s %7s %8s %8s\n", "query", "queries", "fs median",
           "fs p95", "raw median", "raw p95", "ratio", "hits", "target");
    int all_ok = 1;
    for (size_t L = 0; L < sizeof lens / sizeof lens[0]; L++) {
        size_t hits_total = 0, done = 0;
        fs_search_hit hits[20];
        for (size_t qi = 0; qi <= nq && done < nq; qi++) {
            char q[64];
            if (pick_query(notes[rng_below(&g, (unsigned)nvisits)], lens[L], q) != 0)
                continue;
            /* The baseline gets the query folded as fs_search folds it
             * (untimed): the bodies are folded text. */
            char *fq = NULL, phrase[80];
            if (fs_fold(q, strlen(q), &fq) != 0)
                return fprintf(stderr, "bench_search: out of memory\n"), 1;
            snprintf(phrase, sizeof phrase, "\"%s\"", fq);
            size_t n = 0;
            double a = bench_now();
            rc = fs_search(r, q, NULL, hits, 20, &n);
            double b = bench_now();
            if (rc != 0)
                return fail("fs_search", rc, r);
            sqlite3_stmt *st = lens[L] >= 3 ? q_fts : q_scan;
            sqlite3_bind_text(st, 1, lens[L] >= 3 ? phrase : fq, -1, SQLITE_TRANSIENT);
            free(fq);
            size_t nb = 0;
            double c = bench_now();
            while (sqlite3_step(st) == SQLITE_ROW)
                nb++;
            sqlite3_reset(st);
            double d = bench_now();
            if (nb != n) {
                fprintf(stderr, "bench_search: %zu hits from fieldsync, %zu from the baseline\n", n,
                        nb);
                return 1;
            }
            if (qi == 0)
                continue; /* the warm-up query */
            tf[done] = (b - a) * 1000.0;
            tb[done] = (d - c) * 1000.0;
            hits_total += n;
            done++;
        }
        if (done == 0)
            continue;
        double fm = pct(tf, done, 0.5), fp = pct(tf, done, 0.95);
        double bm = pct(tb, done, 0.5), bp = pct(tb, done, 0.95);
        int ok = fp < TARGET_MS;
        all_ok &= ok;
        char name[40];
        snprintf(name, sizeof name, "%u chars%s", lens[L], lens[L] < 3 ? " (scan)" : " (trigram)");
        printf("%-22s %7zu %8.2fms %8.2fms %8.3fms %8.3fms %7.1f %8.1f %4s%s\n", name, done, fm, fp,
               bm, bp, bm > 0 ? fm / bm : 0.0, (double)hits_total / (double)done,
               ok ? "OK" : "MISS", " <50");
    }
    printf("\nratio: fieldsync median / raw median (same data, same process); hits: mean "
           "records returned (at most 20); target: fieldsync p95 under %.0f ms\n",
           TARGET_MS);
    sqlite3_finalize(q_fts);
    sqlite3_finalize(q_scan);
    sqlite3_close(db);
    size_t problems = 0;
    if (quick && ((rc = fs_replica_check(r, &problems)) != 0 || problems != 0))
        return fprintf(stderr, "bench_search: fs_replica_check: %zu problems\n", problems), 1;
    fs_replica_close(r);
    for (size_t i = 0; i < nvisits; i++)
        free(notes[i]);
    free(notes);
    free(buf);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_search: warning: could not remove %s\n", tmpdir);
    (void)all_ok;
    return 0;
}
