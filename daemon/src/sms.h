/*
 * sms.h: one text message: phone numbers (E.164), the template, the HTTP
 * request of a provider (a Twilio-compatible form POST or a JSON webhook)
 * and its delivery (libcurl).
 *
 * Leaf code: includes only buf.h, libcurl and libsodium; never logs and
 * never touches the database (auth_sms.c does). Failures come back as a
 * one-line reason in the caller's buffer, never with the message text or
 * the number in it. Everything but sms_http_post is pure; sms_http_post
 * does network I/O and blocks (bounded by its timeout). Thread-safe: no
 * shared state (curl_global_init is the caller's, once, before threads
 * start).
 */
#ifndef KILN_SMS_H
#define KILN_SMS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Longest stored number: 15 digits and the NUL. */
#define SMS_E164_MAX 16

/* The provider settings of one delivery (borrowed strings; NULL or "" when
 * unset). */
typedef struct KilnSmsProvider {
    const char *provider; /* "twilio" or "webhook" */
    const char
        *url; /* twilio: default https://api.twilio.com/2010-04-01/Accounts/<sid>/Messages.json */
    const char *account_sid; /* twilio */
    const char *auth_token;  /* twilio (secret) */
    const char *from;        /* twilio: sender number, or a messaging service sid (MG...) */
    const char *secret;      /* webhook: sent as Authorization: Bearer <secret> (secret) */
} KilnSmsProvider;

/* One HTTP request for a provider. Owned by the caller; sms_request_free
 * releases it and wipes the body and the credential header. */
typedef struct KilnSmsRequest {
    char *url;
    const char *content_type; /* static */
    KilnBuf body;
    char *auth_header; /* "Authorization: ..." or NULL */
} KilnSmsRequest;

/* The stored form of a phone number typed by a person: an optional leading
 * '+' (after ASCII blanks), then digits with ' ', '-', '.', '(' and ')'
 * between them; 7 to 15 digits, the first not 0. Writes the digits
 * (without '+') to out (len >= SMS_E164_MAX) and returns true; false (out
 * "") for anything else. The same rule as auth._normalize_phone
 * (sql/kiln_auth/46-phone.sql). NULL in is false. */
bool sms_e164_normalize(const char *in, char *out, size_t len);

/* Renders tmpl into out: every {{ .Code }} (and GoTrue's mail name
 * {{ .Token }}), spaces optional, becomes code; any other {{ ... }}
 * renders empty; an unclosed "{{" is kept as text. Never fails. */
void sms_render(const char *tmpl, const char *code, KilnBuf *out);

/* Builds the request that sends text to the number to (E.164 digits,
 * without '+'; checked again here) over channel ("sms", or "whatsapp":
 * Twilio's whatsapp: address prefix; the webhook gets the channel as a
 * field). kind is the message kind (confirmation, otp, phone_change), for
 * the webhook. Twilio: POST application/x-www-form-urlencoded To, From (or
 * MessagingServiceSid for an MG... sender) and Body, with HTTP Basic
 * account_sid:auth_token. Webhook: POST application/json {"to": "+<digits>",
 * "message", "channel", "kind"} with Authorization: Bearer <secret> when a
 * secret is set. Returns false with reason when the provider is unknown,
 * a setting it needs is missing, the URL is not http(s) or the number is
 * malformed; *out is then empty (nothing to free). */
bool sms_build_request(const KilnSmsProvider *p, const char *to, const char *channel,
                       const char *kind, const char *text, KilnSmsRequest *out, char *reason,
                       size_t rlen);

/* Frees and wipes rq (NULL or an empty request is a no-op). */
void sms_request_free(KilnSmsRequest *rq);

/* Posts rq: no redirects followed, http and https only, certificates
 * verified, at most timeout_s seconds. True when the provider answered
 * 2xx; false with reason (curl's error, or "HTTP <status>" without the
 * response body, which may echo the message) otherwise. */
bool sms_http_post(const KilnSmsRequest *rq, int timeout_s, char *reason, size_t rlen);

#endif
