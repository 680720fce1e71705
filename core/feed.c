/*
 * The feed of a server's replica: every change it accepts or makes, in
 * order, with a feed sequence. Devices pull it by cursor (fs_feed_since); a
 * device that has pulled all of it holds the server's state.
 *
 * One feed entry holds the changes of one row write: the columns a device
 * wrote together, or a row re-fed to its new owner. A row id, table and
 * sequence are stored once per entry rather than once per column, and the
 * columns of one write share their clock, so an entry is a short packed
 * blob (format below). A 100,000-visit push wrote a million feed rows
 * before, and spent a third of its time doing so (bench_sync).
 *
 * An entry's changes, each in turn (varint: LEB128, at most 10 bytes;
 * zigzag: signed as unsigned, 0, -1, 1, -2, ...):
 *   header   1 byte: value type (bits 0-2, fs_vtype), 0x08 when prev is set
 *   col      varint (< 65,536)
 *   hlc      zigzag varint: the clock less the previous change's in the
 *            entry (the first: less 0)
 *   dev      varint: the writer's index in the device dictionary
 *   prev     (0x08 only) zigzag varint: the clock less prev's clock; varint
 *            prev's device index
 *   value    INT: zigzag varint; REAL: 8 bytes, IEEE 754 little-endian;
 *            TEXT, BLOB: varint length, then the bytes; NULL: nothing
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fieldsync/replica_server.h"
#include "replica_int.h"

#define PREV_SET 0x08u

/* ---- encoding ---- */

static int reserve(fs_replica *r, size_t more)
{
    fs__feed_pending *e = &r->feed;
    if (more <= e->cap - e->len)
        return 0;
    if (more > SIZE_MAX / 2 - e->len)
        return fs__fail(r, FS_ENOMEM, "out of memory");
    size_t cap = e->cap ? e->cap : 1024;
    while (cap - e->len < more)
        cap *= 2;
    uint8_t *p = malloc(cap);
    if (p == NULL)
        return fs__fail(r, FS_ENOMEM, "out of memory");
    if (e->len > 0)
        memcpy(p, e->buf, e->len);
    if (e->buf != NULL) {
        sodium_memzero(e->buf, e->cap); /* values are customers' text */
        free(e->buf);
    }
    e->buf = p;
    e->cap = cap;
    return 0;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static uint64_t zigzag(uint64_t d) /* d: a difference, modulo 2^64 */
{
    return (d << 1) ^ (uint64_t)(-(int64_t)(d >> 63));
}

static uint64_t unzigzag(uint64_t z)
{
    return (z >> 1) ^ (uint64_t)(-(int64_t)(z & 1));
}

void fs__feed_discard(fs_replica *r)
{
    r->feed.len = 0;
    r->feed.n = 0;
    r->feed.seq = 0;
}

int fs__feed_flush(fs_replica *r)
{
    fs__feed_pending *e = &r->feed;
    if (e->n == 0)
        return 0;
    sqlite3_stmt *st = r->feed_insert;
    sqlite3_bind_int(st, 1, (int)e->tix);
    sqlite3_bind_blob(st, 2, e->row, FS_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)e->n);
    sqlite3_bind_blob(st, 4, e->buf, (int)e->len, SQLITE_STATIC);
    if (e->seq > 0)
        sqlite3_bind_int64(st, 5, e->seq);
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    fs__feed_discard(r);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "writing the feed");
}

int fs__feed_append(fs_replica *r, unsigned tix, unsigned col, const uint8_t row[FS_ID_BYTES],
                    const fs_value *value, uint64_t hlc, uint32_t dev, uint64_t prev_hlc,
                    uint32_t prev_dev)
{
    if (!r->keep_feed)
        return 0;
    fs__feed_pending *e = &r->feed;
    if (e->n > 0 && (e->tix != tix || memcmp(e->row, row, FS_ID_BYTES) != 0 ||
                     e->n >= FS__FEED_ENTRY_MAX)) {
        int rc = fs__feed_flush(r);
        if (rc != 0)
            return rc;
    }
    size_t vn = (value->type == FS_TEXT || value->type == FS_BLOB) ? value->n : 0;
    if (vn > INT32_MAX || col > 0xFFFF || (unsigned)value->type > FS_BLOB)
        return fs__fail(r, FS_EINVAL, "a change the feed cannot hold");
    int rc = reserve(r, 1 + 3 * 10 + 2 * 5 + 10 + vn);
    if (rc != 0)
        return rc;
    if (e->n == 0) {
        e->tix = tix;
        memcpy(e->row, row, FS_ID_BYTES);
        e->last_hlc = 0;
    }
    uint8_t *p = e->buf + e->len;
    size_t k = 0;
    p[k++] = (uint8_t)((unsigned)value->type | (prev_hlc != 0 ? PREV_SET : 0));
    k += put_varint(p + k, col);
    k += put_varint(p + k, zigzag(hlc - e->last_hlc));
    k += put_varint(p + k, dev);
    if (prev_hlc != 0) {
        k += put_varint(p + k, zigzag(hlc - prev_hlc));
        k += put_varint(p + k, prev_dev);
    }
    switch (value->type) {
    case FS_INT:
        k += put_varint(p + k, zigzag((uint64_t)value->i));
        break;
    case FS_REAL: {
        uint64_t bits;
        memcpy(&bits, &value->r, sizeof bits);
        for (int b = 0; b < 8; b++)
            p[k++] = (uint8_t)(bits >> (8 * b));
        break;
    }
    case FS_TEXT:
    case FS_BLOB:
        k += put_varint(p + k, vn);
        if (vn > 0)
            memcpy(p + k, value->p, vn);
        k += vn;
        break;
    case FS_NULL:
        break;
    }
    e->len += k;
    e->last_hlc = hlc;
    e->n++;
    return 0;
}

