/*
 * What a finding's record says (see fieldsync/rules.h): its own words, its
 * customer and who made it. Shared by the rep's `today` and the manager's
 * dashboard, so both name the same work the same way. Each finding reads
 * its one row by id (and a commitment the one visit it was made at).
 */
#include <stdlib.h>
#include <string.h>

#include "fieldsync/error.h"
#include "fieldsync/rules.h"
#include "fieldsync/schema.h"

static int has_column(const fs_table *t, const char *name)
{
    return fs_schema_column_index(t, name) >= 0;
}

/* The column that names who made a row of t, or NULL: a visit's visitor,
 * a complaint's receiver (its owner, who keeps it to the end). A customer's
 * owner is who holds it, not who made it. A record without one (a customer
 * question) is said made by its first write's device's user (fs_row_maker). */
static const char *maker_column(const fs_table *t)
{
    if (strcmp(t->name, "customer") == 0)
        return NULL;
    if (has_column(t, "visitor"))
        return "visitor";
    return has_column(t, "owner") ? "owner" : NULL;
}

static void copy_name(const fs_value *v, char out[FS_USER_MAX + 1])
{
    out[0] = '\0';
    if (v->type == FS_TEXT && v->n <= FS_USER_MAX) {
        memcpy(out, v->p, v->n);
        out[v->n] = '\0';
    }
}

/* The row of table with this id: 1 with the iterator on it, 0 when there
 * is none (deleted, purged), <0 on error. */
static int open_row(fs_replica *r, const char *table, const uint8_t id[FS_ID_BYTES], fs_rows **it)
{
    fs_value v = fs_blob(id, FS_ID_BYTES);
    int rc = fs_rows_open(it, r, table, "id", &v, NULL);
    return rc == 0 ? fs_rows_next(*it) : rc;
}

const char *fs_finding_table(const fs_finding *f)
{
    return f->rule->kind == FS_RULE_QUARTERLY ? "customer" : f->rule->table;
}

int fs_finding_record_read(fs_replica *r, const fs_finding *f, fs_finding_record *out)
{
    memset(out, 0, sizeof *out);
    int tix = f->has_row ? fs_schema_table_index(fs_finding_table(f)) : -1;
    if (tix < 0)
        return 0;
    unsigned nt;
    const fs_table *t = &fs_schema_tables(&nt)[tix];
    if (strcmp(t->name, "customer") == 0) {
        memcpy(out->customer, f->row, FS_ID_BYTES);
        out->has_customer = 1;
        return 0;
    }
    fs_rows *it = NULL;
    uint8_t visit[FS_ID_BYTES];
    int has_visit = 0;
    fs_value v;
    const char *maker = maker_column(t);
    int rc = open_row(r, t->name, f->row, &it);
    if (rc == 1) {
        rc = 0;
        /* the record's own words: a commitment's promise, a question */
        const char *words = has_column(t, "text")       ? "text"
                            : has_column(t, "question") ? "question"
                                                        : NULL;
        if (words != NULL && (rc = fs_rows_get(it, words, &v)) == 0 && v.type == FS_TEXT) {
            out->text = malloc(v.n + 1);
            if (out->text == NULL) {
                rc = FS_ENOMEM;
            } else {
                memcpy(out->text, v.p, v.n);
                out->text[v.n] = '\0';
            }
        }
        if (rc == 0 && has_column(t, "customer") && (rc = fs_rows_get(it, "customer", &v)) == 0 &&
            v.type == FS_BLOB && v.n == FS_ID_BYTES) {
            memcpy(out->customer, v.p, FS_ID_BYTES);
            out->has_customer = 1;
        }
        if (rc == 0 && maker != NULL && (rc = fs_rows_get(it, maker, &v)) == 0)
            copy_name(&v, out->made_by);
        if (rc == 0 && maker == NULL && has_column(t, "visit") &&
            (rc = fs_rows_get(it, "visit", &v)) == 0 && v.type == FS_BLOB && v.n == FS_ID_BYTES) {
            memcpy(visit, v.p, FS_ID_BYTES);
            has_visit = 1;
        }
    }
    fs_rows_close(it);
    it = NULL;
    /* a commitment: made by whoever made the visit it was promised at */
    if (rc == 0 && has_visit && (rc = open_row(r, "visit", visit, &it)) == 1)
        rc = fs_rows_get(it, "visitor", &v) == 0 ? (copy_name(&v, out->made_by), 0) : FS_ESCHEMA;
    fs_rows_close(it);
    /* no column names its maker (a customer question): the device of its
     * first write, and that device's user as far as the replica can tell */
    if (rc == 0 && maker == NULL && !has_visit && out->has_customer) {
        rc = fs_row_maker(r, (unsigned)tix, f->row, out->maker_device, out->made_by);
        if (rc == FS_ENOTFOUND)
            rc = 0;
        static const uint8_t zero[FS_ID_BYTES];
        out->has_maker_device = rc == 0 && memcmp(out->maker_device, zero, FS_ID_BYTES) != 0;
    }
    if (rc < 0) {
        fs_finding_record_free(out);
        return rc;
    }
    if (strcmp(out->made_by, f->who) == 0)
        out->made_by[0] = '\0'; /* said only when someone else made it */
    return 0;
}

void fs_finding_record_free(fs_finding_record *fr)
{
    free(fr->text);
    fr->text = NULL;
}
