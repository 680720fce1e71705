/*
 * fieldsync: the sales rep's command-line client. main() reads the global
 * options, finds the command in a table and maps its result to the exit
 * status: 0 success, 1 runtime error, 2 usage or input error, 3 the server
 * refused something new in a sync. The commands
 * live in cmd_*.c, their shared plumbing in cli.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fieldsync/harden.h"
#include "fieldsync/keyfile.h"

#include "cmd.h"
#include "export.h"
#include "form.h"
#include "i18n.h"
#include "fieldsync/text.h"

#ifndef FS_VERSION_STRING
#define FS_VERSION_STRING "unknown"
#endif

typedef struct command {
    const char *group; /* "customer", or the whole command ("init") */
    const char *name;  /* "add", or NULL for a one-word command */
    int (*run)(cli_ctx *ctx, int argc, char **argv);
} command;

static const command commands[] = {
    {"init", NULL, cmd_init},
    {"passwd", NULL, cmd_passwd},
    {"check", NULL, cmd_check},
    {"customer", "add", cmd_customer_add},
    {"customer", "edit", cmd_customer_edit},
    {"customer", "list", cmd_customer_list},
    {"visit", "add", cmd_visit_add},
    {"visit", "list", cmd_visit_list},
    {"conflict", "list", cmd_conflict_list},
    {"conflict", "resolve", cmd_conflict_resolve},
    {"refused", "list", cmd_refused_list},
    {"refused", "show", cmd_refused_show},
    {"refused", "revert", cmd_refused_revert},
    {"refused", "retry", cmd_refused_retry},
    {"enroll", NULL, cmd_enroll},
    {"sync", NULL, cmd_sync},
    {"status", NULL, cmd_status},
    {"daemon", NULL, cmd_daemon},
    {"server", "list", cmd_server_list},
    {"server", "add", cmd_server_add},
    {"server", "remove", cmd_server_remove},
    {"today", NULL, cmd_today},
    {"report", "compliance", cmd_report_compliance},
    {"report", "rep", cmd_report_rep},
    {"report", "sales", cmd_report_sales},
    {"report", "meeting", cmd_report_meeting},
    {"whoami", NULL, cmd_whoami},
    {"exports", NULL, cmd_exports},
    {"search", NULL, cmd_search},
    {"calendar", NULL, cmd_calendar},
    {"unlock", NULL, cmd_unlock},
    {"lock", NULL, cmd_lock},
    {"history", NULL, cmd_history},
    {"undelete", NULL, cmd_undelete},
    {"attach", NULL, cmd_attach},
    {"attachment", "list", cmd_attachment_list},
    {"attachment", "get", cmd_attachment_get},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    /* Chunks as a translator can align them: one per paragraph, the
     * command list whole (its second column lines up). */
    fputs(_("usage: fieldsync [--home DIR] [--lang zh|en] COMMAND [OPTIONS]\n"
            "\n"
            "Records customers and visits in this device's encrypted replica.\n"
            "\n"),
          f);
    fputs(_("Commands:\n"
            "  init                      create the encrypted replica in DIR\n"
            "  passwd                    change the replica's passphrase\n"
            "  customer add --name NAME [--key-account] [--industry X] [--owner X]\n"
            "                            record a customer; prints its id\n"
            "  customer edit ID [--name NAME] [--industry X] [--key-account yes|no]\n"
            "                [--owner REP]\n"
            "                            change a customer's fields (--industry \"\" clears);\n"
            "                            --owner hands it to another rep (managers only)\n"
            "  customer list [--json]    list customers\n"
            "  visit add --customer ID --time \"YYYY-MM-DD HH:MM\" --place P --purpose P\n"
            "            --notes N [--contact C] [--position P] [--objections O]\n"
            "            [--commit \"TEXT|YYYY-MM-DD\"]... [--next N] [--visitor V]\n"
            "                            record a visit and the commitments made there;\n"
            "                            ID is a customer id or a unique prefix of it\n"
            "                            (at least 6 hex digits); prints the visit id\n"
            "  visit list [--json] [--limit N | --all]\n"
            "                            list visits with their commitments: the newest\n"
            "                            50 first (--limit N: N; --all and --json: every\n"
            "                            visit, oldest first)\n"
            "  conflict list [--json]    values that lost to another device's newer edit\n"
            "  conflict resolve ID --keep mine|theirs | --value V\n"
            "                            decide a conflict; the decision syncs\n"
            "  refused list [--json]     changes the server refused: record, field, value\n"
            "                            sent, reason, when\n"
            "  refused show ID [--json]  one refused change\n"
            "  refused revert ID         take the server's values back for ID's record (a\n"
            "                            record the server never had is removed here)\n"
            "  refused retry ID          send ID's record's refused changes again (after\n"
            "                            fixing what was wrong) at the next sync\n"
            "  enroll --server ws[s]://HOST:PORT [--code CODE] [--name DEVICE-NAME]\n"
            "                            join the server with a one-time code from\n"
            "                            fieldsync-server enroll-code (creates the\n"
            "                            replica if DIR has none); default name: hostname\n"
            "  sync                      send local changes and fetch the server's until\n"
            "                            in sync; on failure nothing local is lost; exit\n"
            "                            status 3 when the server refused something new\n"
            "  status [--json]           pending changes, cursor, server, conflicts,\n"
            "                            changes the server refused, lease, unlock agent\n"
            "  daemon [--interval S]     sync by itself: on local changes, every S seconds\n"
            "                            (default 30), retrying while offline; SIGTERM stops\n"
            "  today [--json]            what is due, overdue and promised in the next 7 days\n"
            "  report compliance [--team T] [--week YYYY-Www | --days N] [--json]\n"
            "                            per rep, the week's figures for every handbook rule\n"
            "  report rep NAME [--week YYYY-Www | --days N] [--json]\n"
            "                            one rep's deadlines for the week, record by record\n"
            "                            (today and report take --tz ZONE, --hours\n"
            "                            HH:MM-HH:MM, --holiday YYYY-MM-DD..., --at TIME)\n"
            "  report sales [--week YYYY-Www | --month YYYY-MM] [--rep NAME] [--json]\n"
            "                            per rep and team: new customers signed, conversion,\n"
            "                            payments collected, against the weekly plans' goals\n"
            "  report meeting [--week YYYY-Www] [--rep NAME] [--json]\n"
            "                            the weekly meeting pack: results against the goals,\n"
            "                            what was overdue or missed and the reasons stated,\n"
            "                            next week's plan\n"
            "  unlock [--idle D]         ask for the passphrase once: an agent keeps the key\n"
            "                            for the commands on DIR until D passes without one\n"
            "                            (default 15m; s, m, h units)\n"
            "  lock                      wipe the agent's key now\n"
            "  search TEXT|- [--kind K] [--limit N] [--json]\n"
            "                            customers, contacts, visits, commitments and\n"
            "                            questions holding TEXT (Simplified or Traditional),\n"
            "                            best first; K: customer, contact, visit,\n"
            "                            commitment, question; - reads TEXT from stdin\n"
            "  whoami [--set NAME] [--team TEAM] [--json]\n"
            "                            this device's user (signed into forms) and team\n"
            "  exports                   this device's exports: when, who, record kind, how\n"
            "                            many, sealed or plaintext, told to the server yet\n"
            "  calendar [--tz ZONE] [--hours HH:MM-HH:MM] [--holiday DATE]... [--clear-holidays]\n"
            "                            the working-day calendar of today and report\n"
            "  help, --help              show this help; COMMAND --help shows one command\n"
            "  --version                 show the version\n"
            "  --lang zh|en              the language of messages (else $FIELDSYNC_LANG,\n"
            "                            else LC_ALL, LC_MESSAGES, LANG)\n"
            "\n"),
          f);
    fputs(_("The server's addresses (a standby, a moved server; tried in turn, the one that\n"
            "answered last first, the next when one does not answer):\n"
            "  server list [--json]      the addresses and the server's key\n"
            "  server add URL            another address of the same server (its key is\n"
            "                            checked at the next sync)\n"
            "  server remove URL         forget an address (not the only one)\n"
            "                            (enroll takes --server more than once too)\n"
            "\n"),
          f);
    fputs(_("Attachments (signed documents, photos, PDFs; kept encrypted, synced in chunks):\n"
            "  attach RECORD FILE [--kind signed-requirement|signed-acceptance|card|contract|other]\n"
            "                            keep a file of up to 20 MiB with a record\n"
            "  attachment list RECORD [--json]\n"
            "                            a record's files\n"
            "  attachment get ID --out FILE\n"
            "                            write a file out (never over an existing one)\n"
            "\n"),
          f);
    fputs(_("Correcting records (every form above and below, customers and visits too):\n"
            "  GROUP edit ID [OPTION VALUE]...\n"
            "                            change the fields given (the options of GROUP add);\n"
            "                            a submitted plan only after the manager returns it\n"
            "  GROUP delete ID [--with-records]\n"
            "                            delete a record (the deletion syncs); one that other\n"
            "                            records name only with them (--with-records)\n"
            "  history ID [--json]       who changed which field of a record, and when\n"
            "  undelete ID               bring back a record deleted by mistake (by its id,\n"
            "                            as delete printed it)\n"
            "  ID is the record's id (6 hex digits or more, as 'list' shows) or its name:\n"
            "  a customer's or contact's name, a deal's title, a part of a commitment's,\n"
            "  question's or complaint's words, a visit's notes, a weekly plan's goals or\n"
            "  rep; a record about a customer (not a contact) also by the customer's name\n"
            "\n"),
          f);
    fputs(_("Forms (missing required fields are asked for on a terminal):\n"), f);
    cmd_form_usage(f);
    fputs("\n", f);
    fputs(_("On a terminal: a form given no option asks for each field (visit add), and\n"
            "an edit given no field asks for the record, then shows each value to keep\n"
            "or change (visit edit): nothing about a customer is left in the shell's\n"
            "history.\n\n"),
          f);
    fputs(_("Environment:\n"
            "  FIELDSYNC_HOME            the replica directory when --home is not given\n"
            "  FIELDSYNC_PASSPHRASE      the passphrase when no unlock agent runs; otherwise\n"
            "                            it is asked for on the terminal\n"
            "  FIELDSYNC_NEW_PASSPHRASE  the new passphrase for passwd\n"
            "  FIELDSYNC_LANG            zh or en: the language when --lang is not given\n"
            "  FIELDSYNC_EXPORT          1: as --export\n"
            "\n"),
          f);
    fputs(_("Exports: a list of more than one record written to a file or pipe (not a\n"
            "terminal) needs --export; the team's policy on the server allows it sealed to\n"
            "the company's export key, as plaintext, or not at all. Every export is recorded.\n"
            "\n"),
          f);
    fputs(_("Exit status: 0 success, 1 runtime error, 2 usage or input error (also a change\n"
            "the record rules do not allow, refused before it is saved), 3 sync: the server\n"
            "refused a change (see 'fieldsync refused list').\n"),
          f);
}

