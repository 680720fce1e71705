/*
 * Fuzz target: the VFS page opener. Input: page number (4 bytes LE) then a
 * page image. No input may authenticate (the key is random per process), and
 * none may crash or read out of bounds.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync/error.h"
#include "fieldsync/vfs.h"

static fs_cryptvfs *vfs;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (vfs == NULL) {
        fs_secret *s = NULL;
        if (sodium_init() < 0 || fs_secret_new(&s) != 0)
            abort();
        randombytes_buf(s->key, FS_KEY_BYTES);
        if (fs_cryptvfs_new(&vfs, s) != 0)
            abort();
        fs_secret_free(s);
    }
    if (size < 4)
        return 0;
    unsigned pgno = (unsigned)data[0] | (unsigned)data[1] << 8 | (unsigned)data[2] << 16 |
                    (unsigned)data[3] << 24;
    size_t n = size - 4;
    unsigned char *page = malloc(n ? n : 1);
    if (page == NULL)
        return 0;
    memcpy(page, data + 4, n);
    int rc = fs_cryptvfs_open_page(vfs, page, n, pgno);
    if (rc == 0)
        __builtin_trap(); /* a forged page authenticated */
    free(page);
    return 0;
}
