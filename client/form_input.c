/*
 * The form engine's input side (form.h): every value typed is checked
 * against its field before the replica is opened, missing required fields
 * are asked for on a terminal, and values become cells once ids can be
 * resolved.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fieldsync/calendar.h"
#include "fieldsync/records.h"
#include "fieldsync/text.h"
#include "form.h"
#include "precheck.h"
#include "roster.h"
#include "i18n.h"

int form_is_yes(const char *v)
{
    return strcmp(v, "yes") == 0;
}

int form_in_choices(const char *v, const char *choices)
{
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && memcmp(p, v, n) == 0)
            return 1;
        p += len + (bar ? 1 : 0);
    }
    return 0;
}

int form_check_value(const ffield *f, const char *v)
{
    switch (f->kind) {
    case FK_TEXT:
    case FK_USER:
        if (f->required && cli_blank(v)) {
            cli_error(_("%s: must not be empty"), f->flag);
            return CLI_EUSAGE;
        }
        return cli_check_text(f->flag, v);
    case FK_DATE:
        return cli_check_date(f->flag, v);
    case FK_DATETIME:
        return cli_check_datetime(f->flag, v);
    case FK_BOOL:
        if (strcmp(v, "yes") == 0 || strcmp(v, "no") == 0)
            return CLI_OK;
        cli_error(_("%s: expected yes or no"), f->flag);
        return CLI_EUSAGE;
    case FK_CUSTOMER:
        return cli_check_ref(f->flag, "customer", v);
    case FK_REF: /* a table named by another flag is known only later */
        return cli_check_ref(f->flag, strncmp(f->extra, "--", 2) == 0 ? NULL : f->extra, v);
    case FK_INT: {
        int lo = 0, hi = 0;
        char *end = NULL;
        long x = strtol(v, &end, 10);
        sscanf(f->extra, "%d-%d", &lo, &hi);
        if (end == v || *end != '\0' || x < lo || x > hi) {
            cli_error(_("%s: expected a whole number from %d to %d"), f->flag, lo, hi);
            return CLI_EUSAGE;
        }
        return CLI_OK;
    }
    case FK_CHOICE:
        if (form_in_choices(v, f->extra))
            return CLI_OK;
        cli_error(_("%s: expected one of %s"), f->flag, f->extra);
        return CLI_EUSAGE;
    case FK_MONEY: {
        int64_t fen;
        if (money_parse(v, &fen) == 0)
            return CLI_OK;
        cli_error(
            _("%s: expected an amount in CNY such as 300000, 300,000.50 or 30万, got \"%s\""),
            f->flag, v);
        return CLI_EUSAGE;
    }
    case FK_FLAG:
    case FK_NOW:
        return CLI_OK;
    }
    return CLI_EUSAGE;
}

void form_values_free(values *vs)
{
    for (size_t i = 0; i < FORM_MAX_FIELDS; i++)
        free(vs->typed[i]);
}

static void set_now(values *vs)
{
    cli_now(vs->nowbuf);
    memcpy(vs->today, vs->nowbuf, 10);
    vs->today[10] = '\0';
}

void form_now_in_team_zone(values *vs)
{
    set_now(vs);
    vs->zone_later = 0;
}

/* A text field given as "-" is read from standard input (issue 17.9: a
 * customer's words never on the command line, where other local users see
 * them in /proc): all of it, trailing line ends dropped, at most one field
 * so, and no more than a field holds. */
#define STDIN_TEXT_MAX 65536
int form_stdin_text(const ffield *fields, size_t n, values *vs)
{
    const char *taken = NULL;
    for (size_t i = 0; i < n; i++) {
        const ffield *f = &fields[i];
        if (f->kind != FK_TEXT || vs->v[i] == NULL || strcmp(vs->v[i], "-") != 0)
            continue;
        if (taken != NULL) {
            cli_error(_("%s and %s are both '-': only one field can be read from standard input"),
                      taken, f->flag);
            return CLI_EUSAGE;
        }
        taken = f->flag;
        char *buf = malloc(STDIN_TEXT_MAX + 2);
        if (buf == NULL)
            return cli_fail(NULL, f->flag, FS_ENOMEM);
        size_t len = fread(buf, 1, STDIN_TEXT_MAX + 1, stdin);
        if (ferror(stdin)) {
            free(buf);
            cli_error(_("%s: cannot read standard input"), f->flag);
            return CLI_ERUNTIME;
        }
        if (len > STDIN_TEXT_MAX) {
            free(buf);
            cli_error(_("%s: standard input holds more than %d bytes"), f->flag, STDIN_TEXT_MAX);
            return CLI_EUSAGE;
        }
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
            len--;
        buf[len] = '\0';
        if (memchr(buf, '\0', len) != NULL) {
            free(buf);
            cli_error(_("%s: standard input holds a NUL byte"), f->flag);
            return CLI_EUSAGE;
        }
        free(vs->typed[i]);
        vs->typed[i] = buf;
        vs->v[i] = buf;
    }
    return CLI_OK;
}

