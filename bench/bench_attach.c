/*
 * bench_attach: attachment throughput (issue 19.3) against the channel's
 * raw sealed throughput, in the same run.
 *
 *   sealed      256 KiB frames through libsodium's secretstream alone
 *               (push + pull, XChaCha20-Poly1305): what any sealed channel
 *               costs per byte at the least
 *   channel     ATT_CHUNK messages of 256 KiB through two handshaken
 *               fs_channel objects (encode, seal, open, decode), no store
 *   upload      a rep's file, attached in its replica, synced into the
 *               server's store (sessions in one process, frames handed
 *               over in memory: no network): the chunks read from the
 *               encrypted replica, sent, stored in the encrypted store,
 *               the whole file hashed there
 *   download    the same file fetched by the manager's replica from the
 *               store, stored and checked against its hash
 *
 *   bench_attach [--mib N] [--runs R] [--quick]
 * Prints MiB/s per stage (median of R runs) and each as a fraction of the
 * sealed figure. --quick: 2 MiB, 1 run (a smoke test).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common.h"
#include "fieldsync/attach.h"
#include "fieldsync/channel.h"
#include "fieldsync/error.h"
#include "fieldsync/identity.h"
#include "fieldsync/keyfile.h"
#include "fieldsync/msg.h"
#include "fieldsync/store.h"
#include "fieldsync/sync.h"
#include "store/store_sqlite.h"
#include "test.h"

#define QSIZE 64
typedef struct queue {
    fs_buf frames[QSIZE];
    size_t head, tail;
} queue;

static int enqueue(void *ctx, const uint8_t *frame, size_t len)
{
    queue *q = ctx;
    if (q->tail - q->head >= QSIZE)
        return FS_ENOMEM;
    fs_buf *b = &q->frames[q->tail++ % QSIZE];
    fs_buf_init(b);
    return fs_buf_append(b, frame, len);
}

static void drain(queue *q)
{
    while (q->head < q->tail)
        fs_buf_free(&q->frames[q->head++ % QSIZE]);
}

/* One sync session of d's replica with the store, frames in memory. */
static void sync_once(fs_store *store, const fs_identity *sid, fs_replica *r,
                      fs_sync_att_stats *att)
{
    queue up, down;
    memset(&up, 0, sizeof up);
    memset(&down, 0, sizeof down);
    fs_sync_client *c = NULL;
    fs_sync_server *s = NULL;
    CHECK_OK(fs_sync_client_new(&c, r, sid->pk, NULL, enqueue, &up));
    CHECK_OK(fs_sync_server_new(&s, store, sid, enqueue, &down));
    int rc = fs_sync_client_start(c);
    while (rc == 0 && !fs_sync_client_in_sync(c) && (up.head < up.tail || down.head < down.tail)) {
        if (up.head < up.tail) {
            fs_buf *b = &up.frames[up.head++ % QSIZE];
            rc = fs_sync_server_receive(s, b->data, b->len);
            fs_buf_free(b);
        } else {
            fs_buf *b = &down.frames[down.head++ % QSIZE];
            rc = fs_sync_client_receive(c, b->data, b->len);
            fs_buf_free(b);
        }
    }
    if (rc != 0)
        FAIL("sync: %s / %s", fs_sync_client_errmsg(c), fs_sync_server_errmsg(s));
    CHECK(fs_sync_client_in_sync(c));
    fs_sync_client_att_stats(c, att);
    drain(&up);
    drain(&down);
    fs_sync_client_free(c);
    fs_sync_server_free(s);
}

