/* fs_buf: a growable byte buffer that wipes what it held when freed. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fieldsync/error.h"
#include "fieldsync/buf.h"

void fs_buf_init(fs_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

int fs_buf_reserve(fs_buf *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return 0;
    if (extra > SIZE_MAX / 2 - b->len)
        return FS_ENOMEM;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra)
        cap *= 2;
    uint8_t *p = malloc(cap);
    if (p == NULL)
        return FS_ENOMEM;
    if (b->data != NULL) {
        memcpy(p, b->data, b->len);
        sodium_memzero(b->data, b->cap); /* may have held plaintext */
        free(b->data);
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int fs_buf_append(fs_buf *b, const void *p, size_t n)
{
    int rc = fs_buf_reserve(b, n);
    if (rc != 0)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void fs_buf_reset(fs_buf *b)
{
    if (b->data != NULL)
        sodium_memzero(b->data, b->len);
    b->len = 0;
}

void fs_buf_free(fs_buf *b)
{
    if (b->data != NULL) {
        sodium_memzero(b->data, b->cap);
        free(b->data);
    }
    fs_buf_init(b);
}
