/*
 * The text of one-time enrollment codes (formats in fieldsync/enroll.h):
 * what the administrator hands over and what the device sends back. Pure
 * functions, used by the device that types a code and by the server store
 * that makes and redeems them (server/store/enroll.c).
 */
#include <string.h>

#include <sodium.h>

#include "fieldsync/enroll.h"
#include "fieldsync/error.h"

#define PREFIX     "FS1-"
#define PREFIX_LEN 4
#define PAYLOAD    (FS_SIGN_PK_BYTES + FS_ENROLL_SECRET_BYTES)

static int b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* Decodes exactly n bytes from exactly len base64url characters, refusing
 * any other character and non-canonical trailing bits. */
static int b64url_decode(const char *text, size_t len, uint8_t *out, size_t n)
{
    char again[sodium_base64_ENCODED_LEN(PAYLOAD, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    size_t got = 0;
    int rc = FS_EINVAL;
    if (len + 1 > sizeof again || strlen(text) != len)
        return FS_EINVAL;
    for (size_t i = 0; i < len; i++)
        if (!b64url_char(text[i]))
            return FS_EINVAL;
    if (sodium_base642bin(out, n, text, len, NULL, &got, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
        got == n) {
        sodium_bin2base64(again, sizeof again, out, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        if (strlen(again) == len && memcmp(again, text, len) == 0)
            rc = 0;
    }
    sodium_memzero(again, sizeof again);
    if (rc != 0)
        sodium_memzero(out, n);
    return rc;
}

int fs_enroll_code_parse(const char *code, uint8_t server_pk[FS_SIGN_PK_BYTES],
                         uint8_t secret[FS_ENROLL_SECRET_BYTES])
{
    uint8_t payload[PAYLOAD];
    memset(server_pk, 0, FS_SIGN_PK_BYTES);
    memset(secret, 0, FS_ENROLL_SECRET_BYTES);
    if (code == NULL || strncmp(code, PREFIX, PREFIX_LEN) != 0)
        return FS_EINVAL;
    int rc = b64url_decode(code + PREFIX_LEN, FS_ENROLL_CODE_CHARS - PREFIX_LEN, payload,
                           sizeof payload);
    if (rc == 0) {
        memcpy(server_pk, payload, FS_SIGN_PK_BYTES);
        memcpy(secret, payload + FS_SIGN_PK_BYTES, FS_ENROLL_SECRET_BYTES);
    }
    sodium_memzero(payload, sizeof payload);
    return rc;
}

void fs_enroll_request_code(const uint8_t secret[FS_ENROLL_SECRET_BYTES],
                            char out[FS_ENROLL_REQ_CHARS + 1])
{
    sodium_bin2base64(out, FS_ENROLL_REQ_CHARS + 1, secret, FS_ENROLL_SECRET_BYTES,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void fs_enroll_code_format(const uint8_t server_pk[FS_SIGN_PK_BYTES],
                           const uint8_t secret[FS_ENROLL_SECRET_BYTES],
                           char code[FS_ENROLL_CODE_CHARS + 1])
{
    uint8_t payload[PAYLOAD];
    memcpy(payload, server_pk, FS_SIGN_PK_BYTES);
    memcpy(payload + FS_SIGN_PK_BYTES, secret, FS_ENROLL_SECRET_BYTES);
    memcpy(code, PREFIX, PREFIX_LEN);
    sodium_bin2base64(code + PREFIX_LEN, FS_ENROLL_CODE_CHARS + 1 - PREFIX_LEN, payload,
                      sizeof payload, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(payload, sizeof payload);
}

int fs_enroll_request_secret(const char *text, size_t len,
                             uint8_t secret[FS_ENROLL_SECRET_BYTES])
{
    if (len != FS_ENROLL_REQ_CHARS)
        return FS_EINVAL;
    return b64url_decode(text, len, secret, FS_ENROLL_SECRET_BYTES);
}
