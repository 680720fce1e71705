/*
 * A record's status or a deal's stage in the reader's words: the words the
 * schema stores (weekly plans, commitments, deals, contracts) said again
 * from the catalog; any other text as it is. One list for the client's
 * lists (client/form_view.c) and the dashboard (server/web.c), which both
 * define _() before including this header; scripts/update-pot extracts it.
 */
#ifndef FIELDSYNC_STATUS_WORDS_H
#define FIELDSYNC_STATUS_WORDS_H

#include <string.h>

#ifndef _
#error "define _() (gettext) before including fieldsync/status_words.h"
#endif
#ifndef N_
#define N_(s) s
#endif

static inline const char *fs_status_words(const char *status)
{
    static const char *const words[] = {N_("draft"),     N_("submitted"), N_("approved"),
                                        N_("returned"),  N_("open"),      N_("done"),
                                        N_("cancelled"), N_("lead"),      N_("negotiating"),
                                        N_("won"),       N_("lost"),      N_("signed")};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(status, words[i]) == 0)
            return _(words[i]);
    return status;
}

#endif
