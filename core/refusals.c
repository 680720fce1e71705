/*
 * The server's refusals of this device's changes, kept in the replica's
 * local table `refused` (replica_int.h) until the rep puts each right:
 * numbered, dated, with the value the change sent. Reverting takes the
 * server's value back without a change of its own; retrying sends the
 * record's refused values again with a new clock. Nothing here syncs
 * except what a retry writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync/reason.h"
#include "fieldsync/records.h"

#include "replica_int.h"

/* ---- the table's shape ---- */

/* 1 if the refused table has column name. */
static int has_column(fs_replica *r, const char *name, int *out)
{
    sqlite3_stmt *st = NULL;
    *out = 0;
    int src =
        sqlite3_prepare_v2(r->db, "SELECT name FROM pragma_table_info('refused')", -1, &st, NULL);
    while (src == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *c = (const char *)sqlite3_column_text(st, 0);
        if (c != NULL && strcmp(c, name) == 0)
            *out = 1;
    }
    sqlite3_finalize(st);
    return src == SQLITE_OK ? 0 : fs__dbfail(r, src, "reading the refusals' table");
}

int fs__refusals_upgrade(fs_replica *r)
{
    int has = 0;
    int rc = has_column(r, "n", &has);
    if (rc != 0 || has)
        return rc;
    /* Numbers in the order the list shows them; the values sent from the
     * change log, where every local change stays. */
    rc = fs__exec(
        r,
        "BEGIN IMMEDIATE;"
        "ALTER TABLE refused ADD COLUMN n INTEGER;"
        "ALTER TABLE refused ADD COLUMN at_ms INTEGER;"
        "ALTER TABLE refused ADD COLUMN sent;"
        "ALTER TABLE refused ADD COLUMN reverted INTEGER NOT NULL DEFAULT 0;"
        "UPDATE refused SET n = (SELECT count(*) FROM refused AS o WHERE o.hlc < refused.hlc"
        " OR (o.hlc = refused.hlc AND (o.tbl < refused.tbl OR (o.tbl = refused.tbl"
        " AND (o.row < refused.row OR (o.row = refused.row AND o.col <= refused.col)))))),"
        " sent = (SELECT value FROM changelog AS c WHERE c.tbl = refused.tbl"
        " AND c.col = refused.col AND c.row = refused.row AND c.hlc = refused.hlc);"
        "COMMIT;",
        "upgrading the refusals' table");
    if (rc != 0)
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* ---- recording and reading ---- */

int fs_replica_record_refusal(fs_replica *r, uint16_t table, const uint8_t row[FS_ID_BYTES],
                              uint16_t column, uint64_t hlc, uint32_t reason, const char *text,
                              size_t text_len)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    if (table >= nt || column >= tables[table].ncolumns)
        return fs__fail(r, FS_ESCHEMA, "refusal of a change to an unknown table or column");
    if (text_len > 1024 || (text_len > 0 && (text == NULL || !fs_utf8_valid(text, text_len))))
        return fs__fail(r, FS_EINVAL, "refusal text is not short UTF-8");
    /* The value sent: a change the server just refused is one it had not
     * acknowledged (REJECT comes before the ACK), so the search stays in
     * the log's unacknowledged tail. */
    sqlite3_stmt *st = NULL;
    fs__touch(r);
    int src = sqlite3_prepare_v2(
        r->db,
        "INSERT INTO refused(tbl,row,col,hlc,reason,text,n,at_ms,sent)"
        " VALUES(?1,?2,?3,?4,?5,?6,(SELECT coalesce(max(n),0)+1 FROM refused),?7,"
        " (SELECT value FROM changelog WHERE seq > (SELECT v FROM meta WHERE k='acked_seq')"
        " AND tbl=?1 AND col=?3 AND row=?2 AND hlc=?4))"
        " ON CONFLICT(tbl,row,col,hlc) DO UPDATE SET reason=excluded.reason, text=excluded.text",
        -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int(st, 1, table);
        sqlite3_bind_blob(st, 2, row, FS_ID_BYTES, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, column);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)hlc);
        sqlite3_bind_int64(st, 5, reason);
        sqlite3_bind_text(st, 6, text_len ? text : "", (int)text_len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)fs__now_ms(r));
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "recording a refusal");
}

#define SELECT_REFUSALS "SELECT tbl,row,col,hlc,reason,text,n,at_ms,sent,reverted FROM refused"

/* Walks the refusals sql selects (SELECT_REFUSALS and a tail; ?1 bound to
 * arg when have_arg). *seen counts them. */
