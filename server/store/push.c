/*
 * Push into the SQLite store: every change checked on its own (writer,
 * table, value, clock, scope, the supervisors' columns), the accepted
 * ones applied with the device's acknowledged sequence in one
 * transaction, refusals audited, a customer handed over re-fed to its new
 * owner's devices.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store_int.h"

static int cmp_ref(const void *pa, const void *pb)
{
    const sq_ref *a = pa, *b = pb;
    if (a->c->table != b->c->table)
        return a->c->table < b->c->table ? -1 : 1;
    int d = memcmp(a->c->row, b->c->row, FS_ID_BYTES);
    if (d != 0)
        return d;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

typedef struct push_ctx {
    sq_store *s;
    const sq_device *d;
    const uint8_t *pk;  /* the device's key */
    uint64_t first_seq; /* the batch's first local sequence: change i is first_seq + i */
    fs_change *accepted;
    size_t naccepted;
    fs_store_reject *rejects;
    size_t nrejects;
    uint64_t clock_limit;
    unsigned flags;         /* FS_PUSH_RESTAMP, FS_PUSH_RESENT */
    fs_change *stamped;     /* restamped copies, by index in the push */
    fs_restamp *restamps;   /* one per write restamped, in the push's order */
    size_t nrestamps;
    uint64_t newest;        /* the newest clock the push's writes carry so far */
    fs_row_ref *moved; /* rows given to another owner in this push */
    char (*moved_from)[MAX_NAME + 1]; /* ... and who had them */
    char (*moved_to)[MAX_NAME + 1];   /* ... and who has them now */
    uint64_t *moved_at;               /* ... since when (ms, the owner change's clock) */
    size_t nmoved;
    /* The last parent looked up and its owner: a batch's rows mostly
     * follow one customer. Only known owners are kept, and the entry is
     * dropped whenever a row that existed gets a new owner or parent. */
    int parent_known;
    unsigned parent_tbl;
    uint8_t parent_row[FS_ID_BYTES];
    char parent_owner[MAX_NAME + 1];
} push_ctx;

static void reject(push_ctx *p, size_t idx, uint32_t reason)
{
    p->rejects[p->nrejects].index = idx;
    p->rejects[p->nrejects].reason = reason;
    p->nrejects++;
}

/* Checks one change on its own: writer, schema, value, clock. This is all
 * fs_apply checks, so the accepted changes are applied without a second
 * pass (fs_replica_apply_checked). given: c carries a clock the server gave
 * it (restamped), which is not judged against the server's clock: the
 * server's hybrid clock may be ahead of its wall clock by more than the
 * tolerance after that clock was stepped back, and every restamp would be
 * refused until it caught up. */
static uint32_t check_change(push_ctx *p, const fs_change *c, int given)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    if (memcmp(c->version.device, p->d->id, FS_ID_BYTES) != 0)
        return FS_REASON_INVALID; /* not written by the device that pushed it */
    if (c->table >= nt || c->column >= tables[c->table].ncolumns || c->version.hlc == 0)
        return FS_REASON_INVALID;
    if (fs_replica_value_fits(p->s->r, c->table, c->column, &c->value) != 0)
        return FS_REASON_INVALID;
    if (!given && (c->version.hlc >> 16) > p->clock_limit)
        return FS_REASON_CLOCK;
    return 0;
}

/* The restamp of the write stamped hlc in this push, or NULL. The
 * columns of one write are next to each other: the last one is tried
 * first. */
static const fs_restamp *restamp_of(const push_ctx *p, uint64_t hlc)
{
    for (size_t k = p->nrestamps; k-- > 0;)
        if (p->restamps[k].sent == hlc)
            return &p->restamps[k];
    return NULL;
}

/* The clock a write given one must be above: the newest of this push, or
 * the device's own write it was made on top of when that one is not in
 * this push (the server never took it at that clock: refused, and now
 * sent again) and is at most FS_RESENT_AHEAD_MS ahead of the server's
 * clock, so the device's order stays (issue 25). */
static uint64_t above_own_prev(const push_ctx *p, const fs_change *c)
{
    uint64_t floor = p->newest;
    if (c->prev.hlc > floor && memcmp(c->prev.device, p->d->id, FS_ID_BYTES) == 0 &&
        restamp_of(p, c->prev.hlc) == NULL &&
        (c->prev.hlc >> 16) <= fs_replica_now_ms(p->s->r) + FS_RESENT_AHEAD_MS)
        floor = c->prev.hlc;
    return floor;
}

/* Issue 23: a write stamped more than max_skew ahead of the server's clock,
 * from a device that can be told (FS_PUSH_RESTAMP), is accepted with a
 * clock the server gives it instead of being refused: above the server's
 * own and above every clock this push carried before it, so the device's
 * order is kept; one clock per write (its columns share it). A change on
 * top of a write restamped in this push names the write by its new clock.
 * Returns the change to check and apply in place of changes[i]; *given_out
 * is 1 when its clock is one the server gave. */
static const fs_change *restamp(push_ctx *p, const fs_change *changes, size_t i, int *given_out)
{
    const fs_change *c = &changes[i];
    *given_out = 0;
    if (!(p->flags & FS_PUSH_RESTAMP) || c->version.hlc == 0 ||
        memcmp(c->version.device, p->d->id, FS_ID_BYTES) != 0)
        return c;
    fs_change *copy = &p->stamped[i];
    *copy = *c;
    if ((c->version.hlc >> 16) > p->clock_limit) {
        const fs_restamp *given = restamp_of(p, c->version.hlc);
        if (given == NULL) {
            fs_restamp *nr = &p->restamps[p->nrestamps++];
            nr->sent = c->version.hlc;
            nr->given = fs_replica_hlc_give(p->s->r, above_own_prev(p, c));
            given = nr;
        }
        copy->version.hlc = given->given;
        *given_out = 1; /* given even when it is the clock sent: the device
                         * may have ticked from the server's own newest */
    }
    if (copy->version.hlc > p->newest)
        p->newest = copy->version.hlc;
    const fs_restamp *prev = c->prev.hlc != 0 &&
                                     memcmp(c->prev.device, p->d->id, FS_ID_BYTES) == 0
                                 ? restamp_of(p, c->prev.hlc)
                                 : NULL;
    if (prev != NULL)
        copy->prev.hlc = prev->given;
    /* Given a clock below the write it was made on top of: that write is
     * one the server never took at its clock (refused, then retried), so
     * none holds it; this one is taken as made on top of nothing (the
     * device's log says so too when it takes the clock), never as a
     * version older than the one it overwrote. */
    if (copy->prev.hlc != 0 && copy->prev.hlc >= copy->version.hlc)
        memset(&copy->prev, 0, sizeof copy->prev);
    return copy;
}

/* Keeps the restamps of writes that were accepted (a refused one is
 * refused by the clock it was sent with). p->accepted holds the given
 * clocks; the restamps are in ascending order of them. */
static void keep_accepted_restamps(push_ctx *p)
{
    uint8_t *kept = calloc(p->nrestamps ? p->nrestamps : 1, 1);
    if (kept == NULL)
        return; /* then all are sent: a refused write's entry names a clock the device lacks */
    for (size_t a = 0; a < p->naccepted; a++) {
        size_t lo = 0, hi = p->nrestamps;
        uint64_t h = p->accepted[a].version.hlc;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (p->restamps[mid].given < h)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < p->nrestamps && p->restamps[lo].given == h)
            kept[lo] = 1;
    }
    size_t n = 0;
    for (size_t k = 0; k < p->nrestamps; k++)
        if (kept[k])
            p->restamps[n++] = p->restamps[k];
    p->nrestamps = n;
    free(kept);
}

