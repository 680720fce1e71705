/*
 * The PostgreSQL backend of the server store (store_pg.h, issue 21.2):
 * PostgreSQL is the authoritative, shared write-ahead log of the SQLite
 * store's transactions; this node's SQLite store (store.c and its kin, the
 * one implementation of the store's logic) is a cache of it.
 *
 * A WRITE (every op that may change the store, and every audit append):
 *   PostgreSQL: BEGIN; SELECT pg_advisory_xact_lock(<store id>) (one writer
 *               at a time across the nodes); SELECT max(seq) FROM fs_log,
 *               with the tag of the entry at the local position
 *   check:      the log still holds this node's entry there (below)
 *   catch up:   apply the entries after the local position (below)
 *   SQLite:     the outer transaction (fs_replica_outer_begin) with a
 *               session attached to every table but pg_node; the SQLite op
 *   nothing written: COMMIT both. Else the changeset, sealed, becomes
 *   PostgreSQL: INSERT INTO fs_log(seq = position + 1); NOTIFY fs_log;
 *               COMMIT (one round trip), the new position written into the
 *               SQLite transaction first
 *   SQLite:     COMMIT.
 * A PostgreSQL failure rolls SQLite back (FS_EDB, the message names
 * PostgreSQL's failure). A node killed between the two commits has an entry
 * its cache lacks and applies it at its next catch-up: the cache is never
 * ahead of the log.
 *
 * A READ catches up first (one round trip: max(seq) and the tag), so a
 * device that moves to another node never finds its cursor ahead of that
 * node's feed.
 *
 * THE POSITION'S CHECK: a node keeps, with its position, the tag of the
 * entry there (its body's first 24 bytes: the random nonce it was sealed
 * with). The log ending before the position, or holding another entry at
 * it (a database restored from an older dump, written to again), is a
 * divergence: the node refuses, naming a restore as the likely cause.
 *
 * CATCH-UP applies the entries after the position in one SQLite transaction
 * with the new position (sqlite3changeset_apply). A conflict is "done"
 * (OMIT) when the row is already as the entry leaves it; anything else
 * aborts, and the node refuses to serve (its cache diverged: a fresh copy of
 * a node's data directory fixes it). Then the replica reloads what it keeps
 * in memory (fs_replica_reload).
 *
 * SEALING (pgbody.c): body = nonce (24) | XChaCha20-Poly1305 of (format
 * byte | the changeset, zstd-compressed when that is smaller), the key
 * derived from the server's identity seed (every node is a copy of the
 * same data directory), associated data = store id (16) | seq (u64
 * big-endian).
 * PostgreSQL holds ciphertext, seq, the writing node's name and a time.
 */
#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sodium.h>
#include <sqlite3.h>

#include "fieldsync/replica_server.h"
#include "store/audit.h"
#include "store/store_sqlite.h"
#include "pgbody.h"
#include "store_pg.h"

#define PG_SCHEMA_VERSION 1
#define PG_URL_MAX 4096
/* An entry's tag: the first bytes of its body, the random nonce of its
 * sealing (crypto_aead_xchacha20poly1305_ietf_NPUBBYTES), unique to it. A
 * node keeps the tag of the entry at its position and checks the log still
 * holds that entry there: a log restored from an older backup and written
 * again past the position holds other entries under the same numbers. */
#define TAG_BYTES FS_PG_TAG_BYTES

typedef struct pg_store {
    fs_store base; /* first: the interface's handle */
    fs_store *sq;  /* the SQLite store: this node's cache */
    fs_replica *r;
    sqlite3 *db;
    PGconn *pg;
    sqlite3_session *sess; /* of the write in progress */
    int depth;             /* nested writes (an audit append inside an op) */
    int began;             /* the outermost write's transactions are open */
    int diverged;          /* a catch-up conflicted: refuse to serve */
    int div_why;           /* what diverged() said: DIV_* */
    long long div_seq;     /* the entry it named */
    int own_err;           /* errmsg is this layer's, not the SQLite store's */
    int notified;          /* a notification arrived since the last catch-up */
    uint8_t store_id[16];
    long long lock_key;
    long long pos; /* the last log entry this cache holds */
    unsigned char tag[TAG_BYTES]; /* the nonce of entry pos (its identity) */
    int has_tag;                  /* 0: pos 0, or a node of a build before tags */
    /* the position before the entries a write replayed in its own SQLite
     * transaction (catch_up_in_write): back to it if that rolls back */
    long long w_pos;
    unsigned char w_tag[TAG_BYTES];
    int w_has_tag;
    unsigned char *key; /* sodium_malloc'd, 32 */
    char node[96];
    char errmsg[512];
} pg_store;

static const fs_store_ops pg_ops;

static _Thread_local char open_error[512];

static int pg_fail(pg_store *p, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int pg_fail(pg_store *p, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->errmsg, sizeof p->errmsg, fmt, ap);
    va_end(ap);
    p->own_err = 1;
    return code;
}

/* PostgreSQL's message, its first line: never a URL or a password (libpq
 * names host, port and user), never customer text (the log holds none). */
static const char *pg_msg(PGconn *c, const PGresult *res)
{
    static _Thread_local char line[256];
    const char *m = res != NULL ? PQresultErrorMessage(res) : "";
    if (m == NULL || m[0] == '\0')
        m = c != NULL ? PQerrorMessage(c) : "out of memory";
    size_t n = strcspn(m, "\n");
    if (n >= sizeof line)
        n = sizeof line - 1;
    memcpy(line, m, n);
    line[n] = '\0';
    return line;
}

static int pg_dbfail(pg_store *p, const PGresult *res, const char *what)
{
    return pg_fail(p, FS_EDB, "PostgreSQL: %s: %s", what, pg_msg(p->pg, res));
}

/* Runs sql (one or more statements) and checks the last result. */
static int pg_exec(pg_store *p, const char *sql, ExecStatusType want, PGresult **out,
                   const char *what)
{
    PGresult *res = PQexec(p->pg, sql);
    if (PQresultStatus(res) != want) {
        int rc = pg_dbfail(p, res, what);
        PQclear(res);
        return rc;
    }
    if (out != NULL)
        *out = res;
    else
        PQclear(res);
    return 0;
}

static int sq_exec(pg_store *p, const char *sql, const char *what)
{
    int src = sqlite3_exec(p->db, sql, NULL, NULL, NULL);
    return src == SQLITE_OK ? 0 : pg_fail(p, FS_EDB, "%s: %s", what, sqlite3_errstr(src));
}

/* ---- this node's own table (never logged) ---- */

static const char node_table_sql[] =
    "CREATE TABLE IF NOT EXISTS pg_node(one INTEGER PRIMARY KEY CHECK(one=1),"
    " store_id BLOB NOT NULL, pos INTEGER NOT NULL, tag BLOB)";

