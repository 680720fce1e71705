/*
 * The handbook's forms from the command line, driven by one table: each
 * form names its table, its fields (flag, column, kind, required or not,
 * default) and its actions (state changes such as a weekly plan's submit,
 * approve and return). One implementation of add, list and show serves
 * them all:
 *
 *   GROUP add --flag VALUE ...   checks every field, asks for the missing
 *                                required ones on a terminal, writes the
 *                                record (and its child items) in one
 *                                transaction, prints its id
 *   GROUP list [--json]          a table (CJK-aligned) or JSON
 *   GROUP show ID [--json]       one record, every field
 *   GROUP ACTION ID [...]        a state change, checked against the
 *                                record's current state
 *
 * Columns filled in by the form: the device's user (fieldsync whoami) as
 * the rep, owner or supervisor; "now" as the time it was submitted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "cmd.h"
#include "fieldsync/records.h"
#include "fieldsync/schema.h"
#include "record.h"
#include "table.h"
#include "text.h"

typedef enum fkind {
    FK_TEXT,
    FK_DATE,
    FK_DATETIME,
    FK_BOOL,
    FK_CUSTOMER,
    FK_REF,
    FK_INT,
    FK_CHOICE
} fkind;

typedef struct ffield {
    const char *flag;   /* "--name" */
    const char *column; /* "name" */
    fkind kind;
    int required;
    const char *label; /* the prompt */
    const char *extra; /* FK_CHOICE: "a|b|c"; FK_REF: the table, or the flag naming it;
                          FK_INT: "min-max"; FK_BOOL: the flag required when "no" */
    int now_default;   /* FK_DATE: today, FK_DATETIME: now, when not given */
} ffield;

/* A child item given as "A|B|C" with a repeatable flag (a plan's tasks). */
typedef struct fchild {
    const char *flag, *table, *parent_col, *format;
    const char *cols[3];
    fkind kinds[3];
    int required[3];
} fchild;

/* A state change: an action of the record rules (fieldsync/records.h),
 * which say from which status, to which, and what it sets. */
typedef struct faction {
    const char *name;    /* "approve": the rules' action */
    const ffield *flags; /* the action's own options: the values it is given */
    size_t nflags;
    const char *usage;
} faction;

typedef struct fform {
    const char *group, *table, *title;
    const char *add_name; /* "add" (NULL: no add here) */
    const ffield *fields;
    size_t nfields;
    const char *stamp_col;           /* set to now */
    const char *init_col, *init_val; /* a starting kind (the status is the rules') */
    const char *list_cols[7];        /* NULL-terminated; "customer" shows the name */
    const fchild *child;
    const faction *actions;
    size_t nactions;
    int list; /* has list (here) */
    const char *usage;
} fform;

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the forms ---- */

static const ffield contact_f[] = {
    {"--customer", "customer", FK_CUSTOMER, 1, "Customer id", NULL, 0},
    {"--name", "name", FK_TEXT, 1, "Name", NULL, 0},
    {"--position", "position", FK_TEXT, 0, "Position", NULL, 0},
    {"--phone", "phone", FK_TEXT, 0, "Phone", NULL, 0},
    {"--email", "email", FK_TEXT, 0, "E-mail", NULL, 0},
};

static const ffield commitment_f[] = {
    {"--customer", "customer", FK_CUSTOMER, 1, "Customer id", NULL, 0},
    {"--text", "text", FK_TEXT, 1, "What was promised", NULL, 0},
    {"--due", "due", FK_DATE, 1, "Due (YYYY-MM-DD)", NULL, 0},
    {"--visit", "visit", FK_REF, 0, "Visit id", "visit", 0},
};
static const ffield done_f[] = {
    {"--replied", "customer_replied", FK_BOOL, 0, "Customer replied (yes/no)", NULL, 0}};
static const faction commitment_a[] = {
    {"done", done_f, N(done_f), "commitment done ID [--replied yes|no]"},
    {"cancel", NULL, 0, "commitment cancel ID"},
    {"replied", NULL, 0, "commitment replied ID"},
};

static const ffield plan_f[] = {
    {"--from", "period_start", FK_DATE, 1, "Week from (YYYY-MM-DD)", NULL, 0},
    {"--to", "period_end", FK_DATE, 1, "Week to (YYYY-MM-DD)", NULL, 0},
    {"--goals", "goals", FK_TEXT, 1, "Core goals of the week", NULL, 0},
    {"--help-needed", "help_needed", FK_TEXT, 0, "Help needed from other departments", NULL, 0},
};
static const fchild plan_tasks = {"--task",
                                  "plan_task",
                                  "plan",
                                  "YYYY-MM-DD|TASK|EXPECTED TIME",
                                  {"date", "task", "expected_time"},
                                  {FK_DATE, FK_TEXT, FK_TEXT},
                                  {1, 1, 0}};
static const ffield return_f[] = {
    {"--comment", "review_comment", FK_TEXT, 1, "Why it is returned", NULL, 0}};
static const faction plan_a[] = {
    {"submit", NULL, 0, "plan submit ID"},
    {"approve", NULL, 0, "plan approve ID"},
    {"return", return_f, N(return_f), "plan return ID --comment TEXT"},
};

static const ffield daily_plan_f[] = {
    {"--date", "date", FK_DATE, 1, "Date", NULL, 1},
    {"--visits", "visits", FK_TEXT, 1, "Customer visits planned", NULL, 0},
    {"--key-tasks", "key_tasks", FK_TEXT, 0, "Key tasks", NULL, 0},
    {"--help-needed", "help_needed", FK_TEXT, 0, "Help needed", NULL, 0},
};
static const ffield daily_summary_f[] = {
    {"--date", "date", FK_DATE, 1, "Date", NULL, 1},
    {"--content", "content", FK_TEXT, 1, "Summary of the day", NULL, 0},
};

