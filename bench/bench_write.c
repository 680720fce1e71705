/*
 * bench_write: local write throughput of visit records, libfieldsync against a
 * raw SQLite baseline that does the least any synced store has to do.
 *
 * Both sides write the same pre-generated visits: 10 columns (the customer id
 * and 9 text fields of mixed Chinese/English text, ~450 bytes of field values,
 * different for every row).
 *   baseline   a plain, unencrypted SQLite file in WAL mode with
 *              synchronous=NORMAL; the row goes to visit(id, 11 columns)
 *              WITHOUT ROWID and one change-log row per column written to
 *              log(seq, tbl, row, col, value, hlc); 16-byte ids laid out
 *              as fieldsync's (the clock's milliseconds, then 10 random
 *              bytes from libsodium: ids that sort by creation are the
 *              store's choice, not the baseline's handicap), prepared
 *              statements.
 *   fieldsync  fs_insert() into a replica created with fs_kdf_minimum, which
 *              encrypts every page, versions every column and writes the
 *              change log.
 * Each in two modes: one visit per transaction, and --batch visits per
 * transaction (fs_begin/fs_commit). Every run writes a fresh database; creating
 * it, inserting its one customer and closing it are not timed. Each figure is
 * the median of --reps runs, and baseline and fieldsync runs alternate (and
 * swap order every repetition) so that drift of the machine affects both.
 * Replicas are reopened and verified with fs_replica_check() and a row count
 * after the timed part: every run with --quick, the first of each mode
 * otherwise.
 *
 * Exit status: 0 when every run completed and verified (a MISS is a figure,
 * not a failure; --strict makes it exit 2), 1 on any error. A mode whose run
 * fails is reported as ERROR and the other mode is still measured.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "fieldsync/error.h"
#include "fieldsync/keyfile.h"
#include "fieldsync/replica.h"
#include "rng.h"
#include "common.h"
#include "visits.h"

#ifndef FS_BENCH_VERSION
#define FS_BENCH_VERSION "?"
#endif
#ifndef FS_BENCH_BUILD_TYPE
#define FS_BENCH_BUILD_TYPE "?"
#endif

#if defined(__SANITIZE_ADDRESS__)
#define BENCH_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BENCH_SANITIZED 1
#endif
#endif
#ifndef BENCH_SANITIZED
#define BENCH_SANITIZED 0
#endif

#define PASSPHRASE     "bench passphrase"
#define VISIT_TABLE_NO 2 /* index of "visit" in fs_schema_tables(), for the baseline log */

/* ---- the visits ------------------------------------------------------------ */


/* ---- helpers --------------------------------------------------------------- */


static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Removes a file or a directory tree (no symlinks are followed). 0 or -1. */
static int remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int rc = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char child[4096];
        if (snprintf(child, sizeof child, "%s/%s", path, e->d_name) >= (int)sizeof child) {
            rc = -1;
            continue;
        }
        if (remove_tree(child) != 0)
            rc = -1;
    }
    closedir(d);
    if (rmdir(path) != 0)
        rc = -1;
    return rc;
}

/* Removes a baseline database and its WAL and shared-memory files. */
static void remove_sqlite_files(const char *db)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char path[1200];
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        snprintf(path, sizeof path, "%s%s", db, suffix[i]);
        remove_tree(path);
    }
}




/* ---- baseline: raw SQLite -------------------------------------------------- */

