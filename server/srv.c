/*
 * Plumbing of fieldsync-server's commands (srv.h): options, messages, the
 * passphrase (environment or terminal without echo, as the client does it,
 * written again here so the server links no client code) and the store.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "srv.h"

#define PASS_MAX 1024 /* bytes of passphrase accepted */

void srv_error(const char *fmt, ...)
{
    va_list ap;
    fputs(SRV_PROG ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int srv_parse(const char *usage, const srv_opt *opts, size_t nopts, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage, stdout);
            return SRV_HELP;
        }
        if (strncmp(arg, "--", 2) != 0) {
            srv_error("unexpected argument (options start with --; see --help)");
            return SRV_EUSAGE;
        }
        const char *eq = strchr(arg, '=');
        size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
        const srv_opt *o = NULL;
        for (size_t k = 0; k < nopts; k++)
            if (strlen(opts[k].name) == nlen && strncmp(opts[k].name, arg, nlen) == 0)
                o = &opts[k];
        if (o == NULL) {
            srv_error("unknown option %.*s (see --help)", (int)(nlen > 40 ? 40 : nlen), arg);
            return SRV_EUSAGE;
        }
        if (o->value == NULL) {
            if (eq != NULL) {
                srv_error("%s takes no value", o->name);
                return SRV_EUSAGE;
            }
            *o->flag = 1;
            continue;
        }
        if (*o->value != NULL) {
            srv_error("%s given twice", o->name);
            return SRV_EUSAGE;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (v == NULL || (eq == NULL && strncmp(v, "--", 2) == 0)) {
            srv_error("%s needs a value", o->name);
            return SRV_EUSAGE;
        }
        *o->value = v;
    }
    return SRV_OK;
}

int srv_require(const char *command, const char *flag, const char *value)
{
    int blank = 1;
    for (const char *p = value; p != NULL && *p; p++)
        if (*p != ' ' && *p != '\t')
            blank = 0;
    if (value == NULL) {
        srv_error("%s: %s is required", command, flag);
        return SRV_EUSAGE;
    }
    if (blank) {
        srv_error("%s: %s is empty", command, flag);
        return SRV_EUSAGE;
    }
    return SRV_OK;
}

void srv_printable(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; s != NULL && *s && n + 1 < cap; s++)
        out[n++] = ((unsigned char)*s < 0x20 || *s == 0x7F) ? '?' : *s;
    out[n] = '\0';
}

/* ---- passphrase ---- */

/* While echo is off, a signal that ends the process restores the terminal
 * first (SA_RESETHAND then lets the signal take its default action). */
static const int prompt_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define NSIGNALS (sizeof prompt_signals / sizeof prompt_signals[0])
static volatile sig_atomic_t tty_echo_off;
static int tty_fd = -1;
static struct termios tty_saved;

static void restore_tty_and_die(int sig)
{
    if (tty_echo_off)
        tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
    raise(sig);
}

