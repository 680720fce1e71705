/*
 * The changes the server refused (fieldsync/replica.h keeps them, with a
 * number, the time, the value sent): how the rep sees them and puts them
 * right.
 *
 *   refused list [--json]        every refused change: number, record (by
 *                                name), field, value sent, reason, when
 *   refused show ID [--json]     one of them, every detail
 *   refused revert ID            take the server's values back for the
 *                                record's refused changes (nothing syncs;
 *                                a record the server never had is removed)
 *   refused retry ID             send the record's refused values again,
 *                                with a new clock, at the next sync
 *
 * Nothing leaves the list unless the rep reverts or retries it. The words
 * the rep reads are in the table `say` below, one place for a translation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync/calendar.h"
#include "fieldsync/reason.h"
#include "fieldsync/schema.h"

#include "cmd.h"
#include "export.h"
#include "record.h"
#include "refused.h"
#include "table.h"

/* ---- the words ---- */

/* (macros, not a table of pointers: the compiler checks every format,
 * through gettext's format_arg) */
#define SAY_CUSTOMER    _("customer %s")
#define SAY_CHILD       _("%s of %s (%s)")
#define SAY_CHILD_NODET _("%s of %s")
#define SAY_PLAIN       _("%s (%s)")
#define SAY_GONE        _("%s %.8s (no longer on this device)")
#define SAY_UNNAMED     _("%s %.8s")
#define SAY_SUMMARY                                                                                \
    _("refused by the server: %llu changes in %zu records (see 'fieldsync refused list';"            \
    " put each right with 'refused revert ID' or 'refused retry ID'):\n")
#define SAY_SUMMARY_ONE  _("  %s: %zu changes: %s\n")
#define SAY_SUMMARY_MORE _("  and %zu more records\n")
#define SAY_NONE         _("no refused changes: everything this device sent was accepted\n")
#define SAY_REVERTED     _("%s: took back the server's values of %zu refused changes\n")
#define SAY_REMOVED                                                                                \
    _("%s: removed from this device: the server never had it (%zu refused changes cleared)\n")
#define SAY_REPULL _("  the server's values come back with the next sync\n")
#define SAY_NOTHING_BACK                                                                           \
    _("%s: nothing to take back (the values have changed since); %zu refusals cleared\n")
#define SAY_RETRIED      _("%s: %zu changes will be sent again at the next sync\n")
#define SAY_NO_SUCH      _("refused %s: no refused change number %s (see 'fieldsync refused list')")
#define SAY_NEED_ID      _("refused %s: give the number of a refused change (see 'fieldsync refused list')")
#define SAY_EMPTY_VALUE  _("(empty)")
#define SAY_UNDONE       _("undone here, the server's value is back: %s")
#define SAY_UNDONE_SYNC                                                                            \
    _("refused by the server and undone on this device: %llu new owners (the server's owner is"     \
    " back; see 'fieldsync refused list')\n")
#define SAY_UNKNOWN_TIME _("before this version")

/* The reasons in the rep's words. */
static const struct {
    uint32_t reason;
    const char *words;
} reasons[] = {
    {FS_REASON_SCOPE, N_("you may not make this change: the record is not yours (any more), or only"
                      " a manager may make it")},
    {FS_REASON_INVALID, N_("the server found the change incomplete or invalid (a new record must "
                        "come whole, with its required fields)")},
    {FS_REASON_PARENT, N_("the record it belongs to was refused or never reached the server")},
    {FS_REASON_CLOCK, N_("this laptop's clock was too far ahead when the change was made")},
    {FS_REASON_LOST, N_("the server does not hold this record: it was refused when it was made, or"
                     " lost when the server was restored from an older backup (this laptop sends"
                     " it again whole, unless something else about it is refused)")},
};

const char *refused_reason_words(uint32_t reason)
{
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].reason == reason)
            return _(reasons[i].words);
    return fs_reason_text(reason);
}

/* ---- names ---- */

/* The text of a live row's column into out ("" when not text). */
static void row_text(const fs_rows *it, const char *column, char *out, size_t cap)
{
    fs_value v;
    out[0] = '\0';
    if (fs_rows_get(it, column, &v) == 0 && v.type == FS_TEXT)
        snprintf(out, cap, "%.*s", (int)(v.n < cap ? v.n : cap - 1), (const char *)v.p);
}

/* Opens an iterator positioned on the live row id of table: 1 found (the
 * caller closes *it), 0 not here, <0 error. */