/* One audit entry per push with restamped writes: how many, and how far
 * ahead the furthest was (a laptop's clock to put right). */
static int audit_restamps(push_ctx *p, const uint8_t *pk)
{
    uint64_t ahead = 0;
    for (size_t k = 0; k < p->nrestamps; k++) {
        uint64_t sent = p->restamps[k].sent >> 16, given = p->restamps[k].given >> 16;
        if (sent > given && sent - given > ahead)
            ahead = sent - given;
    }
    char detail[FS_AUDIT_MAX_DETAIL], fp[17];
    snprintf(detail, sizeof detail, "restamped=%zu ahead_s=%llu", p->nrestamps,
             (unsigned long long)(ahead / 1000u));
    sq__fingerprint(pk, fp);
    return fs_audit_append(p->s->audit, "restamped_write", p->d->u.name, fp, detail);
}

/* Keeps the push's restamps, in its transaction, for a push of the same
 * batch again (its ACK lost on the way). */
static int record_restamps(push_ctx *p, const uint8_t *pk)
{
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < p->nrestamps; k++)
        rc = sq__run(p->s, "INSERT OR REPLACE INTO restamped(pk, sent, given) VALUES(?1, ?2, ?3)",
                     NULL, "bii", pk, FS_SIGN_PK_BYTES, (long long)p->restamps[k].sent,
                     (long long)p->restamps[k].given);
    return rc;
}

/* A batch applied before and pushed again: the restamps its writes were
 * given, as the first push told them (a device that lost that ACK learns
 * them now). out->restamps is malloc'd, or NULL when there are none. */
static int replayed_restamps(sq_store *s, const uint8_t *pk, const fs_change *changes, size_t n,
                             fs_push_result *out)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    fs_restamp *found = NULL;
    size_t nf = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint64_t hlc = changes[i].version.hlc;
        if (hlc == 0 || hlc > INT64_MAX || (nf > 0 && found[nf - 1].sent == hlc))
            continue;
        if (st == NULL)
            rc = sq__stmt(s, "SELECT given FROM restamped WHERE pk=?1 AND sent=?2", &st);
        if (rc != 0)
            break;
        sqlite3_reset(st);
        sqlite3_bind_blob(st, 1, pk, FS_SIGN_PK_BYTES, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)hlc);
        int src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            if (found == NULL && (found = malloc(n * sizeof *found)) == NULL) {
                rc = sq__fail(s, FS_ENOMEM, "out of memory");
                break;
            }
            found[nf].sent = hlc;
            found[nf].given = (uint64_t)sqlite3_column_int64(st, 0);
            nf++;
        } else if (src != SQLITE_DONE) {
            rc = sq__dbfail(s, src, "store");
        }
    }
    if (st != NULL)
        sq__done(s, st);
    if (rc != 0 || nf == 0) {
        free(found);
        return rc;
    }
    out->restamps = found;
    out->nrestamps = nf;
    return 0;
}

/* Whether change c would win over the row's stored version of its column
 * (a new row: always). A write that loses changes nothing, scope included. */
static int wins(sq_store *s, const fs_change *c, int *out)
{
    fs_version cur;
    int exists = 0;
    int rc = fs_replica_column_version(s->r, c->table, c->row, c->column, &cur, &exists);
    *out = 1;
    if (rc == 0 && exists)
        *out = fs_version_cmp(&c->version, &cur) > 0;
    return rc;
}

/* The record rules (fieldsync/records.h) for one pushed change, by a user
 * who owns the row or not: a weekly plan's approval or return and every
 * spot-check are a supervisor's. 1 if the rules refuse it. */
static int refused_by_rules(unsigned tix, const fs_change *c, const sq_user *u, int is_owner)
{
    return fs_record_check_write(tix, c->column, &c->value, (fs_record_role)u->role, is_owner,
                                 NULL, 0) != FS_RECORD_OK;
}

/* refused_by_rules, except that a grouped column (fieldsync/records.h,
 * COLUMN GROUPS) written back with the value the row holds passes: a writer
 * carries a group's other columns along as they stand (a rep resubmitting a
 * returned plan writes its reviewer's signature unchanged). *rc gets a
 * failure to read the row. */
static int ruled_out(push_ctx *p, unsigned tix, const fs_change *c, const sq_user *u, int is_owner,
                     int exists, int *rc)
{
    if (!refused_by_rules(tix, c, u, is_owner))
        return 0;
    if (!exists || fs_record_group_of(tix, c->column) == 0)
        return 1;
    int same = 0;
    *rc = fs_replica_column_holds(p->s->r, tix, c->row, c->column, &c->value, &same);
    return *rc == 0 && !same;
}

/* owner_of for the parent a row names, through the one-entry cache. */
static int parent_owner(push_ctx *p, unsigned tbl, const uint8_t row[FS_ID_BYTES],
                        char owner[MAX_NAME + 1])
{
    if (p->parent_known && p->parent_tbl == tbl && memcmp(p->parent_row, row, FS_ID_BYTES) == 0) {
        memcpy(owner, p->parent_owner, MAX_NAME + 1);
        return 0;
    }
    int rc = sq__owner_of(p->s, tbl, row, owner);
    p->parent_known = rc == 0 && owner[0] != '\0';
    if (p->parent_known) {
        p->parent_tbl = tbl;
        memcpy(p->parent_row, row, FS_ID_BYTES);
        memcpy(p->parent_owner, owner, MAX_NAME + 1);
    }
    return rc;
}

/* A spot-check belongs to the rep who holds the record it checks: one
 * naming another rep is refused whole (*why). The winning-most values of
 * this batch, the rest from the stored row. */
static int spot_check_row(push_ctx *p, sq_ref *g, size_t n, int exists, uint32_t *why)
{
    unsigned nt;
    const fs_table *t = &fs_schema_tables(&nt)[g[0].c->table];
    const int cols[3] = {fs_schema_column_index(t, "rep"), fs_schema_column_index(t, "record_table"),
                         fs_schema_column_index(t, "record_id")};
    const fs_change *best[3] = {NULL, NULL, NULL};
    for (size_t k = 0; k < n; k++)
        for (int i = 0; i < 3; i++)
            if ((int)g[k].c->column == cols[i] &&
                (best[i] == NULL || fs_version_cmp(&g[k].c->version, &best[i]->version) > 0))
                best[i] = g[k].c;
    if (best[0] == NULL && best[1] == NULL && best[2] == NULL)
        return 0; /* its attachment does not change */
    int ok = 0;
    int rc = sq__spot_check_rep_ok(p->s, exists ? g[0].c->row : NULL,
                                   best[0] ? &best[0]->value : NULL,
                                   best[1] ? &best[1]->value : NULL,
                                   best[2] ? &best[2]->value : NULL, &ok);
    if (rc == 0 && !ok)
        *why = FS_REASON_INVALID;
    return rc;
}

/* A new row must come whole: every column the schema requires when a row
 * is created, with a value, among its changes (else a customer could
 * reach the server without its name, when its creation was refused and a
 * later change of one column was not). FS_REASON_LOST or 0: a device
 * that creates a row sends it whole, so a part of one is a change of a
 * record the store does not hold (fs_refusals_resend_lost). */
