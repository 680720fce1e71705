/*
 * Plumbing shared by the commands of the fieldsync client: results and exit
 * statuses, option parsing, input checks, passphrases and opening the
 * replica.
 *
 * A command is a function cmd_xxx(ctx, argc, argv) (cmd.h) that returns
 * CLI_OK, CLI_EUSAGE (bad input: exit status 2) or CLI_ERUNTIME (exit status
 * 1), having printed one line "fieldsync: ..." on stderr. Messages name the
 * offending flag; they never contain passphrases or customer data (a date or
 * an id may be echoed, a name or a note never).
 */
#ifndef FIELDSYNC_CLIENT_CLI_H
#define FIELDSYNC_CLIENT_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "fieldsync/opts.h"
#include "fieldsync/passphrase.h"
#include "fieldsync/replica.h"

enum {
    CLI_OK = 0,
    CLI_ERUNTIME = -1, /* exit status 1: the library, the disk, the terminal */
    CLI_EUSAGE = -2,   /* exit status 2: the command line or its values */
    CLI_EREFUSED = -3, /* exit status 3: sync ended, and the server refused a new change */
    CLI_HELP = 1       /* cli_parse() printed --help: the command ends, status 0 */
};

#define CLI_PROG "fieldsync"

/* Global state of one invocation. */
typedef struct cli_ctx {
    const char *home; /* --home, else $FIELDSYNC_HOME, else NULL */
    const char *lang; /* --lang zh|en, else NULL (i18n.h) */
} cli_ctx;

/* The client's names for the option table of fieldsync/opts.h (one parser
 * for both binaries): a command lists its options as cli_opt rows, as
 * {"--json", CLI_FLAG, &json, NULL, NULL}. A cli_list holds the values of a
 * repeatable option, in command-line order, pointing into argv; free it
 * with cli_list_free(). */
typedef fs_opt_list cli_list;
typedef fs_opt cli_opt;
#define CLI_FLAG  FS_OPT_FLAG  /* --x: sets *flag to 1 */
#define CLI_VALUE FS_OPT_VALUE /* --x VALUE or --x=VALUE, at most once: sets *value */
#define CLI_LIST  FS_OPT_LIST  /* --x VALUE, repeatable: appends to *list */

void cli_list_free(cli_list *l);

/* Parses a command's options from argv[0..argc) with fs_opts_parse().
 * --home DIR (into ctx->home; the last one counts) and --help are
 * understood everywhere. A value that starts with "--" is taken for a
 * missing value; write --notes=--x to pass one. Returns CLI_OK, CLI_HELP
 * (usage printed on stdout), CLI_EUSAGE (unknown option, missing value,
 * option given twice, stray argument: the message, then usage on stderr)
 * or CLI_ERUNTIME (out of memory). */
int cli_parse(cli_ctx *ctx, const char *usage, const cli_opt *opts, size_t nopts, int argc,
              char **argv);

/* The global options in front of the command word (main.c): --home DIR
 * into ctx->home, --lang zh|en into ctx->lang, --version into *version, --help. *next is the index
 * of the command word (argc when there is none). Returns CLI_OK, CLI_HELP (nothing printed: the
 * caller prints its usage) or CLI_EUSAGE (message printed, naming the option). */
int cli_parse_global(cli_ctx *ctx, int *version, int argc, char **argv, int *next);

/* Prints "fieldsync: " and the formatted message on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reports a failed library call: "fieldsync: <what>: <message>", where the
 * message is fs_replica_errmsg(r) when r is given and has one, else
 * fs_strerror(rc). Returns CLI_ERUNTIME. */
int cli_fail(const fs_replica *r, const char *what, int rc);
/* fs_strerror(rc) in the rep's language (the core's words are in the
 * catalog: scripts/update-pot reads them from FS_ERRNO_MAP). */
const char *cli_strerror(int rc);
/* A record kind (a schema table's name) as a rep calls it, translated
 * ("weekly_plan": "weekly plan", 周计划); the name itself for others. */
const char *cli_kind_word(const char *table);
/* Says a record was changed (deleted 0) or deleted (1), with `others`
 * records that named it deleted too: to a person (a terminal) as "visit
 * changed: ID" in their language; to a script as "COMMAND: ID", or nothing
 * when command is NULL. */
void cli_said(const char *command, const char *table, const char *hex, int deleted,
              size_t others);
/* Prints a usage text ("usage: fieldsync ..."), its first word in the
 * rep's language. */
void cli_usage(FILE *f, const char *usage);

/* Checks a required option: given (else "<command>: --x is required") and
 * not blank. Returns CLI_OK or CLI_EUSAGE. */
int cli_require(const char *command, const char *flag, const char *value);

/* Checks that a text value is valid UTF-8 and within the library's size
 * limit; NULL passes. Returns CLI_OK or CLI_EUSAGE. */
