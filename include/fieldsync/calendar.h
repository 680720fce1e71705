/*
 * Civil time: the dates and times people type and records hold, ISO weeks,
 * a working-day calendar and the conversion of an instant into a time
 * zone. One home for every date check of fieldsync: the replica's column
 * types (DATE, DATETIME), the client's options and the rules engine all
 * call fs_civil_check. The clocks themselves are fieldsync/clock.h's.
 *
 * TEXT FORMS
 *   date       "YYYY-MM-DD"        a real day of the proleptic Gregorian
 *                                  calendar, years 1900-9999
 *   date-time  "YYYY-MM-DD HH:MM"  a date, hour 00-23, minute 00-59
 *   ISO week   "YYYY-Www"          week 01-53 of an ISO 8601 year (week 53
 *                                  only in a year that has one)
 * Exactly these bytes: no sign, no spaces around, no trailing bytes, no
 * 'T' between date and time, no seconds.
 *
 * CIVIL MINUTES. Records hold local wall-clock times. The code works in
 * "civil minutes": minutes since 1970-01-01 00:00 of the team's local
 * calendar, so a deadline is plain arithmetic on a record's own fields. A
 * day number is a count of days since 1970-01-01 (a Thursday). Only "now"
 * comes from a clock: fs_calendar_now converts an instant into the
 * calendar's time zone.
 *
 * WORKING DAYS are the calendar's (weekends and holidays excluded). "Within
 * N working days" of a moment ends at the close of working hours on the Nth
 * working day after that moment's day; "N working days before" a date ends
 * at the close of the Nth working day before it.
 */
#ifndef FIELDSYNC_CALENDAR_H
#define FIELDSYNC_CALENDAR_H

#include <stddef.h>
#include <stdint.h>

#define FS_MIN_PER_DAY 1440 /* civil minutes in a day */

/* ---- civil dates and times ---- */

/* 0 if the n bytes at s are a date (with_time 0) or a date-time (with_time
 * 1) as TEXT FORMS says, else FS_ETYPE and, when why is not NULL, *why set
 * to a static reason for people: "wrong format", "year must be 1900 or
 * later", "month must be 01-12", "no such day in that month", "hour must be
 * 00-23" or "minute must be 00-59" (the first that applies, in that
 * order). */
int fs_civil_check(const char *s, size_t n, int with_time, const char **why);
/* A date (with_time 0) or time as people write it in China as well --
 * 2026/12/10, 2026.12.10, 2026年12月10日 (号), one-digit months, days and
 * hours, a full-width colon, a T or no gap after 日, a time in words (10点半,
 * 下午3点, fs_civil_relative) -- into out as
 * YYYY-MM-DD (HH:MM). 1 when out differs from in; 0 when in is not such a
 * text or already is out's form (the checks then say what is wrong). */
int fs_civil_normalize(const char *in, int with_time, char out[17]);
/* A day in words, relative to today ("YYYY-MM-DD"): 今天, 明天, 后天, 大后天,
 * 昨天, 前天, 大前天 (today, tomorrow, yesterday), or a weekday of this, next or last
 * week (本周五, 这周一, 下周三, 下星期日, 上周二; a week starts on Monday),
 * with a time when with_time (明天 10:00, 明天下午3点, 下周一 9点半) and
 * without one when not. 1 and out as YYYY-MM-DD (HH:MM), else 0. The time
 * of day may also be written so after a date (fs_civil_normalize). */
int fs_civil_relative(const char *in, const char *today, int with_time, char out[17]);
/* 1 if s (n bytes) is a date "YYYY-MM-DD", else 0 (fs_civil_check). */
int fs_date_valid(const char *s, size_t n);
/* 1 if s (n bytes) is a date-time "YYYY-MM-DD HH:MM", else 0. */
int fs_datetime_valid(const char *s, size_t n);

/* A date (its 00:00) or a date-time of n bytes to civil minutes in *out.
 * 0 or FS_ETYPE (*out untouched). */
int fs_civil_parse(const char *s, size_t n, int64_t *out);
/* "YYYY-MM-DD HH:MM" (17 bytes with the NUL); years are clamped to
 * 0000-9999. */
void fs_civil_format(int64_t civil, char out[17]);
/* The day number of a civil minute, and a day's weekday (0 Sunday .. 6
 * Saturday). */
