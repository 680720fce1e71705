/*
 * The client's commands. Each takes the arguments that follow its name
 * (argv[0] is the first option) and returns CLI_OK, CLI_EUSAGE or
 * CLI_ERUNTIME (cli.h) after printing its own message.
 */
#ifndef FIELDSYNC_CLIENT_CMD_H
#define FIELDSYNC_CLIENT_CMD_H

#include <stdio.h>

#include "cli.h"
#include "i18n.h" /* N_: the usages with words of their own */

/* fieldsync init: creates the replica in the home directory. */
int cmd_init(cli_ctx *ctx, int argc, char **argv);
/* fieldsync passwd: changes the replica's passphrase. */
int cmd_passwd(cli_ctx *ctx, int argc, char **argv);
/* fieldsync check: the replica's rows against its change log
 * (fs_replica_check); a restored or copied replica after it took a new
 * identity, for one (issue 25.3). */
int cmd_check(cli_ctx *ctx, int argc, char **argv);
/* fieldsync customer add: records a customer, prints its id. */
int cmd_customer_add(cli_ctx *ctx, int argc, char **argv);
/* fieldsync customer edit: changes fields of a customer. */
int cmd_customer_edit(cli_ctx *ctx, int argc, char **argv);
/* fieldsync customer list [--json]. */
int cmd_customer_list(cli_ctx *ctx, int argc, char **argv);
/* fieldsync visit add: records a visit and its commitments, prints its id. */
int cmd_visit_add(cli_ctx *ctx, int argc, char **argv);
/* fieldsync visit list [--json]. */
int cmd_visit_list(cli_ctx *ctx, int argc, char **argv);
/* fieldsync conflict list [--json]: values that lost a merge (cmd_conflict.c). */
int cmd_conflict_list(cli_ctx *ctx, int argc, char **argv);
/* fieldsync conflict resolve ID --keep mine|theirs | --value V (cmd_conflict.c). */
int cmd_conflict_resolve(cli_ctx *ctx, int argc, char **argv);
/* fieldsync enroll: joins a server with a one-time code (cmd_sync.c). */
int cmd_enroll(cli_ctx *ctx, int argc, char **argv);
/* fieldsync sync: exchanges changes with the server until in sync. */
int cmd_sync(cli_ctx *ctx, int argc, char **argv);
/* fieldsync status [--json]: pending changes, cursor, server, refusals. */
int cmd_status(cli_ctx *ctx, int argc, char **argv);
/* fieldsync server list [--json] | add URL | remove URL: the server's
 * addresses (cmd_server.c, issue 21.3). */
int cmd_server_list(cli_ctx *ctx, int argc, char **argv);
int cmd_server_add(cli_ctx *ctx, int argc, char **argv);
int cmd_server_remove(cli_ctx *ctx, int argc, char **argv);
#define USAGE_SERVER_LIST   "usage: fieldsync [--home DIR] server list [--json]\n"
#define USAGE_SERVER_ADD    "usage: fieldsync [--home DIR] server add ws[s]://HOST:PORT\n"
#define USAGE_SERVER_REMOVE "usage: fieldsync [--home DIR] server remove ws[s]://HOST:PORT\n"
/* fieldsync daemon: syncs by itself until SIGTERM (cmd_daemon.c). */
int cmd_daemon(cli_ctx *ctx, int argc, char **argv);

/* fieldsync unlock [--idle D]: starts the unlock agent (cmd_agent.c). */
int cmd_unlock(cli_ctx *ctx, int argc, char **argv);
/* fieldsync lock: the agent wipes the key and exits. */
int cmd_lock(cli_ctx *ctx, int argc, char **argv);

/* fieldsync history ID [--json]: who changed which field of a record,
 * and when (cmd_history.c). */
int cmd_history(cli_ctx *ctx, int argc, char **argv);
#define USAGE_UNDELETE "usage: fieldsync [--home DIR] undelete ID\n"
/* undelete ID: a record deleted by mistake brought back (cmd_history.c). */
int cmd_undelete(cli_ctx *ctx, int argc, char **argv);
#define USAGE_HISTORY "usage: fieldsync [--home DIR] history ID [--json]\n"

/* fieldsync attach RECORD FILE [--kind K]; attachment list RECORD [--json];
 * attachment get ID --out FILE (cmd_attach.c, issue 19.3). */
