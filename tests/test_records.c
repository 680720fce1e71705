/*
 * The record rules (fieldsync/records.h): every table of the schema has
 * rules and every column they name exists; each status transition is
 * allowed or refused as the handbook says; each role/column permission; the
 * push check of a value and the check of an action, with the messages the
 * CLI prints.
 */
#include <stdio.h>
#include <string.h>

#include "fieldsync/records.h"
#include "test.h"

#define REP     FS_RECORD_REP
#define MANAGER FS_RECORD_MANAGER
#define ADMIN   FS_RECORD_ADMIN

static void column_exists(const fs_table *t, const char *column)
{
    if (column == NULL)
        return;
    if (fs_schema_column_index(t, column) < 0)
        fprintf(stderr, "  %s.%s is named by the rules, not in the schema\n", t->name, column);
    CHECK(fs_schema_column_index(t, column) > 0);
}

/* Every table of the schema has an entry, in the schema's order, and every
 * column the rules name is one of its table's. */
static void test_every_table_and_column(void)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    for (unsigned i = 0; i < nt; i++) {
        const fs_table *t = &tables[i];
        const fs_record_rules *rr = fs_record_rules_at(i);
        CHECK(rr != NULL);
        CHECK_STR(rr->table, t->name);
        CHECK(fs_record_rules_of(t->name) == rr);
        /* every record has writers, but the server's own (handover, charge,
         * refusal_tally, roster, team_setting) */
        CHECK_EQ_INT(rr->by == 0, strcmp(t->name, "handover") == 0 ||
                                      strcmp(t->name, "charge") == 0 ||
                                      strcmp(t->name, "refusal_tally") == 0 ||
                                      strcmp(t->name, "roster") == 0 ||
                                      strcmp(t->name, "team_setting") == 0);
        column_exists(t, rr->owner);
        column_exists(t, rr->signer);
        column_exists(t, rr->status);
        for (size_t c = 0; c < rr->ncolumns; c++) {
            column_exists(t, rr->columns[c].column);
            CHECK(rr->columns[c].by != 0);
        }
        /* a status column has an initial status among its statuses */
        CHECK_EQ_INT(rr->status != NULL, rr->initial != NULL);
        CHECK_EQ_INT(rr->status != NULL, rr->statuses != NULL);
        int initial_listed = rr->status == NULL;
        for (size_t k = 0; rr->statuses != NULL && rr->statuses[k] != NULL; k++)
            initial_listed |= strcmp(rr->statuses[k], rr->initial) == 0;
        CHECK(initial_listed);
        for (size_t k = 0; k < rr->nactions; k++) {
            const fs_record_action *a = &rr->actions[k];
            CHECK(fs_record_find_action(t->name, a->name) == a);
            CHECK(a->by != 0);
            /* only a record with a status has actions that move it */
            CHECK(rr->status != NULL || (a->from[0] == NULL && a->to == NULL));
            for (size_t s = 0; s < FS_RECORD_MAX_SETS && a->sets[s].column != NULL; s++) {
                column_exists(t, a->sets[s].column);
                if (a->sets[s].fill == FS_FILL_STATUS) {
                    CHECK_STR(a->sets[s].column, rr->status);
                    CHECK(a->to != NULL);
                }
            }
        }
    }
    CHECK(fs_record_rules_at(nt) == NULL);
    CHECK(fs_record_rules_of("nope") == NULL);
    CHECK(fs_record_rules_of(NULL) == NULL);
    CHECK(fs_record_find_action("weekly_plan", "nope") == NULL);
    CHECK(fs_record_find_action("nope", "approve") == NULL);
}

/* The weekly plan: draft -> submitted -> approved | returned, returned ->
 * submitted; nothing else. */
