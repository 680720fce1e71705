/*
 * Load: many devices against one fieldsync-server serve, from one process.
 *
 * Every simulated device has its own Ed25519 identity, enrolled in the store,
 * and speaks the real protocol over its own websocket: the channel handshake
 * (HELLO, WELCOME, AUTH, READY), then sealed PUSH and PULL messages carrying
 * real visit records that the server checks, applies and acknowledges. A
 * device keeps no replica: its state (next local sequence, clock, feed
 * cursor) is in memory, which is all the protocol needs. One libwebsockets
 * client context serves every connection on one thread.
 *
 *   loadsim setup  --data DIR --keys FILE --devices N [--team-size T]
 *       creates the store in DIR (passphrase FIELDSYNC_PASSPHRASE) with N
 *       users and devices in one transaction (user i is a manager when
 *       i % T == 0, else a rep of team i / T), and writes FILE (0600): a
 *       random master seed from which every device's identity and every row
 *       id is derived, and the server's public key. Run before serve starts.
 *   loadsim active --keys FILE --port P --server-pid PID --devices N
 *                  [--seconds D] [--visits K] [--interval MS] [--out FILE]
 *       connects the N devices, then for D seconds each device syncs in
 *       rounds: PUSH K new visits (its customer too, in the first round),
 *       wait for the ACK, PULL until CHANGES says no more, pause about MS
 *       (uniformly 0.5-1.5 x MS). Measures accepted changes/s, ACK latency
 *       (PUSH queued to ACK received), errors, and the server's RSS per
 *       connection. Writes what each device had acknowledged to --out.
 *       SIGUSR1 ends the D seconds early (bench/reach.sh: the load lasts as
 *       long as the measurement under it); the rounds in flight finish.
 *   loadsim idle   --keys FILE --port P --server-pid PID --devices N [--hold S]
 *       connects the N devices, holds them idle S seconds, and measures the
 *       server's RSS (VmRSS of /proc/PID/status) before and with them all.
 *   loadsim verify --data DIR --keys FILE --results FILE
 *       after serve has stopped: opens the store and checks that every visit
 *       and customer an ACK covered is there (zero lost), and that the store
 *       holds no visit nobody was told about.
 *
 * Each run mode prints a table and one line of JSON ("loadsim: {...}").
 * Nothing printed is a value of a record or key material. Exit status 0 only
 * when there was no error (and, for verify, nothing lost).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
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
#include "store/store_sqlite.h"
#include "fieldsync/transport.h"
#include "visits.h"
#include "loadsim.h"

#define TEXTS           512  /* distinct visit texts, shared by all devices */
#define MAX_CONNECTING  64   /* handshakes in progress at once */
#define REQUEST_TIMEOUT 60.0 /* s: an ACK or CHANGES later than this is an error */
#define DRAIN_TIMEOUT   120.0
#define CONNECT_TIMEOUT 300.0
#define VISIT_COLS      (1 + VF_COUNT) /* customer + the text fields */

/* ---- the simulated devices ---- */

typedef struct frame {
    struct frame *next;
    size_t len;
    uint8_t data[]; /* LWS_PRE + len */
} frame;

enum dstate {
    D_WAITING,
    D_CONNECTING,
    D_HANDSHAKE,
    D_THINKING,
    D_PUSHING,
    D_PULLING,
    D_FINISHED,
    D_CLOSING,
    D_CLOSED,
    D_FAILED
};

typedef struct device {
    uint32_t index;
    enum dstate state;
    struct lws *wsi;
    fs_identity *id; /* during the handshake only */
    fs_channel *ch;
    fs_reassembler rx;
    frame *head, *tail;
    uint8_t device_id[FS_ID_BYTES];
    uint8_t customer[FS_ID_BYTES];
    char user[32];
    uint64_t next_seq; /* the next local sequence */
    uint64_t last_hlc;
    uint64_t cursor;
    uint32_t visits_sent;  /* visits made so far (ids 0..visits_sent-1) */
    uint32_t visits_acked; /* visits 0..visits_acked-1 acknowledged */
    int customer_acked;
    uint32_t inflight_visits;
    int inflight_customer;
    uint64_t inflight_last;
    size_t inflight_changes;
    double sent_at;
    double due; /* when the timer is for (bench_now), 0: none */
} device;

