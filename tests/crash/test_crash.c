/*
 * Crash safety of the replica: a writer process is killed with SIGKILL at
 * random moments while it commits, and the replica must come back whole with
 * nothing committed lost.
 *
 * The test creates one replica (fs_kdf_minimum) with one customer, then runs
 * ROUNDS rounds. In each, a forked writer opens the replica and loops; every
 * iteration is one transaction: a new visit, 1-3 commitments of it, sometimes
 * an fs_update of an earlier visit (its notes), sometimes an fs_delete of an
 * earlier visit. The writer tells the test on a pipe what each transaction
 * holds before fs_commit() (INTENT) and that it committed after fs_commit()
 * returned 0 (COMMIT). The test kills it 1-40 ms after it reported the replica
 * open (one round in six: 1-8 ms after fork, so some kills land inside open
 * and WAL recovery), then reopens the replica and requires:
 *   - fs_replica_open() succeeds, PRAGMA integrity_check says "ok", and
 *     fs_replica_check() reports 0 problems;
 *   - every transaction reported committed is there, and the one in flight
 *     (INTENT without COMMIT) is there whole or not at all;
 *   - the live visits, their notes and the live commitments are exactly those
 *     of the model built from the pipe, so the number of live visits only
 *     drops by the writer's own deletes.
 * A second test does the same with large transactions (BIG_TX visits each,
 * killed 1-300 ms after open or, every other round, after the first commit so
 * that some commit even in slow builds). They overflow SQLite's page cache, so
 * pages of a transaction reach the WAL before its commit and are rewritten
 * there, which makes SQLite re-read frame checksums (also right after a
 * checkpoint restarted the WAL); a kill must leave none of an uncommitted
 * transaction visible.
 * The seed is printed first and on failure; FS_CRASH_SEED=N repeats a run's
 * random choices (the kill moments depend on timing too), FS_CRASH_ROUNDS=N
 * changes the number of kills of the first test.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "fieldsync/replica.h"
#include "replica_int.h"
#include "rng.h"
#include "test.h"

#define PASSPHRASE "crash test passphrase"
#define ROUNDS     60   /* kills, one-visit transactions */
#define BIG_ROUNDS 16   /* kills, large transactions */
#define BIG_TX     1500 /* visits per large transaction */
#define NOTES_MAX  256

/* ---- the pipe ------------------------------------------------------------- */

enum { MSG_READY = 1, MSG_EXTRA, MSG_INTENT, MSG_COMMIT, MSG_ERROR };

#define EXTRA_PER_MSG 16

/* One record on the pipe: smaller than PIPE_BUF, so each write is atomic.
 * EXTRA records (the further visits of a large transaction) precede the
 * INTENT of their transaction. */
typedef struct crash_msg {
    uint32_t type;
    uint32_t iter; /* INTENT, COMMIT: the iteration (from 1) of this round */
    int32_t code;  /* ERROR: the fieldsync code */
    uint32_t ncommitments;
    uint32_t nextra;
    uint8_t extra[EXTRA_PER_MSG][FS_ID_BYTES];
    uint8_t visit[FS_ID_BYTES];
    uint8_t commitment[3][FS_ID_BYTES];
    uint8_t has_update, has_delete;
    uint8_t update[FS_ID_BYTES]; /* visit whose notes were rewritten */
    uint8_t del[FS_ID_BYTES];    /* visit deleted */
    char text[200];              /* ERROR: what failed */
} crash_msg;

/* ---- helpers shared by writer and checker ------------------------------------ */


/* The notes a visit gets when written in (round, iter): kind 'i' on insert,
 * 'u' on update. Unique per write, so the checker knows which write it sees. */
static size_t notes_text(char *buf, size_t size, unsigned round, unsigned iter, char kind)
{
    int n = snprintf(buf, size,
                     "第%u轮第%u次%s：客户关注售后响应速度，预算约50-80万元 (round %u, iter %u)",
                     round, iter, kind == 'i' ? "记录" : "更新", round, iter);
    return n < 0 ? 0 : (size_t)n;
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, FS_ID_BYTES);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- the writer (child process) --------------------------------------------- */

static void send_msg(int fd, const crash_msg *m)
{
    ssize_t n;
    do {
        n = write(fd, m, sizeof *m);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof *m)
        _exit(4);
}

