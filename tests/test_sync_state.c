/*
 * A replica's sync bookkeeping: acknowledgements and pending changes, the
 * pull cursor moving with its batch or not at all, refusals kept with their
 * reason, and the purge of rows that left the user's scope.
 */
#include <stdio.h>
#include <string.h>

#include "fieldsync/duration.h"
#include "fieldsync/reason.h"
#include "fieldsync/replica.h"
#include "fieldsync/replica_server.h"
#include "replica_int.h"
#include "test.h"

static uint64_t clock_now = 1700000000000ull;

static uint64_t fake_clock(void *ctx)
{
    (void)ctx;
    return clock_now;
}

static fs_replica *fresh(const char *dir, const char *name)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fs_replica *r = NULL;
    fs_replica_opts o = {.kdf = &fs_kdf_minimum, .clock_ms = fake_clock};
    CHECK_OK(fs_replica_create(&r, path, "pw", 2, &o));
    return r;
}

static void add_customer(fs_replica *r, const char *name, uint8_t id[16])
{
    fs_cell c[] = {{"name", fs_text(name)}, {"owner", fs_text("zhang")}};
    CHECK_OK(fs_insert(r, "customer", c, 2, id));
}

static void status(fs_replica *r, fs_replica_status *st)
{
    CHECK_OK(fs_replica_status_get(r, st));
}

static void test_acknowledgements_and_pending(void)
{
    char *dir = test_tmpdir();
    fs_replica *r = fresh(dir, "r");
    uint8_t id[16];
    uint64_t first_ms = clock_now;
    add_customer(r, "one", id);
    clock_now += 1000;
    add_customer(r, "two", id);
    add_customer(r, "three", id);
    fs_replica_status st;
    status(r, &st);
    CHECK_EQ_INT(st.last_seq, 6);
    CHECK_EQ_INT(st.pending, 6);
    CHECK_EQ_INT(st.acked_seq, 0);
    CHECK_EQ_INT(st.oldest_pending_ms, first_ms);
    CHECK_OK(fs_replica_mark_acked(r, 4));
    status(r, &st);
    CHECK_EQ_INT(st.pending, 2);
    CHECK_EQ_INT(st.oldest_pending_ms, first_ms + 1000);
    CHECK_OK(fs_replica_mark_acked(r, 2)); /* an old acknowledgement moves nothing back */
    status(r, &st);
    CHECK_EQ_INT(st.acked_seq, 4);
    CHECK_ERR(fs_replica_mark_acked(r, 7), FS_EINVAL);
    CHECK_OK(fs_replica_mark_acked(r, 6));
    status(r, &st);
    CHECK_EQ_INT(st.pending, 0);
    CHECK_EQ_INT(st.oldest_pending_ms, 0);
    fs_replica_close(r);
    test_rmtree(dir);
}

static void test_cursor_moves_with_its_batch(void)
{
    char *dir = test_tmpdir();
    fs_replica *src = fresh(dir, "src"), *dst = fresh(dir, "dst");
    uint8_t id[16];
    add_customer(src, "華東客戶", id);
    fs_changeset *cs = NULL;
    CHECK_OK(fs_changes_since(src, 0, 100, &cs));
    fs_apply_stats ap;
    CHECK_OK(fs_apply_pulled(dst, cs->changes, cs->count, 10, &ap));
    CHECK_EQ_INT(ap.applied, cs->count);
    fs_replica_status st;
    status(dst, &st);
    CHECK_EQ_INT(st.cursor, 10);
    CHECK_EQ_INT(fs_exists(dst, "customer", id), 1);
    /* A batch that fails moves no cursor. */
    fs_change bad = cs->changes[0];
    bad.table = 999;
    CHECK_ERR(fs_apply_pulled(dst, &bad, 1, 20, NULL), FS_ESCHEMA);
    status(dst, &st);
    CHECK_EQ_INT(st.cursor, 10);
    /* Nor does an older cursor. */
    CHECK_OK(fs_apply_pulled(dst, cs->changes, cs->count, 5, NULL));
    status(dst, &st);
    CHECK_EQ_INT(st.cursor, 10);
    /* Inside an explicit transaction it is part of that transaction. */
    CHECK_OK(fs_begin(dst));
    CHECK_OK(fs_apply_pulled(dst, cs->changes, cs->count, 30, NULL));
    fs_rollback(dst);
    status(dst, &st);
    CHECK_EQ_INT(st.cursor, 10);
    fs_changeset_free(cs);
    fs_replica_close(src);
    fs_replica_close(dst);
    test_rmtree(dir);
}

typedef struct seen {
    int n;
    fs_refusal last;
    char text[64];
} seen;

static int on_refusal(const fs_refusal *f, void *ctx)
{
    seen *s = ctx;
    s->n++;
    s->last = *f;
    snprintf(s->text, sizeof s->text, "%.*s", (int)f->text_len, f->text);
    return 0;
}

/* Issue 25.5: a device whose clock is behind (or the server's ahead)
 * applies what it pulls; its hybrid clock absorbs the newer time, so its
 * next write is ordered after what it received. */
static void test_pulled_changes_ahead_of_the_device_clock(void)
{
    char *dir = test_tmpdir();
    fs_replica *src = fresh(dir, "src"), *dst = fresh(dir, "dst");
    uint8_t id[16];
    add_customer(src, "華東客戶", id);
    fs_changeset *cs = NULL;
    CHECK_OK(fs_changes_since(src, 0, 100, &cs));
    uint64_t ahead_hlc = (clock_now + 10u * 60u * 1000u) << 16; /* 10 minutes */
    for (size_t i = 0; i < cs->count; i++)
        cs->changes[i].version.hlc = ahead_hlc;
    CHECK_OK(fs_apply_pulled(dst, cs->changes, cs->count, 3, NULL));
    fs_replica_status st;
    status(dst, &st);
    CHECK_EQ_INT(st.cursor, 3);
    CHECK_EQ_INT(fs_exists(dst, "customer", id), 1);
    fs_cell c[] = {{"industry", fs_text("retail")}};
    CHECK_OK(fs_update(dst, "customer", id, c, 1));
    fs_changeset *mine = NULL;
    CHECK_OK(fs_changes_since(dst, 0, 100, &mine));
    CHECK_EQ_INT(mine->count, 1);
    CHECK(mine->changes[0].version.hlc > ahead_hlc);
    fs_changeset_free(mine);
    fs_changeset_free(cs);
    fs_replica_close(src);
    fs_replica_close(dst);
    test_rmtree(dir);
}

