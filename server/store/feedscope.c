/*
 * The feed's scope index (issue 21.1): for each feed entry, the owner of
 * its row and that owner's team, so that a pull reads the entries its
 * user may see and not the whole growth of the feed.
 *
 * FORMAT
 *   feed_scope  seq INTEGER PRIMARY KEY (the feed entry's), owner TEXT
 *               ("" when the row has none), team TEXT (the owner's, "" for
 *               no user), roster INTEGER (1: a roster row)
 *   indexes     (owner, seq); (team, seq); (team, seq) WHERE roster=1;
 *               (seq) WHERE roster=1
 *
 * Every entry gets its row in the transaction that appended it (the push,
 * a manager's write, a user's roster row: sq__feed_scope_catch_up before
 * the commit), with the owner as that transaction leaves it. A store made
 * before the index gains it on open, every entry indexed by its row's
 * owner then (the same catch-up). A pull catches up too, first, so an
 * entry some other path appended is never missed.
 *
 * An entry's owner changes only by a hand-over, and a hand-over re-feeds
 * the row and what follows it (push.c, refeed): the new entries are
 * indexed under the new owner, which is how history reaches a new owner.
 * Old entries keep the old owner, and a pull still checks each entry's
 * owner as it is now (pull.c), so the old owner's devices are not sent
 * them. A user moved to another team takes their entries' team along
 * (sq__feed_scope_retag), so the new team's managers read them.
 *
 * Who reads which entries: a rep, their own (owner) and their team's
 * roster rows and settings; a manager, their team's (team); an admin,
 * every roster row and setting.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* Entries one pull batch asks the index for at most (FS_SYNC_BATCH is far
 * below): 2 MiB of sequences for a rep's two ranges. */
#define SCOPE_BATCH_MAX ((size_t)1 << 17)

/* The newest feed sequence indexed (0: none). */
static int scope_mark(sq_store *s, uint64_t *mark)
{
    sqlite3_stmt *st = NULL;
    int rc = sq__stmt(s, "SELECT coalesce(max(seq),0) FROM feed_scope", &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_step(st);
    *mark = src == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
    sq__done(s, st);
    return src == SQLITE_ROW ? 0 : sq__dbfail(s, src, "store");
}

/* The team a team_setting row (by id) belongs to, into team ("" when the
 * row is not held). */
static int setting_team(sq_store *s, const void *id, char team[MAX_NAME + 1])
{
    sqlite3_stmt *st = NULL;
    team[0] = '\0';
    int rc = sq__stmt(s, "SELECT team FROM team_setting WHERE id=?1", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_blob(st, 1, id, FS_ID_BYTES, SQLITE_STATIC);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT)
        snprintf(team, MAX_NAME + 1, "%s", (const char *)sqlite3_column_text(st, 0));
    sq__done(s, st);
    return src == SQLITE_ROW || src == SQLITE_DONE ? 0 : sq__dbfail(s, src, "store");
}

/* Indexes the entries after mark (the caller's transaction is open). */
static int index_after(sq_store *s, uint64_t mark)
{
    sqlite3_stmt *st = NULL, *ins = NULL;
    int src = SQLITE_DONE;
    int rc = sq__stmt(s, "SELECT seq, tbl, row FROM feed WHERE seq>?1 ORDER BY seq", &st);
    if (rc == 0)
        rc = sq__stmt(s, "INSERT INTO feed_scope(seq, owner, team, roster) VALUES(?1, ?2, ?3, ?4)",
                      &ins);
    if (rc != 0) {
        sq__done(s, st);
        return rc;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)mark);
    int roster = fs_schema_table_index("roster");
    int team_setting = fs_schema_table_index("team_setting");
    /* The last owner's team: a push's entries are mostly one owner's. */
    char owner[MAX_NAME + 1] = "", last_owner[MAX_NAME + 1] = "", last_team[MAX_NAME + 1] = "";
    int have_last = 0;
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_int64 seq = sqlite3_column_int64(st, 0);
        unsigned tix = (unsigned)sqlite3_column_int(st, 1);
        owner[0] = '\0';
        if (sqlite3_column_bytes(st, 2) == FS_ID_BYTES) {
            uint8_t row[FS_ID_BYTES];
            memcpy(row, sqlite3_column_blob(st, 2), FS_ID_BYTES);
            rc = sq__owner_of(s, tix, row, owner);
        }
        if (rc != 0)
            break;
        if (!have_last || strcmp(owner, last_owner) != 0) {
            sq_user u;
            int grc = owner[0] != '\0' ? sq__user_get(s, owner, &u) : FS_ENOTFOUND;
            if (grc != 0 && grc != FS_ENOTFOUND) {
                rc = grc;
                break;
            }
            snprintf(last_owner, sizeof last_owner, "%s", owner);
            snprintf(last_team, sizeof last_team, "%s", grc == 0 ? u.team : "");
            have_last = 1;
        }
        /* A team's setting (issue 17.7) has no owner: it is the team's,
         * read as the team's roster rows are */
        char set_team[MAX_NAME + 1] = "";
        int team_row = (int)tix == team_setting && sqlite3_column_bytes(st, 2) == FS_ID_BYTES;
        if (team_row)
            rc = setting_team(s, sqlite3_column_blob(st, 2), set_team);
        if (rc != 0)
            break;
        sqlite3_bind_int64(ins, 1, seq);
        sqlite3_bind_text(ins, 2, team_row ? "" : last_owner, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, team_row ? set_team : last_team, -1, SQLITE_STATIC);
        sqlite3_bind_int(ins, 4, (int)tix == roster || team_row);
        int irc = sqlite3_step(ins);
        sqlite3_reset(ins);
        if (irc != SQLITE_DONE)
            rc = sq__dbfail(s, irc, "store");
    }
    sq__done(s, st);
    sq__done(s, ins);
    if (rc == 0 && src != SQLITE_DONE)
        rc = sq__dbfail(s, src, "store");
    return rc;
}

