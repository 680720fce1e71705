/*
 * fieldsync-server serve: runs the sync service. Opens the store, takes the
 * server identity from the store's replica and hands both to the hub
 * (hub.h), which serves them over the websocket transport
 * (fieldsync/transport.h) on a thread of its own.
 * The main thread waits for SIGTERM or SIGINT, answering admin commands on
 * the control socket meanwhile (ctl.c), then stops the transport and closes
 * the store.
 *
 * Signals: SIGTERM, SIGINT and SIGHUP are blocked before the transport's
 * thread is created, so that thread inherits the mask and never runs the
 * handler; the main thread waits in ppoll() with them unblocked. The
 * handler only sets a flag. SIGHUP reads the settings file again (--config,
 * conf.c), applies the lease through the hub, and has the transport load
 * the TLS pair again from its files; what fails leaves what runs.
 *
 * The address: libwebsockets 4.1 takes the host as its "iface" and, given
 * an IPv4 literal such as 127.0.0.1 on its IPv6 socket, silently listens on
 * every interface. So serve resolves HOST itself, checks that the address
 * can be bound here (a probe socket gives a precise error: in use, not an
 * address of this machine, permission), and hands libwebsockets the IPv6
 * form, "::ffff:a.b.c.d" for IPv4, which it binds exactly.
 *
 * Output: one line "listening on HOST:PORT" on stdout once the socket is
 * listening (with the real port when 0 was asked for); start and stop on
 * stderr. The transport does not expose message contents, and nothing here
 * logs any.
 */
#define _GNU_SOURCE /* ppoll */
#include <libintl.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "fieldsync/clock.h"
#include "fieldsync/duration.h"
#include "hub.h"
#include "store/audit.h"
#include "srv.h"
#include "web.h"

#define _(s) gettext(s) /* the operator's language: srv_lang */
#define N_(s) s /* marked for xgettext, translated where shown */

#define NOPTS(a)          (sizeof(a) / sizeof((a)[0]))
#define HOST_MAX          255 /* bytes of host in --listen */
#define FINGERPRINT_SHOWN 16  /* hex digits of the server key in the log */
#define LEASE_MIN_MS      1000ull
#define LEASE_MAX_MS      (365ull * 24 * 3600 * 1000)
#define FDS_WANTED        65536 /* descriptors: one per connected device */
#define COMPACT_EVERY_DEFAULT_MS (24ull * 3600 * 1000) /* see DESIGN, "Feed compaction" */
#define COMPACT_EVERY_MAX_MS     (365ull * 24 * 3600 * 1000)
#define COMPACT_KEEP_DAYS_DEFAULT 30
#define COMPACT_KEEP_DAYS_MAX     36500
#define COMPACT_PAUSE_MS          50 /* between two steps: the sessions run */

static const char serve_usage[] =
    N_("usage: fieldsync-server serve --data DIR --listen HOST:PORT [--lease DURATION]\n"
    "         [--tls-cert FILE --tls-key FILE] [--insecure-http] [--config FILE]\n"
    "         [--compact-every DURATION] [--compact-keep-days N]\n"
    "Serves the sync protocol (websocket subprotocol fieldsync.v1) on HOST:PORT\n"
    "until SIGTERM or SIGINT. HOST is an IPv4 address, an [IPv6] address or a\n"
    "name resolving to an address of this machine; PORT 0 picks a free port.\n"
    "Prints \"listening on HOST:PORT\" once ready. Each sync grants the device's\n"
    "key a lease of DURATION (default 7d; units s, m, h, d): a device that cannot\n"
    "reach the server before it ends locks itself until a sync renews it.\n"
    "With --tls-cert and --tls-key (PEM) the port speaks https:// and wss:// only.\n"
    "A HOST other than loopback needs TLS, or --insecure-http to serve passwords\n"
    "and customer names in clear (logged at every start).\n"
    "--config FILE: the settings as KEY=value lines (FIELDSYNC_DATA, _LISTEN,\n"
    "_LEASE, _TLS_CERT, _TLS_KEY, _INSECURE_HTTP; fieldsync.conf(5)); options on\n"
    "the command line win. SIGHUP reads FILE again and applies the lease, and\n"
    "loads the TLS certificate and key again from their files (a renewed pair);\n"
    "the other settings take effect at the next start.\n"
    "--compact-every DURATION: compacts the feed by itself that often (default\n"
    "1d; 0: never; the first time at a random moment within the first period),\n"
    "the changes a later one replaced among the entries older than\n"
    "--compact-keep-days N (default 30; 0: every entry), a few hundred rows at a\n"
    "time between the devices' syncs; each compaction is audited.\n");

