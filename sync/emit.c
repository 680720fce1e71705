/* Emitting a session's frames: shared by both ends (sync/sync_int.h). */
#include "sync_int.h"

int fs__sync_flush(fs_buf *out, fs_emit_fn emit, void *ctx)
{
    int rc = 0;
    if (out->len > 0)
        rc = emit(ctx, out->data, out->len);
    fs_buf_reset(out);
    return rc;
}
