/*
 * The batch codec: the change batches inside PUSH and CHANGES (format in
 * fieldsync/msg.h). A batch is grouped by row and by version, with a
 * per-batch device dictionary and clocks relative to the batch's smallest,
 * which is what keeps a batch of visits within 1.3x of its field values.
 * From protocol version 2 a batch field may instead be a bin of zstd frames
 * (zframe.c), one plain batch per compression group. The envelope around it
 * is msg.c's; what the two share is in msg_int.h.
 */
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "fieldsync/error.h"
#include "fieldsync/msg.h"
#include "mpread.h"
#include "msg_int.h"
#include "zframe.h"

/* ---- encoding ---- */

static int pack_value(msgpack_packer *pk, const fs_value *v)
{
    switch (v->type) {
    case FS_NULL:
        PK(msgpack_pack_nil(pk));
        return 0;
    case FS_INT:
        PK(msgpack_pack_int64(pk, v->i));
        return 0;
    case FS_REAL:
        PK(msgpack_pack_double(pk, v->r));
        return 0;
    case FS_TEXT:
        return fs__pack_str(pk, v->p, v->n);
    case FS_BLOB:
        return fs__pack_bin(pk, v->p, v->n);
    }
    return FS_EINVAL;
}

/* Device dictionary for one batch: open addressing on the ids' first bytes
 * (ids are random, so that is a good hash). */
typedef struct devdict {
    const uint8_t **ids; /* in order of first use */
    uint32_t n, cap;
    uint32_t *slots; /* index + 1, 0 = empty */
    uint32_t nslots;
} devdict;

static uint64_t id_hash(const uint8_t *id)
{
    uint64_t h;
    memcpy(&h, id, sizeof h);
    return h * 0x9E3779B97F4A7C15ull;
}

static int dev_index(devdict *d, const uint8_t *id, uint32_t *out)
{
    uint32_t i = (uint32_t)(id_hash(id) >> 32) & (d->nslots - 1);
    while (d->slots[i] != 0) {
        if (memcmp(d->ids[d->slots[i] - 1], id, FS_ID_BYTES) == 0) {
            *out = d->slots[i] - 1;
            return 0;
        }
        i = (i + 1) & (d->nslots - 1);
    }
    if (d->n == d->cap)
        return FS_EINVAL; /* more devices than the batch may carry */
    d->ids[d->n] = id;
    d->slots[i] = ++d->n;
    *out = d->n - 1;
    return 0;
}

/* A value the decoder accepts: a known type, within the size limit, text
 * in UTF-8. */
static int value_ok(const fs_value *v)
{
    switch (v->type) {
    case FS_NULL:
    case FS_INT:
    case FS_REAL:
        return 1;
    case FS_TEXT:
        return v->n <= fs_proto_default_limits.max_bytes && (v->n == 0 || v->p != NULL) &&
               fs_utf8_valid(v->p, v->n);
    case FS_BLOB:
        return v->n <= fs_proto_default_limits.max_bytes && (v->n == 0 || v->p != NULL);
    }
    return 0;
}

typedef struct ref {
    const fs_change *c;
    size_t idx;
    uint32_t group; /* compression group (0 when there is one) */
} ref;

static int cmp_ref(const void *pa, const void *pb)
{
    const fs_change *a = ((const ref *)pa)->c, *b = ((const ref *)pb)->c;
    uint32_t ga = ((const ref *)pa)->group, gb = ((const ref *)pb)->group;
    if (ga != gb)
        return ga < gb ? -1 : 1;
    if (a->table != b->table)
        return a->table < b->table ? -1 : 1;
    int d = memcmp(a->row, b->row, FS_ID_BYTES);
    if (d != 0)
        return d;
    d = fs_version_cmp(&a->version, &b->version);
    if (d != 0)
        return d;
    d = fs_version_cmp(&a->prev, &b->prev);
    if (d != 0)
        return d;
    size_t ia = ((const ref *)pa)->idx, ib = ((const ref *)pb)->idx;
    return ia < ib ? -1 : ia > ib;
}

static int same_row(const fs_change *a, const fs_change *b)
{
    return a->table == b->table && memcmp(a->row, b->row, FS_ID_BYTES) == 0;
}

