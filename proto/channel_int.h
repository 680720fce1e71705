/*
 * A test hook of the secure channel, for programs that play a hostile peer
 * (tests/hostile.c): nothing in the libraries calls it. A real peer can
 * seal any bytes it likes once its session is open; this lets a test do the
 * same without a second implementation of the channel.
 */
#ifndef FIELDSYNC_CHANNEL_INT_H
#define FIELDSYNC_CHANNEL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "fieldsync/channel.h"

/* Seals n bytes of plaintext, taken as they are (not necessarily a message),
 * as the next frame of an open channel, appended to out; with final, under
 * the stream's final tag. FS_ECLOSED when the channel is not open,
 * FS_ENOMEM. */
int fs__channel_seal_raw(fs_channel *ch, const uint8_t *plain, size_t n, int final, fs_buf *out);

#endif
