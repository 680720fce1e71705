/*
 * The server store (contract in fieldsync/store.h): the server's replica with
 * its feed, plus users, devices and the scope of every row, all in the one
 * encrypted database so that a push is applied, scoped and acknowledged in
 * one transaction.
 *
 * FORMAT (beside the replica's tables)
 *   users    name TEXT PRIMARY KEY, role INTEGER, team TEXT
 *   devices  pk BLOB PRIMARY KEY (Ed25519), id BLOB UNIQUE (fs_device_id_from_pk),
 *            user TEXT, name TEXT, revoked INTEGER, acked_seq INTEGER
 *   purges   user TEXT, tbl INTEGER, row BLOB, feed_seq INTEGER: rows that
 *            left user's scope when the feed stood at feed_seq; a device of
 *            that user whose cursor is not past it is told to purge them
 *   scope    tbl INTEGER, row BLOB, owner TEXT, ptbl INTEGER, prow BLOB,
 *            PRIMARY KEY(tbl, row): a row's owner, or the row it follows
 *            (its customer, its plan, the row a conflict is about); owners
 *            are resolved through parents when asked, so reassigning a
 *            customer moves everything that follows it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fieldsync/audit.h"
#include "fieldsync/records.h"
#include "fieldsync/store.h"
#include "replica_int.h"

#define MAX_NAME 64
#define MAX_DEPTH 4 /* conflict -> visit -> customer: well within */

#define STMT_CACHE 16

struct fs_store {
    fs_replica *r;
    fs_audit *audit;
    /* Statements of the per-row paths (push, pull), prepared once: keyed by
     * the address of their SQL text, which is a literal at each call site. */
    struct {
        const char *sql;
        sqlite3_stmt *st;
    } cache[STMT_CACHE];
    size_t ncache;
    uint64_t lease_ms;
    char errmsg[256];
};

/* The record rules take the users' roles as they are. */
_Static_assert((int)FS_ROLE_REP == (int)FS_RECORD_REP && (int)FS_ROLE_MANAGER == (int)FS_RECORD_MANAGER &&
                   (int)FS_ROLE_ADMIN == (int)FS_RECORD_ADMIN,
               "fs_role and fs_record_role differ");

enum rule_kind { RULE_NONE, RULE_OWNER, RULE_REP, RULE_PARENT, RULE_CONFLICT };

typedef struct rule {
    enum rule_kind kind;
    int col;     /* the column that decides (owner, rep, link) */
    int ref;     /* RULE_PARENT: the parent's table */
    int col_row; /* RULE_CONFLICT: the "row" column ("tbl" is col) */
} rule;

typedef struct user {
    char name[MAX_NAME + 1];
    char team[MAX_NAME + 1];
    fs_role role;
} user;

