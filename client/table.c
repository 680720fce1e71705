/*
 * The CJK-aware table printer (see table.h). Cells are made printable and
 * cut when they are added, so printing only pads: a cell's display width is
 * computed once, by text_cell().
 */
#include <stdlib.h>
#include <string.h>

#include "fieldsync/error.h"
#include "i18n.h"
#include "table.h"
#include "fieldsync/text.h"

typedef struct cell {
    char *text; /* printable, already cut to its column's limit */
    size_t width;
} cell;

struct cli_table {
    cli_column *cols;
    size_t ncols;
    size_t *widths; /* widest cell or heading per column */
    cell *cells;    /* nrows * ncols, row-major */
    size_t nrows, caprows;
};

int cli_table_new(cli_table **out, const cli_column *cols, size_t ncols)
{
    cli_table *t;
    int rc = FS_ENOMEM;

    *out = NULL;
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return FS_ENOMEM;
    t->ncols = ncols;
    t->cols = calloc(ncols, sizeof *t->cols);
    if (t->cols == NULL)
        goto fail;
    t->widths = calloc(ncols, sizeof *t->widths);
    if (t->widths == NULL)
        goto fail;
    for (size_t i = 0; i < ncols; i++) {
        t->cols[i] = cols[i];
        t->widths[i] = text_width(_(cols[i].heading));
    }
    *out = t;
    return 0;

fail:
    cli_table_free(t);
    return rc;
}

int cli_table_add(cli_table *t, const char *const *cells)
{
    if (t->nrows == t->caprows) {
        size_t cap = t->caprows ? 2 * t->caprows : 16;
        cell *grown = realloc(t->cells, cap * t->ncols * sizeof *grown);
        if (grown == NULL)
            return FS_ENOMEM;
        t->cells = grown;
        t->caprows = cap;
    }
    cell *row = t->cells + t->nrows * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        const char *s = cells[i] != NULL ? cells[i] : "";
        int rc = text_cell(s, t->cols[i].maxwidth, &row[i].text, &row[i].width);
        if (rc != 0) {
            while (i > 0)
                free(row[--i].text);
            return rc;
        }
        if (row[i].width > t->widths[i])
            t->widths[i] = row[i].width;
    }
    t->nrows++;
    return 0;
}

size_t cli_table_rows(const cli_table *t)
{
    return t->nrows;
}

static void print_cell(FILE *f, const char *text, size_t width, size_t colwidth, int last)
{
    fputs(text, f);
    if (last)
        return;
    for (size_t pad = width; pad < colwidth + 2; pad++)
        fputc(' ', f);
}

void cli_table_print(const cli_table *t, FILE *f)
{
    for (size_t i = 0; i < t->ncols; i++)
        print_cell(f, _(t->cols[i].heading), text_width(_(t->cols[i].heading)), t->widths[i],
                   i + 1 == t->ncols);
    fputc('\n', f);
    for (size_t r = 0; r < t->nrows; r++) {
        const cell *row = t->cells + r * t->ncols;
        /* The last column is not padded; empty trailing cells print nothing. */
        size_t lastcol = t->ncols;
        while (lastcol > 1 && row[lastcol - 1].text[0] == '\0')
            lastcol--;
        for (size_t i = 0; i < lastcol; i++)
            print_cell(f, row[i].text, row[i].width, t->widths[i], i + 1 == lastcol);
        fputc('\n', f);
    }
}

void cli_table_free(cli_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i].text);
    free(t->cells);
    free(t->widths);
    free(t->cols);
    free(t);
}
