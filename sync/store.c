/*
 * The server store's interface (fieldsync/store.h): each fs_store_*
 * function hands its call to the backend's operations.
 */
#include <stddef.h>
#include <stdio.h>

#include "fieldsync/error.h"
#include "fieldsync/passphrase.h"
#include "fieldsync/rules.h"
#include "fieldsync/store.h"

void fs_store_close(fs_store *s)
{
    if (s != NULL)
        s->ops->close(s);
}

const char *fs_store_errmsg(const fs_store *s)
{
    return s != NULL ? s->ops->errmsg(s) : fs_replica_errmsg(NULL);
}

fs_replica *fs_store_replica(fs_store *s)
{
    return s->ops->replica(s);
}

uint64_t fs_store_now_ms(fs_store *s)
{
    return s->ops->now_ms(s);
}

int fs_store_feed_head(fs_store *s, uint64_t *seq)
{
    return s->ops->feed_head(s, seq);
}

int fs_store_feed_state(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint8_t epoch[16],
                        uint64_t *dev_acked)
{
    return s->ops->feed_state(s, pk, epoch, dev_acked);
}

int fs_store_feed_tag(fs_store *s, uint64_t seq, uint64_t *tag)
{
    return s->ops->feed_tag(s, seq, tag);
}

int fs_store_refresh(fs_store *s)
{
    return s->ops->refresh(s);
}

int fs_store_notify_fd(fs_store *s)
{
    return s->ops->notify_fd(s);
}

int fs_store_group_begin(fs_store *s)
{
    return s->ops->group_begin != NULL ? s->ops->group_begin(s) : FS_EUNSUPPORTED;
}

int fs_store_group_end(fs_store *s, int commit)
{
    return s->ops->group_end != NULL ? s->ops->group_end(s, commit) : FS_ESTATE;
}

int fs_store_backup(fs_store *s, const char *path)
{
    return s->ops->backup(s, path);
}

int fs_store_new_epoch(fs_store *s)
{
    return s->ops->new_epoch(s);
}

int fs_store_compact_step(fs_store *s, fs_feed_compaction *c, size_t rows)
{
    return s->ops->compact_step(s, c, rows);
}

int fs_store_feed_horizon(fs_store *s, uint64_t *horizon)
{
    return s->ops->feed_horizon(s, horizon);
}

int fs_store_feed_tag_held(fs_store *s, uint64_t seq, uint64_t tag, int *held)
{
    return s->ops->feed_tag_held(s, seq, tag, held);
}

int fs_store_horizon_before(fs_store *s, uint64_t keep_ms, uint64_t *horizon)
{
    return s->ops->horizon_before(s, keep_ms, horizon);
}

void fs_store_set_lease(fs_store *s, uint64_t ms)
{
    s->ops->set_lease(s, ms);
}

uint64_t fs_store_lease(const fs_store *s)
{
    return s->ops->lease(s);
}

int fs_store_user_add(fs_store *s, const char *name, fs_role role, const char *team)
{
    return s->ops->user_add(s, name, role, team);
}

int fs_store_users(fs_store *s, int (*cb)(const char *, fs_role, const char *, void *), void *ctx)
{
    return s->ops->users(s, cb, ctx);
}

int fs_store_user_move(fs_store *s, const char *name, const char *team)
{
    return s->ops->user_move(s, name, team);
}

int fs_store_team_set(fs_store *s, const char *team, const char *setting, const char *value)
{
    return s->ops->team_set(s, team, setting, value);
}

int fs_store_user_disable(fs_store *s, const char *name, int disabled)
{
    return s->ops->user_disable(s, name, disabled);
}

int fs_store_user_stamp(fs_store *s, const char *name, uint8_t stamp[FS_USER_STAMP_BYTES])
{
    return s->ops->user_stamp(s, name, stamp);
}

int fs_store_set_password(fs_store *s, const char *name, const char *pw, size_t pwlen)
{
    return s->ops->set_password(s, name, pw, pwlen);
}

