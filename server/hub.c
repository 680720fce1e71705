/*
 * The hub: what the server does with the websocket transport's events. One
 * fs_sync_server per connection, driven by the frames the transport hands
 * over and emitting through fs_net_conn_send; the feed head read after every
 * frame, HTTP request and admin job, and the other devices poked when it
 * grew past the head they were last poked for; after an admin job, the
 * connections of revoked devices closed. Every
 * function here but start, stop, call and the workers' runs on the
 * transport's thread, the only one that touches the store while the server
 * runs.
 *
 * The workers (fs_ws_server_defer) take slow work off that thread: a
 * bounded queue, half the CPUs' worth of threads, the result handed back with
 * fs_net_server_post and the deferred HTTP answer sent with
 * fs_net_server_answer. Beyond FS_HUB_WORK_MAX jobs the caller is refused
 * at once, so a flood of logins costs the devices nothing but the
 * refusals. The devices come first: a worker starts a job once no device
 * frame has arrived for LULL_MS, or when it has waited LULL_MAX_MS for
 * such a lull (an Argon2 check takes a core and 64 MiB of memory traffic
 * that a rep's sync would wait behind; issue 20.1), and hands its result
 * back (the finish, on the server's thread, writes the audit) in a lull
 * too. An urgent job (a login from its account's last good network) skips
 * the lulls and the queue, and has FS_HUB_URGENT_MAX places of its own; a
 * worker waiting for a lull stops waiting when one is queued.
 *
 * Other nodes' writes (several serve nodes on one PostgreSQL store, issue
 * 21.3): the watcher, a thread of its own started only when the store has a
 * notification socket (fs_store_notify_fd; never on SQLite), poll()s that
 * socket with a timeout of FS_HUB_REFRESH_MS and posts a refresh to the
 * server's thread when it becomes readable or the timeout passes; the
 * refresh (fs_store_refresh, then the feed head, a read that catches up)
 * pokes every device when the head grew, then hands the watcher the socket
 * to poll next (libpq's may change after a reconnect). One refresh is out
 * at a time: the watcher waits for it before it polls again.
 */
#define _GNU_SOURCE /* pthread_setname_np, gettid, pipe2 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fieldsync/clock.h"
#include "fieldsync/error.h"
#include "fieldsync/sync.h"
#include "hub.h"

struct fs_ws_server {
    fs_net_server *net;
    fs_store *store;              /* touched by the transport's thread only */
    fs_sync_group *group;         /* the sessions' group commit (transport's thread) */
    const fs_identity *server_id; /* the caller's */
    fs_http_handler http_fn;
    void *http_ctx;
    /* the workers: queue, count and stop under work_lock */
    pthread_t workers[FS_HUB_WORKERS];
    int nworkers;
    pthread_mutex_t work_lock;
    pthread_cond_t work_cond;
    struct work *queue, *queue_tail;
    int in_flight; /* queued and running */
    int work_stop;
    /* The feed head the connected devices were poked for or caused
     * themselves (server thread only): any growth past it, whoever made
     * it (a frame, a request, an admin job, another node), pokes. */
    uint64_t head;
    /* the watcher (other nodes' writes): started when the store has a
     * notification socket; fd, rc and done under watch_lock */
    pthread_t watch_thread;
    int watching;
    atomic_int watch_stop;
    int watch_wake[2]; /* a pipe: written to stop the watcher's poll */
    pthread_mutex_t watch_lock;
    pthread_cond_t watch_cond;
    int watch_fd;   /* the socket to poll, from the last refresh; -1: none now */
    int watch_rc;   /* the last refresh's result */
    int watch_done; /* the posted refresh ran */
    /* when a device's frame last arrived (fs_clock_mono_us): the workers
     * wait for a lull after it */
    atomic_llong device_us;
};

/* One deferred job: queued, worked on, then posted back. */
typedef struct work {
    struct work *next;
    fs_ws_server *hub;
    uint64_t http_id;
    void (*fn)(void *);
    void (*finish)(void *, fs_store *, fs_http_response *);
    void *ctx;
    int urgent; /* first in the queue, without waiting for a lull */
} work;

