/*
 * The outgoing frame queue of one connection: the session emits frames at
 * any time (while it handles a received one, mostly); the connection writes
 * them one per writable callback, as libwebsockets requires.
 */
#include <stdlib.h>
#include <string.h>

#include "fieldsync/error.h"
#include "ws_int.h"

int fs__ws_queue_push(fs__ws_queue *q, const uint8_t *frame, size_t len)
{
    if (len > SIZE_MAX - sizeof(fs__ws_frame) - LWS_PRE)
        return FS_ETOOBIG;
    fs__ws_frame *f = malloc(sizeof *f + LWS_PRE + len);
    if (f == NULL)
        return FS_ENOMEM;
    f->next = NULL;
    f->len = len;
    memcpy(f->data + LWS_PRE, frame, len);
    if (q->tail != NULL)
        q->tail->next = f;
    else
        q->head = f;
    q->tail = f;
    return 0;
}

int fs__ws_queue_write(fs__ws_queue *q, struct lws *wsi)
{
    fs__ws_frame *f = q->head;
    if (f == NULL)
        return 0;
    q->head = f->next;
    if (q->head == NULL)
        q->tail = NULL;
    /* lws buffers whatever the socket does not take and holds back the next
     * writable callback until it is sent. */
    int n = lws_write(wsi, f->data + LWS_PRE, f->len, LWS_WRITE_BINARY);
    int rc = n < 0 || (size_t)n < f->len ? -1 : 0;
    free(f);
    return rc;
}

int fs__ws_queue_empty(const fs__ws_queue *q)
{
    return q->head == NULL;
}

void fs__ws_queue_clear(fs__ws_queue *q)
{
    while (q->head != NULL) {
        fs__ws_frame *f = q->head;
        q->head = f->next;
        free(f);
    }
    q->tail = NULL;
}

void fs__ws_quiet_logs(void)
{
    lws_set_log_level(LLL_ERR, NULL);
}
