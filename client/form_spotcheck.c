/*
 * A spot-check counts for the rep who holds the record it checks (the
 * record rules, fieldsync/records.h): `spotcheck add` fills --rep from the
 * record on this device, and refuses a --rep that names someone else
 * before anything is written, as the server would.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "form.h"
#include "i18n.h"

/* Copies the text of column in row id of table into out (size bytes):
 * "" when there is no such row or the value is not text that fits. */
static int row_text(fs_replica *r, const char *table, const uint8_t id[FS_ID_BYTES],
                    const char *column, char *out, size_t size)
{
    fs_rows *it = NULL;
    out[0] = '\0';
    int rc = fs_rows_open(&it, r, table, NULL, NULL, NULL);
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        rc = 0;
        if (memcmp(fs_rows_id(it), id, FS_ID_BYTES) != 0)
            continue;
        fs_value v;
        rc = fs_rows_get(it, column, &v);
        if (rc == 0 && v.type == FS_TEXT && v.n < size) {
            memcpy(out, v.p, v.n);
            out[v.n] = '\0';
        } else if (rc == 0 && v.type == FS_BLOB && v.n == FS_ID_BYTES && size >= FS_ID_BYTES) {
            memcpy(out, v.p, FS_ID_BYTES); /* an id, for the caller that asked for one */
            rc = 1;
        }
        break;
    }
    fs_rows_close(it);
    return rc;
}

/* The rep who holds id of table on this device: a customer's owner, or
 * the owner of the customer the record follows; "" when not known. */
static int holder_of(fs_replica *r, const char *table, const uint8_t id[FS_ID_BYTES],
                     char out[FS_USER_MAX + 1])
{
    if (strcmp(table, "customer") == 0)
        return row_text(r, "customer", id, "owner", out, FS_USER_MAX + 1);
    char parent[FS_USER_MAX + 1];
    int rc = row_text(r, table, id, "customer", parent, sizeof parent);
    out[0] = '\0';
    if (rc == 1) /* the customer's id */
        return row_text(r, "customer", (const uint8_t *)parent, "owner", out, FS_USER_MAX + 1);
    return rc < 0 ? rc : 0;
}

int form_spotcheck_rep(fs_replica *r, fs_cell *cells, size_t *nc, char held[FS_USER_MAX + 1])
{
    const char *table = NULL;
    const uint8_t *record = NULL;
    size_t rep = *nc;
    for (size_t i = 0; i < *nc; i++) {
        if (strcmp(cells[i].column, "record_table") == 0 && cells[i].value.type == FS_TEXT)
            table = cells[i].value.p;
        else if (strcmp(cells[i].column, "record_id") == 0 && cells[i].value.type == FS_BLOB)
            record = cells[i].value.p;
        else if (strcmp(cells[i].column, "rep") == 0)
            rep = i;
    }
    if (table == NULL || record == NULL)
        return CLI_OK; /* the form requires both: nothing to attach otherwise */
    int frc = holder_of(r, table, record, held);
    if (frc < 0)
        return cli_fail(r, "spotcheck add", frc);
    const fs_value *given = rep < *nc ? &cells[rep].value : NULL;
    if (held[0] == '\0') {
        if (given != NULL && given->type == FS_TEXT)
            return CLI_OK; /* not known here: the server decides */
        cli_error(_("spotcheck add: this device does not know whose %s that is; give --rep"),
                  cli_kind_word(table));
        return CLI_EUSAGE;
    }
    if (given == NULL) {
        cells[(*nc)++] = (fs_cell){"rep", fs_text(held)};
        return CLI_OK;
    }
    if (given->type != FS_TEXT || given->n != strlen(held) || memcmp(given->p, held, given->n) != 0) {
        cli_error(_("spotcheck add: --rep: that %s is %s's record; a spot-check counts for the "
                    "rep who holds the record (leave --rep out to use %s)"),
                  cli_kind_word(table), held, held);
        return CLI_EUSAGE;
    }
    return CLI_OK;
}
