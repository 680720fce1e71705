/*
 * fieldsync attach RECORD FILE [--kind K], attachment list RECORD [--json],
 * attachment get ID --out FILE (issue 19.3; fieldsync/attach.h).
 *
 * attach reads the file's size first (fstat) and refuses one over the
 * limit (FS_ATTACH_DEFAULT_LIMIT, 20 MiB) before reading any of it; then
 * the file is hashed and stored chunk by chunk inside the encrypted replica
 * (core/attach.c: no temporary file, no copy elsewhere), with an
 * `attachment` record that syncs as any other. get writes the bytes to a
 * new file (never over an existing one, mode 0600) once this device holds
 * every chunk, checked against the hash first.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cmd.h"
#include "fieldsync/attach.h"
#include "fieldsync/schema.h"
#include "i18n.h"
#include "record.h"
#include "table.h"

/* The MIME type a file name says, by its extension. */
static const char *mime_of(const char *name)
{
    static const struct {
        const char *ext, *mime;
    } types[] = {{".pdf", "application/pdf"}, {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"},
                 {".png", "image/png"},       {".heic", "image/heic"}, {".tif", "image/tiff"},
                 {".tiff", "image/tiff"},     {".doc", "application/msword"},
                 {".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
                 {".txt", "text/plain"}};
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot != NULL && i < sizeof types / sizeof types[0]; i++)
        if (strcasecmp(dot, types[i].ext) == 0)
            return types[i].mime;
    return "application/octet-stream";
}

/* The file's name as the record keeps it: the last part of path, when it
 * is printable UTF-8 of at most FS_ATTACH_NAME_MAX bytes, else "file". */
static void file_name(const char *path, char *out, size_t size)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash != NULL ? slash + 1 : path;
    size_t n = strlen(base);
    int ok = n > 0 && n <= FS_ATTACH_NAME_MAX && fs_utf8_valid(base, n);
    for (size_t i = 0; ok && i < n; i++)
        if ((unsigned char)base[i] < 0x20 || base[i] == 0x7f)
            ok = 0;
    snprintf(out, size, "%s", ok ? base : "file");
}

/* The customer a record belongs to: itself for a customer, else its
 * customer column. FS_EINVAL when the record's kind has none. */
static int record_customer(fs_replica *r, const fs_table *t, const uint8_t id[FS_ID_BYTES],
                           uint8_t customer[FS_ID_BYTES])
{
    if (strcmp(t->name, "customer") == 0) {
        memcpy(customer, id, FS_ID_BYTES);
        return 0;
    }
    if (fs_schema_column_index(t, "customer") < 0)
        return FS_EINVAL;
    fs_rows *it = NULL;
    fs_value key = fs_blob(id, FS_ID_BYTES), v;
    int rc = fs_rows_open(&it, r, t->name, "id", &key, NULL);
    if (rc != 0)
        return rc;
    rc = FS_ENOTFOUND;
    if (fs_rows_next(it) == 1 && fs_rows_get(it, "customer", &v) == 0 && v.type == FS_BLOB &&
        v.n == FS_ID_BYTES) {
        memcpy(customer, v.p, FS_ID_BYTES);
        rc = 0;
    }
    fs_rows_close(it);
    return rc;
}

/* The live record whose id starts with hex, any kind: *t its table. */
static int find_record(fs_replica *r, const char *hex, const fs_table **t,
                       uint8_t id[FS_ID_BYTES])
{
    unsigned tix = 0, nt;
    int rc = cli_check_idprefix("RECORD", hex);
    if (rc != CLI_OK)
        return rc;
    int frc = fs_find_row(r, hex, &tix, id);
    if (frc == FS_ENOTFOUND || (frc == 0 && fs_exists(r, fs_schema_tables(&nt)[tix].name, id) != 1)) {
        cli_error(_("RECORD: no record with id %s here"), hex);
        return CLI_EUSAGE;
    }
    if (frc == FS_EEXIST) {
        cli_error(_("RECORD: %s matches more than one record; give more digits"), hex);
        return CLI_EUSAGE;
    }
    if (frc != 0)
        return cli_fail(r, "attach", frc);
    *t = &fs_schema_tables(&nt)[tix];
    return CLI_OK;
}

