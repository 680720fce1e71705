/*
 * Sync end to end, in one process: devices (replicas behind fs_sync_client)
 * and the server (the store behind fs_sync_server) exchange every frame
 * through the secure channel; only the network is replaced by two queues.
 */
#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>
#include <stdio.h>
#include <time.h>

#include "fieldsync/replica_server.h"
#include "fieldsync/rules.h"
#include "fieldsync/attach.h"
#include "fieldsync/sync.h"
#include "records.h"
#include "rng.h"
#include "replica_int.h"
#include "test.h"
#include "store/store_sqlite.h"

typedef struct queue {
    fs_buf frames[64]; /* one emitted frame each */
    size_t head, tail;
} queue;

static int enqueue(void *ctx, const uint8_t *frame, size_t len)
{
    queue *q = ctx;
    if (q->tail - q->head >= 64)
        return FS_ENOMEM;
    fs_buf *b = &q->frames[q->tail++ % 64];
    fs_buf_init(b);
    return fs_buf_append(b, frame, len);
}

typedef struct world {
    char dir[512];
    fs_store *store;
    fs_identity *server_id;
} world;

typedef struct dev {
    const char *user;
    fs_replica *r;
    uint8_t pk[FS_SIGN_PK_BYTES];
} dev;

static uint64_t clock_now = 1700000000000ull;

/* ctx: NULL, or an int64_t by which this device's clock is off (ms) */
static uint64_t fake_clock(void *ctx)
{
    return ctx == NULL ? clock_now : (uint64_t)((int64_t)clock_now + *(const int64_t *)ctx);
}

static void world_open(world *w)
{
    snprintf(w->dir, sizeof w->dir, "%s", test_tmpdir());
    char path[600];
    snprintf(path, sizeof path, "%s/server", w->dir);
    fs_replica_opts o = {.kdf = &fs_kdf_minimum, .clock_ms = fake_clock};
    CHECK_OK(fs_store_create(&w->store, path, "pw", 2, &o));
    CHECK_OK(fs_identity_generate(&w->server_id));
    CHECK_OK(fs_store_user_add(w->store, "li", FS_ROLE_MANAGER, "north"));
    CHECK_OK(fs_store_user_add(w->store, "zhang", FS_ROLE_REP, "north"));
    CHECK_OK(fs_store_user_add(w->store, "wang", FS_ROLE_REP, "north"));
}

static void world_close(world *w)
{
    fs_store_close(w->store);
    fs_identity_free(w->server_id);
    test_rmtree(w->dir);
}

/* A device of user whose replica lives in w->dir/name. */
static void dev_open_in(world *w, dev *d, const char *user, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", w->dir, name);
    fs_replica_opts o = {.kdf = &fs_kdf_minimum, .clock_ms = fake_clock};
    CHECK_OK(fs_replica_create(&d->r, path, "pw", 2, &o));
    d->user = user;
    fs_identity *id = NULL;
    CHECK_OK(fs_replica_identity(d->r, &id));
    memcpy(d->pk, id->pk, sizeof d->pk);
    fs_identity_free(id);
    CHECK_OK(fs_store_device_add(w->store, d->pk, user, "laptop"));
}

static void dev_open(world *w, dev *d, const char *user)
{
    dev_open_in(w, d, user, user);
}

/* Set: sessions hold pulled batches (fs_sync_client_hold_batches) and apply
 * them once the client's frames went to the server, as the websocket
 * client does. */
static int hold_batches;
static uint32_t limit_version; /* 0, or the protocol version the device speaks at most */

/* Connects d to the server and exchanges frames until d is in sync, the
 * session fails, or nothing moves. Returns the first error, or 0. */
static int sync_once(world *w, dev *d, size_t *frames)
{
    queue up, down; /* client -> server, server -> client */
    memset(&up, 0, sizeof up);
    memset(&down, 0, sizeof down);
    fs_sync_client *c = NULL;
    fs_sync_server *s = NULL;
    CHECK_OK(fs_sync_client_new(&c, d->r, w->server_id->pk, NULL, enqueue, &up));
    CHECK_OK(fs_sync_server_new(&s, w->store, w->server_id, enqueue, &down));
    fs_sync_client_hold_batches(c, hold_batches);
    if (limit_version != 0)
        CHECK_OK(fs_sync_client_limit_version(c, limit_version));
    int rc = fs_sync_client_start(c);
    size_t moved = 0;
    while (rc == 0 && !fs_sync_client_in_sync(c) && (up.head < up.tail || down.head < down.tail)) {
        if (up.head < up.tail) {
            fs_buf *b = &up.frames[up.head++ % 64];
            rc = fs_sync_server_receive(s, b->data, b->len);
            fs_buf_free(b);
            if (rc == 0 && hold_batches && up.head == up.tail) { /* all written */
                int crc = fs_sync_client_continue(c);
                rc = crc < 0 ? crc : 0;
            }
        } else {
            fs_buf *b = &down.frames[down.head++ % 64];
            rc = fs_sync_client_receive(c, b->data, b->len);
            fs_buf_free(b);
        }
        moved++;
    }
    if (rc != 0)
        fprintf(stderr, "sync_once: client: %s; server: %s\n", fs_sync_client_errmsg(c),
                fs_sync_server_errmsg(s));
    if (rc == 0)
        CHECK(fs_sync_client_in_sync(c));
    if (rc == 0)
        CHECK_OK(fs_sync_client_bye(c));
    while (up.head < up.tail)
        fs_buf_free(&up.frames[up.head++ % 64]);
    while (down.head < down.tail)
        fs_buf_free(&down.frames[down.head++ % 64]);
    fs_sync_client_free(c);
    fs_sync_server_free(s);
    if (frames != NULL)
        *frames = moved;
    return rc;
}

/* The usual pair: rep zhang, who has recorded n visits to customer cust and
 * pushed them, and his manager li, who has not synced yet. */
static void pair_open(world *w, dev *zhang, dev *li, int n, uint8_t cust[16])
{
    world_open(w);
    dev_open(w, zhang, "zhang");
    dev_open(w, li, "li");
    test_record_visits(zhang->r, n, cust);
    CHECK_OK(sync_once(w, zhang, NULL));
}

/* Every visit of a equals the one in b, field by field. */
static void same_visits(fs_replica *a, fs_replica *b)
{
    static const char *cols[] = {"customer", "time", "place", "purpose", "notes"};
    fs_rows *ia = NULL, *ib = NULL;
    CHECK_OK(fs_rows_open(&ia, a, "visit", NULL, NULL, NULL));
    CHECK_OK(fs_rows_open(&ib, b, "visit", NULL, NULL, NULL));
    int ra, rb, n = 0;
    while ((ra = fs_rows_next(ia)) == 1) {
        rb = fs_rows_next(ib);
        CHECK_EQ_INT(rb, 1);
        CHECK_MEM(fs_rows_id(ia), fs_rows_id(ib), 16);
        for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
            fs_value va, vb;
            CHECK_OK(fs_rows_get(ia, cols[k], &va));
            CHECK_OK(fs_rows_get(ib, cols[k], &vb));
            CHECK(va.type == vb.type && va.n == vb.n && memcmp(va.p, vb.p, va.n) == 0);
        }
        n++;
    }
    CHECK_EQ_INT(fs_rows_next(ib), 0);
    fs_rows_close(ia);
    fs_rows_close(ib);
    CHECK(n > 0);
}

static void test_offline_work_reaches_the_manager(void)
{
    world w;
    dev zhang, li, wang;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    dev_open(&w, &li, "li");
    dev_open(&w, &wang, "wang");
    uint8_t cust[16];
    test_record_visits(zhang.r, 50, cust);
    size_t frames = 0;
    CHECK_OK(sync_once(&w, &zhang, &frames));
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(zhang.r, &st));
    CHECK_EQ_INT(st.pending, 0);
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_EQ_INT(test_count_rows(li.r, "visit"), 50);
    CHECK_EQ_INT(test_count_rows(li.r, "commitment"), 50);
    same_visits(zhang.r, li.r);
    CHECK_OK(sync_once(&w, &wang, NULL));
    CHECK_EQ_INT(test_count_rows(wang.r, "visit"), 0); /* not his customer */
    CHECK_EQ_INT(test_count_rows(wang.r, "customer"), 0);
    /* Syncing again moves nothing new into the feed. */
    uint64_t before = 0, after = 0;
    CHECK_OK(fs_feed_last(fs_store_replica(w.store), &before));
    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_OK(fs_feed_last(fs_store_replica(w.store), &after));
    CHECK_EQ_INT(before, after);
    printf("50 visits: zhang in sync after %zu frames; li holds them, wang nothing\n", frames);
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    fs_replica_close(wang.r);
    world_close(&w);
}

static int count_conflicts(const fs_conflict *c, void *ctx)
{
    size_t *n = ctx;
    CHECK(c->loser.type == FS_TEXT && c->loser.n == 7 && memcmp(c->loser.p, "mining!", 7) == 0);
    CHECK(c->winner.type == FS_TEXT && c->winner.n == 6 && memcmp(c->winner.p, "retail", 6) == 0);
    (*n)++;
    return 0;
}

/* zhang and his manager change the same field before either syncs. li's
 * edit is newer and wins everywhere; zhang's device, learning that its value
 * lost, writes a conflict record, which is a local change: the session must
 * push it and still end in sync (it used to stop short, never in sync). */
static void test_offline_edits_of_one_field_converge(void)
{
    world w;
    dev zhang, li;
    uint8_t cust[16];
    pair_open(&w, &zhang, &li, 1, cust);
    CHECK_OK(sync_once(&w, &li, NULL));
    fs_cell a[] = {{"industry", fs_text("mining!")}};
    CHECK_OK(fs_update(zhang.r, "customer", cust, a, 1));
    clock_now += 10;
    fs_cell b[] = {{"industry", fs_text("retail")}};
    CHECK_OK(fs_update(li.r, "customer", cust, b, 1));
    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_OK(sync_once(&w, &zhang, NULL)); /* pulls li's value, pushes its conflict record */
    CHECK_OK(sync_once(&w, &li, NULL));
    dev *devs[] = {&zhang, &li};
    uint8_t h[2][32];
    for (int i = 0; i < 2; i++) {
        fs_replica_status st;
        CHECK_OK(fs_replica_status_get(devs[i]->r, &st));
        CHECK_EQ_INT(st.pending, 0);
        CHECK_EQ_INT(st.open_conflicts, 1);
        size_t n = 0;
        CHECK_OK(fs_conflicts(devs[i]->r, 0, count_conflicts, &n));
        CHECK_EQ_INT(n, 1);
        CHECK_OK(fs_replica_state_hash(devs[i]->r, h[i]));
    }
    CHECK_MEM(h[0], h[1], 32);
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    world_close(&w);
}

/* A hostile device speaks the channel itself instead of fs_sync_client and
 * asks for everything: the whole feed from cursor 0 with the largest batch,
 * and cursors past the end. The PULL names no rows or users, so the server's
 * scope filter is all that stands between it and other reps' customers.
 * Returns the number of changes the server sent it. */
static size_t hostile_pulls(world *w, fs_identity *id)
{
    queue down;
    memset(&down, 0, sizeof down);
    fs_sync_server *s = NULL;
    CHECK_OK(fs_sync_server_new(&s, w->store, w->server_id, enqueue, &down));
    fs_channel_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.self = id;
    cfg.pinned_server_pk = w->server_id->pk;
    fs_channel *ch = NULL;
    CHECK_OK(fs_channel_new(&ch, &cfg));
    fs_buf out;
    fs_buf_init(&out);
    CHECK_OK(fs_channel_start(ch, &out));
    static const struct {
        uint64_t cursor;
        uint32_t max;
    } asks[] = {{0, UINT32_MAX}, {0, 0}, {1, UINT32_MAX}, {UINT64_MAX, UINT32_MAX}};
    size_t next_ask = 0, changes = 0, answers = 0;
    int open = 0;
    for (int guard = 0; guard < 200; guard++) {
        if (out.len > 0) {
            CHECK_OK(fs_sync_server_receive(s, out.data, out.len));
            fs_buf_reset(&out);
        }
        if (down.head == down.tail) {
            if (!open || next_ask == sizeof asks / sizeof asks[0])
                break;
            fs_msg m;
            memset(&m, 0, sizeof m);
            m.type = FS_MSG_PULL;
            m.u.pull.cursor = asks[next_ask].cursor;
            m.u.pull.max = asks[next_ask].max;
            next_ask++;
            CHECK_OK(fs_channel_send(ch, &m, &out));
            continue;
        }
        fs_buf *b = &down.frames[down.head++ % 64];
        fs_msg *m = NULL;
        int rc = fs_channel_receive(ch, b->data, b->len, &out, &m);
        fs_buf_free(b);
        CHECK_OK(rc);
        if (m != NULL && m->type == FS_MSG_READY)
            open = 1;
        if (m != NULL && m->type == FS_MSG_CHANGES) {
            for (size_t i = 0; i < m->u.changes.count; i++) /* the team's roster is theirs */
                changes += (int)m->u.changes.changes[i].table != fs_schema_table_index("roster");
            answers++;
        }
        fs_msg_free(m);
    }
    CHECK(open);
    CHECK_EQ_INT(next_ask, sizeof asks / sizeof asks[0]);
    CHECK(answers >= 3); /* every ask in range was answered, not dropped */
    while (down.head < down.tail)
        fs_buf_free(&down.frames[down.head++ % 64]);
    fs_buf_free(&out);
    fs_channel_free(ch);
    fs_sync_server_free(s);
    return changes;
}

static void test_hostile_client_asking_for_everything_gets_its_scope(void)
{
    world w;
    dev zhang, wang, chen;
    world_open(&w);
    CHECK_OK(fs_store_user_add(w.store, "chen", FS_ROLE_MANAGER, "south"));
    dev_open(&w, &zhang, "zhang");
    dev_open(&w, &wang, "wang");
    dev_open(&w, &chen, "chen");
    uint8_t cust[16];
    test_record_visits(zhang.r, 20, cust);
    CHECK_OK(sync_once(&w, &zhang, NULL));
    uint64_t feed = 0;
    CHECK_OK(fs_feed_last(fs_store_replica(w.store), &feed));
    CHECK(feed >= 41); /* plenty to leak: an entry per row, 41 rows */
    dev *others[] = {&wang, &chen}; /* a rep of the same team, another team's manager */
    for (int i = 0; i < 2; i++) {
        fs_identity *id = NULL;
        CHECK_OK(fs_replica_identity(others[i]->r, &id));
        CHECK_EQ_INT(hostile_pulls(&w, id), 0);
        fs_identity_free(id);
    }
    /* The same session shape does deliver to someone in scope (the test can
     * fail): zhang's second device (his first has these writes, so the
     * server does not send them back to it). */
    dev phone;
    dev_open_in(&w, &phone, "zhang", "zhang-phone");
    fs_identity *zid = NULL;
    CHECK_OK(fs_replica_identity(phone.r, &zid));
    CHECK(hostile_pulls(&w, zid) > 100);
    fs_identity_free(zid);
    CHECK_OK(fs_replica_identity(zhang.r, &zid));
    CHECK_EQ_INT(hostile_pulls(&w, zid), 0);
    fs_identity_free(zid);
    fs_replica_close(phone.r);
    fs_replica_close(zhang.r);
    fs_replica_close(wang.r);
    fs_replica_close(chen.r);
    world_close(&w);
}

static void test_large_backlog_goes_in_batches(void)
{
    world w;
    dev zhang, li;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    dev_open(&w, &li, "li");
    uint8_t cust[16];
    test_record_visits(zhang.r, 400, cust); /* 2,000 + 2 + 1,600 changes: several batches */
    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_EQ_INT(test_count_rows(li.r, "visit"), 400);
    test_same_state(zhang.r, li.r); /* li's team scope is exactly zhang's rows here */
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    world_close(&w);
}

/* A long push does not read its own writes back: while its batches are in
 * flight, an empty answer that says "more" (the feed grew by those very
 * batches) waits for the last ACK instead of asking again at once. */