/* The position and the tag of the entry there (NULL: none known). */
static int pos_write(pg_store *p, long long pos, const unsigned char *tag)
{
    sqlite3_stmt *st = NULL;
    if (fs_replica_stmt(p->r, "UPDATE pg_node SET pos=?1, tag=?2 WHERE one=1", &st) != 0)
        return pg_fail(p, FS_EDB, "store: %s", fs_replica_errmsg(p->r));
    sqlite3_bind_int64(st, 1, pos);
    if (tag != NULL)
        sqlite3_bind_blob(st, 2, tag, TAG_BYTES, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    fs_replica_stmt_done(p->r, st);
    return src == SQLITE_DONE ? 0 : pg_fail(p, FS_EDB, "store: %s", sqlite3_errstr(src));
}

static int node_read(pg_store *p)
{
    /* a node made before tags: the column added, the tag learnt from the
     * log at the first catch-up (as trusted as the position was) */
    int has_col = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(p->db, "SELECT 1 FROM pragma_table_info('pg_node') WHERE name='tag'", -1,
                           &st, NULL) == SQLITE_OK)
        has_col = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    st = NULL;
    if (!has_col) {
        int src = sqlite3_exec(p->db, "ALTER TABLE pg_node ADD COLUMN tag BLOB", NULL, NULL, NULL);
        if (src != SQLITE_OK)
            return pg_fail(p, FS_ESTATE, "the data directory is not a node of a PostgreSQL store");
    }
    int src = sqlite3_prepare_v2(p->db, "SELECT store_id, pos, tag FROM pg_node WHERE one=1", -1,
                                 &st, NULL);
    int rc = 0;
    if (src != SQLITE_OK)
        return pg_fail(p, FS_ESTATE, "the data directory is not a node of a PostgreSQL store");
    src = sqlite3_step(st);
    if (src == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 16) {
        memcpy(p->store_id, sqlite3_column_blob(st, 0), 16);
        p->pos = sqlite3_column_int64(st, 1);
        p->has_tag = sqlite3_column_bytes(st, 2) == TAG_BYTES;
        if (p->has_tag)
            memcpy(p->tag, sqlite3_column_blob(st, 2), TAG_BYTES);
    } else {
        rc = pg_fail(p, FS_ESTATE, "the data directory is not a node of a PostgreSQL store");
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- sealing ---- */

static int derive_key(pg_store *p)
{
    fs_identity *id = NULL;
    int rc = fs_replica_identity(p->r, &id);
    if (rc != 0)
        return pg_fail(p, rc, "the store has no identity");
    p->key = sodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    if (p->key == NULL) {
        fs_identity_free(id);
        return pg_fail(p, FS_ENOMEM, "out of memory");
    }
    static const char label[] = "fieldsync/1 postgresql log key";
    crypto_generichash(p->key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
                       (const unsigned char *)label, sizeof label - 1, id->sk,
                       FS_SIGN_SEED_BYTES); /* the seed is sk's first half */
    fs_identity_free(id);
    return 0;
}

/* The body of entry seq (pgbody.c): *out malloc'd. */
static int seal(pg_store *p, long long seq, const void *cs, size_t n, unsigned char **out,
                size_t *outlen)
{
    int rc = fs__pg_body_seal(p->key, p->store_id, seq, cs, n, out, outlen);
    if (rc == FS_ETOOBIG)
        return pg_fail(p, rc, "a write of %zu bytes is more than a PostgreSQL log entry holds", n);
    return rc != 0 ? pg_fail(p, rc, "out of memory") : 0;
}

/* The changeset of entry seq from its body (pgbody.c): *out malloc'd. */
static int unseal(pg_store *p, long long seq, const unsigned char *body, size_t blen, void **out,
                  int *outlen)
{
    int rc = fs__pg_body_open(p->key, p->store_id, seq, body, blen, out, outlen);
    switch (rc) {
    case 0:
        return 0;
    case FS_ETAMPERED:
        return pg_fail(p, rc, "PostgreSQL log entry %lld does not open with this store's key",
                       seq);
    case FS_ENOMEM:
        return pg_fail(p, rc, "out of memory");
    default:
        return pg_fail(p, FS_EFORMAT, "PostgreSQL log entry %lld is damaged", seq);
    }
}

/* ---- catch-up ---- */

/* Is the row already as the change leaves it? */
static int already_applied(sqlite3_changeset_iter *it, int op, int ncol)
{
    for (int i = 0; i < ncol; i++) {
        sqlite3_value *want = NULL, *have = NULL;
        if (sqlite3changeset_new(it, i, &want) != SQLITE_OK)
            return 0;
        if (want == NULL) /* an UPDATE leaves that column alone */
            continue;
        if (sqlite3changeset_conflict(it, i, &have) != SQLITE_OK || have == NULL)
            return 0;
        int tw = sqlite3_value_type(want), th = sqlite3_value_type(have);
        if (tw != th)
            return 0;
        if (tw == SQLITE_NULL)
            continue;
        if (tw == SQLITE_INTEGER) {
            if (sqlite3_value_int64(want) != sqlite3_value_int64(have))
                return 0;
            continue;
        }
        if (tw == SQLITE_FLOAT) {
            if (sqlite3_value_double(want) != sqlite3_value_double(have))
                return 0;
            continue;
        }
        int nw = sqlite3_value_bytes(want), nh = sqlite3_value_bytes(have);
        const void *bw = tw == SQLITE_TEXT ? (const void *)sqlite3_value_text(want)
                                           : sqlite3_value_blob(want);
        const void *bh = th == SQLITE_TEXT ? (const void *)sqlite3_value_text(have)
                                           : sqlite3_value_blob(have);
        if (nw != nh || (nw > 0 && memcmp(bw, bh, (size_t)nw) != 0))
            return 0;
    }
    (void)op;
    return 1;
}

static int on_conflict(void *ctx, int kind, sqlite3_changeset_iter *it)
{
    (void)ctx;
    const char *tab = NULL;
    int ncol = 0, op = 0, ind = 0;
    if (sqlite3changeset_op(it, &tab, &ncol, &op, &ind) != SQLITE_OK)
        return SQLITE_CHANGESET_ABORT;
    if (kind == SQLITE_CHANGESET_NOTFOUND && op == SQLITE_DELETE)
        return SQLITE_CHANGESET_OMIT; /* gone already */
    if ((kind == SQLITE_CHANGESET_CONFLICT && op == SQLITE_INSERT) ||
        (kind == SQLITE_CHANGESET_DATA && op == SQLITE_UPDATE))
        return already_applied(it, op, ncol) ? SQLITE_CHANGESET_OMIT : SQLITE_CHANGESET_ABORT;
    return SQLITE_CHANGESET_ABORT;
}

enum { DIV_CONFLICT, DIV_AHEAD, DIV_REPLACED };

/* Refuses every op from now on: the cache is not what the log says. why:
 * an entry did not apply (DIV_CONFLICT, seq that entry), the log ends
 * before the position (DIV_AHEAD, seq its first missing entry), or the log
 * holds another entry at the position (DIV_REPLACED, seq the position). */
static int diverged(pg_store *p, int why, long long seq)
{
    if (!p->diverged) {
        p->diverged = 1;
        p->div_why = why;
        p->div_seq = seq;
    }
    const char *cause = p->div_why == DIV_AHEAD
                            ? " (the log ends before this node's position: was the database "
                              "restored from a backup?)"
                        : p->div_why == DIV_REPLACED
                            ? " (the log holds another entry at this node's position: was the "
                              "database restored from a backup?)"
                            : "";
    return pg_fail(p, FS_EDB,
                   "this node's store diverged from the PostgreSQL log at entry %lld%s: it "
                   "refuses to serve; replace its data directory with a fresh copy of another "
                   "node's",
                   p->div_seq, cause);
}

/* Applies rows (seq, body) of res after *pos, in the caller's SQLite
 * transaction: *pos and *tag (into res, or left as they were) end at the
 * last applied. */
static int apply_rows(pg_store *p, PGresult *res, long long *pos_io,
                      const unsigned char **tag_io)
{
    int n = PQntuples(res);
    int rc = 0;
    long long pos = *pos_io;
    const unsigned char *tag = *tag_io;
    fs_replica_guard(p->r, 1);
    for (int i = 0; rc == 0 && i < n; i++) {
        long long seq = -1;
        if (PQgetlength(res, i, 0) == 8) {
            const unsigned char *b = (const unsigned char *)PQgetvalue(res, i, 0);
            unsigned long long v = 0;
            for (int k = 0; k < 8; k++)
                v = v << 8 | b[k];
            seq = (long long)v;
        }
        if (seq != pos + 1) {
            rc = pg_fail(p, FS_EDB, "PostgreSQL log: entry %lld follows %lld", seq, pos);
            break;
        }
        void *cs = NULL;
        int cn = 0;
        rc = unseal(p, seq, (const unsigned char *)PQgetvalue(res, i, 1),
                    (size_t)PQgetlength(res, i, 1), &cs, &cn);
        if (rc != 0)
            break;
        int src = sqlite3changeset_apply(p->db, cn, cs, NULL, on_conflict, p);
        free(cs);
        if (src != SQLITE_OK) {
            rc = (src & 0xFF) == SQLITE_ABORT || (src & 0xFF) == SQLITE_CONSTRAINT
                     ? diverged(p, DIV_CONFLICT, seq)
                     : pg_fail(p, FS_EDB, "applying PostgreSQL log entry %lld: %s", seq,
                               sqlite3_errstr(src));
            break;
        }
        pos = seq;
        tag = (const unsigned char *)PQgetvalue(res, i, 1); /* unseal: >= TAG_BYTES */
    }
    fs_replica_guard(p->r, 0);
    *pos_io = pos;
    *tag_io = tag;
    return rc;
}

/* Applies rows (seq, body) of res in the open SQLite transaction and
 * moves the position, in pg_node and here, to the last applied. */
static int replay_rows(pg_store *p, PGresult *res)
{
    long long pos = p->pos;
    const unsigned char *tag = p->has_tag ? p->tag : NULL;
    int rc = apply_rows(p, res, &pos, &tag);
    if (rc != 0 || pos == p->pos)
        return rc;
    rc = pos_write(p, pos, tag);
    if (rc == 0) {
        if (tag != p->tag)
            memcpy(p->tag, tag, TAG_BYTES);
        p->has_tag = 1;
        p->pos = pos;
    }
    return rc;
}

/* The position before a transaction replays entries: back to it if that
 * rolls back (restore_replayed). */
static void keep_position(pg_store *p)
{
    p->w_pos = p->pos;
    memcpy(p->w_tag, p->tag, TAG_BYTES);
    p->w_has_tag = p->has_tag;
}

/* The cache rolled back a transaction that replayed entries: they went
 * with it. */
static void restore_replayed(pg_store *p)
{
    p->pos = p->w_pos;
    memcpy(p->tag, p->w_tag, TAG_BYTES);
    p->has_tag = p->w_has_tag;
}

/* Applies rows (seq, body) of res in one SQLite transaction. */
static int apply_batch(pg_store *p, PGresult *res)
{
    int rc = sq_exec(p, "BEGIN IMMEDIATE", "catching up with the PostgreSQL log");
    if (rc != 0)
        return rc;
    keep_position(p);
    rc = replay_rows(p, res);
    if (rc == 0)
        rc = sq_exec(p, "COMMIT", "catching up with the PostgreSQL log");
    if (rc != 0) {
        sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
        restore_replayed(p);
        (void)fs_replica_reload(p->r);
        return rc;
    }
    int rrc = fs_replica_reload(p->r);
    return rrc != 0 ? pg_fail(p, rrc, "%s", fs_replica_errmsg(p->r)) : 0;
}

/* The log's next entries after the position (256 at most), or NULL. */
static PGresult *log_after(pg_store *p, long long head, int *rc)
{
    char after[32];
    snprintf(after, sizeof after, "%lld", p->pos);
    const char *params[1] = {after};
    PGresult *res = PQexecParams(p->pg,
                                 "SELECT seq, body FROM fs_log WHERE seq > $1::bigint"
                                 " ORDER BY seq LIMIT 256",
                                 1, NULL, params, NULL, NULL, 1 /* binary */);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        *rc = pg_dbfail(p, res, "reading the log");
        PQclear(res);
        return NULL;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        *rc = pg_fail(p, FS_EDB, "PostgreSQL log: entries up to %lld are missing", head);
        return NULL;
    }
    *rc = 0;
    return res;
}

/* Applies every entry after the position up to head, a fetch of
 * log_after at a time, each by apply (apply_batch: a transaction each;
 * replay_rows: in the open one). */
static int log_to(pg_store *p, long long head, int (*apply)(pg_store *, PGresult *))
{
    while (p->pos < head) {
        int rc = 0;
        PGresult *res = log_after(p, head, &rc);
        if (res == NULL)
            return rc;
        rc = apply(p, res);
        PQclear(res);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* A read's catch-up to head. */
static int catch_up_to(pg_store *p, long long head)
{
    return log_to(p, head, apply_batch);
}

/* A write's catch-up: the entries up to head applied inside the write's
 * own SQLite transaction (open), so that its commit writes the pages they
 * and the write share once (a node of two replays the other's every
 * round). The position before is kept in w_pos: a rollback of the write
 * takes the cache, and so the position, back to it (restore_replayed). */
static int catch_up_in_write(pg_store *p, long long head)
{
    keep_position(p);
    int rc = log_to(p, head, replay_rows);
    if (rc == 0 && p->pos != p->w_pos && (rc = fs_replica_reload(p->r)) != 0)
        rc = pg_fail(p, rc, "%s", fs_replica_errmsg(p->r));
    return rc;
}

static int ensure_connected(pg_store *p)
{
    if (PQstatus(p->pg) == CONNECTION_OK)
        return 0;
    PQreset(p->pg);
    if (PQstatus(p->pg) != CONNECTION_OK)
        return pg_fail(p, FS_EDB, "PostgreSQL: cannot connect: %s", pg_msg(p->pg, NULL));
    return pg_exec(p, "LISTEN fs_log", PGRES_COMMAND_OK, NULL, "listening");
}

/* Drops the notifications libpq holds: they stand for commits made before
 * the max(seq) about to be read, which sees them. Those that arrive with
 * or after it stay for fs_store_refresh. Keeps libpq's queue bounded on a
 * node nobody refreshes (an admin command, a serve without pokes). */
static void drop_notified(pg_store *p)
{
    PGnotify *n;
    while ((n = PQnotifies(p->pg)) != NULL)
        PQfreemem(n);
    p->notified = 0;
}

/* The query of the log's head and of the tag of the entry at the
 * position, in one round trip (head_of reads its answer). */
#define HEAD_SQL                                                                                   \
    "SELECT (SELECT encode(substr(body, 1, 24), 'hex') FROM fs_log WHERE seq = %lld),"             \
    " coalesce(max(seq), 0) FROM fs_log"
_Static_assert(TAG_BYTES == 24 && TAG_BYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
               "HEAD_SQL reads TAG_BYTES bytes, the nonce");

/* Reads HEAD_SQL's answer: the head; and refuses (diverged) when the log
 * no longer holds this node's entry at its position: the log ends before
 * it, or holds another entry there (a database restored from a backup and
 * written to again). */
static int head_of(pg_store *p, PGresult *res, long long *head)
{
    if (PQntuples(res) != 1 || PQnfields(res) != 2)
        return pg_fail(p, FS_EDB, "PostgreSQL: the log's head is unreadable");
    *head = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    if (*head < p->pos)
        return diverged(p, DIV_AHEAD, *head + 1); /* the log lost what this cache holds */
    if (p->pos == 0)
        return 0;
    const char *hex = PQgetisnull(res, 0, 0) ? "" : PQgetvalue(res, 0, 0);
    unsigned char tag[TAG_BYTES];
    size_t got = 0;
    if (strlen(hex) != 2 * TAG_BYTES ||
        sodium_hex2bin(tag, sizeof tag, hex, strlen(hex), NULL, &got, NULL) != 0 ||
        got != TAG_BYTES)
        return diverged(p, DIV_REPLACED, p->pos); /* a hole at the position */
    /* a node of a build before tags: learnt now */
    if (!p->has_tag) {
        memcpy(p->tag, tag, TAG_BYTES);
        p->has_tag = 1;
        return 0;
    }
    return sodium_memcmp(tag, p->tag, TAG_BYTES) == 0 ? 0 : diverged(p, DIV_REPLACED, p->pos);
}

/* A read's catch-up: one round trip when there is nothing to apply. */
static int catch_up(pg_store *p)
{
    p->own_err = 0;
    if (p->diverged)
        return diverged(p, 0, 0);
    if (p->depth > 0) /* inside a write: caught up under its lock */
        return 0;
    int rc = ensure_connected(p);
    PGresult *res = NULL;
    if (rc == 0) {
        char sql[200];
        drop_notified(p);
        snprintf(sql, sizeof sql, HEAD_SQL, p->pos);
        rc = pg_exec(p, sql, PGRES_TUPLES_OK, &res, "reading the log's head");
    }
    long long head = 0;
    if (rc == 0) {
        rc = head_of(p, res, &head);
        PQclear(res);
        if (p->diverged)
            return rc;
    }
    if (rc == 0)
        rc = catch_up_to(p, head);
    if (rc != 0)
        p->notified = 1; /* the next refresh tries again */
    return rc;
}

/* ---- the wrapped write ---- */

static int session_filter(void *ctx, const char *table)
{
    (void)ctx;
    return strcmp(table, "pg_node") != 0;
}

static void pg_abort(pg_store *p)
{
    if (p->sess != NULL) {
        sqlite3session_delete(p->sess);
        p->sess = NULL;
    }
    if (fs_replica_in_outer(p->r))
        restore_replayed(p);
    fs_replica_outer_rollback(p->r);
    PGresult *res = PQexec(p->pg, "ROLLBACK");
    PQclear(res);
    p->began = 0;
}

static int wbegin(pg_store *p)
{
    if (p->depth++ > 0)
        return 0;
    p->own_err = 0;
    int rc = p->diverged ? diverged(p, 0, 0) : ensure_connected(p);
    PGresult *res = NULL;
    if (rc == 0) {
        char sql[320];
        drop_notified(p);
        snprintf(sql, sizeof sql, "BEGIN; SELECT pg_advisory_xact_lock(%lld); " HEAD_SQL,
                 p->lock_key, p->pos);
        rc = pg_exec(p, sql, PGRES_TUPLES_OK, &res, "starting a write");
        if (rc != 0) {
            PGresult *rb = PQexec(p->pg, "ROLLBACK");
            PQclear(rb);
        }
    }
    long long head = 0;
    if (rc == 0) {
        rc = head_of(p, res, &head);
        PQclear(res);
        if (rc != 0) {
            PGresult *rb = PQexec(p->pg, "ROLLBACK");
            PQclear(rb);
        }
    }
    if (rc == 0) {
        rc = fs_replica_outer_begin(p->r);
        if (rc != 0) {
            rc = pg_fail(p, rc, "store: %s", fs_replica_errmsg(p->r));
            PGresult *rb = PQexec(p->pg, "ROLLBACK");
            PQclear(rb);
        }
    }
    if (rc == 0) {
        rc = catch_up_in_write(p, head);
        if (rc != 0) {
            restore_replayed(p);
            fs_replica_outer_rollback(p->r);
            PGresult *rb = PQexec(p->pg, "ROLLBACK");
            PQclear(rb);
        }
    }
    if (rc == 0) {
        int src = sqlite3session_create(p->db, "main", &p->sess);
        if (src == SQLITE_OK) {
            sqlite3session_table_filter(p->sess, session_filter, p);
            src = sqlite3session_attach(p->sess, NULL);
        }
        if (src != SQLITE_OK) {
            rc = pg_fail(p, FS_EDB, "store: cannot record the write: %s", sqlite3_errstr(src));
            p->began = 1;
            pg_abort(p);
        }
    }
    if (rc != 0) {
        p->depth--;
        p->notified = 1; /* the next refresh tries again */
        return rc;
    }
    p->began = 1;
    return 0;
}

#ifdef FS_TEST_KDF
/* tests/test_store.c's crash case: the process dies between PostgreSQL's
 * commit and SQLite's (test builds only). */
static void crash_point(void)
{
    const char *e = getenv("FIELDSYNC_TEST_PG_CRASH");
    if (e != NULL && strcmp(e, "between-commits") == 0)
        _exit(77);
}
#else
static void crash_point(void)
{
}
#endif

/* Ends a write whose op returned op_rc: logs and commits what it wrote
 * (also when op_rc is an error: what the op committed in SQLite stays, as
 * on the SQLite backend). Returns op_rc, or the log's failure. */
static int wend(pg_store *p, int op_rc)
{
    if (--p->depth > 0 || !p->began)
        return op_rc;
    int op_err = p->own_err;
    void *cs = NULL;
    int cn = 0;
    int src = sqlite3session_changeset(p->sess, &cn, &cs);
    sqlite3session_delete(p->sess);
    p->sess = NULL;
    if (src != SQLITE_OK) {
        sqlite3_free(cs);
        int rc = pg_fail(p, FS_EDB, "store: cannot record the write: %s", sqlite3_errstr(src));
        pg_abort(p);
        return rc;
    }
    int rc = 0;
    if (cn == 0) {
        sqlite3_free(cs);
        rc = fs_replica_outer_commit(p->r);
        if (rc != 0) {
            restore_replayed(p); /* the entries the write replayed rolled back */
            rc = pg_fail(p, rc, "store: %s", fs_replica_errmsg(p->r));
        }
        PGresult *res = PQexec(p->pg, rc == 0 ? "COMMIT" : "ROLLBACK");
        PQclear(res);
        p->began = 0;
        if (rc == 0)
            p->own_err = op_err;
        return rc != 0 ? rc : op_rc;
    }
    long long seq = p->pos + 1;
    unsigned char *body = NULL;
    size_t blen = 0;
    rc = seal(p, seq, cs, (size_t)cn, &body, &blen);
    sqlite3_free(cs);
    if (rc == 0)
        rc = pos_write(p, seq, body);
    unsigned char tag[TAG_BYTES];
    if (rc == 0)
        memcpy(tag, body, TAG_BYTES);
    char *node = NULL;
    char *sql = NULL;
    if (rc == 0) {
        node = PQescapeLiteral(p->pg, p->node, strlen(p->node));
        size_t cap = 2 * blen + strlen(node != NULL ? node : "") + 160;
        sql = node != NULL ? malloc(cap) : NULL;
        if (sql == NULL) {
            rc = pg_fail(p, FS_ENOMEM, "out of memory");
        } else {
            int off = snprintf(sql, cap, "INSERT INTO fs_log(seq, node, body) VALUES(%lld, %s, '\\x",
                               seq, node);
            static const char hex[] = "0123456789abcdef";
            for (size_t i = 0; i < blen; i++) {
                sql[off++] = hex[body[i] >> 4];
                sql[off++] = hex[body[i] & 15];
            }
            snprintf(sql + off, cap - (size_t)off, "'::bytea); NOTIFY fs_log; COMMIT");
        }
    }
    PQfreemem(node);
    free(body);
    if (rc == 0) {
        PGresult *res = PQexec(p->pg, sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = pg_dbfail(p, res, "appending to the log");
        PQclear(res);
    }
    free(sql);
    if (rc != 0) {
        pg_abort(p);
        return rc;
    }
    crash_point();
    p->began = 0;
    p->pos = seq;
    memcpy(p->tag, tag, TAG_BYTES);
    p->has_tag = 1;
    rc = fs_replica_outer_commit(p->r);
    if (rc != 0) {
        /* In the log, not in the cache (nor what the write replayed
         * before it): the next catch-up applies them. */
        restore_replayed(p);
        rc = catch_up(p);
        if (rc != 0)
            return rc;
    }
    p->own_err = op_err;
    return op_rc;
}

static int audit_begin(void *ctx)
{
    return wbegin(ctx);
}

static int audit_end(void *ctx, int rc)
{
    pg_store *p = ctx;
    int r = wend(p, rc);
    return r != rc ? r : 0;
}

/* ---- the ops ---- */

#define SQ(p) ((p)->sq)
#define WRAP_W(name, params, ...)                                                     \
    static int pg_##name params                                                        \
    {                                                                                  \
        pg_store *p = (pg_store *)s;                                                   \
        int rc = wbegin(p);                                                            \
        if (rc != 0)                                                                   \
            return rc;                                                                 \
        return wend(p, SQ(p)->ops->name(SQ(p) __VA_OPT__(, ) __VA_ARGS__));           \
    }
#define WRAP_R(name, params, ...)                                                     \
    static int pg_##name params                                                        \
    {                                                                                  \
        pg_store *p = (pg_store *)s;                                                   \
        int rc = catch_up(p);                                                          \
        if (rc != 0)                                                                   \
            return rc;                                                                 \
        sqlite3_int64 before = sqlite3_total_changes64(p->db);                         \
        rc = SQ(p)->ops->name(SQ(p) __VA_OPT__(, ) __VA_ARGS__);                       \
        return read_wrote(p, #name, before, rc);                                       \
    }

/* A read op must not write: what it wrote would be in no log entry. Test
 * builds fail it, so that an op classed as a read that writes is found by
 * the tests (test_store_pg runs every case through these wrappers). */
static int read_wrote(pg_store *p, const char *op, sqlite3_int64 before, int rc)
{
#ifdef FS_TEST_KDF
    if (sqlite3_total_changes64(p->db) != before)
        return pg_fail(p, FS_EDB, "store: the read %s wrote (a bug: unlogged)", op);
#else
    (void)p, (void)op, (void)before;
#endif
    return rc;
}

typedef const uint8_t cpk[FS_SIGN_PK_BYTES];

WRAP_R(feed_head, (fs_store * s, uint64_t *seq), seq)
WRAP_R(feed_state, (fs_store * s, cpk pk, uint8_t epoch[16], uint64_t *dev_acked), pk, epoch,
       dev_acked)
WRAP_R(feed_tag, (fs_store * s, uint64_t seq, uint64_t *tag), seq, tag)
WRAP_W(new_epoch, (fs_store * s), )
WRAP_W(compact_step, (fs_store * s, fs_feed_compaction *c, size_t rows), c, rows)
WRAP_R(feed_horizon, (fs_store * s, uint64_t *horizon), horizon)
WRAP_R(feed_tag_held, (fs_store * s, uint64_t seq, uint64_t tag, int *held), seq, tag, held)
WRAP_R(horizon_before, (fs_store * s, uint64_t keep_ms, uint64_t *horizon), keep_ms, horizon)
WRAP_R(backup, (fs_store * s, const char *path), path)
WRAP_W(user_add, (fs_store * s, const char *name, fs_role role, const char *team), name, role,
       team)
WRAP_R(users, (fs_store * s, int (*cb)(const char *, fs_role, const char *, void *), void *ctx),
       cb, ctx)
WRAP_W(set_password, (fs_store * s, const char *name, const char *pw, size_t pwlen), name, pw,
       pwlen)
WRAP_R(login, (fs_store * s, const char *name, const char *pw, size_t pwlen, fs_role *role,
               char team[FS_USER_NAME_MAX + 1]),
       name, pw, pwlen, role, team)
WRAP_R(login_lookup, (fs_store * s, const char *name, fs_login_check *out), name, out)
WRAP_W(user_disable, (fs_store * s, const char *name, int disabled), name, disabled)
WRAP_W(user_move, (fs_store * s, const char *name, const char *team), name, team)
WRAP_W(team_set, (fs_store * s, const char *team, const char *setting, const char *value), team,
       setting, value)
WRAP_R(user_stamp, (fs_store * s, const char *name, uint8_t stamp[FS_USER_STAMP_BYTES]), name,
       stamp)
WRAP_W(device_add, (fs_store * s, cpk pk, const char *user, const char *name), pk, user, name)
WRAP_R(device_check, (fs_store * s, cpk pk), pk)
WRAP_R(device_user, (fs_store * s, cpk pk, char user[FS_USER_NAME_MAX + 1],
                     char team[FS_USER_NAME_MAX + 1], fs_role *role),
       pk, user, team, role)
WRAP_W(device_revoke, (fs_store * s, cpk pk, int after_push), pk, after_push)
WRAP_W(device_pushed_out, (fs_store * s, cpk pk, uint64_t local_seq, int *state), pk, local_seq,
       state)
WRAP_R(devices, (fs_store * s, int (*cb)(const fs_store_device *d, void *ctx), void *ctx), cb,
       ctx)
WRAP_R(device_tip, (fs_store * s, cpk pk, uint64_t *acked_seq, uint64_t *hlc,
                    uint8_t row[FS_ID_BYTES]),
       pk, acked_seq, hlc, row)
WRAP_W(device_fork, (fs_store * s, cpk old_pk, cpk new_pk), old_pk, new_pk)
WRAP_W(device_seen, (fs_store * s, cpk pk, int granted_lease), pk, granted_lease)
WRAP_R(device_sync, (fs_store * s, cpk pk, uint64_t *last_seen_ms, uint64_t *lease_until_ms,
                     uint64_t *pending, uint64_t *oldest_pending_ms),
       pk, last_seen_ms, lease_until_ms, pending, oldest_pending_ms)
WRAP_W(device_reported, (fs_store * s, cpk pk, uint64_t local_seq, uint64_t oldest_ms), pk,
       local_seq, oldest_ms)
WRAP_W(device_clock_note, (fs_store * s, cpk pk, uint64_t wall_ms), pk, wall_ms)
WRAP_W(device_exports, (fs_store * s, cpk pk, const fs_pull_export *e, size_t n), pk, e, n)
WRAP_R(device_clock, (fs_store * s, cpk pk, int64_t *offset_ms, uint64_t *at_ms), pk, offset_ms,
       at_ms)
WRAP_W(device_refusals, (fs_store * s, cpk pk, uint64_t open, uint32_t reason), pk, open, reason)
WRAP_W(note_wipe, (fs_store * s, cpk pk), pk)
WRAP_W(note_refusal, (fs_store * s, const uint8_t *pk, const char *detail), pk, detail)
WRAP_W(auth_flush, (fs_store * s), )
WRAP_W(note_login_failure, (fs_store * s, const char *net, const char *who, const char *detail),
       net, who, detail)
WRAP_W(enroll_code_create, (fs_store * s, const char *user, uint64_t ttl_ms, cpk server_pk,
                            char *code, size_t codelen),
       user, ttl_ms, server_pk, code, codelen)
WRAP_W(enroll_code_redeem, (fs_store * s, const fs_enroll_request *req, uint64_t now_ms), req,
       now_ms)
WRAP_R(enroll_code_team, (fs_store * s, const fs_enroll_request *req, uint64_t now_ms,
                          char team[FS_USER_NAME_MAX + 1]),
       req, now_ms, team)
WRAP_R(owner, (fs_store * s, unsigned table, const uint8_t row[FS_ID_BYTES],
               char owner[FS_USER_NAME_MAX + 1]),
       table, row, owner)
WRAP_W(push, (fs_store * s, cpk device_pk, uint64_t first_seq, uint64_t last_seq,
              const fs_change *changes, size_t n, unsigned flags, uint64_t cursor,
              fs_push_result *out),
       device_pk, first_seq, last_seq, changes, n, flags, cursor, out)
WRAP_W(pull, (fs_store * s, cpk device_pk, uint64_t cursor, size_t max, size_t max_bytes,
              fs_changeset **out, uint64_t *new_cursor, int *more),
       device_pk, cursor, max, max_bytes, out, new_cursor, more)
WRAP_R(purges, (fs_store * s, cpk device_pk, uint64_t cursor, size_t max, fs_row_ref **out,
                size_t *n),
       device_pk, cursor, max, out, n)
WRAP_W(purges_told, (fs_store * s, cpk device_pk, uint64_t cursor, size_t max, uint64_t local_seq),
       device_pk, cursor, max, local_seq)
WRAP_W(manager_write, (fs_store * s, const char *manager, const char *table, const uint8_t *row,
                       const fs_cell *cells, size_t n, uint8_t out_id[FS_ID_BYTES]),
       manager, table, row, cells, n, out_id)
WRAP_R(att_need, (fs_store * s, cpk device_pk, const uint8_t hash[32], uint32_t *missing,
                  size_t cap, size_t *n, int *known),
       device_pk, hash, missing, cap, n, known)
WRAP_W(att_put, (fs_store * s, cpk device_pk, const uint8_t hash[32], uint32_t idx,
                 const uint8_t *data, size_t len),
       device_pk, hash, idx, data, len)
WRAP_R(att_get, (fs_store * s, cpk device_pk, const uint8_t hash[32], uint32_t idx, uint8_t *buf,
                 size_t *len),
       device_pk, hash, idx, buf, len)

static const char *pg_errmsg(const fs_store *s)
{
    const pg_store *p = (const pg_store *)s;
    return p->own_err ? p->errmsg : p->sq->ops->errmsg(p->sq);
}

static fs_replica *pg_replica(fs_store *s)
{
    return ((pg_store *)s)->r;
}

static uint64_t pg_now_ms(fs_store *s)
{
    pg_store *p = (pg_store *)s;
    return p->sq->ops->now_ms(p->sq);
}

static void pg_set_lease(fs_store *s, uint64_t ms)
{
    pg_store *p = (pg_store *)s;
    p->sq->ops->set_lease(p->sq, ms);
}

static uint64_t pg_lease(const fs_store *s)
{
    const pg_store *p = (const pg_store *)s;
    return p->sq->ops->lease(p->sq);
}

static void pg_set_source(fs_store *s, const char *net)
{
    pg_store *p = (pg_store *)s;
    p->sq->ops->set_source(p->sq, net);
}

static fs_audit *pg_audit(fs_store *s)
{
    pg_store *p = (pg_store *)s;
    return p->sq->ops->audit(p->sq);
}

static int pg_refresh(fs_store *s)
{
    pg_store *p = (pg_store *)s;
    p->own_err = 0;
    if (p->diverged)
        return diverged(p, 0, 0);
    if (PQstatus(p->pg) != CONNECTION_OK)
        return catch_up(p); /* reconnects */
    if (!PQconsumeInput(p->pg))
        return catch_up(p);
    PGnotify *n;
    while ((n = PQnotifies(p->pg)) != NULL) {
        p->notified = 1;
        PQfreemem(n);
    }
    return p->notified ? catch_up(p) : 0; /* catch_up clears it */
}

/* Group commit (fs_store_group_begin): the group is one wrapped write.
 * The ops inside join it (depth) as savepoints of its SQLite transaction,
 * and its end seals and appends one log entry for all of them in one
 * PostgreSQL transaction, one commit; rolled back, nothing reaches the log
 * or the cache. The advisory lock is held for the group (one service
 * round of frames). */
static int pg_group_begin(fs_store *s)
{
    pg_store *p = (pg_store *)s;
    if (p->depth > 0)
        return pg_fail(p, FS_ESTATE, "store: a write is open already");
    return wbegin(p);
}

static int pg_group_end(fs_store *s, int commit)
{
    pg_store *p = (pg_store *)s;
    if (p->depth != 1 || !p->began)
        return pg_fail(p, FS_ESTATE, "store: no group of writes is open");
    if (!commit) {
        p->depth = 0;
        pg_abort(p);
        return 0;
    }
    return wend(p, 0);
}

static int pg_notify_fd(fs_store *s)
{
    pg_store *p = (pg_store *)s;
    return PQstatus(p->pg) == CONNECTION_OK ? PQsocket(p->pg) : -1;
}

static void pg_close(fs_store *s)
{
    pg_store *p = (pg_store *)s;
    if (p == NULL)
        return;
    if (p->sq != NULL && p->pg != NULL && !p->diverged)
        (void)pg_auth_flush(s); /* the minutes' counts not yet written, logged */
    if (p->sq != NULL)
        fs_audit_set_wrap(p->sq->ops->audit(p->sq), NULL, NULL, NULL);
    fs_store_close(p->sq);
    PQfinish(p->pg);
    if (p->key != NULL)
        sodium_free(p->key);
    sodium_memzero(p, sizeof *p);
    free(p);
}

static const fs_store_ops pg_ops = {
    .name = "postgresql",
    .close = pg_close,
    .errmsg = pg_errmsg,
    .replica = pg_replica,
    .now_ms = pg_now_ms,
    .feed_head = pg_feed_head,
    .feed_state = pg_feed_state,
    .feed_tag = pg_feed_tag,
    .new_epoch = pg_new_epoch,
    .compact_step = pg_compact_step,
    .feed_horizon = pg_feed_horizon,
    .feed_tag_held = pg_feed_tag_held,
    .horizon_before = pg_horizon_before,
    .backup = pg_backup,
    .set_lease = pg_set_lease,
    .lease = pg_lease,
    .refresh = pg_refresh,
    .notify_fd = pg_notify_fd,
    .group_begin = pg_group_begin,
    .group_end = pg_group_end,
    .user_add = pg_user_add,
    .users = pg_users,
    .set_password = pg_set_password,
    .user_disable = pg_user_disable,
    .user_move = pg_user_move,
    .team_set = pg_team_set,
    .user_stamp = pg_user_stamp,
    .login = pg_login,
    .login_lookup = pg_login_lookup,
    .device_add = pg_device_add,
    .device_check = pg_device_check,
    .device_user = pg_device_user,
    .device_revoke = pg_device_revoke,
    .device_pushed_out = pg_device_pushed_out,
    .devices = pg_devices,
    .device_tip = pg_device_tip,
    .device_fork = pg_device_fork,
    .device_seen = pg_device_seen,
    .device_sync = pg_device_sync,
    .device_reported = pg_device_reported,
    .device_clock_note = pg_device_clock_note,
    .device_exports = pg_device_exports,
    .device_clock = pg_device_clock,
    .device_refusals = pg_device_refusals,
    .note_wipe = pg_note_wipe,
    .note_refusal = pg_note_refusal,
    .set_source = pg_set_source,
    .auth_flush = pg_auth_flush,
    .note_login_failure = pg_note_login_failure,
    .enroll_code_create = pg_enroll_code_create,
    .enroll_code_redeem = pg_enroll_code_redeem,
    .enroll_code_team = pg_enroll_code_team,
    .owner = pg_owner,
    .push = pg_push,
    .pull = pg_pull,
    .att_need = pg_att_need,
    .att_put = pg_att_put,
    .att_get = pg_att_get,
    .purges = pg_purges,
    .purges_told = pg_purges_told,
    .manager_write = pg_manager_write,
    .audit = pg_audit,
};

/* ---- opening ---- */

static int url_path(const char *dir, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/store", dir);
    return n < 0 || (size_t)n >= cap ? FS_EINVAL : 0;
}

static int url_write(const char *dir, const char *url)
{
    char path[4200];
    if (url_path(dir, path, sizeof path) != 0)
        return FS_EINVAL;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return FS_EIO;
    size_t n = strlen(url);
    int ok = fchmod(fd, 0600) == 0 && write(fd, url, n) == (ssize_t)n && write(fd, "\n", 1) == 1 &&
             fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    return ok ? 0 : FS_EIO;
}

int fs_store_pg_url(const char *dir, char *url, size_t cap)
{
    char path[4200];
    if (url_path(dir, path, sizeof path) != 0)
        return FS_EINVAL;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? FS_ENOTFOUND : FS_EIO;
    ssize_t n = read(fd, url, cap - 1);
    close(fd);
    if (n <= 0 || (size_t)n >= cap - 1)
        return FS_EFORMAT;
    url[n] = '\0';
    url[strcspn(url, "\r\n")] = '\0';
    return url[0] != '\0' ? 0 : FS_EFORMAT;
}

static void node_name(pg_store *p)
{
    char host[64] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "node");
    host[sizeof host - 1] = '\0';
    for (char *c = host; *c; c++)
        if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e)
            *c = '?';
    snprintf(p->node, sizeof p->node, "%s/%ld", host, (long)getpid());
}

static int connect_pg(pg_store *p, const char *url)
{
    p->pg = PQconnectdb(url);
    if (p->pg == NULL)
        return pg_fail(p, FS_ENOMEM, "out of memory");
    if (PQstatus(p->pg) != CONNECTION_OK)
        return pg_fail(p, FS_EDB, "PostgreSQL: cannot connect: %s", pg_msg(p->pg, NULL));
    /* synchronous_commit stays on: an acknowledged push is in the log */
    return pg_exec(p, "SET synchronous_commit = on; SET client_min_messages = warning",
                   PGRES_COMMAND_OK, NULL, "setting up the session");
}

static pg_store *pg_new(void)
{
    pg_store *p = calloc(1, sizeof *p);
    if (p != NULL) {
        p->base.ops = &pg_ops;
        node_name(p);
    }
    return p;
}

static void key_of(pg_store *p)
{
    long long k = 0;
    memcpy(&k, p->store_id, sizeof k);
    p->lock_key = k;
}

/* Takes what the SQLite store made: the handles, the key, the audit hook. */
static int adopt(pg_store *p, fs_store *sq)
{
    p->sq = sq;
    p->r = fs_store_replica(sq);
    p->db = fs_replica_db(p->r);
    fs_audit_set_wrap(sq->ops->audit(sq), audit_begin, audit_end, p);
    /* A table the SQLite store makes when first needed (core/feed.c, the
     * compaction's feed_was) exists on every node before a log entry
     * writes to it: a changeset skips a table the target lacks. */
    int rc = sq_exec(p,
                     "CREATE TABLE IF NOT EXISTS feed_was(seq INTEGER NOT NULL,"
                     " tag INTEGER NOT NULL, PRIMARY KEY(seq, tag)) WITHOUT ROWID",
                     "store");
    return rc != 0 ? rc : derive_key(p);
}

static int open_failed(pg_store *p, int rc)
{
    snprintf(open_error, sizeof open_error, "%s", p->own_err ? p->errmsg : fs_store_errmsg(p->sq));
    pg_close(&p->base);
    return rc;
}

static const char schema_sql[] =
    "CREATE TABLE fs_meta(key text PRIMARY KEY, value bytea NOT NULL);"
    "CREATE TABLE fs_log(seq bigint PRIMARY KEY, node text NOT NULL,"
    " at timestamptz NOT NULL DEFAULT now(), body bytea NOT NULL)";

int fs_store_pg_create(fs_store **out, const char *dir, const char *pass, size_t passlen,
                       const char *url, const fs_replica_opts *opts)
{
    *out = NULL;
    if (url == NULL || strlen(url) >= PG_URL_MAX) {
        snprintf(open_error, sizeof open_error, "a PostgreSQL URL is needed");
        return FS_EINVAL;
    }
    pg_store *p = pg_new();
    if (p == NULL)
        return FS_ENOMEM;
    int rc = connect_pg(p, url);
    PGresult *res = NULL;
    if (rc == 0)
        rc = pg_exec(p, "BEGIN; SELECT to_regclass('fs_meta') IS NOT NULL", PGRES_TUPLES_OK, &res,
                     "creating the schema");
    if (rc == 0) {
        int exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        if (exists)
            rc = pg_fail(p, FS_EEXIST, "the PostgreSQL database holds a fieldsync store already");
    }
    if (rc == 0)
        rc = pg_exec(p, schema_sql, PGRES_COMMAND_OK, NULL, "creating the schema");
    fs_store *sq = NULL;
    if (rc == 0) {
        rc = fs_store_create(&sq, dir, pass, passlen, opts);
        if (rc != 0)
            rc = pg_fail(p, rc, "%s", fs_store_errmsg(NULL));
    }
    if (rc == 0)
        rc = adopt(p, sq);
    if (rc == 0) {
        randombytes_buf(p->store_id, sizeof p->store_id);
        key_of(p);
        p->pos = 0;
        rc = sq_exec(p, node_table_sql, "store");
    }
    if (rc == 0) {
        sqlite3_stmt *st = NULL;
        int src = sqlite3_prepare_v2(p->db, "INSERT INTO pg_node(one, store_id, pos) VALUES(1, ?1, 0)",
                                     -1, &st, NULL);
        if (src == SQLITE_OK) {
            sqlite3_bind_blob(st, 1, p->store_id, 16, SQLITE_STATIC);
            src = sqlite3_step(st);
        }
        sqlite3_finalize(st);
        if (src != SQLITE_DONE)
            rc = pg_fail(p, FS_EDB, "store: %s", sqlite3_errstr(src));
    }
    if (rc == 0 && url_write(dir, url) != 0)
        rc = pg_fail(p, FS_EIO, "cannot write %s/store", dir);
    if (rc == 0) {
        char ver[16];
        snprintf(ver, sizeof ver, "%d", PG_SCHEMA_VERSION);
        const char *params[2] = {ver, (const char *)p->store_id};
        int lens[2] = {(int)strlen(ver), 16};
        int fmts[2] = {0, 1};
        res = PQexecParams(p->pg,
                           "INSERT INTO fs_meta(key, value) VALUES('schema', convert_to($1, 'UTF8')),"
                           " ('store_id', $2::bytea)",
                           2, NULL, params, lens, fmts, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = pg_dbfail(p, res, "creating the schema");
        PQclear(res);
    }
    if (rc == 0)
        rc = pg_exec(p, "COMMIT", PGRES_COMMAND_OK, NULL, "creating the schema");
    if (rc == 0)
        rc = pg_exec(p, "LISTEN fs_log", PGRES_COMMAND_OK, NULL, "listening");
    if (rc != 0) {
        if (p->pg != NULL && PQtransactionStatus(p->pg) != PQTRANS_IDLE) {
            res = PQexec(p->pg, "ROLLBACK");
            PQclear(res);
        }
        return open_failed(p, rc);
    }
    *out = &p->base;
    return 0;
}

int fs_store_pg_open(fs_store **out, const char *dir, const char *pass, size_t passlen,
                     const char *url, const fs_replica_opts *opts)
{
    *out = NULL;
    char kept[PG_URL_MAX];
    if (url == NULL) {
        int rc = fs_store_pg_url(dir, kept, sizeof kept);
        if (rc != 0) {
            snprintf(open_error, sizeof open_error,
                     "%s keeps no PostgreSQL store address (the file store)", dir);
            return rc == FS_ENOTFOUND ? FS_ESTATE : rc;
        }
        url = kept;
    }
    pg_store *p = pg_new();
    if (p == NULL)
        return FS_ENOMEM;
    fs_store *sq = NULL;
    int rc = fs_store_open(&sq, dir, pass, passlen, opts);
    if (rc != 0) {
        snprintf(open_error, sizeof open_error, "%s", fs_store_errmsg(NULL));
        sodium_memzero(kept, sizeof kept);
        free(p);
        return rc;
    }
    rc = adopt(p, sq);
    if (rc == 0)
        rc = node_read(p);
    if (rc == 0)
        rc = connect_pg(p, url);
    sodium_memzero(kept, sizeof kept);
    PGresult *res = NULL;
    if (rc == 0)
        rc = pg_exec(p,
                     "SELECT (SELECT convert_from(value, 'UTF8') FROM fs_meta WHERE key='schema'),"
                     " (SELECT value FROM fs_meta WHERE key='store_id')",
                     PGRES_TUPLES_OK, &res, "reading the store's schema");
    if (rc == 0) {
        size_t idlen = 0;
        unsigned char *id = PQgetisnull(res, 0, 1)
                                ? NULL
                                : PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 1),
                                                  &idlen);
        int ver = PQgetisnull(res, 0, 0) ? 0 : atoi(PQgetvalue(res, 0, 0));
        PQclear(res);
        if (ver == 0 || id == NULL)
            rc = pg_fail(p, FS_EFORMAT, "the PostgreSQL database holds no fieldsync store");
        else if (ver > PG_SCHEMA_VERSION)
            rc = pg_fail(p, FS_EFORMAT,
                         "the PostgreSQL store's schema is version %d; this fieldsync knows up to "
                         "%d: install that version",
                         ver, PG_SCHEMA_VERSION);
        else if (idlen != 16 || memcmp(id, p->store_id, 16) != 0)
            rc = pg_fail(p, FS_ESTATE,
                         "this data directory is a node of another store than the PostgreSQL "
                         "database's");
        PQfreemem(id);
    }
    if (rc == 0) {
        key_of(p);
        rc = pg_exec(p, "LISTEN fs_log", PGRES_COMMAND_OK, NULL, "listening");
    }
    if (rc == 0)
        rc = catch_up(p);
    if (rc != 0)
        return open_failed(p, rc);
    *out = &p->base;
    return 0;
}

const char *fs_store_pg_errmsg(void)
{
    return open_error;
}

int fs_store_pg_keep_url(const char *dir, const char *url)
{
    if (url == NULL || url[0] == '\0' || strlen(url) >= PG_URL_MAX)
        return FS_EINVAL;
    return url_write(dir, url);
}

int fs_store_pg_migrate(const char *url, int *from, int *to)
{
    *from = *to = 0;
    pg_store p;
    memset(&p, 0, sizeof p);
    int rc = connect_pg(&p, url);
    PGresult *res = NULL;
    if (rc == 0)
        rc = pg_exec(&p,
                     "BEGIN; LOCK TABLE fs_meta IN EXCLUSIVE MODE;"
                     " SELECT convert_from(value, 'UTF8') FROM fs_meta WHERE key='schema'",
                     PGRES_TUPLES_OK, &res, "reading the store's schema");
    if (rc == 0) {
        *from = PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : 0;
        PQclear(res);
        if (*from <= 0)
            rc = pg_fail(&p, FS_EFORMAT, "the PostgreSQL database holds no fieldsync store");
        else if (*from > PG_SCHEMA_VERSION)
            rc = pg_fail(&p, FS_EFORMAT,
                         "the PostgreSQL store's schema is version %d; this fieldsync knows up "
                         "to %d: install that version",
                         *from, PG_SCHEMA_VERSION);
    }
    /* The steps from each older version go here, in this transaction (none
     * yet: version 1 is the first). */
    if (rc == 0) {
        char sql[128];
        snprintf(sql, sizeof sql,
                 "UPDATE fs_meta SET value=convert_to('%d', 'UTF8') WHERE key='schema'; COMMIT",
                 PG_SCHEMA_VERSION);
        rc = pg_exec(&p, sql, PGRES_COMMAND_OK, NULL, "migrating the schema");
    }
    if (rc == 0)
        *to = PG_SCHEMA_VERSION;
    snprintf(open_error, sizeof open_error, "%s", p.errmsg);
    PQfinish(p.pg);
    return rc;
}