static void test_weekly_plan_transitions(void)
{
    const fs_record_rules *rr = fs_record_rules_of("weekly_plan");
    CHECK_STR(rr->status, "status");
    CHECK_STR(rr->initial, FS_STATUS_DRAFT);
    const char *all[] = {FS_STATUS_DRAFT, FS_STATUS_SUBMITTED, FS_STATUS_APPROVED,
                         FS_STATUS_RETURNED};
    /* allowed[from][to] for a manager (who may do every step) */
    static const int allowed[4][4] = {
        {0, 1, 0, 0}, /* draft -> submitted */
        {0, 0, 1, 1}, /* submitted -> approved | returned */
        {0, 0, 0, 0}, /* approved: final */
        {0, 1, 0, 0}, /* returned -> submitted */
    };
    for (int f = 0; f < 4; f++)
        for (int t = 0; t < 4; t++) {
            int got = fs_record_transition_ok("weekly_plan", all[f], all[t], MANAGER);
            if (got != allowed[f][t])
                fprintf(stderr, "  %s -> %s\n", all[f], all[t]);
            CHECK_EQ_INT(got, allowed[f][t]);
        }
    /* a rep submits but neither approves nor returns */
    CHECK(fs_record_transition_ok("weekly_plan", FS_STATUS_DRAFT, FS_STATUS_SUBMITTED, REP));
    CHECK(fs_record_transition_ok("weekly_plan", FS_STATUS_RETURNED, FS_STATUS_SUBMITTED, REP));
    CHECK(!fs_record_transition_ok("weekly_plan", FS_STATUS_SUBMITTED, FS_STATUS_APPROVED, REP));
    CHECK(!fs_record_transition_ok("weekly_plan", FS_STATUS_SUBMITTED, FS_STATUS_RETURNED, REP));
    CHECK(!fs_record_transition_ok("weekly_plan", FS_STATUS_SUBMITTED, FS_STATUS_APPROVED, ADMIN));
    CHECK(!fs_record_transition_ok("weekly_plan", NULL, FS_STATUS_SUBMITTED, MANAGER));
    CHECK(!fs_record_transition_ok("weekly_plan", "bogus", FS_STATUS_SUBMITTED, MANAGER));
    /* what approve and return set together, in order */
    const fs_record_action *ap = fs_record_find_action("weekly_plan", "approve");
    CHECK_STR(ap->sets[0].column, "status");
    CHECK_STR(ap->sets[1].column, "approved_by");
    CHECK_EQ_INT(ap->sets[1].fill, FS_FILL_SIGNER);
    CHECK_STR(ap->sets[2].column, "approved_at");
    CHECK_EQ_INT(ap->sets[2].fill, FS_FILL_NOW);
    CHECK(ap->not_owner);
    const fs_record_action *ret = fs_record_find_action("weekly_plan", "return");
    CHECK_STR(ret->sets[3].column, "review_comment");
    CHECK(ret->sets[3].required); /* a return says why */
    CHECK(fs_record_action_to("weekly_plan", FS_STATUS_RETURNED) == ret);
    const fs_record_action *sub = fs_record_find_action("weekly_plan", "submit");
    CHECK_STR(sub->sets[1].column, "submitted_at");
    CHECK(!sub->not_owner);
}

/* A commitment: open -> done | cancelled; a done one may be marked replied
 * and stays done. */
static void test_commitment_transitions(void)
{
    const fs_record_rules *rr = fs_record_rules_of("commitment");
    CHECK_STR(rr->initial, FS_STATUS_OPEN);
    const char *all[] = {FS_STATUS_OPEN, FS_STATUS_DONE, FS_STATUS_CANCELLED};
    static const int allowed[3][3] = {
        {0, 1, 1}, /* open -> done | cancelled */
        {0, 1, 0}, /* done stays done (replied) */
        {0, 0, 0}, /* cancelled: final */
    };
    for (int f = 0; f < 3; f++)
        for (int t = 0; t < 3; t++)
            CHECK_EQ_INT(fs_record_transition_ok("commitment", all[f], all[t], REP), allowed[f][t]);
    const fs_record_action *done = fs_record_find_action("commitment", "done");
    CHECK_STR(done->sets[1].column, "done_at");
    CHECK_EQ_INT(done->sets[1].fill, FS_FILL_NOW);
    const fs_record_action *replied = fs_record_find_action("commitment", "replied");
    CHECK(replied->to == NULL);
    CHECK_EQ_INT(replied->sets[0].fill, FS_FILL_TRUE);
    /* kinds without a status: no transitions at all */
    CHECK(!fs_record_transition_ok("complaint", NULL, NULL, MANAGER));
    CHECK(fs_record_action_from(fs_record_find_action("complaint", "outcome"), NULL));
}