/* One connection's session, the transport's "session" for it. */
typedef struct hub_conn {
    fs_net_conn *conn;
    fs_sync_server *session;
    /* A POKE went out since the device's last frame: another would add
     * nothing, since the device pulls to the end of the feed after a POKE,
     * and its next frame (a PULL) is read after everything fed before it. */
    int poked;
    char net[FS_NET_KEY_MAX]; /* its peer's network, for the audit of a failed handshake */
} hub_conn;

static int hub_opened(void *ctx, fs_net_conn *conn, void **session)
{
    fs_ws_server *hub = ctx;
    hub_conn *hc = calloc(1, sizeof *hc);
    if (hc == NULL)
        return FS_ENOMEM;
    hc->conn = conn;
    fs_net_conn_network(conn, hc->net);
    int rc = fs_sync_server_new(&hc->session, hub->store, hub->server_id, fs_net_conn_send, conn);
    if (rc != 0) {
        fs_sync_server_free(hc->session);
        free(hc);
        return rc;
    }
    fs_sync_server_set_group(hc->session, hub->group);
    *session = hc;
    return 0;
}

static void hub_closed(void *ctx, void *session)
{
    (void)ctx;
    hub_conn *hc = session;
    fs_sync_server_free(hc->session); /* does not touch the store */
    free(hc);
}

static int hub_authenticated(void *ctx, void *session)
{
    (void)ctx;
    const hub_conn *hc = session;
    return fs_sync_server_device(hc->session) != NULL;
}

typedef struct poke {
    const hub_conn *except;
    uint64_t cursor;
} poke;

static void poke_one(void *ctx, void *session)
{
    const poke *p = ctx;
    hub_conn *o = session;
    if (o != p->except && !o->poked && fs_sync_server_device(o->session) != NULL &&
        fs_sync_server_poke(o->session, p->cursor) == 0)
        o->poked = 1;
}

/* Tells the open sessions but except's that the feed has grown to cursor:
 * one POKE per session between two frames from its device, so a push costs
 * one message per connected device at most, however many pushes follow
 * before the device pulls. */
static void poke_all(fs_ws_server *hub, const hub_conn *except, uint64_t cursor)
{
    poke p = {except, cursor};
    fs_net_server_each(hub->net, poke_one, &p);
}

/* The feed head as this node holds it: what it applied, its own writes and
 * what its reads caught up with of other nodes' (the replica's feed, read
 * without catching up: so nothing arrives between a device's read and this
 * look that the device would not be poked for); the store's own when it
 * keeps no replica. */
static int local_head(fs_ws_server *hub, uint64_t *h)
{
    fs_replica *r = fs_store_replica(hub->store);
    return r != NULL ? fs_feed_last(r, h) : fs_store_feed_head(hub->store, h);
}

/* When the head grew past what the devices were poked for, they are poked,
 * but except: its frame grew it (its push, which its round's pull follows;
 * or its read caught up with another node's writes before it read, and so
 * it read them or pulls next). */
static void news(fs_ws_server *hub, const hub_conn *except)
{
    uint64_t h = 0;
    if (local_head(hub, &h) != 0 || h <= hub->head)
        return;
    hub->head = h;
    poke_all(hub, except, h);
}

static int hub_frame(void *ctx, void *session, const uint8_t *frame, size_t len)
{
    fs_ws_server *hub = ctx;
    hub_conn *hc = session;
    hc->poked = 0; /* what the device sends next is read after any news so far */
    atomic_store_explicit(&hub->device_us, (long long)fs_clock_mono_us(), memory_order_relaxed);
    /* Before authentication, a failure is audited per network per minute
     * (a flood of bad first frames writes a handful of entries). */
    int anon = fs_sync_server_device(hc->session) == NULL;
    if (anon)
        fs_store_set_source(hub->store, hc->net);
    int rc = fs_sync_server_receive(hc->session, frame, len);
    if (anon)
        fs_store_set_source(hub->store, NULL);
    news(hub, hc); /* news: the other connected devices pull it */
    /* The server's own failures are the operator's to see (the messages
     * name no value); a peer's mistakes are its own. */
    if (rc == FS_EFULL || rc == FS_EIO || rc == FS_EDB || rc == FS_ENOMEM)
        fprintf(stderr, "fieldsync-server: a session ended (%s): %s\n", fs_errname(rc),
                fs_sync_server_errmsg(hc->session));
    return rc;
}