/* Issue 23: the server's time from READY corrects the device's clock for its
 * writes from then on, kept across a reopen; before, local time is used. */
static void test_server_time_corrects_the_clock(void)
{
    char *dir = test_tmpdir();
    fs_replica *r = fresh(dir, "dev");
    int64_t off = 1;
    CHECK_EQ_INT(fs_replica_clock_offset(r, &off), 0);
    CHECK_EQ_INT(off, 0);
    uint8_t id[16];
    add_customer(r, "before", id);
    uint64_t day = 24u * 3600u * 1000u;
    CHECK_OK(fs_replica_note_server_time(r, clock_now - day)); /* this machine a day ahead */
    CHECK_EQ_INT(fs_replica_clock_offset(r, &off), 1);
    CHECK(off == -(int64_t)day);
    fs_replica_status st;
    status(r, &st);
    CHECK_EQ_INT(st.clock_known, 1);
    CHECK(st.clock_offset_ms == -(int64_t)day);
    fs_replica_close(r);
    char path[700];
    snprintf(path, sizeof path, "%s/dev", dir);
    fs_replica_opts o = {.kdf = &fs_kdf_minimum, .clock_ms = fake_clock};
    CHECK_OK(fs_replica_open(&r, path, "pw", 2, &o));
    CHECK_EQ_INT(fs_replica_clock_offset(r, &off), 1);
    CHECK(off == -(int64_t)day);
    /* the hybrid clock never goes back (the write before the correction
     * stays older), and a new row's write is stamped at the server's time
     * once the counter no longer holds it up */
    uint8_t id2[16];
    clock_now += 2 * day;
    add_customer(r, "after", id2);
    fs_changeset *cs = NULL;
    CHECK_OK(fs_changes_since(r, 0, 100, &cs));
    CHECK_EQ_INT(cs->changes[cs->count - 1].version.hlc >> 16, clock_now - day);
    fs_changeset_free(cs);
    CHECK_ERR(fs_replica_note_server_time(r, 0), FS_EINVAL);
    clock_now -= 2 * day; /* the other tests' clock */
    fs_replica_close(r);
    test_rmtree(dir);
}

/* Issue 23: the server restamped two writes made a day ahead; the device
 * rewrites its log, the previous version the second names, and the row's
 * versions; its hybrid clock drops back, so its next write carries today's
 * time; a repeated ACK changes nothing. */
static void test_restamps_rewrite_own_versions(void)
{
    char *dir = test_tmpdir();
    fs_replica *r = fresh(dir, "dev");
    uint64_t day = 24u * 3600u * 1000u;
    clock_now += day; /* this laptop a day ahead */
    uint8_t id[16];
    add_customer(r, "ahead", id);
    fs_cell c[] = {{"industry", fs_text("retail")}};
    CHECK_OK(fs_update(r, "customer", id, c, 1));
    clock_now -= day;
    fs_changeset *cs = NULL;
    CHECK_OK(fs_changes_since(r, 0, 100, &cs));
    size_t n = cs->count;
    CHECK(n >= 3);
    uint64_t first = cs->changes[0].version.hlc, second = cs->changes[n - 1].version.hlc;
    CHECK(first != second);
    CHECK(cs->changes[n - 1].prev.hlc == 0); /* industry was never written before */
    fs_changeset_free(cs);
    fs_restamp pairs[2] = {{first, (clock_now - 1000) << 16}, {second, ((clock_now - 1000) << 16) + 1}};
    CHECK_ERR(fs_replica_restamp(r, (fs_restamp[]){{first, 0}}, 1), FS_EINVAL);
    CHECK_OK(fs_replica_restamp(r, pairs, 2));
    CHECK_OK(fs_replica_restamp(r, pairs, 2)); /* again: nothing names them now */
    CHECK_OK(fs_changes_since(r, 0, 100, &cs));
    for (size_t i = 0; i < cs->count; i++)
        CHECK(cs->changes[i].version.hlc == (i + 1 < cs->count ? pairs[0].given : pairs[1].given));
    fs_changeset_free(cs);
    size_t problems = 99;
    CHECK_OK(fs_replica_check(r, &problems));
    CHECK_EQ_INT(problems, 0);
    /* a write on top of the restamped one names it by its new clock */
    fs_cell c2[] = {{"industry", fs_text("wholesale")}};
    CHECK_OK(fs_update(r, "customer", id, c2, 1));
    CHECK_OK(fs_changes_since(r, 0, 100, &cs));
    const fs_change *last = &cs->changes[cs->count - 1];
    CHECK(last->prev.hlc == pairs[1].given);
    CHECK_EQ_INT(last->version.hlc >> 16, clock_now); /* today's time again */
    fs_changeset_free(cs);
    fs_replica_close(r);
    test_rmtree(dir);
}

/* Found by the fault schedules (server clock stepped back a day): the
 * clock given to one write is the clock another write of the same ACK was
 * sent with (the device had ticked from the server's newest). Each write
 * takes its own given clock: the first is not moved twice. */
