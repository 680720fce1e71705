/*
 * fieldsync search TEXT: the customers, contacts, visits, commitments and
 * customer questions whose text holds TEXT (fs_search: the replica's
 * trigram index, Traditional and Simplified folded alike), best first. Each
 * line names the kind, the short id, the customer, and the field that
 * matched, cut around the match. TEXT "-" is read from standard input, so
 * that customer text stays off the command line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "export.h"
#include "cmd.h"
#include "form.h"
#include "i18n.h"
#include "record.h"
#include "table.h"
#include "fieldsync/text.h"

#define SEARCH_LIMIT_DEFAULT 20
#define SEARCH_LIMIT_MAX 500

/* The kinds a rep names (--kind), their tables, and the fields shown. */
static const struct {
    const char *kind, *table, *label;
    const char *fields[7];
} kinds[] = {
    {"customer", "customer", N_("customer"),
     {"name", "industry", "business_area", "decision_chain", "history", "preferences",
      "open_questions"}},
    {"contact", "contact", N_("contact"), {"name", "position", "phone", "email"}},
    {"visit", "visit", N_("visit"),
     {"notes", "objections", "next_steps", "purpose", "place", "contact"}},
    {"commitment", "commitment", N_("commitment"), {"text"}},
    {"question", "customer_question", N_("question"), {"question", "answer"}},
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

static int kind_of_table(const char *table)
{
    for (size_t k = 0; k < NKINDS; k++)
        if (strcmp(kinds[k].table, table) == 0)
            return (int)k;
    return -1;
}

/* Reads the query from standard input (one line). */
static int read_query(char **out)
{
    size_t cap = 0;
    *out = NULL;
    ssize_t n = getline(out, &cap, stdin);
    if (n < 0) {
        free(*out);
        *out = NULL;
        return CLI_OK;
    }
    while (n > 0 && ((*out)[n - 1] == '\n' || (*out)[n - 1] == '\r'))
        (*out)[--n] = '\0';
    return CLI_OK;
}

/* The first field of the record (in the kind's order) whose folded text
 * holds the folded word w (or the first non-empty one), as a malloc'd
 * excerpt: from a few characters before the match when the fold kept the
 * text's length in characters (t2s maps character to character almost
 * always), else from its start. */
static int excerpt(const fs_rows *it, int k, const char *w, char **out)
{
    *out = NULL;
    char *first = NULL;
    for (size_t f = 0; f < 7 && kinds[k].fields[f] != NULL; f++) {
        char *t = NULL;
        int rc = rec_text(it, kinds[k].fields[f], &t);
        if (rc != 0)
            return rc;
        if (t == NULL || t[0] == '\0') {
            free(t);
            continue;
        }
        char *folded = NULL;
        if (w != NULL && fs_fold(t, strlen(t), &folded) == 0) {
            const char *at = strstr(folded, w);
            if (at != NULL) {
                size_t before = 0, cf = 0, co = 0;
                for (const char *p = folded; p < at; p++)
                    before += ((unsigned char)*p & 0xC0) != 0x80;
                for (const char *p = folded; *p; p++)
                    cf += ((unsigned char)*p & 0xC0) != 0x80;
                for (const char *p = t; *p; p++)
                    co += ((unsigned char)*p & 0xC0) != 0x80;
                size_t skip = cf == co && before > 8 ? before - 8 : 0;
                const char *s = t;
                for (size_t c = 0; c < skip && *s;) {
                    s++;
                    while (((unsigned char)*s & 0xC0) == 0x80)
                        s++;
                    c++;
                }
                size_t len = strlen(s);
                char *e = malloc(len + 4);
                if (e != NULL) {
                    memcpy(e, skip ? "…" : "", skip ? 3 : 0);
                    memcpy(e + (skip ? 3 : 0), s, len + 1);
                }
                free(folded);
                free(t);
                free(first);
                *out = e;
                return e != NULL ? 0 : FS_ENOMEM;
            }
        }
        free(folded);
        if (first == NULL)
            first = t;
        else
            free(t);
    }
    *out = first;
    return 0;
}

/* The first word of the query, folded (for the excerpt). */
static char *first_word(const char *q)
{
    char *f = NULL;
    if (fs_fold(q, strlen(q), &f) != 0)
        return NULL;
    char *save = NULL, *w = strtok_r(f, " \t", &save);
    if (w == NULL) {
        free(f);
        return NULL;
    }
    memmove(f, w, strlen(w) + 1);
    return f;
}

int cmd_search(cli_ctx *ctx, int argc, char **argv)
{
    const char *kind = NULL, *limit_s = NULL, *text = NULL;
    int json = 0;
    char *typed = NULL;
    if (argc > 0 && (strncmp(argv[0], "--", 2) != 0 || strcmp(argv[0], "--") == 0)) {
        text = argv[0];
        argc--;
        argv++;
    }
    const cli_opt opts[] = {{"--kind", CLI_VALUE, NULL, &kind, NULL},
                            {"--limit", CLI_VALUE, NULL, &limit_s, NULL},
                            {"--json", CLI_FLAG, &json, NULL, NULL}};
    int rc = cli_parse(ctx, USAGE_SEARCH, opts, N(opts), argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    if (text == NULL && cli_ask(N_("What to look for"), &typed)) /* off the shell's history */
        text = typed;
    if (text == NULL) {
        cli_error(_("search: what to look for is missing (TEXT, or - to read it from standard "
                    "input)"));
        return CLI_EUSAGE;
    }
    if (strcmp(text, "-") == 0) {
        read_query(&typed);
        text = typed;
    }
    if (text == NULL || cli_blank(text)) {
        cli_error(_("search: nothing to look for"));
        free(typed);
        return CLI_EUSAGE;
    }
    rc = cli_check_text("TEXT", text);
    if (rc == CLI_OK && strlen(text) > 512) {
        cli_error(_("%s: at most %d bytes"), "TEXT", 512);
        rc = CLI_EUSAGE;
    }
    const char *table = NULL;
    if (rc == CLI_OK && kind != NULL) {
        for (size_t k = 0; k < NKINDS && table == NULL; k++)
            if (strcmp(kind, kinds[k].kind) == 0)
                table = kinds[k].table;
        if (table == NULL) {
            char shown[160];
            cli_error(_("--kind: expected customer, contact, visit, commitment or question, got "
                        "%s"),
                      cli_typed(kind, shown, sizeof shown));
            rc = CLI_EUSAGE;
        }
    }
    long limit = SEARCH_LIMIT_DEFAULT;
    if (rc == CLI_OK && limit_s != NULL) {
        char *end = NULL;
        limit = strtol(limit_s, &end, 10);
        if (end == limit_s || *end != '\0' || limit < 1 || limit > SEARCH_LIMIT_MAX) {
            cli_error(_("--limit: expected a number from 1 to %d"), SEARCH_LIMIT_MAX);
            rc = CLI_EUSAGE;
        }
    }
    if (rc != CLI_OK) {
        free(typed);
        return rc;
    }
    fs_replica *r = NULL;
    rc = cli_open(ctx, &r);
    if (rc != CLI_OK) {
        free(typed);
        return rc;
    }
    fs_search_hit *hits = calloc((size_t)limit, sizeof *hits);
    size_t n = 0;
    int frc = hits == NULL ? FS_ENOMEM : fs_search(r, text, table, hits, (size_t)limit, &n);
    if (frc == FS_EINVAL) {
        cli_error(_("search: %s"), fs_replica_errmsg(r));
        rc = CLI_EUSAGE;
        goto out;
    }
    if (frc != 0) {
        rc = cli_fail(r, _("searching"), frc);
        goto out;
    }
    static const cli_column cols[] = {
        {N_("KIND"), 0}, {N_("ID"), 0}, {N_("CUSTOMER"), 24}, {N_("TEXT"), 60}};
    rec_index names = {NULL, 0};
    cli_table *t = NULL;
    cJSON *all = NULL;
    char *word = first_word(text);
    frc = rec_index_load(&names, r, "customer", NULL, "name");
    if (frc == 0 && json)
        frc = (all = cJSON_CreateArray()) == NULL ? FS_ENOMEM : 0;
    else if (frc == 0)
        frc = cli_table_new(&t, cols, N(cols));
    for (size_t i = 0; frc == 0 && i < n; i++) {
        int k = kind_of_table(hits[i].table);
        if (k < 0)
            continue;
        fs_value idv = fs_blob(hits[i].id, FS_ID_BYTES);
        fs_rows *it = NULL;
        frc = fs_rows_open(&it, r, hits[i].table, "id", &idv, NULL);
        if (frc != 0)
            break;
        frc = fs_rows_next(it);
        if (frc <= 0) { /* gone since the search: not shown */
            fs_rows_close(it);
            continue;
        }
        frc = 0;
        uint8_t cust[FS_ID_BYTES];
        int has_cust = 0;
        if (strcmp(hits[i].table, "customer") == 0) {
            memcpy(cust, hits[i].id, FS_ID_BYTES);
            has_cust = 1;
        } else {
            frc = rec_id(it, "customer", cust, &has_cust);
        }
        const char *cname = has_cust ? rec_index_find(&names, cust) : NULL;
        char hex[2 * FS_ID_BYTES + 1], chex[2 * FS_ID_BYTES + 1];
        fs_id_to_hex(hits[i].id, hex);
        if (has_cust)
            fs_id_to_hex(cust, chex);
        char *ex = NULL;
        if (frc == 0)
            frc = excerpt(it, k, word, &ex);
        if (frc == 0 && json) {
            cJSON *o = cJSON_CreateObject(), *rec = NULL;
            frc = o == NULL ? FS_ENOMEM : rec_json(it, hits[i].table, &rec);
            if (frc != 0)
                cJSON_Delete(o);
            else
                frc = rec_json_add(o, "kind", cJSON_CreateString(kinds[k].kind)) ||
                              rec_json_add(o, "table", cJSON_CreateString(hits[i].table)) ||
                              rec_json_add(o, "id", cJSON_CreateString(hex)) ||
                              rec_json_add(o, "rank", cJSON_CreateNumber(hits[i].rank)) ||
                              rec_json_add(o, "customer",
                                           has_cust ? cJSON_CreateString(chex) : cJSON_CreateNull()) ||
                              rec_json_add(o, "customer_name", cname ? cJSON_CreateString(cname)
                                                                     : cJSON_CreateNull()) ||
                              rec_json_add(o, "text",
                                           ex ? cJSON_CreateString(ex) : cJSON_CreateNull()) ||
                              rec_json_add(o, "record", rec) || rec_json_add(all, NULL, o)
                          ? FS_ENOMEM
                          : 0;
        } else if (frc == 0) {
            char shorthex[9];
            snprintf(shorthex, sizeof shorthex, "%.8s", hex);
            const char *cells[] = {_(kinds[k].label), shorthex, cname, ex};
            frc = cli_table_add(t, cells);
        }
        free(ex);
        fs_rows_close(it);
    }
    if (frc == 0 &&
        (rc = cli_export_gate(r, "search", json ? (size_t)cJSON_GetArraySize(all)
                                                : cli_table_rows(t))) != CLI_OK) {
        ; /* refused, said why */
    } else if (frc == 0 && json) {
        frc = rec_json_print(all, stdout);
    } else if (frc == 0) {
        if (cli_table_rows(t) == 0)
            printf(_("nothing found\n"));
        else
            cli_table_print(t, stdout);
    }
    if (frc != 0)
        rc = cli_fail(r, _("searching"), frc);
    free(word);
    cJSON_Delete(all);
    cli_table_free(t);
    rec_index_free(&names);
out:
    free(hits);
    free(typed);
    fs_replica_close(r);
    return rc;
}
