/*
 * Attachments (issue 19.3): a file attached to a record (a signed
 * requirement or acceptance document, a business card's photo, a
 * contract's PDF). Its metadata is an `attachment` row (schema 6, synced
 * like any record: the record it belongs to, the customer, file name,
 * kind, size, hash); its bytes are named by their BLAKE2b-256 hash
 * (crypto_generichash) and kept in chunks of FS_ATTACH_CHUNK bytes inside
 * the replica's encrypted database (table att_chunk, local and unsynced:
 * its pages are sealed by the VFS like every other, and no temporary file
 * ever holds them), so the same file is stored once whatever records name
 * it. The chunks travel in their own messages (fieldsync/msg.h, protocol
 * version 7), so a sync cut mid-way resumes with the chunks not yet held.
 *
 * A server's replica keeps the chunks of every attachment it was sent in
 * the same table of its (encrypted) store.
 */
#ifndef FIELDSYNC_ATTACH_H
#define FIELDSYNC_ATTACH_H

#include <stddef.h>
#include <stdint.h>

#include "fieldsync/replica.h"

#define FS_ATTACH_CHUNK (256u * 1024u)          /* bytes per chunk (the last one fewer) */
#define FS_ATTACH_MAX_CHUNKS 256u               /* chunks per file: 64 MiB at most */
#define FS_ATTACH_MAX_BYTES ((uint64_t)FS_ATTACH_CHUNK * FS_ATTACH_MAX_CHUNKS)
#define FS_ATTACH_DEFAULT_LIMIT (20u * 1024u * 1024u) /* bytes per file, by default */
#define FS_ATTACH_HASH 32u                      /* BLAKE2b-256 */
/* Chunk bytes one sync session sends or receives at most; the next session
 * goes on from there. */
#define FS_ATTACH_SESSION_BYTES ((uint64_t)256u * 1024u * 1024u)
#define FS_ATTACH_NAME_MAX 255u
/* Chunks a device sends before it asks again what the server lacks, and
 * asks for in one ATT_GET, at most: 2 MiB in flight. */
#define FS_ATTACH_WINDOW 8u                 /* bytes of a file name */

/* The kinds an attachment may be (--kind). */
extern const char *const fs_attach_kinds[];
int fs_attach_kind_valid(const char *kind);

/* Chunks of a file of size bytes (0 for 0 or over FS_ATTACH_MAX_BYTES),
 * and the bytes of chunk idx. */
uint32_t fs_attach_nchunks(uint64_t size);
size_t fs_attach_chunk_len(uint64_t size, uint32_t idx);

/* Stores chunk idx of hash (its bytes are checked against the size by the
 * caller); an existing chunk is kept. In the caller's transaction if one
 * is open. */
int fs_attach_put_chunk(fs_replica *r, const uint8_t hash[FS_ATTACH_HASH], uint32_t idx,
                        const void *data, size_t n);

/* Reads chunk idx of hash into buf (FS_ATTACH_CHUNK bytes): *n its bytes.
 * FS_ENOTFOUND when not held. */
int fs_attach_get_chunk(fs_replica *r, const uint8_t hash[FS_ATTACH_HASH], uint32_t idx,
                        uint8_t *buf, size_t *n);

/* The indexes of the chunks of a file of size bytes not held, ascending,
 * up to cap of them into out; *n how many were written, *total how many
 * are missing (either may be NULL). */
int fs_attach_missing(fs_replica *r, const uint8_t hash[FS_ATTACH_HASH], uint64_t size,
                      uint32_t *out, size_t cap, size_t *n, size_t *total);

/* Checks the held chunks of hash make a file of size bytes whose hash it
 * is: *ok 1. When every chunk is held but they are not that file (a bad
 * or hostile sender), they are deleted and *ok is 0; when some are
 * missing *ok is 0 and nothing changes. */
int fs_attach_verify(fs_replica *r, const uint8_t hash[FS_ATTACH_HASH], uint64_t size, int *ok);

/* The device's upload bookkeeping: 1 when the server said it holds every
 * chunk of hash. */
int fs_attach_sent(fs_replica *r, const uint8_t hash[FS_ATTACH_HASH], int *sent);
int fs_attach_mark_sent(fs_replica *r, const uint8_t hash[FS_ATTACH_HASH]);

/* Drops the chunks (and upload marks) no live attachment row names any
 * more: the file's rows were deleted, or purged from this device with a
 * customer handed to another rep. *dropped (may be NULL): chunks dropped. */
int fs_attach_gc(fs_replica *r, uint64_t *dropped);

/* One attachment row as read back. */
typedef struct fs_attachment {
    uint8_t id[FS_ID_BYTES];
    char record_table[32];
    uint8_t record_id[FS_ID_BYTES];
    char name[FS_ATTACH_NAME_MAX + 1];
    char kind[32];
    char mime[64];
    uint64_t size;
    uint8_t hash[FS_ATTACH_HASH];
    char attached_at[17];
    int held; /* every chunk is in this replica */
} fs_attachment;

/* Calls cb for each live attachment row (of one record when record_id is
 * not NULL), oldest first; a nonzero return stops and is returned. */
int fs_attach_each(fs_replica *r, const uint8_t *record_id,
                   int (*cb)(const fs_attachment *, void *), void *ctx);

/* 1 when the live record has a live attachment of kind whose bytes are
 * held or not (a device may not have pulled them yet: the row says it was
 * attached). */
int fs_attach_has_kind(fs_replica *r, const uint8_t record_id[FS_ID_BYTES], const char *kind);

/* The attachment row whose hex id starts with prefix. FS_ENOTFOUND,
 * FS_EEXIST (ambiguous), FS_EINVAL. */
int fs_attach_find(fs_replica *r, const char *prefix, fs_attachment *out);

/* Attaches the file open as fd (size bytes, checked by the caller against
 * its limit) to record_id of record_table: the file is read chunk by
 * chunk twice (hash, then store), its chunks stored unless held, and the
 * stored chunks hashed again, so a file that changed while it was read is
 * refused (FS_EINVAL) and nothing is written. customer is the record's
 * customer (the attachment's scope). One transaction. */
int fs_attach_file(fs_replica *r, int fd, uint64_t size, const char *name, const char *kind,
                   const char *mime, const char *record_table,
                   const uint8_t record_id[FS_ID_BYTES], const uint8_t customer[FS_ID_BYTES],
                   const char *attached_at, uint8_t out_id[FS_ID_BYTES],
                   uint8_t out_hash[FS_ATTACH_HASH]);

#endif
