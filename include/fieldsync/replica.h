/*
 * The replica: an encrypted SQLite database of synced rows, with a change log.
 *
 * A row has a 16-byte random id and belongs to one table of the schema
 * (fieldsync/schema.h). Every column value carries the version that wrote it:
 * (hlc, device), a hybrid logical clock and the 16-byte id of the writing
 * device. Replicas merge per column, last writer wins by (hlc, device).
 *
 * Every local write (fs_insert, fs_update, fs_delete, conflict records) goes
 * to the change log in the same transaction as the row, with a local sequence
 * number; each log entry carries the version it replaced, so a replica that
 * applies it can tell a write made on top of what it holds from a concurrent
 * one. A concurrent loser is kept in a conflict record (table "conflict")
 * whose id is derived from the row, the column and the losing version, so
 * replicas that find the same conflict agree on one record.
 *
 * The synced tables can only be written through this API: triggers refuse
 * any other write (FS_ETAMPERED), and fs_replica_check() finds rows that do
 * not match the log.
 *
 * Handles are not thread-safe; use one per thread.
 */
#ifndef FIELDSYNC_REPLICA_H
#define FIELDSYNC_REPLICA_H

#include <stddef.h>
#include <stdint.h>

#include "fieldsync/error.h"
#include "fieldsync/identity.h"
#include "fieldsync/keyfile.h"
#include "fieldsync/schema.h"

#define FS_ID_BYTES 16

typedef struct fs_replica fs_replica;

typedef enum fs_vtype { FS_NULL = 0, FS_INT = 1, FS_REAL = 2, FS_TEXT = 3, FS_BLOB = 4 } fs_vtype;

/* A column value. TEXT and BLOB point to bytes the value does not own. */
typedef struct fs_value {
    fs_vtype type;
    int64_t i;
    double r;
    const void *p;
    size_t n;
} fs_value;

static inline fs_value fs_null(void)
{
    fs_value v = {FS_NULL, 0, 0, NULL, 0};
    return v;
}
static inline fs_value fs_int(int64_t i)
{
    fs_value v = {FS_INT, i, 0, NULL, 0};
    return v;
}
static inline fs_value fs_real(double r)
{
    fs_value v = {FS_REAL, 0, r, NULL, 0};
    return v;
}
fs_value fs_text(const char *s); /* NUL-terminated UTF-8; NULL gives FS_NULL */
static inline fs_value fs_textn(const char *s, size_t n)
{
    fs_value v = {FS_TEXT, 0, 0, s, n};
    return v;
}
static inline fs_value fs_blob(const void *p, size_t n)
{
    fs_value v = {FS_BLOB, 0, 0, p, n};
    return v;
}

/* One column of a write. */
typedef struct fs_cell {
    const char *column;
    fs_value value;
} fs_cell;

/* A version: who wrote a column value and when. hlc 0 means "never written". */
typedef struct fs_version {
    uint64_t hlc; /* 48-bit milliseconds << 16 | 16-bit counter */
    uint8_t device[FS_ID_BYTES];
} fs_version;

/* Orders versions: <0, 0, >0 by (hlc, device bytes). */
int fs_version_cmp(const fs_version *a, const fs_version *b);

/* One column change, as a change log holds it and as it travels. */
typedef struct fs_change {
    uint16_t table;  /* index into fs_schema_tables() */
    uint16_t column; /* index into that table's columns */
    uint8_t row[FS_ID_BYTES];
    fs_value value;
    fs_version version; /* the write */
    fs_version prev;    /* the version it replaced on its writer (hlc 0: none) */
} fs_change;

/* A batch of changes read from a change log; owns the changes' bytes. */
typedef struct fs_changeset {
    fs_change *changes;
    size_t count;
    uint64_t first_seq, last_seq; /* local sequence numbers covered */
    uint32_t *groups;             /* fs_store_pull: each change's compression group (its
                                     row's owner); else NULL */
} fs_changeset;

void fs_changeset_free(fs_changeset *cs);

typedef struct fs_replica_opts {
    const fs_kdf_limits *kdf;         /* create only; NULL: fs_kdf_default() */
    uint64_t (*clock_ms)(void *ctx);  /* NULL: wall clock (ms since the epoch) */
    void *clock_ctx;
    uint64_t max_skew_ms;             /* refuse remote clocks further ahead; 0: 5 minutes */
    int keep_feed;                    /* create only: keep a feed (the server's replica) */
    int busy_ms;                      /* wait this long for another process's lock; 0: 1 s */
} fs_replica_opts;

/* Creates a new replica in directory dir (created if missing, with its
 * missing parents, each 0700; it must not hold one): key file
 * "replica.key", database "replica.db". Errors: FS_EEXIST,
 * FS_EIO, FS_EINVAL, FS_ENOMEM, FS_EDB. */
int fs_replica_create(fs_replica **out, const char *dir, const char *pass, size_t passlen,
                      const fs_replica_opts *opts);

/* Opens an existing replica. Errors: FS_ENOTFOUND, FS_EPASSPHRASE,
 * FS_EINTEGRITY (a page failed authentication), FS_EFORMAT, FS_EBUSY, FS_EDB. */
int fs_replica_open(fs_replica **out, const char *dir, const char *pass, size_t passlen,
                    const fs_replica_opts *opts);
/* As fs_replica_open, with the key already unwrapped (fs_keyfile_unlock; the
 * client's unlock agent holds one). s is only read. FS_EPASSPHRASE when s is
 * not the key of this replica (its database id differs). */
int fs_replica_open_secret(fs_replica **out, const char *dir, const fs_secret *s,
                           const fs_replica_opts *opts);

/* Closes the replica (rolling back an open transaction) and wipes its key.
 * Accepts NULL. */
void fs_replica_close(fs_replica *r);
/* Writes a sealed copy of the replica's database to path (a new file), with
 * SQLite's online backup API through the replica's encrypting VFS: the copy
 * opens with the replica's key file. Not within a transaction. FS_EEXIST,
 * FS_ESTATE, FS_EDB (the partial copy is removed). */
int fs_replica_backup(fs_replica *r, const char *path);

/* One line describing the last error on this handle (never customer data).
 * With NULL: the message of this thread's last failed create or open. */
const char *fs_replica_errmsg(const fs_replica *r);

