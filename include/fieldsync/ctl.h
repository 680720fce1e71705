/*
 * The server's control socket: how fieldsync-server's admin commands (user
 * add, enroll-code, device list|revoke, audit verify|show) reach a running
 * `serve`, which holds the store exclusively. The socket is DATA/control.sock
 * (0600); serve answers only its own user (SO_PEERCRED) and only with the
 * store's passphrase. One request per connection.
 *
 * FORMAT (integers little-endian)
 *   request  u32 N (1..FS_CTL_MAX_REQUEST), then N bytes: NUL-terminated
 *            strings, the passphrase first, then optionally the language
 *            field (FS_CTL_LANG_FIELD followed by "zh_CN", "zh_TW" or "en":
 *            the operator's, in which serve runs the command; none is
 *            English, as before the field), then the command's arguments
 *            (1..FS_CTL_MAX_ARGS), as on the command line after the program
 *            name. The field's first byte (0x01) is a control byte no
 *            argument may hold, so a serve older than the field refuses such
 *            a request as malformed rather than running something else.
 *   reply    u32 N (8..FS_CTL_MAX_REPLY), then N bytes: i32 exit status,
 *            u32 L1, L1 bytes of standard output, u32 L2, L2 bytes of
 *            standard error, and nothing after.
 */
#ifndef FIELDSYNC_CTL_H
#define FIELDSYNC_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "fieldsync/buf.h"

#define FS_CTL_MAX_REQUEST (64u * 1024u)
#define FS_CTL_MAX_ARGS    64
#define FS_CTL_MAX_REPLY   (64u * 1024u * 1024u)

#define FS_CTL_LANG_FIELD "\001lang="

/* Appends the whole request (length included) to out; lang NULL sends no
 * language field (exactly the bytes of a request before the field).
 * FS_ETOOBIG when it would exceed the limits, FS_EINVAL for no arguments or
 * a lang that is not "zh_CN", "zh_TW" or "en", FS_ENOMEM. */
int fs_ctl_request_encode(fs_buf *out, const char *lang, const char *pass, size_t passlen, int argc,
                          char *const *argv);

/* Splits a request body (after its length) in place: *lang points to the
 * language field's value ("zh_CN", "zh_TW" or "en", into body) or is NULL
 * when the request has none; *pass points to the
 * passphrase (*passlen bytes), argv[0..*argc) to the arguments, all into
 * body. argv must hold FS_CTL_MAX_ARGS + 1 entries; argv[*argc] is NULL.
 * FS_EMALFORMED (not NUL-terminated, an empty passphrase, no arguments, an
 * argument with a control byte, a language field with another value) or
 * FS_ETOOBIG (too long, too many). */
int fs_ctl_request_parse(char *body, size_t n, const char **lang, const char **pass,
                         size_t *passlen, int *argc, char **argv);

/* Appends a whole reply (length included). FS_ETOOBIG, FS_ENOMEM. */
int fs_ctl_reply_encode(fs_buf *out, int status, const char *outtext, size_t outlen,
                        const char *errtext, size_t errlen);

/* Reads a reply body (after its length): pointers into body. FS_EMALFORMED
 * when the lengths do not add up to n exactly. */
int fs_ctl_reply_parse(const uint8_t *body, size_t n, int *status, const uint8_t **outtext,
                       size_t *outlen, const uint8_t **errtext, size_t *errlen);

/* Reads the u32 length that leads a request or reply. */
uint32_t fs_ctl_len(const uint8_t p[4]);

#endif
