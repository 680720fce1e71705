/*
 * Pull from the SQLite store: the feed after a cursor in the device
 * user's scope, and the rows that left it (purges).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store_int.h"

/* ---- pull ---- */

#define PULL_SCAN_BATCHES 16 /* batches one pull reads past while it keeps nothing */

static int cmp_row_ref(const void *pa, const void *pb)
{
    const fs_row_ref *a = pa, *b = pb;
    if (a->table != b->table)
        return a->table < b->table ? -1 : 1;
    return memcmp(a->row, b->row, FS_ID_BYTES);
}

/* The rows ever purged from the devices of user name, sorted (*out is malloc'd, never
 * NULL on success). */
static int purged_load(sq_store *s, const char *name, fs_row_ref **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    int src;
    size_t cap = 16;
    *n = 0;
    *out = malloc(cap * sizeof **out);
    if (*out == NULL)
        return sq__fail(s, FS_ENOMEM, "out of memory");
    int rc = sq__stmt(s, "SELECT DISTINCT tbl, row FROM purges WHERE user=?1", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 1) != FS_ID_BYTES)
            continue;
        if (*n == cap) {
            fs_row_ref *more = realloc(*out, 2 * cap * sizeof **out);
            if (more == NULL) {
                src = SQLITE_NOMEM;
                break;
            }
            *out = more;
            cap *= 2;
        }
        (*out)[*n].table = (uint16_t)sqlite3_column_int(st, 0);
        memcpy((*out)[*n].row, sqlite3_column_blob(st, 1), FS_ID_BYTES);
        (*n)++;
    }
    sq__done(s, st);
    if (src != SQLITE_DONE)
        return src == SQLITE_NOMEM ? sq__fail(s, FS_ENOMEM, "out of memory") : sq__dbfail(s, src, "store");
    qsort(*out, *n, sizeof **out, cmp_row_ref);
    return 0;
}

static int purged_has(const fs_row_ref *rows, size_t n, unsigned table, const uint8_t *row)
{
    fs_row_ref key;
    key.table = (uint16_t)table;
    memcpy(key.row, row, FS_ID_BYTES);
    return n > 0 && bsearch(&key, rows, n, sizeof *rows, cmp_row_ref) != NULL;
}

/* 1 in *out if row, or a row it follows (its visit, its customer), is among
 * the purged rows: a device purges what follows a purged customer, rows the
 * server accepted after it listed the purge included (issue 24's writes made
 * before the device saw the hand-over). */
static int purged_follows(sq_store *s, const fs_row_ref *rows, size_t n, unsigned tix,
                          const uint8_t *row, int *out)
{
    *out = 0;
    sqlite3_stmt *st = NULL;
    int src = SQLITE_DONE;
    int rc = sq__stmt(s, "SELECT ptbl, prow FROM scope WHERE tbl=?1 AND row=?2", &st);
    if (rc != 0)
        return rc;
    uint8_t cur[FS_ID_BYTES];
    memcpy(cur, row, FS_ID_BYTES);
    for (int depth = 0; depth < MAX_DEPTH && !*out; depth++) {
        sqlite3_bind_int(st, 1, (int)tix);
        sqlite3_bind_blob(st, 2, cur, FS_ID_BYTES, SQLITE_TRANSIENT);
        src = sqlite3_step(st);
        if (src != SQLITE_ROW || sqlite3_column_type(st, 0) != SQLITE_INTEGER ||
            sqlite3_column_bytes(st, 1) != FS_ID_BYTES)
            break;
        tix = (unsigned)sqlite3_column_int(st, 0);
        memcpy(cur, sqlite3_column_blob(st, 1), FS_ID_BYTES);
        sqlite3_reset(st);
        *out = purged_has(rows, n, tix, cur);
    }
    sq__done(s, st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return sq__dbfail(s, src, "store");
    return 0;
}

typedef char owner_name[MAX_NAME + 1];

/* *group = owner's number among *owners, adding it if new (the most recent
 * first: the feed comes in runs of one writer's rows). */
static int owner_group(sq_store *s, owner_name **owners, size_t *n, const char *owner,
                       uint32_t *group)
{
    if (*n > 0 && strcmp((*owners)[*group], owner) == 0)
        return 0;
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*owners)[i], owner) == 0) {
            *group = (uint32_t)i;
            return 0;
        }
    if ((*n & (*n - 1)) == 0) { /* 0, 1, 2, 4, ...: grow to twice */
        owner_name *more = realloc(*owners, (*n ? 2 * *n : 1) * sizeof **owners);
        if (more == NULL)
            return sq__fail(s, FS_ENOMEM, "out of memory");
        *owners = more;
    }
    snprintf((*owners)[*n], sizeof **owners, "%s", owner);
    *group = (uint32_t)(*n)++;
    return 0;
}