/* Destroys the replica in dir (closed first by the caller): the key file is
 * overwritten with random bytes, flushed and removed — without it nothing in
 * the database can be decrypted — then the database and its WAL and journal
 * are removed. For a device the server revoked. FS_ENOTFOUND if dir holds no
 * replica; FS_EIO if a file could not be overwritten or removed. */
int fs_replica_wipe(const char *dir);

/* Re-wraps the replica's key under a new passphrase at fs_kdf_default()'s cost;
 * the database is untouched. */
int fs_replica_change_passphrase(const char *dir, const char *oldpass, size_t oldlen,
                                 const char *newpass, size_t newlen);

/* This replica's device id: derived from its identity's public key
 * (fs_device_id_from_pk). */
void fs_replica_device(const fs_replica *r, uint8_t out[FS_ID_BYTES]);

/* The device's long-term signing identity, created with the replica and kept
 * (its seed) inside the encrypted database. The caller frees it with
 * fs_identity_free(). Errors: FS_ENOTFOUND, FS_ENOMEM, FS_EDB. */
int fs_replica_identity(fs_replica *r, fs_identity **out);

/* Explicit transactions group many writes into one commit. Without one, each
 * write commits on its own. fs_rollback() discards the writes since fs_begin(). */
int fs_begin(fs_replica *r);
int fs_commit(fs_replica *r);
void fs_rollback(fs_replica *r);

/* Creates a row with a new random id (written to out_id). Required columns
 * must be given and non-empty. Errors: FS_ESCHEMA (unknown table/column),
 * FS_ETYPE (wrong type or format; the message names the column), FS_EREQUIRED,
 * FS_ETOOBIG, FS_ENOTFOUND (an id column that names no row), FS_EDB. On error
 * nothing is written. */
int fs_insert(fs_replica *r, const char *table, const fs_cell *cells, size_t ncells,
              uint8_t out_id[FS_ID_BYTES]);

/* Changes some columns of an existing (not deleted) row. Errors as fs_insert,
 * and FS_ENOTFOUND for an unknown row. */
int fs_update(fs_replica *r, const char *table, const uint8_t id[FS_ID_BYTES],
              const fs_cell *cells, size_t ncells);

/* Deletes a row (a tombstone: the "deleted" column set to 1). */
int fs_delete(fs_replica *r, const char *table, const uint8_t id[FS_ID_BYTES]);
/* Brings a deleted row back (its tombstone cleared, a write like any
 * other: it syncs, and wins over the delete as a later write does); its
 * fields are as they were. FS_ENOTFOUND for an unknown row, FS_EEXIST for
 * a row that is not deleted. */
int fs_undelete(fs_replica *r, const char *table, const uint8_t id[FS_ID_BYTES]);

/* 1 if the row exists and is not deleted, 0 if not, <0 on error. */
int fs_exists(fs_replica *r, const char *table, const uint8_t id[FS_ID_BYTES]);

/* Finds the one live row of `table` whose hex id starts with `hex` (at least
 * 6 hex digits). Errors: FS_EINVAL (not hex / too short), FS_ENOTFOUND,
 * FS_EEXIST (ambiguous prefix). */
int fs_resolve_id(fs_replica *r, const char *table, const char *hex, uint8_t out[FS_ID_BYTES]);

/* A row found by its name (fs_match_name). */
typedef struct fs_name_match {
    uint8_t id[FS_ID_BYTES];
    char name[121]; /* the name, cut at a character boundary when longer */
} fs_name_match;

/* The text column a person names a row of table by: customer and contact
 * "name", commitment "text", visit "notes", weekly_plan "goals", deal
 * "title", complaint and requirement_request "description",
 * customer_question "question", marketing_request "goal", visit_plan
 * "purpose", acceptance "delivered_at", survey "quarter" (the last three
 * named by their customer's name mostly); NULL for a table named by id
 * only. */
const char *fs_name_column(const char *table);

/* The live rows of table whose name (fs_name_column) holds text, case
 * and script folded (fs_fold: Latin letters' case, Traditional Chinese to
 * Simplified): up to max of them into out
 * (in name order), their number in *count (which may exceed max). A visit
 * is also found by its customer's name; its out name is its time and
 * customer ("2026-12-03 10:00 北京华信科技"), the latest visit first; a
 * visit plan likewise, by its purpose or customer. Any
 * other record about a customer but a contact is also found by its
 * customer's name, its out name "its words · customer"; a weekly plan by
 * its rep's name too, shown "2026-12-07..2026-12-13 zhang · goals", the
 * latest week first. A row
 * whose name equals text (case folded) is the only one returned when there
 * is exactly one such row: "华信" finds 华信 even beside 北京华信. FS_EINVAL
 * for a table without a name column or an empty text. */
int fs_match_name(fs_replica *r, const char *table, const char *text, fs_name_match *out,
                  size_t max, size_t *count);

/* Full-text search (core/search.c). A record's searchable text and a query
 * are folded alike: Traditional Chinese to Simplified (OpenCC t2s, when the
 * build has it) and ASCII letters to lower case. fs_fold puts the folded
 * copy of text (n bytes, at most FS_FOLD_MAX) in *out (malloc'd, the
 * caller frees): 0, FS_EINVAL or FS_ENOMEM. fs_fold_kind: "t2s" or "ascii"
 * (no OpenCC, or its data files are missing). */
#define FS_FOLD_MAX (4u << 20)
int fs_fold(const char *text, size_t n, char **out);
const char *fs_fold_kind(void);

/* One record found by fs_search: its table (a schema name), id and bm25
 * rank (lower is better; 0 for a search of short words only). */
typedef struct fs_search_hit {
    const char *table;
    uint8_t id[FS_ID_BYTES];
    double rank;
} fs_search_hit;

/* 1 if records of table are searched: customer, contact, visit, commitment,
 * customer_question. */
int fs_search_table(const char *table);

/* The live records whose text holds every word of text (words split at
 * spaces; a word of three characters or more is found through the trigram
 * index, ranked by bm25; shorter ones by a scan of the indexed text), of
 * table kind only unless kind is NULL: up to max into out, best first, their
 * number in *count. FS_EINVAL for an empty or overlong query (512 bytes, 8
 * words) or a kind not searched; FS_ESTATE on a replica without an index
 * (a server's). */
int fs_search(fs_replica *r, const char *text, const char *kind, fs_search_hit *out, size_t max,
              size_t *count);

/* Brings the records written since the last search into the index, a few
 * hundred a transaction so other commands' writes go between (a daemon
 * does this after a sync, so the first search after a large pull answers
 * at once). *indexed: how many. 0 at once for a replica without an index;
 * FS_ESTATE inside a transaction. */
