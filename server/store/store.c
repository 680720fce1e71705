/*
 * The SQLite backend of the server store: opening, closing, the store's
 * tables, its statement cache and error helpers, and its table of
 * operations (fieldsync/store.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store_int.h"

int sq__fail(sq_store *s, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

int sq__dbfail(sq_store *s, int src, const char *what)
{
    return sq__fail(s, FS_EDB, "%s: %s", what, sqlite3_errstr(src));
}

const char *sq_errmsg(const fs_store *base)
{
    const sq_store *s = (const sq_store *)base;
    return s ? s->errmsg : fs_replica_errmsg(NULL);
}

fs_replica *sq_replica(fs_store *base)
{
    sq_store *s = (sq_store *)base;
    return s->r;
}

int fs_store_check_passphrase(const char *dir, const char *pass, size_t passlen)
{
    char keypath[4200];
    fs_secret *key = NULL;
    int n = snprintf(keypath, sizeof keypath, "%s/replica.key", dir);
    if (n < 0 || (size_t)n >= sizeof keypath)
        return FS_EINVAL;
    int rc = fs_keyfile_unlock(keypath, pass, passlen, &key);
    fs_secret_free(key);
    return rc;
}

void sq_set_lease(fs_store *base, uint64_t ms)
{
    sq_store *s = (sq_store *)base;
    s->lease_ms = ms;
}

uint64_t sq_lease(const fs_store *base)
{
    const sq_store *s = (const sq_store *)base;
    return s->lease_ms;
}

static int db_exec(sq_store *s, const char *sql)
{
    int src = sqlite3_exec(fs_replica_db(s->r), sql, NULL, NULL, NULL);
    return src == SQLITE_OK ? 0 : sq__dbfail(s, src, "store");
}

static const char tables_sql[] =
    "CREATE TABLE IF NOT EXISTS users(name TEXT PRIMARY KEY, role INTEGER NOT NULL,"
    " team TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS devices(pk BLOB PRIMARY KEY, id BLOB NOT NULL UNIQUE,"
    " user TEXT NOT NULL, name TEXT, revoked INTEGER NOT NULL DEFAULT 0,"
    " acked_seq INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS scope(tbl INTEGER NOT NULL, row BLOB NOT NULL, owner TEXT,"
    " ptbl INTEGER, prow BLOB, PRIMARY KEY(tbl, row)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS purges(seq INTEGER PRIMARY KEY, user TEXT NOT NULL,"
    " tbl INTEGER NOT NULL, row BLOB NOT NULL, feed_seq INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS purges_user ON purges(user, feed_seq);"
    "CREATE TABLE IF NOT EXISTS purge_told(pk BLOB NOT NULL, purge INTEGER NOT NULL,"
    " local_seq INTEGER NOT NULL, PRIMARY KEY(pk, purge)) WITHOUT ROWID;"
    /* what the server had acknowledged of the device when it told it (a
     * table of its own, so a store made before it gains it on open; a
     * telling made before it has none and is never voided, push.c) */
    "CREATE TABLE IF NOT EXISTS purge_told_acked(pk BLOB NOT NULL, purge INTEGER NOT NULL,"
    " acked_seq INTEGER NOT NULL, PRIMARY KEY(pk, purge)) WITHOUT ROWID;"
    /* each new record refused PARENT or LOST: the device's local sequence
     * it was first pushed at (issue 24: made before a telling, push.c) */
    "CREATE TABLE IF NOT EXISTS refused_new(pk BLOB NOT NULL, tbl INTEGER NOT NULL,"
    " row BLOB NOT NULL, local_seq INTEGER NOT NULL, PRIMARY KEY(pk, tbl, row)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS passwords(user TEXT PRIMARY KEY, hash TEXT NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS disabled_users(name TEXT PRIMARY KEY, at_ms INTEGER NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS device_sync(pk BLOB PRIMARY KEY, last_seen_ms INTEGER,"
    " lease_until_ms INTEGER, local_seq INTEGER, oldest_pending_ms INTEGER) WITHOUT ROWID;"
    /* writes accepted with the server's clock (issue 23): told again when
     * their batch is pushed again after its ACK was lost */
    "CREATE TABLE IF NOT EXISTS restamped(pk BLOB NOT NULL, sent INTEGER NOT NULL,"
    " given INTEGER NOT NULL, PRIMARY KEY(pk, sent)) WITHOUT ROWID;"
    /* the feed's epoch (issue 25.2): one row, made at creation (or at the
     * first open by a build that keeps one) and again by a restore */
    "CREATE TABLE IF NOT EXISTS feed_epoch(one INTEGER PRIMARY KEY CHECK(one=1),"
    " epoch BLOB NOT NULL);"
    /* the clock of the write at each device's acked_seq (issue 25.3): a
     * table of its own, so a store made before it gains it on open */
    "CREATE TABLE IF NOT EXISTS device_tip(pk BLOB PRIMARY KEY, hlc INTEGER NOT NULL,"
    " row BLOB NOT NULL) WITHOUT ROWID;"
    /* each device's own clock as its last PULL said it (issue 23): device
     * minus server, and when */
    "CREATE TABLE IF NOT EXISTS device_clock(pk BLOB PRIMARY KEY, offset_ms INTEGER NOT NULL,"
    " at_ms INTEGER NOT NULL) WITHOUT ROWID;"
    /* the conflict records about a row, for a hand-over's refeed (the ones
     * the server found itself are in no scope row) */
    "CREATE INDEX IF NOT EXISTS conflict_about ON conflict(tbl, row);"
    /* the feed's scope index (issue 21.1, feedscope.c): a store made
     * before it gains it here and is indexed whole on open */
    "CREATE TABLE IF NOT EXISTS feed_scope(seq INTEGER PRIMARY KEY, owner TEXT NOT NULL,"
    " team TEXT NOT NULL, roster INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS feed_scope_owner ON feed_scope(owner, seq);"
    "CREATE INDEX IF NOT EXISTS feed_scope_team ON feed_scope(team, seq);"
    "CREATE INDEX IF NOT EXISTS feed_scope_roster_team ON feed_scope(team, seq) WHERE roster=1;"
    "CREATE INDEX IF NOT EXISTS feed_scope_roster ON feed_scope(seq) WHERE roster=1;"
    /* a row's feed entries, for a hand-over's retag (sq__feed_scope_retag_row) */
    "CREATE INDEX IF NOT EXISTS feed_row ON feed(tbl, row);";

