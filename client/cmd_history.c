/*
 * fieldsync history ID [--json] (issue 17 point 3): who changed which
 * field of a record, and when, oldest first and newest last, from the
 * replica (fs_row_history): every write this device made (its change log)
 * and, for a field another device wrote last, that write (a replica keeps
 * no older remote values). Any record kind, a deleted record too. Fields
 * are shown by the labels the forms ask for them with, translated; JSON
 * keeps the column names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "precheck.h"
#include "fieldsync/calendar.h"
#include "fieldsync/schema.h"
#include "form.h"
#include "i18n.h"
#include "record.h"
#include "table.h"

/* Columns no form asks for, in the rep's words. */
static const struct {
    const char *column, *label;
} labels[] = {
    {"deleted", N_("Deleted")},
    {"status", N_("Status")},
    {"stage", N_("Stage")},
    {"recorded_at", N_("Recorded at")},
    {"done_recorded_at", N_("Done recorded at")},
    {"answered_recorded_at", N_("Answer recorded at")},
    {"confirm_recorded_at", N_("Confirmation recorded at")},
    {"planner", N_("Planned by")},
    {"submitted_at", N_("Submitted at")},
    {"approved_by", N_("Reviewed by")},
    {"approved_at", N_("Reviewed at")},
    {"review_comment", N_("Review comment")},
    {"done_at", N_("Done at")},
    {"outcome_at", N_("Outcome told at")},
    {"answered_at", N_("Answered at")},
    {"owner", N_("Owner")},
    {"rep", N_("Rep")},
    {"kind", N_("Kind")},
    {"supervisor", N_("Supervisor")},
    {"checked_at", N_("Checked at")},
    /* a plan's tasks (plan show, history of a task) */
    {"date", N_("Date")},
    {"task", N_("Task")},
    {"expected_time", N_("Expected time")},
};

static const char *label_in(const ffield *f, size_t n, const char *column)
{
    for (size_t i = 0; f != NULL && i < n; i++)
        if (f[i].column != NULL && f[i].label != NULL && strcmp(f[i].column, column) == 0)
            return f[i].label;
    return NULL;
}

/* The label of column of table, untranslated (N_): a form's, else ours,
 * else the column's own name. A customer reference is the customer (the
 * value shows its name), not its id. */
static const char *label_of(const char *table, const char *column)
{
    if (strcmp(column, "customer") == 0)
        return N_("Customer");
    for (size_t i = 0; i < form_count; i++) {
        const fform *fm = &form_table[i];
        if (strcmp(fm->table, table) != 0)
            continue;
        const char *l = label_in(fm->fields, fm->nfields, column);
        if (l == NULL)
            l = label_in(fm->edit_fields, fm->nedit_fields, column);
        for (size_t k = 0; l == NULL && k < fm->nactions; k++)
            l = label_in(fm->actions[k].flags, fm->actions[k].nflags, column);
        if (l != NULL)
            return l;
    }
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
        if (strcmp(labels[i].column, column) == 0)
            return labels[i].label;
    return column;
}

/* The label translated, without the form's hint of how to type the value
 * ("Visit time (YYYY-MM-DD HH:MM)": "Visit time"; "拜访时间（YYYY-MM-DD
 * HH:MM）": "拜访时间"): history shows values, not how to type them. */
const char *form_field_name(const char *table, const char *column, char *buf, size_t size)
{
    snprintf(buf, size, "%s", _(label_of(table, column)));
    size_t n = strlen(buf);
    static const struct {
        const char *open, *close;
    } hints[] = {{" (", ")"}, {"\xef\xbc\x88", "\xef\xbc\x89"}}; /* ( ), full-width ( ) */
    for (size_t k = 0; k < sizeof hints / sizeof hints[0]; k++) {
        size_t cn = strlen(hints[k].close);
        if (n <= cn || strcmp(buf + n - cn, hints[k].close) != 0)
            continue;
        char *open = NULL;
        for (char *p = strstr(buf, hints[k].open); p != NULL; p = strstr(p + 1, hints[k].open))
            open = p;
        if (open != NULL && open != buf) {
            *open = '\0';
            break;
        }
    }
    return buf;
}

