/*
 * The secure channel state machine (protocol description in
 * fieldsync/channel.h). Key material — ephemeral secrets, session keys,
 * secretstream states — lives in one sodium_malloc'd block, wiped when the
 * session keys are derived (ephemeral) or when the channel is freed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "channel_int.h"
#include "fieldsync/channel.h"
#include "fieldsync/clock.h"
#include "fieldsync/error.h"
#include "mpread.h"

#define HDR crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define TAG_FINAL crypto_secretstream_xchacha20poly1305_TAG_FINAL
#define TAG_MESSAGE crypto_secretstream_xchacha20poly1305_TAG_MESSAGE

typedef struct secrets {
    unsigned char eph_sk[crypto_kx_SECRETKEYBYTES];
    unsigned char rx_key[32], tx_key[32];
    crypto_secretstream_xchacha20poly1305_state rx, tx;
} secrets;

enum phase {
    CLIENT_NEW,        /* before fs_channel_start */
    CLIENT_WELCOME,    /* HELLO sent, waiting for WELCOME */
    CLIENT_READY,      /* AUTH sent, waiting for READY */
    SERVER_HELLO,      /* waiting for HELLO */
    SERVER_AUTH,       /* WELCOME sent, waiting for AUTH or ENROLL */
    OPEN
};

struct fs_channel {
    fs_channel_config cfg;
    fs_proto_limits lim;
    fs_channel_state state;
    enum phase phase;
    uint32_t version;
    uint8_t eph_pk[crypto_kx_PUBLICKEYBYTES];
    uint8_t t1[32];
    uint8_t peer[FS_SIGN_PK_BYTES];
    int have_peer;
    int rx_started, tx_started, got_final;
    uint32_t reason;
    uint32_t noted; /* the reason note() recorded */
    secrets *sec;
    fs_buf plain;
    char errmsg[160];
};

static const char label_server[] = "fieldsync/1 server signs T1";
static const char label_device[] = "fieldsync/1 device signs T2";

/* ---- enrollment ---- */

static int pack_request(const fs_enroll_request *req, fs_buf *out)
{
    size_t code = strnlen(req->code, sizeof req->code);
    size_t name = strnlen(req->device_name, sizeof req->device_name);
    if (code == 0 || code == sizeof req->code || name == sizeof req->device_name)
        return FS_EINVAL;
    /* [code (str), device key (bin32), name (str)] in msgpack, by hand: the
     * fields are short, so fixed headers suffice. */
    uint8_t hdr[3] = {0x93, 0xD9, (uint8_t)code};
    uint8_t bin[2] = {0xC4, FS_SIGN_PK_BYTES};
    uint8_t nh[2] = {0xD9, (uint8_t)name};
    int rc = fs_buf_append(out, hdr, 3);
    if (rc == 0)
        rc = fs_buf_append(out, req->code, code);
    if (rc == 0)
        rc = fs_buf_append(out, bin, 2);
    if (rc == 0)
        rc = fs_buf_append(out, req->device_pk, FS_SIGN_PK_BYTES);
    if (rc == 0)
        rc = fs_buf_append(out, nh, 2);
    if (rc == 0)
        rc = fs_buf_append(out, req->device_name, name);
    return rc;
}

int fs_enroll_seal(const uint8_t server_pk[FS_SIGN_PK_BYTES], const fs_enroll_request *req,
                   fs_buf *out)
{
    uint8_t xpk[crypto_box_PUBLICKEYBYTES];
    fs_buf plain;
    fs_buf_init(&plain);
    if (crypto_sign_ed25519_pk_to_curve25519(xpk, server_pk) != 0)
        return FS_EINVAL;
    int rc = pack_request(req, &plain);
    if (rc == 0)
        rc = fs_buf_reserve(out, plain.len + crypto_box_SEALBYTES);
    if (rc == 0) {
        crypto_box_seal(out->data + out->len, plain.data, plain.len, xpk);
        out->len += plain.len + crypto_box_SEALBYTES;
    }
    fs_buf_free(&plain);
    return rc;
}

int fs_enroll_open(const fs_identity *server, const uint8_t *sealed, size_t n,
                   fs_enroll_request *out)
{
    memset(out, 0, sizeof *out);
    if (n < crypto_box_SEALBYTES || n > 1024)
        return FS_EMALFORMED;
    unsigned char *xsk = sodium_malloc(crypto_box_SECRETKEYBYTES);
    uint8_t xpk[crypto_box_PUBLICKEYBYTES];
    uint8_t plain[1024];
    if (xsk == NULL)
        return FS_ENOMEM;
    int rc = 0;
    if (crypto_sign_ed25519_sk_to_curve25519(xsk, server->sk) != 0 ||
        crypto_sign_ed25519_pk_to_curve25519(xpk, server->pk) != 0 ||
        crypto_box_seal_open(plain, sealed, n, xpk, xsk) != 0)
        rc = FS_EAUTH;
    sodium_free(xsk);
    if (rc != 0)
        return rc;
    fs__mp r;
    const char *code, *name;
    size_t code_len, name_len;
    fs__mp_init(&r, plain, n - crypto_box_SEALBYTES, &fs_proto_default_limits);
    if (fs__mp_array_of(&r, 3, "enrollment request") == 0 &&
        fs__mp_str(&r, &code, &code_len, "enrollment code") == 0 &&
        fs__mp_bin_exact(&r, out->device_pk, FS_SIGN_PK_BYTES, "device key") == 0 &&
        fs__mp_str(&r, &name, &name_len, "device name") == 0 && fs__mp_done(&r) &&
        code_len > 0 && code_len < sizeof out->code && name_len < sizeof out->device_name &&
        memchr(code, 0, code_len) == NULL && memchr(name, 0, name_len) == NULL) {
        memcpy(out->code, code, code_len);
        memcpy(out->device_name, name, name_len);
    } else {
        rc = FS_EMALFORMED;
        memset(out, 0, sizeof *out);
    }
    sodium_memzero(plain, sizeof plain);
    return rc;
}

