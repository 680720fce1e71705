/*
 * The replica: opening the encrypted database, its schema, local writes with
 * their change-log entries, reads, and the change log itself. Merging remote
 * changes is in merge.c; verification and the state hash in check.c. The
 * storage format is described in replica_int.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "fieldsync/clock.h"
#include "replica_int.h"

#define SCHEMA_VERSION 1
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
static int append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
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

static int exec(fs_replica *r, const char *sql, const char *what)
{
    int rc = sqlite3_exec(r->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : fs__dbfail(r, rc, what);
}

static int create_schema(fs_replica *r)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    char sql[4096];
    int rc = exec(r,
                  "CREATE TABLE meta(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
                  "CREATE TABLE device(idx INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE);"
                  "CREATE TABLE changelog(seq INTEGER PRIMARY KEY, tbl INTEGER NOT NULL,"
                  " col INTEGER NOT NULL, row BLOB NOT NULL, value, hlc INTEGER NOT NULL,"
                  " prev_hlc INTEGER NOT NULL, prev_dev INTEGER NOT NULL);" FS__SYNC_TABLES_SQL,
                  "creating the replica");
    for (unsigned t = 0; rc == 0 && t < nt; t++) {
        size_t len = 0;
        int bad = append(sql, sizeof sql, &len, "CREATE TABLE \"%s\"(id BLOB PRIMARY KEY NOT NULL",
                         tables[t].name);
        for (unsigned c = 0; c < tables[t].ncolumns; c++)
            bad |= append(sql, sizeof sql, &len, c == 0 ? ", \"%s\" INTEGER NOT NULL DEFAULT 0"
                                                        : ", \"%s\"",
                          tables[t].columns[c].name);
        /* No secondary indexes: each one is another B-tree every write
         * dirties (measured: 0.61 -> 0.49 of raw SQLite for one visit per
         * transaction), and the replica's readers scan. Add one with the
         * query that needs it and a measurement. */
        bad |= append(sql, sizeof sql, &len, ", _ver BLOB NOT NULL) WITHOUT ROWID;");
        if (bad)
            return fs__fail(r, FS_EINVAL, "schema statement too long for table %s",
                            tables[t].name);
        rc = exec(r, sql, "creating the replica");
    }
    return rc;
}

static int prepare(fs_replica *r, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    return rc == SQLITE_OK ? 0 : fs__dbfail(r, rc, "preparing a statement");
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
        int bad = append(sql, sizeof sql, &len, "SELECT ");
        for (unsigned c = 0; c < tb->ncolumns; c++)
            bad |= append(sql, sizeof sql, &len, "\"%s\",", tb->columns[c].name);
        bad |= append(sql, sizeof sql, &len, "_ver FROM \"%s\" WHERE id=?1", tb->name);
        if (bad)
            return fs__fail(r, FS_EINVAL, "statement too long");
        int rc = prepare(r, sql, &r->ts[t].select);
        if (rc != 0)
            return rc;
        len = 0;
        bad = append(sql, sizeof sql, &len, "INSERT INTO \"%s\"(id", tb->name);
        for (unsigned c = 0; c < tb->ncolumns; c++)
            bad |= append(sql, sizeof sql, &len, ",\"%s\"", tb->columns[c].name);
        bad |= append(sql, sizeof sql, &len, ",_ver) VALUES(?1");
        for (unsigned c = 0; c <= tb->ncolumns; c++)
            bad |= append(sql, sizeof sql, &len, ",?%u", c + 2);
        bad |= append(sql, sizeof sql, &len, ") ON CONFLICT(id) DO UPDATE SET ");
        for (unsigned c = 0; c < tb->ncolumns; c++)
            bad |= append(sql, sizeof sql, &len, "\"%s\"=excluded.\"%s\",", tb->columns[c].name,
                          tb->columns[c].name);
        bad |= append(sql, sizeof sql, &len, "_ver=excluded._ver");
        if (bad)
            return fs__fail(r, FS_EINVAL, "statement too long");
        rc = prepare(r, sql, &r->ts[t].upsert);
        if (rc != 0)
            return rc;
        snprintf(sql, sizeof sql, "SELECT deleted FROM \"%s\" WHERE id=?1", tb->name);
        rc = prepare(r, sql, &r->ts[t].exists);
        if (rc != 0)
            return rc;
    }
    int rc = prepare(r,
                     "INSERT INTO changelog(tbl,col,row,value,hlc,prev_hlc,prev_dev)"
                     " VALUES(?1,?2,?3,?4,?5,?6,?7)",
                     &r->log_insert);
    if (rc == 0)
        rc = prepare(r, "UPDATE meta SET v=?1 WHERE k='hlc' AND v<?1", &r->hlc_save);
    if (rc == 0)
        rc = prepare(r, "INSERT INTO device(idx,id) VALUES(?1,?2)", &r->dev_insert);
    if (rc == 0 && r->keep_feed)
        rc = prepare(r, FS__FEED_INSERT_SQL, &r->feed_insert);
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