static int walk(fs_replica *r, const char *sql, int have_arg, uint64_t arg,
                int (*cb)(const fs_refusal *, void *), void *ctx, size_t *seen)
{
    sqlite3_stmt *st = NULL;
    *seen = 0;
    int src = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
    if (src != SQLITE_OK)
        return fs__dbfail(r, src, "reading refusals");
    if (have_arg)
        sqlite3_bind_int64(st, 1, (sqlite3_int64)arg);
    int rc = 0;
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        fs_refusal f;
        memset(&f, 0, sizeof f);
        if (sqlite3_column_bytes(st, 1) != FS_ID_BYTES)
            continue;
        f.table = (uint16_t)sqlite3_column_int(st, 0);
        memcpy(f.row, sqlite3_column_blob(st, 1), FS_ID_BYTES);
        f.column = (uint16_t)sqlite3_column_int(st, 2);
        f.hlc = (uint64_t)sqlite3_column_int64(st, 3);
        f.reason = (uint32_t)sqlite3_column_int64(st, 4);
        f.text = (const char *)sqlite3_column_text(st, 5);
        f.text_len = (size_t)sqlite3_column_bytes(st, 5);
        f.id = (uint64_t)sqlite3_column_int64(st, 6);
        f.at_ms = (uint64_t)sqlite3_column_int64(st, 7);
        fs__value_from_sqlite(sqlite3_column_value(st, 8), &f.sent);
        f.auto_reverted = sqlite3_column_int(st, 9) == FS__REFUSAL_AUTO_REVERTED;
        (*seen)++;
        rc = cb(&f, ctx);
    }
    sqlite3_finalize(st);
    if (rc == 0 && src != SQLITE_DONE && src != SQLITE_ROW)
        return fs__dbfail(r, src, "reading refusals");
    return rc;
}

int fs_refusals(fs_replica *r, int (*cb)(const fs_refusal *, void *), void *ctx)
{
    size_t seen;
    return walk(r, SELECT_REFUSALS " WHERE reverted IN (0,2) ORDER BY n, hlc", 0, 0, cb, ctx,
                &seen);
}

int fs_refusal_get(fs_replica *r, uint64_t id, int (*cb)(const fs_refusal *, void *), void *ctx)
{
    size_t seen;
    int rc = walk(r, SELECT_REFUSALS " WHERE n=?1 AND reverted IN (0,2)", 1, id, cb, ctx, &seen);
    if (rc == 0 && seen == 0)
        return fs__fail(r, FS_ENOTFOUND, "no refused change number %llu", (unsigned long long)id);
    return rc;
}

/* ---- what the server heard of every device's (refusal_tally) ---- */

/* Copies a text cell into buf of size; 0 if it does not fit or is not text. */
static int text_cell(const fs_value *v, char *buf, size_t size)
{
    if (v->type != FS_TEXT || v->n == 0 || v->n >= size)
        return 0;
    memcpy(buf, v->p, v->n);
    buf[v->n] = '\0';
    return 1;
}

int fs_refusal_tallies(fs_replica *r, const char *rep,
                       int (*cb)(const fs_refusal_tally *, void *), void *ctx)
{
    fs_rows *it = NULL;
    fs_value eq = rep != NULL ? fs_textn(rep, strlen(rep)) : fs_null();
    int rc = fs_rows_open(&it, r, "refusal_tally", rep != NULL ? "rep" : NULL,
                          rep != NULL ? &eq : NULL, "rep");
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        fs_refusal_tally t;
        fs_value rv, dv, ov, why, at;
        memset(&t, 0, sizeof t);
        rc = 0;
        if (fs_rows_get(it, "rep", &rv) != 0 || fs_rows_get(it, "device", &dv) != 0 ||
            fs_rows_get(it, "open", &ov) != 0 || fs_rows_get(it, "reason", &why) != 0 ||
            fs_rows_get(it, "at", &at) != 0)
            continue;
        if (!text_cell(&rv, t.rep, sizeof t.rep) || !text_cell(&dv, t.device, sizeof t.device) ||
            ov.type != FS_INT || ov.i < 0 || at.type != FS_INT || at.i < 0 ||
            (why.type == FS_INT && (why.i < 0 || why.i > UINT32_MAX)))
            continue;
        t.open = (uint64_t)ov.i;
        t.reason = why.type == FS_INT ? (uint32_t)why.i : 0;
        t.at_ms = (uint64_t)at.i;
        t.id = fs_rows_id(it);
        rc = cb(&t, ctx);
    }
    fs_rows_close(it);
    return rc > 0 ? 0 : rc;
}

/* ---- putting a record right ---- */

#define MAX_REFUSED FS__MAX_COLUMNS

/* The record refusal id belongs to, and its refused changes (column and
 * clock; at most one per column: the newest). */
typedef struct refused_record {
    unsigned tix;
    uint8_t row[FS_ID_BYTES];
    size_t n;
    unsigned col[MAX_REFUSED];
    uint64_t hlc[MAX_REFUSED];
} refused_record;

static int find_record(fs_replica *r, uint64_t id, refused_record *rec)
{
    memset(rec, 0, sizeof *rec);
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db, "SELECT tbl,row FROM refused WHERE n=?1 AND reverted=0", -1,
                                 &st, NULL);
    int found = 0;
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 1) == FS_ID_BYTES) {
            rec->tix = (unsigned)sqlite3_column_int(st, 0);
            memcpy(rec->row, sqlite3_column_blob(st, 1), FS_ID_BYTES);
            found = 1;
        }
    }
    sqlite3_finalize(st);
    if (src != SQLITE_OK)
        return fs__dbfail(r, src, "reading refusals");
    unsigned nt;
    fs_schema_tables(&nt);
    if (!found || rec->tix >= nt)
        return fs__fail(r, FS_ENOTFOUND, "no refused change number %llu", (unsigned long long)id);
    src = sqlite3_prepare_v2(
        r->db,
        "SELECT col, max(hlc) FROM refused WHERE tbl=?1 AND row=?2 AND reverted=0"
        " GROUP BY col",
        -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int(st, 1, (int)rec->tix);
        sqlite3_bind_blob(st, 2, rec->row, FS_ID_BYTES, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW && rec->n < MAX_REFUSED) {
            rec->col[rec->n] = (unsigned)sqlite3_column_int(st, 0);
            rec->hlc[rec->n] = (uint64_t)sqlite3_column_int64(st, 1);
            rec->n++;
        }
    }
    sqlite3_finalize(st);
    return src == SQLITE_OK ? 0 : fs__dbfail(r, src, "reading refusals");
}

