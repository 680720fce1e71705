/*
 * Local (Unix domain) sockets between processes of one user: the client's
 * unlock agent and the server's control socket. Small helpers so both check
 * peers and move bytes the same way.
 */
#ifndef FIELDSYNC_UNIXSOCK_H
#define FIELDSYNC_UNIXSOCK_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/un.h>

/* Fills sa with dir/name. 0, or FS_EINVAL when the path does not fit a
 * socket address (about 107 bytes). */
int fs_unix_path(struct sockaddr_un *sa, const char *dir, const char *name);
/* 1 when the process at the other end of fd runs as this process's
 * effective user (SO_PEERCRED). */
int fs_unix_same_user(int fd);
/* Send and receive timeouts on fd. */
void fs_unix_timeouts(int fd, int seconds);
/* Reads exactly n bytes (0) or fails (-1: error, timeout or end of stream). */
int fs_unix_read(int fd, void *buf, size_t n);
/* Writes all n bytes without SIGPIPE (0), or fails (-1). */
int fs_unix_write(int fd, const void *buf, size_t n);
/* Connects to sa. 0 and *fd, FS_ENOTFOUND when nothing listens there (no
 * socket, a stale one), FS_EAUTH when another user's process does, FS_EIO. */
int fs_unix_connect(const struct sockaddr_un *sa, int *fd);
/* Listens on sa with mode 0600, replacing a stale socket (the caller knows
 * none is live). 0 and *fd and the socket's *st, or FS_EEXIST (something
 * other than a socket is there) or FS_EIO with errno set. */
int fs_unix_listen(const struct sockaddr_un *sa, int *fd, struct stat *st);
/* Removes the socket at sa if it is still the one described by st. */
void fs_unix_unlink(const struct sockaddr_un *sa, const struct stat *st);

#endif
