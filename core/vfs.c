/*
 * Encrypting VFS: seals every page SQLite writes to a database file, its WAL
 * or its rollback journal with XChaCha20-Poly1305, on Debian's stock SQLite.
 *
 * PAGE FORMAT (every page of every file kind)
 *   [0, ps-40)        ciphertext (page 1: bytes 0..23 stay plaintext, they
 *                     hold the magic, page size and reserve SQLite reads
 *                     before it can ask us for anything else)
 *   [ps-40, ps-16)    24-byte nonce: a random 16-byte prefix drawn when the
 *                     file is opened, then a 64-bit write counter, so never
 *                     reused under one key
 *   [ps-16, ps)       Poly1305 tag
 *   associated data:  database id (16) | page number (4, LE) | page 1 only:
 *                     its plaintext bytes 0..23
 * The 40 bytes are SQLite's per-page "reserved space", set with
 * SQLITE_FCNTL_RESERVE_BYTES before the first write; a page-1 write with any
 * other reserve, or a page of another size, is refused (FS_EPAGEFMT).
 *
 * FILE SHAPES (how writes are recognised)
 *   main     whole pages at multiples of the page size; header reads (100
 *            bytes at 0, 16 at 24) are served by opening all of page 1.
 *   WAL      32-byte header, then frames: a 24-byte frame header written on
 *            its own, then the page. The frame checksums (over plaintext)
 *            are XORed with a keyed BLAKE2b mask of the frame's salts and
 *            offset, so they confirm no guess about the plaintext. During
 *            recovery a frame that fails authentication reads as zeros, so
 *            SQLite's checksum ends recovery there as it would for a torn
 *            write (a tampered WAL frame truncates recovery; see DESIGN).
 *            A checkpoint copies pages WAL -> database between
 *            SQLITE_FCNTL_CKPT_START and _DONE: those pages move sealed,
 *            as they are valid in both files, so each page version is
 *            sealed once, not sealed twice and opened once.
 *   journal  records "pgno(4) | page | checksum(4)" as three writes after a
 *            512-byte header; the page is the only power-of-two sized access
 *            at an offset = 4 (mod 8). Its checksum samples plaintext, so it
 *            is masked with a hash of that page's nonce.
 * No shared memory (io_methods version 1: WAL needs locking_mode=EXCLUSIVE),
 * so no -shm with plaintext-derived checksums, and no mmap. Temporary files
 * are refused: use temp_store=MEMORY.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "fieldsync/error.h"
#include "fieldsync/vfs.h"

#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES /* 24 */
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES      /* 16 */
#define PAGE1_PLAIN 24
#define WAL_HDR 32
#define WAL_FRAME_HDR 24
#define MAX_PAGE 65536

enum file_kind { KIND_MAIN = 1, KIND_WAL = 2, KIND_JOURNAL = 3 };

struct fs_cryptvfs {
    sqlite3_vfs base;
    sqlite3_vfs *root;
    unsigned char *keys; /* sodium_malloc'd: page key [0,32), mask key [32,64) */
    unsigned char dbid[FS_DBID_BYTES];
    char name[64];
    int registered;
    int err;
    char errmsg[160];
};

typedef struct cfile {
    sqlite3_file base;
    fs_cryptvfs *vfs;
    sqlite3_file *real; /* the root VFS's file, allocated right after this struct */
    int kind;
    struct cfile *main; /* WAL/journal: the database file they belong to */
    uint32_t pgsz;      /* page size once known (main: established; WAL: header) */
    unsigned char *buf; /* one page of scratch, malloc'd on first need */
    unsigned char nonce_prefix[16];
    uint64_t counter;
    /* journal: where the checksum of the last page accessed sits, and the
     * nonce of that page (the checksum mask is derived from it) */
    sqlite3_int64 ck_off;
    unsigned char ck_nonce[NONCE_BYTES];
    /* journal: last 4-byte write (a record's page number, normally) */
    sqlite3_int64 pgno_off;
    uint32_t pgno_val;
    /* WAL: the frame header written last, so its page need not read it back */
    sqlite3_int64 hdr_off;
    uint32_t hdr_pgno;
    /* main: inside a checkpoint's copy loop (SQLITE_FCNTL_CKPT_START/DONE),
     * and whether its WAL is open and linked to it, so that the WAL hands
     * checkpoint pages over sealed */
    int in_checkpoint;
    int wal_linked;
} cfile;

