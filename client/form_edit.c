/*
 * Correcting records (issue 17 point 3): every form's edit and delete.
 *
 *   GROUP edit ID [add's options]   changes the fields given, and only them;
 *                                   each value is checked as add checks it,
 *                                   and the form's checks (dates in order,
 *                                   one a day, phone, e-mail) run over the
 *                                   record as it will be. A plan's --task
 *                                   items, when given, replace its tasks.
 *   GROUP delete ID [--with-records]
 *                                   a tombstone that syncs. A record other
 *                                   live records name (a customer's visits,
 *                                   a visit's commitments) is kept unless
 *                                   --with-records deletes them with it, in
 *                                   one transaction; a plan's tasks are part
 *                                   of it and always go with it.
 *
 * Both are checked by the record rules before anything is saved: a
 * submitted or approved plan is locked until the manager returns it
 * (fs_record_locked), a rep edits and deletes their own records only, a
 * manager's signature is no form field and stays the rules' (precheck.c).
 * The server checks the same again on push. (customer edit keeps its
 * --customer ID form: cmd_form.c.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "fieldsync/records.h"
#include "fieldsync/schema.h"
#include "form.h"
#include "i18n.h"
#include "precheck.h"
#include "record.h"

#define MAX_DEPENDENTS 4096

/* The forms of group that add records (daily has two: plan and summary). */
static size_t forms_of(const char *group, const fform *out[4])
{
    size_t n = 0;
    for (size_t i = 0; i < form_count && n < 4; i++)
        if (strcmp(form_table[i].group, group) == 0 && form_table[i].add_name != NULL)
            out[n++] = &form_table[i];
    return n;
}

/* How an option's value is typed, for a usage line. */
static const char *value_hint(const ffield *f)
{
    switch (f->kind) {
    case FK_DATE:
        return "YYYY-MM-DD";
    case FK_DATETIME:
        return "\"YYYY-MM-DD HH:MM\"";
    case FK_BOOL:
        return "yes|no";
    case FK_CUSTOMER:
    case FK_REF:
        return "ID";
    case FK_INT:
    case FK_CHOICE:
        return f->extra != NULL ? f->extra : "N";
    case FK_USER:
        return "NAME";
    case FK_MONEY:
        return "CNY";
    default:
        return "TEXT";
    }
}

/* GROUP edit's own usage, translated: the options edit takes (each field of
 * the group's forms, by form when it has several), into buf. */
static void edit_usage_text(const char *group, char *buf, size_t size)
{
    const fform *fms[4];
    size_t n = forms_of(group, fms), len = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        if (len < size)                                                                            \
            len += (size_t)snprintf(buf + len, size - len, __VA_ARGS__);                           \
    } while (0)
    buf[0] = '\0';
    PUT(_("usage: fieldsync [--home DIR] %s edit ID [OPTION VALUE]...\n"), group);
    PUT("%s", _("  changes the fields given, and only them:\n"));
    for (size_t i = 0; i < n; i++) {
        size_t col = 4;
        if (n > 1)
            PUT("  %s %s:\n", fms[i]->group, fms[i]->add_name);
        PUT("    ");
        for (size_t k = 0; k < fms[i]->nfields; k++) {
            const ffield *f = &fms[i]->fields[k];
            if (f->flag == NULL)
                continue;
            char one[96];
            int w = f->kind == FK_FLAG
                        ? snprintf(one, sizeof one, "[%s]", f->flag)
                        : snprintf(one, sizeof one, "[%s %s]", f->flag, value_hint(f));
            if (w < 0)
                continue;
            if (col > 4 && col + 1 + (size_t)w > 78) {
                PUT("\n    ");
                col = 4;
            }
            PUT("%s%s", col > 4 ? " " : "", one);
            col += (col > 4 ? 1 : 0) + (size_t)w;
        }
        PUT("\n");
    }
    PUT("%s", _("  an optional field given as \"\" is cleared\n"));
#undef PUT
}

static void edit_usage(FILE *f, const char *group)
{
    char buf[4096];
    edit_usage_text(group, buf, sizeof buf);
    fputs(buf, f);
}

static void delete_usage_text(const char *group, char *buf, size_t size)
{
    snprintf(buf, size, "%s",
             _("  deletes the record (the deletion syncs); --with-records deletes the records\n"
               "  that name it too (a customer's contacts, visits, commitments, ...)\n"));
    char head[160];
    snprintf(head, sizeof head, _("usage: fieldsync [--home DIR] %s delete ID [--with-records]\n"),
             group);
    size_t hn = strlen(head), bn = strlen(buf);
    if (hn + bn < size) {
        memmove(buf + hn, buf, bn + 1);
        memcpy(buf, head, hn);
    }
}

