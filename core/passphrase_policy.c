/*
 * What a new passphrase must be (issue 20 point 7; fieldsync/passphrase.h).
 * A laptop's replica key is wrapped with Argon2id under the rep's
 * passphrase: a copied home falls to a guessing run as fast as the
 * passphrase is weak (one character fell in 11 guesses). The policy is the
 * length that makes guessing slow (12 characters, or 4 words of 2 or more:
 * Chinese reps type characters, English ones words), less the passphrases
 * guessers try first: a short list of the commonest long passwords, and
 * anything made of a few characters over and over.
 */
#include <ctype.h>
#include <string.h>

#include <sodium.h>

#include "fieldsync/passphrase.h"

/* Long enough to pass the length rule and still tried first by anyone who
 * guesses: keyboard walks, counting, "password" padded, and the
 * passphrases that were examples before they were passwords. Compared
 * without case, spaces or punctuation ("Password 1234!" is "password1234"). */
static const char *const common[] = {
    "123456789012",      "1234567890123",     "12345678901234",   "123456123456",
    "123123123123",      "098765432109",      "qwertyuiopas",     "qwertyuiopasdf",
    "qwertyuiopasdfgh",  "qwerty123456",      "123456qwerty",     "qwerty12345678",
    "1q2w3e4r5t6y",      "1qaz2wsx3edc",      "1qaz2wsx3edc4rfv", "zaq12wsxcde3",
    "qweasdzxc123",      "123qweasdzxc",      "asdfghjkl123",     "asdfghjklqwe",
    "qwer1234asdf",      "1234qwerasdf",      "abcdefghijkl",     "abcdefghijklmn",
    "abc123456789",      "abcd12345678",      "abc123abc123",     "a123456789012",
    "aa123456789",       "password1234",      "password123456",   "passwordpassword",
    "password12345",     "mypassword123",     "passw0rd1234",     "pssw0rd1234",
    "p4ssw0rd1234",      "adminadmin123",     "admin1234567",     "administrator",
    "administrator1",    "welcome12345",      "welcome123456",    "changeme1234",
    "letmein12345",      "trustno11234",      "iloveyou1234",     "iloveyouforever",
    "iloveyou123456",    "woaini1314520",     "woaini5201314",    "aini1314520",
    "5201314520",        "5201314woaini",     "woaiwojia123",     "correcthorsebatterystaple",
    "fieldsync123",      "fieldsyncpassword", "fieldsync1234",    "thequickbrownfox",
    "thequickbrownfoxjumpsoverthelazydog",    "princess12345",    "football12345",
    "baseball12345",     "sunshine12345",     "superman12345",    "starwars12345",
};

/* The passphrase as the list is written: ASCII letters in lower case,
 * digits and every other byte of 0x80 and above kept, spaces and ASCII
 * punctuation dropped. 0 if it does not fit out. */
static int folded(const char *p, size_t n, char *out, size_t size)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x80 && !isalnum(c))
            continue;
        if (k + 1 >= size)
            return 0;
        out[k++] = (char)(c < 0x80 ? tolower(c) : c);
    }
    out[k] = '\0';
    return 1;
}

void fs_pass_policy_default(fs_pass_policy *out)
{
    out->min_chars = FS_PASSPHRASE_MIN_CHARS;
    out->min_words = FS_PASSPHRASE_MIN_WORDS;
}

fs_pass_weakness fs_passphrase_weakness(const char *p, size_t n)
{
    return fs_passphrase_weakness_for(p, n, NULL);
}

void fs_pass_policy_bound(fs_pass_policy *p)
{
    if (p->min_chars < FS_PASSPHRASE_MIN_CHARS) /* never below the built-in rule */
        p->min_chars = FS_PASSPHRASE_MIN_CHARS;
    if (p->min_chars > FS_PASSPHRASE_TEAM_MAX_CHARS)
        p->min_chars = FS_PASSPHRASE_TEAM_MAX_CHARS;
    if (p->min_words < FS_PASSPHRASE_MIN_WORDS)
        p->min_words = FS_PASSPHRASE_MIN_WORDS;
    if (p->min_words > FS_PASSPHRASE_TEAM_MAX_WORDS)
        p->min_words = FS_PASSPHRASE_TEAM_MAX_WORDS;
}

void fs_passphrase_measure(const char *p, size_t n, fs_pass_measure *out)
{
    /* code points, words of 2 or more, distinct code points (up to 5) */
    size_t chars = 0, words = 0, run = 0, ndistinct = 0;
    unsigned long distinct[5] = {0};
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)p[i];
        size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        if (i + len > n)
            len = n - i;
        unsigned long cp = 0;
        for (size_t k = 0; k < len; k++)
            cp = cp << 8 | (unsigned char)p[i + k];
        i += len;
        chars++;
        if (c == ' ' || c == '\t') {
            words += run >= 2;
            run = 0;
        } else {
            run++;
        }
        size_t d = 0;
        while (d < ndistinct && distinct[d] != cp)
            d++;
        if (d == ndistinct && ndistinct < 5)
            distinct[ndistinct++] = cp;
    }
    words += run >= 2;
    out->chars = chars > 4096 ? 4096u : (unsigned)chars; /* FS_PASSPHRASE_MAX bytes at most */
    out->words = words > 4096 ? 4096u : (unsigned)words;
    out->other = FS_PASS_OK;
    char f[128];
    if (ndistinct < 5) {
        out->other = FS_PASS_REPETITIVE;
    } else if (folded(p, n, f, sizeof f)) {
        for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
            if (strcmp(f, common[i]) == 0)
                out->other = FS_PASS_COMMON;
    }
}

fs_pass_weakness fs_pass_measure_check(const fs_pass_measure *m, const fs_pass_policy *pol)
{
    fs_pass_policy rule;
    fs_pass_policy_default(&rule);
    if (pol != NULL) {
        rule = *pol;
        fs_pass_policy_bound(&rule);
    }
    if (m->chars < rule.min_chars && m->words < rule.min_words)
        return FS_PASS_SHORT;
    return m->other;
}

fs_pass_weakness fs_passphrase_weakness_for(const char *p, size_t n, const fs_pass_policy *pol)
{
    fs_pass_measure m;
    fs_passphrase_measure(p, n, &m);
    fs_pass_weakness w = fs_pass_measure_check(&m, pol);
    sodium_memzero(&m, sizeof m);
    return w;
}