#define CFILE_SIZE ((sizeof(cfile) + 7) & ~(size_t)7)

static const sqlite3_io_methods crypt_io_methods;

static const char *kind_name(int kind)
{
    return kind == KIND_MAIN ? "database" : kind == KIND_WAL ? "WAL" : "journal";
}

__attribute__((format(printf, 3, 4))) static void set_error(fs_cryptvfs *v, int code,
                                                            const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    v->err = code;
    vsnprintf(v->errmsg, sizeof v->errmsg, fmt, ap);
    va_end(ap);
}

static uint32_t get_be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int is_page_size(sqlite3_int64 n)
{
    return n >= 512 && n <= MAX_PAGE && (n & (n - 1)) == 0;
}

static int ensure_buf(cfile *f)
{
    if (f->buf == NULL)
        f->buf = malloc(MAX_PAGE + WAL_FRAME_HDR);
    return f->buf != NULL;
}

static size_t build_ad(const fs_cryptvfs *v, unsigned char ad[16 + 4 + PAGE1_PLAIN],
                       uint32_t pgno, const unsigned char *page)
{
    memcpy(ad, v->dbid, 16);
    for (int i = 0; i < 4; i++)
        ad[16 + i] = (unsigned char)(pgno >> (8 * i));
    if (pgno != 1)
        return 20;
    memcpy(ad + 20, page, PAGE1_PLAIN);
    return 20 + PAGE1_PLAIN;
}

/* Seals plaintext page src into dst (distinct buffers) as page pgno. */
static void seal_page(cfile *f, const unsigned char *src, unsigned char *dst, uint32_t ps,
                      uint32_t pgno)
{
    const fs_cryptvfs *v = f->vfs;
    unsigned char ad[16 + 4 + PAGE1_PLAIN];
    size_t adlen = build_ad(v, ad, pgno, src);
    size_t start = pgno == 1 ? PAGE1_PLAIN : 0;
    unsigned char *nonce = dst + ps - FS_VFS_RESERVE;
    memcpy(nonce, f->nonce_prefix, 16);
    uint64_t c = f->counter++;
    for (int i = 0; i < 8; i++)
        nonce[16 + i] = (unsigned char)(c >> (8 * i));
    if (start)
        memcpy(dst, src, start);
    crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
        dst + start, dst + ps - TAG_BYTES, NULL, src + start, ps - FS_VFS_RESERVE - start, ad,
        adlen, NULL, nonce, v->keys);
}

/* Opens page pgno in place. Returns 0 or -1 (authentication failed). The
 * reserved bytes (nonce and tag) read back as zeros: SQLite keeps them in its
 * page images and covers them with the WAL checksum, so what it checksums on
 * write and on recovery must be the same bytes. */
static int open_page(const fs_cryptvfs *v, unsigned char *page, uint32_t ps, uint32_t pgno)
{
    unsigned char ad[16 + 4 + PAGE1_PLAIN];
    size_t adlen = build_ad(v, ad, pgno, page);
    size_t start = pgno == 1 ? PAGE1_PLAIN : 0;
    if (pgno == 1 && page[20] != FS_VFS_RESERVE)
        return -1;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
            page + start, NULL, page + start, ps - FS_VFS_RESERVE - start, page + ps - TAG_BYTES,
            ad, adlen, page + ps - FS_VFS_RESERVE, v->keys) != 0)
        return -1;
    memset(page + ps - FS_VFS_RESERVE, 0, FS_VFS_RESERVE);
    return 0;
}

int fs_cryptvfs_open_page(const fs_cryptvfs *vfs, unsigned char *page, size_t pagesize,
                          unsigned pgno)
{
    if (!is_page_size((sqlite3_int64)pagesize) || pgno == 0)
        return FS_EFORMAT;
    return open_page(vfs, page, (uint32_t)pagesize, pgno) == 0 ? 0 : FS_EINTEGRITY;
}

/* Keyed mask for the two WAL frame checksums: BLAKE2b over the frame's salts
 * and its offset, so equal checksums never show through. */
