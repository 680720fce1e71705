/*
 * The server's end of a sync session (fieldsync/sync.h): the handshake
 * through the channel, checking devices and redeeming enrollment codes
 * against the store interface (fieldsync/store.h), PUSH into the store
 * (REJECT, then ACK), PULL out of it (PURGE, then CHANGES), POKE when the
 * feed grew, flooding and refusals audited. It reaches the server's data
 * only through fs_store_* (never a backend).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fieldsync/attach.h"
#include "fieldsync/clock.h"
#include "fieldsync/enroll.h"
#include "fieldsync/error.h"
#include "fieldsync/replica_server.h"
#include "fieldsync/sync.h"
#include "sync_int.h"

struct fs_sync_server {
    fs_store *store;
    fs_channel *ch;
    fs_emit_fn emit;
    void *ctx;
    fs_buf out;
    unsigned flood_frames;    /* the most frames a device may send within a second */
    uint64_t window_start_ms; /* the second being counted (monotonic clock) */
    unsigned window_frames;   /* frames received in it */
    uint64_t seen_ms;         /* when this session last wrote "last seen" (monotonic) */
    int reported;             /* ... and what the device last reported, once it has */
    uint64_t report_seq, report_oldest_ms;
    int refusals_reported;    /* ... and its open refusals (protocol version 4 on) */
    int clock_noted;          /* ... and its own clock (version 5 on) */
    uint64_t report_refusals;
    uint32_t report_reason;
    int forked;               /* this session registered a new identity (FORK) */
    uint64_t att_bytes;       /* attachment chunk bytes received and sent (version 7 on) */
    /* group commit (fs_sync_group): answers kept until the group commits,
     * each a 4-byte length and the message's encoding; the session is on
     * its group's list while it keeps any */
    fs_sync_group *group;
    fs_buf held;
    int holding;                /* a frame of this session is being answered in the group */
    int listed;                 /* on group->held */
    struct fs_sync_server *next_held;
    char errmsg[256];
};

struct fs_sync_group {
    fs_store *store;
    void (*ended)(void *emit_ctx);
    int off;  /* the store has no group commit: sessions answer at once */
    int open; /* fs_store_group_begin's transaction is open */
    size_t bytes;     /* of the frames the open group took */
    size_t max_bytes; /* then it commits before it takes another */
    fs_sync_server *held; /* the sessions keeping answers */
};