static void test_restamps_given_a_clock_another_was_sent_with(void)
{
    char *dir = test_tmpdir();
    fs_replica *r = fresh(dir, "dev");
    uint8_t id[16];
    add_customer(r, "first", id);
    fs_cell c[] = {{"industry", fs_text("retail")}};
    CHECK_OK(fs_update(r, "customer", id, c, 1));
    fs_changeset *cs = NULL;
    CHECK_OK(fs_changes_since(r, 0, 100, &cs));
    size_t n = cs->count;
    uint64_t first = cs->changes[0].version.hlc, second = cs->changes[n - 1].version.hlc;
    CHECK(first < second);
    fs_changeset_free(cs);
    fs_restamp pairs[2] = {{first, second}, {second, second + 5}};
    CHECK_OK(fs_replica_restamp(r, pairs, 2));
    CHECK_OK(fs_changes_since(r, 0, 100, &cs));
    CHECK_EQ_INT(cs->count, n);
    for (size_t i = 0; i < cs->count; i++)
        CHECK(cs->changes[i].version.hlc == (i + 1 < cs->count ? second : second + 5));
    fs_changeset_free(cs);
    fs_version v;
    int exists = 0;
    CHECK_OK(fs_replica_column_version(r, 0, id, 1, &v, &exists)); /* name */
    CHECK(exists && v.hlc == second);
    size_t problems = 99;
    CHECK_OK(fs_replica_check(r, &problems));
    CHECK_EQ_INT(problems, 0);
    fs_replica_close(r);
    test_rmtree(dir);
}

static void test_refusals_are_kept(void)
{
    char *dir = test_tmpdir();
    fs_replica *r = fresh(dir, "r");
    uint8_t id[16];
    add_customer(r, "Acme", id);
    fs_changeset *cs = NULL;
    CHECK_OK(fs_changes_since(r, 0, 10, &cs));
    const fs_change *c = &cs->changes[0];
    for (int i = 0; i < 2; i++)
        CHECK_OK(fs_replica_record_refusal(r, c->table, c->row, c->column, c->version.hlc, 11,
                                           "outside your scope", 18));
    CHECK_ERR(fs_replica_record_refusal(r, c->table, c->row, 99, c->version.hlc, 11, "x", 1),
              FS_ESCHEMA);
    CHECK_ERR(fs_replica_record_refusal(r, c->table, c->row, 1, 1, 11, "\xff", 1), FS_EINVAL);
    seen s;
    memset(&s, 0, sizeof s);
    CHECK_OK(fs_refusals(r, on_refusal, &s));
    CHECK_EQ_INT(s.n, 1);
    CHECK_EQ_INT(s.last.reason, 11);
    CHECK_EQ_INT(s.last.hlc, c->version.hlc);
    CHECK_MEM(s.last.row, id, 16);
    CHECK_STR(s.text, "outside your scope");
    fs_replica_status st;
    status(r, &st);
    CHECK_EQ_INT(st.refused, 1);
    /* The refused change is still recorded: row and log untouched. */
    CHECK_EQ_INT(fs_exists(r, "customer", id), 1);
    CHECK_EQ_INT(st.last_seq, 2);
    size_t problems = 9;
    CHECK_OK(fs_replica_check(r, &problems));
    CHECK_EQ_INT(problems, 0);
    fs_changeset_free(cs);
    fs_replica_close(r);
    test_rmtree(dir);
}

/* lost25b (FS_FAULT_RESTORES seed 162): a visit the server lost (its edit
 * refused LOST) and a commitment on it (refused PARENT) held here: once
 * the grace is over, one walk writes the visit again whole and sends the
 * commitment after it, and neither stays refused. Before, the commitment's
 * refusal found the visit already written whole in that walk and sent
 * nothing: the commitment stayed on this device alone. */
static void test_child_goes_after_its_record_sent_again_whole(void)
{
    char *dir = test_tmpdir();
    fs_replica *r = fresh(dir, "r");
    uint8_t cust[16], visit[16], commit[16];
    add_customer(r, "Acme", cust);
    fs_cell v[] = {{"customer", fs_blob(cust, 16)},
                   {"time", fs_text("2023-10-10 14:00")},
                   {"place", fs_text("会议室")},
                   {"purpose", fs_text("follow up")},
                   {"notes", fs_text("初次拜访")}};
    CHECK_OK(fs_insert(r, "visit", v, 5, visit));
    uint64_t last = 0;
    CHECK_OK(fs_last_seq(r, &last));
    CHECK_OK(fs_replica_mark_acked(r, last)); /* then the server lost the visit */
    fs_cell e[] = {{"notes", fs_text("谈了报价")}};
    CHECK_OK(fs_update(r, "visit", visit, e, 1));
    fs_cell k[] = {{"visit", fs_blob(visit, 16)},
                   {"customer", fs_blob(cust, 16)},
                   {"text", fs_text("send the quote")},
                   {"due", fs_text("2023-12-08")}};
    CHECK_OK(fs_insert(r, "commitment", k, 4, commit));
    fs_changeset *cs = NULL;
    CHECK_OK(fs_changes_since(r, last, 100, &cs));
    CHECK(cs->count >= 5);
    for (size_t i = 0; i < cs->count; i++) {
        const fs_change *c = &cs->changes[i];
        int is_visit = memcmp(c->row, visit, 16) == 0;
        CHECK_OK(fs_replica_record_refusal(r, c->table, c->row, c->column, c->version.hlc,
                                           is_visit ? FS_REASON_LOST : FS_REASON_PARENT,
                                           "refused", 7));
    }
    CHECK_OK(fs_replica_mark_acked(r, last + cs->count));
    fs_changeset_free(cs);
    fs_replica_status st;
    status(r, &st);
    CHECK(st.refused >= 5);
    clock_now += FS_LOST_GRACE_MS + 1000;
    size_t records = 0;
    CHECK_OK(fs_refusals_resend_lost(r, FS_LOST_GRACE_MS, &records));
    CHECK_EQ_INT(records, 2);
    status(r, &st);
    CHECK_EQ_INT(st.refused, 0);
    CHECK(st.pending > 0);
    /* what goes: the visit whole, then the commitment */
    int visit_at = -1, commit_at = -1;
    CHECK_OK(fs_changes_since(r, st.acked_seq, 100, &cs));
    for (size_t i = 0; i < cs->count; i++) {
        if (visit_at < 0 && memcmp(cs->changes[i].row, visit, 16) == 0)
            visit_at = (int)i;
        if (commit_at < 0 && memcmp(cs->changes[i].row, commit, 16) == 0)
            commit_at = (int)i;
    }
    fs_changeset_free(cs);
    CHECK(visit_at >= 0);
    CHECK(commit_at > visit_at);
    fs_replica_close(r);
    test_rmtree(dir);
}

