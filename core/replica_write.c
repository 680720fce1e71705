/*
 * The replica's write path: transactions, the device dictionary, rows as
 * stored (values and per-column versions), local writes (fs_insert,
 * fs_update, fs_delete) with their change-log entries, and reading the
 * change log back for a push. Opening and the schema are replica.c's, reads
 * replica_read.c's; the storage format is described in replica_int.h.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fieldsync/records.h"
#include "fieldsync/replica_server.h"
#include "replica_int.h"

/* ---- transactions ---- */

int fs__begin(fs_replica *r, int *own)
{
    *own = 0;
    if (r->in_tx)
        return r->tx_failed ? fs__fail(r, FS_ESTATE, "an earlier write in this transaction "
                                                     "failed; roll it back")
                            : 0;
    int rc = fs__exec(r, r->outer ? "SAVEPOINT fs_own" : "BEGIN IMMEDIATE",
                      "cannot start a transaction");
    if (rc == 0)
        *own = 1;
    return rc;
}

/* What ends a transaction of this module: COMMIT/ROLLBACK, or, inside an
 * outer transaction (fs_replica_outer_begin), the savepoint's RELEASE and
 * ROLLBACK TO. */
static int tx_commit(fs_replica *r, const char *sp)
{
    char sql[48];
    if (!r->outer)
        return fs__exec(r, "COMMIT", "cannot commit");
    snprintf(sql, sizeof sql, "RELEASE %s", sp);
    return fs__exec(r, sql, "cannot commit");
}

static void tx_rollback(fs_replica *r, const char *sp)
{
    char sql[64];
    if (!r->outer) {
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
        return;
    }
    snprintf(sql, sizeof sql, "ROLLBACK TO %s; RELEASE %s", sp, sp);
    sqlite3_exec(r->db, sql, NULL, NULL, NULL);
}

/* Saves the clock's mark if a remote clock raised it (local ticks are
 * already in the change log). */
static int save_hlc(fs_replica *r)
{
    if (!r->hlc_unsaved)
        return 0;
    sqlite3_bind_int64(r->hlc_save, 1, (sqlite3_int64)r->hlc);
    int src = sqlite3_step(r->hlc_save);
    sqlite3_reset(r->hlc_save);
    if (src != SQLITE_DONE)
        return fs__dbfail(r, src, "saving the clock");
    r->hlc_unsaved = 0;
    return 0;
}

/* Ends a write: commits a transaction it owns, or marks the caller's
 * explicit transaction failed. */
int fs__end(fs_replica *r, int own, int rc)
{
    if (rc == 0 && own) {
        rc = fs__feed_flush(r);
        r->guard++;
        if (rc == 0)
            rc = save_hlc(r);
        r->guard--;
        if (rc == 0)
            rc = tx_commit(r, "fs_own");
    }
    if (rc != 0 && own) {
        tx_rollback(r, "fs_own");
        fs__feed_discard(r);
    }
    if (rc != 0 && !own && r->in_tx)
        r->tx_failed = 1;
    return rc;
}

int fs_begin(fs_replica *r)
{
    if (r->in_tx)
        return fs__fail(r, FS_ESTATE, "a transaction is already open");
    int rc = fs__exec(r, r->outer ? "SAVEPOINT fs_tx" : "BEGIN IMMEDIATE",
                      "cannot start a transaction");
    if (rc == 0) {
        r->in_tx = 1;
        r->tx_failed = 0;
    }
    return rc;
}

int fs_commit(fs_replica *r)
{
    if (!r->in_tx)
        return fs__fail(r, FS_ESTATE, "no transaction is open");
    if (r->tx_failed) {
        fs_rollback(r);
        return fs__fail(r, FS_ESTATE, "a write in the transaction failed: rolled back");
    }
    int rc = fs__feed_flush(r);
    r->guard++;
    if (rc == 0)
        rc = save_hlc(r);
    r->guard--;
    if (rc == 0)
        rc = tx_commit(r, "fs_tx");
    if (rc != 0) {
        tx_rollback(r, "fs_tx");
        fs__feed_discard(r);
    }
    r->in_tx = 0;
    r->tx_failed = 0;
    return rc;
}

void fs_rollback(fs_replica *r)
{
    if (r == NULL || !r->in_tx)
        return;
    tx_rollback(r, "fs_tx");
    fs__feed_discard(r);
    r->in_tx = 0;
    r->tx_failed = 0;
    /* The clock may have advanced past what is stored; that is harmless. */
}

