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
 * The server stores and redeems codes: server/store/enroll.c.
 */
#ifndef FIELDSYNC_ENROLL_H
#define FIELDSYNC_ENROLL_H

#include <stddef.h>
#include <stdint.h>

#include "fieldsync/identity.h"

#define FS_ENROLL_SECRET_BYTES 16
#define FS_ENROLL_CODE_CHARS   68 /* "FS1-" and 64 base64url characters */
#define FS_ENROLL_REQ_CHARS    22 /* base64url of the secret */

/* Splits a code into the server key and the secret. Strict: the prefix, the
 * exact length, the alphabet and a canonical encoding. FS_EINVAL otherwise
 * (the outputs are then zeroed). */
int fs_enroll_code_parse(const char *code, uint8_t server_pk[FS_SIGN_PK_BYTES],
                         uint8_t secret[FS_ENROLL_SECRET_BYTES]);

/* What a device puts in fs_enroll_request.code: the secret in base64url,
 * FS_ENROLL_REQ_CHARS characters and a NUL. */
void fs_enroll_request_code(const uint8_t secret[FS_ENROLL_SECRET_BYTES],
                            char out[FS_ENROLL_REQ_CHARS + 1]);

/* Writes the code for server_pk and secret, NUL-terminated. */
void fs_enroll_code_format(const uint8_t server_pk[FS_SIGN_PK_BYTES],
                           const uint8_t secret[FS_ENROLL_SECRET_BYTES],
                           char code[FS_ENROLL_CODE_CHARS + 1]);

/* The secret back from a request's text (len bytes): FS_EINVAL unless it is
 * exactly FS_ENROLL_REQ_CHARS canonical base64url characters. */
int fs_enroll_request_secret(const char *text, size_t len, uint8_t secret[FS_ENROLL_SECRET_BYTES]);

#endif
