/*
 * The server's connection budget: see conn_budget.h. Entries live in an
 * array indexed by descriptor; the unauthenticated ones are also on two
 * lists in the order they arrived, one of all of them and one per source
 * network (the networks in a small chained hash), so the oldest to close
 * is found at once and every operation is O(1) but the hash's chain walk.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conn_budget.h"

enum { E_FREE = 0, E_UNAUTH, E_AUTH, E_DYING };

typedef struct entry {
    void *handle;
    int32_t net;          /* index into nets, E_UNAUTH only */
    int32_t gprev, gnext; /* all unauthenticated, oldest first */
    int32_t nprev, nnext; /* the network's unauthenticated, oldest first */
    uint8_t state;
} entry;

typedef struct net_rec {
    fs__budget_net_key key;
    size_t count;
    int32_t head, tail; /* its entries, oldest first */
    int32_t hnext;      /* in its bucket, or the free list */
} net_rec;

struct fs__budget {
    fs__budget_limits lim;
    size_t max_fd;
    entry *e;
    net_rec *nets; /* max_fd records: never more networks than entries */
    int32_t free_nets;
    int32_t *buckets;
    size_t nbuckets; /* a power of two */
    int32_t ghead, gtail;
    size_t unauth, auth, dying;
    uint64_t evicted, refused;
};

void fs__budget_limits_for(uint64_t fd_limit, fs__budget_limits *out)
{
    uint64_t usable = fd_limit > FS__BUDGET_MAX_FDS ? FS__BUDGET_MAX_FDS : fd_limit;
    uint64_t reserve = usable / 16 > 32 ? usable / 16 : 32; /* of what is used, not of a huge limit */
    uint64_t total = usable > reserve + 16 ? usable - reserve : 16;
    out->total = (size_t)total;
    out->unauth = out->total - out->total / 4;
    if (out->unauth > FS__BUDGET_MAX_UNAUTH)
        out->unauth = FS__BUDGET_MAX_UNAUTH;
    size_t per = out->unauth / 8;
    out->per_net = per < 4 ? 4 : per > 256 ? 256 : per;
}

fs__budget *fs__budget_new(size_t max_fd, const fs__budget_limits *lim)
{
    if (max_fd == 0 || max_fd > INT32_MAX / 2 || lim->total == 0 || lim->unauth == 0 ||
        lim->per_net == 0)
        return NULL;
    fs__budget *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->lim = *lim;
    b->max_fd = max_fd;
    b->nbuckets = 64;
    while (b->nbuckets < max_fd)
        b->nbuckets *= 2;
    b->e = calloc(max_fd, sizeof *b->e);
    b->nets = calloc(max_fd, sizeof *b->nets);
    b->buckets = malloc(b->nbuckets * sizeof *b->buckets);
    if (b->e == NULL || b->nets == NULL || b->buckets == NULL) {
        fs__budget_free(b);
        return NULL;
    }
    for (size_t i = 0; i < b->nbuckets; i++)
        b->buckets[i] = -1;
    for (size_t i = 0; i < max_fd; i++)
        b->nets[i].hnext = i + 1 < max_fd ? (int32_t)(i + 1) : -1;
    b->free_nets = 0;
    b->ghead = b->gtail = -1;
    return b;
}

void fs__budget_free(fs__budget *b)
{
    if (b == NULL)
        return;
    free(b->e);
    free(b->nets);
    free(b->buckets);
    free(b);
}

void fs__budget_get_limits(const fs__budget *b, fs__budget_limits *out)
{
    *out = b->lim;
}

int fs__budget_net_of(const void *sockaddr, size_t len, fs__budget_net_key *out)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(out, 0, sizeof *out);
    if (len >= sizeof(struct sockaddr_in6) &&
        ((const struct sockaddr *)sockaddr)->sa_family == AF_INET6) {
        struct sockaddr_in6 s6;
        memcpy(&s6, sockaddr, sizeof s6);
        const uint8_t *a = s6.sin6_addr.s6_addr;
        if (memcmp(a, mapped, sizeof mapped) == 0) { /* IPv4 on a dual socket: its /24 */
            memcpy(out->a, a, 15);
        } else {
            memcpy(out->a, a, 8);
        }
        return 0;
    }
    if (len >= sizeof(struct sockaddr_in) &&
        ((const struct sockaddr *)sockaddr)->sa_family == AF_INET) {
        struct sockaddr_in s4;
        memcpy(&s4, sockaddr, sizeof s4);
        memcpy(out->a, mapped, sizeof mapped);
        memcpy(out->a + 12, &s4.sin_addr.s_addr, 3);
        return 0;
    }
    return -1;
}

static size_t bucket_of(const fs__budget *b, const fs__budget_net_key *k)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < sizeof k->a; i++) {
        h ^= k->a[i];
        h *= 1099511628211ull;
    }
    return (size_t)(h ^ (h >> 29)) & (b->nbuckets - 1);
}

static int32_t net_find(const fs__budget *b, const fs__budget_net_key *k)
{
    for (int32_t i = b->buckets[bucket_of(b, k)]; i >= 0; i = b->nets[i].hnext)
        if (memcmp(b->nets[i].key.a, k->a, sizeof k->a) == 0)
            return i;
    return -1;
}

