/*
 * Fuzz target: applying changes that came off the wire. The input is one
 * wire message (fs_msg_decode, default limits). When it carries changes (a
 * PUSH or a CHANGES), they go, as the server and a device would take them,
 *   1. to the server's store as zhang's push (fs_store_push: scope, owner,
 *      schema, types, clock and replay checks, the feed and the audit log),
 *   2. to the manager li's device replica as a pulled batch
 *      (fs_apply_pulled: the per-column merge, conflict records, the cursor).
 *
 * Fixed parties: a store with a manager li and a rep zhang of team north and
 * a rep wang of team south; zhang's device enrolled (it also writes the
 * seeds), li's device. Clocks are fixed (every
 * party reads FUZZ_NOW) and so is randomness (det_random.h: the same
 * identities and row ids every time), so a seed stays valid. The store and replica are
 * made once and reused; every 2,048 inputs both pass their integrity checks
 * (fs_replica_check) and are made anew, so state cannot grow without bound.
 *
 * Traps on a broken promise: an error code the header does not name, a
 * push result whose accepted and refused changes do not add up to the batch,
 * a refusal pointing outside the batch or without a reason, a store or
 * replica that fails its integrity check.
 *
 * SEEDS: FS_FUZZ_APPLY_SEEDS=<dir> makes the first call write PUSH and
 * CHANGES messages recorded from zhang's real writes (a customer, a visit,
 * a commitment; an edit; another rep's customer) to <dir>
 * (tests/fuzz/corpus/apply/):  fuzz_apply_replay <any file>  with it set.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "det_random.h"
#include "fieldsync/error.h"
#include "fieldsync/identity.h"
#include "fieldsync/msg.h"
#include "fieldsync/replica.h"
#include "fieldsync/store.h"
#include "store/store_sqlite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW     1700000000000ull
#define REFRESH_EACH 2048

static uint64_t fixed_clock(void *ctx)
{
    (void)ctx;
    return FUZZ_NOW;
}

static char base[64];
static fs_store *store;
static fs_replica *device, *manager;
static uint8_t device_pk[FS_SIGN_PK_BYTES];
static unsigned long inputs;

static void die(const char *what, const char *why)
{
    fprintf(stderr, "fuzz_apply: %s: %s\n", what, why);
    abort();
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes the store and the replica from earlier inputs (not base itself). */
static void rm_tree(void)
{
    static const char *const parts[] = {"server", "zhang", "li"};
    char path[128];
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", base, parts[i]);
        if (access(path, F_OK) == 0 && nftw(path, remove_one, 8, FTW_DEPTH | FTW_PHYS) != 0)
            die("cannot clear", path);
    }
}

static void setup(void)
{
    char path[128];
    static det_stream stream;
    fs_replica_opts o = {.kdf = &fs_kdf_minimum, .clock_ms = fixed_clock};
    det_restart(&stream, 0xa9); /* the same identities and ids every time */
    rm_tree();
    snprintf(path, sizeof path, "%s/server", base);
    if (fs_store_create(&store, path, "server-pass", 11, &o) != 0)
        die("store", fs_store_errmsg(NULL));
    if (fs_store_user_add(store, "li", FS_ROLE_MANAGER, "north") != 0 ||
        fs_store_user_add(store, "zhang", FS_ROLE_REP, "north") != 0 ||
        fs_store_user_add(store, "wang", FS_ROLE_REP, "south") != 0)
        die("users", fs_store_errmsg(store));
    snprintf(path, sizeof path, "%s/zhang", base);
    if (fs_replica_create(&device, path, "pw", 2, &o) != 0)
        die("replica", fs_replica_errmsg(NULL));
    fs_identity *id = NULL;
    if (fs_replica_identity(device, &id) != 0)
        die("identity", fs_replica_errmsg(device));
    memcpy(device_pk, id->pk, sizeof device_pk);
    fs_identity_free(id);
    if (fs_store_device_add(store, device_pk, "zhang", "zhang-laptop") != 0)
        die("device", fs_store_errmsg(store));
    snprintf(path, sizeof path, "%s/li", base);
    if (fs_replica_create(&manager, path, "pw", 2, &o) != 0)
        die("replica", fs_replica_errmsg(NULL));
}