static int same_group(const fs_change *a, const fs_change *b)
{
    return fs_version_cmp(&a->version, &b->version) == 0 &&
           fs_version_cmp(&a->prev, &b->prev) == 0;
}

static int pack_batch_sorted(msgpack_packer *pk, const ref *refs, size_t n, devdict *dd)
{
    uint64_t base = UINT64_MAX;
    uint32_t di;
    for (size_t i = 0; i < n; i++) {
        const fs_change *c = refs[i].c;
        if (c->version.hlc == 0 || (c->prev.hlc != 0 && c->prev.hlc >= c->version.hlc))
            return FS_EINVAL;
        if (!value_ok(&c->value) || !fs__schema_cell_ok(c->table, c->column))
            return FS_EINVAL; /* what the decoder would refuse is never sent */
        if (c->version.hlc < base)
            base = c->version.hlc;
        if (dev_index(dd, c->version.device, &di) != 0 ||
            (c->prev.hlc != 0 && dev_index(dd, c->prev.device, &di) != 0))
            return FS_EINVAL;
    }
    if (n == 0)
        base = 0;
    size_t nrows = 0;
    for (size_t i = 0; i < n; i++)
        nrows += i == 0 || !same_row(refs[i - 1].c, refs[i].c);
    PK(msgpack_pack_array(pk, 3));
    PK(msgpack_pack_array(pk, dd->n));
    for (uint32_t i = 0; i < dd->n; i++)
        if (fs__pack_bin(pk, dd->ids[i], FS_ID_BYTES) != 0)
            return FS_ENOMEM;
    PK(msgpack_pack_uint64(pk, base));
    PK(msgpack_pack_array(pk, nrows));
    for (size_t i = 0; i < n;) {
        size_t j = i + 1, ngroups = 1;
        while (j < n && same_row(refs[i].c, refs[j].c)) {
            ngroups += !same_group(refs[j - 1].c, refs[j].c);
            j++;
        }
        PK(msgpack_pack_array(pk, 3));
        PK(msgpack_pack_uint16(pk, refs[i].c->table));
        if (fs__pack_bin(pk, refs[i].c->row, FS_ID_BYTES) != 0)
            return FS_ENOMEM;
        PK(msgpack_pack_array(pk, ngroups));
        for (size_t g = i; g < j;) {
            size_t h = g + 1;
            while (h < j && same_group(refs[g].c, refs[h].c))
                h++;
            const fs_change *c = refs[g].c;
            uint32_t dev = 0, prev_dev = 0;
            dev_index(dd, c->version.device, &dev);
            if (c->prev.hlc != 0)
                dev_index(dd, c->prev.device, &prev_dev);
            PK(msgpack_pack_array(pk, 4 + 2 * (h - g)));
            PK(msgpack_pack_uint64(pk, c->version.hlc - base));
            PK(msgpack_pack_uint32(pk, dev));
            PK(msgpack_pack_uint64(pk, c->prev.hlc ? c->version.hlc - c->prev.hlc : 0));
            PK(msgpack_pack_uint32(pk, prev_dev));
            for (size_t k = g; k < h; k++) {
                PK(msgpack_pack_uint16(pk, refs[k].c->column));
                int rc = pack_value(pk, &refs[k].c->value);
                if (rc != 0)
                    return rc;
            }
            g = h;
        }
        i = j;
    }
    return 0;
}

/* The refs of a batch, sorted by group, then row and version; the device
 * dictionary sized for it. Freed with batch_free. */
typedef struct batch {
    ref *refs;
    devdict dd;
} batch;

static void batch_free(batch *b)
{
    free(b->refs);
    free(b->dd.ids);
    free(b->dd.slots);
}

