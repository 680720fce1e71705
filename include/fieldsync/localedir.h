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

/* The catalog for a Chinese locale name ("zh_TW.UTF-8", "zh_CN.UTF-8",
 * "zh"): "zh_TW" (Traditional characters) for Taiwan, Hong Kong, Macau or
 * a zh_Hant name, else "zh_CN". For $LANGUAGE when the locale named is not
 * generated on this machine. */
const char *fs_locale_chinese_catalog(const char *locale);

#endif