static int32_t net_add(fs__budget *b, const fs__budget_net_key *k)
{
    int32_t i = net_find(b, k);
    if (i >= 0 || b->free_nets < 0)
        return i;
    i = b->free_nets;
    net_rec *n = &b->nets[i];
    b->free_nets = n->hnext;
    n->key = *k;
    n->count = 0;
    n->head = n->tail = -1;
    size_t bk = bucket_of(b, k);
    n->hnext = b->buckets[bk];
    b->buckets[bk] = i;
    return i;
}

static void net_drop(fs__budget *b, int32_t i)
{
    size_t bk = bucket_of(b, &b->nets[i].key);
    int32_t *p = &b->buckets[bk];
    while (*p != i)
        p = &b->nets[*p].hnext;
    *p = b->nets[i].hnext;
    b->nets[i].hnext = b->free_nets;
    b->free_nets = i;
}

static void unlink_unauth(fs__budget *b, int32_t fd)
{
    entry *x = &b->e[fd];
    if (x->gprev >= 0)
        b->e[x->gprev].gnext = x->gnext;
    else
        b->ghead = x->gnext;
    if (x->gnext >= 0)
        b->e[x->gnext].gprev = x->gprev;
    else
        b->gtail = x->gprev;
    net_rec *n = &b->nets[x->net];
    if (x->nprev >= 0)
        b->e[x->nprev].nnext = x->nnext;
    else
        n->head = x->nnext;
    if (x->nnext >= 0)
        b->e[x->nnext].nprev = x->nprev;
    else
        n->tail = x->nprev;
    if (--n->count == 0)
        net_drop(b, x->net);
    x->net = -1;
    b->unauth--;
}

static size_t total_of(const fs__budget *b)
{
    return b->unauth + b->auth + b->dying;
}

int fs__budget_victim(fs__budget *b, const fs__budget_net_key *net)
{
    int32_t n = net_find(b, net);
    int32_t v = -1;
    if (n >= 0 && b->nets[n].count >= b->lim.per_net)
        v = b->nets[n].head;
    else if (b->unauth >= b->lim.unauth || total_of(b) - b->dying >= b->lim.total)
        v = b->ghead;
    if (v < 0)
        return -1;
    unlink_unauth(b, v);
    b->e[v].state = E_DYING;
    b->dying++;
    b->evicted++;
    return v;
}

int fs__budget_admit(fs__budget *b, int fd, const fs__budget_net_key *net)
{
    if (fd < 0 || (size_t)fd >= b->max_fd) {
        b->refused++;
        return -1;
    }
    if (b->e[fd].state != E_FREE)
        fs__budget_forget(b, fd);
    if (total_of(b) >= b->lim.total) {
        b->refused++;
        return -1;
    }
    int32_t n = net_add(b, net);
    if (n < 0) { /* cannot be: fewer networks than entries */
        b->refused++;
        return -1;
    }
    entry *x = &b->e[fd];
    memset(x, 0, sizeof *x);
    x->state = E_UNAUTH;
    x->net = n;
    x->gnext = x->nnext = -1;
    x->gprev = b->gtail;
    if (b->gtail >= 0)
        b->e[b->gtail].gnext = fd;
    else
        b->ghead = fd;
    b->gtail = fd;
    net_rec *r = &b->nets[n];
    x->nprev = r->tail;
    if (r->tail >= 0)
        b->e[r->tail].nnext = fd;
    else
        r->head = fd;
    r->tail = fd;
    r->count++;
    b->unauth++;
    return 0;
}

void fs__budget_set_handle(fs__budget *b, int fd, void *handle)
{
    if (fd >= 0 && (size_t)fd < b->max_fd && b->e[fd].state != E_FREE)
        b->e[fd].handle = handle;
}

void *fs__budget_handle(const fs__budget *b, int fd)
{
    return fd >= 0 && (size_t)fd < b->max_fd ? b->e[fd].handle : NULL;
}

void fs__budget_authenticated(fs__budget *b, int fd)
{
    if (fd < 0 || (size_t)fd >= b->max_fd || b->e[fd].state != E_UNAUTH)
        return;
    unlink_unauth(b, fd);
    b->e[fd].state = E_AUTH;
    b->auth++;
}

void fs__budget_forget(fs__budget *b, int fd)
{
    if (fd < 0 || (size_t)fd >= b->max_fd)
        return;
    switch (b->e[fd].state) {
    case E_UNAUTH:
        unlink_unauth(b, fd);
        break;
    case E_AUTH:
        b->auth--;
        break;
    case E_DYING:
        b->dying--;
        break;
    default:
        return;
    }
    b->e[fd].state = E_FREE;
    b->e[fd].handle = NULL;
}

void fs__budget_counts_get(const fs__budget *b, fs__budget_counts *out)
{
    out->total = total_of(b);
    out->unauth = b->unauth;
    out->authenticated = b->auth;
    out->dying = b->dying;
    out->evicted = b->evicted;
    out->refused = b->refused;
}

size_t fs__budget_net_count(const fs__budget *b, const fs__budget_net_key *net)
{
    int32_t n = net_find(b, net);
    return n >= 0 ? b->nets[n].count : 0;
}
