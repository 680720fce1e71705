/*
 * Where a fieldsync program finds its message catalogs: <dir of the
 * executable>/../share/locale when that directory exists (the build tree, or
 * an installed or copied tree), else `fallback` (the install prefix's
 * locale directory, FS_LOCALEDIR of the program's build).
 */
#ifndef FIELDSYNC_LOCALEDIR_H
#define FIELDSYNC_LOCALEDIR_H

#include <stddef.h>

/* Writes the directory into out (size bytes, cut to fit). */
void fs_locale_dir(const char *fallback, char *out, size_t size);

#endif
