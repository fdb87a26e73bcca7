/*
 * fuzz_phone.c: libFuzzer harness for sms_e164_normalize (sms.c), which
 * parses phone numbers typed by people (the phone field of /auth/v1
 * requests), and for the request builder it feeds.
 *
 * Properties checked on every input: an accepted number is 7 to 15 ASCII
 * digits, the first not 0; normalising the result again gives the same
 * digits (the stored form is a fixed point); the input holds exactly those
 * digits in that order plus only blanks, '+', ' ().-'; and a request built
 * for it carries "+<digits>" and no CR or LF in the URL or credential
 * header. A refused input leaves the output empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (!in)
        abort();
    memcpy(in, data, size);
    in[size] = '\0';
    char out[SMS_E164_MAX];
    bool ok = sms_e164_normalize(in, out, sizeof out);
    if (!ok) {
        if (out[0] != '\0')
            abort();
        free(in);
        return 0;
    }
    size_t n = strlen(out);
    if (n < 7 || n > 15 || out[0] == '0' || strspn(out, "0123456789") != n)
        abort();
    /* The digits of the input, in order, are the output. */
    size_t k = 0;
    for (const char *c = in; *c; c++) {
        if (*c >= '0' && *c <= '9') {
            if (k >= n || out[k] != *c)
                abort();
            k++;
        } else if (!strchr(" \t\r\n+().-", *c)) {
            abort();
        }
    }
    if (k != n)
        abort();
    char again[SMS_E164_MAX];
    if (!sms_e164_normalize(out, again, sizeof again) || strcmp(again, out) != 0)
        abort();
    KilnSmsProvider p = {.provider = "webhook", .url = "https://hooks.example/sms", .secret = "s"};
    KilnSmsRequest rq;
    char reason[128];
    if (!sms_build_request(&p, out, "sms", "otp", in, &rq, reason, sizeof reason))
        abort();
    char want[SMS_E164_MAX + 8];
    memcpy(want, "\"to\":\"+", 7);
    memcpy(want + 7, out, n + 1);
    if (!strstr(buf_str(&rq.body), want) || strpbrk(rq.url, "\r\n") ||
        strpbrk(rq.auth_header, "\r\n"))
        abort();
    sms_request_free(&rq);
    free(in);
    return 0;
}
