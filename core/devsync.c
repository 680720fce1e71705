/*
 * A replica's sync bookkeeping: which local changes a server acknowledged,
 * how far the server feed has been applied, and the purge of rows that
 * left the user's scope, which waits while this device has changes the
 * server has not acknowledged (issue 24: a device never purges unsent
 * work; the server's refusals of local changes are refusals.c's). All of
 * it is local to the device and never synced.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync/records.h"
#include "replica_int.h"

int fs_replica_mark_acked(fs_replica *r, uint64_t upto_seq)
{
    uint64_t last = 0;
    int rc = fs_last_seq(r, &last);
    if (rc != 0)
        return rc;
    if (upto_seq > last)
        return fs__fail(r, FS_EINVAL, "acknowledgement of change %llu, but the newest is %llu",
                        (unsigned long long)upto_seq, (unsigned long long)last);
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db, "UPDATE meta SET v=?1 WHERE k='acked_seq' AND v<?1", -1,
                                 &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)upto_seq);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "recording an acknowledgement");
}

int fs__meta_put(fs_replica *r, const char *k, sqlite3_int64 i, const char *text, const char *what)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db, "INSERT OR REPLACE INTO meta(k,v) VALUES(?1,?2)", -1, &st,
                                 NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
        if (text != NULL)
            sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
        else
            sqlite3_bind_int64(st, 2, i);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, what);
}

/* Sets meta k to v (an integer). */
static int meta_put(fs_replica *r, const char *k, uint64_t v, const char *what)
{
    return fs__meta_put(r, k, (sqlite3_int64)v, NULL, what);
}

/* Deletes every row of the tables only the server writes (no log entry:
 * they are none of this device's writes), in rounds of 64 ids. */
static int drop_server_rows(fs_replica *r)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    int rc = 0;
    for (unsigned t = 0; rc == 0 && t < nt; t++) {
        if (!fs_record_server_only(t))
            continue;
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT id FROM \"%s\" LIMIT 64", tables[t].name);
        size_t nids;
        do {
            uint8_t ids[64][FS_ID_BYTES];
            nids = 0;
            sqlite3_stmt *st = NULL;
            int src = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
            if (src != SQLITE_OK)
                return fs__dbfail(r, src, "dropping the server's rows");
            while (nids < 64 && (src = sqlite3_step(st)) == SQLITE_ROW)
                if (sqlite3_column_bytes(st, 0) == FS_ID_BYTES)
                    memcpy(ids[nids++], sqlite3_column_blob(st, 0), FS_ID_BYTES);
            sqlite3_finalize(st);
            if (src != SQLITE_ROW && src != SQLITE_DONE)
                return fs__dbfail(r, src, "dropping the server's rows");
            for (size_t k = 0; rc == 0 && k < nids; k++)
                rc = fs__delete_row(r, t, ids[k], "dropping the server's rows");
        } while (rc == 0 && nids == 64);
    }
    return rc;
}

/* ---- records held that a re-sync does not bring (lost25b) ----
 * A re-sync notes every live record this device holds (held_check, a
 * local table, never synced: FS__SYNC_TABLES_SQL); each pulled change
 * strikes its record off.
 * What is left when the pull from 0 is done is a record the server no
 * longer feeds this device: fs_refusals_return_held sends it back. The
 * meta key held_check says where the check is: 1 the pull from 0 is on
 * its way, 2 done (found_ms set), absent or 0 nothing to check. */
static int held_check_start(fs_replica *r)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    int rc = fs__exec(r, "DELETE FROM held_check", "noting the records held");
    for (unsigned t = 0; rc == 0 && t < nt; t++) {
        if (fs_record_server_only(t))
            continue; /* dropped above: the pull brings them back */
        char sql[256];
        snprintf(sql, sizeof sql,
                 "INSERT OR IGNORE INTO held_check(tbl, row) SELECT %u, id FROM \"%s\""
                 " WHERE \"%s\"=0",
                 t, tables[t].name, tables[t].columns[0].name);
        rc = fs__exec(r, sql, "noting the records held");
    }
    if (rc == 0)
        rc = meta_put(r, "held_check", 1, "noting the records held");
    return rc;
}

/* Strikes the records of n pulled changes off the check (in the
 * transaction that applies them). */
static int held_seen(fs_replica *r, const fs_change *changes, size_t n)
{
    uint64_t state = 0;
    int rc = fs__query_u64(r, "SELECT v FROM meta WHERE k='held_check'", &state);
    if (rc != 0 || state == 0 || n == 0)
        return rc;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db, "DELETE FROM held_check WHERE tbl=?1 AND row=?2", -1, &st,
                                 NULL);
    for (size_t i = 0; src == SQLITE_OK && i < n; i++) {
        if (i > 0 && changes[i].table == changes[i - 1].table &&
            memcmp(changes[i].row, changes[i - 1].row, FS_ID_BYTES) == 0)
            continue; /* a write's columns come together */
        sqlite3_bind_int(st, 1, (int)changes[i].table);
        sqlite3_bind_blob(st, 2, changes[i].row, FS_ID_BYTES, SQLITE_STATIC);
        src = sqlite3_step(st);
        sqlite3_reset(st);
        src = src == SQLITE_DONE ? SQLITE_OK : src;
    }
    sqlite3_finalize(st);
    return src == SQLITE_OK ? 0 : fs__dbfail(r, src, "noting the records pulled");
}

/* Ends what fs_replica_held_check_pulled and fs_replica_resync began: their
 * own transaction (own) committed, or rolled back on rc; a caller's marked
 * failed on rc, for the caller's commit to roll back. */
static int tx_end(fs_replica *r, int own, int rc)
{
    if (!own) {
        if (rc != 0)
            r->tx_failed = 1;
        return rc;
    }
    if (rc == 0)
        return fs_commit(r);
    fs_rollback(r);
    return rc;
}