static uint32_t incomplete(const fs_table *tb, const sq_ref *g, size_t n)
{
    for (unsigned col = 1; col < tb->ncolumns; col++) {
        if (!(tb->columns[col].flags & FS_COL_REQUIRED))
            continue;
        int given = 0;
        for (size_t k = 0; k < n && !given; k++)
            given = g[k].c->column == col && g[k].c->value.type != FS_NULL &&
                    !(g[k].c->value.type == FS_TEXT && g[k].c->value.n == 0);
        if (!given)
            return FS_REASON_LOST;
    }
    return 0;
}

/* *missing 1 when change c names, in an id column other than the one that
 * places its row (a commitment's visit), a record the server does not
 * have: refused with FS_REASON_PARENT, so nothing on the server points at
 * a record that is not there. Rows earlier in this push are there already
 * (rows go in table order, and a parent's table comes first). */
static int ref_missing(push_ctx *p, unsigned tix, const fs_change *c, int *missing)
{
    *missing = 0;
    unsigned nt;
    const fs_column *col = &fs_schema_tables(&nt)[tix].columns[c->column];
    sq_rule rl = sq__rule_of(tix);
    if (col->type != FS_COL_ID || col->ref == NULL || (int)c->column == rl.col ||
        c->value.type != FS_BLOB || c->value.n != FS_ID_BYTES)
        return 0;
    int ref = fs_schema_table_index(col->ref);
    char owner[MAX_NAME + 1];
    int rc = ref < 0 ? 0 : parent_owner(p, (unsigned)ref, c->value.p, owner);
    if (rc == 0 && ref >= 0)
        *missing = owner[0] == '\0';
    return rc;
}

/* Issue 24: whether the row at (tix, row), or the row it follows, left
 * the pushing user's scope in a hand-over (a purge for that user, the
 * newest one), so the user had the right to write under it until then.
 * *handed 1 if so, and *told_upto the device's newest local sequence when
 * it was first told (fs_store_purges_told); UINT64_MAX while it has not
 * been told. Up through the scope's parents, as far as owner_of goes. */
static int handed_away(push_ctx *p, unsigned tix, const uint8_t row[FS_ID_BYTES], int *handed,
                       uint64_t *told_upto)
{
    sq_store *s = p->s;
    uint8_t at[FS_ID_BYTES];
    memcpy(at, row, FS_ID_BYTES);
    *handed = 0;
    *told_upto = UINT64_MAX;
    for (int depth = 0; depth <= MAX_DEPTH; depth++) {
        sqlite3_stmt *st = NULL;
            int rc = sq__stmt(s,
                          "SELECT t.local_seq FROM purges p LEFT JOIN purge_told t ON t.pk=?1 AND"
                          " t.purge=p.seq WHERE p.user=?2 AND p.tbl=?3 AND p.row=?4"
                          " ORDER BY p.seq DESC LIMIT 1", &st);
        if (rc != 0)
            return rc;
        sqlite3_bind_blob(st, 1, p->pk, FS_SIGN_PK_BYTES, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, p->d->u.name, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, (int)tix);
        sqlite3_bind_blob(st, 4, at, FS_ID_BYTES, SQLITE_STATIC);
        int src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            *handed = 1;
            if (sqlite3_column_type(st, 0) != SQLITE_NULL)
                *told_upto = (uint64_t)sqlite3_column_int64(st, 0);
        }
        sq__done(s, st);
        if (src == SQLITE_ROW)
            return 0;
        if (src != SQLITE_DONE)
            return sq__dbfail(s, src, "store");
        rc = sq__stmt(s, "SELECT ptbl, prow FROM scope WHERE tbl=?1 AND row=?2", &st);
        if (rc != 0)
            return rc;
        sqlite3_bind_int(st, 1, (int)tix);
        sqlite3_bind_blob(st, 2, at, FS_ID_BYTES, SQLITE_STATIC);
        src = sqlite3_step(st);
        int up = src == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL &&
                 sqlite3_column_bytes(st, 1) == FS_ID_BYTES;
        if (up) {
            tix = (unsigned)sqlite3_column_int(st, 0);
            memcpy(at, sqlite3_column_blob(st, 1), FS_ID_BYTES);
        }
        sq__done(s, st);
        if (src != SQLITE_ROW && src != SQLITE_DONE)
            return sq__dbfail(s, src, "store");
        if (!up)
            return 0;
    }
    return 0;
}

/* The stored status of an existing row of a kind with locks
 * (fieldsync/records.h, LOCKS) into status ("" when none, or for a kind
 * without locks): the status the push's changes are judged against. */
static int locked_status(sq_store *s, const fs_table *tb, const uint8_t row[FS_ID_BYTES],
                         char status[32])
{
    status[0] = '\0';
    const fs_record_rules *rr = fs_record_rules_of(tb->name);
    if (rr == NULL || rr->status == NULL || fs_record_open_statuses(tb->name)[0] == '\0')
        return 0;
    fs_rows *it = NULL;
    fs_value key = fs_blob(row, FS_ID_BYTES), v;
    int rc = fs_rows_open(&it, s->r, tb->name, "id", &key, NULL);
    if (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        rc = fs_rows_get(it, rr->status, &v);
        if (rc == 0 && v.type == FS_TEXT && v.n < 32) {
            memcpy(status, v.p, v.n);
            status[v.n] = '\0';
        }
    }
    fs_rows_close(it);
    return rc < 0 ? sq__fail(s, rc, "reading a record's status") : 0;
}

/* A value the record rules count as recorded: not NULL, not empty text,
 * not a boolean 0 (as fs_record_check_needs counts it). */
static int recorded(const fs_value *v)
{
    return v->type == FS_INT ? v->i != 0 : v->type != FS_NULL && v->n > 0;
}

/* The newest of the group's changes to column col, or NULL. */
static const fs_change *newest_of(const sq_ref *g, size_t n, unsigned col)
{
    const fs_change *best = NULL;
    for (size_t k = 0; k < n; k++)
        if (g[k].c->column == col &&
            (best == NULL || fs_version_cmp(&g[k].c->version, &best->version) > 0))
            best = g[k].c;
    return best;
}

/* Whether the group itself takes its row into the status of a record
 * rules' action that needs columns (a contract signed: its legal review and
 * identity check, fieldsync/records.h) while one of them is not recorded in
 * the row as it will be: the push's own newest value, else the server's. A
 * need the server lacks only because another device cleared it (a
 * manager's "authorisation not seen" meeting a signing offline) does not
 * refuse: the pusher saw it recorded, both writes are accepted, and the
 * rule counts the contract (docs/DESIGN.md). One that nobody recorded, or
 * that the pusher's own device left unrecorded, does. *out: the action
 * refused, else NULL. */
