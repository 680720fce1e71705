/*
 * The replica: creating and opening the encrypted database (its key file,
 * the VFS, the connection's pragmas and write guard), its schema and
 * prepared statements, closing and wiping it, and the helpers the other
 * replica files share. Local writes and the change log are in
 * replica_write.c, reads in replica_read.c; merging remote changes is in
 * merge.c, verification and the state hash in check.c. The storage format
 * is described in replica_int.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "fieldsync/clock.h"
#include "fieldsync/replica_server.h"
#include "replica_int.h"

#define DEFAULT_MAX_SKEW_MS (5u * 60u * 1000u)

int fs__fail(fs_replica *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errmsg, sizeof r->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

int fs__dbfail(fs_replica *r, int rc, const char *what)
{
    char vmsg[160];
    int vcode = r->vfs ? fs_cryptvfs_take_error(r->vfs, vmsg, sizeof vmsg) : 0;
    if (vcode != 0)
        return fs__fail(r, vcode, "%s: %s", what, vmsg);
    const char *msg = r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc);
    switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return fs__fail(r, FS_EBUSY, "%s: the replica is open in another process", what);
    case SQLITE_FULL:
        return fs__fail(r, FS_EFULL, "%s: disk full", what);
    case SQLITE_NOMEM:
        return fs__fail(r, FS_ENOMEM, "%s: out of memory", what);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return fs__fail(r, FS_EINTEGRITY, "%s: database is damaged (%s)", what, msg);
    case SQLITE_IOERR:
        return fs__fail(r, FS_EIO, "%s: I/O error (%s)", what, msg);
    case SQLITE_AUTH: /* the authorizer's refusal: see authorize() */
        return fs__fail(r, FS_ETAMPERED, "%s: synced table written outside the change log", what);
    default:
        break;
    }
    return fs__fail(r, FS_EDB, "%s: %s", what, msg);
}

/* The message of the last failed create/open on this thread: callers get no
 * handle then, so fs_replica_errmsg(NULL) returns it (the git_error_last()
 * pattern). */
static _Thread_local char open_error[256];

const char *fs_replica_errmsg(const fs_replica *r)
{
    return r ? r->errmsg : open_error;
}

sqlite3 *fs__replica_db(fs_replica *r)
{
    return r->db;
}

void fs_replica_device(const fs_replica *r, uint8_t out[FS_ID_BYTES])
{
    memcpy(out, r->device, FS_ID_BYTES);
}

int fs_replica_identity(fs_replica *r, fs_identity **out)
{
    *out = NULL;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db, "SELECT v FROM meta WHERE k='identity'", -1, &st, NULL);
    if (src != SQLITE_OK)
        return fs__dbfail(r, src, "reading the device identity");
    int rc;
    src = sqlite3_step(st);
    if (src == SQLITE_ROW && sqlite3_column_bytes(st, 0) == FS_SIGN_SEED_BYTES)
        rc = fs_identity_from_seed(out, sqlite3_column_blob(st, 0));
    else if (src == SQLITE_ROW || src == SQLITE_DONE)
        rc = fs__fail(r, FS_ENOTFOUND, "this replica has no device identity");
    else
        rc = fs__dbfail(r, src, "reading the device identity");
    sqlite3_finalize(st); /* SQLite frees its copy of the seed */
    return rc;
}

/* ---- schema ---- */

/* The guard: synced tables and the change log are written only by this API.
 * SQLite asks the authorizer about every statement as it is prepared (and
 * prepared again after a schema change, inside the step that needs it): an
 * INSERT, UPDATE or DELETE on a guarded table is refused unless the API is
 * writing (r->guard, raised around its own writes and the preparing of
 * them). A check at prepare time costs nothing per row; the BEFORE triggers
 * that did this before ran a program per row written (bench_write, 1,000
 * visits per transaction: 0.52 -> 0.72 of raw SQLite without them). */
static int guarded_table(const char *name)
{
    return name != NULL && (strcmp(name, "changelog") == 0 || fs_schema_table_index(name) >= 0);
}

static int authorize(void *ctx, int action, const char *a, const char *b, const char *db,
                     const char *trigger)
{
    (void)b;
    (void)db;
    (void)trigger;
    const fs_replica *r = ctx;
    if ((action == SQLITE_INSERT || action == SQLITE_UPDATE || action == SQLITE_DELETE) &&
        r->guard == 0 && guarded_table(a))
        return SQLITE_DENY;
    return SQLITE_OK;
}

/* Replicas made before the authorizer carry guard triggers: dropped on open
 * (the authorizer does their work), in one transaction. */
static int drop_guard_triggers(fs_replica *r)
{
    sqlite3_stmt *st = NULL;
    char sql[8192] = "BEGIN IMMEDIATE;";
    size_t len = strlen(sql), n = 0;
    int src = sqlite3_prepare_v2(r->db,
                                 "SELECT name FROM sqlite_master WHERE type='trigger'"
                                 " AND name GLOB '*_guard_[0-9]'",
                                 -1, &st, NULL);
    while (src == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (name != NULL && strlen(name) < 100 && len + 150 < sizeof sql) {
            len += (size_t)snprintf(sql + len, sizeof sql - len, "DROP TRIGGER IF EXISTS \"%s\";",
                                    name);
            n++;
        }
    }
    sqlite3_finalize(st);
    if (src != SQLITE_OK)
        return fs__dbfail(r, src, "opening the replica");
    if (n == 0)
        return 0;
    snprintf(sql + len, sizeof sql - len, "COMMIT;");
    src = sqlite3_exec(r->db, sql, NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
        return fs__dbfail(r, src, "dropping the old write guards");
    }
    return 0;
}