int fs_replica_held_check_pulled(fs_replica *r)
{
    uint64_t state = 0;
    int rc = fs__query_u64(r, "SELECT v FROM meta WHERE k='held_check'", &state);
    if (rc != 0 || state != 1)
        return rc;
    int own = !r->in_tx;
    rc = own ? fs_begin(r) : 0;
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db, "UPDATE held_check SET found_ms=?1", -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)fs__now_ms(r));
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    rc = src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "noting the records not pulled");
    if (rc == 0)
        rc = meta_put(r, "held_check", 2, "noting the records not pulled");
    return tx_end(r, own, rc);
}

int fs_replica_resync(fs_replica *r, uint32_t why)
{
    int own = !r->in_tx;
    int rc = own ? fs_begin(r) : 0;
    if (rc != 0)
        return rc;
    /* The rows the server writes itself (a hand-over's record, charges,
     * tallies, the roster) are derived on the server; one restored from a
     * backup lost those it wrote since, and writes them again, under new
     * ids, when it gets the changes they came from again. A device holds
     * them only as fed: it drops them and takes what the server holds now
     * from the pull from 0, so it keeps none the server no longer has. */
    rc = drop_server_rows(r);
    /* what the pull from 0 does not bring, the server no longer holds */
    if (rc == 0)
        rc = held_check_start(r);
    if (rc == 0)
        rc = fs__exec(r, "UPDATE meta SET v=0 WHERE k='cursor'", "setting the cursor back");
    /* a record sent again whole (fs_refusals_resend_lost) may be lost again */
    if (rc == 0)
        rc = fs__exec(r, "DELETE FROM meta WHERE k LIKE 'resent_whole:%'", "setting the cursor back");
    if (rc == 0)
        rc = meta_put(r, "cursor_tag", 0, "setting the cursor back");
    if (rc == 0)
        rc = meta_put(r, "resync_ms", fs__now_ms(r), "recording a re-sync");
    if (rc == 0)
        rc = meta_put(r, "resync_why", why, "recording a re-sync");
    return tx_end(r, own, rc);
}

int fs_replica_note_feed_epoch(fs_replica *r, const uint8_t epoch[16], int *resynced)
{
    *resynced = 0;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db, "SELECT v FROM meta WHERE k='feed_epoch'", -1, &st, NULL);
    int have = 0, same = 0;
    if (src == SQLITE_OK) {
        src = sqlite3_step(st);
        if (src == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 16) {
            have = 1;
            same = memcmp(sqlite3_column_blob(st, 0), epoch, 16) == 0;
        }
    }
    sqlite3_finalize(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return fs__dbfail(r, src, "reading the feed epoch");
    if (have && same)
        return 0;
    int rc = fs_begin(r);
    if (rc != 0)
        return rc;
    /* A device that kept no epoch yet (a first sync, or a build before
     * epochs) takes this one: its cursor check still catches a feed that
     * ends before its cursor. */
    if (have) {
        rc = fs_replica_resync(r, FS_RESYNC_EPOCH);
        *resynced = rc == 0;
    }
    if (rc == 0) {
        src = sqlite3_prepare_v2(r->db, "INSERT OR REPLACE INTO meta(k,v) VALUES('feed_epoch',?1)",
                                 -1, &st, NULL);
        if (src == SQLITE_OK) {
            sqlite3_bind_blob(st, 1, epoch, 16, SQLITE_STATIC);
            src = sqlite3_step(st);
        }
        sqlite3_finalize(st);
        if (src != SQLITE_DONE)
            rc = fs__dbfail(r, src, "recording the feed epoch");
    }
    if (rc == 0)
        return fs_commit(r);
    fs_rollback(r);
    *resynced = 0;
    return rc;
}

int fs_replica_cursor_tag(fs_replica *r, uint64_t *out)
{
    return fs__query_u64(r, "SELECT v FROM meta WHERE k='cursor_tag'", out);
}

int fs_replica_note_cursor_tag(fs_replica *r, uint64_t cursor, uint64_t tag)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db,
                                 "INSERT OR REPLACE INTO meta(k,v) SELECT 'cursor_tag', ?2"
                                 " WHERE (SELECT v FROM meta WHERE k='cursor')=?1",
                                 -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)cursor);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)tag);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "recording the cursor's tag");
}

int fs_replica_rewind_acked(fs_replica *r, uint64_t to, int *rewound)
{
    *rewound = 0;
    uint64_t acked = 0;
    int rc = fs__query_u64(r, "SELECT v FROM meta WHERE k='acked_seq'", &acked);
    if (rc != 0 || to >= acked)
        return rc;
    rc = fs_begin(r);
    if (rc != 0)
        return rc;
    rc = meta_put(r, "acked_seq", to, "rewinding the acknowledged mark");
    if (rc == 0)
        rc = meta_put(r, "rewind_ms", fs__now_ms(r), "rewinding the acknowledged mark");
    if (rc == 0)
        rc = meta_put(r, "rewind_from", acked, "rewinding the acknowledged mark");
    if (rc == 0)
        rc = meta_put(r, "rewind_to", to, "rewinding the acknowledged mark");
    if (rc == 0) {
        rc = fs_commit(r);
        *rewound = rc == 0;
        return rc;
    }
    fs_rollback(r);
    return rc;
}

int fs_apply_pulled(fs_replica *r, const fs_change *changes, size_t n, uint64_t new_cursor,
                    fs_apply_stats *stats)
{
    int own = !r->in_tx;
    int rc = own ? fs_begin(r) : 0;
    if (rc != 0)
        return rc;
    rc = fs__apply_any_clock(r, changes, n, stats);
    if (rc == 0)
        rc = held_seen(r, changes, n);
    if (rc == 0) {
        sqlite3_stmt *st = NULL;
        int src = sqlite3_prepare_v2(r->db, "UPDATE meta SET v=?1 WHERE k='cursor' AND v<?1", -1,
                                     &st, NULL);
        if (src == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, (sqlite3_int64)new_cursor);
            src = sqlite3_step(st);
        }
        sqlite3_finalize(st);
        if (src != SQLITE_DONE) {
            rc = fs__dbfail(r, src, "advancing the cursor");
            if (!own)
                r->tx_failed = 1;
        }
    }
    if (own) {
        if (rc == 0)
            return fs_commit(r);
        fs_rollback(r);
    }
    return rc;
}

