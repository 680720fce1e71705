/*
 * Encrypting SQLite VFS.
 *
 * A shim over the default (unix) VFS that seals every page of a database file,
 * its WAL and its rollback journal with XChaCha20-Poly1305. Each page keeps
 * its 24-byte nonce and 16-byte tag in the page's 40 reserved bytes; the
 * associated data binds the database id and the page number (and on page 1
 * the plaintext header bytes 0..23). See docs/DESIGN.md, "Encrypted pages".
 *
 * One VFS object is registered per open database, under a unique name, and
 * carries that database's key: open the database with
 *   sqlite3_open_v2(path, &db, flags, fs_cryptvfs_name(vfs))
 * then, before the first write of a new database,
 *   sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &(int){40})
 * and `PRAGMA locking_mode=EXCLUSIVE` before `PRAGMA journal_mode=WAL`: the VFS
 * offers no shared memory (its -shm would hold plaintext-derived checksums)
 * and no mmap, and it refuses temporary files (use temp_store=MEMORY).
 */
#ifndef FIELDSYNC_VFS_H
#define FIELDSYNC_VFS_H

#include <stddef.h>

#include "fieldsync/keyfile.h"

#define FS_VFS_RESERVE 40

typedef struct fs_cryptvfs fs_cryptvfs;

/* Creates and registers a VFS for one database. The key is copied into
 * guarded memory (the caller keeps and frees its own copy). Errors:
 * FS_ENOMEM, FS_EDB (registration failed). */
int fs_cryptvfs_new(fs_cryptvfs **out, const fs_secret *secret);

/* The name to pass to sqlite3_open_v2(). */
const char *fs_cryptvfs_name(const fs_cryptvfs *vfs);

/* Unregisters the VFS and wipes its keys. Every connection using it must be
 * closed first. Accepts NULL. */
void fs_cryptvfs_free(fs_cryptvfs *vfs);

/* Returns the fieldsync code of the last failure seen below SQLite
 * (FS_EINTEGRITY, FS_EPAGEFMT, ...) or 0, copies a one-line description
 * (no data, only file kinds and page numbers) into msg, and clears it. */
int fs_cryptvfs_take_error(fs_cryptvfs *vfs, char *msg, size_t msgsize);

/* Decrypts one page image in place, as the VFS does on read. Exposed for the
 * page-reader fuzz target and tests. Returns 0, FS_EINTEGRITY or FS_EFORMAT. */
int fs_cryptvfs_open_page(const fs_cryptvfs *vfs, unsigned char *page, size_t pagesize,
                          unsigned pgno);

#endif