typedef struct hist_ctx {
    fs_replica *r;
    const fs_table *t;
    char me[FS_USER_MAX + 1];
    int json;
    cli_table *tab;
    cJSON *arr;
    int rc;
} hist_ctx;

/* The customer's name, when this replica holds the customer: 1, else 0. */
static int customer_name(fs_replica *r, const fs_value *v, char *buf, size_t size)
{
    fs_rows *it = NULL;
    fs_value eq = fs_blob(v->p, FS_ID_BYTES), name;
    int found = 0;
    if (fs_rows_open(&it, r, "customer", "id", &eq, NULL) == 0 && fs_rows_next(it) == 1 &&
        fs_rows_get(it, "name", &name) == 0 && name.type == FS_TEXT && name.n > 0) {
        snprintf(buf, size, "%.*s", (int)(name.n < size ? name.n : size - 1), (const char *)name.p);
        found = 1;
    }
    fs_rows_close(it);
    return found;
}

static void value_text(fs_replica *r, const fs_column *col, const fs_value *v, char *buf,
                       size_t size)
{
    if (v->type == FS_BLOB && v->n == FS_ID_BYTES && col->ref != NULL &&
        strcmp(col->ref, "customer") == 0 && customer_name(r, v, buf, size))
        return;
    if (v->type == FS_NULL || (v->type == FS_TEXT && v->n == 0))
        snprintf(buf, size, "%s", _("(empty)"));
    else if (col->type == FS_COL_BOOL && v->type == FS_INT)
        snprintf(buf, size, "%s", v->i ? _("yes") : _("no"));
    else if (v->type == FS_INT)
        snprintf(buf, size, "%lld", (long long)v->i);
    else if (v->type == FS_TEXT)
        snprintf(buf, size, "%.*s", (int)(v->n < size ? v->n : size - 1), (const char *)v->p);
    else if (v->type == FS_BLOB && v->n == FS_ID_BYTES) {
        char hex[2 * FS_ID_BYTES + 1];
        fs_id_to_hex(v->p, hex);
        snprintf(buf, size, "%.8s", hex);
    } else
        snprintf(buf, size, _("%zu bytes"), v->n);
}

static int one(const fs_history_entry *e, void *arg)
{
    hist_ctx *h = arg;
    const fs_column *col = &h->t->columns[e->column];
    char when[24], dev[2 * FS_ID_BYTES + 1], who[FS_USER_MAX + 48], label[160];
    int64_t ms = (int64_t)(e->version.hlc >> 16);
    if (fs_instant_format(when, sizeof when, ms, 0, "%Y-%m-%d %H:%M:%S") != 0)
        snprintf(when, sizeof when, "?");
    fs_id_to_hex(e->version.device, dev);
    if (e->local && h->me[0] != '\0')
        snprintf(who, sizeof who, "%s", h->me);
    else if (e->local)
        snprintf(who, sizeof who, "%s", _("this device"));
    else
        snprintf(who, sizeof who, _("device %.8s"), dev);
    if (h->json) {
        cJSON *o = cJSON_CreateObject();
        int rc = o == NULL ? FS_ENOMEM : 0;
        if (rc == 0)
            rc = rec_json_add(o, "at", cJSON_CreateString(when));
        if (rc == 0)
            rc = rec_json_add(o, "at_ms", cJSON_CreateNumber((double)ms));
        if (rc == 0)
            rc = rec_json_add(o, "device", cJSON_CreateString(dev));
        if (rc == 0)
            rc = rec_json_add(o, "this_device", cJSON_CreateBool(e->local));
        if (rc == 0)
            rc = rec_json_add(o, "user", e->local && h->me[0] ? cJSON_CreateString(h->me)
                                                              : cJSON_CreateNull());
        if (rc == 0)
            rc = rec_json_add(o, "field", cJSON_CreateString(col->name));
        if (rc == 0)
            rc = rec_json_add(
                o, "label",
                cJSON_CreateString(form_field_name(h->t->name, col->name, label, sizeof label)));
        if (rc == 0)
            rc = rec_json_add(o, "value", rec_value_json(col, &e->value));
        if (rc == 0)
            rc = rec_json_add(h->arr, NULL, o);
        else
            cJSON_Delete(o);
        return rc;
    }
    char value[256];
    value_text(h->r, col, &e->value, value, sizeof value);
    const char *cells[] = {when, who, form_field_name(h->t->name, col->name, label, sizeof label),
                           value};
    return cli_table_add(h->tab, cells);
}