static int query_u64(fs_replica *r, const char *sql, uint64_t *out)
{
    sqlite3_stmt *st = NULL;
    *out = 0;
    int rc = prepare(r, sql, &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *out = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return (src == SQLITE_ROW || src == SQLITE_DONE) ? 0 : fs__dbfail(r, src, "querying");
}

static int load_meta(fs_replica *r)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(r, "SELECT k, v FROM meta", &st);
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
    if (!have_device || schema != SCHEMA_VERSION)
        return fs__fail(r, FS_EFORMAT, "the replica's metadata is missing or of another version");
    rc = prepare(r, "SELECT idx, id FROM device ORDER BY idx", &st);
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
    /* Checkpoints every 64 MiB of WAL rather than SQLite's 4 MiB: a page
     * written again before the checkpoint is sealed and copied once, and a
     * sync's large batches write the same index and feed pages over and
     * over (push 27-40 % faster in bench_sync). The file is cut back to
     * 16 MiB after a checkpoint, and closing removes it. */
    return exec(r,
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
    *out = r;
    return 0;
}

static int open_failed(fs_replica *r, int rc)
{
    snprintf(open_error, sizeof open_error, "%s", r->errmsg[0] ? r->errmsg : fs_strerror(rc));
    fs_replica_close(r);
    return rc;
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
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return open_failed(r, fs__fail(r, FS_EIO, "cannot create directory %s", dir));
    if (access(dbpath, F_OK) == 0 || access(keypath, F_OK) == 0)
        return open_failed(r, fs__fail(r, FS_EEXIST, "a replica already exists in %s", dir));
    rc = fs_keyfile_create(keypath, pass, passlen, r->opts.kdf, &s);
    if (rc != 0)
        return open_failed(r, fs__fail(r, rc, "cannot create the key file: %s", fs_strerror(rc)));
    rc = open_db(r, dbpath, s, 1);
    fs_secret_free(s);
    if (rc == 0)
        rc = exec(r, "BEGIN IMMEDIATE; COMMIT;", "creating the replica"); /* creates the file */
    if (rc == 0 && chmod(dbpath, 0600) != 0)
        rc = fs__fail(r, FS_EIO, "cannot restrict the permissions of %s", dbpath);
    if (rc == 0)
        rc = exec(r, "BEGIN IMMEDIATE", "creating the replica");
    if (rc == 0) {
        r->guard++;
        rc = create_schema(r);
        r->guard--;
    }
    if (rc == 0 && r->opts.keep_feed) {
        r->keep_feed = 1;
        r->feed_format = FS__FEED_FORMAT;
        rc = exec(r, FS__FEED_TABLE_SQL "INSERT INTO meta(k,v) VALUES('feed',2);",
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
        rc = prepare(r, "INSERT INTO meta(k,v) VALUES('device',?1),('hlc',0),('schema',?2),"
                        "('acked_seq',0),('cursor',0),('identity',?3)",
                     &st);
        if (rc == 0) {
            sqlite3_bind_blob(st, 1, r->device, FS_ID_BYTES, SQLITE_STATIC);
            sqlite3_bind_int(st, 2, SCHEMA_VERSION);
            sqlite3_bind_blob(st, 3, seed, FS_SIGN_SEED_BYTES, SQLITE_STATIC);
            int src = sqlite3_step(st);
            if (src != SQLITE_DONE)
                rc = fs__dbfail(r, src, "creating the replica");
            sqlite3_finalize(st);
        }
    }
    sodium_free(seed);
    if (rc == 0)
        rc = exec(r, "COMMIT", "creating the replica");
    if (rc == 0)
        rc = prepare_guarded_statements(r);
    if (rc == 0)
        rc = load_meta(r);
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
    int rc = exec(r, "BEGIN IMMEDIATE", "converting the feed");
    if (rc == 0)
        rc = fs__feed_upgrade(r);
    if (rc == 0)
        return exec(r, "COMMIT", "converting the feed");
    sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Opens the database of dir with the unwrapped key s: the common part of
 * fs_replica_open and fs_replica_open_secret. Frees r on failure. */
static int open_with_secret(fs_replica **out, fs_replica *r, const char *dbpath, const fs_secret *s)
{
    int rc = open_db(r, dbpath, s, 0);
    if (rc == 0) /* replicas made before the sync bookkeeping existed */
        rc = exec(r, FS__SYNC_TABLES_SQL "INSERT OR IGNORE INTO meta(k,v) VALUES('cursor',0);",
                  "opening the replica");
    if (rc == 0)
        rc = drop_guard_triggers(r);
    if (rc == 0)
        rc = load_meta(r);
    if (rc == 0 && r->keep_feed && r->feed_format != FS__FEED_FORMAT)
        rc = upgrade_feed(r);
    if (rc == 0)
        rc = prepare_guarded_statements(r);
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
    return fs_keyfile_rewrap(keypath, oldpass, oldlen, newpass, newlen, NULL);
}

/* ---- transactions ---- */

int fs__begin(fs_replica *r, int *own)
{
    *own = 0;
    if (r->in_tx)
        return r->tx_failed ? fs__fail(r, FS_ESTATE, "an earlier write in this transaction "
                                                     "failed; roll it back")
                            : 0;
    int rc = exec(r, "BEGIN IMMEDIATE", "cannot start a transaction");
    if (rc == 0)
        *own = 1;
    return rc;
}

/* Saves the clock's mark if a remote clock raised it (local ticks are
 * already in the change log). */
static int save_hlc(fs_replica *r)
{
    if (!r->hlc_unsaved)
        return 0;
    sqlite3_bind_int64(r->hlc_save, 1, (sqlite3_int64)r->hlc);
    int src = sqlite3_step(r->hlc_save);
    sqlite3_reset(r->hlc_save);
    if (src != SQLITE_DONE)
        return fs__dbfail(r, src, "saving the clock");
    r->hlc_unsaved = 0;
    return 0;
}

/* Ends a write: commits a transaction it owns, or marks the caller's
 * explicit transaction failed. */
int fs__end(fs_replica *r, int own, int rc)
{
    if (rc == 0 && own) {
        rc = fs__feed_flush(r);
        r->guard++;
        if (rc == 0)
            rc = save_hlc(r);
        r->guard--;
        if (rc == 0)
            rc = exec(r, "COMMIT", "cannot commit");
    }
    if (rc != 0 && own) {
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
        fs__feed_discard(r);
    }
    if (rc != 0 && !own && r->in_tx)
        r->tx_failed = 1;
    return rc;
}

int fs_begin(fs_replica *r)
{
    if (r->in_tx)
        return fs__fail(r, FS_ESTATE, "a transaction is already open");
    int rc = exec(r, "BEGIN IMMEDIATE", "cannot start a transaction");
    if (rc == 0) {
        r->in_tx = 1;
        r->tx_failed = 0;
    }
    return rc;
}

int fs_commit(fs_replica *r)
{
    if (!r->in_tx)
        return fs__fail(r, FS_ESTATE, "no transaction is open");
    if (r->tx_failed) {
        fs_rollback(r);
        return fs__fail(r, FS_ESTATE, "a write in the transaction failed: rolled back");
    }
    int rc = fs__feed_flush(r);
    r->guard++;
    if (rc == 0)
        rc = save_hlc(r);
    r->guard--;
    if (rc == 0)
        rc = exec(r, "COMMIT", "cannot commit");
    if (rc != 0) {
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
        fs__feed_discard(r);
    }
    r->in_tx = 0;
    r->tx_failed = 0;
    return rc;
}

void fs_rollback(fs_replica *r)
{
    if (r == NULL || !r->in_tx)
        return;
    sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
    fs__feed_discard(r);
    r->in_tx = 0;
    r->tx_failed = 0;
    /* The clock may have advanced past what is stored; that is harmless. */
}

/* ---- device dictionary ---- */

int fs__dev_index(fs_replica *r, const uint8_t id[FS_ID_BYTES], uint32_t *out)
{
    for (uint32_t i = r->ndevs; i > 0; i--) {
        if (memcmp(r->devs[i - 1], id, FS_ID_BYTES) == 0) {
            *out = i;
            return 0;
        }
    }
    if (r->ndevs == r->capdevs) {
        uint32_t cap = r->capdevs ? 2 * r->capdevs : 16;
        void *p = realloc(r->devs, (size_t)cap * sizeof *r->devs);
        if (p == NULL)
            return fs__fail(r, FS_ENOMEM, "out of memory");
        r->devs = p;
        r->capdevs = cap;
    }
    uint32_t idx = r->ndevs + 1;
    sqlite3_bind_int64(r->dev_insert, 1, idx);
    sqlite3_bind_blob(r->dev_insert, 2, id, FS_ID_BYTES, SQLITE_STATIC);
    int src = sqlite3_step(r->dev_insert);
    sqlite3_reset(r->dev_insert);
    if (src != SQLITE_DONE)
        return fs__dbfail(r, src, "recording a device");
    memcpy(r->devs[r->ndevs++], id, FS_ID_BYTES);
    *out = idx;
    return 0;
}

/* Forgets dictionary entries added by a transaction that rolled back. */
static void dev_resync(fs_replica *r)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db, "SELECT count(*) FROM device", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        uint32_t n = (uint32_t)sqlite3_column_int64(st, 0);
        if (n < r->ndevs)
            r->ndevs = n;
    }
    sqlite3_finalize(st);
}

const uint8_t *fs__dev_id(const fs_replica *r, uint32_t idx)
{
    static const uint8_t none[FS_ID_BYTES];
    return (idx == 0 || idx > r->ndevs) ? none : r->devs[idx - 1];
}

/* ---- rows ---- */

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void fs__row_clear(fs__row *row)
{
    for (unsigned c = 0; c < FS__MAX_COLUMNS; c++) {
        sqlite3_value_free(row->old[c]);
        row->old[c] = NULL;
        row->set[c] = NULL;
    }
    row->exists = 0;
    row->dirty = 0;
}

int fs__row_load(fs_replica *r, fs__row *row, unsigned tix, const uint8_t id[FS_ID_BYTES])
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    fs__row_clear(row);
    row->tix = tix;
    row->t = &tables[tix];
    memcpy(row->id, id, FS_ID_BYTES);
    memset(row->hlc, 0, sizeof row->hlc);
    memset(row->dev, 0, sizeof row->dev);
    sqlite3_stmt *st = r->ts[tix].select;
    sqlite3_bind_blob(st, 1, id, FS_ID_BYTES, SQLITE_STATIC);
    int src = sqlite3_step(st);
    int rc = 0;
    if (src == SQLITE_ROW) {
        unsigned nc = row->t->ncolumns;
        row->exists = 1;
        for (unsigned c = 0; c < nc && rc == 0; c++) {
            if (sqlite3_column_type(st, (int)c) != SQLITE_NULL) {
                row->old[c] = sqlite3_value_dup(sqlite3_column_value(st, (int)c));
                if (row->old[c] == NULL)
                    rc = fs__fail(r, FS_ENOMEM, "out of memory");
            }
        }
        const uint8_t *ver = sqlite3_column_blob(st, (int)nc);
        size_t vlen = (size_t)sqlite3_column_bytes(st, (int)nc);
        for (unsigned c = 0; c < nc && (c + 1) * FS__VER_BYTES <= vlen; c++) {
            row->hlc[c] = get_le(ver + c * FS__VER_BYTES, 8);
            row->dev[c] = (uint32_t)get_le(ver + c * FS__VER_BYTES + 8, 4);
        }
    } else if (src != SQLITE_DONE) {
        rc = fs__dbfail(r, src, "reading a row");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int fs__row_store(fs_replica *r, fs__row *row)
{
    uint8_t ver[FS__MAX_COLUMNS * FS__VER_BYTES];
    unsigned nc = row->t->ncolumns;
    sqlite3_stmt *st = r->ts[row->tix].upsert;
    sqlite3_bind_blob(st, 1, row->id, FS_ID_BYTES, SQLITE_STATIC);
    for (unsigned c = 0; c < nc; c++) {
        if (row->set[c] != NULL && !(c == 0 && row->set[c]->type == FS_NULL))
            fs__bind_value(st, (int)c + 2, row->set[c]);
        else if (row->set[c] == NULL && row->old[c] != NULL)
            sqlite3_bind_value(st, (int)c + 2, row->old[c]);
        else if (c == 0)
            sqlite3_bind_int(st, 2, 0); /* "deleted" is never NULL */
        else
            sqlite3_bind_null(st, (int)c + 2);
        put_le(ver + c * FS__VER_BYTES, row->hlc[c], 8);
        put_le(ver + c * FS__VER_BYTES + 8, row->dev[c], 4);
    }
    sqlite3_bind_blob(st, (int)nc + 2, ver, (int)(nc * FS__VER_BYTES), SQLITE_STATIC);
    r->guard++;
    int src = sqlite3_step(st);
    r->guard--;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (src != SQLITE_DONE)
        return fs__dbfail(r, src, "writing a row");
    row->exists = 1;
    row->dirty = 0;
    return 0;
}

int fs__local_write(fs_replica *r, fs__row *row, const unsigned *cols, const fs_value *vals,
                    size_t n)
{
    uint64_t hlc = fs__hlc_tick(r);
    sqlite3_stmt *st = r->log_insert;
    for (size_t k = 0; k < n; k++) {
        unsigned c = cols[k];
        sqlite3_bind_int(st, 1, (int)row->tix);
        sqlite3_bind_int(st, 2, (int)c);
        sqlite3_bind_blob(st, 3, row->id, FS_ID_BYTES, SQLITE_STATIC);
        fs__bind_value(st, 4, &vals[k]);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)hlc);
        sqlite3_bind_int64(st, 6, (sqlite3_int64)row->hlc[c]);
        sqlite3_bind_int64(st, 7, row->dev[c]);
        r->guard++;
        int src = sqlite3_step(st);
        r->guard--;
        sqlite3_reset(st);
        if (src != SQLITE_DONE)
            return fs__dbfail(r, src, "writing the change log");
        int rc = fs__feed_append(r, row->tix, c, row->id, &vals[k], hlc, r->device_idx,
                                 row->hlc[c], row->dev[c]);
        if (rc != 0)
            return rc;
        row->set[c] = &vals[k];
        row->hlc[c] = hlc;
        row->dev[c] = r->device_idx;
    }
    sqlite3_clear_bindings(st);
    int rc = fs__feed_flush(r);
    return rc != 0 ? rc : fs__row_store(r, row);
}

