/* The reason codes' words (fieldsync/reason.h). */
#include "fieldsync/reason.h"

const char *fs_reason_text(uint32_t reason)
{
    switch (reason) {
    case FS_REASON_NONE:
        return "none";
#define FS__REASON_TEXT(name, code, text)                                                \
    case FS_REASON_##name:                                                               \
        return text;
        FS_REASON_MAP(FS__REASON_TEXT)
#undef FS__REASON_TEXT
    default:
        return "unknown reason";
    }
}
