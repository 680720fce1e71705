/*
 * Key file: a random data key wrapped by an Argon2id-derived key (the format
 * is in fieldsync/keyfile.h). The wrapping key and the unwrapped data key only
 * ever live in sodium_malloc'd memory and are wiped after use.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "fieldsync/error.h"
#include "fieldsync/keyfile.h"

static const unsigned char magic[8] = {'F', 'S', 'K', 'E', 'Y', 0, 0, 1};

#define OFF_VERSION 8
#define OFF_ALG 12
#define OFF_OPS 16
#define OFF_MEM 24
#define OFF_SALT 32
#define OFF_DBID 48
#define OFF_NONCE 64
#define OFF_CIPHER 88
#define OFF_TAG 120
#define AD_LEN 64

/* Bounds on what a key file may ask of us: a hostile file must not make us
 * spend gigabytes or hours. */
#define MAX_OPSLIMIT 16ULL
#define MAX_MEMLIMIT (1024ULL * 1024 * 1024)

const fs_kdf_limits fs_kdf_interactive = {crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                          crypto_pwhash_MEMLIMIT_INTERACTIVE};
const fs_kdf_limits fs_kdf_moderate = {crypto_pwhash_OPSLIMIT_MODERATE,
                                       crypto_pwhash_MEMLIMIT_MODERATE};
const fs_kdf_limits fs_kdf_minimum = {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};

int fs_kdf_test_build(void)
{
#ifdef FS_TEST_KDF
    return 1;
#else
    return 0;
#endif
}

const fs_kdf_limits *fs_kdf_default(void)
{
#ifdef FS_TEST_KDF
    /* A test build only (cmake -DFS_TEST_KDF=ON, which scripts/test's
     * builds set and packaging/CMakeLists.txt refuses beside FS_DEB): the
     * CLI tests create hundreds of key files. */
    const char *v = getenv(FS_TEST_KDF_ENV);
    if (v != NULL && strcmp(v, "minimum") == 0)
        return &fs_kdf_minimum;
    if (v != NULL && strcmp(v, "interactive") == 0)
        return &fs_kdf_interactive;
#endif
    return &fs_kdf_moderate;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

int fs_secret_new(fs_secret **out)
{
    *out = NULL;
    fs_secret *s = calloc(1, sizeof *s);
    if (s == NULL)
        return FS_ENOMEM;
    s->key = sodium_malloc(FS_KEY_BYTES);
    if (s->key == NULL) {
        free(s);
        return FS_ENOMEM;
    }
    sodium_memzero(s->key, FS_KEY_BYTES);
    *out = s;
    return 0;
}

void fs_secret_free(fs_secret *s)
{
    if (s == NULL)
        return;
    sodium_free(s->key); /* zeroes before freeing */
    sodium_memzero(s, sizeof *s);
    free(s);
}

int fs_keyfile_parse(const unsigned char *buf, size_t len, fs_keyfile_hdr *out)
{
    memset(out, 0, sizeof *out);
    if (len != FS_KEYFILE_BYTES || memcmp(buf, magic, sizeof magic) != 0)
        return FS_EFORMAT;
    uint32_t version = get32(buf + OFF_VERSION);
    uint32_t alg = get32(buf + OFF_ALG);
    uint64_t ops = get64(buf + OFF_OPS);
    uint64_t mem = get64(buf + OFF_MEM);
    if (version != 1 || alg != (uint32_t)crypto_pwhash_ALG_ARGON2ID13)
        return FS_EFORMAT;
    if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > MAX_OPSLIMIT)
        return FS_EFORMAT;
    if (mem < crypto_pwhash_MEMLIMIT_MIN || mem > MAX_MEMLIMIT)
        return FS_EFORMAT;
    out->version = version;
    out->alg = alg;
    out->opslimit = ops;
    out->memlimit = (size_t)mem;
    memcpy(out->salt, buf + OFF_SALT, sizeof out->salt);
    memcpy(out->dbid, buf + OFF_DBID, sizeof out->dbid);
    return 0;
}

/* Derives the wrapping key into guarded memory. Returns NULL on failure
 * (out of memory: Argon2id allocates memlimit bytes). */
static unsigned char *derive(const char *pass, size_t passlen, const unsigned char salt[16],
                             unsigned long long ops, size_t mem)
{
    unsigned char *k = sodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    if (k == NULL)
        return NULL;
    if (crypto_pwhash(k, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, pass, passlen, salt, ops,
                      mem, crypto_pwhash_ALG_ARGON2ID13) != 0) {
        sodium_free(k);
        return NULL;
    }
    return k;
}

/* Builds a key file image wrapping s->key under pass. */
static int seal_image(unsigned char img[FS_KEYFILE_BYTES], const fs_secret *s, const char *pass,
                      size_t passlen, const fs_kdf_limits *lim)
{
    memcpy(img, magic, sizeof magic);
    put32(img + OFF_VERSION, 1);
    put32(img + OFF_ALG, (uint32_t)crypto_pwhash_ALG_ARGON2ID13);
    put64(img + OFF_OPS, lim->opslimit);
    put64(img + OFF_MEM, lim->memlimit);
    randombytes_buf(img + OFF_SALT, 16);
    memcpy(img + OFF_DBID, s->dbid, FS_DBID_BYTES);
    randombytes_buf(img + OFF_NONCE, 24);
    unsigned char *wk = derive(pass, passlen, img + OFF_SALT, lim->opslimit, lim->memlimit);
    if (wk == NULL)
        return FS_ENOMEM;
    crypto_aead_xchacha20poly1305_ietf_encrypt_detached(img + OFF_CIPHER, img + OFF_TAG, NULL,
                                                        s->key, FS_KEY_BYTES, img, AD_LEN, NULL,
                                                        img + OFF_NONCE, wk);
    sodium_free(wk);
    return 0;
}

