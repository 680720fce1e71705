/*
 * The feed of a server's replica (core/feed.c): entries of one row write
 * each, their changes packed. Every value type and clock pattern read back
 * unchanged; long runs of one row split into entries that reads never cut;
 * rolled-back changes never fed; format-1 stores converted on open (or left
 * as they were when they cannot be); damaged entries refused with a message
 * that names the entry and nothing of its values.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fieldsync/keyfile.h"
#include "fieldsync/replica.h"
#include "fieldsync/schema.h"
#include "fieldsync/vfs.h"
#include "replica_int.h"
#include "test.h"

#define V1_TABLE_SQL                                                                               \
    "CREATE TABLE feed(seq INTEGER PRIMARY KEY, tbl INTEGER NOT NULL, col INTEGER NOT NULL,"       \
    " row BLOB NOT NULL, value, hlc INTEGER NOT NULL, dev INTEGER NOT NULL,"                       \
    " prev_hlc INTEGER NOT NULL, prev_dev INTEGER NOT NULL);"

/* ---- helpers ---- */

static fs_replica *fresh_feed(const char *dir, const char *name, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", dir, name);
    fs_replica *r = NULL;
    fs_replica_opts o = {.kdf = &fs_kdf_minimum, .keep_feed = 1};
    CHECK_OK(fs_replica_create(&r, path, "pw", 2, &o));
    return r;
}

static int open_feed(fs_replica **r, const char *path)
{
    fs_replica_opts o = {.kdf = &fs_kdf_minimum, .keep_feed = 1};
    return fs_replica_open(r, path, "pw", 2, &o);
}

/* Registers the device id made of byte b and returns its index. */
static uint32_t dev(fs_replica *r, uint8_t b)
{
    uint8_t id[FS_ID_BYTES];
    memset(id, b, sizeof id);
    id[0] = 0xD0; /* never all one byte like a row id below */
    uint32_t idx = 0;
    CHECK_OK(fs__dev_index(r, id, &idx));
    CHECK(idx != 0);
    return idx;
}

static void row_id(uint8_t id[FS_ID_BYTES], uint8_t b)
{
    for (int i = 0; i < FS_ID_BYTES; i++)
        id[i] = (uint8_t)(b + i);
}

static double real_bits(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static uint64_t bits_of(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

/* The changes a test expects back, in order; value bytes stay the caller's. */
typedef struct wanted {
    fs_change *c;
    size_t n, cap;
} wanted;

static void want(wanted *w, unsigned tix, unsigned col, const uint8_t row[FS_ID_BYTES], fs_value v,
                 uint64_t hlc, const uint8_t dev_id[FS_ID_BYTES], uint64_t prev_hlc,
                 const uint8_t prev_id[FS_ID_BYTES])
{
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        w->c = realloc(w->c, w->cap * sizeof *w->c);
        CHECK(w->c != NULL);
    }
    fs_change *c = &w->c[w->n++];
    memset(c, 0, sizeof *c);
    c->table = (uint16_t)tix;
    c->column = (uint16_t)col;
    memcpy(c->row, row, FS_ID_BYTES);
    c->value = v;
    c->version.hlc = hlc;
    memcpy(c->version.device, dev_id, FS_ID_BYTES);
    c->prev.hlc = prev_hlc;
    memcpy(c->prev.device, prev_id, FS_ID_BYTES);
}

/* Appends one change to the feed and to what the test expects. */
static void put(fs_replica *r, wanted *w, unsigned tix, unsigned col,
                const uint8_t row[FS_ID_BYTES], fs_value v, uint64_t hlc, uint32_t d,
                uint64_t prev_hlc, uint32_t prev_d)
{
    CHECK_OK(fs__feed_append(r, tix, col, row, &v, hlc, d, prev_hlc, prev_d));
    want(w, tix, col, row, v, hlc, fs__dev_id(r, d), prev_hlc, fs__dev_id(r, prev_d));
}

static void check_change(const fs_change *g, const fs_change *w, size_t k)
{
    if (g->table != w->table || g->column != w->column)
        FAIL("change %zu: table %u column %u, expected %u and %u", k, g->table, g->column, w->table,
             w->column);
    if (memcmp(g->row, w->row, FS_ID_BYTES) != 0)
        FAIL("change %zu: another row", k);
    if (g->value.type != w->value.type)
        FAIL("change %zu: value type %d, expected %d", k, (int)g->value.type, (int)w->value.type);
    switch (w->value.type) {
    case FS_NULL:
        break;
    case FS_INT:
        if (g->value.i != w->value.i)
            FAIL("change %zu: INT %" PRId64 ", expected %" PRId64, k, g->value.i, w->value.i);
        break;
    case FS_REAL:
        if (bits_of(g->value.r) != bits_of(w->value.r))
            FAIL("change %zu: REAL bits %016" PRIx64 ", expected %016" PRIx64, k,
                 bits_of(g->value.r), bits_of(w->value.r));
        break;
    case FS_TEXT:
    case FS_BLOB:
        if (g->value.n != w->value.n)
            FAIL("change %zu: %zu bytes, expected %zu", k, g->value.n, w->value.n);
        if (g->value.p == NULL)
            FAIL("change %zu: no bytes", k);
        if (w->value.n > 0 && memcmp(g->value.p, w->value.p, w->value.n) != 0)
            FAIL("change %zu: other bytes", k);
        if (w->value.type == FS_TEXT && ((const char *)g->value.p)[g->value.n] != '\0')
            FAIL("change %zu: text not NUL-terminated", k);
        break;
    }
    if (g->version.hlc != w->version.hlc)
        FAIL("change %zu: hlc %" PRIu64 ", expected %" PRIu64, k, g->version.hlc, w->version.hlc);
    if (memcmp(g->version.device, w->version.device, FS_ID_BYTES) != 0)
        FAIL("change %zu: another writer", k);
    if (g->prev.hlc != w->prev.hlc)
        FAIL("change %zu: prev hlc %" PRIu64 ", expected %" PRIu64, k, g->prev.hlc, w->prev.hlc);
    if (memcmp(g->prev.device, w->prev.device, FS_ID_BYTES) != 0)
        FAIL("change %zu: another prev device", k);
}

/* A batch holds exactly w[from .. from + cs->count). */
static void check_batch(const fs_changeset *cs, const wanted *w, size_t from, size_t count)
{
    if (cs->count != count)
        FAIL("batch of %zu changes, expected %zu", cs->count, count);
    CHECK(from + count <= w->n);
    for (size_t k = 0; k < count; k++)
        check_change(&cs->changes[k], &w->c[from + k], from + k);
}

static void check_all(fs_replica *r, const wanted *w, uint64_t first, uint64_t last)
{
    fs_changeset *cs = NULL;
    CHECK_OK(fs_feed_since(r, 0, SIZE_MAX, &cs));
    check_batch(cs, w, 0, w->n);
    CHECK_EQ_INT(cs->first_seq, first);
    CHECK_EQ_INT(cs->last_seq, last);
    fs_changeset_free(cs);
}

static uint64_t feed_last(fs_replica *r)
{
    uint64_t s = 0;
    CHECK_OK(fs_feed_last(r, &s));
    return s;
}

static void sql(sqlite3 *db, const char *s)
{
    char *err = NULL;
    if (sqlite3_exec(db, s, NULL, NULL, &err) != SQLITE_OK)
        FAIL("%s: %s", s, err ? err : "?");
    sqlite3_free(err);
}

static long long sql_int(sqlite3 *db, const char *q)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK)
        FAIL("%s: %s", q, sqlite3_errmsg(db));
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The replica's database opened directly (as the server's tools would),
 * through the encrypting VFS: for looking at what a failed open left. */
