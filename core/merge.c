/*
 * Merging remote changes: per-column last-writer-wins by (hlc, device), and
 * the conflict records that keep concurrent losers.
 *
 * A change carries the version its writer replaced (prev). When an incoming
 * version X beats the local version L of a column and X.prev != L, X was
 * written without knowledge of L: L is a concurrent loser and is kept in a
 * conflict record. Every replica that held L and then received a newer value
 * not written on top of it finds the conflict, so a value is never lost
 * silently (the writer's own replica always finds it, and so does the
 * server). The record's id is derived from (table, row, column, L), so
 * replicas that find the same conflict write the same record; it is written
 * once per replica and merges like any row. Its status column is left
 * unwritten (open) at creation, so a late detection never reopens a conflict
 * someone already resolved. When intermediate versions were never seen (a
 * replica received A, then C written on top of B), the check may report a
 * conflict that a person already saw: it errs on the side of showing too
 * much, never too little.
 *
 * Column groups (fieldsync/records.h) are decided whole: the write with the
 * highest clock among a group's columns wins all of them. A change that
 * beats its own column but not its group's newest write loses, and is kept
 * in a conflict record like any loser. Writers of this version write a
 * group whole at one clock, so per-column order already agrees; the rule
 * is for the writes of older devices (protocol 3 and 4), which write one
 * column of a group alone and merge column by column. For them the server,
 * the replica with a feed, decides: when it refuses such a change by its
 * group, or accepts a write that leaves in its group a column written
 * behind the writer's back (newer than the version the writer replaced),
 * it writes the group again as its own write at a fresh clock, with that
 * column cleared (the value is kept in a conflict record). Every replica,
 * old or new, then receives the decision as plain winning changes.
 */
#include <string.h>

#include <sodium.h>

#include "fieldsync/records.h"
#include "replica_int.h"

/* Columns of the conflict table, by index (see schema.c). */
enum {
    CF_TBL = 1,
    CF_ROW,
    CF_COL,
    CF_LOSER_VALUE,
    CF_LOSER_HLC,
    CF_LOSER_DEVICE,
    CF_WINNER_VALUE,
    CF_WINNER_HLC,
    CF_WINNER_DEVICE,
    CF_STATUS
};

static unsigned conflict_table(void)
{
    return (unsigned)fs_schema_table_index("conflict");
}

static void conflict_id(uint8_t out[FS_ID_BYTES], unsigned tix, const uint8_t row[FS_ID_BYTES],
                        unsigned col, const fs_version *loser)
{
    uint8_t in[11 + 2 + FS_ID_BYTES + 2 + 8 + FS_ID_BYTES];
    size_t n = 0;
    memcpy(in, "fs-conflict", 11);
    n = 11;
    in[n++] = (uint8_t)tix;
    in[n++] = (uint8_t)(tix >> 8);
    memcpy(in + n, row, FS_ID_BYTES);
    n += FS_ID_BYTES;
    in[n++] = (uint8_t)col;
    in[n++] = (uint8_t)(col >> 8);
    for (int i = 0; i < 8; i++)
        in[n++] = (uint8_t)(loser->hlc >> (8 * i));
    memcpy(in + n, loser->device, FS_ID_BYTES);
    n += FS_ID_BYTES;
    crypto_generichash(out, FS_ID_BYTES, in, n, NULL, 0);
}

/* Records that `loser` (the value currently in row/col) lost to `winner`. */
static int record_conflict(fs_replica *r, const fs__row *row, unsigned col,
                           const fs_version *loser, const fs_value *loser_value,
                           const fs_change *winner, size_t *count)
{
    uint8_t id[FS_ID_BYTES];
    fs__row cf;
    memset(&cf, 0, sizeof cf);
    conflict_id(id, row->tix, row->id, col, loser);
    int rc = fs__row_load(r, &cf, conflict_table(), id);
    if (rc != 0 || cf.exists) {
        fs__row_clear(&cf);
        return rc; /* found before, here or elsewhere: one record per loser */
    }
    unsigned cols[] = {CF_TBL,         CF_ROW,          CF_COL,
                       CF_LOSER_VALUE, CF_LOSER_HLC,    CF_LOSER_DEVICE,
                       CF_WINNER_VALUE, CF_WINNER_HLC,  CF_WINNER_DEVICE};
    fs_value vals[] = {fs_int(row->tix),
                       fs_blob(row->id, FS_ID_BYTES),
                       fs_int(col),
                       *loser_value,
                       fs_int((int64_t)loser->hlc),
                       fs_blob(loser->device, FS_ID_BYTES),
                       winner->value,
                       fs_int((int64_t)winner->version.hlc),
                       fs_blob(winner->version.device, FS_ID_BYTES)};
    rc = fs__local_write(r, &cf, cols, vals, sizeof cols / sizeof cols[0]);
    fs__row_clear(&cf);
    if (rc == 0)
        (*count)++;
    return rc;
}

