/*
 * The rules engine (fieldsync/rules.h): the evaluation of a replica's
 * records against the deadline table (core/rules_table.c). Dates, weeks
 * and working days are fieldsync/calendar.h's. It reads the replica through
 * fs_rows and fs_refusals only. Whose deadline a finding is (hand-overs and
 * their frozen charges) and which refused records are left out:
 * fieldsync/rules.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync/attach.h"
#include "fieldsync/calendar.h"
#include "fieldsync/records.h"
#include "fieldsync/replica_server.h"
#include "fieldsync/rules.h"
#include "fieldsync/schema.h"

#define WHO_CUSTOMER FS_RULE_WHO_CUSTOMER

/* ---- evaluation ---- */

static int64_t deadline_of(const fs_rule *rl, const fs_calendar *cal, int64_t start)
{
    int64_t day = fs_civil_day(start);
    switch (rl->deadline) {
    case FS_DL_HOURS:
        return start + (int64_t)rl->amount * 60;
    case FS_DL_DAYS:
        return start + (int64_t)rl->amount * FS_MIN_PER_DAY;
    case FS_DL_WORKDAYS:
        return fs_calendar_close(cal, day, rl->amount);
    case FS_DL_WORKDAYS_BEFORE:
        return fs_calendar_close(cal, day, -rl->amount);
    case FS_DL_END_OF_DAY:
        return (day + 1) * FS_MIN_PER_DAY;
    case FS_DL_SAME_WORKDAY:
        return fs_calendar_close(cal, day, 0);
    case FS_DL_TIME_OF_DAY:
        return day * FS_MIN_PER_DAY + rl->amount;
    }
    return start;
}

static fs_rule_status status_of(int64_t deadline, int64_t done, int64_t now, int soon)
{
    if (done >= 0)
        return done <= deadline ? FS_ST_ON_TIME : FS_ST_MISSED;
    if (now > deadline)
        return FS_ST_OVERDUE;
    if (deadline - now <= soon)
        return FS_ST_DUE_SOON;
    return FS_ST_ON_TIME;
}

/* A record read once: what the rules need of it. */
typedef struct rec {
    uint8_t id[FS_ID_BYTES];
    uint8_t customer[FS_ID_BYTES];
    int has_customer;
    char who[65];
    int64_t start, done; /* -1: none */
    int done_ok;         /* the done_if condition holds (or there is none) */
    int skip;
    int64_t flag;  /* customer_replied / accurate / key_account */
    int64_t flag2; /* a second flag column (load_cached's flag2): customer_replied */
    int rep_ix;    /* who's place in e->reps_sorted (named reps), else -1 */
    int cust_ix;   /* the customer's place in e->customers (who follows it), else -1 */
} rec;

typedef struct recs {
    rec *v;
    size_t n, cap;
} recs;

/* A new zeroed record at the end of out (not yet counted in out->n), or
 * NULL when memory runs out. */
static rec *recs_grow(recs *out)
{
    if (out->n == out->cap) {
        size_t cap = out->cap ? 2 * out->cap : 64;
        rec *more = realloc(out->v, cap * sizeof *more);
        if (more == NULL)
            return NULL;
        out->v = more;
        out->cap = cap;
    }
    memset(&out->v[out->n], 0, sizeof out->v[out->n]);
    return &out->v[out->n];
}

typedef struct refused_row {
    unsigned table;
    uint8_t row[FS_ID_BYTES];
} refused_row;

/* One week of fs_compliance_weeks_each: its period and its tally. */
typedef struct window {
    int64_t from, to;
    void *ctx;
} window;

typedef struct eval {
    fs_replica *r;
    const fs_calendar *cal;
    int64_t now, from, to;
    recs customers; /* every customer: owner in who, key_account in flag */
    /* e->customers by id (open addressing, slot = place + 1, 0: empty),
     * cust_mask + 1 slots; NULL: find_customer searches the sorted array */
    uint32_t *cust_hash;
    size_t cust_mask;
    recs visits;    /* every visit: customer, time in start */
    char (*reps)[65];
    size_t nreps;
    int64_t *since; /* when each of reps joined (civil minutes; INT64_MIN: not known) */
    int only_reps; /* the caller named the reps: findings of others are left out */
    char (*reps_sorted)[65]; /* e->reps by name, for emit's search (only_reps) */
    /* Loads keep only the named reps' records (set once the customers are
     * read): another rep's record gives no finding (emit leaves it out) and
     * no rule asks about it otherwise: the visits index is asked only about
     * the customers of the findings' records and of the reps' key accounts,
     * whose visits are the reps' (a visit is its customer's owner's). */
    int named_only;
    int emit_rep_ix; /* the finding being emitted: its rep's place in reps_sorted, or -1 */
    /* Hand-overs by customer, then time (customer in customer, at in start). */
    recs handovers;
    /* Rows whose placing change the server refused: left out. */
    struct refused_row *refused;
    size_t nrefused, refused_cap;
    /* fs_rules_eval_customer: only this customer's records, deadlines
     * before e->to, done no later than e->to. */
    const uint8_t *only_customer;
    /* fs_rules_eval_todo: records as they are to be done now, charges not */
    int todo;
    /* Tables loaded once per evaluation with the same columns (the two visit
     * rules and the visits index share one pass over the visits). */
    struct {
        const char *key[12];
        recs r;
        /* the deadline of each record by a rule of this table (eval_record:
         * each window of fs_compliance_weeks asks again) */
        const fs_rule *dl_rule[4];
        int64_t *dl[4];
    } cache[32]; /* more than the rules need: entries are never evicted */
    int ncache;
    int (*cb)(const fs_finding *, void *);
    void *ctx;
    /* fs_compliance_weeks_each: the record and follow-up rules judge each
     * record once for all these windows (emit_windows); NULL: e->from ..
     * e->to, e->ctx alone */
    const window *win;
    size_t nwin;
} eval;

static int text_is(const fs_value *v, const char *s)
{
    return v->type == FS_TEXT && v->n == strlen(s) && memcmp(v->p, s, v->n) == 0;
}

static int64_t value_civil(const fs_value *v)
{
    int64_t c;
    return v->type == FS_TEXT && fs_civil_parse(v->p, v->n, &c) == 0 ? c : -1;
}

static void value_name(const fs_value *v, char out[65])
{
    size_t n = v->type == FS_TEXT ? (v->n < 64 ? v->n : 64) : 0;
    if (n > 0)
        memcpy(out, v->p, n);
    out[n] = '\0';
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(((const rec *)a)->id, ((const rec *)b)->id, FS_ID_BYTES);
}

/* Visits by customer, then time: a customer's visits are one run. */
static int cmp_customer_start(const void *a, const void *b)
{
    const rec *x = a, *y = b;
    int c = memcmp(x->customer, y->customer, FS_ID_BYTES);
    return c != 0 ? c : (x->start > y->start) - (x->start < y->start);
}

/* A customer id's slot in e->cust_hash: its 16 bytes mixed (ids may
 * share their leading bytes: a time). */
static size_t id_hash(const uint8_t id[FS_ID_BYTES])
{
    uint64_t a, b;
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    uint64_t h = (a ^ (b * 0x9E3779B97F4A7C15u)) * 0xFF51AFD7ED558CCDu;
    return (size_t)(h ^ (h >> 29));
}

/* e->customers (sorted by id) by id, for find_customer: one probe or two
 * instead of a binary search of each visit's and commitment's customer.
 * Without memory, find_customer searches the array. */
static void hash_customers(eval *e)
{
    size_t n = e->customers.n, size = 16;
    while (size < 2 * n && size < ((size_t)1 << 30))
        size *= 2;
    if (n >= UINT32_MAX || size < 2 * n || (e->cust_hash = calloc(size, sizeof *e->cust_hash)) == NULL)
        return;
    e->cust_mask = size - 1;
    for (size_t i = 0; i < n; i++) {
        size_t h = id_hash(e->customers.v[i].id) & e->cust_mask;
        while (e->cust_hash[h] != 0)
            h = (h + 1) & e->cust_mask;
        e->cust_hash[h] = (uint32_t)(i + 1);
    }
}

/* e->customers is sorted by id (fs_rules_eval): a probe of e->cust_hash,
 * else a binary search. */
static const rec *find_customer(const eval *e, const uint8_t id[FS_ID_BYTES])
{
    rec key;
    if (e->customers.n == 0)
        return NULL;
    if (e->cust_hash != NULL) {
        for (size_t h = id_hash(id) & e->cust_mask; e->cust_hash[h] != 0;
             h = (h + 1) & e->cust_mask) {
            const rec *c = &e->customers.v[e->cust_hash[h] - 1];
            if (memcmp(c->id, id, FS_ID_BYTES) == 0)
                return c;
        }
        return NULL;
    }
    memcpy(key.id, id, FS_ID_BYTES);
    return bsearch(&key, e->customers.v, e->customers.n, sizeof key, cmp_id);
}

static int cmp_refused(const void *a, const void *b)
{
    const refused_row *x = a, *y = b;
    if (x->table != y->table)
        return x->table < y->table ? -1 : 1;
    return memcmp(x->row, y->row, FS_ID_BYTES);
}

