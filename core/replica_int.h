/*
 * Internals shared by replica.c (open, schema), replica_write.c
 * (transactions, local writes, the change log), replica_read.c (reads),
 * merge.c (applying remote changes, conflicts) and check.c (verification,
 * state hash). Not a public header.
 *
 * STORAGE FORMAT (inside the encrypted database "replica.db")
 *   <table>    one per schema table: id BLOB PRIMARY KEY, then the schema's
 *              columns in order (column 0 "deleted"), then _ver: for each
 *              column, 12 bytes: hlc (u64 LE) | device index (u32 LE);
 *              all zero for a column never written. WITHOUT ROWID.
 *   changelog  seq INTEGER PRIMARY KEY (the local sequence), tbl, col, row,
 *              value, hlc, prev_hlc, prev_dev: every local write, in the
 *              same transaction as the row. Writer is always this device.
 *   device     idx INTEGER PRIMARY KEY, id BLOB UNIQUE: dictionary of the
 *              device ids that appear in versions (index 0 = nobody).
 *   meta       k TEXT PRIMARY KEY, v: "device" (this device's id), "hlc"
 *              (the highest remote clock absorbed; local ticks persist in
 *              the change log itself), "schema" (format version),
 *              "acked_seq" (last local sequence a server acknowledged),
 *              "clock_offset_ms" (the server's clock minus this machine's
 *              at the last READY; absent before the first sync),
 *              "clock_anchor" (the server's time, boot clock and boot id
 *              at that READY: core/servertime.c),
 *              "cursor" (server feed position applied).
 *   refused, purged  local sync bookkeeping (FS__SYNC_TABLES_SQL below).
 * The connection's authorizer refuses writes to every synced table and to
 * changelog unless this API is writing (r->guard): other writers are
 * refused as their statements are prepared (SQLITE_AUTH, FS_ETAMPERED).
 */
#ifndef FIELDSYNC_REPLICA_INT_H
#define FIELDSYNC_REPLICA_INT_H

#include <sqlite3.h>

#include "fieldsync/replica.h"
#include "fieldsync/vfs.h"

#define FS__MAX_COLUMNS 32
#define FS__VER_BYTES 12

#define FS__ROWS_KEPT 48 /* statements fs_rows keeps prepared */
#define FS__STMTS_KEPT 64 /* statements fs_replica_stmt keeps prepared */

typedef struct fs__table_stmts {
    sqlite3_stmt *select; /* columns + _ver of one row by id */
    sqlite3_stmt *upsert; /* whole row */
    sqlite3_stmt *exists; /* deleted flag of one row by id */
} fs__table_stmts;

/* The feed entry being built (fs__feed_append): one row's changes, packed. */
typedef struct fs__feed_pending {
    unsigned tix;
    uint8_t row[FS_ID_BYTES];
    size_t n;          /* changes in buf; 0: none pending */
    int64_t seq;       /* the entry's sequence; 0: the next (only a conversion sets it) */
    uint64_t last_hlc; /* the last change's clock (the next is stored as a difference) */
    uint8_t *buf;      /* wiped when it grows and on close */
    size_t len, cap;
} fs__feed_pending;

struct fs_replica {
    sqlite3 *db;
    fs_cryptvfs *vfs;
    fs_replica_opts opts;
    uint8_t device[FS_ID_BYTES];
    uint32_t device_idx; /* this device in the dictionary */
    uint64_t hlc;        /* highest clock issued or seen */
    int hlc_unsaved;     /* raised by a remote clock since meta.hlc was saved */
    int64_t clock_offset_ms; /* server's clock minus this machine's (servertime.c) */
    int clock_known;         /* clock_offset_ms was learnt from a server */
    int clock_anchored;      /* this boot received it: now is the server's time at READY */
    uint64_t anchor_server_ms, anchor_boot_ms; /* ... plus the boot clock since */
    int in_tx;           /* explicit transaction open */
    int outer;           /* fs_replica_outer_begin's transaction open: the
                          * transactions above become savepoints in it */
    int tx_failed;       /* a write inside it failed: commit must roll back */
    int guard;           /* >0 while the API writes synced tables */
    int keep_feed;       /* a server's replica: accepted changes get feed sequences */
    int feed_format;     /* meta 'feed': FS__FEED_FORMAT, or 1 until converted on open */
    int schema;          /* meta 'schema': FS_SCHEMA_VERSION, or older until upgraded on open */
    uint8_t (*devs)[FS_ID_BYTES]; /* dictionary: devs[idx-1] */
    uint32_t ndevs, capdevs;
    fs__table_stmts *ts;          /* one per schema table */
    sqlite3_stmt *log_insert, *hlc_save, *dev_insert, *feed_insert;
    fs__feed_pending feed;
    int search;                    /* the search index is kept (search.c) */
    int logged_row;                /* fs__row_store of a local write: its change-log
                                    * entries stand for its place in the search queue */
    /* fs_replica_generation: a new value (of all replicas of the process)
     * whenever this connection writes a record row or the refusals */
    uint64_t gen;
    /* fs_rows' statements, kept prepared after fs_rows_close for the next
     * fs_rows_open of the same text (replica_read.c): an evaluation opens
     * the same few dozen at every view; the least recently used gives way */
    struct {
        char *sql;
        sqlite3_stmt *st;
        uint64_t used;
    } rows_kept[FS__ROWS_KEPT];
    uint64_t rows_clock;
    /* fs_replica_stmt's statements: the fixed queries run at every push,
     * pull or catch-up, prepared once (parsing one costs about as much
     * as running it); by the address of their text, checked against the
     * text; busy while lent out; the least recently used gives way */
    struct {
        const char *key;
        sqlite3_stmt *st;
        uint64_t used;
        int busy;
    } stmts[FS__STMTS_KEPT];
    uint64_t stmts_clock;
    sqlite3_stmt *search_st[7];    /* its statements, prepared when first used */
    char errmsg[256];
};

