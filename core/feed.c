/*
 * The feed of a server's replica: every change it accepts or makes, in
 * order, with a feed sequence. Devices pull it by cursor (fs_feed_since); a
 * device that has pulled all of it holds the server's state.
 */
#include "replica_int.h"

int fs__feed_append(fs_replica *r, unsigned tix, unsigned col, const uint8_t row[FS_ID_BYTES],
                    const fs_value *value, uint64_t hlc, uint32_t dev, uint64_t prev_hlc,
                    uint32_t prev_dev)
{
    if (!r->keep_feed)
        return 0;
    sqlite3_stmt *st = r->feed_insert;
    sqlite3_bind_int(st, 1, (int)tix);
    sqlite3_bind_int(st, 2, (int)col);
    sqlite3_bind_blob(st, 3, row, FS_ID_BYTES, SQLITE_STATIC);
    fs__bind_value(st, 4, value);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)hlc);
    sqlite3_bind_int64(st, 6, dev);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)prev_hlc);
    sqlite3_bind_int64(st, 8, prev_hlc ? prev_dev : 0);
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "writing the feed");
}

int fs_feed_since(fs_replica *r, uint64_t after, size_t max, fs_changeset **out)
{
    *out = NULL;
    if (!r->keep_feed)
        return fs__fail(r, FS_ESTATE, "this replica keeps no feed");
    return fs__read_changes(r,
                            "SELECT seq,tbl,col,row,value,hlc,dev,prev_hlc,prev_dev FROM feed"
                            " WHERE seq>?1 ORDER BY seq LIMIT ?2",
                            after, max, out);
}

int fs_feed_last(fs_replica *r, uint64_t *out)
{
    *out = 0;
    if (!r->keep_feed)
        return fs__fail(r, FS_ESTATE, "this replica keeps no feed");
    return fs__query_u64(r, "SELECT coalesce(max(seq),0) FROM feed", out);
}
