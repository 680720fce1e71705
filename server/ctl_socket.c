/*
 * Admin commands while serve runs (fieldsync/ctl.h). serve holds the store
 * exclusively, so `device revoke` and the others are sent to it over
 * DATA/control.sock: the command line and the passphrase go in, serve
 * checks the passphrase against the store's key file (Argon2, on its main
 * thread), runs the very same command on its transport's thread with the
 * live store (fs_ws_server_call), and sends back its exit status and what
 * it printed. A revoked device's open connection is closed at once.
 * The request carries the operator's language (srv_lang_code), and the
 * command runs in it on that thread alone (uselocale), so what it prints
 * comes back translated; serve's own locale, and so its log, stay C.
 */
#define _GNU_SOURCE /* accept4, open_memstream */
#include <libintl.h>
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "fieldsync/ctl.h"
#include "fieldsync/unixsock.h"
#include "hub.h"
#include "srv.h"
#include "store/store_sqlite.h"

#define _(s) gettext(s) /* the operator's language: srv_lang */

#define CTL_SOCKET        "control.sock"
#define CTL_SERVER_IO_S   5   /* a client that does not send its request */
#define CTL_CLIENT_WAIT_S 600 /* the command itself: audit verify of a long log */

int srv_dispatch_admin(int argc, char **argv)
{
    const char *cmd = argc > 0 ? argv[0] : "";
    if (strcmp(cmd, "user") == 0)
        return srv_cmd_user(argc - 1, argv + 1);
    if (strcmp(cmd, "enroll-code") == 0)
        return srv_cmd_enroll_code(argc - 1, argv + 1);
    if (strcmp(cmd, "device") == 0)
        return srv_cmd_device(argc - 1, argv + 1);
    if (strcmp(cmd, "audit") == 0)
        return srv_cmd_audit(argc - 1, argv + 1);
    if (strcmp(cmd, "backup") == 0)
        return srv_cmd_backup(argc - 1, argv + 1);
    if (strcmp(cmd, "compact") == 0)
        return srv_cmd_compact(argc - 1, argv + 1);
    if (strcmp(cmd, "status") == 0)
        return srv_cmd_status(argc - 1, argv + 1);
    if (strcmp(cmd, "team") == 0)
        return srv_cmd_team(argc - 1, argv + 1);
    if (strcmp(cmd, "export-key") == 0)
        return srv_cmd_export_key(argc - 1, argv + 1);
    srv_error(_("this command cannot run through a running server"));
    return SRV_EUSAGE;
}

/* The command word for the log: one of the known ones, never what a
 * client made up. */
static const char *known_word(const char *cmd)
{
    static const char *const words[] = {"user",   "enroll-code", "device", "audit",
                                         "backup", "status",      "team", "export-key",
                                         "compact"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(cmd, words[i]) == 0)
            return words[i];
    return "(unknown command)";
}

/* ---- the admin command's side ---- */

/* The value of --data in argv, or NULL; *help when --help is there. */
static const char *find_data(int argc, char **argv, int *help)
{
    const char *data = NULL;
    *help = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 ||
            strcmp(argv[i], "help") == 0)
            *help = 1;
        else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[i + 1];
        else if (strncmp(argv[i], "--data=", 7) == 0)
            data = argv[i] + 7;
    }
    return data;
}

static int valid_status(int32_t st)
{
    return st == SRV_OK || st == SRV_EUSAGE || st == SRV_ERUNTIME || st == SRV_HELP;
}

