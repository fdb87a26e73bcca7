/*
 * mail.c: templates, rendering, MIME text and SMTP delivery of one message
 * (mail.h). It never logs, never reads the configuration and never talks
 * to the database; the sender (auth_mail.c) decides what to send and
 * records what happened.
 */
#include "mail.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAIL_TEMPLATE_MAX (64 * 1024)

/*
 * The built-in templates, one per message kind. Columns: kind, subject,
 * HTML body. The fields are those of GoTrue's templates, so a Supabase
 * template file works as it is.
 */
static const struct {
    const char *kind;
    const char *subject;
    const char *body;
} defaults[] = {
    {"confirmation", "Confirm your signup",
     "<h2>Confirm your signup</h2>\n"
     "<p>Follow this link to confirm your account:</p>\n"
     "<p><a href=\"{{ .ConfirmationURL }}\">Confirm your email</a></p>\n"
     "<p>Or enter this code: {{ .Token }}</p>\n"},
    {"invite", "You have been invited",
     "<h2>You have been invited</h2>\n"
     "<p>You have been invited to create an account on {{ .SiteURL }}. Follow this link to "
     "accept the invite:</p>\n"
     "<p><a href=\"{{ .ConfirmationURL }}\">Accept the invite</a></p>\n"
     "<p>Or enter this code: {{ .Token }}</p>\n"},
    {"magiclink", "Your sign-in link",
     "<h2>Your sign-in link</h2>\n"
     "<p>Follow this link to sign in:</p>\n"
     "<p><a href=\"{{ .ConfirmationURL }}\">Sign in</a></p>\n"
     "<p>Or enter this code: {{ .Token }}</p>\n"},
    {"recovery", "Reset your password",
     "<h2>Reset your password</h2>\n"
     "<p>Follow this link to reset the password of your account:</p>\n"
     "<p><a href=\"{{ .ConfirmationURL }}\">Reset password</a></p>\n"
     "<p>Or enter this code: {{ .Token }}</p>\n"},
    {"email_change", "Confirm your new email address",
     "<h2>Confirm your new email address</h2>\n"
     "<p>Follow this link to confirm the change of your email from {{ .Email }} to "
     "{{ .NewEmail }}:</p>\n"
     "<p><a href=\"{{ .ConfirmationURL }}\">Change email</a></p>\n"
     "<p>Or enter this code: {{ .Token }}</p>\n"},
    /* The account flows (sql/kiln_auth/45-account.sql). */
    {"reauthentication", "Confirm reauthentication",
     "<h2>Confirm reauthentication</h2>\n"
     "<p>Enter this code to confirm it is you: {{ .Token }}</p>\n"
     "<p>If you did not ask for it, someone may be using your session: change your "
     "password.</p>\n"},
    {"email_change_notice", "A change of your email address was requested",
     "<h2>A change of your email address was requested</h2>\n"
     "<p>Someone signed in to your account asked to change its email address from {{ .Email }} "
     "to {{ .NewEmail }}. The change happens once the new address is confirmed.</p>\n"
     "<p>If this was not you, change your password and contact {{ .SiteURL }}.</p>\n"},
    {"email_changed", "Your email address was changed",
     "<h2>Your email address was changed</h2>\n"
     "<p>The email address of your account is now {{ .NewEmail }}; {{ .Email }} no longer signs "
     "in to it.</p>\n"
     "<p>If this was not you, contact {{ .SiteURL }} at once.</p>\n"},
};

#define NDEFAULTS (sizeof defaults / sizeof defaults[0])

/* Template names -> fields of the outbox row's data. */
static const struct {
    const char *name;
    const char *field;
} names[] = {
    {"ConfirmationURL", "confirmation_url"},
    {"Token", "token"},
    {"TokenHash", "token_hash"},
    {"SiteURL", "site_url"},
    {"RedirectTo", "redirect_to"},
    {"Email", "email"},
    {"NewEmail", "new_email"},
};

static void set_reason(char *reason, size_t rlen, const char *a, const char *b)
{
    if (reason && rlen)
        snprintf(reason, rlen, "%s%s", a, b ? b : "");
}

bool mail_default_template(const char *kind, const char **subject, const char **body)
{
    for (size_t i = 0; kind && i < NDEFAULTS; i++) {
        if (strcmp(defaults[i].kind, kind) == 0) {
            *subject = defaults[i].subject;
            *body = defaults[i].body;
            return true;
        }
    }
    return false;
}