typedef struct raw_db {
    sqlite3 *db;
    fs_cryptvfs *vfs;
} raw_db;

static raw_db raw_open(const char *path)
{
    char keypath[800], dbpath[800];
    snprintf(keypath, sizeof keypath, "%s/replica.key", path);
    snprintf(dbpath, sizeof dbpath, "%s/replica.db", path);
    fs_secret *s = NULL;
    CHECK_OK(fs_keyfile_unlock(keypath, "pw", 2, &s));
    raw_db d = {0};
    CHECK_OK(fs_cryptvfs_new(&d.vfs, s));
    fs_secret_free(s);
    CHECK_EQ_INT(sqlite3_open_v2(dbpath, &d.db, SQLITE_OPEN_READWRITE, fs_cryptvfs_name(d.vfs)),
                 SQLITE_OK);
    sql(d.db, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL;");
    return d;
}

static void raw_close(raw_db d)
{
    CHECK_EQ_INT(sqlite3_close(d.db), SQLITE_OK);
    fs_cryptvfs_free(d.vfs);
}

static void bind_value(sqlite3_stmt *st, int i, const fs_value *v)
{
    int src = SQLITE_OK;
    switch (v->type) {
    case FS_NULL:
        src = sqlite3_bind_null(st, i);
        break;
    case FS_INT:
        src = sqlite3_bind_int64(st, i, v->i);
        break;
    case FS_REAL:
        src = sqlite3_bind_double(st, i, v->r);
        break;
    case FS_TEXT:
        src = sqlite3_bind_text(st, i, v->n ? v->p : "", (int)v->n, SQLITE_TRANSIENT);
        break;
    case FS_BLOB:
        src = sqlite3_bind_blob(st, i, v->n ? v->p : "", (int)v->n, SQLITE_TRANSIENT);
        break;
    }
    CHECK_EQ_INT(src, SQLITE_OK);
}

/* One format-1 feed row; row_len other than 16 makes a damaged one. */
static void v1_row(sqlite3 *db, int64_t seq, unsigned tbl, unsigned col, const uint8_t *row,
                   int row_len, fs_value v, uint64_t hlc, uint32_t d, uint64_t prev_hlc,
                   uint32_t prev_d)
{
    sqlite3_stmt *st = NULL;
    CHECK_EQ_INT(sqlite3_prepare_v2(db,
                                    "INSERT INTO feed(seq,tbl,col,row,value,hlc,dev,prev_hlc,"
                                    "prev_dev) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
                                    -1, &st, NULL),
                 SQLITE_OK);
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int(st, 2, (int)tbl);
    sqlite3_bind_int(st, 3, (int)col);
    sqlite3_bind_blob(st, 4, row, row_len, SQLITE_STATIC);
    bind_value(st, 5, &v);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)hlc);
    sqlite3_bind_int64(st, 7, d);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)prev_hlc);
    sqlite3_bind_int64(st, 9, prev_d);
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

/* Replaces the replica's feed with an empty format-1 one. */
static void make_v1(sqlite3 *db)
{
    sql(db, "DROP TABLE feed;" V1_TABLE_SQL "UPDATE meta SET v=1 WHERE k='feed';");
}

/* ---- 1. round trip ---- */

static void test_round_trip(void)
{
    char *dir = test_tmpdir(), path[700];
    fs_replica *r = fresh_feed(dir, "s", path, sizeof path);
    wanted w = {0};
    uint8_t a[16], b[16], c[16], me[16];
    row_id(a, 0x10);
    row_id(b, 0x40);
    row_id(c, 0x80);
    fs_replica_device(r, me);

    CHECK_OK(fs_begin(r));
    uint32_t d1 = dev(r, 0xA1), d2 = dev(r, 0xB2), d3 = dev(r, 0xC3), self = 0;
    CHECK_OK(fs__dev_index(r, me, &self));
    CHECK(d1 != d2 && d2 != d3 && d1 != d3 && self != d1 && self != d2 && self != d3);
    CHECK_EQ_INT(dev(r, 0xB2), d2); /* known: the same index */

    const uint64_t h = 0x00018BCFE5680001ull;
    /* Row a of table 0: numbers, clocks going down as well as up. */
    put(r, &w, 0, 0, a, fs_null(), h, d1, 0, 0);
    put(r, &w, 0, 1, a, fs_int(INT64_MIN), h - 5, d2, h - 100, d1);
    put(r, &w, 0, 2, a, fs_int(INT64_MAX), h + 100000, self, h + 200000, d3);
    put(r, &w, 0, 3, a, fs_int(0), h + 100000, d1, 0, 0);
    put(r, &w, 0, 4, a, fs_int(-1), 1, d3, UINT64_MAX, d2);
    put(r, &w, 0, 5, a, fs_real(-0.0), UINT64_MAX, d2, 1, d1);
    put(r, &w, 0, 6, a, fs_real(real_bits(0x7FF8000000000ABCull)), UINT64_MAX - 1, d1, 0, 0);
    put(r, &w, 0, 7, a, fs_real(1e308), 2, d1, UINT64_MAX - 7, d3);
    put(r, &w, 0, 8, a, fs_real(real_bits(0xFFF0000000000001ull | 0x0008000000000000ull)), 3, d2, 2,
        d2);
    put(r, &w, 0, 9, a, fs_real(4.9e-324), 4, d3, 0, 0);
    put(r, &w, 0, 10, a, fs_real(-INFINITY), 5, d3, 0, 0);
    put(r, &w, 0, 0xFFFF, a, fs_int(123456789012345), h, self, h, self);

    /* Row b of table 1: text and blobs. */
    size_t big_n = 100 * 1024;
    char *big = malloc(big_n);
    CHECK(big != NULL);
    const char *pat = "世界 𠮷 abc "; /* 3 + 1 + 4 + 5 bytes */
    for (size_t k = 0; k < big_n; k++)
        big[k] = pat[k % strlen(pat)];
    char odd[255]; /* every byte but NUL, invalid UTF-8 included */
    for (int k = 0; k < 255; k++)
        odd[k] = (char)(k + 1);
    const uint8_t bytes[16] = {0, 1, 2, 0xFF, 0, 0x80, 0x7F, 'x', 0, 0, 9, 10, 13, 0xFE, 0, 1};
    put(r, &w, 1, 1, b, fs_textn("", 0), h, d1, 0, 0);
    put(r, &w, 1, 2, b, fs_text("héllo, 世界 𠮷 ✓"), h + 1, d2, h, d1);
    put(r, &w, 1, 3, b, fs_textn(big, big_n), h + 2, d3, 0, 0);
    put(r, &w, 1, 4, b, fs_blob(NULL, 0), h - 1, d1, 0, 0);
    put(r, &w, 1, 5, b, fs_blob(bytes, sizeof bytes), h + 3, self, h + 2, d3);
    put(r, &w, 1, 6, b, fs_textn(odd, sizeof odd), h + 3, d2, 0, 0);
    put(r, &w, 1, 7, b, fs_blob("", 0), h + 4, d2, 0, 0);

    /* Back to row a: another entry; the same row id in table 1: another. */
    put(r, &w, 0, 1, a, fs_int(7), h + 9, d1, h - 5, d2);
    put(r, &w, 1, 1, a, fs_text("same id, other table"), h + 10, d1, 0, 0);
    /* Row c of table 2. */
    put(r, &w, 2, 1, c, fs_int(42), 0x0000FFFFFFFFFFFFull, d2, 0, 0);
    put(r, &w, 2, 2, c, fs_null(), 0x0000FFFFFFFFFFFEull, d3, 0x0000FFFFFFFFFFFFull, d2);
    CHECK_OK(fs_commit(r));

    CHECK_EQ_INT(feed_last(r), 5); /* one entry per row switch */
    sqlite3 *db = fs__replica_db(r);
    CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM feed"), 5);
    CHECK_EQ_INT(sql_int(db, "SELECT sum(n) FROM feed"), (long long)w.n);
    check_all(r, &w, 1, 5);

    /* The same from disk, with the device dictionary read back. */
    fs_replica_close(r);
    CHECK_OK(open_feed(&r, path));
    check_all(r, &w, 1, 5);
    CHECK_EQ_INT(feed_last(r), 5);
    fs_replica_close(r);
    free(big);
    free(w.c);
    test_rmtree(dir);
}