/* Who writes which column. */
static void test_role_column_permissions(void)
{
    static const struct {
        const char *table, *column;
        fs_record_role role;
        int is_owner, may;
    } cases[] = {
        /* the plan's own fields are its rep's, and the team's manager's */
        {"weekly_plan", "goals", REP, 1, 1},
        {"weekly_plan", "goals", MANAGER, 0, 1},
        {"weekly_plan", "goals", REP, 0, 0},
        {"weekly_plan", "status", REP, 1, 1}, /* submit; the value decides the rest */
        /* the signature is the supervisor's */
        {"weekly_plan", "approved_by", REP, 1, 0},
        {"weekly_plan", "approved_at", REP, 1, 0},
        {"weekly_plan", "review_comment", REP, 1, 0},
        {"weekly_plan", "approved_by", MANAGER, 0, 1},
        {"weekly_plan", "approved_by", ADMIN, 0, 0},
        /* a customer's owner changes by a supervisor only */
        {"customer", "owner", REP, 1, 0},
        {"customer", "owner", MANAGER, 1, 1},
        {"customer", "name", REP, 1, 1},
        /* spot-checks: every column the supervisor's, even on the rep's row */
        {"spot_check", "accurate", REP, 1, 0},
        {"spot_check", "comment", REP, 1, 0},
        {"spot_check", "accurate", MANAGER, 0, 1},
        {"commitment", "status", REP, 1, 1},
        {"visit", "notes", REP, 1, 1},
        {"visit", "notes", ADMIN, 0, 0},
        /* the device's CLI does not know its role: the server decides */
        {"weekly_plan", "approved_by", FS_RECORD_ANYONE, 1, 1},
        /* unknown names */
        {"weekly_plan", "nope", MANAGER, 0, 0},
        {"nope", "status", MANAGER, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got =
            fs_record_may_write(cases[i].table, cases[i].column, cases[i].role, cases[i].is_owner);
        if (got != cases[i].may)
            fprintf(stderr, "  case %zu: %s.%s\n", i, cases[i].table, cases[i].column);
        CHECK_EQ_INT(got, cases[i].may);
    }
}

static unsigned tix(const char *t)
{
    return (unsigned)fs_schema_table_index(t);
}

static unsigned cix(const char *t, const char *c)
{
    unsigned nt;
    return (unsigned)fs_schema_column_index(&fs_schema_tables(&nt)[tix(t)], c);
}

/* The push check of one value: the value decides for signatures and
 * statuses. */
static void test_push_check_of_values(void)
{
    char why[160];
    fs_value approved = fs_text(FS_STATUS_APPROVED), returned = fs_text(FS_STATUS_RETURNED);
    fs_value submitted = fs_text(FS_STATUS_SUBMITTED), name = fs_text("zhang"), null = fs_null();
    unsigned plan = tix("weekly_plan"), st = cix("weekly_plan", "status");
    unsigned by = cix("weekly_plan", "approved_by");
    CHECK_EQ_INT(fs_record_check_write(plan, st, &approved, REP, 1, why, sizeof why),
                 FS_RECORD_EROLE);
    CHECK_STR(why, "weekly_plan.status approved is set by a supervisor's action");
    CHECK_EQ_INT(fs_record_check_write(plan, st, &returned, REP, 1, NULL, 0), FS_RECORD_EROLE);
    CHECK_EQ_INT(fs_record_check_write(plan, st, &submitted, REP, 1, NULL, 0), FS_RECORD_OK);
    CHECK_EQ_INT(fs_record_check_write(plan, st, &approved, MANAGER, 1, NULL, 0), FS_RECORD_OK);
    CHECK_EQ_INT(fs_record_check_write(plan, by, &name, REP, 1, why, sizeof why), FS_RECORD_EROLE);
    CHECK_STR(why, "weekly_plan.approved_by is written by a supervisor");
    CHECK_EQ_INT(fs_record_check_write(plan, by, &null, REP, 1, NULL, 0), FS_RECORD_OK);
    CHECK_EQ_INT(fs_record_check_write(plan, by, &name, MANAGER, 0, NULL, 0), FS_RECORD_OK);
    unsigned check = tix("spot_check");
    fs_value yes = fs_int(1);
    CHECK_EQ_INT(fs_record_check_write(check, cix("spot_check", "accurate"), &yes, REP, 1, NULL, 0),
                 FS_RECORD_EROLE);
    CHECK_EQ_INT(
        fs_record_check_write(check, cix("spot_check", "accurate"), &yes, MANAGER, 0, NULL, 0),
        FS_RECORD_OK);
    /* a handover is judged where the owner change is known */
    CHECK_EQ_INT(
        fs_record_check_write(tix("customer"), cix("customer", "owner"), &name, REP, 1, NULL, 0),
        FS_RECORD_OK);
    CHECK_EQ_INT(fs_record_check_write(plan, 99, &name, REP, 1, NULL, 0), FS_RECORD_EUNKNOWN);
    CHECK_EQ_INT(fs_record_check_write(999, 1, &name, REP, 1, NULL, 0), FS_RECORD_EUNKNOWN);
}

/* The check of an action, with the CLI's messages. */
static void test_action_checks(void)
{
    char why[160];
    const fs_record_action *ap = fs_record_find_action("weekly_plan", "approve");
    const fs_record_action *sub = fs_record_find_action("weekly_plan", "submit");
    CHECK_EQ_INT(fs_record_check_action("weekly_plan", ap, FS_STATUS_DRAFT, FS_RECORD_ANYONE, -1,
                                        why, sizeof why),
                 FS_RECORD_ESTATE);
    CHECK_STR(why, "the status is draft; it must be submitted");
    CHECK_EQ_INT(fs_record_check_action("weekly_plan", sub, NULL, REP, 1, why, sizeof why),
                 FS_RECORD_ESTATE);
    CHECK_STR(why, "the status is not set; it must be draft|returned");
    CHECK_EQ_INT(fs_record_check_action("weekly_plan", ap, FS_STATUS_SUBMITTED, FS_RECORD_ANYONE, 1,
                                        why, sizeof why),
                 FS_RECORD_ESELF);
    CHECK_STR(why, "the rep is you; a supervisor does this");
    CHECK_EQ_INT(
        fs_record_check_action("weekly_plan", ap, FS_STATUS_SUBMITTED, REP, 0, why, sizeof why),
        FS_RECORD_EROLE);
    CHECK_EQ_INT(
        fs_record_check_action("weekly_plan", ap, FS_STATUS_SUBMITTED, MANAGER, 0, NULL, 0),
        FS_RECORD_OK);
    CHECK_EQ_INT(fs_record_check_action("weekly_plan", sub, FS_STATUS_RETURNED, REP, 1, NULL, 0),
                 FS_RECORD_OK);
    const fs_record_action *cancel = fs_record_find_action("commitment", "cancel");
    CHECK_EQ_INT(
        fs_record_check_action("commitment", cancel, FS_STATUS_DONE, REP, 1, why, sizeof why),
        FS_RECORD_ESTATE);
    CHECK_STR(why, "the status is done; it must be open");
    /* an action of another kind is not this kind's */
    CHECK_EQ_INT(fs_record_check_action("commitment", ap, FS_STATUS_SUBMITTED, MANAGER, 0, NULL, 0),
                 FS_RECORD_EUNKNOWN);
    CHECK_STR(fs_record_strerror(FS_RECORD_ESTATE), "the record's status does not allow it");
    CHECK_STR(fs_record_strerror(FS_RECORD_OK), "allowed");
}

/* The dashboard's writes: a review's columns of a plan, a whole spot-check. */
static void test_supervisor_cells(void)
{
    fs_cell review[] = {{"status", fs_text(FS_STATUS_APPROVED)},
                        {"approved_by", fs_text("li")},
                        {"approved_at", fs_text("2023-10-12")},
                        {"review_comment", fs_null()}};
    fs_cell goals[] = {{"goals", fs_text("rewritten")}};
    CHECK_EQ_INT(fs_record_check_supervisor_cells("weekly_plan", 1, review, 4, NULL, 0),
                 FS_RECORD_OK);
    CHECK_EQ_INT(fs_record_check_supervisor_cells("weekly_plan", 1, goals, 1, NULL, 0),
                 FS_RECORD_EROLE);
    CHECK_EQ_INT(fs_record_check_supervisor_cells("weekly_plan", 0, review, 4, NULL, 0),
                 FS_RECORD_EUNKNOWN);
    CHECK_EQ_INT(fs_record_check_supervisor_cells("customer", 1, goals, 1, NULL, 0),
                 FS_RECORD_EUNKNOWN);
    CHECK_EQ_INT(fs_record_check_supervisor_cells("spot_check", 0, goals, 1, NULL, 0),
                 FS_RECORD_OK);
    CHECK_EQ_INT(fs_record_check_supervisor_cells("spot_check", 1, goals, 1, NULL, 0),
                 FS_RECORD_EUNKNOWN);
}

/* The server's own record: no role writes any column of a handover, the
 * device's CLI (FS_RECORD_ANYONE) included. */
static void test_handover_is_the_servers(void)
{
    int t = fs_schema_table_index("handover");
    CHECK(t >= 0);
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    fs_value v = fs_text("wang");
    char why[128];
    const fs_record_role roles[] = {FS_RECORD_ANYONE, FS_RECORD_REP, FS_RECORD_MANAGER,
                                    FS_RECORD_ADMIN};
    for (unsigned c = 0; c < tables[t].ncolumns; c++)
        for (size_t k = 0; k < sizeof roles / sizeof roles[0]; k++) {
            CHECK_EQ_INT(fs_record_check_write((unsigned)t, c, &v, roles[k], 1, why, sizeof why),
                         FS_RECORD_EROLE);
            CHECK(strstr(why, "the server only") != NULL);
            CHECK_EQ_INT(fs_record_may_write("handover", tables[t].columns[c].name, roles[k], 1),
                         0);
        }
}

/* The tables only the server writes (a device re-syncing from a restored
 * server drops their rows, issue 25.2): exactly those no role may write a
 * column of, owner or not. */
static void test_server_only_tables(void)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    const fs_record_role roles[] = {FS_RECORD_ANYONE, FS_RECORD_REP, FS_RECORD_MANAGER,
                                    FS_RECORD_ADMIN};
    unsigned n = 0;
    for (unsigned t = 0; t < nt; t++) {
        int writable = 0;
        for (unsigned c = 1; c < tables[t].ncolumns; c++)
            for (size_t k = 0; k < sizeof roles / sizeof roles[0]; k++)
                for (int own = 0; own < 2; own++)
                    writable |= fs_record_may_write(tables[t].name, tables[t].columns[c].name,
                                                    roles[k], own);
        CHECK_EQ_INT(fs_record_server_only(t), !writable);
        n += (unsigned)fs_record_server_only(t);
    }
    static const char *const servers[] = {"handover", "charge", "refusal_tally", "roster",
                                          "team_setting"};
    for (size_t i = 0; i < sizeof servers / sizeof servers[0]; i++)
        CHECK_EQ_INT(fs_record_server_only((unsigned)fs_schema_table_index(servers[i])), 1);
    CHECK_EQ_INT(n, 5);
    CHECK_EQ_INT(fs_record_server_only((unsigned)fs_schema_table_index("customer")), 0);
    CHECK_EQ_INT(fs_record_server_only((unsigned)fs_schema_table_index("conflict")), 0);
    CHECK_EQ_INT(fs_record_server_only((unsigned)fs_schema_table_index("spot_check")), 0);
    CHECK_EQ_INT(fs_record_server_only(nt), 0);
}

