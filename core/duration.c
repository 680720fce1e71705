/* Command-line durations (fieldsync/duration.h). */
#include <stddef.h>

#include "fieldsync/duration.h"

const char *fs_duration_parse(const char *s, uint64_t min_ms, uint64_t max_ms, uint64_t *ms)
{
    static const char format[] = "expected a whole number and a unit s, m, h or d, as 15m";
    uint64_t n = 0, unit;
    size_t digits = 0;

    if (s == NULL)
        return format;
    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        if (n > (UINT64_MAX - 9) / 10)
            return "too long";
        n = n * 10 + (uint64_t)(*s - '0');
    }
    if (digits == 0 || s[0] == '\0' || s[1] != '\0')
        return format;
    switch (*s) {
    case 's':
        unit = 1000u;
        break;
    case 'm':
        unit = 60u * 1000u;
        break;
    case 'h':
        unit = 3600u * 1000u;
        break;
    case 'd':
        unit = 24u * 3600u * 1000u;
        break;
    default:
        return format;
    }
    if (n > max_ms / unit || n * unit > max_ms)
        return "too long";
    if (n * unit < min_ms)
        return "too short";
    *ms = n * unit;
    return NULL;
}
