/*
 * The administrative commands of fieldsync-server: init, user add,
 * enroll-code, device list / revoke, audit verify / show. Each checks its
 * command line before asking for the passphrase, opens the store, does one
 * thing and closes it.
 */
#include <libintl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store/audit.h"
#include "fieldsync/calendar.h"
#include "fieldsync/enroll.h"
#include "fieldsync/schema.h"
#include "fieldsync/store.h"
#include "fieldsync/text.h"
#include "srv.h"

#define _(s) gettext(s) /* the operator's language: srv_lang */
#define N_(s) s /* marked for xgettext, translated where shown */

#define NOPTS(a)      (sizeof(a) / sizeof((a)[0]))
#define MIN_PREFIX    6
#define MAX_TTL_HOURS 720 /* 30 days */

/* ---- init ---- */

static const char init_usage[] =
    N_("usage: fieldsync-server init --data DIR [--store postgresql://...]\n"
    "Creates the server store in DIR (asks for a new passphrase twice, or reads\n"
    "FIELDSYNC_PASSPHRASE) and prints the server key fingerprint on the last line.\n"
    "With --store, the store is kept in that PostgreSQL database (its schema made\n"
    "there) and DIR is this node's cache of it; give the password in PGPASSFILE,\n"
    "not in the URL.\n");

int srv_cmd_init(int argc, char **argv)
{
    const char *data = NULL, *url = NULL;
    const fs_opt opts[] = {{"--data", FS_OPT_VALUE, NULL, &data, NULL},
                           {"--store", FS_OPT_VALUE, NULL, &url, NULL}};
    int rc = srv_parse(init_usage, opts, NOPTS(opts), argc, argv);
    if (rc == SRV_OK && url != NULL && strncmp(url, "postgresql://", 13) != 0 &&
        strncmp(url, "postgres://", 11) != 0) {
        srv_error(_("--store: a PostgreSQL URL (postgresql://...)"));
        rc = SRV_EUSAGE;
    }
    if (rc == SRV_OK)
        rc = srv_require("init", "--data", data);
    if (rc != SRV_OK)
        return rc;
    srv_pass pass;
    rc = srv_pass_get(&pass, 1);
    if (rc != SRV_OK)
        return rc;
    fs_store *s = NULL;
    fs_identity *id = NULL;
    int frc = url != NULL ? fs_store_pg_create(&s, data, pass.buf, pass.len, url, NULL)
                          : fs_store_create(&s, data, pass.buf, pass.len, NULL);
    srv_pass_free(&pass);
    if (frc == FS_EEXIST) {
        srv_error(url != NULL ? _("--data or --store: %s or the database already holds a store")
                              : _("--data: %s already holds a store"),
                  data);
        return SRV_EUSAGE;
    }
    if (frc != 0) {
        srv_error(_("--data: cannot create the store: %s"),
                  url != NULL ? fs_store_pg_errmsg() : fs_replica_errmsg(NULL));
        return SRV_ERUNTIME;
    }
    frc = fs_replica_identity(fs_store_replica(s), &id);
    if (frc != 0) {
        rc = srv_fail(s, "reading the server identity", frc);
    } else {
        char hex[2 * FS_SIGN_PK_BYTES + 1];
        sodium_bin2hex(hex, sizeof hex, id->pk, FS_SIGN_PK_BYTES);
        fprintf(srv_out, _("created the server store in %s\nserver key fingerprint:\n%s\n"), data,
                hex);
    }
    fs_identity_free(id);
    fs_store_close(s);
    return rc;
}

/* ---- migrate ---- */

static const char migrate_usage[] =
    N_("usage: fieldsync-server migrate --data DIR [--store postgresql://...]\n"
    "Brings the store of DIR forward to this version (server stopped). For a\n"
    "PostgreSQL store, its schema in the database (the one DIR keeps, or --store:\n"
    "which DIR keeps from then on, when the database moved); DIR must be a node\n"
    "of that store.\n");

