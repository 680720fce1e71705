/*
 * One-time enrollment codes: how an administrator lets a new device join.
 *
 * `fieldsync-server enroll-code --user NAME` prints a code; the user types
 * it into the device, which learns from it the server's key (to pin it) and
 * a 16-byte secret it proves it holds by sealing it to that key in an ENROLL
 * request (fieldsync/channel.h). The server redeems the secret once, before
 * it expires, and enrolls the device's key for the code's user.
 *
 * THE CODE (what the administrator hands over)
 *   "FS1-" | base64url, no padding (server identity pk (32) | secret (16))
 *   = 4 + 64 characters. Letters A-Z a-z 0-9 '-' '_' only.
 * THE REQUEST (what the device puts in fs_enroll_request.code)
 *   base64url, no padding, of the 16-byte secret alone: 22 characters
 *   (fs_enroll_request_code). The server key does not travel: the request
 *   is sealed to it.
 *
 * FORMAT (a table in the store's encrypted database, created when missing)
 *   enroll_codes  hash BLOB PRIMARY KEY (32: BLAKE2b-256 of "fieldsync/1
 *                 enroll code" | secret), user TEXT, expires_ms INTEGER
 *                 (Unix time, ms), used INTEGER (0, or 1 once redeemed).
 *   The secret itself is never stored. Creating a code forgets the codes
 *   that expired more than 30 days before.
 */
#ifndef FIELDSYNC_ENROLL_H
#define FIELDSYNC_ENROLL_H

#include <stddef.h>
#include <stdint.h>

#include "fieldsync/channel.h"
#include "fieldsync/identity.h"
#include "fieldsync/store.h"

#define FS_ENROLL_SECRET_BYTES 16
#define FS_ENROLL_CODE_CHARS   68 /* "FS1-" and 64 base64url characters */
#define FS_ENROLL_REQ_CHARS    22 /* base64url of the secret */

/* Creates a code for an existing user, valid for ttl_ms from now (the
 * store's clock), and writes it, NUL-terminated, to code (codelen at least
 * FS_ENROLL_CODE_CHARS + 1). Errors: FS_EINVAL (ttl 0, codelen too small),
 * FS_ENOTFOUND (no such user), FS_EDB. On error code is "". */
int fs_enroll_code_create(fs_store *s, const char *user, uint64_t ttl_ms,
                          const uint8_t server_pk[FS_SIGN_PK_BYTES], char *code, size_t codelen);

/* Splits a code into the server key and the secret. Strict: the prefix, the
 * exact length, the alphabet and a canonical encoding. FS_EINVAL otherwise
 * (the outputs are then zeroed). */
int fs_enroll_code_parse(const char *code, uint8_t server_pk[FS_SIGN_PK_BYTES],
                         uint8_t secret[FS_ENROLL_SECRET_BYTES]);

/* What a device puts in fs_enroll_request.code: the secret in base64url,
 * FS_ENROLL_REQ_CHARS characters and a NUL. */
void fs_enroll_request_code(const uint8_t secret[FS_ENROLL_SECRET_BYTES],
                            char out[FS_ENROLL_REQ_CHARS + 1]);

/* Redeems the secret in req->code at time now_ms and enrolls req->device_pk
 * for the code's user (fs_store_device_add, which audits "enroll"). Hashes
 * are compared in constant time. Refusals are audited ("enroll_refused",
 * with the device's fingerprint and the reason) and return:
 *   FS_EAUTH    unknown code (or malformed request code)
 *   FS_ECLOCK   expired
 *   FS_ESTATE   already used
 * and fs_store_device_add's FS_EEXIST / FS_ENOTFOUND, after which the code
 * may be used again. Spending the code and adding the device happen in one
 * transaction: both or neither. Other errors: FS_EDB. */
int fs_enroll_code_redeem(fs_store *s, const fs_enroll_request *req, uint64_t now_ms);

/* fs_enroll_fn for fs_channel_config.enroll_device: ctx is the fs_store;
 * redeems at the store's clock. */
int fs_enroll_device(void *ctx, const fs_enroll_request *req);

/* One enrolled device, as fs_store_devices() delivers it; strings valid
 * during the callback. */
typedef struct fs_store_device {
    uint8_t pk[FS_SIGN_PK_BYTES];
    char fingerprint[33]; /* hex of the device id (fs_device_id_from_pk) */
    const char *user;
    const char *name; /* as the device sent it: not sanitised */
    int revoked;
} fs_store_device;

/* Calls cb for every enrolled device, by user then fingerprint; a non-zero
 * return stops the walk and is returned. Errors: FS_EDB. */
int fs_store_devices(fs_store *s, int (*cb)(const fs_store_device *d, void *ctx), void *ctx);

#endif