static int batch_sort(batch *b, const fs_change *changes, const uint32_t *groups, size_t n)
{
    memset(b, 0, sizeof *b);
    if (n > 0 && changes == NULL)
        return FS_EINVAL;
    size_t maxdev = fs_proto_default_limits.max_devices;
    uint32_t nslots = 16;
    while (nslots < 2 * (n < maxdev ? 2 * n : maxdev) + 2)
        nslots *= 2;
    b->refs = malloc((n ? n : 1) * sizeof *b->refs);
    b->dd = (devdict){malloc(maxdev * sizeof(uint8_t *)), 0, (uint32_t)maxdev,
                      calloc(nslots, sizeof(uint32_t)), nslots};
    if (b->refs == NULL || b->dd.ids == NULL || b->dd.slots == NULL) {
        batch_free(b);
        return FS_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        b->refs[i] = (ref){&changes[i], i, groups != NULL ? groups[i] : 0};
    qsort(b->refs, n, sizeof *b->refs, cmp_ref);
    return 0;
}

static int pack_batch(msgpack_packer *pk, const fs_change *changes, size_t n)
{
    batch b;
    int rc = batch_sort(&b, changes, NULL, n);
    if (rc == 0)
        rc = pack_batch_sorted(pk, b.refs, n, &b.dd);
    batch_free(&b);
    return rc;
}

/* Packs each compression group of the batch as a plain batch of its own and
 * compresses it as one zstd frame, into z; *plain receives the bytes before
 * compression. */
static int compress_groups(const batch *b, size_t n, fs_buf *z, size_t *plain)
{
    fs__zc *zc = fs__zc_new();
    fs_buf seg;
    fs_buf_init(&seg);
    devdict dd = b->dd;
    int rc = zc == NULL ? FS_ENOMEM : 0;
    *plain = 0;
    for (size_t i = 0; rc == 0 && i < n;) {
        size_t j = i + 1;
        while (j < n && b->refs[j].group == b->refs[i].group)
            j++;
        dd.n = 0;
        memset(dd.slots, 0, dd.nslots * sizeof *dd.slots);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &seg, fs__buf_write);
        fs_buf_reset(&seg);
        rc = pack_batch_sorted(&pk, b->refs + i, j - i, &dd);
        if (rc == 0)
            rc = fs__zc_frame(zc, seg.data, seg.len, z);
        *plain += seg.len;
        i = j;
    }
    fs_buf_free(&seg); /* wipes the plaintext */
    fs__zc_free(zc);
    return rc;
}

/* 1 if the batch is too small to be worth a compression context (a daemon's
 * push of the visit just recorded): under ZBATCH_MIN bytes of values and
 * ids. */
#define ZBATCH_MIN 2048
static int batch_small(const fs_change *changes, size_t n)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n && bytes < ZBATCH_MIN; i++)
        bytes += FS_ID_BYTES + 8 +
                 (changes[i].value.type == FS_TEXT || changes[i].value.type == FS_BLOB
                      ? changes[i].value.n
                      : 8);
    return bytes < ZBATCH_MIN;
}

/* A batch field: compressed (a bin of zstd frames, one per group) when the
 * session's version has it, the batch is not small and compressing saves
 * enough; else plain. */
int fs__pack_batch_field(msgpack_packer *pk, uint32_t version, const fs_change *changes,
                         const uint32_t *groups, size_t n)
{
    if (version < FS_PROTO_VERSION_ZBATCH || batch_small(changes, n))
        return pack_batch(pk, changes, n);
    batch b;
    int rc = batch_sort(&b, changes, groups, n);
    fs_buf z;
    fs_buf_init(&z);
    size_t plain = 0;
    if (rc == 0)
        rc = compress_groups(&b, n, &z, &plain);
    /* Compressed when that saves at least a sixteenth (less is not worth the
     * receiver's time: photos, random bytes). What the decoder would refuse
     * is never sent: over a frame decompressed, or a ratio over the limit (a
     * blob of zeros); those go plain too. */
    if (rc == 0 && z.len < plain - plain / 16 && plain <= fs_proto_default_limits.max_frame &&
        plain <= z.len * FS_ZBATCH_MAX_RATIO)
        rc = fs__pack_bin(pk, z.data, z.len);
    else if (rc == 0)
        rc = pack_batch(pk, changes, n);
    fs_buf_free(&z);
    batch_free(&b);
    return rc;
}

/* ---- decoding ---- */

/* Reads a batch; with out == NULL only validates and counts changes and
 * devices, otherwise fills out[] and devs[] (sized by a counting pass). */
