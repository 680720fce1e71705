/*
 * The secure channel (fieldsync/channel.h). A client and a server fs_channel
 * talk in memory: every frame one appends to an fs_buf is handed to the other
 * as the websocket would, or kept to be replayed, edited, reordered or
 * dropped as an attacker on the path would.
 *
 * Covered: the handshake and what it must refuse (another server key, a
 * substituted key, unknown and revoked devices, edited signatures, ephemeral
 * keys and versions, downgrades, enrollment with a bad code); the sealed
 * stream once open (a modified, replayed, reordered, dropped, cut or foreign
 * frame ends the session and every later call is FS_ECLOSED); clean (BYE)
 * and truncated ends; size limits; garbage input.
 *
 * The man in the middle edits plaintext HELLO and WELCOME frames using the
 * layout msg.h documents:
 *   HELLO    94 01 vmin vmax c4 20 <client eph 32>                  (38 bytes)
 *   WELCOME  95 02 ver c4 20 <eph 32> c4 20 <server pk 32> c4 40 <sig 64>
 *                                                                   (137 bytes)
 * Every receive goes through feed(), which also checks the contract of
 * fs_channel_receive: an error other than FS_ECLOSED leaves the channel
 * CLOSED with a reason and a message.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync/channel.h"
#include "fieldsync/error.h"
#include "fieldsync/msg.h"
#include "fieldsync/schema.h"
#include "rng.h"
#include "test.h"

#define HELLO_BYTES   38
#define WELCOME_BYTES 137
#define WELCOME_VER   2  /* offset of the chosen version */
#define WELCOME_EPH   5  /* offset of the server's ephemeral key */
#define WELCOME_SPK   39 /* offset of the server's identity key */
#define WELCOME_SIG   73 /* offset of the signature */

#define SERVER_TIME  1700000000000ull
#define LEASE_EXPIRY (SERVER_TIME + 14ull * 86400000ull)

/* ---- frames ------------------------------------------------------------------ */

/* One frame as it travels, in memory the test owns (frame_free). */
typedef struct frame {
    uint8_t *p;
    size_t n;
} frame;

static frame frame_from(const uint8_t *p, size_t n)
{
    frame f;
    f.n = n;
    f.p = malloc(n > 0 ? n : 1);
    if (f.p == NULL)
        FAIL("out of memory");
    if (n > 0)
        memcpy(f.p, p, n);
    return f;
}

static void frame_free(frame *f)
{
    free(f->p);
    f->p = NULL;
    f->n = 0;
}

