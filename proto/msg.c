/*
 * The message codec: msgpack-c's packer writes messages (format table in
 * fieldsync/msg.h); the bounded reader in mpread.c reads them. Change batches
 * are grouped by row and by version, with a per-batch device dictionary and
 * clocks relative to the batch's smallest, which is what keeps a batch of
 * visits within 1.3x of its field values.
 */
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include <sodium.h>

#include "fieldsync/error.h"
#include "fieldsync/msg.h"
#include "mpread.h"
#include "zframe.h"

const fs_proto_limits fs_proto_default_limits = {
    16u << 20, /* max_frame */
    50000,     /* max_changes */
    20000,     /* max_rows */
    4096,      /* max_devices */
    FS_MAX_BLOB,
    6,     /* max_depth */
    50000, /* max_items */
};

#define MAX_SEALED_ENROLL 1024

/* 1 if the table exists and has the column. */
static int schema_cell_ok(uint64_t table, uint64_t column)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    return table < nt && column < tables[table].ncolumns;
}

/* ---- encoding ---- */

static int buf_write(void *data, const char *p, size_t n)
{
    return fs_buf_append(data, p, n) == 0 ? 0 : -1;
}

#define PK(call)                                                                         \
    do {                                                                                 \
        if ((call) != 0)                                                                 \
            return FS_ENOMEM;                                                            \
    } while (0)

static int pack_bin(msgpack_packer *pk, const void *p, size_t n)
{
    PK(msgpack_pack_bin(pk, n));
    PK(msgpack_pack_bin_body(pk, p, n));
    return 0;
}

static int pack_str(msgpack_packer *pk, const void *p, size_t n)
{
    PK(msgpack_pack_str(pk, n));
    PK(msgpack_pack_str_body(pk, p, n));
    return 0;
}

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
        return pack_str(pk, v->p, v->n);
    case FS_BLOB:
        return pack_bin(pk, v->p, v->n);
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
        if (!value_ok(&c->value) || !schema_cell_ok(c->table, c->column))
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
        if (pack_bin(pk, dd->ids[i], FS_ID_BYTES) != 0)
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
        if (pack_bin(pk, refs[i].c->row, FS_ID_BYTES) != 0)
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
        msgpack_packer_init(&pk, &seg, buf_write);
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
static int pack_batch_field(msgpack_packer *pk, uint32_t version, const fs_change *changes,
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
        rc = pack_bin(pk, z.data, z.len);
    else if (rc == 0)
        rc = pack_batch(pk, changes, n);
    fs_buf_free(&z);
    batch_free(&b);
    return rc;
}

