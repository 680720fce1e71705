/*
 * The handbook's forms, one row each (the engine: cmd_form.c, form_input.c,
 * form_view.c). A row names its table, its fields (flag, column, kind,
 * required or not, default), its child items and its actions; the record
 * rules (fieldsync/records.h) say what an action needs and sets. Adding a
 * form is adding a row.
 *
 * Columns filled in by the form: the device's user (fieldsync whoami) in
 * the column the record rules sign a new record in (rep, owner or
 * supervisor); "now" as the time it was submitted.
 */
#include "cmd.h"
#include "form.h"
#include "i18n.h"

static const ffield contact_f[] = {
    {"--customer", "customer", FK_CUSTOMER, 1, N_("Customer (id or name)"), NULL, 0},
    {"--name", "name", FK_TEXT, 1, N_("Name"), NULL, 0},
    {"--position", "position", FK_TEXT, 0, N_("Position"), NULL, 0},
    {"--phone", "phone", FK_TEXT, 0, N_("Phone"), NULL, 0},
    {"--email", "email", FK_TEXT, 0, N_("E-mail"), NULL, 0},
};

static const ffield commitment_f[] = {
    {"--customer", "customer", FK_CUSTOMER, 1, N_("Customer (id or name)"), NULL, 0},
    {"--text", "text", FK_TEXT, 1, N_("What was promised"), NULL, 0},
    {"--due", "due", FK_DATE, 1, N_("Due (YYYY-MM-DD)"), NULL, 0},
    {"--visit", "visit", FK_REF, 0, N_("Visit id"), "visit", 0},
};
static const ffield done_f[] = {
    {"--replied", "customer_replied", FK_BOOL, 0, N_("Customer replied (yes/no)"), NULL, 0},
    {"--at", "done_at", FK_DATETIME, 0, N_("Done at (YYYY-MM-DD HH:MM)"), NULL, 0}};
static const faction commitment_a[] = {
    {"done", done_f, N(done_f),
     "commitment done ID [--replied yes|no] [--at \"YYYY-MM-DD HH:MM\"]"},
    {"cancel", NULL, 0, "commitment cancel ID"},
    {"replied", NULL, 0, "commitment replied ID"},
};

static const ffield plan_f[] = {
    {"--from", "period_start", FK_DATE, 1, N_("Week from (YYYY-MM-DD)"), NULL, 0},
    {"--to", "period_end", FK_DATE, 1, N_("Week to (YYYY-MM-DD)"), NULL, 0},
    {"--goals", "goals", FK_TEXT, 1, N_("Core goals of the week"), NULL, 0},
    {"--help-needed", "help_needed", FK_TEXT, 0, N_("Help needed from other departments"), NULL, 0},
};
static const fchild plan_tasks = {.flag = "--task",
                                  .table = "plan_task",
                                  .parent_col = "plan",
                                  .format = "YYYY-MM-DD|TASK|EXPECTED TIME",
                                  .cols = {"date", "task", "expected_time"},
                                  .kinds = {FK_DATE, FK_TEXT, FK_TEXT},
                                  .required = {1, 1, 0},
                                  .labels = {N_("A task's date (YYYY-MM-DD)"), N_("Task"),
                                             N_("Expected time (e.g. 15:00-16:00)")}};
static const ffield return_f[] = {
    {"--comment", "review_comment", FK_TEXT, 1, N_("Why it is returned"), NULL, 0}};
static const faction plan_a[] = {
    {"submit", NULL, 0, "plan submit ID"},
    {"approve", NULL, 0, "plan approve ID"},
    {"return", return_f, N(return_f), "plan return ID --comment TEXT"},
};

static const ffield daily_plan_f[] = {
    {"--date", "date", FK_DATE, 1, N_("Date"), NULL, 1},
    {"--visits", "visits", FK_TEXT, 1, N_("Customer visits planned"), NULL, 0},
    {"--key-tasks", "key_tasks", FK_TEXT, 0, N_("Key tasks"), NULL, 0},
    {"--help-needed", "help_needed", FK_TEXT, 0, N_("Help needed"), NULL, 0},
};
static const ffield daily_summary_f[] = {
    {"--date", "date", FK_DATE, 1, N_("Date"), NULL, 1},
    {"--content", "content", FK_TEXT, 1, N_("Summary of the day"), NULL, 0},
};

