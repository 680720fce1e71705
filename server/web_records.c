/*
 * The work itself, for a manager (issue 18 point 1): a customer's page
 * (profile, contacts, visits, commitments, complaints, questions,
 * requirement and acceptance records), a visit's page (Form 1 with when it
 * was recorded, its commitments, a spot-check of it) and a weekly plan's
 * page (Form 2: goals, each day's tasks, help needed, the supervisor's
 * signature; approve and return). All read from the server's replica, all
 * within the manager's team: a record of another team is "not found", as
 * one that does not exist. Every page read is audited (report_read, the
 * record's owner and kind; never its content).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/audit.h"
#include "fieldsync/attach.h"
#include "fieldsync/replica.h"
#include "fieldsync/schema.h"
#include "web_int.h"
#include "fieldsync/status_words.h" /* after web_int.h: its _() */

/* Column headings as the handbook's forms name them; others as named. */
static const struct {
    const char *column, *label;
} labels[] = {
    {"name", N_("Name")},
    {"industry", N_("Industry")},
    {"size", N_("Company size")},
    {"business_area", N_("Business area")},
    {"decision_chain", N_("Decision chain")},
    {"history", N_("Cooperation history")},
    {"preferences", N_("Preferences")},
    {"open_questions", N_("Open questions from the last contact")},
    {"key_account", N_("Key account")},
    {"owner", N_("Owner")},
    {"customer", N_("Customer")},
    {"contact", N_("Contact person")},
    {"position", N_("Position")},
    {"phone", N_("Phone")},
    {"email", N_("E-mail")},
    {"time", N_("Time")},
    {"place", N_("Place")},
    {"purpose", N_("Purpose")},
    {"notes", N_("Conversation notes")},
    {"objections", N_("Objections")},
    {"next_steps", N_("Next steps")},
    {"visitor", N_("Visitor")},
    {"recorded_at", N_("Recorded in the CRM")},
    {"text", N_("What was promised")},
    {"due", N_("Due")},
    {"done_at", N_("Done")},
    {"customer_replied", N_("Customer replied")},
    {"rep", N_("Rep")},
    {"period_start", N_("From")},
    {"period_end", N_("To")},
    {"goals", N_("Core goals of the week")},
    {"help_needed", N_("Help needed from other departments")},
    {"status", N_("Status")},
    {"submitted_at", N_("Submitted")},
    {"approved_by", N_("Supervisor's signature")},
    {"approved_at", N_("Signed on")},
    {"review_comment", N_("Review comment")},
    {"date", N_("Date")},
    {"task", N_("Task")},
    {"done", N_("Completed")},
    {"visit", N_("Visit")},
    {"plan", N_("Weekly plan")},
    {"expected_time", N_("Expected time")},
    {"description", N_("Description")},
    {"received_at", N_("Received")},
    {"outcome", N_("Outcome")},
    {"outcome_at", N_("Outcome told")},
    {"satisfaction", N_("Satisfaction")},
    {"question", N_("Question")},
    {"asked_at", N_("Asked")},
    {"answer", N_("Answer")},
    {"answered_at", N_("Answered")},
    {"confirmed_at", N_("Confirmed")},
    {"signed_document", N_("Signed document")},
    {"delivered_at", N_("Delivered")},
    {"collected_at", N_("Documents collected")},
    {"documents", N_("Documents")},
    {"title", N_("Title")},
    {"amount", N_("Amount")},
    {"stage", N_("Stage")},
    {"expected_close", N_("Expected close")},
    {"legal_by", N_("Legal review by")},
    {"legal_at", N_("Legal review on")},
    {"licence_seen", N_("Business licence seen")},
    {"authorisation_seen", N_("Authorisation seen")},
    {"quarter", N_("Quarter")},
    {"attitude", N_("Service attitude")},
    {"ability", N_("Professional ability")},
    {"speed", N_("Response speed")},
    {"comment", N_("Comment")},
    {"confirmed_how", N_("Confirmed how")},
};

/* A column some table names otherwise than the others do: a payment's
 * collected_at is the day the money came, not documents collected. */
static const struct {
    const char *table, *column, *label;
} table_labels[] = {
    {"payment", "collected_at", N_("Collected on")},
    {"visit_plan", "confirmed_at", N_("Confirmed by the customer")},
};