static void wal_mask(const fs_cryptvfs *v, const unsigned char *frame_hdr, sqlite3_int64 off,
                     unsigned char mask[8])
{
    unsigned char in[8 + 8];
    memcpy(in, frame_hdr + 8, 8); /* salt-1, salt-2 */
    for (int i = 0; i < 8; i++)
        in[8 + i] = (unsigned char)((uint64_t)off >> (8 * i));
    crypto_generichash(mask, 8, in, sizeof in, v->keys + 32, 32);
}

static void journal_mask(const fs_cryptvfs *v, const unsigned char nonce[NONCE_BYTES],
                         unsigned char mask[4])
{
    crypto_generichash(mask, 4, nonce, NONCE_BYTES, v->keys + 32, 32);
}

/* ---- main database file ---- */

/* Serves a read smaller than a page inside page 1 (the header reads). */
static int main_read_header(cfile *f, void *out, int amt, sqlite3_int64 off)
{
    unsigned char hdr[PAGE1_PLAIN];
    sqlite3_int64 size = 0;
    int rc = f->real->pMethods->xFileSize(f->real, &size);
    if (rc != SQLITE_OK)
        return rc;
    if (size == 0) {
        memset(out, 0, (size_t)amt);
        return SQLITE_IOERR_SHORT_READ; /* a new, empty database */
    }
    rc = f->real->pMethods->xRead(f->real, hdr, sizeof hdr, 0);
    uint32_t ps = rc == SQLITE_OK ? ((uint32_t)hdr[16] << 8 | hdr[17]) : 0;
    if (ps == 1)
        ps = MAX_PAGE;
    if (rc != SQLITE_OK || !is_page_size(ps) || size < ps) {
        set_error(f->vfs, FS_EINTEGRITY, "%s page %u is truncated or damaged",
                  kind_name(f->kind), 1);
        return SQLITE_IOERR_DATA;
    }
    if (off + amt > ps || !ensure_buf(f))
        return SQLITE_IOERR_READ;
    rc = f->real->pMethods->xRead(f->real, f->buf, (int)ps, 0);
    if (rc != SQLITE_OK)
        return rc == SQLITE_IOERR_SHORT_READ ? SQLITE_IOERR_DATA : rc;
    if (open_page(f->vfs, f->buf, ps, 1) != 0) {
        sodium_memzero(f->buf, ps);
        set_error(f->vfs, FS_EINTEGRITY, "%s page %u failed authentication (modified or damaged)",
                  kind_name(f->kind), 1);
        return SQLITE_IOERR_DATA;
    }
    memcpy(out, f->buf + off, (size_t)amt);
    sodium_memzero(f->buf, ps);
    if (f->pgsz == 0)
        f->pgsz = ps;
    return SQLITE_OK;
}

static int main_read(cfile *f, void *out, int amt, sqlite3_int64 off)
{
    if (!is_page_size(amt) || off % amt != 0) {
        if (off < MAX_PAGE && (f->pgsz == 0 || off + amt <= f->pgsz))
            return main_read_header(f, out, amt, off);
        set_error(f->vfs, FS_EFORMAT, "unexpected read shape on the %s (%u bytes)",
                  kind_name(f->kind), (unsigned)amt);
        return SQLITE_IOERR_READ;
    }
    if (f->pgsz != 0 && (uint32_t)amt != f->pgsz) {
        set_error(f->vfs, FS_EPAGEFMT, "%s read of %u bytes does not match its page size",
                  kind_name(f->kind), (unsigned)amt);
        return SQLITE_IOERR_READ;
    }
    uint32_t pgno = (uint32_t)(off / amt) + 1;
    int rc = f->real->pMethods->xRead(f->real, out, amt, off);
    if (rc == SQLITE_IOERR_SHORT_READ) {
        sqlite3_int64 size = 0;
        if (f->real->pMethods->xFileSize(f->real, &size) == SQLITE_OK && size <= off)
            return rc; /* past the end: SQLite expects zeros */
        set_error(f->vfs, FS_EINTEGRITY, "%s page %u is truncated", kind_name(f->kind), pgno);
        return SQLITE_IOERR_DATA;
    }
    if (rc != SQLITE_OK)
        return rc;
    if (open_page(f->vfs, out, (uint32_t)amt, pgno) != 0) {
        memset(out, 0, (size_t)amt);
        set_error(f->vfs, FS_EINTEGRITY, "%s page %u failed authentication (modified or damaged)",
                  kind_name(f->kind), pgno);
        return SQLITE_IOERR_DATA;
    }
    if (f->pgsz == 0)
        f->pgsz = (uint32_t)amt;
    return SQLITE_OK;
}

