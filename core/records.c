/*
 * The record rules (fieldsync/records.h): one row per table of the schema,
 * in the schema's order, so a table's rules are found by its index. Adding
 * a workflow step is adding an action here; the CLI, the server's push
 * checks and the dashboard follow.
 */
#include <stdio.h>
#include <string.h>

#include "fieldsync/records.h"
#include "fieldsync/schema.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the table ---- */

/* Handing a customer to another rep is a supervisor's decision. */
static const fs_record_column customer_cols[] = {
    {"owner", FS_BY_SUPERVISOR, FS_WHEN_CHANGED},
};

/* The supervisor's review: who signed, when, and why a plan was returned. */
static const fs_record_column weekly_plan_cols[] = {
    {"approved_by", FS_BY_SUPERVISOR, FS_WHEN_SET},
    {"approved_at", FS_BY_SUPERVISOR, FS_WHEN_SET},
    {"review_comment", FS_BY_SUPERVISOR, FS_WHEN_SET},
};

static const char *const weekly_plan_statuses[] = {FS_STATUS_DRAFT, FS_STATUS_SUBMITTED,
                                                   FS_STATUS_APPROVED, FS_STATUS_RETURNED, NULL};

static const fs_record_action weekly_plan_actions[] = {
    {"submit",
     {FS_STATUS_DRAFT, FS_STATUS_RETURNED},
     FS_STATUS_SUBMITTED,
     FS_BY_ANYONE,
     0,
     {{"status", FS_FILL_STATUS, 0}, {"submitted_at", FS_FILL_NOW, 0}},
     {NULL}},
    /* The dashboard may add a comment to an approval; the CLI does not. */
    {"approve",
     {FS_STATUS_SUBMITTED},
     FS_STATUS_APPROVED,
     FS_BY_SUPERVISOR,
     1,
     {{"status", FS_FILL_STATUS, 0},
      {"approved_by", FS_FILL_SIGNER, 0},
      {"approved_at", FS_FILL_NOW, 0},
      {"review_comment", FS_FILL_GIVEN, 0}},
     {NULL}},
    {"return",
     {FS_STATUS_SUBMITTED},
     FS_STATUS_RETURNED,
     FS_BY_SUPERVISOR,
     1,
     {{"status", FS_FILL_STATUS, 0},
      {"approved_by", FS_FILL_SIGNER, 0},
      {"approved_at", FS_FILL_NOW, 0},
      {"review_comment", FS_FILL_GIVEN, 1}},
     {NULL}},
};

static const char *const commitment_statuses[] = {FS_STATUS_OPEN, FS_STATUS_DONE,
                                                  FS_STATUS_CANCELLED, NULL};

static const fs_record_action commitment_actions[] = {
    {"done",
     {FS_STATUS_OPEN},
     FS_STATUS_DONE,
     FS_BY_ANYONE,
     0,
     {{"status", FS_FILL_STATUS, 0},
      {"done_at", FS_FILL_NOW, 0}, /* or the time stated with --at */
      {"customer_replied", FS_FILL_GIVEN, 0},
      {"done_recorded_at", FS_FILL_NOW, 0}},
     {NULL}},
    {"cancel",
     {FS_STATUS_OPEN},
     FS_STATUS_CANCELLED,
     FS_BY_ANYONE,
     0,
     {{"status", FS_FILL_STATUS, 0}},
     {NULL}},
    /* The customer answered after the commitment was kept. */
    {"replied", {FS_STATUS_DONE}, NULL, FS_BY_ANYONE, 0, {{"customer_replied", FS_FILL_TRUE, 0}},
     {NULL}},
};

static const fs_record_action complaint_actions[] = {
    {"outcome",
     {NULL},
     NULL,
     FS_BY_ANYONE,
     0,
     {{"outcome", FS_FILL_GIVEN, 1},
      {"outcome_at", FS_FILL_NOW, 0},
      {"satisfaction", FS_FILL_GIVEN, 0}},
     {NULL}},
};

static const fs_record_action acceptance_actions[] = {
    {"collect",
     {NULL},
     NULL,
     FS_BY_ANYONE,
     0,
     {{"collected_at", FS_FILL_GIVEN, 1}, {"documents", FS_FILL_GIVEN, 0}},
     {NULL}},
};