__attribute__((format(printf, 3, 4))) static int fail(fs_store *s, int code, const char *fmt,
                                                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

static int dbfail(fs_store *s, int src, const char *what)
{
    return fail(s, FS_EDB, "%s: %s", what, sqlite3_errstr(src));
}

const char *fs_store_errmsg(const fs_store *s)
{
    return s ? s->errmsg : fs_replica_errmsg(NULL);
}

fs_replica *fs_store_replica(fs_store *s)
{
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

void fs_store_set_lease(fs_store *s, uint64_t ms)
{
    s->lease_ms = ms;
}

uint64_t fs_store_lease(const fs_store *s)
{
    return s->lease_ms;
}

/* The scope rule of each table, from the schema. */
static rule rule_of(unsigned tix)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    const fs_table *t = &tables[tix];
    rule r = {RULE_NONE, -1, -1, -1};
    if (strcmp(t->name, "customer") == 0) {
        r.kind = RULE_OWNER;
        r.col = fs_schema_column_index(t, "owner");
    } else if (strcmp(t->name, "conflict") == 0) {
        r.kind = RULE_CONFLICT;
        r.col = fs_schema_column_index(t, "tbl");
        r.col_row = fs_schema_column_index(t, "row");
    } else if ((r.col = fs_schema_column_index(t, "customer")) > 0) {
        r.kind = RULE_PARENT;
        r.ref = fs_schema_table_index("customer");
    } else if ((r.col = fs_schema_column_index(t, "plan")) > 0) {
        r.kind = RULE_PARENT;
        r.ref = fs_schema_table_index("weekly_plan");
    } else if ((r.col = fs_schema_column_index(t, "rep")) > 0) {
        r.kind = RULE_REP;
    }
    return r;
}

static int db_exec(fs_store *s, const char *sql)
{
    int src = sqlite3_exec(fs__replica_db(s->r), sql, NULL, NULL, NULL);
    return src == SQLITE_OK ? 0 : dbfail(s, src, "store");
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
    "CREATE TABLE IF NOT EXISTS passwords(user TEXT PRIMARY KEY, hash TEXT NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS device_sync(pk BLOB PRIMARY KEY, last_seen_ms INTEGER,"
    " lease_until_ms INTEGER, local_seq INTEGER, oldest_pending_ms INTEGER) WITHOUT ROWID;";

/* Opens the audit log with a key of its own, derived from the server's
 * identity seed (kept in the encrypted store). */
static int open_audit(fs_store *s)
{
    fs_identity *id = NULL;
    int rc = fs_replica_identity(s->r, &id);
    if (rc != 0)
        return fail(s, rc, "the store has no identity");
    unsigned char *key = sodium_malloc(FS_AUDIT_KEY_BYTES);
    if (key == NULL) {
        fs_identity_free(id);
        return fail(s, FS_ENOMEM, "out of memory");
    }
    static const char label[] = "fieldsync/1 audit key";
    crypto_generichash(key, FS_AUDIT_KEY_BYTES, (const unsigned char *)label, sizeof label - 1,
                       id->sk, FS_SIGN_SEED_BYTES); /* the seed is sk's first half */
    fs_identity_free(id);
    rc = fs_audit_open(&s->audit, fs__replica_db(s->r), key);
    sodium_free(key);
    return rc != 0 ? fail(s, rc, "cannot open the audit log") : 0;
}

fs_audit *fs_store_audit(fs_store *s)
{
    return s->audit;
}

/* A device in the audit log: the first 8 bytes of its id, in hex. */
static void fingerprint(const uint8_t *pk, char out[17])
{
    uint8_t id[FS_ID_BYTES];
    char hex[33];
    fs_device_id_from_pk(pk, id);
    fs_id_to_hex(id, hex);
    memcpy(out, hex, 16);
    out[16] = '\0';
}

static int store_new(fs_store **out, fs_replica *r)
{
    fs_store *s = calloc(1, sizeof *s);
    if (s != NULL)
        s->lease_ms = FS_LEASE_DEFAULT_MS;
    if (s == NULL) {
        fs_replica_close(r);
        return FS_ENOMEM;
    }
    s->r = r;
    /* A push is acknowledged once committed, and the device then never sends
     * it again: the commit must survive a power cut, not only a crash. In
     * WAL mode NORMAL syncs only at checkpoints; FULL syncs the WAL at every
     * commit (one per push batch of up to FS_SYNC_BATCH changes). Devices
     * keep NORMAL (see docs/DESIGN.md, Durability). */
    int rc = db_exec(s, "PRAGMA synchronous=FULL");
    if (rc == 0)
        rc = db_exec(s, tables_sql);
    if (rc == 0)
        rc = open_audit(s);
    if (rc != 0) {
        fs_store_close(s);
        return rc;
    }
    *out = s;
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

void fs_store_close(fs_store *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->ncache; i++)
        sqlite3_finalize(s->cache[i].st);
    fs_audit_close(s->audit);
    fs_replica_close(s->r);
    free(s);
}

/* ---- users and devices ---- */

static int name_ok(const char *n)
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
/* The prepared statement of sql (a string literal), from the cache or
 * prepared now. *keep is 1 when it is cached: give it back with done();
 * else done() finalizes it. */
static int stmt(fs_store *s, const char *sql, sqlite3_stmt **out, int *keep)
{
    for (size_t i = 0; i < s->ncache; i++)
        if (s->cache[i].sql == sql) {
            *out = s->cache[i].st;
            *keep = 1;
            return 0;
        }
    int src =
        sqlite3_prepare_v3(fs__replica_db(s->r), sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    if (src != SQLITE_OK)
        return dbfail(s, src, "store");
    *keep = s->ncache < STMT_CACHE;
    if (*keep) {
        s->cache[s->ncache].sql = sql;
        s->cache[s->ncache++].st = *out;
    }
    return 0;
}

static void done(sqlite3_stmt *st, int keep)
{
    if (keep) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    } else {
        sqlite3_finalize(st);
    }
}

static int run(fs_store *s, const char *sql, int *changes, const char *fmt, ...)
{
    sqlite3 *db = fs__replica_db(s->r);
    sqlite3_stmt *st = NULL;
    int keep = 0;
    int rc = stmt(s, sql, &st, &keep);
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
    done(st, keep);
    if ((src & 0xFF) == SQLITE_CONSTRAINT) /* extended codes are on */
        return FS_EEXIST;
    return src == SQLITE_DONE ? 0 : dbfail(s, src, "store");
}

int fs_store_user_add(fs_store *s, const char *name, fs_role role, const char *team)
{
    if (!name_ok(name) || !name_ok(team))
        return fail(s, FS_EINVAL, "a user name and team are 1-%d printable characters", MAX_NAME);
    if (role != FS_ROLE_REP && role != FS_ROLE_MANAGER && role != FS_ROLE_ADMIN)
        return fail(s, FS_EINVAL, "a role is rep, manager or admin");
    int rc = run(s, "INSERT INTO users(name, role, team) VALUES(?1, ?2, ?3)", NULL, "tit", name,
                 (long long)role, team);
    return rc == FS_EEXIST ? fail(s, rc, "user %s exists already", name) : rc;
}

static int user_get(fs_store *s, const char *name, user *u);

int fs_store_users(fs_store *s,
                   int (*cb)(const char *name, fs_role role, const char *team, void *ctx),
                   void *ctx)
{
    sqlite3_stmt *st = NULL;
    int src =
        sqlite3_prepare_v2(fs__replica_db(s->r),
                           "SELECT name, role, team FROM users ORDER BY team, name", -1, &st, NULL);
    if (src != SQLITE_OK)
        return dbfail(s, src, "store");
    int rc = 0;
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW)
        rc = cb((const char *)sqlite3_column_text(st, 0), (fs_role)sqlite3_column_int(st, 1),
                (const char *)sqlite3_column_text(st, 2), ctx);
    sqlite3_finalize(st);
    if (rc == 0 && src != SQLITE_DONE)
        rc = dbfail(s, src, "store");
    return rc;
}

int fs_store_set_password(fs_store *s, const char *name, const char *pw, size_t pwlen)
{
    user u;
    if (pwlen < FS_PASSWORD_MIN || pwlen > FS_PASSWORD_MAX || memchr(pw, '\0', pwlen) != NULL)
        return fail(s, FS_EINVAL, "a password is %d to %d bytes", FS_PASSWORD_MIN, FS_PASSWORD_MAX);
    int rc = user_get(s, name, &u);
    if (rc != 0)
        return rc;
    if (u.role != FS_ROLE_MANAGER && u.role != FS_ROLE_ADMIN)
        return fail(s, FS_ESTATE, "only managers and admins log in to the dashboard");
    char hash[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str_alg(hash, pw, pwlen, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return fail(s, FS_ENOMEM, "out of memory hashing the password");
    rc = run(s, "INSERT OR REPLACE INTO passwords(user, hash) VALUES(?1, ?2)", NULL, "tt", name,
             hash);
    sodium_memzero(hash, sizeof hash);
    return rc;
}

int fs_store_login(fs_store *s, const char *name, const char *pw, size_t pwlen, fs_role *role,
                   char team[FS_USER_NAME_MAX + 1])
{
    /* One answer for an unknown user, a rep, no password and a wrong one,
     * and an Argon2 verification in every case, so neither the answer nor
     * its time tells which. */
    static char dummy[crypto_pwhash_STRBYTES];
    if (dummy[0] == '\0' &&
        crypto_pwhash_str_alg(dummy, "not a password", 14, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return fail(s, FS_ENOMEM, "out of memory");
    char hash[crypto_pwhash_STRBYTES] = "";
    user u;
    int known = name != NULL && user_get(s, name, &u) == 0 &&
                (u.role == FS_ROLE_MANAGER || u.role == FS_ROLE_ADMIN);
    if (known) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(fs__replica_db(s->r), "SELECT hash FROM passwords WHERE user=?1", -1,
                               &st, NULL) == SQLITE_OK) {
            sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) > 0 &&
                (size_t)sqlite3_column_bytes(st, 0) < sizeof hash)
                memcpy(hash, sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0) + 1);
        }
        sqlite3_finalize(st);
    }
    int ok = crypto_pwhash_str_verify(hash[0] ? hash : dummy, pw ? pw : "", pw ? pwlen : 0) == 0;
    ok = ok && known && hash[0] != '\0';
    sodium_memzero(hash, sizeof hash);
    if (!ok)
        return fail(s, FS_EAUTH, "wrong name or password");
    *role = u.role;
    snprintf(team, FS_USER_NAME_MAX + 1, "%s", u.team);
    return 0;
}

static int user_get(fs_store *s, const char *name, user *u)
{
    memset(u, 0, sizeof *u);
    sqlite3_stmt *st = NULL;
    int keep = 0;
    int rc = stmt(s, "SELECT role, team FROM users WHERE name=?1", &st, &keep);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        u->role = (fs_role)sqlite3_column_int(st, 0);
        snprintf(u->name, sizeof u->name, "%s", name);
        snprintf(u->team, sizeof u->team, "%s", (const char *)sqlite3_column_text(st, 1));
    } else {
        rc = src == SQLITE_DONE ? fail(s, FS_ENOTFOUND, "no user %s", name)
                                : dbfail(s, src, "store");
    }
    done(st, keep);
    return rc;
}

int fs_store_device_add(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], const char *user_name,
                        const char *name)
{
    user u;
    int rc = user_get(s, user_name, &u);
    if (rc != 0)
        return rc;
    if (name != NULL && *name != '\0' && !name_ok(name))
        return fail(s, FS_EINVAL, "a device name is 1-%d printable characters", MAX_NAME);
    uint8_t id[FS_ID_BYTES];
    fs_device_id_from_pk(pk, id);
    char fp[17];
    int own = 0;
    fingerprint(pk, fp);
    rc = fs__begin(s->r, &own); /* or inside the caller's transaction */
    if (rc == 0)
        rc = run(s, "INSERT INTO devices(pk, id, user, name) VALUES(?1, ?2, ?3, ?4)", NULL,
                 "bbtt", pk, FS_SIGN_PK_BYTES, id, FS_ID_BYTES, user_name, name ? name : "");
    if (rc == 0)
        rc = fs_audit_append(s->audit, "enroll", user_name, fp, "");
    rc = fs__end(s->r, own, rc);
    return rc == FS_EEXIST ? fail(s, rc, "the device is enrolled already") : rc;
}