int64_t fs_civil_day(int64_t civil);
int fs_civil_weekday(int64_t day);
/* The day number of year y, month m (1-12), day d (1-31), and back
 * (H. Hinnant's days_from_civil and civil_from_days; any int64 year). */
int64_t fs_days_from_civil(int64_t y, int m, int d);
void fs_civil_from_days(int64_t day, int64_t *y, int *m, int *d);

/* ---- ISO weeks ---- */

/* "YYYY-Www" (a NUL-terminated string) to the civil minute of its Monday
 * 00:00. FS_ETYPE for a malformed week or one the year does not have. */
int fs_iso_week_parse(const char *s, int64_t *monday);
/* The ISO week of a civil minute as "YYYY-Www" (out: 16 bytes). */
void fs_iso_week_format(int64_t civil, char out[16]);
/* The civil minute of 00:00 on the Monday of civil's ISO week; the week is
 * [start, start + 7 * FS_MIN_PER_DAY). */
int64_t fs_iso_week_start(int64_t civil);

/* ---- the working-day calendar ---- */

#define FS_CAL_MAX_HOLIDAYS 64

typedef struct fs_calendar {
    char tz[64];      /* IANA time zone ("Asia/Shanghai", "UTC"); "" is this machine's */
    int work_start;   /* working hours, minutes after midnight (540 = 09:00) */
    int work_end;     /* 1080 = 18:00 */
    unsigned weekend; /* bit d set: weekday d (0 Sunday) is not a working day */
    int64_t holidays[FS_CAL_MAX_HOLIDAYS]; /* day numbers */
    size_t nholidays;
    /* Working days that would not be (a weekend day worked in exchange
     * for a holiday, as Chinese calendars have them): day numbers. */
    int64_t workdays[FS_CAL_MAX_HOLIDAYS];
    size_t nworkdays;
} fs_calendar;

/* Monday to Friday, 09:00-18:00, this machine's time zone, no holidays. */
void fs_calendar_default(fs_calendar *cal);
/* Adds a holiday ("YYYY-MM-DD"). FS_ETYPE, FS_ETOOBIG (too many). */
int fs_calendar_add_holiday(fs_calendar *cal, const char *date);
/* Adds a working day on what would be a weekend ("YYYY-MM-DD"), which
 * wins over the weekend but not over a holiday. FS_ETYPE, FS_ETOOBIG. */
int fs_calendar_add_workday(fs_calendar *cal, const char *date);
/* Sets the working hours from "HH:MM-HH:MM" ("09:00-18:00"). FS_ETYPE for
 * another form, FS_EINVAL when the end is not after the start (the calendar
 * is then unchanged). */
int fs_calendar_set_hours(fs_calendar *cal, const char *hours);
/* Sets the time zone; FS_EINVAL for a name that is not a zone here (the
 * calendar is then unchanged). */
int fs_calendar_set_tz(fs_calendar *cal, const char *tz);
/* The civil minute of the instant epoch_ms in the calendar's zone. Uses
 * the process's TZ setting and restores it: not for threaded callers.
 * FS_EINVAL when the C library cannot convert the instant, FS_ENOMEM. */
int fs_calendar_now(const fs_calendar *cal, int64_t epoch_ms, int64_t *civil);
/* 1 if day (a day number) is a working day of the calendar, else 0. */
int fs_calendar_is_working(const fs_calendar *cal, int64_t day);
/* The close of working hours on the nth working day after (n > 0) or
 * before (n < 0) day; n == 0: that day's close if it is a working day,
 * else the next working day's. Looks at most ten years ahead or back. */
int64_t fs_calendar_close(const fs_calendar *cal, int64_t day, int n);

/* ---- instants for people ---- */

/* Formats the instant epoch_ms (ms since 1970-01-01 00:00 UTC) with
 * strftime's fmt, in this machine's time zone (utc 0) or in UTC (utc 1),
 * into out (size bytes with the NUL). 0, or FS_EINVAL when the C library
 * cannot convert the instant or the text is empty or does not fit (out is
 * then ""). */
int fs_instant_format(char *out, size_t size, int64_t epoch_ms, int utc, const char *fmt)
    __attribute__((format(strftime, 5, 0)));

#endif
