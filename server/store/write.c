/*
 * The dashboard's writes into the SQLite store: a manager's review of a
 * weekly plan, a spot-check, or the decision of a conflict, made on the
 * server's replica and fed to the devices like any change.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store_int.h"

/* A text column of a stored row, NUL-terminated in buf ("" when NULL, not
 * text or too long). table and column are the schema's names (never a
 * peer's text): the replica keeps one SQLite table per record, a column
 * per schema column. */
static int row_text(sq_store *s, const char *table, const uint8_t row[FS_ID_BYTES],
                    const char *column, char *buf, size_t size)
{
    char sql[160];
    sqlite3_stmt *st = NULL;
    buf[0] = '\0';
    snprintf(sql, sizeof sql, "SELECT \"%s\" FROM \"%s\" WHERE id=?1", column, table);
    int src = sqlite3_prepare_v2(fs_replica_db(s->r), sql, -1, &st, NULL);
    if (src != SQLITE_OK)
        return sq__dbfail(s, src, "store");
    sqlite3_bind_blob(st, 1, row, FS_ID_BYTES, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT &&
        (size_t)sqlite3_column_bytes(st, 0) < size)
        memcpy(buf, sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0) + 1);
    sqlite3_finalize(st);
    return src == SQLITE_ROW || src == SQLITE_DONE ? 0 : sq__dbfail(s, src, "store");
}

/* A manager decides an open conflict of the team: its status cell, KEPT
 * (the field keeps its value) or RESTORED (the lost value is written back),
 * through fs_conflict_resolve, so the decision and the value are ordinary
 * changes of the server's replica that every device pulls. */
static int decide_conflict(sq_store *s, const sq_user *u, const uint8_t *row, const fs_cell *cells,
                           size_t n)
{
    if (row == NULL || n != 1 || strcmp(cells[0].column, "status") != 0 ||
        cells[0].value.type != FS_INT ||
        (cells[0].value.i != FS_CONFLICT_KEPT && cells[0].value.i != FS_CONFLICT_RESTORED))
        return sq__fail(s, FS_EINVAL, "a conflict is decided by keeping or restoring");
    char owner[MAX_NAME + 1] = "";
    int rc = sq__owner_of(s, (unsigned)fs_schema_table_index("conflict"), row, owner);
    if (rc == FS_ENOTFOUND || (rc == 0 && !sq__in_scope(s, u, owner)))
        return sq__fail(s, FS_ENOTFOUND, "no such conflict in the manager's team");
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(
        fs_replica_db(s->r), "SELECT coalesce(status,0) FROM conflict WHERE id=?1 AND deleted=0",
        -1, &st, NULL);
    if (src != SQLITE_OK)
        return sq__dbfail(s, src, "store");
    sqlite3_bind_blob(st, 1, row, FS_ID_BYTES, SQLITE_STATIC);
    src = sqlite3_step(st);
    int open = src == SQLITE_ROW && sqlite3_column_int(st, 0) == FS_CONFLICT_OPEN;
    sqlite3_finalize(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return sq__dbfail(s, src, "store");
    if (src == SQLITE_DONE)
        return sq__fail(s, FS_ENOTFOUND, "no such conflict in the manager's team");
    if (!open)
        return sq__fail(s, FS_ESTATE, "the conflict is decided already");
    rc = fs_conflict_resolve(s->r, row, (fs_conflict_status)cells[0].value.i);
    return rc != 0 ? sq__fail(s, rc, "%s", fs_replica_errmsg(s->r)) : 0;
}

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
    if (strcmp(table, "conflict") == 0) {
        rc = decide_conflict(s, &u, row, cells, n);
        if (rc == 0 && out_id != NULL)
            memcpy(out_id, row, FS_ID_BYTES);
        return rc;
    }
    /* What a supervisor writes, by the record rules: a review's columns of
     * a weekly plan, a new spot-check. */
    int tix = fs_schema_table_index(table);
    char owner[MAX_NAME + 1] = "", why[160];
    int vr = fs_record_check_supervisor_cells(table, row != NULL, cells, n, why, sizeof why);
    if (vr == FS_RECORD_EUNKNOWN)
        return sq__fail(s, FS_EINVAL,
                        "the dashboard reviews weekly plans and records spot-checks only");
    if (vr != FS_RECORD_OK)
        return sq__fail(s, FS_EINVAL, "%s", why);
    const fs_record_rules *rr = fs_record_rules_at((unsigned)tix);
    if (row != NULL) {
        rc = sq__owner_of(s, (unsigned)tix, row, owner);
    } else {
        for (size_t i = 0; rr->owner != NULL && i < n; i++)
            if (strcmp(cells[i].column, rr->owner) == 0 && cells[i].value.type == FS_TEXT)
                (void)sq__owner_value(&cells[i].value, owner);
    }
    if (rc != 0)
        return rc;
    if (!sq__in_scope(s, &u, owner))
        return sq__fail(s, FS_ENOTFOUND, "no such record in the manager's team");
    if (row == NULL && strcmp(table, "spot_check") == 0) { /* attached to the record's rep */
        const fs_value *v[3] = {NULL, NULL, NULL};
        static const char *const want[3] = {"rep", "record_table", "record_id"};
        for (size_t i = 0; i < n; i++)
            for (int k = 0; k < 3; k++)
                if (strcmp(cells[i].column, want[k]) == 0)
                    v[k] = &cells[i].value;
        int ok = 0;
        rc = sq__spot_check_rep_ok(s, NULL, v[0], v[1], v[2], &ok);
        if (rc != 0)
            return rc;
        if (!ok)
            return sq__fail(s, FS_EINVAL, "a spot-check names the rep who holds the record");
    }
    /* A new status: the action leading to it must start from the current one. */
    for (size_t i = 0; row != NULL && rr->status != NULL && i < n; i++) {
        if (strcmp(cells[i].column, rr->status) != 0 || cells[i].value.type != FS_TEXT)
            continue;
        char to[32] = "", from[32] = "";
        if (cells[i].value.n < sizeof to)
            memcpy(to, cells[i].value.p, cells[i].value.n);
        rc = row_text(s, table, row, rr->status, from, sizeof from);
        if (rc != 0)
            return rc;
        vr = fs_record_check_action(table, fs_record_action_to(table, to), from[0] ? from : NULL,
                                    FS_RECORD_MANAGER, strcmp(owner, manager) == 0, why,
                                    sizeof why);
        if (vr != FS_RECORD_OK)
            return sq__fail(s,
                            vr == FS_RECORD_ESTATE     ? FS_ESTATE
                            : vr == FS_RECORD_EUNKNOWN ? FS_EINVAL
                                                       : FS_EAUTH,
                            "%s", why);
    }
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
        rc = sq__feed_scope_catch_up(s);
    if (rc == 0)
        rc = fs_commit(r);
    else
        fs_rollback(r);
    if (rc == 0 && out_id != NULL)
        memcpy(out_id, row != NULL ? row : id, FS_ID_BYTES);
    return rc;
}
