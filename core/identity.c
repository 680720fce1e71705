/* Ed25519 identities and the device ids derived from them (identity.h). */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fieldsync/error.h"
#include "fieldsync/identity.h"

static int identity_new(fs_identity **out)
{
    *out = NULL;
    if (sodium_init() < 0)
        return FS_EINVAL;
    fs_identity *id = calloc(1, sizeof *id);
    if (id == NULL)
        return FS_ENOMEM;
    id->sk = sodium_malloc(FS_SIGN_SK_BYTES);
    if (id->sk == NULL) {
        free(id);
        return FS_ENOMEM;
    }
    *out = id;
    return 0;
}

int fs_identity_generate(fs_identity **out)
{
    int rc = identity_new(out);
    if (rc == 0)
        crypto_sign_keypair((*out)->pk, (*out)->sk);
    return rc;
}

int fs_identity_from_seed(fs_identity **out, const uint8_t seed[FS_SIGN_SEED_BYTES])
{
    int rc = identity_new(out);
    if (rc == 0)
        crypto_sign_seed_keypair((*out)->pk, (*out)->sk, seed);
    return rc;
}

void fs_identity_free(fs_identity *id)
{
    if (id == NULL)
        return;
    sodium_free(id->sk);
    sodium_memzero(id, sizeof *id);
    free(id);
}

void fs_device_id_from_pk(const uint8_t pk[FS_SIGN_PK_BYTES], uint8_t out[16])
{
    static const char label[] = "fieldsync/1 device id";
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, 16);
    crypto_generichash_update(&h, (const uint8_t *)label, sizeof label - 1);
    crypto_generichash_update(&h, pk, FS_SIGN_PK_BYTES);
    crypto_generichash_final(&h, out, 16);
}