/* One value in its one form: 是/否 as yes/no, a date or time as
 * YYYY-MM-DD [HH:MM] however the rep wrote it (fs_civil_normalize). */
static int take_one(const ffield *f, values *vs, size_t i)
{
    char when[17];
    if (f->kind == FK_BOOL && vs->v[i] != NULL) { /* yes/no as a Chinese rep answers */
        if (strcmp(vs->v[i], "\xe6\x98\xaf") == 0 || strcasecmp(vs->v[i], "yes") == 0) /* 是 */
            vs->v[i] = "yes";
        else if (strcmp(vs->v[i], "\xe5\x90\xa6") == 0 || strcasecmp(vs->v[i], "no") == 0) /* 否 */
            vs->v[i] = "no";
        return CLI_OK;
    }
    if ((f->kind != FK_DATE && f->kind != FK_DATETIME) || vs->v[i] == NULL)
        return CLI_OK;
    if (vs->today[0] == '\0')
        set_now(vs);
    if (!fs_civil_normalize(vs->v[i], f->kind == FK_DATETIME, when) &&
        !fs_civil_relative(vs->v[i], vs->today, f->kind == FK_DATETIME, when)) /* 明天 10:00 */
        return CLI_OK;
    char *copy = strdup(when);
    if (copy == NULL)
        return cli_fail(NULL, f->flag, FS_ENOMEM);
    free(vs->typed[i]);
    vs->typed[i] = copy;
    vs->v[i] = copy;
    return CLI_OK;
}

int form_take(const ffield *fields, size_t n, values *vs)
{
    int rc = form_stdin_text(fields, n, vs);
    for (size_t i = 0; rc == CLI_OK && i < n; i++)
        rc = take_one(&fields[i], vs, i);
    return rc;
}

/* How many times a value typed at the terminal is asked for again after a
 * refusal, before the form gives up. */
#define ASK_TRIES 3

/* An answer typed at the terminal, put in its one form and checked as the
 * option would be: its own form, then the form's checks of that field (not
 * in the future, not before another date given, a phone number...). */
static int check_answer(const struct fform *fm, const ffield *f, values *vs, size_t i)
{
    int rc = take_one(f, vs, i);
    if (rc == CLI_OK)
        rc = form_check_value(f, vs->v[i]);
    for (size_t k = 0; fm != NULL && rc == CLI_OK && k < fm->nchecks; k++) {
        if (fm->checks[k].flag == NULL || strcmp(fm->checks[k].flag, f->flag) != 0)
            continue;
        struct fform one = *fm;
        one.checks = &fm->checks[k];
        one.nchecks = 1;
        rc = form_check_given(&one, vs, NULL, 0);
    }
    return rc;
}

/* Asks for field i until it passes its checks, or is left empty where that
 * is allowed (kind is not CLI_ASK_NEEDED: a needed one is asked again). now
 * is the value a correction starts from, shown in [brackets] (NULL: none):
 * there a lone - empties an optional field (CLI_ASK_CLEAR, vs->v[i] "") and
 * is refused for one the record keeps (CLI_ASK_KEEP); elsewhere it is
 * nothing, as Enter is (standard input is this terminal). CLI_OK (vs->v[i]
 * NULL when skipped, kept or at the end of input) or CLI_EUSAGE after
 * ASK_TRIES refusals, each said. */
static int ask_field(const struct fform *fm, const ffield *f, cli_ask_kind kind, const char *now,
                     values *vs, size_t i)
{
    char label[256], *cell = NULL;
    size_t width;
    if (now != NULL && text_cell(now, 40, &cell, &width) == 0)
        snprintf(label, sizeof label, "%s [%s]", _(f->label), cell);
    else if (f->kind == FK_CHOICE && f->extra != NULL) /* its words, as the refusal lists them */
        /* TRANSLATORS: a field's label, then the words it takes ("visit|customer"). */
        snprintf(label, sizeof label, _("%s (%s)"), _(f->label), f->extra);
    else
        snprintf(label, sizeof label, "%s", _(f->label));
    free(cell);
    for (int t = 0; t < ASK_TRIES;) {
        free(vs->typed[i]);
        vs->typed[i] = NULL;
        vs->v[i] = NULL;
        if (!cli_ask_as(label, kind, &vs->typed[i]))
            return CLI_OK; /* the end of input: refused later as missing, or kept */
        int dash = strcmp(vs->typed[i], "-") == 0;
        if (dash && kind == CLI_ASK_CLEAR) {
            vs->v[i] = ""; /* emptied, as --flag "" empties it */
            return CLI_OK;
        }
        if (dash && kind == CLI_ASK_KEEP) { /* a field the record keeps */
            cli_error(_("%s: must not be empty"), f->flag);
            t++;
            continue;
        }
        if (cli_blank(vs->typed[i]) || dash) {
            if (kind == CLI_ASK_NEEDED)
                continue; /* Enter alone does not pass what the form needs */
            free(vs->typed[i]);
            vs->typed[i] = NULL;
            return CLI_OK;
        }
        t++;
        vs->v[i] = vs->typed[i];
        int rc = check_answer(fm, f, vs, i);
        if (rc != CLI_EUSAGE)
            return rc;
    }
    return CLI_EUSAGE;
}

