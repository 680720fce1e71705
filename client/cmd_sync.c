/*
 * Commands that talk to the server: enroll (join with a one-time code and
 * pin the server's key), sync (exchange changes until in sync), status
 * (what is waiting to be sent, what the server refused) and daemon (sync by
 * itself).
 *
 * The server's address is kept in the encrypted replica as a URL of the one
 * form "ws://HOST:PORT" (fs_replica_set_server), parsed strictly both when
 * the user types it and when sync reads it back. The transport
 * (fieldsync/transport.h) does the rest; a failed sync leaves every local
 * change in place, to be sent next time.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <sodium.h>

#include "agent.h"
#include "cmd.h"
#include "fieldsync/calendar.h"
#include "fieldsync/clock.h"
#include "fieldsync/enroll.h"
#include "fieldsync/msg.h"
#include "fieldsync/schema.h"
#include "fieldsync/transport.h"
#include "record.h"

#define ENROLL_TIMEOUT_MS 30000
#define SYNC_TIMEOUT_MS   60000
#define HOST_MAX          253 /* a DNS name at its longest */

/* A parsed "ws://HOST:PORT" (a trailing "/" allowed). */
typedef struct server_addr {
    char host[HOST_MAX + 1];
    int port;
} server_addr;

static int host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
}

/* NULL if url is a server URL we accept (and *out holds it), else why not. */
static const char *url_problem(const char *url, server_addr *out)
{
    const char *p, *colon;
    size_t hostlen, portlen;
    long port = 0;

    memset(out, 0, sizeof *out);
    if (strlen(url) > FS_SERVER_URL_MAX)
        return "too long";
    if (strncmp(url, "ws://", 5) != 0)
        return strncmp(url, "wss://", 6) == 0 ? "wss:// is not supported; use ws://"
                                              : "must start with ws://";
    p = url + 5;
    colon = strchr(p, ':');
    if (colon == NULL)
        return "missing :PORT";
    hostlen = (size_t)(colon - p);
    if (hostlen == 0)
        return "missing host";
    if (hostlen > HOST_MAX)
        return "host too long";
    for (size_t i = 0; i < hostlen; i++)
        if (!host_char(p[i]))
            return "host may hold only letters, digits, '.' and '-'";
    if (p[0] == '-' || p[0] == '.')
        return "host must start with a letter or digit";
    portlen = strlen(colon + 1);
    if (portlen > 0 && colon[portlen] == '/')
        portlen--; /* one trailing slash */
    if (portlen == 0)
        return "missing port";
    if (portlen > 5)
        return "port must be 1-65535";
    for (size_t i = 0; i < portlen; i++) {
        char c = colon[1 + i];
        if (c < '0' || c > '9')
            return "port must be a number 1-65535";
        port = port * 10 + (c - '0');
    }
    if (colon[1] == '0' || port < 1 || port > 65535)
        return "port must be 1-65535";
    memcpy(out->host, p, hostlen);
    out->host[hostlen] = '\0';
    out->port = (int)port;
    return NULL;
}

/* Parses the --server value; on a bad one prints why, naming the flag,
 * echoing the value only if it is short and printable. */
static int parse_server_flag(const char *url, server_addr *out)
{
    const char *why = url_problem(url, out);
    size_t n = strlen(url);
    int printable = n <= 80;
    if (why == NULL)
        return CLI_OK;
    for (size_t i = 0; printable && i < n; i++)
        printable = url[i] >= 0x20 && url[i] <= 0x7E;
    if (printable)
        cli_error("--server: expected ws://HOST:PORT, got \"%s\": %s", url, why);
    else
        cli_error("--server: expected ws://HOST:PORT: %s", why);
    return CLI_EUSAGE;
}

static void key_hex16(const uint8_t pk[FS_SIGN_PK_BYTES], char out[17])
{
    sodium_bin2hex(out, 17, pk, 8);
}

/* Creates the replica in home (asking for a new passphrase, as init does)
 * or opens the one there. */
