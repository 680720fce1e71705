/*
 * Scope in the SQLite store: who owns a row (through its parents), and
 * who may see it (the rules are in fieldsync/store.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store_int.h"

/* Reads what a deciding value says: an owner name (1..MAX_NAME bytes, no
 * NUL), or a row id. 1 if usable. */
int sq__owner_value(const fs_value *v, char out[MAX_NAME + 1])
{
    if (v->type != FS_TEXT || v->n == 0 || v->n > MAX_NAME || memchr(v->p, 0, v->n) != NULL)
        return 0;
    memcpy(out, v->p, v->n);
    out[v->n] = '\0';
    return 1;
}

/* The scope rule of each table, from the schema. */
sq_rule sq__rule_of(unsigned tix)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    const fs_table *t = &tables[tix];
    sq_rule r = {RULE_NONE, -1, -1, -1};
    if (strcmp(t->name, "customer") == 0) {
        r.kind = RULE_OWNER;
        r.col = fs_schema_column_index(t, "owner");
    } else if (strcmp(t->name, "conflict") == 0) {
        r.kind = RULE_CONFLICT;
        r.col = fs_schema_column_index(t, "tbl");
        r.col_row = fs_schema_column_index(t, "row");
    } else if ((r.col = fs_schema_column_index(t, "customer")) > 0) {
        r.kind = RULE_PARENT;
        r.ref = fs_schema_table_index("customer");
    } else if ((r.col = fs_schema_column_index(t, "plan")) > 0) {
        r.kind = RULE_PARENT;
        r.ref = fs_schema_table_index("weekly_plan");
    } else if ((r.col = fs_schema_column_index(t, "rep")) > 0) {
        r.kind = RULE_REP;
    }
    return r;
}

/* ---- scope ---- */

/* The table and row a stored conflict record is about: FS_ENOTFOUND (as rc,
 * quietly) when there is no such record. */
static int conflict_subject(sq_store *s, const uint8_t id[FS_ID_BYTES], unsigned *tix,
                            uint8_t row[FS_ID_BYTES])
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(fs_replica_db(s->r), "SELECT tbl, row FROM conflict WHERE id=?1",
                                 -1, &st, NULL);
    if (src != SQLITE_OK)
        return sq__dbfail(s, src, "store");
    sqlite3_bind_blob(st, 1, id, FS_ID_BYTES, SQLITE_STATIC);
    src = sqlite3_step(st);
    unsigned nt;
    fs_schema_tables(&nt);
    int rc = FS_ENOTFOUND;
    if (src == SQLITE_ROW && sqlite3_column_bytes(st, 1) == FS_ID_BYTES &&
        sqlite3_column_int64(st, 0) >= 0 && sqlite3_column_int64(st, 0) < (sqlite3_int64)nt) {
        *tix = (unsigned)sqlite3_column_int64(st, 0);
        memcpy(row, sqlite3_column_blob(st, 1), FS_ID_BYTES);
        rc = 0;
    } else if (src != SQLITE_ROW && src != SQLITE_DONE) {
        rc = sq__dbfail(s, src, "store");
    }
    sqlite3_finalize(st);
    return rc;
}

/* The owner of a row, following parents; *owner is "" when unknown. */
int sq__owner_of(sq_store *s, unsigned tix, const uint8_t *row, char owner[MAX_NAME + 1])
{
    sqlite3_stmt *st = NULL;
    int src;
    int rc = sq__stmt(s, "SELECT owner, ptbl, prow FROM scope WHERE tbl=?1 AND row=?2", &st);
    if (rc != 0)
        return rc;
    uint8_t cur[FS_ID_BYTES];
    memcpy(cur, row, FS_ID_BYTES);
    owner[0] = '\0';
    for (int depth = 0; depth < MAX_DEPTH; depth++) {
        sqlite3_bind_int(st, 1, (int)tix);
        sqlite3_bind_blob(st, 2, cur, FS_ID_BYTES, SQLITE_STATIC);
        src = sqlite3_step(st);
        if (src == SQLITE_DONE && (int)tix == fs_schema_table_index("conflict")) {
            /* A conflict record the server found itself: it follows the row
             * it is about, as the record says. */
            sqlite3_reset(st);
            rc = conflict_subject(s, cur, &tix, cur);
            if (rc == FS_ENOTFOUND)
                rc = 0; /* unknown: no owner */
            else if (rc == 0)
                continue;
            break;
        }
        if (src != SQLITE_ROW) {
            if (src != SQLITE_DONE)
                rc = sq__dbfail(s, src, "store");
            break;
        }
        if (sqlite3_column_type(st, 0) == SQLITE_TEXT) {
            snprintf(owner, MAX_NAME + 1, "%s", (const char *)sqlite3_column_text(st, 0));
            break;
        }
        if (sqlite3_column_bytes(st, 2) != FS_ID_BYTES)
            break;
        tix = (unsigned)sqlite3_column_int(st, 1);
        memcpy(cur, sqlite3_column_blob(st, 2), FS_ID_BYTES);
        sqlite3_reset(st);
    }
    sq__done(s, st);
    return rc;
}

/* 1 if u may see (and, for writes, touch) rows owned by owner. */
int sq__in_scope(sq_store *s, const sq_user *u, const char *owner)
{
    if (owner[0] == '\0' || u->role == FS_ROLE_ADMIN)
        return 0;
    if (strcmp(owner, u->name) == 0)
        return 1;
    if (u->role != FS_ROLE_MANAGER)
        return 0;
    sq_user o;
    return sq__user_get(s, owner, &o) == 0 && strcmp(o.team, u->team) == 0;
}

int sq_owner(fs_store *base, unsigned table, const uint8_t row[FS_ID_BYTES],
                   char owner[FS_USER_NAME_MAX + 1])
{
    sq_store *s = (sq_store *)base;
    return sq__owner_of(s, table, row, owner);
}