static int sql_fail(sqlite3 *db, const char *what)
{
    fprintf(stderr, "bench_write: baseline %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
    return FS_EDB;
}

static const char baseline_schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE visit(id BLOB PRIMARY KEY, deleted INT, customer BLOB, contact TEXT,"
    " position TEXT, time TEXT, place TEXT, purpose TEXT, notes TEXT, objections TEXT,"
    " next_steps TEXT, visitor TEXT) WITHOUT ROWID;"
    "CREATE TABLE log(seq INTEGER PRIMARY KEY, tbl INT, row BLOB, col INT, value ANY, hlc INT);";

/* Writes rows visits to a new database at path, batch visits per transaction,
 * and stores the seconds the writes took in *secs. verify: count the rows
 * afterwards. Returns 0 or FS_EDB (message printed). The files are removed. */
static int run_baseline(const char *path, const visit_set *vs, size_t rows, size_t batch,
                        int verify, double *secs)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL, *logins = NULL, *begin = NULL, *commit = NULL;
    uint8_t customer[FS_ID_BYTES];
    uint64_t hlc = 0;
    int rc = FS_EDB;

    *secs = 0;
    randombytes_buf(customer, sizeof customer);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        sql_fail(db, "open");
        goto out;
    }
    if (sqlite3_exec(db, baseline_schema, NULL, NULL, NULL) != SQLITE_OK) {
        sql_fail(db, "schema");
        goto out;
    }
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO visit(id, deleted, customer, contact, position, time,"
                           " place, purpose, notes, objections, next_steps, visitor)"
                           " VALUES(?1, 0, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                           -1, &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO log(tbl, row, col, value, hlc) VALUES(?1, ?2, ?3, ?4, ?5)",
                           -1, &logins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "BEGIN", -1, &begin, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL) != SQLITE_OK) {
        sql_fail(db, "prepare");
        goto out;
    }

    double t0 = bench_now();
    for (size_t i = 0; i < rows; i++) {
        const visit_text *v = &vs->visits[i % vs->count];
        uint8_t id[FS_ID_BYTES];

        if (i % batch == 0 && (sqlite3_step(begin) != SQLITE_DONE || sqlite3_reset(begin))) {
            sql_fail(db, "BEGIN");
            goto out;
        }
        uint64_t now = wall_ms();
        for (int k = 0; k < FS_ID_CLOCK_BYTES; k++)
            id[k] = (uint8_t)(now >> (8 * (FS_ID_CLOCK_BYTES - 1 - k)));
        randombytes_buf(id + FS_ID_CLOCK_BYTES, sizeof id - FS_ID_CLOCK_BYTES);
        sqlite3_bind_blob(ins, 1, id, sizeof id, SQLITE_STATIC);
        sqlite3_bind_blob(ins, 2, customer, sizeof customer, SQLITE_STATIC);
        for (int f = 0; f < VF_COUNT; f++)
            sqlite3_bind_text(ins, 3 + f, v->field[f], (int)v->len[f], SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE || sqlite3_reset(ins) != SQLITE_OK) {
            sql_fail(db, "insert visit");
            goto out;
        }
        /* One log row per column written: customer (column 1), then the text
         * fields (columns 2..10), each with its own clock value. */
        for (int c = 1; c <= VF_COUNT + 1; c++) {
            uint64_t ms = wall_ms() << 16;
            hlc = ms > hlc ? ms : hlc + 1;
            sqlite3_bind_int(logins, 1, VISIT_TABLE_NO);
            sqlite3_bind_blob(logins, 2, id, sizeof id, SQLITE_STATIC);
            sqlite3_bind_int(logins, 3, c);
            if (c == 1)
                sqlite3_bind_blob(logins, 4, customer, sizeof customer, SQLITE_STATIC);
            else
                sqlite3_bind_text(logins, 4, v->field[c - 2], (int)v->len[c - 2], SQLITE_STATIC);
            sqlite3_bind_int64(logins, 5, (sqlite3_int64)hlc);
            if (sqlite3_step(logins) != SQLITE_DONE || sqlite3_reset(logins) != SQLITE_OK) {
                sql_fail(db, "insert log");
                goto out;
            }
        }
        if ((i + 1) % batch == 0 || i + 1 == rows) {
            if (sqlite3_step(commit) != SQLITE_DONE || sqlite3_reset(commit) != SQLITE_OK) {
                sql_fail(db, "COMMIT");
                goto out;
            }
        }
    }
    *secs = bench_now() - t0;

    if (verify) {
        sqlite3_stmt *count = NULL;
        sqlite3_int64 nvisit = -1, nlog = -1;
        if (sqlite3_prepare_v2(db,
                               "SELECT (SELECT count(*) FROM visit), (SELECT count(*) FROM log)",
                               -1, &count, NULL) == SQLITE_OK &&
            sqlite3_step(count) == SQLITE_ROW) {
            nvisit = sqlite3_column_int64(count, 0);
            nlog = sqlite3_column_int64(count, 1);
        }
        sqlite3_finalize(count);
        if (nvisit != (sqlite3_int64)rows || nlog != (sqlite3_int64)rows * (VF_COUNT + 1)) {
            fprintf(
                stderr,
                "bench_write: baseline holds %lld visits and %lld log rows, expected %zu and %zu\n",
                (long long)nvisit, (long long)nlog, rows, rows * (VF_COUNT + 1));
            goto out;
        }
    }
    rc = 0;
