/*
 * fieldsync daemon: syncs by itself until SIGTERM. The loop, its backoff and
 * its tick are here; the server's address it syncs with is read as sync
 * reads it (cmd_sync.h), and the live connection is the link's
 * (fs_ws_live_run in link.h).
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "agent.h"
#include "cmd.h"
#include "refused.h"
#include "cmd_sync.h"
#include "fieldsync/passphrase.h"
#include "fieldsync/calendar.h"
#include "fieldsync/clock.h"
#include "link.h"
#include "i18n.h"

/* The daemon syncs by itself. It takes the key from the unlock agent at each
 * sync (or keeps its own, unwrapped once, when $FIELDSYNC_PASSPHRASE gave it)
 * and keeps the replica closed between syncs, so the other commands can
 * write; while the agent is gone it waits, locked. It
 * looks at the replica's files five times a second and syncs within a
 * second of a local change, pulls every --interval seconds, and while the
 * server is unreachable retries with exponential backoff plus jitter,
 * capped at 8 s so a returning server is noticed within about 10 s. Whether
 * the server answers is checked with a plain TCP connection first, so being
 * offline costs no handshake. A revoked device is wiped. A sync renews the
 * device's lease, so the daemon works on a locked device too. */

#define DAEMON_TICK_MS        200
#define DAEMON_BACKOFF_MIN_MS 1000
#define DAEMON_BACKOFF_MAX_MS 8000
#define DAEMON_LOCKED_RETRY_MS 1000
#define USAGE_DAEMON_TEXT     USAGE_DAEMON

static volatile sig_atomic_t daemon_stop;

static void daemon_on_signal(int sig)
{
    (void)sig;
    daemon_stop = 1;
}

/* What the replica's files look like: a change means a local write. */
typedef struct file_stamp {
    long long mtime_ns[2], size[2];
} file_stamp;

static void take_stamp(const char *home, file_stamp *s)
{
    static const char *const names[2] = {"replica.db", "replica.db-wal"};
    memset(s, 0, sizeof *s);
    for (int i = 0; i < 2; i++) {
        char path[4200];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", home, names[i]);
        if (stat(path, &st) == 0) {
            s->mtime_ns[i] = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
            s->size[i] = (long long)st.st_size;
        }
    }
}

