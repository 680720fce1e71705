/*
 * The form engine's writes (the forms are rows of form_table.c; their
 * input is checked in form_input.c, listed and shown in form_view.c). One
 * implementation serves them all:
 *
 *   GROUP add --flag VALUE ...   checks every field, asks for the missing
 *                                required ones on a terminal, writes the
 *                                record (and its child items) in one
 *                                transaction, prints its id
 *   GROUP edit --ID-FLAG ID ...  changes the fields given
 *   GROUP list [--json]          a table (CJK-aligned) or JSON
 *   GROUP show ID [--json]       one record, every field
 *   GROUP ACTION ID [...]        a state change, checked against the
 *                                record rules (fieldsync/records.h)
 *
 * The record rules also say who signs a new record (the device's user, from
 * fieldsync whoami, as its rep, owner or supervisor) and the status it
 * starts in.
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

/* ---- add ---- */

/* Splits the k-th (from 0) child item "A|B|C" at each "|" into parts and
 * checks them as the child's columns. */
int form_split_parts(const fform *fm, size_t k, const char *s, char *parts[3])
{
    const fchild *ch = fm->child;
    int rc = CLI_OK;
    for (int c = 0; c < 3 && rc == CLI_OK; c++) {
        const char *bar = c < 2 ? strchr(s, '|') : NULL;
        size_t len = bar ? (size_t)(bar - s) : strlen(s);
        if (c < 2 && bar == NULL && ch->required[c + 1]) {
            cli_error(_("%s #%zu: expected \"%s\""), ch->flag, k + 1, ch->format);
            rc = CLI_EUSAGE;
            break;
        }
        parts[c] = strndup(s, len);
        if (parts[c] == NULL) {
            rc = cli_fail(NULL, fm->group, FS_ENOMEM);
            break;
        }
        ffield f = {ch->flag, ch->cols[c], ch->kinds[c], ch->required[c], ch->cols[c], NULL, 0};
        if (ch->required[c] && cli_blank(parts[c])) {
            cli_error(_("%s #%zu: the %s is missing (\"%s\")"), ch->flag, k + 1, ch->cols[c],
                      ch->format);
            rc = CLI_EUSAGE;
        } else if (!cli_blank(parts[c])) {
            rc = form_check_value(&f, parts[c]);
        }
        s = bar ? bar + 1 : s + len;
        if (bar == NULL)
            break;
    }
    return rc;
}

/* The cells of a new record: its fields in order (FK_NOW in its place),
 * then the user by default, who signs, the stamp, the kind, the status. */
static int add_cells(fs_replica *r, const fform *fm, values *vs, fs_cell *cells, size_t *nc,
                     uint8_t ids[][FS_ID_BYTES], char me[FS_USER_MAX + 1])
{
    const fs_record_rules *rr = fs_record_rules_of(fm->table);
    int rc = CLI_OK;
    const char *given_default = NULL;
    *nc = 0;
    for (size_t i = 0; rc == CLI_OK && i < fm->nfields; i++) {
        const ffield *f = &fm->fields[i];
        const char *v = vs->v[i];
        if (fm->me_default != NULL && f->column != NULL && strcmp(f->column, fm->me_default) == 0)
            given_default = cli_blank(v) ? NULL : v;
        if (f->kind == FK_FLAG && f->column != NULL) /* NULL: an option only (--confirm) */
            cells[(*nc)++] = (fs_cell){f->column, fs_int(vs->flag[i])};
        else if (f->kind == FK_NOW)
            cells[(*nc)++] = (fs_cell){f->column, fs_text(vs->nowbuf)};
        else if (v != NULL && f->column != NULL && !(fm->by_command && cli_blank(v)))
            rc = form_to_cell(r, f, v, vs, fm->fields, fm->nfields, ids[i], &cells[(*nc)++]);
    }
    /* No user name set: no default, and no error. */
    if (rc == CLI_OK && fm->me_default != NULL && given_default == NULL &&
        fs_replica_user(r, me) == 0)
        cells[(*nc)++] = (fs_cell){fm->me_default, fs_text(me)};
    if (rc == CLI_OK && rr->signer != NULL)
        cells[(*nc)++] = (fs_cell){rr->signer, fs_text(me)};
    if (rc == CLI_OK && fm->stamp_col != NULL)
        cells[(*nc)++] = (fs_cell){fm->stamp_col, fs_text(vs->nowbuf)};
    if (rc == CLI_OK && fm->init_col != NULL)
        cells[(*nc)++] = (fs_cell){fm->init_col, fs_text(fm->init_val)};
    if (rc == CLI_OK && rr->status != NULL)
        cells[(*nc)++] = (fs_cell){rr->status, fs_text(rr->initial)};
    return rc;
}

