/*
 * Fuzz target: the secure channel state machine (proto/channel.c) fed frames
 * by a peer.
 *
 * INPUT: a sequence of frames, each a 2-byte little-endian length then that
 * many bytes (a length past the end takes what is left). The frames go, in
 * order, to a fresh SERVER channel; then, in a second pass, to a fresh
 * CLIENT channel after fs_channel_start. Each channel keeps receiving after
 * it closed (every further call must be FS_ECLOSED), then is finished and
 * freed.
 *
 * Fixed parties: identities from fixed seeds; the server knows one device,
 * refuses a second as revoked and enrolls with the code "FUZZ-2941".
 *
 * DETERMINISM: the harness installs its own randombytes implementation, a
 * ChaCha20 stream per party that restarts at every input. The server of pass
 * 1 and the client of pass 2 therefore draw the same ephemeral keys and
 * stream headers every time, so frames recorded from a real session stay
 * valid on replay and the fuzzer gets past the handshake into the open
 * session (where it can replay, drop, reorder and repeat whole frames; edits
 * inside sealed frames only exercise the rejection path, as they should).
 * This is a test harness only: nothing of it reaches the library.
 *
 * SEEDS: FS_FUZZ_HANDSHAKE_SEEDS=<dir> makes the first call write recorded
 * sessions to <dir> (tests/fuzz/corpus/handshake/):
 *   fuzz_handshake_replay <any file>   with the variable set.
 * They must be rewritten when the handshake or the order in which the
 * channel draws random bytes changes; stale seeds still run, they only stop
 * early. The v2-* seeds are sessions of protocol version 2 (offered 1..2);
 * the others were recorded when the client offered 1..1, and stay as the
 * sessions an older client opens.
 *
 * Traps (crashes) on a broken promise of channel.h: an error that leaves the
 * channel open or without a reason, a closed channel that answers anything
 * but FS_ECLOSED, a server open with a device it does not know, a client
 * open with a server it did not pin.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "det_random.h"
#include "fieldsync/channel.h"
#include "fieldsync/error.h"
#include "fieldsync/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FRAMES  64
#define ENROLL_CODE "FUZZ-2941"
#define SERVER_TIME 1700000000000ull

/* ---- deterministic randomness ---------------------------------------------------- */

/* ---- the parties ------------------------------------------------------------------ */

static fs_identity *server_id, *device_id, *revoked_id;

typedef struct registry {
    int enrolled;
    uint8_t enrolled_pk[FS_SIGN_PK_BYTES];
} registry;

static int check_device(void *ctx, const uint8_t pk[FS_SIGN_PK_BYTES])
{
    (void)ctx;
    if (memcmp(pk, device_id->pk, FS_SIGN_PK_BYTES) == 0)
        return 0;
    if (memcmp(pk, revoked_id->pk, FS_SIGN_PK_BYTES) == 0)
        return FS_EREVOKED;
    return FS_ENOTFOUND;
}

static int enroll_device(void *ctx, const fs_enroll_request *req)
{
    registry *reg = ctx;
    if (memchr(req->code, '\0', sizeof req->code) == NULL)
        __builtin_trap(); /* the callback must get a NUL-terminated code */
    if (strcmp(req->code, ENROLL_CODE) != 0)
        return FS_ENOTFOUND;
    reg->enrolled = 1;
    memcpy(reg->enrolled_pk, req->device_pk, FS_SIGN_PK_BYTES);
    return 0;
}

static fs_identity *identity(uint8_t tag)
{
    uint8_t seed[32];
    fs_identity *id = NULL;
    memset(seed, tag, sizeof seed);
    if (fs_identity_from_seed(&id, seed) != 0)
        abort();
    return id;
}

static void server_config(fs_channel_config *cfg, registry *reg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->is_server = 1;
    cfg->self = server_id;
    cfg->check_device = check_device;
    cfg->enroll_device = enroll_device;
    cfg->ctx = reg;
    cfg->server_time_ms = SERVER_TIME;
    cfg->lease_expires_ms = SERVER_TIME + 86400000ull;
}

static void client_config(fs_channel_config *cfg, const fs_identity *self,
                          const fs_enroll_request *enroll)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->self = self;
    cfg->pinned_server_pk = server_id->pk;
    cfg->enroll = enroll;
}

/* ---- one pass ---------------------------------------------------------------------- */

typedef struct frame {
    const uint8_t *p;
    size_t n;
} frame;

static int verbose; /* FS_FUZZ_HANDSHAKE_VERBOSE: one line per frame on stderr */