/* The enrolled device: its user and acknowledged sequence. */
typedef struct device {
    uint8_t id[FS_ID_BYTES];
    user u;
    uint64_t acked;
} device;

static int device_get(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], device *d)
{
    memset(d, 0, sizeof *d);
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(fs__replica_db(s->r),
                                 "SELECT id, user, revoked, acked_seq FROM devices WHERE pk=?1", -1,
                                 &st, NULL);
    if (src != SQLITE_OK)
        return dbfail(s, src, "store");
    sqlite3_bind_blob(st, 1, pk, FS_SIGN_PK_BYTES, SQLITE_STATIC);
    src = sqlite3_step(st);
    int rc = 0;
    char name[MAX_NAME + 1] = "";
    if (src == SQLITE_ROW && sqlite3_column_int(st, 2) != 0) {
        rc = fail(s, FS_EREVOKED, "the device is revoked");
    } else if (src == SQLITE_ROW && sqlite3_column_bytes(st, 0) == FS_ID_BYTES) {
        memcpy(d->id, sqlite3_column_blob(st, 0), FS_ID_BYTES);
        snprintf(name, sizeof name, "%s", (const char *)sqlite3_column_text(st, 1));
        d->acked = (uint64_t)sqlite3_column_int64(st, 3);
    } else {
        rc = src == SQLITE_ROW || src == SQLITE_DONE ? fail(s, FS_ENOTFOUND, "unknown device")
                                                     : dbfail(s, src, "store");
    }
    sqlite3_finalize(st);
    if (rc == 0)
        rc = user_get(s, name, &d->u);
    return rc;
}

int fs_store_device_check(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES])
{
    device d;
    return device_get(s, pk, &d);
}

int fs_store_note_wipe(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES])
{
    char fp[17];
    fingerprint(pk, fp);
    return fs_audit_append(s->audit, "wipe", "server", fp, "told to wipe at its handshake");
}

int fs_store_note_refusal(fs_store *s, const uint8_t *pk, const char *detail)
{
    char fp[17], clean[FS_AUDIT_MAX_DETAIL];
    size_t i = 0;
    for (; detail != NULL && detail[i] != '\0' && i + 1 < sizeof clean; i++)
        clean[i] = detail[i] >= 0x20 && detail[i] < 0x7f ? detail[i] : '?';
    clean[i] = '\0';
    if (pk == NULL)
        return fs_audit_append(s->audit, "auth_failed", "sync", NULL, clean);
    device d;
    fingerprint(pk, fp);
    int rc = device_get(s, pk, &d);
    return fs_audit_append(s->audit, "session_refused", rc == 0 ? d.u.name : "unknown", fp, clean);
}

int fs_store_device_revoke(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES])
{
    int changed = 0, own = 0;
    char fp[17];
    fingerprint(pk, fp);
    int rc = fs__begin(s->r, &own);
    if (rc == 0)
        rc = run(s, "UPDATE devices SET revoked=1 WHERE pk=?1", &changed, "b", pk,
                 FS_SIGN_PK_BYTES);
    if (rc == 0 && changed == 0)
        rc = fail(s, FS_ENOTFOUND, "unknown device");
    if (rc == 0)
        rc = fs_audit_append(s->audit, "revoke", "operator", fp, "");
    return fs__end(s->r, own, rc);
}

/* ---- scope ---- */

/* The table and row a stored conflict record is about: FS_ENOTFOUND (as rc,
 * quietly) when there is no such record. */
static int conflict_subject(fs_store *s, const uint8_t id[FS_ID_BYTES], unsigned *tix,
                            uint8_t row[FS_ID_BYTES])
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(fs__replica_db(s->r), "SELECT tbl, row FROM conflict WHERE id=?1",
                                 -1, &st, NULL);
    if (src != SQLITE_OK)
        return dbfail(s, src, "store");
    sqlite3_bind_blob(st, 1, id, FS_ID_BYTES, SQLITE_STATIC);
    src = sqlite3_step(st);
    unsigned nt;
    fs_schema_tables(&nt);
    int rc = FS_ENOTFOUND;
    if (src == SQLITE_ROW && sqlite3_column_bytes(st, 1) == FS_ID_BYTES &&
        sqlite3_column_int64(st, 0) >= 0 && sqlite3_column_int64(st, 0) < (sqlite3_int64)nt) {
        *tix = (unsigned)sqlite3_column_int64(st, 0);
        memcpy(row, sqlite3_column_blob(st, 1), FS_ID_BYTES);
        rc = 0;
    } else if (src != SQLITE_ROW && src != SQLITE_DONE) {
        rc = dbfail(s, src, "store");
    }
    sqlite3_finalize(st);
    return rc;
}

/* The owner of a row, following parents; *owner is "" when unknown. */
static int owner_of(fs_store *s, unsigned tix, const uint8_t *row, char owner[MAX_NAME + 1])
{
    sqlite3_stmt *st = NULL;
    int keep = 0, src;
    int rc = stmt(s, "SELECT owner, ptbl, prow FROM scope WHERE tbl=?1 AND row=?2", &st, &keep);
    if (rc != 0)
        return rc;
    uint8_t cur[FS_ID_BYTES];
    memcpy(cur, row, FS_ID_BYTES);
    owner[0] = '\0';
    for (int depth = 0; depth < MAX_DEPTH; depth++) {
        sqlite3_bind_int(st, 1, (int)tix);
        sqlite3_bind_blob(st, 2, cur, FS_ID_BYTES, SQLITE_STATIC);
        src = sqlite3_step(st);
        if (src == SQLITE_DONE && (int)tix == fs_schema_table_index("conflict")) {
            /* A conflict record the server found itself: it follows the row
             * it is about, as the record says. */
            sqlite3_reset(st);
            rc = conflict_subject(s, cur, &tix, cur);
            if (rc == FS_ENOTFOUND)
                rc = 0; /* unknown: no owner */
            else if (rc == 0)
                continue;
            break;
        }
        if (src != SQLITE_ROW) {
            if (src != SQLITE_DONE)
                rc = dbfail(s, src, "store");
            break;
        }
        if (sqlite3_column_type(st, 0) == SQLITE_TEXT) {
            snprintf(owner, MAX_NAME + 1, "%s", (const char *)sqlite3_column_text(st, 0));
            break;
        }
        if (sqlite3_column_bytes(st, 2) != FS_ID_BYTES)
            break;
        tix = (unsigned)sqlite3_column_int(st, 1);
        memcpy(cur, sqlite3_column_blob(st, 2), FS_ID_BYTES);
        sqlite3_reset(st);
    }
    done(st, keep);
    return rc;
}

/* 1 if u may see (and, for writes, touch) rows owned by owner. */
static int in_scope(fs_store *s, const user *u, const char *owner)
{
    if (owner[0] == '\0' || u->role == FS_ROLE_ADMIN)
        return 0;
    if (strcmp(owner, u->name) == 0)
        return 1;
    if (u->role != FS_ROLE_MANAGER)
        return 0;
    user o;
    return user_get(s, owner, &o) == 0 && strcmp(o.team, u->team) == 0;
}

/* ---- push ---- */

typedef struct ref {
    const fs_change *c;
    size_t idx;
} ref;

