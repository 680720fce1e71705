/*
 * Server-corrected time on a device (issue 23): a laptop's clock may be a
 * day off (a time zone set by hand, a dead CMOS battery). Each READY carries
 * the server's clock; the device keeps the offset (server minus its own
 * wall clock at that moment) in meta 'clock_offset_ms', and its notion of
 * now (fs__now_ms: hybrid clock ticks, the rules' "recorded at", the lease)
 * is its own clock plus that offset. Before the first sync the offset is
 * unknown and local time is used as it is ('clock_offset_ms' absent).
 *
 * The offset includes the READY's time in flight (milliseconds on a
 * working network); it is meant to correct hours and days, not to order
 * two devices' writes a second apart. A server's replica never sets one.
 */
#include <stdlib.h>

#include "fieldsync/clock.h"
#include "replica_int.h"

/* The device's own clock, before any correction. */
static uint64_t local_ms(const fs_replica *r)
{
    if (r->opts.clock_ms != NULL)
        return r->opts.clock_ms(r->opts.clock_ctx);
    return fs_clock_wall_ms();
}

uint64_t fs__now_ms(const fs_replica *r)
{
    uint64_t local = local_ms(r);
    if (r->clock_offset_ms < 0 && (uint64_t)(-r->clock_offset_ms) > local)
        return 0;
    return local + (uint64_t)r->clock_offset_ms;
}

int fs__servertime_load(fs_replica *r)
{
    sqlite3_stmt *st = NULL;
    int rc = fs__prepare(r, "SELECT v FROM meta WHERE k='clock_offset_ms'", &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_step(st);
    r->clock_known = src == SQLITE_ROW;
    r->clock_offset_ms = src == SQLITE_ROW ? (int64_t)sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return src == SQLITE_ROW || src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "reading the clock offset");
}

int fs_replica_note_server_time(fs_replica *r, uint64_t server_now_ms)
{
    if (server_now_ms == 0 || server_now_ms > INT64_MAX)
        return fs__fail(r, FS_EINVAL, "the server's time is out of range");
    uint64_t local = local_ms(r);
    if (local > INT64_MAX)
        return fs__fail(r, FS_EINVAL, "this machine's time is out of range");
    int64_t offset = (int64_t)server_now_ms - (int64_t)local;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(r->db,
                                 "INSERT OR REPLACE INTO meta(k,v) VALUES('clock_offset_ms',?1)",
                                 -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, offset);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return fs__dbfail(r, src, "recording the server's time");
    r->clock_offset_ms = offset;
    r->clock_known = 1;
    return 0;
}

int fs_replica_clock_offset(const fs_replica *r, int64_t *offset_ms)
{
    *offset_ms = r->clock_known ? r->clock_offset_ms : 0;
    return r->clock_known;
}
