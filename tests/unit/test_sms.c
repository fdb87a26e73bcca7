/* test_sms.c: sms.c's pure parts: the E.164 normaliser (the same cases as
 * the auth_phone regress test runs through auth._normalize_phone), the
 * template, and the provider requests (Twilio form POST with HTTP Basic,
 * JSON webhook with the shared secret), including what they refuse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sms.h"
#include "unit.h"

static const struct {
    const char *in;
    const char *stored; /* NULL: refused */
} numbers[] = {
    {"+15551234567", "15551234567"},
    {"15551234567", "15551234567"},
    {" +1 (555) 123-4567 ", "15551234567"},
    {"+44 20.7946.0958", "442079460958"},
    {"+491701234567", "491701234567"},
    {"1234567", "1234567"},
    {"123456789012345", "123456789012345"},
    {"+1555123456a", NULL},
    {"++15551234567", NULL},
    {"1+5551234567", NULL},
    {"+0123456789", NULL},
    {"123456", NULL},
    {"1234567890123456", NULL},
    {"+", NULL},
    {"", NULL},
    {"()", NULL},
    {"phone", NULL},
    {"+1555\n1234567", NULL},
    {"\t+15551234567\r\n", "15551234567"},
    {"+1 555 123 4567 ext 9", NULL},
    {"+１５５５１２３４５６７", NULL}, /* full-width digits */
};

UNIT_TEST(e164_cases)
{
    for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++) {
        char out[SMS_E164_MAX];
        bool ok = sms_e164_normalize(numbers[i].in, out, sizeof out);
        if (numbers[i].stored) {
            CHECK(ok);
            CHECK_STR_EQ(out, numbers[i].stored);
        } else {
            if (ok)
                printf("#   accepted: \"%s\" -> \"%s\"\n", numbers[i].in, out);
            CHECK(!ok);
            CHECK_STR_EQ(out, "");
        }
    }
    char out[SMS_E164_MAX];
    CHECK(!sms_e164_normalize(NULL, out, sizeof out));
    char small[8];
    CHECK(!sms_e164_normalize("+15551234567", small, sizeof small)); /* buffer too small */
}

UNIT_TEST(render_code)
{
    KilnBuf b = KILN_BUF_INIT;
    sms_render("Your code is {{ .Code }}", "123456", &b);
    CHECK_STR_EQ(buf_str(&b), "Your code is 123456");
    buf_reset(&b);
    sms_render("{{.Code}}/{{ .Token }} [{{ .Other }}] {{ unclosed", "042000", &b);
    CHECK_STR_EQ(buf_str(&b), "042000/042000 [] {{ unclosed");
    buf_reset(&b);
    sms_render(NULL, "1", &b);
    CHECK_STR_EQ(buf_str(&b), "");
    buf_free(&b);
}