/* ---- state ---- */

__attribute__((format(printf, 4, 5))) static int fail(fs_channel *ch, int code, uint32_t reason,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ch->errmsg, sizeof ch->errmsg, fmt, ap);
    va_end(ap);
    ch->state = FS_CHANNEL_CLOSED;
    if (ch->reason == 0)
        ch->reason = reason;
    if (ch->sec != NULL) /* nothing more will be sealed or opened */
        sodium_memzero(ch->sec, sizeof *ch->sec);
    return code;
}

/* Why a received frame cannot be taken, without ending the session yet: the
 * caller ends it, telling the peer (refuse) while it can still seal. */
__attribute__((format(printf, 4, 5))) static int note(fs_channel *ch, int code, uint32_t reason,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ch->errmsg, sizeof ch->errmsg, fmt, ap);
    va_end(ap);
    ch->noted = reason;
    return code;
}

int fs_channel_new(fs_channel **out, const fs_channel_config *cfg)
{
    *out = NULL;
    if (sodium_init() < 0 || cfg == NULL || cfg->self == NULL)
        return FS_EINVAL;
    if (!cfg->is_server && cfg->pinned_server_pk == NULL)
        return FS_EINVAL;
    if (cfg->is_server && cfg->check_device == NULL)
        return FS_EINVAL;
    fs_channel *ch = calloc(1, sizeof *ch);
    if (ch == NULL)
        return FS_ENOMEM;
    ch->sec = sodium_malloc(sizeof *ch->sec);
    if (ch->sec == NULL) {
        free(ch);
        return FS_ENOMEM;
    }
    sodium_memzero(ch->sec, sizeof *ch->sec);
    ch->cfg = *cfg;
    ch->lim = cfg->limits ? *cfg->limits : fs_proto_default_limits;
    if (ch->cfg.vmin == 0)
        ch->cfg.vmin = FS_PROTO_VERSION_MIN;
    if (ch->cfg.vmax == 0)
        ch->cfg.vmax = FS_PROTO_VERSION;
    if (ch->cfg.vmin > ch->cfg.vmax) {
        fs_channel_free(ch);
        return FS_EINVAL;
    }
    ch->phase = cfg->is_server ? SERVER_HELLO : CLIENT_NEW;
    fs_buf_init(&ch->plain);
    *out = ch;
    return 0;
}

void fs_channel_free(fs_channel *ch)
{
    if (ch == NULL)
        return;
    sodium_free(ch->sec);
    fs_buf_free(&ch->plain);
    sodium_memzero(ch, sizeof *ch);
    free(ch);
}

fs_channel_state fs_channel_state_get(const fs_channel *ch)
{
    return ch->state;
}

size_t fs_channel_max_frame(const fs_channel *ch)
{
    /* Until the peer has authenticated, frames are small handshake messages:
     * an unauthenticated peer gets no more buffer than that. */
    if (ch->phase != OPEN && FS_HANDSHAKE_MAX_FRAME < ch->lim.max_frame)
        return FS_HANDSHAKE_MAX_FRAME;
    return ch->lim.max_frame;
}

uint32_t fs_channel_version(const fs_channel *ch)
{
    return ch->version;
}

const uint8_t *fs_channel_peer(const fs_channel *ch)
{
    return ch->have_peer ? ch->peer : NULL;
}

int fs_channel_set_peer(fs_channel *ch, const uint8_t pk[32])
{
    if (ch->state != FS_CHANNEL_OPEN || !ch->have_peer || !ch->cfg.is_server)
        return FS_ESTATE;
    memcpy(ch->peer, pk, 32);
    return 0;
}

uint32_t fs_channel_reason(const fs_channel *ch)
{
    return ch->reason;
}

const char *fs_channel_errmsg(const fs_channel *ch)
{
    return ch->errmsg;
}