static int unready_action(push_ctx *p, const fs_table *tb, unsigned tix, const sq_ref *g, size_t n,
                          const fs_record_action **out)
{
    *out = NULL;
    const fs_record_rules *rr = fs_record_rules_of(tb->name);
    int scol = rr != NULL && rr->status != NULL ? fs_schema_column_index(tb, rr->status) : -1;
    const fs_change *sc = scol >= 0 ? newest_of(g, n, (unsigned)scol) : NULL;
    if (sc == NULL || sc->value.type != FS_TEXT)
        return 0;
    const fs_record_action *a = NULL;
    for (size_t i = 0; i < rr->nactions && a == NULL; i++) {
        const fs_record_action *x = &rr->actions[i];
        if (x->to != NULL && x->needs[0] != NULL && strlen(x->to) == sc->value.n &&
            memcmp(x->to, sc->value.p, sc->value.n) == 0)
            a = x;
    }
    if (a == NULL)
        return 0;
    fs_rows *it = NULL;
    fs_value key = fs_blob(g[0].c->row, FS_ID_BYTES), v;
    int rc = fs_rows_open(&it, p->s->r, tb->name, "id", &key, NULL);
    int held = rc == 0 ? fs_rows_next(it) : 0;
    if (held < 0)
        rc = held;
    /* already in that status on the server: nothing new is signed */
    if (rc == 0 && held == 1 && fs_rows_get(it, rr->status, &v) == 0 && v.type == FS_TEXT &&
        v.n == sc->value.n && memcmp(v.p, sc->value.p, v.n) == 0)
        a = NULL;
    for (size_t k = 0; rc == 0 && a != NULL && k < FS_RECORD_MAX_NEEDS && a->needs[k] != NULL;
         k++) {
        int col = fs_schema_column_index(tb, a->needs[k]);
        if (col < 0)
            continue;
        const fs_change *c = newest_of(g, n, (unsigned)col);
        if (c != NULL) {
            if (!recorded(&c->value))
                *out = a; /* the push itself says it is not recorded */
            continue;
        }
        if (held == 1 && fs_rows_get(it, a->needs[k], &v) == 0 && recorded(&v))
            continue;
        fs_version ver;
        int exists = 0;
        rc = fs_replica_column_version(p->s->r, tix, g[0].c->row, (unsigned)col, &ver, &exists);
        if (rc == 0 && (!exists || ver.hlc == 0 || memcmp(ver.device, p->d->id, FS_ID_BYTES) == 0))
            *out = a; /* never recorded, or left so by the pusher's own device */
    }
    fs_rows_close(it);
    return rc < 0 ? sq__fail(p->s, rc, "reading a record's needs") : 0;
}

/* 1 when column col is one action a sets (its status among them). */
static int action_sets(const fs_record_action *a, const fs_table *tb, unsigned col)
{
    for (size_t k = 0; k < FS_RECORD_MAX_SETS && a->sets[k].column != NULL; k++)
        if (strcmp(a->sets[k].column, tb->columns[col].name) == 0)
            return 1;
    return 0;
}

/* Issue 24, a record refused before the device was told of a hand-over
 * and sent again after. A new record refused because what it belongs to
 * is not here (PARENT) or as one this store lost (LOST) goes again whole
 * once that is sorted out (fs_refusals_resend_lost), as a new write of its
 * device, under sequences above a telling that came meanwhile. The store
 * keeps the device's sequence it was first pushed at (refused_new): a
 * record first pushed at or below the telling was made before it
 * (made_before). FS_FAULT_ALL seed 280: wang's visit to a customer a
 * server restore lost, refused PARENT; li's laptop sent the customer again
 * with a hand-over to zhang, and the visit, sent again whole an hour
 * after wang's laptop was told, was refused "outside the writer's scope"
 * for good. The record's own id says it is the one refused before; what a
 * dishonest device gains is what trusting its sequences already gives it:
 * writes under customers its user had. */
static int note_refused_new(push_ctx *p, unsigned tix, const uint8_t row[FS_ID_BYTES],
                            const sq_ref *g, size_t n)
{
    uint64_t first = UINT64_MAX;
    for (size_t k = 0; k < n; k++)
        if (p->first_seq + g[k].idx < first)
            first = p->first_seq + g[k].idx;
    if (first > INT64_MAX)
        return 0;
    return sq__run(p->s,
                   "INSERT INTO refused_new(pk,tbl,row,local_seq) VALUES(?1,?2,?3,?4)"
                   " ON CONFLICT(pk,tbl,row) DO UPDATE SET"
                   " local_seq=min(local_seq, excluded.local_seq)",
                   NULL, "bibi", p->pk, FS_SIGN_PK_BYTES, (long long)tix, row, FS_ID_BYTES,
                   (long long)first);
}

/* *before 1 when the device first pushed the new record (tix, row) at a
 * sequence at or below told_upto, and it was refused then (note_refused_new). */
static int made_before(push_ctx *p, unsigned tix, const uint8_t row[FS_ID_BYTES],
                       uint64_t told_upto, int *before)
{
    *before = 0;
    sqlite3_stmt *st = NULL;
    int rc = sq__stmt(p->s, "SELECT local_seq FROM refused_new WHERE pk=?1 AND tbl=?2 AND row=?3", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_blob(st, 1, p->pk, FS_SIGN_PK_BYTES, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)tix);
    sqlite3_bind_blob(st, 3, row, FS_ID_BYTES, SQLITE_STATIC);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *before = (uint64_t)sqlite3_column_int64(st, 0) <= told_upto;
    sq__done(p->s, st);
    return src == SQLITE_ROW || src == SQLITE_DONE ? 0 : sq__dbfail(p->s, src, "store");
}

/* A record made before its device was told of its customer's hand-over
 * and sent again after (made_before), now accepted: it follows the
 * customer to its new owner, and the device, which dropped the customer
 * at the telling, is told to drop it too (a purge entry for the pusher's
 * user at the feed's end; its cursor is not past it). */
static int tell_to_drop(push_ctx *p, unsigned tix, const uint8_t row[FS_ID_BYTES])
{
    uint64_t feed = 0;
    int rc = fs_feed_last(p->s->r, &feed);
    if (rc == 0)
        rc = sq__run(p->s, "INSERT INTO purges(user, tbl, row, feed_seq) VALUES(?1, ?2, ?3, ?4)",
                     NULL, "tibi", p->d->u.name, (long long)tix, row, FS_ID_BYTES,
                     (long long)feed);
    return rc;
}

/* Decides a row group (the valid changes of one row). The changes to the
 * column that decides the row's owner or parent (the "decider") are judged
 * apart: one that is malformed, or would take the row out of the pusher's
 * reach, or give a customer away without being a manager, is refused alone
 * on an existing row, and refuses the whole row on a new one. The other
 * changes need the pusher's right to write the row. */