static int cmp_ref(const void *pa, const void *pb)
{
    const ref *a = pa, *b = pb;
    if (a->c->table != b->c->table)
        return a->c->table < b->c->table ? -1 : 1;
    int d = memcmp(a->c->row, b->c->row, FS_ID_BYTES);
    if (d != 0)
        return d;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

typedef struct push_ctx {
    fs_store *s;
    const device *d;
    fs_change *accepted;
    size_t naccepted;
    fs_store_reject *rejects;
    size_t nrejects;
    uint64_t clock_limit;
    fs_row_ref *moved; /* rows given to another owner in this push */
    char (*moved_from)[MAX_NAME + 1]; /* ... and who had them */
    char (*moved_to)[MAX_NAME + 1];   /* ... and who has them now */
    size_t nmoved;
    /* The last parent looked up and its owner: a batch's rows mostly
     * follow one customer. Only known owners are kept, and the entry is
     * dropped whenever a row that existed gets a new owner or parent. */
    int parent_known;
    unsigned parent_tbl;
    uint8_t parent_row[FS_ID_BYTES];
    char parent_owner[MAX_NAME + 1];
} push_ctx;

static void reject(push_ctx *p, size_t idx, uint32_t reason)
{
    p->rejects[p->nrejects].index = idx;
    p->rejects[p->nrejects].reason = reason;
    p->nrejects++;
}

/* Checks one change on its own: writer, schema, value, clock. This is all
 * fs_apply checks, so the accepted changes are applied without a second
 * pass (fs__apply_checked). */
static uint32_t check_change(push_ctx *p, const fs_change *c)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    if (memcmp(c->version.device, p->d->id, FS_ID_BYTES) != 0)
        return FS_REASON_INVALID; /* not written by the device that pushed it */
    if (c->table >= nt || c->column >= tables[c->table].ncolumns || c->version.hlc == 0)
        return FS_REASON_INVALID;
    if (fs__value_check(p->s->r, &tables[c->table], c->column, &c->value) != 0)
        return FS_REASON_INVALID;
    if ((c->version.hlc >> 16) > p->clock_limit)
        return FS_REASON_CLOCK;
    return 0;
}

/* Whether change c would win over the row's stored version of its column
 * (a new row: always). A write that loses changes nothing, scope included. */
static int wins(fs_store *s, const fs_change *c, int *out)
{
    fs__row row;
    memset(&row, 0, sizeof row);
    int rc = fs__row_load(s->r, &row, c->table, c->row);
    *out = 1;
    if (rc == 0 && row.exists) {
        fs_version cur = {row.hlc[c->column], {0}};
        memcpy(cur.device, fs__dev_id(s->r, row.dev[c->column]), FS_ID_BYTES);
        *out = fs_version_cmp(&c->version, &cur) > 0;
    }
    fs__row_clear(&row);
    return rc;
}

/* Reads what a deciding value says: an owner name (1..MAX_NAME bytes, no
 * NUL), or a row id. 1 if usable. */
static int owner_value(const fs_value *v, char out[MAX_NAME + 1])
{
    if (v->type != FS_TEXT || v->n == 0 || v->n > MAX_NAME || memchr(v->p, 0, v->n) != NULL)
        return 0;
    memcpy(out, v->p, v->n);
    out[v->n] = '\0';
    return 1;
}

/* The record rules (fieldsync/records.h) for one pushed change, by a user
 * who owns the row or not: a weekly plan's approval or return and every
 * spot-check are a supervisor's. 1 if the rules refuse it. */
static int refused_by_rules(unsigned tix, const fs_change *c, const user *u, int is_owner)
{
    return fs_record_check_write(tix, c->column, &c->value, (fs_record_role)u->role, is_owner,
                                 NULL, 0) != FS_RECORD_OK;
}

/* owner_of for the parent a row names, through the one-entry cache. */
static int parent_owner(push_ctx *p, unsigned tbl, const uint8_t row[FS_ID_BYTES],
                        char owner[MAX_NAME + 1])
{
    if (p->parent_known && p->parent_tbl == tbl && memcmp(p->parent_row, row, FS_ID_BYTES) == 0) {
        memcpy(owner, p->parent_owner, MAX_NAME + 1);
        return 0;
    }
    int rc = owner_of(p->s, tbl, row, owner);
    p->parent_known = rc == 0 && owner[0] != '\0';
    if (p->parent_known) {
        p->parent_tbl = tbl;
        memcpy(p->parent_row, row, FS_ID_BYTES);
        memcpy(p->parent_owner, owner, MAX_NAME + 1);
    }
    return rc;
}

/* Decides a row group (the valid changes of one row). The changes to the
 * column that decides the row's owner or parent (the "decider") are judged
 * apart: one that is malformed, or would take the row out of the pusher's
 * reach, or give a customer away without being a manager, is refused alone
 * on an existing row, and refuses the whole row on a new one. The other
 * changes need the pusher's right to write the row. */