/* A user's purged rows, read when a pull first meets an own write. */
typedef struct purged_rows {
    fs_row_ref *rows; /* NULL until read */
    size_t n;
} purged_rows;

/* One batch of fs_store_pull: the feed entries after cursor that the
 * scope index gives d's user (feedscope.c), up to max changes and
 * max_bytes of packed entries (0: no bound), less what d may not see or
 * has already. The entries between them are not read: a pull costs what
 * it may deliver, not the whole feed's growth. *new_cursor is the last
 * entry read, or the feed's head when the index has no more up to it. */
static int pull_batch(sq_store *s, const sq_device *d, purged_rows *purged, uint64_t cursor,
                      size_t max, size_t max_bytes, fs_changeset **out, uint64_t *new_cursor,
                      int *more, int *own_only)
{
    *own_only = 1;
    *out = NULL;
    *new_cursor = cursor;
    *more = 0;
    fs_changeset *cs = NULL;
    uint64_t head = 0, *seqs = NULL;
    size_t nseqs = 0, want = max ? max : 1;
    int all = 1;
    int rc = fs_feed_last(s->r, &head);
    if (rc != 0)
        return sq__fail(s, rc, "pull: %s", fs_replica_errmsg(s->r));
    /* An entry has at least one change: want entries fill any batch. */
    rc = sq__feed_scope_next(s, &d->u, cursor, head, want, &seqs, &nseqs, &all);
    if (rc != 0)
        return rc;
    rc = fs_feed_entries(s->r, seqs, nseqs, want, max_bytes ? max_bytes : SIZE_MAX, &cs);
    if (rc != 0) {
        free(seqs);
        return sq__fail(s, rc, "pull: %s", fs_replica_errmsg(s->r));
    }
    /* Every entry found read, and none left up to the head: the cursor
     * passes the entries the device may not see, up to the head. */
    if (nseqs == 0 || (all && cs->last_seq == seqs[nseqs - 1]))
        *new_cursor = head > cursor ? head : cursor;
    else
        *new_cursor = cs->last_seq;
    free(seqs);
    size_t kept = 0;
    /* The feed keeps a write's columns together: a row's owner is looked
     * up once, and only when a change of it may be sent. */
    int looked = 0, seen = 0;
    int followed_looked = 0, followed = 0; /* the row follows a purged one */
    /* Each change's compression group: its row's owner, numbered in order of
     * first appearance, so a compressed batch never mixes two owners' text
     * (fieldsync/msg.h). */
    cs->groups = malloc((cs->count ? cs->count : 1) * sizeof *cs->groups);
    owner_name *owners = NULL;
    size_t nowners = 0;
    uint32_t group = 0;
    if (cs->groups == NULL)
        rc = sq__fail(s, FS_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < cs->count; i++) {
        fs_change *c = &cs->changes[i];
        if (i == 0 || c->table != cs->changes[i - 1].table ||
            memcmp(c->row, cs->changes[i - 1].row, FS_ID_BYTES) != 0)
            looked = followed_looked = 0;
        int keep = 1;
        if (memcmp(c->version.device, d->id, FS_ID_BYTES) == 0) {
            /* The device's own write: it has it, unless the row was purged
             * from it since (handed away and back: the feed's copy is then
             * the only one). Not sending it back halves what a rep pulls,
             * and needs no lookup of the row's owner: a device that has
             * just pushed reads past its own writes quickly. */
            if (purged->rows == NULL)
                rc = purged_load(s, d->u.name, &purged->rows, &purged->n);
            keep = rc == 0 && purged_has(purged->rows, purged->n, c->table, c->row);
            if (rc == 0 && !keep && purged->n > 0) {
                if (!followed_looked) /* once per row: its columns come together */
                    rc = purged_follows(s, purged->rows, purged->n, c->table, c->row,
                                        &followed);
                followed_looked = 1;
                keep = rc == 0 && followed;
            }
        } else {
            *own_only = 0;
        }
        if (rc == 0 && keep && !looked && (int)c->table == fs_schema_table_index("team_setting")) {
            /* A team's settings: its members see them (an admin every
             * team's), grouped under the team's name. */
            char team[MAX_NAME + 1];
            int v = sq__team_setting_visible(s, &d->u, c->table, c->row, team);
            rc = v < 0 ? v : 0;
            seen = v == 1;
            if (seen)
                rc = owner_group(s, &owners, &nowners, team, &group);
            looked = 1;
        }
        if (rc == 0 && keep && !looked) {
            char owner[MAX_NAME + 1];
            rc = sq__owner_of(s, c->table, c->row, owner);
            /* The roster: every member of a team sees the team's (an
             * admin every team's); the rest by scope. */
            if ((int)c->table == fs_schema_table_index("roster"))
                seen = rc == 0 && sq__roster_visible(s, &d->u, owner);
            else
                seen = rc == 0 && sq__in_scope(s, &d->u, owner);
            if (seen)
                rc = owner_group(s, &owners, &nowners, owner, &group);
            looked = 1;
        }
        if (rc == 0 && keep && seen) {
            cs->groups[kept] = group;
            cs->changes[kept++] = *c;
        } else if ((c->value.type == FS_TEXT || c->value.type == FS_BLOB) && c->value.n > 0) {
            /* not sent: its bytes do not stay in what is handed out */
            sodium_memzero((void *)(uintptr_t)c->value.p, c->value.n);
        }
    }
    free(owners);
    if (rc != 0) {
        fs_changeset_free(cs);
        return rc;
    }
    *more = head > *new_cursor;
    cs->count = kept;
    *out = cs;
    return 0;
}