/* ---- transcript and keys ---- */

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void transcript1(uint8_t out[32], uint32_t vmin, uint32_t vmax, uint32_t version,
                        const uint8_t c_eph[32], const uint8_t s_eph[32],
                        const uint8_t server_pk[32])
{
    static const char label[] = "fieldsync/1 handshake";
    crypto_generichash_state h;
    uint8_t v[12];
    put32(v, vmin);
    put32(v + 4, vmax);
    put32(v + 8, version);
    crypto_generichash_init(&h, NULL, 0, 32);
    crypto_generichash_update(&h, (const uint8_t *)label, sizeof label - 1);
    crypto_generichash_update(&h, v, sizeof v);
    crypto_generichash_update(&h, c_eph, 32);
    crypto_generichash_update(&h, s_eph, 32);
    crypto_generichash_update(&h, server_pk, 32);
    crypto_generichash_final(&h, out, 32);
}

/* What a device signs: T2 bound to the message type (AUTH or ENROLL). */
static void transcript2(uint8_t out[32 + sizeof label_device - 1], const uint8_t t1[32],
                        uint8_t type, const uint8_t device_pk[32])
{
    crypto_generichash_state h;
    uint8_t t2[32];
    crypto_generichash_init(&h, NULL, 0, 32);
    crypto_generichash_update(&h, t1, 32);
    crypto_generichash_update(&h, &type, 1);
    crypto_generichash_update(&h, device_pk, 32);
    crypto_generichash_final(&h, t2, 32);
    memcpy(out, label_device, sizeof label_device - 1);
    memcpy(out + sizeof label_device - 1, t2, 32);
}

/* Hashes each kx session key with T1 and its direction. */
static void bind_keys(fs_channel *ch)
{
    uint8_t in[3 + 32];
    memcpy(in + 3, ch->t1, 32);
    memcpy(in, ch->cfg.is_server ? "c2s" : "s2c", 3);
    crypto_generichash(ch->sec->rx_key, 32, in, sizeof in, ch->sec->rx_key, 32);
    memcpy(in, ch->cfg.is_server ? "s2c" : "c2s", 3);
    crypto_generichash(ch->sec->tx_key, 32, in, sizeof in, ch->sec->tx_key, 32);
    sodium_memzero(ch->sec->eph_sk, sizeof ch->sec->eph_sk);
}

/* ---- frames ---- */

/* Seals n bytes of an encoded message as the next frame; the first frame
 * carries the stream header. */
static int seal_plain(fs_channel *ch, const uint8_t *plain, size_t n, fs_buf *out, int final)
{
    if (n + HDR + ABYTES > ch->lim.max_frame)
        return FS_ETOOBIG;
    int rc = fs_buf_reserve(out, HDR + n + ABYTES);
    if (rc != 0)
        return rc;
    if (!ch->tx_started) {
        crypto_secretstream_xchacha20poly1305_init_push(&ch->sec->tx, out->data + out->len,
                                                        ch->sec->tx_key);
        sodium_memzero(ch->sec->tx_key, sizeof ch->sec->tx_key); /* the stream holds it now */
        out->len += HDR;
        ch->tx_started = 1;
    }
    crypto_secretstream_xchacha20poly1305_push(&ch->sec->tx, out->data + out->len, NULL, plain, n,
                                               NULL, 0, final ? TAG_FINAL : TAG_MESSAGE);
    out->len += n + ABYTES;
    return 0;
}

/* Encodes m and seals it as the next frame. */
static int seal(fs_channel *ch, const fs_msg *m, fs_buf *out, int final)
{
    fs_buf_reset(&ch->plain);
    int rc = fs_msg_encode_v(m, ch->version, &ch->plain);
    if (rc == 0)
        rc = seal_plain(ch, ch->plain.data, ch->plain.len, out, final);
    sodium_memzero(ch->plain.data, ch->plain.len);
    fs_buf_reset(&ch->plain);
    return rc;
}

/* Opens the next sealed frame into ch->plain; *tag receives its tag. A
 * failure is noted (note()); the caller ends the session. */
static int open_frame(fs_channel *ch, const uint8_t *frame, size_t len, unsigned char *tag)
{
    if (!ch->rx_started) {
        if (len < HDR)
            return note(ch, FS_ECHANNEL, FS_REASON_FRAME, "first sealed frame too short");
        if (crypto_secretstream_xchacha20poly1305_init_pull(&ch->sec->rx, frame,
                                                            ch->sec->rx_key) != 0)
            return note(ch, FS_ECHANNEL, FS_REASON_FRAME, "bad stream header");
        sodium_memzero(ch->sec->rx_key, sizeof ch->sec->rx_key);
        ch->rx_started = 1;
        frame += HDR;
        len -= HDR;
    }
    if (len < ABYTES)
        return note(ch, FS_ECHANNEL, FS_REASON_FRAME, "sealed frame too short");
    fs_buf_reset(&ch->plain);
    if (fs_buf_reserve(&ch->plain, len - ABYTES) != 0)
        return note(ch, FS_ENOMEM, FS_REASON_INTERNAL, "out of memory");
    unsigned long long plen = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(&ch->sec->rx, ch->plain.data, &plen, tag,
                                                   frame, len, NULL, 0) != 0)
        return note(ch, FS_ECHANNEL, FS_REASON_FRAME,
                    "sealed frame rejected (modified, replayed, reordered or dropped)");
    ch->plain.len = (size_t)plen;
    return 0;
}

