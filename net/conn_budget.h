/*
 * The server's connection budget (issue 20.2): how many descriptors its
 * connections may hold, and which connection goes when a new one would
 * pass a cap. No libwebsockets here: transport_server.c asks and closes.
 *
 * Every accepted connection is an entry, indexed by its descriptor, until
 * it is forgotten (closed). An entry is unauthenticated (an HTTP request, a
 * websocket before its handshake, a socket that says nothing), then maybe
 * authenticated (a device's session), or dying (chosen to be closed, its
 * descriptor not yet released). Three caps:
 *   total   entries of every kind: below the descriptor limit, with room
 *           left for the store, the control socket and its clients;
 *   unauth  unauthenticated entries: total less a reserve that only
 *           authenticated devices can use;
 *   per_net unauthenticated entries from one source network (IPv4 /24,
 *           IPv6 /64). Authenticated devices behind one NAT are not capped.
 * A new connection beyond the per-network or the unauthenticated cap
 * closes the oldest unauthenticated one of its network, or of all,
 * first; one that would pass the total is refused.
 */
#ifndef FIELDSYNC_CONN_BUDGET_H
#define FIELDSYNC_CONN_BUDGET_H

#include <stddef.h>
#include <stdint.h>

typedef struct fs__budget_net_key {
    uint8_t a[16]; /* the /24 (v4-mapped) or /64, the rest zero */
} fs__budget_net_key;

typedef struct fs__budget_limits {
    size_t total, unauth, per_net;
} fs__budget_limits;

typedef struct fs__budget fs__budget;

/* The caps for a descriptor limit (RLIMIT_NOFILE's soft value; above
 * FS__BUDGET_MAX_FDS, as that): total = limit less max(32, limit / 16),
 * unauth = 3/4 of total (at most FS__BUDGET_MAX_UNAUTH), per_net = unauth
 * / 8 within [4, 256]. */
#define FS__BUDGET_MAX_FDS 65536
/* libwebsockets keeps every connection's timeout in one sorted list, which
 * each new connection walks: beyond a few thousand unauthenticated ones,
 * accepting them costs the devices more than the cap saves. */
#define FS__BUDGET_MAX_UNAUTH 4096
void fs__budget_limits_for(uint64_t fd_limit, fs__budget_limits *out);

/* A budget for descriptors below max_fd (entries are indexed by them).
 * NULL when out of memory or a cap is 0. */
fs__budget *fs__budget_new(size_t max_fd, const fs__budget_limits *lim);
void fs__budget_free(fs__budget *b);
void fs__budget_get_limits(const fs__budget *b, fs__budget_limits *out);

/* The network of a peer's address (struct sockaddr_in or _in6). -1 when
 * the family is neither. */
int fs__budget_net_of(const void *sockaddr, size_t len, fs__budget_net_key *out);

/* A connection on fd arrives from net. Returns the descriptor of an
 * unauthenticated connection to close first (it is now dying: the caller
 * closes it, and its close forgets it), or -1 when none must go. Call
 * again until -1, then fs__budget_admit. */
int fs__budget_victim(fs__budget *b, const fs__budget_net_key *net);
/* Admits fd (unauthenticated, the newest): 0, or -1 when the total cap is
 * reached or fd is out of range (refuse the connection). An entry left on
 * fd (a descriptor closed unseen) is forgotten first. */
int fs__budget_admit(fs__budget *b, int fd, const fs__budget_net_key *net);
/* The caller's handle for fd's connection (NULL: none yet). */
void fs__budget_set_handle(fs__budget *b, int fd, void *handle);
void *fs__budget_handle(const fs__budget *b, int fd);
/* fd's connection is authenticated: no cap but the total applies to it. */
void fs__budget_authenticated(fs__budget *b, int fd);
/* fd's connection is closed. Unknown fds are ignored. */
void fs__budget_forget(fs__budget *b, int fd);

typedef struct fs__budget_counts {
    size_t total, unauth, authenticated, dying;
    uint64_t evicted, refused; /* since the budget was made */
} fs__budget_counts;
void fs__budget_counts_get(const fs__budget *b, fs__budget_counts *out);
/* Unauthenticated entries from net now. */
size_t fs__budget_net_count(const fs__budget *b, const fs__budget_net_key *net);

#endif
