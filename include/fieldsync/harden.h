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

/* The command line, off /proc/PID/cmdline. Any user of the machine can read
 * a process's arguments (ps, /proc/PID/cmdline) while it runs, so what a rep
 * typed after the command words (a customer's name, a place, a search term)
 * must not stay there. Returns a heap copy of argv (argc entries and a NULL,
 * kept for the process's life) and overwrites in place, with zeros, the bytes
 * of every argument after argv[0] for which known() returns 0, so ps shows
 * the program and the words it knows (its commands and option names), not
 * what was typed as their values. Returns NULL, with argv untouched, when
 * out of memory. Call once, first thing in main(). */
char **fs_hide_args(int argc, char **argv, int (*known)(const char *arg));

#endif