/* Appends to a fixed buffer; returns -1 once it would overflow. */
int fs__append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap - *len)
        return -1;
    *len += (size_t)n;
    return 0;
}

int fs__exec(fs_replica *r, const char *sql, const char *what)
{
    int rc = sqlite3_exec(r->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : fs__dbfail(r, rc, what);
}

/* CREATE TABLE of one record table: id, the schema's columns, _ver. */
static int create_table(fs_replica *r, const fs_table *tb, const char *what)
{
    char sql[4096];
    size_t len = 0;
    int bad =
        fs__append(sql, sizeof sql, &len, "CREATE TABLE \"%s\"(id BLOB PRIMARY KEY NOT NULL", tb->name);
    for (unsigned c = 0; c < tb->ncolumns; c++)
        bad |= fs__append(sql, sizeof sql, &len,
                          c == 0 ? ", \"%s\" INTEGER NOT NULL DEFAULT 0" : ", \"%s\"",
                          tb->columns[c].name);
    /* No secondary indexes: each one is another B-tree every write
     * dirties (measured: 0.61 -> 0.49 of raw SQLite for one visit per
     * transaction), and the replica's readers scan. Add one with the
     * query that needs it and a measurement. */
    bad |= fs__append(sql, sizeof sql, &len, ", _ver BLOB NOT NULL) WITHOUT ROWID;");
    if (bad)
        return fs__fail(r, FS_EINVAL, "schema statement too long for table %s", tb->name);
    return fs__exec(r, sql, what);
}

static int create_schema(fs_replica *r)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    int rc = fs__exec(r,
                      "CREATE TABLE meta(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
                      "CREATE TABLE device(idx INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE);"
                      "CREATE TABLE changelog(seq INTEGER PRIMARY KEY, tbl INTEGER NOT NULL,"
                      " col INTEGER NOT NULL, row BLOB NOT NULL, value, hlc INTEGER NOT NULL,"
                      " prev_hlc INTEGER NOT NULL, prev_dev INTEGER NOT NULL);" FS__SYNC_TABLES_SQL,
                      "creating the replica");
    for (unsigned t = 0; rc == 0 && t < nt; t++)
        rc = create_table(r, &tables[t], "creating the replica");
    return rc;
}

/* A device's replica indexes its visits by time (issue 21.6): `visit list`
 * reads visits in time order, and without an index SQLite sorts every live
 * visit before it shows the first (3.5 s at 1,000,000, bench_first). With
 * it the list walks the index and reads only the rows it shows. Partial
 * (live rows only, as every list reads them); the key is (time, id), the
 * order fs_rows_open gives. Made when missing, on every open: a replica of
 * 0.3.0 gets it at its first open. Local to the device: nothing a peer
 * sees changes. The server's store (a feed) has no use for it and is not
 * charged the write. */
static int device_indexes(fs_replica *r)
{
    if (r->keep_feed)
        return 0;
    return fs__exec(r, "CREATE INDEX IF NOT EXISTS " FS__VISIT_TIME_INDEX
                       " ON visit(\"time\") WHERE deleted=0;",
                    "indexing the visits by time");
}

/* *indexed: 1 when the replica has its visits' time index now. */
static int time_indexed(fs_replica *r, uint64_t *indexed)
{
    return fs__query_u64(
        r, "SELECT count(*) FROM sqlite_master WHERE name='" FS__VISIT_TIME_INDEX "'", indexed);
}

int fs_replica_first_pull_begin(fs_replica *r, int *dropped)
{
    *dropped = 0;
    if (r->keep_feed)
        return 0;
    if (r->in_tx)
        return fs__fail(r, FS_ESTATE, "a first pull begins outside a transaction");
    uint64_t held = 0, indexed = 0;
    int rc = fs__query_u64(r, "SELECT count(*) FROM (SELECT 1 FROM visit LIMIT 1)", &held);
    if (rc == 0)
        rc = time_indexed(r, &indexed);
    if (rc != 0 || held > 0 || indexed == 0)
        return rc;
    rc = fs__exec(r, "DROP INDEX IF EXISTS " FS__VISIT_TIME_INDEX, "a first pull");
    if (rc == 0)
        *dropped = 1;
    return rc;
}

int fs_replica_first_pull_end(fs_replica *r)
{
    if (r->keep_feed)
        return 0;
    if (r->in_tx)
        return fs__fail(r, FS_ESTATE, "a pull ends outside a transaction");
    uint64_t indexed = 0;
    int rc = time_indexed(r, &indexed);
    return rc != 0 || indexed > 0 ? rc : device_indexes(r);
}

unsigned fs__upgrade_fail_after;

