/*
 * Devices of the SQLite store: enrollment, revocation, the sync health
 * a device reports (last seen, lease, pending changes), refusals audited.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fieldsync/clock.h"
#include "store_int.h"

int sq_device_add(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], const char *user_name,
                        const char *name)
{
    sq_store *s = (sq_store *)base;
    sq_user u;
    int rc = sq__user_get(s, user_name, &u);
    if (rc != 0)
        return rc;
    if (name != NULL && *name != '\0' && !sq__name_ok(name))
        return sq__fail(s, FS_EINVAL, "a device name is 1-%d printable characters", MAX_NAME);
    uint8_t id[FS_ID_BYTES];
    fs_device_id_from_pk(pk, id);
    char fp[17];
    int own = 0;
    sq__fingerprint(pk, fp);
    rc = fs_replica_begin_nested(s->r, &own); /* or inside the caller's transaction */
    if (rc == 0)
        rc = sq__run(s, "INSERT INTO devices(pk, id, user, name) VALUES(?1, ?2, ?3, ?4)", NULL,
                 "bbtt", pk, FS_SIGN_PK_BYTES, id, FS_ID_BYTES, user_name, name ? name : "");
    if (rc == 0)
        rc = fs_audit_append(s->audit, "enroll", user_name, fp, "");
    rc = fs_replica_end_nested(s->r, own, rc);
    return rc == FS_EEXIST ? sq__fail(s, rc, "the device is enrolled already") : rc;
}

int sq__device_get(sq_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], sq_device *d)
{
    memset(d, 0, sizeof *d);
    sqlite3_stmt *st = NULL;
    int rc = sq__stmt(s, "SELECT id, user, revoked, acked_seq FROM devices WHERE pk=?1", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_blob(st, 1, pk, FS_SIGN_PK_BYTES, SQLITE_STATIC);
    int src = sqlite3_step(st);
    char name[MAX_NAME + 1] = "";
    /* A device revoked after push may still connect until it has pushed. */
    if (src == SQLITE_ROW && sqlite3_column_int(st, 2) == FS_DEVICE_REVOKED) {
        rc = sq__fail(s, FS_EREVOKED, "the device is revoked");
    } else if (src == SQLITE_ROW && sqlite3_column_bytes(st, 0) == FS_ID_BYTES) {
        memcpy(d->id, sqlite3_column_blob(st, 0), FS_ID_BYTES);
        snprintf(name, sizeof name, "%s", (const char *)sqlite3_column_text(st, 1));
        d->acked = (uint64_t)sqlite3_column_int64(st, 3);
    } else {
        rc = src == SQLITE_ROW || src == SQLITE_DONE ? sq__fail(s, FS_ENOTFOUND, "unknown device")
                                                     : sq__dbfail(s, src, "store");
    }
    sq__done(s, st);
    if (rc == 0)
        rc = sq__user_get(s, name, &d->u);
    return rc;
}

int sq_device_check(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES])
{
    sq_store *s = (sq_store *)base;
    sq_device d;
    return sq__device_get(s, pk, &d);
}

int sq_note_wipe(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES])
{
    sq_store *s = (sq_store *)base;
    char fp[17];
    sq__fingerprint(pk, fp);
    return fs_audit_append(s->audit, "wipe", "server", fp, "told to wipe at its handshake");
}

/* ---- handshake failures, per network per minute (issue 20.3) ---- */

#define AUTH_MINUTE_MS 60000u

void sq_set_source(fs_store *base, const char *net)
{
    sq_store *s = (sq_store *)base;
    snprintf(s->source, sizeof s->source, "%s", net != NULL ? net : "");
}

/* Writes the slot's count, if any, and frees it. */
static int auth_minute_end(sq_store *s, struct sq_auth_minute *m)
{
    int rc = 0;
    if (m->more > 0) {
        char detail[FS_AUDIT_MAX_DETAIL];
        snprintf(detail, sizeof detail, "%u more from %s within a minute (last: %s)", m->more,
                 m->net, m->last);
        rc = fs_audit_append(s->audit, "auth_failed", m->actor,
                             m->target[0] != '\0' ? m->target : NULL, detail);
    }
    memset(m, 0, sizeof *m);
    return rc;
}

