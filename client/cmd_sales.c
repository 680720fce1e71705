/*
 * fieldsync report sales (issue 19.2): the sales figures a rep submits to
 * the supervisor, per rep (the customer's holder) and, on a manager's
 * laptop, for the team, computed offline from the replica's deals and
 * payments for a week or a month:
 *   new customers signed   customers whose first won deal was won in the
 *                          period
 *   conversion             deals won in the period / deals opened in it
 *   collected (回款)       payments collected in the period
 * against the weekly plans' goals where they state numbers ("签约 2 个新
 * 客户", "回款 30 万元", "sign 2 new customers", "collect 300,000 CNY":
 * sales_goals_parse).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include "cmd.h"
#include "export.h"
#include "fieldsync/calendar.h"
#include "fieldsync/rules.h"
#include "fieldsync/text.h"
#include "form.h"
#include "i18n.h"
#include "record.h"
#include "sales.h"
#include "table.h"
#include "teamcal.h"

/* ---- the goals a plan states ---- */

/* 1 if one of words (NULL-terminated) occurs in s[0..n). */
static int near(const char *s, size_t n, const char *const *words)
{
    for (size_t k = 0; words[k] != NULL; k++) {
        size_t w = strlen(words[k]);
        for (size_t i = 0; i + w <= n; i++)
            if (strncasecmp(s + i, words[k], w) == 0)
                return 1;
    }
    return 0;
}

void sales_goals_parse(const char *goals, sales_goals *g)
{
    static const char *const money_after[] = {"元", "CNY", "RMB", "yuan", NULL};
    static const char *const money_before[] = {"回款", "collect", "¥", NULL};
    static const char *const cust_after[] = {"个新客户", "家新客户", "个客户", "家客户",
                                             "new customer", "customer", NULL};
    static const char *const cust_before[] = {"签约", "签下", "sign", NULL};
    g->customers = -1;
    g->fen = -1;
    size_t len = goals != NULL ? strlen(goals) : 0;
    for (size_t i = 0; i < len;) {
        if (goals[i] < '0' || goals[i] > '9') {
            i++;
            continue;
        }
        size_t start = i;
        int64_t whole = 0, frac = 0;
        int fd = 0, digits = 0;
        while (i < len && ((goals[i] >= '0' && goals[i] <= '9') ||
                           (goals[i] == ',' && i + 1 < len && goals[i + 1] >= '0' &&
                            goals[i + 1] <= '9'))) {
            if (goals[i] != ',' && digits++ < 13)
                whole = whole * 10 + (goals[i] - '0');
            i++;
        }
        if (i + 1 < len && goals[i] == '.' && goals[i + 1] >= '0' && goals[i + 1] <= '9') {
            for (i++; i < len && goals[i] >= '0' && goals[i] <= '9'; i++)
                if (fd < 2)
                    frac = frac * 10 + (goals[i] - '0'), fd++;
        }
        if (digits > 13)
            continue; /* no goal is that large: a phone number, an id */
        if (fd == 1)
            frac *= 10;
        size_t after = i;
        while (after < len && goals[after] == ' ')
            after++;
        int64_t scale = 1;
        if (strncmp(goals + after, "万", 3) == 0) {
            scale = 10000;
            after += 3;
        } else if (after < len && (goals[after] == 'k' || goals[after] == 'K')) {
            scale = 1000;
            after++;
        }
        size_t back = start > 12 ? start - 12 : 0;
        size_t fwd = len - after < 14 ? len - after : 14;
        int money = near(goals + after, fwd, money_after) ||
                    near(goals + back, start - back, money_before) || scale != 1;
        int cust = !money && (near(goals + after, fwd, cust_after) ||
                              near(goals + back, start - back, cust_before));
        if (money && g->fen < 0)
            g->fen = (whole * 100 + frac) * scale;
        else if (cust && g->customers < 0 && fd == 0)
            g->customers = whole;
    }
}

/* ---- the figures ---- */

typedef struct deal_row {
    uint8_t id[FS_ID_BYTES], customer[FS_ID_BYTES];
    char *stage, *opened, *closed, *title;
    int64_t fen;
} deal_row;

static void deals_free(deal_row *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(d[i].stage);
        free(d[i].opened);
        free(d[i].closed);
        free(d[i].title);
    }
    free(d);
}

static int64_t int_of(fs_rows *it, const char *col)
{
    fs_value v;
    return fs_rows_get(it, col, &v) == 0 && v.type == FS_INT ? v.i : 0;
}

static int load_deals(fs_replica *r, deal_row **out, size_t *n)
{
    fs_rows *it = NULL;
    deal_row *d = NULL;
    size_t cap = 0;
    *n = 0;
    int rc = fs_rows_open(&it, r, "deal", NULL, NULL, NULL);
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        rc = 0;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            deal_row *more = realloc(d, cap * sizeof *more);
            if (more == NULL) {
                rc = FS_ENOMEM;
                break;
            }
            d = more;
        }
        deal_row *x = &d[*n];
        memset(x, 0, sizeof *x);
        (*n)++;
        int present = 0;
        memcpy(x->id, fs_rows_id(it), FS_ID_BYTES);
        rc = rec_id(it, "customer", x->customer, &present);
        if (rc == 0)
            rc = rec_text(it, "stage", &x->stage);
        if (rc == 0)
            rc = rec_text(it, "opened_at", &x->opened);
        if (rc == 0)
            rc = rec_text(it, "closed_at", &x->closed);
        if (rc == 0)
            rc = rec_text(it, "title", &x->title);
        x->fen = int_of(it, "amount");
    }
    fs_rows_close(it);
    *out = d;
    return rc < 0 ? rc : 0;
}