/* ---- 2. long runs, whole entries ---- */

static void test_long_run_splits_and_reads_whole_entries(void)
{
    char *dir = test_tmpdir(), path[700];
    fs_replica *r = fresh_feed(dir, "s", path, sizeof path);
    wanted w = {0};
    uint8_t a[16], b[16], c[16];
    row_id(a, 1);
    row_id(b, 2);
    row_id(c, 3);
    CHECK_OK(fs_begin(r));
    uint32_t d1 = dev(r, 1), d2 = dev(r, 2);
    const size_t run = 2 * FS__FEED_ENTRY_MAX + 88;
    for (size_t k = 0; k < run; k++) {
        uint64_t hlc = (1ull << 40) + (k * 7919u) % 1000u; /* up and down */
        put(r, &w, 0, (unsigned)(k % 40), a, fs_int((int64_t)k * 1000003 - 5), hlc, k % 3 ? d1 : d2,
            k % 2 ? hlc - 3 : 0, k % 2 ? d2 : 0);
    }
    put(r, &w, 1, 1, b, fs_text("b"), 5, d1, 0, 0);
    for (unsigned k = 0; k < 3; k++)
        put(r, &w, 2, k, c, fs_real(k + 0.5), 6 + k, d2, 0, 0);
    CHECK_OK(fs_commit(r));
    const size_t total = run + 4;
    CHECK_EQ_INT(w.n, total);

    /* Entries of at most FS__FEED_ENTRY_MAX changes. */
    sqlite3 *db = fs__replica_db(r);
    sqlite3_stmt *st = NULL;
    CHECK_EQ_INT(sqlite3_prepare_v2(db, "SELECT seq, n FROM feed ORDER BY seq", -1, &st, NULL),
                 SQLITE_OK);
    const long long ns[] = {FS__FEED_ENTRY_MAX, FS__FEED_ENTRY_MAX, 88, 1, 3};
    for (int k = 0; k < 5; k++) {
        CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
        CHECK_EQ_INT(sqlite3_column_int64(st, 0), k + 1);
        CHECK_EQ_INT(sqlite3_column_int64(st, 1), ns[k]);
    }
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    CHECK_EQ_INT(feed_last(r), 5);
    check_all(r, &w, 1, 5);

    /* A small max: whole entries only, the first one in any case. */
    struct {
        uint64_t after;
        size_t max;
        size_t from, count;
        uint64_t first, last;
    } cases[] = {
        {0, 1, 0, 256, 1, 1},     {0, 255, 0, 256, 1, 1},
        {0, 256, 0, 256, 1, 1},   {0, 511, 0, 256, 1, 1},
        {0, 512, 0, 512, 1, 2},   {0, 600, 0, 600, 1, 3},
        {0, 601, 0, 601, 1, 4},   {1, 10, 256, 256, 2, 2},
        {2, 89, 512, 89, 3, 4},   {2, 91, 512, 89, 3, 4},
        {3, 3, 600, 1, 4, 4},     {3, 4, 600, 4, 4, 5},
        {4, 1, 601, 3, 5, 5},     {5, 10, total, 0, 0, 0},
        {99, 10, total, 0, 0, 0}, {UINT64_MAX, 1, total, 0, 0, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        fs_changeset *cs = NULL;
        CHECK_OK(fs_feed_since(r, cases[k].after, cases[k].max, &cs));
        if (cs->count != cases[k].count || cs->first_seq != cases[k].first ||
            cs->last_seq != cases[k].last)
            FAIL("after %" PRIu64 " max %zu: %zu changes %" PRIu64 "..%" PRIu64
                 ", expected %zu %" PRIu64 "..%" PRIu64,
                 cases[k].after, cases[k].max, cs->count, cs->first_seq, cs->last_seq,
                 cases[k].count, cases[k].first, cases[k].last);
        check_batch(cs, &w, cases[k].from, cases[k].count);
        fs_changeset_free(cs);
    }

    /* Walking by cursor sees every change once, in order. */
    const size_t maxes[] = {1, 2, 7, 255, 256, 257, 300, 1000, SIZE_MAX};
    for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++) {
        uint64_t cursor = 0;
        size_t seen = 0, calls = 0;
        for (;;) {
            fs_changeset *cs = NULL;
            CHECK_OK(fs_feed_since(r, cursor, maxes[m], &cs));
            calls++;
            if (cs->count == 0) {
                fs_changeset_free(cs);
                break;
            }
            CHECK_EQ_INT(cs->first_seq, cursor + 1); /* seqs here have no gaps */
            CHECK(cs->last_seq >= cs->first_seq);
            CHECK(cs->count <= maxes[m] || cs->first_seq == cs->last_seq);
            check_batch(cs, &w, seen, cs->count);
            seen += cs->count;
            cursor = cs->last_seq;
            fs_changeset_free(cs);
            CHECK(calls < 100);
        }
        CHECK_EQ_INT(seen, total);
        CHECK_EQ_INT(cursor, 5);
    }

    fs_changeset *cs = NULL;
    CHECK_ERR(fs_feed_since(r, 0, 0, &cs), FS_EINVAL);
    CHECK(cs == NULL);
    fs_replica_close(r);
    free(w.c);
    test_rmtree(dir);
}

