/*
 * Reading a passphrase: from an environment variable for automation, or from
 * the controlling terminal with echo off. One implementation for the client
 * and the server, since it is where a secret first enters the program.
 */
#ifndef FIELDSYNC_PASSPHRASE_H
#define FIELDSYNC_PASSPHRASE_H

#include <stddef.h>

#define FS_PASSPHRASE_MAX 1024 /* bytes */

/* A passphrase in sodium_malloc'd memory (NUL-terminated); free with
 * fs_passphrase_free(), which wipes it. */
typedef struct fs_passphrase {
    char *buf;
    size_t len;
} fs_passphrase;

/* Gets a passphrase from the environment variable envname if it is set,
 * otherwise from /dev/tty with echo off after prompt, and, when
 * confirm_prompt is not NULL, a second time that must match. While echo is
 * off, a signal that ends the process restores the terminal first. On error
 * *out is empty and why (may be NULL) says what was wrong, naming envname,
 * never the passphrase:
 *   FS_EINVAL  empty, longer than FS_PASSPHRASE_MAX, or the two answers differ
 *   FS_EIO     neither the variable nor a terminal, or the terminal failed
 *   FS_ENOMEM */
int fs_passphrase_get(fs_passphrase *out, const char *envname, const char *prompt,
                      const char *confirm_prompt, char *why, size_t whylen);

void fs_passphrase_free(fs_passphrase *p); /* wipes; accepts an empty one */

/* The policy for a new passphrase (init, enroll, passwd): at least
 * FS_PASSPHRASE_MIN_CHARS characters (code points: 12 Chinese characters
 * count 12) or FS_PASSPHRASE_MIN_WORDS words of 2 characters or more,
 * at least 5 different characters, and not one of the commonest long
 * passwords (compared without case, spaces or punctuation). Callers say
 * what was wrong in the user's words, never the passphrase. */
#define FS_PASSPHRASE_MIN_CHARS 12
#define FS_PASSPHRASE_MIN_WORDS 4
typedef enum fs_pass_weakness {
    FS_PASS_OK = 0,
    FS_PASS_SHORT,      /* under 12 characters and under 4 words */
    FS_PASS_REPETITIVE, /* fewer than 5 different characters */
    FS_PASS_COMMON      /* on the list of the commonest */
} fs_pass_weakness;
fs_pass_weakness fs_passphrase_weakness(const char *p, size_t n);

/* A team's stricter rule (issue 20.7; the team settings
 * passphrase_min_chars and passphrase_min_words, fieldsync/rules.h): at
 * least min_chars characters or min_words words. A value under the
 * built-in minimum counts as the built-in one: a team can only make the
 * rule stricter. The upper bounds are what `team set` accepts. */
#define FS_PASSPHRASE_TEAM_MAX_CHARS 128
#define FS_PASSPHRASE_TEAM_MAX_WORDS 32
typedef struct fs_pass_policy {
    unsigned min_chars, min_words;
} fs_pass_policy;
/* The built-in rule. */
void fs_pass_policy_default(fs_pass_policy *out);
/* p within what a team may ask: each number at least the built-in one and
 * at most FS_PASSPHRASE_TEAM_MAX_* (a larger one, from a server that
 * breaks the rule, would be a passphrase no one could give). */
void fs_pass_policy_bound(fs_pass_policy *p);
/* As fs_passphrase_weakness, under pol (NULL: the built-in rule; bounded
 * as fs_pass_policy_bound does): FS_PASS_SHORT when under pol's
 * characters and under its words. */
fs_pass_weakness fs_passphrase_weakness_for(const char *p, size_t n, const fs_pass_policy *pol);

/* What a rule needs to know of a passphrase, without the passphrase: its
 * characters (code points), its words of 2 or more, and FS_PASS_REPETITIVE
 * or FS_PASS_COMMON when it fails every rule whatever its length (else
 * FS_PASS_OK). The client keeps it, under the replica's encryption, when
 * the passphrase is set (init, enroll, passwd), so a team's rule made
 * stricter later is checked without asking for the passphrase (issue 20.7). */
typedef struct fs_pass_measure {
    unsigned chars, words;
    fs_pass_weakness other;
} fs_pass_measure;
void fs_passphrase_measure(const char *p, size_t n, fs_pass_measure *out);
/* m under pol (NULL: the built-in rule; bounded as fs_pass_policy_bound):
 * what fs_passphrase_weakness_for says of the passphrase m measured. */
fs_pass_weakness fs_pass_measure_check(const fs_pass_measure *m, const fs_pass_policy *pol);

#endif