int srv_cmd_migrate(int argc, char **argv)
{
    const char *data = NULL, *url = NULL;
    const fs_opt opts[] = {{"--data", FS_OPT_VALUE, NULL, &data, NULL},
                           {"--store", FS_OPT_VALUE, NULL, &url, NULL}};
    int rc = srv_parse(migrate_usage, opts, NOPTS(opts), argc, argv);
    if (rc == SRV_OK)
        rc = srv_require("migrate", "--data", data);
    if (rc != SRV_OK)
        return rc;
    char kept[4096];
    int krc = fs_store_pg_url(data, kept, sizeof kept);
    if (url == NULL && krc != 0) { /* SQLite: opening brings it forward */
        fs_store *s = NULL;
        rc = srv_open(data, &s);
        if (rc == SRV_OK)
            fprintf(srv_out, _("the store in %s is up to date\n"), data);
        fs_store_close(s);
        return rc;
    }
    int from = 0, to = 0;
    int frc = fs_store_pg_migrate(url != NULL ? url : kept, &from, &to);
    sodium_memzero(kept, sizeof kept);
    if (frc != 0) {
        srv_error(_("--store: cannot migrate the PostgreSQL store: %s"), fs_store_pg_errmsg());
        return SRV_ERUNTIME;
    }
    srv_pass pass;
    rc = srv_pass_get(&pass, 0);
    if (rc != SRV_OK)
        return rc;
    fs_store *s = NULL;
    frc = fs_store_pg_open(&s, data, pass.buf, pass.len, url, NULL);
    srv_pass_free(&pass);
    if (frc == FS_EPASSPHRASE) {
        srv_error(_("wrong passphrase (%s or the terminal)"), SRV_PASSENV);
        return SRV_ERUNTIME;
    }
    if (frc != 0) {
        srv_error(_("--data: cannot open the store: %s"), fs_store_pg_errmsg());
        return SRV_ERUNTIME;
    }
    fs_store_close(s);
    if (url != NULL && fs_store_pg_keep_url(data, url) != 0) {
        srv_error(_("--data: cannot write %s/store"), data);
        return SRV_ERUNTIME;
    }
    fprintf(srv_out, _("the PostgreSQL store's schema: version %d, was %d\n"), to, from);
    return SRV_OK;
}

/* ---- user add ---- */

static const char user_usage[] =
    N_("usage: fieldsync-server user add --data DIR --name NAME --role rep|manager|admin --team TEAM\n");

static const char passwd_usage[] =
    N_("usage: fieldsync-server user passwd --data DIR --name NAME\n"
    "Sets the dashboard password of a manager or an admin (asked twice, or read\n"
    "from FIELDSYNC_USER_PASSWORD); it is stored as an Argon2id hash.\n");

static const char disable_usage[] =
    N_("usage: fieldsync-server user disable --data DIR --name NAME\n"
    "       fieldsync-server user enable --data DIR --name NAME\n"
    "A disabled user (one who left) cannot log in, enroll a device or sync: their\n"
    "devices are revoked and wiped at their next contact, their dashboard\n"
    "sessions end at once. Enabled again, they log in and enroll new devices.\n");

static const char move_usage[] =
    N_("usage: fieldsync-server user move --data DIR --name NAME --team TEAM\n"
    "Moves a user to another team: their records go with them, the new team's\n"
    "manager sees them and the old one's no longer does; both teams' rosters\n"
    "follow at the managers' next sync.\n");

/* user move. */
static int user_move(int argc, char **argv)
{
    const char *data = NULL, *name = NULL, *team = NULL;
    const fs_opt opts[] = {
        {"--data", FS_OPT_VALUE, NULL, &data, NULL},
        {"--name", FS_OPT_VALUE, NULL, &name, NULL},
        {"--team", FS_OPT_VALUE, NULL, &team, NULL},
    };
    int rc = srv_parse(move_usage, opts, NOPTS(opts), argc, argv);
    if (rc == SRV_OK)
        rc = srv_require("user move", "--data", data);
    if (rc == SRV_OK)
        rc = srv_require("user move", "--name", name);
    if (rc == SRV_OK)
        rc = srv_require("user move", "--team", team);
    if (rc != SRV_OK)
        return rc;
    if (!fs_utf8_valid(team, strlen(team)) || strlen(team) > 64) {
        srv_error(_("--team: 1-64 bytes of printable UTF-8"));
        return SRV_EUSAGE;
    }
    fs_store *s = NULL;
    rc = srv_open(data, &s);
    if (rc == SRV_OK) {
        int frc = fs_store_user_move(s, name, team);
        char who[128], to[128];
        srv_printable(name, who, sizeof who);
        srv_printable(team, to, sizeof to);
        if (frc == 0)
            fprintf(srv_out, _("%s is in team %s\n"), who, to);
        else if (frc == FS_ENOTFOUND)
            rc = (srv_error(_("--name: no such user")), SRV_EUSAGE);
        else if (frc == FS_EINVAL)
            rc = (srv_error(_("--team: %s"), fs_store_errmsg(s)), SRV_EUSAGE);
        else
            rc = srv_fail(s, "user move", frc);
    }
    srv_close(s);
    return rc;
}

