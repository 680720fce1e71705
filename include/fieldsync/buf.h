/*
 * fs_buf: a growable byte buffer that wipes what it held when freed. Used by
 * the message codec, the control-socket codec and the transports.
 */
#ifndef FIELDSYNC_BUF_H
#define FIELDSYNC_BUF_H

#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer; fs_buf_free wipes what it held. */
typedef struct fs_buf {
    uint8_t *data;
    size_t len, cap;
} fs_buf;

void fs_buf_init(fs_buf *b);
int fs_buf_reserve(fs_buf *b, size_t extra); /* FS_ENOMEM */
int fs_buf_append(fs_buf *b, const void *p, size_t n);
void fs_buf_reset(fs_buf *b); /* len = 0, memory kept (wiped) */
void fs_buf_free(fs_buf *b);

#endif
