/*
 * One-time enrollment codes in the SQLite store (the code's text:
 * fieldsync/enroll.h; contracts and the table: fieldsync/store.h):
 * created by the administrator, redeemed once by a device's ENROLL request.
 * Only a hash of each secret is stored; a redeemed code is found by
 * comparing hashes in constant time against every stored one (there are
 * few), so neither the lookup nor the comparison depends on the secret's
 * bytes.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "fieldsync/enroll.h"
#include "store_int.h"

#define HASH_BYTES     32
#define PRUNE_AFTER_MS (30ull * 24 * 3600 * 1000) /* 30 days */

static const char table_sql[] =
    "CREATE TABLE IF NOT EXISTS enroll_codes(hash BLOB PRIMARY KEY, user TEXT NOT NULL,"
    " expires_ms INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;";

static sqlite3 *db_of(sq_store *s)
{
    return fs_replica_db(s->r);
}

/* The codes' table, made when the store opens (store.c): every node of a
 * PostgreSQL store has it before a log entry of another node fills it. */
int sq__enroll_table(sq_store *s)
{
    return sqlite3_exec(db_of(s), table_sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : FS_EDB;
}

static void secret_hash(const uint8_t secret[FS_ENROLL_SECRET_BYTES], uint8_t out[HASH_BYTES])
{
    static const char label[] = "fieldsync/1 enroll code";
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, HASH_BYTES);
    crypto_generichash_update(&st, (const unsigned char *)label, sizeof label - 1);
    crypto_generichash_update(&st, secret, FS_ENROLL_SECRET_BYTES);
    crypto_generichash_final(&st, out, HASH_BYTES);
    sodium_memzero(&st, sizeof st);
}

static int user_exists(sq_store *s, const char *user)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db_of(s), "SELECT 1 FROM users WHERE name=?1", -1, &st, NULL) !=
        SQLITE_OK)
        return FS_EDB;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    sqlite3_finalize(st);
    return src == SQLITE_ROW ? 0 : src == SQLITE_DONE ? FS_ENOTFOUND : FS_EDB;
}

/* Forgets codes that expired more than PRUNE_AFTER_MS ago (until then a
 * late attempt is refused as expired or used rather than unknown). */
static int prune(sq_store *s, uint64_t now)
{
    sqlite3_stmt *st = NULL;
    int rc = FS_EDB;
    if (now < PRUNE_AFTER_MS)
        return 0;
    if (sqlite3_prepare_v2(db_of(s), "DELETE FROM enroll_codes WHERE expires_ms < ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return FS_EDB;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)(now - PRUNE_AFTER_MS));
    if (sqlite3_step(st) == SQLITE_DONE)
        rc = 0;
    sqlite3_finalize(st);
    return rc;
}

int sq_enroll_code_create(fs_store *base, const char *user, uint64_t ttl_ms,
                          const uint8_t server_pk[FS_SIGN_PK_BYTES], char *code, size_t codelen)
{
    sq_store *s = (sq_store *)base;
    uint8_t secret[FS_ENROLL_SECRET_BYTES], hash[HASH_BYTES];
    sqlite3_stmt *st = NULL;
    if (code != NULL && codelen > 0)
        code[0] = '\0';
    if (code == NULL || codelen < FS_ENROLL_CODE_CHARS + 1 || ttl_ms == 0 || user == NULL ||
        ttl_ms > (uint64_t)INT64_MAX / 2)
        return FS_EINVAL;
    uint64_t now = fs_replica_now_ms(s->r);
    int rc = user_exists(s, user);
    if (rc == 0 && sq__user_disabled(s, user) != 0)
        rc = sq__fail(s, FS_ESTATE, "the user is disabled: enable them first");
    if (rc == 0)
        rc = prune(s, now);
    if (rc != 0)
        return rc;
    randombytes_buf(secret, sizeof secret);
    secret_hash(secret, hash);
    uint64_t expires = now + ttl_ms;
    rc = FS_EDB;
    if (sqlite3_prepare_v2(db_of(s),
                           "INSERT INTO enroll_codes(hash, user, expires_ms) VALUES(?1, ?2, ?3)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_blob(st, 1, hash, HASH_BYTES, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)expires);
        if (sqlite3_step(st) == SQLITE_DONE)
            rc = 0;
    }
    sqlite3_finalize(st);
    if (rc == 0)
        fs_enroll_code_format(server_pk, secret, code);
    sodium_memzero(secret, sizeof secret);
    return rc;
}

/* The stored code whose hash matches: its key (the stored hash), user,
 * expiry and use. FS_EAUTH when none does. */
typedef struct stored_code {
    uint8_t hash[HASH_BYTES];
    char user[FS_AUDIT_MAX_NAME + 1];
    uint64_t expires_ms;
    int used;
} stored_code;

static int find_code(sq_store *s, const uint8_t hash[HASH_BYTES], stored_code *out)
{
    sqlite3_stmt *st = NULL;
    int found = 0, src;
    memset(out, 0, sizeof *out);
    if (sqlite3_prepare_v2(db_of(s), "SELECT hash, user, expires_ms, used FROM enroll_codes", -1,
                           &st, NULL) != SQLITE_OK)
        return FS_EDB;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) != HASH_BYTES)
            continue;
        /* every row is compared, whether or not one matched already */
        if (sodium_memcmp(sqlite3_column_blob(st, 0), hash, HASH_BYTES) == 0 && !found) {
            found = 1;
            memcpy(out->hash, sqlite3_column_blob(st, 0), HASH_BYTES);
            snprintf(out->user, sizeof out->user, "%s", (const char *)sqlite3_column_text(st, 1));
            out->expires_ms = (uint64_t)sqlite3_column_int64(st, 2);
            out->used = sqlite3_column_int(st, 3) != 0;
        }
    }
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return FS_EDB;
    return found ? 0 : FS_EAUTH;
}