static int exit_status(int rc)
{
    switch (rc) {
    case CLI_OK:
        return 0;
    case CLI_EUSAGE:
        return 2;
    case CLI_EREFUSED:
        return 3;
    default:
        return 1;
    }
}

/* Finds and runs the command at argv[0]. */
/* A word fieldsync knows, which may stay in ps's view of the command line
 * (fs_hide_args): a command word, or an option's name (--customer, not
 * --customer=VALUE). Anything else may be what a rep typed about a customer. */
static int known_word(const char *arg)
{
    static const char *const subs[] = {"add", "list", "show", "edit", "delete", "confirm", "plan",
                                       "help"};
    if (strncmp(arg, "--", 2) == 0) {
        for (const char *p = arg + 2; *p != '\0'; p++)
            if (!((*p >= 'a' && *p <= 'z') || *p == '-'))
                return 0;
        return 1;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(arg, commands[i].group) == 0 ||
            (commands[i].name != NULL && strcmp(arg, commands[i].name) == 0))
            return 1;
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (strcmp(arg, subs[i]) == 0)
            return 1;
    return cmd_form_group(arg);
}

static int dispatch(cli_ctx *ctx, int argc, char **argv)
{
    /* visit plan [add|list|show|edit|delete] ... and visit confirm ID: the
     * visit plans' form (group "visit plan", form_table.c). */
    if (argc >= 2 && strcmp(argv[0], "visit") == 0 && strcmp(argv[1], "confirm") == 0)
        return form_run(ctx, "visit plan", "confirm", argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[0], "visit") == 0 && strcmp(argv[1], "plan") == 0) {
        static const char *const subs[] = {"add", "list", "show", "edit", "delete", "confirm",
                                           "--help", "help"};
        for (size_t i = 0; argc >= 3 && i < sizeof subs / sizeof subs[0]; i++)
            if (strcmp(argv[2], subs[i]) == 0)
                return form_run(ctx, "visit plan", argv[2], argc - 3, argv + 3);
        return form_run(ctx, "visit plan", "add", argc - 2, argv + 2);
    }
    int known_group = 0;
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const command *c = &commands[i];
        if (strcmp(argv[0], c->group) != 0)
            continue;
        known_group = 1;
        if (c->name == NULL)
            return c->run(ctx, argc - 1, argv + 1);
        if (argc >= 2 && strcmp(argv[1], c->name) == 0)
            return c->run(ctx, argc - 2, argv + 2);
    }
    /* The forms (cmd_form.c), and customer/visit show. */
    if (cmd_form_group(argv[0]) &&
        !(known_group && argc >= 2 &&
          (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)) &&
        (!known_group ||
         (argc >= 2 && (strcmp(argv[1], "show") == 0 || strcmp(argv[1], "edit") == 0 ||
                        strcmp(argv[1], "delete") == 0))))
        return cmd_form(ctx, argc, argv);
    if (!known_group) {
        cli_error(_("unknown command '%s' (see 'fieldsync help')"), argv[0]);
        return CLI_EUSAGE;
    }
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)) {
        usage(stdout);
        return CLI_OK;
    }
    char names[128] = "";
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[0], commands[i].group) == 0 && commands[i].name != NULL)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                     names[0] ? ", " : "", commands[i].name);
    /* customer and visit are forms too: show, edit and delete are the form
     * engine's (above) */
    static const char *const form_subs[] = {"show", "edit", "delete"};
    for (size_t k = 0; cmd_form_group(argv[0]) && k < 3; k++)
        if (strstr(names, form_subs[k]) == NULL)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                     names[0] ? ", " : "", form_subs[k]);
    if (argc < 2)
        cli_error(_("%s: missing subcommand: %s (see 'fieldsync help')"), argv[0], names);
    else
        cli_error(_("%s: unknown subcommand '%s': %s (see 'fieldsync help')"), argv[0], argv[1],
                  names);
    return CLI_EUSAGE;
}

