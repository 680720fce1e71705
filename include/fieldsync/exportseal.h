/*
 * Sealed exports (issue 20 point 4): a read command's output written to a
 * file or pipe is sealed to the company's export key, a Curve25519 key
 * pair made on the server (`fieldsync-server export-key`), whose public
 * half reaches the devices as the team setting `export_pk`. Only the
 * server, holding the secret half, opens such a file
 * (`fieldsync-server export open`).
 *
 * Format (all lengths big-endian):
 *   "FSEXPRT1"                      8 bytes, magic and version
 *   sealed stream key               crypto_box_SEALBYTES + 32 = 80 bytes:
 *                                   crypto_box_seal of a random
 *                                   secretstream key to the export key
 *   secretstream header             24 bytes
 *   chunks                          u32 length (17..FS_EXPORT_CHUNK + 17),
 *                                   then that many bytes of
 *                                   crypto_secretstream_xchacha20poly1305;
 *                                   the last one tagged FINAL, nothing after
 * Plaintext is never written to disk: the writer encrypts each chunk as it
 * fills and the stream key lives in sodium_malloc'd memory until closed.
 * A cut file (no FINAL chunk), a modified byte or a wrong key is refused.
 *
 * The file does not name its recipient (crypto_box_seal carries only an
 * ephemeral public key): after `export-key --rotate` the server keeps every
 * generation of the export key, and the opener tries each on the sealed
 * stream key (fs_export_open_stream_keys) until one authenticates it.
 */
#ifndef FIELDSYNC_EXPORTSEAL_H
#define FIELDSYNC_EXPORTSEAL_H

#include <stddef.h>
#include <stdint.h>

#define FS_EXPORT_PK_BYTES 32
#define FS_EXPORT_SK_BYTES 32
#define FS_EXPORT_CHUNK    65536u
#define FS_EXPORT_MAGIC    "FSEXPRT1"

typedef struct fs_export_writer fs_export_writer;

/* Starts a sealed stream to fd (written with write(2), not closed):
 * writes the header. Errors: FS_ENOMEM, FS_EIO. */
int fs_export_writer_open(fs_export_writer **out, int fd, const uint8_t pk[FS_EXPORT_PK_BYTES]);
/* Adds n bytes; a full chunk is sealed and written. FS_EIO. */
int fs_export_writer_write(fs_export_writer *w, const void *p, size_t n);
/* Seals the rest as the FINAL chunk (with abort: nothing more is written,
 * and the file stays without FINAL, so it does not open), wipes and frees
 * w. Accepts NULL. */
int fs_export_writer_close(fs_export_writer *w, int abort);

/* Opens the sealed stream read from in_fd into out_fd. Returns 0;
 * FS_EFORMAT (not a sealed export, cut short, modified, or sealed to
 * another key), FS_EIO, FS_ENOMEM. Plaintext is written chunk by chunk
 * only after the chunk authenticated; a failed stream may leave earlier
 * chunks written: the caller removes out. */
int fs_export_open_stream(int in_fd, int out_fd, const uint8_t pk[FS_EXPORT_PK_BYTES],
                          const uint8_t sk[FS_EXPORT_SK_BYTES]);

/* One generation of the company's export key. */
typedef struct fs_export_keypair {
    uint8_t pk[FS_EXPORT_PK_BYTES];
    uint8_t sk[FS_EXPORT_SK_BYTES];
} fs_export_keypair;

/* As fs_export_open_stream, trying each of the n key pairs (newest last)
 * on the sealed stream key; *which (may be NULL) receives the index of the
 * one that opened it. FS_EAUTH when the head is a sealed export's but no
 * key opens its stream key (sealed to a key not kept, or its head
 * modified); nothing is written then. Else as fs_export_open_stream. */
int fs_export_open_stream_keys(int in_fd, int out_fd, const fs_export_keypair *keys, size_t n,
                               size_t *which);

#endif
