/*
 * The team's calendar (fieldsync/rules.h, issue 17 point 7): the
 * server-written `team_setting` rows of one team (schema 5) read into a
 * working-day calendar, and the one check of what a setting may hold, used
 * by the server before it writes one.
 */
#include <stdlib.h>
#include <string.h>

#include "fieldsync/calendar.h"
#include "fieldsync/error.h"
#include "fieldsync/passphrase.h"
#include "fieldsync/replica.h"
#include "fieldsync/rules.h"

/* Checks a list of dates "D,D,...": at most FS_CAL_MAX_HOLIDAYS. */
static int dates_check(const char *value, const char **why)
{
    size_t n = strlen(value), count = 0;
    for (size_t i = 0; i < n;) {
        const char *end = memchr(value + i, ',', n - i);
        size_t len = end != NULL ? (size_t)(end - (value + i)) : n - i;
        if (fs_civil_check(value + i, len, 0, why) != 0)
            return FS_EINVAL;
        if (++count > FS_CAL_MAX_HOLIDAYS) {
            *why = "too many dates";
            return FS_EINVAL;
        }
        i += len + (end != NULL);
        if (end != NULL && i == n) {
            *why = "wrong format";
            return FS_EINVAL;
        }
    }
    return 0;
}

int fs_team_setting_check(const char *setting, const char *value, const char **why)
{
    static const char *none;
    if (why == NULL)
        why = &none;
    *why = "not a setting this fieldsync knows";
    if (setting == NULL || value == NULL)
        return FS_EINVAL;
    if (strlen(value) > FS_TEAM_VALUE_MAX) {
        *why = "too long";
        return FS_EINVAL;
    }
    fs_calendar cal;
    fs_calendar_default(&cal);
    if (strcmp(setting, FS_TEAM_TZ) == 0) {
        *why = "not a time zone here";
        return value[0] != '\0' && fs_calendar_set_tz(&cal, value) == 0 ? 0 : FS_EINVAL;
    }
    if (strcmp(setting, FS_TEAM_HOURS) == 0) {
        int rc = fs_calendar_set_hours(&cal, value);
        *why = rc == FS_EINVAL ? "the end must be after the start" : "wrong format";
        return rc == 0 ? 0 : FS_EINVAL;
    }
    if (strcmp(setting, FS_TEAM_HOLIDAYS) == 0 || strcmp(setting, FS_TEAM_WORKDAYS) == 0)
        return dates_check(value, why);
    if (strcmp(setting, FS_TEAM_EXPORT_REP) == 0 || strcmp(setting, FS_TEAM_EXPORT_MANAGER) == 0) {
        *why = "expected forbidden, sealed or plaintext";
        return strcmp(value, "forbidden") == 0 || strcmp(value, "sealed") == 0 ||
                       strcmp(value, "plaintext") == 0
                   ? 0
                   : FS_EINVAL;
    }
    if (strcmp(setting, FS_TEAM_PASS_CHARS) == 0 || strcmp(setting, FS_TEAM_PASS_WORDS) == 0) {
        int chars = strcmp(setting, FS_TEAM_PASS_CHARS) == 0;
        unsigned lo = chars ? FS_PASSPHRASE_MIN_CHARS : FS_PASSPHRASE_MIN_WORDS;
        unsigned hi = chars ? FS_PASSPHRASE_TEAM_MAX_CHARS : FS_PASSPHRASE_TEAM_MAX_WORDS;
        unsigned long v = 0;
        size_t n = strlen(value);
        *why = chars ? "expected a number of characters from 12 to 128"
                     : "expected a number of words from 4 to 32";
        if (n == 0 || n > 3 || value[0] == '0')
            return FS_EINVAL;
        for (size_t i = 0; i < n; i++) {
            if (value[i] < '0' || value[i] > '9')
                return FS_EINVAL;
            v = v * 10 + (unsigned long)(value[i] - '0');
        }
        return v >= lo && v <= hi ? 0 : FS_EINVAL;
    }
    if (strcmp(setting, FS_TEAM_EXPORT_PK) == 0) {
        *why = "expected 64 hex digits";
        if (strlen(value) != 64)
            return FS_EINVAL;
        for (size_t i = 0; i < 64; i++)
            if (!((value[i] >= '0' && value[i] <= '9') || (value[i] >= 'a' && value[i] <= 'f')))
                return FS_EINVAL;
        return 0;
    }
    return FS_EINVAL;
}

/* Adds each date of the list "D,D,..." with add. */
static void add_dates(fs_calendar *cal, const char *p, size_t n,
                      int (*add)(fs_calendar *, const char *))
{
    for (size_t i = 0; i + 10 <= n; i += 11) {
        char d[11];
        memcpy(d, p + i, 10);
        d[10] = '\0';
        (void)add(cal, d); /* checked when written; too many: the first ones */
    }
}