static void test_pushing_device_does_not_pull_its_own_writes(void)
{
    world w;
    dev zhang, li;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    dev_open(&w, &li, "li");
    uint8_t cust[16];
    test_record_visits(zhang.r, 4000, cust); /* 20,000+ changes: five PUSHes at least */
    size_t frames = 0;
    CHECK_OK(sync_once(&w, &zhang, &frames));
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(zhang.r, &st));
    CHECK_EQ_INT(st.pending, 0);
    size_t pushes = (size_t)(st.last_seq + FS_SYNC_BATCH - 1) / FS_SYNC_BATCH;
    CHECK(pushes >= 5);
    /* AUTH, READY, TIP (version 5), a PUSH and an ACK per batch, and two
     * PULLs with their answers (the one sent at READY, the one after the
     * last ACK), plus slack of two (a PULL after the roster's first rows);
     * asking after every answer would add two frames per batch. */
    printf("  %zu batches pushed in %zu frames\n", pushes, frames);
    CHECK(frames <= 2 * pushes + 3 + 4 + 2);
    CHECK_OK(sync_once(&w, &li, NULL));
    test_same_state(zhang.r, li.r);
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    world_close(&w);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Reads and zeroes the counts of writes to device_sync made since the last
 * call (temporary triggers on the store's connection). */
static void health_writes(sqlite3 *db, int *seen, int *report)
{
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_prepare_v2(db, "SELECT seen, report FROM n", -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    *seen = sqlite3_column_int(st, 0);
    *report = sqlite3_column_int(st, 1);
    sqlite3_finalize(st);
    CHECK(sqlite3_exec(db, "UPDATE n SET seen = 0, report = 0", NULL, NULL, NULL) == SQLITE_OK);
}

/* Sync health costs a commit per write, so a session stamps "last seen" at
 * most once a second and writes a device's report only when it changes:
 * not once per PUSH and per PULL. What a manager reads stays right. */
static void test_health_is_not_written_per_batch(void)
{
    world w;
    dev zhang, li;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    dev_open(&w, &li, "li");
    uint8_t cust[16];
    test_record_visits(zhang.r, 2400, cust); /* 12,000+ changes: three PUSHes, three PULLs */
    sqlite3 *db = fs__replica_db(fs_store_replica(w.store));
    CHECK(sqlite3_exec(db,
                       "CREATE TEMP TABLE n(seen INTEGER, report INTEGER);"
                       "INSERT INTO n VALUES(0, 0);"
                       "CREATE TEMP TRIGGER s AFTER UPDATE OF last_seen_ms ON main.device_sync"
                       " BEGIN UPDATE n SET seen = seen + 1; END;"
                       "CREATE TEMP TRIGGER r AFTER UPDATE OF local_seq ON main.device_sync"
                       " BEGIN UPDATE n SET report = report + 1; END;",
                       NULL, NULL, NULL) == SQLITE_OK);
    /* "Seen" is written at the first PUSH or PULL (the handshake inserted
     * the row), then once a second at most: a session that took s seconds
     * (a slow machine, valgrind) may write 1 + s. Unthrottled, these
     * sessions wrote 10 in well under a second. */
    int seen_writes, report_writes;
    uint64_t t0 = mono_ms();
    CHECK_OK(sync_once(&w, &zhang, NULL));
    uint64_t secs = (mono_ms() - t0) / 1000;
    health_writes(db, &seen_writes, &report_writes);
    CHECK(seen_writes >= 1 && (uint64_t)seen_writes <= 1 + secs);
    CHECK(report_writes >= 1 && report_writes <= 2); /* pending, then not */
    size_t frames = 0;
    t0 = mono_ms();
    CHECK_OK(sync_once(&w, &li, &frames));
    secs = (mono_ms() - t0) / 1000;
    CHECK(frames >= 6); /* three PULLs at least, and their batches */
    health_writes(db, &seen_writes, &report_writes);
    CHECK(seen_writes >= 1 && (uint64_t)seen_writes <= 1 + secs);
    CHECK_EQ_INT(report_writes, 1); /* li had nothing pending: one report */
    CHECK_EQ_INT(test_count_rows(li.r, "visit"), 2400);
    uint64_t seen, lease, pending, oldest;
    CHECK_OK(fs_store_device_sync(w.store, zhang.pk, &seen, &lease, &pending, &oldest));
    CHECK_EQ_INT(seen, clock_now);
    CHECK_EQ_INT(pending, 0);
    CHECK_EQ_INT(oldest, 0);
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    world_close(&w);
}

typedef struct refusals {
    int n;
    uint32_t reason;
} refusals;

static int on_refusal(const fs_refusal *f, void *ctx)
{
    refusals *r = ctx;
    r->n++;
    r->reason = f->reason;
    return 0;
}

static void test_refused_change_is_kept_with_its_reason(void)
{
    world w;
    dev zhang, wang;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    dev_open(&w, &wang, "wang");
    uint8_t cust[16];
    test_record_visits(zhang.r, 1, cust);
    CHECK_OK(sync_once(&w, &zhang, NULL));
    /* wang learns the customer (say, from zhang) and edits it offline. */
    fs_changeset *cs = NULL;
    CHECK_OK(fs_changes_since(zhang.r, 0, 2, &cs));
    CHECK_OK(fs_apply(wang.r, cs->changes, cs->count, NULL));
    fs_changeset_free(cs);
    fs_cell e[] = {{"preferences", fs_text("wang was here")}};
    CHECK_OK(fs_update(wang.r, "customer", cust, e, 1));
    CHECK_OK(sync_once(&w, &wang, NULL));
    refusals got = {0, 0};
    CHECK_OK(fs_refusals(wang.r, on_refusal, &got));
    CHECK_EQ_INT(got.n, 1);
    CHECK_EQ_INT(got.reason, FS_REASON_SCOPE);
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(wang.r, &st));
    CHECK_EQ_INT(st.refused, 1);
    CHECK_EQ_INT(st.pending, 0); /* acknowledged, refused, and kept */
    /* The server's copy is zhang's. */
    fs_rows *it = NULL;
    fs_value v;
    CHECK_OK(fs_rows_open(&it, fs_store_replica(w.store), "customer", NULL, NULL, NULL));
    CHECK_EQ_INT(fs_rows_next(it), 1);
    CHECK_OK(fs_rows_get(it, "preferences", &v));
    CHECK_EQ_INT(v.type, FS_NULL);
    fs_rows_close(it);
    fs_replica_close(zhang.r);
    fs_replica_close(wang.r);
    world_close(&w);
}

/* The industry of the only customer replica r holds, into out. */
static void industry_of(fs_replica *r, char *out, size_t size)
{
    fs_rows *it = NULL;
    fs_value v;
    out[0] = '\0';
    CHECK_OK(fs_rows_open(&it, r, "customer", NULL, NULL, NULL));
    CHECK_EQ_INT(fs_rows_next(it), 1);
    CHECK_OK(fs_rows_get(it, "industry", &v));
    if (v.type == FS_TEXT)
        snprintf(out, size, "%.*s", (int)v.n, (const char *)v.p);
    fs_rows_close(it);
}

/* Live rows of table in r. */
static size_t live_rows(fs_replica *r, const char *table)
{
    fs_rows *it = NULL;
    size_t n = 0;
    CHECK_OK(fs_rows_open(&it, r, table, NULL, NULL, NULL));
    while (fs_rows_next(it) == 1)
        n++;
    fs_rows_close(it);
    return n;
}

/* A customer's owner in r, into out ("" when none). */
static void owner_in(fs_replica *r, const uint8_t id[16], char *out, size_t cap)
{
    fs_rows *it = NULL;
    fs_value who = fs_blob(id, 16), v;
    out[0] = '\0';
    CHECK_OK(fs_rows_open(&it, r, "customer", "id", &who, NULL));
    if (fs_rows_next(it) == 1 && fs_rows_get(it, "owner", &v) == 0 && v.type == FS_TEXT)
        snprintf(out, cap, "%.*s", (int)v.n, (const char *)v.p);
    fs_rows_close(it);
}

/* Issue 25 point 6. The roster (schema 4) reaches sessions of protocol
 * version 5 only: a version-4 device gets none of it and syncs as before.
 * A hand-over the server refuses (another team's rep) is undone on the
 * manager's replica within that sync, its owner the server's again (a
 * value from the server: pulled again), the refusal still listed. */
static void test_roster_and_refused_handover_undone(void)
{
    world w;
    dev old, zhang, li;
    world_open(&w);
    CHECK_OK(fs_store_user_add(w.store, "chen", FS_ROLE_REP, "south"));
    dev_open(&w, &zhang, "zhang");
    dev_open(&w, &li, "li");
    dev_open_in(&w, &old, "wang", "wang-old");
    limit_version = 4;
    CHECK_OK(sync_once(&w, &old, NULL));
    limit_version = 0;
    CHECK_EQ_INT(live_rows(old.r, "roster"), 0);
    uint8_t cust[16];
    fs_cell c[] = {{"name", fs_text("Roster Co.")}, {"owner", fs_text("zhang")}};
    CHECK_OK(fs_insert(zhang.r, "customer", c, 2, cust));
    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_EQ_INT(live_rows(li.r, "roster"), 3); /* li, zhang, wang of north; not chen */
    CHECK_EQ_INT(live_rows(zhang.r, "roster"), 3);
    /* li's laptop lets it through (no client check here): the server refuses */
    clock_now += 1000;
    fs_cell h[] = {{"owner", fs_text("chen")}};
    CHECK_OK(fs_update(li.r, "customer", cust, h, 1));
    CHECK_OK(sync_once(&w, &li, NULL));
    char owner[80];
    owner_in(li.r, cust, owner, sizeof owner);
    CHECK_STR(owner, "zhang");
    owner_in(fs_store_replica(w.store), cust, owner, sizeof owner);
    CHECK_STR(owner, "zhang");
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(li.r, &st));
    CHECK_EQ_INT(st.refused, 0); /* undone: nothing left to put right */
    CHECK_EQ_INT(st.pending, 0);
    refusals got = {0, 0};
    CHECK_OK(fs_refusals(li.r, on_refusal, &got));
    CHECK_EQ_INT(got.n, 1); /* still listed */
    CHECK_EQ_INT(got.reason, FS_REASON_SCOPE);
    size_t problems = 9;
    CHECK_OK(fs_replica_check(li.r, &problems));
    CHECK_EQ_INT(problems, 0);
    CHECK_OK(sync_once(&w, &zhang, NULL));
    test_same_state(li.r, zhang.r);
    /* an old version-4 device still syncs, with nothing of the roster */
    limit_version = 4;
    CHECK_OK(sync_once(&w, &old, NULL));
    limit_version = 0;
    CHECK_EQ_INT(live_rows(old.r, "roster"), 0);
    fs_replica_close(old.r);
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    world_close(&w);
}

/* Issue 17.7: a team's settings, set on the server, reach every device of
 * the team that speaks protocol 6 and no other team's; a device of
 * protocol 5 is sent none of them (its bytes as before, the roster still
 * its); a change follows at the next sync; a device's own write of one is
 * refused; a user moved to another team takes the new team's. */
static void test_team_settings_reach_the_team_from_version_6(void)
{
    world w;
    dev old, zhang, chen;
    world_open(&w);
    CHECK_OK(fs_store_user_add(w.store, "chen", FS_ROLE_REP, "south"));
    dev_open(&w, &zhang, "zhang");
    dev_open(&w, &chen, "chen");
    dev_open_in(&w, &old, "wang", "wang-old");
    CHECK_OK(fs_store_team_set(w.store, "north", "tz", "Asia/Shanghai"));
    CHECK_OK(fs_store_team_set(w.store, "north", "holidays", "2026-12-07"));
    CHECK_OK(fs_store_team_set(w.store, "south", "tz", "UTC"));
    CHECK_ERR(fs_store_team_set(w.store, "north", "tz", "Mars/Base"), FS_EINVAL);
    CHECK_ERR(fs_store_team_set(w.store, "north", "hours", "18:00-09:00"), FS_EINVAL);
    CHECK_ERR(fs_store_team_set(w.store, "north", "colour", "red"), FS_EINVAL);
    limit_version = 5;
    CHECK_OK(sync_once(&w, &old, NULL));
    limit_version = 0;
    CHECK_EQ_INT(live_rows(old.r, "team_setting"), 0);
    CHECK_EQ_INT(live_rows(old.r, "roster"), 3); /* what version 5 knows, as before */
    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_OK(sync_once(&w, &chen, NULL));
    CHECK_EQ_INT(live_rows(zhang.r, "team_setting"), 2);
    CHECK_EQ_INT(live_rows(chen.r, "team_setting"), 1);
    fs_calendar cal;
    fs_calendar_default(&cal);
    int found = 0;
    CHECK_OK(fs_team_calendar(zhang.r, "north", &cal, &found, NULL));
    CHECK_EQ_INT(found, 2);
    CHECK_STR(cal.tz, "Asia/Shanghai");
    CHECK_EQ_INT(fs_calendar_is_working(&cal, fs_days_from_civil(2026, 12, 7)), 0);
    /* changed on the server: the device follows at its next sync */
    clock_now += 1000;
    CHECK_OK(fs_store_team_set(w.store, "north", "tz", "Asia/Urumqi"));
    CHECK_OK(fs_store_team_set(w.store, "north", "tz", "Asia/Urumqi")); /* as kept: no write */
    CHECK_OK(sync_once(&w, &zhang, NULL));
    char v[64];
    CHECK_OK(fs_team_setting_get(zhang.r, "north", "tz", v, sizeof v));
    CHECK_STR(v, "Asia/Urumqi");
    CHECK_EQ_INT(live_rows(zhang.r, "team_setting"), 2);
    /* a device does not write them: refused, the server's kept */
    uint8_t id[16];
    fs_cell mine[] = {{"team", fs_text("north")},
                      {"setting", fs_text("hours")},
                      {"value", fs_text("10:00-12:00")}};
    CHECK_OK(fs_insert(zhang.r, "team_setting", mine, 3, id));
    CHECK_OK(sync_once(&w, &zhang, NULL));
    refusals got = {0, 0};
    CHECK_OK(fs_refusals(zhang.r, on_refusal, &got));
    CHECK_EQ_INT(got.n, 3);
    CHECK_ERR(fs_team_setting_get(fs_store_replica(w.store), "north", "hours", v, sizeof v),
              FS_ENOTFOUND);
    /* chen moves to north: south's settings leave chen's laptop, north's come */
    CHECK_OK(fs_store_user_move(w.store, "chen", "north"));
    CHECK_OK(sync_once(&w, &chen, NULL));
    CHECK_ERR(fs_team_setting_get(chen.r, "south", "tz", v, sizeof v), FS_ENOTFOUND);
    CHECK_OK(fs_team_setting_get(chen.r, "north", "tz", v, sizeof v));
    CHECK_STR(v, "Asia/Urumqi");
    CHECK_OK(fs_team_setting_get(chen.r, "north", "holidays", v, sizeof v));
    CHECK_STR(v, "2026-12-07");
    /* the version-5 device syncs on, still without them */
    limit_version = 5;
    CHECK_OK(sync_once(&w, &old, NULL));
    limit_version = 0;
    CHECK_EQ_INT(live_rows(old.r, "team_setting"), 0);
    size_t problems = 9;
    CHECK_OK(fs_replica_check(old.r, &problems));
    CHECK_EQ_INT(problems, 0);
    fs_replica_close(old.r);
    fs_replica_close(zhang.r);
    fs_replica_close(chen.r);
    world_close(&w);
}

/* Issue 19.2: the sales records (schema 6) reach the rep's manager from
 * protocol 7 on; a laptop of protocol 6 of the same rep is sent none of
 * them (nor a column of them), keeps syncing its customer, and its
 * replica stays sound. (Upgraded, its replica's migration resets its
 * cursor and they come: test_replica's schema_5_replica_...) */
