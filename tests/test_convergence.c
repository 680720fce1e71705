/*
 * Convergence property test: seeded random schedules of 3-5 replicas making
 * concurrent inserts, updates and deletes, with clocks that drift apart, and
 * exchanging change sets in random order, duplicated and partial. At the end
 * every replica has received everything; then
 *   - all replicas hold the same state (canonical hash),
 *   - every value that was overwritten by a write not made on top of it (a
 *     concurrent loser: no write anywhere names it as the version it
 *     replaced) is found in a conflict record, with its value,
 *   - every replica's rows match its change log,
 *   - applying everything once more changes nothing (idempotence).
 * The failing seed is printed; FS_SEEDS=N and FS_SEED0=S select schedules.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync/replica.h"
#include "replica_int.h"
#include "rng.h"
#include "test.h"

#define MAX_REPLICAS 5

static unsigned long losers_checked, records_seen;

typedef struct sim {
    uint64_t seed;
    rng g;
    int n;
    fs_replica *r[MAX_REPLICAS];
    uint64_t clock[MAX_REPLICAS]; /* each replica's wall clock, ms */
    char dir[512];
} sim;

static unsigned pick(sim *s, unsigned n)
{
    return rng_below(&s->g, n);
}

static uint64_t clock_cb(void *ctx)
{
    return *(uint64_t *)ctx;
}

#define SFAIL(s, ...)                                                                     \
    do {                                                                                  \
        fprintf(stderr, "seed %llu: ", (unsigned long long)(s)->seed);                    \
        FAIL(__VA_ARGS__);                                                                \
    } while (0)

static const char *words[] = {"華東", "客戶", "Acme", "預算", "demo", "採購", "SLA", "報價",
                              "follow-up", "拜訪", "合同", "售後"};

static void random_text(sim *s, char *buf, size_t cap)
{
    size_t len = 0;
    unsigned k = 1 + pick(s, 3);
    buf[0] = '\0';
    for (unsigned i = 0; i < k; i++) {
        const char *w = words[pick(s, sizeof words / sizeof words[0])];
        int n = snprintf(buf + len, cap - len, "%s%s", i ? " " : "", w);
        if (n < 0 || (size_t)n >= cap - len)
            break;
        len += (size_t)n;
    }
}

/* Ids of live customer rows on replica i. */
static size_t live_rows(sim *s, int i, uint8_t (*ids)[16], size_t cap)
{
    fs_rows *it = NULL;
    size_t n = 0;
    CHECK_OK(fs_rows_open(&it, s->r[i], "customer", NULL, NULL, NULL));
    int rc;
    while ((rc = fs_rows_next(it)) == 1 && n < cap)
        memcpy(ids[n++], fs_rows_id(it), 16);
    CHECK(rc >= 0);
    fs_rows_close(it);
    return n;
}

static void local_op(sim *s, int i)
{
    uint8_t ids[256][16];
    size_t n = live_rows(s, i, ids, 256);
    char a[128], b[128];
    random_text(s, a, sizeof a);
    random_text(s, b, sizeof b);
    unsigned op = pick(s, 10);
    if (n == 0 || op < 3) {
        fs_cell cells[] = {{"name", fs_text(a)}, {"industry", fs_text(b)},
                           {"key_account", fs_int(pick(s, 2))}};
        uint8_t id[16];
        CHECK_OK(fs_insert(s->r[i], "customer", cells, 3, id));
    } else if (op < 9) {
        static const char *cols[] = {"name", "industry", "size", "preferences", "owner"};
        fs_cell cells[3];
        unsigned k = 1 + pick(s, 2);
        unsigned first = pick(s, 5);
        for (unsigned j = 0; j < k; j++) {
            cells[j].column = cols[(first + j) % 5];
            cells[j].value = fs_text(j == 0 ? a : b);
        }
        CHECK_OK(fs_update(s->r[i], "customer", ids[pick(s, (unsigned)n)], cells, k));
    } else {
        CHECK_OK(fs_delete(s->r[i], "customer", ids[pick(s, (unsigned)n)]));
    }
}

