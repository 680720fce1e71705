/*
 * The managers' dashboard (issue 6, begun): plain HTTP on serve's port,
 * handled on the transport's thread with the live store (fs_http_handler).
 *
 * This file holds the pages, the managers' actions and the routing of
 * requests. Access (logins, sessions, CSRF tokens) is web_auth.c; writing
 * HTML and parsing forms and cookies is web_html.c; web_int.h is what the
 * three share. Pages hold no script at all and the transport sends a
 * Content-Security-Policy that allows none.
 *
 * Pages: / shows a manager their team's compliance for a week (the rules
 * engine on the server's replica), an admin the users and devices. Report
 * reads are audited. /healthz answers "ok" to anyone, touching neither the
 * store nor the sessions.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "store/audit.h"
#include "fieldsync/calendar.h"
#include "fieldsync/clock.h"
#include "fieldsync/enroll.h"
#include "fieldsync/records.h"
#include "fieldsync/rules.h"
#include "fieldsync/schema.h"
#include "web.h"
#include "web_int.h"
#include "web_refused.h"
#include "fieldsync/status_words.h" /* after web_int.h: its _() */

#define MIN_PER_DAY FS_MIN_PER_DAY

/* ---- pages ---- */

static const char css[] =
    /* Chinese names render with a CJK font where there is one: Noto Sans
     * CJK (Debian's fonts-noto-cjk), WenQuanYi, then the systems' own. */
    "body{font-family:\"Noto Sans CJK SC\",\"Noto Sans SC\",\"WenQuanYi Zen Hei\","
    "\"PingFang SC\",\"Microsoft YaHei\",sans-serif;margin:2em;color:#222}"
    "nav.weeks{margin:.5em 0}nav.weeks a{margin-right:1em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
    ".green{background:#d8f0d8}.amber{background:#fbe7b5}.red{background:#f4c7c3}"
    "form.inline{display:inline}.err{color:#a00}"
    "caption{text-align:left;padding:.3em 0}table.tally td{white-space:nowrap}"
    /* a rule's heading wraps to a few lines, not a character a line */
    "table.tally th{min-width:3em;vertical-align:bottom}"
    "figure.chart{margin:.5em 0}figcaption{margin-bottom:.3em}";

static void logout_form(out *o, const session *s)
{
    web__puts(o, "<form class=\"inline\" method=\"post\" action=\"/logout\">"
                 "<input type=\"hidden\" name=\"csrf\" value=\"");
    web__puts(o, s->csrf);
    web__puts(o, "\"><button type=\"submit\">");
    web__esc(o, _("Log out"));
    web__puts(o, "</button></form>\n");
}

/* Red when anything is overdue or missed, amber when due soon, green when
 * all is on time, none when there was nothing to judge. */
static const char *rag(const fs_rule_tally *t)
{
    if (t->n[FS_ST_OVERDUE] + t->n[FS_ST_MISSED] > 0)
        return "red";
    if (t->n[FS_ST_DUE_SOON] > 0)
        return "amber";
    return t->n[FS_ST_ON_TIME] > 0 ? "green" : "";
}

typedef struct team_reps {
    const char *team;
    char (*names)[FS_USER_NAME_MAX + 1];
    size_t n;
    int failed;
} team_reps;

static int collect_rep(const char *name, fs_role role, const char *team, void *ctx)
{
    team_reps *t = ctx;
    if (role != FS_ROLE_REP || strcmp(team, t->team) != 0)
        return 0;
    char(*more)[FS_USER_NAME_MAX + 1] = realloc(t->names, (t->n + 1) * sizeof *more);
    if (more == NULL)
        return FS_ENOMEM;
    t->names = more;
    snprintf(t->names[t->n++], FS_USER_NAME_MAX + 1, "%s", name);
    return 0;
}

/* 1 if name is one of the team's reps. */
static int in_team(const team_reps *t, const char *name)
{
    for (size_t k = 0; k < t->n; k++)
        if (strcmp(t->names[k], name) == 0)
            return 1;
    return 0;
}

int web__rep_in_team(fs_store *store, const char *team, const char *rep)
{
    team_reps reps = {team, NULL, 0, 0};
    int found = fs_store_users(store, collect_rep, &reps) == 0 && in_team(&reps, rep);
    free(reps.names);
    return found;
}

/* Milliseconds since the epoch as local "YYYY-MM-DD HH:MM", or "never". */
static void when_ms(uint64_t ms, char out_[32])
{
    if (ms == 0 || fs_instant_format(out_, 32, (int64_t)ms, 0, "%Y-%m-%d %H:%M") != 0)
        snprintf(out_, 32, "%s", _("never"));
}

typedef struct device_walk {
    out *o;
    fs_store *store;
    const team_reps *team; /* NULL: every device (the admin) */
    const web_refusals *refused;
} device_walk;

/* A cell of refused changes: none (green); all put right on the device
 * (green); or how many are still open, the newest reason and when (red:
 * something a rep must put right, or a manager look at). A device that
 * cannot say what it put right (an older fieldsync) counts every refusal. */
static void refused_cell(out *o, const web_refusal *w)
{
    char when[32];
    if (w == NULL || w->count + w->open == 0) {
        web__putf(o, "<td class=\"green\">%s</td>", _("none"));
        return;
    }
    uint64_t open = web__refusal_open(w);
    if (open == 0) {
        web__puts(o, "<td class=\"green\">");
        web__putf(o, _("none open (%llu refused, put right)"), (unsigned long long)w->count);
        web__puts(o, "</td>");
        return;
    }
    when_ms((uint64_t)w->newest_ms, when);
    web__puts(o, "<td class=\"red\">");
    if (w->reported)
        web__putf(o, _("%llu open of %llu refused; newest %s: %s"), (unsigned long long)open,
                  (unsigned long long)w->count, when, _(web__refusal_words(w->newest_reason)));
    else
        web__putf(o, _("%llu refused; newest %s: %s"), (unsigned long long)w->count, when,
                  _(web__refusal_words(w->newest_reason)));
    web__puts(o, "</td>");
}

/* A device with its sync health: last seen, lease, revoked. */
/* The laptop's own clock as its last PULL said it (issue 23): "agrees"
 * within a minute, else how far ahead or behind (amber; red from an hour):
 * the laptop corrects its times by the server's, but its rep should fix
 * the clock. "–" for a device that never said (an older fieldsync). */
static void clock_cell(out *o, fs_store *store, const uint8_t pk[FS_SIGN_PK_BYTES])
{
    int64_t off = 0;
    uint64_t at = 0;
    if (fs_store_device_clock(store, pk, &off, &at) != 0 || at == 0) {
        web__puts(o, "<td>–</td>");
        return;
    }
    uint64_t gap = off < 0 ? (uint64_t)(-(off + 1)) + 1 : (uint64_t)off;
    if (gap <= 60000u) {
        web__putf(o, "<td class=\"green\">%s</td>", _("agrees"));
        return;
    }
    uint64_t m = (gap + 30000u) / 60000u;
    char amount[48];
    if (m >= 2 * 24 * 60)
        snprintf(amount, sizeof amount, _("%llu days"), (unsigned long long)((m + 720) / 1440));
    else if (m >= 120)
        snprintf(amount, sizeof amount, _("%llu h"), (unsigned long long)((m + 30) / 60));
    else
        snprintf(amount, sizeof amount, _("%llu min"), (unsigned long long)m);
    web__putf(o, "<td class=\"%s\" data-clock-offset-ms=\"%lld\">", gap >= 3600000u ? "red" : "amber",
              (long long)off);
    web__putf(o, off > 0 ? _("%s ahead") : _("%s behind"), amount);
    web__puts(o, "</td>");
}

static int device_row(const fs_store_device *d, void *ctx)
{
    device_walk *dw = ctx;
    if (dw->team != NULL && !in_team(dw->team, d->user))
        return 0;
    uint64_t seen = 0, lease = 0, pending = 0, oldest = 0;
    char a[32], b[32], c[32];
    (void)fs_store_device_sync(dw->store, d->pk, &seen, &lease, &pending, &oldest);
    when_ms(seen, a);
    when_ms(lease, b);
    when_ms(oldest, c);
    uint64_t now = fs_clock_wall_ms();
    out *o = dw->o;
    web__puts(o, "<tr><td>");
    web__esc(o, d->user);
    web__puts(o, "</td><td>");
    web__esc(o, d->name);
    web__puts(o, "</td><td>");
    web__esc(o, d->fingerprint);
    web__putf(o, "</td><td>%s</td>", a);
    if (pending == 0)
        web__putf(o, "<td class=\"green\">%s</td>", _("none"));
    else {
        web__putf(o, "<td class=\"%s\">", now > oldest && now - oldest > 86400000u ? "red" : "amber");
        web__putf(o, _("%llu since %s"), (unsigned long long)pending, c);
        web__puts(o, "</td>");
    }
    web__putf(o, "<td class=\"%s\">%s</td>",
              lease == 0                ? ""
              : lease < now             ? "red"
              : lease - now < 86400000u ? "amber"
                                        : "green",
              b);
    clock_cell(o, dw->store, d->pk);
    refused_cell(o, dw->refused ? web__refusals_device(dw->refused, d->fingerprint) : NULL);
    web__putf(o, d->revoked ? "<td class=\"red\">%s</td></tr>\n" : "<td>%s</td></tr>\n",
              d->revoked ? _("revoked") : _("active"));
    return 0;
}

static void device_head(out *o)
{
    web__puts(o, "<table>");
    web__heads(o, N_("User"), N_("Device"), N_("Fingerprint"), N_("Last sync"),
               N_("Pending (oldest)"), N_("Lease until"), N_("Clock"), N_("Refused changes"),
               N_("State"), (const char *)NULL);
}

typedef struct conflict_walk {
    out *o;
    fs_store *store;
    const team_reps *team;
    const session *s; /* the manager: the decision's form carries their CSRF token */
    size_t n;
} conflict_walk;

static void value_html(out *o, const fs_value *v)
{
    if (v->type == FS_TEXT) {
        char *t = strndup(v->p, v->n);
        web__esc(o, t ? t : "");
        free(t);
    } else if (v->type == FS_INT) {
        web__putf(o, "%lld", (long long)v->i);
    } else if (v->type == FS_NULL) {
        web__esc(o, _("(empty)"));
    } else {
        web__esc(o, _("(binary)"));
    }
}

/* An open conflict in one of the team's records. */
static int conflict_row(const fs_conflict *c, void *ctx)
{
    conflict_walk *cw = ctx;
    char owner[FS_USER_NAME_MAX + 1] = "";
    if (fs_store_owner(cw->store, c->table, c->row, owner) != 0)
        return 0;
    if (!in_team(cw->team, owner))
        return 0;
    unsigned nt;
    const fs_table *t = fs_schema_tables(&nt);
    const char *tname = c->table < nt ? t[c->table].name : "?";
    const char *cname = c->table < nt && c->column < t[c->table].ncolumns
                            ? t[c->table].columns[c->column].name
                            : "?";
    char hex[2 * FS_ID_BYTES + 1], idhex[2 * FS_ID_BYTES + 1];
    fs_id_to_hex(c->row, hex);
    fs_id_to_hex(c->id, idhex);
    out *o = cw->o;
    web__puts(o, "<tr><td>");
    web__esc(o, owner);
    web__putf(o, "</td><td>%s %.8s</td><td>%s</td><td>", tname, hex, cname);
    value_html(o, &c->winner);
    web__puts(o, "</td><td>");
    value_html(o, &c->loser);
    /* The decision: an ordinary change of the server's replica (POST /conflict). */
    web__puts(o, "</td><td><form class=\"inline\" method=\"post\" action=\"/conflict\">"
                 "<input type=\"hidden\" name=\"csrf\" value=\"");
    web__puts(o, cw->s->csrf);
    web__putf(o,
              "\"><input type=\"hidden\" name=\"conflict\" value=\"%s\">"
              "<button type=\"submit\" name=\"do\" value=\"kept\">%s</button> "
              "<button type=\"submit\" name=\"do\" value=\"lost\">%s</button>"
              "</form></td></tr>\n",
              idhex, _("Keep"), _("Restore lost"));
    cw->n++;
    return 0;
}