/* The feed read by bytes (issue 25.1): whole entries while their packed
 * changes stay within max_bytes, the first entry in any case; a walk by
 * cursor under a bound sees every change once. */
static void test_feed_since_bytes_reads_whole_entries(void)
{
    char *dir = test_tmpdir(), path[700];
    fs_replica *r = fresh_feed(dir, "s", path, sizeof path);
    static char name[10001];
    uint8_t id[FS_ID_BYTES];
    for (int k = 0; k < 5; k++) {
        memset(name, 'a' + k, sizeof name - 1);
        name[sizeof name - 1] = '\0';
        fs_cell c[] = {{"name", fs_text(name)}, {"key_account", fs_int(k % 2)}};
        CHECK_OK(fs_insert(r, "customer", c, 2, id)); /* one entry each */
    }
    CHECK_EQ_INT(feed_last(r), 5);
    size_t len[5], n[5], total = 0;
    sqlite3_stmt *st = NULL;
    CHECK_EQ_INT(sqlite3_prepare_v2(fs__replica_db(r),
                                    "SELECT length(changes), n FROM feed ORDER BY seq", -1, &st,
                                    NULL),
                 SQLITE_OK);
    for (int k = 0; k < 5; k++) {
        CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
        len[k] = (size_t)sqlite3_column_int64(st, 0);
        n[k] = (size_t)sqlite3_column_int64(st, 1);
        CHECK(len[k] > 10000);
        total += n[k];
    }
    sqlite3_finalize(st);
    struct {
        uint64_t after;
        size_t max, max_bytes;
        uint64_t last; /* entries after..last */
    } cases[] = {
        {0, SIZE_MAX, 1, 1},                                /* the first in any case */
        {0, SIZE_MAX, len[0], 1},                           /* it fits exactly */
        {0, SIZE_MAX, len[0] + len[1] - 1, 1},              /* one byte short of two */
        {0, SIZE_MAX, len[0] + len[1], 2},
        {1, SIZE_MAX, len[1] + len[2] + len[3], 4},
        {0, n[0], SIZE_MAX, 1},                             /* the count bounds too */
        {0, SIZE_MAX, SIZE_MAX, 5},
        {5, SIZE_MAX, 1, 0},                                /* nothing after the end */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fs_changeset *cs = NULL;
        CHECK_OK(fs_feed_since_bytes(r, cases[i].after, cases[i].max, cases[i].max_bytes, &cs));
        size_t want = 0;
        for (uint64_t k = cases[i].after; k < cases[i].last; k++)
            want += n[k];
        if (cs->count != want || cs->last_seq != cases[i].last)
            FAIL("case %zu: %zu changes up to %" PRIu64 ", expected %zu up to %" PRIu64, i,
                 cs->count, cs->last_seq, want, cases[i].last);
        fs_changeset_free(cs);
    }
    const size_t bounds[] = {1, 10000, 15000, 25000, 40000};
    for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++) {
        uint64_t cursor = 0;
        size_t seen = 0, calls = 0;
        for (;;) {
            fs_changeset *cs = NULL;
            CHECK_OK(fs_feed_since_bytes(r, cursor, SIZE_MAX, bounds[b], &cs));
            size_t got = cs->count;
            if (got > 0) {
                CHECK_EQ_INT(cs->first_seq, cursor + 1);
                cursor = cs->last_seq;
            }
            seen += got;
            fs_changeset_free(cs);
            if (got == 0)
                break;
            CHECK(++calls <= 5);
        }
        CHECK_EQ_INT(seen, total);
        CHECK_EQ_INT(cursor, 5);
    }
    fs_replica_close(r);
    test_rmtree(dir);
}

/* The entries at chosen sequences (fs_feed_entries, the server's scoped
 * pull): the same changes fs_feed_since gives for those entries, a prefix
 * within the bounds (the first in any case), and sequences out of order or
 * with no entry refused. */
static void test_feed_entries_at_sequences(void)
{
    char *dir = test_tmpdir(), path[700];
    fs_replica *r = fresh_feed(dir, "e", path, sizeof path);
    static char name[5001];
    uint8_t id[FS_ID_BYTES];
    for (int k = 0; k < 6; k++) {
        memset(name, 'a' + k, sizeof name - 1);
        name[sizeof name - 1] = '\0';
        fs_cell c[] = {{"name", fs_text(name)}, {"key_account", fs_int(k % 2)}};
        CHECK_OK(fs_insert(r, "customer", c, 2, id)); /* one entry each, 2 changes */
    }
    CHECK_EQ_INT(feed_last(r), 6);
    const uint64_t seqs[] = {2, 3, 5};
    fs_changeset *cs = NULL, *one = NULL;
    CHECK_OK(fs_feed_entries(r, seqs, 3, SIZE_MAX, SIZE_MAX, &cs));
    CHECK_EQ_INT(cs->count, 6);
    CHECK_EQ_INT(cs->first_seq, 2);
    CHECK_EQ_INT(cs->last_seq, 5);
    for (size_t i = 0; i < 3; i++) {
        CHECK_OK(fs_feed_since(r, seqs[i] - 1, 2, &one));
        CHECK_EQ_INT(one->count, 2);
        for (size_t k = 0; k < 2; k++) {
            const fs_change *a = &cs->changes[2 * i + k], *b = &one->changes[k];
            CHECK(a->table == b->table && a->column == b->column);
            CHECK_MEM(a->row, b->row, FS_ID_BYTES);
            CHECK(a->version.hlc == b->version.hlc);
            CHECK(a->value.type == b->value.type);
            if (a->value.type == FS_TEXT) {
                CHECK_EQ_INT(a->value.n, b->value.n);
                CHECK_MEM(a->value.p, b->value.p, a->value.n);
            }
        }
        fs_changeset_free(one);
    }
    fs_changeset_free(cs);
    /* bounds: by changes, by bytes (the first in any case) */
    CHECK_OK(fs_feed_entries(r, seqs, 3, 4, SIZE_MAX, &cs));
    CHECK_EQ_INT(cs->count, 4);
    CHECK_EQ_INT(cs->last_seq, 3);
    fs_changeset_free(cs);
    CHECK_OK(fs_feed_entries(r, seqs, 3, SIZE_MAX, 1, &cs));
    CHECK_EQ_INT(cs->count, 2);
    CHECK_EQ_INT(cs->last_seq, 2);
    fs_changeset_free(cs);
    CHECK_OK(fs_feed_entries(r, seqs, 0, 10, SIZE_MAX, &cs)); /* none asked: none read */
    CHECK_EQ_INT(cs->count, 0);
    fs_changeset_free(cs);
    const uint64_t backwards[] = {3, 2}, missing[] = {4, 9};
    CHECK_ERR(fs_feed_entries(r, backwards, 2, 10, SIZE_MAX, &cs), FS_EINVAL);
    CHECK(cs == NULL);
    CHECK_ERR(fs_feed_entries(r, missing, 2, 10, SIZE_MAX, &cs), FS_ENOTFOUND);
    CHECK(cs == NULL);
    CHECK_ERR(fs_feed_entries(r, seqs, 3, 0, SIZE_MAX, &cs), FS_EINVAL);
    fs_replica_close(r);
    test_rmtree(dir);
}