/* ---- the outer transaction (fieldsync/replica_server.h) ---- */

int fs_replica_outer_begin(fs_replica *r)
{
    if (r->in_tx || r->outer || !sqlite3_get_autocommit(r->db))
        return fs__fail(r, FS_ESTATE, "a transaction is already open");
    int rc = fs__exec(r, "BEGIN IMMEDIATE", "cannot start a transaction");
    if (rc == 0)
        r->outer = 1;
    return rc;
}

int fs_replica_outer_commit(fs_replica *r)
{
    if (!r->outer)
        return fs__fail(r, FS_ESTATE, "no transaction is open");
    if (r->in_tx) /* an op left its own open: not committed on its behalf */
        fs_rollback(r);
    int rc = fs__feed_flush(r);
    r->guard++;
    if (rc == 0)
        rc = save_hlc(r);
    r->guard--;
    r->outer = 0;
    if (rc == 0)
        rc = fs__exec(r, "COMMIT", "cannot commit");
    if (rc != 0) {
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
        fs__feed_discard(r);
        int rrc = fs_replica_reload(r);
        (void)rrc; /* the commit's error is the one to tell */
    }
    return rc;
}

void fs_replica_outer_rollback(fs_replica *r)
{
    if (r == NULL || !r->outer)
        return;
    r->in_tx = 0;
    r->tx_failed = 0;
    r->outer = 0;
    sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
    fs__feed_discard(r);
    (void)fs_replica_reload(r); /* the dictionary may hold a device rolled back */
}

int fs_replica_in_outer(const fs_replica *r)
{
    return r->outer;
}

int fs_replica_caller_tx(fs_replica *r)
{
    return r->outer ? r->in_tx : !sqlite3_get_autocommit(r->db);
}

void fs_replica_guard(fs_replica *r, int on)
{
    r->guard += on ? 1 : -1;
}

int fs_replica_reload(fs_replica *r)
{
    uint64_t hlc = 0, logged = 0;
    int rc = fs__query_u64(r, "SELECT coalesce((SELECT v FROM meta WHERE k='hlc'), 0)", &hlc);
    if (rc == 0)
        rc = fs__query_u64(r, "SELECT coalesce((SELECT hlc FROM changelog ORDER BY seq DESC"
                              " LIMIT 1), 0)", &logged);
    if (rc != 0)
        return rc;
    if (hlc > r->hlc)
        r->hlc = hlc;
    if (logged > r->hlc)
        r->hlc = logged;
    r->hlc_unsaved = 0;
    fs__feed_discard(r);
    rc = fs__load_devs(r);
    fs__touch(r);
    return rc;
}

/* ---- device dictionary ---- */

int fs__dev_index(fs_replica *r, const uint8_t id[FS_ID_BYTES], uint32_t *out)
{
    for (uint32_t i = r->ndevs; i > 0; i--) {
        if (memcmp(r->devs[i - 1], id, FS_ID_BYTES) == 0) {
            *out = i;
            return 0;
        }
    }
    if (r->ndevs == r->capdevs) {
        uint32_t cap = r->capdevs ? 2 * r->capdevs : 16;
        void *p = realloc(r->devs, (size_t)cap * sizeof *r->devs);
        if (p == NULL)
            return fs__fail(r, FS_ENOMEM, "out of memory");
        r->devs = p;
        r->capdevs = cap;
    }
    uint32_t idx = r->ndevs + 1;
    sqlite3_bind_int64(r->dev_insert, 1, idx);
    sqlite3_bind_blob(r->dev_insert, 2, id, FS_ID_BYTES, SQLITE_STATIC);
    int src = sqlite3_step(r->dev_insert);
    sqlite3_reset(r->dev_insert);
    if (src != SQLITE_DONE)
        return fs__dbfail(r, src, "recording a device");
    memcpy(r->devs[r->ndevs++], id, FS_ID_BYTES);
    *out = idx;
    return 0;
}

/* Forgets dictionary entries added by a transaction that rolled back. */
static void dev_resync(fs_replica *r)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db, "SELECT count(*) FROM device", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        uint32_t n = (uint32_t)sqlite3_column_int64(st, 0);
        if (n < r->ndevs)
            r->ndevs = n;
    }
    sqlite3_finalize(st);
}

const uint8_t *fs__dev_id(const fs_replica *r, uint32_t idx)
{
    static const uint8_t none[FS_ID_BYTES];
    return (idx == 0 || idx > r->ndevs) ? none : r->devs[idx - 1];
}