static void check_and_close(void)
{
    size_t problems = 0;
    if (fs_replica_check(fs_store_replica(store), &problems) != 0 || problems != 0)
        __builtin_trap(); /* the store's replica fails its integrity check */
    /* The manager's check may count problems: a feed can claim to carry the
     * manager device's own writes, which its log does not hold, and finding
     * that is what the check is for. It must still run to the end. */
    if (fs_replica_check(manager, &problems) != 0)
        __builtin_trap(); /* the manager's replica cannot be checked */
    fs_store_close(store);
    fs_replica_close(device);
    fs_replica_close(manager);
    store = NULL;
    device = manager = NULL;
}

static void at_exit(void)
{
    if (store != NULL)
        check_and_close();
    rm_tree();
    rmdir(base);
}

/* ---- seeds ---- */

/* Writes m as protocol version 1 encodes it (dir/name) and, when version 2
 * compresses its batch, that too (dir/z-name). */
static void write_seed(const char *dir, const char *name, const fs_msg *m)
{
    fs_buf b, z;
    char path[512];
    fs_buf_init(&b);
    fs_buf_init(&z);
    if (fs_msg_encode(m, &b) != 0 || fs_msg_encode_v(m, FS_PROTO_VERSION_ZBATCH, &z) != 0)
        die("seed", "cannot encode");
    for (int k = 0; k < 2; k++) {
        const fs_buf *e = k ? &z : &b;
        if (k == 1 && z.len == b.len && memcmp(z.data, b.data, b.len) == 0)
            break; /* not worth compressing: sent plain */
        snprintf(path, sizeof path, "%s/%s%s", dir, k ? "z-" : "", name);
        FILE *f = fopen(path, "wb");
        if (f == NULL || fwrite(e->data, 1, e->len, f) != e->len || fclose(f) != 0)
            die("seed", path);
    }
    fs_buf_free(&b);
    fs_buf_free(&z);
}

static void write_batch(const char *dir, const char *name, uint64_t after)
{
    fs_changeset *cs = NULL;
    char file[96];
    if (fs_changes_since(device, after, 1000, &cs) != 0)
        die("seed", fs_replica_errmsg(device));
    fs_msg m = {.type = FS_MSG_PUSH};
    m.u.push.first_seq = cs->first_seq;
    m.u.push.last_seq = cs->last_seq;
    m.u.push.changes = cs->changes;
    m.u.push.count = cs->count;
    snprintf(file, sizeof file, "push-%s", name);
    write_seed(dir, file, &m);
    fs_msg c = {.type = FS_MSG_CHANGES};
    c.u.changes.cursor = cs->last_seq;
    c.u.changes.more = 0;
    c.u.changes.changes = cs->changes;
    c.u.changes.count = cs->count;
    snprintf(file, sizeof file, "changes-%s", name);
    write_seed(dir, file, &c);
    fs_changeset_free(cs);
}

