/*
 * Sealed exports (include/fieldsync/exportseal.h has the format): a
 * secretstream of chunks whose key is sealed to the company's export key.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "fieldsync/error.h"
#include "fieldsync/exportseal.h"

#define KEYBYTES   crypto_secretstream_xchacha20poly1305_KEYBYTES
#define HDRBYTES   crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define ABYTES     crypto_secretstream_xchacha20poly1305_ABYTES
#define SEALED_KEY (crypto_box_SEALBYTES + KEYBYTES)

struct fs_export_writer {
    int fd;
    int failed;
    size_t used;
    crypto_secretstream_xchacha20poly1305_state *st; /* sodium_malloc'd */
    unsigned char *plain;                            /* FS_EXPORT_CHUNK, sodium_malloc'd */
    unsigned char cipher[4 + FS_EXPORT_CHUNK + ABYTES];
};

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return FS_EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, unsigned char *p, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        ssize_t r = read(fd, p + *got, n - *got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return FS_EIO;
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    return 0;
}

int fs_export_writer_open(fs_export_writer **out, int fd, const uint8_t pk[FS_EXPORT_PK_BYTES])
{
    *out = NULL;
    fs_export_writer *w = calloc(1, sizeof *w);
    if (w == NULL)
        return FS_ENOMEM;
    w->fd = fd;
    w->st = sodium_malloc(sizeof *w->st);
    w->plain = sodium_malloc(FS_EXPORT_CHUNK);
    unsigned char *key = sodium_malloc(KEYBYTES);
    if (w->st == NULL || w->plain == NULL || key == NULL) {
        sodium_free(key);
        (void)fs_export_writer_close(w, 1);
        return FS_ENOMEM;
    }
    unsigned char head[8 + SEALED_KEY + HDRBYTES];
    memcpy(head, FS_EXPORT_MAGIC, 8);
    crypto_secretstream_xchacha20poly1305_keygen(key);
    int rc = crypto_box_seal(head + 8, key, KEYBYTES, pk) == 0 ? 0 : FS_EINVAL;
    if (rc == 0)
        rc = crypto_secretstream_xchacha20poly1305_init_push(w->st, head + 8 + SEALED_KEY, key) == 0
                 ? 0
                 : FS_EINVAL;
    sodium_free(key); /* wiped */
    if (rc == 0)
        rc = write_all(fd, head, sizeof head);
    if (rc != 0) {
        (void)fs_export_writer_close(w, 1);
        return rc;
    }
    *out = w;
    return 0;
}

static int push_chunk(fs_export_writer *w, unsigned char tag)
{
    unsigned long long clen = 0;
    if (crypto_secretstream_xchacha20poly1305_push(w->st, w->cipher + 4, &clen, w->plain, w->used,
                                                   NULL, 0, tag) != 0)
        return FS_EIO;
    sodium_memzero(w->plain, w->used);
    w->used = 0;
    w->cipher[0] = (unsigned char)(clen >> 24);
    w->cipher[1] = (unsigned char)(clen >> 16);
    w->cipher[2] = (unsigned char)(clen >> 8);
    w->cipher[3] = (unsigned char)clen;
    return write_all(w->fd, w->cipher, 4 + (size_t)clen);
}

int fs_export_writer_write(fs_export_writer *w, const void *p, size_t n)
{
    const unsigned char *s = p;
    if (w->failed)
        return FS_EIO;
    while (n > 0) {
        size_t take = FS_EXPORT_CHUNK - w->used;
        if (take > n)
            take = n;
        memcpy(w->plain + w->used, s, take);
        w->used += take;
        s += take;
        n -= take;
        if (w->used == FS_EXPORT_CHUNK && push_chunk(w, 0) != 0) {
            w->failed = 1;
            return FS_EIO;
        }
    }
    return 0;
}

int fs_export_writer_close(fs_export_writer *w, int abort)
{
    if (w == NULL)
        return 0;
    int rc = w->failed ? FS_EIO : 0;
    if (!abort && rc == 0)
        rc = push_chunk(w, crypto_secretstream_xchacha20poly1305_TAG_FINAL);
    sodium_free(w->st);
    sodium_free(w->plain);
    sodium_memzero(w->cipher, sizeof w->cipher);
    free(w);
    return rc;
}

