/*
 * The record types of the sales handbook (../shared/HANDBOOK.md) as synced
 * tables. Column 0 of every table is the tombstone "deleted". Append new
 * columns at the end of a table, and new tables at the end of the list: the
 * indexes are stored in change logs and travel between replicas.
 */
#include <string.h>

#include "fieldsync/schema.h"

#define DELETED {"deleted", FS_COL_BOOL, 0, NULL, 0}
#define REQ FS_COL_REQUIRED

static const fs_column customer_cols[] = {
    DELETED,
    {"name", FS_COL_TEXT, REQ, NULL, 0},
    {"industry", FS_COL_TEXT, 0, NULL, 0},
    {"size", FS_COL_TEXT, 0, NULL, 0},
    {"business_area", FS_COL_TEXT, 0, NULL, 0},
    {"decision_chain", FS_COL_TEXT, 0, NULL, 0},
    {"history", FS_COL_TEXT, 0, NULL, 0},
    {"preferences", FS_COL_TEXT, 0, NULL, 0},
    {"open_questions", FS_COL_TEXT, 0, NULL, 0},
    {"key_account", FS_COL_BOOL, 0, NULL, 0},
    {"owner", FS_COL_TEXT, 0, NULL, 0}, /* the owning rep (user name) */
};

static const fs_column contact_cols[] = {
    DELETED,
    {"customer", FS_COL_ID, REQ, "customer", 0},
    {"name", FS_COL_TEXT, REQ, NULL, 0},
    {"position", FS_COL_TEXT, 0, NULL, 0},
    {"phone", FS_COL_TEXT, 0, NULL, 0},
    {"email", FS_COL_TEXT, 0, NULL, 0},
};

/* Form 1: customer visit record. */
static const fs_column visit_cols[] = {
    DELETED,
    {"customer", FS_COL_ID, REQ, "customer", 0},
    {"contact", FS_COL_TEXT, 0, NULL, 0},  /* contact person */
    {"position", FS_COL_TEXT, 0, NULL, 0}, /* the contact's position */
    {"time", FS_COL_DATETIME, REQ, NULL, 0},
    {"place", FS_COL_TEXT, REQ, NULL, 0},
    {"purpose", FS_COL_TEXT, REQ, NULL, 0},
    {"notes", FS_COL_TEXT, REQ, NULL, 0},
    {"objections", FS_COL_TEXT, 0, NULL, 0},
    {"next_steps", FS_COL_TEXT, 0, NULL, 0},
    {"visitor", FS_COL_TEXT, 0, NULL, 0},
    {"recorded_at", FS_COL_DATETIME, 0, NULL, 0},
};

static const fs_column commitment_cols[] = {
    DELETED,
    {"visit", FS_COL_ID, 0, "visit", 0},
    {"customer", FS_COL_ID, REQ, "customer", 0},
    {"text", FS_COL_TEXT, REQ, NULL, 0},
    {"due", FS_COL_DATE, REQ, NULL, 0},
    {"status", FS_COL_TEXT, 0, NULL, 0}, /* open | done | cancelled */
    {"done_at", FS_COL_DATETIME, 0, NULL, 0}, /* when it was done, as stated (--at) */
    {"customer_replied", FS_COL_BOOL, 0, NULL, 0},
    /* schema 5 (issue 17.6): when the done was recorded, whatever done_at says */
    {"done_recorded_at", FS_COL_DATETIME, 0, NULL, 5},
};

/* Form 2: weekly work plan, with its daily tasks in plan_task. */
static const fs_column weekly_plan_cols[] = {
    DELETED,
    {"rep", FS_COL_TEXT, REQ, NULL, 0},
    {"period_start", FS_COL_DATE, REQ, NULL, 0},
    {"period_end", FS_COL_DATE, REQ, NULL, 0},
    {"goals", FS_COL_TEXT, REQ, NULL, 0},
    {"help_needed", FS_COL_TEXT, 0, NULL, 0},
    {"status", FS_COL_TEXT, 0, NULL, 0}, /* draft | submitted | approved | returned */
    {"submitted_at", FS_COL_DATETIME, 0, NULL, 0},
    {"approved_by", FS_COL_TEXT, 0, NULL, 0}, /* supervisor's signature */
    {"approved_at", FS_COL_DATE, 0, NULL, 0},
    {"review_comment", FS_COL_TEXT, 0, NULL, 0},
};