static void write_all(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* One line from the terminal with echo off into buf (PASS_MAX + 1 bytes). */
static int tty_read(int fd, const char *prompt, char *buf, size_t *outlen)
{
    struct sigaction sa, old[NSIGNALS];
    struct termios noecho;
    size_t len = 0;
    int rc = SRV_ERUNTIME, toolong = 0;
    char c = 0;

    *outlen = 0;
    if (tcgetattr(fd, &tty_saved) != 0) {
        srv_error("cannot read a passphrase from the terminal: %s", strerror(errno));
        return SRV_ERUNTIME;
    }
    tty_fd = fd;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = restore_tty_and_die;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    for (size_t i = 0; i < NSIGNALS; i++) {
        sigaction(prompt_signals[i], NULL, &old[i]);
        if (old[i].sa_handler != SIG_IGN)
            sigaction(prompt_signals[i], &sa, NULL);
    }
    noecho = tty_saved;
    noecho.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
    noecho.c_lflag |= ECHONL | ICANON;
    tty_echo_off = 1;
    if (tcsetattr(fd, TCSAFLUSH, &noecho) != 0) {
        srv_error("cannot turn off echo on the terminal: %s", strerror(errno));
        goto restore;
    }
    write_all(fd, prompt);
    for (;;) {
        ssize_t n = read(fd, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            srv_error("reading the passphrase: %s", strerror(errno));
            goto restore;
        }
        if (n == 0) {
            write_all(fd, "\n");
            break;
        }
        if (c == '\n')
            break;
        if (len < PASS_MAX)
            buf[len++] = c;
        else
            toolong = 1;
    }
    while (len > 0 && buf[len - 1] == '\r')
        len--;
    buf[len] = '\0';
    rc = SRV_OK;

restore:
    tcsetattr(fd, TCSAFLUSH, &tty_saved);
    tty_echo_off = 0;
    for (size_t i = 0; i < NSIGNALS; i++)
        sigaction(prompt_signals[i], &old[i], NULL);
    sodium_memzero(&c, sizeof c);
    if (rc == SRV_OK && toolong) {
        sodium_memzero(buf, PASS_MAX + 1);
        srv_error("passphrase too long (at most %d bytes)", PASS_MAX);
        return SRV_EUSAGE;
    }
    if (rc == SRV_OK)
        *outlen = len;
    return rc;
}

void srv_pass_free(srv_pass *p)
{
    if (p->buf != NULL)
        sodium_free(p->buf); /* wipes */
    p->buf = NULL;
    p->len = 0;
}

static int secure_buffer(srv_pass *p)
{
    p->len = 0;
    p->buf = sodium_malloc(PASS_MAX + 1);
    if (p->buf == NULL) {
        srv_error("out of memory for the passphrase");
        return SRV_ERUNTIME;
    }
    p->buf[0] = '\0';
    return SRV_OK;
}

int srv_pass_get(srv_pass *out, int confirm)
{
    srv_pass pass = {NULL, 0}, again = {NULL, 0};
    const char *env = getenv(SRV_PASSENV);
    int fd = -1, rc;

    out->buf = NULL;
    out->len = 0;
    rc = secure_buffer(&pass);
    if (rc != SRV_OK)
        goto fail;
    if (env != NULL) {
        size_t n = strlen(env);
        rc = SRV_EUSAGE;
        if (n == 0) {
            srv_error("%s is set but empty", SRV_PASSENV);
            goto fail;
        }
        if (n > PASS_MAX) {
            srv_error("%s: passphrase too long (at most %d bytes)", SRV_PASSENV, PASS_MAX);
            goto fail;
        }
        memcpy(pass.buf, env, n + 1);
        pass.len = n;
        *out = pass;
        return SRV_OK;
    }
    fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        srv_error("no passphrase: set %s or run " SRV_PROG " on a terminal", SRV_PASSENV);
        rc = SRV_ERUNTIME;
        goto fail;
    }
    rc = tty_read(fd, "Server passphrase: ", pass.buf, &pass.len);
    if (rc != SRV_OK)
        goto fail;
    if (pass.len == 0) {
        srv_error("empty passphrase");
        rc = SRV_EUSAGE;
        goto fail;
    }
    if (confirm) {
        rc = secure_buffer(&again);
        if (rc == SRV_OK)
            rc = tty_read(fd, "Repeat the passphrase: ", again.buf, &again.len);
        if (rc != SRV_OK)
            goto fail;
        if (again.len != pass.len || sodium_memcmp(again.buf, pass.buf, pass.len) != 0) {
            srv_error("the two passphrases differ");
            rc = SRV_EUSAGE;
            goto fail;
        }
        srv_pass_free(&again);
    }
    close(fd);
    *out = pass;
    return SRV_OK;

fail:
    srv_pass_free(&again);
    srv_pass_free(&pass);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* ---- the store ---- */

int srv_fail(fs_store *s, const char *what, int rc)
{
    const char *msg = s != NULL ? fs_store_errmsg(s) : NULL;
    srv_error("%s: %s", what, msg != NULL && msg[0] != '\0' ? msg : fs_strerror(rc));
    return SRV_ERUNTIME;
}

int srv_open(const char *dir, fs_store **out)
{
    srv_pass pass;
    *out = NULL;
    if (access(dir, F_OK) != 0) {
        srv_error("--data: %s does not exist (create a store with init)", dir);
        return SRV_EUSAGE;
    }
    int rc = srv_pass_get(&pass, 0);
    if (rc != SRV_OK)
        return rc;
    rc = fs_store_open(out, dir, pass.buf, pass.len, NULL);
    srv_pass_free(&pass);
    if (rc == 0)
        return SRV_OK;
    *out = NULL;
    if (rc == FS_EPASSPHRASE) {
        srv_error("wrong passphrase (%s or the terminal)", SRV_PASSENV);
        return SRV_ERUNTIME;
    }
    if (rc == FS_ENOTFOUND || rc == FS_EFORMAT) {
        srv_error("--data: %s holds no server store", dir);
        return SRV_EUSAGE;
    }
    srv_error("--data: cannot open the store: %s", fs_replica_errmsg(NULL));
    return SRV_ERUNTIME;
}