static int find_row(fs_replica *r, const char *table, const uint8_t id[FS_ID_BYTES], fs_rows **it)
{
    fs_rows *rows = NULL;
    int rc = fs_rows_open(&rows, r, table, NULL, NULL, NULL);
    while (rc == 0 && (rc = fs_rows_next(rows)) == 1)
        if (memcmp(fs_rows_id(rows), id, FS_ID_BYTES) == 0) {
            *it = rows;
            return 1;
        } else {
            rc = 0;
        }
    fs_rows_close(rows);
    return rc;
}

/* Cuts s at a character boundary to at most max bytes. */
static void cut_utf8(char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    s[max] = '\0';
}

int refused_record_name(fs_replica *r, unsigned table, const uint8_t row[FS_ID_BYTES], char *out,
                        size_t cap)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    char hex[2 * FS_ID_BYTES + 1], kind[40], detail[128] = "", customer[160] = "";
    fs_rows *it = NULL;
    if (table >= nt)
        return FS_ESCHEMA;
    const fs_table *t = &tables[table];
    fs_id_to_hex(row, hex);
    snprintf(kind, sizeof kind, "%s", cli_kind_word(t->name));
    int rc = find_row(r, t->name, row, &it);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        snprintf(out, cap, SAY_GONE, kind, hex);
        return 0;
    }
    static const char *const details[] = {"name",         "time",       "date", "due",
                                          "period_start", "event_date", "text", "question"};
    for (size_t i = 0; detail[0] == '\0' && i < sizeof details / sizeof details[0]; i++)
        if (fs_schema_column_index(t, details[i]) > 0)
            row_text(it, details[i], detail, sizeof detail);
    cut_utf8(detail, 60);
    uint8_t cust[FS_ID_BYTES];
    int has_customer = 0;
    if (fs_schema_column_index(t, "customer") > 0 &&
        rec_id(it, "customer", cust, &has_customer) != 0)
        has_customer = 0;
    fs_rows_close(it);
    if (strcmp(t->name, "customer") == 0) {
        snprintf(out, cap, SAY_CUSTOMER, detail[0] ? detail : hex);
        return 0;
    }
    if (has_customer && find_row(r, "customer", cust, &it) == 1) {
        row_text(it, "name", customer, sizeof customer);
        fs_rows_close(it);
    }
    if (customer[0] && detail[0])
        snprintf(out, cap, SAY_CHILD, kind, customer, detail);
    else if (customer[0])
        snprintf(out, cap, SAY_CHILD_NODET, kind, customer);
    else if (detail[0])
        snprintf(out, cap, SAY_PLAIN, kind, detail);
    else
        snprintf(out, cap, SAY_UNNAMED, kind, hex);
    return 0;
}

/* ---- the summary ---- */

#define SUMMARY_RECORDS 5

typedef struct summary_walk {
    fs_replica *r;
    uint64_t total;
    size_t records; /* distinct records */
    struct {
        unsigned table;
        uint8_t row[FS_ID_BYTES];
        size_t n;
        uint32_t reason; /* the newest */
    } shown[SUMMARY_RECORDS];
    size_t nshown;
    /* distinct records beyond those shown: a small open set of seen rows */
    struct seen_row {
        unsigned table;
        uint8_t row[FS_ID_BYTES];
    } * seen;
    size_t nseen, capseen;
} summary_walk;

static int summary_cb(const fs_refusal *f, void *ctx)
{
    summary_walk *w = ctx;
    if (f->auto_reverted)
        return 0; /* nothing left to put right */
    w->total++;
    for (size_t i = 0; i < w->nshown; i++)
        if (w->shown[i].table == f->table && memcmp(w->shown[i].row, f->row, FS_ID_BYTES) == 0) {
            w->shown[i].n++;
            w->shown[i].reason = f->reason;
            return 0;
        }
    for (size_t i = 0; i < w->nseen; i++)
        if (w->seen[i].table == f->table && memcmp(w->seen[i].row, f->row, FS_ID_BYTES) == 0)
            return 0;
    w->records++;
    if (w->nshown < SUMMARY_RECORDS) {
        w->shown[w->nshown].table = f->table;
        memcpy(w->shown[w->nshown].row, f->row, FS_ID_BYTES);
        w->shown[w->nshown].n = 1;
        w->shown[w->nshown].reason = f->reason;
        w->nshown++;
        return 0;
    }
    if (w->nseen == w->capseen) {
        size_t cap = w->capseen ? 2 * w->capseen : 32;
        struct seen_row *more = realloc(w->seen, cap * sizeof *more);
        if (more == NULL)
            return FS_ENOMEM;
        w->seen = more;
        w->capseen = cap;
    }
    w->seen[w->nseen].table = f->table;
    memcpy(w->seen[w->nseen].row, f->row, FS_ID_BYTES);
    w->nseen++;
    return 0;
}

