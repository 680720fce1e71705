/*
 * The visit's own parts of its row in the form table (form_table.c): the
 * handbook's Form 1, the customer visit record, with the commitments made
 * during the visit (table "commitment", each with its own due date and
 * status). visit add is the form engine's add: it checks every value,
 * every --commit "TEXT|YYYY-MM-DD" included, before it opens the replica,
 * then writes the visit and all its commitments in one transaction: a bad
 * --commit, an unknown --customer or a failed write leaves nothing behind.
 * visit list shows each visit with its commitments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "export.h"
#include "fieldsync/records.h"
#include "form.h"
#include "i18n.h"
#include "record.h"
#include "table.h"

static int is_blank_char(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int visit_split_commit(const fform *fm, const values *vs, size_t index, const char *s,
                       char *parts[3])
{
    const char *bar = strrchr(s, '|');
    const char *text, *due, *end, *visit_time = "";
    char flag[48];
    int rc;

    for (size_t i = 0; i < fm->nfields; i++)
        if (fm->fields[i].flag != NULL && strcmp(fm->fields[i].flag, "--time") == 0)
            visit_time = vs->v[i];
    /* Split at the last "|", both halves checked; the text is never echoed. */
    snprintf(flag, sizeof flag, "--commit #%zu", index);
    rc = cli_check_text(flag, s);
    if (rc != CLI_OK)
        return rc;
    if (bar == NULL) {
        cli_error(_("%s: expected \"TEXT|YYYY-MM-DD\", found no \"|\" before a due date"), flag);
        return CLI_EUSAGE;
    }
    text = s;
    while (text < bar && is_blank_char(*text))
        text++;
    end = bar;
    while (end > text && is_blank_char(end[-1]))
        end--;
    size_t textlen = (size_t)(end - text);
    if (textlen == 0) {
        cli_error(_("%s: the text before \"|\" must not be empty"), flag);
        return CLI_EUSAGE;
    }

    due = bar + 1;
    while (is_blank_char(*due))
        due++;
    end = due + strlen(due);
    while (end > due && is_blank_char(end[-1]))
        end--;
    char buf[64];
    size_t n = (size_t)(end - due) < sizeof buf - 1 ? (size_t)(end - due) : sizeof buf - 1;
    memcpy(buf, due, n);
    buf[n] = '\0';
    snprintf(flag, sizeof flag, "--commit #%zu due date", index);
    rc = cli_check_date(flag, buf);
    if (rc != CLI_OK)
        return rc;
    /* A promise made at the visit cannot fall due before it. */
    if (strncmp(buf, visit_time, 10) < 0) {
        cli_error(_("%s: %s is before the visit (%.10s)"), flag, buf, visit_time);
        return CLI_EUSAGE;
    }
    parts[0] = strndup(text, textlen);
    parts[1] = strdup(buf);
    if (parts[0] == NULL || parts[1] == NULL)
        return cli_fail(NULL, "visit add", FS_ENOMEM);
    return CLI_OK;
}

int cmd_visit_add(cli_ctx *ctx, int argc, char **argv)
{
    return form_run(ctx, "visit", "add", argc, argv);
}

int cmd_visit_list(cli_ctx *ctx, int argc, char **argv)
{
    return form_run(ctx, "visit", "list", argc, argv);
}

/* ---- visit list ---- */

/* A commitment, by the visit it was made at. */
typedef struct visit_commit {
    uint8_t visit[FS_ID_BYTES];
    size_t seq; /* order of due dates */
    int open;
    char *due;
    cJSON *json; /* NULL unless listing JSON, or once moved into a visit */
} visit_commit;

typedef struct commit_set {
    visit_commit *items; /* sorted by (visit, seq) */
    size_t count;
} commit_set;

static void commit_set_free(commit_set *set)
{
    for (size_t i = 0; i < set->count; i++) {
        free(set->items[i].due);
        cJSON_Delete(set->items[i].json);
    }
    free(set->items);
    set->items = NULL;
    set->count = 0;
}