static const ffield selfcheck_f[] = {
    {"--date", "date", FK_DATE, 1, "Date", NULL, 1},
    {"--appearance", "appearance", FK_BOOL, 1, "Professional appearance and conduct (yes/no)",
     "--appearance-fix", 0},
    {"--appearance-fix", "appearance_fix", FK_TEXT, 0, "Appearance: improvement measure", NULL, 0},
    {"--communication", "communication", FK_BOOL, 1,
     "Listened, answered promptly, did not over-promise (yes/no)", "--communication-fix", 0},
    {"--communication-fix", "communication_fix", FK_TEXT, 0, "Communication: improvement measure",
     NULL, 0},
    {"--data-management", "data_management", FK_BOOL, 1, "CRM updated in time, data true (yes/no)",
     "--data-management-fix", 0},
    {"--data-management-fix", "data_management_fix", FK_TEXT, 0,
     "Data management: improvement measure", NULL, 0},
    {"--teamwork", "teamwork", FK_BOOL, 1, "Plan/summary on time, helped colleagues (yes/no)",
     "--teamwork-fix", 0},
    {"--teamwork-fix", "teamwork_fix", FK_TEXT, 0, "Teamwork: improvement measure", NULL, 0},
    {"--todos", "todos", FK_BOOL, 1, "Today's promised follow-ups done (yes/no)", "--todos-fix", 0},
    {"--todos-fix", "todos_fix", FK_TEXT, 0, "To-dos: improvement measure", NULL, 0},
};

static const ffield complaint_f[] = {
    {"--customer", "customer", FK_CUSTOMER, 1, "Customer id", NULL, 0},
    {"--description", "description", FK_TEXT, 1, "The complaint", NULL, 0},
    {"--received-at", "received_at", FK_DATETIME, 1, "Received (YYYY-MM-DD HH:MM)", NULL, 1},
};
static const ffield outcome_f[] = {
    {"--outcome", "outcome", FK_TEXT, 1, "Outcome told to the customer", NULL, 0},
    {"--satisfaction", "satisfaction", FK_INT, 0, "Satisfaction (1-5)", "1-5", 0},
};
static const faction complaint_a[] = {
    {"outcome", outcome_f, N(outcome_f), "complaint outcome ID --outcome TEXT [--satisfaction 1-5]"},
};

static const ffield request_f[] = {
    {"--customer", "customer", FK_CUSTOMER, 1, "Customer id", NULL, 0},
    {"--description", "description", FK_TEXT, 1, "The requirement", NULL, 0},
    {"--confirmed-at", "confirmed_at", FK_DATETIME, 1,
     "Confirmed by the customer (YYYY-MM-DD HH:MM)", NULL, 0},
    {"--signed-document", "signed_document", FK_TEXT, 1, "Customer-signed requirement document",
     NULL, 0},
};

static const ffield acceptance_f[] = {
    {"--customer", "customer", FK_CUSTOMER, 1, "Customer id", NULL, 0},
    {"--delivered", "delivered_at", FK_DATE, 1, "Delivered (YYYY-MM-DD)", NULL, 0},
    {"--collected", "collected_at", FK_DATE, 0, "Documents collected (YYYY-MM-DD)", NULL, 0},
    {"--documents", "documents", FK_TEXT, 0, "Documents", NULL, 0},
};
static const ffield collect_f[] = {
    {"--date", "collected_at", FK_DATE, 1, "Collected (YYYY-MM-DD)", NULL, 1},
    {"--documents", "documents", FK_TEXT, 0, "Documents", NULL, 0},
};
static const faction acceptance_a[] = {
    {"collect", collect_f, N(collect_f),
     "acceptance collect ID [--date YYYY-MM-DD] [--documents TEXT]"},
};

static const ffield marketing_f[] = {
    {"--event", "event_date", FK_DATE, 1, "Event date (YYYY-MM-DD)", NULL, 0},
    {"--goal", "goal", FK_TEXT, 1, "Goal", NULL, 0},
    {"--budget", "budget", FK_TEXT, 0, "Budget", NULL, 0},
};

static const ffield question_f[] = {
    {"--customer", "customer", FK_CUSTOMER, 1, "Customer id", NULL, 0},
    {"--question", "question", FK_TEXT, 1, "The question", NULL, 0},
    {"--asked-at", "asked_at", FK_DATETIME, 1, "Asked (YYYY-MM-DD HH:MM)", NULL, 1},
};
static const ffield answer_f[] = {{"--answer", "answer", FK_TEXT, 1, "Answer", NULL, 0}};
static const faction question_a[] = {
    {"answer", answer_f, N(answer_f), "question answer ID --answer TEXT"},
};

static const ffield spotcheck_f[] = {
    {"--rep", "rep", FK_TEXT, 1, "Rep whose record is checked", NULL, 0},
    {"--table", "record_table", FK_CHOICE, 1, "Record kind", "visit|customer|contact|commitment",
     0},
    {"--record", "record_id", FK_REF, 1, "Record id", "--table", 0},
    {"--accurate", "accurate", FK_BOOL, 1, "Accurate (yes/no)", NULL, 0},
    {"--comment", "comment", FK_TEXT, 0, "Comment", NULL, 0},
};

