/*
 * Deterministic randomness for fuzz harnesses: a ChaCha20 stream that the
 * harness restarts (det_restart) wherever it needs the library to draw the
 * same keys, identities and ids on every run, so that recorded seeds stay
 * valid. Installed with randombytes_set_implementation(&det_impl) before
 * sodium_init. A test harness only: nothing of it reaches the library.
 */
#ifndef FIELDSYNC_FUZZ_DET_RANDOM_H
#define FIELDSYNC_FUZZ_DET_RANDOM_H

#include <stdint.h>
#include <string.h>

#include <sodium.h>

typedef struct det_stream {
    uint8_t key[crypto_stream_chacha20_ietf_KEYBYTES];
    uint64_t counter;
} det_stream;

static det_stream boot_stream = {{0x42}, 0};
static det_stream *current = &boot_stream;

static void det_restart(det_stream *s, uint8_t tag)
{
    memset(s->key, tag, sizeof s->key);
    s->counter = 0;
    current = s;
}

static void det_buf(void *const buf, const size_t size)
{
    uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
    uint64_t c = current->counter++;
    for (int i = 0; i < 8; i++)
        nonce[i] = (uint8_t)(c >> (8 * i));
    crypto_stream_chacha20_ietf((unsigned char *)buf, size, nonce, current->key);
}

static uint32_t det_random(void)
{
    uint32_t v;
    det_buf(&v, sizeof v);
    return v;
}

static const char *det_name(void)
{
    return "fuzz deterministic";
}

static randombytes_implementation det_impl = {det_name, det_random, NULL, NULL, det_buf, NULL};

#endif
