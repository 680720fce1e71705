/*
 * Attachments' bytes in a replica (fieldsync/attach.h): chunks in the
 * local table att_chunk(hash, idx, data), the device's upload marks in
 * att_sent(hash), both inside the encrypted database (created with the
 * sync bookkeeping, FS__SYNC_TABLES_SQL). The metadata is the synced
 * `attachment` record.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sodium.h>

#include "fieldsync/attach.h"
#include "fieldsync/error.h"
#include "replica_int.h"

const char *const fs_attach_kinds[] = {"signed-requirement", "signed-acceptance", "card",
                                       "contract", "other", NULL};

int fs_attach_kind_valid(const char *kind)
{
    for (size_t i = 0; kind != NULL && fs_attach_kinds[i] != NULL; i++)
        if (strcmp(kind, fs_attach_kinds[i]) == 0)
            return 1;
    return 0;
}

uint32_t fs_attach_nchunks(uint64_t size)
{
    if (size == 0 || size > FS_ATTACH_MAX_BYTES)
        return 0;
    return (uint32_t)((size + FS_ATTACH_CHUNK - 1) / FS_ATTACH_CHUNK);
}

size_t fs_attach_chunk_len(uint64_t size, uint32_t idx)
{
    uint32_t n = fs_attach_nchunks(size);
    if (idx >= n)
        return 0;
    if (idx + 1 < n)
        return FS_ATTACH_CHUNK;
    return (size_t)(size - (uint64_t)idx * FS_ATTACH_CHUNK);
}

int fs_attach_put_chunk(fs_replica *r, const uint8_t hash[FS_ATTACH_HASH], uint32_t idx,
                        const void *data, size_t n)
{
    if (n == 0 || n > FS_ATTACH_CHUNK || idx >= FS_ATTACH_MAX_CHUNKS)
        return fs__fail(r, FS_EINVAL, "an attachment chunk of %zu bytes at %u", n, idx);
    sqlite3_stmt *st = NULL;
    int rc = fs__prepare(r, "INSERT OR IGNORE INTO att_chunk(hash, idx, data) VALUES(?1,?2,?3)",
                         &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_blob(st, 1, hash, FS_ATTACH_HASH, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, idx);
    sqlite3_bind_blob(st, 3, data, (int)n, SQLITE_STATIC);
    int src = sqlite3_step(st);
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "storing an attachment");
}

int fs_attach_get_chunk(fs_replica *r, const uint8_t hash[FS_ATTACH_HASH], uint32_t idx,
                        uint8_t *buf, size_t *n)
{
    *n = 0;
    sqlite3_stmt *st = NULL;
    int rc = fs__prepare(r, "SELECT data FROM att_chunk WHERE hash=?1 AND idx=?2", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_blob(st, 1, hash, FS_ATTACH_HASH, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, idx);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        if (len == 0 || len > FS_ATTACH_CHUNK) {
            rc = fs__fail(r, FS_EINTEGRITY, "an attachment chunk of %zu bytes", len);
        } else {
            memcpy(buf, sqlite3_column_blob(st, 0), len);
            *n = len;
        }
    } else if (src == SQLITE_DONE) {
        rc = FS_ENOTFOUND;
    } else {
        rc = fs__dbfail(r, src, "reading an attachment");
    }
    sqlite3_finalize(st);
    return rc;
}

int fs_attach_missing(fs_replica *r, const uint8_t hash[FS_ATTACH_HASH], uint64_t size,
                      uint32_t *out, size_t cap, size_t *n, size_t *total)
{
    size_t written = 0, missing = 0;
    uint32_t nc = fs_attach_nchunks(size);
    if (nc == 0)
        return fs__fail(r, FS_EINVAL, "an attachment of %llu bytes", (unsigned long long)size);
    sqlite3_stmt *st = NULL;
    int rc = fs__prepare(r, "SELECT idx, length(data) FROM att_chunk WHERE hash=?1 ORDER BY idx",
                         &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_blob(st, 1, hash, FS_ATTACH_HASH, SQLITE_STATIC);
    uint32_t next = 0;
    int src;
    for (;;) {
        src = sqlite3_step(st);
        uint32_t have = nc;
        if (src == SQLITE_ROW) {
            sqlite3_int64 i = sqlite3_column_int64(st, 0);
            if (i < (sqlite3_int64)next || i >= (sqlite3_int64)nc ||
                (size_t)sqlite3_column_int64(st, 1) != fs_attach_chunk_len(size, (uint32_t)i))
                continue; /* not a chunk of this size's file: still missing */
            have = (uint32_t)i;
        } else if (src != SQLITE_DONE) {
            break;
        }
        for (; next < have; next++, missing++)
            if (written < cap && out != NULL)
                out[written++] = next;
        next = have + 1;
        if (src == SQLITE_DONE)
            break;
    }
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return fs__dbfail(r, src, "reading an attachment");
    if (n != NULL)
        *n = written;
    if (total != NULL)
        *total = missing;
    return 0;
}

