/*
 * visit add / visit list: the handbook's Form 1, the customer visit record,
 * with the commitments made during the visit (table "commitment", each with
 * its own due date and status).
 *
 * visit add checks every value before it opens the replica, then writes the
 * visit and all its commitments in one transaction: a bad --commit, an
 * unknown --customer or a failed write leaves nothing behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "fieldsync/records.h"
#include "record.h"
#include "table.h"

#define MAX_CELLS 12

/* One --commit "TEXT|YYYY-MM-DD", split; text points into argv. */
typedef struct commit_arg {
    const char *text;
    size_t textlen;
    char due[11];
} commit_arg;

static int is_blank_char(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Splits the index-th (from 1) --commit value at its last "|" and checks
 * both halves; the text itself is never echoed. */
static int parse_commit(size_t index, const char *s, const char *visit_time, commit_arg *out)
{
    const char *bar = strrchr(s, '|');
    const char *due, *end;
    char flag[48];
    int rc;

    snprintf(flag, sizeof flag, "--commit #%zu", index);
    rc = cli_check_text(flag, s);
    if (rc != CLI_OK)
        return rc;
    if (bar == NULL) {
        cli_error("%s: expected \"TEXT|YYYY-MM-DD\", found no \"|\" before a due date", flag);
        return CLI_EUSAGE;
    }
    out->text = s;
    while (out->text < bar && is_blank_char(*out->text))
        out->text++;
    end = bar;
    while (end > out->text && is_blank_char(end[-1]))
        end--;
    out->textlen = (size_t)(end - out->text);
    if (out->textlen == 0) {
        cli_error("%s: the text before \"|\" must not be empty", flag);
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
    memcpy(out->due, buf, sizeof out->due);
    /* A promise made at the visit cannot fall due before it. */
    if (strncmp(out->due, visit_time, 10) < 0) {
        cli_error("%s: %s is before the visit (%.10s)", flag, out->due, visit_time);
        return CLI_EUSAGE;
    }
    return CLI_OK;
}

/* Adds an optional text column unless the value is absent or blank. */
static void add_optional(fs_cell *cells, size_t *n, const char *column, const char *value)
{
    if (!cli_blank(value))
        cells[(*n)++] = (fs_cell){column, fs_text(value)};
}

int cmd_visit_add(cli_ctx *ctx, int argc, char **argv)
{
    const char *customer = NULL, *when = NULL, *place = NULL, *purpose = NULL, *notes = NULL;
    const char *contact = NULL, *position = NULL, *objections = NULL, *next = NULL;
    const char *visitor = NULL;
    cli_list commits = {NULL, 0};
    const cli_opt opts[] = {
        {"--customer", CLI_VALUE, NULL, &customer, NULL},
        {"--time", CLI_VALUE, NULL, &when, NULL},
        {"--place", CLI_VALUE, NULL, &place, NULL},
        {"--purpose", CLI_VALUE, NULL, &purpose, NULL},
        {"--notes", CLI_VALUE, NULL, &notes, NULL},
        {"--contact", CLI_VALUE, NULL, &contact, NULL},
        {"--position", CLI_VALUE, NULL, &position, NULL},
        {"--objections", CLI_VALUE, NULL, &objections, NULL},
        {"--commit", CLI_LIST, NULL, NULL, &commits},
        {"--next", CLI_VALUE, NULL, &next, NULL},
        {"--visitor", CLI_VALUE, NULL, &visitor, NULL},
    };
    commit_arg *items = NULL;
    fs_replica *r = NULL;
    fs_cell cells[MAX_CELLS];
    size_t ncells = 0;
    uint8_t customer_id[FS_ID_BYTES], visit_id[FS_ID_BYTES], commit_id[FS_ID_BYTES];
    char recorded_at[17], hex[2 * FS_ID_BYTES + 1];
    char *typed[5] = {NULL, NULL, NULL, NULL, NULL};
    int rc, in_tx = 0;

    rc = cli_parse(ctx, USAGE_VISIT_ADD, opts, sizeof opts / sizeof opts[0], argc, argv);
    if (rc != CLI_OK) {
        cli_list_free(&commits);
        return rc == CLI_HELP ? CLI_OK : rc;
    }

    /* Everything the command line can get wrong, before the replica. */
    /* Missing required fields are asked for on a terminal. */
    rc = cli_require_ask("visit add", "--customer", "Customer id", &customer, &typed[0]);
    if (rc == CLI_OK)
        rc = cli_require_ask("visit add", "--time", "Visit time (YYYY-MM-DD HH:MM)", &when,
                             &typed[1]);
    if (rc == CLI_OK)
        rc = cli_require_ask("visit add", "--place", "Place", &place, &typed[2]);
    if (rc == CLI_OK)
        rc = cli_require_ask("visit add", "--purpose", "Purpose", &purpose, &typed[3]);
    if (rc == CLI_OK)
        rc = cli_require_ask("visit add", "--notes", "Conversation notes", &notes, &typed[4]);
    if (rc == CLI_OK)
        rc = cli_check_idprefix("--customer", customer);
    if (rc == CLI_OK)
        rc = cli_check_datetime("--time", when);
    if (rc != CLI_OK)
        goto done;
    /* The text values and their flags, checked alike. */
    const struct {
        const char *flag;
        const char *value;
    } texts[] = {
        {"--place", place},     {"--purpose", purpose},   {"--notes", notes},
        {"--contact", contact}, {"--position", position}, {"--objections", objections},
        {"--next", next},       {"--visitor", visitor},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        rc = cli_check_text(texts[i].flag, texts[i].value);
        if (rc != CLI_OK)
            goto done;
    }
    if (commits.count > 0) {
        items = calloc(commits.count, sizeof *items);
        if (items == NULL) {
            rc = cli_fail(NULL, "visit add", FS_ENOMEM);
            goto done;
        }
    }
    for (size_t i = 0; i < commits.count; i++) {
        rc = parse_commit(i + 1, commits.items[i], when, &items[i]);
        if (rc != CLI_OK)
            goto done;
    }

    rc = cli_open(ctx, &r);
    if (rc != CLI_OK)
        goto done;
    rc = cli_resolve(r, "customer", "--customer", customer, customer_id);
    if (rc != CLI_OK)
        goto done;

    cli_now(recorded_at);
    cells[ncells++] = (fs_cell){"customer", fs_blob(customer_id, FS_ID_BYTES)};
    cells[ncells++] = (fs_cell){"time", fs_text(when)};
    cells[ncells++] = (fs_cell){"place", fs_text(place)};
    cells[ncells++] = (fs_cell){"purpose", fs_text(purpose)};
    cells[ncells++] = (fs_cell){"notes", fs_text(notes)};
    cells[ncells++] = (fs_cell){"recorded_at", fs_text(recorded_at)};
    add_optional(cells, &ncells, "contact", contact);
    add_optional(cells, &ncells, "position", position);
    add_optional(cells, &ncells, "objections", objections);
    add_optional(cells, &ncells, "next_steps", next);
    add_optional(cells, &ncells, "visitor", visitor);

    rc = fs_begin(r);
    if (rc != 0) {
        rc = cli_fail(r, "visit add: starting a transaction", rc);
        goto done;
    }
    in_tx = 1;
    rc = fs_insert(r, "visit", cells, ncells, visit_id);
    if (rc != 0) {
        rc = cli_fail(r, "visit add: saving the visit", rc);
        goto done;
    }
    for (size_t i = 0; i < commits.count; i++) {
        const fs_cell c[] = {
            {"visit", fs_blob(visit_id, FS_ID_BYTES)},
            {"customer", fs_blob(customer_id, FS_ID_BYTES)},
            {"text", fs_textn(items[i].text, items[i].textlen)},
            {"due", fs_text(items[i].due)},
            {"status", fs_text(FS_STATUS_OPEN)}, /* a new commitment is open */
        };
        rc = fs_insert(r, "commitment", c, sizeof c / sizeof c[0], commit_id);
        if (rc != 0) {
            char what[64];
            snprintf(what, sizeof what, "visit add: saving --commit #%zu", i + 1);
            rc = cli_fail(r, what, rc);
            goto done;
        }
    }
    rc = fs_commit(r);
    if (rc != 0) {
        rc = cli_fail(r, "visit add: committing", rc);
        goto done;
    }
    in_tx = 0;
    fs_id_to_hex(visit_id, hex);
    printf("%s\n", hex);
    rc = CLI_OK;

done:
    if (in_tx)
        fs_rollback(r); /* nothing of the visit stays */
    fs_replica_close(r);
    free(items);
    cli_list_free(&commits);
    for (size_t i = 0; i < 5; i++)
        free(typed[i]);
    return rc;
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

static int list_json(fs_replica *r, const rec_index *names, commit_set *commits)
{
    cJSON *all = cJSON_CreateArray();
    fs_rows *it = NULL;
    int rc = FS_ENOMEM;

    if (all == NULL)
        goto fail;
    rc = fs_rows_open(&it, r, "visit", NULL, NULL, "time");
    if (rc != 0)
        goto fail;
    for (;;) {
        cJSON *obj, *list;
        uint8_t customer[FS_ID_BYTES];
        size_t first, n;
        int present;
        rc = fs_rows_next(it);
        if (rc <= 0)
            break;
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
        snprintf(buf, size, "%zu, none open", n);
    else if (next_due != NULL)
        snprintf(buf, size, "%zu, %zu open, next due %s", n, open, next_due);
    else
        snprintf(buf, size, "%zu, %zu open", n, open);
}

static int list_table(fs_replica *r, const rec_index *names, const commit_set *commits)
{
    static const cli_column cols[] = {
        {"ID", 0},       {"TIME", 0},     {"CUSTOMER", 28},
        {"CONTACT", 14}, {"PURPOSE", 32}, {"COMMITMENTS", 0},
    };
    cli_table *t = NULL;
    fs_rows *it = NULL;
    char *when = NULL, *contact = NULL, *purpose = NULL;
    int rc;

    rc = cli_table_new(&t, cols, sizeof cols / sizeof cols[0]);
    if (rc != 0)
        goto fail;
    rc = fs_rows_open(&it, r, "visit", NULL, NULL, "time");
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
        printf("no visits yet; record one with 'fieldsync visit add'\n");
    else
        cli_table_print(t, stdout);
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

int cmd_visit_list(cli_ctx *ctx, int argc, char **argv)
{
    int json = 0;
    const cli_opt opts[] = {{"--json", CLI_FLAG, &json, NULL, NULL}};
    rec_index names = {NULL, 0};
    commit_set commits = {NULL, 0};
    fs_replica *r = NULL;
    int rc;

    rc = cli_parse(ctx, USAGE_VISIT_LIST, opts, 1, argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    rc = cli_open(ctx, &r);
    if (rc != CLI_OK)
        return rc;
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
    rc = json ? list_json(r, &names, &commits) : list_table(r, &names, &commits);

done:
    commit_set_free(&commits);
    rec_index_free(&names);
    fs_replica_close(r);
    return rc;
}