/* Sets used to `to` where it is `from`; FS_ESTATE when no row changed (a
 * concurrent redeem won). */
static int mark(sq_store *s, const uint8_t hash[HASH_BYTES], int from, int to)
{
    sqlite3_stmt *st = NULL;
    int rc = FS_EDB;
    if (sqlite3_prepare_v2(db_of(s), "UPDATE enroll_codes SET used=?1 WHERE hash=?2 AND used=?3",
                           -1, &st, NULL) != SQLITE_OK)
        return FS_EDB;
    sqlite3_bind_int(st, 1, to);
    sqlite3_bind_blob(st, 2, hash, HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, from);
    if (sqlite3_step(st) == SQLITE_DONE)
        rc = sqlite3_changes(db_of(s)) == 1 ? 0 : FS_ESTATE;
    sqlite3_finalize(st);
    return rc;
}

static int refuse(sq_store *s, const fs_enroll_request *req, const char *user, int code,
                  const char *why)
{
    uint8_t id[FS_ID_BYTES];
    char hex[2 * FS_ID_BYTES + 1], detail[64];
    fs_device_id_from_pk(req->device_pk, id);
    fs_id_to_hex(id, hex);
    hex[16] = '\0'; /* the store's fingerprint: the first 8 bytes of the id */
    snprintf(detail, sizeof detail, "reason=%s", why);
    int rc = fs_audit_append(s->audit, "enroll_refused",
                             user != NULL && user[0] != '\0' ? user : "unknown", hex, detail);
    return rc != 0 ? rc : code;
}

/* The stored code of req, if it is one a redeem would take now: 0, or the
 * refusal (audited) redeem would make. */
static int usable_code(sq_store *s, const fs_enroll_request *req, uint64_t now_ms, stored_code *c)
{
    uint8_t secret[FS_ENROLL_SECRET_BYTES], hash[HASH_BYTES];
    size_t len = strnlen(req->code, sizeof req->code);
    if (fs_enroll_request_secret(req->code, len, secret) != 0)
        return refuse(s, req, NULL, FS_EAUTH, "malformed");
    secret_hash(secret, hash);
    sodium_memzero(secret, sizeof secret);
    int rc = find_code(s, hash, c);
    if (rc == FS_EAUTH)
        return refuse(s, req, NULL, FS_EAUTH, "unknown");
    if (rc != 0)
        return rc;
    if (c->used)
        return refuse(s, req, c->user, FS_ESTATE, "used");
    if (now_ms >= c->expires_ms)
        return refuse(s, req, c->user, FS_ECLOCK, "expired");
    if (sq__user_disabled(s, c->user) != 0)
        return refuse(s, req, c->user, FS_EAUTH, "user disabled");
    return 0;
}

