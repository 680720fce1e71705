/* Shared by the two ends of a sync session (sync/client.c, sync/server.c). */
#ifndef FIELDSYNC_SYNC_INT_H
#define FIELDSYNC_SYNC_INT_H

#include "fieldsync/buf.h"
#include "fieldsync/sync.h"

/* Emits what out holds as one frame (nothing when empty) and empties it. */
int fs__sync_flush(fs_buf *out, fs_emit_fn emit, void *ctx);

#endif