int refused_summary(fs_replica *r, FILE *f, int names)
{
    summary_walk w;
    memset(&w, 0, sizeof w);
    w.r = r;
    int rc = fs_refusals(r, summary_cb, &w);
    if (rc == 0 && w.total > 0) {
        fprintf(f, SAY_SUMMARY, (unsigned long long)w.total, w.records);
        for (size_t i = 0; rc == 0 && i < w.nshown; i++) {
            char name[256];
            if (names) {
                rc = refused_record_name(r, w.shown[i].table, w.shown[i].row, name, sizeof name);
            } else {
                unsigned nt;
                const fs_table *tables = fs_schema_tables(&nt);
                char hex[2 * FS_ID_BYTES + 1];
                fs_id_to_hex(w.shown[i].row, hex);
                snprintf(name, sizeof name, SAY_UNNAMED,
                         w.shown[i].table < nt ? cli_kind_word(tables[w.shown[i].table].name) : "?",
                         hex);
            }
            if (rc == 0)
                fprintf(f, SAY_SUMMARY_ONE, name, w.shown[i].n,
                        refused_reason_words(w.shown[i].reason));
        }
        if (rc == 0 && w.records > w.nshown)
            fprintf(f, SAY_SUMMARY_MORE, w.records - w.nshown);
    }
    free(w.seen);
    return rc;
}

int refused_summary_records(fs_replica *r, cli_recset *set)
{
    summary_walk w;
    memset(&w, 0, sizeof w);
    w.r = r;
    int rc = fs_refusals(r, summary_cb, &w);
    for (size_t i = 0; rc == 0 && i < w.nshown; i++)
        rc = cli_recset_add(set, w.shown[i].table, w.shown[i].row);
    free(w.seen);
    return rc;
}

static int count_undone(const fs_refusal *f, void *ctx)
{
    *(uint64_t *)ctx += f->auto_reverted != 0;
    return 0;
}

int refused_undone(fs_replica *r, uint64_t *n)
{
    *n = 0;
    return fs_refusals(r, count_undone, n);
}

void refused_say_undone(uint64_t n, FILE *f)
{
    fprintf(f, SAY_UNDONE_SYNC, (unsigned long long)n);
}

/* ---- list and show ---- */

typedef struct list_walk {
    fs_replica *r;
    cli_table *t; /* the table, or */
    cJSON *list;  /* JSON, or */
    int detail;   /* show: every field on its own line */
    cli_recset shown; /* the records named, for the export gate */
} list_walk;

/* A value as one line of text for the table ("(empty)" for none). */
static void value_line(const fs_value *v, char *out, size_t cap)
{
    if (v->type == FS_TEXT && v->n > 0)
        snprintf(out, cap, "%.*s", (int)(v->n < cap ? v->n : cap - 1), (const char *)v->p);
    else if (v->type == FS_INT)
        snprintf(out, cap, "%lld", (long long)v->i);
    else if (v->type == FS_BLOB && v->n == FS_ID_BYTES) {
        char hex[2 * FS_ID_BYTES + 1];
        fs_id_to_hex(v->p, hex);
        snprintf(out, cap, "%.8s", hex);
    } else
        snprintf(out, cap, "%s", SAY_EMPTY_VALUE);
    for (char *p = out; *p; p++) /* one line; no terminal control */
        if ((unsigned char)*p < 0x20 || *p == 0x7F)
            *p = ' ';
}

static void when_text(uint64_t ms, char out[32])
{
    if (ms == 0 || fs_instant_format(out, 32, (int64_t)ms, 0, "%Y-%m-%d %H:%M") != 0)
        snprintf(out, 32, "%s", SAY_UNKNOWN_TIME);
}