/* A session whose kept answers could not go out (its group's commit
 * failed: it was told ERROR): closed once that is written. */
static void hub_ended(void *emit_ctx)
{
    fs_net_conn_close(emit_ctx);
}

/* Commits the devices' writes of the round just served and sends what
 * they were answered (group commit, fieldsync/sync.h): one commit, and one
 * fsync, for every push and pull of the round. */
static void group_flush(fs_ws_server *hub)
{
    int rc = fs_sync_group_flush(hub->group);
    if (rc != 0)
        fprintf(stderr, "fieldsync-server: a round of syncs was not committed (%s): %s\n",
                fs_errname(rc), fs_store_errmsg(hub->store));
}

static void hub_pass(void *ctx)
{
    group_flush(ctx);
}

static void hub_oversize(void *ctx, void *session, size_t max_frame)
{
    (void)ctx;
    hub_conn *hc = session;
    fs_sync_server_refuse_frame(hc->session, max_frame); /* told why, and audited */
}

static void hub_http(void *ctx, const fs_http_request *rq, fs_http_response *out)
{
    fs_ws_server *hub = ctx;
    if (hub->http_fn == NULL) {
        out->status = 404;
        return;
    }
    group_flush(hub); /* a page shows, and a request writes, only what is committed */
    hub->http_fn(hub->http_ctx, hub->store, rq, out);
    news(hub, NULL); /* a manager's action: the devices pull it now */
}

/* ---- workers ---- */

#define WORKER_NICE 10 /* the workers' nice value */
/* A job starts once no device frame arrived for LULL_MS (a rep's sync is
 * a burst of frames a few milliseconds apart; between two syncs of one
 * device, tens), or after LULL_MAX_MS waiting for that, and its result
 * goes back the same way: under steady device traffic a worker still
 * checks a login every 2.2 s or so. */
#define LULL_MS     100
#define LULL_MAX_MS 1000

/* Waits on cond until deadline_us on the monotonic clock (the condition
 * variable was made with CLOCK_MONOTONIC). */
static void wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, long long deadline_us)
{
    struct timespec ts = {(time_t)(deadline_us / 1000000), (long)(deadline_us % 1000000) * 1000};
    (void)pthread_cond_timedwait(cond, lock, &ts);
}

/* With work_lock held: waits for a lull in the devices' frames, at most
 * LULL_MAX_MS, or until the workers stop or the queue's first job is urgent.
 * before_job: a job is to be taken from the queue, and the wait ends too
 * when the queue empties (another worker took it). */
static void wait_for_lull(fs_ws_server *hub, int before_job)
{
    long long start = (long long)fs_clock_mono_us();
    while (!hub->work_stop && (hub->queue != NULL || !before_job) &&
           (hub->queue == NULL || !hub->queue->urgent)) {
        long long now = (long long)fs_clock_mono_us();
        long long quiet =
            atomic_load_explicit(&hub->device_us, memory_order_relaxed) + LULL_MS * 1000ll;
        long long latest = start + LULL_MAX_MS * 1000ll;
        if (now >= quiet || now >= latest)
            return;
        wait_until(&hub->work_cond, &hub->work_lock, quiet < latest ? quiet : latest);
    }
}

/* On the server's thread: the job's answer, then the devices poked when a
 * manager's action grew the feed (as for any request). */
static void work_finish(void *arg)
{
    work *j = arg;
    fs_ws_server *hub = j->hub;
    fs_http_response answer = {0};
    j->finish(j->ctx, hub->store, &answer);
    news(hub, NULL);
    (void)fs_net_server_answer(hub->net, j->http_id, &answer); /* the client may be gone */
    free(j);
}