/* Validates the cells of a local write and maps them to column indexes. */
static int prepare_cells(fs_replica *r, const fs_table *t, const fs_cell *cells, size_t n,
                         unsigned *cols, fs_value *vals)
{
    if (n == 0 || n >= t->ncolumns)
        return fs__fail(r, FS_EINVAL, "%s: %zu columns given", t->name, n);
    for (size_t k = 0; k < n; k++) {
        int c = fs_schema_column_index(t, cells[k].column);
        if (c <= 0)
            return fs__fail(r, FS_ESCHEMA, "%s has no column \"%s\"", t->name,
                            cells[k].column ? cells[k].column : "(null)");
        for (size_t j = 0; j < k; j++)
            if (cols[j] == (unsigned)c)
                return fs__fail(r, FS_EINVAL, "%s.%s given twice", t->name, cells[k].column);
        int rc = fs__value_check(r, t, (unsigned)c, &cells[k].value);
        if (rc != 0)
            return rc;
        const fs_column *col = &t->columns[c];
        const fs_value *v = &cells[k].value;
        if ((col->flags & FS_COL_REQUIRED) &&
            (v->type == FS_NULL || ((v->type == FS_TEXT || v->type == FS_BLOB) && v->n == 0)))
            return fs__fail(r, FS_EREQUIRED, "%s.%s is required and may not be empty", t->name,
                            col->name);
        if (col->type == FS_COL_ID && v->type == FS_BLOB && col->ref != NULL) {
            int e = fs_exists(r, col->ref, v->p);
            if (e < 0)
                return e;
            if (e == 0)
                return fs__fail(r, FS_ENOTFOUND, "%s.%s: no %s with that id", t->name, col->name,
                                col->ref);
        }
        cols[k] = (unsigned)c;
        vals[k] = *v;
    }
    return 0;
}