/* Writes a fresh random epoch; with replace 0 only when there is none. */
static int put_epoch(sq_store *s, int replace)
{
    uint8_t epoch[16];
    randombytes_buf(epoch, sizeof epoch);
    return sq__run(s,
                   replace ? "INSERT OR REPLACE INTO feed_epoch(one, epoch) VALUES(1, ?1)"
                           : "INSERT OR IGNORE INTO feed_epoch(one, epoch) VALUES(1, ?1)",
                   NULL, "b", epoch, (int)sizeof epoch);
}

int sq_new_epoch(fs_store *base)
{
    return put_epoch((sq_store *)base, 1);
}

int sq_feed_state(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], uint8_t epoch[16],
                  uint64_t *dev_acked)
{
    sq_store *s = (sq_store *)base;
    memset(epoch, 0, 16);
    *dev_acked = 0;
    sq_device d;
    int rc = sq__device_get(s, pk, &d);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = NULL;
    rc = sq__stmt(s, "SELECT epoch FROM feed_epoch WHERE one=1", &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 16)
        memcpy(epoch, sqlite3_column_blob(st, 0), 16);
    else
        rc = src == SQLITE_ROW || src == SQLITE_DONE ? sq__fail(s, FS_EFORMAT, "the feed has no epoch")
                                                     : sq__dbfail(s, src, "store");
    sq__done(s, st);
    if (rc == 0)
        *dev_acked = d.acked;
    return rc;
}

int sq_backup(fs_store *base, const char *path)
{
    sq_store *s = (sq_store *)base;
    int rc = fs_replica_backup(s->r, path);
    return rc != 0 ? sq__fail(s, rc, "%s", fs_replica_errmsg(s->r)) : 0;
}

int sq_feed_tag(fs_store *base, uint64_t seq, uint64_t *tag)
{
    sq_store *s = (sq_store *)base;
    int rc = fs_feed_entry_tag(s->r, seq, tag);
    return rc != 0 ? sq__fail(s, rc, "%s", fs_replica_errmsg(s->r)) : 0;
}

/* Opens the audit log with a key of its own, derived from the server's
 * identity seed (kept in the encrypted store). */
static int open_audit(sq_store *s)
{
    fs_identity *id = NULL;
    int rc = fs_replica_identity(s->r, &id);
    if (rc != 0)
        return sq__fail(s, rc, "the store has no identity");
    unsigned char *key = sodium_malloc(FS_AUDIT_KEY_BYTES);
    if (key == NULL) {
        fs_identity_free(id);
        return sq__fail(s, FS_ENOMEM, "out of memory");
    }
    static const char label[] = "fieldsync/1 audit key";
    crypto_generichash(key, FS_AUDIT_KEY_BYTES, (const unsigned char *)label, sizeof label - 1,
                       id->sk, FS_SIGN_SEED_BYTES); /* the seed is sk's first half */
    fs_identity_free(id);
    rc = fs_audit_open(&s->audit, fs_replica_db(s->r), key);
    sodium_free(key);
    return rc != 0 ? sq__fail(s, rc, "cannot open the audit log") : 0;
}

