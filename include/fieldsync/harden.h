/*
 * Process hardening for programs that hold keys or decrypted pages: no core
 * dumps (which would write page-cache plaintext and key material to disk) and
 * no ptrace attach by other processes of the same user.
 */
#ifndef FIELDSYNC_HARDEN_H
#define FIELDSYNC_HARDEN_H

/* Sets RLIMIT_CORE to 0 and marks the process non-dumpable. Call first thing
 * in main(). Returns 0 or FS_EIO if either could not be set. */
int fs_harden_process(void);

#endif
