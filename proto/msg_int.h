/*
 * Internals of the message codec, shared by exactly its two files: the
 * envelope (msg.c: message types, their fields, framing of a message) and
 * the batch codec (batch.c: the change batches inside PUSH and CHANGES,
 * plain or as compressed frames). Nothing else includes this header; the
 * codec's interface is fieldsync/msg.h.
 */
#ifndef FIELDSYNC_PROTO_MSG_INT_H
#define FIELDSYNC_PROTO_MSG_INT_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "fieldsync/msg.h"
#include "mpread.h"

/* Evaluates a msgpack-c pack call and returns FS_ENOMEM from the enclosing
 * function if it fails (it fails only when the fs_buf cannot grow). */
#define PK(call)                                                                         \
    do {                                                                                 \
        if ((call) != 0)                                                                 \
            return FS_ENOMEM;                                                            \
    } while (0)

/* What a decoded message owns, hung on fs_msg.arena_; fs_msg_free wipes the
 * bytes that may hold customer text and frees it all. */
typedef struct fs__msg_owned {
    uint8_t *copy; /* the message bytes: text and blobs point here */
    size_t copy_len;
    uint8_t *plain; /* a compressed batch, decompressed: its text and blobs point here */
    size_t plain_len;
    void *changes; /* fs_change[] or item arrays */
} fs__msg_owned;

/* ---- msg.c ---- */

/* msgpack-c's write callback: appends to the fs_buf that is the packer's
 * data. 0, or -1 when the buffer cannot grow. */
int fs__buf_write(void *data, const char *p, size_t n);

/* Packs n bytes as a msgpack bin (fs__pack_bin) or str (fs__pack_str).
 * FS_ENOMEM. */
int fs__pack_bin(msgpack_packer *pk, const void *p, size_t n);
int fs__pack_str(msgpack_packer *pk, const void *p, size_t n);

/* 1 if the schema has the table and the table has the column, else 0. */
int fs__schema_cell_ok(uint64_t table, uint64_t column);

/* ---- batch.c ---- */

/* Packs n changes as a batch field for a session at protocol version
 * `version`: compressed (a bin of zstd frames, one per compression group;
 * groups may be NULL for one group) when the version has it, the batch is
 * not small and compressing saves enough, else plain. Nothing the decoder
 * would refuse is packed: FS_EINVAL for a change with a bad clock, value or
 * cell, or more devices than a batch may carry; FS_ENOMEM. On failure the
 * packer's buffer may hold a partial field (fs_msg_encode_v rolls back). */
int fs__pack_batch_field(msgpack_packer *pk, uint32_t version, const fs_change *changes,
                         const uint32_t *groups, size_t n);

/* Reads a batch field, plain or compressed, within r's limits. The changes
 * (*changes, *count) live in memory that own holds (own->changes, and
 * own->plain for a compressed batch), freed with the message. Returns r->err:
 * 0, or FS_EMALFORMED, FS_ETOOBIG, FS_ENOMEM with r->why filled. */
int fs__decode_batch_field(fs__mp *r, fs__msg_owned *own, const fs_change **changes, size_t *count);

#endif