static const fs_column plan_task_cols[] = {
    DELETED,
    {"plan", FS_COL_ID, REQ, "weekly_plan", 0},
    {"date", FS_COL_DATE, REQ, NULL, 0},
    {"task", FS_COL_TEXT, REQ, NULL, 0},
    {"expected_time", FS_COL_TEXT, 0, NULL, 0},
    {"done", FS_COL_BOOL, 0, NULL, 0},
};

/* Daily plan (before 09:00) and daily summary (before end of day). */
static const fs_column daily_report_cols[] = {
    DELETED,
    {"rep", FS_COL_TEXT, REQ, NULL, 0},
    {"date", FS_COL_DATE, REQ, NULL, 0},
    {"kind", FS_COL_TEXT, REQ, NULL, 0}, /* plan | summary */
    {"visits", FS_COL_TEXT, 0, NULL, 0},
    {"key_tasks", FS_COL_TEXT, 0, NULL, 0},
    {"help_needed", FS_COL_TEXT, 0, NULL, 0},
    {"content", FS_COL_TEXT, 0, NULL, 0},
    {"submitted_at", FS_COL_DATETIME, 0, NULL, 0},
};

/* Form 3: daily behaviour self-check, five yes/no items with improvements. */
static const fs_column self_check_cols[] = {
    DELETED,
    {"rep", FS_COL_TEXT, REQ, NULL, 0},
    {"date", FS_COL_DATE, REQ, NULL, 0},
    {"appearance", FS_COL_BOOL, 0, NULL, 0},
    {"appearance_fix", FS_COL_TEXT, 0, NULL, 0},
    {"communication", FS_COL_BOOL, 0, NULL, 0},
    {"communication_fix", FS_COL_TEXT, 0, NULL, 0},
    {"data_management", FS_COL_BOOL, 0, NULL, 0},
    {"data_management_fix", FS_COL_TEXT, 0, NULL, 0},
    {"teamwork", FS_COL_BOOL, 0, NULL, 0},
    {"teamwork_fix", FS_COL_TEXT, 0, NULL, 0},
    {"todos", FS_COL_BOOL, 0, NULL, 0},
    {"todos_fix", FS_COL_TEXT, 0, NULL, 0},
    {"submitted_at", FS_COL_DATETIME, 0, NULL, 0},
};

static const fs_column complaint_cols[] = {
    DELETED,
    {"customer", FS_COL_ID, REQ, "customer", 0},
    {"owner", FS_COL_TEXT, REQ, NULL, 0}, /* first receiver owns it to the end */
    {"received_at", FS_COL_DATETIME, REQ, NULL, 0},
    {"description", FS_COL_TEXT, REQ, NULL, 0},
    {"outcome", FS_COL_TEXT, 0, NULL, 0},
    {"outcome_at", FS_COL_DATETIME, 0, NULL, 0},
    {"satisfaction", FS_COL_INT, 0, NULL, 0},
};

static const fs_column requirement_request_cols[] = {
    DELETED,
    {"customer", FS_COL_ID, REQ, "customer", 0},
    {"description", FS_COL_TEXT, REQ, NULL, 0},
    {"confirmed_at", FS_COL_DATETIME, REQ, NULL, 0},
    {"submitted_at", FS_COL_DATETIME, 0, NULL, 0},
    {"signed_document", FS_COL_TEXT, 0, NULL, 0},
};

static const fs_column acceptance_cols[] = {
    DELETED,
    {"customer", FS_COL_ID, REQ, "customer", 0},
    {"delivered_at", FS_COL_DATE, REQ, NULL, 0},
    {"collected_at", FS_COL_DATE, 0, NULL, 0},
    {"documents", FS_COL_TEXT, 0, NULL, 0},
};

static const fs_column marketing_request_cols[] = {
    DELETED,
    {"rep", FS_COL_TEXT, REQ, NULL, 0},
    {"event_date", FS_COL_DATE, REQ, NULL, 0},
    {"goal", FS_COL_TEXT, REQ, NULL, 0},
    {"budget", FS_COL_TEXT, 0, NULL, 0},
    {"submitted_at", FS_COL_DATETIME, 0, NULL, 0},
};