static void writer_fail(int fd, fs_replica *r, const char *what, int rc)
{
    crash_msg m;
    memset(&m, 0, sizeof m);
    m.type = MSG_ERROR;
    m.code = rc;
    snprintf(m.text, sizeof m.text, "%s: %s", what, r ? fs_replica_errmsg(r) : "");
    send_msg(fd, &m);
    _exit(3);
}

/* Opens the replica and writes until killed, per_tx visits per transaction;
 * never returns. */
static void writer(const char *dir, int fd, uint64_t seed, unsigned round, size_t per_tx)
{
    fs_replica *r = NULL;
    fs_rows *it = NULL;
    uint8_t customer[FS_ID_BYTES];
    uint8_t(*live)[FS_ID_BYTES] = NULL, (*extra)[FS_ID_BYTES] = NULL;
    size_t nlive = 0, caplive = 0;
    rng g = {seed * 1000003u + round};
    crash_msg m;
    char notes[NOTES_MAX], text[160], when[32], due[16];
    int rc;

    alarm(60); /* never outlive a test that died */
    rc = fs_replica_open(&r, dir, PASSPHRASE, strlen(PASSPHRASE), NULL);
    if (rc != 0)
        writer_fail(fd, r, "fs_replica_open", rc);

    rc = fs_rows_open(&it, r, "customer", NULL, NULL, NULL);
    if (rc != 0 || fs_rows_next(it) != 1)
        writer_fail(fd, r, "reading the customer", rc);
    memcpy(customer, fs_rows_id(it), FS_ID_BYTES);
    fs_rows_close(it);

    /* The visits that are live now: targets for updates and deletes. */
    rc = fs_rows_open(&it, r, "visit", NULL, NULL, NULL);
    if (rc != 0)
        writer_fail(fd, r, "listing visits", rc);
    while ((rc = fs_rows_next(it)) == 1) {
        if (nlive == caplive) {
            caplive = caplive ? 2 * caplive : 256;
            live = realloc(live, caplive * sizeof *live);
            if (live == NULL)
                writer_fail(fd, r, "out of memory", FS_ENOMEM);
        }
        memcpy(live[nlive++], fs_rows_id(it), FS_ID_BYTES);
    }
    fs_rows_close(it);
    if (rc < 0)
        writer_fail(fd, r, "listing visits", rc);

    if (per_tx > 1) {
        extra = calloc(per_tx - 1, sizeof *extra);
        if (extra == NULL)
            writer_fail(fd, r, "out of memory", FS_ENOMEM);
    }

    memset(&m, 0, sizeof m);
    m.type = MSG_READY;
    send_msg(fd, &m);

    for (unsigned iter = 1;; iter++) {
        memset(&m, 0, sizeof m);
        m.type = MSG_INTENT;
        m.iter = iter;
        rc = fs_begin(r);
        if (rc != 0)
            writer_fail(fd, r, "fs_begin", rc);

        size_t nnotes = notes_text(notes, sizeof notes, round, iter, 'i');
        snprintf(when, sizeof when, "2023-%02u-%02u %02u:%02u", 1 + rng_below(&g, 12),
                 1 + rng_below(&g, 28), 8 + rng_below(&g, 10), 15 * rng_below(&g, 4));
        const fs_cell visit[] = {
            {"customer", fs_blob(customer, sizeof customer)},
            {"contact", fs_text("王经理 / Mr. Wang")},
            {"position", fs_text("采购总监")},
            {"time", fs_text(when)},
            {"place", fs_text("客户会议室 (meeting room B)")},
            {"purpose", fs_text("跟进项目需求，介绍定制化方案")},
            {"notes", fs_textn(notes, nnotes)},
            {"objections", fs_text("对新品牌的售后能力有疑虑")},
            {"next_steps", fs_text("10月12日前发送案例和SLA；10月15日第二次拜访")},
            {"visitor", fs_text("张伟")},
        };
        rc = fs_insert(r, "visit", visit, sizeof visit / sizeof visit[0], m.visit);
        if (rc != 0)
            writer_fail(fd, r, "fs_insert visit", rc);
        /* A large transaction: more visits like it, announced in EXTRA records. */
        for (size_t k = 0; k + 1 < per_tx; k++) {
            rc = fs_insert(r, "visit", visit, sizeof visit / sizeof visit[0], extra[k]);
            if (rc != 0)
                writer_fail(fd, r, "fs_insert visit", rc);
        }
        for (size_t k = 0; k + 1 < per_tx; k += EXTRA_PER_MSG) {
            crash_msg x;
            memset(&x, 0, sizeof x);
            x.type = MSG_EXTRA;
            x.iter = iter;
            x.nextra = (uint32_t)(per_tx - 1 - k < EXTRA_PER_MSG ? per_tx - 1 - k : EXTRA_PER_MSG);
            memcpy(x.extra, extra[k], x.nextra * sizeof x.extra[0]);
            send_msg(fd, &x);
        }

        m.ncommitments = 1 + rng_below(&g, 3);
        for (uint32_t k = 0; k < m.ncommitments; k++) {
            snprintf(text, sizeof text, "第%u轮第%u次承诺%u：两天内发送3个同行业成功案例", round,
                     iter, k + 1);
            snprintf(due, sizeof due, "2023-10-%02u", 11 + rng_below(&g, 19));
            const fs_cell commitment[] = {
                {"visit", fs_blob(m.visit, FS_ID_BYTES)},
                {"customer", fs_blob(customer, sizeof customer)},
                {"text", fs_text(text)},
                {"due", fs_text(due)},
                {"status", fs_text("open")},
            };
            rc = fs_insert(r, "commitment", commitment, sizeof commitment / sizeof commitment[0],
                           m.commitment[k]);
            if (rc != 0)
                writer_fail(fd, r, "fs_insert commitment", rc);
        }

        size_t upd = SIZE_MAX;
        if (nlive > 0 && rng_below(&g, 10) < 3) {
            upd = rng_below(&g, (unsigned)nlive);
            nnotes = notes_text(notes, sizeof notes, round, iter, 'u');
            const fs_cell change[] = {
                {"notes", fs_textn(notes, nnotes)},
                {"next_steps", fs_text("已发送案例；第二次拜访时现场演示 demo")},
            };
            rc = fs_update(r, "visit", live[upd], change, 2);
            if (rc != 0)
                writer_fail(fd, r, "fs_update visit", rc);
            m.has_update = 1;
            memcpy(m.update, live[upd], FS_ID_BYTES);
        }
        if (nlive > 1 && rng_below(&g, 10) < 1) {
            size_t del = rng_below(&g, (unsigned)nlive);
            if (del == upd)
                del = (del + 1) % nlive;
            rc = fs_delete(r, "visit", live[del]);
            if (rc != 0)
                writer_fail(fd, r, "fs_delete visit", rc);
            m.has_delete = 1;
            memcpy(m.del, live[del], FS_ID_BYTES);
            memcpy(live[del], live[--nlive], FS_ID_BYTES);
        }

        send_msg(fd, &m);
        rc = fs_commit(r);
        if (rc != 0)
            writer_fail(fd, r, "fs_commit", rc);
        m.type = MSG_COMMIT;
        send_msg(fd, &m);

        if (nlive + per_tx > caplive) {
            caplive = 2 * (nlive + per_tx);
            live = realloc(live, caplive * sizeof *live);
            if (live == NULL)
                writer_fail(fd, r, "out of memory", FS_ENOMEM);
        }
        memcpy(live[nlive++], m.visit, FS_ID_BYTES);
        for (size_t k = 0; k + 1 < per_tx; k++)
            memcpy(live[nlive++], extra[k], FS_ID_BYTES);
    }
}

