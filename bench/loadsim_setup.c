/*
 * loadsim's keys file, options, measurements of the server process, and
 * its setup and verify commands (the simulated devices: bench/loadsim.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <sodium.h>

#include "common.h"
#include "fieldsync/channel.h"
#include "fieldsync/error.h"
#include "fieldsync/identity.h"
#include "fieldsync/msg.h"
#include "fieldsync/schema.h"
#include "fieldsync/store.h"
#include "store/store_pg.h"
#include "store/store_sqlite.h"
#include "fieldsync/transport.h"
#include "visits.h"
#include "loadsim.h"

/* ---- the keys file: master seed, device count, team size, server key ---- */


void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, PROG ": ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static int keys_write(const char *path, const keys *k)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    uint8_t b[10 + 32 + 8 + 32];
    memcpy(b, KEYS_MAGIC, 10);
    memcpy(b + 10, k->master, 32);
    memcpy(b + 42, &k->devices, 4);
    memcpy(b + 46, &k->team_size, 4);
    memcpy(b + 50, k->server_pk, 32);
    ssize_t n = write(fd, b, sizeof b);
    sodium_memzero(b, sizeof b);
    return close(fd) != 0 || n != (ssize_t)sizeof b ? -1 : 0;
}

void keys_read(const char *path, keys *k)
{
    uint8_t b[10 + 32 + 8 + 32];
    FILE *f = fopen(path, "rb");
    if (f == NULL || fread(b, 1, sizeof b, f) != sizeof b || memcmp(b, KEYS_MAGIC, 10) != 0)
        die("--keys: %s is not a loadsim keys file (run setup first)", path);
    fclose(f);
    memcpy(k->master, b + 10, 32);
    memcpy(&k->devices, b + 42, 4);
    memcpy(&k->team_size, b + 46, 4);
    memcpy(k->server_pk, b + 50, 32);
    sodium_memzero(b, sizeof b);
}

/* A 16- or 32-byte value derived from the master seed: a device's identity
 * seed (kind 'd'), its customer's id ('c'), its k-th visit's id ('v'). */
void derive(const keys *k, char kind, uint32_t device, uint32_t n, uint8_t *out,
                   size_t outlen)
{
    uint8_t in[9];
    in[0] = (uint8_t)kind;
    memcpy(in + 1, &device, 4);
    memcpy(in + 5, &n, 4);
    crypto_generichash(out, outlen, in, sizeof in, k->master, sizeof k->master);
}

void user_name(uint32_t i, char out[32])
{
    snprintf(out, 32, "load%05u", i);
}

static void team_name(const keys *k, uint32_t i, char out[32])
{
    snprintf(out, 32, "loadteam%04u", i / k->team_size);
}

/* ---- options ---- */


void usage(void)
{
    fprintf(stderr,
            "usage: " PROG " setup  --data DIR --keys FILE --devices N [--team-size T]"
            " [--store URL]\n"
            "       " PROG " active --keys FILE --port P --server-pid PID --devices N\n"
            "                       [--seconds D] [--visits K] [--interval MS] [--out FILE]\n"
            "                       [--port P2 --server-pid PID2]... [--pg-pid PID]\n"
            "       " PROG " idle   --keys FILE --port P --server-pid PID --devices N"
            " [--hold S]\n"
            "                       [--port P2 --server-pid PID2]... [--pg-pid PID]\n"
            "       " PROG " verify --data DIR --keys FILE --results FILE\n");
    exit(2);
}