/* A record of any named kind (fs_name_column) found by its name: the one
 * match in *tix and id (1 in *found), none (0), or several, listed with
 * their kinds (CLI_EUSAGE). A rep asks for "the history of 华信". */
static int by_name(fs_replica *r, const char *text, unsigned *tix, uint8_t id[FS_ID_BYTES],
                   int *found)
{
    unsigned nt;
    const fs_table *ts = fs_schema_tables(&nt);
    fs_name_match m[8];
    struct {
        unsigned tix;
        fs_name_match m;
    } hits[8];
    size_t nh = 0, total = 0;
    *found = 0;
    for (unsigned i = 0; i < nt; i++) {
        if (fs_name_column(ts[i].name) == NULL)
            continue;
        size_t n = 0;
        int frc = fs_match_name(r, ts[i].name, text, m, sizeof m / sizeof m[0], &n);
        if (frc != 0)
            return cli_fail(r, "history", frc);
        for (size_t k = 0; k < n && k < sizeof m / sizeof m[0]; k++)
            if (nh < sizeof hits / sizeof hits[0]) {
                hits[nh].tix = i;
                hits[nh].m = m[k];
                nh++;
            }
        total += n;
    }
    if (total == 0)
        return CLI_OK;
    if (total == 1) {
        *tix = hits[0].tix;
        memcpy(id, hits[0].m.id, FS_ID_BYTES);
        *found = 1;
        return CLI_OK;
    }
    char shown[160];
    cli_error(_("ID: %zu records match %s; give the id of the one you mean:"), total,
              cli_typed(text, shown, sizeof shown));
    for (size_t i = 0; i < nh; i++) {
        char hex[2 * FS_ID_BYTES + 1];
        fs_id_to_hex(hits[i].m.id, hex);
        fprintf(stderr, "  %.8s  %s  %s\n", hex, cli_kind_word(ts[hits[i].tix].name),
                hits[i].m.name);
    }
    if (total > nh)
        fprintf(stderr, _("  ... and %zu more\n"), total - nh);
    return CLI_EUSAGE;
}

int cmd_history(cli_ctx *ctx, int argc, char **argv)
{
    const char *hex = NULL;
    int json = 0;
    int rc = cli_parse_id_json(ctx, USAGE_HISTORY, _("history: give the record's id (as 'list' shows it)"), argc, argv, &hex, &json);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    rc = cli_check_ref("ID", NULL, hex);
    if (rc != CLI_OK)
        return rc;
    fs_replica *r = NULL;
    rc = cli_open(ctx, &r);
    if (rc != CLI_OK)
        return rc;
    unsigned tix = 0;
    uint8_t id[FS_ID_BYTES];
    int frc = fs_find_row(r, hex, &tix, id);
    if (frc == FS_EINVAL || frc == FS_ENOTFOUND) { /* not an id here: a name? */
        int found = 0;
        rc = by_name(r, hex, &tix, id, &found);
        if (rc == CLI_OK && found)
            frc = 0;
        else if (rc == CLI_OK && frc == FS_EINVAL) {
            char shown[160];
            cli_error(_("ID: no record with the id or name %s here"),
                      cli_typed(hex, shown, sizeof shown));
            rc = CLI_EUSAGE;
        }
        if (rc != CLI_OK) {
            fs_replica_close(r);
            return rc;
        }
    }
    if (frc == FS_ENOTFOUND || frc == FS_EEXIST) {
        if (frc == FS_ENOTFOUND)
            cli_error(_("ID: no record with id %s here"), hex);
        else
            cli_error(_("ID: %s matches more than one record; give more digits"), hex);
        fs_replica_close(r);
        return CLI_EUSAGE;
    }
    if (frc != 0) {
        rc = cli_fail(r, "history", frc);
        fs_replica_close(r);
        return rc;
    }
    unsigned nt;
    hist_ctx h = {.r = r, .t = &fs_schema_tables(&nt)[tix], .json = json};
    if (fs_replica_user(r, h.me) != 0)
        h.me[0] = '\0';
    static const cli_column cols[] = {
        {N_("WHEN"), 19}, {N_("WHO"), 24}, {N_("FIELD"), 30}, {N_("VALUE"), 60}};
    cJSON *root = NULL;
    if (json) {
        root = cJSON_CreateObject();
        h.arr = cJSON_CreateArray();
        char full[2 * FS_ID_BYTES + 1];
        fs_id_to_hex(id, full);
        frc = root == NULL ? FS_ENOMEM : rec_json_add(root, "table", cJSON_CreateString(h.t->name));
        if (frc == 0)
            frc = rec_json_add(root, "id", cJSON_CreateString(full));
        if (frc == 0)
            frc = rec_json_add(root, "changes", h.arr);
        else
            cJSON_Delete(h.arr);
    } else {
        frc = cli_table_new(&h.tab, cols, 4);
    }
    if (frc == 0)
        frc = fs_row_history(r, tix, id, one, &h);
    if (frc == 0 && json)
        frc = rec_json_print(root, stdout);
    else if (frc == 0)
        cli_table_print(h.tab, stdout);
    if (frc != 0)
        rc = cli_fail(r, "history", frc);
    cJSON_Delete(root);
    cli_table_free(h.tab);
    fs_replica_close(r);
    return rc;
}

