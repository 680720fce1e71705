/*
 * Durations typed on a command line: a whole number and a unit, "90s",
 * "15m", "12h", "7d". Used by `fieldsync unlock --idle` and
 * `fieldsync-server serve --lease`.
 */
#ifndef FIELDSYNC_DURATION_H
#define FIELDSYNC_DURATION_H

#include <stdint.h>

/* Parses s into *ms. NULL if s is a duration within [min_ms, max_ms], else
 * a static description of what is wrong ("expected a number and a unit
 * s, m, h or d, as 15m", "too short", "too long"). */
const char *fs_duration_parse(const char *s, uint64_t min_ms, uint64_t max_ms, uint64_t *ms);

#endif