static void delete_usage(FILE *f, const char *group)
{
    char buf[1024];
    delete_usage_text(group, buf, sizeof buf);
    fputs(buf, f);
}

/* "ID first": the record's id before any option; --help prints usage.
 * The group's forms into fms (CLI_EUSAGE for a group without any). */
static int id_first(const char *group, const char *sub, int argc, char **argv,
                    void (*usage)(FILE *, const char *), const fform *fms[4])
{
    if (argc >= 1 && strncmp(argv[0], "--", 2) != 0)
        return forms_of(group, fms) == 0 ? CLI_EUSAGE : CLI_OK;
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout, group);
            return CLI_HELP;
        }
    cli_error(_("%s %s: give the record's id first"), group, sub);
    usage(stderr, group);
    return CLI_EUSAGE;
}

/* The record's status (NULL when its kind has none or it is not set),
 * malloc'd, into *out. */
static int record_status(fs_replica *r, const char *table, const uint8_t id[FS_ID_BYTES],
                         char **out)
{
    const fs_record_rules *rr = fs_record_rules_of(table);
    *out = NULL;
    if (rr == NULL || rr->status == NULL)
        return 0;
    fs_rows *it = NULL;
    fs_value key = fs_blob(id, FS_ID_BYTES);
    int rc = fs_rows_open(&it, r, table, "id", &key, NULL);
    if (rc == 0 && (rc = fs_rows_next(it)) == 1)
        rc = rec_text(it, rr->status, out);
    fs_rows_close(it);
    return rc < 0 ? rc : 0;
}

/* The record rules an edit or delete of a record answers to, before the
 * per-value ones of precheck_write: its status may lock the columns (a
 * submitted plan), and a rep changes their own records only. CLI_OK or
 * CLI_EUSAGE with the rule named. */
static int check_record(fs_replica *r, const char *command, const char *table,
                        const uint8_t id[FS_ID_BYTES], const fs_cell *cells, size_t nc,
                        int parts)
{
    char hex[2 * FS_ID_BYTES + 1], me[FS_USER_MAX + 1];
    fs_id_to_hex(id, hex);
    char *status = NULL;
    int frc = record_status(r, table, id, &status);
    if (frc != 0)
        return cli_fail(r, command, frc);
    int tix = fs_schema_table_index(table);
    unsigned nt;
    const fs_table *t = &fs_schema_tables(&nt)[tix];
    /* parts: its child items change (a plan's tasks), content as its
     * tombstone is */
    for (size_t i = 0; i < nc + (parts != 0); i++) {
        int col = i < nc ? fs_schema_column_index(t, cells[i].column) : 0;
        if (col >= 0 && fs_record_locked((unsigned)tix, (unsigned)col, status)) {
            if (strcmp(table, "contract") == 0)
                cli_error(_("%s: %.8s is %s: a signed contract keeps what was signed and its "
                            "checks; it is not changed or deleted"),
                          command, hex, status);
            else
                cli_error(_("%s: %.8s is %s: a submitted or approved plan is not changed or "
                            "deleted until the manager returns it (it must be %s)"),
                          command, hex, status, fs_record_open_statuses(table));
            free(status);
            return CLI_EUSAGE;
        }
    }
    free(status);
    /* A rep's own records only (the server refuses the others' in any case). */
    fs_record_role role;
    frc = precheck_role(r, me, &role);
    if (frc != 0)
        return cli_fail(r, command, frc);
    const fs_record_rules *rr = fs_record_rules_of(table);
    if (role == FS_RECORD_REP && rr->owner != NULL) {
        fs_rows *it = NULL;
        char *owner = NULL;
        fs_value key = fs_blob(id, FS_ID_BYTES);
        frc = fs_rows_open(&it, r, table, "id", &key, NULL);
        if (frc == 0 && (frc = fs_rows_next(it)) == 1)
            frc = rec_text(it, rr->owner, &owner);
        fs_rows_close(it);
        if (frc < 0)
            return cli_fail(r, command, frc);
        if (owner != NULL && owner[0] != '\0' && strcmp(owner, me) != 0) {
            cli_error(_("%s: %.8s is %s's record: a rep edits and deletes their own records"
                        " only"),
                      command, hex, owner);
            free(owner);
            return CLI_EUSAGE;
        }
        free(owner);
    }
    return precheck_write(r, command, table, id, cells, nc);
}