static const fs_record_action question_actions[] = {
    {"answer",
     {NULL},
     NULL,
     FS_BY_ANYONE,
     0,
     {{"answer", FS_FILL_GIVEN, 1},
      {"answered_at", FS_FILL_NOW, 0}, /* or the time stated with --at */
      {"answered_recorded_at", FS_FILL_NOW, 0}},
     {NULL}},
};

/* Schema 6: a deal's stage; won and lost say on which day. */
static const char *const deal_stages[] = {FS_STATUS_LEAD, FS_STATUS_NEGOTIATING, FS_STATUS_WON,
                                          FS_STATUS_LOST, NULL};

static const fs_record_action deal_actions[] = {
    {"negotiate",
     {FS_STATUS_LEAD},
     FS_STATUS_NEGOTIATING,
     FS_BY_ANYONE,
     0,
     {{"stage", FS_FILL_STATUS, 0}},
     {NULL}},
    {"won",
     {FS_STATUS_LEAD, FS_STATUS_NEGOTIATING},
     FS_STATUS_WON,
     FS_BY_ANYONE,
     0,
     {{"stage", FS_FILL_STATUS, 0}, {"closed_at", FS_FILL_NOW, 0}},
     {NULL}}, /* or --at */
    {"lost",
     {FS_STATUS_LEAD, FS_STATUS_NEGOTIATING},
     FS_STATUS_LOST,
     FS_BY_ANYONE,
     0,
     {{"stage", FS_FILL_STATUS, 0}, {"closed_at", FS_FILL_NOW, 0}},
     {NULL}},
};

/* Schema 6: a contract is signed only with its legal review and the
 * customer's identity checked (the handbook: legal review before the
 * stamp; business licence and the legal representative's authorisation). */
static const char *const contract_statuses[] = {FS_STATUS_DRAFT, FS_STATUS_SIGNED, NULL};

static const fs_record_action contract_actions[] = {
    {"sign",
     {FS_STATUS_DRAFT},
     FS_STATUS_SIGNED,
     FS_BY_ANYONE,
     0,
     {{"status", FS_FILL_STATUS, 0}, {"signed_at", FS_FILL_NOW, 0}},
     {"legal_by", "legal_at", "licence_seen", "authorisation_seen"}},
};

/* The customer confirmed a planned visit (the handbook: by the day before):
 * when, as stated (--at; never in the future), and how. */
static const fs_record_action visit_plan_actions[] = {
    {"confirm",
     {NULL},
     NULL,
     FS_BY_ANYONE,
     0,
     {{"confirmed_at", FS_FILL_NOW, 0}, /* or the time stated with --at */
      {"confirmed_how", FS_FILL_GIVEN, 1},
      {"confirm_recorded_at", FS_FILL_NOW, 0}},
     {NULL}},
};

#define PLAIN(t, own, sign)                                                                        \
    {                                                                                              \
#t, own, sign, FS_BY_ANYONE, NULL, 0, NULL, NULL, NULL, NULL, 0                            \
    }