fs_audit *sq_audit(fs_store *base)
{
    sq_store *s = (sq_store *)base;
    return s->audit;
}

/* A device in the audit log: the first 8 bytes of its id, in hex. */
void sq__fingerprint(const uint8_t *pk, char out[17])
{
    uint8_t id[FS_ID_BYTES];
    char hex[33];
    fs_device_id_from_pk(pk, id);
    fs_id_to_hex(id, hex);
    memcpy(out, hex, 16);
    out[16] = '\0';
}

static const fs_store_ops sqlite_ops;

static int store_new(fs_store **out, fs_replica *r)
{
    sq_store *s = calloc(1, sizeof *s);
    if (s != NULL) {
        s->base.ops = &sqlite_ops;
        s->lease_ms = FS_LEASE_DEFAULT_MS;
    }
    if (s == NULL) {
        fs_replica_close(r);
        return FS_ENOMEM;
    }
    s->r = r;
    /* A push is acknowledged once committed, and the device then never sends
     * it again: the commit must survive a power cut, not only a crash. In
     * WAL mode NORMAL syncs only at checkpoints; FULL syncs the WAL at every
     * commit (one per push batch of up to FS_SYNC_BATCH changes). Devices
     * keep NORMAL (see docs/DESIGN.md, Durability). A checkpoint runs in
     * the commit that crosses its mark and holds every device's answer
     * meanwhile: every 16 MiB of WAL rather than the replica's 64 (1,000
     * devices' ACK p99 74-109 ms at 32-64 MiB, 54 ms at 16, and no change
     * to bench_sync's push beyond its noise; docs/DESIGN.md, Group commit). */
    int rc = db_exec(s, "PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=4096");
    if (rc == 0)
        rc = db_exec(s, tables_sql);
    if (rc == 0)
        rc = sq__enroll_table(s); /* every node has it before a log entry fills it */
    if (rc == 0)
        rc = put_epoch(s, 0);
    if (rc == 0)
        rc = open_audit(s);
    if (rc == 0)
        rc = sq__roster_catch_up(s); /* a store of schema 3, upgraded */
    if (rc == 0)
        rc = sq__feed_scope_catch_up(s); /* a store made before the index */
    if (rc != 0) {
        sq_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}

int fs_store_create(fs_store **out, const char *dir, const char *pass, size_t passlen,
                    const fs_replica_opts *opts)
{
    fs_replica_opts o = opts ? *opts : (fs_replica_opts){0};
    fs_replica *r = NULL;
    *out = NULL;
    o.keep_feed = 1;
    int rc = fs_replica_create(&r, dir, pass, passlen, &o);
    return rc != 0 ? rc : store_new(out, r);
}

int fs_store_open(fs_store **out, const char *dir, const char *pass, size_t passlen,
                  const fs_replica_opts *opts)
{
    fs_replica *r = NULL;
    *out = NULL;
    int rc = fs_replica_open(&r, dir, pass, passlen, opts);
    if (rc != 0)
        return rc;
    uint64_t last;
    if (fs_feed_last(r, &last) != 0) {
        fs_replica_close(r);
        return FS_EFORMAT; /* a device's replica, not a store */
    }
    return store_new(out, r);
}

void sq_close(fs_store *base)
{
    sq_store *s = (sq_store *)base;
    if (s == NULL)
        return;
    (void)sq_auth_flush(base); /* the minutes' counts not yet written */
    fs_audit_close(s->audit);
    fs_replica_close(s->r);
    free(s);
}

int sq__name_ok(const char *n)
{
    size_t len = n ? strlen(n) : 0;
    if (len == 0 || len > MAX_NAME || !fs_utf8_valid(n, len))
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)n[i] < 0x20 || n[i] == 0x7F)
            return 0;
    return 1;
}

/* Runs a one-statement write with up to 6 bound values given as text or
 * blobs (NULL text binds NULL). */
int sq__stmt(sq_store *s, const char *sql, sqlite3_stmt **out)
{
    int rc = fs_replica_stmt(s->r, sql, out);
    return rc != 0 ? sq__fail(s, rc, "store: %s", fs_replica_errmsg(s->r)) : 0;
}

void sq__done(sq_store *s, sqlite3_stmt *st)
{
    fs_replica_stmt_done(s->r, st);
}