/* 1 if the date text d lies in [from, to). */
static int within(const char *d, const char *from, const char *to)
{
    return d != NULL && strlen(d) >= 10 && strncmp(d, from, 10) >= 0 && strncmp(d, to, 10) < 0;
}

/* The day a weekly plan belongs to: the middle of its period (a plan from
 * Friday to Thursday is the next week's: 4 of its 7 days are), or its
 * start when the end is missing or before it. out: "YYYY-MM-DD". */
static const char *plan_day(const char *start, const char *end, char out[11])
{
    int64_t a = 0, b = 0;
    if (start == NULL || fs_civil_parse(start, strnlen(start, 10), &a) != 0)
        return NULL;
    int64_t day = fs_civil_day(a);
    if (end != NULL && fs_civil_parse(end, strnlen(end, 10), &b) == 0 && fs_civil_day(b) > day)
        day += (fs_civil_day(b) - day) / 2;
    char full[17];
    fs_civil_format(day * 24 * 60, full);
    memcpy(out, full, 10);
    out[10] = '\0';
    return out;
}

static sales_figures *figures_of(sales_report *rep, const char *who)
{
    for (size_t i = 0; i < rep->nreps; i++)
        if (strcmp(rep->reps[i].rep, who) == 0)
            return &rep->reps[i];
    if (rep->nreps == SALES_MAX_REPS)
        return NULL;
    sales_figures *f = &rep->reps[rep->nreps++];
    memset(f, 0, sizeof *f);
    snprintf(f->rep, sizeof f->rep, "%s", who);
    f->goal.customers = f->goal.fen = -1;
    return f;
}

static int cmp_rep(const void *a, const void *b)
{
    return strcmp(((const sales_figures *)a)->rep, ((const sales_figures *)b)->rep);
}

/* The holder of customer: its owner, else the device's user (me). */
static const char *holder(const rec_index *owners, const uint8_t *customer, const char *me)
{
    const char *o = rec_index_find(owners, customer);
    return o != NULL && o[0] != '\0' ? o : me;
}

static void add_goal(int64_t *sum, int64_t v)
{
    if (v >= 0)
        *sum = *sum < 0 ? v : *sum + v;
}

int sales_report_get(fs_replica *r, const char *from, const char *to, const char *only,
                     sales_report *rep)
{
    memset(rep, 0, sizeof *rep);
    char me[FS_USER_MAX + 1] = "";
    if (fs_replica_user(r, me) != 0)
        me[0] = '\0';
    rec_index owners;
    int rc = rec_index_load(&owners, r, "customer", NULL, "owner");
    if (rc != 0)
        return rc;
    deal_row *d = NULL;
    size_t nd = 0;
    rc = load_deals(r, &d, &nd);
    for (size_t i = 0; rc == 0 && i < nd; i++) {
        const char *who = holder(&owners, d[i].customer, me);
        if (only != NULL && strcmp(who, only) != 0)
            continue;
        sales_figures *f = figures_of(rep, who);
        if (f == NULL)
            break;
        if (within(d[i].opened, from, to))
            f->opened++;
        int won = d[i].stage != NULL && strcmp(d[i].stage, "won") == 0;
        if (!won || !within(d[i].closed, from, to))
            continue;
        f->won++;
        f->won_fen += d[i].fen;
        /* a new customer: no deal of theirs won before this one (the
         * earliest won one; the same day, the lower id) */
        int first = 1;
        for (size_t k = 0; first && k < nd; k++)
            if (k != i && memcmp(d[k].customer, d[i].customer, FS_ID_BYTES) == 0 &&
                d[k].stage != NULL && strcmp(d[k].stage, "won") == 0 && d[k].closed != NULL) {
                int c = strcmp(d[k].closed, d[i].closed);
                first = !(c < 0 || (c == 0 && memcmp(d[k].id, d[i].id, FS_ID_BYTES) < 0));
            }
        f->new_customers += first;
    }
    deals_free(d, nd);
    /* payments */
    fs_rows *it = NULL;
    if (rc == 0)
        rc = fs_rows_open(&it, r, "payment", NULL, NULL, NULL);
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        uint8_t cust[FS_ID_BYTES];
        int present = 0;
        char *at = NULL;
        rc = rec_id(it, "customer", cust, &present);
        if (rc == 0)
            rc = rec_text(it, "collected_at", &at);
        const char *who = present ? holder(&owners, cust, me) : me;
        if (rc == 0 && within(at, from, to) && (only == NULL || strcmp(who, only) == 0)) {
            sales_figures *f = figures_of(rep, who);
            if (f != NULL) {
                f->collected_fen += int_of(it, "amount");
                f->payments++;
            }
        }
        free(at);
    }
    fs_rows_close(it);
    it = NULL;
    /* the goals of the weekly plans of the period (plan_day) */
    if (rc == 0)
        rc = fs_rows_open(&it, r, "weekly_plan", NULL, NULL, NULL);
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        char *who = NULL, *start = NULL, *end = NULL, *goals = NULL, day[11];
        rc = rec_text(it, "rep", &who);
        if (rc == 0)
            rc = rec_text(it, "period_start", &start);
        if (rc == 0)
            rc = rec_text(it, "period_end", &end);
        if (rc == 0)
            rc = rec_text(it, "goals", &goals);
        if (rc == 0 && who != NULL && within(plan_day(start, end, day), from, to) &&
            (only == NULL || strcmp(who, only) == 0)) {
            sales_figures *f = figures_of(rep, who);
            sales_goals g;
            sales_goals_parse(goals, &g);
            if (f != NULL) {
                add_goal(&f->goal.customers, g.customers);
                add_goal(&f->goal.fen, g.fen);
                f->plans++;
            }
        }
        free(who);
        free(start);
        free(end);
        free(goals);
    }
    fs_rows_close(it);
    rec_index_free(&owners);
    if (rc < 0)
        return rc;
    qsort(rep->reps, rep->nreps, sizeof rep->reps[0], cmp_rep);
    /* the team: every rep's together */
    sales_figures *t = &rep->team;
    snprintf(t->rep, sizeof t->rep, "%s", "*");
    t->goal.customers = t->goal.fen = -1;
    for (size_t i = 0; i < rep->nreps; i++) {
        const sales_figures *f = &rep->reps[i];
        t->opened += f->opened;
        t->won += f->won;
        t->won_fen += f->won_fen;
        t->new_customers += f->new_customers;
        t->collected_fen += f->collected_fen;
        t->payments += f->payments;
        t->plans += f->plans;
        add_goal(&t->goal.customers, f->goal.customers);
        add_goal(&t->goal.fen, f->goal.fen);
    }
    return 0;
}