/* Takes the record's refusals off the list: deleted after a retry (the
 * values are in the log again, newer), kept as reverted after a revert (the
 * row holds an older value than the log then, on purpose). */
static int clear_record(fs_replica *r, const refused_record *rec, int reverted, size_t *cleared)
{
    sqlite3_stmt *st = NULL;
    fs__touch(r);
    int src = sqlite3_prepare_v2(r->db,
                                 reverted ? "UPDATE refused SET reverted=?3 WHERE tbl=?1 AND row=?2"
                                            " AND reverted=0"
                                          : "DELETE FROM refused WHERE tbl=?1 AND row=?2"
                                            " AND reverted=0",
                                 -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int(st, 1, (int)rec->tix);
        sqlite3_bind_blob(st, 2, rec->row, FS_ID_BYTES, SQLITE_STATIC);
        if (reverted)
            sqlite3_bind_int(st, 3, reverted);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return fs__dbfail(r, src, "clearing refusals");
    *cleared = (size_t)sqlite3_changes(r->db);
    return 0;
}

/* The change log's entry of this device's change (tbl, col, row, hlc): the
 * version it replaced, and optionally its value into *value (a
 * sqlite3_value_dup the caller frees). FS_ENOTFOUND if it is not there. */
static int logged(fs_replica *r, unsigned tix, unsigned col, const uint8_t row[FS_ID_BYTES],
                  uint64_t hlc, uint64_t *prev_hlc, uint32_t *prev_dev, sqlite3_value **value)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db,
                                 "SELECT prev_hlc, prev_dev, value FROM changelog WHERE tbl=?1"
                                 " AND col=?2 AND row=?3 AND hlc=?4 ORDER BY seq DESC LIMIT 1",
                                 -1, &st, NULL);
    int rc = FS_ENOTFOUND;
    if (src == SQLITE_OK) {
        sqlite3_bind_int(st, 1, (int)tix);
        sqlite3_bind_int(st, 2, (int)col);
        sqlite3_bind_blob(st, 3, row, FS_ID_BYTES, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)hlc);
        if (sqlite3_step(st) == SQLITE_ROW) {
            rc = 0;
            if (prev_hlc != NULL)
                *prev_hlc = (uint64_t)sqlite3_column_int64(st, 0);
            if (prev_dev != NULL)
                *prev_dev = (uint32_t)sqlite3_column_int64(st, 1);
            if (value != NULL) {
                *value = sqlite3_value_dup(sqlite3_column_value(st, 2));
                if (*value == NULL)
                    rc = fs__fail(r, FS_ENOMEM, "out of memory");
            }
        }
    }
    sqlite3_finalize(st);
    return src == SQLITE_OK ? rc : fs__dbfail(r, src, "reading the change log");
}

/* Removes the row here without a change of its own (the server never had
 * it, so there is nothing to tell it). */
static int remove_row(fs_replica *r, unsigned tix, const uint8_t row[FS_ID_BYTES])
{
    return fs__delete_row(r, tix, row, "removing a refused record");
}

/* revert's work inside its transaction. */
static int revert_record(fs_replica *r, const refused_record *rec, fs__row *row,
                         sqlite3_value **restored, fs_refusal_outcome *out)
{
    int rc = fs__row_load(r, row, rec->tix, rec->row);
    if (rc != 0 || !row->exists)
        return rc;                    /* gone already (purged): only the refusals remain */
    int fresh[FS__MAX_COLUMNS] = {0}; /* refused, with nothing before it */
    for (size_t k = 0; rc == 0 && k < rec->n; k++) {
        unsigned c = rec->col[k];
        if (c >= row->t->ncolumns || row->hlc[c] != rec->hlc[k] || row->dev[c] != r->device_idx)
            continue; /* moved on since: left as it is */
        uint64_t prev_hlc = 0;
        uint32_t prev_dev = 0;
        rc = logged(r, rec->tix, c, rec->row, rec->hlc[k], &prev_hlc, &prev_dev, NULL);
        if (rc == FS_ENOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc != 0)
            break;
        if (prev_hlc == 0) {
            fresh[c] = 1;
        } else if (prev_dev == r->device_idx &&
                   logged(r, rec->tix, c, rec->row, prev_hlc, NULL, NULL, &restored[c]) == 0) {
            sqlite3_value_free(row->old[c]);
            row->old[c] = restored[c]; /* the row owns it now */
            restored[c] = NULL;
            row->hlc[c] = prev_hlc;
            row->dev[c] = prev_dev;
        } else { /* the server's value: it comes again with a full pull */
            sqlite3_value_free(row->old[c]);
            row->old[c] = NULL;
            row->hlc[c] = 0;
            row->dev[c] = 0;
            out->repull = 1;
        }
        if (!fresh[c])
            out->changed++;
    }
    if (rc != 0)
        return rc;
    int is_new = 1, any_fresh = 0;
    for (unsigned c = 0; c < row->t->ncolumns; c++) {
        any_fresh |= fresh[c];
        if (row->hlc[c] != 0 && !fresh[c])
            is_new = 0;
    }
    if (any_fresh && is_new) {
        out->removed = 1;
        for (unsigned c = 0; c < row->t->ncolumns; c++)
            out->changed += (size_t)fresh[c];
        return remove_row(r, rec->tix, rec->row);
    }
    int empty = 1;
    for (unsigned c = 0; c < row->t->ncolumns; c++) {
        if (fresh[c]) { /* a column the server never had a value of: emptied */
            sqlite3_value_free(row->old[c]);
            row->old[c] = NULL;
            row->hlc[c] = 0;
            row->dev[c] = 0;
            out->changed++;
        }
        empty &= row->hlc[c] == 0;
    }
    /* Every value it held was the server's, each to come again with the
     * pull: a row with none is no record. Removed, so that pull brings it
     * back if the server still shares it with this user, and nothing is
     * left if not (a customer zhang's laptop sent back, lost25b, that the
     * server holds as wang's: FS_FAULT_ALL seed 288). */
    if (out->changed > 0 && empty)
        return remove_row(r, rec->tix, rec->row);
    return out->changed > 0 ? fs__row_store(r, row) : 0;
}