static const fform forms[] = {
    {"contact",
     "contact",
     "contacts",
     "add",
     contact_f,
     N(contact_f),
     NULL,
     NULL,
     NULL,
     {"customer", "name", "position", "phone", "email", NULL},
     NULL,
     NULL,
     0,
     1,
     "contact add --customer ID --name NAME [--position P] [--phone P] [--email E]"},
    {"commitment",
     "commitment",
     "commitments",
     "add",
     commitment_f,
     N(commitment_f),
     NULL,
     NULL,
     NULL,
     {"customer", "text", "due", "status", "done_at", NULL},
     NULL,
     commitment_a,
     N(commitment_a),
     1,
     "commitment add --customer ID --text TEXT --due YYYY-MM-DD [--visit ID]"},
    {"plan",
     "weekly_plan",
     "weekly plans",
     "add",
     plan_f,
     N(plan_f),
     NULL,
     NULL,
     NULL,
     {"rep", "period_start", "period_end", "status", "approved_by", "approved_at", NULL},
     &plan_tasks,
     plan_a,
     N(plan_a),
     1,
     "plan add --from DATE --to DATE --goals TEXT [--help-needed TEXT]\n"
     "         [--task \"YYYY-MM-DD|TASK|EXPECTED TIME\"]..."},
    {"daily",
     "daily_report",
     "daily plans and summaries",
     "plan",
     daily_plan_f,
     N(daily_plan_f),
     "submitted_at",
     "kind",
     "plan",
     {"rep", "date", "kind", "submitted_at", NULL},
     NULL,
     NULL,
     0,
     1,
     "daily plan [--date DATE] --visits TEXT [--key-tasks T] [--help-needed T]"},
    {"daily",
     "daily_report",
     "daily plans and summaries",
     "summary",
     daily_summary_f,
     N(daily_summary_f),
     "submitted_at",
     "kind",
     "summary",
     {NULL},
     NULL,
     NULL,
     0,
     0,
     "daily summary [--date DATE] --content TEXT"},
    {"selfcheck",
     "self_check",
     "self-checks",
     "add",
     selfcheck_f,
     N(selfcheck_f),
     "submitted_at",
     NULL,
     NULL,
     {"rep", "date", "submitted_at", NULL},
     NULL,
     NULL,
     0,
     1,
     "selfcheck add [--date DATE] --appearance yes|no --communication yes|no\n"
     "         --data-management yes|no --teamwork yes|no --todos yes|no [--ITEM-fix TEXT]..."},
    {"complaint",
     "complaint",
     "complaints",
     "add",
     complaint_f,
     N(complaint_f),
     NULL,
     NULL,
     NULL,
     {"customer", "owner", "received_at", "outcome_at", "satisfaction", NULL},
     NULL,
     complaint_a,
     N(complaint_a),
     1,
     "complaint add --customer ID --description TEXT [--received-at \"YYYY-MM-DD HH:MM\"]"},
    {"request",
     "requirement_request",
     "requirement requests",
     "add",
     request_f,
     N(request_f),
     "submitted_at",
     NULL,
     NULL,
     {"customer", "confirmed_at", "submitted_at", NULL},
     NULL,
     NULL,
     0,
     1,
     "request add --customer ID --description TEXT --confirmed-at \"YYYY-MM-DD HH:MM\"\n"
     "         --signed-document TEXT"},
    {"acceptance",
     "acceptance",
     "acceptance documents",
     "add",
     acceptance_f,
     N(acceptance_f),
     NULL,
     NULL,
     NULL,
     {"customer", "delivered_at", "collected_at", NULL},
     NULL,
     acceptance_a,
     N(acceptance_a),
     1,
     "acceptance add --customer ID --delivered DATE [--collected DATE] [--documents TEXT]"},
    {"marketing",
     "marketing_request",
     "marketing requests",
     "add",
     marketing_f,
     N(marketing_f),
     "submitted_at",
     NULL,
     NULL,
     {"rep", "event_date", "submitted_at", NULL},
     NULL,
     NULL,
     0,
     1,
     "marketing add --event DATE --goal TEXT [--budget TEXT]"},
    {"question",
     "customer_question",
     "customer questions",
     "add",
     question_f,
     N(question_f),
     NULL,
     NULL,
     NULL,
     {"customer", "asked_at", "answered_at", NULL},
     NULL,
     question_a,
     N(question_a),
     1,
     "question add --customer ID --question TEXT [--asked-at \"YYYY-MM-DD HH:MM\"]"},
    {"spotcheck",
     "spot_check",
     "spot-checks",
     "add",
     spotcheck_f,
     N(spotcheck_f),
     "checked_at",
     NULL,
     NULL,
     {"supervisor", "rep", "record_table", "accurate", "checked_at", NULL},
     NULL,
     NULL,
     0,
     1,
     "spotcheck add --rep NAME --table visit|customer|contact|commitment --record ID\n"
     "         --accurate yes|no [--comment TEXT]"},
    /* show only: customers and visits have their own add and list */
    {.group = "customer", .table = "customer", .title = "customers"},
    {.group = "visit", .table = "visit", .title = "visits"},
};

/* ---- input ---- */

static int is_yes(const char *v)
{
    return strcmp(v, "yes") == 0;
}

static int in_choices(const char *v, const char *choices)
{
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && memcmp(p, v, n) == 0)
            return 1;
        p += len + (bar ? 1 : 0);
    }
    return 0;
}

/* Checks one value against its field; CLI_OK or CLI_EUSAGE with the flag
 * named. Ids are resolved later, with the replica open. */
static int check_value(const ffield *f, const char *v)
{
    switch (f->kind) {
    case FK_TEXT:
        if (f->required && cli_blank(v)) {
            cli_error("%s: must not be empty", f->flag);
            return CLI_EUSAGE;
        }
        return cli_check_text(f->flag, v);
    case FK_DATE:
        return cli_check_date(f->flag, v);
    case FK_DATETIME:
        return cli_check_datetime(f->flag, v);
    case FK_BOOL:
        if (strcmp(v, "yes") == 0 || strcmp(v, "no") == 0)
            return CLI_OK;
        cli_error("%s: expected yes or no", f->flag);
        return CLI_EUSAGE;
    case FK_CUSTOMER:
    case FK_REF:
        return cli_check_idprefix(f->flag, v);
    case FK_INT: {
        int lo = 0, hi = 0;
        char *end = NULL;
        long x = strtol(v, &end, 10);
        sscanf(f->extra, "%d-%d", &lo, &hi);
        if (end == v || *end != '\0' || x < lo || x > hi) {
            cli_error("%s: expected a whole number from %d to %d", f->flag, lo, hi);
            return CLI_EUSAGE;
        }
        return CLI_OK;
    }
    case FK_CHOICE:
        if (in_choices(v, f->extra))
            return CLI_OK;
        cli_error("%s: expected one of %s", f->flag, f->extra);
        return CLI_EUSAGE;
    }
    return CLI_EUSAGE;
}

/* Values of a form's fields, by index; owned strings are the answers typed. */
typedef struct values {
    const char *v[16];
    char *typed[16];
    char nowbuf[17], today[11];
} values;

static void values_free(values *vs)
{
    for (size_t i = 0; i < 16; i++)
        free(vs->typed[i]);
}

