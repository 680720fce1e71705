/*
 * The handbook's deadlines as views, computed offline from this device's
 * replica by the rules engine (fieldsync/rules.h):
 *   today                 what is due, overdue and promised (the next 7 days)
 *   report compliance     per rep, the week's figures for every rule
 *   report rep NAME       one rep's findings for the week, record by record
 * The calendar: --tz ZONE (default: this machine's zone), --hours
 * HH:MM-HH:MM (09:00-18:00), --holiday YYYY-MM-DD (repeatable); --at
 * "YYYY-MM-DD HH:MM" judges at another moment than now.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <sodium.h>

#include "cmd.h"
#include "fieldsync/calendar.h"
#include "fieldsync/clock.h"
#include "fieldsync/rules.h"
#include "i18n.h"
#include "record.h"
#include "precheck.h"
#include "cmd_sync.h"
#include "export.h"
#include "refused.h"
#include "table.h"
#include "teamcal.h"

typedef struct view_opts {
    const char *tz, *hours, *at, *week, *days, *team;
    cli_list holidays;
    int json;
    /* --at and --holiday as typed any way a form takes a date (2026/12/25,
     * 2026年12月25日), put in the one form where they are parsed
     * (view_dates); at and holidays.items point here then */
    char at_buf[17];
    char holiday_buf[FS_CAL_MAX_HOLIDAYS][17];
} view_opts;

/* o's --at and --holiday in the one form (fs_civil_normalize), once, as
 * they are parsed: the checks, the calendar and what calendar stores all
 * read them so. */
static void view_dates(view_opts *o)
{
    if (o->at != NULL && fs_civil_normalize(o->at, 1, o->at_buf))
        o->at = o->at_buf;
    for (size_t i = 0; i < o->holidays.count && i < FS_CAL_MAX_HOLIDAYS; i++)
        if (fs_civil_normalize(o->holidays.items[i], 0, o->holiday_buf[i]))
            o->holidays.items[i] = o->holiday_buf[i];
}

/* The calendar kept on the device (fieldsync calendar), as
 * "tz=ZONE;hours=HH:MM-HH:MM;holidays=D,D,...". */
typedef struct stored_cal {
    char text[FS_SETTING_MAX + 1];
    const char *tz, *hours;
    cli_list holidays;
} stored_cal;

static int stored_parse(stored_cal *sc)
{
    for (char *p = sc->text, *next; p != NULL && *p; p = next) {
        next = strchr(p, ';');
        if (next != NULL)
            *next++ = '\0';
        if (strncmp(p, "tz=", 3) == 0)
            sc->tz = p + 3;
        else if (strncmp(p, "hours=", 6) == 0)
            sc->hours = p + 6;
        else if (strncmp(p, "holidays=", 9) == 0) {
            for (char *d = p + 9, *dn; d != NULL && *d; d = dn) {
                dn = strchr(d, ',');
                if (dn != NULL)
                    *dn++ = '\0';
                if (fs_opt_list_append(&sc->holidays, d) != 0)
                    return FS_ENOMEM;
            }
        }
    }
    return 0;
}

static int stored_load(fs_replica *r, stored_cal *sc)
{
    memset(sc, 0, sizeof *sc);
    int rc = fs_replica_setting(r, "calendar", sc->text, sizeof sc->text);
    if (rc == FS_ENOTFOUND)
        return 0;
    return rc == 0 ? stored_parse(sc) : rc;
}

/* The calendar and the moment: the team's (team, once the server has sent
 * it: issue 17.7) or else what the device keeps (sc; both may be NULL),
 * then the options. CLI_OK or CLI_EUSAGE. */
static int setup(const view_opts *o, const stored_cal *sc, const fs_calendar *team,
                 fs_calendar *cal, int64_t *now)
{
    fs_calendar_default(cal);
    if (team != NULL) {
        *cal = *team;
    } else if (sc != NULL) {
        if (sc->tz != NULL && fs_calendar_set_tz(cal, sc->tz) != 0)
            cli_error(_("the stored time zone is not known here; using this machine's"));
        if (sc->hours != NULL)
            (void)fs_calendar_set_hours(cal, sc->hours);
        for (size_t i = 0; i < sc->holidays.count; i++)
            (void)fs_calendar_add_holiday(cal, sc->holidays.items[i]);
    }
    if (o->tz != NULL && fs_calendar_set_tz(cal, o->tz) != 0) {
        cli_error(_("--tz: %s is not a time zone here (as Asia/Shanghai, UTC)"),
                  strlen(o->tz) <= 40 ? o->tz : "the value");
        return CLI_EUSAGE;
    }
    if (o->hours != NULL && fs_calendar_set_hours(cal, o->hours) != 0) {
        cli_error(_("--hours: expected HH:MM-HH:MM with the end after the start, as 09:00-18:00"));
        return CLI_EUSAGE;
    }
    for (size_t i = 0; i < o->holidays.count; i++) {
        int rc = cli_check_date("--holiday", o->holidays.items[i]);
        if (rc != CLI_OK)
            return rc;
        if (fs_calendar_add_holiday(cal, o->holidays.items[i]) != 0) {
            cli_error(_("--holiday: at most %d"), FS_CAL_MAX_HOLIDAYS);
            return CLI_EUSAGE;
        }
    }
    if (o->at != NULL) {
        int rc = cli_check_datetime("--at", o->at);
        if (rc != CLI_OK)
            return rc;
        return fs_civil_parse(o->at, strlen(o->at), now) == 0 ? CLI_OK : CLI_EUSAGE;
    }
    if (fs_calendar_now(cal, (int64_t)fs_clock_wall_ms(), now) != 0) {
        cli_error(_("cannot read the time in zone %s"), cal->tz[0] ? cal->tz : "local");
        return CLI_ERUNTIME;
    }
    return CLI_OK;
}

