/*
 * fieldsync-server team set | show (issue 17 point 7): a team's time zone,
 * working hours, holidays and weekend days worked, kept in the store as
 * the server-written record `team_setting` (server/store/teamset.c) that
 * every device of the team receives and the server's rules use. Its
 * messages go through gettext (the client's catalog, po/): the command
 * line is checked in the operator's own process and language before the
 * command runs, on its own or hosted by a running serve.
 */
#include <libintl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fieldsync/calendar.h"
#include "fieldsync/rules.h"
#include "fieldsync/schema.h"
#include "fieldsync/store.h"
#include "fieldsync/localedir.h"
#include "srv.h"

#define _(s)     gettext(s)
#define N_(s) s /* marked for xgettext, translated where shown */
#define NOPTS(a) (sizeof(a) / sizeof((a)[0]))

#ifndef FS_LOCALEDIR
#define FS_LOCALEDIR "/usr/local/share/locale"
#endif

static const char team_usage[] =
    N_("usage: fieldsync-server team set --data DIR --team TEAM [--tz ZONE] [--hours HH:MM-HH:MM]\n"
    "           [--holiday YYYY-MM-DD]... [--workday YYYY-MM-DD]... [--clear-holidays]\n"
    "           [--export MODE] [--export-rep MODE] [--export-manager MODE]\n"
    "           [--passphrase-min-chars N] [--passphrase-min-words N]\n"
    "       fieldsync-server team show --data DIR --team TEAM [--json]\n"
    "The team's time zone, working hours (Monday to Friday), holidays and\n"
    "weekend days worked, for every device of the team (from its next sync)\n"
    "and for the server's rules. --holiday and --workday add to what is kept;\n"
    "--clear-holidays drops both lists first. --export sets what a device may\n"
    "export (a list of records to a file or pipe) for reps and managers alike,\n"
    "--export-rep and --export-manager for one: MODE is forbidden, sealed (to the\n"
    "company's export key, see export-key) or plaintext; unset, a rep's is\n"
    "forbidden and a manager's sealed. --passphrase-min-chars (12-128) and\n"
    "--passphrase-min-words (4-32) make the passphrase rule of the team's\n"
    "laptops stricter than the built-in one (12 characters, or 4 words): held\n"
    "at enroll (the server tells it first) and at passwd (from the next sync).\n"
    "Audited (team_set).\n");

void srv_lang_domain(void)
{
    char use[4096 + 32];
    fs_locale_dir(FS_LOCALEDIR, use, sizeof use);
    bindtextdomain("fieldsync", use);
    bind_textdomain_codeset("fieldsync", "UTF-8");
    textdomain("fieldsync");
}

/* The first of LC_ALL, LC_MESSAGES, LANG that is set and not empty. */
static const char *lang_env(void)
{
    const char *vars[] = {"LC_ALL", "LC_MESSAGES", "LANG"}, *v = NULL;
    for (size_t i = 0; i < 3 && (v == NULL || v[0] == '\0'); i++)
        v = getenv(vars[i]);
    return v != NULL ? v : "";
}

const char *srv_lang_code(void)
{
    const char *v = lang_env();
    /* gettext reads $LANGUAGE first, unless the locale is C */
    const char *language = getenv("LANGUAGE");
    if (v[0] != '\0' && strcmp(v, "C") != 0 && strcmp(v, "POSIX") != 0 && language != NULL &&
        language[0] != '\0')
        v = language;
    return strncmp(v, "zh", 2) == 0 ? fs_locale_chinese_catalog(v) : "en";
}

void srv_lang(void)
{
    srv_lang_domain();
    if (setlocale(LC_MESSAGES, "") != NULL)
        return;
    /* a Chinese locale named but not generated here: the catalog anyway */
    const char *v = lang_env();
    if (strncmp(v, "zh", 2) == 0) {
        setenv("LANGUAGE", fs_locale_chinese_catalog(v), 1);
        setlocale(LC_MESSAGES, "C.UTF-8");
    } else {
        setlocale(LC_MESSAGES, "C");
    }
}

typedef struct team_args {
    const char *data, *team, *tz, *hours;
    const char *export_all, *export_rep, *export_manager;
    const char *pass_chars, *pass_words;
    fs_opt_list holidays, workdays;
    int clear, json;
} team_args;