/* ---- rows ---- */

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void fs__row_clear(fs__row *row)
{
    for (unsigned c = 0; c < FS__MAX_COLUMNS; c++) {
        sqlite3_value_free(row->old[c]);
        row->old[c] = NULL;
        row->set[c] = NULL;
    }
    row->exists = 0;
    row->dirty = 0;
}

int fs__row_load(fs_replica *r, fs__row *row, unsigned tix, const uint8_t id[FS_ID_BYTES])
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    fs__row_clear(row);
    row->tix = tix;
    row->t = &tables[tix];
    memcpy(row->id, id, FS_ID_BYTES);
    memset(row->hlc, 0, sizeof row->hlc);
    memset(row->dev, 0, sizeof row->dev);
    sqlite3_stmt *st = r->ts[tix].select;
    sqlite3_bind_blob(st, 1, id, FS_ID_BYTES, SQLITE_STATIC);
    int src = sqlite3_step(st);
    int rc = 0;
    if (src == SQLITE_ROW) {
        unsigned nc = row->t->ncolumns;
        row->exists = 1;
        for (unsigned c = 0; c < nc && rc == 0; c++) {
            if (sqlite3_column_type(st, (int)c) != SQLITE_NULL) {
                row->old[c] = sqlite3_value_dup(sqlite3_column_value(st, (int)c));
                if (row->old[c] == NULL)
                    rc = fs__fail(r, FS_ENOMEM, "out of memory");
            }
        }
        const uint8_t *ver = sqlite3_column_blob(st, (int)nc);
        size_t vlen = (size_t)sqlite3_column_bytes(st, (int)nc);
        for (unsigned c = 0; c < nc && (c + 1) * FS__VER_BYTES <= vlen; c++) {
            row->hlc[c] = get_le(ver + c * FS__VER_BYTES, 8);
            row->dev[c] = (uint32_t)get_le(ver + c * FS__VER_BYTES + 8, 4);
        }
    } else if (src != SQLITE_DONE) {
        rc = fs__dbfail(r, src, "reading a row");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int fs__row_store(fs_replica *r, fs__row *row)
{
    uint8_t ver[FS__MAX_COLUMNS * FS__VER_BYTES];
    unsigned nc = row->t->ncolumns;
    sqlite3_stmt *st = r->ts[row->tix].upsert;
    fs__touch(r);
    sqlite3_bind_blob(st, 1, row->id, FS_ID_BYTES, SQLITE_STATIC);
    for (unsigned c = 0; c < nc; c++) {
        if (row->set[c] != NULL && !(c == 0 && row->set[c]->type == FS_NULL))
            fs__bind_value(st, (int)c + 2, row->set[c]);
        else if (row->set[c] == NULL && row->old[c] != NULL)
            sqlite3_bind_value(st, (int)c + 2, row->old[c]);
        else if (c == 0)
            sqlite3_bind_int(st, 2, 0); /* "deleted" is never NULL */
        else
            sqlite3_bind_null(st, (int)c + 2);
        put_le(ver + c * FS__VER_BYTES, row->hlc[c], 8);
        put_le(ver + c * FS__VER_BYTES + 8, row->dev[c], 4);
    }
    sqlite3_bind_blob(st, (int)nc + 2, ver, (int)(nc * FS__VER_BYTES), SQLITE_STATIC);
    r->guard++;
    int src = sqlite3_step(st);
    r->guard--;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (src != SQLITE_DONE)
        return fs__dbfail(r, src, "writing a row");
    int rc = fs__search_row(r, row); /* in the same transaction */
    if (rc != 0)
        return rc;
    row->exists = 1;
    row->dirty = 0;
    return 0;
}

int fs__local_write(fs_replica *r, fs__row *row, const unsigned *cols, const fs_value *vals,
                    size_t n)
{
    uint64_t hlc = fs__hlc_tick(r);
    sqlite3_stmt *st = r->log_insert;
    for (size_t k = 0; k < n; k++) {
        unsigned c = cols[k];
        sqlite3_bind_int(st, 1, (int)row->tix);
        sqlite3_bind_int(st, 2, (int)c);
        sqlite3_bind_blob(st, 3, row->id, FS_ID_BYTES, SQLITE_STATIC);
        fs__bind_value(st, 4, &vals[k]);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)hlc);
        sqlite3_bind_int64(st, 6, (sqlite3_int64)row->hlc[c]);
        sqlite3_bind_int64(st, 7, row->dev[c]);
        r->guard++;
        int src = sqlite3_step(st);
        r->guard--;
        sqlite3_reset(st);
        if (src != SQLITE_DONE)
            return fs__dbfail(r, src, "writing the change log");
        int rc = fs__feed_append(r, row->tix, c, row->id, &vals[k], hlc, r->device_idx,
                                 row->hlc[c], row->dev[c]);
        if (rc != 0)
            return rc;
        row->set[c] = &vals[k];
        row->hlc[c] = hlc;
        row->dev[c] = r->device_idx;
    }
    sqlite3_clear_bindings(st);
    int rc = fs__feed_flush(r);
    if (rc != 0)
        return rc;
    r->logged_row = 1; /* the entries just written queue it for the search index */
    rc = fs__row_store(r, row);
    r->logged_row = 0;
    return rc;
}