static int open_view(cli_ctx *ctx, const char *usage, view_opts *o, int argc, char **argv,
                     int with_week, fs_replica **r, fs_calendar *cal, int64_t *now)
{
    cli_opt opts[] = {
        {"--json", CLI_FLAG, &o->json, NULL, NULL},
        {"--tz", CLI_VALUE, NULL, &o->tz, NULL},
        {"--hours", CLI_VALUE, NULL, &o->hours, NULL},
        {"--holiday", CLI_LIST, NULL, NULL, &o->holidays},
        {"--at", CLI_VALUE, NULL, &o->at, NULL},
        {"--week", CLI_VALUE, NULL, &o->week, NULL},
        {"--days", CLI_VALUE, NULL, &o->days, NULL},
        {"--team", CLI_VALUE, NULL, &o->team, NULL},
    };
    /* with_week: 0 today, 1 report rep, 2 report compliance (--team too) */
    size_t nopts = sizeof opts / sizeof opts[0] - (with_week == 2 ? 0 : with_week ? 1 : 3);
    int rc = cli_parse(ctx, usage, opts, nopts, argc, argv);
    if (rc != CLI_OK)
        return rc;
    view_dates(o);
    rc = setup(o, NULL, NULL, cal, now); /* the options' errors before the passphrase */
    if (rc != CLI_OK)
        return rc;
    rc = cli_open(ctx, r);
    if (rc != CLI_OK)
        return rc;
    stored_cal *sc = malloc(sizeof *sc);
    int found = 0;
    char team[FS_USER_MAX + 1];
    int frc = sc != NULL ? stored_load(*r, sc) : FS_ENOMEM;
    if (frc == 0)
        frc = teamcal_load(*r, cal, &found, team);
    if (frc == 0) {
        fs_calendar tc = *cal;
        rc = setup(o, sc, found > 0 ? &tc : NULL, cal, now);
    } else {
        rc = cli_fail(frc == FS_ENOMEM ? NULL : *r, "reading the calendar", frc);
    }
    if (sc != NULL)
        cli_list_free(&sc->holidays);
    free(sc);
    return rc;
}

static const char *status_word(fs_rule_status s)
{
    static const char *const words[] = {N_("on time"), N_("DUE SOON"), N_("OVERDUE"), N_("missed")};
    return (unsigned)s < 4 ? _(words[s]) : "?";
}

/* ---- today ---- */

typedef struct today_walk {
    cli_table *t;
    cJSON *list;
    int rc;
    fs_replica *r;       /* what the record says, read from here */
    rec_index customers; /* customer names by id */
    int supervisor;      /* the device's user is a manager (precheck_role) */
    cli_recset shown;    /* the records whose words or customer a line shows */
} today_walk;

/* 1 if the finding's deadline is met by a record only a supervisor writes
 * (the weekly spot-check of a rep's records): it is on a manager's list,
 * under the rep it is about, and never on the rep's own. */
static int not_mine(const today_walk *w, const fs_finding *f)
{
    const fs_record_rules *rr = fs_record_rules_of(f->rule->table);
    return rr != NULL && rr->by == FS_BY_SUPERVISOR && !w->supervisor;
}

/* A deadline at midnight is the end of the day before: shown as that date
 * (a commitment due 2026-12-03 is due by the end of 12-03, not "12-04
 * 00:00"); any other deadline with its time. */
static void due_words(int64_t deadline, char out[17])
{
    if (deadline % FS_MIN_PER_DAY == 0) {
        fs_civil_format(deadline - FS_MIN_PER_DAY, out);
        out[10] = '\0';
    } else {
        fs_civil_format(deadline, out);
    }
}