int cli_check_text(const char *flag, const char *value);

/* 1 if s is NULL, empty or only blanks. */
int cli_blank(const char *s);

/* err, a failure of the link to host:port as the net and link layers word
 * it (in English: they have no gettext), rewritten in place in the
 * reader's language when it is one a rep meets offline (cannot reach the
 * server, no answer in time, the connection closed); anything after it
 * kept, anything else left as it is. */
void cli_net_words(char *err, size_t size, const char *host, int port);
/* The Monday (civil minutes) of the week text names: an ISO week
 * (2026-W50), this, last or next (本周, 上周, 下周, 本週...) from now, or a
 * date in it (as forms take dates: 2026-12-08, 2026/12/8, 2026年12月8日).
 * CLI_OK, or CLI_EUSAGE with the ways named (as --week's error). */
int cli_week(const char *text, int64_t now, int64_t *monday);
/* Checks "YYYY-MM-DD HH:MM" (len 16) or "YYYY-MM-DD" (len 10) strictly: a
 * real calendar date in years 1900-9999, hours 00-23, minutes 00-59. On a
 * bad value prints 'fieldsync: <flag>: expected "...", got "<value>": why'.
 * Returns CLI_OK or CLI_EUSAGE. */
int cli_check_datetime(const char *flag, const char *value);
int cli_check_date(const char *flag, const char *value);

/* Checks the form of a row id given on the command line: 6 to 32 hex
 * digits. Returns CLI_OK or CLI_EUSAGE. */
int cli_check_idprefix(const char *flag, const char *value);

/* The command line of a command on one record, "ID [--json]" (the id
 * first, as history and attachment list take it): *hex the id as given,
 * *json the flag. CLI_HELP after --help (usage printed); CLI_EUSAGE with
 * missing (a message in the user's words) and the usage when no id is
 * given. */
int cli_parse_id_json(cli_ctx *ctx, const char *usage, const char *missing, int argc, char **argv,
                      const char **hex, int *json);

/* The value as typed, quoted, when it prints safely (valid UTF-8, no
 * control characters, at most 60 characters, fitting in buf), else
 * described by its length: for messages that name what the user typed
 * (a bad date, a name that finds nothing). Returns buf. */
const char *cli_typed(const char *value, char *buf, size_t size);

/* Checks a reference to a row of table given on the command line: an id
 * prefix, or for a table named by name (fs_name_column: customer, contact,
 * commitment) a non-empty text; table NULL: not known yet, either. */
int cli_check_ref(const char *flag, const char *table, const char *value);

/* cli_resolve's lookup without its messages: 1 and the row's id in out
 * when text is one live row's id prefix or its name, else 0 (for a check
 * that says nothing when the row is not one: the write's own lookup will). */
int cli_find(fs_replica *r, const char *table, const char *text, uint8_t out[FS_ID_BYTES]);

/* Finds the one live row of table whose id starts with hex, or, for a
 * table named by name, whose name holds it (part of the name, Latin letters
 * in any case; an exact name wins over longer ones), and reports a failure
 * in terms of flag: no such row, or the candidates when several match.
 * Returns CLI_OK, CLI_EUSAGE (no such row, ambiguous, malformed) or
 * CLI_ERUNTIME. */
int cli_resolve(fs_replica *r, const char *table, const char *flag, const char *hex,
                uint8_t out[FS_ID_BYTES]);

/* The local time now as "YYYY-MM-DD HH:MM". */
void cli_now(char out[17]);
/* 1 once an open replica holds its team's calendar: cli_now is then the
 * time in the team's zone (issue 17.7), 0 before (this machine's zone). */
int cli_team_zone(void);

/* The replica directory: ctx->home, or an error naming --home and
 * FIELDSYNC_HOME. Returns CLI_OK or CLI_EUSAGE. */
int cli_home(const cli_ctx *ctx, const char **out);
/* A user's role as the server said it ("rep", "manager"), in the rep's
 * words; another role as it is. */
const char *cli_role_words(const char *role);

/* A passphrase in sodium_malloc'd memory; cli_pass_free() wipes it. */
typedef struct cli_pass {
    char *buf; /* NUL-terminated */
    size_t len;
} cli_pass;

/* Asks for a value on the terminal (echoing: not for secrets): 1 and a
 * malloc'd answer without its newline, 0 when stdin is not a terminal. */