/* Reverts the record of refusal id, its refusals marked `mark`. */
static int revert_marked(fs_replica *r, uint64_t id, int mark, fs_refusal_outcome *out)
{
    memset(out, 0, sizeof *out);
    refused_record rec;
    int rc = find_record(r, id, &rec);
    if (rc != 0)
        return rc;
    fs__row row;
    sqlite3_value *restored[FS__MAX_COLUMNS] = {NULL};
    memset(&row, 0, sizeof row);
    int own = 0;
    rc = fs__begin(r, &own);
    if (rc != 0)
        return rc;
    rc = revert_record(r, &rec, &row, restored, out);
    if (rc == 0)
        rc = clear_record(r, &rec, mark, &out->cleared);
    if (rc == 0 && out->repull)
        rc = fs__exec(r, "UPDATE meta SET v=0 WHERE k='cursor'", "setting the cursor back");
    fs__row_clear(&row);
    for (unsigned c = 0; c < FS__MAX_COLUMNS; c++)
        sqlite3_value_free(restored[c]);
    return fs__end(r, own, rc);
}

int fs_refusal_revert(fs_replica *r, uint64_t id, fs_refusal_outcome *out)
{
    return revert_marked(r, id, 1, out);
}

/* The numbers of open refusals of hand-overs, up to max. */
typedef struct handover_walk {
    uint64_t ids[64];
    size_t n;
} handover_walk;

static int handover_cb(const fs_refusal *f, void *ctx)
{
    handover_walk *w = ctx;
    if (f->auto_reverted || !fs_record_is_handover(f->table, f->column))
        return 0;
    /* refused for its record, not for the new owner: the server lost the
     * record (or what it belongs to), which goes again whole with the
     * owner this device holds (fs_refusals_resend_lost); undone, the
     * owner would go back to a write refused with it, and the record
     * would never go again */
    if (f->reason == FS_REASON_LOST || f->reason == FS_REASON_PARENT)
        return 0;
    w->ids[w->n++] = f->id;
    return w->n == sizeof w->ids / sizeof w->ids[0]; /* the rest at the next call */
}

int fs_refusals_revert_handovers(fs_replica *r, size_t *records, int *repull)
{
    *records = 0;
    *repull = 0;
    for (;;) {
        handover_walk w;
        w.n = 0;
        int rc = fs_refusals(r, handover_cb, &w);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < w.n; i++) {
            fs_refusal_outcome out;
            rc = revert_marked(r, w.ids[i], FS__REFUSAL_AUTO_REVERTED, &out);
            if (rc == FS_ENOTFOUND)
                continue; /* its record's, reverted with an earlier one */
            if (rc != 0)
                return rc;
            (*records)++;
            *repull |= out.repull;
        }
        if (w.n < sizeof w.ids / sizeof w.ids[0])
            return 0;
    }
}

int fs_refusal_retry(fs_replica *r, uint64_t id, fs_refusal_outcome *out)
{
    memset(out, 0, sizeof *out);
    refused_record rec;
    int rc = find_record(r, id, &rec);
    if (rc != 0)
        return rc;
    fs__row row;
    memset(&row, 0, sizeof row);
    int own = 0;
    rc = fs__begin(r, &own);
    if (rc != 0)
        return rc;
    rc = fs__row_load(r, &row, rec.tix, rec.row);
    if (rc == 0 && !row.exists) {
        char hex[2 * FS_ID_BYTES + 1];
        fs_id_to_hex(rec.row, hex);
        rc = fs__fail(r, FS_ENOTFOUND, "the %s %.8s is no longer on this device", row.t->name, hex);
    }
    unsigned cols[MAX_REFUSED];
    fs_value vals[MAX_REFUSED];
    size_t n = 0;
    for (size_t k = 0; rc == 0 && k < rec.n; k++) {
        unsigned c = rec.col[k];
        if (c >= row.t->ncolumns)
            continue;
        cols[n] = c;
        if (row.old[c] != NULL)
            fs__value_from_sqlite(row.old[c], &vals[n]);
        else
            vals[n] = fs_null();
        n++;
    }
    if (rc == 0 && n > 0)
        rc = fs__local_write(r, &row, cols, vals, n);
    if (rc == 0) {
        out->changed = n;
        rc = clear_record(r, &rec, 0, &out->cleared);
    }
    fs__row_clear(&row);
    return fs__end(r, own, rc);
}