int fs__delete_row(fs_replica *r, unsigned tix, const uint8_t row[FS_ID_BYTES], const char *what)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM \"%s\" WHERE id=?1", tables[tix].name);
    sqlite3_stmt *st = NULL;
    fs__touch(r);
    r->guard++; /* prepared and run by the API (see the authorizer) */
    int src = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_blob(st, 1, row, FS_ID_BYTES, SQLITE_STATIC);
        src = sqlite3_step(st);
    }
    r->guard--;
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return fs__dbfail(r, src, what);
    return fs__search_forget(r, tix, row);
}

/* Deletes one row (without logging) and remembers it as purged. */
static int purge_one(fs_replica *r, unsigned tix, const uint8_t *row, sqlite3_stmt *mark)
{
    int rc = fs__delete_row(r, tix, row, "purging a row");
    if (rc != 0)
        return rc;
    sqlite3_bind_int(mark, 1, (int)tix);
    sqlite3_bind_blob(mark, 2, row, FS_ID_BYTES, SQLITE_STATIC);
    int src = sqlite3_step(mark);
    sqlite3_reset(mark);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "purging a row");
}

/* Purges one row and, first, the conflict records about it (they hold
 * its values), in rounds of up to 64 (deleting while reading would
 * disturb the query). */
static int purge_with_conflicts(fs_replica *r, unsigned tix, const uint8_t *row,
                                sqlite3_stmt *mark, sqlite3_stmt *conflicts, int cf)
{
    int rc = 0;
    size_t nids;
    do {
        uint8_t ids[64][FS_ID_BYTES];
        nids = 0;
        sqlite3_bind_int(conflicts, 1, (int)tix);
        sqlite3_bind_blob(conflicts, 2, row, FS_ID_BYTES, SQLITE_STATIC);
        while (nids < 64 && sqlite3_step(conflicts) == SQLITE_ROW)
            if (sqlite3_column_bytes(conflicts, 0) == FS_ID_BYTES)
                memcpy(ids[nids++], sqlite3_column_blob(conflicts, 0), FS_ID_BYTES);
        sqlite3_reset(conflicts);
        for (size_t k = 0; rc == 0 && k < nids; k++)
            rc = purge_one(r, (unsigned)cf, ids[k], mark);
    } while (rc == 0 && nids == 64);
    if (rc == 0)
        rc = purge_one(r, tix, row, mark);
    return rc;
}

/* The rows here that follow customer (a `customer` column naming it) and
 * hold no open refusal: what this device wrote under a customer after the
 * server's list of its rows was made (issue 24). Purged in rounds of 64. */
static int purge_followers(fs_replica *r, const uint8_t customer[FS_ID_BYTES],
                           sqlite3_stmt *mark, sqlite3_stmt *conflicts, int cf)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    int rc = 0;
    for (unsigned t = 0; rc == 0 && t < nt; t++) {
        int col = fs_schema_column_index(&tables[t], "customer");
        if (col <= 0 || tables[t].columns[col].type != FS_COL_ID ||
            tables[t].columns[col].ref == NULL || strcmp(tables[t].columns[col].ref, "customer") != 0)
            continue;
        char sql[192];
        snprintf(sql, sizeof sql,
                 "SELECT id FROM \"%s\" WHERE customer=?1 AND id NOT IN"
                 " (SELECT row FROM refused WHERE tbl=?2 AND reverted=0) LIMIT 64",
                 tables[t].name);
        size_t nids;
        do {
            uint8_t ids[64][FS_ID_BYTES];
            nids = 0;
            sqlite3_stmt *st = NULL;
            int src = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
            if (src != SQLITE_OK)
                return fs__dbfail(r, src, "purging a customer's records");
            sqlite3_bind_blob(st, 1, customer, FS_ID_BYTES, SQLITE_STATIC);
            sqlite3_bind_int(st, 2, (int)t);
            while (nids < 64 && (src = sqlite3_step(st)) == SQLITE_ROW)
                if (sqlite3_column_bytes(st, 0) == FS_ID_BYTES)
                    memcpy(ids[nids++], sqlite3_column_blob(st, 0), FS_ID_BYTES);
            sqlite3_finalize(st);
            if (src != SQLITE_ROW && src != SQLITE_DONE)
                return fs__dbfail(r, src, "purging a customer's records");
            for (size_t k = 0; rc == 0 && k < nids; k++)
                rc = purge_with_conflicts(r, t, ids[k], mark, conflicts, cf);
        } while (rc == 0 && nids == 64);
    }
    return rc;
}

/* Purges rows (and, with follow, what follows a purged customer here)
 * inside the caller's transaction. */