void parse(opts *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->team_size = 10;
    o->seconds = 60;
    o->visits = 2;
    o->interval_ms = 1000;
    o->hold = 5;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        size_t *num = NULL;
        const char **str = NULL;
        if (strcmp(a, "--data") == 0)
            str = &o->data;
        else if (strcmp(a, "--keys") == 0)
            str = &o->keys;
        else if (strcmp(a, "--out") == 0)
            str = &o->out;
        else if (strcmp(a, "--results") == 0)
            str = &o->results;
        else if (strcmp(a, "--devices") == 0)
            num = &o->devices;
        else if (strcmp(a, "--team-size") == 0)
            num = &o->team_size;
        else if (strcmp(a, "--seconds") == 0)
            num = &o->seconds;
        else if (strcmp(a, "--visits") == 0)
            num = &o->visits;
        else if (strcmp(a, "--interval") == 0)
            num = &o->interval_ms;
        else if (strcmp(a, "--hold") == 0)
            num = &o->hold;
        else if (strcmp(a, "--store") == 0)
            str = &o->store;
        else if (strcmp(a, "--port") == 0) {
            if (o->nports == MAX_NODES)
                die("--port: at most %d nodes", MAX_NODES);
            num = &o->ports[o->nports++];
        } else if (strcmp(a, "--server-pid") == 0 || strcmp(a, "--pg-pid") == 0) {
            size_t pid = 0;
            if (bench_parse_size(v, &pid) != 0 || pid == 0)
                die("%s: expected a process id", a);
            if (a[2] == 'p') {
                o->pg_pid = (long)pid;
            } else {
                if (o->npids == MAX_NODES)
                    die("--server-pid: at most %d nodes", MAX_NODES);
                o->pids[o->npids++] = (long)pid;
            }
            i++;
            continue;
        } else
            usage();
        if (v == NULL)
            die("%s: a value is missing", a);
        if (str != NULL)
            *str = v;
        else if (bench_parse_size(v, num) != 0)
            die("%s: expected a positive number", a);
        i++;
    }
    for (size_t k = 0; k < o->nports; k++)
        if (o->ports[k] == 0 || o->ports[k] > 65535)
            die("--port: expected a port from 1 to 65535");
    if (o->npids > 1 && o->npids != o->nports)
        die("--server-pid: one for each --port");
    o->port = o->nports > 0 ? o->ports[0] : 0;
    o->server_pid = o->npids > 0 ? o->pids[0] : 0;
    if (o->port > 65535 || o->devices > 100000 || o->visits > 90 || o->team_size > 100000)
        die("an option is out of range (port <= 65535, devices <= 100000, visits <= 90)");
}

/* ---- measurements of the server process ---- */

