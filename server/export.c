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
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libintl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "fieldsync/exportseal.h"
#include "fieldsync/rules.h"
#include "fieldsync/store.h"
#include "srv.h"
#include "store/audit.h"

#define _(s)     gettext(s)
#define N_(s) s /* marked for xgettext, translated where shown */
#define NOPTS(a) (sizeof(a) / sizeof((a)[0]))

#define KEYFILE_MAGIC  "FSEXPKEY" /* one key: pk, sk (as the first export-key makes it) */
#define KEYFILE_BYTES  (8 + FS_EXPORT_PK_BYTES + FS_EXPORT_SK_BYTES)
#define RING_MAGIC     "FSEXPKY2" /* every generation, after a rotation */
#define RING_HEAD      (8 + 4)    /* magic, u32 count */
#define RING_ENTRY     (8 + FS_EXPORT_PK_BYTES + FS_EXPORT_SK_BYTES) /* u64 created, pk, sk */
#define RING_MAX       64         /* generations kept; --retire makes room */
#define RING_FILEBYTES (RING_HEAD + RING_MAX * RING_ENTRY)
#define FP_CHARS       16 /* a fingerprint: the public half's first 8 bytes in hex */

static const char export_usage[] =
    N_("usage: fieldsync-server export-key --data DIR\n"
    "       fieldsync-server export-key --rotate --data DIR\n"
    "       fieldsync-server export-key --list --data DIR\n"
    "       fieldsync-server export-key --retire FINGERPRINT [--yes] --data DIR\n"
    "       fieldsync-server export open FILE --out OUT --data DIR\n"
    "export-key makes the company's export key (once): devices seal their\n"
    "exports to it; its secret half stays in DIR/export.key (0600). --rotate\n"
    "makes a new key that devices seal to after their next sync; the older\n"
    "ones are kept so every export still opens. --list shows them; --retire\n"
    "drops an old one (with --yes: what was sealed to it no longer opens).\n"
    "export open opens a sealed export into OUT (a new file, 0600).\n");

static void key_path(const char *dir, char *out, size_t cap)
{
    snprintf(out, cap, "%s/export.key", dir);
}

/* Every generation of the export key, oldest first, the current last; in
 * sodium_malloc'd memory (wiped when freed). */
typedef struct ring {
    size_t n;
    uint64_t created[RING_MAX]; /* unix seconds */
    fs_export_keypair kp[RING_MAX];
} ring;

static ring *ring_new(void)
{
    ring *r = sodium_malloc(sizeof *r);
    if (r != NULL)
        r->n = 0;
    return r;
}

