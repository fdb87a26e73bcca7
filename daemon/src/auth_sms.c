/*
 * auth_sms.c: the SMS sender thread and `kiln sms` (auth_sms.h).
 *
 * The phone flows write texts to auth.outbox (channel sms) in their own
 * transactions (sql/kiln_auth/46-phone.sql); the sender thread (outbox.c: claim a batch
 * under a lease, deliver, record, retry with the database's backoff,
 * prune) delivers each row through deliver() here: render it with
 * sms_template and post it to the provider (sms.c). With sms_provider
 * outbox (the `kiln dev` default) or empty every message is marked `kept`
 * and stays readable with `kiln sms`, which the log line says.
 *
 * It never writes SQL (sql_auth.c), never includes libpq (tx.c), and never
 * logs a number or a code.
 */
#include "auth_sms.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "outbox.h"
#include "sms.h"

#define SMS_HTTP_TIMEOUT_S 30

/* Does this daemon post texts (twilio or webhook), or keep them? */
static bool sends(const KilnConfig *cfg)
{
    return cfg->sms_provider &&
           (strcmp(cfg->sms_provider, "twilio") == 0 || strcmp(cfg->sms_provider, "webhook") == 0);
}

/* Renders and posts one claimed row. Returns the outcome for auth.outbox_done
 * ("sent", "kept", "retry") with reason set on retry. */
static const char *deliver(const KilnConfig *cfg, json_t *row, char *reason, size_t rlen)
{
    if (!sends(cfg))
        return "kept";
    json_t *data = json_object_get(row, "data");
    KilnSmsProvider prov = {.provider = cfg->sms_provider,
                            .url = cfg->sms_url,
                            .account_sid = cfg->sms_twilio_account_sid,
                            .auth_token = cfg->sms_twilio_auth_token,
                            .from = cfg->sms_from,
                            .secret = cfg->sms_webhook_secret};
    KilnBuf text = KILN_BUF_INIT;
    sms_render(cfg->sms_template, json_string_value(json_object_get(data, "code")), &text);
    KilnSmsRequest rq;
    const char *outcome = "retry";
    if (sms_build_request(&prov, json_string_value(json_object_get(row, "recipient")),
                          json_string_value(json_object_get(data, "channel")),
                          json_string_value(json_object_get(row, "kind")), buf_str(&text), &rq,
                          reason, rlen)) {
        if (sms_http_post(&rq, SMS_HTTP_TIMEOUT_S, reason, rlen))
            outcome = "sent";
        sms_request_free(&rq);
    }
    if (text.data)
        memset(text.data, 0, text.len);
    buf_free(&text);
    return outcome;
}

static int sms_max_attempts(const KilnConfig *cfg)
{
    return cfg->sms_max_attempts;
}

static const KilnOutbox sms_outbox = {
    .name = "sms",
    .kept_log = "sms kept in the outbox (sms_provider is outbox or not set): read it with "
                "`kiln sms`",
    .read_with = "kiln sms",
    .channel = "sms",
    .max_attempts = sms_max_attempts,
    .deliver = deliver,
};

KilnOutboxSender *sms_sender_start(const char *conninfo, int connect_timeout_s)
{
    return outbox_sender_start(&sms_outbox, conninfo, connect_timeout_s);
}

/* ---- kiln sms ------------------------------------------------------------- */

static const char sms_help[] =
    "usage: kiln sms [--limit N] [--to NUMBER] [--json] [--config FILE] [--KEY VALUE ...]\n"
    "\n"
    "Prints the newest text messages of the auth outbox (auth.outbox, channel\n"
    "sms) of the database db_url: kind, number, status, and, until a message is\n"
    "delivered, its 6-digit code. With sms_provider outbox (the `kiln dev` default)\n"
    "or empty, nothing is sent and every message stays readable here. For a\n"
    "`kiln dev` directory:\n"
    "  kiln sms --db-url \"$(kiln status --json | jq -r .db_url)\"\n"
    "\n"
    "  --limit N      at most N messages, newest first (default 10)\n"
    "  --to NUMBER    only messages to this number (E.164, e.g. +15551234567)\n"
    "  --json         one JSON array as auth.outbox_list returns it\n";

/* One message in the text listing. */
static void print_message(json_t *m, const KilnConfig *cfg, FILE *out)
{
    const char *tmpl = cfg->sms_template;
    json_t *d = json_object_get(m, "data");
    fprintf(out, "#%lld  %s  %s  to +%s  [%s, %lld attempt(s)]\n",
            (long long)json_integer_value(json_object_get(m, "id")), outbox_field(m, "created_at"),
            outbox_field(m, "kind"), outbox_field(m, "recipient"), outbox_field(m, "status"),
            (long long)json_integer_value(json_object_get(m, "attempts")));
    const char *code = json_string_value(json_object_get(d, "code"));
    if (code) {
        KilnBuf text = KILN_BUF_INIT;
        sms_render(tmpl, code, &text);
        fprintf(out, "  code:    %s\n  text:    %s\n", code, buf_str(&text));
        buf_free(&text);
    } else {
        fprintf(out, "  (code wiped after delivery)\n");
    }
    if (*outbox_field(m, "last_error"))
        fprintf(out, "  error:   %s\n", outbox_field(m, "last_error"));
}

/* --to as the E.164 digits auth.outbox_list compares with. */
static bool sms_recipient(const char *to, char *out, size_t len)
{
    if (sms_e164_normalize(to, out, len))
        return true;
    fprintf(stderr, "kiln: --to must be a phone number in E.164 form, e.g. +15551234567\n");
    return false;
}

static const KilnOutboxCommand sms_command = {
    .name = "sms",
    .help = sms_help,
    .empty = "no text messages in the outbox",
    .channel = "sms",
    .recipient = sms_recipient,
    .print = print_message,
};

int sms_main(int argc, char **argv)
{
    return outbox_command_main(&sms_command, argc, argv);
}