static int purge_rows(fs_replica *r, const fs_row_ref *rows, size_t n, int follow)
{
    unsigned nt;
    fs_schema_tables(&nt);
    int cf = fs_schema_table_index("conflict");
    int cust = fs_schema_table_index("customer");
    int rc = 0;
    sqlite3_stmt *mark = NULL, *conflicts = NULL;
    int src = sqlite3_prepare_v2(r->db, "INSERT OR IGNORE INTO purged(tbl,row) VALUES(?1,?2)", -1,
                                 &mark, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_prepare_v2(r->db, "SELECT id FROM conflict WHERE tbl=?1 AND row=?2", -1,
                                 &conflicts, NULL);
    if (src != SQLITE_OK)
        rc = fs__dbfail(r, src, "purging rows");
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = purge_with_conflicts(r, rows[i].table, rows[i].row, mark, conflicts, cf);
    for (size_t i = 0; rc == 0 && follow && i < n; i++)
        if ((int)rows[i].table == cust)
            rc = purge_followers(r, rows[i].row, mark, conflicts, cf);
    sqlite3_finalize(mark);
    sqlite3_finalize(conflicts);
    return rc;
}

static int check_tables(fs_replica *r, const fs_row_ref *rows, size_t n)
{
    unsigned nt;
    fs_schema_tables(&nt);
    for (size_t i = 0; i < n; i++)
        if (rows[i].table >= nt)
            return fs__fail(r, FS_ESCHEMA, "purge of an unknown table");
    return 0;
}

int fs_replica_purge(fs_replica *r, const fs_row_ref *rows, size_t n)
{
    int rc = check_tables(r, rows, n);
    int own = 0;
    if (rc == 0)
        rc = fs__begin(r, &own);
    if (rc != 0)
        return rc;
    return fs__end(r, own, purge_rows(r, rows, n, 0));
}

/* 1 when a local change has not been acknowledged by a server yet. */
static int unsent(fs_replica *r, int *out)
{
    uint64_t last = 0, acked = 0;
    int rc = fs_last_seq(r, &last);
    if (rc == 0)
        rc = fs__query_u64(r, "SELECT v FROM meta WHERE k='acked_seq'", &acked);
    *out = rc == 0 && last > acked;
    return rc;
}

int fs_replica_purge_when_sent(fs_replica *r, const fs_row_ref *rows, size_t n)
{
    int rc = check_tables(r, rows, n);
    int own = 0, wait = 0;
    if (rc == 0)
        rc = fs__begin(r, &own);
    if (rc != 0)
        return rc;
    rc = unsent(r, &wait);
    if (rc == 0 && !wait) {
        rc = purge_rows(r, rows, n, 1);
        return fs__end(r, own, rc);
    }
    sqlite3_stmt *st = NULL;
    int src = rc == 0 ? sqlite3_prepare_v2(r->db,
                                           "INSERT OR IGNORE INTO purge_wait(tbl,row) VALUES(?1,?2)",
                                           -1, &st, NULL)
                      : SQLITE_OK;
    if (src != SQLITE_OK)
        rc = fs__dbfail(r, src, "keeping a purge for later");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sqlite3_bind_int(st, 1, (int)rows[i].table);
        sqlite3_bind_blob(st, 2, rows[i].row, FS_ID_BYTES, SQLITE_STATIC);
        src = sqlite3_step(st);
        sqlite3_reset(st);
        if (src != SQLITE_DONE)
            rc = fs__dbfail(r, src, "keeping a purge for later");
    }
    sqlite3_finalize(st);
    return fs__end(r, own, rc);
}

int fs_replica_purge_due(fs_replica *r, size_t *purged)
{
    if (purged != NULL)
        *purged = 0;
    uint64_t waiting = 0;
    int rc = fs__query_u64(r, "SELECT count(*) FROM purge_wait", &waiting);
    if (rc != 0 || waiting == 0)
        return rc;
    int own = 0, wait = 0;
    rc = fs__begin(r, &own);
    if (rc != 0)
        return rc;
    rc = unsent(r, &wait);
    if (rc != 0 || wait)
        return fs__end(r, own, rc);
    fs_row_ref *rows = calloc((size_t)waiting, sizeof *rows);
    if (rows == NULL)
        return fs__end(r, own, fs__fail(r, FS_ENOMEM, "out of memory"));
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    int src = sqlite3_prepare_v2(r->db, "SELECT tbl, row FROM purge_wait ORDER BY rowid", -1, &st,
                                 NULL);
    unsigned nt;
    fs_schema_tables(&nt);
    while (src == SQLITE_OK && n < waiting && (src = sqlite3_step(st)) == SQLITE_ROW) {
        src = SQLITE_OK;
        if (sqlite3_column_bytes(st, 1) != FS_ID_BYTES || sqlite3_column_int64(st, 0) < 0 ||
            sqlite3_column_int64(st, 0) >= (sqlite3_int64)nt)
            continue;
        rows[n].table = (uint16_t)sqlite3_column_int(st, 0);
        memcpy(rows[n].row, sqlite3_column_blob(st, 1), FS_ID_BYTES);
        n++;
    }
    sqlite3_finalize(st);
    if (src != SQLITE_OK && src != SQLITE_DONE && src != SQLITE_ROW)
        rc = fs__dbfail(r, src, "reading the purges kept for later");
    if (rc == 0)
        rc = purge_rows(r, rows, n, 1);
    free(rows);
    if (rc == 0) {
        char *err = NULL;
        if (sqlite3_exec(r->db, "DELETE FROM purge_wait", NULL, NULL, &err) != SQLITE_OK)
            rc = fs__fail(r, FS_EDB, "clearing the purges kept for later: %s", err ? err : "?");
        sqlite3_free(err);
    }
    if (rc == 0 && purged != NULL)
        *purged = n;
    return fs__end(r, own, rc);
}

int fs_replica_handed_away(fs_replica *r, unsigned table, const uint8_t row[FS_ID_BYTES], int *out)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    *out = 0;
    if (table >= nt)
        return fs__fail(r, FS_ESCHEMA, "unknown table");
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT EXISTS(SELECT 1 FROM purge_wait WHERE tbl=?1 AND row=?2) OR"
             " (EXISTS(SELECT 1 FROM purged WHERE tbl=?1 AND row=?2) AND"
             " NOT EXISTS(SELECT 1 FROM \"%s\" WHERE id=?2))",
             tables[table].name);
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int(st, 1, (int)table);
        sqlite3_bind_blob(st, 2, row, FS_ID_BYTES, SQLITE_STATIC);
        src = sqlite3_step(st);
        if (src == SQLITE_ROW)
            *out = sqlite3_column_int(st, 0) != 0;
    }
    sqlite3_finalize(st);
    return src == SQLITE_ROW ? 0 : fs__dbfail(r, src, "reading the purges");
}