static volatile sig_atomic_t stop_signal, hup_signal;

static void on_stop_signal(int sig)
{
    if (sig == SIGHUP)
        hup_signal = 1;
    else
        stop_signal = sig;
}

/* Splits "HOST:PORT" ("[V6]:PORT" too) into host (NUL-terminated, cap bytes)
 * and port (0..65535, decimal digits only). SRV_OK or SRV_EUSAGE with a
 * message naming --listen. */
static int parse_listen(const char *listen, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(listen, ':');
    const char *h = listen;
    size_t hlen;
    if (colon == NULL || colon[1] == '\0') {
        srv_error(_("--listen: expected HOST:PORT, the port is missing"));
        return SRV_EUSAGE;
    }
    hlen = (size_t)(colon - listen);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    } else if (memchr(h, ':', hlen) != NULL) {
        srv_error(_("--listen: write an IPv6 host in brackets, as [::1]:PORT"));
        return SRV_EUSAGE;
    }
    if (hlen == 0) {
        srv_error(_("--listen: expected HOST:PORT, the host is missing"));
        return SRV_EUSAGE;
    }
    if (hlen >= cap || hlen > HOST_MAX) {
        srv_error(_("--listen: the host is too long"));
        return SRV_EUSAGE;
    }
    for (size_t i = 0; i < hlen; i++) {
        unsigned char ch = (unsigned char)h[i];
        if (ch <= 0x20 || ch >= 0x7F || ch == '[' || ch == ']' || ch == '/') {
            srv_error(_("--listen: the host holds a character not allowed in a host"));
            return SRV_EUSAGE;
        }
    }
    long p = 0;
    const char *d = colon + 1;
    for (; *d != '\0'; d++) {
        if (*d < '0' || *d > '9' || p > 65535) {
            srv_error(_("--listen: the port must be a number from 0 to 65535"));
            return SRV_EUSAGE;
        }
        p = p * 10 + (*d - '0');
    }
    if (p > 65535) {
        srv_error(_("--listen: the port must be a number from 0 to 65535"));
        return SRV_EUSAGE;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (int)p;
    return SRV_OK;
}

/* Resolves host and checks that host:port can be bound here (SO_REUSEADDR,
 * as libwebsockets does); writes the address as libwebsockets must be given
 * it (IPv4 mapped into IPv6) into iface. SRV_OK or SRV_ERUNTIME with a
 * message naming --listen and the address. */