int fs_store_login(fs_store *s, const char *name, const char *pw, size_t pwlen, fs_role *role, char team[FS_USER_NAME_MAX + 1])
{
    return s->ops->login(s, name, pw, pwlen, role, team);
}

int fs_store_login_lookup(fs_store *s, const char *name, fs_login_check *out)
{
    return s->ops->login_lookup(s, name, out);
}

int fs_store_device_add(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], const char *user, const char *name)
{
    return s->ops->device_add(s, pk, user, name);
}

int fs_store_device_check(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES])
{
    return s->ops->device_check(s, pk);
}

int fs_store_device_user(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES],
                         char user[FS_USER_NAME_MAX + 1], char team[FS_USER_NAME_MAX + 1],
                         fs_role *role)
{
    return s->ops->device_user(s, pk, user, team, role);
}

int fs_store_device_revoke(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES])
{
    return s->ops->device_revoke(s, pk, 0);
}

int fs_store_device_revoke_after_push(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES])
{
    return s->ops->device_revoke(s, pk, 1);
}

int fs_store_device_pushed_out(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t local_seq,
                               int *state)
{
    return s->ops->device_pushed_out(s, pk, local_seq, state);
}

int fs_store_device_tip(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t *acked_seq,
                        uint64_t *hlc, uint8_t row[FS_ID_BYTES])
{
    return s->ops->device_tip(s, pk, acked_seq, hlc, row);
}

int fs_store_device_fork(fs_store *s, const uint8_t old_pk[FS_SIGN_PK_BYTES],
                         const uint8_t new_pk[FS_SIGN_PK_BYTES])
{
    return s->ops->device_fork(s, old_pk, new_pk);
}

int fs_store_devices(fs_store *s, int (*cb)(const fs_store_device *d, void *ctx), void *ctx)
{
    return s->ops->devices(s, cb, ctx);
}

int fs_store_device_seen(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], int granted_lease)
{
    return s->ops->device_seen(s, pk, granted_lease);
}

int fs_store_device_sync(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t *last_seen_ms, uint64_t *lease_until_ms, uint64_t *pending, uint64_t *oldest_pending_ms)
{
    return s->ops->device_sync(s, pk, last_seen_ms, lease_until_ms, pending, oldest_pending_ms);
}

int fs_store_device_reported(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t local_seq, uint64_t oldest_ms)
{
    return s->ops->device_reported(s, pk, local_seq, oldest_ms);
}

int fs_store_device_clock_note(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t wall_ms)
{
    return s->ops->device_clock_note(s, pk, wall_ms);
}

int fs_store_device_exports(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES],
                            const fs_pull_export *e, size_t n)
{
    return s->ops->device_exports != NULL ? s->ops->device_exports(s, pk, e, n) : 0;
}

int fs_store_device_clock(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], int64_t *offset_ms,
                          uint64_t *at_ms)
{
    return s->ops->device_clock(s, pk, offset_ms, at_ms);
}

int fs_store_device_refusals(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t open,
                             uint32_t reason)
{
    return s->ops->device_refusals(s, pk, open, reason);
}

int fs_store_note_wipe(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES])
{
    return s->ops->note_wipe(s, pk);
}

int fs_store_auth_flush(fs_store *s)
{
    return s->ops->auth_flush(s);
}

int fs_store_note_login_failure(fs_store *s, const char *net, const char *who,
                                const char *detail)
{
    return s->ops->note_login_failure(s, net, who, detail);
}

void fs_store_set_source(fs_store *s, const char *net)
{
    s->ops->set_source(s, net);
}

int fs_store_note_refusal(fs_store *s, const uint8_t *pk, const char *detail)
{
    return s->ops->note_refusal(s, pk, detail);
}