static void *worker(void *arg)
{
    fs_ws_server *hub = arg;
    pthread_setname_np(pthread_self(), "fs-worker"); /* top -H */
    /* Below the server's thread: on a busy machine a flood of logins
     * waits for the devices' sync, not the other way round (Linux sets
     * the nice value of one thread by its id). */
    (void)setpriority(PRIO_PROCESS, (id_t)gettid(), WORKER_NICE);
    pthread_mutex_lock(&hub->work_lock);
    for (;;) {
        while (!hub->work_stop && hub->queue == NULL)
            pthread_cond_wait(&hub->work_cond, &hub->work_lock);
        if (hub->work_stop)
            break; /* what is still queued is ended by fs_ws_server_stop */
        wait_for_lull(hub, 1); /* a device's sync first */
        if (hub->work_stop)
            break;
        if (hub->queue == NULL)
            continue;
        work *j = hub->queue;
        hub->queue = j->next;
        if (hub->queue == NULL)
            hub->queue_tail = NULL;
        pthread_mutex_unlock(&hub->work_lock);
        j->fn(j->ctx);
        pthread_mutex_lock(&hub->work_lock);
        hub->in_flight--;
        /* Its finish runs on the server's thread and may write the audit
         * (a failed login's, fsynced: tens of milliseconds on a busy disk,
         * measured up to 200): in a lull too, unless urgent. */
        if (!j->urgent)
            wait_for_lull(hub, 0);
        pthread_mutex_unlock(&hub->work_lock);
        if (fs_net_server_post(hub->net, work_finish, j) != 0) {
            /* Out of memory: the answer is lost (the client times out),
             * ctx is not. */
            fprintf(stderr, "fieldsync-server: out of memory handing back a login check\n");
            j->finish(j->ctx, NULL, NULL);
            free(j);
        }
        pthread_mutex_lock(&hub->work_lock);
    }
    pthread_mutex_unlock(&hub->work_lock);
    return NULL;
}

int fs_ws_server_defer(fs_ws_server *srv, const fs_http_request *rq, fs_http_response *out,
                       int urgent, void (*fn)(void *ctx),
                       void (*finish)(void *ctx, fs_store *store, fs_http_response *answer),
                       void *ctx)
{
    if (srv == NULL || fn == NULL || finish == NULL)
        return FS_EINVAL;
    pthread_mutex_lock(&srv->work_lock);
    int busy = srv->in_flight >= FS_HUB_WORK_MAX + (urgent ? FS_HUB_URGENT_MAX : 0) ||
               srv->nworkers == 0;
    if (!busy)
        srv->in_flight++;
    pthread_mutex_unlock(&srv->work_lock);
    if (busy)
        return FS_EBUSY;
    work *j = calloc(1, sizeof *j);
    if (j == NULL) {
        pthread_mutex_lock(&srv->work_lock);
        srv->in_flight--;
        pthread_mutex_unlock(&srv->work_lock);
        return FS_ENOMEM;
    }
    j->hub = srv;
    j->http_id = rq->id;
    j->fn = fn;
    j->finish = finish;
    j->ctx = ctx;
    j->urgent = urgent;
    pthread_mutex_lock(&srv->work_lock);
    if (urgent) { /* after the urgent ones already queued, before the rest */
        work **at = &srv->queue;
        while (*at != NULL && (*at)->urgent)
            at = &(*at)->next;
        j->next = *at;
        *at = j;
        if (j->next == NULL)
            srv->queue_tail = j;
    } else {
        if (srv->queue_tail != NULL)
            srv->queue_tail->next = j;
        else
            srv->queue = j;
        srv->queue_tail = j;
    }
    /* every worker: one waiting for a lull re-reads the queue's head */
    pthread_cond_broadcast(&srv->work_cond);
    pthread_mutex_unlock(&srv->work_lock);
    out->deferred = 1;
    return 0;
}