/* Writes the record and its child items in one transaction; prints its id.
 * Without a user name set a form the rules sign cannot be written. */
static int add_write(fs_replica *r, const fform *fm, const char *command, const fs_cell *cells,
                     size_t nc, char *(*parts)[3], size_t nchildren)
{
    const fchild *ch = fm->child;
    uint8_t id[FS_ID_BYTES];
    char what[96];
    snprintf(what, sizeof what, "%s: %s", command,
             fm->by_command ? "starting a transaction" : "saving");
    int prc = precheck_write(r, command, fm->table, NULL, cells, nc); /* the record rules */
    if (prc != CLI_OK)
        return prc;
    int frc = fs_begin(r);
    int in_tx = frc == 0;
    if (frc == 0) {
        frc = fs_insert(r, fm->table, cells, nc, id);
        if (frc != 0 && fm->by_command)
            snprintf(what, sizeof what, "%s: saving %s", command, fm->what);
    }
    for (size_t k = 0; frc == 0 && k < nchildren; k++) {
        fs_cell cc[5] = {{ch->parent_col, fs_blob(id, FS_ID_BYTES)}};
        size_t ncc = 1;
        for (size_t i = 0; ch->copy_col != NULL && i < nc; i++)
            if (strcmp(cells[i].column, ch->copy_col) == 0)
                cc[ncc++] = cells[i];
        for (int c = 0; c < 3; c++)
            if (parts[k][c] != NULL && !cli_blank(parts[k][c]))
                cc[ncc++] = (fs_cell){ch->cols[c], fs_text(parts[k][c])};
        const fs_record_rules *crr = fs_record_rules_of(ch->table);
        if (crr->status != NULL)
            cc[ncc++] = (fs_cell){crr->status, fs_text(crr->initial)};
        uint8_t cid[FS_ID_BYTES];
        frc = fs_insert(r, ch->table, cc, ncc, cid);
        if (frc != 0 && fm->by_command)
            snprintf(what, sizeof what, "%s: saving %s #%zu", command, ch->flag, k + 1);
    }
    if (frc == 0 && fm->written != NULL) {
        frc = fm->written(r, id, cells, nc);
        if (frc != 0 && fm->by_command)
            snprintf(what, sizeof what, "%s: saving", command);
    }
    if (frc == 0) {
        frc = fs_commit(r);
        if (frc != 0 && fm->by_command)
            snprintf(what, sizeof what, "%s: committing", command);
    }
    if (frc != 0) {
        int rc = cli_fail(r, what, frc);
        if (in_tx)
            fs_rollback(r); /* nothing half-saved */
        return rc;
    }
    char hex[2 * FS_ID_BYTES + 1];
    fs_id_to_hex(id, hex);
    if (isatty(STDOUT_FILENO)) /* a person reads it: say what was recorded */
        printf(_("%s recorded: %s\n"), cli_kind_word(fm->table), hex);
    else /* a script reads the id alone: ID=$(fieldsync customer add ...) */
        printf("%s\n", hex);
    return CLI_OK;
}