/* The calendar of the session's team, as set with `fieldsync-server team
 * set` (issue 17.7): the one its devices use; the defaults in this
 * machine's zone for a team with none. */
static void team_calendar(fs_store *store, const session *s, fs_calendar *cal)
{
    int found = 0;
    fs_calendar_default(cal);
    (void)fs_team_calendar(fs_store_replica(store), s->team, cal, &found, NULL);
}

/* Which zone the deadlines of a team's pages are in (issue 17.7): the
 * team's own, else this machine's, saying how to set the team's. */
static void zone_note(out *o, fs_store *store, const char *team)
{
    char tz[FS_TEAM_VALUE_MAX + 1];
    web__puts(o, "<p class=\"zone-note\">");
    if (fs_team_setting_get(fs_store_replica(store), team, FS_TEAM_TZ, tz, sizeof tz) == 0 &&
        tz[0] != '\0') {
        web__esc(o, _("Deadlines are in the team's time zone:"));
        web__puts(o, " ");
        web__esc(o, tz);
        web__puts(o, "</p>\n");
        return;
    }
    char zone[64], abbr[16];
    int64_t now = (int64_t)fs_clock_wall_ms();
    if (fs_instant_format(abbr, sizeof abbr, now, 0, "%Z") != 0 ||
        fs_instant_format(zone, sizeof zone, now, 0,
                          strcmp(abbr, "UTC") == 0 || strcmp(abbr, "GMT") == 0 ? "UTC"
                                                                               : "%Z (UTC%z)") != 0)
        snprintf(zone, sizeof zone, "?");
    web__esc(o, _("This team has no time zone set: its deadlines are in this server's zone,"));
    web__puts(o, " ");
    web__esc(o, zone);
    web__puts(o, ". ");
    web__esc(o, _("An administrator sets the team's with:"));
    web__puts(o, " <code>fieldsync-server team set --data DIR --team ");
    web__esc(o, team);
    web__puts(o, " --tz Asia/Shanghai</code></p>\n");
}

/* Now, in the calendar's zone, as civil minutes. */
static int64_t civil_now(const fs_calendar *cal)
{
    int64_t now = 0;
    (void)fs_calendar_now(cal, (int64_t)fs_clock_wall_ms(), &now);
    return now;
}

/* The week of the query (?week=YYYY-Www), else the current one; -1 for a
 * week given that is none (the page answers 400, never another week). */
static int64_t week_from(const fs_http_request *rq, int64_t now, char week[16])
{
    char wanted[16];
    int64_t from;
    week[0] = '\0';
    if (!web_form_field(rq->query, "week", wanted, sizeof wanted) || wanted[0] == '\0')
        from = fs_iso_week_start(now);
    else if (fs_iso_week_parse(wanted, &from) != 0)
        return -1;
    fs_iso_week_format(from, week);
    return from;
}

static void bad_week(fs_http_response *r)
{
    out o = {0};
    web__page_start(&o, _("Bad week"));
    web__putf(&o, "<h1>%s</h1><p>", _("No such week"));
    web__esc(&o, _("A week is written YYYY-Www, as 2026-W49."));
    web__putf(&o, " <a href=\"/\">%s</a></p>\n", _("This week"));
    web__finish(&o, r, 400);
}

/* The weeks the picker offers: these many before the week shown and after
 * it (the links step further). */
#define PICK_BEFORE 12
#define PICK_AFTER  4

/* A week (its Monday, civil minutes) in words of the page's language:
 * "week 49 of 2026 (2026-11-30 to 2026-12-06)". */
static void week_words(char *buf, size_t size, int64_t start)
{
    char iso[16], first[17], last[17];
    fs_iso_week_format(start, iso); /* YYYY-Www */
    fs_civil_format(start, first);
    fs_civil_format(start + 6 * MIN_PER_DAY, last);
    first[10] = last[10] = '\0'; /* the days */
    unsigned week = (unsigned)strtoul(iso + 6, NULL, 10);
    long long year = strtoll(iso, NULL, 10);
    snprintf(buf, size, _("week %1$u of %2$lld (%3$s to %4$s)"), week, year, first, last);
}

/* Links to the week before and after (and to this week when another is
 * shown), and a picker: a GET form with a list of weeks the server names
 * in the page's language (a browser's own week input speaks its own), no
 * script; for the team page (rep NULL) or a rep's. */
static void week_link(out *o, const char *rep, const char *week, const char *rel)
{
    web__puts(o, rep != NULL ? "<a href=\"/rep?name=" : "<a href=\"/?");
    if (rep != NULL) {
        web__url_esc(o, rep);
        web__puts(o, "&amp;");
    }
    web__putf(o, "week=%s\"%s%s%s>", week, rel ? " rel=\"" : "", rel ? rel : "", rel ? "\"" : "");
}

static void week_nav(out *o, const char *rep, int64_t from, int64_t now)
{
    char weeks[3][16];
    fs_iso_week_format(from - 7 * MIN_PER_DAY, weeks[0]);
    fs_iso_week_format(from, weeks[1]);
    fs_iso_week_format(from + 7 * MIN_PER_DAY, weeks[2]);
    web__putf(o, "<nav class=\"weeks\" aria-label=\"%s\">", _("Weeks"));
    for (int k = 0; k < 3; k += 2) {
        week_link(o, rep, weeks[k], k == 0 ? "prev" : "next");
        web__putf(o, "%s%s%s</a> ", k == 0 ? "&larr; " : "",
                  k == 0 ? _("previous week") : _("next week"), k == 2 ? " &rarr;" : "");
    }
    int64_t this_week = fs_iso_week_start(now);
    if (this_week != from) {
        char iso[16];
        fs_iso_week_format(this_week, iso);
        week_link(o, rep, iso, NULL);
        web__putf(o, "%s</a> ", _("this week"));
    }
    web__putf(o, "<form class=\"inline\" method=\"get\" action=\"%s\">", rep ? "/rep" : "/");
    if (rep != NULL)
        web__hidden(o, "name", rep);
    web__putf(o, "<label>%s <select name=\"week\">", _("Week"));
    for (int k = -PICK_BEFORE; k <= PICK_AFTER; k++) {
        int64_t start = from + (int64_t)k * 7 * MIN_PER_DAY;
        char iso[16], words[128];
        fs_iso_week_format(start, iso);
        week_words(words, sizeof words, start);
        web__putf(o, "<option value=\"%s\"%s>", iso, k == 0 ? " selected" : "");
        web__esc(o, words);
        web__puts(o, "</option>");
    }
    web__putf(o, "</select></label> <button type=\"submit\">%s</button></form></nav>\n",
              _("Show"));
}

/* The rules as the team page's columns and the charts' rows. */
static const struct {
    const char *rule, *heading;
} cols[] = {
    {"contact_recorded", N_("Contacts recorded in 24 h")},
    {"crm_accuracy", N_("CRM accuracy (98 %)")},
    {"visit_same_day", N_("Visit records the same day")},
    {"commitment_due", N_("Commitments")},
    {"commitment_followup", N_("Follow-ups")},
    {"key_account_monthly", N_("Key accounts this month")},
    {"visit_confirmed", N_("Visits confirmed the day before")},
    {"daily_plan", N_("Daily plans by 09:00")},
    {"daily_summary", N_("Daily summaries")},
    {"self_check", N_("Self-checks")},
    {"weekly_plan_approved", N_("Weekly plan approved")},
    {"complaint_outcome", N_("Complaints (3 working days)")},
    {"requirement_request", N_("Requirement requests (1 working day)")},
    {"acceptance_documents", N_("Acceptance documents (5 working days)")},
    {"marketing_request", N_("Marketing requests (3 working days before)")},
    {"question_answered", N_("Questions (24 h)")},
    {"spot_check_weekly", N_("Spot-checked this week")},
    {"satisfaction_survey", N_("Key accounts surveyed this quarter")},
    {"contract_checked", N_("Contracts checked before signing")},
};

/* ---- charts: server-rendered SVG, no script (issue 18 point 2) ---- */

#define NWEEKS 8 /* the trend: the week shown and the seven before it */

/* A share in whole percent, rounded to the nearest (2 of 3: 67). */
static unsigned pct_of(uint32_t on, uint32_t all)
{
    return all ? (unsigned)((200u * (uint64_t)on + all) / (2u * (uint64_t)all)) : 0;
}

/* The share of a rule's deadlines a rep is held to meet, in percent: a
 * ratio rule's own (CRM accuracy: 98 %), every deadline else. */
static unsigned target_of(const char *rule_id)
{
    size_t n;
    const fs_rule *all = fs_rules(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(all[i].id, rule_id) == 0 && all[i].kind == FS_RULE_RATIO)
            return (unsigned)(all[i].amount + 5) / 10;
    return 100;
}

/* The figures of a share in words, as the table and the charts say them:
 * "2 of 3 on time, 67 %". */
static void share_words(char *buf, size_t size, uint32_t on, uint32_t all)
{
    snprintf(buf, size, _("%u of %u on time, %u %%"), on, all, pct_of(on, all));
}

static const char *fill_of(unsigned pct, unsigned target)
{
    return pct >= target ? "#2e7d32" : pct + 10 >= target ? "#b26a00" : "#c62828";
}

/* One rep's week, rule by rule: a bar for the share met on time, the
 * rule's target as a dark line across it, the figures in words beside it,
 * an axis of 0 to 100 % below. Rules with nothing due are left out. */
static void chart_rules(out *o, const fs_compliance *c, const fs_rep_metrics *m)
{
    size_t rows = 0;
    for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
        const fs_rule_tally *t = fs_compliance_rule(c, m, cols[k].rule);
        rows += t != NULL && t->n[0] + t->n[1] + t->n[2] + t->n[3] > 0;
    }
    if (rows == 0) {
        web__putf(o, "<p>%s</p>\n", _("Nothing was due this week."));
        return;
    }
    enum { LABEL = 290, SCALE = 3, ROW = 24 };
    size_t axis_y = ROW * rows + 26;
    char words[128];
    web__puts(o, "<figure class=\"chart\"><figcaption>");
    web__esc(o, _("This week, rule by rule: the share met on time; the dark line is the rule's "
                  "target."));
    web__putf(o, "</figcaption>\n<svg class=\"chart rules\" width=\"820\" height=\"%zu\" "
                 "role=\"img\" aria-label=\"",
              axis_y + 34);
    web__esc(o, _("Share met on time per rule, with each rule's target"));
    web__puts(o, "\">");
    /* the axis: 0 to 100 % */
    for (unsigned t = 0; t <= 100; t += 25)
        web__putf(o,
                  "<line x1=\"%u\" y1=\"14\" x2=\"%u\" y2=\"%zu\" stroke=\"#ccc\"></line>"
                  "<text x=\"%u\" y=\"%zu\" font-size=\"11\" text-anchor=\"middle\">%u %%</text>",
                  LABEL + SCALE * t, LABEL + SCALE * t, axis_y, LABEL + SCALE * t, axis_y + 14, t);
    web__putf(o, "<text x=\"%u\" y=\"%zu\" font-size=\"11\" text-anchor=\"middle\">", LABEL + 150,
              axis_y + 28);
    web__esc(o, _("share met on time"));
    web__puts(o, "</text>");
    size_t i = 0;
    for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
        const fs_rule_tally *t = fs_compliance_rule(c, m, cols[k].rule);
        uint32_t all = t != NULL ? t->n[0] + t->n[1] + t->n[2] + t->n[3] : 0;
        if (all == 0)
            continue;
        uint32_t on = t->n[FS_ST_ON_TIME];
        unsigned pct = pct_of(on, all), target = target_of(cols[k].rule);
        size_t y = 16 + ROW * i++;
        share_words(words, sizeof words, on, all);
        web__putf(o, "<g data-rule=\"%s\" data-on-time=\"%u\" data-all=\"%u\" data-target=\"%u\">",
                  cols[k].rule, on, all, target);
        web__putf(o, "<text x=\"%u\" y=\"%zu\" font-size=\"12\" text-anchor=\"end\">", LABEL - 6,
                  y + 13);
        web__esc(o, _(cols[k].heading));
        web__putf(o,
                  "</text><rect x=\"%u\" y=\"%zu\" width=\"%u\" height=\"16\" fill=\"%s\"></rect>"
                  "<line class=\"target\" x1=\"%u\" y1=\"%zu\" x2=\"%u\" y2=\"%zu\" stroke=\"#111\" "
                  "stroke-width=\"2\" stroke-dasharray=\"3 2\"></line>"
                  "<text x=\"%u\" y=\"%zu\" font-size=\"12\">",
                  LABEL, y, SCALE * pct + 1, fill_of(pct, target), LABEL + SCALE * target, y - 3,
                  LABEL + SCALE * target, y + 19, LABEL + SCALE * 100 + 8, y + 13);
        web__esc(o, words);
        web__puts(o, " · ");
        web__putf(o, _("target %u %%"), target);
        web__puts(o, "</text></g>");
    }
    web__puts(o, "</svg></figure>\n");
}