out:
    sqlite3_finalize(ins);
    sqlite3_finalize(logins);
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_close(db);
    remove_sqlite_files(path);
    return rc;
}

/* ---- fieldsync ------------------------------------------------------------- */

static int fs_fail(fs_replica *r, const char *what, int rc)
{
    fprintf(stderr, "bench_write: fieldsync %s: %s (%s)%s%s\n", what, fs_errname(rc),
            fs_strerror(rc), r ? ": " : "", r ? fs_replica_errmsg(r) : "");
    return rc;
}

/* Reopens the replica in dir and checks it: fs_replica_check() finds no
 * problem and it holds exactly rows live visits. Returns 0 or an error code. */
static int verify_replica(const char *dir, size_t rows)
{
    fs_replica *r = NULL;
    fs_rows *it = NULL;
    size_t problems = 0, live = 0;
    int rc = fs_replica_open(&r, dir, PASSPHRASE, strlen(PASSPHRASE), NULL);
    if (rc != 0) {
        fs_fail(r, "reopen", rc);
        goto out;
    }
    rc = fs_replica_check(r, &problems);
    if (rc != 0) {
        fs_fail(r, "fs_replica_check", rc);
        goto out;
    }
    if (problems != 0) {
        fprintf(stderr, "bench_write: fs_replica_check found %zu problems; first: %s\n", problems,
                fs_replica_errmsg(r));
        rc = FS_EINTEGRITY;
        goto out;
    }
    rc = fs_rows_open(&it, r, "visit", NULL, NULL, NULL);
    if (rc != 0) {
        fs_fail(r, "fs_rows_open", rc);
        goto out;
    }
    while ((rc = fs_rows_next(it)) == 1)
        live++;
    if (rc < 0) {
        fs_fail(r, "fs_rows_next", rc);
        goto out;
    }
    rc = 0;
    if (live != rows) {
        fprintf(stderr, "bench_write: the replica holds %zu visits, expected %zu\n", live, rows);
        rc = FS_EINTEGRITY;
    }
out:
    fs_rows_close(it);
    fs_replica_close(r);
    return rc;
}

/* Writes rows visits with fs_insert() to a new replica in dir (batch 1: each
 * insert commits on its own; otherwise fs_begin/fs_commit around batch
 * visits) and stores the seconds the writes took in *secs. verify: reopen and
 * check the replica afterwards. Returns 0 or an error code (message printed).
 * The directory is removed. */
static int run_fieldsync(const char *dir, const visit_set *vs, size_t rows, size_t batch,
                         int verify, double *secs)
{
    fs_replica *r = NULL;
    fs_replica_opts opts;
    uint8_t customer[FS_ID_BYTES], id[FS_ID_BYTES];
    int rc;

    *secs = 0;
    memset(&opts, 0, sizeof opts);
    opts.kdf = &fs_kdf_minimum;
    rc = fs_replica_create(&r, dir, PASSPHRASE, strlen(PASSPHRASE), &opts);
    if (rc != 0) {
        fs_fail(r, "fs_replica_create", rc);
        goto out;
    }
    const fs_cell customer_cells[] = {
        {"name", fs_text("XX科技有限公司 (XX Technology Co.)")},
        {"industry", fs_text("制造业 / manufacturing")},
        {"owner", fs_text("zhangwei")},
    };
    rc = fs_insert(r, "customer", customer_cells, 3, customer);
    if (rc != 0) {
        fs_fail(r, "insert customer", rc);
        goto out;
    }

    fs_cell cells[1 + VF_COUNT];
    cells[0].column = "customer";
    cells[0].value = fs_blob(customer, sizeof customer);
    for (int f = 0; f < VF_COUNT; f++)
        cells[1 + f].column = field_column[f];

    double t0 = bench_now();
    for (size_t i = 0; i < rows; i++) {
        const visit_text *v = &vs->visits[i % vs->count];
        if (batch > 1 && i % batch == 0) {
            rc = fs_begin(r);
            if (rc != 0) {
                fs_fail(r, "fs_begin", rc);
                goto out;
            }
        }
        for (int f = 0; f < VF_COUNT; f++)
            cells[1 + f].value = fs_textn(v->field[f], v->len[f]);
        rc = fs_insert(r, "visit", cells, 1 + VF_COUNT, id);
        if (rc != 0) {
            fs_fail(r, "insert visit", rc);
            goto out;
        }
        if (batch > 1 && ((i + 1) % batch == 0 || i + 1 == rows)) {
            rc = fs_commit(r);
            if (rc != 0) {
                fs_fail(r, "fs_commit", rc);
                goto out;
            }
        }
    }
    *secs = bench_now() - t0;
    fs_replica_close(r);
    r = NULL;
    if (verify)
        rc = verify_replica(dir, rows);
out:
    fs_replica_close(r);
    if (remove_tree(dir) != 0)
        fprintf(stderr, "bench_write: warning: could not remove %s\n", dir);
    return rc;
}