static int today_cb(const fs_finding *f, void *ctx)
{
    today_walk *w = ctx;
    /* What needs doing: not done, due soon or overdue, or still open. */
    if (f->done >= 0 || not_mine(w, f))
        return 0;
    char due[17], hex[2 * FS_ID_BYTES + 1] = "";
    fs_civil_format(f->deadline, due);
    if (f->has_row)
        fs_id_to_hex(f->row, hex);
    fs_finding_record fr;
    int rc = fs_finding_record_read(w->r, f, &fr);
    if (rc != 0)
        return rc;
    const char *text = fr.text, *maker = fr.made_by;
    const char *customer = fr.has_customer ? rec_index_find(&w->customers, fr.customer) : NULL;
    /* A line with the record's own words or its customer's name shows
     * customer data (the export gate counts it); one with the rule's words
     * and the record's id alone does not. */
    if ((text != NULL || customer != NULL) &&
        (f->has_row ? cli_recset_add_named(&w->shown, fs_finding_table(f), f->row)
                    : cli_recset_add_named(&w->shown, "customer", fr.customer)) != 0) {
        fs_finding_record_free(&fr);
        return FS_ENOMEM;
    }
    if (w->list != NULL) {
        cJSON *o = cJSON_CreateObject();
        if (o == NULL || rec_json_add(o, "rule", cJSON_CreateString(f->rule->id)) ||
            rec_json_add(o, "status", cJSON_CreateString(fs_rule_status_name(f->status))) ||
            rec_json_add(o, "due", cJSON_CreateString(due)) ||
            rec_json_add(o, "rep", cJSON_CreateString(f->who)) ||
            rec_json_add(o, "made_by",
                         maker[0] ? cJSON_CreateString(maker) : cJSON_CreateNull()) ||
            rec_json_add(o, "table", cJSON_CreateString(fs_finding_table(f))) ||
            rec_json_add(o, "record", f->has_row ? cJSON_CreateString(hex) : cJSON_CreateNull()) ||
            rec_json_add(o, "text", text != NULL ? cJSON_CreateString(text) : cJSON_CreateNull()) ||
            rec_json_add(o, "customer",
                         customer != NULL ? cJSON_CreateString(customer) : cJSON_CreateNull()) ||
            rec_json_add(w->list, NULL, o))
            rc = FS_ENOMEM;
        fs_finding_record_free(&fr);
        return rc;
    }
    hex[8] = '\0';
    char shown[17], rep[FS_USER_MAX * 2 + 16];
    due_words(f->deadline, shown);
    if (maker[0])
        snprintf(rep, sizeof rep, _("%s (made by %s)"), f->who, maker);
    else
        snprintf(rep, sizeof rep, "%s", f->who);
    /* What is due in the record's own words when it has them (the
     * promise), else the rule's; the customer by name; who made it when
     * someone else did (an inherited record). */
    const char *cells[] = {status_word(f->status), shown,
                           text != NULL ? text : _(f->rule->text),
                           customer != NULL ? customer : "-", f->has_row ? hex : "-", rep};
    rc = cli_table_add(w->t, cells) == 0 ? 0 : FS_ENOMEM;
    fs_finding_record_free(&fr);
    return rc;
}

int cmd_today(cli_ctx *ctx, int argc, char **argv)
{
    view_opts o;
    memset(&o, 0, sizeof o);
    fs_calendar cal;
    fs_replica *r = NULL;
    int64_t now = 0;
    int rc = open_view(ctx, USAGE_TODAY, &o, argc, argv, 0, &r, &cal, &now);
    if (rc != CLI_OK) {
        cli_list_free(&o.holidays);
        return rc == CLI_HELP ? CLI_OK : rc;
    }
    static const cli_column cols[] = {{N_("STATUS"), 0},    {N_("DUE"), 0},    {N_("WHAT"), 40},
                                      {N_("CUSTOMER"), 20}, {N_("RECORD"), 0}, {N_("REP"), 32}};
    today_walk w;
    memset(&w, 0, sizeof w);
    w.r = r;
    char me[FS_USER_MAX + 1];
    fs_record_role role = FS_RECORD_ANYONE;
    if (precheck_role(r, me, &role) == 0)
        w.supervisor = role == FS_RECORD_MANAGER || role == FS_RECORD_ADMIN;
    int64_t today = fs_civil_day(now) * FS_MIN_PER_DAY;
    int frc = o.json ? ((w.list = cJSON_CreateArray()) ? 0 : FS_ENOMEM)
                     : cli_table_new(&w.t, cols, sizeof cols / sizeof cols[0]);
    if (frc == 0)
        frc = rec_index_load(&w.customers, r, "customer", NULL, "name");
    /* Due from today to a week ahead, and whatever is still overdue. */
    if (frc == 0)
        frc = fs_rules_eval_todo(r, &cal, now, today, today + 8 * FS_MIN_PER_DAY, today_cb, &w);
    /* the table opens with the refused changes' records, by name */
    if (frc == 0 && !o.json)
        frc = refused_summary_records(r, &w.shown);
    if (frc != 0) {
        rc = cli_fail(frc == FS_ENOMEM ? NULL : r, "today", frc);
    } else if ((rc = cli_export_gate(r, "today", cli_recset_count(&w.shown))) != CLI_OK) {
        /* refused: nothing printed */
    } else if (o.json) {
        rc = rec_json_print(w.list, stdout) == 0 ? CLI_OK : cli_fail(NULL, "today", FS_ENOMEM);
    } else {
        char at[17];
        fs_civil_format(now, at);
        (void)refused_summary(r, stdout, 1); /* what the server refused comes first */
        /* then a clock that is off: the times recorded are corrected, but
         * the rep should know why the laptop's clock and "now" differ */
        fs_replica_status st;
        const int64_t tolerance = (int64_t)FS_CLOCK_TOLERANCE_MS;
        if (fs_replica_status_get(r, &st) == 0 && st.clock_known &&
            (st.clock_offset_ms > tolerance || st.clock_offset_ms < -tolerance)) {
            char words[160];
            cmd_clock_words(&st, words, sizeof words);
            printf(_("clock: %s\n"), words);
        }
        printf(_("due, overdue and promised as of %s (the next 7 days):\n"), at);
        if (cli_table_rows(w.t) == 0)
            printf(_("nothing due, overdue or promised\n"));
        else
            cli_table_print(w.t, stdout);
    }
    cJSON_Delete(w.list);
    cli_table_free(w.t);
    rec_index_free(&w.customers);
    cli_recset_free(&w.shown);
    cli_list_free(&o.holidays);
    fs_replica_close(r);
    return rc;
}