int fs_search_catch_up(fs_replica *r, uint64_t *indexed);

/* How many records wait to be brought into the index (0 without one). */
int fs_search_queued(fs_replica *r, uint64_t *n);

/* Iterates the live rows of a table, optionally those whose column
 * `where_column` equals *equals, ordered by `order_by` (then id; every row
 * read and sorted: a whole listing); "-column": by column descending (then
 * id descending), newest first, through an index on the column where the
 * replica has one (a device's visits by time): a page of the newest reads
 * only its rows; where_column "id" with a 16-byte blob: the one row of
 * that id. */
typedef struct fs_rows fs_rows;
int fs_rows_open(fs_rows **out, fs_replica *r, const char *table, const char *where_column,
                 const fs_value *equals, const char *order_by);
/* 1: a row is current; 0: no more rows; <0: error. */
/* As fs_rows_open, reading only the named columns (fs_rows_get of another
 * is FS_ESCHEMA): a scan of many rows that needs few of a wide table's
 * columns (the rules engine). */
int fs_rows_open_only(fs_rows **out, fs_replica *r, const char *table, const char *where_column,
                      const fs_value *equals, const char *order_by, const char *const *columns,
                      size_t ncolumns);
int fs_rows_next(fs_rows *it);
const uint8_t *fs_rows_id(const fs_rows *it);
/* The current row's value of a column; TEXT/BLOB bytes stay valid until the
 * next fs_rows_next() or fs_rows_close(). Errors: FS_ESCHEMA. */
int fs_rows_get(const fs_rows *it, const char *column, fs_value *out);
/* The value of the k-th column named to fs_rows_open_only (no search by
 * name: a scan of many rows). Errors: FS_EINVAL (k out of range, or the
 * rows were opened with fs_rows_open). */
int fs_rows_get_nth(const fs_rows *it, size_t k, fs_value *out);
void fs_rows_close(fs_rows *it);

/* ---- a record's history (core/history.c, issue 17 point 3) ---- */

/* Finds the row, in any table, live or deleted, whose hex id starts with
 * hex (6 to 32 hex digits): its table's schema index and its id. Errors:
 * FS_EINVAL, FS_ENOTFOUND, FS_EEXIST (more than one). */
int fs_find_row(fs_replica *r, const char *hex, unsigned *table, uint8_t id[FS_ID_BYTES]);

/* One write of a record's field. */
typedef struct fs_history_entry {
    unsigned column;    /* schema index (0: the tombstone) */
    fs_value value;     /* bytes valid during the callback only */
    fs_version version; /* when (hlc) and which device */
    int local;          /* 1: this device's write, from its change log */
} fs_history_entry;

/* Calls cb for the writes of the row's fields this replica knows, oldest
 * first: every one of this device's (its change log), and for each field
 * another device wrote last, that write (earlier remote writes are merged,
 * not kept). A non-zero return of cb stops and is returned. FS_ENOTFOUND
 * for a row this replica never had. */
int fs_row_history(fs_replica *r, unsigned table, const uint8_t id[FS_ID_BYTES],
                   int (*cb)(const fs_history_entry *, void *), void *ctx);

/* The local change log: entries with sequence > after_seq, at most max. */
int fs_changes_since(fs_replica *r, uint64_t after_seq, size_t max, fs_changeset **out);
/* The same, also stopping before an entry whose value (TEXT or BLOB bytes)
 * would take the values read past max_bytes; the first entry comes in any
 * case, whatever its size. A sync's PUSH is bounded by bytes this way. */
int fs_changes_since_bytes(fs_replica *r, uint64_t after_seq, size_t max, size_t max_bytes,
                           fs_changeset **out);

/* Sequence number of the newest local change log entry (0 if none). */
int fs_last_seq(fs_replica *r, uint64_t *out);

/* What the records and refusals are at: out[0] changes with every write of
 * a record row or a refusal through r (unique in the process: another
 * replica opened at the same address has another), out[1] with every
 * commit of another connection to the file (PRAGMA data_version). Equal
 * generations read the same records. Returns 1 (out unset) inside a
 * transaction, whose writes may yet be rolled back; else 0 or FS_E*. */
int fs_replica_generation(fs_replica *r, uint64_t out[2]);

typedef struct fs_apply_stats {
    size_t applied;   /* changes that won and were written */
    size_t ignored;   /* older than, or the same as, what the replica holds */
    size_t conflicts; /* conflict records created */
} fs_apply_stats;

/* Applies remote changes in one transaction (or inside the open one):
 * per-column LWW; idempotent and order-independent. A remote version further
 * ahead of the local clock than max_skew_ms is refused (FS_ECLOCK) and
 * nothing of the batch is applied. Errors: FS_ESCHEMA, FS_ETYPE, FS_ECLOCK,
 * FS_EDB. */
int fs_apply(fs_replica *r, const fs_change *changes, size_t n, fs_apply_stats *stats);

typedef enum fs_conflict_status {
    FS_CONFLICT_OPEN = 0,
    FS_CONFLICT_KEPT = 1,    /* resolved: the current value stays */
    FS_CONFLICT_RESTORED = 2, /* resolved: the losing value was written back */
    FS_CONFLICT_DECIDED = 3   /* resolved: a third value was written (fs_conflict_decide) */
} fs_conflict_status;

typedef struct fs_conflict {
    uint8_t id[FS_ID_BYTES];
    uint16_t table, column;
    uint8_t row[FS_ID_BYTES];
    fs_value loser, winner; /* bytes valid during the callback only */
    fs_version loser_version, winner_version;
    fs_conflict_status status;
} fs_conflict;

/* Calls cb for each conflict record (open ones only unless include_resolved).
 * A non-zero return from cb stops the walk and is returned. */
int fs_conflicts(fs_replica *r, int include_resolved, int (*cb)(const fs_conflict *, void *),
                 void *ctx);

/* Resolves a conflict: FS_CONFLICT_KEPT leaves the current value,
 * FS_CONFLICT_RESTORED writes the losing value back as a new local write.
 * Both are synced. Errors: FS_ENOTFOUND, FS_EINVAL. */