/* 1 if the n bytes of needle occur in hay. */
static int find_bytes(const uint8_t *hay, size_t hn, const char *needle, size_t n)
{
    for (size_t i = 0; n > 0 && i + n <= hn; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return 1;
    return 0;
}

/* ---- the server's device registry -------------------------------------------- */

#define MAX_KNOWN 4

typedef struct registry {
    uint8_t known[MAX_KNOWN][FS_SIGN_PK_BYTES];
    size_t nknown;
    uint8_t revoked[FS_SIGN_PK_BYTES];
    int has_revoked;
    int check_calls;
    const char *code; /* the one-time code enroll_device accepts (NULL: none) */
    int enroll_rc;    /* when non-zero, enroll_device returns it */
    int enroll_calls;
    fs_enroll_request last; /* the request enroll_device last received */
} registry;

static int check_device(void *ctx, const uint8_t pk[FS_SIGN_PK_BYTES])
{
    registry *reg = ctx;
    reg->check_calls++;
    if (reg->has_revoked && memcmp(pk, reg->revoked, FS_SIGN_PK_BYTES) == 0)
        return FS_EREVOKED;
    for (size_t i = 0; i < reg->nknown; i++)
        if (memcmp(pk, reg->known[i], FS_SIGN_PK_BYTES) == 0)
            return 0;
    return FS_ENOTFOUND;
}

static int enroll_device(void *ctx, const fs_enroll_request *req)
{
    registry *reg = ctx;
    reg->enroll_calls++;
    if (memchr(req->code, '\0', sizeof req->code) == NULL ||
        memchr(req->device_name, '\0', sizeof req->device_name) == NULL)
        FAIL("enroll_device received strings that are not NUL-terminated");
    reg->last = *req;
    if (reg->enroll_rc != 0)
        return reg->enroll_rc;
    if (reg->code == NULL || strcmp(req->code, reg->code) != 0)
        return FS_ENOTFOUND;
    if (reg->nknown < MAX_KNOWN)
        memcpy(reg->known[reg->nknown++], req->device_pk, FS_SIGN_PK_BYTES);
    return 0;
}

/* ---- identities (fixed seeds: failures reproduce) ------------------------------ */

static fs_identity *server_id, *device_id, *other_id;

static fs_identity *identity(uint8_t tag)
{
    uint8_t seed[32];
    fs_identity *id = NULL;
    memset(seed, tag, sizeof seed);
    CHECK_OK(fs_identity_from_seed(&id, seed));
    CHECK(id != NULL);
    return id;
}

static void setup(void)
{
    CHECK(sodium_init() >= 0);
    server_id = identity(0x51);
    device_id = identity(0xd1);
    other_id = identity(0x07);
}

/* Frees the identities (test.h checks for leaks once the test returns). */
static void teardown(void)
{
    fs_identity_free(server_id);
    fs_identity_free(device_id);
    fs_identity_free(other_id);
    server_id = device_id = other_id = NULL;
}

/* ---- sessions ------------------------------------------------------------------ */

typedef struct session {
    registry reg;
    fs_channel_config ccfg, scfg;
    fs_channel *c, *s;
    frame hello, welcome, auth, ready; /* the handshake as it went */
} session;

/* Default configurations: the device is known, the client pins the server. */
static void session_init(session *ss)
{
    memset(ss, 0, sizeof *ss);
    memcpy(ss->reg.known[0], device_id->pk, FS_SIGN_PK_BYTES);
    ss->reg.nknown = 1;
    ss->ccfg.is_server = 0;
    ss->ccfg.self = device_id;
    ss->ccfg.pinned_server_pk = server_id->pk;
    ss->scfg.is_server = 1;
    ss->scfg.self = server_id;
    ss->scfg.check_device = check_device;
    ss->scfg.enroll_device = enroll_device;
    ss->scfg.ctx = &ss->reg;
    ss->scfg.server_time_ms = SERVER_TIME;
    ss->scfg.lease_expires_ms = LEASE_EXPIRY;
}

static void session_channels(session *ss)
{
    CHECK_OK(fs_channel_new(&ss->c, &ss->ccfg));
    CHECK_OK(fs_channel_new(&ss->s, &ss->scfg));
    CHECK_EQ_INT(fs_channel_state_get(ss->c), FS_CHANNEL_HANDSHAKE);
    CHECK_EQ_INT(fs_channel_state_get(ss->s), FS_CHANNEL_HANDSHAKE);
    CHECK_EQ_INT(fs_channel_reason(ss->s), 0);
    CHECK(fs_channel_peer(ss->s) == NULL);
}

static void session_free(session *ss)
{
    fs_channel_free(ss->c);
    fs_channel_free(ss->s);
    frame_free(&ss->hello);
    frame_free(&ss->welcome);
    frame_free(&ss->auth);
    frame_free(&ss->ready);
    ss->c = ss->s = NULL;
}

/* Feeds one frame to ch. The frame ch answers with (possibly none) replaces
 * *reply unless reply is NULL; the message it yields goes to *msg (caller
 * frees) or is freed when msg is NULL. Returns what fs_channel_receive
 * returned, after checking that a failure closed the channel with a reason. */
static int feed(fs_channel *ch, const uint8_t *p, size_t n, frame *reply, fs_msg **msg)
{
    fs_buf out;
    fs_msg *m = NULL;
    fs_channel_state before = fs_channel_state_get(ch);

    fs_buf_init(&out);
    int rc = fs_channel_receive(ch, p, n, &out, &m);
    if (reply != NULL) {
        frame_free(reply);
        *reply = frame_from(out.data, out.len);
    }
    fs_buf_free(&out);
    if (msg != NULL)
        *msg = m;
    else
        fs_msg_free(m);
    if (rc < 0 && before != FS_CHANNEL_CLOSED) {
        if (fs_channel_state_get(ch) != FS_CHANNEL_CLOSED)
            FAIL("receive failed with %s but left the channel in state %d", fs_errname(rc),
                 (int)fs_channel_state_get(ch));
        if (fs_channel_reason(ch) == 0)
            FAIL("receive failed with %s but gave no reason", fs_errname(rc));
        const char *why = fs_channel_errmsg(ch);
        if (why == NULL || why[0] == '\0')
            FAIL("receive failed with %s and left no error message", fs_errname(rc));
    }
    if (rc < 0 && before == FS_CHANNEL_CLOSED && rc != FS_ECLOSED)
        FAIL("receive on a closed channel returned %s, expected FS_ECLOSED", fs_errname(rc));
    return rc;
}

static int feed_frame(fs_channel *ch, const frame *f, frame *reply, fs_msg **msg)
{
    return feed(ch, f->p, f->n, reply, msg);
}

/* Seals m on ch; returns the frame. */
static frame seal(fs_channel *ch, const fs_msg *m)
{
    fs_buf out;
    fs_buf_init(&out);
    int rc = fs_channel_send(ch, m, &out);
    if (rc != 0)
        FAIL("fs_channel_send of type %d returned %s: %s", (int)m->type, fs_errname(rc),
             fs_channel_errmsg(ch));
    CHECK(out.len > 0);
    frame f = frame_from(out.data, out.len);
    fs_buf_free(&out);
    return f;
}

static frame start(fs_channel *c)
{
    fs_buf out;
    fs_buf_init(&out);
    CHECK_OK(fs_channel_start(c, &out));
    CHECK(out.len > 0);
    frame f = frame_from(out.data, out.len);
    fs_buf_free(&out);
    return f;
}

/* Runs the handshake of an initialised session whose channels exist, checking
 * every step, and keeps its four frames. */
static void handshake(session *ss)
{
    fs_msg *m = NULL;

    ss->hello = start(ss->c);
    CHECK_OK(feed_frame(ss->s, &ss->hello, &ss->welcome, &m));
    CHECK(m == NULL);
    CHECK(ss->welcome.n > 0);
    CHECK(fs_channel_peer(ss->s) == NULL);
    CHECK_OK(feed_frame(ss->c, &ss->welcome, &ss->auth, &m));
    CHECK(m == NULL);
    CHECK(ss->auth.n > 0);
    CHECK_OK(feed_frame(ss->s, &ss->auth, &ss->ready, &m));
    CHECK(m == NULL);
    CHECK(ss->ready.n > 0);
    CHECK_EQ_INT(fs_channel_state_get(ss->s), FS_CHANNEL_OPEN);
    frame none = {NULL, 0};
    CHECK_OK(feed_frame(ss->c, &ss->ready, &none, &m));
    CHECK_EQ_INT(none.n, 0); /* nothing to answer READY with */
    frame_free(&none);
    CHECK(m != NULL);
    CHECK_EQ_INT(m->type, FS_MSG_READY);
    CHECK_EQ_INT(m->u.ready.server_time_ms, SERVER_TIME);
    CHECK_EQ_INT(m->u.ready.lease_expires_ms, LEASE_EXPIRY);
    fs_msg_free(m);
    CHECK_EQ_INT(fs_channel_state_get(ss->c), FS_CHANNEL_OPEN);
}

/* A session with default configurations, open. */
static void session_open(session *ss)
{
    session_init(ss);
    session_channels(ss);
    handshake(ss);
}

/* ch ended with code rc for reason: it is closed, and every later call is
 * FS_ECLOSED and writes nothing. next: a frame that would have been valid. */
static void check_dead(fs_channel *ch, int rc, int want_rc, uint32_t want_reason, const frame *next)
{
    if (rc != want_rc)
        FAIL("expected %s, got %s (%s)", fs_errname(want_rc), fs_errname(rc),
             fs_channel_errmsg(ch));
    CHECK_EQ_INT(fs_channel_state_get(ch), FS_CHANNEL_CLOSED);
    CHECK_EQ_INT(fs_channel_reason(ch), want_reason);
    if (next != NULL) {
        frame reply = {NULL, 0};
        fs_msg *m = NULL;
        CHECK_ERR(feed_frame(ch, next, &reply, &m), FS_ECLOSED);
        CHECK(m == NULL);
        CHECK_EQ_INT(reply.n, 0);
        frame_free(&reply);
    }
    fs_msg ack;
    fs_buf out;
    memset(&ack, 0, sizeof ack);
    ack.type = FS_MSG_ACK;
    ack.u.ack.upto_seq = 1;
    fs_buf_init(&out);
    CHECK_ERR(fs_channel_send(ch, &ack, &out), FS_ECLOSED);
    CHECK_EQ_INT(out.len, 0);
    fs_buf_free(&out);
    CHECK_EQ_INT(fs_channel_state_get(ch), FS_CHANNEL_CLOSED);
}

/* ---- messages and changes ------------------------------------------------------ */

static const uint8_t row_a[16] = {0xa1, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                  0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
static const uint8_t row_b[16] = {0xb2, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
static const uint8_t dev_1[16] = {0xde, 0x01, 0xde, 0x01, 0xde, 0x01, 0xde, 0x01,
                                  0xde, 0x01, 0xde, 0x01, 0xde, 0x01, 0xde, 0x01};
static const uint8_t dev_2[16] = {0xde, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
static const uint8_t customer_id[16] = {0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
                                        0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf};

#define NCHANGES   8
#define HLC(ms, n) (((uint64_t)(ms) << 16) | (uint64_t)(n))

/* Column changes of two visits and a customer, in no particular order: every
 * value type, Chinese and English text, an empty string, updates with a
 * previous version and inserts without. */
static void sample_changes(fs_change out[NCHANGES])
{
    static const char notes[] = "1. 客户目前使用竞品，觉得操作复杂；2. decision maker is the CFO, "
                                "采购需要财务审批；预算约 50-80 万元 CNY。";
    memset(out, 0, NCHANGES * sizeof *out);
    for (int i = 0; i < NCHANGES; i++) {
        out[i].table = 2; /* visit */
        memcpy(out[i].row, row_a, 16);
        out[i].version.hlc = HLC(1700000000123ull, 0);
        memcpy(out[i].version.device, dev_1, 16);
    }
    out[0].column = 1;
    out[0].value = fs_blob(customer_id, 16);
    out[1].column = 2;
    out[1].value = fs_text("王经理 / David Wang");
    out[2].column = 4;
    out[2].value = fs_text("2023-10-10 14:00");
    out[3].column = 7;
    out[3].value = fs_text(notes);
    /* An update of row b by another device, on top of dev_1's write. */
    memcpy(out[4].row, row_b, 16);
    out[4].column = 8;
    out[4].value = fs_textn("", 0);
    out[4].version.hlc = HLC(1700000005000ull, 3);
    memcpy(out[4].version.device, dev_2, 16);
    out[4].prev.hlc = HLC(1700000000123ull, 0);
    memcpy(out[4].prev.device, dev_1, 16);
    out[5] = out[4];
    out[5].column = 0; /* deleted */
    out[5].value = fs_int(1);
    /* A customer row: integers, a real, a null. */
    out[6].table = 0;
    memcpy(out[6].row, row_b, 16);
    out[6].column = 9;
    out[6].value = fs_int(-42);
    out[6].version.hlc = HLC(1700000009999ull, 65535);
    out[7] = out[6];
    out[7].column = 3;
    out[7].value = fs_real(-1234.5678);
    out[7].version.hlc = HLC(1700000010000ull, 1);
    out[7].prev.hlc = HLC(1700000009999ull, 65535);
    memcpy(out[7].prev.device, dev_1, 16);
}

static int value_eq(const fs_value *a, const fs_value *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case FS_NULL:
        return 1;
    case FS_INT:
        return a->i == b->i;
    case FS_REAL:
        return memcmp(&a->r, &b->r, sizeof a->r) == 0;
    case FS_TEXT:
    case FS_BLOB:
        return a->n == b->n && (a->n == 0 || memcmp(a->p, b->p, a->n) == 0);
    }
    return 0;
}

static int change_eq(const fs_change *a, const fs_change *b)
{
    return a->table == b->table && a->column == b->column && memcmp(a->row, b->row, 16) == 0 &&
           value_eq(&a->value, &b->value) && a->version.hlc == b->version.hlc &&
           memcmp(a->version.device, b->version.device, 16) == 0 && a->prev.hlc == b->prev.hlc &&
           (a->prev.hlc == 0 || memcmp(a->prev.device, b->prev.device, 16) == 0);
}

/* The batch that arrived holds exactly the changes that were sent, in any
 * order (batches are regrouped by row). */
static void check_changes(const fs_change *want, size_t nwant, const fs_change *got, size_t ngot)
{
    unsigned char used[64] = {0};
    CHECK_EQ_INT(ngot, nwant);
    CHECK(ngot <= sizeof used);
    for (size_t i = 0; i < nwant; i++) {
        size_t j = 0;
        while (j < ngot && (used[j] || !change_eq(&want[i], &got[j])))
            j++;
        if (j == ngot)
            FAIL("change %zu (table %u column %u) did not arrive intact", i, want[i].table,
                 want[i].column);
        used[j] = 1;
    }
}

static fs_msg msg_push(const fs_change *ch, size_t n, uint64_t first, uint64_t last)
{
    fs_msg m;
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_PUSH;
    m.u.push.first_seq = first;
    m.u.push.last_seq = last;
    m.u.push.changes = ch;
    m.u.push.count = n;
    return m;
}

static fs_msg msg_ack(uint64_t upto)
{
    fs_msg m;
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_ACK;
    m.u.ack.upto_seq = upto;
    return m;
}

/* Sends m from one end, delivers it to the other and checks the type; the
 * received message is returned (caller frees). */
static fs_msg *transfer(fs_channel *from, fs_channel *to, const fs_msg *m)
{
    frame f = seal(from, m);
    frame reply = {NULL, 0};
    fs_msg *got = NULL;
    int rc = feed_frame(to, &f, &reply, &got);
    if (rc != 0)
        FAIL("delivering type %d: %s (%s)", (int)m->type, fs_errname(rc), fs_channel_errmsg(to));
    CHECK(got != NULL);
    CHECK_EQ_INT(got->type, m->type);
    CHECK_EQ_INT(reply.n, 0);
    frame_free(&reply);
    frame_free(&f);
    return got;
}

/* ---- tests: identities --------------------------------------------------------- */

static void test_identity_from_seed(void)
{
    setup();
    fs_identity *again = identity(0x51), *fresh1 = NULL, *fresh2 = NULL;
    CHECK_MEM(again->pk, server_id->pk, FS_SIGN_PK_BYTES);
    CHECK(memcmp(server_id->pk, device_id->pk, FS_SIGN_PK_BYTES) != 0);
    /* The secret key signs for the public one. */
    uint8_t sig[crypto_sign_BYTES];
    CHECK(crypto_sign_detached(sig, NULL, (const unsigned char *)"x", 1, server_id->sk) == 0);
    CHECK(crypto_sign_verify_detached(sig, (const unsigned char *)"x", 1, server_id->pk) == 0);
    CHECK_OK(fs_identity_generate(&fresh1));
    CHECK_OK(fs_identity_generate(&fresh2));
    CHECK(memcmp(fresh1->pk, fresh2->pk, FS_SIGN_PK_BYTES) != 0);
    fs_identity_free(again);
    fs_identity_free(fresh1);
    fs_identity_free(fresh2);
    fs_identity_free(NULL);
    fs_channel_free(NULL);
    teardown();
}

/* ---- tests: a whole session ---------------------------------------------------- */

static void test_happy_path(void)
{
    setup();
    session ss;
    session_open(&ss);
    fs_change changes[NCHANGES];
    sample_changes(changes);

    /* Both ends agree on who and what. */
    CHECK_EQ_INT(fs_channel_version(ss.c), FS_PROTO_VERSION);
    CHECK_EQ_INT(fs_channel_version(ss.s), FS_PROTO_VERSION);
    CHECK(fs_channel_peer(ss.s) != NULL);
    CHECK_MEM(fs_channel_peer(ss.s), device_id->pk, FS_SIGN_PK_BYTES);
    if (fs_channel_peer(ss.c) != NULL)
        CHECK_MEM(fs_channel_peer(ss.c), server_id->pk, FS_SIGN_PK_BYTES);
    CHECK_EQ_INT(fs_channel_reason(ss.c), 0);
    CHECK_EQ_INT(fs_channel_reason(ss.s), 0);
    CHECK_EQ_INT(ss.reg.check_calls, 1);
    CHECK_EQ_INT(ss.reg.enroll_calls, 0);
    CHECK_EQ_INT(ss.hello.n, HELLO_BYTES);
    CHECK_EQ_INT(ss.welcome.n, WELCOME_BYTES);
    /* The first sealed frame of each direction carries the stream header. */
    CHECK(ss.auth.n >= crypto_secretstream_xchacha20poly1305_HEADERBYTES +
                           crypto_secretstream_xchacha20poly1305_ABYTES);
    CHECK(ss.ready.n >= crypto_secretstream_xchacha20poly1305_HEADERBYTES +
                            crypto_secretstream_xchacha20poly1305_ABYTES);

    /* PUSH up, ACK down. */
    fs_msg m = msg_push(changes, NCHANGES, 17, 24);
    fs_msg *got = transfer(ss.c, ss.s, &m);
    CHECK_EQ_INT(got->u.push.first_seq, 17);
    CHECK_EQ_INT(got->u.push.last_seq, 24);
    check_changes(changes, NCHANGES, got->u.push.changes, got->u.push.count);
    fs_msg_free(got);
    m = msg_ack(24);
    got = transfer(ss.s, ss.c, &m);
    CHECK_EQ_INT(got->u.ack.upto_seq, 24);
    fs_msg_free(got);

    /* PULL up, CHANGES down, twice (more, then the end). */
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_PULL;
    m.u.pull.cursor = 0;
    m.u.pull.max = 5000;
    got = transfer(ss.c, ss.s, &m);
    CHECK_EQ_INT(got->u.pull.cursor, 0);
    CHECK_EQ_INT(got->u.pull.max, 5000);
    fs_msg_free(got);
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_CHANGES;
    m.u.changes.cursor = 123456789012ull;
    m.u.changes.more = 1;
    m.u.changes.changes = changes + 2;
    m.u.changes.count = NCHANGES - 2;
    got = transfer(ss.s, ss.c, &m);
    CHECK_EQ_INT(got->u.changes.cursor, 123456789012ull);
    CHECK(got->u.changes.more);
    check_changes(changes + 2, NCHANGES - 2, got->u.changes.changes, got->u.changes.count);
    fs_msg_free(got);
    m.u.changes.more = 0;
    m.u.changes.changes = NULL;
    m.u.changes.count = 0;
    m.u.changes.cursor = 123456789013ull;
    got = transfer(ss.s, ss.c, &m);
    CHECK(!got->u.changes.more);
    CHECK_EQ_INT(got->u.changes.count, 0);
    fs_msg_free(got);

    /* The other server-to-client messages. */
    fs_reject_item rej = {2, 7, {0}, HLC(1700000000123ull, 0), FS_REASON_SCOPE, "不在范围内", 15};
    memcpy(rej.row, row_a, 16);
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_REJECT;
    m.u.reject.items = &rej;
    m.u.reject.count = 1;
    got = transfer(ss.s, ss.c, &m);
    CHECK_EQ_INT(got->u.reject.count, 1);
    CHECK_EQ_INT(got->u.reject.items[0].table, 2);
    CHECK_EQ_INT(got->u.reject.items[0].column, 7);
    CHECK_MEM(got->u.reject.items[0].row, row_a, 16);
    CHECK_EQ_INT(got->u.reject.items[0].hlc, rej.hlc);
    CHECK_EQ_INT(got->u.reject.items[0].reason, FS_REASON_SCOPE);
    CHECK_EQ_INT(got->u.reject.items[0].text_len, 15);
    CHECK_MEM(got->u.reject.items[0].text, "不在范围内", 15);
    fs_msg_free(got);
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_POKE;
    m.u.poke.cursor = 99;
    got = transfer(ss.s, ss.c, &m);
    CHECK_EQ_INT(got->u.poke.cursor, 99);
    fs_msg_free(got);
    fs_purge_item purge[2] = {{2, {0}}, {0, {0}}};
    memcpy(purge[0].row, row_a, 16);
    memcpy(purge[1].row, row_b, 16);
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_PURGE;
    m.u.purge.items = purge;
    m.u.purge.count = 2;
    got = transfer(ss.s, ss.c, &m);
    CHECK_EQ_INT(got->u.purge.count, 2);
    CHECK_EQ_INT(got->u.purge.items[0].table, 2);
    CHECK_MEM(got->u.purge.items[0].row, row_a, 16);
    CHECK_MEM(got->u.purge.items[1].row, row_b, 16);
    fs_msg_free(got);

    /* Many small frames keep working (the streams stay in step). */
    for (uint64_t i = 1; i <= 200; i++) {
        m = msg_push(changes + (i % NCHANGES), 1, 100 + i, 100 + i);
        got = transfer(ss.c, ss.s, &m);
        check_changes(changes + (i % NCHANGES), 1, got->u.push.changes, got->u.push.count);
        fs_msg_free(got);
        m = msg_ack(100 + i);
        got = transfer(ss.s, ss.c, &m);
        CHECK_EQ_INT(got->u.ack.upto_seq, 100 + i);
        fs_msg_free(got);
    }

    /* The client says BYE: the server's stream ended cleanly. */
    fs_buf out;
    fs_buf_init(&out);
    CHECK_OK(fs_channel_bye(ss.c, &out));
    CHECK(out.len > 0);
    frame bye = frame_from(out.data, out.len);
    fs_buf_free(&out);
    fs_msg *bm = NULL;
    CHECK_OK(feed_frame(ss.s, &bye, NULL, &bm));
    CHECK(bm == NULL || bm->type == FS_MSG_BYE);
    fs_msg_free(bm);
    CHECK_OK(fs_channel_finish(ss.s));
    /* Nothing more can come after the final tag. */
    CHECK(feed_frame(ss.s, &bye, NULL, NULL) < 0);
    CHECK_OK(fs_channel_finish(ss.s));
    frame_free(&bye);
    session_free(&ss);
    teardown();
}

static void test_bye_from_server(void)
{
    setup();
    session ss;
    session_open(&ss);
    fs_msg m = msg_ack(5);
    fs_msg *got = transfer(ss.s, ss.c, &m);
    fs_msg_free(got);
    fs_buf out;
    fs_buf_init(&out);
    CHECK_OK(fs_channel_bye(ss.s, &out));
    CHECK(out.len > 0);
    fs_msg *bm = NULL;
    CHECK_OK(feed(ss.c, out.data, out.len, NULL, &bm));
    CHECK(bm == NULL || bm->type == FS_MSG_BYE);
    fs_msg_free(bm);
    CHECK_OK(fs_channel_finish(ss.c));
    /* A second BYE is a frame after the end. */
    CHECK(feed(ss.c, out.data, out.len, NULL, NULL) < 0);
    fs_buf_free(&out);
    session_free(&ss);
    teardown();
}

static void test_truncated_session(void)
{
    setup();
    session ss;
    fs_change changes[NCHANGES];
    sample_changes(changes);
    session_open(&ss);
    fs_msg m = msg_push(changes, 3, 1, 3);
    fs_msg_free(transfer(ss.c, ss.s, &m));
    m = msg_ack(3);
    fs_msg_free(transfer(ss.s, ss.c, &m));
    /* The connection drops: neither saw a BYE. */
    CHECK_ERR(fs_channel_finish(ss.s), FS_ECHANNEL);
    CHECK_EQ_INT(fs_channel_reason(ss.s), FS_REASON_TRUNCATED);
    CHECK_EQ_INT(fs_channel_state_get(ss.s), FS_CHANNEL_CLOSED);
    CHECK_ERR(fs_channel_finish(ss.c), FS_ECHANNEL);
    CHECK_EQ_INT(fs_channel_reason(ss.c), FS_REASON_TRUNCATED);
    session_free(&ss);

    /* The BYE frame itself lost: still truncated. */
    session_open(&ss);
    fs_buf out;
    fs_buf_init(&out);
    CHECK_OK(fs_channel_bye(ss.c, &out));
    fs_buf_free(&out);
    CHECK_ERR(fs_channel_finish(ss.s), FS_ECHANNEL);
    CHECK_EQ_INT(fs_channel_reason(ss.s), FS_REASON_TRUNCATED);
    session_free(&ss);

    /* A session that ended with an error already reported: finish says 0. */
    session_open(&ss);
    m = msg_ack(1);
    frame f = seal(ss.s, &m);
    f.p[f.n / 2] ^= 0x20;
    CHECK_ERR(feed_frame(ss.c, &f, NULL, NULL), FS_ECHANNEL);
    CHECK_OK(fs_channel_finish(ss.c));
    CHECK_EQ_INT(fs_channel_reason(ss.c), FS_REASON_FRAME);
    frame_free(&f);
    session_free(&ss);
    teardown();
}

/* ---- tests: the server's identity ---------------------------------------------- */

static void test_wrong_server_key(void)
{
    setup();
    session ss;
    session_init(&ss);
    ss.ccfg.pinned_server_pk = other_id->pk;
    session_channels(&ss);
    ss.hello = start(ss.c);
    CHECK_OK(feed_frame(ss.s, &ss.hello, &ss.welcome, NULL));
    int rc = feed_frame(ss.c, &ss.welcome, &ss.auth, NULL);
    check_dead(ss.c, rc, FS_EAUTH, FS_REASON_SERVER_KEY, &ss.welcome);
    session_free(&ss);

    /* A server with another identity, as an impostor would be. */
    session_init(&ss);
    ss.scfg.self = other_id;
    session_channels(&ss);
    ss.hello = start(ss.c);
    CHECK_OK(feed_frame(ss.s, &ss.hello, &ss.welcome, NULL));
    rc = feed_frame(ss.c, &ss.welcome, &ss.auth, NULL);
    check_dead(ss.c, rc, FS_EAUTH, FS_REASON_SERVER_KEY, NULL);

    /* The impostor writes the pinned key into WELCOME: its signature fails. */
    fs_channel_free(ss.c);
    ss.c = NULL;
    CHECK_OK(fs_channel_new(&ss.c, &ss.ccfg));
    frame_free(&ss.hello);
    ss.hello = start(ss.c);
    fs_channel_free(ss.s);
    ss.s = NULL;
    CHECK_OK(fs_channel_new(&ss.s, &ss.scfg));
    CHECK_OK(feed_frame(ss.s, &ss.hello, &ss.welcome, NULL));
    CHECK_EQ_INT(ss.welcome.n, WELCOME_BYTES);
    CHECK_MEM(ss.welcome.p + WELCOME_SPK, other_id->pk, FS_SIGN_PK_BYTES);
    memcpy(ss.welcome.p + WELCOME_SPK, server_id->pk, FS_SIGN_PK_BYTES);
    rc = feed_frame(ss.c, &ss.welcome, &ss.auth, NULL);
    check_dead(ss.c, rc, FS_EAUTH, FS_REASON_AUTH, NULL);
    session_free(&ss);
    teardown();
}

/* Every single-bit edit of WELCOME is refused by the client; the signature,
 * the ephemeral key and the identity key each for the right reason. */
static void test_tampered_welcome(void)
{
    setup();
    session ss;
    session_init(&ss);
    session_channels(&ss);
    ss.hello = start(ss.c);
    CHECK_OK(feed_frame(ss.s, &ss.hello, &ss.welcome, NULL));
    CHECK_EQ_INT(ss.welcome.n, WELCOME_BYTES);
    CHECK_MEM(ss.welcome.p + WELCOME_SPK, server_id->pk, FS_SIGN_PK_BYTES);
    /* Each edit in a fresh session, so that the signature is over the
     * client's own ephemeral key and only the edit can fail it. */
    for (int bit = 0; bit < 8; bit += 7) {
        for (size_t i = 0; i < WELCOME_BYTES; i++) {
            fs_channel *cl = NULL;
            CHECK_OK(fs_channel_new(&cl, &ss.ccfg));
            frame hello = start(cl);
            fs_channel *sv = NULL;
            CHECK_OK(fs_channel_new(&sv, &ss.scfg));
            frame welcome = {NULL, 0};
            CHECK_OK(feed_frame(sv, &hello, &welcome, NULL));
            CHECK_EQ_INT(welcome.n, WELCOME_BYTES);
            welcome.p[i] ^= (uint8_t)(1u << bit);
            frame auth = {NULL, 0};
            int rc = feed_frame(cl, &welcome, &auth, NULL);
            if (rc == 0)
                FAIL("client accepted WELCOME with bit %d of byte %zu flipped", bit, i);
            CHECK_EQ_INT(fs_channel_state_get(cl), FS_CHANNEL_CLOSED);
            if (i >= WELCOME_SIG || (i >= WELCOME_EPH && i < WELCOME_EPH + 32)) {
                if (rc != FS_EAUTH || fs_channel_reason(cl) != FS_REASON_AUTH)
                    FAIL("byte %zu (signature or ephemeral key): %s reason %u, expected "
                         "FS_EAUTH reason AUTH",
                         i, fs_errname(rc), fs_channel_reason(cl));
            } else if (i >= WELCOME_SPK && i < WELCOME_SPK + 32) {
                if (rc != FS_EAUTH || fs_channel_reason(cl) != FS_REASON_SERVER_KEY)
                    FAIL("byte %zu (server key): %s reason %u, expected FS_EAUTH reason "
                         "SERVER_KEY",
                         i, fs_errname(rc), fs_channel_reason(cl));
            }
            frame_free(&hello);
            frame_free(&welcome);
            frame_free(&auth);
            fs_channel_free(cl);
            fs_channel_free(sv);
        }
    }
    session_free(&ss);
    teardown();
}

/* An edited HELLO either is refused by the server or makes the client refuse
 * WELCOME (T1 covers everything in HELLO). */
static void test_tampered_hello(void)
{
    setup();
    session ss;
    session_init(&ss);
    for (int bit = 0; bit < 8; bit += 7) {
        for (size_t i = 0; i < HELLO_BYTES; i++) {
            fs_channel *cl = NULL, *sv = NULL;
            CHECK_OK(fs_channel_new(&cl, &ss.ccfg));
            CHECK_OK(fs_channel_new(&sv, &ss.scfg));
            frame hello = start(cl), welcome = {NULL, 0}, auth = {NULL, 0};
            CHECK_EQ_INT(hello.n, HELLO_BYTES);
            hello.p[i] ^= (uint8_t)(1u << bit);
            int rc = feed_frame(sv, &hello, &welcome, NULL);
            if (rc == 0) {
                CHECK(welcome.n > 0);
                rc = feed_frame(cl, &welcome, &auth, NULL);
                if (rc == 0)
                    FAIL("handshake went on with bit %d of HELLO byte %zu flipped", bit, i);
                CHECK(rc == FS_EAUTH || rc == FS_EUNSUPPORTED);
            }
            CHECK(fs_channel_state_get(cl) != FS_CHANNEL_OPEN);
            CHECK(fs_channel_state_get(sv) != FS_CHANNEL_OPEN);
            frame_free(&hello);
            frame_free(&welcome);
            frame_free(&auth);
            fs_channel_free(cl);
            fs_channel_free(sv);
        }
    }
    session_free(&ss);
    teardown();
}

/* ---- tests: the device's identity ---------------------------------------------- */

static void test_unknown_device(void)
{
    setup();
    session ss;
    session_init(&ss);
    ss.reg.nknown = 0;
    session_channels(&ss);
    ss.hello = start(ss.c);
    CHECK_OK(feed_frame(ss.s, &ss.hello, &ss.welcome, NULL));
    CHECK_OK(feed_frame(ss.c, &ss.welcome, &ss.auth, NULL));
    int rc = feed_frame(ss.s, &ss.auth, &ss.ready, NULL);
    check_dead(ss.s, rc, FS_EAUTH, FS_REASON_UNKNOWN_DEVICE, &ss.auth);
    CHECK_EQ_INT(ss.reg.check_calls, 1);
    CHECK(fs_channel_state_get(ss.s) != FS_CHANNEL_OPEN);
    /* If the server said why, the client learns it and closes. */
    if (ss.ready.n > 0) {
        fs_msg *m = NULL;
        feed_frame(ss.c, &ss.ready, NULL, &m);
        CHECK(m != NULL);
        CHECK_EQ_INT(m->type, FS_MSG_ERROR);
        CHECK_EQ_INT(m->u.error.reason, FS_REASON_UNKNOWN_DEVICE);
        fs_msg_free(m);
        CHECK_EQ_INT(fs_channel_state_get(ss.c), FS_CHANNEL_CLOSED);
    }
    session_free(&ss);

    /* Another device that the server does not know, with a valid signature. */
    session_init(&ss);
    ss.ccfg.self = other_id;
    session_channels(&ss);
    ss.hello = start(ss.c);
    CHECK_OK(feed_frame(ss.s, &ss.hello, &ss.welcome, NULL));
    CHECK_OK(feed_frame(ss.c, &ss.welcome, &ss.auth, NULL));
    rc = feed_frame(ss.s, &ss.auth, &ss.ready, NULL);
    check_dead(ss.s, rc, FS_EAUTH, FS_REASON_UNKNOWN_DEVICE, NULL);
    session_free(&ss);
    teardown();
}

static void test_revoked_device_gets_wipe(void)
{
    setup();
    session ss;
    session_init(&ss);
    memcpy(ss.reg.revoked, device_id->pk, FS_SIGN_PK_BYTES);
    ss.reg.has_revoked = 1;
    session_channels(&ss);
    ss.hello = start(ss.c);
    CHECK_OK(feed_frame(ss.s, &ss.hello, &ss.welcome, NULL));
    CHECK_OK(feed_frame(ss.c, &ss.welcome, &ss.auth, NULL));
    int rc = feed_frame(ss.s, &ss.auth, &ss.ready, NULL);
    check_dead(ss.s, rc, FS_EREVOKED, FS_REASON_REVOKED, NULL);
    CHECK(ss.ready.n > 0); /* the WIPE frame */
    fs_msg *m = NULL;
    rc = feed_frame(ss.c, &ss.ready, NULL, &m);
    if (m == NULL)
        FAIL("client got no message from the WIPE frame: %s (%s)", fs_errname(rc),
             fs_channel_errmsg(ss.c));
    /* The message comes with 0 or with FS_EREVOKED (both fit channel.h). */
    CHECK(rc == 0 || rc == FS_EREVOKED);
    CHECK_EQ_INT(m->type, FS_MSG_WIPE);
    CHECK_EQ_INT(m->u.wipe.reason, FS_REASON_REVOKED);
    fs_msg_free(m);
    CHECK_EQ_INT(fs_channel_state_get(ss.c), FS_CHANNEL_CLOSED);
    CHECK_EQ_INT(fs_channel_reason(ss.c), FS_REASON_REVOKED);
    CHECK_OK(fs_channel_finish(ss.c));
    session_free(&ss);

    /* Revoked while a session is open: the server ends it with WIPE. */
    session_open(&ss);
    fs_msg wipe;
    memset(&wipe, 0, sizeof wipe);
    wipe.type = FS_MSG_WIPE;
    wipe.u.wipe.reason = FS_REASON_REVOKED;
    frame f = seal(ss.s, &wipe);
    CHECK_EQ_INT(fs_channel_state_get(ss.s), FS_CHANNEL_CLOSED);
    rc = feed_frame(ss.c, &f, NULL, &m);
    CHECK(m != NULL);
    CHECK(rc == 0 || rc == FS_EREVOKED);
    CHECK_EQ_INT(m->type, FS_MSG_WIPE);
    fs_msg_free(m);
    CHECK_EQ_INT(fs_channel_state_get(ss.c), FS_CHANNEL_CLOSED);
    CHECK_OK(fs_channel_finish(ss.c));
    frame_free(&f);
    session_free(&ss);

    /* A WIPE in plaintext, before any key exists, is not one: anybody on the
     * path could forge it. */
    session_init(&ss);
    session_channels(&ss);
    ss.hello = start(ss.c);
    fs_buf pt;
    fs_buf_init(&pt);
    CHECK_OK(fs_msg_encode(&wipe, &pt));
    m = NULL;
    rc = feed(ss.c, pt.data, pt.len, NULL, &m);
    CHECK(rc < 0);
    CHECK(rc != FS_EREVOKED);
    CHECK(m == NULL || m->type != FS_MSG_WIPE);
    fs_msg_free(m);
    session_free(&ss);
    fs_buf_free(&pt);
    teardown();
}

/* The server ends an open session with ERROR: the client gets the message,
 * the reason, and a clean end. */
static void test_error_from_server(void)
{
    setup();
    session ss;
    session_open(&ss);
    fs_msg e;
    memset(&e, 0, sizeof e);
    e.type = FS_MSG_ERROR;
    e.u.error.reason = FS_REASON_CLOCK;
    e.u.error.text = "clock too far ahead";
    e.u.error.text_len = strlen(e.u.error.text);
    frame f = seal(ss.s, &e);
    CHECK_EQ_INT(fs_channel_state_get(ss.s), FS_CHANNEL_CLOSED);
    CHECK_EQ_INT(fs_channel_reason(ss.s), FS_REASON_CLOCK);
    fs_msg *m = NULL;
    feed_frame(ss.c, &f, NULL, &m);
    CHECK(m != NULL);
    CHECK_EQ_INT(m->type, FS_MSG_ERROR);
    CHECK_EQ_INT(m->u.error.reason, FS_REASON_CLOCK);
    CHECK_EQ_INT(m->u.error.text_len, e.u.error.text_len);
    CHECK_MEM(m->u.error.text, e.u.error.text, e.u.error.text_len);
    fs_msg_free(m);
    CHECK_EQ_INT(fs_channel_state_get(ss.c), FS_CHANNEL_CLOSED);
    CHECK_EQ_INT(fs_channel_reason(ss.c), FS_REASON_CLOCK);
    CHECK_OK(fs_channel_finish(ss.c));
    frame_free(&f);
    session_free(&ss);
    teardown();
}

/* AUTH is sealed: any edit, anywhere (the stream header included), fails to
 * open. */
static void test_tampered_auth(void)
{
    setup();
    session ss;
    session_init(&ss);
    session_channels(&ss);
    ss.hello = start(ss.c);
    CHECK_OK(feed_frame(ss.s, &ss.hello, &ss.welcome, NULL));
    CHECK_OK(feed_frame(ss.c, &ss.welcome, &ss.auth, NULL));
    size_t n = ss.auth.n;
    session_free(&ss);

    for (size_t i = 0; i < n; i++) {
        session_init(&ss);
        session_channels(&ss);
        ss.hello = start(ss.c);
        CHECK_OK(feed_frame(ss.s, &ss.hello, &ss.welcome, NULL));
        CHECK_OK(feed_frame(ss.c, &ss.welcome, &ss.auth, NULL));
        CHECK_EQ_INT(ss.auth.n, n);
        ss.auth.p[i] ^= (uint8_t)(i % 2 ? 0x80 : 0x01);
        int rc = feed_frame(ss.s, &ss.auth, &ss.ready, NULL);
        if (rc != FS_ECHANNEL || fs_channel_reason(ss.s) != FS_REASON_FRAME)
            FAIL("AUTH byte %zu flipped: %s reason %u, expected FS_ECHANNEL reason FRAME", i,
                 fs_errname(rc), fs_channel_reason(ss.s));
        CHECK(fs_channel_peer(ss.s) == NULL);
        CHECK_EQ_INT(ss.reg.check_calls, 0);
        session_free(&ss);
    }

    /* Cut, and with a byte added. */
    session_init(&ss);
    session_channels(&ss);
    ss.hello = start(ss.c);
    CHECK_OK(feed_frame(ss.s, &ss.hello, &ss.welcome, NULL));
    CHECK_OK(feed_frame(ss.c, &ss.welcome, &ss.auth, NULL));
    int rc = feed(ss.s, ss.auth.p, ss.auth.n - 1, NULL, NULL);
    check_dead(ss.s, rc, FS_ECHANNEL, FS_REASON_FRAME, &ss.auth);
    session_free(&ss);
    session_init(&ss);
    session_channels(&ss);
    ss.hello = start(ss.c);
    CHECK_OK(feed_frame(ss.s, &ss.hello, &ss.welcome, NULL));
    CHECK_OK(feed_frame(ss.c, &ss.welcome, &ss.auth, NULL));
    uint8_t *grown = calloc(1, ss.auth.n + 1);
    CHECK(grown != NULL);
    memcpy(grown, ss.auth.p, ss.auth.n);
    frame longer = frame_from(grown, ss.auth.n + 1);
    free(grown);
    rc = feed_frame(ss.s, &longer, NULL, NULL);
    check_dead(ss.s, rc, FS_ECHANNEL, FS_REASON_FRAME, NULL);
    frame_free(&longer);
    session_free(&ss);
    teardown();
}

/* ---- tests: the sealed stream once open --------------------------------------- */

enum attack { MODIFY, REPLAY, REORDER, DROP, CUT, ATTACKS };
static const char *const attack_name[ATTACKS] = {"modified", "replayed", "reordered", "dropped",
                                                 "cut"};

/* Three frames from one end; the attacker does `kind` to them on their way
 * to the other end, which must stop at the first bad one. */
static void attack_run(enum attack kind, int downstream)
{
    session ss;
    fs_change changes[NCHANGES];
    sample_changes(changes);
    session_open(&ss);
    fs_channel *from = downstream ? ss.s : ss.c, *to = downstream ? ss.c : ss.s;
    frame f[3];
    for (int i = 0; i < 3; i++) {
        fs_msg m = downstream ? msg_ack(10 + (uint64_t)i)
                              : msg_push(changes + i, 1, 10 + (uint64_t)i, 10 + (uint64_t)i);
        f[i] = seal(from, &m);
    }
    int rc = 0;
    const frame *next = NULL;
    switch (kind) {
    case MODIFY:
        f[0].p[f[0].n / 2] ^= 0x04;
        rc = feed_frame(to, &f[0], NULL, NULL);
        next = &f[1];
        break;
    case REPLAY:
        CHECK_OK(feed_frame(to, &f[0], NULL, NULL));
        CHECK_OK(feed_frame(to, &f[1], NULL, NULL));
        rc = feed_frame(to, &f[0], NULL, NULL);
        next = &f[2];
        break;
    case REORDER:
        CHECK_OK(feed_frame(to, &f[0], NULL, NULL));
        rc = feed_frame(to, &f[2], NULL, NULL);
        next = &f[1];
        break;
    case DROP:
        CHECK_OK(feed_frame(to, &f[0], NULL, NULL));
        rc = feed_frame(to, &f[2], NULL, NULL);
        next = &f[1];
        break;
    case CUT:
        CHECK_OK(feed_frame(to, &f[0], NULL, NULL));
        rc = feed(to, f[1].p, f[1].n - 1, NULL, NULL);
        next = &f[1];
        break;
    default:
        FAIL("no such attack");
    }
    if (rc != FS_ECHANNEL)
        FAIL("%s frame %s: got %s, expected FS_ECHANNEL", attack_name[kind],
             downstream ? "server to client" : "client to server", fs_errname(rc));
    check_dead(to, rc, FS_ECHANNEL, FS_REASON_FRAME, next);
    /* What it knew before stays: the sender is unaffected until told. */
    CHECK_EQ_INT(fs_channel_state_get(from), FS_CHANNEL_OPEN);
    for (int i = 0; i < 3; i++)
        frame_free(&f[i]);
    session_free(&ss);
}

static void test_sealed_frame_attacks(void)
{
    setup();
    for (int kind = 0; kind < ATTACKS; kind++)
        for (int downstream = 0; downstream < 2; downstream++)
            attack_run((enum attack)kind, downstream);
    teardown();
}

/* Every bit of a sealed frame matters; so does READY, replayed after it. */
static void test_every_byte_of_a_sealed_frame(void)
{
    setup();
    session ss;
    fs_change changes[NCHANGES];
    sample_changes(changes);
    session_open(&ss);
    fs_msg m = msg_push(changes, 2, 1, 2);
    frame f = seal(ss.c, &m);
    size_t n = f.n;
    frame_free(&f);
    session_free(&ss);
    for (size_t i = 0; i < n; i++) {
        session_open(&ss);
        f = seal(ss.c, &m);
        CHECK_EQ_INT(f.n, n);
        f.p[i] ^= (uint8_t)(1u << (i % 8));
        int rc = feed_frame(ss.s, &f, NULL, NULL);
        if (rc != FS_ECHANNEL)
            FAIL("byte %zu of a PUSH frame flipped: %s, expected FS_ECHANNEL", i, fs_errname(rc));
        CHECK_EQ_INT(fs_channel_reason(ss.s), FS_REASON_FRAME);
        frame_free(&f);
        session_free(&ss);
    }
    /* The handshake's sealed frames cannot be played again either. */
    session_open(&ss);
    int rc = feed_frame(ss.c, &ss.ready, NULL, NULL);
    check_dead(ss.c, rc, FS_ECHANNEL, FS_REASON_FRAME, NULL);
    rc = feed_frame(ss.s, &ss.auth, NULL, NULL);
    check_dead(ss.s, rc, FS_ECHANNEL, FS_REASON_FRAME, NULL);
    session_free(&ss);
    teardown();
}

/* A recorded session's frames are worthless in another session. */
static void test_frames_from_another_session(void)
{
    setup();
    session a, b;
    fs_change changes[NCHANGES];
    sample_changes(changes);
    session_open(&a);
    fs_msg push = msg_push(changes, 4, 1, 4), ack = msg_ack(4);
    frame a_push = seal(a.c, &push), a_ack = seal(a.s, &ack);

    /* Into an open session between the same identities. */
    session_open(&b);
    int rc = feed_frame(b.s, &a_push, NULL, NULL);
    check_dead(b.s, rc, FS_ECHANNEL, FS_REASON_FRAME, NULL);
    rc = feed_frame(b.c, &a_ack, NULL, NULL);
    check_dead(b.c, rc, FS_ECHANNEL, FS_REASON_FRAME, NULL);
    session_free(&b);

    /* The whole client side replayed to a fresh server: HELLO is plaintext
     * and accepted, but the recorded AUTH was sealed for the old keys. */
    session_init(&b);
    session_channels(&b);
    CHECK_OK(feed_frame(b.s, &a.hello, &b.welcome, NULL));
    rc = feed_frame(b.s, &a.auth, &b.ready, NULL);
    check_dead(b.s, rc, FS_ECHANNEL, FS_REASON_FRAME, &a_push);
    CHECK(fs_channel_peer(b.s) == NULL);
    session_free(&b);

    /* The whole server side replayed to a fresh client: its fresh key is not
     * in the recorded signature. */
    session_init(&b);
    session_channels(&b);
    b.hello = start(b.c);
    rc = feed_frame(b.c, &a.welcome, &b.auth, NULL);
    check_dead(b.c, rc, FS_EAUTH, FS_REASON_AUTH, &a.ready);
    session_free(&b);

    /* A fresh server's WELCOME, then the old READY: sealed for other keys. */
    session_init(&b);
    session_channels(&b);
    b.hello = start(b.c);
    CHECK_OK(feed_frame(b.s, &b.hello, &b.welcome, NULL));
    CHECK_OK(feed_frame(b.c, &b.welcome, &b.auth, NULL));
    rc = feed_frame(b.c, &a.ready, NULL, NULL);
    check_dead(b.c, rc, FS_ECHANNEL, FS_REASON_FRAME, NULL);
    session_free(&b);

    frame_free(&a_push);
    frame_free(&a_ack);
    session_free(&a);
    teardown();
}

/* ---- tests: versions ------------------------------------------------------------ */

static void check_hello_layout(const frame *hello, uint8_t vmin, uint8_t vmax)
{
    CHECK_EQ_INT(hello->n, HELLO_BYTES);
    CHECK_EQ_INT(hello->p[0], 0x94);
    CHECK_EQ_INT(hello->p[1], FS_MSG_HELLO);
    CHECK_EQ_INT(hello->p[2], vmin);
    CHECK_EQ_INT(hello->p[3], vmax);
    CHECK_EQ_INT(hello->p[4], 0xc4);
    CHECK_EQ_INT(hello->p[5], 32);
}

static void test_version_downgrade(void)
{
    setup();
    session ss;

    /* A man in the middle widens the offer: the server still picks its
     * newest, but the client signed-for range differs, so WELCOME's signature
     * fails. */
    session_init(&ss);
    session_channels(&ss);
    ss.hello = start(ss.c);
    check_hello_layout(&ss.hello, FS_PROTO_VERSION_MIN, FS_PROTO_VERSION);
    ss.hello.p[3] = (uint8_t)(FS_PROTO_VERSION + 1);
    int rc = feed_frame(ss.s, &ss.hello, &ss.welcome, NULL);
    CHECK_OK(rc);
    CHECK_EQ_INT(ss.welcome.p[WELCOME_VER], FS_PROTO_VERSION);
    rc = feed_frame(ss.c, &ss.welcome, &ss.auth, NULL);
    check_dead(ss.c, rc, FS_EAUTH, FS_REASON_AUTH, NULL);
    session_free(&ss);

    /* A real downgrade where this build can offer two versions: the client
     * offers 1..2, the attacker narrows it to 1..1. */
    session_init(&ss);
    ss.ccfg.vmin = 1;
    ss.ccfg.vmax = 2;
    fs_channel *probe = NULL;
    if (fs_channel_new(&probe, &ss.ccfg) == 0) {
        fs_channel_free(probe);
        session_channels(&ss);
        ss.hello = start(ss.c);
        check_hello_layout(&ss.hello, 1, 2);
        ss.hello.p[3] = 1;
        CHECK_OK(feed_frame(ss.s, &ss.hello, &ss.welcome, NULL));
        CHECK_EQ_INT(ss.welcome.p[WELCOME_VER], 1);
        rc = feed_frame(ss.c, &ss.welcome, &ss.auth, NULL);
        check_dead(ss.c, rc, FS_EAUTH, FS_REASON_AUTH, NULL);
    } else {
        printf("note: a client cannot offer versions past FS_PROTO_VERSION; downgrade simulated "
               "by edits only\n");
    }
    session_free(&ss);

    /* The attacker edits the version WELCOME chose (to one the client did not
     * offer, and to 0): refused as unsupported or as a bad signature. */
    for (int v = 0; v < 2; v++) {
        session_init(&ss);
        session_channels(&ss);
        ss.hello = start(ss.c);
        CHECK_OK(feed_frame(ss.s, &ss.hello, &ss.welcome, NULL));
        CHECK_EQ_INT(ss.welcome.n, WELCOME_BYTES);
        CHECK_EQ_INT(ss.welcome.p[WELCOME_VER], FS_PROTO_VERSION);
        ss.welcome.p[WELCOME_VER] = v == 0 ? (uint8_t)(FS_PROTO_VERSION + 1) : 0;
        rc = feed_frame(ss.c, &ss.welcome, &ss.auth, NULL);
        if (rc == FS_EUNSUPPORTED)
            check_dead(ss.c, rc, FS_EUNSUPPORTED, FS_REASON_VERSION, NULL);
        else
            check_dead(ss.c, rc, FS_EAUTH, FS_REASON_AUTH, NULL);
        session_free(&ss);
    }
    teardown();
}

/* Batches travel compressed from protocol version 2; a session that agreed
 * on version 1 (an older peer) gets them plain, and both decode to the same
 * changes. The frame is the encoding plus the stream's tag, so its length
 * shows which form went. */
static void test_version_1_peer_gets_plain_batches(void)
{
    setup();
    enum { N = 300 };
    int visit = fs_schema_table_index("visit");
    unsigned nt;
    CHECK(visit >= 0);
    int notes = fs_schema_column_index(&fs_schema_tables(&nt)[visit], "notes");
    CHECK(notes > 0);
    static fs_change ch[N];
    memset(ch, 0, sizeof ch);
    for (int i = 0; i < N; i++) {
        ch[i].table = (uint16_t)visit;
        ch[i].column = (uint16_t)notes;
        randombytes_buf(ch[i].row, FS_ID_BYTES);
        ch[i].value = fs_text(i % 2 ? "客户对报价表示认可，下周三前提交技术方案。"
                                    : "Budget approved; follow up with IT on SSO.");
        ch[i].version.hlc = 5000 + (uint64_t)i;
        memset(ch[i].version.device, 9, FS_ID_BYTES);
    }
    fs_msg m;
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_CHANGES;
    m.u.changes.cursor = 77;
    m.u.changes.changes = ch;
    m.u.changes.count = N;
    size_t len[2];
    for (uint32_t v = 1; v <= 2; v++) {
        session ss;
        session_init(&ss);
        ss.ccfg.vmax = v; /* the client's newest version */
        session_channels(&ss);
        handshake(&ss);
        CHECK_EQ_INT(fs_channel_version(ss.c), v);
        CHECK_EQ_INT(fs_channel_version(ss.s), v);
        fs_buf enc;
        fs_buf_init(&enc);
        CHECK_OK(fs_msg_encode_v(&m, v, &enc));
        frame f = seal(ss.s, &m);
        CHECK_EQ_INT(f.n, enc.len + crypto_secretstream_xchacha20poly1305_ABYTES);
        len[v - 1] = f.n;
        fs_msg *got = NULL;
        frame none = {NULL, 0};
        CHECK_OK(feed_frame(ss.c, &f, &none, &got));
        CHECK(got != NULL);
        CHECK_EQ_INT(got->type, FS_MSG_CHANGES);
        CHECK_EQ_INT(got->u.changes.count, N);
        for (int i = 0; i < N; i++) {
            const fs_change *g = &got->u.changes.changes[i];
            int k = 0;
            while (k < N && memcmp(ch[k].row, g->row, FS_ID_BYTES) != 0)
                k++;
            CHECK(k < N);
            CHECK_EQ_INT(g->value.n, ch[k].value.n);
            CHECK_MEM(g->value.p, ch[k].value.p, ch[k].value.n);
        }
        fs_msg_free(got);
        frame_free(&f);
        frame_free(&none);
        fs_buf_free(&enc);
        session_free(&ss);
    }
    printf("%d changes: version 1 frame %zu bytes, version 2 frame %zu bytes\n", N, len[0], len[1]);
    CHECK(len[1] * 2 < len[0]);
    teardown();
}

static void test_no_common_version(void)
{
    setup();
    session ss;

    /* The offer edited to 2..2: the server speaks only 1. */
    session_init(&ss);
    session_channels(&ss);
    ss.hello = start(ss.c);
    check_hello_layout(&ss.hello, FS_PROTO_VERSION_MIN, FS_PROTO_VERSION);
    ss.hello.p[2] = ss.hello.p[3] = (uint8_t)(FS_PROTO_VERSION + 1);
    int rc = feed_frame(ss.s, &ss.hello, &ss.welcome, NULL);
    check_dead(ss.s, rc, FS_EUNSUPPORTED, FS_REASON_VERSION, &ss.hello);
    /* Whatever the server answered, the client does not open on it. */
    if (ss.welcome.n > 0) {
        fs_msg *m = NULL;
        feed_frame(ss.c, &ss.welcome, NULL, &m);
        fs_msg_free(m);
        CHECK(fs_channel_state_get(ss.c) != FS_CHANNEL_OPEN);
    }
    session_free(&ss);

    /* An empty range (vmin > vmax). */
    session_init(&ss);
    session_channels(&ss);
    ss.hello = start(ss.c);
    ss.hello.p[2] = (uint8_t)(FS_PROTO_VERSION + 1);
    rc = feed_frame(ss.s, &ss.hello, &ss.welcome, NULL);
    CHECK(rc == FS_EUNSUPPORTED || rc == FS_EMALFORMED);
    session_free(&ss);

    /* Through the configuration, where the build permits it. */
    session_init(&ss);
    ss.ccfg.vmin = ss.ccfg.vmax = FS_PROTO_VERSION + 1;
    fs_channel *probe = NULL;
    if (fs_channel_new(&probe, &ss.ccfg) == 0) {
        fs_channel_free(probe);
        session_channels(&ss);
        ss.hello = start(ss.c);
        rc = feed_frame(ss.s, &ss.hello, &ss.welcome, NULL);
        check_dead(ss.s, rc, FS_EUNSUPPORTED, FS_REASON_VERSION, NULL);
    }
    session_free(&ss);
    teardown();
}

/* A plaintext ERROR in place of WELCOME is unauthenticated: it may end the
 * handshake, but it cannot pass for a revocation (only a sealed WIPE is). A
 * genuine "no common version" reads as FS_EUNSUPPORTED. */
static void test_forged_plaintext_refusal(void)
{
    setup();
    static const struct {
        uint32_t sent;
        int want_rc;
        uint32_t want_reason;
    } cases[] = {
        {FS_REASON_REVOKED, FS_EAUTH, FS_REASON_AUTH},
        {FS_REASON_SCOPE, FS_EAUTH, FS_REASON_AUTH},
        {FS_REASON_VERSION, FS_EUNSUPPORTED, FS_REASON_VERSION},
        {FS_REASON_MALFORMED, FS_EAUTH, FS_REASON_MALFORMED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        session ss;
        session_init(&ss);
        session_channels(&ss);
        ss.hello = start(ss.c);
        fs_msg e;
        fs_buf out;
        memset(&e, 0, sizeof e);
        fs_buf_init(&out);
        e.type = FS_MSG_ERROR;
        e.u.error.reason = cases[i].sent;
        e.u.error.text = "forged";
        e.u.error.text_len = 6;
        CHECK_OK(fs_msg_encode(&e, &out));
        fs_msg *m = NULL;
        int rc = feed(ss.c, out.data, out.len, NULL, &m);
        CHECK(m == NULL);
        CHECK_EQ_INT(rc, cases[i].want_rc);
        CHECK_EQ_INT(fs_channel_reason(ss.c), cases[i].want_reason);
        fs_buf_free(&out);
        session_free(&ss);
    }
    teardown();
}

/* An ending always says why: reason 0 is neither sent nor accepted. */
static void test_endings_need_a_reason(void)
{
    setup();
    session ss;
    session_open(&ss);
    fs_msg e;
    fs_buf out;
    memset(&e, 0, sizeof e);
    fs_buf_init(&out);
    e.type = FS_MSG_ERROR;
    e.u.error.reason = 0;
    CHECK_ERR(fs_channel_send(ss.s, &e, &out), FS_EINVAL);
    CHECK_EQ_INT(out.len, 0);
    e.type = FS_MSG_WIPE;
    e.u.wipe.reason = 0;
    CHECK_ERR(fs_channel_send(ss.s, &e, &out), FS_EINVAL);
    CHECK_EQ_INT(fs_channel_state_get(ss.s), FS_CHANNEL_OPEN); /* nothing was sent */
    fs_msg *m = NULL;
    static const uint8_t error0[] = {0x93, FS_MSG_ERROR, 0x00, 0xA0}; /* [18, 0, ""] */
    CHECK_ERR(fs_msg_decode(error0, sizeof error0, NULL, &m, NULL, 0), FS_EMALFORMED);
    static const uint8_t wipe0[] = {0x92, FS_MSG_WIPE, 0x00}; /* [17, 0] */
    CHECK_ERR(fs_msg_decode(wipe0, sizeof wipe0, NULL, &m, NULL, 0), FS_EMALFORMED);
    CHECK(m == NULL);
    fs_buf_free(&out);
    session_free(&ss);
    teardown();
}

/* ---- tests: messages out of place ---------------------------------------------- */

static void test_unexpected_messages(void)
{
    setup();
    session ss;
    fs_change changes[NCHANGES];
    sample_changes(changes);
    fs_msg push = msg_push(changes, 1, 1, 1);
    fs_buf out;
    fs_buf_init(&out);

    /* Sending before the session is open. */
    session_init(&ss);
    session_channels(&ss);
    CHECK_ERR(fs_channel_send(ss.c, &push, &out), FS_ECLOSED);
    CHECK_EQ_INT(out.len, 0);
    CHECK_ERR(fs_channel_send(ss.s, &push, &out), FS_ECLOSED);
    CHECK_EQ_INT(out.len, 0);
    session_free(&ss);

    /* A plaintext PUSH where HELLO belongs. */
    session_init(&ss);
    session_channels(&ss);
    CHECK_OK(fs_msg_encode(&push, &out));
    int rc = feed(ss.s, out.data, out.len, NULL, NULL);
    CHECK(rc < 0);
    CHECK(fs_channel_reason(ss.s) == FS_REASON_STATE || fs_channel_reason(ss.s) == FS_REASON_FRAME);
    fs_buf_reset(&out);
    /* A HELLO where the client waits for WELCOME. */
    ss.hello = start(ss.c);
    rc = feed_frame(ss.c, &ss.hello, NULL, NULL);
    CHECK(rc < 0);
    CHECK(fs_channel_reason(ss.c) == FS_REASON_STATE || fs_channel_reason(ss.c) == FS_REASON_FRAME);
    session_free(&ss);

    /* A second HELLO where AUTH belongs; a second WELCOME where READY does. */
    session_init(&ss);
    session_channels(&ss);
    ss.hello = start(ss.c);
    CHECK_OK(feed_frame(ss.s, &ss.hello, &ss.welcome, NULL));
    rc = feed_frame(ss.s, &ss.hello, NULL, NULL);
    CHECK(rc < 0);
    CHECK(fs_channel_reason(ss.s) == FS_REASON_STATE || fs_channel_reason(ss.s) == FS_REASON_FRAME);
    CHECK_OK(feed_frame(ss.c, &ss.welcome, &ss.auth, NULL));
    rc = feed_frame(ss.c, &ss.welcome, NULL, NULL);
    CHECK(rc < 0);
    CHECK(fs_channel_reason(ss.c) == FS_REASON_STATE || fs_channel_reason(ss.c) == FS_REASON_FRAME);
    session_free(&ss);

    /* A plaintext HELLO after the session is open. */
    session_open(&ss);
    rc = feed_frame(ss.s, &ss.hello, NULL, NULL);
    CHECK(rc < 0);
    CHECK(fs_channel_reason(ss.s) == FS_REASON_STATE || fs_channel_reason(ss.s) == FS_REASON_FRAME);
    session_free(&ss);

    /* Handshake messages sealed inside an open session, if send lets them
     * through: the receiver refuses them as out of place. */
    fs_msg hs[3];
    memset(hs, 0, sizeof hs);
    hs[0].type = FS_MSG_HELLO;
    hs[0].u.hello.vmin = hs[0].u.hello.vmax = FS_PROTO_VERSION;
    hs[1].type = FS_MSG_AUTH;
    memcpy(hs[1].u.auth.device_pk, device_id->pk, 32);
    hs[2].type = FS_MSG_READY;
    for (int i = 0; i < 3; i++) {
        session_open(&ss);
        fs_channel *from = i == 2 ? ss.s : ss.c, *to = i == 2 ? ss.c : ss.s;
        fs_buf_reset(&out);
        if (fs_channel_send(from, &hs[i], &out) == 0) {
            rc = feed(to, out.data, out.len, NULL, NULL);
            if (rc == 0)
                FAIL("a sealed handshake message of type %d was accepted in an open session",
                     (int)hs[i].type);
            CHECK_EQ_INT(fs_channel_reason(to), FS_REASON_STATE);
        }
        session_free(&ss);
    }

    /* Messages travelling the wrong way: a PUSH to the client, an ACK to
     * the server. */
    session_open(&ss);
    frame f = seal(ss.s, &push);
    rc = feed_frame(ss.c, &f, NULL, NULL);
    CHECK(rc < 0);
    CHECK_EQ_INT(fs_channel_reason(ss.c), FS_REASON_STATE);
    frame_free(&f);
    session_free(&ss);
    session_open(&ss);
    fs_msg ack = msg_ack(3);
    f = seal(ss.c, &ack);
    rc = feed_frame(ss.s, &f, NULL, NULL);
    CHECK(rc < 0);
    CHECK_EQ_INT(fs_channel_reason(ss.s), FS_REASON_STATE);
    frame_free(&f);
    session_free(&ss);
    fs_buf_free(&out);
    teardown();
}

/* ---- tests: enrollment ---------------------------------------------------------- */

static void enroll_request(fs_enroll_request *req, const char *code, const uint8_t *pk)
{
    memset(req, 0, sizeof *req);
    snprintf(req->code, sizeof req->code, "%s", code);
    memcpy(req->device_pk, pk, FS_SIGN_PK_BYTES);
    snprintf(req->device_name, sizeof req->device_name, "%s", "李娜的笔记本 ThinkPad X1");
}

static void test_enrollment(void)
{
    setup();
    session ss;
    fs_enroll_request req;
    enroll_request(&req, "QX7-2941-KD", device_id->pk);
    session_init(&ss);
    ss.reg.nknown = 0; /* not known until enrolled */
    ss.reg.code = "QX7-2941-KD";
    ss.ccfg.enroll = &req;
    session_channels(&ss);
    handshake(&ss);
    CHECK_EQ_INT(ss.reg.enroll_calls, 1);
    CHECK_STR(ss.reg.last.code, "QX7-2941-KD");
    CHECK_MEM(ss.reg.last.device_pk, device_id->pk, FS_SIGN_PK_BYTES);
    CHECK_STR(ss.reg.last.device_name, req.device_name);
    CHECK_MEM(fs_channel_peer(ss.s), device_id->pk, FS_SIGN_PK_BYTES);
    /* The enrolled session works. */
    fs_msg m = msg_ack(0);
    fs_msg_free(transfer(ss.s, ss.c, &m));
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_PULL;
    m.u.pull.max = 10;
    fs_msg_free(transfer(ss.c, ss.s, &m));
    /* The code is not in the clear on the wire. */
    CHECK(!find_bytes(ss.auth.p, ss.auth.n, "QX7-2941", 8));
    session_free(&ss);

    /* And the device, now known, authenticates normally next time. */
    session ss2;
    session_init(&ss2);
    session_channels(&ss2);
    handshake(&ss2);
    session_free(&ss2);
    teardown();
}

static int device_user_calls;

static int device_user(void *ctx, const uint8_t pk[FS_SIGN_PK_BYTES], char user[FS_USER_MAX + 1],
                       char team[FS_USER_MAX + 1], uint32_t *role)
{
    (void)ctx;
    (void)pk;
    device_user_calls++;
    *role = FS_READY_ROLE_MANAGER;
    snprintf(user, FS_USER_MAX + 1, "%s", "张伟");
    snprintf(team, FS_USER_MAX + 1, "%s", "east");
    return 0;
}

/* The user's READY at protocol version vmax: whether it names the user. */
static void ready_at(uint32_t vmax, int enroll, int want_named)
{
    session ss;
    fs_enroll_request req;
    enroll_request(&req, "QX7-2941-KD", device_id->pk);
    session_init(&ss);
    ss.scfg.device_user = device_user;
    ss.ccfg.vmax = vmax;
    if (enroll) {
        ss.reg.nknown = 0;
        ss.reg.code = "QX7-2941-KD";
        ss.ccfg.enroll = &req;
    }
    session_channels(&ss);
    fs_msg *m = NULL;
    ss.hello = start(ss.c);
    CHECK_OK(feed_frame(ss.s, &ss.hello, &ss.welcome, &m));
    CHECK_OK(feed_frame(ss.c, &ss.welcome, &ss.auth, &m));
    CHECK_OK(feed_frame(ss.s, &ss.auth, &ss.ready, &m));
    CHECK_EQ_INT(fs_channel_version(ss.s), vmax);
    CHECK_OK(feed_frame(ss.c, &ss.ready, NULL, &m));
    CHECK(m != NULL);
    CHECK_EQ_INT(m->type, FS_MSG_READY);
    CHECK_EQ_INT(m->u.ready.server_time_ms, SERVER_TIME);
    if (want_named) {
        CHECK(m->u.ready.user != NULL);
        CHECK_EQ_INT(m->u.ready.user_len, strlen("张伟"));
        CHECK_MEM(m->u.ready.user, "张伟", m->u.ready.user_len);
        CHECK_EQ_INT(m->u.ready.team_len, 4);
        CHECK_MEM(m->u.ready.team, "east", 4);
        CHECK_EQ_INT(m->u.ready.role, vmax >= FS_PROTO_VERSION_ROLE ? FS_READY_ROLE_MANAGER : 0);
    } else {
        CHECK(m->u.ready.user == NULL);
        CHECK(m->u.ready.team == NULL);
    }
    fs_msg_free(m);
    session_free(&ss);
}

/* READY names the device's user and team from protocol version 3, after an
 * enrollment and at every handshake; a client of version 1 or 2 (whose
 * decoder wants READY's three fields exactly) gets the old READY. */
static void test_ready_names_user(void)
{
    setup();
    device_user_calls = 0;
    ready_at(FS_PROTO_VERSION_USER, 1, 1);
    ready_at(FS_PROTO_VERSION_USER, 0, 1);
    CHECK_EQ_INT(device_user_calls, 2);
    ready_at(FS_PROTO_VERSION_ROLE, 0, 1); /* and the role from version 4 */
    CHECK_EQ_INT(device_user_calls, 3);
    ready_at(FS_PROTO_VERSION_USER - 1, 1, 0);
    ready_at(1, 0, 0);
    CHECK_EQ_INT(device_user_calls, 3); /* not even asked for an older peer */
    teardown();
}

static void test_enrollment_refused(void)
{
    setup();
    session ss;
    fs_enroll_request req;

    /* A wrong code. */
    enroll_request(&req, "WRONG-CODE", device_id->pk);
    session_init(&ss);
    ss.reg.nknown = 0;
    ss.reg.code = "QX7-2941-KD";
    ss.ccfg.enroll = &req;
    session_channels(&ss);
    ss.hello = start(ss.c);
    CHECK_OK(feed_frame(ss.s, &ss.hello, &ss.welcome, NULL));
    CHECK_OK(feed_frame(ss.c, &ss.welcome, &ss.auth, NULL));
    int rc = feed_frame(ss.s, &ss.auth, &ss.ready, NULL);
    CHECK(rc < 0);
    check_dead(ss.s, rc, rc, FS_REASON_ENROLL, NULL);
    CHECK_EQ_INT(ss.reg.enroll_calls, 1);
    CHECK_EQ_INT(ss.reg.nknown, 0);
    if (ss.ready.n > 0) {
        fs_msg *m = NULL;
        feed_frame(ss.c, &ss.ready, NULL, &m);
        CHECK(m != NULL);
        CHECK_EQ_INT(m->type, FS_MSG_ERROR);
        CHECK_EQ_INT(m->u.error.reason, FS_REASON_ENROLL);
        fs_msg_free(m);
    }
    CHECK(fs_channel_state_get(ss.c) != FS_CHANNEL_OPEN);
    session_free(&ss);

    /* A server that takes no enrollments. */
    enroll_request(&req, "QX7-2941-KD", device_id->pk);
    session_init(&ss);
    ss.reg.nknown = 0;
    ss.scfg.enroll_device = NULL;
    ss.ccfg.enroll = &req;
    session_channels(&ss);
    ss.hello = start(ss.c);
    CHECK_OK(feed_frame(ss.s, &ss.hello, &ss.welcome, NULL));
    CHECK_OK(feed_frame(ss.c, &ss.welcome, &ss.auth, NULL));
    rc = feed_frame(ss.s, &ss.auth, &ss.ready, NULL);
    CHECK(rc < 0);
    check_dead(ss.s, rc, rc, FS_REASON_ENROLL, NULL);
    session_free(&ss);

    /* A request naming another key than the one that signs the handshake. */
    enroll_request(&req, "QX7-2941-KD", other_id->pk);
    session_init(&ss);
    ss.reg.nknown = 0;
    ss.reg.code = "QX7-2941-KD";
    ss.ccfg.enroll = &req;
    CHECK_OK(fs_channel_new(&ss.s, &ss.scfg));
    rc = fs_channel_new(&ss.c, &ss.ccfg);
    if (rc == 0) {
        ss.hello = start(ss.c);
        CHECK_OK(feed_frame(ss.s, &ss.hello, &ss.welcome, NULL));
        rc = feed_frame(ss.c, &ss.welcome, &ss.auth, NULL);
        if (rc == 0) {
            rc = feed_frame(ss.s, &ss.auth, &ss.ready, NULL);
            if (rc == 0)
                FAIL("server enrolled a request whose key did not sign the handshake");
            CHECK(fs_channel_reason(ss.s) == FS_REASON_ENROLL ||
                  fs_channel_reason(ss.s) == FS_REASON_AUTH);
        }
    } else {
        CHECK_EQ_INT(rc, FS_EINVAL);
    }
    CHECK_EQ_INT(ss.reg.nknown, 0);
    session_free(&ss);
    teardown();
}

static int policy_calls;

/* The server's passphrase rule for the registry's code, spending nothing. */
static int enroll_policy(void *ctx, const fs_enroll_request *req, uint32_t *min_chars,
                         uint32_t *min_words, char team[FS_USER_MAX + 1])
{
    registry *reg = ctx;
    policy_calls++;
    if (reg->code == NULL || strcmp(req->code, reg->code) != 0)
        return FS_EAUTH;
    *min_chars = 16;
    *min_words = 5;
    snprintf(team, FS_USER_MAX + 1, "%s", "华北");
    return 0;
}

/* POLICY_ASK (protocol version 8, issue 20.7): a device about to enroll
 * learns its team's passphrase rule, the code unspent and the device not
 * enrolled; both channels are closed after POLICY, the client's by the
 * final frame, the server's by its own hand (no truncation either side). A
 * wrong code gets ERROR ENROLL. A server of version 7 is never sent
 * POLICY_ASK: the client stops after WELCOME with FS_EUNSUPPORTED (and
 * the encoder would refuse it for that session: test_msg). */
static void test_policy_ask(void)
{
    setup();
    session ss;
    fs_enroll_request req;
    fs_msg *m = NULL;
    enroll_request(&req, "QX7-2941-KD", device_id->pk);
    session_init(&ss);
    ss.reg.nknown = 0;
    ss.reg.code = "QX7-2941-KD";
    ss.scfg.enroll_policy = enroll_policy;
    ss.ccfg.enroll = &req;
    ss.ccfg.ask_policy = 1;
    policy_calls = 0;
    session_channels(&ss);
    ss.hello = start(ss.c);
    CHECK_OK(feed_frame(ss.s, &ss.hello, &ss.welcome, NULL));
    CHECK_OK(feed_frame(ss.c, &ss.welcome, &ss.auth, NULL));
    CHECK(!find_bytes(ss.auth.p, ss.auth.n, "QX7-2941", 8)); /* sealed */
    CHECK_OK(feed_frame(ss.s, &ss.auth, &ss.ready, &m));
    CHECK(m == NULL);
    CHECK_EQ_INT(policy_calls, 1);
    CHECK_EQ_INT(ss.reg.enroll_calls, 0); /* not redeemed */
    CHECK_EQ_INT(ss.reg.nknown, 0);
    CHECK_EQ_INT(fs_channel_state_get(ss.s), FS_CHANNEL_CLOSED);
    CHECK_OK(fs_channel_finish(ss.s));
    CHECK_OK(feed_frame(ss.c, &ss.ready, NULL, &m));
    CHECK(m != NULL);
    CHECK_EQ_INT(m->type, FS_MSG_POLICY);
    CHECK_EQ_INT(m->u.policy.min_chars, 16);
    CHECK_EQ_INT(m->u.policy.min_words, 5);
    CHECK_EQ_INT(m->u.policy.team_len, strlen("华北"));
    CHECK_MEM(m->u.policy.team, "华北", m->u.policy.team_len);
    fs_msg_free(m);
    CHECK_EQ_INT(fs_channel_state_get(ss.c), FS_CHANNEL_CLOSED);
    CHECK_OK(fs_channel_finish(ss.c));
    session_free(&ss);

    /* a wrong code: refused as an enrollment is */
    enroll_request(&req, "WRONG-CODE", device_id->pk);
    session_init(&ss);
    ss.reg.code = "QX7-2941-KD";
    ss.scfg.enroll_policy = enroll_policy;
    ss.ccfg.enroll = &req;
    ss.ccfg.ask_policy = 1;
    session_channels(&ss);
    ss.hello = start(ss.c);
    CHECK_OK(feed_frame(ss.s, &ss.hello, &ss.welcome, NULL));
    CHECK_OK(feed_frame(ss.c, &ss.welcome, &ss.auth, NULL));
    int rc = feed_frame(ss.s, &ss.auth, &ss.ready, NULL);
    check_dead(ss.s, rc, FS_EAUTH, FS_REASON_ENROLL, NULL);
    rc = feed_frame(ss.c, &ss.ready, NULL, &m);
    CHECK(m != NULL && m->type == FS_MSG_ERROR);
    fs_msg_free(m);
    check_dead(ss.c, rc, FS_EAUTH, FS_REASON_ENROLL, NULL);
    session_free(&ss);

    /* a server of version 7: the client asks nothing, sends nothing */
    enroll_request(&req, "QX7-2941-KD", device_id->pk);
    session_init(&ss);
    ss.reg.code = "QX7-2941-KD";
    ss.scfg.enroll_policy = enroll_policy;
    ss.scfg.vmax = FS_PROTO_VERSION_PASSPOLICY - 1;
    ss.ccfg.enroll = &req;
    ss.ccfg.ask_policy = 1;
    policy_calls = 0;
    session_channels(&ss);
    ss.hello = start(ss.c);
    CHECK_OK(feed_frame(ss.s, &ss.hello, &ss.welcome, NULL));
    rc = feed_frame(ss.c, &ss.welcome, &ss.auth, NULL);
    check_dead(ss.c, rc, FS_EUNSUPPORTED, FS_REASON_VERSION, NULL);
    CHECK_EQ_INT(ss.auth.n, 0);
    CHECK_EQ_INT(policy_calls, 0);
    session_free(&ss);

    teardown();
}

static void test_enroll_seal_open(void)
{
    setup();
    fs_enroll_request req, got;
    fs_buf sealed, again;
    enroll_request(&req, "QX7-2941-KD", device_id->pk);
    fs_buf_init(&sealed);
    fs_buf_init(&again);
    CHECK_OK(fs_enroll_seal(server_id->pk, &req, &sealed));
    CHECK(sealed.len > crypto_box_SEALBYTES);
    CHECK(!find_bytes(sealed.data, sealed.len, "QX7-2941", 8));
    CHECK_OK(fs_enroll_open(server_id, sealed.data, sealed.len, &got));
    CHECK_STR(got.code, req.code);
    CHECK_MEM(got.device_pk, req.device_pk, FS_SIGN_PK_BYTES);
    CHECK_STR(got.device_name, req.device_name);

    /* Sealing is randomised. */
    CHECK_OK(fs_enroll_seal(server_id->pk, &req, &again));
    CHECK(again.len != sealed.len || memcmp(again.data, sealed.data, sealed.len) != 0);

    /* Appends: what was in the buffer stays. */
    fs_buf_reset(&again);
    CHECK_OK(fs_buf_append(&again, "xy", 2));
    CHECK_OK(fs_enroll_seal(server_id->pk, &req, &again));
    CHECK_EQ_INT(again.len, sealed.len + 2);
    CHECK_MEM(again.data, "xy", 2);
    CHECK_OK(fs_enroll_open(server_id, again.data + 2, again.len - 2, &got));

    /* Another server cannot open it; a failure leaves nothing in *out. */
    memset(&got, 0xaa, sizeof got);
    CHECK_ERR(fs_enroll_open(other_id, sealed.data, sealed.len, &got), FS_EAUTH);
    fs_enroll_request zero;
    memset(&zero, 0, sizeof zero);
    CHECK_MEM(&got, &zero, sizeof got);

    /* Any bit flipped, cut, empty. */
    for (size_t i = 0; i < sealed.len; i++) {
        sealed.data[i] ^= (uint8_t)(1u << (i % 8));
        int rc = fs_enroll_open(server_id, sealed.data, sealed.len, &got);
        if (rc != FS_EAUTH)
            FAIL("sealed request with byte %zu flipped: %s, expected FS_EAUTH", i, fs_errname(rc));
        sealed.data[i] ^= (uint8_t)(1u << (i % 8));
    }
    CHECK_ERR(fs_enroll_open(server_id, sealed.data, sealed.len - 1, &got), FS_EAUTH);
    /* Shorter than any sealed box: either code says "not a request". */
    int rc = fs_enroll_open(server_id, sealed.data, crypto_box_SEALBYTES - 1, &got);
    CHECK(rc == FS_EAUTH || rc == FS_EMALFORMED);
    rc = fs_enroll_open(server_id, sealed.data, 0, &got);
    CHECK(rc == FS_EAUTH || rc == FS_EMALFORMED);

    /* Something sealed to the server that is not a request. */
    uint8_t xpk[crypto_box_PUBLICKEYBYTES], box[crypto_box_SEALBYTES + 13];
    CHECK(crypto_sign_ed25519_pk_to_curve25519(xpk, server_id->pk) == 0);
    CHECK(crypto_box_seal(box, (const unsigned char *)"not a request", 13, xpk) == 0);
    CHECK_ERR(fs_enroll_open(server_id, box, sizeof box, &got), FS_EMALFORMED);
    uint8_t empty_box[crypto_box_SEALBYTES];
    CHECK(crypto_box_seal(empty_box, (const unsigned char *)"", 0, xpk) == 0);
    CHECK_ERR(fs_enroll_open(server_id, empty_box, sizeof empty_box, &got), FS_EMALFORMED);

    fs_buf_free(&sealed);
    fs_buf_free(&again);
    teardown();
}

/* ---- tests: forward secrecy, limits, garbage ------------------------------------ */

static void test_forward_secrecy(void)
{
    setup();
    session a, b;
    fs_change changes[NCHANGES];
    sample_changes(changes);
    session_open(&a);
    session_open(&b);
    fs_msg push = msg_push(changes, NCHANGES, 1, NCHANGES);
    frame fa = seal(a.c, &push), fb = seal(b.c, &push);
    CHECK_EQ_INT(fa.n, fb.n);
    CHECK(memcmp(fa.p, fb.p, fa.n) != 0);
    /* Fresh ephemeral keys each time. */
    CHECK(memcmp(a.hello.p + 6, b.hello.p + 6, 32) != 0);
    CHECK(memcmp(a.welcome.p + WELCOME_EPH, b.welcome.p + WELCOME_EPH, 32) != 0);
    CHECK(a.auth.n == b.auth.n && memcmp(a.auth.p, b.auth.p, a.auth.n) != 0);
    CHECK(a.ready.n == b.ready.n && memcmp(a.ready.p, b.ready.p, a.ready.n) != 0);
    /* No plaintext of the change on the wire. */
    CHECK(!find_bytes(fa.p, fa.n, "王经理", strlen("王经理")));
    frame_free(&fa);
    frame_free(&fb);
    session_free(&a);
    session_free(&b);
    teardown();
}

static void test_limits_through_channel(void)
{
    setup();
    session ss;
    fs_change changes[NCHANGES];
    sample_changes(changes);
    fs_proto_limits lim = fs_proto_default_limits;

    /* Too many changes in one batch. */
    lim.max_changes = 3;
    session_init(&ss);
    ss.scfg.limits = &lim;
    session_channels(&ss);
    handshake(&ss);
    fs_msg m = msg_push(changes, 3, 1, 3);
    fs_msg_free(transfer(ss.c, ss.s, &m));
    m = msg_push(changes, 4, 4, 7);
    frame f = seal(ss.c, &m);
    int rc = feed_frame(ss.s, &f, NULL, NULL);
    check_dead(ss.s, rc, FS_ETOOBIG, FS_REASON_TOO_BIG, NULL);
    frame_free(&f);
    session_free(&ss);

    /* A frame over max_frame, refused before it is opened. */
    lim = fs_proto_default_limits;
    lim.max_frame = 300;
    session_init(&ss);
    ss.scfg.limits = &lim;
    session_channels(&ss);
    handshake(&ss);
    m = msg_push(changes, NCHANGES, 1, NCHANGES);
    f = seal(ss.c, &m);
    CHECK(f.n > 300);
    rc = feed_frame(ss.s, &f, NULL, NULL);
    check_dead(ss.s, rc, FS_ETOOBIG, FS_REASON_TOO_BIG, NULL);
    frame_free(&f);
    session_free(&ss);
    teardown();
}

static void test_garbage_frames(void)
{
    setup();
    session ss;
    rng g = {0x9a4ba9e};
    uint8_t buf[700];
    int rc;

    /* Empty frames. */
    session_init(&ss);
    session_channels(&ss);
    rc = feed(ss.s, NULL, 0, NULL, NULL);
    CHECK(rc < 0);
    rc = feed(ss.s, buf, 0, NULL, NULL);
    CHECK_ERR(rc, FS_ECLOSED);
    session_free(&ss);

    /* Random bytes into fresh servers, fresh clients after start, and open
     * sessions (where they are frames that do not open). */
    for (int i = 0; i < 300; i++) {
        size_t n = rng_below(&g, sizeof buf);
        for (size_t k = 0; k < n; k++)
            buf[k] = (uint8_t)rng_next(&g);
        if (i % 3 == 0 && n > 0)
            buf[0] = (uint8_t)(0x90 + rng_below(&g, 16)); /* looks like an array */
        session_init(&ss);
        session_channels(&ss);
        rc = feed(ss.s, buf, n, NULL, NULL);
        if (rc == 0)
            FAIL("server accepted %zu random bytes (round %d)", n, i);
        CHECK(fs_channel_state_get(ss.s) == FS_CHANNEL_CLOSED);
        ss.hello = start(ss.c);
        rc = feed(ss.c, buf, n, NULL, NULL);
        if (rc == 0)
            FAIL("client accepted %zu random bytes as WELCOME (round %d)", n, i);
        session_free(&ss);
        if (i % 10 == 0) {
            session_open(&ss);
            rc = feed(ss.s, buf, n, NULL, NULL);
            CHECK(rc < 0);
            rc = feed(ss.c, buf, n, NULL, NULL);
            CHECK(rc < 0);
            session_free(&ss);
        }
    }

    /* A HELLO with a byte added or cut. */
    session_init(&ss);
    session_channels(&ss);
    ss.hello = start(ss.c);
    memcpy(buf, ss.hello.p, ss.hello.n);
    buf[ss.hello.n] = 0xc0;
    rc = feed(ss.s, buf, ss.hello.n + 1, NULL, NULL);
    check_dead(ss.s, rc, FS_EMALFORMED, FS_REASON_MALFORMED, &ss.hello);
    session_free(&ss);
    session_init(&ss);
    session_channels(&ss);
    ss.hello = start(ss.c);
    rc = feed(ss.s, ss.hello.p, ss.hello.n - 1, NULL, NULL);
    check_dead(ss.s, rc, FS_EMALFORMED, FS_REASON_MALFORMED, &ss.hello);
    session_free(&ss);

    /* A HELLO whose ephemeral key is a low-order point: no shared secret. */
    static const uint8_t low_order[2][32] = {{0}, {1}};
    for (int k = 0; k < 2; k++) {
        session_init(&ss);
        session_channels(&ss);
        ss.hello = start(ss.c);
        memcpy(ss.hello.p + 6, low_order[k], 32);
        rc = feed_frame(ss.s, &ss.hello, &ss.welcome, NULL);
        if (rc == 0)
            FAIL("server accepted a low-order ephemeral key (%d)", k);
        session_free(&ss);
    }

    /* Until the handshake is done, an unauthenticated peer gets small
     * frames only, whatever the limits say; then the limits apply. */
    session_init(&ss);
    session_channels(&ss);
    CHECK_EQ_INT(fs_channel_max_frame(ss.s), FS_HANDSHAKE_MAX_FRAME);
    CHECK_EQ_INT(fs_channel_max_frame(ss.c), FS_HANDSHAKE_MAX_FRAME);
    handshake(&ss);
    CHECK_EQ_INT(fs_channel_max_frame(ss.s), fs_proto_default_limits.max_frame);
    CHECK_EQ_INT(fs_channel_max_frame(ss.c), fs_proto_default_limits.max_frame);
    session_free(&ss);
    uint8_t *hs = calloc(1, FS_HANDSHAKE_MAX_FRAME + 1);
    CHECK(hs != NULL);
    hs[0] = 0x94;
    session_init(&ss);
    session_channels(&ss);
    rc = feed(ss.s, hs, FS_HANDSHAKE_MAX_FRAME + 1, NULL, NULL);
    check_dead(ss.s, rc, FS_ETOOBIG, FS_REASON_TOO_BIG, NULL);
    ss.hello = start(ss.c);
    rc = feed(ss.c, hs, FS_HANDSHAKE_MAX_FRAME + 1, NULL, NULL);
    check_dead(ss.c, rc, FS_ETOOBIG, FS_REASON_TOO_BIG, NULL);
    session_free(&ss);
    /* ... also where AUTH belongs (a sealed frame, before authentication). */
    session_init(&ss);
    session_channels(&ss);
    ss.hello = start(ss.c);
    CHECK_OK(feed_frame(ss.s, &ss.hello, &ss.welcome, NULL));
    rc = feed(ss.s, hs, FS_HANDSHAKE_MAX_FRAME + 1, NULL, NULL);
    check_dead(ss.s, rc, FS_ETOOBIG, FS_REASON_TOO_BIG, NULL);
    session_free(&ss);
    free(hs);

    /* Over the frame limit, with small and with default limits. */
    fs_proto_limits lim = fs_proto_default_limits;
    lim.max_frame = 4096;
    session_init(&ss);
    ss.scfg.limits = &lim;
    session_channels(&ss);
    uint8_t *big = calloc(1, fs_proto_default_limits.max_frame + 1);
    CHECK(big != NULL);
    big[0] = 0x94;
    rc = feed(ss.s, big, 4097, NULL, NULL);
    check_dead(ss.s, rc, FS_ETOOBIG, FS_REASON_TOO_BIG, NULL);
    session_free(&ss);
    session_init(&ss);
    session_channels(&ss);
    rc = feed(ss.s, big, fs_proto_default_limits.max_frame + 1, NULL, NULL);
    check_dead(ss.s, rc, FS_ETOOBIG, FS_REASON_TOO_BIG, NULL);
    session_free(&ss);
    session_open(&ss);
    rc = feed(ss.c, big, fs_proto_default_limits.max_frame + 1, NULL, NULL);
    check_dead(ss.c, rc, FS_ETOOBIG, FS_REASON_TOO_BIG, NULL);
    session_free(&ss);
    free(big);
    teardown();
}

TEST_LIST(TEST(identity_from_seed) TEST(happy_path) TEST(bye_from_server) TEST(truncated_session)
              TEST(wrong_server_key) TEST(tampered_welcome) TEST(tampered_hello)
                  TEST(unknown_device) TEST(revoked_device_gets_wipe) TEST(error_from_server)
                      TEST(tampered_auth) TEST(sealed_frame_attacks)
                          TEST(every_byte_of_a_sealed_frame) TEST(frames_from_another_session)
                              TEST(version_downgrade) TEST(version_1_peer_gets_plain_batches)
                                  TEST(no_common_version) TEST(forged_plaintext_refusal)
                                      TEST(endings_need_a_reason) TEST(unexpected_messages)
                                          TEST(enrollment) TEST(policy_ask) TEST(ready_names_user)
                                              TEST(enrollment_refused) TEST(enroll_seal_open)
                                                  TEST(forward_secrecy) TEST(limits_through_channel)
                                                      TEST(garbage_frames))
