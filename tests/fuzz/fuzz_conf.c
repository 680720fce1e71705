/*
 * Fuzz target: serve's settings file (server/conf.c, fieldsync.conf(5)).
 * The input is the file, given through a memfd (no temp file). A file that
 * loads must give values that are non-empty, hold no control character
 * and fit in the input; FIELDSYNC_INSECURE_HTTP must read as yes or no.
 */
#define _GNU_SOURCE /* memfd_create */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "srv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_value(const char *v, size_t size)
{
    if (v == NULL)
        return;
    size_t n = strlen(v);
    if (n == 0 || n > size)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *quiet;
    if (quiet == NULL && (sodium_init() < 0 || (quiet = fopen("/dev/null", "w")) == NULL))
        return 0;
    srv_err_ = quiet; /* the errors name lines; not needed here */
    int fd = memfd_create("fuzz-conf", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (fchmod(fd, 0600) != 0 || (size > 0 && write(fd, data, size) != (ssize_t)size)) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    srv_conf c;
    if (srv_conf_load(path, &c) == SRV_OK) {
        check_value(c.data, size);
        check_value(c.listen, size);
        check_value(c.lease, size);
        check_value(c.tls_cert, size);
        check_value(c.tls_key, size);
        check_value(c.insecure_http, size);
        if (srv_conf_flag(c.insecure_http) < 0)
            abort();
        srv_conf_free(&c);
    }
    close(fd);
    return 0;
}