static const char *label_of(const char *table, const char *column)
{
    for (size_t i = 0; table != NULL && i < sizeof table_labels / sizeof table_labels[0]; i++)
        if (strcmp(table_labels[i].table, table) == 0 &&
            strcmp(table_labels[i].column, column) == 0)
            return _(table_labels[i].label);
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
        if (strcmp(labels[i].column, column) == 0)
            return _(labels[i].label);
    return column;
}

/* The page a record of table has, or NULL. */
static const char *page_of(const char *table)
{
    return strcmp(table, "customer") == 0      ? "/customer"
           : strcmp(table, "visit") == 0       ? "/visit"
           : strcmp(table, "weekly_plan") == 0 ? "/plan"
                                               : NULL;
}

void web__customer_name(fs_replica *r, const uint8_t id[FS_ID_BYTES], char *buf, size_t size)
{
    fs_rows *it = NULL;
    fs_value eq = fs_blob(id, FS_ID_BYTES), v;
    buf[0] = '\0';
    if (fs_rows_open(&it, r, "customer", "id", &eq, NULL) == 0 && fs_rows_next(it) == 1 &&
        fs_rows_get(it, "name", &v) == 0 && v.type == FS_TEXT)
        snprintf(buf, size, "%.*s", (int)v.n, (const char *)v.p);
    fs_rows_close(it);
}

/* The enrolled device whose id is in the walk: its user. */
typedef struct maker_walk {
    char hex[2 * FS_ID_BYTES + 1];
    char user[FS_USER_MAX + 1];
} maker_walk;

static int maker_device(const fs_store_device *d, void *ctx)
{
    maker_walk *w = ctx;
    if (strcmp(d->fingerprint, w->hex) != 0)
        return 0;
    snprintf(w->user, sizeof w->user, "%s", d->user);
    return 1;
}

/* The work a finding is about, as one table cell's contents: the record's
 * own words (a commitment's promise) linked to its page when it has one,
 * its customer by name and linked, and who made it when not the rep (a
 * customer handed over brings open work its former owner made, issue 24).
 * "-" when the finding has no record (a daily report not written). */
int web__finding_work(out *o, fs_replica *r, fs_store *store, const fs_finding *f,
                      uint8_t customer[FS_ID_BYTES], int *has_customer)
{
    fs_finding_record fr;
    int rc = fs_finding_record_read(r, f, &fr);
    if (rc != 0)
        return rc;
    if (has_customer != NULL) {
        *has_customer = fr.has_customer;
        memcpy(customer, fr.customer, FS_ID_BYTES);
    }
    /* A record with no column naming its maker (a customer question): the
     * server knows whose device wrote it first, whatever the replica could
     * tell from the records that device signed. */
    if (fr.has_maker_device && store != NULL) {
        maker_walk w = {.user = ""};
        fs_id_to_hex(fr.maker_device, w.hex);
        if (fs_store_devices(store, maker_device, &w) == 1 && w.user[0] != '\0')
            snprintf(fr.made_by, sizeof fr.made_by, "%s", strcmp(w.user, f->who) ? w.user : "");
    }
    const char *table = fs_finding_table(f);
    const char *page = page_of(table);
    char hex[2 * FS_ID_BYTES + 1], name[256];
    int said = 0;
    if (f->has_row && page != NULL && strcmp(table, "customer") != 0) {
        fs_id_to_hex(f->row, hex);
        web__putf(o, "<a href=\"%s?id=%s\">", page, hex);
        web__esc(o, fr.text != NULL                          ? fr.text
                    : strcmp(table, "visit") == 0       ? _("visit record")
                    : strcmp(table, "weekly_plan") == 0 ? _("weekly plan")
                                                                 : _("record"));
        web__puts(o, "</a>");
        said = 1;
    } else if (fr.text != NULL) {
        web__esc(o, fr.text);
        said = 1;
    }
    if (fr.has_customer) {
        web__customer_name(r, fr.customer, name, sizeof name);
        fs_id_to_hex(fr.customer, hex);
        web__putf(o, "%s<a href=\"/customer?id=%s\">", said ? " · " : "", hex);
        web__esc(o, name[0] ? name : _("(customer not held)"));
        web__puts(o, "</a>");
        said = 1;
    }
    if (fr.made_by[0]) {
        if (said)
            web__puts(o, " · ");
        out who = {0}; /* the name escaped, where the language puts it */
        web__esc(&who, fr.made_by);
        web__putf(o, _("made by %s"), who.p != NULL ? who.p : "");
        free(who.p);
        said = 1;
    }
    if (!said)
        web__puts(o, "–");
    fs_finding_record_free(&fr);
    return 0;
}