/* user disable / user enable. */
static int user_disable(int disabled, int argc, char **argv)
{
    const char *data = NULL, *name = NULL;
    const fs_opt opts[] = {
        {"--data", FS_OPT_VALUE, NULL, &data, NULL},
        {"--name", FS_OPT_VALUE, NULL, &name, NULL},
    };
    const char *cmd = disabled ? "user disable" : "user enable";
    int rc = srv_parse(disable_usage, opts, NOPTS(opts), argc, argv);
    if (rc == SRV_OK)
        rc = srv_require(cmd, "--data", data);
    if (rc == SRV_OK)
        rc = srv_require(cmd, "--name", name);
    if (rc != SRV_OK)
        return rc;
    fs_store *s = NULL;
    rc = srv_open(data, &s);
    if (rc == SRV_OK) {
        int frc = fs_store_user_disable(s, name, disabled);
        char who[128];
        srv_printable(name, who, sizeof who);
        if (frc == 0)
            fprintf(srv_out, "%s %s\n", who,
                    disabled ? "is disabled: devices revoked, sessions ended" : "is enabled");
        else if (frc == FS_ENOTFOUND)
            rc = (srv_error(_("--name: no such user")), SRV_EUSAGE);
        else
            rc = srv_fail(s, cmd, frc);
    }
    srv_close(s);
    return rc;
}

/* A role as the reader says it (rep, manager, admin in the catalog); the
 * word typed (--role) otherwise. */
static const char *role_word(const char *role)
{
    static const char *const roles[] = {N_("rep"), N_("manager"), N_("admin")};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(role, roles[i]) == 0)
            return _(roles[i]);
    return role;
}

/* user passwd. A running serve hosts it with the password the admin typed
 * at their own terminal (srv_ctl_forward passes it as --typed-password). */

static int user_passwd(int argc, char **argv)
{
    const char *data = NULL, *name = NULL, *typed = NULL;
    const fs_opt opts[] = {
        {"--data", FS_OPT_VALUE, NULL, &data, NULL},
        {"--name", FS_OPT_VALUE, NULL, &name, NULL},
        {"--typed-password", FS_OPT_VALUE, NULL, &typed, NULL},
    };
    int rc = srv_parse(passwd_usage, opts, srv_hosted_store != NULL ? 3 : 2, argc, argv);
    if (rc == SRV_OK)
        rc = srv_require("user passwd", "--data", data);
    if (rc == SRV_OK)
        rc = srv_require("user passwd", "--name", name);
    if (rc != SRV_OK)
        return rc;
    srv_pass pw = {NULL, 0};
    if (typed == NULL) {
        rc = srv_user_password_get(&pw);
        if (rc != SRV_OK)
            return rc;
    }
    fs_store *s = NULL;
    rc = srv_open(data, &s);
    if (rc == SRV_OK) {
        int frc = typed != NULL ? fs_store_set_password(s, name, typed, strlen(typed))
                                : fs_store_set_password(s, name, pw.buf, pw.len);
        if (frc == 0)
            fprintf(srv_out, _("password set for %s\n"), name);
        else if (frc == FS_ENOTFOUND)
            rc = (srv_error(_("--name: no such user")), SRV_EUSAGE);
        else if (frc == FS_ESTATE || frc == FS_EINVAL)
            rc = (srv_error("%s", fs_store_errmsg(s)), SRV_EUSAGE);
        else
            rc = srv_fail(s, "setting the password", frc);
    }
    srv_close(s);
    srv_pass_free(&pw);
    return rc;
}