/* Fills defaults, asks for missing required fields, checks everything. */
static int complete(const ffield *fields, size_t n, values *vs)
{
    cli_now(vs->nowbuf);
    memcpy(vs->today, vs->nowbuf, 10);
    vs->today[10] = '\0';
    for (size_t i = 0; i < n; i++) {
        const ffield *f = &fields[i];
        if (vs->v[i] == NULL && f->now_default)
            vs->v[i] = f->kind == FK_DATE ? vs->today : vs->nowbuf;
        if (vs->v[i] == NULL && f->required) {
            if (!cli_ask(f->label, &vs->typed[i])) {
                cli_error("%s is required (%s)", f->flag, f->label);
                return CLI_EUSAGE;
            }
            vs->v[i] = vs->typed[i];
        }
        if (vs->v[i] != NULL) {
            int rc = check_value(f, vs->v[i]);
            if (rc != CLI_OK)
                return rc;
        }
    }
    /* A "no" needs its improvement measure (Form 3). */
    for (size_t i = 0; i < n; i++) {
        const ffield *f = &fields[i];
        if (f->kind != FK_BOOL || f->extra == NULL || vs->v[i] == NULL || is_yes(vs->v[i]))
            continue;
        for (size_t j = 0; j < n; j++) {
            if (strcmp(fields[j].flag, f->extra) != 0 || vs->v[j] != NULL)
                continue;
            if (!cli_ask(fields[j].label, &vs->typed[j]) || cli_blank(vs->typed[j])) {
                cli_error("%s is required when %s is no", fields[j].flag, f->flag);
                return CLI_EUSAGE;
            }
            vs->v[j] = vs->typed[j];
            int rc = check_value(&fields[j], vs->v[j]);
            if (rc != CLI_OK)
                return rc;
        }
    }
    return CLI_OK;
}

/* The field's value as a cell; ids resolved in the replica. */
static int to_cell(fs_replica *r, const ffield *f, const char *v, const values *vs,
                   const ffield *fields, size_t n, uint8_t idbuf[FS_ID_BYTES], fs_cell *out)
{
    out->column = f->column;
    switch (f->kind) {
    case FK_BOOL:
        out->value = fs_int(is_yes(v));
        return CLI_OK;
    case FK_INT:
        out->value = fs_int(strtol(v, NULL, 10));
        return CLI_OK;
    case FK_CUSTOMER:
    case FK_REF: {
        const char *table = f->kind == FK_CUSTOMER ? "customer" : f->extra;
        for (size_t i = 0; table != NULL && strncmp(table, "--", 2) == 0 && i < n; i++)
            if (strcmp(fields[i].flag, table) == 0)
                table = vs->v[i];
        int rc = cli_resolve(r, table, f->flag, v, idbuf);
        if (rc != CLI_OK)
            return rc;
        out->value = fs_blob(idbuf, FS_ID_BYTES);
        return CLI_OK;
    }
    default:
        out->value = cli_blank(v) ? fs_null() : fs_text(v);
        return CLI_OK;
    }
}

static int need_user(fs_replica *r, char me[FS_USER_MAX + 1])
{
    int rc = fs_replica_user(r, me);
    if (rc == 0)
        return CLI_OK;
    if (rc == FS_ENOTFOUND) {
        cli_error("this form is signed with your user name: set it once with "
                  "'fieldsync whoami --set NAME'");
        return CLI_EUSAGE;
    }
    return cli_fail(r, "reading the user name", rc);
}

/* ---- add ---- */

static int form_add(cli_ctx *ctx, const fform *fm, int argc, char **argv)
{
    values vs;
    memset(&vs, 0, sizeof vs);
    cli_list children = {NULL, 0};
    cli_opt opts[17];
    size_t nopts = 0;
    char usage[512];
    snprintf(usage, sizeof usage, "usage: fieldsync [--home DIR] %s\n", fm->usage);
    for (size_t i = 0; i < fm->nfields; i++)
        opts[nopts++] = (cli_opt){fm->fields[i].flag, CLI_VALUE, NULL, &vs.v[i], NULL};
    if (fm->child != NULL)
        opts[nopts++] = (cli_opt){fm->child->flag, CLI_LIST, NULL, NULL, &children};
    fs_replica *r = NULL;
    int in_tx = 0;
    int rc = cli_parse(ctx, usage, opts, nopts, argc, argv);
    if (rc == CLI_OK)
        rc = complete(fm->fields, fm->nfields, &vs);
    /* child items "A|B|C", checked before anything is opened */
    char *(*parts)[3] = NULL;
    if (rc == CLI_OK && children.count > 0) {
        parts = calloc(children.count, sizeof *parts);
        if (parts == NULL)
            rc = cli_fail(NULL, fm->group, FS_ENOMEM);
    }
    for (size_t k = 0; rc == CLI_OK && k < children.count; k++) {
        const fchild *ch = fm->child;
        const char *s = children.items[k];
        for (int c = 0; c < 3 && rc == CLI_OK; c++) {
            const char *bar = c < 2 ? strchr(s, '|') : NULL;
            size_t len = bar ? (size_t)(bar - s) : strlen(s);
            if (c < 2 && bar == NULL && ch->required[c + 1]) {
                cli_error("%s #%zu: expected \"%s\"", ch->flag, k + 1, ch->format);
                rc = CLI_EUSAGE;
                break;
            }
            parts[k][c] = strndup(s, len);
            if (parts[k][c] == NULL) {
                rc = cli_fail(NULL, fm->group, FS_ENOMEM);
                break;
            }
            ffield f = {ch->flag, ch->cols[c], ch->kinds[c], ch->required[c], ch->cols[c], NULL, 0};
            if (ch->required[c] && cli_blank(parts[k][c])) {
                cli_error("%s #%zu: the %s is missing (\"%s\")", ch->flag, k + 1, ch->cols[c],
                          ch->format);
                rc = CLI_EUSAGE;
            } else if (!cli_blank(parts[k][c])) {
                rc = check_value(&f, parts[k][c]);
            }
            s = bar ? bar + 1 : s + len;
            if (bar == NULL)
                break;
        }
    }
    if (rc == CLI_OK)
        rc = cli_open(ctx, &r);
    /* The rules say who signs a new record and the status it starts in. */
    const fs_record_rules *rr = fs_record_rules_of(fm->table);
    char me[FS_USER_MAX + 1] = "";
    if (rc == CLI_OK && rr->signer != NULL)
        rc = need_user(r, me);
    fs_cell cells[20];
    uint8_t ids[16][FS_ID_BYTES], id[FS_ID_BYTES];
    size_t nc = 0;
    for (size_t i = 0; rc == CLI_OK && i < fm->nfields; i++)
        if (vs.v[i] != NULL && fm->fields[i].column != NULL)
            rc = to_cell(r, &fm->fields[i], vs.v[i], &vs, fm->fields, fm->nfields, ids[i],
                         &cells[nc++]);
    if (rc == CLI_OK && rr->signer != NULL)
        cells[nc++] = (fs_cell){rr->signer, fs_text(me)};
    if (rc == CLI_OK && fm->stamp_col != NULL)
        cells[nc++] = (fs_cell){fm->stamp_col, fs_text(vs.nowbuf)};
    if (rc == CLI_OK && fm->init_col != NULL)
        cells[nc++] = (fs_cell){fm->init_col, fs_text(fm->init_val)};
    if (rc == CLI_OK && rr->status != NULL)
        cells[nc++] = (fs_cell){rr->status, fs_text(rr->initial)};
    if (rc == CLI_OK) {
        int frc = fs_begin(r);
        in_tx = frc == 0;
        if (frc == 0)
            frc = fs_insert(r, fm->table, cells, nc, id);
        for (size_t k = 0; frc == 0 && k < children.count; k++) {
            const fchild *ch = fm->child;
            fs_cell cc[4] = {{ch->parent_col, fs_blob(id, FS_ID_BYTES)}};
            size_t ncc = 1;
            for (int c = 0; c < 3; c++)
                if (parts[k][c] != NULL && !cli_blank(parts[k][c]))
                    cc[ncc++] = (fs_cell){ch->cols[c], fs_text(parts[k][c])};
            uint8_t cid[FS_ID_BYTES];
            frc = fs_insert(r, ch->table, cc, ncc, cid);
        }
        if (frc == 0)
            frc = fs_commit(r);
        if (frc == 0) {
            in_tx = 0;
            char hex[2 * FS_ID_BYTES + 1];
            fs_id_to_hex(id, hex);
            printf("%s\n", hex);
        } else {
            char what[64];
            snprintf(what, sizeof what, "%s %s: saving", fm->group, fm->add_name);
            rc = cli_fail(r, what, frc);
        }
    }
    if (in_tx)
        fs_rollback(r); /* nothing half-saved */
    fs_replica_close(r);
    for (size_t k = 0; parts != NULL && k < children.count; k++)
        for (int c = 0; c < 3; c++)
            free(parts[k][c]);
    free(parts);
    cli_list_free(&children);
    values_free(&vs);
    return rc == CLI_HELP ? CLI_OK : rc;
}