static void test_sales_records_reach_from_version_7(void)
{
    world w;
    dev old, zhang, li;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    dev_open(&w, &li, "li");
    dev_open_in(&w, &old, "zhang", "zhang-old");
    uint8_t cust[16], deal[16], pay[16], con[16], sv[16];
    fs_cell c[] = {{"name", fs_text("Sales Co.")}, {"owner", fs_text("zhang")}};
    CHECK_OK(fs_insert(zhang.r, "customer", c, 2, cust));
    fs_cell d[] = {{"customer", fs_blob(cust, 16)}, {"title", fs_text("ERP")},
                   {"amount", fs_int(30000050)},   {"stage", fs_text("won")},
                   {"opened_at", fs_text("2026-12-01")}, {"closed_at", fs_text("2026-12-03")}};
    CHECK_OK(fs_insert(zhang.r, "deal", d, 6, deal));
    fs_cell p[] = {{"deal", fs_blob(deal, 16)}, {"customer", fs_blob(cust, 16)},
                   {"amount", fs_int(10000000)}, {"collected_at", fs_text("2026-12-04")}};
    CHECK_OK(fs_insert(zhang.r, "payment", p, 4, pay));
    fs_cell k[] = {{"deal", fs_blob(deal, 16)}, {"customer", fs_blob(cust, 16)},
                   {"amount", fs_int(30000050)}, {"status", fs_text("draft")}};
    CHECK_OK(fs_insert(zhang.r, "contract", k, 4, con));
    fs_cell q[] = {{"customer", fs_blob(cust, 16)}, {"quarter", fs_text("2026-Q4")},
                   {"attitude", fs_int(5)},        {"ability", fs_int(4)},
                   {"speed", fs_int(3)},           {"surveyed_at", fs_text("2026-12-04")}};
    CHECK_OK(fs_insert(zhang.r, "survey", q, 6, sv));
    CHECK_OK(sync_once(&w, &zhang, NULL));
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(zhang.r, &st));
    CHECK_EQ_INT(st.refused, 0);
    CHECK_OK(sync_once(&w, &li, NULL));
    const char *kinds[] = {"deal", "payment", "contract", "survey"};
    for (size_t i = 0; i < 4; i++)
        CHECK_EQ_INT(live_rows(li.r, kinds[i]), 1);
    test_same_state(li.r, zhang.r);
    limit_version = 6;
    CHECK_OK(sync_once(&w, &old, NULL));
    limit_version = 0;
    CHECK_EQ_INT(live_rows(old.r, "customer"), 1);
    for (size_t i = 0; i < 4; i++)
        CHECK_EQ_INT(live_rows(old.r, kinds[i]), 0);
    size_t problems = 9;
    CHECK_OK(fs_replica_check(old.r, &problems));
    CHECK_EQ_INT(problems, 0);
    fs_replica_close(old.r);
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    world_close(&w);
}

/* The store's audit entries of kind export (issue 20.4). */
static int export_entries(world *w)
{
    sqlite3_stmt *q = NULL;
    int n = -1;
    if (sqlite3_prepare_v2(fs_replica_db(fs_store_replica(w->store)),
                           "SELECT count(*) FROM audit WHERE kind='export'", -1, &q,
                           NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return n;
}

/* Issue 20.4: a device's exports reach the server's audit with its next
 * sync from protocol version 7, once each; a version-6 session sends
 * none and the device keeps them for a later sync. */
static void test_exports_reach_the_audit_from_version_7(void)
{
    world w;
    dev zhang;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_OK(fs_replica_export_record(zhang.r, "zhang", "visit", 12, "sealed"));
    CHECK_OK(fs_replica_export_record(zhang.r, "zhang", "customer", 3, "plaintext"));
    CHECK_ERR(fs_replica_export_record(zhang.r, "zhang", "Visit 1", 3, "plaintext"), FS_EINVAL);
    limit_version = 6;
    CHECK_OK(sync_once(&w, &zhang, NULL));
    limit_version = 0;
    CHECK_EQ_INT(export_entries(&w), 0);
    fs_export_entry e[4];
    size_t n = 9;
    CHECK_OK(fs_replica_exports(zhang.r, 1, e, 4, &n));
    CHECK_EQ_INT((int)n, 2); /* kept for a later sync */
    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_EQ_INT(export_entries(&w), 2);
    CHECK_OK(fs_replica_exports(zhang.r, 1, e, 4, &n));
    CHECK_EQ_INT((int)n, 0);
    CHECK_OK(fs_replica_exports(zhang.r, 0, e, 4, &n));
    CHECK_EQ_INT((int)n, 2);
    CHECK_STR(e[0].kind, "visit");
    CHECK_EQ_INT((int)e[0].n, 12);
    CHECK_EQ_INT(e[0].sent, 1);
    CHECK_OK(sync_once(&w, &zhang, NULL)); /* told once */
    CHECK_EQ_INT(export_entries(&w), 2);
    fs_replica_close(zhang.r);
    world_close(&w);
}

/* Issue 23: a device whose clock is a day ahead, writing before it ever
 * met the server. A version-3 device is refused as before (it cannot be
 * told another clock); a version-4 device's writes are accepted with the
 * server's clock, the device takes them, and a later edit by the manager
 * wins on every replica. */
static void test_writes_ahead_are_restamped_from_version_4(void)
{
    world w;
    dev old, zhang, li;
    world_open(&w);
    static int64_t day_ahead = 24 * 3600 * 1000;
    fs_replica_opts o = {.kdf = &fs_kdf_minimum, .clock_ms = fake_clock, .clock_ctx = &day_ahead};
    char path[600];
    dev_open(&w, &li, "li");
    snprintf(path, sizeof path, "%s/old", w.dir);
    CHECK_OK(fs_replica_create(&old.r, path, "pw", 2, &o));
    snprintf(path, sizeof path, "%s/zhang", w.dir);
    CHECK_OK(fs_replica_create(&zhang.r, path, "pw", 2, &o));
    dev *ds[2] = {&old, &zhang};
    for (int i = 0; i < 2; i++) {
        fs_identity *id = NULL;
        CHECK_OK(fs_replica_identity(ds[i]->r, &id));
        memcpy(ds[i]->pk, id->pk, sizeof ds[i]->pk);
        fs_identity_free(id);
        ds[i]->user = "zhang";
        CHECK_OK(fs_store_device_add(w.store, ds[i]->pk, "zhang", i ? "laptop" : "old laptop"));
    }
    uint8_t cust[16], cust2[16];
    fs_cell c[] = {{"name", fs_text("ahead")}, {"owner", fs_text("zhang")},
                   {"industry", fs_text("rep")}};
    CHECK_OK(fs_insert(old.r, "customer", c, 3, cust2));
    limit_version = 3;
    CHECK_OK(sync_once(&w, &old, NULL));
    limit_version = 0;
    refusals got = {0, 0};
    CHECK_OK(fs_refusals(old.r, on_refusal, &got));
    CHECK_EQ_INT(got.n, 3);
    CHECK_EQ_INT(got.reason, FS_REASON_CLOCK);

    CHECK_OK(fs_insert(zhang.r, "customer", c, 3, cust));
    CHECK_OK(sync_once(&w, &zhang, NULL));
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(zhang.r, &st));
    CHECK_EQ_INT(st.refused, 0);
    CHECK_EQ_INT(st.pending, 0);
    /* the device holds the server's versions */
    fs_version mine, theirs;
    int exists = 0;
    CHECK_OK(fs_replica_column_version(zhang.r, 0, cust, 1, &mine, &exists));
    CHECK_EQ_INT(exists, 1);
    CHECK_OK(fs_replica_column_version(fs_store_replica(w.store), 0, cust, 1, &theirs, &exists));
    CHECK_EQ_INT(exists, 1);
    CHECK(mine.hlc == theirs.hlc);
    CHECK((theirs.hlc >> 16) <= clock_now + 5u * 60u * 1000u);
    /* the manager, later, with a right clock: his edit wins everywhere */
    clock_now += 60000;
    CHECK_OK(sync_once(&w, &li, NULL));
    fs_cell e[] = {{"industry", fs_text("manager")}};
    CHECK_OK(fs_update(li.r, "customer", cust, e, 1));
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_OK(sync_once(&w, &zhang, NULL));
    char ind[32];
    industry_of(zhang.r, ind, sizeof ind);
    CHECK_STR(ind, "manager");
    size_t problems = 99;
    CHECK_OK(fs_replica_check(zhang.r, &problems));
    CHECK_EQ_INT(problems, 0);
    CHECK_OK(fs_replica_status_get(zhang.r, &st));
    CHECK_EQ_INT(st.open_conflicts, 0);
    clock_now -= 60000;
    fs_replica_close(old.r);
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    world_close(&w);
}

/* ---- clock faults (issue 23): schedules over the real client and server ---- */

/* The customers replica r holds, canonical: "id industry name size|..." in
 * id order (the rows' order of fs_rows), into out. */
static void customers_of(fs_replica *r, char *out, size_t cap)
{
    static const char *cols[] = {"name", "industry", "size", "preferences"};
    fs_rows *it = NULL;
    size_t len = 0;
    out[0] = '\0';
    CHECK_OK(fs_rows_open(&it, r, "customer", NULL, NULL, NULL));
    while (fs_rows_next(it) == 1) {
        char hex[33];
        fs_id_to_hex(fs_rows_id(it), hex);
        len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, "%s", hex);
        for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
            fs_value v;
            CHECK_OK(fs_rows_get(it, cols[k], &v));
            len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, " %.*s",
                                    v.type == FS_TEXT ? (int)v.n : 1,
                                    v.type == FS_TEXT ? (const char *)v.p : "-");
        }
        len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, "|");
    }
    fs_rows_close(it);
    CHECK(len < cap);
}

/* A schedule: zhang's two laptops and li's two (a manager sees zhang's
 * customers), each with a clock off by minutes to a year, ahead or
 * behind, that may jump during the schedule; the server's clock may be
 * stepped too. They insert and edit zhang's customers and sync at random;
 * then everyone syncs until nothing moves. Every replica and the server
 * hold the same customers, nothing is refused, every replica matches its
 * log. Returns the number of restamped writes the devices took. */
static size_t clock_schedule(uint64_t seed)
{
    static const int64_t offsets[] = {0, 0, 3 * 60000LL, -7 * 60000LL, 2 * 3600000LL,
                                      -9 * 3600000LL, 86400000LL, -86400000LL,
                                      30 * 86400000LL, 365 * 86400000LL, -365 * 86400000LL};
    const size_t noff = sizeof offsets / sizeof offsets[0];
    rng g = {seed * 0x2545F4914F6CDD1Dull + 1};
    world w;
    world_open(&w);
    dev d[4];
    static int64_t skew[4];
    const char *users[4] = {"zhang", "zhang", "li", "li"};
    for (int i = 0; i < 4; i++) {
        char path[600], name[16];
        snprintf(name, sizeof name, "d%d", i);
        snprintf(path, sizeof path, "%s/%s", w.dir, name);
        skew[i] = offsets[rng_below(&g, (unsigned)noff)];
        fs_replica_opts o = {.kdf = &fs_kdf_minimum, .clock_ms = fake_clock, .clock_ctx = &skew[i]};
        CHECK_OK(fs_replica_create(&d[i].r, path, "pw", 2, &o));
        fs_identity *id = NULL;
        CHECK_OK(fs_replica_identity(d[i].r, &id));
        memcpy(d[i].pk, id->pk, sizeof d[i].pk);
        fs_identity_free(id);
        d[i].user = users[i];
        CHECK_OK(fs_store_device_add(w.store, d[i].pk, users[i], name));
    }
    uint64_t start = clock_now;
    uint8_t ids[64][16];
    size_t nids = 0;
    unsigned steps = 25 + rng_below(&g, 20);
    for (unsigned k = 0; k < steps; k++) {
        int i = (int)rng_below(&g, 4);
        clock_now += rng_below(&g, 3) ? 1000u * rng_below(&g, 120) : 0;
        unsigned op = rng_below(&g, 12);
        if (op == 0) { /* the clock jumps: set by hand, or put right */
            skew[i] = offsets[rng_below(&g, (unsigned)noff)];
        } else if (op < 5) {
            CHECK_OK(sync_once(&w, &d[i], NULL));
        } else if (nids == 0 || op < 7) {
            if (nids < 64) {
                fs_cell c[] = {{"name", fs_text("c")}, {"owner", fs_text("zhang")},
                               {"industry", fs_text(users[i])}};
                CHECK_OK(fs_insert(d[i].r, "customer", c, 3, ids[nids]));
                nids++;
            }
        } else {
            /* an edit of a customer this replica holds */
            const uint8_t *id = ids[rng_below(&g, (unsigned)nids)];
            if (fs_exists(d[i].r, "customer", id) == 1) {
                static const char *cols[] = {"industry", "size", "preferences"};
                char v[32];
                snprintf(v, sizeof v, "%s-%u", users[i], k);
                fs_cell c[] = {{cols[rng_below(&g, 3)], fs_text(v)}};
                CHECK_OK(fs_update(d[i].r, "customer", id, c, 1));
            }
        }
    }
    /* everyone syncs until nothing moves (twice round: conflict records
     * written on one device reach the others) */
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 4; i++)
            CHECK_OK(sync_once(&w, &d[i], NULL));
    static char want[64 * 200], got[64 * 200];
    customers_of(fs_store_replica(w.store), want, sizeof want);
    size_t restamped = 0;
    for (int i = 0; i < 4; i++) {
        customers_of(d[i].r, got, sizeof got);
        if (strcmp(got, want) != 0)
            FAIL("seed %llu: device %d (clock %+lld ms) differs from the server:\n  %s\n  %s",
                 (unsigned long long)seed, i, (long long)skew[i], got, want);
        fs_replica_status st;
        CHECK_OK(fs_replica_status_get(d[i].r, &st));
        if (st.refused != 0 || st.pending != 0)
            FAIL("seed %llu: device %d has %llu refused, %llu pending", (unsigned long long)seed,
                 i, (unsigned long long)st.refused, (unsigned long long)st.pending);
        size_t problems = 99;
        CHECK_OK(fs_replica_check(d[i].r, &problems));
        CHECK_EQ_INT(problems, 0);
    }
    /* how many writes the server restamped: its audit counts them */
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(fs_replica_db(fs_store_replica(w.store)),
                           "SELECT count(*) FROM restamped", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        restamped = (size_t)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    for (int i = 0; i < 4; i++)
        fs_replica_close(d[i].r);
    world_close(&w);
    clock_now = start;
    return restamped;
}

static void test_clock_fault_schedules(void)
{
    const char *e = getenv("FS_CLOCK_SEEDS");
    unsigned long n = e ? strtoul(e, NULL, 10) : 60;
    size_t restamped = 0;
    for (unsigned long k = 0; k < n; k++)
        restamped += clock_schedule(k + 1);
    printf("%lu clock-fault schedules converged (devices minutes to a year ahead or behind,"
           " clocks jumping); %zu writes restamped by the server\n",
           n, restamped);
    CHECK(restamped > 0); /* the schedules do exercise restamping */
}

/* ---- restored and copied replicas (issue 25.3) ---- */

/* Copies (cmd "cp -a") or moves ("mv") w->dir/from to w->dir/to, replacing it. */
static void dir_op(const world *w, const char *cmd, const char *from, const char *to)
{
    char sh[1600];
    snprintf(sh, sizeof sh, "rm -rf '%s/%s' && %s '%s/%s' '%s/%s'", w->dir, to, cmd, w->dir, from,
             w->dir, to);
    CHECK_EQ_INT(system(sh), 0);
}

static void dev_reopen(world *w, dev *d, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", w->dir, name);
    fs_replica_opts o = {.kdf = &fs_kdf_minimum, .clock_ms = fake_clock};
    CHECK_OK(fs_replica_open(&d->r, path, "pw", 2, &o));
    fs_identity *id = NULL;
    CHECK_OK(fs_replica_identity(d->r, &id));
    memcpy(d->pk, id->pk, sizeof d->pk);
    fs_identity_free(id);
}

static int count_devices(const fs_store_device *d, void *ctx)
{
    if (strcmp(d->user, "zhang") == 0)
        (*(int *)ctx)++;
    return 0;
}

