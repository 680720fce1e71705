/*
 * Records out of the replica, for tables and JSON (see record.h). The JSON
 * form of a row follows the schema (fieldsync/schema.h): a new column shows
 * up in `list --json` without a change here.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fieldsync/schema.h"
#include "record.h"

static char *copy_text(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s == NULL)
        return NULL;
    if (n > 0)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

int rec_text(const fs_rows *it, const char *column, char **out)
{
    fs_value v;
    int rc;

    *out = NULL;
    rc = fs_rows_get(it, column, &v);
    if (rc != 0)
        return rc;
    if (v.type != FS_TEXT)
        return 0;
    *out = copy_text(v.p, v.n);
    return *out != NULL ? 0 : FS_ENOMEM;
}

int rec_id(const fs_rows *it, const char *column, uint8_t out[FS_ID_BYTES], int *present)
{
    fs_value v;
    int rc;

    *present = 0;
    memset(out, 0, FS_ID_BYTES);
    rc = fs_rows_get(it, column, &v);
    if (rc != 0)
        return rc;
    if (v.type == FS_BLOB && v.n == FS_ID_BYTES) {
        memcpy(out, v.p, FS_ID_BYTES);
        *present = 1;
    }
    return 0;
}

int rec_json_add(cJSON *obj, const char *name, cJSON *item)
{
    cJSON_bool ok;
    if (item == NULL)
        return FS_ENOMEM;
    ok = name != NULL ? cJSON_AddItemToObject(obj, name, item) : cJSON_AddItemToArray(obj, item);
    if (!ok) {
        cJSON_Delete(item);
        return FS_ENOMEM;
    }
    return 0;
}

const fs_column *rec_schema_column(unsigned table, unsigned column, const char **table_name)
{
    static const fs_column unknown = {.name = "?"};
    unsigned n = 0;
    const fs_table *tables = fs_schema_tables(&n);
    *table_name = "?";
    if (table >= n)
        return &unknown;
    *table_name = tables[table].name;
    return column < tables[table].ncolumns ? &tables[table].columns[column] : &unknown;
}

cJSON *rec_value_json(const fs_column *col, const fs_value *v)
{
    cJSON *item = NULL;
    char *s;

    switch (v->type) {
    case FS_NULL:
        return cJSON_CreateNull();
    case FS_INT:
        if (col->type == FS_COL_BOOL)
            return cJSON_CreateBool(v->i != 0);
        return cJSON_CreateNumber((double)v->i);
    case FS_REAL:
        return cJSON_CreateNumber(v->r);
    case FS_TEXT:
        s = copy_text(v->p, v->n);
        if (s == NULL)
            return NULL;
        item = cJSON_CreateString(s);
        free(s);
        return item;
    case FS_BLOB:
        s = malloc(2 * v->n + 1);
        if (s == NULL)
            return NULL;
        if (col->type == FS_COL_ID && v->n == FS_ID_BYTES)
            fs_id_to_hex(v->p, s); /* a reference, written as ids are */
        else
            sodium_bin2hex(s, 2 * v->n + 1, v->p, v->n);
        item = cJSON_CreateString(s);
        free(s);
        return item;
    }
    return NULL;
}

int rec_json(const fs_rows *it, const char *table, cJSON **out)
{
    unsigned ntables;
    const fs_table *tables = fs_schema_tables(&ntables);
    int ti = fs_schema_table_index(table);
    char hex[2 * FS_ID_BYTES + 1];
    cJSON *obj;
    int rc;

    *out = NULL;
    if (ti < 0)
        return FS_ESCHEMA;
    obj = cJSON_CreateObject();
    if (obj == NULL)
        return FS_ENOMEM;
    fs_id_to_hex(fs_rows_id(it), hex);
    rc = rec_json_add(obj, "id", cJSON_CreateString(hex));
    if (rc != 0)
        goto fail;
    /* Column 0 is the tombstone; only live rows are listed. */
    for (unsigned i = 1; i < tables[ti].ncolumns; i++) {
        const fs_column *col = &tables[ti].columns[i];
        fs_value v;
        rc = fs_rows_get(it, col->name, &v);
        if (rc != 0)
            goto fail;
        rc = rec_json_add(obj, col->name, rec_value_json(col, &v));
        if (rc != 0)
            goto fail;
    }
    *out = obj;
    return 0;

fail:
    cJSON_Delete(obj);
    return rc;
}

int rec_json_print(const cJSON *value, FILE *f)
{
    char *s = cJSON_PrintUnformatted(value);
    if (s == NULL)
        return FS_ENOMEM;
    fputs(s, f);
    fputc('\n', f);
    cJSON_free(s);
    return 0;
}

static int entry_cmp(const void *a, const void *b)
{
    const rec_entry *x = a, *y = b;
    int c = memcmp(x->key, y->key, FS_ID_BYTES);
    if (c != 0)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int rec_index_load(rec_index *out, fs_replica *r, const char *table, const char *key_column,
                   const char *value_column)
{
    rec_index ix = {NULL, 0};
    size_t cap = 0;
    fs_rows *it = NULL;
    int rc;

    out->items = NULL;
    out->count = 0;
    rc = fs_rows_open(&it, r, table, NULL, NULL, value_column);
    if (rc != 0)
        return rc;
    for (;;) {
        rc = fs_rows_next(it);
        if (rc <= 0)
            break;
        rec_entry e = {{0}, NULL, ix.count};
        if (key_column == NULL) {
            memcpy(e.key, fs_rows_id(it), FS_ID_BYTES);
        } else {
            int present;
            rc = rec_id(it, key_column, e.key, &present);
            if (rc != 0)
                goto fail;
            if (!present)
                continue;
        }
        if (ix.count == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            rec_entry *grown = realloc(ix.items, ncap * sizeof *grown);
            if (grown == NULL) {
                rc = FS_ENOMEM;
                goto fail;
            }
            ix.items = grown;
            cap = ncap;
        }
        rc = rec_text(it, value_column, &e.text);
        if (rc != 0)
            goto fail;
        ix.items[ix.count++] = e;
    }
    if (rc < 0)
        goto fail;
    fs_rows_close(it);
    it = NULL;

    /* Sort by key, then keep the last entry of each run of equal keys. */
    if (ix.count > 1)
        qsort(ix.items, ix.count, sizeof *ix.items, entry_cmp);
    size_t kept = 0;
    for (size_t i = 0; i < ix.count; i++) {
        if (i + 1 < ix.count && memcmp(ix.items[i].key, ix.items[i + 1].key, FS_ID_BYTES) == 0) {
            free(ix.items[i].text);
            continue;
        }
        ix.items[kept++] = ix.items[i];
    }
    ix.count = kept;
    *out = ix;
    return 0;

fail:
    if (it != NULL)
        fs_rows_close(it);
    rec_index_free(&ix);
    return rc;
}

static int key_cmp(const void *key, const void *entry)
{
    return memcmp(key, ((const rec_entry *)entry)->key, FS_ID_BYTES);
}

const char *rec_index_find(const rec_index *ix, const uint8_t key[FS_ID_BYTES])
{
    const rec_entry *e;
    if (ix->count == 0)
        return NULL;
    e = bsearch(key, ix->items, ix->count, sizeof *ix->items, key_cmp);
    return e != NULL ? e->text : NULL;
}

void rec_index_free(rec_index *ix)
{
    for (size_t i = 0; i < ix->count; i++)
        free(ix->items[i].text);
    free(ix->items);
    ix->items = NULL;
    ix->count = 0;
}