static int push_row(push_ctx *p, ref *g, size_t n)
{
    fs_store *s = p->s;
    const user *u = &p->d->u;
    unsigned tix = g[0].c->table;
    const uint8_t *row = g[0].c->row;
    rule rl = rule_of(tix);
    unsigned ntables;
    const fs_table *tb = &fs_schema_tables(&ntables)[tix];
    char now[MAX_NAME + 1], after[MAX_NAME + 1];
    int rc = owner_of(s, tix, row, now);
    if (rc != 0)
        return rc;
    int exists = now[0] != '\0';
    /* The winning-most deciding changes in this batch. */
    const fs_change *dc = NULL, *dc_row = NULL;
    for (size_t k = 0; k < n; k++) {
        const fs_change *c = g[k].c;
        if ((int)c->column == rl.col && (dc == NULL || fs_version_cmp(&c->version, &dc->version) > 0))
            dc = c;
        if (rl.kind == RULE_CONFLICT && (int)c->column == rl.col_row &&
            (dc_row == NULL || fs_version_cmp(&c->version, &dc_row->version) > 0))
            dc_row = c;
    }
    uint32_t decider_why = 0, row_why = 0;
    int set_owner = 0, set_parent = 0, ptbl = -1;
    uint8_t prow[FS_ID_BYTES];
    snprintf(after, sizeof after, "%s", now);
    if (dc != NULL && exists) { /* a new row has no version to lose to */
        int w = 1;
        rc = wins(s, dc, &w);
        if (rc != 0)
            return rc;
        if (!w)
            dc = NULL; /* an older write: the row keeps its owner */
    }
    switch (rl.kind) {
    case RULE_OWNER:
    case RULE_REP:
        if (dc != NULL && owner_value(&dc->value, after))
            set_owner = 1;
        else if (dc != NULL && rl.kind == RULE_OWNER && !exists &&
                 (dc->value.type == FS_NULL || (dc->value.type == FS_TEXT && dc->value.n == 0)))
            dc = NULL; /* a blank owner on a new customer: not saying */
        else if (dc != NULL)
            decider_why = FS_REASON_INVALID;
        if (!set_owner && !exists) {
            if (rl.kind == RULE_OWNER && decider_why == 0) {
                snprintf(after, sizeof after, "%s", u->name); /* the creator owns it */
                set_owner = 1;
            } else {
                row_why = FS_REASON_INVALID; /* a new row must say whose it is */
            }
        }
        break;
    case RULE_PARENT:
    case RULE_CONFLICT:
        if (dc != NULL && rl.kind == RULE_PARENT && dc->value.type == FS_BLOB &&
            dc->value.n == FS_ID_BYTES) {
            ptbl = rl.ref;
            memcpy(prow, dc->value.p, FS_ID_BYTES);
            set_parent = 1;
        } else if (dc != NULL && rl.kind == RULE_CONFLICT && dc->value.type == FS_INT &&
                   dc_row != NULL && dc_row->value.type == FS_BLOB &&
                   dc_row->value.n == FS_ID_BYTES) {
            unsigned nt;
            fs_schema_tables(&nt);
            if (dc->value.i >= 0 && dc->value.i < (int64_t)nt) {
                ptbl = (int)dc->value.i;
                memcpy(prow, dc_row->value.p, FS_ID_BYTES);
                set_parent = 1;
            }
        }
        if (set_parent) {
            rc = parent_owner(p, (unsigned)ptbl, prow, after);
            if (rc != 0)
                return rc;
            if (after[0] == '\0') { /* follows nothing known */
                set_parent = 0;
                decider_why = FS_REASON_INVALID;
                snprintf(after, sizeof after, "%s", now);
            }
        } else if (dc != NULL) {
            decider_why = FS_REASON_INVALID;
        }
        if (!set_parent && !exists)
            row_why = FS_REASON_INVALID; /* a new row must name what it follows */
        break;
    case RULE_NONE:
        row_why = FS_REASON_SCOPE;
        break;
    }
    /* Moving the row: only within the pusher's reach, and where the record
     * rules give the deciding column to supervisors (a customer's owner) only
     * by one. */
    if (decider_why == 0 && row_why == 0 && (set_owner || set_parent) && exists &&
        strcmp(now, after) != 0 &&
        (!in_scope(s, u, after) ||
         !fs_record_may_write(tb->name, tb->columns[rl.col].name, (fs_record_role)u->role,
                              strcmp(now, u->name) == 0)))
        decider_why = FS_REASON_SCOPE;
    if (decider_why != 0) {
        if (!exists)
            row_why = decider_why; /* a new row that cannot be placed */
        set_owner = set_parent = 0;
        snprintf(after, sizeof after, "%s", now);
    }
    if (row_why == 0 && ((exists && !in_scope(s, u, now)) || (!exists && !in_scope(s, u, after))))
        row_why = FS_REASON_SCOPE;
    for (size_t k = 0; k < n; k++) {
        const fs_change *c = g[k].c;
        int is_decider = (int)c->column == rl.col ||
                         (rl.kind == RULE_CONFLICT && (int)c->column == rl.col_row);
        if (row_why != 0)
            reject(p, g[k].idx, row_why);
        else if (is_decider && decider_why != 0)
            reject(p, g[k].idx, decider_why);
        else if (refused_by_rules(tix, c, u, strcmp(exists ? now : after, u->name) == 0))
            reject(p, g[k].idx, FS_REASON_SCOPE);
        else
            p->accepted[p->naccepted++] = *c;
    }
    if (row_why != 0 || (!set_owner && !set_parent))
        return 0;
    if (exists)
        p->parent_known = 0;                 /* an owner may change below this row */
    if (exists && strcmp(now, after) != 0) { /* handed over: re-feed it after apply */
        p->moved[p->nmoved].table = (uint16_t)tix;
        memcpy(p->moved[p->nmoved].row, row, FS_ID_BYTES);
        snprintf(p->moved_from[p->nmoved], MAX_NAME + 1, "%s", now);
        snprintf(p->moved_to[p->nmoved], MAX_NAME + 1, "%s", after);
        p->nmoved++;
    }
    if (set_owner)
        return run(s,
                   "INSERT INTO scope(tbl,row,owner,ptbl,prow) VALUES(?1,?2,?3,NULL,NULL)"
                   " ON CONFLICT(tbl,row) DO UPDATE SET owner=excluded.owner, ptbl=NULL,"
                   " prow=NULL",
                   NULL, "ibt", (long long)tix, row, FS_ID_BYTES, after);
    return run(s,
               "INSERT INTO scope(tbl,row,owner,ptbl,prow) VALUES(?1,?2,NULL,?3,?4)"
               " ON CONFLICT(tbl,row) DO UPDATE SET owner=NULL, ptbl=excluded.ptbl,"
               " prow=excluded.prow",
               NULL, "ibib", (long long)tix, row, FS_ID_BYTES, (long long)ptbl, prow,
               FS_ID_BYTES);
}

/* One audit entry per push with refusals: how many, by reason (never the
 * values). */
static int audit_refusals(fs_store *s, const device *d, const uint8_t *pk,
                          const fs_store_reject *rejects, size_t n)
{
    size_t by[FS_REASON_INTERNAL + 1] = {0};
    for (size_t i = 0; i < n; i++)
        if (rejects[i].reason <= FS_REASON_INTERNAL)
            by[rejects[i].reason]++;
    char detail[FS_AUDIT_MAX_DETAIL], fp[17];
    size_t len = (size_t)snprintf(detail, sizeof detail, "refused=%zu", n);
    for (unsigned r = 1; r <= FS_REASON_INTERNAL && len < sizeof detail; r++)
        if (by[r] > 0)
            len += (size_t)snprintf(detail + len, sizeof detail - len, " reason%u=%zu", r, by[r]);
    fingerprint(pk, fp);
    return fs_audit_append(s->audit, "refused_write", d->u.name, fp, detail);
}

/* A row handed to another owner: who did it, from whom to whom, and which
 * row (table and id: no values). */
static int audit_handover(fs_store *s, const device *d, const fs_row_ref *row, const char *from,
                          const char *to)
{
    char subject[2 * (MAX_NAME + 1) + 8], detail[FS_AUDIT_MAX_DETAIL], hex[2 * FS_ID_BYTES + 1];
    unsigned ntables;
    const fs_table *all = fs_schema_tables(&ntables);
    const fs_table *t = row->table < ntables ? &all[row->table] : NULL;
    fs_id_to_hex(row->row, hex);
    if (strlen(from) + strlen(to) + 4 <= FS_AUDIT_MAX_NAME)
        snprintf(subject, sizeof subject, "%.*s -> %.*s", MAX_NAME, from, MAX_NAME, to);
    else
        snprintf(subject, sizeof subject, "%.*s", MAX_NAME, to);
    snprintf(detail, sizeof detail, "%s %s", t != NULL ? t->name : "?", hex);
    return fs_audit_append(s->audit, "scope_change", d->u.name, subject, detail);
}

/* Appends a row's current values, with their versions, to the feed again,
 * and those of every row that follows it: a row handed to another owner
 * reaches the new owner's devices although their cursors passed it. Devices
 * that hold these versions already ignore them. The previous owner's devices
 * are told to purge each of these rows (a purge entry at the feed position
 * before the re-fed values). */
