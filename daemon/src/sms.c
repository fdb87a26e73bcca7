/*
 * sms.c: phone numbers, the SMS template, provider requests and their
 * delivery (sms.h).
 *
 * Pure except sms_http_post, which is the only function here doing I/O.
 * It never logs, never includes daemon headers beyond buf.h, and never
 * puts the number, the message or a provider's answer into a reason.
 */
#include "sms.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- numbers ------------------------------------------------------------- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool sms_e164_normalize(const char *in, char *out, size_t len)
{
    if (len > 0)
        out[0] = '\0';
    if (!in || len < SMS_E164_MAX)
        return false;
    const char *s = in, *e = in + strlen(in);
    while (s < e && is_blank(*s))
        s++;
    while (e > s && is_blank(e[-1]))
        e--;
    if (s < e && *s == '+')
        s++;
    if (s == e)
        return false;
    size_t n = 0;
    for (const char *c = s; c < e; c++) {
        if (*c >= '0' && *c <= '9') {
            if (n == 15) { /* more than 15 digits */
                out[0] = '\0';
                return false;
            }
            out[n++] = *c;
        } else if (!strchr(" ().-", *c)) {
            out[0] = '\0';
            return false;
        }
    }
    out[n] = '\0';
    if (n < 7 || out[0] == '0') {
        out[0] = '\0';
        return false;
    }
    return true;
}

/* ---- the template -------------------------------------------------------- */

void sms_render(const char *tmpl, const char *code, KilnBuf *out)
{
    const char *p = tmpl ? tmpl : "";
    for (;;) {
        const char *open = strstr(p, "{{");
        const char *close = open ? strstr(open + 2, "}}") : NULL;
        if (!open || !close) {
            buf_puts(out, p);
            return;
        }
        buf_append(out, p, (size_t)(open - p));
        const char *n = open + 2;
        while (n < close && *n == ' ')
            n++;
        const char *ne = close;
        while (ne > n && ne[-1] == ' ')
            ne--;
        size_t nl = (size_t)(ne - n);
        if ((nl == 5 && memcmp(n, ".Code", 5) == 0) || (nl == 6 && memcmp(n, ".Token", 6) == 0))
            buf_puts(out, code ? code : "");
        p = close + 2;
    }
}

/* ---- requests ------------------------------------------------------------ */

static bool set_reason(char *reason, size_t rlen, const char *msg)
{
    snprintf(reason, rlen, "%s", msg);
    return false;
}

static bool empty(const char *s)
{
    return !s || !*s;
}

static bool http_url(const char *u)
{
    return !empty(u) && (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0) &&
           !strpbrk(u, " \t\r\n");
}

/* application/x-www-form-urlencoded: unreserved characters as they are,
 * everything else %XX. */
static void form_escape(KilnBuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '.' || *c == '_' || *c == '~') {
            buf_putc(b, (char)*c);
        } else {
            buf_putc(b, '%');
            buf_putc(b, hex[*c >> 4]);
            buf_putc(b, hex[*c & 15]);
        }
    }
}

