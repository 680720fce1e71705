/*
 * The SQLite backend of the server store (fieldsync/store.h): the server's
 * encrypted replica, which keeps the feed, with the store's own tables
 * (users, devices, scope, purges, audit, enrollment codes) in the same
 * database and the same transactions. The only backend today; the server
 * opens it by its data directory.
 */
#ifndef FIELDSYNC_STORE_SQLITE_H
#define FIELDSYNC_STORE_SQLITE_H

#include <stddef.h>

#include "fieldsync/replica.h"
#include "fieldsync/store.h"

/* Creates the store in dir (a replica that keeps a feed, plus the store's
 * tables). opts as for fs_replica_create; keep_feed is implied. */
int fs_store_create(fs_store **out, const char *dir, const char *pass, size_t passlen,
                    const fs_replica_opts *opts);
int fs_store_open(fs_store **out, const char *dir, const char *pass, size_t passlen,
                  const fs_replica_opts *opts);
/* For bench_pull only: 1 makes a push leave its entries to be indexed by
 * the next pull (or open), which reads them by the owners as they stand
 * then; the price of the scope index on the write path is what a push
 * saves this way. Pulls are correct either way. */
void fs_store_sqlite_scope_lazy(fs_store *s, int lazy);
/* Checks pass against the store in dir without opening it (a running serve
 * holds it): 0, FS_EPASSPHRASE, FS_ENOTFOUND, FS_EFORMAT, FS_EIO. */
int fs_store_check_passphrase(const char *dir, const char *pass, size_t passlen);

#endif