/* lost25b (FS_FAULT_ALL seed 194): a commitment sent before its visit
 * went whole again, in the same push, is refused PARENT; the visit is
 * accepted after it. At the next walk the visit's mark says it went
 * whole already: the commitment is sent again (before, nothing was, and
 * it stayed refused on this device alone), and only once in the epoch. */
static void test_child_refused_before_its_record_went_whole(void)
{
    char *dir = test_tmpdir();
    fs_replica *r = fresh(dir, "r");
    uint8_t cust[16], visit[16], commit[16];
    add_customer(r, "Acme", cust);
    fs_cell v[] = {{"customer", fs_blob(cust, 16)},
                   {"time", fs_text("2023-10-10 14:00")},
                   {"place", fs_text("会议室")},
                   {"purpose", fs_text("follow up")},
                   {"notes", fs_text("初次拜访")}};
    CHECK_OK(fs_insert(r, "visit", v, 5, visit));
    uint64_t last = 0;
    CHECK_OK(fs_last_seq(r, &last));
    CHECK_OK(fs_replica_mark_acked(r, last)); /* then the server lost the visit */
    fs_cell e[] = {{"notes", fs_text("谈了报价")}};
    CHECK_OK(fs_update(r, "visit", visit, e, 1));
    fs_changeset *cs = NULL;
    CHECK_OK(fs_changes_since(r, last, 100, &cs));
    for (size_t i = 0; i < cs->count; i++)
        CHECK_OK(fs_replica_record_refusal(r, cs->changes[i].table, cs->changes[i].row,
                                           cs->changes[i].column, cs->changes[i].version.hlc,
                                           FS_REASON_LOST, "lost", 4));
    CHECK_OK(fs_replica_mark_acked(r, last + cs->count));
    fs_changeset_free(cs);
    fs_cell k[] = {{"visit", fs_blob(visit, 16)},
                   {"customer", fs_blob(cust, 16)},
                   {"text", fs_text("send the quote")},
                   {"due", fs_text("2023-12-08")}};
    CHECK_OK(fs_insert(r, "commitment", k, 4, commit)); /* pending, unsent */
    clock_now += FS_LOST_GRACE_MS + 1000;
    size_t records = 0;
    CHECK_OK(fs_refusals_resend_lost(r, FS_LOST_GRACE_MS, &records));
    CHECK_EQ_INT(records, 1); /* the visit whole, after the commitment */
    /* the push: the commitment went first and was refused PARENT */
    CHECK_OK(fs_last_seq(r, &last));
    fs_replica_status st;
    status(r, &st);
    CHECK_OK(fs_changes_since(r, st.acked_seq, 100, &cs));
    for (size_t i = 0; i < cs->count; i++)
        if (memcmp(cs->changes[i].row, commit, 16) == 0)
            CHECK_OK(fs_replica_record_refusal(r, cs->changes[i].table, cs->changes[i].row,
                                               cs->changes[i].column, cs->changes[i].version.hlc,
                                               FS_REASON_PARENT, "parent", 6));
    fs_changeset_free(cs);
    CHECK_OK(fs_replica_mark_acked(r, last));
    status(r, &st);
    CHECK_EQ_INT(st.refused, 4);
    clock_now += FS_LOST_GRACE_MS + 1000;
    CHECK_OK(fs_refusals_resend_lost(r, FS_LOST_GRACE_MS, &records));
    CHECK_EQ_INT(records, 1); /* the commitment, again */
    status(r, &st);
    CHECK_EQ_INT(st.refused, 0);
    CHECK_EQ_INT(st.pending, 4);
    /* refused again: not sent again in this epoch */
    CHECK_OK(fs_last_seq(r, &last));
    CHECK_OK(fs_changes_since(r, st.acked_seq, 100, &cs));
    for (size_t i = 0; i < cs->count; i++)
        CHECK_OK(fs_replica_record_refusal(r, cs->changes[i].table, cs->changes[i].row,
                                           cs->changes[i].column, cs->changes[i].version.hlc,
                                           FS_REASON_PARENT, "parent", 6));
    fs_changeset_free(cs);
    CHECK_OK(fs_replica_mark_acked(r, last));
    clock_now += FS_LOST_GRACE_MS + 1000;
    CHECK_OK(fs_refusals_resend_lost(r, FS_LOST_GRACE_MS, &records));
    CHECK_EQ_INT(records, 0);
    status(r, &st);
    CHECK_EQ_INT(st.refused, 4);
    CHECK_EQ_INT(st.pending, 0);
    fs_replica_close(r);
    test_rmtree(dir);
}

/* FS_FAULT_ALL seed 181: a LOST refusal of a cell the device wrote again
 * since, in a change the server acknowledged and did not refuse, is put
 * right whatever its age: the rep's later value is on the server. One not
 * written again stays; one written again only in a change refused too, or
 * not yet acknowledged, stays. */
static void refused_change(fs_replica *r, uint64_t after, uint32_t reason)
{
    fs_changeset *cs = NULL;
    CHECK_OK(fs_changes_since(r, after, 100, &cs));
    for (size_t i = 0; i < cs->count; i++)
        CHECK_OK(fs_replica_record_refusal(r, cs->changes[i].table, cs->changes[i].row,
                                           cs->changes[i].column, cs->changes[i].version.hlc,
                                           reason, "lost", 4));
    fs_changeset_free(cs);
}

