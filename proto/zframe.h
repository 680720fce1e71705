/*
 * zstd frames for compressed batches (fieldsync/msg.h, protocol version 2):
 * compressing appends one frame that declares its content size; opening
 * checks every frame header against the caller's bounds before it
 * allocates, then decompresses. zstd's working memory holds plaintext
 * (literals, history), so its contexts allocate through an allocator that
 * wipes on free.
 */
#ifndef FIELDSYNC_PROTO_ZFRAME_H
#define FIELDSYNC_PROTO_ZFRAME_H

#include <stddef.h>
#include <stdint.h>

#include "fieldsync/msg.h"

typedef struct fs__zc fs__zc;

/* A compression context (NULL: out of memory); fs__zc_free wipes it. */
fs__zc *fs__zc_new(void);
void fs__zc_free(fs__zc *z);

/* Appends src[0, n) to out as one zstd frame. FS_ENOMEM, or FS_EINTERNAL if
 * zstd fails. */
int fs__zc_frame(fs__zc *z, const uint8_t *src, size_t n, fs_buf *out);

/* Decompresses src[0, n), one or more frames, into a malloc'd buffer
 * (*out, *outlen; the caller wipes and frees it). Refused before anything is
 * allocated: no frame, a skippable or truncated frame, a frame that does not
 * declare its size, or content over max_out bytes in all. FS_EMALFORMED or
 * FS_ETOOBIG with why filled, FS_ENOMEM. */
int fs__z_open(const uint8_t *src, size_t n, size_t max_out, uint8_t **out, size_t *outlen,
               char *why, size_t whylen);

#endif