static int table_for(fs_replica *r, const char *name, int internal_ok, const fs_table **t)
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

int fs_insert(fs_replica *r, const char *table, const fs_cell *cells, size_t ncells,
              uint8_t out_id[FS_ID_BYTES])
{
    const fs_table *t = NULL;
    unsigned cols[FS__MAX_COLUMNS];
    fs_value vals[FS__MAX_COLUMNS];
    fs__row row;
    int own = 0;
    memset(out_id, 0, FS_ID_BYTES);
    memset(&row, 0, sizeof row);
    int tix = table_for(r, table, 0, &t);
    if (tix < 0)
        return tix;
    int rc = prepare_cells(r, t, cells, ncells, cols, vals);
    for (unsigned c = 1; rc == 0 && c < t->ncolumns; c++) {
        if (!(t->columns[c].flags & FS_COL_REQUIRED))
            continue;
        size_t k = 0;
        while (k < ncells && cols[k] != c)
            k++;
        if (k == ncells)
            rc = fs__fail(r, FS_EREQUIRED, "%s.%s is required", t->name, t->columns[c].name);
    }
    if (rc != 0)
        return rc;
    rc = fs__begin(r, &own);
    if (rc != 0)
        return rc;
    fs__new_row_id(r, row.id);
    row.tix = (unsigned)tix;
    row.t = t;
    rc = fs__local_write(r, &row, cols, vals, ncells);
    fs__row_clear(&row);
    rc = fs__end(r, own, rc);
    if (rc == 0)
        memcpy(out_id, row.id, FS_ID_BYTES);
    else if (own)
        dev_resync(r);
    return rc;
}

