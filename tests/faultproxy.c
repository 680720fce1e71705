/*
 * faultproxy: a loopback TCP proxy for the network-fault tests. It relays
 * 127.0.0.1:LISTEN to 127.0.0.1:TARGET and, while the file MODE says "cut",
 * cuts PERCENT of the connections after a random number of relayed bytes
 * (between CUT_MIN and CUT_MAX, both directions counted), so that any session
 * gets through now and then, and now and then stalls a direction for up to
 * 300 ms. With "pass" in MODE it only relays.
 *
 *   faultproxy PORT-FILE TARGET-PORT MODE-FILE SEED CUT_MIN CUT_MAX PERCENT
 *
 * Writes its listening port to PORT-FILE, then serves until killed; each
 * cut is one line "cut after N bytes" on stderr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXC 64

typedef struct pair {
    int a, b;  /* client side, server side; -1 when free */
    long left; /* bytes until the cut, -1: never */
    long moved;
    struct timespec stall; /* no relaying before this */
} pair;

static unsigned long long rng_state;

static unsigned long long rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int cutting(const char *mode_file)
{
    char buf[8] = "";
    FILE *f = fopen(mode_file, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strncmp(buf, "cut", 3) == 0;
}

static int connect_to(int port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void drop(pair *p)
{
    if (p->a >= 0)
        close(p->a);
    if (p->b >= 0)
        close(p->b);
    p->a = p->b = -1;
}

static int stalled(const pair *p)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec < p->stall.tv_sec ||
           (now.tv_sec == p->stall.tv_sec && now.tv_nsec < p->stall.tv_nsec);
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr,
                "usage: faultproxy PORT-FILE TARGET-PORT MODE-FILE SEED CUT_MIN CUT_MAX PERCENT\n");
        return 2;
    }
    unsigned percent = (unsigned)atoi(argv[7]);
    int target = atoi(argv[2]);
    const char *mode = argv[3];
    rng_state = strtoull(argv[4], NULL, 10) * 2654435761ull + 88172645463325252ull;
    long cut_min = atol(argv[5]), cut_max = atol(argv[6]);
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 16) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &len) != 0) {
        perror("faultproxy: listen");
        return 1;
    }
    FILE *pf = fopen(argv[1], "w");
    if (pf == NULL)
        return 1;
    fprintf(pf, "%d\n", ntohs(sa.sin_port));
    fclose(pf);

    pair ps[MAXC];
    for (int i = 0; i < MAXC; i++)
        ps[i].a = ps[i].b = -1;
    for (;;) {
        struct pollfd fds[1 + 2 * MAXC];
        int idx[1 + 2 * MAXC], n = 0;
        fds[n] = (struct pollfd){lfd, POLLIN, 0};
        idx[n++] = -1;
        for (int i = 0; i < MAXC; i++) {
            if (ps[i].a < 0 || stalled(&ps[i]))
                continue;
            fds[n] = (struct pollfd){ps[i].a, POLLIN, 0};
            idx[n++] = 2 * i;
            fds[n] = (struct pollfd){ps[i].b, POLLIN, 0};
            idx[n++] = 2 * i + 1;
        }
        if (poll(fds, (nfds_t)n, 50) < 0 && errno != EINTR)
            return 1;
        for (int k = 0; k < n; k++) {
            if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (idx[k] < 0) {
                int c = accept(lfd, NULL, NULL);
                int slot = -1;
                for (int i = 0; i < MAXC && slot < 0; i++)
                    if (ps[i].a < 0)
                        slot = i;
                int s = c >= 0 && slot >= 0 ? connect_to(target) : -1;
                if (s < 0) {
                    if (c >= 0)
                        close(c);
                    continue;
                }
                ps[slot] = (pair){c, s, -1, 0, {0, 0}};
                if (cutting(mode) && rng() % 100 < percent)
                    ps[slot].left =
                        cut_min + (long)(rng() % (unsigned long long)(cut_max - cut_min + 1));
                continue;
            }
            pair *p = &ps[idx[k] / 2];
            if (p->a < 0)
                continue;
            int from = idx[k] % 2 ? p->b : p->a, to = idx[k] % 2 ? p->a : p->b;
            char buf[4096];
            size_t want = sizeof buf;
            if (p->left >= 0 && (long)want > p->left)
                want = (size_t)p->left;
            ssize_t got = want > 0 ? read(from, buf, want) : 0;
            if (got <= 0 || write(to, buf, (size_t)got) != got) {
                if (want == 0)
                    fprintf(stderr, "cut after %ld bytes\n", p->moved);
                drop(p);
                continue;
            }
            p->moved += got;
            if (p->left >= 0)
                p->left -= got;
            if (p->left == 0) {
                fprintf(stderr, "cut after %ld bytes\n", p->moved);
                drop(p);
            } else if (p->left > 0 && rng() % 50 == 0) { /* a stall */
                clock_gettime(CLOCK_MONOTONIC, &p->stall);
                p->stall.tv_nsec += (long)(rng() % 300) * 1000000L;
                if (p->stall.tv_nsec >= 1000000000L) {
                    p->stall.tv_sec++;
                    p->stall.tv_nsec -= 1000000000L;
                }
            }
        }
    }
}
