/*
 * The unlock agent (see agent.h): a background process holding one
 * replica's data key for the commands of the same user.
 */
#define _GNU_SOURCE /* accept4, pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "agent.h"
#include "cli.h"
#include "fieldsync/clock.h"
#include "fieldsync/error.h"
#include "fieldsync/unixsock.h"
#include "i18n.h"

#define AGENT_IO_TIMEOUT_S 2    /* a peer that does not send or read its bytes */
#define AGENT_MAX_POLL_MS  1000 /* so time spent suspended is noticed soon */

static int socket_path(const char *home, struct sockaddr_un *sa)
{
    return fs_unix_path(sa, home, "agent.sock");
}

/* Connects to home's agent and sends op. 0 and *fd, or FS_ENOTFOUND (no
 * agent: no socket, or a stale one), FS_EAUTH, FS_EIO. */
static int agent_ask(const char *home, char op, int *fd)
{
    struct sockaddr_un sa;
    *fd = -1;
    if (socket_path(home, &sa) != 0)
        return FS_ENOTFOUND; /* no agent can listen there */
    int s, rc = fs_unix_connect(&sa, &s);
    if (rc != 0)
        return rc;
    fs_unix_timeouts(s, AGENT_IO_TIMEOUT_S);
    if (fs_unix_write(s, &op, 1) != 0) {
        close(s);
        return FS_EIO;
    }
    *fd = s;
    return 0;
}