/* An amount in fen as CNY, ¥300,000.50 for 30000050 (a minus sign before
 * the ¥ for a negative one). */
static void money(out *o, long long fen)
{
    unsigned long long a = fen < 0 ? 0ull - (unsigned long long)fen : (unsigned long long)fen;
    char digits[32], grouped[48];
    int n = snprintf(digits, sizeof digits, "%llu", a / 100u);
    size_t g = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            grouped[g++] = ',';
        grouped[g++] = digits[i];
    }
    grouped[g] = '\0';
    web__putf(o, "%s¥%s.%02llu", fen < 0 ? "-" : "", grouped, a % 100u);
}

/* One value of column col of the current row, as HTML: text escaped, a
 * yes/no, an amount in fen as CNY, a reference linked to its page (a
 * customer by name). */
static void cell(out *o, fs_replica *r, const fs_column *col, const fs_value *v)
{
    if (v->type == FS_NULL) {
        web__puts(o, "–");
    } else if (col->type == FS_COL_BOOL && v->type == FS_INT) {
        web__puts(o, v->i ? _("yes") : _("no"));
    } else if (v->type == FS_TEXT) {
        char *t = strndup(v->p, v->n);
        /* a status in words of the page's language, other text as typed */
        int words = strcmp(col->name, "status") == 0 || strcmp(col->name, "stage") == 0;
        web__esc(o, t == NULL ? "" : words ? fs_status_words(t) : t);
        free(t);
    } else if (v->type == FS_INT && strcmp(col->name, "amount") == 0) {
        money(o, (long long)v->i); /* deal, payment, contract: fen */
    } else if (v->type == FS_INT) {
        web__putf(o, "%lld", (long long)v->i);
    } else if (v->type == FS_BLOB && v->n == FS_ID_BYTES && col->ref != NULL) {
        char hex[2 * FS_ID_BYTES + 1], name[200] = "";
        fs_id_to_hex(v->p, hex);
        const char *page = page_of(col->ref);
        if (strcmp(col->ref, "customer") == 0)
            web__customer_name(r, v->p, name, sizeof name);
        if (page != NULL)
            web__putf(o, "<a href=\"%s?id=%s\">", page, hex);
        if (name[0] != '\0')
            web__esc(o, name);
        else
            web__putf(o, "%.8s", hex);
        if (page != NULL)
            web__puts(o, "</a>");
    } else {
        web__esc(o, _("(binary)"));
    }
}

static const fs_table *table_of(const char *name)
{
    unsigned nt;
    const fs_table *t = fs_schema_tables(&nt);
    int i = fs_schema_table_index(name);
    return i >= 0 && (unsigned)i < nt ? &t[i] : NULL;
}

/* Every field of the current row but the bookkeeping ones, one per line. */
static void fields(out *o, fs_replica *r, const fs_table *t, fs_rows *it, const char *skip)
{
    web__puts(o, "<table class=\"record\">\n");
    for (unsigned c = 0; c < t->ncolumns; c++) {
        const fs_column *col = &t->columns[c];
        fs_value v;
        if (strcmp(col->name, "deleted") == 0 || (skip && strcmp(col->name, skip) == 0) ||
            fs_rows_get(it, col->name, &v) != 0)
            continue;
        web__puts(o, "<tr><th>");
        web__esc(o, label_of(t->name, col->name));
        web__puts(o, "</th><td>");
        cell(o, r, col, &v);
        web__puts(o, "</td></tr>\n");
    }
    web__puts(o, "</table>\n");
}

/* The rows of table whose parent_col is id, with the columns named (the
 * first linked to the row's page when it has one), under heading. */