int fs_enroll_code_create(fs_store *s, const char *user, uint64_t ttl_ms, const uint8_t server_pk[FS_SIGN_PK_BYTES], char *code, size_t codelen)
{
    return s->ops->enroll_code_create(s, user, ttl_ms, server_pk, code, codelen);
}

int fs_enroll_code_redeem(fs_store *s, const fs_enroll_request *req, uint64_t now_ms)
{
    return s->ops->enroll_code_redeem(s, req, now_ms);
}

int fs_store_owner(fs_store *s, unsigned table, const uint8_t row[FS_ID_BYTES], char owner[FS_USER_NAME_MAX + 1])
{
    return s->ops->owner(s, table, row, owner);
}

int fs_store_push(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t first_seq, uint64_t last_seq, const fs_change *changes, size_t n, fs_push_result *out)
{
    return s->ops->push(s, device_pk, first_seq, last_seq, changes, n, 0, 0, out);
}

int fs_store_push_flags(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t first_seq,
                        uint64_t last_seq, const fs_change *changes, size_t n, unsigned flags,
                        uint64_t cursor, fs_push_result *out)
{
    return s->ops->push(s, device_pk, first_seq, last_seq, changes, n, flags, cursor, out);
}

int fs_store_pull(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t cursor, size_t max, size_t max_bytes, fs_changeset **out, uint64_t *new_cursor, int *more)
{
    return s->ops->pull(s, device_pk, cursor, max, max_bytes, out, new_cursor, more);
}

int fs_store_purges(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t cursor, size_t max, fs_row_ref **out, size_t *n)
{
    return s->ops->purges(s, device_pk, cursor, max, out, n);
}

int fs_store_purges_told(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t cursor, size_t max, uint64_t local_seq)
{
    return s->ops->purges_told(s, device_pk, cursor, max, local_seq);
}

int fs_store_manager_write(fs_store *s, const char *manager, const char *table, const uint8_t *row, const fs_cell *cells, size_t n, uint8_t out_id[FS_ID_BYTES])
{
    return s->ops->manager_write(s, manager, table, row, cells, n, out_id);
}

fs_audit *fs_store_audit(fs_store *s)
{
    return s->ops->audit(s);
}

int fs_enroll_device(void *ctx, const fs_enroll_request *req)
{
    fs_store *s = ctx;
    return fs_enroll_code_redeem(s, req, fs_store_now_ms(s));
}

int fs_enroll_code_team(fs_store *s, const fs_enroll_request *req, uint64_t now_ms,
                        char team[FS_USER_NAME_MAX + 1])
{
    return s->ops->enroll_code_team(s, req, now_ms, team);
}

int fs_enroll_policy(void *ctx, const fs_enroll_request *req, uint32_t *min_chars,
                     uint32_t *min_words, char team[FS_USER_MAX + 1])
{
    fs_store *s = ctx;
    char t[FS_USER_NAME_MAX + 1];
    fs_pass_policy pol;
    int rc = fs_enroll_code_team(s, req, fs_store_now_ms(s), t);
    if (rc == 0)
        rc = fs_team_pass_policy(fs_store_replica(s), t, &pol);
    if (rc != 0)
        return rc;
    *min_chars = pol.min_chars;
    *min_words = pol.min_words;
    snprintf(team, FS_USER_MAX + 1, "%s", t);
    return 0;
}

int fs_store_att_need(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES],
                      const uint8_t hash[32], uint32_t *missing, size_t cap, size_t *n,
                      int *known)
{
    return s->ops->att_need(s, device_pk, hash, missing, cap, n, known);
}

int fs_store_att_put(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES],
                     const uint8_t hash[32], uint32_t idx, const uint8_t *data, size_t len)
{
    return s->ops->att_put(s, device_pk, hash, idx, data, len);
}

int fs_store_att_get(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES],
                     const uint8_t hash[32], uint32_t idx, uint8_t *buf, size_t *len)
{
    return s->ops->att_get(s, device_pk, hash, idx, buf, len);
}