/* ---- decoding ---- */

static int get_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*pos >= len)
            return FS_EFORMAT;
        uint8_t b = p[(*pos)++];
        if (shift == 63 && b > 1)
            return FS_EFORMAT; /* more than 64 bits */
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return FS_EFORMAT;
}

int fs__feed_next(const uint8_t *p, size_t len, size_t *pos, uint64_t *last_hlc,
                  fs__feed_item *out)
{
    memset(out, 0, sizeof *out);
    if (*pos >= len)
        return FS_EFORMAT;
    uint8_t h = p[(*pos)++];
    unsigned type = h & 0x07u;
    if ((h & ~(0x07u | PREV_SET)) != 0 || type > FS_BLOB)
        return FS_EFORMAT;
    uint64_t col, dhlc, dev, v;
    if (get_varint(p, len, pos, &col) != 0 || col > 0xFFFF ||
        get_varint(p, len, pos, &dhlc) != 0 || get_varint(p, len, pos, &dev) != 0 ||
        dev > UINT32_MAX)
        return FS_EFORMAT;
    out->col = (unsigned)col;
    out->hlc = *last_hlc + unzigzag(dhlc);
    out->dev = (uint32_t)dev;
    if (h & PREV_SET) {
        uint64_t dprev, pdev;
        if (get_varint(p, len, pos, &dprev) != 0 || get_varint(p, len, pos, &pdev) != 0 ||
            pdev > UINT32_MAX)
            return FS_EFORMAT;
        out->prev_hlc = out->hlc - unzigzag(dprev);
        out->prev_dev = (uint32_t)pdev;
    }
    out->value.type = (fs_vtype)type;
    switch (out->value.type) {
    case FS_INT:
        if (get_varint(p, len, pos, &v) != 0)
            return FS_EFORMAT;
        out->value.i = (int64_t)unzigzag(v);
        break;
    case FS_REAL: {
        if (len - *pos < 8)
            return FS_EFORMAT;
        uint64_t bits = 0;
        for (int b = 0; b < 8; b++)
            bits |= (uint64_t)p[*pos + (size_t)b] << (8 * b);
        memcpy(&out->value.r, &bits, sizeof bits);
        *pos += 8;
        break;
    }
    case FS_TEXT:
    case FS_BLOB:
        if (get_varint(p, len, pos, &v) != 0 || v > len - *pos)
            return FS_EFORMAT;
        out->value.p = v > 0 ? (const void *)(p + *pos) : (const void *)"";
        out->value.n = (size_t)v;
        *pos += (size_t)v;
        break;
    case FS_NULL:
        break;
    }
    *last_hlc = out->hlc;
    return 0;
}

/* ---- format 1 ---- */