static const ffield selfcheck_f[] = {
    {"--date", "date", FK_DATE, 1, N_("Date"), NULL, 1},
    {"--appearance", "appearance", FK_BOOL, 1, N_("Professional appearance and conduct (yes/no)"),
     "--appearance-fix", 0},
    {"--appearance-fix", "appearance_fix", FK_TEXT, 0, N_("Appearance: improvement measure"), NULL,
     0},
    {"--communication", "communication", FK_BOOL, 1,
     N_("Listened, answered promptly, did not over-promise (yes/no)"), "--communication-fix", 0},
    {"--communication-fix", "communication_fix", FK_TEXT, 0,
     N_("Communication: improvement measure"), NULL, 0},
    {"--data-management", "data_management", FK_BOOL, 1,
     N_("CRM updated in time, data true (yes/no)"), "--data-management-fix", 0},
    {"--data-management-fix", "data_management_fix", FK_TEXT, 0,
     N_("Data management: improvement measure"), NULL, 0},
    {"--teamwork", "teamwork", FK_BOOL, 1, N_("Plan/summary on time, helped colleagues (yes/no)"),
     "--teamwork-fix", 0},
    {"--teamwork-fix", "teamwork_fix", FK_TEXT, 0, N_("Teamwork: improvement measure"), NULL, 0},
    {"--todos", "todos", FK_BOOL, 1, N_("Today's promised follow-ups done (yes/no)"), "--todos-fix",
     0},
    {"--todos-fix", "todos_fix", FK_TEXT, 0, N_("To-dos: improvement measure"), NULL, 0},
};

static const ffield complaint_f[] = {
    {"--customer", "customer", FK_CUSTOMER, 1, N_("Customer (id or name)"), NULL, 0},
    {"--description", "description", FK_TEXT, 1, N_("The complaint"), NULL, 0},
    {"--received-at", "received_at", FK_DATETIME, 1, N_("Received (YYYY-MM-DD HH:MM)"), NULL, 1},
};
static const ffield outcome_f[] = {
    {"--outcome", "outcome", FK_TEXT, 1, N_("Outcome told to the customer"), NULL, 0},
    {"--satisfaction", "satisfaction", FK_INT, 0, N_("Satisfaction (1-5)"), "1-5", 0},
};
static const faction complaint_a[] = {
    {"outcome", outcome_f, N(outcome_f),
     "complaint outcome ID --outcome TEXT [--satisfaction 1-5]"},
};

static const ffield request_f[] = {
    {"--customer", "customer", FK_CUSTOMER, 1, N_("Customer (id or name)"), NULL, 0},
    {"--description", "description", FK_TEXT, 1, N_("The requirement"), NULL, 0},
    {"--confirmed-at", "confirmed_at", FK_DATETIME, 1,
     N_("Confirmed by the customer (YYYY-MM-DD HH:MM)"), NULL, 0},
    {"--signed-document", "signed_document", FK_TEXT, 1, N_("Customer-signed requirement document"),
     NULL, 0},
};

static const ffield acceptance_f[] = {
    {"--customer", "customer", FK_CUSTOMER, 1, N_("Customer (id or name)"), NULL, 0},
    {"--delivered", "delivered_at", FK_DATE, 1, N_("Delivered (YYYY-MM-DD)"), NULL, 0},
    {"--collected", "collected_at", FK_DATE, 0, N_("Documents collected (YYYY-MM-DD)"), NULL, 0},
    {"--documents", "documents", FK_TEXT, 0, N_("Documents"), NULL, 0},
};
static const ffield collect_f[] = {
    {"--date", "collected_at", FK_DATE, 1, N_("Collected (YYYY-MM-DD)"), NULL, 1},
    {"--documents", "documents", FK_TEXT, 0, N_("Documents"), NULL, 0},
};
static const faction acceptance_a[] = {
    {"collect", collect_f, N(collect_f),
     "acceptance collect ID [--date YYYY-MM-DD] [--documents TEXT]"},
};