/* Decodes one message; a failure is noted (note()), the caller ends the
 * session. */
static int decode(fs_channel *ch, const uint8_t *p, size_t n, fs_msg **out)
{
    char why[128];
    int rc = fs_msg_decode(p, n, &ch->lim, out, why, sizeof why);
    if (rc == FS_EUNSUPPORTED)
        return note(ch, rc, FS_REASON_UNKNOWN_TYPE, "%s", why);
    if (rc == FS_ETOOBIG)
        return note(ch, rc, FS_REASON_TOO_BIG, "%s", why);
    if (rc != 0)
        return note(ch, rc, FS_REASON_MALFORMED, "%s", why);
    return 0;
}

/* Ends the session and tells the peer why, sealed if a stream is up. */
static int refuse(fs_channel *ch, fs_buf *out, int code, uint32_t reason, const char *why)
{
    fs_msg e;
    memset(&e, 0, sizeof e);
    if (reason == FS_REASON_REVOKED) {
        e.type = FS_MSG_WIPE;
        e.u.wipe.reason = reason;
    } else {
        e.type = FS_MSG_ERROR;
        e.u.error.reason = reason;
        e.u.error.text = fs_reason_text(reason);
        e.u.error.text_len = strlen(e.u.error.text);
    }
    if (out != NULL) {
        if (ch->phase == SERVER_HELLO)
            fs_msg_encode(&e, out); /* no keys yet: a plaintext refusal */
        else if (ch->phase == SERVER_AUTH || ch->phase == OPEN)
            seal(ch, &e, out, 1);
    }
    return fail(ch, code, reason, "%s", why);
}

/* ---- handshake ---- */

int fs_channel_start(fs_channel *ch, fs_buf *out)
{
    if (ch->cfg.is_server || ch->phase != CLIENT_NEW)
        return fail(ch, FS_ECLOSED, FS_REASON_STATE, "start: not a new client channel");
    crypto_kx_keypair(ch->eph_pk, ch->sec->eph_sk);
    fs_msg h;
    memset(&h, 0, sizeof h);
    h.type = FS_MSG_HELLO;
    h.u.hello.vmin = ch->cfg.vmin;
    h.u.hello.vmax = ch->cfg.vmax;
    memcpy(h.u.hello.eph, ch->eph_pk, 32);
    int rc = fs_msg_encode(&h, out);
    if (rc != 0)
        return fail(ch, rc, FS_REASON_INTERNAL, "cannot encode hello");
    ch->phase = CLIENT_WELCOME;
    return 0;
}

static int server_hello(fs_channel *ch, const fs_msg *m, fs_buf *out)
{
    if (m->type != FS_MSG_HELLO)
        return fail(ch, FS_EMALFORMED, FS_REASON_STATE, "expected hello");
    uint32_t lo = m->u.hello.vmin > ch->cfg.vmin ? m->u.hello.vmin : ch->cfg.vmin;
    uint32_t hi = m->u.hello.vmax < ch->cfg.vmax ? m->u.hello.vmax : ch->cfg.vmax;
    if (lo > hi)
        return refuse(ch, out, FS_EUNSUPPORTED, FS_REASON_VERSION, "no common protocol version");
    ch->version = hi;
    uint8_t s_pk[crypto_kx_PUBLICKEYBYTES];
    crypto_kx_keypair(s_pk, ch->sec->eph_sk);
    if (crypto_kx_server_session_keys(ch->sec->rx_key, ch->sec->tx_key, s_pk, ch->sec->eph_sk,
                                      m->u.hello.eph) != 0)
        return refuse(ch, out, FS_EAUTH, FS_REASON_AUTH, "bad client key");
    transcript1(ch->t1, m->u.hello.vmin, m->u.hello.vmax, ch->version, m->u.hello.eph, s_pk,
                ch->cfg.self->pk);
    bind_keys(ch);
    fs_msg w;
    memset(&w, 0, sizeof w);
    w.type = FS_MSG_WELCOME;
    w.u.welcome.version = ch->version;
    memcpy(w.u.welcome.eph, s_pk, 32);
    memcpy(w.u.welcome.server_pk, ch->cfg.self->pk, 32);
    uint8_t signed_msg[sizeof label_server - 1 + 32];
    memcpy(signed_msg, label_server, sizeof label_server - 1);
    memcpy(signed_msg + sizeof label_server - 1, ch->t1, 32);
    crypto_sign_detached(w.u.welcome.sig, NULL, signed_msg, sizeof signed_msg, ch->cfg.self->sk);
    int rc = fs_msg_encode(&w, out);
    if (rc != 0)
        return fail(ch, rc, FS_REASON_INTERNAL, "cannot encode welcome");
    ch->phase = SERVER_AUTH;
    return 0;
}