/* ---- the period ---- */

int sales_period(const char *week, const char *month, char from[11], char to[11], char name[16])
{
    int64_t start, end;
    if (week != NULL && month != NULL) {
        cli_error(_("give --week or --month, not both"));
        return CLI_EUSAGE;
    }
    if (month != NULL) {
        int y = 0, m = 0;
        char tail = 0;
        if (strlen(month) != 7 || sscanf(month, "%4d-%2d%c", &y, &m, &tail) != 2 || m < 1 ||
            m > 12 || y < 1970) {
            cli_error(_("--month: expected a month YYYY-MM, as 2026-12"));
            return CLI_EUSAGE;
        }
        start = fs_days_from_civil(y, m, 1);
        end = m == 12 ? fs_days_from_civil(y + 1, 1, 1) : fs_days_from_civil(y, m + 1, 1);
        snprintf(name, 16, "%04d-%02d", y, m);
    } else {
        int64_t monday;
        char now[17];
        int64_t c = 0;
        cli_now(now);
        if (fs_civil_parse(now, strlen(now), &c) != 0)
            return CLI_ERUNTIME;
        if (week == NULL) {
            monday = fs_iso_week_start(c);
        } else if (cli_week(week, c, &monday) != CLI_OK) {
            return CLI_EUSAGE;
        }
        fs_iso_week_format(monday, name);
        start = fs_civil_day(monday);
        end = start + 7;
    }
    char a[17], b[17];
    fs_civil_format(start * FS_MIN_PER_DAY, a);
    fs_civil_format(end * FS_MIN_PER_DAY, b);
    memcpy(from, a, 10);
    memcpy(to, b, 10);
    from[10] = to[10] = '\0';
    return CLI_OK;
}

/* ---- report sales ---- */

static void fen_text(int64_t fen, char *buf)
{
    if (fen < 0)
        snprintf(buf, MONEY_BUF, "-");
    else
        money_format(fen, buf);
}

static void count_text(int64_t n, char *buf, size_t size)
{
    if (n < 0)
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%lld", (long long)n);
}

/* A share to 4 decimals (2/3: 0.6667), as a report shows it. */
static double round4(double x)
{
    return (double)(int64_t)(x * 10000.0 + 0.5) / 10000.0;
}