int fs_export_open_stream(int in_fd, int out_fd, const uint8_t pk[FS_EXPORT_PK_BYTES],
                          const uint8_t sk[FS_EXPORT_SK_BYTES])
{
    fs_export_keypair *kp = sodium_malloc(sizeof *kp);
    if (kp == NULL)
        return FS_ENOMEM;
    memcpy(kp->pk, pk, sizeof kp->pk);
    memcpy(kp->sk, sk, sizeof kp->sk);
    int rc = fs_export_open_stream_keys(in_fd, out_fd, kp, 1, NULL);
    sodium_free(kp); /* wiped */
    return rc == FS_EAUTH ? FS_EFORMAT : rc;
}

int fs_export_open_stream_keys(int in_fd, int out_fd, const fs_export_keypair *keys, size_t n,
                               size_t *which)
{
    unsigned char head[8 + SEALED_KEY + HDRBYTES];
    size_t got = 0;
    int rc = read_all(in_fd, head, sizeof head, &got);
    if (rc != 0)
        return rc;
    if (got != sizeof head || memcmp(head, FS_EXPORT_MAGIC, 8) != 0)
        return FS_EFORMAT;
    crypto_secretstream_xchacha20poly1305_state *st = sodium_malloc(sizeof *st);
    unsigned char *key = sodium_malloc(KEYBYTES);
    unsigned char *plain = sodium_malloc(FS_EXPORT_CHUNK);
    unsigned char *cipher = malloc(FS_EXPORT_CHUNK + ABYTES);
    if (st == NULL || key == NULL || plain == NULL || cipher == NULL) {
        rc = FS_ENOMEM;
        goto done;
    }
    /* the file names no recipient: each kept key is tried on the stream
     * key, whose seal authenticates (a wrong key never opens it) */
    size_t k = 0;
    while (k < n && crypto_box_seal_open(key, head + 8, SEALED_KEY, keys[k].pk, keys[k].sk) != 0)
        k++;
    if (k == n) {
        rc = FS_EAUTH;
        goto done;
    }
    if (which != NULL)
        *which = k;
    if (crypto_secretstream_xchacha20poly1305_init_pull(st, head + 8 + SEALED_KEY, key) != 0) {
        rc = FS_EFORMAT;
        goto done;
    }
    for (;;) {
        unsigned char lenb[4];
        rc = read_all(in_fd, lenb, 4, &got);
        if (rc != 0)
            break;
        if (got != 4) { /* cut before the FINAL chunk */
            rc = FS_EFORMAT;
            break;
        }
        size_t clen = (size_t)lenb[0] << 24 | (size_t)lenb[1] << 16 | (size_t)lenb[2] << 8 | lenb[3];
        if (clen < ABYTES || clen > FS_EXPORT_CHUNK + ABYTES) { /* checked before reading */
            rc = FS_EFORMAT;
            break;
        }
        rc = read_all(in_fd, cipher, clen, &got);
        if (rc == 0 && got != clen)
            rc = FS_EFORMAT;
        unsigned long long plen = 0;
        unsigned char tag = 0;
        if (rc == 0 && crypto_secretstream_xchacha20poly1305_pull(st, plain, &plen, &tag, cipher,
                                                                  clen, NULL, 0) != 0)
            rc = FS_EFORMAT;
        if (rc == 0)
            rc = write_all(out_fd, plain, (size_t)plen);
        sodium_memzero(plain, (size_t)plen);
        if (rc != 0)
            break;
        if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
            unsigned char extra;
            rc = read_all(in_fd, &extra, 1, &got);
            if (rc == 0 && got != 0)
                rc = FS_EFORMAT; /* bytes after the end */
            break;
        }
    }
done:
    sodium_free(st);
    sodium_free(key);
    sodium_free(plain);
    free(cipher);
    return rc;
}