/* A replica whose log matches its rows, with nothing left to send. */
static void synced_and_sound(fs_replica *r)
{
    size_t problems = 1;
    CHECK_OK(fs_replica_check(r, &problems));
    CHECK_EQ_INT(problems, 0);
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(r, &st));
    CHECK_EQ_INT(st.pending, 0);
}

/* A laptop restored from a backup: the visits it synced after the backup
 * come back, the one it recorded since reaches the server (not taken for a
 * replay of what the server holds), the manager has everything once. */
static void test_restored_replica_gets_its_records_back(void)
{
    world w;
    dev zhang, li;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    dev_open(&w, &li, "li");
    uint8_t c1[16], c2[16], c3[16];
    test_record_visits(zhang.r, 2, c1);
    CHECK_OK(sync_once(&w, &zhang, NULL));
    fs_replica_close(zhang.r);
    dir_op(&w, "cp -a", "zhang", "backup");
    dev_reopen(&w, &zhang, "zhang");
    test_record_visits(zhang.r, 4, c2); /* synced after the backup */
    CHECK_OK(sync_once(&w, &zhang, NULL));
    fs_replica_close(zhang.r);
    dir_op(&w, "mv", "backup", "zhang");
    dev_reopen(&w, &zhang, "zhang");
    test_record_visits(zhang.r, 1, c3); /* fewer new writes than were lost */
    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_OK(sync_once(&w, &li, NULL));
    fs_replica *sr = fs_store_replica(w.store);
    CHECK_EQ_INT(test_count_rows(sr, "visit"), 7);
    CHECK_EQ_INT(test_count_rows(zhang.r, "visit"), 7);
    CHECK_EQ_INT(test_count_rows(zhang.r, "customer"), 3);
    CHECK_EQ_INT(test_count_rows(li.r, "visit"), 7);
    same_visits(zhang.r, li.r);
    synced_and_sound(zhang.r);
    char note[400];
    CHECK_OK(fs_replica_fork_note(zhang.r, note, sizeof note));
    CHECK(strstr(note, "restored from a backup or copied") != NULL);
    int n = 0;
    CHECK_OK(fs_store_devices(w.store, count_devices, &n));
    CHECK_EQ_INT(n, 2); /* the old device and the restored replica's new one */
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    world_close(&w);
}

/* A home copied to a second laptop: each writes on its own and both sync,
 * in both orders: every replica ends with every visit, once. */
static void test_copied_replica_and_original_converge(void)
{
    for (int order = 0; order < 2; order++) {
        world w;
        dev a, b, li;
        world_open(&w);
        dev_open(&w, &a, "zhang");
        dev_open(&w, &li, "li");
        uint8_t c0[16], ca[16], cb[16];
        test_record_visits(a.r, 2, c0);
        CHECK_OK(sync_once(&w, &a, NULL));
        fs_replica_close(a.r);
        dir_op(&w, "cp -a", "zhang", "copy");
        dev_reopen(&w, &a, "zhang");
        dev_reopen(&w, &b, "copy");
        b.user = a.user = "zhang";
        test_record_visits(a.r, 3, ca);
        test_record_visits(b.r, 2, cb);
        dev *first = order == 0 ? &a : &b, *second = order == 0 ? &b : &a;
        for (int round = 0; round < 2; round++) {
            CHECK_OK(sync_once(&w, first, NULL));
            CHECK_OK(sync_once(&w, second, NULL));
        }
        CHECK_OK(sync_once(&w, &li, NULL));
        fs_replica *sr = fs_store_replica(w.store);
        CHECK_EQ_INT(test_count_rows(sr, "visit"), 7);
        CHECK_EQ_INT(test_count_rows(a.r, "visit"), 7);
        CHECK_EQ_INT(test_count_rows(b.r, "visit"), 7);
        same_visits(a.r, b.r);
        same_visits(a.r, li.r);
        synced_and_sound(a.r);
        synced_and_sound(b.r);
        /* the one that synced second took a new identity */
        char note[400];
        CHECK_OK(fs_replica_fork_note(second->r, note, sizeof note));
        CHECK(note[0] != '\0');
        CHECK_OK(fs_replica_fork_note(first->r, note, sizeof note));
        CHECK(note[0] == '\0');
        fs_replica_close(a.r);
        fs_replica_close(b.r);
        fs_replica_close(li.r);
        world_close(&w);
    }
}

/* A device being revoked after push may not escape its wipe by forking:
 * its restored replica is refused a new identity, in words. */
static void test_fork_of_a_device_being_revoked_is_refused(void)
{
    world w;
    dev zhang;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    uint8_t c1[16], c2[16];
    test_record_visits(zhang.r, 1, c1);
    CHECK_OK(sync_once(&w, &zhang, NULL));
    fs_replica_close(zhang.r);
    dir_op(&w, "cp -a", "zhang", "backup");
    dev_reopen(&w, &zhang, "zhang");
    test_record_visits(zhang.r, 1, c2);
    CHECK_OK(sync_once(&w, &zhang, NULL));
    fs_replica_close(zhang.r);
    dir_op(&w, "mv", "backup", "zhang");
    dev_reopen(&w, &zhang, "zhang");
    CHECK_OK(fs_store_device_revoke_after_push(w.store, zhang.pk));
    CHECK_ERR(sync_once(&w, &zhang, NULL), FS_EREVOKED); /* ERROR FORK_REFUSED */
    int n = 0;
    CHECK_OK(fs_store_devices(w.store, count_devices, &n));
    CHECK_EQ_INT(n, 1);
    fs_replica_close(zhang.r);
    world_close(&w);
}

/* A raw client channel of device id against a sync server: the handshake,
 * then READY and TIP read; *ch open. */
static void raw_open(world *w, fs_identity *id, fs_channel **ch, fs_sync_server **srv, queue *down)
{
    fs_channel_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.self = id;
    cfg.pinned_server_pk = w->server_id->pk;
    CHECK_OK(fs_channel_new(ch, &cfg));
    CHECK_OK(fs_sync_server_new(srv, w->store, w->server_id, enqueue, down));
    fs_buf out;
    fs_buf_init(&out);
    CHECK_OK(fs_channel_start(*ch, &out));
    int got_tip = 0;
    while (!got_tip) {
        if (out.len > 0) {
            CHECK_OK(fs_sync_server_receive(*srv, out.data, out.len));
            fs_buf_reset(&out);
        }
        CHECK(down->head < down->tail);
        fs_buf *b = &down->frames[down->head++ % 64];
        fs_msg *m = NULL;
        CHECK_OK(fs_channel_receive(*ch, b->data, b->len, &out, &m));
        fs_buf_free(b);
        got_tip = m != NULL && m->type == FS_MSG_TIP;
        fs_msg_free(m);
    }
    fs_buf_free(&out);
}

/* FORK from raw: sent to the server; returns its receive code. */
static int raw_fork(fs_channel *ch, fs_sync_server *srv, const fs_identity *old,
                    const fs_identity *nid, int spoil)
{
    fs_msg f;
    memset(&f, 0, sizeof f);
    f.type = FS_MSG_FORK;
    memcpy(f.u.fork.new_pk, nid->pk, 32);
    uint8_t msg[sizeof FS_FORK_LABEL - 1 + 32];
    memcpy(msg, FS_FORK_LABEL, sizeof FS_FORK_LABEL - 1);
    memcpy(msg + sizeof FS_FORK_LABEL - 1, nid->pk, 32);
    crypto_sign_detached(f.u.fork.old_sig, NULL, msg, sizeof msg, old->sk);
    memcpy(msg + sizeof FS_FORK_LABEL - 1, old->pk, 32);
    crypto_sign_detached(f.u.fork.new_sig, NULL, msg, sizeof msg, nid->sk);
    if (spoil)
        f.u.fork.new_sig[spoil % 64] ^= 1;
    fs_buf out;
    fs_buf_init(&out);
    CHECK_OK(fs_channel_send(ch, &f, &out));
    int rc = fs_sync_server_receive(srv, out.data, out.len);
    fs_buf_free(&out);
    return rc;
}

static void raw_close(fs_channel *ch, fs_sync_server *srv, queue *down)
{
    while (down->head < down->tail)
        fs_buf_free(&down->frames[down->head++ % 64]);
    fs_channel_free(ch);
    fs_sync_server_free(srv);
}

/* The server registers a new identity only when both keys signed, and one
 * per session: a device cannot mint keys in a loop. */
static void test_fork_needs_both_signatures_and_comes_once(void)
{
    world w;
    dev zhang;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    fs_identity *old = NULL, *n1 = NULL, *n2 = NULL;
    CHECK_OK(fs_replica_identity(zhang.r, &old));
    CHECK_OK(fs_identity_generate(&n1));
    CHECK_OK(fs_identity_generate(&n2));
    fs_channel *ch = NULL;
    fs_sync_server *srv = NULL;
    queue down;
    memset(&down, 0, sizeof down);
    raw_open(&w, old, &ch, &srv, &down);
    CHECK_ERR(raw_fork(ch, srv, old, n1, 7), FS_EAUTH); /* the new key's signature spoilt */
    int n = 0;
    CHECK_OK(fs_store_devices(w.store, count_devices, &n));
    CHECK_EQ_INT(n, 1);
    raw_close(ch, srv, &down);
    memset(&down, 0, sizeof down);
    raw_open(&w, old, &ch, &srv, &down);
    CHECK_OK(raw_fork(ch, srv, old, n1, 0));
    CHECK_EQ_INT(down.tail - down.head, 1); /* FORKED */
    fs_buf *b = &down.frames[down.head++ % 64];
    fs_msg *m = NULL;
    fs_buf out;
    fs_buf_init(&out);
    CHECK_OK(fs_channel_receive(ch, b->data, b->len, &out, &m));
    CHECK(m != NULL && m->type == FS_MSG_FORKED);
    fs_msg_free(m);
    fs_buf_free(b);
    fs_buf_free(&out);
    CHECK_MEM(fs_sync_server_device(srv), n1->pk, 32); /* the session is the new device's */
    CHECK(raw_fork(ch, srv, n1, n2, 0) != 0);      /* a second FORK in the session */
    n = 0;
    CHECK_OK(fs_store_devices(w.store, count_devices, &n));
    CHECK_EQ_INT(n, 2);
    raw_close(ch, srv, &down);
    fs_identity_free(old);
    fs_identity_free(n1);
    fs_identity_free(n2);
    fs_replica_close(zhang.r);
    world_close(&w);
}

static void test_revoked_device_is_told_to_wipe(void)
{
    world w;
    dev zhang;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_OK(fs_store_device_revoke(w.store, zhang.pk));
    CHECK_ERR(sync_once(&w, &zhang, NULL), FS_EREVOKED);
    fs_replica_close(zhang.r);
    world_close(&w);
}

static void test_wrong_server_is_refused(void)
{
    world w;
    dev zhang;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    fs_identity *real = w.server_id, *impostor = NULL;
    CHECK_OK(fs_identity_generate(&impostor));
    /* The device pinned the real key; an impostor answers. */
    queue up, down;
    memset(&up, 0, sizeof up);
    memset(&down, 0, sizeof down);
    fs_sync_client *c = NULL;
    fs_sync_server *s = NULL;
    CHECK_OK(fs_sync_client_new(&c, zhang.r, real->pk, NULL, enqueue, &up));
    CHECK_OK(fs_sync_server_new(&s, w.store, impostor, enqueue, &down));
    CHECK_OK(fs_sync_client_start(c));
    fs_buf *b = &up.frames[up.head++];
    CHECK_OK(fs_sync_server_receive(s, b->data, b->len));
    fs_buf_free(b);
    b = &down.frames[down.head++];
    CHECK_ERR(fs_sync_client_receive(c, b->data, b->len), FS_EAUTH);
    fs_buf_free(b);
    CHECK(!fs_sync_client_in_sync(c));
    fs_sync_client_free(c);
    fs_sync_server_free(s);
    fs_identity_free(impostor);
    fs_replica_close(zhang.r);
    world_close(&w);
}

/* A customer handed to another rep reaches the new owner's devices with
 * everything that follows it, although their cursors passed those rows, and
 * leaves the old owner's devices. */
static void test_reassigned_customer_reaches_the_new_owner(void)
{
    world w;
    dev zhang, li, wang;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    dev_open(&w, &li, "li");
    dev_open(&w, &wang, "wang");
    uint8_t cust[16];
    test_record_visits(zhang.r, 3, cust);
    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_OK(sync_once(&w, &wang, NULL)); /* his cursor passes zhang's rows */
    CHECK_EQ_INT(test_count_rows(wang.r, "customer"), 0);
    CHECK_OK(sync_once(&w, &li, NULL));
    clock_now += 1000;
    fs_cell give[] = {{"owner", fs_text("wang")}};
    CHECK_OK(fs_update(li.r, "customer", cust, give, 1));
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_OK(sync_once(&w, &wang, NULL));
    CHECK_EQ_INT(test_count_rows(wang.r, "customer"), 1);
    CHECK_EQ_INT(test_count_rows(wang.r, "visit"), 3);
    CHECK_EQ_INT(test_count_rows(wang.r, "commitment"), 3);
    same_visits(zhang.r, wang.r);
    /* Later changes go to wang, not to zhang. */
    clock_now += 1000;
    fs_cell pref[] = {{"preferences", fs_text("mornings, per wang")}};
    CHECK_OK(fs_update(wang.r, "customer", cust, pref, 1));
    CHECK_OK(sync_once(&w, &wang, NULL));
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_OK(sync_once(&w, &zhang, NULL));
    /* zhang's devices were told to purge the customer and what follows it. */
    CHECK_EQ_INT(test_count_rows(zhang.r, "customer"), 0);
    CHECK_EQ_INT(test_count_rows(zhang.r, "visit"), 0);
    CHECK_EQ_INT(test_count_rows(zhang.r, "commitment"), 0);
    size_t problems = 9;
    CHECK_OK(fs_replica_check(zhang.r, &problems));
    CHECK_EQ_INT(problems, 0);
    /* Syncing again changes nothing: the cursor has passed the purge. */
    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_EQ_INT(test_count_rows(zhang.r, "visit"), 0);
    CHECK_EQ_INT(test_count_rows(wang.r, "visit"), 3);
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    fs_replica_close(wang.r);
    world_close(&w);
}

/* READY names the device's user and team for a session of protocol 3: the
 * device takes them at its sync, before it pushes; a session of protocol 2
 * (a published client) gets the old READY and the device learns nothing. A
 * user name set by hand on the device is put back at the next sync. */
static void test_sync_names_the_user(void)
{
    world w;
    dev zhang;
    char user[FS_USER_MAX + 1], team[FS_USER_MAX + 1];
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    uint8_t cust[16];
    test_record_visits(zhang.r, 1, cust);
    limit_version = 2;
    CHECK_OK(sync_once(&w, &zhang, NULL));
    limit_version = 0;
    CHECK_ERR(fs_replica_user(zhang.r, user), FS_ENOTFOUND);
    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_OK(fs_replica_user(zhang.r, user));
    CHECK_STR(user, "zhang");
    CHECK_OK(fs_replica_setting(zhang.r, "team", team, sizeof team));
    CHECK_STR(team, "north");
    CHECK_OK(fs_replica_set_user(zhang.r, "somebody"));
    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_OK(fs_replica_user(zhang.r, user));
    CHECK_STR(user, "zhang");
    fs_replica_close(zhang.r);
    world_close(&w);
}

/* A hand-over is recorded by the server (a `handover` row, schema 2) and
 * reaches the devices in scope that speak protocol 3; a device of protocol
 * 2 never receives it (its decoder would refuse the table: the client,
 * limited to version 2, checks that as the old decoder does), neither as a
 * change nor in a purge, and gets everything else as before. */
