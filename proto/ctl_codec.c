/* The control socket's request and reply formats (fieldsync/ctl.h). */
#include <string.h>

#include "fieldsync/ctl.h"
#include "fieldsync/error.h"

uint32_t fs_ctl_len(const uint8_t p[4])
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(uint8_t p[4], uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The language field's value when it is one of the known ones, else NULL. */
static const char *known_lang(const char *v)
{
    static const char *const langs[] = {"zh_CN", "zh_TW", "en"};
    for (size_t i = 0; i < sizeof langs / sizeof langs[0]; i++)
        if (strcmp(v, langs[i]) == 0)
            return langs[i];
    return NULL;
}

int fs_ctl_request_encode(fs_buf *out, const char *lang, const char *pass, size_t passlen, int argc,
                          char *const *argv)
{
    if (argc < 1 || pass == NULL || passlen == 0 || (lang != NULL && known_lang(lang) == NULL))
        return FS_EINVAL;
    if (argc > FS_CTL_MAX_ARGS)
        return FS_ETOOBIG;
    size_t n = passlen + 1;
    size_t lfield = lang != NULL ? sizeof FS_CTL_LANG_FIELD - 1 + strlen(lang) + 1 : 0;
    n += lfield;
    for (int i = 0; i < argc; i++) {
        size_t a = strlen(argv[i]);
        if (a >= FS_CTL_MAX_REQUEST || n > FS_CTL_MAX_REQUEST - a - 1)
            return FS_ETOOBIG;
        n += a + 1;
    }
    if (memchr(pass, '\0', passlen) != NULL)
        return FS_EINVAL;
    uint8_t len[4];
    put_u32(len, (uint32_t)n);
    int rc = fs_buf_reserve(out, 4 + n);
    if (rc == 0)
        rc = fs_buf_append(out, len, 4);
    if (rc == 0)
        rc = fs_buf_append(out, pass, passlen);
    if (rc == 0)
        rc = fs_buf_append(out, "", 1);
    if (rc == 0 && lang != NULL)
        rc = fs_buf_append(out, FS_CTL_LANG_FIELD, sizeof FS_CTL_LANG_FIELD - 1);
    if (rc == 0 && lang != NULL)
        rc = fs_buf_append(out, lang, strlen(lang) + 1);
    for (int i = 0; rc == 0 && i < argc; i++)
        rc = fs_buf_append(out, argv[i], strlen(argv[i]) + 1);
    return rc;
}

int fs_ctl_request_parse(char *body, size_t n, const char **lang, const char **pass,
                         size_t *passlen, int *argc, char **argv)
{
    *lang = NULL;
    *argc = 0;
    *pass = NULL;
    *passlen = 0;
    if (n > FS_CTL_MAX_REQUEST)
        return FS_ETOOBIG;
    if (n == 0 || body[n - 1] != '\0')
        return FS_EMALFORMED;
    size_t plen = strlen(body); /* stops at a NUL within n: the last byte is one */
    if (plen == 0)
        return FS_EMALFORMED;
    size_t at = plen + 1;
    const char *l = NULL;
    if (at < n && body[at] == FS_CTL_LANG_FIELD[0]) { /* the optional language */
        const char *f = body + at;
        size_t flen = strlen(f);
        if (strncmp(f, FS_CTL_LANG_FIELD, sizeof FS_CTL_LANG_FIELD - 1) != 0 ||
            (l = known_lang(f + sizeof FS_CTL_LANG_FIELD - 1)) == NULL)
            return FS_EMALFORMED;
        at += flen + 1;
    }
    int count = 0;
    while (at < n) {
        if (count == FS_CTL_MAX_ARGS)
            return FS_ETOOBIG;
        char *a = body + at;
        size_t alen = strlen(a);
        for (size_t i = 0; i < alen; i++)
            if ((unsigned char)a[i] < 0x20 || a[i] == 0x7F)
                return FS_EMALFORMED;
        argv[count++] = a;
        at += alen + 1;
    }
    if (count == 0)
        return FS_EMALFORMED;
    argv[count] = NULL;
    *lang = l;
    *pass = body;
    *passlen = plen;
    *argc = count;
    return 0;
}

int fs_ctl_reply_encode(fs_buf *out, int status, const char *outtext, size_t outlen,
                        const char *errtext, size_t errlen)
{
    if (outlen > FS_CTL_MAX_REPLY - 12 || errlen > FS_CTL_MAX_REPLY - 12 - outlen)
        return FS_ETOOBIG;
    uint8_t head[12];
    put_u32(head, (uint32_t)(12 + outlen + errlen));
    put_u32(head + 4, (uint32_t)status);
    put_u32(head + 8, (uint32_t)outlen);
    uint8_t elen[4];
    put_u32(elen, (uint32_t)errlen);
    int rc = fs_buf_reserve(out, 16 + outlen + errlen);
    if (rc == 0)
        rc = fs_buf_append(out, head, sizeof head);
    if (rc == 0 && outlen > 0)
        rc = fs_buf_append(out, outtext, outlen);
    if (rc == 0)
        rc = fs_buf_append(out, elen, sizeof elen);
    if (rc == 0 && errlen > 0)
        rc = fs_buf_append(out, errtext, errlen);
    return rc;
}

int fs_ctl_reply_parse(const uint8_t *body, size_t n, int *status, const uint8_t **outtext,
                       size_t *outlen, const uint8_t **errtext, size_t *errlen)
{
    if (n < 12 || n > FS_CTL_MAX_REPLY)
        return FS_EMALFORMED;
    uint32_t l1 = fs_ctl_len(body + 4);
    if (l1 > n - 12)
        return FS_EMALFORMED;
    uint32_t l2 = fs_ctl_len(body + 8 + l1);
    if (l2 != n - 12 - l1)
        return FS_EMALFORMED;
    *status = (int32_t)fs_ctl_len(body);
    *outtext = body + 8;
    *outlen = l1;
    *errtext = body + 12 + l1;
    *errlen = l2;
    return 0;
}
