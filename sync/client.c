/*
 * Sync sessions (fieldsync/sync.h): the protocol each end speaks over an open
 * channel. The client pipelines, so that it and the server work at once:
 *
 * - Pushes: up to FS_SYNC_PUSH_WINDOW batches unacknowledged. The next batch
 *   starts after the last one sent (sent_seq), not after the last one
 *   acknowledged. The server applies pushes in the order they arrive (one
 *   connection, one ordered stream) and acknowledges again a batch it has
 *   (last_seq <= what it acknowledged), so a new session starting from the
 *   replica's acked_seq resends what was lost in flight without applying
 *   anything twice.
 * - Pulls: a CHANGES with more=1 is answered with the next PULL (from that
 *   batch's cursor) before the batch is applied, so the server reads and
 *   encodes the next batch while this one is applied. The cursor chain allows
 *   one unanswered PULL; with the batch being applied that is two batches in
 *   hand at most. A PURGE for the prefetched cursor still arrives after the
 *   batch before it was applied and before the batch it precedes: the client
 *   handles frames one at a time, in order. A transport that writes frames
 *   only after fs_sync_client_receive() returns would send that PULL after
 *   the apply: it has the session hold the batch (fs_sync_client_hold_batches)
 *   and apply it with fs_sync_client_continue() once the PULL is written; a
 *   held batch is applied before the next frame is handled in any case.
 * - A POKE while a PULL is unanswered sends nothing: the server sent the
 *   POKE before it read that PULL, so the answer (and the batches it leads
 *   to) includes the news. A kick while a PULL is unanswered pulls once more
 *   when the chain ends (the news may be newer than the PULL's reading), never
 *   a second PULL for the cursor already asked for.
 *
 * Memory stays bounded: two push batches encoded, two pulled batches held.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fieldsync/attach.h"
#include "fieldsync/enroll.h"
#include "fieldsync/error.h"
#include "fieldsync/records.h"
#include "fieldsync/schema.h"
#include "fieldsync/sync.h"
#include "sync_int.h"

struct fs_sync_client {
    fs_replica *r;
    fs_identity *id;
    fs_enroll_request enroll; /* when enrolling */
    int enrolling;
    int has_pin;
    uint8_t pinned[FS_SIGN_PK_BYTES]; /* the server's key, or from the code when enrolling */
    fs_channel *ch;
    fs_emit_fn emit;
    void *ctx;
    fs_buf out;
    int open;
    int push_inflight; /* PUSH batches sent, not yet acknowledged */
    uint64_t sent_seq; /* the newest local change sent in this session */
    int pull_inflight; /* PULLs sent, not yet answered */
    int repull;        /* kicked while a PULL was unanswered: pull again after */
    int pulled;        /* the feed was pulled to its end */
    int handovers;     /* a hand-over was refused: undone once the pull is done */
    int lost_checked;  /* fs_refusals_resend_lost ran this session */
    int hold;          /* fs_sync_client_hold_batches() */
    fs_msg *held;      /* a batch whose successor was asked for, not yet applied */
    uint64_t lease_ms; /* the lease READY granted: its end minus the server's time */
    int await_tip;     /* version 5 on: nothing is pushed or pulled before TIP */
    unsigned char *fork_seed; /* a FORK sent: the new identity's seed (guarded memory) */
    int forked;        /* this session gave the replica a new identity */
    uint64_t fork_kept; /* ... keeping that many unsent changes */
    /* attachments' bytes (version 7 on), one file at a time, once the
     * records are pushed and pulled */
    int att_state;               /* ATT_IDLE, ATT_UP, ATT_DOWN, ATT_DONE */
    uint8_t att_hash[FS_ATT_HASH_BYTES]; /* the file being moved */
    uint64_t att_size;
    int att_moved;               /* a chunk of it moved in this session */
    uint64_t att_file_bytes;     /* bytes of it sent in this session */
    uint32_t att_req[FS_ATTACH_WINDOW]; /* chunks asked for (ATT_GET) */
    size_t att_nreq;
    uint8_t att_skip[16][FS_ATT_HASH_BYTES]; /* files left for another session */
    size_t att_nskip;
    fs_sync_att_stats att;
    uint64_t exports_upto; /* a PULL told the device's exports up to this one (issue 20.4) */
    char errmsg[256];
};

enum { ATT_IDLE = 0, ATT_UP, ATT_DOWN, ATT_DONE };

__attribute__((format(printf, 3, 4))) static int cfail(fs_sync_client *c, int code,
                                                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    return code;
}


/* c's channel, speaking protocol versions up to vmax (0: this build's),
 * pinned to the server's key when it was given. */
static int new_channel(fs_sync_client *c, uint32_t vmax)
{
    fs_channel_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.self = c->id;
    cfg.pinned_server_pk = c->has_pin ? c->pinned : NULL;
    cfg.vmax = vmax;
    if (c->enrolling)
        cfg.enroll = &c->enroll;
    return fs_channel_new(&c->ch, &cfg);
}