int fs_conflict_resolve(fs_replica *r, const uint8_t id[FS_ID_BYTES], fs_conflict_status how);
/* Resolves a conflict with a value of its own: v is written to the field as
 * a new local write and the conflict is marked FS_CONFLICT_DECIDED, in one
 * transaction; both sync, so every replica that pulls them drops the
 * conflict from its open ones. Errors: FS_ENOTFOUND, FS_EFORMAT (an
 * incomplete record), the write's (FS_ETYPE for a value that does not fit
 * the column, ...). */
int fs_conflict_decide(fs_replica *r, const uint8_t id[FS_ID_BYTES], const fs_value *v);

/* Verifies that every column value this device wrote matches its newest
 * change-log entry and every log entry is reflected in the rows (or was
 * overwritten by a newer version). *problems receives the number of
 * mismatches; the first is described by fs_replica_errmsg(). */
int fs_replica_check(fs_replica *r, size_t *problems);

/* A canonical BLAKE2b-256 hash of the synced state: every row of every table
 * (tombstones included), every column's value and version. Replicas that
 * have seen the same changes have the same hash. */
int fs_replica_state_hash(fs_replica *r, uint8_t out[32]);

typedef struct fs_replica_status {
    uint64_t last_seq;       /* newest local change */
    uint64_t acked_seq;      /* newest local change a server acknowledged */
    uint64_t pending;        /* local changes not yet acknowledged */
    uint64_t oldest_pending_ms; /* wall-clock ms of the oldest pending change, 0 if none */
    uint64_t cursor;         /* server feed position this replica has applied */
    uint64_t open_conflicts;
    uint64_t refused;        /* local changes the server refused (kept, see fs_refusals) */
    uint32_t refused_reason; /* the reason code of the newest of them, 0 if none */
    uint64_t last_sync_ms;   /* wall-clock ms of the last sync that ended in sync, 0 if never */
    uint64_t lease_expires_ms; /* device clock ms when the server's lease ends, 0 if none */
    int locked;                /* 1 when the lease has ended: see fs_replica_lease_expired */
    int clock_known;           /* a server's time was learnt (fs_replica_note_server_time) */
    int64_t clock_offset_ms;   /* the server's clock minus this machine's; 0 if unknown */
    /* the last re-sync the server's feed called for (issue 25.2) */
    uint64_t resync_ms;        /* device clock ms, 0 if never */
    uint32_t resync_why;       /* FS_RESYNC_* */
    /* the last rewind of the acknowledged mark: the server held less */
    uint64_t rewind_ms;        /* device clock ms, 0 if never */
    uint64_t rewind_from, rewind_to;
    /* the last records sent back that the server no longer held and no
     * other device sent (fs_refusals_return_held) */
    uint64_t returned_ms;      /* device clock ms, 0 if never */
    uint64_t returned_n;       /* how many records then */
} fs_replica_status;

int fs_replica_status_get(fs_replica *r, fs_replica_status *out);

/* ---- a server restored from a backup (issue 25.2) ----
 * The device keeps, with its cursor, the epoch of the feed it is in and
 * the tag of the feed entry at the cursor (fs_feed_entry_tag). When the
 * server's feed is not the one the cursor is in, the device pulls its
 * scope again from 0 (a re-sync; applying what it holds is a no-op), and
 * when the server holds fewer of its changes than it acknowledged, the
 * device rewinds its acknowledged mark and pushes them again. Each is
 * recorded with its time for `status` and the daemon's log. */
enum { FS_RESYNC_EPOCH = 1, /* the server's feed has a new epoch (a restore) */
       FS_RESYNC_CURSOR = 2, /* the server's feed ends before, or differs at, the cursor */
       FS_RESYNC_LOST = 3 /* the server lost changes it had acknowledged: what the
                             cursor passed may be lost too */ };
/* The feed epoch READY gave: kept when the device has none yet; when it
 * differs from the one kept, the device re-syncs (FS_RESYNC_EPOCH) and
 * *resynced is 1. */
int fs_replica_note_feed_epoch(fs_replica *r, const uint8_t epoch[16], int *resynced);
/* Sets the cursor back to 0 (and its tag to unknown), recording why, and
 * drops the rows of the tables only the server writes (fs_record_server_only),
 * which the pull from 0 brings back as the server holds them now. */
int fs_replica_resync(fs_replica *r, uint32_t why);
/* A re-sync also notes every live record this device holds; each change
 * pulled since strikes its record off. Call this when a pull is done (no
 * more to pull): once the pull from 0 is, what is left is what the server
 * no longer feeds this device, dated now for fs_refusals_return_held. A
 * no-op at any other time. */
int fs_replica_held_check_pulled(fs_replica *r);
/* The tag of the entry at the cursor as the server said it (0: unknown). */
int fs_replica_cursor_tag(fs_replica *r, uint64_t *out);
/* Records tag as the cursor's when the cursor is at cursor (call it in the
 * transaction of fs_apply_pulled). */
int fs_replica_note_cursor_tag(fs_replica *r, uint64_t cursor, uint64_t tag);
/* Moves the acknowledged mark back to to when it is above (the server
 * holds only up to to: a restored backup), recording from what and when;
 * what follows is pending again and is pushed again. *rewound is 1 when it
 * moved. fs_replica_mark_acked never moves it back. */
int fs_replica_rewind_acked(fs_replica *r, uint64_t to, int *rewound);

/* A write the server accepted with a clock of its own (issue 23): the
 * clock this device stamped it with, and the one the server gave it. */
typedef struct fs_restamp {
    uint64_t sent, given;
} fs_restamp;

/* Rewrites this device's own writes stamped `sent` to `given` (the change
 * log, the previous versions that name them, and each row's version where
 * it is still that write), for every pair, in one transaction, so this
 * replica holds what the server holds. A cell of the write the server
 * refused (a refusal recorded at `sent`: the owner of a write whose other
 * columns it took) keeps `sent`, as the server refused it by that clock.
 * Pairs naming no write here are skipped (a repeated ACK). The hybrid clock then drops to the newest clock
 * it still holds: a laptop whose clock was a day ahead writes today's time
 * again. FS_EINVAL for a zero clock. */
int fs_replica_restamp(fs_replica *r, const fs_restamp *pairs, size_t n);

/* Time from the server (issue 23): the device keeps the server's clock
 * minus its own (server_now_ms from READY) and from then on stamps its
 * writes, judges its rules and counts its lease on its own clock plus that
 * offset, so a laptop a day off still writes the server's time. Before the
 * first sync local time is used. FS_EINVAL for a time out of range. */