/* A new row's id: the clock's milliseconds (48 bits, big-endian), then 80
 * random bits. Ids that grow with time land at the right edge of every
 * B-tree keyed by them (the table, the server's scope), so a commit dirties
 * a few pages instead of one random leaf per row (bench_sync: a fresh
 * manager's pull went from 0.22 to 0.94 of raw SQLite); 80 random bits still
 * make an id unguessable and two devices' ids distinct. */
void fs__new_row_id(const fs_replica *r, uint8_t id[FS_ID_BYTES])
{
    uint64_t ms = fs__now_ms(r);
    for (int i = 0; i < FS_ID_CLOCK_BYTES; i++)
        id[i] = (uint8_t)(ms >> (8 * (FS_ID_CLOCK_BYTES - 1 - i)));
    randombytes_buf(id + FS_ID_CLOCK_BYTES, FS_ID_BYTES - FS_ID_CLOCK_BYTES);
}

static int modify(fs_replica *r, const char *table, const uint8_t id[FS_ID_BYTES],
                  const fs_cell *cells, size_t ncells, int is_delete)
{
    const fs_table *t = NULL;
    unsigned cols[FS__MAX_COLUMNS];
    fs_value vals[FS__MAX_COLUMNS];
    fs__row row;
    int own = 0;
    memset(&row, 0, sizeof row);
    int tix = table_for(r, table, 0, &t);
    if (tix < 0)
        return tix;
    int rc = 0;
    if (is_delete) {
        cols[0] = 0;
        vals[0] = fs_int(1);
        ncells = 1;
    } else {
        rc = prepare_cells(r, t, cells, ncells, cols, vals);
    }
    if (rc == 0)
        rc = fs__begin(r, &own);
    if (rc != 0)
        return rc;
    rc = fs__row_load(r, &row, (unsigned)tix, id);
    if (rc == 0 && (!row.exists || (row.old[0] && sqlite3_value_int(row.old[0]) != 0))) {
        char hex[33];
        fs_id_to_hex(id, hex);
        rc = fs__fail(r, FS_ENOTFOUND, "no %s with id %s", t->name, hex);
    }
    if (rc == 0)
        rc = fs__local_write(r, &row, cols, vals, ncells);
    fs__row_clear(&row);
    return fs__end(r, own, rc);
}