/* Applies a random part of src's change log to dst, shuffled, perhaps in
 * several batches, perhaps with duplicates. */
static void deliver(sim *s, int src, int dst, int everything)
{
    fs_changeset *cs = NULL;
    CHECK_OK(fs_changes_since(s->r[src], 0, 1000000, &cs));
    if (cs->count == 0) {
        fs_changeset_free(cs);
        return;
    }
    size_t n = cs->count;
    fs_change *sel = malloc((2 * n + 1) * sizeof *sel);
    CHECK(sel != NULL);
    size_t m = 0;
    unsigned mode = everything ? 0 : pick(s, 3);
    size_t prefix = 1 + pick(s, (unsigned)n);
    for (size_t k = 0; k < n; k++) {
        if (mode == 1 && k >= prefix) /* a prefix, as an interrupted push */
            break;
        if (mode == 2 && pick(s, 2)) /* a random subset */
            continue;
        sel[m++] = cs->changes[k];
        if (!everything && pick(s, 8) == 0)
            sel[m++] = cs->changes[k]; /* duplicated */
    }
    for (size_t k = m; k > 1; k--) { /* Fisher-Yates */
        size_t j = pick(s, (unsigned)k);
        fs_change t = sel[k - 1];
        sel[k - 1] = sel[j];
        sel[j] = t;
    }
    size_t off = 0;
    while (off < m) {
        size_t batch = 1 + pick(s, (unsigned)(m - off));
        fs_apply_stats st;
        int rc = fs_apply(s->r[dst], sel + off, batch, &st);
        if (rc != 0)
            SFAIL(s, "fs_apply: %s", fs_replica_errmsg(s->r[dst]));
        off += batch;
    }
    free(sel);
    fs_changeset_free(cs);
}

/* ---- ground truth from the change logs ---- */

typedef struct logged_write {
    uint16_t table, column;
    uint8_t row[16];
    fs_version v, prev;
    int vtype;
    int64_t i;
    char text[160];
} logged_write;

typedef struct writes {
    logged_write *w;
    size_t n, cap;
} writes;

static void collect(sim *s, writes *all)
{
    int cf = fs_schema_table_index("conflict");
    for (int i = 0; i < s->n; i++) {
        fs_changeset *cs = NULL;
        CHECK_OK(fs_changes_since(s->r[i], 0, 1000000, &cs));
        for (size_t k = 0; k < cs->count; k++) {
            const fs_change *c = &cs->changes[k];
            if (c->table == cf)
                continue;
            if (all->n == all->cap) {
                all->cap = all->cap ? 2 * all->cap : 256;
                all->w = realloc(all->w, all->cap * sizeof *all->w);
                CHECK(all->w != NULL);
            }
            logged_write *w = &all->w[all->n++];
            memset(w, 0, sizeof *w);
            w->table = c->table;
            w->column = c->column;
            memcpy(w->row, c->row, 16);
            w->v = c->version;
            w->prev = c->prev;
            w->vtype = c->value.type;
            w->i = c->value.i;
            if (c->value.type == FS_TEXT)
                snprintf(w->text, sizeof w->text, "%.*s", (int)c->value.n,
                         (const char *)c->value.p);
        }
        fs_changeset_free(cs);
    }
}

typedef struct found {
    fs_conflict *c;
    size_t n, cap;
    char (*text)[160];
} found;

static int conflict_cb(const fs_conflict *c, void *ctx)
{
    found *f = ctx;
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 64;
        f->c = realloc(f->c, f->cap * sizeof *f->c);
        f->text = realloc(f->text, f->cap * sizeof *f->text);
        CHECK(f->c != NULL && f->text != NULL);
    }
    f->c[f->n] = *c;
    f->text[f->n][0] = '\0';
    if (c->loser.type == FS_TEXT)
        snprintf(f->text[f->n], 160, "%.*s", (int)c->loser.n, (const char *)c->loser.p);
    f->n++;
    return 0;
}