/* Joins the workers; the jobs they had not started end unanswered. */
static void workers_stop(fs_ws_server *hub)
{
    pthread_mutex_lock(&hub->work_lock);
    hub->work_stop = 1;
    pthread_cond_broadcast(&hub->work_cond);
    pthread_mutex_unlock(&hub->work_lock);
    for (int i = 0; i < hub->nworkers; i++)
        pthread_join(hub->workers[i], NULL);
    hub->nworkers = 0;
    while (hub->queue != NULL) {
        work *j = hub->queue;
        hub->queue = j->next;
        j->finish(j->ctx, NULL, NULL);
        free(j);
    }
    hub->queue_tail = NULL;
}

/* ---- the watcher: other nodes' writes ---- */

/* On the server's thread: what other nodes wrote since, applied; the
 * devices poked when the head grew; the socket to poll next handed back. */
static void refresh_job(void *arg)
{
    fs_ws_server *hub = arg;
    int rc = 0, fd = -1;
    if (!atomic_load(&hub->watch_stop)) { /* else: run by the stopping thread, late */
        rc = fs_store_refresh(hub->store);
        /* a read catches up with the log itself, notified or not (the
         * periodic refresh's point: a notification missed) */
        uint64_t h;
        if (rc == 0)
            rc = fs_store_feed_head(hub->store, &h);
        news(hub, NULL);
        fd = fs_store_notify_fd(hub->store);
    }
    pthread_mutex_lock(&hub->watch_lock);
    hub->watch_fd = fd;
    hub->watch_rc = rc;
    hub->watch_done = 1;
    pthread_cond_signal(&hub->watch_cond);
    pthread_mutex_unlock(&hub->watch_lock);
}

static void *watcher(void *arg)
{
    fs_ws_server *hub = arg;
    int failing = 0;
    uint64_t last = 0;
    while (!atomic_load(&hub->watch_stop)) {
        pthread_mutex_lock(&hub->watch_lock);
        int fd = hub->watch_fd;
        pthread_mutex_unlock(&hub->watch_lock);
        /* After a failed refresh (PostgreSQL away: its socket may stay
         * readable at end of file) only the timeout: one try a period. */
        struct pollfd p[2] = {{hub->watch_wake[0], POLLIN, 0}, {failing ? -1 : fd, POLLIN, 0}};
        (void)poll(p, 2, FS_HUB_REFRESH_MS);
        if (atomic_load(&hub->watch_stop))
            break;
        /* At most one refresh per FS_HUB_REFRESH_GAP_MS: a socket that
         * stays readable (the server's thread reading answers from it)
         * costs a few refreshes, never a spin; each catches up with all. */
        uint64_t since = fs_clock_mono_ms() - last;
        if (since < FS_HUB_REFRESH_GAP_MS) {
            struct pollfd w = {hub->watch_wake[0], POLLIN, 0};
            (void)poll(&w, 1, (int)(FS_HUB_REFRESH_GAP_MS - since));
            if (atomic_load(&hub->watch_stop))
                break;
        }
        last = fs_clock_mono_ms();
        pthread_mutex_lock(&hub->watch_lock);
        hub->watch_done = 0;
        pthread_mutex_unlock(&hub->watch_lock);
        if (fs_net_server_post(hub->net, refresh_job, hub) != 0)
            continue; /* out of memory: at the next timeout */
        pthread_mutex_lock(&hub->watch_lock);
        while (!hub->watch_done && !atomic_load(&hub->watch_stop))
            pthread_cond_wait(&hub->watch_cond, &hub->watch_lock);
        int rc = hub->watch_rc;
        pthread_mutex_unlock(&hub->watch_lock);
        if (rc != 0 && !failing) /* once, not every period; the message names no value */
            fprintf(stderr,
                    "fieldsync-server: cannot read the other nodes' writes (%s); trying every "
                    "%d ms\n",
                    fs_errname(rc), FS_HUB_REFRESH_MS);
        else if (rc == 0 && failing)
            fprintf(stderr, "fieldsync-server: reading the other nodes' writes again\n");
        failing = rc != 0;
    }
    return NULL;
}

