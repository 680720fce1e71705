/*
 * The record types of the sales handbook (../shared/HANDBOOK.md) as synced
 * tables. Column 0 of every table is the tombstone "deleted". Append new
 * columns at the end of a table, and new tables at the end of the list: the
 * indexes are stored in change logs and travel between replicas.
 */
#include <string.h>

#include "fieldsync/schema.h"

#define DELETED {"deleted", FS_COL_BOOL, 0, NULL}
#define REQ FS_COL_REQUIRED

static const fs_column customer_cols[] = {
    DELETED,
    {"name", FS_COL_TEXT, REQ, NULL},
    {"industry", FS_COL_TEXT, 0, NULL},
    {"size", FS_COL_TEXT, 0, NULL},
    {"business_area", FS_COL_TEXT, 0, NULL},
    {"decision_chain", FS_COL_TEXT, 0, NULL},
    {"history", FS_COL_TEXT, 0, NULL},
    {"preferences", FS_COL_TEXT, 0, NULL},
    {"open_questions", FS_COL_TEXT, 0, NULL},
    {"key_account", FS_COL_BOOL, 0, NULL},
    {"owner", FS_COL_TEXT, 0, NULL}, /* the owning rep (user name) */
};

static const fs_column contact_cols[] = {
    DELETED,
    {"customer", FS_COL_ID, REQ, "customer"},
    {"name", FS_COL_TEXT, REQ, NULL},
    {"position", FS_COL_TEXT, 0, NULL},
    {"phone", FS_COL_TEXT, 0, NULL},
    {"email", FS_COL_TEXT, 0, NULL},
};

/* Form 1: customer visit record. */
static const fs_column visit_cols[] = {
    DELETED,
    {"customer", FS_COL_ID, REQ, "customer"},
    {"contact", FS_COL_TEXT, 0, NULL},  /* contact person */
    {"position", FS_COL_TEXT, 0, NULL}, /* the contact's position */
    {"time", FS_COL_DATETIME, REQ, NULL},
    {"place", FS_COL_TEXT, REQ, NULL},
    {"purpose", FS_COL_TEXT, REQ, NULL},
    {"notes", FS_COL_TEXT, REQ, NULL},
    {"objections", FS_COL_TEXT, 0, NULL},
    {"next_steps", FS_COL_TEXT, 0, NULL},
    {"visitor", FS_COL_TEXT, 0, NULL},
    {"recorded_at", FS_COL_DATETIME, 0, NULL},
};

static const fs_column commitment_cols[] = {
    DELETED,
    {"visit", FS_COL_ID, 0, "visit"},
    {"customer", FS_COL_ID, REQ, "customer"},
    {"text", FS_COL_TEXT, REQ, NULL},
    {"due", FS_COL_DATE, REQ, NULL},
    {"status", FS_COL_TEXT, 0, NULL}, /* open | done | cancelled */
    {"done_at", FS_COL_DATETIME, 0, NULL},
    {"customer_replied", FS_COL_BOOL, 0, NULL},
};

/* Form 2: weekly work plan, with its daily tasks in plan_task. */
static const fs_column weekly_plan_cols[] = {
    DELETED,
    {"rep", FS_COL_TEXT, REQ, NULL},
    {"period_start", FS_COL_DATE, REQ, NULL},
    {"period_end", FS_COL_DATE, REQ, NULL},
    {"goals", FS_COL_TEXT, REQ, NULL},
    {"help_needed", FS_COL_TEXT, 0, NULL},
    {"status", FS_COL_TEXT, 0, NULL}, /* draft | submitted | approved | returned */
    {"submitted_at", FS_COL_DATETIME, 0, NULL},
    {"approved_by", FS_COL_TEXT, 0, NULL}, /* supervisor's signature */
    {"approved_at", FS_COL_DATE, 0, NULL},
    {"review_comment", FS_COL_TEXT, 0, NULL},
};

static const fs_column plan_task_cols[] = {
    DELETED,
    {"plan", FS_COL_ID, REQ, "weekly_plan"},
    {"date", FS_COL_DATE, REQ, NULL},
    {"task", FS_COL_TEXT, REQ, NULL},
    {"expected_time", FS_COL_TEXT, 0, NULL},
    {"done", FS_COL_BOOL, 0, NULL},
};

/* Daily plan (before 09:00) and daily summary (before end of day). */
static const fs_column daily_report_cols[] = {
    DELETED,
    {"rep", FS_COL_TEXT, REQ, NULL},
    {"date", FS_COL_DATE, REQ, NULL},
    {"kind", FS_COL_TEXT, REQ, NULL}, /* plan | summary */
    {"visits", FS_COL_TEXT, 0, NULL},
    {"key_tasks", FS_COL_TEXT, 0, NULL},
    {"help_needed", FS_COL_TEXT, 0, NULL},
    {"content", FS_COL_TEXT, 0, NULL},
    {"submitted_at", FS_COL_DATETIME, 0, NULL},
};

