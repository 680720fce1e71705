/*
 * Writes seed inputs for fuzz_replica_file into DIR: a closed replica, and one
 * left with a WAL by a writer that died without closing it. Passphrase "fuzz",
 * minimum KDF cost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fieldsync/replica.h"
#include "test.h"

static int write_some(const char *rdir, int n)
{
    fs_replica *r = NULL;
    if (fs_replica_open(&r, rdir, "fuzz", 4, NULL) != 0)
        return -1;
    for (int i = 0; i < n; i++) {
        uint8_t cid[16], vid[16];
        fs_cell c[] = {{"name", fs_text("華東客戶 Acme")}};
        fs_cell v[] = {{"customer", fs_blob(cid, 16)}, {"time", fs_text("2023-10-10 14:00")},
                       {"place", fs_text("會議室")},  {"purpose", fs_text("demo")},
                       {"notes", fs_text("budget 500k")}};
        if (fs_insert(r, "customer", c, 1, cid) != 0 || fs_insert(r, "visit", v, 5, vid) != 0)
            return -1;
    }
    return 0; /* deliberately not closed: the caller decides */
}

static int package(const char *rdir, const char *out)
{
    char p[1024];
    size_t nk, nd, nw;
    snprintf(p, sizeof p, "%s/replica.key", rdir);
    unsigned char *k = test_read_file(p, &nk);
    snprintf(p, sizeof p, "%s/replica.db", rdir);
    unsigned char *d = test_read_file(p, &nd);
    snprintf(p, sizeof p, "%s/replica.db-wal", rdir);
    unsigned char *w = test_read_file(p, &nw);
    FILE *f = fopen(out, "wb");
    if (k == NULL || d == NULL || f == NULL)
        return -1;
    unsigned char len[4] = {(unsigned char)nd, (unsigned char)(nd >> 8),
                            (unsigned char)(nd >> 16), (unsigned char)(nd >> 24)};
    fwrite(k, 1, nk, f);
    fwrite(len, 1, 4, f);
    fwrite(d, 1, nd, f);
    if (w != NULL)
        fwrite(w, 1, nw, f);
    fclose(f);
    free(k);
    free(d);
    free(w);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_mkseed DIR\n");
        return 2;
    }
    char tmp[] = "/tmp/fieldsync-seed-XXXXXX", rdir[64], out[1024];
    if (mkdtemp(tmp) == NULL)
        return 1;
    snprintf(rdir, sizeof rdir, "%s/r", tmp);
    fs_replica *r = NULL;
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    if (fs_replica_create(&r, rdir, "fuzz", 4, &o) != 0)
        return 1;
    fs_replica_close(r);
    pid_t pid = fork();
    if (pid == 0)
        _exit(write_some(rdir, 3) == 0 ? 0 : 1);
    int st;
    waitpid(pid, &st, 0);
    snprintf(out, sizeof out, "%s/with-wal", argv[1]);
    if (package(rdir, out) != 0)
        return 1;
    if (fs_replica_open(&r, rdir, "fuzz", 4, NULL) != 0) /* recovers and checkpoints */
        return 1;
    fs_replica_close(r);
    snprintf(out, sizeof out, "%s/closed", argv[1]);
    if (package(rdir, out) != 0)
        return 1;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    return system(cmd) == 0 ? 0 : 1;
}