static const ffield marketing_f[] = {
    {"--event", "event_date", FK_DATE, 1, N_("Event date (YYYY-MM-DD)"), NULL, 0},
    {"--goal", "goal", FK_TEXT, 1, N_("Goal"), NULL, 0},
    {"--budget", "budget", FK_TEXT, 0, N_("Budget"), NULL, 0},
};

static const ffield question_f[] = {
    {"--customer", "customer", FK_CUSTOMER, 1, N_("Customer (id or name)"), NULL, 0},
    {"--question", "question", FK_TEXT, 1, N_("The question"), NULL, 0},
    {"--asked-at", "asked_at", FK_DATETIME, 1, N_("Asked (YYYY-MM-DD HH:MM)"), NULL, 1},
};
static const ffield answer_f[] = {
    {"--answer", "answer", FK_TEXT, 1, N_("Answer"), NULL, 0},
    {"--at", "answered_at", FK_DATETIME, 0, N_("Answered at (YYYY-MM-DD HH:MM)"), NULL, 0}};
static const faction question_a[] = {
    {"answer", answer_f, N(answer_f),
     "question answer ID --answer TEXT [--at \"YYYY-MM-DD HH:MM\"]"},
};

static const ffield spotcheck_f[] = {
    {"--rep", "rep", FK_TEXT, 0, N_("Rep whose record is checked (the record's own)"), NULL, 0},
    {"--table", "record_table", FK_CHOICE, 1, N_("Record kind"),
     "visit|customer|contact|commitment", 0},
    {"--record", "record_id", FK_REF, 1, N_("Record id"), "--table", 0},
    {"--accurate", "accurate", FK_BOOL, 1, N_("Accurate (yes/no)"), NULL, 0},
    {"--comment", "comment", FK_TEXT, 0, N_("Comment"), NULL, 0},
};

/* A customer (no --owner: the device's user owns what they record, and the
 * server makes the creator the owner as well; without a name set, none). */
static const ffield customer_f[] = {
    {"--name", "name", FK_TEXT, 1, N_("Company name"), NULL, 0},
    {"--key-account", "key_account", FK_FLAG, 0, N_("Key account"), NULL, 0},
    {"--industry", "industry", FK_TEXT, 0, N_("Industry"), NULL, 0},
    {"--size", "size", FK_TEXT, 0, N_("Company size"), NULL, 0},
    {"--business-area", "business_area", FK_TEXT, 0, N_("Business area"), NULL, 0},
    {"--decision-chain", "decision_chain", FK_TEXT, 0, N_("Decision chain"), NULL, 0},
    {"--history", "history", FK_TEXT, 0, N_("Cooperation history"), NULL, 0},
    {"--preferences", "preferences", FK_TEXT, 0, N_("Preferences"), NULL, 0},
    {"--open-questions", "open_questions", FK_TEXT, 0, N_("Open questions from the last contact"),
     NULL, 0},
    {"--owner", "owner", FK_USER, 0, N_("Owner"), NULL, 0},
    {"--duplicate", NULL, FK_FLAG, 0, N_("Another customer of a name recorded already"), NULL, 0},
};
/* customer edit: a customer keeps a name and an owner; --industry "" clears
 * it. Handing a customer to another rep: the server accepts it from a
 * manager of the team only (the record rules), and refuses it (kept, with
 * the reason, in status) from anyone else. */
static const ffield customer_edit_f[] = {
    {"--name", "name", FK_TEXT, 1, N_("Company name"), NULL, 0},
    {"--industry", "industry", FK_TEXT, 0, N_("Industry"), NULL, 0},
    {"--key-account", "key_account", FK_BOOL, 0, N_("Key account (yes/no)"), NULL, 0},
    {"--owner", "owner", FK_USER, 1, N_("Owner"), NULL, 0},
    {"--size", "size", FK_TEXT, 0, N_("Company size"), NULL, 0},
    {"--business-area", "business_area", FK_TEXT, 0, N_("Business area"), NULL, 0},
    {"--decision-chain", "decision_chain", FK_TEXT, 0, N_("Decision chain"), NULL, 0},
    {"--history", "history", FK_TEXT, 0, N_("Cooperation history"), NULL, 0},
    {"--preferences", "preferences", FK_TEXT, 0, N_("Preferences"), NULL, 0},
    {"--open-questions", "open_questions", FK_TEXT, 0, N_("Open questions from the last contact"),
     NULL, 0},
};