/* ---- the report ------------------------------------------------------------ */

static void print_machine(const char *tmpdir, const visit_set *vs)
{
    char model[256];
    bench_cpu_model(model, sizeof model);
    struct utsname u;
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);

    printf("machine:  %ld CPUs online, %s, %s %s %s\n", sysconf(_SC_NPROCESSORS_ONLN), model,
           u.sysname, u.release, u.machine);
    printf("versions: fieldsync %s (%s), SQLite %s, libsodium %s, compiler %s\n", FS_BENCH_VERSION,
           FS_BENCH_BUILD_TYPE, sqlite3_libversion(), sodium_version_string(), __VERSION__);
    if (BENCH_SANITIZED)
        printf("WARNING:  built with sanitizers: the figures below are not representative\n");
    printf("visits:   10 columns (customer id + 9 mixed Chinese/English text fields), "
           "%.0f bytes of field values on average (%zu..%zu)\n",
           (double)vs->value_bytes / (double)vs->count, vs->min_bytes, vs->max_bytes);
    printf("files:    %s (removed afterwards)\n", tmpdir);
}

typedef struct bench_mode {
    const char *name;
    size_t rows, batch;
    double target;
    double base[64], fs[64]; /* visits/s of each repetition */
    int failed;              /* a run failed (message printed): no figure */
} bench_mode;

static void usage(FILE *to)
{
    fprintf(to, "usage: bench_write [--quick] [--single N] [--batched N] [--batch N] [--reps N] "
                "[--strict]\n"
                "  --single N   visits written one per transaction (default 5000)\n"
                "  --batched N  visits written in batches (default 50000)\n"
                "  --batch N    visits per transaction in batched mode (default 1000)\n"
                "  --reps N     repetitions; the median is reported (default 3, at most 64)\n"
                "  --quick      a smoke run: 20 + 1200 visits, one repetition, every replica "
                "verified\n"
                "  --strict     exit 2 when a figure misses its target\n");
}