int cmd_attach(cli_ctx *ctx, int argc, char **argv);
int cmd_attachment_list(cli_ctx *ctx, int argc, char **argv);
int cmd_attachment_get(cli_ctx *ctx, int argc, char **argv);
#define USAGE_ATTACH                                                                               \
    "usage: fieldsync [--home DIR] attach RECORD FILE "                                            \
    "[--kind signed-requirement|signed-acceptance|card|contract|other]\n"
#define USAGE_ATTACHMENT_LIST "usage: fieldsync [--home DIR] attachment list RECORD [--json]\n"
#define USAGE_ATTACHMENT_GET "usage: fieldsync [--home DIR] attachment get ID --out FILE\n"

/* fieldsync today: what is due, overdue and promised (cmd_report.c). */
int cmd_today(cli_ctx *ctx, int argc, char **argv);
/* fieldsync report compliance: per rep, the week's figures for every rule. */
int cmd_report_compliance(cli_ctx *ctx, int argc, char **argv);
/* fieldsync report sales: deals, conversion, payments against the plans'
 * goals, per rep and team (cmd_sales.c). */
int cmd_report_sales(cli_ctx *ctx, int argc, char **argv);
/* fieldsync report meeting: the weekly meeting pack (cmd_sales.c). */
int cmd_report_meeting(cli_ctx *ctx, int argc, char **argv);
/* fieldsync report rep NAME: one rep's findings for the week. */
int cmd_report_rep(cli_ctx *ctx, int argc, char **argv);

/* The handbook's forms (cmd_form.c): argv[0] is the group ("plan"),
 * argv[1] the subcommand (add, list, show, or an action). */
int cmd_form(cli_ctx *ctx, int argc, char **argv);
/* 1 if group has forms (also customer and visit: their show). */
int cmd_form_group(const char *group);
/* The forms' lines for `fieldsync help`. */
void cmd_form_usage(FILE *f);
/* fieldsync whoami [--set NAME] [--team TEAM]: this device's user (cmd_form.c). */
int cmd_whoami(cli_ctx *ctx, int argc, char **argv);
int cmd_exports(cli_ctx *ctx, int argc, char **argv); /* export.c */
/* fieldsync search TEXT: records by their text (cmd_search.c). */
int cmd_search(cli_ctx *ctx, int argc, char **argv);
/* fieldsync calendar: the working-day calendar the views use (cmd_report.c). */
int cmd_calendar(cli_ctx *ctx, int argc, char **argv);

/* fieldsync refused list|show|revert|retry: the changes the server refused
 * and putting them right (refused.c). */
int cmd_refused_list(cli_ctx *ctx, int argc, char **argv);
int cmd_refused_show(cli_ctx *ctx, int argc, char **argv);
int cmd_refused_revert(cli_ctx *ctx, int argc, char **argv);
int cmd_refused_retry(cli_ctx *ctx, int argc, char **argv);

/* One-line usages, shared by --help of each command and the main help. */
#define USAGE_REFUSED_LIST   "usage: fieldsync [--home DIR] refused list [--json]\n"
#define USAGE_REFUSED_SHOW   "usage: fieldsync [--home DIR] refused show ID [--json]\n"
#define USAGE_REFUSED_REVERT                                                                       \
    N_("usage: fieldsync [--home DIR] refused revert ID\n"                                            \
    "  takes the server's values back for the refused changes of ID's record; a record\n"          \
    "  the server never had is removed from this device (nothing is sent)\n")
#define USAGE_REFUSED_RETRY                                                                        \
    N_("usage: fieldsync [--home DIR] refused retry ID\n"                                             \
    "  sends the refused changes of ID's record again, with a new clock, at the next sync\n")
#define USAGE_INIT   "usage: fieldsync [--home DIR] init\n"
#define USAGE_PASSWD "usage: fieldsync [--home DIR] passwd\n"
#define USAGE_CHECK                                                                                \
    N_("usage: fieldsync [--home DIR] check\n"                                                        \
    "  checks that every value this device wrote matches its change log (exit 1 if not)\n")
#define USAGE_CUSTOMER_ADD                                                                         \
    "usage: fieldsync [--home DIR] customer add --name NAME [--key-account]\n"                     \
    "                 [--industry X] [--owner X] [--duplicate] [--size X]\n"                   \
    "                 [--business-area X] [--decision-chain X] [--history X]\n"               \
    "                 [--preferences X] [--open-questions X]\n"