static int main_write(cfile *f, const unsigned char *src, int amt, sqlite3_int64 off)
{
    if (!is_page_size(amt) || off % amt != 0) {
        set_error(f->vfs, FS_EFORMAT, "unexpected write shape on the %s (%u bytes)",
                  kind_name(f->kind), (unsigned)amt);
        return SQLITE_IOERR_WRITE;
    }
    uint32_t pgno = (uint32_t)(off / amt) + 1;
    if (f->pgsz != 0 && (uint32_t)amt != f->pgsz) {
        set_error(f->vfs, FS_EPAGEFMT, "%s: page size change refused (%u bytes)",
                  kind_name(f->kind), (unsigned)amt);
        return SQLITE_IOERR_WRITE;
    }
    if (pgno == 1) {
        uint32_t hps = (uint32_t)src[16] << 8 | src[17];
        if (hps == 1)
            hps = MAX_PAGE;
        if (hps != (uint32_t)amt) {
            set_error(f->vfs, FS_EPAGEFMT, "%s: page size change refused (%u bytes)",
                      kind_name(f->kind), (unsigned)hps);
            return SQLITE_IOERR_WRITE;
        }
        if (src[20] != FS_VFS_RESERVE) {
            set_error(f->vfs, FS_EPAGEFMT, "%s: reserved-bytes change refused (%u bytes)",
                      kind_name(f->kind), src[20]);
            return SQLITE_IOERR_WRITE;
        }
    }
    f->pgsz = (uint32_t)amt;
    if (f->in_checkpoint && f->wal_linked) /* a sealed page from the WAL (see wal_read) */
        return f->real->pMethods->xWrite(f->real, src, amt, off);
    if (!ensure_buf(f))
        return SQLITE_IOERR_NOMEM;
    seal_page(f, src, f->buf, (uint32_t)amt, pgno);
    return f->real->pMethods->xWrite(f->real, f->buf, amt, off);
}

/* ---- WAL ---- */

static uint32_t wal_page_size(cfile *f)
{
    if (f->pgsz == 0 && f->main != NULL)
        return f->main->pgsz;
    return f->pgsz;
}

/* Index of the frame whose header starts at off, or -1. */
static sqlite3_int64 wal_frame_at(sqlite3_int64 off, uint32_t ps)
{
    if (ps == 0 || off < WAL_HDR || (off - WAL_HDR) % (WAL_FRAME_HDR + ps) != 0)
        return -1;
    return (off - WAL_HDR) / (WAL_FRAME_HDR + ps);
}

static int wal_read_frame_header(cfile *f, unsigned char hdr[WAL_FRAME_HDR], sqlite3_int64 off)
{
    int rc = f->real->pMethods->xRead(f->real, hdr, WAL_FRAME_HDR, off);
    if (rc != SQLITE_OK)
        return rc;
    unsigned char m[8];
    wal_mask(f->vfs, hdr, off, m);
    for (int i = 0; i < 8; i++)
        hdr[16 + i] ^= m[i];
    return SQLITE_OK;
}

