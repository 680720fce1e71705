/*
 * Hybrid logical clock: 48 bits of wall-clock milliseconds, 16 bits of
 * counter, in one u64, so clocks compare as integers. A tick is never lower
 * than any clock the replica has issued or seen. Local ticks persist in the
 * change log (its newest entry carries the newest tick); a remote clock that
 * raises the mark is saved in meta in the same transaction as the changes
 * that carried it. Opening takes the larger of the two.
 */
#include "fieldsync/clock.h"
#include "replica_int.h"

uint64_t fs__hlc_tick(fs_replica *r)
{
    uint64_t phys = (fs__now_ms(r) & 0xFFFFFFFFFFFFull) << 16;
    r->hlc = phys > r->hlc ? phys : r->hlc + 1;
    return r->hlc;
}

void fs__hlc_observe(fs_replica *r, uint64_t hlc)
{
    if (hlc > r->hlc) {
        r->hlc = hlc;
        r->hlc_unsaved = 1;
    }
}
