/*
 * Fuzz target: the feed entry decoder (fs__feed_next, core/feed.c). Input:
 * one entry's changes blob, decoded change by change until it ends or a
 * change is malformed, as fs_feed_since reads a stored entry.
 *
 * Traps on a broken promise: the position going backwards or past the end,
 * a success that consumed nothing, a value type past FS_BLOB, a column past
 * 65,535, TEXT/BLOB bytes outside the input.
 *
 * An input that decodes fully (at most FS__FEED_ENTRY_MAX changes) is also
 * encoded again with fs__feed_append, on a bare handle that only builds the
 * entry in memory (one row, so it never writes), and that encoding must
 * decode to the same changes (a change flagged with prev whose prev clock
 * comes out 0 loses its prev: 0 means none) and encode to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync/error.h"
#include "fieldsync/replica.h"
#include "replica_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fs__feed_item items[FS__FEED_ENTRY_MAX];

static int same_value(const fs_value *a, const fs_value *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case FS_INT:
        return a->i == b->i;
    case FS_REAL:
        return memcmp(&a->r, &b->r, sizeof a->r) == 0; /* bits: NaN, -0.0 */
    case FS_TEXT:
    case FS_BLOB:
        return a->n == b->n && (a->n == 0 || memcmp(a->p, b->p, a->n) == 0);
    case FS_NULL:
        return 1;
    }
    return 0;
}

/* Encodes items[0..n) as one entry on a bare handle; the entry is left in
 * r->feed.buf. */
static void encode(fs_replica *r, size_t n)
{
    static const uint8_t row[FS_ID_BYTES] = {1};
    fs__feed_discard(r);
    for (size_t k = 0; k < n; k++) {
        const fs__feed_item *it = &items[k];
        if (fs__feed_append(r, 7, it->col, row, &it->value, it->hlc, it->dev, it->prev_hlc,
                            it->prev_dev) != 0)
            __builtin_trap(); /* every decoded change fits the format */
    }
    if (r->feed.n != n)
        __builtin_trap();
}

static void reencode(size_t n)
{
    fs_replica *r = calloc(1, sizeof *r);
    if (r == NULL)
        return;
    r->keep_feed = 1;
    encode(r, n);
    size_t len = r->feed.len;
    uint8_t *once = malloc(len ? len : 1);
    if (once == NULL)
        goto done;
    memcpy(once, r->feed.buf, len);

    /* The encoding decodes to the same changes. */
    size_t pos = 0;
    uint64_t hlc = 0;
    for (size_t k = 0; k < n; k++) {
        fs__feed_item back;
        if (fs__feed_next(once, len, &pos, &hlc, &back) != 0)
            __builtin_trap();
        const fs__feed_item *it = &items[k];
        uint32_t prev_dev = it->prev_hlc != 0 ? it->prev_dev : 0;
        if (back.col != it->col || back.hlc != it->hlc || back.dev != it->dev ||
            back.prev_hlc != it->prev_hlc || back.prev_dev != prev_dev ||
            !same_value(&back.value, &it->value))
            __builtin_trap();
        items[k] = back; /* points into once now */
    }
    if (pos != len)
        __builtin_trap();

    /* And encodes to the same bytes: the encoding is canonical. */
    encode(r, n);
    if (r->feed.len != len || (len > 0 && memcmp(r->feed.buf, once, len) != 0))
        __builtin_trap();
    free(once);
done:
    free(r->feed.buf);
    free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0, n = 0;
    uint64_t hlc = 0;
    int ok = 1;
    while (pos < size) {
        size_t before = pos;
        fs__feed_item it;
        int rc = fs__feed_next(data, size, &pos, &hlc, &it);
        if (pos < before || pos > size)
            __builtin_trap();
        if (rc != 0) {
            if (rc != FS_EFORMAT)
                __builtin_trap();
            ok = 0;
            break;
        }
        if (pos == before || (unsigned)it.value.type > FS_BLOB || it.col > 0xFFFF)
            __builtin_trap();
        if ((it.value.type == FS_TEXT || it.value.type == FS_BLOB) && it.value.n > 0) {
            const uint8_t *p = it.value.p;
            if (p < data + before || p > data + pos || it.value.n > (size_t)(data + pos - p))
                __builtin_trap();
        }
        if (it.value.type != FS_TEXT && it.value.type != FS_BLOB && it.value.n != 0)
            __builtin_trap();
        if (n < FS__FEED_ENTRY_MAX)
            items[n] = it;
        n++;
    }
    /* Nothing left over at the end: fs__feed_next at size always fails. */
    if (ok) {
        fs__feed_item end;
        size_t at = size;
        uint64_t h = hlc;
        if (fs__feed_next(data, size, &at, &h, &end) != FS_EFORMAT || at != size)
            __builtin_trap();
    }
    if (ok && n > 0 && n <= FS__FEED_ENTRY_MAX)
        reencode(n);
    return 0;
}
