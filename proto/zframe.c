/*
 * zstd frames for compressed batches (zframe.h). Level 1: the batches are
 * text and 16-byte ids, which level 1 already takes to about a third; higher
 * levels cost more time than the bytes they save on a LAN or a phone link
 * (bench/bench_sync measures both).
 */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_createCCtx_advanced: a wiping allocator */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "fieldsync/error.h"
#include "zframe.h"

#define LEVEL 1

/* zstd's allocations, each with its size in front so that it can be wiped. */
typedef union {
    size_t n;
    max_align_t align;
} zhead;

static void *wiping_alloc(void *opaque, size_t n)
{
    (void)opaque;
    if (n > SIZE_MAX - sizeof(zhead))
        return NULL;
    zhead *h = malloc(sizeof *h + n);
    if (h == NULL)
        return NULL;
    h->n = n;
    return h + 1;
}

static void wiping_free(void *opaque, void *p)
{
    (void)opaque;
    if (p == NULL)
        return;
    zhead *h = (zhead *)p - 1;
    sodium_memzero(p, h->n);
    free(h);
}

static const ZSTD_customMem wiping = {wiping_alloc, wiping_free, NULL};

struct fs__zc {
    ZSTD_CCtx *cctx;
};

fs__zc *fs__zc_new(void)
{
    fs__zc *z = malloc(sizeof *z);
    if (z == NULL)
        return NULL;
    z->cctx = ZSTD_createCCtx_advanced(wiping);
    if (z->cctx == NULL ||
        ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, LEVEL)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_contentSizeFlag, 1)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 0))) {
        fs__zc_free(z);
        return NULL;
    }
    return z;
}

void fs__zc_free(fs__zc *z)
{
    if (z == NULL)
        return;
    ZSTD_freeCCtx(z->cctx);
    free(z);
}

int fs__zc_frame(fs__zc *z, const uint8_t *src, size_t n, fs_buf *out)
{
    size_t bound = ZSTD_compressBound(n);
    if (ZSTD_isError(bound))
        return FS_ETOOBIG;
    int rc = fs_buf_reserve(out, bound);
    if (rc != 0)
        return rc;
    /* The frame is sealed as it is, so the checksum flag stays off: the
     * channel's tag already covers every byte. */
    size_t got = ZSTD_compress2(z->cctx, out->data + out->len, bound, src, n);
    if (ZSTD_isError(got))
        return ZSTD_getErrorCode(got) == ZSTD_error_memory_allocation ? FS_ENOMEM : FS_EINVAL;
    out->len += got;
    return 0;
}

int fs__z_open(const uint8_t *src, size_t n, size_t max_out, uint8_t **out, size_t *outlen,
               char *why, size_t whylen)
{
    *out = NULL;
    *outlen = 0;
    if (n == 0)
        return fs_say(why, whylen, FS_EMALFORMED, "compressed batch: no frame");
    size_t total = 0;
    unsigned k = 0;
    for (size_t at = 0; at < n; k++) {
        const uint8_t *f = src + at;
        size_t left = n - at;
        if (ZSTD_isSkippableFrame(f, left))
            return fs_say(why, whylen, FS_EMALFORMED,
                          "compressed batch: frame %u is a skippable frame", k);
        unsigned long long size = ZSTD_getFrameContentSize(f, left);
        if (size == ZSTD_CONTENTSIZE_ERROR)
            return fs_say(why, whylen, FS_EMALFORMED,
                          "compressed batch: frame %u is not a zstd frame", k);
        if (size == ZSTD_CONTENTSIZE_UNKNOWN)
            return fs_say(why, whylen, FS_EMALFORMED,
                          "compressed batch: frame %u does not declare its size", k);
        if (size > max_out - total)
            return fs_say(why, whylen, FS_ETOOBIG,
                          "compressed batch: frame %u takes it over %zu bytes", k, max_out);
        size_t fsize = ZSTD_findFrameCompressedSize(f, left);
        if (ZSTD_isError(fsize) || fsize == 0 || fsize > left)
            return fs_say(why, whylen, FS_EMALFORMED, "compressed batch: frame %u is cut short", k);
        total += (size_t)size;
        at += fsize;
    }
    if (total == 0)
        return fs_say(why, whylen, FS_EMALFORMED, "compressed batch: empty");
    uint8_t *buf = malloc(total);
    ZSTD_DCtx *d = ZSTD_createDCtx_advanced(wiping);
    if (buf == NULL || d == NULL) {
        free(buf);
        ZSTD_freeDCtx(d);
        return FS_ENOMEM;
    }
    size_t got = ZSTD_decompressDCtx(d, buf, total, src, n);
    ZSTD_freeDCtx(d);
    if (ZSTD_isError(got) || got != total) {
        sodium_memzero(buf, total);
        free(buf);
        if (ZSTD_isError(got) && ZSTD_getErrorCode(got) == ZSTD_error_memory_allocation)
            return FS_ENOMEM;
        return fs_say(why, whylen, FS_EMALFORMED, "compressed batch: %s",
                      ZSTD_isError(got) ? ZSTD_getErrorName(got)
                                        : "content shorter than its frames declare");
    }
    *out = buf;
    *outlen = total;
    return 0;
}
