/*
 * A rep's write reaching the manager (issue 21.5), over real processes:
 * the timing half of bench/reach.sh, which starts the server, enrolls a rep
 * and a manager and starts the rep's daemon.
 *
 * This program starts the manager's `fieldsync daemon` (FIELDSYNC_BENCH_COUNT
 * set: at the end of each round it logs "bench: N visits", the visits its
 * replica then holds, committed), then, N times: waits a random 100-600 ms
 * (so the visit falls anywhere in the rep's daemon's 200 ms tick), runs the
 * rep's `fieldsync visit add` and waits for it to exit, and measures
 *
 *   from: `visit add` has exited (the visit committed in the rep's replica)
 *   to:   the manager's daemon has written the line saying its replica holds
 *         one visit more (read from its stdout pipe as it comes)
 *
 * The path between: the rep's daemon sees its replica's files change (it
 * looks every 200 ms), pushes; the server applies the push and POKEs the
 * manager's connected daemon; it pulls and applies. The clock is this
 * program's (monotonic), both ends in this process.
 *
 *   reach --fs FIELDSYNC --rep HOME --manager HOME --customer ID [--visits N]
 *         [--warmup S] [--json] [-- LOAD-COMMAND ARGS...]
 * Needs FIELDSYNC_PASSPHRASE (the manager's daemon) and an unlock agent for
 * the rep (bench/reach.sh). Twice when a load command is given: idle, then
 * with the load started (its path absolute), S seconds (10) to warm up, and
 * ended by SIGUSR1 when the visits are measured; the manager's daemon
 * stays connected throughout. Prints p50/p90/p99/max in ms and the
 * target's verdict (met/MISS: p50 <= 100 ms idle, p99 <= 1 s under load;
 * MISS too when a visit is lost or the rep's `visit add` is refused: under
 * an overloaded server the rep's daemon may hold the replica longer than a
 * command waits, and the rep is told so; counted, the run goes on);
 * --json adds a line "reach-idle: {...}" and "reach-load: {...}". Exit 0
 * when every visit added arrived and the load ran throughout, 1 otherwise.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common.h"

#define ARRIVAL_TIMEOUT_S 60.0 /* a visit later than this counts as lost */

static pid_t daemon_pid = -1;
static int daemon_fd = -1;
static char line_buf[4096];
static size_t line_len;
static long long last_count = -1;

static void stop_daemon(void)
{
    if (daemon_pid > 0) {
        kill(daemon_pid, SIGTERM);
        waitpid(daemon_pid, NULL, 0);
        daemon_pid = -1;
    }
}

static int die(const char *what)
{
    fprintf(stderr, "reach: %s\n", what);
    stop_daemon();
    return 1;
}

/* Reads what the daemon has written, up to wait_s seconds for at least one
 * "bench: N visits" line (0: only what is there); updates last_count.
 * Returns 1 when a count line came, 0 when none did, -1 when the daemon
 * ended. */
