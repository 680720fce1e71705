/*
 * Reads of the replica's rows: whether a row exists, an id from a prefix of
 * its text form, and the row iterator (fs_rows). They see what the write
 * path (replica_write.c) and merging (merge.c) stored.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "replica_int.h"

/* ---- reads ---- */

int fs_exists(fs_replica *r, const char *table, const uint8_t id[FS_ID_BYTES])
{
    const fs_table *t = NULL;
    int tix = fs__table_for(r, table, 1, &t);
    if (tix < 0)
        return tix;
    sqlite3_stmt *st = r->ts[tix].exists;
    sqlite3_bind_blob(st, 1, id, FS_ID_BYTES, SQLITE_STATIC);
    int src = sqlite3_step(st);
    int rc = src == SQLITE_ROW ? sqlite3_column_int(st, 0) == 0 : 0;
    sqlite3_reset(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        rc = fs__dbfail(r, src, "looking up a row");
    return rc;
}

const char *fs_name_column(const char *table)
{
    /* A visit and a plan have no name: a part of the notes, or of the
     * week's goals, names them as well as anything a rep remembers (and a
     * visit its customer's name: fs_match_name); the other forms a rep
     * answers or follows up by what they say. */
    static const struct {
        const char *table, *column;
    } names[] = {
        {"customer", "name"},
        {"contact", "name"},
        {"commitment", "text"},
        {"deal", "title"},
        {"visit", "notes"},
        {"weekly_plan", "goals"},
        {"complaint", "description"},
        {"requirement_request", "description"},
        {"customer_question", "question"},
        {"marketing_request", "goal"},
        {"visit_plan", "purpose"},
        {"acceptance", "delivered_at"},
        {"survey", "quarter"},
    };
    for (size_t i = 0; table != NULL && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(table, names[i].table) == 0)
            return names[i].column;
    return NULL;
}

/* Copies at most size-1 bytes of the UTF-8 text p (n bytes) into out, cut
 * at a character boundary. */
static void copy_cut(char *out, size_t size, const unsigned char *p, size_t n)
{
    if (n >= size) {
        n = size - 1;
        while (n > 0 && (p[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(out, p, n);
    out[n] = '\0';
}

int fs_match_name(fs_replica *r, const char *table, const char *text, fs_name_match *out,
                  size_t max, size_t *count)
{
    const fs_table *t = NULL;
    *count = 0;
    int tix = fs__table_for(r, table, 1, &t);
    if (tix < 0)
        return tix;
    const char *col = fs_name_column(t->name);
    if (col == NULL || text == NULL || text[0] == '\0')
        return fs__fail(r, FS_EINVAL, "a %s is not found by name", t->name);
    /* fs_fold (search.c) folds Traditional Chinese to Simplified and ASCII
     * letters to lower case, on both sides; instr() then compares bytes, so
     * a CJK substring matches as typed, in either script. */
    char sql[512];
    if (strcmp(t->name, "visit") == 0 || strcmp(t->name, "visit_plan") == 0)
        /* A rep names a visit by its customer ("the visit to 华信") as
         * often as by its notes (a planned one: its purpose); it is shown
         * by its time and customer, the latest first, and no name is
         * exact. */
        snprintf(sql, sizeof sql,
                 "SELECT v.id, v.time || ' ' || coalesce(c.name, ''), 0 FROM \"%s\" v"
                 " LEFT JOIN customer c ON c.id = v.customer AND c.deleted = 0"
                 " WHERE v.deleted = 0 AND (instr(fs_fold(v.\"%s\"), fs_fold(?1)) > 0"
                 " OR instr(fs_fold(c.name), fs_fold(?1)) > 0) ORDER BY v.time DESC, v.id",
                 t->name, col);
    else if (strcmp(t->name, "weekly_plan") == 0)
        /* A manager names a plan by its rep as often as by its goals; it
         * is shown by its week, rep and goals, the latest week first. */
        snprintf(sql, sizeof sql,
                 "SELECT id, period_start || '..' || period_end || ' ' || rep || ' · ' || goals,"
                 " fs_fold(goals) = fs_fold(?1) FROM weekly_plan WHERE deleted = 0"
                 " AND (instr(fs_fold(goals), fs_fold(?1)) > 0 OR instr(fs_fold(rep), fs_fold(?1)) > 0)"
                 " ORDER BY period_start DESC, rep, id");
    else if (strcmp(t->name, "contact") != 0 && fs_schema_column_index(t, "customer") >= 0)
        /* A record about a customer (a commitment, a deal, a complaint, a
         * question, a request) by its own words or its customer's name,
         * shown with both; a contact is a person, named by their name. */
        snprintf(sql, sizeof sql,
                 "SELECT t.id, t.\"%s\" || ' · ' || coalesce(c.name, ''),"
                 " fs_fold(t.\"%s\") = fs_fold(?1) FROM \"%s\" t"
                 " LEFT JOIN customer c ON c.id = t.customer AND c.deleted = 0"
                 " WHERE t.deleted = 0 AND (instr(fs_fold(t.\"%s\"), fs_fold(?1)) > 0"
                 " OR instr(fs_fold(c.name), fs_fold(?1)) > 0) ORDER BY t.\"%s\", t.id",
                 col, col, t->name, col, col);
    else
        snprintf(sql, sizeof sql,
                 "SELECT id, \"%s\", fs_fold(\"%s\") = fs_fold(?1) FROM \"%s\""
                 " WHERE deleted=0 AND instr(fs_fold(\"%s\"), fs_fold(?1)) > 0 ORDER BY \"%s\", id",
                 col, col, t->name, col, col);
    sqlite3_stmt *st = NULL;
    int rc = fs__prepare(r, sql, &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    size_t exact = 0, n = 0;
    fs_name_match exact_one;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) != FS_ID_BYTES || sqlite3_column_type(st, 1) != SQLITE_TEXT)
            continue;
        fs_name_match m;
        memcpy(m.id, sqlite3_column_blob(st, 0), FS_ID_BYTES);
        copy_cut(m.name, sizeof m.name, sqlite3_column_text(st, 1),
                 (size_t)sqlite3_column_bytes(st, 1));
        if (sqlite3_column_int(st, 2) && exact++ == 0)
            exact_one = m;
        if (n < max)
            out[n] = m;
        n++;
    }
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return fs__dbfail(r, src, "looking up a name");
    if (exact == 1 && n > 1) {
        n = 1;
        if (max > 0)
            out[0] = exact_one;
    }
    *count = n;
    return 0;
}

int fs_resolve_id(fs_replica *r, const char *table, const char *hex, uint8_t out[FS_ID_BYTES])
{
    const fs_table *t = NULL;
    memset(out, 0, FS_ID_BYTES);
    int tix = fs__table_for(r, table, 1, &t);
    if (tix < 0)
        return tix;
    size_t n = hex ? strlen(hex) : 0;
    if (n < 6 || n > 2 * FS_ID_BYTES || strspn(hex, "0123456789abcdefABCDEF") != n)
        return fs__fail(r, FS_EINVAL, "an id is 6 to 32 hexadecimal digits");
    /* The text form does not sort as the ids do (fs_id_to_hex), so a prefix
     * is found by reading the table's ids: a device's tables are small, and
     * this is one command's lookup. */
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT id FROM \"%s\" WHERE deleted=0", t->name);
    sqlite3_stmt *st = NULL;
    int rc = fs__prepare(r, sql, &st);
    if (rc != 0)
        return rc;
    int found = 0, src;
    while (found < 2 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        char text[2 * FS_ID_BYTES + 1];
        if (sqlite3_column_bytes(st, 0) != FS_ID_BYTES)
            continue;
        const uint8_t *id = sqlite3_column_blob(st, 0);
        fs_id_to_hex(id, text);
        if (strncasecmp(text, hex, n) == 0 && found++ == 0)
            memcpy(out, id, FS_ID_BYTES);
    }
    if (found == 2)
        src = SQLITE_DONE;
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return fs__dbfail(r, src, "looking up an id");
    if (found == 0)
        return fs__fail(r, FS_ENOTFOUND, "no %s with an id starting %s", t->name, hex);
    if (found > 1) {
        memset(out, 0, FS_ID_BYTES);
        return fs__fail(r, FS_EEXIST, "more than one %s has an id starting %s", t->name, hex);
    }
    return 0;
}

#define ROWS_MEMO 8

struct fs_rows {
    fs_replica *r;
    const fs_table *t;
    sqlite3_stmt *st;
    /* The columns fs_rows_get was last asked for, by the caller's pointer
     * (a loop over many rows asks for the same few): its index, checked by
     * one strcmp instead of a search of the table's columns. */
    const char *memo_name[ROWS_MEMO];
    int memo_col[ROWS_MEMO];
    unsigned memo_next;
    /* fs_rows_open_only: each column's place in the result (0: not read);
     * NULL: every column, column c at c + 1 */
    int *place;
    /* fs_rows_open_only: the place in the result of the k-th column named */
    int *nth;
    size_t nnth;
    char *sql; /* st's text, to keep it prepared at fs_rows_close */
};

/* A statement of this text kept prepared (taken out of r->rows_kept: two
 * open fs_rows never share one), or NULL. */
static sqlite3_stmt *kept_take(fs_replica *r, const char *sql)
{
    for (size_t i = 0; i < FS__ROWS_KEPT; i++)
        if (r->rows_kept[i].st != NULL && strcmp(r->rows_kept[i].sql, sql) == 0) {
            sqlite3_stmt *st = r->rows_kept[i].st;
            free(r->rows_kept[i].sql);
            r->rows_kept[i].sql = NULL;
            r->rows_kept[i].st = NULL;
            return st;
        }
    return NULL;
}

/* st (of text sql, which the call takes) reset and kept for the next
 * fs_rows_open of that text; the least recently kept is finalized when
 * every place is taken. */
static void kept_give(fs_replica *r, char *sql, sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    size_t slot = 0;
    for (size_t i = 0; i < FS__ROWS_KEPT; i++) {
        if (r->rows_kept[i].st == NULL) {
            slot = i;
            break;
        }
        if (r->rows_kept[i].used < r->rows_kept[slot].used)
            slot = i;
    }
    sqlite3_finalize(r->rows_kept[slot].st);
    free(r->rows_kept[slot].sql);
    r->rows_kept[slot].sql = sql;
    r->rows_kept[slot].st = st;
    r->rows_kept[slot].used = ++r->rows_clock;
}

void fs__rows_kept_free(fs_replica *r)
{
    for (size_t i = 0; i < FS__ROWS_KEPT; i++) {
        sqlite3_finalize(r->rows_kept[i].st);
        free(r->rows_kept[i].sql);
        r->rows_kept[i].sql = NULL;
        r->rows_kept[i].st = NULL;
    }
}

static int rows_open(fs_rows **out, fs_replica *r, const char *table, const char *where_column,
                     const fs_value *equals, const char *order_by, const char *const *columns,
                     size_t ncolumns)
{
    const fs_table *t = NULL;
    *out = NULL;
    int tix = fs__table_for(r, table, 1, &t);
    if (tix < 0)
        return tix;
    /* "id": the one row of that id (a 16-byte blob) */
    int by_id = where_column != NULL && strcmp(where_column, "id") == 0;
    int wc = where_column && !by_id ? fs_schema_column_index(t, where_column) : -1;
    /* "-column": newest first (descending, then id descending), the order
     * of a page (visit list's newest 50): SQLite walks an index on the
     * column (a device's visit_time) and reads only the rows the caller
     * takes. Every other read is a whole listing or report, or a filter:
     * a scan of the table and one sort, its filter written "+deleted=0" so
     * that SQLite cannot read it through the partial index (which holds
     * exactly the rows deleted=0 picks) and fetch every row by its id, out
     * of the table's order (bench_first, 1,000,000 visits: 24.7 s against
     * 3.5 s sorted). */
    int desc = order_by != NULL && order_by[0] == '-';
    if (desc)
        order_by++;
    int oc = order_by ? fs_schema_column_index(t, order_by) : -1;
    if (by_id && (equals == NULL || equals->type != FS_BLOB || equals->n != FS_ID_BYTES))
        return fs__fail(r, FS_EINVAL, "a row id is %d bytes", FS_ID_BYTES);
    if ((where_column && !by_id && (wc < 0 || equals == NULL)) || (order_by && oc < 0))
        return fs__fail(r, FS_ESCHEMA, "%s has no column \"%s\"", t->name,
                        (where_column && wc < 0) ? where_column : order_by);
    int *place = NULL;
    if (columns != NULL) {
        place = calloc(t->ncolumns ? t->ncolumns : 1, sizeof *place);
        if (place == NULL)
            return fs__fail(r, FS_ENOMEM, "out of memory");
        for (size_t k = 0; k < ncolumns; k++) {
            int c = fs_schema_column_index(t, columns[k]);
            if (c < 0) {
                free(place);
                return fs__fail(r, FS_ESCHEMA, "%s has no column \"%s\"", t->name,
                                columns[k] ? columns[k] : "(null)");
            }
            place[c] = 1; /* numbered below, in the table's order */
        }
    }
    char sql[2048];
    size_t len = 0;
    int bad = fs__append(sql, sizeof sql, &len, "SELECT id");
    int next = 1;
    for (unsigned c = 0; c < t->ncolumns; c++) {
        if (place != NULL && place[c] == 0)
            continue;
        bad |= fs__append(sql, sizeof sql, &len, ",\"%s\"", t->columns[c].name);
        if (place != NULL)
            place[c] = next++;
    }
    /* "+deleted": the partial index cannot serve it, unless newest first
     * (see desc above) */
    bad |= fs__append(sql, sizeof sql, &len, " FROM \"%s\" WHERE %sdeleted=0", t->name,
                      desc ? "" : "+");
    if (wc >= 0)
        bad |= fs__append(sql, sizeof sql, &len, " AND \"%s\"=?1", t->columns[wc].name);
    if (by_id)
        bad |= fs__append(sql, sizeof sql, &len, " AND id=?1");
    if (oc >= 0 && desc)
        bad |= fs__append(sql, sizeof sql, &len, " ORDER BY \"%s\" DESC, id DESC",
                          t->columns[oc].name);
    else if (oc >= 0)
        bad |= fs__append(sql, sizeof sql, &len, " ORDER BY \"%s\", id", t->columns[oc].name);
    else
        bad |= fs__append(sql, sizeof sql, &len, " ORDER BY id");
    fs_rows *it = bad ? NULL : calloc(1, sizeof *it);
    if (it == NULL) {
        free(place);
        return bad ? fs__fail(r, FS_EINVAL, "query too long")
                   : fs__fail(r, FS_ENOMEM, "out of memory");
    }
    it->r = r;
    it->t = t;
    it->place = place;
    if (columns != NULL && ncolumns > 0) {
        it->nth = calloc(ncolumns, sizeof *it->nth);
        if (it->nth == NULL) {
            fs_rows_close(it);
            return fs__fail(r, FS_ENOMEM, "out of memory");
        }
        for (size_t k = 0; k < ncolumns; k++)
            it->nth[k] = place[fs_schema_column_index(t, columns[k])];
        it->nnth = ncolumns;
    }
    int rc = 0;
    it->sql = strdup(sql);
    if (it->sql == NULL)
        rc = fs__fail(r, FS_ENOMEM, "out of memory");
    else if ((it->st = kept_take(r, sql)) == NULL)
        rc = fs__prepare(r, sql, &it->st);
    if (rc == 0 && (wc >= 0 || by_id) && fs__bind_value(it->st, 1, equals) != SQLITE_OK)
        rc = fs__dbfail(r, sqlite3_errcode(r->db), "binding a query");
    if (rc != 0) {
        fs_rows_close(it);
        return rc;
    }
    *out = it;
    return 0;
}

int fs_rows_open(fs_rows **out, fs_replica *r, const char *table, const char *where_column,
                 const fs_value *equals, const char *order_by)
{
    return rows_open(out, r, table, where_column, equals, order_by, NULL, 0);
}

int fs_rows_open_only(fs_rows **out, fs_replica *r, const char *table, const char *where_column,
                      const fs_value *equals, const char *order_by, const char *const *columns,
                      size_t ncolumns)
{
    return rows_open(out, r, table, where_column, equals, order_by, columns, ncolumns);
}

int fs_rows_next(fs_rows *it)
{
    int src = sqlite3_step(it->st);
    if (src == SQLITE_ROW)
        return 1;
    if (src == SQLITE_DONE)
        return 0;
    return fs__dbfail(it->r, src, "reading rows");
}

const char *fs__rows_sql(const fs_rows *it)
{
    return it->sql;
}

const uint8_t *fs_rows_id(const fs_rows *it)
{
    return sqlite3_column_blob(it->st, 0);
}

int fs_rows_get(const fs_rows *it, const char *column, fs_value *out)
{
    int c = -1;
    for (unsigned k = 0; k < ROWS_MEMO && column != NULL; k++)
        if (it->memo_name[k] == column && strcmp(it->t->columns[it->memo_col[k]].name, column) == 0) {
            c = it->memo_col[k];
            break;
        }
    if (c < 0 && (c = fs_schema_column_index(it->t, column)) >= 0) {
        /* the memo is a cache the const iterator keeps for itself */
        fs_rows *m = (fs_rows *)(uintptr_t)it;
        m->memo_name[m->memo_next] = column;
        m->memo_col[m->memo_next] = c;
        m->memo_next = (m->memo_next + 1) % ROWS_MEMO;
    }
    if (c < 0 || (it->place != NULL && it->place[c] == 0)) {
        memset(out, 0, sizeof *out);
        return fs__fail(it->r, FS_ESCHEMA, "%s has no column \"%s\"%s", it->t->name,
                        column ? column : "(null)", c < 0 ? "" : " read");
    }
    fs__value_from_sqlite(sqlite3_column_value(it->st, it->place ? it->place[c] : c + 1), out);
    return 0;
}

int fs_rows_get_nth(const fs_rows *it, size_t k, fs_value *out)
{
    if (k >= it->nnth) {
        memset(out, 0, sizeof *out);
        return fs__fail(it->r, FS_EINVAL, "%s: no column %zu read", it->t->name, k);
    }
    fs__value_from_sqlite(sqlite3_column_value(it->st, it->nth[k]), out);
    return 0;
}

void fs_rows_close(fs_rows *it)
{
    if (it == NULL)
        return;
    if (it->st != NULL && it->sql != NULL)
        kept_give(it->r, it->sql, it->st); /* takes the text */
    else {
        sqlite3_finalize(it->st);
        free(it->sql);
    }
    free(it->nth);
    free(it->place);
    free(it);
}
