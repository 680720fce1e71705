/*
 * Fuzz target: a whole replica on disk, read through the encrypting VFS.
 * Input: key file (136 bytes) | database length (4 bytes LE) | database |
 * WAL (the rest, may be empty). The files are written to a private directory,
 * opened with the passphrase "fuzz" and read in full (rows, state hash,
 * change-log check, integrity check). Any error is fine; a crash, a leak, an
 * out-of-bounds access or a hang is not. Seeds come from fuzz_mkseed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fieldsync/keyfile.h"
#include "fieldsync/replica.h"
#include "replica_int.h"

static char dir[256];

static int put(const char *name, const uint8_t *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n == 0) {
        unlink(path);
        return 0;
    }
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    size_t w = fwrite(p, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (dir[0] == '\0') {
        snprintf(dir, sizeof dir, "/tmp/fieldsync-fuzz-XXXXXX");
        if (mkdtemp(dir) == NULL)
            abort();
    }
    if (size < FS_KEYFILE_BYTES + 4)
        return 0;
    fs_keyfile_hdr h;
    /* Keep the KDF cheap: a fuzzed key file may ask for a gigabyte. */
    if (fs_keyfile_parse(data, FS_KEYFILE_BYTES, &h) == 0 &&
        (h.memlimit > (1u << 20) || h.opslimit > 3))
        return 0;
    size_t dblen = (size_t)data[FS_KEYFILE_BYTES] | (size_t)data[FS_KEYFILE_BYTES + 1] << 8 |
                   (size_t)data[FS_KEYFILE_BYTES + 2] << 16 |
                   (size_t)data[FS_KEYFILE_BYTES + 3] << 24;
    const uint8_t *db = data + FS_KEYFILE_BYTES + 4;
    size_t rest = size - FS_KEYFILE_BYTES - 4;
    if (dblen > rest)
        dblen = rest;
    if (put("replica.key", data, FS_KEYFILE_BYTES) != 0 || put("replica.db", db, dblen) != 0 ||
        put("replica.db-wal", db + dblen, rest - dblen) != 0)
        return 0;
    fs_replica *r = NULL;
    if (fs_replica_open(&r, dir, "fuzz", 4, NULL) == 0) {
        uint8_t hash[32];
        size_t problems = 0;
        fs_replica_state_hash(r, hash);
        fs_replica_check(r, &problems);
        sqlite3_exec(fs__replica_db(r), "PRAGMA integrity_check", NULL, NULL, NULL);
        fs_rows *it = NULL;
        if (fs_rows_open(&it, r, "visit", NULL, NULL, "time") == 0) {
            while (fs_rows_next(it) == 1) {
                fs_value v;
                fs_rows_get(it, "notes", &v);
            }
            fs_rows_close(it);
        }
        fs_replica_close(r);
    }
    return 0;
}