int fs__feed_upgrade(fs_replica *r)
{
    int src = sqlite3_exec(r->db, "ALTER TABLE feed RENAME TO feed_v1;" FS__FEED_TABLE_SQL, NULL,
                           NULL, NULL);
    if (src != SQLITE_OK)
        return fs__dbfail(r, src, "converting the feed");
    sqlite3_stmt *rd = NULL;
    src = sqlite3_prepare_v2(r->db, FS__FEED_INSERT_SQL, -1, &r->feed_insert, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_prepare_v2(r->db,
                                 "SELECT seq,tbl,col,row,value,hlc,dev,prev_hlc,prev_dev FROM feed_v1"
                                 " ORDER BY seq",
                                 -1, &rd, NULL);
    int rc = src == SQLITE_OK ? 0 : fs__dbfail(r, src, "converting the feed");
    while (rc == 0 && (src = sqlite3_step(rd)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(rd, 3) != FS_ID_BYTES) {
            rc = fs__fail(r, FS_EFORMAT, "the feed entry at %lld is damaged",
                          (long long)sqlite3_column_int64(rd, 0));
            break;
        }
        fs_value v;
        fs__value_from_sqlite(sqlite3_column_value(rd, 4), &v);
        rc = fs__feed_append(r, (unsigned)sqlite3_column_int(rd, 1),
                             (unsigned)sqlite3_column_int(rd, 2), sqlite3_column_blob(rd, 3), &v,
                             (uint64_t)sqlite3_column_int64(rd, 5),
                             (uint32_t)sqlite3_column_int64(rd, 6),
                             (uint64_t)sqlite3_column_int64(rd, 7),
                             (uint32_t)sqlite3_column_int64(rd, 8));
        if (rc == FS_EINVAL) /* a column or value no entry can hold */
            rc = fs__fail(r, FS_EFORMAT, "the feed entry at %lld is damaged",
                          (long long)sqlite3_column_int64(rd, 0));
        r->feed.seq = sqlite3_column_int64(rd, 0); /* the run's last, so far */
    }
    if (rc == 0 && src != SQLITE_DONE)
        rc = fs__dbfail(r, src, "converting the feed");
    if (rc == 0)
        rc = fs__feed_flush(r);
    fs__feed_discard(r);
    sqlite3_finalize(rd);
    sqlite3_finalize(r->feed_insert);
    r->feed_insert = NULL;
    if (rc != 0)
        return rc;
    src = sqlite3_exec(r->db, "DROP TABLE feed_v1; UPDATE meta SET v=2 WHERE k='feed';", NULL,
                       NULL, NULL);
    if (src != SQLITE_OK)
        return fs__dbfail(r, src, "converting the feed");
    r->feed_format = FS__FEED_FORMAT;
    return 0;
}

/* ---- reading ---- */

/* Decodes the feed entry st stands on (seq, tbl, row, n, changes) into
 * cs->changes from *i on, its values' bytes at *data; count and *budget:
 * the room the caller sized. */
static int decode_entry(fs_replica *r, sqlite3_stmt *st, fs_changeset *cs, size_t count,
                        size_t *ip, char **datap, size_t *budget)
{
    int rc = 0;
    size_t i = *ip;
    char *data = *datap;
    sqlite3_int64 seq = sqlite3_column_int64(st, 0);
    const uint8_t *p = sqlite3_column_blob(st, 4);
    size_t len = (size_t)sqlite3_column_bytes(st, 4), pos = 0;
    sqlite3_int64 n = sqlite3_column_int64(st, 3);
    if (sqlite3_column_bytes(st, 2) != FS_ID_BYTES || n <= 0 || (size_t)n > count - i ||
        sqlite3_column_type(st, 4) != SQLITE_BLOB || len + (size_t)n > *budget)
        return fs__fail(r, FS_EFORMAT, "the feed entry at %lld is damaged", (long long)seq);
    *budget -= len + (size_t)n;
    const void *row = sqlite3_column_blob(st, 2);
    unsigned tix = (unsigned)sqlite3_column_int(st, 1);
    uint64_t hlc = 0;
    for (sqlite3_int64 k = 0; k < n; k++) {
        fs__feed_item it;
        /* a writer (and a prev's) must be a device the dictionary has */
        if (fs__feed_next(p, len, &pos, &hlc, &it) != 0 || it.dev == 0 || it.dev > r->ndevs ||
            (it.prev_hlc != 0 && (it.prev_dev == 0 || it.prev_dev > r->ndevs))) {
            rc = fs__fail(r, FS_EFORMAT, "the feed entry at %lld is damaged", (long long)seq);
            break;
        }
        fs_change *ch = &cs->changes[i++];
        memset(ch, 0, sizeof *ch);
        ch->table = (uint16_t)tix;
        ch->column = (uint16_t)it.col;
        memcpy(ch->row, row, FS_ID_BYTES);
        ch->value = it.value;
        if (it.value.type == FS_TEXT || it.value.type == FS_BLOB) {
            if (it.value.n > 0)
                memcpy(data, it.value.p, it.value.n);
            data[it.value.n] = '\0';
            ch->value.p = data;
            data += it.value.n + 1;
        }
        ch->version.hlc = it.hlc;
        memcpy(ch->version.device, fs__dev_id(r, it.dev), FS_ID_BYTES);
        ch->prev.hlc = it.prev_hlc;
        memcpy(ch->prev.device, fs__dev_id(r, it.prev_dev), FS_ID_BYTES);
    }
    if (rc == 0 && pos != len)
        rc = fs__fail(r, FS_EFORMAT, "the feed entry at %lld is damaged", (long long)seq);
    if (cs->first_seq == 0)
        cs->first_seq = (uint64_t)seq;
    cs->last_seq = (uint64_t)seq;
    *ip = i;
    *datap = data;
    return rc;
}

int fs_feed_since(fs_replica *r, uint64_t after, size_t max, fs_changeset **out)
{
    return fs_feed_since_bytes(r, after, max, SIZE_MAX, out);
}

/* A batch of feed entries being read: what the first pass counted of them,
 * then the one allocation that holds their changes and values' bytes. */
typedef struct feed_batch {
    size_t count, bytes, packed; /* changes, their bytes with NULs, packed bytes */
    fs_changeset *cs;
    char *mem, *data; /* the allocation; where the values' bytes go next */
} feed_batch;

/* First pass: counts the entry at seq of n changes and len packed bytes
 * (is_blob: stored as a blob) into b. 1: taken; 0: it would pass max
 * changes or max_bytes, and it is not the first (stop before it); else an
 * error for a damaged entry. */
static int batch_count(fs_replica *r, feed_batch *b, uint64_t seq, sqlite3_int64 n,
                       sqlite3_int64 len, int is_blob, size_t max, size_t max_bytes)
{
    /* length() of a TEXT counts characters: only a blob's is its size */
    if (n <= 0 || n > FS__FEED_ENTRY_MAX || len <= 0 || !is_blob)
        return fs__fail(r, FS_EFORMAT, "the feed entry at %llu is damaged",
                        (unsigned long long)seq);
    if (b->count > 0 && (b->count + (size_t)n > max || (size_t)len > max_bytes ||
                         b->packed > max_bytes - (size_t)len))
        return 0;
    b->packed += (size_t)len;
    b->count += (size_t)n;
    b->bytes += (size_t)len + (size_t)n; /* a NUL after each value */
    return 1;
}

static int batch_alloc(fs_replica *r, feed_batch *b)
{
    b->cs = calloc(1, sizeof *b->cs);
    b->mem = malloc(b->count * sizeof(fs_change) + b->bytes + 1);
    if (b->cs == NULL || b->mem == NULL) {
        free(b->cs);
        free(b->mem);
        b->cs = NULL;
        return fs__fail(r, FS_ENOMEM, "out of memory");
    }
    b->cs->changes = (fs_change *)(void *)b->mem;
    b->data = b->mem + b->count * sizeof(fs_change);
    return 0;
}

/* Ends the second pass: *out gets the changes decoded (i of them), or on an
 * error the allocation is wiped and freed. */
static int batch_end(feed_batch *b, size_t i, int rc, fs_changeset **out)
{
    b->cs->count = i;
    if (rc != 0) {
        sodium_memzero(b->mem, b->count * sizeof(fs_change) + b->bytes + 1);
        fs_changeset_free(b->cs); /* mem with it */
        return rc;
    }
    *out = b->cs;
    return 0;
}

int fs_feed_since_bytes(fs_replica *r, uint64_t after, size_t max, size_t max_bytes,
                        fs_changeset **out)
{
    *out = NULL;
    if (!r->keep_feed)
        return fs__fail(r, FS_ESTATE, "this replica keeps no feed");
    if (max == 0)
        return fs__fail(r, FS_EINVAL, "max must be positive");
    int rc = fs__feed_flush(r);
    if (rc != 0)
        return rc;
    if (after > INT64_MAX)
        after = INT64_MAX;
    /* Whole entries, up to max changes and max_bytes of packed changes (the
     * first entry in any case); then one allocation: the changes, and their
     * values' bytes after them. */
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db,
                                 "SELECT seq, n, length(changes), typeof(changes)='blob' FROM feed"
                                 " WHERE seq>?1 ORDER BY seq",
                                 -1, &st, NULL);
    if (src != SQLITE_OK)
        return fs__dbfail(r, src, "reading the feed");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)after);
    feed_batch b = {0};
    sqlite3_int64 last = (sqlite3_int64)after;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_int64 seq = sqlite3_column_int64(st, 0);
        int took = batch_count(r, &b, (uint64_t)seq, sqlite3_column_int64(st, 1),
                               sqlite3_column_int64(st, 2), sqlite3_column_int(st, 3), max,
                               max_bytes);
        if (took < 0) {
            sqlite3_finalize(st);
            return took;
        }
        if (took == 0)
            break;
        last = seq;
        if (b.count >= max)
            break;
    }
    sqlite3_finalize(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return fs__dbfail(r, src, "reading the feed");
    if ((rc = batch_alloc(r, &b)) != 0)
        return rc;
    src = sqlite3_prepare_v2(r->db,
                             "SELECT seq, tbl, row, n, changes FROM feed WHERE seq>?1 AND seq<=?2"
                             " ORDER BY seq",
                             -1, &st, NULL);
    if (src != SQLITE_OK) {
        fs_changeset_free(b.cs); /* mem with it */
        return fs__dbfail(r, src, "reading the feed");
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)after);
    sqlite3_bind_int64(st, 2, last);
    size_t i = 0, budget = b.bytes; /* what the first pass counted is all there is room for */
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW)
        rc = decode_entry(r, st, b.cs, b.count, &i, &b.data, &budget);
    sqlite3_finalize(st);
    if (rc == 0 && src != SQLITE_DONE)
        rc = fs__dbfail(r, src, "reading the feed");
    return batch_end(&b, i, rc, out);
}