/* One step of the upgrade: the test hook fs__upgrade_fail_after fails the
 * step after that many (a crash between two steps, as a test sees it). */
static int upgrade_step(fs_replica *r, unsigned *steps, int rc, const char *what)
{
    if (rc == 0 && fs__upgrade_fail_after != 0 && ++*steps > fs__upgrade_fail_after)
        rc = fs__fail(r, FS_EIO, "%s: step %u failed (test hook)", what, *steps);
    return rc;
}

/* A replica of an older schema version, brought to this build's in one
 * transaction (or left as it was): tables that came since are created,
 * columns that came since are added to the tables that had them not (their
 * versions, 12 zero bytes each, appended to every row's _ver), and the pull
 * cursor goes back to 0, so that a device receives the rows of the new
 * tables and columns that the server left out of what it sent before (it
 * sends the whole scope again; applying what a replica has is a no-op). */
static int upgrade_schema(fs_replica *r)
{
    unsigned steps = 0;
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    const char *what = "upgrading the replica's schema";
    char sql[512];
    int rc = fs__exec(r, "BEGIN IMMEDIATE", what);
    if (rc != 0)
        return rc;
    r->guard++;
    for (unsigned t = 0; rc == 0 && t < nt; t++) {
        const fs_table *tb = &tables[t];
        if (tb->since > (unsigned)r->schema) {
            rc = upgrade_step(r, &steps, create_table(r, tb, what), what);
            continue;
        }
        for (unsigned c = 0; rc == 0 && c < tb->ncolumns; c++) {
            if (tb->columns[c].since <= (unsigned)r->schema)
                continue;
            snprintf(sql, sizeof sql,
                     "ALTER TABLE \"%s\" ADD COLUMN \"%s\";"
                     "UPDATE \"%s\" SET _ver=_ver||zeroblob(%d);",
                     tb->name, tb->columns[c].name, tb->name, FS__VER_BYTES);
            rc = upgrade_step(r, &steps, fs__exec(r, sql, what), what);
        }
    }
    if (rc == 0) {
        snprintf(sql, sizeof sql,
                 "UPDATE meta SET v=%u WHERE k='schema';UPDATE meta SET v=0 WHERE k='cursor';",
                 FS_SCHEMA_VERSION);
        rc = fs__exec(r, sql, what);
    }
    r->guard--;
    if (rc == 0)
        rc = fs__exec(r, "COMMIT", what);
    if (rc != 0) {
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    r->schema = FS_SCHEMA_VERSION;
    return 0;
}

int fs__prepare(fs_replica *r, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    return rc == SQLITE_OK ? 0 : fs__dbfail(r, rc, "preparing a statement");
}

int fs_replica_stmt(fs_replica *r, const char *sql, sqlite3_stmt **out)
{
    *out = NULL;
    int slot = -1;
    for (int i = 0; i < FS__STMTS_KEPT; i++) {
        if (r->stmts[i].st != NULL && r->stmts[i].key == sql && !r->stmts[i].busy &&
            strcmp(sqlite3_sql(r->stmts[i].st), sql) == 0) {
            r->stmts[i].busy = 1;
            r->stmts[i].used = ++r->stmts_clock;
            *out = r->stmts[i].st;
            return 0;
        }
        if (r->stmts[i].busy)
            continue;
        if (slot < 0 || r->stmts[i].st == NULL ||
            (r->stmts[slot].st != NULL && r->stmts[i].used < r->stmts[slot].used))
            slot = i;
    }
    int rc = fs__prepare(r, sql, out);
    if (rc != 0 || slot < 0) /* every slot lent out: this one is finalized when done */
        return rc;
    sqlite3_finalize(r->stmts[slot].st);
    r->stmts[slot].key = sql;
    r->stmts[slot].st = *out;
    r->stmts[slot].busy = 1;
    r->stmts[slot].used = ++r->stmts_clock;
    return 0;
}

void fs_replica_stmt_done(fs_replica *r, sqlite3_stmt *st)
{
    if (st == NULL)
        return;
    for (int i = 0; i < FS__STMTS_KEPT; i++)
        if (r->stmts[i].st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            r->stmts[i].busy = 0;
            return;
        }
    sqlite3_finalize(st);
}

static int prepare_statements(fs_replica *r)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    r->ts = calloc(nt, sizeof *r->ts);
    if (r->ts == NULL)
        return fs__fail(r, FS_ENOMEM, "out of memory");
    char sql[4096];
    for (unsigned t = 0; t < nt; t++) {
        const fs_table *tb = &tables[t];
        size_t len = 0;
        int bad = fs__append(sql, sizeof sql, &len, "SELECT ");
        for (unsigned c = 0; c < tb->ncolumns; c++)
            bad |= fs__append(sql, sizeof sql, &len, "\"%s\",", tb->columns[c].name);
        bad |= fs__append(sql, sizeof sql, &len, "_ver FROM \"%s\" WHERE id=?1", tb->name);
        if (bad)
            return fs__fail(r, FS_EINVAL, "statement too long");
        int rc = fs__prepare(r, sql, &r->ts[t].select);
        if (rc != 0)
            return rc;
        len = 0;
        bad = fs__append(sql, sizeof sql, &len, "INSERT INTO \"%s\"(id", tb->name);
        for (unsigned c = 0; c < tb->ncolumns; c++)
            bad |= fs__append(sql, sizeof sql, &len, ",\"%s\"", tb->columns[c].name);
        bad |= fs__append(sql, sizeof sql, &len, ",_ver) VALUES(?1");
        for (unsigned c = 0; c <= tb->ncolumns; c++)
            bad |= fs__append(sql, sizeof sql, &len, ",?%u", c + 2);
        bad |= fs__append(sql, sizeof sql, &len, ") ON CONFLICT(id) DO UPDATE SET ");
        for (unsigned c = 0; c < tb->ncolumns; c++)
            bad |= fs__append(sql, sizeof sql, &len, "\"%s\"=excluded.\"%s\",", tb->columns[c].name,
                              tb->columns[c].name);
        bad |= fs__append(sql, sizeof sql, &len, "_ver=excluded._ver");
        if (bad)
            return fs__fail(r, FS_EINVAL, "statement too long");
        rc = fs__prepare(r, sql, &r->ts[t].upsert);
        if (rc != 0)
            return rc;
        snprintf(sql, sizeof sql, "SELECT deleted FROM \"%s\" WHERE id=?1", tb->name);
        rc = fs__prepare(r, sql, &r->ts[t].exists);
        if (rc != 0)
            return rc;
    }
    int rc = fs__prepare(r,
                         "INSERT INTO changelog(tbl,col,row,value,hlc,prev_hlc,prev_dev)"
                         " VALUES(?1,?2,?3,?4,?5,?6,?7)",
                         &r->log_insert);
    if (rc == 0)
        rc = fs__prepare(r, "UPDATE meta SET v=?1 WHERE k='hlc' AND v<?1", &r->hlc_save);
    if (rc == 0)
        rc = fs__prepare(r, "INSERT INTO device(idx,id) VALUES(?1,?2)", &r->dev_insert);
    if (rc == 0 && r->keep_feed)
        rc = fs__prepare(r, FS__FEED_INSERT_SQL, &r->feed_insert);
    return rc;
}