/* Parses and checks the command line of team set (show: 0) into a. */
static int team_parse(int set, int argc, char **argv, team_args *a)
{
    memset(a, 0, sizeof *a);
    const fs_opt opts[] = {
        {"--data", FS_OPT_VALUE, NULL, &a->data, NULL},
        {"--team", FS_OPT_VALUE, NULL, &a->team, NULL},
        {"--json", FS_OPT_FLAG, &a->json, NULL, NULL},
        {"--tz", FS_OPT_VALUE, NULL, &a->tz, NULL},
        {"--hours", FS_OPT_VALUE, NULL, &a->hours, NULL},
        {"--holiday", FS_OPT_LIST, NULL, NULL, &a->holidays},
        {"--workday", FS_OPT_LIST, NULL, NULL, &a->workdays},
        {"--clear-holidays", FS_OPT_FLAG, &a->clear, NULL, NULL},
        {"--export", FS_OPT_VALUE, NULL, &a->export_all, NULL},
        {"--export-rep", FS_OPT_VALUE, NULL, &a->export_rep, NULL},
        {"--export-manager", FS_OPT_VALUE, NULL, &a->export_manager, NULL},
        {"--passphrase-min-chars", FS_OPT_VALUE, NULL, &a->pass_chars, NULL},
        {"--passphrase-min-words", FS_OPT_VALUE, NULL, &a->pass_words, NULL},
    };
    int rc = srv_parse(team_usage, opts, set ? NOPTS(opts) : 3, argc, argv);
    const char *cmd = set ? "team set" : "team show";
    if (rc == SRV_OK)
        rc = srv_require(cmd, "--data", a->data);
    if (rc == SRV_OK)
        rc = srv_require(cmd, "--team", a->team);
    if (rc != SRV_OK)
        return rc;
    size_t tn = strlen(a->team);
    int printable = fs_utf8_valid(a->team, tn) && tn <= 64;
    for (size_t i = 0; printable && i < tn; i++)
        printable = (unsigned char)a->team[i] >= 0x20 && a->team[i] != 0x7f;
    if (!printable) {
        srv_error(_("--team: 1-64 bytes of printable UTF-8"));
        return SRV_EUSAGE;
    }
    if (!set)
        return SRV_OK;
    const char *why = NULL;
    if (a->tz != NULL && fs_team_setting_check(FS_TEAM_TZ, a->tz, &why) != 0) {
        char shown[48];
        srv_printable(strlen(a->tz) <= 40 ? a->tz : "?", shown, sizeof shown);
        srv_error(_("--tz: %s is not a time zone here (as Asia/Shanghai, UTC)"), shown);
        return SRV_EUSAGE;
    }
    if (a->hours != NULL && fs_team_setting_check(FS_TEAM_HOURS, a->hours, &why) != 0) {
        srv_error(_("--hours: expected HH:MM-HH:MM with the end after the start, as "
                    "09:00-18:00"));
        return SRV_EUSAGE;
    }
    const char *modes[] = {a->export_all, a->export_rep, a->export_manager};
    const char *mflags[] = {"--export", "--export-rep", "--export-manager"};
    for (size_t i = 0; i < 3; i++) {
        if (modes[i] != NULL && fs_team_setting_check(FS_TEAM_EXPORT_REP, modes[i], &why) != 0) {
            srv_error(_("%s: expected forbidden, sealed or plaintext"), mflags[i]);
            return SRV_EUSAGE;
        }
    }
    if (a->pass_chars != NULL && fs_team_setting_check(FS_TEAM_PASS_CHARS, a->pass_chars, &why) != 0) {
        srv_error(_("--passphrase-min-chars: expected a number of characters from 12 to 128 "
                    "(a team's rule is never below the built-in 12)"));
        return SRV_EUSAGE;
    }
    if (a->pass_words != NULL && fs_team_setting_check(FS_TEAM_PASS_WORDS, a->pass_words, &why) != 0) {
        srv_error(_("--passphrase-min-words: expected a number of words from 4 to 32 (a team's "
                    "rule is never below the built-in 4)"));
        return SRV_EUSAGE;
    }
    if (a->export_all != NULL && (a->export_rep != NULL || a->export_manager != NULL)) {
        srv_error(_("--export sets both roles: give it alone, or --export-rep and "
                    "--export-manager"));
        return SRV_EUSAGE;
    }
    const fs_opt_list *lists[] = {&a->holidays, &a->workdays};
    const char *flags[] = {"--holiday", "--workday"};
    for (size_t l = 0; l < 2; l++) {
        for (size_t i = 0; i < lists[l]->count; i++) {
            const char *d = lists[l]->items[i];
            if (fs_civil_check(d, strlen(d), 0, &why) != 0) {
                srv_error(_("%s: expected a date YYYY-MM-DD (%s)"), flags[l], _(why));
                return SRV_EUSAGE;
            }
            int64_t civil = 0;
            (void)fs_civil_parse(d, 10, &civil);
            int wd = fs_civil_weekday(fs_civil_day(civil));
            if (l == 1 && wd != 0 && wd != 6) {
                srv_error(_("--workday: %s is a weekday already; a workday is a Saturday or "
                            "Sunday worked"),
                          d);
                return SRV_EUSAGE;
            }
        }
    }
    if (a->tz == NULL && a->hours == NULL && a->holidays.count == 0 && a->workdays.count == 0 &&
        !a->clear && a->export_all == NULL && a->export_rep == NULL && a->export_manager == NULL &&
        a->pass_chars == NULL && a->pass_words == NULL) {
        srv_error(_("team set: give --tz, --hours, --holiday, --workday, --clear-holidays, "
                    "--export, --passphrase-min-chars or --passphrase-min-words"));
        return SRV_EUSAGE;
    }
    return SRV_OK;
}

