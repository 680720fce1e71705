/*
 * The company's export key (issue 20 point 4). `fieldsync-server
 * export-key --data DIR` makes a Curve25519 key pair: the secret half in
 * DIR/export.key (0600, made once: it is never replaced, so every sealed
 * export stays openable), the public half written as the team setting
 * export_pk of every team, so each device receives it with its next sync.
 * `team set --export...` writes it too, for a team added later. `export
 * open FILE --out OUT --data DIR` opens a file a device sealed to it
 * (core/exportseal.c) into OUT (0600, never an existing file).
 */
#include <errno.h>
#include <fcntl.h>
#include <libintl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "fieldsync/exportseal.h"
#include "fieldsync/rules.h"
#include "fieldsync/store.h"
#include "srv.h"

#define _(s)     gettext(s)
#define N_(s) s /* marked for xgettext, translated where shown */
#define NOPTS(a) (sizeof(a) / sizeof((a)[0]))

#define KEYFILE_MAGIC "FSEXPKEY"
#define KEYFILE_BYTES (8 + FS_EXPORT_PK_BYTES + FS_EXPORT_SK_BYTES)

static const char export_usage[] =
    N_("usage: fieldsync-server export-key --data DIR\n"
    "       fieldsync-server export open FILE --out OUT --data DIR\n"
    "export-key makes the company's export key (once): devices seal their\n"
    "exports to it; its secret half stays in DIR/export.key (0600). export open\n"
    "opens a sealed export into OUT (a new file, 0600).\n");

static void key_path(const char *dir, char *out, size_t cap)
{
    snprintf(out, cap, "%s/export.key", dir);
}

/* Reads DIR/export.key: the public half into pk, the secret half (if sk)
 * into sk. SRV_OK, SRV_EUSAGE when there is none (said unless quiet). */
static int key_read(const char *dir, uint8_t pk[FS_EXPORT_PK_BYTES], uint8_t *sk, int quiet)
{
    char path[4200];
    key_path(dir, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (!quiet)
            srv_error(_("no export key in %s (make one with '%s export-key --data DIR')"), dir,
                      SRV_PROG);
        return SRV_EUSAGE;
    }
    unsigned char *buf = sodium_malloc(KEYFILE_BYTES + 1);
    ssize_t n = buf != NULL ? read(fd, buf, KEYFILE_BYTES + 1) : -1;
    close(fd);
    int rc = SRV_OK;
    if (n != KEYFILE_BYTES || memcmp(buf, KEYFILE_MAGIC, 8) != 0) {
        srv_error(_("%s is not an export key"), path);
        rc = SRV_ERUNTIME;
    } else {
        memcpy(pk, buf + 8, FS_EXPORT_PK_BYTES);
        if (sk != NULL)
            memcpy(sk, buf + 8 + FS_EXPORT_PK_BYTES, FS_EXPORT_SK_BYTES);
    }
    sodium_free(buf); /* wiped */
    return rc;
}

typedef struct teams {
    char names[256][65];
    size_t n;
    int over; /* more teams than names holds */
} teams;

static int add_team(const char *name, fs_role role, const char *team, void *ctx)
{
    (void)name;
    (void)role;
    teams *t = ctx;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->names[i], team) == 0)
            return 0;
    if (t->n == 256 || strlen(team) > 64) {
        t->over = 1;
        return 1; /* stops the walk */
    }
    snprintf(t->names[t->n++], 65, "%s", team);
    return 0;
}

int srv_export_pk_to_team(fs_store *s, const char *dir, const char *team)
{
    uint8_t pk[FS_EXPORT_PK_BYTES];
    char hex[2 * FS_EXPORT_PK_BYTES + 1];
    if (key_read(dir, pk, NULL, 1) != SRV_OK)
        return SRV_OK; /* none yet: export-key writes it to every team */
    sodium_bin2hex(hex, sizeof hex, pk, sizeof pk);
    int frc = fs_store_team_set(s, team, FS_TEAM_EXPORT_PK, hex);
    return frc == 0 ? SRV_OK : srv_fail(s, "export key", frc);
}