/* The device asking for the feed after *cursor, which is clamped: past
 * INT64_MAX is past every feed sequence (SQLite's are signed). */
static int puller(sq_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t *cursor, sq_device *d)
{
    if (*cursor > INT64_MAX)
        *cursor = INT64_MAX;
    int rc = sq__device_get(s, pk, d);
    return rc == FS_ENOTFOUND ? sq__fail(s, FS_EAUTH, "unknown device") : rc;
}

int sq_pull(fs_store *base, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t cursor,
                  size_t max, size_t max_bytes, fs_changeset **out, uint64_t *new_cursor, int *more)
{
    sq_store *s = (sq_store *)base;
    *out = NULL;
    *more = 0;
    sq_device d;
    int rc = puller(s, device_pk, &cursor, &d);
    *new_cursor = cursor;
    if (rc == 0) /* entries some path fed without indexing them */
        rc = sq__feed_scope_catch_up(s);
    if (rc != 0)
        return rc;
    /* A batch of nothing but the device's own writes, none of them sent, is
     * followed by the next one in the same call, up to PULL_SCAN_BATCHES: a
     * device that has just pushed a long backlog would otherwise walk past
     * it one empty round trip at a time (200 of them after a 100,000-visit
     * push). Other writers' rows cost a lookup of their owner each, so a
     * batch of those ends the call as before: one pull reading far ahead
     * past other teams' rows held up every other session's ACK (bench/load.sh
     * full, 1,000 devices: ACK p50 0.3 s -> 1.4 s when any empty batch was
     * read past). */
    purged_rows purged = {NULL, 0};
    for (int scanned = 1;; scanned++) {
        int own_only = 0;
        rc = pull_batch(s, &d, &purged, cursor, max, max_bytes, out, new_cursor, more,
                        &own_only);
        if (rc != 0 || (*out)->count > 0 || !*more || !own_only || scanned >= PULL_SCAN_BATCHES)
            break;
        fs_changeset_free(*out);
        *out = NULL;
        cursor = *new_cursor;
    }
    free(purged.rows);
    return rc;
}

