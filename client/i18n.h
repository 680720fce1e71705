/*
 * The client's messages in the rep's language (issue 17 point 1): GNU
 * gettext from glibc, text domain "fieldsync", catalogs compiled from po/
 * into <prefix>/share/locale/<lang>/LC_MESSAGES/fieldsync.mo.
 *
 * Only what a person reads is translated: JSON keys, ids, exit codes and
 * other machine-read output stay the same in every language. Only
 * LC_MESSAGES follows the language; numbers and times keep the C format.
 *
 * Mark a literal with _() where it is printed, with N_() where it sits in a
 * table and is translated later with _(); scripts/update-pot extracts both.
 */
#ifndef FIELDSYNC_CLIENT_I18N_H
#define FIELDSYNC_CLIENT_I18N_H

#include <libintl.h>

#define _(s)  gettext(s)
#define N_(s) (s)

/* The text domain of the client's catalogs. */
#define I18N_DOMAIN "fieldsync"

/* Binds the text domain to the catalogs next to the executable
 * (<bin>/../share/locale, the build tree and an installed tree alike), else
 * to the install prefix's, and picks the language: lang ("zh" or "en",
 * from --lang), else $FIELDSYNC_LANG, else LC_ALL / LC_MESSAGES / LANG as
 * usual. A Chinese environment whose locale is not installed still gets
 * the Chinese messages. Call again with a --lang value to override.
 * Returns 0, or -1 when lang (or $FIELDSYNC_LANG) is neither "zh" nor "en"
 * (the environment's language is used then). */
int i18n_init(const char *lang);

#endif