int sq_auth_flush(fs_store *base)
{
    sq_store *s = (sq_store *)base;
    int rc = 0;
    for (int i = 0; i < FS_STORE_AUTH_NETS; i++)
        if (s->auth[i].net[0] != '\0') {
            int r = auth_minute_end(s, &s->auth[i]);
            rc = rc != 0 ? rc : r;
        }
    return rc;
}

/* The first failure of a network's minute (for one actor, target and
 * reason) is written at once, the others counted; minutes that ended are
 * written first. target: NULL or "" for none. */
static int failed_minute(sq_store *s, const char *actor, const char *target, const char *net,
                         const char *clean)
{
    uint64_t now = fs_clock_mono_ms();
    if (net == NULL || net[0] == '\0')
        net = "an unknown network";
    if (target == NULL)
        target = "";
    char why[24]; /* one minute per network and reason: each kind stays visible */
    snprintf(why, sizeof why, "%.*s", (int)strcspn(clean, " "), clean);
    struct sq_auth_minute *mine = NULL, *pick = NULL;
    int rc = 0;
    for (int i = 0; i < FS_STORE_AUTH_NETS; i++) {
        struct sq_auth_minute *m = &s->auth[i];
        if (m->net[0] != '\0' && now - m->start_ms >= AUTH_MINUTE_MS) {
            int r = auth_minute_end(s, m);
            rc = rc != 0 ? rc : r;
        }
        if (m->net[0] != '\0' && strcmp(m->net, net) == 0 && strcmp(m->why, why) == 0 &&
            strcmp(m->actor, actor) == 0 && strcmp(m->target, target) == 0)
            mine = m;
        else if (pick == NULL || (m->net[0] == '\0' && pick->net[0] != '\0') ||
                 ((m->net[0] == '\0') == (pick->net[0] == '\0') && m->start_ms < pick->start_ms))
            pick = m;
    }
    if (mine != NULL) {
        mine->more++;
        snprintf(mine->last, sizeof mine->last, "%.95s", clean);
        return rc;
    }
    if (pick->net[0] != '\0') { /* every slot taken: the oldest minute ends now */
        int r = auth_minute_end(s, pick);
        rc = rc != 0 ? rc : r;
    }
    snprintf(pick->net, sizeof pick->net, "%s", net);
    snprintf(pick->actor, sizeof pick->actor, "%s", actor);
    snprintf(pick->target, sizeof pick->target, "%s", target);
    snprintf(pick->why, sizeof pick->why, "%s", why);
    pick->start_ms = now;
    char detail[FS_AUDIT_MAX_DETAIL];
    snprintf(detail, sizeof detail, "%.150s from %.63s", clean, net); /* cut: fits */
    int r = fs_audit_append(s->audit, "auth_failed", actor, target[0] != '\0' ? target : NULL,
                            detail);
    return rc != 0 ? rc : r;
}

static int auth_failed(sq_store *s, const char *clean)
{
    return failed_minute(s, "sync", NULL, s->source, clean);
}

int sq_note_login_failure(fs_store *base, const char *net, const char *who, const char *detail)
{
    sq_store *s = (sq_store *)base;
    char clean[FS_AUDIT_MAX_DETAIL];
    size_t i = 0;
    for (; detail != NULL && detail[i] != '\0' && i + 1 < sizeof clean; i++)
        clean[i] = detail[i] >= 0x20 && detail[i] < 0x7f ? detail[i] : '?';
    clean[i] = '\0';
    return failed_minute(s, "dashboard", who, net, clean);
}