/* Form 1, the customer visit record, with the commitments made during the
 * visit (each with its own due date and status). */
static const ffield visit_f[] = {
    {"--customer", "customer", FK_CUSTOMER, 1, N_("Customer (id or name)"), NULL, 0},
    {"--time", "time", FK_DATETIME, 1, N_("Visit time (YYYY-MM-DD HH:MM)"), NULL, 0},
    {"--place", "place", FK_TEXT, 1, N_("Place"), NULL, 0},
    {"--purpose", "purpose", FK_TEXT, 1, N_("Purpose"), NULL, 0},
    {"--notes", "notes", FK_TEXT, 1, N_("Conversation notes"), NULL, 0},
    {NULL, "recorded_at", FK_NOW, 0, NULL, NULL, 0},
    {"--contact", "contact", FK_TEXT, 0, N_("Contact person"), NULL, 0},
    {"--position", "position", FK_TEXT, 0, N_("Position"), NULL, 0},
    {"--objections", "objections", FK_TEXT, 0, N_("Objections"), NULL, 0},
    {"--next", "next_steps", FK_TEXT, 0, N_("Next steps"), NULL, 0},
    {"--visitor", "visitor", FK_TEXT, 0, N_("Visitor"), NULL, 0},
    {"--confirm", NULL, FK_FLAG, 0, N_("A visit time more than 30 days from now"), NULL, 0},
    {"--duplicate", NULL, FK_FLAG, 0, N_("Another visit to the customer at that time (no note)"), NULL, 0},
};
static const fchild visit_commits = {
    .flag = "--commit",
    .table = "commitment",
    .parent_col = "visit",
    .format = "TEXT|YYYY-MM-DD",
    .cols = {"text", "due", NULL},
    .kinds = {FK_TEXT, FK_DATE, FK_TEXT},
    .required = {1, 1, 0},
    .copy_col = "customer",
    .no_show = 1,
    .split = visit_split_commit,
    .labels = {N_("A promise to the customer"), N_("Promised by (YYYY-MM-DD)"), NULL}};

/* Schema 6 (issue 19.2): the sales records. Amounts in CNY, "300000" or
 * "300,000.50", kept as fen (form_sales.c). */
static const ffield deal_f[] = {
    {"--customer", "customer", FK_CUSTOMER, 1, N_("Customer (id or name)"), NULL, 0},
    {"--title", "title", FK_TEXT, 1, N_("Deal"), NULL, 0},
    {"--amount", "amount", FK_MONEY, 1, N_("Amount (CNY)"), NULL, 0},
    {"--expected-close", "expected_close", FK_DATE, 0, N_("Expected close (YYYY-MM-DD)"), NULL, 0},
    {"--opened", "opened_at", FK_DATE, 1, N_("Opened (YYYY-MM-DD)"), NULL, 1},
};
static const ffield closed_f[] = {
    {"--at", "closed_at", FK_DATE, 0, N_("Closed on (YYYY-MM-DD)"), NULL, 0}};
static const faction deal_a[] = {
    {"negotiate", NULL, 0, "deal negotiate ID"},
    {"won", closed_f, N(closed_f), "deal won ID [--at YYYY-MM-DD]"},
    {"lost", closed_f, N(closed_f), "deal lost ID [--at YYYY-MM-DD]"},
};

static const ffield payment_f[] = {
    {"--deal", "deal", FK_REF, 1, N_("Deal (id or title)"), "deal", 0},
    {"--amount", "amount", FK_MONEY, 1, N_("Amount collected (CNY)"), NULL, 0},
    {"--date", "collected_at", FK_DATE, 1, N_("Collected on (YYYY-MM-DD)"), NULL, 1},
};