static const fs_record_rules records[] = {
    {"customer", "owner", NULL, FS_BY_ANYONE, customer_cols, N(customer_cols), NULL, NULL, NULL,
     NULL, 0},
    PLAIN(contact, NULL, NULL),
    PLAIN(visit, NULL, NULL),
    {"commitment", NULL, NULL, FS_BY_ANYONE, NULL, 0, "status", FS_STATUS_OPEN, commitment_statuses,
     commitment_actions, N(commitment_actions)},
    {"weekly_plan", "rep", "rep", FS_BY_ANYONE, weekly_plan_cols, N(weekly_plan_cols), "status",
     FS_STATUS_DRAFT, weekly_plan_statuses, weekly_plan_actions, N(weekly_plan_actions)},
    PLAIN(plan_task, NULL, NULL),
    PLAIN(daily_report, "rep", "rep"),
    PLAIN(self_check, "rep", "rep"),
    {"complaint", "owner", "owner", FS_BY_ANYONE, NULL, 0, NULL, NULL, NULL, complaint_actions,
     N(complaint_actions)},
    PLAIN(requirement_request, NULL, NULL),
    {"acceptance", NULL, NULL, FS_BY_ANYONE, NULL, 0, NULL, NULL, NULL, acceptance_actions,
     N(acceptance_actions)},
    PLAIN(marketing_request, "rep", "rep"),
    {"customer_question", NULL, NULL, FS_BY_ANYONE, NULL, 0, NULL, NULL, NULL, question_actions,
     N(question_actions)},
    /* A supervisor's spot-check of a rep's record: the rep owns it (and sees
     * it), the supervisor writes and signs it. */
    {"spot_check", "rep", "supervisor", FS_BY_SUPERVISOR, NULL, 0, NULL, NULL, NULL, NULL, 0},
    /* Written by the replicas themselves; they follow the row they are about. */
    PLAIN(conflict, NULL, NULL),
    /* Written by the server when it accepts an owner change; no device
     * writes it. It follows its customer. */
    {"handover", NULL, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL, 0},
    /* Written by the server when it accepts a hand-over: the previous
     * owner's deadlines, frozen (fieldsync/rules.h). Owned by that rep. */
    {"charge", "rep", NULL, 0, NULL, 0, NULL, NULL, NULL, NULL, 0},
    /* Written by the server from a device's report of its open refusals;
     * owned by the device's user. */
    {"refusal_tally", "rep", NULL, 0, NULL, 0, NULL, NULL, NULL, NULL, 0},
    /* Written by the server as users are added, moved, disabled or enabled;
     * owned by the user it names. */
    {"roster", "name", NULL, 0, NULL, 0, NULL, NULL, NULL, NULL, 0},
    /* Written by the server (fieldsync-server team set); seen by the whole
     * team, owned by no user. */
    {"team_setting", NULL, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL, 0},
    /* Schema 6: the sales records; they follow their customer. */
    {"deal", NULL, NULL, FS_BY_ANYONE, NULL, 0, "stage", FS_STATUS_LEAD, deal_stages, deal_actions,
     N(deal_actions)},
    PLAIN(payment, NULL, NULL),
    {"contract", NULL, NULL, FS_BY_ANYONE, NULL, 0, "status", FS_STATUS_DRAFT, contract_statuses,
     contract_actions, N(contract_actions)},
    PLAIN(survey, NULL, NULL),
    /* A file attached to a record (schema 6): written by whoever may write
     * the record's customer's records; it follows that customer. */
    PLAIN(attachment, NULL, NULL),
    /* Schema 6: a visit planned ahead; it follows its customer, the rep who
     * plans it signs it (planner). */
    {"visit_plan", NULL, "planner", FS_BY_ANYONE, NULL, 0, NULL, NULL, NULL, visit_plan_actions,
     N(visit_plan_actions)},
};

/* Columns that change together (fieldsync/records.h, COLUMN GROUPS): a
 * status with the time and signature that explain it. A commitment has no
 * cancelled_at: cancelling writes done_at as it stands (NULL on an open
 * commitment), so a cancel that wins over a done clears its done_at. */
static const fs_record_group groups[] = {
    {"commitment", {"status", "done_at", NULL}},
    {"weekly_plan", {"status", "approved_by", "approved_at", NULL}},
    {"complaint", {"outcome", "outcome_at", NULL}},
    {"deal", {"stage", "closed_at", NULL}},
    {"contract", {"status", "signed_at", NULL}},
    {"contract", {"legal_by", "legal_at", NULL}},
};

/* Statuses in which a record's content is locked (fieldsync/records.h,
 * LOCKS), and those in which it is open, for the message. */
static const struct {
    const char *table;
    const char *locked[FS_RECORD_MAX_FROM];
    const char *open;
} locks[] = {
    {"weekly_plan", {FS_STATUS_SUBMITTED, FS_STATUS_APPROVED, NULL},
     FS_STATUS_DRAFT "|" FS_STATUS_RETURNED},
    /* a signed contract keeps what was signed, its checks included */
    {"contract", {FS_STATUS_SIGNED, NULL, NULL}, FS_STATUS_DRAFT},
};

/* ---- lookups ---- */