/* ---- the model (what must be in the replica) ----------------------------------- */

typedef struct model_visit {
    uint8_t id[FS_ID_BYTES]; /* first: sorted with cmp_id */
    unsigned round, iter;    /* the write that set its notes */
    char kind;               /* 'i' inserted, 'u' updated */
    int deleted;
} model_visit;

typedef struct model_commitment {
    uint8_t id[FS_ID_BYTES]; /* first: sorted with cmp_id */
    uint8_t visit[FS_ID_BYTES];
} model_commitment;

typedef struct model {
    model_visit *visits;
    size_t nvisits, capvisits, nsorted; /* visits[0, nsorted) are sorted by id */
    model_commitment *commitments;
    size_t ncommitments, capcommitments;
    size_t live;
} model;

/* Totals for the summary line. */
typedef struct crash_stats {
    unsigned kills, kills_before_ready;
    unsigned long confirmed;   /* COMMIT records read */
    unsigned inflight_applied; /* killed after commit, before COMMIT */
    unsigned inflight_absent;  /* killed before the commit took effect */
    unsigned long updates, deletes;
} crash_stats;

/* Global for the exit hook: printed and cleaned up when a check fails. */
static uint64_t g_seed;
static unsigned g_round;
static pid_t g_writer = -1;
static int g_done;
static char g_dir[600];