/* s as a JSON string (control characters escaped). */
static void json_string(const char *s)
{
    srv_putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(srv_out, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7F)
            fprintf(srv_out, "\\u%04x", *p);
        else
            srv_putchar(*p);
    }
    srv_putchar('"');
}

static void team_args_free(team_args *a)
{
    fs_opt_list_free(&a->holidays);
    fs_opt_list_free(&a->workdays);
}

static int date_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* What is kept joined with what was given: the dates of both, each once,
 * sorted, into out. SRV_EUSAGE when there would be too many. */
static int dates_join(const char *kept, const fs_opt_list *add, const char *flag, char *out,
                      size_t size)
{
    char all[FS_CAL_MAX_HOLIDAYS * 2][11];
    size_t n = 0;
    for (size_t i = 0; kept != NULL && i + 10 <= strlen(kept); i += 11)
        if (n < FS_CAL_MAX_HOLIDAYS * 2)
            snprintf(all[n++], 11, "%.10s", kept + i);
    for (size_t i = 0; i < add->count; i++) {
        size_t j = 0;
        while (j < n && strcmp(all[j], add->items[i]) != 0)
            j++;
        if (j == n && n < FS_CAL_MAX_HOLIDAYS * 2)
            snprintf(all[n++], 11, "%s", add->items[i]);
    }
    if (n > FS_CAL_MAX_HOLIDAYS) {
        srv_error(_("%s: at most %d dates"), flag, FS_CAL_MAX_HOLIDAYS);
        return SRV_EUSAGE;
    }
    qsort(all, n, sizeof all[0], date_cmp);
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && len + 12 < size; i++)
        len += (size_t)snprintf(out + len, size - len, "%s%s", i ? "," : "", all[i]);
    return SRV_OK;
}

static int team_set(fs_store *s, const team_args *a)
{
    fs_replica *r = fs_store_replica(s);
    char kept[FS_TEAM_VALUE_MAX + 1], joined[FS_TEAM_VALUE_MAX + 1];
    const char *names[] = {FS_TEAM_TZ,         FS_TEAM_HOURS,      FS_TEAM_EXPORT_REP,
                           FS_TEAM_EXPORT_MANAGER, FS_TEAM_PASS_CHARS, FS_TEAM_PASS_WORDS};
    const char *values[] = {a->tz,
                            a->hours,
                            a->export_all ? a->export_all : a->export_rep,
                            a->export_all ? a->export_all : a->export_manager,
                            a->pass_chars,
                            a->pass_words};
    if (values[2] != NULL || values[3] != NULL) { /* the key they may need, if made */
        int prc = srv_export_pk_to_team(s, srv_hosted_dir != NULL ? srv_hosted_dir : a->data,
                                        a->team);
        if (prc != SRV_OK)
            return prc;
    }
    for (size_t i = 0; i < NOPTS(names); i++) {
        if (values[i] == NULL)
            continue;
        int frc = fs_store_team_set(s, a->team, names[i], values[i]);
        if (frc != 0)
            return srv_fail(s, "team set", frc);
    }
    const fs_opt_list *lists[] = {&a->holidays, &a->workdays};
    const char *keys[] = {FS_TEAM_HOLIDAYS, FS_TEAM_WORKDAYS};
    const char *flags[] = {"--holiday", "--workday"};
    for (size_t l = 0; l < 2; l++) {
        if (lists[l]->count == 0 && !a->clear)
            continue;
        int frc = fs_team_setting_get(r, a->team, keys[l], kept, sizeof kept);
        if (frc != 0 && frc != FS_ENOTFOUND)
            return srv_fail(s, "team set", frc);
        int rc = dates_join(frc == 0 && !a->clear ? kept : NULL, lists[l], flags[l], joined,
                            sizeof joined);
        if (rc != SRV_OK)
            return rc;
        if (frc == FS_ENOTFOUND && joined[0] == '\0')
            continue; /* nothing kept, nothing to keep */
        frc = fs_store_team_set(s, a->team, keys[l], joined);
        if (frc != 0)
            return srv_fail(s, "team set", frc);
    }
    return SRV_OK;
}

/* A team's export policy as `team set --export` takes it, in the operator's
 * language: the Chinese words keep the value to type beside them. */
static const char *export_policy_words(const char *v)
{
    if (strcmp(v, "forbidden") == 0)
        return _("forbidden");
    if (strcmp(v, "sealed") == 0)
        return _("sealed");
    if (strcmp(v, "plaintext") == 0)
        return _("plaintext");
    return v; /* a newer server's value: as stored */
}

