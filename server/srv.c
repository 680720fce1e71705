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
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "fieldsync/passphrase.h"
#include "srv.h"

_Thread_local FILE *srv_out_, *srv_err_;
_Thread_local fs_store *srv_hosted_store;
_Thread_local const char *srv_hosted_dir;

void srv_error(const char *fmt, ...)
{
    va_list ap;
    fputs(SRV_PROG ": ", srv_err);
    va_start(ap, fmt);
    vfprintf(srv_err, fmt, ap);
    va_end(ap);
    fputc('\n', srv_err);
}

int srv_parse(const char *usage, const srv_opt *opts, size_t nopts, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage, srv_out);
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

void srv_pass_free(srv_pass *p)
{
    fs_passphrase fp = {p->buf, p->len};
    fs_passphrase_free(&fp); /* wipes */
    p->buf = NULL;
    p->len = 0;
}

int srv_pass_get(srv_pass *out, int confirm)
{
    fs_passphrase fp;
    char why[256];
    out->buf = NULL;
    out->len = 0;
    int rc = fs_passphrase_get(&fp, SRV_PASSENV, "Server passphrase: ",
                               confirm ? "Repeat the passphrase: " : NULL, why, sizeof why);
    if (rc != 0) {
        srv_error("%s", why);
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
        fs_passphrase_get(&fp, SRV_USER_PASSENV,
                          "New dashboard password: ", "Repeat the password: ", why, sizeof why);
    if (rc != 0) {
        srv_error("%s", why);
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
            srv_error("--data: the server answering here serves another directory");
            return SRV_EUSAGE;
        }
        *out = srv_hosted_store;
        return SRV_OK;
    }
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
