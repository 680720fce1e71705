/*
 * The PostgreSQL backend of the server store (issue 21.2): PostgreSQL is
 * the authoritative, shared write-ahead log of the SQLite store's
 * transactions, and each serve node's SQLite store (store_sqlite.h) a
 * cache of it. Every write op runs the SQLite op inside one PostgreSQL
 * transaction under an advisory lock, after catching up with the log, and
 * appends the SQLite session changeset it made, sealed, to the log; every
 * read op catches up first. docs/DESIGN.md, "The PostgreSQL store".
 */
#ifndef FIELDSYNC_STORE_PG_H
#define FIELDSYNC_STORE_PG_H

#include <stddef.h>

#include "fieldsync/replica.h"
#include "fieldsync/store.h"

/* Creates a node's data directory dir (a store as fs_store_create makes
 * it, the cache) and the schema in the PostgreSQL database at url
 * (fs_meta with the schema version and the store id, fs_log), and keeps url
 * in dir (the file "store", mode 0600). FS_EEXIST when the database holds a
 * store already; FS_EDB when PostgreSQL fails (fs_store_errmsg(NULL) never
 * names the URL's password). */
int fs_store_pg_create(fs_store **out, const char *dir, const char *pass, size_t passlen,
                       const char *url, const fs_replica_opts *opts);
/* Opens the node in dir on the log at url (NULL: the one kept in dir) and
 * catches up. FS_ESTATE when the database's store id differs from dir's. */
int fs_store_pg_open(fs_store **out, const char *dir, const char *pass, size_t passlen,
                     const char *url, const fs_replica_opts *opts);

/* The URL kept in dir (the file "store"): 0, FS_ENOTFOUND when dir keeps
 * none (a SQLite store), FS_EFORMAT, FS_EIO. */
int fs_store_pg_url(const char *dir, char *url, size_t cap);
/* Why the last fs_store_pg_create/open/migrate on this thread failed. */
const char *fs_store_pg_errmsg(void);
/* Keeps url in dir (the file "store", mode 0600): the node's database
 * moved. 0, FS_EINVAL, FS_EIO. */
int fs_store_pg_keep_url(const char *dir, const char *url);
/* Brings the PostgreSQL schema at url forward to this build's version, in
 * one transaction: *from the version found, *to the one left. FS_EFORMAT
 * (no store there, or a newer one), FS_EDB. */
int fs_store_pg_migrate(const char *url, int *from, int *to);

#endif
