/*
 * The sales records' own parts of the form engine (issue 19.2, form.h):
 * amounts in CNY typed as "300000" or "300,000.50" and kept as integer fen,
 * shown as "¥300,000.50"; a payment's and a contract's customer, copied
 * from their deal so they follow the customer as the deal does.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fieldsync/replica.h"
#include "form.h"
#include "i18n.h"

/* 999,999,999,999.99 CNY at most: 12 digits of yuan, and fen fit in an
 * int64 many times over. */
#define MONEY_MAX_YUAN_DIGITS 12

/* 1 and *end moved back over it when the text [s, *end) ends with word. */
static int ends_with(const char *s, const char **end, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(*end - s) < n || memcmp(*end - n, word, n) != 0)
        return 0;
    *end -= n;
    return 1;
}

int money_parse(const char *s, int64_t *fen)
{
    const char *p = s, *end = s + strlen(s);
    /* a leading ¥ as it is shown (or the full-width ￥), a trailing 元, and
     * 万 (ten thousand) as Chinese amounts are written: 30万, 1.5万元 */
    if (strncmp(p, "\xc2\xa5", 2) == 0)
        p += 2;
    else if (strncmp(p, "\xef\xbf\xa5", 3) == 0)
        p += 3;
    ends_with(p, &end, "\xe5\x85\x83"); /* 元 */
    int wan = ends_with(p, &end, "\xe4\xb8\x87"); /* 万 */
    /* yuan digits and decimals: of yuan (2, to the fen) or of 万 (6) */
    size_t max_digits = MONEY_MAX_YUAN_DIGITS - (wan ? 4 : 0), max_dec = wan ? 6 : 2;
    int64_t whole = 0;
    size_t digits = 0, group = 0;
    int commas = 0;
    for (; p < end && *p != '.'; p++) {
        if (*p == ',') {
            /* groups of three after the first one of one to three */
            if (group == 0 || (commas ? group != 3 : group > 3))
                return -1;
            commas = 1;
            group = 0;
            continue;
        }
        if (*p < '0' || *p > '9' || ++digits > max_digits)
            return -1;
        whole = whole * 10 + (*p - '0');
        group++;
    }
    if (digits == 0 || (commas && group != 3))
        return -1;
    int64_t frac = 0;
    size_t nd = 0;
    if (p < end && *p == '.') {
        p++;
        for (; p < end && *p >= '0' && *p <= '9' && nd < max_dec; p++, nd++)
            frac = frac * 10 + (*p - '0');
        if (nd == 0)
            return -1;
    }
    if (p != end)
        return -1;
    for (; nd < max_dec; nd++)
        frac *= 10;
    /* fen: yuan * 100, or 万 * 1,000,000; the decimals in the same unit */
    *fen = wan ? whole * 1000000 + frac : whole * 100 + frac;
    return 0;
}

const char *money_format(int64_t fen, char buf[MONEY_BUF])
{
    char digits[32];
    uint64_t a = fen < 0 ? (uint64_t)0 - (uint64_t)fen : (uint64_t)fen;
    int n = snprintf(digits, sizeof digits, "%" PRIu64, a / 100);
    size_t o = 0;
    if (fen < 0)
        buf[o++] = '-';
    memcpy(buf + o, "\xc2\xa5", 2);
    o += 2;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    snprintf(buf + o, MONEY_BUF - o, ".%02u", (unsigned)(a % 100));
    return buf;
}

/* The customer of deal id: 1 with it in out, 0 when this device does not
 * hold the deal, <0 on error. */
static int deal_customer(fs_replica *r, const uint8_t *deal, uint8_t out[FS_ID_BYTES])
{
    fs_rows *it = NULL;
    fs_value id = fs_blob(deal, FS_ID_BYTES), v;
    int rc = fs_rows_open(&it, r, "deal", "id", &id, NULL);
    if (rc == 0)
        rc = fs_rows_next(it);
    if (rc == 1) {
        rc = fs_rows_get(it, "customer", &v);
        if (rc == 0 && v.type == FS_BLOB && v.n == FS_ID_BYTES) {
            memcpy(out, v.p, FS_ID_BYTES);
            rc = 1;
        } else if (rc == 0) {
            rc = 0;
        }
    }
    fs_rows_close(it);
    return rc;
}

int form_deal_customer(fs_replica *r, fs_cell *cells, size_t *nc, char held[FS_USER_MAX + 1])
{
    const uint8_t *deal = NULL;
    for (size_t i = 0; i < *nc; i++)
        if (strcmp(cells[i].column, "deal") == 0 && cells[i].value.type == FS_BLOB &&
            cells[i].value.n == FS_ID_BYTES)
            deal = cells[i].value.p;
    if (deal == NULL)
        return CLI_OK; /* the form requires it */
    _Static_assert(FS_USER_MAX + 1 >= FS_ID_BYTES, "held holds an id");
    int rc = deal_customer(r, deal, (uint8_t *)held);
    if (rc < 0)
        return cli_fail(r, "deal", rc);
    if (rc == 0) {
        cli_error(_("--deal: this device holds no such deal"));
        return CLI_EUSAGE;
    }
    cells[(*nc)++] = (fs_cell){"customer", fs_blob(held, FS_ID_BYTES)};
    return CLI_OK;
}