static int children(out *o, fs_replica *r, const char *heading, const char *table,
                    const char *parent_col, const uint8_t id[FS_ID_BYTES], const char *const *cols,
                    const char *order)
{
    const fs_table *t = table_of(table);
    if (t == NULL)
        return 0;
    fs_rows *it = NULL;
    fs_value eq = fs_blob(id, FS_ID_BYTES);
    int rc = fs_rows_open(&it, r, table, parent_col, &eq, order);
    web__puts(o, "<h2>");
    web__esc(o, _(heading));
    web__puts(o, "</h2>\n<table><tr>");
    for (size_t k = 0; cols[k] != NULL; k++) {
        web__puts(o, "<th>");
        web__esc(o, label_of(table, cols[k]));
        web__puts(o, "</th>");
    }
    web__puts(o, "</tr>\n");
    size_t n = 0;
    const char *page = page_of(table);
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        rc = 0;
        char hex[2 * FS_ID_BYTES + 1];
        fs_id_to_hex(fs_rows_id(it), hex);
        web__puts(o, "<tr>");
        for (size_t k = 0; cols[k] != NULL; k++) {
            int ci = fs_schema_column_index(t, cols[k]);
            fs_value v;
            web__puts(o, "<td>");
            if (k == 0 && page != NULL)
                web__putf(o, "<a href=\"%s?id=%s\">", page, hex);
            if (ci >= 0 && fs_rows_get(it, cols[k], &v) == 0)
                cell(o, r, &t->columns[ci], &v);
            if (k == 0 && page != NULL)
                web__puts(o, "</a>");
            web__puts(o, "</td>");
        }
        web__puts(o, "</tr>\n");
        n++;
    }
    fs_rows_close(it);
    if (n == 0) {
        size_t ncols = 0;
        while (cols[ncols] != NULL)
            ncols++;
        web__putf(o, "<tr><td colspan=\"%zu\">%s</td></tr>\n", ncols, _("none"));
    }
    web__puts(o, "</table>\n");
    return rc < 0 ? rc : 0;
}

/* The text of column in the current row into buf ("" when not text). */
static void text_of(fs_rows *it, const char *column, char *buf, size_t size)
{
    fs_value v;
    buf[0] = '\0';
    if (fs_rows_get(it, column, &v) == 0 && v.type == FS_TEXT)
        snprintf(buf, size, "%.*s", (int)v.n, (const char *)v.p);
}

/* The files attached to the records whose column equals id (issue 19.3):
 * name, kind, size and a download link for the manager, or that the
 * bytes have not reached the server yet. */
static int attachments(out *o, fs_replica *r, const char *column, const uint8_t id[FS_ID_BYTES])
{
    fs_rows *it = NULL;
    fs_value eq = fs_blob(id, FS_ID_BYTES);
    int rc = fs_rows_open(&it, r, "attachment", column, &eq, "attached_at");
    web__putf(o, "<h2>%s</h2>\n<table><tr><th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr>\n",
              _("Attachments"), _("File"), _("Kind"), _("Bytes"), _("Attached at"));
    size_t n = 0;
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        rc = 0;
        fs_value h, z;
        char hex[2 * FS_ID_BYTES + 1], name[FS_ATTACH_NAME_MAX + 1], kind[32], at[20];
        if (fs_rows_get(it, "hash", &h) != 0 || h.type != FS_BLOB || h.n != FS_ATTACH_HASH ||
            fs_rows_get(it, "size", &z) != 0 || z.type != FS_INT || z.i <= 0)
            continue;
        fs_id_to_hex(fs_rows_id(it), hex);
        text_of(it, "name", name, sizeof name);
        text_of(it, "kind", kind, sizeof kind);
        text_of(it, "attached_at", at, sizeof at);
        size_t missing = 1;
        (void)fs_attach_missing(r, h.p, (uint64_t)z.i, NULL, 0, NULL, &missing);
        web__puts(o, "<tr><td>");
        if (missing == 0)
            web__putf(o, "<a href=\"/attachment?id=%s\">", hex);
        web__esc(o, name);
        if (missing == 0)
            web__puts(o, "</a>");
        else
            web__putf(o, " (%s)", _("not uploaded yet"));
        web__puts(o, "</td><td>");
        web__esc(o, kind);
        web__putf(o, "</td><td>%lld</td><td>", (long long)z.i);
        web__esc(o, at);
        web__puts(o, "</td></tr>\n");
        n++;
    }
    fs_rows_close(it);
    if (n == 0)
        web__putf(o, "<tr><td colspan=\"4\">%s</td></tr>\n", _("none"));
    web__puts(o, "</table>\n");
    return rc < 0 ? rc : 0;
}