void fs__group_complete(const fs__row *row, unsigned *cols, fs_value *vals, size_t *n)
{
    uint32_t want = 0, have = 0;
    for (size_t k = 0; k < *n; k++) {
        want |= fs_record_group_of(row->tix, cols[k]);
        have |= cols[k] < 32 ? 1u << cols[k] : 0;
    }
    want &= ~have;
    for (unsigned c = 1; want != 0 && c < row->t->ncolumns && *n < FS__MAX_COLUMNS; c++) {
        if (!(want & (1u << c)))
            continue;
        fs_value v = fs_null();
        if (row->set[c] != NULL)
            v = *row->set[c];
        else if (row->old[c] != NULL)
            fs__value_from_sqlite(row->old[c], &v);
        cols[*n] = c;
        vals[*n] = v;
        (*n)++;
    }
}

/* Validates the cells of a local write and maps them to column indexes. */
static int prepare_cells(fs_replica *r, const fs_table *t, const fs_cell *cells, size_t n,
                         unsigned *cols, fs_value *vals)
{
    if (n == 0 || n >= t->ncolumns)
        return fs__fail(r, FS_EINVAL, "%s: %zu columns given", t->name, n);
    for (size_t k = 0; k < n; k++) {
        int c = fs_schema_column_index(t, cells[k].column);
        if (c <= 0)
            return fs__fail(r, FS_ESCHEMA, "%s has no column \"%s\"", t->name,
                            cells[k].column ? cells[k].column : "(null)");
        for (size_t j = 0; j < k; j++)
            if (cols[j] == (unsigned)c)
                return fs__fail(r, FS_EINVAL, "%s.%s given twice", t->name, cells[k].column);
        int rc = fs__value_check(r, t, (unsigned)c, &cells[k].value);
        if (rc != 0)
            return rc;
        const fs_column *col = &t->columns[c];
        const fs_value *v = &cells[k].value;
        if ((col->flags & FS_COL_REQUIRED) &&
            (v->type == FS_NULL || ((v->type == FS_TEXT || v->type == FS_BLOB) && v->n == 0)))
            return fs__fail(r, FS_EREQUIRED, "%s.%s is required and may not be empty", t->name,
                            col->name);
        if (col->type == FS_COL_ID && v->type == FS_BLOB && col->ref != NULL) {
            int e = fs_exists(r, col->ref, v->p);
            if (e < 0)
                return e;
            if (e == 0)
                return fs__fail(r, FS_ENOTFOUND, "%s.%s: no %s with that id", t->name, col->name,
                                col->ref);
        }
        cols[k] = (unsigned)c;
        vals[k] = *v;
    }
    return 0;
}

int fs_insert(fs_replica *r, const char *table, const fs_cell *cells, size_t ncells,
              uint8_t out_id[FS_ID_BYTES])
{
    const fs_table *t = NULL;
    unsigned cols[FS__MAX_COLUMNS];
    fs_value vals[FS__MAX_COLUMNS];
    fs__row row;
    int own = 0;
    memset(out_id, 0, FS_ID_BYTES);
    memset(&row, 0, sizeof row);
    int tix = fs__table_for(r, table, 0, &t);
    if (tix < 0)
        return tix;
    int rc = prepare_cells(r, t, cells, ncells, cols, vals);
    for (unsigned c = 1; rc == 0 && c < t->ncolumns; c++) {
        if (!(t->columns[c].flags & FS_COL_REQUIRED))
            continue;
        size_t k = 0;
        while (k < ncells && cols[k] != c)
            k++;
        if (k == ncells)
            rc = fs__fail(r, FS_EREQUIRED, "%s.%s is required", t->name, t->columns[c].name);
    }
    if (rc != 0)
        return rc;
    rc = fs__begin(r, &own);
    if (rc != 0)
        return rc;
    fs__new_row_id(r, row.id);
    row.tix = (unsigned)tix;
    row.t = t;
    rc = fs__local_write(r, &row, cols, vals, ncells);
    fs__row_clear(&row);
    rc = fs__end(r, own, rc);
    if (rc == 0)
        memcpy(out_id, row.id, FS_ID_BYTES);
    else if (own)
        dev_resync(r);
    return rc;
}