/* ---- 3. discard ---- */

static void test_rolled_back_changes_never_fed(void)
{
    char *dir = test_tmpdir(), path[700];
    fs_replica *r = fresh_feed(dir, "s", path, sizeof path);
    wanted w = {0}, junk = {0};
    uint8_t x[16], y[16], z[16];
    row_id(x, 0x11);
    row_id(y, 0x22);
    row_id(z, 0x33);
    CHECK_OK(fs_begin(r));
    uint32_t d1 = dev(r, 1);
    CHECK_OK(fs_commit(r));

    /* Rolled back: an entry already written in the transaction and one
     * still being built. */
    CHECK_OK(fs_begin(r));
    for (unsigned k = 0; k < 3; k++)
        put(r, &junk, 0, k, x, fs_text("dropped"), 100 + k, d1, 0, 0);
    put(r, &junk, 0, 0, y, fs_int(1), 200, d1, 0, 0); /* writes x's entry */
    put(r, &junk, 0, 1, y, fs_int(2), 201, d1, 0, 0);
    fs_rollback(r);
    CHECK_EQ_INT(feed_last(r), 0);
    fs_changeset *cs = NULL;
    CHECK_OK(fs_feed_since(r, 0, SIZE_MAX, &cs));
    CHECK_EQ_INT(cs->count, 0);
    fs_changeset_free(cs);

    /* A rolled-back change of row x is not in x's next entry. */
    CHECK_OK(fs_begin(r));
    put(r, &junk, 0, 1, x, fs_text("dropped"), 300, d1, 0, 0);
    fs_rollback(r);
    CHECK_OK(fs_begin(r));
    put(r, &w, 0, 2, x, fs_text("kept x"), 301, d1, 0, 0);
    CHECK_OK(fs_commit(r));
    /* Nor does a rolled-back entry of x get written ahead of z's. */
    CHECK_OK(fs_begin(r));
    put(r, &junk, 0, 3, x, fs_text("dropped"), 400, d1, 0, 0);
    fs_rollback(r);
    CHECK_OK(fs_begin(r));
    put(r, &w, 1, 4, z, fs_text("kept z"), 500, d1, 0, 0);
    CHECK_OK(fs_commit(r));
    CHECK_EQ_INT(feed_last(r), 2);
    check_all(r, &w, 1, 2);

    /* Through the API: a rolled-back insert; a refused one next to a kept
     * one. */
    uint8_t id[16], id2[16];
    fs_cell cells[] = {{"name", fs_text("rolled back")}, {"key_account", fs_int(1)}};
    CHECK_OK(fs_begin(r));
    CHECK_OK(fs_insert(r, "customer", cells, 2, id));
    fs_rollback(r);
    CHECK_EQ_INT(feed_last(r), 2);
    CHECK_OK(fs_begin(r));
    fs_cell bad[] = {{"key_account", fs_int(1)}}; /* no name: refused */
    CHECK(fs_insert(r, "customer", bad, 1, id2) != 0);
    fs_cell good[] = {{"name", fs_text("kept")}, {"key_account", fs_int(0)}};
    CHECK_OK(fs_insert(r, "customer", good, 2, id));
    CHECK_OK(fs_commit(r));
    CHECK_EQ_INT(feed_last(r), 3);
    CHECK_OK(fs_feed_since(r, 2, SIZE_MAX, &cs));
    CHECK(cs->count >= 2);
    int tix = fs_schema_table_index("customer"), named = 0;
    for (size_t k = 0; k < cs->count; k++) {
        CHECK_MEM(cs->changes[k].row, id, 16);
        CHECK_EQ_INT(cs->changes[k].table, tix);
        if (cs->changes[k].value.type == FS_TEXT)
            named += strcmp(cs->changes[k].value.p, "kept") == 0;
        CHECK(cs->changes[k].value.type != FS_TEXT ||
              strcmp(cs->changes[k].value.p, "rolled back") != 0);
    }
    CHECK_EQ_INT(named, 1);
    fs_changeset_free(cs);
    fs_replica_close(r);
    free(w.c);
    free(junk.c);
    test_rmtree(dir);
}

/* ---- 4. format 1 ---- */