/* Asks whether a flag that is stored (a key account) is set: yes or no in
 * either language, empty for no. */
static int ask_flag(const ffield *f, values *vs, size_t i)
{
    ffield yn = *f;
    yn.kind = FK_BOOL;
    values one;
    memset(&one, 0, sizeof one);
    int rc = ask_field(NULL, &yn, CLI_ASK_YESNO, NULL, &one, 0);
    if (rc == CLI_OK && one.v[0] != NULL)
        vs->flag[i] = form_is_yes(one.v[0]);
    form_values_free(&one);
    return rc;
}

/* Asks for one child item column by column, joined as the option takes it
 * ("A|B|C"): *item NULL when the rep is done (an empty first answer). */
static int ask_child(const fchild *ch, char **item)
{
    char *cols[3] = {NULL, NULL, NULL};
    int rc = CLI_OK;
    *item = NULL;
    for (int c = 0; rc == CLI_OK && c < 3 && ch->cols[c] != NULL; c++) {
        ffield f = {ch->flag, ch->cols[c], ch->kinds[c], ch->required[c], ch->labels[c], NULL, 0};
        values one;
        memset(&one, 0, sizeof one);
        cli_ask_kind kind = c == 0 ? CLI_ASK_MORE : ch->required[c] ? CLI_ASK_NEEDED : CLI_ASK_SKIP;
        /* "|" splits the item where the form splits at each one (a plan's
         * tasks): not in a part before the last */
        int split_here = ch->split == NULL && c < 2 && ch->cols[c + 1] != NULL;
        for (int t = 0;; t++) {
            rc = ask_field(NULL, &f, kind, NULL, &one, 0);
            if (rc != CLI_OK || one.v[0] == NULL || !split_here || strchr(one.v[0], '|') == NULL ||
                t + 1 >= ASK_TRIES)
                break;
            cli_error(_("%s: \"|\" separates an item's parts; type this one without it"),
                      ch->flag);
        }
        int got = rc == CLI_OK && one.v[0] != NULL;
        if (got)
            cols[c] = strdup(one.v[0]);
        form_values_free(&one);
        if (got && cols[c] == NULL)
            rc = cli_fail(NULL, ch->flag, FS_ENOMEM);
        if (rc == CLI_OK && c == 0 && cols[0] == NULL)
            return CLI_OK; /* done */
    }
    if (rc == CLI_OK) {
        size_t len = 0;
        for (int c = 0; c < 3; c++)
            len += (cols[c] != NULL ? strlen(cols[c]) : 0) + 1;
        *item = malloc(len);
        if (*item == NULL)
            rc = cli_fail(NULL, ch->flag, FS_ENOMEM);
        else {
            int last = 0; /* the item ends at its last answered column */
            for (int c = 0; c < 3; c++)
                if (cols[c] != NULL)
                    last = c;
            (*item)[0] = '\0';
            for (int c = 0; c <= last; c++) {
                if (c > 0)
                    strcat(*item, "|");
                if (cols[c] != NULL)
                    strcat(*item, cols[c]);
            }
        }
    }
    for (int c = 0; c < 3; c++)
        free(cols[c]);
    return rc;
}

int form_ask_which(const char *table, int correcting, char **out)
{
    char label[160];
    if (correcting)
        /* TRANSLATORS: asked on the terminal by "visit edit" given no id: the
         * record's kind ("visit"). */
        snprintf(label, sizeof label, _("Which %s to correct (its id, or a name)"),
                 cli_kind_word(table));
    else
        /* TRANSLATORS: asked on the terminal by an action given no id
         * ("commitment done"): the record's kind ("commitment"). */
        snprintf(label, sizeof label, _("Which %s (its id, or a name)"), cli_kind_word(table));
    if (cli_ask_as(label, CLI_ASK_NEEDED, out) && !cli_blank(*out))
        return 1;
    free(*out);
    *out = NULL;
    return 0;
}

int form_ask_edit(const struct fform *fm, const ffield *fields, size_t n, char *const shown[],
                  values *vs)
{
    set_now(vs);
    for (size_t i = 0; i < n; i++) {
        const ffield *f = &fields[i];
        if (f->flag == NULL || f->kind == FK_FLAG || f->kind == FK_NOW)
            continue;
        const char *now = shown[i] != NULL && shown[i][0] != '\0' ? shown[i] : NULL;
        cli_ask_kind kind = f->required ? CLI_ASK_KEEP : CLI_ASK_SKIP;
        if (now != NULL)
            kind = f->required || f->kind == FK_BOOL ? CLI_ASK_KEEP : CLI_ASK_CLEAR;
        /* an empty follow-up of a yes/no that is (now) no: needed (Form 3) */
        for (size_t j = 0; j < n && kind == CLI_ASK_SKIP; j++)
            if (fields[j].kind == FK_BOOL && fields[j].extra != NULL &&
                strcmp(fields[j].extra, f->flag) == 0 &&
                (vs->v[j] != NULL ? !form_is_yes(vs->v[j])
                                  : shown[j] != NULL && strcmp(shown[j], _("no")) == 0))
                kind = CLI_ASK_NEEDED;
        int rc = ask_field(fm, f, kind, now, vs, i);
        if (rc != CLI_OK) {
            vs->v[i] = NULL;
            return rc;
        }
    }
    return CLI_OK;
}

