/*
 * A device's report of its refused changes still open (PULL, protocol
 * version 4), kept as the server-written record `refusal_tally`
 * (core/schema.c): one row per device, owned by the device's user, so it
 * reaches the rep's manager's laptop and the dashboard like any record.
 * The row is written only when the report differs from it.
 */
#include <string.h>

#include "store_int.h"

/* The device's row: its id and whether its figures are those of the report. */
typedef struct tally_find {
    const char *device;
    uint64_t open;
    uint32_t reason;
    int found, same;
    uint8_t id[FS_ID_BYTES];
} tally_find;

static int find_row(const fs_refusal_tally *t, void *ctx)
{
    tally_find *f = ctx;
    if (strcmp(t->device, f->device) != 0)
        return 0;
    f->found = 1;
    f->same = t->open == f->open && t->reason == f->reason;
    memcpy(f->id, t->id, FS_ID_BYTES);
    return 1; /* stops the walk */
}

int sq_device_refusals(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t open,
                       uint32_t reason)
{
    sq_store *s = (sq_store *)base;
    if (open > INT64_MAX)
        return sq__fail(s, FS_EINVAL, "reported figures out of range");
    sq_device d;
    int rc = sq__device_get(s, pk, &d);
    if (rc != 0)
        return rc;
    char fp[17];
    sq__fingerprint(pk, fp);
    tally_find f = {.device = fp, .open = open, .reason = open > 0 ? reason : 0};
    rc = fs_refusal_tallies(s->r, d.u.name, find_row, &f);
    if (rc < 0)
        return sq__fail(s, rc, "reading refusal tallies: %s", fs_replica_errmsg(s->r));
    if (f.found ? f.same : open == 0)
        return 0; /* as kept, or nothing to tell of a device never reported */
    fs_cell cells[5] = {
        {"rep", fs_textn(d.u.name, strlen(d.u.name))},
        {"device", fs_textn(fp, strlen(fp))},
        {"open", fs_int((int64_t)open)},
        {"reason", fs_int((int64_t)f.reason)},
        {"at", fs_int((int64_t)fs_replica_now_ms(s->r))},
    };
    rc = fs_begin(s->r); /* a transaction of its own: fs_insert joins it */
    int began = rc == 0;
    if (rc == 0 && f.found)
        rc = fs_update(s->r, "refusal_tally", f.id, cells + 2, 3);
    if (rc == 0 && !f.found)
        rc = fs_insert(s->r, "refusal_tally", cells, 5, f.id);
    if (rc == 0 && !f.found)
        rc = sq__run(s, "INSERT INTO scope(tbl,row,owner,ptbl,prow) VALUES(?1,?2,?3,NULL,NULL)",
                     NULL, "ibt", (long long)fs_schema_table_index("refusal_tally"), f.id,
                     FS_ID_BYTES, d.u.name);
    if (rc == 0)
        rc = sq__feed_scope_catch_up(s);
    if (rc == 0)
        rc = fs_commit(s->r);
    if (rc != 0) {
        sq__fail(s, rc, "recording a refusal tally: %s", fs_replica_errmsg(s->r));
        if (began)
            fs_rollback(s->r); /* nothing when the commit has closed it */
    }
    return rc;
}