/* Feeds one frame and checks what channel.h promises. */
static void receive_checked(fs_channel *ch, const frame *f, fs_buf *out)
{
    fs_msg *m = NULL;
    fs_channel_state before = fs_channel_state_get(ch);
    fs_buf_reset(out);
    int rc = fs_channel_receive(ch, f->p, f->n, out, &m);
    int got_msg = m != NULL;
    if (verbose)
        fprintf(stderr, "  %s %zu bytes -> %s, msg %d, state %d, reason %u, reply %zu\n", "frame",
                f->n, rc ? fs_errname(rc) : "0", m ? (int)m->type : 0,
                (int)fs_channel_state_get(ch), fs_channel_reason(ch), out->len);
    fs_msg_free(m);
    if (before == FS_CHANNEL_CLOSED && (rc != FS_ECLOSED || got_msg || out->len != 0))
        __builtin_trap(); /* a closed channel did something */
    if (rc < 0 && fs_channel_state_get(ch) != FS_CHANNEL_CLOSED)
        __builtin_trap(); /* an error left the session going */
    if (rc < 0 && before != FS_CHANNEL_CLOSED && rc != FS_ECLOSED && fs_channel_reason(ch) == 0)
        __builtin_trap(); /* it ended without a reason */
    const char *why = fs_channel_errmsg(ch);
    if (why == NULL)
        __builtin_trap();
}

static size_t split(const uint8_t *data, size_t size, frame *frames)
{
    size_t n = 0, off = 0;
    while (off + 2 <= size && n < MAX_FRAMES) {
        size_t len = (size_t)data[off] | (size_t)data[off + 1] << 8;
        off += 2;
        if (len > size - off)
            len = size - off;
        frames[n].p = data + off;
        frames[n].n = len;
        n++;
        off += len;
    }
    return n;
}

static det_stream server_stream, client_stream;

static void server_pass(const frame *frames, size_t n, fs_buf *out)
{
    fs_channel_config cfg;
    registry reg;
    fs_channel *s = NULL;
    memset(&reg, 0, sizeof reg);
    det_restart(&server_stream, 0x5e);
    server_config(&cfg, &reg);
    if (fs_channel_new(&s, &cfg) != 0)
        abort();
    for (size_t i = 0; i < n; i++) {
        receive_checked(s, &frames[i], out);
        if (fs_channel_state_get(s) == FS_CHANNEL_OPEN) {
            const uint8_t *peer = fs_channel_peer(s);
            if (peer == NULL)
                __builtin_trap();
            if (memcmp(peer, device_id->pk, FS_SIGN_PK_BYTES) != 0 &&
                !(reg.enrolled && memcmp(peer, reg.enrolled_pk, FS_SIGN_PK_BYTES) == 0))
                __builtin_trap(); /* open with a device it neither knows nor enrolled */
            if (fs_channel_version(s) < FS_PROTO_VERSION_MIN ||
                fs_channel_version(s) > FS_PROTO_VERSION)
                __builtin_trap(); /* the recorded hellos offer 1..1, new ones 1..2 */
        }
    }
    fs_buf_reset(out);
    if (fs_channel_state_get(s) == FS_CHANNEL_OPEN && fs_channel_bye(s, out) != 0)
        __builtin_trap();
    (void)fs_channel_finish(s);
    fs_channel_free(s);
}

static void client_pass(const frame *frames, size_t n, fs_buf *out)
{
    fs_channel_config cfg;
    fs_channel *c = NULL;
    det_restart(&client_stream, 0xc1);
    client_config(&cfg, device_id, NULL);
    if (fs_channel_new(&c, &cfg) != 0)
        abort();
    fs_buf_reset(out);
    if (fs_channel_start(c, out) != 0)
        abort();
    for (size_t i = 0; i < n; i++) {
        receive_checked(c, &frames[i], out);
        if (fs_channel_state_get(c) == FS_CHANNEL_OPEN) {
            const uint8_t *peer = fs_channel_peer(c);
            if (peer != NULL && memcmp(peer, server_id->pk, FS_SIGN_PK_BYTES) != 0)
                __builtin_trap(); /* open with a server it did not pin */
        }
    }
    fs_buf_reset(out);
    if (fs_channel_state_get(c) == FS_CHANNEL_OPEN && fs_channel_bye(c, out) != 0)
        __builtin_trap();
    (void)fs_channel_finish(c);
    fs_channel_free(c);
}

/* ---- seeds: real sessions, recorded ------------------------------------------------- */