int main(int argc, char **argv)
{
    cli_ctx ctx = {0};
    const char *env_home = getenv("FIELDSYNC_HOME");
    int i, rc, version = 0;

    if (fs_harden_process() != 0) {
        cli_error("cannot disable core dumps; refusing to handle customer data");
        return 1;
    }
    /* What was typed about a customer leaves ps's view at once (harden.h). */
    char **args = fs_hide_args(argc, argv, known_word);
    if (args == NULL) {
        cli_error("out of memory");
        return 1;
    }
    argv = args;
    text_init_locale();
    if (i18n_init(NULL) != 0)
        cli_error(_("FIELDSYNC_LANG: expected zh or en; using the environment's language"));
    if (sodium_init() < 0) {
        cli_error("libsodium failed to initialise");
        return 1;
    }
    if (env_home != NULL && env_home[0] != '\0')
        ctx.home = env_home;

    /* Global options come before the command. */
    rc = cli_parse_global(&ctx, &version, argc - 1, argv + 1, &i);
    i++; /* an index into argv */
    if (rc != CLI_OK && rc != CLI_HELP)
        return exit_status(rc);
    if (ctx.lang != NULL && i18n_init(ctx.lang) != 0) {
        cli_error(_("--lang: expected zh or en"));
        return 2;
    }
    if (version) { /* before a later --help, as it came first */
        /* a test build says so: its key files may be cheap (fieldsync/keyfile.h) */
        printf("fieldsync %s%s\n", FS_VERSION_STRING,
               fs_kdf_test_build() ? " (test build: honours " FS_TEST_KDF_ENV ")" : "");
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (rc == CLI_HELP || (i < argc && strcmp(argv[i], "help") == 0)) {
        usage(stdout);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (i >= argc) {
        cli_error(_("no command given"));
        usage(stderr);
        return 2;
    }

    /* --export (issue 20.4) anywhere after the command word: a read
     * command's consent to write records to a file or pipe (export.c). */
    const char *env_export = getenv("FIELDSYNC_EXPORT");
    cli_export_wanted = env_export != NULL && strcmp(env_export, "1") == 0;
    int kept = i;
    for (int k = i; k < argc; k++) {
        if (strcmp(argv[k], "--export") == 0)
            cli_export_wanted = 1;
        else
            argv[kept++] = argv[k];
    }
    argc = kept;
    argv[argc] = NULL;
    rc = dispatch(&ctx, argc - i, argv + i);
    if (cli_export_finish(rc == CLI_OK) != 0) {
        cli_error(_("writing the sealed export failed"));
        return 1;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("writing the output failed");
        return 1;
    }
    return exit_status(rc);
}