static int form_add(cli_ctx *ctx, const fform *fm, int argc, char **argv)
{
    values vs;
    memset(&vs, 0, sizeof vs);
    cli_list children = {NULL, 0};
    cli_opt opts[FORM_MAX_FIELDS + 1];
    size_t nopts = 0;
    char usage[512], command[64];
    snprintf(command, sizeof command, "%s %s", fm->group, fm->add_name);
    if (fm->usage_full != NULL)
        snprintf(usage, sizeof usage, "%s", fm->usage_full);
    else
        snprintf(usage, sizeof usage, "usage: fieldsync [--home DIR] %s\n", fm->usage);
    for (size_t i = 0; i < fm->nfields; i++) {
        const ffield *f = &fm->fields[i];
        if (f->kind == FK_FLAG)
            opts[nopts++] = (cli_opt){f->flag, CLI_FLAG, &vs.flag[i], NULL, NULL};
        else if (f->flag != NULL)
            opts[nopts++] = (cli_opt){f->flag, CLI_VALUE, NULL, &vs.v[i], NULL};
    }
    if (fm->child != NULL)
        opts[nopts++] = (cli_opt){fm->child->flag, CLI_LIST, NULL, NULL, &children};
    fs_replica *r = NULL;
    const char *who = fm->by_command ? command : fm->group;
    int rc = cli_parse(ctx, usage, opts, nopts, argc, argv);
    char **asked = NULL; /* the child items typed at the terminal */
    size_t nasked = 0;
    int asking = children.count == 0 && isatty(STDIN_FILENO); /* nothing given, a person */
    for (size_t i = 0; i < fm->nfields; i++)
        asking &= vs.v[i] == NULL && !vs.flag[i];
    if (rc == CLI_OK && asking)
        rc = form_ask_all(fm, &vs, &children, &asked, &nasked);
    if (rc == CLI_OK)
        rc = fm->by_command ? form_complete_by_command(command, fm->fields, fm->nfields, &vs)
                            : form_complete(fm->fields, fm->nfields, &vs);
    /* child items, checked before anything is opened */
    char *(*parts)[3] = NULL;
    if (rc == CLI_OK && children.count > 0) {
        parts = calloc(children.count, sizeof *parts);
        if (parts == NULL)
            rc = cli_fail(NULL, who, FS_ENOMEM);
    }
    for (size_t k = 0; rc == CLI_OK && k < children.count; k++)
        rc = fm->child->split != NULL
                 ? fm->child->split(fm, &vs, k + 1, children.items[k], parts[k])
                 : form_split_parts(fm, k, children.items[k], parts[k]);
    vs.zone_later = 1; /* "not in the future" once the team's zone is known */
    if (rc == CLI_OK)
        rc = form_check_given(fm, &vs, parts, children.count);
    if (rc == CLI_OK)
        rc = cli_open(ctx, &r);
    if (rc == CLI_OK && asking) /* a name typed is asked for again */
        rc = form_ask_refs(r, fm->fields, fm->nfields, &vs);
    if (rc == CLI_OK) {
        form_now_in_team_zone(&vs);
        rc = form_check_given(fm, &vs, parts, children.count);
    }
    char me[FS_USER_MAX + 1] = "";
    if (rc == CLI_OK && fs_record_rules_of(fm->table)->signer != NULL)
        rc = form_need_user(r, me);
    fs_cell cells[FORM_MAX_FIELDS + 5];
    uint8_t ids[FORM_MAX_FIELDS][FS_ID_BYTES];
    size_t nc = 0;
    char held[FS_USER_MAX + 1] = "";
    if (rc == CLI_OK && me[0] == '\0' && fs_replica_user(r, me) != 0)
        me[0] = '\0';
    if (rc == CLI_OK)
        rc = form_check_stored(r, fm, &vs, me);
    if (rc == CLI_OK)
        rc = add_cells(r, fm, &vs, cells, &nc, ids, me);
    if (rc == CLI_OK && fm->complete != NULL)
        rc = fm->complete(r, cells, &nc, held);
    if (rc == CLI_OK)
        rc = add_write(r, fm, command, cells, nc, parts, children.count);
    fs_replica_close(r);
    for (size_t k = 0; parts != NULL && k < children.count; k++)
        for (int c = 0; c < 3; c++)
            free(parts[k][c]);
    free(parts);
    cli_list_free(&children);
    form_asked_free(asked, nasked);
    form_values_free(&vs);
    return rc == CLI_HELP ? CLI_OK : rc;
}

/* ---- edit ---- */

/* The edit's checks, before the replica is opened: the record's id, the
 * text fields given (a required one must not be blank), then the yes/no
 * ones, and that something changes. */
