/*
 * The clocks, read in one place. Every binary and library of fieldsync asks
 * here for the time; nothing else calls clock_gettime or time().
 *
 *   wall      CLOCK_REALTIME: milliseconds since 1970-01-01 00:00 UTC. For
 *             what is stored or sent (hybrid logical clocks, audit entries,
 *             leases, the server's time in READY). It may jump.
 *   monotonic CLOCK_MONOTONIC: milliseconds or microseconds since an
 *             arbitrary start. For timeouts and intervals; it never goes
 *             back and stops while the machine is suspended.
 *   boot      CLOCK_BOOTTIME: like monotonic, but it goes on while the
 *             machine is suspended (a laptop closed for an hour has been
 *             idle for an hour).
 *
 * A replica's own notion of now (fs_replica_opts.clock_ms, which tests set)
 * stays with the replica: its fs__now_ms falls back to fs_clock_wall_ms.
 * Civil dates and time zones are fieldsync/calendar.h's.
 */
#ifndef FIELDSYNC_CLOCK_H
#define FIELDSYNC_CLOCK_H

#include <stdint.h>

/* A device clock within this of the server's is right (issue 23: status
 * names a larger offset). */
#define FS_CLOCK_TOLERANCE_MS 60000u

/* Milliseconds since the Unix epoch (the wall clock). */
uint64_t fs_clock_wall_ms(void);
/* Monotonic milliseconds and microseconds (never go back). */
uint64_t fs_clock_mono_ms(void);
uint64_t fs_clock_mono_us(void);
/* Milliseconds of CLOCK_BOOTTIME (monotonic, counting suspended time). */
uint64_t fs_clock_boot_ms(void);

#endif