/* A share over the weeks: a line with a point and its percent for each
 * week that had anything due (a gap for one that had not), the weeks named
 * below, an axis of 0 to 100 % at the left. */
static void chart_trend(out *o, const char *label, char weeks[NWEEKS][16],
                        const uint32_t on[NWEEKS], const uint32_t all[NWEEKS])
{
    enum { X0 = 48, STEP = 66, Y0 = 130, H = 100 };
    web__putf(o, "<svg class=\"chart trend\" width=\"%u\" height=\"%u\" role=\"img\" aria-label=\"",
              X0 + STEP * NWEEKS + 10, Y0 + 40);
    web__esc(o, label);
    web__puts(o, "\">");
    for (unsigned t = 0; t <= 100; t += 50)
        web__putf(o,
                  "<line x1=\"%u\" y1=\"%u\" x2=\"%u\" y2=\"%u\" stroke=\"#ccc\"></line>"
                  "<text x=\"%u\" y=\"%u\" font-size=\"11\" text-anchor=\"end\">%u %%</text>",
                  X0, Y0 - t, X0 + STEP * NWEEKS, Y0 - t, X0 - 4, Y0 - t + 4, t);
    /* the line, broken where a week had nothing due */
    int open = 0;
    for (int w = 0; w < NWEEKS; w++) {
        unsigned x = X0 + STEP * (unsigned)w + STEP / 2, y = Y0 - pct_of(on[w], all[w]);
        if (all[w] == 0) {
            if (open)
                web__puts(o, "\"></polyline>");
            open = 0;
            continue;
        }
        web__putf(o, "%s%u,%u", open ? " " : "<polyline fill=\"none\" stroke=\"#1565c0\" "
                                             "stroke-width=\"2\" points=\"",
                  x, y);
        open = 1;
    }
    if (open)
        web__puts(o, "\"></polyline>");
    for (int w = 0; w < NWEEKS; w++) {
        unsigned x = X0 + STEP * (unsigned)w + STEP / 2, pct = pct_of(on[w], all[w]);
        /* the week as "W49": its year is the page's */
        web__putf(o, "<text x=\"%u\" y=\"%u\" font-size=\"11\" text-anchor=\"middle\">%s</text>", x,
                  Y0 + 16, weeks[w] + 5);
        if (all[w] == 0) {
            web__putf(o, "<text x=\"%u\" y=\"%u\" font-size=\"11\" text-anchor=\"middle\">–</text>",
                      x, Y0 - 4);
            continue;
        }
        web__putf(o,
                  "<circle cx=\"%u\" cy=\"%u\" r=\"3\" fill=\"#1565c0\" data-week=\"%s\" "
                  "data-on-time=\"%u\" data-all=\"%u\"></circle><text x=\"%u\" y=\"%u\" "
                  "font-size=\"11\" text-anchor=\"middle\">%u %%</text>",
                  x, Y0 - pct, weeks[w], on[w], all[w], x, Y0 - pct - 7 < 12 ? 12 : Y0 - pct - 7,
                  pct);
    }
    web__putf(o, "<text x=\"%u\" y=\"%u\" font-size=\"11\" text-anchor=\"middle\">", X0 + STEP * 4,
              Y0 + 32);
    web__esc(o, _("ISO week"));
    web__puts(o, "</text></svg>\n");
}

/* Every rule's tally of rep summed: on time and all. */
static void rep_sum(const fs_compliance *c, const fs_rep_metrics *m, uint32_t *on, uint32_t *all)
{
    *on = *all = 0;
    for (size_t k = 0; k < c->nrules; k++)
        for (int st = 0; st < FS_ST_COUNT; st++) {
            *all += m->by_rule[k].n[st];
            *on += st == FS_ST_ON_TIME ? m->by_rule[k].n[st] : 0;
        }
}

/* The compliance of reps for the NWEEKS weeks ending with the one from
 * starts (weeks[NWEEKS - 1] is it), their names into weeks: the tables
 * read once for all of them. On failure every one is freed. */
static int trend_get(web *wb, fs_store *store, const fs_calendar *cal, int64_t now, int64_t from,
                     const char *const *reps, size_t nreps, fs_compliance c[NWEEKS],
                     char weeks[NWEEKS][16], int (*cb)(const fs_finding *f, void *ctx),
                     void *ctx)
{
    int64_t first = from - (int64_t)(NWEEKS - 1) * 7 * MIN_PER_DAY;
    for (int w = 0; w < NWEEKS; w++)
        fs_iso_week_format(first + (int64_t)w * 7 * MIN_PER_DAY, weeks[w]);
    return fs_compliance_weeks_kept(web__memo(wb), fs_store_replica(store), cal, now, first, NWEEKS,
                                    reps, nreps, c, cb, ctx);
}

/* The 8-week trend of one rep (index i in each week's compliance), its
 * figures also per rule as a table of "on time of all" cells. */
static void trend_of(out *o, const fs_compliance c[NWEEKS], char weeks[NWEEKS][16], size_t i,
                     int per_rule)
{
    uint32_t on[NWEEKS], all[NWEEKS];
    for (int w = 0; w < NWEEKS; w++)
        rep_sum(&c[w], &c[w].reps[i], &on[w], &all[w]);
    char label[200];
    snprintf(label, sizeof label, _("%s: share of all deadlines met on time, week by week"),
             c[NWEEKS - 1].reps[i].rep);
    chart_trend(o, label, weeks, on, all);
    if (!per_rule)
        return;
    web__putf(o, "<table class=\"trend\"><caption>%s</caption><tr><th scope=\"col\">%s</th>",
              _("The last eight weeks, rule by rule"), _("Rule"));
    for (int w = 0; w < NWEEKS; w++)
        web__putf(o, "<th scope=\"col\">%s</th>", weeks[w]);
    web__puts(o, "</tr>\n");
    for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
        web__puts(o, "<tr><th scope=\"row\">");
        web__esc(o, _(cols[k].heading));
        web__puts(o, "</th>");
        unsigned target = target_of(cols[k].rule);
        for (int w = 0; w < NWEEKS; w++) {
            const fs_rule_tally *t = fs_compliance_rule(&c[w], &c[w].reps[i], cols[k].rule);
            uint32_t a = t != NULL ? t->n[0] + t->n[1] + t->n[2] + t->n[3] : 0;
            if (a == 0) {
                web__puts(o, "<td>–</td>");
                continue;
            }
            unsigned pct = pct_of(t->n[FS_ST_ON_TIME], a);
            web__putf(o, "<td class=\"%s\">%u/%u (%u %%)</td>",
                      pct >= target ? "green" : pct + 10 >= target ? "amber" : "red",
                      t->n[FS_ST_ON_TIME], a, pct);
        }
        web__puts(o, "</tr>\n");
    }
    web__puts(o, "</table>\n");
}

/* A rep's share of all their deadlines met on time over the NWEEKS weeks
 * of c (the team page's trend column): a small line with a point per week
 * that had anything due (a gap for one that had not; a rep a week's
 * compliance does not name had nothing due), the target of all deadlines
 * (100 %, as the team's bars are coloured against) as a dark dashed line,
 * the weeks and their figures in its label and title and on each point. */
static void sparkline(out *o, const fs_compliance c[NWEEKS], char weeks[NWEEKS][16],
                      const char *rep)
{
    enum { X0 = 6, STEP = 14, TOP = 6, H = 30, WIDTH = 2 * X0 + STEP * (NWEEKS - 1) };
    uint32_t on[NWEEKS], all[NWEEKS];
    char label[700], part[64];
    snprintf(label, sizeof label,
             _("%s, the last eight weeks: the share of deadlines met on time (target %u %%)"), rep,
             100u);
    size_t used = strlen(label);
    for (int w = 0; w < NWEEKS; w++) {
        const fs_rep_metrics *m = NULL;
        for (size_t i = 0; i < c[w].nreps && m == NULL; i++)
            if (strcmp(c[w].reps[i].rep, rep) == 0)
                m = &c[w].reps[i];
        on[w] = all[w] = 0;
        if (m != NULL)
            rep_sum(&c[w], m, &on[w], &all[w]);
        if (all[w] > 0)
            snprintf(part, sizeof part, "; %s %u %%", weeks[w] + 5, pct_of(on[w], all[w]));
        else
            snprintf(part, sizeof part, "; %s –", weeks[w] + 5);
        size_t pl = strlen(part);
        if (used + pl < sizeof label) {
            memcpy(label + used, part, pl + 1);
            used += pl;
        }
    }
    web__putf(o, "<svg class=\"spark\" width=\"%u\" height=\"%u\" role=\"img\" aria-label=\"",
              WIDTH, TOP + H + 4);
    web__esc(o, label);
    web__puts(o, "\"><title>");
    web__esc(o, label);
    web__putf(o, "</title><line x1=\"0\" y1=\"%u\" x2=\"%u\" y2=\"%u\" stroke=\"#bbb\"></line>"
                 "<line class=\"target\" x1=\"0\" y1=\"%u\" x2=\"%u\" y2=\"%u\" stroke=\"#111\" "
                 "stroke-width=\"1\" stroke-dasharray=\"3 2\" data-target=\"100\"></line>",
              TOP + H, WIDTH, TOP + H, TOP, WIDTH, TOP);
    int open = 0;
    for (int w = 0; w < NWEEKS; w++) {
        if (all[w] == 0) {
            if (open)
                web__puts(o, "\"></polyline>");
            open = 0;
            continue;
        }
        web__putf(o, "%s%u,%u",
                  open ? " " : "<polyline fill=\"none\" stroke=\"#1565c0\" stroke-width=\"1.5\" "
                               "points=\"",
                  X0 + STEP * (unsigned)w, TOP + H - H * pct_of(on[w], all[w]) / 100);
        open = 1;
    }
    if (open)
        web__puts(o, "\"></polyline>");
    for (int w = 0; w < NWEEKS; w++) {
        if (all[w] == 0)
            continue;
        unsigned pct = pct_of(on[w], all[w]);
        web__putf(o,
                  "<circle cx=\"%u\" cy=\"%u\" r=\"2.5\" fill=\"%s\" data-week=\"%s\" "
                  "data-on-time=\"%u\" data-all=\"%u\"></circle>",
                  X0 + STEP * (unsigned)w, TOP + H - H * pct / 100, fill_of(pct, 100), weeks[w],
                  on[w], all[w]);
    }
    web__puts(o, "</svg>");
}