/* 1 if the server refused the change that placed row of table. */
static int is_refused(const eval *e, unsigned table, const uint8_t row[FS_ID_BYTES])
{
    refused_row key;
    if (e->nrefused == 0)
        return 0;
    key.table = table;
    memcpy(key.row, row, FS_ID_BYTES);
    return bsearch(&key, e->refused, e->nrefused, sizeof key, cmp_refused) != NULL;
}

/* The column that places a row with its owner: a customer's owner, else
 * the customer or plan it follows, else its rep (the scope's deciders). */
static int placing_column(const fs_table *t)
{
    if (strcmp(t->name, "customer") == 0)
        return fs_schema_column_index(t, "owner");
    int c = fs_schema_column_index(t, "customer");
    if (c < 0)
        c = fs_schema_column_index(t, "plan");
    if (c < 0)
        c = fs_schema_column_index(t, "rep");
    return c;
}

static int note_refusal(const fs_refusal *f, void *ctx)
{
    eval *e = ctx;
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    if (f->table >= nt || (int)f->column != placing_column(&tables[f->table]))
        return 0;
    if (e->nrefused == e->refused_cap) {
        size_t cap = e->refused_cap ? 2 * e->refused_cap : 16;
        refused_row *more = realloc(e->refused, cap * sizeof *more);
        if (more == NULL)
            return FS_ENOMEM;
        e->refused = more;
        e->refused_cap = cap;
    }
    e->refused[e->nrefused].table = f->table;
    memcpy(e->refused[e->nrefused].row, f->row, FS_ID_BYTES);
    e->nrefused++;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* name's place in e->reps_sorted, or -1 when it is none of the named reps. */
static int rep_index(const eval *e, const char *name)
{
    const char(*hit)[65] =
        e->nreps > 0 ? bsearch(name, e->reps_sorted, e->nreps, sizeof *e->reps_sorted, cmp_name)
                     : NULL;
    return hit != NULL ? (int)(hit - e->reps_sorted) : -1;
}

/* Loads table's rows as recs: start/done/who/flag from the named columns
 * (any may be NULL), filtered by filter_col == filter_val; rows whose
 * placing the server refused are left out, and for fs_rules_eval_customer
 * every row of another customer. */
static int load_cols(eval *e, const char *table, const char *filter_col, const char *filter_val,
                     const char *who, const char *start, const char *done, const char *done_if_col,
                     const char *done_if_val, const char *skip_col, const char *skip_val,
                     const char *flag, const char *flag2, recs *out)
{
    fs_rows *it = NULL;
    fs_value eq = fs_text(filter_val);
    memset(out, 0, sizeof *out);
    int tix = fs_schema_table_index(table);
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    int by_customer = e->only_customer != NULL && filter_col == NULL && tix >= 0 &&
                      fs_schema_column_index(&tables[tix], "customer") > 0;
    if (by_customer) {
        filter_col = "customer";
        eq = fs_blob(e->only_customer, FS_ID_BYTES);
    }
    /* whether rows have a customer: asked once, not of each row */
    int has_customer_col = tix >= 0 && fs_schema_column_index(&tables[tix], "customer") >= 0;
    /* asked once, not of each row */
    int who_customer = who != NULL && strcmp(who, WHO_CUSTOMER) == 0;
    int customer_table = strcmp(table, "customer") == 0;
    /* only the columns asked for are read (a visit's notes are not) */
    const char *cols[8];
    size_t ncols = 0;
    enum { W_CUSTOMER, W_WHO, W_START, W_DONE, W_DONE_IF, W_SKIP, W_FLAG, W_FLAG2, W_N };
    const char *want[W_N] = {has_customer_col ? "customer" : NULL,
                             who != NULL && strcmp(who, WHO_CUSTOMER) != 0 ? who : NULL,
                             start, done, done_if_col, skip_col, flag, flag2};
    size_t at[W_N]; /* each wanted column's place among cols (fs_rows_get_nth) */
    for (size_t k = 0; k < W_N; k++) {
        size_t j = 0;
        while (want[k] != NULL && j < ncols && strcmp(cols[j], want[k]) != 0)
            j++;
        if (want[k] != NULL && j == ncols)
            cols[ncols++] = want[k];
        at[k] = j;
    }
    int rc = fs_rows_open_only(&it, e->r, table, filter_col, filter_col ? &eq : NULL, NULL, cols,
                               ncols);
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        rc = 0;
        const uint8_t *rid = fs_rows_id(it);
        if (tix >= 0 && is_refused(e, (unsigned)tix, rid))
            continue;
        if (e->only_customer != NULL && customer_table &&
            memcmp(rid, e->only_customer, FS_ID_BYTES) != 0)
            continue;
        rec *x = recs_grow(out);
        if (x == NULL) {
            rc = FS_ENOMEM;
            break;
        }
        memcpy(x->id, rid, FS_ID_BYTES);
        fs_value v;
        x->start = x->done = -1;
        x->done_ok = 1;
        if (has_customer_col && fs_rows_get_nth(it, at[W_CUSTOMER], &v) == 0 &&
            v.type == FS_BLOB && v.n == FS_ID_BYTES) {
            memcpy(x->customer, v.p, FS_ID_BYTES);
            x->has_customer = 1;
        }
        x->rep_ix = -1;
        x->cust_ix = -1;
        if (who_customer) {
            const rec *c = x->has_customer ? find_customer(e, x->customer) : NULL;
            if (c != NULL) {
                memcpy(x->who, c->who, sizeof x->who);
                x->rep_ix = c->rep_ix; /* set for the customers by run_setup */
                x->cust_ix = (int)(c - e->customers.v);
            }
        } else if (who != NULL && (rc = fs_rows_get_nth(it, at[W_WHO], &v)) == 0) {
            value_name(&v, x->who);
            if (e->named_only)
                x->rep_ix = rep_index(e, x->who);
        }
        if (rc == 0 && e->named_only && who != NULL && x->rep_ix < 0)
            continue; /* not counted: the next row reuses its place */
        if (rc == 0 && start != NULL && (rc = fs_rows_get_nth(it, at[W_START], &v)) == 0)
            x->start = value_civil(&v);
        if (rc == 0 && done != NULL && (rc = fs_rows_get_nth(it, at[W_DONE], &v)) == 0)
            x->done = value_civil(&v);
        if (rc == 0 && done_if_col != NULL &&
            (rc = fs_rows_get_nth(it, at[W_DONE_IF], &v)) == 0)
            x->done_ok = text_is(&v, done_if_val);
        if (rc == 0 && skip_col != NULL && (rc = fs_rows_get_nth(it, at[W_SKIP], &v)) == 0)
            x->skip = text_is(&v, skip_val);
        if (rc == 0 && flag != NULL && (rc = fs_rows_get_nth(it, at[W_FLAG], &v)) == 0)
            x->flag = v.type == FS_INT ? v.i : v.type != FS_NULL; /* an id: set */
        if (rc == 0 && flag2 != NULL && (rc = fs_rows_get_nth(it, at[W_FLAG2], &v)) == 0)
            x->flag2 = v.type == FS_INT ? v.i : v.type != FS_NULL;
        if (rc == 0)
            out->n++;
    }
    fs_rows_close(it);
    return rc < 0 ? rc : 0;
}

static int load(eval *e, const char *table, const char *filter_col, const char *filter_val,
                const char *who, const char *start, const char *done, const char *done_if_col,
                const char *done_if_val, const char *skip_col, const char *skip_val,
                const char *flag, recs *out)
{
    return load_cols(e, table, filter_col, filter_val, who, start, done, done_if_col, done_if_val,
                     skip_col, skip_val, flag, NULL, out);
}

static void recs_free(recs *r)
{
    free(r->v);
    memset(r, 0, sizeof *r);
}

