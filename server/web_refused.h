/*
 * The refused changes the dashboard shows (server/web_refused.c): per
 * device and per rep, how many changes the server refused and the newest
 * reason, read from the audit log's refused_write entries (which hold
 * counts by reason, never values).
 */
#ifndef FIELDSYNC_SERVER_WEB_REFUSED_H
#define FIELDSYNC_SERVER_WEB_REFUSED_H

#include <stddef.h>
#include <stdint.h>

#include "fieldsync/store.h"

/* One device's refusals: fingerprint as the audit log names devices (16 hex
 * digits of the device id), its user, the count the server refused in all,
 * the newest push's main reason and its time; and, when the device has told
 * the server (refusal_tally, protocol version 4 on: reported = 1), how many
 * of them are still open on it, neither reverted nor retried. */
typedef struct web_refusal {
    char fingerprint[17];
    char user[FS_USER_NAME_MAX + 1];
    uint64_t count;
    uint32_t newest_reason;
    int64_t newest_ms;
    int reported;
    uint64_t open;
} web_refusal;

/* What is still open: the device's own word when it has told the server,
 * else every refusal (an older device cannot say it put some right). */
uint64_t web__refusal_open(const web_refusal *w);

typedef struct web_refusals {
    web_refusal *items;
    size_t n, cap;
} web_refusals;

/* Reads every refused_write entry of the store's audit log into out (empty
 * on entry), and every device's refusal_tally. 0, FS_ENOMEM, or the audit
 * log's or the store's error. */
int web__refusals_load(fs_store *store, web_refusals *out);

/* The refusals of the device whose id is hex (32 digits), or NULL. */
const web_refusal *web__refusals_device(const web_refusals *all, const char *hex);

/* The refusals of every device of user, summed into *sum (count, open; the
 * newest reason and time across them; reported when every device with
 * refusals has reported). 1 if there were any, else 0. */
int web__refusals_user(const web_refusals *all, const char *user, web_refusal *sum);

/* The reason in words for the dashboard. */
const char *web__refusal_words(uint32_t reason);

void web__refusals_free(web_refusals *all);

#endif