/* ---- list and show ---- */

/* Customer names by id, for lists. */
typedef struct names {
    uint8_t (*id)[FS_ID_BYTES];
    char **name;
    size_t n;
} names;

static void names_free(names *nm)
{
    for (size_t i = 0; i < nm->n; i++)
        free(nm->name[i]);
    free(nm->id);
    free(nm->name);
    memset(nm, 0, sizeof *nm);
}

static int names_load(fs_replica *r, names *nm)
{
    fs_rows *it = NULL;
    memset(nm, 0, sizeof *nm);
    int rc = fs_rows_open(&it, r, "customer", NULL, NULL, "name");
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        uint8_t(*ids)[FS_ID_BYTES] = realloc(nm->id, (nm->n + 1) * sizeof *ids);
        char **ns = ids ? realloc(nm->name, (nm->n + 1) * sizeof *ns) : NULL;
        if (ids != NULL)
            nm->id = ids;
        if (ns == NULL) {
            rc = FS_ENOMEM;
            break;
        }
        nm->name = ns;
        memcpy(nm->id[nm->n], fs_rows_id(it), FS_ID_BYTES);
        rc = rec_text(it, "name", &nm->name[nm->n]);
        if (rc == 0)
            nm->n++;
    }
    fs_rows_close(it);
    return rc < 0 ? rc : 0;
}

static const char *name_of(const names *nm, const uint8_t *id)
{
    for (size_t i = 0; i < nm->n; i++)
        if (memcmp(nm->id[i], id, FS_ID_BYTES) == 0)
            return nm->name[i] ? nm->name[i] : "";
    return "?";
}

/* A column's value for a table cell: text as is, booleans yes/no, ids as
 * 8 hex digits, customers by name. */
static int cell_text(fs_rows *it, const char *table, const char *col, const names *nm, char **out)
{
    fs_value v;
    unsigned ntables;
    const fs_table *tables = fs_schema_tables(&ntables);
    const fs_table *t = &tables[fs_schema_table_index(table)];
    int ci = fs_schema_column_index(t, col);
    int is_bool = ci >= 0 && t->columns[ci].type == FS_COL_BOOL;
    *out = NULL;
    int rc = fs_rows_get(it, col, &v);
    if (rc != 0)
        return rc;
    char buf[40] = "";
    switch (v.type) {
    case FS_NULL:
        break;
    case FS_INT:
        if (is_bool)
            snprintf(buf, sizeof buf, "%s", v.i ? "yes" : "no");
        else
            snprintf(buf, sizeof buf, "%lld", (long long)v.i);
        break;
    case FS_REAL:
        snprintf(buf, sizeof buf, "%g", v.r);
        break;
    case FS_TEXT:
        *out = strndup(v.p, v.n);
        return *out ? 0 : FS_ENOMEM;
    case FS_BLOB:
        if (strcmp(col, "customer") == 0 && v.n == FS_ID_BYTES && nm != NULL) {
            *out = strdup(name_of(nm, v.p));
            return *out ? 0 : FS_ENOMEM;
        }
        for (size_t i = 0; i < v.n && i < 4; i++)
            snprintf(buf + 2 * i, 3, "%02x", ((const uint8_t *)v.p)[i]);
        break;
    }
    *out = strdup(buf);
    return *out ? 0 : FS_ENOMEM;
}

/* Lists are in the order of the first date in them, else of the first
 * column. */
static const char *order_column(const fform *fm)
{
    unsigned n;
    const fs_table *tables = fs_schema_tables(&n);
    const fs_table *t = &tables[fs_schema_table_index(fm->table)];
    for (size_t i = 0; fm->list_cols[i] != NULL; i++) {
        int c = fs_schema_column_index(t, fm->list_cols[i]);
        if (c >= 0 && (t->columns[c].type == FS_COL_DATE || t->columns[c].type == FS_COL_DATETIME))
            return fm->list_cols[i];
    }
    return fm->list_cols[0];
}