static int list_cb(const fs_refusal *f, void *ctx)
{
    list_walk *w = ctx;
    const char *table;
    const fs_column *col = rec_schema_column(f->table, f->column, &table);
    char name[256], idtext[24], sent[128], at[32], made[32], hex[2 * FS_ID_BYTES + 1];
    int rc = refused_record_name(w->r, f->table, f->row, name, sizeof name);
    if (rc == 0)
        rc = cli_recset_add(&w->shown, f->table, f->row);
    if (rc != 0)
        return rc;
    snprintf(idtext, sizeof idtext, "%llu", (unsigned long long)f->id);
    value_line(&f->sent, sent, sizeof sent);
    cut_utf8(sent, 40);
    when_text(f->at_ms, at);
    when_text(f->hlc >> 16, made);
    fs_id_to_hex(f->row, hex);
    const char *words = refused_reason_words(f->reason);
    char undone[320];
    if (f->auto_reverted) {
        snprintf(undone, sizeof undone, SAY_UNDONE, words);
        words = undone;
    }
    if (w->list != NULL) {
        cJSON *o = cJSON_CreateObject();
        if (rec_json_add(w->list, NULL, o) != 0) /* the list owns o from here */
            return FS_ENOMEM;
        char *detail = strndup(f->text ? f->text : "", f->text_len);
        int bad =
            detail == NULL || rec_json_add(o, "id", cJSON_CreateNumber((double)f->id)) ||
            rec_json_add(o, "record", cJSON_CreateString(name)) ||
            rec_json_add(o, "table", cJSON_CreateString(table)) ||
            rec_json_add(o, "row", cJSON_CreateString(hex)) ||
            rec_json_add(o, "field", cJSON_CreateString(col->name)) ||
            rec_json_add(o, "sent", rec_value_json(col, &f->sent)) ||
            rec_json_add(o, "reason", cJSON_CreateNumber((double)f->reason)) ||
            rec_json_add(o, "reason_text", cJSON_CreateString(words)) ||
            rec_json_add(o, "server_text", cJSON_CreateString(detail)) ||
            rec_json_add(o, "refused_at", f->at_ms ? cJSON_CreateString(at) : cJSON_CreateNull()) ||
            rec_json_add(o, "changed_at", cJSON_CreateString(made)) ||
            rec_json_add(o, "reverted", cJSON_CreateBool(f->auto_reverted));
        free(detail);
        return bad ? FS_ENOMEM : 0;
    }
    if (w->detail) {
        printf(_("refused change %s\n  record:     %s (%s %s)\n  field:      %s\n"
                 "  value sent: %s\n  reason:     %s\n  changed:    %s\n  refused:    %s\n"),
               idtext, name, table, hex, col->name, sent, words, made, at);
        return 0;
    }
    const char *cells[] = {idtext, name, col->name, sent, words, at};
    return cli_table_add(w->t, cells) == 0 ? 0 : FS_ENOMEM;
}

int cmd_refused_list(cli_ctx *ctx, int argc, char **argv)
{
    int json = 0;
    const cli_opt opts[] = {{"--json", CLI_FLAG, &json, NULL, NULL}};
    static const cli_column cols[] = {{N_("ID"), 0},    {N_("RECORD"), 40}, {N_("FIELD"), 0},
                                      {N_("SENT"), 24}, {N_("REASON"), 48}, {N_("REFUSED"), 0}};
    fs_replica *r = NULL;
    list_walk w;
    memset(&w, 0, sizeof w);
    int rc = cli_parse(ctx, USAGE_REFUSED_LIST, opts, 1, argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    rc = cli_open(ctx, &r);
    if (rc != CLI_OK)
        return rc;
    w.r = r;
    int frc = json ? ((w.list = cJSON_CreateArray()) ? 0 : FS_ENOMEM)
                   : cli_table_new(&w.t, cols, sizeof cols / sizeof cols[0]);
    if (frc == 0)
        frc = fs_refusals(r, list_cb, &w);
    /* the records' names and the values sent are the customer's: more than
     * one record to a file or pipe is an export (issue 20.4) */
    if (frc != 0)
        rc = cli_fail(frc == FS_ENOMEM ? NULL : r, "refused list", frc);
    else if ((rc = cli_export_gate(r, "refused", cli_recset_count(&w.shown))) != CLI_OK)
        ; /* refused: nothing printed */
    else if (json)
        rc = rec_json_print(w.list, stdout) == 0 ? CLI_OK
                                                 : cli_fail(NULL, "refused list", FS_ENOMEM);
    else if (cli_table_rows(w.t) == 0)
        fputs(SAY_NONE, stdout);
    else
        cli_table_print(w.t, stdout);
    cJSON_Delete(w.list);
    cli_table_free(w.t);
    cli_recset_free(&w.shown);
    fs_replica_close(r);
    return rc;
}

/* The refusal number in argv[0], before any option. */
static int refusal_id(const char *sub, int argc, char **argv, uint64_t *id)
{
    char *end = NULL;
    if (argc < 1 || argv[0][0] < '0' || argv[0][0] > '9') {
        cli_error(SAY_NEED_ID, sub);
        return CLI_EUSAGE;
    }
    unsigned long long v = strtoull(argv[0], &end, 10);
    if (*end != '\0' || v == 0) {
        cli_error(SAY_NO_SUCH, sub, argv[0]);
        return CLI_EUSAGE;
    }
    *id = v;
    return CLI_OK;
}

/* `refused SUB --help`, or the id and the options after it. */
static int parse_with_id(cli_ctx *ctx, const char *sub, const char *usage, const cli_opt *opts,
                         size_t nopts, int argc, char **argv, uint64_t *id)
{
    if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        cli_usage(stdout, usage);
        return CLI_HELP;
    }
    int rc = refusal_id(sub, argc, argv, id);
    if (rc != CLI_OK) {
        cli_usage(stderr, usage);
        return rc;
    }
    return cli_parse(ctx, usage, opts, nopts, argc - 1, argv + 1);
}