static void test_older_clients_get_no_newer_tables(void)
{
    world w;
    dev zhang, li, wang, wang2;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    dev_open(&w, &li, "li");
    dev_open(&w, &wang, "wang");
    dev_open_in(&w, &wang2, "wang", "wang2");
    uint8_t cust[16];
    test_record_visits(zhang.r, 2, cust);
    limit_version = 2;
    CHECK_OK(sync_once(&w, &zhang, NULL));
    limit_version = 0;
    CHECK_OK(sync_once(&w, &li, NULL));
    clock_now += 1000;
    fs_cell give[] = {{"owner", fs_text("wang")}};
    CHECK_OK(fs_update(li.r, "customer", cust, give, 1));
    CHECK_OK(sync_once(&w, &li, NULL));
    /* The server wrote who had the customer, who has it, and since when. */
    CHECK_EQ_INT(test_count_rows(fs_store_replica(w.store), "handover"), 1);
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_EQ_INT(test_count_rows(li.r, "handover"), 1);
    CHECK_OK(sync_once(&w, &wang2, NULL)); /* protocol 3 */
    CHECK_EQ_INT(test_count_rows(wang2.r, "handover"), 1);
    CHECK_EQ_INT(test_count_rows(wang2.r, "visit"), 2);
    limit_version = 2;
    CHECK_OK(sync_once(&w, &wang, NULL));
    CHECK_EQ_INT(test_count_rows(wang.r, "handover"), 0);
    CHECK_EQ_INT(test_count_rows(wang.r, "customer"), 1);
    CHECK_EQ_INT(test_count_rows(wang.r, "visit"), 2);
    CHECK_OK(sync_once(&w, &zhang, NULL)); /* purged, without the handover */
    CHECK_EQ_INT(test_count_rows(zhang.r, "customer"), 0);
    /* Handed back: wang's devices purge the customer and what follows it,
     * the handover rows among them, which wang's old device is not told of.
     * (A device whose replica is upgraded to schema 2 pulls its scope again
     * from cursor 0: test_replica's schema_1_replica_is_upgraded.) */
    limit_version = 0;
    clock_now += 1000;
    fs_cell back[] = {{"owner", fs_text("zhang")}};
    CHECK_OK(fs_update(li.r, "customer", cust, back, 1));
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_EQ_INT(test_count_rows(fs_store_replica(w.store), "handover"), 2);
    limit_version = 2;
    CHECK_OK(sync_once(&w, &wang, NULL));
    CHECK_EQ_INT(test_count_rows(wang.r, "customer"), 0);
    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_EQ_INT(test_count_rows(zhang.r, "visit"), 2);
    CHECK_EQ_INT(test_count_rows(zhang.r, "handover"), 0);
    limit_version = 0;
    CHECK_OK(sync_once(&w, &wang2, NULL));
    CHECK_EQ_INT(test_count_rows(wang2.r, "customer"), 0);
    CHECK_EQ_INT(test_count_rows(wang2.r, "handover"), 0);
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    fs_replica_close(wang.r);
    fs_replica_close(wang2.r);
    world_close(&w);
}

/* Schema 6 (protocol 7, issue 19): a visit plan the manager writes for a
 * rep's customer reaches the rep's devices of protocol 7 only; a device of
 * the published protocol 6 syncs on with its visits and gets none of it
 * (its decoder, as limit_version checks, would refuse the batch). */
static void test_visit_plans_reach_only_version_7(void)
{
    world w;
    dev zhang, zhang2, li;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    dev_open_in(&w, &zhang2, "zhang", "zhang2");
    dev_open(&w, &li, "li");
    uint8_t cust[16], plan[16];
    test_record_visits(zhang.r, 2, cust);
    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_EQ_INT(test_count_rows(li.r, "visit"), 2);
    fs_cell p[] = {{"customer", fs_blob(cust, 16)},
                   {"time", fs_text("2023-10-17 10:00")},
                   {"place", fs_text("客户办公室")},
                   {"purpose", fs_text("演示")},
                   {"planner", fs_text("li")}};
    clock_now += 1000;
    CHECK_OK(fs_insert(li.r, "visit_plan", p, 5, plan));
    fs_cell v[] = {{"notes", fs_text("经理补充")}};
    uint8_t vid[16];
    fs_rows *it = NULL;
    CHECK_OK(fs_rows_open(&it, li.r, "visit", NULL, NULL, NULL));
    CHECK_EQ_INT(fs_rows_next(it), 1);
    memcpy(vid, fs_rows_id(it), 16);
    fs_rows_close(it);
    CHECK_OK(fs_update(li.r, "visit", vid, v, 1));
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_EQ_INT(test_count_rows(fs_store_replica(w.store), "visit_plan"), 1);
    CHECK_EQ_INT(fs_proto_schema(FS_PROTO_VERSION_SCHEMA6 - 1), 5);
    limit_version = FS_PROTO_VERSION_SCHEMA6 - 1; /* the published release */
    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_EQ_INT(test_count_rows(zhang.r, "visit_plan"), 0);
    CHECK_EQ_INT(test_count_rows(zhang.r, "visit"), 2);
    CHECK_OK(sync_once(&w, &zhang, NULL)); /* and on */
    limit_version = 0;
    CHECK_OK(sync_once(&w, &zhang2, NULL));
    CHECK_EQ_INT(test_count_rows(zhang2.r, "visit_plan"), 1);
    CHECK_EQ_INT(test_count_rows(zhang2.r, "visit"), 2);
    fs_replica_close(zhang.r);
    fs_replica_close(zhang2.r);
    fs_replica_close(li.r);
    world_close(&w);
}

/* Attachments (issue 19.3): zhang's file (3 chunks) reaches the server
 * and his manager's version-7 laptop whole; a version-6 laptop of the
 * manager's gets neither the row nor any chunk, and syncs on as before;
 * the store serves a hash only in scope, refuses a chunk of the wrong
 * length, and drops a whole upload that is not the file its row names. */
static void test_older_clients_get_no_attachments(void)
{
    world w;
    dev zhang, li, li6, wang;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    dev_open(&w, &li, "li");
    dev_open_in(&w, &li6, "li", "li-v6");
    dev_open(&w, &wang, "wang");
    uint8_t cust[16];
    test_record_visits(zhang.r, 1, cust);
    char path[600];
    snprintf(path, sizeof path, "%s/scan.bin", w.dir);
    size_t size = 2 * FS_ATTACH_CHUNK + 1000;
    uint8_t *bytes = malloc(size);
    CHECK(bytes != NULL);
    randombytes_buf(bytes, size);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL && fwrite(bytes, 1, size, f) == size && fclose(f) == 0);
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    uint8_t aid[16], hash[FS_ATTACH_HASH];
    CHECK_OK(fs_attach_file(zhang.r, fd, size, "scan.bin", "signed-requirement", NULL, "customer",
                            cust, cust, NULL, aid, hash));
    close(fd);
    CHECK_OK(sync_once(&w, &zhang, NULL));
    size_t missing = 9;
    CHECK_OK(fs_attach_missing(fs_store_replica(w.store), hash, size, NULL, 0, NULL, &missing));
    CHECK_EQ_INT(missing, 0);
    int sent = 0;
    CHECK_OK(fs_attach_sent(zhang.r, hash, &sent));
    CHECK_EQ_INT(sent, 1);
    /* the manager's version-7 laptop: the row and the bytes */
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_EQ_INT(live_rows(li.r, "attachment"), 1);
    int ok = 0;
    CHECK_OK(fs_attach_verify(li.r, hash, size, &ok));
    CHECK_EQ_INT(ok, 1);
    uint8_t *buf = malloc(FS_ATTACH_CHUNK);
    size_t n = 0;
    CHECK_OK(fs_attach_get_chunk(li.r, hash, 2, buf, &n));
    CHECK_EQ_INT(n, 1000);
    CHECK_MEM(buf, bytes + 2 * FS_ATTACH_CHUNK, 1000);
    /* a version-6 laptop: nothing of it, and in sync all the same */
    limit_version = 6;
    CHECK_OK(sync_once(&w, &li6, NULL));
    CHECK_OK(sync_once(&w, &li6, NULL));
    limit_version = 0;
    CHECK_EQ_INT(live_rows(li6.r, "attachment"), 0);
    CHECK_EQ_INT(live_rows(li6.r, "visit"), 1);
    CHECK_OK(fs_attach_missing(li6.r, hash, size, NULL, 0, NULL, &missing));
    CHECK_EQ_INT(missing, 3);
    /* the store: in scope only */
    uint32_t idx[FS_ATTACH_MAX_CHUNKS];
    int known = 9;
    CHECK_OK(fs_store_att_need(w.store, wang.pk, hash, idx, FS_ATTACH_MAX_CHUNKS, &n, &known));
    CHECK_EQ_INT(known, 0);
    CHECK_ERR(fs_store_att_get(w.store, wang.pk, hash, 0, buf, &n), FS_ENOTFOUND);
    CHECK_ERR(fs_store_att_put(w.store, wang.pk, hash, 0, bytes, FS_ATTACH_CHUNK), FS_ENOTFOUND);
    CHECK_OK(fs_store_att_get(w.store, li.pk, hash, 1, buf, &n));
    CHECK_EQ_INT(n, FS_ATTACH_CHUNK);
    CHECK_MEM(buf, bytes + FS_ATTACH_CHUNK, FS_ATTACH_CHUNK);
    /* a file whose bytes are not what its row names: dropped when whole */
    uint8_t fake[FS_ATTACH_HASH];
    memset(fake, 0x5c, sizeof fake);
    uint8_t aid2[16];
    fs_cell cells[] = {{"customer", fs_blob(cust, 16)},
                       {"record_table", fs_text("customer")},
                       {"record_id", fs_blob(cust, 16)},
                       {"name", fs_text("fake.bin")},
                       {"kind", fs_text("other")},
                       {"size", fs_int(FS_ATTACH_CHUNK + 10)},
                       {"hash", fs_blob(fake, sizeof fake)}};
    CHECK_OK(fs_insert(zhang.r, "attachment", cells, 7, aid2));
    CHECK_OK(fs_attach_put_chunk(zhang.r, fake, 0, bytes, FS_ATTACH_CHUNK));
    CHECK_OK(fs_attach_put_chunk(zhang.r, fake, 1, bytes, 10));
    CHECK_OK(sync_once(&w, &zhang, NULL)); /* sends both chunks; the server drops them */
    CHECK_OK(fs_store_att_need(w.store, zhang.pk, fake, idx, FS_ATTACH_MAX_CHUNKS, &n, &known));
    CHECK_EQ_INT(known, 1);
    CHECK_EQ_INT(n, 2);
    CHECK_ERR(fs_store_att_put(w.store, zhang.pk, fake, 1, bytes, 11), FS_EINVAL);
    CHECK_ERR(fs_store_att_put(w.store, zhang.pk, fake, 2, bytes, 10), FS_EINVAL);
    /* a deleted attachment's bytes leave the devices at their next sync */
    clock_now += 1000;
    CHECK_OK(fs_delete(zhang.r, "attachment", aid));
    CHECK_OK(fs_delete(zhang.r, "attachment", aid2));
    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_EQ_INT(live_rows(li.r, "attachment"), 0);
    CHECK_OK(fs_attach_missing(li.r, hash, size, NULL, 0, NULL, &missing));
    CHECK_EQ_INT(missing, 3);
    CHECK_OK(fs_attach_missing(zhang.r, hash, size, NULL, 0, NULL, &missing));
    CHECK_EQ_INT(missing, 3);
    free(buf);
    free(bytes);
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    fs_replica_close(li6.r);
    fs_replica_close(wang.r);
    world_close(&w);
}

/* Delivers queued frames both ways until both queues are empty. */
static void pump(fs_sync_client *c, fs_sync_server *s, queue *up, queue *down)
{
    while (up->head < up->tail || down->head < down->tail) {
        if (up->head < up->tail) {
            fs_buf *b = &up->frames[up->head++ % 64];
            CHECK_OK(fs_sync_server_receive(s, b->data, b->len));
            fs_buf_free(b);
        } else {
            fs_buf *b = &down->frames[down->head++ % 64];
            CHECK_OK(fs_sync_client_receive(c, b->data, b->len));
            fs_buf_free(b);
        }
    }
}

/* A connected device that is poked pulls what another device just pushed,
 * with no command of its own. */
static void test_poke_brings_news_to_a_connected_device(void)
{
    world w;
    dev zhang, li;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    dev_open(&w, &li, "li");
    queue up, down;
    memset(&up, 0, sizeof up);
    memset(&down, 0, sizeof down);
    fs_sync_client *c = NULL;
    fs_sync_server *s = NULL;
    CHECK_OK(fs_sync_client_new(&c, li.r, w.server_id->pk, NULL, enqueue, &up));
    CHECK_OK(fs_sync_server_new(&s, w.store, w.server_id, enqueue, &down));
    CHECK_OK(fs_sync_server_poke(s, 1)); /* before the handshake: nothing */
    CHECK_EQ_INT(down.tail, 0);
    CHECK_OK(fs_sync_client_start(c));
    pump(c, s, &up, &down);
    CHECK(fs_sync_client_in_sync(c)); /* li is connected and idle */
    uint8_t cust[16];
    test_record_visits(zhang.r, 2, cust);
    CHECK_OK(sync_once(&w, &zhang, NULL)); /* another connection pushes */
    uint64_t last = 0;
    CHECK_OK(fs_feed_last(fs_store_replica(w.store), &last));
    CHECK_EQ_INT(test_count_rows(li.r, "visit"), 0);
    CHECK_OK(fs_sync_server_poke(s, last));
    pump(c, s, &up, &down);
    CHECK_EQ_INT(test_count_rows(li.r, "visit"), 2);
    CHECK(fs_sync_client_in_sync(c));
    fs_sync_client_free(c);
    fs_sync_server_free(s);
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    world_close(&w);
}

/* ---- group commit (fs_sync_group, issue 21.4) ---- */

static int ended_sessions;
static void count_ended(void *emit_ctx)
{
    (void)emit_ctx;
    ended_sessions++;
}

/* Delivers queued frames both ways until both queues are empty; the first
 * error of either side, or 0. */
static int pump_rc(fs_sync_client *c, fs_sync_server *s, queue *up, queue *down)
{
    int rc = 0;
    while (up->head < up->tail || down->head < down->tail) {
        fs_buf *b;
        int frc;
        if (up->head < up->tail) {
            b = &up->frames[up->head++ % 64];
            frc = fs_sync_server_receive(s, b->data, b->len);
        } else {
            b = &down->frames[down->head++ % 64];
            frc = fs_sync_client_receive(c, b->data, b->len);
        }
        fs_buf_free(b);
        if (rc == 0 && frc < 0)
            rc = frc;
    }
    return rc;
}

/* The handshake alone: frames both ways until the server's session is
 * open and the client read READY; what the client sends next stays queued. */
static void handshake_only(fs_sync_client *c, fs_sync_server *s, queue *up, queue *down)
{
    while (fs_sync_server_device(s) == NULL && (up->head < up->tail || down->head < down->tail)) {
        while (up->head < up->tail && fs_sync_server_device(s) == NULL) {
            fs_buf *b = &up->frames[up->head++ % 64];
            CHECK_OK(fs_sync_server_receive(s, b->data, b->len));
            fs_buf_free(b);
        }
        while (down->head < down->tail) {
            fs_buf *b = &down->frames[down->head++ % 64];
            CHECK_OK(fs_sync_client_receive(c, b->data, b->len));
            fs_buf_free(b);
        }
    }
    CHECK(fs_sync_server_device(s) != NULL);
}

static size_t pending_of(fs_replica *r)
{
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(r, &st));
    return (size_t)st.pending;
}

/* Two reps, zhang (3 visits) and wang (2), each in a session of one group
 * with its handshake done (a handshake commits the group), and li, who
 * pulls afterwards. */
typedef struct grouped {
    world w;
    dev zhang, wang, li;
    fs_sync_group *g;
    fs_sync_client *c[2];
    fs_sync_server *s[2];
    queue up[2], down[2];
} grouped;