int fs_attach_verify(fs_replica *r, const uint8_t hash[FS_ATTACH_HASH], uint64_t size, int *ok)
{
    *ok = 0;
    size_t missing = 0;
    int rc = fs_attach_missing(r, hash, size, NULL, 0, NULL, &missing);
    if (rc != 0 || missing > 0)
        return rc;
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, FS_ATTACH_HASH);
    sqlite3_stmt *st = NULL;
    rc = fs__prepare(r, "SELECT data FROM att_chunk WHERE hash=?1 ORDER BY idx", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_blob(st, 1, hash, FS_ATTACH_HASH, SQLITE_STATIC);
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW)
        crypto_generichash_update(&h, sqlite3_column_blob(st, 0),
                                  (unsigned long long)sqlite3_column_bytes(st, 0));
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return fs__dbfail(r, src, "reading an attachment");
    uint8_t got[FS_ATTACH_HASH];
    crypto_generichash_final(&h, got, sizeof got);
    if (sodium_memcmp(got, hash, FS_ATTACH_HASH) == 0) {
        *ok = 1;
        return 0;
    }
    rc = fs__prepare(r, "DELETE FROM att_chunk WHERE hash=?1", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_blob(st, 1, hash, FS_ATTACH_HASH, SQLITE_STATIC);
    src = sqlite3_step(st);
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "dropping a damaged attachment");
}

int fs_attach_sent(fs_replica *r, const uint8_t hash[FS_ATTACH_HASH], int *sent)
{
    sqlite3_stmt *st = NULL;
    *sent = 0;
    int rc = fs__prepare(r, "SELECT 1 FROM att_sent WHERE hash=?1", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_blob(st, 1, hash, FS_ATTACH_HASH, SQLITE_STATIC);
    int src = sqlite3_step(st);
    sqlite3_finalize(st);
    if (src == SQLITE_ROW)
        *sent = 1;
    return src == SQLITE_ROW || src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "reading an attachment");
}

int fs_attach_mark_sent(fs_replica *r, const uint8_t hash[FS_ATTACH_HASH])
{
    sqlite3_stmt *st = NULL;
    int rc = fs__prepare(r, "INSERT OR IGNORE INTO att_sent(hash) VALUES(?1)", &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_blob(st, 1, hash, FS_ATTACH_HASH, SQLITE_STATIC);
    int src = sqlite3_step(st);
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "recording an attachment sent");
}

int fs_attach_gc(fs_replica *r, uint64_t *dropped)
{
    /* most rounds have nothing to drop: only then a write */
    uint64_t orphans = 0;
    if (dropped != NULL)
        *dropped = 0;
    int rc = fs__query_u64(r,
                           "SELECT (SELECT count(*) FROM att_sent WHERE hash NOT IN"
                           " (SELECT hash FROM attachment WHERE deleted=0 AND hash IS NOT NULL))"
                           " + (SELECT count(*) FROM att_chunk WHERE hash NOT IN"
                           " (SELECT hash FROM attachment WHERE deleted=0 AND hash IS NOT NULL))",
                           &orphans);
    if (rc != 0 || orphans == 0)
        return rc;
    rc = fs__exec(r,
                      "DELETE FROM att_chunk WHERE hash NOT IN"
                      " (SELECT hash FROM attachment WHERE deleted=0 AND hash IS NOT NULL)",
                      "dropping unused attachments");
    uint64_t n = rc == 0 ? (uint64_t)sqlite3_changes(r->db) : 0;
    if (rc == 0)
        rc = fs__exec(r,
                      "DELETE FROM att_sent WHERE hash NOT IN"
                      " (SELECT hash FROM attachment WHERE deleted=0 AND hash IS NOT NULL)",
                      "dropping unused attachments");
    if (dropped != NULL)
        *dropped = n;
    return rc;
}