static const ffield contract_f[] = {
    {"--deal", "deal", FK_REF, 1, N_("Deal (id or title)"), "deal", 0},
    {"--amount", "amount", FK_MONEY, 1, N_("Contract amount (CNY)"), NULL, 0},
    {"--delivery-period", "delivery_period", FK_TEXT, 0, N_("Delivery period"), NULL, 0},
    {"--service-standard", "service_standard", FK_TEXT, 0, N_("Service standard"), NULL, 0},
    {"--amount-matches", "amount_matches", FK_BOOL, 0, N_("Amount matches the deal (yes/no)"),
     NULL, 0},
    {"--delivery-matches", "delivery_matches", FK_BOOL, 0,
     N_("Delivery period matches what was agreed (yes/no)"), NULL, 0},
    {"--service-matches", "service_matches", FK_BOOL, 0,
     N_("Service standard matches what was agreed (yes/no)"), NULL, 0},
    {"--legal-by", "legal_by", FK_TEXT, 0, N_("Legal review by"), NULL, 0},
    {"--legal-at", "legal_at", FK_DATE, 0, N_("Legal review on (YYYY-MM-DD)"), NULL, 0},
    {"--licence-seen", "licence_seen", FK_BOOL, 0, N_("Business licence seen (yes/no)"), NULL, 0},
    {"--authorisation-seen", "authorisation_seen", FK_BOOL, 0,
     N_("Legal representative's authorisation seen (yes/no)"), NULL, 0},
};
static const faction contract_a[] = {
    {"sign", NULL, 0, "contract sign ID"},
};

static const ffield survey_f[] = {
    {"--customer", "customer", FK_CUSTOMER, 1, N_("Customer (id or name)"), NULL, 0},
    {"--quarter", "quarter", FK_TEXT, 1, N_("Quarter (YYYY-Qn)"), NULL, 0},
    {"--attitude", "attitude", FK_INT, 1, N_("Service attitude (1-5)"), "1-5", 0},
    {"--ability", "ability", FK_INT, 1, N_("Professional ability (1-5)"), "1-5", 0},
    {"--speed", "speed", FK_INT, 1, N_("Response speed (1-5)"), "1-5", 0},
    {"--comment", "comment", FK_TEXT, 0, N_("Comment"), NULL, 0},
    {"--date", "surveyed_at", FK_DATE, 1, N_("Surveyed on (YYYY-MM-DD)"), NULL, 1},
};

/* A visit planned ahead (schema 6), and the customer's confirmation of it;
 * a visit to the customer on the plan's day closes it (visit_close_plans). */
static const ffield visit_plan_f[] = {
    {"--customer", "customer", FK_CUSTOMER, 1, N_("Customer (id or name)"), NULL, 0},
    {"--time", "time", FK_DATETIME, 1, N_("Planned time (YYYY-MM-DD HH:MM)"), NULL, 0},
    {"--place", "place", FK_TEXT, 1, N_("Place"), NULL, 0},
    {"--purpose", "purpose", FK_TEXT, 1, N_("Purpose"), NULL, 0},
    {"--route", "route_note", FK_TEXT, 0, N_("Route note"), NULL, 0},
    {"--confirm", NULL, FK_FLAG, 0, N_("A visit time more than 30 days from now"), NULL, 0},
    {"--duplicate", NULL, FK_FLAG, 0, N_("Another visit to the customer at that time (no note)"), NULL, 0},
};
static const ffield visit_confirm_f[] = {
    {"--how", "confirmed_how", FK_TEXT, 1, N_("How the customer confirmed (phone, WeChat...)"),
     NULL, 0},
    {"--at", "confirmed_at", FK_DATETIME, 0, N_("Confirmed at (YYYY-MM-DD HH:MM)"), NULL, 0}};
static const faction visit_plan_a[] = {
    {"confirm", visit_confirm_f, N(visit_confirm_f),
     "visit confirm ID --how TEXT [--at \"YYYY-MM-DD HH:MM\"]"},
};

/* What a careful supervisor checks (form_check_given, form_check_stored). */
static const fcheck contact_c[] = {{CK_PHONE, "--phone", NULL}, {CK_EMAIL, "--email", NULL}};
static const fcheck plan_c[] = {{CK_NOT_BEFORE, "--to", "--from"},
                                {CK_TASKS_WITHIN, "--from", "--to"},
                                {CK_NO_OVERLAP, "--from", "--to"}};