int sq_note_refusal(fs_store *base, const uint8_t *pk, const char *detail)
{
    sq_store *s = (sq_store *)base;
    char fp[17], clean[FS_AUDIT_MAX_DETAIL];
    size_t i = 0;
    for (; detail != NULL && detail[i] != '\0' && i + 1 < sizeof clean; i++)
        clean[i] = detail[i] >= 0x20 && detail[i] < 0x7f ? detail[i] : '?';
    clean[i] = '\0';
    if (pk == NULL)
        return auth_failed(s, clean);
    sq_device d;
    sq__fingerprint(pk, fp);
    int rc = sq__device_get(s, pk, &d);
    return fs_audit_append(s->audit, "session_refused", rc == 0 ? d.u.name : "unknown", fp, clean);
}

int sq_device_revoke(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], int after_push)
{
    sq_store *s = (sq_store *)base;
    int changed = 0, own = 0;
    char fp[17], detail[96];
    uint64_t seen = 0, lease = 0, pending = 0, oldest = 0;
    sq__fingerprint(pk, fp);
    int rc = fs_replica_begin_nested(s->r, &own);
    if (rc == 0) /* what the device holds unsent, as it last reported */
        rc = sq_device_sync(base, pk, &seen, &lease, &pending, &oldest);
    if (rc == 0)
        rc = sq__run(s, "UPDATE devices SET revoked=?2 WHERE pk=?1", &changed, "bi", pk,
                     FS_SIGN_PK_BYTES,
                     (long long)(after_push ? FS_DEVICE_REVOKE_AFTER_PUSH : FS_DEVICE_REVOKED));
    if (rc == 0 && changed == 0)
        rc = sq__fail(s, FS_ENOTFOUND, "unknown device");
    if (after_push)
        snprintf(detail, sizeof detail, "after push: pending=%llu", (unsigned long long)pending);
    else
        snprintf(detail, sizeof detail, "discarded=%llu", (unsigned long long)pending);
    if (rc == 0)
        rc = fs_audit_append(s->audit, "revoke", "operator", fp, detail);
    return fs_replica_end_nested(s->r, own, rc);
}

int sq_device_pushed_out(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t local_seq,
                         int *state)
{
    sq_store *s = (sq_store *)base;
    *state = 0;
    /* Read first: every PULL asks, and only a device revoked after push
     * that has pushed out is written (a commit). */
    sqlite3_stmt *st = NULL;
    int src = sq__stmt(s, "SELECT revoked, acked_seq FROM devices WHERE pk=?1", &st);
    if (src != 0)
        return src;
    sqlite3_bind_blob(st, 1, pk, FS_SIGN_PK_BYTES, SQLITE_STATIC);
    int revoked = 0;
    uint64_t acked = 0;
    if ((src = sqlite3_step(st)) == SQLITE_ROW) {
        revoked = sqlite3_column_int(st, 0);
        acked = (uint64_t)sqlite3_column_int64(st, 1);
    }
    sq__done(s, st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return sq__dbfail(s, src, "store");
    if (revoked != FS_DEVICE_REVOKE_AFTER_PUSH)
        return 0;
    *state = FS_DEVICE_REVOKE_AFTER_PUSH;
    if (acked < local_seq)
        return 0; /* changes still to come */
    int changed = 0, own = 0;
    char fp[17];
    sq__fingerprint(pk, fp);
    int rc = fs_replica_begin_nested(s->r, &own);
    if (rc == 0)
        rc = sq__run(s, "UPDATE devices SET revoked=?2 WHERE pk=?1 AND revoked=?3", &changed,
                     "bii", pk, FS_SIGN_PK_BYTES, (long long)FS_DEVICE_REVOKED,
                     (long long)FS_DEVICE_REVOKE_AFTER_PUSH);
    if (rc == 0 && changed > 0)
        rc = fs_audit_append(s->audit, "revoke", "server", fp,
                             "pushed all it held, told to wipe: discarded=0");
    rc = fs_replica_end_nested(s->r, own, rc);
    if (rc == 0 && changed > 0)
        *state = FS_DEVICE_REVOKED;
    return rc;
}

int sq_device_seen(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], int granted_lease)
{
    sq_store *s = (sq_store *)base;
    uint64_t now = fs_replica_now_ms(s->r);
    if (granted_lease)
        return sq__run(s,
                   "INSERT INTO device_sync(pk, last_seen_ms, lease_until_ms) VALUES(?1, ?2, ?3)"
                   " ON CONFLICT(pk) DO UPDATE SET last_seen_ms=excluded.last_seen_ms,"
                   " lease_until_ms=excluded.lease_until_ms",
                   NULL, "bii", pk, FS_SIGN_PK_BYTES, (long long)now,
                   (long long)(now + s->lease_ms));
    return sq__run(s,
               "INSERT INTO device_sync(pk, last_seen_ms) VALUES(?1, ?2)"
               " ON CONFLICT(pk) DO UPDATE SET last_seen_ms=excluded.last_seen_ms",
               NULL, "bi", pk, FS_SIGN_PK_BYTES, (long long)now);
}