static int read_batch(fs__mp *r, fs_change *out, uint8_t (*devs)[FS_ID_BYTES], size_t *count,
                      uint32_t *ndevices)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    uint32_t ndev, nrows;
    size_t total = 0;
    uint64_t base;
    if (fs__mp_array_of(r, 3, "batch") != 0 || fs__mp_array(r, &ndev, "batch devices") != 0)
        return r->err;
    if (ndev > r->lim->max_devices)
        return fs__mp_fail(r, FS_ETOOBIG, "batch: %u devices is over the limit", ndev);
    for (uint32_t i = 0; i < ndev; i++) {
        uint8_t id[FS_ID_BYTES];
        if (fs__mp_bin_exact(r, devs ? devs[i] : id, FS_ID_BYTES, "batch device id") != 0)
            return r->err;
    }
    fs__mp_leave(r);
    if (fs__mp_uint(r, &base, "batch base clock") != 0 || fs__mp_array(r, &nrows, "batch rows") != 0)
        return r->err;
    if (nrows > r->lim->max_rows)
        return fs__mp_fail(r, FS_ETOOBIG, "batch: %u rows is over the limit", nrows);
    for (uint32_t i = 0; i < nrows; i++) {
        uint64_t table;
        uint8_t row[FS_ID_BYTES];
        uint32_t ngroups;
        if (fs__mp_array_of(r, 3, "row") != 0 || fs__mp_uint(r, &table, "row table") != 0)
            return r->err;
        if (table >= nt)
            return fs__mp_fail(r, FS_EMALFORMED, "row %u: unknown table %llu", i,
                               (unsigned long long)table);
        if (fs__mp_bin_exact(r, row, FS_ID_BYTES, "row id") != 0 ||
            fs__mp_array(r, &ngroups, "row groups") != 0)
            return r->err;
        if (ngroups == 0)
            return fs__mp_fail(r, FS_EMALFORMED, "row %u: no changes", i);
        for (uint32_t g = 0; g < ngroups; g++) {
            uint32_t m, dev, prev_dev;
            uint64_t delta, gap;
            if (fs__mp_array(r, &m, "group") != 0)
                return r->err;
            if (m < 6 || (m - 4) % 2 != 0)
                return fs__mp_fail(r, FS_EMALFORMED, "row %u: group of %u elements", i, m);
            if (fs__mp_uint(r, &delta, "group clock") != 0 ||
                fs__mp_u32(r, &dev, "group device") != 0 ||
                fs__mp_uint(r, &gap, "group previous clock") != 0 ||
                fs__mp_u32(r, &prev_dev, "group previous device") != 0)
                return r->err;
            if (delta > UINT64_MAX - base || base + delta == 0)
                return fs__mp_fail(r, FS_EMALFORMED, "row %u: clock out of range", i);
            uint64_t hlc = base + delta;
            if (dev >= ndev || (gap != 0 && prev_dev >= ndev) || (gap == 0 && prev_dev != 0))
                return fs__mp_fail(r, FS_EMALFORMED, "row %u: device index out of range", i);
            if (gap >= hlc)
                return fs__mp_fail(r, FS_EMALFORMED, "row %u: previous clock out of range", i);
            uint32_t cells = (m - 4) / 2;
            if (cells > r->lim->max_changes - total)
                return fs__mp_fail(r, FS_ETOOBIG, "batch: more than %zu changes",
                                   r->lim->max_changes);
            for (uint32_t k = 0; k < cells; k++) {
                uint64_t col;
                fs_value v;
                if (fs__mp_uint(r, &col, "change column") != 0)
                    return r->err;
                if (col >= tables[table].ncolumns)
                    return fs__mp_fail(r, FS_EMALFORMED, "row %u: %s has no column %llu", i,
                                       tables[table].name, (unsigned long long)col);
                if (fs__mp_value(r, &v, "change value") != 0)
                    return r->err;
                if (out != NULL) {
                    fs_change *c = &out[total];
                    memset(c, 0, sizeof *c);
                    c->table = (uint16_t)table;
                    c->column = (uint16_t)col;
                    memcpy(c->row, row, FS_ID_BYTES);
                    c->value = v;
                    c->version.hlc = hlc;
                    memcpy(c->version.device, devs[dev], FS_ID_BYTES);
                    if (gap != 0) {
                        c->prev.hlc = hlc - gap;
                        memcpy(c->prev.device, devs[prev_dev], FS_ID_BYTES);
                    }
                }
                total++;
            }
            fs__mp_leave(r);
        }
        fs__mp_leave(r); /* groups */
        fs__mp_leave(r); /* row */
    }
    fs__mp_leave(r); /* rows */
    fs__mp_leave(r); /* batch */
    *count = total;
    *ndevices = ndev;
    return 0;
}