/* Form 3: daily behaviour self-check, five yes/no items with improvements. */
static const fs_column self_check_cols[] = {
    DELETED,
    {"rep", FS_COL_TEXT, REQ, NULL},
    {"date", FS_COL_DATE, REQ, NULL},
    {"appearance", FS_COL_BOOL, 0, NULL},
    {"appearance_fix", FS_COL_TEXT, 0, NULL},
    {"communication", FS_COL_BOOL, 0, NULL},
    {"communication_fix", FS_COL_TEXT, 0, NULL},
    {"data_management", FS_COL_BOOL, 0, NULL},
    {"data_management_fix", FS_COL_TEXT, 0, NULL},
    {"teamwork", FS_COL_BOOL, 0, NULL},
    {"teamwork_fix", FS_COL_TEXT, 0, NULL},
    {"todos", FS_COL_BOOL, 0, NULL},
    {"todos_fix", FS_COL_TEXT, 0, NULL},
    {"submitted_at", FS_COL_DATETIME, 0, NULL},
};

static const fs_column complaint_cols[] = {
    DELETED,
    {"customer", FS_COL_ID, REQ, "customer"},
    {"owner", FS_COL_TEXT, REQ, NULL}, /* first receiver owns it to the end */
    {"received_at", FS_COL_DATETIME, REQ, NULL},
    {"description", FS_COL_TEXT, REQ, NULL},
    {"outcome", FS_COL_TEXT, 0, NULL},
    {"outcome_at", FS_COL_DATETIME, 0, NULL},
    {"satisfaction", FS_COL_INT, 0, NULL},
};

static const fs_column requirement_request_cols[] = {
    DELETED,
    {"customer", FS_COL_ID, REQ, "customer"},
    {"description", FS_COL_TEXT, REQ, NULL},
    {"confirmed_at", FS_COL_DATETIME, REQ, NULL},
    {"submitted_at", FS_COL_DATETIME, 0, NULL},
    {"signed_document", FS_COL_TEXT, 0, NULL},
};

static const fs_column acceptance_cols[] = {
    DELETED,
    {"customer", FS_COL_ID, REQ, "customer"},
    {"delivered_at", FS_COL_DATE, REQ, NULL},
    {"collected_at", FS_COL_DATE, 0, NULL},
    {"documents", FS_COL_TEXT, 0, NULL},
};

static const fs_column marketing_request_cols[] = {
    DELETED,
    {"rep", FS_COL_TEXT, REQ, NULL},
    {"event_date", FS_COL_DATE, REQ, NULL},
    {"goal", FS_COL_TEXT, REQ, NULL},
    {"budget", FS_COL_TEXT, 0, NULL},
    {"submitted_at", FS_COL_DATETIME, 0, NULL},
};

static const fs_column customer_question_cols[] = {
    DELETED,
    {"customer", FS_COL_ID, REQ, "customer"},
    {"question", FS_COL_TEXT, REQ, NULL},
    {"asked_at", FS_COL_DATETIME, REQ, NULL},
    {"answer", FS_COL_TEXT, 0, NULL},
    {"answered_at", FS_COL_DATETIME, 0, NULL},
};

/* A supervisor's spot-check of one record's accuracy. */
static const fs_column spot_check_cols[] = {
    DELETED,
    {"supervisor", FS_COL_TEXT, REQ, NULL},
    {"rep", FS_COL_TEXT, REQ, NULL},
    {"record_table", FS_COL_TEXT, REQ, NULL},
    {"record_id", FS_COL_BLOB, 0, NULL},
    {"accurate", FS_COL_BOOL, REQ, NULL},
    {"comment", FS_COL_TEXT, 0, NULL},
    {"checked_at", FS_COL_DATETIME, REQ, NULL},
};

/* A value that lost a concurrent write; written by the replica itself. Its
 * id is derived from (table, row, column, loser version). */
static const fs_column conflict_cols[] = {
    DELETED,
    {"tbl", FS_COL_INT, 0, NULL},
    {"row", FS_COL_BLOB, 0, NULL},
    {"col", FS_COL_INT, 0, NULL},
    {"loser_value", FS_COL_ANY, 0, NULL},
    {"loser_hlc", FS_COL_INT, 0, NULL},
    {"loser_device", FS_COL_BLOB, 0, NULL},
    {"winner_value", FS_COL_ANY, 0, NULL},
    {"winner_hlc", FS_COL_INT, 0, NULL},
    {"winner_device", FS_COL_BLOB, 0, NULL},
    {"status", FS_COL_INT, 0, NULL},
};

#define TABLE(n, flags) {#n, n##_cols, sizeof(n##_cols) / sizeof(n##_cols[0]), flags}

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