/* ---- search by customer name, within the team (issue 18 point 1) ---- */

#define SEARCH_MAX 100   /* bytes of a search's text */
#define SEARCH_SHOWN 200 /* customers listed at most */

static void search_form(out *o, const char *q)
{
    web__putf(o, "<form class=\"search\" method=\"get\" action=\"/search\" role=\"search\">"
                 "<label>%s <input type=\"search\" name=\"q\" maxlength=\"%d\" value=\"",
              _("Customer name"), SEARCH_MAX);
    web__esc(o, q);
    web__putf(o, "\"></label> <button type=\"submit\">%s</button></form>\n", _("Search"));
}

/* 1 if hay (n bytes) holds needle, ASCII letters in either case (Chinese
 * and other UTF-8 text byte for byte: a match starts at a character, as
 * needle is whole characters). */
static int holds(const char *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; m <= n && i <= n - m; i++) {
        size_t k = 0;
        while (k < m) {
            unsigned char a = (unsigned char)hay[i + k], b = (unsigned char)needle[k];
            if (a >= 'A' && a <= 'Z')
                a = (unsigned char)(a - 'A' + 'a');
            if (b >= 'A' && b <= 'Z')
                b = (unsigned char)(b - 'A' + 'a');
            if (a != b)
                break;
            k++;
        }
        if (k == m)
            return 1;
    }
    return 0;
}

/* GET /search?q=TEXT: the team's customers whose name holds TEXT, each
 * with its rep, linked to its page. The text is not audited (it is a
 * customer's name): only that a search was made. */
static void search_page(fs_store *store, const session *s, const fs_http_request *rq,
                        fs_http_response *r)
{
    char q[SEARCH_MAX + 2] = "";
    int given = web_form_field(rq->query, "q", q, sizeof q);
    out o = {0};
    /* there, but too long or malformed */
    if ((!given && strstr(rq->query, "q=") != NULL) || strlen(q) > SEARCH_MAX) {
        web__page_start(&o, _("Search"));
        web__putf(&o, "<h1>%s</h1><p>", _("Search"));
        web__putf(&o, _("A search is at most %d bytes of text."), SEARCH_MAX);
        web__putf(&o, " <a href=\"/search\">%s</a></p>\n", _("Search again"));
        web__finish(&o, r, 400);
        return;
    }
    if (!fs_utf8_valid(q, strlen(q))) {
        web__page_start(&o, _("Search"));
        web__putf(&o, "<h1>%s</h1><p>%s</p>\n", _("Search"), _("The text is not valid UTF-8."));
        web__finish(&o, r, 400);
        return;
    }
    team_reps reps = {s->team, NULL, 0, 0};
    int rc = fs_store_users(store, collect_rep, &reps);
    (void)fs_audit_append(fs_store_audit(store), "report_read", s->user, s->team, "search");
    web__page_start(&o, _("Search"));
    web__putf(&o, "<h1>%s</h1>\n<p><a href=\"/\">%s</a> ", _("Search by customer name"),
              _("team"));
    logout_form(&o, s);
    web__puts(&o, "</p>\n");
    search_form(&o, q);
    size_t n = 0;
    if (q[0] != '\0' && rc == 0) {
        web__puts(&o, "<table>");
        web__heads(&o, N_("Customer"), N_("Rep"), N_("Industry"), (const char *)NULL);
        for (size_t i = 0; rc == 0 && i < reps.n && n < SEARCH_SHOWN; i++) {
            fs_rows *it = NULL;
            fs_value eq = fs_text(reps.names[i]);
            rc = fs_rows_open(&it, fs_store_replica(store), "customer", "owner", &eq, "name");
            while (rc == 0 && n < SEARCH_SHOWN && (rc = fs_rows_next(it)) == 1) {
                rc = 0;
                fs_value name, ind;
                if (fs_rows_get(it, "name", &name) != 0 || name.type != FS_TEXT ||
                    !holds(name.p, name.n, q))
                    continue;
                char hex[2 * FS_ID_BYTES + 1];
                fs_id_to_hex(fs_rows_id(it), hex);
                web__putf(&o, "<tr><td><a href=\"/customer?id=%s\">", hex);
                char *t = strndup(name.p, name.n);
                web__esc(&o, t ? t : "");
                free(t);
                web__puts(&o, "</a></td><td><a href=\"/rep?name=");
                web__url_esc(&o, reps.names[i]);
                web__puts(&o, "\">");
                web__esc(&o, reps.names[i]);
                web__puts(&o, "</a></td><td>");
                t = fs_rows_get(it, "industry", &ind) == 0 && ind.type == FS_TEXT
                        ? strndup(ind.p, ind.n)
                        : NULL;
                web__esc(&o, t ? t : "–");
                free(t);
                web__puts(&o, "</td></tr>\n");
                n++;
            }
            fs_rows_close(it);
        }
        if (n == 0)
            web__putf(&o, "<tr><td colspan=\"3\">%s</td></tr>\n", _("No customer of the team has such a name."));
        web__puts(&o, "</table>\n");
        if (n == SEARCH_SHOWN)
        {
            web__puts(&o, "<p>");
            web__putf(&o, _("The first %d; say more of the name to see fewer."), SEARCH_SHOWN);
            web__puts(&o, "</p>\n");
        }
    }
    if (rc < 0)
        web__putf(&o, "<p class=\"err\">%s</p>\n", _("The customers could not be read."));
    free(reps.names);
    web__finish(&o, r, 200);
}

static void team_page(web *wb, fs_store *store, const session *s, const fs_http_request *rq,
                      fs_http_response *r)
{
    fs_calendar cal;
    team_calendar(store, s, &cal);
    int64_t now = civil_now(&cal);
    char week[16];
    int64_t from = week_from(rq, now, week);
    if (from < 0) {
        bad_week(r);
        return;
    }
    team_reps reps = {s->team, NULL, 0, 0};
    /* The week and the seven before it, for every rep at once (one
     * evaluation: fs_compliance_weeks_each): this week's charts and table
     * from the last, each rep's trend from all eight. */
    fs_compliance tr[NWEEKS];
    char weeks[NWEEKS][16];
    memset(tr, 0, sizeof tr);
    int rc = fs_store_users(store, collect_rep, &reps);
    const char **names = rc == 0 && reps.n > 0 ? calloc(reps.n, sizeof *names) : NULL;
    for (size_t i = 0; names != NULL && i < reps.n; i++)
        names[i] = reps.names[i];
    if (rc == 0 && reps.n > 0)
        rc = names == NULL ? FS_ENOMEM
                           : trend_get(wb, store, &cal, now, from, names, reps.n, tr, weeks, NULL,
                                       NULL);
    const fs_compliance c = tr[NWEEKS - 1];
    (void)fs_audit_append(fs_store_audit(store), "report_read", s->user, s->team, week);
    web_refusals refused; /* empty when the log cannot be read: the cells say none */
    (void)web__refusals_load(store, &refused);

    out o = {0};
    web__page_start(&o, _("Team"));
    web__puts(&o, "<h1>");
    web__esc(&o, _("Team"));
    web__puts(&o, " ");
    web__esc(&o, s->team);
    web__puts(&o, "</h1>\n<p>");
    web__esc(&o, s->user);
    web__puts(&o, " — ");
    web__esc(&o, _("week"));
    web__puts(&o, " ");
    web__esc(&o, week);
    web__puts(&o, " ");
    logout_form(&o, s);
    web__puts(&o, "</p>\n");
    zone_note(&o, store, s->team);
    week_nav(&o, NULL, from, now);
    search_form(&o, "");
    if (rc != 0) {
        web__putf(&o, "<p class=\"err\">%s</p>\n", _("The report could not be computed."));
    } else if (c.nreps == 0) {
        web__putf(&o, "<p>%s</p>\n", _("No reps in this team yet."));
    } else {
        /* The share of each rep's deadlines met, as bars (SVG, no script),
         * on an axis of 0 to 100 %, each bar saying its figures in words;
         * then each rep's last eight weeks. */
        size_t axis_y = 24 * c.nreps + 8;
        char words[128];
        web__putf(&o, "<h2>%s</h2>\n<figure class=\"chart\"><figcaption>%s</figcaption>",
                  _("This week"), _("Share of the week's deadlines met on time, per rep"));
        web__putf(&o, "<svg class=\"chart\" width=\"640\" height=\"%zu\" role=\"img\" aria-label=\"",
                  axis_y + 34);
        web__esc(&o, _("Share of the week's deadlines met on time, per rep"));
        web__puts(&o, "\">");
        for (unsigned t = 0; t <= 100; t += 25)
            web__putf(&o,
                      "<line x1=\"%u\" y1=\"2\" x2=\"%u\" y2=\"%zu\" stroke=\"#bbb\" "
                      "stroke-width=\"1\"></line><text x=\"%u\" y=\"%zu\" font-size=\"11\" "
                      "text-anchor=\"middle\">%u %%</text>",
                      120 + 3 * t, 120 + 3 * t, axis_y, 120 + 3 * t, axis_y + 14, t);
        web__putf(&o, "<text x=\"270\" y=\"%zu\" font-size=\"11\" text-anchor=\"middle\">",
                  axis_y + 28);
        web__esc(&o, _("share met on time"));
        web__puts(&o, "</text>");
        for (size_t i = 0; i < c.nreps; i++) {
            uint32_t on, all;
            rep_sum(&c, &c.reps[i], &on, &all);
            unsigned pct = pct_of(on, all);
            share_words(words, sizeof words, on, all);
            web__putf(&o, "<text x=\"0\" y=\"%zu\" font-size=\"13\">", 24 * i + 20);
            web__esc(&o, c.reps[i].rep);
            web__putf(&o,
                      "</text><rect x=\"120\" y=\"%zu\" width=\"%u\" height=\"16\" fill=\"%s\" "
                      "data-on-time=\"%u\" data-all=\"%u\"></rect><text x=\"%u\" y=\"%zu\" "
                      "font-size=\"13\">",
                      24 * i + 6, 3 * pct + 1, fill_of(pct, 100), on, all, 428, 24 * i + 20);
            web__esc(&o, all ? words : _("nothing due"));
            web__puts(&o, "</text>");
        }
        web__puts(&o, "</svg></figure>\n");
        web__putf(&o, "<p>%s</p>\n",
                  _("Each rep's page charts their week rule by rule and their last eight weeks."));
        web__putf(&o, "<table class=\"tally\"><caption>%s</caption><tr><th>%s</th><th>%s</th>",
                  _("This week, rule by rule: deadlines met on time / all deadlines (share)."),
                  _("Rep"), _("Last eight weeks: share met on time (dashed: the target)"));
        for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
            web__puts(&o, "<th>");
            web__esc(&o, _(cols[k].heading));
            web__puts(&o, "</th>");
        }
        web__putf(&o, "<th>%s</th></tr>\n", _("Refused changes"));
        for (size_t i = 0; i < c.nreps; i++) {
            const fs_rep_metrics *m = &c.reps[i];
            web__puts(&o, "<tr><td><a href=\"/rep?name=");
            web__url_esc(&o, m->rep);
            web__puts(&o, "&amp;week=");
            web__puts(&o, week);
            web__puts(&o, "\">");
            web__esc(&o, m->rep);
            web__puts(&o, "</a></td><td>");
            sparkline(&o, tr, weeks, m->rep);
            web__puts(&o, "</td>");
            for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
                const fs_rule_tally *t = fs_compliance_rule(&c, m, cols[k].rule);
                uint32_t all = t->n[0] + t->n[1] + t->n[2] + t->n[3];
                /* the figures themselves, as report compliance --json has them */
                web__putf(&o,
                          "<td class=\"%s\" data-rule=\"%s\" data-on-time=\"%u\" "
                          "data-due-soon=\"%u\" data-overdue=\"%u\" data-missed=\"%u\">",
                          rag(t), cols[k].rule, t->n[FS_ST_ON_TIME], t->n[FS_ST_DUE_SOON],
                          t->n[FS_ST_OVERDUE], t->n[FS_ST_MISSED]);
                /* short, as the caption says: on time / due (share) */
                if (all == 0)
                    web__puts(&o, "–");
                else
                    web__putf(&o, "%u/%u (%u %%)", t->n[FS_ST_ON_TIME], all,
                              pct_of(t->n[FS_ST_ON_TIME], all));
                web__puts(&o, "</td>");
            }
            web_refusal sum;
            refused_cell(&o, web__refusals_user(&refused, m->rep, &sum) ? &sum : NULL);
            web__puts(&o, "</tr>\n");
        }
        web__puts(&o, "</table>\n");
    }
    /* Sync health of the team's devices, and conflicts awaiting a decision. */
    web__putf(&o, "<h2>%s</h2>\n", _("Devices"));
    device_head(&o);
    device_walk dw = {&o, store, &reps, &refused};
    if (fs_store_devices(store, device_row, &dw) != 0)
        web__putf(&o, "<tr><td colspan=\"9\">%s</td></tr>", _("the devices could not be read"));
    web__putf(&o, "</table>\n<h2>%s</h2>\n<table>", _("Conflicts awaiting a decision"));
    web__heads(&o, N_("Rep"), N_("Record"), N_("Field"), N_("Kept"), N_("Lost"), N_("Decision"),
               (const char *)NULL);
    conflict_walk cw = {&o, store, &reps, s, 0};
    if (fs_conflicts(fs_store_replica(store), 0, conflict_row, &cw) != 0)
        web__putf(&o, "<tr><td colspan=\"6\">%s</td></tr>", _("the conflicts could not be read"));
    else if (cw.n == 0)
        web__putf(&o, "<tr><td colspan=\"6\">%s</td></tr>", _("none"));
    web__puts(&o, "</table>\n");
    for (int w = 0; w < NWEEKS; w++)
        fs_compliance_free(&tr[w]);
    web__refusals_free(&refused);
    free(names);
    free(reps.names);
    web__finish(&o, r, 200);
}