/* Reads a batch in two passes: validate and count, then fill one allocation
 * holding the changes and the device ids. */
static int decode_batch(fs__mp *r, fs__msg_owned *own, const fs_change **changes, size_t *count)
{
    fs__mp save = *r;
    size_t n = 0;
    uint32_t ndev = 0;
    if (read_batch(r, NULL, NULL, &n, &ndev) != 0)
        return r->err;
    size_t bytes = n * sizeof(fs_change) + (size_t)ndev * FS_ID_BYTES;
    fs_change *arr = malloc(bytes ? bytes : 1);
    if (arr == NULL)
        return fs__mp_fail(r, FS_ENOMEM, "out of memory");
    own->changes = arr;
    *r = save;
    if (read_batch(r, arr, (uint8_t(*)[FS_ID_BYTES])(void *)(arr + n), &n, &ndev) != 0)
        return r->err;
    *changes = arr;
    *count = n;
    return 0;
}

/* Reads a compressed batch (protocol version 2): a bin of zstd frames whose
 * content is one or more plain batches. The limits apply as to one plain
 * batch in the message: max_changes in all, max_rows and max_devices in each
 * (each has its own dictionary), the nesting depth from where the bin is. */
static int decode_zbatch(fs__mp *r, fs__msg_owned *own, const fs_change **changes, size_t *count)
{
    const uint8_t *z;
    size_t zn;
    if (fs__mp_bin_upto(r, &z, &zn, r->lim->max_frame, "compressed batch") != 0)
        return r->err;
    size_t max_out = r->lim->max_frame;
    if (zn <= max_out / FS_ZBATCH_MAX_RATIO)
        max_out = zn * FS_ZBATCH_MAX_RATIO;
    char why[128] = "out of memory";
    int rc = fs__z_open(z, zn, max_out, &own->plain, &own->plain_len, why, sizeof why);
    if (rc != 0)
        return fs__mp_fail(r, rc, "%s", why);
    fs_proto_limits lim = *r->lim;
    fs_change *arr = NULL;
    uint8_t(*devs)[FS_ID_BYTES] = NULL;
    size_t total = 0, ndevs = 0;
    for (int fill = 0; fill < 2; fill++) {
        fs__mp in;
        fs__mp_init(&in, own->plain, own->plain_len, &lim);
        total = ndevs = 0;
        while (in.err == 0 && in.p != in.end) {
            size_t k = 0;
            uint32_t nd = 0;
            in.depth = r->depth;
            lim.max_changes = r->lim->max_changes - total;
            if (read_batch(&in, fill ? arr + total : NULL, fill ? devs + ndevs : NULL, &k, &nd) ==
                0) {
                total += k;
                ndevs += nd;
            }
        }
        if (in.err != 0)
            return fs__mp_fail(r, in.err, "compressed batch: %s", in.why);
        if (!fill) {
            size_t bytes = total * sizeof(fs_change) + ndevs * FS_ID_BYTES;
            arr = malloc(bytes ? bytes : 1);
            if (arr == NULL)
                return fs__mp_fail(r, FS_ENOMEM, "out of memory");
            own->changes = arr;
            devs = (uint8_t(*)[FS_ID_BYTES])(void *)(arr + total);
        }
    }
    *changes = arr;
    *count = total;
    return 0;
}

/* A batch field: plain or compressed. */
int fs__decode_batch_field(fs__mp *r, fs__msg_owned *own, const fs_change **changes, size_t *count)
{
    if (fs__mp_next_is_bin(r))
        return decode_zbatch(r, own, changes, count);
    return decode_batch(r, own, changes, count);
}