static cJSON *figures_json(const sales_figures *f, int team)
{
    cJSON *o = cJSON_CreateObject();
    int bad = o == NULL;
    if (!bad && !team)
        bad = rec_json_add(o, "rep", cJSON_CreateString(f->rep));
    bad = bad || rec_json_add(o, "new_customers", cJSON_CreateNumber(f->new_customers)) ||
          rec_json_add(o, "goal_new_customers", f->goal.customers >= 0
                                                    ? cJSON_CreateNumber((double)f->goal.customers)
                                                    : cJSON_CreateNull()) ||
          rec_json_add(o, "deals_opened", cJSON_CreateNumber(f->opened)) ||
          rec_json_add(o, "deals_won", cJSON_CreateNumber(f->won)) ||
          rec_json_add(o, "conversion", f->opened > 0
                                            ? cJSON_CreateNumber(round4((double)f->won / f->opened))
                                            : cJSON_CreateNull()) ||
          rec_json_add(o, "won_fen", cJSON_CreateNumber((double)f->won_fen)) ||
          rec_json_add(o, "collected_fen", cJSON_CreateNumber((double)f->collected_fen)) ||
          rec_json_add(o, "goal_collected_fen", f->goal.fen >= 0
                                                    ? cJSON_CreateNumber((double)f->goal.fen)
                                                    : cJSON_CreateNull());
    if (bad) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int figures_row(cli_table *t, const sales_figures *f, const char *name)
{
    char nc[24], gc[24], wo[48], conv[24], won[MONEY_BUF], col[MONEY_BUF], gcol[MONEY_BUF];
    snprintf(nc, sizeof nc, "%u", f->new_customers);
    count_text(f->goal.customers, gc, sizeof gc);
    snprintf(wo, sizeof wo, "%u/%u", f->won, f->opened);
    if (f->opened > 0)
        snprintf(conv, sizeof conv, "%.0f%%", 100.0 * f->won / f->opened);
    else
        snprintf(conv, sizeof conv, "-");
    money_format(f->won_fen, won);
    money_format(f->collected_fen, col);
    fen_text(f->goal.fen, gcol);
    const char *cells[] = {name, nc, gc, wo, conv, won, col, gcol};
    return cli_table_add(t, cells) == 0 ? 0 : FS_ENOMEM;
}

int sales_table(const sales_report *rep)
{
    static const cli_column cols[] = {
        {N_("REP"), 16},          {N_("NEW CUSTOMERS"), 0}, {N_("GOAL"), 0},
        {N_("WON/OPENED"), 0},    {N_("CONVERSION"), 0},    {N_("WON AMOUNT"), 0},
        {N_("COLLECTED"), 0},     {N_("COLLECTION GOAL"), 0},
    };
    cli_table *t = NULL;
    if (cli_table_new(&t, cols, sizeof cols / sizeof cols[0]) != 0)
        return FS_ENOMEM;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < rep->nreps; i++)
        rc = figures_row(t, &rep->reps[i], rep->reps[i].rep);
    if (rc == 0 && rep->nreps > 1)
        rc = figures_row(t, &rep->team, _("team total"));
    if (rc == 0)
        cli_table_print(t, stdout);
    cli_table_free(t);
    return rc;
}

cJSON *sales_json(const sales_report *rep)
{
    cJSON *reps = cJSON_CreateArray();
    for (size_t i = 0; reps != NULL && i < rep->nreps; i++)
        if (rec_json_add(reps, NULL, figures_json(&rep->reps[i], 0)) != 0) {
            cJSON_Delete(reps);
            return NULL;
        }
    return reps;
}

int cmd_report_sales(cli_ctx *ctx, int argc, char **argv)
{
    const char *week = NULL, *month = NULL, *only = NULL;
    int json = 0;
    const cli_opt opts[] = {
        {"--week", CLI_VALUE, NULL, &week, NULL},
        {"--month", CLI_VALUE, NULL, &month, NULL},
        {"--rep", CLI_VALUE, NULL, &only, NULL},
        {"--json", CLI_FLAG, &json, NULL, NULL},
    };
    int rc = cli_parse(ctx, USAGE_REPORT_SALES, opts, sizeof opts / sizeof opts[0], argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    if (only != NULL && (rc = cli_check_text("--rep", only)) != CLI_OK)
        return rc;
    char from[11], to[11], name[16], last[17];
    rc = sales_period(week, month, from, to, name); /* the options' errors first */
    fs_replica *r = NULL;
    if (rc == CLI_OK)
        rc = cli_open(ctx, &r);
    if (rc == CLI_OK && week == NULL && month == NULL)
        rc = sales_period(NULL, NULL, from, to, name); /* this week in the team's zone */
    sales_report *rep = rc == CLI_OK ? malloc(sizeof *rep) : NULL;
    if (rc == CLI_OK && rep == NULL)
        rc = cli_fail(NULL, "report sales", FS_ENOMEM);
    int frc = rc == CLI_OK ? sales_report_get(r, from, to, only, rep) : 0;
    if (frc != 0)
        rc = cli_fail(frc == FS_ENOMEM ? NULL : r, "report sales", frc);
    /* each rep's figures are that rep's sales data: more than one rep's to a
     * file or pipe is an export (issue 20.4); a rep's own line is not */
    if (rc == CLI_OK)
        rc = cli_export_gate(r, "report_sales", rep->nreps);
    int64_t end = 0;
    if (rc == CLI_OK && fs_civil_parse(to, 10, &end) == 0) {
        fs_civil_format(end - FS_MIN_PER_DAY, last);
        last[10] = '\0';
    } else {
        snprintf(last, sizeof last, "%s", to);
    }
    if (rc == CLI_OK && json) {
        cJSON *top = cJSON_CreateObject();
        int bad = top == NULL || rec_json_add(top, "period", cJSON_CreateString(name)) ||
                  rec_json_add(top, "from", cJSON_CreateString(from)) ||
                  rec_json_add(top, "to", cJSON_CreateString(last)) ||
                  rec_json_add(top, "reps", sales_json(rep)) ||
                  rec_json_add(top, "team", figures_json(&rep->team, 1));
        rc = !bad && rec_json_print(top, stdout) == 0 ? CLI_OK
                                                      : cli_fail(NULL, "report sales", FS_ENOMEM);
        cJSON_Delete(top);
    } else if (rc == CLI_OK) {
        printf(month != NULL ? _("sales figures, month %s (%s .. %s)\n")
                             : _("sales figures, week %s (%s .. %s)\n"),
               name, from, last);
        if (rep->nreps == 0)
            printf("%s\n", _("no deals, payments or plans in this period"));
        else if (sales_table(rep) != 0)
            rc = cli_fail(NULL, "report sales", FS_ENOMEM);
        if (rc == CLI_OK && rep->nreps > 0)
            printf("%s\n", _("New customers: customers whose first won deal was won in the "
                             "period. Conversion: deals won / deals opened in the period. Goals: "
                             "the numbers the weekly plans state."));
    }
    free(rep);
    fs_replica_close(r);
    return rc;
}

/* ---- report meeting: the weekly meeting pack ---- */

/* What was not done in the week: the rules' overdue and missed findings. */
typedef struct missed_item {
    char rep[FS_USER_MAX + 1];
    const fs_rule *rule;
    fs_rule_status status;
    int64_t deadline;
    uint8_t row[FS_ID_BYTES];
    int has_row;
} missed_item;

typedef struct meeting {
    missed_item *items;
    size_t n, cap;
    char reps[SALES_MAX_REPS][FS_USER_MAX + 1];
    size_t nreps;
} meeting;

static void add_rep_name(meeting *m, const char *rep)
{
    for (size_t i = 0; i < m->nreps; i++)
        if (strcmp(m->reps[i], rep) == 0)
            return;
    if (rep[0] != '\0' && m->nreps < SALES_MAX_REPS)
        snprintf(m->reps[m->nreps++], FS_USER_MAX + 1, "%s", rep);
}

static int on_finding(const fs_finding *f, void *ctx)
{
    meeting *m = ctx;
    add_rep_name(m, f->who);
    if (f->status != FS_ST_OVERDUE && f->status != FS_ST_MISSED)
        return 0;
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 32;
        missed_item *more = realloc(m->items, cap * sizeof *more);
        if (more == NULL)
            return FS_ENOMEM;
        m->items = more;
        m->cap = cap;
    }
    missed_item *x = &m->items[m->n++];
    snprintf(x->rep, sizeof x->rep, "%s", f->who);
    x->rule = f->rule;
    x->status = f->status;
    x->deadline = f->deadline;
    memcpy(x->row, f->row, FS_ID_BYTES);
    x->has_row = f->has_row;
    return 0;
}