static int same_key(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* load(), remembered for the rest of the evaluation: *out points into the
 * cache (not to be freed by the caller). */
static int load_cached(eval *e, const char *table, const char *filter_col, const char *filter_val,
                       const char *who, const char *start, const char *done,
                       const char *done_if_col, const char *done_if_val, const char *skip_col,
                       const char *skip_val, const char *flag, const char *flag2, recs **out)
{
    const char *key[12] = {table,       filter_col,  filter_val, who,      start, done,
                           done_if_col, done_if_val, skip_col,   skip_val, flag,  flag2};
    for (int i = 0; i < e->ncache; i++) {
        int k = 0;
        while (k < 12 && same_key(e->cache[i].key[k], key[k]))
            k++;
        if (k == 12) {
            *out = &e->cache[i].r;
            return 0;
        }
    }
    recs tmp;
    int rc = load_cols(e, table, filter_col, filter_val, who, start, done, done_if_col,
                       done_if_val, skip_col, skip_val, flag, flag2, &tmp);
    if (rc != 0)
        return rc;
    if (e->ncache == (int)(sizeof e->cache / sizeof e->cache[0])) {
        /* never evicted (callers keep pointers into it): more rules than
         * slots is a programming error, reported rather than risked */
        recs_free(&tmp);
        return FS_ETOOBIG;
    }
    memcpy(e->cache[e->ncache].key, key, sizeof key);
    e->cache[e->ncache].r = tmp;
    *out = &e->cache[e->ncache++].r;
    return 0;
}

/* The deadlines by rule rl of the records of rs (a cache entry's), worked
 * out once per evaluation; NULL when there is no room (the caller works
 * each out itself). */
static const int64_t *cached_deadlines(eval *e, const recs *rs, const fs_rule *rl)
{
    for (int i = 0; i < e->ncache; i++) {
        if (&e->cache[i].r != rs)
            continue;
        size_t k = 0;
        while (k < 4 && e->cache[i].dl_rule[k] != NULL && e->cache[i].dl_rule[k] != rl)
            k++;
        if (k == 4)
            return NULL;
        if (e->cache[i].dl_rule[k] == rl)
            return e->cache[i].dl[k];
        int64_t *dl = malloc((rs->n ? rs->n : 1) * sizeof *dl);
        if (dl == NULL)
            return NULL;
        for (size_t j = 0; j < rs->n; j++)
            dl[j] = rs->v[j].start < 0 ? -1 : deadline_of(rl, e->cal, rs->v[j].start);
        e->cache[i].dl_rule[k] = rl;
        e->cache[i].dl[k] = dl;
        return dl;
    }
    return NULL;
}

static int emit(eval *e, const fs_rule *rl, const char *who, int rep_ix, const uint8_t *row,
                int64_t start, int64_t deadline, int64_t done, int64_t period)
{
    /* rep_ix: who's place among the named reps when the caller knows it */
    e->emit_rep_ix = -1;
    if (e->only_reps) {
        if (rep_ix < 0 && (rep_ix = rep_index(e, who)) < 0)
            return 0;
        e->emit_rep_ix = rep_ix;
    }
    if (e->only_customer != NULL) { /* frozen at the hand-over (e->to) */
        if (deadline >= e->to)
            return 0;
        if (done > e->to)
            done = -1;
    }
    fs_finding f;
    memset(&f, 0, sizeof f);
    f.rule = rl;
    size_t n = strlen(who);
    n = n < sizeof f.who - 1 ? n : sizeof f.who - 1;
    memcpy(f.who, who, n); /* NUL-terminated by the memset */
    if (row != NULL) {
        memcpy(f.row, row, FS_ID_BYTES);
        f.has_row = 1;
    }
    f.start = start;
    f.deadline = deadline;
    f.done = done;
    f.period = period;
    f.status = status_of(deadline, done, e->now, rl->soon_minutes);
    return e->cb(&f, e->ctx);
}

/* A record belongs to the period when its deadline falls in it, when it
 * was done in it, or when it is still not done and its deadline came
 * before the period (carried over). */
static int in_period(const eval *e, int64_t deadline, int64_t done)
{
    return (deadline >= e->from && deadline < e->to) || (done >= e->from && done < e->to) ||
           (done < 0 && deadline < e->from);
}

/* 1 if customer was handed to another rep after civil minute t: a
 * deadline at t is then a charge of the previous holder, not a finding of
 * the records. e->handovers is sorted by customer, then time. */
static int handed_after(const eval *e, const uint8_t customer[FS_ID_BYTES], int64_t t)
{
    size_t lo = 0, hi = e->handovers.n;
    while (lo < hi) { /* the first hand-over past the customer's run */
        size_t mid = lo + (hi - lo) / 2;
        if (memcmp(e->handovers.v[mid].customer, customer, FS_ID_BYTES) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && memcmp(e->handovers.v[lo - 1].customer, customer, FS_ID_BYTES) == 0 &&
           e->handovers.v[lo - 1].start > t;
}

/* 1 if rule rl's finding about a record of customer with this deadline is
 * held by a charge instead (the customer changed hands after it). */
static int charged_elsewhere(const eval *e, const fs_rule *rl, const rec *x, int64_t deadline)
{
    return !e->todo && e->handovers.n > 0 && rl->who != NULL && strcmp(rl->who, WHO_CUSTOMER) == 0 &&
           x->has_customer && handed_after(e, x->customer, deadline);
}

/* 1 if any record of rule rl may be charged_elsewhere (asked once per
 * rule, not per record: there are hand-overs, and the rule follows the
 * customer). */
static int may_charge(const eval *e, const fs_rule *rl)
{
    return !e->todo && e->handovers.n > 0 && rl->who != NULL && strcmp(rl->who, WHO_CUSTOMER) == 0;
}

/* A record's finding by rl in each window it belongs to (in_period): the
 * one of e->from .. e->to, or each of e->win in turn. */
static int emit_windows(eval *e, const fs_rule *rl, const rec *x, int64_t deadline, int64_t done)
{
    if (e->win == NULL)
        return in_period(e, deadline, done)
                   ? emit(e, rl, x->who, x->rep_ix, x->id, x->start, deadline, done, -1)
                   : 0;
    int rc = 0;
    for (size_t w = 0; rc == 0 && w < e->nwin; w++) {
        e->from = e->win[w].from;
        e->to = e->win[w].to;
        e->ctx = e->win[w].ctx;
        if (in_period(e, deadline, done))
            rc = emit(e, rl, x->who, x->rep_ix, x->id, x->start, deadline, done, -1);
    }
    return rc;
}

/* The follow-up rule's flag: the customer replied (nothing to follow up). */
#define FOLLOWUP_FLAG "customer_replied"

/* The record rule whose rows a follow-up rule fu reads too, or NULL: of
 * the same table and rep, unfiltered, done when fu's clock starts and by
 * the same condition (commitment_due's done_at is commitment_followup's
 * start). The two share one pass over the table (load_cached), the
 * follow-up's start being the record rule's done, its flag the second. */
static const fs_rule *followup_partner(const fs_rule *fu)
{
    size_t n;
    const fs_rule *rules = fs_rules(&n);
    if (fu->kind != FS_RULE_FOLLOWUP || fu->filter_col != NULL || fu->start == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const fs_rule *rl = &rules[i];
        if (rl->kind == FS_RULE_RECORD && rl->filter_col == NULL && rl->done != NULL &&
            strcmp(rl->table, fu->table) == 0 && same_key(rl->who, fu->who) &&
            strcmp(rl->done, fu->start) == 0 && same_key(rl->done_if_col, "status") &&
            same_key(rl->done_if_val, FS_STATUS_DONE))
            return rl;
    }
    return NULL;
}

/* The second flag column eval_record reads for record rule rl: the
 * follow-up's, when a follow-up rule shares rl's pass (followup_partner). */
static const char *record_flag2(const fs_rule *rl)
{
    size_t n;
    const fs_rule *rules = fs_rules(&n);
    for (size_t i = 0; i < n; i++)
        if (followup_partner(&rules[i]) == rl)
            return FOLLOWUP_FLAG;
    return NULL;
}

static int eval_record(eval *e, const fs_rule *rl)
{
    recs *rs = NULL;
    int rc = load_cached(e, rl->table, rl->filter_col, rl->filter_val, rl->who, rl->start, rl->done,
                         rl->done_if_col, rl->done_if_val, rl->skip_col, rl->skip_val,
                         rl->closed_col, record_flag2(rl), &rs);
    int charges = may_charge(e, rl);
    const int64_t *dls = rc == 0 ? cached_deadlines(e, rs, rl) : NULL;
    for (size_t i = 0; rc == 0 && i < rs->n; i++) {
        const rec *x = &rs->v[i];
        if (x->skip || x->start < 0 || x->who[0] == '\0')
            continue;
        int64_t deadline = dls != NULL ? dls[i] : deadline_of(rl, e->cal, x->start);
        int64_t done = x->done_ok ? x->done : -1;
        if (done < 0 && x->flag) /* closed, never done: missed (fs_rule.closed_col) */
            done = x->start;
        if (charges && charged_elsewhere(e, rl, x, deadline))
            continue;
        if (done >= 0 && rl->needs_attachment != NULL) {
            /* done only with the customer's signed document attached */
            int has = fs_attach_has_kind(e->r, x->id, rl->needs_attachment);
            if (has < 0) {
                rc = has;
                break;
            }
            if (!has)
                done = -1;
        }
        rc = emit_windows(e, rl, x, deadline, done);
    }
    return rc;
}

/* The earliest visit to customer at or after `after` and before `before`
 * (civil), or -1. e->visits is sorted by customer, then time. */
static int64_t first_visit(const eval *e, const uint8_t customer[FS_ID_BYTES], int64_t after,
                           int64_t before)
{
    size_t lo = 0, hi = e->visits.n;
    while (lo < hi) { /* the first visit of customer at or after `after` */
        size_t mid = lo + (hi - lo) / 2;
        const rec *v = &e->visits.v[mid];
        int c = memcmp(v->customer, customer, FS_ID_BYTES);
        if (c < 0 || (c == 0 && v->start < after))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < e->visits.n) {
        const rec *v = &e->visits.v[lo];
        if (memcmp(v->customer, customer, FS_ID_BYTES) == 0 && v->start >= after &&
            v->start < before)
            return v->start;
    }
    return -1;
}

static int eval_followup(eval *e, const fs_rule *rl)
{
    recs *rs = NULL;
    const fs_rule *rd = followup_partner(rl);
    int rc = rd != NULL ? load_cached(e, rd->table, rd->filter_col, rd->filter_val, rd->who,
                                      rd->start, rd->done, rd->done_if_col, rd->done_if_val,
                                      rd->skip_col, rd->skip_val, rd->closed_col, FOLLOWUP_FLAG, &rs)
                        : load_cached(e, rl->table, NULL, NULL, rl->who, rl->start, NULL, "status",
                                      FS_STATUS_DONE, NULL, NULL, FOLLOWUP_FLAG, NULL, &rs);
    for (size_t i = 0; rc == 0 && i < rs->n; i++) {
        rec x = rs->v[i];
        if (rd != NULL) { /* the record rule's row: its done is our start */
            x.start = x.done;
            x.flag = x.flag2;
        }
        if (!x.done_ok || x.flag || x.start < 0 || x.who[0] == '\0' || !x.has_customer)
            continue; /* open, replied, or never done: nothing to follow up */
        int64_t deadline = deadline_of(rl, e->cal, x.start);
        int64_t done = first_visit(e, x.customer, x.start + 1, INT64_MAX);
        if (charged_elsewhere(e, rl, &x, deadline))
            continue;
        rc = emit_windows(e, rl, &x, deadline, done);
    }
    return rc;
}

static int eval_monthly(eval *e, const fs_rule *rl)
{
    int rc = 0;
    int64_t y;
    int m, d;
    int64_t first = e->from;
    if (e->only_customer != NULL) /* a hand-over freezes the year before it */
        first = e->to - 366 * (int64_t)FS_MIN_PER_DAY;
    fs_civil_from_days(fs_civil_day(first), &y, &m, &d);
    int64_t month = fs_days_from_civil(y, m, 1);
    for (; rc == 0 && month * FS_MIN_PER_DAY < e->to && month * FS_MIN_PER_DAY <= e->now;) {
        int64_t ny = m == 12 ? y + 1 : y;
        int nm = m == 12 ? 1 : m + 1;
        int64_t next = fs_days_from_civil(ny, nm, 1);
        for (size_t i = 0; rc == 0 && i < e->customers.n; i++) {
            const rec *c = &e->customers.v[i];
            if (!c->flag || c->who[0] == '\0' ||
                (!e->todo && handed_after(e, c->id, next * FS_MIN_PER_DAY)))
                continue;
            int64_t done = first_visit(e, c->id, month * FS_MIN_PER_DAY, next * FS_MIN_PER_DAY);
            if ((done < 0 && next * FS_MIN_PER_DAY < c->start) || e->to <= c->start)
                continue; /* the month, or the period judged, ended before it was known */
            rc = emit(e, rl, c->who, c->rep_ix, c->id, month * FS_MIN_PER_DAY, next * FS_MIN_PER_DAY, done,
                      month);
        }
        y = ny;
        m = nm;
        month = next;
    }
    return rc;
}

/* The named reps' records of rs by day from `first` to `last` and rep
 * (its place among the named): the first of rs's order for each, as a
 * search of rs for each day and rep finds it; NULL when the reps are not
 * named (no places) or the days are too many (the caller searches). */
static const rec **daily_index(const eval *e, const recs *rs, int64_t first, int64_t last)
{
    if (!e->named_only || e->nreps == 0 || last < first || last - first >= 1000)
        return NULL;
    size_t ndays = (size_t)(last - first + 1);
    const rec **at = calloc(ndays * e->nreps, sizeof *at);
    for (size_t i = 0; at != NULL && i < rs->n; i++) {
        const rec *x = &rs->v[i];
        int64_t day = fs_civil_day(x->start);
        if (x->rep_ix < 0 || day < first || day > last)
            continue;
        const rec **slot = &at[(size_t)(day - first) * e->nreps + (size_t)x->rep_ix];
        if (*slot == NULL)
            *slot = x;
    }
    return at;
}

static int eval_daily(eval *e, const fs_rule *rl)
{
    recs *cached = NULL;
    int rc = load_cached(e, rl->table, rl->filter_col, rl->filter_val, rl->who, rl->start, rl->done,
                         NULL, NULL, NULL, NULL, NULL, NULL, &cached);
    const recs rs = rc == 0 ? *cached : (recs){0};
    int64_t last = fs_civil_day(e->to - 1), today = fs_civil_day(e->now);
    int64_t first = fs_civil_day(e->from);
    const rec **at = rc == 0 ? daily_index(e, &rs, first, last < today ? last : today) : NULL;
    for (int64_t day = first; rc == 0 && day <= last && day <= today; day++) {
        if (!fs_calendar_is_working(e->cal, day))
            continue;
        for (size_t k = 0; rc == 0 && k < e->nreps; k++) {
            const rec *found = NULL;
            int ix = at != NULL ? rep_index(e, e->reps[k]) : -1;
            if (ix >= 0)
                found = at[(size_t)(day - first) * e->nreps + (size_t)ix];
            else
                for (size_t i = 0; i < rs.n && found == NULL; i++)
                    if (fs_civil_day(rs.v[i].start) == day && strcmp(rs.v[i].who, e->reps[k]) == 0)
                        found = &rs.v[i];
            int64_t start = day * FS_MIN_PER_DAY, deadline = deadline_of(rl, e->cal, start);
            if (found == NULL && e->since != NULL && deadline < e->since[k])
                continue; /* due before the rep joined */
            rc = emit(e, rl, e->reps[k], ix, found ? found->id : NULL, start, deadline,
                      found ? found->done : -1, day);
        }
    }
    free(at);
    return rc;
}

static int eval_weekly(eval *e, const fs_rule *rl)
{
    recs *cached = NULL;
    int rc = load_cached(e, rl->table, NULL, NULL, rl->who, rl->start, NULL, NULL, NULL, NULL, NULL,
                         NULL, NULL, &cached);
    const recs rs = rc == 0 ? *cached : (recs){0};
    int64_t first = fs_civil_day(fs_iso_week_start(e->from)); /* its week's Monday */
    for (int64_t week = first;
         rc == 0 && week * FS_MIN_PER_DAY < e->to && week * FS_MIN_PER_DAY <= e->now; week += 7) {
        int64_t lo = week * FS_MIN_PER_DAY, hi = (week + 7) * FS_MIN_PER_DAY;
        int64_t deadline =
            fs_calendar_close(e->cal, week + 7, -1); /* the week's last working day */
        for (size_t k = 0; rc == 0 && k < e->nreps; k++) {
            const rec *found = NULL;
            for (size_t i = 0; i < rs.n; i++)
                if (rs.v[i].start >= lo && rs.v[i].start < hi &&
                    strcmp(rs.v[i].who, e->reps[k]) == 0 &&
                    (found == NULL || rs.v[i].start < found->start))
                    found = &rs.v[i];
            if (found == NULL && e->since != NULL && deadline < e->since[k])
                continue; /* due before the rep joined */
            rc = emit(e, rl, e->reps[k], -1, found ? found->id : NULL, lo, deadline,
                      found ? found->start : -1, week);
        }
    }
    return rc;
}

/* Spot-checks in the period: accurate ones are on time, others missed; the
 * share is compared with the threshold by whoever reports it. */
static int eval_ratio(eval *e, const fs_rule *rl)
{
    recs *rs = NULL;
    int rc = load_cached(e, rl->table, NULL, NULL, rl->who, rl->start, NULL, NULL, NULL, NULL, NULL,
                         rl->done, NULL, &rs);
    for (size_t i = 0; rc == 0 && i < rs->n; i++) {
        const rec *x = &rs->v[i];
        if (x->start < e->from || x->start >= e->to || x->who[0] == '\0')
            continue;
        /* deadline = start: an accurate record counts as done in time */
        rc = emit(e, rl, x->who, x->rep_ix, x->id, x->start, x->start, x->flag ? x->start : x->start + 1, -1);
    }
    return rc;
}

/* The quarter "YYYY-Qn" a civil day lies in, and its first day. */
static int64_t quarter_start(int64_t day, char name[16])
{
    int64_t y;
    int m, d;
    fs_civil_from_days(day, &y, &m, &d);
    int q = (m - 1) / 3;
    snprintf(name, 16, "%04d-Q%c", (int)(y % 10000), (char)('1' + q));
    return fs_days_from_civil(y, q * 3 + 1, 1);
}

/* Each quarter of the period up to now, each key account: a record of the
 * rule's table naming the quarter (its `quarter` column) is due by the
 * quarter's end; done at its start (the day surveyed). */
static int eval_quarterly(eval *e, const fs_rule *rl)
{
    recs rs;
    int64_t first = e->from;
    if (e->only_customer != NULL) /* a hand-over freezes the year before it */
        first = e->to - 366 * (int64_t)FS_MIN_PER_DAY;
    char name[16];
    int64_t q = quarter_start(fs_civil_day(first), name);
    int rc = 0;
    while (rc == 0 && q * FS_MIN_PER_DAY < e->to && q * FS_MIN_PER_DAY <= e->now) {
        char next_name[16];
        int64_t next = quarter_start(q + 95, next_name); /* the next quarter's first day */
        rc = load(e, rl->table, "quarter", name, rl->who, rl->start, NULL, NULL, NULL, NULL, NULL,
                  NULL, &rs);
        for (size_t i = 0; rc == 0 && i < e->customers.n; i++) {
            const rec *c = &e->customers.v[i];
            if (!c->flag || c->who[0] == '\0' ||
                (!e->todo && handed_after(e, c->id, next * FS_MIN_PER_DAY)))
                continue;
            int64_t done = -1;
            const uint8_t *row = NULL;
            for (size_t k = 0; k < rs.n; k++)
                if (rs.v[k].has_customer && memcmp(rs.v[k].customer, c->id, FS_ID_BYTES) == 0 &&
                    rs.v[k].start >= 0 && (done < 0 || rs.v[k].start < done)) {
                    done = rs.v[k].start;
                    row = rs.v[k].id;
                }
            (void)row; /* the finding is about the customer, as the monthly rule's */
            if ((done < 0 && next * FS_MIN_PER_DAY < c->start) || e->to <= c->start)
                continue; /* the quarter, or the period judged, ended before it was known */
            rc = emit(e, rl, c->who, c->rep_ix, c->id, q * FS_MIN_PER_DAY, next * FS_MIN_PER_DAY, done,
                      q);
        }
        recs_free(&rs);
        q = next;
        memcpy(name, next_name, sizeof name);
    }
    return rc;
}

/* Each record judged as FS_RULE_RECORD, but done only when every one of
 * the rule's `checked` flags is 1 as well. */
static int eval_checked(eval *e, const fs_rule *rl)
{
    recs base, flags[2];
    memset(flags, 0, sizeof flags);
    int rc = load(e, rl->table, NULL, NULL, rl->who, rl->start, rl->done, rl->done_if_col,
                  rl->done_if_val, rl->skip_col, rl->skip_val, NULL, &base);
    for (int k = 0; rc == 0 && k < 2 && rl->checked[k] != NULL; k++)
        rc = load(e, rl->table, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                  rl->checked[k], &flags[k]);
    for (size_t i = 0; rc == 0 && i < base.n; i++) {
        const rec *x = &base.v[i];
        if (x->skip || !x->done_ok || x->start < 0 || x->who[0] == '\0')
            continue; /* a draft: not signed, nothing to judge */
        int ok = 1;
        for (int k = 0; k < 2 && rl->checked[k] != NULL; k++) {
            int seen = 0;
            for (size_t j = 0; j < flags[k].n && !seen; j++)
                seen = memcmp(flags[k].v[j].id, x->id, FS_ID_BYTES) == 0 && flags[k].v[j].flag;
            ok &= seen;
        }
        int64_t deadline = deadline_of(rl, e->cal, x->start);
        int64_t done = ok && x->done >= 0 ? x->done : -1;
        if (charged_elsewhere(e, rl, x, deadline))
            continue;
        if (in_period(e, deadline, done))
            rc = emit(e, rl, x->who, x->rep_ix, x->id, x->start, deadline, done, -1);
    }
    recs_free(&base);
    recs_free(&flags[0]);
    recs_free(&flags[1]);
    return rc;
}

/* The rule of id, or NULL. */
static const fs_rule *rule_by_id(const fs_value *id)
{
    size_t n;
    const fs_rule *rules = fs_rules(&n);
    for (size_t i = 0; i < n; i++)
        if (text_is(id, rules[i].id))
            return &rules[i];
    return NULL;
}

/* Every charge row is a finding of its rep, as it was frozen at the
 * hand-over (a charge of an unknown rule, or without a deadline, is not). */
static int eval_charges(eval *e)
{
    fs_rows *it = NULL;
    int rc = fs_rows_open(&it, e->r, "charge", NULL, NULL, NULL);
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        fs_value v;
        char who[65];
        const fs_rule *rl = NULL;
        int64_t start = -1, deadline = -1, done = -1, period = -1;
        uint8_t row[FS_ID_BYTES];
        int has_row = 0;
        rc = fs_rows_get(it, "rule", &v);
        if (rc == 0)
            rl = rule_by_id(&v);
        if (rc == 0 && (rc = fs_rows_get(it, "rep", &v)) == 0)
            value_name(&v, who);
        if (rc == 0 && (rc = fs_rows_get(it, "record_id", &v)) == 0 && v.type == FS_BLOB &&
            v.n == FS_ID_BYTES) {
            memcpy(row, v.p, FS_ID_BYTES);
            has_row = 1;
        }
        if (rc == 0 && (rc = fs_rows_get(it, "start", &v)) == 0)
            start = value_civil(&v);
        if (rc == 0 && (rc = fs_rows_get(it, "deadline", &v)) == 0)
            deadline = value_civil(&v);
        if (rc == 0 && (rc = fs_rows_get(it, "done", &v)) == 0)
            done = value_civil(&v);
        if (rc == 0 && (rc = fs_rows_get(it, "period", &v)) == 0 && (period = value_civil(&v)) >= 0)
            period /= FS_MIN_PER_DAY;
        if (rc != 0 || rl == NULL || rl->kind == FS_RULE_UNTRACKED || deadline < 0 ||
            who[0] == '\0' || is_refused(e, (unsigned)fs_schema_table_index("charge"), fs_rows_id(it)))
            continue;
        /* a month is judged in the periods it overlaps (eval_monthly), a
         * record as eval_record judges it */
        int judged = period >= 0 ? period * FS_MIN_PER_DAY < e->to && deadline > e->from &&
                                       period * FS_MIN_PER_DAY <= e->now
                                 : in_period(e, deadline, done);
        if (judged)
            rc = emit(e, rl, who, -1, has_row ? row : NULL, start, deadline, done, period);
    }
    fs_rows_close(it);
    return rc < 0 ? rc : 0;
}

/* A record's place in sort_by_customer: its customer as two big-endian
 * numbers (their order is memcmp's), its start, its place before. */
typedef struct sort_key {
    uint64_t hi, lo;
    int64_t start;
    size_t i;
} sort_key;

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
        v = v << 8 | p[k];
    return v;
}

static int cmp_sort_key(const void *a, const void *b)
{
    const sort_key *x = a, *y = b;
    if (x->hi != y->hi)
        return x->hi < y->hi ? -1 : 1;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* rs by customer, then start (cmp_customer_start's order; records equal
 * in both keep their order): small keys are sorted, as the records are
 * large to move, then the records put in their order once. When every
 * record's customer is one of e->customers (cust_ix, the place in their
 * order by id), the records are first counted into their customers' runs
 * (in order, so stable) and only each run is sorted by start. */
static int sort_by_customer(const eval *e, recs *rs)
{
    if (rs->n < 2)
        return 0;
    size_t nc = e->customers.n;
    int by_place = nc > 0;
    for (size_t i = 0; by_place && i < rs->n; i++)
        by_place = rs->v[i].cust_ix >= 0 && (size_t)rs->v[i].cust_ix < nc;
    sort_key *k = malloc(rs->n * sizeof *k);
    rec *v = malloc(rs->n * sizeof *v);
    size_t *end = by_place ? calloc(nc + 1, sizeof *end) : NULL;
    if (k == NULL || v == NULL || (by_place && end == NULL)) {
        free(k);
        free(v);
        free(end);
        return FS_ENOMEM;
    }
    if (by_place) {
        /* end[c + 1]: the records of customers up to c; then each run's
         * place is handed out in the records' order */
        for (size_t i = 0; i < rs->n; i++)
            end[rs->v[i].cust_ix + 1]++;
        for (size_t c = 1; c <= nc; c++)
            end[c] += end[c - 1];
        for (size_t i = 0; i < rs->n; i++) {
            sort_key *x = &k[end[rs->v[i].cust_ix]++];
            x->hi = x->lo = 0; /* one customer per run */
            x->start = rs->v[i].start;
            x->i = i;
        }
        /* end[c]: now the end of customer c's run, its start end[c - 1] */
        for (size_t c = 0, lo = 0; c < nc; lo = end[c++])
            if (end[c] - lo > 1)
                qsort(k + lo, end[c] - lo, sizeof *k, cmp_sort_key);
        free(end);
    } else {
        for (size_t i = 0; i < rs->n; i++) {
            k[i].hi = be64(rs->v[i].customer);
            k[i].lo = be64(rs->v[i].customer + 8);
            k[i].start = rs->v[i].start;
            k[i].i = i;
        }
        qsort(k, rs->n, sizeof *k, cmp_sort_key);
    }
    for (size_t i = 0; i < rs->n; i++)
        v[i] = rs->v[k[i].i];
    free(k);
    free(rs->v);
    rs->v = v;
    rs->cap = rs->n;
    return 0;
}

static int cmp_handover(const void *a, const void *b)
{
    return cmp_customer_start(a, b);
}

/* The hand-overs (of e->only_customer, when set) into e->handovers: the
 * customer, and `at` (ms, the owner change's clock) as a civil minute of
 * the evaluation's calendar in start. Sorted by customer, then time. */
static int load_handovers(eval *e)
{
    fs_rows *it = NULL;
    recs *out = &e->handovers;
    fs_value eq = fs_blob(e->only_customer, FS_ID_BYTES);
    int rc = fs_rows_open(&it, e->r, "handover", e->only_customer ? "customer" : NULL,
                          e->only_customer ? &eq : NULL, NULL);
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        fs_value c, at;
        int64_t civil;
        rc = fs_rows_get(it, "customer", &c);
        if (rc == 0)
            rc = fs_rows_get(it, "at", &at);
        if (rc != 0 || c.type != FS_BLOB || c.n != FS_ID_BYTES || at.type != FS_INT ||
            fs_calendar_now(e->cal, at.i, &civil) != 0)
            continue;
        rec *x = recs_grow(out);
        if (x == NULL) {
            rc = FS_ENOMEM;
            break;
        }
        out->n++;
        memcpy(x->id, fs_rows_id(it), FS_ID_BYTES);
        memcpy(x->customer, c.p, FS_ID_BYTES);
        x->has_customer = 1;
        x->start = civil;
    }
    fs_rows_close(it);
    if (rc >= 0 && out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, cmp_handover);
    return rc < 0 ? rc : 0;
}