int form_ask_all(const struct fform *fm, values *vs, fs_opt_list *items, char ***asked,
                 size_t *nasked)
{
    const ffield *fields = fm->fields;
    const fchild *child = fm->child;
    size_t n = fm->nfields;
    set_now(vs); /* for "not in the future" as each answer comes */
    for (size_t i = 0; i < n; i++) {
        const ffield *f = &fields[i];
        if (f->kind == FK_FLAG && f->column != NULL && !vs->flag[i]) { /* a key account? */
            int rc = ask_flag(f, vs, i);
            if (rc != CLI_OK)
                return rc;
            continue;
        }
        if (f->flag == NULL || f->kind == FK_FLAG || f->kind == FK_NOW || vs->v[i] != NULL)
            continue;
        /* A yes/no's follow-up (Form 3's improvement measure) only after a no. */
        int follow_up = 0, skip = 0;
        for (size_t j = 0; j < n; j++)
            if (fields[j].kind == FK_BOOL && fields[j].extra != NULL &&
                strcmp(fields[j].extra, f->flag) == 0) {
                follow_up = 1;
                skip = vs->v[j] == NULL || form_is_yes(vs->v[j]);
            }
        if (skip)
            continue;
        cli_ask_kind kind = CLI_ASK_SKIP;
        if (f->now_default)
            kind = f->kind == FK_DATE ? CLI_ASK_TODAY : CLI_ASK_NOW;
        else if (f->required || follow_up)
            kind = CLI_ASK_NEEDED;
        int rc = ask_field(fm, f, kind, NULL, vs, i);
        if (rc != CLI_OK)
            return rc;
    }
    while (child != NULL && child->labels[0] != NULL) {
        char *item = NULL;
        int rc = ask_child(child, &item);
        if (rc != CLI_OK || item == NULL)
            return rc;
        char **grown = realloc(*asked, (*nasked + 1) * sizeof *grown);
        if (grown != NULL)
            *asked = grown;
        if (grown == NULL || fs_opt_list_append(items, item) != 0) {
            free(item);
            return cli_fail(NULL, child->flag, FS_ENOMEM);
        }
        (*asked)[(*nasked)++] = item;
    }
    return CLI_OK;
}

/* Whether answer i names what it should: a customer or record (one, found),
 * or a user on the roster; the reason said when not. */
static int ask_ref_check(fs_replica *r, const ffield *f, const values *vs, size_t i)
{
    if (f->kind == FK_USER) {
        char user[FS_USER_MAX + 1];
        return roster_owner(r, f->flag, vs->v[i], user);
    }
    uint8_t id[FS_ID_BYTES];
    return cli_resolve(r, f->kind == FK_CUSTOMER ? "customer" : f->extra, f->flag, vs->v[i], id);
}

int form_ask_refs(fs_replica *r, const ffield *fields, size_t n, values *vs)
{
    for (size_t i = 0; i < n; i++) {
        const ffield *f = &fields[i];
        int named = f->kind == FK_CUSTOMER || f->kind == FK_USER ||
                    (f->kind == FK_REF && f->extra != NULL && strncmp(f->extra, "--", 2) != 0);
        if (!named || vs->v[i] == NULL || cli_blank(vs->v[i]))
            continue;
        int rc = ask_ref_check(r, f, vs, i);
        for (int t = 0; rc == CLI_EUSAGE && t < ASK_TRIES; t++) {
            free(vs->typed[i]);
            vs->typed[i] = NULL;
            vs->v[i] = NULL;
            if (!cli_ask_as(f->label, f->required ? CLI_ASK_NEEDED : CLI_ASK_SKIP, &vs->typed[i]))
                return rc;
            if (cli_blank(vs->typed[i])) {
                if (f->required)
                    continue; /* asked again, as a try */
                free(vs->typed[i]); /* an optional one left empty after all */
                vs->typed[i] = NULL;
                rc = CLI_OK;
                break;
            }
            vs->v[i] = vs->typed[i];
            rc = ask_ref_check(r, f, vs, i);
        }
        if (rc != CLI_OK)
            return rc;
    }
    return CLI_OK;
}

void form_asked_free(char **asked, size_t nasked)
{
    for (size_t i = 0; i < nasked; i++)
        free(asked[i]);
    free(asked);
}