static int check_bindable(const char *listen, const char *host, int port, char *iface, size_t cap,
                          int *loopback)
{
    *loopback = 0;
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int grc = getaddrinfo(host, NULL, &hints, &ai);
    if (grc != 0 || ai == NULL) {
        srv_error(_("--listen: cannot resolve the host of %s: %s"), listen, gai_strerror(grc));
        return SRV_ERUNTIME;
    }
    int rc = SRV_ERUNTIME;
    char text[INET6_ADDRSTRLEN];
    struct sockaddr_storage sa;
    memset(&sa, 0, sizeof sa);
    memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
    socklen_t salen = ai->ai_addrlen;
    int family = ai->ai_family;
    freeaddrinfo(ai);
    if (family == AF_INET) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)&sa;
        v4->sin_port = htons((uint16_t)port);
        inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
        snprintf(iface, cap, "::ffff:%s", text);
        *loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    } else if (family == AF_INET6) {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&sa;
        v6->sin6_port = htons((uint16_t)port);
        inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
        snprintf(iface, cap, "%s", text);
        *loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
    } else {
        srv_error(_("--listen: the host of %s is not an IP address"), listen);
        return SRV_ERUNTIME;
    }
    int fd = socket(family, SOCK_STREAM, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
        srv_error(_("--listen: cannot open a socket: %s"), strerror(errno));
    } else if (bind(fd, (struct sockaddr *)&sa, salen) != 0) {
        int e = errno;
        srv_error(_("--listen: cannot listen on %s: %s"), listen,
                  e == EADDRINUSE      ? "the address is already in use"
                  : e == EADDRNOTAVAIL ? "not an address of this machine"
                                       : strerror(e));
    } else {
        rc = SRV_OK;
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

/* The audit chain's head in the log (issue 20 point 3), so a log shipper
 * keeps a copy: a tail cut off later (a deleted WAL, a database put back)
 * fails `audit verify --expect-head` with a head from the log. when: "at
 * start", "hourly", "at stop". */
static void log_audit_head(fs_store *s, const char *when)
{
    char head[SRV_AUDIT_HEAD_MAX];
    if (srv_audit_head_text(fs_store_audit(s), head) == 0)
        srv_log("audit head %s: %s", when, head);
    else
        srv_log("audit head %s: cannot be read (run audit verify)", when);
}

static int log_audit_head_hourly(fs_store *s, void *ctx)
{
    (void)ctx;
    log_audit_head(s, "hourly");
    return 0;
}

/* The connection budget's counts (issue 20.2), read on the server's thread. */
typedef struct conn_counts_job {
    fs_ws_server *ws;
    fs_net_conn_counts c;
} conn_counts_job;

static int read_conn_counts(fs_store *s, void *ctx)
{
    (void)s;
    conn_counts_job *j = ctx;
    fs_ws_server_counts(j->ws, &j->c);
    return 0;
}

/* Once a minute: what the budget closed or refused since the last look, if
 * anything (a flood of idle connections shows in the log, one line a
 * minute, never one per connection). */
static void log_conn_budget(fs_ws_server *ws, fs_net_conn_counts *last)
{
    conn_counts_job j = {ws, {0}};
    if (fs_ws_server_call(ws, read_conn_counts, &j) != 0)
        return;
    if (j.c.closed_oldest != last->closed_oldest || j.c.refused != last->refused)
        srv_log("connections: %llu not yet authenticated closed to keep the budget (the oldest "
                "first) and %llu refused within the last minute; %zu open, %zu of them not yet "
                "authenticated",
                (unsigned long long)(j.c.closed_oldest - last->closed_oldest),
                (unsigned long long)(j.c.refused - last->refused), j.c.open, j.c.unauthenticated);
    *last = j.c;
}

/* Installs on_stop_signal for SIGTERM, SIGINT and SIGHUP and blocks them;
 * *saved receives the previous mask (to wait with). SRV_OK or SRV_ERUNTIME. */
static int take_stop_signals(sigset_t *saved)
{
    struct sigaction sa;
    sigset_t block;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &block, saved) != 0 || sigaction(SIGTERM, &sa, NULL) != 0 ||
        sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGHUP, &sa, NULL) != 0) {
        srv_error(_("serve: cannot install the signal handlers: %s"), strerror(errno));
        return SRV_ERUNTIME;
    }
    /* A vanished peer must be an error on write, not the end of the process. */
    signal(SIGPIPE, SIG_IGN);
    sigdelset(saved, SIGTERM);
    sigdelset(saved, SIGINT);
    sigdelset(saved, SIGHUP);
    return SRV_OK;
}

/* Every connected device holds a descriptor, and libwebsockets sizes its
 * tables by the limit when the transport starts; the usual soft limit
 * (1,024) would refuse the 1,025th device. So the soft limit is raised to
 * the hard one, up to FDS_WANTED (the transport polls, it never selects).
 * Failing leaves the limit as it was: serve runs all the same. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want =
        rl.rlim_max == RLIM_INFINITY || rl.rlim_max > FDS_WANTED ? FDS_WANTED : rl.rlim_max;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rl.rlim_cur = want;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* The dashboard's logins are checked on the hub's workers. */
static int defer_on_hub(void *ctx, const fs_http_request *rq, fs_http_response *out,
                        int urgent, void (*work)(void *job),
                        void (*finish)(void *job, fs_store *store, fs_http_response *answer),
                        void *job)
{
    return fs_ws_server_defer(ctx, rq, out, urgent, work, finish, job);
}

/* What serve runs with, for SIGHUP: where the settings came from. */
typedef struct running {
    const char *conf_path; /* NULL: no --config */
    srv_conf conf;         /* the file as serve started with it */
    int lease_flag;        /* --lease given: the file's lease is not used */
    uint64_t lease_ms;
    const char *cert; /* serving TLS */
} running;

static int set_lease_job(fs_store *s, void *ctx)
{
    fs_store_set_lease(s, *(const uint64_t *)ctx);
    return 0;
}

static int differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

/* SIGHUP: the settings file again, then the TLS pair again. Whatever fails
 * leaves what runs as it is, and says so in the log. */