typedef struct recording {
    fs_buf c2s, s2c; /* length-prefixed frames, as the input format wants */
} recording;

static void record(fs_buf *to, const fs_buf *frame_buf)
{
    uint8_t len[2] = {(uint8_t)frame_buf->len, (uint8_t)(frame_buf->len >> 8)};
    if (frame_buf->len > 0xffff || fs_buf_append(to, len, 2) != 0 ||
        fs_buf_append(to, frame_buf->data, frame_buf->len) != 0)
        abort();
}

/* Server and client calls each run on their party's stream, restarted as the
 * passes restart them, so the server and client see what they will see on
 * replay. */
static int srv_recv(fs_channel *s, const fs_buf *in, fs_buf *out, recording *rec)
{
    fs_msg *m = NULL;
    current = &server_stream;
    record(&rec->c2s, in);
    fs_buf_reset(out);
    int rc = fs_channel_receive(s, in->data, in->len, out, &m);
    fs_msg_free(m);
    return rc;
}

static int cli_recv(fs_channel *c, const fs_buf *in, fs_buf *out, recording *rec)
{
    fs_msg *m = NULL;
    current = &client_stream;
    record(&rec->s2c, in);
    fs_buf_reset(out);
    int rc = fs_channel_receive(c, in->data, in->len, out, &m);
    fs_msg_free(m);
    return rc;
}

static void write_seed(const char *dir, const char *name, const fs_buf *b)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(b->data, 1, b->len, f) != b->len || fclose(f) != 0) {
        fprintf(stderr, "fuzz_handshake: cannot write %s\n", path);
        abort();
    }
    printf("fuzz_handshake: wrote %s (%zu bytes)\n", path, b->len);
}

enum scenario { SESSION, ENROLL, REVOKED, UNKNOWN };