/* The records of open refusals for a missing parent, one entry each, up
 * to 64. */
typedef struct parent_walk {
    uint64_t ids[64];
    unsigned tix[64];
    uint8_t row[64][FS_ID_BYTES];
    size_t n;
} parent_walk;

static int parent_cb(const fs_refusal *f, void *ctx)
{
    parent_walk *w = ctx;
    if (f->auto_reverted || f->reason != FS_REASON_PARENT)
        return 0;
    for (size_t k = 0; k < w->n; k++)
        if (w->tix[k] == f->table && memcmp(w->row[k], f->row, FS_ID_BYTES) == 0)
            return 0;
    w->ids[w->n] = f->id;
    w->tix[w->n] = f->table;
    memcpy(w->row[w->n], f->row, FS_ID_BYTES);
    w->n++;
    return w->n == sizeof w->ids / sizeof w->ids[0];
}

/* 1 in *out if row (of table tix) refers by an ID column to a row one of
 * the n changes is of. */
static int refers_to_pulled(fs_replica *r, unsigned tix, const uint8_t id[FS_ID_BYTES],
                            const fs_change *changes, size_t n, int *out)
{
    *out = 0;
    fs__row row;
    memset(&row, 0, sizeof row);
    int rc = fs__row_load(r, &row, tix, id);
    for (unsigned c = 0; rc == 0 && row.exists && !*out && c < row.t->ncolumns; c++) {
        const fs_column *col = &row.t->columns[c];
        if (col->type != FS_COL_ID || col->ref == NULL || row.old[c] == NULL ||
            sqlite3_value_type(row.old[c]) != SQLITE_BLOB ||
            sqlite3_value_bytes(row.old[c]) != FS_ID_BYTES)
            continue;
        int ref = fs_schema_table_index(col->ref);
        const void *parent = sqlite3_value_blob(row.old[c]);
        for (size_t i = 0; i < n && !*out; i++)
            if ((int)changes[i].table == ref && memcmp(changes[i].row, parent, FS_ID_BYTES) == 0)
                *out = 1;
    }
    fs__row_clear(&row);
    return rc;
}

int fs_refusals_retry_parents(fs_replica *r, const fs_change *changes, size_t n, size_t *records)
{
    *records = 0;
    if (n == 0)
        return 0;
    parent_walk w;
    w.n = 0;
    int rc = fs_refusals(r, parent_cb, &w);
    if (rc < 0)
        return rc;
    for (size_t k = 0; k < w.n; k++) {
        int hit = 0;
        rc = refers_to_pulled(r, w.tix[k], w.row[k], changes, n, &hit);
        if (rc != 0)
            return rc;
        if (!hit)
            continue;
        fs_refusal_outcome out;
        rc = fs_refusal_retry(r, w.ids[k], &out);
        if (rc == FS_ENOTFOUND)
            continue; /* the record is gone from this device: nothing to send */
        if (rc != 0)
            return rc;
        (*records)++;
    }
    return 0;
}

/* ---- records the server lost (issue 25) ---- */

/* The open refusals of one walk that may mean the server lost a record
 * (FS_REASON_LOST, FS_REASON_PARENT), and the records with an open
 * refusal of another reason, which are never written again here. */
#define LOST_MAX 64
#define BLOCKED_MAX 256
#define WRITTEN_MAX 512
typedef struct lost_walk {
    uint64_t now_ms, grace_ms;
    size_t n, nblocked;
    uint64_t ids[LOST_MAX];
    unsigned tix[LOST_MAX];
    uint32_t reason[LOST_MAX];
    uint8_t row[LOST_MAX][FS_ID_BYTES];
    unsigned btix[BLOCKED_MAX];
    uint8_t brow[BLOCKED_MAX][FS_ID_BYTES];
    /* the records this walk wrote whole: a second refusal naming one (a
     * child's PARENT after the record's own LOST) finds it sent */
    size_t nwritten;
    unsigned wtix[WRITTEN_MAX];
    uint8_t wrow[WRITTEN_MAX][FS_ID_BYTES];
    int marked; /* write_whole met a record written whole in an earlier walk */
} lost_walk;

static int lost_cb(const fs_refusal *f, void *ctx)
{
    lost_walk *w = ctx;
    if (f->auto_reverted)
        return 0;
    if (f->reason != FS_REASON_LOST && f->reason != FS_REASON_PARENT) {
        if (w->nblocked < BLOCKED_MAX) {
            w->btix[w->nblocked] = f->table;
            memcpy(w->brow[w->nblocked], f->row, FS_ID_BYTES);
            w->nblocked++;
        }
        return 0;
    }
    /* young: what it belongs to may still come from the device that wrote
     * it (a clock set back further than the grace counts as old) */
    if (f->at_ms != 0 && w->now_ms < f->at_ms + w->grace_ms && w->now_ms + w->grace_ms >= f->at_ms)
        return 0;
    for (size_t k = 0; k < w->n; k++)
        if (w->tix[k] == f->table && memcmp(w->row[k], f->row, FS_ID_BYTES) == 0)
            return 0;
    if (w->n == LOST_MAX)
        return 0; /* the rest at the next call */
    w->ids[w->n] = f->id;
    w->tix[w->n] = f->table;
    w->reason[w->n] = f->reason;
    memcpy(w->row[w->n], f->row, FS_ID_BYTES);
    w->n++;
    return 0;
}

