/*
 * A team's settings (schema 5, issue 17 point 7): the server-written
 * record `team_setting` (core/schema.c), one row per team and setting
 * (fieldsync/rules.h, FS_TEAM_*), set with `fieldsync-server team set`.
 * A row belongs to no user: every member of its team sees it, an admin
 * every team's (sq__team_setting_visible), so each device of a team holds
 * its team's settings and evaluates deadlines in the team's calendar. A
 * user moved to another team gets the new team's rows again and loses the
 * old team's (sq__team_setting_move), as the roster does.
 */
#include <stdio.h>
#include <string.h>

#include "fieldsync/rules.h"
#include "store_int.h"

/* The row of team's setting: *found 0 when none; its value into value. */
static int setting_find(sq_store *s, const char *team, const char *setting, int *found,
                        uint8_t id[FS_ID_BYTES], char value[FS_TEAM_VALUE_MAX + 1])
{
    *found = 0;
    value[0] = '\0';
    fs_rows *it = NULL;
    fs_value t = fs_textn(team, strlen(team));
    int rc = fs_rows_open(&it, s->r, "team_setting", "team", &t, NULL);
    if (rc != 0)
        return sq__fail(s, rc, "reading the team's settings: %s", fs_replica_errmsg(s->r));
    int more;
    while ((more = fs_rows_next(it)) == 1) {
        fs_value k, v;
        if (fs_rows_get(it, "setting", &k) != 0 || k.type != FS_TEXT || k.n != strlen(setting) ||
            memcmp(k.p, setting, k.n) != 0)
            continue;
        *found = 1;
        memcpy(id, fs_rows_id(it), FS_ID_BYTES);
        if (fs_rows_get(it, "value", &v) == 0 && v.type == FS_TEXT && v.n <= FS_TEAM_VALUE_MAX) {
            memcpy(value, v.p, v.n);
            value[v.n] = '\0';
        }
        break;
    }
    fs_rows_close(it);
    return more < 0 ? sq__fail(s, more, "reading the team's settings: %s", fs_replica_errmsg(s->r))
                    : 0;
}

int sq_team_set(fs_store *base, const char *team, const char *setting, const char *value)
{
    sq_store *s = (sq_store *)base;
    const char *why = NULL;
    if (team == NULL || !sq__name_ok(team))
        return sq__fail(s, FS_EINVAL, "a team is 1-%d printable characters", MAX_NAME);
    if (fs_team_setting_check(setting, value, &why) != 0)
        return sq__fail(s, FS_EINVAL, "%s: %s", setting != NULL ? setting : "?", why);
    int found = 0;
    uint8_t id[FS_ID_BYTES];
    char kept[FS_TEAM_VALUE_MAX + 1];
    int rc = sq__tx_begin(s);
    if (rc == 0)
        rc = setting_find(s, team, setting, &found, id, kept);
    if (rc == 0 && found && strcmp(kept, value) == 0)
        return sq__tx_end(s, 0); /* as kept: nothing written, nothing audited */
    fs_cell cells[3] = {
        {"team", fs_textn(team, strlen(team))},
        {"setting", fs_textn(setting, strlen(setting))},
        {"value", fs_textn(value, strlen(value))},
    };
    if (rc == 0)
        rc = found ? fs_update(s->r, "team_setting", id, cells + 2, 1)
                   : fs_insert(s->r, "team_setting", cells, 3, id);
    if (rc != 0 && fs_replica_errmsg(s->r)[0] != '\0')
        sq__fail(s, rc, "writing the team's settings: %s", fs_replica_errmsg(s->r));
    if (rc == 0) {
        char detail[FS_TEAM_VALUE_MAX + 32];
        snprintf(detail, sizeof detail, "%s=%s", setting, value);
        rc = fs_audit_append(s->audit, "team_set", "operator", team, detail);
        if (rc != 0)
            sq__fail(s, rc, "audit log");
    }
    return sq__tx_end(s, rc);
}

int sq__team_setting_visible(sq_store *s, const sq_user *u, unsigned tix, const uint8_t *row,
                             char team[MAX_NAME + 1])
{
    team[0] = '\0';
    fs_rows *it = NULL;
    fs_value v = fs_blob(row, FS_ID_BYTES);
    int rc = fs_rows_open(&it, s->r, "team_setting", "id", &v, NULL);
    (void)tix;
    if (rc != 0)
        return sq__fail(s, rc, "reading the team's settings: %s", fs_replica_errmsg(s->r));
    rc = fs_rows_next(it);
    fs_value t;
    if (rc == 1 && fs_rows_get(it, "team", &t) == 0 && t.type == FS_TEXT && t.n <= MAX_NAME) {
        memcpy(team, t.p, t.n);
        team[t.n] = '\0';
    }
    fs_rows_close(it);
    if (rc < 0)
        return sq__fail(s, rc, "reading the team's settings: %s", fs_replica_errmsg(s->r));
    return team[0] != '\0' && (u->role == FS_ROLE_ADMIN || strcmp(team, u->team) == 0);
}

int sq__team_setting_move(sq_store *s, const char *name, const char *old_team, const char *new_team)
{
    long long tix = fs_schema_table_index("team_setting");
    uint64_t feed = 0;
    int rc = fs_feed_last(s->r, &feed);
    if (rc == 0)
        rc = sq__run(s,
                     "INSERT INTO purges(user, tbl, row, feed_seq) SELECT ?1, ?2, id, ?3"
                     " FROM team_setting WHERE team=?4",
                     NULL, "tiit", name, tix, (long long)feed, old_team);
    if (rc == 0)
        rc = sq__refeed_rows(s, (unsigned)tix, "SELECT id FROM team_setting WHERE team=?1",
                             new_team, NULL);
    return rc;
}