/* 1 if something accepts TCP connections at host:port within 2 s. */
static int reachable(const char *host, int port)
{
    struct addrinfo hints, *res = NULL;
    char portstr[8];
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    snprintf(portstr, sizeof portstr, "%d", port);
    if (getaddrinfo(host, portstr, &hints, &res) != 0)
        return 0;
    int ok = 0;
    for (struct addrinfo *a = res; a != NULL && !ok; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            ok = 1;
        } else if (errno == EINPROGRESS) {
            struct pollfd p = {fd, POLLOUT, 0};
            int err = 0;
            socklen_t len = sizeof err;
            if (poll(&p, 1, 2000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
                err == 0)
                ok = 1;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return ok;
}

static void daemon_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void daemon_log(const char *fmt, ...)
{
    char when[32];
    if (fs_instant_format(when, sizeof when, (int64_t)fs_clock_wall_ms(), 0, "%H:%M:%S") != 0)
        snprintf(when, sizeof when, "?");
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", when);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    va_end(ap);
}

/* The daemon's key: its own (given by $FIELDSYNC_PASSPHRASE, for
 * automation) or the unlock agent's, asked for at each sync so the agent's
 * idle timeout applies to the daemon too. */
typedef struct daemon_key {
    fs_secret *own;
    int locked_logged;
} daemon_key;

/* The key for one sync, or NULL while the agent is gone (logged once). */
static fs_secret *daemon_key_get(daemon_key *k, const char *home)
{
    if (k->own != NULL)
        return k->own;
    fs_secret *s = NULL;
    int rc = agent_key(home, 1, &s);
    if (rc == 0) {
        if (k->locked_logged)
            daemon_log("%s", _("unlocked again: syncing"));
        k->locked_logged = 0;
        return s;
    }
    if (!k->locked_logged)
        daemon_log("%s", _("locked: the unlock agent has wiped the key (idle timeout or 'fieldsync "
                         "lock'); local changes wait until 'fieldsync unlock'"));
    k->locked_logged = 1;
    return NULL;
}

static void daemon_key_put(daemon_key *k, fs_secret *s)
{
    if (s != k->own)
        fs_secret_free(s);
}

/* Gets the key the first time: from a running agent; from
 * $FIELDSYNC_PASSPHRASE (kept by the daemon); or from the terminal, in which
 * case an agent is started with it, as 'fieldsync unlock' would. */
static int daemon_key_init(daemon_key *k, const char *home, fs_secret **first)
{
    int from_agent = 0;
    int rc = cli_key(home, 1, first, &from_agent);
    if (rc != CLI_OK || from_agent)
        return rc;
    if (getenv("FIELDSYNC_PASSPHRASE") != NULL) {
        k->own = *first;
        return CLI_OK;
    }
    long pid = 0;
    if (agent_spawn(home, *first, AGENT_IDLE_DEFAULT_MS, &pid) != 0) {
        fs_secret_free(*first);
        *first = NULL;
        return CLI_ERUNTIME;
    }
    daemon_log(_("unlocked: agent pid %ld wipes the key after %u idle minutes"), pid,
               AGENT_IDLE_DEFAULT_MS / 60000u);
    return CLI_OK;
}

/* What the live connection's hooks share with the daemon's loop. */
typedef struct daemon_state {
    const char *home;
    daemon_key *key;
    uint64_t interval_ms, next_pull;
    file_stamp seen; /* the replica's files after our last round */
    uint64_t pending_before;
    uint64_t refused_before;
    fs_replica_status st_before; /* for what a restored server made it do */
    uint64_t undone_before; /* refused hand-overs undone here (refused_undone) */
    uint64_t rounds; /* rounds in sync on the current connection */
    const char *url; /* the address of the current connection (issue 21.3) */
    int url_noted;   /* it is recorded as the one that answered last */
    char fork_before[320]; /* the replica's fork note when the round began */
    int offline;
    fs_pass_policy pass_said; /* the team's rule the log said the passphrase misses */
} daemon_state;

static int live_open(void *ctx, fs_replica **out)
{
    daemon_state *d = ctx;
    fs_replica_status st;
    *out = NULL;
    fs_secret *k = daemon_key_get(d->key, d->home);
    if (k == NULL)
        return FS_ESTATE;
    int rc = fs_replica_open_secret(out, d->home, k, NULL);
    daemon_key_put(d->key, k);
    if (rc != 0)
        return rc;
    int ok = fs_replica_status_get(*out, &st) == 0;
    d->pending_before = ok ? st.pending : 0;
    d->refused_before = ok ? st.refused : 0;
    if (ok)
        d->st_before = st;
    else
        memset(&d->st_before, 0, sizeof d->st_before);
    if (fs_replica_fork_note(*out, d->fork_before, sizeof d->fork_before) != 0)
        d->fork_before[0] = '\0';
    if (!ok || refused_undone(*out, &d->undone_before) != 0)
        d->undone_before = 0;
    return 0;
}

/* A bench-only clock (bench/reach.c, issue 21.5): with
 * FIELDSYNC_BENCH_COUNT set in its environment, the daemon logs at the end
 * of each round how many visits its replica holds, committed, so the
 * benchmark sees the moment a rep's visit is in the manager's replica
 * without opening it (a replica is open in one process at a time). A count
 * only, never a record's content; without the variable nothing is read. */
static void bench_count_visits(fs_replica *r)
{
    if (getenv("FIELDSYNC_BENCH_COUNT") == NULL)
        return;
    fs_rows *it = NULL;
    unsigned long long n = 0;
    static const char *const only[] = {"time"};
    int rc = fs_rows_open_only(&it, r, "visit", NULL, NULL, NULL, only, 1);
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        n++;
        rc = 0;
    }
    if (it != NULL)
        fs_rows_close(it);
    if (rc == 0)
        daemon_log("bench: %llu visits", n);
}

/* A team's rule made stricter (it came with this sync) that the
 * passphrase misses: said once per rule, not at every round; no lockout. */
static void pass_rule_note(daemon_state *d, fs_replica *r)
{
    fs_pass_policy rule;
    fs_pass_weakness w;
    char team[FS_USER_MAX + 1], why[320];
    if (!cli_pass_short_of_team(r, &rule, team, &w)) {
        d->pass_said.min_chars = d->pass_said.min_words = 0; /* said again if it comes back */
        return;
    }
    if (d->pass_said.min_chars == rule.min_chars && d->pass_said.min_words == rule.min_words)
        return;
    d->pass_said = rule;
    cli_pass_why(w, &rule, team, why, sizeof why);
    daemon_log(_("this device's passphrase no longer meets the team's rule: it is %s. Run "
                 "'fieldsync --home %s passwd' to choose a new one (syncing goes on)"),
               why, d->home);
}

static void live_close(void *ctx, fs_replica *r, int rc)
{
    daemon_state *d = ctx;
    fs_replica_status st;
    char note[320];
    /* a restored or copied replica took a new identity (issue 25.3): said
     * in words, whatever else the round did */
    if (fs_replica_fork_note(r, note, sizeof note) == 0 && note[0] != '\0' &&
        strcmp(note, d->fork_before) != 0)
        daemon_log(_("new device identity: %s"), note);
    if (rc == 0 && fs_replica_status_get(r, &st) == 0) {
        uint64_t sent = d->pending_before > st.pending ? d->pending_before - st.pending : 0;
        uint64_t fresh = st.refused > d->refused_before ? st.refused - d->refused_before : 0;
        if (fresh > 0) /* never silent: the log says what the server refused */
            daemon_log(_("in sync: %llu changes sent, cursor %llu; the server REFUSED %llu of them"
                         " (%llu refused changes in all: see 'fieldsync refused list')"),
                       (unsigned long long)sent, (unsigned long long)st.cursor,
                       (unsigned long long)fresh, (unsigned long long)st.refused);
        else if (sent > 0 || d->offline)
            daemon_log(_("in sync: %llu changes sent, cursor %llu"), (unsigned long long)sent,
                       (unsigned long long)st.cursor);
        char words[768]; /* never silent: a re-sync or a re-send after a server restore */
        if (sync_restore_words(&d->st_before, &st, words, sizeof words))
            daemon_log("%s", words);
        uint64_t undone = 0;
        if (refused_undone(r, &undone) == 0 && undone > d->undone_before)
            daemon_log(_("the server REFUSED %llu new owners; undone on this device, the server's"
                         " owner is back (see 'fieldsync refused list')"),
                       (unsigned long long)(undone - d->undone_before));
        if (!d->url_noted) {
            /* this address answered: tried first from now on, said once */
            if (d->url != NULL && fs_replica_set_server_last(r, d->url) == 0)
                daemon_log(_("syncing with the server at %s"), d->url);
            d->url_noted = 1;
        }
        d->offline = 0;
        d->rounds++;
        pass_rule_note(d, r);
        bench_count_visits(r);
        /* what the round brought goes into the search index now, in the
         * background, not at the rep's next search (a first pull of a
         * team's records took that search 38 s) */
        uint64_t indexed = 0;
        int src = fs_search_catch_up(r, &indexed);
        if (src != 0)
            daemon_log(_("search index not brought up to date: %s"), fs_replica_errmsg(r));
        else if (indexed >= 1000)
            daemon_log(_("search index: %llu records brought up to date"),
                       (unsigned long long)indexed);
    }
    fs_replica_close(r);
    take_stamp(d->home, &d->seen); /* our own round changed the files */
    d->next_pull = fs_clock_mono_ms() + d->interval_ms;
}

static int live_want_sync(void *ctx)
{
    daemon_state *d = ctx;
    file_stamp now;
    if (daemon_stop)
        return -1;
    take_stamp(d->home, &now);
    return memcmp(&now, &d->seen, sizeof now) != 0 || fs_clock_mono_ms() >= d->next_pull;
}

/* Puts url first in set, the others after it in their order (what
 * cmd_read_servers does with the one that answered last). */
static void reorder_servers(server_set *set, const char *url)
{
    size_t at = 0;
    while (at < set->n && strcmp(set->url[at], url) != 0)
        at++;
    if (at == 0 || at == set->n)
        return;
    char u[FS_SERVER_URL_MAX + 1];
    server_addr a;
    memcpy(u, set->url[at], sizeof u);
    a = set->addr[at];
    memmove(set->url[1], set->url[0], at * sizeof set->url[0]);
    memmove(&set->addr[1], &set->addr[0], at * sizeof set->addr[0]);
    memcpy(set->url[0], u, sizeof u);
    set->addr[0] = a;
}

/* Before each connection: the addresses as the replica keeps them now (a
 * `server add` while the daemon runs counts from its next connection).
 * When the replica cannot be read now (a command holds it), the set stays. */
static void reload_servers(const char *home, const fs_secret *k, server_set *set)
{
    fs_replica *r = NULL;
    server_set now;
    uint8_t pk[FS_SIGN_PK_BYTES];
    if (fs_replica_open_secret(&r, home, k, NULL) != 0)
        return;
    if (cmd_read_servers(r, &now, pk) == CLI_OK)
        *set = now;
    fs_replica_close(r);
}

int cmd_daemon(cli_ctx *ctx, int argc, char **argv)
{
    const char *interval_s = NULL;
    const cli_opt opts[] = {{"--interval", CLI_VALUE, NULL, &interval_s, NULL}};
    daemon_key key = {NULL, 0};
    fs_secret *first = NULL;
    uint8_t pk[FS_SIGN_PK_BYTES];
    server_set set;
    const char *home;
    int rc = cli_parse(ctx, USAGE_DAEMON_TEXT, opts, sizeof opts / sizeof opts[0], argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    long interval = 30;
    if (interval_s != NULL) {
        char *end = NULL;
        interval = strtol(interval_s, &end, 10);
        if (end == interval_s || *end != '\0' || interval < 1 || interval > 3600) {
            cli_error(_("--interval: expected seconds between 1 and 3600"));
            return CLI_EUSAGE;
        }
    }
    rc = cli_home(ctx, &home);
    if (rc != CLI_OK)
        return rc;
    if (!cli_replica_exists(home)) {
        cli_error(_("no replica in %s (enroll first: fieldsync enroll)"), home);
        return CLI_ERUNTIME;
    }
    /* The key once, checked by opening the replica. */
    rc = daemon_key_init(&key, home, &first);
    if (rc != CLI_OK)
        return rc;
    fs_replica *r = NULL;
    int frc = cli_open_key(home, first, &r);
    daemon_key_put(&key, first);
    if (frc != 0) {
        cli_error(_("opening the replica in %s: %s"), home, fs_replica_errmsg(NULL));
        fs_secret_free(key.own);
        return CLI_ERUNTIME;
    }
    rc = cmd_read_servers(r, &set, pk);
    fs_replica_close(r);
    if (rc != CLI_OK) {
        fs_secret_free(key.own);
        return rc;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = daemon_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    daemon_log(_("syncing %s with %s:%d (every %lds, and on local changes)"), home,
               set.addr[0].host,
               set.addr[0].port, interval);
    for (size_t i = 1; i < set.n; i++)
        daemon_log(_("or, when it does not answer, %s"), set.url[i]);

    daemon_state d;
    memset(&d, 0, sizeof d);
    d.home = home;
    d.key = &key;
    d.interval_ms = (uint64_t)interval * 1000u;
    memset(&d.seen, 0xFF, sizeof d.seen); /* differs from anything: sync at once */
    const fs_ws_live hooks = {live_open, live_close, live_want_sync, &d};
    uint64_t retry_at = 0, backoff = DAEMON_BACKOFF_MIN_MS;
    rc = CLI_OK;
    while (!daemon_stop) {
        uint64_t t = fs_clock_mono_ms();
        if (t < retry_at) {
            struct timespec nap = {0, DAEMON_TICK_MS * 1000000L};
            nanosleep(&nap, NULL);
            continue;
        }
        char err[512] = "";
        fs_secret *k = daemon_key_get(&key, home); /* locked: wait for unlock */
        if (k != NULL)
            reload_servers(home, k, &set);
        daemon_key_put(&key, k);
        if (k == NULL) {
            retry_at = t + DAEMON_LOCKED_RETRY_MS;
            continue;
        }
        /* The addresses in turn (the one that answered last first) while
         * one does not answer; one that answers and refuses ends it. */
        for (size_t i = 0; i < set.n && !daemon_stop; i++) {
            int more = i + 1 < set.n;
            d.rounds = 0;
            d.url = set.url[i];
            d.url_noted = 0;
            err[0] = '\0';
            if (!reachable(set.addr[i].host, set.addr[i].port)) {
                snprintf(err, sizeof err, _("cannot reach the server at %s:%d"), set.addr[i].host,
                         set.addr[i].port);
                frc = FS_EIO;
            } else {
                /* Connected until the server goes away or SIGTERM: syncs on
                 * local changes, on the server's POKE and every --interval. */
                frc =
                    fs_ws_live_run(&hooks, pk, set.addr[i].host, set.addr[i].port, set.addr[i].tls,
                                   SYNC_TIMEOUT_MS, more ? FS_WS_ANSWER_MS : 0, err, sizeof err);
                cli_net_words(err, sizeof err, set.addr[i].host, set.addr[i].port);
            }
            if (frc != FS_EIO || d.rounds > 0 || !more)
                break;
            if (!d.offline)
                daemon_log(_("the server at %s did not answer (%s); trying %s"), set.url[i], err,
                           set.url[i + 1]);
        }
        /* next time, the one that answered last first */
        if (d.rounds > 0)
            reorder_servers(&set, d.url);
        if (frc == 0 && daemon_stop)
            break; /* stopped by a signal, after BYE */
        if (frc == 0) {
            retry_at = 0; /* half the lease gone: a new handshake renews it */
            continue;
        }
        if (d.rounds > 0)
            backoff = DAEMON_BACKOFF_MIN_MS; /* it was online: retry soon */
        if (frc == FS_EBUSY || frc == FS_ESTATE) {
            retry_at = t + DAEMON_TICK_MS; /* a command was writing, or the key went */
        } else if (frc == FS_EREVOKED) {
            daemon_log("%s", _("the server revoked this device: wiping the replica"));
            if (fs_replica_wipe(home) == 0)
                daemon_log("%s", _("wiped"));
            else
                daemon_log(_("wiping failed: remove %s by hand"), home);
            rc = CLI_ERUNTIME;
            break;
        } else if (frc == FS_EAUTH) {
            cli_error(_("daemon: %s"), err[0] ? err : fs_strerror(frc));
            rc = CLI_ERUNTIME;
            break;
        } else {
            /* The server ended the session and said why (ERROR: a pull it
             * cannot send, its disk full): that is not being offline. */
            if (frc == FS_ECLOSED && err[0])
                daemon_log(_("the server ended the sync: %s; local changes are kept, retrying later"),
                           err);
            else if (!d.offline)
                daemon_log(_("offline (%s); local changes are kept"), err[0] ? err : fs_strerror(frc));
            d.offline = 1;
            /* backoff * [0.8, 1.2): spread the retries of many devices */
            uint64_t delay = backoff * 4 / 5 + randombytes_uniform((uint32_t)(backoff * 2 / 5));
            retry_at = fs_clock_mono_ms() + delay;
            backoff = backoff * 2 > DAEMON_BACKOFF_MAX_MS ? DAEMON_BACKOFF_MAX_MS : backoff * 2;
        }
    }
    fs_secret_free(key.own);
    if (rc == CLI_OK)
        daemon_log("%s", _("stopped"));
    return rc;
}