int srv_cmd_user(int argc, char **argv)
{
    const char *data = NULL, *name = NULL, *role = NULL, *team = NULL;
    const fs_opt opts[] = {
        {"--data", FS_OPT_VALUE, NULL, &data, NULL},
        {"--name", FS_OPT_VALUE, NULL, &name, NULL},
        {"--role", FS_OPT_VALUE, NULL, &role, NULL},
        {"--team", FS_OPT_VALUE, NULL, &team, NULL},
    };
    if (argc >= 1 && strcmp(argv[0], "passwd") == 0)
        return user_passwd(argc - 1, argv + 1);
    if (argc >= 1 && (strcmp(argv[0], "disable") == 0 || strcmp(argv[0], "enable") == 0))
        return user_disable(strcmp(argv[0], "disable") == 0, argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "move") == 0)
        return user_move(argc - 1, argv + 1);
    if (argc < 1 || strcmp(argv[0], "add") != 0) {
        if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "help") == 0)) {
            fputs(_(user_usage), srv_out);
            fputs(_(passwd_usage), srv_out);
            fputs(_(disable_usage), srv_out);
            fputs(_(move_usage), srv_out);
            return SRV_HELP;
        }
        srv_error(_("user: expected 'user add', 'user move', 'user passwd', 'user disable' or"
                  " 'user enable'"));
        fputs(_(user_usage), srv_err);
        return SRV_EUSAGE;
    }
    int rc = srv_parse(user_usage, opts, NOPTS(opts), argc - 1, argv + 1);
    if (rc == SRV_OK)
        rc = srv_require("user add", "--data", data);
    if (rc == SRV_OK)
        rc = srv_require("user add", "--name", name);
    if (rc == SRV_OK)
        rc = srv_require("user add", "--role", role);
    if (rc == SRV_OK)
        rc = srv_require("user add", "--team", team);
    if (rc != SRV_OK)
        return rc;
    fs_role r;
    if (strcmp(role, "rep") == 0) {
        r = FS_ROLE_REP;
    } else if (strcmp(role, "manager") == 0) {
        r = FS_ROLE_MANAGER;
    } else if (strcmp(role, "admin") == 0) {
        r = FS_ROLE_ADMIN;
    } else {
        srv_error(_("--role: expected rep, manager or admin"));
        return SRV_EUSAGE;
    }
    if (!fs_utf8_valid(name, strlen(name)) || strlen(name) > 64) {
        srv_error(_("--name: 1-64 bytes of printable UTF-8"));
        return SRV_EUSAGE;
    }
    if (!fs_utf8_valid(team, strlen(team)) || strlen(team) > 64) {
        srv_error(_("--team: 1-64 bytes of printable UTF-8"));
        return SRV_EUSAGE;
    }
    fs_store *s = NULL;
    rc = srv_open(data, &s);
    if (rc != SRV_OK)
        return rc;
    int frc = fs_store_user_add(s, name, r, team);
    if (frc == FS_EEXIST) {
        srv_error(_("--name: the user exists already"));
        rc = SRV_EUSAGE;
    } else if (frc == FS_EINVAL) {
        srv_error(_("--name/--team: %s"), fs_store_errmsg(s));
        rc = SRV_EUSAGE;
    } else if (frc != 0) {
        rc = srv_fail(s, "adding the user", frc);
    } else {
        fprintf(srv_out, _("added user %s (%s, team %s)\n"), name, role_word(role), team);
    }
    srv_close(s);
    return rc;
}

/* ---- enroll-code ---- */

static const char enroll_usage[] =
    N_("usage: fieldsync-server enroll-code --data DIR --user NAME [--ttl-hours H]\n"
    "Prints a one-time enrollment code for NAME's new device on the last line;\n"
    "it expires after H hours (default 24, at most 720).\n");

/* A whole number of hours in 1..MAX_TTL_HOURS, strictly decimal. */
static int parse_hours(const char *v, uint64_t *out)
{
    uint64_t h = 0;
    if (v[0] == '\0' || strlen(v) > 4)
        return -1;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        h = h * 10 + (uint64_t)(*p - '0');
    }
    if (h < 1 || h > MAX_TTL_HOURS)
        return -1;
    *out = h;
    return 0;
}

int srv_cmd_enroll_code(int argc, char **argv)
{
    const char *data = NULL, *user = NULL, *ttl = NULL;
    const fs_opt opts[] = {{"--data", FS_OPT_VALUE, NULL, &data, NULL},
                           {"--user", FS_OPT_VALUE, NULL, &user, NULL},
                           {"--ttl-hours", FS_OPT_VALUE, NULL, &ttl, NULL}};
    int rc = srv_parse(enroll_usage, opts, NOPTS(opts), argc, argv);
    if (rc == SRV_OK)
        rc = srv_require("enroll-code", "--data", data);
    if (rc == SRV_OK)
        rc = srv_require("enroll-code", "--user", user);
    if (rc != SRV_OK)
        return rc;
    uint64_t hours = 24;
    if (ttl != NULL && parse_hours(ttl, &hours) != 0) {
        srv_error(_("--ttl-hours: expected a whole number of hours from 1 to %d"), MAX_TTL_HOURS);
        return SRV_EUSAGE;
    }
    fs_store *s = NULL;
    fs_identity *id = NULL;
    char code[FS_ENROLL_CODE_CHARS + 1];
    rc = srv_open(data, &s);
    if (rc != SRV_OK)
        return rc;
    int frc = fs_replica_identity(fs_store_replica(s), &id);
    if (frc != 0) {
        rc = srv_fail(s, "reading the server identity", frc);
        goto done;
    }
    frc = fs_enroll_code_create(s, user, hours * 3600u * 1000u, id->pk, code, sizeof code);
    if (frc == FS_ENOTFOUND) {
        srv_error(_("--user: no such user (add it with 'user add')"));
        rc = SRV_EUSAGE;
    } else if (frc == FS_ESTATE) {
        srv_error(_("--user: the user is disabled (fieldsync-server user enable --name NAME)"));
        rc = SRV_EUSAGE;
    } else if (frc != 0) {
        rc = srv_fail(NULL, "creating the code", frc);
    } else {
        char who[128];
        srv_printable(user, who, sizeof who);
        fprintf(srv_out, _("one-time enrollment code for %s, valid for %" PRIu64 " hours:\n%s\n"), who,
                hours, code);
        fflush(srv_out);
        sodium_memzero(code, sizeof code);
    }
done:
    fs_identity_free(id);
    srv_close(s);
    return rc;
}