static void test_format1_converted_on_open(void)
{
    char *dir = test_tmpdir(), path[700];
    fs_replica *r = fresh_feed(dir, "s", path, sizeof path);
    wanted w = {0};
    uint8_t a[16], b[16], c[16], e[16], ids[4][16];
    row_id(a, 0x10);
    row_id(b, 0x20);
    row_id(c, 0x30);
    row_id(e, 0x50);
    CHECK_OK(fs_begin(r));
    uint32_t d[4] = {0, dev(r, 1), dev(r, 2), dev(r, 3)};
    CHECK_OK(fs_commit(r));
    for (int k = 0; k < 4; k++)
        memcpy(ids[k], fs__dev_id(r, d[k]), 16);
    sqlite3 *db = fs__replica_db(r);
    make_v1(db);

    static const uint8_t blob3[3] = {0x00, 0xFF, 0x10};
    const uint64_t high = 0xFFFFFFFFFFFFFF00ull; /* negative as SQLite's integer */
    struct {
        int64_t seq;
        unsigned tbl, col;
        const uint8_t *row;
        fs_value v;
        uint64_t hlc;
        int dev;
        uint64_t prev_hlc;
        int prev_dev;
    } rows[] = {
        {5, 0, 1, a, fs_text("text one"), 1000, 1, 0, 0},
        {6, 0, 2, a, fs_int(42), 1001, 1, 900, 2},
        {7, 0, 3, a, fs_null(), 999, 2, 0, 0},
        {10, 1, 1, b, fs_blob(blob3, 3), 2000, 3, 1500, 1},
        {11, 1, 2, b, fs_real(2.5), 2001, 3, 0, 0},
        {20, 0, 1, a, fs_textn("", 0), 3000, 1, 2999, 1},
        {21, 0, 4, a, fs_int(INT64_MIN), high, 2, high + 5, 3},
        {30, 2, 65535, c, fs_text("tail 世界"), 5, 1, 0, 0},
    };
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        v1_row(db, rows[k].seq, rows[k].tbl, rows[k].col, rows[k].row, 16, rows[k].v, rows[k].hlc,
               d[rows[k].dev], rows[k].prev_hlc, d[rows[k].prev_dev]);
        want(&w, rows[k].tbl, rows[k].col, rows[k].row, rows[k].v, rows[k].hlc, ids[rows[k].dev],
             rows[k].prev_hlc, ids[rows[k].prev_dev]);
    }
    /* A run longer than an entry holds: seqs 100..399. */
    uint8_t dd[16];
    row_id(dd, 0x40);
    for (int k = 0; k < 300; k++) {
        fs_value v = k % 2 ? fs_int(k) : fs_real(k * -1.25);
        v1_row(db, 100 + k, 1, (unsigned)k % 7, dd, 16, v, 7000 + (uint64_t)(k % 5), d[1 + k % 3],
               0, 0);
        want(&w, 1, (unsigned)k % 7, dd, v, 7000 + (uint64_t)(k % 5), ids[1 + k % 3], 0, ids[0]);
    }
    fs_replica_close(r);

    CHECK_OK(open_feed(&r, path));
    db = fs__replica_db(r);
    CHECK_EQ_INT(sql_int(db, "SELECT v FROM meta WHERE k='feed'"), 2);
    CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM sqlite_master WHERE name='feed_v1'"), 0);
    CHECK_EQ_INT(sql_int(db, "SELECT count(*) FROM pragma_table_info('feed') WHERE name='n'"), 1);
    check_all(r, &w, 7, 399);
    CHECK_EQ_INT(feed_last(r), 399);

    /* Each run is one entry with the run's last sequence. */
    const uint64_t seqs[] = {7, 11, 21, 30, 355, 399};
    const size_t counts[] = {3, 2, 2, 1, 256, 44};
    uint64_t cursor = 0;
    size_t from = 0;
    for (int k = 0; k < 6; k++) {
        fs_changeset *cs = NULL;
        CHECK_OK(fs_feed_since(r, cursor, 1, &cs));
        CHECK_EQ_INT(cs->first_seq, seqs[k]);
        CHECK_EQ_INT(cs->last_seq, seqs[k]);
        check_batch(cs, &w, from, counts[k]);
        from += counts[k];
        cursor = cs->last_seq;
        fs_changeset_free(cs);
    }
    CHECK_EQ_INT(from, w.n);

    /* A cursor inside a run gets the whole run again, from its start. */
    const struct {
        uint64_t after;
        size_t from;
        uint64_t first;
    } inside[] = {{5, 0, 7},   {6, 0, 7},   {9, 3, 11},    {10, 3, 11},   {12, 5, 21},
                  {20, 5, 21}, {29, 7, 30}, {100, 8, 355}, {354, 8, 355}, {355, 264, 399}};
    for (size_t k = 0; k < sizeof inside / sizeof inside[0]; k++) {
        fs_changeset *cs = NULL;
        CHECK_OK(fs_feed_since(r, inside[k].after, SIZE_MAX, &cs));
        CHECK_EQ_INT(cs->first_seq, inside[k].first);
        CHECK_EQ_INT(cs->last_seq, 399);
        check_batch(cs, &w, inside[k].from, w.n - inside[k].from);
        fs_changeset_free(cs);
    }

    /* New writes follow the converted feed. */
    CHECK_OK(fs_begin(r));
    put(r, &w, 0, 1, e, fs_text("after"), 9000, d[2], 0, 0);
    CHECK_OK(fs_commit(r));
    CHECK_EQ_INT(feed_last(r), 400);
    fs_replica_close(r);
    CHECK_OK(open_feed(&r, path)); /* already format 2: opens as it is */
    check_all(r, &w, 7, 400);
    fs_replica_close(r);
    free(w.c);
    test_rmtree(dir);
}

static void test_format1_damaged_left_as_it_was(void)
{
    char *dir = test_tmpdir(), path[700];
    fs_replica *r = fresh_feed(dir, "s", path, sizeof path);
    uint8_t a[16], b[16];
    row_id(a, 0x10);
    row_id(b, 0x20);
    CHECK_OK(fs_begin(r));
    uint32_t d1 = dev(r, 1);
    CHECK_OK(fs_commit(r));
    sqlite3 *db = fs__replica_db(r);
    make_v1(db);
    v1_row(db, 1, 0, 1, a, 16, fs_text("first"), 10, d1, 0, 0);
    v1_row(db, 4242, 0, 2, a, 15, fs_text("VALUE-SECRET"), 11, d1, 0, 0); /* damaged row id */
    v1_row(db, 4300, 1, 1, b, 16, fs_int(3), 12, d1, 0, 0);
    fs_replica_close(r);

    char first[256];
    for (int attempt = 0; attempt < 2; attempt++) {
        r = (fs_replica *)1;
        CHECK_ERR(open_feed(&r, path), FS_EFORMAT);
        CHECK(r == NULL);
        const char *msg = fs_replica_errmsg(NULL);
        if (strstr(msg, "4242") == NULL || strstr(msg, "feed") == NULL)
            FAIL("message \"%s\" does not name the feed entry 4242", msg);
        CHECK(strstr(msg, "SECRET") == NULL);
        if (attempt == 0)
            snprintf(first, sizeof first, "%s", msg);
        else
            CHECK_STR(msg, first); /* nothing half-converted in between */

        /* What the failed open left: format 1, as it was. */
        raw_db raw = raw_open(path);
        CHECK_EQ_INT(sql_int(raw.db, "SELECT v FROM meta WHERE k='feed'"), 1);
        CHECK_EQ_INT(sql_int(raw.db, "SELECT count(*) FROM sqlite_master WHERE name='feed_v1'"), 0);
        CHECK_EQ_INT(sql_int(raw.db, "SELECT count(*) FROM feed"), 3);
        CHECK_EQ_INT(sql_int(raw.db, "SELECT count(*) FROM feed WHERE col>0 AND hlc>=10"), 3);
        raw_close(raw);
    }

    /* Repaired, the store converts. */
    raw_db raw = raw_open(path);
    sql(raw.db, "UPDATE feed SET row=x'101112131415161718191a1b1c1d1e1f' WHERE seq=4242");
    raw_close(raw);
    CHECK_OK(open_feed(&r, path));
    fs_changeset *cs = NULL;
    CHECK_OK(fs_feed_since(r, 0, SIZE_MAX, &cs));
    CHECK_EQ_INT(cs->count, 3);
    CHECK_EQ_INT(cs->first_seq, 4242); /* rows 1 and 4242: one run of row a */
    CHECK_EQ_INT(cs->last_seq, 4300);
    CHECK_STR(cs->changes[1].value.p, "VALUE-SECRET");
    fs_changeset_free(cs);
    fs_replica_close(r);
    test_rmtree(dir);
}

static void test_unknown_feed_format_refused(void)
{
    char *dir = test_tmpdir(), path[700];
    fs_replica *r = fresh_feed(dir, "s", path, sizeof path);
    sql(fs__replica_db(r), "UPDATE meta SET v=3 WHERE k='feed'");
    fs_replica_close(r);
    r = (fs_replica *)1;
    CHECK_ERR(open_feed(&r, path), FS_EFORMAT);
    CHECK(r == NULL);
    const char *msg = fs_replica_errmsg(NULL);
    if (strstr(msg, "format 3") == NULL)
        FAIL("message \"%s\" does not name format 3", msg);
    /* Refused, not changed: the same again. */
    CHECK_ERR(open_feed(&r, path), FS_EFORMAT);
    raw_db raw = raw_open(path);
    CHECK_EQ_INT(sql_int(raw.db, "SELECT v FROM meta WHERE k='feed'"), 3);
    raw_close(raw);
    test_rmtree(dir);
}

