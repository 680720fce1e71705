/*
 * fieldsync/text.h: UTF-8 decoding, display widths and table cells, as the
 * client's tables and the server's `device list` use them. Run with the
 * built-in width table (the server's case: no locale is set) and with
 * wcwidth() under a UTF-8 LC_CTYPE (the client's).
 */
#include <stdlib.h>
#include <string.h>

#include "fieldsync/error.h"
#include "fieldsync/text.h"
#include "test.h"

static void test_decodes_and_refuses(void)
{
    uint32_t cp;
    CHECK_EQ_INT(text_utf8_next("A", 1, &cp), 1);
    CHECK_EQ_INT(cp, 'A');
    CHECK_EQ_INT(text_utf8_next("\xE5\x8D\x8E", 3, &cp), 3); /* 华 */
    CHECK_EQ_INT(cp, 0x534E);
    CHECK_EQ_INT(text_utf8_next("\xF0\xA0\x80\x80", 4, &cp), 4); /* U+20000 */
    CHECK_EQ_INT(cp, 0x20000);
    CHECK_EQ_INT(text_utf8_next("\xE5\x8D", 2, &cp), 0);         /* cut short */
    CHECK_EQ_INT(text_utf8_next("\xC0\xAF", 2, &cp), 0);         /* overlong */
    CHECK_EQ_INT(text_utf8_next("\xED\xA0\x80", 3, &cp), 0);     /* a surrogate */
    CHECK_EQ_INT(text_utf8_next("\xF4\x90\x80\x80", 4, &cp), 0); /* past U+10FFFF */
    CHECK_EQ_INT(text_utf8_next("\x80", 1, &cp), 0);             /* a continuation */
    CHECK_EQ_INT(text_utf8_next("", 0, &cp), 0);
    CHECK(text_utf8_valid("北京华信 Acme", strlen("北京华信 Acme")));
    CHECK(!text_utf8_valid("北京\xFF", strlen("北京\xFF")));
}

static void widths(void)
{
    CHECK_EQ_INT(text_width("Acme"), 4);
    CHECK_EQ_INT(text_width("北京华信"), 8);
    CHECK_EQ_INT(text_width("王工的笔记本电脑"), 16);
    CHECK_EQ_INT(text_width("ＡＢ"), 4);          /* full-width forms */
    CHECK_EQ_INT(text_width("e\xCC\x81"), 1);      /* e and a combining acute */
    CHECK_EQ_INT(text_width("a\tb\x1b[2J"), 7);    /* controls shown as one column each */
    CHECK_EQ_INT(text_width("\xFF\xFE"), 2);       /* malformed bytes: "?" each */
    CHECK_EQ_INT(text_cp_width(0x4E00), 2);
    CHECK_EQ_INT(text_cp_width('a'), 1);
    CHECK_EQ_INT(text_cp_width(0x07), -1);
}

static void cells(void)
{
    char *c = NULL;
    size_t w = 0;
    CHECK_OK(text_cell("北京华信科技有限公司", 9, &c, &w));
    CHECK_STR(c, "北京华信…"); /* 8 columns of ideographs and the ellipsis */
    CHECK_EQ_INT(w, 9);
    free(c);
    CHECK_OK(text_cell("北京华信科技", 10, &c, &w)); /* a wide character is never split */
    CHECK_STR(c, "北京华信…");
    CHECK_EQ_INT(w, 9);
    free(c);
    CHECK_OK(text_cell("software house", 10, &c, &w));
    CHECK_STR(c, "software…"); /* no space before the ellipsis */
    free(c);
    CHECK_OK(text_cell("a\x1b[2Jb\nc", 0, &c, &w));
    CHECK_STR(c, "a?[2Jb c"); /* nothing can move the cursor */
    CHECK_EQ_INT(w, 8);
    free(c);
    CHECK_OK(text_cell("王工", 16, &c, &w));
    CHECK_STR(c, "王工");
    CHECK_EQ_INT(w, 4);
    free(c);
}

static void test_built_in_table(void)
{
    widths();
    cells();
}

static void test_with_wcwidth(void)
{
    if (!text_init_locale())
        FAIL("no UTF-8 locale (C.UTF-8 is part of Debian's libc): wcwidth() cannot be tested");
    widths();
    cells();
}

TEST_LIST(TEST(decodes_and_refuses) TEST(built_in_table) TEST(with_wcwidth))