/* ---- report compliance ---- */

/* The week [from, to) of --week, or the current one. */
static int week_of(const view_opts *o, int64_t now, int64_t *from, int64_t *to, char name[16])
{
    if (o->days != NULL) { /* the N days up to today, instead of a week */
        char *end = NULL;
        long n = strtol(o->days, &end, 10);
        if (o->week != NULL || end == o->days || *end != '\0' || n < 1 || n > 366) {
            cli_error(_("--days: a number of days from 1 to 366, without --week"));
            return CLI_EUSAGE;
        }
        *to = (fs_civil_day(now) + 1) * FS_MIN_PER_DAY;
        *from = *to - n * FS_MIN_PER_DAY;
        snprintf(name, 16, "last %ld days", n);
        return CLI_OK;
    }
    if (o->week != NULL) {
        if (cli_week(o->week, now, from) != CLI_OK)
            return CLI_EUSAGE;
    } else {
        *from = fs_iso_week_start(now);
    }
    *to = *from + 7 * FS_MIN_PER_DAY;
    fs_iso_week_format(*from, name);
    return CLI_OK;
}

static uint32_t late(const fs_rule_tally *t)
{
    return t->n[FS_ST_OVERDUE] + t->n[FS_ST_MISSED];
}

/* "a/b" of on-time findings, or "-" when there were none. */
static void share(const fs_rule_tally *t, char *out, size_t size)
{
    uint32_t all = t->n[0] + t->n[1] + t->n[2] + t->n[3];
    if (all == 0)
        snprintf(out, size, "-");
    else
        snprintf(out, size, "%u/%u", t->n[FS_ST_ON_TIME], all);
}

/* The changes of rep's devices the server refused and that are still open
 * on them (neither reverted nor retried), as the devices last told the
 * server (refusal_tally): *known is 0 when none of them has told it (a
 * device of an older fieldsync, or one that never synced). */
typedef struct open_refusals {
    uint64_t open;
    int known;
} open_refusals;

static int add_tally(const fs_refusal_tally *t, void *ctx)
{
    open_refusals *o = ctx;
    o->open += t->open;
    o->known = 1;
    return 0;
}

static open_refusals refusals_of(fs_replica *r, const char *rep)
{
    open_refusals o = {0, 0};
    if (fs_refusal_tallies(r, rep, add_tally, &o) != 0)
        o.known = 0; /* unreadable: said as unknown, never as none */
    return o;
}