int fs_replica_note_server_time(fs_replica *r, uint64_t server_now_ms);
/* The lease against clock games (issue 20.6): the replica keeps, under its
 * encryption, the highest time it has seen (meta time_seen_ms: the
 * server's time at each sync, then this device's time as commands run,
 * raised at most once a minute). 1 when now is more than
 * FS_CLOCK_BACK_MAX_MS behind it (the clock was set back: the client
 * refuses everything but sync, which starts the mark again from the
 * server's time); 0 otherwise. *seen_ms: the mark. Negative: an error. A
 * clock set back before the lease's end on a laptop not used since is not
 * found: only a sync can tell the time then. */
#define FS_CLOCK_BACK_MAX_MS (5u * 60u * 1000u)
/* This machine's own wall clock (Unix ms), uncorrected: what a PULL tells
 * the server so the manager sees a laptop whose clock is off (issue 23). */
uint64_t fs_replica_wall_ms(const fs_replica *r);
int fs_replica_clock_check(fs_replica *r, uint64_t *seen_ms);
/* 1 and *offset_ms (the server-corrected time minus this machine's clock,
 * now: the clock may have moved since the last sync) once a server's time
 * was noted; 0 and 0 before. */
int fs_replica_clock_offset(const fs_replica *r, int64_t *offset_ms);

/* ---- the feed (a server's replica) ----
 * A replica created with keep_feed gives every change it accepts (remote
 * changes that win) or makes (local writes, conflict records) a feed
 * sequence, in the same transaction. Devices pull the feed by cursor; a
 * device that pulls it all holds the same state as the server. */

/* Feed entries with sequence > after, at most max; first_seq/last_seq are
 * feed sequences. FS_ESTATE if the replica keeps no feed. */
int fs_feed_since(fs_replica *r, uint64_t after, size_t max, fs_changeset **out);
/* The same, also stopping before an entry whose packed changes (values and
 * their headers, as the feed stores them) would take what is read past
 * max_bytes; the first entry comes in any case. A sync's CHANGES is bounded
 * by bytes this way, so no batch outgrows a message. */
int fs_feed_since_bytes(fs_replica *r, uint64_t after, size_t max, size_t max_bytes,
                        fs_changeset **out);
/* The entries at the given feed sequences (ascending, nseqs of them), the
 * same bounds as fs_feed_since_bytes: a prefix of them is read (the first
 * in any case, none when nseqs is 0) and (*out)->last_seq says how far it
 * goes. A server reads its scope's entries this way, found by its own
 * index (server/store/feedscope.c). FS_ENOTFOUND for a sequence with no
 * entry, FS_EINVAL for sequences out of order. */
int fs_feed_entries(fs_replica *r, const uint64_t *seqs, size_t nseqs, size_t max,
                    size_t max_bytes, fs_changeset **out);
/* The newest feed sequence (0 if none). */
int fs_feed_last(fs_replica *r, uint64_t *out);
/* The tag of the feed entry at seq: a 64-bit BLAKE2b digest of its
 * sequence, table, row and packed changes, never 0; *out is 0 when no entry
 * has that sequence. A device keeps the tag of the entry at its cursor; a
 * feed whose entry there differs (a store copied back from a backup) is not
 * the one its cursor is in (issue 25.2). FS_ESTATE if no feed. */
int fs_feed_entry_tag(fs_replica *r, uint64_t seq, uint64_t *out);

/* ---- feed compaction (issue 21.1) ----
 * A change of a feed entry below the horizon is dropped when a later entry
 * holds a change to the same cell (table, row, column): the newest change of
 * every cell stays, at its sequence, so a device reading the feed from any
 * cursor still ends with every cell's newest value. An entry left with no
 * change is deleted; one left with some is written again, packed, at its
 * sequence. Sequences are never renumbered: cursors stay valid. The tag of
 * each entry rewritten or deleted is kept (fs_feed_tag_held), so a device's
 * cursor there is still known to be in this feed. */
typedef struct fs_feed_compaction {
    uint64_t horizon; /* entries with a lower sequence are compacted */
    /* each entry deleted, in the transaction that deletes it: the caller's
     * own index of the feed follows (NULL: nothing to follow) */
    int (*dropped)(void *ctx, uint64_t seq);
    void *ctx;
    /* progress: the next step starts after this row (started 0: the first) */
    int started, done;
    unsigned tbl;
    uint8_t row[FS_ID_BYTES];
    /* what the steps so far did */
    uint64_t rows, entries_dropped, entries_rewritten, changes_dropped, bytes_before, bytes_after;
} fs_feed_compaction;
/* Compacts the entries of at most max_rows more rows (in row order) in one
 * transaction (or the caller's), and records c->horizon as the feed's
 * horizon (it never moves back); c->done is 1 once every row is done.
 * FS_ESTATE if no feed, FS_EINVAL for a horizon of 0. */
int fs_feed_compact_step(fs_replica *r, fs_feed_compaction *c, size_t max_rows);
/* *out 1 when tag is the tag of the entry at seq (fs_feed_entry_tag), or
 * was before compaction rewrote or deleted it (compaction keeps the tags it
 * replaces): a device's cursor there is in this feed. 0 otherwise. */
int fs_feed_tag_held(fs_replica *r, uint64_t seq, uint64_t tag, int *out);
/* The feed's horizon: entries below it may have been compacted (0: never). */
int fs_feed_horizon(fs_replica *r, uint64_t *out);
/* The horizon for "entries written before cutoff_ms": the sequence of the
 * first entry, from the current horizon on, whose clock is at or after it
 * (the feed's end + 1 when there is none). An entry's clock is its first
 * change's: clocks do not follow sequences strictly (a push of offline
 * work), so this stops at the first recent one and may keep older ones
 * after it. */
int fs_feed_horizon_before(fs_replica *r, uint64_t cutoff_ms, uint64_t *out);

/* ---- sync state ---- */

/* The server this device syncs with: its URL and the identity key pinned at
 * enrollment, kept in the encrypted replica. url: 1..255 bytes. */
