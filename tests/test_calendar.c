/*
 * The time module: the one date check (fieldsync/calendar.h), civil days,
 * ISO weeks and their bounds, working days, the formatting of instants,
 * and the clocks (fieldsync/clock.h). The rules engine's own use of the
 * calendar is tests/test_rules.c's.
 */
#include <stdint.h>
#include <string.h>

#include "fieldsync/calendar.h"
#include "fieldsync/clock.h"
#include "fieldsync/error.h"
#include "test.h"

/* Civil minutes of a valid date or date-time. */
static int64_t civ(const char *s)
{
    int64_t c = -1;
    CHECK_OK(fs_civil_parse(s, strlen(s), &c));
    return c;
}

static int64_t day_of(const char *date)
{
    return fs_civil_day(civ(date));
}

/* The reason fs_civil_check gives for s (NUL-terminated), "" if none. */
static const char *why_not(const char *s, int with_time)
{
    const char *why = "unset";
    int rc = fs_civil_check(s, strlen(s), with_time, &why);
    if (rc == 0) {
        CHECK(why == NULL);
        return "";
    }
    CHECK_ERR(rc, FS_ETYPE);
    CHECK(why != NULL);
    return why;
}

static void test_leap_years(void)
{
    CHECK(fs_date_valid("2024-02-29", 10));
    CHECK(fs_date_valid("2000-02-29", 10)); /* divisible by 400 */
    CHECK(fs_date_valid("2020-02-29", 10));
    CHECK(!fs_date_valid("2026-02-29", 10));
    CHECK(!fs_date_valid("1900-02-29", 10)); /* divisible by 100, not 400 */
    CHECK(!fs_date_valid("2100-02-29", 10));
    CHECK_STR(why_not("2023-02-29", 0), "no such day in that month");
    CHECK(!fs_date_valid("2024-02-30", 10));
    /* Day numbers: the epoch, and a leap day counted once. */
    CHECK_EQ_INT(fs_days_from_civil(1970, 1, 1), 0);
    CHECK_EQ_INT(fs_days_from_civil(2000, 3, 1) - fs_days_from_civil(2000, 2, 28), 2);
    CHECK_EQ_INT(fs_days_from_civil(2100, 3, 1) - fs_days_from_civil(2100, 2, 28), 1);
    CHECK_EQ_INT(fs_days_from_civil(2025, 1, 1) - fs_days_from_civil(2024, 1, 1), 366);
    CHECK_EQ_INT(fs_days_from_civil(2027, 1, 1) - fs_days_from_civil(2026, 1, 1), 365);
    /* Every day from 1900 to 2400 parses to the next day number, and back. */
    int64_t expect = fs_days_from_civil(1900, 1, 1);
    for (int64_t y = 1900; y <= 2400; y++)
        for (int m = 1; m <= 12; m++)
            for (int d = 1; d <= 31; d++) {
                char s[11];
                snprintf(s, sizeof s, "%04d-%02d-%02d", (int)y, m, d);
                int64_t c;
                if (fs_civil_parse(s, 10, &c) != 0)
                    continue;
                CHECK_EQ_INT(fs_civil_day(c), expect);
                int64_t yy;
                int mm, dd;
                fs_civil_from_days(expect, &yy, &mm, &dd);
                CHECK(yy == y && mm == m && dd == d);
                expect++;
            }
    CHECK_EQ_INT(expect, fs_days_from_civil(2401, 1, 1));
}

