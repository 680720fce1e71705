/*
 * Users and dashboard logins of the SQLite store.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store_int.h"

int sq_user_add(fs_store *base, const char *name, fs_role role, const char *team)
{
    sq_store *s = (sq_store *)base;
    if (!sq__name_ok(name) || !sq__name_ok(team))
        return sq__fail(s, FS_EINVAL, "a user name and team are 1-%d printable characters", MAX_NAME);
    if (role != FS_ROLE_REP && role != FS_ROLE_MANAGER && role != FS_ROLE_ADMIN)
        return sq__fail(s, FS_EINVAL, "a role is rep, manager or admin");
    int rc = sq__tx_begin(s);
    if (rc == 0)
        rc = sq__run(s, "INSERT INTO users(name, role, team) VALUES(?1, ?2, ?3)", NULL, "tit", name,
                     (long long)role, team);
    if (rc == FS_EEXIST)
        sq__fail(s, rc, "user %s exists already", name);
    if (rc == 0) /* rows that named the user before there was one */
        rc = sq__feed_scope_retag(s, name, team);
    if (rc == 0)
        rc = sq__roster_write(s, name);
    return sq__tx_end(s, rc);
}

int sq_users(fs_store *base,
                   int (*cb)(const char *name, fs_role role, const char *team, void *ctx),
                   void *ctx)
{
    sq_store *s = (sq_store *)base;
    sqlite3_stmt *st = NULL;
    int src =
        sqlite3_prepare_v2(fs_replica_db(s->r),
                           "SELECT name, role, team FROM users ORDER BY team, name", -1, &st, NULL);
    if (src != SQLITE_OK)
        return sq__dbfail(s, src, "store");
    int rc = 0;
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW)
        rc = cb((const char *)sqlite3_column_text(st, 0), (fs_role)sqlite3_column_int(st, 1),
                (const char *)sqlite3_column_text(st, 2), ctx);
    sqlite3_finalize(st);
    if (rc == 0 && src != SQLITE_DONE)
        rc = sq__dbfail(s, src, "store");
    return rc;
}

int sq_set_password(fs_store *base, const char *name, const char *pw, size_t pwlen)
{
    sq_store *s = (sq_store *)base;
    sq_user u;
    if (pwlen < FS_PASSWORD_MIN || pwlen > FS_PASSWORD_MAX || memchr(pw, '\0', pwlen) != NULL)
        return sq__fail(s, FS_EINVAL, "a password is %d to %d bytes", FS_PASSWORD_MIN, FS_PASSWORD_MAX);
    int rc = sq__user_get(s, name, &u);
    if (rc != 0)
        return rc;
    if (u.role != FS_ROLE_MANAGER && u.role != FS_ROLE_ADMIN)
        return sq__fail(s, FS_ESTATE, "only managers and admins log in to the dashboard");
    char hash[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str_alg(hash, pw, pwlen, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return sq__fail(s, FS_ENOMEM, "out of memory hashing the password");
    rc = sq__run(s, "INSERT OR REPLACE INTO passwords(user, hash) VALUES(?1, ?2)", NULL, "tt", name,
             hash);
    sodium_memzero(hash, sizeof hash);
    return rc;
}

/* One answer for an unknown user, a rep, no password and a wrong one, and
 * an Argon2 verification in every case, so neither the answer nor its
 * time tells which: the lookup hands a dummy hash for anyone who may not
 * log in. */
_Static_assert(FS_LOGIN_HASH_MAX == crypto_pwhash_STRBYTES, "fs_login_check holds a hash");

int sq_login_lookup(fs_store *base, const char *name, fs_login_check *out)
{
    sq_store *s = (sq_store *)base;
    memset(out, 0, sizeof *out);
    /* Made once, on the thread that looks up (the store's): the verifier
     * only reads the copy in *out. */
    static char dummy[crypto_pwhash_STRBYTES];
    if (dummy[0] == '\0' &&
        crypto_pwhash_str_alg(dummy, "not a password", 14, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return sq__fail(s, FS_ENOMEM, "out of memory");
    sq_user u;
    int may = name != NULL && sq__user_get(s, name, &u) == 0 &&
              (u.role == FS_ROLE_MANAGER || u.role == FS_ROLE_ADMIN) &&
              sq__user_disabled(s, name) == 0;
    if (may) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(fs_replica_db(s->r), "SELECT hash FROM passwords WHERE user=?1", -1,
                               &st, NULL) == SQLITE_OK) {
            sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) > 0 &&
                (size_t)sqlite3_column_bytes(st, 0) < sizeof out->hash) {
                memcpy(out->hash, sqlite3_column_text(st, 0),
                       (size_t)sqlite3_column_bytes(st, 0) + 1);
                out->known = 1;
                out->role = u.role;
                snprintf(out->team, sizeof out->team, "%s", u.team);
            }
        }
        sqlite3_finalize(st);
    }
    if (!out->known)
        memcpy(out->hash, dummy, sizeof dummy);
    return 0;
}