int sq__feed_scope_catch_up(sq_store *s)
{
    uint64_t head = 0, mark = 0;
    int rc = fs_feed_last(s->r, &head); /* writes a pending entry first */
    if (rc != 0)
        return sq__fail(s, rc, "store: %s", fs_replica_errmsg(s->r));
    rc = scope_mark(s, &mark);
    if (rc != 0 || mark >= head)
        return rc;
    if (fs_replica_caller_tx(s->r))
        return index_after(s, mark); /* the caller's transaction */
    rc = fs_begin(s->r);
    if (rc != 0)
        return sq__fail(s, rc, "store: %s", fs_replica_errmsg(s->r));
    rc = index_after(s, mark);
    if (rc == 0)
        rc = fs_commit(s->r);
    if (rc != 0)
        fs_rollback(s->r);
    return rc;
}

void fs_store_sqlite_scope_lazy(fs_store *base, int lazy)
{
    ((sq_store *)base)->scope_lazy = lazy;
}

int sq__feed_scope_retag(sq_store *s, const char *name, const char *team)
{
    return sq__run(s, "UPDATE feed_scope SET team=?2 WHERE owner=?1 AND team<>?2", NULL, "tt",
                   name, team);
}

int sq__feed_scope_retag_row(sq_store *s, unsigned tix, const uint8_t row[FS_ID_BYTES])
{
    char owner[MAX_NAME + 1];
    sq_user u;
    int rc = sq__owner_of(s, tix, row, owner);
    if (rc != 0)
        return rc;
    int grc = owner[0] != '\0' ? sq__user_get(s, owner, &u) : FS_ENOTFOUND;
    if (grc != 0 && grc != FS_ENOTFOUND)
        return grc;
    return sq__run(s,
                   "UPDATE feed_scope SET owner=?3, team=?4 WHERE seq IN"
                   " (SELECT seq FROM feed WHERE tbl=?1 AND row=?2)",
                   NULL, "ibtt", (long long)tix, row, FS_ID_BYTES, owner, grc == 0 ? u.team : "");
}

/* Appends to *out the sequences one query gives (bound: its key, after,
 * upto, limit). */
static int stream(sq_store *s, const char *sql, const char *key, uint64_t after, uint64_t upto,
                  size_t limit, uint64_t *out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    int rc = sq__stmt(s, sql, &st);
    if (rc != 0)
        return rc;
    int k = 1;
    if (key != NULL)
        sqlite3_bind_text(st, k++, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, k++, (sqlite3_int64)after);
    sqlite3_bind_int64(st, k++, (sqlite3_int64)upto);
    sqlite3_bind_int64(st, k, (sqlite3_int64)limit);
    int src = SQLITE_DONE;
    while (*n < limit && (src = sqlite3_step(st)) == SQLITE_ROW)
        out[(*n)++] = (uint64_t)sqlite3_column_int64(st, 0);
    if (*n >= limit)
        src = SQLITE_DONE;
    sq__done(s, st);
    return src == SQLITE_DONE ? 0 : sq__dbfail(s, src, "store");
}