static void test_invalid_dates(void)
{
    int64_t c = 42;
    const char *bad[] = {"2026-02-29", "2026-13-01", "2026-12-32", "2026-00-10", "2026-04-31",
                         "2026-01-00", "1899-12-31", "",           "garbage!!!", "2026/01/01",
                         "2026-1-01",  "26-01-01",   "+026-01-01", " 2026-01-1", "２０２６"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(!fs_date_valid(bad[i], strlen(bad[i])));
        CHECK_ERR(fs_civil_parse(bad[i], strlen(bad[i]), &c), FS_ETYPE);
        CHECK_EQ_INT(c, 42); /* untouched on failure */
    }
    CHECK_STR(why_not("2026-13-01", 0), "month must be 01-12");
    CHECK_STR(why_not("2026-12-32", 0), "no such day in that month");
    CHECK_STR(why_not("1899-12-31", 0), "year must be 1900 or later");
    CHECK_STR(why_not("garbage!!!", 0), "wrong format");
    CHECK_STR(why_not("2026-01-01", 0), "");
    /* Trailing bytes, or too few: the length is part of the form. */
    CHECK(!fs_date_valid("2026-01-01x", 11));
    CHECK(!fs_date_valid("2026-01-01 ", 11));
    CHECK(!fs_date_valid("2026-01-01", 9));
    CHECK(!fs_datetime_valid("2026-01-01 10:00:00", 19));
    CHECK(!fs_datetime_valid("2026-01-01 10:00x", 17));
    CHECK_ERR(fs_civil_parse("2026-01-01x", 11, &c), FS_ETYPE);
    CHECK_ERR(fs_civil_parse("2026-01-01 10:00:00", 19, &c), FS_ETYPE);
    CHECK_STR(why_not("2026-01-01x", 0), "wrong format");
    /* A NUL inside the bytes is no digit. */
    CHECK(!fs_date_valid("2026-01-0\0", 10));
    CHECK(!fs_date_valid(NULL, 10));
    CHECK_ERR(fs_civil_check(NULL, 0, 0, NULL), FS_ETYPE);
    /* Date-times. */
    CHECK(fs_datetime_valid("2026-12-31 23:59", 16));
    CHECK_STR(why_not("2026-12-31 24:00", 1), "hour must be 00-23");
    CHECK_STR(why_not("2026-12-31 12:60", 1), "minute must be 00-59");
    CHECK_STR(why_not("2026-12-31T12:00", 1), "wrong format");
    CHECK_STR(why_not("2026-02-29 12:00", 1), "no such day in that month");
    /* A format error is named before a range error. */
    CHECK_STR(why_not("2026-13-01 1:00", 1), "wrong format");
    CHECK_STR(why_not("2026-12-31", 1), "wrong format");
    CHECK_STR(why_not("2026-12-31 12:00", 0), "wrong format");
    CHECK_EQ_INT(civ("2026-12-31 23:59") - civ("2026-12-31"), 23 * 60 + 59);
}

static void test_civil_format(void)
{
    char out[17];
    const char *s[] = {"1900-01-01 00:00", "1969-12-31 23:59", "1970-01-01 00:00",
                       "2024-02-29 12:34", "2026-12-31 23:59", "9999-12-31 23:59"};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        fs_civil_format(civ(s[i]), out);
        CHECK_STR(out, s[i]);
    }
    CHECK_EQ_INT(fs_civil_day(civ("1969-12-31 23:59")), -1);
    CHECK_EQ_INT(fs_civil_weekday(day_of("2026-12-05")), 6); /* a Saturday */
    CHECK_EQ_INT(fs_civil_weekday(day_of("1969-12-28")), 0); /* a Sunday */
}