/* ---- column groups ---- */

static fs_version version_at(fs_replica *r, const fs__row *row, unsigned c)
{
    fs_version v = {row->hlc[c], {0}};
    memcpy(v.device, fs__dev_id(r, row->dev[c]), FS_ID_BYTES);
    return v;
}

static void value_at(const fs__row *row, unsigned c, fs_value *out)
{
    if (row->set[c] != NULL)
        *out = *row->set[c];
    else
        fs__value_from_sqlite(row->old[c], out);
}

/* The newest version among the columns of group in row, *at its column. */
static fs_version group_top(fs_replica *r, const fs__row *row, uint32_t group, unsigned *at)
{
    fs_version top = {0, {0}};
    *at = 0;
    for (unsigned c = 1; c < row->t->ncolumns && c < 32; c++) {
        if (!(group & (1u << c)))
            continue;
        fs_version v = version_at(r, row, c);
        if (*at == 0 || fs_version_cmp(&v, &top) > 0) {
            top = v;
            *at = c;
        }
    }
    return top;
}

/* The columns of group that changes[i]'s write leaves alone although they
 * hold a write its writer did not see (an older device's write of one
 * column of a group). The write's changes are the run of this row's
 * changes in the batch with its version; the version it replaced is the
 * newest prev among them. */
static uint32_t unseen_columns(fs_replica *r, const fs__row *row, const fs_change *changes,
                               size_t n, size_t i, uint32_t group)
{
    const fs_change *ch = &changes[i];
    size_t lo = i, hi = i + 1;
    while (lo > 0 && changes[lo - 1].table == ch->table &&
           memcmp(changes[lo - 1].row, ch->row, FS_ID_BYTES) == 0)
        lo--;
    while (hi < n && changes[hi].table == ch->table &&
           memcmp(changes[hi].row, ch->row, FS_ID_BYTES) == 0)
        hi++;
    uint32_t carried = 0;
    fs_version seen = {0, {0}};
    for (size_t k = lo; k < hi; k++) {
        const fs_change *o = &changes[k];
        if (o->column >= 32 || !(group & (1u << o->column)) ||
            fs_version_cmp(&o->version, &ch->version) != 0)
            continue;
        carried |= 1u << o->column;
        if (fs_version_cmp(&o->prev, &seen) > 0)
            seen = o->prev;
    }
    /* A column's write was not seen when it came after the version the
     * writer replaced and also wrote a column the writer carries (the
     * writer then replaced an older version of that one). A write of other
     * columns only (a new row's status; a write whose other columns the
     * server refused) says nothing of what the writer saw: kept. */
    uint32_t unseen = 0;
    for (unsigned d = 1; d < row->t->ncolumns && d < 32; d++) {
        if (!(group & ~carried & (1u << d)) || row->hlc[d] == 0)
            continue;
        fs_version v = version_at(r, row, d);
        if (fs_version_cmp(&v, &seen) <= 0)
            continue;
        for (unsigned c = 1; c < row->t->ncolumns && c < 32; c++)
            if ((carried & (1u << c)) && row->hlc[c] == row->hlc[d] && row->dev[c] == row->dev[d])
                unseen |= 1u << d;
    }
    return unseen;
}

/* The server's decision on a row whose groups it decided against a column
 * (fieldsync/records.h): writes the columns of groups again at a fresh
 * clock, as its own write, with their current values, except that a
 * column of clear still older than its group's newest write is cleared and
 * its value kept in a conflict record. The write stores the row. */
