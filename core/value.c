/*
 * Column values: construction, validation against the schema's column types,
 * and conversion to and from SQLite values. Ids and their hex form.
 */
#include <string.h>

#include "fieldsync/calendar.h"
#include "replica_int.h"

fs_value fs_text(const char *s)
{
    return s ? fs_textn(s, strlen(s)) : fs_null();
}

int fs_version_cmp(const fs_version *a, const fs_version *b)
{
    if (a->hlc != b->hlc)
        return a->hlc < b->hlc ? -1 : 1;
    return memcmp(a->device, b->device, FS_ID_BYTES);
}

/* Byte k of an id's text form is byte (k + ID_TEXT_ROTATE) % 16 of the id:
 * a row id's random part first, its clock last (fs__new_row_id). */
#define ID_TEXT_ROTATE FS_ID_CLOCK_BYTES

void fs_id_to_hex(const uint8_t id[FS_ID_BYTES], char out[2 * FS_ID_BYTES + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int k = 0; k < FS_ID_BYTES; k++) {
        uint8_t b = id[(k + ID_TEXT_ROTATE) % FS_ID_BYTES];
        out[2 * k] = digits[b >> 4];
        out[2 * k + 1] = digits[b & 15];
    }
    out[2 * FS_ID_BYTES] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int fs_id_from_hex(const char *hex, uint8_t out[FS_ID_BYTES])
{
    memset(out, 0, FS_ID_BYTES);
    if (hex == NULL || strlen(hex) != 2 * FS_ID_BYTES)
        return FS_EINVAL;
    for (int i = 0; i < FS_ID_BYTES; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            memset(out, 0, FS_ID_BYTES);
            return FS_EINVAL;
        }
        out[(i + ID_TEXT_ROTATE) % FS_ID_BYTES] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int fs_utf8_valid(const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned min;
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            min = 0x80;
            c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            min = 0x800;
            c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            min = 0x10000;
            c &= 0x07;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            c = (c << 6) | (s[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

int fs__value_check(fs_replica *r, const fs_table *t, unsigned col, const fs_value *v)
{
    const fs_column *c = &t->columns[col];
    int ok = 0;
    if (v->type == FS_TEXT && v->n > FS_MAX_TEXT)
        return fs__fail(r, FS_ETOOBIG, "%s.%s: text longer than %u bytes", t->name, c->name,
                        FS_MAX_TEXT);
    if (v->type == FS_BLOB && v->n > FS_MAX_BLOB)
        return fs__fail(r, FS_ETOOBIG, "%s.%s: value longer than %u bytes", t->name, c->name,
                        FS_MAX_BLOB);
    if ((v->type == FS_TEXT || v->type == FS_BLOB) && v->n > 0 && v->p == NULL)
        return fs__fail(r, FS_EINVAL, "%s.%s: no bytes given", t->name, c->name);
    if (v->type == FS_TEXT && !fs_utf8_valid(v->p, v->n))
        return fs__fail(r, FS_ETYPE, "%s.%s: text is not valid UTF-8", t->name, c->name);
    if (v->type == FS_NULL)
        return 0;
    switch (c->type) {
    case FS_COL_TEXT:
        ok = v->type == FS_TEXT;
        break;
    case FS_COL_INT:
        ok = v->type == FS_INT;
        break;
    case FS_COL_BOOL:
        ok = v->type == FS_INT && (v->i == 0 || v->i == 1);
        break;
    case FS_COL_REAL:
        ok = v->type == FS_REAL || v->type == FS_INT;
        break;
    case FS_COL_ID:
        ok = v->type == FS_BLOB && v->n == FS_ID_BYTES;
        break;
    case FS_COL_DATE:
        ok = v->type == FS_TEXT && fs_date_valid(v->p, v->n);
        break;
    case FS_COL_DATETIME:
        ok = v->type == FS_TEXT && fs_datetime_valid(v->p, v->n);
        break;
    case FS_COL_BLOB:
        ok = v->type == FS_BLOB;
        break;
    case FS_COL_ANY:
        ok = v->type >= FS_NULL && v->type <= FS_BLOB;
        break;
    }
    if (!ok)
        return fs__fail(r, FS_ETYPE, "%s.%s: expected %s", t->name, c->name,
                        fs_coltype_name(c->type));
    return 0;
}

void fs__value_from_sqlite(sqlite3_value *sv, fs_value *out)
{
    memset(out, 0, sizeof *out);
    if (sv == NULL)
        return;
    switch (sqlite3_value_type(sv)) {
    case SQLITE_INTEGER:
        out->type = FS_INT;
        out->i = sqlite3_value_int64(sv);
        break;
    case SQLITE_FLOAT:
        out->type = FS_REAL;
        out->r = sqlite3_value_double(sv);
        break;
    case SQLITE_TEXT:
        out->type = FS_TEXT;
        out->p = sqlite3_value_text(sv);
        out->n = (size_t)sqlite3_value_bytes(sv);
        break;
    case SQLITE_BLOB:
        out->type = FS_BLOB;
        out->p = sqlite3_value_blob(sv);
        out->n = (size_t)sqlite3_value_bytes(sv);
        if (out->p == NULL) /* a zero-length blob */
            out->p = "";
        break;
    default:
        out->type = FS_NULL;
    }
}

int fs__bind_value(sqlite3_stmt *st, int i, const fs_value *v)
{
    switch (v->type) {
    case FS_INT:
        return sqlite3_bind_int64(st, i, v->i);
    case FS_REAL:
        return sqlite3_bind_double(st, i, v->r);
    case FS_TEXT:
        return sqlite3_bind_text(st, i, v->n ? (const char *)v->p : "", (int)v->n,
                                 SQLITE_STATIC);
    case FS_BLOB:
        return sqlite3_bind_blob(st, i, v->n ? v->p : "", (int)v->n, SQLITE_STATIC);
    default:
        return sqlite3_bind_null(st, i);
    }
}