static int user_row(const char *name, fs_role role, const char *team, void *ctx)
{
    out *o = ctx;
    static const char *const roles[] = {"?", N_("rep"), N_("manager"), N_("admin")};
    web__puts(o, "<tr><td>");
    web__esc(o, name);
    web__puts(o, "</td><td>");
    web__esc(o, (unsigned)role < 4 ? _(roles[role]) : "?");
    web__puts(o, "</td><td>");
    web__esc(o, team);
    web__puts(o, "</td></tr>\n");
    return 0;
}

static void admin_page(fs_store *store, const session *s, fs_http_response *r)
{
    out o = {0};
    web__page_start(&o, _("Users and devices"));
    web__putf(&o, "<h1>%s</h1>\n<p>", _("Users and devices"));
    web__esc(&o, s->user);
    web__putf(&o, " — <a href=\"/audit\">%s</a> ", _("audit log"));
    logout_form(&o, s);
    web__putf(&o, "</p>\n<h2>%s</h2>\n<table>", _("Users"));
    web__heads(&o, N_("Name"), N_("Role"), N_("Team"), (const char *)NULL);
    int rc = fs_store_users(store, user_row, &o);
    web__putf(&o, "</table>\n<h2>%s</h2>\n", _("Devices"));
    device_head(&o);
    web_refusals refused;
    (void)web__refusals_load(store, &refused);
    device_walk dw = {&o, store, NULL, &refused};
    if (rc == 0)
        rc = fs_store_devices(store, device_row, &dw);
    web__refusals_free(&refused);
    web__puts(&o, "</table>\n");
    if (rc != 0)
        web__putf(&o, "<p class=\"err\">%s</p>\n", _("The lists could not be read."));
    web__finish(&o, r, 200);
}

/* A visit the manager may spot-check: its id, time and customer. */
typedef struct spot_visit {
    uint8_t id[FS_ID_BYTES];
    char time[17];
    uint8_t customer[FS_ID_BYTES];
    int has_customer;
} spot_visit;

typedef struct rep_find {
    out *o;
    fs_replica *r;
    fs_store *store; /* who made a record without a maker column (web__finding_work) */
    size_t n;
    spot_visit *visits; /* this week's visits, for the spot-check form */
    size_t nvisits;
} rep_find;

static int rep_row(const fs_finding *f, void *ctx)
{
    rep_find *rf = ctx;
    static const char *const cls[] = {"green", "amber", "red", "red"};
    /* the statuses' words, for the catalog (fs_rule_status_name's) */
    static const char *const words[] = {N_("on time"), N_("due soon"), N_("overdue"),
                                        N_("missed")};
    (void)words;
    char due[17], done[17] = "–";
    fs_civil_format(f->deadline, due);
    if (f->done >= 0)
        fs_civil_format(f->done, done);
    char hex[2 * FS_ID_BYTES + 1] = "";
    if (f->has_row)
        fs_id_to_hex(f->row, hex);
    /* the finding as report rep --json has it: rule and record */
    web__putf(rf->o, "<tr class=\"%s\" data-rule=\"%s\" data-record=\"%s\"><td>%s</td><td>",
              cls[f->status], f->rule->id, hex, _(fs_rule_status_name(f->status)));
    web__esc(rf->o, _(f->rule->text));
    web__puts(rf->o, "</td><td>");
    uint8_t customer[FS_ID_BYTES];
    int has_customer = 0;
    int rc = web__finding_work(rf->o, rf->r, rf->store, f, customer, &has_customer);
    if (rc != 0)
        return rc;
    web__putf(rf->o, "</td><td>%s</td><td>%s</td></tr>\n", due, done);
    rf->n++;
    if (strcmp(f->rule->id, "contact_recorded") == 0 && f->has_row && rf->nvisits < 200) {
        spot_visit *v = realloc(rf->visits, (rf->nvisits + 1) * sizeof *v);
        if (v == NULL)
            return FS_ENOMEM;
        rf->visits = v;
        v = &rf->visits[rf->nvisits];
        memset(v, 0, sizeof *v);
        memcpy(v->id, f->row, FS_ID_BYTES);
        fs_civil_format(f->start, v->time);
        v->has_customer = has_customer; /* as the cell above read it */
        memcpy(v->customer, customer, FS_ID_BYTES);
        rf->nvisits++;
    }
    return 0;
}

void web__hidden(out *o, const char *name, const char *value)
{
    web__putf(o, "<input type=\"hidden\" name=\"%s\" value=\"", name);
    web__esc(o, value);
    web__puts(o, "\">");
}

/* The spot-check form's fields after the record: accurate, comment, the button. */
void web__spotcheck_fields(out *o)
{
    web__putf(o, "<label>%s <select name=\"accurate\">", _("Accurate"));
    web__putf(o, "<option value=\"yes\">%s</option><option value=\"no\">%s</option>", _("yes"),
              _("no"));
    web__putf(o, "</select></label> <label>%s <input name=\"comment\"></label> ", _("Comment"));
    web__putf(o, "<button type=\"submit\">%s</button></form>\n", _("Record the spot-check"));
}

/* The supervisor's actions the record rules offer on a plan in status
 * (approve and return a submitted one), as one form of buttons. */
void web__plan_buttons(const session *s, const char *rep, const char *hex, const char *status,
                       out *o)
{
    const fs_record_rules *rr = fs_record_rules_of("weekly_plan");
    int shown = 0;
    for (size_t i = 0; i < rr->nactions; i++) {
        const fs_record_action *a = &rr->actions[i];
        if (!(a->by & FS_BY_SUPERVISOR) || a->from[0] == NULL ||
            !fs_record_action_from(a, status) ||
            !fs_record_transition_ok("weekly_plan", status, a->to, FS_RECORD_MANAGER))
            continue;
        if (!shown++) {
            web__puts(o, "<form class=\"inline\" method=\"post\" action=\"/plan\">");
            web__hidden(o, "csrf", s->csrf);
            web__hidden(o, "plan", hex);
            web__hidden(o, "rep", rep);
            web__putf(o, "<input name=\"comment\" placeholder=\"%s\" aria-label=\"%s\">",
                      _("comment (to return)"), _("Review comment"));
        }
        /* The button says the action (approve, return) in the page's language. */
        const char *label = strcmp(a->name, "approve") == 0  ? _("Approve")
                            : strcmp(a->name, "return") == 0 ? _("Return")
                                                             : a->name;
        web__putf(o, " <button type=\"submit\" name=\"do\" value=\"%s\">", a->name);
        web__esc(o, label);
        web__puts(o, "</button>");
    }
    if (shown)
        web__puts(o, "</form>");
}

/* The rep's weekly plans; a submitted one gets approve and return. */
static int plan_forms(fs_store *store, const session *s, const char *rep, out *o)
{
    fs_rows *it = NULL;
    fs_value eq = fs_text(rep);
    int rc = fs_rows_open(&it, fs_store_replica(store), "weekly_plan", "rep", &eq, "period_start");
    web__putf(o, "<h2>%s</h2>\n<table>", _("Weekly plans"));
    web__heads(o, N_("Week"), N_("Status"), N_("Review"), (const char *)NULL);
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        rc = 0;
        fs_value from, to, st;
        char hex[2 * FS_ID_BYTES + 1], sbuf[32] = "";
        if (fs_rows_get(it, "period_start", &from) != 0 ||
            fs_rows_get(it, "period_end", &to) != 0 || fs_rows_get(it, "status", &st) != 0)
            continue;
        if (st.type == FS_TEXT && st.n < sizeof sbuf)
            memcpy(sbuf, st.p, st.n);
        fs_id_to_hex(fs_rows_id(it), hex);
        web__putf(o, "<tr><td><a href=\"/plan?id=%s\">%.*s .. %.*s</a></td><td>", hex,
                  from.type == FS_TEXT ? (int)from.n : 0, (const char *)from.p,
                  to.type == FS_TEXT ? (int)to.n : 0, (const char *)to.p);
        web__esc(o, fs_status_words(sbuf));
        web__puts(o, "</td><td>");
        web__plan_buttons(s, rep, hex, sbuf, o);
        web__puts(o, "</td></tr>\n");
    }
    fs_rows_close(it);
    web__puts(o, "</table>\n");
    return rc < 0 ? rc : 0;
}

/* The rep's customers, each linked to its page. */
static int customer_links(fs_store *store, const char *rep, out *o)
{
    fs_rows *it = NULL;
    fs_value eq = fs_text(rep);
    int rc = fs_rows_open(&it, fs_store_replica(store), "customer", "owner", &eq, "name");
    web__putf(o, "<h2>%s</h2>\n<table>", _("Customers"));
    web__heads(o, N_("Name"), N_("Key account"), N_("Industry"), (const char *)NULL);
    size_t n = 0;
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        rc = 0;
        fs_value name, key, ind;
        char hex[2 * FS_ID_BYTES + 1];
        if (fs_rows_get(it, "name", &name) != 0 || fs_rows_get(it, "key_account", &key) != 0 ||
            fs_rows_get(it, "industry", &ind) != 0 || name.type != FS_TEXT)
            continue;
        fs_id_to_hex(fs_rows_id(it), hex);
        web__putf(o, "<tr><td><a href=\"/customer?id=%s\">", hex);
        char *t = strndup(name.p, name.n);
        web__esc(o, t ? t : "");
        free(t);
        web__putf(o, "</a></td><td>%s</td><td>", key.type == FS_INT && key.i ? _("yes") : _("no"));
        t = ind.type == FS_TEXT ? strndup(ind.p, ind.n) : NULL;
        web__esc(o, t ? t : "–");
        free(t);
        web__puts(o, "</td></tr>\n");
        n++;
    }
    fs_rows_close(it);
    if (n == 0)
        web__putf(o, "<tr><td colspan=\"3\">%s</td></tr>\n", _("none"));
    web__puts(o, "</table>\n");
    return rc < 0 ? rc : 0;
}