int form_complete(const ffield *fields, size_t n, values *vs)
{
    set_now(vs);
    int src = form_take(fields, n, vs);
    if (src != CLI_OK)
        return src;
    for (size_t i = 0; i < n; i++) {
        const ffield *f = &fields[i];
        if (vs->v[i] == NULL && f->now_default)
            vs->v[i] = f->kind == FK_DATE ? vs->today : vs->nowbuf;
        if (vs->v[i] == NULL && f->required) {
            if (!cli_ask(f->label, &vs->typed[i])) {
                cli_error(_("%s is required (%s)"), f->flag, _(f->label));
                return CLI_EUSAGE;
            }
            vs->v[i] = vs->typed[i];
        }
        if (vs->v[i] != NULL) {
            int rc = form_check_value(f, vs->v[i]);
            if (rc != CLI_OK)
                return rc;
        }
    }
    /* A "no" needs its improvement measure (Form 3). */
    for (size_t i = 0; i < n; i++) {
        const ffield *f = &fields[i];
        if (f->kind != FK_BOOL || f->extra == NULL || vs->v[i] == NULL || form_is_yes(vs->v[i]))
            continue;
        for (size_t j = 0; j < n; j++) {
            if (fields[j].flag == NULL || strcmp(fields[j].flag, f->extra) != 0 || vs->v[j] != NULL)
                continue;
            if (!cli_ask(fields[j].label, &vs->typed[j]) || cli_blank(vs->typed[j])) {
                cli_error(_("%s is required when %s is no"), fields[j].flag, f->flag);
                return CLI_EUSAGE;
            }
            vs->v[j] = vs->typed[j];
            int rc = form_check_value(&fields[j], vs->v[j]);
            if (rc != CLI_OK)
                return rc;
        }
    }
    return CLI_OK;
}

int form_complete_by_command(const char *command, const ffield *fields, size_t n, values *vs)
{
    set_now(vs);
    int src = form_take(fields, n, vs);
    if (src != CLI_OK)
        return src;
    /* Every required field first, asked for on a terminal ... */
    for (size_t i = 0; i < n; i++)
        if (fields[i].required && fields[i].flag != NULL) {
            int rc =
                cli_require_ask(command, fields[i].flag, fields[i].label, &vs->v[i], &vs->typed[i]);
            if (rc != CLI_OK)
                return rc;
        }
    /* ... then every value given, in the fields' order. */
    for (size_t i = 0; i < n; i++)
        if (vs->v[i] != NULL) {
            int rc = form_check_value(&fields[i], vs->v[i]);
            if (rc != CLI_OK)
                return rc;
        }
    return CLI_OK;
}

int form_to_cell(fs_replica *r, const ffield *f, const char *v, values *vs,
                 const ffield *fields, size_t n, uint8_t idbuf[FS_ID_BYTES], fs_cell *out)
{
    out->column = f->column;
    switch (f->kind) {
    case FK_BOOL:
        out->value = fs_int(form_is_yes(v));
        return CLI_OK;
    case FK_INT:
        out->value = fs_int(strtol(v, NULL, 10));
        return CLI_OK;
    case FK_MONEY: {
        int64_t fen = 0;
        if (money_parse(v, &fen) != 0)
            return form_check_value(f, v);
        out->value = fs_int(fen);
        return CLI_OK;
    }
    case FK_CUSTOMER:
    case FK_REF: {
        const char *table = f->kind == FK_CUSTOMER ? "customer" : f->extra;
        for (size_t i = 0; table != NULL && strncmp(table, "--", 2) == 0 && i < n; i++)
            if (fields[i].flag != NULL && strcmp(fields[i].flag, table) == 0)
                table = vs->v[i];
        /* A customer handed away and purged here: said so, not "no such" */
        if (table != NULL && strcmp(table, "customer") == 0 && fs_id_from_hex(v, idbuf) == 0) {
            int away = precheck_handed_away(r, f->flag, idbuf);
            if (away != CLI_OK)
                return away;
        }
        int rc = cli_resolve(r, table, f->flag, v, idbuf);
        if (rc != CLI_OK)
            return rc;
        out->value = fs_blob(idbuf, FS_ID_BYTES);
        return CLI_OK;
    }
    case FK_USER: {
        if (cli_blank(v)) {
            out->value = fs_null();
            return CLI_OK;
        }
        int rc = roster_owner(r, f->flag, v, vs->user);
        out->value = fs_text(vs->user);
        return rc;
    }
    default:
        out->value = cli_blank(v) ? fs_null() : fs_text(v);
        return CLI_OK;
    }
}

int form_need_user(fs_replica *r, char me[FS_USER_MAX + 1])
{
    int rc = fs_replica_user(r, me);
    if (rc == 0)
        return CLI_OK;
    if (rc == FS_ENOTFOUND) {
        cli_error(_("this form is signed with your user name: set it once with "
                    "'fieldsync whoami --set NAME'"));
        return CLI_EUSAGE;
    }
    return cli_fail(r, "reading the user name", rc);
}

/* ---- what a careful supervisor checks (issue 17 point 5) ---- */

/* The index of flag among the form's fields, or -1. */
static int field_at(const fform *fm, const char *flag)
{
    for (size_t i = 0; flag != NULL && i < fm->nfields; i++)
        if (fm->fields[i].flag != NULL && strcmp(fm->fields[i].flag, flag) == 0)
            return (int)i;
    return -1;
}