static int edit_check(const fform *fm, const char *command, const char *idv, const values *vs)
{
    int rc = cli_require(command, fm->edit_id, idv);
    if (rc == CLI_OK)
        rc = cli_check_ref(fm->edit_id, fm->table, idv);
    for (size_t i = 0; rc == CLI_OK && i < fm->nedit_fields; i++) {
        const ffield *f = &fm->edit_fields[i];
        if (f->kind != FK_TEXT && f->kind != FK_USER)
            continue;
        if (vs->v[i] != NULL && f->required)
            rc = cli_require(command, f->flag, vs->v[i]);
        if (rc == CLI_OK)
            rc = cli_check_text(f->flag, vs->v[i]);
    }
    if (rc != CLI_OK)
        return rc;
    char flags[160] = "";
    int given = 0;
    for (size_t i = 0; i < fm->nedit_fields; i++) {
        const ffield *f = &fm->edit_fields[i];
        given |= vs->v[i] != NULL;
        snprintf(flags + strlen(flags), sizeof flags - strlen(flags), "%s%s",
                 i == 0                      ? ""
                 : i + 1 == fm->nedit_fields ? " or "
                                             : ", ",
                 f->flag);
        if (f->kind == FK_BOOL && vs->v[i] != NULL && strcmp(vs->v[i], "yes") != 0 &&
            strcmp(vs->v[i], "no") != 0) {
            cli_error(_("%s: %s takes yes or no"), command, f->flag);
            return CLI_EUSAGE;
        }
    }
    if (!given) {
        cli_error(_("%s: nothing to change; give %s"), command, flags);
        return CLI_EUSAGE;
    }
    return CLI_OK;
}