static int refeed(fs_store *s, unsigned tix, const uint8_t row[FS_ID_BYTES],
                  const char *old_owner, int depth)
{
    fs__row cur;
    uint64_t feed = 0;
    memset(&cur, 0, sizeof cur);
    int rc = fs_feed_last(s->r, &feed);
    if (rc == 0)
        rc = run(s, "INSERT INTO purges(user, tbl, row, feed_seq) VALUES(?1, ?2, ?3, ?4)", NULL,
                 "tibi", old_owner, (long long)tix, row, FS_ID_BYTES, (long long)feed);
    if (rc == 0)
        rc = fs__row_load(s->r, &cur, tix, row);
    for (unsigned c = 0; rc == 0 && cur.exists && c < cur.t->ncolumns; c++) {
        if (cur.hlc[c] == 0)
            continue;
        fs_value v;
        fs__value_from_sqlite(cur.old[c], &v);
        if (c == 0 && v.type == FS_NULL)
            v = fs_int(0);
        rc = fs__feed_append(s->r, tix, c, cur.id, &v, cur.hlc[c], cur.dev[c], 0, 0);
    }
    if (rc == 0)
        rc = fs__feed_flush(s->r);
    fs__row_clear(&cur);
    if (rc != 0 || depth >= MAX_DEPTH)
        return rc;
    /* What follows it: collect first, as refeeding runs statements of its own. */
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(fs__replica_db(s->r),
                                 "SELECT tbl, row FROM scope WHERE ptbl=?1 AND prow=?2", -1, &st,
                                 NULL);
    if (src != SQLITE_OK)
        return dbfail(s, src, "store");
    sqlite3_bind_int(st, 1, (int)tix);
    sqlite3_bind_blob(st, 2, row, FS_ID_BYTES, SQLITE_STATIC);
    fs_row_ref *kids = NULL;
    size_t n = 0, cap = 0;
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 1) != FS_ID_BYTES)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            fs_row_ref *more = realloc(kids, cap * sizeof *kids);
            if (more == NULL) {
                rc = fail(s, FS_ENOMEM, "out of memory");
                break;
            }
            kids = more;
        }
        kids[n].table = (uint16_t)sqlite3_column_int(st, 0);
        memcpy(kids[n].row, sqlite3_column_blob(st, 1), FS_ID_BYTES);
        n++;
    }
    sqlite3_finalize(st);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = refeed(s, kids[i].table, kids[i].row, old_owner, depth + 1);
    free(kids);
    return rc;
}

int fs_store_push(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t first_seq,
                  uint64_t last_seq, const fs_change *changes, size_t n, fs_push_result *out)
{
    memset(out, 0, sizeof *out);
    if (first_seq > last_seq || (n > 0 && changes == NULL))
        return fail(s, FS_EINVAL, "a push covers sequences first..last");
    device d;
    int rc = device_get(s, device_pk, &d);
    if (rc == FS_ENOTFOUND)
        return fail(s, FS_EAUTH, "unknown device");
    if (rc != 0)
        return rc;
    if (last_seq <= d.acked) { /* applied before: acknowledge again */
        out->acked_seq = d.acked;
        out->replayed = 1;
        return 0;
    }
    push_ctx p = {.s = s, .d = &d, .clock_limit = fs__now_ms(s->r) + s->r->opts.max_skew_ms};
    ref *refs = malloc((n ? n : 1) * sizeof *refs);
    p.moved = malloc((n ? n : 1) * sizeof *p.moved);
    p.moved_from = malloc((n ? n : 1) * sizeof *p.moved_from);
    p.moved_to = malloc((n ? n : 1) * sizeof *p.moved_to);
    p.accepted = malloc((n ? n : 1) * sizeof *p.accepted);
    p.rejects = malloc((n ? n : 1) * sizeof *p.rejects);
    if (refs == NULL || p.accepted == NULL || p.rejects == NULL || p.moved == NULL ||
        p.moved_from == NULL || p.moved_to == NULL) {
        rc = fail(s, FS_ENOMEM, "out of memory");
        goto done;
    }
    size_t nvalid = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t why = check_change(&p, &changes[i]);
        if (why != 0) {
            reject(&p, i, why);
            continue;
        }
        refs[nvalid].c = &changes[i];
        refs[nvalid].idx = i;
        nvalid++;
    }
    /* Rows in table order: customers before what follows them, plans before
     * their tasks, conflict records last. */
    qsort(refs, nvalid, sizeof *refs, cmp_ref);
    rc = fs_begin(s->r);
    for (size_t i = 0; rc == 0 && i < nvalid;) {
        size_t j = i + 1;
        while (j < nvalid && refs[j].c->table == refs[i].c->table &&
               memcmp(refs[j].c->row, refs[i].c->row, FS_ID_BYTES) == 0)
            j++;
        rc = push_row(&p, refs + i, j - i);
        i = j;
    }
    if (rc == 0)
        rc = fs__apply_checked(s->r, p.accepted, p.naccepted); /* check_change passed */
    for (size_t i = 0; rc == 0 && i < p.nmoved; i++) {
        rc = refeed(s, p.moved[i].table, p.moved[i].row, p.moved_from[i], 0);
        if (rc == 0)
            rc = audit_handover(s, &d, &p.moved[i], p.moved_from[i], p.moved_to[i]);
    }
    if (rc == 0)
        rc = run(s, "UPDATE devices SET acked_seq=?1 WHERE pk=?2", NULL, "ib",
                 (long long)last_seq, device_pk, FS_SIGN_PK_BYTES);
    if (rc == 0 && p.nrejects > 0)
        rc = audit_refusals(s, &d, device_pk, p.rejects, p.nrejects);
    if (rc == 0)
        rc = fs_commit(s->r);
    else
        fs_rollback(s->r);
    if (rc == 0) {
        out->acked_seq = last_seq;
        out->accepted = p.naccepted;
        out->nrejects = p.nrejects;
        if (p.nrejects > 0) {
            out->rejects = p.rejects;
            p.rejects = NULL;
        }
    } else if (s->errmsg[0] == '\0') {
        fail(s, rc, "push: %s", fs_replica_errmsg(s->r));
    }
done:
    free(refs);
    free(p.accepted);
    free(p.rejects);
    free(p.moved);
    free(p.moved_from);
    free(p.moved_to);
    return rc;
}

/* ---- pull ---- */

#define PULL_SCAN_BATCHES 16 /* batches one pull reads past while it keeps nothing */

static int cmp_row_ref(const void *pa, const void *pb)
{
    const fs_row_ref *a = pa, *b = pb;
    if (a->table != b->table)
        return a->table < b->table ? -1 : 1;
    return memcmp(a->row, b->row, FS_ID_BYTES);
}

/* The rows ever purged from the devices of user name, sorted (*out is malloc'd, never
 * NULL on success). */
static int purged_load(fs_store *s, const char *name, fs_row_ref **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    int keep = 0, src;
    size_t cap = 16;
    *n = 0;
    *out = malloc(cap * sizeof **out);
    if (*out == NULL)
        return fail(s, FS_ENOMEM, "out of memory");
    int rc = stmt(s, "SELECT DISTINCT tbl, row FROM purges WHERE user=?1", &st, &keep);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 1) != FS_ID_BYTES)
            continue;
        if (*n == cap) {
            fs_row_ref *more = realloc(*out, 2 * cap * sizeof **out);
            if (more == NULL) {
                src = SQLITE_NOMEM;
                break;
            }
            *out = more;
            cap *= 2;
        }
        (*out)[*n].table = (uint16_t)sqlite3_column_int(st, 0);
        memcpy((*out)[*n].row, sqlite3_column_blob(st, 1), FS_ID_BYTES);
        (*n)++;
    }
    done(st, keep);
    if (src != SQLITE_DONE)
        return src == SQLITE_NOMEM ? fail(s, FS_ENOMEM, "out of memory") : dbfail(s, src, "store");
    qsort(*out, *n, sizeof **out, cmp_row_ref);
    return 0;
}

static int purged_has(const fs_row_ref *rows, size_t n, unsigned table, const uint8_t *row)
{
    fs_row_ref key;
    key.table = (uint16_t)table;
    memcpy(key.row, row, FS_ID_BYTES);
    return n > 0 && bsearch(&key, rows, n, sizeof *rows, cmp_row_ref) != NULL;
}

