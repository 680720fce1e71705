/*
 * Records the sync tests write and count: a customer (a key account with a
 * Chinese name) with n visits, each with one commitment, in one transaction;
 * and the number of live rows of a table.
 */
#ifndef FIELDSYNC_TEST_RECORDS_H
#define FIELDSYNC_TEST_RECORDS_H

#include <stdio.h>

#include "fieldsync/replica.h"
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

/* Every visit of a equals the one in b, field by field. */

#endif
