/*
 * serve's configuration file (fieldsync.conf(5)): the environment file
 * systemd reads for fieldsync-server.service, read by serve itself too, at
 * start and again on SIGHUP (serve.c).
 *
 * The format is systemd's EnvironmentFile= subset: one KEY=value a line,
 * '#' or ';' comments, blank lines, a value optionally in single or double
 * quotes. Keys are FIELDSYNC_*; one that serve does not know is an error
 * naming the file, the line and the key, so that a typo never passes for a
 * setting. Values are never echoed: the file holds the store's passphrase.
 */
#include <libintl.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "srv.h"

#define _(s) gettext(s) /* the operator's language: srv_lang */

#define CONF_MAX (64 * 1024) /* bytes of the file */

typedef struct key_slot {
    const char *key;
    size_t off; /* of the char * in srv_conf; SIZE_MAX: accepted, not kept */
} key_slot;

static const key_slot keys[] = {
    {"FIELDSYNC_DATA", offsetof(srv_conf, data)},
    {"FIELDSYNC_LISTEN", offsetof(srv_conf, listen)},
    {"FIELDSYNC_LEASE", offsetof(srv_conf, lease)},
    {"FIELDSYNC_TLS_CERT", offsetof(srv_conf, tls_cert)},
    {"FIELDSYNC_TLS_KEY", offsetof(srv_conf, tls_key)},
    {"FIELDSYNC_INSECURE_HTTP", offsetof(srv_conf, insecure_http)},
    /* Read by systemd into serve's environment: serve takes the passphrase
     * from there (or the terminal), and the extra options on its command
     * line, as the unit's ExecStart puts them. */
    {"FIELDSYNC_PASSPHRASE", (size_t)-1},
    {"FIELDSYNC_SERVE_OPTIONS", (size_t)-1},
};
#define NKEYS (sizeof keys / sizeof keys[0])

void srv_conf_free(srv_conf *c)
{
    free(c->data);
    free(c->listen);
    free(c->lease);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->insecure_http);
    memset(c, 0, sizeof *c);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* One line (NUL-terminated, no newline). 0, or 1 with the error printed. */
static int take_line(srv_conf *c, const char *path, unsigned lineno, char *line,
                     unsigned seen[NKEYS], int *has_pass)
{
    while (is_space(*line))
        line++;
    size_t n = strlen(line);
    while (n > 0 && (is_space(line[n - 1]) || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (n == 0 || line[0] == '#' || line[0] == ';')
        return 0;
    char *eq = strchr(line, '=');
    size_t klen = eq != NULL ? (size_t)(eq - line) : 0;
    while (klen > 0 && is_space(line[klen - 1]))
        klen--;
    int ok = eq != NULL && klen > 0 && klen <= 64;
    for (size_t i = 0; ok && i < klen; i++) {
        char k = line[i];
        ok = (k >= 'A' && k <= 'Z') || (k >= '0' && k <= '9') || k == '_' ||
             (k >= 'a' && k <= 'z');
    }
    if (!ok) {
        srv_error(_("%s:%u: expected KEY=value (a name of letters, digits and _)"), path, lineno);
        return 1;
    }
    size_t k = 0;
    while (k < NKEYS && (strlen(keys[k].key) != klen || memcmp(keys[k].key, line, klen) != 0))
        k++;
    if (k == NKEYS) {
        srv_error(_("%s:%u: unknown setting %.*s (known: FIELDSYNC_DATA, FIELDSYNC_LISTEN, "
                  "FIELDSYNC_LEASE, FIELDSYNC_TLS_CERT, FIELDSYNC_TLS_KEY, "
                  "FIELDSYNC_INSECURE_HTTP, FIELDSYNC_PASSPHRASE, FIELDSYNC_SERVE_OPTIONS)"),
                  path, lineno, (int)klen, line);
        return 1;
    }
    if (seen[k] != 0) {
        srv_error(_("%s:%u: %s is set twice (first on line %u)"), path, lineno, keys[k].key, seen[k]);
        return 1;
    }
    seen[k] = lineno;
    if (keys[k].off == (size_t)-1) {
        if (strcmp(keys[k].key, "FIELDSYNC_PASSPHRASE") == 0)
            *has_pass = 1;
        return 0;
    }
    char *v = eq + 1;
    while (is_space(*v))
        v++;
    size_t vlen = strlen(v);
    if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') && v[vlen - 1] == v[0]) {
        v++;
        vlen -= 2;
    }
    for (size_t i = 0; i < vlen; i++) {
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) {
            srv_error(_("%s:%u: %s holds a control character"), path, lineno, keys[k].key);
            return 1;
        }
    }
    if (vlen == 0)
        return 0; /* set to nothing: as if not set */
    char *copy = strndup(v, vlen);
    if (copy == NULL) {
        srv_error(_("out of memory"));
        return 1;
    }
    *(char **)((char *)c + keys[k].off) = copy;
    return 0;
}

int srv_conf_load(const char *path, srv_conf *out)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        srv_error(_("--config: cannot open %s: %s"), path, strerror(errno));
        return SRV_EUSAGE;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CONF_MAX) {
        srv_error(_("--config: %s is not a regular file of at most %d KiB"), path, CONF_MAX / 1024);
        close(fd);
        return SRV_EUSAGE;
    }
    /* The file holds the passphrase: guarded memory, wiped on free. */
    size_t cap = (size_t)st.st_size + 1;
    char *buf = sodium_malloc(cap);
    if (buf == NULL) {
        close(fd);
        srv_error(_("out of memory"));
        return SRV_ERUNTIME;
    }
    size_t got = 0;
    while (got < cap - 1) {
        ssize_t r = read(fd, buf + got, cap - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    if (memchr(buf, '\0', got) != NULL) {
        srv_error(_("--config: %s is not a text file (it holds a NUL byte)"), path);
        sodium_free(buf);
        return SRV_EUSAGE;
    }
    unsigned seen[NKEYS] = {0};
    int has_pass = 0, bad = 0;
    unsigned lineno = 0;
    for (char *line = buf; line != NULL && !bad;) {
        char *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        lineno++;
        bad = take_line(out, path, lineno, line, seen, &has_pass);
        line = nl != NULL ? nl + 1 : NULL;
    }
    sodium_free(buf);
    if (!bad && has_pass && (st.st_mode & S_IRWXO) != 0) {
        srv_error(_("--config: %s holds FIELDSYNC_PASSPHRASE and every user of this machine can "
                  "read it (mode %04o): chmod o-rwx %s"),
                  path, (unsigned)(st.st_mode & 07777), path);
        bad = 1;
    }
    if (!bad && out->insecure_http != NULL && srv_conf_flag(out->insecure_http) < 0) {
        unsigned at = 0;
        for (size_t k = 0; k < NKEYS; k++)
            if (keys[k].off == offsetof(srv_conf, insecure_http))
                at = seen[k];
        srv_error(_("%s:%u: FIELDSYNC_INSECURE_HTTP is yes or no"), path, at);
        bad = 1;
    }
    if (bad) {
        srv_conf_free(out);
        return SRV_EUSAGE;
    }
    return SRV_OK;
}

int srv_conf_flag(const char *v)
{
    if (v == NULL)
        return 0;
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    }
    return -1;
}