static int decide_groups(fs_replica *r, fs__row *row, uint32_t groups, uint32_t clear,
                         size_t *count)
{
    unsigned cols[FS__MAX_COLUMNS];
    fs_value vals[FS__MAX_COLUMNS];
    size_t k = 0;
    int rc = 0;
    for (unsigned c = 1; rc == 0 && c < row->t->ncolumns && c < 32; c++) {
        if (!(groups & (1u << c)))
            continue;
        fs_value v;
        value_at(row, c, &v);
        if (clear & (1u << c)) {
            unsigned at;
            fs_version top = group_top(r, row, fs_record_group_of(row->tix, c), &at);
            fs_version mine = version_at(r, row, c);
            if (fs_version_cmp(&mine, &top) < 0 && v.type != FS_NULL) {
                fs_change winner;
                memset(&winner, 0, sizeof winner);
                winner.value = fs_null();
                winner.version = top;
                rc = record_conflict(r, row, c, &mine, &v, &winner, count);
                v = fs_null();
            }
        }
        cols[k] = c;
        vals[k] = v;
        k++;
    }
    return rc == 0 ? fs__local_write(r, row, cols, vals, k) : rc;
}

/* Checks changes as fs_apply does. check_clock 0: a clock however far ahead
 * of this machine's is taken (a device's pull: the server accepted it, and
 * a device never refuses its server's changes because of its own clock). */
static int validate(fs_replica *r, const fs_change *changes, size_t n, int check_clock)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    uint64_t limit = fs__now_ms(r) + r->opts.max_skew_ms;
    for (size_t i = 0; i < n; i++) {
        const fs_change *ch = &changes[i];
        if (ch->table >= nt || ch->column >= tables[ch->table].ncolumns)
            return fs__fail(r, FS_ESCHEMA, "change %zu names an unknown table or column", i);
        int rc = fs__value_check(r, &tables[ch->table], ch->column, &ch->value);
        if (rc != 0)
            return rc;
        if (ch->version.hlc == 0)
            return fs__fail(r, FS_EINVAL, "change %zu has no version", i);
        uint64_t ms = ch->version.hlc >> 16;
        if (check_clock && ms > limit)
            return fs__fail(r, FS_ECLOCK,
                            "change %zu is stamped %llu s ahead of this machine's clock", i,
                            (unsigned long long)((ms - limit + r->opts.max_skew_ms) / 1000));
    }
    return 0;
}

/* *out 1 when a device's version local of row's column c, replaced by a
 * change written on top of a newer version (prev above local), went
 * through the server: another device's, or this device's and acknowledged.
 * The server then judged it when the versions after it arrived (a loser
 * there is its own conflict record, which this device pulls with the row),
 * so the device does not judge it again. A device that did not see the
 * versions between (a compacted feed drops them, issue 21.1) would take
 * it for a loser that was not one. A write of this device the server has
 * not acknowledged is judged here: only this device holds it. */
static int server_judged(fs_replica *r, const fs__row *row, unsigned c, const fs_version *local,
                         int *out)
{
    *out = 1;
    if (memcmp(local->device, r->device, FS_ID_BYTES) != 0)
        return 0;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db,
                                 "SELECT 1 FROM changelog WHERE seq>(SELECT coalesce((SELECT v FROM"
                                 " meta WHERE k='acked_seq'),0)) AND tbl=?1 AND col=?2 AND row=?3"
                                 " AND hlc=?4 LIMIT 1",
                                 -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int(st, 1, (int)row->tix);
        sqlite3_bind_int(st, 2, (int)c);
        sqlite3_bind_blob(st, 3, row->id, FS_ID_BYTES, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)local->hlc);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (src == SQLITE_ROW)
        *out = 0;
    return src == SQLITE_ROW || src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "reading the change log");
}

enum { APPLY_CHECKED = 1, APPLY_ANY_CLOCK = 2 };