static int client_welcome(fs_channel *ch, const fs_msg *m, fs_buf *out)
{
    if (m->type == FS_MSG_ERROR) {
        /* Unauthenticated: only a refusal the server can make before it has
         * keys is believed (anything else may be a forgery on the wire, and
         * must not pass for, say, a revocation: only a sealed WIPE is). */
        uint32_t why = m->u.error.reason;
        if (why == FS_REASON_VERSION)
            return fail(ch, FS_EUNSUPPORTED, why, "the server speaks no version in %u..%u",
                        ch->cfg.vmin, ch->cfg.vmax);
        if (why != FS_REASON_MALFORMED && why != FS_REASON_TOO_BIG && why != FS_REASON_STATE)
            why = FS_REASON_AUTH;
        return fail(ch, FS_EAUTH, why, "server refused the handshake: %s", fs_reason_text(why));
    }
    if (m->type != FS_MSG_WELCOME)
        return fail(ch, FS_EMALFORMED, FS_REASON_STATE, "expected welcome");
    if (m->u.welcome.version < ch->cfg.vmin || m->u.welcome.version > ch->cfg.vmax)
        return fail(ch, FS_EUNSUPPORTED, FS_REASON_VERSION,
                    "server chose protocol version %u, outside %u..%u", m->u.welcome.version,
                    ch->cfg.vmin, ch->cfg.vmax);
    if (sodium_memcmp(m->u.welcome.server_pk, ch->cfg.pinned_server_pk, 32) != 0)
        return fail(ch, FS_EAUTH, FS_REASON_SERVER_KEY,
                    "the server's key is not the one pinned at enrollment");
    ch->version = m->u.welcome.version;
    transcript1(ch->t1, ch->cfg.vmin, ch->cfg.vmax, ch->version, ch->eph_pk, m->u.welcome.eph,
                m->u.welcome.server_pk);
    uint8_t signed_msg[sizeof label_server - 1 + 32];
    memcpy(signed_msg, label_server, sizeof label_server - 1);
    memcpy(signed_msg + sizeof label_server - 1, ch->t1, 32);
    if (crypto_sign_verify_detached(m->u.welcome.sig, signed_msg, sizeof signed_msg,
                                    m->u.welcome.server_pk) != 0)
        return fail(ch, FS_EAUTH, FS_REASON_AUTH, "the server's handshake signature is invalid");
    if (crypto_kx_client_session_keys(ch->sec->rx_key, ch->sec->tx_key, ch->eph_pk,
                                      ch->sec->eph_sk, m->u.welcome.eph) != 0)
        return fail(ch, FS_EAUTH, FS_REASON_AUTH, "bad server key");
    bind_keys(ch);
    memcpy(ch->peer, m->u.welcome.server_pk, 32);
    ch->have_peer = 1;

    if (ch->cfg.ask_policy && (ch->cfg.enroll == NULL || ch->version < FS_PROTO_VERSION_PASSPOLICY))
        return fail(ch, FS_EUNSUPPORTED, FS_REASON_VERSION,
                    "the server (protocol version %u) does not tell a team's passphrase rule",
                    ch->version);

    fs_msg a;
    fs_buf sealed;
    memset(&a, 0, sizeof a);
    fs_buf_init(&sealed);
    uint8_t t2[sizeof label_device - 1 + 32];
    a.type = ch->cfg.ask_policy ? FS_MSG_POLICY_ASK
             : ch->cfg.enroll   ? FS_MSG_ENROLL
                                : FS_MSG_AUTH;
    transcript2(t2, ch->t1, (uint8_t)a.type, ch->cfg.self->pk);
    if (ch->cfg.enroll != NULL) {
        int rc = fs_enroll_seal(ch->peer, ch->cfg.enroll, &sealed);
        if (rc != 0) {
            fs_buf_free(&sealed);
            return fail(ch, rc, FS_REASON_INTERNAL, "cannot seal the enrollment request");
        }
        memcpy(a.u.enroll.device_pk, ch->cfg.self->pk, 32);
        crypto_sign_detached(a.u.enroll.sig, NULL, t2, sizeof t2, ch->cfg.self->sk);
        a.u.enroll.sealed = sealed.data;
        a.u.enroll.sealed_len = sealed.len;
    } else {
        memcpy(a.u.auth.device_pk, ch->cfg.self->pk, 32);
        crypto_sign_detached(a.u.auth.sig, NULL, t2, sizeof t2, ch->cfg.self->sk);
    }
    int rc = seal(ch, &a, out, 0);
    fs_buf_free(&sealed);
    if (rc != 0)
        return fail(ch, rc, FS_REASON_INTERNAL, "cannot seal the authentication");
    ch->phase = CLIENT_READY;
    return 0;
}

/* POLICY_ASK (protocol version 8 on): the team's passphrase rule for a
 * code the server would redeem, which stays unspent; POLICY is the last
 * frame of the session. */