bool mail_template_load(const char *dir, const char *kind, KilnBuf *subject, KilnBuf *body,
                        char *reason, size_t rlen)
{
    const char *dsub, *dbody;
    if (!mail_default_template(kind, &dsub, &dbody)) {
        set_reason(reason, rlen, "unknown message kind ", kind);
        return false;
    }
    char path[4096];
    FILE *f = NULL;
    if (dir && *dir) {
        snprintf(path, sizeof path, "%s/%s.html", dir, kind);
        f = fopen(path, "rb");
    }
    if (!f) {
        buf_puts(subject, dsub);
        buf_puts(body, dbody);
        return true;
    }
    KilnBuf text = KILN_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && text.len <= MAIL_TEMPLATE_MAX)
        buf_append(&text, chunk, n);
    bool bad = ferror(f) || text.len > MAIL_TEMPLATE_MAX;
    fclose(f);
    if (bad) {
        set_reason(reason, rlen, "template unreadable or larger than 64 KiB: ", path);
        buf_free(&text);
        return false;
    }
    const char *t = buf_str(&text);
    if (strncmp(t, "Subject:", 8) == 0) {
        const char *eol = t + strcspn(t, "\r\n");
        const char *s = t + 8;
        while (*s == ' ' || *s == '\t')
            s++;
        buf_append(subject, s, (size_t)(eol - s));
        t = eol;
        while (*t == '\r' || *t == '\n')
            t++;
    } else {
        buf_puts(subject, dsub);
    }
    buf_puts(body, t);
    buf_free(&text);
    return true;
}

static void put_escaped(KilnBuf *out, const char *v, bool html)
{
    for (; v && *v; v++) {
        switch (html ? *v : 0) {
        case '&':
            buf_puts(out, "&amp;");
            break;
        case '<':
            buf_puts(out, "&lt;");
            break;
        case '>':
            buf_puts(out, "&gt;");
            break;
        case '"':
            buf_puts(out, "&#34;");
            break;
        case '\'':
            buf_puts(out, "&#39;");
            break;
        default:
            buf_putc(out, *v);
        }
    }
}

/* The value a template name stands for ("" when none). */
static const char *field_value(json_t *data, const char *name, size_t len)
{
    if (len > 5 && strncmp(name, "Data.", 5) == 0) {
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(len - 5 < sizeof key ? len - 5 : sizeof key - 1),
                 name + 5);
        const char *v = json_string_value(json_object_get(json_object_get(data, "data"), key));
        return v ? v : "";
    }
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (strlen(names[i].name) == len && strncmp(names[i].name, name, len) == 0) {
            const char *v = json_string_value(json_object_get(data, names[i].field));
            return v ? v : "";
        }
    }
    return "";
}

void mail_render(const char *tmpl, json_t *data, bool html, KilnBuf *out)
{
    const char *p = tmpl;
    while (p && *p) {
        const char *open = strstr(p, "{{");
        const char *close = open ? strstr(open + 2, "}}") : NULL;
        if (!open || !close) {
            buf_puts(out, p);
            return;
        }
        buf_append(out, p, (size_t)(open - p));
        const char *s = open + 2, *e = close;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (s < e && *s == '.')
            put_escaped(out, field_value(data, s + 1, (size_t)(e - s - 1)), html);
        p = close + 2;
    }
}

bool mail_address(const char *from, char *out, size_t len)
{
    if (!from)
        return false;
    const char *lt = strchr(from, '<');
    const char *s = lt ? lt + 1 : from;
    size_t n = lt ? strcspn(s, ">") : strlen(s);
    if (lt && s[n] != '>')
        return false;
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= len || !memchr(s, '@', n))
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '<' || s[i] == '>' || s[i] == ' ' ||
            s[i] == '\t')
            return false;
    memcpy(out, s, n);
    out[n] = '\0';
    return true;
}

static bool header_safe(const char *v)
{
    return v && !strpbrk(v, "\r\n");
}

/* A header value: as it is when ASCII, else RFC 2047 base64 words. */
static void put_header_text(KilnBuf *out, const char *v)
{
    bool ascii = true;
    for (const unsigned char *c = (const unsigned char *)v; *c; c++)
        if (*c >= 0x80)
            ascii = false;
    if (ascii) {
        buf_puts(out, v);
        return;
    }
    size_t n = strlen(v);
    unsigned char enc[4 * 64 / 3 + 8];
    for (size_t off = 0; off < n;) {
        size_t take = n - off > 45 ? 45 : n - off;
        /* never split a UTF-8 sequence */
        while (take < n - off && take > 0 && ((unsigned char)v[off + take] & 0xC0) == 0x80)
            take--;
        int m = EVP_EncodeBlock(enc, (const unsigned char *)v + off, (int)take);
        buf_printf(out, "%s=?UTF-8?B?%.*s?=", off ? "\r\n " : "", m, enc);
        off += take;
    }
}