static void write_seeds(const char *dir)
{
    uint8_t cust[FS_ID_BYTES], other[FS_ID_BYTES], vid[FS_ID_BYTES], kid[FS_ID_BYTES];
    fs_cell c[] = {{"name", fs_text("XX科技有限公司")},
                   {"owner", fs_text("zhang")},
                   {"key_account", fs_int(1)}};
    if (fs_insert(device, "customer", c, 3, cust) != 0)
        die("seed", fs_replica_errmsg(device));
    fs_cell v[] = {{"customer", fs_blob(cust, 16)},
                   {"time", fs_text("2023-10-10 14:00")},
                   {"place", fs_text("客戶會議室")},
                   {"purpose", fs_text("follow up project XX")},
                   {"notes", fs_text("預算50-80萬")}};
    if (fs_insert(device, "visit", v, 5, vid) != 0)
        die("seed", fs_replica_errmsg(device));
    fs_cell k[] = {{"visit", fs_blob(vid, 16)},
                   {"customer", fs_blob(cust, 16)},
                   {"text", fs_text("send 3 success cases")},
                   {"due", fs_text("2023-10-12")}};
    if (fs_insert(device, "commitment", k, 4, kid) != 0)
        die("seed", fs_replica_errmsg(device));
    write_batch(dir, "records", 0);
    fs_replica_status st;
    if (fs_replica_status_get(device, &st) != 0)
        die("seed", fs_replica_errmsg(device));
    fs_cell e[] = {{"notes", fs_text("預算60萬")}};
    if (fs_update(device, "visit", vid, e, 1) != 0)
        die("seed", fs_replica_errmsg(device));
    write_batch(dir, "edit", st.last_seq);
    if (fs_replica_status_get(device, &st) != 0)
        die("seed", fs_replica_errmsg(device));
    fs_cell w[] = {{"name", fs_text("YY貿易")}, {"owner", fs_text("wang")}};
    if (fs_insert(device, "customer", w, 2, other) != 0)
        die("seed", fs_replica_errmsg(device));
    write_batch(dir, "other-scope", st.last_seq);
}

/* ---- the target ---- */

static int known_code(int rc)
{
    switch (rc) {
    case 0:
    case FS_EINVAL:
    case FS_ENOMEM:
    case FS_ESCHEMA:
    case FS_ETYPE:
    case FS_ECLOCK:
    case FS_ETOOBIG:
        return 1;
    default:
        return 0;
    }
}

static void apply(const fs_change *changes, size_t n, uint64_t first, uint64_t last,
                  uint64_t cursor)
{
    fs_push_result res;
    memset(&res, 0, sizeof res);
    int rc = fs_store_push(store, device_pk, first, last, changes, n, &res);
    if (!known_code(rc))
        __builtin_trap(); /* a code fs_store_push does not name */
    if (rc == 0 && !res.replayed && res.accepted + res.nrejects != n)
        __builtin_trap(); /* changes neither accepted nor refused */
    for (size_t i = 0; i < res.nrejects; i++)
        if (res.rejects[i].index >= n || res.rejects[i].reason == 0)
            __builtin_trap(); /* a refusal outside the batch or without a reason */
    free(res.rejects);

    fs_apply_stats stats;
    rc = fs_apply_pulled(manager, changes, n, cursor, &stats);
    if (!known_code(rc))
        __builtin_trap(); /* a code fs_apply_pulled does not name */
    if (rc == 0 && stats.applied + stats.ignored > n)
        __builtin_trap(); /* more changes counted than given */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (base[0] == 0) {
        snprintf(base, sizeof base, "/tmp/fuzz_apply.XXXXXX");
        if (mkdtemp(base) == NULL)
            die("mkdtemp", "cannot make a directory under /tmp");
        randombytes_set_implementation(&det_impl);
        atexit(at_exit);
    }
    if (store == NULL)
        setup();
    const char *seeds = getenv("FS_FUZZ_APPLY_SEEDS");
    if (seeds != NULL && inputs == 0) {
        write_seeds(seeds);
        check_and_close();
        setup();
    }
    fs_msg *m = NULL;
    char why[128];
    if (fs_msg_decode(data, size, &fs_proto_default_limits, &m, why, sizeof why) == 0) {
        if (m->type == FS_MSG_PUSH)
            apply(m->u.push.changes, m->u.push.count, m->u.push.first_seq, m->u.push.last_seq,
                  m->u.push.last_seq);
        else if (m->type == FS_MSG_CHANGES)
            apply(m->u.changes.changes, m->u.changes.count, 1,
                  m->u.changes.count ? m->u.changes.count : 1, m->u.changes.cursor);
        fs_msg_free(m);
    }
    if (++inputs % REFRESH_EACH == 0)
        check_and_close();
    return 0;
}