int fs_replica_status_get(fs_replica *r, fs_replica_status *out)
{
    memset(out, 0, sizeof *out);
    uint64_t first_hlc = 0;
    int rc = fs_last_seq(r, &out->last_seq);
    if (rc == 0)
        rc = fs__query_u64(r, "SELECT v FROM meta WHERE k='acked_seq'", &out->acked_seq);
    if (rc == 0)
        rc = fs__query_u64(r, "SELECT v FROM meta WHERE k='cursor'", &out->cursor);
    if (rc == 0)
        rc = fs__query_u64(r,
                           "SELECT count(*) FROM conflict WHERE deleted=0 AND coalesce(status,0)=0",
                           &out->open_conflicts);
    if (rc == 0)
        rc = fs__query_u64(r, "SELECT count(*) FROM refused WHERE reverted=0", &out->refused);
    uint64_t reason = 0;
    if (rc == 0 && out->refused > 0)
        rc = fs__query_u64(r, "SELECT reason FROM refused WHERE reverted=0 ORDER BY n DESC LIMIT 1",
                           &reason);
    out->refused_reason = reason <= UINT32_MAX ? (uint32_t)reason : 0;
    if (rc == 0)
        rc = fs__query_u64(r, "SELECT v FROM meta WHERE k='last_sync_ms'", &out->last_sync_ms);
    if (rc == 0)
        rc = fs__query_u64(r,
                           "SELECT hlc FROM changelog WHERE seq > (SELECT v FROM meta WHERE"
                           " k='acked_seq') ORDER BY seq LIMIT 1",
                           &first_hlc);
    if (rc == 0)
        rc = fs__query_u64(r, "SELECT v FROM meta WHERE k='lease_expires_ms'",
                           &out->lease_expires_ms);
    uint64_t why = 0;
    if (rc == 0)
        rc = fs__query_u64(r, "SELECT v FROM meta WHERE k='resync_ms'", &out->resync_ms);
    if (rc == 0)
        rc = fs__query_u64(r, "SELECT v FROM meta WHERE k='resync_why'", &why);
    out->resync_why = why <= UINT32_MAX ? (uint32_t)why : 0;
    if (rc == 0)
        rc = fs__query_u64(r, "SELECT v FROM meta WHERE k='rewind_ms'", &out->rewind_ms);
    if (rc == 0)
        rc = fs__query_u64(r, "SELECT v FROM meta WHERE k='rewind_from'", &out->rewind_from);
    if (rc == 0)
        rc = fs__query_u64(r, "SELECT v FROM meta WHERE k='rewind_to'", &out->rewind_to);
    if (rc == 0)
        rc = fs__query_u64(r, "SELECT v FROM meta WHERE k='returned_ms'", &out->returned_ms);
    if (rc == 0)
        rc = fs__query_u64(r, "SELECT v FROM meta WHERE k='returned_n'", &out->returned_n);
    out->pending = out->last_seq > out->acked_seq ? out->last_seq - out->acked_seq : 0;
    out->oldest_pending_ms = first_hlc >> 16;
    out->locked = out->lease_expires_ms != 0 && fs__now_ms(r) >= out->lease_expires_ms;
    out->clock_known = fs_replica_clock_offset(r, &out->clock_offset_ms);
    return rc;
}

int fs_replica_renew_lease(fs_replica *r, uint64_t server_now_ms, uint64_t expires_ms)
{
    uint64_t now = fs__now_ms(r);
    uint64_t left = expires_ms > server_now_ms ? expires_ms - server_now_ms : 0;
    uint64_t until = left > INT64_MAX - now ? (uint64_t)INT64_MAX : now + left;
    if (until == 0)
        until = 1; /* 0 means "no lease" */
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(
        r->db, "INSERT OR REPLACE INTO meta(k,v) VALUES('lease_expires_ms',?1)", -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)until);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "recording the lease");
}

int fs_replica_lease_expired(fs_replica *r)
{
    uint64_t until = 0;
    int rc = fs__query_u64(r, "SELECT v FROM meta WHERE k='lease_expires_ms'", &until);
    if (rc != 0)
        return rc;
    return until != 0 && fs__now_ms(r) >= until;
}

int fs_replica_mark_synced(fs_replica *r)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(
        r->db, "INSERT OR REPLACE INTO meta(k,v) VALUES('last_sync_ms',?1)", -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)fs__now_ms(r));
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "recording the sync time");
}

/* 1 if url may be one of the server's addresses: 1..FS_SERVER_URL_MAX bytes
 * of UTF-8, no blank or control character (the list is kept one a line). */
static int server_url_ok(const char *url)
{
    size_t n = url != NULL ? strnlen(url, FS_SERVER_URL_MAX + 1) : 0;
    if (n == 0 || n > FS_SERVER_URL_MAX || !fs_utf8_valid(url, n))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7F)
            return 0;
    return 1;
}

int fs_replica_set_servers(fs_replica *r, const fs_server_list *list, const uint8_t pk[32])
{
    if (list == NULL || pk == NULL || list->n == 0 || list->n > FS_SERVERS_MAX)
        return fs__fail(r, FS_EINVAL, "a server has 1-%d addresses", FS_SERVERS_MAX);
    char joined[FS_SERVERS_MAX * (FS_SERVER_URL_MAX + 1)];
    size_t len = 0;
    for (size_t i = 0; i < list->n; i++) {
        if (!server_url_ok(list->url[i]))
            return fs__fail(r, FS_EINVAL, "a server URL is 1-%d bytes of UTF-8 without blanks",
                            FS_SERVER_URL_MAX);
        for (size_t j = 0; j < i; j++)
            if (strcmp(list->url[i], list->url[j]) == 0)
                return fs__fail(r, FS_EINVAL, "the server's addresses are listed twice");
        size_t n = strlen(list->url[i]);
        if (i > 0)
            joined[len++] = '\n';
        memcpy(joined + len, list->url[i], n);
        len += n;
    }
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db,
                                 "INSERT OR REPLACE INTO meta(k,v) VALUES('server_url',?1),"
                                 "('server_pk',?2),('server_urls',?3)",
                                 -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(st, 1, list->url[0], -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, pk, 32, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, joined, (int)len, SQLITE_STATIC);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return fs__dbfail(r, src, "saving the server");
    /* the one that answered last is forgotten with its address */
    src = sqlite3_prepare_v2(r->db,
                             "DELETE FROM meta WHERE k='server_last' AND"
                             " instr(char(10)||?1||char(10), char(10)||v||char(10))=0",
                             -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(st, 1, joined, (int)len, SQLITE_STATIC);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "saving the server");
}