/* One of the rep's customers: its id and name (planned_visits). */
typedef struct named_customer {
    uint8_t id[FS_ID_BYTES];
    char *name;
} named_customer;

static int cmp_named_customer(const void *a, const void *b)
{
    return memcmp(((const named_customer *)a)->id, ((const named_customer *)b)->id, FS_ID_BYTES);
}

/* A text column of the row as a string to free ("" when NULL or not text);
 * NULL when memory runs out. */
static char *text_dup(fs_rows *it, const char *column)
{
    fs_value v;
    if (fs_rows_get(it, column, &v) != 0 || v.type != FS_TEXT)
        return strdup("");
    return strndup(v.p, v.n);
}

#define PLANNED_MAX 100 /* rows of the rep's planned visits shown */

/* The rep's visits planned from now on (table visit_plan, schema 6) that no
 * visit has closed yet, by time: the customer by name (linked to its page),
 * place, purpose, and whether the customer confirmed it (how and when).
 * The rep's are those of the rep's customers, as the scope places them. */
static int planned_visits(fs_store *store, const char *rep, int64_t now, out *o)
{
    fs_replica *r = fs_store_replica(store);
    fs_rows *it = NULL;
    fs_value eq = fs_text(rep);
    named_customer *cs = NULL;
    size_t ncs = 0, cap = 0, shown = 0;
    int rc = fs_rows_open(&it, r, "customer", "owner", &eq, NULL); /* by id */
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        rc = 0;
        if (ncs == cap) {
            size_t more = cap ? 2 * cap : 16;
            named_customer *m = realloc(cs, more * sizeof *m);
            if (m == NULL) {
                rc = FS_ENOMEM;
                break;
            }
            cs = m;
            cap = more;
        }
        memcpy(cs[ncs].id, fs_rows_id(it), FS_ID_BYTES);
        if ((cs[ncs].name = text_dup(it, "name")) == NULL) {
            rc = FS_ENOMEM;
            break;
        }
        ncs++;
    }
    fs_rows_close(it);
    it = NULL;
    web__putf(o, "<h2>%s</h2>\n<table>", _("Planned visits"));
    web__heads(o, N_("Planned for"), N_("Customer"), N_("Place"), N_("Purpose"),
               N_("Confirmed with the customer"), (const char *)NULL);
    if (rc >= 0 && ncs > 0)
        rc = fs_rows_open(&it, r, "visit_plan", NULL, NULL, "time");
    while (rc == 0 && ncs > 0 && shown < PLANNED_MAX && (rc = fs_rows_next(it)) == 1) {
        rc = 0;
        fs_value cust, when, closed, at;
        int64_t t;
        named_customer key, *c = NULL;
        if (fs_rows_get(it, "customer", &cust) != 0 || cust.type != FS_BLOB ||
            cust.n != FS_ID_BYTES || fs_rows_get(it, "time", &when) != 0 ||
            when.type != FS_TEXT || fs_civil_parse(when.p, when.n, &t) != 0 || t < now ||
            fs_rows_get(it, "visit", &closed) != 0 || closed.type != FS_NULL)
            continue; /* past, closed by a visit, or not one the page can show */
        memcpy(key.id, cust.p, FS_ID_BYTES);
        c = bsearch(&key, cs, ncs, sizeof *cs, cmp_named_customer);
        if (c == NULL)
            continue; /* another rep's customer */
        char hex[2 * FS_ID_BYTES + 1], stamp[17], phex[2 * FS_ID_BYTES + 1];
        fs_id_to_hex(c->id, hex);
        fs_id_to_hex(fs_rows_id(it), phex);
        fs_civil_format(t, stamp);
        char *place = text_dup(it, "place"), *purpose = text_dup(it, "purpose");
        char *how = text_dup(it, "confirmed_how");
        int confirmed = fs_rows_get(it, "confirmed_at", &at) == 0 && at.type == FS_TEXT;
        char *at_s = confirmed ? text_dup(it, "confirmed_at") : NULL;
        if (place == NULL || purpose == NULL || how == NULL || (confirmed && at_s == NULL)) {
            rc = FS_ENOMEM;
        } else {
            web__putf(o, "<tr data-plan=\"%s\"><td>%s</td><td><a href=\"/customer?id=%s\">",
                      phex, stamp, hex);
            web__esc(o, c->name);
            web__puts(o, "</a></td><td>");
            web__esc(o, place);
            web__puts(o, "</td><td>");
            web__esc(o, purpose);
            if (confirmed) {
                web__putf(o, "</td><td class=\"green\">%s: ", _("yes"));
                web__esc(o, how);
                web__puts(o, " (");
                web__esc(o, at_s);
                web__puts(o, ")</td></tr>\n");
            } else {
                web__putf(o, "</td><td class=\"amber\">%s</td></tr>\n", _("not yet"));
            }
            shown++;
        }
        free(place);
        free(purpose);
        free(how);
        free(at_s);
    }
    fs_rows_close(it);
    if (shown == 0)
        web__putf(o, "<tr><td colspan=\"5\">%s</td></tr>\n", _("No visits planned from now on."));
    web__puts(o, "</table>\n");
    for (size_t i = 0; i < ncs; i++)
        free(cs[i].name);
    free(cs);
    return rc < 0 ? rc : 0;
}

/* A spot-check of one of this week's visits. */
static void spotcheck_form(const session *s, const char *rep, const rep_find *rf, out *o)
{
    web__putf(o, "<h2>%s</h2>\n", _("Spot-check a visit record"));
    if (rf->nvisits == 0) {
        web__putf(o, "<p>%s</p>\n", _("No visits this week."));
        return;
    }
    web__puts(o, "<form method=\"post\" action=\"/spotcheck\">");
    web__hidden(o, "csrf", s->csrf);
    web__hidden(o, "rep", rep);
    web__putf(o, "<label>%s <select name=\"record\">", _("Visit"));
    for (size_t i = 0; i < rf->nvisits; i++) {
        const spot_visit *v = &rf->visits[i];
        char hex[2 * FS_ID_BYTES + 1], name[256] = "";
        fs_id_to_hex(v->id, hex);
        if (v->has_customer)
            web__customer_name(rf->r, v->customer, name, sizeof name);
        web__putf(o, "<option value=\"%s\">%s ", hex, v->time); /* the manager tells */
        web__esc(o, name);                                       /* them by customer */
        web__putf(o, "%s(%.8s)</option>", name[0] ? " " : "", hex);
    }
    web__puts(o, "</select></label> ");
    web__spotcheck_fields(o);
}

/* One rep's deadlines for a week, for their manager only: a rep of another
 * team is "not found", whoever asks. */
static void rep_page(web *wb, fs_store *store, const session *s, const fs_http_request *rq,
                     fs_http_response *r)
{
    char name[FS_USER_NAME_MAX + 1] = "", week[16];
    team_reps reps = {s->team, NULL, 0, 0};
    int found = 0;
    if (web_form_field(rq->query, "name", name, sizeof name) &&
        fs_store_users(store, collect_rep, &reps) == 0)
        found = in_team(&reps, name);
    free(reps.names);
    if (!found) {
        out o = {0};
        web__page_start(&o, _("Not found"));
        web__putf(&o, "<h1>%s</h1><p><a href=\"/\">%s</a></p>\n", _("No such rep in your team"),
                  _("Back"));
        web__finish(&o, r, 404);
        return;
    }
    fs_calendar cal;
    team_calendar(store, s, &cal);
    int64_t now = civil_now(&cal);
    int64_t from = week_from(rq, now, week);
    if (from < 0) {
        bad_week(r);
        return;
    }
    (void)fs_audit_append(fs_store_audit(store), "report_read", s->user, name, week);
    out o = {0};
    web__page_start(&o, name);
    web__puts(&o, "<h1>");
    web__esc(&o, name);
    web__putf(&o, "</h1>\n<p>%s ", _("Week"));
    web__esc(&o, week);
    web__putf(&o, " — <a href=\"/\">%s</a> ", _("team"));
    logout_form(&o, s);
    web__puts(&o, "</p>\n");
    zone_note(&o, store, s->team);
    week_nav(&o, name, from, now);
    /* The week rule by rule against each rule's target, and the last
     * eight weeks: the charts, then the deadlines themselves, all from one
     * evaluation (the week's findings into their own table as it runs). */
    const char *one[] = {name};
    fs_compliance tr[NWEEKS];
    char weeks[NWEEKS][16];
    out dl = {0};
    rep_find rf = {&dl, fs_store_replica(store), store, 0, NULL, 0};
    int rc = trend_get(wb, store, &cal, now, from, one, 1, tr, weeks, rep_row, &rf);
    if (rc == 0) {
        if (tr[NWEEKS - 1].nreps == 1) {
            chart_rules(&o, &tr[NWEEKS - 1], &tr[NWEEKS - 1].reps[0]);
            web__putf(&o, "<h2>%s</h2>\n", _("The last eight weeks"));
            trend_of(&o, tr, weeks, 0, 1);
        }
        for (int w = 0; w < NWEEKS; w++)
            fs_compliance_free(&tr[w]);
    } else {
        web__putf(&o, "<p class=\"err\">%s</p>\n", _("The report could not be computed."));
    }
    web__putf(&o, "<h2>%s</h2>\n<table>", _("Deadlines"));
    web__heads(&o, N_("Status"), N_("Deadline"), N_("Work"), N_("Due"), N_("Done"),
               (const char *)NULL);
    if (rc == 0)
        web__puts(&o, dl.p != NULL ? dl.p : "");
    o.failed |= dl.failed;
    free(dl.p);
    web__puts(&o, "</table>\n");
    if (rc != 0)
        web__putf(&o, "<p class=\"err\">%s</p>\n", _("The deadlines could not be computed."));
    if (rc == 0)
        rc = customer_links(store, name, &o);
    if (rc == 0)
        rc = planned_visits(store, name, now, &o);
    if (rc == 0)
        rc = plan_forms(store, s, name, &o);
    if (rc == 0)
        spotcheck_form(s, name, &rf, &o);
    free(rf.visits);
    web__finish(&o, r, 200);
}

/* The audit page's window (issue 20.3): AUDIT_PAGE entries, a kind and
 * a range of days to filter by, links to the older and newer ones. */
#define AUDIT_PAGE     100
#define AUDIT_PAGE_MAX 500 /* ?n= */

typedef struct audit_view {
    out *o;
    size_t n;
    uint64_t first, last; /* seqs shown */
} audit_view;

/* What the audit log holds, as logged and in words (N_: looked up when shown). */
typedef struct audit_words {
    const char *logged, *words;
} audit_words;

/* logged in words on a Chinese page; as logged on an English one (as
 * `fieldsync-server audit show` prints it) or when the table lacks it. */
static const char *audit_lookup(const audit_words *w, size_t n, const char *logged)
{
    if (web__lang() != WEB_ZH)
        return logged;
    for (size_t i = 0; i < n; i++)
        if (strcmp(w[i].logged, logged) == 0)
            return _(w[i].words);
    return logged;
}

/* An audit kind in words (issue 17); a kind this table lacks (a newer
 * store's) is shown as logged. */
static const char *audit_kind_words(const char *kind)
{
    static const audit_words w[] = {
        {"enroll", N_("device enrolled")},
        {"enroll_refused", N_("enrollment refused")},
        {"auth_failed", N_("authentication failed")},
        {"revoke", N_("device revoked")},
        {"wipe", N_("device wiped")},
        {"refused_write", N_("write refused")},
        {"scope_change", N_("scope changed")},
        {"export", N_("data exported")},
        {"report_read", N_("report read")},
        {"login", N_("dashboard login")},
        {"session_refused", N_("session refused")},
        {"user_disable", N_("user disabled")},
        {"user_enable", N_("user enabled")},
        {"restamped_write", N_("write restamped (device clock)")},
        {"restore", N_("server restored from a backup")},
        {"device_fork", N_("device copy found")},
        {"user_move", N_("user moved to another team")},
        {"backup", N_("backup made")},
        {"team_set", N_("team settings changed")},
        {"export_key_rotate", N_("export key rotated")},
        {"export_key_retire", N_("old export key dropped")},
        {"compact", N_("feed compacted")},
    };
    return audit_lookup(w, sizeof w / sizeof w[0], kind);
}