const fs_record_rules *fs_record_rules_at(unsigned table)
{
    return table < N(records) ? &records[table] : NULL;
}

const fs_record_rules *fs_record_rules_of(const char *table)
{
    int t = fs_schema_table_index(table);
    return t >= 0 ? fs_record_rules_at((unsigned)t) : NULL;
}

int fs_record_server_only(unsigned table)
{
    const fs_record_rules *rr = fs_record_rules_at(table);
    if (rr == NULL || rr->by != 0)
        return 0;
    for (size_t i = 0; i < rr->ncolumns; i++)
        if (rr->columns[i].by != 0)
            return 0;
    for (size_t i = 0; i < rr->nactions; i++)
        if (rr->actions[i].by != 0)
            return 0;
    return 1;
}

int fs_record_is_handover(unsigned table, unsigned column)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    const fs_record_rules *rr = fs_record_rules_at(table);
    if (rr == NULL || table >= nt || column >= tables[table].ncolumns)
        return 0;
    for (size_t i = 0; i < rr->ncolumns; i++)
        if (rr->columns[i].when == FS_WHEN_CHANGED &&
            strcmp(rr->columns[i].column, tables[table].columns[column].name) == 0)
            return 1;
    return 0;
}

const fs_record_action *fs_record_find_action(const char *table, const char *name)
{
    const fs_record_rules *rr = fs_record_rules_of(table);
    for (size_t i = 0; rr != NULL && name != NULL && i < rr->nactions; i++)
        if (strcmp(rr->actions[i].name, name) == 0)
            return &rr->actions[i];
    return NULL;
}

const fs_record_action *fs_record_action_to(const char *table, const char *to)
{
    const fs_record_rules *rr = fs_record_rules_of(table);
    for (size_t i = 0; rr != NULL && to != NULL && i < rr->nactions; i++)
        if (rr->actions[i].to != NULL && strcmp(rr->actions[i].to, to) == 0)
            return &rr->actions[i];
    return NULL;
}

int fs_record_action_from(const fs_record_action *a, const char *status)
{
    if (a->from[0] == NULL)
        return 1;
    for (size_t i = 0; status != NULL && i < FS_RECORD_MAX_FROM && a->from[i] != NULL; i++)
        if (strcmp(a->from[i], status) == 0)
            return 1;
    return 0;
}

/* 1 if a user of role may act as one of by. An unknown role (a device's CLI)
 * or an unknown ownership (-1) passes: the server knows them and decides. */
static int allowed(unsigned by, fs_record_role role, int is_owner)
{
    if (by == 0) /* the server's own records */
        return 0;
    if (role == FS_RECORD_ANYONE)
        return 1;
    if ((by & FS_BY_SUPERVISOR) && role == FS_RECORD_MANAGER)
        return 1;
    return (by & FS_BY_OWNER) && is_owner != 0;
}

/* The rule of column name in rr, or NULL when the table's applies. */
static const fs_record_column *column_rule(const fs_record_rules *rr, const char *name)
{
    for (size_t i = 0; i < rr->ncolumns; i++)
        if (strcmp(rr->columns[i].column, name) == 0)
            return &rr->columns[i];
    return NULL;
}

int fs_record_may_write(const char *table, const char *column, fs_record_role role, int is_owner)
{
    int t = fs_schema_table_index(table);
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    if (t < 0 || fs_schema_column_index(&tables[t], column) < 0)
        return 0;
    const fs_record_rules *rr = &records[t];
    const fs_record_column *cr = column_rule(rr, column);
    return allowed(cr != NULL ? cr->by : rr->by, role, is_owner);
}

int fs_record_transition_ok(const char *table, const char *from, const char *to,
                            fs_record_role role)
{
    const fs_record_rules *rr = fs_record_rules_of(table);
    for (size_t i = 0; rr != NULL && rr->status != NULL && i < rr->nactions; i++) {
        const fs_record_action *a = &rr->actions[i];
        const char *lands = a->to != NULL ? a->to : from;
        if (a->from[0] != NULL && fs_record_action_from(a, from) && lands != NULL && to != NULL &&
            strcmp(lands, to) == 0 && allowed(a->by, role, -1))
            return 1;
    }
    return 0;
}