static const fs_column customer_question_cols[] = {
    DELETED,
    {"customer", FS_COL_ID, REQ, "customer", 0},
    {"question", FS_COL_TEXT, REQ, NULL, 0},
    {"asked_at", FS_COL_DATETIME, REQ, NULL, 0},
    {"answer", FS_COL_TEXT, 0, NULL, 0},
    {"answered_at", FS_COL_DATETIME, 0, NULL, 0}, /* as stated (--at) */
    /* schema 5 (issue 17.6): when the answer was recorded */
    {"answered_recorded_at", FS_COL_DATETIME, 0, NULL, 5},
};

/* A supervisor's spot-check of one record's accuracy. */
static const fs_column spot_check_cols[] = {
    DELETED,
    {"supervisor", FS_COL_TEXT, REQ, NULL, 0},
    {"rep", FS_COL_TEXT, REQ, NULL, 0},
    {"record_table", FS_COL_TEXT, REQ, NULL, 0},
    {"record_id", FS_COL_BLOB, 0, NULL, 0},
    {"accurate", FS_COL_BOOL, REQ, NULL, 0},
    {"comment", FS_COL_TEXT, 0, NULL, 0},
    {"checked_at", FS_COL_DATETIME, REQ, NULL, 0},
};

/* Schema 2. A customer handed from one rep to another, written by the
 * server when it accepts the owner change (never by a device): who held
 * the customer before and after, and when (ms since the epoch, the owner
 * change's clock). The rules charge a deadline to the rep who held the
 * record when it fell. */
static const fs_column handover_cols[] = {
    {"deleted", FS_COL_BOOL, 0, NULL, 2},
    {"customer", FS_COL_ID, REQ, "customer", 2},
    {"from_rep", FS_COL_TEXT, 0, NULL, 2},
    {"to_rep", FS_COL_TEXT, REQ, NULL, 2},
    {"at", FS_COL_INT, REQ, NULL, 2},
};

/* A value that lost a concurrent write; written by the replica itself. Its
 * id is derived from (table, row, column, loser version). */
static const fs_column conflict_cols[] = {
    DELETED,
    {"tbl", FS_COL_INT, 0, NULL, 0},
    {"row", FS_COL_BLOB, 0, NULL, 0},
    {"col", FS_COL_INT, 0, NULL, 0},
    {"loser_value", FS_COL_ANY, 0, NULL, 0},
    {"loser_hlc", FS_COL_INT, 0, NULL, 0},
    {"loser_device", FS_COL_BLOB, 0, NULL, 0},
    {"winner_value", FS_COL_ANY, 0, NULL, 0},
    {"winner_hlc", FS_COL_INT, 0, NULL, 0},
    {"winner_device", FS_COL_BLOB, 0, NULL, 0},
    {"status", FS_COL_INT, 0, NULL, 0},
};

/* Schema 2. A deadline that fell while rep held a customer, as it stood
 * when the customer was handed over (fieldsync/rules.h: whose deadline);
 * written by the server in the push that hands the customer over, never by
 * a device. Owned by rep, who keeps it when the customer's records leave
 * their device. Times are civil, in the server's calendar. */
static const fs_column charge_cols[] = {
    {"deleted", FS_COL_BOOL, 0, NULL, 2},
    {"rep", FS_COL_TEXT, REQ, NULL, 2},
    {"rule", FS_COL_TEXT, REQ, NULL, 2}, /* fs_rule id */
    {"record_table", FS_COL_TEXT, 0, NULL, 2},
    {"record_id", FS_COL_BLOB, 0, NULL, 2},
    {"start", FS_COL_DATETIME, 0, NULL, 2},
    {"deadline", FS_COL_DATETIME, REQ, NULL, 2},
    {"done", FS_COL_DATETIME, 0, NULL, 2}, /* NULL: not done by the hand-over */
    {"period", FS_COL_DATE, 0, NULL, 2},   /* the month judged, for per-month rules */
    {"handed_at", FS_COL_INT, 0, NULL, 2}, /* the hand-over's `at` (ms) */
};