static int encode_body(const fs_msg *m, uint32_t version, fs_buf *out)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_write);
    int rc = 0;
    switch (m->type) {
    case FS_MSG_HELLO:
        if (m->u.hello.vmin > m->u.hello.vmax)
            return FS_EINVAL;
        PK(msgpack_pack_array(&pk, 4));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_uint32(&pk, m->u.hello.vmin));
        PK(msgpack_pack_uint32(&pk, m->u.hello.vmax));
        rc = pack_bin(&pk, m->u.hello.eph, 32);
        break;
    case FS_MSG_WELCOME:
        PK(msgpack_pack_array(&pk, 5));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_uint32(&pk, m->u.welcome.version));
        rc = pack_bin(&pk, m->u.welcome.eph, 32);
        if (rc == 0)
            rc = pack_bin(&pk, m->u.welcome.server_pk, 32);
        if (rc == 0)
            rc = pack_bin(&pk, m->u.welcome.sig, 64);
        break;
    case FS_MSG_AUTH:
        PK(msgpack_pack_array(&pk, 3));
        PK(msgpack_pack_uint8(&pk, m->type));
        rc = pack_bin(&pk, m->u.auth.device_pk, 32);
        if (rc == 0)
            rc = pack_bin(&pk, m->u.auth.sig, 64);
        break;
    case FS_MSG_ENROLL:
        if (m->u.enroll.sealed_len > MAX_SEALED_ENROLL)
            return FS_EINVAL;
        PK(msgpack_pack_array(&pk, 4));
        PK(msgpack_pack_uint8(&pk, m->type));
        rc = pack_bin(&pk, m->u.enroll.device_pk, 32);
        if (rc == 0)
            rc = pack_bin(&pk, m->u.enroll.sig, 64);
        if (rc == 0)
            rc = pack_bin(&pk, m->u.enroll.sealed, m->u.enroll.sealed_len);
        break;
    case FS_MSG_READY:
        PK(msgpack_pack_array(&pk, 3));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_uint64(&pk, m->u.ready.server_time_ms));
        PK(msgpack_pack_uint64(&pk, m->u.ready.lease_expires_ms));
        break;
    case FS_MSG_PUSH:
        if (m->u.push.first_seq > m->u.push.last_seq)
            return FS_EINVAL;
        PK(msgpack_pack_array(&pk, 4));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_uint64(&pk, m->u.push.first_seq));
        PK(msgpack_pack_uint64(&pk, m->u.push.last_seq));
        rc = pack_batch_field(&pk, version, m->u.push.changes, m->u.push.groups, m->u.push.count);
        break;
    case FS_MSG_ACK:
        PK(msgpack_pack_array(&pk, 2));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_uint64(&pk, m->u.ack.upto_seq));
        break;
    case FS_MSG_REJECT:
        PK(msgpack_pack_array(&pk, 2));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_array(&pk, m->u.reject.count));
        for (size_t i = 0; rc == 0 && i < m->u.reject.count; i++) {
            const fs_reject_item *it = &m->u.reject.items[i];
            if (!schema_cell_ok(it->table, it->column) || !fs_utf8_valid(it->text, it->text_len))
                return FS_EINVAL;
            PK(msgpack_pack_array(&pk, 6));
            PK(msgpack_pack_uint16(&pk, it->table));
            rc = pack_bin(&pk, it->row, FS_ID_BYTES);
            PK(msgpack_pack_uint16(&pk, it->column));
            PK(msgpack_pack_uint64(&pk, it->hlc));
            PK(msgpack_pack_uint32(&pk, it->reason));
            if (rc == 0)
                rc = pack_str(&pk, it->text, it->text_len);
        }
        break;
    case FS_MSG_PULL:
        PK(msgpack_pack_array(&pk, 5));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_uint64(&pk, m->u.pull.cursor));
        PK(msgpack_pack_uint32(&pk, m->u.pull.max));
        PK(msgpack_pack_uint64(&pk, m->u.pull.local_seq));
        PK(msgpack_pack_uint64(&pk, m->u.pull.oldest_pending_ms));
        break;
    case FS_MSG_CHANGES:
        PK(msgpack_pack_array(&pk, 4));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_uint64(&pk, m->u.changes.cursor));
        PK(m->u.changes.more ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk));
        rc = pack_batch_field(&pk, version, m->u.changes.changes, m->u.changes.groups,
                              m->u.changes.count);
        break;
    case FS_MSG_POKE:
        PK(msgpack_pack_array(&pk, 2));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_uint64(&pk, m->u.poke.cursor));
        break;
    case FS_MSG_PURGE:
        PK(msgpack_pack_array(&pk, 2));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_array(&pk, m->u.purge.count));
        for (size_t i = 0; rc == 0 && i < m->u.purge.count; i++) {
            if (!schema_cell_ok(m->u.purge.items[i].table, 0))
                return FS_EINVAL;
            PK(msgpack_pack_array(&pk, 2));
            PK(msgpack_pack_uint16(&pk, m->u.purge.items[i].table));
            rc = pack_bin(&pk, m->u.purge.items[i].row, FS_ID_BYTES);
        }
        break;
    case FS_MSG_WIPE:
        if (m->u.wipe.reason == FS_REASON_NONE)
            return FS_EINVAL; /* an ending always says why */
        PK(msgpack_pack_array(&pk, 2));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_uint32(&pk, m->u.wipe.reason));
        break;
    case FS_MSG_ERROR:
        PK(msgpack_pack_array(&pk, 3));
        PK(msgpack_pack_uint8(&pk, m->type));
        if (m->u.error.reason == FS_REASON_NONE ||
            !fs_utf8_valid(m->u.error.text, m->u.error.text_len))
            return FS_EINVAL;
        PK(msgpack_pack_uint32(&pk, m->u.error.reason));
        rc = pack_str(&pk, m->u.error.text, m->u.error.text_len);
        break;
    case FS_MSG_BYE:
        PK(msgpack_pack_array(&pk, 1));
        PK(msgpack_pack_uint8(&pk, m->type));
        break;
    default:
        return FS_EINVAL;
    }
    return rc;
}