static int commit_cmp(const void *a, const void *b)
{
    const visit_commit *x = a, *y = b;
    int c = memcmp(x->visit, y->visit, FS_ID_BYTES);
    if (c != 0)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Loads every live commitment made at a visit, each as JSON too when json. */
static int load_commitments(fs_replica *r, int json, commit_set *out)
{
    commit_set set = {NULL, 0};
    size_t cap = 0;
    fs_rows *it = NULL;
    char *status = NULL;
    int rc;

    rc = fs_rows_open(&it, r, "commitment", NULL, NULL, "due");
    if (rc != 0)
        return rc;
    for (;;) {
        visit_commit c = {{0}, set.count, 0, NULL, NULL};
        int present;
        rc = fs_rows_next(it);
        if (rc <= 0)
            break;
        rc = rec_id(it, "visit", c.visit, &present);
        if (rc != 0)
            goto fail;
        if (!present)
            continue;
        if (set.count == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            visit_commit *grown = realloc(set.items, ncap * sizeof *grown);
            if (grown == NULL) {
                rc = FS_ENOMEM;
                goto fail;
            }
            set.items = grown;
            cap = ncap;
        }
        rc = rec_text(it, "status", &status);
        if (rc == 0)
            rc = rec_text(it, "due", &c.due);
        if (rc == 0 && json)
            rc = rec_json(it, "commitment", &c.json);
        c.open = status == NULL || strcmp(status, FS_STATUS_OPEN) == 0;
        free(status);
        status = NULL;
        set.items[set.count++] = c; /* owned by set even on error */
        if (rc != 0)
            goto fail;
    }
    if (rc < 0)
        goto fail;
    fs_rows_close(it);
    if (set.count > 1)
        qsort(set.items, set.count, sizeof *set.items, commit_cmp);
    *out = set;
    return 0;

fail:
    fs_rows_close(it);
    commit_set_free(&set);
    return rc;
}

/* The commitments of one visit: [*first, *first + *n). */
static void commits_of(const commit_set *set, const uint8_t visit[FS_ID_BYTES], size_t *first,
                       size_t *n)
{
    size_t lo = 0, hi = set->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (memcmp(set->items[mid].visit, visit, FS_ID_BYTES) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *first = lo;
    *n = 0;
    while (lo + *n < set->count && memcmp(set->items[lo + *n].visit, visit, FS_ID_BYTES) == 0)
        (*n)++;
}

/* The visits by time: limit 0 every one, oldest first; else the newest
 * limit, newest first (the replica's index on a visit's time: only the rows
 * shown are read). */
static int open_visits(fs_rows **it, fs_replica *r, size_t limit)
{
    return fs_rows_open(it, r, "visit", NULL, NULL, limit ? "-time" : "time");
}

static int list_json(fs_replica *r, const rec_index *names, commit_set *commits, size_t limit)
{
    cJSON *all = cJSON_CreateArray();
    fs_rows *it = NULL;
    int rc = FS_ENOMEM;
    size_t shown = 0;

    if (all == NULL)
        goto fail;
    rc = open_visits(&it, r, limit);
    if (rc != 0)
        goto fail;
    for (;;) {
        cJSON *obj, *list;
        uint8_t customer[FS_ID_BYTES];
        size_t first, n;
        int present;
        if (limit != 0 && shown == limit) {
            rc = 0;
            break;
        }
        rc = fs_rows_next(it);
        if (rc <= 0)
            break;
        shown++;
        rc = rec_json(it, "visit", &obj);
        if (rc != 0)
            goto fail;
        rc = rec_json_add(all, NULL, obj);
        if (rc == 0)
            rc = rec_id(it, "customer", customer, &present);
        if (rc != 0)
            goto fail;
        const char *name = present ? rec_index_find(names, customer) : NULL;
        rc = rec_json_add(obj, "customer_name",
                          name != NULL ? cJSON_CreateString(name) : cJSON_CreateNull());
        if (rc != 0)
            goto fail;
        list = cJSON_CreateArray();
        rc = rec_json_add(obj, "commitments", list);
        if (rc != 0)
            goto fail;
        commits_of(commits, fs_rows_id(it), &first, &n);
        for (size_t i = first; i < first + n; i++) {
            cJSON *c = commits->items[i].json;
            commits->items[i].json = NULL; /* now owned by list, or deleted */
            rc = rec_json_add(list, NULL, c);
            if (rc != 0)
                goto fail;
        }
    }
    if (rc < 0)
        goto fail;
    fs_rows_close(it);
    it = NULL;
    rc = cli_export_gate(r, "visit", (size_t)cJSON_GetArraySize(all));
    if (rc != CLI_OK) {
        cJSON_Delete(all);
        return rc;
    }
    rc = rec_json_print(all, stdout);
    if (rc != 0)
        goto fail;
    cJSON_Delete(all);
    return CLI_OK;

fail:
    if (it != NULL)
        fs_rows_close(it);
    cJSON_Delete(all);
    return cli_fail(r, "visit list", rc);
}

/* The short form of a visit's commitments for the table. */
static void commit_summary(const commit_set *set, size_t first, size_t n, char *buf, size_t size)
{
    size_t open = 0;
    const char *next_due = NULL;
    for (size_t i = first; i < first + n; i++) {
        const visit_commit *c = &set->items[i];
        if (!c->open)
            continue;
        open++;
        if (c->due != NULL && (next_due == NULL || strcmp(c->due, next_due) < 0))
            next_due = c->due;
    }
    if (n == 0)
        snprintf(buf, size, "-");
    else if (open == 0)
        snprintf(buf, size, _("%zu, none open"), n);
    else if (next_due != NULL)
        snprintf(buf, size, _("%zu, %zu open, next due %s"), n, open, next_due);
    else
        snprintf(buf, size, _("%zu, %zu open"), n, open);
}

static int list_table(fs_replica *r, const rec_index *names, const commit_set *commits,
                      size_t limit)
{
    static const cli_column cols[] = {
        {N_("ID"), 0},       {N_("TIME"), 0},     {N_("CUSTOMER"), 28},
        {N_("CONTACT"), 14}, {N_("PURPOSE"), 32}, {N_("COMMITMENTS"), 0},
    };
    cli_table *t = NULL;
    fs_rows *it = NULL;
    char *when = NULL, *contact = NULL, *purpose = NULL;
    int rc, more = 0;

    rc = cli_table_new(&t, cols, sizeof cols / sizeof cols[0]);
    if (rc != 0)
        goto fail;
    rc = open_visits(&it, r, limit);
    if (rc != 0)
        goto fail;
    for (;;) {
        uint8_t customer[FS_ID_BYTES];
        char hex[2 * FS_ID_BYTES + 1], summary[64];
        size_t first, n;
        int present;
        rc = fs_rows_next(it);
        if (rc <= 0)
            break;
        if (limit != 0 && cli_table_rows(t) == limit) {
            more = 1; /* one row past the page: there are older ones */
            rc = 0;
            break;
        }
        rc = rec_text(it, "time", &when);
        if (rc == 0)
            rc = rec_text(it, "contact", &contact);
        if (rc == 0)
            rc = rec_text(it, "purpose", &purpose);
        if (rc == 0)
            rc = rec_id(it, "customer", customer, &present);
        if (rc != 0)
            goto fail;
        const char *name = present ? rec_index_find(names, customer) : NULL;
        fs_id_to_hex(fs_rows_id(it), hex);
        hex[8] = '\0';
        commits_of(commits, fs_rows_id(it), &first, &n);
        commit_summary(commits, first, n, summary, sizeof summary);
        const char *cells[] = {
            hex, when, name != NULL ? name : "(unknown customer)", contact, purpose, summary,
        };
        rc = cli_table_add(t, cells);
        free(when);
        free(contact);
        free(purpose);
        when = contact = purpose = NULL;
        if (rc != 0)
            goto fail;
    }
    if (rc < 0)
        goto fail;
    if (cli_table_rows(t) == 0)
        printf(_("no visits yet; record one with 'fieldsync visit add'\n"));
    else if ((rc = cli_export_gate(r, "visit", cli_table_rows(t))) != CLI_OK)
        goto done;
    else
        cli_table_print(t, stdout);
    if (more)
        fprintf(stderr,
                _("the newest %zu visits, newest first; --limit N shows N, --all every one\n"),
                limit);
    rc = CLI_OK;
    goto done;

fail:
    rc = cli_fail(r, "visit list", rc);
done:
    free(when);
    free(contact);
    free(purpose);
    if (it != NULL)
        fs_rows_close(it);
    cli_table_free(t);
    return rc;
}

int visit_list_rows(fs_replica *r, int json)
{
    return visit_list_page(r, json, 0);
}

int visit_list_page(fs_replica *r, int json, size_t limit)
{
    rec_index names = {NULL, 0};
    commit_set commits = {NULL, 0};
    int rc;

    rc = rec_index_load(&names, r, "customer", NULL, "name");
    if (rc != 0) {
        rc = cli_fail(r, "visit list: reading customers", rc);
        goto done;
    }
    rc = load_commitments(r, json, &commits);
    if (rc != 0) {
        rc = cli_fail(r, "visit list: reading commitments", rc);
        goto done;
    }
    rc = json ? list_json(r, &names, &commits, limit) : list_table(r, &names, &commits, limit);

done:
    commit_set_free(&commits);
    rec_index_free(&names);
    return rc;
}

/* ---- visit plans (schema 6) ---- */

#define PLANS_CLOSED_MAX 64 /* open plans of one customer on one day, at most, closed at once */

int visit_close_plans(fs_replica *r, const uint8_t id[FS_ID_BYTES], const fs_cell *cells,
                      size_t nc)
{
    const fs_value *customer = NULL, *time = NULL;
    for (size_t i = 0; i < nc; i++) {
        if (strcmp(cells[i].column, "customer") == 0)
            customer = &cells[i].value;
        else if (strcmp(cells[i].column, "time") == 0)
            time = &cells[i].value;
    }
    if (customer == NULL || time == NULL || time->type != FS_TEXT || time->n < 10)
        return 0;
    uint8_t plans[PLANS_CLOSED_MAX][FS_ID_BYTES];
    size_t n = 0;
    fs_rows *it = NULL;
    int rc = fs_rows_open(&it, r, "visit_plan", "customer", customer, NULL);
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        rc = 0;
        fs_value pt, pv, del;
        if (fs_rows_get(it, "deleted", &del) != 0 || (del.type == FS_INT && del.i != 0))
            continue;
        if (fs_rows_get(it, "visit", &pv) != 0 || pv.type != FS_NULL)
            continue; /* closed already */
        if (fs_rows_get(it, "time", &pt) != 0 || pt.type != FS_TEXT || pt.n < 10 ||
            memcmp(pt.p, time->p, 10) != 0)
            continue; /* another day's */
        if (n < PLANS_CLOSED_MAX)
            memcpy(plans[n++], fs_rows_id(it), FS_ID_BYTES);
    }
    fs_rows_close(it);
    if (rc < 0)
        return rc;
    fs_cell set = {"visit", fs_blob(id, FS_ID_BYTES)};
    for (size_t k = 0; rc >= 0 && k < n; k++)
        rc = fs_update(r, "visit_plan", plans[k], &set, 1);
    return rc < 0 ? rc : 0;
}