UNIT_TEST(twilio_request)
{
    KilnSmsProvider p = {
        .provider = "twilio", .account_sid = "AC123", .auth_token = "tok", .from = "+15550100000"};
    KilnSmsRequest rq;
    char reason[128] = "";
    CHECK(sms_build_request(&p, "15551234567", "sms", "otp", "Code 123456 & more", &rq, reason,
                            sizeof reason));
    CHECK_STR_EQ(rq.url, "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json");
    CHECK_STR_EQ(rq.content_type, "application/x-www-form-urlencoded");
    CHECK_STR_EQ(buf_str(&rq.body),
                 "To=%2B15551234567&From=%2B15550100000&Body=Code%20123456%20%26%20more");
    CHECK_STR_EQ(rq.auth_header, "Authorization: Basic QUMxMjM6dG9r"); /* AC123:tok */
    sms_request_free(&rq);
    CHECK(rq.url == NULL && rq.auth_header == NULL);

    /* A configured URL, a messaging service, WhatsApp. */
    p.url = "http://127.0.0.1:9/twilio";
    p.from = "MG0001";
    CHECK(sms_build_request(&p, "15551234567", "sms", "otp", "x", &rq, reason, sizeof reason));
    CHECK_STR_EQ(rq.url, "http://127.0.0.1:9/twilio");
    CHECK_STR_EQ(buf_str(&rq.body), "To=%2B15551234567&MessagingServiceSid=MG0001&Body=x");
    sms_request_free(&rq);
    p.from = "+15550100000";
    CHECK(sms_build_request(&p, "15551234567", "whatsapp", "otp", "x", &rq, reason, sizeof reason));
    CHECK_STR_EQ(buf_str(&rq.body),
                 "To=whatsapp%3A%2B15551234567&From=whatsapp%3A%2B15550100000&Body=x");
    sms_request_free(&rq);

    /* Missing settings and bad URLs are refused with a reason. */
    p.auth_token = "";
    CHECK(!sms_build_request(&p, "15551234567", "sms", "otp", "x", &rq, reason, sizeof reason));
    CHECK(strstr(reason, "sms_twilio_auth_token") != NULL);
    CHECK(rq.url == NULL);
    p.auth_token = "tok";
    p.url = "ftp://x";
    CHECK(!sms_build_request(&p, "15551234567", "sms", "otp", "x", &rq, reason, sizeof reason));
    CHECK(strstr(reason, "sms_url") != NULL);
    p.url = NULL;
    p.account_sid = "AC1/../x";
    CHECK(!sms_build_request(&p, "15551234567", "sms", "otp", "x", &rq, reason, sizeof reason));
}

UNIT_TEST(webhook_request)
{
    KilnSmsProvider p = {
        .provider = "webhook", .url = "https://hooks.example/sms", .secret = "s3cret"};
    KilnSmsRequest rq;
    char reason[128] = "";
    CHECK(sms_build_request(&p, "442079460958", NULL, "confirmation", "Say \"hi\"\n123456", &rq,
                            reason, sizeof reason));
    CHECK_STR_EQ(rq.url, "https://hooks.example/sms");
    CHECK_STR_EQ(rq.content_type, "application/json");
    CHECK_STR_EQ(buf_str(&rq.body),
                 "{\"to\":\"+442079460958\",\"message\":\"Say \\\"hi\\\"\\n123456\","
                 "\"channel\":\"sms\",\"kind\":\"confirmation\"}");
    CHECK_STR_EQ(rq.auth_header, "Authorization: Bearer s3cret");
    sms_request_free(&rq);
    p.secret = NULL;
    CHECK(
        sms_build_request(&p, "442079460958", "whatsapp", "otp", "x", &rq, reason, sizeof reason));
    CHECK(rq.auth_header == NULL);
    CHECK(strstr(buf_str(&rq.body), "\"channel\":\"whatsapp\"") != NULL);
    sms_request_free(&rq);
    p.secret = "two\r\nlines";
    CHECK(!sms_build_request(&p, "442079460958", "sms", "otp", "x", &rq, reason, sizeof reason));
    p.secret = NULL;
    p.url = NULL;
    CHECK(!sms_build_request(&p, "442079460958", "sms", "otp", "x", &rq, reason, sizeof reason));
    CHECK(strstr(reason, "sms_url") != NULL);
}

UNIT_TEST(request_refuses_bad_recipients_and_providers)
{
    KilnSmsProvider p = {.provider = "webhook", .url = "https://hooks.example/sms"};
    KilnSmsRequest rq;
    char reason[128] = "";
    const char *bad[] = {"+15551234567", "1555 1234567", "0555123456", "123", "", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(!sms_build_request(&p, bad[i], "sms", "otp", "x", &rq, reason, sizeof reason));
        CHECK_STR_EQ(reason, "the recipient is not an E.164 number");
    }
    p.provider = "outbox";
    CHECK(!sms_build_request(&p, "15551234567", "sms", "otp", "x", &rq, reason, sizeof reason));
    CHECK(!sms_build_request(NULL, "15551234567", "sms", "otp", "x", &rq, reason, sizeof reason));
    sms_request_free(NULL);
}

UNIT_MAIN()
