/*
 * The dashboard's writes into the SQLite store: a manager's review of a
 * weekly plan, or a spot-check, made on the server's replica and fed to
 * the devices like any change.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store_int.h"

int sq_manager_write(fs_store *base, const char *manager, const char *table, const uint8_t *row,
                           const fs_cell *cells, size_t n, uint8_t out_id[FS_ID_BYTES])
{
    sq_store *s = (sq_store *)base;
    sq_user u;
    int rc = sq__user_get(s, manager, &u);
    if (rc != 0)
        return rc;
    if (u.role != FS_ROLE_MANAGER)
        return sq__fail(s, FS_EAUTH, "only a manager does this");
    int tix = fs_schema_table_index(table);
    int plan = fs_schema_table_index("weekly_plan"), check = fs_schema_table_index("spot_check");
    char owner[MAX_NAME + 1] = "";
    if (tix == plan && row != NULL) {
        /* a review: only the approval columns */
        for (size_t i = 0; i < n; i++)
            if (strcmp(cells[i].column, "status") != 0 &&
                strcmp(cells[i].column, "approved_by") != 0 &&
                strcmp(cells[i].column, "approved_at") != 0 &&
                strcmp(cells[i].column, "review_comment") != 0)
                return sq__fail(s, FS_EINVAL, "a review changes the approval columns only");
        rc = sq__owner_of(s, (unsigned)tix, row, owner);
    } else if (tix == check && row == NULL) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(cells[i].column, "rep") == 0 && cells[i].value.type == FS_TEXT)
                (void)sq__owner_value(&cells[i].value, owner);
    } else {
        return sq__fail(s, FS_EINVAL,
                    "the dashboard reviews weekly plans and records spot-checks only");
    }
    if (rc != 0)
        return rc;
    if (!sq__in_scope(s, &u, owner))
        return sq__fail(s, FS_ENOTFOUND, "no such record in the manager's team");
    fs_replica *r = s->r;
    uint8_t id[FS_ID_BYTES];
    rc = fs_begin(r);
    if (rc == 0 && row != NULL)
        rc = fs_update(r, table, row, cells, n);
    if (rc == 0 && row == NULL)
        rc = fs_insert(r, table, cells, n, id);
    if (rc == 0 && row == NULL)
        rc = sq__run(s,
                 "INSERT INTO scope(tbl,row,owner,ptbl,prow) VALUES(?1,?2,?3,NULL,NULL)"
                 " ON CONFLICT(tbl,row) DO UPDATE SET owner=excluded.owner",
                 NULL, "ibt", (long long)tix, id, FS_ID_BYTES, owner);
    if (rc == 0)
        rc = fs_commit(r);
    else
        fs_rollback(r);
    if (rc == 0 && out_id != NULL)
        memcpy(out_id, row != NULL ? row : id, FS_ID_BYTES);
    return rc;
}