static int wal_read(cfile *f, unsigned char *out, int amt, sqlite3_int64 off)
{
    if (off >= 0 && off + amt <= WAL_HDR) {
        /* The plaintext WAL header, whole or a field of it (its checksum at
         * 24 when SQLite rewrites frame checksums). */
        int rc = f->real->pMethods->xRead(f->real, out, amt, off);
        if (rc == SQLITE_OK && off == 0 && amt >= 12 && is_page_size(get_be32(out + 8)))
            f->pgsz = get_be32(out + 8);
        return rc;
    }
    uint32_t ps = wal_page_size(f);
    if (ps != 0 && amt == (int)(WAL_FRAME_HDR + ps) && wal_frame_at(off, ps) >= 0) {
        /* Recovery: a whole frame. */
        int rc = f->real->pMethods->xRead(f->real, out, amt, off);
        if (rc != SQLITE_OK)
            return rc;
        unsigned char m[8];
        wal_mask(f->vfs, out, off, m);
        for (int i = 0; i < 8; i++)
            out[16 + i] ^= m[i];
        if (open_page(f->vfs, out + WAL_FRAME_HDR, ps, get_be32(out)) != 0)
            memset(out + WAL_FRAME_HDR, 0, ps); /* fails SQLite's checksum: recovery ends */
        return SQLITE_OK;
    }
    if (ps != 0 && amt == (int)ps && wal_frame_at(off - WAL_FRAME_HDR, ps) >= 0 &&
        f->main != NULL && f->main->in_checkpoint) {
        /* A checkpoint copies this page to the database file unchanged: the
         * sealed page is valid there too (same database id, same page
         * number), so it travels sealed and is authenticated when read. */
        return f->real->pMethods->xRead(f->real, out, amt, off);
    }
    if (ps != 0 && amt == (int)ps && wal_frame_at(off - WAL_FRAME_HDR, ps) >= 0) {
        unsigned char hdr[WAL_FRAME_HDR];
        int rc = wal_read_frame_header(f, hdr, off - WAL_FRAME_HDR);
        if (rc == SQLITE_OK)
            rc = f->real->pMethods->xRead(f->real, out, amt, off);
        if (rc != SQLITE_OK)
            return rc == SQLITE_IOERR_SHORT_READ ? SQLITE_IOERR_DATA : rc;
        uint32_t pgno = get_be32(hdr);
        if (open_page(f->vfs, out, ps, pgno) != 0) {
            memset(out, 0, ps);
            set_error(f->vfs, FS_EINTEGRITY,
                      "%s frame for page %u failed authentication (modified or damaged)",
                      kind_name(f->kind), pgno);
            return SQLITE_IOERR_DATA;
        }
        return SQLITE_OK;
    }
    if (ps != 0 && off >= WAL_HDR) {
        /* A read inside one frame header (checksum re-computation). */
        sqlite3_int64 rel = (off - WAL_HDR) % (WAL_FRAME_HDR + ps);
        if (rel + amt <= WAL_FRAME_HDR) {
            unsigned char hdr[WAL_FRAME_HDR];
            int rc = wal_read_frame_header(f, hdr, off - rel);
            if (rc != SQLITE_OK)
                return rc;
            memcpy(out, hdr + rel, (size_t)amt);
            return SQLITE_OK;
        }
    }
    set_error(f->vfs, FS_EFORMAT, "unexpected read shape on the %s (%u bytes)",
              kind_name(f->kind), (unsigned)amt);
    return SQLITE_IOERR_READ;
}

static int wal_write(cfile *f, const unsigned char *src, int amt, sqlite3_int64 off)
{
    if (off == 0 && amt == WAL_HDR) {
        if (is_page_size(get_be32(src + 8)))
            f->pgsz = get_be32(src + 8);
        return f->real->pMethods->xWrite(f->real, src, amt, off);
    }
    uint32_t ps = wal_page_size(f);
    if (amt == WAL_FRAME_HDR && wal_frame_at(off, ps) >= 0) {
        unsigned char hdr[WAL_FRAME_HDR], m[8];
        memcpy(hdr, src, sizeof hdr);
        wal_mask(f->vfs, hdr, off, m);
        for (int i = 0; i < 8; i++)
            hdr[16 + i] ^= m[i];
        f->hdr_off = off;
        f->hdr_pgno = get_be32(src);
        return f->real->pMethods->xWrite(f->real, hdr, amt, off);
    }
    if (amt == (int)ps && wal_frame_at(off - WAL_FRAME_HDR, ps) >= 0) {
        uint32_t pgno = f->hdr_pgno;
        if (f->hdr_off != off - WAL_FRAME_HDR) {
            /* A page rewritten in place (same transaction): its header is on disk. */
            unsigned char hdr[WAL_FRAME_HDR];
            int rc = f->real->pMethods->xRead(f->real, hdr, WAL_FRAME_HDR, off - WAL_FRAME_HDR);
            if (rc != SQLITE_OK)
                return SQLITE_IOERR_WRITE;
            pgno = get_be32(hdr);
        }
        if (pgno == 1 && src[20] != FS_VFS_RESERVE) {
            set_error(f->vfs, FS_EPAGEFMT, "%s: reserved-bytes change refused (%u bytes)",
                      kind_name(f->kind), src[20]);
            return SQLITE_IOERR_WRITE;
        }
        if (!ensure_buf(f))
            return SQLITE_IOERR_NOMEM;
        seal_page(f, src, f->buf, ps, pgno);
        return f->real->pMethods->xWrite(f->real, f->buf, amt, off);
    }
    set_error(f->vfs, FS_EFORMAT, "unexpected write shape on the %s (%u bytes)",
              kind_name(f->kind), (unsigned)amt);
    return SQLITE_IOERR_WRITE;
}

