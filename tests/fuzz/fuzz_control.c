/*
 * Fuzz target: the server control socket's request and reply parsers
 * (fieldsync/ctl.h). The first byte picks the parser. A request that parses
 * must encode back to the same bytes; a reply that parses must too; every
 * pointer returned must lie inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync/ctl.h"
#include "fieldsync/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int which = data[0] & 1;
    data++;
    size--;
    char *body = malloc(size ? size : 1);
    if (body == NULL)
        return 0;
    memcpy(body, data, size);
    fs_buf again;
    fs_buf_init(&again);
    if (which == 0) {
        const char *pass, *lang;
        size_t passlen;
        int argc;
        char *argv[FS_CTL_MAX_ARGS + 1];
        int rc = fs_ctl_request_parse(body, size, &lang, &pass, &passlen, &argc, argv);
        if (rc == 0) {
            if (argc < 1 || argc > FS_CTL_MAX_ARGS || argv[argc] != NULL || passlen == 0)
                abort();
            if (lang != NULL && strcmp(lang, "zh_CN") != 0 && strcmp(lang, "zh_TW") != 0 &&
                strcmp(lang, "en") != 0)
                abort();
            if (fs_ctl_request_encode(&again, lang, pass, passlen, argc, argv) != 0 ||
                again.len != size + 4 || memcmp(again.data + 4, data, size) != 0)
                abort();
        } else if (rc != FS_EMALFORMED && rc != FS_ETOOBIG) {
            abort();
        }
    } else {
        int status;
        const uint8_t *o, *e;
        size_t ol, el;
        int rc = fs_ctl_reply_parse((const uint8_t *)body, size, &status, &o, &ol, &e, &el);
        if (rc == 0) {
            const uint8_t *b = (const uint8_t *)body;
            if (o < b || o + ol > b + size || e < b || e + el > b + size)
                abort();
            if (fs_ctl_reply_encode(&again, status, (const char *)o, ol, (const char *)e, el) !=
                    0 ||
                again.len != size + 4 || memcmp(again.data + 4, data, size) != 0)
                abort();
        } else if (rc != FS_EMALFORMED) {
            abort();
        }
    }
    fs_buf_free(&again);
    free(body);
    return 0;
}
