/*
 * mail.h: one email message: templates, rendering, the MIME text and its
 * delivery over SMTP (libcurl).
 *
 * Leaf code: includes only buf.h, jansson and libcurl; never logs and never
 * touches the database (auth_mail.c does). Failures come back as a
 * one-line reason in the caller's buffer. Rendering and message building
 * are pure; mail_smtp_send does network I/O and blocks (bounded by its
 * timeouts). Thread-safe: no shared state (curl_global_init is the
 * caller's, once, before threads start).
 */
#ifndef KILN_MAIL_H
#define KILN_MAIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* The SMTP settings of one delivery (borrowed strings). */
typedef struct KilnSmtp {
    const char *url;  /* smtp://host:port or smtps://host:port */
    const char *user; /* NULL or "": no authentication */
    const char *password;
    int timeout_s; /* whole transfer */
} KilnSmtp;

/* The built-in template of a message kind (confirmation, magiclink,
 * recovery, email_change, invite, reauthentication, email_change_notice,
 * email_changed): subject and HTML body, or false for an
 * unknown kind. Static strings. */
bool mail_default_template(const char *kind, const char **subject, const char **body);

/* The template of kind: <dir>/<kind>.html when dir is set and the file
 * exists (an optional first line "Subject: ..." sets the subject, else the
 * built-in subject is kept), else the built-in one. Appends to subject and
 * body. Returns false with reason on an unknown kind or an unreadable or
 * oversized (> 64 KiB) file. */
bool mail_template_load(const char *dir, const char *kind, KilnBuf *subject, KilnBuf *body,
                        char *reason, size_t rlen);

/* Renders tmpl into out: every {{ .Name }} (spaces optional) becomes the
 * field of data GoTrue's templates name so (ConfirmationURL, Token,
 * TokenHash, SiteURL, RedirectTo, Email, NewEmail, Data.key), HTML-escaped
 * when html is set; an unknown name renders empty. Never fails. */
void mail_render(const char *tmpl, json_t *data, bool html, KilnBuf *out);

/* Builds the RFC 5322 message: Date, From, To, Subject (RFC 2047 encoded
 * when not ASCII), Message-ID, MIME-Version, Content-Type text/html UTF-8,
 * then the body with CRLF line ends. Returns false with reason when from
 * or to is not a plain address (CR, LF, '<', '>' or no '@'), so no header
 * can be injected. */
bool mail_build_message(const char *from, const char *to, const char *subject, const char *html,
                        KilnBuf *out, char *reason, size_t rlen);

/* The bare address of "Name <addr>" or "addr" into out (len bytes);
 * false when there is none. */
bool mail_address(const char *from, char *out, size_t len);

/* Delivers msg to `to` from `from_addr` (bare addresses). smtp:// upgrades
 * with STARTTLS when the server offers it, and requires it when a user is
 * set; smtps:// is TLS from the start; certificates are verified. Returns
 * false with reason (curl's, and the server's last reply when there is
 * one) on any failure. Blocks up to smtp->timeout_s. */
bool mail_smtp_send(const KilnSmtp *smtp, const char *from_addr, const char *to, const char *msg,
                    size_t len, char *reason, size_t rlen);

#endif