/* ---- 5. damaged entries ---- */

/* One way to damage the entry: its changes either made from the original
 * (base: the first keep bytes, 0 all, less drop at the end, extra bytes
 * appended, flip XORed into the first change's header) or given (bytes);
 * its n and row id replaced when set_n / row_len. */
typedef struct damage {
    const char *what;
    int base;
    size_t keep, drop, extra;
    uint8_t flip;
    uint8_t bytes[64];
    size_t len;
    int set_n;
    long long n;
    int row_len;
} damage;

static void test_damaged_entries_refused(void)
{
    char *dir = test_tmpdir(), path[700];
    fs_replica *r = fresh_feed(dir, "s", path, sizeof path);
    wanted w = {0};
    uint8_t a[16], b[16], c[16];
    row_id(a, 1);
    row_id(b, 2);
    row_id(c, 3);
    CHECK_OK(fs_begin(r));
    uint32_t d1 = dev(r, 1);
    put(r, &w, 0, 1, a, fs_int(5), 100, d1, 0, 0);
    put(r, &w, 0, 2, a, fs_null(), 101, d1, 0, 0);
    put(r, &w, 1, 1, b, fs_text("SECRET-VALUE-xyz"), 200, d1, 0, 0);
    put(r, &w, 1, 2, b, fs_int(300), 201, d1, 150, d1);
    put(r, &w, 2, 1, c, fs_text("SECRET-c"), 300, d1, 0, 0);
    CHECK_OK(fs_commit(r));
    sqlite3 *db = fs__replica_db(r);
    sql(db, "UPDATE feed SET seq=seq+1000"); /* 1001, 1002, 1003: names to look for */
    check_all(r, &w, 1001, 1003);

    uint8_t orig[256];
    size_t orig_len;
    {
        sqlite3_stmt *st = NULL;
        CHECK_EQ_INT(
            sqlite3_prepare_v2(db, "SELECT changes, n FROM feed WHERE seq=1002", -1, &st, NULL),
            SQLITE_OK);
        CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
        orig_len = (size_t)sqlite3_column_bytes(st, 0);
        CHECK(orig_len > 20 && orig_len <= sizeof orig);
        memcpy(orig, sqlite3_column_blob(st, 0), orig_len);
        CHECK_EQ_INT(sqlite3_column_int64(st, 1), 2);
        sqlite3_finalize(st);
    }
    CHECK_EQ_INT(orig[0], FS_TEXT);

#define GIVEN(...)                                                                                 \
    .bytes = {__VA_ARGS__}, .len = sizeof((uint8_t[]){__VA_ARGS__}), .set_n = 1, .n = 1
    const damage cases[] = {
        {.what = "cut by a byte", .base = 1, .drop = 1},
        {.what = "cut inside the text", .base = 1, .keep = 10},
        {.what = "cut to its header", .base = 1, .keep = 1},
        {.what = "a trailing byte", .base = 1, .extra = 1, .bytes = {0x00}},
        {.what = "a trailing change", .base = 1, .extra = 4, .bytes = {0x00, 0x05, 0x00, 0x01}},
        {.what = "header bit 0x10", .base = 1, .flip = 0x10},
        {.what = "header bit 0x80", .base = 1, .flip = 0x80},
        {.what = "type 5", .base = 1, .flip = 0x05 ^ FS_TEXT},
        {.what = "type 7", .base = 1, .flip = 0x07 ^ FS_TEXT},
        {.what = "n larger than its changes", .base = 1, .set_n = 1, .n = 3},
        {.what = "n smaller than its changes", .base = 1, .set_n = 1, .n = 1},
        {.what = "n zero", .base = 1, .set_n = 1, .n = 0},
        {.what = "n past the entry maximum", .base = 1, .set_n = 1, .n = FS__FEED_ENTRY_MAX + 1},
        {.what = "n negative", .base = 1, .set_n = 1, .n = -5},
        {.what = "row id of 15 bytes", .base = 1, .row_len = 15},
        {.what = "row id of 17 bytes", .base = 1, .row_len = 17},
        {.what = "empty", .set_n = 1, .n = 1},
        {.what = "varint of 11 bytes",
         GIVEN(0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x02, 0x01,
               0x02)},
        {.what = "varint past 64 bits",
         GIVEN(0x01, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02, 0x01, 0x02)},
        {.what = "varint cut", GIVEN(0x01, 0x01, 0x02, 0x81)},
        {.what = "column past 65535", GIVEN(0x00, 0x80, 0x80, 0x04, 0x02, 0x01)},
        {.what = "device past 32 bits", GIVEN(0x00, 0x01, 0x02, 0x80, 0x80, 0x80, 0x80, 0x10)},
        {.what = "prev device past 32 bits",
         GIVEN(0x08, 0x01, 0x02, 0x01, 0x02, 0x80, 0x80, 0x80, 0x80, 0x10)},
        {.what = "prev cut", GIVEN(0x08, 0x01, 0x02, 0x01, 0x02)},
        {.what = "writer device 0", GIVEN(0x00, 0x01, 0x02, 0x00)},
        {.what = "writer unknown to the dictionary", GIVEN(0x00, 0x01, 0x02, 0x7F)},
        {.what = "prev device 0", GIVEN(0x08, 0x01, 0x10, 0x01, 0x02, 0x00)},
        {.what = "prev device unknown to the dictionary",
         GIVEN(0x08, 0x01, 0x10, 0x01, 0x02, 0x7F)},
        {.what = "text length past the end", GIVEN(0x03, 0x01, 0x02, 0x01, 0x64, 'S', 'E', 'C')},
        {.what = "text length of 2^63",
         GIVEN(0x03, 0x01, 0x02, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
               'S')},
        {.what = "blob length past the end", GIVEN(0x04, 0x01, 0x02, 0x01, 0x05, 1, 2, 3, 4)},
        {.what = "real cut", GIVEN(0x02, 0x01, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 0xF0)},
        {.what = "int cut", GIVEN(0x01, 0x01, 0x02, 0x01, 0xFF)},
        {.what = "garbage", GIVEN(0xDE, 0xAD, 0xBE, 0xEF, 0x53, 0x45, 0x43)},
    };
#undef GIVEN
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const damage *dm = &cases[k];
        uint8_t buf[512];
        size_t len = 0;
        if (dm->base) {
            len = dm->keep ? dm->keep : orig_len - dm->drop;
            CHECK(len <= orig_len && len > 0);
            memcpy(buf, orig, len);
            memcpy(buf + len, dm->bytes, dm->extra);
            len += dm->extra;
            buf[0] ^= dm->flip;
        } else {
            memcpy(buf, dm->bytes, dm->len);
            len = dm->len;
        }
        sqlite3_stmt *st = NULL;
        CHECK_EQ_INT(sqlite3_prepare_v2(db,
                                        "UPDATE feed SET changes=?1, n=coalesce(?2, n),"
                                        " row=coalesce(?3, row) WHERE seq=1002",
                                        -1, &st, NULL),
                     SQLITE_OK);
        sqlite3_bind_blob(st, 1, len ? (const void *)buf : "", (int)len, SQLITE_TRANSIENT);
        if (dm->set_n)
            sqlite3_bind_int64(st, 2, dm->n);
        uint8_t rowbuf[17];
        memset(rowbuf, 0x42, sizeof rowbuf);
        if (dm->row_len != 0)
            sqlite3_bind_blob(st, 3, rowbuf, dm->row_len, SQLITE_STATIC);
        CHECK_EQ_INT(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);

        fs_changeset *cs = (fs_changeset *)1;
        int rc = fs_feed_since(r, 0, SIZE_MAX, &cs);
        if (rc != FS_EFORMAT)
            FAIL("%s: fs_feed_since returned %s, expected FS_EFORMAT", dm->what, fs_errname(rc));
        CHECK(cs == NULL);
        const char *msg = fs_replica_errmsg(r);
        if (strstr(msg, "1002") == NULL)
            FAIL("%s: message \"%s\" does not name entry 1002", dm->what, msg);
        if (strstr(msg, "SEC") != NULL || strstr(msg, "xyz") != NULL)
            FAIL("%s: message \"%s\" holds a value", dm->what, msg);
        /* From a cursor inside the damaged entry, the same; past it, fine. */
        CHECK_ERR(fs_feed_since(r, 1001, 1, &cs), FS_EFORMAT);
        CHECK_OK(fs_feed_since(r, 1002, SIZE_MAX, &cs));
        check_batch(cs, &w, 4, 1);
        fs_changeset_free(cs);
        CHECK_OK(fs_feed_since(r, 0, 1, &cs)); /* the entry before it */
        check_batch(cs, &w, 0, 2);
        fs_changeset_free(cs);

        /* Restored, it reads again. */
        CHECK_EQ_INT(sqlite3_prepare_v2(db,
                                        "UPDATE feed SET changes=?1, n=2, row=?2 WHERE seq=1002",
                                        -1, &st, NULL),
                     SQLITE_OK);
        sqlite3_bind_blob(st, 1, orig, (int)orig_len, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, b, 16, SQLITE_STATIC);
        CHECK_EQ_INT(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
        check_all(r, &w, 1001, 1003);
    }
    fs_replica_close(r);
    free(w.c);
    test_rmtree(dir);
}