int sq_enroll_code_team(fs_store *base, const fs_enroll_request *req, uint64_t now_ms,
                        char team[FS_USER_NAME_MAX + 1])
{
    sq_store *s = (sq_store *)base;
    stored_code c;
    sq_user u;
    team[0] = '\0';
    int rc = usable_code(s, req, now_ms, &c); /* looked at, not spent */
    if (rc == 0)
        rc = sq__user_get(s, c.user, &u);
    if (rc == 0)
        snprintf(team, FS_USER_NAME_MAX + 1, "%s", u.team);
    return rc;
}

int sq_enroll_code_redeem(fs_store *base, const fs_enroll_request *req, uint64_t now_ms)
{
    sq_store *s = (sq_store *)base;
    stored_code c;
    int rc = usable_code(s, req, now_ms, &c);
    if (rc != 0)
        return rc;
    /* The code is spent at the first attempt to redeem it, whatever
     * happens next (a failed enrollment never leaves it for someone else):
     * its own commit, then the device's. */
    fs_replica *r = s->r;
    rc = mark(s, c.hash, 0, 1);
    if (rc == FS_ESTATE) /* another redeem got there first */
        return refuse(s, req, c.user, FS_ESTATE, "used");
    if (rc != 0)
        return rc;
    rc = fs_begin(r);
    if (rc != 0)
        return rc;
    char name[sizeof req->device_name + 1];
    snprintf(name, sizeof name, "%.*s", (int)strnlen(req->device_name, sizeof req->device_name),
             req->device_name);
    rc = sq_device_add(&s->base, req->device_pk, c.user, name);
    if (rc == 0)
        return fs_commit(r);
    fs_rollback(r);
    return rc;
}

int sq_devices(fs_store *base, int (*cb)(const fs_store_device *d, void *ctx), void *ctx)
{
    sq_store *s = (sq_store *)base;
    sqlite3_stmt *st = NULL;
    int rc = 0, src = SQLITE_DONE;
    if (sqlite3_prepare_v2(db_of(s),
                           "SELECT pk, user, name, revoked FROM devices ORDER BY user, id", -1, &st,
                           NULL) != SQLITE_OK)
        return FS_EDB;
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        fs_store_device d;
        uint8_t id[FS_ID_BYTES];
        if (sqlite3_column_bytes(st, 0) != FS_SIGN_PK_BYTES)
            continue;
        memcpy(d.pk, sqlite3_column_blob(st, 0), FS_SIGN_PK_BYTES);
        fs_device_id_from_pk(d.pk, id);
        fs_id_to_hex(id, d.fingerprint);
        d.user = (const char *)sqlite3_column_text(st, 1);
        d.name = (const char *)sqlite3_column_text(st, 2);
        if (d.user == NULL)
            d.user = "";
        if (d.name == NULL)
            d.name = "";
        d.revoked = sqlite3_column_int(st, 3);
        rc = cb(&d, ctx);
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = FS_EDB;
    sqlite3_finalize(st);
    return rc;
}

int sq_device_user(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES],
                   char user[FS_USER_NAME_MAX + 1], char team[FS_USER_NAME_MAX + 1],
                   fs_role *role)
{
    sq_device d;
    user[0] = team[0] = '\0';
    *role = 0;
    int rc = sq__device_get((sq_store *)base, pk, &d);
    if (rc != 0)
        return rc;
    *role = d.u.role;
    snprintf(user, FS_USER_NAME_MAX + 1, "%s", d.u.name);
    snprintf(team, FS_USER_NAME_MAX + 1, "%s", d.u.team);
    return 0;
}