static void not_found(fs_http_response *r, int status)
{
    out o = {0};
    web__page_start(&o, _("Not found"));
    if (status == 400)
        web__putf(&o, "<h1>%s</h1><p>%s</p>", _("No such record"), _("A record is named by its id."));
    else
        web__putf(&o, "<h1>%s</h1>", _("No such record in your team"));
    web__putf(&o, "<p><a href=\"/\">%s</a></p>\n", _("Back to the team"));
    web__finish(&o, r, status);
}

static void spotcheck_visit(out *o, const session *s, const char *rep, const char *hex)
{
    web__putf(o, "<h2>%s</h2>\n<form method=\"post\" action=\"/spotcheck\">",
              _("Spot-check this visit record"));
    web__hidden(o, "csrf", s->csrf);
    web__hidden(o, "rep", rep);
    web__hidden(o, "record", hex);
    web__spotcheck_fields(o);
}

void web__record_page(fs_store *store, const session *s, const char *kind,
                      const fs_http_request *rq, fs_http_response *r)
{
    const char *table = strcmp(kind, "plan") == 0 ? "weekly_plan" : kind;
    const fs_table *t = table_of(table);
    char hex[2 * FS_ID_BYTES + 2], owner[FS_USER_NAME_MAX + 1] = "";
    uint8_t id[FS_ID_BYTES];
    if (t == NULL || !web_form_field(rq->query, "id", hex, sizeof hex) ||
        strlen(hex) != 2 * FS_ID_BYTES || fs_id_from_hex(hex, id) != 0) {
        not_found(r, 400);
        return;
    }
    int tix = fs_schema_table_index(table);
    if (fs_store_owner(store, (unsigned)tix, id, owner) != 0 || owner[0] == '\0' ||
        !web__rep_in_team(store, s->team, owner)) {
        not_found(r, 404);
        return;
    }
    fs_replica *rep = fs_store_replica(store);
    fs_rows *it = NULL;
    fs_value eq = fs_blob(id, FS_ID_BYTES);
    if (fs_rows_open(&it, rep, table, "id", &eq, NULL) != 0 || fs_rows_next(it) != 1) {
        fs_rows_close(it);
        not_found(r, 404);
        return;
    }
    (void)fs_audit_append(fs_store_audit(store), "report_read", s->user, owner, kind);
    out o = {0};
    char title[512] = "", a[200], b[40];
    if (strcmp(table, "customer") == 0) {
        text_of(it, "name", title, sizeof title);
    } else if (strcmp(table, "visit") == 0) {
        fs_value c;
        a[0] = '\0';
        if (fs_rows_get(it, "customer", &c) == 0 && c.type == FS_BLOB && c.n == FS_ID_BYTES)
            web__customer_name(rep, c.p, a, sizeof a);
        text_of(it, "time", b, sizeof b);
        snprintf(title, sizeof title, _("Visit to %s, %s"), a[0] ? a : _("(unknown customer)"), b);
    } else {
        text_of(it, "period_start", a, sizeof a);
        text_of(it, "period_end", b, sizeof b);
        snprintf(title, sizeof title, _("Weekly plan of %s, %s .. %s"), owner, a, b);
    }
    web__page_start(&o, title);
    web__puts(&o, "<h1>");
    web__esc(&o, title);
    web__putf(&o, "</h1>\n<p><a href=\"/\">%s</a> — <a href=\"/rep?name=", _("team"));
    web__url_esc(&o, owner);
    web__puts(&o, "\">");
    web__esc(&o, owner);
    web__puts(&o, "</a></p>\n");
    fields(&o, rep, t, it, strcmp(table, "customer") == 0 ? "name" : NULL);
    char status[32] = "";
    if (strcmp(table, "weekly_plan") == 0)
        text_of(it, "status", status, sizeof status);
    fs_rows_close(it);
    int rc = 0;
    if (strcmp(table, "customer") == 0) {
        /* every kind of record that names the customer, in the handbook's
         * order, then the sales records (issue 19.2) */
        static const struct {
            const char *heading, *table, *order;
            const char *cols[7];
        } kinds[] = {
            {N_("Contacts"), "contact", "name", {"name", "position", "phone", "email"}},
            {N_("Visits"), "visit", "time", {"time", "purpose", "place", "contact", "notes"}},
            {N_("Commitments"), "commitment", "due", {"text", "due", "status", "done_at"}},
            {N_("Complaints"), "complaint", "received_at",
             {"received_at", "description", "outcome", "outcome_at"}},
            {N_("Questions"), "customer_question", "asked_at",
             {"asked_at", "question", "answer", "answered_at"}},
            {N_("Requirement requests"), "requirement_request", "confirmed_at",
             {"confirmed_at", "description", "signed_document"}},
            {N_("Acceptance documents"), "acceptance", "delivered_at",
             {"delivered_at", "collected_at", "documents"}},
            {N_("Deals"), "deal", "opened_at", {"title", "amount", "stage", "expected_close"}},
            {N_("Payments"), "payment", "collected_at", {"collected_at", "amount"}},
            {N_("Contracts"), "contract", "signed_at",
             {"amount", "status", "legal_by", "legal_at", "licence_seen", "authorisation_seen"}},
            {N_("Satisfaction surveys"), "survey", "quarter",
             {"quarter", "attitude", "ability", "speed", "comment"}},
            {N_("Visit plans"), "visit_plan", "time",
             {"time", "place", "purpose", "confirmed_at", "confirmed_how"}},
        };
        for (size_t k = 0; rc == 0 && k < sizeof kinds / sizeof kinds[0]; k++)
            rc = children(&o, rep, kinds[k].heading, kinds[k].table, "customer", id, kinds[k].cols,
                          kinds[k].order);
        if (rc == 0) /* every file kept with the customer's records */
            rc = attachments(&o, rep, "customer", id);
    } else if (strcmp(table, "visit") == 0) {
        static const char *const commits[] = {"text", "due", "status", "done_at", NULL};
        rc = children(&o, rep, N_("Commitments made at this visit"), "commitment", "visit", id,
                      commits, "due");
        if (rc == 0)
            rc = attachments(&o, rep, "record_id", id);
        spotcheck_visit(&o, s, owner, hex);
    } else {
        static const char *const tasks[] = {"date", "task", "expected_time", "done", NULL};
        rc = children(&o, rep, N_("Tasks, day by day"), "plan_task", "plan", id, tasks, "date");
        web__puts(&o, "<p>");
        web__plan_buttons(s, owner, hex, status, &o);
        web__puts(&o, "</p>\n");
    }
    if (rc != 0)
        web__putf(&o, "<p class=\"err\">%s</p>\n", _("Part of the record could not be read."));
    web__finish(&o, r, 200);
}

