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

#include "fieldsync/clock.h"
#include "fieldsync/enroll.h"
#include "fieldsync/error.h"
#include "fieldsync/sync.h"

/* ---- client ---- */

struct fs_sync_client {
    fs_replica *r;
    fs_identity *id;
    fs_enroll_request enroll; /* when enrolling */
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
    int hold;          /* fs_sync_client_hold_batches() */
    fs_msg *held;      /* a batch whose successor was asked for, not yet applied */
    uint64_t lease_ms; /* the lease READY granted: its end minus the server's time */
    char errmsg[256];
};

__attribute__((format(printf, 3, 4))) static int cfail(fs_sync_client *c, int code,
                                                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

static int flush(fs_buf *out, fs_emit_fn emit, void *ctx)
{
    int rc = 0;
    if (out->len > 0)
        rc = emit(ctx, out->data, out->len);
    fs_buf_reset(out);
    return rc;
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
    int rc = fs_replica_identity(r, &c->id);
    if (rc == 0) {
        fs_channel_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.self = c->id;
        cfg.pinned_server_pk = server_pk;
        if (enroll != NULL) {
            c->enroll = *enroll;
            cfg.enroll = &c->enroll;
        }
        rc = fs_channel_new(&c->ch, &cfg);
    }
    if (rc != 0) {
        fs_sync_client_free(c);
        return rc;
    }
    *out = c;
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
        rc = flush(&c->out, c->emit, c->ctx);
    return rc != 0 ? cfail(c, rc, "%s", fs_channel_errmsg(c->ch)) : 0;
}

static int send_msg(fs_sync_client *c, const fs_msg *m)
{
    int rc = fs_channel_send(c->ch, m, &c->out);
    if (rc == 0)
        rc = flush(&c->out, c->emit, c->ctx);
    return rc != 0 ? cfail(c, rc, "cannot send: %s", fs_strerror(rc)) : 0;
}

/* 1 if a and b come from one write: the same row at the same clock. */
static int same_write(const fs_change *a, const fs_change *b)
{
    return a->table == b->table && a->version.hlc == b->version.hlc &&
           memcmp(a->row, b->row, FS_ID_BYTES) == 0;
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
     * FS__MAX_COLUMNS columns, so that many more entries show the boundary.
     * Every batch ends at one, so the next starts at one. */
    int rc = fs_changes_since(c->r, c->sent_seq, FS_SYNC_BATCH + 32, &cs);
    if (rc != 0)
        return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
    size_t n = cs->count;
    if (n > FS_SYNC_BATCH && cs->last_seq - cs->first_seq + 1 == cs->count) {
        n = FS_SYNC_BATCH;
        while (n > 1 && same_write(&cs->changes[n - 1], &cs->changes[n]))
            n--;
    }
    if (n > 0) {
        fs_msg m;
        memset(&m, 0, sizeof m);
        m.type = FS_MSG_PUSH;
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
    if (!c->open || c->push_inflight >= FS_SYNC_PUSH_WINDOW)
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

/* Asks for the feed after cursor. */
static int pull_from(fs_sync_client *c, uint64_t cursor)
{
    fs_replica_status st;
    int rc = fs_replica_status_get(c->r, &st);
    if (rc != 0)
        return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
    fs_msg m;
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_PULL;
    m.u.pull.cursor = cursor;
    m.u.pull.max = FS_SYNC_BATCH;
    m.u.pull.local_seq = st.last_seq; /* for the dashboard's sync health */
    m.u.pull.oldest_pending_ms = st.pending > 0 ? st.oldest_pending_ms : 0;
    rc = send_msg(c, &m);
    if (rc == 0)
        c->pull_inflight++;
    return rc;
}

/* Pulls from the replica's cursor, unless a PULL is unanswered: its answer
 * leads to the end of the feed (and when every answer has been applied,
 * the replica's cursor is the newest one). */
static int pull(fs_sync_client *c)
{
    if (c->pull_inflight > 0 || !c->open)
        return 0;
    fs_replica_status st;
    int rc = fs_replica_status_get(c->r, &st);
    if (rc != 0)
        return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
    return pull_from(c, st.cursor);
}

/* Applies a pulled batch with its cursor. */
static int apply_batch(fs_sync_client *c, const fs_msg *m)
{
    int rc =
        fs_apply_pulled(c->r, m->u.changes.changes, m->u.changes.count, m->u.changes.cursor, NULL);
    if (rc != 0)
        return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
    /* Applying can write locally (a conflict record for a local value
     * that lost): that is a change to push like any other. */
    return push_next(c);
}

/* Handles m; *held set when the session keeps it (a batch to apply later). */
static int client_handle(fs_sync_client *c, fs_msg *m, int *held)
{
    int rc = 0;
    if (c->r == NULL) /* detached: the transport attaches before it delivers */
        return cfail(c, FS_ESTATE, "a message arrived while no replica is attached");
    switch (m->type) {
    case FS_MSG_READY:
        c->open = 1;
        c->lease_ms = m->u.ready.lease_expires_ms > m->u.ready.server_time_ms
                          ? m->u.ready.lease_expires_ms - m->u.ready.server_time_ms
                          : 0;
        rc = fs_replica_renew_lease(c->r, m->u.ready.server_time_ms, m->u.ready.lease_expires_ms);
        if (rc != 0)
            return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
        rc = push_next(c);
        if (rc == 0)
            rc = pull(c);
        break;
    case FS_MSG_ACK:
        /* One ACK per PUSH, in order. With two in flight, the first ACK's
         * upto_seq is below sent_seq; a server that had more already (an
         * ACK lost with an earlier session) acknowledges beyond it. */
        if (c->push_inflight > 0)
            c->push_inflight--;
        rc = fs_replica_mark_acked(c->r, m->u.ack.upto_seq);
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
        }
        if (rc != 0)
            return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
        break;
    case FS_MSG_CHANGES:
        if (c->pull_inflight > 0)
            c->pull_inflight--;
        /* The next PULL goes first, from this batch's cursor (the replica's
         * moves when the batch is applied): the server reads the next batch
         * while this one is applied. */
        if (m->u.changes.more || c->repull) {
            c->repull = 0;
            rc = pull_from(c, m->u.changes.cursor);
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
        break;
    case FS_MSG_POKE:
        /* An unanswered PULL was read after this POKE was sent: its answers
         * bring the news. Else pull now. */
        c->pulled = 0;
        rc = pull(c);
        break;
    case FS_MSG_PURGE:
        rc = fs_replica_purge(c->r, m->u.purge.items, m->u.purge.count);
        if (rc != 0)
            return cfail(c, rc, "%s", fs_replica_errmsg(c->r));
        break;
    default:
        break; /* BYE, ERROR and WIPE end the channel; it reports them */
    }
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
    return rc == 0 ? 1 : rc;
}

int fs_sync_client_receive(fs_sync_client *c, const uint8_t *frame, size_t len)
{
    int rc = fs_sync_client_continue(c); /* a held batch comes before what follows it */
    if (rc < 0)
        return rc;
    fs_msg *m = NULL;
    rc = fs_channel_receive(c->ch, frame, len, &c->out, &m);
    int frc = flush(&c->out, c->emit, c->ctx);
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

int fs_sync_client_in_sync(const fs_sync_client *c)
{
    fs_replica_status st;
    if (!c->open || c->r == NULL || c->push_inflight > 0 || c->pull_inflight > 0 || !c->pulled ||
        c->held != NULL || fs_replica_status_get(c->r, &st) != 0)
        return 0;
    return st.pending == 0;
}

int fs_sync_client_bye(fs_sync_client *c)
{
    int rc = fs_channel_bye(c->ch, &c->out);
    int frc = flush(&c->out, c->emit, c->ctx);
    c->open = 0;
    return rc != 0 ? rc : frc;
}

/* ---- server ---- */

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
    char errmsg[256];
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
    fs_channel_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.is_server = 1;
    cfg.self = server_id;
    cfg.check_device = check_device;
    cfg.enroll_device = fs_enroll_device;
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

void fs_sync_server_free(fs_sync_server *s)
{
    if (s == NULL)
        return;
    fs_channel_free(s->ch);
    fs_buf_free(&s->out);
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

static int server_send(fs_sync_server *s, const fs_msg *m)
{
    int rc = fs_channel_send(s->ch, m, &s->out);
    int frc = flush(&s->out, s->emit, s->ctx);
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

static int on_push(fs_sync_server *s, const uint8_t *pk, const fs_msg *m)
{
    fs_push_result res;
    note_health(s, pk, NULL);
    int rc = fs_store_push(s->store, pk, m->u.push.first_seq, m->u.push.last_seq,
                           m->u.push.changes, m->u.push.count, &res);
    if (rc != 0)
        return server_error(s, rc);
    if (res.nrejects > 0) {
        fs_reject_item *items = calloc(res.nrejects, sizeof *items);
        if (items == NULL) {
            free(res.rejects);
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
    if (rc != 0)
        return rc;
    fs_msg a;
    memset(&a, 0, sizeof a);
    a.type = FS_MSG_ACK;
    a.u.ack.upto_seq = res.acked_seq;
    return server_send(s, &a);
}

static int on_pull(fs_sync_server *s, const uint8_t *pk, const fs_msg *m)
{
    fs_changeset *cs = NULL;
    uint64_t cursor = 0;
    int more = 0;
    size_t max = m->u.pull.max == 0 || m->u.pull.max > FS_SYNC_BATCH ? FS_SYNC_BATCH
                                                                      : m->u.pull.max;
    /* Rows that left the device's scope go first, so that what follows in
     * the feed applies to a replica without them. */
    fs_purge_item *purge = NULL;
    size_t npurge = 0;
    int rc = fs_store_purges(s->store, pk, m->u.pull.cursor, FS_SYNC_BATCH, &purge, &npurge);
    if (rc != 0)
        return server_error(s, rc);
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
    rc = fs_store_pull(s->store, pk, m->u.pull.cursor, max, &cs, &cursor, &more);
    if (rc != 0)
        return server_error(s, rc);
    fs_msg c;
    memset(&c, 0, sizeof c);
    c.type = FS_MSG_CHANGES;
    c.u.changes.cursor = cursor;
    c.u.changes.more = more;
    c.u.changes.changes = cs->changes;
    c.u.changes.count = cs->count;
    c.u.changes.groups = cs->groups; /* one owner per compressed frame */
    rc = server_send(s, &c);
    fs_changeset_free(cs);
    return rc;
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

int fs_sync_server_receive(fs_sync_server *s, const uint8_t *frame, size_t len)
{
    const uint8_t *device = fs_sync_server_device(s);
    if (device != NULL && flooding(s))
        return end_flood(s, device);
    fs_msg *m = NULL;
    int rc = fs_channel_receive(s->ch, frame, len, &s->out, &m);
    int frc = flush(&s->out, s->emit, s->ctx);
    if (rc != 0) {
        audit_refusal(s, m);
        fs_msg_free(m);
        return sfail(s, rc, "%s", fs_channel_errmsg(s->ch));
    }
    if (frc != 0) {
        fs_msg_free(m);
        return frc;
    }
    const uint8_t *pk = fs_channel_peer(s->ch);
    if (m != NULL && pk != NULL) {
        if (m->type == FS_MSG_PUSH)
            rc = on_push(s, pk, m);
        else if (m->type == FS_MSG_PULL)
            rc = on_pull(s, pk, m);
    }
    fs_msg_free(m);
    return rc;
}