int sq_device_reported(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t local_seq,
                             uint64_t oldest_ms)
{
    sq_store *s = (sq_store *)base;
    if (local_seq > INT64_MAX || oldest_ms > INT64_MAX)
        return sq__fail(s, FS_EINVAL, "reported figures out of range");
    return sq__run(s, "UPDATE device_sync SET local_seq=?2, oldest_pending_ms=?3 WHERE pk=?1", NULL,
               "bii", pk, FS_SIGN_PK_BYTES, (long long)local_seq, (long long)oldest_ms);
}

int sq_device_sync(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t *last_seen_ms,
                         uint64_t *lease_until_ms, uint64_t *pending, uint64_t *oldest_pending_ms)
{
    sq_store *s = (sq_store *)base;
    *last_seen_ms = *lease_until_ms = *pending = *oldest_pending_ms = 0;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(fs_replica_db(s->r),
                                 "SELECT d.last_seen_ms, d.lease_until_ms, d.local_seq,"
                                 " d.oldest_pending_ms, v.acked_seq FROM device_sync d"
                                 " JOIN devices v ON v.pk = d.pk WHERE d.pk=?1",
                                 -1, &st, NULL);
    if (src != SQLITE_OK)
        return sq__dbfail(s, src, "store");
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

int sq_device_clock_note(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t wall_ms)
{
    sq_store *s = (sq_store *)base;
    uint64_t now = sq_now_ms(base);
    if (wall_ms > INT64_MAX || now > INT64_MAX)
        return sq__fail(s, FS_EINVAL, "a device clock out of range");
    int64_t offset = (int64_t)wall_ms - (int64_t)now;
    return sq__run(s, "INSERT OR REPLACE INTO device_clock(pk, offset_ms, at_ms) VALUES(?1, ?2, ?3)",
                   NULL, "bii", pk, FS_SIGN_PK_BYTES, (long long)offset, (long long)now);
}

int sq_device_exports(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], const fs_pull_export *e,
                      size_t n)
{
    sq_store *s = (sq_store *)base;
    sq_device d;
    int rc = sq__device_get(s, pk, &d);
    if (rc != 0)
        return rc;
    char fp[17], detail[128];
    sq__fingerprint(pk, fp);
    int own = 0;
    rc = fs_replica_begin_nested(s->r, &own);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        snprintf(detail, sizeof detail, "kind=%s records=%u mode=%s at=%llu", e[i].kind,
                 (unsigned)e[i].n, e[i].mode, (unsigned long long)e[i].at_ms);
        rc = fs_audit_append(s->audit, "export", d.u.name, fp, detail);
    }
    return fs_replica_end_nested(s->r, own, rc);
}

