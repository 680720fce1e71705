/*
 * The body of a PostgreSQL log entry: sealing and opening (pgbody.h).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zstd.h>

#include "fieldsync/error.h"
#include "pgbody.h"

#define NB crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AB crypto_aead_xchacha20poly1305_ietf_ABYTES

_Static_assert(NB == FS_PG_TAG_BYTES, "a body's tag is its nonce");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == FS_PG_KEY_BYTES, "key size");

static void make_ad(const uint8_t store_id[16], long long seq, unsigned char ad[24])
{
    memcpy(ad, store_id, 16);
    for (int i = 0; i < 8; i++)
        ad[16 + i] = (unsigned char)((unsigned long long)seq >> (56 - 8 * i));
}

int fs__pg_body_seal(const unsigned char key[FS_PG_KEY_BYTES], const uint8_t store_id[16],
                     long long seq, const void *cs, size_t n, unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (n > FS_PG_BODY_MAX)
        return FS_ETOOBIG;
    size_t zcap = ZSTD_compressBound(n); /* >= n: the stored form fits too */
    unsigned char *plain = malloc(1 + zcap);
    if (plain == NULL)
        return FS_ENOMEM;
    size_t z = ZSTD_compress(plain + 1, zcap, cs, n, 3);
    size_t plen;
    if (!ZSTD_isError(z) && z < n) {
        plain[0] = 1;
        plen = 1 + z;
    } else {
        plain[0] = 0;
        if (n > 0)
            memcpy(plain + 1, cs, n);
        plen = 1 + n;
    }
    unsigned char *body = malloc(NB + plen + AB);
    if (body == NULL) {
        sodium_memzero(plain, plen);
        free(plain);
        return FS_ENOMEM;
    }
    unsigned char ad[24];
    make_ad(store_id, seq, ad);
    randombytes_buf(body, NB);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(body + NB, &clen, plain, plen, ad, sizeof ad, NULL,
                                               body, key);
    sodium_memzero(plain, plen);
    free(plain);
    *out = body;
    *outlen = NB + (size_t)clen;
    return 0;
}

/* The changeset in an opened body's (format | payload), got bytes. */
static int payload(const unsigned char *plain, size_t got, void **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (plain[0] == 0) {
        size_t len = got - 1;
        void *cs = malloc(len ? len : 1);
        if (cs == NULL)
            return FS_ENOMEM;
        memcpy(cs, plain + 1, len);
        *out = cs;
        *n = len;
        return 0;
    }
    if (plain[0] != 1)
        return FS_EFORMAT;
    /* the frame states its size, checked before anything is allocated */
    unsigned long long size = ZSTD_getFrameContentSize(plain + 1, got - 1);
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size == 0 ||
        size > FS_PG_BODY_MAX)
        return FS_EFORMAT;
    void *cs = malloc((size_t)size);
    if (cs == NULL)
        return FS_ENOMEM;
    size_t got_n = ZSTD_decompress(cs, (size_t)size, plain + 1, got - 1);
    if (ZSTD_isError(got_n) || got_n != size) {
        free(cs);
        return FS_EFORMAT;
    }
    *out = cs;
    *n = got_n;
    return 0;
}

int fs__pg_body_open(const unsigned char key[FS_PG_KEY_BYTES], const uint8_t store_id[16],
                     long long seq, const unsigned char *body, size_t blen, void **out, int *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (blen < NB + AB + 1 || blen > FS_PG_BODY_MAX)
        return FS_EFORMAT;
    size_t plen = blen - NB - AB;
    unsigned char *plain = malloc(plen);
    if (plain == NULL)
        return FS_ENOMEM;
    unsigned char ad[24];
    make_ad(store_id, seq, ad);
    unsigned long long got = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &got, NULL, body + NB, blen - NB, ad,
                                                   sizeof ad, body, key) != 0) {
        free(plain);
        return FS_ETAMPERED;
    }
    void *cs = NULL;
    size_t n = 0;
    int rc = payload(plain, (size_t)got, &cs, &n);
    sodium_memzero(plain, (size_t)got);
    free(plain);
    if (rc == 0 && n > INT32_MAX) { /* SQLite takes an int */
        free(cs);
        rc = FS_EFORMAT;
    }
    if (rc != 0)
        return rc;
    *out = cs;
    *outlen = (int)n;
    return 0;
}
