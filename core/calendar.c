/*
 * Civil time (fieldsync/calendar.h): the one date check, civil minutes and
 * day numbers, ISO weeks, the working-day calendar, and the conversion of
 * instants into a time zone. Pure arithmetic except for the last part,
 * which asks the C library (and the zone files) about time zones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fieldsync/calendar.h"
#include "fieldsync/error.h"

#define MAX_SCAN 3700 /* days a working-day search may look (10 years) */

/* ---- civil dates and times ---- */

/* Reads n decimal digits; 0 if any byte is not one. */
static int digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* The fields of a civil date or date-time, as read. */
typedef struct civil_fields {
    int year, month, day, hour, minute;
} civil_fields;

/* Reads s as a date (with_time 0) or date-time into *f; NULL if it is one,
 * else the reason it is not (fs_civil_check). */
static const char *civil_read(const char *s, size_t n, int with_time, civil_fields *f)
{
    int year, month, day, hour = 0, minute = 0;
    memset(f, 0, sizeof *f);
    if (s == NULL || n != (with_time ? 16u : 10u) || s[4] != '-' || s[7] != '-')
        return "wrong format";
    if (!digits(s, 4, &year) || !digits(s + 5, 2, &month) || !digits(s + 8, 2, &day))
        return "wrong format";
    if (with_time &&
        (s[10] != ' ' || s[13] != ':' || !digits(s + 11, 2, &hour) || !digits(s + 14, 2, &minute)))
        return "wrong format";
    if (year < 1900)
        return "year must be 1900 or later";
    if (month < 1 || month > 12)
        return "month must be 01-12";
    if (day < 1 || day > days_in_month(year, month))
        return "no such day in that month";
    if (hour > 23)
        return "hour must be 00-23";
    if (minute > 59)
        return "minute must be 00-59";
    *f = (civil_fields){year, month, day, hour, minute};
    return NULL;
}

int fs_civil_check(const char *s, size_t n, int with_time, const char **why)
{
    civil_fields f;
    const char *problem = civil_read(s, n, with_time, &f);
    if (why != NULL)
        *why = problem;
    return problem == NULL ? 0 : FS_ETYPE;
}

int fs_date_valid(const char *s, size_t n)
{
    return fs_civil_check(s, n, 0, NULL) == 0;
}

