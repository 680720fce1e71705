/*
 * UTF-8 text as a terminal shows it: strict decoding, display width (a CJK
 * ideograph takes two columns, a combining mark none) and cells cut to a
 * width on character boundaries, ending in "…".
 *
 * Widths come from wcwidth() once text_init_locale() has found a UTF-8
 * LC_CTYPE (C.UTF-8 first); without one, from a small built-in table of the
 * East Asian wide ranges (CJK, Hangul, kana, full-width forms).
 */
#ifndef FIELDSYNC_TEXT_H
#define FIELDSYNC_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Sets LC_CTYPE to a UTF-8 locale (C.UTF-8, then the environment's) so that
 * wcwidth() knows CJK widths. Returns 1 if one was found, 0 if the built-in
 * width table will be used. Only LC_CTYPE changes: numbers print as in C. */
int text_init_locale(void);

/* Decodes one code point from s[0..n). Returns its length in bytes (1-4), or
 * 0 for a malformed, overlong, surrogate or out-of-range sequence (n == 0
 * also gives 0). */
size_t text_utf8_next(const char *s, size_t n, uint32_t *cp);

/* 1 if s[0..n) is entirely valid UTF-8, 0 if not. */
int text_utf8_valid(const char *s, size_t n);

/* Columns a code point takes on a terminal: 0, 1 or 2; -1 if it is not
 * printable (controls, unassigned). */
int text_cp_width(uint32_t cp);

/* Makes a table cell of s: control characters become spaces ("\n", "\t")
 * or "?", as do malformed bytes, so a cell can never move the cursor or
 * send terminal escapes; if the result is wider than maxwidth columns
 * (0: no limit) it is cut on a character boundary and ends in "…".
 * *out receives a malloc'd string (caller frees), *outwidth its width.
 * Returns 0 or FS_ENOMEM. */
int text_cell(const char *s, size_t maxwidth, char **out, size_t *outwidth);

/* Display width of s after the same replacements as text_cell(). */
size_t text_width(const char *s);

#endif
