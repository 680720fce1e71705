/*
 * Fuzz target: what a user types that a parser reads before anything else
 * does: an enrollment code and the secret a device sends back
 * (fs_enroll_code_parse, fs_enroll_request_secret), a date or date-time
 * (fs_civil_parse, fs_civil_check, and fs_civil_normalize, which takes the
 * ways people write one), an ISO week (fs_iso_week_parse), a
 * duration (fs_duration_parse) and a command line (fs_opts_parse,
 * fs_opts_parse_head). The first byte picks the parser; the rest is the
 * text, up to its first NUL (a command line: arguments split at '\n').
 *
 * What holds: whatever parses is written back by the matching formatter to
 * the same text (the parsers accept one spelling); a parsed week starts on
 * a Monday; a duration is within the bounds asked; a refusal says why; a
 * command line's values and its error point into the arguments given.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync/calendar.h"
#include "fieldsync/duration.h"
#include "fieldsync/enroll.h"
#include "fieldsync/error.h"
#include "fieldsync/opts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void enroll_code(const char *s)
{
    uint8_t pk[FS_SIGN_PK_BYTES], secret[FS_ENROLL_SECRET_BYTES];
    if (fs_enroll_code_parse(s, pk, secret) == 0) {
        char again[FS_ENROLL_CODE_CHARS + 1];
        fs_enroll_code_format(pk, secret, again);
        if (strcmp(again, s) != 0)
            abort();
    }
    if (fs_enroll_request_secret(s, strlen(s), secret) == 0) {
        char again[FS_ENROLL_REQ_CHARS + 1];
        fs_enroll_request_code(secret, again);
        if (strcmp(again, s) != 0)
            abort();
    }
}

/* A date or time as people write it (fs_civil_normalize): what it makes
 * is in the one form (10 or 16 bytes), which it leaves as it is. */
static void civil_normalize(const char *s)
{
    for (int with_time = 0; with_time < 2; with_time++) {
        char out[17], again[17];
        if (!fs_civil_normalize(s, with_time, out))
            continue;
        if (strlen(out) != (with_time ? 16u : 10u) || strcmp(out, s) == 0 ||
            fs_civil_normalize(out, with_time, again))
            abort();
    }
}

/* A day in words (fs_civil_relative), from a fixed today: what it makes is
 * a valid date or date-time in the one form. */
static void civil_relative(const char *s)
{
    for (int with_time = 0; with_time < 2; with_time++) {
        char out[17], again[17];
        if (!fs_civil_relative(s, "2026-12-08", with_time, out))
            continue;
        size_t n = strlen(out);
        if (n != (with_time ? 16u : 10u) ||
            !(with_time ? fs_datetime_valid(out, n) : fs_date_valid(out, n)) ||
            fs_civil_normalize(out, with_time, again))
            abort();
    }
}

static void civil(const char *s)
{
    civil_normalize(s);
    civil_relative(s);
    size_t n = strlen(s);
    int64_t at = 0;
    int rc = fs_civil_parse(s, n, &at);
    int date = fs_date_valid(s, n), datetime = fs_datetime_valid(s, n);
    if ((rc == 0) != (date || datetime))
        abort();
    const char *why = NULL;
    if (fs_civil_check(s, n, n == 16, &why) == 0 ? why != NULL : why == NULL || why[0] == '\0')
        abort();
    if (rc != 0)
        return;
    char again[17];
    fs_civil_format(at, again);
    if (date ? memcmp(again, s, 10) != 0 || strcmp(again + 10, " 00:00") != 0
             : strcmp(again, s) != 0)
        abort();
}

static void iso_week(const char *s)
{
    int64_t monday = 0;
    if (fs_iso_week_parse(s, &monday) != 0)
        return;
    if (fs_civil_weekday(fs_civil_day(monday)) != 1 || fs_iso_week_start(monday) != monday)
        abort();
    char again[16];
    fs_iso_week_format(monday, again);
    if (strcmp(again, s) != 0)
        abort();
}

static void duration(const char *s, uint8_t lo, uint8_t hi)
{
    uint64_t min_ms = (uint64_t)lo * 1000u, max_ms = min_ms + (uint64_t)hi * 60000u, ms = 0;
    const char *why = fs_duration_parse(s, min_ms, max_ms, &ms);
    if (why == NULL ? ms < min_ms || ms > max_ms : why[0] == '\0')
        abort();
}

/* p lies within one of the arguments (their bytes and NULs). */
static int within(const char *p, char **argv, int argc)
{
    for (int i = 0; i < argc; i++)
        if (p >= argv[i] && p <= argv[i] + strlen(argv[i]))
            return 1;
    return 0;
}

static void command_line(char *s)
{
    char *argv[16];
    int argc = 0;
    for (char *p = s; argc < 16;) {
        argv[argc++] = p;
        char *nl = strchr(p, '\n');
        if (nl == NULL)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    for (int head = 0; head < 2; head++) {
        int flag = 0;
        const char *value = NULL;
        fs_opt_list list = {NULL, 0};
        const fs_opt opts[] = {
            {"--flag", FS_OPT_FLAG, &flag, NULL, NULL},
            {"--value", FS_OPT_VALUE, NULL, &value, NULL},
            {"--list", FS_OPT_LIST, NULL, NULL, &list},
        };
        fs_opts_error err;
        int next = -1;
        int rc = head ? fs_opts_parse_head(opts, 3, argc, argv, &next, &err)
                      : fs_opts_parse(opts, 3, argc, argv, &err);
        if (rc != 0 && rc != FS_OPTS_HELP && rc != FS_EINVAL && rc != FS_ENOMEM)
            abort();
        if (rc == FS_EINVAL &&
            (err.problem == FS_OPTS_NONE || err.index < 0 || err.index >= argc ||
             err.name == NULL || err.namelen < 0 || !within(err.name, argv, argc) ||
             (size_t)err.namelen > strlen(err.name)))
            abort();
        if (head && rc == 0 && (next < 0 || next > argc))
            abort();
        if (value != NULL && !within(value, argv, argc))
            abort();
        for (size_t i = 0; i < list.count; i++)
            if (!within(list.items[i], argv, argc))
                abort();
        if (flag != 0 && flag != 1)
            abort();
        fs_opt_list_free(&list);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    char *s = malloc(size - 2);
    if (s == NULL)
        return 0;
    memcpy(s, data + 3, size - 3);
    s[size - 3] = '\0';
    switch (data[0] % 5) {
    case 0:
        enroll_code(s);
        break;
    case 1:
        civil(s);
        break;
    case 2:
        iso_week(s);
        break;
    case 3:
        duration(s, data[1], data[2]);
        break;
    default:
        command_line(s);
        break;
    }
    free(s);
    return 0;
}
