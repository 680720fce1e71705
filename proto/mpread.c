/* Bounds-checked msgpack pull reader (see mpread.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fieldsync/error.h"
#include "fieldsync/schema.h"
#include "mpread.h"

void fs__mp_init(fs__mp *r, const uint8_t *p, size_t n, const fs_proto_limits *lim)
{
    r->p = p;
    r->end = p + n;
    r->lim = lim;
    r->depth = 0;
    r->err = 0;
    r->why[0] = '\0';
}

int fs__mp_fail(fs__mp *r, int code, const char *fmt, ...)
{
    if (r->err == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->why, sizeof r->why, fmt, ap);
        va_end(ap);
        r->err = code;
    }
    return r->err;
}

static size_t left(const fs__mp *r)
{
    return (size_t)(r->end - r->p);
}

/* Reads a big-endian integer of n bytes. */
static int take_be(fs__mp *r, unsigned n, uint64_t *v, const char *what)
{
    *v = 0;
    if (r->err)
        return r->err;
    if (left(r) < n)
        return fs__mp_fail(r, FS_EMALFORMED, "%s: truncated", what);
    uint64_t x = 0;
    for (unsigned i = 0; i < n; i++)
        x = (x << 8) | r->p[i];
    r->p += n;
    *v = x;
    return 0;
}

static int take_byte(fs__mp *r, uint8_t *b, const char *what)
{
    *b = 0;
    if (r->err)
        return r->err;
    if (left(r) < 1)
        return fs__mp_fail(r, FS_EMALFORMED, "%s: truncated", what);
    *b = *r->p++;
    return 0;
}

int fs__mp_array(fs__mp *r, uint32_t *n, const char *what)
{
    uint8_t b = 0;
    uint64_t len = 0;
    *n = 0;
    if (take_byte(r, &b, what) != 0)
        return r->err;
    if ((b & 0xF0) == 0x90)
        len = b & 0x0F;
    else if (b == 0xDC) {
        if (take_be(r, 2, &len, what) != 0)
            return r->err;
    } else if (b == 0xDD) {
        if (take_be(r, 4, &len, what) != 0)
            return r->err;
    } else
        return fs__mp_fail(r, FS_EMALFORMED, "%s: expected an array", what);
    if (len > left(r))
        return fs__mp_fail(r, FS_EMALFORMED, "%s: %llu elements in %zu bytes", what,
                           (unsigned long long)len, left(r));
    if (++r->depth > r->lim->max_depth)
        return fs__mp_fail(r, FS_ETOOBIG, "%s: nested deeper than %u", what, r->lim->max_depth);
    *n = (uint32_t)len;
    return 0;
}

void fs__mp_leave(fs__mp *r)
{
    if (r->depth > 0)
        r->depth--;
}

int fs__mp_array_of(fs__mp *r, uint32_t n, const char *what)
{
    uint32_t got;
    if (fs__mp_array(r, &got, what) != 0)
        return r->err;
    if (got != n)
        return fs__mp_fail(r, FS_EMALFORMED, "%s: %u elements, expected %u", what, got, n);
    return 0;
}

int fs__mp_uint(fs__mp *r, uint64_t *v, const char *what)
{
    uint8_t b = 0;
    *v = 0;
    if (take_byte(r, &b, what) != 0)
        return r->err;
    if (b <= 0x7F) {
        *v = b;
        return 0;
    }
    switch (b) {
    case 0xCC:
        return take_be(r, 1, v, what);
    case 0xCD:
        return take_be(r, 2, v, what);
    case 0xCE:
        return take_be(r, 4, v, what);
    case 0xCF:
        return take_be(r, 8, v, what);
    default:
        return fs__mp_fail(r, FS_EMALFORMED, "%s: expected an unsigned integer", what);
    }
}

int fs__mp_u32(fs__mp *r, uint32_t *v, const char *what)
{
    uint64_t x;
    *v = 0;
    if (fs__mp_uint(r, &x, what) != 0)
        return r->err;
    if (x > UINT32_MAX)
        return fs__mp_fail(r, FS_EMALFORMED, "%s: out of range", what);
    *v = (uint32_t)x;
    return 0;
}

int fs__mp_bool(fs__mp *r, int *v, const char *what)
{
    uint8_t b = 0;
    *v = 0;
    if (take_byte(r, &b, what) != 0)
        return r->err;
    if (b != 0xC2 && b != 0xC3)
        return fs__mp_fail(r, FS_EMALFORMED, "%s: expected a boolean", what);
    *v = b == 0xC3;
    return 0;
}