static int read_counts(double wait_s)
{
    double until = bench_now() + wait_s;
    int got = 0;
    for (;;) {
        double left = until - bench_now();
        struct pollfd p = {daemon_fd, POLLIN, 0};
        int pr = poll(&p, 1, got || left <= 0 ? 0 : (int)(left * 1000) + 1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return got;
        ssize_t n = read(daemon_fd, line_buf + line_len, sizeof line_buf - 1 - line_len);
        if (n <= 0)
            return got ? 1 : -1;
        line_len += (size_t)n;
        line_buf[line_len] = '\0';
        char *start = line_buf, *nl;
        while ((nl = strchr(start, '\n')) != NULL) {
            *nl = '\0';
            const char *b = strstr(start, " bench: ");
            long long c;
            if (b != NULL && sscanf(b, " bench: %lld visits", &c) == 1) {
                last_count = c;
                got = 1;
            }
            start = nl + 1;
        }
        line_len = strlen(start);
        memmove(line_buf, start, line_len + 1);
        if (line_len == sizeof line_buf - 1)
            line_len = 0; /* a line that long is not ours */
    }
}

static int start_daemon(const char *fs, const char *home)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    daemon_pid = fork();
    if (daemon_pid < 0)
        return -1;
    if (daemon_pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        close(p[0]);
        close(p[1]);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, STDERR_FILENO);
        setenv("FIELDSYNC_BENCH_COUNT", "1", 1);
        execl(fs, fs, "--home", home, "daemon", "--interval", "3600", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    daemon_fd = p[0];
    return 0;
}

/* The rep's `visit add`, to its exit: 0 when it succeeded. */
static int visit_add(const char *fs, const char *home, const char *customer, int i)
{
    char when[32], notes[128], purpose[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
    snprintf(notes, sizeof notes, "reach bench visit %d: 样品测试反馈良好, samples approved", i);
    snprintf(purpose, sizeof purpose, "follow-up %d", i);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        /* --duplicate: several visits to the one customer in the same minute */
        execl(fs, fs, "--home", home, "visit", "add", "--customer", customer, "--time", when,
              "--confirm", "--duplicate", "--place", "客户办公室", "--contact", "王经理",
              "--purpose", purpose, "--notes", notes, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *sorted, size_t n, double p)
{
    size_t i = (size_t)(p * (double)n + 0.999999);
    if (i < 1)
        i = 1;
    if (i > n)
        i = n;
    return sorted[i - 1];
}

/* One phase: n visits, each timed; prints the line of figures, the target's
 * verdict and (json) a line "reach-KEY: {...}". Returns 0 when every
 * visit arrived, 1 when one did not, -1 on a failure of the bench. */
static int measure(const char *fs, const char *rep, const char *customer, size_t n,
                   const char *key, const char *label, int pct_target, size_t target_ms, int json)
{
    double *lat = calloc(n, sizeof *lat);
    if (lat == NULL)
        return -1;
    size_t arrived = 0, refused = 0, m = 0; /* m: visits added (the rest refused) */
    for (size_t i = 0; i < n; i++) {
        struct timespec nap = {0, (long)(100 + randombytes_uniform(500)) * 1000000L};
        nanosleep(&nap, NULL);
        if (read_counts(0) < 0) {
            free(lat);
            return -1;
        }
        long long before = last_count;
        if (visit_add(fs, rep, customer, (int)i) != 0) {
            /* under an overloaded server the rep's daemon may hold the
             * replica longer than a command waits: the rep is told so */
            fprintf(stderr, "reach: the rep's visit add %zu failed\n", i + 1);
            if (++refused > n / 2) {
                free(lat);
                return -1;
            }
            continue;
        }
        double t0 = bench_now();
        for (;;) {
            double left = t0 + ARRIVAL_TIMEOUT_S - bench_now();
            if (left <= 0 || read_counts(left) < 0)
                break;
            if (last_count > before)
                break;
        }
        if (last_count <= before) {
            fprintf(stderr, "reach: visit %zu did not reach the manager within %.0f s\n", i + 1,
                    ARRIVAL_TIMEOUT_S);
            lat[m++] = ARRIVAL_TIMEOUT_S;
            continue;
        }
        lat[m++] = bench_now() - t0;
        arrived++;
        if (last_count != before + 1)
            fprintf(stderr, "reach: the manager's count went from %lld to %lld\n", before,
                    last_count);
    }
    qsort(lat, m, sizeof *lat, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < m; i++)
        sum += lat[i];
    double p50 = pct(lat, m, 0.50) * 1e3, p90 = pct(lat, m, 0.90) * 1e3,
           p99 = pct(lat, m, 0.99) * 1e3, mx = lat[m - 1] * 1e3, mean = sum / (double)m * 1e3;
    double judged = pct_target == 50 ? p50 : p99;
    printf("reach (%s): %zu visits, %zu refused by the rep's CLI, %zu arrived; rep's visit add"
           " exited -> manager's daemon holds it: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max"
           " %.1f ms, mean %.1f ms; target p%d <= %zu ms: %s\n",
           label, n, refused, arrived, p50, p90, p99, mx, mean, pct_target, target_ms,
           judged <= (double)target_ms && arrived == n ? "met" : "MISS");
    if (json)
        printf("reach-%s: {\"label\":\"%s\",\"visits\":%zu,\"refused\":%zu,\"arrived\":%zu,"
               "\"p50_ms\":%.1f,\"p90_ms\":%.1f,\"p99_ms\":%.1f,\"max_ms\":%.1f,"
               "\"mean_ms\":%.1f}\n",
               key, label, n, refused, arrived, p50, p90, p99, mx, mean);
    fflush(stdout);
    free(lat);
    return arrived == m ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *fs = NULL, *rep = NULL, *mgr = NULL, *customer = NULL;
    size_t n = 50, warmup = 10;
    char **load = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--json") == 0) {
            json = 1;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            load = i + 1 < argc ? &argv[i + 1] : NULL;
            if (load == NULL)
                goto usage;
            break;
        }
        if (v == NULL)
            goto usage;
        if (strcmp(a, "--fs") == 0)
            fs = v;
        else if (strcmp(a, "--rep") == 0)
            rep = v;
        else if (strcmp(a, "--manager") == 0)
            mgr = v;
        else if (strcmp(a, "--customer") == 0)
            customer = v;
        else if (strcmp(a, "--warmup") == 0) {
            if (bench_parse_size(v, &warmup) != 0)
                goto usage;
        } else if (strcmp(a, "--visits") != 0 || bench_parse_size(v, &n) != 0 || n == 0 ||
                   n > 10000)
            goto usage;
        i++;
    }
    if (fs == NULL || rep == NULL || mgr == NULL || customer == NULL)
        goto usage;
    if (sodium_init() < 0)
        return die("libsodium cannot initialise");
    signal(SIGPIPE, SIG_IGN);
    if (start_daemon(fs, mgr) != 0)
        return die("cannot start the manager's daemon");
    /* its first round: what the manager holds before */
    if (read_counts(120) <= 0)
        return die("the manager's daemon logged no first round (is FIELDSYNC_PASSPHRASE set?)");
    int rc = measure(fs, rep, customer, n, "idle", "idle", 50, 100, json);
    if (rc >= 0 && load != NULL) {
        /* the load on the same server, the manager's daemon staying
         * connected; ended by SIGUSR1 once the visits are measured */
        fflush(stdout);
        pid_t lp = fork();
        if (lp < 0) {
            stop_daemon();
            return die("cannot start the load");
        }
        if (lp == 0) {
            execv(load[0], load);
            _exit(127);
        }
        sleep((unsigned)warmup);
        int st = 0;
        int gone = waitpid(lp, &st, WNOHANG) == lp;
        int lrc = gone ? -1 : measure(fs, rep, customer, n, "load", "under load", 99, 1000, json);
        if (!gone && waitpid(lp, &st, WNOHANG) == lp)
            gone = 1;
        if (gone) {
            fprintf(stderr, "reach: the load ended before the measurement did\n");
            lrc = -1;
        } else {
            kill(lp, SIGUSR1);
            waitpid(lp, &st, 0);
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "reach: the load failed\n");
            lrc = -1;
        }
        if (lrc != 0)
            rc = lrc;
    }
    stop_daemon();
    return rc == 0 ? 0 : 1;
usage:
    fprintf(stderr, "usage: reach --fs FIELDSYNC --rep HOME --manager HOME --customer ID"
                    " [--visits N] [--warmup S] [--json] [-- LOAD-COMMAND ARGS...]\n");
    return 2;
}