const fs_record_group *fs_record_groups(size_t *n)
{
    *n = N(groups);
    return groups;
}

uint32_t fs_record_group_of(unsigned table, unsigned column)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    if (table >= nt || column >= tables[table].ncolumns || column >= 32)
        return 0;
    const fs_table *t = &tables[table];
    for (size_t g = 0; g < N(groups); g++) {
        if (strcmp(groups[g].table, t->name) != 0)
            continue;
        uint32_t mask = 0;
        for (size_t k = 0; k < FS_RECORD_MAX_GROUP && groups[g].columns[k] != NULL; k++) {
            int c = fs_schema_column_index(t, groups[g].columns[k]);
            if (c > 0 && c < 32)
                mask |= 1u << c;
        }
        if (mask & (1u << column))
            return mask;
    }
    return 0;
}

/* ---- checks ---- */

const char *fs_record_strerror(int verdict)
{
    switch (verdict) {
    case FS_RECORD_OK:
        return "allowed";
#define FS__RECORD_TEXT(name, c, text)                                                             \
    case FS_RECORD_##name:                                                                         \
        return text;
        FS_RECORD_MAP(FS__RECORD_TEXT)
#undef FS__RECORD_TEXT
    default:
        return "unknown verdict";
    }
}

/* Who a status value needs: the union of who may do the actions leading to
 * it; FS_BY_ANYONE for a status no action leads to (a new record's). */
static unsigned status_by(const fs_record_rules *rr, const fs_value *v)
{
    unsigned by = 0;
    if (v->type != FS_TEXT)
        return FS_BY_ANYONE;
    for (size_t i = 0; i < rr->nactions; i++) {
        const char *to = rr->actions[i].to;
        if (to != NULL && strlen(to) == v->n && memcmp(to, v->p, v->n) == 0)
            by |= rr->actions[i].by;
    }
    return by != 0 ? by : FS_BY_ANYONE;
}

int fs_record_check_write(unsigned table, unsigned column, const fs_value *value,
                          fs_record_role role, int is_owner, char *why, size_t whylen)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    if (table >= nt || table >= N(records) || column >= tables[table].ncolumns)
        return fs_say(why, whylen, FS_RECORD_EUNKNOWN, "no column %u of table %u", column, table);
    const fs_record_rules *rr = &records[table];
    const char *name = tables[table].columns[column].name;
    const fs_record_column *cr = column_rule(rr, name);
    unsigned by = rr->by;
    if (cr != NULL && cr->when == FS_WHEN_ALWAYS)
        by = cr->by;
    else if (cr != NULL && cr->when == FS_WHEN_SET && value->type != FS_NULL)
        by = cr->by;
    if (!allowed(by, role, is_owner))
        return fs_say(why, whylen, FS_RECORD_EROLE, "%s.%s is written by %s", rr->table, name,
                      by == 0                  ? "the server only"
                      : by == FS_BY_SUPERVISOR ? "a supervisor"
                                               : "the record's owner");
    if (rr->status != NULL && strcmp(name, rr->status) == 0 &&
        !allowed(status_by(rr, value), role, is_owner))
        return fs_say(why, whylen, FS_RECORD_EROLE, "%s.%s %.*s is set by a supervisor's action",
                      rr->table, name, (int)value->n, (const char *)value->p);
    return FS_RECORD_OK;
}

int fs_record_check_action(const char *table, const fs_record_action *a, const char *status,
                           fs_record_role role, int is_owner, char *why, size_t whylen)
{
    const fs_record_rules *rr = fs_record_rules_of(table);
    if (rr == NULL || a == NULL || a < rr->actions || a >= rr->actions + rr->nactions)
        return fs_say(why, whylen, FS_RECORD_EUNKNOWN, "no such action of %s", table ? table : "?");
    if (!fs_record_action_from(a, status)) {
        char must[64] = "";
        for (size_t i = 0; i < FS_RECORD_MAX_FROM && a->from[i] != NULL; i++)
            snprintf(must + strlen(must), sizeof must - strlen(must), "%s%s", i ? "|" : "",
                     a->from[i]);
        return fs_say(why, whylen, FS_RECORD_ESTATE, "the %s is %s; it must be %s", rr->status,
                      status ? status : "not set", must);
    }
    if (a->not_owner && is_owner == 1)
        return fs_say(why, whylen, FS_RECORD_ESELF, "the %s is you; a supervisor does this",
                      rr->owner);
    if (!allowed(a->by, role, is_owner))
        return fs_say(why, whylen, FS_RECORD_EROLE, "%s %s is a supervisor's action", rr->table,
                      a->name);
    return FS_RECORD_OK;
}

