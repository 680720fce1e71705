/*
 * The clocks (fieldsync/clock.h): the only reads of the system's clocks in
 * fieldsync. clock_gettime cannot fail for these clock ids on Linux; were it
 * to, the zeroed timespec reads as the clock's start.
 */
#include <time.h>

#include "fieldsync/clock.h"

static struct timespec read_clock(clockid_t id)
{
    struct timespec ts = {0, 0};
    (void)clock_gettime(id, &ts);
    return ts;
}

static uint64_t ms_of(struct timespec ts)
{
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t fs_clock_wall_ms(void)
{
    return ms_of(read_clock(CLOCK_REALTIME));
}

uint64_t fs_clock_mono_ms(void)
{
    return ms_of(read_clock(CLOCK_MONOTONIC));
}

uint64_t fs_clock_mono_us(void)
{
    struct timespec ts = read_clock(CLOCK_MONOTONIC);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t fs_clock_boot_ms(void)
{
    return ms_of(read_clock(CLOCK_BOOTTIME));
}