int fs_feed_entries(fs_replica *r, const uint64_t *seqs, size_t nseqs, size_t max,
                    size_t max_bytes, fs_changeset **out)
{
    *out = NULL;
    if (!r->keep_feed)
        return fs__fail(r, FS_ESTATE, "this replica keeps no feed");
    if (max == 0)
        return fs__fail(r, FS_EINVAL, "max must be positive");
    int rc = fs__feed_flush(r);
    if (rc != 0)
        return rc;
    /* As fs_feed_since_bytes: first the sizes, up to the bounds (the first
     * entry in any case), then one allocation and the entries. */
    sqlite3_stmt *st = NULL;
    rc = fs_replica_stmt(r, "SELECT n, length(changes), typeof(changes)='blob' FROM feed WHERE seq=?1",
                         &st);
    if (rc != 0)
        return rc;
    int src;
    feed_batch b = {0};
    size_t take = 0;
    for (; take < nseqs; take++) {
        if (seqs[take] == 0 || seqs[take] > INT64_MAX || (take > 0 && seqs[take] <= seqs[take - 1])) {
            fs_replica_stmt_done(r, st);
            return fs__fail(r, FS_EINVAL, "feed sequences must ascend");
        }
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)seqs[take]);
        src = sqlite3_step(st);
        if (src != SQLITE_ROW) {
            fs_replica_stmt_done(r, st);
            if (src == SQLITE_DONE)
                return fs__fail(r, FS_ENOTFOUND, "no feed entry at %llu",
                                (unsigned long long)seqs[take]);
            return fs__dbfail(r, src, "reading the feed");
        }
        int took = batch_count(r, &b, seqs[take], sqlite3_column_int64(st, 0),
                               sqlite3_column_int64(st, 1), sqlite3_column_int(st, 2), max,
                               max_bytes);
        if (took < 0) {
            fs_replica_stmt_done(r, st);
            return took;
        }
        if (took == 0)
            break;
        if (b.count >= max) {
            take++;
            break;
        }
    }
    fs_replica_stmt_done(r, st);
    if ((rc = batch_alloc(r, &b)) != 0)
        return rc;
    rc = fs_replica_stmt(r, "SELECT seq, tbl, row, n, changes FROM feed WHERE seq=?1", &st);
    if (rc != 0) {
        fs_changeset_free(b.cs);
        return rc;
    }
    size_t i = 0, budget = b.bytes;
    for (size_t k = 0; rc == 0 && k < take; k++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)seqs[k]);
        src = sqlite3_step(st);
        if (src == SQLITE_ROW)
            rc = decode_entry(r, st, b.cs, b.count, &i, &b.data, &budget);
        else /* gone since the first pass: not within one transaction */
            rc = src == SQLITE_DONE ? fs__fail(r, FS_ENOTFOUND, "no feed entry at %llu",
                                               (unsigned long long)seqs[k])
                                    : fs__dbfail(r, src, "reading the feed");
    }
    fs_replica_stmt_done(r, st);
    return batch_end(&b, i, rc, out);
}