int agent_key(const char *home, int for_daemon, fs_secret **out)
{
    int fd;
    char tag = 0;
    *out = NULL;
    int rc = agent_ask(home, for_daemon ? 'k' : 'K', &fd);
    if (rc != 0)
        return rc;
    fs_secret *s = NULL;
    rc = fs_secret_new(&s);
    if (rc == 0) {
        if (fs_unix_read(fd, &tag, 1) != 0 || tag != 'K' ||
            fs_unix_read(fd, s->key, FS_KEY_BYTES) != 0 ||
            fs_unix_read(fd, s->dbid, sizeof s->dbid) != 0)
            rc =
                tag == 'X' ? FS_ENOTFOUND : FS_EIO; /* 'X': the agent's key is not this replica's */
    }
    close(fd);
    if (rc != 0) {
        fs_secret_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static uint32_t get_u32le(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32le(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

int agent_status(const char *home, uint32_t *idle_left_s, uint32_t *pid)
{
    int fd;
    unsigned char reply[9];
    int rc = agent_ask(home, 'S', &fd);
    if (rc != 0)
        return rc;
    rc = fs_unix_read(fd, reply, sizeof reply) == 0 && reply[0] == 'S' ? 0 : FS_EIO;
    close(fd);
    if (rc == 0) {
        *idle_left_s = get_u32le(reply + 1);
        *pid = get_u32le(reply + 5);
    }
    return rc;
}

int agent_lock(const char *home)
{
    int fd;
    char tag = 0;
    int rc = agent_ask(home, 'L', &fd);
    if (rc != 0)
        return rc;
    rc = fs_unix_read(fd, &tag, 1) == 0 && tag == 'L' ? 0 : FS_EIO;
    close(fd);
    return rc;
}

/* ---- the agent process ---- */

static volatile sig_atomic_t agent_stop;

static void on_agent_signal(int sig)
{
    (void)sig;
    agent_stop = 1;
}

/* 1 while the key file in home still belongs to the key held. */
static int key_still_fits(const char *home, const fs_secret *s)
{
    char path[4096];
    unsigned char dbid[FS_DBID_BYTES];
    int n = snprintf(path, sizeof path, "%s/replica.key", home);
    return n > 0 && (size_t)n < sizeof path && fs_keyfile_dbid(path, dbid) == 0 &&
           sodium_memcmp(dbid, s->dbid, sizeof dbid) == 0;
}

/* Answers one request. Returns 1 when the agent should go on, 0 when it
 * should stop (lock, or a key that no longer fits). *touched: activity. */
static int serve_one(int fd, const char *home, const fs_secret *s, uint64_t deadline, int *touched)
{
    char op = 0;
    *touched = 0;
    if (!fs_unix_same_user(fd))
        return 1; /* not answered, and it costs the agent nothing */
    fs_unix_timeouts(fd, AGENT_IO_TIMEOUT_S);
    if (fs_unix_read(fd, &op, 1) != 0)
        return 1;
    if (op == 'K' || op == 'k') {
        if (!key_still_fits(home, s)) {
            (void)fs_unix_write(fd, "X", 1);
            return 0;
        }
        *touched = op == 'K';
        if (fs_unix_write(fd, "K", 1) == 0 && fs_unix_write(fd, s->key, FS_KEY_BYTES) == 0)
            (void)fs_unix_write(fd, s->dbid, sizeof s->dbid);
        return 1;
    }
    if (op == 'S') {
        unsigned char reply[9];
        uint64_t now = fs_clock_boot_ms();
        uint64_t left = deadline > now ? (deadline - now + 999) / 1000 : 0;
        reply[0] = 'S';
        put_u32le(reply + 1, left > UINT32_MAX ? UINT32_MAX : (uint32_t)left);
        put_u32le(reply + 5, (uint32_t)getpid());
        (void)fs_unix_write(fd, reply, sizeof reply);
        return 1;
    }
    if (op == 'L') {
        (void)fs_unix_write(fd, "L", 1);
        return 0;
    }
    (void)fs_unix_write(fd, "X", 1);
    return 1;
}

static void agent_main(int lfd, const char *home, fs_secret *s, uint64_t idle_ms,
                       const struct sockaddr_un *sa, const struct stat *sock_st)
{
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = on_agent_signal; /* no SA_RESTART: poll returns */
    sigemptyset(&act.sa_mask);
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGHUP, &act, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Boot time, not monotonic: it goes on while the machine is suspended,
     * and a laptop closed for an hour has been idle for an hour. */
    uint64_t deadline = fs_clock_boot_ms() + idle_ms;
    while (!agent_stop) {
        uint64_t now = fs_clock_boot_ms();
        if (now >= deadline)
            break;
        uint64_t wait = deadline - now;
        struct pollfd p = {lfd, POLLIN, 0};
        int n = poll(&p, 1, wait > AGENT_MAX_POLL_MS ? AGENT_MAX_POLL_MS : (int)wait);
        if (n <= 0)
            continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        int touched = 0;
        int go_on = serve_one(fd, home, s, deadline, &touched);
        close(fd);
        if (touched)
            deadline = fs_clock_boot_ms() + idle_ms;
        if (!go_on)
            break;
    }
    fs_secret_free(s); /* wipes */
    fs_unix_unlink(sa, sock_st); /* only if still ours, not a newer agent's */
    close(lfd);
}

/* Binds and listens on home's socket, replacing a stale one. */
static int agent_listen(const char *home, struct sockaddr_un *sa, struct stat *st, int *lfd)
{
    if (socket_path(home, sa) != 0) {
        cli_error(_("unlock: the path of %s/agent.sock is longer than a socket path may be (%zu "
                  "bytes); use a shorter --home"),
                  home, sizeof sa->sun_path - 1);
        return FS_EINVAL;
    }
    int rc = fs_unix_listen(sa, lfd, st); /* the caller found no agent answering */
    if (rc == FS_EEXIST)
        cli_error(_("unlock: %s exists and is not a socket; remove it"), sa->sun_path);
    else if (rc != 0)
        cli_error(_("unlock: cannot listen on %s: %s"), sa->sun_path, strerror(errno));
    return rc;
}

int agent_spawn(const char *home, const fs_secret *s, uint64_t idle_ms, long *pid)
{
    struct sockaddr_un sa;
    struct stat st;
    int lfd, pfd[2];
    int rc = agent_listen(home, &sa, &st, &lfd);
    if (rc != 0)
        return rc;
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        cli_error(_("unlock: cannot create a pipe: %s"), strerror(errno));
        close(lfd);
        unlink(sa.sun_path);
        return FS_EIO;
    }
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        /* The agent is a grandchild, adopted by init: no zombie is left to
         * the caller (the daemon spawns one too), and it leaves the
         * caller's session so closing a terminal does not end it. */
        setsid();
        pid_t agent = fork();
        if (agent != 0) {
            long p = agent > 0 ? (long)agent : -1L;
            (void)!write(pfd[1], &p, sizeof p);
            _exit(0);
        }
        close(pfd[0]);
        close(pfd[1]);
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
            if (null > 2)
                close(null);
        }
        for (int fd = 3; fd < 1024; fd++)
            if (fd != lfd)
                close(fd);
        /* The agent's copy of s (fork copied the caller's memory) is its
         * own now. Memory locks are not inherited across fork: lock it
         * again. Dumps and tracing stay off (fs_harden_process, inherited). */
        fs_secret *mine = (fs_secret *)s;
        (void)sodium_mlock(mine->key, FS_KEY_BYTES);
        agent_main(lfd, home, mine, idle_ms, &sa, &st);
        _exit(0);
    }
    close(pfd[1]);
    close(lfd);
    long agent = -1;
    if (child < 0 || read(pfd[0], &agent, sizeof agent) != (ssize_t)sizeof agent || agent <= 0) {
        cli_error(_("unlock: cannot start the agent: %s"),
                  child < 0 ? strerror(errno) : "fork failed");
        close(pfd[0]);
        if (child > 0)
            waitpid(child, NULL, 0);
        unlink(sa.sun_path);
        return FS_EIO;
    }
    close(pfd[0]);
    waitpid(child, NULL, 0);
    *pid = agent;
    return 0;
}
