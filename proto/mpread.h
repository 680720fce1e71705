/*
 * A bounds-checked msgpack pull reader: the one place that reads bytes from a
 * peer. It never allocates. Every count it returns has been checked against
 * the bytes left (each element needs at least one), so a caller that sizes an
 * allocation by it allocates at most a small multiple of the input. Errors set
 * a reason (what was expected, and where) and stick: after the first error
 * every read fails.
 */
#ifndef FIELDSYNC_PROTO_MPREAD_H
#define FIELDSYNC_PROTO_MPREAD_H

#include <stddef.h>
#include <stdint.h>

#include "fieldsync/msg.h"

typedef struct fs__mp {
    const uint8_t *p, *end;
    const fs_proto_limits *lim;
    unsigned depth;
    int err;       /* 0, FS_EMALFORMED or FS_ETOOBIG */
    char why[128]; /* reason for err */
} fs__mp;

void fs__mp_init(fs__mp *r, const uint8_t *p, size_t n, const fs_proto_limits *lim);
/* Records an error (the first one wins) and returns it. */
int fs__mp_fail(fs__mp *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* An array header; enters one level of nesting (fs__mp_leave() when done).
 * *n <= bytes left; the caller checks the limit that applies to it. */
int fs__mp_array(fs__mp *r, uint32_t *n, const char *what);
void fs__mp_leave(fs__mp *r);
/* An array of exactly n elements. */
int fs__mp_array_of(fs__mp *r, uint32_t n, const char *what);
int fs__mp_uint(fs__mp *r, uint64_t *v, const char *what);
int fs__mp_u32(fs__mp *r, uint32_t *v, const char *what);
int fs__mp_bool(fs__mp *r, int *v, const char *what);
/* bin of exactly n bytes, copied out. */
int fs__mp_bin_exact(fs__mp *r, uint8_t *out, size_t n, const char *what);
/* bin or str of any length <= max_bytes; *p points into the input. */
int fs__mp_bin(fs__mp *r, const uint8_t **p, size_t *n, const char *what);
/* The same with a limit of the caller's (a compressed batch's frames). */
int fs__mp_bin_upto(fs__mp *r, const uint8_t **p, size_t *n, size_t max, const char *what);
/* 1 if the next element is a bin (without reading it). */
int fs__mp_next_is_bin(const fs__mp *r);
int fs__mp_str(fs__mp *r, const char **p, size_t *n, const char *what); /* valid UTF-8 */
/* A column value: nil, int, float64, str (UTF-8) or bin. */
int fs__mp_value(fs__mp *r, fs_value *v, const char *what);
/* 1 if all input was consumed. */
int fs__mp_done(const fs__mp *r);

#endif