/* ---- rollback journal ---- */

static int journal_pgno(cfile *f, sqlite3_int64 page_off, uint32_t *pgno)
{
    if (f->pgno_off == page_off - 4) {
        *pgno = f->pgno_val;
        return SQLITE_OK;
    }
    unsigned char b[4];
    int rc = f->real->pMethods->xRead(f->real, b, 4, page_off - 4);
    *pgno = get_be32(b);
    return rc;
}

static int journal_read(cfile *f, unsigned char *out, int amt, sqlite3_int64 off)
{
    if (is_page_size(amt) && off % 8 == 4) {
        uint32_t pgno = 0;
        int rc = journal_pgno(f, off, &pgno);
        if (rc == SQLITE_OK)
            rc = f->real->pMethods->xRead(f->real, out, amt, off);
        if (rc != SQLITE_OK)
            return rc;
        memcpy(f->ck_nonce, out + amt - FS_VFS_RESERVE, NONCE_BYTES);
        if (open_page(f->vfs, out, (uint32_t)amt, pgno) != 0) {
            memset(out, 0, (size_t)amt);
            set_error(f->vfs, FS_EINTEGRITY,
                      "%s record for page %u failed authentication (modified or damaged)",
                      kind_name(f->kind), pgno);
            return SQLITE_IOERR_DATA;
        }
        f->ck_off = off + amt;
        return SQLITE_OK;
    }
    int rc = f->real->pMethods->xRead(f->real, out, amt, off);
    if (rc == SQLITE_OK && amt == 4 && off == f->ck_off) {
        unsigned char m[4];
        journal_mask(f->vfs, f->ck_nonce, m);
        for (int i = 0; i < 4; i++)
            out[i] ^= m[i];
    }
    return rc;
}

static int journal_write(cfile *f, const unsigned char *src, int amt, sqlite3_int64 off)
{
    if (is_page_size(amt) && off % 8 == 4) {
        uint32_t pgno = 0;
        int rc = journal_pgno(f, off, &pgno);
        if (rc != SQLITE_OK)
            return SQLITE_IOERR_WRITE;
        if (!ensure_buf(f))
            return SQLITE_IOERR_NOMEM;
        seal_page(f, src, f->buf, (uint32_t)amt, pgno);
        f->ck_off = off + amt;
        memcpy(f->ck_nonce, f->buf + amt - FS_VFS_RESERVE, NONCE_BYTES);
        return f->real->pMethods->xWrite(f->real, f->buf, amt, off);
    }
    if (amt == 4 && off == f->ck_off) {
        unsigned char b[4], m[4];
        journal_mask(f->vfs, f->ck_nonce, m);
        for (int i = 0; i < 4; i++)
            b[i] = src[i] ^ m[i];
        return f->real->pMethods->xWrite(f->real, b, 4, off);
    }
    if (amt == 4) {
        f->pgno_off = off;
        f->pgno_val = get_be32(src);
    }
    return f->real->pMethods->xWrite(f->real, src, amt, off);
}

/* ---- io methods ---- */

static int x_close(sqlite3_file *file)
{
    cfile *f = (cfile *)file;
    int rc = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
    if (f->kind == KIND_WAL && f->main != NULL)
        f->main->wal_linked = 0;
    if (f->buf != NULL) {
        sodium_memzero(f->buf, MAX_PAGE + WAL_FRAME_HDR);
        free(f->buf);
        f->buf = NULL;
    }
    return rc;
}

static int x_read(sqlite3_file *file, void *out, int amt, sqlite3_int64 off)
{
    cfile *f = (cfile *)file;
    switch (f->kind) {
    case KIND_MAIN:
        return main_read(f, out, amt, off);
    case KIND_WAL:
        return wal_read(f, out, amt, off);
    default:
        return journal_read(f, out, amt, off);
    }
}