/* Reads a str or bin header; kind 's' or 'b'; at most max bytes. */
static int raw_header(fs__mp *r, int kind, size_t max, size_t *n, const char *what)
{
    uint8_t b = 0;
    uint64_t len = 0;
    *n = 0;
    if (take_byte(r, &b, what) != 0)
        return r->err;
    if (kind == 's' && (b & 0xE0) == 0xA0)
        len = b & 0x1F;
    else if ((kind == 's' && b == 0xD9) || (kind == 'b' && b == 0xC4))
        take_be(r, 1, &len, what);
    else if ((kind == 's' && b == 0xDA) || (kind == 'b' && b == 0xC5))
        take_be(r, 2, &len, what);
    else if ((kind == 's' && b == 0xDB) || (kind == 'b' && b == 0xC6))
        take_be(r, 4, &len, what);
    else
        return fs__mp_fail(r, FS_EMALFORMED, "%s: expected %s", what,
                           kind == 's' ? "a string" : "bytes");
    if (r->err)
        return r->err;
    if (len > max)
        return fs__mp_fail(r, FS_ETOOBIG, "%s: %llu bytes is over the limit", what,
                           (unsigned long long)len);
    if (len > left(r))
        return fs__mp_fail(r, FS_EMALFORMED, "%s: truncated", what);
    *n = (size_t)len;
    return 0;
}

int fs__mp_bin_exact(fs__mp *r, uint8_t *out, size_t n, const char *what)
{
    size_t got;
    if (raw_header(r, 'b', r->lim->max_bytes, &got, what) != 0)
        return r->err;
    if (got != n)
        return fs__mp_fail(r, FS_EMALFORMED, "%s: %zu bytes, expected %zu", what, got, n);
    memcpy(out, r->p, n);
    r->p += n;
    return 0;
}

int fs__mp_bin_upto(fs__mp *r, const uint8_t **p, size_t *n, size_t max, const char *what)
{
    *p = NULL;
    if (raw_header(r, 'b', max, n, what) != 0)
        return r->err;
    *p = r->p;
    r->p += *n;
    return 0;
}

int fs__mp_bin(fs__mp *r, const uint8_t **p, size_t *n, const char *what)
{
    return fs__mp_bin_upto(r, p, n, r->lim->max_bytes, what);
}

int fs__mp_next_is_bin(const fs__mp *r)
{
    return r->err == 0 && left(r) > 0 && (*r->p == 0xC4 || *r->p == 0xC5 || *r->p == 0xC6);
}

int fs__mp_str(fs__mp *r, const char **p, size_t *n, const char *what)
{
    *p = NULL;
    if (raw_header(r, 's', r->lim->max_bytes, n, what) != 0)
        return r->err;
    if (!fs_utf8_valid(r->p, *n))
        return fs__mp_fail(r, FS_EMALFORMED, "%s: not valid UTF-8", what);
    *p = (const char *)r->p;
    r->p += *n;
    return 0;
}

int fs__mp_value(fs__mp *r, fs_value *v, const char *what)
{
    memset(v, 0, sizeof *v);
    if (r->err)
        return r->err;
    if (left(r) < 1)
        return fs__mp_fail(r, FS_EMALFORMED, "%s: truncated", what);
    uint8_t b = *r->p;
    uint64_t u = 0;
    if (b == 0xC0) {
        r->p++;
        v->type = FS_NULL;
        return 0;
    }
    if (b <= 0x7F || (b >= 0xCC && b <= 0xCF)) {
        if (fs__mp_uint(r, &u, what) != 0)
            return r->err;
        if (u > INT64_MAX)
            return fs__mp_fail(r, FS_EMALFORMED, "%s: integer out of range", what);
        v->type = FS_INT;
        v->i = (int64_t)u;
        return 0;
    }
    if (b >= 0xE0) {
        r->p++;
        v->type = FS_INT;
        v->i = (int8_t)b;
        return 0;
    }
    if (b >= 0xD0 && b <= 0xD3) {
        unsigned n = 1u << (b - 0xD0);
        r->p++;
        if (take_be(r, n, &u, what) != 0)
            return r->err;
        v->type = FS_INT;
        if (n < 8 && (u >> (8 * n - 1)) & 1)
            u |= ~(uint64_t)0 << (8 * n); /* sign-extend */
        v->i = (int64_t)u;
        return 0;
    }
    if (b == 0xCB) {
        r->p++;
        if (take_be(r, 8, &u, what) != 0)
            return r->err;
        v->type = FS_REAL;
        memcpy(&v->r, &u, sizeof v->r);
        return 0;
    }
    if ((b & 0xE0) == 0xA0 || (b >= 0xD9 && b <= 0xDB)) {
        const char *s;
        if (fs__mp_str(r, &s, &v->n, what) != 0)
            return r->err;
        v->type = FS_TEXT;
        v->p = s;
        return 0;
    }
    if (b >= 0xC4 && b <= 0xC6) {
        const uint8_t *p;
        if (fs__mp_bin(r, &p, &v->n, what) != 0)
            return r->err;
        v->type = FS_BLOB;
        v->p = v->n ? (const void *)p : (const void *)"";
        return 0;
    }
    return fs__mp_fail(r, FS_EMALFORMED, "%s: not a column value (0x%02x)", what, b);
}

int fs__mp_done(const fs__mp *r)
{
    return r->err == 0 && r->p == r->end;
}