int fs_datetime_valid(const char *s, size_t n)
{
    return fs_civil_check(s, n, 1, NULL) == 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
int64_t fs_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void fs_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int fs_civil_parse(const char *s, size_t n, int64_t *out)
{
    civil_fields f;
    if (civil_read(s, n, n == 16, &f) != NULL)
        return FS_ETYPE;
    *out = fs_days_from_civil(f.year, f.month, f.day) * FS_MIN_PER_DAY + f.hour * 60 + f.minute;
    return 0;
}

int64_t fs_civil_day(int64_t civil)
{
    return civil >= 0 ? civil / FS_MIN_PER_DAY : -((-civil + FS_MIN_PER_DAY - 1) / FS_MIN_PER_DAY);
}

void fs_civil_format(int64_t civil, char out[17])
{
    int64_t day = fs_civil_day(civil), y;
    int m, d;
    int64_t minute = civil - day * FS_MIN_PER_DAY;
    fs_civil_from_days(day, &y, &m, &d);
    /* Years outside 0..9999 do not occur in records (dates are validated). */
    int yy = y < 0 ? 0 : y > 9999 ? 9999 : (int)y;
    int hh = (int)(minute / 60), mm = (int)(minute % 60);
    out[0] = (char)('0' + yy / 1000);
    out[1] = (char)('0' + yy / 100 % 10);
    out[2] = (char)('0' + yy / 10 % 10);
    out[3] = (char)('0' + yy % 10);
    out[4] = '-';
    out[5] = (char)('0' + m / 10);
    out[6] = (char)('0' + m % 10);
    out[7] = '-';
    out[8] = (char)('0' + d / 10);
    out[9] = (char)('0' + d % 10);
    out[10] = ' ';
    out[11] = (char)('0' + hh / 10);
    out[12] = (char)('0' + hh % 10);
    out[13] = ':';
    out[14] = (char)('0' + mm / 10);
    out[15] = (char)('0' + mm % 10);
    out[16] = '\0';
}

int fs_civil_weekday(int64_t day)
{
    int64_t w = (day + 4) % 7; /* 1970-01-01 was a Thursday */
    return (int)(w < 0 ? w + 7 : w);
}

/* ---- ISO weeks ---- */

/* The day number of the Monday of day's week. */
static int64_t monday_of(int64_t day)
{
    return day - (fs_civil_weekday(day) + 6) % 7;
}

int64_t fs_iso_week_start(int64_t civil)
{
    return monday_of(fs_civil_day(civil)) * FS_MIN_PER_DAY;
}

int fs_iso_week_parse(const char *s, int64_t *monday)
{
    int year, week;
    if (s == NULL || strlen(s) != 8 || s[4] != '-' || s[5] != 'W' || !digits(s, 4, &year) ||
        !digits(s + 6, 2, &week))
        return FS_ETYPE;
    if (week < 1 || week > 53 || year < 1900)
        return FS_ETYPE;
    int64_t day = monday_of(fs_days_from_civil(year, 1, 4)); /* week 1 holds January 4 */
    day += (int64_t)(week - 1) * 7;
    /* Week 53 exists only when its Thursday is still in the year. */
    int64_t y;
    int m, d;
    fs_civil_from_days(day + 3, &y, &m, &d);
    if (y != year)
        return FS_ETYPE;
    *monday = day * FS_MIN_PER_DAY;
    return 0;
}

void fs_iso_week_format(int64_t t, char out[16])
{
    /* The ISO year is the year of the week's Thursday. */
    int64_t thursday = monday_of(fs_civil_day(t)) + 3, y;
    int m, d;
    fs_civil_from_days(thursday, &y, &m, &d);
    int week = (int)((thursday - fs_days_from_civil(y, 1, 1)) / 7) + 1; /* 1..53 */
    char thu[17];
    fs_civil_format(thursday * FS_MIN_PER_DAY, thu);
    snprintf(out, 16, "%.4s-W%02d", thu, week % 100);
}

/* ---- the working-day calendar ---- */

void fs_calendar_default(fs_calendar *cal)
{
    memset(cal, 0, sizeof *cal);
    cal->work_start = 9 * 60;
    cal->work_end = 18 * 60;
    cal->weekend = 1u << 0 | 1u << 6;
}

int fs_calendar_add_holiday(fs_calendar *cal, const char *date)
{
    int64_t civil;
    if (date == NULL || strlen(date) != 10 || fs_civil_parse(date, 10, &civil) != 0)
        return FS_ETYPE;
    if (cal->nholidays == FS_CAL_MAX_HOLIDAYS)
        return FS_ETOOBIG;
    cal->holidays[cal->nholidays++] = fs_civil_day(civil);
    return 0;
}

int fs_calendar_add_workday(fs_calendar *cal, const char *date)
{
    int64_t civil;
    if (date == NULL || strlen(date) != 10 || fs_civil_parse(date, 10, &civil) != 0)
        return FS_ETYPE;
    if (cal->nworkdays == FS_CAL_MAX_HOLIDAYS)
        return FS_ETOOBIG;
    cal->workdays[cal->nworkdays++] = fs_civil_day(civil);
    return 0;
}

/* Minutes after midnight of the "HH:MM" in the 5 bytes at s, or -1. */
static int time_of_day(const char *s)
{
    int h, m;
    if (s[2] != ':' || !digits(s, 2, &h) || !digits(s + 3, 2, &m) || h > 23 || m > 59)
        return -1;
    return h * 60 + m;
}

int fs_calendar_set_hours(fs_calendar *cal, const char *hours)
{
    if (hours == NULL || strlen(hours) != 11 || hours[5] != '-')
        return FS_ETYPE;
    int start = time_of_day(hours), end = time_of_day(hours + 6);
    if (start < 0 || end < 0)
        return FS_ETYPE;
    if (end <= start)
        return FS_EINVAL;
    cal->work_start = start;
    cal->work_end = end;
    return 0;
}

/* Runs localtime_r for t in zone tz ("" this machine's), restoring the
 * process's TZ. */
static int local_in(const char *tz, time_t t, struct tm *out)
{
    if (tz[0] == '\0')
        return localtime_r(&t, out) != NULL ? 0 : FS_EINVAL;
    const char *old = getenv("TZ");
    char *saved = old != NULL ? strdup(old) : NULL;
    if (old != NULL && saved == NULL)
        return FS_ENOMEM;
    setenv("TZ", strcmp(tz, "UTC") == 0 ? "UTC0" : tz, 1);
    tzset();
    struct tm *ok = localtime_r(&t, out);
    if (saved != NULL)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    free(saved);
    return ok != NULL ? 0 : FS_EINVAL;
}

int fs_calendar_set_tz(fs_calendar *cal, const char *tz)
{
    size_t n = tz != NULL ? strlen(tz) : 0;
    if (n >= sizeof cal->tz)
        return FS_EINVAL;
    /* glibc takes an unknown zone as UTC without a word: ask for the zone
     * file itself. Names are letters, digits, '/', '_', '-', '+'. */
    for (size_t i = 0; i < n; i++) {
        char c = tz[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-' || c == '+'))
            return FS_EINVAL;
    }
    if (n > 0 && (tz[0] == '/' || strstr(tz, "..") != NULL))
        return FS_EINVAL;
    if (n > 0 && strcmp(tz, "UTC") != 0) {
        char path[128];
        snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
        FILE *f = fopen(path, "rb");
        char magic[4] = {0};
        int ok = f != NULL && fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif", 4) == 0;
        if (f != NULL)
            fclose(f);
        if (!ok)
            return FS_EINVAL;
    }
    memcpy(cal->tz, tz != NULL ? tz : "", n + 1);
    return 0;
}

/* Whole seconds of an instant in ms, rounded down (also before 1970). */
static time_t seconds_of(int64_t epoch_ms)
{
    return (time_t)(epoch_ms >= 0 ? epoch_ms / 1000 : -((-epoch_ms + 999) / 1000));
}

int fs_calendar_now(const fs_calendar *cal, int64_t epoch_ms, int64_t *civil)
{
    struct tm tm;
    int rc = local_in(cal->tz, seconds_of(epoch_ms), &tm);
    if (rc != 0)
        return rc;
    *civil =
        fs_days_from_civil((int64_t)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday) * FS_MIN_PER_DAY +
        tm.tm_hour * 60 + tm.tm_min;
    return 0;
}

int fs_calendar_is_working(const fs_calendar *cal, int64_t day)
{
    for (size_t i = 0; i < cal->nholidays; i++)
        if (cal->holidays[i] == day)
            return 0;
    if (cal->weekend & (1u << fs_civil_weekday(day))) {
        for (size_t i = 0; i < cal->nworkdays; i++)
            if (cal->workdays[i] == day)
                return 1;
        return 0;
    }
    return 1;
}

int64_t fs_calendar_close(const fs_calendar *cal, int64_t day, int n)
{
    int64_t d = day;
    int step = n < 0 ? -1 : 1, left = n < 0 ? -n : n;
    if (n == 0) {
        for (int i = 0; i < MAX_SCAN && !fs_calendar_is_working(cal, d); i++)
            d++;
    } else {
        for (int i = 0; i < MAX_SCAN && left > 0; i++) {
            d += step;
            if (fs_calendar_is_working(cal, d))
                left--;
        }
    }
    return d * FS_MIN_PER_DAY + cal->work_end;
}

/* ---- instants for people ---- */

int fs_instant_format(char *out, size_t size, int64_t epoch_ms, int utc, const char *fmt)
{
    struct tm tm;
    time_t t = seconds_of(epoch_ms);
    int ok = (utc ? gmtime_r(&t, &tm) : localtime_r(&t, &tm)) != NULL;
    /* fmt is checked where it is written: the declaration carries
     * format(strftime), which the compiler applies to every caller. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    ok = ok && strftime(out, size, fmt, &tm) != 0;
#pragma GCC diagnostic pop
    if (!ok && size > 0)
        out[0] = '\0';
    return ok ? 0 : FS_EINVAL;
}

/* Reads 1 to maxd ASCII digits at *p into *out; 0 when there are none. */
static int read_digits(const char **p, int maxd, int *out)
{
    int n = 0, v = 0;
    while (n < maxd && **p >= '0' && **p <= '9') {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    *out = v;
    return n > 0;
}

/* 1 and *p past it when the text at *p starts with word. */
static int take_word(const char **p, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(*p, word, n) != 0)
        return 0;
    *p += n;
    return 1;
}

/* A time of day as written: 10:00, 9:30, 10\xef\xbc\x9a30 (a full-width
 * colon), or in words: 10点, 10点半, 9点05(分); after 上午/早上 as it is,
 * after 下午/晚上 an hour below 12 is the afternoon's, after 中午 one below 6.
 * 1 and *p past it, else 0 and *p untouched. */
static int read_time(const char **p, int *h, int *mi)
{
    const char *q = *p;
    int later = 0;
    if (take_word(&q, "\xe4\xb8\x8a\xe5\x8d\x88") || take_word(&q, "\xe6\x97\xa9\xe4\xb8\x8a"))
        later = 0; /* 上午, 早上 */
    else if (take_word(&q, "\xe4\xb8\x8b\xe5\x8d\x88") || take_word(&q, "\xe6\x99\x9a\xe4\xb8\x8a"))
        later = 12; /* 下午, 晚上 */
    else if (take_word(&q, "\xe4\xb8\xad\xe5\x8d\x88"))
        later = 6; /* 中午: 12点, 1点 */
    if (!read_digits(&q, 2, h))
        return 0;
    *mi = 0;
    if (take_word(&q, ":") || take_word(&q, "\xef\xbc\x9a")) {
        const char *m0 = q;
        if (!read_digits(&q, 2, mi) || q - m0 != 2)
            return 0;
    } else if (take_word(&q, "\xe7\x82\xb9")) { /* 点 */
        const char *m0 = q;
        if (take_word(&q, "\xe5\x8d\x8a")) /* 半 */
            *mi = 30;
        else if (read_digits(&q, 2, mi)) {
            if (q - m0 != 2)
                return 0;
            (void)take_word(&q, "\xe5\x88\x86"); /* 分 */
        }
    } else
        return 0;
    if (later == 12 && *h < 12)
        *h += 12;
    else if (later == 6 && *h < 6)
        *h += 12;
    *p = q;
    return 1;
}

int fs_civil_normalize(const char *in, int with_time, char out[17])
{
    const char *p = in;
    int y, mo, d, h = 0, mi = 0;
    while (*p == ' ')
        p++;
    const char *y0 = p;
    if (!read_digits(&p, 4, &y) || p - y0 != 4)
        return 0;
    /* 2026-12-10, 2026/12/10, 2026.12.10 or 2026年12月10日 (号) */
    char sep = *p;
    int cjk = 0;
    if (sep == '-' || sep == '/' || sep == '.')
        p++;
    else if (take_word(&p, "\xe5\xb9\xb4")) /* 年 */
        cjk = 1;
    else
        return 0;
    if (!read_digits(&p, 2, &mo))
        return 0;
    if (cjk ? !take_word(&p, "\xe6\x9c\x88") /* 月 */ : *p++ != sep)
        return 0;
    if (!read_digits(&p, 2, &d))
        return 0;
    if (cjk && !take_word(&p, "\xe6\x97\xa5") /* 日 */ && !take_word(&p, "\xe5\x8f\xb7") /* 号 */)
        return 0;
    if (with_time) {
        /* then 10:00, 9:30 or 10：00 (a full-width colon), after a space,
         * a T, or nothing after 日 */
        int gap = 0;
        while (*p == ' ' || *p == 'T') {
            p++;
            gap = 1;
        }
        if (!gap && !cjk)
            return 0;
        if (!read_time(&p, &h, &mi))
            return 0;
    }
    while (*p == ' ')
        p++;
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59)
        return 0;
    unsigned uy = (unsigned)y % 10000u, um = (unsigned)mo % 100u, ud = (unsigned)d % 100u;
    if (with_time)
        snprintf(out, 17, "%04u-%02u-%02u %02u:%02u", uy, um, ud, (unsigned)h % 100u,
                 (unsigned)mi % 100u);
    else
        snprintf(out, 17, "%04u-%02u-%02u", uy, um, ud);
    return strcmp(out, in) != 0;
}

int fs_civil_relative(const char *in, const char *today, int with_time, char out[17])
{
    static const struct {
        const char *word;
        int days;
    } days[] = {
        {"\xe4\xbb\x8a\xe5\xa4\xa9", 0},  /* 今天 */
        {"\xe6\x98\x8e\xe5\xa4\xa9", 1},  /* 明天 */
        {"\xe5\x90\x8e\xe5\xa4\xa9", 2},  /* 后天 */
        {"\xe6\x98\xa8\xe5\xa4\xa9", -1}, /* 昨天 */
        {"\xe5\x89\x8d\xe5\xa4\xa9", -2}, /* 前天 */
        {"\xe5\xa4\xa7\xe5\x90\x8e\xe5\xa4\xa9", 3},  /* 大后天 */
        {"\xe5\xa4\xa7\xe5\x89\x8d\xe5\xa4\xa9", -3}, /* 大前天 */
        {"today", 0},
        {"tomorrow", 1},
        {"yesterday", -1},
    };
    static const struct {
        const char *word;
        int weeks;
    } weeks[] = {
        {"\xe4\xb8\x8b\xe5\x91\xa8", 1},             /* 下周 */
        {"\xe4\xb8\x8b\xe6\x98\x9f\xe6\x9c\x9f", 1}, /* 下星期 */
        {"\xe6\x9c\xac\xe5\x91\xa8", 0},             /* 本周 */
        {"\xe8\xbf\x99\xe5\x91\xa8", 0},             /* 这周 */
        {"\xe8\xbf\x99\xe6\x98\x9f\xe6\x9c\x9f", 0}, /* 这星期 */
        {"\xe4\xb8\x8a\xe5\x91\xa8", -1},            /* 上周 */
        {"\xe4\xb8\x8a\xe6\x98\x9f\xe6\x9c\x9f", -1}, /* 上星期 */
    };
    /* 一 二 三 四 五 六, then 日 and 天 for Sunday: ISO weekdays 1..7 */
    static const char *const wd[] = {"\xe4\xb8\x80", "\xe4\xba\x8c", "\xe4\xb8\x89",
                                     "\xe5\x9b\x9b", "\xe4\xba\x94", "\xe5\x85\xad",
                                     "\xe6\x97\xa5", "\xe5\xa4\xa9"};
    int64_t at;
    if (today == NULL || strlen(today) < 10 || fs_civil_parse(today, 10, &at) != 0)
        return 0;
    int64_t day = fs_civil_day(at), d = 0;
    const char *p = in;
    int found = 0;
    while (*p == ' ')
        p++;
    for (size_t i = 0; !found && i < sizeof days / sizeof days[0]; i++)
        if (take_word(&p, days[i].word)) {
            d = day + days[i].days;
            found = 1;
        }
    for (size_t i = 0; !found && i < sizeof weeks / sizeof weeks[0]; i++) {
        const char *q = p;
        if (!take_word(&q, weeks[i].word))
            continue;
        for (int k = 0; !found && k < 8; k++)
            if (take_word(&q, wd[k])) {
                int64_t monday = day - (fs_civil_weekday(day) + 6) % 7;
                d = monday + 7 * weeks[i].weeks + (k < 6 ? k : 6);
                found = 1;
                p = q;
            }
    }
    if (!found)
        return 0;
    int h = 0, mi = 0;
    if (with_time) {
        while (*p == ' ')
            p++;
        if (!read_time(&p, &h, &mi))
            return 0;
    }
    while (*p == ' ')
        p++;
    if (*p != '\0' || h > 23 || mi > 59)
        return 0;
    char full[17];
    fs_civil_format(d * FS_MIN_PER_DAY + h * 60 + mi, full);
    if (!with_time)
        full[10] = '\0';
    memcpy(out, full, 17);
    return 1;
}
