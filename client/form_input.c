/*
 * The form engine's input side (form.h): every value typed is checked
 * against its field before the replica is opened, missing required fields
 * are asked for on a terminal, and values become cells once ids can be
 * resolved.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "precheck.h"

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
        if (f->required && cli_blank(v)) {
            cli_error("%s: must not be empty", f->flag);
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
        cli_error("%s: expected yes or no", f->flag);
        return CLI_EUSAGE;
    case FK_CUSTOMER:
    case FK_REF:
        return cli_check_idprefix(f->flag, v);
    case FK_INT: {
        int lo = 0, hi = 0;
        char *end = NULL;
        long x = strtol(v, &end, 10);
        sscanf(f->extra, "%d-%d", &lo, &hi);
        if (end == v || *end != '\0' || x < lo || x > hi) {
            cli_error("%s: expected a whole number from %d to %d", f->flag, lo, hi);
            return CLI_EUSAGE;
        }
        return CLI_OK;
    }
    case FK_CHOICE:
        if (form_in_choices(v, f->extra))
            return CLI_OK;
        cli_error("%s: expected one of %s", f->flag, f->extra);
        return CLI_EUSAGE;
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

int form_complete(const ffield *fields, size_t n, values *vs)
{
    set_now(vs);
    for (size_t i = 0; i < n; i++) {
        const ffield *f = &fields[i];
        if (vs->v[i] == NULL && f->now_default)
            vs->v[i] = f->kind == FK_DATE ? vs->today : vs->nowbuf;
        if (vs->v[i] == NULL && f->required) {
            if (!cli_ask(f->label, &vs->typed[i])) {
                cli_error("%s is required (%s)", f->flag, f->label);
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
                cli_error("%s is required when %s is no", fields[j].flag, f->flag);
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

int form_to_cell(fs_replica *r, const ffield *f, const char *v, const values *vs,
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
        cli_error("this form is signed with your user name: set it once with "
                  "'fieldsync whoami --set NAME'");
        return CLI_EUSAGE;
    }
    return cli_fail(r, "reading the user name", rc);
}