static int server_policy(fs_channel *ch, const fs_msg *m, const uint8_t *pk, fs_buf *out)
{
    fs_enroll_request req;
    char team[FS_USER_MAX + 1] = "";
    fs_msg p;
    memset(&p, 0, sizeof p);
    int rc = ch->cfg.enroll_policy == NULL
                 ? FS_EAUTH
                 : fs_enroll_open(ch->cfg.self, m->u.enroll.sealed, m->u.enroll.sealed_len, &req);
    if (rc == 0 && sodium_memcmp(req.device_pk, pk, 32) != 0)
        rc = FS_EAUTH;
    if (rc == 0)
        rc = ch->cfg.enroll_policy(ch->cfg.ctx, &req, &p.u.policy.min_chars,
                                   &p.u.policy.min_words, team);
    sodium_memzero(&req, sizeof req);
    if (rc != 0)
        return refuse(ch, out, FS_EAUTH, FS_REASON_ENROLL, "enrollment refused");
    team[FS_USER_MAX] = '\0';
    p.type = FS_MSG_POLICY;
    p.u.policy.team = team;
    p.u.policy.team_len = strlen(team);
    rc = seal(ch, &p, out, 1);
    if (rc != 0)
        return fail(ch, rc, FS_REASON_INTERNAL, "cannot seal the passphrase rule");
    ch->phase = OPEN;
    ch->state = FS_CHANNEL_CLOSED; /* answered: nothing more either way */
    ch->got_final = 1;
    sodium_memzero(ch->sec, sizeof *ch->sec);
    return 0;
}

static int server_auth(fs_channel *ch, const fs_msg *m, fs_buf *out)
{
    int ask = m->type == FS_MSG_POLICY_ASK && ch->version >= FS_PROTO_VERSION_PASSPOLICY;
    if (m->type != FS_MSG_AUTH && m->type != FS_MSG_ENROLL && !ask)
        return refuse(ch, out, FS_EMALFORMED, FS_REASON_STATE, "expected auth or enroll");
    const uint8_t *pk = m->type == FS_MSG_AUTH ? m->u.auth.device_pk : m->u.enroll.device_pk;
    const uint8_t *sig = m->type == FS_MSG_AUTH ? m->u.auth.sig : m->u.enroll.sig;
    uint8_t t2[sizeof label_device - 1 + 32];
    transcript2(t2, ch->t1, (uint8_t)m->type, pk);
    if (crypto_sign_verify_detached(sig, t2, sizeof t2, pk) != 0)
        return refuse(ch, out, FS_EAUTH, FS_REASON_AUTH, "the device's signature is invalid");
    if (ask)
        return server_policy(ch, m, pk, out);
    if (m->type == FS_MSG_ENROLL) {
        fs_enroll_request req;
        int rc = ch->cfg.enroll_device == NULL
                     ? FS_EAUTH
                     : fs_enroll_open(ch->cfg.self, m->u.enroll.sealed, m->u.enroll.sealed_len,
                                      &req);
        if (rc == 0 && sodium_memcmp(req.device_pk, pk, 32) != 0)
            rc = FS_EAUTH;
        if (rc == 0)
            rc = ch->cfg.enroll_device(ch->cfg.ctx, &req);
        sodium_memzero(&req, sizeof req);
        if (rc != 0)
            return refuse(ch, out, FS_EAUTH, FS_REASON_ENROLL, "enrollment refused");
    } else {
        int rc = ch->cfg.check_device(ch->cfg.ctx, pk);
        if (rc == FS_EREVOKED)
            return refuse(ch, out, FS_EREVOKED, FS_REASON_REVOKED, "the device is revoked");
        if (rc != 0)
            return refuse(ch, out, FS_EAUTH, FS_REASON_UNKNOWN_DEVICE, "unknown device");
    }
    memcpy(ch->peer, pk, 32);
    ch->have_peer = 1;
    fs_msg r;
    memset(&r, 0, sizeof r);
    r.type = FS_MSG_READY;
    r.u.ready.server_time_ms = ch->cfg.server_time_ms ? ch->cfg.server_time_ms
                               : ch->cfg.server_now != NULL ? ch->cfg.server_now(ch->cfg.ctx)
                                                            : fs_clock_wall_ms();
    r.u.ready.lease_expires_ms = ch->cfg.lease_expires_ms;
    if (r.u.ready.lease_expires_ms == 0)
        r.u.ready.lease_expires_ms = r.u.ready.server_time_ms + ch->cfg.lease_ms;
    char user[FS_USER_MAX + 1], team[FS_USER_MAX + 1];
    uint32_t role = 0;
    if (ch->version >= FS_PROTO_VERSION_USER && ch->cfg.device_user != NULL &&
        ch->cfg.device_user(ch->cfg.ctx, pk, user, team, &role) == 0 &&
        role >= FS_READY_ROLE_REP && role <= FS_READY_ROLE_ADMIN) {
        user[FS_USER_MAX] = team[FS_USER_MAX] = '\0';
        r.u.ready.user = user;
        r.u.ready.user_len = strlen(user);
        r.u.ready.team = team;
        r.u.ready.team_len = strlen(team);
        r.u.ready.role = role;
        if (ch->version >= FS_PROTO_VERSION_EPOCH && ch->cfg.device_feed != NULL &&
            ch->cfg.device_feed(ch->cfg.ctx, pk, r.u.ready.epoch, &r.u.ready.dev_acked) == 0)
            r.u.ready.has_epoch = 1;
    }
    int rc = seal(ch, &r, out, 0);
    if (rc != 0)
        return fail(ch, rc, FS_REASON_INTERNAL, "cannot seal ready");
    ch->phase = OPEN;
    ch->state = FS_CHANNEL_OPEN;
    return 0;
}