static int same_cell(const logged_write *a, const logged_write *b)
{
    return a->table == b->table && a->column == b->column && memcmp(a->row, b->row, 16) == 0;
}

static void check_no_silent_losers(sim *s)
{
    writes all = {NULL, 0, 0};
    found f = {NULL, 0, 0, NULL};
    collect(s, &all);
    CHECK_OK(fs_conflicts(s->r[0], 1, conflict_cb, &f));
    records_seen += f.n;
    for (size_t a = 0; a < all.n; a++) {
        logged_write *w = &all.w[a];
        int superseded_knowingly = 0, is_final = 1;
        for (size_t b = 0; b < all.n; b++) {
            logged_write *o = &all.w[b];
            if (!same_cell(w, o))
                continue;
            if (fs_version_cmp(&o->prev, &w->v) == 0)
                superseded_knowingly = 1;
            if (fs_version_cmp(&o->v, &w->v) > 0)
                is_final = 0;
        }
        if (is_final || superseded_knowingly)
            continue;
        losers_checked++;
        int ok = 0;
        for (size_t k = 0; k < f.n && !ok; k++) {
            fs_conflict *c = &f.c[k];
            if (c->table == w->table && c->column == w->column &&
                memcmp(c->row, w->row, 16) == 0 && fs_version_cmp(&c->loser_version, &w->v) == 0) {
                if (w->vtype == FS_TEXT && strcmp(f.text[k], w->text) != 0)
                    SFAIL(s, "conflict record holds a different losing value");
                ok = 1;
            }
        }
        if (!ok)
            SFAIL(s, "a concurrently overwritten value (column %u) has no conflict record",
                  w->column);
    }
    free(all.w);
    free(f.c);
    free(f.text);
}

static void hashes(sim *s, uint8_t h[MAX_REPLICAS][32])
{
    for (int i = 0; i < s->n; i++)
        CHECK_OK(fs_replica_state_hash(s->r[i], h[i]));
}

static int all_equal(sim *s, uint8_t h[MAX_REPLICAS][32])
{
    for (int i = 1; i < s->n; i++)
        if (memcmp(h[0], h[i], 32) != 0)
            return 0;
    return 1;
}

static uint64_t total_log(sim *s)
{
    uint64_t t = 0;
    for (int i = 0; i < s->n; i++) {
        uint64_t q = 0;
        CHECK_OK(fs_last_seq(s->r[i], &q));
        t += q;
    }
    return t;
}