/* Schema 3. A device's refused changes still open on it (neither reverted
 * nor retried), as it last reported them in a PULL (protocol version 4):
 * written by the server, one row per device, owned by the device's user,
 * so the rep's manager sees them on their laptop (report compliance) as
 * well as on the dashboard. device: the device's fingerprint (the first 16
 * hex digits of its id, as the audit log names it); reason: the newest
 * open refusal's reason code (fieldsync/reason.h), 0 when none; at: ms
 * since the epoch, the server's time of the report. */
static const fs_column refusal_tally_cols[] = {
    {"deleted", FS_COL_BOOL, 0, NULL, 3},
    {"rep", FS_COL_TEXT, REQ, NULL, 3},
    {"device", FS_COL_TEXT, REQ, NULL, 3},
    {"open", FS_COL_INT, REQ, NULL, 3},
    {"reason", FS_COL_INT, 0, NULL, 3},
    {"at", FS_COL_INT, REQ, NULL, 3},
};

/* Schema 4. The team roster, as the server keeps it (server/store/users.c):
 * one row per user, written by the server when a user is added, moved to
 * another team, disabled or enabled, never by a device. Owned by the user
 * it names, so each team's manager holds the team's roster (and a rep
 * their own row): `customer edit --owner` accepts a name on it only
 * (client/roster.c). role: 1 rep, 2 manager, 3 admin (FS_READY_ROLE_*);
 * active: 0 for a disabled user (one who left). */
static const fs_column roster_cols[] = {
    {"deleted", FS_COL_BOOL, 0, NULL, 4},
    {"name", FS_COL_TEXT, REQ, NULL, 4},
    {"team", FS_COL_TEXT, REQ, NULL, 4},
    {"role", FS_COL_INT, REQ, NULL, 4},
    {"active", FS_COL_BOOL, REQ, NULL, 4},
};

/* Schema 5. A team's settings, as the server keeps them (`fieldsync-server
 * team set`, server/store/teamset.c): one row per team and setting, written
 * by the server only and seen by every member of the team (an admin: every
 * team's). setting names what value holds (fieldsync/teamcal.h): "tz" an
 * IANA zone, "hours" "HH:MM-HH:MM", "holidays" and "workdays" dates
 * "YYYY-MM-DD" joined by commas; a later fieldsync may add settings (an
 * export policy) without a new schema, and an older one ignores them. */
static const fs_column team_setting_cols[] = {
    {"deleted", FS_COL_BOOL, 0, NULL, 5},
    {"team", FS_COL_TEXT, REQ, NULL, 5},
    {"setting", FS_COL_TEXT, REQ, NULL, 5},
    {"value", FS_COL_TEXT, 0, NULL, 5},
};

/* Schema 6 (issue 19.2): the sales records. A deal is an opportunity with
 * a customer: its amount in CNY as integer fen (300,000.50 CNY is
 * 30000050), its stage (lead, negotiating, won, lost: the record rules'
 * status) and when it was opened, is expected to close and closed (won or
 * lost). It follows its customer. */
static const fs_column deal_cols[] = {
    {"deleted", FS_COL_BOOL, 0, NULL, 6},
    {"customer", FS_COL_ID, REQ, "customer", 6},
    {"title", FS_COL_TEXT, REQ, NULL, 6},
    {"amount", FS_COL_INT, REQ, NULL, 6}, /* fen */
    {"stage", FS_COL_TEXT, 0, NULL, 6},   /* lead | negotiating | won | lost */
    {"expected_close", FS_COL_DATE, 0, NULL, 6},
    {"opened_at", FS_COL_DATE, REQ, NULL, 6},
    {"closed_at", FS_COL_DATE, 0, NULL, 6}, /* won or lost on */
};

/* Schema 6. Money collected on a deal (回款): amount in fen, the day it
 * was collected. customer is the deal's (the CLI copies it), so a payment
 * follows the customer as the deal does. */
static const fs_column payment_cols[] = {
    {"deleted", FS_COL_BOOL, 0, NULL, 6},
    {"deal", FS_COL_ID, REQ, "deal", 6},
    {"customer", FS_COL_ID, REQ, "customer", 6},
    {"amount", FS_COL_INT, REQ, NULL, 6}, /* fen */
    {"collected_at", FS_COL_DATE, REQ, NULL, 6},
};

