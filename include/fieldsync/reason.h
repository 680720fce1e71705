/*
 * Why a session ended or a change was refused: the reason codes that travel
 * in ERROR, WIPE and REJECT (fieldsync/msg.h), that the server store gives
 * for a refused change and that a replica keeps with a refusal. Dependency
 * free, so every layer can name a reason without the wire codec.
 *
 * New codes are only appended. A client of any published version decodes
 * an unknown code (the reader takes any u32), keeps it with its refusal
 * and shows "unknown reason" with the text the server sends along (the
 * reason's words), so a new code needs no new protocol version.
 */
#ifndef FIELDSYNC_REASON_H
#define FIELDSYNC_REASON_H

#include <stdint.h>

#define FS_REASON_MAP(X)                                                                 \
    X(MALFORMED, 1, "malformed message")                                                 \
    X(UNKNOWN_TYPE, 2, "unknown message type")                                           \
    X(VERSION, 3, "no common protocol version")                                          \
    X(AUTH, 4, "authentication failed")                                                  \
    X(UNKNOWN_DEVICE, 5, "unknown device")                                               \
    X(REVOKED, 6, "device revoked")                                                      \
    X(FRAME, 7, "sealed frame rejected")                                                 \
    X(TOO_BIG, 8, "over a size limit")                                                   \
    X(STATE, 9, "message not allowed now")                                               \
    X(CLOCK, 10, "clock too far ahead")                                                  \
    X(SCOPE, 11, "outside the writer's scope")                                           \
    X(INVALID, 12, "invalid change")                                                     \
    X(SERVER_KEY, 13, "server key does not match the pinned key")                        \
    X(ENROLL, 14, "enrollment refused")                                                  \
    X(TRUNCATED, 15, "session ended without its final frame")                            \
    X(INTERNAL, 16, "internal error")                                                    \
    X(FLOOD, 17, "too many messages")                                                    \
    X(FULL, 18, "the server's disk is full; try again later")                           \
    X(PARENT, 19, "the record it belongs to was refused or never reached the server")   \
    X(FORK_REFUSED, 20,                                                                  \
      "this replica was restored or copied and needs a new device identity, but the "   \
      "server refused one: the device is revoked")                                      \
    X(LOST, 21,                                                                          \
      "the server does not hold this record (refused when it was made, or lost when the " \
      "server was restored from an older backup)")

typedef enum fs_reason {
    FS_REASON_NONE = 0,
#define FS__REASON_ENUM(name, code, text) FS_REASON_##name = code,
    FS_REASON_MAP(FS__REASON_ENUM)
#undef FS__REASON_ENUM
    FS_REASON_LAST = FS_REASON_LOST /* the highest code this build knows */
} fs_reason;

const char *fs_reason_text(uint32_t reason);

#endif
