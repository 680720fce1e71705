/*
 * A time-shift shim for tests (issue 23): LD_PRELOAD it into one process
 * and that process's wall clock is FS_TIMESHIFT seconds off (negative:
 * behind), as a laptop whose clock was set wrong. Only the wall clock moves
 * (clock_gettime of CLOCK_REALTIME and its coarse variant, time,
 * gettimeofday); the monotonic and boot clocks do not, as on a laptop
 * whose owner changed the time. FS_TIMESHIFT is read at every call, so a
 * test may also run a process with it unset to see the right time.
 * FS_BOOTSHIFT (negative seconds) also moves the boot and monotonic
 * clocks back, into the first half minute after boot at most: a large shift is a
 * laptop just rebooted, whose boot clock is behind where it was at the
 * last sync (issue 20.6: a lease fooled by the clock).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long long shift_s(void)
{
    const char *v = getenv("FS_TIMESHIFT");
    return v != NULL ? strtoll(v, NULL, 10) : 0;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    static int (*real)(clockid_t, struct timespec *);
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "clock_gettime");
    int rc = real(id, ts);
    if (rc == 0 && ts != NULL && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
        ts->tv_sec += (time_t)shift_s();
    if (rc == 0 && ts != NULL &&
        (id == CLOCK_BOOTTIME || id == CLOCK_MONOTONIC || id == CLOCK_MONOTONIC_COARSE ||
         id == CLOCK_MONOTONIC_RAW)) {
        const char *v = getenv("FS_BOOTSHIFT");
        long long b = v != NULL ? strtoll(v, NULL, 10) : 0;
        /* at most back to the first half minute after boot (still
         * moving, so waits end) */
        if (b < 0)
            ts->tv_sec = ts->tv_sec + b > 1 ? ts->tv_sec + (time_t)b : 1 + ts->tv_sec % 30;
    }
    return rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    struct timespec ts;
    int rc = clock_gettime(CLOCK_REALTIME, &ts);
    if (rc == 0 && tv != NULL) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = (suseconds_t)(ts.tv_nsec / 1000);
    }
    (void)tz;
    return rc;
}

time_t time(time_t *out)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (time_t)-1;
    if (out != NULL)
        *out = ts.tv_sec;
    return ts.tv_sec;
}
