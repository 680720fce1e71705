/*
 * Who holds a record, in the SQLite store: the deadlines a hand-over
 * freezes for the customer's previous owner (fieldsync/rules.h, "whose
 * deadline"; push.c writes the hand-over itself), and the rep a spot-check
 * is attached to (the rep who holds the record checked).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync/calendar.h"
#include "fieldsync/rules.h"
#include "store_int.h"

/* ---- hand-overs ---- */

typedef struct frozen {
    fs_finding *v;
    size_t n, cap;
} frozen;

static int keep_finding(const fs_finding *f, void *ctx)
{
    frozen *fz = ctx;
    if (fz->n == fz->cap) {
        size_t cap = fz->cap ? 2 * fz->cap : 32;
        fs_finding *more = realloc(fz->v, cap * sizeof *more);
        if (more == NULL)
            return FS_ENOMEM;
        fz->v = more;
        fz->cap = cap;
    }
    fz->v[fz->n++] = *f;
    return 0;
}

int sq__handover_charges(sq_store *s, const uint8_t customer[FS_ID_BYTES], const char *from,
                         uint64_t at_ms)
{
    if (from[0] == '\0')
        return 0; /* nobody held it: nothing to charge */
    /* The deadlines as the previous owner's team counts them (issue 17.7):
     * its calendar, set with `fieldsync-server team set`. */
    fs_calendar cal;
    fs_calendar_default(&cal);
    sq_user fu;
    int found = 0;
    if (sq__user_get(s, from, &fu) == 0)
        (void)fs_team_calendar(s->r, fu.team, &cal, &found, NULL);
    int64_t at = 0;
    if (fs_calendar_now(&cal, (int64_t)at_ms, &at) != 0)
        return sq__fail(s, FS_EINVAL, "hand-over: its time cannot be read in the server's zone");
    frozen fz = {NULL, 0, 0};
    int rc = fs_rules_eval_customer(s->r, &cal, customer, at, keep_finding, &fz);
    if (rc != 0)
        rc = sq__fail(s, rc, "hand-over: %s",
                 rc == FS_ENOMEM ? "out of memory" : fs_replica_errmsg(s->r));
    long long tix = fs_schema_table_index("charge");
    for (size_t i = 0; rc == 0 && i < fz.n; i++) {
        fs_charge_text buf;
        fs_cell c[FS_CHARGE_CELLS];
        size_t n = fs_charge_cells(&fz.v[i], from, (int64_t)at_ms, &buf, c);
        uint8_t id[FS_ID_BYTES];
        rc = fs_insert(s->r, "charge", c, n, id);
        if (rc != 0)
            rc = sq__fail(s, rc, "hand-over: %s", fs_replica_errmsg(s->r));
        else /* owned by the rep charged, whatever becomes of the customer */
            rc = sq__run(s,
                         "INSERT INTO scope(tbl,row,owner,ptbl,prow) VALUES(?1,?2,?3,NULL,NULL)",
                         NULL, "ibt", tix, id, FS_ID_BYTES, from);
    }
    free(fz.v);
    return rc;
}

/* ---- spot-checks ---- */

/* The value of column in the stored row (table and column are the
 * schema's names, never a peer's text): FS_NULL when absent. Text and
 * blobs are copied into buf (size bytes), longer ones read as absent. */
static int stored_value(sq_store *s, const char *table, const uint8_t row[FS_ID_BYTES],
                        const char *column, fs_value *out, uint8_t *buf, size_t size)
{
    char sql[160];
    sqlite3_stmt *st = NULL;
    *out = fs_null();
    snprintf(sql, sizeof sql, "SELECT \"%s\" FROM \"%s\" WHERE id=?1", column, table);
    int src = sqlite3_prepare_v2(fs_replica_db(s->r), sql, -1, &st, NULL);
    if (src != SQLITE_OK)
        return sq__dbfail(s, src, "store");
    sqlite3_bind_blob(st, 1, row, FS_ID_BYTES, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        int type = sqlite3_column_type(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        if ((type == SQLITE_TEXT || type == SQLITE_BLOB) && n <= size) {
            memcpy(buf, type == SQLITE_TEXT ? (const void *)sqlite3_column_text(st, 0)
                                            : sqlite3_column_blob(st, 0),
                   n);
            *out = type == SQLITE_TEXT ? (fs_value){.type = FS_TEXT, .p = buf, .n = n}
                                       : fs_blob(buf, n);
        }
    }
    sqlite3_finalize(st);
    return src == SQLITE_ROW || src == SQLITE_DONE ? 0 : sq__dbfail(s, src, "store");
}

int sq__spot_check_rep_ok(sq_store *s, const uint8_t *row, const fs_value *rep,
                          const fs_value *record_table, const fs_value *record_id, int *ok)
{
    uint8_t b1[MAX_NAME + 1], b2[32], b3[FS_ID_BYTES];
    fs_value vr, vt, vi;
    int rc = 0;
    *ok = 0;
    if (rep == NULL && row != NULL)
        rc = stored_value(s, "spot_check", row, "rep", &vr, b1, sizeof b1 - 1);
    else
        vr = rep != NULL ? *rep : fs_null();
    if (rc == 0 && record_table == NULL && row != NULL)
        rc = stored_value(s, "spot_check", row, "record_table", &vt, b2, sizeof b2 - 1);
    else
        vt = record_table != NULL ? *record_table : fs_null();
    if (rc == 0 && record_id == NULL && row != NULL)
        rc = stored_value(s, "spot_check", row, "record_id", &vi, b3, sizeof b3);
    else
        vi = record_id != NULL ? *record_id : fs_null();
    if (rc != 0)
        return rc;
    if (vi.type == FS_NULL) { /* no record named: nothing to attach it to */
        *ok = 1;
        return 0;
    }
    char name[MAX_NAME + 1], table[32], holder[MAX_NAME + 1] = "";
    if (!sq__owner_value(&vr, name) || vt.type != FS_TEXT || vt.n >= sizeof table ||
        vi.type != FS_BLOB || vi.n != FS_ID_BYTES)
        return 0;
    memcpy(table, vt.p, vt.n);
    table[vt.n] = '\0';
    int tix = fs_schema_table_index(table);
    if (tix < 0)
        return 0;
    rc = sq__owner_of(s, (unsigned)tix, vi.p, holder);
    if (rc == 0)
        *ok = holder[0] != '\0' && strcmp(holder, name) == 0;
    return rc;
}