static int blocked(const lost_walk *w, unsigned tix, const uint8_t row[FS_ID_BYTES])
{
    for (size_t k = 0; k < w->nblocked; k++)
        if (w->btix[k] == tix && memcmp(w->brow[k], row, FS_ID_BYTES) == 0)
            return 1;
    return 0;
}

/* The meta key that says a record was written again whole in this feed
 * epoch: once per record and epoch, so a server that keeps refusing its
 * children never makes this device write it at every sync. */
static void resent_key(unsigned tix, const uint8_t row[FS_ID_BYTES], char key[64])
{
    char hex[2 * FS_ID_BYTES + 1];
    fs_id_to_hex(row, hex);
    snprintf(key, 64, "resent_whole:%u:%s", tix, hex);
}

/* Writes every column of the record (tix, row) that was ever written, with
 * its value here, as this device's write: the record reaches the server
 * whole again. *done 1 when it was written, by this call or earlier in
 * the same walk (w); 0 when the record is not on this device, has a
 * refusal of another kind open, or was written again whole in an earlier
 * walk of this epoch. */
static int write_whole(fs_replica *r, lost_walk *w, unsigned tix,
                       const uint8_t row[FS_ID_BYTES], int *done)
{
    *done = 0;
    if (blocked(w, tix, row))
        return 0;
    for (size_t k = 0; k < w->nwritten; k++)
        if (w->wtix[k] == tix && memcmp(w->wrow[k], row, FS_ID_BYTES) == 0) {
            *done = 1; /* in this walk: it goes before what is retried after it */
            return 0;
        }
    char key[64];
    resent_key(tix, row, key);
    uint64_t seen = 0;
    sqlite3_stmt *st = NULL;
    int rc = fs__prepare(r, "SELECT 1 FROM meta WHERE k=?1", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    seen = src == SQLITE_ROW;
    sqlite3_finalize(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return fs__dbfail(r, src, "reading refusals");
    w->marked |= seen;
    if (seen)
        return 0;
    fs__row cur;
    memset(&cur, 0, sizeof cur);
    rc = fs__row_load(r, &cur, tix, row);
    unsigned cols[FS__MAX_COLUMNS];
    fs_value vals[FS__MAX_COLUMNS];
    size_t n = 0;
    for (unsigned c = 1; rc == 0 && cur.exists && c < cur.t->ncolumns; c++) {
        if (cur.hlc[c] == 0)
            continue; /* never written: nothing to say */
        cols[n] = c;
        if (cur.old[c] != NULL)
            fs__value_from_sqlite(cur.old[c], &vals[n]);
        else
            vals[n] = fs_null();
        n++;
    }
    if (rc == 0 && n > 0) {
        fs__group_complete(&cur, cols, vals, &n);
        rc = fs__local_write(r, &cur, cols, vals, n);
        if (rc == 0)
            rc = fs__meta_put(r, key, (sqlite3_int64)fs__now_ms(r), NULL, "reading refusals");
        *done = rc == 0;
        if (rc == 0 && w->nwritten < WRITTEN_MAX) {
            w->wtix[w->nwritten] = tix;
            memcpy(w->wrow[w->nwritten++], row, FS_ID_BYTES);
        }
    }
    fs__row_clear(&cur);
    return rc;
}

/* The records row (of table tix) refers to by its ID columns that this
 * device holds: what a PARENT refusal may be about. */
static int write_parents(fs_replica *r, lost_walk *w, unsigned tix,
                         const uint8_t row[FS_ID_BYTES], int depth, int *any)
{
    if (depth > 4)
        return 0; /* a visit's commitment's customer is three: no deeper chain */
    fs__row cur;
    memset(&cur, 0, sizeof cur);
    int rc = fs__row_load(r, &cur, tix, row);
    uint8_t refs[FS__MAX_COLUMNS][FS_ID_BYTES];
    int reft[FS__MAX_COLUMNS];
    size_t nrefs = 0;
    for (unsigned c = 1; rc == 0 && cur.exists && c < cur.t->ncolumns; c++) {
        const fs_column *col = &cur.t->columns[c];
        if (col->type != FS_COL_ID || col->ref == NULL || cur.old[c] == NULL ||
            sqlite3_value_type(cur.old[c]) != SQLITE_BLOB ||
            sqlite3_value_bytes(cur.old[c]) != FS_ID_BYTES)
            continue;
        reft[nrefs] = fs_schema_table_index(col->ref);
        memcpy(refs[nrefs], sqlite3_value_blob(cur.old[c]), FS_ID_BYTES);
        nrefs += reft[nrefs] >= 0;
    }
    fs__row_clear(&cur);
    for (size_t k = 0; rc == 0 && k < nrefs; k++) {
        int done = 0;
        rc = write_parents(r, w, (unsigned)reft[k], refs[k], depth + 1, &done); /* its own first */
        if (rc == 0)
            rc = write_whole(r, w, (unsigned)reft[k], refs[k], &done);
        *any |= done;
    }
    return rc;
}

/* *retry 1, and the record marked, when the record (tix, row) refused
 * PARENT was not sent again after its parents in this feed epoch yet
 * (the mark is resent_whole's kind: a re-sync or a fork clears it). */
static int retry_once(fs_replica *r, unsigned tix, const uint8_t row[FS_ID_BYTES], int *retry)
{
    char key[80], hex[2 * FS_ID_BYTES + 1];
    fs_id_to_hex(row, hex);
    snprintf(key, sizeof key, "resent_whole:child:%u:%s", tix, hex);
    sqlite3_stmt *st = NULL;
    int rc = fs__prepare(r, "SELECT 1 FROM meta WHERE k=?1", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    sqlite3_finalize(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return fs__dbfail(r, src, "reading refusals");
    if (src == SQLITE_ROW)
        return 0;
    *retry = 1;
    return fs__meta_put(r, key, (sqlite3_int64)fs__now_ms(r), NULL, "reading refusals");
}

/* Deletes the open LOST and PARENT refusals of cells this device wrote
 * again since, with a newer clock, in a change the server acknowledged and
 * did not refuse: the rep's own later value of the cell reached the
 * server, so the refused one was replaced knowingly and nothing of it is
 * left to send (as after `refused retry`). The record need not be here: a
 * customer handed away takes it off this device once the later change is
 * acknowledged, and with it every way of sending the refused change again
 * (FS_FAULT_ALL seed 181). A cell not written again keeps its refusal. */
static int clear_superseded(fs_replica *r)
{
    char open_sql[128], sql[640];
    snprintf(open_sql, sizeof open_sql,
             "SELECT count(*) FROM refused WHERE reverted=0 AND reason IN (%u,%u)",
             (unsigned)FS_REASON_LOST, (unsigned)FS_REASON_PARENT);
    uint64_t open = 0;
    int rc = fs__query_u64(r, open_sql, &open);
    if (rc != 0 || open == 0)
        return rc; /* the usual case: no scan of the change log */
    snprintf(sql, sizeof sql,
             "DELETE FROM refused WHERE reverted=0 AND reason IN (%u,%u) AND EXISTS"
             " (SELECT 1 FROM changelog AS c WHERE c.tbl=refused.tbl AND c.col=refused.col"
             " AND c.row=refused.row AND c.hlc>refused.hlc"
             " AND c.seq<=(SELECT v FROM meta WHERE k='acked_seq')"
             " AND NOT EXISTS (SELECT 1 FROM refused AS o WHERE o.tbl=c.tbl AND o.row=c.row"
             " AND o.col=c.col AND o.hlc=c.hlc))",
             (unsigned)FS_REASON_LOST, (unsigned)FS_REASON_PARENT);
    fs__touch(r);
    return fs__exec(r, sql, "clearing refusals");
}

int fs_refusals_resend_lost(fs_replica *r, uint64_t grace_ms, size_t *records)
{
    *records = 0;
    int rc = clear_superseded(r);
    if (rc != 0)
        return rc;
    lost_walk *w = calloc(1, sizeof *w);
    if (w == NULL)
        return fs__fail(r, FS_ENOMEM, "out of memory");
    w->now_ms = fs__now_ms(r);
    w->grace_ms = grace_ms;
    rc = fs_refusals(r, lost_cb, w);
    int own = 0;
    if (rc > 0)
        rc = 0;
    if (rc == 0 && w->n > 0 && !r->in_tx) {
        rc = fs_begin(r); /* fs_refusal_retry joins it */
        own = rc == 0;
    }
    for (size_t k = 0; rc == 0 && k < w->n; k++) {
        int any = 0;
        w->marked = 0;
        rc = write_parents(r, w, w->tix[k], w->row[k], 0, &any);
        /* what it belongs to went whole in an earlier walk, after this
         * change had been sent (it went first in that push, or in an
         * earlier one): sent again once per epoch, so a server that keeps
         * refusing it is not sent it every hour */
        if (rc == 0 && !any && w->marked && w->reason[k] == FS_REASON_PARENT)
            rc = retry_once(r, w->tix[k], w->row[k], &any);
        int whole = 0;
        if (rc == 0 && w->reason[k] == FS_REASON_LOST)
            rc = write_whole(r, w, w->tix[k], w->row[k], &whole);
        if (rc == 0 && whole) { /* its refused values went with it */
            refused_record rec;
            size_t cleared = 0;
            rc = find_record(r, w->ids[k], &rec);
            if (rc == 0)
                rc = clear_record(r, &rec, 0, &cleared);
            if (rc == 0)
                (*records)++;
            continue;
        }
        if (rc != 0 || !any)
            continue; /* nothing sent again: the refusal stays, for the rep to see */
        fs_refusal_outcome out;
        rc = fs_refusal_retry(r, w->ids[k], &out);
        if (rc == FS_ENOTFOUND)
            rc = 0; /* no longer on this device */
        else if (rc == 0)
            (*records)++;
    }
    if (own && rc == 0)
        rc = fs_commit(r);
    else if (own)
        fs_rollback(r);
    free(w);
    return rc;
}

/* ---- records no one else holds (lost25b) ---- */

/* 1 when the record (loaded) is live, holds a cell another device wrote,
 * and has no change here the server has not acknowledged: what the server
 * should have fed this device in a pull from 0. Its own cells the server
 * acknowledged it holds or asks for again (fs_replica_rewind_acked); a
 * pending change goes anyway (and is refused LOST if the record is lost:
 * fs_refusals_resend_lost). */
static int held_alone(fs_replica *r, const fs__row *cur, int *out)
{
    *out = 0;
    if (!cur->exists || (cur->old[0] != NULL && sqlite3_value_int64(cur->old[0]) != 0))
        return 0;
    int foreign = 0;
    for (unsigned c = 1; c < cur->t->ncolumns; c++)
        foreign |= cur->hlc[c] != 0 && cur->dev[c] != r->device_idx;
    if (!foreign)
        return 0;
    sqlite3_stmt *st = NULL;
    int rc = fs__prepare(r,
                         "SELECT 1 FROM changelog WHERE tbl=?1 AND row=?2 AND seq >"
                         " (SELECT v FROM meta WHERE k='acked_seq') LIMIT 1",
                         &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_int(st, 1, (int)cur->tix);
    sqlite3_bind_blob(st, 2, cur->id, FS_ID_BYTES, SQLITE_STATIC);
    int src = sqlite3_step(st);
    sqlite3_finalize(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return fs__dbfail(r, src, "reading the change log");
    *out = src == SQLITE_DONE;
    return 0;
}

#define HELD_BATCH 64

int fs_refusals_return_held(fs_replica *r, uint64_t grace_ms, size_t *records)
{
    *records = 0;
    uint64_t state = 0;
    int rc = fs__query_u64(r, "SELECT v FROM meta WHERE k='held_check'", &state);
    if (rc != 0 || state != 2)
        return rc;
    lost_walk *w = calloc(1, sizeof *w);
    if (w == NULL)
        return fs__fail(r, FS_ENOMEM, "out of memory");
    w->now_ms = fs__now_ms(r);
    w->grace_ms = grace_ms;
    rc = fs_refusals(r, lost_cb, w); /* for the records refused for another reason */
    if (rc > 0)
        rc = 0;
    int own = 0;
    if (rc == 0 && !r->in_tx) {
        rc = fs_begin(r);
        own = rc == 0;
    }
    /* due: noted at least grace_ms ago (or a clock set back further than
     * the grace), so a writer that was only offline sends its own first */
    uint64_t before = w->now_ms > grace_ms ? w->now_ms - grace_ms : 0;
    uint64_t after = w->now_ms + grace_ms;
    unsigned nt;
    fs_schema_tables(&nt);
    if (rc == 0) { /* no record of this schema: nothing to send */
        char sql[128];
        snprintf(sql, sizeof sql,
                 "DELETE FROM held_check WHERE tbl<0 OR tbl>=%u OR length(row)<>%d", nt,
                 FS_ID_BYTES);
        rc = fs__exec(r, sql, "reading the records held");
    }
    size_t nids;
    do {
        unsigned tix[HELD_BATCH];
        uint8_t ids[HELD_BATCH][FS_ID_BYTES];
        nids = 0;
        sqlite3_stmt *st = NULL;
        if (rc == 0)
            rc = fs__prepare(r,
                             "SELECT tbl, row FROM held_check WHERE found_ms<=?1 OR found_ms>?2"
                             " ORDER BY tbl LIMIT 64",
                             &st);
        if (rc != 0)
            break;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)before);
        sqlite3_bind_int64(st, 2, after > INT64_MAX ? INT64_MAX : (sqlite3_int64)after);
        int src;
        while (nids < HELD_BATCH && (src = sqlite3_step(st)) == SQLITE_ROW) {
            tix[nids] = (unsigned)sqlite3_column_int(st, 0);
            memcpy(ids[nids++], sqlite3_column_blob(st, 1), FS_ID_BYTES);
        }
        sqlite3_finalize(st);
        if (src != SQLITE_ROW && src != SQLITE_DONE) {
            rc = fs__dbfail(r, src, "reading the records held");
            break;
        }
        for (size_t k = 0; rc == 0 && k < nids; k++) {
            fs__row cur;
            memset(&cur, 0, sizeof cur);
            int alone = 0, done = 0;
            rc = fs__row_load(r, &cur, tix[k], ids[k]);
            if (rc == 0)
                rc = held_alone(r, &cur, &alone);
            fs__row_clear(&cur);
            if (rc == 0 && alone)
                rc = write_whole(r, w, tix[k], ids[k], &done);
            if (rc == 0 && done)
                (*records)++;
            sqlite3_stmt *del = NULL;
            if (rc == 0)
                rc = fs__prepare(r, "DELETE FROM held_check WHERE tbl=?1 AND row=?2", &del);
            if (rc == 0) {
                sqlite3_bind_int(del, 1, (int)tix[k]);
                sqlite3_bind_blob(del, 2, ids[k], FS_ID_BYTES, SQLITE_STATIC);
                src = sqlite3_step(del);
                sqlite3_finalize(del);
                if (src != SQLITE_DONE)
                    rc = fs__dbfail(r, src, "reading the records held");
            }
        }
    } while (rc == 0 && nids == HELD_BATCH);
    uint64_t left = 0;
    if (rc == 0)
        rc = fs__query_u64(r, "SELECT count(*) FROM held_check", &left);
    if (rc == 0 && left == 0)
        rc = fs__meta_put(r, "held_check", 0, NULL, "reading the records held");
    if (rc == 0 && *records > 0)
        rc = fs__meta_put(r, "returned_ms", (sqlite3_int64)w->now_ms, NULL,
                          "noting the records sent back");
    if (rc == 0 && *records > 0)
        rc = fs__meta_put(r, "returned_n", (sqlite3_int64)*records, NULL,
                          "noting the records sent back");
    if (own && rc == 0)
        rc = fs_commit(r);
    else if (own)
        fs_rollback(r);
    free(w);
    if (rc != 0)
        *records = 0;
    return rc;
}