typedef struct sim {
    const opts *o;
    keys k;
    struct lws_context *ctx;
    device *devs;
    size_t n;
    visit_set texts;
    int active;          /* active mode: rounds of push and pull */
    int running;         /* everyone is connected: rounds may start */
    int stopping;        /* the measured period is over: finish rounds, start none */
    size_t next_connect; /* the next device to connect */
    size_t connecting, ready, finished, closed, failed;
    /* counters */
    uint64_t pushes, acks, changes_acked, visits_acked, pulls, changes_pulled, pokes, rejects,
        errors;
    uint64_t node_changes[MAX_NODES]; /* changes acknowledged by each node */
    size_t node_ready[MAX_NODES];     /* devices connected to each */
    double *lat; /* ack latencies, s */
    size_t nlat, caplat;
    char first_error[256];
} sim;

static sim S;

__attribute__((format(printf, 2, 3))) static void dev_fail(device *d, const char *fmt, ...)
{
    if (d->state == D_FAILED || d->state == D_CLOSED)
        return;
    S.errors++;
    if (S.first_error[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        int n = snprintf(S.first_error, sizeof S.first_error, "device %u: ", d->index);
        vsnprintf(S.first_error + n, sizeof S.first_error - (size_t)n, fmt, ap);
        va_end(ap);
    }
    if (d->state == D_CONNECTING || d->state == D_HANDSHAKE)
        S.connecting--;
    if (d->state == D_FINISHED && S.active)
        S.finished--; /* counted as failed instead */
    d->state = D_FAILED;
    S.failed++;
    if (d->wsi != NULL)
        lws_set_timeout(d->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static int dev_emit(device *d, fs_buf *b)
{
    if (b->len == 0)
        return 0;
    frame *f = malloc(sizeof *f + LWS_PRE + b->len);
    if (f == NULL)
        return FS_ENOMEM;
    f->next = NULL;
    f->len = b->len;
    memcpy(f->data + LWS_PRE, b->data, b->len);
    fs_buf_reset(b);
    if (d->tail != NULL)
        d->tail->next = f;
    else
        d->head = f;
    d->tail = f;
    if (d->wsi != NULL)
        lws_callback_on_writable(d->wsi);
    return 0;
}

static int dev_send(device *d, const fs_msg *m)
{
    fs_buf b;
    fs_buf_init(&b);
    int rc = fs_channel_send(d->ch, m, &b);
    if (rc == 0)
        rc = dev_emit(d, &b);
    fs_buf_free(&b);
    return rc;
}

static void dev_free(device *d)
{
    while (d->head != NULL) {
        frame *f = d->head;
        d->head = f->next;
        free(f);
    }
    d->tail = NULL;
    fs_identity_free(d->id);
    d->id = NULL;
    fs_channel_free(d->ch);
    d->ch = NULL;
    fs_reassembler_free(&d->rx);
}

/* Arms the device's one timer for secs from now (< 0: disarms it). The
 * callback checks d->due: a timer that fires early or late is ignored. */
static void dev_timer(device *d, double secs)
{
    if (secs < 0) {
        d->due = 0;
        lws_set_timer_usecs(d->wsi, LWS_SET_TIMER_USEC_CANCEL);
        return;
    }
    d->due = bench_now() + secs;
    lws_set_timer_usecs(d->wsi, (lws_usec_t)(secs * 1e6) + 1);
}

static uint64_t next_hlc(device *d)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    uint64_t h = ms << 16;
    if (h <= d->last_hlc)
        h = d->last_hlc + 1;
    d->last_hlc = h;
    return h;
}

static void record_latency(double s)
{
    if (S.nlat == S.caplat) {
        size_t cap = S.caplat ? 2 * S.caplat : 65536;
        double *more = realloc(S.lat, cap * sizeof *more);
        if (more == NULL)
            die("out of memory");
        S.lat = more;
        S.caplat = cap;
    }
    S.lat[S.nlat++] = s;
}

/* PUSH: the customer (first round only) and visits new visits, each one
 * write of all its columns at one clock. */
static void dev_push(device *d)
{
    const fs_table *tables = fs_schema_tables(&(unsigned){0});
    int ct = fs_schema_table_index("customer"), vt = fs_schema_table_index("visit");
    const fs_table *cust = &tables[ct], *visit = &tables[vt];
    size_t nvis = S.o->visits, n = nvis * VISIT_COLS + (d->customer_acked ? 0 : 2);
    fs_change *ch = calloc(n, sizeof *ch);
    if (ch == NULL)
        die("out of memory");
    size_t k = 0;
    if (!d->customer_acked) {
        uint64_t h = next_hlc(d);
        const char *cols[2] = {"name", "owner"};
        fs_value vals[2] = {fs_text("Load test customer"), fs_text(d->user)};
        for (int c = 0; c < 2; c++, k++) {
            ch[k].table = (uint16_t)ct;
            ch[k].column = (uint16_t)fs_schema_column_index(cust, cols[c]);
            memcpy(ch[k].row, d->customer, FS_ID_BYTES);
            ch[k].value = vals[c];
            ch[k].version.hlc = h;
            memcpy(ch[k].version.device, d->device_id, FS_ID_BYTES);
        }
    }
    for (size_t v = 0; v < nvis; v++) {
        uint32_t vn = d->visits_sent + (uint32_t)v;
        const visit_text *t = &S.texts.visits[(d->index * 7u + vn) % S.texts.count];
        uint8_t row[FS_ID_BYTES];
        derive(&S.k, 'v', d->index, vn, row, sizeof row);
        uint64_t h = next_hlc(d);
        for (int c = 0; c < VISIT_COLS; c++, k++) {
            ch[k].table = (uint16_t)vt;
            ch[k].column =
                (uint16_t)fs_schema_column_index(visit, c == 0 ? "customer" : field_column[c - 1]);
            memcpy(ch[k].row, row, FS_ID_BYTES);
            ch[k].value = c == 0 ? fs_blob(d->customer, FS_ID_BYTES)
                                 : fs_textn(t->field[c - 1], t->len[c - 1]);
            ch[k].version.hlc = h;
            memcpy(ch[k].version.device, d->device_id, FS_ID_BYTES);
        }
    }
    fs_msg m;
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_PUSH;
    m.u.push.first_seq = d->next_seq;
    m.u.push.last_seq = d->next_seq + n - 1;
    m.u.push.changes = ch;
    m.u.push.count = n;
    d->inflight_last = m.u.push.last_seq;
    d->inflight_changes = n;
    d->inflight_visits = (uint32_t)nvis;
    d->inflight_customer = !d->customer_acked;
    d->sent_at = bench_now();
    int rc = dev_send(d, &m);
    free(ch);
    if (rc != 0) {
        dev_fail(d, "cannot send PUSH: %s", fs_strerror(rc));
        return;
    }
    d->visits_sent += (uint32_t)nvis;
    d->state = D_PUSHING;
    S.pushes++;
    dev_timer(d, REQUEST_TIMEOUT);
}

static void dev_pull(device *d)
{
    fs_msg m;
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_PULL;
    m.u.pull.cursor = d->cursor;
    m.u.pull.max = 1000;
    m.u.pull.local_seq = d->next_seq - 1;
    int rc = dev_send(d, &m);
    if (rc != 0) {
        dev_fail(d, "cannot send PULL: %s", fs_strerror(rc));
        return;
    }
    d->state = D_PULLING;
    S.pulls++;
    dev_timer(d, REQUEST_TIMEOUT);
}

/* Between rounds: pause about the interval, or finish when stopping. */
static void dev_think(device *d)
{
    if (S.stopping) {
        d->state = D_FINISHED;
        S.finished++;
        dev_timer(d, -1);
        return;
    }
    d->state = D_THINKING;
    double ms = (double)S.o->interval_ms * (0.5 + randombytes_uniform(1001) / 1000.0);
    dev_timer(d, ms / 1000.0);
}

static void dev_ready(device *d)
{
    fs_identity_free(d->id); /* the handshake is over: the channel needs it no more */
    d->id = NULL;
    S.connecting--;
    S.ready++;
    S.node_ready[d->index % S.o->nports]++;
    dev_timer(d, -1);
    if (!S.active) {
        d->state = D_FINISHED; /* idle: holds the connection */
        return;
    }
    d->state = D_THINKING; /* the first round starts once everyone is connected */
}

static void dev_message(device *d, const fs_msg *m)
{
    switch (m->type) {
    case FS_MSG_READY:
        dev_ready(d);
        break;
    case FS_MSG_ACK:
        if (d->state != D_PUSHING || m->u.ack.upto_seq != d->inflight_last) {
            dev_fail(d, "unexpected ACK");
            return;
        }
        record_latency(bench_now() - d->sent_at);
        S.acks++;
        S.changes_acked += d->inflight_changes;
        S.node_changes[d->index % S.o->nports] += d->inflight_changes;
        S.visits_acked += d->inflight_visits;
        d->visits_acked += d->inflight_visits;
        if (d->inflight_customer)
            d->customer_acked = 1;
        d->next_seq = d->inflight_last + 1;
        dev_pull(d);
        break;
    case FS_MSG_REJECT:
        S.rejects += m->u.reject.count;
        dev_fail(d, "%zu changes refused (first: %s)", m->u.reject.count,
                 m->u.reject.count ? fs_reason_text(m->u.reject.items[0].reason) : "");
        break;
    case FS_MSG_CHANGES:
        if (d->state != D_PULLING) {
            dev_fail(d, "unexpected CHANGES");
            return;
        }
        S.changes_pulled += m->u.changes.count;
        d->cursor = m->u.changes.cursor;
        if (m->u.changes.more)
            dev_pull(d);
        else
            dev_think(d);
        break;
    case FS_MSG_POKE:
        S.pokes++; /* the next round pulls anyway */
        break;
    case FS_MSG_PURGE:
        break;
    case FS_MSG_TIP:
        break; /* protocol 5: what the server holds of the device; a load device is no fork */
    default:
        dev_fail(d, "unexpected message %d", (int)m->type);
        break;
    }
}

static void dev_receive(device *d, const uint8_t *p, size_t n, int is_final)
{
    if (d->ch == NULL || d->state == D_FAILED || d->state == D_CLOSING)
        return;
    const uint8_t *f = NULL;
    size_t len = 0;
    int rc = fs_reassembler_add(&d->rx, p, n, is_final, &f, &len);
    if (rc < 0) {
        dev_fail(d, "a frame over the size limit");
        return;
    }
    if (rc == 0)
        return;
    fs_buf out;
    fs_buf_init(&out);
    fs_msg *m = NULL;
    rc = fs_channel_receive(d->ch, f, len, &out, &m);
    if (rc == 0)
        rc = dev_emit(d, &out);
    fs_buf_free(&out);
    if (rc != 0) {
        if (m != NULL && m->type == FS_MSG_ERROR)
            dev_fail(d, "the server ended the session: %s", fs_reason_text(m->u.error.reason));
        else
            dev_fail(d, "%s", fs_channel_errmsg(d->ch));
    } else if (m != NULL) {
        dev_message(d, m);
    }
    fs_msg_free(m);
}

static void connect_more(void);

static int dev_established(device *d, struct lws *wsi)
{
    d->wsi = wsi;
    d->state = D_HANDSHAKE;
    uint8_t seed[FS_SIGN_SEED_BYTES];
    derive(&S.k, 'd', d->index, 0, seed, sizeof seed);
    int rc = fs_identity_from_seed(&d->id, seed);
    sodium_memzero(seed, sizeof seed);
    if (rc == 0) {
        fs_device_id_from_pk(d->id->pk, d->device_id);
        fs_channel_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.self = d->id;
        cfg.pinned_server_pk = S.k.server_pk;
        rc = fs_channel_new(&d->ch, &cfg);
    }
    fs_buf b;
    fs_buf_init(&b);
    if (rc == 0)
        rc = fs_channel_start(d->ch, &b);
    if (rc == 0)
        rc = dev_emit(d, &b);
    fs_buf_free(&b);
    if (rc != 0) {
        dev_fail(d, "cannot start the handshake: %s", fs_strerror(rc));
        return -1;
    }
    dev_timer(d, REQUEST_TIMEOUT);
    return 0;
}

static int dev_writable(device *d)
{
    frame *f = d->head;
    if (f == NULL)
        return d->state == D_CLOSING ? -1 : 0;
    d->head = f->next;
    if (d->head == NULL)
        d->tail = NULL;
    int n = lws_write(d->wsi, f->data + LWS_PRE, f->len, LWS_WRITE_BINARY);
    int bad = n < 0 || (size_t)n < f->len;
    free(f);
    if (bad) {
        dev_fail(d, "cannot write to the server");
        return -1;
    }
    if (d->head != NULL)
        lws_callback_on_writable(d->wsi);
    else if (d->state == D_CLOSING) {
        lws_close_reason(d->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        return -1;
    }
    return 0;
}

static int on_event(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    (void)user;
    device *d = wsi != NULL ? lws_get_opaque_user_data(wsi) : NULL;
    if (d == NULL)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        d->wsi = NULL;
        dev_fail(d, "cannot connect: %s", in != NULL ? (const char *)in : "(no reason)");
        connect_more();
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        return dev_established(d, wsi);
    case LWS_CALLBACK_CLIENT_RECEIVE:
        dev_receive(d, in, len,
                    lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0);
        if (d->state == D_THINKING || d->state == D_FINISHED)
            connect_more(); /* a READY frees a handshake slot */
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return dev_writable(d);
    case LWS_CALLBACK_TIMER:
        if (d->due == 0 || bench_now() < d->due)
            return 0; /* disarmed, or armed again since */
        d->due = 0;
        if (d->state == D_THINKING && S.running)
            dev_push(d);
        else if (d->state == D_HANDSHAKE || d->state == D_PUSHING || d->state == D_PULLING)
            dev_fail(d, "no answer within %.0f s", REQUEST_TIMEOUT);
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        d->wsi = NULL;
        if (d->state != D_CLOSING && d->state != D_FAILED)
            dev_fail(d, "the server closed the connection");
        else if (d->state == D_CLOSING)
            d->state = D_CLOSED;
        S.closed++;
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {FS_WS_PROTOCOL, on_event, 0, 16384, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* Opens connections until MAX_CONNECTING handshakes are under way. */
static void connect_more(void)
{
    while (S.connecting < MAX_CONNECTING && S.next_connect < S.n) {
        device *d = &S.devs[S.next_connect++];
        struct lws_client_connect_info ci;
        memset(&ci, 0, sizeof ci);
        ci.context = S.ctx;
        ci.address = "127.0.0.1";
        ci.port = (int)S.o->ports[d->index % S.o->nports]; /* devices split across the nodes */
        ci.path = "/";
        ci.host = "127.0.0.1";
        ci.origin = "127.0.0.1";
        ci.protocol = FS_WS_PROTOCOL;
        ci.opaque_user_data = d;
        d->state = D_CONNECTING;
        S.connecting++;
        if (lws_client_connect_via_info(&ci) == NULL) {
            dev_fail(d, "cannot open a connection");
        }
    }
}

/* lws_service() sleeps until its next event: a tick every 50 ms makes the
 * loops below look at the clock. */
static lws_sorted_usec_list_t tick;

static void on_tick(lws_sorted_usec_list_t *sul)
{
    lws_sul_schedule(S.ctx, 0, sul, on_tick, 50 * LWS_US_PER_MS);
}

/* Services the context until done() says so or limit seconds pass; 0 when
 * done, -1 on timeout. */
static int service_until(int (*done)(void), double limit)
{
    double end = bench_now() + limit;
    while (!done()) {
        if (bench_now() > end)
            return -1;
        if (lws_service(S.ctx, 0) < 0)
            die("the websocket service failed");
    }
    return 0;
}

static int all_connected(void)
{
    return S.next_connect == S.n && S.connecting == 0;
}

static int all_finished(void)
{
    return S.finished + S.failed >= S.n;
}

static int all_closed(void)
{
    size_t gone = 0;
    for (size_t i = 0; i < S.n; i++)
        gone += S.devs[i].wsi == NULL;
    return gone == S.n;
}

static double percentile(const double *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)ceil(p / 100.0 * (double)n);
    return sorted[i == 0 ? 0 : i - 1];
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Says BYE on every open session and waits for the connections to close. */
static void close_all(void)
{
    for (size_t i = 0; i < S.n; i++) {
        device *d = &S.devs[i];
        if (d->wsi == NULL || d->ch == NULL || d->state == D_FAILED)
            continue;
        fs_buf b;
        fs_buf_init(&b);
        int rc = fs_channel_bye(d->ch, &b);
        if (rc == 0)
            rc = dev_emit(d, &b);
        fs_buf_free(&b);
        dev_timer(d, -1);
        d->state = D_CLOSING;
        if (rc != 0)
            lws_set_timeout(d->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
    if (service_until(all_closed, 30) != 0)
        fprintf(stderr, PROG ": some connections did not close within 30 s\n");
}

static int write_results(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    for (size_t i = 0; i < S.n; i++)
        fprintf(f, "%u %u %d\n", S.devs[i].index, S.devs[i].visits_acked, S.devs[i].customer_acked);
    return fclose(f);
}

static volatile sig_atomic_t end_early; /* SIGUSR1: the workload ends now */

static void on_usr1(int sig)
{
    (void)sig;
    end_early = 1;
}

static int cmd_run(const opts *o, int active)
{
    if (o->keys == NULL || o->port == 0 || o->server_pid == 0 || o->devices == 0)
        usage();
    if (o->npids != o->nports)
        die("--server-pid: one for each --port");
    memset(&S, 0, sizeof S);
    S.o = o;
    S.active = active;
    keys_read(o->keys, &S.k);
    if (o->devices > S.k.devices)
        die("--devices: the store has only %u devices (setup --devices)", S.k.devices);
    S.n = o->devices;
    S.devs = calloc(S.n, sizeof *S.devs);
    if (S.devs == NULL || visit_set_make(&S.texts, TEXTS) != 0)
        die("out of memory");
    for (size_t i = 0; i < S.n; i++) {
        device *d = &S.devs[i];
        d->index = (uint32_t)i;
        d->next_seq = 1;
        user_name(d->index, d->user);
        derive(&S.k, 'c', d->index, 0, d->customer, FS_ID_BYTES);
        fs_reassembler_init(&d->rx, fs_proto_default_limits.max_frame);
    }
    /* One descriptor per device: the soft limit goes up to the hard one. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < S.n + 64)
        die("%zu devices need %zu descriptors; the limit is %llu", S.n, S.n + 64,
            (unsigned long long)rl.rlim_cur);
    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.fd_limit_per_thread = (unsigned)(S.n + 64);
    S.ctx = lws_create_context(&info);
    if (S.ctx == NULL)
        die("cannot create the websocket context");
    lws_sul_schedule(S.ctx, 0, &tick, on_tick, 50 * LWS_US_PER_MS);

    long rss0 = rss_kib(o->server_pid), maps0 = map_count(o->server_pid);
    if (rss0 < 0)
        die("--server-pid: no process %ld", o->server_pid);
    /* every node's RSS before, connected and at the end; its CPU over the
     * run; PostgreSQL's (the postmaster and its children) */
    size_t nn = o->nports;
    long nrss[MAX_NODES][3] = {{0}};
    double ncpu[MAX_NODES][2] = {{0}}, pgcpu[2] = {0, 0};
    for (size_t k = 0; k < nn; k++) {
        nrss[k][0] = rss_kib(o->pids[k]);
        if (nrss[k][0] < 0)
            die("--server-pid: no process %ld", o->pids[k]);
    }
    if (o->pg_pid != 0 && tree_cpu_secs(o->pg_pid) < 0)
        die("--pg-pid: no process %ld", o->pg_pid);
    double t0 = bench_now(), scpu0 = cpu_secs(o->server_pid);
    connect_more();
    int timed_out = service_until(all_connected, CONNECT_TIMEOUT);
    double t_conn = bench_now() - t0, scpu_conn = cpu_secs(o->server_pid) - scpu0;
    /* Let the server settle (frees, lws housekeeping) before measuring. */
    double settle = bench_now() + 1.0;
    while (bench_now() < settle)
        lws_service(S.ctx, 0);
    long rss1 = rss_kib(o->server_pid), maps1 = map_count(o->server_pid);
    for (size_t k = 0; k < nn; k++)
        nrss[k][1] = nrss[k][2] = rss_kib(o->pids[k]);
    if (timed_out)
        fprintf(stderr, PROG ": not every device connected within %.0f s\n", CONNECT_TIMEOUT);

    double t_run = 0, scpu_run = 0, mycpu_run = 0, measured = 0;
    long rss2 = rss1;
    if (active && S.ready > 0) {
        /* Every device starts its first round within one interval. */
        S.running = 1;
        for (size_t i = 0; i < S.n; i++)
            if (S.devs[i].state == D_THINKING)
                dev_timer(&S.devs[i],
                          randombytes_uniform((uint32_t)(o->interval_ms * 1000u + 1)) / 1e6);
        double r0 = bench_now(), c0 = 0, m0 = self_cpu_secs();
        for (size_t k = 0; k < nn; k++)
            c0 += ncpu[k][0] = cpu_secs(o->pids[k]);
        if (o->pg_pid != 0)
            pgcpu[0] = tree_cpu_secs(o->pg_pid);
        double end = r0 + (double)o->seconds;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGUSR1, &sa, NULL);
        while (bench_now() < end && !end_early)
            if (lws_service(S.ctx, 0) < 0)
                die("the websocket service failed");
        measured = bench_now() - r0;
        S.stopping = 1;
        for (size_t i = 0; i < S.n; i++) /* those between rounds finish now */
            if (S.devs[i].state == D_THINKING)
                dev_think(&S.devs[i]);
        if (service_until(all_finished, DRAIN_TIMEOUT) != 0)
            fprintf(stderr, PROG ": rounds still unfinished %.0f s after the end\n", DRAIN_TIMEOUT);
        t_run = bench_now() - r0;
        scpu_run = -c0; /* every node's */
        for (size_t k = 0; k < nn; k++)
            scpu_run += ncpu[k][1] = cpu_secs(o->pids[k]);
        if (o->pg_pid != 0)
            pgcpu[1] = tree_cpu_secs(o->pg_pid);
        mycpu_run = self_cpu_secs() - m0;
        rss2 = rss_kib(o->server_pid);
        for (size_t k = 0; k < nn; k++)
            nrss[k][2] = rss_kib(o->pids[k]);
    } else if (!active) {
        double end = bench_now() + (double)o->hold;
        while (bench_now() < end)
            lws_service(S.ctx, 0);
        rss2 = rss_kib(o->server_pid);
        for (size_t k = 0; k < nn; k++)
            nrss[k][2] = rss_kib(o->pids[k]);
    }
    size_t connected = 0;
    for (size_t i = 0; i < S.n; i++)
        connected += S.devs[i].wsi != NULL && S.devs[i].state != D_FAILED;
    long rss_max = rss2 > rss1 ? rss2 : rss1;
    double per_conn = S.ready > 0 ? (double)(rss1 - rss0) / (double)S.ready : 0;
    double per_conn_end = connected > 0 ? (double)(rss2 - rss0) / (double)connected : 0;

    close_all();
    if (o->out != NULL && write_results(o->out) != 0)
        die("--out: cannot write %s: %s", o->out, strerror(errno));

    if (S.nlat > 0)
        qsort(S.lat, S.nlat, sizeof *S.lat, cmp_double);
    double p50 = percentile(S.lat, S.nlat, 50) * 1000, p99 = percentile(S.lat, S.nlat, 99) * 1000,
           pmax = S.nlat ? S.lat[S.nlat - 1] * 1000 : 0;
    double rate = t_run > 0 ? (double)S.changes_acked / t_run : 0;
    char cpu[128], c1[32], c2[32], c3[32];
    bench_cpu_model(cpu, sizeof cpu);
    printf("%s mode: %zu devices, one process, real handshakes, one identity each\n",
           active ? "active" : "idle", S.n);
    printf("machine: %s, %ld cores online\n", cpu, sysconf(_SC_NPROCESSORS_ONLN));
    printf("  %-34s %s\n", "devices connected (READY)",
           bench_fmt_count(c1, sizeof c1, (double)S.ready));
    printf("  %-34s %.1f s (%.0f handshakes/s; server CPU %.1f s)\n", "connect time", t_conn,
           t_conn > 0 ? (double)S.ready / t_conn : 0, scpu_conn);
    if (active) {
        printf("  %-34s %.0f s measured + drain = %.1f s; %zu visits/push, interval %zu ms\n",
               "workload", measured, t_run, o->visits, o->interval_ms);
        printf("  %-34s %s (%s visits) in %s pushes\n", "changes accepted (ACKed)",
               bench_fmt_count(c1, sizeof c1, (double)S.changes_acked),
               bench_fmt_count(c2, sizeof c2, (double)S.visits_acked),
               bench_fmt_count(c3, sizeof c3, (double)S.acks));
        printf("  %-34s %s/s\n", "accepted changes", bench_fmt_count(c1, sizeof c1, rate));
        printf("  %-34s p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", "ACK latency (PUSH -> ACK)", p50,
               p99, pmax);
        printf("  %-34s %s pulls, %s changes received, %s pokes\n", "pulls",
               bench_fmt_count(c1, sizeof c1, (double)S.pulls),
               bench_fmt_count(c2, sizeof c2, (double)S.changes_pulled),
               bench_fmt_count(c3, sizeof c3, (double)S.pokes));
        printf("  %-34s server %.1f s (%.0f %% of a core), loadsim %.1f s\n", "CPU during the run",
               scpu_run, t_run > 0 ? 100 * scpu_run / t_run : 0, mycpu_run);
    }
    printf("  %-34s %ld KiB before, %ld KiB connected, %ld KiB at the end\n", "server RSS", rss0,
           rss1, rss2);
    printf("  %-34s %.1f KiB (connected), %.1f KiB (at the end)\n", "server RSS per connection",
           per_conn, per_conn_end);
    printf("  %-34s %ld before, %ld connected (%.1f per connection)\n", "server memory mappings",
           maps0, maps1, S.ready > 0 ? (double)(maps1 - maps0) / (double)S.ready : 0);
    printf("  %-34s %s (%s changes refused)\n", "errors",
           bench_fmt_count(c1, sizeof c1, (double)S.errors),
           bench_fmt_count(c2, sizeof c2, (double)S.rejects));
    if (S.first_error[0])
        printf("  %-34s %s\n", "first error", S.first_error);
    /* per node: the changes it acknowledged, its CPU per 1,000 of them, its
     * RSS per connection; PostgreSQL's CPU per 1,000 changes of all */
    char nodes[MAX_NODES * 256] = "";
    size_t used = 0;
    for (size_t k = 0; k < nn; k++) {
        double used_s = active ? ncpu[k][1] - ncpu[k][0] : 0;
        double per1k = S.node_changes[k] > 0 ? used_s * 1000.0 / (double)S.node_changes[k] : 0;
        double rpc = S.node_ready[k] > 0
                         ? (double)(nrss[k][1] - nrss[k][0]) / (double)S.node_ready[k]
                         : 0;
        char label[48];
        snprintf(label, sizeof label, "node %zu (port %zu)", k + 1, o->ports[k]);
        if (active)
            printf("  %-34s %zu devices, %llu changes, CPU %.1f s = %.2f s per 1,000 changes, "
                   "RSS %.1f KiB per connection\n",
                   label, S.node_ready[k], (unsigned long long)S.node_changes[k], used_s, per1k,
                   rpc);
        else
            printf("  %-34s %zu devices, RSS %.1f KiB per connection\n", label, S.node_ready[k],
                   rpc);
        int w = snprintf(nodes + used, sizeof nodes - used,
                         "%s{\"port\":%zu,\"devices\":%zu,\"changes\":%llu,\"cpu_s\":%.2f,"
                         "\"cpu_s_per_1000\":%.3f,\"rss_kib\":[%ld,%ld,%ld],"
                         "\"rss_per_conn_kib\":%.1f}",
                         k ? "," : "", o->ports[k], S.node_ready[k],
                         (unsigned long long)S.node_changes[k], used_s, per1k, nrss[k][0], nrss[k][1],
                         nrss[k][2], rpc);
        if (w > 0 && (size_t)w < sizeof nodes - used)
            used += (size_t)w;
    }
    double pg_cpu = pgcpu[1] - pgcpu[0];
    double pg_per1k = S.changes_acked > 0 ? pg_cpu * 1000.0 / (double)S.changes_acked : 0;
    if (active && o->pg_pid != 0)
        printf("  %-34s CPU %.1f s = %.2f s per 1,000 changes (the postmaster and its children)\n",
               "PostgreSQL", pg_cpu, pg_per1k);
    char pgj[2][32] = {"null", "null"};
    if (active && o->pg_pid != 0) {
        snprintf(pgj[0], sizeof pgj[0], "%.2f", pg_cpu);
        snprintf(pgj[1], sizeof pgj[1], "%.3f", pg_per1k);
    }
    printf(PROG ": {\"mode\":\"%s\",\"devices\":%zu,\"connected\":%zu,\"seconds\":%.1f,"
                "\"changes_acked\":%llu,\"visits_acked\":%llu,\"changes_per_s\":%.0f,"
                "\"ack_p50_ms\":%.1f,\"ack_p99_ms\":%.1f,\"pulls\":%llu,\"changes_pulled\":%llu,"
                "\"server_cpu_s\":%.1f,\"server_rss_kib\":[%ld,%ld,%ld],"
                "\"rss_per_conn_kib\":%.1f,\"errors\":%llu,\"nodes\":[%s],"
                "\"pg_cpu_s\":%s,\"pg_cpu_s_per_1000\":%s}\n",
           active ? "active" : "idle", S.n, S.ready, t_run, (unsigned long long)S.changes_acked,
           (unsigned long long)S.visits_acked, rate, p50, p99, (unsigned long long)S.pulls,
           (unsigned long long)S.changes_pulled, scpu_run, rss0, rss1, rss_max, per_conn,
           (unsigned long long)S.errors, nodes, pgj[0], pgj[1]);

    int failed = S.errors > 0 || S.ready < S.n;
    for (size_t i = 0; i < S.n; i++)
        dev_free(&S.devs[i]);
    lws_sul_cancel(&tick);
    lws_context_destroy(S.ctx);
    free(S.devs);
    free(S.lat);
    visit_set_free(&S.texts);
    sodium_memzero(&S.k, sizeof S.k);
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || sodium_init() < 0)
        usage();
    opts o;
    parse(&o, argc, argv);
    if (strcmp(argv[1], "setup") == 0)
        return cmd_setup(&o);
    if (strcmp(argv[1], "active") == 0)
        return cmd_run(&o, 1);
    if (strcmp(argv[1], "idle") == 0)
        return cmd_run(&o, 0);
    if (strcmp(argv[1], "verify") == 0)
        return cmd_verify(&o);
    usage();
    return 2;
}