/* A rep's weekly plan of [from, to) (plan_day): its id, goals and status
 * (malloc'd; NULL when none). 1 found, 0 none, <0 error. */
static int plan_of(fs_replica *r, const char *rep, const char *from, const char *to,
                   uint8_t id[FS_ID_BYTES], char **goals, char **status)
{
    fs_rows *it = NULL;
    fs_value eq = fs_text(rep);
    int found = 0;
    *goals = *status = NULL;
    int rc = fs_rows_open(&it, r, "weekly_plan", "rep", &eq, "period_start");
    while (rc == 0 && !found && (rc = fs_rows_next(it)) == 1) {
        char *start = NULL, *end = NULL, day[11];
        rc = rec_text(it, "period_start", &start);
        if (rc == 0)
            rc = rec_text(it, "period_end", &end);
        if (rc == 0 && within(plan_day(start, end, day), from, to)) {
            found = 1;
            memcpy(id, fs_rows_id(it), FS_ID_BYTES);
            rc = rec_text(it, "goals", goals);
            if (rc == 0)
                rc = rec_text(it, "status", status);
        }
        free(start);
        free(end);
    }
    fs_rows_close(it);
    return rc < 0 ? rc : found;
}

/* A plan's tasks: all of them, or (undone_only) those not done; as a JSON
 * array of {date, task, done} into arr, printed when print. */
static int plan_tasks(fs_replica *r, const uint8_t plan[FS_ID_BYTES], int undone_only, cJSON *arr,
                      int print, unsigned *ndone, unsigned *nall, cli_recset *shown)
{
    fs_rows *it = NULL;
    fs_value eq = fs_blob(plan, FS_ID_BYTES), v;
    int rc = fs_rows_open(&it, r, "plan_task", "plan", &eq, "date");
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        char *date = NULL, *task = NULL;
        rc = rec_text(it, "date", &date);
        if (rc == 0)
            rc = rec_text(it, "task", &task);
        int done = fs_rows_get(it, "done", &v) == 0 && v.type == FS_INT && v.i != 0;
        if (nall != NULL)
            (*nall)++;
        if (ndone != NULL && done)
            (*ndone)++;
        if (rc == 0 && !(undone_only && done) && shown != NULL)
            rc = cli_recset_add_named(shown, "plan_task", fs_rows_id(it));
        if (rc == 0 && !(undone_only && done)) {
            if (print)
                printf("    %s  %s%s\n", date ? date : "", task ? task : "",
                       done ? _(" (done)") : "");
            cJSON *o = cJSON_CreateObject();
            if (o == NULL || rec_json_add(o, "date", cJSON_CreateString(date ? date : "")) ||
                rec_json_add(o, "task", cJSON_CreateString(task ? task : "")) ||
                rec_json_add(o, "done", cJSON_CreateBool(done)) || rec_json_add(arr, NULL, o))
                rc = FS_ENOMEM;
        }
        free(date);
        free(task);
    }
    fs_rows_close(it);
    return rc < 0 ? rc : 0;
}

/* The improvement measures a rep stated in the week's self-checks (the
 * reasons given for a "no"), and the deals lost in the week. */