/* The API's own statements, prepared with the guard raised: the authorizer
 * lets them write the synced tables and the change log. */
static int prepare_guarded_statements(fs_replica *r)
{
    r->guard++;
    int rc = prepare_statements(r);
    r->guard--;
    return rc;
}

int fs__table_for(fs_replica *r, const char *name, int internal_ok, const fs_table **t)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    int tix = fs_schema_table_index(name);
    if (tix < 0)
        return fs__fail(r, FS_ESCHEMA, "no table \"%s\"", name ? name : "(null)");
    if (!internal_ok && (tables[tix].flags & FS_TABLE_INTERNAL))
        return fs__fail(r, FS_EINVAL, "table %s is written by the replica itself", name);
    *t = &tables[tix];
    return tix;
}

static int query_u64(fs_replica *r, const char *sql, uint64_t *out)
{
    sqlite3_stmt *st = NULL;
    *out = 0;
    int rc = fs_replica_stmt(r, sql, &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *out = (uint64_t)sqlite3_column_int64(st, 0);
    fs_replica_stmt_done(r, st);
    return (src == SQLITE_ROW || src == SQLITE_DONE) ? 0 : fs__dbfail(r, src, "querying");
}

int fs__query_u64(fs_replica *r, const char *sql, uint64_t *out)
{
    return query_u64(r, sql, out);
}

static int load_meta(fs_replica *r)
{
    sqlite3_stmt *st = NULL;
    int rc = fs__prepare(r, "SELECT k, v FROM meta", &st);
    if (rc != 0)
        return rc;
    int have_device = 0, schema = 0, src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        if (k == NULL)
            continue;
        if (strcmp(k, "device") == 0 && sqlite3_column_bytes(st, 1) == FS_ID_BYTES) {
            memcpy(r->device, sqlite3_column_blob(st, 1), FS_ID_BYTES);
            have_device = 1;
        } else if (strcmp(k, "hlc") == 0) {
            r->hlc = (uint64_t)sqlite3_column_int64(st, 1);
        } else if (strcmp(k, "schema") == 0) {
            schema = sqlite3_column_int(st, 1);
        } else if (strcmp(k, "feed") == 0) {
            r->feed_format = sqlite3_column_int(st, 1);
            r->keep_feed = r->feed_format != 0;
        }
    }
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return fs__dbfail(r, src, "reading the replica");
    fs_identity *id = NULL;
    rc = fs_replica_identity(r, &id);
    if (rc == 0) {
        uint8_t derived[FS_ID_BYTES];
        fs_device_id_from_pk(id->pk, derived);
        fs_identity_free(id);
        if (memcmp(derived, r->device, FS_ID_BYTES) != 0)
            return fs__fail(r, FS_EFORMAT, "the replica's identity does not match its device id");
    } else if (rc != FS_ENOTFOUND) {
        return rc;
    }
    uint64_t logged = 0;
    rc = query_u64(r, "SELECT hlc FROM changelog ORDER BY seq DESC LIMIT 1", &logged);
    if (rc != 0)
        return rc;
    if (logged > r->hlc)
        r->hlc = logged;
    rc = fs__servertime_load(r);
    if (rc != 0)
        return rc;
    if (!have_device || schema < 1)
        return fs__fail(r, FS_EFORMAT, "the replica's metadata is missing or damaged");
    if (schema > (int)FS_SCHEMA_VERSION)
        return fs__fail(r, FS_EFORMAT,
                        "the replica was made by a newer fieldsync (schema %d; this one knows "
                        "up to %u): install that version",
                        schema, FS_SCHEMA_VERSION);
    r->schema = schema;
    return fs__load_devs(r);
}