#define FS_SERVER_URL_MAX 255
int fs_replica_set_server(fs_replica *r, const char *url, const uint8_t pk[32]);
/* FS_ENOTFOUND before enrollment. The first of the addresses below. */
int fs_replica_server(fs_replica *r, char url[FS_SERVER_URL_MAX + 1], uint8_t pk[32]);
/* Several addresses of the one server (issue 21.3): a standby, a moved
 * server, another node. All share the one pinned key: a device syncs only
 * with the identity it enrolled with, whichever address leads to it. Kept
 * in meta: 'server_url' the first (what a replica of before kept alone, so
 * such a replica reads as a list of one), 'server_urls' all of them, one a
 * line, and 'server_last' the one that answered last. Each URL is 1..255
 * bytes of UTF-8 without blanks or control characters; 1..FS_SERVERS_MAX of
 * them, no two the same. FS_EINVAL otherwise. */
#define FS_SERVERS_MAX 8
typedef struct fs_server_list {
    size_t n;
    char url[FS_SERVERS_MAX][FS_SERVER_URL_MAX + 1];
    char last[FS_SERVER_URL_MAX + 1]; /* the one that answered last, "" if none or not listed */
} fs_server_list;
/* Replaces the addresses (and the pinned key); keeps 'server_last' when it
 * is still listed, else forgets it. */
int fs_replica_set_servers(fs_replica *r, const fs_server_list *list, const uint8_t pk[32]);
/* FS_ENOTFOUND before enrollment. */
int fs_replica_servers(fs_replica *r, fs_server_list *out, uint8_t pk[32]);
/* Records url as the address that answered last (tried first next time).
 * FS_EINVAL when it is not one of the replica's addresses. */
int fs_replica_set_server_last(fs_replica *r, const char *url);
/* The name of this device's user (as the server knows them: "zhang"): what
 * forms fill in as the rep, the supervisor or the owner. Kept in the
 * replica, never synced. FS_EINVAL for an empty, over-long or unprintable
 * name; fs_replica_user: FS_ENOTFOUND when none is set. */
#define FS_USER_MAX 64
int fs_replica_set_user(fs_replica *r, const char *name);
int fs_replica_user(fs_replica *r, char out[FS_USER_MAX + 1]);

/* Who made a row (core/maker.c, issue 24): the device of its first write
 * (the lowest clock of its fields' versions; all zero when unknown) and
 * that device's user as far as this replica can tell, "" when it cannot:
 * this device's user, or the one name the device's records signed in their
 * first write (a signer column, then a visit's visitor). A server's
 * replica (one with a feed) says only the device: the server knows its
 * devices' users (fs_store_devices). Errors:
 * FS_EINVAL (a table the replica lacks), FS_ENOTFOUND (no such row). */
int fs_row_maker(fs_replica *r, unsigned table, const uint8_t id[FS_ID_BYTES],
                 uint8_t device[FS_ID_BYTES], char user[FS_USER_MAX + 1]);
/* The clock (HLC: milliseconds << 16 | counter) of a row's first write,
 * the lowest of its fields' versions (0 when none is known): when it was
 * recorded, which no edit of some of its fields changes. Errors as
 * fs_row_maker's. */
int fs_row_first_clock(fs_replica *r, unsigned table, const uint8_t id[FS_ID_BYTES], uint64_t *hlc);
/* The device takes the user (1..FS_USER_MAX bytes) and team (NULL or "":
 * left as it is) the server knows it by. When the user differs from the
 * one set before (`whoami --set`) and the replica is enrolling (no server
 * recorded yet, no change acknowledged, nothing pulled), every record's owner and signer
 * column (fs_record_rules) holding the old name is rewritten to the new one
 * as a local write, in one transaction with the settings. prev (may be
 * NULL) receives the old name when the user changed ("" when none was
 * set), else ""; *reattributed (may be NULL) the number of columns
 * rewritten. Nothing is written when both are as set already. Errors: the
 * replica's; FS_EINVAL for a bad name. */
int fs_replica_adopt_user(fs_replica *r, const char *user, const char *team, char *prev,
                          size_t prevcap, size_t *reattributed);
/* The device's settings, by name: "user" and "team" (1..FS_USER_MAX bytes),
 * "calendar" (1..FS_SETTING_MAX; the client's working-day calendar), "role" ("rep"
 * or "manager": what the CLI's record-rule checks assume; client/precheck.c),
 * "passfit" (the passphrase's measure, fs_pass_measure: never the passphrase). Local,
 * never synced. FS_EINVAL for another name or a bad value; reading one that
 * is not set (or does not fit cap): FS_ENOTFOUND. */
#define FS_SETTING_MAX 2048
int fs_replica_set_setting(fs_replica *r, const char *name, const char *value);
int fs_replica_setting(fs_replica *r, const char *name, char *out, size_t cap);

/* The device's export audit (issue 20 point 4; local table export_log):
 * one entry per export of more than one record to a file or pipe: who,
 * the record kind, how many records, when and how (FS_EXPORT_MODE_*);
 * never a value. Entries not yet told to a server are sent with the next
 * sync's PULL (protocol 7) and then marked sent. */
#define FS_EXPORT_KIND_MAX 32
typedef struct fs_export_entry {
    uint64_t seq;
    uint64_t at_ms;
    char user[FS_USER_MAX + 1];
    char kind[FS_EXPORT_KIND_MAX + 1];
    uint32_t n;
    char mode[16]; /* "sealed" or "plaintext" */
    int sent;
} fs_export_entry;
/* Appends an entry (now by the replica's clock). FS_EINVAL for a kind or
 * mode that is not 1..FS_EXPORT_KIND_MAX bytes of [a-z_]. */
int fs_replica_export_record(fs_replica *r, const char *user, const char *kind, uint32_t n,
                             const char *mode);
/* The entries, oldest first (unsent_only: those not yet sent), at most max
 * into out; *count how many. */
int fs_replica_exports(fs_replica *r, int unsent_only, fs_export_entry *out, size_t max,
                       size_t *count);
/* Marks every entry up to seq as sent. */
int fs_replica_exports_sent(fs_replica *r, uint64_t upto_seq);

/* Records that a sync just ended with the device in sync with its server
 * (everything pushed and acknowledged, the feed pulled to its end). */
int fs_replica_mark_synced(fs_replica *r);

/* The lease: a server grants each device's key for a while (READY carries
 * the server's clock and the lease's end). Stored on the device's own clock
 * (now + expires_ms - server_now_ms, so a skewed device clock does not
 * shorten or stretch it); a lease already over by the server's clock ends
 * now. Renewing replaces the old lease, also with a shorter one. */
int fs_replica_renew_lease(fs_replica *r, uint64_t server_now_ms, uint64_t expires_ms);
/* 1 when a lease was granted and has ended on the device's clock: the device
 * is locked until a server renews it (the client refuses every command but
 * sync, status and the daemon). 0 when it runs or none was ever granted
 * (a replica that never enrolled). Negative: an error code. */