int cmd_attach(cli_ctx *ctx, int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    while (argc >= 1 && npos < 2 && strncmp(argv[0], "--", 2) != 0) {
        pos[npos++] = argv[0];
        argc--;
        argv++;
    }
    const char *kind = NULL;
    cli_opt opts[] = {{"--kind", CLI_VALUE, NULL, &kind, NULL}};
    int rc = cli_parse(ctx, USAGE_ATTACH, opts, 1, argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    if (kind == NULL)
        kind = "other";
    if (npos < 2) {
        cli_error(_("attach: give the record's id and the file"));
        cli_usage(stderr, USAGE_ATTACH);
        return CLI_EUSAGE;
    }
    if (!fs_attach_kind_valid(kind)) {
        cli_error(_("--kind: one of signed-requirement, signed-acceptance, card, contract, other"));
        return CLI_EUSAGE;
    }
    /* the size before anything is read: a file over the limit is refused */
    int fd = open(pos[1], O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        cli_error(_("attach: cannot read %s: %s"), pos[1], strerror(errno));
        if (fd >= 0)
            close(fd);
        return CLI_ERUNTIME;
    }
    if (!S_ISREG(sb.st_mode) || sb.st_size <= 0) {
        cli_error(_("attach: %s is not a regular file with something in it"), pos[1]);
        close(fd);
        return CLI_EUSAGE;
    }
    if ((uint64_t)sb.st_size > FS_ATTACH_DEFAULT_LIMIT) {
        cli_error(_("attach: %s is %llu bytes, over the limit of %u MiB per file"), pos[1],
                  (unsigned long long)sb.st_size, FS_ATTACH_DEFAULT_LIMIT >> 20);
        close(fd);
        return CLI_EUSAGE;
    }
    fs_replica *r = NULL;
    rc = cli_open(ctx, &r);
    if (rc != CLI_OK) {
        close(fd);
        return rc;
    }
    const fs_table *t = NULL;
    uint8_t id[FS_ID_BYTES], customer[FS_ID_BYTES], att[FS_ID_BYTES], hash[FS_ATTACH_HASH];
    rc = find_record(r, pos[0], &t, id);
    int frc = 0;
    if (rc == CLI_OK && (frc = record_customer(r, t, id, customer)) != 0) {
        if (frc == FS_EINVAL)
            cli_error(_("attach: a %s record has no customer; attach files to a customer's "
                        "records"),
                      t->name);
        else
            cli_error(_("RECORD: no record with id %s here"), pos[0]);
        rc = CLI_EUSAGE;
    }
    if (rc == CLI_OK) {
        char name[FS_ATTACH_NAME_MAX + 1], now[17];
        file_name(pos[1], name, sizeof name);
        cli_now(now);
        frc = fs_attach_file(r, fd, (uint64_t)sb.st_size, name, kind, mime_of(name), t->name, id,
                             customer, now, att, hash);
        if (frc != 0) {
            rc = cli_fail(r, "attach", frc);
        } else {
            char hex[2 * FS_ID_BYTES + 1];
            fs_id_to_hex(att, hex);
            printf("%s\n", hex);
        }
    }
    close(fd);
    fs_replica_close(r);
    return rc;
}

typedef struct list_ctx {
    cli_table *tab;
    cJSON *arr;
    int rc;
} list_ctx;

static int list_one(const fs_attachment *a, void *ctx)
{
    list_ctx *l = ctx;
    char id[2 * FS_ID_BYTES + 1], hash[2 * FS_ATTACH_HASH + 1], size[32];
    fs_id_to_hex(a->id, id);
    sodium_bin2hex(hash, sizeof hash, a->hash, FS_ATTACH_HASH);
    snprintf(size, sizeof size, "%llu", (unsigned long long)a->size);
    if (l->arr != NULL) {
        cJSON *o = cJSON_CreateObject();
        if (o == NULL || !cJSON_AddItemToArray(l->arr, o))
            return FS_ENOMEM;
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddStringToObject(o, "name", a->name);
        cJSON_AddStringToObject(o, "kind", a->kind);
        cJSON_AddStringToObject(o, "mime", a->mime);
        cJSON_AddNumberToObject(o, "size", (double)a->size);
        cJSON_AddStringToObject(o, "hash", hash);
        cJSON_AddStringToObject(o, "attached_at", a->attached_at);
        cJSON_AddBoolToObject(o, "held", a->held);
        return 0;
    }
    char shortid[9];
    snprintf(shortid, sizeof shortid, "%.8s", id);
    const char *cells[] = {shortid, a->name, a->kind, size, a->attached_at,
                           a->held ? _("here") : _("not fetched yet")};
    return cli_table_add(l->tab, cells);
}

int cmd_attachment_list(cli_ctx *ctx, int argc, char **argv)
{
    const char *hex = NULL;
    int json = 0;
    int rc = cli_parse_id_json(ctx, USAGE_ATTACHMENT_LIST, _("attachment list: give the record's id"), argc, argv, &hex, &json);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    fs_replica *r = NULL;
    rc = cli_open(ctx, &r);
    if (rc != CLI_OK)
        return rc;
    const fs_table *t = NULL;
    uint8_t id[FS_ID_BYTES];
    rc = find_record(r, hex, &t, id);
    if (rc != CLI_OK) {
        fs_replica_close(r);
        return rc;
    }
    static const cli_column cols[] = {{N_("ID"), 8},    {N_("FILE"), 40}, {N_("KIND"), 18},
                                      {N_("BYTES"), 10}, {N_("ATTACHED"), 16}, {N_("BYTES HERE"), 16}};
    list_ctx l = {NULL, NULL, 0};
    int frc = json ? ((l.arr = cJSON_CreateArray()) == NULL ? FS_ENOMEM : 0)
                   : cli_table_new(&l.tab, cols, 6);
    if (frc == 0)
        frc = fs_attach_each(r, id, list_one, &l);
    if (frc == 0 && json)
        frc = rec_json_print(l.arr, stdout);
    else if (frc == 0)
        cli_table_print(l.tab, stdout);
    if (frc != 0)
        rc = cli_fail(r, "attachment list", frc);
    cJSON_Delete(l.arr);
    cli_table_free(l.tab);
    fs_replica_close(r);
    return rc;
}

int cmd_attachment_get(cli_ctx *ctx, int argc, char **argv)
{
    const char *hex = NULL, *out = NULL;
    if (argc >= 1 && strncmp(argv[0], "--", 2) != 0) {
        hex = argv[0];
        argc--;
        argv++;
    }
    cli_opt opts[] = {{"--out", CLI_VALUE, NULL, &out, NULL}};
    int rc = cli_parse(ctx, USAGE_ATTACHMENT_GET, opts, 1, argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    if (hex == NULL || out == NULL || out[0] == '\0') {
        cli_error(_("attachment get: give the attachment's id and --out FILE"));
        cli_usage(stderr, USAGE_ATTACHMENT_GET);
        return CLI_EUSAGE;
    }
    rc = cli_check_idprefix("ID", hex);
    if (rc != CLI_OK)
        return rc;
    fs_replica *r = NULL;
    rc = cli_open(ctx, &r);
    if (rc != CLI_OK)
        return rc;
    fs_attachment a;
    int frc = fs_attach_find(r, hex, &a);
    int ok = 0;
    if (frc == FS_ENOTFOUND || frc == FS_EEXIST) {
        cli_error(frc == FS_ENOTFOUND ? _("ID: no attachment with id %s here")
                                      : _("ID: %s matches more than one attachment; give more "
                                          "digits"),
                  hex);
        fs_replica_close(r);
        return CLI_EUSAGE;
    }
    if (frc == 0)
        frc = fs_attach_verify(r, a.hash, a.size, &ok);
    if (frc != 0) {
        rc = cli_fail(r, "attachment get", frc);
        fs_replica_close(r);
        return rc;
    }
    if (!ok) {
        cli_error(_("attachment get: this device does not hold the file's bytes yet; run "
                    "sync and try again"));
        fs_replica_close(r);
        return CLI_ERUNTIME;
    }
    int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            cli_error(_("attachment get: %s exists; it is not overwritten"), out);
        else
            cli_error(_("attachment get: cannot create %s: %s"), out, strerror(errno));
        fs_replica_close(r);
        return errno == EEXIST ? CLI_EUSAGE : CLI_ERUNTIME;
    }
    uint8_t *buf = sodium_malloc(FS_ATTACH_CHUNK);
    frc = buf == NULL ? FS_ENOMEM : 0;
    uint32_t nc = fs_attach_nchunks(a.size);
    for (uint32_t i = 0; frc == 0 && i < nc; i++) {
        size_t n = 0, done = 0;
        frc = fs_attach_get_chunk(r, a.hash, i, buf, &n);
        while (frc == 0 && done < n) {
            ssize_t w = write(fd, buf + done, n - done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                frc = FS_EIO;
            else
                done += (size_t)w;
        }
    }
    sodium_free(buf);
    if (frc == 0 && fsync(fd) != 0)
        frc = FS_EIO;
    if (close(fd) != 0 && frc == 0)
        frc = FS_EIO;
    if (frc != 0) {
        unlink(out);
        rc = cli_fail(r, "attachment get", frc);
    } else {
        printf(_("wrote %s (%llu bytes)\n"), out, (unsigned long long)a.size);
    }
    fs_replica_close(r);
    return rc;
}