int fs_replica_set_server(fs_replica *r, const char *url, const uint8_t pk[32])
{
    fs_server_list one;
    memset(&one, 0, sizeof one);
    if (!server_url_ok(url) || pk == NULL)
        return fs__fail(r, FS_EINVAL, "a server URL is 1-%d bytes", FS_SERVER_URL_MAX);
    one.n = 1;
    memcpy(one.url[0], url, strlen(url) + 1);
    return fs_replica_set_servers(r, &one, pk);
}

int fs_replica_servers(fs_replica *r, fs_server_list *out, uint8_t pk[32])
{
    memset(out, 0, sizeof *out);
    memset(pk, 0, 32);
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db,
                                 "SELECT (SELECT v FROM meta WHERE k='server_url'),"
                                 " (SELECT v FROM meta WHERE k='server_pk'),"
                                 " (SELECT v FROM meta WHERE k='server_urls'),"
                                 " (SELECT v FROM meta WHERE k='server_last')",
                                 -1, &st, NULL);
    if (src != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return fs__dbfail(r, src != SQLITE_OK ? src : SQLITE_ERROR, "reading the server");
    }
    int rc = 0;
    if (sqlite3_column_type(st, 0) != SQLITE_TEXT || sqlite3_column_bytes(st, 1) != 32 ||
        sqlite3_column_bytes(st, 0) > FS_SERVER_URL_MAX) {
        rc = fs__fail(r, FS_ENOTFOUND, "this device is not enrolled");
        goto done;
    }
    memcpy(pk, sqlite3_column_blob(st, 1), 32);
    if (sqlite3_column_type(st, 2) == SQLITE_TEXT) {
        /* one a line; a line that is not a usable entry is a damaged list */
        const char *p = (const char *)sqlite3_column_text(st, 2);
        while (rc == 0 && p != NULL && *p != '\0') {
            const char *nl = strchr(p, '\n');
            size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
            if (out->n == FS_SERVERS_MAX || n == 0 || n > FS_SERVER_URL_MAX)
                rc = fs__fail(r, FS_EFORMAT, "the replica's list of server addresses is damaged");
            else {
                memcpy(out->url[out->n], p, n);
                out->url[out->n++][n] = '\0';
            }
            p = nl != NULL ? nl + 1 : NULL;
        }
    }
    if (rc == 0 && out->n == 0) { /* a replica of before: its one address */
        snprintf(out->url[0], sizeof out->url[0], "%s", (const char *)sqlite3_column_text(st, 0));
        out->n = 1;
    }
    if (rc == 0 && sqlite3_column_type(st, 3) == SQLITE_TEXT) {
        const char *last = (const char *)sqlite3_column_text(st, 3);
        for (size_t i = 0; i < out->n; i++)
            if (strcmp(out->url[i], last) == 0)
                memcpy(out->last, out->url[i], sizeof out->last);
    }
done:
    sqlite3_finalize(st);
    return rc;
}

int fs_replica_server(fs_replica *r, char url[FS_SERVER_URL_MAX + 1], uint8_t pk[32])
{
    fs_server_list list;
    url[0] = '\0';
    int rc = fs_replica_servers(r, &list, pk);
    if (rc == 0)
        memcpy(url, list.url[0], FS_SERVER_URL_MAX + 1);
    return rc;
}

int fs_replica_set_server_last(fs_replica *r, const char *url)
{
    fs_server_list list;
    uint8_t pk[32];
    int rc = fs_replica_servers(r, &list, pk);
    if (rc != 0)
        return rc;
    int listed = 0;
    for (size_t i = 0; i < list.n && url != NULL; i++)
        listed |= strcmp(list.url[i], url) == 0;
    if (!listed)
        return fs__fail(r, FS_EINVAL, "not one of this device's server addresses");
    if (strcmp(list.last, url) == 0)
        return 0; /* already: nothing to write */
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db, "INSERT OR REPLACE INTO meta(k,v) VALUES('server_last',?1)",
                                 -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "recording the server that answered");
}

/* Device settings kept in meta: name, byte limit. */
static const struct {
    const char *name;
    size_t max;
} settings[] = {{"user", FS_USER_MAX},
                {"team", FS_USER_MAX},
                {"calendar", FS_SETTING_MAX},
                {"role", FS_USER_MAX}, /* "rep" or "manager": what the CLI's checks assume */
                {"passfit", 64}};      /* the passphrase's measure (client/cli.c), never it */

int fs_replica_set_setting(fs_replica *r, const char *name, const char *value)
{
    size_t max = 0;
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (name != NULL && strcmp(settings[i].name, name) == 0)
            max = settings[i].max;
    if (max == 0)
        return fs__fail(r, FS_EINVAL, "no such setting");
    size_t n = value ? strlen(value) : 0;
    int ok = n >= 1 && n <= max && fs_utf8_valid(value, n);
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)value[i] >= 0x20 && value[i] != 0x7F;
    if (!ok)
        return fs__fail(r, FS_EINVAL, "the %s setting is 1-%zu bytes of printable UTF-8", name,
                        max);
    char key[32];
    snprintf(key, sizeof key, "set_%s", name);
    sqlite3_stmt *st = NULL;
    int src =
        sqlite3_prepare_v2(r->db, "INSERT OR REPLACE INTO meta(k,v) VALUES(?1,?2)", -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, value, (int)n, SQLITE_STATIC);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "recording a setting");
}

