/*
 * Audit log: appends and verification over an encrypted database; every
 * class of tampering (each field of an entry, a removed entry, a removed
 * tail, reordered entries, a forged entry, a wrong key) found at the right
 * entry; refused input writes nothing; the key is never written.
 *
 * Tampering is done as someone who can write the database would: drop the
 * guard triggers, then raw SQL. The MACs are recomputed here from the format
 * documented in fieldsync/audit.h, independently of core/audit.c: a forgery
 * made with the right key verifies (so the tests below fail for the key's
 * sake alone), one made without it does not.
 */
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "store/audit.h"
#include "fieldsync/vfs.h"
#include "test.h"

#define MID 50
#define N   100

static unsigned char key[FS_AUDIT_KEY_BYTES];

static void init_key(void)
{
    CHECK(sodium_init() >= 0);
    randombytes_buf(key, sizeof key);
}

static sqlite3 *mem_db(void)
{
    sqlite3 *db = NULL;
    CHECK_EQ_INT(sqlite3_open(":memory:", &db), SQLITE_OK);
    return db;
}

static void sql(sqlite3 *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sql(sqlite3 *db, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *err = NULL;
    if (sqlite3_exec(db, buf, NULL, NULL, &err) != SQLITE_OK)
        FAIL("%s: %s", buf, err ? err : "?");
}

static int64_t query_int(sqlite3 *db, const char *q)
{
    sqlite3_stmt *st = NULL;
    CHECK_EQ_INT(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* What an attacker does first: the triggers are only a guard against mistakes. */
static void drop_guards(sqlite3 *db)
{
    sql(db, "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;"
            " DROP TRIGGER audit_in_order; DROP TRIGGER audit_anchor_forward;"
            " DROP TRIGGER audit_anchor_no_delete;");
}

static void append_n(fs_audit *a, int from, int to)
{
    size_t nk;
    const char *const *kinds = fs_audit_kinds(&nk);
    for (int i = from; i <= to; i++) {
        char actor[80], subject[64], detail[64];
        snprintf(actor, sizeof actor, i % 3 ? "user%d" : "ed25519:%064x", i);
        snprintf(subject, sizeof subject, "dev-%04d", i * 7);
        snprintf(detail, sizeof detail, "reason=scope n=%d", i);
        int rc = fs_audit_append(a, kinds[(size_t)i % nk], actor, i % 5 ? subject : NULL,
                                 i % 4 ? detail : "");
        if (rc != 0)
            FAIL("append %d: %s (%s)", i, fs_errname(rc), fs_audit_errmsg(a));
    }
}

/* A memory database holding a log of n entries. */
static fs_audit *make_log(sqlite3 **db, int n)
{
    fs_audit *a = NULL;
    init_key();
    *db = mem_db();
    CHECK_OK(fs_audit_open(&a, *db, key));
    append_n(a, 1, n);
    return a;
}

static void expect_ok(fs_audit *a, uint64_t n)
{
    uint64_t entries = 99, bad = 99;
    int rc = fs_audit_verify(a, &entries, &bad);
    if (rc != 0)
        FAIL("verify: %s (%s)", fs_errname(rc), fs_audit_errmsg(a));
    CHECK_EQ_INT(entries, n);
    CHECK_EQ_INT(bad, 0);
}

static void expect_bad(fs_audit *a, uint64_t entries_want, uint64_t bad_want)
{
    uint64_t entries = 0, bad = 0;
    CHECK_ERR(fs_audit_verify(a, &entries, &bad), FS_EAUDIT);
    CHECK_EQ_INT(entries, entries_want);
    if (bad != bad_want)
        FAIL("first_bad %llu, expected %llu (%s)", (unsigned long long)bad,
             (unsigned long long)bad_want, fs_audit_errmsg(a));
}

/* ---- the documented MACs, computed independently ---- */

static void put(crypto_generichash_state *st, uint64_t v, int bytes)
{
    unsigned char b[8];
    for (int i = 0; i < bytes; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    crypto_generichash_update(st, b, (size_t)bytes);
}

static void put_text(crypto_generichash_state *st, const unsigned char *p, size_t n)
{
    put(st, n, 4);
    crypto_generichash_update(st, p, n);
}

/* k NULL: the unkeyed hash a forger without the key can compute. */
static void doc_entry_mac(const unsigned char *k, uint64_t seq, int64_t at, const char *f[4],
                          const unsigned char prev[32], unsigned char out[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, k, k ? 32 : 0, 32);
    crypto_generichash_update(&st, (const unsigned char *)"fieldsync-auditE", 16);
    put(&st, seq, 8);
    put(&st, (uint64_t)at, 8);
    for (int i = 0; i < 4; i++)
        put_text(&st, (const unsigned char *)f[i], strlen(f[i]));
    crypto_generichash_update(&st, prev, 32);
    crypto_generichash_final(&st, out, 32);
}

static void doc_anchor_mac(const unsigned char *k, uint64_t entries, const unsigned char head[32],
                           unsigned char out[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, k, k ? 32 : 0, 32);
    crypto_generichash_update(&st, (const unsigned char *)"fieldsync-auditA", 16);
    put(&st, entries, 8);
    crypto_generichash_update(&st, head, 32);
    crypto_generichash_final(&st, out, 32);
}

static void get_blob(sqlite3 *db, const char *q, unsigned char out[32])
{
    sqlite3_stmt *st = NULL;
    CHECK_EQ_INT(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_bytes(st, 0), 32);
    memcpy(out, sqlite3_column_blob(st, 0), 32);
    sqlite3_finalize(st);
}

static void entry_mac_of(sqlite3 *db, uint64_t seq, unsigned char out[32])
{
    char q[128];
    snprintf(q, sizeof q, "SELECT mac FROM audit WHERE seq=%llu", (unsigned long long)seq);
    get_blob(db, q, out);
}

/* Writes a row as a forger would, MACed with k (NULL: unkeyed). */
static void forge_entry(sqlite3 *db, const unsigned char *k, uint64_t seq, const char *kind,
                        const char *actor, const unsigned char prev[32], unsigned char mac[32])
{
    const char *f[4] = {kind, actor, "dev-forged", "reason=forged"};
    int64_t at = 1700000000000;
    doc_entry_mac(k, seq, at, f, prev, mac);
    sqlite3_stmt *st = NULL;
    CHECK_EQ_INT(sqlite3_prepare_v2(db,
                                    "INSERT OR REPLACE INTO audit VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
                                    -1, &st, NULL),
                 SQLITE_OK);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
    sqlite3_bind_int64(st, 2, at);
    for (int i = 0; i < 4; i++)
        sqlite3_bind_text(st, 3 + i, f[i], -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 7, prev, 32, SQLITE_STATIC);
    sqlite3_bind_blob(st, 8, mac, 32, SQLITE_STATIC);
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

static void forge_anchor(sqlite3 *db, const unsigned char *k, uint64_t entries,
                         const unsigned char head[32])
{
    unsigned char mac[32];
    doc_anchor_mac(k, entries, head, mac);
    sqlite3_stmt *st = NULL;
    CHECK_EQ_INT(sqlite3_prepare_v2(db, "UPDATE audit_anchor SET entries=?1, head=?2, mac=?3", -1,
                                    &st, NULL),
                 SQLITE_OK);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)entries);
    sqlite3_bind_blob(st, 2, head, 32, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, mac, 32, SQLITE_STATIC);
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

/* Re-MACs entries from..to (and the anchor) with k, as a forger holding the
 * key could after changing entry from-1. */
static void rechain(sqlite3 *db, const unsigned char *k, uint64_t from, uint64_t to)
{
    unsigned char prev[32] = {0}, mac[32];
    if (from > 1)
        entry_mac_of(db, from - 1, prev);
    for (uint64_t s = from; s <= to; s++) {
        sqlite3_stmt *st = NULL;
        CHECK_EQ_INT(sqlite3_prepare_v2(db,
                                        "SELECT at_ms, kind, actor, subject, detail FROM audit"
                                        " WHERE seq=?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)s);
        CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
        const char *f[4];
        for (int i = 0; i < 4; i++)
            f[i] = (const char *)sqlite3_column_text(st, 1 + i);
        doc_entry_mac(k, s, sqlite3_column_int64(st, 0), f, prev, mac);
        sqlite3_finalize(st);
        CHECK_EQ_INT(
            sqlite3_prepare_v2(db, "UPDATE audit SET prev=?1, mac=?2 WHERE seq=?3", -1, &st, NULL),
            SQLITE_OK);
        sqlite3_bind_blob(st, 1, prev, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, mac, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)s);
        CHECK_EQ_INT(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
        memcpy(prev, mac, 32);
    }
    forge_anchor(db, k, to, prev);
}

/* ---- appends and verification ---- */

/* An encrypted database as the server opens it: the VFS, WAL, exclusive. */
static sqlite3 *crypt_open(const char *path, fs_cryptvfs **vfs, fs_secret *s)
{
    CHECK_OK(fs_cryptvfs_new(vfs, s));
    sqlite3 *db = NULL;
    CHECK_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                 fs_cryptvfs_name(*vfs)),
                 SQLITE_OK);
    int reserve = FS_VFS_RESERVE;
    CHECK_EQ_INT(sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve), SQLITE_OK);
    sql(db, "PRAGMA temp_store=MEMORY; PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL;"
            " PRAGMA synchronous=NORMAL;");
    return db;
}

typedef struct collected {
    uint64_t next;
    size_t n;
    int stop_at; /* seq at which the callback returns 7; 0: never */
} collected;

static int collect(const fs_audit_entry *e, void *ctx)
{
    collected *c = ctx;
    size_t nk;
    const char *const *kinds = fs_audit_kinds(&nk);
    CHECK_EQ_INT(e->seq, c->next);
    CHECK_STR(e->kind, kinds[e->seq % nk]);
    char want[80];
    snprintf(want, sizeof want, e->seq % 3 ? "user%d" : "ed25519:%064x", (int)e->seq);
    CHECK_STR(e->actor, want);
    snprintf(want, sizeof want, "dev-%04d", (int)e->seq * 7);
    CHECK_STR(e->subject, e->seq % 5 ? want : "");
    snprintf(want, sizeof want, "reason=scope n=%d", (int)e->seq);
    CHECK_STR(e->detail, e->seq % 4 ? want : "");
    CHECK(e->at_ms > 1600000000000 && e->at_ms < 4000000000000);
    c->next++;
    c->n++;
    return (int)e->seq == c->stop_at ? 7 : 0;
}

static void test_append_verify_1000_encrypted(void)
{
    char *dir = test_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/server.db", dir);
    fs_secret *s = NULL;
    init_key();
    CHECK_OK(fs_secret_new(&s));
    randombytes_buf(s->key, FS_KEY_BYTES);
    randombytes_buf(s->dbid, FS_DBID_BYTES);
    fs_cryptvfs *vfs = NULL;
    sqlite3 *db = crypt_open(path, &vfs, s);
    fs_audit *a = NULL;
    CHECK_OK(fs_audit_open(&a, db, key));
    expect_ok(a, 0);
    append_n(a, 1, 500); /* each in its own transaction */
    sql(db, "BEGIN");
    append_n(a, 501, 1000); /* inside the caller's */
    sql(db, "COMMIT");
    expect_ok(a, 1000);
    uint64_t n = 0;
    unsigned char head[32], want[32];
    CHECK_OK(fs_audit_head(a, &n, head));
    CHECK_EQ_INT(n, 1000);
    entry_mac_of(db, 1000, want);
    CHECK_MEM(head, want, 32);
    fs_audit_close(a);
    sqlite3_close(db);
    fs_cryptvfs_free(vfs);

    db = crypt_open(path, &vfs, s);
    CHECK_OK(fs_audit_open(&a, db, key));
    expect_ok(a, 1000);
    collected c = {1, 0, 0};
    CHECK_OK(fs_audit_list(a, 0, 0, collect, &c));
    CHECK_EQ_INT(c.n, 1000);
    append_n(a, 1001, 1010);
    expect_ok(a, 1010);
    fs_audit_close(a);
    sqlite3_close(db);
    fs_cryptvfs_free(vfs);
    fs_secret_free(s);
    test_rmtree(dir);
}

static void test_empty_log_verifies(void)
{
    sqlite3 *db = NULL;
    fs_audit *a = make_log(&db, 0);
    expect_ok(a, 0);
    uint64_t n = 9;
    unsigned char head[32], zeros[32] = {0};
    CHECK_OK(fs_audit_head(a, &n, head));
    CHECK_EQ_INT(n, 0);
    CHECK_MEM(head, zeros, 32);
    fs_audit_close(a);
    /* Opening again does not rewrite the anchor. */
    int64_t changes = sqlite3_total_changes(db);
    CHECK_OK(fs_audit_open(&a, db, key));
    CHECK_EQ_INT(sqlite3_total_changes(db), changes);
    expect_ok(a, 0);
    fs_audit_close(a);
    fs_audit_close(NULL);
    sqlite3_close(db);
}

static void test_list_pages_and_stops(void)
{
    sqlite3 *db = NULL;
    fs_audit *a = make_log(&db, N);
    collected c = {11, 0, 0};
    CHECK_OK(fs_audit_list(a, 10, 25, collect, &c));
    CHECK_EQ_INT(c.n, 25);
    CHECK_EQ_INT(c.next, 36);
    c = (collected){91, 0, 0};
    CHECK_OK(fs_audit_list(a, 90, 1000, collect, &c));
    CHECK_EQ_INT(c.n, 10);
    c = (collected){1, 0, 0};
    CHECK_OK(fs_audit_list(a, N, 0, collect, &c));
    CHECK_EQ_INT(c.n, 0);
    c = (collected){1, 0, 42};
    CHECK_EQ_INT(fs_audit_list(a, 0, 0, collect, &c), 7);
    CHECK_EQ_INT(c.n, 42);
    /* A forged row with a terminal escape in it never reaches the callback. */
    drop_guards(db);
    sql(db, "UPDATE audit SET detail='x' || char(27) || '[2J' WHERE seq=%d", MID);
    c = (collected){1, 0, 0};
    CHECK_ERR(fs_audit_list(a, 0, 0, collect, &c), FS_EAUDIT);
    CHECK_EQ_INT(c.n, MID - 1);
    CHECK(strstr(fs_audit_errmsg(a), "audit entry 50") != NULL);
    fs_audit_close(a);
    sqlite3_close(db);
}

typedef struct last_seen {
    int calls;
    uint64_t seq;
    char subject[64];
} last_seen;

static int take_last(const fs_audit_entry *e, void *ctx)
{
    last_seen *l = ctx;
    l->calls++;
    l->seq = e->seq;
    snprintf(l->subject, sizeof l->subject, "%s", e->subject);
    return 0;
}

typedef struct seqs_seen {
    size_t n;
    uint64_t seq[16];
    char kind[16][24];
} seqs_seen;

static int take_seq(const fs_audit_entry *e, void *ctx)
{
    seqs_seen *s = ctx;
    CHECK(s->n < 16);
    s->seq[s->n] = e->seq;
    snprintf(s->kind[s->n], sizeof s->kind[0], "%s", e->kind);
    s->n++;
    return 0;
}

/* The admin page's windows (issue 20.3): the newest or oldest of a kind,
 * a time range and sequence bounds, always delivered oldest first. */
static void test_query_windows(void)
{
    sqlite3 *db = NULL;
    fs_audit *a = make_log(&db, 0);
    for (int i = 1; i <= 12; i++)
        CHECK_OK(fs_audit_append(a, i % 3 == 0 ? "login" : "report_read", "li", NULL, NULL));
    drop_guards(db); /* entries 1-4 two days old */
    sql(db, "UPDATE audit SET at_ms = at_ms - 172800000 WHERE seq <= 4");
    int64_t now = (int64_t)time(NULL) * 1000;
    seqs_seen s = {0};
    fs_audit_query q = {.max = 5};
    CHECK_OK(fs_audit_query_list(a, &q, take_seq, &s)); /* the newest 5 */
    CHECK_EQ_INT(s.n, 5);
    CHECK_EQ_INT(s.seq[0], 8);
    CHECK_EQ_INT(s.seq[4], 12);
    s = (seqs_seen){0};
    q.before = 8; /* older */
    CHECK_OK(fs_audit_query_list(a, &q, take_seq, &s));
    CHECK_EQ_INT(s.n, 5);
    CHECK_EQ_INT(s.seq[0], 3);
    CHECK_EQ_INT(s.seq[4], 7);
    s = (seqs_seen){0};
    q.before = 0;
    q.after = 2; /* newer than 2: the oldest 5 after it */
    q.oldest_first = 1;
    CHECK_OK(fs_audit_query_list(a, &q, take_seq, &s));
    CHECK_EQ_INT(s.n, 5);
    CHECK_EQ_INT(s.seq[0], 3);
    CHECK_EQ_INT(s.seq[4], 7);
    s = (seqs_seen){0};
    q = (fs_audit_query){.kind = "login", .max = 10};
    CHECK_OK(fs_audit_query_list(a, &q, take_seq, &s));
    CHECK_EQ_INT(s.n, 4);
    for (size_t i = 0; i < s.n; i++)
        CHECK_STR(s.kind[i], "login");
    CHECK_EQ_INT(s.seq[0], 3);
    s = (seqs_seen){0};
    q.from_ms = now - 86400000; /* the last day: entry 3 is older */
    CHECK_OK(fs_audit_query_list(a, &q, take_seq, &s));
    CHECK_EQ_INT(s.n, 3);
    CHECK_EQ_INT(s.seq[0], 6);
    s = (seqs_seen){0};
    q = (fs_audit_query){.to_ms = now - 86400000, .max = 10}; /* only the old ones */
    CHECK_OK(fs_audit_query_list(a, &q, take_seq, &s));
    CHECK_EQ_INT(s.n, 4);
    CHECK_EQ_INT(s.seq[3], 4);
    int any = -1;
    q = (fs_audit_query){.kind = "login", .before = 3};
    CHECK_OK(fs_audit_query_any(a, &q, &any));
    CHECK_EQ_INT(any, 0); /* no login before 3 */
    q.before = 4;
    CHECK_OK(fs_audit_query_any(a, &q, &any));
    CHECK_EQ_INT(any, 1);
    q = (fs_audit_query){.kind = "wipe"};
    CHECK_OK(fs_audit_query_any(a, &q, &any));
    CHECK_EQ_INT(any, 0);
    /* a forged row in the window stops it, as the listing does */
    sql(db, "UPDATE audit SET actor='x' || char(27) || '[2J' WHERE seq=10");
    s = (seqs_seen){0};
    q = (fs_audit_query){.max = 5};
    CHECK_ERR(fs_audit_query_list(a, &q, take_seq, &s), FS_EAUDIT);
    fs_audit_close(a);
    sqlite3_close(db);
}

/* status's figures (issue 22): entries of a kind since a time, and the
 * newest of a kind, read through the checked listing. */
static void test_count_since_and_last(void)
{
    sqlite3 *db = NULL;
    fs_audit *a = make_log(&db, 0);
    last_seen l = {0, 0, ""};
    CHECK_ERR(fs_audit_last(a, "backup", take_last, &l), FS_ENOTFOUND);
    CHECK_EQ_INT(l.calls, 0);
    for (int i = 0; i < 5; i++)
        CHECK_OK(fs_audit_append(a, "refused_write", "dev", "x", NULL));
    CHECK_OK(fs_audit_append(a, "backup", "operator", "/srv/b1", "feed head 3"));
    CHECK_OK(fs_audit_append(a, "login", "li", NULL, NULL));
    CHECK_OK(fs_audit_append(a, "backup", "operator", "/srv/b2", "feed head 9"));
    /* two of the refusals two hours old, one two days old */
    drop_guards(db);
    sql(db, "UPDATE audit SET at_ms = at_ms - 7200000 WHERE seq IN (1, 2)");
    sql(db, "UPDATE audit SET at_ms = at_ms - 172800000 WHERE seq = 3");
    int64_t now = (int64_t)time(NULL) * 1000;
    uint64_t n = 99;
    CHECK_OK(fs_audit_count_since(a, "refused_write", now - 3600000, &n));
    CHECK_EQ_INT(n, 2);
    CHECK_OK(fs_audit_count_since(a, "refused_write", now - 86400000, &n));
    CHECK_EQ_INT(n, 4);
    CHECK_OK(fs_audit_count_since(a, "refused_write", 0, &n));
    CHECK_EQ_INT(n, 5);
    CHECK_OK(fs_audit_count_since(a, "wipe", 0, &n));
    CHECK_EQ_INT(n, 0);
    CHECK_OK(fs_audit_last(a, "backup", take_last, &l));
    CHECK_EQ_INT(l.calls, 1);
    CHECK_EQ_INT(l.seq, 8);
    CHECK(strcmp(l.subject, "/srv/b2") == 0);
    /* a forged newest backup entry is not passed on */
    sql(db, "UPDATE audit SET subject='x' || char(27) || '[2J' WHERE seq=8");
    l.calls = 0;
    CHECK_ERR(fs_audit_last(a, "backup", take_last, &l), FS_EAUDIT);
    CHECK_EQ_INT(l.calls, 0);
    fs_audit_close(a);
    sqlite3_close(db);
}

static void test_macs_follow_documented_format(void)
{
    sqlite3 *db = NULL;
    fs_audit *a = make_log(&db, 20);
    unsigned char prev[32] = {0}, mac[32], stored[32];
    for (uint64_t s = 1; s <= 20; s++) {
        sqlite3_stmt *st = NULL;
        CHECK_EQ_INT(sqlite3_prepare_v2(db,
                                        "SELECT at_ms, kind, actor, subject, detail, prev, mac"
                                        " FROM audit WHERE seq=?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)s);
        CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
        const char *f[4];
        for (int i = 0; i < 4; i++)
            f[i] = (const char *)sqlite3_column_text(st, 1 + i);
        CHECK_EQ_INT(sqlite3_column_bytes(st, 5), 32);
        CHECK_MEM(sqlite3_column_blob(st, 5), prev, 32);
        memcpy(stored, sqlite3_column_blob(st, 6), 32);
        doc_entry_mac(key, s, sqlite3_column_int64(st, 0), f, prev, mac);
        sqlite3_finalize(st);
        CHECK_MEM(mac, stored, 32);
        memcpy(prev, mac, 32);
    }
    doc_anchor_mac(key, 20, prev, mac);
    get_blob(db, "SELECT mac FROM audit_anchor", stored);
    CHECK_MEM(mac, stored, 32);
    get_blob(db, "SELECT head FROM audit_anchor", stored);
    CHECK_MEM(prev, stored, 32);
    CHECK_EQ_INT(query_int(db, "SELECT entries FROM audit_anchor"), 20);
    fs_audit_close(a);
    sqlite3_close(db);
}

/* ---- tampering ---- */

/* Builds a log of N entries, runs one statement on it as a forger would,
 * checks verify names entry want_bad, and that appending is refused only
 * when the tail no longer matches the anchor. */
static void tamper(const char *stmt, uint64_t want_entries, uint64_t want_bad)
{
    sqlite3 *db = NULL;
    fs_audit *a = make_log(&db, N);
    expect_ok(a, N);
    drop_guards(db);
    sql(db, "%s", stmt);
    expect_bad(a, want_entries, want_bad);
    fs_audit_close(a);
    sqlite3_close(db);
}

static void test_modified_seq(void)
{
    /* Entry 50 renumbered past the end: 50 is missing. */
    tamper("UPDATE audit SET seq=1000 WHERE seq=50", N, MID);
}

static void test_modified_at_ms(void)
{
    tamper("UPDATE audit SET at_ms=at_ms+1 WHERE seq=50", N, MID);
}

static void test_modified_at_ms_type(void)
{
    /* The same digits stored as a BLOB (which the column's affinity keeps,
     * and which reads back as the same integer): refused too. */
    tamper("UPDATE audit SET at_ms=CAST(at_ms AS BLOB) WHERE seq=50", N, MID);
}

static void test_modified_kind(void)
{
    tamper("UPDATE audit SET kind=CASE kind WHEN 'login' THEN 'wipe' ELSE 'login' END"
           " WHERE seq=50",
           N, MID);
}

static void test_modified_actor(void)
{
    tamper("UPDATE audit SET actor='admin' WHERE seq=50", N, MID);
}

static void test_modified_actor_type(void)
{
    tamper("UPDATE audit SET actor=CAST(actor AS BLOB) WHERE seq=50", N, MID);
}

static void test_modified_subject(void)
{
    tamper("UPDATE audit SET subject='dev-9999' WHERE seq=50", N, MID);
}

static void test_modified_detail(void)
{
    tamper("UPDATE audit SET detail='reason=none' WHERE seq=50", N, MID);
}

static void test_bytes_moved_between_fields(void)
{
    /* Entry 50 is actor "user50", subject "": move a byte from one to the
     * other. The length prefixes make this a different MAC input. */
    tamper("UPDATE audit SET actor='user5', subject='0' WHERE seq=50", N, MID);
}

static void test_modified_prev(void)
{
    tamper("UPDATE audit SET prev=zeroblob(32) WHERE seq=50", N, MID);
}

static void test_modified_mac(void)
{
    tamper("UPDATE audit SET mac=zeroblob(32) WHERE seq=50", N, MID);
}

static void test_deleted_middle_entry(void)
{
    tamper("DELETE FROM audit WHERE seq=50", N - 1, MID);
}

static void test_deleted_first_entry(void)
{
    tamper("DELETE FROM audit WHERE seq=1", N - 1, 1);
}

static void test_deleted_last_entry(void)
{
    /* The chain 1..99 is intact; the anchor says 100. */
    tamper("DELETE FROM audit WHERE seq=100", N - 1, N);
}

static void test_deleted_tail_with_anchor_rewritten(void)
{
    /* Without the key the forger cannot MAC the shorter anchor. */
    sqlite3 *db = NULL;
    fs_audit *a = make_log(&db, N);
    drop_guards(db);
    sql(db, "DELETE FROM audit WHERE seq>90");
    unsigned char head[32];
    entry_mac_of(db, 90, head);
    forge_anchor(db, NULL, 90, head);
    expect_bad(a, 90, 91);
    CHECK_ERR(fs_audit_append(a, "login", "admin", NULL, NULL), FS_EAUDIT);
    fs_audit_close(a);
    sqlite3_close(db);
}

static void test_deleted_anchor(void)
{
    sqlite3 *db = NULL;
    fs_audit *a = make_log(&db, N);
    drop_guards(db);
    sql(db, "DELETE FROM audit_anchor");
    expect_bad(a, N, N + 1);
    CHECK_ERR(fs_audit_append(a, "login", "admin", NULL, NULL), FS_EAUDIT);
    fs_audit_close(a);
    /* Reopening does not make a fresh anchor for a log that has entries. */
    CHECK_OK(fs_audit_open(&a, db, key));
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM audit_anchor"), 0);
    expect_bad(a, N, N + 1);
    fs_audit_close(a);
    sqlite3_close(db);
}

static void test_dropped_log_table(void)
{
    sqlite3 *db = NULL;
    fs_audit *a = make_log(&db, N);
    fs_audit_close(a);
    sql(db, "DROP TABLE audit");
    CHECK_OK(fs_audit_open(&a, db, key)); /* recreates an empty table */
    expect_bad(a, 0, 1);
    CHECK_ERR(fs_audit_append(a, "login", "admin", NULL, NULL), FS_EAUDIT);
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM audit"), 0);
    fs_audit_close(a);
    sqlite3_close(db);
}

static void test_swapped_entries(void)
{
    tamper("CREATE TABLE copy AS SELECT * FROM audit WHERE seq IN (50, 60);"
           " UPDATE audit SET (at_ms, kind, actor, subject, detail, prev, mac) ="
           " (SELECT at_ms, kind, actor, subject, detail, prev, mac FROM copy"
           "  WHERE copy.seq = CASE audit.seq WHEN 50 THEN 60 ELSE 50 END)"
           " WHERE seq IN (50, 60)",
           N, MID);
    /* Each keeping its own prev: the MAC catches it instead. */
    tamper("CREATE TABLE copy AS SELECT * FROM audit WHERE seq IN (50, 60);"
           " UPDATE audit SET (at_ms, kind, actor, subject, detail, mac) ="
           " (SELECT at_ms, kind, actor, subject, detail, mac FROM copy"
           "  WHERE copy.seq = CASE audit.seq WHEN 50 THEN 60 ELSE 50 END)"
           " WHERE seq IN (50, 60)",
           N, MID);
}

static void test_reversed_tail(void)
{
    tamper("UPDATE audit SET seq=-seq WHERE seq>=50; UPDATE audit SET seq=150+seq WHERE seq<0", N,
           MID);
}

static void test_forged_entry_appended(void)
{
    unsigned char prev[32], mac[32];
    for (int keyed = 1; keyed >= 0; keyed--) {
        sqlite3 *db = NULL;
        fs_audit *a = make_log(&db, N);
        drop_guards(db);
        entry_mac_of(db, N, prev);
        forge_entry(db, keyed ? key : NULL, N + 1, "export", "manager1", prev, mac);
        forge_anchor(db, keyed ? key : NULL, N + 1, mac);
        if (keyed)
            expect_ok(a, N + 1); /* the forgery is well made: only the key is missing */
        else
            expect_bad(a, N + 1, N + 1);
        fs_audit_close(a);
        sqlite3_close(db);
    }
}

static void test_forged_entry_inserted_in_middle(void)
{
    unsigned char prev[32], mac[32];
    for (int keyed = 1; keyed >= 0; keyed--) {
        sqlite3 *db = NULL;
        fs_audit *a = make_log(&db, N);
        drop_guards(db);
        /* Make room at 50, forge it, and re-MAC what follows as well as the
         * forger can: with the key, or unkeyed. */
        sql(db, "UPDATE audit SET seq=-seq WHERE seq>=50; UPDATE audit SET seq=1-seq WHERE seq<0");
        entry_mac_of(db, MID - 1, prev);
        forge_entry(db, keyed ? key : NULL, MID, "scope_change", "admin", prev, mac);
        rechain(db, keyed ? key : NULL, MID + 1, N + 1);
        if (keyed)
            expect_ok(a, N + 1);
        else
            expect_bad(a, N + 1, MID);
        fs_audit_close(a);
        sqlite3_close(db);
    }
}

static void test_entries_past_the_anchor(void)
{
    /* A row added after the last one with a good MAC but no anchor update
     * (a write that bypassed the module) is found. */
    sqlite3 *db = NULL;
    fs_audit *a = make_log(&db, N);
    drop_guards(db);
    unsigned char prev[32], mac[32];
    entry_mac_of(db, N, prev);
    forge_entry(db, key, N + 1, "login", "admin", prev, mac);
    expect_bad(a, N + 1, N + 1);
    CHECK_ERR(fs_audit_append(a, "login", "admin", NULL, NULL), FS_EAUDIT);
    fs_audit_close(a);
    sqlite3_close(db);
}

static void test_wrong_key(void)
{
    sqlite3 *db = NULL;
    fs_audit *a = make_log(&db, N);
    fs_audit_close(a);
    unsigned char other[FS_AUDIT_KEY_BYTES];
    memcpy(other, key, sizeof other);
    other[0] ^= 1;
    CHECK_OK(fs_audit_open(&a, db, other));
    expect_bad(a, N, 1);
    uint64_t n;
    unsigned char head[32];
    CHECK_ERR(fs_audit_head(a, &n, head), FS_EAUDIT);
    int64_t changes = sqlite3_total_changes(db);
    CHECK_ERR(fs_audit_append(a, "login", "admin", NULL, NULL), FS_EAUDIT);
    CHECK_EQ_INT(sqlite3_total_changes(db), changes);
    fs_audit_close(a);
    CHECK_OK(fs_audit_open(&a, db, key));
    expect_ok(a, N);
    fs_audit_close(a);
    sqlite3_close(db);

    /* An empty log too. */
    a = make_log(&db, 0);
    fs_audit_close(a);
    CHECK_OK(fs_audit_open(&a, db, other));
    expect_bad(a, 0, 1);
    fs_audit_close(a);
    sqlite3_close(db);
}

/* ---- what the module refuses ---- */

static void test_guard_triggers(void)
{
    sqlite3 *db = NULL;
    fs_audit *a = make_log(&db, 10);
    static const char *refused[] = {
        "UPDATE audit SET detail='x' WHERE seq=5",
        "DELETE FROM audit WHERE seq=10",
        "INSERT INTO audit VALUES(12, 0, 'login', 'a', '', '', zeroblob(32), zeroblob(32))",
        ("INSERT INTO audit(at_ms, kind, actor, subject, detail, prev, mac)"
         " VALUES(0, 'login', 'a', '', '', zeroblob(32), zeroblob(32))"),
        "UPDATE audit_anchor SET entries=entries-1",
        "UPDATE audit_anchor SET entries=entries",
        "DELETE FROM audit_anchor",
        "INSERT INTO audit_anchor VALUES(2, 0, zeroblob(32), zeroblob(32))",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (sqlite3_exec(db, refused[i], NULL, NULL, NULL) == SQLITE_OK)
            FAIL("not refused: %s", refused[i]);
    expect_ok(a, 10);
    fs_audit_close(a);
    drop_guards(db);
    CHECK_OK(fs_audit_open(&a, db, key)); /* puts them back */
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM sqlite_master WHERE type='trigger'"), 5);
    CHECK(sqlite3_exec(db, refused[0], NULL, NULL, NULL) != SQLITE_OK);
    append_n(a, 11, 12);
    expect_ok(a, 12);
    fs_audit_close(a);
    sqlite3_close(db);
}

static void refuse(fs_audit *a, sqlite3 *db, int code, const char *kind, const char *actor,
                   const char *subject, const char *detail, int line)
{
    int64_t changes = sqlite3_total_changes(db);
    int rc = fs_audit_append(a, kind, actor, subject, detail);
    if (rc != code)
        FAIL("line %d: append returned %s, expected %s (%s)", line, fs_errname(rc),
             fs_errname(code), fs_audit_errmsg(a));
    if (sqlite3_total_changes(db) != changes)
        FAIL("line %d: a refused append wrote something", line);
    /* The message names the field, never its contents. */
    const char *msg = fs_audit_errmsg(a);
    if (strstr(msg, "SECRET") != NULL)
        FAIL("line %d: the message quotes the input: %s", line, msg);
}

#define REFUSE(code, k, ac, s, d) refuse(a, db, code, k, ac, s, d, __LINE__)

static void test_refused_input_writes_nothing(void)
{
    sqlite3 *db = NULL;
    fs_audit *a = make_log(&db, 10);
    char longname[FS_AUDIT_MAX_NAME + 2], longdetail[FS_AUDIT_MAX_DETAIL + 2];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    memset(longdetail, 'd', sizeof longdetail - 1);
    longdetail[sizeof longdetail - 1] = '\0';

    REFUSE(FS_EINVAL, "delete_everything", "admin", NULL, NULL);
    REFUSE(FS_EINVAL, "", "admin", NULL, NULL);
    REFUSE(FS_EINVAL, "LOGIN", "admin", NULL, NULL);
    REFUSE(FS_EINVAL, "login ", "admin", NULL, NULL);
    REFUSE(FS_EREQUIRED, "login", "", NULL, NULL);
    REFUSE(FS_ETOOBIG, "login", longname, NULL, NULL); /* limit + 1 bytes */
    REFUSE(FS_ETOOBIG, "login", "admin", longname, NULL);
    REFUSE(FS_ETOOBIG, "login", "admin", NULL, longdetail);
    REFUSE(FS_ETYPE, "login", "admin", NULL, "reason=x\nSECRET");
    REFUSE(FS_ETYPE, "login", "admin", NULL, "reason=x\rSECRET");
    REFUSE(FS_ETYPE, "login", "admin", NULL, "reason=x\tSECRET");
    REFUSE(FS_ETYPE, "login", "admin\nSECRET", NULL, NULL);
    REFUSE(FS_ETYPE, "login", "admin", "dev\x1b[2JSECRET", NULL);
    REFUSE(FS_ETYPE, "login", "admin\x7fSECRET", NULL, NULL);
    REFUSE(FS_ETYPE, "login", "admin", NULL, "客戶SECRET");           /* detail: ASCII only */
    REFUSE(FS_ETYPE, "login", "admin\xc3\x28SECRET", NULL, NULL);     /* bad continuation */
    REFUSE(FS_ETYPE, "login", "admin\xc0\xafSECRET", NULL, NULL);     /* overlong '/' */
    REFUSE(FS_ETYPE, "login", "\xe0\x80\xafSECRET", NULL, NULL);      /* overlong, 3 bytes */
    REFUSE(FS_ETYPE, "login", "\xed\xa0\x80SECRET", NULL, NULL);      /* surrogate */
    REFUSE(FS_ETYPE, "login", "\xf4\x90\x80\x80SECRET", NULL, NULL);  /* > U+10FFFF */
    REFUSE(FS_ETYPE, "login", "admin\xe4\xb8SECRET", NULL, NULL);     /* truncated */
    REFUSE(FS_ETYPE, "login", "admin\xe4\xb8", NULL, NULL);           /* truncated at the end */
    REFUSE(FS_ETYPE, "login", "admin\xc2\x85SECRET", NULL, NULL);     /* NEL, a C1 control */
    REFUSE(FS_ETYPE, "login", "admin\xe2\x80\xa8SECRET", NULL, NULL); /* line separator */
    REFUSE(FS_ETYPE, "login", "admin\xe2\x80\xaeSECRET", NULL, NULL); /* right-to-left override */
    REFUSE(FS_ETYPE, "login", "admin\xe2\x81\xa6SECRET", NULL, NULL); /* left-to-right isolate */
    REFUSE(FS_ETYPE, "login", "ad\xe2\x80\x8bmin", NULL, NULL);       /* zero-width space */
    REFUSE(FS_ETYPE, "login", "\xef\xbb\xbf_admin", NULL, NULL);      /* BOM */
    expect_ok(a, 10);

    /* Accepted: every kind, non-ASCII names, fields exactly at their limit. */
    size_t nk;
    const char *const *kinds = fs_audit_kinds(&nk);
    CHECK(nk >= 8);
    for (size_t i = 0; i < nk; i++)
        CHECK_OK(fs_audit_append(a, kinds[i], "admin", "dev-1", "reason=test"));
    CHECK_OK(fs_audit_append(a, "login", "王小明", "José-Ñ-ü", NULL));
    CHECK_OK(fs_audit_append(a, "login", longname + 1, longname + 1, longdetail + 1));
    CHECK_OK(fs_audit_append(a, "login", "a", "", ""));
    expect_ok(a, 10 + nk + 3);
    fs_audit_close(a);
    sqlite3_close(db);
}

/* ---- transactions ---- */

static void test_runs_in_callers_transaction(void)
{
    sqlite3 *db = NULL;
    fs_audit *a = make_log(&db, 10);
    sql(db, "CREATE TABLE other(x)");

    sql(db, "BEGIN");
    append_n(a, 11, 13);
    sql(db, "ROLLBACK");
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM audit"), 10);
    expect_ok(a, 10);

    sql(db, "BEGIN; INSERT INTO other VALUES(1)");
    append_n(a, 11, 13);
    CHECK(!sqlite3_get_autocommit(db)); /* still the caller's */
    sql(db, "COMMIT");
    expect_ok(a, 13);

    /* A refused append leaves the caller's transaction open and intact. */
    sql(db, "BEGIN; INSERT INTO other VALUES(2)");
    CHECK_ERR(fs_audit_append(a, "nonsense", "admin", NULL, NULL), FS_EINVAL);
    CHECK(!sqlite3_get_autocommit(db));
    append_n(a, 14, 14);
    sql(db, "COMMIT");
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM other"), 2);
    expect_ok(a, 14);
    fs_audit_close(a);
    sqlite3_close(db);
}

static void test_failed_append_rolls_back_its_row(void)
{
    sqlite3 *db = NULL;
    fs_audit *a = make_log(&db, 10);
    sql(db, "CREATE TABLE other(x);"
            " CREATE TRIGGER fail_anchor BEFORE UPDATE ON audit_anchor"
            " BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
    /* Own transaction: the row inserted before the anchor update is gone. */
    CHECK(fs_audit_append(a, "login", "admin", NULL, NULL) != 0);
    CHECK(sqlite3_get_autocommit(db));
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM audit"), 10);
    /* Caller's transaction: only the module's writes are undone. */
    sql(db, "BEGIN; INSERT INTO other VALUES(1)");
    CHECK(fs_audit_append(a, "login", "admin", NULL, NULL) != 0);
    CHECK(!sqlite3_get_autocommit(db));
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM audit"), 10);
    sql(db, "COMMIT");
    CHECK_EQ_INT(query_int(db, "SELECT count(*) FROM other"), 1);
    sql(db, "DROP TRIGGER fail_anchor");
    expect_ok(a, 10);
    append_n(a, 11, 11);
    expect_ok(a, 11);
    fs_audit_close(a);
    sqlite3_close(db);
}

/* ---- the key ---- */

static int contains(const unsigned char *hay, size_t n, const unsigned char *needle, size_t k)
{
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return 1;
    return 0;
}

/* Fails if any of the database's files holds the key (or half of it). */
static int scan_for_key(const char *path)
{
    static const char *suffix[] = {"", "-wal", "-journal", "-shm"};
    int files = 0;
    for (size_t i = 0; i < 4; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        size_t n = 0;
        unsigned char *buf = test_read_file(p, &n);
        if (buf == NULL)
            continue;
        files++;
        if (contains(buf, n, key, 16) || contains(buf, n, key + 16, 16))
            FAIL("the audit key is in %s", p);
        free(buf);
    }
    return files;
}

static void test_key_never_written(void)
{
    /* A plain (unencrypted) file, so that a key written anywhere would show. */
    char *dir = test_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/plain.db", dir);
    init_key();
    sqlite3 *db = NULL;
    CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    sql(db, "PRAGMA journal_mode=WAL");
    fs_audit *a = NULL;
    CHECK_OK(fs_audit_open(&a, db, key));
    append_n(a, 1, 300);
    expect_ok(a, 300);
    CHECK(scan_for_key(path) >= 2); /* the database and its WAL */
    /* The log is really in these files in the clear: the scan would see it. */
    char walpath[700];
    snprintf(walpath, sizeof walpath, "%s-wal", path);
    size_t n = 0, m = 0;
    unsigned char *main_file = test_read_file(path, &n), *wal = test_read_file(walpath, &m);
    const unsigned char *marker = (const unsigned char *)"reason=scope n=299";
    CHECK(contains(main_file, n, marker, 18) || (wal != NULL && contains(wal, m, marker, 18)));
    free(main_file);
    free(wal);
    fs_audit_close(a);
    sqlite3_close(db);
    CHECK(scan_for_key(path) >= 1);
    test_rmtree(dir);
}

static void test_read_only_connection_verifies(void)
{
    /* `audit verify` may open the database read-only: open writes nothing
     * when the log is there. */
    char *dir = test_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/ro.db", dir);
    init_key();
    sqlite3 *db = NULL;
    CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    fs_audit *a = NULL;
    CHECK_OK(fs_audit_open(&a, db, key));
    append_n(a, 1, 20);
    fs_audit_close(a);
    sqlite3_close(db);
    CHECK_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    CHECK_OK(fs_audit_open(&a, db, key));
    expect_ok(a, 20);
    CHECK(fs_audit_append(a, "login", "admin", NULL, NULL) != 0);
    expect_ok(a, 20);
    fs_audit_close(a);
    sqlite3_close(db);
    test_rmtree(dir);
}

/* clang-format off */
TEST_LIST(TEST(append_verify_1000_encrypted) TEST(empty_log_verifies)
          TEST(list_pages_and_stops) TEST(count_since_and_last) TEST(query_windows)
          TEST(macs_follow_documented_format)
          TEST(modified_seq) TEST(modified_at_ms) TEST(modified_at_ms_type)
          TEST(modified_kind) TEST(modified_actor) TEST(modified_actor_type)
          TEST(modified_subject) TEST(modified_detail) TEST(bytes_moved_between_fields)
          TEST(modified_prev) TEST(modified_mac)
          TEST(deleted_middle_entry) TEST(deleted_first_entry) TEST(deleted_last_entry)
          TEST(deleted_tail_with_anchor_rewritten) TEST(deleted_anchor) TEST(dropped_log_table)
          TEST(swapped_entries) TEST(reversed_tail)
          TEST(forged_entry_appended) TEST(forged_entry_inserted_in_middle)
          TEST(entries_past_the_anchor) TEST(wrong_key)
          TEST(guard_triggers) TEST(refused_input_writes_nothing)
          TEST(runs_in_callers_transaction) TEST(failed_append_rolls_back_its_row)
          TEST(key_never_written) TEST(read_only_connection_verifies))
/* clang-format on */
