/*
 * Reading records out of the replica for display: NUL-terminated copies of
 * text columns, a row as a JSON object (every column of its table, ids in
 * hex), and small id-keyed indexes (a customer's name, a customer's latest
 * visit) loaded in one pass over a table.
 *
 * Functions return 0 or a negative fieldsync code: FS_ENOMEM, or the code
 * of the failed library call (then fs_replica_errmsg() has the details).
 */
#ifndef FIELDSYNC_CLIENT_RECORD_H
#define FIELDSYNC_CLIENT_RECORD_H

#include <stdint.h>
#include <stdio.h>

#include <cJSON.h>

#include "fieldsync/replica.h"

/* A malloc'd, NUL-terminated copy of the current row's text column (caller
 * frees); *out is NULL when the column is NULL. */
int rec_text(const fs_rows *it, const char *column, char **out);

/* The current row's id column: *present is 1 and out holds the id, or 0
 * when the column is NULL or not an id. */
int rec_id(const fs_rows *it, const char *column, uint8_t out[FS_ID_BYTES], int *present);

/* A table and column named by their schema indexes (as in changes,
 * refusals and conflicts): *table_name and the column, or "?" for indexes a
 * newer peer's schema may use and this one lacks. */
const fs_column *rec_schema_column(unsigned table, unsigned column, const char **table_name);

/* One column value as a new JSON item, following the column's declared type
 * (booleans as true/false, ids and bytes as hex); NULL when out of memory. */
cJSON *rec_value_json(const fs_column *col, const fs_value *v);

/* The current row as a new JSON object (caller deletes): "id" and every
 * column of the table but the tombstone; text as strings, booleans as
 * true/false, ids and bytes as lowercase hex, NULL as null. */
int rec_json(const fs_rows *it, const char *table, cJSON **out);

/* Adds item to obj under name, or to an array when name is NULL. The item
 * belongs to obj afterwards, or is deleted on failure (also a NULL item,
 * the result of a failed cJSON_Create*: FS_ENOMEM). */
int rec_json_add(cJSON *obj, const char *name, cJSON *item);

/* Prints a JSON value on one line, then a newline. Returns 0 or FS_ENOMEM;
 * write errors stay in the stream's error flag (main() checks stdout). */
int rec_json_print(const cJSON *value, FILE *f);

/* An index from an id to a text: for each distinct key, the value of the
 * row that comes last in value order (so for a date, the latest). */
typedef struct rec_entry {
    uint8_t key[FS_ID_BYTES];
    char *text; /* NULL if the column was NULL */
    size_t seq; /* position in value order, while loading */
} rec_entry;

typedef struct rec_index {
    rec_entry *items; /* sorted by key */
    size_t count;
} rec_index;

/* Loads the index of the live rows of table: the key is the id column
 * key_column (NULL: the row's own id), the text is value_column. */
int rec_index_load(rec_index *out, fs_replica *r, const char *table, const char *key_column,
                   const char *value_column);

/* The text for key, or NULL if the key is absent or its text is NULL. */
const char *rec_index_find(const rec_index *ix, const uint8_t key[FS_ID_BYTES]);

/* Frees the entries; accepts an empty index. */
void rec_index_free(rec_index *ix);

#endif