/* ---- undelete ID ---- */

/* A record deleted by mistake brought back (fs_undelete): by its id, as
 * delete printed it or history shows it (a deleted record has no name to
 * find it by). Only the kinds a rep records with a form; the record rules
 * are checked as for any write (a record of a customer handed away stays
 * where it is). */
int cmd_undelete(cli_ctx *ctx, int argc, char **argv)
{
    const char *hex = NULL;
    int json = 0;
    int rc = cli_parse_id_json(ctx, USAGE_UNDELETE,
                               _("undelete: give the deleted record's id (as delete printed it)"),
                               argc, argv, &hex, &json);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    if (json) {
        cli_error(_("undelete: unknown option --json"));
        return CLI_EUSAGE;
    }
    rc = cli_check_idprefix("ID", hex);
    fs_replica *r = NULL;
    if (rc == CLI_OK)
        rc = cli_open(ctx, &r);
    if (rc != CLI_OK)
        return rc;
    unsigned tix = 0, nt;
    uint8_t id[FS_ID_BYTES];
    int frc = fs_find_row(r, hex, &tix, id);
    const fs_table *t = frc == 0 ? &fs_schema_tables(&nt)[tix] : NULL;
    int formed = 0;
    for (size_t i = 0; t != NULL && i < form_count; i++)
        formed |= strcmp(form_table[i].table, t->name) == 0;
    if (frc == FS_ENOTFOUND || frc == FS_EEXIST || (frc == 0 && !formed)) {
        if (frc == FS_EEXIST)
            cli_error(_("ID: %s matches more than one record; give more digits"), hex);
        else
            cli_error(_("ID: no record with id %s here"), hex);
        rc = CLI_EUSAGE;
    } else if (frc != 0) {
        rc = cli_fail(r, "undelete", frc);
    } else if ((frc = fs_exists(r, t->name, id)) != 0) {
        char full[2 * FS_ID_BYTES + 1];
        fs_id_to_hex(id, full);
        if (frc > 0)
            cli_error(_("undelete: the %s %.8s is not deleted"), cli_kind_word(t->name), full);
        rc = frc > 0 ? CLI_EUSAGE : cli_fail(r, "undelete", frc);
    }
    fs_cell live = {"deleted", fs_int(0)};
    if (rc == CLI_OK)
        rc = precheck_write(r, "undelete", t->name, id, &live, 1);
    if (rc == CLI_OK && (frc = fs_undelete(r, t->name, id)) != 0)
        rc = cli_fail(r, "undelete", frc);
    if (rc == CLI_OK) {
        char full[2 * FS_ID_BYTES + 1];
        fs_id_to_hex(id, full);
        if (isatty(STDOUT_FILENO))
            printf(_("%s undeleted: %s\n"), cli_kind_word(t->name), full);
        else
            printf("%s\n", full);
    }
    fs_replica_close(r);
    return rc;
}
