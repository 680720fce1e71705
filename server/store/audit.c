/*
 * The server's audit log: an append-only table of security events in the
 * caller's database, each entry MACed over its fields and its predecessor's
 * MAC, plus an anchor row (count, last MAC) MACed the same way and rewritten
 * in the same transaction as every append. The format and the MAC inputs are
 * documented in fieldsync/audit.h.
 *
 * Appends are O(1): they chain from the anchor (after checking its MAC and
 * that the last stored entry is the one it names) and never read the rest
 * of the log. fs_audit_verify() walks everything.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.h"
#include "fieldsync/clock.h"

#define LABEL_BYTES 16
static const char label_entry[LABEL_BYTES] = "fieldsync-auditE";
static const char label_anchor[LABEL_BYTES] = "fieldsync-auditA";

static const char *const kinds[] = {
    "enroll",      "enroll_refused", "auth_failed",     "revoke",
    "wipe",        "refused_write",  "scope_change",    "export",
    "report_read", "login",          "session_refused", "user_disable",
    "user_enable",   "restamped_write", "restore",
    "device_fork",   "user_move",      "backup",
    "team_set",      "export_key_rotate", "export_key_retire",
    "compact",
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

struct fs_audit {
    sqlite3 *db;        /* the caller's; not closed here */
    unsigned char *key; /* FS_AUDIT_KEY_BYTES, sodium_malloc'd */
    sqlite3_stmt *anchor_get, *last_get, *insert, *anchor_set;
    /* fs_audit_set_wrap: around each append (the PostgreSQL store's log) */
    int (*wrap_begin)(void *ctx);
    int (*wrap_end)(void *ctx, int rc);
    void *wrap_ctx;
    char errmsg[256];
};

/* A field of an entry: its bytes (NUL-terminated, both from the caller and
 * from SQLite) and their length. */
typedef struct text {
    const unsigned char *p;
    size_t n;
} text;

static _Thread_local char open_error[256];