static void test_iso_week_53(void)
{
    int64_t monday;
    char out[16], text[17];
    /* 2020 (a leap year starting on Wednesday) and 2026 (starting on
     * Thursday) have a week 53; 2021, 2025 and 2027 do not. */
    CHECK_OK(fs_iso_week_parse("2020-W53", &monday));
    fs_civil_format(monday, text);
    CHECK_STR(text, "2020-12-28 00:00");
    CHECK_OK(fs_iso_week_parse("2026-W53", &monday));
    fs_civil_format(monday, text);
    CHECK_STR(text, "2026-12-28 00:00");
    CHECK_ERR(fs_iso_week_parse("2021-W53", &monday), FS_ETYPE);
    CHECK_ERR(fs_iso_week_parse("2025-W53", &monday), FS_ETYPE);
    CHECK_ERR(fs_iso_week_parse("2027-W53", &monday), FS_ETYPE);
    /* Days at the turn of the year belong to the week of their Thursday. */
    fs_iso_week_format(civ("2021-01-03 12:00"), out);
    CHECK_STR(out, "2020-W53");
    fs_iso_week_format(civ("2021-01-04"), out);
    CHECK_STR(out, "2021-W01");
    fs_iso_week_format(civ("2027-01-03"), out);
    CHECK_STR(out, "2026-W53");
    fs_iso_week_format(civ("2026-01-01"), out);
    CHECK_STR(out, "2026-W01");
    fs_iso_week_format(civ("2025-12-29"), out);
    CHECK_STR(out, "2026-W01");
    fs_iso_week_format(civ("2024-12-30"), out);
    CHECK_STR(out, "2025-W01");
    /* Week 1 of 2026 starts in 2025. */
    CHECK_OK(fs_iso_week_parse("2026-W01", &monday));
    fs_civil_format(monday, text);
    CHECK_STR(text, "2025-12-29 00:00");
    /* Malformed weeks. */
    const char *bad[] = {"2026-W00", "2026-W54", "2026-W1",  "2026-W011", "2026W01",
                         "2026-w01", "2026-X01", "20a6-W01", "1899-W10",  ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_ERR(fs_iso_week_parse(bad[i], &monday), FS_ETYPE);
    /* Every week of 1990-2040 reads back as itself, on a Monday, and weeks
     * follow each other by seven days. */
    int64_t prev = -1;
    int weeks53 = 0;
    for (int y = 1990; y <= 2040; y++)
        for (int w = 1; w <= 53; w++) {
            char s[16];
            snprintf(s, sizeof s, "%04d-W%02d", y, w);
            if (fs_iso_week_parse(s, &monday) != 0) {
                CHECK_EQ_INT(w, 53);
                continue;
            }
            weeks53 += w == 53;
            CHECK_EQ_INT(fs_civil_weekday(fs_civil_day(monday)), 1);
            fs_iso_week_format(monday + 6 * FS_MIN_PER_DAY, out); /* its Sunday */
            CHECK_STR(out, s);
            if (prev >= 0)
                CHECK_EQ_INT(monday - prev, 7 * FS_MIN_PER_DAY);
            prev = monday;
        }
    CHECK_EQ_INT(weeks53, 9); /* 1992 1998 2004 2009 2015 2020 2026 2032 2037 */
}

static void test_week_bounds(void)
{
    int64_t monday = civ("2026-12-28"); /* 2026-W53 */
    for (int64_t m = 0; m < 7 * FS_MIN_PER_DAY; m += 37)
        CHECK_EQ_INT(fs_iso_week_start(monday + m), monday);
    /* The next week starts at the end of this one: [start, start + 7 days). */
    CHECK_EQ_INT(fs_iso_week_start(monday + 7 * FS_MIN_PER_DAY), monday + 7 * FS_MIN_PER_DAY);
    CHECK_EQ_INT(fs_iso_week_start(monday - 1), monday - 7 * FS_MIN_PER_DAY);
    /* Sunday evening is still the week before. */
    CHECK_EQ_INT(fs_iso_week_start(civ("2026-12-06 23:59")), civ("2026-11-30"));
    CHECK_EQ_INT(fs_iso_week_start(civ("2026-12-07 00:00")), civ("2026-12-07"));
    /* Across the year, and before 1970. */
    CHECK_EQ_INT(fs_iso_week_start(civ("2026-01-01 09:00")), civ("2025-12-29"));
    CHECK_EQ_INT(fs_iso_week_start(civ("1970-01-01")), civ("1969-12-29"));
    CHECK_EQ_INT(fs_iso_week_start(civ("1969-12-28 12:00")), civ("1969-12-22"));
    int64_t parsed;
    CHECK_OK(fs_iso_week_parse("2020-W53", &parsed));
    CHECK_EQ_INT(fs_iso_week_start(civ("2021-01-03 23:59")), parsed);
}

static void test_working_days(void)
{
    fs_calendar cal;
    fs_calendar_default(&cal);
    char out[17];
    CHECK_EQ_INT(cal.work_start, 9 * 60);
    CHECK_EQ_INT(cal.work_end, 18 * 60);
    CHECK(fs_calendar_is_working(&cal, day_of("2026-12-04")));  /* Friday */
    CHECK(!fs_calendar_is_working(&cal, day_of("2026-12-05"))); /* Saturday */
    CHECK(!fs_calendar_is_working(&cal, day_of("2026-12-06"))); /* Sunday */
    /* Friday + 1 working day: across the weekend to Monday. */
    fs_civil_format(fs_calendar_close(&cal, day_of("2026-12-04"), 1), out);
    CHECK_STR(out, "2026-12-07 18:00");
    /* Wednesday + 5: the next Wednesday. */
    fs_civil_format(fs_calendar_close(&cal, day_of("2026-12-02"), 5), out);
    CHECK_STR(out, "2026-12-09 18:00");
    /* From a Saturday, 1 working day is Monday, as from the Friday. */
    fs_civil_format(fs_calendar_close(&cal, day_of("2026-12-05"), 1), out);
    CHECK_STR(out, "2026-12-07 18:00");
    /* Monday - 1: the Friday before. */
    fs_civil_format(fs_calendar_close(&cal, day_of("2026-12-07"), -1), out);
    CHECK_STR(out, "2026-12-04 18:00");
    /* Same day on a Sunday: Monday. */
    fs_civil_format(fs_calendar_close(&cal, day_of("2026-12-06"), 0), out);
    CHECK_STR(out, "2026-12-07 18:00");
    /* Ten working days are two calendar weeks. */
    CHECK_EQ_INT(fs_calendar_close(&cal, day_of("2026-12-02"), 10) -
                     fs_calendar_close(&cal, day_of("2026-12-02"), 0),
                 14 * FS_MIN_PER_DAY);
    /* Holidays: Christmas on a Friday and New Year on a Friday. */
    CHECK_OK(fs_calendar_add_holiday(&cal, "2026-12-25"));
    CHECK_OK(fs_calendar_add_holiday(&cal, "2027-01-01"));
    CHECK(!fs_calendar_is_working(&cal, day_of("2026-12-25")));
    fs_civil_format(fs_calendar_close(&cal, day_of("2026-12-24"), 1), out);
    CHECK_STR(out, "2026-12-28 18:00");
    fs_civil_format(fs_calendar_close(&cal, day_of("2026-12-24"), 6), out);
    CHECK_STR(out, "2027-01-05 18:00");
    fs_civil_format(fs_calendar_close(&cal, day_of("2026-12-28"), -1), out);
    CHECK_STR(out, "2026-12-24 18:00");
    CHECK_ERR(fs_calendar_add_holiday(&cal, "2026-02-29"), FS_ETYPE);
    CHECK_ERR(fs_calendar_add_holiday(&cal, "2026-12-24 00:00"), FS_ETYPE);
    /* Working hours. */
    CHECK_OK(fs_calendar_set_hours(&cal, "08:30-17:15"));
    CHECK_EQ_INT(cal.work_start, 8 * 60 + 30);
    CHECK_EQ_INT(cal.work_end, 17 * 60 + 15);
    fs_civil_format(fs_calendar_close(&cal, day_of("2026-12-04"), 1), out);
    CHECK_STR(out, "2026-12-07 17:15");
    const char *bad[] = {"8:30-17:15",   "08:30-17:1", "08:30 17:15", "24:00-25:00", "08:60-17:00",
                         "08:30-17:15 ", "",           "ab:cd-ef:gh"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_ERR(fs_calendar_set_hours(&cal, bad[i]), FS_ETYPE);
    CHECK_ERR(fs_calendar_set_hours(&cal, "17:00-09:00"), FS_EINVAL);
    CHECK_ERR(fs_calendar_set_hours(&cal, "09:00-09:00"), FS_EINVAL);
    CHECK_EQ_INT(cal.work_end, 17 * 60 + 15); /* unchanged by a refusal */
}

static void test_instants(void)
{
    /* 2023-10-10 01:30:05 UTC */
    int64_t ms = INT64_C(1696901405) * 1000 + 999;
    char out[32];
    CHECK_OK(fs_instant_format(out, sizeof out, ms, 1, "%Y-%m-%d %H:%M:%S"));
    CHECK_STR(out, "2023-10-10 01:30:05");
    CHECK_OK(fs_instant_format(out, sizeof out, -1, 1, "%Y-%m-%d %H:%M:%S"));
    CHECK_STR(out, "1969-12-31 23:59:59"); /* rounded down, not toward zero */
    /* Too small a buffer: an error and an empty string. */
    CHECK_ERR(fs_instant_format(out, 5, ms, 1, "%Y-%m-%d"), FS_EINVAL);
    CHECK_STR(out, "");
    /* Local time is the civil minute fs_calendar_now gives in this
     * machine's zone. */
    fs_calendar cal;
    fs_calendar_default(&cal);
    int64_t now;
    char civil[17];
    CHECK_OK(fs_calendar_now(&cal, ms, &now));
    fs_civil_format(now, civil);
    CHECK_OK(fs_instant_format(out, sizeof out, ms, 0, "%Y-%m-%d %H:%M"));
    CHECK_STR(out, civil);
    CHECK_OK(fs_calendar_set_tz(&cal, "Asia/Shanghai"));
    CHECK_OK(fs_calendar_now(&cal, ms, &now));
    fs_civil_format(now, civil);
    CHECK_STR(civil, "2023-10-10 09:30");
}

static void test_clocks(void)
{
    /* The wall clock reads Unix milliseconds of this century. */
    uint64_t wall = fs_clock_wall_ms();
    CHECK(wall > UINT64_C(1577836800000)); /* 2020-01-01 */
    CHECK(wall < UINT64_C(4102444800000)); /* 2100-01-01 */
    /* The monotonic clocks never go back. */
    uint64_t ms = fs_clock_mono_ms(), us = fs_clock_mono_us(), boot = fs_clock_boot_ms();
    for (int i = 0; i < 200000; i++) {
        uint64_t ms2 = fs_clock_mono_ms(), us2 = fs_clock_mono_us(), boot2 = fs_clock_boot_ms();
        if (ms2 < ms || us2 < us || boot2 < boot)
            FAIL("a clock went back at read %d: ms %llu -> %llu, us %llu -> %llu, boot %llu -> "
                 "%llu",
                 i, (unsigned long long)ms, (unsigned long long)ms2, (unsigned long long)us,
                 (unsigned long long)us2, (unsigned long long)boot, (unsigned long long)boot2);
        ms = ms2;
        us = us2;
        boot = boot2;
    }
    /* Milliseconds and microseconds are the same clock. */
    uint64_t a = fs_clock_mono_ms(), b = fs_clock_mono_us(), c = fs_clock_mono_ms();
    CHECK(a <= b / 1000 && b / 1000 <= c);
    /* Boot time includes suspended time, so it is never behind monotonic
     * time by more than the gap between two reads. */
    CHECK(fs_clock_boot_ms() + 1 >= fs_clock_mono_ms());
    /* 50 ms of sleep are seen. */
    uint64_t m0 = fs_clock_mono_ms(), u0 = fs_clock_mono_us(), b0 = fs_clock_boot_ms();
    usleep(50 * 1000);
    CHECK(fs_clock_mono_ms() - m0 >= 50);
    CHECK(fs_clock_mono_us() - u0 >= 50000);
    CHECK(fs_clock_boot_ms() - b0 >= 50);
}

/* A text as typed, a date (with_time 0) or a time, and what it becomes. */
typedef struct civil_case {
    const char *in;
    int with_time;
    const char *out;
} civil_case;

/* Dates and times as people in China write them, into the one form; what
 * is not one of those ways is left to the check (0). */
static void test_normalize(void)
{
    char out[17];
    static const civil_case ok[] = {
        {"2026/12/10 10:00", 1, "2026-12-10 10:00"},
        {"2026-12-10 9:30", 1, "2026-12-10 09:30"},
        {"2026.12.1 8:05", 1, "2026-12-01 08:05"},
        {"2026\xe5\xb9\xb4" "12\xe6\x9c\x88" "10\xe6\x97\xa5 10:00", 1, "2026-12-10 10:00"},
        {"2026\xe5\xb9\xb4" "1\xe6\x9c\x88" "5\xe5\x8f\xb7" "10\xef\xbc\x9a" "30", 1,
         "2026-01-05 10:30"},
        {"2026-12-10T10:00", 1, "2026-12-10 10:00"},
        {"2026/12/10 10\xe7\x82\xb9\xe5\x8d\x8a", 1, "2026-12-10 10:30"}, /* 10点半 */
        {"2026\xe5\xb9\xb4" "12\xe6\x9c\x88" "10\xe6\x97\xa5\xe4\xb8\x8b\xe5\x8d\x88" "3\xe7\x82\xb9",
         1, "2026-12-10 15:00"}, /* 2026年12月10日下午3点 */
        {"2026/12/10 9\xe7\x82\xb9" "05\xe5\x88\x86", 1, "2026-12-10 09:05"}, /* 9点05分 */
        {"2026/12/10 \xe4\xb8\xad\xe5\x8d\x88" "1\xe7\x82\xb9", 1, "2026-12-10 13:00"}, /* 中午1点 */
        {" 2026/2/3 ", 0, "2026-02-03"},
        {"2026\xe5\xb9\xb4" "2\xe6\x9c\x88" "3\xe6\x97\xa5", 0, "2026-02-03"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        CHECK(fs_civil_normalize(ok[i].in, ok[i].with_time, out) == 1);
        CHECK_STR(out, ok[i].out);
    }
    static const struct {
        const char *in;
        int with_time;
    } no[] = {
        {"2026-12-10 10:00", 1}, /* already so: nothing to do */
        {"2026-12-10", 0},
        {"12-10 10:00", 1},      /* no year: not guessed */
        {"2026/12/10", 1},       /* no time where one is wanted */
        {"2026/12/10 10:00", 0}, /* a time where a date is */
        {"2026-12/10", 0},       /* two kinds of separator */
        {"2026/13/10", 0},
        {"2026/12/32", 0},
        {"2026/12/10 24:00", 1},
        {"2026/12/10 10:5", 1},
        {"2026/12/10 10:00x", 1},
        {"26/12/10", 0},
        {"", 0},
        {"2026/12/10 9\xe7\x82\xb9" "5", 1}, /* 9点5: minutes have two digits */
        {"2026/12/10 \xe4\xb8\x8b\xe5\x8d\x88" "13\xe7\x82\xb9" "60", 1},
    };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        CHECK(fs_civil_normalize(no[i].in, no[i].with_time, out) == 0);
}

/* Days in words, from Tuesday 2026-12-08 (a week starts on Monday). */
static void test_relative(void)
{
    char out[17];
    static const civil_case ok[] = {
        {"\xe4\xbb\x8a\xe5\xa4\xa9", 0, "2026-12-08"},                   /* 今天 */
        {"\xe6\x98\x8e\xe5\xa4\xa9", 0, "2026-12-09"},                   /* 明天 */
        {"\xe5\x90\x8e\xe5\xa4\xa9", 0, "2026-12-10"},                   /* 后天 */
        {"\xe6\x98\xa8\xe5\xa4\xa9", 0, "2026-12-07"},                   /* 昨天 */
        {"\xe5\x89\x8d\xe5\xa4\xa9", 0, "2026-12-06"},                   /* 前天 */
        {"\xe5\xa4\xa7\xe5\x90\x8e\xe5\xa4\xa9", 0, "2026-12-11"},        /* 大后天 */
        {"\xe5\xa4\xa7\xe5\x89\x8d\xe5\xa4\xa9", 0, "2026-12-05"},        /* 大前天 */
        {"tomorrow", 0, "2026-12-09"},
        {" yesterday ", 0, "2026-12-07"},
        {"\xe6\x9c\xac\xe5\x91\xa8\xe4\xb8\x80", 0, "2026-12-07"},       /* 本周一 */
        {"\xe8\xbf\x99\xe5\x91\xa8\xe4\xba\x94", 0, "2026-12-11"},       /* 这周五 */
        {"\xe4\xb8\x8b\xe5\x91\xa8\xe4\xb8\x89", 0, "2026-12-16"},       /* 下周三 */
        {"\xe4\xb8\x8b\xe6\x98\x9f\xe6\x9c\x9f\xe6\x97\xa5", 0, "2026-12-20"}, /* 下星期日 */
        {"\xe4\xb8\x8a\xe5\x91\xa8\xe5\xa4\xa9", 0, "2026-12-06"},       /* 上周天 */
        {"\xe6\x98\x8e\xe5\xa4\xa9 10:00", 1, "2026-12-09 10:00"},
        {"\xe6\x98\x8e\xe5\xa4\xa9\xe4\xb8\x8b\xe5\x8d\x88" "3\xe7\x82\xb9", 1, "2026-12-09 15:00"},
        {"\xe4\xb8\x8b\xe5\x91\xa8\xe4\xb8\x80 9\xe7\x82\xb9\xe5\x8d\x8a", 1, "2026-12-14 09:30"},
        {"today 8\xef\xbc\x9a" "05", 1, "2026-12-08 08:05"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        CHECK(fs_civil_relative(ok[i].in, "2026-12-08", ok[i].with_time, out) == 1);
        CHECK_STR(out, ok[i].out);
    }
    /* across a month and a year: Thursday 2026-12-31 */
    CHECK(fs_civil_relative("\xe6\x98\x8e\xe5\xa4\xa9", "2026-12-31", 0, out) == 1);
    CHECK_STR(out, "2027-01-01");
    CHECK(fs_civil_relative("\xe4\xb8\x8b\xe5\x91\xa8\xe4\xb8\x80", "2026-12-31", 0, out) == 1);
    CHECK_STR(out, "2027-01-04");
    static const struct {
        const char *in;
        int with_time;
    } no[] = {
        {"\xe6\x98\x8e\xe5\xa4\xa9", 1},          /* a time is wanted */
        {"\xe6\x98\x8e\xe5\xa4\xa9 10:00", 0},    /* a time where a date is */
        {"\xe4\xb8\x8b\xe5\x91\xa8", 0},          /* which day of it? */
        {"\xe4\xb8\x8b\xe5\x91\xa8\xe5\x85\xab", 0}, /* 下周八 */
        {"\xe6\x98\x8e\xe5\xa4\xa9 25:00", 1},
        {"\xe6\x98\x8e\xe5\xa4\xa9\xe5\x90\xa7", 0}, /* 明天吧 */
        {"next week", 0},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        CHECK(fs_civil_relative(no[i].in, "2026-12-08", no[i].with_time, out) == 0);
    CHECK(fs_civil_relative("today", "not a day", 0, out) == 0);
}

TEST_LIST(TEST(leap_years) TEST(invalid_dates) TEST(civil_format) TEST(iso_week_53)
              TEST(week_bounds) TEST(working_days) TEST(instants) TEST(clocks) TEST(normalize) TEST(relative))
