/*
 * Records the sync tests write and count: a customer (a key account with a
 * Chinese name) with n visits, each with one commitment, in one transaction;
 * the number of live rows of a table; whether two replicas agree; writes a
 * server's feed holds twice; a commitment's status group, and a write of
 * one column of it as an older device makes it (issue 25.7).
 */
#ifndef FIELDSYNC_TEST_RECORDS_H
#define FIELDSYNC_TEST_RECORDS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "fieldsync/replica.h"
#include "replica_int.h"
#include "test.h"

static inline void test_record_visits(fs_replica *r, int n, uint8_t cust[16])
{
    fs_cell c[] = {{"name", fs_text("XX科技有限公司")}, {"key_account", fs_int(1)}};
    CHECK_OK(fs_insert(r, "customer", c, 2, cust));
    CHECK_OK(fs_begin(r));
    for (int i = 0; i < n; i++) {
        char notes[160];
        snprintf(notes, sizeof notes, "%d. 使用競品，覺得操作複雜；預算50-80萬 (visit %d)", i, i);
        uint8_t vid[16], cid[16];
        fs_cell v[] = {{"customer", fs_blob(cust, 16)},
                       {"time", fs_text("2023-10-10 14:00")},
                       {"place", fs_text("客戶會議室")},
                       {"purpose", fs_text("follow up project XX")},
                       {"notes", fs_text(notes)}};
        CHECK_OK(fs_insert(r, "visit", v, 5, vid));
        fs_cell k[] = {{"visit", fs_blob(vid, 16)},
                       {"customer", fs_blob(cust, 16)},
                       {"text", fs_text("send 3 success cases")},
                       {"due", fs_text("2023-10-12")}};
        CHECK_OK(fs_insert(r, "commitment", k, 4, cid));
    }
    CHECK_OK(fs_commit(r));
}

static inline size_t test_count_rows(fs_replica *r, const char *table)
{
    fs_rows *it = NULL;
    size_t n = 0;
    CHECK_OK(fs_rows_open(&it, r, table, NULL, NULL, NULL));
    while (fs_rows_next(it) == 1)
        n++;
    fs_rows_close(it);
    return n;
}

static inline int test_cmp_written(const void *pa, const void *pb)
{
    const fs_change *a = pa, *b = pb;
    int d = memcmp(a->row, b->row, FS_ID_BYTES);
    if (d == 0)
        d = (a->table > b->table) - (a->table < b->table);
    if (d == 0)
        d = (a->column > b->column) - (a->column < b->column);
    if (d == 0)
        d = (a->version.hlc > b->version.hlc) - (a->version.hlc < b->version.hlc);
    return d != 0 ? d : memcmp(a->version.device, b->version.device, FS_ID_BYTES);
}

/* Changes the server's feed holds more than once (the same write of the
 * same column) in a store's replica: 0 when no push was applied twice. */
static inline int test_feed_duplicates(fs_replica *r)
{
    fs_changeset *cs = NULL;
    CHECK_OK(fs_feed_since(r, 0, SIZE_MAX, &cs));
    qsort(cs->changes, cs->count, sizeof *cs->changes, test_cmp_written);
    int n = 0;
    for (size_t i = 1; i < cs->count; i++)
        n += test_cmp_written(&cs->changes[i - 1], &cs->changes[i]) == 0;
    fs_changeset_free(cs);
    return n;
}

/* a and b hold the same state (fs_replica_state_hash). */
static inline void test_same_state(fs_replica *a, fs_replica *b)
{
    uint8_t ha[32], hb[32];
    CHECK_OK(fs_replica_state_hash(a, ha));
    CHECK_OK(fs_replica_state_hash(b, hb));
    CHECK_MEM(ha, hb, 32);
}

/* Every visit of a equals the one in b, field by field. */

/* A commitment's group as "status|done_at" ("NULL" for none). */
static inline void test_group_state(fs_replica *r, const uint8_t id[16], char *out, size_t cap)
{
    fs_rows *it = NULL;
    out[0] = '\0';
    CHECK_OK(fs_rows_open(&it, r, "commitment", NULL, NULL, NULL));
    while (fs_rows_next(it) == 1) {
        fs_value st, at;
        if (memcmp(fs_rows_id(it), id, 16) != 0)
            continue;
        CHECK_OK(fs_rows_get(it, "status", &st));
        CHECK_OK(fs_rows_get(it, "done_at", &at));
        snprintf(out, cap, "%.*s|%.*s", st.type == FS_TEXT ? (int)st.n : 4,
                 st.type == FS_TEXT ? (const char *)st.p : "NULL",
                 at.type == FS_TEXT ? (int)at.n : 4,
                 at.type == FS_TEXT ? (const char *)at.p : "NULL");
    }
    fs_rows_close(it);
}

/* A write of one column of a group, as a device of protocol 3 or 4 makes it
 * (the write path of this version carries the group along). */
static inline void test_old_partial_write(fs_replica *r, const uint8_t id[16], const char *column,
                                          const char *value)
{
    unsigned nt;
    const fs_table *t = fs_schema_tables(&nt);
    int tix = fs_schema_table_index("commitment");
    unsigned c = (unsigned)fs_schema_column_index(&t[tix], column);
    fs_value v = fs_text(value);
    fs__row row;
    memset(&row, 0, sizeof row);
    CHECK_OK(fs_begin(r));
    CHECK_OK(fs__row_load(r, &row, (unsigned)tix, id));
    CHECK_OK(fs__local_write(r, &row, &c, &v, 1));
    fs__row_clear(&row);
    CHECK_OK(fs_commit(r));
}

#endif