typedef char owner_name[MAX_NAME + 1];

/* *group = owner's number among *owners, adding it if new (the most recent
 * first: the feed comes in runs of one writer's rows). */
static int owner_group(fs_store *s, owner_name **owners, size_t *n, const char *owner,
                       uint32_t *group)
{
    if (*n > 0 && strcmp((*owners)[*group], owner) == 0)
        return 0;
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*owners)[i], owner) == 0) {
            *group = (uint32_t)i;
            return 0;
        }
    if ((*n & (*n - 1)) == 0) { /* 0, 1, 2, 4, ...: grow to twice */
        owner_name *more = realloc(*owners, (*n ? 2 * *n : 1) * sizeof **owners);
        if (more == NULL)
            return fail(s, FS_ENOMEM, "out of memory");
        *owners = more;
    }
    snprintf((*owners)[*n], sizeof **owners, "%s", owner);
    *group = (uint32_t)(*n)++;
    return 0;
}

/* A user's purged rows, read when a pull first meets an own write. */
typedef struct purged_rows {
    fs_row_ref *rows; /* NULL until read */
    size_t n;
} purged_rows;

/* One batch of fs_store_pull: the feed entries after cursor, up to max
 * changes, less what d may not see or has already. */
static int pull_batch(fs_store *s, const device *d, purged_rows *purged, uint64_t cursor,
                      size_t max, fs_changeset **out, uint64_t *new_cursor, int *more,
                      int *own_only)
{
    *own_only = 1;
    *out = NULL;
    *new_cursor = cursor;
    *more = 0;
    fs_changeset *cs = NULL;
    int rc = fs_feed_since(s->r, cursor, max ? max : 1, &cs);
    if (rc != 0)
        return fail(s, rc, "pull: %s", fs_replica_errmsg(s->r));
    size_t kept = 0;
    /* The feed keeps a write's columns together: a row's owner is looked
     * up once, and only when a change of it may be sent. */
    int looked = 0, seen = 0;
    /* Each change's compression group: its row's owner, numbered in order of
     * first appearance, so a compressed batch never mixes two owners' text
     * (fieldsync/msg.h). */
    cs->groups = malloc((cs->count ? cs->count : 1) * sizeof *cs->groups);
    owner_name *owners = NULL;
    size_t nowners = 0;
    uint32_t group = 0;
    if (cs->groups == NULL)
        rc = fail(s, FS_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < cs->count; i++) {
        fs_change *c = &cs->changes[i];
        if (i == 0 || c->table != cs->changes[i - 1].table ||
            memcmp(c->row, cs->changes[i - 1].row, FS_ID_BYTES) != 0)
            looked = 0;
        int keep = 1;
        if (memcmp(c->version.device, d->id, FS_ID_BYTES) == 0) {
            /* The device's own write: it has it, unless the row was purged
             * from it since (handed away and back: the feed's copy is then
             * the only one). Not sending it back halves what a rep pulls,
             * and needs no lookup of the row's owner: a device that has
             * just pushed reads past its own writes quickly. */
            if (purged->rows == NULL)
                rc = purged_load(s, d->u.name, &purged->rows, &purged->n);
            keep = rc == 0 && purged_has(purged->rows, purged->n, c->table, c->row);
        } else {
            *own_only = 0;
        }
        if (rc == 0 && keep && !looked) {
            char owner[MAX_NAME + 1];
            rc = owner_of(s, c->table, c->row, owner);
            seen = rc == 0 && in_scope(s, &d->u, owner);
            if (seen)
                rc = owner_group(s, &owners, &nowners, owner, &group);
            looked = 1;
        }
        if (rc == 0 && keep && seen) {
            cs->groups[kept] = group;
            cs->changes[kept++] = *c;
        } else if ((c->value.type == FS_TEXT || c->value.type == FS_BLOB) && c->value.n > 0) {
            /* not sent: its bytes do not stay in what is handed out */
            sodium_memzero((void *)(uintptr_t)c->value.p, c->value.n);
        }
    }
    free(owners);
    if (rc != 0) {
        fs_changeset_free(cs);
        return rc;
    }
    uint64_t last = 0;
    rc = fs_feed_last(s->r, &last);
    if (rc != 0) {
        fs_changeset_free(cs);
        return rc;
    }
    if (cs->count > 0)
        *new_cursor = cs->last_seq;
    *more = last > *new_cursor;
    cs->count = kept;
    *out = cs;
    return 0;
}

/* The device asking for the feed after *cursor, which is clamped: past
 * INT64_MAX is past every feed sequence (SQLite's are signed). */
static int puller(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t *cursor, device *d)
{
    if (*cursor > INT64_MAX)
        *cursor = INT64_MAX;
    int rc = device_get(s, pk, d);
    return rc == FS_ENOTFOUND ? fail(s, FS_EAUTH, "unknown device") : rc;
}

int fs_store_pull(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t cursor,
                  size_t max, fs_changeset **out, uint64_t *new_cursor, int *more)
{
    *out = NULL;
    *more = 0;
    device d;
    int rc = puller(s, device_pk, &cursor, &d);
    *new_cursor = cursor;
    if (rc != 0)
        return rc;
    /* A batch of nothing but the device's own writes, none of them sent, is
     * followed by the next one in the same call, up to PULL_SCAN_BATCHES: a
     * device that has just pushed a long backlog would otherwise walk past
     * it one empty round trip at a time (200 of them after a 100,000-visit
     * push). Other writers' rows cost a lookup of their owner each, so a
     * batch of those ends the call as before: one pull reading far ahead
     * past other teams' rows held up every other session's ACK (bench/load.sh
     * full, 1,000 devices: ACK p50 0.3 s -> 1.4 s when any empty batch was
     * read past). */
    purged_rows purged = {NULL, 0};
    for (int scanned = 1;; scanned++) {
        int own_only = 0;
        rc = pull_batch(s, &d, &purged, cursor, max, out, new_cursor, more, &own_only);
        if (rc != 0 || (*out)->count > 0 || !*more || !own_only || scanned >= PULL_SCAN_BATCHES)
            break;
        fs_changeset_free(*out);
        *out = NULL;
        cursor = *new_cursor;
    }
    free(purged.rows);
    return rc;
}

int fs_store_purges(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t cursor,
                    size_t max, fs_row_ref **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    device d;
    int rc = puller(s, device_pk, &cursor, &d);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(fs__replica_db(s->r),
                                 "SELECT tbl, row FROM purges WHERE user=?1 AND feed_seq>=?2"
                                 " ORDER BY seq LIMIT ?3",
                                 -1, &st, NULL);
    if (src != SQLITE_OK)
        return dbfail(s, src, "store");
    fs_row_ref *items = calloc(max ? max : 1, sizeof *items);
    if (items == NULL) {
        sqlite3_finalize(st);
        return fail(s, FS_ENOMEM, "out of memory");
    }
    sqlite3_bind_text(st, 1, d.u.name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)cursor);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
    size_t k = 0;
    while (k < max && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 1) != FS_ID_BYTES)
            continue;
        items[k].table = (uint16_t)sqlite3_column_int(st, 0);
        memcpy(items[k].row, sqlite3_column_blob(st, 1), FS_ID_BYTES);
        k++;
    }
    sqlite3_finalize(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE) {
        free(items);
        return dbfail(s, src, "store");
    }
    *out = items;
    *n = k;
    return 0;
}