/* Writes the image to path atomically: a temporary file in the same
 * directory, fsync, rename, fsync of the directory. With exclusive set the
 * final path must not exist yet. */
static int write_image(const char *path, const unsigned char img[FS_KEYFILE_BYTES], int exclusive)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.new", path);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return FS_EINVAL;
    if (exclusive && access(path, F_OK) == 0)
        return FS_EEXIST;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return FS_EIO;
    ssize_t w = write(fd, img, FS_KEYFILE_BYTES);
    int rc = (w == FS_KEYFILE_BYTES && fsync(fd) == 0) ? 0 : (errno == ENOSPC ? FS_EFULL : FS_EIO);
    close(fd);
    if (rc == 0 && exclusive && link(tmp, path) != 0)
        rc = errno == EEXIST ? FS_EEXIST : FS_EIO;
    if (rc == 0 && !exclusive && rename(tmp, path) != 0)
        rc = FS_EIO;
    unlink(tmp); /* after link(), or on failure */
    if (rc == 0) {
        /* Make the new directory entry durable. */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash != NULL) {
            *(slash == dir ? slash + 1 : slash) = '\0';
            int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
        }
    }
    return rc;
}

int fs_keyfile_create(const char *path, const char *pass, size_t passlen,
                      const fs_kdf_limits *limits, fs_secret **out)
{
    *out = NULL;
    if (pass == NULL || passlen == 0)
        return FS_EINVAL;
    if (limits == NULL)
        limits = fs_kdf_default();
    fs_secret *s = NULL;
    int rc = fs_secret_new(&s);
    if (rc != 0)
        return rc;
    crypto_aead_xchacha20poly1305_ietf_keygen(s->key);
    randombytes_buf(s->dbid, sizeof s->dbid);
    unsigned char img[FS_KEYFILE_BYTES];
    rc = seal_image(img, s, pass, passlen, limits);
    if (rc == 0)
        rc = write_image(path, img, 1);
    if (rc != 0) {
        fs_secret_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int read_image(const char *path, unsigned char img[FS_KEYFILE_BYTES])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? FS_ENOTFOUND : FS_EIO;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = FS_EIO;
    else if (st.st_size != FS_KEYFILE_BYTES)
        rc = FS_EFORMAT;
    else if (read(fd, img, FS_KEYFILE_BYTES) != FS_KEYFILE_BYTES)
        rc = FS_EIO;
    close(fd);
    return rc;
}

int fs_keyfile_dbid(const char *path, unsigned char dbid[FS_DBID_BYTES])
{
    unsigned char img[FS_KEYFILE_BYTES];
    fs_keyfile_hdr h;
    int rc = read_image(path, img);
    if (rc == 0)
        rc = fs_keyfile_parse(img, sizeof img, &h);
    if (rc == 0)
        memcpy(dbid, h.dbid, FS_DBID_BYTES);
    return rc;
}

int fs_keyfile_unlock(const char *path, const char *pass, size_t passlen, fs_secret **out)
{
    *out = NULL;
    unsigned char img[FS_KEYFILE_BYTES];
    fs_keyfile_hdr h;
    int rc = read_image(path, img);
    if (rc != 0)
        return rc;
    rc = fs_keyfile_parse(img, sizeof img, &h);
    if (rc != 0)
        return rc;
    fs_secret *s = NULL;
    rc = fs_secret_new(&s);
    if (rc != 0)
        return rc;
    unsigned char *wk = derive(pass, passlen, h.salt, h.opslimit, h.memlimit);
    if (wk == NULL) {
        fs_secret_free(s);
        return FS_ENOMEM;
    }
    if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(s->key, NULL, img + OFF_CIPHER,
                                                            FS_KEY_BYTES, img + OFF_TAG, img,
                                                            AD_LEN, img + OFF_NONCE, wk) != 0) {
        sodium_free(wk);
        fs_secret_free(s);
        return FS_EPASSPHRASE;
    }
    sodium_free(wk);
    memcpy(s->dbid, h.dbid, sizeof s->dbid);
    *out = s;
    return 0;
}

int fs_keyfile_rewrap(const char *path, const char *oldpass, size_t oldlen, const char *newpass,
                      size_t newlen, const fs_kdf_limits *limits)
{
    if (newpass == NULL || newlen == 0)
        return FS_EINVAL;
    unsigned char img[FS_KEYFILE_BYTES];
    fs_keyfile_hdr h;
    int rc = read_image(path, img);
    if (rc == 0)
        rc = fs_keyfile_parse(img, sizeof img, &h);
    if (rc != 0)
        return rc;
    fs_secret *s = NULL;
    rc = fs_keyfile_unlock(path, oldpass, oldlen, &s);
    if (rc != 0)
        return rc;
    fs_kdf_limits own = {h.opslimit, h.memlimit};
    rc = seal_image(img, s, newpass, newlen, limits ? limits : &own);
    fs_secret_free(s);
    if (rc == 0)
        rc = write_image(path, img, 0);
    return rc;
}