static void test_lost_refusal_put_right_by_a_later_write(void)
{
    char *dir = test_tmpdir();
    fs_replica *r = fresh(dir, "r");
    uint8_t cust[16], visit[16];
    add_customer(r, "Acme", cust);
    fs_cell v[] = {{"customer", fs_blob(cust, 16)},
                   {"time", fs_text("2023-10-10 14:00")},
                   {"place", fs_text("会议室")},
                   {"purpose", fs_text("follow up")},
                   {"notes", fs_text("初次拜访")}};
    CHECK_OK(fs_insert(r, "visit", v, 5, visit));
    uint64_t last = 0;
    CHECK_OK(fs_last_seq(r, &last));
    CHECK_OK(fs_replica_mark_acked(r, last)); /* then the server lost the visit */
    fs_cell e[] = {{"notes", fs_text("谈了报价")}, {"place", fs_text("工厂")}};
    CHECK_OK(fs_update(r, "visit", visit, e, 2));
    refused_change(r, last, FS_REASON_LOST);
    CHECK_OK(fs_last_seq(r, &last));
    CHECK_OK(fs_replica_mark_acked(r, last));
    fs_replica_status st;
    status(r, &st);
    CHECK_EQ_INT(st.refused, 2);
    fs_cell n2[] = {{"notes", fs_text("谈了价格")}}; /* accepted: the visit came back */
    CHECK_OK(fs_update(r, "visit", visit, n2, 1));
    size_t records = 9;
    CHECK_OK(fs_refusals_resend_lost(r, FS_LOST_GRACE_MS, &records));
    status(r, &st);
    CHECK_EQ_INT(st.refused, 2); /* not acknowledged yet */
    CHECK_OK(fs_last_seq(r, &last));
    CHECK_OK(fs_replica_mark_acked(r, last));
    CHECK_OK(fs_refusals_resend_lost(r, FS_LOST_GRACE_MS, &records));
    CHECK_EQ_INT(records, 0);
    status(r, &st);
    CHECK_EQ_INT(st.refused, 1); /* the place, not written again */
    fs_cell p2[] = {{"place", fs_text("客户工厂")}};
    CHECK_OK(fs_update(r, "visit", visit, p2, 1));
    refused_change(r, last, FS_REASON_LOST); /* refused too */
    CHECK_OK(fs_last_seq(r, &last));
    CHECK_OK(fs_replica_mark_acked(r, last));
    CHECK_OK(fs_refusals_resend_lost(r, FS_LOST_GRACE_MS, &records));
    status(r, &st);
    CHECK_EQ_INT(st.refused, 2);
    fs_cell p3[] = {{"place", fs_text("客户总部")}};
    CHECK_OK(fs_update(r, "visit", visit, p3, 1));
    CHECK_OK(fs_last_seq(r, &last));
    CHECK_OK(fs_replica_mark_acked(r, last)); /* accepted */
    CHECK_OK(fs_refusals_resend_lost(r, FS_LOST_GRACE_MS, &records));
    status(r, &st);
    CHECK_EQ_INT(st.refused, 0);
    CHECK_EQ_INT(st.pending, 0);
    fs_replica_close(r);
    test_rmtree(dir);
}

static void deliver(fs_replica *from, fs_replica *to)
{
    fs_changeset *cs = NULL;
    CHECK_OK(fs_changes_since(from, 0, 100000, &cs));
    CHECK_OK(fs_apply(to, cs->changes, cs->count, NULL));
    fs_changeset_free(cs);
}

static int count_conflicts(const fs_conflict *c, void *ctx)
{
    (void)c;
    (*(int *)ctx)++;
    return 0;
}

static void test_purge_removes_rows_and_their_conflicts(void)
{
    char *dir = test_tmpdir();
    fs_replica *a = fresh(dir, "a"), *b = fresh(dir, "b");
    uint8_t cust[16], keep[16], visit[16];
    add_customer(a, "Reassigned Co.", cust);
    add_customer(a, "Stays Co.", keep);
    fs_cell v[] = {{"customer", fs_blob(cust, 16)},
                   {"time", fs_text("2023-10-10 14:00")},
                   {"place", fs_text("會議室")},
                   {"purpose", fs_text("demo")},
                   {"notes", fs_text("預算50-80萬")}};
    CHECK_OK(fs_insert(a, "visit", v, 5, visit));
    deliver(a, b);
    /* Concurrent edits: b ends up with a conflict record about the customer. */
    clock_now += 10;
    fs_cell ea[] = {{"preferences", fs_text("email")}};
    fs_cell eb[] = {{"preferences", fs_text("phone")}};
    CHECK_OK(fs_update(b, "customer", cust, eb, 1));
    clock_now += 10;
    CHECK_OK(fs_update(a, "customer", cust, ea, 1));
    deliver(a, b);
    int nconf = 0;
    CHECK_OK(fs_conflicts(b, 1, count_conflicts, &nconf));
    CHECK_EQ_INT(nconf, 1);

    fs_row_ref gone[] = {{0, {0}}, {2, {0}}};
    gone[0].table = (uint16_t)fs_schema_table_index("customer");
    memcpy(gone[0].row, cust, 16);
    gone[1].table = (uint16_t)fs_schema_table_index("visit");
    memcpy(gone[1].row, visit, 16);
    CHECK_OK(fs_replica_purge(b, gone, 2));
    CHECK_EQ_INT(fs_exists(b, "customer", cust), 0);
    CHECK_EQ_INT(fs_exists(b, "visit", visit), 0);
    CHECK_EQ_INT(fs_exists(b, "customer", keep), 1);
    nconf = 0;
    CHECK_OK(fs_conflicts(b, 1, count_conflicts, &nconf));
    CHECK_EQ_INT(nconf, 0);
    /* b's own earlier writes to the purged rows do not count as tampering. */
    size_t problems = 9;
    CHECK_OK(fs_replica_check(b, &problems));
    if (problems != 0)
        FAIL("check after purge: %s", fs_replica_errmsg(b));
    /* Nothing of the purged rows' text is left in b's database pages. */
    sqlite3_stmt *q = NULL;
    CHECK_EQ_INT(sqlite3_prepare_v2(fs__replica_db(b),
                                    "SELECT count(*) FROM customer WHERE name='Reassigned Co.'",
                                    -1, &q, NULL),
                 SQLITE_OK);
    CHECK_EQ_INT(sqlite3_step(q), SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int(q, 0), 0);
    sqlite3_finalize(q);
    /* Unknown rows are skipped; unknown tables refused. */
    CHECK_OK(fs_replica_purge(b, gone, 2));
    fs_row_ref bad = {999, {0}};
    CHECK_ERR(fs_replica_purge(b, &bad, 1), FS_ESCHEMA);
    /* Back in scope: the rows arrive again. */
    deliver(a, b);
    CHECK_EQ_INT(fs_exists(b, "customer", cust), 1);
    CHECK_EQ_INT(fs_exists(b, "visit", visit), 1);
    CHECK_OK(fs_replica_check(b, &problems));
    CHECK_EQ_INT(problems, 0);
    fs_replica_close(a);
    fs_replica_close(b);
    test_rmtree(dir);
}