static int fail(fs_audit *a, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(fs_audit *a, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->errmsg, sizeof a->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

/* Maps a SQLite failure to a code and message. Constraint failures on the
 * audit tables only happen when the log and its anchor disagree (or a
 * trigger refused a write that bypassed this module): FS_EAUDIT. */
static int dbfail(fs_audit *a, int rc, const char *what)
{
    const char *msg = sqlite3_errmsg(a->db);
    switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return fail(a, FS_EBUSY, "%s: the database is in use", what);
    case SQLITE_FULL:
        return fail(a, FS_EFULL, "%s: disk full", what);
    case SQLITE_NOMEM:
        return fail(a, FS_ENOMEM, "%s: out of memory", what);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return fail(a, FS_EINTEGRITY, "%s: database is damaged (%s)", what, msg);
    case SQLITE_IOERR:
        return fail(a, FS_EIO, "%s: I/O error (%s)", what, msg);
    case SQLITE_CONSTRAINT:
        return fail(a, FS_EAUDIT, "%s: the audit log does not match its anchor (%s)", what, msg);
    default:
        return fail(a, FS_EDB, "%s: %s", what, msg);
    }
}

static int exec(fs_audit *a, const char *sql, const char *what)
{
    int rc = sqlite3_exec(a->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : dbfail(a, rc, what);
}

static int prepare(fs_audit *a, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v3(a->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    return rc == SQLITE_OK ? 0 : dbfail(a, rc, "preparing an audit statement");
}

/* ---- transactions ---- */

/* Starts the module's own write transaction when the connection has none,
 * else a savepoint inside the caller's, so that a failure rolls back this
 * module's writes only. */
static int tx_begin(fs_audit *a, int *own)
{
    *own = sqlite3_get_autocommit(a->db) != 0;
    return exec(a, *own ? "BEGIN IMMEDIATE" : "SAVEPOINT fs_audit", "cannot start a transaction");
}

static int tx_end(fs_audit *a, int own, int rc)
{
    if (own) {
        if (rc == 0)
            rc = exec(a, "COMMIT", "cannot commit the audit entry");
        if (rc != 0 && !sqlite3_get_autocommit(a->db))
            sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    if (rc == 0)
        return exec(a, "RELEASE fs_audit", "cannot release the audit savepoint");
    /* Fails harmlessly if SQLite already rolled the caller's transaction
     * back (disk full, I/O error). */
    sqlite3_exec(a->db, "ROLLBACK TO fs_audit; RELEASE fs_audit", NULL, NULL, NULL);
    return rc;
}

/* ---- MACs ---- */

static void put_u32(unsigned char b[4], uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char b[8], uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static void hash_text(crypto_generichash_blake2b_state *st, text t)
{
    unsigned char len[4];
    assert(t.n <= UINT32_MAX);
    put_u32(len, (uint32_t)t.n);
    crypto_generichash_blake2b_update(st, len, sizeof len);
    if (t.n > 0)
        crypto_generichash_blake2b_update(st, t.p, t.n);
}

/* fields: kind, actor, subject, detail. */
static void entry_mac(const fs_audit *a, uint64_t seq, int64_t at_ms, const text fields[4],
                      const unsigned char prev[FS_AUDIT_MAC_BYTES],
                      unsigned char out[FS_AUDIT_MAC_BYTES])
{
    crypto_generichash_blake2b_state st;
    unsigned char num[8];
    crypto_generichash_blake2b_init(&st, a->key, FS_AUDIT_KEY_BYTES, FS_AUDIT_MAC_BYTES);
    crypto_generichash_blake2b_update(&st, (const unsigned char *)label_entry, LABEL_BYTES);
    put_u64(num, seq);
    crypto_generichash_blake2b_update(&st, num, sizeof num);
    put_u64(num, (uint64_t)at_ms);
    crypto_generichash_blake2b_update(&st, num, sizeof num);
    for (int i = 0; i < 4; i++)
        hash_text(&st, fields[i]);
    crypto_generichash_blake2b_update(&st, prev, FS_AUDIT_MAC_BYTES);
    crypto_generichash_blake2b_final(&st, out, FS_AUDIT_MAC_BYTES);
    sodium_memzero(&st, sizeof st); /* holds key-derived state */
}

static void anchor_mac(const fs_audit *a, uint64_t entries,
                       const unsigned char head[FS_AUDIT_MAC_BYTES],
                       unsigned char out[FS_AUDIT_MAC_BYTES])
{
    crypto_generichash_blake2b_state st;
    unsigned char num[8];
    crypto_generichash_blake2b_init(&st, a->key, FS_AUDIT_KEY_BYTES, FS_AUDIT_MAC_BYTES);
    crypto_generichash_blake2b_update(&st, (const unsigned char *)label_anchor, LABEL_BYTES);
    put_u64(num, entries);
    crypto_generichash_blake2b_update(&st, num, sizeof num);
    crypto_generichash_blake2b_update(&st, head, FS_AUDIT_MAC_BYTES);
    crypto_generichash_blake2b_final(&st, out, FS_AUDIT_MAC_BYTES);
    sodium_memzero(&st, sizeof st);
}

/* ---- field checks ---- */

const char *const *fs_audit_kinds(size_t *n)
{
    *n = NKINDS;
    return kinds;
}

static int kind_known(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < NKINDS; i++)
        if (strlen(kinds[i]) == n && memcmp(kinds[i], p, n) == 0)
            return 1;
    return 0;
}

/* Code points refused although printable by Unicode's letter: line and
 * paragraph separators (they break a log line), bidirectional embeddings,
 * overrides and isolates (they reorder what a terminal shows), and
 * invisible marks (zero-width spaces and joiners, LRM/RLM, BOM). */
static int refused_code_point(uint32_t c)
{
    return (c >= 0x200B && c <= 0x200F) || (c >= 0x2028 && c <= 0x202E) ||
           (c >= 0x2066 && c <= 0x2069) || c == 0xFEFF;
}

/* Checks that t is well-formed UTF-8 (shortest forms, no surrogates, at most
 * U+10FFFF) with no C0 or C1 control character, no DEL and no refused code
 * point; with ascii set, printable ASCII only. Returns 0 or, with *at set to
 * the offending byte offset, -1. */
static int check_printable(text t, int ascii, size_t *at)
{
    const unsigned char *s = t.p;
    size_t i = 0;
    while (i < t.n) {
        unsigned char b = s[i];
        *at = i;
        if (b < 0x80) {
            if (b < 0x20 || b == 0x7F)
                return -1;
            i++;
            continue;
        }
        if (ascii)
            return -1;
        size_t len;
        uint32_t c;
        unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
        if (b >= 0xC2 && b <= 0xDF) {
            len = 2;
            c = b & 0x1Fu;
        } else if (b >= 0xE0 && b <= 0xEF) {
            len = 3;
            c = b & 0x0Fu;
            if (b == 0xE0)
                lo = 0xA0; /* overlong */
            else if (b == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (b >= 0xF0 && b <= 0xF4) {
            len = 4;
            c = b & 0x07u;
            if (b == 0xF0)
                lo = 0x90; /* overlong */
            else if (b == 0xF4)
                hi = 0x8F; /* above U+10FFFF */
        } else {
            return -1; /* continuation byte, overlong lead or out of range */
        }
        if (t.n - i < len)
            return -1;
        for (size_t k = 1; k < len; k++) {
            unsigned char cb = s[i + k];
            if (cb < (k == 1 ? lo : 0x80) || cb > (k == 1 ? hi : 0xBF))
                return -1;
            c = (c << 6) | (cb & 0x3Fu);
        }
        if (c < 0xA0 || refused_code_point(c)) /* C1 controls are U+0080..U+009F */
            return -1;
        i += len;
    }
    return 0;
}

static const char *const field_names[4] = {"kind", "actor", "subject", "detail"};

/* Checks the four fields as fs_audit_append() requires them; used on input
 * and on what fs_audit_list() reads back. */
static int check_fields(fs_audit *a, const text f[4], const char *where)
{
    if (!kind_known(f[0].p, f[0].n))
        return fail(a, FS_EINVAL, "%sunknown audit event kind", where);
    if (f[1].n == 0)
        return fail(a, FS_EREQUIRED, "%sthe audit actor is empty", where);
    for (int i = 1; i < 4; i++) {
        size_t limit = i == 3 ? FS_AUDIT_MAX_DETAIL : FS_AUDIT_MAX_NAME;
        size_t at = 0;
        if (f[i].n > limit)
            return fail(a, FS_ETOOBIG, "%sthe audit %s is %zu bytes long (at most %zu)", where,
                        field_names[i], f[i].n, limit);
        if (check_printable(f[i], i == 3, &at) != 0)
            return fail(a, FS_ETYPE, "%sthe audit %s is not printable %s text (byte %zu)", where,
                        field_names[i], i == 3 ? "ASCII" : "UTF-8", at);
    }
    return 0;
}

static text text_of(const char *s)
{
    text t = {(const unsigned char *)(s ? s : ""), s ? strlen(s) : 0};
    return t;
}

/* Reads column col as text; 0 if it is not stored as TEXT. */
static int column_text(sqlite3_stmt *st, int col, text *out)
{
    if (sqlite3_column_type(st, col) != SQLITE_TEXT)
        return 0;
    out->p = sqlite3_column_text(st, col);
    out->n = (size_t)sqlite3_column_bytes(st, col);
    return out->p != NULL;
}

/* Reads column col as a MAC; 0 if it is not a 32-byte BLOB. */
static int column_mac(sqlite3_stmt *st, int col, unsigned char out[FS_AUDIT_MAC_BYTES])
{
    if (sqlite3_column_type(st, col) != SQLITE_BLOB ||
        sqlite3_column_bytes(st, col) != FS_AUDIT_MAC_BYTES)
        return 0;
    memcpy(out, sqlite3_column_blob(st, col), FS_AUDIT_MAC_BYTES);
    return 1;
}

/* ---- the anchor ---- */

/* Reads the anchor. *valid is 1 when it is present, well-typed and its MAC
 * matches; then *entries and head are set. Returns 0 or a database code. */
static int anchor_read(fs_audit *a, int *valid, uint64_t *entries,
                       unsigned char head[FS_AUDIT_MAC_BYTES])
{
    sqlite3_stmt *st = a->anchor_get;
    unsigned char mac[FS_AUDIT_MAC_BYTES], want[FS_AUDIT_MAC_BYTES];
    *valid = 0;
    *entries = 0;
    memset(head, 0, FS_AUDIT_MAC_BYTES);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER &&
        sqlite3_column_int64(st, 0) >= 0 && column_mac(st, 1, head) && column_mac(st, 2, mac)) {
        *entries = (uint64_t)sqlite3_column_int64(st, 0);
        anchor_mac(a, *entries, head, want);
        *valid = sodium_memcmp(mac, want, sizeof mac) == 0;
    }
    int rc = 0;
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = dbfail(a, src, "cannot read the audit anchor");
    sqlite3_reset(st);
    if (rc != 0)
        return rc;
    if (!*valid) {
        *entries = 0;
        memset(head, 0, FS_AUDIT_MAC_BYTES);
    }
    return 0;
}

/* ---- open, close ---- */

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS audit(seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL,"
    " kind TEXT NOT NULL, actor TEXT NOT NULL, subject TEXT NOT NULL, detail TEXT NOT NULL,"
    " prev BLOB NOT NULL, mac BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS audit_anchor(one INTEGER PRIMARY KEY CHECK(one = 1),"
    " entries INTEGER NOT NULL, head BLOB NOT NULL, mac BLOB NOT NULL);"
    "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'fieldsync: the audit log is append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'fieldsync: the audit log is append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS audit_in_order BEFORE INSERT ON audit"
    " WHEN NEW.seq IS NOT (SELECT entries + 1 FROM audit_anchor)"
    " BEGIN SELECT RAISE(ABORT, 'fieldsync: audit entries are appended in sequence'); END;"
    "CREATE TRIGGER IF NOT EXISTS audit_anchor_forward BEFORE UPDATE ON audit_anchor"
    " WHEN NEW.one IS NOT OLD.one OR NEW.entries IS NOT OLD.entries + 1"
    " BEGIN SELECT RAISE(ABORT, 'fieldsync: the audit anchor only advances'); END;"
    "CREATE TRIGGER IF NOT EXISTS audit_anchor_no_delete BEFORE DELETE ON audit_anchor"
    " BEGIN SELECT RAISE(ABORT, 'fieldsync: the audit anchor cannot be deleted'); END;";

#define SCHEMA_OBJECTS 7 /* tables and triggers created by schema_sql */

static int query_int(fs_audit *a, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    *out = 0;
    int src = sqlite3_prepare_v2(a->db, sql, -1, &st, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    int rc = (src == SQLITE_ROW || src == SQLITE_DONE) ? 0 : dbfail(a, src, "reading the schema");
    sqlite3_finalize(st);
    return rc;
}

/* Creates what is missing. The empty anchor is written only when the log
 * has no entries: an anchor removed from a non-empty log stays missing, for
 * fs_audit_verify() to report. Writes nothing when all is there (so a
 * read-only connection can open and verify). */
static int setup(fs_audit *a)
{
    int64_t objects = 0, anchors = 0, entries = 0;
    int rc = query_int(a,
                       "SELECT count(*) FROM sqlite_master WHERE name IN ('audit','audit_anchor',"
                       "'audit_no_update','audit_no_delete','audit_in_order',"
                       "'audit_anchor_forward','audit_anchor_no_delete')",
                       &objects);
    if (rc == 0 && objects == SCHEMA_OBJECTS)
        rc = query_int(a, "SELECT count(*) FROM audit_anchor", &anchors);
    if (rc == 0 && objects == SCHEMA_OBJECTS && anchors == 0)
        rc = query_int(a, "SELECT count(*) FROM audit", &entries);
    if (rc != 0 || (objects == SCHEMA_OBJECTS && (anchors > 0 || entries > 0)))
        return rc;
    int own;
    rc = tx_begin(a, &own);
    if (rc != 0)
        return rc;
    rc = exec(a, schema_sql, "cannot create the audit log");
    if (rc == 0)
        rc = query_int(a, "SELECT count(*) FROM audit_anchor", &anchors);
    if (rc == 0 && anchors == 0)
        rc = query_int(a, "SELECT count(*) FROM audit", &entries);
    if (rc == 0 && anchors == 0 && entries == 0) {
        unsigned char zeros[FS_AUDIT_MAC_BYTES] = {0}, mac[FS_AUDIT_MAC_BYTES];
        sqlite3_stmt *st = NULL;
        anchor_mac(a, 0, zeros, mac);
        int src = sqlite3_prepare_v2(a->db,
                                     "INSERT INTO audit_anchor(one, entries, head, mac)"
                                     " VALUES(1, 0, ?1, ?2)",
                                     -1, &st, NULL);
        if (src == SQLITE_OK)
            src = sqlite3_bind_blob(st, 1, zeros, sizeof zeros, SQLITE_TRANSIENT);
        if (src == SQLITE_OK)
            src = sqlite3_bind_blob(st, 2, mac, sizeof mac, SQLITE_TRANSIENT);
        if (src == SQLITE_OK)
            src = sqlite3_step(st);
        if (src != SQLITE_DONE)
            rc = dbfail(a, src, "cannot create the audit anchor");
        sqlite3_finalize(st);
    }
    return tx_end(a, own, rc);
}

int fs_audit_open(fs_audit **out, sqlite3 *db, const unsigned char key[FS_AUDIT_KEY_BYTES])
{
    assert(out != NULL && db != NULL && key != NULL);
    *out = NULL;
    open_error[0] = '\0';
    if (sodium_init() < 0) {
        snprintf(open_error, sizeof open_error, "cannot initialize libsodium");
        return FS_EINVAL;
    }
    fs_audit *a = calloc(1, sizeof *a);
    if (a == NULL) {
        snprintf(open_error, sizeof open_error, "out of memory");
        return FS_ENOMEM;
    }
    a->db = db;
    int rc = 0;
    a->key = sodium_malloc(FS_AUDIT_KEY_BYTES);
    if (a->key == NULL)
        rc = fail(a, FS_ENOMEM, "out of memory for the audit key");
    if (rc == 0) {
        memcpy(a->key, key, FS_AUDIT_KEY_BYTES);
        rc = setup(a);
    }
    if (rc == 0)
        rc =
            prepare(a, "SELECT entries, head, mac FROM audit_anchor WHERE one = 1", &a->anchor_get);
    if (rc == 0)
        rc = prepare(a, "SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1", &a->last_get);
    if (rc == 0)
        rc = prepare(a,
                     "INSERT INTO audit(seq, at_ms, kind, actor, subject, detail, prev, mac)"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                     &a->insert);
    if (rc == 0)
        rc = prepare(a, "UPDATE audit_anchor SET entries = ?1, head = ?2, mac = ?3 WHERE one = 1",
                     &a->anchor_set);
    if (rc != 0) {
        snprintf(open_error, sizeof open_error, "%s", a->errmsg[0] ? a->errmsg : fs_strerror(rc));
        fs_audit_close(a);
        return rc;
    }
    *out = a;
    return 0;
}

void fs_audit_close(fs_audit *a)
{
    if (a == NULL)
        return;
    sqlite3_finalize(a->anchor_get);
    sqlite3_finalize(a->last_get);
    sqlite3_finalize(a->insert);
    sqlite3_finalize(a->anchor_set);
    sodium_free(a->key); /* wipes it */
    free(a);
}

const char *fs_audit_errmsg(const fs_audit *a)
{
    return a ? a->errmsg : open_error;
}

/* ---- append ---- */

/* Checks that the last stored entry is the one the anchor names. */
static int check_tail(fs_audit *a, uint64_t entries, const unsigned char head[FS_AUDIT_MAC_BYTES])
{
    sqlite3_stmt *st = a->last_get;
    unsigned char mac[FS_AUDIT_MAC_BYTES];
    int src = sqlite3_step(st);
    int match;
    if (src == SQLITE_ROW)
        match = (uint64_t)sqlite3_column_int64(st, 0) == entries && column_mac(st, 1, mac) &&
                memcmp(mac, head, sizeof mac) == 0;
    else
        match = entries == 0;
    int rc = 0;
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = dbfail(a, src, "cannot read the audit log");
    sqlite3_reset(st);
    if (rc != 0)
        return rc;
    if (!match)
        return fail(a, FS_EAUDIT,
                    "the last audit entry is not the one the anchor records (entry %llu):"
                    " the log was modified; run audit verify",
                    (unsigned long long)entries);
    return 0;
}

static int append_entry(fs_audit *a, int64_t at, const text f[4])
{
    uint64_t entries;
    int valid;
    unsigned char prev[FS_AUDIT_MAC_BYTES], mac[FS_AUDIT_MAC_BYTES], amac[FS_AUDIT_MAC_BYTES];
    int rc = anchor_read(a, &valid, &entries, prev);
    if (rc != 0)
        return rc;
    if (!valid)
        return fail(a, FS_EAUDIT,
                    "the audit anchor is missing or does not match the key:"
                    " the log was modified or the key is wrong");
    rc = check_tail(a, entries, prev);
    if (rc != 0)
        return rc;
    if (entries >= (uint64_t)INT64_MAX)
        return fail(a, FS_ETOOBIG, "the audit log is full");
    uint64_t seq = entries + 1;
    entry_mac(a, seq, at, f, prev, mac);
    anchor_mac(a, seq, mac, amac);

    sqlite3_stmt *st = a->insert;
    int src = sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
    if (src == SQLITE_OK)
        src = sqlite3_bind_int64(st, 2, at);
    for (int i = 0; i < 4 && src == SQLITE_OK; i++)
        src = sqlite3_bind_text(st, 3 + i, (const char *)f[i].p, (int)f[i].n, SQLITE_STATIC);
    if (src == SQLITE_OK)
        src = sqlite3_bind_blob(st, 7, prev, sizeof prev, SQLITE_STATIC);
    if (src == SQLITE_OK)
        src = sqlite3_bind_blob(st, 8, mac, sizeof mac, SQLITE_STATIC);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    rc = src == SQLITE_DONE ? 0 : dbfail(a, src, "cannot append to the audit log");
    sqlite3_clear_bindings(st);
    sqlite3_reset(st);
    if (rc != 0)
        return rc;

    st = a->anchor_set;
    src = sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
    if (src == SQLITE_OK)
        src = sqlite3_bind_blob(st, 2, mac, sizeof mac, SQLITE_STATIC);
    if (src == SQLITE_OK)
        src = sqlite3_bind_blob(st, 3, amac, sizeof amac, SQLITE_STATIC);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    rc = src == SQLITE_DONE ? 0 : dbfail(a, src, "cannot update the audit anchor");
    sqlite3_clear_bindings(st);
    sqlite3_reset(st);
    if (rc != 0)
        return rc;
    if (sqlite3_changes(a->db) != 1)
        return fail(a, FS_EAUDIT, "the audit anchor disappeared during an append");
    return 0;
}

int fs_audit_append(fs_audit *a, const char *kind, const char *actor, const char *subject,
                    const char *detail)
{
    assert(a != NULL && kind != NULL && actor != NULL);
    a->errmsg[0] = '\0';
    const text f[4] = {text_of(kind), text_of(actor), text_of(subject), text_of(detail)};
    int rc = check_fields(a, f, "");
    if (rc != 0)
        return rc;
    if (a->wrap_begin != NULL && (rc = a->wrap_begin(a->wrap_ctx)) != 0)
        return fail(a, rc, "cannot start the audit entry's transaction");
    int own;
    rc = tx_begin(a, &own);
    if (rc == 0)
        rc = tx_end(a, own, append_entry(a, (int64_t)fs_clock_wall_ms(), f));
    if (a->wrap_begin != NULL) {
        int wrc = a->wrap_end(a->wrap_ctx, rc);
        if (rc == 0 && wrc != 0)
            rc = fail(a, wrc, "cannot commit the audit entry's transaction");
    }
    return rc;
}

void fs_audit_set_wrap(fs_audit *a, int (*begin)(void *ctx), int (*end)(void *ctx, int rc),
                       void *ctx)
{
    a->wrap_begin = begin;
    a->wrap_end = end;
    a->wrap_ctx = ctx;
}

/* ---- verify, head, list ---- */

/* Checks one stored row against the chain. Returns NULL when it is intact
 * (and advances prev), else what is wrong with it. */
static const char *check_row(fs_audit *a, sqlite3_stmt *st, uint64_t seq,
                             unsigned char prev[FS_AUDIT_MAC_BYTES])
{
    text f[4];
    unsigned char stored_prev[FS_AUDIT_MAC_BYTES], stored_mac[FS_AUDIT_MAC_BYTES],
        mac[FS_AUDIT_MAC_BYTES];
    if (sqlite3_column_type(st, 1) != SQLITE_INTEGER)
        return "has a malformed time";
    for (int i = 0; i < 4; i++)
        if (!column_text(st, 2 + i, &f[i]))
            return "has a malformed field";
    if (!column_mac(st, 6, stored_prev) || !column_mac(st, 7, stored_mac))
        return "has a malformed MAC";
    if (memcmp(stored_prev, prev, FS_AUDIT_MAC_BYTES) != 0)
        return "does not follow the entry before it";
    entry_mac(a, seq, sqlite3_column_int64(st, 1), f, prev, mac);
    if (sodium_memcmp(mac, stored_mac, sizeof mac) != 0)
        return "was modified or moved (or the key is wrong)";
    memcpy(prev, mac, FS_AUDIT_MAC_BYTES);
    return NULL;
}

static int verify(fs_audit *a, uint64_t *entries, uint64_t *first_bad)
{
    unsigned char head[FS_AUDIT_MAC_BYTES], prev[FS_AUDIT_MAC_BYTES] = {0};
    unsigned char at_anchor[FS_AUDIT_MAC_BYTES] = {0}; /* mac of entry anchored */
    uint64_t anchored, rows = 0, expected = 1, bad = 0;
    int valid;
    int rc = anchor_read(a, &valid, &anchored, head);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = NULL;
    rc = prepare(a,
                 "SELECT seq, at_ms, kind, actor, subject, detail, prev, mac FROM audit"
                 " ORDER BY seq",
                 &st);
    if (rc != 0)
        return rc;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        rows++;
        if (bad != 0)
            continue; /* only counting */
        int64_t seq = sqlite3_column_int64(st, 0);
        if (seq != (int64_t)expected) {
            bad = expected;
            if (seq > (int64_t)expected)
                fail(a, FS_EAUDIT, "audit entry %llu is missing", (unsigned long long)bad);
            else
                fail(a, FS_EAUDIT, "an entry with sequence number %lld precedes entry 1",
                     (long long)seq);
            continue;
        }
        const char *why = check_row(a, st, expected, prev);
        if (why != NULL) {
            bad = expected;
            fail(a, FS_EAUDIT, "audit entry %llu %s", (unsigned long long)bad, why);
            continue;
        }
        if (expected == anchored)
            memcpy(at_anchor, prev, sizeof at_anchor);
        expected++;
    }
    if (src != SQLITE_DONE) {
        rc = dbfail(a, src, "cannot read the audit log");
        sqlite3_finalize(st);
        return rc;
    }
    sqlite3_finalize(st);
    *entries = rows;
    if (bad == 0) {
        /* Entries 1..rows form an intact chain; the anchor says where it ends. */
        if (!valid) {
            bad = rows + 1;
            fail(a, FS_EAUDIT,
                 "the audit anchor is missing or was modified (or the key is wrong);"
                 " the %llu entries stored form an intact chain",
                 (unsigned long long)rows);
        } else if (rows < anchored) {
            bad = rows + 1;
            fail(a, FS_EAUDIT, "the audit log was truncated: %llu of %llu entries remain",
                 (unsigned long long)rows, (unsigned long long)anchored);
        } else if (memcmp(at_anchor, head, sizeof head) != 0) {
            bad = anchored;
            fail(a, FS_EAUDIT, "audit entry %llu is not the one the anchor records",
                 (unsigned long long)bad);
        } else if (rows > anchored) {
            bad = anchored + 1;
            fail(a, FS_EAUDIT, "the audit log holds %llu entries but its anchor records %llu",
                 (unsigned long long)rows, (unsigned long long)anchored);
        }
    }
    *first_bad = bad;
    return bad == 0 ? 0 : FS_EAUDIT;
}

int fs_audit_verify(fs_audit *a, uint64_t *entries, uint64_t *first_bad)
{
    assert(a != NULL && entries != NULL && first_bad != NULL);
    *entries = 0;
    *first_bad = 0;
    a->errmsg[0] = '\0';
    /* One read transaction, so the anchor and the rows are one snapshot. */
    int own = sqlite3_get_autocommit(a->db) != 0;
    int rc = own ? exec(a, "BEGIN", "cannot start a transaction") : 0;
    if (rc != 0)
        return rc;
    rc = verify(a, entries, first_bad);
    if (own)
        sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL); /* nothing was written */
    if (rc != 0 && rc != FS_EAUDIT)
        *first_bad = 0;
    return rc;
}

int fs_audit_head(fs_audit *a, uint64_t *entries, unsigned char head[FS_AUDIT_MAC_BYTES])
{
    assert(a != NULL && entries != NULL && head != NULL);
    int valid;
    a->errmsg[0] = '\0';
    int rc = anchor_read(a, &valid, entries, head);
    if (rc == 0 && !valid)
        rc = fail(a, FS_EAUDIT, "the audit anchor is missing or does not match the key");
    return rc;
}

int fs_audit_mac_at(fs_audit *a, uint64_t seq, unsigned char mac[FS_AUDIT_MAC_BYTES])
{
    assert(a != NULL && mac != NULL);
    a->errmsg[0] = '\0';
    if (seq == 0 || seq > (uint64_t)INT64_MAX)
        return fail(a, FS_ENOTFOUND, "the audit log has no entry %llu", (unsigned long long)seq);
    sqlite3_stmt *st = NULL;
    int rc = prepare(a, "SELECT mac FROM audit WHERE seq = ?1", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) == SQLITE_BLOB &&
            sqlite3_column_bytes(st, 0) == FS_AUDIT_MAC_BYTES)
            memcpy(mac, sqlite3_column_blob(st, 0), FS_AUDIT_MAC_BYTES);
        else
            rc = fail(a, FS_EAUDIT, "audit entry %llu is malformed; run audit verify",
                      (unsigned long long)seq);
    } else if (src == SQLITE_DONE) {
        rc = fail(a, FS_ENOTFOUND, "the audit log has no entry %llu", (unsigned long long)seq);
    } else {
        rc = dbfail(a, src, "cannot read the audit log");
    }
    sqlite3_finalize(st);
    return rc;
}

static int deliver(fs_audit *a, sqlite3_stmt *st, int (*cb)(const fs_audit_entry *e, void *ctx),
                   void *ctx);

int fs_audit_list(fs_audit *a, uint64_t after, size_t max,
                  int (*cb)(const fs_audit_entry *e, void *ctx), void *ctx)
{
    assert(a != NULL && cb != NULL);
    a->errmsg[0] = '\0';
    sqlite3_stmt *st = NULL;
    int rc = prepare(a,
                     "SELECT seq, at_ms, kind, actor, subject, detail FROM audit"
                     " WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                     &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, after > (uint64_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)after);
    sqlite3_bind_int64(st, 2, max == 0 || max > (size_t)INT64_MAX ? -1 : (sqlite3_int64)max);
    return deliver(a, st, cb, ctx);
}

/* Steps st (columns seq, at_ms, kind, actor, subject, detail), checks and
 * delivers each row, finalizes st. */
static int deliver(fs_audit *a, sqlite3_stmt *st, int (*cb)(const fs_audit_entry *e, void *ctx),
                   void *ctx)
{
    int rc = 0, src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        fs_audit_entry e;
        text f[4];
        e.seq = (uint64_t)sqlite3_column_int64(st, 0);
        int ok = sqlite3_column_type(st, 1) == SQLITE_INTEGER;
        for (int i = 0; ok && i < 4; i++)
            ok = column_text(st, 2 + i, &f[i]);
        if (!ok) {
            rc = fail(a, FS_EAUDIT, "audit entry %llu is malformed; run audit verify",
                      (unsigned long long)e.seq);
            break;
        }
        char where[64];
        snprintf(where, sizeof where, "audit entry %llu: ", (unsigned long long)e.seq);
        if (check_fields(a, f, where) != 0) {
            rc = FS_EAUDIT; /* the message says which field */
            break;
        }
        e.at_ms = sqlite3_column_int64(st, 1);
        e.kind = (const char *)f[0].p;
        e.actor = (const char *)f[1].p;
        e.subject = (const char *)f[2].p;
        e.detail = (const char *)f[3].p;
        rc = cb(&e, ctx);
        if (rc != 0)
            break;
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = dbfail(a, src, "cannot read the audit log");
    sqlite3_finalize(st);
    return rc;
}

/* The WHERE clause of a query: ?1 kind ("" any), ?2 from_ms, ?3 to_ms
 * (INT64_MAX: no end), ?4 after, ?5 before (INT64_MAX: none). */
#define QUERY_WHERE                                                                        \
    " WHERE (?1 = '' OR kind = ?1) AND at_ms >= ?2 AND at_ms < ?3 AND seq > ?4 AND seq < ?5"

static void bind_query(sqlite3_stmt *st, const fs_audit_query *q)
{
    sqlite3_bind_text(st, 1, q->kind != NULL ? q->kind : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, q->from_ms);
    sqlite3_bind_int64(st, 3, q->to_ms > 0 ? q->to_ms : INT64_MAX);
    sqlite3_bind_int64(st, 4,
                       q->after > (uint64_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)q->after);
    sqlite3_bind_int64(st, 5,
                       q->before == 0 || q->before > (uint64_t)INT64_MAX ? INT64_MAX
                                                                          : (sqlite3_int64)q->before);
}

int fs_audit_query_list(fs_audit *a, const fs_audit_query *q,
                        int (*cb)(const fs_audit_entry *e, void *ctx), void *ctx)
{
    assert(a != NULL && q != NULL && cb != NULL);
    a->errmsg[0] = '\0';
    sqlite3_stmt *st = NULL;
    int rc = prepare(a,
                     q->oldest_first
                         ? "SELECT seq, at_ms, kind, actor, subject, detail FROM audit" QUERY_WHERE
                           " ORDER BY seq LIMIT ?6"
                         : "SELECT * FROM (SELECT seq, at_ms, kind, actor, subject, detail FROM "
                           "audit" QUERY_WHERE " ORDER BY seq DESC LIMIT ?6) ORDER BY seq",
                     &st);
    if (rc != 0)
        return rc;
    bind_query(st, q);
    sqlite3_bind_int64(st, 6, q->max == 0 || q->max > (size_t)INT64_MAX ? -1 : (sqlite3_int64)q->max);
    return deliver(a, st, cb, ctx);
}

int fs_audit_query_any(fs_audit *a, const fs_audit_query *q, int *any)
{
    assert(a != NULL && q != NULL && any != NULL);
    a->errmsg[0] = '\0';
    *any = 0;
    sqlite3_stmt *st = NULL;
    int rc = prepare(a, "SELECT 1 FROM audit" QUERY_WHERE " LIMIT 1", &st);
    if (rc != 0)
        return rc;
    bind_query(st, q);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *any = 1;
    else if (src != SQLITE_DONE)
        rc = dbfail(a, src, "cannot read the audit log");
    sqlite3_finalize(st);
    return rc;
}

int fs_audit_count_since(fs_audit *a, const char *kind, int64_t since_ms, uint64_t *count)
{
    assert(a != NULL && kind != NULL && count != NULL);
    a->errmsg[0] = '\0';
    *count = 0;
    sqlite3_stmt *st = NULL;
    int rc = prepare(a, "SELECT count(*) FROM audit WHERE kind = ?1 AND at_ms >= ?2", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, since_ms);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *count = (uint64_t)sqlite3_column_int64(st, 0);
    else
        rc = dbfail(a, src, "cannot count audit entries");
    sqlite3_finalize(st);
    return rc;
}

int fs_audit_last(fs_audit *a, const char *kind, int (*cb)(const fs_audit_entry *e, void *ctx),
                  void *ctx)
{
    assert(a != NULL && kind != NULL && cb != NULL);
    a->errmsg[0] = '\0';
    sqlite3_stmt *st = NULL;
    int rc = prepare(a, "SELECT max(seq) FROM audit WHERE kind = ?1", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    uint64_t seq = 0;
    if (src != SQLITE_ROW)
        rc = dbfail(a, src, "cannot read the audit log");
    else if (sqlite3_column_type(st, 0) == SQLITE_INTEGER)
        seq = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc != 0)
        return rc;
    if (seq == 0)
        return FS_ENOTFOUND;
    /* read through the listing, so the entry's fields are checked */
    return fs_audit_list(a, seq - 1, 1, cb, ctx);
}