/* A row loaded for modification: values of the columns as stored, and the
 * new values (set[]) that will replace them when the row is written. */
typedef struct fs__row {
    unsigned tix;
    const fs_table *t;
    uint8_t id[FS_ID_BYTES];
    int exists;
    sqlite3_value *old[FS__MAX_COLUMNS]; /* owned (sqlite3_value_dup) */
    const fs_value *set[FS__MAX_COLUMNS];
    uint64_t hlc[FS__MAX_COLUMNS];
    uint32_t dev[FS__MAX_COLUMNS];
    int dirty;
} fs__row;

/* Error helpers: set the handle's message and return the code. */
int fs__fail(fs_replica *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Maps a SQLite failure (and any VFS error behind it) to a code + message. */
int fs__dbfail(fs_replica *r, int sqlite_rc, const char *what);

/* Appends printf-style to buf (cap bytes, *len of them used, kept
 * NUL-terminated): 0, or -1 once it would overflow. */
int fs__append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Runs sql on the replica's connection: 0, or fs__dbfail's code, the
 * message starting with what. */
int fs__exec(fs_replica *r, const char *sql, const char *what);
/* Prepares one statement (persistent) into *st, which the caller
 * finalizes: 0 or fs__dbfail's code. */
int fs__prepare(fs_replica *r, const char *sql, sqlite3_stmt **st);
/* The schema index of table name, *t its table: FS_ESCHEMA if there is no
 * such table, FS_EINVAL if it is internal and internal_ok is 0. */
int fs__table_for(fs_replica *r, const char *name, int internal_ok, const fs_table **t);

/* This machine's clock corrected by the server's offset (servertime.c). */
uint64_t fs__now_ms(const fs_replica *r);
/* Reads meta 'clock_offset_ms' into the handle (on open). */
int fs__servertime_load(fs_replica *r);
void fs__new_row_id(const fs_replica *r, uint8_t id[FS_ID_BYTES]);
uint64_t fs__hlc_tick(fs_replica *r);
void fs__hlc_observe(fs_replica *r, uint64_t hlc);
/* Reads the device dictionary into r->devs again (replica.c). */
int fs__load_devs(fs_replica *r);

int fs__begin(fs_replica *r, int *own);
int fs__end(fs_replica *r, int own, int rc);

int fs__dev_index(fs_replica *r, const uint8_t id[FS_ID_BYTES], uint32_t *out);
const uint8_t *fs__dev_id(const fs_replica *r, uint32_t idx);

int fs__row_load(fs_replica *r, fs__row *row, unsigned tix, const uint8_t id[FS_ID_BYTES]);
int fs__row_store(fs_replica *r, fs__row *row);
void fs__row_clear(fs__row *row);

int fs__value_check(fs_replica *r, const fs_table *t, unsigned col, const fs_value *v);
void fs__value_from_sqlite(sqlite3_value *sv, fs_value *out);
int fs__bind_value(sqlite3_stmt *st, int i, const fs_value *v);

/* Writes columns of a row as this device, logging each; the caller holds the
 * transaction and has validated the values. */
int fs__local_write(fs_replica *r, fs__row *row, const unsigned *cols, const fs_value *vals,
                    size_t n);

/* Adds to a local write of cols/vals (*n of them, room for FS__MAX_COLUMNS)
 * the other columns of each grouped column's group (fieldsync/records.h)
 * that it does not write, with the row's current values (NULL included),
 * so the group travels as one write at one clock. The values added point
 * into row, which must stay loaded until the write is stored. */
void fs__group_complete(const fs__row *row, unsigned *cols, fs_value *vals, size_t *n);

/* The replica's local, unsynced bookkeeping of sync (core/devsync.c,
 * core/refusals.c):
 * refused   the server's refusals of local changes, with reason and text;
 *           n (the refusal's number on this device), at_ms (when it was
 *           recorded), sent (the value the change sent) and reverted (1: the
 *           rep took the server's value back; 2: the device did, at once,
 *           for a hand-over the server refused, and still lists it; kept so
 *           that fs_replica_check knows the row holds an older value than
 *           the log on purpose)
 *           were added for issue 16: fs__refusals_upgrade() adds them to
 *           older replicas
 * purged    rows removed because they left this user's scope */
/* Brings an older replica's refused table to the current shape (the
 * columns n, at_ms, sent and reverted; numbers for the refusals it holds, and the
 * values sent, from the change log). Nothing is removed. */
int fs__refusals_upgrade(fs_replica *r);
#define FS__REFUSAL_AUTO_REVERTED 2 /* refused.reverted of fs_refusals_revert_handovers */

/* Deletes row of table tix without a change-log entry (a purge, a refused
 * record the server never had); `what` names the work in the error. */
int fs__delete_row(fs_replica *r, unsigned tix, const uint8_t row[FS_ID_BYTES], const char *what);

#define FS__SYNC_TABLES_SQL                                                               \
    "CREATE TABLE IF NOT EXISTS refused(tbl INTEGER NOT NULL, row BLOB NOT NULL,"         \
    " col INTEGER NOT NULL, hlc INTEGER NOT NULL, reason INTEGER NOT NULL, text TEXT,"    \
    " n INTEGER, at_ms INTEGER, sent, reverted INTEGER NOT NULL DEFAULT 0,"               \
    " PRIMARY KEY(tbl, row, col, hlc)) WITHOUT ROWID;"                                    \
    "CREATE TABLE IF NOT EXISTS purged(tbl INTEGER NOT NULL, row BLOB NOT NULL,"          \
    " PRIMARY KEY(tbl, row)) WITHOUT ROWID;"                                              \
    "CREATE TABLE IF NOT EXISTS purge_wait(tbl INTEGER NOT NULL, row BLOB NOT NULL,"      \
    " PRIMARY KEY(tbl, row));"                                                            \
    "CREATE TABLE IF NOT EXISTS att_chunk(hash BLOB NOT NULL, idx INTEGER NOT NULL,"      \
    " data BLOB NOT NULL, PRIMARY KEY(hash, idx));"                                       \
    "CREATE TABLE IF NOT EXISTS att_sent(hash BLOB PRIMARY KEY NOT NULL) WITHOUT ROWID;"  \
    "CREATE TABLE IF NOT EXISTS export_log(seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL,"\
    " user TEXT NOT NULL, kind TEXT NOT NULL, n INTEGER NOT NULL, mode TEXT NOT NULL,"    \
    " sent INTEGER NOT NULL DEFAULT 0);"                                                   \
    "CREATE TABLE IF NOT EXISTS held_check(tbl INTEGER NOT NULL, row BLOB NOT NULL,"      \
    " found_ms INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(tbl, row)) WITHOUT ROWID;"

/* The feed of a server's replica: one entry per row write, its changes
 * packed (core/feed.c has the format), devices by dictionary index.
 * meta 'feed' is 2; 1 was one row per change (feed(seq, tbl, col, row,
 * value, hlc, dev, prev_hlc, prev_dev)), converted on open. */
#define FS__FEED_TABLE_SQL                                                                \
    "CREATE TABLE feed(seq INTEGER PRIMARY KEY, tbl INTEGER NOT NULL, row BLOB NOT NULL,"  \
    " n INTEGER NOT NULL, changes BLOB NOT NULL);"
#define FS__FEED_INSERT_SQL "INSERT INTO feed(tbl,row,n,changes,seq) VALUES(?1,?2,?3,?4,?5)"
#define FS__FEED_FORMAT 2
#define FS__FEED_ENTRY_MAX 256 /* changes in one entry; a longer run of one row's starts another */

/* Adds an accepted or local change to the feed entry being built (no-op
 * without a feed). A change to another row than the entry's writes the
 * entry first. */
int fs__feed_append(fs_replica *r, unsigned tix, unsigned col, const uint8_t row[FS_ID_BYTES],
                    const fs_value *value, uint64_t hlc, uint32_t dev, uint64_t prev_hlc,
                    uint32_t prev_dev);
/* Writes the entry being built, if any: every writer calls it when its row
 * is done, and reading the feed or committing does it first. */
int fs__feed_flush(fs_replica *r);
/* Drops the entry being built (a rolled-back write). */
void fs__feed_discard(fs_replica *r);
/* Converts a format-1 feed in place (keep_feed set; within the caller's transaction): each
 * run of one row's changes becomes an entry with the run's last sequence,
 * so a device's cursor means what it meant. */
int fs__feed_upgrade(fs_replica *r);

/* One change decoded from an entry: value.p points into the entry. */
typedef struct fs__feed_item {
    unsigned col;
    fs_value value;
    uint64_t hlc, prev_hlc;
    uint32_t dev, prev_dev;
} fs__feed_item;
/* Decodes the change at *pos of entry p (len bytes) and moves *pos past it;
 * *last_hlc is the previous change's clock (0 for the first) and becomes
 * this one's. FS_EFORMAT if it is cut short or malformed. */
int fs__feed_next(const uint8_t *p, size_t len, size_t *pos, uint64_t *last_hlc,
                  fs__feed_item *out);

/* fs_apply for changes the caller has checked as fs_apply would (the
 * store's push: check_change), without checking them again. */
int fs__apply_checked(fs_replica *r, const fs_change *changes, size_t n);
/* fs_apply without the clock check (a device's pull, fs_apply_pulled): a
 * change stamped ahead of this machine's clock is applied and the hybrid
 * clock absorbs it (issue 25.5: the device's own clock may be wrong; the
 * server's restamping keeps what it sends near its own time). */
int fs__apply_any_clock(fs_replica *r, const fs_change *changes, size_t n, fs_apply_stats *stats);

int fs__read_changes(fs_replica *r, const char *sql, uint64_t after_seq, size_t max,
                     size_t max_bytes, fs_changeset **out);

/* A one-value query (0 when there is no row). */
int fs__query_u64(fs_replica *r, const char *sql, uint64_t *out);
/* A write of records or refusals is under way: r->gen moves on. */
void fs__touch(fs_replica *r);
/* Finalizes the statements fs_rows keeps (the replica closing). */
void fs__rows_kept_free(fs_replica *r);
/* Sets meta k to text, or to the integer i when text is NULL, in the
 * caller's transaction if one is open; what names the write in an error. */
int fs__meta_put(fs_replica *r, const char *k, sqlite3_int64 i, const char *text, const char *what);

/* The search index (core/search.c). fs__search_functions registers SQL
 * fs_fold(text) on the connection; fs__search_setup (after open or create,
 * outside a transaction) builds the index of a device's replica when meta
 * 'search' does not name this build's index, and turns its upkeep on;
 * fs__search_row (fs__row_store) and fs__search_forget (fs__delete_row)
 * queue the record in the write's transaction (fs_search indexes the queue
 * first), but for a local write, whose change-log entries above meta
 * 'search_log' are the queue's tail (read into it before the index is
 * brought up to date); fs__search_log_spill moves that tail into the queue
 * and fs__search_log_renumbered sets the mark after the change log's
 * entries were numbered anew (a copied laptop's new identity);
 * fs__search_free finalizes its statements. */
int fs__search_functions(fs_replica *r);
int fs__search_setup(fs_replica *r);
int fs__search_row(fs_replica *r, const fs__row *row);
int fs__search_forget(fs_replica *r, unsigned tix, const uint8_t row[FS_ID_BYTES]);
int fs__search_log_spill(fs_replica *r);
int fs__search_log_renumbered(fs_replica *r);
void fs__search_free(fs_replica *r);

/* Test hook: the replica's connection. */
sqlite3 *fs__replica_db(fs_replica *r);

/* A device's index of its live visits by time (device_indexes in
 * replica.c; not in the server's store). */
#define FS__VISIT_TIME_INDEX "visit_time"
/* Test hook: the SQL text an open fs_rows runs (for EXPLAIN QUERY PLAN). */
const char *fs__rows_sql(const fs_rows *it);

/* Tests only: when not 0, opening a replica of an older schema fails the
 * upgrade's step after this many (each new table, each new column is a
 * step), as a crash there would; the upgrade is one transaction, so the
 * replica is left as it was. */
extern unsigned fs__upgrade_fail_after;

#endif