static void grouped_open(grouped *t)
{
    memset(t, 0, sizeof *t);
    world_open(&t->w);
    dev_open(&t->w, &t->zhang, "zhang");
    dev_open(&t->w, &t->wang, "wang");
    dev_open(&t->w, &t->li, "li");
    uint8_t c1[16], c2[16];
    test_record_visits(t->zhang.r, 3, c1);
    test_record_visits(t->wang.r, 2, c2);
    CHECK_OK(fs_sync_group_new(&t->g, t->w.store, count_ended));
    ended_sessions = 0;
    dev *ds[2] = {&t->zhang, &t->wang};
    for (int i = 0; i < 2; i++) {
        CHECK_OK(fs_sync_client_new(&t->c[i], ds[i]->r, t->w.server_id->pk, NULL, enqueue,
                                    &t->up[i]));
        CHECK_OK(fs_sync_server_new(&t->s[i], t->w.store, t->w.server_id, enqueue, &t->down[i]));
        fs_sync_server_set_group(t->s[i], t->g);
        CHECK_OK(fs_sync_client_start(t->c[i]));
        handshake_only(t->c[i], t->s[i], &t->up[i], &t->down[i]);
    }
}

static int grouped_pump(grouped *t, int i)
{
    return pump_rc(t->c[i], t->s[i], &t->up[i], &t->down[i]);
}

/* The sessions and the group gone (what is open committed). */
static void grouped_end(grouped *t)
{
    for (int i = 0; i < 2; i++) {
        fs_sync_client_free(t->c[i]);
        fs_sync_server_free(t->s[i]);
        t->c[i] = NULL;
        t->s[i] = NULL;
    }
    fs_sync_group_free(t->g);
    t->g = NULL;
}

static void grouped_close(grouped *t)
{
    fs_replica_close(t->zhang.r);
    fs_replica_close(t->wang.r);
    fs_replica_close(t->li.r);
    world_close(&t->w);
}

/* Two reps' sessions in one group: their pushes are answered only once the
 * group committed (nothing acknowledged before it is durable), then both
 * are in sync and li gets both reps' visits. A commit that fails keeps
 * nothing: each session is told ERROR and ended, no device is acknowledged,
 * and the next sync brings everything. */
static void test_group_commit_answers_after_the_commit(void)
{
    for (int failing = 0; failing <= 1; failing++) {
        grouped t;
        grouped_open(&t);
        dev *ds[2] = {&t.zhang, &t.wang};
        sqlite3 *db = fs_replica_db(fs_store_replica(t.w.store));
        if (failing) /* a commit that fails: a deferred constraint broken in the group */
            CHECK(sqlite3_exec(db,
                               "PRAGMA foreign_keys=ON;"
                               "CREATE TEMP TABLE gp(id INTEGER PRIMARY KEY);"
                               "CREATE TEMP TABLE gc(p INTEGER REFERENCES gp(id)"
                               " DEFERRABLE INITIALLY DEFERRED);",
                               NULL, NULL, NULL) == SQLITE_OK);
        for (int i = 0; i < 2; i++)
            CHECK_OK(grouped_pump(&t, i));
        /* both pushed; neither is answered, both writes are in the open group */
        CHECK(fs_sync_group_open(t.g));
        CHECK(!fs_sync_client_in_sync(t.c[0]) && !fs_sync_client_in_sync(t.c[1]));
        CHECK(pending_of(t.zhang.r) > 0 && pending_of(t.wang.r) > 0);
        if (failing)
            CHECK(sqlite3_exec(db, "INSERT INTO temp.gc VALUES(7)", NULL, NULL, NULL) ==
                  SQLITE_OK);
        int frc = fs_sync_group_flush(t.g);
        CHECK(!fs_sync_group_open(t.g));
        for (int i = 0; i < 2; i++) {
            int rc = grouped_pump(&t, i);
            if (failing) {
                CHECK(rc != 0); /* told ERROR */
                CHECK(pending_of(ds[i]->r) > 0);
            } else {
                CHECK_OK(rc);
                CHECK(fs_sync_client_in_sync(t.c[i]));
                CHECK_EQ_INT(pending_of(ds[i]->r), 0);
            }
        }
        CHECK(failing ? frc != 0 : frc == 0);
        CHECK_EQ_INT(ended_sessions, failing ? 2 : 0);
        grouped_end(&t);
        if (failing) {
            CHECK(sqlite3_exec(db, "DELETE FROM temp.gc; PRAGMA foreign_keys=OFF", NULL, NULL,
                               NULL) == SQLITE_OK);
            CHECK_OK(sync_once(&t.w, &t.li, NULL));
            CHECK_EQ_INT(test_count_rows(t.li.r, "visit"), 0); /* nothing of the group kept */
            CHECK_OK(sync_once(&t.w, &t.zhang, NULL));          /* pushed again, no group */
            CHECK_OK(sync_once(&t.w, &t.wang, NULL));
            CHECK_EQ_INT(pending_of(t.zhang.r), 0);
        }
        CHECK_OK(sync_once(&t.w, &t.li, NULL));
        CHECK_EQ_INT(test_count_rows(t.li.r, "visit"), 5);
        grouped_close(&t);
    }
}

/* A group that took its bytes (here 1: every frame's) commits before it
 * takes another frame: zhang's push is answered once wang's frames arrive,
 * with no flush from outside (unlike the test above, where both wait for
 * it), so no group outgrows what one PostgreSQL log entry holds. */
static void test_group_commits_at_its_bytes(void)
{
    grouped t;
    grouped_open(&t);
    fs_sync_group_set_max_bytes(t.g, 1);
    CHECK_OK(grouped_pump(&t, 0));
    CHECK_OK(grouped_pump(&t, 1));
    CHECK_OK(grouped_pump(&t, 0)); /* what wang's frames let out */
    CHECK(fs_sync_client_in_sync(t.c[0]));
    CHECK_EQ_INT(pending_of(t.zhang.r), 0);
    CHECK_OK(fs_sync_group_flush(t.g));
    CHECK_OK(grouped_pump(&t, 1));
    CHECK(fs_sync_client_in_sync(t.c[1]));
    CHECK_EQ_INT(pending_of(t.wang.r), 0);
    CHECK_EQ_INT(ended_sessions, 0);
    grouped_end(&t);
    CHECK_OK(sync_once(&t.w, &t.li, NULL));
    CHECK_EQ_INT(test_count_rows(t.li.r, "visit"), 5);
    grouped_close(&t);
}

/* A push batch ends at a write's boundary. Here the 1,000th change is a
 * commitment's first column (visit), before the column that decides whose
 * it is (customer): split there, the server would refuse the new row. */
static void test_batches_keep_writes_whole(void)
{
    world w;
    dev zhang, li;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    dev_open(&w, &li, "li");
    uint8_t c1[16], c2[16];
    test_record_visits(zhang.r, 0, c1);   /* 2 changes */
    test_record_visits(zhang.r, 200, c2); /* 2 + 200 * (5 + 4): change 1,000 is a
                                             commitment's "visit" */
    CHECK_OK(sync_once(&w, &zhang, NULL));
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(zhang.r, &st));
    CHECK_EQ_INT(st.refused, 0);
    CHECK_EQ_INT(st.pending, 0);
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_EQ_INT(test_count_rows(li.r, "commitment"), 200);
    test_same_state(zhang.r, li.r);
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    world_close(&w);
}

/* ---- records near the size limits (issue 25.1) ---- */

static const char *const big_columns[8] = {"notes",    "objections", "next_steps", "contact",
                                           "position", "visitor",    "place",      "purpose"};

/* Records n visits to cust, each with `fields` of its text fields `bytes`
 * long (notes first; each value differs), place and purpose short if not
 * among them, the others left out (few columns: more visits per batch of
 * 5,000 changes), in one transaction. */
static void record_big_visits(fs_replica *r, const uint8_t cust[16], size_t n, size_t fields,
                              size_t bytes, char tag)
{
    char *text = malloc(8 * (bytes + 1));
    CHECK(text != NULL);
    CHECK_OK(fs_begin(r));
    for (size_t v = 0; v < n; v++) {
        fs_cell cells[10] = {{"customer", fs_blob(cust, 16)}, {"time", fs_text("2023-10-10 14:00")}};
        size_t nc = 2;
        for (size_t f = 0; f < 8; f++) {
            if (f >= fields && f < 6)
                continue; /* left out; place and purpose (6, 7) are required */
            char *t = text + f * (bytes + 1);
            size_t len = f < fields ? bytes : 20;
            for (size_t i = 0; i < len; i++)
                t[i] = (char)('a' + (tag + v * 7 + f * 3 + i) % 26);
            cells[nc].column = big_columns[f];
            cells[nc++].value = fs_textn(t, len);
        }
        uint8_t id[16];
        CHECK_OK(fs_insert(r, "visit", cells, nc, id));
    }
    CHECK_OK(fs_commit(r));
    free(text);
}

/* The change log read by bytes: whole changes, up to max_bytes of values,
 * the first one whatever its size. */
static void test_changes_since_bytes_bounds_a_read(void)
{
    world w;
    dev zhang;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    uint8_t cust[16];
    test_record_visits(zhang.r, 0, cust);                   /* changes 1-2 */
    record_big_visits(zhang.r, cust, 3, 1, 25000, 0);       /* 3-17: 5 each */
    fs_changeset *all = NULL, *cs = NULL;
    CHECK_OK(fs_changes_since(zhang.r, 2, SIZE_MAX, &all));
    CHECK_EQ_INT(all->count, 15);
    size_t after_notes = 0; /* values of the first visit's changes up to and with its notes */
    size_t k = 0;
    for (; k < all->count; k++) {
        const fs_value *v = &all->changes[k].value;
        after_notes += v->type == FS_TEXT || v->type == FS_BLOB ? v->n : 0;
        if (v->type == FS_TEXT && v->n == 25000)
            break;
    }
    CHECK(k < 5);
    struct {
        size_t max, max_bytes, count;
    } cases[] = {
        {SIZE_MAX, 1, 1},                          /* the first in any case */
        {SIZE_MAX, after_notes - 1, k},            /* stops before the notes */
        {SIZE_MAX, after_notes, k + 1},            /* the notes fit exactly */
        {SIZE_MAX, 2 * 25000 + 2000, 10 + k},      /* two visits, the third up to its notes */
        {7, 2 * 25000 + 2000, 7},                  /* the count bounds first */
        {SIZE_MAX, SIZE_MAX, 15},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_OK(fs_changes_since_bytes(zhang.r, 2, cases[i].max, cases[i].max_bytes, &cs));
        if (cs->count != cases[i].count)
            FAIL("case %zu: %zu changes, expected %zu", i, cs->count, cases[i].count);
        CHECK_EQ_INT(cs->first_seq, 3);
        CHECK_EQ_INT(cs->last_seq, 2 + cs->count);
        for (size_t j = 0; j < cs->count; j++)
            CHECK(cs->changes[j].value.n == all->changes[j].value.n &&
                  memcmp(cs->changes[j].value.p, all->changes[j].value.p,
                         cs->changes[j].value.n) == 0);
        fs_changeset_free(cs);
    }
    fs_changeset_free(all);
    fs_replica_close(zhang.r);
    world_close(&w);
}

/* Issue 25.1 in one process: a backlog of long notes larger than a message
 * (860 x 25,000 bytes) and visits whose eight fields are 65,000 bytes each
 * (40 of them, 20 MiB) go up and come down completely, in batches bounded by
 * bytes; the manager's own big visits reach the rep. Failed on the code
 * before: the PUSH over the frame limit never went, and a CHANGES over it
 * failed every pull. */
static void test_big_records_sync_both_ways(void)
{
    world w;
    dev zhang, zhang2, li;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    dev_open_in(&w, &zhang2, "zhang", "zhang2");
    dev_open(&w, &li, "li");
    uint8_t cust[16];
    test_record_visits(zhang.r, 0, cust);
    record_big_visits(zhang.r, cust, 860, 1, 25000, 1);
    size_t frames = 0;
    CHECK_OK(sync_once(&w, &zhang, &frames));
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(zhang.r, &st));
    CHECK_EQ_INT(st.pending, 0);
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_OK(sync_once(&w, &zhang2, NULL));
    CHECK_EQ_INT(test_count_rows(li.r, "visit"), 860);
    test_same_state(zhang.r, li.r);
    test_same_state(zhang.r, zhang2.r);
    printf("860 visits with 25,000-byte notes: pushed in %zu frames, pulled by both\n", frames);

    record_big_visits(zhang2.r, cust, 40, 8, 65000, 2);
    CHECK_OK(sync_once(&w, &zhang2, NULL));
    CHECK_OK(fs_replica_status_get(zhang2.r, &st));
    CHECK_EQ_INT(st.pending, 0);
    record_big_visits(li.r, cust, 40, 8, 65000, 3);
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_OK(fs_replica_status_get(li.r, &st));
    CHECK_EQ_INT(st.pending, 0);
    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_OK(sync_once(&w, &zhang2, NULL));
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_EQ_INT(test_count_rows(zhang.r, "visit"), 940);
    test_same_state(zhang.r, li.r);
    test_same_state(zhang.r, zhang2.r);
    fs_replica_close(zhang.r);
    fs_replica_close(zhang2.r);
    fs_replica_close(li.r);
    world_close(&w);
}

/* ---- pipelining: two PUSH batches in flight, the next PULL before applying ---- */

#define PIPE_VISITS 1500 /* 2 + 1,500 * 9 changes: three batches each way */

/* The client's queue, noting for each frame it emits what its replica had
 * applied at that moment (cursor, visits). */
typedef struct tap {
    queue q; /* first: a tap is a queue */
    fs_replica *r;
    uint64_t cursor_at[64];
    size_t visits_at[64];
} tap;

static int tap_enqueue(void *ctx, const uint8_t *frame, size_t len)
{
    tap *t = ctx;
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(t->r, &st));
    t->cursor_at[t->q.tail % 64] = st.cursor;
    t->visits_at[t->q.tail % 64] = test_count_rows(t->r, "visit");
    return enqueue(&t->q, frame, len);
}

/* One connection driven frame by frame. */
typedef struct session {
    fs_sync_client *c;
    fs_sync_server *s;
    tap up;
    queue down;
} session;

static size_t queued(const queue *q)
{
    return q->tail - q->head;
}

/* Delivers the client's oldest frame to the server. */
static void to_server(session *x)
{
    CHECK(queued(&x->up.q) > 0);
    fs_buf *b = &x->up.q.frames[x->up.q.head++ % 64];
    CHECK_OK(fs_sync_server_receive(x->s, b->data, b->len));
    fs_buf_free(b);
}

/* Delivers the server's oldest frame to the client; returns how many frames
 * the client sent in answer. */
static size_t to_client(session *x)
{
    CHECK(queued(&x->down) > 0);
    size_t before = x->up.q.tail;
    fs_buf *b = &x->down.frames[x->down.head++ % 64];
    CHECK_OK(fs_sync_client_receive(x->c, b->data, b->len));
    fs_buf_free(b);
    return x->up.q.tail - before;
}

/* Connects d and runs the handshake; returns right after the client handled
 * READY, with what it sent then still queued. */
static void session_open(world *w, dev *d, session *x)
{
    memset(x, 0, sizeof *x);
    x->up.r = d->r;
    CHECK_OK(fs_sync_client_new(&x->c, d->r, w->server_id->pk, NULL, tap_enqueue, &x->up));
    CHECK_OK(fs_sync_server_new(&x->s, w->store, w->server_id, enqueue, &x->down));
    CHECK_OK(fs_sync_client_start(x->c));
    while (!fs_sync_client_open(x->c)) { /* the handshake: one frame on its way at a time */
        if (queued(&x->up.q) > 0)
            to_server(x);
        else
            to_client(x);
    }
    /* from version 5 the server says at once what it holds of the device
     * (TIP), and the client pushes and pulls only then */
    CHECK_EQ_INT(queued(&x->down), 1);
    to_client(x);
}

/* The connection drops: what is queued either way is lost. */
static void session_drop(session *x)
{
    while (x->up.q.head < x->up.q.tail)
        fs_buf_free(&x->up.q.frames[x->up.q.head++ % 64]);
    while (x->down.head < x->down.tail)
        fs_buf_free(&x->down.frames[x->down.head++ % 64]);
    fs_sync_client_free(x->c);
    fs_sync_server_free(x->s);
}