int sq_purges(fs_store *base, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t cursor,
                    size_t max, fs_row_ref **out, size_t *n)
{
    sq_store *s = (sq_store *)base;
    *out = NULL;
    *n = 0;
    sq_device d;
    int rc = puller(s, device_pk, &cursor, &d);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = NULL;
    rc = sq__stmt(s,
                  "SELECT tbl, row FROM purges WHERE user=?1 AND feed_seq>=?2"
                  " ORDER BY seq LIMIT ?3",
                  &st);
    if (rc != 0)
        return rc;
    int src = SQLITE_DONE;
    fs_row_ref *items = calloc(max ? max : 1, sizeof *items);
    if (items == NULL) {
        sq__done(s, st);
        return sq__fail(s, FS_ENOMEM, "out of memory");
    }
    sqlite3_bind_text(st, 1, d.u.name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)cursor);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
    size_t k = 0;
    while (k < max && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 1) != FS_ID_BYTES)
            continue;
        items[k].table = (uint16_t)sqlite3_column_int(st, 0);
        memcpy(items[k].row, sqlite3_column_blob(st, 1), FS_ID_BYTES);
        k++;
    }
    sq__done(s, st);
    if (src != SQLITE_ROW && src != SQLITE_DONE) {
        free(items);
        return sq__dbfail(s, src, "store");
    }
    *out = items;
    *n = k;
    return 0;
}

int sq_purges_told(fs_store *base, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t cursor,
                   size_t max, uint64_t local_seq)
{
    sq_store *s = (sq_store *)base;
    sq_device d;
    int rc = puller(s, device_pk, &cursor, &d);
    if (rc != 0)
        return rc;
    if (local_seq > INT64_MAX)
        local_seq = INT64_MAX;
    /* The same purges sq_purges gave, by the same query; the first telling
     * of each is kept (a device that never pushed what it wrote before it
     * must keep that right), with what the server had acknowledged of the
     * device then: the ACKs went before the PURGE on the channel, so a
     * replica that got the telling holds them (push.c, void_tellings). */
    rc = sq__run(s,
                 "INSERT OR IGNORE INTO purge_told_acked(pk, purge, acked_seq)"
                 " SELECT ?1, seq, ?2 FROM (SELECT seq FROM purges WHERE user=?3 AND feed_seq>=?4"
                 " ORDER BY seq LIMIT ?5) WHERE seq NOT IN (SELECT purge FROM purge_told WHERE"
                 " pk=?1)",
                 NULL, "bitii", device_pk, FS_SIGN_PK_BYTES,
                 (long long)(d.acked > INT64_MAX ? INT64_MAX : d.acked), d.u.name,
                 (long long)cursor, (long long)(max ? max : 1));
    if (rc != 0)
        return rc;
    return sq__run(s,
                   "INSERT OR IGNORE INTO purge_told(pk, purge, local_seq)"
                   " SELECT ?1, seq, ?2 FROM (SELECT seq FROM purges WHERE user=?3 AND feed_seq>=?4"
                   " ORDER BY seq LIMIT ?5)",
                   NULL, "bitii", device_pk, FS_SIGN_PK_BYTES, (long long)local_seq, d.u.name,
                   (long long)cursor, (long long)(max ? max : 1));
}