static const fcheck daily_c[] = {{CK_ONE_PER_DAY, "--date", NULL}};
static const fcheck complaint_c[] = {{CK_NOT_FUTURE, "--received-at", NULL}};
static const fcheck request_c[] = {{CK_NOT_FUTURE, "--confirmed-at", NULL}};
static const fcheck acceptance_c[] = {{CK_NOT_BEFORE, "--collected", "--delivered"},
                                      {CK_NOT_FUTURE, "--collected", NULL}};
static const fcheck question_c[] = {{CK_NOT_FUTURE, "--asked-at", NULL}};
static const fcheck customer_c[] = {{CK_UNIQUE_NAME, "--name", "--duplicate"}};
static const fcheck visit_c[] = {{CK_NEAR_NOW, "--time", "--confirm"},
                                  {CK_SAME_TIME, "--time", "--duplicate"}};
static const fcheck deal_c[] = {{CK_NOT_FUTURE, "--opened", NULL},
                                {CK_NOT_BEFORE, "--expected-close", "--opened"}};
static const fcheck payment_c[] = {{CK_NOT_FUTURE, "--date", NULL}};
static const fcheck contract_c[] = {{CK_NOT_FUTURE, "--legal-at", NULL}};
static const fcheck survey_c[] = {{CK_QUARTER, "--quarter", NULL}, {CK_NOT_FUTURE, "--date", NULL}};
static const fcheck visit_plan_c[] = {{CK_NEAR_NOW, "--time", "--confirm"},
                                       {CK_SAME_TIME, "--time", "--duplicate"}};

