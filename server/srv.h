/*
 * Plumbing shared by the commands of fieldsync-server: exit statuses,
 * option parsing, the passphrase and opening the store.
 *
 * A command is a function srv_cmd_xxx(argc, argv) that returns SRV_OK,
 * SRV_EUSAGE (bad command line or values: exit status 2) or SRV_ERUNTIME
 * (exit status 1), having printed one line "fieldsync-server: ..." on
 * stderr. Messages name the offending flag and never contain passphrases
 * or code secrets.
 */
#ifndef FIELDSYNC_SERVER_SRV_H
#define FIELDSYNC_SERVER_SRV_H

#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "fieldsync/opts.h"
#include "fieldsync/store.h"
#include "store/store_pg.h"
#include "store/store_sqlite.h"

enum {
    SRV_OK = 0,
    SRV_ERUNTIME = -1, /* exit status 1 */
    SRV_EUSAGE = -2,   /* exit status 2 */
    SRV_HELP = 1,      /* --help printed: status 0 */
    SRV_NOTSERVING = 3, /* status: no serve answers (exit status 3) */
    SRV_MORE = 4        /* a hosted compact did one step: serve calls it again */
};

#define SRV_PROG    "fieldsync-server"
#define SRV_PASSENV "FIELDSYNC_PASSPHRASE"
#define SRV_USER_PASSENV "FIELDSYNC_USER_PASSWORD" /* user passwd, for automation */

/* Where the commands print: stdout and stderr, unless a running serve hosts
 * the command (serve.c), which captures both for the control socket's
 * reply. Per thread: serve runs hosted commands on its transport thread. */
extern _Thread_local FILE *srv_out_, *srv_err_;
#define srv_out        (srv_out_ != NULL ? srv_out_ : stdout)
#define srv_err        (srv_err_ != NULL ? srv_err_ : stderr)
#define srv_putchar(c) fputc((c), srv_out)

/* A store a running serve lends to the command it hosts, with the data
 * directory it serves; NULL when the command runs on its own. */
extern _Thread_local fs_store *srv_hosted_store;
extern _Thread_local const char *srv_hosted_dir;
/* The running service itself, for status (its open connections). */
struct fs_ws_server;
extern _Thread_local struct fs_ws_server *srv_hosted_ws;
/* A hosted compact's progress, kept by the control socket's thread between
 * the steps it runs one job each (NULL when not hosted). */
extern _Thread_local fs_feed_compaction *srv_hosted_compaction;

/* Parses argv[0..argc) against the table with fs_opts_parse()
 * (fieldsync/opts.h: --x VALUE or --x=VALUE, each at most once, and
 * flags). Returns SRV_OK, SRV_HELP (usage printed on srv_out), SRV_EUSAGE
 * (the message, naming the option) or SRV_ERUNTIME (out of memory). */
int srv_parse(const char *usage, const fs_opt *opts, size_t nopts, int argc, char **argv);

/* The one way the server reports: "fieldsync-server: " and the message,
 * one line. srv_error writes on srv_err (the command's stderr, captured
 * when serve hosts it); srv_log on the process's own stderr, for serve's
 * log, which a hosted command's reply must never carry. */
void srv_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void srv_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "<command>: <flag> is required" unless value is given and not blank. */
int srv_require(const char *command, const char *flag, const char *value);

/* A passphrase in sodium_malloc'd memory; srv_pass_free() wipes it. */
typedef struct srv_pass {
    char *buf;
    size_t len;
} srv_pass;

/* From $FIELDSYNC_PASSPHRASE, else from /dev/tty without echo (asked twice
 * when confirm is set). SRV_OK, SRV_EUSAGE (empty, too long, entries
 * differ) or SRV_ERUNTIME (no terminal). */
int srv_pass_get(srv_pass *out, int confirm);
/* A new dashboard password: $FIELDSYNC_USER_PASSWORD, else asked twice on
 * the terminal without echo. */
int srv_user_password_get(srv_pass *out);
void srv_pass_free(srv_pass *p);

/* Asks for the passphrase and opens the store in dir; in a hosted command,
 * lends the running server's store instead (the passphrase was checked by
 * serve). srv_close closes what srv_open opened and leaves a lent store. */
int srv_open(const char *dir, fs_store **out);
void srv_close(fs_store *s);

/* Reports a failed library call on s: "<what>: <message>". SRV_ERUNTIME. */
int srv_fail(fs_store *s, const char *what, int rc);

/* Copies s into out (cap bytes), replacing control characters by '?', so
 * that text a device sent cannot drive the terminal. */
void srv_printable(const char *s, char *out, size_t cap);