static cJSON *rep_json(fs_replica *r, const fs_compliance *c, const fs_rep_metrics *m)
{
    size_t n;
    const fs_rule *rl = fs_rules(&n);
    cJSON *o = cJSON_CreateObject(), *rules = cJSON_CreateObject(), *acc = cJSON_CreateObject();
    int bad = o == NULL || rules == NULL || acc == NULL;
    open_refusals ro = refusals_of(r, m->rep);
    for (size_t i = 0; !bad && i < n && i < c->nrules; i++) {
        if (rl[i].kind == FS_RULE_UNTRACKED)
            continue;
        cJSON *t = cJSON_CreateObject();
        bad = t == NULL || rec_json_add(rules, rl[i].id, t);
        for (int s = 0; !bad && s < FS_ST_COUNT; s++) {
            static const char *const keys[] = {"on_time", "due_soon", "overdue", "missed"};
            bad = rec_json_add(t, keys[s], cJSON_CreateNumber(m->by_rule[i].n[s]));
        }
    }
    if (!bad)
        bad = rec_json_add(acc, "checks", cJSON_CreateNumber(m->checks)) ||
              rec_json_add(acc, "accurate", cJSON_CreateNumber(m->accurate)) ||
              rec_json_add(acc, "meets_98_percent",
                           m->checks > 0 ? cJSON_CreateBool(m->accurate * 1000u >= m->checks * 980u)
                                         : cJSON_CreateNull()) ||
              rec_json_add(o, "rep", cJSON_CreateString(m->rep)) ||
              rec_json_add(o, "refused_open", ro.known ? cJSON_CreateNumber((double)ro.open)
                                                       : cJSON_CreateNull()) ||
              rec_json_add(o, "accuracy", acc) || rec_json_add(o, "rules", rules);
    if (bad) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* The span a report covers, in words: "week 2026-W49" or "last 7 days"
 * (the JSON keeps week_of's name, the same in every language). */
static void span_words(const view_opts *o, const char *week, char *out, size_t cap)
{
    if (o->days != NULL)
        snprintf(out, cap, _("last %s days"), o->days); /* checked by week_of */
    else
        snprintf(out, cap, _("week %s"), week);
}

static int compliance_table(fs_replica *r, const fs_compliance *c)
{
    static const cli_column cols[] = {
        {N_("REP"), 16},
        {N_("CONTACTS<24H"), 0},
        {N_("ACCURACY"), 0},
        {N_("COMMITMENTS LATE"), 0},
        {N_("FOLLOW-UPS LATE"), 0},
        {N_("KEY ACCOUNTS"), 0},
        {N_("PLANS 09:00"), 0},
        {N_("SUMMARIES"), 0},
        {N_("SELF-CHECKS"), 0},
        {N_("WEEKLY PLAN"), 0},
        {N_("LATE ITEMS"), 0},
        {N_("VISITS CONFIRMED"), 0},
        {N_("SPOT-CHECKED"), 0},
        {N_("CONTRACTS UNCHECKED"), 0},
        {N_("SURVEYS DUE"), 0},
        {N_("REFUSED OPEN"), 0},
    };
    cli_table *t = NULL;
    if (cli_table_new(&t, cols, sizeof cols / sizeof cols[0]) != 0)
        return FS_ENOMEM;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < c->nreps; i++) {
        const fs_rep_metrics *m = &c->reps[i];
        char contacts[24], acc[32], comm[12], fol[12], key[12], plans[24], sums[24], checks[24],
            weekly[16], items[12], confirmed[24], spot[8], refused[24], unchecked[12],
            surveys[12];
#define RULE(id) fs_compliance_rule(c, m, id)
        share(RULE("contact_recorded"), contacts, sizeof contacts);
        if (m->checks == 0)
            snprintf(acc, sizeof acc, "-");
        else
            snprintf(acc, sizeof acc, "%.1f%% %s", 100.0 * m->accurate / m->checks,
                     m->accurate * 1000u >= m->checks * 980u ? _("ok") : _("BELOW 98%"));
        snprintf(comm, sizeof comm, "%u", late(RULE("commitment_due")));
        snprintf(fol, sizeof fol, "%u", late(RULE("commitment_followup")));
        snprintf(key, sizeof key, _("%u missed"),
                 RULE("key_account_monthly")->n[FS_ST_OVERDUE] +
                     RULE("key_account_monthly")->n[FS_ST_DUE_SOON]);
        share(RULE("daily_plan"), plans, sizeof plans);
        share(RULE("daily_summary"), sums, sizeof sums);
        share(RULE("self_check"), checks, sizeof checks);
        const fs_rule_tally *wp = RULE("weekly_plan_approved");
        snprintf(weekly, sizeof weekly, "%s",
                 wp->n[FS_ST_OVERDUE] > 0    ? _("NOT APPROVED")
                 : wp->n[FS_ST_MISSED] > 0   ? _("approved late")
                 : wp->n[FS_ST_ON_TIME] > 0  ? _("approved")
                 : wp->n[FS_ST_DUE_SOON] > 0 ? _("awaiting")
                                             : "-");
        snprintf(items, sizeof items, "%u",
                 late(RULE("complaint_outcome")) + late(RULE("requirement_request")) +
                     late(RULE("acceptance_documents")) + late(RULE("marketing_request")) +
                     late(RULE("question_answered")));
        /* planned visits confirmed by the working day before (schema 6) */
        share(RULE("visit_confirmed"), confirmed, sizeof confirmed);
        snprintf(spot, sizeof spot, "%s",
                 RULE("spot_check_weekly")->n[FS_ST_ON_TIME] > 0 ? _("yes") : _("NO"));
        /* schema 6 (issue 19.2): contracts signed without their checks, key
         * accounts not surveyed in a quarter that ended (or ends soon) */
        snprintf(unchecked, sizeof unchecked, "%u", late(RULE("contract_checked")));
        snprintf(surveys, sizeof surveys, "%u",
                 late(RULE("satisfaction_survey")) +
                     RULE("satisfaction_survey")->n[FS_ST_DUE_SOON]);
#undef RULE
        open_refusals ro = refusals_of(r, m->rep);
        if (ro.known)
            snprintf(refused, sizeof refused, "%llu", (unsigned long long)ro.open);
        else
            snprintf(refused, sizeof refused, "-");
        const char *cells[] = {m->rep, contacts, acc,   comm,      fol,  key,       plans,
                               sums,   checks,   weekly, items, confirmed, spot, unchecked,
                               surveys, refused};
        rc = cli_table_add(t, cells) == 0 ? 0 : FS_ENOMEM;
    }
    if (rc == 0)
        cli_table_print(t, stdout);
    cli_table_free(t);
    return rc;
}

int cmd_report_compliance(cli_ctx *ctx, int argc, char **argv)
{
    view_opts o;
    memset(&o, 0, sizeof o);
    fs_calendar cal;
    fs_replica *r = NULL;
    int64_t now = 0, from, to;
    char week[16], a[17], b[17];
    fs_compliance c;
    memset(&c, 0, sizeof c);
    int rc = open_view(ctx, USAGE_REPORT_COMPLIANCE, &o, argc, argv, 2, &r, &cal, &now);
    if (rc == CLI_OK)
        rc = week_of(&o, now, &from, &to, week);
    /* A manager's replica holds their own team: another team's records
     * are not on this device to report on. */
    char myteam[FS_USER_MAX + 1];
    if (rc == CLI_OK && o.team != NULL &&
        fs_replica_setting(r, "team", myteam, sizeof myteam) == 0 && strcmp(myteam, o.team) != 0) {
        cli_error(_("--team: this device holds team %s's records, not %s's"), myteam,
                  strlen(o.team) <= 64 ? o.team : _("that team"));
        rc = CLI_EUSAGE;
    }
    if (rc != CLI_OK)
        goto done;
    int frc = fs_compliance_get(r, &cal, now, from, to, NULL, 0, &c);
    if (frc != 0) {
        rc = cli_fail(frc == FS_ENOMEM ? NULL : r, "report compliance", frc);
        goto done;
    }
    fs_civil_format(from, a);
    fs_civil_format(to - FS_MIN_PER_DAY, b);
    a[10] = b[10] = '\0';
    if (o.json) {
        cJSON *top = cJSON_CreateObject(), *reps = cJSON_CreateArray();
        int bad =
            top == NULL || reps == NULL ||
            rec_json_add(top, "team", o.team ? cJSON_CreateString(o.team) : cJSON_CreateNull()) ||
            rec_json_add(top, "week", cJSON_CreateString(week)) ||
            rec_json_add(top, "from", cJSON_CreateString(a)) ||
            rec_json_add(top, "to", cJSON_CreateString(b)) || rec_json_add(top, "reps", reps);
        for (size_t i = 0; !bad && i < c.nreps; i++)
            bad = rec_json_add(reps, NULL, rep_json(r, &c, &c.reps[i]));
        rc =
            !bad && rec_json_print(top, stdout) == 0 ? CLI_OK : cli_fail(NULL, "report", FS_ENOMEM);
        cJSON_Delete(top);
        goto done;
    }
    char span[64];
    span_words(&o, week, span, sizeof span);
    if (o.team != NULL)
        printf(_("compliance of team %s, %s (%s .. %s)\n"), o.team, span, a, b);
    else
        printf(_("compliance, %s (%s .. %s)\n"), span, a, b);
    if (c.nreps == 0)
        printf(_("no reps' records in this replica\n"));
    else if (compliance_table(r, &c) != 0)
        rc = cli_fail(NULL, "report", FS_ENOMEM);
done:
    fs_compliance_free(&c);
    cli_list_free(&o.holidays);
    fs_replica_close(r);
    return rc == CLI_HELP ? CLI_OK : rc;
}

/* ---- report rep NAME ---- */

typedef struct rep_walk {
    const char *rep;
    cli_table *t;
    cJSON *list;
    size_t n;
    fs_replica *r;
    int work;            /* on a terminal: what each record is (its words, its customer) */
    rec_index customers; /* customer names by id, when work */
} rep_walk;

/* What a finding's record is, as a person reads it: its own words and its
 * customer ("发送3个成功案例 · 恒远物流"), or "-". */
static int work_words(rep_walk *w, const fs_finding *f, char *buf, size_t size)
{
    fs_finding_record fr;
    int rc = fs_finding_record_read(w->r, f, &fr);
    if (rc != 0)
        return rc;
    const char *customer = fr.has_customer ? rec_index_find(&w->customers, fr.customer) : NULL;
    if (fr.text != NULL && customer != NULL)
        snprintf(buf, size, "%s · %s", fr.text, customer);
    else
        snprintf(buf, size, "%s", fr.text != NULL ? fr.text : customer != NULL ? customer : "-");
    fs_finding_record_free(&fr);
    return 0;
}

static int rep_cb(const fs_finding *f, void *ctx)
{
    rep_walk *w = ctx;
    if (strcmp(f->who, w->rep) != 0)
        return 0;
    w->n++;
    char due[17], done[17] = "-", hex[2 * FS_ID_BYTES + 1] = "-";
    fs_civil_format(f->deadline, due);
    if (f->done >= 0)
        fs_civil_format(f->done, done);
    if (f->has_row)
        fs_id_to_hex(f->row, hex);
    if (w->list != NULL) {
        cJSON *o = cJSON_CreateObject();
        if (o == NULL || rec_json_add(o, "rule", cJSON_CreateString(f->rule->id)) ||
            rec_json_add(o, "status", cJSON_CreateString(fs_rule_status_name(f->status))) ||
            rec_json_add(o, "due", cJSON_CreateString(due)) ||
            rec_json_add(o, "done", f->done >= 0 ? cJSON_CreateString(done) : cJSON_CreateNull()) ||
            rec_json_add(o, "record", f->has_row ? cJSON_CreateString(hex) : cJSON_CreateNull()) ||
            rec_json_add(w->list, NULL, o))
            return FS_ENOMEM;
        return 0;
    }
    if (f->has_row)
        hex[8] = '\0';
    char work[512] = "";
    if (w->work) {
        int rc = work_words(w, f, work, sizeof work);
        if (rc != 0)
            return rc;
    }
    const char *cells[] = {status_word(f->status), _(f->rule->text), due, done, hex, work};
    return cli_table_add(w->t, cells) == 0 ? 0 : FS_ENOMEM;
}

int cmd_report_rep(cli_ctx *ctx, int argc, char **argv)
{
    if (argc < 1 || strncmp(argv[0], "--", 2) == 0) {
        if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
            cli_usage(stdout, USAGE_REPORT_REP);
            return CLI_OK;
        }
        cli_error(_("report rep: give the rep's name first"));
        cli_usage(stderr, USAGE_REPORT_REP);
        return CLI_EUSAGE;
    }
    const char *name = argv[0];
    int rc = cli_check_text("report rep", name);
    if (rc != CLI_OK)
        return rc;
    view_opts o;
    memset(&o, 0, sizeof o);
    fs_calendar cal;
    fs_replica *r = NULL;
    int64_t now = 0, from, to;
    char week[16];
    rep_walk w = {name, NULL, NULL, 0, NULL, 0, {0}};
    /* On a terminal the table also says what each record is (a person
     * reads it there); to a file or pipe it names records by id alone, as
     * before, and needs no export. */
    static const cli_column cols[] = {{N_("STATUS"), 0}, {N_("RULE"), 48}, {N_("DUE"), 0},
                                      {N_("DONE"), 0},   {N_("RECORD"), 0}, {N_("WORK"), 40}};
    rc = open_view(ctx, USAGE_REPORT_REP, &o, argc - 1, argv + 1, 1, &r, &cal, &now);
    if (rc == CLI_OK)
        rc = week_of(&o, now, &from, &to, week);
    if (rc != CLI_OK)
        goto done;
    w.r = r;
    w.work = !o.json && isatty(STDOUT_FILENO);
    int frc = o.json ? ((w.list = cJSON_CreateArray()) ? 0 : FS_ENOMEM)
                     : cli_table_new(&w.t, cols, sizeof cols / sizeof cols[0] - !w.work);
    if (frc == 0 && w.work)
        frc = rec_index_load(&w.customers, r, "customer", NULL, "name");
    const char *reps[] = {name};
    if (frc == 0)
        frc = fs_rules_eval(r, &cal, now, from, to, reps, 1, rep_cb, &w);
    if (frc != 0) {
        rc = cli_fail(frc == FS_ENOMEM ? NULL : r, "report rep", frc);
    } else if (o.json) {
        rc = rec_json_print(w.list, stdout) == 0 ? CLI_OK : cli_fail(NULL, "report", FS_ENOMEM);
    } else {
        char span[64];
        span_words(&o, week, span, sizeof span);
        printf("%s\n", span);
        cli_table_print(w.t, stdout);
    }
done:
    cJSON_Delete(w.list);
    cli_table_free(w.t);
    if (w.work)
        rec_index_free(&w.customers);
    cli_list_free(&o.holidays);
    fs_replica_close(r);
    return rc == CLI_HELP ? CLI_OK : rc;
}