static int add_rep(eval *e, const char *name)
{
    if (name[0] == '\0')
        return 0;
    for (size_t i = 0; i < e->nreps; i++)
        if (strcmp(e->reps[i], name) == 0)
            return 0;
    char(*more)[65] = realloc(e->reps, (e->nreps + 1) * sizeof *more);
    if (more == NULL)
        return FS_ENOMEM;
    e->reps = more;
    snprintf(e->reps[e->nreps++], 65, "%s", name);
    return 0;
}

/* Every rep named in the records: customers' owners and the rep columns. */
static int collect_reps(eval *e)
{
    static const char *const tables[] = {"daily_report",      "self_check", "weekly_plan",
                                         "marketing_request", "spot_check", "charge"};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < e->customers.n; i++)
        rc = add_rep(e, e->customers.v[i].who);
    for (size_t t = 0; rc == 0 && t < sizeof tables / sizeof tables[0]; t++) {
        recs rs;
        rc = load(e, tables[t], NULL, NULL, "rep", NULL, NULL, NULL, NULL, NULL, NULL, NULL, &rs);
        for (size_t i = 0; rc == 0 && i < rs.n; i++)
            rc = add_rep(e, rs.v[i].who);
        recs_free(&rs);
    }
    return rc;
}

/* When each rep joined: the creation of their roster row (its name's
 * clock, which no later write changes), in civil minutes. A day or week
 * whose deadline came before it expects nothing of them (a rep added this
 * week is not missing the daily plans of the weeks before). INT64_MIN for
 * a rep this replica has no roster row of (a rep's own laptop, a replica
 * before schema 4): judged as before. */