int fs__load_devs(fs_replica *r)
{
    sqlite3_stmt *st = NULL;
    int src;
    r->ndevs = 0;
    int rc = fs__prepare(r, "SELECT idx, id FROM device ORDER BY idx", &st);
    if (rc != 0)
        return rc;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        uint32_t idx = (uint32_t)sqlite3_column_int64(st, 0);
        if (idx != r->ndevs + 1 || sqlite3_column_bytes(st, 1) != FS_ID_BYTES) {
            sqlite3_finalize(st);
            return fs__fail(r, FS_EFORMAT, "the replica's device dictionary is damaged");
        }
        if (r->ndevs == r->capdevs) {
            uint32_t cap = r->capdevs ? 2 * r->capdevs : 16;
            void *p = realloc(r->devs, (size_t)cap * sizeof *r->devs);
            if (p == NULL) {
                sqlite3_finalize(st);
                return fs__fail(r, FS_ENOMEM, "out of memory");
            }
            r->devs = p;
            r->capdevs = cap;
        }
        memcpy(r->devs[r->ndevs++], sqlite3_column_blob(st, 1), FS_ID_BYTES);
    }
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return fs__dbfail(r, src, "reading the replica");
    return fs__dev_index(r, r->device, &r->device_idx);
}

static int join_path(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    return (n < 0 || (size_t)n >= cap) ? FS_EINVAL : 0;
}

/* Connects to the database file and makes its first read, which takes the
 * lock the connection keeps until it closes (locking_mode=EXCLUSIVE).
 * Returns SQLite's code; r->db is set whatever happens. */