int fs_login_verify(const fs_login_check *c, const char *pw, size_t pwlen, fs_role *role,
                    char team[FS_USER_NAME_MAX + 1])
{
    int ok = crypto_pwhash_str_verify(c->hash, pw ? pw : "", pw ? pwlen : 0) == 0;
    if (!ok || !c->known)
        return FS_EAUTH;
    *role = c->role;
    snprintf(team, FS_USER_NAME_MAX + 1, "%s", c->team);
    return 0;
}

int sq_login(fs_store *base, const char *name, const char *pw, size_t pwlen, fs_role *role,
             char team[FS_USER_NAME_MAX + 1])
{
    sq_store *s = (sq_store *)base;
    fs_login_check c;
    int rc = sq_login_lookup(base, name, &c);
    if (rc == 0)
        rc = fs_login_verify(&c, pw, pwlen, role, team);
    sodium_memzero(&c, sizeof c);
    if (rc == FS_EAUTH)
        return sq__fail(s, FS_EAUTH, "wrong name or password");
    return rc;
}

int sq__user_get(sq_store *s, const char *name, sq_user *u)
{
    memset(u, 0, sizeof *u);
    sqlite3_stmt *st = NULL;
    int rc = sq__stmt(s, "SELECT role, team FROM users WHERE name=?1", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        u->role = (fs_role)sqlite3_column_int(st, 0);
        snprintf(u->name, sizeof u->name, "%s", name);
        snprintf(u->team, sizeof u->team, "%s", (const char *)sqlite3_column_text(st, 1));
    } else {
        rc = src == SQLITE_DONE ? sq__fail(s, FS_ENOTFOUND, "no user %s", name)
                                : sq__dbfail(s, src, "store");
    }
    sq__done(s, st);
    return rc;
}

/* ---- users who leave ---- */

int sq__user_disabled(sq_store *s, const char *name)
{
    sqlite3_stmt *st = NULL;
    int rc = sq__stmt(s, "SELECT 1 FROM disabled_users WHERE name=?1", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    rc = src == SQLITE_ROW ? 1 : src == SQLITE_DONE ? 0 : sq__dbfail(s, src, "store");
    sq__done(s, st);
    return rc;
}

int sq_user_disable(fs_store *base, const char *name, int disabled)
{
    sq_store *s = (sq_store *)base;
    sq_user u;
    int rc = sq__user_get(s, name, &u);
    if (rc != 0)
        return rc;
    int revoked = 0;
    char detail[64] = "";
    rc = sq__tx_begin(s);
    if (rc == 0 && disabled)
        rc = sq__run(s, "INSERT OR REPLACE INTO disabled_users(name, at_ms) VALUES(?1, ?2)", NULL,
                     "ti", name, (long long)fs_replica_now_ms(s->r));
    if (rc == 0 && disabled) /* wiped at their next contact, as a revocation */
        rc = sq__run(s, "UPDATE devices SET revoked=1 WHERE user=?1 AND revoked=0", &revoked, "t",
                     name);
    if (rc == 0 && !disabled)
        rc = sq__run(s, "DELETE FROM disabled_users WHERE name=?1", NULL, "t", name);
    if (rc == 0 && disabled)
        snprintf(detail, sizeof detail, "devices_revoked=%d", revoked);
    if (rc == 0)
        rc = sq__roster_write(s, name);
    if (rc == 0)
        rc = fs_audit_append(s->audit, disabled ? "user_disable" : "user_enable", "operator", name,
                             detail);
    return sq__tx_end(s, rc);
}

int sq_user_stamp(fs_store *base, const char *name, uint8_t stamp[FS_USER_STAMP_BYTES])
{
    sq_store *s = (sq_store *)base;
    sq_user u;
    memset(stamp, 0, FS_USER_STAMP_BYTES);
    if (name == NULL || sq__user_get(s, name, &u) != 0 || sq__user_disabled(s, name) != 0)
        return sq__fail(s, FS_EAUTH, "no such user, or disabled");
    sqlite3_stmt *st = NULL;
    int rc = sq__stmt(s, "SELECT hash FROM passwords WHERE user=?1", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) > 0) {
        crypto_generichash_state h;
        char role[16];
        snprintf(role, sizeof role, "%d|", (int)u.role);
        crypto_generichash_init(&h, NULL, 0, FS_USER_STAMP_BYTES);
        crypto_generichash_update(&h, (const unsigned char *)role, strlen(role));
        crypto_generichash_update(&h, (const unsigned char *)u.team, strlen(u.team) + 1);
        crypto_generichash_update(&h, sqlite3_column_text(st, 0),
                                  (unsigned long long)sqlite3_column_bytes(st, 0));
        crypto_generichash_final(&h, stamp, FS_USER_STAMP_BYTES);
        sodium_memzero(&h, sizeof h);
    } else {
        rc = sq__fail(s, FS_EAUTH, "no password");
    }
    sq__done(s, st);
    return rc;
}