int sq__run(sq_store *s, const char *sql, int *changes, const char *fmt, ...)
{
    sqlite3 *db = fs_replica_db(s->r);
    sqlite3_stmt *st = NULL;
    int rc = sq__stmt(s, sql, &st);
    if (rc != 0)
        return rc;
    int src;
    va_list ap;
    va_start(ap, fmt);
    for (int i = 0; fmt[i]; i++) {
        if (fmt[i] == 't') {
            const char *t = va_arg(ap, const char *);
            sqlite3_bind_text(st, i + 1, t, -1, SQLITE_TRANSIENT);
        } else if (fmt[i] == 'b') {
            const void *p = va_arg(ap, const void *);
            int n = va_arg(ap, int);
            sqlite3_bind_blob(st, i + 1, p, n, SQLITE_TRANSIENT);
        } else {
            sqlite3_bind_int64(st, i + 1, va_arg(ap, long long));
        }
    }
    va_end(ap);
    src = sqlite3_step(st);
    if (changes != NULL)
        *changes = sqlite3_changes(db);
    sq__done(s, st);
    if ((src & 0xFF) == SQLITE_CONSTRAINT) /* extended codes are on */
        return FS_EEXIST;
    return src == SQLITE_DONE ? 0 : sq__dbfail(s, src, "store");
}

uint64_t sq_now_ms(fs_store *base)
{
    return fs_replica_now_ms(((sq_store *)base)->r);
}

int sq_feed_head(fs_store *base, uint64_t *seq)
{
    return fs_feed_last(((sq_store *)base)->r, seq);
}

/* One node, nothing to catch up with. */
static int sq_refresh(fs_store *base)
{
    (void)base;
    return 0;
}

static int sq_notify_fd(fs_store *base)
{
    (void)base;
    return -1;
}

/* Group commit (fs_store_group_begin): the replica's outer transaction,
 * in which every op's own transaction is a savepoint. */
static int sq_group_begin(fs_store *base)
{
    sq_store *s = (sq_store *)base;
    int rc = fs_replica_outer_begin(s->r);
    return rc != 0 ? sq__fail(s, rc, "store: %s", fs_replica_errmsg(s->r)) : 0;
}

static int sq_group_end(fs_store *base, int commit)
{
    sq_store *s = (sq_store *)base;
    if (!fs_replica_in_outer(s->r))
        return sq__fail(s, FS_ESTATE, "store: no group of writes is open");
    if (!commit) {
        fs_replica_outer_rollback(s->r);
        return 0;
    }
    int rc = fs_replica_outer_commit(s->r);
    return rc != 0 ? sq__fail(s, rc, "store: %s", fs_replica_errmsg(s->r)) : 0;
}

static const fs_store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .errmsg = sq_errmsg,
    .replica = sq_replica,
    .now_ms = sq_now_ms,
    .feed_head = sq_feed_head,
    .feed_state = sq_feed_state,
    .feed_tag = sq_feed_tag,
    .new_epoch = sq_new_epoch,
    .compact_step = sq_compact_step,
    .feed_horizon = sq_feed_horizon,
    .feed_tag_held = sq_feed_tag_held,
    .horizon_before = sq_horizon_before,
    .backup = sq_backup,
    .set_lease = sq_set_lease,
    .lease = sq_lease,
    .refresh = sq_refresh,
    .notify_fd = sq_notify_fd,
    .group_begin = sq_group_begin,
    .group_end = sq_group_end,
    .user_add = sq_user_add,
    .users = sq_users,
    .set_password = sq_set_password,
    .user_disable = sq_user_disable,
    .user_move = sq_user_move,
    .team_set = sq_team_set,
    .user_stamp = sq_user_stamp,
    .login = sq_login,
    .login_lookup = sq_login_lookup,
    .device_add = sq_device_add,
    .device_check = sq_device_check,
    .device_user = sq_device_user,
    .device_revoke = sq_device_revoke,
    .device_pushed_out = sq_device_pushed_out,
    .devices = sq_devices,
    .device_tip = sq_device_tip,
    .device_fork = sq_device_fork,
    .device_seen = sq_device_seen,
    .device_sync = sq_device_sync,
    .device_reported = sq_device_reported,
    .device_clock_note = sq_device_clock_note,
    .device_exports = sq_device_exports,
    .device_clock = sq_device_clock,
    .device_refusals = sq_device_refusals,
    .note_wipe = sq_note_wipe,
    .note_refusal = sq_note_refusal,
    .set_source = sq_set_source,
    .auth_flush = sq_auth_flush,
    .note_login_failure = sq_note_login_failure,
    .enroll_code_create = sq_enroll_code_create,
    .enroll_code_redeem = sq_enroll_code_redeem,
    .enroll_code_team = sq_enroll_code_team,
    .owner = sq_owner,
    .push = sq_push,
    .pull = sq_pull,
    .att_need = sq_att_need,
    .att_put = sq_att_put,
    .att_get = sq_att_get,
    .purges = sq_purges,
    .purges_told = sq_purges_told,
    .manager_write = sq_manager_write,
    .audit = sq_audit,
};