/* A failure to find refusal id: the rep's words, exit 2. */
static int not_found(const char *sub, int argc, char **argv)
{
    cli_error(SAY_NO_SUCH, sub, argc > 0 ? argv[0] : "?");
    return CLI_EUSAGE;
}

int cmd_refused_show(cli_ctx *ctx, int argc, char **argv)
{
    int json = 0;
    const cli_opt opts[] = {{"--json", CLI_FLAG, &json, NULL, NULL}};
    uint64_t id = 0;
    int rc = parse_with_id(ctx, "show", USAGE_REFUSED_SHOW, opts, 1, argc, argv, &id);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    fs_replica *r = NULL;
    rc = cli_open(ctx, &r);
    if (rc != CLI_OK)
        return rc;
    list_walk w = {.r = r, .detail = !json};
    int frc = json ? ((w.list = cJSON_CreateArray()) ? 0 : FS_ENOMEM) : 0;
    if (frc == 0)
        frc = fs_refusal_get(r, id, list_cb, &w);
    if (frc == FS_ENOTFOUND)
        rc = not_found("show", argc, argv);
    else if (frc != 0)
        rc = cli_fail(frc == FS_ENOMEM ? NULL : r, "refused show", frc);
    else if (json)
        rc = rec_json_print(cJSON_GetArrayItem(w.list, 0), stdout) == 0
                 ? CLI_OK
                 : cli_fail(NULL, "refused show", FS_ENOMEM);
    cJSON_Delete(w.list);
    cli_recset_free(&w.shown);
    fs_replica_close(r);
    return rc;
}

/* The name of the record refusal id belongs to, before it is put right. */
typedef struct name_walk {
    fs_replica *r;
    char name[256];
} name_walk;

static int name_cb(const fs_refusal *f, void *ctx)
{
    name_walk *w = ctx;
    return refused_record_name(w->r, f->table, f->row, w->name, sizeof w->name);
}

/* revert and retry: the same shape, a different library call. */
static int put_right(cli_ctx *ctx, const char *sub, const char *usage, int argc, char **argv,
                     int (*fix)(fs_replica *, uint64_t, fs_refusal_outcome *))
{
    uint64_t id = 0;
    int rc = parse_with_id(ctx, sub, usage, NULL, 0, argc, argv, &id);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    fs_replica *r = NULL;
    rc = cli_open(ctx, &r);
    if (rc != CLI_OK)
        return rc;
    name_walk nw = {r, ""};
    fs_refusal_outcome out;
    char what[32];
    snprintf(what, sizeof what, "refused %s", sub);
    int frc = fs_refusal_get(r, id, name_cb, &nw);
    if (frc == 0)
        frc = fix(r, id, &out);
    if (frc == FS_ENOTFOUND && nw.name[0] == '\0')
        rc = not_found(sub, argc, argv);
    else if (frc != 0)
        rc = cli_fail(r, what, frc);
    else if (fix == fs_refusal_retry)
        printf(SAY_RETRIED, nw.name, out.changed);
    else if (out.removed)
        printf(SAY_REMOVED, nw.name, out.cleared);
    else if (out.changed == 0)
        printf(SAY_NOTHING_BACK, nw.name, out.cleared);
    else
        printf(SAY_REVERTED, nw.name, out.changed);
    if (rc == CLI_OK && fix == fs_refusal_revert && out.repull)
        fputs(SAY_REPULL, stdout);
    fs_replica_close(r);
    return rc;
}

int cmd_refused_revert(cli_ctx *ctx, int argc, char **argv)
{
    return put_right(ctx, "revert", USAGE_REFUSED_REVERT, argc, argv, fs_refusal_revert);
}

int cmd_refused_retry(cli_ctx *ctx, int argc, char **argv)
{
    return put_right(ctx, "retry", USAGE_REFUSED_RETRY, argc, argv, fs_refusal_retry);
}