void web__attachment_download(fs_store *store, const session *s, const fs_http_request *rq,
                              fs_http_response *r)
{
    char hex[2 * FS_ID_BYTES + 2], owner[FS_USER_NAME_MAX + 1] = "";
    uint8_t id[FS_ID_BYTES];
    if (!web_form_field(rq->query, "id", hex, sizeof hex) || strlen(hex) != 2 * FS_ID_BYTES ||
        fs_id_from_hex(hex, id) != 0) {
        not_found(r, 400);
        return;
    }
    int tix = fs_schema_table_index("attachment");
    if (tix < 0 || fs_store_owner(store, (unsigned)tix, id, owner) != 0 || owner[0] == '\0' ||
        !web__rep_in_team(store, s->team, owner)) {
        not_found(r, 404);
        return;
    }
    fs_replica *rep = fs_store_replica(store);
    fs_attachment a;
    char full[2 * FS_ID_BYTES + 1];
    fs_id_to_hex(id, full);
    int ok = 0;
    if (fs_attach_find(rep, full, &a) != 0 || fs_attach_verify(rep, a.hash, a.size, &ok) != 0 ||
        !ok) {
        not_found(r, 404); /* unknown, or its bytes have not reached the server */
        return;
    }
    (void)fs_audit_append(fs_store_audit(store), "report_read", s->user, owner, "attachment");
    char *body = malloc((size_t)a.size);
    if (body == NULL) {
        r->status = 500;
        return;
    }
    uint32_t nc = fs_attach_nchunks(a.size);
    size_t at = 0;
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < nc; i++) {
        size_t n = 0;
        rc = fs_attach_get_chunk(rep, a.hash, i, (uint8_t *)body + at, &n);
        if (rc == 0 && n != fs_attach_chunk_len(a.size, i))
            rc = FS_EINTEGRITY;
        at += n;
    }
    if (rc != 0) {
        free(body);
        r->status = 500;
        return;
    }
    r->status = 200;
    r->content_type = "application/octet-stream";
    r->body = body;
    r->body_len = (size_t)a.size;
}
