/*
 * Plumbing of fieldsync-server's commands (srv.h): options (parsed by
 * fieldsync/opts.h, worded here), the one path for messages, the
 * passphrase (environment or terminal without echo, as the client does it,
 * written again here so the server links no client code) and the store.
 */
#include <libintl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "fieldsync/passphrase.h"
#include "srv.h"

#define _(s) gettext(s) /* the operator's language: srv_lang */
#include "fieldsync/passphrase_why.h" /* after _() */

_Thread_local FILE *srv_out_, *srv_err_;
_Thread_local fs_store *srv_hosted_store;
_Thread_local const char *srv_hosted_dir;
_Thread_local struct fs_ws_server *srv_hosted_ws;
_Thread_local fs_feed_compaction *srv_hosted_compaction;

/* One line, not interleaved with another thread's (serve's transport). */
static void say(FILE *f, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void say(FILE *f, const char *fmt, va_list ap)
{
    flockfile(f);
    fputs(SRV_PROG ": ", f);
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    funlockfile(f);
}

void srv_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(srv_err, fmt, ap);
    va_end(ap);
}

void srv_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(stderr, fmt, ap);
    va_end(ap);
}

int srv_parse(const char *usage, const fs_opt *opts, size_t nopts, int argc, char **argv)
{
    fs_opts_error e;
    int rc = fs_opts_parse(opts, nopts, argc, argv, &e);
    if (rc == 0)
        return SRV_OK;
    if (rc == FS_OPTS_HELP) {
        fputs(_(usage), srv_out); /* marked N_() where defined */
        return SRV_HELP;
    }
    if (rc != FS_EINVAL) {
        srv_error(_("out of memory"));
        return SRV_ERUNTIME;
    }
    switch (e.problem) {
    case FS_OPTS_STRAY:
        srv_error(_("unexpected argument (options start with --; see --help)"));
        break;
    case FS_OPTS_UNKNOWN:
        srv_error(_("unknown option %.*s (see --help)"), e.namelen > 40 ? 40 : e.namelen, e.name);
        break;
    case FS_OPTS_HASVALUE:
        srv_error(_("%.*s takes no value"), e.namelen, e.name);
        break;
    case FS_OPTS_MISSING:
        srv_error(_("%.*s needs a value"), e.namelen, e.name);
        break;
    case FS_OPTS_TWICE:
        srv_error(_("%.*s given twice"), e.namelen, e.name);
        break;
    case FS_OPTS_NONE:
        break;
    }
    return SRV_EUSAGE;
}

int srv_require(const char *command, const char *flag, const char *value)
{
    int blank = 1;
    for (const char *p = value; p != NULL && *p; p++)
        if (*p != ' ' && *p != '\t')
            blank = 0;
    if (value == NULL) {
        srv_error(_("%s: %s is required"), command, flag);
        return SRV_EUSAGE;
    }
    if (blank) {
        srv_error(_("%s: %s is empty"), command, flag);
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

void srv_pass_free(srv_pass *p)
{
    fs_passphrase fp = {p->buf, p->len};
    fs_passphrase_free(&fp); /* wipes */
    p->buf = NULL;
    p->len = 0;
}

/* Why no passphrase or password was read, in the operator's language
 * (fieldsync/passphrase_why.h); anything else as it is. */
static void say_pass_why(const char *why, const char *envname)
{
    char words[512];
    srv_error("%s", fs_passphrase_why_words(why, envname, words, sizeof words) ? words : why);
}

int srv_pass_get(srv_pass *out, int confirm)
{
    fs_passphrase fp;
    char why[256];
    out->buf = NULL;
    out->len = 0;
    int rc = fs_passphrase_get(&fp, SRV_PASSENV, _("Server passphrase: "),
                               confirm ? _("Repeat the passphrase: ") : NULL, why, sizeof why);
    if (rc != 0) {
        say_pass_why(why, SRV_PASSENV);
        return rc == FS_EINVAL ? SRV_EUSAGE : SRV_ERUNTIME;
    }
    out->buf = fp.buf;
    out->len = fp.len;
    return SRV_OK;
}

int srv_user_password_get(srv_pass *out)
{
    fs_passphrase fp;
    char why[256];
    out->buf = NULL;
    out->len = 0;
    int rc =
        fs_passphrase_get(&fp, SRV_USER_PASSENV, _("New dashboard password: "),
                          _("Repeat the password: "), why, sizeof why);
    if (rc != 0) {
        say_pass_why(why, SRV_USER_PASSENV);
        return rc == FS_EINVAL ? SRV_EUSAGE : SRV_ERUNTIME;
    }
    out->buf = fp.buf;
    out->len = fp.len;
    return SRV_OK;
}

/* ---- the store ---- */

int srv_fail(fs_store *s, const char *what, int rc)
{
    const char *msg = s != NULL ? fs_store_errmsg(s) : NULL;
    srv_error("%s: %s", what, msg != NULL && msg[0] != '\0' ? msg : fs_strerror(rc));
    return SRV_ERUNTIME;
}

/* 1 when a and b name the same existing directory. */
static int same_dir(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

void srv_close(fs_store *s)
{
    if (s != NULL && s != srv_hosted_store)
        fs_store_close(s);
}

int srv_open(const char *dir, fs_store **out)
{
    srv_pass pass;
    *out = NULL;
    if (srv_hosted_store != NULL) {
        if (!same_dir(dir, srv_hosted_dir)) {
            srv_error(_("--data: the server answering here serves another directory"));
            return SRV_EUSAGE;
        }
        *out = srv_hosted_store;
        return SRV_OK;
    }
    if (access(dir, F_OK) != 0) {
        srv_error(_("--data: %s does not exist (create a store with init)"), dir);
        return SRV_EUSAGE;
    }
    int rc = srv_pass_get(&pass, 0);
    if (rc != SRV_OK)
        return rc;
    /* A node of a PostgreSQL store keeps its URL in DIR/store. */
    char url[8];
    int pg = fs_store_pg_url(dir, url, sizeof url) != FS_ENOTFOUND;
    rc = pg ? fs_store_pg_open(out, dir, pass.buf, pass.len, NULL, NULL)
            : fs_store_open(out, dir, pass.buf, pass.len, NULL);
    srv_pass_free(&pass);
    if (rc == 0)
        return SRV_OK;
    *out = NULL;
    if (rc == FS_EPASSPHRASE) {
        srv_error(_("wrong passphrase (%s or the terminal)"), SRV_PASSENV);
        return SRV_ERUNTIME;
    }
    if (rc == FS_ENOTFOUND || rc == FS_EFORMAT) {
        srv_error(_("--data: %s holds no server store"), dir);
        return SRV_EUSAGE;
    }
    srv_error(_("--data: cannot open the store: %s"),
              pg ? fs_store_pg_errmsg() : fs_replica_errmsg(NULL));
    return SRV_ERUNTIME;
}
