/*
 * Verification of a replica against its change log, and the canonical state
 * hash that convergence tests compare.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "replica_int.h"

/* The newest log entry of one (table, column, row): an open-addressing map. */
typedef struct entry {
    uint8_t key[4 + FS_ID_BYTES]; /* tbl (2) | col (2) | row */
    int used, seen;
    uint64_t hlc;
    sqlite3_value *value; /* owned */
} entry;

typedef struct map {
    entry *e;
    size_t cap, n;
} map;

static uint64_t key_hash(const uint8_t *k)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < 4 + FS_ID_BYTES; i++)
        h = (h ^ k[i]) * 1099511628211ull;
    return h;
}

static entry *map_slot(map *m, const uint8_t *key)
{
    size_t i = (size_t)key_hash(key) & (m->cap - 1);
    while (m->e[i].used && memcmp(m->e[i].key, key, sizeof m->e[i].key) != 0)
        i = (i + 1) & (m->cap - 1);
    return &m->e[i];
}

static int map_grow(map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    entry *ne = calloc(ncap, sizeof *ne);
    if (ne == NULL)
        return -1;
    map old = *m;
    m->e = ne;
    m->cap = ncap;
    for (size_t i = 0; i < old.cap; i++)
        if (old.e[i].used)
            *map_slot(m, old.e[i].key) = old.e[i];
    free(old.e);
    return 0;
}

static void map_free(map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        sqlite3_value_free(m->e[i].value);
    free(m->e);
}

static void make_key(uint8_t *k, unsigned tbl, unsigned col, const void *row)
{
    k[0] = (uint8_t)tbl;
    k[1] = (uint8_t)(tbl >> 8);
    k[2] = (uint8_t)col;
    k[3] = (uint8_t)(col >> 8);
    memcpy(k + 4, row, FS_ID_BYTES);
}

static int values_equal(sqlite3_value *a, sqlite3_value *b)
{
    int ta = a ? sqlite3_value_type(a) : SQLITE_NULL;
    int tb = b ? sqlite3_value_type(b) : SQLITE_NULL;
    if (ta != tb)
        return 0;
    switch (ta) {
    case SQLITE_NULL:
        return 1;
    case SQLITE_INTEGER:
        return sqlite3_value_int64(a) == sqlite3_value_int64(b);
    case SQLITE_FLOAT:
        return sqlite3_value_double(a) == sqlite3_value_double(b);
    default: {
        int na = sqlite3_value_bytes(a), nb = sqlite3_value_bytes(b);
        const void *pa = ta == SQLITE_TEXT ? (const void *)sqlite3_value_text(a)
                                           : sqlite3_value_blob(a);
        const void *pb = ta == SQLITE_TEXT ? (const void *)sqlite3_value_text(b)
                                           : sqlite3_value_blob(b);
        return na == nb && (na == 0 || memcmp(pa, pb, (size_t)na) == 0);
    }
    }
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Records one problem: counts it and describes the first. */
static void problem(fs_replica *r, size_t *count, const char *table, const void *row,
                    const char *col, const char *what)
{
    if ((*count)++ == 0) {
        char hex[33];
        fs_id_to_hex(row, hex);
        fs__fail(r, FS_ETAMPERED, "%s row %s, column %s: %s", table, hex, col, what);
    }
}

static int load_log(fs_replica *r, map *m)
{
    sqlite3_stmt *st = NULL;
    /* Changes the server refused and the rep reverted are left out: the
     * row holds the value they replaced (core/refusals.c). */
    int src = sqlite3_prepare_v2(r->db,
                                 "SELECT tbl,col,row,value,hlc FROM changelog AS c WHERE NOT EXISTS"
                                 " (SELECT 1 FROM refused AS f WHERE f.reverted<>0 AND f.tbl=c.tbl"
                                 " AND f.row=c.row AND f.col=c.col AND f.hlc=c.hlc) ORDER BY seq",
                                 -1, &st, NULL);
    if (src != SQLITE_OK)
        return fs__dbfail(r, src, "reading the change log");
    int rc = 0;
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 2) != FS_ID_BYTES)
            continue;
        if ((m->n + 1) * 2 > m->cap && map_grow(m) != 0) {
            rc = fs__fail(r, FS_ENOMEM, "out of memory");
            break;
        }
        uint8_t key[4 + FS_ID_BYTES];
        make_key(key, (unsigned)sqlite3_column_int(st, 0), (unsigned)sqlite3_column_int(st, 1),
                 sqlite3_column_blob(st, 2));
        entry *e = map_slot(m, key);
        if (!e->used) {
            e->used = 1;
            memcpy(e->key, key, sizeof key);
            m->n++;
        }
        sqlite3_value_free(e->value);
        e->value = sqlite3_value_dup(sqlite3_column_value(st, 3));
        e->hlc = (uint64_t)sqlite3_column_int64(st, 4);
    }
    sqlite3_finalize(st);
    if (rc == 0 && src != SQLITE_DONE)
        rc = fs__dbfail(r, src, "reading the change log");
    return rc;
}