/* ---- device list / revoke ---- */

static const char device_usage[] =
    N_("usage: fieldsync-server device list --data DIR [--json]\n"
    "       fieldsync-server device revoke --data DIR --device FINGERPRINT-PREFIX\n"
    "                 [--discard-unsent | --after-push]\n"
    "  A device holding changes it has not pushed (PENDING in device list, as it\n"
    "  last reported) is revoked only with one of: --discard-unsent (told to wipe\n"
    "  at its next contact; those changes are lost) or --after-push (it may push\n"
    "  once more; the server keeps its changes, then tells it to wipe).\n");

/* Writes s as a JSON string (control characters escaped; invalid UTF-8
 * replaced by '?'). */
static void json_string(const char *s)
{
    int valid = fs_utf8_valid(s, strlen(s));
    srv_putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(srv_out, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7F)
            fprintf(srv_out, "\\u%04x", *p);
        else if (*p >= 0x80 && !valid)
            srv_putchar('?');
        else
            srv_putchar(*p);
    }
    srv_putchar('"');
}

typedef struct list_ctx {
    fs_store *s;
    int json;
    size_t n;
} list_ctx;

/* A device's state in words. */
/* A table column of `width` terminal columns and a space: s cut to fit
 * ("…") and padded by its display width, so a Chinese user or device name
 * (two columns a character) keeps the columns after it in line. */
static void table_cell(const char *s, size_t width)
{
    char *c = NULL;
    size_t w = 0;
    if (text_cell(s, width, &c, &w) != 0) {
        fputc('?', srv_out);
        w = 1;
    } else {
        fputs(c, srv_out);
    }
    free(c);
    for (; w <= width; w++)
        fputc(' ', srv_out);
}

static const char *device_state(int revoked)
{
    return revoked == FS_DEVICE_REVOKE_AFTER_PUSH ? N_("revoke-after-push")
           : revoked != 0                         ? N_("revoked")
                                                  : N_("active");
}

static int print_device(const fs_store_device *d, void *ctx)
{
    list_ctx *l = ctx;
    /* Changes the device holds unsent, as it last reported (issue 25.4:
     * what revoking it at once would destroy). */
    uint64_t seen = 0, lease = 0, pending = 0, oldest = 0;
    int rc = fs_store_device_sync(l->s, d->pk, &seen, &lease, &pending, &oldest);
    if (rc != 0)
        return rc;
    if (l->json) {
        fputs(l->n == 0 ? "[\n  {\"user\":" : ",\n  {\"user\":", srv_out);
        json_string(d->user);
        fputs(",\"name\":", srv_out);
        json_string(d->name);
        fprintf(srv_out,
                ",\"fingerprint\":\"%s\",\"revoked\":%s,\"state\":\"%s\",\"pending\":%llu",
                d->fingerprint, d->revoked == FS_DEVICE_REVOKED ? "true" : "false",
                device_state(d->revoked), (unsigned long long)pending);
        /* its own clock as it last said, device minus server (issue 23) */
        int64_t off = 0;
        uint64_t at = 0;
        if (fs_store_device_clock(l->s, d->pk, &off, &at) == 0 && at != 0)
            fprintf(srv_out, ",\"clock_offset_ms\":%lld}", (long long)off);
        else
            fputs(",\"clock_offset_ms\":null}", srv_out);
    } else {
        char user[128], name[128];
        srv_printable(d->user, user, sizeof user);
        srv_printable(d->name, name, sizeof name);
        /* headings and states in the admin's language (JSON keeps the
         * words as they are) */
        if (l->n == 0) {
            table_cell(_("USER"), 16);
            table_cell(_("DEVICE"), 24);
            table_cell(_("FINGERPRINT"), 32);
            table_cell(_("PENDING"), 8);
            fprintf(srv_out, "%s\n", _("STATE"));
        }
        char n_pending[24];
        snprintf(n_pending, sizeof n_pending, "%llu", (unsigned long long)pending);
        table_cell(user, 16);
        table_cell(name, 24);
        table_cell(d->fingerprint, 32);
        table_cell(n_pending, 8);
        fprintf(srv_out, "%s\n", _(device_state(d->revoked)));
    }
    l->n++;
    return 0;
}