int cli_ask(const char *label, char **out);
/* How cli_ask_as says what Enter does. */
typedef enum cli_ask_kind {
    CLI_ASK_NEEDED, /* "label: " */
    CLI_ASK_SKIP,   /* "label (Enter to skip): " */
    CLI_ASK_TODAY,  /* "label (Enter for today): " */
    CLI_ASK_NOW,    /* "label (Enter for now): " */
    CLI_ASK_MORE,   /* "label, one at a time (Enter when done): " */
    CLI_ASK_YESNO,  /* "label (yes/no, Enter for no): " */
    CLI_ASK_KEEP,   /* "label (Enter keeps it): " */
    CLI_ASK_CLEAR   /* "label (Enter keeps it, - clears it): " */
} cli_ask_kind;
/* cli_ask with a prompt that says what an empty answer does. */
int cli_ask_as(const char *label, cli_ask_kind kind, char **out);
/* cli_require, asking for a missing value first when on a terminal; the
 * answer stays in *typed (the caller frees it) and *value points to it. */
int cli_require_ask(const char *command, const char *flag, const char *label, const char **value,
                    char **typed);

/* Gets a passphrase from the environment variable envname if it is set,
 * otherwise from the terminal (/dev/tty, without echo), asking a second
 * time with confirm_prompt when that is not NULL. Echo is restored even if
 * a signal ends the process during the prompt. Returns CLI_OK, CLI_EUSAGE
 * (empty, too long, the two entries differ) or CLI_ERUNTIME (no terminal,
 * out of memory). On error out holds nothing. */
int cli_pass_get(cli_pass *out, const char *envname, const char *prompt,
                 const char *confirm_prompt);

/* cli_pass_get for a new passphrase (init, enroll, passwd): one that
 * fails the policy (fs_passphrase_weakness) is refused with CLI_EUSAGE and
 * words saying what it needs, never repeating it. */
int cli_pass_get_new(cli_pass *out, const char *envname, const char *prompt,
                     const char *confirm_prompt);
/* The same under a team's stricter rule pol (NULL or the built-in one: as
 * cli_pass_get_new): a passphrase too short for it is refused naming the
 * team and its rule, which a prompt on a terminal says first. */
struct fs_pass_policy;
int cli_pass_get_new_for(cli_pass *out, const char *envname, const char *prompt,
                         const char *confirm_prompt, const struct fs_pass_policy *pol,
                         const char *team);

/* Wipes and frees the passphrase; accepts an empty one. */
void cli_pass_free(cli_pass *p);

/* What is wrong with a passphrase w says (held to pol, NULL: the built-in
 * rule; team names the team whose rule it is), in the user's words, into
 * out: "too short for the rule of team north: ..." ("" for FS_PASS_OK). */
void cli_pass_why(fs_pass_weakness w, const fs_pass_policy *pol, const char *team, char *out,
                  size_t size);
/* Keeps the measure of the passphrase just set (fs_pass_measure, never the
 * passphrase) in r's local setting "passfit", so a team's rule made
 * stricter later is checked without it (issue 20.7). The replica's code. */
int cli_pass_remember(fs_replica *r, const char *pass, size_t len);
/* 1 when the passphrase last remembered falls short of the rule of the
 * device's team as the last sync brought it (rule, team and why filled);
 * 0 when it meets it, or nothing is remembered. */
int cli_pass_short_of_team(fs_replica *r, fs_pass_policy *rule, char team[FS_USER_MAX + 1],
                           fs_pass_weakness *why);

/* The key file of the replica in home ("<home>/replica.key") into buf.
 * Returns CLI_OK or CLI_EUSAGE (path too long, message printed). */
int cli_keyfile_path(const char *home, char *buf, size_t size);

/* 1 if home holds a replica's key file (or it cannot tell), 0 if not. */
int cli_replica_exists(const char *home);

/* Options for opening the replica from a command: wait up to CLI_BUSY_MS
 * for another process (the daemon's sync) to let it go. */
#define CLI_BUSY_MS 15000
extern const fs_replica_opts cli_replica_opts;
/* fs_replica_open_secret with those options, retried while the replica is
 * busy for up to CLI_BUSY_MS. A fieldsync code. */
int cli_open_key(const char *home, const fs_secret *key, fs_replica **out);

/* The replica's data key: from the unlock agent of home if one runs
 * (agent.h; for_daemon: without counting as the user's activity), else by
 * the passphrase ($FIELDSYNC_PASSPHRASE or the terminal), wiped once the key
 * file is unwrapped. *from_agent (may be NULL) says which. CLI_OK and *out
 * (free with fs_secret_free), or CLI_EUSAGE / CLI_ERUNTIME, message printed. */
int cli_key(const char *home, int for_daemon, fs_secret **out, int *from_agent);

/* Opens the replica in the home directory with cli_key(). A device whose
 * lease from the server has ended is locked: cli_open refuses to open it
 * (the message says how to renew), cli_open_locked (sync, status, the
 * daemon) opens it anyway. Returns CLI_OK, CLI_EUSAGE or CLI_ERUNTIME
 * (message printed). */
int cli_open(const cli_ctx *ctx, fs_replica **out);
int cli_open_locked(const cli_ctx *ctx, fs_replica **out);

#endif