/* ---- the feed of a server's replica ---- */

static fs_replica *fresh_server(const char *dir)
{
    char path[700];
    snprintf(path, sizeof path, "%s/server", dir);
    fs_replica *r = NULL;
    fs_replica_opts o = {.kdf = &fs_kdf_minimum, .clock_ms = fake_clock, .keep_feed = 1};
    CHECK_OK(fs_replica_create(&r, path, "pw", 2, &o));
    return r;
}

/* A device pushes its whole change log; returns how many the server applied. */
static size_t push_all(fs_replica *dev, fs_replica *server)
{
    fs_changeset *cs = NULL;
    fs_apply_stats st;
    CHECK_OK(fs_changes_since(dev, 0, 100000, &cs));
    CHECK_OK(fs_apply(server, cs->changes, cs->count, &st));
    fs_changeset_free(cs);
    return st.applied;
}

/* Pulls the feed in small batches, moving the cursor with each. */
static void pull_all(fs_replica *server, fs_replica *dev)
{
    fs_replica_status st;
    for (;;) {
        status(dev, &st);
        fs_changeset *cs = NULL;
        CHECK_OK(fs_feed_since(server, st.cursor, 7, &cs));
        if (cs->count == 0) {
            fs_changeset_free(cs);
            return;
        }
        CHECK_OK(fs_apply_pulled(dev, cs->changes, cs->count, cs->last_seq, NULL));
        fs_changeset_free(cs);
    }
}

static void test_feed_reproduces_the_server(void)
{
    char *dir = test_tmpdir();
    fs_replica *server = fresh_server(dir), *a = fresh(dir, "a"), *b = fresh(dir, "b"),
               *c = fresh(dir, "c");
    uint8_t ca[16], cb[16];
    add_customer(a, "A 客戶", ca);
    add_customer(b, "B customer", cb);
    push_all(a, server);
    push_all(b, server);
    pull_all(server, a);
    pull_all(server, b);
    /* Concurrent edits of one field: the server finds the conflict itself. */
    clock_now += 5;
    fs_cell va[] = {{"preferences", fs_text("visits on Monday")}};
    fs_cell vb[] = {{"preferences", fs_text("週三拜訪")}};
    CHECK_OK(fs_update(a, "customer", ca, va, 1));
    clock_now += 5;
    CHECK_OK(fs_update(b, "customer", ca, vb, 1));
    uint64_t before = 0, after = 0;
    CHECK_EQ_INT(push_all(a, server), 1); /* a's edit, on top of what the server held */
    CHECK_OK(fs_feed_last(server, &before));
    /* b's newer edit was not made on top of a's: the server keeps a's value in
     * a conflict record, which goes into the feed with b's value. */
    CHECK_EQ_INT(push_all(b, server), 1);
    CHECK_OK(fs_feed_last(server, &after));
    CHECK(after > before + 1);
    int nconf = 0;
    CHECK_OK(fs_conflicts(server, 0, count_conflicts, &nconf));
    CHECK_EQ_INT(nconf, 1);
    /* Re-pushing changes nothing. */
    push_all(a, server);
    push_all(b, server);
    CHECK_OK(fs_feed_last(server, &before));
    CHECK_EQ_INT(before, after);
    /* A new device that pulls the whole feed holds exactly the server's state,
     * and so do the old ones once they have pulled. */
    pull_all(server, c);
    pull_all(server, a);
    pull_all(server, b);
    uint8_t hs[32], h[32];
    CHECK_OK(fs_replica_state_hash(server, hs));
    fs_replica *devs[] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        CHECK_OK(fs_replica_state_hash(devs[i], h));
        CHECK_MEM(h, hs, 32);
    }
    fs_replica_status st;
    status(c, &st);
    CHECK_EQ_INT(st.cursor, after);
    CHECK_EQ_INT(st.last_seq, 0); /* c wrote nothing of its own */
    /* The feed survives reopening; a device replica has none. */
    fs_replica_close(server);
    char path[700];
    snprintf(path, sizeof path, "%s/server", dir);
    fs_replica_opts o = {.kdf = &fs_kdf_minimum, .clock_ms = fake_clock};
    CHECK_OK(fs_replica_open(&server, path, "pw", 2, &o));
    CHECK_OK(fs_feed_last(server, &before));
    CHECK_EQ_INT(before, after);
    fs_changeset *cs = NULL;
    CHECK_ERR(fs_feed_since(a, 0, 10, &cs), FS_ESTATE);
    CHECK(cs == NULL);
    fs_replica_close(server);
    fs_replica_close(a);
    fs_replica_close(b);
    fs_replica_close(c);
    test_rmtree(dir);
}