/* A new row's id: the clock's milliseconds (48 bits, big-endian), then 80
 * random bits. Ids that grow with time land at the right edge of every
 * B-tree keyed by them (the table, the server's scope), so a commit dirties
 * a few pages instead of one random leaf per row (bench_sync: a fresh
 * manager's pull went from 0.22 to 0.94 of raw SQLite); 80 random bits still
 * make an id unguessable and two devices' ids distinct. */
void fs__new_row_id(const fs_replica *r, uint8_t id[FS_ID_BYTES])
{
    uint64_t ms = fs__now_ms(r);
    for (int i = 0; i < FS_ID_CLOCK_BYTES; i++)
        id[i] = (uint8_t)(ms >> (8 * (FS_ID_CLOCK_BYTES - 1 - i)));
    randombytes_buf(id + FS_ID_CLOCK_BYTES, FS_ID_BYTES - FS_ID_CLOCK_BYTES);
}

/* is_delete: MODIFY_CELLS, MODIFY_DELETE (the tombstone set) or
 * MODIFY_UNDELETE (a deleted row's tombstone cleared). */
enum { MODIFY_CELLS, MODIFY_DELETE, MODIFY_UNDELETE };

static int modify(fs_replica *r, const char *table, const uint8_t id[FS_ID_BYTES],
                  const fs_cell *cells, size_t ncells, int is_delete)
{
    const fs_table *t = NULL;
    unsigned cols[FS__MAX_COLUMNS];
    fs_value vals[FS__MAX_COLUMNS];
    fs__row row;
    int own = 0;
    memset(&row, 0, sizeof row);
    int tix = fs__table_for(r, table, 0, &t);
    if (tix < 0)
        return tix;
    int rc = 0;
    if (is_delete) {
        cols[0] = 0;
        vals[0] = fs_int(is_delete == MODIFY_DELETE ? 1 : 0);
        ncells = 1;
    } else {
        rc = prepare_cells(r, t, cells, ncells, cols, vals);
    }
    if (rc == 0)
        rc = fs__begin(r, &own);
    if (rc != 0)
        return rc;
    rc = fs__row_load(r, &row, (unsigned)tix, id);
    int deleted = rc == 0 && row.exists && row.old[0] && sqlite3_value_int(row.old[0]) != 0;
    if (rc == 0 && (!row.exists || deleted != (is_delete == MODIFY_UNDELETE))) {
        char hex[33];
        fs_id_to_hex(id, hex);
        rc = is_delete == MODIFY_UNDELETE && row.exists
                 ? fs__fail(r, FS_EEXIST, "the %s %s is not deleted", t->name, hex)
                 : fs__fail(r, FS_ENOTFOUND, "no %s with id %s", t->name, hex);
    }
    /* A grouped column takes its group along, at the same clock
     * (fieldsync/records.h, COLUMN GROUPS): a cancel also writes done_at
     * as it stands, so it wins or loses with the status it explains. */
    if (rc == 0 && !is_delete)
        fs__group_complete(&row, cols, vals, &ncells);
    if (rc == 0)
        rc = fs__local_write(r, &row, cols, vals, ncells);
    fs__row_clear(&row);
    return fs__end(r, own, rc);
}

int fs_update(fs_replica *r, const char *table, const uint8_t id[FS_ID_BYTES],
              const fs_cell *cells, size_t ncells)
{
    return modify(r, table, id, cells, ncells, MODIFY_CELLS);
}

int fs_delete(fs_replica *r, const char *table, const uint8_t id[FS_ID_BYTES])
{
    return modify(r, table, id, NULL, 0, MODIFY_DELETE);
}

int fs_undelete(fs_replica *r, const char *table, const uint8_t id[FS_ID_BYTES])
{
    return modify(r, table, id, NULL, 0, MODIFY_UNDELETE);
}

/* ---- change log ---- */