static void on_exit_hook(void)
{
    if (g_writer > 0) {
        kill(g_writer, SIGKILL);
        waitpid(g_writer, NULL, 0);
    }
    if (!g_done)
        fprintf(stderr,
                "test_crash: FAILED in round %u; seed %llu (rerun with FS_CRASH_SEED=%llu); "
                "replica kept in %s\n",
                g_round, (unsigned long long)g_seed, (unsigned long long)g_seed, g_dir);
}

static model_visit *model_find(model *m, const uint8_t id[FS_ID_BYTES])
{
    model_visit *v =
        m->nsorted > 0 ? bsearch(id, m->visits, m->nsorted, sizeof *m->visits, cmp_id) : NULL;
    if (v != NULL)
        return v;
    for (size_t i = m->nsorted; i < m->nvisits; i++)
        if (memcmp(m->visits[i].id, id, FS_ID_BYTES) == 0)
            return &m->visits[i];
    return NULL;
}

static void model_add_visit(model *m, const uint8_t id[FS_ID_BYTES], unsigned round, unsigned iter)
{
    if (m->nvisits == m->capvisits) {
        m->capvisits = m->capvisits ? 2 * m->capvisits : 1024;
        m->visits = realloc(m->visits, m->capvisits * sizeof *m->visits);
        CHECK(m->visits != NULL);
    }
    model_visit *v = &m->visits[m->nvisits++];
    memcpy(v->id, id, FS_ID_BYTES);
    v->round = round;
    v->iter = iter;
    v->kind = 'i';
    v->deleted = 0;
    m->live++;
}

/* Applies one committed transaction of round to the model: its INTENT and
 * the nextra further visits announced before it. */
static void model_apply(model *m, const crash_msg *t, const uint8_t (*extra)[FS_ID_BYTES],
                        size_t nextra, unsigned round, crash_stats *st)
{
    CHECK(model_find(m, t->visit) == NULL);
    model_add_visit(m, t->visit, round, t->iter);
    for (size_t k = 0; k < nextra; k++)
        model_add_visit(m, extra[k], round, t->iter);

    CHECK(t->ncommitments >= 1 && t->ncommitments <= 3);
    for (uint32_t k = 0; k < t->ncommitments; k++) {
        if (m->ncommitments == m->capcommitments) {
            m->capcommitments = m->capcommitments ? 2 * m->capcommitments : 2048;
            m->commitments = realloc(m->commitments, m->capcommitments * sizeof *m->commitments);
            CHECK(m->commitments != NULL);
        }
        model_commitment *c = &m->commitments[m->ncommitments++];
        memcpy(c->id, t->commitment[k], FS_ID_BYTES);
        memcpy(c->visit, t->visit, FS_ID_BYTES);
    }
    if (t->has_update) {
        model_visit *u = model_find(m, t->update);
        if (u == NULL || u->deleted)
            FAIL("round %u iter %u: the writer updated a visit the model does not hold live", round,
                 t->iter);
        u->round = round;
        u->iter = t->iter;
        u->kind = 'u';
        st->updates++;
    }
    if (t->has_delete) {
        model_visit *d = model_find(m, t->del);
        if (d == NULL || d->deleted)
            FAIL("round %u iter %u: the writer deleted a visit the model does not hold live", round,
                 t->iter);
        d->deleted = 1;
        m->live--;
        st->deletes++;
    }
}

/* ---- the checker ------------------------------------------------------------ */

typedef struct db_visit {
    uint8_t id[FS_ID_BYTES]; /* first: sorted with cmp_id */
    size_t notes_len;
    char notes[NOTES_MAX];
} db_visit;