/* ---- edit ---- */

/* The stored value of f's column as add's option would give it, into a
 * malloc'd *out (NULL when not set): for the form's checks over the record
 * as it will be. */
static int stored_as_typed(const fs_rows *it, const ffield *f, char **out)
{
    fs_value v;
    *out = NULL;
    if (f->column == NULL || fs_rows_get(it, f->column, &v) != 0 || v.type == FS_NULL)
        return 0;
    char buf[2 * FS_ID_BYTES + 1];
    if (v.type == FS_BLOB && v.n == FS_ID_BYTES)
        fs_id_to_hex(v.p, buf);
    else if (v.type == FS_INT && f->kind == FK_BOOL)
        snprintf(buf, sizeof buf, "%s", v.i ? "yes" : "no");
    else if (v.type == FS_INT)
        snprintf(buf, sizeof buf, "%lld", (long long)v.i);
    else if (v.type == FS_TEXT)
        return rec_text(it, f->column, out);
    else
        return 0;
    *out = strdup(buf);
    return *out == NULL ? FS_ENOMEM : 0;
}

int form_stored_text(fs_replica *r, const fs_rows *it, const char *table, const ffield *f,
                     char **out)
{
    fs_value v;
    *out = NULL;
    if (f->column == NULL || fs_rows_get(it, f->column, &v) != 0 || v.type == FS_NULL)
        return 0;
    /* a customer or a deal by its name, as the rep names it */
    const char *ref = f->kind == FK_CUSTOMER ? "customer"
                      : f->kind == FK_REF && f->extra != NULL && strncmp(f->extra, "--", 2) != 0
                          ? f->extra
                          : NULL;
    if (ref != NULL && fs_name_column(ref) != NULL && v.type == FS_BLOB && v.n == FS_ID_BYTES) {
        fs_rows *c = NULL;
        fs_value key = fs_blob(v.p, FS_ID_BYTES);
        int rc = fs_rows_open(&c, r, ref, "id", &key, NULL);
        if (rc == 0 && (rc = fs_rows_next(c)) == 1)
            rc = rec_text(c, fs_name_column(ref), out);
        fs_rows_close(c);
        if (rc < 0 || *out != NULL)
            return rc < 0 ? rc : 0;
    }
    return form_value_text(it, table, f->column, out); /* as show shows it */
}

/* The stored tasks' parts (the child items), for the period check. */
static int stored_children(fs_replica *r, const fchild *ch, const uint8_t id[FS_ID_BYTES],
                           char *(**parts)[3], size_t *n)
{
    fs_rows *it = NULL;
    fs_value eq = fs_blob(id, FS_ID_BYTES);
    size_t cap = 0;
    int rc = fs_rows_open(&it, r, ch->table, ch->parent_col, &eq, NULL);
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        rc = 0;
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            char *(*np)[3] = realloc(*parts, nc * sizeof *np);
            if (np == NULL) {
                rc = FS_ENOMEM;
                break;
            }
            *parts = np;
            cap = nc;
        }
        char **p = (*parts)[*n];
        p[0] = p[1] = p[2] = NULL;
        (*n)++;
        for (int c = 0; rc == 0 && c < 3; c++)
            if (ch->cols[c] != NULL)
                rc = rec_text(it, ch->cols[c], &p[c]);
    }
    fs_rows_close(it);
    return rc < 0 ? rc : 0;
}

static void parts_free(char *(*parts)[3], size_t n)
{
    for (size_t k = 0; parts != NULL && k < n; k++)
        for (int c = 0; c < 3; c++)
            free(parts[k][c]);
    free(parts);
}

/* The form a record of group was made with: the one whose kind
 * (init_col) it has, when the group has several. */
static const fform *form_of_record(fs_replica *r, const char *group, const uint8_t *id,
                                   int *rc)
{
    const fform *fms[4];
    size_t n = forms_of(group, fms);
    *rc = CLI_OK;
    if (n <= 1 || fms[0]->init_col == NULL)
        return n ? fms[0] : NULL;
    fs_rows *it = NULL;
    char *kind = NULL;
    fs_value key = fs_blob(id, FS_ID_BYTES);
    int frc = fs_rows_open(&it, r, fms[0]->table, "id", &key, NULL);
    if (frc == 0 && (frc = fs_rows_next(it)) == 1)
        frc = rec_text(it, fms[0]->init_col, &kind);
    fs_rows_close(it);
    if (frc < 0) {
        *rc = cli_fail(r, group, frc);
        return NULL;
    }
    const fform *fm = fms[0];
    for (size_t i = 0; kind != NULL && i < n; i++)
        if (strcmp(fms[i]->init_val, kind) == 0)
            fm = fms[i];
    free(kind);
    return fm;
}