/* Starts the watcher when the store has a notification socket (on the
 * caller's thread, before the server's touches the store). Failing leaves
 * the pokes to the devices' own frames: 0 or FS_EIO. */
static int watcher_start(fs_ws_server *hub)
{
    hub->watch_fd = fs_store_notify_fd(hub->store);
    if (hub->watch_fd < 0)
        return 0; /* one node (SQLite): nobody else writes */
    if (pipe2(hub->watch_wake, O_CLOEXEC | O_NONBLOCK) != 0)
        return FS_EIO;
    if (pthread_create(&hub->watch_thread, NULL, watcher, hub) != 0) {
        close(hub->watch_wake[0]);
        close(hub->watch_wake[1]);
        return FS_EIO;
    }
    pthread_setname_np(hub->watch_thread, "fs-watcher"); /* top -H; named before it runs */
    hub->watching = 1;
    return 0;
}

static void watcher_stop(fs_ws_server *hub)
{
    if (!hub->watching)
        return;
    atomic_store(&hub->watch_stop, 1);
    (void)!write(hub->watch_wake[1], "", 1);
    pthread_mutex_lock(&hub->watch_lock);
    pthread_cond_broadcast(&hub->watch_cond);
    pthread_mutex_unlock(&hub->watch_lock);
    pthread_join(hub->watch_thread, NULL);
    close(hub->watch_wake[0]);
    close(hub->watch_wake[1]);
    hub->watching = 0;
}

int fs_ws_server_start(fs_ws_server **out, fs_store *store, const fs_identity *server_id,
                       const char *host, int port)
{
    return fs_ws_server_start_tls(out, store, server_id, host, port, NULL, NULL);
}

