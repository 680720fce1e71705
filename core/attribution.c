/*
 * Whose records these are: the device adopts the user and team the server
 * knows it by (READY, from protocol version 3). A rep may work for days
 * before enrolling, under a name set with `whoami --set`; the records made
 * then carry that name in their owner and signer columns (the record rules
 * name them). When the server's name differs while the device enrolls (no
 * server recorded yet, nothing acknowledged or pulled), those records are
 * re-attributed to the server's name as ordinary local writes, so the
 * first push carries them under the right user. At any later sync the
 * records stay as they are (what the server holds is the truth; a row
 * under the old name may be someone else's, pulled from the server) and
 * only the device's name changes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync/error.h"
#include "fieldsync/records.h"
#include "fieldsync/replica.h"
#include "fieldsync/schema.h"

/* The ids of table's live rows whose column holds name; malloc'd. */
static int rows_named(fs_replica *r, const char *table, const char *column, const char *name,
                      uint8_t (**ids)[FS_ID_BYTES], size_t *n)
{
    fs_rows *it = NULL;
    fs_value eq = fs_text(name);
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    int rc = fs_rows_open(&it, r, table, column, &eq, NULL);
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        rc = 0;
        if (*n == cap) {
            size_t more = cap ? 2 * cap : 16;
            uint8_t(*grown)[FS_ID_BYTES] = realloc(*ids, more * sizeof *grown);
            if (grown == NULL) {
                rc = FS_ENOMEM;
                break;
            }
            *ids = grown;
            cap = more;
        }
        memcpy((*ids)[(*n)++], fs_rows_id(it), FS_ID_BYTES);
    }
    fs_rows_close(it);
    return rc < 0 ? rc : 0;
}

/* Writes user into every owner and signer column that holds prev. */
static int reattribute(fs_replica *r, const char *prev, const char *user, size_t *count)
{
    unsigned nt;
    (void)fs_schema_tables(&nt);
    int rc = 0;
    for (unsigned t = 0; rc == 0 && t < nt; t++) {
        const fs_record_rules *rr = fs_record_rules_at(t);
        const char *cols[2] = {rr != NULL ? rr->owner : NULL, rr != NULL ? rr->signer : NULL};
        for (int k = 0; rc == 0 && k < 2; k++) {
            if (cols[k] == NULL || (k == 1 && cols[0] != NULL && strcmp(cols[0], cols[1]) == 0))
                continue;
            uint8_t(*ids)[FS_ID_BYTES] = NULL;
            size_t n = 0;
            rc = rows_named(r, rr->table, cols[k], prev, &ids, &n);
            for (size_t i = 0; rc == 0 && i < n; i++) {
                fs_cell c = {cols[k], fs_text(user)};
                rc = fs_update(r, rr->table, ids[i], &c, 1);
                if (rc == 0)
                    (*count)++;
            }
            free(ids);
        }
    }
    return rc;
}

int fs_replica_adopt_user(fs_replica *r, const char *user, const char *team, char *prev,
                          size_t prevcap, size_t *reattributed)
{
    char old[FS_USER_MAX + 1] = "", oldteam[FS_USER_MAX + 1] = "";
    size_t count = 0;
    if (prev != NULL && prevcap > 0)
        prev[0] = '\0';
    if (reattributed != NULL)
        *reattributed = 0;
    int rc = fs_replica_user(r, old);
    if (rc == FS_ENOTFOUND)
        rc = 0;
    if (rc == 0 && team != NULL && team[0] != '\0' &&
        fs_replica_setting(r, "team", oldteam, sizeof oldteam) != 0)
        oldteam[0] = '\0';
    if (rc != 0)
        return rc;
    int same_user = strcmp(old, user) == 0;
    int same_team = team == NULL || team[0] == '\0' || strcmp(oldteam, team) == 0;
    if (same_user && same_team)
        return 0; /* the usual sync: nothing to write */
    fs_replica_status st;
    char url[FS_SERVER_URL_MAX + 1];
    uint8_t pk[32];
    rc = fs_replica_status_get(r, &st);
    if (rc != 0)
        return rc;
    int enrolling = fs_replica_server(r, url, pk) == FS_ENOTFOUND && st.acked_seq == 0 &&
                    st.cursor == 0;
    rc = fs_begin(r);
    if (rc != 0)
        return rc;
    if (!same_user)
        rc = fs_replica_set_user(r, user);
    if (rc == 0 && !same_team)
        rc = fs_replica_set_setting(r, "team", team);
    if (rc == 0 && !same_user && old[0] != '\0' && enrolling)
        rc = reattribute(r, old, user, &count);
    if (rc == 0)
        rc = fs_commit(r);
    else
        fs_rollback(r);
    if (rc != 0)
        return rc;
    if (prev != NULL && prevcap > 0 && !same_user)
        snprintf(prev, prevcap, "%s", old[0] != '\0' ? old : "");
    if (reattributed != NULL)
        *reattributed = count;
    return 0;
}