/* Which messages each side may receive once the session is open. */
static int allowed_open(const fs_channel *ch, fs_msg_type t)
{
    if (t == FS_MSG_ERROR || t == FS_MSG_BYE)
        return 1;
    /* a fork of the device, from protocol version 5 (fieldsync/msg.h) */
    int fork = ch->version >= FS_PROTO_VERSION_FORK;
    /* attachments' bytes, from protocol version 7 (fieldsync/msg.h) */
    int att = ch->version >= FS_PROTO_VERSION_ATTACH;
    if (ch->cfg.is_server)
        return t == FS_MSG_PUSH || t == FS_MSG_PULL || (fork && t == FS_MSG_FORK) ||
               (att && (t == FS_MSG_ATT_ASK || t == FS_MSG_ATT_CHUNK || t == FS_MSG_ATT_GET));
    return t == FS_MSG_ACK || t == FS_MSG_REJECT || t == FS_MSG_CHANGES || t == FS_MSG_POKE ||
           t == FS_MSG_PURGE || t == FS_MSG_WIPE ||
           (fork && (t == FS_MSG_TIP || t == FS_MSG_FORKED)) ||
           (att && (t == FS_MSG_ATT_NEED || t == FS_MSG_ATT_CHUNK));
}

int fs_channel_receive(fs_channel *ch, const uint8_t *frame, size_t len, fs_buf *out,
                       fs_msg **msg)
{
    *msg = NULL;
    if (ch->state == FS_CHANNEL_CLOSED)
        return FS_ECLOSED;
    if (frame == NULL && len > 0)
        return FS_EINVAL;
    if (frame == NULL)
        frame = (const uint8_t *)"";
    if (len > fs_channel_max_frame(ch))
        return refuse(ch, out, FS_ETOOBIG, FS_REASON_TOO_BIG, "frame over the size limit");
    fs_msg *m = NULL;
    int rc;
    unsigned char tag = 0;
    switch (ch->phase) {
    case SERVER_HELLO:
    case CLIENT_WELCOME:
        rc = decode(ch, frame, len, &m); /* the plaintext part of the handshake */
        if (rc != 0) {
            char why[sizeof ch->errmsg];
            snprintf(why, sizeof why, "%s", ch->errmsg);
            return fail(ch, rc, ch->noted, "%s", why);
        }
        rc = ch->phase == SERVER_HELLO ? server_hello(ch, m, out) : client_welcome(ch, m, out);
        fs_msg_free(m);
        return rc;
    case CLIENT_NEW:
        return fail(ch, FS_ECLOSED, FS_REASON_STATE, "receive before start");
    default:
        break;
    }
    rc = open_frame(ch, frame, len, &tag);
    if (rc == 0)
        rc = decode(ch, ch->plain.data, ch->plain.len, &m);
    fs_buf_reset(&ch->plain);
    if (rc != 0) { /* the peer is told why: this side's stream is intact */
        char why[sizeof ch->errmsg];
        snprintf(why, sizeof why, "%s", ch->errmsg);
        return refuse(ch, out, rc, ch->noted, why);
    }
    if (ch->phase == SERVER_AUTH) {
        rc = server_auth(ch, m, out);
        fs_msg_free(m);
        return rc;
    }
    if (ch->phase == CLIENT_READY) {
        if (ch->cfg.ask_policy && m->type == FS_MSG_POLICY) {
            if (tag != TAG_FINAL) {
                fs_msg_free(m);
                return fail(ch, FS_ECHANNEL, FS_REASON_FRAME, "the passphrase rule is not final");
            }
            ch->got_final = 1;
            ch->phase = OPEN;
            ch->state = FS_CHANNEL_CLOSED;
            sodium_memzero(ch->sec, sizeof *ch->sec);
            *msg = m;
            return 0;
        }
        if (m->type == FS_MSG_READY && !ch->cfg.ask_policy) {
            ch->phase = OPEN;
            ch->state = FS_CHANNEL_OPEN;
            *msg = m;
            return 0;
        }
        if (m->type == FS_MSG_WIPE || m->type == FS_MSG_ERROR) {
            uint32_t reason = m->type == FS_MSG_WIPE ? FS_REASON_REVOKED : m->u.error.reason;
            *msg = m;
            return fail(ch, m->type == FS_MSG_WIPE ? FS_EREVOKED : FS_EAUTH, reason,
                        "the server refused the session: %s", fs_reason_text(reason));
        }
        fs_msg_free(m);
        return fail(ch, FS_EMALFORMED, FS_REASON_STATE, "expected ready");
    }
    if (!allowed_open(ch, m->type)) {
        uint32_t t = m->type;
        fs_msg_free(m);
        return refuse(ch, out, FS_EMALFORMED, FS_REASON_STATE, t <= FS_MSG_READY
                                                                   ? "handshake message after it"
                                                                   : "message not allowed here");
    }
    if ((tag == TAG_FINAL) != (m->type == FS_MSG_BYE || m->type == FS_MSG_ERROR ||
                               m->type == FS_MSG_WIPE)) {
        fs_msg_free(m);
        return refuse(ch, out, FS_ECHANNEL, FS_REASON_FRAME,
                      "final tag on a frame that is not final");
    }
    *msg = m;
    if (m->type == FS_MSG_BYE) {
        ch->got_final = 1;
        ch->state = FS_CHANNEL_CLOSED;
        sodium_memzero(ch->sec, sizeof *ch->sec);
    } else if (m->type == FS_MSG_ERROR || m->type == FS_MSG_WIPE) {
        ch->got_final = 1;
        return fail(ch, m->type == FS_MSG_WIPE ? FS_EREVOKED : FS_ECLOSED,
                    m->type == FS_MSG_WIPE ? FS_REASON_REVOKED : m->u.error.reason,
                    "the peer ended the session: %s",
                    fs_reason_text(m->type == FS_MSG_WIPE ? FS_REASON_REVOKED
                                                          : m->u.error.reason));
    }
    return 0;
}