static void test_server_settings_are_kept(void)
{
    char *dir = test_tmpdir();
    fs_replica *r = fresh(dir, "r");
    char url[FS_SERVER_URL_MAX + 1];
    uint8_t pk[32], got[32];
    CHECK_ERR(fs_replica_server(r, url, got), FS_ENOTFOUND);
    memset(pk, 0xA5, sizeof pk);
    CHECK_ERR(fs_replica_set_server(r, "", pk), FS_EINVAL);
    CHECK_OK(fs_replica_set_server(r, "ws://127.0.0.1:7300", pk));
    fs_replica_close(r);
    char path[700];
    snprintf(path, sizeof path, "%s/r", dir);
    fs_replica_opts o = {.kdf = &fs_kdf_minimum, .clock_ms = fake_clock};
    CHECK_OK(fs_replica_open(&r, path, "pw", 2, &o));
    CHECK_OK(fs_replica_server(r, url, got));
    CHECK_STR(url, "ws://127.0.0.1:7300");
    CHECK_MEM(got, pk, 32);
    /* The last sync's time: none yet, then the clock at each mark, kept. */
    fs_replica_status st;
    status(r, &st);
    CHECK_EQ_INT(st.last_sync_ms, 0);
    CHECK_OK(fs_replica_mark_synced(r));
    status(r, &st);
    CHECK_EQ_INT(st.last_sync_ms, clock_now);
    clock_now += 5000;
    CHECK_OK(fs_replica_mark_synced(r));
    uint64_t when = clock_now;
    fs_replica_close(r);
    CHECK_OK(fs_replica_open(&r, path, "pw", 2, &o));
    status(r, &st);
    CHECK_EQ_INT(st.last_sync_ms, when);
    fs_replica_close(r);
    test_rmtree(dir);
}

/* The lease is kept on the device's clock: a device whose clock is off by
 * a day gets the length the server granted, not the server's end time. */
/* Several addresses of the one server (issue 21.3): kept in order with the
 * pinned key, the one that answered last remembered and forgotten with its
 * address, bad lists refused, all of it kept across a reopen. */
static void test_server_addresses_are_kept(void)
{
    char *dir = test_tmpdir();
    fs_replica *r = fresh(dir, "r");
    fs_server_list list, got;
    uint8_t pk[32], gotpk[32];
    char url[FS_SERVER_URL_MAX + 1];
    memset(pk, 0x5A, sizeof pk);
    CHECK_ERR(fs_replica_servers(r, &got, gotpk), FS_ENOTFOUND);
    /* one address, as enroll with one --server (and every replica of before) */
    CHECK_OK(fs_replica_set_server(r, "ws://a.example:7300", pk));
    CHECK_OK(fs_replica_servers(r, &got, gotpk));
    CHECK_EQ_INT(got.n, 1);
    CHECK_STR(got.url[0], "ws://a.example:7300");
    CHECK_STR(got.last, "");
    memset(&list, 0, sizeof list);
    list.n = 3;
    snprintf(list.url[0], sizeof list.url[0], "ws://a.example:7300");
    snprintf(list.url[1], sizeof list.url[1], "wss://b.example:443");
    snprintf(list.url[2], sizeof list.url[2], "ws://10.0.0.3:7300");
    CHECK_OK(fs_replica_set_servers(r, &list, pk));
    CHECK_ERR(fs_replica_set_server_last(r, "ws://nowhere:1"), FS_EINVAL);
    CHECK_OK(fs_replica_set_server_last(r, "wss://b.example:443"));
    fs_replica_close(r);
    char path[700];
    snprintf(path, sizeof path, "%s/r", dir);
    fs_replica_opts o = {.kdf = &fs_kdf_minimum, .clock_ms = fake_clock};
    CHECK_OK(fs_replica_open(&r, path, "pw", 2, &o));
    CHECK_OK(fs_replica_servers(r, &got, gotpk));
    CHECK_EQ_INT(got.n, 3);
    CHECK_STR(got.url[0], "ws://a.example:7300");
    CHECK_STR(got.url[1], "wss://b.example:443");
    CHECK_STR(got.url[2], "ws://10.0.0.3:7300");
    CHECK_STR(got.last, "wss://b.example:443");
    CHECK_MEM(gotpk, pk, 32);
    CHECK_OK(fs_replica_server(r, url, gotpk)); /* the first, as before */
    CHECK_STR(url, "ws://a.example:7300");
    /* bad lists change nothing */
    fs_server_list bad = list;
    snprintf(bad.url[2], sizeof bad.url[2], "wss://b.example:443");
    CHECK_ERR(fs_replica_set_servers(r, &bad, pk), FS_EINVAL); /* twice */
    bad = list;
    snprintf(bad.url[1], sizeof bad.url[1], "ws://x:1\nws://y:2");
    CHECK_ERR(fs_replica_set_servers(r, &bad, pk), FS_EINVAL); /* a line break */
    snprintf(bad.url[1], sizeof bad.url[1], "ws://x :1");
    CHECK_ERR(fs_replica_set_servers(r, &bad, pk), FS_EINVAL); /* a blank */
    bad.n = 0;
    CHECK_ERR(fs_replica_set_servers(r, &bad, pk), FS_EINVAL);
    bad.n = FS_SERVERS_MAX + 1;
    CHECK_ERR(fs_replica_set_servers(r, &bad, pk), FS_EINVAL);
    CHECK_OK(fs_replica_servers(r, &got, gotpk));
    CHECK_EQ_INT(got.n, 3);
    CHECK_STR(got.last, "wss://b.example:443");
    /* the one that answered last goes with its address, and stays gone */
    list.n = 2;
    snprintf(list.url[1], sizeof list.url[1], "ws://10.0.0.3:7300");
    CHECK_OK(fs_replica_set_servers(r, &list, pk));
    list.n = 3;
    snprintf(list.url[2], sizeof list.url[2], "wss://b.example:443");
    CHECK_OK(fs_replica_set_servers(r, &list, pk));
    CHECK_OK(fs_replica_servers(r, &got, gotpk));
    CHECK_EQ_INT(got.n, 3);
    CHECK_STR(got.url[2], "wss://b.example:443");
    CHECK_STR(got.last, "");
    /* a last one that is still listed stays */
    CHECK_OK(fs_replica_set_server_last(r, "ws://10.0.0.3:7300"));
    list.n = 2;
    CHECK_OK(fs_replica_set_servers(r, &list, pk));
    CHECK_OK(fs_replica_servers(r, &got, gotpk));
    CHECK_STR(got.last, "ws://10.0.0.3:7300");
    fs_replica_close(r);
    test_rmtree(dir);
}