void fs_changeset_free(fs_changeset *cs)
{
    if (cs == NULL)
        return;
    free(cs->changes); /* one allocation: changes, then their bytes */
    free(cs->groups);
    free(cs);
}

/* Reads change rows, (seq, tbl, col, row, value, hlc, dev, prev_hlc,
 * prev_dev) with devices as dictionary indexes, from a query taking the
 * bounds ?1 (after) and ?2 (limit) and ?3 (this device's index), stopping
 * before a row whose value would take the values read past max_bytes (the
 * first row in any case). Two passes: size, then fill one allocation. */
int fs__read_changes(fs_replica *r, const char *sql, uint64_t after_seq, size_t max,
                     size_t max_bytes, fs_changeset **out)
{
    *out = NULL;
    if (max == 0)
        return fs__fail(r, FS_EINVAL, "max must be positive");
    sqlite3_stmt *st = NULL;
    int rc = fs__prepare(r, sql, &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)after_seq);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)(max > INT64_MAX ? INT64_MAX : max));
    sqlite3_bind_int64(st, 3, r->device_idx);
    size_t count = 0, bytes = 0, values = 0;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        size_t len = (size_t)sqlite3_column_bytes(st, 4);
        if (count > 0 && (len > max_bytes || values > max_bytes - len))
            break;
        values += len;
        count++;
        bytes += len + 1;
    }
    if (src != SQLITE_DONE && src != SQLITE_ROW) {
        sqlite3_finalize(st);
        return fs__dbfail(r, src, "reading changes");
    }
    sqlite3_reset(st);
    fs_changeset *cs = calloc(1, sizeof *cs);
    char *mem = malloc(count * sizeof(fs_change) + bytes + 1);
    if (cs == NULL || mem == NULL) {
        free(cs);
        free(mem);
        sqlite3_finalize(st);
        return fs__fail(r, FS_ENOMEM, "out of memory");
    }
    cs->changes = (fs_change *)(void *)mem;
    char *data = mem + count * sizeof(fs_change);
    size_t i = 0;
    while (i < count && (src = sqlite3_step(st)) == SQLITE_ROW) {
        fs_change *ch = &cs->changes[i++];
        memset(ch, 0, sizeof *ch);
        uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
        if (cs->first_seq == 0)
            cs->first_seq = seq;
        cs->last_seq = seq;
        ch->table = (uint16_t)sqlite3_column_int(st, 1);
        ch->column = (uint16_t)sqlite3_column_int(st, 2);
        if (sqlite3_column_bytes(st, 3) == FS_ID_BYTES)
            memcpy(ch->row, sqlite3_column_blob(st, 3), FS_ID_BYTES);
        fs__value_from_sqlite(sqlite3_column_value(st, 4), &ch->value);
        if (ch->value.type == FS_TEXT || ch->value.type == FS_BLOB) {
            memcpy(data, ch->value.p, ch->value.n);
            data[ch->value.n] = '\0';
            ch->value.p = data;
            data += ch->value.n + 1;
        }
        ch->version.hlc = (uint64_t)sqlite3_column_int64(st, 5);
        memcpy(ch->version.device, fs__dev_id(r, (uint32_t)sqlite3_column_int64(st, 6)),
               FS_ID_BYTES);
        ch->prev.hlc = (uint64_t)sqlite3_column_int64(st, 7);
        memcpy(ch->prev.device, fs__dev_id(r, (uint32_t)sqlite3_column_int64(st, 8)),
               FS_ID_BYTES);
    }
    sqlite3_finalize(st);
    cs->count = i;
    *out = cs;
    return 0;
}

int fs_changes_since(fs_replica *r, uint64_t after_seq, size_t max, fs_changeset **out)
{
    return fs_changes_since_bytes(r, after_seq, max, SIZE_MAX, out);
}

int fs_changes_since_bytes(fs_replica *r, uint64_t after_seq, size_t max, size_t max_bytes,
                           fs_changeset **out)
{
    /* The change log holds this device's writes only: the writer is ?3. */
    return fs__read_changes(r,
                            "SELECT seq,tbl,col,row,value,hlc,?3,prev_hlc,prev_dev FROM changelog"
                            " WHERE seq>?1 ORDER BY seq LIMIT ?2",
                            after_seq, max, max_bytes, out);
}

int fs_last_seq(fs_replica *r, uint64_t *out)
{
    return fs__query_u64(r, "SELECT coalesce(max(seq),0) FROM changelog", out);
}