static int push_row(push_ctx *p, sq_ref *g, size_t n)
{
    sq_store *s = p->s;
    const sq_user *u = &p->d->u;
    unsigned tix = g[0].c->table;
    const uint8_t *row = g[0].c->row;
    sq_rule rl = sq__rule_of(tix);
    unsigned ntables;
    const fs_table *tb = &fs_schema_tables(&ntables)[tix];
    char now[MAX_NAME + 1], after[MAX_NAME + 1];
    int rc = sq__owner_of(s, tix, row, now);
    if (rc != 0)
        return rc;
    int exists = now[0] != '\0';
    /* The winning-most deciding changes in this batch. */
    const fs_change *dc = NULL, *dc_row = NULL;
    for (size_t k = 0; k < n; k++) {
        const fs_change *c = g[k].c;
        if ((int)c->column == rl.col && (dc == NULL || fs_version_cmp(&c->version, &dc->version) > 0))
            dc = c;
        if (rl.kind == RULE_CONFLICT && (int)c->column == rl.col_row &&
            (dc_row == NULL || fs_version_cmp(&c->version, &dc_row->version) > 0))
            dc_row = c;
    }
    uint32_t decider_why = 0, row_why = 0;
    int set_owner = 0, set_parent = 0, ptbl = -1;
    uint8_t prow[FS_ID_BYTES];
    snprintf(after, sizeof after, "%s", now);
    if (dc != NULL && exists) { /* a new row has no version to lose to */
        int w = 1;
        rc = wins(s, dc, &w);
        if (rc != 0)
            return rc;
        if (!w)
            dc = NULL; /* an older write: the row keeps its owner */
    }
    switch (rl.kind) {
    case RULE_OWNER:
    case RULE_REP:
        if (dc != NULL && sq__owner_value(&dc->value, after))
            set_owner = 1;
        else if (dc != NULL && rl.kind == RULE_OWNER && !exists &&
                 (dc->value.type == FS_NULL || (dc->value.type == FS_TEXT && dc->value.n == 0)))
            dc = NULL; /* a blank owner on a new customer: not saying */
        else if (dc != NULL)
            decider_why = FS_REASON_INVALID;
        if (!set_owner && !exists) {
            if (rl.kind == RULE_OWNER && decider_why == 0) {
                snprintf(after, sizeof after, "%s", u->name); /* the creator owns it */
                set_owner = 1;
            } else {
                /* a new row must say whose it is: one that does not is a
                 * change of a record this store lost (restored from an
                 * older backup), which the device sends again whole */
                row_why = FS_REASON_LOST;
            }
        }
        break;
    case RULE_PARENT:
    case RULE_CONFLICT:
        if (dc != NULL && rl.kind == RULE_PARENT && dc->value.type == FS_BLOB &&
            dc->value.n == FS_ID_BYTES) {
            ptbl = rl.ref;
            memcpy(prow, dc->value.p, FS_ID_BYTES);
            set_parent = 1;
        } else if (dc != NULL && rl.kind == RULE_CONFLICT && dc->value.type == FS_INT &&
                   dc_row != NULL && dc_row->value.type == FS_BLOB &&
                   dc_row->value.n == FS_ID_BYTES) {
            unsigned nt;
            fs_schema_tables(&nt);
            if (dc->value.i >= 0 && dc->value.i < (int64_t)nt) {
                ptbl = (int)dc->value.i;
                memcpy(prow, dc_row->value.p, FS_ID_BYTES);
                set_parent = 1;
            }
        }
        if (set_parent) {
            rc = parent_owner(p, (unsigned)ptbl, prow, after);
            if (rc != 0)
                return rc;
            if (after[0] == '\0') { /* follows nothing the server has */
                set_parent = 0;
                decider_why = rl.kind == RULE_PARENT ? FS_REASON_PARENT : FS_REASON_INVALID;
                snprintf(after, sizeof after, "%s", now);
            }
        } else if (dc != NULL) {
            decider_why = FS_REASON_INVALID;
        }
        if (!set_parent && !exists)
            row_why = FS_REASON_LOST; /* a new row must name what it follows: as above */
        break;
    case RULE_NONE:
        row_why = FS_REASON_SCOPE;
        break;
    }
    /* Moving the row: only within the pusher's reach, and where the record
     * rules give the deciding column to supervisors (a customer's owner) only
     * by one. */
    if (decider_why == 0 && row_why == 0 && (set_owner || set_parent) && exists &&
        strcmp(now, after) != 0 &&
        (!sq__in_scope(s, u, after) ||
         !fs_record_may_write(tb->name, tb->columns[rl.col].name, (fs_record_role)u->role,
                              strcmp(now, u->name) == 0)))
        decider_why = FS_REASON_SCOPE;
    if (decider_why != 0) {
        if (!exists)
            row_why = decider_why; /* a new row that cannot be placed */
        set_owner = set_parent = 0;
        snprintf(after, sizeof after, "%s", now);
    }
    /* Out of the pusher's scope: refused, unless the row (or the customer
     * it follows) was handed away from the pusher's user and the device
     * wrote it before it was told (issue 24). Such changes were made with
     * the right to make them: accepted, they follow the row to its new
     * owner; what the device wrote after it was told is refused. */
    int handed = 0, sent_again = 0;
    uint64_t told_upto = UINT64_MAX;
    if (row_why == 0 && ((exists && !sq__in_scope(s, u, now)) || (!exists && !sq__in_scope(s, u, after)))) {
        if (exists)
            rc = handed_away(p, tix, row, &handed, &told_upto);
        else if (set_parent)
            rc = handed_away(p, (unsigned)ptbl, prow, &handed, &told_upto);
        if (rc != 0)
            return rc;
        int after_told = 0, before = 0;
        for (size_t k = 0; handed && !exists && k < n; k++)
            after_told |= p->first_seq + g[k].idx > told_upto;
        if (after_told) /* a new row sent after: made after, or sent again */
            rc = made_before(p, tix, row, told_upto, &before);
        if (rc != 0)
            return rc;
        if (before) { /* refused once before the telling: judged as made then */
            told_upto = UINT64_MAX;
            sent_again = 1;
        } else if (after_told) {
            handed = 0; /* made after: refused whole */
        }
        if (!handed)
            row_why = FS_REASON_SCOPE;
    }
    if (row_why == 0 && (int)tix == fs_schema_table_index("spot_check")) {
        rc = spot_check_row(p, g, n, exists, &row_why);
        if (rc != 0)
            return rc;
    }
    if (row_why == 0 && !exists)
        row_why = incomplete(tb, g, n); /* as above: a record this store lost */
    /* A new row whose other parent is not here is refused whole; on an
     * existing row only the change naming it (below). */
    for (size_t k = 0; rc == 0 && row_why == 0 && !exists && k < n; k++) {
        int has = 0;
        rc = ref_missing(p, tix, g[k].c, &has);
        if (rc == 0 && has)
            row_why = FS_REASON_PARENT;
    }
    if (rc != 0)
        return rc;
    /* A record whose status locks it (a submitted or approved weekly plan)
     * keeps its content and its tombstone, whoever writes (issue 17.3). */
    char status[32] = "";
    if (row_why == 0 && exists) {
        rc = locked_status(s, tb, row, status);
        if (rc != 0)
            return rc;
    }
    /* A signing the row is not ready for (fieldsync/records.h: needs). */
    const fs_record_action *unready = NULL;
    if (row_why == 0) {
        rc = unready_action(p, tb, tix, g, n, &unready);
        if (rc != 0)
            return rc;
    }
    for (size_t k = 0; rc == 0 && k < n; k++) {
        const fs_change *c = g[k].c;
        int missing = 0;
        int is_decider = (int)c->column == rl.col ||
                         (rl.kind == RULE_CONFLICT && (int)c->column == rl.col_row);
        if (row_why == 0 && exists && !is_decider) {
            rc = ref_missing(p, tix, c, &missing);
            if (rc != 0)
                return rc;
        }
        if (row_why != 0)
            reject(p, g[k].idx, row_why);
        else if (handed && p->first_seq + g[k].idx > told_upto)
            reject(p, g[k].idx, FS_REASON_SCOPE); /* written after the device was told */
        else if (is_decider && decider_why != 0)
            reject(p, g[k].idx, decider_why);
        else if (missing)
            reject(p, g[k].idx, FS_REASON_PARENT);
        else if (status[0] != '\0' && fs_record_locked(tix, c->column, status))
            reject(p, g[k].idx, FS_REASON_SCOPE);
        else if (unready != NULL && action_sets(unready, tb, c->column))
            reject(p, g[k].idx, FS_REASON_INVALID);
        else if (ruled_out(p, tix, c, u, handed || strcmp(exists ? now : after, u->name) == 0,
                           exists, &rc))
            reject(p, g[k].idx, FS_REASON_SCOPE);
        else
            p->accepted[p->naccepted++] = *c;
    }
    if (rc == 0 && !exists && (row_why == FS_REASON_PARENT || row_why == FS_REASON_LOST))
        rc = note_refused_new(p, tix, row, g, n);
    if (rc == 0 && row_why == 0 && sent_again)
        rc = tell_to_drop(p, tix, row);
    if (rc != 0)
        return rc;
    if (row_why != 0 || (!set_owner && !set_parent))
        return 0;
    if (exists)
        p->parent_known = 0;                 /* an owner may change below this row */
    if (exists && strcmp(now, after) != 0) { /* handed over: re-feed it after apply */
        p->moved[p->nmoved].table = (uint16_t)tix;
        memcpy(p->moved[p->nmoved].row, row, FS_ID_BYTES);
        snprintf(p->moved_from[p->nmoved], MAX_NAME + 1, "%s", now);
        snprintf(p->moved_to[p->nmoved], MAX_NAME + 1, "%s", after);
        p->moved_at[p->nmoved] = dc != NULL ? dc->version.hlc >> 16 : 0;
        p->nmoved++;
    }
    if (set_owner)
        return sq__run(s,
                   "INSERT INTO scope(tbl,row,owner,ptbl,prow) VALUES(?1,?2,?3,NULL,NULL)"
                   " ON CONFLICT(tbl,row) DO UPDATE SET owner=excluded.owner, ptbl=NULL,"
                   " prow=NULL",
                   NULL, "ibt", (long long)tix, row, FS_ID_BYTES, after);
    return sq__run(s,
               "INSERT INTO scope(tbl,row,owner,ptbl,prow) VALUES(?1,?2,NULL,?3,?4)"
               " ON CONFLICT(tbl,row) DO UPDATE SET owner=NULL, ptbl=excluded.ptbl,"
               " prow=excluded.prow",
               NULL, "ibib", (long long)tix, row, FS_ID_BYTES, (long long)ptbl, prow,
               FS_ID_BYTES);
}