const fform form_table[] = {
    {
        .group = "contact",
        .table = "contact",
        .checks = contact_c,
        .nchecks = N(contact_c),
        .title = N_("contacts"),
        .add_name = "add",
        .fields = contact_f,
        .nfields = N(contact_f),
        .list_cols = {"customer", "name", "position", "phone", "email", NULL},
        .list = 1,
        .usage = "contact add --customer ID --name NAME [--position P] [--phone P] [--email E]",
    },
    {
        .group = "commitment",
        .table = "commitment",
        .title = N_("commitments"),
        .add_name = "add",
        .fields = commitment_f,
        .nfields = N(commitment_f),
        .list_cols = {"customer", "text", "due", "status", "done_at", NULL},
        .actions = commitment_a,
        .nactions = N(commitment_a),
        .list = 1,
        .usage = "commitment add --customer ID --text TEXT --due YYYY-MM-DD [--visit ID]",
    },
    {
        .group = "plan",
        .table = "weekly_plan",
        .checks = plan_c,
        .nchecks = N(plan_c),
        .title = N_("weekly plans"),
        .add_name = "add",
        .fields = plan_f,
        .nfields = N(plan_f),
        .list_cols = {"rep", "period_start", "period_end", "goals", "status", "approved_by",
                      "approved_at", NULL},
        .child = &plan_tasks,
        .actions = plan_a,
        .nactions = N(plan_a),
        .list = 1,
        .usage = "plan add --from DATE --to DATE --goals TEXT [--help-needed TEXT]\n"
                 "         [--task \"YYYY-MM-DD|TASK|EXPECTED TIME\"]...",
    },
    {
        .group = "daily",
        .table = "daily_report",
        .checks = daily_c,
        .nchecks = N(daily_c),
        .title = N_("daily plans and summaries"),
        .add_name = "plan",
        .fields = daily_plan_f,
        .nfields = N(daily_plan_f),
        .stamp_col = "submitted_at",
        .init_col = "kind",
        .init_val = "plan",
        .list_cols = {"rep", "date", "kind", "submitted_at", NULL},
        .list = 1,
        .usage = "daily plan [--date DATE] --visits TEXT [--key-tasks T] [--help-needed T]",
    },
    {
        .group = "daily",
        .table = "daily_report",
        .checks = daily_c,
        .nchecks = N(daily_c),
        .title = N_("daily plans and summaries"),
        .add_name = "summary",
        .fields = daily_summary_f,
        .nfields = N(daily_summary_f),
        .stamp_col = "submitted_at",
        .init_col = "kind",
        .init_val = "summary",
        .list_cols = {NULL},
        .usage = "daily summary [--date DATE] --content TEXT",
    },
    {
        .group = "selfcheck",
        .table = "self_check",
        .checks = daily_c,
        .nchecks = N(daily_c),
        .title = N_("self-checks"),
        .add_name = "add",
        .fields = selfcheck_f,
        .nfields = N(selfcheck_f),
        .stamp_col = "submitted_at",
        .list_cols = {"rep", "date", "submitted_at", NULL},
        .list = 1,
        .usage = "selfcheck add [--date DATE] --appearance yes|no --communication yes|no\n"
                 "         --data-management yes|no --teamwork yes|no --todos yes|no [--ITEM-fix "
                 "TEXT]...",
    },
    {
        .group = "complaint",
        .table = "complaint",
        .checks = complaint_c,
        .nchecks = N(complaint_c),
        .title = N_("complaints"),
        .add_name = "add",
        .fields = complaint_f,
        .nfields = N(complaint_f),
        .list_cols = {"customer", "description", "owner", "received_at", "outcome_at", "satisfaction",
                      NULL},
        .actions = complaint_a,
        .nactions = N(complaint_a),
        .list = 1,
        .usage =
            "complaint add --customer ID --description TEXT [--received-at \"YYYY-MM-DD HH:MM\"]",
    },
    {
        .group = "request",
        .table = "requirement_request",
        .checks = request_c,
        .nchecks = N(request_c),
        .title = N_("requirement requests"),
        .add_name = "add",
        .fields = request_f,
        .nfields = N(request_f),
        .stamp_col = "submitted_at",
        .list_cols = {"customer", "description", "confirmed_at", "submitted_at", NULL},
        .list = 1,
        .usage =
            "request add --customer ID --description TEXT --confirmed-at \"YYYY-MM-DD HH:MM\"\n"
            "         --signed-document TEXT",
    },
    {
        .group = "acceptance",
        .table = "acceptance",
        .checks = acceptance_c,
        .nchecks = N(acceptance_c),
        .title = N_("acceptance documents"),
        .add_name = "add",
        .fields = acceptance_f,
        .nfields = N(acceptance_f),
        .list_cols = {"customer", "delivered_at", "collected_at", "documents", NULL},
        .actions = acceptance_a,
        .nactions = N(acceptance_a),
        .list = 1,
        .usage =
            "acceptance add --customer ID --delivered DATE [--collected DATE] [--documents TEXT]",
    },
    {
        .group = "marketing",
        .table = "marketing_request",
        .title = N_("marketing requests"),
        .add_name = "add",
        .fields = marketing_f,
        .nfields = N(marketing_f),
        .stamp_col = "submitted_at",
        .list_cols = {"rep", "goal", "event_date", "submitted_at", NULL},
        .list = 1,
        .usage = "marketing add --event DATE --goal TEXT [--budget TEXT]",
    },
    {
        .group = "question",
        .table = "customer_question",
        .checks = question_c,
        .nchecks = N(question_c),
        .title = N_("customer questions"),
        .add_name = "add",
        .fields = question_f,
        .nfields = N(question_f),
        .list_cols = {"customer", "question", "asked_at", "answered_at", NULL},
        .actions = question_a,
        .nactions = N(question_a),
        .list = 1,
        .usage = "question add --customer ID --question TEXT [--asked-at \"YYYY-MM-DD HH:MM\"]",
    },
    {
        .group = "spotcheck",
        .table = "spot_check",
        .title = N_("spot-checks"),
        .add_name = "add",
        .fields = spotcheck_f,
        .nfields = N(spotcheck_f),
        .stamp_col = "checked_at",
        .list_cols = {"supervisor", "rep", "record_table", "accurate", "checked_at", NULL},
        .list = 1,
        .usage = "spotcheck add --table visit|customer|contact|commitment --record ID\n"
                 "         --accurate yes|no [--rep NAME] [--comment TEXT]",
        .complete = form_spotcheck_rep,
    },
    /* Customers and visits: their usage is main's, their lists their own. */
    {.group = "customer",
     .table = "customer",
     .title = N_("customers"),
     .add_name = "add",
     .fields = customer_f,
     .nfields = N(customer_f),
     .checks = customer_c,
     .nchecks = N(customer_c),
     .list = 1,
     .usage_full = USAGE_CUSTOMER_ADD,
     .by_command = 1,
     .what = "the customer",
     .me_default = "owner",
     .edit_name = "edit",
     .edit_id = "--customer",
     .edit_fields = customer_edit_f,
     .nedit_fields = N(customer_edit_f),
     .edit_usage_full = USAGE_CUSTOMER_EDIT,
     .list_rows = customer_list_rows},
    {.group = "visit",
     .table = "visit",
     .title = N_("visits"),
     .add_name = "add",
     .fields = visit_f,
     .nfields = N(visit_f),
     .child = &visit_commits,
     .list = 1,
     .usage_full = USAGE_VISIT_ADD,
     .checks = visit_c,
     .nchecks = N(visit_c),
     .by_command = 1,
     .what = "the visit",
     /* the rep who made the visit, by default: it stays theirs when the
      * customer is handed on (issue 24) */
     .me_default = "visitor",
     .list_rows = visit_list_rows,
     .list_page = visit_list_page,
     .written = visit_close_plans},
    {
        .group = "deal",
        .table = "deal",
        .checks = deal_c,
        .nchecks = N(deal_c),
        .title = N_("deals"),
        .add_name = "add",
        .fields = deal_f,
        .nfields = N(deal_f),
        .list_cols = {"customer", "title", "amount", "stage", "expected_close", "closed_at", NULL},
        .actions = deal_a,
        .nactions = N(deal_a),
        .list = 1,
        .usage = "deal add --customer ID --title TEXT --amount CNY [--expected-close DATE]\n"
                 "         [--opened DATE]",
    },
    {
        .group = "payment",
        .table = "payment",
        .checks = payment_c,
        .nchecks = N(payment_c),
        .title = N_("payments"),
        .add_name = "add",
        .fields = payment_f,
        .nfields = N(payment_f),
        .list_cols = {"customer", "amount", "collected_at", NULL},
        .list = 1,
        .usage = "payment add --deal ID --amount CNY [--date DATE]",
        .complete = form_deal_customer,
    },
    {
        .group = "contract",
        .table = "contract",
        .checks = contract_c,
        .nchecks = N(contract_c),
        .title = N_("contracts"),
        .add_name = "add",
        .fields = contract_f,
        .nfields = N(contract_f),
        .list_cols = {"customer", "amount", "status", "legal_by", "legal_at", "signed_at", NULL},
        .actions = contract_a,
        .nactions = N(contract_a),
        .list = 1,
        .usage = "contract add --deal ID --amount CNY [--delivery-period T] [--service-standard T]\n"
                 "         [--amount-matches yes|no] [--delivery-matches yes|no]\n"
                 "         [--service-matches yes|no] [--legal-by NAME] [--legal-at DATE]\n"
                 "         [--licence-seen yes|no] [--authorisation-seen yes|no]",
        .complete = form_deal_customer,
    },
    {
        .group = "survey",
        .table = "survey",
        .checks = survey_c,
        .nchecks = N(survey_c),
        .title = N_("surveys"),
        .add_name = "add",
        .fields = survey_f,
        .nfields = N(survey_f),
        .list_cols = {"customer", "quarter", "attitude", "ability", "speed", "surveyed_at", NULL},
        .list = 1,
        .usage = "survey add --customer ID --quarter YYYY-Qn --attitude 1-5 --ability 1-5\n"
                 "         --speed 1-5 [--comment TEXT] [--date DATE]",
    },
    /* `visit plan` and `visit confirm` (main.c sends them here): the group
     * is two words, so no single command word reaches it otherwise. */
    {
        .group = "visit plan",
        .table = "visit_plan",
        .checks = visit_plan_c,
        .nchecks = N(visit_plan_c),
        .title = N_("visit plans"),
        .add_name = "add",
        .fields = visit_plan_f,
        .nfields = N(visit_plan_f),
        .list_cols = {"customer", "time", "place", "purpose", "planner", "confirmed_at", "visit",
                      NULL},
        .actions = visit_plan_a,
        .nactions = N(visit_plan_a),
        .list = 1,
        .usage = "visit plan [add] --customer ID --time \"YYYY-MM-DD HH:MM\" --place P --purpose P\n"
                 "         [--route TEXT]",
    },
};

const size_t form_count = N(form_table);