int fs_record_check_needs(const fs_record_action *a, fs_rows *it, const char **missing, char *why,
                          size_t whylen)
{
    *missing = NULL;
    for (size_t k = 0; a != NULL && k < FS_RECORD_MAX_NEEDS && a->needs[k] != NULL; k++) {
        fs_value v;
        if (fs_rows_get(it, a->needs[k], &v) != 0)
            return fs_say(why, whylen, FS_RECORD_EUNKNOWN, "no column %s", a->needs[k]);
        int set = v.type == FS_INT ? v.i != 0 : v.type != FS_NULL && v.n > 0;
        if (!set) {
            *missing = a->needs[k];
            return fs_say(why, whylen, FS_RECORD_ENEEDS, "%s needs %s", a->name, a->needs[k]);
        }
    }
    return FS_RECORD_OK;
}

/* 1 if column is set by one of rr's supervisor-only actions. */
static int supervisor_sets(const fs_record_rules *rr, const char *column)
{
    for (size_t i = 0; i < rr->nactions; i++) {
        const fs_record_action *a = &rr->actions[i];
        for (size_t k = 0; a->by == FS_BY_SUPERVISOR && k < FS_RECORD_MAX_SETS && a->sets[k].column;
             k++)
            if (strcmp(a->sets[k].column, column) == 0)
                return 1;
    }
    return 0;
}

int fs_record_check_supervisor_cells(const char *table, int update, const fs_cell *cells, size_t n,
                                     char *why, size_t whylen)
{
    const fs_record_rules *rr = fs_record_rules_of(table);
    int has_actions = 0;
    for (size_t i = 0; rr != NULL && i < rr->nactions; i++)
        has_actions |= rr->actions[i].by == FS_BY_SUPERVISOR;
    if (rr == NULL || (update && !has_actions) || (!update && rr->by != FS_BY_SUPERVISOR))
        return fs_say(why, whylen, FS_RECORD_EUNKNOWN, "a supervisor does not %s %s",
                      update ? "change" : "create", table ? table : "?");
    for (size_t i = 0; update && i < n; i++)
        if (!supervisor_sets(rr, cells[i].column))
            return fs_say(why, whylen, FS_RECORD_EROLE,
                          "a supervisor's review of %s changes its review columns only", rr->table);
    return FS_RECORD_OK;
}

/* ---- locks ---- */

/* 1 if some action of rr sets column name (or it is the status column). */
static int action_sets(const fs_record_rules *rr, const char *name)
{
    if (rr->status != NULL && strcmp(rr->status, name) == 0)
        return 1;
    for (size_t i = 0; i < rr->nactions; i++)
        for (size_t k = 0; k < FS_RECORD_MAX_SETS && rr->actions[i].sets[k].column != NULL; k++)
            if (strcmp(rr->actions[i].sets[k].column, name) == 0)
                return 1;
    return 0;
}

int fs_record_locked(unsigned table, unsigned column, const char *status)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    if (table >= nt || table >= N(records) || column >= tables[table].ncolumns || status == NULL)
        return 0;
    const fs_record_rules *rr = &records[table];
    for (size_t l = 0; l < N(locks); l++) {
        if (strcmp(locks[l].table, rr->table) != 0)
            continue;
        for (size_t k = 0; k < FS_RECORD_MAX_FROM && locks[l].locked[k] != NULL; k++)
            if (strcmp(locks[l].locked[k], status) == 0)
                return !action_sets(rr, tables[table].columns[column].name);
    }
    return 0;
}

const char *fs_record_open_statuses(const char *table)
{
    for (size_t l = 0; table != NULL && l < N(locks); l++)
        if (strcmp(locks[l].table, table) == 0)
            return locks[l].open;
    return "";
}