/* One audit entry per push with refusals: how many, by reason (never the
 * values). */
static int audit_refusals(sq_store *s, const sq_device *d, const uint8_t *pk,
                          const fs_store_reject *rejects, size_t n)
{
    size_t by[FS_REASON_LAST + 1] = {0};
    for (size_t i = 0; i < n; i++)
        if (rejects[i].reason <= FS_REASON_LAST)
            by[rejects[i].reason]++;
    char detail[FS_AUDIT_MAX_DETAIL], fp[17];
    size_t len = (size_t)snprintf(detail, sizeof detail, "refused=%zu", n);
    for (unsigned r = 1; r <= FS_REASON_LAST && len < sizeof detail; r++)
        if (by[r] > 0)
            len += (size_t)snprintf(detail + len, sizeof detail - len, " reason%u=%zu", r, by[r]);
    sq__fingerprint(pk, fp);
    return fs_audit_append(s->audit, "refused_write", d->u.name, fp, detail);
}

/* A row handed to another owner: who did it, from whom to whom, and which
 * row (table and id: no values). */
static int audit_handover(sq_store *s, const sq_device *d, const fs_row_ref *row, const char *from,
                          const char *to)
{
    char subject[2 * (MAX_NAME + 1) + 8], detail[FS_AUDIT_MAX_DETAIL], hex[2 * FS_ID_BYTES + 1];
    unsigned ntables;
    const fs_table *all = fs_schema_tables(&ntables);
    const fs_table *t = row->table < ntables ? &all[row->table] : NULL;
    fs_id_to_hex(row->row, hex);
    if (strlen(from) + strlen(to) + 4 <= FS_AUDIT_MAX_NAME)
        snprintf(subject, sizeof subject, "%.*s -> %.*s", MAX_NAME, from, MAX_NAME, to);
    else
        snprintf(subject, sizeof subject, "%.*s", MAX_NAME, to);
    snprintf(detail, sizeof detail, "%s %s", t != NULL ? t->name : "?", hex);
    return fs_audit_append(s->audit, "scope_change", d->u.name, subject, detail);
}

/* A customer handed from one rep to another: the server's own `handover`
 * record (fieldsync/schema.h), written in the push's transaction after the
 * re-feed, so it reaches the new owner's devices and the team's managers
 * after the customer itself. Other rows that change owner (a report's rep)
 * have no handover record. */
static int note_handover(sq_store *s, const fs_row_ref *row, const char *from, const char *to,
                         uint64_t at_ms)
{
    static int customer = -2, handover = -2;
    if (customer == -2) {
        customer = fs_schema_table_index("customer");
        handover = fs_schema_table_index("handover");
    }
    if (customer < 0 || handover < 0 || row->table != (unsigned)customer || at_ms == 0)
        return 0;
    fs_cell cells[4] = {
        {"customer", fs_blob(row->row, FS_ID_BYTES)},
        {"from_rep", from[0] ? fs_textn(from, strlen(from)) : fs_null()},
        {"to_rep", fs_textn(to, strlen(to))},
        {"at", fs_int((int64_t)at_ms)},
    };
    uint8_t id[FS_ID_BYTES];
    int rc = fs_insert(s->r, "handover", cells, 4, id);
    if (rc != 0)
        return sq__fail(s, rc, "recording a handover: %s", fs_replica_errmsg(s->r));
    return sq__run(s, "INSERT INTO scope(tbl,row,owner,ptbl,prow) VALUES(?1,?2,NULL,?3,?4)", NULL,
                   "ibib", (long long)handover, id, FS_ID_BYTES, (long long)customer, row->row,
                   FS_ID_BYTES);
}

/* The conflict records about a row that the server found itself (a pushed
 * change that lost, a group it decided): they are in no scope row, follow
 * the row they are about (sq__owner_of), and are fed again with it, so a
 * rep who gets a customer back gets them too although his devices' cursors
 * passed them while the customer was another's. Those a device pushed
 * follow through the scope table, as its other rows do. */
static int refeed_found_conflicts(sq_store *s, unsigned tix, const uint8_t row[FS_ID_BYTES])
{
    int ct = fs_schema_table_index("conflict");
    if (ct < 0 || (int)tix == ct)
        return 0;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(fs_replica_db(s->r),
                                 "SELECT c.id FROM conflict c WHERE c.tbl=?1 AND c.row=?2 AND NOT"
                                 " EXISTS (SELECT 1 FROM scope WHERE tbl=?3 AND row=c.id)",
                                 -1, &st, NULL);
    if (src != SQLITE_OK)
        return sq__dbfail(s, src, "store");
    sqlite3_bind_int(st, 1, (int)tix);
    sqlite3_bind_blob(st, 2, row, FS_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, ct);
    uint8_t(*ids)[FS_ID_BYTES] = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) != FS_ID_BYTES)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            uint8_t(*more)[FS_ID_BYTES] = realloc(ids, cap * sizeof *ids);
            if (more == NULL) {
                rc = sq__fail(s, FS_ENOMEM, "out of memory");
                break;
            }
            ids = more;
        }
        memcpy(ids[n++], sqlite3_column_blob(st, 0), FS_ID_BYTES);
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = sq__dbfail(s, src, "store");
    sqlite3_finalize(st);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = sq__feed_scope_retag_row(s, (unsigned)ct, ids[i]);
        if (rc == 0)
            rc = fs_replica_refeed_row(s->r, (unsigned)ct, ids[i]);
    }
    free(ids);
    return rc;
}