int fs_feed_last(fs_replica *r, uint64_t *out)
{
    *out = 0;
    if (!r->keep_feed)
        return fs__fail(r, FS_ESTATE, "this replica keeps no feed");
    int rc = fs__feed_flush(r);
    if (rc != 0)
        return rc;
    return fs__query_u64(r, "SELECT coalesce(max(seq),0) FROM feed", out);
}

/* The tag of an entry (fs_feed_entry_tag), from its parts. */
static uint64_t entry_tag(uint64_t seq, uint32_t tbl, const void *row, size_t rowlen,
                          const void *changes, size_t len)
{
    crypto_generichash_state h;
    uint8_t head[12], digest[8];
    for (int i = 0; i < 8; i++)
        head[i] = (uint8_t)(seq >> (8 * i));
    for (int i = 0; i < 4; i++)
        head[8 + i] = (uint8_t)(tbl >> (8 * i));
    crypto_generichash_init(&h, NULL, 0, sizeof digest);
    crypto_generichash_update(&h, head, sizeof head);
    crypto_generichash_update(&h, row, (unsigned long long)rowlen);
    crypto_generichash_update(&h, changes, (unsigned long long)len);
    crypto_generichash_final(&h, digest, sizeof digest);
    uint64_t tag = 0;
    for (int i = 0; i < 8; i++)
        tag |= (uint64_t)digest[i] << (8 * i);
    return tag != 0 ? tag : 1; /* 0 says "no entry" */
}