int sq__feed_scope_next(sq_store *s, const sq_user *u, uint64_t after, uint64_t upto,
                        size_t limit, uint64_t **out, size_t *n, int *all)
{
    *out = NULL;
    *n = 0;
    *all = 1;
    if (after > INT64_MAX)
        after = INT64_MAX;
    if (upto > INT64_MAX)
        upto = INT64_MAX;
    if (limit == 0 || upto <= after)
        return 0;
    if (limit > SCOPE_BATCH_MAX) /* a batch of fewer: *all is then 0 */
        limit = SCOPE_BATCH_MAX;
    uint64_t *seqs = malloc(2 * limit * sizeof *seqs);
    if (seqs == NULL)
        return sq__fail(s, FS_ENOMEM, "out of memory");
    size_t k = 0;
    int rc;
    if (u->role == FS_ROLE_ADMIN) {
        rc = stream(s,
                    "SELECT seq FROM feed_scope WHERE roster=1 AND seq>?1 AND seq<=?2"
                    " ORDER BY seq LIMIT ?3",
                    NULL, after, upto, limit, seqs, &k);
        *all = k < limit;
    } else if (u->role == FS_ROLE_MANAGER) {
        rc = stream(s,
                    "SELECT seq FROM feed_scope WHERE team=?1 AND seq>?2 AND seq<=?3"
                    " ORDER BY seq LIMIT ?4",
                    u->team, after, upto, limit, seqs, &k);
        *all = k < limit;
    } else {
        /* A rep: their own rows, and the team's roster rows; merged. */
        size_t a = 0, b = 0;
        rc = stream(s,
                    "SELECT seq FROM feed_scope WHERE owner=?1 AND seq>?2 AND seq<=?3"
                    " ORDER BY seq LIMIT ?4",
                    u->name, after, upto, limit, seqs, &a);
        b = a;
        if (rc == 0)
            rc = stream(s,
                        "SELECT seq FROM feed_scope WHERE team=?1 AND roster=1 AND seq>?2"
                        " AND seq<=?3 ORDER BY seq LIMIT ?4",
                        u->team, after, upto, limit + a, seqs, &b);
        *all = a < limit && b - a < limit;
        /* seqs[0..a) and seqs[a..b) each ascend: merge in place of a copy */
        if (rc == 0 && b > a) {
            uint64_t *m = malloc(b * sizeof *m);
            if (m == NULL) {
                rc = sq__fail(s, FS_ENOMEM, "out of memory");
            } else {
                size_t i = 0, j = a;
                while ((i < a || j < b) && k < limit) {
                    uint64_t v;
                    if (j >= b || (i < a && seqs[i] <= seqs[j]))
                        v = seqs[i++];
                    else
                        v = seqs[j++];
                    if (k == 0 || m[k - 1] != v) /* one's own roster row is in both */
                        m[k++] = v;
                }
                free(seqs);
                seqs = m;
            }
        } else {
            k = a;
        }
    }
    if (rc != 0 || k == 0) {
        free(seqs);
        return rc;
    }
    *out = seqs;
    *n = k;
    return 0;
}

/* ---- compaction (issue 21.1) ----
 * fs_feed_compact_step does the work; each entry it deletes takes its row
 * of the index along in the same transaction, so the index names only
 * entries the feed holds (a rewritten entry keeps its sequence, its row
 * and so its index row). */

static int scope_dropped(void *ctx, uint64_t seq)
{
    return sq__run(ctx, "DELETE FROM feed_scope WHERE seq=?1", NULL, "i", (long long)seq);
}

int sq_compact_step(fs_store *base, fs_feed_compaction *c, size_t rows)
{
    sq_store *s = (sq_store *)base;
    c->dropped = scope_dropped;
    c->ctx = s;
    int rc = sq__tx_begin(s);
    if (rc != 0)
        return rc;
    rc = fs_feed_compact_step(s->r, c, rows);
    if (rc != 0)
        rc = sq__fail(s, rc, "compaction: %s", fs_replica_errmsg(s->r));
    return sq__tx_end(s, rc);
}

int sq_feed_horizon(fs_store *base, uint64_t *horizon)
{
    sq_store *s = (sq_store *)base;
    int rc = fs_feed_horizon(s->r, horizon);
    return rc != 0 ? sq__fail(s, rc, "%s", fs_replica_errmsg(s->r)) : 0;
}

int sq_feed_tag_held(fs_store *base, uint64_t seq, uint64_t tag, int *held)
{
    sq_store *s = (sq_store *)base;
    int rc = fs_feed_tag_held(s->r, seq, tag, held);
    return rc != 0 ? sq__fail(s, rc, "%s", fs_replica_errmsg(s->r)) : 0;
}

int sq_horizon_before(fs_store *base, uint64_t keep_ms, uint64_t *horizon)
{
    sq_store *s = (sq_store *)base;
    uint64_t now = fs_replica_now_ms(s->r);
    int rc;
    if (keep_ms == 0) {
        uint64_t head = 0, old = 0;
        rc = fs_feed_last(s->r, &head);
        if (rc == 0)
            rc = fs_feed_horizon(s->r, &old);
        *horizon = head + 1 > old ? head + 1 : old;
    } else {
        rc = fs_feed_horizon_before(s->r, keep_ms < now ? now - keep_ms : 0, horizon);
    }
    return rc != 0 ? sq__fail(s, rc, "%s", fs_replica_errmsg(s->r)) : 0;
}