static const char *given(const fform *fm, const values *vs, const char *flag)
{
    int i = field_at(fm, flag);
    return i < 0 || vs->v[i] == NULL || cli_blank(vs->v[i]) ? NULL : vs->v[i];
}


static int phone_ok(const char *v)
{
    size_t digits = 0;
    for (size_t i = 0; v[i] != '\0'; i++) {
        char c = v[i];
        if (c >= '0' && c <= '9')
            digits++;
        else if (c == '+' ? i != 0 : strchr(" -().", c) == NULL)
            return 0;
    }
    return digits >= 5 && digits <= 20;
}

static int email_ok(const char *v)
{
    const char *at = strchr(v, '@');
    size_t n = strlen(v);
    if (at == NULL || at == v || strchr(at + 1, '@') != NULL || n > 254)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] <= 0x20 || v[i] == 0x7F || strchr("<>()[],;:\\\"", v[i]) != NULL)
            return 0;
    const char *dom = at + 1, *dot = strchr(dom, '.');
    return dot != NULL && dot != dom && dom[strlen(dom) - 1] != '.' && strstr(dom, "..") == NULL;
}

int form_check_given(const fform *fm, const values *vs, char *(*parts)[3], size_t nchildren)
{
    char a[160];
    for (size_t k = 0; k < fm->nchecks; k++) {
        const fcheck *c = &fm->checks[k];
        const char *v = given(fm, vs, c->flag), *o = given(fm, vs, c->other);
        switch (c->kind) {
        case CK_NOT_FUTURE: {
            int64_t at = 0, now = 0;
            if (v == NULL || vs->zone_later)
                break;
            int dated = strlen(v) == 10; /* a date: not after today */
            if (dated ? strcmp(v, vs->today) > 0
                      : fs_civil_parse(v, strlen(v), &at) == 0 &&
                            fs_civil_parse(vs->nowbuf, strlen(vs->nowbuf), &now) == 0 &&
                            at > now + 5) {
                cli_error(
                    _("%s: %s is in the future (it is %s now): record it once it has happened"),
                    c->flag, v, dated ? vs->today : vs->nowbuf);
                return CLI_EUSAGE;
            }
            break;
        }
        case CK_NOT_BEFORE:
            if (v != NULL && o != NULL && strcmp(v, o) < 0) {
                cli_error(_("%s: %s is before %s %s"), c->flag, v, c->other, o);
                return CLI_EUSAGE;
            }
            break;
        case CK_PHONE:
            if (v != NULL && !phone_ok(v)) {
                cli_error(_("%s: expected a phone number (5 to 20 digits, with spaces, + - ( ) . "
                            "as written), got %s"),
                          c->flag, cli_typed(v, a, sizeof a));
                return CLI_EUSAGE;
            }
            break;
        case CK_EMAIL:
            if (v != NULL && !email_ok(v)) {
                cli_error(_("%s: expected an e-mail address as name@example.com, got %s"), c->flag,
                          cli_typed(v, a, sizeof a));
                return CLI_EUSAGE;
            }
            break;
        case CK_QUARTER:
            if (v != NULL && !(strlen(v) == 7 && v[4] == '-' && v[5] == 'Q' && v[6] >= '1' &&
                               v[6] <= '4' && strspn(v, "0123456789") == 4)) {
                cli_error(_("%s: expected a quarter as YYYY-Qn (2026-Q4), got %s"), c->flag,
                          cli_typed(v, a, sizeof a));
                return CLI_EUSAGE;
            }
            break;
        case CK_TASKS_WITHIN:
            for (size_t i = 0; v != NULL && o != NULL && fm->child != NULL && i < nchildren; i++) {
                const char *d = parts[i][0];
                if (d != NULL && (strcmp(d, v) < 0 || strcmp(d, o) > 0)) {
                    cli_error(_("%s #%zu: its date %s is outside the period %s .. %s (%s, %s)"),
                              fm->child->flag, i + 1, cli_typed(d, a, sizeof a), v, o, c->flag,
                              c->other);
                    return CLI_EUSAGE;
                }
            }
            break;
        default:
            break;
        }
    }
    return CLI_OK;
}

/* Walks this rep's live records of fm's table (those whose column col
 * equals *eq), the record being edited (self) left out, until match says 1
 * of one: its id into id. 1 found, 0 none, <0 an error. */
static int find_mine(fs_replica *r, const fform *fm, const char *me, const char *col,
                     const fs_value *eq, const uint8_t *self, int (*match)(fs_rows *, void *),
                     void *ctx, uint8_t id[FS_ID_BYTES])
{
    const char *owner = fs_record_rules_of(fm->table)->owner;
    fs_rows *it = NULL;
    int found = 0, frc = fs_rows_open(&it, r, fm->table, col, eq, NULL);
    while (frc == 0 && !found && (frc = fs_rows_next(it)) == 1) {
        fs_value who;
        frc = 0;
        if (fs_rows_get(it, owner, &who) != 0 || who.type != FS_TEXT || who.n != strlen(me) ||
            memcmp(who.p, me, who.n) != 0)
            continue;
        if (self != NULL && memcmp(fs_rows_id(it), self, FS_ID_BYTES) == 0)
            continue; /* the record being edited */
        if (match(it, ctx)) {
            found = 1;
            memcpy(id, fs_rows_id(it), FS_ID_BYTES);
        }
    }
    fs_rows_close(it);
    return frc < 0 ? frc : found;
}