static void form_field(KilnBuf *b, const char *name, const char *prefix, const char *value)
{
    if (b->len)
        buf_putc(b, '&');
    buf_puts(b, name);
    buf_putc(b, '=');
    form_escape(b, prefix);
    form_escape(b, value);
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

static bool build_twilio(const KilnSmsProvider *p, const char *to, bool whatsapp, const char *text,
                         KilnSmsRequest *out, char *reason, size_t rlen)
{
    if (empty(p->account_sid) || empty(p->auth_token) || empty(p->from))
        return set_reason(reason, rlen,
                          "sms_provider twilio needs sms_twilio_account_sid, "
                          "sms_twilio_auth_token and sms_from");
    if (strpbrk(p->account_sid, "/?#%: \t\r\n"))
        return set_reason(reason, rlen, "sms_twilio_account_sid has characters a SID never has");
    KilnBuf url = KILN_BUF_INIT;
    if (!empty(p->url)) {
        if (!http_url(p->url))
            return set_reason(reason, rlen, "sms_url must be an http:// or https:// URL");
        buf_puts(&url, p->url);
    } else {
        buf_printf(&url, "https://api.twilio.com/2010-04-01/Accounts/%s/Messages.json",
                   p->account_sid);
    }
    out->url = buf_take(&url);
    out->content_type = "application/x-www-form-urlencoded";
    const char *wa = whatsapp ? "whatsapp:" : "";
    char plus[SMS_E164_MAX + 1];
    snprintf(plus, sizeof plus, "+%s", to);
    form_field(&out->body, "To", wa, plus);
    if (strncmp(p->from, "MG", 2) == 0 && !whatsapp)
        form_field(&out->body, "MessagingServiceSid", "", p->from);
    else
        form_field(&out->body, "From", wa, p->from);
    form_field(&out->body, "Body", "", text);
    /* HTTP Basic: base64(sid:token). */
    size_t cl = strlen(p->account_sid) + 1 + strlen(p->auth_token);
    char *cred = malloc(cl + 1);
    size_t b64len = sodium_base64_encoded_len(cl, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64len);
    char *hdr = malloc(b64len + 32);
    if (!cred || !b64 || !hdr)
        abort();
    snprintf(cred, cl + 1, "%s:%s", p->account_sid, p->auth_token);
    sodium_bin2base64(b64, b64len, (const unsigned char *)cred, cl, sodium_base64_VARIANT_ORIGINAL);
    snprintf(hdr, b64len + 32, "Authorization: Basic %s", b64);
    sodium_memzero(cred, cl);
    sodium_memzero(b64, b64len);
    free(cred);
    free(b64);
    out->auth_header = hdr;
    return true;
}

static bool build_webhook(const KilnSmsProvider *p, const char *to, bool whatsapp, const char *kind,
                          const char *text, KilnSmsRequest *out, char *reason, size_t rlen)
{
    if (!http_url(p->url))
        return set_reason(reason, rlen,
                          "sms_provider webhook needs sms_url, an http:// or https:// URL");
    if (!empty(p->secret) && strpbrk(p->secret, "\r\n"))
        return set_reason(reason, rlen, "sms_webhook_secret must be one line");
    out->url = xstrdup(p->url);
    out->content_type = "application/json";
    buf_printf(&out->body, "{\"to\":\"+%s\",\"message\":", to);
    buf_put_json_string(&out->body, text);
    buf_printf(&out->body, ",\"channel\":\"%s\",\"kind\":", whatsapp ? "whatsapp" : "sms");
    buf_put_json_string(&out->body, kind ? kind : "");
    buf_putc(&out->body, '}');
    if (!empty(p->secret)) {
        size_t n = strlen(p->secret) + 32;
        out->auth_header = malloc(n);
        if (!out->auth_header)
            abort();
        snprintf(out->auth_header, n, "Authorization: Bearer %s", p->secret);
    }
    return true;
}

bool sms_build_request(const KilnSmsProvider *p, const char *to, const char *channel,
                       const char *kind, const char *text, KilnSmsRequest *out, char *reason,
                       size_t rlen)
{
    memset(out, 0, sizeof *out);
    out->body = (KilnBuf)KILN_BUF_INIT;
    char digits[SMS_E164_MAX];
    /* The outbox holds stored numbers: digits only, no '+' and no blanks. */
    if (!to || strspn(to, "0123456789") != strlen(to) ||
        !sms_e164_normalize(to, digits, sizeof digits))
        return set_reason(reason, rlen, "the recipient is not an E.164 number");
    bool whatsapp = channel && strcmp(channel, "whatsapp") == 0;
    bool ok;
    if (p && p->provider && strcmp(p->provider, "twilio") == 0)
        ok = build_twilio(p, digits, whatsapp, text ? text : "", out, reason, rlen);
    else if (p && p->provider && strcmp(p->provider, "webhook") == 0)
        ok = build_webhook(p, digits, whatsapp, kind, text ? text : "", out, reason, rlen);
    else
        ok = set_reason(reason, rlen, "sms_provider must be twilio or webhook to send");
    if (!ok)
        sms_request_free(out);
    return ok;
}

void sms_request_free(KilnSmsRequest *rq)
{
    if (!rq)
        return;
    free(rq->url);
    if (rq->auth_header) {
        sodium_memzero(rq->auth_header, strlen(rq->auth_header));
        free(rq->auth_header);
    }
    if (rq->body.data)
        sodium_memzero(rq->body.data, rq->body.len);
    buf_free(&rq->body);
    memset(rq, 0, sizeof *rq);
}

/* ---- delivery ------------------------------------------------------------ */

static size_t discard(char *ptr, size_t size, size_t n, void *ud)
{
    (void)ptr, (void)ud;
    return size * n;
}

bool sms_http_post(const KilnSmsRequest *rq, int timeout_s, char *reason, size_t rlen)
{
    CURL *c = curl_easy_init();
    if (!c)
        return set_reason(reason, rlen, "cannot start an HTTP client");
    char ct[64];
    snprintf(ct, sizeof ct, "Content-Type: %s", rq->content_type);
    struct curl_slist *hdrs = curl_slist_append(NULL, ct);
    if (rq->auth_header)
        hdrs = curl_slist_append(hdrs, rq->auth_header);
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, rq->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body.data ? rq->body.data : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)rq->body.len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)(timeout_s > 0 ? timeout_s : 30));
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "kiln-sms");
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs); /* the credential header's copy */
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        snprintf(reason, rlen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return false;
    }
    if (status < 200 || status > 299) {
        snprintf(reason, rlen, "the provider answered HTTP %ld", status);
        return false;
    }
    return true;
}