static void reload(running *r, fs_ws_server *ws)
{
    srv_log("SIGHUP received: reloading");
    srv_conf c;
    if (r->conf_path != NULL && srv_conf_load(r->conf_path, &c) != SRV_OK) {
        srv_log("reload: %s not applied (see above): the running settings stay", r->conf_path);
    } else if (r->conf_path != NULL) {
        uint64_t ms = FS_LEASE_DEFAULT_MS;
        const char *why =
            c.lease != NULL ? fs_duration_parse(c.lease, LEASE_MIN_MS, LEASE_MAX_MS, &ms) : NULL;
        if (r->lease_flag) {
            if (differs(c.lease, r->conf.lease))
                srv_log("reload: FIELDSYNC_LEASE changed, but --lease on the command line wins");
        } else if (why != NULL) {
            srv_log("reload: FIELDSYNC_LEASE: %s (from 1s to 365d): the lease stays as it was",
                    why);
        } else if (ms != r->lease_ms) {
            (void)fs_ws_server_call(ws, set_lease_job, &ms);
            r->lease_ms = ms;
            srv_log("reload: devices are now granted a lease of %s%s", c.lease ? c.lease : "7d",
                    c.lease ? "" : " (the default)");
        }
        static const struct {
            const char *key;
            size_t off;
        } later[] = {{"FIELDSYNC_DATA", offsetof(srv_conf, data)},
                     {"FIELDSYNC_LISTEN", offsetof(srv_conf, listen)},
                     {"FIELDSYNC_TLS_CERT", offsetof(srv_conf, tls_cert)},
                     {"FIELDSYNC_TLS_KEY", offsetof(srv_conf, tls_key)},
                     {"FIELDSYNC_INSECURE_HTTP", offsetof(srv_conf, insecure_http)}};
        for (size_t i = 0; i < sizeof later / sizeof later[0]; i++)
            if (differs(*(char **)((char *)&c + later[i].off),
                        *(char **)((char *)&r->conf + later[i].off)))
                srv_log("reload: %s changed: it takes effect at the next start", later[i].key);
        srv_conf_free(&c);
    }
    if (r->cert != NULL) {
        int frc = fs_ws_server_reload_tls(ws);
        if (frc == 0)
            srv_log("reload: TLS certificate and key loaded again; new connections get them");
        else
            srv_log("reload: the TLS certificate and key do not load (PEM files that belong "
                    "together): the old pair stays");
    }
    srv_log("reload: done");
}

/* ---- compaction by itself (issue 21.1) ----
 * Every every_ms (a random moment of the first period for the first), serve
 * compacts the feed: one step (SRV_COMPACT_ROWS rows, one transaction) per
 * job on the transport's thread, then COMPACT_PAUSE_MS of the main loop in
 * which the sessions run alone; audited when complete. A failed round is
 * logged and tried again a period later. */
typedef struct auto_compact {
    uint64_t every_ms; /* 0: never */
    uint64_t keep_days;
    uint64_t next_ms; /* monotonic: the next round, or the next step of this one */
    int running;
    unsigned steps;
    uint64_t started_ms;
    fs_feed_compaction c;
    char err[256]; /* why a step failed: the store's message, never a value */
} auto_compact;

/* On the transport's thread: one step of the round. */
static int compact_step_job(fs_store *s, void *ctx)
{
    auto_compact *a = ctx;
    int frc = 0;
    if (a->c.horizon == 0)
        frc = fs_store_horizon_before(s, a->keep_days * 86400000u, &a->c.horizon);
    if (frc == 0)
        frc = fs_store_compact_step(s, &a->c, SRV_COMPACT_ROWS);
    if (frc != 0) {
        snprintf(a->err, sizeof a->err, "%s", fs_store_errmsg(s));
    } else if (a->c.done) {
        frc = srv_compact_audit(s, "serve", a->keep_days, &a->c);
        if (frc != 0)
            snprintf(a->err, sizeof a->err, "cannot write the audit entry: %s",
                     fs_audit_errmsg(fs_store_audit(s)));
    }
    return frc;
}

/* A random moment within the first period: servers started together (a
 * fleet restarted at once) do not compact together. */
static uint64_t compact_first_ms(uint64_t every_ms)
{
    if (every_ms <= UINT32_MAX)
        return randombytes_uniform((uint32_t)every_ms);
    return (uint64_t)randombytes_uniform((uint32_t)(every_ms / 1000)) * 1000u;
}