/* Writes the edit: the cells, and the child items given (they replace
 * the record's: the old ones get tombstones). */
static int edit_write(fs_replica *r, const fform *fm, const char *command,
                      const uint8_t id[FS_ID_BYTES], const fs_cell *cells, size_t nc,
                      char *(*parts)[3], size_t nparts, int replace_children)
{
    const fchild *ch = fm->child;
    int frc = fs_begin(r);
    if (frc == 0 && nc > 0)
        frc = fs_update(r, fm->table, id, cells, nc);
    if (frc == 0 && replace_children) {
        fs_rows *it = NULL;
        fs_value eq = fs_blob(id, FS_ID_BYTES);
        uint8_t (*old)[FS_ID_BYTES] = NULL;
        size_t nold = 0, cap = 0;
        frc = fs_rows_open(&it, r, ch->table, ch->parent_col, &eq, NULL);
        while (frc == 0 && (frc = fs_rows_next(it)) == 1) {
            frc = 0;
            if (nold == cap) {
                cap = cap ? cap * 2 : 8;
                void *np = realloc(old, cap * sizeof *old);
                if (np == NULL) {
                    frc = FS_ENOMEM;
                    break;
                }
                old = np;
            }
            memcpy(old[nold++], fs_rows_id(it), FS_ID_BYTES);
        }
        fs_rows_close(it);
        for (size_t k = 0; frc >= 0 && k < nold; k++)
            frc = fs_delete(r, ch->table, old[k]);
        free(old);
        const fs_record_rules *crr = fs_record_rules_of(ch->table);
        for (size_t k = 0; frc >= 0 && k < nparts; k++) {
            fs_cell cc[5] = {{ch->parent_col, fs_blob(id, FS_ID_BYTES)}};
            size_t ncc = 1;
            for (int c = 0; c < 3; c++)
                if (parts[k][c] != NULL && !cli_blank(parts[k][c]))
                    cc[ncc++] = (fs_cell){ch->cols[c], fs_text(parts[k][c])};
            if (crr->status != NULL)
                cc[ncc++] = (fs_cell){crr->status, fs_text(crr->initial)};
            uint8_t cid[FS_ID_BYTES];
            frc = fs_insert(r, ch->table, cc, ncc, cid);
        }
    }
    if (frc >= 0)
        frc = fs_commit(r);
    if (frc < 0) {
        int rc = cli_fail(r, command, frc);
        fs_rollback(r);
        return rc;
    }
    return CLI_OK;
}

int form_ask_record(fs_replica *r, const fform *fm, const ffield *fields, size_t n,
                    const uint8_t id[FS_ID_BYTES], values *vs)
{
    char *shown[FORM_MAX_FIELDS] = {NULL};
    fs_rows *it = NULL;
    fs_value key = fs_blob(id, FS_ID_BYTES);
    int frc = fs_rows_open(&it, r, fm->table, "id", &key, NULL);
    if (frc == 0 && (frc = fs_rows_next(it)) != 1)
        frc = frc == 0 ? FS_ENOTFOUND : frc;
    for (size_t i = 0; frc >= 0 && i < n; i++)
        frc = form_stored_text(r, it, fm->table, &fields[i], &shown[i]);
    fs_rows_close(it);
    int rc = frc < 0 ? cli_fail(r, fm->group, frc) : form_ask_edit(fm, fields, n, shown, vs);
    if (rc == CLI_OK)
        rc = form_ask_refs(r, fields, n, vs);
    for (size_t i = 0; i < FORM_MAX_FIELDS; i++)
        free(shown[i]);
    return rc;
}

static int edit_record(cli_ctx *ctx, const char *group, int argc, char **argv);

int form_edit_record(cli_ctx *ctx, const char *group, int argc, char **argv)
{
    /* Nothing given at a terminal: which record, asked for (by name too),
     * so a customer's name need not stand in the shell's history. */
    const fform *fms[4];
    char *asked = NULL, *one[2] = {NULL, NULL};
    if (argc == 0 && isatty(STDIN_FILENO) && forms_of(group, fms) > 0 &&
        form_ask_which(fms[0]->table, 1, &asked)) {
        one[0] = asked;
        argc = 1;
        argv = one;
    }
    int rc = edit_record(ctx, group, argc, argv);
    free(asked);
    return rc;
}

