/*
 * Fuzz target: the body of a PostgreSQL log entry (server/store/pgbody.c),
 * what a node reads back from the database and opens before it applies
 * the changeset to its cache. The first byte picks the mode; the rest is R.
 *
 *   0  R is a body as the database returns it. Nothing but a body sealed
 *      with the store's key opens: it must fail, FS_ETAMPERED or
 *      FS_EFORMAT (too short, too long).
 *   1  R is the plaintext (format byte | payload), sealed here with the
 *      fixed key as the layout in pgbody.h says, so the fuzzer reaches what
 *      follows the authentication: the format byte and the zstd frame. An
 *      open must give the payload (format 0) or exactly what zstd makes of
 *      the frame (format 1), never more than FS_PG_BODY_MAX; a failure is
 *      FS_EFORMAT or FS_ENOMEM, never FS_ETAMPERED.
 *   2  R is a changeset: sealed by fs__pg_body_seal it opens to R again,
 *      and not under another seq or store, nor with a byte changed.
 *
 * What opens is not given to SQLite's changeset reader here: Debian 12's
 * SQLite 3.40 spins in sqlite3changeset_next on some malformed changesets
 * (tests/fuzz/corpus/pglog/sqlite-changeset-spin, ncol 13,953, found by
 * this target: 25 s and still running). A node reads only changesets
 * that opened with the store's key, which only its nodes hold and only
 * sqlite3session_changeset writes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zstd.h>

#include "fieldsync/error.h"
#include "store/pgbody.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char key[FS_PG_KEY_BYTES] = "fieldsync fuzz log key 32 bytes";
static const uint8_t store_id[16] = "fuzz store id 16";
#define SEQ 7

static void opens_only_with_the_key(const uint8_t *r, size_t n)
{
    void *cs = NULL;
    int len = 0;
    int rc = fs__pg_body_open(key, store_id, SEQ, r, n, &cs, &len);
    if (rc == 0 || cs != NULL || (rc != FS_ETAMPERED && rc != FS_EFORMAT))
        abort();
}

static void after_the_seal(const uint8_t *r, size_t n)
{
    if (n == 0)
        return;
    const size_t NB = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    const size_t AB = crypto_aead_xchacha20poly1305_ietf_ABYTES;
    unsigned char *body = malloc(NB + n + AB);
    if (body == NULL)
        return;
    unsigned char ad[24];
    memcpy(ad, store_id, 16);
    for (int i = 0; i < 8; i++)
        ad[16 + i] = (unsigned char)((unsigned long long)SEQ >> (56 - 8 * i));
    memset(body, 0x5a, NB);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(body + NB, &clen, r, n, ad, sizeof ad, NULL, body,
                                               key);
    void *cs = NULL;
    int len = 0;
    int rc = fs__pg_body_open(key, store_id, SEQ, body, NB + (size_t)clen, &cs, &len);
    free(body);
    if (rc != 0) {
        if (cs != NULL || (rc != FS_EFORMAT && rc != FS_ENOMEM))
            abort();
        if (r[0] == 0)
            abort(); /* a stored changeset always opens */
        return;
    }
    if (len < 0 || (size_t)len > FS_PG_BODY_MAX)
        abort();
    if (r[0] == 0) {
        if ((size_t)len != n - 1 || memcmp(cs, r + 1, n - 1) != 0)
            abort();
    } else if (r[0] == 1) {
        unsigned long long want = ZSTD_getFrameContentSize(r + 1, n - 1);
        if (want != (unsigned long long)len)
            abort();
        void *again = malloc(want ? (size_t)want : 1);
        if (again != NULL) {
            size_t got = ZSTD_decompress(again, (size_t)want, r + 1, n - 1);
            if (ZSTD_isError(got) || got != want || memcmp(again, cs, got) != 0)
                abort();
            free(again);
        }
    } else {
        abort(); /* an unknown format opened */
    }
    free(cs);
}

static void round_trip(const uint8_t *r, size_t n)
{
    unsigned char *body = NULL;
    size_t blen = 0;
    if (fs__pg_body_seal(key, store_id, SEQ, r, n, &body, &blen) != 0)
        return; /* out of memory */
    void *cs = NULL;
    int len = 0;
    if (fs__pg_body_open(key, store_id, SEQ, body, blen, &cs, &len) != 0 || (size_t)len != n ||
        (n > 0 && memcmp(cs, r, n) != 0))
        abort();
    free(cs);
    cs = NULL;
    if (fs__pg_body_open(key, store_id, SEQ + 1, body, blen, &cs, &len) != FS_ETAMPERED ||
        cs != NULL)
        abort(); /* another entry's place */
    uint8_t other[16];
    memcpy(other, store_id, 16);
    other[0] ^= 1;
    if (fs__pg_body_open(key, other, SEQ, body, blen, &cs, &len) != FS_ETAMPERED || cs != NULL)
        abort(); /* another store's log */
    body[blen / 2] ^= 0x80;
    if (fs__pg_body_open(key, store_id, SEQ, body, blen, &cs, &len) != FS_ETAMPERED || cs != NULL)
        abort();
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || sodium_init() < 0)
        return 0;
    switch (data[0] % 3) {
    case 0:
        opens_only_with_the_key(data + 1, size - 1);
        break;
    case 1:
        after_the_seal(data + 1, size - 1);
        break;
    default:
        round_trip(data + 1, size - 1);
        break;
    }
    return 0;
}
