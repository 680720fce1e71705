/*
 * Plumbing shared by the client's commands (see cli.h): the one path for
 * messages, the wording of option errors (fieldsync/opts.h parses), strict
 * checks of dates and ids, passphrase input without echo, and opening the
 * replica with one clear message per failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "agent.h"
#include "cli.h"
#include "fieldsync/calendar.h"
#include "fieldsync/clock.h"
#include "fieldsync/passphrase.h"
#include "fieldsync/rules.h"
#include "fieldsync/schema.h"
#include "i18n.h"
#include "fieldsync/text.h"
#include "teamcal.h"
#include "fieldsync/passphrase_why.h" /* after i18n.h: its _() */

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs(CLI_PROG ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_fail(const fs_replica *r, const char *what, int rc)
{
    /* Out-of-memory may come from the client itself: the handle's message
     * would then describe an older error. */
    const char *msg = r != NULL && rc != FS_ENOMEM ? fs_replica_errmsg(r) : NULL;
    if (msg == NULL || *msg == '\0')
        msg = fs_strerror(rc);
    cli_error("%s: %s", what, msg);
    return CLI_ERUNTIME;
}

void cli_usage(FILE *f, const char *usage)
{
    /* "usage: " in the rep's words; the command line after it is typed as
     * is in every language */
    static const char en[] = "usage: ";
    /* a usage with words of its own (N_ in cmd.h) is translated whole */
    const char *whole = _(usage);
    if (whole != usage) {
        fputs(whole, f);
        return;
    }
    if (strncmp(usage, en, sizeof en - 1) == 0) {
        fputs(_("usage: "), f);
        usage += sizeof en - 1;
    }
    fputs(usage, f);
}

const char *cli_strerror(int rc)
{
    return _(fs_strerror(rc));
}

void cli_list_free(cli_list *l)
{
    fs_opt_list_free(l);
}

/* Prints the message for a bad command line in the client's words. */
static void say_opts_error(const fs_opts_error *e)
{
    switch (e->problem) {
    case FS_OPTS_STRAY:
        /* Not echoed: a stray argument is often a value without its flag. */
        cli_error(_("unexpected argument #%d: options take the form --flag VALUE"), e->index + 1);
        break;
    case FS_OPTS_UNKNOWN:
        cli_error(_("unknown option %.*s"), e->namelen, e->name);
        break;
    case FS_OPTS_HASVALUE:
        cli_error(_("%.*s takes no value"), e->namelen, e->name);
        break;
    case FS_OPTS_MISSING:
        cli_error(_("%.*s: missing value"), e->namelen, e->name);
        break;
    case FS_OPTS_TWICE:
        cli_error(_("%.*s: given more than once"), e->namelen, e->name);
        break;
    case FS_OPTS_NONE:
        break;
    }
}

int cli_parse(cli_ctx *ctx, const char *usage, const cli_opt *opts, size_t nopts, int argc,
              char **argv)
{
    fs_opt_list home = {NULL, 0};
    fs_opts_error e;
    int rc;

    /* The command's table and --home, which every command takes. */
    fs_opt *all = malloc((nopts + 1) * sizeof *all);
    if (all == NULL) {
        rc = FS_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < nopts; i++)
        all[i] = opts[i];
    all[nopts] = (fs_opt){"--home", FS_OPT_LIST, NULL, NULL, &home};
    rc = fs_opts_parse(all, nopts + 1, argc, argv, &e);
    if (rc == 0 && home.count > 0)
        ctx->home = home.items[home.count - 1];
done:
    free(all);
    fs_opt_list_free(&home);
    switch (rc) {
    case 0:
        return CLI_OK;
    case FS_OPTS_HELP:
        cli_usage(stdout, usage);
        return CLI_HELP;
    case FS_EINVAL:
        say_opts_error(&e);
        cli_usage(stderr, usage);
        return CLI_EUSAGE;
    default:
        cli_error(_("out of memory"));
        return CLI_ERUNTIME;
    }
}

int cli_parse_global(cli_ctx *ctx, int *version, int argc, char **argv, int *next)
{
    fs_opt_list home = {NULL, 0};
    fs_opts_error e;
    const fs_opt opts[] = {
        {"--version", FS_OPT_FLAG, version, NULL, NULL},
        {"--home", FS_OPT_LIST, NULL, NULL, &home},
        {"--lang", FS_OPT_VALUE, NULL, &ctx->lang, NULL},
    };
    int rc = fs_opts_parse_head(opts, sizeof opts / sizeof opts[0], argc, argv, next, &e);
    if (rc == 0 && home.count > 0)
        ctx->home = home.items[home.count - 1];
    fs_opt_list_free(&home);
    switch (rc) {
    case 0:
        return CLI_OK;
    case FS_OPTS_HELP:
        return CLI_HELP;
    case FS_EINVAL:
        if (e.problem == FS_OPTS_UNKNOWN)
            cli_error(_("unknown option %.*s (see 'fieldsync help')"), e.namelen, e.name);
        else
            say_opts_error(&e);
        return CLI_EUSAGE;
    default:
        cli_error(_("out of memory"));
        return CLI_ERUNTIME;
    }
}

int cli_blank(const char *s)
{
    if (s == NULL)
        return 1;
    for (; *s != '\0'; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return 0;
    return 1;
}

int cli_require(const char *command, const char *flag, const char *value)
{
    if (value == NULL) {
        cli_error(_("%s: %s is required"), command, flag);
        return CLI_EUSAGE;
    }
    if (cli_blank(value)) {
        cli_error(_("%s: must not be empty"), flag);
        return CLI_EUSAGE;
    }
    return CLI_OK;
}

int cli_ask(const char *label, char **out)
{
    return cli_ask_as(label, CLI_ASK_NEEDED, out);
}

int cli_ask_as(const char *label, cli_ask_kind kind, char **out)
{
    *out = NULL;
    if (!isatty(STDIN_FILENO))
        return 0;
    /* labels are marked N_() where defined (form_table.c) */
    switch (kind) {
    case CLI_ASK_SKIP:
        /* TRANSLATORS: a prompt on the terminal for a field that may stay
         * empty: the field's label, then what the rep types. */
        fprintf(stderr, _("%s (Enter to skip): "), _(label));
        break;
    case CLI_ASK_TODAY:
        /* TRANSLATORS: a date asked for on the terminal; empty is today. */
        fprintf(stderr, _("%s (Enter for today): "), _(label));
        break;
    case CLI_ASK_NOW:
        /* TRANSLATORS: a date and time asked for on the terminal; empty is now. */
        fprintf(stderr, _("%s (Enter for now): "), _(label));
        break;
    case CLI_ASK_MORE:
        /* TRANSLATORS: items asked for one by one on the terminal (a visit's
         * promises, a plan's tasks) until the rep answers with an empty line. */
        fprintf(stderr, _("%s, one at a time (Enter when done): "), _(label));
        break;
    case CLI_ASK_KEEP:
        /* TRANSLATORS: a field of a record being corrected on the terminal,
         * its value now in [brackets]: Enter leaves it as it is. */
        fprintf(stderr, _("%s (Enter keeps it): "), _(label));
        break;
    case CLI_ASK_CLEAR:
        /* TRANSLATORS: as "%s (Enter keeps it): ", for a field that may be
         * left empty: a lone - empties it. */
        fprintf(stderr, _("%s (Enter keeps it, - clears it): "), _(label));
        break;
    case CLI_ASK_YESNO:
        /* TRANSLATORS: a yes/no asked for on the terminal (a key account?);
         * empty is no. Either language's yes and no are taken. */
        fprintf(stderr, _("%s (yes/no, Enter for no): "), _(label));
        break;
    default:
        /* TRANSLATORS: a prompt on the terminal: the field's label (form_table.c),
         * then what the rep types. */
        fprintf(stderr, _("%s: "), _(label));
        break;
    }
    fflush(stderr);
    size_t cap = 0;
    ssize_t n = getline(out, &cap, stdin);
    if (n <= 0) {
        free(*out);
        *out = NULL;
        return 0;
    }
    while (n > 0 && ((*out)[n - 1] == '\n' || (*out)[n - 1] == '\r'))
        (*out)[--n] = '\0';
    return 1;
}

int cli_require_ask(const char *command, const char *flag, const char *label, const char **value,
                    char **typed)
{
    if (*value == NULL && cli_ask(label, typed))
        *value = *typed;
    return cli_require(command, flag, *value);
}

int cli_check_text(const char *flag, const char *value)
{
    if (value == NULL)
        return CLI_OK;
    size_t n = strlen(value);
    if (!text_utf8_valid(value, n)) {
        cli_error(_("%s: not valid UTF-8 text"), flag);
        return CLI_EUSAGE;
    }
    if (n > FS_MAX_TEXT) {
        cli_error(_("%s: too long (%zu bytes, at most %u)"), flag, n, FS_MAX_TEXT);
        return CLI_EUSAGE;
    }
    return CLI_OK;
}

static int check_date(const char *flag, const char *value, int with_time)
{
    const char *why = NULL;
    char quoted[160];
    if (fs_civil_check(value, strlen(value), with_time, &why) == 0)
        return CLI_OK;
    cli_error(_("%s: expected \"%s\", got %s: %s"), flag,
              with_time ? "YYYY-MM-DD HH:MM" : "YYYY-MM-DD",
              cli_typed(value, quoted, sizeof quoted), _(why)); /* core/calendar.c's words */
    return CLI_EUSAGE;
}

int cli_week(const char *text, int64_t now, int64_t *monday)
{
    static const struct {
        const char *word;
        int weeks;
    } words[] = {
        {"this", 0}, {"last", -1}, {"next", 1},
        {"\xe6\x9c\xac\xe5\x91\xa8", 0},  /* 本周 */
        {"\xe4\xb8\x8a\xe5\x91\xa8", -1}, /* 上周 */
        {"\xe4\xb8\x8b\xe5\x91\xa8", 1},  /* 下周 */
        {"\xe6\x9c\xac\xe9\x80\xb1", 0},  /* 本週 */
        {"\xe4\xb8\x8a\xe9\x80\xb1", -1}, /* 上週 */
        {"\xe4\xb8\x8b\xe9\x80\xb1", 1},  /* 下週 */
    };
    if (fs_iso_week_parse(text, monday) == 0)
        return CLI_OK;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasecmp(text, words[i].word) == 0) {
            *monday = fs_iso_week_start(now) + (int64_t)words[i].weeks * 7 * FS_MIN_PER_DAY;
            return CLI_OK;
        }
    /* a day of the week, written any way a form takes a date */
    char date[17];
    const char *d = fs_civil_normalize(text, 0, date) ? date : text;
    int64_t at;
    if (strlen(d) == 10 && fs_civil_parse(d, 10, &at) == 0) {
        *monday = fs_iso_week_start(at);
        return CLI_OK;
    }
    cli_error(_("--week: expected an ISO week YYYY-Www, as 2023-W41, a date in it, or this, last "
                "or next"));
    return CLI_EUSAGE;
}

void cli_net_words(char *err, size_t size, const char *host, int port)
{
    char en[512], out[512];
    size_t n;
    out[0] = '\0';
    /* each English form as the net and link layers word it for host:port;
     * the one err starts with is said in the reader's words, anything
     * after it (a library's own detail) kept */
#define NET_FORM(fmt)                                                                            \
    if (out[0] == '\0') {                                                                        \
        snprintf(en, sizeof en, fmt, host, port);                                                \
        n = strlen(en);                                                                          \
        if (strncmp(err, en, n) == 0)                                                            \
            snprintf(out, sizeof out, _(fmt), host, port);                                       \
    }
    NET_FORM(N_("cannot reach the server at %s:%d"))
    NET_FORM(N_("cannot write to the server at %s:%d"))
    NET_FORM(N_("the server at %s:%d closed the connection before the sync was done"))
    NET_FORM(N_("the connection to %s:%d failed"))
    NET_FORM(N_("no sync with the server at %s:%d within the time allowed"))
#undef NET_FORM
    if (out[0] == '\0') {
        /* with a number of seconds after host:port */
        snprintf(en, sizeof en, "the server at %s:%d did not answer within ", host, port);
        n = strlen(en);
        char *end = NULL;
        long secs = strncmp(err, en, n) == 0 ? strtol(err + n, &end, 10) : -1;
        if (secs >= 0 && end != NULL && strncmp(end, " s", 2) == 0) {
            snprintf(out, sizeof out, _("the server at %s:%d did not answer within %ld s"), host,
                     port, secs);
            n = (size_t)(end + 2 - err);
        }
    }
    if (out[0] == '\0')
        return;
    const char *rest = err + n;
    if (strncmp(rest, ": ", 2) == 0 && rest[2] != '\0') /* the library's detail, as it says it */
        snprintf(en, sizeof en, _("%s (%s)"), out, rest + 2);
    else
        snprintf(en, sizeof en, "%s%s", out, rest);
    snprintf(err, size, "%s", en);
}

int cli_check_datetime(const char *flag, const char *value)
{
    return check_date(flag, value, 1);
}

int cli_check_date(const char *flag, const char *value)
{
    return check_date(flag, value, 0);
}

int cli_check_idprefix(const char *flag, const char *value)
{
    size_t n = strlen(value);
    char quoted[160];
    int ok = n >= 6 && n <= 2 * FS_ID_BYTES;
    for (size_t i = 0; ok && i < n; i++)
        ok = (value[i] >= '0' && value[i] <= '9') || (value[i] >= 'a' && value[i] <= 'f') ||
             (value[i] >= 'A' && value[i] <= 'F');
    if (ok)
        return CLI_OK;
    cli_error(_("%s: expected an id (6 to 32 hex digits, as 'list' shows), got %s"), flag,
              cli_typed(value, quoted, sizeof quoted));
    return CLI_EUSAGE;
}

int cli_check_ref(const char *flag, const char *table, const char *value)
{
    if (table != NULL && fs_name_column(table) == NULL)
        return cli_check_idprefix(flag, value);
    if (cli_blank(value)) {
        cli_error(_("%s: expected an id or a name, got nothing"), flag);
        return CLI_EUSAGE;
    }
    return cli_check_text(flag, value);
}

const char *cli_typed(const char *value, char *buf, size_t size)
{
    /* up to 60 characters of valid UTF-8, each one a terminal prints (no
     * controls, so no escapes): "明天 10:00" typed for a date, a name */
    size_t n = strlen(value), chars = 0;
    int printable = n + 3 <= size;
    for (size_t i = 0; printable && i < n; chars++) {
        uint32_t cp = 0;
        size_t k = text_utf8_next(value + i, n - i, &cp);
        printable = k > 0 && chars < 60 && cp >= 0x20 && text_cp_width(cp) > 0;
        i += k;
    }
    if (printable)
        snprintf(buf, size, "\"%s\"", value);
    else
        snprintf(buf, size, _("a value of %zu bytes"), n);
    return buf;
}

const char *cli_kind_word(const char *table)
{
    static const struct {
        const char *table, *word;
    } words[] = {
        {"customer", N_("customer")},
        {"contact", N_("contact")},
        {"visit", N_("visit")},
        {"commitment", N_("commitment")},
        {"weekly_plan", N_("weekly plan")},
        {"plan_task", N_("plan task")},
        {"daily_report", N_("daily report")},
        {"self_check", N_("self-check")},
        {"complaint", N_("complaint")},
        {"requirement_request", N_("requirement request")},
        {"acceptance", N_("acceptance")},
        {"marketing_request", N_("marketing request")},
        {"customer_question", N_("customer question")},
        {"spot_check", N_("spot-check")},
        {"deal", N_("deal")},
        {"payment", N_("payment")},
        {"contract", N_("contract")},
        {"survey", N_("survey")},
        {"visit_plan", N_("visit plan")},
        {"attachment", N_("attachment")},
        /* the export kinds of the views (issue 20.4) */
        {"today", N_("due and overdue")},
        {"report_sales", N_("sales report")},
        {"report_meeting", N_("meeting pack")},
        {"conflict", N_("conflicted")},
        {"refused", N_("refused")},
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(words[i].table, table) == 0)
            return _(words[i].word);
    return table;
}

void cli_said(const char *command, const char *table, const char *hex, int deleted,
              size_t others)
{
    if (isatty(STDOUT_FILENO)) {
        const char *kind = cli_kind_word(table);
        if (!deleted)
            printf(_("%s changed: %s\n"), kind, hex);
        else if (others == 0)
            printf(_("%s deleted: %s\n"), kind, hex);
        else
            printf(ngettext("%s deleted: %s, and %zu record that named it\n",
                            "%s deleted: %s, and %zu records that named it\n", others),
                   kind, hex, others);
    } else if (command != NULL && others > 0) {
        printf(ngettext("%s: %s, and %zu record that named it\n",
                        "%s: %s, and %zu records that named it\n", others),
               command, hex, others);
    } else if (command != NULL) {
        printf(_("%s: %s\n"), command, hex);
    }
}

/* Finds table's row by its name; CLI_OK with *found 0 when none. */
static int resolve_name(fs_replica *r, const char *table, const char *flag, const char *text,
                        uint8_t out[FS_ID_BYTES], int *found)
{
    fs_name_match m[8];
    size_t n = 0;
    char shown[160];
    *found = 0;
    int rc = fs_match_name(r, table, text, m, sizeof m / sizeof m[0], &n);
    if (rc != 0)
        return cli_fail(r, _("looking up a name"), rc);
    if (n == 1) {
        memcpy(out, m[0].id, FS_ID_BYTES);
        *found = 1;
        return CLI_OK;
    }
    if (n == 0)
        return CLI_OK;
    cli_error(_("%s: %zu %s records match %s; give more of the name, or the id:"), flag, n,
              cli_kind_word(table), cli_typed(text, shown, sizeof shown));
    for (size_t i = 0; i < n && i < sizeof m / sizeof m[0]; i++) {
        char hex[2 * FS_ID_BYTES + 1];
        fs_id_to_hex(m[i].id, hex);
        fprintf(stderr, "  %.8s  %s\n", hex, m[i].name);
    }
    if (n > sizeof m / sizeof m[0])
        fprintf(stderr, _("  ... and %zu more\n"), n - sizeof m / sizeof m[0]);
    return CLI_EUSAGE;
}

int cli_find(fs_replica *r, const char *table, const char *text, uint8_t out[FS_ID_BYTES])
{
    fs_name_match m[2];
    size_t n = 0;
    if (fs_resolve_id(r, table, text, out) == 0)
        return 1;
    if (fs_name_column(table) == NULL || fs_match_name(r, table, text, m, 2, &n) != 0 || n != 1)
        return 0;
    memcpy(out, m[0].id, FS_ID_BYTES);
    return 1;
}

int cli_resolve(fs_replica *r, const char *table, const char *flag, const char *hex,
                uint8_t out[FS_ID_BYTES])
{
    char what[96], shown[160];
    int rc = fs_resolve_id(r, table, hex, out);
    if ((rc == FS_EINVAL || rc == FS_ENOTFOUND) && fs_name_column(table) != NULL) {
        int found = 0;
        int crc = resolve_name(r, table, flag, hex, out, &found);
        if (crc != CLI_OK || found)
            return crc;
        size_t n = strlen(hex);
        if (rc == FS_EINVAL && n > 0 && n < 6 && strspn(hex, "0123456789abcdefABCDEF") == n) {
            /* "33e8": the first digits of an id, as 'list' shows 8 */
            cli_error(_("%s: no %s has the name %s, and an id needs at least 6 of its hex "
                        "digits (see '%s list')"),
                      flag, cli_kind_word(table), cli_typed(hex, shown, sizeof shown), table);
            return CLI_EUSAGE;
        }
        cli_error(_("%s: no %s with the id or name %s (see '%s list')"), flag, cli_kind_word(table),
                  cli_typed(hex, shown, sizeof shown), table);
        return CLI_EUSAGE;
    }
    switch (rc) {
    case 0:
        return CLI_OK;
    case FS_ENOTFOUND:
        cli_error(_("%s: no %s with id %s"), flag, cli_kind_word(table), hex);
        return CLI_EUSAGE;
    case FS_EEXIST:
        cli_error(_("%s: %s matches more than one %s; give more digits"), flag, hex,
                  cli_kind_word(table));
        return CLI_EUSAGE;
    case FS_EINVAL:
        if (cli_check_idprefix(flag, hex) == CLI_OK)
            cli_error(_("%s: %s is not a valid id prefix"), flag, hex);
        return CLI_EUSAGE;
    default:
        snprintf(what, sizeof what, _("looking up %s"), flag);
        return cli_fail(r, what, rc);
    }
}

/* The team's time zone once a replica holding the team's calendar is open
 * (issue 17.7): "now" is the team's, whatever the laptop's zone. */
static char team_tz[64];

int cli_team_zone(void)
{
    return team_tz[0] != '\0';
}

void cli_now(char out[17])
{
    if (team_tz[0] != '\0') {
        fs_calendar cal;
        int64_t civil = 0;
        fs_calendar_default(&cal);
        memcpy(cal.tz, team_tz, sizeof cal.tz);
        if (fs_calendar_now(&cal, (int64_t)fs_clock_wall_ms(), &civil) == 0) {
            fs_civil_format(civil, out);
            return;
        }
    }
    if (fs_instant_format(out, 17, (int64_t)fs_clock_wall_ms(), 0, "%Y-%m-%d %H:%M") != 0)
        snprintf(out, 17, "1970-01-01 00:00");
}

const char *cli_role_words(const char *role)
{
    return strcmp(role, "rep") == 0       ? _("rep")
           : strcmp(role, "manager") == 0 ? _("manager")
                                          : role;
}

int cli_home(const cli_ctx *ctx, const char **out)
{
    *out = NULL;
    if (ctx->home == NULL || ctx->home[0] == '\0') {
        cli_error(_("no replica directory: give --home DIR or set FIELDSYNC_HOME"));
        return CLI_EUSAGE;
    }
    *out = ctx->home;
    return CLI_OK;
}

/* ---- passphrase ---- */

void cli_pass_free(cli_pass *p)
{
    fs_passphrase fp = {p->buf, p->len};
    fs_passphrase_free(&fp); /* wipes */
    p->buf = NULL;
    p->len = 0;
}

/* Why no passphrase was read, in the rep's language
 * (fieldsync/passphrase_why.h); anything else as it is. */
static void say_pass_why(const char *why, const char *envname)
{
    char words[512];
    cli_error("%s", fs_passphrase_why_words(why, envname, words, sizeof words) ? words : why);
}

int cli_pass_get(cli_pass *out, const char *envname, const char *prompt, const char *confirm_prompt)
{
    fs_passphrase fp;
    char why[256];
    out->buf = NULL;
    out->len = 0;
    int rc = fs_passphrase_get(&fp, envname, prompt, confirm_prompt, why, sizeof why);
    if (rc != 0) {
        say_pass_why(why, envname);
        return rc == FS_EINVAL ? CLI_EUSAGE : CLI_ERUNTIME;
    }
    out->buf = fp.buf;
    out->len = fp.len;
    return CLI_OK;
}

int cli_pass_get_new(cli_pass *out, const char *envname, const char *prompt,
                     const char *confirm_prompt)
{
    return cli_pass_get_new_for(out, envname, prompt, confirm_prompt, NULL, NULL);
}

/* A team's name as shown: its control characters as '?' (a name from the
 * server is printable UTF-8 already; this keeps it so on a terminal). */
static void team_shown(const char *team, char *out, size_t size)
{
    size_t k = 0;
    for (size_t i = 0; team[i] != '\0' && k + 1 < size; i++) {
        unsigned char c = (unsigned char)team[i];
        out[k++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    out[k] = '\0';
}

/* 1 when pol asks more than the built-in rule. */
static int pass_policy_stricter(const fs_pass_policy *pol)
{
    return pol != NULL &&
           (pol->min_chars > FS_PASSPHRASE_MIN_CHARS || pol->min_words > FS_PASSPHRASE_MIN_WORDS);
}

int cli_pass_get_new_for(cli_pass *out, const char *envname, const char *prompt,
                         const char *confirm_prompt, const fs_pass_policy *pol, const char *team)
{
    fs_pass_policy rule;
    fs_pass_policy_default(&rule);
    if (pol != NULL) {
        rule = *pol;
        fs_pass_policy_bound(&rule); /* as the check will hold it */
    }
    int team_rule = pass_policy_stricter(&rule);
    char teamshown[FS_USER_MAX + 1];
    team_shown(team != NULL && team[0] != '\0' ? team : "?", teamshown, sizeof teamshown);
    const char *env = getenv(envname);
    if (team_rule && (env == NULL || env[0] == '\0') && isatty(STDIN_FILENO))
        fprintf(stderr, _("The rule of team %s: at least %u characters, or %u words.\n"),
                teamshown, rule.min_chars, rule.min_words);
    int rc = cli_pass_get(out, envname, prompt, confirm_prompt);
    if (rc != CLI_OK)
        return rc;
    char why[320];
    fs_pass_weakness w = fs_passphrase_weakness_for(out->buf, out->len, &rule);
    if (w == FS_PASS_OK)
        return CLI_OK;
    cli_pass_why(w, &rule, team, why, sizeof why);
    cli_pass_free(out);
    /* the laptop's data is only as safe as this passphrase when it is lost */
    cli_error(_("the new passphrase is %s"), why);
    return CLI_EUSAGE;
}

void cli_pass_why(fs_pass_weakness w, const fs_pass_policy *pol, const char *team, char *out,
                  size_t size)
{
    fs_pass_policy rule;
    fs_pass_policy_default(&rule);
    if (pol != NULL) {
        rule = *pol;
        fs_pass_policy_bound(&rule);
    }
    char teamshown[FS_USER_MAX + 1];
    team_shown(team != NULL && team[0] != '\0' ? team : "?", teamshown, sizeof teamshown);
    switch (w) {
    case FS_PASS_OK:
        out[0] = '\0';
        return;
    case FS_PASS_SHORT:
        if (pass_policy_stricter(&rule))
            snprintf(out, size,
                     _("too short for the rule of team %s: use at least %u characters, or %u "
                       "words"),
                     teamshown, rule.min_chars, rule.min_words);
        else
            snprintf(out, size, "%s", _("too short: use at least 12 characters, or 4 words"));
        return;
    case FS_PASS_REPETITIVE:
        snprintf(out, size, "%s", _("too few different characters: use at least 5"));
        return;
    case FS_PASS_COMMON:
        snprintf(out, size, "%s", _("one of the passwords guessed first: choose your own words"));
        return;
    }
}

/* Kept as "CHARS WORDS OTHER" (fs_pass_measure), never the passphrase. */
int cli_pass_remember(fs_replica *r, const char *pass, size_t len)
{
    fs_pass_measure m;
    char v[64];
    fs_passphrase_measure(pass, len, &m);
    snprintf(v, sizeof v, "%u %u %d", m.chars, m.words, (int)m.other);
    int frc = fs_replica_set_setting(r, "passfit", v);
    sodium_memzero(&m, sizeof m);
    sodium_memzero(v, sizeof v);
    return frc;
}

int cli_pass_short_of_team(fs_replica *r, fs_pass_policy *rule, char team[FS_USER_MAX + 1],
                           fs_pass_weakness *why)
{
    char v[64];
    unsigned c = 0, wds = 0;
    int o = 0;
    *why = FS_PASS_OK;
    if (fs_replica_setting(r, "passfit", v, sizeof v) != 0)
        return 0; /* not known: set before this release, or through the agent since */
    int n = sscanf(v, "%u %u %d", &c, &wds, &o);
    sodium_memzero(v, sizeof v);
    if (n != 3 || (o != FS_PASS_OK && o != FS_PASS_REPETITIVE && o != FS_PASS_COMMON))
        return 0;
    if (fs_replica_setting(r, "team", team, FS_USER_MAX + 1) != 0)
        team[0] = '\0';
    if (fs_team_pass_policy(r, team, rule) != 0)
        return 0;
    fs_pass_measure m = {c, wds, (fs_pass_weakness)o};
    *why = fs_pass_measure_check(&m, rule);
    return *why != FS_PASS_OK;
}

/* ---- opening the replica ---- */

/* A command waits while the daemon syncs (it holds the replica for the
 * length of a sync) rather than fail at once. */
const fs_replica_opts cli_replica_opts = {.busy_ms = CLI_BUSY_MS};

int cli_open_key(const char *home, const fs_secret *key, fs_replica **out)
{
    return fs_replica_open_secret(out, home, key, &cli_replica_opts);
}

int cli_keyfile_path(const char *home, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/replica.key", home);
    if (n < 0 || (size_t)n >= size) {
        cli_error(_("--home: path too long"));
        return CLI_EUSAGE;
    }
    return CLI_OK;
}

int cli_replica_exists(const char *home)
{
    char path[4096];
    struct stat st;
    int n = snprintf(path, sizeof path, "%s/replica.key", home);
    if (n < 0 || (size_t)n >= sizeof path)
        return 1; /* let the library report it */
    return stat(path, &st) == 0 || errno != ENOENT;
}

int cli_key(const char *home, int for_daemon, fs_secret **out, int *from_agent)
{
    cli_pass pass = {NULL, 0};
    char prompt[256], keypath[4096];
    *out = NULL;
    if (from_agent != NULL)
        *from_agent = 0;
    int rc = agent_key(home, for_daemon, out);
    if (rc == 0) {
        if (from_agent != NULL)
            *from_agent = 1;
        return CLI_OK;
    }
    if (rc == FS_EAUTH) {
        cli_error(_("%s/agent.sock is served by another user: not using it; remove it"), home);
        return CLI_ERUNTIME;
    }
    if (rc != FS_ENOTFOUND)
        cli_error(_("the unlock agent of %s did not answer; asking for the passphrase"), home);
    rc = cli_keyfile_path(home, keypath, sizeof keypath);
    if (rc != CLI_OK)
        return rc;
    snprintf(prompt, sizeof prompt, _("Passphrase for %s: "), home);
    rc = cli_pass_get(&pass, "FIELDSYNC_PASSPHRASE", prompt, NULL);
    if (rc != CLI_OK)
        return rc;
    int frc = fs_keyfile_unlock(keypath, pass.buf, pass.len, out);
    cli_pass_free(&pass);
    if (frc == 0)
        return CLI_OK;
    *out = NULL;
    if (frc == FS_ENOTFOUND)
        cli_error(_("the replica's key file is missing in %s"), home);
    else
        cli_error(_("opening the replica in %s: %s"), home, fs_strerror(frc));
    return CLI_ERUNTIME;
}

/* Prints why a device with an ended lease refuses to work. */
static void locked_message(fs_replica *r, const char *home)
{
    fs_replica_status st;
    char when[32] = "?";
    if (fs_replica_status_get(r, &st) == 0 &&
        fs_instant_format(when, sizeof when, st.lease_expires_ms, 0, "%Y-%m-%d %H:%M") != 0)
        snprintf(when, sizeof when, "?");
    cli_error(_("this device is locked: its lease from the server ended %s. Connect to the "
                "network and run 'fieldsync --home %s sync' (or keep 'fieldsync daemon' running) "
                "so the server renews it; nothing recorded here is lost"),
              when, home);
}

static int open_replica(const cli_ctx *ctx, fs_replica **out, int allow_locked)
{
    const char *home;
    fs_secret *key = NULL;
    int rc;

    *out = NULL;
    rc = cli_home(ctx, &home);
    if (rc != CLI_OK)
        return rc;
    /* Checked before the prompt: a typo in --home should not cost a
     * passphrase and an Argon2 derivation. */
    if (!cli_replica_exists(home)) {
        cli_error(_("no replica in %s (create one with 'fieldsync --home %s init')"), home, home);
        return CLI_ERUNTIME;
    }
    rc = cli_key(home, 0, &key, NULL);
    if (rc != CLI_OK)
        return rc;
    int frc = cli_open_key(home, key, out);
    fs_secret_free(key);
    if (frc != 0) {
        *out = NULL;
        if (frc == FS_ENOTFOUND)
            cli_error(_("no replica in %s (create one with 'fieldsync --home %s init')"), home,
                      home);
        else if (frc == FS_EBUSY)
            cli_error(_("opening the replica in %s: %s; try again when it is free"), home,
                      fs_strerror(frc));
        else
            cli_error(_("opening the replica in %s: %s"), home, fs_strerror(frc));
        return CLI_ERUNTIME;
    }
    fs_calendar cal;
    int found = 0;
    char team[FS_USER_MAX + 1];
    if (teamcal_load(*out, &cal, &found, team) == 0 && found > 0 && cal.tz[0] != '\0')
        memcpy(team_tz, cal.tz, sizeof team_tz);
    if (allow_locked)
        return CLI_OK;
    uint64_t seen = 0;
    frc = fs_replica_clock_check(*out, &seen);
    if (frc == 1) {
        char when[32] = "?";
        if (fs_instant_format(when, sizeof when, seen, 0, "%Y-%m-%d %H:%M") != 0)
            snprintf(when, sizeof when, "?");
        cli_error(_("this device is locked: its clock was set back (this replica was used at %s "
                    "already). Connect to the network and run 'fieldsync --home %s sync' so the "
                    "server tells the time; nothing recorded here is lost"),
                  when, home);
    } else if (frc == 0 && (frc = fs_replica_lease_expired(*out)) == 0) {
        return CLI_OK;
    } else if (frc == 1) {
        locked_message(*out, home);
    } else {
        cli_fail(*out, _("reading the lease"), frc);
    }
    fs_replica_close(*out);
    *out = NULL;
    return CLI_ERUNTIME;
}

int cli_open(const cli_ctx *ctx, fs_replica **out)
{
    return open_replica(ctx, out, 0);
}

int cli_open_locked(const cli_ctx *ctx, fs_replica **out)
{
    return open_replica(ctx, out, 1);
}

int cli_parse_id_json(cli_ctx *ctx, const char *usage, const char *missing, int argc, char **argv,
                      const char **hex, int *json)
{
    *hex = NULL;
    *json = 0;
    if (argc >= 1 && strncmp(argv[0], "--", 2) != 0) {
        *hex = argv[0];
        argc--;
        argv++;
    }
    cli_opt opts[] = {{"--json", CLI_FLAG, json, NULL, NULL}};
    int rc = cli_parse(ctx, usage, opts, 1, argc, argv);
    if (rc != CLI_OK)
        return rc;
    if (*hex == NULL) {
        cli_error("%s", missing);
        cli_usage(stderr, usage);
        return CLI_EUSAGE;
    }
    return CLI_OK;
}