int fs_replica_lease_expired(fs_replica *r);

/* A row named by table and id (purges, references). */
typedef struct fs_row_ref {
    uint16_t table;
    uint8_t row[FS_ID_BYTES];
} fs_row_ref;

/* Records that a server committed this device's changes up to upto_seq.
 * Never moves back (an older acknowledgement is ignored). FS_EINVAL if
 * upto_seq is beyond the newest local change. */
int fs_replica_mark_acked(fs_replica *r, uint64_t upto_seq);

/* Restored and copied replicas (issue 25.3). Given what the server holds of
 * this device (TIP: the newest local sequence it acknowledged and the clock
 * of the write there), *fork is 1 when this replica is not the one the
 * server knows: it does not hold that sequence (restored from a backup) or
 * holds another write there (another clock or row: a copy that wrote on
 * its own). Nothing is
 * written. */
int fs_replica_is_fork(fs_replica *r, uint64_t server_acked, uint64_t server_hlc,
                       const uint8_t server_row[FS_ID_BYTES], int *fork);
/* Takes the new identity seed (a device the server registered for this
 * replica's user) in one transaction: what this replica wrote that was
 * acknowledged stays as the old device's (its log entries go: the server has
 * them under the old id), its unacknowledged changes become the new
 * device's writes (their versions and log entries, numbered again from 1),
 * nothing is acknowledged and the cursor goes back to 0, so the server sends
 * the whole scope, the old device's writes with it. What happened is kept
 * for status (fs_replica_fork_note). *kept (may be NULL): the changes kept
 * to push. */
int fs_replica_fork(fs_replica *r, const uint8_t seed[32], uint64_t *kept);
/* The words of the last fork, "" when the replica never forked. */
int fs_replica_fork_note(fs_replica *r, char *out, size_t cap);

/* A device's first pull (every visit of its scope, into a replica that
 * holds none) inserts the visits in the feed's order, not their time's:
 * each batch would dirty pages all over the index of visits by time. So
 * fs_replica_first_pull_begin (outside a transaction) drops that index
 * when the replica holds no visit (*dropped: 1), and
 * fs_replica_first_pull_end, at the end of every pull, makes it again when
 * it is missing: one sort instead (a pull cut short: the next pull's end,
 * or the next open, makes it; the lists are right without it, only
 * slower). A server's store has no such index: both do nothing. */
int fs_replica_first_pull_begin(fs_replica *r, int *dropped);
int fs_replica_first_pull_end(fs_replica *r);

/* Applies a batch pulled from the server feed and moves the replica's cursor
 * to new_cursor in the same transaction: both happen or neither. The cursor
 * never moves back. Errors as fs_apply, except that a change stamped ahead of
 * this machine's clock is applied (FS_ECLOCK never): the server accepted it,
 * and a device's own clock may be wrong (the hybrid clock absorbs it). */
int fs_apply_pulled(fs_replica *r, const fs_change *changes, size_t n, uint64_t new_cursor,
                    fs_apply_stats *stats);

/* Keeps the server's refusal of one local change (identified by table, row,
 * column and clock) with its reason code and text, the time it is recorded
 * and the value the change sent (from the change log). The change itself
 * stays in the row and the log: nothing a rep recorded is dropped until the
 * rep reverts or retries it. Recording the same refusal twice keeps one
 * (with its number). */
int fs_replica_record_refusal(fs_replica *r, uint16_t table, const uint8_t row[FS_ID_BYTES],
                              uint16_t column, uint64_t hlc, uint32_t reason, const char *text,
                              size_t text_len);

typedef struct fs_refusal {
    uint16_t table, column;
    uint8_t row[FS_ID_BYTES];
    uint64_t hlc;
    uint32_t reason;
    const char *text; /* valid during the callback */
    size_t text_len;
    uint64_t id;    /* its number on this device: 1, 2, ... (what `refused show` takes) */
    uint64_t at_ms; /* wall-clock ms it was recorded; 0 if recorded by an older build */
    fs_value sent;  /* the value the change sent (FS_NULL: empty, or not known);
                       valid during the callback */
    int auto_reverted; /* undone on this device at once (a hand-over the server refused,
                          fs_refusals_revert_handovers): listed, no longer open */
} fs_refusal;

/* Calls cb for every recorded refusal still open or undone automatically
 * (auto_reverted), oldest first; a non-zero return stops the walk and is
 * returned. */
int fs_refusals(fs_replica *r, int (*cb)(const fs_refusal *, void *), void *ctx);

/* Calls cb for refusal number id. FS_ENOTFOUND if there is none. */
int fs_refusal_get(fs_replica *r, uint64_t id, int (*cb)(const fs_refusal *, void *), void *ctx);

/* What putting a refused record right did (fs_refusal_revert, _retry). */
typedef struct fs_refusal_outcome {
    size_t cleared;  /* refusals of the record that are gone from the list */
    size_t changed;  /* columns taken back, or sent again */
    int removed;     /* revert: the record was new to the server, and is gone here */
    int repull;      /* revert: the server's value comes with the next sync */
} fs_refusal_outcome;

/* Takes the server's values back for every refused change of the record
 * that refusal id belongs to, without a change of its own to sync:
 *   - a column the refused change still holds goes back to the value it
 *     replaced: a value of this device's from the change log at once; a
 *     value that came from the server is emptied, the column's version
 *     dropped, and the cursor set back so that the next sync brings the
 *     server's value again (a full pull: rare, and nothing is lost);
 *   - a record the server never had (every column it holds was refused,
 *     with nothing before it) is removed here, as the server never had it;
 *   - a column that has moved on since (a later change, the server's or
 *     this device's) is left as it is.
 * The record's refusals leave the list. FS_ENOTFOUND for no such refusal. */
int fs_refusal_revert(fs_replica *r, uint64_t id, fs_refusal_outcome *out);

/* Sends the record's refused changes again: every refused column of the
 * record that refusal id belongs to is written once more with its current
 * value and a new clock, as a local change that syncs; the record's
 * refusals leave the list (a new refusal is recorded if the server refuses
 * it again). FS_ENOTFOUND for no such refusal or a record that is gone. */
int fs_refusal_retry(fs_replica *r, uint64_t id, fs_refusal_outcome *out);