static void check_integrity(fs_replica *r)
{
    sqlite3 *db = fs__replica_db(r);
    sqlite3_stmt *st = NULL;
    CHECK(db != NULL);
    int rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
    if (rc != SQLITE_OK)
        FAIL("PRAGMA integrity_check: %s", sqlite3_errmsg(db));
    int rows = 0, ok = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(st, 0);
        if (rows == 0 && line != NULL && strcmp(line, "ok") == 0)
            ok = 1;
        else if (rows < 10)
            fprintf(stderr, "integrity_check: %s\n", line ? line : "(null)");
        rows++;
    }
    if (rc != SQLITE_DONE)
        FAIL("PRAGMA integrity_check: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (!ok || rows != 1)
        FAIL("PRAGMA integrity_check did not say \"ok\" (%d lines)", rows);
}

/* Reads the live visits (id, notes) of the replica, sorted by id. */
static db_visit *read_visits(fs_replica *r, size_t *count)
{
    db_visit *v = NULL;
    size_t n = 0, cap = 0;
    fs_rows *it = NULL;
    int rc;
    CHECK_OK(fs_rows_open(&it, r, "visit", NULL, NULL, NULL));
    while ((rc = fs_rows_next(it)) == 1) {
        fs_value notes;
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            v = realloc(v, cap * sizeof *v);
            CHECK(v != NULL);
        }
        memcpy(v[n].id, fs_rows_id(it), FS_ID_BYTES);
        CHECK_OK(fs_rows_get(it, "notes", &notes));
        CHECK_EQ_INT(notes.type, FS_TEXT);
        v[n].notes_len = notes.n;
        memcpy(v[n].notes, notes.p, notes.n < NOTES_MAX ? notes.n : NOTES_MAX);
        n++;
    }
    if (rc < 0)
        FAIL("fs_rows_next(visit) returned %d (%s): %s", rc, fs_errname(rc), fs_replica_errmsg(r));
    fs_rows_close(it);
    if (n > 0)
        qsort(v, n, sizeof *v, cmp_id);
    *count = n;
    return v;
}

/* Reads the live commitments (id, visit) of the replica, sorted by id. */
static model_commitment *read_commitments(fs_replica *r, size_t *count)
{
    model_commitment *c = NULL;
    size_t n = 0, cap = 0;
    fs_rows *it = NULL;
    int rc;
    CHECK_OK(fs_rows_open(&it, r, "commitment", NULL, NULL, NULL));
    while ((rc = fs_rows_next(it)) == 1) {
        fs_value visit;
        if (n == cap) {
            cap = cap ? 2 * cap : 2048;
            c = realloc(c, cap * sizeof *c);
            CHECK(c != NULL);
        }
        memcpy(c[n].id, fs_rows_id(it), FS_ID_BYTES);
        CHECK_OK(fs_rows_get(it, "visit", &visit));
        CHECK_EQ_INT(visit.type, FS_BLOB);
        CHECK_EQ_INT(visit.n, FS_ID_BYTES);
        memcpy(c[n].visit, visit.p, FS_ID_BYTES);
        n++;
    }
    if (rc < 0)
        FAIL("fs_rows_next(commitment) returned %d (%s): %s", rc, fs_errname(rc),
             fs_replica_errmsg(r));
    fs_rows_close(it);
    if (n > 0)
        qsort(c, n, sizeof *c, cmp_id);
    *count = n;
    return c;
}

/* After a kill: opens and checks the replica, settles the transaction that was
 * in flight (inflight NULL: none) and compares the replica with the model. */