static int connect_db(fs_replica *r, const char *path, int create, int *wal)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    int src = sqlite3_open_v2(path, &r->db, flags, fs_cryptvfs_name(r->vfs));
    if (src != SQLITE_OK)
        return src;
    sqlite3_extended_result_codes(r->db, 1);
    if (create) {
        int reserve = FS_VFS_RESERVE;
        src = sqlite3_file_control(r->db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
        if (src != SQLITE_OK)
            return src;
    }
    /* 8 KiB pages (a new replica's; an existing one keeps its size): every
     * page costs a seal with its own subkey, nonce and tag and a WAL frame
     * of two writes, so fewer, larger pages write the same rows for less
     * (bench_write, 1,000 visits per transaction: 0.70-0.75 -> 1.04 of raw
     * SQLite at its default 4 KiB; bench_sync push 0.28-0.32 -> 0.32, pull
     * 0.62-0.69 -> 0.72-0.76). 16 KiB did more for batches and less for
     * one visit per transaction (0.49). */
    src = sqlite3_exec(r->db,
                       "PRAGMA temp_store=MEMORY; PRAGMA locking_mode=EXCLUSIVE;"
                       " PRAGMA page_size=8192; PRAGMA cell_size_check=ON;"
                       " PRAGMA cache_size=-65536;",
                       NULL, NULL, NULL);
    if (src != SQLITE_OK)
        return src;
    sqlite3_stmt *st = NULL;
    src = sqlite3_prepare_v2(r->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (src != SQLITE_OK)
        return src;
    src = sqlite3_step(st);
    const char *mode = src == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    *wal = mode != NULL && strcmp(mode, "wal") == 0;
    sqlite3_finalize(st);
    return src == SQLITE_ROW ? SQLITE_OK : src;
}

/* Opens the database file through a new encrypting VFS and sets the pragmas
 * every connection needs.
 *
 * The first read takes a shared lock and then, the database being in WAL
 * mode with exclusive locking, the exclusive one. Two processes opening at
 * the same instant both get the shared lock and each is refused the
 * exclusive one; SQLite's busy handler then retries the upgrade while still
 * holding the shared lock, so both wait out the whole timeout and fail. So
 * the first read runs without a busy handler, and on SQLITE_BUSY the
 * connection is closed, which lets go of the shared lock, and made again
 * after a random pause (in step, two openers would collide every time),
 * until opts.busy_ms has passed. */
static int open_db(fs_replica *r, const char *path, const fs_secret *s, int create)
{
    int rc = fs_cryptvfs_new(&r->vfs, s);
    if (rc != 0)
        return fs__fail(r, rc, "cannot set up the encrypting VFS");
    int busy_ms = r->opts.busy_ms > 0 ? r->opts.busy_ms : 1000;
    uint64_t until = fs_clock_mono_ms() + (uint64_t)busy_ms;
    int wal = 0, src;
    for (;;) {
        src = connect_db(r, path, create, &wal);
        if ((src & 0xFF) != SQLITE_BUSY || fs_clock_mono_ms() >= until)
            break;
        sqlite3_close(r->db);
        r->db = NULL;
        struct timespec nap = {0, (long)(5 + randombytes_uniform(45)) * 1000000L};
        nanosleep(&nap, NULL);
    }
    if (src != SQLITE_OK)
        return fs__dbfail(r, src, create ? "cannot create the replica" : "cannot open the replica");
    if (!wal)
        return fs__fail(r, FS_EDB, "cannot switch the replica to WAL mode");
    sqlite3_busy_timeout(r->db, busy_ms);
    src = sqlite3_set_authorizer(r->db, authorize, r);
    if (src != SQLITE_OK)
        return fs__dbfail(r, src, "cannot set the write guard");
    rc = fs__search_functions(r);
    if (rc != 0)
        return rc;
    /* Checkpoints every 64 MiB of WAL rather than SQLite's 4 MiB: a page
     * written again before the checkpoint is sealed and copied once, and a
     * sync's large batches write the same index and feed pages over and
     * over (push 27-40 % faster in bench_sync). The file is cut back to
     * 16 MiB after a checkpoint, and closing removes it. */
    return fs__exec(r,
                    "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=16384;"
                    " PRAGMA journal_size_limit=16777216;",
                    "cannot configure the replica");
}

static void free_statements(fs_replica *r)
{
    unsigned nt;
    fs_schema_tables(&nt);
    if (r->ts != NULL) {
        for (unsigned t = 0; t < nt; t++) {
            sqlite3_finalize(r->ts[t].select);
            sqlite3_finalize(r->ts[t].upsert);
            sqlite3_finalize(r->ts[t].exists);
        }
        free(r->ts);
        r->ts = NULL;
    }
    sqlite3_finalize(r->log_insert);
    sqlite3_finalize(r->hlc_save);
    sqlite3_finalize(r->dev_insert);
    sqlite3_finalize(r->feed_insert);
    fs__search_free(r);
    fs__rows_kept_free(r);
    for (int i = 0; i < FS__STMTS_KEPT; i++) {
        sqlite3_finalize(r->stmts[i].st);
        r->stmts[i].st = NULL;
    }
    r->log_insert = r->hlc_save = r->dev_insert = r->feed_insert = NULL;
}

void fs_replica_close(fs_replica *r)
{
    if (r == NULL)
        return;
    if (r->db != NULL && r->in_tx)
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
    free_statements(r);
    sqlite3_close(r->db); /* checkpoints and removes the WAL */
    fs_cryptvfs_free(r->vfs);
    free(r->devs);
    if (r->feed.buf != NULL) {
        sodium_memzero(r->feed.buf, r->feed.cap);
        free(r->feed.buf);
    }
    sodium_memzero(r, sizeof *r);
    free(r);
}

/* r->gen's source: every replica of the process draws from it. */
static _Atomic uint64_t gen_clock;

void fs__touch(fs_replica *r)
{
    r->gen = ++gen_clock;
}

int fs_replica_generation(fs_replica *r, uint64_t out[2])
{
    if (!sqlite3_get_autocommit(r->db))
        return 1;
    out[0] = r->gen;
    return fs__query_u64(r, "PRAGMA data_version", &out[1]);
}

static int replica_new(fs_replica **out, const fs_replica_opts *opts)
{
    *out = NULL;
    if (sodium_init() < 0)
        return FS_EINVAL;
    fs_replica *r = calloc(1, sizeof *r);
    if (r == NULL)
        return FS_ENOMEM;
    if (opts != NULL)
        r->opts = *opts;
    if (r->opts.max_skew_ms == 0)
        r->opts.max_skew_ms = DEFAULT_MAX_SKEW_MS;
    fs__touch(r);
    *out = r;
    return 0;
}

static int open_failed(fs_replica *r, int rc)
{
    snprintf(open_error, sizeof open_error, "%s", r->errmsg[0] ? r->errmsg : fs_strerror(rc));
    fs_replica_close(r);
    return rc;
}

/* dir and its missing parents, each private (0700), as `mkdir -p` would:
 * a rep's --home ~/fieldsync/li need not be made by hand first. */
static int mkdir_parents(const char *dir)
{
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path)
        return -1;
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return -1;
        path[i] = c;
    }
    return 0;
}