int srv_ctl_forward(int argc, char **argv, int *rc)
{
    struct sockaddr_un sa;
    int help, fd;
    const char *data = find_data(argc, argv, &help);
    if (data == NULL || help || fs_unix_path(&sa, data, CTL_SOCKET) != 0)
        return 0; /* the command reports a missing --data, or needs no store */
    int frc = fs_unix_connect(&sa, &fd);
    if (frc == FS_ENOTFOUND)
        return 0; /* no serve: the command opens the store itself */
    if (frc != 0) {
        srv_error(_("--data: %s/%s %s"), data, CTL_SOCKET,
                  frc == FS_EAUTH ? "belongs to another user's process: not using it"
                                  : "does not answer");
        *rc = SRV_ERUNTIME;
        return 1;
    }
    srv_pass pass, pw = {NULL, 0};
    *rc = srv_pass_get(&pass, 0);
    /* user passwd: the new password is typed here, at the admin's terminal,
     * and travels in the request (serve has no terminal). */
    int passwd = argc >= 2 && strcmp(argv[0], "user") == 0 && strcmp(argv[1], "passwd") == 0;
    if (*rc == SRV_OK && passwd)
        *rc = srv_user_password_get(&pw);
    if (*rc != SRV_OK) {
        srv_pass_free(&pass);
        close(fd);
        return 1;
    }
    char *args[FS_CTL_MAX_ARGS + 2];
    int nargs = 0;
    for (int i = 0; i < argc && nargs < FS_CTL_MAX_ARGS; i++)
        args[nargs++] = argv[i];
    if (passwd && nargs + 2 <= FS_CTL_MAX_ARGS) {
        args[nargs++] = "--typed-password";
        args[nargs++] = pw.buf;
    }
    fs_buf req;
    fs_buf_init(&req);
    /* English sends no language: the very bytes an older serve reads */
    const char *lang = srv_lang_code();
    if (strcmp(lang, "en") == 0)
        lang = NULL;
    frc = argc <= FS_CTL_MAX_ARGS
              ? fs_ctl_request_encode(&req, lang, pass.buf, pass.len, nargs, args)
              : FS_ETOOBIG;
    srv_pass_free(&pass);
    srv_pass_free(&pw);
    if (frc != 0) {
        srv_error(_("the command line is too long to send to the running server"));
        fs_buf_free(&req); /* wipes the passphrase */
        close(fd);
        *rc = SRV_EUSAGE;
        return 1;
    }
    fs_unix_timeouts(fd, CTL_CLIENT_WAIT_S);
    uint8_t head[4];
    uint8_t *body = NULL;
    uint32_t n = 0;
    int ok = fs_unix_write(fd, req.data, req.len) == 0 && fs_unix_read(fd, head, 4) == 0;
    fs_buf_free(&req);
    if (ok) {
        n = fs_ctl_len(head);
        ok = n >= 12 && n <= FS_CTL_MAX_REPLY && (body = malloc(n)) != NULL &&
             fs_unix_read(fd, body, n) == 0;
    }
    close(fd);
    int status = 0;
    const uint8_t *out, *err;
    size_t outlen, errlen;
    if (!ok || fs_ctl_reply_parse(body, n, &status, &out, &outlen, &err, &errlen) != 0 ||
        !valid_status(status)) {
        free(body);
        srv_error(_("the running server gave no valid answer (see its log)"));
        *rc = SRV_ERUNTIME;
        return 1;
    }
    fwrite(out, 1, outlen, stdout);
    fwrite(err, 1, errlen, stderr);
    free(body);
    *rc = status;
    return 1;
}

/* ---- serve's side ---- */

typedef struct hosted {
    fs_ws_server *ws;
    const char *data, *lang;
    int argc;
    char **argv;
    char *out, *err;
    size_t outlen, errlen;
    fs_feed_compaction *compaction; /* compact: its progress between steps */
} hosted;

/* The messages' locale of a request's language ("zh_CN", "zh_TW"; the
 * catalog is bound by srv_lang_domain), or 0: English, serve's own C. A
 * Chinese locale not generated on this machine is English too. */
static locale_t lang_locale(const char *lang)
{
    if (lang == NULL || strcmp(lang, "en") == 0)
        return (locale_t)0;
    const char *const suffix[] = {".UTF-8", ".utf8", ""};
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        char name[16];
        snprintf(name, sizeof name, "%s%s", lang, suffix[i]); /* lang: 5 bytes */
        locale_t l = newlocale(LC_MESSAGES_MASK, name, (locale_t)0);
        if (l != (locale_t)0)
            return l;
    }
    return (locale_t)0;
}

/* On the transport's thread: the command, with the live store and its
 * output captured, in the request's language on this thread only. */
static int run_hosted(fs_store *store, void *ctx)
{
    hosted *h = ctx;
    locale_t loc = lang_locale(h->lang), before = (locale_t)0;
    if (loc != (locale_t)0)
        before = uselocale(loc);
    FILE *o = open_memstream(&h->out, &h->outlen);
    FILE *e = open_memstream(&h->err, &h->errlen);
    if (o == NULL || e == NULL) {
        if (o != NULL)
            fclose(o);
        if (e != NULL)
            fclose(e);
        if (loc != (locale_t)0) {
            uselocale(before);
            freelocale(loc);
        }
        return SRV_ERUNTIME;
    }
    srv_out_ = o;
    srv_err_ = e;
    srv_hosted_store = store;
    srv_hosted_dir = h->data;
    srv_hosted_ws = h->ws;
    srv_hosted_compaction = h->compaction;
    int rc = srv_dispatch_admin(h->argc, h->argv);
    srv_hosted_compaction = NULL;
    srv_out_ = NULL;
    srv_err_ = NULL;
    srv_hosted_store = NULL;
    srv_hosted_dir = NULL;
    srv_hosted_ws = NULL;
    if (loc != (locale_t)0) {
        uselocale(before);
        freelocale(loc);
    }
    fclose(o);
    fclose(e);
    return rc;
}