static void check_after_kill(const char *dir, model *m, const crash_msg *inflight,
                             const uint8_t (*extra)[FS_ID_BYTES], size_t nextra, unsigned round,
                             size_t live_before, unsigned long deletes_before, crash_stats *st)
{
    fs_replica *r = NULL;
    size_t problems = 0, nv = 0, nc = 0;

    int rc = fs_replica_open(&r, dir, PASSPHRASE, strlen(PASSPHRASE), NULL);
    if (rc != 0)
        FAIL("reopening after the kill: %s: %s", fs_errname(rc), fs_replica_errmsg(r));
    check_integrity(r);
    CHECK_OK(fs_replica_check(r, &problems));
    if (problems != 0)
        FAIL("fs_replica_check found %zu problems; first: %s", problems, fs_replica_errmsg(r));

    db_visit *dv = read_visits(r, &nv);
    model_commitment *dc = read_commitments(r, &nc);

    /* The transaction in flight took effect if its new visit is there; then
     * the rest of it must be there too (checked below against the model). */
    if (inflight != NULL) {
        if (nv > 0 && bsearch(inflight->visit, dv, nv, sizeof *dv, cmp_id) != NULL) {
            model_apply(m, inflight, extra, nextra, round, st);
            st->inflight_applied++;
        } else {
            st->inflight_absent++;
        }
    }
    if (m->nvisits > 0)
        qsort(m->visits, m->nvisits, sizeof *m->visits, cmp_id);
    m->nsorted = m->nvisits;
    if (m->ncommitments > 0)
        qsort(m->commitments, m->ncommitments, sizeof *m->commitments, cmp_id);

    /* Live visits only drop by the writer's own deletes. */
    unsigned long deleted_now = st->deletes - deletes_before;
    if (nv + deleted_now < live_before)
        FAIL("live visits dropped from %zu to %zu, but the writer deleted only %lu", live_before,
             nv, deleted_now);

    /* Exactly the model's live visits, each with the notes of its last write:
     * a merge of the two sorted lists that counts every difference. */
    size_t i = 0, j = 0, missing = 0, unknown = 0, revived = 0, stale = 0;
    const model_visit *first_missing = NULL;
    char expect[NOTES_MAX], hex[2 * FS_ID_BYTES + 1] = "";
    while (i < m->nvisits || j < nv) {
        if (i < m->nvisits && m->visits[i].deleted) {
            i++;
            continue;
        }
        int c = i == m->nvisits ? 1 : j == nv ? -1 : cmp_id(m->visits[i].id, dv[j].id);
        if (c < 0) { /* committed, live in the model, not in the replica */
            if (first_missing == NULL || m->visits[i].round * 100000u + m->visits[i].iter <
                                             first_missing->round * 100000u + first_missing->iter)
                first_missing = &m->visits[i];
            missing++;
            i++;
        } else if (c > 0) { /* in the replica, not live in the model */
            const model_visit *v = model_find(m, dv[j].id);
            if (v == NULL)
                unknown++;
            else
                revived++;
            j++;
        } else {
            const model_visit *v = &m->visits[i];
            size_t n = notes_text(expect, sizeof expect, v->round, v->iter, v->kind);
            if (dv[j].notes_len != n || memcmp(dv[j].notes, expect, n) != 0) {
                if (stale++ == 0) {
                    fs_id_to_hex(v->id, hex);
                    fprintf(stderr,
                            "visit %s: notes \"%.*s\" are not those of its last write "
                            "(%s, round %u iter %u)\n",
                            hex, (int)(dv[j].notes_len < NOTES_MAX ? dv[j].notes_len : NOTES_MAX),
                            dv[j].notes, v->kind == 'i' ? "insert" : "update", v->round, v->iter);
                }
            }
            i++;
            j++;
        }
    }
    if (first_missing != NULL)
        fs_id_to_hex(first_missing->id, hex);
    if (missing || unknown || revived || stale)
        FAIL("after the kill the replica holds %zu live visits, the model %zu: %zu committed "
             "visits missing (earliest: %s, round %u iter %u), %zu nobody committed, %zu deleted "
             "ones live again, %zu with stale notes",
             nv, m->live, missing, first_missing ? hex : "-",
             first_missing ? first_missing->round : 0, first_missing ? first_missing->iter : 0,
             unknown, revived, stale);
    CHECK_EQ_INT(nv, m->live);

    /* Exactly the model's commitments, each of its own visit. */
    if (nc != m->ncommitments)
        FAIL("the replica holds %zu commitments, the model %zu", nc, m->ncommitments);
    for (size_t k = 0; k < nc; k++) {
        if (memcmp(dc[k].id, m->commitments[k].id, FS_ID_BYTES) != 0)
            FAIL("commitment %zu of %zu differs from the model (lost or unexpected)", k, nc);
        if (memcmp(dc[k].visit, m->commitments[k].visit, FS_ID_BYTES) != 0)
            FAIL("commitment %zu names the wrong visit", k);
    }
    free(dv);
    free(dc);
    fs_replica_close(r);
}

