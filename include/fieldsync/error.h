/*
 * fieldsync error codes.
 *
 * Every function of libfieldsync returns 0 on success or one of the negative
 * codes below. The table is the single source of both the enum and the text
 * returned by fs_strerror() (the libuv UV_ERRNO_MAP pattern). Handles keep a
 * one-line message with the details of their last error; the code is the
 * contract, the message is for people.
 */
#ifndef FIELDSYNC_ERROR_H
#define FIELDSYNC_ERROR_H

#include <stddef.h>

#define FS_ERRNO_MAP(X)                                                                  \
    X(EINVAL, -1, "invalid argument")                                                    \
    X(ENOMEM, -2, "out of memory")                                                       \
    X(EIO, -3, "input/output error")                                                     \
    X(EINTEGRITY, -4, "integrity check failed: data was modified or damaged")            \
    X(EPASSPHRASE, -5, "wrong passphrase (or the key file was modified)")                \
    X(ENOTFOUND, -6, "not found")                                                        \
    X(EEXIST, -7, "already exists")                                                      \
    X(EFORMAT, -8, "malformed file or input")                                            \
    X(ESCHEMA, -9, "unknown table or column")                                            \
    X(ETYPE, -10, "value has the wrong type or format")                                  \
    X(ECLOCK, -11, "remote clock is too far ahead of this machine's clock")              \
    X(EDB, -12, "database error")                                                        \
    X(EBUSY, -13, "the replica is in use by another process")                            \
    X(EFULL, -14, "disk full")                                                           \
    X(EPAGEFMT, -15, "page size or reserved-bytes change refused")                       \
    X(ETOOBIG, -16, "value or input exceeds a size limit")                               \
    X(EREQUIRED, -17, "a required field is missing or empty")                            \
    X(ESTATE, -18, "operation not allowed in the current state")                         \
    X(ETAMPERED, -19, "a synced table was written outside the change log")               \
    X(EMALFORMED, -20, "malformed message")                                              \
    X(EUNSUPPORTED, -21, "unknown message type or protocol version")                     \
    X(EAUTH, -22, "peer authentication failed")                                          \
    X(ECHANNEL, -23, "sealed frame rejected: modified, replayed, reordered or dropped")  \
    X(ECLOSED, -24, "the session is closed")                                             \
    X(EREVOKED, -25, "the device has been revoked")                                      \
    X(EAUDIT, -26, "audit log modified: an entry was changed, removed, reordered or added")

typedef enum fs_errno {
    FS_OK = 0,
#define FS__ERR_ENUM(name, code, text) FS_##name = code,
    FS_ERRNO_MAP(FS__ERR_ENUM)
#undef FS__ERR_ENUM
} fs_errno;

/* Returns a static, human-readable description of an error code; never NULL. */
const char *fs_strerror(int code);

/* Returns the symbolic name of an error code ("FS_EINVAL"); never NULL. */
const char *fs_errname(int code);

/* Writes the printf-style reason into why (whylen bytes, may be NULL) and
 * returns code: for functions that report through a caller's buffer. */
int fs_say(char *why, size_t whylen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