static int team_show(fs_store *s, const team_args *a)
{
    fs_replica *r = fs_store_replica(s);
    const char *keys[] = {FS_TEAM_TZ,         FS_TEAM_HOURS,          FS_TEAM_HOLIDAYS,
                          FS_TEAM_WORKDAYS,   FS_TEAM_EXPORT_REP,     FS_TEAM_EXPORT_MANAGER,
                          FS_TEAM_EXPORT_PK,  FS_TEAM_PASS_CHARS,     FS_TEAM_PASS_WORDS};
    char v[9][FS_TEAM_VALUE_MAX + 1];
    int has[9];
    for (size_t i = 0; i < 9; i++) {
        int frc = fs_team_setting_get(r, a->team, keys[i], v[i], sizeof v[i]);
        if (frc != 0 && frc != FS_ENOTFOUND)
            return srv_fail(s, "team show", frc);
        has[i] = frc == 0;
    }
    char team[160];
    srv_printable(a->team, team, sizeof team);
    if (a->json) { /* values checked when written: dates, a zone name, hours */
        fputs("{\"team\": ", srv_out);
        json_string(a->team);
        for (size_t i = 0; i < 4; i++) {
            fprintf(srv_out, ", \"%s\": ", keys[i]);
            if (i < 2) {
                if (has[i])
                    json_string(v[i]);
                else
                    fputs("null", srv_out);
                continue;
            }
            srv_putchar('[');
            for (size_t k = 0; has[i] && k + 10 <= strlen(v[i]); k += 11)
                fprintf(srv_out, "%s\"%.10s\"", k ? ", " : "", v[i] + k);
            srv_putchar(']');
        }
        for (size_t i = 4; i < 7; i++) { /* after the old keys */
            fprintf(srv_out, ", \"%s\": ", keys[i]);
            if (has[i])
                json_string(v[i]);
            else
                fputs("null", srv_out);
        }
        for (size_t i = 7; i < 9; i++) /* numbers, checked when written; null: built-in */
            fprintf(srv_out, ", \"%s\": %s", keys[i], has[i] ? v[i] : "null");
        fputs("}\n", srv_out);
        return SRV_OK;
    }
    const char *none = _("none");
    fprintf(srv_out, _("team:          %s\n"), team);
    fprintf(srv_out, _("time zone:     %s\n"), has[0] ? v[0] : _("not set (each device's own)"));
    fprintf(srv_out, _("working hours: %s, Monday to Friday\n"),
            has[1] ? v[1] : _("not set (09:00-18:00)"));
    fprintf(srv_out, _("holidays:      %s\n"), has[2] && v[2][0] ? v[2] : none);
    fprintf(srv_out, _("weekend days worked: %s\n"), has[3] && v[3][0] ? v[3] : none);
    fprintf(srv_out, _("exports: reps %s, managers %s; export key %s\n"),
            has[4] ? export_policy_words(v[4]) : _("forbidden (default)"),
            has[5] ? export_policy_words(v[5]) : _("sealed (default)"),
            has[6] ? _("known") : _("not made"));
    fprintf(srv_out, _("passphrases:   at least %s characters, or %s words%s\n"),
            has[7] ? v[7] : "12", has[8] ? v[8] : "4",
            has[7] || has[8] ? "" : _(" (built-in)"));
    return SRV_OK;
}

int srv_team_check(int argc, char **argv)
{
    if (argc < 1 || (strcmp(argv[0], "set") != 0 && strcmp(argv[0], "show") != 0))
        return SRV_OK; /* srv_cmd_team says so */
    team_args a;
    int rc = team_parse(strcmp(argv[0], "set") == 0, argc - 1, argv + 1, &a);
    team_args_free(&a);
    return rc;
}

int srv_cmd_team(int argc, char **argv)
{
    if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "help") == 0)) {
        fputs(_(team_usage), srv_out);
        return SRV_HELP;
    }
    if (argc < 1 || (strcmp(argv[0], "set") != 0 && strcmp(argv[0], "show") != 0)) {
        srv_error(_("team: expected 'team set' or 'team show'"));
        fputs(_(team_usage), srv_err);
        return SRV_EUSAGE;
    }
    int set = strcmp(argv[0], "set") == 0;
    team_args a;
    int rc = team_parse(set, argc - 1, argv + 1, &a);
    fs_store *s = NULL;
    if (rc == SRV_OK)
        rc = srv_open(a.data, &s);
    if (rc == SRV_OK)
        rc = set ? team_set(s, &a) : team_show(s, &a);
    if (rc == SRV_OK && set)
        rc = team_show(s, &a);
    srv_close(s);
    team_args_free(&a);
    return rc;
}
