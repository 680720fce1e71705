/*
 * What a server store needs of its replica beyond the public API
 * (fieldsync/replica.h): the store keeps its own tables (users, devices,
 * scope, audit) in the replica's encrypted database, in the replica's
 * transactions, and checks a pushed change before it applies it.
 * Only server/store/ includes this header; nothing here is for a device.
 */
#ifndef FIELDSYNC_REPLICA_SERVER_H
#define FIELDSYNC_REPLICA_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "fieldsync/replica.h"

/* The replica's connection: the store's tables live beside the synced ones.
 * The connection stays the replica's (never closed by the caller). */
sqlite3 *fs_replica_db(fs_replica *r);

/* A statement of sql prepared on that connection, kept for the next call
 * with the same text (sql: the same string, e.g. a literal; a buffer whose
 * text changed is prepared anew). Give it back with fs_replica_stmt_done,
 * which resets it and clears its bindings (or finalizes one that was not
 * kept); until then a second call with the same text prepares another. */
int fs_replica_stmt(fs_replica *r, const char *sql, sqlite3_stmt **out);
void fs_replica_stmt_done(fs_replica *r, sqlite3_stmt *st);

/* The replica's clock (wall clock in ms, or a test's override) and how far
 * ahead of it a change's clock may be (fs_replica_opts.max_skew_ms). */
uint64_t fs_replica_now_ms(const fs_replica *r);
uint64_t fs_replica_max_skew_ms(const fs_replica *r);
/* The replica's hybrid clock as it stands: the highest clock it issued or
 * saw. */
uint64_t fs_replica_hlc_mark(const fs_replica *r);
/* A new clock of the replica's hybrid clock, above every clock it issued or
 * saw and above floor: what the server gives a write whose own clock was
 * too far ahead (FS_PUSH_RESTAMP). */
uint64_t fs_replica_hlc_give(fs_replica *r, uint64_t floor);

/* Opens a transaction unless the caller holds one (*own says which), and
 * ends what fs_replica_begin_nested opened: commits when rc is 0, else rolls
 * back; returns rc, or the commit's error. */
int fs_replica_begin_nested(fs_replica *r, int *own);
int fs_replica_end_nested(fs_replica *r, int own, int rc);

/* The outer transaction (the PostgreSQL store, issue 21.2): one SQLite
 * transaction around a whole store operation, so that the operation's
 * writes can be captured (a session) and committed with what the caller
 * keeps beside them. While it is open, fs_begin/fs_commit/fs_rollback and
 * the replica's own transactions (fs_replica_begin_nested) become
 * SAVEPOINT/RELEASE/ROLLBACK TO inside it, so the operations run
 * unchanged. fs_replica_outer_commit commits it (an explicit transaction
 * left open inside is rolled back first); fs_replica_outer_rollback drops
 * everything and reloads what the handle keeps in memory. Without it,
 * nothing changes. */
int fs_replica_outer_begin(fs_replica *r);
int fs_replica_outer_commit(fs_replica *r);
void fs_replica_outer_rollback(fs_replica *r);
int fs_replica_in_outer(const fs_replica *r);
/* 1 when a caller's transaction is open that a store's write joins: an
 * explicit one (fs_begin), or outside the outer mode any open one. */
int fs_replica_caller_tx(fs_replica *r);
/* Lets writes to the synced tables through the connection's authorizer
 * (on 1, off 0; nests): for applying a changeset made by this same code on
 * another node. */
void fs_replica_guard(fs_replica *r, int on);
/* Reloads what the handle keeps in memory from the database after writes
 * beneath the API (a changeset applied): the clock (the max of its own
 * and the stored one), the device dictionary, and a new generation
 * (fs_replica_generation) so that caches of reads drop. */
int fs_replica_reload(fs_replica *r);

/* 0 when value v fits column col of table tix as fs_apply would check it,
 * else FS_EINVAL. */
int fs_replica_value_fits(fs_replica *r, unsigned tix, unsigned col, const fs_value *v);

/* The stored version of one column of a row: *exists 0 (and *out zeroed)
 * for a row the replica does not hold. */
int fs_replica_column_version(fs_replica *r, unsigned tix, const uint8_t row[FS_ID_BYTES],
                              unsigned col, fs_version *out, int *exists);

/* *same 1 when the row holds exactly value v in column col, else 0 (also
 * for a row the replica does not hold). A writer that carries a grouped
 * column along unchanged (fieldsync/records.h, COLUMN GROUPS) writes what
 * is there: the push lets that through whoever may set the column. */
int fs_replica_column_holds(fs_replica *r, unsigned tix, const uint8_t row[FS_ID_BYTES],
                            unsigned col, const fs_value *v, int *same);

/* Appends the row's current values (every written column, at its stored
 * version) to the feed again, as one entry: how a row that entered a
 * user's scope reaches devices whose cursors are past it. A row not held
 * appends nothing. */
int fs_replica_refeed_row(fs_replica *r, unsigned tix, const uint8_t row[FS_ID_BYTES]);

/* fs_apply for changes the caller has checked as fs_apply would, without
 * checking them again. */
int fs_replica_apply_checked(fs_replica *r, const fs_change *changes, size_t n);

#endif