static int apply(fs_replica *r, const fs_change *changes, size_t n, fs_apply_stats *stats,
                 int how)
{
    fs_apply_stats st = {0, 0, 0};
    fs__row cur;
    int own = 0, loaded = 0;
    if (stats != NULL)
        *stats = st;
    if (n == 0)
        return 0;
    if (changes == NULL)
        return fs__fail(r, FS_EINVAL, "no changes given");
    int rc = (how & APPLY_CHECKED) ? 0 : validate(r, changes, n, !(how & APPLY_ANY_CLOCK));
    if (rc != 0)
        return rc;
    rc = fs__begin(r, &own);
    if (rc != 0)
        return rc;
    uint32_t decide = 0, clear = 0; /* the server's decisions on the loaded row's groups */
    memset(&cur, 0, sizeof cur);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const fs_change *ch = &changes[i];
        fs__hlc_observe(r, ch->version.hlc);
        if (!loaded || cur.tix != ch->table || memcmp(cur.id, ch->row, FS_ID_BYTES) != 0) {
            if (loaded && decide != 0)
                rc = decide_groups(r, &cur, decide, clear, &st.conflicts);
            else if (loaded && cur.dirty)
                rc = fs__row_store(r, &cur);
            decide = clear = 0;
            if (rc == 0)
                rc = fs__row_load(r, &cur, ch->table, ch->row);
            loaded = rc == 0;
            if (rc != 0)
                break;
        }
        unsigned c = ch->column;
        fs_version local = {cur.hlc[c], {0}};
        memcpy(local.device, fs__dev_id(r, cur.dev[c]), FS_ID_BYTES);
        int cmp_local = fs_version_cmp(&ch->version, &local);
        if (cmp_local < 0 && r->keep_feed && !(cur.t->flags & FS_TABLE_INTERNAL)) {
            /* The server keeps a pushed change that lost as a conflict
             * record itself: its writer may never pull the winner (a
             * customer handed away is purged from its laptop first; a
             * copy's write re-sent under its new id after a fork), and
             * would then never find the loss. The record's id is the
             * loser's, so a writer that finds it too writes the same one. */
            fs_change winner;
            memset(&winner, 0, sizeof winner);
            value_at(&cur, c, &winner.value);
            winner.version = local;
            rc = record_conflict(r, &cur, c, &ch->version, &ch->value, &winner, &st.conflicts);
            if (rc != 0)
                break;
        }
        if (cmp_local <= 0) {
            st.ignored++;
            continue;
        }
        uint32_t group = (cur.t->flags & FS_TABLE_INTERNAL) ? 0 : fs_record_group_of(ch->table, c);
        if (group != 0) {
            unsigned at;
            fs_version top = group_top(r, &cur, group, &at);
            int cmp = fs_version_cmp(&ch->version, &top);
            if (cmp < 0) {
                /* The group holds a newer write: this one lost its group,
                 * this column included. */
                fs_change winner;
                memset(&winner, 0, sizeof winner);
                value_at(&cur, c, &winner.value);
                winner.version = top;
                rc = record_conflict(r, &cur, c, &ch->version, &ch->value, &winner, &st.conflicts);
                if (rc != 0)
                    break;
                if (r->keep_feed)
                    decide |= group;
                st.ignored++;
                continue;
            }
            if (cmp > 0 && r->keep_feed) {
                uint32_t unseen = unseen_columns(r, &cur, changes, n, i, group);
                if (unseen != 0) {
                    decide |= group;
                    clear |= unseen;
                }
            }
        }
        int known = 0;
        if (local.hlc != 0 && !(cur.t->flags & FS_TABLE_INTERNAL) && !r->keep_feed &&
            fs_version_cmp(&ch->prev, &local) > 0)
            rc = server_judged(r, &cur, c, &local, &known);
        if (rc != 0)
            break;
        if (local.hlc != 0 && !(cur.t->flags & FS_TABLE_INTERNAL) && !known &&
            fs_version_cmp(&ch->prev, &local) != 0) {
            fs_value lv;
            if (cur.set[c] != NULL)
                lv = *cur.set[c];
            else
                fs__value_from_sqlite(cur.old[c], &lv);
            rc = record_conflict(r, &cur, c, &local, &lv, ch, &st.conflicts);
            if (rc != 0)
                break;
        }
        uint32_t idx = 0, prev_idx = 0;
        rc = fs__dev_index(r, ch->version.device, &idx);
        if (rc == 0 && r->keep_feed && ch->prev.hlc != 0)
            rc = fs__dev_index(r, ch->prev.device, &prev_idx);
        if (rc == 0)
            rc = fs__feed_append(r, ch->table, c, ch->row, &ch->value, ch->version.hlc, idx,
                                 ch->prev.hlc, prev_idx);
        if (rc != 0)
            break;
        cur.set[c] = &ch->value;
        cur.hlc[c] = ch->version.hlc;
        cur.dev[c] = idx;
        cur.dirty = 1;
        st.applied++;
    }
    if (rc == 0 && loaded && decide != 0)
        rc = decide_groups(r, &cur, decide, clear, &st.conflicts);
    else if (rc == 0 && loaded && cur.dirty)
        rc = fs__row_store(r, &cur);
    if (rc == 0)
        rc = fs__feed_flush(r);
    fs__row_clear(&cur);
    rc = fs__end(r, own, rc);
    if (rc == 0 && stats != NULL)
        *stats = st;
    return rc;
}

int fs_apply(fs_replica *r, const fs_change *changes, size_t n, fs_apply_stats *stats)
{
    return apply(r, changes, n, stats, 0);
}