/* ---- calendar ---- */

int cmd_calendar(cli_ctx *ctx, int argc, char **argv)
{
    view_opts o;
    memset(&o, 0, sizeof o);
    int clear = 0;
    const cli_opt opts[] = {
        {"--tz", CLI_VALUE, NULL, &o.tz, NULL},
        {"--hours", CLI_VALUE, NULL, &o.hours, NULL},
        {"--holiday", CLI_LIST, NULL, NULL, &o.holidays},
        {"--clear-holidays", CLI_FLAG, &clear, NULL, NULL},
        {"--json", CLI_FLAG, &o.json, NULL, NULL},
    };
    fs_calendar cal;
    fs_replica *r = NULL;
    stored_cal *sc = NULL;
    int64_t now;
    fs_calendar team_cal;
    int found = 0;
    char team[FS_USER_MAX + 1] = "";
    int rc = cli_parse(ctx, USAGE_CALENDAR, opts, sizeof opts / sizeof opts[0], argc, argv);
    if (rc == CLI_OK)
        view_dates(&o); /* kept in the one form, however written */
    if (rc == CLI_OK)
        rc = setup(&o, NULL, NULL, &cal, &now); /* checks every value */
    if (rc == CLI_OK)
        rc = cli_open(ctx, &r);
    if (rc == CLI_OK && (sc = malloc(sizeof *sc)) == NULL)
        rc = cli_fail(NULL, "calendar", FS_ENOMEM);
    int frc = rc == CLI_OK ? stored_load(r, sc) : 0;
    if (frc == 0 && rc == CLI_OK)
        frc = teamcal_load(r, &team_cal, &found, team);
    if (frc != 0)
        rc = cli_fail(frc == FS_ENOMEM ? NULL : r, "calendar", frc);
    int changing = o.tz != NULL || o.hours != NULL || o.holidays.count > 0 || clear;
    if (rc == CLI_OK && changing) {
        char text[FS_SETTING_MAX + 1];
        const char *tz = o.tz ? o.tz : sc->tz, *hours = o.hours ? o.hours : sc->hours;
        int n = snprintf(text, sizeof text, "tz=%s;hours=%s;holidays=", tz ? tz : "",
                         hours ? hours : "09:00-18:00");
        size_t kept = clear ? 0 : sc->holidays.count;
        for (size_t i = 0; i < kept + o.holidays.count && n > 0 && (size_t)n < sizeof text; i++)
            n += snprintf(text + n, sizeof text - (size_t)n, "%s%s", i ? "," : "",
                          i < kept ? sc->holidays.items[i] : o.holidays.items[i - kept]);
        if (n <= 0 || (size_t)n >= sizeof text || kept + o.holidays.count > FS_CAL_MAX_HOLIDAYS) {
            cli_error(_("--holiday: at most %d holidays"), FS_CAL_MAX_HOLIDAYS);
            rc = CLI_EUSAGE;
        } else if ((frc = fs_replica_set_setting(r, "calendar", text)) != 0) {
            rc = cli_fail(r, "calendar", frc);
        } else {
            cli_list_free(&sc->holidays);
            memset(sc, 0, sizeof *sc);
            memcpy(sc->text, text, (size_t)n + 1);
            frc = stored_parse(sc);
            if (frc != 0)
                rc = cli_fail(NULL, "calendar", frc);
        }
    }
    if (rc == CLI_OK && changing && found > 0)
        cli_error(_("kept as this device's own calendar, which serves only until the team's "
                    "comes: the team's, set on the server, is in use"));
    if (rc == CLI_OK) {
        view_opts none;
        memset(&none, 0, sizeof none);
        rc = setup(&none, sc, found > 0 ? &team_cal : NULL, &cal, &now);
    }
    if (rc == CLI_OK) {
        char start[24], end[24];
        snprintf(start, sizeof start, "%02d:%02d", cal.work_start / 60, cal.work_start % 60);
        snprintf(end, sizeof end, "%02d:%02d", cal.work_end / 60, cal.work_end % 60);
        char src[FS_USER_MAX + 96];
        if (found > 0)
            snprintf(src, sizeof src, _("the team's (%s), set on the server"), team);
        else
            snprintf(src, sizeof src, "%s",
                     sc->text[0] ? _("this device's own (no team calendar from the server yet)")
                                 : _("the defaults (no team calendar from the server yet)"));
        if (o.json) {
            cJSON *obj = cJSON_CreateObject(), *hol = NULL, *work = NULL;
            int bad = obj == NULL ||
                      rec_json_add(obj, "tz",
                                   cal.tz[0] ? cJSON_CreateString(cal.tz) : cJSON_CreateNull()) ||
                      rec_json_add(obj, "work_start", cJSON_CreateString(start)) ||
                      rec_json_add(obj, "work_end", cJSON_CreateString(end)) ||
                      rec_json_add(obj, "holidays", hol = cJSON_CreateArray()) ||
                      rec_json_add(obj, "workdays", work = cJSON_CreateArray()) ||
                      rec_json_add(obj, "source",
                                   cJSON_CreateString(found > 0     ? "team"
                                                      : sc->text[0] ? "device"
                                                                    : "default")) ||
                      rec_json_add(obj, "team",
                                   found > 0 ? cJSON_CreateString(team) : cJSON_CreateNull());
            for (size_t i = 0; !bad && i < cal.nholidays; i++) {
                char d[17];
                fs_civil_format(cal.holidays[i] * FS_MIN_PER_DAY, d);
                d[10] = '\0';
                bad = rec_json_add(hol, NULL, cJSON_CreateString(d));
            }
            for (size_t i = 0; !bad && i < cal.nworkdays; i++) {
                char d[17];
                fs_civil_format(cal.workdays[i] * FS_MIN_PER_DAY, d);
                d[10] = '\0';
                bad = rec_json_add(work, NULL, cJSON_CreateString(d));
            }
            rc = !bad && rec_json_print(obj, stdout) == 0 ? CLI_OK
                                                          : cli_fail(NULL, "calendar", FS_ENOMEM);
            cJSON_Delete(obj);
        } else {
            printf(_("in use:        %s\n"), src);
            printf(_("time zone:     %s\n"), cal.tz[0] ? cal.tz : _("this machine's"));
            printf(_("working hours: %s-%s, Monday to Friday\n"), start, end);
            const int64_t *days[] = {cal.holidays, cal.workdays};
            size_t counts[] = {cal.nholidays, cal.nworkdays};
            for (int k = 0; k < 2; k++) {
                if (k == 1 && counts[1] == 0)
                    break;
                printf("%s", k == 0 ? _("holidays:      ") : _("weekend days worked: "));
                for (size_t i = 0; i < counts[k]; i++) {
                    char d[17];
                    fs_civil_format(days[k][i] * FS_MIN_PER_DAY, d);
                    d[10] = '\0';
                    printf("%s%s", i ? ", " : "", d);
                }
                printf("%s\n", counts[k] ? "" : _("none"));
            }
        }
    }
    if (sc != NULL)
        cli_list_free(&sc->holidays);
    free(sc);
    cli_list_free(&o.holidays);
    fs_replica_close(r);
    return rc == CLI_HELP ? CLI_OK : rc;
}
