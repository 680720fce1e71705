/*
 * No plaintext export (issue 20 point 4; export.h). The policy comes from
 * the server: the team settings export_rep / export_manager (default: a
 * rep's forbidden, a manager's sealed) and the company's export key
 * export_pk. A replica never enrolled has no team and no key: its own
 * records go out as plaintext with --export, audited here too.
 */
#define _GNU_SOURCE /* fopencookie */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "export.h"
#include "fieldsync/exportseal.h"
#include "fieldsync/rules.h"
#include "fieldsync/schema.h"
#include "cmd.h"
#include "i18n.h"
#include "table.h"

int cli_export_wanted;

static FILE *saved_stdout;
static FILE *sealed_out;
static fs_export_writer *writer;
static int writer_failed;

static ssize_t cookie_write(void *c, const char *buf, size_t n)
{
    (void)c;
    if (writer == NULL || fs_export_writer_write(writer, buf, n) != 0) {
        writer_failed = 1;
        return -1;
    }
    return (ssize_t)n;
}

/* The policy for this device: "forbidden", "sealed" or "plaintext" into
 * mode, and the export key when sealed (*has_pk). */
static int export_policy(fs_replica *r, char mode[16], uint8_t pk[FS_EXPORT_PK_BYTES],
                         int *has_pk)
{
    char url[FS_SERVER_URL_MAX + 1], team[FS_USER_MAX + 1], role[FS_USER_MAX + 1];
    char value[FS_TEAM_VALUE_MAX + 1];
    uint8_t spk[32];
    *has_pk = 0;
    if (fs_replica_server(r, url, spk) != 0) {
        snprintf(mode, 16, "plaintext"); /* never enrolled: only what was typed here */
        return 0;
    }
    int manager = fs_replica_setting(r, "role", role, sizeof role) == 0 &&
                  strcmp(role, "manager") == 0;
    snprintf(mode, 16, "%s", manager ? "sealed" : "forbidden");
    if (fs_replica_setting(r, "team", team, sizeof team) != 0)
        return 0;
    const char *key = manager ? FS_TEAM_EXPORT_MANAGER : FS_TEAM_EXPORT_REP;
    if (fs_team_setting_get(r, team, key, value, sizeof value) == 0 &&
        fs_team_setting_check(key, value, NULL) == 0 && strlen(value) < 16)
        memcpy(mode, value, strlen(value) + 1);
    if (fs_team_setting_get(r, team, FS_TEAM_EXPORT_PK, value, sizeof value) == 0 &&
        fs_team_setting_check(FS_TEAM_EXPORT_PK, value, NULL) == 0 &&
        sodium_hex2bin(pk, FS_EXPORT_PK_BYTES, value, 64, NULL, NULL, NULL) == 0)
        *has_pk = 1;
    return 0;
}

int cli_export_gate(fs_replica *r, const char *kind, size_t n)
{
    if (n <= 1 || isatty(STDOUT_FILENO) || sealed_out != NULL)
        return CLI_OK;
    if (!cli_export_wanted) {
        cli_error(_("refusing to write %zu records' customer data to a file or pipe: the "
                    "handbook forbids private copies of customer data. Read them on the "
                    "terminal, or add --export if your team's policy allows exports (it "
                    "is recorded)"),
                  n);
        return CLI_EUSAGE;
    }
    char mode[16];
    uint8_t pk[FS_EXPORT_PK_BYTES];
    int has_pk = 0;
    (void)export_policy(r, mode, pk, &has_pk);
    if (strcmp(mode, "forbidden") == 0) {
        cli_error(_("--export: your team's policy forbids exports from this device; ask "
                    "your manager or the administrator (fieldsync-server team set --export)"));
        return CLI_EUSAGE;
    }
    if (strcmp(mode, "sealed") == 0 && !has_pk) {
        cli_error(_("--export: exports must be sealed to the company's export key, and "
                    "this device has none yet; ask the administrator to run "
                    "'fieldsync-server export-key', then sync"));
        return CLI_EUSAGE;
    }
    char user[FS_USER_MAX + 1] = "";
    (void)fs_replica_setting(r, "user", user, sizeof user);
    int frc = fs_replica_export_record(r, user, kind, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n,
                                       mode);
    if (frc != 0)
        return cli_fail(r, "--export", frc);
    if (strcmp(mode, "sealed") == 0) {
        if (fflush(stdout) != 0)
            return cli_fail(NULL, "--export", FS_EIO);
        frc = fs_export_writer_open(&writer, STDOUT_FILENO, pk);
        if (frc != 0)
            return cli_fail(NULL, "--export", frc);
        cookie_io_functions_t io = {.write = cookie_write};
        sealed_out = fopencookie(NULL, "w", io);
        if (sealed_out == NULL) {
            (void)fs_export_writer_close(writer, 1);
            writer = NULL;
            return cli_fail(NULL, "--export", FS_ENOMEM);
        }
        saved_stdout = stdout;
        stdout = sealed_out;
        fprintf(stderr, _("fieldsync: exporting %zu %s records, sealed to the company's export "
                          "key (recorded); only 'fieldsync-server export open' opens it\n"),
                n, cli_kind_word(kind));
    } else {
        fprintf(stderr, _("fieldsync: exporting %zu %s records as plaintext, as your team "
                          "allows (recorded)\n"),
                n, cli_kind_word(kind));
    }
    return CLI_OK;
}

