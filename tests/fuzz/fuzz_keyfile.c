/* Fuzz target: the key-file header parser (fs_keyfile_parse). */
#include <stdint.h>
#include <string.h>

#include "fieldsync/error.h"
#include "fieldsync/keyfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fs_keyfile_hdr h;
    int rc = fs_keyfile_parse(data, size, &h);
    if (rc == 0 && (size != FS_KEYFILE_BYTES || h.memlimit == 0 || h.opslimit == 0))
        __builtin_trap(); /* accepted something malformed */
    return 0;
}
