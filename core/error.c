/* Error code table: names and messages generated from FS_ERRNO_MAP. */
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
