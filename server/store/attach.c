/*
 * Attachments' bytes in the SQLite store (fieldsync/store.h, issue 19.3):
 * the chunks are kept in the store's replica (att_chunk, core/attach.c),
 * so they are encrypted at rest by its VFS like every record. A device
 * reaches the chunks of a hash only through a live `attachment` row in its
 * user's scope (the row's owner, through its customer); the row's size
 * says how many chunks there are and how long each one is.
 */
#include <string.h>

#include "fieldsync/attach.h"
#include "fieldsync/error.h"
#include "store_int.h"

/* *size of hash's attachment in d's user's scope, *known 0 when none. */
static int in_scope(sq_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], const uint8_t hash[32],
                    uint64_t *size, int *known)
{
    *known = 0;
    *size = 0;
    sq_device d;
    int rc = sq__device_get(s, pk, &d);
    if (rc != 0)
        return rc;
    int tix = fs_schema_table_index("attachment");
    fs_rows *it = NULL;
    fs_value key = {FS_BLOB, 0, 0, hash, 32};
    rc = fs_rows_open(&it, s->r, "attachment", "hash", &key, NULL);
    if (rc != 0)
        return sq__fail(s, rc, "%s", fs_replica_errmsg(s->r));
    while (!*known && (rc = fs_rows_next(it)) == 1) {
        fs_value v;
        rc = 0;
        if (fs_rows_get(it, "deleted", &v) == 0 && v.type == FS_INT && v.i != 0)
            continue;
        if (fs_rows_get(it, "size", &v) != 0 || v.type != FS_INT || v.i <= 0 ||
            fs_attach_nchunks((uint64_t)v.i) == 0)
            continue;
        uint64_t sz = (uint64_t)v.i;
        char owner[MAX_NAME + 1];
        rc = sq__owner_of(s, (unsigned)tix, fs_rows_id(it), owner);
        if (rc != 0)
            break;
        if (sq__in_scope(s, &d.u, owner)) {
            *known = 1;
            *size = sz;
        }
    }
    fs_rows_close(it);
    return rc < 0 ? rc : 0;
}

int sq_att_need(fs_store *base, const uint8_t device_pk[FS_SIGN_PK_BYTES], const uint8_t hash[32],
                uint32_t *missing, size_t cap, size_t *n, int *known)
{
    sq_store *s = (sq_store *)base;
    uint64_t size;
    *n = 0;
    int rc = in_scope(s, device_pk, hash, &size, known);
    if (rc != 0 || !*known)
        return rc;
    rc = fs_attach_missing(s->r, hash, size, missing, cap, n, NULL);
    return rc != 0 ? sq__fail(s, rc, "%s", fs_replica_errmsg(s->r)) : 0;
}

int sq_att_put(fs_store *base, const uint8_t device_pk[FS_SIGN_PK_BYTES], const uint8_t hash[32],
               uint32_t idx, const uint8_t *data, size_t len)
{
    sq_store *s = (sq_store *)base;
    uint64_t size;
    int known;
    int rc = in_scope(s, device_pk, hash, &size, &known);
    if (rc != 0)
        return rc;
    if (!known)
        return sq__fail(s, FS_ENOTFOUND, "a chunk of an attachment not in the device's scope");
    if (len == 0 || len != fs_attach_chunk_len(size, idx))
        return sq__fail(s, FS_EINVAL, "a chunk of %zu bytes at %u of a file of %llu bytes", len,
                        idx, (unsigned long long)size);
    rc = fs_attach_put_chunk(s->r, hash, idx, data, len);
    size_t missing = 1;
    if (rc == 0)
        rc = fs_attach_missing(s->r, hash, size, NULL, 0, NULL, &missing);
    int ok;
    if (rc == 0 && missing == 0) /* the last chunk in: is it that file? */
        rc = fs_attach_verify(s->r, hash, size, &ok);
    return rc != 0 ? sq__fail(s, rc, "%s", fs_replica_errmsg(s->r)) : 0;
}

int sq_att_get(fs_store *base, const uint8_t device_pk[FS_SIGN_PK_BYTES], const uint8_t hash[32],
               uint32_t idx, uint8_t *buf, size_t *len)
{
    sq_store *s = (sq_store *)base;
    uint64_t size;
    int known;
    *len = 0;
    int rc = in_scope(s, device_pk, hash, &size, &known);
    if (rc != 0)
        return rc;
    if (!known || idx >= fs_attach_nchunks(size))
        return FS_ENOTFOUND;
    rc = fs_attach_get_chunk(s->r, hash, idx, buf, len);
    if (rc == FS_ENOTFOUND)
        return rc;
    if (rc == 0 && *len != fs_attach_chunk_len(size, idx))
        return FS_ENOTFOUND;
    return rc != 0 ? sq__fail(s, rc, "%s", fs_replica_errmsg(s->r)) : 0;
}