static void run_schedule(uint64_t seed)
{
    sim s;
    memset(&s, 0, sizeof s);
    s.seed = seed;
    s.g.s = seed * 0x2545F4914F6CDD1Dull + 1;
    s.n = 3 + (int)pick(&s, 3);
    snprintf(s.dir, sizeof s.dir, "%s", test_tmpdir());
    for (int i = 0; i < s.n; i++) {
        char d[600];
        snprintf(d, sizeof d, "%s/r%d", s.dir, i);
        s.clock[i] = 1700000000000ull + pick(&s, 5000); /* clocks seconds apart */
        fs_replica_opts o = {.kdf = &fs_kdf_minimum, .clock_ms = clock_cb, .clock_ctx = &s.clock[i]};
        CHECK_OK(fs_replica_create(&s.r[i], d, "pw", 2, &o));
    }
    unsigned steps = 20 + pick(&s, 40);
    for (unsigned k = 0; k < steps; k++) {
        int i = (int)pick(&s, (unsigned)s.n);
        s.clock[i] += pick(&s, 3) ? pick(&s, 20) : 0; /* equal ms is common */
        if (pick(&s, 3) == 0) {
            int j = (int)pick(&s, (unsigned)s.n);
            if (j != i)
                deliver(&s, i, j, 0);
        } else {
            local_op(&s, i);
        }
    }
    /* Everyone receives everything until nothing new is written. */
    uint8_t h[MAX_REPLICAS][32];
    int rounds = 0;
    uint64_t before;
    do {
        before = total_log(&s);
        for (int i = 0; i < s.n; i++)
            for (int j = 0; j < s.n; j++)
                if (i != j)
                    deliver(&s, i, j, 1);
        hashes(&s, h);
        if (++rounds > 10)
            SFAIL(&s, "no fixpoint after 10 full exchanges");
    } while (total_log(&s) != before || !all_equal(&s, h));

    check_no_silent_losers(&s);
    for (int i = 0; i < s.n; i++) {
        size_t problems = 99;
        CHECK_OK(fs_replica_check(s.r[i], &problems));
        if (problems != 0)
            SFAIL(&s, "replica %d does not match its log: %s", i, fs_replica_errmsg(s.r[i]));
    }
    /* Idempotence: everything again, nothing changes. */
    before = total_log(&s);
    for (int i = 0; i < s.n; i++)
        for (int j = 0; j < s.n; j++)
            if (i != j)
                deliver(&s, i, j, 1);
    uint8_t h2[MAX_REPLICAS][32];
    hashes(&s, h2);
    if (memcmp(h, h2, (size_t)s.n * 32) != 0 || total_log(&s) != before)
        SFAIL(&s, "re-applying changes altered a replica");
    for (int i = 0; i < s.n; i++)
        fs_replica_close(s.r[i]);
    test_rmtree(s.dir);
}

static void test_random_schedules(void)
{
    const char *e = getenv("FS_SEEDS");
    const char *e0 = getenv("FS_SEED0");
    unsigned long n = e ? strtoul(e, NULL, 10) : 1000;
    unsigned long s0 = e0 ? strtoul(e0, NULL, 10) : 1;
    for (unsigned long k = 0; k < n; k++)
        run_schedule(s0 + k);
    printf("%lu schedules converged; %lu concurrent losers checked, %lu conflict records\n", n,
           losers_checked, records_seen);
    CHECK(losers_checked > n / 4); /* the schedules do exercise concurrency */
}

/* Two replicas write the same column concurrently: one value wins on both,
 * the other is in one agreed conflict record, and restoring it is synced. */
