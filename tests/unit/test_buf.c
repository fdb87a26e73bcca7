/* Unit tests of buf.c: appending, formatting, JSON string escaping. */
#include <stdlib.h>

#include "buf.h"
#include "unit.h"

static char *json(const char *s)
{
    KilnBuf b = KILN_BUF_INIT;
    buf_put_json_string(&b, s);
    return buf_take(&b);
}

UNIT_TEST(append_and_printf_grow)
{
    KilnBuf b = KILN_BUF_INIT;
    CHECK_STR_EQ(buf_str(&b), "");
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%d,", i % 10);
    CHECK(b.len == 2000);
    CHECK(strncmp(buf_str(&b), "0,1,2,", 6) == 0);
    buf_reset(&b);
    CHECK(b.len == 0);
    buf_puts(&b, "x");
    buf_putc(&b, 'y');
    CHECK_STR_EQ(buf_str(&b), "xy");
    buf_free(&b);
}

UNIT_TEST(json_escapes_quotes_controls_and_newlines)
{
    char *s = json("a\"b\\c\nd\re\tf\x01");
    CHECK_STR_EQ(s, "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001\"");
    free(s);
    s = json(NULL);
    CHECK_STR_EQ(s, "null");
    free(s);
}

UNIT_TEST(json_keeps_valid_utf8_and_escapes_invalid_bytes)
{
    char *s = json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5");
    CHECK_STR_EQ(s, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5\"");
    free(s);
    s = json("bad\xff\xc3(");
    CHECK_STR_EQ(s, "\"bad\\u00ff\\u00c3(\"");
    free(s);
    s = json("\xed\xa0\x80"); /* a UTF-16 surrogate encoded in UTF-8 is invalid */
    CHECK_STR_EQ(s, "\"\\u00ed\\u00a0\\u0080\"");
    free(s);
    s = json("\xc0\xaf"); /* overlong '/' */
    CHECK_STR_EQ(s, "\"\\u00c0\\u00af\"");
    free(s);
}

UNIT_MAIN()