/* The changes column holding TEXT rather than a BLOB (a damaged store):
 * SQLite's length() counts characters up to the first NUL, not bytes. The
 * entry must be refused or read correctly, never read past its buffer. */
static void test_damaged_entry_stored_as_text(void)
{
    char *dir = test_tmpdir(), path[700];
    fs_replica *r = fresh_feed(dir, "s", path, sizeof path);
    uint8_t a[16];
    row_id(a, 1);
    CHECK_OK(fs_begin(r));
    uint32_t d1 = dev(r, 1);
    fs_value v = fs_int(1);
    CHECK_OK(fs__feed_append(r, 0, 1, a, &v, 100, d1, 0, 0));
    CHECK_OK(fs_commit(r));
    /* A valid entry of one TEXT change of 96 bytes, all of it UTF-8:
     * 37 characters. */
    char text[5 + 96 + 1];
    memcpy(text, "\x03\x01\x02\x01\x60", 5);
    for (int k = 0; k < 32; k++)
        memcpy(text + 5 + 3 * k, "世", 3);
    text[5 + 96] = '\0';
    sqlite3_stmt *st = NULL;
    sqlite3 *db = fs__replica_db(r);
    CHECK_EQ_INT(sqlite3_prepare_v2(db, "UPDATE feed SET changes=?1, n=1", -1, &st, NULL),
                 SQLITE_OK);
    sqlite3_bind_text(st, 1, text, 5 + 96, SQLITE_STATIC);
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    CHECK_EQ_INT(sql_int(db, "SELECT length(changes) FROM feed"), 37);
    fs_changeset *cs = NULL;
    int rc = fs_feed_since(r, 0, SIZE_MAX, &cs);
    if (rc == 0) {
        CHECK_EQ_INT(cs->count, 1);
        CHECK_EQ_INT(cs->changes[0].value.n, 96);
        CHECK_MEM(cs->changes[0].value.p, text + 5, 96);
        fs_changeset_free(cs);
    } else {
        CHECK_EQ_INT(rc, FS_EFORMAT);
    }
    fs_replica_close(r);
    test_rmtree(dir);
}

/* ---- limits ---- */

static void test_append_refuses_what_the_format_cannot_hold(void)
{
    char *dir = test_tmpdir(), path[700];
    fs_replica *r = fresh_feed(dir, "s", path, sizeof path);
    wanted w = {0};
    uint8_t a[16];
    row_id(a, 1);
    CHECK_OK(fs_begin(r));
    uint32_t d1 = dev(r, 1);
    put(r, &w, 0, 1, a, fs_int(1), 10, d1, 0, 0);
    fs_value v = fs_int(2);
    CHECK_ERR(fs__feed_append(r, 0, 0x10000, a, &v, 11, d1, 0, 0), FS_EINVAL);
    v.type = (fs_vtype)5;
    CHECK_ERR(fs__feed_append(r, 0, 2, a, &v, 11, d1, 0, 0), FS_EINVAL);
    put(r, &w, 0, 3, a, fs_int(3), 12, d1, 0, 0); /* the entry is intact */
    CHECK_OK(fs_commit(r));
    check_all(r, &w, 1, 1);
    fs_replica_close(r);

    /* A replica without a feed: appending does nothing, reading is refused. */
    char plain[700];
    snprintf(plain, sizeof plain, "%s/plain", dir);
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    CHECK_OK(fs_replica_create(&r, plain, "pw", 2, &o));
    v = fs_int(1);
    CHECK_OK(fs__feed_append(r, 0, 1, a, &v, 10, 1, 0, 0));
    CHECK_EQ_INT(r->feed.n, 0);
    fs_changeset *cs = (fs_changeset *)1;
    CHECK_ERR(fs_feed_since(r, 0, 10, &cs), FS_ESTATE);
    CHECK(cs == NULL);
    uint64_t last = 1;
    CHECK_ERR(fs_feed_last(r, &last), FS_ESTATE);
    fs_replica_close(r);
    free(w.c);
    test_rmtree(dir);
}

TEST_LIST(TEST(round_trip) TEST(long_run_splits_and_reads_whole_entries)
              TEST(feed_since_bytes_reads_whole_entries) TEST(feed_entries_at_sequences)
              TEST(rolled_back_changes_never_fed) TEST(format1_converted_on_open)
                  TEST(format1_damaged_left_as_it_was) TEST(unknown_feed_format_refused)
                      TEST(damaged_entries_refused) TEST(damaged_entry_stored_as_text)
                          TEST(append_refuses_what_the_format_cannot_hold))