static int load_since(eval *e)
{
    free(e->since);
    e->since = malloc((e->nreps ? e->nreps : 1) * sizeof *e->since);
    if (e->since == NULL)
        return FS_ENOMEM;
    for (size_t k = 0; k < e->nreps; k++)
        e->since[k] = INT64_MIN;
    int tix = fs_schema_table_index("roster");
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    if (tix < 0 || e->nreps == 0)
        return 0;
    int col = fs_schema_column_index(&tables[tix], "name");
    fs_rows *it = NULL;
    int rc = fs_rows_open(&it, e->r, "roster", NULL, NULL, NULL);
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        rc = 0;
        fs_value v;
        if (col <= 0 || fs_rows_get(it, "name", &v) != 0 || v.type != FS_TEXT || v.n >= 65)
            continue;
        for (size_t k = 0; k < e->nreps; k++) {
            if (strlen(e->reps[k]) != v.n || memcmp(e->reps[k], v.p, v.n) != 0)
                continue;
            fs_version ver;
            int exists = 0;
            int64_t civil;
            if (fs_replica_column_version(e->r, (unsigned)tix, fs_rows_id(it), (unsigned)col,
                                          &ver, &exists) == 0 &&
                exists && ver.hlc != 0 &&
                fs_calendar_now(e->cal, (int64_t)(ver.hlc >> 16), &civil) == 0)
                e->since[k] = civil;
        }
    }
    fs_rows_close(it);
    return rc < 0 ? rc : 0;
}