int fs__apply_any_clock(fs_replica *r, const fs_change *changes, size_t n, fs_apply_stats *stats)
{
    return apply(r, changes, n, stats, APPLY_ANY_CLOCK);
}

int fs__apply_checked(fs_replica *r, const fs_change *changes, size_t n)
{
    return apply(r, changes, n, NULL, APPLY_CHECKED);
}

/* ---- reading and resolving conflicts ---- */

static void version_from(sqlite3_stmt *st, int hcol, int dcol, fs_version *v)
{
    memset(v, 0, sizeof *v);
    v->hlc = (uint64_t)sqlite3_column_int64(st, hcol);
    if (sqlite3_column_bytes(st, dcol) == FS_ID_BYTES)
        memcpy(v->device, sqlite3_column_blob(st, dcol), FS_ID_BYTES);
}

int fs_conflicts(fs_replica *r, int include_resolved, int (*cb)(const fs_conflict *, void *),
                 void *ctx)
{
    const char *sql = include_resolved
                          ? "SELECT id,tbl,row,col,loser_value,loser_hlc,loser_device,winner_value,"
                            "winner_hlc,winner_device,coalesce(status,0) FROM conflict"
                            " WHERE deleted=0 ORDER BY winner_hlc, id"
                          : "SELECT id,tbl,row,col,loser_value,loser_hlc,loser_device,winner_value,"
                            "winner_hlc,winner_device,coalesce(status,0) FROM conflict"
                            " WHERE deleted=0 AND coalesce(status,0)=0 ORDER BY winner_hlc, id";
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
    if (src != SQLITE_OK)
        return fs__dbfail(r, src, "reading conflicts");
    int rc = 0;
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        fs_conflict c;
        memset(&c, 0, sizeof c);
        if (sqlite3_column_bytes(st, 0) != FS_ID_BYTES || sqlite3_column_bytes(st, 2) != FS_ID_BYTES)
            continue;
        memcpy(c.id, sqlite3_column_blob(st, 0), FS_ID_BYTES);
        c.table = (uint16_t)sqlite3_column_int(st, 1);
        memcpy(c.row, sqlite3_column_blob(st, 2), FS_ID_BYTES);
        c.column = (uint16_t)sqlite3_column_int(st, 3);
        fs__value_from_sqlite(sqlite3_column_value(st, 4), &c.loser);
        version_from(st, 5, 6, &c.loser_version);
        fs__value_from_sqlite(sqlite3_column_value(st, 7), &c.winner);
        version_from(st, 8, 9, &c.winner_version);
        c.status = (fs_conflict_status)sqlite3_column_int(st, 10);
        rc = cb(&c, ctx);
    }
    sqlite3_finalize(st);
    if (rc == 0 && src != SQLITE_DONE && src != SQLITE_ROW)
        return fs__dbfail(r, src, "reading conflicts");
    return rc;
}

/* The open conflicts of the same losing write as cf on the other columns
 * of c's group (fieldsync/records.h): their losing values go back with
 * c's, so a restored "done" brings its done_at. Loaded into sib (*nsib of
 * them, room for FS_RECORD_MAX_GROUP); their columns and values are
 * appended to cols/vals (*k), the values pointing into sib. */
static int group_siblings(fs_replica *r, const fs__row *cf, unsigned tix, unsigned c, fs__row *sib,
                          size_t *nsib, unsigned *cols, fs_value *vals, size_t *k)
{
    uint32_t group = fs_record_group_of(tix, c) & ~(c < 32 ? 1u << c : 0);
    fs_version loser;
    memset(&loser, 0, sizeof loser);
    if (cf->old[CF_LOSER_HLC] != NULL)
        loser.hlc = (uint64_t)sqlite3_value_int64(cf->old[CF_LOSER_HLC]);
    if (cf->old[CF_LOSER_DEVICE] != NULL &&
        sqlite3_value_bytes(cf->old[CF_LOSER_DEVICE]) == FS_ID_BYTES)
        memcpy(loser.device, sqlite3_value_blob(cf->old[CF_LOSER_DEVICE]), FS_ID_BYTES);
    const uint8_t *row = sqlite3_value_blob(cf->old[CF_ROW]);
    for (unsigned d = 1; d < 32 && group != 0 && *nsib < FS_RECORD_MAX_GROUP; d++) {
        if (!(group & (1u << d)))
            continue;
        uint8_t id[FS_ID_BYTES];
        conflict_id(id, tix, row, d, &loser);
        fs__row *one = &sib[*nsib];
        int rc = fs__row_load(r, one, conflict_table(), id);
        if (rc != 0)
            return rc;
        int open = one->exists && !(one->old[0] && sqlite3_value_int(one->old[0]) != 0) &&
                   !(one->old[CF_STATUS] && sqlite3_value_int64(one->old[CF_STATUS]) != 0);
        if (!open) {
            fs__row_clear(one);
            continue;
        }
        cols[*k] = d;
        fs__value_from_sqlite(one->old[CF_LOSER_VALUE], &vals[*k]);
        (*k)++;
        (*nsib)++;
    }
    return 0;
}

