/*
 * The unlock agent: asks for the passphrase once per working session.
 *
 * `fieldsync unlock` checks the passphrase, then leaves a background process
 * that holds the replica's unwrapped data key (guarded, locked memory; the
 * process cannot be traced or dumped) and hands it to the commands run on
 * the same replica, over a Unix socket in the replica directory
 * (DIR/agent.sock, mode 0600 in a 0700 directory). Both ends check with
 * SO_PEERCRED that the other runs as the same user. After an idle timeout
 * (15 minutes by default; time the machine spends suspended counts) or
 * `fieldsync lock` the agent wipes the key, removes its socket and exits.
 *
 * PROTOCOL: the client sends one request byte; the agent answers and closes.
 *   'K'  key for a command (counts as activity): 'K' key(32) dbid(16)
 *   'k'  key for the daemon (does not keep the agent alive): same answer
 *   'S'  status: 'S' idle-seconds-left(u32 LE) pid(u32 LE)
 *   'L'  lock: 'L', then the agent wipes the key and exits
 * Anything else, or a key file that no longer belongs to the key (the
 * replica was wiped or created again): 'X', and the agent exits.
 */
#ifndef FIELDSYNC_CLIENT_AGENT_H
#define FIELDSYNC_CLIENT_AGENT_H

#include <stdint.h>

#include "fieldsync/keyfile.h"

#define AGENT_IDLE_DEFAULT_MS (15u * 60u * 1000u)

/* Asks the agent of home for the key (for_daemon: without counting as
 * activity). 0 and *out (caller frees), FS_ENOTFOUND when no agent runs
 * there, FS_EAUTH when the socket belongs to another user, FS_EIO for an
 * agent that does not answer properly. */
int agent_key(const char *home, int for_daemon, fs_secret **out);

/* Status of the agent of home: 0 with its idle seconds left and pid, or
 * FS_ENOTFOUND / FS_EAUTH / FS_EIO as agent_key. */
int agent_status(const char *home, uint32_t *idle_left_s, uint32_t *pid);

/* Tells the agent of home to wipe the key and exit. 0, or as agent_key. */
int agent_lock(const char *home);

/* Starts an agent for home holding a copy of s, which stays the caller's.
 * Returns once the agent listens: 0 and its pid, or a fieldsync error code
 * after printing a message. */
int agent_spawn(const char *home, const fs_secret *s, uint64_t idle_ms, long *pid);

#endif