int fs_replica_setting(fs_replica *r, const char *name, char *out, size_t cap)
{
    char key[32];
    out[0] = '\0';
    snprintf(key, sizeof key, "set_%s", name);
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db, "SELECT v FROM meta WHERE k=?1", -1, &st, NULL);
    int rc = 0;
    if (src == SQLITE_OK)
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    if (src != SQLITE_OK)
        rc = fs__dbfail(r, src, "reading a setting");
    else if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT &&
             (size_t)sqlite3_column_bytes(st, 0) < cap)
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    else
        rc = fs__fail(r, FS_ENOTFOUND, "the %s setting is not set on this device", name);
    sqlite3_finalize(st);
    return rc;
}

int fs_replica_set_user(fs_replica *r, const char *name)
{
    return fs_replica_set_setting(r, "user", name);
}

int fs_replica_user(fs_replica *r, char out[FS_USER_MAX + 1])
{
    return fs_replica_setting(r, "user", out, FS_USER_MAX + 1);
}

int fs_replica_is_fork(fs_replica *r, uint64_t server_acked, uint64_t server_hlc,
                       const uint8_t server_row[FS_ID_BYTES], int *fork)
{
    *fork = 0;
    if (server_acked == 0)
        return 0; /* the server holds nothing of this device's */
    uint64_t last = 0;
    int rc = fs_last_seq(r, &last);
    if (rc != 0)
        return rc;
    if (last < server_acked) { /* restored: it lacks what the server acknowledged */
        *fork = 1;
        return 0;
    }
    sqlite3_stmt *st = NULL;
    rc = fs__prepare(r, "SELECT hlc, row FROM changelog WHERE seq=?1", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)server_acked);
    int src = sqlite3_step(st);
    /* another write at that sequence: a copy that wrote on its own (a gap
     * in the log, which nothing makes, tells nothing) */
    if (src == SQLITE_ROW &&
        ((uint64_t)sqlite3_column_int64(st, 0) != server_hlc ||
         sqlite3_column_bytes(st, 1) != FS_ID_BYTES ||
         memcmp(sqlite3_column_blob(st, 1), server_row, FS_ID_BYTES) != 0))
        *fork = 1;
    sqlite3_finalize(st);
    return src == SQLITE_ROW || src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "reading the change log");
}

/* Runs a write of the change log (guarded: only this API writes it) with
 * parameters ?1..?3 (those the statement has). */
static int log_exec(fs_replica *r, const char *sql, uint64_t a, uint64_t b, uint64_t c)
{
    sqlite3_stmt *st = NULL;
    r->guard++;
    int rc = fs__prepare(r, sql, &st);
    if (rc == 0) {
        uint64_t v[3] = {a, b, c};
        for (int i = 0; i < sqlite3_bind_parameter_count(st) && i < 3; i++)
            sqlite3_bind_int64(st, i + 1, (sqlite3_int64)v[i]);
        int src = sqlite3_step(st);
        if (src != SQLITE_DONE)
            rc = fs__dbfail(r, src, "giving the replica its new identity");
    }
    r->guard--;
    sqlite3_finalize(st);
    return rc;
}

/* The row versions of the unacknowledged writes (seq > acked) that still
 * hold them become the new device's (index new_idx). */
static int fork_versions(fs_replica *r, uint64_t acked, uint32_t old_idx, uint32_t new_idx)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    sqlite3_stmt *st = NULL;
    int rc = fs__prepare(r, "SELECT tbl, col, row, hlc FROM changelog WHERE seq>?1 ORDER BY seq",
                         &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)acked);
    int src;
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        int tix = sqlite3_column_int(st, 0), col = sqlite3_column_int(st, 1);
        uint64_t hlc = (uint64_t)sqlite3_column_int64(st, 3);
        if (tix < 0 || (unsigned)tix >= nt || col < 0 ||
            (unsigned)col >= tables[tix].ncolumns || sqlite3_column_bytes(st, 2) != FS_ID_BYTES)
            continue; /* fs_replica_check reports a damaged log */
        uint8_t id[FS_ID_BYTES];
        memcpy(id, sqlite3_column_blob(st, 2), FS_ID_BYTES);
        fs__row row;
        memset(&row, 0, sizeof row);
        rc = fs__row_load(r, &row, (unsigned)tix, id);
        if (rc == 0 && row.exists && row.hlc[col] == hlc && row.dev[col] == old_idx) {
            row.dev[col] = new_idx;
            row.dirty = 1;
            rc = fs__row_store(r, &row);
        }
        fs__row_clear(&row);
    }
    sqlite3_finalize(st);
    if (rc == 0 && src != SQLITE_DONE)
        rc = fs__dbfail(r, src, "reading the change log");
    return rc;
}

