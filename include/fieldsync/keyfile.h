/*
 * Key file: the database's random data key, wrapped by a key derived from the
 * user's passphrase with Argon2id.
 *
 * FORMAT (136 bytes, integers little-endian)
 *   offset size  field
 *   0      8     magic "FSKEY\0\0\1"
 *   8      4     format version (1)
 *   12     4     KDF algorithm (crypto_pwhash_ALG_ARGON2ID13)
 *   16     8     Argon2id opslimit
 *   24     8     Argon2id memlimit in bytes
 *   32     16    salt
 *   48     16    database id (bound into every encrypted page)
 *   64     24    nonce
 *   88     32    data key, encrypted with XChaCha20-Poly1305
 *   120    16    tag; bytes 0..63 are the associated data
 *
 * Changing the passphrase rewrites only this file (atomically, by rename): the
 * data key and so the database stay as they are.
 */
#ifndef FIELDSYNC_KEYFILE_H
#define FIELDSYNC_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#define FS_KEY_BYTES 32
#define FS_DBID_BYTES 16
#define FS_KEYFILE_BYTES 136

/* Argon2id cost. Stored in the key file, so opening never needs it. */
typedef struct fs_kdf_limits {
    unsigned long long opslimit;
    size_t memlimit;
} fs_kdf_limits;

/* Interactive cost (libsodium's INTERACTIVE limits: 2 passes, 64 MiB):
 * the default of release 0.2.0 and before. Such key files keep opening:
 * every file names its own cost. */
extern const fs_kdf_limits fs_kdf_interactive;
/* Moderate cost (libsodium's MODERATE limits: 3 passes, 256 MiB): the
 * default for new key files and for a new passphrase (issue 20.7): a
 * copied laptop home costs a guesser about five times as much per guess. */
extern const fs_kdf_limits fs_kdf_moderate;
/* Minimum cost: for tests that create thousands of replicas only. */
extern const fs_kdf_limits fs_kdf_minimum;

/* The cost of a new key file when none is given: fs_kdf_moderate. Only in
 * a build configured with -DFS_TEST_KDF=ON (the test builds of
 * scripts/test; a package build refuses the option) does the environment
 * variable FS_TEST_KDF_ENV choose "minimum" or "interactive" instead, so
 * the CLI tests stay fast; any other build ignores it. */
#define FS_TEST_KDF_ENV "FIELDSYNC_TEST_KDF"
const fs_kdf_limits *fs_kdf_default(void);
/* 1 in a build that honours FS_TEST_KDF_ENV, else 0. */
int fs_kdf_test_build(void);

/* An unwrapped data key and its database id. The key lives in
 * sodium_malloc'd memory (guarded, never swapped where mlock works) and is
 * wiped by fs_secret_free(). */
typedef struct fs_secret {
    unsigned char *key; /* FS_KEY_BYTES, sodium_malloc'd */
    unsigned char dbid[FS_DBID_BYTES];
} fs_secret;

/* Parsed, unauthenticated header of a key file: what fs_keyfile_parse() checks. */
typedef struct fs_keyfile_hdr {
    uint32_t version;
    uint32_t alg;
    unsigned long long opslimit;
    size_t memlimit;
    unsigned char salt[16];
    unsigned char dbid[FS_DBID_BYTES];
} fs_keyfile_hdr;

/* Allocates an empty secret (key zeroed). Returns FS_ENOMEM. */
int fs_secret_new(fs_secret **out);
/* Wipes and frees; accepts NULL. */
void fs_secret_free(fs_secret *s);

/* Checks a key file image: length, magic, version, algorithm, and KDF limits
 * within bounds (so a hostile file cannot make us allocate gigabytes).
 * Returns 0 or FS_EFORMAT. Never reads past len. */
int fs_keyfile_parse(const unsigned char *buf, size_t len, fs_keyfile_hdr *out);

/* Creates a new random data key and database id, wraps them with the
 * passphrase and writes the key file at path (which must not exist).
 * *out receives the unwrapped secret (caller frees). Errors: FS_EEXIST,
 * FS_EIO, FS_ENOMEM, FS_EINVAL (empty passphrase). */
int fs_keyfile_create(const char *path, const char *pass, size_t passlen,
                      const fs_kdf_limits *limits, fs_secret **out);

/* Reads the key file and unwraps the data key. Errors: FS_ENOTFOUND (no file),
 * FS_EFORMAT (not a key file), FS_EPASSPHRASE (wrong passphrase or modified
 * file), FS_EIO, FS_ENOMEM. */
/* The database id in path's (unauthenticated) header: which replica a key
 * file belongs to. FS_EFORMAT, FS_EIO, FS_ENOTFOUND. */
int fs_keyfile_dbid(const char *path, unsigned char dbid[FS_DBID_BYTES]);
int fs_keyfile_unlock(const char *path, const char *pass, size_t passlen, fs_secret **out);

/* Re-wraps the data key under a new passphrase (new salt, given limits or the
 * file's own when NULL; `passwd` gives fs_kdf_default()) and replaces the file atomically. The database is not
 * touched. Errors as fs_keyfile_unlock(), plus FS_EINVAL for an empty new
 * passphrase. */
int fs_keyfile_rewrap(const char *path, const char *oldpass, size_t oldlen, const char *newpass,
                      size_t newlen, const fs_kdf_limits *limits);

#endif
