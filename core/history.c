/*
 * A record's history (fieldsync history, issue 17 point 3): the writes of
 * its fields this replica knows of, oldest first. This device's own writes
 * come from its change log, every one of them; of another device's writes
 * a replica keeps only the one each field holds now (remote changes are
 * merged, not logged), so that one stands for them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "replica_int.h"

int fs_find_row(fs_replica *r, const char *hex, unsigned *table, uint8_t id[FS_ID_BYTES])
{
    size_t n = hex ? strlen(hex) : 0;
    memset(id, 0, FS_ID_BYTES);
    if (n < 6 || n > 2 * FS_ID_BYTES || strspn(hex, "0123456789abcdefABCDEF") != n)
        return fs__fail(r, FS_EINVAL, "an id is 6 to 32 hexadecimal digits");
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    int found = 0;
    for (unsigned t = 0; t < nt && found < 2; t++) {
        if (r->schema < (int)tables[t].since)
            continue;
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT id FROM \"%s\"", tables[t].name);
        sqlite3_stmt *st = NULL;
        int rc = fs__prepare(r, sql, &st);
        if (rc != 0)
            return rc;
        int src;
        while (found < 2 && (src = sqlite3_step(st)) == SQLITE_ROW) {
            char text[2 * FS_ID_BYTES + 1];
            if (sqlite3_column_bytes(st, 0) != FS_ID_BYTES)
                continue;
            const uint8_t *rid = sqlite3_column_blob(st, 0);
            fs_id_to_hex(rid, text);
            if (strncasecmp(text, hex, n) == 0 && found++ == 0) {
                memcpy(id, rid, FS_ID_BYTES);
                *table = t;
            }
        }
        if (found == 2)
            src = SQLITE_DONE;
        sqlite3_finalize(st);
        if (src != SQLITE_DONE)
            return fs__dbfail(r, src, "looking up an id");
    }
    if (found == 0)
        return fs__fail(r, FS_ENOTFOUND, "no record has an id starting %s", hex);
    if (found > 1) {
        memset(id, 0, FS_ID_BYTES);
        return fs__fail(r, FS_EEXIST, "more than one record has an id starting %s", hex);
    }
    return 0;
}

typedef struct hentry {
    fs_history_entry e;
    uint64_t order; /* the change log's sequence; UINT64_MAX for another device's */
    void *bytes;
} hentry;

static int grow(fs_replica *r, hentry **v, size_t *n, size_t *cap)
{
    if (*n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    hentry *nv = realloc(*v, nc * sizeof *nv);
    if (nv == NULL)
        return fs__fail(r, FS_ENOMEM, "out of memory");
    *v = nv;
    *cap = nc;
    return 0;
}

/* Copies a value's bytes into the entry (they outlive the statement). */
static int keep(fs_replica *r, hentry *h, sqlite3_value *sv)
{
    fs__value_from_sqlite(sv, &h->e.value);
    h->bytes = NULL;
    if ((h->e.value.type == FS_TEXT || h->e.value.type == FS_BLOB) && h->e.value.n > 0) {
        h->bytes = malloc(h->e.value.n);
        if (h->bytes == NULL)
            return fs__fail(r, FS_ENOMEM, "out of memory");
        memcpy(h->bytes, h->e.value.p, h->e.value.n);
        h->e.value.p = h->bytes;
    }
    return 0;
}

static int by_time(const void *a, const void *b)
{
    const hentry *x = a, *y = b;
    if (x->e.version.hlc != y->e.version.hlc)
        return x->e.version.hlc < y->e.version.hlc ? -1 : 1;
    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return x->e.column < y->e.column ? -1 : x->e.column > y->e.column;
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

int fs_row_history(fs_replica *r, unsigned table, const uint8_t id[FS_ID_BYTES],
                   int (*cb)(const fs_history_entry *, void *), void *ctx)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    if (table >= nt)
        return fs__fail(r, FS_ESCHEMA, "no table %u", table);
    const fs_table *t = &tables[table];
    hentry *v = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *st = NULL;
    int rc = fs__prepare(r,
                         "SELECT seq, col, value, hlc FROM changelog WHERE tbl=?1 AND row=?2"
                         " ORDER BY seq",
                         &st);
    int src = SQLITE_DONE;
    if (rc == 0) {
        sqlite3_bind_int(st, 1, (int)table);
        sqlite3_bind_blob(st, 2, id, FS_ID_BYTES, SQLITE_STATIC);
        while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
            unsigned col = (unsigned)sqlite3_column_int(st, 1);
            if (col >= t->ncolumns || (rc = grow(r, &v, &n, &cap)) != 0)
                continue;
            hentry *h = &v[n];
            memset(h, 0, sizeof *h);
            h->e.column = col;
            h->e.local = 1;
            h->e.version.hlc = (uint64_t)sqlite3_column_int64(st, 3);
            memcpy(h->e.version.device, r->device, FS_ID_BYTES);
            h->order = (uint64_t)sqlite3_column_int64(st, 0);
            rc = keep(r, h, sqlite3_column_value(st, 2));
            if (rc == 0)
                n++;
        }
        if (rc == 0 && src != SQLITE_DONE)
            rc = fs__dbfail(r, src, "reading the change log");
        sqlite3_finalize(st);
        st = NULL;
    }
    /* The row as it stands: the fields another device wrote last. */
    char sql[2048];
    size_t len = 0;
    int bad = fs__append(sql, sizeof sql, &len, "SELECT _ver");
    for (unsigned c = 0; c < t->ncolumns; c++)
        bad |= fs__append(sql, sizeof sql, &len, ",\"%s\"", t->columns[c].name);
    bad |= fs__append(sql, sizeof sql, &len, " FROM \"%s\" WHERE id=?1", t->name);
    if (rc == 0 && bad)
        rc = fs__fail(r, FS_EINVAL, "query too long");
    if (rc == 0)
        rc = fs__prepare(r, sql, &st);
    if (rc == 0) {
        sqlite3_bind_blob(st, 1, id, FS_ID_BYTES, SQLITE_STATIC);
        src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            const uint8_t *ver = sqlite3_column_blob(st, 0);
            size_t vlen = (size_t)sqlite3_column_bytes(st, 0);
            for (unsigned c = 0; rc == 0 && c < t->ncolumns && (c + 1) * FS__VER_BYTES <= vlen;
                 c++) {
                uint64_t hlc = get_le(ver + c * FS__VER_BYTES, 8);
                uint32_t dev = (uint32_t)get_le(ver + c * FS__VER_BYTES + 8, 4);
                if (hlc == 0 || dev == r->device_idx || (rc = grow(r, &v, &n, &cap)) != 0)
                    continue;
                hentry *h = &v[n];
                memset(h, 0, sizeof *h);
                h->e.column = c;
                h->e.version.hlc = hlc;
                memcpy(h->e.version.device, fs__dev_id(r, dev), FS_ID_BYTES);
                h->order = UINT64_MAX;
                rc = keep(r, h, sqlite3_column_value(st, (int)c + 1));
                if (rc == 0)
                    n++;
            }
        } else if (src == SQLITE_DONE && n == 0) {
            rc = fs__fail(r, FS_ENOTFOUND, "no such record");
        } else if (src != SQLITE_DONE) {
            rc = fs__dbfail(r, src, "reading a record");
        }
        sqlite3_finalize(st);
    }
    if (rc == 0 && n > 0)
        qsort(v, n, sizeof *v, by_time);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = cb(&v[i].e, ctx);
    for (size_t i = 0; i < n; i++)
        free(v[i].bytes);
    free(v);
    return rc;
}