static int form_list(cli_ctx *ctx, const fform *fm, int argc, char **argv)
{
    int json = 0;
    const cli_opt opts[] = {{"--json", CLI_FLAG, &json, NULL, NULL}};
    char usage[160];
    snprintf(usage, sizeof usage, "usage: fieldsync [--home DIR] %s list [--json]\n", fm->group);
    int rc = cli_parse(ctx, usage, opts, 1, argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    fs_replica *r = NULL;
    rc = cli_open(ctx, &r);
    if (rc != CLI_OK)
        return rc;
    names nm;
    cli_column cols[8];
    size_t ncols = 0;
    cols[ncols++] = (cli_column){"ID", 0};
    for (; fm->list_cols[ncols - 1] != NULL; ncols++)
        cols[ncols] = (cli_column){fm->list_cols[ncols - 1], 32};
    cli_table *t = NULL;
    cJSON *all = json ? cJSON_CreateArray() : NULL;
    fs_rows *it = NULL;
    int frc = names_load(r, &nm);
    if (frc == 0 && !json)
        frc = cli_table_new(&t, cols, ncols);
    if (frc == 0 && json && all == NULL)
        frc = FS_ENOMEM;
    if (frc == 0)
        frc = fs_rows_open(&it, r, fm->table, NULL, NULL, order_column(fm));
    while (frc == 0 && (frc = fs_rows_next(it)) == 1) {
        frc = 0;
        if (json) {
            cJSON *o = NULL;
            frc = rec_json(it, fm->table, &o);
            if (frc == 0)
                frc = rec_json_add(all, NULL, o);
            continue;
        }
        char *cells[8] = {NULL};
        char hex[2 * FS_ID_BYTES + 1];
        fs_id_to_hex(fs_rows_id(it), hex);
        hex[8] = '\0';
        cells[0] = strdup(hex);
        for (size_t c = 1; frc == 0 && c < ncols; c++)
            frc = cell_text(it, fm->table, fm->list_cols[c - 1], &nm, &cells[c]);
        if (frc == 0)
            frc = cli_table_add(t, (const char *const *)cells) == 0 ? 0 : FS_ENOMEM;
        for (size_t c = 0; c < ncols; c++)
            free(cells[c]);
    }
    fs_rows_close(it);
    if (frc < 0)
        rc = cli_fail(frc == FS_ENOMEM ? NULL : r, fm->group, frc);
    else if (json)
        rc = rec_json_print(all, stdout) == 0 ? CLI_OK : cli_fail(NULL, fm->group, FS_ENOMEM);
    else if (cli_table_rows(t) == 0)
        printf("no %s\n", fm->title);
    else
        cli_table_print(t, stdout);
    cJSON_Delete(all);
    cli_table_free(t);
    names_free(&nm);
    fs_replica_close(r);
    return rc;
}

/* Finds the row id resolves to in table and opens an iterator on it. */
static int open_one(fs_replica *r, const char *table, const char *hex, fs_rows **it,
                    uint8_t id[FS_ID_BYTES])
{
    int rc = cli_resolve(r, table, "ID", hex, id);
    if (rc != CLI_OK)
        return rc;
    fs_rows *rows = NULL;
    int frc = fs_rows_open(&rows, r, table, NULL, NULL, NULL);
    while (frc == 0 && (frc = fs_rows_next(rows)) == 1) {
        if (memcmp(fs_rows_id(rows), id, FS_ID_BYTES) == 0) {
            *it = rows;
            return CLI_OK;
        }
        frc = 0;
    }
    fs_rows_close(rows);
    cli_error("ID: no %s with id %s", table, hex);
    return CLI_EUSAGE;
}

/* The child items of a record (a plan's tasks) as a table. */
static int show_children(fs_replica *r, const fchild *ch, const uint8_t id[FS_ID_BYTES])
{
    cli_column cols[3];
    for (int c = 0; c < 3; c++)
        cols[c] = (cli_column){ch->cols[c], 40};
    cli_table *t = NULL;
    fs_rows *it = NULL;
    fs_value eq = fs_blob(id, FS_ID_BYTES);
    int frc = cli_table_new(&t, cols, 3);
    if (frc == 0)
        frc = fs_rows_open(&it, r, ch->table, ch->parent_col, &eq, ch->cols[0]);
    while (frc == 0 && (frc = fs_rows_next(it)) == 1) {
        char *v[3] = {NULL, NULL, NULL};
        frc = 0;
        for (int c = 0; c < 3 && frc == 0; c++)
            frc = cell_text(it, ch->table, ch->cols[c], NULL, &v[c]);
        if (frc == 0)
            frc = cli_table_add(t, (const char *const *)v) == 0 ? 0 : FS_ENOMEM;
        for (int c = 0; c < 3; c++)
            free(v[c]);
    }
    fs_rows_close(it);
    if (frc == 0 && cli_table_rows(t) > 0) {
        printf("\n%s:\n", ch->table);
        cli_table_print(t, stdout);
    }
    cli_table_free(t);
    return frc < 0 ? cli_fail(frc == FS_ENOMEM ? NULL : r, ch->table, frc) : CLI_OK;
}

static int form_show(cli_ctx *ctx, const fform *fm, int argc, char **argv)
{
    int json = 0;
    const cli_opt opts[] = {{"--json", CLI_FLAG, &json, NULL, NULL}};
    char usage[160];
    snprintf(usage, sizeof usage, "usage: fieldsync [--home DIR] %s show ID [--json]\n", fm->group);
    if (argc < 1 || strncmp(argv[0], "--", 2) == 0) {
        if (argc >= 1 && strcmp(argv[0], "--help") == 0) {
            fputs(usage, stdout);
            return CLI_OK;
        }
        cli_error("%s show: give the record's id first", fm->group);
        return CLI_EUSAGE;
    }
    const char *hex = argv[0];
    int rc = cli_check_idprefix("ID", hex);
    if (rc == CLI_OK)
        rc = cli_parse(ctx, usage, opts, 1, argc - 1, argv + 1);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    fs_replica *r = NULL;
    fs_rows *it = NULL;
    uint8_t id[FS_ID_BYTES];
    names nm = {NULL, NULL, 0};
    rc = cli_open(ctx, &r);
    if (rc == CLI_OK)
        rc = open_one(r, fm->table, hex, &it, id);
    if (rc == CLI_OK && names_load(r, &nm) != 0)
        rc = cli_fail(NULL, fm->group, FS_ENOMEM);
    if (rc == CLI_OK && json) {
        cJSON *o = NULL;
        int frc = rec_json(it, fm->table, &o);
        rc = frc == 0 && rec_json_print(o, stdout) == 0
                 ? CLI_OK
                 : cli_fail(r, fm->group, frc ? frc : FS_ENOMEM);
        cJSON_Delete(o);
    } else if (rc == CLI_OK) {
        unsigned ntables;
        const fs_table *tables = fs_schema_tables(&ntables);
        const fs_table *tb = &tables[fs_schema_table_index(fm->table)];
        static const cli_column cols[] = {{"FIELD", 0}, {"VALUE", 0}};
        cli_table *t = NULL;
        char full[2 * FS_ID_BYTES + 1];
        fs_id_to_hex(id, full);
        int frc = cli_table_new(&t, cols, 2);
        const char *idrow[] = {"id", full};
        if (frc == 0)
            frc = cli_table_add(t, idrow) == 0 ? 0 : FS_ENOMEM;
        for (unsigned c = 1; frc == 0 && c < tb->ncolumns; c++) {
            char *v = NULL;
            frc = cell_text(it, fm->table, tb->columns[c].name, &nm, &v);
            const char *row[] = {tb->columns[c].name, v ? v : ""};
            if (frc == 0)
                frc = cli_table_add(t, row) == 0 ? 0 : FS_ENOMEM;
            free(v);
        }
        if (frc == 0)
            cli_table_print(t, stdout);
        else
            rc = cli_fail(NULL, fm->group, frc);
        cli_table_free(t);
        if (rc == CLI_OK && fm->child != NULL)
            rc = show_children(r, fm->child, id);
    }
    fs_rows_close(it);
    names_free(&nm);
    fs_replica_close(r);
    return rc;
}

/* ---- actions ---- */

static int form_action(cli_ctx *ctx, const fform *fm, const faction *a, int argc, char **argv)
{
    char usage[256];
    snprintf(usage, sizeof usage, "usage: fieldsync [--home DIR] %s\n", a->usage);
    if (argc < 1 || strncmp(argv[0], "--", 2) == 0) {
        if (argc >= 1 && strcmp(argv[0], "--help") == 0) {
            fputs(usage, stdout);
            return CLI_OK;
        }
        cli_error("%s %s: give the record's id first", fm->group, a->name);
        fputs(usage, stderr);
        return CLI_EUSAGE;
    }
    const char *hex = argv[0];
    values vs;
    memset(&vs, 0, sizeof vs);
    cli_opt opts[8];
    for (size_t i = 0; i < a->nflags; i++)
        opts[i] = (cli_opt){a->flags[i].flag, CLI_VALUE, NULL, &vs.v[i], NULL};
    int rc = cli_check_idprefix("ID", hex);
    if (rc == CLI_OK)
        rc = cli_parse(ctx, usage, opts, a->nflags, argc - 1, argv + 1);
    if (rc == CLI_OK)
        rc = complete(a->flags, a->nflags, &vs);
    fs_replica *r = NULL;
    fs_rows *it = NULL;
    uint8_t id[FS_ID_BYTES];
    char me[FS_USER_MAX + 1] = "", *state = NULL;
    if (rc == CLI_OK)
        rc = cli_open(ctx, &r);
    if (rc == CLI_OK)
        rc = open_one(r, fm->table, hex, &it, id);
    /* The record rules decide: the status it must be in, and that a
     * supervisor's signature is not the record's own rep's. The role is the
     * server's to check. */
    const fs_record_rules *rr = fs_record_rules_of(fm->table);
    const fs_record_action *ra = fs_record_find_action(fm->table, a->name);
    char why[160];
    if (rc == CLI_OK && rr->status != NULL && ra->from[0] != NULL) {
        if (rec_text(it, rr->status, &state) != 0) {
            rc = cli_fail(NULL, fm->group, FS_ENOMEM);
        } else if (fs_record_check_action(fm->table, ra, state, FS_RECORD_ANYONE, -1, why,
                                          sizeof why) != FS_RECORD_OK) {
            cli_error("%s %s: %s", fm->group, a->name, why);
            rc = CLI_EUSAGE;
        }
    }
    if (rc == CLI_OK && ra->not_owner && rr->owner != NULL) {
        char *who = NULL;
        rc = need_user(r, me);
        if (rc == CLI_OK && rec_text(it, rr->owner, &who) != 0)
            rc = cli_fail(NULL, fm->group, FS_ENOMEM);
        if (rc == CLI_OK &&
            fs_record_check_action(fm->table, ra, state, FS_RECORD_ANYONE,
                                   who != NULL && strcmp(who, me) == 0, why,
                                   sizeof why) != FS_RECORD_OK) {
            cli_error("%s %s: %s", fm->group, a->name, why);
            rc = CLI_EUSAGE;
        }
        free(who);
    }
    fs_rows_close(it);
    /* The columns the action sets, in the rules' order. */
    unsigned ntables;
    const fs_table *tb = &fs_schema_tables(&ntables)[fs_schema_table_index(fm->table)];
    fs_cell cells[FS_RECORD_MAX_SETS];
    size_t nc = 0;
    for (size_t k = 0; rc == CLI_OK && k < FS_RECORD_MAX_SETS && ra->sets[k].column != NULL; k++) {
        const fs_record_set *set = &ra->sets[k];
        int ci = fs_schema_column_index(tb, set->column);
        switch (set->fill) {
        case FS_FILL_STATUS:
            cells[nc++] = (fs_cell){set->column, fs_text(ra->to)};
            break;
        case FS_FILL_NOW:
            cells[nc++] = (fs_cell){set->column, fs_text(tb->columns[ci].type == FS_COL_DATE
                                                             ? vs.today
                                                             : vs.nowbuf)};
            break;
        case FS_FILL_SIGNER:
            rc = need_user(r, me);
            cells[nc++] = (fs_cell){set->column, fs_text(me)};
            break;
        case FS_FILL_TRUE:
            cells[nc++] = (fs_cell){set->column, fs_int(1)};
            break;
        case FS_FILL_GIVEN:
            for (size_t i = 0; i < a->nflags; i++)
                if (strcmp(a->flags[i].column, set->column) == 0 && vs.v[i] != NULL) {
                    uint8_t ref[FS_ID_BYTES];
                    rc = to_cell(r, &a->flags[i], vs.v[i], &vs, a->flags, a->nflags, ref,
                                 &cells[nc++]);
                }
            break;
        }
    }
    if (rc == CLI_OK) {
        int frc = fs_update(r, fm->table, id, cells, nc);
        if (frc == 0) {
            char full[2 * FS_ID_BYTES + 1];
            fs_id_to_hex(id, full);
            printf("%s %s: %s\n", fm->group, a->name, full);
        } else {
            rc = cli_fail(r, fm->group, frc);
        }
    }
    free(state);
    values_free(&vs);
    fs_replica_close(r);
    return rc == CLI_HELP ? CLI_OK : rc;
}

/* ---- dispatch ---- */

int cmd_form_group(const char *group)
{
    for (size_t i = 0; i < N(forms); i++)
        if (strcmp(forms[i].group, group) == 0)
            return 1;
    return 0;
}

int cmd_form(cli_ctx *ctx, int argc, char **argv)
{
    /* argv[0] is the group (the command table sends every form here). */
    const char *group = argv[0], *sub = argc >= 2 ? argv[1] : NULL;
    for (size_t i = 0; sub != NULL && i < N(forms); i++) {
        const fform *fm = &forms[i];
        if (strcmp(fm->group, group) != 0)
            continue;
        if (fm->add_name != NULL && strcmp(sub, fm->add_name) == 0)
            return form_add(ctx, fm, argc - 2, argv + 2);
        if (fm->list && strcmp(sub, "list") == 0)
            return form_list(ctx, fm, argc - 2, argv + 2);
        if (strcmp(sub, "show") == 0 && (fm->list || fm->add_name == NULL))
            return form_show(ctx, fm, argc - 2, argv + 2);
        for (size_t k = 0; k < fm->nactions; k++)
            if (strcmp(sub, fm->actions[k].name) == 0)
                return form_action(ctx, fm, &fm->actions[k], argc - 2, argv + 2);
    }
    /* What this group offers. */
    char subs[200] = "";
    for (size_t i = 0; i < N(forms); i++) {
        const fform *fm = &forms[i];
        if (strcmp(fm->group, group) != 0)
            continue;
        const char *names_[8] = {fm->add_name, fm->list ? "list" : NULL,
                                 fm->list || fm->add_name == NULL ? "show" : NULL};
        size_t nn = 3;
        for (size_t k = 0; k < fm->nactions && nn < 8; k++)
            names_[nn++] = fm->actions[k].name;
        for (size_t k = 0; k < nn; k++)
            if (names_[k] != NULL && strstr(subs, names_[k]) == NULL)
                snprintf(subs + strlen(subs), sizeof subs - strlen(subs), "%s%s",
                         subs[0] ? ", " : "", names_[k]);
    }
    if (sub == NULL)
        cli_error("%s: missing subcommand: %s (see 'fieldsync help')", group, subs);
    else
        cli_error("%s: unknown subcommand '%s': %s (see 'fieldsync help')", group,
                  strlen(sub) <= 32 ? sub : "?", subs);
    return CLI_EUSAGE;
}

/* One line per form for `fieldsync help`. */
void cmd_form_usage(FILE *f)
{
    for (size_t i = 0; i < N(forms); i++) {
        const fform *fm = &forms[i];
        if (fm->usage == NULL)
            continue;
        fprintf(f, "  %s\n", fm->usage);
        for (size_t k = 0; k < fm->nactions; k++)
            fprintf(f, "  %s\n", fm->actions[k].usage);
        if (fm->list)
            fprintf(f, "  %s list [--json] | %s show ID [--json]\n", fm->group, fm->group);
    }
    fprintf(f, "  customer show ID [--json] | visit show ID [--json]\n");
}

/* ---- whoami ---- */

int cmd_whoami(cli_ctx *ctx, int argc, char **argv)
{
    const char *set = NULL, *team = NULL;
    int json = 0;
    const cli_opt opts[] = {{"--set", CLI_VALUE, NULL, &set, NULL},
                            {"--team", CLI_VALUE, NULL, &team, NULL},
                            {"--json", CLI_FLAG, &json, NULL, NULL}};
    int rc = cli_parse(ctx, USAGE_WHOAMI, opts, N(opts), argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    const struct {
        const char *flag, *value;
    } given[] = {{"--set", set}, {"--team", team}};
    for (size_t i = 0; rc == CLI_OK && i < N(given); i++) {
        if (given[i].value == NULL)
            continue;
        rc = cli_require("whoami", given[i].flag, given[i].value);
        if (rc == CLI_OK)
            rc = cli_check_text(given[i].flag, given[i].value);
        if (rc == CLI_OK && strlen(given[i].value) > FS_USER_MAX) {
            cli_error("%s: at most %d bytes", given[i].flag, FS_USER_MAX);
            rc = CLI_EUSAGE;
        }
    }
    if (rc != CLI_OK)
        return rc;
    fs_replica *r = NULL;
    rc = cli_open(ctx, &r);
    if (rc != CLI_OK)
        return rc;
    int frc = 0;
    if (set != NULL)
        frc = fs_replica_set_user(r, set);
    if (frc == 0 && team != NULL)
        frc = fs_replica_set_setting(r, "team", team);
    char me[FS_USER_MAX + 1], myteam[FS_USER_MAX + 1];
    if (frc == 0)
        frc = fs_replica_user(r, me);
    int has_team = frc == 0 && fs_replica_setting(r, "team", myteam, sizeof myteam) == 0;
    if (frc == FS_ENOTFOUND) {
        cli_error("no user name set: fieldsync whoami --set NAME [--team TEAM]");
        rc = CLI_ERUNTIME;
    } else if (frc != 0) {
        rc = cli_fail(r, "whoami", frc);
    } else if (json) {
        cJSON *o = cJSON_CreateObject();
        int bad =
            o == NULL || rec_json_add(o, "user", cJSON_CreateString(me)) ||
            rec_json_add(o, "team", has_team ? cJSON_CreateString(myteam) : cJSON_CreateNull());
        rc = !bad && rec_json_print(o, stdout) == 0 ? CLI_OK : cli_fail(NULL, "whoami", FS_ENOMEM);
        cJSON_Delete(o);
    } else if (has_team) {
        printf("%s (team %s)\n", me, myteam);
    } else {
        printf("%s\n", me);
    }
    fs_replica_close(r);
    return rc;
}