/* VmRSS of pid in KiB, or -1. */
long rss_kib(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

/* Memory mappings of pid (lines of /proc/PID/maps), or -1: guarded memory
 * (sodium_malloc) costs several per connection, and vm.max_map_count bounds
 * them. */
long map_count(long pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/maps", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long n = 0;
    int ch;
    while ((ch = getc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

/* CPU seconds (user + system) pid has used, or -1. */
double cpu_secs(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long ut = 0, st = 0;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds of root and its children now (user + system), and of the
 * children it has waited for: PostgreSQL's postmaster and its backends,
 * writers and autovacuum workers; -1 when root is gone. */
double tree_cpu_secs(long root)
{
    char path[300], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", root);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    long cut = 0, cst = 0;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %ld %ld", &cut,
               &cst) != 2)
        return -1;
    double total = cpu_secs(root) + (double)(cut + cst) / (double)sysconf(_SC_CLK_TCK);
    DIR *d = opendir("/proc");
    if (d == NULL)
        return total;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        f = fopen(path, "r");
        if (f == NULL)
            continue;
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        p = strrchr(buf, ')');
        long ppid = 0;
        if (p != NULL && sscanf(p + 2, "%*c %ld", &ppid) == 1 && ppid == root) {
            double c = cpu_secs(strtol(e->d_name, NULL, 10));
            if (c > 0)
                total += c;
        }
    }
    closedir(d);
    return total;
}

double self_cpu_secs(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- setup ---- */

int cmd_setup(const opts *o)
{
    if (o->data == NULL || o->keys == NULL || o->devices == 0)
        usage();
    const char *pass = getenv("FIELDSYNC_PASSPHRASE");
    if (pass == NULL || *pass == '\0')
        die("setup: set FIELDSYNC_PASSPHRASE (the store's passphrase)");
    keys k;
    randombytes_buf(k.master, sizeof k.master);
    k.devices = (uint32_t)o->devices;
    k.team_size = (uint32_t)o->team_size;
    double t0 = bench_now();
    fs_store *s = NULL;
    fs_identity *srv = NULL;
    /* On PostgreSQL every op is its own transaction in the log (the
     * wrapper's): no transaction around them all, as on SQLite. */
    int pg = o->store != NULL;
    int rc = pg ? fs_store_pg_create(&s, o->data, pass, strlen(pass), o->store, NULL)
                : fs_store_create(&s, o->data, pass, strlen(pass), NULL);
    if (rc != 0)
        die("setup: cannot create the store in %s: %s", o->data,
            pg ? fs_store_errmsg(NULL) : fs_replica_errmsg(NULL));
    rc = fs_replica_identity(fs_store_replica(s), &srv);
    if (rc == 0) {
        memcpy(k.server_pk, srv->pk, sizeof k.server_pk);
        if (!pg)
            rc = fs_begin(fs_store_replica(s));
    }
    for (uint32_t i = 0; rc == 0 && i < k.devices; i++) {
        char user[32], team[32];
        uint8_t seed[FS_SIGN_SEED_BYTES];
        fs_identity *id = NULL;
        user_name(i, user);
        team_name(&k, i, team);
        derive(&k, 'd', i, 0, seed, sizeof seed);
        rc = fs_identity_from_seed(&id, seed);
        sodium_memzero(seed, sizeof seed);
        if (rc == 0)
            rc = fs_store_user_add(s, user, i % k.team_size == 0 ? FS_ROLE_MANAGER : FS_ROLE_REP,
                                   team);
        if (rc == 0)
            rc = fs_store_device_add(s, id->pk, user, "loadsim");
        fs_identity_free(id);
    }
    if (rc == 0 && !pg)
        rc = fs_commit(fs_store_replica(s));
    if (rc != 0)
        fprintf(stderr, PROG ": setup: %s: %s\n", fs_strerror(rc), fs_store_errmsg(s));
    fs_identity_free(srv);
    fs_store_close(s);
    if (rc == 0 && keys_write(o->keys, &k) != 0)
        die("setup: cannot write %s: %s", o->keys, strerror(errno));
    sodium_memzero(&k, sizeof k);
    if (rc != 0)
        return 1;
    printf("setup: %zu devices (teams of %zu, one manager each) enrolled in %.1f s\n", o->devices,
           o->team_size, bench_now() - t0);
    return 0;
}

/* ---- verify ---- */

int cmd_verify(const opts *o)
{
    if (o->data == NULL || o->keys == NULL || o->results == NULL)
        usage();
    const char *pass = getenv("FIELDSYNC_PASSPHRASE");
    if (pass == NULL || *pass == '\0')
        die("verify: set FIELDSYNC_PASSPHRASE (the store's passphrase)");
    keys k;
    keys_read(o->keys, &k);
    FILE *f = fopen(o->results, "r");
    if (f == NULL)
        die("--results: cannot read %s", o->results);
    fs_store *s = NULL;
    /* a node of the PostgreSQL store keeps its URL in DIR/store: opened
     * through the log, it catches up with every node's writes */
    char url_file[4096];
    snprintf(url_file, sizeof url_file, "%s/store", o->data);
    int pg = access(url_file, F_OK) == 0;
    if ((pg ? fs_store_pg_open(&s, o->data, pass, strlen(pass), NULL, NULL)
            : fs_store_open(&s, o->data, pass, strlen(pass), NULL)) != 0)
        die("verify: cannot open the store: %s",
            pg ? fs_store_errmsg(NULL) : fs_replica_errmsg(NULL));
    if (pg && fs_store_refresh(s) != 0)
        die("verify: cannot catch up with the log: %s", fs_store_errmsg(s));
    fs_replica *r = fs_store_replica(s);
    unsigned idx, acked;
    int cust;
    uint64_t expected = 0, lost = 0, customers = 0, errors = 0;
    while (fscanf(f, "%u %u %d", &idx, &acked, &cust) == 3) {
        uint8_t id[FS_ID_BYTES];
        if (cust) {
            customers++;
            derive(&k, 'c', idx, 0, id, sizeof id);
            int e = fs_exists(r, "customer", id);
            lost += e == 0;
            errors += e < 0;
        }
        for (uint32_t v = 0; v < acked; v++) {
            derive(&k, 'v', idx, v, id, sizeof id);
            int e = fs_exists(r, "visit", id);
            lost += e == 0;
            errors += e < 0;
        }
        expected += acked;
    }
    fclose(f);
    uint64_t stored = 0;
    fs_rows *it = NULL;
    if (fs_rows_open(&it, r, "visit", NULL, NULL, NULL) == 0) {
        int rc;
        while ((rc = fs_rows_next(it)) == 1)
            stored++;
        errors += rc < 0;
        fs_rows_close(it);
    } else {
        errors++;
    }
    fs_store_close(s);
    sodium_memzero(&k, sizeof k);
    uint64_t extra = stored > expected ? stored - expected : 0;
    char c1[32], c2[32];
    printf("verify: %s acknowledged visits (and %llu customers) looked up in the store: %llu "
           "lost; %s visits stored, %llu not acknowledged\n",
           bench_fmt_count(c1, sizeof c1, (double)expected), (unsigned long long)customers,
           (unsigned long long)lost, bench_fmt_count(c2, sizeof c2, (double)stored),
           (unsigned long long)extra);
    printf(PROG ": {\"mode\":\"verify\",\"visits_acked\":%llu,\"visits_stored\":%llu,"
                "\"lost\":%llu,\"unacked_stored\":%llu,\"errors\":%llu}\n",
           (unsigned long long)expected, (unsigned long long)stored, (unsigned long long)lost,
           (unsigned long long)extra, (unsigned long long)errors);
    return lost > 0 || errors > 0 || expected == 0 ? 1 : 0;
}