/* The main loop's turn: a step of the round (starting it if due). */
static void compact_tick(auto_compact *a, fs_ws_server *ws)
{
    if (!a->running) {
        memset(&a->c, 0, sizeof a->c);
        a->running = 1;
        a->steps = 0;
        a->started_ms = fs_clock_mono_ms();
        srv_log("compaction: starting (the entries written more than %llu days ago)",
                (unsigned long long)a->keep_days);
    }
    a->err[0] = '\0';
    int rc = fs_ws_server_call(ws, compact_step_job, a);
    a->steps++;
    uint64_t now = fs_clock_mono_ms();
    if (rc != 0) {
        srv_log("compaction: failed at step %u (%s); the next round in one period", a->steps,
                a->err[0] ? a->err : fs_strerror(rc));
        a->running = 0;
        a->next_ms = now + a->every_ms;
    } else if (a->c.done) {
        srv_log("compaction: done in %u steps, %.1f s: below entry %llu, %llu rows, %llu entries "
                "dropped, %llu rewritten, %llu changes dropped, %llu bytes of changes now %llu "
                "(audited)",
                a->steps, (double)(now - a->started_ms) / 1000.0,
                (unsigned long long)a->c.horizon, (unsigned long long)a->c.rows,
                (unsigned long long)a->c.entries_dropped,
                (unsigned long long)a->c.entries_rewritten,
                (unsigned long long)a->c.changes_dropped, (unsigned long long)a->c.bytes_before,
                (unsigned long long)a->c.bytes_after);
        a->running = 0;
        a->next_ms = now + a->every_ms;
    } else {
        a->next_ms = now + COMPACT_PAUSE_MS;
    }
}

/* --compact-every and --compact-keep-days into *a. SRV_OK or SRV_EUSAGE. */
static int compact_options(const char *every_s, const char *days_s, auto_compact *a)
{
    memset(a, 0, sizeof *a);
    a->every_ms = COMPACT_EVERY_DEFAULT_MS;
    a->keep_days = COMPACT_KEEP_DAYS_DEFAULT;
    if (every_s != NULL && strcmp(every_s, "0") == 0) {
        a->every_ms = 0;
    } else if (every_s != NULL) {
        const char *why = fs_duration_parse(every_s, 1000u, COMPACT_EVERY_MAX_MS, &a->every_ms);
        if (why != NULL) {
            srv_error(_("--compact-every: %s (from 1s to 365d, or 0: never)"), why);
            return SRV_EUSAGE;
        }
    }
    if (days_s != NULL) {
        int ok = days_s[0] != '\0' && strlen(days_s) <= 5;
        uint64_t d = 0;
        for (const char *p = days_s; ok && *p; p++) {
            ok = *p >= '0' && *p <= '9';
            d = d * 10 + (uint64_t)(*p - '0');
        }
        if (!ok || d > COMPACT_KEEP_DAYS_MAX) {
            srv_error(_("--compact-keep-days: expected a whole number of days from 0 to %d"),
                      COMPACT_KEEP_DAYS_MAX);
            return SRV_EUSAGE;
        }
        a->keep_days = d;
    }
    return SRV_OK;
}