static uint64_t get_be(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

static void put_be(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static void fingerprint(const uint8_t pk[FS_EXPORT_PK_BYTES], char out[FP_CHARS + 1])
{
    sodium_bin2hex(out, FP_CHARS + 1, pk, FP_CHARS / 2);
}

/* Reads DIR/export.key (either form) into r. SRV_OK; SRV_EUSAGE when there
 * is none (said unless quiet); SRV_ERUNTIME when it is not an export key
 * (damaged, cut short: said always). */
static int ring_read(const char *dir, ring *r, int quiet)
{
    char path[4200];
    key_path(dir, path, sizeof path);
    r->n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (!quiet)
            srv_error(_("no export key in %s (make one with '%s export-key --data DIR')"), dir,
                      SRV_PROG);
        return SRV_EUSAGE;
    }
    struct stat st;
    unsigned char *buf = sodium_malloc(RING_FILEBYTES + 1);
    ssize_t n = -1;
    if (buf != NULL && fstat(fd, &st) == 0) {
        size_t got = 0;
        while (got < RING_FILEBYTES + 1) { /* one byte more than the largest: too long is seen */
            ssize_t k = read(fd, buf + got, RING_FILEBYTES + 1 - got);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0) {
                if (k == 0)
                    n = (ssize_t)got;
                break;
            }
            got += (size_t)k;
        }
        if (got == RING_FILEBYTES + 1)
            n = (ssize_t)got;
    }
    close(fd);
    int rc = SRV_ERUNTIME;
    if (n == KEYFILE_BYTES && memcmp(buf, KEYFILE_MAGIC, 8) == 0) {
        r->n = 1;
        r->created[0] = st.st_mtime > 0 ? (uint64_t)st.st_mtime : 0; /* made once, never written */
        memcpy(r->kp[0].pk, buf + 8, FS_EXPORT_PK_BYTES);
        memcpy(r->kp[0].sk, buf + 8 + FS_EXPORT_PK_BYTES, FS_EXPORT_SK_BYTES);
        rc = SRV_OK;
    } else if (n >= RING_HEAD && memcmp(buf, RING_MAGIC, 8) == 0) {
        uint64_t count = get_be(buf + 8, 4); /* checked against the size before use */
        if (count >= 1 && count <= RING_MAX && (uint64_t)n == RING_HEAD + count * RING_ENTRY) {
            for (size_t i = 0; i < count; i++) {
                const unsigned char *e = buf + RING_HEAD + i * RING_ENTRY;
                r->created[i] = get_be(e, 8);
                memcpy(r->kp[i].pk, e + 8, FS_EXPORT_PK_BYTES);
                memcpy(r->kp[i].sk, e + 8 + FS_EXPORT_PK_BYTES, FS_EXPORT_SK_BYTES);
            }
            r->n = count;
            rc = SRV_OK;
        }
    }
    if (rc != SRV_OK) {
        if (buf == NULL)
            srv_error(_("cannot read %s: out of memory"), path);
        else
            srv_error(_("%s is not an export key (damaged or cut short): restore it from a backup "
                        "of the server's directory"),
                      path);
    }
    sodium_free(buf); /* wiped */
    return rc;
}

/* Writes r as DIR/export.key: a new file (0600, synced) renamed over the
 * old one, the directory synced, so a crash leaves the old key file or
 * the new one, never half of one. SRV_OK or SRV_ERUNTIME (said). */
