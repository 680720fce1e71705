/* Reading a passphrase from the environment or a no-echo terminal
 * (fieldsync/passphrase.h). */
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

#include "fieldsync/error.h"
#include "fieldsync/passphrase.h"

/* While a prompt has echo off, a signal that ends the process restores the
 * terminal first (SA_RESETHAND then lets the signal take its default
 * action). */
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

/* Reads one line from the terminal with echo off into buf
 * (FS_PASSPHRASE_MAX + 1 bytes). */
static int tty_read(int fd, const char *prompt, char *buf, size_t *outlen, char *why,
                    size_t whylen)
{
    struct sigaction sa, old[NSIGNALS];
    struct termios noecho;
    size_t len = 0;
    int rc = FS_EIO, toolong = 0;
    char c = 0;

    *outlen = 0;
    if (tcgetattr(fd, &tty_saved) != 0)
        return fs_say(why, whylen, FS_EIO, "cannot read a passphrase from the terminal: %s",
                      strerror(errno));
    tty_fd = fd;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = restore_tty_and_die;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    /* A signal the parent made us ignore (nohup) stays ignored. */
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
        fs_say(why, whylen, FS_EIO, "cannot turn off echo on the terminal: %s", strerror(errno));
        goto restore;
    }
    write_all(fd, prompt);
    for (;;) {
        ssize_t n = read(fd, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fs_say(why, whylen, FS_EIO, "reading the passphrase: %s", strerror(errno));
            goto restore;
        }
        if (n == 0) {
            write_all(fd, "\n");
            break;
        }
        if (c == '\n')
            break;
        if (len < FS_PASSPHRASE_MAX)
            buf[len++] = c;
        else
            toolong = 1;
    }
    while (len > 0 && buf[len - 1] == '\r')
        len--;
    buf[len] = '\0';
    rc = 0;

restore:
    tcsetattr(fd, TCSAFLUSH, &tty_saved);
    tty_echo_off = 0;
    for (size_t i = 0; i < NSIGNALS; i++)
        sigaction(prompt_signals[i], &old[i], NULL);
    sodium_memzero(&c, sizeof c);
    if (rc == 0 && toolong) {
        sodium_memzero(buf, FS_PASSPHRASE_MAX + 1);
        return fs_say(why, whylen, FS_EINVAL, "passphrase too long (at most %d bytes)",
                      FS_PASSPHRASE_MAX);
    }
    if (rc == 0)
        *outlen = len;
    return rc;
}

void fs_passphrase_free(fs_passphrase *p)
{
    if (p->buf != NULL)
        sodium_free(p->buf); /* wipes */
    p->buf = NULL;
    p->len = 0;
}

static int secure_buffer(fs_passphrase *p, char *why, size_t whylen)
{
    p->len = 0;
    p->buf = sodium_malloc(FS_PASSPHRASE_MAX + 1);
    if (p->buf == NULL)
        return fs_say(why, whylen, FS_ENOMEM, "out of memory for the passphrase");
    p->buf[0] = '\0';
    return 0;
}

int fs_passphrase_get(fs_passphrase *out, const char *envname, const char *prompt,
                      const char *confirm_prompt, char *why, size_t whylen)
{
    fs_passphrase pass = {NULL, 0}, again = {NULL, 0};
    const char *env = getenv(envname);
    int fd = -1;
    out->buf = NULL;
    out->len = 0;
    int rc = secure_buffer(&pass, why, whylen);
    if (rc != 0)
        goto fail;
    if (env != NULL) {
        size_t n = strlen(env);
        if (n == 0)
            rc = fs_say(why, whylen, FS_EINVAL, "%s is set but empty", envname);
        else if (n > FS_PASSPHRASE_MAX)
            rc = fs_say(why, whylen, FS_EINVAL, "%s: passphrase too long (at most %d bytes)",
                        envname, FS_PASSPHRASE_MAX);
        if (rc != 0)
            goto fail;
        memcpy(pass.buf, env, n + 1);
        pass.len = n;
        *out = pass;
        return 0;
    }
    fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        rc =
            fs_say(why, whylen, FS_EIO, "no passphrase: set %s or run this on a terminal", envname);
        goto fail;
    }
    rc = tty_read(fd, prompt, pass.buf, &pass.len, why, whylen);
    if (rc == 0 && pass.len == 0)
        rc = fs_say(why, whylen, FS_EINVAL, "empty passphrase");
    if (rc == 0 && confirm_prompt != NULL) {
        rc = secure_buffer(&again, why, whylen);
        if (rc == 0)
            rc = tty_read(fd, confirm_prompt, again.buf, &again.len, why, whylen);
        if (rc == 0 && (again.len != pass.len || sodium_memcmp(again.buf, pass.buf, pass.len) != 0))
            rc = fs_say(why, whylen, FS_EINVAL, "the two passphrases differ");
    }
    if (rc != 0)
        goto fail;
    fs_passphrase_free(&again);
    close(fd);
    *out = pass;
    return 0;

fail:
    fs_passphrase_free(&again);
    fs_passphrase_free(&pass);
    if (fd >= 0)
        close(fd);
    return rc;
}