/* Appends a row's current values, with their versions, to the feed again,
 * and those of every row that follows it: a row handed to another owner
 * reaches the new owner's devices although their cursors passed it. Devices
 * that hold these versions already ignore them. The previous owner's devices
 * are told to purge each of these rows (a purge entry at the feed position
 * before the re-fed values). */
static int refeed(sq_store *s, unsigned tix, const uint8_t row[FS_ID_BYTES],
                  const char *old_owner, int depth)
{
    uint64_t feed = 0;
    int rc = fs_feed_last(s->r, &feed);
    if (rc == 0)
        rc = sq__run(s, "INSERT INTO purges(user, tbl, row, feed_seq) VALUES(?1, ?2, ?3, ?4)", NULL,
                 "tibi", old_owner, (long long)tix, row, FS_ID_BYTES, (long long)feed);
    if (rc == 0) /* its history goes with it (feedscope.c) */
        rc = sq__feed_scope_retag_row(s, tix, row);
    if (rc == 0)
        rc = fs_replica_refeed_row(s->r, tix, row);
    if (rc == 0)
        rc = refeed_found_conflicts(s, tix, row);
    if (rc != 0 || depth >= MAX_DEPTH)
        return rc;
    /* What follows it: collect first, as refeeding runs statements of its own. */
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(fs_replica_db(s->r),
                                 "SELECT tbl, row FROM scope WHERE ptbl=?1 AND prow=?2", -1, &st,
                                 NULL);
    if (src != SQLITE_OK)
        return sq__dbfail(s, src, "store");
    sqlite3_bind_int(st, 1, (int)tix);
    sqlite3_bind_blob(st, 2, row, FS_ID_BYTES, SQLITE_STATIC);
    fs_row_ref *kids = NULL;
    size_t n = 0, cap = 0;
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 1) != FS_ID_BYTES)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            fs_row_ref *more = realloc(kids, cap * sizeof *kids);
            if (more == NULL) {
                rc = sq__fail(s, FS_ENOMEM, "out of memory");
                break;
            }
            kids = more;
        }
        kids[n].table = (uint16_t)sqlite3_column_int(st, 0);
        memcpy(kids[n].row, sqlite3_column_blob(st, 1), FS_ID_BYTES);
        n++;
    }
    sqlite3_finalize(st);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = refeed(s, kids[i].table, kids[i].row, old_owner, depth + 1);
    free(kids);
    return rc;
}

/* The newest clock a write may carry as it is (ms): the server's clock and
 * the tolerance, or the milliseconds its hybrid clock has reached, if
 * further; for writes re-sent after a restore (FS_PUSH_RESENT), the
 * server's clock and FS_RESENT_AHEAD_MS, if further still. */
static uint64_t clock_limit(fs_replica *r, unsigned flags)
{
    uint64_t now = fs_replica_now_ms(r);
    uint64_t lim = now + fs_replica_max_skew_ms(r);
    uint64_t mark = fs_replica_hlc_mark(r) >> 16;
    if (mark > lim)
        lim = mark;
    if ((flags & FS_PUSH_RESENT) && now + FS_RESENT_AHEAD_MS > lim)
        lim = now + FS_RESENT_AHEAD_MS;
    return lim;
}

/* Issue 24, the tellings a pushing replica never got. The server tells a
 * device of a purge in answer to a PULL, after the ACKs of every push it
 * had applied, on one ordered channel, and a device records an ACK before
 * it reads what follows: a replica that got the telling holds those ACKs,
 * and pushes from above the acknowledged sequence kept with it
 * (purge_told_acked). A push from first_seq at or below it comes from a
 * replica that never got it: a copy of the laptop not yet told apart from
 * it (one device id, the same writes), or the device itself when its
 * session broke before the ACKs and the PURGE reached it. For this
 * replica the purge was never told, so the telling is forgotten: what it
 * pushes is judged as written before it knew (handed_away), and its next
 * PULL tells it again, with its own newest sequence. FS_FAULT_ALL seed 57:
 * zhang's laptop copied, the copy told of a hand-over, the original's
 * visit to that customer refused as written after.
 *
 * A copy made with nothing unsent holds every ACK the original holds, so
 * its first_seq tells nothing; its feed cursor does (protocol version 9,
 * FS_PUSH_CURSOR). A PULL from cursor c tells the purges whose
 * feed_seq >= c (pull.c, sq_purges), and its answer moves the cursor past
 * them (to the re-fed entries after feed_seq, or the feed's head): a
 * replica whose cursor is still at or below a purge's feed_seq was never
 * sent it, and its telling is forgotten too. The original, told, has moved
 * past and keeps it. FS_FAULT_ALL seeds 64 and 258: the original told
 * first, the copy's offline visit refused as written after. A device that
 * says a lower cursor than its own has its writes judged as written before
 * it knew: no more than a laptop kept offline gets. */
static int void_tellings(sq_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], int by_seq,
                         uint64_t first_seq, int has_cursor, uint64_t cursor)
{
    int rc = 0;
    if (by_seq) {
        long long from = first_seq > INT64_MAX ? INT64_MAX : (long long)first_seq;
        rc = sq__run(s,
                     "DELETE FROM purge_told WHERE pk=?1 AND purge IN (SELECT purge FROM"
                     " purge_told_acked WHERE pk=?1 AND acked_seq>=?2)",
                     NULL, "bi", pk, FS_SIGN_PK_BYTES, from);
        if (rc == 0)
            rc = sq__run(s, "DELETE FROM purge_told_acked WHERE pk=?1 AND acked_seq>=?2", NULL,
                         "bi", pk, FS_SIGN_PK_BYTES, from);
    }
    if (rc != 0 || !has_cursor)
        return rc;
    /* by the device's own tellings (the key's prefix), each purge looked up
     * by its key: no more work than the device has tellings */
    long long at = cursor > INT64_MAX ? INT64_MAX : (long long)cursor;
    rc = sq__run(s,
                 "DELETE FROM purge_told_acked WHERE pk=?1 AND EXISTS (SELECT 1 FROM purges p"
                 " WHERE p.seq=purge_told_acked.purge AND p.feed_seq>=?2)",
                 NULL, "bi", pk, FS_SIGN_PK_BYTES, at);
    if (rc == 0)
        rc = sq__run(s,
                     "DELETE FROM purge_told WHERE pk=?1 AND EXISTS (SELECT 1 FROM purges p"
                     " WHERE p.seq=purge_told.purge AND p.feed_seq>=?2)",
                     NULL, "bi", pk, FS_SIGN_PK_BYTES, at);
    return rc;
}