int fs_replica_check(fs_replica *r, size_t *problems)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    map m = {NULL, 0, 0};
    size_t count = 0;
    *problems = 0;
    int rc = map_grow(&m) == 0 ? load_log(r, &m) : fs__fail(r, FS_ENOMEM, "out of memory");
    for (unsigned t = 0; rc == 0 && t < nt; t++) {
        const fs_table *tb = &tables[t];
        char sql[1024];
        size_t len = (size_t)snprintf(sql, sizeof sql, "SELECT id");
        for (unsigned c = 0; c < tb->ncolumns; c++)
            len += (size_t)snprintf(sql + len, sizeof sql - len, ",\"%s\"", tb->columns[c].name);
        snprintf(sql + len, sizeof sql - len, ",_ver FROM \"%s\"", tb->name);
        sqlite3_stmt *st = NULL;
        int src = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
        if (src != SQLITE_OK) {
            rc = fs__dbfail(r, src, "checking the replica");
            break;
        }
        while ((src = sqlite3_step(st)) == SQLITE_ROW) {
            const uint8_t *id = sqlite3_column_blob(st, 0);
            const uint8_t *ver = sqlite3_column_blob(st, (int)tb->ncolumns + 1);
            size_t vlen = (size_t)sqlite3_column_bytes(st, (int)tb->ncolumns + 1);
            if (sqlite3_column_bytes(st, 0) != FS_ID_BYTES) {
                problem(r, &count, tb->name, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", "id",
                        "malformed row id");
                continue;
            }
            if (vlen != tb->ncolumns * FS__VER_BYTES) {
                problem(r, &count, tb->name, id, "_ver", "malformed versions");
                continue;
            }
            for (unsigned c = 0; c < tb->ncolumns; c++) {
                uint64_t hlc = get_le(ver + c * FS__VER_BYTES, 8);
                uint32_t dev = (uint32_t)get_le(ver + c * FS__VER_BYTES + 8, 4);
                uint8_t key[4 + FS_ID_BYTES];
                make_key(key, t, c, id);
                entry *e = map_slot(&m, key);
                sqlite3_value *val = sqlite3_column_value(st, (int)c + 1);
                if (!e->used) {
                    if (dev == r->device_idx)
                        problem(r, &count, tb->name, id, tb->columns[c].name,
                                "value written by this device has no change-log entry");
                    continue;
                }
                e->seen = 1;
                if (dev == r->device_idx) {
                    if (hlc != e->hlc)
                        problem(r, &count, tb->name, id, tb->columns[c].name,
                                "version differs from the change log");
                    else if (!values_equal(val, e->value))
                        problem(r, &count, tb->name, id, tb->columns[c].name,
                                "value differs from the change log");
                } else {
                    fs_version row_v = {hlc, {0}}, log_v = {e->hlc, {0}};
                    memcpy(row_v.device, fs__dev_id(r, dev), FS_ID_BYTES);
                    memcpy(log_v.device, r->device, FS_ID_BYTES);
                    if (fs_version_cmp(&row_v, &log_v) < 0)
                        problem(r, &count, tb->name, id, tb->columns[c].name,
                                "a logged change is missing from the row");
                }
            }
        }
        sqlite3_finalize(st);
        if (src != SQLITE_DONE)
            rc = fs__dbfail(r, src, "checking the replica");
    }
    sqlite3_stmt *purged = NULL;
    if (rc == 0 && sqlite3_prepare_v2(r->db, "SELECT 1 FROM purged WHERE tbl=?1 AND row=?2", -1,
                                      &purged, NULL) != SQLITE_OK)
        rc = fs__dbfail(r, sqlite3_errcode(r->db), "checking the replica");
    for (size_t i = 0; rc == 0 && i < m.cap; i++) {
        entry *e = &m.e[i];
        unsigned tbl = e->key[0] | (unsigned)e->key[1] << 8;
        if (!e->used || e->seen)
            continue;
        /* A row that left this user's scope was purged with its values. */
        sqlite3_bind_int(purged, 1, (int)tbl);
        sqlite3_bind_blob(purged, 2, e->key + 4, FS_ID_BYTES, SQLITE_STATIC);
        int was_purged = sqlite3_step(purged) == SQLITE_ROW;
        sqlite3_reset(purged);
        if (!was_purged)
            problem(r, &count, tbl < nt ? tables[tbl].name : "?", e->key + 4, "-",
                    "a logged change has no row");
    }
    sqlite3_finalize(purged);
    map_free(&m);
    *problems = count;
    if (rc == 0 && count == 0)
        r->errmsg[0] = '\0';
    return rc;
}