int fs_replica_fork(fs_replica *r, const uint8_t seed[32], uint64_t *kept)
{
    if (kept != NULL)
        *kept = 0;
    fs_identity *id = NULL;
    int rc = fs_identity_from_seed(&id, seed);
    if (rc != 0)
        return fs__fail(r, rc, "cannot make the new device identity");
    uint8_t new_dev[FS_ID_BYTES], old_dev[FS_ID_BYTES];
    fs_device_id_from_pk(id->pk, new_dev);
    fs_identity_free(id);
    memcpy(old_dev, r->device, FS_ID_BYTES);
    uint32_t old_idx = r->device_idx, new_idx = 0;
    uint64_t acked = 0, last = 0;
    int own = 0;
    rc = fs__begin(r, &own);
    if (rc == 0)
        rc = fs__query_u64(r, "SELECT v FROM meta WHERE k='acked_seq'", &acked);
    if (rc == 0)
        rc = fs_last_seq(r, &last);
    if (rc == 0)
        rc = fs__dev_index(r, new_dev, &new_idx);
    if (rc == 0)
        rc = fork_versions(r, acked, old_idx, new_idx);
    /* a write on top of an unsent one names it as the new device's */
    if (rc == 0)
        rc = log_exec(r,
                      "UPDATE changelog SET prev_dev=?2 WHERE seq>?1 AND prev_dev=?3 AND prev_hlc"
                      " IN (SELECT hlc FROM changelog WHERE seq>?1)",
                      acked, new_idx, old_idx);
    if (rc == 0) /* a copy may hold what its original sent again whole */
        rc = fs__exec(r, "DELETE FROM meta WHERE k LIKE 'resent_whole:%'",
                      "giving the replica its new identity");
    /* the search index's queue takes the log's tail first: the numbers
     * it is marked by change below */
    if (rc == 0)
        rc = fs__search_log_spill(r);
    /* the acknowledged writes are the old device's, held by the server */
    if (rc == 0)
        rc = log_exec(r, "DELETE FROM changelog WHERE seq<=?1", acked, 0, 0);
    /* the unsent ones numbered from 1, as the new device's first changes
     * (through negative numbers: no two rows ever share one) */
    if (rc == 0)
        rc = log_exec(r, "UPDATE changelog SET seq=-seq WHERE seq>?1", acked, 0, 0);
    if (rc == 0)
        rc = log_exec(r, "UPDATE changelog SET seq=-seq-?1 WHERE seq<0", acked, 0, 0);
    if (rc == 0)
        rc = fs__search_log_renumbered(r);
    /* the pull from 0 brings the old device's writes, unless the server
     * lost them since it acknowledged them (restored from a backup): what
     * it does not bring goes back (fs_refusals_return_held) */
    if (rc == 0)
        rc = held_check_start(r);
    char note[320];
    if (rc == 0) {
        char oldhex[33], newhex[33];
        fs_id_to_hex(old_dev, oldhex);
        fs_id_to_hex(new_dev, newhex);
        oldhex[16] = newhex[16] = '\0';
        snprintf(note, sizeof note,
                 "this replica was restored from a backup or copied: device %s became %s at "
                 "%llu ms; %llu unsent changes kept, everything else sent again by the server",
                 oldhex, newhex, (unsigned long long)fs__now_ms(r),
                 (unsigned long long)(last - acked));
        sqlite3_stmt *st = NULL;
        rc = fs__prepare(r,
                         "INSERT OR REPLACE INTO meta(k,v) VALUES('device',?1),('identity',?2),"
                         "('acked_seq',0),('cursor',0),('fork',?3)",
                         &st);
        if (rc == 0) {
            sqlite3_bind_blob(st, 1, new_dev, FS_ID_BYTES, SQLITE_STATIC);
            sqlite3_bind_blob(st, 2, seed, 32, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, note, -1, SQLITE_STATIC);
            int src = sqlite3_step(st);
            if (src != SQLITE_DONE)
                rc = fs__dbfail(r, src, "giving the replica its new identity");
            sqlite3_finalize(st);
        }
    }
    rc = fs__end(r, own, rc);
    if (rc != 0)
        return rc;
    memcpy(r->device, new_dev, FS_ID_BYTES);
    r->device_idx = new_idx;
    if (kept != NULL)
        *kept = last - acked;
    return 0;
}

int fs_replica_fork_note(fs_replica *r, char *out, size_t cap)
{
    if (cap > 0)
        out[0] = '\0';
    sqlite3_stmt *st = NULL;
    int rc = fs__prepare(r, "SELECT v FROM meta WHERE k='fork'", &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW && cap > 0)
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return src == SQLITE_ROW || src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "reading the fork note");
}

/* ---- the device's export audit (issue 20 point 4) ---- */

static int word_ok(const char *s, size_t max)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
            return 0;
    return 1;
}

int fs_replica_export_record(fs_replica *r, const char *user, const char *kind, uint32_t n,
                             const char *mode)
{
    if (!word_ok(kind, FS_EXPORT_KIND_MAX) || !word_ok(mode, 15) || user == NULL ||
        strlen(user) > FS_USER_MAX)
        return fs__fail(r, FS_EINVAL, "an export is recorded by kind and mode");
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db,
                                 "INSERT INTO export_log(at_ms,user,kind,n,mode) VALUES(?1,?2,?3,?4,?5)",
                                 -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)fs__now_ms(r));
        sqlite3_bind_text(st, 2, user, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, kind, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)n);
        sqlite3_bind_text(st, 5, mode, -1, SQLITE_TRANSIENT);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "recording an export");
}

int fs_replica_exports(fs_replica *r, int unsent_only, fs_export_entry *out, size_t max,
                       size_t *count)
{
    *count = 0;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db,
                                 unsent_only ? "SELECT seq,at_ms,user,kind,n,mode,sent FROM export_log"
                                               " WHERE sent=0 ORDER BY seq LIMIT ?1"
                                             : "SELECT seq,at_ms,user,kind,n,mode,sent FROM export_log"
                                               " ORDER BY seq LIMIT ?1",
                                 -1, &st, NULL);
    if (src == SQLITE_OK)
        sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    while (src == SQLITE_OK && *count < max && (src = sqlite3_step(st)) == SQLITE_ROW) {
        fs_export_entry *e = &out[*count];
        memset(e, 0, sizeof *e);
        e->seq = (uint64_t)sqlite3_column_int64(st, 0);
        e->at_ms = (uint64_t)sqlite3_column_int64(st, 1);
        const char *u = (const char *)sqlite3_column_text(st, 2);
        const char *k = (const char *)sqlite3_column_text(st, 3);
        const char *m = (const char *)sqlite3_column_text(st, 5);
        snprintf(e->user, sizeof e->user, "%s", u != NULL ? u : "");
        snprintf(e->kind, sizeof e->kind, "%s", k != NULL ? k : "");
        snprintf(e->mode, sizeof e->mode, "%s", m != NULL ? m : "");
        e->n = (uint32_t)sqlite3_column_int64(st, 4);
        e->sent = sqlite3_column_int(st, 6) != 0;
        (*count)++;
        src = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return src == SQLITE_OK || src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "reading the exports");
}

int fs_replica_exports_sent(fs_replica *r, uint64_t upto_seq)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db, "UPDATE export_log SET sent=1 WHERE seq<=?1 AND sent=0", -1,
                                 &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)upto_seq);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "recording exports sent");
}