int fs_ws_server_start_tls(fs_ws_server **out, fs_store *store, const fs_identity *server_id,
                           const char *host, int port, const char *cert, const char *key)
{
    *out = NULL;
    if (store == NULL || server_id == NULL || port < 0 || port > 65535)
        return FS_EINVAL;
    fs_ws_server *hub = calloc(1, sizeof *hub);
    if (hub == NULL)
        return FS_ENOMEM;
    hub->store = store;
    hub->server_id = server_id;
    pthread_mutex_init(&hub->work_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* wait_until's deadlines */
    pthread_cond_init(&hub->work_cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&hub->watch_lock, NULL);
    pthread_cond_init(&hub->watch_cond, NULL);
    atomic_init(&hub->watch_stop, 0);
    hub->watch_fd = -1;
    (void)local_head(hub, &hub->head); /* still the caller's thread */
    const fs_net_server_hooks hooks = {
        .opened = hub_opened,
        .frame = hub_frame,
        .authenticated = hub_authenticated,
        .oversize = hub_oversize,
        .closed = hub_closed,
        .http = hub_http,
        .pass = hub_pass,
        .ctx = hub,
    };
    int rc = fs_sync_group_new(&hub->group, store, hub_ended);
    if (rc == 0)
        rc = fs_net_server_start_tls(&hub->net, &hooks, host, port, cert, key);
    if (rc != 0)
        goto fail;
    /* Without workers (none could start) every deferral is refused busy. */
    /* Half the CPUs: an Argon2 check is memory-hard, and two on a 2-core
     * machine cost a rep's syncs 2.6-3.2 times their time under a login
     * flood, one 1.6-2.2 times (test_loginflood, run in turn). */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int want = ncpu >= 4 ? (int)(ncpu / 2) : 1;
    if (want > FS_HUB_WORKERS)
        want = FS_HUB_WORKERS;
    while (hub->nworkers < want &&
           pthread_create(&hub->workers[hub->nworkers], NULL, worker, hub) == 0)
        hub->nworkers++;
    if (watcher_start(hub) != 0)
        fprintf(stderr, "fieldsync-server: cannot watch for the other nodes' writes: devices "
                        "learn of them at their next sync\n");
    *out = hub;
    return 0;

fail:
    fs_sync_group_free(hub->group);
    pthread_mutex_destroy(&hub->work_lock);
    pthread_cond_destroy(&hub->work_cond);
    pthread_mutex_destroy(&hub->watch_lock);
    pthread_cond_destroy(&hub->watch_cond);
    free(hub);
    return rc;
}

int fs_ws_server_port(const fs_ws_server *srv)
{
    return fs_net_server_port(srv->net);
}

void fs_ws_server_budget(const fs_ws_server *srv, fs_net_budget *out)
{
    fs_net_server_budget(srv->net, out);
}

void fs_ws_server_counts(const fs_ws_server *srv, fs_net_conn_counts *out)
{
    fs_net_server_counts(srv->net, out);
}

static void drop_if_revoked(void *ctx, void *session)
{
    fs_ws_server *hub = ctx;
    hub_conn *hc = session;
    const uint8_t *pk = fs_sync_server_device(hc->session);
    if (pk != NULL && fs_store_device_check(hub->store, pk) == FS_EREVOKED)
        fs_net_conn_close(hc->conn);
}

typedef struct job {
    fs_ws_server *hub;
    int (*fn)(fs_store *, void *);
    void *ctx;
} job;

/* On the transport's thread: the job, then a device the store now says is
 * revoked loses its open connection; it connects again, and the handshake
 * tells it to wipe. */
static int run_job(void *ctx)
{
    job *j = ctx;
    int rc = j->fn(j->hub->store, j->ctx);
    fs_net_server_each(j->hub->net, drop_if_revoked, j->hub);
    news(j->hub, NULL); /* an admin command that wrote (a hand-over): pulled now */
    return rc;
}

int fs_ws_server_call(fs_ws_server *srv, int (*fn)(fs_store *store, void *ctx), void *ctx)
{
    if (srv == NULL || fn == NULL)
        return FS_EINVAL;
    job j = {srv, fn, ctx};
    return fs_net_server_call(srv->net, run_job, &j);
}

static void count_one(void *ctx, void *session)
{
    (void)session;
    (*(size_t *)ctx)++;
}

size_t fs_ws_server_connections(fs_ws_server *srv)
{
    size_t n = 0;
    fs_net_server_each(srv->net, count_one, &n);
    return n;
}

int fs_ws_server_reload_tls(fs_ws_server *srv)
{
    return srv == NULL ? FS_EINVAL : fs_net_server_reload_tls(srv->net);
}

typedef struct http_set {
    fs_ws_server *hub;
    fs_http_handler fn;
    void *ctx;
} http_set;

static int set_http_job(fs_store *store, void *ctx)
{
    (void)store;
    http_set *h = ctx;
    h->hub->http_fn = h->fn;
    h->hub->http_ctx = h->ctx;
    return 0;
}

void fs_ws_server_set_http(fs_ws_server *srv, fs_http_handler fn, void *ctx)
{
    http_set h = {srv, fn, ctx};
    (void)fs_ws_server_call(srv, set_http_job, &h); /* on the server's thread: no race */
}

void fs_ws_server_stop(fs_ws_server *srv)
{
    if (srv == NULL)
        return;
    /* The workers first: nothing is posted after this. The transport's
     * thread is joined next; the sessions it hands back while closing the
     * connections do not touch the store, and the jobs posted back too
     * late are finished on this thread, their answers dropped. The
     * watcher before them all: a refresh it posted and that runs late
     * does nothing. */
    watcher_stop(srv);
    workers_stop(srv);
    fs_net_server_stop(srv->net);
    fs_sync_group_free(srv->group); /* the last round was committed on the transport's thread */
    /* The failed handshakes counted but not yet audited, before the
     * caller takes the audit's head (serve logs it at stop). */
    (void)fs_store_auth_flush(srv->store);
    pthread_mutex_destroy(&srv->work_lock);
    pthread_cond_destroy(&srv->work_cond);
    pthread_mutex_destroy(&srv->watch_lock);
    pthread_cond_destroy(&srv->watch_cond);
    free(srv);
}