/* Reverts, as fs_refusal_revert does, every record with an open refusal of
 * a hand-over (a new owner the server refused: the record rules'
 * FS_WHEN_CHANGED columns), so that this device never keeps an owner no
 * one else has (issue 25 point 6). The refusals stay listed, marked
 * auto_reverted, and are no longer open. *records: how many were reverted;
 * *repull: 1 when a value must come from the server again (the cursor was
 * set back: pull again). 0 or the replica's error. */
int fs_refusals_revert_handovers(fs_replica *r, size_t *records, int *repull);

/* Retries, as fs_refusal_retry does, every record (up to 64 a call) whose
 * open refusal says the record it belongs to had not reached the server
 * (FS_REASON_PARENT) and that refers, by one of its ID columns, to a row of
 * the n changes just pulled: the server holds that row now (it arrived
 * after the child, e.g. re-sent by its writer after a restore of the
 * server), so the child is sent again rather than left refused for good.
 * Only a row the server feeds again is a reason to retry, so a child the
 * server keeps refusing is not sent at every sync. *records: how many were
 * retried. Run it in the transaction that applies the changes. */
int fs_refusals_retry_parents(fs_replica *r, const fs_change *changes, size_t n, size_t *records);

/* Sends again, whole, the records the server has lost (issue 25): for each
 * open refusal (up to 64 a call) at least grace_ms old saying the server
 * does not hold the record (FS_REASON_LOST: a change of a record it has no
 * row of) or what it belongs to (FS_REASON_PARENT), the records it refers
 * to by its ID columns and, for LOST, the record itself are written again
 * as this device's write, every column ever written with the value held
 * here, and the refused changes go again after them. A server restored
 * from a backup older than a record, whose writer's laptop was restored
 * or copied too, may hold it nowhere but on this device (a manager's
 * laptop that pulled it). The grace leaves time for the record's writer
 * to send it again itself (keeping its own clock; a child is then sent
 * again by fs_refusals_retry_parents). Each record is written whole at
 * most once per feed epoch (a meta mark a re-sync or fork clears), and
 * never one with an open refusal of another reason, so a server that
 * keeps refusing is not sent the same record at every sync; a refusal
 * nothing was sent again for stays open. First, whatever their age, such
 * refusals of cells this device wrote again since in a change the server
 * acknowledged and did not refuse are deleted (the rep's later value is
 * on the server), whether or not the record is still here. *records: the
 * refusals put right by sending. 0 or the replica's error. */
#define FS_LOST_GRACE_MS (3600ull * 1000)
int fs_refusals_resend_lost(fs_replica *r, uint64_t grace_ms, size_t *records);

/* Sends back the records the server no longer holds that no one else
 * sends (lost25b): a record this device held when it re-synced
 * (fs_replica_resync), which the pull from 0 did not bring and no pull
 * has brought in grace_ms since (fs_replica_held_check_pulled), is written
 * again whole as this device's write (as fs_refusals_resend_lost does)
 * when it is live, holds a cell another device wrote (its own the server
 * acknowledged are sent again by the rewind of the acknowledged mark), has
 * no unacknowledged change, has no open refusal of another reason, and was
 * not written whole in this feed epoch already. A record deleted on
 * purpose comes in the pull as its tombstone, and one purged is no longer
 * here: neither goes back. Every record is looked at once per re-sync.
 * *records: how many went back (also kept for status: returned_ms,
 * returned_n). 0 or the replica's error. */
int fs_refusals_return_held(fs_replica *r, uint64_t grace_ms, size_t *records);

/* A device's refused changes still open on it, as the server last heard
 * (the server-written table `refusal_tally`, schema 3): on a manager's
 * replica, every device of the team; on the server's, every device. */
typedef struct fs_refusal_tally {
    char rep[FS_USER_MAX + 1];
    char device[17];   /* its fingerprint: 16 hex digits */
    uint64_t open;     /* refused changes neither reverted nor retried */
    uint32_t reason;   /* the newest one's reason code, 0 if none */
    uint64_t at_ms;    /* when the device reported it (server time) */
    const uint8_t *id; /* the row's id, valid during the callback */
} fs_refusal_tally;

/* Calls cb for each device's tally (of rep's devices only, unless rep is
 * NULL), in the order of rep and device; a positive return stops the walk
 * (0 is returned), a negative one stops it and is returned. Rows with a
 * value out of range are skipped. */
int fs_refusal_tallies(fs_replica *r, const char *rep,
                       int (*cb)(const fs_refusal_tally *, void *), void *ctx);

/* Removes rows that left this user's scope (a server's PURGE), and the
 * conflict records about them, without change-log entries: the server no
 * longer shares them with this device. Unknown rows are skipped. A purged
 * row that comes back in scope is applied again as usual. */
int fs_replica_purge(fs_replica *r, const fs_row_ref *rows, size_t n);

/* A server's PURGE as a sync client applies it (issue 24): purged now, with
 * the records here that follow a purged customer and hold no open refusal
 * (what this device wrote under it after the server listed its rows), when
 * every local change has been acknowledged; else kept in `purge_wait` and
 * purged by fs_replica_purge_due once they are. A device never purges work
 * it has not sent. */
int fs_replica_purge_when_sent(fs_replica *r, const fs_row_ref *rows, size_t n);
/* Purges what fs_replica_purge_when_sent kept for later, if every local
 * change is acknowledged now; *purged (may be NULL): how many rows of the
 * server's lists went. 0 or an FS_E* code. */
int fs_replica_purge_due(fs_replica *r, size_t *purged);
/* *out 1 when row left this user's scope as far as this device knows: a
 * purge waits for it, or it was purged and has not come back. */
int fs_replica_handed_away(fs_replica *r, unsigned table, const uint8_t row[FS_ID_BYTES], int *out);

/* An id's text form: 32 lowercase hex digits + NUL; parse needs exactly 32.
 * A new row's id is its clock's milliseconds (FS_ID_CLOCK_BYTES, big-endian,
 * so ids sort by creation and B-trees grow at their right edge) and then
 * random bytes; the text form puts the random bytes first, so the digits
 * people read and type (`list` shows 8) tell records apart. Device ids are
 * random throughout and written the same way. */
#define FS_ID_CLOCK_BYTES 6
void fs_id_to_hex(const uint8_t id[FS_ID_BYTES], char out[2 * FS_ID_BYTES + 1]);
int fs_id_from_hex(const char *hex, uint8_t out[FS_ID_BYTES]);

#endif