/* A logged value in words (issue 20.3's entries on a Chinese page): the
 * fixed words the server writes itself (who acted, what was read, "unknown
 * name") and the two shapes of a counted failure, "WHAT from NET" and "N
 * more from NET within a minute (last: WHAT)". A name, a fingerprint, a
 * week or a reason the page has no words for is shown as logged; so is
 * every value on an English page (as `audit show` prints it). */
static const char *audit_value_words(const char *v, char *buf, size_t n)
{
    static const audit_words w[] = {
        {"dashboard", N_("dashboard")},
        {"dashboard login", N_("dashboard login")},
        {"sync", N_("sync")},
        {"operator", N_("server operator")},
        {"admin", N_("admin")},
        {"unknown name", N_("unknown name")},
        {"unknown", N_("unknown")},
        {"an unknown network", N_("an unknown network")},
        {"customer", N_("customer")},
        {"contact", N_("contact")},
        {"visit", N_("visit")},
        {"commitment", N_("commitment")},
        {"plan", N_("weekly plan")},
        {"search", N_("search")},
        {"attachment", N_("attachment")},
    };
    if (web__lang() != WEB_ZH)
        return v;
    const char *words = audit_lookup(w, sizeof w / sizeof w[0], v);
    if (words != v)
        return words;
    unsigned more;
    int at = 0;
    char net[64], last[160];
    size_t rest;
    if (sscanf(v, "%u more from %63s within a minute (last: %n", &more, net, &at) == 2 &&
        at > 0 && (rest = strlen(v + at)) > 0 && rest < sizeof last && v[at + rest - 1] == ')') {
        snprintf(last, sizeof last, "%.*s", (int)rest - 1, v + at);
        char net_w[128], last_w[256];
        /* TRANSLATORS: an audit entry counting failures: how many more, from
         * which network, and the last one's reason */
        snprintf(buf, n, _("%u more from %s within a minute (last: %s)"), more,
                 audit_value_words(net, net_w, sizeof net_w),
                 audit_value_words(last, last_w, sizeof last_w));
        return buf;
    }
    const char *from = strstr(v, " from ");
    if (from != NULL && strstr(from + 6, " ") == NULL && (size_t)(from - v) < sizeof last) {
        snprintf(last, sizeof last, "%.*s", (int)(from - v), v);
        const char *said = audit_value_words(last, buf, n);
        if (said != last) { /* only a reason the page has words for */
            char what[160];
            snprintf(what, sizeof what, "%s", said);
            /* TRANSLATORS: an audit entry's failure and the network it came from */
            snprintf(buf, n, _("%s from %s"), what, from + 6);
            return buf;
        }
    }
    return v;
}

static int audit_row(const fs_audit_entry *e, void *ctx)
{
    audit_view *v = ctx;
    out *o = v->o;
    if (v->n++ == 0)
        v->first = e->seq;
    v->last = e->seq;
    char when[32];
    /* In the zone of every other time on the pages (named at the top). */
    if (fs_instant_format(when, sizeof when, e->at_ms, 0, "%Y-%m-%d %H:%M:%S") != 0)
        snprintf(when, sizeof when, "?");
    web__putf(o, "<tr><td>%llu</td><td>%s</td><td>", (unsigned long long)e->seq, when);
    web__esc(o, audit_kind_words(e->kind));
    web__puts(o, "</td><td>");
    char words[512];
    web__esc(o, audit_value_words(e->actor, words, sizeof words));
    web__puts(o, "</td><td>");
    web__esc(o, audit_value_words(e->subject, words, sizeof words));
    web__puts(o, "</td><td>");
    web__esc(o, audit_value_words(e->detail, words, sizeof words));
    web__puts(o, "</td></tr>\n");
    return 0;
}

/* A day "YYYY-MM-DD" as the instant its midnight is in this machine's zone
 * (next: the midnight after it). -1 when it is no day. */
static int64_t day_start_ms(const char *day, int next)
{
    int y, m, d;
    if (!fs_date_valid(day, strlen(day)) || sscanf(day, "%4d-%2d-%2d", &y, &m, &d) != 3)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d + (next ? 1 : 0);
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    return t == (time_t)-1 ? -1 : (int64_t)t * 1000;
}

/* 1 when the query has a field name (NAME=... at its start or after '&'). */
static int has_field(const char *query, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = query; p != NULL && *p != '\0'; p = strchr(p, '&'), p = p ? p + 1 : p)
        if (strncmp(p, name, n) == 0 && p[n] == '=')
            return 1;
    return 0;
}

/* A sequence number of the query ("" or absent: 0); 0 for none, -1 bad. */
static int seq_param(const char *query, const char *name, uint64_t *seq)
{
    char v[24];
    *seq = 0;
    if (!web_form_field(query, name, v, sizeof v))
        return has_field(query, name) ? -1 : 0;
    if (v[0] == '\0')
        return 0;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0' || v[0] < '0' || v[0] > '9')
        return -1;
    *seq = n;
    return 0;
}

/* The link to another window with the same filter. */
static void audit_link(out *o, const char *kind, const char *from, const char *to, size_t n,
                       const char *dir, uint64_t seq, const char *label)
{
    web__puts(o, "<a href=\"/audit?kind=");
    web__url_esc(o, kind);
    web__puts(o, "&amp;from=");
    web__url_esc(o, from);
    web__puts(o, "&amp;to=");
    web__url_esc(o, to);
    if (n != AUDIT_PAGE)
        web__putf(o, "&amp;n=%zu", n);
    web__putf(o, "&amp;%s=%llu\">", dir, (unsigned long long)seq);
    web__esc(o, label);
    web__puts(o, "</a>");
}

static void audit_bad(fs_http_response *r, const char *why)
{
    out o = {0};
    web__page_start(&o, _("Audit log"));
    web__putf(&o, "<h1>%s</h1><p class=\"err\">", _("Audit log"));
    web__esc(&o, why);
    web__putf(&o, " <a href=\"/audit\">%s</a></p>\n", _("The newest entries"));
    web__finish(&o, r, 400);
}

/* GET /audit[?kind=K&from=YYYY-MM-DD&to=YYYY-MM-DD&before=N|after=N&n=N]:
 * the newest AUDIT_PAGE (or n, at most AUDIT_PAGE_MAX) entries that match (before=N: those before entry N;
 * after=N: the oldest after it), oldest first, and whether the chain
 * verifies. A kind the log does not know, a day that is none or a bad
 * number is a 400 saying what is wrong. */
static void audit_page(fs_store *store, const session *s, const fs_http_request *rq,
                       fs_http_response *r)
{
    char kind[32] = "", from[16] = "", to[16] = "";
    fs_audit_query q = {0};
    q.max = AUDIT_PAGE;
    if ((has_field(rq->query, "kind") && !web_form_field(rq->query, "kind", kind, sizeof kind)) ||
        (has_field(rq->query, "from") && !web_form_field(rq->query, "from", from, sizeof from)) ||
        (has_field(rq->query, "to") && !web_form_field(rq->query, "to", to, sizeof to))) {
        audit_bad(r, _("The filter is not one this page makes."));
        return;
    }
    if (kind[0] != '\0') {
        size_t nk = 0;
        const char *const *kinds = fs_audit_kinds(&nk);
        size_t i = 0;
        while (i < nk && strcmp(kinds[i], kind) != 0)
            i++;
        if (i == nk) {
            audit_bad(r, _("No such kind of event."));
            return;
        }
        q.kind = kind;
    }
    if ((from[0] != '\0' && (q.from_ms = day_start_ms(from, 0)) < 0) ||
        (to[0] != '\0' && (q.to_ms = day_start_ms(to, 1)) < 0)) {
        audit_bad(r, _("A day is written YYYY-MM-DD, as 2026-12-06."));
        return;
    }
    if (seq_param(rq->query, "before", &q.before) != 0 ||
        seq_param(rq->query, "after", &q.after) != 0) {
        audit_bad(r, _("An entry is given by its number."));
        return;
    }
    uint64_t n = 0;
    if (seq_param(rq->query, "n", &n) != 0 || n > AUDIT_PAGE_MAX) {
        audit_bad(r, _("A page shows 1 to 500 entries."));
        return;
    }
    if (n > 0)
        q.max = (size_t)n;
    q.oldest_first = q.after > 0 && q.before == 0;

    fs_audit *a = fs_store_audit(store);
    out o = {0};
    uint64_t entries = 0, first_bad = 0;
    int verified = fs_audit_verify(a, &entries, &first_bad);
    web__page_start(&o, _("Audit log"));
    web__putf(&o, "<h1>%s</h1>\n<p><a href=\"/\">%s</a> ", _("Audit log"), _("users and devices"));
    logout_form(&o, s);
    web__puts(&o, "</p>\n");
    if (verified == 0)
        web__puts(&o, "<p class=\"green\">");
    else
        web__puts(&o, "<p class=\"red\">");
    if (verified == 0)
        web__putf(&o, _("%llu entries, chain intact"), (unsigned long long)entries);
    else
        web__putf(&o, _("the chain is broken at entry %llu"), (unsigned long long)first_bad);
    web__puts(&o, "</p>\n");

    /* the filter: a GET form, no script */
    web__putf(&o, "<form method=\"get\" action=\"/audit\"><label>%s <select name=\"kind\">",
              _("Event"));
    web__putf(&o, "<option value=\"\">%s</option>", _("every kind"));
    size_t nk = 0;
    const char *const *kinds = fs_audit_kinds(&nk);
    for (size_t i = 0; i < nk; i++) {
        web__puts(&o, "<option");
        if (web__lang() == WEB_ZH) { /* the kind's words shown, the kind sent */
            web__puts(&o, " value=\"");
            web__esc(&o, kinds[i]);
            web__puts(&o, "\"");
        }
        if (strcmp(kinds[i], kind) == 0)
            web__puts(&o, " selected");
        web__puts(&o, ">");
        web__esc(&o, audit_kind_words(kinds[i]));
        web__puts(&o, "</option>");
    }
    web__putf(&o, "</select></label> <label>%s <input type=\"date\" name=\"from\" value=\"",
              _("From"));
    web__esc(&o, from);
    web__putf(&o, "\"></label> <label>%s <input type=\"date\" name=\"to\" value=\"", _("To"));
    web__esc(&o, to);
    web__putf(&o, "\"></label> <button type=\"submit\">%s</button></form>\n", _("Filter"));

    audit_view v = {&o, 0, 0, 0};
    web__puts(&o, "<table>");
    web__heads(&o, N_("#"), N_("Time"), N_("Event"), N_("Actor"), N_("Subject"), N_("Detail"),
               (const char *)NULL);
    int rc = fs_audit_query_list(a, &q, audit_row, &v);
    web__puts(&o, "</table>\n");
    if (rc != 0) {
        web__putf(&o, "<p class=\"err\">%s</p>\n", _("The log could not be read."));
    } else if (v.n == 0) {
        web__putf(&o, "<p>%s</p>\n", _("No entries match."));
    } else {
        /* older and newer ones with the same filter, if any */
        fs_audit_query older = q, newer = q;
        older.after = 0;
        older.before = v.first;
        newer.before = 0;
        newer.after = v.last;
        int any_older = 0, any_newer = 0;
        (void)fs_audit_query_any(a, &older, &any_older);
        (void)fs_audit_query_any(a, &newer, &any_newer);
        web__puts(&o, "<p class=\"pager\">");
        web__putf(&o, _("Entries %llu to %llu."), (unsigned long long)v.first,
                  (unsigned long long)v.last);
        if (any_older) {
            web__puts(&o, " ");
            audit_link(&o, kind, from, to, q.max, "before", v.first, _("Older"));
        }
        if (any_newer) {
            web__puts(&o, " ");
            audit_link(&o, kind, from, to, q.max, "after", v.last, _("Newer"));
        }
        web__puts(&o, "</p>\n");
    }
    web__finish(&o, r, 200);
}