int fs_channel_send(fs_channel *ch, const fs_msg *m, fs_buf *out)
{
    if (ch->state != FS_CHANNEL_OPEN)
        return FS_ECLOSED;
    if (m->type <= FS_MSG_READY || m->type == FS_MSG_BYE)
        return FS_EINVAL; /* handshake messages are the channel's; BYE is fs_channel_bye */
    int final = m->type == FS_MSG_ERROR || m->type == FS_MSG_WIPE;
    int rc = seal(ch, m, out, final);
    if (rc == 0 && final)
        fail(ch, 0, m->type == FS_MSG_WIPE ? FS_REASON_REVOKED : m->u.error.reason,
             "session ended by this side");
    return rc;
}

int fs_channel_encode(const fs_channel *ch, const fs_msg *m, fs_buf *plain)
{
    if (ch->state != FS_CHANNEL_OPEN)
        return FS_ECLOSED;
    if (m->type <= FS_MSG_READY || m->type == FS_MSG_BYE || m->type == FS_MSG_ERROR ||
        m->type == FS_MSG_WIPE)
        return FS_EINVAL;
    size_t start = plain->len;
    int rc = fs_msg_encode_v(m, ch->version, plain);
    if (rc == 0 && plain->len - start + HDR + ABYTES > ch->lim.max_frame)
        rc = FS_ETOOBIG; /* refused now, as fs_channel_send would */
    if (rc != 0) {
        sodium_memzero(plain->data + start, plain->len - start);
        plain->len = start;
    }
    return rc;
}

int fs_channel_send_encoded(fs_channel *ch, const uint8_t *plain, size_t n, fs_buf *out)
{
    if (ch->state != FS_CHANNEL_OPEN)
        return FS_ECLOSED;
    return seal_plain(ch, plain, n, out, 0);
}

int fs_channel_bye(fs_channel *ch, fs_buf *out)
{
    if (ch->state != FS_CHANNEL_OPEN)
        return FS_ECLOSED;
    fs_msg b;
    memset(&b, 0, sizeof b);
    b.type = FS_MSG_BYE;
    int rc = seal(ch, &b, out, 1);
    ch->state = FS_CHANNEL_CLOSED;
    sodium_memzero(ch->sec, sizeof *ch->sec);
    return rc;
}

int fs_channel_finish(fs_channel *ch)
{
    if (ch->got_final || ch->reason != 0)
        return 0;
    if (ch->state == FS_CHANNEL_CLOSED && ch->phase == OPEN)
        return 0; /* this side closed it */
    fail(ch, 0, FS_REASON_TRUNCATED, "the session ended without its final frame");
    return FS_ECHANNEL;
}

int fs__channel_seal_raw(fs_channel *ch, const uint8_t *plain, size_t n, int final, fs_buf *out)
{
    if (ch->state != FS_CHANNEL_OPEN)
        return FS_ECLOSED;
    int rc = fs_buf_reserve(out, HDR + n + ABYTES);
    if (rc != 0)
        return rc;
    if (!ch->tx_started) {
        crypto_secretstream_xchacha20poly1305_init_push(&ch->sec->tx, out->data + out->len,
                                                        ch->sec->tx_key);
        sodium_memzero(ch->sec->tx_key, sizeof ch->sec->tx_key);
        out->len += HDR;
        ch->tx_started = 1;
    }
    crypto_secretstream_xchacha20poly1305_push(&ch->sec->tx, out->data + out->len, NULL, plain, n,
                                               NULL, 0, final ? TAG_FINAL : TAG_MESSAGE);
    out->len += n + ABYTES;
    return 0;
}
