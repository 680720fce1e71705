/*
 * Fuzz target: what a browser sends the dashboard, through its parsers
 * (server/web.h): urlencoded form fields and session cookies. The input is
 * split at its first two NUL bytes into a field name, a body and a cookie
 * header. Whatever comes back must be NUL-terminated within its buffer, a
 * token exactly 64 hex digits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 3);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = copy[size + 1] = copy[size + 2] = '\0';
    const char *name = copy;
    const char *body = name + strlen(name) + 1;
    const char *cookie = body < copy + size + 1 ? body + strlen(body) + 1 : copy + size + 2;
    if (cookie > copy + size + 2)
        cookie = copy + size + 2;
    char out[64];
    for (size_t cap = 1; cap <= sizeof out; cap *= 2) {
        memset(out, 'X', sizeof out);
        if (web_form_field(body, name[0] ? name : "csrf", out, cap) &&
            memchr(out, '\0', cap) == NULL)
            abort();
    }
    char tok[WEB_TOKEN_HEX + 1];
    memset(tok, 'X', sizeof tok);
    if (web_cookie_value(cookie, "fs_session", tok)) {
        if (strlen(tok) != WEB_TOKEN_HEX || strspn(tok, "0123456789abcdefABCDEF") != WEB_TOKEN_HEX)
            abort();
    }
    free(copy);
    return 0;
}