typedef struct find_ctx {
    char prefix[33];
    size_t matches;
    fs_store_device found;
} find_ctx;

static int match_device(const fs_store_device *d, void *ctx)
{
    find_ctx *f = ctx;
    if (strncmp(d->fingerprint, f->prefix, strlen(f->prefix)) == 0) {
        if (f->matches == 0) {
            f->found = *d;
            f->found.user = f->found.name = NULL; /* not valid after the callback */
        }
        f->matches++;
    }
    return 0;
}

static int device_list(int argc, char **argv)
{
    const char *data = NULL;
    int json = 0;
    const fs_opt opts[] = {{"--data", FS_OPT_VALUE, NULL, &data, NULL},
                           {"--json", FS_OPT_FLAG, &json, NULL, NULL}};
    int rc = srv_parse(device_usage, opts, NOPTS(opts), argc, argv);
    if (rc == SRV_OK)
        rc = srv_require("device list", "--data", data);
    if (rc != SRV_OK)
        return rc;
    fs_store *s = NULL;
    rc = srv_open(data, &s);
    if (rc != SRV_OK)
        return rc;
    list_ctx l = {s, json, 0};
    int frc = fs_store_devices(s, print_device, &l);
    if (frc != 0)
        rc = srv_fail(NULL, "listing the devices", frc);
    else if (json)
        fputs(l.n == 0 ? "[]\n" : "\n]\n", srv_out);
    else if (l.n == 0)
        fputs(_("no devices enrolled\n"), srv_out); /* through a running serve too */
    srv_close(s);
    return rc;
}

/* Revokes d, counting the cost: a device that holds unsent changes (as it
 * last reported) is revoked only when the operator says what becomes of
 * them (issue 25.4). */
static int revoke_found(fs_store *s, const fs_store_device *d, int discard, int after_push)
{
    uint64_t seen = 0, lease = 0, pending = 0, oldest = 0;
    int frc = fs_store_device_sync(s, d->pk, &seen, &lease, &pending, &oldest);
    if (frc != 0)
        return srv_fail(s, "reading the device's sync state", frc);
    if (pending > 0 && !discard && !after_push) {
        srv_error(_("device %s holds %llu unsent change%s (as it last reported): not revoked.\n"
                  "  --discard-unsent  revoke now; it wipes at its next contact and those "
                  "changes are lost\n"
                  "  --after-push      let it push them once more, then it is told to wipe"),
                  d->fingerprint, (unsigned long long)pending, pending == 1 ? "" : "s");
        return SRV_EUSAGE;
    }
    if (after_push) {
        frc = fs_store_device_revoke_after_push(s, d->pk);
        if (frc != 0)
            return srv_fail(s, "revoking the device", frc);
        fprintf(srv_out,
                _("device %s will be revoked after its next push (%llu unsent change%s); it is "
                "told to wipe once the server has them\n"),
                d->fingerprint, (unsigned long long)pending, pending == 1 ? "" : "s");
        return SRV_OK;
    }
    frc = fs_store_device_revoke(s, d->pk);
    if (frc != 0)
        return srv_fail(s, "revoking the device", frc);
    if (pending > 0)
        fprintf(srv_out, _("revoked device %s; its %llu unsent change%s will be discarded\n"),
                d->fingerprint, (unsigned long long)pending, pending == 1 ? "" : "s");
    else
        fprintf(srv_out, _("revoked device %s\n"), d->fingerprint);
    return SRV_OK;
}