/* Copies a TEXT value into out (cap bytes, NUL-terminated; "" if absent). */
static void text_of(const fs_rows *it, const char *col, char *out, size_t cap)
{
    fs_value v;
    out[0] = '\0';
    if (fs_rows_get(it, col, &v) == 0 && v.type == FS_TEXT) {
        size_t n = v.n < cap - 1 ? v.n : cap - 1;
        memcpy(out, v.p, n);
        out[n] = '\0';
    }
}

/* Reads the current row of it into a; 0 when it is not a usable live row. */
static int read_row(fs_replica *r, const fs_rows *it, fs_attachment *a)
{
    fs_value v;
    memset(a, 0, sizeof *a);
    if (fs_rows_get(it, "deleted", &v) == 0 && v.type == FS_INT && v.i != 0)
        return 0;
    memcpy(a->id, fs_rows_id(it), FS_ID_BYTES);
    if (fs_rows_get(it, "hash", &v) != 0 || v.type != FS_BLOB || v.n != FS_ATTACH_HASH)
        return 0;
    memcpy(a->hash, v.p, FS_ATTACH_HASH);
    if (fs_rows_get(it, "size", &v) != 0 || v.type != FS_INT || v.i <= 0 ||
        fs_attach_nchunks((uint64_t)v.i) == 0)
        return 0;
    a->size = (uint64_t)v.i;
    if (fs_rows_get(it, "record_id", &v) == 0 && v.type == FS_BLOB && v.n == FS_ID_BYTES)
        memcpy(a->record_id, v.p, FS_ID_BYTES);
    text_of(it, "record_table", a->record_table, sizeof a->record_table);
    text_of(it, "name", a->name, sizeof a->name);
    text_of(it, "kind", a->kind, sizeof a->kind);
    text_of(it, "mime", a->mime, sizeof a->mime);
    text_of(it, "attached_at", a->attached_at, sizeof a->attached_at);
    size_t missing = 1;
    if (fs_attach_missing(r, a->hash, a->size, NULL, 0, NULL, &missing) == 0)
        a->held = missing == 0;
    return 1;
}

int fs_attach_each(fs_replica *r, const uint8_t *record_id,
                   int (*cb)(const fs_attachment *, void *), void *ctx)
{
    fs_rows *it = NULL;
    fs_value key = {FS_BLOB, 0, 0, record_id, FS_ID_BYTES};
    int rc = fs_rows_open(&it, r, "attachment", record_id != NULL ? "record_id" : NULL,
                          record_id != NULL ? &key : NULL, "attached_at");
    if (rc != 0)
        return rc;
    fs_attachment a;
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        rc = 0;
        if (read_row(r, it, &a))
            rc = cb(&a, ctx);
    }
    fs_rows_close(it);
    return rc < 0 || rc > 1 ? rc : 0;
}

struct has_kind {
    const char *kind;
    int found;
};

static int has_kind_cb(const fs_attachment *a, void *ctx)
{
    struct has_kind *h = ctx;
    if (strcmp(a->kind, h->kind) == 0)
        h->found = 1;
    return 0;
}

int fs_attach_has_kind(fs_replica *r, const uint8_t record_id[FS_ID_BYTES], const char *kind)
{
    struct has_kind h = {kind, 0};
    int rc = fs_attach_each(r, record_id, has_kind_cb, &h);
    return rc != 0 ? rc : h.found;
}

int fs_attach_find(fs_replica *r, const char *prefix, fs_attachment *out)
{
    uint8_t id[FS_ID_BYTES];
    int rc = fs_resolve_id(r, "attachment", prefix, id);
    if (rc != 0)
        return rc;
    fs_rows *it = NULL;
    fs_value key = {FS_BLOB, 0, 0, id, FS_ID_BYTES};
    rc = fs_rows_open(&it, r, "attachment", "id", &key, NULL);
    if (rc != 0)
        return rc;
    int found = 0;
    while (!found && (rc = fs_rows_next(it)) == 1)
        found = read_row(r, it, out);
    fs_rows_close(it);
    if (rc < 0)
        return rc;
    return found ? 0 : fs__fail(r, FS_ENOTFOUND, "no attachment with an id starting %s", prefix);
}