static void reply(int fd, int status, const char *out, size_t outlen, const char *err,
                  size_t errlen)
{
    fs_buf b;
    fs_buf_init(&b);
    if (fs_ctl_reply_encode(&b, status, out, outlen, err, errlen) == 0)
        (void)fs_unix_write(fd, b.data, b.len);
    fs_buf_free(&b);
}

static void reply_error(int fd, int status, const char *msg)
{
    char line[256];
    int n = snprintf(line, sizeof line, SRV_PROG ": %s\n", msg);
    reply(fd, status, "", 0, line, n > 0 ? (size_t)n : 0);
}

/* Answers one connection on the control socket. Logs the command word and
 * the result, never arguments or the passphrase. */
static void serve_one(int fd, const char *data, fs_ws_server *ws)
{
    uint8_t head[4];
    if (!fs_unix_same_user(fd)) {
        srv_log("control: refused a connection from another user");
        return;
    }
    fs_unix_timeouts(fd, CTL_SERVER_IO_S);
    if (fs_unix_read(fd, head, 4) != 0)
        return;
    uint32_t n = fs_ctl_len(head);
    if (n == 0 || n > FS_CTL_MAX_REQUEST) {
        reply_error(fd, SRV_EUSAGE, "control: request too long");
        return;
    }
    char *body = sodium_malloc(n); /* holds the passphrase */
    if (body == NULL) {
        reply_error(fd, SRV_ERUNTIME, "control: out of memory");
        return;
    }
    const char *pass, *lang;
    size_t passlen;
    int argc;
    char *argv[FS_CTL_MAX_ARGS + 1];
    if (fs_unix_read(fd, body, n) != 0 ||
        fs_ctl_request_parse(body, n, &lang, &pass, &passlen, &argc, argv) != 0) {
        reply_error(fd, SRV_EUSAGE, "control: malformed request");
        sodium_free(body);
        return;
    }
    int frc = fs_store_check_passphrase(data, pass, passlen);
    sodium_memzero((void *)pass, passlen);
    if (frc != 0) {
        srv_log("control: %s refused: wrong passphrase", known_word(argv[0]));
        /* the refusal in the request's language too; the log line above not */
        char msg[160];
        locale_t loc = lang_locale(lang), before = (locale_t)0;
        if (loc != (locale_t)0)
            before = uselocale(loc);
        if (frc == FS_EPASSPHRASE)
            snprintf(msg, sizeof msg, _("wrong passphrase (%s or the terminal)"), SRV_PASSENV);
        else
            snprintf(msg, sizeof msg, "control: cannot read the store's key file");
        if (loc != (locale_t)0) {
            uselocale(before);
            freelocale(loc);
        }
        reply_error(fd, SRV_ERUNTIME, msg);
        sodium_free(body);
        return;
    }
    /* compact runs a step per job (a few hundred rows, one transaction):
     * the sessions go on between them (issue 21.1) */
    fs_feed_compaction progress;
    memset(&progress, 0, sizeof progress);
    hosted h = {ws, data, lang, argc, argv, NULL, NULL, 0, 0,
                strcmp(argv[0], "compact") == 0 ? &progress : NULL};
    int rc;
    for (;;) {
        rc = fs_ws_server_call(ws, run_hosted, &h);
        if (rc != SRV_MORE)
            break;
        free(h.out);
        free(h.err);
        h.out = h.err = NULL;
        h.outlen = h.errlen = 0;
    }
    srv_log("control: %s done (%s)", known_word(argv[0]),
            rc == SRV_OK || rc == SRV_HELP ? "ok" : "failed");
    reply(fd, rc, h.out ? h.out : "", h.outlen, h.err ? h.err : "", h.errlen);
    free(h.out);
    free(h.err);
    sodium_free(body);
}

int srv_ctl_listen(const char *data, srv_ctl *out)
{
    srv_lang_domain(); /* the hosted commands' catalog; serve's locale stays C */
    if (fs_unix_path(&out->sa, data, CTL_SOCKET) != 0) {
        srv_error(_("--data: %s/%s is too long for a socket path"), data, CTL_SOCKET);
        return SRV_EUSAGE;
    }
    /* serve holds the store exclusively: a socket left here is stale. */
    int rc = fs_unix_listen(&out->sa, &out->fd, &out->st);
    if (rc != 0) {
        srv_error(_("--data: cannot listen on %s: %s"), out->sa.sun_path,
                  rc == FS_EEXIST ? "something else is there" : strerror(errno));
        return SRV_ERUNTIME;
    }
    return SRV_OK;
}

void srv_ctl_accept(srv_ctl *c, const char *data, fs_ws_server *ws)
{
    int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    serve_one(fd, data, ws);
    close(fd);
}

void srv_ctl_close(srv_ctl *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        fs_unix_unlink(&c->sa, &c->st);
        c->fd = -1;
    }
}