/* secretstream alone over n bytes in 256 KiB frames: seconds. */
static double sealed(const uint8_t *data, size_t n)
{
    uint8_t key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
    uint8_t hdr[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
    crypto_secretstream_xchacha20poly1305_state tx, rx;
    crypto_secretstream_xchacha20poly1305_keygen(key);
    uint8_t *c = malloc(FS_ATTACH_CHUNK + crypto_secretstream_xchacha20poly1305_ABYTES);
    uint8_t *p = malloc(FS_ATTACH_CHUNK);
    CHECK(c != NULL && p != NULL);
    double t0 = bench_now();
    crypto_secretstream_xchacha20poly1305_init_push(&tx, hdr, key);
    crypto_secretstream_xchacha20poly1305_init_pull(&rx, hdr, key);
    for (size_t off = 0; off < n; off += FS_ATTACH_CHUNK) {
        size_t len = n - off < FS_ATTACH_CHUNK ? n - off : FS_ATTACH_CHUNK;
        unsigned long long clen, plen;
        crypto_secretstream_xchacha20poly1305_push(&tx, c, &clen, data + off, len, NULL, 0, 0);
        CHECK(crypto_secretstream_xchacha20poly1305_pull(&rx, p, &plen, NULL, c, clen, NULL, 0) ==
              0);
    }
    double t = bench_now() - t0;
    free(c);
    free(p);
    return t;
}

static int accept_device(void *ctx, const uint8_t pk[FS_SIGN_PK_BYTES])
{
    (void)ctx;
    (void)pk;
    return 0;
}

/* ATT_CHUNK messages through two fs_channel objects: seconds. */
static double channel(const uint8_t *data, size_t n)
{
    fs_identity *cid = NULL, *sid = NULL;
    CHECK_OK(fs_identity_generate(&cid));
    CHECK_OK(fs_identity_generate(&sid));
    fs_channel_config cc, sc;
    memset(&cc, 0, sizeof cc);
    memset(&sc, 0, sizeof sc);
    cc.self = cid;
    cc.pinned_server_pk = sid->pk;
    sc.self = sid;
    sc.is_server = 1;
    sc.check_device = accept_device;
    fs_channel *c = NULL, *s = NULL;
    CHECK_OK(fs_channel_new(&c, &cc));
    CHECK_OK(fs_channel_new(&s, &sc));
    fs_buf a, b;
    fs_buf_init(&a);
    fs_buf_init(&b);
    fs_msg *m = NULL;
    /* the handshake: HELLO, WELCOME, AUTH, READY */
    CHECK_OK(fs_channel_start(c, &a));
    for (int i = 0; i < 4; i++) {
        fs_channel *to = i % 2 == 0 ? s : c;
        fs_buf *in = i % 2 == 0 ? &a : &b, *out = i % 2 == 0 ? &b : &a;
        fs_buf_reset(out);
        CHECK_OK(fs_channel_receive(to, in->data, in->len, out, &m));
        fs_msg_free(m);
        m = NULL;
    }
    CHECK(fs_channel_version(c) >= FS_PROTO_VERSION_ATTACH);
    fs_msg k;
    memset(&k, 0, sizeof k);
    k.type = FS_MSG_ATT_CHUNK;
    double t0 = bench_now();
    uint32_t idx = 0;
    for (size_t off = 0; off < n; off += FS_ATTACH_CHUNK, idx++) {
        k.u.att.index = idx % FS_ATTACH_MAX_CHUNKS;
        k.u.att.data = data + off;
        k.u.att.len = n - off < FS_ATTACH_CHUNK ? n - off : FS_ATTACH_CHUNK;
        fs_buf_reset(&a);
        fs_buf_reset(&b);
        CHECK_OK(fs_channel_send(c, &k, &a));
        CHECK_OK(fs_channel_receive(s, a.data, a.len, &b, &m));
        CHECK(m != NULL && m->type == FS_MSG_ATT_CHUNK && m->u.att.len == k.u.att.len);
        fs_msg_free(m);
        m = NULL;
    }
    double t = bench_now() - t0;
    fs_buf_free(&a);
    fs_buf_free(&b);
    fs_channel_free(c);
    fs_channel_free(s);
    fs_identity_free(cid);
    fs_identity_free(sid);
    return t;
}

/* A rep's file up to the store, and down to the manager's replica:
 * seconds of each session (the attach itself is not timed). */
static void sync_run(const uint8_t *data, size_t n, double *up, double *down)
{
    char *dir = test_tmpdir(), path[600];
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    fs_store *store = NULL;
    fs_identity *sid = NULL;
    snprintf(path, sizeof path, "%s/server", dir);
    CHECK_OK(fs_store_create(&store, path, "pw", 2, &o));
    CHECK_OK(fs_identity_generate(&sid));
    CHECK_OK(fs_store_user_add(store, "li", FS_ROLE_MANAGER, "north"));
    CHECK_OK(fs_store_user_add(store, "zhang", FS_ROLE_REP, "north"));
    fs_replica *rz = NULL, *rl = NULL;
    const char *names[2] = {"zhang", "li"};
    fs_replica **rs[2] = {&rz, &rl};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        CHECK_OK(fs_replica_create(rs[i], path, "pw", 2, &o));
        fs_identity *id = NULL;
        CHECK_OK(fs_replica_identity(*rs[i], &id));
        CHECK_OK(fs_store_device_add(store, id->pk, names[i], "laptop"));
        fs_identity_free(id);
    }
    fs_sync_att_stats att;
    uint8_t cust[16], aid[16], hash[FS_ATTACH_HASH];
    fs_cell c[] = {{"name", fs_text("Bench Trading")}, {"owner", fs_text("zhang")}};
    CHECK_OK(fs_insert(rz, "customer", c, 2, cust));
    sync_once(store, sid, rz, &att); /* the customer first: not timed */
    sync_once(store, sid, rl, &att);
    snprintf(path, sizeof path, "%s/file.bin", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && write(fd, data, n) == (ssize_t)n);
    CHECK_OK(fs_attach_file(rz, fd, n, "file.bin", "contract", NULL, "customer", cust, cust, NULL,
                            aid, hash));
    close(fd);
    unlink(path);
    double t0 = bench_now();
    sync_once(store, sid, rz, &att);
    *up = bench_now() - t0;
    CHECK_EQ_INT(att.sent_bytes, n);
    t0 = bench_now();
    sync_once(store, sid, rl, &att);
    *down = bench_now() - t0;
    CHECK_EQ_INT(att.recv_bytes, n);
    int ok = 0;
    CHECK_OK(fs_attach_verify(rl, hash, n, &ok));
    CHECK_EQ_INT(ok, 1);
    size_t problems = 9;
    CHECK_OK(fs_replica_check(rl, &problems));
    CHECK_EQ_INT(problems, 0);
    fs_replica_close(rz);
    fs_replica_close(rl);
    fs_store_close(store);
    fs_identity_free(sid);
    test_rmtree(dir);
}

