/*
 * The narrow view of a replica's internals that a server store uses
 * (fieldsync/replica_server.h), so that server/store/ never includes
 * replica_int.h.
 */
#include <string.h>

#include "fieldsync/replica_server.h"
#include "replica_int.h"

sqlite3 *fs_replica_db(fs_replica *r)
{
    return r->db;
}

uint64_t fs_replica_now_ms(const fs_replica *r)
{
    return fs__now_ms(r);
}

uint64_t fs_replica_max_skew_ms(const fs_replica *r)
{
    return r->opts.max_skew_ms;
}

uint64_t fs_replica_hlc_mark(const fs_replica *r)
{
    return r->hlc;
}

uint64_t fs_replica_hlc_give(fs_replica *r, uint64_t floor)
{
    fs__hlc_observe(r, floor);
    return fs__hlc_tick(r);
}

int fs_replica_begin_nested(fs_replica *r, int *own)
{
    return fs__begin(r, own);
}

int fs_replica_end_nested(fs_replica *r, int own, int rc)
{
    return fs__end(r, own, rc);
}

int fs_replica_value_fits(fs_replica *r, unsigned tix, unsigned col, const fs_value *v)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    if (tix >= nt)
        return FS_EINVAL;
    return fs__value_check(r, &tables[tix], col, v) == 0 ? 0 : FS_EINVAL;
}

int fs_replica_column_version(fs_replica *r, unsigned tix, const uint8_t row[FS_ID_BYTES],
                              unsigned col, fs_version *out, int *exists)
{
    fs__row cur;
    memset(&cur, 0, sizeof cur);
    memset(out, 0, sizeof *out);
    *exists = 0;
    int rc = fs__row_load(r, &cur, tix, row);
    if (rc == 0 && cur.exists && col < cur.t->ncolumns) {
        *exists = 1;
        out->hlc = cur.hlc[col];
        memcpy(out->device, fs__dev_id(r, cur.dev[col]), FS_ID_BYTES);
    }
    fs__row_clear(&cur);
    return rc;
}

int fs_replica_column_holds(fs_replica *r, unsigned tix, const uint8_t row[FS_ID_BYTES],
                            unsigned col, const fs_value *v, int *same)
{
    fs__row cur;
    memset(&cur, 0, sizeof cur);
    *same = 0;
    int rc = fs__row_load(r, &cur, tix, row);
    if (rc == 0 && cur.exists && col < cur.t->ncolumns) {
        fs_value have;
        fs__value_from_sqlite(cur.old[col], &have);
        if (have.type == v->type) {
            if (v->type == FS_TEXT || v->type == FS_BLOB)
                *same = have.n == v->n && (v->n == 0 || memcmp(have.p, v->p, v->n) == 0);
            else if (v->type == FS_INT)
                *same = have.i == v->i;
            else if (v->type == FS_REAL)
                *same = have.r == v->r;
            else
                *same = 1;
        }
    }
    fs__row_clear(&cur);
    return rc;
}

int fs_replica_refeed_row(fs_replica *r, unsigned tix, const uint8_t row[FS_ID_BYTES])
{
    fs__row cur;
    memset(&cur, 0, sizeof cur);
    int rc = fs__row_load(r, &cur, tix, row);
    for (unsigned c = 0; rc == 0 && cur.exists && c < cur.t->ncolumns; c++) {
        if (cur.hlc[c] == 0)
            continue;
        fs_value v;
        fs__value_from_sqlite(cur.old[c], &v);
        if (c == 0 && v.type == FS_NULL)
            v = fs_int(0);
        rc = fs__feed_append(r, tix, c, cur.id, &v, cur.hlc[c], cur.dev[c], 0, 0);
    }
    if (rc == 0)
        rc = fs__feed_flush(r);
    fs__row_clear(&cur);
    return rc;
}

int fs_replica_apply_checked(fs_replica *r, const fs_change *changes, size_t n)
{
    return fs__apply_checked(r, changes, n);
}