int fs_update(fs_replica *r, const char *table, const uint8_t id[FS_ID_BYTES],
              const fs_cell *cells, size_t ncells)
{
    return modify(r, table, id, cells, ncells, 0);
}

int fs_delete(fs_replica *r, const char *table, const uint8_t id[FS_ID_BYTES])
{
    return modify(r, table, id, NULL, 0, 1);
}

/* ---- reads ---- */

int fs_exists(fs_replica *r, const char *table, const uint8_t id[FS_ID_BYTES])
{
    const fs_table *t = NULL;
    int tix = table_for(r, table, 1, &t);
    if (tix < 0)
        return tix;
    sqlite3_stmt *st = r->ts[tix].exists;
    sqlite3_bind_blob(st, 1, id, FS_ID_BYTES, SQLITE_STATIC);
    int src = sqlite3_step(st);
    int rc = src == SQLITE_ROW ? sqlite3_column_int(st, 0) == 0 : 0;
    sqlite3_reset(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = fs__dbfail(r, src, "looking up a row");
    return rc;
}

int fs_resolve_id(fs_replica *r, const char *table, const char *hex, uint8_t out[FS_ID_BYTES])
{
    const fs_table *t = NULL;
    memset(out, 0, FS_ID_BYTES);
    int tix = table_for(r, table, 1, &t);
    if (tix < 0)
        return tix;
    size_t n = hex ? strlen(hex) : 0;
    if (n < 6 || n > 2 * FS_ID_BYTES || strspn(hex, "0123456789abcdefABCDEF") != n)
        return fs__fail(r, FS_EINVAL, "an id is 6 to 32 hexadecimal digits");
    /* The text form does not sort as the ids do (fs_id_to_hex), so a prefix
     * is found by reading the table's ids: a device's tables are small, and
     * this is one command's lookup. */
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT id FROM \"%s\" WHERE deleted=0", t->name);
    sqlite3_stmt *st = NULL;
    int rc = prepare(r, sql, &st);
    if (rc != 0)
        return rc;
    int found = 0, src;
    while (found < 2 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        char text[2 * FS_ID_BYTES + 1];
        if (sqlite3_column_bytes(st, 0) != FS_ID_BYTES)
            continue;
        const uint8_t *id = sqlite3_column_blob(st, 0);
        fs_id_to_hex(id, text);
        if (strncasecmp(text, hex, n) == 0 && found++ == 0)
            memcpy(out, id, FS_ID_BYTES);
    }
    if (found == 2)
        src = SQLITE_DONE;
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return fs__dbfail(r, src, "looking up an id");
    if (found == 0)
        return fs__fail(r, FS_ENOTFOUND, "no %s with an id starting %s", t->name, hex);
    if (found > 1) {
        memset(out, 0, FS_ID_BYTES);
        return fs__fail(r, FS_EEXIST, "more than one %s has an id starting %s", t->name, hex);
    }
    return 0;
}