#define USAGE_CUSTOMER_EDIT                                                                        \
    "usage: fieldsync [--home DIR] customer edit --customer ID [--name NAME]\n"                    \
    "                 [--industry X] [--key-account yes|no] [--owner REP]\n"                    \
    "                 [--size X] [--business-area X] [--decision-chain X] [--history X]\n"     \
    "                 [--preferences X] [--open-questions X]\n"
#define USAGE_CONFLICT_LIST "usage: fieldsync [--home DIR] conflict list [--json]\n"
#define USAGE_CONFLICT_RESOLVE                                                                     \
    N_("usage: fieldsync [--home DIR] conflict resolve ID --keep mine|theirs\n"                      \
    "       fieldsync [--home DIR] conflict resolve ID --value V\n"                                \
    "  ID: the conflict's id, or at least 6 hex digits of it (conflict list shows it).\n"        \
    "  --keep mine keeps the value this device wrote, --keep theirs the other one;\n"            \
    "  on a device that wrote neither, --keep kept (the value the field holds) or lost.\n"      \
    "  --value writes a value of its own. The decision syncs and leaves every inbox.\n")
#define USAGE_CUSTOMER_LIST "usage: fieldsync [--home DIR] customer list [--json]\n"
#define USAGE_VISIT_ADD                                                                            \
    "usage: fieldsync [--home DIR] visit add --customer ID --time \"YYYY-MM-DD HH:MM\"\n"          \
    "                 --place P --purpose P --notes N [--contact C] [--position P]\n"              \
    "                 [--objections O] [--commit \"TEXT|YYYY-MM-DD\"]... [--next N]\n"             \
    "                 [--visitor V] [--confirm]\n"
#define USAGE_VISIT_LIST "usage: fieldsync [--home DIR] visit list [--json]\n"
#define USAGE_ENROLL                                                                               \
    "usage: fieldsync [--home DIR] enroll --server ws[s]://HOST:PORT [--server URL]...\n"          \
    "                 [--code CODE] [--name DEVICE-NAME]\n"
#define USAGE_SYNC   "usage: fieldsync [--home DIR] sync\n"
#define USAGE_STATUS "usage: fieldsync [--home DIR] status [--json]\n"
#define USAGE_DAEMON "usage: fieldsync [--home DIR] daemon [--interval SECONDS]\n"
#define USAGE_UNLOCK "usage: fieldsync [--home DIR] unlock [--idle DURATION]\n"
#define USAGE_LOCK   "usage: fieldsync [--home DIR] lock\n"
#define USAGE_SEARCH                                                                               \
    "usage: fieldsync [--home DIR] search TEXT|- [--kind customer|contact|visit|commitment|question]\n" \
    "                 [--limit N] [--json]\n"
#define USAGE_WHOAMI "usage: fieldsync [--home DIR] whoami [--set NAME] [--team TEAM] [--json]\n"
#define USAGE_CALENDAR                                                                             \
    "usage: fieldsync [--home DIR] calendar [--tz ZONE] [--hours HH:MM-HH:MM]\n"                   \
    "                 [--holiday YYYY-MM-DD]... [--clear-holidays] [--json]\n"
#define VIEW_CAL_OPTS                                                                              \
    "                 [--tz ZONE] [--hours HH:MM-HH:MM] [--holiday YYYY-MM-DD]...\n"               \
    "                 [--at \"YYYY-MM-DD HH:MM\"]\n"
#define USAGE_TODAY "usage: fieldsync [--home DIR] today [--json]\n" VIEW_CAL_OPTS
#define USAGE_REPORT_COMPLIANCE                                                                    \
    "usage: fieldsync [--home DIR] report compliance [--team TEAM] [--week YYYY-Www | --days N]\n" \
    "                 [--json]\n" VIEW_CAL_OPTS
#define USAGE_REPORT_SALES                                                                         \
    "usage: fieldsync [--home DIR] report sales [--week YYYY-Www | --month YYYY-MM] [--rep NAME]\n" \
    "                 [--json]\n"
#define USAGE_REPORT_MEETING                                                                       \
    "usage: fieldsync [--home DIR] report meeting [--week YYYY-Www] [--rep NAME] [--json]\n"
#define USAGE_REPORT_REP                                                                           \
    "usage: fieldsync [--home DIR] report rep NAME [--week YYYY-Www | --days N] [--json]\n"        \
    VIEW_CAL_OPTS

#endif