bool mail_build_message(const char *from, const char *to, const char *subject, const char *html,
                        KilnBuf *out, char *reason, size_t rlen)
{
    char from_addr[320], to_addr[320];
    if (!header_safe(from) || !mail_address(from, from_addr, sizeof from_addr)) {
        set_reason(reason, rlen, "smtp_from is not an address", "; use Name <address> or address");
        return false;
    }
    if (!header_safe(to) || strchr(to, '<') || !mail_address(to, to_addr, sizeof to_addr)) {
        set_reason(reason, rlen, "recipient is not a plain address", NULL);
        return false;
    }
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    unsigned char rnd[12];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        memset(rnd, 0, sizeof rnd);
    const char *domain = strrchr(from_addr, '@') + 1;
    buf_printf(out, "Date: %s\r\nFrom: %s\r\nTo: %s\r\nSubject: ", date, from, to);
    put_header_text(out, header_safe(subject) ? subject : "");
    buf_puts(out, "\r\nMessage-ID: <");
    for (size_t i = 0; i < sizeof rnd; i++)
        buf_printf(out, "%02x", rnd[i]);
    buf_printf(out,
               ".kiln@%s>\r\nMIME-Version: 1.0\r\n"
               "Content-Type: text/html; charset=utf-8\r\n"
               "Content-Transfer-Encoding: 8bit\r\n\r\n",
               domain);
    /* Body: CRLF line ends; a line of a lone "." is sent by curl escaped. */
    for (const char *p = html ? html : ""; *p; p++) {
        if (*p == '\r')
            continue;
        if (*p == '\n')
            buf_putc(out, '\r');
        buf_putc(out, *p);
    }
    if (out->len < 2 || out->data[out->len - 1] != '\n')
        buf_puts(out, "\r\n");
    return true;
}

typedef struct Upload {
    const char *data;
    size_t len, off;
} Upload;

static size_t upload_read(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    Upload *u = userdata;
    size_t room = size * nmemb, left = u->len - u->off;
    size_t n = left < room ? left : room;
    memcpy(ptr, u->data + u->off, n);
    u->off += n;
    return n;
}

bool mail_smtp_send(const KilnSmtp *smtp, const char *from_addr, const char *to, const char *msg,
                    size_t len, char *reason, size_t rlen)
{
    if (!smtp->url ||
        (strncmp(smtp->url, "smtp://", 7) != 0 && strncmp(smtp->url, "smtps://", 8) != 0)) {
        set_reason(reason, rlen, "smtp_url must start with smtp:// or smtps://", NULL);
        return false;
    }
    CURL *c = curl_easy_init();
    if (!c) {
        set_reason(reason, rlen, "curl_easy_init failed", NULL);
        return false;
    }
    char from[340], rcpt[340];
    snprintf(from, sizeof from, "<%s>", from_addr);
    snprintf(rcpt, sizeof rcpt, "<%s>", to);
    struct curl_slist *rcpts = curl_slist_append(NULL, rcpt);
    Upload up = {.data = msg, .len = len};
    char errbuf[CURL_ERROR_SIZE] = "";
    bool auth = smtp->user && *smtp->user;
    curl_easy_setopt(c, CURLOPT_URL, smtp->url);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, upload_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &up);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)(smtp->timeout_s > 0 ? smtp->timeout_s : 30));
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    /* A password never crosses the network in clear: with a user, smtp://
     * must upgrade with STARTTLS. */
    curl_easy_setopt(c, CURLOPT_USE_SSL, (long)(auth ? CURLUSESSL_ALL : CURLUSESSL_TRY));
    if (auth) {
        curl_easy_setopt(c, CURLOPT_USERNAME, smtp->user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, smtp->password ? smtp->password : "");
    }
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (rc != CURLE_OK && reason && rlen)
        snprintf(reason, rlen, "%s%s%s (smtp reply %ld)", curl_easy_strerror(rc),
                 errbuf[0] ? ": " : "", errbuf, code);
    curl_slist_free_all(rcpts);
    curl_easy_cleanup(c);
    return rc == CURLE_OK;
}
