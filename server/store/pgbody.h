/*
 * The body of a PostgreSQL log entry (store_pg.c): a SQLite changeset,
 * sealed by the serve node before it leaves it. Kept apart from the
 * PostgreSQL plumbing so that the fuzz target (tests/fuzz/fuzz_pglog.c)
 * reaches the decoder without a database.
 *
 *   body  = nonce (24) | XChaCha20-Poly1305 of (format | payload)
 *   format 0: payload is the changeset; 1: the changeset, zstd-compressed
 *             (a frame that states its content size)
 *   associated data = store id (16) | seq (u64 big-endian)
 *
 * A body or a changeset above FS_PG_BODY_MAX is refused. The first
 * FS_PG_TAG_BYTES of a body (its random nonce) are its tag.
 */
#ifndef FIELDSYNC_STORE_PGBODY_H
#define FIELDSYNC_STORE_PGBODY_H

#include <stddef.h>
#include <stdint.h>

#define FS_PG_KEY_BYTES 32
#define FS_PG_TAG_BYTES 24
#define FS_PG_BODY_MAX  (256u << 20)

/* The sealed body of entry seq for changeset cs (n bytes): *out
 * malloc'd. 0, FS_ENOMEM, FS_ETOOBIG (n above FS_PG_BODY_MAX). */
int fs__pg_body_seal(const unsigned char key[FS_PG_KEY_BYTES], const uint8_t store_id[16],
                     long long seq, const void *cs, size_t n, unsigned char **out, size_t *outlen);

/* The changeset of entry seq from its body (blen bytes): *out malloc'd,
 * *outlen its length. 0; FS_ETAMPERED when it does not open with key for
 * that store and seq; FS_EFORMAT when it is too short or too long, or
 * opens to an unknown format or a damaged or oversized compressed frame;
 * FS_ENOMEM. */
int fs__pg_body_open(const unsigned char key[FS_PG_KEY_BYTES], const uint8_t store_id[16],
                     long long seq, const unsigned char *body, size_t blen, void **out,
                     int *outlen);

#endif