int fs_feed_entry_tag(fs_replica *r, uint64_t seq, uint64_t *out)
{
    *out = 0;
    if (!r->keep_feed)
        return fs__fail(r, FS_ESTATE, "this replica keeps no feed");
    if (seq == 0 || seq > INT64_MAX)
        return 0;
    int rc = fs__feed_flush(r);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = NULL;
    rc = fs_replica_stmt(r, "SELECT tbl, row, changes FROM feed WHERE seq=?1", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *out = entry_tag(seq, (uint32_t)sqlite3_column_int(st, 0), sqlite3_column_blob(st, 1),
                         (size_t)sqlite3_column_bytes(st, 1), sqlite3_column_blob(st, 2),
                         (size_t)sqlite3_column_bytes(st, 2));
        src = SQLITE_DONE;
    }
    fs_replica_stmt_done(r, st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "reading a feed entry");
}

/* ---- compaction (issue 21.1) ---- */

int fs_feed_horizon(fs_replica *r, uint64_t *out)
{
    *out = 0;
    if (!r->keep_feed)
        return fs__fail(r, FS_ESTATE, "this replica keeps no feed");
    return fs__query_u64(r, "SELECT coalesce((SELECT v FROM meta WHERE k='feed_horizon'),0)", out);
}

int fs_feed_horizon_before(fs_replica *r, uint64_t cutoff_ms, uint64_t *out)
{
    uint64_t start = 0, head = 0;
    *out = 0;
    int rc = fs_feed_horizon(r, &start);
    if (rc == 0)
        rc = fs_feed_last(r, &head);
    if (rc != 0)
        return rc;
    *out = head + 1 > start ? head + 1 : start;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db, "SELECT seq, changes FROM feed WHERE seq>=?1 ORDER BY seq",
                                 -1, &st, NULL);
    if (src != SQLITE_OK)
        return fs__dbfail(r, src, "reading the feed");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)(start > INT64_MAX ? INT64_MAX : start));
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const uint8_t *p = sqlite3_column_blob(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1), pos = 0;
        uint64_t last = 0;
        fs__feed_item it;
        if (p == NULL || fs__feed_next(p, len, &pos, &last, &it) != 0) {
            rc = fs__fail(r, FS_EFORMAT, "the feed entry at %lld is damaged",
                          (long long)sqlite3_column_int64(st, 0));
            break;
        }
        if ((it.hlc >> 16) >= cutoff_ms) {
            *out = (uint64_t)sqlite3_column_int64(st, 0);
            break;
        }
    }
    sqlite3_finalize(st);
    if (rc == 0 && src != SQLITE_ROW && src != SQLITE_DONE)
        rc = fs__dbfail(r, src, "reading the feed");
    return rc;
}

typedef struct compact_entry {
    sqlite3_int64 seq;
    sqlite3_int64 n;
    uint8_t *blob;
    size_t len;
} compact_entry;

static void compact_entries_free(compact_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (e[i].blob != NULL)
            sodium_memzero(e[i].blob, e[i].len); /* values are customers' text */
        free(e[i].blob);
    }
    free(e);
}

/* Reads the entries of one row, newest first, into *out (copies). */
static int compact_load(fs_replica *r, unsigned tbl, const uint8_t *row, compact_entry **out,
                        size_t *count)
{
    *out = NULL;
    *count = 0;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db,
                                 "SELECT seq, n, changes FROM feed WHERE tbl=?1 AND row=?2"
                                 " ORDER BY seq DESC",
                                 -1, &st, NULL);
    if (src != SQLITE_OK)
        return fs__dbfail(r, src, "reading the feed");
    sqlite3_bind_int(st, 1, (int)tbl);
    sqlite3_bind_blob(st, 2, row, FS_ID_BYTES, SQLITE_STATIC);
    size_t cap = 0, n = 0;
    compact_entry *e = NULL;
    int rc = 0;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_int64 k = sqlite3_column_int64(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 2);
        if (k <= 0 || k > FS__FEED_ENTRY_MAX || len == 0 ||
            sqlite3_column_type(st, 2) != SQLITE_BLOB) {
            rc = fs__fail(r, FS_EFORMAT, "the feed entry at %lld is damaged",
                          (long long)sqlite3_column_int64(st, 0));
            break;
        }
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            compact_entry *more = realloc(e, ncap * sizeof *e);
            if (more == NULL) {
                rc = fs__fail(r, FS_ENOMEM, "out of memory");
                break;
            }
            e = more;
            cap = ncap;
        }
        e[n].seq = sqlite3_column_int64(st, 0);
        e[n].n = k;
        e[n].len = len;
        e[n].blob = malloc(len);
        if (e[n].blob == NULL) {
            rc = fs__fail(r, FS_ENOMEM, "out of memory");
            break;
        }
        memcpy(e[n].blob, sqlite3_column_blob(st, 2), len);
        n++;
    }
    sqlite3_finalize(st);
    if (rc == 0 && src != SQLITE_DONE)
        rc = fs__dbfail(r, src, "reading the feed");
    if (rc != 0) {
        compact_entries_free(e, n);
        return rc;
    }
    *out = e;
    *count = n;
    return 0;
}

