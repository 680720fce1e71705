/*
 * Fuzz target: UTF-8 decoding and table cells (core/text.c), which every
 * name and note a rep types goes through before a terminal shows it. The
 * input is the text; the first byte, the cell's width. A cell must be valid
 * UTF-8, hold no control character, be no wider than asked, and its width
 * must be what text_width says of it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t maxwidth = data[0] % 40u; /* 0: no limit */
    char *s = malloc(size);
    if (s == NULL)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0'; /* text up to the first NUL, as a C string */
    size_t n = strlen(s), off = 0;
    uint32_t cp;
    while (off < n) { /* every decoded length stays within the input */
        size_t len = text_utf8_next(s + off, n - off, &cp);
        if (len > 4 || len > n - off)
            abort();
        if (len > 0 && (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)))
            abort();
        off += len > 0 ? len : 1;
    }
    char *cell = NULL;
    size_t w = 0;
    if (text_cell(s, maxwidth, &cell, &w) == 0) {
        size_t cn = strlen(cell);
        if (!text_utf8_valid(cell, cn) || (maxwidth > 0 && w > maxwidth) ||
            text_width(cell) != w)
            abort();
        for (size_t i = 0; i < cn; i++)
            if ((unsigned char)cell[i] < 0x20 || cell[i] == 0x7f)
                abort();
        free(cell);
    }
    free(s);
    return 0;
}