static int ring_write(const char *dir, const ring *r)
{
    char path[4200], tmp[4300];
    key_path(dir, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.new", path);
    size_t bytes = RING_HEAD + r->n * RING_ENTRY;
    unsigned char *img = sodium_malloc(RING_FILEBYTES);
    if (img == NULL) {
        srv_error(_("export-key: cannot write %s: out of memory"), path);
        return SRV_ERUNTIME;
    }
    memcpy(img, RING_MAGIC, 8);
    put_be(img + 8, r->n, 4);
    for (size_t i = 0; i < r->n; i++) {
        unsigned char *e = img + RING_HEAD + i * RING_ENTRY;
        put_be(e, r->created[i], 8);
        memcpy(e + 8, r->kp[i].pk, FS_EXPORT_PK_BYTES);
        memcpy(e + 8 + FS_EXPORT_PK_BYTES, r->kp[i].sk, FS_EXPORT_SK_BYTES);
    }
    (void)unlink(tmp); /* one a crash left: never renamed, so never the key */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    int ok = fd >= 0 && write(fd, img, bytes) == (ssize_t)bytes && fsync(fd) == 0;
    if (fd >= 0)
        ok = close(fd) == 0 && ok;
    sodium_free(img); /* wiped */
    ok = ok && rename(tmp, path) == 0;
    if (!ok) {
        (void)unlink(tmp);
        srv_error(_("export-key: cannot write %s; the key file is as it was"), path);
        return SRV_ERUNTIME;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return SRV_OK;
}

/* Reads DIR/export.key: the current public half into pk. */
static int key_read(const char *dir, uint8_t pk[FS_EXPORT_PK_BYTES], int quiet)
{
    ring *r = ring_new();
    if (r == NULL)
        return SRV_ERUNTIME;
    int rc = ring_read(dir, r, quiet);
    if (rc == SRV_OK)
        memcpy(pk, r->kp[r->n - 1].pk, FS_EXPORT_PK_BYTES);
    sodium_free(r);
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
    int rc = key_read(dir, pk, 1);
    if (rc == SRV_EUSAGE)
        return SRV_OK; /* none yet: export-key writes it to every team */
    if (rc != SRV_OK)
        return rc; /* a damaged key file: said */
    sodium_bin2hex(hex, sizeof hex, pk, sizeof pk);
    int frc = fs_store_team_set(s, team, FS_TEAM_EXPORT_PK, hex);
    return frc == 0 ? SRV_OK : srv_fail(s, "export key", frc);
}

/* The current key's public half to every team; *nteams the teams. */
static int pk_to_all_teams(fs_store *s, const char *dir, size_t *nteams)
{
    static _Thread_local teams t;
    t.n = 0;
    t.over = 0;
    *nteams = 0;
    int rc = SRV_OK, frc = fs_store_users(s, add_team, &t);
    if (t.over) { /* the key is made; each team gets it with team set --export */
        srv_error(_("export-key: more than 256 teams: give each the key with 'team set --team "
                    "TEAM --export MODE'"));
        rc = SRV_ERUNTIME;
    } else if (frc != 0) {
        rc = srv_fail(s, "export-key", frc);
    }
    for (size_t i = 0; rc == SRV_OK && i < t.n; i++)
        rc = srv_export_pk_to_team(s, dir, t.names[i]);
    *nteams = t.n;
    return rc;
}

/* Makes the first key: DIR/export.key as one key pair, never replaced. */
static int key_make(fs_store *s, const char *dir)
{
    char path[4200];
    key_path(dir, path, sizeof path);
    uint8_t pk[FS_EXPORT_PK_BYTES];
    unsigned char *img = sodium_malloc(KEYFILE_BYTES);
    if (img == NULL)
        return srv_fail(NULL, "export-key", FS_ENOMEM);
    memcpy(img, KEYFILE_MAGIC, 8);
    crypto_box_keypair(img + 8, img + 8 + FS_EXPORT_PK_BYTES);
    memcpy(pk, img + 8, sizeof pk);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        int exists = errno == EEXIST;
        if (exists)
            srv_error(_("export-key: %s exists already; it is kept, as every export sealed to "
                        "it must stay openable (a new key: export-key --rotate)"),
                      path);
        else
            srv_error(_("export-key: cannot create %s"), path);
        sodium_free(img);
        return exists ? SRV_EUSAGE : SRV_ERUNTIME;
    }
    int ok = write(fd, img, KEYFILE_BYTES) == KEYFILE_BYTES && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    sodium_free(img); /* the secret half wiped from memory */
    if (!ok) {
        unlink(path);
        srv_error(_("export-key: cannot write %s"), path);
        return SRV_ERUNTIME;
    }
    size_t nteams = 0;
    int rc = pk_to_all_teams(s, dir, &nteams);
    if (rc != SRV_OK)
        return rc;
    char hex[2 * FS_EXPORT_PK_BYTES + 1];
    sodium_bin2hex(hex, sizeof hex, pk, sizeof pk);
    fprintf(srv_out,
            _("export key made: %s (secret half in %s, 0600); its public half reaches the "
              "devices of %zu team(s) at their next sync\n"),
            hex, path, nteams);
    return SRV_OK;
}

/* --rotate: a new generation, the one devices seal to from their next
 * sync; the older ones kept for export open. Audited. */
static int key_rotate(fs_store *s, const char *dir, ring *r)
{
    int rc = ring_read(dir, r, 0);
    if (rc == SRV_EUSAGE) {
        srv_error(_("export-key --rotate: there is no export key to replace; make the first "
                    "with '%s export-key --data DIR'"),
                  SRV_PROG);
        return SRV_EUSAGE;
    }
    if (rc != SRV_OK)
        return rc;
    if (r->n == RING_MAX) {
        srv_error(_("export-key --rotate: %d keys are kept already; drop an old one with "
                    "export-key --retire FINGERPRINT"),
                  RING_MAX);
        return SRV_EUSAGE;
    }
    char oldfp[FP_CHARS + 1], newfp[FP_CHARS + 1], path[4200];
    fingerprint(r->kp[r->n - 1].pk, oldfp);
    time_t now = time(NULL);
    r->created[r->n] = now > 0 ? (uint64_t)now : 0;
    crypto_box_keypair(r->kp[r->n].pk, r->kp[r->n].sk);
    fingerprint(r->kp[r->n].pk, newfp);
    r->n++;
    rc = ring_write(dir, r);
    if (rc != SRV_OK)
        return rc;
    size_t nteams = 0;
    rc = pk_to_all_teams(s, dir, &nteams);
    char detail[128];
    snprintf(detail, sizeof detail, "generation %zu, replaces %s", r->n, oldfp);
    /* audited even when a team's setting failed: the key file has it */
    int frc = fs_audit_append(fs_store_audit(s), "export_key_rotate", "operator", newfp, detail);
    if (rc != SRV_OK)
        return rc;
    if (frc != 0)
        return srv_fail(s, "export-key --rotate", frc);
    key_path(dir, path, sizeof path);
    fprintf(srv_out,
            _("export key rotated: the new key %s (generation %zu) reaches the devices of %zu "
              "team(s) at their next sync; %s and the older keys stay in %s, so every export "
              "sealed to them still opens\n"),
            newfp, r->n, nteams, oldfp, path);
    return SRV_OK;
}

static int key_list(const char *dir, ring *r)
{
    int rc = ring_read(dir, r, 0);
    if (rc != SRV_OK)
        return rc;
    fprintf(srv_out, "%-*s  %-20s  %s\n", FP_CHARS, _("FINGERPRINT"), _("CREATED (UTC)"),
            _("STATE"));
    for (size_t i = 0; i < r->n; i++) {
        char fp[FP_CHARS + 1], when[32] = "?";
        fingerprint(r->kp[i].pk, fp);
        time_t t = (time_t)r->created[i];
        struct tm tm;
        if (r->created[i] > 0 && gmtime_r(&t, &tm) != NULL)
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        fprintf(srv_out, "%-*s  %-20s  %s\n", FP_CHARS, fp, when,
                i + 1 == r->n ? _("current: devices seal to it") : _("kept: opens older exports"));
    }
    return SRV_OK;
}

/* The generation whose public half starts with the hex digits fp (16 to
 * 64 of them, as --list shows); -1 when none (said). */
static long find_fp(const ring *r, const char *fp)
{
    size_t n = strlen(fp);
    int hex = n >= FP_CHARS && n <= 2 * FS_EXPORT_PK_BYTES;
    for (size_t i = 0; hex && i < n; i++)
        hex = isxdigit((unsigned char)fp[i]) != 0;
    if (!hex) {
        char shown[48];
        srv_printable(fp, shown, sizeof shown);
        srv_error(_("--retire: '%s' is not a fingerprint (16 hex digits, as export-key --list "
                    "shows them)"),
                  shown);
        return -1;
    }
    for (size_t i = 0; i < r->n; i++) {
        char full[2 * FS_EXPORT_PK_BYTES + 1];
        sodium_bin2hex(full, sizeof full, r->kp[i].pk, FS_EXPORT_PK_BYTES);
        if (strncasecmp(full, fp, n) == 0)
            return (long)i;
    }
    srv_error(_("--retire: no export key has the fingerprint %s (see export-key --list)"), fp);
    return -1;
}

/* --retire FP: drops an old generation (never the current one), with --yes. */
static int key_retire(fs_store *s, const char *dir, ring *r, const char *fp, int yes)
{
    int rc = ring_read(dir, r, 0);
    if (rc != SRV_OK)
        return rc;
    long i = find_fp(r, fp);
    if (i < 0)
        return SRV_EUSAGE;
    char shown[FP_CHARS + 1];
    fingerprint(r->kp[i].pk, shown);
    if ((size_t)i + 1 == r->n) {
        srv_error(_("--retire: %s is the current export key, the one devices seal to; rotate "
                    "first (export-key --rotate)"),
                  shown);
        return SRV_EUSAGE;
    }
    if (!yes) {
        srv_error(_("--retire: every export sealed to %s will no longer open; repeat with --yes "
                    "to drop it"),
                  shown);
        return SRV_EUSAGE;
    }
    sodium_memzero(&r->kp[i], sizeof r->kp[i]);
    memmove(&r->kp[i], &r->kp[i + 1], (r->n - (size_t)i - 1) * sizeof r->kp[0]);
    memmove(&r->created[i], &r->created[i + 1], (r->n - (size_t)i - 1) * sizeof r->created[0]);
    r->n--;
    sodium_memzero(&r->kp[r->n], sizeof r->kp[0]);
    rc = ring_write(dir, r);
    if (rc != SRV_OK)
        return rc;
    int frc = fs_audit_append(fs_store_audit(s), "export_key_retire", "operator", shown, "");
    if (frc != 0)
        return srv_fail(s, "export-key --retire", frc);
    fprintf(srv_out, _("export key %s dropped; %zu kept\n"), shown, r->n);
    return SRV_OK;
}

int srv_cmd_export_key(int argc, char **argv)
{
    const char *data = NULL, *retire = NULL;
    int rotate = 0, list = 0, yes = 0;
    const fs_opt opts[] = {{"--data", FS_OPT_VALUE, NULL, &data, NULL},
                           {"--rotate", FS_OPT_FLAG, &rotate, NULL, NULL},
                           {"--list", FS_OPT_FLAG, &list, NULL, NULL},
                           {"--retire", FS_OPT_VALUE, NULL, &retire, NULL},
                           {"--yes", FS_OPT_FLAG, &yes, NULL, NULL}};
    int rc = srv_parse(export_usage, opts, NOPTS(opts), argc, argv);
    if (rc == SRV_OK)
        rc = srv_require("export-key", "--data", data);
    if (rc != SRV_OK)
        return rc;
    if (rotate + list + (retire != NULL) > 1) {
        srv_error(_("export-key: give one of --rotate, --list and --retire"));
        return SRV_EUSAGE;
    }
    if (yes && retire == NULL) {
        srv_error(_("export-key: --yes goes with --retire"));
        return SRV_EUSAGE;
    }
    fs_store *s = NULL;
    rc = srv_open(data, &s); /* the operator may touch this store */
    if (rc != SRV_OK)
        return rc;
    const char *dir = srv_hosted_dir != NULL ? srv_hosted_dir : data;
    ring *r = ring_new();
    if (r == NULL)
        rc = srv_fail(NULL, "export-key", FS_ENOMEM);
    else if (rotate)
        rc = key_rotate(s, dir, r);
    else if (list)
        rc = key_list(dir, r);
    else if (retire != NULL)
        rc = key_retire(s, dir, r, retire, yes);
    else
        rc = key_make(s, dir);
    sodium_free(r); /* wiped */
    srv_close(s);
    return rc;
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
    ring *r = ring_new();
    if (r == NULL)
        return srv_fail(NULL, "export open", FS_ENOMEM);
    rc = ring_read(data, r, 0);
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
        /* the file names no recipient: every kept generation is tried */
        int frc = fs_export_open_stream_keys(in, fd, r->kp, r->n, NULL);
        if (frc == 0 && fsync(fd) != 0)
            frc = FS_EIO;
        if (frc != 0) {
            unlink(out);
            if (frc == FS_EAUTH && r->n == 1)
                srv_error(_("export open: %s was not sealed to the export key kept in %s "
                            "(sealed to a key dropped or another company's, or its head was "
                            "modified)"),
                          file, data);
            else if (frc == FS_EAUTH)
                srv_error(_("export open: %s was not sealed to any of the %zu export keys kept "
                            "in %s (sealed to a key dropped or another company's, or its head "
                            "was modified)"),
                          file, r->n, data);
            else if (frc == FS_EFORMAT)
                srv_error(_("export open: %s is not an export sealed to this company's key, "
                            "or it was cut short or modified"),
                          file);
            else
                srv_error("export open: %s", fs_strerror(frc));
            rc = frc == FS_EFORMAT || frc == FS_EAUTH ? SRV_EUSAGE : SRV_ERUNTIME;
        }
    }
    if (in >= 0)
        close(in);
    if (fd >= 0)
        close(fd);
    sodium_free(r); /* wiped */
    return rc;
}