/* Runs the rules over e (set up by the callers below); frees what it
 * loaded. */
/* What every window of an evaluation shares: the refusals, hand-overs,
 * customers, visits and reps, loaded once (run_setup); the rules over
 * e->from .. e->to (run_rules), as often as there are windows; the end
 * (run_free). */
static int run_setup(eval *e, const char *const *reps, size_t nreps)
{
    int rc = fs_refusals(e->r, note_refusal, e);
    if (rc == 0 && e->nrefused > 1)
        qsort(e->refused, e->nrefused, sizeof *e->refused, cmp_refused);
    if (rc == 0)
        rc = load_handovers(e);
    if (rc == 0)
        rc = load(e, "customer", NULL, NULL, "owner", NULL, NULL, NULL, NULL, NULL, NULL,
                  "key_account", &e->customers);
    /* A customer recorded before the device had a user (no owner yet) is
     * the device's user's: a never-enrolled laptop judges its own records. */
    char me[FS_USER_MAX + 1];
    if (rc == 0 && fs_replica_user(e->r, me) == 0)
        for (size_t i = 0; i < e->customers.n; i++)
            if (e->customers.v[i].who[0] == '\0')
                snprintf(e->customers.v[i].who, sizeof e->customers.v[i].who, "%s", me);
    /* The reps named: from here on only their records are loaded (keep_rec) */
    for (size_t i = 0; rc == 0 && reps != NULL && i < nreps; i++)
        rc = add_rep(e, reps[i]);
    e->only_reps = reps != NULL;
    if (rc == 0 && e->only_reps && e->nreps > 0) {
        e->reps_sorted = malloc(e->nreps * sizeof *e->reps_sorted);
        if (e->reps_sorted == NULL)
            return FS_ENOMEM;
        memcpy(e->reps_sorted, e->reps, e->nreps * sizeof *e->reps_sorted);
        qsort(e->reps_sorted, e->nreps, sizeof *e->reps_sorted, cmp_name);
    }
    if (rc == 0) {
        if (e->customers.n > 1)
            qsort(e->customers.v, e->customers.n, sizeof *e->customers.v, cmp_id);
        hash_customers(e);
        for (size_t i = 0; i < e->customers.n; i++)
            e->customers.v[i].rep_ix =
                e->only_reps ? rep_index(e, e->customers.v[i].who) : -1;
        e->named_only = e->only_reps;
        /* the columns of the visit rules: one pass serves them and the index */
        recs *vis = NULL;
        rc = load_cached(e, "visit", NULL, NULL, WHO_CUSTOMER, "time", "recorded_at", NULL, NULL,
                         NULL, NULL, NULL, NULL, &vis);
        if (rc == 0) {
            /* visits without a customer sort first and match none */
            rc = sort_by_customer(e, vis);
            e->visits = *vis; /* borrowed from the cache */
        }
    }
    /* Since when each key account is known (its start, unused else): its
     * first write, or its first visit when one is dated earlier (a rep
     * records a customer with the visits made before). A month or quarter
     * that ended before then expects nothing of it: a customer recorded
     * today has not missed last month's visit. */
    int ctix = fs_schema_table_index("customer");
    for (size_t i = 0; rc == 0 && ctix >= 0 && i < e->customers.n; i++) {
        rec *c = &e->customers.v[i];
        uint64_t hlc = 0;
        int64_t civil;
        if (!c->flag)
            continue;
        rc = fs_row_first_clock(e->r, (unsigned)ctix, c->id, &hlc);
        if (rc == 0 && hlc != 0 && fs_calendar_now(e->cal, (int64_t)(hlc >> 16), &civil) == 0)
            c->start = civil;
        int64_t visited = rc == 0 ? first_visit(e, c->id, INT64_MIN, INT64_MAX) : -1;
        if (visited >= 0 && (c->start < 0 || visited < c->start))
            c->start = visited;
    }
    if (rc == 0 && reps == NULL && e->only_customer == NULL)
        rc = collect_reps(e);
    if (rc == 0)
        rc = load_since(e);
    return rc;
}

/* Rule rl over e->from .. e->to, or over each of e->win (the record and
 * follow-up rules in one pass, the others window by window). */
static int eval_rule(eval *e, const fs_rule *rl)
{
    int rc = 0;
    if (e->win != NULL && rl->kind != FS_RULE_RECORD && rl->kind != FS_RULE_FOLLOWUP) {
        const window *win = e->win;
        size_t nwin = e->nwin;
        e->win = NULL;
        for (size_t w = 0; rc == 0 && w < nwin; w++) {
            e->from = win[w].from;
            e->to = win[w].to;
            e->ctx = win[w].ctx;
            rc = eval_rule(e, rl);
        }
        e->win = win;
        return rc;
    }
    switch (rl->kind) {
    case FS_RULE_RECORD:
        rc = eval_record(e, rl);
        break;
    case FS_RULE_FOLLOWUP:
        rc = eval_followup(e, rl);
        break;
    case FS_RULE_MONTHLY:
        rc = eval_monthly(e, rl);
        break;
    case FS_RULE_DAILY:
        rc = eval_daily(e, rl);
        break;
    case FS_RULE_WEEKLY:
        rc = eval_weekly(e, rl);
        break;
    case FS_RULE_RATIO:
        rc = eval_ratio(e, rl);
        break;
    case FS_RULE_QUARTERLY:
        rc = eval_quarterly(e, rl);
        break;
    case FS_RULE_CHECKED:
        rc = eval_checked(e, rl);
        break;
    case FS_RULE_UNTRACKED:
        break;
    }
    return rc;
}

/* The rules, in their order (a window's findings come rule by rule, as
 * fs_rules_eval delivers them), then the charges. */
static int run_rules(eval *e)
{
    int rc = 0;
    size_t nrules;
    const fs_rule *rules = fs_rules(&nrules);
    for (size_t i = 0; rc == 0 && i < nrules; i++) {
        const fs_rule *rl = &rules[i];
        /* one customer: the rules whose duty follows it */
        if (e->only_customer != NULL && rl->kind != FS_RULE_MONTHLY &&
            rl->kind != FS_RULE_QUARTERLY &&
            (rl->who == NULL || strcmp(rl->who, WHO_CUSTOMER) != 0))
            continue;
        rc = eval_rule(e, rl);
    }
    if (rc == 0 && e->only_customer == NULL && !e->todo) {
        const window *win = e->win;
        for (size_t w = 0; rc == 0 && w < (win != NULL ? e->nwin : 1); w++) {
            if (win != NULL) {
                e->from = win[w].from;
                e->to = win[w].to;
                e->ctx = win[w].ctx;
            }
            rc = eval_charges(e);
        }
    }
    return rc;
}