/* ---- actions ---- */

static int id_from_hex(const char *hex, uint8_t out_[FS_ID_BYTES])
{
    return fs_id_from_hex(hex, out_) == 0;
}

static void back_to_rep(fs_http_response *r, const char *rep)
{
    out o = {0};
    web__puts(&o, "/rep?name=");
    web__url_esc(&o, rep);
    web__redirect(r, o.failed ? "/" : o.p);
    free(o.p);
}

/* POST /plan: approve or return a submitted weekly plan of the team. */
static void do_plan(fs_store *store, const session *s, const fs_http_request *rq,
                    fs_http_response *r)
{
    char planhex[2 * FS_ID_BYTES + 2], what[16], rep[FS_USER_NAME_MAX + 1], comment[1024] = "";
    uint8_t plan[FS_ID_BYTES];
    int given = web_form_field(rq->body, "plan", planhex, sizeof planhex) &&
                id_from_hex(planhex, plan) && web_form_field(rq->body, "do", what, sizeof what) &&
                web_form_field(rq->body, "rep", rep, sizeof rep);
    /* what: a supervisor's action on a plan, by the record rules */
    const fs_record_action *a = given ? fs_record_find_action("weekly_plan", what) : NULL;
    if (a == NULL || a->by != FS_BY_SUPERVISOR) {
        r->status = 400;
        return;
    }
    (void)web_form_field(rq->body, "comment", comment, sizeof comment);
    char today[17];
    fs_calendar cal;
    team_calendar(store, s, &cal);
    fs_civil_format(civil_now(&cal), today);
    today[10] = '\0';
    /* The action's columns, as the record rules list them; the comment
     * goes with either (a return needs one: it says why). */
    fs_cell cells[FS_RECORD_MAX_SETS];
    size_t n = 0;
    for (size_t k = 0; k < FS_RECORD_MAX_SETS && a->sets[k].column != NULL; k++) {
        const fs_record_set *set = &a->sets[k];
        fs_value v = set->fill == FS_FILL_STATUS   ? fs_text(a->to)
                     : set->fill == FS_FILL_SIGNER ? fs_text(s->user)
                     : set->fill == FS_FILL_NOW    ? fs_text(today)
                     : set->fill == FS_FILL_TRUE   ? fs_int(1)
                     : comment[0]                  ? fs_text(comment)
                                                   : fs_null();
        if (set->fill == FS_FILL_GIVEN && set->required && comment[0] == '\0') {
            r->status = 400;
            return;
        }
        cells[n++] = (fs_cell){set->column, v};
    }
    int rc = fs_store_manager_write(store, s->user, "weekly_plan", plan, cells, n, NULL);
    if (rc == FS_ENOTFOUND)
        r->status = 404;
    else if (rc != 0)
        r->status = 400;
    else
        back_to_rep(r, rep);
}

/* POST /spotcheck: a spot-check of a visit of a rep of the team. */
static void do_spotcheck(fs_store *store, const session *s, const fs_http_request *rq,
                         fs_http_response *r)
{
    char hex[2 * FS_ID_BYTES + 2], acc[8], rep[FS_USER_NAME_MAX + 1], comment[1024] = "";
    uint8_t record[FS_ID_BYTES];
    if (!web_form_field(rq->body, "record", hex, sizeof hex) || !id_from_hex(hex, record) ||
        !web_form_field(rq->body, "accurate", acc, sizeof acc) ||
        !web_form_field(rq->body, "rep", rep, sizeof rep) ||
        (strcmp(acc, "yes") != 0 && strcmp(acc, "no") != 0)) {
        r->status = 400;
        return;
    }
    (void)web_form_field(rq->body, "comment", comment, sizeof comment);
    char when[17];
    fs_calendar cal;
    team_calendar(store, s, &cal);
    fs_civil_format(civil_now(&cal), when);
    fs_cell cells[7] = {{"supervisor", fs_text(s->user)},
                        {"rep", fs_text(rep)},
                        {"record_table", fs_text("visit")},
                        {"record_id", fs_blob(record, FS_ID_BYTES)},
                        {"accurate", fs_int(strcmp(acc, "yes") == 0)},
                        {"checked_at", fs_text(when)},
                        {"comment", comment[0] ? fs_text(comment) : fs_null()}};
    int rc = fs_store_manager_write(store, s->user, "spot_check", NULL, cells, 7, NULL);
    if (rc == FS_ENOTFOUND)
        r->status = 404;
    else if (rc != 0)
        r->status = 400;
    else
        back_to_rep(r, rep);
}

/* POST /conflict: keep the value a field holds, or restore the one that
 * lost, for a conflict in one of the team's records. */
static void do_conflict(fs_store *store, const session *s, const fs_http_request *rq,
                        fs_http_response *r)
{
    char hex[2 * FS_ID_BYTES + 2], what[8];
    uint8_t id[FS_ID_BYTES];
    if (!web_form_field(rq->body, "conflict", hex, sizeof hex) || !id_from_hex(hex, id) ||
        !web_form_field(rq->body, "do", what, sizeof what) ||
        (strcmp(what, "kept") != 0 && strcmp(what, "lost") != 0)) {
        r->status = 400;
        return;
    }
    fs_cell cell = {"status",
                    fs_int(strcmp(what, "kept") == 0 ? FS_CONFLICT_KEPT : FS_CONFLICT_RESTORED)};
    int rc = fs_store_manager_write(store, s->user, "conflict", id, &cell, 1, NULL);
    if (rc == FS_ENOTFOUND)
        r->status = 404;
    else if (rc == FS_ESTATE)
        r->status = 409;
    else if (rc != 0)
        r->status = 400;
    else
        web__redirect(r, "/");
}

/* ---- requests ---- */

static void route(web *w, fs_store *store, const fs_http_request *rq, fs_http_response *r);

void web_handle(void *ctx, fs_store *store, const fs_http_request *rq, fs_http_response *r)
{
    web *w = ctx;
    int get = strcmp(rq->method, "GET") == 0;
    /* The language: a ?lang= link (kept in a cookie), else the cookie,
     * else what the browser asks for. Per request, on this thread only. */
    int asked = get ? web__lang_query(rq->query) : -1;
    int kept = web__lang_cookie(rq->cookie, web__cookie(w, 2));
    web__lang_use(asked >= 0  ? (web_lang)asked
                  : kept >= 0 ? (web_lang)kept
                              : web__lang_accept(rq->accept_language));
    web__request_use(rq->path, rq->query);
    route(w, store, rq, r);
    if (asked >= 0 && !r->deferred && r->status != 0 && r->status < 500) {
        char(*slot)[256] = r->set_cookie[0][0] == '\0' ? &r->set_cookie[0] : &r->set_cookie[1];
        if ((*slot)[0] == '\0')
            snprintf(*slot, sizeof *slot, "%s=%s%s; Max-Age=31536000", web__cookie(w, 2),
                     asked == WEB_ZH ? "zh" : "en", web__cookie_attrs(w, 2));
    }
    web__request_use(NULL, NULL);
    web__zone_use(NULL, NULL);
}

static void route(web *w, fs_store *store, const fs_http_request *rq, fs_http_response *r)
{
    int get = strcmp(rq->method, "GET") == 0, post = strcmp(rq->method, "POST") == 0;
    /* For load balancers and monitoring (issue 22.5): answered by the
     * transport's thread, so "ok" says serve is up and its loop turns; it
     * reads neither the store nor the sessions, and needs no login. */
    if (get && strcmp(rq->path, "/healthz") == 0) {
        r->status = 200;
        r->content_type = "text/plain; charset=utf-8";
        r->body = strdup("ok\n");
        r->body_len = r->body ? 3 : 0;
        if (r->body == NULL)
            r->status = 500;
        return;
    }
    if (get && strcmp(rq->path, "/style.css") == 0) {
        r->status = 200;
        r->content_type = "text/css; charset=utf-8";
        r->body = strdup(css);
        r->body_len = r->body ? strlen(css) : 0;
        if (r->body == NULL)
            r->status = 500;
        return;
    }
    if (get && strcmp(rq->path, "/login") == 0) {
        web__login_page(w, r, NULL, 200);
        return;
    }
    if (post && strcmp(rq->path, "/login") == 0) {
        web__login(w, store, rq, r);
        return;
    }
    session *s = web__session_of(w, store, rq);
    web__zone_use(store, s != NULL ? s->team : NULL); /* the zone the page names */
    if (post && strcmp(rq->path, "/logout") == 0) {
        char given[TOKEN_HEX + 2];
        if (s == NULL || !web_form_field(rq->body, "csrf", given, sizeof given) ||
            !web__same_token(s->csrf, given)) {
            r->status = 403;
            return;
        }
        sodium_memzero(s, sizeof *s);
        snprintf(r->set_cookie[0], sizeof r->set_cookie[0], "%s=%s; Max-Age=0", web__cookie(w, 0),
                 web__cookie_attrs(w, 0));
        web__redirect(r, "/login");
        return;
    }
    int action = post && (strcmp(rq->path, "/plan") == 0 || strcmp(rq->path, "/spotcheck") == 0 ||
                          strcmp(rq->path, "/conflict") == 0);
    if (action) {
        char given[TOKEN_HEX + 2];
        if (s == NULL || s->role != FS_ROLE_MANAGER ||
            !web_form_field(rq->body, "csrf", given, sizeof given) ||
            !web__same_token(s->csrf, given)) {
            r->status = 403;
            return;
        }
        if (strcmp(rq->path, "/plan") == 0)
            do_plan(store, s, rq, r);
        else if (strcmp(rq->path, "/conflict") == 0)
            do_conflict(store, s, rq, r);
        else
            do_spotcheck(store, s, rq, r);
        return;
    }
    int record = strcmp(rq->path, "/customer") == 0 || strcmp(rq->path, "/visit") == 0 ||
                 strcmp(rq->path, "/plan") == 0;
    int page = strcmp(rq->path, "/") == 0 || strcmp(rq->path, "/rep") == 0 ||
               strcmp(rq->path, "/search") == 0 ||
               strcmp(rq->path, "/audit") == 0 || record ||
               strcmp(rq->path, "/attachment") == 0;
    if (get && page && s == NULL) {
        web__redirect(r, "/login");
        return;
    }
    if (get && strcmp(rq->path, "/") == 0) {
        if (s->role == FS_ROLE_ADMIN)
            admin_page(store, s, r);
        else
            team_page(w, store, s, rq, r);
        return;
    }
    if (get && strcmp(rq->path, "/search") == 0 && s->role == FS_ROLE_MANAGER) {
        search_page(store, s, rq, r);
        return;
    }
    if (get && strcmp(rq->path, "/rep") == 0 && s->role == FS_ROLE_MANAGER) {
        rep_page(w, store, s, rq, r);
        return;
    }
    if (get && record && s->role == FS_ROLE_MANAGER) {
        web__record_page(store, s, rq->path + 1, rq, r);
        return;
    }
    if (get && strcmp(rq->path, "/attachment") == 0 && s->role == FS_ROLE_MANAGER) {
        web__attachment_download(store, s, rq, r);
        return;
    }
    if (get && strcmp(rq->path, "/audit") == 0 && s->role == FS_ROLE_ADMIN) {
        audit_page(store, s, rq, r);
        return;
    }
    r->status = page ? 403 : 404;
}