static void hash_u64(crypto_generichash_state *h, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    crypto_generichash_update(h, b, 8);
}

int fs_replica_state_hash(fs_replica *r, uint8_t out[32])
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, 32);
    memset(out, 0, 32);
    for (unsigned t = 0; t < nt; t++) {
        const fs_table *tb = &tables[t];
        char sql[1024];
        size_t len = (size_t)snprintf(sql, sizeof sql, "SELECT id");
        for (unsigned c = 0; c < tb->ncolumns; c++)
            len += (size_t)snprintf(sql + len, sizeof sql - len, ",\"%s\"", tb->columns[c].name);
        snprintf(sql + len, sizeof sql - len, ",_ver FROM \"%s\" ORDER BY id", tb->name);
        sqlite3_stmt *st = NULL;
        int src = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
        if (src != SQLITE_OK)
            return fs__dbfail(r, src, "hashing the replica");
        while ((src = sqlite3_step(st)) == SQLITE_ROW) {
            hash_u64(&h, t);
            crypto_generichash_update(&h, sqlite3_column_blob(st, 0),
                                      (size_t)sqlite3_column_bytes(st, 0));
            const uint8_t *ver = sqlite3_column_blob(st, (int)tb->ncolumns + 1);
            size_t vlen = (size_t)sqlite3_column_bytes(st, (int)tb->ncolumns + 1);
            for (unsigned c = 0; c < tb->ncolumns; c++) {
                fs_value v;
                fs__value_from_sqlite(sqlite3_column_value(st, (int)c + 1), &v);
                uint8_t type = (uint8_t)v.type;
                crypto_generichash_update(&h, &type, 1);
                if (v.type == FS_INT) {
                    hash_u64(&h, (uint64_t)v.i);
                } else if (v.type == FS_REAL) {
                    uint64_t bits;
                    memcpy(&bits, &v.r, sizeof bits);
                    hash_u64(&h, bits);
                } else if (v.type == FS_TEXT || v.type == FS_BLOB) {
                    hash_u64(&h, v.n);
                    crypto_generichash_update(&h, v.p, v.n);
                }
                uint64_t hlc = 0;
                uint32_t dev = 0;
                if ((c + 1) * FS__VER_BYTES <= vlen) {
                    hlc = get_le(ver + c * FS__VER_BYTES, 8);
                    dev = (uint32_t)get_le(ver + c * FS__VER_BYTES + 8, 4);
                }
                hash_u64(&h, hlc);
                crypto_generichash_update(&h, fs__dev_id(r, dev), FS_ID_BYTES);
            }
        }
        sqlite3_finalize(st);
        if (src != SQLITE_DONE)
            return fs__dbfail(r, src, "hashing the replica");
    }
    crypto_generichash_final(&h, out, 32);
    return 0;
}