/* Deletes the entry at seq, keeping its tag in feed_was: a device whose
 * cursor stands there holds that tag, and its cursor is still in this feed
 * (fs_feed_tag_held). */
static int compact_delete(fs_replica *r, sqlite3_int64 seq, unsigned tbl, const uint8_t *row,
                          const compact_entry *e)
{
    sqlite3_stmt *st = NULL;
    uint64_t tag = entry_tag((uint64_t)seq, (uint32_t)tbl, row, FS_ID_BYTES, e->blob, e->len);
    int src = sqlite3_prepare_v2(r->db, "INSERT OR IGNORE INTO feed_was(seq, tag) VALUES(?1, ?2)",
                                 -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, seq);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)tag);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (src != SQLITE_DONE)
        return fs__dbfail(r, src, "compacting the feed");
    src = sqlite3_prepare_v2(r->db, "DELETE FROM feed WHERE seq=?1", -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, seq);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "compacting the feed");
}

/* Compacts one row's entries: walking from the newest, a change below the
 * horizon to a column a newer change (a later entry's, or a later one of
 * the same entry) already holds is dropped. Columns past 63 are kept (no
 * table has so many). */
static int compact_row(fs_replica *r, fs_feed_compaction *c, unsigned tbl, const uint8_t *row)
{
    compact_entry *e = NULL;
    size_t ne = 0;
    int rc = compact_load(r, tbl, row, &e, &ne);
    if (rc != 0)
        return rc;
    fs__feed_item items[FS__FEED_ENTRY_MAX];
    uint64_t covered = 0;
    for (size_t i = 0; rc == 0 && i < ne; i++) {
        size_t pos = 0;
        uint64_t last = 0, mine = 0;
        sqlite3_int64 n = e[i].n;
        for (sqlite3_int64 k = 0; k < n; k++)
            if (fs__feed_next(e[i].blob, e[i].len, &pos, &last, &items[k]) != 0 ||
                items[k].dev == 0 || items[k].dev > r->ndevs) {
                rc = fs__fail(r, FS_EFORMAT, "the feed entry at %lld is damaged",
                              (long long)e[i].seq);
                break;
            }
        if (rc == 0 && pos != e[i].len)
            rc = fs__fail(r, FS_EFORMAT, "the feed entry at %lld is damaged", (long long)e[i].seq);
        if (rc != 0)
            break;
        if ((uint64_t)e[i].seq >= c->horizon) {
            for (sqlite3_int64 k = 0; k < n; k++)
                if (items[k].col < 64)
                    covered |= (uint64_t)1 << items[k].col;
            continue;
        }
        c->bytes_before += e[i].len;
        int keep[FS__FEED_ENTRY_MAX];
        sqlite3_int64 nkeep = 0;
        for (sqlite3_int64 k = n - 1; k >= 0; k--) {
            uint64_t bit = items[k].col < 64 ? (uint64_t)1 << items[k].col : 0;
            keep[k] = bit == 0 || !((covered | mine) & bit);
            mine |= bit;
            nkeep += keep[k];
        }
        covered |= mine;
        if (nkeep == n) {
            c->bytes_after += e[i].len;
            continue;
        }
        c->changes_dropped += (uint64_t)(n - nkeep);
        rc = compact_delete(r, e[i].seq, tbl, row, &e[i]);
        if (rc == 0 && nkeep == 0) {
            c->entries_dropped++;
            if (c->dropped != NULL)
                rc = c->dropped(c->ctx, (uint64_t)e[i].seq);
            if (rc != 0)
                rc = fs__fail(r, rc, "compacting the feed: its index did not follow");
            continue;
        }
        /* the kept changes, packed again at the entry's sequence */
        for (sqlite3_int64 k = 0; rc == 0 && k < n; k++)
            if (keep[k])
                rc = fs__feed_append(r, tbl, items[k].col, row, &items[k].value, items[k].hlc,
                                     items[k].dev, items[k].prev_hlc, items[k].prev_dev);
        if (rc == 0) {
            c->bytes_after += r->feed.len;
            r->feed.seq = e[i].seq;
            rc = fs__feed_flush(r);
            c->entries_rewritten++;
        }
    }
    fs__feed_discard(r);
    compact_entries_free(e, ne);
    return rc;
}

typedef struct compact_rowref {
    unsigned tbl;
    uint8_t row[FS_ID_BYTES];
} compact_rowref;