struct fs_rows {
    fs_replica *r;
    const fs_table *t;
    sqlite3_stmt *st;
};

int fs_rows_open(fs_rows **out, fs_replica *r, const char *table, const char *where_column,
                 const fs_value *equals, const char *order_by)
{
    const fs_table *t = NULL;
    *out = NULL;
    int tix = table_for(r, table, 1, &t);
    if (tix < 0)
        return tix;
    int wc = where_column ? fs_schema_column_index(t, where_column) : -1;
    int oc = order_by ? fs_schema_column_index(t, order_by) : -1;
    if ((where_column && (wc < 0 || equals == NULL)) || (order_by && oc < 0))
        return fs__fail(r, FS_ESCHEMA, "%s has no column \"%s\"", t->name,
                        (where_column && wc < 0) ? where_column : order_by);
    char sql[2048];
    size_t len = 0;
    int bad = append(sql, sizeof sql, &len, "SELECT id");
    for (unsigned c = 0; c < t->ncolumns; c++)
        bad |= append(sql, sizeof sql, &len, ",\"%s\"", t->columns[c].name);
    bad |= append(sql, sizeof sql, &len, " FROM \"%s\" WHERE deleted=0", t->name);
    if (wc >= 0)
        bad |= append(sql, sizeof sql, &len, " AND \"%s\"=?1", t->columns[wc].name);
    if (oc >= 0)
        bad |= append(sql, sizeof sql, &len, " ORDER BY \"%s\", id", t->columns[oc].name);
    else
        bad |= append(sql, sizeof sql, &len, " ORDER BY id");
    if (bad)
        return fs__fail(r, FS_EINVAL, "query too long");
    fs_rows *it = calloc(1, sizeof *it);
    if (it == NULL)
        return fs__fail(r, FS_ENOMEM, "out of memory");
    it->r = r;
    it->t = t;
    int rc = prepare(r, sql, &it->st);
    if (rc == 0 && wc >= 0 && fs__bind_value(it->st, 1, equals) != SQLITE_OK)
        rc = fs__dbfail(r, sqlite3_errcode(r->db), "binding a query");
    if (rc != 0) {
        fs_rows_close(it);
        return rc;
    }
    *out = it;
    return 0;
}

int fs_rows_next(fs_rows *it)
{
    int src = sqlite3_step(it->st);
    if (src == SQLITE_ROW)
        return 1;
    if (src == SQLITE_DONE)
        return 0;
    return fs__dbfail(it->r, src, "reading rows");
}

const uint8_t *fs_rows_id(const fs_rows *it)
{
    return sqlite3_column_blob(it->st, 0);
}