static int edit_record(cli_ctx *ctx, const char *group, int argc, char **argv)
{
    char command[64];
    snprintf(command, sizeof command, "%s edit", group);
    const fform *fms[4];
    int rc = id_first(group, "edit", argc, argv, edit_usage, fms);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    const char *hex = argv[0];
    rc = cli_check_ref("ID", fms[0]->table, hex);
    fs_replica *r = NULL;
    if (rc == CLI_OK)
        rc = cli_open(ctx, &r);
    uint8_t id[FS_ID_BYTES];
    if (rc == CLI_OK)
        rc = cli_resolve(r, fms[0]->table, "ID", hex, id);
    const fform *fm = rc == CLI_OK ? form_of_record(r, group, id, &rc) : NULL;
    values vs, mv;
    memset(&vs, 0, sizeof vs);
    memset(&mv, 0, sizeof mv);
    cli_list children = {NULL, 0};
    cli_opt opts[FORM_MAX_FIELDS + 1];
    size_t nopts = 0;
    int can_children = fm != NULL && fm->child != NULL && !fm->child->no_show;
    for (size_t i = 0; fm != NULL && i < fm->nfields; i++) {
        const ffield *f = &fm->fields[i];
        if (f->kind == FK_FLAG)
            opts[nopts++] = (cli_opt){f->flag, CLI_FLAG, &vs.flag[i], NULL, NULL};
        else if (f->flag != NULL)
            opts[nopts++] = (cli_opt){f->flag, CLI_VALUE, NULL, &vs.v[i], NULL};
    }
    if (can_children)
        opts[nopts++] = (cli_opt){fm->child->flag, CLI_LIST, NULL, NULL, &children};
    char usage[4096];
    edit_usage_text(group, usage, sizeof usage);
    if (rc == CLI_OK)
        rc = cli_parse(ctx, usage, opts, nopts, argc - 1, argv + 1);
    if (rc == CLI_OK) /* --notes -: the new words from standard input, as add reads them */
        rc = form_take(fm->fields, fm->nfields, &vs);
    /* what is given, each value as add checks it */
    int given = children.count > 0;
    for (size_t i = 0; rc == CLI_OK && i < fm->nfields; i++) {
        const ffield *f = &fm->fields[i];
        if (f->kind == FK_FLAG) {
            given |= vs.flag[i];
            continue;
        }
        if (vs.v[i] == NULL)
            continue;
        given = 1;
        if (f->required && cli_blank(vs.v[i]))
            rc = cli_require(command, f->flag, vs.v[i]);
        else if (!cli_blank(vs.v[i]))
            rc = form_check_value(f, vs.v[i]);
    }
    if (rc == CLI_OK && !given && isatty(STDIN_FILENO)) { /* corrected at the terminal */
        rc = form_ask_record(r, fm, fm->fields, fm->nfields, id, &vs);
        for (size_t i = 0; rc == CLI_OK && i < fm->nfields; i++)
            given |= vs.v[i] != NULL;
        if (rc == CLI_OK && !given) {
            printf(_("%s: nothing changed\n"), command);
            rc = CLI_HELP; /* done, with nothing to write: exit 0 */
        }
    }
    if (rc == CLI_OK && !given) {
        cli_error(_("%s: nothing to change; give the fields to change, as 'fieldsync %s edit"
                    " --help' lists them"),
                  command, group);
        rc = CLI_EUSAGE;
    }
    char *(*parts)[3] = NULL;
    size_t nparts = 0;
    if (rc == CLI_OK && children.count > 0) {
        parts = calloc(children.count, sizeof *parts);
        if (parts == NULL)
            rc = cli_fail(NULL, command, FS_ENOMEM);
        nparts = parts ? children.count : 0;
    }
    for (size_t k = 0; rc == CLI_OK && k < children.count; k++)
        rc = fm->child->split != NULL
                 ? fm->child->split(fm, &vs, k + 1, children.items[k], parts[k])
                 : form_split_parts(fm, k, children.items[k], parts[k]);
    /* the record as it will be: the stored values under the given ones */
    char *stored[FORM_MAX_FIELDS] = {NULL};
    fs_rows *it = NULL;
    if (rc == CLI_OK) {
        fs_value key = fs_blob(id, FS_ID_BYTES);
        int frc = fs_rows_open(&it, r, fm->table, "id", &key, NULL);
        if (frc == 0 && (frc = fs_rows_next(it)) != 1)
            frc = frc == 0 ? FS_ENOTFOUND : frc;
        for (size_t i = 0; frc >= 0 && i < fm->nfields; i++)
            if (vs.v[i] == NULL)
                frc = stored_as_typed(it, &fm->fields[i], &stored[i]);
        fs_rows_close(it);
        if (frc < 0)
            rc = cli_fail(r, command, frc);
    }
    cli_now(mv.nowbuf);
    memcpy(mv.today, mv.nowbuf, 10);
    memcpy(vs.nowbuf, mv.nowbuf, sizeof vs.nowbuf);
    memcpy(vs.today, mv.today, sizeof vs.today);
    for (size_t i = 0; fm != NULL && i < fm->nfields; i++) {
        mv.v[i] = vs.v[i] != NULL ? vs.v[i] : stored[i];
        mv.flag[i] = vs.flag[i];
    }
    char *(*sparts)[3] = NULL;
    size_t nsparts = 0;
    if (rc == CLI_OK && fm->child != NULL && can_children && children.count == 0) {
        int frc = stored_children(r, fm->child, id, &sparts, &nsparts);
        if (frc < 0)
            rc = cli_fail(r, command, frc);
    }
    if (rc == CLI_OK)
        rc = form_check_given(fm, &mv, children.count ? parts : sparts,
                              children.count ? nparts : nsparts);
    /* a "no" needs its improvement measure (Form 3), as the record will be */
    for (size_t i = 0; rc == CLI_OK && i < fm->nfields; i++) {
        const ffield *f = &fm->fields[i];
        if (f->kind != FK_BOOL || f->extra == NULL || mv.v[i] == NULL || form_is_yes(mv.v[i]))
            continue;
        for (size_t j = 0; j < fm->nfields; j++)
            if (fm->fields[j].flag != NULL && strcmp(fm->fields[j].flag, f->extra) == 0 &&
                (mv.v[j] == NULL || cli_blank(mv.v[j]))) {
                cli_error(_("%s is required when %s is no"), fm->fields[j].flag, f->flag);
                rc = CLI_EUSAGE;
                break;
            }
    }
    char me[FS_USER_MAX + 1] = "";
    if (rc == CLI_OK && fs_replica_user(r, me) != 0)
        me[0] = '\0';
    if (rc == CLI_OK)
        rc = form_check_stored_except(r, fm, &vs, me, id);
    /* the cells: the given fields only */
    fs_cell cells[FORM_MAX_FIELDS + 1];
    uint8_t ids[FORM_MAX_FIELDS][FS_ID_BYTES];
    size_t nc = 0;
    for (size_t i = 0; rc == CLI_OK && i < fm->nfields; i++) {
        const ffield *f = &fm->fields[i];
        if (f->kind == FK_FLAG && f->column != NULL && vs.flag[i])
            cells[nc++] = (fs_cell){f->column, fs_int(1)};
        else if (f->kind != FK_FLAG && f->kind != FK_NOW && vs.v[i] != NULL && f->column != NULL)
            rc = form_to_cell(r, f, vs.v[i], &vs, fm->fields, fm->nfields, ids[i], &cells[nc++]);
    }
    /* a payment or contract moved to another deal takes that deal's
     * customer with it (issue 19.2) */
    char held[FS_USER_MAX + 1];
    if (rc == CLI_OK && fm->complete == form_deal_customer)
        rc = form_deal_customer(r, cells, &nc, held);
    if (rc == CLI_OK)
        rc = check_record(r, command, fm->table, id, cells, nc, children.count > 0);
    if (rc == CLI_OK)
        rc = edit_write(r, fm, command, id, cells, nc, parts, nparts, children.count > 0);
    if (rc == CLI_OK) {
        char full[2 * FS_ID_BYTES + 1];
        fs_id_to_hex(id, full);
        cli_said(command, fm->table, full, 0, 0);
    }
    fs_replica_close(r);
    for (size_t i = 0; i < FORM_MAX_FIELDS; i++)
        free(stored[i]);
    parts_free(parts, nparts);
    parts_free(sparts, nsparts);
    cli_list_free(&children);
    form_values_free(&vs);
    return rc == CLI_HELP ? CLI_OK : rc;
}