static void session_finish(session *x)
{
    pump(x->c, x->s, &x->up.q, &x->down);
    CHECK(fs_sync_client_in_sync(x->c));
    CHECK_OK(fs_sync_client_bye(x->c));
    session_drop(x);
}

/* With three batches pending, READY is answered with two PUSHes (and the
 * PULL) before any ACK; each ACK makes room for the next batch. */
static void test_push_window_sends_two_batches_before_an_ack(void)
{
    world w;
    dev zhang;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    uint8_t cust[16];
    test_record_visits(zhang.r, PIPE_VISITS, cust);
    fs_replica *sr = fs_store_replica(w.store);
    session x;
    session_open(&w, &zhang, &x);
    CHECK_EQ_INT(queued(&x.up.q), 3); /* PUSH, PUSH, PULL */
    to_server(&x);
    size_t v1 = test_count_rows(sr, "visit");
    CHECK(v1 > 0 && v1 < PIPE_VISITS);
    to_server(&x); /* the second batch, sent before the first was acknowledged */
    size_t v2 = test_count_rows(sr, "visit");
    CHECK(v2 > v1 && v2 < PIPE_VISITS); /* the third waits for room */
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(zhang.r, &st));
    CHECK_EQ_INT(st.acked_seq, 0);
    CHECK_EQ_INT(queued(&x.down), 2); /* ACK, ACK */
    CHECK_EQ_INT(to_client(&x), 1);   /* the first ACK: the third batch goes */
    CHECK_OK(fs_replica_status_get(zhang.r, &st));
    CHECK(st.acked_seq > 0 && st.acked_seq < st.last_seq);
    CHECK_EQ_INT(to_client(&x), 0);      /* the second ACK: nothing left to send */
    CHECK(!fs_sync_client_in_sync(x.c)); /* the third batch and the PULL are out */
    session_finish(&x);
    CHECK_OK(fs_replica_status_get(zhang.r, &st));
    CHECK_EQ_INT(st.pending, 0);
    CHECK_EQ_INT(st.acked_seq, st.last_seq);
    CHECK_EQ_INT(test_count_rows(sr, "visit"), PIPE_VISITS);
    fs_replica_close(zhang.r);
    world_close(&w);
}

/* A CHANGES with more=1 is answered with the PULL for the batch after it,
 * from its cursor, before it is applied. */
static void test_pull_asks_for_the_next_batch_before_applying(void)
{
    world w;
    dev zhang, li;
    uint8_t cust[16];
    pair_open(&w, &zhang, &li, PIPE_VISITS, cust);
    session x;
    session_open(&w, &li, &x);
    CHECK_EQ_INT(queued(&x.up.q), 1); /* li has nothing to push: the PULL */
    to_server(&x);
    CHECK_EQ_INT(queued(&x.down), 1); /* CHANGES, more=1; nothing to purge */
    size_t at = x.up.q.tail % 64;
    CHECK_EQ_INT(to_client(&x), 1);      /* the next PULL went out ... */
    CHECK_EQ_INT(x.up.cursor_at[at], 0); /* ... before the batch was applied */
    CHECK_EQ_INT(x.up.visits_at[at], 0);
    fs_replica_status st1;
    CHECK_OK(fs_replica_status_get(li.r, &st1));
    size_t v1 = test_count_rows(li.r, "visit");
    CHECK(st1.cursor > 0 && v1 > 0 && v1 < PIPE_VISITS);
    CHECK(!fs_sync_client_in_sync(x.c));
    to_server(&x);
    CHECK_EQ_INT(queued(&x.down), 1);
    at = x.up.q.tail % 64;
    CHECK_EQ_INT(to_client(&x), 1);               /* the third batch asked for ... */
    CHECK_EQ_INT(x.up.cursor_at[at], st1.cursor); /* ... before the second was applied */
    CHECK_EQ_INT(x.up.visits_at[at], v1);
    /* The second batch followed the first (the PULL named the CHANGES's
     * cursor, not the replica's, which was still 0). */
    size_t v2 = test_count_rows(li.r, "visit");
    CHECK(v2 > v1 && v2 < PIPE_VISITS);
    to_server(&x);
    CHECK_EQ_INT(to_client(&x), 0); /* the last batch: nothing more to ask */
    CHECK(fs_sync_client_in_sync(x.c));
    session_finish(&x);
    CHECK_EQ_INT(test_count_rows(li.r, "visit"), PIPE_VISITS);
    test_same_state(zhang.r, li.r);
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    world_close(&w);
}

/* Several batches both ways in one session: li pushes its backlog while it
 * pulls zhang's; another manager's device ends with li's state. */
static void test_pipelined_sync_converges_both_ways(void)
{
    world w;
    dev zhang, li, zhou;
    world_open(&w);
    CHECK_OK(fs_store_user_add(w.store, "zhou", FS_ROLE_MANAGER, "north"));
    dev_open(&w, &zhang, "zhang");
    dev_open(&w, &li, "li");
    dev_open(&w, &zhou, "zhou");
    uint8_t c1[16], c2[16];
    test_record_visits(zhang.r, PIPE_VISITS, c1);
    test_record_visits(li.r, PIPE_VISITS, c2);
    CHECK_OK(sync_once(&w, &zhang, NULL));
    size_t frames = 0;
    CHECK_OK(sync_once(&w, &li, &frames)); /* 3 batches up, 3 or more down */
    CHECK_OK(sync_once(&w, &zhou, NULL));
    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_OK(sync_once(&w, &li, NULL));
    dev *devs[] = {&zhang, &li, &zhou};
    for (int i = 0; i < 3; i++) {
        fs_replica_status st;
        CHECK_OK(fs_replica_status_get(devs[i]->r, &st));
        CHECK_EQ_INT(st.pending, 0);
        CHECK_EQ_INT(st.refused, 0);
        size_t problems = 9;
        CHECK_OK(fs_replica_check(devs[i]->r, &problems));
        CHECK_EQ_INT(problems, 0);
    }
    CHECK_EQ_INT(test_count_rows(fs_store_replica(w.store), "visit"), 2 * PIPE_VISITS);
    CHECK_EQ_INT(test_count_rows(li.r, "visit"), 2 * PIPE_VISITS);
    test_same_state(li.r, zhou.r);
    printf("%d visits each way: li in sync after %zu frames\n", PIPE_VISITS, frames);
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    fs_replica_close(zhou.r);
    world_close(&w);
}

/* Issue 25.4: a laptop whose sync broke after it reported what it holds
 * (two PUSHes and the PULL arrived, the rest did not) has unsent changes
 * the server knows of. Revoked after push, it syncs once more: the server
 * takes every change, sends it nothing new, and then tells it to wipe;
 * the manager gets all of it. Revoked at once, it is told to wipe at its
 * handshake and what it had not sent is lost. */
static void test_revoke_after_push_keeps_unsent_work(void)
{
    world w;
    dev zhang, zhang2, li;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    dev_open_in(&w, &zhang2, "zhang", "zhang2");
    dev_open(&w, &li, "li");
    uint8_t cust[16];
    test_record_visits(zhang.r, 1500, cust); /* 2 + 13,500 changes: three batches */
    fs_replica *sr = fs_store_replica(w.store);
    session x;
    session_open(&w, &zhang, &x);
    CHECK_EQ_INT(queued(&x.up.q), 3); /* PUSH, PUSH, PULL */
    to_server(&x);
    to_server(&x);
    to_server(&x);
    session_drop(&x); /* the third PUSH never goes */
    uint64_t seen = 0, lease = 0, pending = 0, oldest = 0;
    CHECK_OK(fs_store_device_sync(w.store, zhang.pk, &seen, &lease, &pending, &oldest));
    CHECK(pending > 0);
    size_t before = test_count_rows(sr, "visit");
    CHECK(before < 1500);
    CHECK_OK(fs_store_device_revoke_after_push(w.store, zhang.pk));
    CHECK_OK(fs_store_device_check(w.store, zhang.pk)); /* it may still connect */
    CHECK_ERR(sync_once(&w, &zhang, NULL), FS_EREVOKED);
    CHECK_EQ_INT(test_count_rows(sr, "visit"), 1500);
    CHECK_ERR(fs_store_device_check(w.store, zhang.pk), FS_EREVOKED);
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_EQ_INT(test_count_rows(li.r, "visit"), 1500);

    /* At once: the rest of the second laptop's work is lost. */
    test_record_visits(zhang2.r, 1500, cust);
    session_open(&w, &zhang2, &x);
    to_server(&x);
    to_server(&x);
    to_server(&x);
    session_drop(&x);
    CHECK_OK(fs_store_device_sync(w.store, zhang2.pk, &seen, &lease, &pending, &oldest));
    CHECK(pending > 0);
    CHECK_OK(fs_store_device_revoke(w.store, zhang2.pk));
    CHECK_ERR(sync_once(&w, &zhang2, NULL), FS_EREVOKED);
    CHECK(test_count_rows(sr, "visit") < 3000); /* (the audit: tests/cli/test_revoke.sh) */
    fs_replica_close(zhang.r);
    fs_replica_close(zhang2.r);
    fs_replica_close(li.r);
    world_close(&w);
}

/* The connection drops with two PUSHes out: first with the second lost,
 * then with both applied and both ACKs lost. The next session resends from
 * the replica's acked_seq; the server acknowledges what it has again, and
 * nothing is lost or fed twice. */
static void test_session_broken_with_two_pushes_out_resends(void)
{
    world w;
    dev zhang, li;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    dev_open(&w, &li, "li");
    uint8_t cust[16];
    test_record_visits(zhang.r, 800, cust); /* 2 + 7,200 changes: two batches */
    fs_replica *sr = fs_store_replica(w.store);
    session x;
    session_open(&w, &zhang, &x);
    CHECK_EQ_INT(queued(&x.up.q), 3); /* PUSH, PUSH, PULL */
    to_server(&x);                    /* the first arrives ... */
    session_drop(&x);                 /* ... its ACK and the second PUSH are lost */
    size_t v1 = test_count_rows(sr, "visit");
    CHECK(v1 > 0 && v1 < 800);
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(zhang.r, &st));
    CHECK_EQ_INT(st.acked_seq, 0);
    session_open(&w, &zhang, &x);
    CHECK_EQ_INT(queued(&x.up.q), 3); /* both again, from acked_seq */
    to_server(&x);                    /* the first: acknowledged again */
    CHECK_EQ_INT(test_count_rows(sr, "visit"), v1);
    to_server(&x); /* the second: applied */
    CHECK_EQ_INT(test_count_rows(sr, "visit"), 800);
    uint64_t feed = 0, feed_after = 0;
    CHECK_OK(fs_feed_last(sr, &feed));
    session_drop(&x); /* both ACKs lost */
    CHECK_OK(fs_replica_status_get(zhang.r, &st));
    CHECK_EQ_INT(st.acked_seq, 0);
    CHECK_OK(sync_once(&w, &zhang, NULL)); /* both resent; the server has them */
    CHECK_OK(fs_feed_last(sr, &feed_after));
    CHECK_EQ_INT(feed_after, feed); /* nothing applied twice */
    CHECK_OK(fs_replica_status_get(zhang.r, &st));
    CHECK_EQ_INT(st.pending, 0);
    CHECK_EQ_INT(test_feed_duplicates(sr), 0);
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_EQ_INT(test_count_rows(li.r, "visit"), 800);
    test_same_state(zhang.r, li.r);
    size_t problems = 9;
    CHECK_OK(fs_replica_check(sr, &problems));
    CHECK_EQ_INT(problems, 0);
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    world_close(&w);
}

/* A POKE or a kick while a PULL is out sends no second PULL for the same
 * cursor. After a POKE the answer brings the news (the server read the PULL
 * after it poked); after a kick the client pulls once more when the answer
 * came, since the news may be newer than the PULL's reading. */
static void test_poke_and_kick_never_ask_twice(void)
{
    world w;
    dev zhang, li;
    world_open(&w);
    dev_open(&w, &zhang, "zhang");
    dev_open(&w, &li, "li");
    session x;
    session_open(&w, &li, &x);
    pump(x.c, x.s, &x.up.q, &x.down);
    CHECK(fs_sync_client_in_sync(x.c));
    uint8_t c1[16], c2[16];
    test_record_visits(zhang.r, 2, c1);
    CHECK_OK(sync_once(&w, &zhang, NULL));
    uint64_t last = 0;
    CHECK_OK(fs_feed_last(fs_store_replica(w.store), &last));
    CHECK_OK(fs_sync_server_poke(x.s, last));
    CHECK_EQ_INT(to_client(&x), 1); /* the PULL */
    CHECK(!fs_sync_client_in_sync(x.c));
    CHECK_OK(fs_sync_server_poke(x.s, last));
    CHECK_EQ_INT(to_client(&x), 0); /* one is out already */
    to_server(&x);
    CHECK_EQ_INT(to_client(&x), 0); /* CHANGES, more=0 */
    CHECK(fs_sync_client_in_sync(x.c));
    CHECK_EQ_INT(test_count_rows(li.r, "visit"), 2);
    test_record_visits(zhang.r, 3, c2);
    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_OK(fs_sync_client_kick(x.c));
    CHECK_EQ_INT(queued(&x.up.q), 1); /* the PULL */
    CHECK_OK(fs_sync_client_kick(x.c));
    CHECK_EQ_INT(queued(&x.up.q), 1); /* not a second one */
    CHECK(!fs_sync_client_in_sync(x.c));
    to_server(&x);
    CHECK_EQ_INT(to_client(&x), 1); /* the pull after the second kick */
    CHECK(!fs_sync_client_in_sync(x.c));
    to_server(&x);
    CHECK_EQ_INT(to_client(&x), 0);
    CHECK(fs_sync_client_in_sync(x.c));
    CHECK_EQ_INT(test_count_rows(li.r, "visit"), 5);
    session_finish(&x);
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    world_close(&w);
}

/* Held (as the websocket client has it), a batch whose successor was asked
 * for waits for fs_sync_client_continue(), or for the next frame. */
static void test_held_batch_waits_for_continue(void)
{
    world w;
    dev zhang, li;
    uint8_t cust[16];
    pair_open(&w, &zhang, &li, PIPE_VISITS, cust);
    session x;
    session_open(&w, &li, &x);
    fs_sync_client_hold_batches(x.c, 1);
    to_server(&x);
    CHECK_EQ_INT(to_client(&x), 1);                  /* the next PULL */
    CHECK_EQ_INT(test_count_rows(li.r, "visit"), 0); /* held */
    CHECK(!fs_sync_client_in_sync(x.c));
    CHECK_EQ_INT(fs_sync_client_continue(x.c), 1); /* the PULL is written: apply */
    size_t v1 = test_count_rows(li.r, "visit");
    CHECK(v1 > 0 && v1 < PIPE_VISITS);
    CHECK_EQ_INT(fs_sync_client_continue(x.c), 0); /* nothing held */
    to_server(&x);
    CHECK_EQ_INT(to_client(&x), 1); /* the second batch held, the third asked for */
    CHECK_EQ_INT(test_count_rows(li.r, "visit"), v1);
    to_server(&x);
    CHECK_EQ_INT(to_client(&x), 0); /* the held one first, then the last */
    CHECK_EQ_INT(test_count_rows(li.r, "visit"), PIPE_VISITS);
    CHECK(fs_sync_client_in_sync(x.c));
    session_finish(&x);
    test_same_state(zhang.r, li.r);
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    world_close(&w);
}

static int has_time_index(fs_replica *r)
{
    sqlite3_stmt *st = NULL;
    CHECK_EQ_INT(sqlite3_prepare_v2(fs__replica_db(r),
                                    "SELECT 1 FROM sqlite_master WHERE type='index' AND name='" FS__VISIT_TIME_INDEX "'",
                                    -1, &st, NULL),
                 SQLITE_OK);
    int got = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return got;
}