/* Column groups (issue 25.7): every column a group names exists, each
 * group's columns find the same group, and a column in none finds 0. */
static void test_column_groups(void)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    size_t ng = 0;
    const fs_record_group *g = fs_record_groups(&ng);
    CHECK_EQ_INT(ng, 6);
    for (size_t i = 0; i < ng; i++) {
        int t = fs_schema_table_index(g[i].table);
        CHECK(t >= 0);
        uint32_t mask = 0;
        for (size_t k = 0; k < FS_RECORD_MAX_GROUP && g[i].columns[k] != NULL; k++) {
            column_exists(&tables[t], g[i].columns[k]);
            mask |= 1u << fs_schema_column_index(&tables[t], g[i].columns[k]);
        }
        for (size_t k = 0; k < FS_RECORD_MAX_GROUP && g[i].columns[k] != NULL; k++)
            CHECK_EQ_INT(fs_record_group_of((unsigned)t, (unsigned)fs_schema_column_index(
                                                             &tables[t], g[i].columns[k])),
                         mask);
    }
    int cm = fs_schema_table_index("commitment");
    CHECK_EQ_INT(
        fs_record_group_of((unsigned)cm, (unsigned)fs_schema_column_index(&tables[cm], "status")),
        (1u << fs_schema_column_index(&tables[cm], "status")) |
            (1u << fs_schema_column_index(&tables[cm], "done_at")));
    CHECK_EQ_INT(
        fs_record_group_of((unsigned)cm, (unsigned)fs_schema_column_index(&tables[cm], "text")), 0);
    CHECK_EQ_INT(fs_record_group_of((unsigned)fs_schema_table_index("customer"), 1), 0);
    CHECK_EQ_INT(fs_record_group_of(nt, 1), 0);
    CHECK_EQ_INT(fs_record_group_of((unsigned)cm, 99), 0);
}