int fs_msg_encode_v(const fs_msg *m, uint32_t version, fs_buf *out)
{
    size_t start = out->len;
    int rc = encode_body(m, version, out);
    if (rc != 0)
        out->len = start; /* nothing half-written */
    return rc;
}

int fs_msg_encode(const fs_msg *m, fs_buf *out)
{
    return fs_msg_encode_v(m, 1, out);
}

/* ---- decoding ---- */

typedef struct owned {
    uint8_t *copy;  /* the message bytes: text and blobs point here */
    size_t copy_len;
    uint8_t *plain; /* a compressed batch, decompressed: its text and blobs point here */
    size_t plain_len;
    void *changes;  /* fs_change[] or item arrays */
} owned;

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
static int decode_batch(fs__mp *r, owned *own, const fs_change **changes, size_t *count)
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
static int decode_zbatch(fs__mp *r, owned *own, const fs_change **changes, size_t *count)
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
static int decode_batch_field(fs__mp *r, owned *own, const fs_change **changes, size_t *count)
{
    if (fs__mp_next_is_bin(r))
        return decode_zbatch(r, own, changes, count);
    return decode_batch(r, own, changes, count);
}

static int decode_body(fs__mp *r, fs_msg *m, owned *own, uint32_t nfields)
{
    uint64_t u;
    const char *s;
    switch (m->type) {
    case FS_MSG_HELLO:
        if (nfields != 4)
            break;
        if (fs__mp_u32(r, &m->u.hello.vmin, "hello vmin") == 0 &&
            fs__mp_u32(r, &m->u.hello.vmax, "hello vmax") == 0 &&
            fs__mp_bin_exact(r, m->u.hello.eph, 32, "hello key") == 0 &&
            m->u.hello.vmin > m->u.hello.vmax)
            fs__mp_fail(r, FS_EMALFORMED, "hello: vmin above vmax");
        return r->err;
    case FS_MSG_WELCOME:
        if (nfields != 5)
            break;
        if (fs__mp_u32(r, &m->u.welcome.version, "welcome version") == 0 &&
            fs__mp_bin_exact(r, m->u.welcome.eph, 32, "welcome key") == 0 &&
            fs__mp_bin_exact(r, m->u.welcome.server_pk, 32, "welcome identity") == 0)
            fs__mp_bin_exact(r, m->u.welcome.sig, 64, "welcome signature");
        return r->err;
    case FS_MSG_AUTH:
        if (nfields != 3)
            break;
        if (fs__mp_bin_exact(r, m->u.auth.device_pk, 32, "auth identity") == 0)
            fs__mp_bin_exact(r, m->u.auth.sig, 64, "auth signature");
        return r->err;
    case FS_MSG_ENROLL:
        if (nfields != 4)
            break;
        if (fs__mp_bin_exact(r, m->u.enroll.device_pk, 32, "enroll identity") == 0 &&
            fs__mp_bin_exact(r, m->u.enroll.sig, 64, "enroll signature") == 0 &&
            fs__mp_bin(r, &m->u.enroll.sealed, &m->u.enroll.sealed_len, "enroll request") == 0 &&
            m->u.enroll.sealed_len > MAX_SEALED_ENROLL)
            fs__mp_fail(r, FS_ETOOBIG, "enroll: request too long");
        return r->err;
    case FS_MSG_READY:
        if (nfields != 3)
            break;
        if (fs__mp_uint(r, &m->u.ready.server_time_ms, "ready time") == 0)
            fs__mp_uint(r, &m->u.ready.lease_expires_ms, "ready lease");
        return r->err;
    case FS_MSG_PUSH:
        if (nfields != 4)
            break;
        if (fs__mp_uint(r, &m->u.push.first_seq, "push first") == 0 &&
            fs__mp_uint(r, &m->u.push.last_seq, "push last") == 0) {
            if (m->u.push.first_seq > m->u.push.last_seq)
                return fs__mp_fail(r, FS_EMALFORMED, "push: first sequence above last");
            decode_batch_field(r, own, &m->u.push.changes, &m->u.push.count);
        }
        return r->err;
    case FS_MSG_ACK:
        if (nfields != 2)
            break;
        return fs__mp_uint(r, &m->u.ack.upto_seq, "ack");
    case FS_MSG_REJECT: {
        uint32_t n;
        if (nfields != 2)
            break;
        if (fs__mp_array(r, &n, "reject list") != 0)
            return r->err;
        if (n > r->lim->max_items)
            return fs__mp_fail(r, FS_ETOOBIG, "reject: %u entries is over the limit", n);
        fs_reject_item *items = calloc(n ? n : 1, sizeof *items);
        if (items == NULL)
            return fs__mp_fail(r, FS_ENOMEM, "out of memory");
        own->changes = items;
        for (uint32_t i = 0; i < n && r->err == 0; i++) {
            uint64_t table, col;
            if (fs__mp_array_of(r, 6, "reject entry") != 0 ||
                fs__mp_uint(r, &table, "reject table") != 0 ||
                fs__mp_bin_exact(r, items[i].row, FS_ID_BYTES, "reject row") != 0 ||
                fs__mp_uint(r, &col, "reject column") != 0 ||
                fs__mp_uint(r, &items[i].hlc, "reject clock") != 0 ||
                fs__mp_u32(r, &items[i].reason, "reject reason") != 0 ||
                fs__mp_str(r, &items[i].text, &items[i].text_len, "reject text") != 0)
                break;
            if (!schema_cell_ok(table, col))
                return fs__mp_fail(r, FS_EMALFORMED, "reject %u: no such table or column", i);
            items[i].table = (uint16_t)table;
            items[i].column = (uint16_t)col;
            fs__mp_leave(r);
        }
        fs__mp_leave(r);
        m->u.reject.items = items;
        m->u.reject.count = n;
        return r->err;
    }
    case FS_MSG_PULL:
        if (nfields != 5)
            break;
        if (fs__mp_uint(r, &m->u.pull.cursor, "pull cursor") == 0 &&
            fs__mp_u32(r, &m->u.pull.max, "pull max") == 0 &&
            fs__mp_uint(r, &m->u.pull.local_seq, "pull local seq") == 0)
            fs__mp_uint(r, &m->u.pull.oldest_pending_ms, "pull oldest pending");
        return r->err;
    case FS_MSG_CHANGES:
        if (nfields != 4)
            break;
        if (fs__mp_uint(r, &m->u.changes.cursor, "changes cursor") == 0 &&
            fs__mp_bool(r, &m->u.changes.more, "changes more") == 0)
            decode_batch_field(r, own, &m->u.changes.changes, &m->u.changes.count);
        return r->err;
    case FS_MSG_POKE:
        if (nfields != 2)
            break;
        return fs__mp_uint(r, &m->u.poke.cursor, "poke cursor");
    case FS_MSG_PURGE: {
        uint32_t n;
        if (nfields != 2)
            break;
        if (fs__mp_array(r, &n, "purge list") != 0)
            return r->err;
        if (n > r->lim->max_items)
            return fs__mp_fail(r, FS_ETOOBIG, "purge: %u entries is over the limit", n);
        fs_purge_item *items = calloc(n ? n : 1, sizeof *items);
        if (items == NULL)
            return fs__mp_fail(r, FS_ENOMEM, "out of memory");
        own->changes = items;
        for (uint32_t i = 0; i < n && r->err == 0; i++) {
            if (fs__mp_array_of(r, 2, "purge entry") != 0 ||
                fs__mp_uint(r, &u, "purge table") != 0)
                break;
            if (!schema_cell_ok(u, 0))
                return fs__mp_fail(r, FS_EMALFORMED, "purge %u: no such table", i);
            items[i].table = (uint16_t)u;
            fs__mp_bin_exact(r, items[i].row, FS_ID_BYTES, "purge row");
            fs__mp_leave(r);
        }
        fs__mp_leave(r);
        m->u.purge.items = items;
        m->u.purge.count = n;
        return r->err;
    }
    case FS_MSG_WIPE:
        if (nfields != 2)
            break;
        if (fs__mp_u32(r, &m->u.wipe.reason, "wipe reason") == 0 &&
            m->u.wipe.reason == FS_REASON_NONE)
            fs__mp_fail(r, FS_EMALFORMED, "wipe: no reason");
        return r->err;
    case FS_MSG_ERROR:
        if (nfields != 3)
            break;
        if (fs__mp_u32(r, &m->u.error.reason, "error reason") == 0 &&
            m->u.error.reason == FS_REASON_NONE)
            fs__mp_fail(r, FS_EMALFORMED, "error: no reason");
        else if (r->err == 0 && fs__mp_str(r, &s, &m->u.error.text_len, "error text") == 0)
            m->u.error.text = s;
        return r->err;
    case FS_MSG_BYE:
        if (nfields != 1)
            break;
        return 0;
    default:
        return fs__mp_fail(r, FS_EUNSUPPORTED, "unknown message type %u", (unsigned)m->type);
    }
    return fs__mp_fail(r, FS_EMALFORMED, "message type %u with %u fields", (unsigned)m->type,
                       nfields);
}