int fs_rows_get(const fs_rows *it, const char *column, fs_value *out)
{
    int c = fs_schema_column_index(it->t, column);
    if (c < 0) {
        memset(out, 0, sizeof *out);
        return fs__fail(it->r, FS_ESCHEMA, "%s has no column \"%s\"", it->t->name,
                        column ? column : "(null)");
    }
    fs__value_from_sqlite(sqlite3_column_value(it->st, c + 1), out);
    return 0;
}

void fs_rows_close(fs_rows *it)
{
    if (it == NULL)
        return;
    sqlite3_finalize(it->st);
    free(it);
}

/* ---- change log ---- */

void fs_changeset_free(fs_changeset *cs)
{
    if (cs == NULL)
        return;
    free(cs->changes); /* one allocation: changes, then their bytes */
    free(cs->groups);
    free(cs);
}

/* Reads change rows, (seq, tbl, col, row, value, hlc, dev, prev_hlc,
 * prev_dev) with devices as dictionary indexes, from a query taking the
 * bounds ?1 (after) and ?2 (limit) and ?3 (this device's index). Two passes:
 * size, then fill one allocation. */
int fs__read_changes(fs_replica *r, const char *sql, uint64_t after_seq, size_t max,
                     fs_changeset **out)
{
    *out = NULL;
    if (max == 0)
        return fs__fail(r, FS_EINVAL, "max must be positive");
    sqlite3_stmt *st = NULL;
    int rc = prepare(r, sql, &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)after_seq);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)(max > INT64_MAX ? INT64_MAX : max));
    sqlite3_bind_int64(st, 3, r->device_idx);
    size_t count = 0, bytes = 0;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        count++;
        bytes += (size_t)sqlite3_column_bytes(st, 4) + 1;
    }
    if (src != SQLITE_DONE) {
        sqlite3_finalize(st);
        return fs__dbfail(r, src, "reading changes");
    }
    sqlite3_reset(st);
    fs_changeset *cs = calloc(1, sizeof *cs);
    char *mem = malloc(count * sizeof(fs_change) + bytes + 1);
    if (cs == NULL || mem == NULL) {
        free(cs);
        free(mem);
        sqlite3_finalize(st);
        return fs__fail(r, FS_ENOMEM, "out of memory");
    }
    cs->changes = (fs_change *)(void *)mem;
    char *data = mem + count * sizeof(fs_change);
    size_t i = 0;
    while (i < count && (src = sqlite3_step(st)) == SQLITE_ROW) {
        fs_change *ch = &cs->changes[i++];
        memset(ch, 0, sizeof *ch);
        uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
        if (cs->first_seq == 0)
            cs->first_seq = seq;
        cs->last_seq = seq;
        ch->table = (uint16_t)sqlite3_column_int(st, 1);
        ch->column = (uint16_t)sqlite3_column_int(st, 2);
        if (sqlite3_column_bytes(st, 3) == FS_ID_BYTES)
            memcpy(ch->row, sqlite3_column_blob(st, 3), FS_ID_BYTES);
        fs__value_from_sqlite(sqlite3_column_value(st, 4), &ch->value);
        if (ch->value.type == FS_TEXT || ch->value.type == FS_BLOB) {
            memcpy(data, ch->value.p, ch->value.n);
            data[ch->value.n] = '\0';
            ch->value.p = data;
            data += ch->value.n + 1;
        }
        ch->version.hlc = (uint64_t)sqlite3_column_int64(st, 5);
        memcpy(ch->version.device, fs__dev_id(r, (uint32_t)sqlite3_column_int64(st, 6)),
               FS_ID_BYTES);
        ch->prev.hlc = (uint64_t)sqlite3_column_int64(st, 7);
        memcpy(ch->prev.device, fs__dev_id(r, (uint32_t)sqlite3_column_int64(st, 8)),
               FS_ID_BYTES);
    }
    sqlite3_finalize(st);
    cs->count = i;
    *out = cs;
    return 0;
}

int fs_changes_since(fs_replica *r, uint64_t after_seq, size_t max, fs_changeset **out)
{
    /* The change log holds this device's writes only: the writer is ?3. */
    return fs__read_changes(r,
                            "SELECT seq,tbl,col,row,value,hlc,?3,prev_hlc,prev_dev FROM changelog"
                            " WHERE seq>?1 ORDER BY seq LIMIT ?2",
                            after_seq, max, out);
}

int fs_last_seq(fs_replica *r, uint64_t *out)
{
    return query_u64(r, "SELECT coalesce(max(seq),0) FROM changelog", out);
}

int fs__query_u64(fs_replica *r, const char *sql, uint64_t *out)
{
    return query_u64(r, sql, out);
}