static int stated_reasons(fs_replica *r, const char *rep, const char *from, const char *to,
                          cJSON *arr, int print, cli_recset *shown)
{
    static const char *const fixes[] = {"appearance_fix", "communication_fix",
                                        "data_management_fix", "teamwork_fix", "todos_fix"};
    fs_rows *it = NULL;
    fs_value eq = fs_text(rep);
    int rc = fs_rows_open(&it, r, "self_check", "rep", &eq, "date");
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        char *date = NULL;
        rc = rec_text(it, "date", &date);
        for (size_t k = 0; rc == 0 && within(date, from, to) && k < 5; k++) {
            char *fix = NULL;
            rc = rec_text(it, fixes[k], &fix);
            if (rc == 0 && fix != NULL && fix[0] != '\0' && shown != NULL)
                rc = cli_recset_add_named(shown, "self_check", fs_rows_id(it));
            if (rc == 0 && fix != NULL && fix[0] != '\0') {
                char label[160];
                const char *name = form_field_name("self_check", fixes[k], label, sizeof label);
                if (print) {
                    printf("    %s  ", date);
                    printf(_("%s: %s\n"), name, fix); /* the reader's colon */
                }
                cJSON *o = cJSON_CreateObject();
                if (o == NULL || rec_json_add(o, "date", cJSON_CreateString(date)) ||
                    rec_json_add(o, "item", cJSON_CreateString(fixes[k])) ||
                    rec_json_add(o, "reason", cJSON_CreateString(fix)) ||
                    rec_json_add(arr, NULL, o))
                    rc = FS_ENOMEM;
            }
            free(fix);
        }
        free(date);
    }
    fs_rows_close(it);
    return rc < 0 ? rc : 0;
}

/* Deals of rep's customers lost in the week, printed and into arr. */
static int deals_lost(fs_replica *r, const char *rep, const char *me, const char *from,
                      const char *to, cJSON *arr, int print, cli_recset *shown)
{
    rec_index owners;
    int rc = rec_index_load(&owners, r, "customer", NULL, "owner");
    if (rc != 0)
        return rc;
    deal_row *d = NULL;
    size_t nd = 0;
    rc = load_deals(r, &d, &nd);
    for (size_t i = 0; rc == 0 && i < nd; i++) {
        if (d[i].stage == NULL || strcmp(d[i].stage, "lost") != 0 ||
            !within(d[i].closed, from, to) || strcmp(holder(&owners, d[i].customer, me), rep) != 0)
            continue;
        if (shown != NULL && (rc = cli_recset_add_named(shown, "deal", d[i].id)) != 0)
            break;
        char amount[MONEY_BUF];
        money_format(d[i].fen, amount);
        if (print)
            printf("    %s  %s  %s\n", d[i].closed, d[i].title ? d[i].title : "", amount);
        cJSON *o = cJSON_CreateObject();
        if (o == NULL || rec_json_add(o, "closed_at", cJSON_CreateString(d[i].closed)) ||
            rec_json_add(o, "title", cJSON_CreateString(d[i].title ? d[i].title : "")) ||
            rec_json_add(o, "amount_fen", cJSON_CreateNumber((double)d[i].fen)) ||
            rec_json_add(arr, NULL, o))
            rc = FS_ENOMEM;
    }
    deals_free(d, nd);
    rec_index_free(&owners);
    return rc;
}

/* One rep's pack, printed (json NULL) or as an object added to json; the
 * records whose words it shows (plans, tasks, deals, self-checks) added to
 * shown when not NULL. */
