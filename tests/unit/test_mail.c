/* test_mail.c: mail.c's pure parts: template rendering (GoTrue's names,
 * HTML escaping), template files, addresses, and the message text (no
 * header injection, CRLF line ends, encoded subjects). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mail.h"
#include "unit.h"

UNIT_TEST(render_gotrue_names_escaped)
{
    json_t *d = json_pack("{s:s, s:s, s:s, s:{s:s}}", "confirmation_url",
                          "https://api.test/auth/v1/verify?token=a&type=signup", "token", "123456",
                          "email", "<ada>@x.test", "data", "name", "Ada & co");
    KilnBuf b = KILN_BUF_INIT;
    mail_render("<a href=\"{{ .ConfirmationURL }}\">go</a> {{.Token}} {{ .Email }} "
                "{{ .Data.name }} [{{ .Unknown }}] {{ unclosed",
                d, true, &b);
    CHECK_STR_EQ(buf_str(&b), "<a href=\"https://api.test/auth/v1/verify?token=a&amp;type=signup\">"
                              "go</a> 123456 &lt;ada&gt;@x.test Ada &amp; co [] {{ unclosed");
    buf_reset(&b);
    mail_render("Code {{ .Token }} & more", d, false, &b);
    CHECK_STR_EQ(buf_str(&b), "Code 123456 & more");
    buf_free(&b);
    json_decref(d);
}

UNIT_TEST(templates_builtin_and_files)
{
    const char *subject, *body;
    CHECK(mail_default_template("recovery", &subject, &body));
    CHECK(strstr(body, "{{ .ConfirmationURL }}") != NULL);
    CHECK(!mail_default_template("nope", &subject, &body));
    char dir[] = "/tmp/kiln-mail-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/magiclink.html", dir);
    FILE *f = fopen(path, "w");
    fputs("Subject: Your link to {{ .SiteURL }}\n\n<p>{{ .Token }}</p>\n", f);
    fclose(f);
    KilnBuf s = KILN_BUF_INIT, b = KILN_BUF_INIT;
    char reason[128] = "";
    CHECK(mail_template_load(dir, "magiclink", &s, &b, reason, sizeof reason));
    CHECK_STR_EQ(buf_str(&s), "Your link to {{ .SiteURL }}");
    CHECK_STR_EQ(buf_str(&b), "<p>{{ .Token }}</p>\n");
    buf_reset(&s), buf_reset(&b);
    /* no file for this kind: the built-in one */
    CHECK(mail_template_load(dir, "invite", &s, &b, reason, sizeof reason));
    CHECK_STR_EQ(buf_str(&s), "You have been invited");
    buf_reset(&s), buf_reset(&b);
    CHECK(!mail_template_load(dir, "../etc/passwd", &s, &b, reason, sizeof reason));
    CHECK(strstr(reason, "unknown message kind") != NULL);
    unlink(path);
    rmdir(dir);
    buf_free(&s), buf_free(&b);
}

UNIT_TEST(addresses)
{
    char a[64];
    CHECK(mail_address("Kiln <noreply@kiln.test>", a, sizeof a));
    CHECK_STR_EQ(a, "noreply@kiln.test");
    CHECK(mail_address("ada@x.test", a, sizeof a));
    CHECK_STR_EQ(a, "ada@x.test");
    CHECK(!mail_address("Kiln <noreply@kiln.test", a, sizeof a));
    CHECK(!mail_address("no at sign", a, sizeof a));
    CHECK(!mail_address("a@b.test\r\nBcc: c@d.test", a, sizeof a));
    CHECK(!mail_address("", a, sizeof a));
}

UNIT_TEST(message_text)
{
    KilnBuf m = KILN_BUF_INIT;
    char reason[128] = "";
    CHECK(mail_build_message("Kiln <noreply@kiln.test>", "ada@x.test", "Confirm your signup",
                             "<p>a</p>\n<p>b</p>", &m, reason, sizeof reason));
    const char *t = buf_str(&m);
    CHECK(strstr(t, "From: Kiln <noreply@kiln.test>\r\nTo: ada@x.test\r\nSubject: Confirm your "
                    "signup\r\nMessage-ID: <") != NULL);
    CHECK(strstr(t, ".kiln@kiln.test>\r\n") != NULL);
    CHECK(strstr(t, "Content-Type: text/html; charset=utf-8\r\n") != NULL);
    CHECK(strstr(t, "\r\n\r\n<p>a</p>\r\n<p>b</p>\r\n") != NULL);
    buf_reset(&m);
    CHECK(mail_build_message("noreply@kiln.test", "ada@x.test", "Bestätigen", "x", &m, reason,
                             sizeof reason));
    CHECK(strstr(buf_str(&m), "Subject: =?UTF-8?B?QmVzdMOkdGlnZW4=?=\r\n") != NULL);
    buf_reset(&m);
    /* header injection through the recipient or the sender is refused */
    CHECK(!mail_build_message("noreply@kiln.test", "ada@x.test\r\nBcc: eve@x.test", "s", "x", &m,
                              reason, sizeof reason));
    CHECK(!mail_build_message("noreply@kiln.test\nBcc: eve@x.test", "ada@x.test", "s", "x", &m,
                              reason, sizeof reason));
    CHECK(!mail_build_message("noreply@kiln.test", "Eve <ada@x.test>", "s", "x", &m, reason,
                              sizeof reason));
    /* a subject with a line break is dropped, not sent as headers */
    CHECK(mail_build_message("noreply@kiln.test", "ada@x.test", "s\r\nBcc: eve@x.test", "x", &m,
                             reason, sizeof reason));
    CHECK(strstr(buf_str(&m), "Bcc:") == NULL);
    buf_free(&m);
}

UNIT_MAIN()