static void run_free(eval *e)
{
    recs_free(&e->customers);
    free(e->cust_hash);
    recs_free(&e->handovers);
    for (int i = 0; i < e->ncache; i++) {
        recs_free(&e->cache[i].r);
        for (int k = 0; k < 4; k++)
            free(e->cache[i].dl[k]);
    }
    free(e->reps);
    free(e->since);
    free(e->reps_sorted);
    free(e->refused);
}

static int run(eval *e, const char *const *reps, size_t nreps)
{
    int rc = run_setup(e, reps, nreps);
    if (rc == 0)
        rc = run_rules(e);
    run_free(e);
    return rc;
}

int fs_rules_eval(fs_replica *r, const fs_calendar *cal, int64_t now, int64_t from, int64_t to,
                  const char *const *reps, size_t nreps, int (*cb)(const fs_finding *f, void *ctx),
                  void *ctx)
{
    eval e;
    memset(&e, 0, sizeof e);
    e.r = r;
    e.cal = cal;
    e.now = now;
    e.from = from;
    e.to = to;
    e.cb = cb;
    e.ctx = ctx;
    return run(&e, reps, nreps);
}

int fs_rules_eval_todo(fs_replica *r, const fs_calendar *cal, int64_t now, int64_t from, int64_t to,
                       int (*cb)(const fs_finding *f, void *ctx), void *ctx)
{
    eval e;
    memset(&e, 0, sizeof e);
    e.r = r;
    e.cal = cal;
    e.now = now;
    e.from = from;
    e.to = to;
    e.todo = 1;
    e.cb = cb;
    e.ctx = ctx;
    return run(&e, NULL, 0);
}

int fs_rules_eval_customer(fs_replica *r, const fs_calendar *cal,
                           const uint8_t customer[FS_ID_BYTES], int64_t before,
                           int (*cb)(const fs_finding *f, void *ctx), void *ctx)
{
    eval e;
    memset(&e, 0, sizeof e);
    e.r = r;
    e.cal = cal;
    e.now = before;
    /* every deadline before the hand-over (none is carried over from
     * before `from`); months: the year before it (eval_monthly) */
    e.from = INT64_MIN / 4;
    e.to = before;
    e.only_customer = customer;
    e.cb = cb;
    e.ctx = ctx;
    return run(&e, NULL, 0);
}

/* ---- tallies ---- */

/* The metrics of rep who in c, made (all zero) when c has none: 0 or
 * FS_ENOMEM. */
static int metrics_of(fs_compliance *c, const char *who, fs_rep_metrics **out);

static int tally(const fs_finding *f, void *ctx)
{
    fs_compliance *c = ctx;
    fs_rep_metrics *m = NULL;
    int rc = metrics_of(c, f->who, &m);
    if (rc != 0)
        return rc;
    size_t nrules;
    size_t idx = (size_t)(f->rule - fs_rules(&nrules));
    m->by_rule[idx].n[f->status]++;
    if (f->rule->kind == FS_RULE_RATIO) {
        m->checks++;
        m->accurate += f->status == FS_ST_ON_TIME;
    }
    return 0;
}

/* Every named rep has its metrics in c, zero when nothing was due of them
 * (a week before they joined): callers look each named rep up. */
static int metrics_for_named(fs_compliance *c, const char *const *reps, size_t nreps)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && reps != NULL && i < nreps; i++) {
        fs_rep_metrics *m;
        if (reps[i] != NULL && reps[i][0] != '\0')
            rc = metrics_of(c, reps[i], &m);
    }
    return rc;
}

static int metrics_of(fs_compliance *c, const char *who, fs_rep_metrics **out)
{
    fs_rep_metrics *m = NULL;
    /* c->reps is kept sorted by name: a binary search, a new rep put in
     * its place */
    size_t lo = 0, hi = c->nreps;
    while (lo < hi && m == NULL) {
        size_t mid = lo + (hi - lo) / 2;
        int d = strcmp(c->reps[mid].rep, who);
        if (d == 0)
            m = &c->reps[mid];
        else if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (m == NULL) {
        fs_rule_tally *by_rule = calloc(c->nrules, sizeof *by_rule);
        fs_rep_metrics *more = by_rule ? realloc(c->reps, (c->nreps + 1) * sizeof *more) : NULL;
        if (more == NULL) {
            free(by_rule);
            return FS_ENOMEM;
        }
        c->reps = more;
        memmove(&c->reps[lo + 1], &c->reps[lo], (c->nreps - lo) * sizeof *more);
        m = &c->reps[lo];
        memset(m, 0, sizeof *m);
        snprintf(m->rep, sizeof m->rep, "%s", who);
        m->by_rule = by_rule;
        c->nreps++;
    }
    *out = m;
    return 0;
}

static int cmp_rep(const void *a, const void *b)
{
    return strcmp(((const fs_rep_metrics *)a)->rep, ((const fs_rep_metrics *)b)->rep);
}

int fs_compliance_get(fs_replica *r, const fs_calendar *cal, int64_t now, int64_t from, int64_t to,
                      const char *const *reps, size_t nreps, fs_compliance *out)
{
    memset(out, 0, sizeof *out);
    fs_rules(&out->nrules);
    int rc = fs_rules_eval(r, cal, now, from, to, reps, nreps, tally, out);
    if (rc != 0) {
        fs_compliance_free(out);
        return rc;
    }
    if (out->nreps > 1)
        qsort(out->reps, out->nreps, sizeof *out->reps, cmp_rep);
    rc = metrics_for_named(out, reps, nreps);
    if (rc != 0)
        fs_compliance_free(out);
    return rc;
}

/* tally, and the findings of the last window to the caller's cb too */
typedef struct weeks_ctx {
    fs_compliance *c;
    int last;
    int (*cb)(const fs_finding *f, void *ctx);
    void *ctx;
    /* named reps: the place in c->reps of each (by its place among the
     * named, e->emit_rep_ix; -1 before its first finding): c->reps is
     * appended to and sorted at the end instead of searched */
    const int *rep_ix;
    int *slot;
} weeks_ctx;

/* tally, by the rep's place among the named (no search of the names) */
static int tally_named(const fs_finding *f, weeks_ctx *w, int ix)
{
    fs_compliance *c = w->c;
    if (w->slot[ix] < 0) {
        fs_rule_tally *by_rule = calloc(c->nrules, sizeof *by_rule);
        fs_rep_metrics *more = by_rule ? realloc(c->reps, (c->nreps + 1) * sizeof *more) : NULL;
        if (more == NULL) {
            free(by_rule);
            return FS_ENOMEM;
        }
        c->reps = more;
        fs_rep_metrics *m = &c->reps[c->nreps];
        memset(m, 0, sizeof *m);
        snprintf(m->rep, sizeof m->rep, "%s", f->who);
        m->by_rule = by_rule;
        w->slot[ix] = (int)c->nreps++;
    }
    fs_rep_metrics *m = &c->reps[w->slot[ix]];
    size_t nrules;
    size_t idx = (size_t)(f->rule - fs_rules(&nrules));
    m->by_rule[idx].n[f->status]++;
    if (f->rule->kind == FS_RULE_RATIO) {
        m->checks++;
        m->accurate += f->status == FS_ST_ON_TIME;
    }
    return 0;
}

static int tally_each(const fs_finding *f, void *ctx)
{
    weeks_ctx *w = ctx;
    int rc = w->slot != NULL && *w->rep_ix >= 0 ? tally_named(f, w, *w->rep_ix) : tally(f, w->c);
    if (rc == 0 && w->last && w->cb != NULL)
        rc = w->cb(f, w->ctx);
    return rc;
}

/* ---- evaluations kept between calls (fs_rules_memo) ----
 *
 * What run_setup and the rules load (refusals, hand-overs, customers, the
 * tables, each record's deadline) is kept with what it was read from: the
 * replica and its generation (fs_replica_generation), the calendar, the
 * named reps and the replica's user. A call with all of them equal runs
 * the rules over the kept records instead of reading the tables again;
 * any write of a record or a refusal (or another connection's commit)
 * changes the generation, and the next call reads afresh. The findings
 * themselves are worked out at each call (they depend on now). */
#define MEMO_SLOTS 4

typedef struct memo_slot {
    int used;
    fs_replica *r;
    uint64_t gen[2];
    fs_calendar cal;
    int named; /* the caller named the reps (reps, nreps) */
    char (*reps)[65];
    size_t nreps;
    int has_me;
    char me[FS_USER_MAX + 1];
    uint64_t last_use;
    eval e; /* set up (run_setup), its cache filled by the rules */
} memo_slot;

struct fs_rules_memo {
    memo_slot slot[MEMO_SLOTS];
    uint64_t clock;
};

/* Test hook: the calls served by kept records (tests/test_rules.c). */
unsigned long fs__rules_kept_hits;

fs_rules_memo *fs_rules_memo_new(void)
{
    return calloc(1, sizeof(fs_rules_memo));
}

static void slot_clear(memo_slot *s)
{
    if (s->used)
        run_free(&s->e);
    free(s->reps);
    memset(s, 0, sizeof *s);
}

void fs_rules_memo_free(fs_rules_memo *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < MEMO_SLOTS; i++)
        slot_clear(&m->slot[i]);
    free(m);
}

