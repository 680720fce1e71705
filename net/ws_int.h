/*
 * Internals shared by the websocket server and client (net/): the queue of
 * frames waiting for a writable callback, and the reassembly limit.
 */
#ifndef FIELDSYNC_WS_INT_H
#define FIELDSYNC_WS_INT_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

/* One frame to send, with LWS_PRE bytes of headroom before it. */
typedef struct fs__ws_frame {
    struct fs__ws_frame *next;
    size_t len;
    uint8_t data[]; /* LWS_PRE + len */
} fs__ws_frame;

/* Frames in the order the session emitted them. */
typedef struct fs__ws_queue {
    fs__ws_frame *head, *tail;
} fs__ws_queue;

/* Copies a frame to the end of the queue. FS_ENOMEM. */
int fs__ws_queue_push(fs__ws_queue *q, const uint8_t *frame, size_t len);
/* Writes the first frame as one binary message and drops it. 0, or -1 when
 * lws_write failed (the connection is to be closed). */
int fs__ws_queue_write(fs__ws_queue *q, struct lws *wsi);
int fs__ws_queue_empty(const fs__ws_queue *q);
/* Frees every queued frame. */
void fs__ws_queue_clear(fs__ws_queue *q);

/* Keeps libwebsockets quiet: errors only, to stderr. */
void fs__ws_quiet_logs(void);

/* Bytes asked of libwebsockets per receive callback. */
#define FS__WS_RX_BUFFER 65536

#endif