int srv_cmd_export_key(int argc, char **argv)
{
    const char *data = NULL;
    const fs_opt opts[] = {{"--data", FS_OPT_VALUE, NULL, &data, NULL}};
    int rc = srv_parse(export_usage, opts, NOPTS(opts), argc, argv);
    if (rc == SRV_OK)
        rc = srv_require("export-key", "--data", data);
    if (rc != SRV_OK)
        return rc;
    fs_store *s = NULL;
    rc = srv_open(data, &s); /* the operator may touch this store */
    if (rc != SRV_OK)
        return rc;
    const char *dir = srv_hosted_dir != NULL ? srv_hosted_dir : data;
    char path[4200];
    key_path(dir, path, sizeof path);
    uint8_t pk[FS_EXPORT_PK_BYTES];
    unsigned char *img = sodium_malloc(KEYFILE_BYTES);
    if (img == NULL) {
        srv_close(s);
        return srv_fail(NULL, "export-key", FS_ENOMEM);
    }
    memcpy(img, KEYFILE_MAGIC, 8);
    crypto_box_keypair(img + 8, img + 8 + FS_EXPORT_PK_BYTES);
    memcpy(pk, img + 8, sizeof pk);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            srv_error(_("export-key: %s exists already; it is kept, as every export sealed to "
                        "it must stay openable"),
                      path);
        else
            srv_error(_("export-key: cannot create %s"), path);
        sodium_free(img);
        srv_close(s);
        return errno == EEXIST ? SRV_EUSAGE : SRV_ERUNTIME;
    }
    int ok = write(fd, img, KEYFILE_BYTES) == KEYFILE_BYTES && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    sodium_free(img); /* the secret half wiped from memory */
    if (!ok) {
        unlink(path);
        srv_close(s);
        srv_error(_("export-key: cannot write %s"), path);
        return SRV_ERUNTIME;
    }
    static teams t;
    t.n = 0;
    t.over = 0;
    int frc = fs_store_users(s, add_team, &t);
    if (t.over) { /* the key is made; each team gets it with team set --export */
        srv_error(_("export-key: more than 256 teams: give each the key with 'team set --team "
                    "TEAM --export MODE'"));
        rc = SRV_ERUNTIME;
    } else if (frc != 0) {
        rc = srv_fail(s, "export-key", frc);
    }
    for (size_t i = 0; rc == SRV_OK && i < t.n; i++)
        rc = srv_export_pk_to_team(s, dir, t.names[i]);
    srv_close(s);
    if (rc != SRV_OK)
        return rc;
    char hex[2 * FS_EXPORT_PK_BYTES + 1];
    sodium_bin2hex(hex, sizeof hex, pk, sizeof pk);
    fprintf(srv_out,
            _("export key made: %s (secret half in %s, 0600); its public half reaches the "
              "devices of %zu team(s) at their next sync\n"),
            hex, path, t.n);
    return SRV_OK;
}

int srv_cmd_export(int argc, char **argv)
{
    if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "help") == 0)) {
        fputs(_(export_usage), srv_out);
        return SRV_HELP;
    }
    if (argc < 2 || strcmp(argv[0], "open") != 0) {
        srv_error(_("export: expected 'export open FILE --out OUT --data DIR'"));
        fputs(_(export_usage), srv_err);
        return SRV_EUSAGE;
    }
    const char *file = argv[1], *data = NULL, *out = NULL;
    const fs_opt opts[] = {{"--data", FS_OPT_VALUE, NULL, &data, NULL},
                           {"--out", FS_OPT_VALUE, NULL, &out, NULL}};
    int rc = srv_parse(export_usage, opts, NOPTS(opts), argc - 2, argv + 2);
    if (rc == SRV_OK)
        rc = srv_require("export open", "--data", data);
    if (rc == SRV_OK)
        rc = srv_require("export open", "--out", out);
    if (rc != SRV_OK)
        return rc;
    uint8_t pk[FS_EXPORT_PK_BYTES];
    uint8_t *sk = sodium_malloc(FS_EXPORT_SK_BYTES);
    if (sk == NULL)
        return srv_fail(NULL, "export open", FS_ENOMEM);
    rc = key_read(data, pk, sk, 0);
    int in = -1, fd = -1;
    if (rc == SRV_OK && (in = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
        srv_error(_("export open: cannot read %s"), file);
        rc = SRV_EUSAGE;
    }
    if (rc == SRV_OK &&
        (fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
        srv_error(_("--out: cannot create %s (it must not exist)"), out);
        rc = SRV_EUSAGE;
    }
    if (rc == SRV_OK) {
        int frc = fs_export_open_stream(in, fd, pk, sk);
        if (frc == 0 && fsync(fd) != 0)
            frc = FS_EIO;
        if (frc != 0) {
            unlink(out);
            if (frc == FS_EFORMAT)
                srv_error(_("export open: %s is not an export sealed to this company's key, "
                            "or it was cut short or modified"),
                          file);
            else
                srv_error("export open: %s", fs_strerror(frc));
            rc = frc == FS_EFORMAT ? SRV_EUSAGE : SRV_ERUNTIME;
        }
    }
    if (in >= 0)
        close(in);
    if (fd >= 0)
        close(fd);
    sodium_free(sk);
    return rc;
}
