/*
 * A sealed copy of a replica's database (fs_replica_backup): SQLite's
 * online backup API, from the replica's own connection into a new file
 * opened through the same encrypting VFS, so every page of the copy is
 * sealed with the replica's key and database id as the original's are:
 * the copy opens with the same key file. Used by the server's backup
 * command while it serves (issue 25.2).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fieldsync/vfs.h"
#include "replica_int.h"

int fs_replica_backup(fs_replica *r, const char *path)
{
    if (r->in_tx)
        return fs__fail(r, FS_ESTATE, "a transaction is open");
    if (path == NULL || path[0] == '\0')
        return fs__fail(r, FS_EINVAL, "no path for the backup");
    if (access(path, F_OK) == 0)
        return fs__fail(r, FS_EEXIST, "the backup file exists already");
    sqlite3 *dst = NULL;
    int src = sqlite3_open_v2(path, &dst,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                              fs_cryptvfs_name(r->vfs));
    if (src == SQLITE_OK) {
        int reserve = FS_VFS_RESERVE;
        src = sqlite3_file_control(dst, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
    }
    if (src == SQLITE_OK) /* the VFS has no shared memory and no temporary files */
        src = sqlite3_exec(dst, "PRAGMA temp_store=MEMORY; PRAGMA locking_mode=EXCLUSIVE;", NULL,
                           NULL, NULL);
    if (src == SQLITE_OK) {
        sqlite3_backup *b = sqlite3_backup_init(dst, "main", r->db, "main");
        if (b == NULL) {
            src = sqlite3_errcode(dst);
        } else {
            src = sqlite3_backup_step(b, -1);
            int fsrc = sqlite3_backup_finish(b);
            src = src == SQLITE_DONE ? fsrc : src;
        }
    }
    int crc = sqlite3_close(dst);
    if (src == SQLITE_OK)
        src = crc;
    if (src != SQLITE_OK) {
        char journal[4200];
        (void)unlink(path);
        if ((size_t)snprintf(journal, sizeof journal, "%s-journal", path) < sizeof journal)
            (void)unlink(journal);
        return fs__fail(r, FS_EDB, "backing up the database: %s", sqlite3_errstr(src));
    }
    return 0;
}