static int cal_same(const fs_calendar *a, const fs_calendar *b)
{
    return strcmp(a->tz, b->tz) == 0 && a->work_start == b->work_start &&
           a->work_end == b->work_end && a->weekend == b->weekend &&
           a->nholidays == b->nholidays && a->nworkdays == b->nworkdays &&
           a->nholidays <= FS_CAL_MAX_HOLIDAYS && a->nworkdays <= FS_CAL_MAX_HOLIDAYS &&
           memcmp(a->holidays, b->holidays, a->nholidays * sizeof *a->holidays) == 0 &&
           memcmp(a->workdays, b->workdays, a->nworkdays * sizeof *a->workdays) == 0;
}

static int reps_same(const memo_slot *s, const char *const *reps, size_t nreps)
{
    if (s->named != (reps != NULL) || s->nreps != nreps)
        return 0;
    for (size_t i = 0; i < nreps; i++)
        if (strcmp(s->reps[i], reps[i]) != 0)
            return 0;
    return 1;
}

/* The slot whose records serve this evaluation (*fresh = 0), or one to set
 * up and keep it in (*fresh = 1: cleared, keyed, not yet used); NULL when
 * none may be kept (inside a transaction, a name too long, no memory). */
static memo_slot *memo_slot_for(fs_rules_memo *m, fs_replica *r, const fs_calendar *cal,
                                const char *const *reps, size_t nreps, int *fresh)
{
    uint64_t gen[2];
    char me[FS_USER_MAX + 1] = "";
    if (fs_replica_generation(r, gen) != 0 || nreps > 100000)
        return NULL;
    for (size_t i = 0; reps != NULL && i < nreps; i++)
        if (strlen(reps[i]) > 64)
            return NULL;
    int has_me = fs_replica_user(r, me) == 0;
    memo_slot *hit = NULL, *stale = NULL, *free_slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < MEMO_SLOTS; i++) {
        memo_slot *s = &m->slot[i];
        if (!s->used) {
            free_slot = free_slot ? free_slot : s;
            continue;
        }
        int same = s->r == r && reps_same(s, reps, nreps);
        if (same && s->gen[0] == gen[0] && s->gen[1] == gen[1] && cal_same(&s->cal, cal) &&
            s->has_me == has_me && strcmp(s->me, me) == 0)
            hit = s;
        else if (same)
            stale = s;
        if (oldest == NULL || s->last_use < oldest->last_use)
            oldest = s;
    }
    m->clock++;
    if (hit != NULL) {
        fs__rules_kept_hits++;
        hit->last_use = m->clock;
        *fresh = 0;
        return hit;
    }
    memo_slot *s = stale ? stale : free_slot ? free_slot : oldest;
    slot_clear(s);
    if (nreps > 0 && (s->reps = calloc(nreps, sizeof *s->reps)) == NULL)
        return NULL;
    for (size_t i = 0; reps != NULL && i < nreps; i++)
        snprintf(s->reps[i], sizeof s->reps[i], "%s", reps[i]);
    s->r = r;
    memcpy(s->gen, gen, sizeof gen);
    s->cal = *cal;
    s->named = reps != NULL;
    s->nreps = nreps;
    s->has_me = has_me;
    memcpy(s->me, me, sizeof me);
    s->last_use = m->clock;
    *fresh = 1;
    return s;
}

int fs_compliance_weeks_kept(fs_rules_memo *m, fs_replica *r, const fs_calendar *cal,
                             int64_t now, int64_t from, size_t nweeks, const char *const *reps,
                             size_t nreps, fs_compliance *out,
                             int (*cb)(const fs_finding *f, void *ctx), void *ctx)
{
    for (size_t w = 0; w < nweeks; w++) {
        memset(&out[w], 0, sizeof out[w]);
        fs_rules(&out[w].nrules);
    }
    if (nweeks == 0)
        return 0;
    int fresh = 1;
    memo_slot *slot = m != NULL ? memo_slot_for(m, r, cal, reps, nreps, &fresh) : NULL;
    eval local;
    eval *e = slot != NULL ? &slot->e : &local;
    if (fresh) {
        memset(e, 0, sizeof *e);
        e->r = r;
        e->cal = slot != NULL ? &slot->cal : cal; /* the kept deadlines' calendar */
    }
    e->now = now;
    e->cb = tally_each;
    /* every week at once: each record is judged once for all of them */
    window *win = calloc(nweeks, sizeof *win);
    weeks_ctx *wc = calloc(nweeks, sizeof *wc);
    size_t nslots = reps != NULL ? nreps : 0;
    int *slots = nslots > 0 && nweeks <= SIZE_MAX / sizeof(int) / nslots
                     ? malloc(nweeks * nslots * sizeof *slots)
                     : NULL;
    int rc = win == NULL || wc == NULL || (nslots > 0 && slots == NULL) ? FS_ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < nweeks * nslots; i++)
        slots[i] = -1;
    for (size_t w = 0; rc == 0 && w < nweeks; w++) {
        wc[w] = (weeks_ctx){&out[w], w + 1 == nweeks, cb, ctx, &e->emit_rep_ix,
                            slots != NULL ? slots + w * nslots : NULL};
        win[w].from = from + (int64_t)w * 7 * FS_MIN_PER_DAY;
        win[w].to = win[w].from + 7 * FS_MIN_PER_DAY;
        win[w].ctx = &wc[w];
    }
    e->win = win;
    e->nwin = nweeks;
    if (rc == 0 && fresh)
        rc = run_setup(e, reps, nreps);
    if (rc == 0)
        rc = run_rules(e);
    for (size_t w = 0; rc == 0 && w < nweeks; w++) {
        if (out[w].nreps > 1)
            qsort(out[w].reps, out[w].nreps, sizeof *out[w].reps, cmp_rep);
        rc = metrics_for_named(&out[w], reps, nreps); /* sorted: searched */
    }
    e->win = NULL; /* freed below: the next call brings its own */
    e->nwin = 0;
    e->cb = NULL;
    e->ctx = NULL;
    if (slot == NULL)
        run_free(e);
    else if (rc != 0 || fresh) {
        /* kept only when whole (a failed setup may have loaded a part) */
        slot->used = 1; /* run_free of what was loaded */
        if (rc != 0)
            slot_clear(slot);
    }
    free(win);
    free(wc);
    free(slots);
    if (rc != 0)
        for (size_t w = 0; w < nweeks; w++)
            fs_compliance_free(&out[w]);
    return rc;
}

int fs_compliance_weeks_each(fs_replica *r, const fs_calendar *cal, int64_t now, int64_t from,
                             size_t nweeks, const char *const *reps, size_t nreps,
                             fs_compliance *out, int (*cb)(const fs_finding *f, void *ctx),
                             void *ctx)
{
    return fs_compliance_weeks_kept(NULL, r, cal, now, from, nweeks, reps, nreps, out, cb, ctx);
}

int fs_compliance_weeks(fs_replica *r, const fs_calendar *cal, int64_t now, int64_t from,
                        size_t nweeks, const char *const *reps, size_t nreps, fs_compliance *out)
{
    return fs_compliance_weeks_each(r, cal, now, from, nweeks, reps, nreps, out, NULL, NULL);
}

void fs_compliance_free(fs_compliance *c)
{
    for (size_t i = 0; i < c->nreps; i++)
        free(c->reps[i].by_rule);
    free(c->reps);
    memset(c, 0, sizeof *c);
}

const fs_rule_tally *fs_compliance_rule(const fs_compliance *c, const fs_rep_metrics *m,
                                        const char *rule_id)
{
    size_t n;
    const fs_rule *rules = fs_rules(&n);
    for (size_t i = 0; i < c->nrules && i < n; i++)
        if (strcmp(rules[i].id, rule_id) == 0)
            return &m->by_rule[i];
    return NULL;
}

size_t fs_charge_cells(const fs_finding *f, const char *rep, int64_t handed_at_ms,
                       fs_charge_text *buf, fs_cell c[FS_CHARGE_CELLS])
{
    size_t n = 0;
    fs_civil_format(f->start, buf->start);
    fs_civil_format(f->deadline, buf->deadline);
    c[n++] = (fs_cell){"rep", fs_text(rep)};
    c[n++] = (fs_cell){"rule", fs_text(f->rule->id)};
    c[n++] = (fs_cell){"record_table", fs_text(f->rule->table)};
    if (f->has_row)
        c[n++] = (fs_cell){"record_id", fs_blob(f->row, FS_ID_BYTES)};
    c[n++] = (fs_cell){"start", fs_text(buf->start)};
    c[n++] = (fs_cell){"deadline", fs_text(buf->deadline)};
    if (f->done >= 0) {
        fs_civil_format(f->done, buf->done);
        c[n++] = (fs_cell){"done", fs_text(buf->done)};
    }
    if (f->period >= 0) {
        fs_civil_format(f->period * FS_MIN_PER_DAY, buf->period);
        buf->period[10] = '\0'; /* the month's first day */
        c[n++] = (fs_cell){"period", fs_text(buf->period)};
    }
    c[n++] = (fs_cell){"handed_at", fs_int(handed_at_ms)};
    return n;
}