/* Locks (issue 17 point 3): a submitted or approved weekly plan keeps its
 * content and its tombstone; its status and the review columns stay the
 * actions'; draft and returned plans, and kinds without locks, are open. */
static void test_plan_locks(void)
{
    unsigned wp = tix("weekly_plan");
    const char *content[] = {"deleted", "goals", "period_start", "period_end", "help_needed",
                             "rep"};
    const char *acted[] = {"status", "submitted_at", "approved_by", "approved_at",
                           "review_comment"};
    for (size_t i = 0; i < sizeof content / sizeof content[0]; i++) {
        CHECK_EQ_INT(fs_record_locked(wp, cix("weekly_plan", content[i]), FS_STATUS_SUBMITTED), 1);
        CHECK_EQ_INT(fs_record_locked(wp, cix("weekly_plan", content[i]), FS_STATUS_APPROVED), 1);
        CHECK_EQ_INT(fs_record_locked(wp, cix("weekly_plan", content[i]), FS_STATUS_DRAFT), 0);
        CHECK_EQ_INT(fs_record_locked(wp, cix("weekly_plan", content[i]), FS_STATUS_RETURNED), 0);
        CHECK_EQ_INT(fs_record_locked(wp, cix("weekly_plan", content[i]), NULL), 0);
    }
    for (size_t i = 0; i < sizeof acted / sizeof acted[0]; i++)
        CHECK_EQ_INT(fs_record_locked(wp, cix("weekly_plan", acted[i]), FS_STATUS_SUBMITTED), 0);
    /* a commitment done is still the rep's to correct */
    CHECK_EQ_INT(fs_record_locked(tix("commitment"), cix("commitment", "text"), FS_STATUS_DONE), 0);
    CHECK_EQ_INT(fs_record_locked(tix("visit"), cix("visit", "notes"), FS_STATUS_SUBMITTED), 0);
    CHECK_EQ_INT(fs_record_locked(wp, 99, FS_STATUS_SUBMITTED), 0);
    CHECK_EQ_INT(fs_record_locked(999, 1, FS_STATUS_SUBMITTED), 0);
    CHECK_STR(fs_record_open_statuses("weekly_plan"), "draft|returned");
    CHECK_STR(fs_record_open_statuses("visit"), "");
}