static int form_edit(cli_ctx *ctx, const fform *fm, int argc, char **argv)
{
    values vs;
    memset(&vs, 0, sizeof vs);
    const char *idv = NULL;
    cli_opt opts[FORM_MAX_FIELDS + 1];
    size_t nopts = 0;
    char command[64];
    snprintf(command, sizeof command, "%s %s", fm->group, fm->edit_name);
    opts[nopts++] = (cli_opt){fm->edit_id, CLI_VALUE, NULL, &idv, NULL};
    for (size_t i = 0; i < fm->nedit_fields; i++)
        opts[nopts++] = (cli_opt){fm->edit_fields[i].flag, CLI_VALUE, NULL, &vs.v[i], NULL};
    int rc = cli_parse(ctx, fm->edit_usage_full, opts, nopts, argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    /* No field given at a terminal: the customer corrected field by field
     * (form_ask_edit), and asked for first when not named. */
    int asking = isatty(STDIN_FILENO);
    for (size_t i = 0; i < fm->nedit_fields; i++)
        asking &= vs.v[i] == NULL;
    char *asked_id = NULL;
    if (asking && idv == NULL && form_ask_which(fm->table, 1, &asked_id))
        idv = asked_id;
    rc = form_take(fm->edit_fields, fm->nedit_fields, &vs); /* --history -, dates */
    if (rc == CLI_OK && asking) {
        rc = cli_require(command, fm->edit_id, idv);
        if (rc == CLI_OK)
            rc = cli_check_ref(fm->edit_id, fm->table, idv);
    } else if (rc == CLI_OK)
        rc = edit_check(fm, command, idv, &vs);
    if (rc != CLI_OK) {
        free(asked_id);
        form_values_free(&vs);
        return rc;
    }
    fs_replica *r = NULL;
    fs_cell cells[FORM_MAX_FIELDS];
    uint8_t ids[FORM_MAX_FIELDS][FS_ID_BYTES], id[FS_ID_BYTES];
    size_t nc = 0;
    rc = cli_open(ctx, &r);
    if (rc != CLI_OK) {
        free(asked_id);
        form_values_free(&vs);
        return rc;
    }
    rc = cli_resolve(r, fm->table, fm->edit_id, idv, id);
    if (rc == CLI_OK && asking) {
        rc = form_ask_record(r, fm, fm->edit_fields, fm->nedit_fields, id, &vs);
        int given = 0;
        for (size_t i = 0; i < fm->nedit_fields; i++)
            given |= vs.v[i] != NULL;
        if (rc == CLI_OK && !given) {
            printf(_("%s: nothing changed\n"), command);
            rc = CLI_HELP; /* nothing to write: exit 0 */
        }
    }
    for (size_t i = 0; rc == CLI_OK && i < fm->nedit_fields; i++)
        if (vs.v[i] != NULL) /* a blank optional field clears it */
            rc = form_to_cell(r, &fm->edit_fields[i], vs.v[i], &vs, fm->edit_fields,
                              fm->nedit_fields, ids[i], &cells[nc++]);
    if (rc == CLI_OK)
        rc = precheck_write(r, command, fm->table, id, cells, nc); /* the record rules */
    if (rc == CLI_OK) {
        int frc = fs_update(r, fm->table, id, cells, nc);
        if (frc != 0) {
            char what[96];
            snprintf(what, sizeof what, "%s: saving %s", command, fm->what);
            rc = cli_fail(r, what, frc);
        } else {
            char hex[2 * FS_ID_BYTES + 1];
            fs_id_to_hex(id, hex);
            cli_said(NULL, fm->table, hex, 0, 0); /* to a script: nothing, as before */
        }
    }
    fs_replica_close(r);
    free(asked_id);
    form_values_free(&vs);
    return rc == CLI_HELP ? CLI_OK : rc;
}

/* ---- actions ---- */

/* What an action did, said to a person: the record's kind, then its id
 * (each format a literal, so the compiler checks it and its translation's
 * arguments). */
static void action_said(const char *action, const char *kind, const char *hex)
{
#define SAID(name, fmt)                                                                          \
    if (strcmp(action, name) == 0) {                                                             \
        printf(_(fmt), kind, hex);                                                               \
        return;                                                                                  \
    }
    SAID("submit", N_("%s submitted: %s\n"))
    SAID("approve", N_("%s approved: %s\n"))
    SAID("return", N_("%s returned: %s\n"))
    SAID("cancel", N_("%s cancelled: %s\n"))
    SAID("done", N_("%s done: %s\n"))
    SAID("replied", N_("%s: the customer's reply recorded: %s\n"))
    SAID("confirm", N_("%s confirmed with the customer: %s\n"))
    SAID("collect", N_("%s collected: %s\n"))
    SAID("outcome", N_("%s: the outcome recorded: %s\n"))
    SAID("answer", N_("%s answered: %s\n"))
    SAID("negotiate", N_("%s in negotiation: %s\n"))
    SAID("won", N_("%s won: %s\n"))
    SAID("lost", N_("%s lost: %s\n"))
    SAID("sign", N_("%s signed: %s\n"))
#undef SAID
    printf(_("%s changed: %s\n"), kind, hex);
}

static int action_run(cli_ctx *ctx, const fform *fm, const faction *a, int argc, char **argv);

/* An action given nothing at a terminal asks which record first (by name
 * too: a promise by its words, off the shell's history). */
static int form_action(cli_ctx *ctx, const fform *fm, const faction *a, int argc, char **argv)
{
    char *asked = NULL, *one[2] = {NULL, NULL};
    if (argc == 0 && isatty(STDIN_FILENO) && form_ask_which(fm->table, 0, &asked)) {
        one[0] = asked;
        argc = 1;
        argv = one;
    }
    int rc = action_run(ctx, fm, a, argc, argv);
    free(asked);
    return rc;
}

static int action_run(cli_ctx *ctx, const fform *fm, const faction *a, int argc, char **argv)
{
    char usage[256];
    snprintf(usage, sizeof usage, "usage: fieldsync [--home DIR] %s\n", a->usage);
    if (argc < 1 || strncmp(argv[0], "--", 2) == 0) {
        if (argc >= 1 && strcmp(argv[0], "--help") == 0) {
            cli_usage(stdout, usage);
            return CLI_OK;
        }
        cli_error(_("%s %s: give the record's id first"), fm->group, a->name);
        cli_usage(stderr, usage);
        return CLI_EUSAGE;
    }
    const char *hex = argv[0];
    values vs;
    memset(&vs, 0, sizeof vs);
    cli_opt opts[8];
    for (size_t i = 0; i < a->nflags; i++)
        opts[i] = (cli_opt){a->flags[i].flag, CLI_VALUE, NULL, &vs.v[i], NULL};
    int rc = cli_check_ref("ID", fm->table, hex);
    if (rc == CLI_OK)
        rc = cli_parse(ctx, usage, opts, a->nflags, argc - 1, argv + 1);
    if (rc == CLI_OK)
        rc = form_complete(a->flags, a->nflags, &vs);
    fs_replica *r = NULL;
    fs_rows *it = NULL;
    uint8_t id[FS_ID_BYTES];
    char me[FS_USER_MAX + 1] = "", *state = NULL;
    if (rc == CLI_OK)
        rc = cli_open(ctx, &r);
    if (rc == CLI_OK)
        form_now_in_team_zone(&vs); /* the stamps in the team's zone */
    if (rc == CLI_OK)
        rc = form_open_one(r, fm->table, hex, &it, id);
    /* The record rules decide: the status it must be in, and that a
     * supervisor's signature is not the record's own rep's. The role is the
     * server's to check. */
    const fs_record_rules *rr = fs_record_rules_of(fm->table);
    const fs_record_action *ra = fs_record_find_action(fm->table, a->name);
    char why[160];
    if (rc == CLI_OK && rr->status != NULL && ra->from[0] != NULL) {
        if (rec_text(it, rr->status, &state) != 0) {
            rc = cli_fail(NULL, fm->group, FS_ENOMEM);
        } else if (fs_record_check_action(fm->table, ra, state, FS_RECORD_ANYONE, -1, why,
                                          sizeof why) != FS_RECORD_OK) {
            cli_error("%s %s: %s", fm->group, a->name, why);
            rc = CLI_EUSAGE;
        }
    }
    if (rc == CLI_OK && ra->not_owner && rr->owner != NULL) {
        char *who = NULL;
        rc = form_need_user(r, me);
        if (rc == CLI_OK && rec_text(it, rr->owner, &who) != 0)
            rc = cli_fail(NULL, fm->group, FS_ENOMEM);
        if (rc == CLI_OK && fs_record_check_action(fm->table, ra, state, FS_RECORD_ANYONE,
                                                   who != NULL && strcmp(who, me) == 0, why,
                                                   sizeof why) != FS_RECORD_OK) {
            cli_error("%s %s: %s", fm->group, a->name, why);
            rc = CLI_EUSAGE;
        }
        free(who);
    }
    /* What the record must hold first (a contract's legal review and
     * identity check before it is signed): named as the form asks for it,
     * with the edit option that records it. */
    const char *missing = NULL;
    if (rc == CLI_OK && ra->needs[0] != NULL &&
        fs_record_check_needs(ra, it, &missing, why, sizeof why) != FS_RECORD_OK) {
        if (missing == NULL)
            rc = cli_fail(NULL, fm->group, FS_ESCHEMA);
        for (size_t i = 0; missing != NULL && i < fm->nfields; i++)
            if (fm->fields[i].column != NULL && strcmp(fm->fields[i].column, missing) == 0) {
                char label[160];
                cli_error(_("%s %s: refused: \"%s\" is not recorded yet; record it first with "
                            "'%s edit ID %s'"),
                          fm->group, a->name,
                          form_field_name(fm->table, missing, label, sizeof label), fm->group,
                          fm->fields[i].flag);
                break;
            }
        rc = missing != NULL ? CLI_EUSAGE : rc;
    }
    fs_rows_close(it);
    /* The columns the action sets, in the rules' order. */
    unsigned ntables;
    const fs_table *tb = &fs_schema_tables(&ntables)[fs_schema_table_index(fm->table)];
    fs_cell cells[FS_RECORD_MAX_SETS];
    size_t nc = 0;
    for (size_t k = 0; rc == CLI_OK && k < FS_RECORD_MAX_SETS && ra->sets[k].column != NULL; k++) {
        const fs_record_set *set = &ra->sets[k];
        int ci = fs_schema_column_index(tb, set->column);
        switch (set->fill) {
        case FS_FILL_STATUS:
            cells[nc++] = (fs_cell){set->column, fs_text(ra->to)};
            break;
        case FS_FILL_NOW: {
            /* A time stated with --at (issue 17.6): kept as stated, the
             * recording time in its own column; never in the future. */
            const char *stated = NULL, *flag = NULL;
            for (size_t i = 0; i < a->nflags; i++)
                if (strcmp(a->flags[i].column, set->column) == 0 && vs.v[i] != NULL) {
                    stated = vs.v[i];
                    flag = a->flags[i].flag;
                }
            int64_t at = 0, now = 0;
            if (stated != NULL && fs_civil_parse(stated, strlen(stated), &at) == 0 &&
                fs_civil_parse(vs.nowbuf, strlen(vs.nowbuf), &now) == 0 && at > now) {
                cli_error(
                    _("%s: %s is in the future (it is %s now): record it once it has happened"),
                    flag, stated, vs.nowbuf);
                rc = CLI_EUSAGE;
                break;
            }
            cells[nc++] = (fs_cell){
                set->column,
                fs_text(stated != NULL                                 ? stated
                        : tb->columns[ci].type == FS_COL_DATE ? vs.today
                                                              : vs.nowbuf)};
            break;
        }
        case FS_FILL_SIGNER:
            rc = form_need_user(r, me);
            cells[nc++] = (fs_cell){set->column, fs_text(me)};
            break;
        case FS_FILL_TRUE:
            cells[nc++] = (fs_cell){set->column, fs_int(1)};
            break;
        case FS_FILL_GIVEN:
            for (size_t i = 0; i < a->nflags; i++)
                if (strcmp(a->flags[i].column, set->column) == 0 && vs.v[i] != NULL) {
                    uint8_t ref[FS_ID_BYTES];
                    rc = form_to_cell(r, &a->flags[i], vs.v[i], &vs, a->flags, a->nflags, ref,
                                      &cells[nc++]);
                }
            break;
        }
    }
    char command[64];
    snprintf(command, sizeof command, "%s %s", fm->group, a->name);
    if (rc == CLI_OK)
        rc = precheck_write(r, command, fm->table, id, cells, nc); /* the record rules */
    if (rc == CLI_OK) {
        int frc = fs_update(r, fm->table, id, cells, nc);
        if (frc == 0) {
            char full[2 * FS_ID_BYTES + 1];
            fs_id_to_hex(id, full);
            if (isatty(STDOUT_FILENO)) /* a person: what was done, in words */
                action_said(a->name, cli_kind_word(fm->table), full);
            else /* a script: "plan submit: ID", as always */
                printf(_("%s: %s\n"), command, full);
        } else {
            rc = cli_fail(r, fm->group, frc);
        }
    }
    free(state);
    form_values_free(&vs);
    fs_replica_close(r);
    return rc == CLI_HELP ? CLI_OK : rc;
}

/* ---- dispatch ---- */

int cmd_form_group(const char *group)
{
    for (size_t i = 0; i < form_count; i++)
        if (strcmp(form_table[i].group, group) == 0)
            return 1;
    return 0;
}

int cmd_form(cli_ctx *ctx, int argc, char **argv)
{
    /* argv[0] is the group (the command table sends every form here). */
    return form_run(ctx, argv[0], argc >= 2 ? argv[1] : NULL, argc >= 2 ? argc - 2 : 0, argv + 2);
}

int form_run(cli_ctx *ctx, const char *group, const char *sub, int argc, char **argv)
{
    /* edit and delete of every form (form_edit.c); customer edit keeps its
     * --customer form (below) */
    if (sub != NULL && strcmp(sub, "delete") == 0)
        return form_delete(ctx, group, argc, argv);
    if (sub != NULL && strcmp(sub, "edit") == 0 && strcmp(group, "customer") != 0)
        return form_edit_record(ctx, group, argc, argv);
    /* customer edit ID, as every other kind's edit: the same as --customer ID */
    if (sub != NULL && strcmp(sub, "edit") == 0 && strcmp(group, "customer") == 0 && argc >= 1 &&
        argv[0][0] != '-') {
        char **v = malloc(((size_t)argc + 1) * sizeof *v);
        if (v == NULL)
            return cli_fail(NULL, "customer edit", FS_ENOMEM);
        v[0] = (char *)"--customer";
        memcpy(v + 1, argv, (size_t)argc * sizeof *v);
        int rc = form_run(ctx, group, sub, argc + 1, v);
        free(v);
        return rc;
    }
    for (size_t i = 0; sub != NULL && i < form_count; i++) {
        const fform *fm = &form_table[i];
        if (strcmp(fm->group, group) != 0)
            continue;
        if (fm->add_name != NULL && strcmp(sub, fm->add_name) == 0)
            return form_add(ctx, fm, argc, argv);
        if (fm->edit_name != NULL && strcmp(sub, fm->edit_name) == 0)
            return form_edit(ctx, fm, argc, argv);
        if (fm->list && strcmp(sub, "list") == 0)
            return form_list(ctx, fm, argc, argv);
        if (strcmp(sub, "show") == 0 && (fm->list || fm->add_name == NULL))
            return form_show(ctx, fm, argc, argv);
        for (size_t k = 0; k < fm->nactions; k++)
            if (strcmp(sub, fm->actions[k].name) == 0)
                return form_action(ctx, fm, &fm->actions[k], argc, argv);
    }
    /* GROUP --help: the group's commands, as `fieldsync help` lists them. */
    if (sub != NULL && (strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0)) {
        printf(_("usage: fieldsync [--home DIR] COMMAND [OPTIONS]; the %s commands:\n"), group);
        printf("  %s edit ID [OPTION VALUE]... | %s delete ID [--with-records]\n", group, group);
        for (size_t i = 0; i < form_count; i++) {
            const fform *fm = &form_table[i];
            if (strcmp(fm->group, group) != 0)
                continue;
            if (fm->usage != NULL)
                printf("  %s\n", fm->usage);
            for (size_t k = 0; k < fm->nactions; k++)
                if (fm->actions[k].usage != NULL)
                    printf("  %s\n", fm->actions[k].usage);
        }
        return CLI_OK;
    }
    /* What this group offers. */
    char subs[200] = "";
    for (size_t i = 0; i < form_count; i++) {
        const fform *fm = &form_table[i];
        if (strcmp(fm->group, group) != 0)
            continue;
        const char *names_[10] = {fm->add_name, fm->list ? "list" : NULL,
                                  fm->list || fm->add_name == NULL ? "show" : NULL,
                                  fm->add_name ? "edit" : NULL, fm->add_name ? "delete" : NULL};
        size_t nn = 5;
        for (size_t k = 0; k < fm->nactions && nn < 10; k++)
            names_[nn++] = fm->actions[k].name;
        for (size_t k = 0; k < nn; k++)
            if (names_[k] != NULL && strstr(subs, names_[k]) == NULL)
                snprintf(subs + strlen(subs), sizeof subs - strlen(subs), "%s%s",
                         subs[0] ? ", " : "", names_[k]);
    }
    if (sub == NULL)
        cli_error(_("%s: missing subcommand: %s (see 'fieldsync help')"), group, subs);
    else
        cli_error(_("%s: unknown subcommand '%s': %s (see 'fieldsync help')"), group,
                  strlen(sub) <= 32 ? sub : "?", subs);
    return CLI_EUSAGE;
}

/* One line per form for `fieldsync help`. */
void cmd_form_usage(FILE *f)
{
    for (size_t i = 0; i < form_count; i++) {
        const fform *fm = &form_table[i];
        if (fm->usage == NULL)
            continue;
        fprintf(f, "  %s\n", fm->usage);
        for (size_t k = 0; k < fm->nactions; k++)
            fprintf(f, "  %s\n", fm->actions[k].usage);
        if (fm->list && fm->list_page != NULL)
            fprintf(f, "  %s list [--json] [--limit N | --all] | %s show ID [--json]\n", fm->group,
                    fm->group);
        else if (fm->list)
            fprintf(f, "  %s list [--json] | %s show ID [--json]\n", fm->group, fm->group);
    }
    fprintf(f, "  customer show ID [--json] | visit show ID [--json]\n");
}
