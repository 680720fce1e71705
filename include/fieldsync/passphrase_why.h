/*
 * Why fs_passphrase_get read no passphrase, in the user's language: the core
 * says it in English (core/passphrase.c); each of its sentences a user can
 * cause is recognised whole and said again from the catalog. One place for
 * the client (client/cli.c) and fieldsync-server (server/srv.c), which both
 * define _() as gettext in the "fieldsync" domain before including this
 * header; scripts/update-pot extracts its sentences.
 */
#ifndef FIELDSYNC_PASSPHRASE_WHY_H
#define FIELDSYNC_PASSPHRASE_WHY_H

#include <stdio.h>
#include <string.h>

#include "fieldsync/passphrase.h"

#ifndef _
#error "define _() (gettext) before including fieldsync/passphrase_why.h"
#endif

/* 1 with why said again in the catalog's words in out (cap bytes); 0 when
 * why is not one of the core's own sentences (an error of the terminal,
 * with the system's words: left as it is). */
static inline int fs_passphrase_why_words(const char *why, const char *envname, char *out,
                                          size_t cap)
{
    char en[300];
    if (strcmp(why, "empty passphrase") == 0)
        return snprintf(out, cap, "%s", _("empty passphrase")), 1;
    if (strcmp(why, "the two passphrases differ") == 0)
        return snprintf(out, cap, "%s", _("the two passphrases differ")), 1;
    if (strcmp(why, "out of memory for the passphrase") == 0)
        return snprintf(out, cap, "%s", _("out of memory for the passphrase")), 1;
    snprintf(en, sizeof en, "%s is set but empty", envname);
    if (strcmp(why, en) == 0)
        return snprintf(out, cap, _("%s is set but empty"), envname), 1;
    snprintf(en, sizeof en, "%s: passphrase too long (at most %d bytes)", envname,
             FS_PASSPHRASE_MAX);
    if (strcmp(why, en) == 0)
        return snprintf(out, cap, _("%s: passphrase too long (at most %d bytes)"), envname,
                        FS_PASSPHRASE_MAX),
               1;
    snprintf(en, sizeof en, "passphrase too long (at most %d bytes)", FS_PASSPHRASE_MAX);
    if (strcmp(why, en) == 0)
        return snprintf(out, cap, _("passphrase too long (at most %d bytes)"), FS_PASSPHRASE_MAX),
               1;
    snprintf(en, sizeof en, "no passphrase: set %s or run this on a terminal", envname);
    if (strcmp(why, en) == 0)
        return snprintf(out, cap, _("no passphrase: set %s or run this on a terminal"), envname),
               1;
    return 0;
}

#endif