int cli_recset_add(cli_recset *s, unsigned table, const uint8_t id[FS_ID_BYTES])
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        if (cap > SIZE_MAX / sizeof *s->v)
            return FS_ENOMEM;
        struct cli_rec *more = realloc(s->v, cap * sizeof *more);
        if (more == NULL)
            return FS_ENOMEM;
        s->v = more;
        s->cap = cap;
    }
    s->v[s->n].table = table;
    memcpy(s->v[s->n].id, id, FS_ID_BYTES);
    s->n++;
    return 0;
}

int cli_recset_add_named(cli_recset *s, const char *table, const uint8_t id[FS_ID_BYTES])
{
    unsigned nt = 0;
    (void)fs_schema_tables(&nt);
    int ix = fs_schema_table_index(table);
    return cli_recset_add(s, ix >= 0 ? (unsigned)ix : nt, id);
}

static int rec_cmp(const void *a, const void *b)
{
    const struct cli_rec *x = a, *y = b;
    if (x->table != y->table)
        return x->table < y->table ? -1 : 1;
    return memcmp(x->id, y->id, FS_ID_BYTES);
}

size_t cli_recset_count(cli_recset *s)
{
    if (s->n == 0)
        return 0;
    qsort(s->v, s->n, sizeof s->v[0], rec_cmp);
    size_t distinct = 1;
    for (size_t i = 1; i < s->n; i++)
        distinct += rec_cmp(&s->v[i - 1], &s->v[i]) != 0;
    return distinct;
}

void cli_recset_free(cli_recset *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

int cli_export_finish(int ok)
{
    if (sealed_out == NULL)
        return 0;
    int rc = fflush(sealed_out) == 0 && !writer_failed ? 0 : -1;
    stdout = saved_stdout;
    fclose(sealed_out);
    sealed_out = NULL;
    if (fs_export_writer_close(writer, !ok || rc != 0) != 0)
        rc = -1;
    writer = NULL;
    return rc;
}

int cmd_exports(cli_ctx *ctx, int argc, char **argv)
{
    const cli_opt *opts = NULL;
    int rc = cli_parse(ctx,
                       N_("usage: fieldsync [--home DIR] exports\n"
                          "  this device's exports (a list of records written to a file or pipe\n"
                          "  with --export): when, who, record kind, how many, sealed or\n"
                          "  plaintext, and whether the server has been told (next sync)\n"),
                       opts, 0, argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    fs_replica *r = NULL;
    rc = cli_open(ctx, &r);
    if (rc != CLI_OK)
        return rc;
    static fs_export_entry e[1000];
    size_t n = 0;
    int frc = fs_replica_exports(r, 0, e, sizeof e / sizeof e[0], &n);
    if (frc != 0) {
        rc = cli_fail(r, "exports", frc);
        fs_replica_close(r);
        return rc;
    }
    fs_replica_close(r);
    if (n == 0) {
        printf(_("no exports from this device\n"));
        return CLI_OK;
    }
    /* in the reader's words: the kind of record, sealed or plaintext */
    static const cli_column cols[] = {{N_("WHEN"), 0},    {N_("EXPORTED BY"), 32},
                                      {N_("KIND"), 0},    {N_("RECORDS"), 0},
                                      {N_("AS"), 0},      {N_("THE SERVER"), 0}};
    cli_table *tab = NULL;
    if (cli_table_new(&tab, cols, sizeof cols / sizeof cols[0]) != 0)
        return cli_fail(NULL, "exports", FS_ENOMEM);
    int frc2 = 0;
    for (size_t i = 0; frc2 == 0 && i < n; i++) {
        char when[32] = "?", count[24];
        time_t t = (time_t)(e[i].at_ms / 1000);
        struct tm tm;
        if (localtime_r(&t, &tm) != NULL)
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        snprintf(count, sizeof count, "%u", (unsigned)e[i].n);
        const char *mode = strcmp(e[i].mode, "sealed") == 0      ? _("sealed")
                           : strcmp(e[i].mode, "plaintext") == 0 ? _("plaintext")
                                                                 : e[i].mode;
        const char *cells[] = {when,
                               e[i].user[0] ? e[i].user : "-",
                               cli_kind_word(e[i].kind),
                               count,
                               mode,
                               e[i].sent ? _("told the server") : _("not yet told the server")};
        frc2 = cli_table_add(tab, cells);
    }
    if (frc2 == 0)
        cli_table_print(tab, stdout);
    cli_table_free(tab);
    return frc2 == 0 ? CLI_OK : cli_fail(NULL, "exports", FS_ENOMEM);
}
