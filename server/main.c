/*
 * fieldsync-server: the central server. Only its command-line shell exists so
 * far; the sync service arrives with issue 4.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "fieldsync/harden.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: fieldsync-server --version | help\n"
               "The sync service (init, user, enroll-code, serve) is not built yet.\n");
}

int main(int argc, char **argv)
{
    if (fs_harden_process() != 0) {
        fprintf(stderr, "fieldsync-server: cannot disable core dumps\n");
        return 1;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "fieldsync-server: libsodium failed to initialise\n");
        return 1;
    }
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("fieldsync-server 0.1.0\n");
        return 0;
    }
    if (argc == 2 && (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc >= 2)
        fprintf(stderr, "fieldsync-server: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
