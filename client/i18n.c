/*
 * The client's language (i18n.h): where its catalogs are and which one is
 * read. Only LC_MESSAGES is set from the environment: LC_CTYPE is
 * text.c's (a UTF-8 locale for display widths) and numbers, dates and
 * sorting stay as in C, so nothing machine-read changes with the language.
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fieldsync/localedir.h"
#include "i18n.h"

#ifndef FS_LOCALEDIR
#define FS_LOCALEDIR "/usr/local/share/locale"
#endif

/* The catalogs' directory (fieldsync/localedir.h): the same binary finds
 * them in the build tree, in an installed tree and in a copied one. */
static void bind_catalogs(void)
{
    char use[4096 + 32];
    fs_locale_dir(FS_LOCALEDIR, use, sizeof use);
    bindtextdomain(I18N_DOMAIN, use); /* copies the name */
    /* The catalogs are UTF-8 and so is every terminal a rep uses; without
     * this, a C LC_CTYPE would turn each ideograph into "?". */
    bind_textdomain_codeset(I18N_DOMAIN, "UTF-8");
    textdomain(I18N_DOMAIN);
}

/* Chinese whether or not zh_CN.UTF-8 is installed: $LANGUAGE names the
 * catalog (zh_CN, or zh_TW: Traditional), and glibc honours it under any
 * locale but the plain "C" one, so C.UTF-8 (always present) serves when
 * zh_CN.UTF-8 is missing. */
static void use_chinese(const char *catalog)
{
    setenv("LANGUAGE", catalog, 1);
    if (setlocale(LC_MESSAGES, "zh_CN.UTF-8") == NULL)
        setlocale(LC_MESSAGES, "C.UTF-8");
}

static void use_english(void)
{
    unsetenv("LANGUAGE");
    setlocale(LC_MESSAGES, "C");
}

/* The language the environment asks for, as POSIX orders it. */
static const char *env_messages(void)
{
    static const char *const vars[] = {"LC_ALL", "LC_MESSAGES", "LANG"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v != NULL && v[0] != '\0')
            return v;
    }
    return "C";
}

int i18n_init(const char *lang)
{
    static int bound;
    if (!bound) {
        bind_catalogs();
        bound = 1;
    }
    if (lang == NULL || lang[0] == '\0')
        lang = getenv("FIELDSYNC_LANG");
    if (lang != NULL && lang[0] != '\0') {
        if (strcmp(lang, "zh") == 0) {
            use_chinese("zh_CN");
            return 0;
        }
        if (strcmp(lang, "en") == 0) {
            use_english();
            return 0;
        }
    }
    if (setlocale(LC_MESSAGES, "") == NULL) {
        /* A locale named but not generated on this machine. */
        if (strncmp(env_messages(), "zh", 2) == 0)
            use_chinese(fs_locale_chinese_catalog(env_messages()));
        else
            setlocale(LC_MESSAGES, "C");
    }
    return lang == NULL || lang[0] == '\0' ? 0 : -1;
}
