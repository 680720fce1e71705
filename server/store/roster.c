/*
 * The team roster (schema 4): the server-written record `roster`
 * (core/schema.c), one row per user with their team, role and whether they
 * are active, kept current as users are added, moved to another team,
 * disabled or enabled. Each row is owned by the user it names and seen by
 * every member of that user's team (and admins: sq__roster_visible), so a
 * manager holds the team's roster and checks a new owner against it
 * (client/roster.c), and every device of a team holds the same one. A user
 * moved to another team leaves the old team's devices (a purge entry per
 * member, as a hand-over's), their devices drop the old team's rows and
 * get the new team's again (re-fed), and their row, written whole, reaches
 * the new team. A row is written only when it differs from the user as
 * stored.
 */
#include <stdio.h>
#include <string.h>

#include "store_int.h"

/* The user's roster row as it stands (found: 0 when none). */
typedef struct roster_row {
    int found;
    uint8_t id[FS_ID_BYTES];
    char team[MAX_NAME + 1];
    int64_t role, active;
} roster_row;

static int roster_find(sq_store *s, const char *name, roster_row *out)
{
    memset(out, 0, sizeof *out);
    fs_rows *it = NULL;
    fs_value who = fs_textn(name, strlen(name));
    int rc = fs_rows_open(&it, s->r, "roster", "name", &who, NULL);
    if (rc != 0)
        return sq__fail(s, rc, "reading the roster: %s", fs_replica_errmsg(s->r));
    rc = fs_rows_next(it);
    if (rc == 1) {
        fs_value team, role, active;
        out->found = 1;
        memcpy(out->id, fs_rows_id(it), FS_ID_BYTES);
        if (fs_rows_get(it, "team", &team) == 0 && team.type == FS_TEXT && team.n <= MAX_NAME)
            memcpy(out->team, team.p, team.n);
        if (fs_rows_get(it, "role", &role) == 0 && role.type == FS_INT)
            out->role = role.i;
        if (fs_rows_get(it, "active", &active) == 0 && active.type == FS_INT)
            out->active = active.i;
        rc = 0;
    } else if (rc < 0) {
        rc = sq__fail(s, rc, "reading the roster: %s", fs_replica_errmsg(s->r));
    }
    fs_rows_close(it);
    return rc;
}

/* A user moved from old_team (name's team is the new one already): the
 * user's row leaves the devices of old_team's members, the old team's rows
 * leave the user's devices, and the new team's rows are fed again so the
 * user's devices get them although their cursors passed them. */
static int move_rows(sq_store *s, const char *old_team, const char *name, const char *new_team,
                     const uint8_t id[FS_ID_BYTES])
{
    long long tix = fs_schema_table_index("roster");
    uint64_t feed = 0;
    int rc = fs_feed_last(s->r, &feed);
    if (rc == 0)
        rc = sq__run(s,
                     "INSERT INTO purges(user, tbl, row, feed_seq) SELECT name, ?1, ?2, ?3"
                     " FROM users WHERE team=?4 AND name<>?5",
                     NULL, "ibitt", tix, id, FS_ID_BYTES, (long long)feed, old_team, name);
    if (rc == 0)
        rc = sq__run(s,
                     "INSERT INTO purges(user, tbl, row, feed_seq) SELECT ?1, ?2, r.id, ?3"
                     " FROM roster AS r JOIN users AS u ON u.name=r.name"
                     " WHERE u.team=?4 AND r.name<>?1",
                     NULL, "tiit", name, tix, (long long)feed, old_team);
    if (rc == 0)
        rc = sq__refeed_rows(s, (unsigned)tix,
                             "SELECT r.id FROM roster AS r JOIN users AS u"
                             " ON u.name=r.name WHERE u.team=?1 AND r.name<>?2",
                             new_team, name);
    return rc;
}

int sq__refeed_rows(sq_store *s, unsigned tix, const char *sql, const char *p1, const char *p2)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(fs_replica_db(s->r), sql, -1, &st, NULL);
    if (src != SQLITE_OK)
        return sq__dbfail(s, src, "store");
    sqlite3_bind_text(st, 1, p1, -1, SQLITE_STATIC);
    if (p2 != NULL)
        sqlite3_bind_text(st, 2, p2, -1, SQLITE_STATIC);
    int rc = 0;
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW)
        if (sqlite3_column_bytes(st, 0) == FS_ID_BYTES)
            rc = fs_replica_refeed_row(s->r, tix, sqlite3_column_blob(st, 0));
    if (rc == 0 && src != SQLITE_DONE)
        rc = sq__dbfail(s, src, "store");
    sqlite3_finalize(st);
    return rc;
}

int sq__roster_visible(sq_store *s, const sq_user *u, const char *owner)
{
    sq_user o;
    if (owner[0] == '\0')
        return 0;
    if (u->role == FS_ROLE_ADMIN || strcmp(owner, u->name) == 0)
        return 1;
    return sq__user_get(s, owner, &o) == 0 && strcmp(o.team, u->team) == 0;
}