static int meeting_rep(fs_replica *r, const meeting *m, const sales_report *sales,
                       const char *rep, const char *me, const char *from, const char *to,
                       const char *next_to, cJSON *json, cli_recset *shown)
{
    int print = json == NULL;
    cJSON *o = cJSON_CreateObject(), *results = cJSON_CreateObject(),
          *missed = cJSON_CreateArray(), *tasks = cJSON_CreateArray(),
          *lost = cJSON_CreateArray(), *reasons = cJSON_CreateArray(),
          *next = cJSON_CreateObject(), *ntasks = cJSON_CreateArray();
    int rc = o && results && missed && tasks && lost && reasons && next && ntasks ? 0 : FS_ENOMEM;
    const sales_figures *f = NULL;
    for (size_t i = 0; i < sales->nreps; i++)
        if (strcmp(sales->reps[i].rep, rep) == 0)
            f = &sales->reps[i];
    sales_figures none;
    if (f == NULL) {
        memset(&none, 0, sizeof none);
        none.goal.customers = none.goal.fen = -1;
        f = &none;
    }
    if (print)
        printf("\n== %s ==\n%s\n", rep, _("Results against the goals:"));
    uint8_t plan[FS_ID_BYTES];
    char *goals = NULL, *status = NULL;
    int found = rc == 0 ? plan_of(r, rep, from, to, plan, &goals, &status) : 0;
    if (found < 0)
        rc = found;
    if (found == 1 && shown != NULL)
        rc = cli_recset_add_named(shown, "weekly_plan", plan);
    char col[MONEY_BUF], gcol[MONEY_BUF], gc[24];
    money_format(f->collected_fen, col);
    fen_text(f->goal.fen, gcol);
    count_text(f->goal.customers, gc, sizeof gc);
    if (rc == 0 && print) {
        if (goals != NULL)
            printf(_("  goals of the week: %s (%s)\n"), goals,
                   status ? form_status_words(status) : "-");
        else
            printf("  %s\n", _("no weekly plan this week"));
        printf(_("  new customers signed: %u (goal %s); deals won/opened: %u/%u; collected: %s "
                 "(goal %s)\n"),
               f->new_customers, gc, f->won, f->opened, col, gcol);
    }
    unsigned ndone = 0, nall = 0;
    if (rc == 0 && found == 1) {
        if (print)
            printf("%s\n", _("  tasks of the week not done:"));
        rc = plan_tasks(r, plan, 1, tasks, print, &ndone, &nall, shown);
    }
    cJSON *fig = rc == 0 ? sales_json(&(sales_report){.reps = {*f}, .nreps = 1}) : NULL;
    if (rc == 0 && (fig == NULL || cJSON_GetArraySize(fig) != 1))
        rc = FS_ENOMEM;
    if (rc == 0) {
        cJSON *one = cJSON_DetachItemFromArray(fig, 0);
        rc = rec_json_add(results, "figures", one) ||
                     rec_json_add(results, "goals",
                                  goals ? cJSON_CreateString(goals) : cJSON_CreateNull()) ||
                     rec_json_add(results, "plan_status",
                                  status ? cJSON_CreateString(status) : cJSON_CreateNull()) ||
                     rec_json_add(results, "tasks", cJSON_CreateNumber(nall)) ||
                     rec_json_add(results, "tasks_done", cJSON_CreateNumber(ndone)) ||
                     rec_json_add(results, "tasks_not_done", tasks)
                 ? FS_ENOMEM
                 : 0;
        tasks = NULL;
    }
    cJSON_Delete(fig);
    free(goals);
    free(status);
    /* what was not done, and why */
    if (rc == 0 && print)
        printf("%s\n", _("Overdue and missed:"));
    size_t nmissed = 0;
    for (size_t i = 0; rc == 0 && i < m->n; i++) {
        const missed_item *x = &m->items[i];
        if (strcmp(x->rep, rep) != 0)
            continue;
        nmissed++;
        char due[17], hex[2 * FS_ID_BYTES + 1] = "";
        fs_civil_format(x->deadline, due);
        if (x->has_row)
            fs_id_to_hex(x->row, hex);
        if (print) { /* the status padded by its display width: CJK takes two columns */
            const char *st = _(fs_rule_status_name(x->status));
            size_t w = text_width(st);
            printf("    %s%*s  %s  %s  %.8s\n", st, w < 10 ? (int)(10 - w) : 0, "", due,
                   _(x->rule->text), hex);
        }
        cJSON *e = cJSON_CreateObject();
        if (e == NULL || rec_json_add(e, "rule", cJSON_CreateString(x->rule->id)) ||
            rec_json_add(e, "status", cJSON_CreateString(fs_rule_status_name(x->status))) ||
            rec_json_add(e, "due", cJSON_CreateString(due)) ||
            rec_json_add(e, "record", x->has_row ? cJSON_CreateString(hex) : cJSON_CreateNull()) ||
            rec_json_add(missed, NULL, e))
            rc = FS_ENOMEM;
    }
    /* an empty section says so, rather than end at its heading */
    if (rc == 0 && print && nmissed == 0)
        printf("    %s\n", _("none"));
    if (rc == 0 && print)
        printf("%s\n", _("  deals lost:"));
    if (rc == 0)
        rc = deals_lost(r, rep, me, from, to, lost, print, shown);
    if (rc == 0 && print && cJSON_GetArraySize(lost) == 0)
        printf("    %s\n", _("none"));
    if (rc == 0 && print)
        printf("%s\n", _("  reasons and measures stated in the self-checks:"));
    if (rc == 0)
        rc = stated_reasons(r, rep, from, to, reasons, print, shown);
    if (rc == 0 && print && cJSON_GetArraySize(reasons) == 0)
        printf("    %s\n", _("none"));
    /* next week's plan */
    if (rc == 0 && print)
        printf("%s\n", _("Next week's plan:"));
    found = rc == 0 ? plan_of(r, rep, to, next_to, plan, &goals, &status) : 0;
    if (found < 0)
        rc = found;
    if (found == 1 && shown != NULL)
        rc = cli_recset_add_named(shown, "weekly_plan", plan);
    if (rc == 0 && print && found == 1)
        printf(_("  goals: %s (%s)\n"), goals, status ? form_status_words(status) : "-");
    else if (rc == 0 && print)
        printf("  %s\n", _("no weekly plan yet"));
    if (rc == 0 && found == 1)
        rc = plan_tasks(r, plan, 0, ntasks, print, NULL, NULL, shown);
    if (rc == 0)
        rc = rec_json_add(next, "goals", found ? cJSON_CreateString(goals) : cJSON_CreateNull()) ||
                     rec_json_add(next, "status",
                                  status ? cJSON_CreateString(status) : cJSON_CreateNull()) ||
                     rec_json_add(next, "tasks", ntasks)
                 ? FS_ENOMEM
                 : 0;
    ntasks = NULL;
    free(goals);
    free(status);
    if (rc == 0 && !print) {
        rc = rec_json_add(o, "rep", cJSON_CreateString(rep)) ||
                     rec_json_add(o, "results", results) ||
                     rec_json_add(o, "overdue_and_missed", missed) ||
                     rec_json_add(o, "deals_lost", lost) ||
                     rec_json_add(o, "stated_reasons", reasons) ||
                     rec_json_add(o, "next_week", next) || rec_json_add(json, NULL, o)
                 ? FS_ENOMEM
                 : 0;
        return rc;
    }
    cJSON_Delete(o);
    cJSON_Delete(results);
    cJSON_Delete(missed);
    cJSON_Delete(tasks);
    cJSON_Delete(lost);
    cJSON_Delete(reasons);
    cJSON_Delete(next);
    cJSON_Delete(ntasks);
    return rc;
}

