/*
 * What loadsim's commands share (bench/loadsim.c runs the simulated
 * devices; bench/loadsim_setup.c holds the keys file, the options, the
 * measurements of the server process, setup and verify).
 */
#ifndef FS_BENCH_LOADSIM_H
#define FS_BENCH_LOADSIM_H

#include <stddef.h>
#include <stdint.h>

#include "fieldsync/identity.h"

#define PROG       "loadsim"
#define KEYS_MAGIC "FSLOADSIM1"

typedef struct keys {
    uint8_t master[32];
    uint32_t devices, team_size;
    uint8_t server_pk[FS_SIGN_PK_BYTES];
} keys;

#define MAX_NODES 8 /* serve nodes on one store (--port, --server-pid given again) */

typedef struct opts {
    const char *data, *keys, *out, *results;
    const char *store; /* setup: a PostgreSQL URL (the PostgreSQL store), NULL: SQLite */
    size_t devices, team_size, seconds, visits, interval_ms, hold, port;
    long server_pid;
    /* every node, device i connecting to ports[i % nports] */
    size_t ports[MAX_NODES], nports;
    long pids[MAX_NODES];
    size_t npids;
    long pg_pid; /* PostgreSQL's postmaster: its CPU and its children's */
} opts;

__attribute__((format(printf, 1, 2), noreturn)) void die(const char *fmt, ...);
void keys_read(const char *path, keys *k);
void derive(const keys *k, char kind, uint32_t device, uint32_t n, uint8_t *out,
            size_t outlen);
void user_name(uint32_t i, char out[32]);
void usage(void);
void parse(opts *o, int argc, char **argv);
long rss_kib(long pid);
long map_count(long pid);
double cpu_secs(long pid);
double tree_cpu_secs(long root);
double self_cpu_secs(void);
int cmd_setup(const opts *o);
int cmd_verify(const opts *o);

#endif