static int x_write(sqlite3_file *file, const void *src, int amt, sqlite3_int64 off)
{
    cfile *f = (cfile *)file;
    switch (f->kind) {
    case KIND_MAIN:
        return main_write(f, src, amt, off);
    case KIND_WAL:
        return wal_write(f, src, amt, off);
    default:
        return journal_write(f, src, amt, off);
    }
}

static int x_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    cfile *f = (cfile *)file;
    return f->real->pMethods->xTruncate(f->real, size);
}

static int x_sync(sqlite3_file *file, int flags)
{
    cfile *f = (cfile *)file;
    return f->real->pMethods->xSync(f->real, flags);
}

static int x_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    cfile *f = (cfile *)file;
    return f->real->pMethods->xFileSize(f->real, size);
}

static int x_lock(sqlite3_file *file, int lock)
{
    cfile *f = (cfile *)file;
    return f->real->pMethods->xLock(f->real, lock);
}

static int x_unlock(sqlite3_file *file, int lock)
{
    cfile *f = (cfile *)file;
    return f->real->pMethods->xUnlock(f->real, lock);
}

static int x_check_reserved_lock(sqlite3_file *file, int *out)
{
    cfile *f = (cfile *)file;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int x_file_control(sqlite3_file *file, int op, void *arg)
{
    cfile *f = (cfile *)file;
    if (op == SQLITE_FCNTL_MMAP_SIZE)
        return SQLITE_NOTFOUND; /* no mmap: pages must pass through xRead */
    if (f->kind == KIND_MAIN && (op == SQLITE_FCNTL_CKPT_START || op == SQLITE_FCNTL_CKPT_DONE)) {
        f->in_checkpoint = op == SQLITE_FCNTL_CKPT_START;
        return SQLITE_OK;
    }
    return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int x_sector_size(sqlite3_file *file)
{
    cfile *f = (cfile *)file;
    return f->real->pMethods->xSectorSize(f->real);
}

static int x_device_characteristics(sqlite3_file *file)
{
    cfile *f = (cfile *)file;
    int dc = f->real->pMethods->xDeviceCharacteristics(f->real);
    /* Power-safe overwrite keeps the journal header at 512 bytes and the WAL
     * free of padding frames (whose split writes we would not recognise). */
    dc |= SQLITE_IOCAP_POWERSAFE_OVERWRITE;
    dc &= ~SQLITE_IOCAP_BATCH_ATOMIC;
    return dc;
}

static const sqlite3_io_methods crypt_io_methods = {
    1, x_close, x_read, x_write, x_truncate, x_sync, x_file_size, x_lock, x_unlock,
    x_check_reserved_lock, x_file_control, x_sector_size, x_device_characteristics,
    /* version 2 and 3 methods (shared memory, mmap) deliberately absent */
    NULL, NULL, NULL, NULL, NULL, NULL};

/* ---- VFS methods ---- */

static int x_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *outflags)
{
    fs_cryptvfs *v = (fs_cryptvfs *)vfs;
    cfile *f = (cfile *)file;
    memset(f, 0, CFILE_SIZE);
    f->real = (sqlite3_file *)((char *)f + CFILE_SIZE);
    f->vfs = v;
    f->ck_off = -1;
    f->pgno_off = -1;
    f->hdr_off = -1;
    if (name == NULL || (flags & SQLITE_OPEN_MAIN_DB))
        f->kind = KIND_MAIN;
    else if (flags & SQLITE_OPEN_WAL)
        f->kind = KIND_WAL;
    else if (flags & SQLITE_OPEN_MAIN_JOURNAL)
        f->kind = KIND_JOURNAL;
    if (name == NULL || f->kind == 0) {
        set_error(v, FS_EINVAL, "temporary files are refused (use temp_store=MEMORY)");
        return SQLITE_CANTOPEN;
    }
    if (f->kind != KIND_MAIN) {
        sqlite3_file *m = sqlite3_database_file_object(name);
        if (m != NULL && m->pMethods == &crypt_io_methods)
            f->main = (cfile *)m;
    }
    randombytes_buf(f->nonce_prefix, sizeof f->nonce_prefix);
    int rc = v->root->xOpen(v->root, name, f->real, flags, outflags);
    if (rc != SQLITE_OK) {
        f->real->pMethods = NULL;
        return rc;
    }
    f->base.pMethods = &crypt_io_methods;
    if (f->main != NULL && f->kind == KIND_WAL)
        f->main->wal_linked = 1;
    return SQLITE_OK;
}

static int x_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    fs_cryptvfs *v = (fs_cryptvfs *)vfs;
    return v->root->xDelete(v->root, name, sync_dir);
}