int cmd_report_meeting(cli_ctx *ctx, int argc, char **argv)
{
    const char *week = NULL, *only = NULL;
    int json = 0;
    const cli_opt opts[] = {
        {"--week", CLI_VALUE, NULL, &week, NULL},
        {"--rep", CLI_VALUE, NULL, &only, NULL},
        {"--json", CLI_FLAG, &json, NULL, NULL},
    };
    int rc = cli_parse(ctx, USAGE_REPORT_MEETING, opts, sizeof opts / sizeof opts[0], argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    if (only != NULL && (rc = cli_check_text("--rep", only)) != CLI_OK)
        return rc;
    char from[11], to[11], name[16], next_to[17], last[17];
    rc = sales_period(week, NULL, from, to, name);
    fs_replica *r = NULL;
    if (rc == CLI_OK)
        rc = cli_open(ctx, &r);
    if (rc == CLI_OK && week == NULL)
        rc = sales_period(NULL, NULL, from, to, name);
    fs_calendar cal;
    char team[FS_USER_MAX + 1], now_text[17], me[FS_USER_MAX + 1] = "";
    int found = 0;
    int64_t now = 0, cf = 0, ct = 0;
    meeting m;
    memset(&m, 0, sizeof m);
    sales_report *sales = rc == CLI_OK ? malloc(sizeof *sales) : NULL;
    int frc = rc != CLI_OK ? 0 : sales == NULL ? FS_ENOMEM : teamcal_load(r, &cal, &found, team);
    if (rc == CLI_OK && frc == 0) {
        cli_now(now_text);
        if (fs_civil_parse(now_text, strlen(now_text), &now) != 0 ||
            fs_civil_parse(from, 10, &cf) != 0 || fs_civil_parse(to, 10, &ct) != 0)
            frc = FS_EINVAL;
    }
    if (rc == CLI_OK && frc == 0) {
        fs_civil_format(ct + 7 * FS_MIN_PER_DAY, next_to); /* next week's end */
        next_to[10] = '\0';
        fs_civil_format(ct - FS_MIN_PER_DAY, last);
        last[10] = '\0';
        if (fs_replica_user(r, me) != 0)
            me[0] = '\0';
        frc = sales_report_get(r, from, to, only, sales);
    }
    if (rc == CLI_OK && frc == 0)
        frc = fs_rules_eval(r, &cal, now, cf, ct, only ? &only : NULL, only ? 1 : 0, on_finding,
                            &m);
    for (size_t i = 0; rc == CLI_OK && frc == 0 && i < sales->nreps; i++)
        add_rep_name(&m, sales->reps[i].rep);
    if (rc == CLI_OK && frc == 0 && only != NULL)
        add_rep_name(&m, only);
    if (frc != 0 && rc == CLI_OK)
        rc = cli_fail(frc == FS_ENOMEM ? NULL : r, "report meeting", frc);
    cli_recset shown;
    memset(&shown, 0, sizeof shown);
    if (rc == CLI_OK) {
        qsort(m.reps, m.nreps, sizeof m.reps[0], (int (*)(const void *, const void *))strcmp);
        /* The packs as JSON first (what --json prints), counting the
         * records whose words they show and each rep's figures: more than
         * one to a file or pipe is an export (issue 20.4). */
        cJSON *top = cJSON_CreateObject(), *reps = cJSON_CreateArray();
        if (top == NULL || reps == NULL)
            frc = FS_ENOMEM;
        for (size_t i = 0; frc == 0 && i < m.nreps; i++)
            frc = meeting_rep(r, &m, sales, m.reps[i], me, from, to, next_to, reps, &shown);
        if (frc == 0) {
            rc = cli_export_gate(r, "report_meeting", cli_recset_count(&shown) + m.nreps);
        }
        if (frc == 0 && rc == CLI_OK && !json) {
            printf(_("weekly meeting pack, week %s (%s .. %s)\n"), name, from, last);
            if (m.nreps == 0)
                printf("%s\n", _("no reps' records in this replica"));
            for (size_t i = 0; frc == 0 && i < m.nreps; i++)
                frc = meeting_rep(r, &m, sales, m.reps[i], me, from, to, next_to, NULL, NULL);
            if (frc == 0 && m.nreps > 1) {
                printf("\n%s\n", _("The team's sales figures:"));
                frc = sales_table(sales);
            }
        }
        if (frc == 0 && rc == CLI_OK && json) {
            frc = rec_json_add(top, "week", cJSON_CreateString(name)) ||
                          rec_json_add(top, "from", cJSON_CreateString(from)) ||
                          rec_json_add(top, "to", cJSON_CreateString(last)) ||
                          rec_json_add(top, "reps", reps)
                      ? FS_ENOMEM
                      : 0;
            reps = NULL;
            if (frc == 0 && rec_json_print(top, stdout) != 0)
                frc = FS_ENOMEM;
        }
        cJSON_Delete(reps);
        cJSON_Delete(top);
        if (frc != 0)
            rc = cli_fail(frc == FS_ENOMEM ? NULL : r, "report meeting", frc);
    }
    cli_recset_free(&shown);
    free(m.items);
    free(sales);
    fs_replica_close(r);
    return rc;
}