int sq_push(fs_store *base, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t first_seq,
            uint64_t last_seq, const fs_change *changes, size_t n, unsigned flags,
            uint64_t cursor, fs_push_result *out)
{
    sq_store *s = (sq_store *)base;
    memset(out, 0, sizeof *out);
    int has_cursor = (flags & FS_PUSH_CURSOR) != 0;
    if (first_seq > last_seq || (n > 0 && changes == NULL))
        return sq__fail(s, FS_EINVAL, "a push covers sequences first..last");
    sq_device d;
    int rc = sq__device_get(s, device_pk, &d);
    if (rc == FS_ENOTFOUND)
        return sq__fail(s, FS_EAUTH, "unknown device");
    if (rc != 0)
        return rc;
    /* a telling keeps an acknowledged sequence never above d.acked (it only
     * grows): a push from past it, every push but a resent one, voids none
     * by its first sequence; a push that says a feed cursor (protocol 9)
     * may void by the cursor, a copy with nothing unsent's push too */
    if (first_seq <= d.acked || has_cursor)
        rc = void_tellings(s, device_pk, first_seq <= d.acked, first_seq, has_cursor, cursor);
    if (rc != 0)
        return rc;
    if (last_seq <= d.acked) { /* applied before: acknowledge again */
        out->acked_seq = d.acked;
        out->replayed = 1;
        return (flags & FS_PUSH_RESTAMP) ? replayed_restamps(s, device_pk, changes, n, out) : 0;
    }
    push_ctx p = {.s = s,
                  .d = &d,
                  .pk = device_pk,
                  .first_seq = first_seq,
                  .clock_limit = clock_limit(s->r, flags),
                  .flags = flags};
    sq_ref *refs = malloc((n ? n : 1) * sizeof *refs);
    p.moved = malloc((n ? n : 1) * sizeof *p.moved);
    p.moved_from = malloc((n ? n : 1) * sizeof *p.moved_from);
    p.moved_to = malloc((n ? n : 1) * sizeof *p.moved_to);
    p.moved_at = malloc((n ? n : 1) * sizeof *p.moved_at);
    p.accepted = malloc((n ? n : 1) * sizeof *p.accepted);
    p.rejects = malloc((n ? n : 1) * sizeof *p.rejects);
    if (flags & FS_PUSH_RESTAMP) {
        p.stamped = malloc((n ? n : 1) * sizeof *p.stamped);
        p.restamps = malloc((n ? n : 1) * sizeof *p.restamps);
    }
    if (refs == NULL || p.accepted == NULL || p.rejects == NULL || p.moved == NULL ||
        p.moved_from == NULL || p.moved_to == NULL || p.moved_at == NULL ||
        ((flags & FS_PUSH_RESTAMP) && (p.stamped == NULL || p.restamps == NULL))) {
        rc = sq__fail(s, FS_ENOMEM, "out of memory");
        goto done;
    }
    size_t nvalid = 0;
    /* The clock of the batch's last write (issue 25.3): the newest one sent
     * (a device's clock only moves forward), as the server accepted it
     * (restamped or not: a restamp may put it below an earlier write's). */
    uint64_t tip = 0, tip_sent = 0;
    size_t tip_idx = 0;
    for (size_t i = 0; i < n; i++) {
        int given = 0;
        const fs_change *c = restamp(&p, changes, i, &given);
        if (changes[i].version.hlc >= tip_sent) {
            tip_sent = changes[i].version.hlc;
            tip = c->version.hlc;
            tip_idx = i;
        }
        uint32_t why = check_change(&p, c, given);
        if (why != 0) {
            reject(&p, i, why);
            continue;
        }
        refs[nvalid].c = c;
        refs[nvalid].idx = i;
        nvalid++;
    }
    /* Rows in table order: customers before what follows them, plans before
     * their tasks, conflict records last. */
    qsort(refs, nvalid, sizeof *refs, cmp_ref);
    rc = fs_begin(s->r);
    for (size_t i = 0; rc == 0 && i < nvalid;) {
        size_t j = i + 1;
        while (j < nvalid && refs[j].c->table == refs[i].c->table &&
               memcmp(refs[j].c->row, refs[i].c->row, FS_ID_BYTES) == 0)
            j++;
        rc = push_row(&p, refs + i, j - i);
        i = j;
    }
    if (rc == 0)
        rc = fs_replica_apply_checked(s->r, p.accepted, p.naccepted); /* check_change passed */
    for (size_t i = 0; rc == 0 && i < p.nmoved; i++) {
        rc = refeed(s, p.moved[i].table, p.moved[i].row, p.moved_from[i], 0);
        if (rc == 0)
            rc = audit_handover(s, &d, &p.moved[i], p.moved_from[i], p.moved_to[i]);
        /* the previous owner's deadlines, frozen before the hand-over is
         * recorded (fieldsync/rules.h) */
        if (rc == 0 && p.moved[i].table == (uint16_t)fs_schema_table_index("customer") &&
            p.moved_at[i] != 0)
            rc = sq__handover_charges(s, p.moved[i].row, p.moved_from[i], p.moved_at[i]);
        if (rc == 0)
            rc = note_handover(s, &p.moved[i], p.moved_from[i], p.moved_to[i], p.moved_at[i]);
    }
    if (rc == 0)
        rc = sq__run(s, "UPDATE devices SET acked_seq=?1 WHERE pk=?2", NULL, "ib",
                 (long long)last_seq, device_pk, FS_SIGN_PK_BYTES);
    /* what a restored or copied replica is told it should hold (TIP); a
     * refused write keeps the clock it was sent with on the device */
    for (size_t k = 0; k < p.nrejects; k++)
        if (p.rejects[k].index == tip_idx)
            tip = tip_sent;
    if (rc == 0 && tip != 0 && tip <= INT64_MAX)
        rc = sq__run(s, "INSERT OR REPLACE INTO device_tip(pk, hlc, row) VALUES(?1, ?2, ?3)",
                     NULL, "bib", device_pk, FS_SIGN_PK_BYTES, (long long)tip,
                     changes[tip_idx].row, FS_ID_BYTES);
    else if (rc == 0)
        rc = sq__run(s, "DELETE FROM device_tip WHERE pk=?1", NULL, "b", device_pk,
                     FS_SIGN_PK_BYTES);
    if (rc == 0 && p.nrejects > 0)
        rc = audit_refusals(s, &d, device_pk, p.rejects, p.nrejects);
    if (rc == 0 && p.nrestamps > 0) {
        keep_accepted_restamps(&p);
        if (p.nrestamps > 0)
            rc = record_restamps(&p, device_pk);
        if (rc == 0 && p.nrestamps > 0)
            rc = audit_restamps(&p, device_pk);
    }
    if (rc == 0 && !s->scope_lazy) /* the entries this push fed, by their owners as it leaves them */
        rc = sq__feed_scope_catch_up(s);
    if (rc == 0)
        rc = fs_commit(s->r);
    else
        fs_rollback(s->r);
    if (rc == 0) {
        out->acked_seq = last_seq;
        out->accepted = p.naccepted;
        out->nrejects = p.nrejects;
        if (p.nrejects > 0) {
            out->rejects = p.rejects;
            p.rejects = NULL;
        }
        if (p.nrestamps > 0) {
            out->restamps = p.restamps;
            out->nrestamps = p.nrestamps;
            p.restamps = NULL;
        }
    } else if (s->errmsg[0] == '\0') {
        sq__fail(s, rc, "push: %s", fs_replica_errmsg(s->r));
    }
done:
    free(refs);
    free(p.stamped);
    free(p.restamps);
    free(p.accepted);
    free(p.rejects);
    free(p.moved);
    free(p.moved_from);
    free(p.moved_to);
    free(p.moved_at);
    return rc;
}