/* Reads exactly n bytes at offset off of fd. */
static int read_at(int fd, uint8_t *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, buf + got, n - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    return 0;
}

int fs_attach_file(fs_replica *r, int fd, uint64_t size, const char *name, const char *kind,
                   const char *mime, const char *record_table,
                   const uint8_t record_id[FS_ID_BYTES], const uint8_t customer[FS_ID_BYTES],
                   const char *attached_at, uint8_t out_id[FS_ID_BYTES],
                   uint8_t out_hash[FS_ATTACH_HASH])
{
    uint32_t nc = fs_attach_nchunks(size);
    if (nc == 0)
        return fs__fail(r, FS_EINVAL, "an attachment of %llu bytes", (unsigned long long)size);
    if (!fs_attach_kind_valid(kind))
        return fs__fail(r, FS_EINVAL, "no attachment kind %s", kind ? kind : "");
    uint8_t *buf = sodium_malloc(FS_ATTACH_CHUNK); /* the file's bytes: wiped when freed */
    if (buf == NULL)
        return fs__fail(r, FS_ENOMEM, "out of memory");
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, FS_ATTACH_HASH);
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < nc; i++) {
        size_t n = fs_attach_chunk_len(size, i);
        if (read_at(fd, buf, n, (uint64_t)i * FS_ATTACH_CHUNK) != 0)
            rc = fs__fail(r, FS_EIO, "cannot read the file");
        else
            crypto_generichash_update(&h, buf, n);
    }
    uint8_t hash[FS_ATTACH_HASH];
    crypto_generichash_final(&h, hash, sizeof hash);
    if (rc == 0)
        rc = fs_begin(r);
    if (rc != 0) {
        sodium_free(buf);
        return rc;
    }
    for (uint32_t i = 0; rc == 0 && i < nc; i++) {
        size_t n = fs_attach_chunk_len(size, i);
        if (read_at(fd, buf, n, (uint64_t)i * FS_ATTACH_CHUNK) != 0)
            rc = fs__fail(r, FS_EIO, "cannot read the file");
        else
            rc = fs_attach_put_chunk(r, hash, i, buf, n);
    }
    sodium_free(buf);
    int ok = 0;
    if (rc == 0)
        rc = fs_attach_verify(r, hash, size, &ok);
    if (rc == 0 && !ok)
        rc = fs__fail(r, FS_EINVAL, "the file changed while it was read: nothing attached");
    if (rc == 0) {
        fs_cell cells[9] = {
            {"customer", {FS_BLOB, 0, 0, customer, FS_ID_BYTES}},
            {"record_table", {FS_TEXT, 0, 0, record_table, strlen(record_table)}},
            {"record_id", {FS_BLOB, 0, 0, record_id, FS_ID_BYTES}},
            {"name", {FS_TEXT, 0, 0, name, strlen(name)}},
            {"kind", {FS_TEXT, 0, 0, kind, strlen(kind)}},
            {"size", {FS_INT, (int64_t)size, 0, NULL, 0}},
            {"hash", {FS_BLOB, 0, 0, hash, FS_ATTACH_HASH}},
        };
        size_t nc2 = 7;
        if (mime != NULL && mime[0] != '\0')
            cells[nc2++] = (fs_cell){"mime", {FS_TEXT, 0, 0, mime, strlen(mime)}};
        if (attached_at != NULL)
            cells[nc2++] =
                (fs_cell){"attached_at", {FS_TEXT, 0, 0, attached_at, strlen(attached_at)}};
        rc = fs_insert(r, "attachment", cells, nc2, out_id);
    }
    if (rc == 0)
        rc = fs_commit(r);
    else
        fs_rollback(r);
    if (rc == 0 && out_hash != NULL)
        memcpy(out_hash, hash, FS_ATTACH_HASH);
    return rc;
}