int fs_replica_create(fs_replica **out, const char *dir, const char *pass, size_t passlen,
                      const fs_replica_opts *opts)
{
    fs_replica *r = NULL;
    char keypath[4096], dbpath[4096];
    fs_secret *s = NULL;
    int rc = replica_new(&r, opts);
    *out = NULL;
    if (rc != 0)
        return rc;
    if (dir == NULL || join_path(keypath, sizeof keypath, dir, "replica.key") != 0 ||
        join_path(dbpath, sizeof dbpath, dir, "replica.db") != 0)
        return open_failed(r, fs__fail(r, FS_EINVAL, "invalid replica directory"));
    if (pass == NULL || passlen == 0)
        return open_failed(r, fs__fail(r, FS_EINVAL, "the passphrase is empty"));
    if (mkdir_parents(dir) != 0)
        return open_failed(r, fs__fail(r, FS_EIO, "cannot create directory %s", dir));
    if (access(dbpath, F_OK) == 0 || access(keypath, F_OK) == 0)
        return open_failed(r, fs__fail(r, FS_EEXIST, "a replica already exists in %s", dir));
    rc = fs_keyfile_create(keypath, pass, passlen, r->opts.kdf, &s);
    if (rc != 0)
        return open_failed(r, fs__fail(r, rc, "cannot create the key file: %s", fs_strerror(rc)));
    rc = open_db(r, dbpath, s, 1);
    fs_secret_free(s);
    if (rc == 0)
        rc = fs__exec(r, "BEGIN IMMEDIATE; COMMIT;", "creating the replica"); /* creates the file */
    if (rc == 0 && chmod(dbpath, 0600) != 0)
        rc = fs__fail(r, FS_EIO, "cannot restrict the permissions of %s", dbpath);
    if (rc == 0)
        rc = fs__exec(r, "BEGIN IMMEDIATE", "creating the replica");
    if (rc == 0) {
        r->guard++;
        rc = create_schema(r);
        r->guard--;
    }
    if (rc == 0 && r->opts.keep_feed) {
        r->keep_feed = 1;
        r->feed_format = FS__FEED_FORMAT;
        rc = fs__exec(r, FS__FEED_TABLE_SQL "INSERT INTO meta(k,v) VALUES('feed',2);",
                      "creating the replica");
    }
    unsigned char *seed = sodium_malloc(FS_SIGN_SEED_BYTES);
    if (rc == 0 && seed == NULL)
        rc = fs__fail(r, FS_ENOMEM, "out of memory");
    if (rc == 0) {
        /* The device's signing identity; its id in every version is derived
         * from the public key. */
        fs_identity *id = NULL;
        randombytes_buf(seed, FS_SIGN_SEED_BYTES);
        rc = fs_identity_from_seed(&id, seed);
        if (rc == 0)
            fs_device_id_from_pk(id->pk, r->device);
        fs_identity_free(id);
        if (rc != 0)
            rc = fs__fail(r, rc, "cannot create the device identity");
    }
    if (rc == 0) {
        sqlite3_stmt *st = NULL;
        rc = fs__prepare(r,
                         "INSERT INTO meta(k,v) VALUES('device',?1),('hlc',0),('schema',?2),"
                         "('acked_seq',0),('cursor',0),('identity',?3)",
                         &st);
        if (rc == 0) {
            sqlite3_bind_blob(st, 1, r->device, FS_ID_BYTES, SQLITE_STATIC);
            sqlite3_bind_int(st, 2, FS_SCHEMA_VERSION);
            sqlite3_bind_blob(st, 3, seed, FS_SIGN_SEED_BYTES, SQLITE_STATIC);
            int src = sqlite3_step(st);
            if (src != SQLITE_DONE)
                rc = fs__dbfail(r, src, "creating the replica");
            sqlite3_finalize(st);
        }
    }
    sodium_free(seed);
    if (rc == 0)
        rc = device_indexes(r);
    if (rc == 0)
        rc = fs__exec(r, "COMMIT", "creating the replica");
    if (rc == 0)
        rc = prepare_guarded_statements(r);
    if (rc == 0)
        rc = load_meta(r);
    if (rc == 0)
        rc = fs__search_setup(r);
    if (rc != 0) {
        rc = open_failed(r, rc);
        unlink(dbpath);
        unlink(keypath);
        char wal[4200];
        snprintf(wal, sizeof wal, "%s-wal", dbpath);
        unlink(wal);
        return rc;
    }
    *out = r;
    return 0;
}

/* A store made before feed entries held a row write each (format 1):
 * converted in one transaction, or left as it was. */
