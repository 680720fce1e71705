/* Process hardening: see fieldsync/harden.h. */
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "fieldsync/error.h"
#include "fieldsync/harden.h"

int fs_harden_process(void)
{
    struct rlimit none = {0, 0};
    int rc = 0;
    if (setrlimit(RLIMIT_CORE, &none) != 0)
        rc = FS_EIO;
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        rc = FS_EIO;
    return rc;
}

char **fs_hide_args(int argc, char **argv, int (*known)(const char *arg))
{
    /* One array for the process's life: the caller's argc + 1 entries, then
     * the strings again, so each stays reachable whatever the caller does
     * with its part (main drops --export from it). */
    static char **given;
    if (argc < 1)
        return NULL;
    char **c = calloc(2 * (size_t)argc + 1, sizeof *c);
    if (c == NULL)
        return NULL;
    for (int i = 0; i < argc; i++) {
        c[i] = strdup(argv[i]);
        if (c[i] == NULL) {
            while (i-- > 0)
                free(c[i]);
            free(c);
            return NULL;
        }
        c[argc + 1 + i] = c[i];
    }
    /* Only once every copy is made: a failure above leaves argv whole. */
    for (int i = 1; i < argc; i++)
        if (!known(argv[i]))
            explicit_bzero(argv[i], strlen(argv[i]));
    given = c;
    return given;
}