/* Reads whatever the writer has sent into buf (len bytes held so far) without
 * blocking for more than timeout_ms; returns 0 at end of file, 1 otherwise. */
static int pump(int fd, unsigned char *buf, size_t cap, size_t *len, int timeout_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    int rc = poll(&p, 1, timeout_ms < 0 ? 0 : timeout_ms);
    if (rc < 0 && errno != EINTR)
        FAIL("poll: %s", strerror(errno));
    if (rc <= 0)
        return 1;
    for (;;) {
        if (*len == cap)
            FAIL("the writer sent more than %zu bytes in one round", cap);
        ssize_t n = read(fd, buf + *len, cap - *len);
        if (n > 0) {
            *len += (size_t)n;
            continue;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 1;
        FAIL("read: %s", strerror(errno));
    }
}

static int has_ready(const unsigned char *buf, size_t len)
{
    crash_msg msg;
    if (len < sizeof msg)
        return 0;
    memcpy(&msg, buf, sizeof msg);
    return msg.type == MSG_READY;
}

/* 1 if a COMMIT record is among the records from *scanned on (which moves on). */
static int has_commit(const unsigned char *buf, size_t len, size_t *scanned)
{
    crash_msg msg;
    for (; *scanned + sizeof msg <= len; *scanned += sizeof msg) {
        memcpy(&msg, buf + *scanned, sizeof msg);
        if (msg.type == MSG_COMMIT || msg.type == MSG_ERROR)
            return 1;
    }
    return 0;
}

/* One test: how many kills, how large the transactions, when to kill. */
typedef struct kill_plan {
    const char *name;
    unsigned rounds;
    size_t per_tx;      /* visits per transaction */
    unsigned max_delay; /* kill 1..max_delay ms after the replica is open */
} kill_plan;

static void run_kills(const kill_plan *plan)
{
    const char *seed_env = getenv("FS_CRASH_SEED");
    unsigned rounds = plan->rounds;
    g_seed = seed_env && *seed_env ? strtoull(seed_env, NULL, 10)
                                   : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    printf("%s: seed %llu, %u kills, %zu visit(s) per transaction\n", plan->name,
           (unsigned long long)g_seed, rounds, plan->per_tx);
    fflush(stdout);
    atexit(on_exit_hook);

    char *tmp = test_tmpdir();
    char *dir = g_dir;
    snprintf(g_dir, sizeof g_dir, "%s/replica", tmp);

    /* The replica and its one customer. */
    fs_replica *r = NULL;
    fs_replica_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.kdf = &fs_kdf_minimum;
    CHECK_OK(fs_replica_create(&r, dir, PASSPHRASE, strlen(PASSPHRASE), &opts));
    uint8_t customer[FS_ID_BYTES];
    const fs_cell cust[] = {{"name", fs_text("XX科技有限公司 (XX Technology Co.)")},
                            {"owner", fs_text("zhangwei")}};
    CHECK_OK(fs_insert(r, "customer", cust, 2, customer));
    fs_replica_close(r);

    model m;
    crash_stats st;
    memset(&m, 0, sizeof m);
    memset(&st, 0, sizeof st);
    rng g = {g_seed};
    size_t cap = 64u << 20; /* far more than a writer sends in one round */
    unsigned char *buf = malloc(cap);
    uint8_t(*extra)[FS_ID_BYTES] = calloc(plan->per_tx, sizeof *extra);
    CHECK(buf != NULL && extra != NULL);
    double t_start = now_ms();

    for (unsigned round = 1; round <= rounds; round++) {
        int fds[2];
        g_round = round;
        CHECK(pipe(fds) == 0);
        fflush(NULL);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            writer(dir, fds[1], g_seed, round, plan->per_tx);
            _exit(0);
        }
        g_writer = pid;
        close(fds[1]);
        CHECK(fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0);

        /* Choose the moment: mostly 1..max_delay ms after the replica is open,
         * and one round in six 1-8 ms after fork (inside open and recovery).
         * With large transactions, every other round counts from the first
         * commit instead, so that commits happen however slow the build. */
        size_t len = 0, scanned = 0;
        int open_pipe = 1, early = rng_below(&g, 6) == 0;
        int after_commit = !early && plan->per_tx > 1 && round % 2 == 0;
        unsigned delay = early ? 1 + rng_below(&g, 8) : 1 + rng_below(&g, plan->max_delay);
        double t0 = now_ms();
        if (!early) {
            while (open_pipe &&
                   !(after_commit ? has_commit(buf, len, &scanned) : has_ready(buf, len))) {
                if (now_ms() - t0 > 30000)
                    FAIL("the writer did not %s within 30 s",
                         after_commit ? "commit" : "open the replica");
                open_pipe = pump(fds[0], buf, cap, &len, 50);
            }
            t0 = now_ms();
        }
        for (double left = delay; open_pipe && left > 0; left = delay - (now_ms() - t0))
            open_pipe = pump(fds[0], buf, cap, &len, (int)left + 1);

        kill(pid, SIGKILL);
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        g_writer = -1;
        while (open_pipe)
            open_pipe = pump(fds[0], buf, cap, &len, 1000);
        close(fds[0]);

        /* Replay the records: COMMIT applies the INTENT (and EXTRAs) before it. */
        size_t live_before = m.live, nextra = 0;
        unsigned long deletes_before = st.deletes;
        crash_msg inflight, msg;
        int have_inflight = 0, ready = 0;
        memset(&inflight, 0, sizeof inflight);
        for (size_t off = 0; off + sizeof msg <= len; off += sizeof msg) {
            memcpy(&msg, buf + off, sizeof msg);
            switch (msg.type) {
            case MSG_READY:
                ready = 1;
                break;
            case MSG_EXTRA:
                CHECK(!have_inflight);
                CHECK(msg.nextra <= EXTRA_PER_MSG && nextra + msg.nextra < plan->per_tx);
                memcpy(extra[nextra], msg.extra, msg.nextra * sizeof msg.extra[0]);
                nextra += msg.nextra;
                break;
            case MSG_INTENT:
                CHECK(!have_inflight);
                CHECK_EQ_INT(nextra, plan->per_tx - 1);
                inflight = msg;
                have_inflight = 1;
                break;
            case MSG_COMMIT:
                CHECK(have_inflight);
                CHECK_EQ_INT(msg.iter, inflight.iter);
                model_apply(&m, &inflight, (const uint8_t(*)[FS_ID_BYTES])extra, nextra, round,
                            &st);
                have_inflight = 0;
                nextra = 0;
                st.confirmed++;
                break;
            case MSG_ERROR:
                FAIL("the writer failed: %s returned %s", msg.text, fs_errname(msg.code));
            default:
                FAIL("unknown record %u on the pipe", msg.type);
            }
        }
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
            FAIL("the writer ended by itself before the kill (status 0x%x)", (unsigned)status);
        st.kills++;
        st.kills_before_ready += !ready;

        check_after_kill(dir, &m, have_inflight ? &inflight : NULL,
                         (const uint8_t(*)[FS_ID_BYTES])extra, nextra, round, live_before,
                         deletes_before, &st);
    }

    /* A run that never committed anything would prove nothing. */
    CHECK(st.confirmed > 0);
    printf("%s: %u kills (%u before the replica was open), %lu commits confirmed, "
           "in-flight commits found whole %u / absent %u; %zu visits (%zu live), %zu "
           "commitments, %lu updates, %lu deletes; nothing lost; seed %llu; %.1f s\n",
           plan->name, st.kills, st.kills_before_ready, st.confirmed, st.inflight_applied,
           st.inflight_absent, m.nvisits, m.live, m.ncommitments, st.updates, st.deletes,
           (unsigned long long)g_seed, (now_ms() - t_start) / 1e3);
    g_done = 1;
    free(buf);
    free(extra);
    free(m.visits);
    free(m.commitments);
    test_rmtree(tmp);
}

static void test_kill_during_writes(void)
{
    const char *rounds_env = getenv("FS_CRASH_ROUNDS");
    kill_plan plan = {"kill_during_writes", ROUNDS, 1, 40};
    if (rounds_env != NULL && atoi(rounds_env) > 0)
        plan.rounds = (unsigned)atoi(rounds_env);
    run_kills(&plan);
}

static void test_kill_during_big_transactions(void)
{
    kill_plan plan = {"kill_during_big_transactions", BIG_ROUNDS, BIG_TX, 300};
    run_kills(&plan);
}

TEST_LIST(TEST(kill_during_writes) TEST(kill_during_big_transactions))
