/*
 * Long-term Ed25519 identities: a device's (kept in its encrypted replica)
 * and the server's. A device's 16-byte id, the one in every version it
 * writes, is derived from its public key, so a server can tell whether a
 * change claiming to come from a device came from the key that signed in.
 */
#ifndef FIELDSYNC_IDENTITY_H
#define FIELDSYNC_IDENTITY_H

#include <stdint.h>

#define FS_SIGN_PK_BYTES 32
#define FS_SIGN_SK_BYTES 64
#define FS_SIGN_SEED_BYTES 32

/* An identity; the secret key is sodium_malloc'd. */
typedef struct fs_identity {
    uint8_t pk[FS_SIGN_PK_BYTES];
    unsigned char *sk; /* FS_SIGN_SK_BYTES, guarded memory */
} fs_identity;

int fs_identity_generate(fs_identity **out);
/* From a 32-byte seed (deterministic: the replica stores the seed). */
int fs_identity_from_seed(fs_identity **out, const uint8_t seed[FS_SIGN_SEED_BYTES]);
void fs_identity_free(fs_identity *id); /* wipes; accepts NULL */

/* The device id of a public key: BLAKE2b-128 of it, with its own label. */
void fs_device_id_from_pk(const uint8_t pk[FS_SIGN_PK_BYTES], uint8_t out[16]);

#endif
