/*
 * The PostgreSQL backend of the server store (store_pg.h): being built
 * (issue 21.2).
 */
#include <libpq-fe.h>

#include "store_int.h"
#include "store_pg.h"

int fs_store_pg_create(fs_store **out, const char *dir, const char *pass, size_t passlen,
                       const char *url, const fs_replica_opts *opts)
{
    (void)dir, (void)pass, (void)passlen, (void)url, (void)opts;
    *out = NULL;
    return PQlibVersion() > 0 ? FS_EINVAL : FS_EDB;
}

int fs_store_pg_open(fs_store **out, const char *dir, const char *pass, size_t passlen,
                     const char *url, const fs_replica_opts *opts)
{
    (void)dir, (void)pass, (void)passlen, (void)url, (void)opts;
    *out = NULL;
    return PQlibVersion() > 0 ? FS_EINVAL : FS_EDB;
}