static int x_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    fs_cryptvfs *v = (fs_cryptvfs *)vfs;
    return v->root->xAccess(v->root, name, flags, out);
}

static int x_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    fs_cryptvfs *v = (fs_cryptvfs *)vfs;
    return v->root->xFullPathname(v->root, name, n, out);
}

static int x_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    randombytes_buf(out, (size_t)n);
    return n;
}

static int x_sleep(sqlite3_vfs *vfs, int us)
{
    fs_cryptvfs *v = (fs_cryptvfs *)vfs;
    return v->root->xSleep(v->root, us);
}

static int x_current_time(sqlite3_vfs *vfs, double *out)
{
    fs_cryptvfs *v = (fs_cryptvfs *)vfs;
    return v->root->xCurrentTime(v->root, out);
}

static int x_get_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    fs_cryptvfs *v = (fs_cryptvfs *)vfs;
    return v->root->xGetLastError(v->root, n, out);
}

static int x_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    fs_cryptvfs *v = (fs_cryptvfs *)vfs;
    return v->root->xCurrentTimeInt64(v->root, out);
}

int fs_cryptvfs_new(fs_cryptvfs **out, const fs_secret *secret)
{
    *out = NULL;
    sqlite3_vfs *root = sqlite3_vfs_find(NULL);
    if (root == NULL || root->iVersion < 2)
        return FS_EDB;
    fs_cryptvfs *v = calloc(1, sizeof *v);
    if (v == NULL)
        return FS_ENOMEM;
    v->keys = sodium_malloc(64);
    if (v->keys == NULL) {
        free(v);
        return FS_ENOMEM;
    }
    crypto_kdf_derive_from_key(v->keys, 32, 1, "fspages_", secret->key);
    crypto_kdf_derive_from_key(v->keys + 32, 32, 2, "fspages_", secret->key);
    memcpy(v->dbid, secret->dbid, sizeof v->dbid);
    snprintf(v->name, sizeof v->name, "fieldsync-crypt-%p", (void *)v);
    v->root = root;
    v->base.iVersion = 2;
    v->base.szOsFile = (int)(CFILE_SIZE + (size_t)root->szOsFile);
    v->base.mxPathname = root->mxPathname;
    v->base.zName = v->name;
    v->base.xOpen = x_open;
    v->base.xDelete = x_delete;
    v->base.xAccess = x_access;
    v->base.xFullPathname = x_full_pathname;
    v->base.xDlOpen = NULL;
    v->base.xRandomness = x_randomness;
    v->base.xSleep = x_sleep;
    v->base.xCurrentTime = x_current_time;
    v->base.xGetLastError = x_get_last_error;
    v->base.xCurrentTimeInt64 = x_current_time_int64;
    if (sqlite3_vfs_register(&v->base, 0) != SQLITE_OK) {
        fs_cryptvfs_free(v);
        return FS_EDB;
    }
    v->registered = 1;
    *out = v;
    return 0;
}

const char *fs_cryptvfs_name(const fs_cryptvfs *vfs)
{
    return vfs->name;
}

void fs_cryptvfs_free(fs_cryptvfs *vfs)
{
    if (vfs == NULL)
        return;
    if (vfs->registered)
        sqlite3_vfs_unregister(&vfs->base);
    sodium_free(vfs->keys);
    sodium_memzero(vfs, sizeof *vfs);
    free(vfs);
}

int fs_cryptvfs_take_error(fs_cryptvfs *vfs, char *msg, size_t msgsize)
{
    int code = vfs->err;
    if (msg != NULL && msgsize > 0)
        snprintf(msg, msgsize, "%s", code ? vfs->errmsg : "");
    vfs->err = 0;
    vfs->errmsg[0] = '\0';
    return code;
}