int sq__roster_write(sq_store *s, const char *name)
{
    sq_user u;
    roster_row row;
    int rc = sq__user_get(s, name, &u);
    if (rc != 0)
        return rc;
    int disabled = sq__user_disabled(s, name);
    if (disabled < 0)
        return disabled;
    rc = roster_find(s, name, &row);
    if (rc != 0)
        return rc;
    if (row.found && strcmp(row.team, u.team) == 0 && row.role == (int64_t)u.role &&
        row.active == !disabled)
        return 0; /* as kept */
    fs_cell cells[4] = {
        {"name", fs_textn(u.name, strlen(u.name))},
        {"team", fs_textn(u.team, strlen(u.team))},
        {"role", fs_int((int64_t)u.role)},
        {"active", fs_int(!disabled)},
    };
    if (row.found && strcmp(row.team, u.team) != 0)
        rc = move_rows(s, row.team, name, u.team, row.id);
    if (rc == 0 && row.found && strcmp(row.team, u.team) != 0)
        rc = sq__team_setting_move(s, name, row.team, u.team);
    if (rc == 0 && row.found)
        rc = fs_update(s->r, "roster", row.id, cells, 4); /* whole: the new team gets all of it */
    if (rc == 0 && !row.found)
        rc = fs_insert(s->r, "roster", cells, 4, row.id);
    if (rc == 0 && !row.found)
        rc = sq__run(s, "INSERT INTO scope(tbl,row,owner,ptbl,prow) VALUES(?1,?2,?3,NULL,NULL)",
                     NULL, "ibt", (long long)fs_schema_table_index("roster"), row.id,
                     FS_ID_BYTES, name);
    if (rc != 0 && fs_replica_errmsg(s->r)[0] != '\0')
        sq__fail(s, rc, "writing the roster: %s", fs_replica_errmsg(s->r));
    return rc;
}

int sq__tx_begin(sq_store *s)
{
    if (fs_replica_caller_tx(s->r)) {
        s->tx_joined++; /* the caller's transaction */
        return 0;
    }
    int rc = fs_begin(s->r);
    return rc != 0 ? sq__fail(s, rc, "store: %s", fs_replica_errmsg(s->r)) : 0;
}

int sq__tx_end(sq_store *s, int rc)
{
    if (s->tx_joined > 0) {
        s->tx_joined--;
        return rc;
    }
    if (rc == 0)
        rc = sq__feed_scope_catch_up(s); /* what this transaction fed */
    if (rc == 0)
        rc = fs_commit(s->r);
    if (rc != 0)
        fs_rollback(s->r); /* nothing when the commit has closed it */
    return rc;
}

/* Users without a roster row (a store of schema 3, upgraded) get one. */
int sq__roster_catch_up(sq_store *s)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(fs_replica_db(s->r),
                                 "SELECT name FROM users WHERE name NOT IN (SELECT name FROM roster)"
                                 " ORDER BY name",
                                 -1, &st, NULL);
    if (src != SQLITE_OK)
        return sq__dbfail(s, src, "store");
    int rc = 0;
    char name[MAX_NAME + 1];
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        snprintf(name, sizeof name, "%s", (const char *)sqlite3_column_text(st, 0));
        rc = sq__tx_begin(s);
        if (rc == 0)
            rc = sq__tx_end(s, sq__roster_write(s, name));
    }
    sqlite3_finalize(st);
    if (rc == 0 && src != SQLITE_DONE && src != SQLITE_ROW)
        rc = sq__dbfail(s, src, "store");
    return rc;
}

int sq_user_move(fs_store *base, const char *name, const char *team)
{
    sq_store *s = (sq_store *)base;
    sq_user u;
    if (!sq__name_ok(team))
        return sq__fail(s, FS_EINVAL, "a team is 1-%d printable characters", MAX_NAME);
    int rc = sq__user_get(s, name, &u);
    if (rc != 0)
        return rc;
    if (strcmp(u.team, team) == 0)
        return 0;
    char detail[2 * MAX_NAME + 8];
    snprintf(detail, sizeof detail, "%s -> %s", u.team, team);
    rc = sq__tx_begin(s);
    if (rc == 0)
        rc = sq__run(s, "UPDATE users SET team=?2 WHERE name=?1", NULL, "tt", name, team);
    if (rc == 0)
        rc = sq__feed_scope_catch_up(s); /* entries before the move: the old team's */
    if (rc == 0) /* the new team's managers read the user's rows now */
        rc = sq__feed_scope_retag(s, name, team);
    if (rc == 0)
        rc = sq__roster_write(s, name);
    if (rc == 0)
        rc = fs_audit_append(s->audit, "user_move", "operator", name, detail);
    return sq__tx_end(s, rc);
}