/* A fresh replica's first pull leaves the visits' time index out while its
 * batches come (each would dirty pages all over it) and makes it at the
 * feed's end; a first pull cut short leaves it out until the replica is
 * opened again (or a later pull ends). A device that holds visits keeps
 * its index through a pull from 0. */
static void test_first_pull_makes_the_time_index_at_its_end(void)
{
    world w;
    dev zhang, li;
    uint8_t cust[16];
    pair_open(&w, &zhang, &li, PIPE_VISITS, cust);
    CHECK(has_time_index(zhang.r)); /* his own visits: kept through his pull from 0 */
    CHECK(has_time_index(li.r));    /* made with the replica */
    session x;
    session_open(&w, &li, &x);
    fs_sync_client_hold_batches(x.c, 1);
    CHECK(!has_time_index(li.r)); /* the first PULL is on its way */
    to_server(&x);
    CHECK_EQ_INT(to_client(&x), 1);
    CHECK_EQ_INT(fs_sync_client_continue(x.c), 1); /* the first batch applied */
    size_t v1 = test_count_rows(li.r, "visit");
    CHECK(v1 > 0 && v1 < PIPE_VISITS);
    CHECK(!has_time_index(li.r));
    session_finish(&x);
    CHECK_EQ_INT(test_count_rows(li.r, "visit"), PIPE_VISITS);
    CHECK(has_time_index(li.r)); /* made at the feed's end */
    test_same_state(zhang.r, li.r);

    /* zhou's first pull cut short after a batch: open again, the index is back */
    dev wang; /* zhou, a second manager of the team */
    CHECK_OK(fs_store_user_add(w.store, "zhou", FS_ROLE_MANAGER, "north"));
    dev_open(&w, &wang, "zhou");
    session_open(&w, &wang, &x);
    fs_sync_client_hold_batches(x.c, 1);
    to_server(&x);
    CHECK_EQ_INT(to_client(&x), 1);
    CHECK_EQ_INT(fs_sync_client_continue(x.c), 1);
    CHECK(test_count_rows(wang.r, "visit") > 0);
    session_drop(&x);
    CHECK(!has_time_index(wang.r));
    fs_replica_close(wang.r);
    dev_reopen(&w, &wang, "zhou");
    CHECK(has_time_index(wang.r));
    CHECK_OK(sync_once(&w, &wang, NULL)); /* the rest, from its cursor */
    CHECK_EQ_INT(test_count_rows(wang.r, "visit"), PIPE_VISITS);
    CHECK(has_time_index(wang.r));
    fs_replica_close(wang.r);
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    world_close(&w);
}

/* Held batches change nothing else: purges still come between the batches
 * they belong between, conflicts and backlogs still converge. */
static void test_held_batches_keep_every_outcome(void)
{
    hold_batches = 1; /* each test runs in a child of its own */
    test_reassigned_customer_reaches_the_new_owner();
    test_offline_edits_of_one_field_converge();
    test_pipelined_sync_converges_both_ways();
    test_session_broken_with_two_pushes_out_resends();
}

/* Issue 25.2: a store given a new epoch (what a restore does) makes every
 * device of protocol version 5 pull its scope again from 0, which changes
 * nothing it holds (no conflict records) and is recorded; a device of
 * version 4 syncs as before. */
static void test_new_epoch_resyncs_devices(void)
{
    world w;
    dev zhang, li, old;
    uint8_t cust[16];
    pair_open(&w, &zhang, &li, 20, cust);
    dev_open_in(&w, &old, "li", "li-old");
    CHECK_OK(sync_once(&w, &li, NULL));
    limit_version = 4;
    CHECK_OK(sync_once(&w, &old, NULL));
    limit_version = 0;
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(li.r, &st));
    CHECK_EQ_INT(st.resync_ms, 0); /* the first epoch is taken as it is */
    uint64_t cursor = st.cursor;
    CHECK(cursor > 0);
    CHECK_OK(fs_store_new_epoch(w.store));
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_OK(fs_replica_status_get(li.r, &st));
    CHECK(st.resync_ms != 0);
    CHECK_EQ_INT(st.resync_why, FS_RESYNC_EPOCH);
    CHECK_EQ_INT(st.cursor, cursor);
    CHECK_EQ_INT(st.open_conflicts, 0);
    CHECK_EQ_INT(st.pending, 0);
    CHECK_EQ_INT(test_count_rows(li.r, "visit"), 20);
    CHECK_EQ_INT(test_count_rows(li.r, "conflict"), 0);
    same_visits(zhang.r, li.r);
    /* once is enough: the next sync finds the epoch it keeps */
    uint64_t when = st.resync_ms;
    clock_now += 1000;
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_OK(fs_replica_status_get(li.r, &st));
    CHECK_EQ_INT(st.resync_ms, when);
    /* a version 4 device is told nothing of epochs and syncs as before */
    test_record_visits(zhang.r, 3, cust);
    CHECK_OK(sync_once(&w, &zhang, NULL));
    limit_version = 4;
    CHECK_OK(sync_once(&w, &old, NULL));
    limit_version = 0;
    CHECK_OK(fs_replica_status_get(old.r, &st));
    CHECK_EQ_INT(st.resync_ms, 0);
    CHECK_EQ_INT(test_count_rows(old.r, "visit"), 23);
    fs_replica_close(old.r);
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    world_close(&w);
}

/* Issue 25.2: a store that lost what it acknowledged and fed (its feed and
 * a device's acknowledged sequence set back, as a backup copied back by
 * hand has them): the pusher rewinds its acknowledged mark and pushes
 * again, and re-syncs; a device whose cursor is past the feed's end, or
 * whose entry there differs, is told to re-sync. */
static void test_restored_store_gets_pushes_again(void)
{
    world w;
    dev zhang, li;
    uint8_t cust[16];
    pair_open(&w, &zhang, &li, 5, cust);
    CHECK_OK(sync_once(&w, &li, NULL));
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(zhang.r, &st));
    uint64_t acked_then = st.acked_seq, head_then = 0;
    CHECK_OK(fs_store_feed_head(w.store, &head_then));
    /* what the store holds of the device's newest write (issue 25.3's
     * TIP): put back with the rest, as a backup has it */
    sqlite3 *db = fs_replica_db(fs_store_replica(w.store));
    CHECK_EQ_INT(sqlite3_exec(db, "CREATE TEMP TABLE tip_then AS SELECT * FROM device_tip", NULL,
                              NULL, NULL),
                 SQLITE_OK);
    test_record_visits(zhang.r, 5, cust);
    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_OK(fs_replica_status_get(zhang.r, &st));
    uint64_t acked_now = st.acked_seq;
    CHECK(acked_now > acked_then);
    /* "the restore": what came after the backup is gone from the feed and
     * from the device's acknowledged sequence */
    char sql[160];
    snprintf(sql, sizeof sql, "DELETE FROM feed WHERE seq > %llu", (unsigned long long)head_then);
    CHECK_EQ_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(db,
                              "DELETE FROM device_tip; INSERT INTO device_tip SELECT * FROM tip_then;"
                              " DROP TABLE tip_then",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_stmt *up = NULL;
    CHECK_EQ_INT(sqlite3_prepare_v2(db, "UPDATE devices SET acked_seq=?1 WHERE pk=?2", -1, &up,
                                    NULL),
                 SQLITE_OK);
    sqlite3_bind_int64(up, 1, (sqlite3_int64)acked_then);
    sqlite3_bind_blob(up, 2, zhang.pk, FS_SIGN_PK_BYTES, SQLITE_STATIC);
    CHECK_EQ_INT(sqlite3_step(up), SQLITE_DONE);
    sqlite3_finalize(up);

    CHECK_OK(sync_once(&w, &zhang, NULL));
    CHECK_OK(fs_replica_status_get(zhang.r, &st));
    CHECK(st.rewind_ms != 0);
    CHECK_EQ_INT(st.rewind_from, acked_now);
    CHECK_EQ_INT(st.rewind_to, acked_then);
    CHECK_EQ_INT(st.acked_seq, acked_now); /* sent again and acknowledged */
    CHECK_EQ_INT(st.pending, 0);
    CHECK_EQ_INT(st.resync_why, FS_RESYNC_LOST);
    uint8_t epoch[16];
    uint64_t dev_acked = 0;
    CHECK_OK(fs_store_feed_state(w.store, zhang.pk, epoch, &dev_acked));
    CHECK_EQ_INT(dev_acked, acked_now);

    /* li's cursor is past the feed's end: told to re-sync */
    CHECK_OK(sync_once(&w, &li, NULL));
    CHECK_OK(fs_replica_status_get(li.r, &st));
    CHECK_EQ_INT(st.resync_why, FS_RESYNC_CURSOR);
    CHECK_EQ_INT(st.open_conflicts, 0);
    CHECK_EQ_INT(test_count_rows(li.r, "visit"), 10);
    /* a cursor inside the feed whose entry there differs: told too */
    uint64_t when = st.resync_ms;
    clock_now += 1000;
    CHECK_OK(fs_store_feed_head(w.store, &head_then));
    /* the entry at li's cursor becomes another (a repeat of the first) */
    CHECK_EQ_INT(sqlite3_exec(db,
                              "UPDATE feed SET (tbl, row, n, changes) = (SELECT tbl, row, n,"
                              " changes FROM feed WHERE seq = (SELECT min(seq) FROM feed))"
                              " WHERE seq = (SELECT max(seq) FROM feed)",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    CHECK_OK(fs_replica_status_get(li.r, &st));
    if (st.cursor == head_then) {
        CHECK_OK(sync_once(&w, &li, NULL));
        CHECK_OK(fs_replica_status_get(li.r, &st));
        CHECK(st.resync_ms > when);
        CHECK_EQ_INT(st.resync_why, FS_RESYNC_CURSOR);
    } else {
        FAIL("li's cursor is not the feed's head");
    }
    fs_replica_close(zhang.r);
    fs_replica_close(li.r);
    world_close(&w);
}

/* d syncs speaking protocol version v at most (0: this build's). */
static int sync_as(world *w, dev *d, uint32_t v)
{
    limit_version = v;
    int rc = sync_once(w, d, NULL);
    limit_version = 0;
    return rc;
}

typedef struct lost_group {
    int status, done_at;
} lost_group;

static int find_lost_done(const fs_conflict *c, void *ctx)
{
    lost_group *lg = ctx;
    if (c->loser.type == FS_TEXT && c->loser.n == 4 && memcmp(c->loser.p, "done", 4) == 0)
        lg->status++;
    if (c->loser.type == FS_TEXT && c->loser.n == 16 &&
        memcmp(c->loser.p, "2023-11-14 22:13", 16) == 0)
        lg->done_at++;
    return 0;
}

/* Issue 25.7 with devices of protocols 3 and 4, which write one column of
 * a group alone and merge column by column: zhang's laptop (version 4)
 * marks a commitment done, his old laptop (version 3) cancels it later,
 * writing the status alone. The server decides the group and writes its
 * decision again at a fresh clock, so every device, old or new, ends with
 * "cancelled" and no done_at, whichever laptop pushes first, and the lost
 * values are conflicts everywhere. */
static void test_older_devices_converge_on_a_group(void)
{
    for (int order = 0; order < 2; order++) {
        world w;
        dev a, b, li;
        world_open(&w);
        dev_open_in(&w, &a, "zhang", "laptop");
        dev_open_in(&w, &b, "zhang", "old");
        dev_open(&w, &li, "li");
        uint8_t cust[16], cm[16];
        test_record_visits(a.r, 1, cust);
        fs_rows *it = NULL;
        CHECK_OK(fs_rows_open(&it, a.r, "commitment", NULL, NULL, NULL));
        CHECK_EQ_INT(fs_rows_next(it), 1);
        memcpy(cm, fs_rows_id(it), 16);
        fs_rows_close(it);
        CHECK_OK(sync_as(&w, &a, 4));
        CHECK_OK(sync_as(&w, &b, 3));
        fs_cell done[] = {{"status", fs_text("done")}, {"done_at", fs_text("2023-11-14 22:13")}};
        CHECK_OK(fs_update(a.r, "commitment", cm, done, 2));
        clock_now += 10;
        test_old_partial_write(b.r, cm, "status", "cancelled");
        clock_now += 10;
        CHECK_OK(sync_as(&w, order ? &b : &a, order ? 3 : 4));
        CHECK_OK(sync_as(&w, order ? &a : &b, order ? 4 : 3));
        char state[96];
        test_group_state(fs_store_replica(w.store), cm, state, sizeof state);
        CHECK_STR(state, "cancelled|NULL");
        for (int round = 0; round < 2; round++) {
            CHECK_OK(sync_as(&w, &a, 4));
            CHECK_OK(sync_as(&w, &b, 3));
            CHECK_OK(sync_as(&w, &li, 0));
        }
        dev *ds[] = {&a, &b, &li};
        uint8_t h[3][32];
        for (int i = 0; i < 3; i++) {
            test_group_state(ds[i]->r, cm, state, sizeof state);
            CHECK_STR(state, "cancelled|NULL");
            lost_group lg = {0, 0};
            CHECK_OK(fs_conflicts(ds[i]->r, 0, find_lost_done, &lg));
            CHECK_EQ_INT(lg.status, 1);
            CHECK_EQ_INT(lg.done_at, 1);
            fs_replica_status st;
            CHECK_OK(fs_replica_status_get(ds[i]->r, &st));
            CHECK_EQ_INT(st.pending, 0);
            CHECK_OK(fs_replica_state_hash(ds[i]->r, h[i]));
        }
        /* the two older devices hold the same state; li's (version 5) also
         * holds the roster, schema 4, which they are never sent: its group
         * and conflicts are checked above */
        CHECK_MEM(h[0], h[1], 32);
        (void)h[2];
        for (int i = 0; i < 3; i++)
            fs_replica_close(ds[i]->r);
        world_close(&w);
    }
}

TEST_LIST(
    TEST(group_commit_answers_after_the_commit) TEST(group_commits_at_its_bytes) TEST(older_devices_converge_on_a_group)
    TEST(new_epoch_resyncs_devices) TEST(restored_store_gets_pushes_again)
    TEST(restored_replica_gets_its_records_back) TEST(copied_replica_and_original_converge)
    TEST(fork_of_a_device_being_revoked_is_refused) TEST(fork_needs_both_signatures_and_comes_once)
    TEST(changes_since_bytes_bounds_a_read) TEST(big_records_sync_both_ways)
    TEST(revoke_after_push_keeps_unsent_work)
    TEST(hostile_client_asking_for_everything_gets_its_scope)
        TEST(offline_edits_of_one_field_converge) TEST(batches_keep_writes_whole) TEST(
            poke_brings_news_to_a_connected_device) TEST(reassigned_customer_reaches_the_new_owner) TEST(older_clients_get_no_newer_tables) TEST(older_clients_get_no_attachments) TEST(sync_names_the_user)
            TEST(offline_work_reaches_the_manager) TEST(large_backlog_goes_in_batches)
                TEST(refused_change_is_kept_with_its_reason) TEST(revoked_device_is_told_to_wipe)
                    TEST(writes_ahead_are_restamped_from_version_4)
                    TEST(roster_and_refused_handover_undone) TEST(team_settings_reach_the_team_from_version_6) TEST(sales_records_reach_from_version_7) TEST(visit_plans_reach_only_version_7) TEST(exports_reach_the_audit_from_version_7) TEST(clock_fault_schedules)
                    TEST(wrong_server_is_refused) TEST(push_window_sends_two_batches_before_an_ack)
                        TEST(pull_asks_for_the_next_batch_before_applying)
                            TEST(pipelined_sync_converges_both_ways)
                                TEST(session_broken_with_two_pushes_out_resends)
                                    TEST(poke_and_kick_never_ask_twice)
                                        TEST(held_batch_waits_for_continue) TEST(first_pull_makes_the_time_index_at_its_end)
                                            TEST(held_batches_keep_every_outcome)
                                                TEST(health_is_not_written_per_batch) TEST(
                                                    pushing_device_does_not_pull_its_own_writes))