/* Runs one recorded session; writes <name>-c2s and <name>-s2c. */
static void record_session(const char *dir, const char *name, enum scenario sc)
{
    static const uint8_t row[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    static const uint8_t dev[16] = {0xde, 0xde, 0xde, 0xde, 0xde, 0xde, 0xde, 0xde,
                                    0xde, 0xde, 0xde, 0xde, 0xde, 0xde, 0xde, 0xde};
    fs_identity *other = sc == UNKNOWN ? identity(0x99) : NULL;
    const fs_identity *self = sc == REVOKED ? revoked_id : sc == UNKNOWN ? other : device_id;
    fs_enroll_request req;
    fs_channel_config ccfg, scfg;
    registry reg;
    fs_channel *c = NULL, *s = NULL;
    fs_buf a, b, f;
    recording rec;
    char file[256];

    memset(&req, 0, sizeof req);
    snprintf(req.code, sizeof req.code, "%s", ENROLL_CODE);
    memcpy(req.device_pk, device_id->pk, FS_SIGN_PK_BYTES);
    snprintf(req.device_name, sizeof req.device_name, "%s", "fuzz laptop 笔记本");
    memset(&reg, 0, sizeof reg);
    fs_buf_init(&a);
    fs_buf_init(&b);
    fs_buf_init(&f);
    fs_buf_init(&rec.c2s);
    fs_buf_init(&rec.s2c);

    det_restart(&server_stream, 0x5e);
    server_config(&scfg, &reg);
    if (fs_channel_new(&s, &scfg) != 0)
        abort();
    det_restart(&client_stream, 0xc1);
    client_config(&ccfg, self, sc == ENROLL ? &req : NULL);
    if (fs_channel_new(&c, &ccfg) != 0 || fs_channel_start(c, &a) != 0)
        abort();
    if (srv_recv(s, &a, &b, &rec) != 0 || cli_recv(c, &b, &a, &rec) != 0)
        abort();
    int rc = srv_recv(s, &a, &b, &rec);
    if ((rc == 0) != (sc == SESSION || sc == ENROLL) || b.len == 0)
        abort();
    cli_recv(c, &b, &a, &rec); /* READY, or WIPE / ERROR */

    if (sc == SESSION) {
        fs_change ch[3];
        memset(ch, 0, sizeof ch);
        for (int i = 0; i < 3; i++) {
            ch[i].table = 2;
            ch[i].column = (uint16_t)(2 + i);
            memcpy(ch[i].row, row, 16);
            ch[i].version.hlc = (1700000000000ull << 16) | (uint64_t)i;
            memcpy(ch[i].version.device, dev, 16);
        }
        ch[0].value = fs_text("王经理 / David Wang");
        ch[1].value = fs_int(-7);
        ch[2].value = fs_blob(row, 16);
        ch[2].prev.hlc = 1700000000000ull << 16;
        memcpy(ch[2].prev.device, dev, 16);
        fs_msg m;
        /* Client to server: PUSH, PULL, BYE. */
        memset(&m, 0, sizeof m);
        m.type = FS_MSG_PUSH;
        m.u.push.first_seq = 1;
        m.u.push.last_seq = 3;
        m.u.push.changes = ch;
        m.u.push.count = 3;
        current = &client_stream;
        fs_buf_reset(&f);
        if (fs_channel_send(c, &m, &f) != 0 || srv_recv(s, &f, &b, &rec) != 0)
            abort();
        memset(&m, 0, sizeof m);
        m.type = FS_MSG_PULL;
        m.u.pull.max = 500;
        fs_buf_reset(&f);
        current = &client_stream;
        if (fs_channel_send(c, &m, &f) != 0 || srv_recv(s, &f, &b, &rec) != 0)
            abort();
        /* Server to client: ACK, CHANGES, POKE, REJECT, PURGE, BYE. */
        fs_msg down[5];
        fs_reject_item rej = {2, 3, {0}, 5, FS_REASON_SCOPE, "no", 2};
        fs_purge_item purge = {2, {0}};
        memset(down, 0, sizeof down);
        down[0].type = FS_MSG_ACK;
        down[0].u.ack.upto_seq = 3;
        down[1].type = FS_MSG_CHANGES;
        down[1].u.changes.cursor = 9;
        down[1].u.changes.more = 1;
        down[1].u.changes.changes = ch;
        down[1].u.changes.count = 3;
        down[2].type = FS_MSG_POKE;
        down[2].u.poke.cursor = 10;
        down[3].type = FS_MSG_REJECT;
        down[3].u.reject.items = &rej;
        down[3].u.reject.count = 1;
        down[4].type = FS_MSG_PURGE;
        down[4].u.purge.items = &purge;
        down[4].u.purge.count = 1;
        for (int i = 0; i < 5; i++) {
            fs_buf_reset(&f);
            current = &server_stream;
            if (fs_channel_send(s, &down[i], &f) != 0 || cli_recv(c, &f, &b, &rec) != 0)
                abort();
        }
        /* Each side's BYE, recorded but not delivered: the other side must
         * stay open to send its own. */
        fs_buf_reset(&f);
        current = &client_stream;
        if (fs_channel_bye(c, &f) != 0)
            abort();
        record(&rec.c2s, &f);
        fs_buf_reset(&f);
        current = &server_stream;
        if (fs_channel_bye(s, &f) != 0)
            abort();
        record(&rec.s2c, &f);
    }
    snprintf(file, sizeof file, "%s-c2s", name);
    write_seed(dir, file, &rec.c2s);
    snprintf(file, sizeof file, "%s-s2c", name);
    write_seed(dir, file, &rec.s2c);
    fs_channel_free(c);
    fs_channel_free(s);
    fs_identity_free(other);
    fs_buf_free(&a);
    fs_buf_free(&b);
    fs_buf_free(&f);
    fs_buf_free(&rec.c2s);
    fs_buf_free(&rec.s2c);
}

static void write_seeds(const char *dir)
{
    record_session(dir, "session", SESSION);
    record_session(dir, "enroll", ENROLL);
    record_session(dir, "revoked", REVOKED);
    record_session(dir, "unknown", UNKNOWN);
}

/* ---- entry ------------------------------------------------------------------------- */

static void init_once(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    /* Before sodium_init, so that libsodium never uses another source. */
    randombytes_set_implementation(&det_impl);
    if (sodium_init() < 0)
        abort();
    server_id = identity(0x51);
    device_id = identity(0xd1);
    revoked_id = identity(0x77);
    verbose = getenv("FS_FUZZ_HANDSHAKE_VERBOSE") != NULL;
    const char *dir = getenv("FS_FUZZ_HANDSHAKE_SEEDS");
    if (dir != NULL && *dir != '\0')
        write_seeds(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    frame frames[MAX_FRAMES];
    fs_buf out;

    init_once();
    size_t n = split(data, size, frames);
    fs_buf_init(&out);
    if (verbose)
        fprintf(stderr, "server pass, %zu frames\n", n);
    server_pass(frames, n, &out);
    if (verbose)
        fprintf(stderr, "client pass\n");
    client_pass(frames, n, &out);
    fs_buf_free(&out);
    current = &boot_stream;
    return 0;
}