static void test_concurrent_write_kept_and_restored(void)
{
    sim s;
    memset(&s, 0, sizeof s);
    s.n = 2;
    snprintf(s.dir, sizeof s.dir, "%s", test_tmpdir());
    for (int i = 0; i < 2; i++) {
        char d[600];
        snprintf(d, sizeof d, "%s/r%d", s.dir, i);
        s.clock[i] = 1700000000000ull;
        fs_replica_opts o = {.kdf = &fs_kdf_minimum, .clock_ms = clock_cb, .clock_ctx = &s.clock[i]};
        CHECK_OK(fs_replica_create(&s.r[i], d, "pw", 2, &o));
    }
    uint8_t id[16];
    fs_cell c0[] = {{"name", fs_text("北京某某科技")}};
    CHECK_OK(fs_insert(s.r[0], "customer", c0, 1, id));
    deliver(&s, 0, 1, 1);
    s.clock[0] += 10;
    s.clock[1] += 20; /* replica 1 writes later: it wins */
    fs_cell a[] = {{"preferences", fs_text("prefers e-mail")}};
    fs_cell b[] = {{"preferences", fs_text("偏好電話聯繫")}};
    CHECK_OK(fs_update(s.r[0], "customer", id, a, 1));
    CHECK_OK(fs_update(s.r[1], "customer", id, b, 1));
    deliver(&s, 0, 1, 1);
    deliver(&s, 1, 0, 1);
    deliver(&s, 0, 1, 1);
    uint8_t h[MAX_REPLICAS][32];
    hashes(&s, h);
    CHECK(all_equal(&s, h));
    for (int i = 0; i < 2; i++) {
        found f = {NULL, 0, 0, NULL};
        CHECK_OK(fs_conflicts(s.r[i], 0, conflict_cb, &f));
        CHECK_EQ_INT(f.n, 1);
        CHECK_STR(f.text[0], "prefers e-mail");
        CHECK(f.c[0].winner.type == FS_TEXT && f.c[0].winner.n == strlen("偏好電話聯繫"));
        if (i == 0)
            CHECK_OK(fs_conflict_resolve(s.r[0], f.c[0].id, FS_CONFLICT_RESTORED));
        free(f.c);
        free(f.text);
    }
    deliver(&s, 0, 1, 1);
    hashes(&s, h);
    CHECK(all_equal(&s, h));
    found f = {NULL, 0, 0, NULL};
    CHECK_OK(fs_conflicts(s.r[1], 0, conflict_cb, &f));
    CHECK_EQ_INT(f.n, 0); /* resolved everywhere */
    fs_rows *it = NULL;
    CHECK_OK(fs_rows_open(&it, s.r[1], "customer", NULL, NULL, NULL));
    CHECK_EQ_INT(fs_rows_next(it), 1);
    fs_value v;
    CHECK_OK(fs_rows_get(it, "preferences", &v));
    CHECK(v.type == FS_TEXT && v.n == strlen("prefers e-mail") &&
          memcmp(v.p, "prefers e-mail", v.n) == 0);
    fs_rows_close(it);
    free(f.c);
    free(f.text);
    for (int i = 0; i < 2; i++)
        fs_replica_close(s.r[i]);
    test_rmtree(s.dir);
}

/* A conflict decided with a value of its own (fieldsync conflict resolve
 * --value): the value and the decision sync, both replicas end equal and
 * neither lists the conflict; a value that does not fit the field and an
 * unknown conflict are refused and write nothing. */