void fs_msg_free(fs_msg *m)
{
    if (m == NULL)
        return;
    owned *own = m->arena_;
    if (own != NULL) {
        free(own->changes);
        if (own->copy != NULL)
            sodium_memzero(own->copy, own->copy_len); /* customer text */
        free(own->copy);
        if (own->plain != NULL)
            sodium_memzero(own->plain, own->plain_len);
        free(own->plain);
        free(own);
    }
    free(m);
}

int fs_msg_decode(const uint8_t *p, size_t n, const fs_proto_limits *limits, fs_msg **out,
                  char *why, size_t whylen)
{
    *out = NULL;
    if (why != NULL && whylen > 0)
        why[0] = '\0';
    if (limits == NULL)
        limits = &fs_proto_default_limits;
    fs__mp r;
    fs__mp_init(&r, p, 0, limits);
    if (n > limits->max_frame) {
        fs__mp_fail(&r, FS_ETOOBIG, "message of %zu bytes is over the limit", n);
    } else if (n == 0) {
        fs__mp_fail(&r, FS_EMALFORMED, "empty message");
    }
    fs_msg *m = NULL;
    owned *own = NULL;
    if (r.err == 0) {
        m = calloc(1, sizeof *m);
        own = calloc(1, sizeof *own);
        uint8_t *copy = malloc(n);
        if (m == NULL || own == NULL || copy == NULL) {
            free(m);
            free(own);
            free(copy);
            return FS_ENOMEM;
        }
        memcpy(copy, p, n);
        own->copy = copy;
        own->copy_len = n;
        m->arena_ = own;
        fs__mp_init(&r, copy, n, limits);
        uint32_t nfields;
        uint64_t type;
        if (fs__mp_array(&r, &nfields, "message") == 0 && nfields == 0)
            fs__mp_fail(&r, FS_EMALFORMED, "message: empty array");
        if (r.err == 0 && fs__mp_uint(&r, &type, "message type") == 0) {
            m->type = (fs_msg_type)(type > 255 ? 0 : type);
            if (type > 255)
                fs__mp_fail(&r, FS_EUNSUPPORTED, "unknown message type %llu",
                            (unsigned long long)type);
            else
                decode_body(&r, m, own, nfields);
        }
        if (r.err == 0 && !fs__mp_done(&r))
            fs__mp_fail(&r, FS_EMALFORMED, "%zu bytes after the message",
                        (size_t)(r.end - r.p));
    }
    if (r.err != 0) {
        if (why != NULL && whylen > 0)
            snprintf(why, whylen, "%s", r.why);
        fs_msg_free(m);
        return r.err;
    }
    *out = m;
    return 0;
}

/* ---- reassembly of websocket fragments ---- */

void fs_reassembler_init(fs_reassembler *r, size_t max_frame)
{
    fs_buf_init(&r->buf);
    r->max_frame = max_frame;
}

int fs_reassembler_add(fs_reassembler *r, const uint8_t *p, size_t n, int is_final,
                       const uint8_t **frame, size_t *len)
{
    *frame = NULL;
    *len = 0;
    if (n > r->max_frame - r->buf.len) {
        fs_buf_reset(&r->buf);
        return FS_ETOOBIG;
    }
    if (is_final && r->buf.len == 0) { /* the common case: one fragment */
        *frame = p;
        *len = n;
        return 1;
    }
    int rc = fs_buf_append(&r->buf, p, n);
    if (rc != 0) {
        fs_buf_reset(&r->buf);
        return rc;
    }
    if (!is_final)
        return 0;
    *frame = r->buf.data;
    *len = r->buf.len;
    r->buf.len = 0; /* the bytes stay valid until the next call */
    return 1;
}

void fs_reassembler_free(fs_reassembler *r)
{
    fs_buf_free(&r->buf);
}