/* The sales records (issue 19.2): a deal's stage moves lead -> negotiating
 * -> won|lost, its stage and closing day one group; a contract is signed
 * from draft only, needs its legal review and identity check, and is
 * locked once signed (its checks included). */
static void test_sales_rules(void)
{
    CHECK_EQ_INT(fs_record_transition_ok("deal", "lead", "negotiating", FS_RECORD_REP), 1);
    CHECK_EQ_INT(fs_record_transition_ok("deal", "negotiating", "won", FS_RECORD_REP), 1);
    CHECK_EQ_INT(fs_record_transition_ok("deal", "lead", "lost", FS_RECORD_REP), 1);
    CHECK_EQ_INT(fs_record_transition_ok("deal", "won", "lost", FS_RECORD_REP), 0);
    CHECK_EQ_INT(fs_record_transition_ok("deal", "lost", "won", FS_RECORD_MANAGER), 0);
    unsigned deal = tix("deal"), con = tix("contract");
    CHECK_EQ_INT(fs_record_group_of(deal, cix("deal", "stage")),
                 (1u << cix("deal", "stage")) | (1u << cix("deal", "closed_at")));
    CHECK_EQ_INT(fs_record_group_of(deal, cix("deal", "amount")), 0);
    CHECK_EQ_INT(fs_record_group_of(con, cix("contract", "legal_at")),
                 (1u << cix("contract", "legal_by")) | (1u << cix("contract", "legal_at")));
    const fs_record_action *sign = fs_record_find_action("contract", "sign");
    CHECK(sign != NULL);
    CHECK_STR(sign->to, FS_STATUS_SIGNED);
    CHECK_STR(sign->needs[0], "legal_by");
    CHECK_STR(sign->needs[1], "legal_at");
    CHECK_STR(sign->needs[2], "licence_seen");
    CHECK_STR(sign->needs[3], "authorisation_seen");
    CHECK_EQ_INT(fs_record_check_action("contract", sign, FS_STATUS_SIGNED, FS_RECORD_REP, 1, NULL,
                                        0),
                 FS_RECORD_ESTATE);
    CHECK_EQ_INT(fs_record_locked(con, cix("contract", "legal_by"), FS_STATUS_SIGNED), 1);
    CHECK_EQ_INT(fs_record_locked(con, cix("contract", "amount"), FS_STATUS_SIGNED), 1);
    CHECK_EQ_INT(fs_record_locked(con, cix("contract", "amount"), FS_STATUS_DRAFT), 0);
    CHECK_EQ_INT(fs_record_locked(con, cix("contract", "status"), FS_STATUS_SIGNED), 0);
    /* a payment and a survey are plain records of the customer's holder */
    CHECK_EQ_INT(fs_record_may_write("payment", "amount", FS_RECORD_REP, 1), 1);
    CHECK_EQ_INT(fs_record_may_write("survey", "speed", FS_RECORD_MANAGER, 0), 1);
    CHECK_EQ_INT(fs_record_server_only(tix("survey")), 0);
}

TEST_LIST(TEST(sales_rules) TEST(column_groups) TEST(every_table_and_column) TEST(handover_is_the_servers)
              TEST(server_only_tables)
              TEST(weekly_plan_transitions) TEST(commitment_transitions)
                  TEST(role_column_permissions) TEST(push_check_of_values) TEST(action_checks)
                      TEST(supervisor_cells) TEST(plan_locks))
