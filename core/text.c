/*
 * UTF-8 decoding, display widths and table cells for the terminal.
 * See text.h. Every cell goes through one function, piece(), which decides
 * for each character what is shown and how wide it is.
 */
/* wcwidth() is an X/Open function. */
#define _XOPEN_SOURCE 700

#include <langinfo.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "fieldsync/error.h"
#include "fieldsync/text.h"

static int have_wcwidth; /* 1 once LC_CTYPE is a UTF-8 locale */

static const char ellipsis[] = "\xE2\x80\xA6"; /* U+2026, one column */

static int codeset_is_utf8(void)
{
    const char *cs = nl_langinfo(CODESET);
    return cs != NULL && (strcmp(cs, "UTF-8") == 0 || strcmp(cs, "utf8") == 0);
}

int text_init_locale(void)
{
    static const char *const candidates[] = {"C.UTF-8", "C.utf8", "en_US.UTF-8", ""};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        if (setlocale(LC_CTYPE, candidates[i]) != NULL && codeset_is_utf8()) {
            have_wcwidth = 1;
            return 1;
        }
    }
    setlocale(LC_CTYPE, "C");
    have_wcwidth = 0;
    return 0;
}

size_t text_utf8_next(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    uint32_t c, min;
    size_t len;

    *cp = 0;
    if (n == 0)
        return 0;
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    if (u[0] >= 0xC2 && u[0] <= 0xDF) {
        len = 2;
        c = u[0] & 0x1Fu;
        min = 0x80;
    } else if (u[0] >= 0xE0 && u[0] <= 0xEF) {
        len = 3;
        c = u[0] & 0x0Fu;
        min = 0x800;
    } else if (u[0] >= 0xF0 && u[0] <= 0xF4) {
        len = 4;
        c = u[0] & 0x07u;
        min = 0x10000;
    } else {
        return 0; /* continuation byte, C0/C1 overlong lead, or > U+10FFFF */
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((u[i] & 0xC0u) != 0x80u)
            return 0;
        c = (c << 6) | (u[i] & 0x3Fu);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

int text_utf8_valid(const char *s, size_t n)
{
    size_t off = 0;
    uint32_t cp;
    while (off < n) {
        size_t len = text_utf8_next(s + off, n - off, &cp);
        if (len == 0)
            return 0;
        off += len;
    }
    return 1;
}

/* The built-in fallback: East Asian Wide and Fullwidth ranges that matter
 * for the names and notes reps type, and the common combining marks. */
static int fallback_width(uint32_t cp)
{
    static const uint32_t zero[][2] = {
        {0x0300, 0x036F}, {0x200B, 0x200F}, {0x20D0, 0x20FF}, {0xFE00, 0xFE0F}, {0xFEFF, 0xFEFF},
    };
    static const uint32_t wide[][2] = {
        {0x1100, 0x115F},   {0x2E80, 0x303E},   {0x3041, 0x33FF},   {0x3400, 0x4DBF},
        {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},
        {0xFE30, 0xFE4F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x1F300, 0x1F64F},
        {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
    };
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++)
        if (cp >= zero[i][0] && cp <= zero[i][1])
            return 0;
    for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++)
        if (cp >= wide[i][0] && cp <= wide[i][1])
            return 2;
    return 1;
}

int text_cp_width(uint32_t cp)
{
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0))
        return -1;
    if (have_wcwidth) {
        int w = wcwidth((wchar_t)cp);
        return w > 2 ? 2 : w;
    }
    return fallback_width(cp);
}

/* One character of a cell: how many input bytes it takes (*adv), the bytes
 * to show for it and its width. */
static void piece(const char *s, size_t n, size_t *adv, const char **show, size_t *nshow,
                  size_t *width)
{
    uint32_t cp;
    size_t len = text_utf8_next(s, n, &cp);
    int w = len > 0 ? text_cp_width(cp) : -1;

    if (len > 0 && w >= 0) {
        *adv = len;
        *show = s;
        *nshow = len;
        *width = (size_t)w;
        return;
    }
    *adv = len > 0 ? len : 1;
    *show = (len == 1 && (cp == '\t' || cp == '\n' || cp == '\r')) ? " " : "?";
    *nshow = 1;
    *width = 1;
}

size_t text_width(const char *s)
{
    size_t n = strlen(s), off = 0, total = 0;
    while (off < n) {
        size_t adv, nshow, w;
        const char *show;
        piece(s + off, n - off, &adv, &show, &nshow, &w);
        total += w;
        off += adv;
    }
    return total;
}

int text_cell(const char *s, size_t maxwidth, char **out, size_t *outwidth)
{
    size_t n = strlen(s), off = 0, used = 0, budget = (size_t)-1;
    char *buf;

    *out = NULL;
    *outwidth = 0;
    /* Each input byte yields at most one output byte; plus "…" and NUL. */
    buf = malloc(n + sizeof ellipsis);
    if (buf == NULL)
        return FS_ENOMEM;
    if (maxwidth > 0 && text_width(s) > maxwidth)
        budget = maxwidth - 1;

    size_t len = 0;
    while (off < n) {
        size_t adv, nshow, w;
        const char *show;
        piece(s + off, n - off, &adv, &show, &nshow, &w);
        if (used + w > budget)
            break;
        memcpy(buf + len, show, nshow);
        len += nshow;
        used += w;
        off += adv;
    }
    if (off < n) {
        /* "software …" reads worse than "software…". */
        while (len > 0 && buf[len - 1] == ' ') {
            len--;
            used--;
        }
        memcpy(buf + len, ellipsis, sizeof ellipsis - 1);
        len += sizeof ellipsis - 1;
        used += 1;
    }
    buf[len] = '\0';
    *out = buf;
    *outwidth = used;
    return 0;
}