int sq_device_clock(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], int64_t *offset_ms,
                    uint64_t *at_ms)
{
    sq_store *s = (sq_store *)base;
    *offset_ms = 0;
    *at_ms = 0;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(fs_replica_db(s->r),
                                 "SELECT offset_ms, at_ms FROM device_clock WHERE pk=?1", -1, &st,
                                 NULL);
    if (src != SQLITE_OK)
        return sq__dbfail(s, src, "store");
    sqlite3_bind_blob(st, 1, pk, FS_SIGN_PK_BYTES, SQLITE_STATIC);
    if ((src = sqlite3_step(st)) == SQLITE_ROW) {
        *offset_ms = (int64_t)sqlite3_column_int64(st, 0);
        *at_ms = (uint64_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return src == SQLITE_ROW || src == SQLITE_DONE ? 0 : sq__dbfail(s, src, "store");
}

int sq_device_tip(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t *acked_seq,
                  uint64_t *hlc, uint8_t row[FS_ID_BYTES])
{
    sq_store *s = (sq_store *)base;
    *acked_seq = *hlc = 0;
    memset(row, 0, FS_ID_BYTES);
    sq_device d;
    int rc = sq__device_get(s, pk, &d);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(fs_replica_db(s->r), "SELECT hlc, row FROM device_tip WHERE pk=?1", -1,
                                 &st, NULL);
    if (src != SQLITE_OK)
        return sq__dbfail(s, src, "store");
    sqlite3_bind_blob(st, 1, pk, FS_SIGN_PK_BYTES, SQLITE_STATIC);
    src = sqlite3_step(st);
    uint64_t h = src == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
    if (src == SQLITE_ROW && sqlite3_column_bytes(st, 1) == FS_ID_BYTES)
        memcpy(row, sqlite3_column_blob(st, 1), FS_ID_BYTES);
    else
        h = 0; /* no tip to tell */
    sqlite3_finalize(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return sq__dbfail(s, src, "store");
    /* A device acknowledged before the server kept clocks has no tip: it
     * is told none, and cannot be told apart from its copies until its
     * next push (issue 25.3). */
    if (h != 0 && d.acked != 0) {
        *acked_seq = d.acked;
        *hlc = h;
    }
    return 0;
}

int sq_device_fork(fs_store *base, const uint8_t old_pk[FS_SIGN_PK_BYTES],
                   const uint8_t new_pk[FS_SIGN_PK_BYTES])
{
    sq_store *s = (sq_store *)base;
    sq_device d;
    int rc = sq__device_get(s, old_pk, &d);
    if (rc != 0)
        return rc;
    /* a device being revoked after push must push and wipe, not fork */
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(fs_replica_db(s->r), "SELECT revoked FROM devices WHERE pk=?1",
                                 -1, &st, NULL);
    if (src != SQLITE_OK)
        return sq__dbfail(s, src, "store");
    sqlite3_bind_blob(st, 1, old_pk, FS_SIGN_PK_BYTES, SQLITE_STATIC);
    src = sqlite3_step(st);
    int revoked = src == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (src != SQLITE_ROW)
        return src == SQLITE_DONE ? sq__fail(s, FS_ENOTFOUND, "unknown device")
                                  : sq__dbfail(s, src, "store");
    if (revoked != 0)
        return sq__fail(s, FS_EREVOKED, "the device is being revoked: it may not take a new identity");
    uint8_t id[FS_ID_BYTES];
    fs_device_id_from_pk(new_pk, id);
    char old_fp[17], new_fp[17], detail[64];
    sq__fingerprint(old_pk, old_fp);
    sq__fingerprint(new_pk, new_fp);
    snprintf(detail, sizeof detail, "restored or copied replica of %s", old_fp);
    int own = 0;
    rc = fs_replica_begin_nested(s->r, &own);
    if (rc == 0) /* the same name as the device it comes from */
        rc = sq__run(s,
                     "INSERT INTO devices(pk, id, user, name)"
                     " SELECT ?1, ?2, user, name FROM devices WHERE pk=?3",
                     NULL, "bbb", new_pk, FS_SIGN_PK_BYTES, id, FS_ID_BYTES, old_pk,
                     FS_SIGN_PK_BYTES);
    if (rc == 0)
        rc = fs_audit_append(s->audit, "device_fork", d.u.name, new_fp, detail);
    rc = fs_replica_end_nested(s->r, own, rc);
    return rc == FS_EEXIST ? sq__fail(s, rc, "the new key is enrolled already") : rc;
}