/* A daily report of the form's kind (plan or summary; any self-check). */
static int same_kind(fs_rows *it, void *ctx)
{
    const fform *fm = ctx;
    fs_value kind;
    return fm->init_col == NULL ||
           (fs_rows_get(it, fm->init_col, &kind) == 0 && kind.type == FS_TEXT &&
            kind.n == strlen(fm->init_val) && memcmp(kind.p, fm->init_val, kind.n) == 0);
}

/* CK_ONE_PER_DAY: a record of the form's kind, this rep's, on that date. */
static int one_per_day(fs_replica *r, const fform *fm, const fcheck *c, const char *date,
                       const char *me, const uint8_t *self)
{
    const fs_record_rules *rr = fs_record_rules_of(fm->table);
    int at = field_at(fm, c->flag);
    if (rr == NULL || rr->owner == NULL || at < 0 || me[0] == '\0')
        return CLI_OK;
    fs_value eq = fs_text(date);
    uint8_t id[FS_ID_BYTES];
    int found = find_mine(r, fm, me, fm->fields[at].column, &eq, self, same_kind, (void *)fm, id);
    if (found <= 0)
        return found < 0 ? cli_fail(r, fm->group, found) : CLI_OK;
    char hex[2 * FS_ID_BYTES + 1];
    fs_id_to_hex(id, hex);
    int named = strcmp(fm->add_name, "add") != 0; /* "daily plan", else "selfcheck" */
    cli_error(_("%s: %s has a %s%s%s for %s already (%.8s): one a day"), c->flag, me, fm->group,
              named ? " " : "", named ? fm->add_name : "", date, hex);
    return CLI_EUSAGE;
}

/* CK_SAME_TIME: a live record of the form's kind for the same customer at
 * the same minute is most likely the one typed twice (a command run
 * again): the rep is told, with how to delete one, unless the flag other
 * says it is another. Recorded either way: a second visit in the same
 * minute is rare, not wrong, and scripts that import visits by the day
 * are not stopped. */
static int same_time(fs_replica *r, const fform *fm, const values *vs, const fcheck *c,
                     const char *when, const uint8_t *self)
{
    int ov = field_at(fm, c->other), at = field_at(fm, c->flag);
    const char *who = given(fm, vs, "--customer");
    if ((ov >= 0 && vs->flag[ov]) || at < 0 || who == NULL)
        return CLI_OK;
    /* the customer as add will find it, quietly: when it is not one, add
     * says why (not held, no such name, several) */
    uint8_t customer[FS_ID_BYTES];
    if (!cli_find(r, "customer", who, customer))
        return CLI_OK;
    fs_rows *it = NULL;
    fs_value eq = fs_blob(customer, FS_ID_BYTES), v;
    int frc = fs_rows_open(&it, r, fm->table, "customer", &eq, NULL);
    while (frc == 0 && (frc = fs_rows_next(it)) == 1) {
        frc = 0;
        if ((self != NULL && memcmp(fs_rows_id(it), self, FS_ID_BYTES) == 0) ||
            fs_rows_get(it, fm->fields[at].column, &v) != 0 || v.type != FS_TEXT ||
            v.n != strlen(when) || memcmp(v.p, when, v.n) != 0)
            continue;
        char hex[2 * FS_ID_BYTES + 1];
        fs_id_to_hex(fs_rows_id(it), hex);
        cli_error(_("note: a %s for this customer at %s is recorded already (%.8s): if this one "
                    "was typed twice, delete one with 'fieldsync %s delete ID'"),
                  cli_kind_word(fm->table), when, hex, fm->group);
        break;
    }
    fs_rows_close(it);
    return frc < 0 ? cli_fail(r, fm->group, frc) : CLI_OK;
}

/* A period (two dates as text, "YYYY-MM-DD", which sort as the days do)
 * and, once one overlaps it, that record's. */
typedef struct period {
    const char *from_col, *to_col, *from, *to;
    char start[16], end[16];
} period;

static int overlaps(fs_rows *it, void *ctx)
{
    period *p = ctx;
    fs_value s, e;
    if (fs_rows_get(it, p->from_col, &s) != 0 || s.type != FS_TEXT || s.n >= sizeof p->start ||
        fs_rows_get(it, p->to_col, &e) != 0 || e.type != FS_TEXT || e.n >= sizeof p->end)
        return 0;
    memcpy(p->start, s.p, s.n);
    p->start[s.n] = '\0';
    memcpy(p->end, e.p, e.n);
    p->end[e.n] = '\0';
    return strcmp(p->start, p->to) <= 0 && strcmp(p->from, p->end) <= 0;
}