static void test_conflict_decided_with_a_value(void)
{
    sim s;
    memset(&s, 0, sizeof s);
    s.n = 2;
    snprintf(s.dir, sizeof s.dir, "%s", test_tmpdir());
    for (int i = 0; i < 2; i++) {
        char d[600];
        snprintf(d, sizeof d, "%s/r%d", s.dir, i);
        s.clock[i] = 1700000000000ull;
        fs_replica_opts o = {.kdf = &fs_kdf_minimum, .clock_ms = clock_cb, .clock_ctx = &s.clock[i]};
        CHECK_OK(fs_replica_create(&s.r[i], d, "pw", 2, &o));
    }
    uint8_t id[16];
    fs_cell c0[] = {{"name", fs_text("北京某某科技")}};
    CHECK_OK(fs_insert(s.r[0], "customer", c0, 1, id));
    deliver(&s, 0, 1, 1);
    s.clock[0] += 10;
    s.clock[1] += 20;
    fs_cell a[] = {{"preferences", fs_text("prefers e-mail")}};
    fs_cell b[] = {{"preferences", fs_text("偏好電話聯繫")}};
    CHECK_OK(fs_update(s.r[0], "customer", id, a, 1));
    CHECK_OK(fs_update(s.r[1], "customer", id, b, 1));
    deliver(&s, 0, 1, 1);
    deliver(&s, 1, 0, 1);
    deliver(&s, 0, 1, 1); /* the conflict record r0 found */
    found f = {NULL, 0, 0, NULL};
    CHECK_OK(fs_conflicts(s.r[1], 0, conflict_cb, &f));
    CHECK_EQ_INT(f.n, 1);
    uint8_t cid[16];
    memcpy(cid, f.c[0].id, 16);
    free(f.c);
    free(f.text);
    uint64_t before;
    CHECK_OK(fs_last_seq(s.r[1], &before));
    fs_value wrong = fs_int(7); /* preferences is text */
    CHECK_ERR(fs_conflict_decide(s.r[1], cid, &wrong), FS_ETYPE);
    uint8_t nosuch[16] = {1};
    fs_value v3 = fs_text("e-mail first, then a call");
    CHECK_ERR(fs_conflict_decide(s.r[1], nosuch, &v3), FS_ENOTFOUND);
    uint64_t after;
    CHECK_OK(fs_last_seq(s.r[1], &after));
    CHECK_EQ_INT(after, before); /* nothing written */
    s.clock[1] += 10;
    CHECK_OK(fs_conflict_decide(s.r[1], cid, &v3));
    deliver(&s, 1, 0, 1);
    deliver(&s, 0, 1, 1);
    uint8_t h[MAX_REPLICAS][32];
    hashes(&s, h);
    CHECK(all_equal(&s, h));
    for (int i = 0; i < 2; i++) {
        found g = {NULL, 0, 0, NULL};
        CHECK_OK(fs_conflicts(s.r[i], 0, conflict_cb, &g));
        CHECK_EQ_INT(g.n, 0);
        free(g.c);
        free(g.text);
        fs_replica_status st;
        CHECK_OK(fs_replica_status_get(s.r[i], &st));
        CHECK_EQ_INT(st.open_conflicts, 0);
        fs_rows *it = NULL;
        CHECK_OK(fs_rows_open(&it, s.r[i], "customer", NULL, NULL, NULL));
        CHECK_EQ_INT(fs_rows_next(it), 1);
        fs_value v;
        CHECK_OK(fs_rows_get(it, "preferences", &v));
        CHECK(v.type == FS_TEXT && v.n == strlen("e-mail first, then a call") &&
              memcmp(v.p, "e-mail first, then a call", v.n) == 0);
        fs_rows_close(it);
    }
    /* The decision is kept with the record: status DECIDED everywhere. */
    found all = {NULL, 0, 0, NULL};
    CHECK_OK(fs_conflicts(s.r[0], 1, conflict_cb, &all));
    CHECK_EQ_INT(all.n, 1);
    CHECK_EQ_INT(all.c[0].status, FS_CONFLICT_DECIDED);
    free(all.c);
    free(all.text);
    for (int i = 0; i < 2; i++)
        fs_replica_close(s.r[i]);
    test_rmtree(s.dir);
}

/* A write made on top of the value it replaces is not a conflict. */
static void test_sequential_write_is_not_a_conflict(void)
{
    sim s;
    memset(&s, 0, sizeof s);
    s.n = 2;
    snprintf(s.dir, sizeof s.dir, "%s", test_tmpdir());
    for (int i = 0; i < 2; i++) {
        char d[600];
        snprintf(d, sizeof d, "%s/r%d", s.dir, i);
        s.clock[i] = 1700000000000ull + (uint64_t)i * 1000;
        fs_replica_opts o = {.kdf = &fs_kdf_minimum, .clock_ms = clock_cb, .clock_ctx = &s.clock[i]};
        CHECK_OK(fs_replica_create(&s.r[i], d, "pw", 2, &o));
    }
    uint8_t id[16];
    fs_cell c0[] = {{"name", fs_text("first")}};
    CHECK_OK(fs_insert(s.r[0], "customer", c0, 1, id));
    deliver(&s, 0, 1, 1);
    fs_cell c1[] = {{"name", fs_text("second")}};
    CHECK_OK(fs_update(s.r[1], "customer", id, c1, 1));
    deliver(&s, 1, 0, 1);
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(s.r[0], &st));
    CHECK_EQ_INT(st.open_conflicts, 0);
    for (int i = 0; i < 2; i++)
        fs_replica_close(s.r[i]);
    test_rmtree(s.dir);
}

TEST_LIST(TEST(concurrent_write_kept_and_restored) TEST(conflict_decided_with_a_value)
              TEST(sequential_write_is_not_a_conflict)
              TEST(random_schedules))