int fs_sync_client_new(fs_sync_client **out, fs_replica *r,
                       const uint8_t server_pk[FS_SIGN_PK_BYTES], const fs_enroll_request *enroll,
                       fs_emit_fn emit, void *ctx)
{
    *out = NULL;
    fs_sync_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return FS_ENOMEM;
    c->r = r;
    c->emit = emit;
    c->ctx = ctx;
    fs_buf_init(&c->out);
    if (server_pk != NULL) {
        memcpy(c->pinned, server_pk, FS_SIGN_PK_BYTES);
        c->has_pin = 1;
    }
    if (enroll != NULL) {
        c->enroll = *enroll;
        c->enrolling = 1;
    }
    int rc = fs_replica_identity(r, &c->id);
    if (rc == 0)
        rc = new_channel(c, 0);
    if (rc != 0) {
        fs_sync_client_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int fs_sync_client_limit_version(fs_sync_client *c, uint32_t vmax)
{
    if (vmax < FS_PROTO_VERSION_MIN || vmax > FS_PROTO_VERSION)
        return FS_EINVAL;
    fs_channel *old = c->ch;
    int rc = new_channel(c, vmax);
    if (rc != 0) {
        c->ch = old;
        return rc;
    }
    fs_channel_free(old);
    return 0;
}

void fs_sync_client_free(fs_sync_client *c)
{
    if (c == NULL)
        return;
    fs_channel_free(c->ch);
    fs_identity_free(c->id);
    fs_buf_free(&c->out);
    fs_msg_free(c->held);
    sodium_free(c->fork_seed);
    sodium_memzero(&c->enroll, sizeof c->enroll); /* the code's secret */
    free(c);
}

const char *fs_sync_client_errmsg(const fs_sync_client *c)
{
    return c->errmsg;
}

int fs_sync_client_start(fs_sync_client *c)
{
    int rc = fs_channel_start(c->ch, &c->out);
    if (rc == 0)
        rc = fs__sync_flush(&c->out, c->emit, c->ctx);
    return rc != 0 ? cfail(c, rc, "%s", fs_channel_errmsg(c->ch)) : 0;
}

static int send_msg(fs_sync_client *c, const fs_msg *m)
{
    int rc = fs_channel_send(c->ch, m, &c->out);
    if (rc == 0)
        rc = fs__sync_flush(&c->out, c->emit, c->ctx);
    return rc != 0 ? cfail(c, rc, "cannot send: %s", fs_strerror(rc)) : 0;
}

/* 1 if a and b come from one write: the same row at the same clock. */
static int same_write(const fs_change *a, const fs_change *b)
{
    return a->table == b->table && a->version.hlc == b->version.hlc &&
           memcmp(a->row, b->row, FS_ID_BYTES) == 0;
}

/* TEXT and BLOB bytes of a value (what bounds a batch by bytes). */
static size_t value_bytes(const fs_value *v)
{
    return v->type == FS_TEXT || v->type == FS_BLOB ? v->n : 0;
}

/* How many of cs's changes the next PUSH carries: up to FS_SYNC_BATCH
 * changes and FS_SYNC_BATCH_BYTES of values, ending at a write's boundary.
 * cs was read with a write's worth more of either (push_one), so when the
 * batch is cut the write it cuts is there whole. */
static size_t push_count(const fs_changeset *cs)
{
    size_t n = 0, bytes = 0;
    while (n < cs->count && n < FS_SYNC_BATCH) {
        size_t b = value_bytes(&cs->changes[n].value);
        if (n > 0 && (b > FS_SYNC_BATCH_BYTES || bytes > FS_SYNC_BATCH_BYTES - b))
            break;
        bytes += b;
        n++;
    }
    if (n == cs->count || cs->last_seq - cs->first_seq + 1 != cs->count)
        return n; /* everything there is (a log with gaps is sent as read) */
    size_t cut = n;
    while (n > 0 && same_write(&cs->changes[n - 1], &cs->changes[n]))
        n--;
    if (n > 0)
        return n;
    /* One write larger than a batch: it goes alone, whole. */
    n = cut;
    while (n < cs->count && same_write(&cs->changes[n - 1], &cs->changes[n]))
        n++;
    return n;
}

/* Sends one batch of the changes after sent_seq; *sent is 0 when there
 * were none. */
static int push_one(fs_sync_client *c, int *sent)
{
    *sent = 0;
    fs_changeset *cs = NULL;
    /* A batch ends at a write's boundary: the columns of one write (one row,
     * one clock) travel together, so the server never sees half a new row
     * (whose owner may be in the other half). A write has at most
     * FS__MAX_COLUMNS (32) columns of at most FS_MAX_BLOB bytes, so that
     * many more entries and bytes show the boundary, and hold the whole of
     * a write larger than a batch. Every batch ends at one, so the next
     * starts at one. */
    int rc = fs_changes_since_bytes(c->r, c->sent_seq, FS_SYNC_BATCH + 32,
                                    FS_SYNC_BATCH_BYTES + 33 * (size_t)FS_MAX_BLOB, &cs);
    if (rc != 0)
        return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
    size_t n = push_count(cs);
    /* Writes the server acknowledged before it lost them in a restore (the
     * acknowledged mark was set back from rewind_from) travel in batches of
     * their own, marked re-sent, so they keep their clocks (version 7 on).
     * rewind_from was a batch's end, so a write's boundary. */
    int resent = 0;
    if (n > 0 && fs_channel_version(c->ch) >= FS_PROTO_VERSION_RESENT) {
        fs_replica_status st;
        rc = fs_replica_status_get(c->r, &st);
        if (rc != 0) {
            fs_changeset_free(cs);
            return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
        }
        if (st.rewind_ms > 0 && cs->first_seq <= st.rewind_from) {
            resent = 1;
            if (cs->first_seq + n - 1 > st.rewind_from)
                n = (size_t)(st.rewind_from - cs->first_seq + 1);
        }
    }
    if (n > 0) {
        fs_msg m;
        memset(&m, 0, sizeof m);
        m.type = FS_MSG_PUSH;
        m.u.push.resent = resent;
        /* the replica's feed cursor (version 9 on): a copy of the laptop
         * never sent a purge is told apart from the original (issue 24) */
        if (fs_channel_version(c->ch) >= FS_PROTO_VERSION_PUSH_CURSOR) {
            fs_replica_status st;
            rc = fs_replica_status_get(c->r, &st);
            if (rc != 0) {
                fs_changeset_free(cs);
                return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
            }
            m.u.push.has_cursor = 1;
            m.u.push.cursor = st.cursor;
        }
        m.u.push.first_seq = cs->first_seq;
        m.u.push.last_seq = cs->first_seq + n - 1; /* the log's sequences have no gaps */
        m.u.push.changes = cs->changes;
        m.u.push.count = n;
        rc = send_msg(c, &m);
        if (rc == 0) {
            c->sent_seq = m.u.push.last_seq;
            c->push_inflight++;
            *sent = 1;
        }
    }
    fs_changeset_free(cs);
    return rc;
}

/* Fills the push window with batches of the changes not yet sent. */
static int push_next(fs_sync_client *c)
{
    if (!c->open || c->await_tip || c->push_inflight >= FS_SYNC_PUSH_WINDOW)
        return 0;
    if (c->push_inflight == 0) {
        /* Nothing in flight: what follows the acknowledged is unsent (this
         * also starts a session at acked_seq, and follows another process
         * that synced the replica while it was detached). */
        fs_replica_status st;
        int rc = fs_replica_status_get(c->r, &st);
        if (rc != 0)
            return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
        c->sent_seq = st.acked_seq;
    }
    int rc = 0, sent = 1;
    while (rc == 0 && sent && c->push_inflight < FS_SYNC_PUSH_WINDOW)
        rc = push_one(c, &sent);
    return rc;
}

/* Asks for the feed after cursor, whose entry has tag (0: unknown). */
static int pull_from(fs_sync_client *c, uint64_t cursor, uint64_t tag)
{
    fs_replica_status st;
    int rc = fs_replica_status_get(c->r, &st);
    /* a fresh replica's first pull: the visits' time index is made once
     * at its end (fs_replica_first_pull_end below) */
    int dropped = 0;
    if (rc == 0 && cursor == 0 && c->pull_inflight == 0)
        rc = fs_replica_first_pull_begin(c->r, &dropped);
    if (rc != 0)
        return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
    fs_msg m;
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_PULL;
    m.u.pull.cursor = cursor;
    m.u.pull.max = FS_SYNC_BATCH;
    m.u.pull.local_seq = st.last_seq; /* for the dashboard's sync health */
    m.u.pull.oldest_pending_ms = st.pending > 0 ? st.oldest_pending_ms : 0;
    m.u.pull.has_refusals = 1; /* what is still to put right (version 4 on) */
    m.u.pull.refusals = st.refused;
    m.u.pull.refusal_reason = st.refused_reason;
    m.u.pull.has_tag = 1; /* the server checks the cursor is in its feed (version 5 on) */
    m.u.pull.cursor_tag = cursor != 0 ? tag : 0;
    m.u.pull.has_clock = 1; /* the laptop's own clock, for the dashboard (version 5 on) */
    m.u.pull.wall_ms = fs_replica_wall_ms(c->r);
    /* the device's exports not yet told (version 7 on), in a PULL that no
     * other is ahead of, so the next CHANGES answers it */
    uint64_t upto = 0;
    if (c->exports_upto == 0 && c->pull_inflight == 0 &&
        fs_channel_version(c->ch) >= FS_PROTO_VERSION_EXPORT) {
        fs_export_entry e[FS_PULL_EXPORTS_MAX];
        size_t n = 0;
        if (fs_replica_exports(c->r, 1, e, FS_PULL_EXPORTS_MAX, &n) == 0) {
            for (size_t i = 0; i < n; i++) {
                fs_pull_export *x = &m.u.pull.exports[i];
                x->at_ms = e[i].at_ms;
                snprintf(x->kind, sizeof x->kind, "%s", e[i].kind);
                x->n = e[i].n;
                snprintf(x->mode, sizeof x->mode, "%s", e[i].mode);
                upto = e[i].seq;
            }
            m.u.pull.nexports = n;
        }
    }
    rc = send_msg(c, &m);
    if (rc == 0 && upto != 0)
        c->exports_upto = upto;
    if (rc == 0)
        c->pull_inflight++;
    if (c->att_state == ATT_DONE) /* what it brings may name new files */
        c->att_state = ATT_IDLE;
    return rc;
}

/* Pulls from the replica's cursor, unless a PULL is unanswered: its answer
 * leads to the end of the feed (and when every answer has been applied,
 * the replica's cursor is the newest one). */
static int pull(fs_sync_client *c)
{
    if (c->pull_inflight > 0 || !c->open || c->await_tip)
        return 0;
    fs_replica_status st;
    uint64_t tag = 0;
    int rc = fs_replica_status_get(c->r, &st);
    if (rc == 0)
        rc = fs_replica_cursor_tag(c->r, &tag);
    if (rc != 0)
        return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
    return pull_from(c, st.cursor, tag);
}

/* A hand-over the server refused is undone here (issue 25 point 6) once
 * no pulled batch is on its way or held, since an undo that needs the
 * server's value sets the cursor back, which a batch applied after it
 * would move on again; that pull then starts. */
static int undo_handovers(fs_sync_client *c)
{
    if (!c->handovers || !c->pulled || c->pull_inflight > 0 || c->held != NULL)
        return 0;
    size_t records = 0;
    int repull = 0;
    c->handovers = 0;
    int rc = fs_refusals_revert_handovers(c->r, &records, &repull);
    if (rc != 0)
        return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
    if (!repull)
        return 0;
    c->pulled = 0;
    return pull(c);
}

/* Once a session, when its pull is done (what it brought may be what
 * refused children belong to: fs_refusals_retry_parents sent them again):
 * the records the server lost that this device holds go again whole
 * (issue 25), and those a pull from 0 did not bring an hour ago and no
 * pull brought since (lost25b), then are pushed. */
static int resend_lost(fs_sync_client *c)
{
    if (c->lost_checked || !c->pulled || c->pull_inflight > 0 || c->held != NULL)
        return 0;
    c->lost_checked = 1;
    size_t records = 0, returned = 0;
    /* a pull from 0 done: what it did not bring, the server lost */
    int rc = fs_replica_held_check_pulled(c->r);
    if (rc == 0)
        rc = fs_refusals_resend_lost(c->r, FS_LOST_GRACE_MS, &records);
    /* what the server lost and no refusal named: only this device holds it */
    if (rc == 0)
        rc = fs_refusals_return_held(c->r, FS_LOST_GRACE_MS, &returned);
    if (rc != 0)
        return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
    return records + returned > 0 ? push_next(c) : 0;
}

/* Applies a pulled batch with its cursor. */
static int apply_batch(fs_sync_client *c, const fs_msg *m)
{
    /* the cursor's tag (version 5 on) is kept with the cursor; from an
     * older server the new cursor's tag is unknown (0) */
    int rc = fs_begin(c->r);
    if (rc != 0)
        return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
    rc = fs_apply_pulled(c->r, m->u.changes.changes, m->u.changes.count, m->u.changes.cursor,
                         NULL);
    /* a record refused because what it belongs to had not reached the
     * server goes again once that arrives from the server (issue 25.2) */
    size_t retried = 0;
    if (rc == 0)
        rc = fs_refusals_retry_parents(c->r, m->u.changes.changes, m->u.changes.count, &retried);
    if (rc == 0)
        rc = fs_replica_note_cursor_tag(c->r, m->u.changes.cursor,
                                        m->u.changes.has_tag ? m->u.changes.cursor_tag : 0);
    if (rc == 0)
        rc = fs_commit(c->r);
    else
        fs_rollback(c->r);
    if (rc != 0)
        return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
    /* Applying can write locally (a conflict record for a local value
     * that lost): that is a change to push like any other. */
    return push_next(c);
}

/* What a peer of the session's protocol version can decode: a client that
 * speaks an older version than this build (fs_sync_client_limit_version)
 * refuses a table or column that came later, as that version's decoder does
 * (fieldsync/schema.h), so tests see what older clients would. */
static int beyond_peer_schema(fs_sync_client *c, const fs_msg *m)
{
    unsigned schema = fs_proto_schema(fs_channel_version(c->ch));
    if (schema >= FS_SCHEMA_VERSION)
        return 0;
    for (size_t i = 0; m->type == FS_MSG_CHANGES && i < m->u.changes.count; i++)
        if (!fs_schema_in_version(schema, m->u.changes.changes[i].table,
                                  m->u.changes.changes[i].column))
            return cfail(c, FS_EMALFORMED, "change %zu names a table or column of a newer schema",
                         i);
    for (size_t i = 0; m->type == FS_MSG_PURGE && i < m->u.purge.count; i++)
        if (!fs_schema_in_version(schema, m->u.purge.items[i].table, 0))
            return cfail(c, FS_EMALFORMED, "purge %zu names a table of a newer schema", i);
    return 0;
}

/* READY names the device's user and team (protocol version 3 on): the
 * replica takes them before anything is pushed (fs_replica_adopt_user). */
static int adopt_user(fs_sync_client *c, const fs_msg *m)
{
    char user[FS_USER_MAX + 1], team[FS_USER_MAX + 1];
    if (m->u.ready.user == NULL || m->u.ready.user_len > FS_USER_MAX ||
        m->u.ready.team_len > FS_USER_MAX)
        return 0;
    memcpy(user, m->u.ready.user, m->u.ready.user_len);
    user[m->u.ready.user_len] = '\0';
    if (m->u.ready.team_len > 0)
        memcpy(team, m->u.ready.team, m->u.ready.team_len);
    team[m->u.ready.team_len] = '\0';
    int rc = fs_replica_adopt_user(c->r, user, team, NULL, 0, NULL);
    /* a name this replica cannot keep (not printable) is not the device's
     * user: the session goes on without it */
    if (rc == FS_EINVAL)
        return 0;
    /* the role (version 4 on) is what the CLI checks writes for; an admin's
     * device records nothing of a rep's or manager's (a rep's rules then) */
    const char *role = m->u.ready.role == FS_READY_ROLE_MANAGER ? "manager"
                       : m->u.ready.role != 0                   ? "rep"
                                                                : NULL;
    char had[16];
    if (rc == 0 && role != NULL &&
        (fs_replica_setting(c->r, "role", had, sizeof had) != 0 || strcmp(had, role) != 0))
        rc = fs_replica_set_setting(c->r, "role", role);
    return rc;
}

/* READY's feed epoch and dev_acked (version 5 on, issue 25.2): a feed of
 * another epoch is pulled again from 0, and changes the server no longer
 * holds (it was restored from a backup) are pushed again. Both are
 * recorded for status and the daemon's log (fs_replica_status). */
static int restored_server(fs_sync_client *c, const fs_msg *m)
{
    int resynced = 0, rewound = 0;
    int rc = fs_replica_note_feed_epoch(c->r, m->u.ready.epoch, &resynced);
    if (rc == 0)
        rc = fs_replica_rewind_acked(c->r, m->u.ready.dev_acked, &rewound);
    if (rc == 0 && rewound) {
        c->sent_seq = m->u.ready.dev_acked;
        /* A server that lost what it acknowledged lost what it fed since
         * too: the entries the cursor passed may not be the ones there now
         * (only the entry at the cursor is checked). */
        if (!resynced)
            rc = fs_replica_resync(c->r, FS_RESYNC_LOST);
    }
    if (rc != 0)
        return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
    return 0;
}

/* Signs FS_FORK_LABEL + other with sk. */
static void fork_sign(uint8_t sig[64], const unsigned char *sk, const uint8_t other[32])
{
    uint8_t msg[sizeof FS_FORK_LABEL - 1 + 32];
    memcpy(msg, FS_FORK_LABEL, sizeof FS_FORK_LABEL - 1);
    memcpy(msg + sizeof FS_FORK_LABEL - 1, other, 32);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
}

/* TIP (version 5 on): what the server holds of this device. A replica that
 * does not hold it (restored from a backup, or a copy that wrote on its
 * own) asks for a new identity before it pushes anything, so that none of
 * its writes is taken for a replay and the server sends it the old
 * device's writes (issue 25.3); else the session goes on. */
static int on_tip(fs_sync_client *c, const fs_msg *m)
{
    if (!c->await_tip || c->fork_seed != NULL)
        return cfail(c, FS_EMALFORMED, "the server sent TIP out of turn");
    int fork = 0;
    int rc = fs_replica_is_fork(c->r, m->u.tip.acked_seq, m->u.tip.hlc, m->u.tip.row, &fork);
    if (rc != 0)
        return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
    if (!fork) {
        c->await_tip = 0;
        rc = push_next(c);
        return rc == 0 ? pull(c) : rc;
    }
    c->fork_seed = sodium_malloc(FS_SIGN_SEED_BYTES);
    if (c->fork_seed == NULL)
        return cfail(c, FS_ENOMEM, "out of memory");
    randombytes_buf(c->fork_seed, FS_SIGN_SEED_BYTES);
    fs_identity *nid = NULL;
    rc = fs_identity_from_seed(&nid, c->fork_seed);
    if (rc != 0)
        return cfail(c, rc, "cannot make a new device identity");
    fs_msg f;
    memset(&f, 0, sizeof f);
    f.type = FS_MSG_FORK;
    memcpy(f.u.fork.new_pk, nid->pk, 32);
    fork_sign(f.u.fork.old_sig, c->id->sk, nid->pk);
    fork_sign(f.u.fork.new_sig, nid->sk, c->id->pk);
    fs_identity_free(nid);
    return send_msg(c, &f);
}

/* FORKED: the server registered the new identity; the replica takes it
 * (fs_replica_fork) and the session goes on as the new device, from
 * cursor 0, its unsent changes pushed under the new id. */
static int on_forked(fs_sync_client *c)
{
    if (c->fork_seed == NULL)
        return cfail(c, FS_EMALFORMED, "the server sent FORKED, but no new identity was asked for");
    fs_identity *nid = NULL;
    int rc = fs_replica_fork(c->r, c->fork_seed, &c->fork_kept);
    if (rc != 0)
        return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
    rc = fs_identity_from_seed(&nid, c->fork_seed);
    if (rc != 0)
        return cfail(c, rc, "cannot make the new device identity");
    fs_identity_free(c->id);
    c->id = nid;
    sodium_free(c->fork_seed);
    c->fork_seed = NULL;
    c->forked = 1;
    c->await_tip = 0;
    c->sent_seq = 0;
    rc = push_next(c);
    return rc == 0 ? pull(c) : rc;
}

/* ---- attachments' bytes (protocol version 7, fieldsync/msg.h) ---- */

struct att_pick {
    fs_sync_client *c;
    int found, dir;
    uint8_t hash[FS_ATT_HASH_BYTES];
    uint64_t size;
};

static int att_skipped(const fs_sync_client *c, const uint8_t *hash)
{
    for (size_t i = 0; i < c->att_nskip; i++)
        if (memcmp(c->att_skip[i], hash, FS_ATT_HASH_BYTES) == 0)
            return 1;
    return 0;
}

/* The first file with bytes to move: held here and not yet known to be
 * held by the server (up), or not held here (down). */
static int att_pick_cb(const fs_attachment *a, void *ctx)
{
    struct att_pick *p = ctx;
    if (att_skipped(p->c, a->hash))
        return 0;
    int sent = 1;
    if (a->held && fs_attach_sent(p->c->r, a->hash, &sent) != 0)
        return FS_EDB;
    if (a->held && sent)
        return 0;
    p->found = 1;
    p->dir = a->held ? ATT_UP : ATT_DOWN;
    memcpy(p->hash, a->hash, FS_ATT_HASH_BYTES);
    p->size = a->size;
    return 1;
}

/* Leaves the current file for another session. */
static void att_skip(fs_sync_client *c)
{
    if (c->att_nskip < sizeof c->att_skip / sizeof c->att_skip[0])
        memcpy(c->att_skip[c->att_nskip++], c->att_hash, FS_ATT_HASH_BYTES);
    c->att_state = ATT_IDLE;
}

static int att_over_budget(const fs_sync_client *c)
{
    return c->att.sent_bytes + c->att.recv_bytes + FS_ATTACH_CHUNK > FS_ATTACH_SESSION_BYTES;
}

static int att_ask(fs_sync_client *c)
{
    fs_msg m;
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_ATT_ASK;
    memcpy(m.u.att.hash, c->att_hash, FS_ATT_HASH_BYTES);
    return send_msg(c, &m);
}

/* Asks for the next chunks of the file being fetched; 1 when none is
 * missing (the file is whole here). */
static int att_get_next(fs_sync_client *c)
{
    size_t n = 0, total = 0;
    int rc = fs_attach_missing(c->r, c->att_hash, c->att_size, c->att_req, FS_ATTACH_WINDOW, &n,
                               &total);
    if (rc != 0)
        return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
    if (total == 0)
        return 1;
    if (att_over_budget(c)) {
        c->att_state = ATT_DONE; /* the next session goes on */
        return 0;
    }
    c->att_nreq = n;
    fs_msg m;
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_ATT_GET;
    memcpy(m.u.att.hash, c->att_hash, FS_ATT_HASH_BYTES);
    m.u.att.idx = c->att_req;
    m.u.att.count = n;
    c->att_state = ATT_DOWN;
    return send_msg(c, &m);
}

static int att_next(fs_sync_client *c);

/* A fetched file is whole: checked against its hash (dropped when it is
 * not that file, and left for another session), then the next one. */
static int att_fetched(fs_sync_client *c)
{
    int ok = 0;
    int rc = fs_attach_verify(c->r, c->att_hash, c->att_size, &ok);
    if (rc == 0 && ok)
        rc = fs_attach_mark_sent(c->r, c->att_hash); /* the server holds it */
    if (rc != 0)
        return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
    if (ok && c->att_moved)
        c->att.files_received++;
    if (!ok)
        att_skip(c);
    c->att_state = ATT_IDLE;
    return att_next(c);
}

/* Starts moving the next file's bytes once the records are pushed and
 * pulled; ATT_DONE when there is none left for this session. */
static int att_next(fs_sync_client *c)
{
    if (c->att_state != ATT_IDLE || c->r == NULL || !c->open || c->await_tip ||
        fs_channel_version(c->ch) < FS_PROTO_VERSION_ATTACH || c->push_inflight > 0 ||
        c->pull_inflight > 0 || !c->pulled || c->held != NULL || c->fork_seed != NULL)
        return 0;
    fs_replica_status st;
    int rc = fs_replica_status_get(c->r, &st);
    if (rc != 0)
        return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
    if (st.pending > 0) /* the attachment rows first: the server checks the bytes by them */
        return 0;
    if (att_over_budget(c) || c->att_nskip >= sizeof c->att_skip / sizeof c->att_skip[0]) {
        c->att_state = ATT_DONE;
        return 0;
    }
    struct att_pick p;
    memset(&p, 0, sizeof p);
    p.c = c;
    rc = fs_attach_each(c->r, NULL, att_pick_cb, &p);
    if (rc != 0)
        return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
    if (!p.found) {
        c->att_state = ATT_DONE;
        /* the bytes of files no live row names any more (deleted, or
         * purged with a customer handed away) leave this device too */
        rc = fs_attach_gc(c->r, NULL);
        return rc != 0 ? cfail(c, rc, "%s", fs_replica_errmsg(c->r)) : 0;
    }
    memcpy(c->att_hash, p.hash, FS_ATT_HASH_BYTES);
    c->att_size = p.size;
    c->att_moved = 0;
    c->att_file_bytes = 0;
    if (p.dir == ATT_UP) {
        c->att_state = ATT_UP;
        return att_ask(c);
    }
    rc = att_get_next(c);
    return rc == 1 ? att_fetched(c) : rc;
}

/* ATT_NEED: while sending, the chunks the server lacks (sent, up to a
 * window, then asked again); while fetching, the end of a GET's answer. */
static int on_att_need(fs_sync_client *c, const fs_msg *m)
{
    if ((c->att_state != ATT_UP && c->att_state != ATT_DOWN) ||
        memcmp(m->u.att.hash, c->att_hash, FS_ATT_HASH_BYTES) != 0)
        return cfail(c, FS_EMALFORMED, "the server sent ATT_NEED out of turn");
    if (c->att_state == ATT_DOWN) {
        if (m->u.att.status != FS_ATT_OK || m->u.att.count > 0) {
            att_skip(c); /* the server lacks them too: another session */
            return att_next(c);
        }
        int rc = att_get_next(c);
        return rc == 1 ? att_fetched(c) : rc;
    }
    if (m->u.att.status != FS_ATT_OK) { /* its row is not there (yet) */
        att_skip(c);
        return att_next(c);
    }
    if (m->u.att.count > 0 && c->att_file_bytes >= 2 * c->att_size) {
        /* sent twice over and still lacking: the server drops what it
         * was sent (not the file its row names); no loop */
        att_skip(c);
        return att_next(c);
    }
    if (m->u.att.count == 0) {
        int rc = fs_attach_mark_sent(c->r, c->att_hash);
        if (rc != 0)
            return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
        if (c->att_moved)
            c->att.files_sent++;
        c->att_state = ATT_IDLE;
        return att_next(c);
    }
    uint8_t *buf = sodium_malloc(FS_ATTACH_CHUNK); /* the file's bytes: wiped when freed */
    if (buf == NULL)
        return cfail(c, FS_ENOMEM, "out of memory");
    int rc = 0;
    size_t sent = 0;
    for (size_t i = 0; rc == 0 && i < m->u.att.count && sent < FS_ATTACH_WINDOW; i++) {
        uint32_t idx = m->u.att.idx[i];
        size_t len = 0, want = fs_attach_chunk_len(c->att_size, idx);
        if (want == 0) {
            rc = cfail(c, FS_EMALFORMED, "the server asked for chunk %u of %u", idx,
                       fs_attach_nchunks(c->att_size));
            break;
        }
        if (att_over_budget(c))
            break;
        rc = fs_attach_get_chunk(c->r, c->att_hash, idx, buf, &len);
        if (rc == 0 && len != want)
            rc = FS_EINTEGRITY;
        if (rc != 0) {
            rc = cfail(c, rc, "reading an attachment: %s", fs_replica_errmsg(c->r));
            break;
        }
        fs_msg k;
        memset(&k, 0, sizeof k);
        k.type = FS_MSG_ATT_CHUNK;
        memcpy(k.u.att.hash, c->att_hash, FS_ATT_HASH_BYTES);
        k.u.att.index = idx;
        k.u.att.data = buf;
        k.u.att.len = len;
        rc = send_msg(c, &k);
        if (rc == 0) {
            sent++;
            c->att_moved = 1;
            c->att.sent_chunks++;
            c->att.sent_bytes += len;
            c->att_file_bytes += len;
        }
    }
    sodium_free(buf);
    if (rc != 0)
        return rc;
    if (sent == 0) { /* the session's budget is spent: the next one goes on */
        c->att_state = ATT_DONE;
        return 0;
    }
    return att_ask(c);
}

/* ATT_CHUNK: one of the chunks asked for, of the length its index has. */
static int on_att_chunk(fs_sync_client *c, const fs_msg *m)
{
    if (c->att_state != ATT_DOWN || memcmp(m->u.att.hash, c->att_hash, FS_ATT_HASH_BYTES) != 0)
        return cfail(c, FS_EMALFORMED, "the server sent ATT_CHUNK out of turn");
    int asked = 0;
    for (size_t i = 0; i < c->att_nreq; i++)
        if (c->att_req[i] == m->u.att.index)
            asked = 1;
    if (!asked || m->u.att.len != fs_attach_chunk_len(c->att_size, m->u.att.index))
        return cfail(c, FS_EMALFORMED, "the server sent chunk %u not asked for or of %zu bytes",
                     m->u.att.index, m->u.att.len);
    int rc = fs_attach_put_chunk(c->r, c->att_hash, m->u.att.index, m->u.att.data, m->u.att.len);
    if (rc != 0)
        return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
    c->att_moved = 1;
    c->att.recv_chunks++;
    c->att.recv_bytes += m->u.att.len;
    return 0;
}

/* Handles m; *held set when the session keeps it (a batch to apply later). */
static int client_handle(fs_sync_client *c, fs_msg *m, int *held)
{
    int rc = 0;
    if (c->r == NULL) /* detached: the transport attaches before it delivers */
        return cfail(c, FS_ESTATE, "a message arrived while no replica is attached");
    rc = beyond_peer_schema(c, m);
    if (rc != 0)
        return rc;
    switch (m->type) {
    case FS_MSG_READY:
        c->open = 1;
        c->lease_ms = m->u.ready.lease_expires_ms > m->u.ready.server_time_ms
                          ? m->u.ready.lease_expires_ms - m->u.ready.server_time_ms
                          : 0;
        /* the server's time first: the lease and every later write count
         * on the corrected clock (issue 23) */
        rc = fs_replica_note_server_time(c->r, m->u.ready.server_time_ms);
        if (rc == 0)
            rc = fs_replica_renew_lease(c->r, m->u.ready.server_time_ms,
                                        m->u.ready.lease_expires_ms);
        if (rc == 0)
            rc = adopt_user(c, m);
        if (rc == 0 && m->u.ready.has_epoch)
            rc = restored_server(c, m);
        if (rc == 0)
            rc = fs_replica_purge_due(c->r, NULL);
        if (rc != 0)
            return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
        /* from version 5 the server says next what it holds of this
         * device: nothing goes before that (a fork's writes are no replays) */
        c->await_tip = fs_channel_version(c->ch) >= FS_PROTO_VERSION_FORK;
        rc = push_next(c);
        if (rc == 0)
            rc = pull(c);
        break;
    case FS_MSG_TIP:
        rc = on_tip(c, m);
        break;
    case FS_MSG_FORKED:
        rc = on_forked(c);
        break;
    case FS_MSG_ACK:
        /* One ACK per PUSH, in order. With two in flight, the first ACK's
         * upto_seq is below sent_seq; a server that had more already (an
         * ACK lost with an earlier session) acknowledges beyond it. */
        if (c->push_inflight > 0)
            c->push_inflight--;
        /* Writes the server restamped (version 4 on, issue 23) take the
         * server's clock in the transaction that records the ACK: were it
         * lost, the server would acknowledge the batch again without them. */
        rc = fs_begin(c->r);
        if (rc == 0 && m->u.ack.nrestamps > 0)
            rc = fs_replica_restamp(c->r, m->u.ack.restamps, m->u.ack.nrestamps);
        if (rc == 0)
            rc = fs_replica_mark_acked(c->r, m->u.ack.upto_seq);
        if (rc == 0)
            rc = fs_commit(c->r);
        else
            fs_rollback(c->r);
        if (rc == 0) /* a purge that waited for this device's work to be sent */
            rc = fs_replica_purge_due(c->r, NULL);
        if (rc != 0)
            return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
        if (m->u.ack.upto_seq > c->sent_seq)
            c->sent_seq = m->u.ack.upto_seq;
        rc = push_next(c);
        break;
    case FS_MSG_REJECT:
        for (size_t i = 0; rc == 0 && i < m->u.reject.count; i++) {
            const fs_reject_item *it = &m->u.reject.items[i];
            rc = fs_replica_record_refusal(c->r, it->table, it->row, it->column, it->hlc,
                                           it->reason, it->text, it->text_len);
            c->handovers |= fs_record_is_handover(it->table, it->column);
        }
        if (rc != 0)
            return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
        rc = undo_handovers(c);
        break;
    case FS_MSG_CHANGES:
        if (c->pull_inflight > 0)
            c->pull_inflight--;
        if (c->exports_upto != 0) { /* the server has them: audited */
            rc = fs_replica_exports_sent(c->r, c->exports_upto);
            c->exports_upto = 0;
            if (rc != 0)
                return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
        }
        if (m->u.changes.resync) {
            /* The server's feed is not the one the cursor is in (copied back
             * from a backup): pull the scope again from 0. The order answers
             * the first PULL of a chain (later ones name cursors the server
             * gave), so no other PULL is unanswered. */
            rc = fs_replica_resync(c->r, FS_RESYNC_CURSOR);
            if (rc != 0)
                return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
            c->pulled = 0;
            rc = pull_from(c, 0, 0);
            break;
        }
        /* The next PULL goes first, from this batch's cursor (the replica's
         * moves when the batch is applied): the server reads the next batch
         * while this one is applied. */
        if (m->u.changes.more || c->repull) {
            c->repull = 0;
            rc = pull_from(c, m->u.changes.cursor, m->u.changes.cursor_tag);
            if (rc != 0)
                return rc;
            if (c->hold) { /* applied once the PULL is on its way */
                c->held = m;
                *held = 1;
                return 0;
            }
        } else if (c->pull_inflight == 0) {
            c->pulled = 1;
        }
        rc = apply_batch(c, m);
        if (rc == 0 && c->pulled) { /* the feed's end: the index a first pull left out */
            rc = fs_replica_first_pull_end(c->r);
            if (rc != 0)
                return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
        }
        if (rc == 0)
            rc = undo_handovers(c);
        if (rc == 0)
            rc = resend_lost(c);
        break;
    case FS_MSG_POKE:
        /* An unanswered PULL was read after this POKE was sent: its answers
         * bring the news. Else pull now. */
        c->pulled = 0;
        rc = pull(c);
        break;
    case FS_MSG_PURGE:
        /* Kept until everything this device wrote is acknowledged: it
         * never purges unsent work (issue 24). */
        rc = fs_replica_purge_when_sent(c->r, m->u.purge.items, m->u.purge.count);
        if (rc != 0)
            return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
        break;
    case FS_MSG_ATT_NEED:
        rc = on_att_need(c, m);
        break;
    case FS_MSG_ATT_CHUNK:
        rc = on_att_chunk(c, m);
        break;
    default:
        break; /* BYE, ERROR and WIPE end the channel; it reports them */
    }
    if (rc == 0 && *held == 0) /* records in and out: attachments' bytes next */
        rc = att_next(c);
    return rc;
}

void fs_sync_client_hold_batches(fs_sync_client *c, int on)
{
    c->hold = on;
}

int fs_sync_client_continue(fs_sync_client *c)
{
    if (c->held == NULL)
        return 0;
    if (c->r == NULL)
        return cfail(c, FS_ESTATE, "no replica is attached");
    fs_msg *m = c->held;
    c->held = NULL;
    int rc = apply_batch(c, m);
    fs_msg_free(m);
    if (rc == 0)
        rc = att_next(c);
    return rc == 0 ? 1 : rc;
}

int fs_sync_client_receive(fs_sync_client *c, const uint8_t *frame, size_t len)
{
    int rc = fs_sync_client_continue(c); /* a held batch comes before what follows it */
    if (rc < 0)
        return rc;
    fs_msg *m = NULL;
    rc = fs_channel_receive(c->ch, frame, len, &c->out, &m);
    int frc = fs__sync_flush(&c->out, c->emit, c->ctx);
    if (rc == 0 && frc != 0)
        rc = frc;
    int held = 0;
    if (rc == 0 && m != NULL)
        rc = client_handle(c, m, &held);
    else if (rc != 0)
        cfail(c, rc, "%s", fs_channel_errmsg(c->ch));
    if (!held)
        fs_msg_free(m);
    return rc;
}

int fs_sync_client_kick(fs_sync_client *c)
{
    if (c->r == NULL)
        return cfail(c, FS_ESTATE, "no replica is attached");
    c->pulled = 0;
    if (c->att_state == ATT_DONE)
        c->att_state = ATT_IDLE;
    if (c->pull_inflight > 0 && c->open)
        c->repull = 1; /* the unanswered PULL may predate the news */
    int rc = push_next(c);
    return rc == 0 ? pull(c) : rc;
}

void fs_sync_client_attach(fs_sync_client *c, fs_replica *r)
{
    c->r = r;
}

int fs_sync_client_open(const fs_sync_client *c)
{
    return c->open;
}

uint64_t fs_sync_client_lease_ms(const fs_sync_client *c)
{
    return c->lease_ms;
}

int fs_sync_client_forked(const fs_sync_client *c, uint64_t *kept)
{
    if (kept != NULL)
        *kept = c->fork_kept;
    return c->forked;
}

int fs_sync_client_in_sync(const fs_sync_client *c)
{
    fs_replica_status st;
    if (!c->open || c->r == NULL || c->await_tip || c->push_inflight > 0 || c->pull_inflight > 0 || !c->pulled ||
        c->held != NULL || fs_replica_status_get(c->r, &st) != 0)
        return 0;
    if (fs_channel_version(c->ch) >= FS_PROTO_VERSION_ATTACH && c->att_state != ATT_DONE)
        return 0;
    return st.pending == 0;
}

int fs_sync_client_bye(fs_sync_client *c)
{
    int rc = fs_channel_bye(c->ch, &c->out);
    int frc = fs__sync_flush(&c->out, c->emit, c->ctx);
    c->open = 0;
    return rc != 0 ? rc : frc;
}


void fs_sync_client_att_stats(const fs_sync_client *c, fs_sync_att_stats *out)
{
    *out = c->att;
}