int fs_feed_compact_step(fs_replica *r, fs_feed_compaction *c, size_t max_rows)
{
    if (!r->keep_feed)
        return fs__fail(r, FS_ESTATE, "this replica keeps no feed");
    if (c->horizon == 0 || c->horizon > INT64_MAX || max_rows == 0)
        return fs__fail(r, FS_EINVAL, "a compaction needs a horizon and rows to do");
    if (c->done)
        return 0;
    if (max_rows > 100000)
        max_rows = 100000;
    compact_rowref *rows = malloc(max_rows * sizeof *rows);
    if (rows == NULL)
        return fs__fail(r, FS_ENOMEM, "out of memory");
    int own = 0;
    int rc = fs__begin(r, &own);
    if (rc != 0) {
        free(rows);
        return rc;
    }
    rc = fs__feed_flush(r);
    /* Recorded first: from this transaction on, entries below it may
     * differ from what devices applied. The index finds a row's entries. */
    if (rc == 0)
        rc = fs__exec(r,
                      "CREATE INDEX IF NOT EXISTS feed_row ON feed(tbl, row);"
                      "CREATE TABLE IF NOT EXISTS feed_was(seq INTEGER NOT NULL,"
                      " tag INTEGER NOT NULL, PRIMARY KEY(seq, tag)) WITHOUT ROWID;",
                      "compacting the feed");
    sqlite3_stmt *st = NULL;
    int src = SQLITE_OK;
    if (rc == 0) {
        src = sqlite3_prepare_v2(r->db,
                                 "INSERT OR REPLACE INTO meta(k,v) VALUES('feed_horizon',"
                                 " max(?1, coalesce((SELECT v FROM meta WHERE k='feed_horizon'),0)))",
                                 -1, &st, NULL);
        if (src == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, (sqlite3_int64)c->horizon);
            src = sqlite3_step(st);
        }
        sqlite3_finalize(st);
        st = NULL;
        if (src != SQLITE_DONE)
            rc = fs__dbfail(r, src, "recording the feed's horizon");
    }
    size_t nrows = 0;
    if (rc == 0) {
        src = sqlite3_prepare_v2(r->db,
                                 c->started ? "SELECT tbl, row FROM feed WHERE (tbl, row) > (?2, ?3) AND seq<?4"
                                              " GROUP BY tbl, row ORDER BY tbl, row LIMIT ?1"
                                            : "SELECT tbl, row FROM feed WHERE seq<?4"
                                              " GROUP BY tbl, row ORDER BY tbl, row LIMIT ?1",
                                 -1, &st, NULL);
        if (src == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, (sqlite3_int64)max_rows);
            sqlite3_bind_int64(st, 4, (sqlite3_int64)c->horizon);
            if (c->started) {
                sqlite3_bind_int(st, 2, (int)c->tbl);
                sqlite3_bind_blob(st, 3, c->row, FS_ID_BYTES, SQLITE_STATIC);
            }
            while ((src = sqlite3_step(st)) == SQLITE_ROW && nrows < max_rows) {
                if (sqlite3_column_bytes(st, 1) != FS_ID_BYTES)
                    continue; /* not a row any change names: left alone */
                rows[nrows].tbl = (unsigned)sqlite3_column_int(st, 0);
                memcpy(rows[nrows].row, sqlite3_column_blob(st, 1), FS_ID_BYTES);
                nrows++;
            }
        }
        sqlite3_finalize(st);
        if (src != SQLITE_DONE && src != SQLITE_ROW)
            rc = fs__dbfail(r, src, "compacting the feed");
    }
    for (size_t i = 0; rc == 0 && i < nrows; i++) {
        rc = compact_row(r, c, rows[i].tbl, rows[i].row);
        c->rows += rc == 0;
    }
    rc = fs__end(r, own, rc);
    if (rc == 0) {
        if (nrows > 0) {
            c->started = 1;
            c->tbl = rows[nrows - 1].tbl;
            memcpy(c->row, rows[nrows - 1].row, FS_ID_BYTES);
        }
        c->done = nrows < max_rows;
    }
    free(rows);
    return rc;
}

int fs_feed_tag_held(fs_replica *r, uint64_t seq, uint64_t tag, int *out)
{
    *out = 0;
    uint64_t now = 0;
    int rc = fs_feed_entry_tag(r, seq, &now);
    if (rc != 0 || seq == 0 || seq > INT64_MAX)
        return rc;
    if (now != 0 && now == tag) {
        *out = 1;
        return 0;
    }
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db,
                                 "SELECT 1 FROM sqlite_master WHERE type='table' AND name='feed_was'",
                                 -1, &st, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    sqlite3_finalize(st);
    st = NULL;
    if (src == SQLITE_DONE)
        return 0; /* never compacted */
    if (src != SQLITE_ROW)
        return fs__dbfail(r, src, "reading the feed");
    src = sqlite3_prepare_v2(r->db, "SELECT 1 FROM feed_was WHERE seq=?1 AND tag=?2", -1, &st,
                             NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)tag);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    *out = src == SQLITE_ROW;
    return src == SQLITE_ROW || src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "reading the feed");
}
