/* Error code table: names and messages generated from FS_ERRNO_MAP. */
#include <stdarg.h>
#include <stdio.h>

#include "fieldsync/error.h"

const char *fs_strerror(int code)
{
    switch (code) {
    case FS_OK:
        return "success";
#define FS__ERR_TEXT(name, c, text)                                                      \
    case FS_##name:                                                                      \
        return text;
        FS_ERRNO_MAP(FS__ERR_TEXT)
#undef FS__ERR_TEXT
    default:
        return "unknown error";
    }
}

const char *fs_errname(int code)
{
    switch (code) {
    case FS_OK:
        return "FS_OK";
#define FS__ERR_NAME(name, c, text)                                                      \
    case FS_##name:                                                                      \
        return "FS_" #name;
        FS_ERRNO_MAP(FS__ERR_NAME)
#undef FS__ERR_NAME
    default:
        return "FS_UNKNOWN";
    }
}

int fs_say(char *why, size_t whylen, int code, const char *fmt, ...)
{
    if (why != NULL && whylen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return code;
}