int srv_cmd_init(int argc, char **argv);
int srv_cmd_migrate(int argc, char **argv);
int srv_cmd_user(int argc, char **argv);
int srv_cmd_enroll_code(int argc, char **argv);
int srv_cmd_device(int argc, char **argv);
int srv_cmd_audit(int argc, char **argv);
/* The audit chain's head as `audit head` prints it, "SEQ:MAC" (MAC in hex),
 * for serve's log at start, hourly and on exit. Errors: fs_audit_head's. */
#define SRV_AUDIT_HEAD_MAX (21 + 1 + 2 * 32 + 1)
struct fs_audit;
int srv_audit_head_text(struct fs_audit *a, char out[SRV_AUDIT_HEAD_MAX]);

/* Puts a backup of the data directory back, with a new feed epoch
 * (restore.c). Never hosted by a running serve: it refuses to run while
 * one answers on the directory. */
int srv_cmd_restore(int argc, char **argv);
/* A sealed copy of the store into a new directory (restore.c); hosted by a
 * running serve, so it is taken while serving. */
int srv_cmd_backup(int argc, char **argv);
/* fieldsync-server compact: feed compaction (issue 21.1) */
#define SRV_COMPACT_ROWS 256 /* rows per step, one transaction: sessions wait for one only */
int srv_cmd_compact(int argc, char **argv);
/* One audit entry `compact` for a compaction that completed (actor
 * "serve" when serve ran it by itself, "operator" for the command): the
 * horizon, keep_days, rows examined, entries dropped and rewritten, changes
 * dropped, bytes of changes before and after; never a value. 0 or an
 * fs_audit error (the message in fs_audit_errmsg). */
int srv_compact_audit(fs_store *s, const char *actor, uint64_t keep_days,
                      const fs_feed_compaction *c);
/* serve's settings file (conf.c; fieldsync.conf(5)): systemd's environment
 * file format, KEY=value. Each member NULL when not set. */
typedef struct srv_conf {
    char *data, *listen, *lease, *tls_cert, *tls_key, *insecure_http;
} srv_conf;
/* Reads path. SRV_OK, or SRV_EUSAGE with a message naming the file, the
 * line and the key (never a value), or SRV_ERUNTIME. A file that holds
 * FIELDSYNC_PASSPHRASE and that other users can read is refused. */
int srv_conf_load(const char *path, srv_conf *out);
void srv_conf_free(srv_conf *c);
/* yes/true/on/1 -> 1, no/false/off/0 and NULL -> 0, anything else -1. */
int srv_conf_flag(const char *v);

/* How the service is doing (status.c); hosted by a running serve, and
 * SRV_NOTSERVING when run on the store itself. */
int srv_cmd_status(int argc, char **argv);
/* A team's settings (team.c): set and show; srv_team_check checks a
 * command line before it is run on its own or through a running serve.
 * srv_lang (team.c) chooses the language of the commands' messages from
 * the environment; main calls it for every command but serve (it sets the
 * process locale, which serve's threads leave alone: server/web_i18n.c). */
int srv_cmd_team(int argc, char **argv);
int srv_team_check(int argc, char **argv);
void srv_lang(void);
/* Binds the message catalog (what srv_lang does but the locale): serve,
 * for the commands it hosts in their operator's language. */
void srv_lang_domain(void);
/* The operator's language as the control request carries it (fieldsync/
 * ctl.h): "zh_CN" or "zh_TW" when the environment srv_lang reads names a
 * Chinese locale, else "en". Never text of the environment's. */
const char *srv_lang_code(void);
/* export-key and export open (server/export.c, issue 20.4); the export
 * key's public half as team's setting export_pk, when DIR has one. */
int srv_cmd_export_key(int argc, char **argv);
int srv_cmd_export(int argc, char **argv);
int srv_export_pk_to_team(fs_store *s, const char *dir, const char *team);
/* Runs the sync service until SIGTERM or SIGINT (serve.c). */
int srv_cmd_serve(int argc, char **argv);

/* The commands a running serve can host: user, enroll-code, device, audit,
 * backup, status, team.
 * argv[0] is the command word. Returns the command's result, or SRV_EUSAGE
 * for another command (message printed). */
int srv_dispatch_admin(int argc, char **argv);

/* When a serve runs on the data directory named by argv's --data, runs the
 * admin command there through its control socket (ctl.c) and sets *rc to
 * the command's result: returns 1. Returns 0 when no serve answers, and
 * the caller runs the command itself. */
int srv_ctl_forward(int argc, char **argv, int *rc);

/* serve's end of the control socket (ctl.c). */
typedef struct srv_ctl {
    int fd;
    struct sockaddr_un sa;
    struct stat st;
} srv_ctl;
struct fs_ws_server;
int srv_ctl_listen(const char *data, srv_ctl *out);
/* Accepts and answers one connection (the listening socket is readable). */
void srv_ctl_accept(srv_ctl *c, const char *data, struct fs_ws_server *ws);
void srv_ctl_close(srv_ctl *c);

#endif