int fs_team_setting_get(fs_replica *r, const char *team, const char *setting, char *out,
                        size_t size)
{
    fs_rows *it = NULL;
    fs_value t = fs_textn(team, strlen(team));
    int rc = fs_rows_open(&it, r, "team_setting", "team", &t, NULL);
    if (rc != 0)
        return rc;
    rc = FS_ENOTFOUND;
    int more;
    while ((more = fs_rows_next(it)) == 1) {
        fs_value k, v;
        if (fs_rows_get(it, "setting", &k) != 0 || k.type != FS_TEXT || k.n != strlen(setting) ||
            memcmp(k.p, setting, k.n) != 0)
            continue;
        if (fs_rows_get(it, "value", &v) != 0)
            continue;
        size_t n = v.type == FS_TEXT ? v.n : 0;
        if (n >= size) {
            rc = FS_ETOOBIG;
            break;
        }
        if (n > 0)
            memcpy(out, v.p, n);
        out[n] = '\0';
        rc = 0;
        break;
    }
    if (more < 0)
        rc = more;
    fs_rows_close(it);
    return rc;
}

int fs_team_pass_policy(fs_replica *r, const char *team, fs_pass_policy *out)
{
    fs_pass_policy_default(out);
    if (team == NULL || team[0] == '\0')
        return 0;
    const char *keys[] = {FS_TEAM_PASS_CHARS, FS_TEAM_PASS_WORDS};
    unsigned *dst[] = {&out->min_chars, &out->min_words};
    for (size_t i = 0; i < 2; i++) {
        char v[8];
        int rc = fs_team_setting_get(r, team, keys[i], v, sizeof v);
        if (rc == FS_ENOTFOUND || rc == FS_ETOOBIG)
            continue;
        if (rc != 0)
            return rc;
        if (fs_team_setting_check(keys[i], v, NULL) == 0) /* checked when written, and here */
            *dst[i] = (unsigned)strtoul(v, NULL, 10);
    }
    return 0;
}

int fs_team_calendar(fs_replica *r, const char *team, fs_calendar *cal, int *found, int *unusable)
{
    *found = 0;
    if (unusable != NULL)
        *unusable = 0;
    if (team == NULL || team[0] == '\0')
        return 0;
    fs_rows *it = NULL;
    fs_value t = fs_textn(team, strlen(team));
    int rc = fs_rows_open(&it, r, "team_setting", "team", &t, "setting");
    if (rc != 0)
        return rc;
    int more;
    int cleared_holidays = 0, cleared_workdays = 0;
    while ((more = fs_rows_next(it)) == 1) {
        fs_value k, v;
        if (fs_rows_get(it, "setting", &k) != 0 || k.type != FS_TEXT ||
            fs_rows_get(it, "value", &v) != 0)
            continue;
        char key[16], val[FS_TEAM_VALUE_MAX + 1];
        size_t vn = v.type == FS_TEXT ? v.n : 0;
        if (k.n >= sizeof key || vn >= sizeof val)
            continue; /* nothing this build knows */
        memcpy(key, k.p, k.n);
        key[k.n] = '\0';
        if (vn > 0)
            memcpy(val, v.p, vn);
        val[vn] = '\0';
        if (fs_team_setting_check(key, val, NULL) != 0) {
            /* a zone this machine lacks, or a setting of a later fieldsync */
            if (strcmp(key, FS_TEAM_TZ) == 0 && unusable != NULL)
                (*unusable)++;
            continue;
        }
        if (strncmp(key, "export_", 7) == 0)
            continue; /* not the calendar's (issue 20.4) */
        if (strncmp(key, "passphrase_", 11) == 0)
            continue; /* not the calendar's (issue 20.7; too long for key[] anyway) */
        (*found)++;
        if (strcmp(key, FS_TEAM_TZ) == 0) {
            (void)fs_calendar_set_tz(cal, val);
        } else if (strcmp(key, FS_TEAM_HOURS) == 0) {
            (void)fs_calendar_set_hours(cal, val);
        } else if (strcmp(key, FS_TEAM_HOLIDAYS) == 0) {
            if (!cleared_holidays++)
                cal->nholidays = 0; /* the team's, not the device's */
            add_dates(cal, val, vn, fs_calendar_add_holiday);
        } else if (strcmp(key, FS_TEAM_WORKDAYS) == 0) {
            if (!cleared_workdays++)
                cal->nworkdays = 0;
            add_dates(cal, val, vn, fs_calendar_add_workday);
        }
    }
    fs_rows_close(it);
    return more < 0 ? more : 0;
}
