/*
 * The form engine's views (form.h): GROUP list [--json], a table
 * (CJK-aligned) of a form's list columns or its JSON rows, and GROUP show ID
 * [--json], one record with every field and its child items.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "export.h"
#include "fieldsync/schema.h"
#include "form.h"
#include "i18n.h"
#include "fieldsync/status_words.h" /* after i18n.h: its _() */
#include "record.h"
#include "table.h"

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

/* A record's status, stage or kind in the reader's words; any other text
 * as it is (statuses and stages: fieldsync/status_words.h, the
 * dashboard's words too). */
const char *form_status_words(const char *status)
{
    const char *w = fs_status_words(status);
    if (w != status)
        return w;
    /* a daily report's kind */
    if (strcmp(status, "plan") == 0)
        return _("plan of the day");
    if (strcmp(status, "summary") == 0)
        return _("summary of the day");
    return status;
}

/* A column's value for a table cell: text as is (a status in words),
 * booleans yes/no, ids as 8 hex digits, customers by name. */
static int cell_text(const fs_rows *it, const char *table, const char *col, const names *nm,
                     char **out)
{
    fs_value v;
    unsigned ntables;
    const fs_table *tables = fs_schema_tables(&ntables);
    const fs_table *t = &tables[fs_schema_table_index(table)];
    int ci = fs_schema_column_index(t, col);
    int is_bool = ci >= 0 && t->columns[ci].type == FS_COL_BOOL;
    /* the sales records' amounts are fen (form_sales.c) */
    int is_money = ci >= 0 && t->columns[ci].type == FS_COL_INT && strcmp(col, "amount") == 0;
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
            snprintf(buf, sizeof buf, "%s", v.i ? _("yes") : _("no"));
        else if (is_money)
            money_format(v.i, buf);
        else
            snprintf(buf, sizeof buf, "%lld", (long long)v.i);
        break;
    case FS_REAL:
        snprintf(buf, sizeof buf, "%g", v.r);
        break;
    case FS_TEXT:
        if ((strcmp(col, "status") == 0 || strcmp(col, "stage") == 0 ||
             strcmp(col, "kind") == 0) &&
            v.n < sizeof buf) {
            memcpy(buf, v.p, v.n);
            buf[v.n] = '\0';
            *out = strdup(form_status_words(buf));
        } else {
            *out = strndup(v.p, v.n);
        }
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

int form_value_text(const fs_rows *it, const char *table, const char *col, char **out)
{
    return cell_text(it, table, col, NULL, out);
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

/* --limit N and --all of a paged list into *limit (0: every row): the
 * table's default is a page, JSON's every row. CLI_OK or CLI_EUSAGE. */
static int page_limit(const char *limit_s, int all, int json, size_t *limit)
{
    *limit = json ? 0 : VISIT_PAGE_DEFAULT;
    if (limit_s != NULL && all) {
        cli_error(_("--limit and --all: give one of them"));
        return CLI_EUSAGE;
    }
    if (all)
        *limit = 0;
    if (limit_s == NULL)
        return CLI_OK;
    size_t n = 0;
    int ok = limit_s[0] != '\0' && strlen(limit_s) <= 7;
    for (const char *p = limit_s; ok && *p; p++) {
        ok = *p >= '0' && *p <= '9';
        n = n * 10 + (size_t)(*p - '0');
    }
    if (!ok || n == 0 || n > VISIT_PAGE_MAX) {
        cli_error(_("--limit: expected a whole number of rows from 1 to %d"), VISIT_PAGE_MAX);
        return CLI_EUSAGE;
    }
    *limit = n;
    return CLI_OK;
}

/* A column's heading: its label (form_field_name), in capitals as every
 * list's heading (a Chinese label has none to change). */
static void form_heading(const char *table, const char *column, char *buf, size_t size)
{
    form_field_name(table, column, buf, size);
    for (char *p = buf; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
}

int form_list(cli_ctx *ctx, const fform *fm, int argc, char **argv)
{
    int json = 0, every = 0;
    const char *limit_s = NULL;
    const cli_opt opts[] = {{"--json", CLI_FLAG, &json, NULL, NULL},
                            {"--limit", CLI_VALUE, NULL, &limit_s, NULL},
                            {"--all", CLI_FLAG, &every, NULL, NULL}};
    char usage[160];
    if (fm->list_page != NULL)
        snprintf(usage, sizeof usage,
                 "usage: fieldsync [--home DIR] %s list [--json] [--limit N | --all]\n",
                 fm->group);
    else
        snprintf(usage, sizeof usage, "usage: fieldsync [--home DIR] %s list [--json]\n",
                 fm->group);
    int rc = cli_parse(ctx, usage, opts, fm->list_page != NULL ? 3 : 1, argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    size_t limit = 0;
    if (fm->list_page != NULL && (rc = page_limit(limit_s, every, json, &limit)) != CLI_OK)
        return rc;
    fs_replica *r = NULL;
    rc = cli_open(ctx, &r);
    if (rc != CLI_OK)
        return rc;
    if (fm->list_page != NULL) { /* a list of its own, a page at a time */
        rc = fm->list_page(r, json, limit);
        fs_replica_close(r);
        return rc;
    }
    if (fm->list_rows != NULL) { /* a list of its own */
        rc = fm->list_rows(r, json);
        fs_replica_close(r);
        return rc;
    }
    names nm;
    cli_column cols[9]; /* the id and up to 7 list_cols */
    char heads[9][64];
    size_t ncols = 0;
    cols[ncols++] = (cli_column){"ID", 0};
    for (; fm->list_cols[ncols - 1] != NULL; ncols++) { /* each column by its label */
        form_heading(fm->table, fm->list_cols[ncols - 1], heads[ncols], sizeof heads[ncols]);
        cols[ncols] = (cli_column){heads[ncols], 32};
    }
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
        char *cells[9] = {NULL};
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
    else if ((rc = cli_export_gate(r, fm->table,
                                   json ? (size_t)cJSON_GetArraySize(all) : cli_table_rows(t))) !=
             CLI_OK)
        ; /* refused, said why */
    else if (json)
        rc = rec_json_print(all, stdout) == 0 ? CLI_OK : cli_fail(NULL, fm->group, FS_ENOMEM);
    else if (cli_table_rows(t) == 0)
        printf(_("no %s\n"), _(fm->title));
    else
        cli_table_print(t, stdout);
    cJSON_Delete(all);
    cli_table_free(t);
    names_free(&nm);
    fs_replica_close(r);
    return rc;
}

int form_open_one(fs_replica *r, const char *table, const char *hex, fs_rows **it,
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
    cli_error(_("%s: no %s with id %s"), "ID", cli_kind_word(table), hex);
    return CLI_EUSAGE;
}

/* The child items of a record (a plan's tasks) as a table. */
static int show_children(fs_replica *r, const fchild *ch, const uint8_t id[FS_ID_BYTES])
{
    cli_column cols[3];
    char heads[3][64];
    for (int c = 0; c < 3; c++) {
        form_heading(ch->table, ch->cols[c], heads[c], sizeof heads[c]);
        cols[c] = (cli_column){heads[c], 40};
    }
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
        printf(_("\n%s:\n"), cli_kind_word(ch->table));
        cli_table_print(t, stdout);
    }
    cli_table_free(t);
    return frc < 0 ? cli_fail(frc == FS_ENOMEM ? NULL : r, ch->table, frc) : CLI_OK;
}

/* What was done with a customer, after its fields in 'customer show' on
 * a terminal: a rep names a customer and expects the work with it. Each
 * section is the kind's title over the columns' labels, the latest first,
 * at most RELATED_ROWS rows. Not to a file or pipe: these are lists of
 * records, which leave this device only through the export gate
 * (cli_export_gate), so a pipe gets the fields alone, as before. */
#define RELATED_ROWS 10
static const struct {
    const char *table, *order, *cols[4];
    const char *only_col, *only_val; /* rows whose only_col is only_val (NULL: all) */
    const char *title;
} related[] = {
    {"contact", "name", {"name", "position", "phone", NULL}, NULL, NULL, N_("contacts")},
    {"visit", "-time", {"time", "purpose", "notes", NULL}, NULL, NULL, N_("visits")},
    {"commitment", "due", {"text", "due", NULL}, "status", "open", N_("open commitments")},
    {"deal", "-opened_at", {"title", "amount", "stage", NULL}, NULL, NULL, N_("deals")},
    {"complaint", "-received_at", {"received_at", "description", "outcome", NULL}, NULL, NULL,
     N_("complaints")},
    {"customer_question", "-asked_at", {"asked_at", "question", "answer", NULL}, NULL, NULL,
     N_("customer questions")},
};

static int show_related(fs_replica *r, const uint8_t id[FS_ID_BYTES])
{
    int frc = 0;
    for (size_t k = 0; frc >= 0 && k < sizeof related / sizeof related[0]; k++) {
        cli_column cols[4];
        char heads[4][64];
        size_t nc = 0, rows = 0;
        for (; nc < 4 && related[k].cols[nc] != NULL; nc++) {
            form_heading(related[k].table, related[k].cols[nc], heads[nc], sizeof heads[nc]);
            cols[nc] = (cli_column){heads[nc], 40};
        }
        cli_table *t = NULL;
        fs_rows *it = NULL;
        fs_value eq = fs_blob(id, FS_ID_BYTES);
        frc = cli_table_new(&t, cols, nc);
        if (frc == 0)
            frc = fs_rows_open(&it, r, related[k].table, "customer", &eq, related[k].order);
        while (frc == 0 && (frc = fs_rows_next(it)) == 1) {
            frc = 0;
            fs_value only;
            if (related[k].only_col != NULL &&
                (fs_rows_get(it, related[k].only_col, &only) != 0 || only.type != FS_TEXT ||
                 only.n != strlen(related[k].only_val) ||
                 memcmp(only.p, related[k].only_val, only.n) != 0))
                continue;
            if (++rows > RELATED_ROWS)
                continue; /* counted, not shown */
            char *v[4] = {NULL, NULL, NULL, NULL};
            for (size_t c = 0; c < nc && frc == 0; c++)
                frc = cell_text(it, related[k].table, related[k].cols[c], NULL, &v[c]);
            if (frc == 0)
                frc = cli_table_add(t, (const char *const *)v) == 0 ? 0 : FS_ENOMEM;
            for (size_t c = 0; c < nc; c++)
                free(v[c]);
        }
        fs_rows_close(it);
        if (frc == 0 && rows > 0) {
            printf(_("\n%s:\n"), _(related[k].title));
            cli_table_print(t, stdout);
            if (rows > RELATED_ROWS)
                printf(_("  ... and %zu more\n"), rows - RELATED_ROWS);
        }
        cli_table_free(t);
    }
    return frc < 0 ? cli_fail(frc == FS_ENOMEM ? NULL : r, "customer", frc) : CLI_OK;
}

int form_show(cli_ctx *ctx, const fform *fm, int argc, char **argv)
{
    int json = 0;
    const cli_opt opts[] = {{"--json", CLI_FLAG, &json, NULL, NULL}};
    char usage[160];
    snprintf(usage, sizeof usage, "usage: fieldsync [--home DIR] %s show ID [--json]\n", fm->group);
    if (argc < 1 || strncmp(argv[0], "--", 2) == 0) {
        if (argc >= 1 && strcmp(argv[0], "--help") == 0) {
            cli_usage(stdout, usage);
            return CLI_OK;
        }
        cli_error(_("%s show: give the record's id first"), fm->group);
        return CLI_EUSAGE;
    }
    const char *hex = argv[0];
    int rc = cli_check_ref("ID", fm->table, hex);
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
        rc = form_open_one(r, fm->table, hex, &it, id);
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
        static const cli_column cols[] = {{N_("FIELD"), 0}, {N_("VALUE"), 0}};
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
            char label[160];
            const char *row[] = {
                form_field_name(fm->table, tb->columns[c].name, label, sizeof label), v ? v : ""};
            if (frc == 0)
                frc = cli_table_add(t, row) == 0 ? 0 : FS_ENOMEM;
            free(v);
        }
        if (frc == 0)
            cli_table_print(t, stdout);
        else
            rc = cli_fail(NULL, fm->group, frc);
        cli_table_free(t);
        if (rc == CLI_OK && fm->child != NULL && !fm->child->no_show)
            rc = show_children(r, fm->child, id);
        if (rc == CLI_OK && strcmp(fm->table, "customer") == 0 && isatty(STDOUT_FILENO))
            rc = show_related(r, id);
    }
    fs_rows_close(it);
    names_free(&nm);
    fs_replica_close(r);
    return rc;
}