/* Schema 6. A contract of a deal with the handbook's checks before the
 * stamp: amount, delivery period and service standard each checked
 * against the deal ("matches"), the legal review (by whom, when), the
 * customer's identity (business licence and the legal representative's
 * authorisation seen). Marked signed only with the review and identity
 * recorded (fieldsync/records.h: needs). */
static const fs_column contract_cols[] = {
    {"deleted", FS_COL_BOOL, 0, NULL, 6},
    {"deal", FS_COL_ID, REQ, "deal", 6},
    {"customer", FS_COL_ID, REQ, "customer", 6},
    {"amount", FS_COL_INT, REQ, NULL, 6}, /* fen */
    {"delivery_period", FS_COL_TEXT, 0, NULL, 6},
    {"service_standard", FS_COL_TEXT, 0, NULL, 6},
    {"amount_matches", FS_COL_BOOL, 0, NULL, 6},
    {"delivery_matches", FS_COL_BOOL, 0, NULL, 6},
    {"service_matches", FS_COL_BOOL, 0, NULL, 6},
    {"legal_by", FS_COL_TEXT, 0, NULL, 6},
    {"legal_at", FS_COL_DATE, 0, NULL, 6},
    {"licence_seen", FS_COL_BOOL, 0, NULL, 6},
    {"authorisation_seen", FS_COL_BOOL, 0, NULL, 6},
    {"status", FS_COL_TEXT, 0, NULL, 6}, /* draft | signed */
    {"signed_at", FS_COL_DATE, 0, NULL, 6},
};

/* Schema 6. The quarterly satisfaction survey of a customer: quarter
 * "YYYY-Qn", service attitude, professional ability and response speed
 * scored 1-5, a comment. */
static const fs_column survey_cols[] = {
    {"deleted", FS_COL_BOOL, 0, NULL, 6},
    {"customer", FS_COL_ID, REQ, "customer", 6},
    {"quarter", FS_COL_TEXT, REQ, NULL, 6},
    {"attitude", FS_COL_INT, REQ, NULL, 6},
    {"ability", FS_COL_INT, REQ, NULL, 6},
    {"speed", FS_COL_INT, REQ, NULL, 6},
    {"comment", FS_COL_TEXT, 0, NULL, 6},
    {"surveyed_at", FS_COL_DATE, REQ, NULL, 6},
};

/* Schema 6 (issue 19.3). A file attached to a record (fieldsync/attach.h):
 * the record (its table's name and id), the record's customer (whose
 * owner's scope the attachment is in), the file's name, kind
 * (fs_attach_kinds), MIME type, size in bytes and BLAKE2b-256 hash. The
 * bytes are not a column: they travel in chunks by their hash (protocol
 * version 7) and are kept apart, in the replica's att_chunk table. */
static const fs_column attachment_cols[] = {
    {"deleted", FS_COL_BOOL, 0, NULL, 6},
    {"customer", FS_COL_ID, REQ, "customer", 6},
    {"record_table", FS_COL_TEXT, REQ, NULL, 6},
    {"record_id", FS_COL_BLOB, REQ, NULL, 6},
    {"name", FS_COL_TEXT, REQ, NULL, 6},
    {"kind", FS_COL_TEXT, REQ, NULL, 6},
    {"mime", FS_COL_TEXT, 0, NULL, 6},
    {"size", FS_COL_INT, REQ, NULL, 6},
    {"hash", FS_COL_BLOB, REQ, NULL, 6},
    {"attached_at", FS_COL_DATETIME, 0, NULL, 6},
};

/* Schema 6 (issue 19.2). A visit planned ahead: the customer, when and
 * where, why, and the route; planner is the rep who plans it (the device's
 * user). The handbook wants it confirmed with the customer by the working
 * day before (rule visit_confirmed): confirmed_at is when the customer
 * confirmed, as stated, confirmed_how by what means (phone, WeChat...),
 * confirm_recorded_at when the confirmation was recorded. visit: the visit
 * record that closed the plan (written when a visit to the customer is
 * recorded on the plan's day); NULL while the plan is open. */