static int device_revoke(int argc, char **argv)
{
    const char *data = NULL, *dev = NULL;
    int discard = 0, after_push = 0;
    const fs_opt opts[] = {{"--data", FS_OPT_VALUE, NULL, &data, NULL},
                           {"--device", FS_OPT_VALUE, NULL, &dev, NULL},
                           {"--discard-unsent", FS_OPT_FLAG, &discard, NULL, NULL},
                           {"--after-push", FS_OPT_FLAG, &after_push, NULL, NULL}};
    int rc = srv_parse(device_usage, opts, NOPTS(opts), argc, argv);
    if (rc == SRV_OK)
        rc = srv_require("device revoke", "--data", data);
    if (rc == SRV_OK)
        rc = srv_require("device revoke", "--device", dev);
    if (rc == SRV_OK && discard && after_push) {
        srv_error(_("device revoke: --discard-unsent and --after-push exclude each other"));
        rc = SRV_EUSAGE;
    }
    if (rc != SRV_OK)
        return rc;
    find_ctx f;
    memset(&f, 0, sizeof f);
    size_t len = strlen(dev);
    int hex = len >= MIN_PREFIX && len <= 32;
    for (size_t i = 0; hex && i < len; i++) {
        char c = dev[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        f.prefix[i] = c;
    }
    if (!hex) {
        srv_error(_("--device: expected %d to 32 hex digits of a fingerprint (device list)"),
                  MIN_PREFIX);
        return SRV_EUSAGE;
    }
    fs_store *s = NULL;
    rc = srv_open(data, &s);
    if (rc != SRV_OK)
        return rc;
    int frc = fs_store_devices(s, match_device, &f);
    if (frc != 0) {
        rc = srv_fail(NULL, "listing the devices", frc);
    } else if (f.matches == 0) {
        srv_error(_("--device: no device with fingerprint %s..."), f.prefix);
        rc = SRV_EUSAGE;
    } else if (f.matches > 1) {
        srv_error(_("--device: %s... matches %zu devices; give more digits"), f.prefix, f.matches);
        rc = SRV_EUSAGE;
    } else if (f.found.revoked == FS_DEVICE_REVOKED ||
               (f.found.revoked == FS_DEVICE_REVOKE_AFTER_PUSH && !discard)) {
        fprintf(srv_out, _("device %s was revoked already%s\n"), f.found.fingerprint,
                f.found.revoked == FS_DEVICE_REVOKED ? "" : " (after its next push)");
    } else {
        rc = revoke_found(s, &f.found, discard, after_push);
    }
    srv_close(s);
    return rc;
}

int srv_cmd_device(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "list") == 0)
        return device_list(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "revoke") == 0)
        return device_revoke(argc - 1, argv + 1);
    if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "help") == 0)) {
        fputs(_(device_usage), srv_out);
        return SRV_HELP;
    }
    srv_error(_("device: expected 'device list' or 'device revoke'"));
    fputs(_(device_usage), srv_err);
    return SRV_EUSAGE;
}

/* ---- audit verify / show / head ---- */

static const char audit_usage[] =
    N_("usage: fieldsync-server audit verify --data DIR [--expect-head SEQ:MAC]\n"
    "       fieldsync-server audit show --data DIR\n"
    "       fieldsync-server audit head --data DIR\n"
    "audit head prints the chain's head (entries and the last entry's MAC) as\n"
    "SEQ:MAC; keep it outside the server (serve also logs it at start, hourly\n"
    "and on exit). --expect-head checks that the log still holds that head:\n"
    "a tail cut off (a deleted WAL, a database put back) fails.\n");

static int print_entry(const fs_audit_entry *e, void *ctx)
{
    (*(uint64_t *)ctx)++;
    char when[32] = "?";
    if (fs_instant_format(when, sizeof when, e->at_ms, 1, "%Y-%m-%d %H:%M:%SZ") != 0)
        snprintf(when, sizeof when, "?");
    fprintf(srv_out, "%6" PRIu64 "  %s  %-14s  %s  %s  %s\n", e->seq, when, e->kind, e->actor,
            e->subject[0] ? e->subject : "-", e->detail[0] ? e->detail : "-");
    return 0;
}

int srv_audit_head_text(fs_audit *a, char out[SRV_AUDIT_HEAD_MAX])
{
    uint64_t entries = 0;
    unsigned char head[FS_AUDIT_MAC_BYTES];
    int rc = fs_audit_head(a, &entries, head);
    if (rc != 0)
        return rc;
    int n = snprintf(out, SRV_AUDIT_HEAD_MAX, "%" PRIu64 ":", entries);
    sodium_bin2hex(out + n, SRV_AUDIT_HEAD_MAX - (size_t)n, head, sizeof head);
    return 0;
}