static int upgrade_feed(fs_replica *r)
{
    if (r->feed_format != 1)
        return fs__fail(r, FS_EFORMAT, "the feed is in format %d, which this build cannot read",
                        r->feed_format);
    int rc = fs__exec(r, "BEGIN IMMEDIATE", "converting the feed");
    if (rc == 0)
        rc = fs__feed_upgrade(r);
    if (rc == 0)
        return fs__exec(r, "COMMIT", "converting the feed");
    sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Opens the database of dir with the unwrapped key s: the common part of
 * fs_replica_open and fs_replica_open_secret. Frees r on failure. */
static int open_with_secret(fs_replica **out, fs_replica *r, const char *dbpath, const fs_secret *s)
{
    int rc = open_db(r, dbpath, s, 0);
    if (rc == 0) /* replicas made before the sync bookkeeping existed */
        rc = fs__exec(r, FS__SYNC_TABLES_SQL "INSERT OR IGNORE INTO meta(k,v) VALUES('cursor',0);",
                      "opening the replica");
    if (rc == 0)
        rc = fs__refusals_upgrade(r);
    if (rc == 0)
        rc = drop_guard_triggers(r);
    if (rc == 0)
        rc = load_meta(r);
    if (rc == 0 && r->keep_feed && r->feed_format != FS__FEED_FORMAT)
        rc = upgrade_feed(r);
    if (rc == 0 && r->schema != (int)FS_SCHEMA_VERSION)
        rc = upgrade_schema(r);
    if (rc == 0)
        rc = device_indexes(r);
    if (rc == 0)
        rc = prepare_guarded_statements(r);
    if (rc == 0)
        rc = fs__search_setup(r);
    if (rc != 0)
        return open_failed(r, rc);
    *out = r;
    return 0;
}

/* Paths of dir's key file and database; fails r if dir is unusable or holds
 * no replica. */
static int replica_paths(fs_replica *r, const char *dir, char *keypath, char *dbpath, size_t cap)
{
    if (dir == NULL || join_path(keypath, cap, dir, "replica.key") != 0 ||
        join_path(dbpath, cap, dir, "replica.db") != 0)
        return fs__fail(r, FS_EINVAL, "invalid replica directory");
    if (access(dbpath, F_OK) != 0)
        return fs__fail(r, FS_ENOTFOUND, "no replica in %s (run init first)", dir);
    return 0;
}

int fs_replica_open(fs_replica **out, const char *dir, const char *pass, size_t passlen,
                    const fs_replica_opts *opts)
{
    fs_replica *r = NULL;
    char keypath[4096], dbpath[4096];
    fs_secret *s = NULL;
    int rc = replica_new(&r, opts);
    *out = NULL;
    if (rc != 0)
        return rc;
    rc = replica_paths(r, dir, keypath, dbpath, sizeof keypath);
    if (rc != 0)
        return open_failed(r, rc);
    rc = fs_keyfile_unlock(keypath, pass ? pass : "", pass ? passlen : 0, &s);
    if (rc == FS_EPASSPHRASE)
        return open_failed(r, fs__fail(r, rc, "wrong passphrase for the replica in %s", dir));
    if (rc == FS_ENOTFOUND)
        return open_failed(r, fs__fail(r, rc, "the replica's key file is missing in %s", dir));
    if (rc != 0)
        return open_failed(r, fs__fail(r, rc, "cannot read the key file: %s", fs_strerror(rc)));
    rc = open_with_secret(out, r, dbpath, s);
    fs_secret_free(s);
    return rc;
}

int fs_replica_open_secret(fs_replica **out, const char *dir, const fs_secret *s,
                           const fs_replica_opts *opts)
{
    fs_replica *r = NULL;
    char keypath[4096], dbpath[4096];
    unsigned char dbid[FS_DBID_BYTES];
    int rc = replica_new(&r, opts);
    *out = NULL;
    if (rc != 0)
        return rc;
    rc = replica_paths(r, dir, keypath, dbpath, sizeof keypath);
    if (rc != 0)
        return open_failed(r, rc);
    rc = fs_keyfile_dbid(keypath, dbid);
    if (rc == FS_ENOTFOUND)
        return open_failed(r, fs__fail(r, rc, "the replica's key file is missing in %s", dir));
    if (rc != 0)
        return open_failed(r, fs__fail(r, rc, "cannot read the key file: %s", fs_strerror(rc)));
    /* A key for another replica (one wiped and created again) would only
     * fail page authentication later, with a less useful message. */
    if (s == NULL || sodium_memcmp(dbid, s->dbid, sizeof dbid) != 0)
        return open_failed(r, fs__fail(r, FS_EPASSPHRASE,
                                       "the key given is not the key of the replica in %s", dir));
    return open_with_secret(out, r, dbpath, s);
}

int fs_replica_wipe(const char *dir)
{
    char keypath[4096], dbpath[4096], extra[4200];
    if (dir == NULL || join_path(keypath, sizeof keypath, dir, "replica.key") != 0 ||
        join_path(dbpath, sizeof dbpath, dir, "replica.db") != 0)
        return FS_EINVAL;
    if (access(keypath, F_OK) != 0 && access(dbpath, F_OK) != 0)
        return FS_ENOTFOUND;
    int rc = 0;
    int fd = open(keypath, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        unsigned char noise[FS_KEYFILE_BYTES];
        randombytes_buf(noise, sizeof noise);
        if (pwrite(fd, noise, sizeof noise, 0) != (ssize_t)sizeof noise || fsync(fd) != 0)
            rc = FS_EIO;
        close(fd);
        if (unlink(keypath) != 0)
            rc = FS_EIO;
    } else if (errno != ENOENT) {
        rc = FS_EIO;
    }
    if (unlink(dbpath) != 0 && errno != ENOENT)
        rc = FS_EIO;
    static const char *const suffixes[] = {"-wal", "-journal", "-shm"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(extra, sizeof extra, "%s%s", dbpath, suffixes[i]);
        if (unlink(extra) != 0 && errno != ENOENT)
            rc = FS_EIO;
    }
    return rc;
}

int fs_replica_change_passphrase(const char *dir, const char *oldpass, size_t oldlen,
                                 const char *newpass, size_t newlen)
{
    char keypath[4096];
    if (dir == NULL || join_path(keypath, sizeof keypath, dir, "replica.key") != 0)
        return FS_EINVAL;
    /* a key file of an older release gets today's cost with its new passphrase */
    return fs_keyfile_rewrap(keypath, oldpass, oldlen, newpass, newlen, fs_kdf_default());
}