static int open_or_create(const cli_ctx *ctx, const char *home, fs_replica **out)
{
    cli_pass pass = {NULL, 0};
    int rc;

    *out = NULL;
    if (cli_replica_exists(home))
        return cli_open_locked(ctx, out);
    rc = cli_pass_get(&pass, "FIELDSYNC_PASSPHRASE", "New passphrase: ", "Repeat the passphrase: ");
    if (rc != CLI_OK)
        return rc;
    rc = fs_replica_create(out, home, pass.buf, pass.len, NULL);
    cli_pass_free(&pass);
    if (rc != 0) {
        *out = NULL;
        cli_error("enroll: creating the replica in %s: %s", home, fs_strerror(rc));
        return CLI_ERUNTIME;
    }
    printf("created an encrypted replica in %s\n", home);
    return CLI_OK;
}

int cmd_enroll(cli_ctx *ctx, int argc, char **argv)
{
    const char *url = NULL, *code = NULL, *name = NULL, *home;
    const cli_opt opts[] = {
        {"--server", CLI_VALUE, NULL, &url, NULL},
        {"--code", CLI_VALUE, NULL, &code, NULL},
        {"--name", CLI_VALUE, NULL, &name, NULL},
    };
    uint8_t server_pk[FS_SIGN_PK_BYTES], secret[FS_ENROLL_SECRET_BYTES];
    uint8_t old_pk[FS_SIGN_PK_BYTES];
    char old_url[FS_SERVER_URL_MAX + 1], hostname[256], err[256], keyhex[17];
    fs_enroll_request req;
    fs_identity *id = NULL;
    fs_replica *r = NULL;
    server_addr addr;
    int rc, frc;

    memset(&req, 0, sizeof req);
    rc = cli_parse(ctx, USAGE_ENROLL, opts, sizeof opts / sizeof opts[0], argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    rc = cli_require("enroll", "--server", url);
    if (rc == CLI_OK)
        rc = cli_require("enroll", "--code", code);
    if (rc == CLI_OK)
        rc = parse_server_flag(url, &addr);
    if (rc != CLI_OK)
        return rc;
    /* The code is a secret: never echoed. */
    if (fs_enroll_code_parse(code, server_pk, secret) != 0) {
        cli_error("--code: not a valid enrollment code (expected FS1- and %d letters, digits, "
                  "'-' or '_', as fieldsync-server enroll-code prints it)",
                  FS_ENROLL_CODE_CHARS - 4);
        return CLI_EUSAGE;
    }
    if (name == NULL) {
        if (gethostname(hostname, sizeof hostname) != 0 || hostname[0] == '\0')
            snprintf(hostname, sizeof hostname, "device");
        hostname[sizeof hostname - 1] = '\0';
        name = hostname;
    } else if (cli_blank(name)) {
        cli_error("--name: must not be empty");
        rc = CLI_EUSAGE;
        goto done;
    }
    rc = cli_check_text("--name", name);
    if (rc != CLI_OK)
        goto done;
    if (strlen(name) >= sizeof req.device_name) {
        if (name == hostname) {
            name = "device";
        } else {
            cli_error("--name: too long (at most %zu bytes)", sizeof req.device_name - 1);
            rc = CLI_EUSAGE;
            goto done;
        }
    }
    rc = cli_home(ctx, &home);
    if (rc != CLI_OK)
        goto done;
    rc = open_or_create(ctx, home, &r);
    if (rc != CLI_OK)
        goto done;

    frc = fs_replica_server(r, old_url, old_pk);
    if (frc == 0) {
        cli_error("enroll: this replica is already enrolled with the server at %s", old_url);
        rc = CLI_ERUNTIME;
        goto done;
    }
    if (frc != FS_ENOTFOUND) {
        rc = cli_fail(r, "enroll: reading the replica", frc);
        goto done;
    }
    frc = fs_replica_identity(r, &id);
    if (frc != 0) {
        rc = cli_fail(r, "enroll: reading the device identity", frc);
        goto done;
    }
    fs_enroll_request_code(secret, req.code);
    memcpy(req.device_pk, id->pk, sizeof req.device_pk);
    snprintf(req.device_name, sizeof req.device_name, "%s", name);

    err[0] = '\0';
    frc =
        fs_ws_enroll(r, server_pk, &req, addr.host, addr.port, ENROLL_TIMEOUT_MS, err, sizeof err);
    if (frc == FS_EAUTH) {
        cli_error("the server refused the enrollment code");
        rc = CLI_ERUNTIME;
        goto done;
    }
    if (frc != 0) {
        cli_error("enroll: %s", err[0] != '\0' ? err : fs_strerror(frc));
        rc = CLI_ERUNTIME;
        goto done;
    }
    frc = fs_replica_set_server(r, url, server_pk);
    if (frc != 0) {
        rc = cli_fail(r, "enroll: saving the server", frc);
        goto done;
    }
    key_hex16(server_pk, keyhex);
    printf("enrolled with the server at %s:%d (key %s)\n", addr.host, addr.port, keyhex);
    rc = CLI_OK;

done:
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(&req, sizeof req);
    fs_identity_free(id);
    fs_replica_close(r);
    return rc;
}

/* Reads the server this replica is enrolled with. Returns CLI_OK,
 * CLI_ERUNTIME (not enrolled, or a stored URL we cannot use). */
static int read_server(fs_replica *r, server_addr *addr, uint8_t pk[FS_SIGN_PK_BYTES])
{
    char url[FS_SERVER_URL_MAX + 1];
    int frc = fs_replica_server(r, url, pk);
    if (frc == FS_ENOTFOUND) {
        cli_error("not enrolled: run fieldsync enroll");
        return CLI_ERUNTIME;
    }
    if (frc != 0)
        return cli_fail(r, "reading the server from the replica", frc);
    if (url_problem(url, addr) != NULL) {
        cli_error("the replica holds an unusable server address; enroll again");
        return CLI_ERUNTIME;
    }
    return CLI_OK;
}

int cmd_sync(cli_ctx *ctx, int argc, char **argv)
{
    uint8_t pk[FS_SIGN_PK_BYTES];
    fs_replica_status before, after;
    fs_replica *r = NULL;
    server_addr addr;
    char err[256];
    int rc, frc;

    rc = cli_parse(ctx, USAGE_SYNC, NULL, 0, argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    rc = cli_open_locked(ctx, &r);
    if (rc != CLI_OK)
        return rc;
    rc = read_server(r, &addr, pk);
    if (rc != CLI_OK)
        goto done;
    frc = fs_replica_status_get(r, &before);
    if (frc != 0) {
        rc = cli_fail(r, "sync: reading the replica", frc);
        goto done;
    }
    err[0] = '\0';
    frc = fs_ws_sync(r, pk, addr.host, addr.port, SYNC_TIMEOUT_MS, err, sizeof err);
    if (frc != 0) {
        const char *msg = err[0] != '\0' ? err : fs_strerror(frc);
        if (frc == FS_EREVOKED) {
            /* The server said to wipe: keys and data are destroyed. */
            const char *home = NULL;
            cli_error("sync: this device was revoked by the server: %s", msg);
            fs_replica_close(r);
            r = NULL;
            if (cli_home(ctx, &home) == CLI_OK && fs_replica_wipe(home) == 0)
                cli_error("sync: the replica in %s was wiped", home);
            else
                cli_error("sync: wiping the replica failed: remove it by hand");
        } else if (frc == FS_EAUTH)
            cli_error("sync: %s", msg);
        else
            cli_error("sync: %s; local changes are kept and will be sent next time", msg);
        rc = CLI_ERUNTIME;
        goto done;
    }
    frc = fs_replica_status_get(r, &after);
    if (frc != 0) {
        rc = cli_fail(r, "sync: reading the replica", frc);
        goto done;
    }
    printf(
        "in sync: %llu changes sent, cursor %llu",
        (unsigned long long)(before.pending > after.pending ? before.pending - after.pending : 0),
        (unsigned long long)after.cursor);
    if (after.refused > 0)
        printf(", %llu refused (see fieldsync status)", (unsigned long long)after.refused);
    if (after.open_conflicts > 0)
        printf(", %llu open conflicts", (unsigned long long)after.open_conflicts);
    putchar('\n');
    rc = CLI_OK;

done:
    fs_replica_close(r);
    return rc;
}

/* ---- status ---- */

typedef struct refusal_walk {
    cJSON *list; /* JSON output, or NULL: print lines on stdout */
} refusal_walk;

static int refusal_cb(const fs_refusal *f, void *ctx)
{
    refusal_walk *w = ctx;
    const char *table, *column;
    char rowhex[2 * FS_ID_BYTES + 1];
    cJSON *obj;

    column = rec_schema_column(f->table, f->column, &table)->name;
    fs_id_to_hex(f->row, rowhex);
    if (w->list == NULL) {
        printf("  %s.%s (row %.8s): %s", table, column, rowhex, fs_reason_text(f->reason));
        if (f->text_len > 0) {
            /* The server's words: control characters cannot drive the terminal. */
            fputs(": ", stdout);
            for (size_t i = 0; i < f->text_len; i++)
                putchar((unsigned char)f->text[i] < 0x20 || f->text[i] == 0x7F ? '?' : f->text[i]);
        }
        putchar('\n');
        return 0;
    }
    obj = cJSON_CreateObject();
    if (rec_json_add(w->list, NULL, obj) != 0)
        return FS_ENOMEM;
    if (rec_json_add(obj, "table", cJSON_CreateString(table)) != 0 ||
        rec_json_add(obj, "column", cJSON_CreateString(column)) != 0 ||
        rec_json_add(obj, "row", cJSON_CreateString(rowhex)) != 0 ||
        rec_json_add(obj, "reason", cJSON_CreateNumber((double)f->reason)) != 0 ||
        rec_json_add(obj, "reason_text", cJSON_CreateString(fs_reason_text(f->reason))) != 0)
        return FS_ENOMEM;
    {
        char *text = malloc(f->text_len + 1);
        cJSON *item;
        if (text == NULL)
            return FS_ENOMEM;
        memcpy(text, f->text, f->text_len);
        text[f->text_len] = '\0';
        item = cJSON_CreateString(text);
        free(text);
        if (rec_json_add(obj, "detail", item) != 0)
            return FS_ENOMEM;
    }
    return 0;
}

/* "3d 4h", "2h 5m", "7m", "under a minute" */
static void format_span(uint64_t ms, char *out, size_t size)
{
    uint64_t m = ms / 60000u, h = m / 60u, d = h / 24u;
    if (d > 0)
        snprintf(out, size, "%llud %lluh", (unsigned long long)d, (unsigned long long)(h % 24));
    else if (h > 0)
        snprintf(out, size, "%lluh %llum", (unsigned long long)h, (unsigned long long)(m % 60));
    else if (m > 0)
        snprintf(out, size, "%llum", (unsigned long long)m);
    else
        snprintf(out, size, "under a minute");
}

static void format_age(uint64_t ms, char *out, size_t size)
{
    char span[48];
    format_span(ms, span, sizeof span);
    snprintf(out, size, "%s ago", span);
}

/* The lease line of status: when it ends, or that it has. */
static void format_lease(const fs_replica_status *st, uint64_t now, char *out, size_t size)
{
    char when[32], span[48];
    if (st->lease_expires_ms == 0) {
        snprintf(out, size, "none yet (granted at the first sync)");
        return;
    }
    if (fs_instant_format(when, sizeof when, st->lease_expires_ms, 0, "%Y-%m-%d %H:%M") != 0)
        snprintf(when, sizeof when, "?");
    if (st->locked) {
        snprintf(out, size, "ended %s: LOCKED until the server renews it (sync)", when);
        return;
    }
    format_span(st->lease_expires_ms - now, span, sizeof span);
    snprintf(out, size, "until %s (%s left)", when, span);
}

/* The unlock agent's state for status --json: null when none runs. */
static cJSON *agent_json(const char *home)
{
    uint32_t left, pid;
    if (agent_status(home, &left, &pid) != 0)
        return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    if (o != NULL && (rec_json_add(o, "pid", cJSON_CreateNumber(pid)) ||
                      rec_json_add(o, "idle_left_s", cJSON_CreateNumber(left)))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int status_json(fs_replica *r, const char *home, const fs_replica_status *st,
                       const char *url, const uint8_t *pk, uint64_t age_ms)
{
    cJSON *obj = cJSON_CreateObject(), *list;
    refusal_walk w = {NULL};
    char keyhex[17];
    int rc;

    if (obj == NULL)
        return cli_fail(NULL, "status", FS_ENOMEM);
    if (pk != NULL)
        key_hex16(pk, keyhex);
    list = cJSON_CreateArray();
    w.list = list;
    if (rec_json_add(obj, "server", url != NULL ? cJSON_CreateString(url) : cJSON_CreateNull()) ||
        rec_json_add(obj, "server_key",
                     pk != NULL ? cJSON_CreateString(keyhex) : cJSON_CreateNull()) ||
        rec_json_add(obj, "pending", cJSON_CreateNumber((double)st->pending)) ||
        rec_json_add(obj, "oldest_pending_ms",
                     st->pending > 0 ? cJSON_CreateNumber((double)st->oldest_pending_ms)
                                     : cJSON_CreateNull()) ||
        rec_json_add(obj, "oldest_pending_age_s",
                     st->pending > 0 ? cJSON_CreateNumber((double)(age_ms / 1000u))
                                     : cJSON_CreateNull()) ||
        rec_json_add(obj, "last_sync_ms",
                     st->last_sync_ms > 0 ? cJSON_CreateNumber((double)st->last_sync_ms)
                                          : cJSON_CreateNull()) ||
        rec_json_add(obj, "cursor", cJSON_CreateNumber((double)st->cursor)) ||
        rec_json_add(obj, "open_conflicts", cJSON_CreateNumber((double)st->open_conflicts)) ||
        rec_json_add(obj, "refused_count", cJSON_CreateNumber((double)st->refused)) ||
        rec_json_add(obj, "lease_expires_ms",
                     st->lease_expires_ms > 0 ? cJSON_CreateNumber((double)st->lease_expires_ms)
                                              : cJSON_CreateNull()) ||
        rec_json_add(obj, "locked", cJSON_CreateBool(st->locked)) ||
        rec_json_add(obj, "agent", agent_json(home)) || rec_json_add(obj, "refused", list)) {
        rc = cli_fail(NULL, "status", FS_ENOMEM);
        goto done;
    }
    rc = fs_refusals(r, refusal_cb, &w);
    if (rc != 0) {
        rc = cli_fail(rc == FS_ENOMEM ? NULL : r, "status: reading the refusals", rc);
        goto done;
    }
    rc = rec_json_print(obj, stdout);
    if (rc != 0)
        rc = cli_fail(NULL, "status", rc);

done:
    cJSON_Delete(obj);
    return rc == 0 ? CLI_OK : CLI_ERUNTIME;
}

int cmd_status(cli_ctx *ctx, int argc, char **argv)
{
    int json = 0;
    const cli_opt opts[] = {{"--json", CLI_FLAG, &json, NULL, NULL}};
    char url[FS_SERVER_URL_MAX + 1], keyhex[17], age[128];
    uint8_t pk[FS_SIGN_PK_BYTES];
    fs_replica_status st;
    fs_replica *r = NULL;
    uint64_t age_ms = 0, now;
    int rc, frc, enrolled;

    rc = cli_parse(ctx, USAGE_STATUS, opts, sizeof opts / sizeof opts[0], argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    rc = cli_open_locked(ctx, &r);
    if (rc != CLI_OK)
        return rc;
    frc = fs_replica_status_get(r, &st);
    if (frc != 0) {
        rc = cli_fail(r, "status: reading the replica", frc);
        goto done;
    }
    frc = fs_replica_server(r, url, pk);
    if (frc != 0 && frc != FS_ENOTFOUND) {
        rc = cli_fail(r, "status: reading the server", frc);
        goto done;
    }
    enrolled = frc == 0;
    now = fs_clock_wall_ms();
    if (st.pending > 0 && st.oldest_pending_ms > 0 && now > st.oldest_pending_ms)
        age_ms = now - st.oldest_pending_ms;

    if (json) {
        rc = status_json(r, ctx->home, &st, enrolled ? url : NULL, enrolled ? pk : NULL, age_ms);
        goto done;
    }
    if (enrolled) {
        key_hex16(pk, keyhex);
        printf("server:          %s (key %s)\n", url, keyhex);
    } else {
        printf("server:          not enrolled\n");
    }
    printf("pending changes: %llu\n", (unsigned long long)st.pending);
    if (st.pending > 0)
        format_age(age_ms, age, sizeof age);
    else
        snprintf(age, sizeof age, "none");
    printf("oldest pending:  %s\n", age);
    if (st.last_sync_ms == 0)
        snprintf(age, sizeof age, "never");
    else
        format_age(now > st.last_sync_ms ? now - st.last_sync_ms : 0, age, sizeof age);
    printf("last sync:       %s\n", age);
    printf("cursor:          %llu\n", (unsigned long long)st.cursor);
    printf("open conflicts:  %llu\n", (unsigned long long)st.open_conflicts);
    printf("refused changes: %llu\n", (unsigned long long)st.refused);
    format_lease(&st, now, age, sizeof age);
    printf("lease:           %s\n", age);
    uint32_t left, pid;
    if (agent_status(ctx->home, &left, &pid) == 0)
        printf("unlock agent:    running (pid %u); wipes the key after %um %02us idle\n", pid,
               left / 60u, left % 60u);
    else
        printf("unlock agent:    not running\n");
    if (st.refused > 0) {
        refusal_walk w = {NULL};
        frc = fs_refusals(r, refusal_cb, &w);
        if (frc != 0) {
            rc = cli_fail(r, "status: reading the refusals", frc);
            goto done;
        }
    }
    rc = CLI_OK;

done:
    fs_replica_close(r);
    return rc;
}

/* ---- daemon ---- */

/* The daemon syncs by itself. It takes the key from the unlock agent at each
 * sync (or keeps its own, unwrapped once, when $FIELDSYNC_PASSPHRASE gave it)
 * and keeps the replica closed between syncs, so the other commands can
 * write; while the agent is gone it waits, locked. It
 * looks at the replica's files five times a second and syncs within a
 * second of a local change, pulls every --interval seconds, and while the
 * server is unreachable retries with exponential backoff plus jitter,
 * capped at 8 s so a returning server is noticed within about 10 s. Whether
 * the server answers is checked with a plain TCP connection first, so being
 * offline costs no handshake. A revoked device is wiped. A sync renews the
 * device's lease, so the daemon works on a locked device too. */

#define DAEMON_TICK_MS        200
#define DAEMON_BACKOFF_MIN_MS 1000
#define DAEMON_BACKOFF_MAX_MS 8000
#define DAEMON_LOCKED_RETRY_MS 1000
#define USAGE_DAEMON_TEXT     USAGE_DAEMON

static volatile sig_atomic_t daemon_stop;

static void daemon_on_signal(int sig)
{
    (void)sig;
    daemon_stop = 1;
}

/* What the replica's files look like: a change means a local write. */
typedef struct file_stamp {
    long long mtime_ns[2], size[2];
} file_stamp;

static void take_stamp(const char *home, file_stamp *s)
{
    static const char *const names[2] = {"replica.db", "replica.db-wal"};
    memset(s, 0, sizeof *s);
    for (int i = 0; i < 2; i++) {
        char path[4200];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", home, names[i]);
        if (stat(path, &st) == 0) {
            s->mtime_ns[i] = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
            s->size[i] = (long long)st.st_size;
        }
    }
}

/* 1 if something accepts TCP connections at host:port within 2 s. */
static int reachable(const char *host, int port)
{
    struct addrinfo hints, *res = NULL;
    char portstr[8];
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    snprintf(portstr, sizeof portstr, "%d", port);
    if (getaddrinfo(host, portstr, &hints, &res) != 0)
        return 0;
    int ok = 0;
    for (struct addrinfo *a = res; a != NULL && !ok; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            ok = 1;
        } else if (errno == EINPROGRESS) {
            struct pollfd p = {fd, POLLOUT, 0};
            int err = 0;
            socklen_t len = sizeof err;
            if (poll(&p, 1, 2000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
                err == 0)
                ok = 1;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return ok;
}

static void daemon_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void daemon_log(const char *fmt, ...)
{
    char when[32];
    if (fs_instant_format(when, sizeof when, (int64_t)fs_clock_wall_ms(), 0, "%H:%M:%S") != 0)
        snprintf(when, sizeof when, "?");
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", when);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    va_end(ap);
}

/* The daemon's key: its own (given by $FIELDSYNC_PASSPHRASE, for
 * automation) or the unlock agent's, asked for at each sync so the agent's
 * idle timeout applies to the daemon too. */
typedef struct daemon_key {
    fs_secret *own;
    int locked_logged;
} daemon_key;

/* The key for one sync, or NULL while the agent is gone (logged once). */
static fs_secret *daemon_key_get(daemon_key *k, const char *home)
{
    if (k->own != NULL)
        return k->own;
    fs_secret *s = NULL;
    int rc = agent_key(home, 1, &s);
    if (rc == 0) {
        if (k->locked_logged)
            daemon_log("unlocked again: syncing");
        k->locked_logged = 0;
        return s;
    }
    if (!k->locked_logged)
        daemon_log("locked: the unlock agent has wiped the key (idle timeout or 'fieldsync "
                   "lock'); local changes wait until 'fieldsync unlock'");
    k->locked_logged = 1;
    return NULL;
}

static void daemon_key_put(daemon_key *k, fs_secret *s)
{
    if (s != k->own)
        fs_secret_free(s);
}

/* Gets the key the first time: from a running agent; from
 * $FIELDSYNC_PASSPHRASE (kept by the daemon); or from the terminal, in which
 * case an agent is started with it, as 'fieldsync unlock' would. */
static int daemon_key_init(daemon_key *k, const char *home, fs_secret **first)
{
    int from_agent = 0;
    int rc = cli_key(home, 1, first, &from_agent);
    if (rc != CLI_OK || from_agent)
        return rc;
    if (getenv("FIELDSYNC_PASSPHRASE") != NULL) {
        k->own = *first;
        return CLI_OK;
    }
    long pid = 0;
    if (agent_spawn(home, *first, AGENT_IDLE_DEFAULT_MS, &pid) != 0) {
        fs_secret_free(*first);
        *first = NULL;
        return CLI_ERUNTIME;
    }
    daemon_log("unlocked: agent pid %ld wipes the key after %u idle minutes", pid,
               AGENT_IDLE_DEFAULT_MS / 60000u);
    return CLI_OK;
}

/* What the live connection's hooks share with the daemon's loop. */
typedef struct daemon_state {
    const char *home;
    daemon_key *key;
    uint64_t interval_ms, next_pull;
    file_stamp seen; /* the replica's files after our last round */
    uint64_t pending_before;
    uint64_t rounds; /* rounds in sync on the current connection */
    int offline;
} daemon_state;

static int live_open(void *ctx, fs_replica **out)
{
    daemon_state *d = ctx;
    fs_replica_status st;
    *out = NULL;
    fs_secret *k = daemon_key_get(d->key, d->home);
    if (k == NULL)
        return FS_ESTATE;
    int rc = fs_replica_open_secret(out, d->home, k, NULL);
    daemon_key_put(d->key, k);
    if (rc != 0)
        return rc;
    d->pending_before = fs_replica_status_get(*out, &st) == 0 ? st.pending : 0;
    return 0;
}

static void live_close(void *ctx, fs_replica *r, int rc)
{
    daemon_state *d = ctx;
    fs_replica_status st;
    if (rc == 0 && fs_replica_status_get(r, &st) == 0) {
        uint64_t sent = d->pending_before > st.pending ? d->pending_before - st.pending : 0;
        if (sent > 0 || d->offline)
            daemon_log("in sync: %llu changes sent, cursor %llu", (unsigned long long)sent,
                       (unsigned long long)st.cursor);
        d->offline = 0;
        d->rounds++;
    }
    fs_replica_close(r);
    take_stamp(d->home, &d->seen); /* our own round changed the files */
    d->next_pull = fs_clock_mono_ms() + d->interval_ms;
}

static int live_want_sync(void *ctx)
{
    daemon_state *d = ctx;
    file_stamp now;
    if (daemon_stop)
        return -1;
    take_stamp(d->home, &now);
    return memcmp(&now, &d->seen, sizeof now) != 0 || fs_clock_mono_ms() >= d->next_pull;
}

int cmd_daemon(cli_ctx *ctx, int argc, char **argv)
{
    const char *interval_s = NULL;
    const cli_opt opts[] = {{"--interval", CLI_VALUE, NULL, &interval_s, NULL}};
    daemon_key key = {NULL, 0};
    fs_secret *first = NULL;
    uint8_t pk[FS_SIGN_PK_BYTES];
    server_addr addr;
    const char *home;
    int rc = cli_parse(ctx, USAGE_DAEMON_TEXT, opts, sizeof opts / sizeof opts[0], argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    long interval = 30;
    if (interval_s != NULL) {
        char *end = NULL;
        interval = strtol(interval_s, &end, 10);
        if (end == interval_s || *end != '\0' || interval < 1 || interval > 3600) {
            cli_error("--interval: expected seconds between 1 and 3600");
            return CLI_EUSAGE;
        }
    }
    rc = cli_home(ctx, &home);
    if (rc != CLI_OK)
        return rc;
    if (!cli_replica_exists(home)) {
        cli_error("no replica in %s (enroll first: fieldsync enroll)", home);
        return CLI_ERUNTIME;
    }
    /* The key once, checked by opening the replica. */
    rc = daemon_key_init(&key, home, &first);
    if (rc != CLI_OK)
        return rc;
    fs_replica *r = NULL;
    int frc = cli_open_key(home, first, &r);
    daemon_key_put(&key, first);
    if (frc != 0) {
        cli_error("opening the replica in %s: %s", home, fs_replica_errmsg(NULL));
        fs_secret_free(key.own);
        return CLI_ERUNTIME;
    }
    rc = read_server(r, &addr, pk);
    fs_replica_close(r);
    if (rc != CLI_OK) {
        fs_secret_free(key.own);
        return rc;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = daemon_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    daemon_log("syncing %s with %s:%d (every %lds, and on local changes)", home, addr.host,
               addr.port, interval);

    daemon_state d;
    memset(&d, 0, sizeof d);
    d.home = home;
    d.key = &key;
    d.interval_ms = (uint64_t)interval * 1000u;
    memset(&d.seen, 0xFF, sizeof d.seen); /* differs from anything: sync at once */
    const fs_ws_live hooks = {live_open, live_close, live_want_sync, &d};
    uint64_t retry_at = 0, backoff = DAEMON_BACKOFF_MIN_MS;
    rc = CLI_OK;
    while (!daemon_stop) {
        uint64_t t = fs_clock_mono_ms();
        if (t < retry_at) {
            struct timespec nap = {0, DAEMON_TICK_MS * 1000000L};
            nanosleep(&nap, NULL);
            continue;
        }
        char err[512] = "";
        fs_secret *k = daemon_key_get(&key, home); /* locked: wait for unlock */
        daemon_key_put(&key, k);
        if (k == NULL) {
            retry_at = t + DAEMON_LOCKED_RETRY_MS;
            continue;
        }
        d.rounds = 0;
        if (!reachable(addr.host, addr.port)) {
            snprintf(err, sizeof err, "cannot reach the server at %s:%d", addr.host, addr.port);
            frc = FS_EIO;
        } else {
            /* Connected until the server goes away or SIGTERM: syncs on
             * local changes, on the server's POKE and every --interval. */
            frc =
                fs_ws_live_run(&hooks, pk, addr.host, addr.port, SYNC_TIMEOUT_MS, err, sizeof err);
        }
        if (frc == 0 && daemon_stop)
            break; /* stopped by a signal, after BYE */
        if (frc == 0) {
            retry_at = 0; /* half the lease gone: a new handshake renews it */
            continue;
        }
        if (d.rounds > 0)
            backoff = DAEMON_BACKOFF_MIN_MS; /* it was online: retry soon */
        if (frc == FS_EBUSY || frc == FS_ESTATE) {
            retry_at = t + DAEMON_TICK_MS; /* a command was writing, or the key went */
        } else if (frc == FS_EREVOKED) {
            daemon_log("the server revoked this device: wiping the replica");
            if (fs_replica_wipe(home) == 0)
                daemon_log("wiped");
            else
                daemon_log("wiping failed: remove %s by hand", home);
            rc = CLI_ERUNTIME;
            break;
        } else if (frc == FS_EAUTH) {
            cli_error("daemon: %s", err[0] ? err : fs_strerror(frc));
            rc = CLI_ERUNTIME;
            break;
        } else {
            if (!d.offline)
                daemon_log("offline (%s); local changes are kept", err[0] ? err : fs_strerror(frc));
            d.offline = 1;
            /* backoff * [0.8, 1.2): spread the retries of many devices */
            uint64_t delay = backoff * 4 / 5 + randombytes_uniform((uint32_t)(backoff * 2 / 5));
            retry_at = fs_clock_mono_ms() + delay;
            backoff = backoff * 2 > DAEMON_BACKOFF_MAX_MS ? DAEMON_BACKOFF_MAX_MS : backoff * 2;
        }
    }
    fs_secret_free(key.own);
    if (rc == CLI_OK)
        daemon_log("stopped");
    return rc;
}