int main(int argc, char **argv)
{
    size_t mib = 20, runs = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            mib = 2;
            runs = 1;
        } else if (strcmp(argv[i], "--mib") == 0 && i + 1 < argc &&
                   bench_parse_size(argv[++i], &mib) == 0 && mib > 0 && mib <= 64) {
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc &&
                   bench_parse_size(argv[++i], &runs) == 0 && runs > 0 && runs <= 64) {
        } else {
            fprintf(stderr, "usage: bench_attach [--mib N (1..64)] [--runs R] [--quick]\n");
            return 2;
        }
    }
    if (sodium_init() < 0)
        return 1;
    size_t n = mib << 20;
    if (n > FS_ATTACH_MAX_BYTES)
        n = FS_ATTACH_MAX_BYTES;
    uint8_t *data = malloc(n);
    CHECK(data != NULL);
    randombytes_buf(data, n);
    double ts[64], tc[64], tu[64], td[64];
    for (size_t r = 0; r < runs; r++) {
        ts[r] = sealed(data, n);
        tc[r] = channel(data, n);
        sync_run(data, n, &tu[r], &td[r]);
    }
    char cpu[128];
    bench_cpu_model(cpu, sizeof cpu);
    double mb = (double)n / (1024.0 * 1024.0);
    double s = mb / bench_median(ts, runs), c = mb / bench_median(tc, runs),
           u = mb / bench_median(tu, runs), d = mb / bench_median(td, runs);
    printf("bench_attach %s (%s), %s; a %.0f MiB file, median of %zu runs\n", FS_BENCH_VERSION,
           FS_BENCH_BUILD_TYPE, cpu, mb, runs);
    printf("  %-44s %8.1f MiB/s\n", "sealed (secretstream alone, 256 KiB frames)", s);
    printf("  %-44s %8.1f MiB/s  %.2f of sealed\n", "channel (ATT_CHUNK through fs_channel)", c,
           c / s);
    printf("  %-44s %8.1f MiB/s  %.2f of sealed\n", "upload (replica -> sync -> store)", u, u / s);
    printf("  %-44s %8.1f MiB/s  %.2f of sealed\n", "download (store -> sync -> replica)", d,
           d / s);
    free(data);
    return 0;
}