static void test_lease_on_the_device_clock(void)
{
    char *dir = test_tmpdir();
    fs_replica *r = fresh(dir, "r");
    fs_replica_status st;
    status(r, &st);
    CHECK_EQ_INT(st.lease_expires_ms, 0);
    CHECK_EQ_INT(st.locked, 0);
    CHECK_EQ_INT(fs_replica_lease_expired(r), 0); /* never granted: never locked */

    uint64_t server_now = clock_now - 86400000ull; /* the device runs a day ahead */
    CHECK_OK(fs_replica_renew_lease(r, server_now, server_now + 5000));
    status(r, &st);
    CHECK_EQ_INT(st.lease_expires_ms, clock_now + 5000);
    CHECK_EQ_INT(fs_replica_lease_expired(r), 0);
    clock_now += 4999;
    CHECK_EQ_INT(fs_replica_lease_expired(r), 0);
    clock_now += 1; /* exactly at the end: locked */
    CHECK_EQ_INT(fs_replica_lease_expired(r), 1);
    status(r, &st);
    CHECK_EQ_INT(st.locked, 1);

    /* Kept across a reopen; a renewal unlocks, also with a shorter lease. */
    fs_replica_close(r);
    char path[700];
    snprintf(path, sizeof path, "%s/r", dir);
    fs_replica_opts o = {.kdf = &fs_kdf_minimum, .clock_ms = fake_clock};
    CHECK_OK(fs_replica_open(&r, path, "pw", 2, &o));
    CHECK_EQ_INT(fs_replica_lease_expired(r), 1);
    CHECK_OK(fs_replica_renew_lease(r, 42, 42 + 1000));
    CHECK_EQ_INT(fs_replica_lease_expired(r), 0);
    status(r, &st);
    CHECK_EQ_INT(st.lease_expires_ms, clock_now + 1000);

    /* A lease already over by the server's clock ends now; a huge one is
     * clamped, not wrapped around into the past. */
    CHECK_OK(fs_replica_renew_lease(r, 5000, 4000));
    CHECK_EQ_INT(fs_replica_lease_expired(r), 1);
    CHECK_OK(fs_replica_renew_lease(r, 0, UINT64_MAX));
    CHECK_EQ_INT(fs_replica_lease_expired(r), 0);
    status(r, &st);
    CHECK_EQ_INT(st.lease_expires_ms, (uint64_t)INT64_MAX);
    fs_replica_close(r);
    test_rmtree(dir);
}

static void test_durations(void)
{
    uint64_t ms = 0;
    CHECK(fs_duration_parse("90s", 1000, 86400000, &ms) == NULL);
    CHECK_EQ_INT(ms, 90000);
    CHECK(fs_duration_parse("15m", 1000, 86400000, &ms) == NULL);
    CHECK_EQ_INT(ms, 900000);
    CHECK(fs_duration_parse("24h", 1000, 86400000, &ms) == NULL);
    CHECK_EQ_INT(ms, 86400000);
    CHECK(fs_duration_parse("7d", 1000, 604800000, &ms) == NULL);
    CHECK_EQ_INT(ms, 604800000);
    CHECK(fs_duration_parse("1s", 1000, 1000, &ms) == NULL); /* both bounds included */
    ms = 7;
    const char *bad[] = {"", "s", "15", "15x", "1.5h", "-1s", " 1s", "1s ", "1h30m", "１s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(fs_duration_parse(bad[i], 0, UINT64_MAX, &ms) != NULL);
    CHECK(fs_duration_parse(NULL, 0, UINT64_MAX, &ms) != NULL);
    CHECK(strcmp(fs_duration_parse("0s", 1000, 86400000, &ms), "too short") == 0);
    CHECK(strcmp(fs_duration_parse("25h", 1000, 86400000, &ms), "too long") == 0);
    CHECK(strcmp(fs_duration_parse("99999999999999999999999d", 0, UINT64_MAX, &ms), "too long") ==
          0);
    CHECK(strcmp(fs_duration_parse("213503982335d", 0, UINT64_MAX, &ms), "too long") == 0);
    CHECK_EQ_INT(ms, 7); /* untouched by every refusal */
}

TEST_LIST(TEST(lease_on_the_device_clock) TEST(durations) TEST(server_settings_are_kept)
              TEST(server_addresses_are_kept) TEST(feed_reproduces_the_server)
                  TEST(acknowledgements_and_pending) TEST(cursor_moves_with_its_batch)
                      TEST(refusals_are_kept) TEST(pulled_changes_ahead_of_the_device_clock)
                          TEST(server_time_corrects_the_clock) TEST(restamps_rewrite_own_versions)
                              TEST(child_goes_after_its_record_sent_again_whole)
                                  TEST(child_refused_before_its_record_went_whole)
                                      TEST(lost_refusal_put_right_by_a_later_write)
                              TEST(restamps_given_a_clock_another_was_sent_with)
                                  TEST(purge_removes_rows_and_their_conflicts))
