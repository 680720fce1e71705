/*
 * Who made a row (fs_row_maker, issue 24): a customer question has no
 * column naming its writer, yet the new owner of a customer handed over is
 * to be told who asked it. Every field of a row carries its version, the
 * clock and device of the write; the row's first write (the lowest clock)
 * is the one that made it. This device's writes are its user's. Of another
 * device, the replica knows only what the records it wrote say: a record
 * kind's signer column (fieldsync/records.h: a complaint's receiver, a
 * plan's, report's or self-check's rep, a spot-check's supervisor), which
 * the forms fill with the writing user's name in the record's first write,
 * and failing those a visit's visitor written with the visit (visit add
 * writes the device's user there unless told another name). Two names for
 * one device say nothing.
 */
#include <stdio.h>
#include <string.h>

#include "fieldsync/records.h"
#include "replica_int.h"

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The versions' lowest clock other than 0 (never written): the row's first
 * write. 0 when no column was written. */
static uint64_t first_hlc(const uint8_t *ver, size_t vlen, unsigned nc)
{
    uint64_t first = 0;
    for (unsigned c = 0; c < nc && (c + 1) * FS__VER_BYTES <= vlen; c++) {
        uint64_t h = get_le(ver + c * FS__VER_BYTES, 8);
        if (h != 0 && (first == 0 || h < first))
            first = h;
    }
    return first;
}

/* Looks through table's rows for those whose column col was written by
 * device idx in the row's first write; the name it holds goes to found
 * (when found is empty), and a different one sets *two. */
static int names_by(fs_replica *r, const fs_table *tb, const char *col, uint32_t idx,
                    char found[FS_USER_MAX + 1], int *two)
{
    int ci = fs_schema_column_index(tb, col);
    if (ci < 0)
        return 0;
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT \"%s\", _ver FROM \"%s\"", col, tb->name);
    sqlite3_stmt *st = NULL;
    int rc = fs__prepare(r, sql, &st);
    if (rc != 0)
        return rc;
    int src;
    while (!*two && (src = sqlite3_step(st)) == SQLITE_ROW) {
        const uint8_t *ver = sqlite3_column_blob(st, 1);
        size_t vlen = (size_t)sqlite3_column_bytes(st, 1);
        if (ver == NULL || (size_t)(ci + 1) * FS__VER_BYTES > vlen ||
            sqlite3_column_type(st, 0) != SQLITE_TEXT)
            continue;
        uint64_t h = get_le(ver + (size_t)ci * FS__VER_BYTES, 8);
        uint32_t d = (uint32_t)get_le(ver + (size_t)ci * FS__VER_BYTES + 8, 4);
        if (d != idx || h == 0 || h != first_hlc(ver, vlen, tb->ncolumns))
            continue;
        const char *name = (const char *)sqlite3_column_text(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        if (name == NULL || n == 0 || n > FS_USER_MAX)
            continue;
        if (found[0] == '\0') {
            memcpy(found, name, n);
            found[n] = '\0';
        } else if (strlen(found) != n || memcmp(found, name, n) != 0) {
            *two = 1;
        }
    }
    if (*two)
        src = SQLITE_DONE;
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "reading who wrote a record");
}

/* The name device idx signed its records with, as described above. */
static int device_name(fs_replica *r, uint32_t idx, char user[FS_USER_MAX + 1])
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    int two = 0, rc = 0;
    user[0] = '\0';
    for (unsigned t = 0; rc == 0 && !two && t < nt; t++) {
        const fs_record_rules *rr = fs_record_rules_at(t);
        if (r->schema >= (int)tables[t].since && rr != NULL && rr->signer != NULL)
            rc = names_by(r, &tables[t], rr->signer, idx, user, &two);
    }
    int v = fs_schema_table_index("visit");
    if (rc == 0 && !two && user[0] == '\0' && v >= 0)
        rc = names_by(r, &tables[v], "visitor", idx, user, &two);
    if (rc != 0 || two)
        user[0] = '\0';
    return rc;
}

/* The clock of a row's first write (0: none written) and the dictionary
 * index of its device (0: unknown). */
static int row_first(fs_replica *r, unsigned table, const uint8_t id[FS_ID_BYTES],
                     uint64_t *first, uint32_t *idx)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    *first = 0;
    *idx = 0;
    if (table >= nt || r->schema < (int)tables[table].since)
        return fs__fail(r, FS_EINVAL, "no such table");
    const fs_table *tb = &tables[table];
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT _ver FROM \"%s\" WHERE id=?1", tb->name);
    sqlite3_stmt *st = NULL;
    int rc = fs__prepare(r, sql, &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_blob(st, 1, id, FS_ID_BYTES, SQLITE_STATIC);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const uint8_t *ver = sqlite3_column_blob(st, 0);
        size_t vlen = (size_t)sqlite3_column_bytes(st, 0);
        *first = ver != NULL ? first_hlc(ver, vlen, tb->ncolumns) : 0;
        for (unsigned c = 0; *first != 0 && c < tb->ncolumns && (c + 1) * FS__VER_BYTES <= vlen;
             c++) {
            if (get_le(ver + c * FS__VER_BYTES, 8) == *first) {
                *idx = (uint32_t)get_le(ver + c * FS__VER_BYTES + 8, 4);
                break;
            }
        }
        src = SQLITE_DONE;
    } else if (src == SQLITE_DONE) {
        src = SQLITE_NOTFOUND;
    }
    sqlite3_finalize(st);
    if (src == SQLITE_NOTFOUND)
        return fs__fail(r, FS_ENOTFOUND, "no such record");
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "reading who wrote a record");
}

int fs_row_first_clock(fs_replica *r, unsigned table, const uint8_t id[FS_ID_BYTES], uint64_t *hlc)
{
    uint32_t idx;
    return row_first(r, table, id, hlc, &idx);
}

int fs_row_maker(fs_replica *r, unsigned table, const uint8_t id[FS_ID_BYTES],
                 uint8_t device[FS_ID_BYTES], char user[FS_USER_MAX + 1])
{
    uint64_t first;
    uint32_t idx;
    user[0] = '\0';
    memset(device, 0, FS_ID_BYTES);
    int rc = row_first(r, table, id, &first, &idx);
    if (rc != 0)
        return rc;
    if (first == 0 || idx == 0 || idx > r->ndevs)
        return 0; /* never written, or a device the dictionary lacks: unknown */
    memcpy(device, fs__dev_id(r, idx), FS_ID_BYTES);
    if (idx == r->device_idx) {
        rc = fs_replica_user(r, user);
        if (rc == FS_ENOTFOUND) {
            user[0] = '\0';
            rc = 0;
        }
        return rc;
    }
    if (r->keep_feed)
        return 0; /* a server's: it knows its devices' users (fs_store_devices) */
    return device_name(r, idx, user);
}
