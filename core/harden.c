/* Process hardening: see fieldsync/harden.h. */
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