/* "SEQ:MAC" (as audit head prints it) into *seq and mac; -1 if malformed. */
static int parse_head(const char *text, uint64_t *seq, unsigned char mac[FS_AUDIT_MAC_BYTES])
{
    const char *colon = strchr(text, ':');
    if (colon == NULL || colon == text || colon - text > 20)
        return -1;
    uint64_t v = 0;
    for (const char *p = text; p < colon; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    size_t got = 0;
    const char *end = NULL;
    if (strlen(colon + 1) != 2 * FS_AUDIT_MAC_BYTES ||
        sodium_hex2bin(mac, FS_AUDIT_MAC_BYTES, colon + 1, 2 * FS_AUDIT_MAC_BYTES, NULL, &got,
                       &end) != 0 ||
        got != FS_AUDIT_MAC_BYTES || *end != '\0')
        return -1;
    *seq = v;
    return 0;
}

/* A head kept earlier is still in the log: its entry is there with the
 * same MAC (the chain after it was verified already). */
static int check_head(fs_audit *a, const char *expect)
{
    uint64_t seq = 0;
    unsigned char want[FS_AUDIT_MAC_BYTES], have[FS_AUDIT_MAC_BYTES];
    if (parse_head(expect, &seq, want) != 0) {
        srv_error(_("--expect-head: expected SEQ:MAC as audit head prints it (a number, a colon, "
                  "64 hex digits)"));
        return SRV_EUSAGE;
    }
    if (seq == 0)
        return SRV_OK; /* the head of an empty log: anything holds it */
    int frc = fs_audit_mac_at(a, seq, have);
    if (frc == FS_ENOTFOUND) {
        srv_error(_("audit log cut: the head kept earlier is entry %" PRIu64
                  ", which the log no longer holds (entries after the last one now stored "
                  "were removed)"),
                  seq);
        return SRV_ERUNTIME;
    }
    if (frc != 0) {
        srv_error(_("reading the audit log: %s"), fs_audit_errmsg(a));
        return SRV_ERUNTIME;
    }
    if (sodium_memcmp(want, have, sizeof want) != 0) {
        srv_error(_("audit log rewritten: entry %" PRIu64
                  " is not the one whose head was kept (the log was cut and written again, "
                  "or put back from a copy)"),
                  seq);
        return SRV_ERUNTIME;
    }
    fprintf(srv_out, _("the head kept earlier (entry %" PRIu64 ") is in the log\n"), seq);
    return SRV_OK;
}

int srv_cmd_audit(int argc, char **argv)
{
    enum { SHOW, VERIFY, HEAD } what;
    if (argc >= 1 && strcmp(argv[0], "verify") == 0) {
        what = VERIFY;
    } else if (argc >= 1 && strcmp(argv[0], "show") == 0) {
        what = SHOW;
    } else if (argc >= 1 && strcmp(argv[0], "head") == 0) {
        what = HEAD;
    } else if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "help") == 0)) {
        fputs(_(audit_usage), srv_out);
        return SRV_HELP;
    } else {
        srv_error(_("audit: expected 'audit verify', 'audit show' or 'audit head'"));
        fputs(_(audit_usage), srv_err);
        return SRV_EUSAGE;
    }
    const char *data = NULL, *expect = NULL;
    const fs_opt opts[] = {{"--data", FS_OPT_VALUE, NULL, &data, NULL},
                           {"--expect-head", FS_OPT_VALUE, NULL, &expect, NULL}};
    int rc = srv_parse(audit_usage, opts, NOPTS(opts), argc - 1, argv + 1);
    static const char *const names[] = {"audit show", "audit verify", "audit head"};
    if (rc == SRV_OK)
        rc = srv_require(names[what], "--data", data);
    if (rc == SRV_OK && expect != NULL && what != VERIFY) {
        srv_error(_("%s: --expect-head goes with audit verify"), names[what]);
        rc = SRV_EUSAGE;
    }
    if (rc != SRV_OK)
        return rc;
    fs_store *s = NULL;
    rc = srv_open(data, &s);
    if (rc != SRV_OK)
        return rc;
    fs_audit *a = fs_store_audit(s);
    if (what == VERIFY) {
        uint64_t entries = 0, bad = 0;
        char head[SRV_AUDIT_HEAD_MAX];
        int frc = fs_audit_verify(a, &entries, &bad);
        if (frc == 0 && (frc = srv_audit_head_text(a, head)) == 0) {
            fprintf(srv_out, _("%" PRIu64 " entries, chain intact; head %s\n"), entries, head);
            if (expect != NULL)
                rc = check_head(a, expect);
        } else if (frc == FS_EAUDIT) {
            srv_error(_("audit log broken at entry %" PRIu64 " of %" PRIu64 ": %s"), bad, entries,
                      fs_audit_errmsg(a));
            rc = SRV_ERUNTIME;
        } else {
            srv_error(_("verifying the audit log: %s"), fs_audit_errmsg(a));
            rc = SRV_ERUNTIME;
        }
    } else if (what == HEAD) {
        char head[SRV_AUDIT_HEAD_MAX];
        if (srv_audit_head_text(a, head) == 0) {
            fprintf(srv_out, "%s\n", head);
        } else {
            srv_error(_("reading the audit head: %s (run audit verify)"), fs_audit_errmsg(a));
            rc = SRV_ERUNTIME;
        }
    } else {
        uint64_t shown = 0;
        int frc = fs_audit_list(a, 0, 0, print_entry, &shown);
        if (frc == 0 && shown == 0)
            fputs(_("the audit log is empty\n"), srv_out);
        if (frc != 0) {
            srv_error(_("reading the audit log: %s (run audit verify)"), fs_audit_errmsg(a));
            rc = SRV_ERUNTIME;
        }
    }
    srv_close(s);
    return rc;
}
