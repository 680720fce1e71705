/*
 * A table for the terminal whose columns stay aligned with CJK text: cells
 * are measured in display columns (text.h), cut to a per-column limit with
 * "…", and padded with spaces. Rows are collected first, printed at the end.
 */
#ifndef FIELDSYNC_CLIENT_TABLE_H
#define FIELDSYNC_CLIENT_TABLE_H

#include <stddef.h>
#include <stdio.h>

typedef struct cli_table cli_table;

/* One column: its heading (printed through gettext: mark it N_() to have it
 * translated) and the most display columns a cell may take (0: no limit). */
typedef struct cli_column {
    const char *heading;
    size_t maxwidth;
} cli_column;

/* Creates a table with ncols columns; the column array is copied, the
 * heading strings must outlive the table. Returns 0 or FS_ENOMEM. */
int cli_table_new(cli_table **out, const cli_column *cols, size_t ncols);

/* Appends a row of ncols cells (NULL shows as empty); the cells are copied.
 * Returns 0 or FS_ENOMEM. */
int cli_table_add(cli_table *t, const char *const *cells);

/* Number of rows added so far. */
size_t cli_table_rows(const cli_table *t);

/* Prints the headings and the rows, columns separated by two spaces, no
 * trailing blanks. Write errors stay in the stream's error flag (main()
 * checks stdout before it exits). */
void cli_table_print(const cli_table *t, FILE *f);

/* Frees the table and its cells; accepts NULL. */
void cli_table_free(cli_table *t);

#endif