/* CK_NO_OVERLAP: none of this rep's other live records of the form's
 * table spans a day of flag .. other: one weekly plan a week. On an edit
 * giving one of the two, that day alone is checked. */
static int no_overlap(fs_replica *r, const fform *fm, const values *vs, const fcheck *c,
                      const char *me, const uint8_t *self)
{
    const fs_record_rules *rr = fs_record_rules_of(fm->table);
    int a = field_at(fm, c->flag), b = field_at(fm, c->other);
    const char *from = given(fm, vs, c->flag), *to = given(fm, vs, c->other);
    if (rr == NULL || rr->owner == NULL || a < 0 || b < 0 || me[0] == '\0' ||
        (from == NULL && to == NULL))
        return CLI_OK;
    period p = {fm->fields[a].column, fm->fields[b].column, from ? from : to, to ? to : from,
                "", ""};
    fs_value owner = fs_text(me);
    uint8_t id[FS_ID_BYTES];
    int found = find_mine(r, fm, me, rr->owner, &owner, self, overlaps, &p, id);
    if (found <= 0)
        return found < 0 ? cli_fail(r, fm->group, found) : CLI_OK;
    char hex[2 * FS_ID_BYTES + 1];
    fs_id_to_hex(id, hex);
    cli_error(_("%s: %s has a %s for %s to %s already (%.8s): correct that one with '%s edit "
                "%.8s'"),
              from != NULL ? c->flag : c->other, me, cli_kind_word(fm->table), p.start, p.end,
              hex, fm->group, hex);
    return CLI_EUSAGE;
}

/* CK_UNIQUE_NAME: no live record of the table with that name (Latin
 * letters in any case), unless the override flag is given. */
static int unique_name(fs_replica *r, const fform *fm, const values *vs, const fcheck *c,
                       const char *name, const uint8_t *self)
{
    int ov = field_at(fm, c->other);
    if (ov >= 0 && vs->flag[ov])
        return CLI_OK;
    fs_name_match m[8];
    size_t n = 0;
    int frc = fs_match_name(r, fm->table, name, m, sizeof m / sizeof m[0], &n);
    if (frc != 0)
        return cli_fail(r, fm->group, frc);
    for (size_t i = 0; i < n && i < sizeof m / sizeof m[0]; i++) {
        if (strcasecmp(m[i].name, name) != 0 ||
            (self != NULL && memcmp(m[i].id, self, FS_ID_BYTES) == 0))
            continue;
        char hex[2 * FS_ID_BYTES + 1];
        fs_id_to_hex(m[i].id, hex);
        cli_error(_("%s: a %s of that name is recorded already (%.8s): give %s if this is another "
                    "one of the same name"),
                  c->flag, cli_kind_word(fm->table), hex, c->other);
        return CLI_EUSAGE;
    }
    return CLI_OK;
}

/* CK_NEAR_NOW: a visit dated 1999 or 2031 is a typo far more often than
 * not; checked on the values given only, so an edit of an old visit's
 * notes is not refused for its time. */
static int near_now(const fform *fm, const values *vs, const fcheck *c, const char *v)
{
    int o = field_at(fm, c->other);
    int64_t at = 0, now = 0;
    if ((o >= 0 && vs->flag[o]) || fs_civil_parse(v, strlen(v), &at) != 0 ||
        fs_civil_parse(vs->nowbuf, strlen(vs->nowbuf), &now) != 0)
        return CLI_OK;
    int64_t away = at > now ? at - now : now - at;
    if (away <= (int64_t)FORM_NEAR_DAYS * 24 * 60)
        return CLI_OK;
    cli_error(_("%s: %s is more than 30 days from now (it is %s now), past or future: "
                "a time that far off is taken only with %s"),
              c->flag, v, vs->nowbuf, c->other);
    return CLI_EUSAGE;
}

int form_check_stored(fs_replica *r, const fform *fm, const values *vs, const char *me)
{
    return form_check_stored_except(r, fm, vs, me, NULL);
}

int form_check_stored_except(fs_replica *r, const fform *fm, const values *vs, const char *me,
                             const uint8_t *self)
{
    int rc = CLI_OK;
    for (size_t k = 0; rc == CLI_OK && k < fm->nchecks; k++) {
        const fcheck *c = &fm->checks[k];
        const char *v = given(fm, vs, c->flag);
        if (c->kind == CK_NO_OVERLAP)
            rc = no_overlap(r, fm, vs, c, me, self); /* either flag may be given */
        if (v == NULL)
            continue;
        if (c->kind == CK_ONE_PER_DAY)
            rc = one_per_day(r, fm, c, v, me, self);
        else if (c->kind == CK_NEAR_NOW)
            rc = near_now(fm, vs, c, v);
        else if (c->kind == CK_UNIQUE_NAME)
            rc = unique_name(r, fm, vs, c, v, self);
        else if (c->kind == CK_SAME_TIME)
            rc = same_time(r, fm, vs, c, v, self);
    }
    return rc;
}