static const fs_column visit_plan_cols[] = {
    {"deleted", FS_COL_BOOL, 0, NULL, 6},
    {"customer", FS_COL_ID, REQ, "customer", 6},
    {"time", FS_COL_DATETIME, REQ, NULL, 6},
    {"place", FS_COL_TEXT, REQ, NULL, 6},
    {"purpose", FS_COL_TEXT, REQ, NULL, 6},
    {"route_note", FS_COL_TEXT, 0, NULL, 6},
    {"planner", FS_COL_TEXT, 0, NULL, 6},
    {"confirmed_at", FS_COL_DATETIME, 0, NULL, 6},
    {"confirmed_how", FS_COL_TEXT, 0, NULL, 6},
    {"confirm_recorded_at", FS_COL_DATETIME, 0, NULL, 6},
    {"visit", FS_COL_ID, 0, "visit", 6},
};

#define TABLE(n, flags) {#n, n##_cols, sizeof(n##_cols) / sizeof(n##_cols[0]), flags, 0}
#define TABLE_SINCE(n, flags, v)                                                                   \
    {#n, n##_cols, sizeof(n##_cols) / sizeof(n##_cols[0]), flags, v}

static const fs_table tables[] = {
    TABLE(customer, 0),
    TABLE(contact, 0),
    TABLE(visit, 0),
    TABLE(commitment, 0),
    TABLE(weekly_plan, 0),
    TABLE(plan_task, 0),
    TABLE(daily_report, 0),
    TABLE(self_check, 0),
    TABLE(complaint, 0),
    TABLE(requirement_request, 0),
    TABLE(acceptance, 0),
    TABLE(marketing_request, 0),
    TABLE(customer_question, 0),
    TABLE(spot_check, 0),
    TABLE(conflict, FS_TABLE_INTERNAL),
    TABLE_SINCE(handover, 0, 2),
    TABLE_SINCE(charge, 0, 2),
    TABLE_SINCE(refusal_tally, 0, 3),
    TABLE_SINCE(roster, 0, 4),
    TABLE_SINCE(team_setting, 0, 5),
    TABLE_SINCE(deal, 0, 6),
    TABLE_SINCE(payment, 0, 6),
    TABLE_SINCE(contract, 0, 6),
    TABLE_SINCE(survey, 0, 6),
    TABLE_SINCE(attachment, 0, 6),
    TABLE_SINCE(visit_plan, 0, 6),
};

const fs_table *fs_schema_tables(unsigned *count)
{
    *count = sizeof(tables) / sizeof(tables[0]);
    return tables;
}

int fs_schema_table_index(const char *name)
{
    if (name == NULL)
        return -1;
    for (unsigned i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        if (strcmp(tables[i].name, name) == 0)
            return (int)i;
    return -1;
}

int fs_schema_column_index(const fs_table *t, const char *name)
{
    if (name == NULL)
        return -1;
    for (unsigned i = 0; i < t->ncolumns; i++)
        if (strcmp(t->columns[i].name, name) == 0)
            return (int)i;
    return -1;
}

int fs_schema_in_version(unsigned version, unsigned table, unsigned column)
{
    if (table >= sizeof(tables) / sizeof(tables[0]) || column >= tables[table].ncolumns)
        return 0;
    unsigned tv = tables[table].since ? tables[table].since : 1;
    unsigned cv = tables[table].columns[column].since ? tables[table].columns[column].since : 1;
    return tv <= version && cv <= version;
}

const char *fs_coltype_name(fs_coltype type)
{
    switch (type) {
    case FS_COL_TEXT:
        return "text";
    case FS_COL_INT:
        return "integer";
    case FS_COL_BOOL:
        return "boolean";
    case FS_COL_REAL:
        return "number";
    case FS_COL_ID:
        return "id";
    case FS_COL_DATE:
        return "date (YYYY-MM-DD)";
    case FS_COL_DATETIME:
        return "date and time (YYYY-MM-DD HH:MM)";
    case FS_COL_BLOB:
        return "bytes";
    case FS_COL_ANY:
        return "any";
    }
    return "?";
}