/* ---- delete ---- */

typedef struct dep {
    unsigned table;
    uint8_t id[FS_ID_BYTES];
} dep;

typedef struct deps {
    dep *v;
    size_t n, cap;
} deps;

/* 1 if rows of table t are a device's to delete along with what they name:
 * the record kinds a device writes (not the server's own records, not
 * conflict records, which follow a row's field and not the row). */
static int deletable_kind(unsigned t, const fs_table *tb)
{
    const fs_record_rules *rr = fs_record_rules_at(t);
    return rr != NULL && rr->by != 0 && strcmp(tb->name, "conflict") != 0;
}

/* Adds to out the live rows that name (table, id) in an id column, and
 * theirs in turn (a customer's visit's commitments). */
static int collect(fs_replica *r, unsigned table, const uint8_t id[FS_ID_BYTES], deps *out,
                   int depth)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    size_t from = out->n;
    for (unsigned t = 0; t < nt; t++) {
        const fs_table *tb = &tables[t];
        if (!deletable_kind(t, tb))
            continue;
        for (unsigned c = 1; c < tb->ncolumns; c++) {
            if (tb->columns[c].type != FS_COL_ID || tb->columns[c].ref == NULL ||
                strcmp(tb->columns[c].ref, tables[table].name) != 0)
                continue;
            fs_rows *it = NULL;
            fs_value eq = fs_blob(id, FS_ID_BYTES);
            int rc = fs_rows_open(&it, r, tb->name, tb->columns[c].name, &eq, NULL);
            while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
                rc = 0;
                int dup = 0;
                for (size_t k = 0; k < out->n && !dup; k++)
                    dup = out->v[k].table == t &&
                          memcmp(out->v[k].id, fs_rows_id(it), FS_ID_BYTES) == 0;
                if (dup)
                    continue;
                if (out->n == out->cap) {
                    size_t ncap = out->cap ? out->cap * 2 : 16;
                    dep *nv = ncap > MAX_DEPENDENTS ? NULL : realloc(out->v, ncap * sizeof *nv);
                    if (nv == NULL) {
                        rc = FS_ENOMEM;
                        break;
                    }
                    out->v = nv;
                    out->cap = ncap;
                }
                out->v[out->n].table = t;
                memcpy(out->v[out->n].id, fs_rows_id(it), FS_ID_BYTES);
                out->n++;
            }
            fs_rows_close(it);
            if (rc < 0)
                return rc;
        }
    }
    for (size_t k = from, end = out->n; depth < 3 && k < end; k++) {
        int rc = collect(r, out->v[k].table, out->v[k].id, out, depth + 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* "3 visits": a count of one record kind in the rep's words (the catalog
 * gives each kind its plural forms; Chinese has one, with its measure
 * word). */
static void kind_count(const char *table, unsigned long n, char *buf, size_t size)
{
    if (strcmp(table, "customer") == 0)
        snprintf(buf, size, ngettext("%lu customer", "%lu customers", n), n);
    else if (strcmp(table, "contact") == 0)
        snprintf(buf, size, ngettext("%lu contact", "%lu contacts", n), n);
    else if (strcmp(table, "visit") == 0)
        snprintf(buf, size, ngettext("%lu visit", "%lu visits", n), n);
    else if (strcmp(table, "commitment") == 0)
        snprintf(buf, size, ngettext("%lu commitment", "%lu commitments", n), n);
    else if (strcmp(table, "weekly_plan") == 0)
        snprintf(buf, size, ngettext("%lu weekly plan", "%lu weekly plans", n), n);
    else if (strcmp(table, "plan_task") == 0)
        snprintf(buf, size, ngettext("%lu plan task", "%lu plan tasks", n), n);
    else if (strcmp(table, "daily_report") == 0)
        snprintf(buf, size, ngettext("%lu daily report", "%lu daily reports", n), n);
    else if (strcmp(table, "self_check") == 0)
        snprintf(buf, size, ngettext("%lu self-check", "%lu self-checks", n), n);
    else if (strcmp(table, "complaint") == 0)
        snprintf(buf, size, ngettext("%lu complaint", "%lu complaints", n), n);
    else if (strcmp(table, "requirement_request") == 0)
        snprintf(buf, size, ngettext("%lu requirement request", "%lu requirement requests", n), n);
    else if (strcmp(table, "acceptance") == 0)
        snprintf(buf, size, ngettext("%lu acceptance", "%lu acceptances", n), n);
    else if (strcmp(table, "marketing_request") == 0)
        snprintf(buf, size, ngettext("%lu marketing request", "%lu marketing requests", n), n);
    else if (strcmp(table, "customer_question") == 0)
        snprintf(buf, size, ngettext("%lu customer question", "%lu customer questions", n), n);
    else if (strcmp(table, "spot_check") == 0)
        snprintf(buf, size, ngettext("%lu spot-check", "%lu spot-checks", n), n);
    else if (strcmp(table, "deal") == 0)
        snprintf(buf, size, ngettext("%lu deal", "%lu deals", n), n);
    else if (strcmp(table, "payment") == 0)
        snprintf(buf, size, ngettext("%lu payment", "%lu payments", n), n);
    else if (strcmp(table, "contract") == 0)
        snprintf(buf, size, ngettext("%lu contract", "%lu contracts", n), n);
    else if (strcmp(table, "survey") == 0)
        snprintf(buf, size, ngettext("%lu survey", "%lu surveys", n), n);
    else
        snprintf(buf, size, ngettext("%lu other record", "%lu other records", n), n);
}

int form_delete(cli_ctx *ctx, const char *group, int argc, char **argv)
{
    char command[64];
    snprintf(command, sizeof command, "%s delete", group);
    const fform *fms[4];
    int rc = id_first(group, "delete", argc, argv, delete_usage, fms);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    const fform *fm = fms[0];
    const char *hex = argv[0];
    int with = 0;
    cli_opt opts[] = {{"--with-records", CLI_FLAG, &with, NULL, NULL}};
    char usage[1024];
    delete_usage_text(group, usage, sizeof usage);
    rc = cli_check_ref("ID", fm->table, hex);
    if (rc == CLI_OK)
        rc = cli_parse(ctx, usage, opts, 1, argc - 1, argv + 1);
    fs_replica *r = NULL;
    if (rc == CLI_OK)
        rc = cli_open(ctx, &r);
    uint8_t id[FS_ID_BYTES];
    if (rc == CLI_OK)
        rc = cli_resolve(r, fm->table, "ID", hex, id);
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    unsigned tix = (unsigned)fs_schema_table_index(fm->table);
    fs_cell tomb = {"deleted", fs_int(1)};
    if (rc == CLI_OK)
        rc = check_record(r, command, fm->table, id, &tomb, 1, 0);
    deps d = {NULL, 0, 0};
    if (rc == CLI_OK) {
        int frc = collect(r, tix, id, &d, 0);
        if (frc < 0)
            rc = cli_fail(r, command, frc);
    }
    /* A form's own child items (a plan's tasks) are part of it. */
    size_t others = 0;
    for (size_t k = 0; k < d.n; k++)
        others += !(fm->child != NULL && !fm->child->no_show &&
                     strcmp(tables[d.v[k].table].name, fm->child->table) == 0);
    char full[2 * FS_ID_BYTES + 1];
    fs_id_to_hex(id, full);
    if (rc == CLI_OK && others > 0 && !with) {
        char kinds[256] = "";
        for (unsigned t = 0; t < nt; t++) {
            size_t c = 0;
            for (size_t k = 0; k < d.n; k++)
                c += d.v[k].table == t;
            if (c == 0)
                continue;
            char one[96];
            kind_count(tables[t].name, (unsigned long)c, one, sizeof one);
            snprintf(kinds + strlen(kinds), sizeof kinds - strlen(kinds), "%s%s",
                     kinds[0] ? _(", ") : "", one);
        }
        cli_error(ngettext("%s: %.8s is named by %zu other record (%s): delete it first, or give"
                           " --with-records to delete it with it",
                           "%s: %.8s is named by %zu other records (%s): delete them first, or"
                           " give --with-records to delete them with it",
                           others),
                  command, full, others, kinds);
        rc = CLI_EUSAGE;
    }
    for (size_t k = 0; rc == CLI_OK && k < d.n; k++)
        rc = check_record(r, command, tables[d.v[k].table].name, d.v[k].id, &tomb, 1, 0);
    int frc = rc == CLI_OK ? fs_begin(r) : 0;
    for (size_t k = 0; rc == CLI_OK && frc == 0 && k < d.n; k++)
        frc = fs_delete(r, tables[d.v[k].table].name, d.v[k].id);
    if (rc == CLI_OK && frc == 0)
        frc = fs_delete(r, fm->table, id);
    if (rc == CLI_OK && frc == 0)
        frc = fs_commit(r);
    if (rc == CLI_OK && frc != 0) {
        rc = cli_fail(r, command, frc);
        fs_rollback(r);
    }
    if (rc == CLI_OK)
        cli_said(command, fm->table, full, 1, others);
    free(d.v);
    fs_replica_close(r);
    return rc == CLI_HELP ? CLI_OK : rc;
}