__attribute__((format(printf, 3, 4))) static int sfail(fs_sync_server *s, int code,
                                                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

static int check_device(void *ctx, const uint8_t pk[FS_SIGN_PK_BYTES])
{
    int rc = fs_store_device_check(ctx, pk);
    if (rc == FS_EREVOKED)
        (void)fs_store_note_wipe(ctx, pk); /* the wipe order goes out all the same */
    if (rc == 0) /* READY follows, with a lease (sync health; not a sync failure) */
        (void)fs_store_device_seen(ctx, pk, 1);
    return rc;
}

/* The server's clock for READY: the one its replica stamps with. */
static uint64_t server_now(void *ctx)
{
    return fs_replica_now_ms(fs_store_replica(ctx));
}

/* READY names the device's user and team (protocol version 3 on) and the
 * user's role (version 4 on). */
static int device_user(void *ctx, const uint8_t pk[FS_SIGN_PK_BYTES], char user[FS_USER_MAX + 1],
                       char team[FS_USER_MAX + 1], uint32_t *role)
{
    fs_role r = 0;
    int rc = fs_store_device_user(ctx, pk, user, team, &r);
    *role = r == FS_ROLE_REP       ? FS_READY_ROLE_REP
            : r == FS_ROLE_MANAGER ? FS_READY_ROLE_MANAGER
            : r == FS_ROLE_ADMIN   ? FS_READY_ROLE_ADMIN
                                   : 0;
    return rc;
}

/* READY's feed epoch and dev_acked (protocol version 5 on, issue 25.2). */
static int device_feed(void *ctx, const uint8_t pk[FS_SIGN_PK_BYTES], uint8_t epoch[16],
                       uint64_t *dev_acked)
{
    return fs_store_feed_state(ctx, pk, epoch, dev_acked);
}

int fs_sync_server_new(fs_sync_server **out, fs_store *store, const fs_identity *server_id,
                       fs_emit_fn emit, void *ctx)
{
    *out = NULL;
    fs_sync_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return FS_ENOMEM;
    s->store = store;
    s->emit = emit;
    s->ctx = ctx;
    s->flood_frames = FS_SYNC_FLOOD_FRAMES;
    fs_buf_init(&s->out);
    fs_buf_init(&s->held);
    fs_channel_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.is_server = 1;
    cfg.self = server_id;
    cfg.check_device = check_device;
    cfg.enroll_device = fs_enroll_device;
    cfg.enroll_policy = fs_enroll_policy;
    cfg.device_user = device_user;
    cfg.device_feed = device_feed;
    cfg.server_now = server_now;
    cfg.ctx = store;
    cfg.lease_ms = fs_store_lease(store);
    int rc = fs_channel_new(&s->ch, &cfg);
    if (rc != 0) {
        fs_sync_server_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static void unlist(fs_sync_server *s)
{
    if (!s->listed)
        return;
    for (fs_sync_server **p = &s->group->held; *p != NULL; p = &(*p)->next_held)
        if (*p == s) {
            *p = s->next_held;
            break;
        }
    s->next_held = NULL;
    s->listed = 0;
}

/* Drops the answers s keeps, if any (their writes may be committed all
 * the same: the device, not told, pushes them again). */
static void drop_held(fs_sync_server *s)
{
    unlist(s);
    fs_buf_reset(&s->held); /* wiped */
}

void fs_sync_server_free(fs_sync_server *s)
{
    if (s == NULL)
        return;
    drop_held(s);
    fs_channel_free(s->ch);
    fs_buf_free(&s->out);
    fs_buf_free(&s->held);
    free(s);
}

const uint8_t *fs_sync_server_device(const fs_sync_server *s)
{
    return fs_channel_state_get(s->ch) == FS_CHANNEL_OPEN ? fs_channel_peer(s->ch) : NULL;
}

const char *fs_sync_server_errmsg(const fs_sync_server *s)
{
    return s->errmsg;
}

static int server_error(fs_sync_server *s, int rc);

/* Keeps m, encoded, to go out when the group commits. */
static int hold(fs_sync_server *s, const fs_msg *m)
{
    size_t at = s->held.len;
    uint8_t len[4] = {0};
    int rc = fs_buf_append(&s->held, len, sizeof len);
    if (rc == 0)
        rc = fs_channel_encode(s->ch, m, &s->held);
    if (rc != 0) {
        s->held.len = at;
        return rc;
    }
    size_t n = s->held.len - at - sizeof len;
    for (int i = 0; i < 4; i++)
        s->held.data[at + (size_t)i] = (uint8_t)(n >> (24 - 8 * i));
    if (!s->listed) {
        s->next_held = s->group->held;
        s->group->held = s;
        s->listed = 1;
    }
    return 0;
}

/* Seals and sends the answers s kept, in order (the group committed). */
static int send_held(fs_sync_server *s)
{
    int rc = 0;
    for (size_t at = 0; rc == 0 && at + 4 <= s->held.len;) {
        const uint8_t *p = s->held.data + at;
        size_t n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
        rc = fs_channel_send_encoded(s->ch, p + 4, n, &s->out);
        int frc = fs__sync_flush(&s->out, s->emit, s->ctx);
        if (rc != 0)
            rc = sfail(s, rc, "cannot send: %s", fs_strerror(rc));
        else
            rc = frc;
        at += 4 + n;
    }
    fs_buf_reset(&s->held);
    return rc;
}

/* 1 when what s sends now is kept for its group's commit. */
static int keeping(const fs_sync_server *s)
{
    return s->group != NULL && s->group->open && (s->holding || s->listed);
}

/* Seals m into s->out, or keeps it for the group's commit: the channel's
 * error as it is (FS_ETOOBIG: nothing encoded, nothing sealed). */
static int send_or_keep(fs_sync_server *s, const fs_msg *m)
{
    return keeping(s) ? hold(s, m) : fs_channel_send(s->ch, m, &s->out);
}

static int server_send(fs_sync_server *s, const fs_msg *m)
{
    if (keeping(s)) {
        if (m->type == FS_MSG_ERROR) {
            drop_held(s); /* the session ends: nothing it kept goes out */
        } else if (m->type == FS_MSG_WIPE) {
            /* the device wipes its replica once told: only after what it
             * pushed is committed */
            int listed = s->listed;
            int grc = fs_sync_group_flush(s->group);
            if (grc != 0) /* a session on the list was told and ended by the flush */
                return listed ? grc : server_error(s, grc);
        } else {
            int rc = hold(s, m);
            return rc != 0 ? sfail(s, rc, "cannot send: %s", fs_strerror(rc)) : 0;
        }
    }
    int rc = fs_channel_send(s->ch, m, &s->out);
    int frc = fs__sync_flush(&s->out, s->emit, s->ctx);
    return rc != 0 ? sfail(s, rc, "cannot send: %s", fs_strerror(rc)) : frc;
}

/* Tells the device why its session ends: ERROR with reason and its text. */
static void send_error(fs_sync_server *s, uint32_t reason)
{
    fs_msg e;
    memset(&e, 0, sizeof e);
    e.type = FS_MSG_ERROR;
    e.u.error.reason = reason;
    e.u.error.text = fs_reason_text(reason);
    e.u.error.text_len = strlen(e.u.error.text);
    server_send(s, &e);
}

/* Ends the session because the store failed; the device will retry. */
static int server_error(fs_sync_server *s, int rc)
{
    send_error(s, rc == FS_EFULL ? FS_REASON_FULL : FS_REASON_INTERNAL);
    return sfail(s, rc, "store: %s", fs_store_errmsg(s->store));
}

/* The device's refused changes still open, as its PULL says (protocol
 * version 4 on): kept when they differ from what this session last kept
 * (fs_store_device_refusals writes only a change). A failure is the
 * store's alone: the sync goes on, and the next PULL tries again. */
static void note_refusals(fs_sync_server *s, const uint8_t *pk, const fs_msg *pull)
{
    if (!pull->u.pull.has_refusals ||
        (s->refusals_reported && s->report_refusals == pull->u.pull.refusals &&
         s->report_reason == pull->u.pull.refusal_reason))
        return;
    if (fs_store_device_refusals(s->store, pk, pull->u.pull.refusals,
                                 pull->u.pull.refusal_reason) == 0) {
        s->refusals_reported = 1;
        s->report_refusals = pull->u.pull.refusals;
        s->report_reason = pull->u.pull.refusal_reason;
    }
}

/* Sync health (fs_store_device_sync): when the device was last seen and
 * what it last reported. Each is a commit of its own, which every PUSH and
 * PULL of a long sync would otherwise wait for; so a session writes "seen"
 * at most once a second, and a report only when it differs from the last. */
static void note_health(fs_sync_server *s, const uint8_t *pk, const fs_msg *pull)
{
    uint64_t now = fs_clock_mono_ms();
    if (s->seen_ms == 0 || now - s->seen_ms >= FS_SYNC_SEEN_EVERY_MS) {
        (void)fs_store_device_seen(s->store, pk, 0);
        s->seen_ms = now;
    }
    if (pull != NULL)
        note_refusals(s, pk, pull);
    /* the device's exports (version 7 on), audited (issue 20.4) */
    if (pull != NULL && pull->u.pull.nexports > 0)
        (void)fs_store_device_exports(s->store, pk, pull->u.pull.exports, pull->u.pull.nexports);
    /* the laptop's own clock (version 5 on), once a session: for the
     * dashboard, which shows a clock that is off (issue 23) */
    if (pull != NULL && pull->u.pull.has_clock && !s->clock_noted &&
        fs_store_device_clock_note(s->store, pk, pull->u.pull.wall_ms) == 0)
        s->clock_noted = 1;
    if (pull == NULL || (s->reported && s->report_seq == pull->u.pull.local_seq &&
                         s->report_oldest_ms == pull->u.pull.oldest_pending_ms))
        return;
    if (fs_store_device_reported(s->store, pk, pull->u.pull.local_seq,
                                 pull->u.pull.oldest_pending_ms) == 0) {
        s->reported = 1;
        s->report_seq = pull->u.pull.local_seq;
        s->report_oldest_ms = pull->u.pull.oldest_pending_ms;
    }
}

/* A device revoked after push (fs_store_device_revoke_after_push) whose
 * changes, up to what it said it holds in this session (local_seq), the
 * server has all: told to wipe, and the session ends (*state
 * FS_DEVICE_REVOKED). *state as fs_store_device_pushed_out. */
static int wipe_if_pushed_out(fs_sync_server *s, const uint8_t *pk, uint64_t local_seq, int *state)
{
    int rc = fs_store_device_pushed_out(s->store, pk, local_seq, state);
    if (rc != 0)
        return server_error(s, rc);
    if (*state != FS_DEVICE_REVOKED)
        return 0;
    fs_msg w;
    memset(&w, 0, sizeof w);
    w.type = FS_MSG_WIPE;
    w.u.wipe.reason = FS_REASON_REVOKED;
    rc = server_send(s, &w);
    return rc != 0 ? rc : sfail(s, FS_EREVOKED, "revoked after its last push: told to wipe");
}

static int on_push(fs_sync_server *s, const uint8_t *pk, const fs_msg *m)
{
    fs_push_result res;
    note_health(s, pk, NULL);
    /* a device that reads restamps in the ACK gets its too-far-ahead writes
     * accepted with the server's clock (issue 23); an older one, refused */
    unsigned flags =
        fs_channel_version(s->ch) >= FS_PROTO_VERSION_RESTAMP ? FS_PUSH_RESTAMP : 0u;
    /* writes this server acknowledged and lost in a restore keep their
     * clocks (issue 25.2), if the session's version can say so */
    if (m->u.push.resent && fs_channel_version(s->ch) >= FS_PROTO_VERSION_RESENT)
        flags |= FS_PUSH_RESENT;
    /* the device's feed cursor (version 9 on): a copy never sent a purge
     * is told apart from the original that was (issue 24) */
    if (m->u.push.has_cursor && fs_channel_version(s->ch) >= FS_PROTO_VERSION_PUSH_CURSOR)
        flags |= FS_PUSH_CURSOR;
    int rc = fs_store_push_flags(s->store, pk, m->u.push.first_seq, m->u.push.last_seq,
                                 m->u.push.changes, m->u.push.count, flags, m->u.push.cursor,
                                 &res);
    if (rc != 0)
        return server_error(s, rc);
    if (res.nrejects > 0) {
        fs_reject_item *items = calloc(res.nrejects, sizeof *items);
        if (items == NULL) {
            free(res.rejects);
            free(res.restamps);
            return server_error(s, FS_ENOMEM);
        }
        for (size_t i = 0; i < res.nrejects; i++) {
            const fs_change *c = &m->u.push.changes[res.rejects[i].index];
            items[i].table = c->table;
            items[i].column = c->column;
            memcpy(items[i].row, c->row, FS_ID_BYTES);
            items[i].hlc = c->version.hlc;
            items[i].reason = res.rejects[i].reason;
            items[i].text = fs_reason_text(res.rejects[i].reason);
            items[i].text_len = strlen(items[i].text);
        }
        fs_msg r;
        memset(&r, 0, sizeof r);
        r.type = FS_MSG_REJECT;
        r.u.reject.items = items;
        r.u.reject.count = res.nrejects;
        rc = server_send(s, &r);
        free(items);
    }
    free(res.rejects);
    if (rc != 0) {
        free(res.restamps);
        return rc;
    }
    /* A device revoked after push that has now pushed all it reported in
     * this session's PULL is told to wipe in place of the ACK (an ACK first
     * could end its sync before the WIPE is read). */
    int state = 0;
    if (s->reported && res.acked_seq >= s->report_seq) {
        rc = wipe_if_pushed_out(s, pk, s->report_seq, &state);
        if (rc != 0 || state == FS_DEVICE_REVOKED) {
            free(res.restamps);
            return rc;
        }
    }
    fs_msg a;
    memset(&a, 0, sizeof a);
    a.type = FS_MSG_ACK;
    a.u.ack.upto_seq = res.acked_seq;
    a.u.ack.restamps = res.restamps;
    a.u.ack.nrestamps = res.nrestamps;
    rc = server_send(s, &a);
    free(res.restamps);
    return rc;
}

/* The schema version the peer of a session knows, by its protocol version. */
static unsigned peer_schema(const fs_sync_server *s)
{
    return fs_proto_schema(fs_channel_version(s->ch));
}

/* Leaves out of cs the changes of tables and columns newer than the peer's
 * schema (its replica would refuse the whole batch), their groups with them;
 * the cursor still moves past them. */
static void drop_newer_schema(fs_changeset *cs, unsigned schema)
{
    size_t kept = 0;
    for (size_t i = 0; i < cs->count; i++) {
        fs_change *c = &cs->changes[i];
        if (!fs_schema_in_version(schema, c->table, c->column)) {
            if ((c->value.type == FS_TEXT || c->value.type == FS_BLOB) && c->value.n > 0)
                sodium_memzero((void *)(uintptr_t)c->value.p, c->value.n);
            continue;
        }
        if (cs->groups != NULL)
            cs->groups[kept] = cs->groups[i];
        cs->changes[kept++] = *c;
    }
    cs->count = kept;
}

/* Ends a pull whose next feed entry (at seq) cannot be sent in a message:
 * the device is told in words (ERROR TOO_BIG), the audit and serve's log
 * say which entry (its sequence, never its values). The field limits are
 * meant to make this impossible. */
static int refuse_entry(fs_sync_server *s, const uint8_t *pk, uint64_t seq)
{
    char detail[160];
    snprintf(detail, sizeof detail,
             "reason=%u %s: feed entry %llu does not fit in one message; the device's pull "
             "cannot pass it",
             (unsigned)FS_REASON_TOO_BIG, fs_reason_text(FS_REASON_TOO_BIG),
             (unsigned long long)seq);
    (void)fs_store_note_refusal(s->store, pk, detail); /* the session ends all the same */
    send_error(s, FS_REASON_TOO_BIG);
    return sfail(s, FS_EIO, "pull: feed entry %llu does not fit in one message",
                 (unsigned long long)seq);
}

/* Whether the device's cursor is in this feed (protocol version 5 on,
 * issue 25.2): not past its end, and the entry there is the one whose tag
 * the device holds (a tag of 0 is not known: cursors of older builds).
 * *resync is 1 when it is not: a store copied back from a backup. */
static int cursor_lost(fs_sync_server *s, const fs_msg *m, int *resync)
{
    *resync = 0;
    /* an older session cannot be told (and its PULL carries no tag) */
    if (!m->u.pull.has_tag || m->u.pull.cursor == 0 ||
        fs_channel_version(s->ch) < FS_PROTO_VERSION_EPOCH)
        return 0;
    uint64_t head = 0;
    int rc = fs_store_feed_head(s->store, &head);
    if (rc == 0 && m->u.pull.cursor > head) {
        *resync = 1;
        return 0;
    }
    /* The entry there, or what it was before compaction rewrote or dropped
     * it (issue 21.1: the feed after it still brings every cell's newest
     * change, so the cursor stays good) */
    int held = 1;
    if (rc == 0 && m->u.pull.cursor_tag != 0)
        rc = fs_store_feed_tag_held(s->store, m->u.pull.cursor, m->u.pull.cursor_tag, &held);
    if (rc == 0 && !held)
        *resync = 1;
    return rc;
}

static int on_pull(fs_sync_server *s, const uint8_t *pk, const fs_msg *m)
{
    fs_changeset *cs = NULL;
    uint64_t cursor = 0;
    int more = 0;
    size_t max = m->u.pull.max == 0 || m->u.pull.max > FS_SYNC_BATCH ? FS_SYNC_BATCH
                                                                      : m->u.pull.max;
    /* A cursor that is not in this feed is answered with a re-sync order:
     * the device pulls its scope again from 0 rather than wait, past the
     * feed's end, for entries that fall behind it. */
    int resync = 0;
    int lrc = cursor_lost(s, m, &resync);
    if (lrc != 0)
        return server_error(s, lrc);
    if (resync) {
        note_health(s, pk, m);
        fs_msg e;
        memset(&e, 0, sizeof e);
        e.type = FS_MSG_CHANGES;
        e.u.changes.more = 1;
        e.u.changes.has_tag = 1;
        e.u.changes.resync = 1;
        return server_send(s, &e);
    }
    /* Rows that left the device's scope go first, so that what follows in
     * the feed applies to a replica without them. */
    fs_purge_item *purge = NULL;
    size_t npurge = 0;
    int rc = fs_store_purges(s->store, pk, m->u.pull.cursor, FS_SYNC_BATCH, &purge, &npurge);
    if (rc != 0)
        return server_error(s, rc);
    if (peer_schema(s) < FS_SCHEMA_VERSION) { /* its decoder refuses tables it does not know */
        size_t kept = 0;
        for (size_t i = 0; i < npurge; i++)
            if (fs_schema_in_version(peer_schema(s), purge[i].table, 0))
                purge[kept++] = purge[i];
        npurge = kept;
    }
    /* Kept before the device is told: what it writes from now on under
     * these rows is written knowing they left its user's scope (issue 24). */
    if (npurge > 0)
        rc = fs_store_purges_told(s->store, pk, m->u.pull.cursor, FS_SYNC_BATCH,
                                  m->u.pull.local_seq);
    if (rc != 0) {
        free(purge);
        return server_error(s, rc);
    }
    if (npurge > 0) {
        fs_msg pm;
        memset(&pm, 0, sizeof pm);
        pm.type = FS_MSG_PURGE;
        pm.u.purge.items = purge;
        pm.u.purge.count = npurge;
        rc = server_send(s, &pm);
    }
    free(purge);
    if (rc != 0)
        return rc;
    note_health(s, pk, m);
    /* A device revoked after push is sent nothing new: told to wipe once it
     * has pushed all it holds, else an empty batch while its pushes go on. */
    int state = 0;
    rc = wipe_if_pushed_out(s, pk, m->u.pull.local_seq, &state);
    if (rc != 0 || state == FS_DEVICE_REVOKED)
        return rc;
    if (state == FS_DEVICE_REVOKE_AFTER_PUSH) {
        fs_msg e;
        memset(&e, 0, sizeof e);
        e.type = FS_MSG_CHANGES;
        e.u.changes.cursor = m->u.pull.cursor;
        e.u.changes.has_tag = m->u.pull.has_tag;
        e.u.changes.cursor_tag = m->u.pull.cursor_tag;
        return server_send(s, &e);
    }
    /* A batch is bounded by bytes as well as by count, so it fits in a
     * message with room for its envelope. Should one still not (a message
     * encodes nothing until it fits: the channel is unchanged), the batch is
     * halved until it does; a single feed entry that cannot go is told to
     * the device and audited, rather than failing every pull in silence. */
    size_t max_bytes = FS_SYNC_BATCH_BYTES;
    for (;;) {
        rc = fs_store_pull(s->store, pk, m->u.pull.cursor, max, max_bytes, &cs, &cursor, &more);
        if (rc != 0)
            return server_error(s, rc);
        if (peer_schema(s) < FS_SCHEMA_VERSION)
            drop_newer_schema(cs, peer_schema(s));
        fs_msg c;
        memset(&c, 0, sizeof c);
        /* the new cursor's tag, for a device that checks it (version 5 on) */
        if (fs_channel_version(s->ch) >= FS_PROTO_VERSION_EPOCH) {
            rc = fs_store_feed_tag(s->store, cursor, &c.u.changes.cursor_tag);
            if (rc != 0) {
                fs_changeset_free(cs);
                return server_error(s, rc);
            }
            c.u.changes.has_tag = 1;
        }
        c.type = FS_MSG_CHANGES;
        c.u.changes.cursor = cursor;
        c.u.changes.more = more;
        c.u.changes.changes = cs->changes;
        c.u.changes.count = cs->count;
        c.u.changes.groups = cs->groups; /* one owner per compressed frame */
        rc = send_or_keep(s, &c);
        uint64_t first = cs->first_seq, last = cs->last_seq;
        fs_changeset_free(cs);
        cs = NULL;
        if (rc != FS_ETOOBIG || fs_channel_state_get(s->ch) != FS_CHANNEL_OPEN)
            break;
        if (first < last && (max > 1 || max_bytes > 1)) {
            max = max > 1 ? max / 2 : 1;
            max_bytes = max_bytes > 1 ? max_bytes / 2 : 1;
            continue;
        }
        return refuse_entry(s, pk, first);
    }
    int frc = fs__sync_flush(&s->out, s->emit, s->ctx);
    return rc != 0 ? sfail(s, rc, "cannot send: %s", fs_strerror(rc)) : frc;
}

int fs_sync_server_poke(fs_sync_server *s, uint64_t cursor)
{
    if (fs_sync_server_device(s) == NULL)
        return 0;
    fs_msg m;
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_POKE;
    m.u.poke.cursor = cursor;
    return server_send(s, &m);
}

void fs_sync_server_set_flood_limit(fs_sync_server *s, unsigned frames_per_second)
{
    s->flood_frames = frames_per_second > 0 ? frames_per_second : FS_SYNC_FLOOD_FRAMES;
}

/* Counts a frame: 1 when it is one too many for the current second. */
static int flooding(fs_sync_server *s)
{
    uint64_t now = fs_clock_mono_ms();
    if (s->window_frames == 0 || now - s->window_start_ms >= 1000) {
        s->window_start_ms = now;
        s->window_frames = 0;
    }
    return ++s->window_frames > s->flood_frames;
}

/* Ends a flooding device's session with ERROR (FLOOD), audited. */
static int end_flood(fs_sync_server *s, const uint8_t *pk)
{
    char detail[128];
    snprintf(detail, sizeof detail, "reason=%u %s: over %u frames within a second",
             (unsigned)FS_REASON_FLOOD, fs_reason_text(FS_REASON_FLOOD), s->flood_frames);
    (void)fs_store_note_refusal(s->store, pk, detail); /* the session ends all the same */
    send_error(s, FS_REASON_FLOOD);
    return sfail(s, FS_ETOOBIG, "flood: more than %u frames within a second", s->flood_frames);
}

void fs_sync_server_refuse_frame(fs_sync_server *s, size_t max_frame)
{
    const uint8_t *device = fs_sync_server_device(s);
    char detail[128];
    snprintf(detail, sizeof detail, "reason=%u %s: a frame over %zu bytes",
             (unsigned)FS_REASON_TOO_BIG, fs_reason_text(FS_REASON_TOO_BIG), max_frame);
    if (device != NULL)
        (void)fs_store_note_refusal(s->store, device, detail);
    send_error(s, FS_REASON_TOO_BIG);
    sfail(s, FS_ETOOBIG, "a frame over %zu bytes", max_frame);
}

/* Audits a session the channel ended for what the peer sent. Wipes and
 * refused enrollments are audited by the store already; a peer's own ERROR
 * (m) is not a refusal. */
static void audit_refusal(fs_sync_server *s, const fs_msg *m)
{
    uint32_t reason = fs_channel_reason(s->ch);
    if (reason == FS_REASON_NONE || reason == FS_REASON_REVOKED || reason == FS_REASON_ENROLL ||
        reason == FS_REASON_INTERNAL || reason == FS_REASON_FULL ||
        (m != NULL && m->type == FS_MSG_ERROR))
        return;
    char detail[224];
    snprintf(detail, sizeof detail, "reason=%u %s: %s", (unsigned)reason, fs_reason_text(reason),
             fs_channel_errmsg(s->ch));
    (void)fs_store_note_refusal(s->store, fs_channel_peer(s->ch), detail);
}

/* Right after READY (protocol version 5 on): what the server holds of the
 * device (TIP), so a restored or copied replica knows it is a fork of it
 * before it pushes anything (issue 25.3). */
static int send_tip(fs_sync_server *s, const uint8_t *pk)
{
    fs_msg t;
    memset(&t, 0, sizeof t);
    t.type = FS_MSG_TIP;
    int rc = fs_store_device_tip(s->store, pk, &t.u.tip.acked_seq, &t.u.tip.hlc, t.u.tip.row);
    if (rc != 0)
        return server_error(s, rc);
    return server_send(s, &t);
}

/* 1 when sig is key's signature over FS_FORK_LABEL + other. */
static int fork_signed(const uint8_t sig[64], const uint8_t key[32], const uint8_t other[32])
{
    uint8_t msg[sizeof FS_FORK_LABEL - 1 + 32];
    memcpy(msg, FS_FORK_LABEL, sizeof FS_FORK_LABEL - 1);
    memcpy(msg + sizeof FS_FORK_LABEL - 1, other, 32);
    return crypto_sign_verify_detached(sig, msg, sizeof msg, key) == 0;
}

/* A restored or copied replica asks for a new identity (FORK): registered
 * for the same user when both keys signed and the device is not revoked,
 * and the session is the new device's from FORKED on; else ERROR
 * FORK_REFUSED (or AUTH for a bad signature), audited. */
static int on_fork(fs_sync_server *s, const uint8_t *pk, const fs_msg *m)
{
    uint8_t old_pk[FS_SIGN_PK_BYTES];
    memcpy(old_pk, pk, sizeof old_pk);
    if (s->forked) { /* one new identity per session: no device mints keys in a loop */
        send_error(s, FS_REASON_STATE);
        return sfail(s, FS_EMALFORMED, "fork: a second FORK in one session");
    }
    if (!fork_signed(m->u.fork.old_sig, old_pk, m->u.fork.new_pk) ||
        !fork_signed(m->u.fork.new_sig, m->u.fork.new_pk, old_pk)) {
        char detail[96];
        snprintf(detail, sizeof detail, "reason=%u %s: a new identity not signed by both keys",
                 (unsigned)FS_REASON_AUTH, fs_reason_text(FS_REASON_AUTH));
        (void)fs_store_note_refusal(s->store, old_pk, detail);
        send_error(s, FS_REASON_AUTH);
        return sfail(s, FS_EAUTH, "fork: a new identity not signed by both keys");
    }
    int rc = fs_store_device_fork(s->store, old_pk, m->u.fork.new_pk);
    if (rc == FS_EREVOKED) { /* revoked, or being revoked after push */
        char detail[160];
        snprintf(detail, sizeof detail, "reason=%u fork refused: %s", (unsigned)FS_REASON_FORK_REFUSED,
                 fs_store_errmsg(s->store));
        (void)fs_store_note_refusal(s->store, old_pk, detail);
        send_error(s, FS_REASON_FORK_REFUSED);
        return sfail(s, rc, "fork refused: %s", fs_store_errmsg(s->store));
    }
    if (rc != 0)
        return server_error(s, rc);
    rc = fs_channel_set_peer(s->ch, m->u.fork.new_pk);
    if (rc != 0)
        return sfail(s, rc, "fork: the session cannot change its device");
    s->forked = 1;
    s->reported = s->refusals_reported = 0; /* a new device: nothing reported yet */
    s->seen_ms = 0;
    (void)fs_store_device_seen(s->store, m->u.fork.new_pk, 1);
    fs_msg f;
    memset(&f, 0, sizeof f);
    f.type = FS_MSG_FORKED;
    return server_send(s, &f);
}

/* Sends ATT_NEED for hash: status and the index list. */
static int send_att_need(fs_sync_server *s, const uint8_t *hash, uint32_t status,
                         const uint32_t *idx, size_t n)
{
    fs_msg a;
    memset(&a, 0, sizeof a);
    a.type = FS_MSG_ATT_NEED;
    memcpy(a.u.att.hash, hash, FS_ATT_HASH_BYTES);
    a.u.att.status = status;
    a.u.att.idx = idx;
    a.u.att.count = n;
    return server_send(s, &a);
}

/* Attachments' bytes (protocol version 7, fieldsync/msg.h): ATT_ASK is
 * answered with what the store lacks, ATT_CHUNK stored, ATT_GET answered
 * with the chunks held and then ATT_NEED with those not. A session moves
 * FS_ATTACH_SESSION_BYTES of chunks at most; a GET asks for at most
 * FS_ATTACH_WINDOW chunks. A chunk the store refuses (not in the device's
 * scope, not the length the attachment's size gives) ends the session. */
static int on_att(fs_sync_server *s, const uint8_t *pk, const fs_msg *m)
{
    uint32_t idx[FS_ATTACH_MAX_CHUNKS];
    size_t n = 0;
    int known = 0, rc;
    switch (m->type) {
    case FS_MSG_ATT_ASK:
        rc = fs_store_att_need(s->store, pk, m->u.att.hash, idx, FS_ATTACH_MAX_CHUNKS, &n, &known);
        if (rc != 0)
            return server_error(s, rc);
        return send_att_need(s, m->u.att.hash, known ? FS_ATT_OK : FS_ATT_UNKNOWN, idx, n);
    case FS_MSG_ATT_CHUNK:
        if (s->att_bytes + m->u.att.len > FS_ATTACH_SESSION_BYTES) {
            send_error(s, FS_REASON_TOO_BIG);
            return sfail(s, FS_ETOOBIG, "attachments: over %llu bytes in one session",
                         (unsigned long long)FS_ATTACH_SESSION_BYTES);
        }
        s->att_bytes += m->u.att.len;
        rc = fs_store_att_put(s->store, pk, m->u.att.hash, m->u.att.index, m->u.att.data,
                              m->u.att.len);
        if (rc == FS_EINVAL || rc == FS_ENOTFOUND) {
            send_error(s, FS_REASON_INVALID);
            return sfail(s, rc, "attachment chunk refused: %s", fs_store_errmsg(s->store));
        }
        return rc != 0 ? server_error(s, rc) : 0;
    case FS_MSG_ATT_GET: {
        if (m->u.att.count > FS_ATTACH_WINDOW) {
            send_error(s, FS_REASON_TOO_BIG);
            return sfail(s, FS_ETOOBIG, "attachments: %zu chunks asked for at once",
                         m->u.att.count);
        }
        uint8_t *buf = malloc(FS_ATTACH_CHUNK);
        if (buf == NULL)
            return server_error(s, FS_ENOMEM);
        rc = 0;
        for (size_t i = 0; rc == 0 && i < m->u.att.count; i++) {
            size_t len = 0;
            int grc = fs_store_att_get(s->store, pk, m->u.att.hash, m->u.att.idx[i], buf, &len);
            if (grc == FS_ENOTFOUND) {
                idx[n++] = m->u.att.idx[i];
                continue;
            }
            if (grc == 0 && s->att_bytes + len > FS_ATTACH_SESSION_BYTES)
                grc = FS_ETOOBIG;
            if (grc != 0) {
                rc = grc == FS_ETOOBIG ? (send_error(s, FS_REASON_TOO_BIG),
                                          sfail(s, grc, "attachments: over the session's bytes"))
                                       : server_error(s, grc);
                break;
            }
            s->att_bytes += len;
            fs_msg c;
            memset(&c, 0, sizeof c);
            c.type = FS_MSG_ATT_CHUNK;
            memcpy(c.u.att.hash, m->u.att.hash, FS_ATT_HASH_BYTES);
            c.u.att.index = m->u.att.idx[i];
            c.u.att.data = buf;
            c.u.att.len = len;
            rc = server_send(s, &c);
        }
        sodium_memzero(buf, FS_ATTACH_CHUNK);
        free(buf);
        if (rc == 0)
            rc = send_att_need(s, m->u.att.hash, FS_ATT_OK, idx, n);
        return rc;
    }
    default:
        return 0;
    }
}

/* What a message brings the store to write, about: its values' bytes and
 * a row's worth for each change (a PUSH), its chunk (ATT_CHUNK), else its
 * frame. Not the frame's length alone: a compressed PUSH decodes to up to
 * FS_ZBATCH_MAX_RATIO times it. */
static size_t writes_bytes(const fs_msg *m, size_t frame_len)
{
    size_t n = frame_len;
    if (m->type == FS_MSG_PUSH)
        for (size_t i = 0; i < m->u.push.count; i++)
            n += 64 + m->u.push.changes[i].value.n;
    else if (m->type == FS_MSG_ATT_CHUNK)
        n += m->u.att.len;
    return n;
}

int fs_sync_server_receive(fs_sync_server *s, const uint8_t *frame, size_t len)
{
    const uint8_t *device = fs_sync_server_device(s);
    if (device != NULL && flooding(s))
        return end_flood(s, device);
    /* a handshake's writes (an enrollment) and its READY are not kept
     * in a group, nor does a group grow past its bytes: what is open is
     * committed first */
    if (fs_sync_group_open(s->group) &&
        (device == NULL || s->group->bytes >= s->group->max_bytes)) {
        int grc = fs_sync_group_flush(s->group);
        if (grc != 0)
            return sfail(s, grc, "store: %s", fs_store_errmsg(s->store));
    }
    fs_msg *m = NULL;
    int rc = fs_channel_receive(s->ch, frame, len, &s->out, &m);
    int frc = fs__sync_flush(&s->out, s->emit, s->ctx);
    if (rc != 0) {
        audit_refusal(s, m);
        fs_msg_free(m);
        drop_held(s); /* the session ends: nothing it kept goes out */
        return sfail(s, rc, "%s", fs_channel_errmsg(s->ch));
    }
    if (frc != 0) {
        fs_msg_free(m);
        return frc;
    }
    const uint8_t *pk = fs_channel_peer(s->ch);
    if (rc == 0 && m != NULL && pk != NULL && device != NULL && s->group != NULL &&
        !s->group->off) {
        if (!s->group->open) {
            int grc = fs_store_group_begin(s->store);
            if (grc == 0)
                s->group->open = 1;
            else if (grc == FS_EUNSUPPORTED)
                s->group->off = 1;
            /* else (a transaction open already): this frame's writes commit by themselves */
        }
        s->holding = s->group->open;
        if (s->group->open)
            s->group->bytes += writes_bytes(m, len);
    }
    if (device == NULL && fs_sync_server_device(s) != NULL &&
        fs_channel_version(s->ch) >= FS_PROTO_VERSION_FORK)
        rc = send_tip(s, pk); /* the session just opened: READY is out */
    if (rc == 0 && m != NULL && pk != NULL) {
        if (m->type == FS_MSG_PUSH)
            rc = on_push(s, pk, m);
        else if (m->type == FS_MSG_PULL)
            rc = on_pull(s, pk, m);
        else if (m->type == FS_MSG_FORK)
            rc = on_fork(s, pk, m);
        else if (m->type == FS_MSG_ATT_ASK || m->type == FS_MSG_ATT_CHUNK ||
                 m->type == FS_MSG_ATT_GET)
            rc = on_att(s, pk, m);
    }
    s->holding = 0;
    fs_msg_free(m);
    return rc;
}

/* ---- group commit ---- */

int fs_sync_group_new(fs_sync_group **out, fs_store *store, void (*ended)(void *emit_ctx))
{
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return FS_ENOMEM;
    (*out)->store = store;
    (*out)->ended = ended;
    (*out)->max_bytes = FS_SYNC_GROUP_MAX_BYTES;
    return 0;
}

void fs_sync_group_set_max_bytes(fs_sync_group *g, size_t bytes)
{
    g->max_bytes = bytes;
}

void fs_sync_group_free(fs_sync_group *g)
{
    if (g == NULL)
        return;
    (void)fs_sync_group_flush(g);
    free(g);
}

int fs_sync_group_open(const fs_sync_group *g)
{
    return g != NULL && g->open;
}

int fs_sync_group_flush(fs_sync_group *g)
{
    if (g == NULL || !g->open)
        return 0;
    g->open = 0;
    g->bytes = 0;
    int rc = fs_store_group_end(g->store, 1);
    /* the list is newest first; the order among sessions does not matter */
    while (g->held != NULL) {
        fs_sync_server *s = g->held;
        g->held = s->next_held;
        s->next_held = NULL;
        s->listed = 0;
        int src;
        if (rc == 0) {
            src = send_held(s);
        } else {
            fs_buf_reset(&s->held);
            src = server_error(s, rc); /* told why; the device pushes again */
        }
        if (src != 0 && g->ended != NULL)
            g->ended(s->ctx);
    }
    return rc;
}

void fs_sync_server_set_group(fs_sync_server *s, fs_sync_group *g)
{
    if (s->group != NULL && s->group != g)
        drop_held(s);
    s->group = g;
}