int main(int argc, char **argv)
{
    size_t single = 5000, batched = 50000, batch = 1000, reps = 3;
    int quick = 0, strict = 0, rc = 1;
    char tmpdir[1024] = "";
    visit_set vs;

    memset(&vs, 0, sizeof vs);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        size_t *target = NULL;
        if (strcmp(a, "--quick") == 0) {
            quick = 1;
        } else if (strcmp(a, "--strict") == 0) {
            strict = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--single") == 0) {
            target = &single;
        } else if (strcmp(a, "--batched") == 0) {
            target = &batched;
        } else if (strcmp(a, "--batch") == 0) {
            target = &batch;
        } else if (strcmp(a, "--reps") == 0) {
            target = &reps;
        } else {
            usage(stderr);
            return 1;
        }
        if (target != NULL && (i + 1 >= argc || bench_parse_size(argv[++i], target) != 0)) {
            fprintf(stderr, "bench_write: %s needs a positive number\n", a);
            return 1;
        }
    }
    if (quick) {
        single = 20;
        batched = 1200;
        reps = 1;
    }
    if (reps > 64)
        reps = 64;
    if (sodium_init() < 0) {
        fprintf(stderr, "bench_write: sodium_init failed\n");
        return 1;
    }

    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/fieldsync-bench-XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        fprintf(stderr, "bench_write: mkdtemp %s: %s\n", tmpdir, strerror(errno));
        tmpdir[0] = '\0';
        goto out;
    }
    /* Enough distinct visits that no two rows of a run share their text. */
    if (visit_set_make(&vs, batched > single ? batched : single) != 0) {
        fprintf(stderr, "bench_write: out of memory\n");
        goto out;
    }

    static bench_mode modes[2];
    char batch_name[32];
    snprintf(batch_name, sizeof batch_name, "%zu visits/tx", batch);
    modes[0].name = "1 visit/tx";
    modes[0].rows = single;
    modes[0].batch = 1;
    modes[0].target = 0.5;
    modes[1].name = batch_name;
    modes[1].rows = batched;
    modes[1].batch = batch;
    modes[1].target = 0.6;

    printf("bench_write: local write throughput of visits, raw SQLite baseline vs libfieldsync%s\n",
           quick ? " (--quick: a smoke run, figures meaningless)" : "");
    print_machine(tmpdir, &vs);
    printf("method:   median of %zu run%s, fresh database each run, baseline and fieldsync "
           "interleaved\n",
           reps, reps == 1 ? "" : "s");
    fflush(stdout);

    for (size_t rep = 0; rep < reps; rep++) {
        for (size_t m = 0; m < 2; m++) {
            bench_mode *bm = &modes[m];
            int verify = quick || rep == 0;
            for (int k = 0; k < 2 && !bm->failed; k++) {
                /* Even repetitions run the baseline first, odd ones fieldsync. */
                int fieldsync_turn = (k == 0) == (rep % 2 == 1);
                char path[1100];
                double secs = 0;
                int r;
                if (fieldsync_turn) {
                    snprintf(path, sizeof path, "%s/fs-%zu-%zu", tmpdir, m, rep);
                    r = run_fieldsync(path, &vs, bm->rows, bm->batch, verify, &secs);
                } else {
                    snprintf(path, sizeof path, "%s/baseline-%zu-%zu.db", tmpdir, m, rep);
                    r = run_baseline(path, &vs, bm->rows, bm->batch, verify, &secs);
                }
                if (r != 0) {
                    /* Go on with the other mode: its figures still mean something. */
                    fprintf(stderr, "bench_write: %s %s run failed; no figure for this mode\n",
                            bm->name, fieldsync_turn ? "fieldsync" : "baseline");
                    bm->failed = 1;
                    break;
                }
                double rate = secs > 0 ? (double)bm->rows / secs : 0;
                if (fieldsync_turn)
                    bm->fs[rep] = rate;
                else
                    bm->base[rep] = rate;
            }
        }
    }

    printf("\n%-16s %7s %14s %14s %7s %8s  %s\n", "mode", "visits", "baseline v/s", "fieldsync v/s",
           "ratio", "target", "result");
    int missed = 0, failed = 0;
    for (size_t m = 0; m < 2; m++) {
        bench_mode *bm = &modes[m];
        if (bm->failed) {
            char rows_s[32];
            failed++;
            printf("%-16s %7s %14s %14s %7s %8s  %s\n", bm->name,
                   bench_fmt_count(rows_s, sizeof rows_s, (double)bm->rows), "-", "-", "-", "-",
                   "ERROR (see above)");
            continue;
        }
        double b = bench_median(bm->base, reps), f = bench_median(bm->fs, reps);
        double ratio = b > 0 ? f / b : 0;
        char rows_s[32], b_s[32], f_s[32], target_s[16];
        int pass = ratio >= bm->target;
        missed += !pass;
        snprintf(target_s, sizeof target_s, ">= %.2f", bm->target);
        printf("%-16s %7s %14s %14s %7.2f %8s  %s\n", bm->name,
               bench_fmt_count(rows_s, sizeof rows_s, (double)bm->rows), bench_fmt_count(b_s, sizeof b_s, b),
               bench_fmt_count(f_s, sizeof f_s, f), ratio, target_s, pass ? "PASS" : "MISS");
    }
    printf("\nruns (visits/s):\n");
    for (size_t m = 0; m < 2; m++) {
        if (modes[m].failed)
            continue;
        printf("  %-14s baseline", modes[m].name);
        for (size_t rep = 0; rep < reps; rep++)
            printf(" %.0f", modes[m].base[rep]);
        printf("; fieldsync");
        for (size_t rep = 0; rep < reps; rep++)
            printf(" %.0f", modes[m].fs[rep]);
        printf("\n");
    }
    if (failed) {
        rc = 1;
        goto out;
    }
    printf("replicas verified: fs_replica_check 0 problems, visit count exact (%s)\n",
           quick ? "every run" : "first run of each mode");
    rc = strict && missed ? 2 : 0;
out:
    visit_set_free(&vs);
    if (tmpdir[0] != '\0' && remove_tree(tmpdir) != 0)
        fprintf(stderr, "bench_write: warning: could not remove %s\n", tmpdir);
    return rc;
}