int srv_cmd_serve(int argc, char **argv)
{
    const char *data = NULL, *listen = NULL, *lease_s = NULL, *cert = NULL, *key = NULL;
    const char *conf_path = NULL, *compact_every = NULL, *compact_days = NULL;
    int insecure = 0;
    const fs_opt opts[] = {{"--data", FS_OPT_VALUE, NULL, &data, NULL},
                           {"--listen", FS_OPT_VALUE, NULL, &listen, NULL},
                           {"--lease", FS_OPT_VALUE, NULL, &lease_s, NULL},
                           {"--tls-cert", FS_OPT_VALUE, NULL, &cert, NULL},
                           {"--tls-key", FS_OPT_VALUE, NULL, &key, NULL},
                           {"--insecure-http", FS_OPT_FLAG, &insecure, NULL, NULL},
                           {"--config", FS_OPT_VALUE, NULL, &conf_path, NULL},
                           {"--compact-every", FS_OPT_VALUE, NULL, &compact_every, NULL},
                           {"--compact-keep-days", FS_OPT_VALUE, NULL, &compact_days, NULL}};
    char host[HOST_MAX + 1];
    auto_compact compact;
    memset(&compact, 0, sizeof compact);
    int port = 0;
    running run;
    memset(&run, 0, sizeof run);
    run.lease_ms = FS_LEASE_DEFAULT_MS;
    int rc = srv_parse(serve_usage, opts, NOPTS(opts), argc, argv);
    const char *lease_name = "--lease";
    if (rc == SRV_OK && conf_path != NULL) {
        rc = srv_conf_load(conf_path, &run.conf);
        if (rc == SRV_OK) {
            run.conf_path = conf_path;
            run.lease_flag = lease_s != NULL;
            if (lease_s == NULL && run.conf.lease != NULL) {
                lease_s = run.conf.lease;
                lease_name = "FIELDSYNC_LEASE";
            }
            data = data != NULL ? data : run.conf.data;
            listen = listen != NULL ? listen : run.conf.listen;
            cert = cert != NULL ? cert : run.conf.tls_cert;
            key = key != NULL ? key : run.conf.tls_key;
            insecure = insecure || srv_conf_flag(run.conf.insecure_http) == 1;
        }
    }
    if (rc == SRV_OK && lease_s != NULL) {
        const char *why = fs_duration_parse(lease_s, LEASE_MIN_MS, LEASE_MAX_MS, &run.lease_ms);
        if (why != NULL) {
            srv_error(_("%s: %s (from 1s to 365d)"), lease_name, why);
            rc = SRV_EUSAGE;
        }
    }
    uint64_t lease_ms = run.lease_ms;
    if (rc == SRV_OK)
        rc = compact_options(compact_every, compact_days, &compact);
    if (rc == SRV_OK)
        rc = srv_require("serve", "--data", data);
    if (rc == SRV_OK)
        rc = srv_require("serve", "--listen", listen);
    if (rc == SRV_OK)
        rc = parse_listen(listen, host, sizeof host, &port);
    if (rc == SRV_OK && (cert == NULL) != (key == NULL)) {
        srv_error(_("%s: TLS needs both --tls-cert and --tls-key"), cert ? "--tls-key" : "--tls-cert");
        rc = SRV_EUSAGE;
    }
    if (rc == SRV_OK && cert != NULL && insecure) {
        srv_error(_("--insecure-http: not with --tls-cert (the port speaks TLS only)"));
        rc = SRV_EUSAGE;
    }
    if (rc != SRV_OK) {
        srv_conf_free(&run.conf);
        return rc;
    }
    run.cert = cert;

    fs_store *s = NULL;
    fs_identity *id = NULL;
    fs_ws_server *ws = NULL;
    srv_ctl ctl = {.fd = -1};
    web *dash = NULL;
    sigset_t waitmask;
    char iface[INET6_ADDRSTRLEN + 8];
    int loopback = 0;
    rc = check_bindable(listen, host, port, iface, sizeof iface, &loopback);
    if (rc == SRV_OK && !loopback && cert == NULL && !insecure) {
        srv_error(_("--listen: %s is reachable from other machines: serve with --tls-cert and "
                  "--tls-key, or give --insecure-http to send passwords and customer names in "
                  "clear"),
                  listen);
        rc = SRV_EUSAGE;
    }
    if (rc == SRV_OK)
        rc = srv_open(data, &s);
    if (rc != SRV_OK) {
        srv_conf_free(&run.conf);
        return rc;
    }
    fs_store_set_lease(s, lease_ms);
    log_audit_head(s, "at start");
    int frc = fs_replica_identity(fs_store_replica(s), &id);
    if (frc != 0) {
        rc = srv_fail(s, "reading the server identity", frc);
        goto done;
    }
    rc = take_stop_signals(&waitmask);
    if (rc != SRV_OK)
        goto done;
    rc = srv_ctl_listen(data, &ctl);
    if (rc != SRV_OK)
        goto done;
    raise_fd_limit();
    frc = fs_ws_server_start_tls(&ws, s, id, iface, port, cert, key);
    if (frc == FS_EFORMAT) {
        srv_error(_("--tls-cert, --tls-key: cannot load the certificate and its key (PEM files "
                  "that belong together)"));
        rc = SRV_EUSAGE;
        goto done;
    }
    if (frc != 0) {
        srv_error(_("--listen: cannot listen on %s: %s"), listen, fs_strerror(frc));
        rc = SRV_ERUNTIME;
        goto done;
    }
    if (insecure)
        srv_log("WARNING: --insecure-http: serving %s without TLS: dashboard passwords and "
                "customer names cross the network in clear",
                listen);
    dash = web_new();
    if (dash == NULL) {
        srv_error(_("out of memory"));
        rc = SRV_ERUNTIME;
        goto done;
    }
    web_set_tls(dash, cert != NULL); /* Secure, __Host- cookies */
    web_set_defer(dash, defer_on_hub, ws); /* logins checked on the hub's workers */
    fs_ws_server_set_http(ws, web_handle, dash); /* the dashboard, on the same port */
    char hex[2 * FS_SIGN_PK_BYTES + 1];
    sodium_bin2hex(hex, sizeof hex, id->pk, FS_SIGN_PK_BYTES);
    hex[FINGERPRINT_SHOWN] = '\0';
    srv_log("serving with server key %s...", hex);
    fs_net_budget budget;
    fs_ws_server_budget(ws, &budget);
    srv_log("connections: at most %zu, %zu of them before authentication, %zu of those per "
            "network",
            budget.total, budget.unauthenticated, budget.per_network);
    /* Tests and supervisors wait for this line: it must not sit in a buffer. */
    printf("listening on %.*s:%d%s\n", (int)(strrchr(listen, ':') - listen), listen,
           fs_ws_server_port(ws), cert != NULL ? " (TLS)" : "");
    fflush(stdout);

    /* Signals are taken only inside ppoll, which the handler interrupts;
     * in between, admin commands arrive on the control socket. */
    struct timespec minute = {60, 0};
    uint64_t next_head = fs_clock_mono_ms() + 3600000u;
    uint64_t next_budget = fs_clock_mono_ms() + 60000u;
    fs_net_conn_counts budget_seen = {0};
    if (compact.every_ms != 0) {
        uint64_t first = compact_first_ms(compact.every_ms);
        compact.next_ms = fs_clock_mono_ms() + first;
        srv_log("compaction: every %.0f s, of the entries older than %llu days; the first in "
                "%.0f s (a random moment of the first period)",
                (double)compact.every_ms / 1000.0, (unsigned long long)compact.keep_days,
                (double)first / 1000.0);
    } else {
        srv_log("compaction: off (--compact-every 0)");
    }
    while (stop_signal == 0) {
        struct pollfd p = {ctl.fd, POLLIN, 0};
        struct timespec wait = minute;
        if (compact.every_ms != 0) {
            uint64_t now = fs_clock_mono_ms();
            uint64_t left = compact.next_ms > now ? compact.next_ms - now : 0;
            if (left < 60000u)
                wait = (struct timespec){(time_t)(left / 1000), (long)(left % 1000) * 1000000L};
        }
        if (ppoll(&p, 1, &wait, &waitmask) == 1 && (p.revents & POLLIN))
            srv_ctl_accept(&ctl, data, ws);
        if (stop_signal == 0 && compact.every_ms != 0 && fs_clock_mono_ms() >= compact.next_ms)
            compact_tick(&compact, ws);
        if (hup_signal) {
            hup_signal = 0;
            reload(&run, ws);
        }
        if (fs_clock_mono_ms() >= next_head) {
            (void)fs_ws_server_call(ws, log_audit_head_hourly, NULL);
            next_head = fs_clock_mono_ms() + 3600000u;
        }
        if (fs_clock_mono_ms() >= next_budget) {
            log_conn_budget(ws, &budget_seen);
            next_budget = fs_clock_mono_ms() + 60000u;
        }
    }
    srv_log("%s received, stopping", stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
    conn_counts_job total = {ws, {0}};
    if (fs_ws_server_call(ws, read_conn_counts, &total) == 0)
        srv_log("connections: %llu not yet authenticated closed to keep the budget (the oldest "
                "first) and %llu refused since the start",
                (unsigned long long)total.c.closed_oldest, (unsigned long long)total.c.refused);
    /* The transport's thread is the only user of the store until it is
     * joined here; the store is ours again afterwards. */
    fs_ws_server_stop(ws);
    ws = NULL;
    log_audit_head(s, "at stop");
    srv_log("stopped");
    rc = SRV_OK;

done:
    fs_ws_server_stop(ws);
    web_free(dash);
    srv_ctl_close(&ctl);
    fs_identity_free(id);
    fs_store_close(s);
    srv_conf_free(&run.conf);
    return rc;
}