/* Marks the conflict id resolved as `how`; RESTORED writes the losing value
 * back, DECIDED writes *v (both as new local writes of the field). A
 * grouped column's value goes back with its group: the losing values of
 * the same write, from their open conflicts (restored with it), else the
 * values the row holds. */
static int settle(fs_replica *r, const uint8_t id[FS_ID_BYTES], fs_conflict_status how,
                  const fs_value *given)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    fs__row cf, target, sib[FS_RECORD_MAX_GROUP];
    size_t nsib = 0;
    int own = 0;
    memset(&cf, 0, sizeof cf);
    memset(&target, 0, sizeof target);
    memset(sib, 0, sizeof sib);
    int rc = fs__begin(r, &own);
    if (rc != 0)
        return rc;
    rc = fs__row_load(r, &cf, conflict_table(), id);
    if (rc == 0 && !cf.exists)
        rc = fs__fail(r, FS_ENOTFOUND, "no such conflict");
    if (rc == 0 && (how == FS_CONFLICT_RESTORED || how == FS_CONFLICT_DECIDED)) {
        int64_t tix = cf.old[CF_TBL] ? sqlite3_value_int64(cf.old[CF_TBL]) : -1;
        int64_t col = cf.old[CF_COL] ? sqlite3_value_int64(cf.old[CF_COL]) : -1;
        if (tix < 0 || tix >= (int64_t)nt || col < 0 || col >= tables[tix].ncolumns ||
            cf.old[CF_ROW] == NULL || sqlite3_value_bytes(cf.old[CF_ROW]) != FS_ID_BYTES)
            rc = fs__fail(r, FS_EFORMAT, "the conflict record is incomplete");
        if (rc == 0)
            rc = fs__row_load(r, &target, (unsigned)tix, sqlite3_value_blob(cf.old[CF_ROW]));
        if (rc == 0) {
            unsigned c = (unsigned)col;
            fs_value v;
            if (given != NULL) {
                v = *given;
                rc = fs__value_check(r, &tables[tix], c, &v);
            } else {
                fs__value_from_sqlite(cf.old[CF_LOSER_VALUE], &v);
            }
            /* The value restored or decided takes its group along. */
            unsigned cols[FS__MAX_COLUMNS] = {c};
            fs_value vals[FS__MAX_COLUMNS] = {v};
            size_t k = 1;
            if (rc == 0 && how == FS_CONFLICT_RESTORED)
                rc = group_siblings(r, &cf, (unsigned)tix, c, sib, &nsib, cols, vals, &k);
            fs__group_complete(&target, cols, vals, &k);
            if (rc == 0)
                rc = fs__local_write(r, &target, cols, vals, k);
        }
    }
    for (size_t i = 0; i <= nsib && rc == 0; i++) {
        unsigned c = CF_STATUS;
        fs_value v = fs_int(how);
        rc = fs__local_write(r, i < nsib ? &sib[i] : &cf, &c, &v, 1);
    }
    for (size_t i = 0; i < FS_RECORD_MAX_GROUP; i++)
        fs__row_clear(&sib[i]);
    fs__row_clear(&cf);
    fs__row_clear(&target);
    return fs__end(r, own, rc);
}

int fs_conflict_resolve(fs_replica *r, const uint8_t id[FS_ID_BYTES], fs_conflict_status how)
{
    if (how != FS_CONFLICT_KEPT && how != FS_CONFLICT_RESTORED)
        return fs__fail(r, FS_EINVAL, "a conflict is resolved by keeping or restoring");
    return settle(r, id, how, NULL);
}

int fs_conflict_decide(fs_replica *r, const uint8_t id[FS_ID_BYTES], const fs_value *v)
{
    if (v == NULL)
        return fs__fail(r, FS_EINVAL, "a decided conflict needs its value");
    return settle(r, id, FS_CONFLICT_DECIDED, v);
}