/* A text column of a stored row, NUL-terminated in buf ("" when NULL, not
 * text or too long). */
static int row_text(fs_store *s, unsigned tix, const uint8_t row[FS_ID_BYTES], const char *column,
                    char *buf, size_t size)
{
    fs__row cur;
    memset(&cur, 0, sizeof cur);
    buf[0] = '\0';
    int rc = fs__row_load(s->r, &cur, tix, row);
    int c = rc == 0 && cur.exists ? fs_schema_column_index(cur.t, column) : -1;
    if (c >= 0 && cur.old[c] != NULL && sqlite3_value_type(cur.old[c]) == SQLITE_TEXT &&
        (size_t)sqlite3_value_bytes(cur.old[c]) < size)
        memcpy(buf, sqlite3_value_text(cur.old[c]), (size_t)sqlite3_value_bytes(cur.old[c]) + 1);
    fs__row_clear(&cur);
    return rc;
}

int fs_store_manager_write(fs_store *s, const char *manager, const char *table, const uint8_t *row,
                           const fs_cell *cells, size_t n, uint8_t out_id[FS_ID_BYTES])
{
    user u;
    int rc = user_get(s, manager, &u);
    if (rc != 0)
        return rc;
    if (u.role != FS_ROLE_MANAGER)
        return fail(s, FS_EAUTH, "only a manager does this");
    /* What a supervisor writes, by the record rules: a review's columns of
     * a weekly plan, a new spot-check. */
    int tix = fs_schema_table_index(table);
    char owner[MAX_NAME + 1] = "", why[160];
    int vr = fs_record_check_supervisor_cells(table, row != NULL, cells, n, why, sizeof why);
    if (vr == FS_RECORD_EUNKNOWN)
        return fail(s, FS_EINVAL,
                    "the dashboard reviews weekly plans and records spot-checks only");
    if (vr != FS_RECORD_OK)
        return fail(s, FS_EINVAL, "%s", why);
    const fs_record_rules *rr = fs_record_rules_at((unsigned)tix);
    if (row != NULL) {
        rc = owner_of(s, (unsigned)tix, row, owner);
    } else {
        for (size_t i = 0; rr->owner != NULL && i < n; i++)
            if (strcmp(cells[i].column, rr->owner) == 0 && cells[i].value.type == FS_TEXT)
                (void)owner_value(&cells[i].value, owner);
    }
    if (rc != 0)
        return rc;
    if (!in_scope(s, &u, owner))
        return fail(s, FS_ENOTFOUND, "no such record in the manager's team");
    /* A new status: the action leading to it must start from the current one. */
    for (size_t i = 0; row != NULL && rr->status != NULL && i < n; i++) {
        if (strcmp(cells[i].column, rr->status) != 0 || cells[i].value.type != FS_TEXT)
            continue;
        char to[32] = "", from[32] = "";
        if (cells[i].value.n < sizeof to)
            memcpy(to, cells[i].value.p, cells[i].value.n);
        rc = row_text(s, (unsigned)tix, row, rr->status, from, sizeof from);
        if (rc != 0)
            return rc;
        vr = fs_record_check_action(table, fs_record_action_to(table, to), from[0] ? from : NULL,
                                    FS_RECORD_MANAGER, strcmp(owner, manager) == 0, why,
                                    sizeof why);
        if (vr != FS_RECORD_OK)
            return fail(s,
                        vr == FS_RECORD_ESTATE     ? FS_ESTATE
                        : vr == FS_RECORD_EUNKNOWN ? FS_EINVAL
                                                   : FS_EAUTH,
                        "%s", why);
    }
    fs_replica *r = s->r;
    uint8_t id[FS_ID_BYTES];
    rc = fs_begin(r);
    if (rc == 0 && row != NULL)
        rc = fs_update(r, table, row, cells, n);
    if (rc == 0 && row == NULL)
        rc = fs_insert(r, table, cells, n, id);
    if (rc == 0 && row == NULL)
        rc = run(s,
                 "INSERT INTO scope(tbl,row,owner,ptbl,prow) VALUES(?1,?2,?3,NULL,NULL)"
                 " ON CONFLICT(tbl,row) DO UPDATE SET owner=excluded.owner",
                 NULL, "ibt", (long long)tix, id, FS_ID_BYTES, owner);
    if (rc == 0)
        rc = fs_commit(r);
    else
        fs_rollback(r);
    if (rc == 0 && out_id != NULL)
        memcpy(out_id, row != NULL ? row : id, FS_ID_BYTES);
    return rc;
}

int fs_store_device_seen(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], int granted_lease)
{
    uint64_t now = fs__now_ms(s->r);
    if (granted_lease)
        return run(s,
                   "INSERT INTO device_sync(pk, last_seen_ms, lease_until_ms) VALUES(?1, ?2, ?3)"
                   " ON CONFLICT(pk) DO UPDATE SET last_seen_ms=excluded.last_seen_ms,"
                   " lease_until_ms=excluded.lease_until_ms",
                   NULL, "bii", pk, FS_SIGN_PK_BYTES, (long long)now,
                   (long long)(now + s->lease_ms));
    return run(s,
               "INSERT INTO device_sync(pk, last_seen_ms) VALUES(?1, ?2)"
               " ON CONFLICT(pk) DO UPDATE SET last_seen_ms=excluded.last_seen_ms",
               NULL, "bi", pk, FS_SIGN_PK_BYTES, (long long)now);
}

int fs_store_device_reported(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t local_seq,
                             uint64_t oldest_ms)
{
    if (local_seq > INT64_MAX || oldest_ms > INT64_MAX)
        return fail(s, FS_EINVAL, "reported figures out of range");
    return run(s, "UPDATE device_sync SET local_seq=?2, oldest_pending_ms=?3 WHERE pk=?1", NULL,
               "bii", pk, FS_SIGN_PK_BYTES, (long long)local_seq, (long long)oldest_ms);
}

int fs_store_device_sync(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t *last_seen_ms,
                         uint64_t *lease_until_ms, uint64_t *pending, uint64_t *oldest_pending_ms)
{
    *last_seen_ms = *lease_until_ms = *pending = *oldest_pending_ms = 0;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(fs__replica_db(s->r),
                                 "SELECT d.last_seen_ms, d.lease_until_ms, d.local_seq,"
                                 " d.oldest_pending_ms, v.acked_seq FROM device_sync d"
                                 " JOIN devices v ON v.pk = d.pk WHERE d.pk=?1",
                                 -1, &st, NULL);
    if (src != SQLITE_OK)
        return dbfail(s, src, "store");
    sqlite3_bind_blob(st, 1, pk, FS_SIGN_PK_BYTES, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *last_seen_ms = (uint64_t)sqlite3_column_int64(st, 0);
        *lease_until_ms = (uint64_t)sqlite3_column_int64(st, 1);
        /* What the device had when it last reported, less what the server
         * has acknowledged since: pending is never stale after an ACK. */
        uint64_t local = (uint64_t)sqlite3_column_int64(st, 2);
        uint64_t acked = (uint64_t)sqlite3_column_int64(st, 4);
        *pending = local > acked ? local - acked : 0;
        *oldest_pending_ms = *pending > 0 ? (uint64_t)sqlite3_column_int64(st, 3) : 0;
    }
    sqlite3_finalize(st);
    return 0;
}

int fs_store_owner(fs_store *s, unsigned table, const uint8_t row[FS_ID_BYTES],
                   char owner[FS_USER_NAME_MAX + 1])
{
    return owner_of(s, table, row, owner);
}
