/*
 * auth_oauth.c: sign-in with external providers under /auth/v1, as auth-js
 * drives it (supabase-wire §3.2): signInWithOAuth's browser redirect to
 * GET /authorize, the provider's return to GET /callback, and
 * signInWithIdToken's POST /token?grant_type=id_token.
 *
 * Providers come from the JSON file named by auth_providers (docs/auth.md):
 * OpenID Connect providers by issuer (endpoints and keys by discovery), or
 * plain OAuth 2.0 providers (GitHub style) by explicit authorize, token and
 * user-info URLs. The file is re-read when it changes.
 *
 * A sign-in through the browser:
 *
 *   /authorize: provider known? redirect_to allowed (site URL or
 *     auth_redirect_urls; never an open redirect)? -> auth.oauth_begin
 *     stores a single-use flow (state, PKCE verifier, nonce; 10 minutes)
 *     -> 302 to the provider with state, nonce and the S256 challenge.
 *   /callback: auth.oauth_consume(state) (once; a replay or a forged state
 *     is 400 bad_oauth_state) -> code exchange with the verifier (libcurl)
 *     -> OIDC: the ID token verified (oidc.c: signature against the
 *     issuer's JWKS, iss, aud, exp, nonce); OAuth 2.0: the user info
 *     fetched with the access token -> auth.sign_in_external(provider,
 *     subject, ...) -> 302 to redirect_to with the session in the fragment
 *     (the implicit flow). Failures after the state is known go back to
 *     redirect_to as ?error=...&error_code=...&error_description=...
 *
 * The app's own flow: implicit (the session in the fragment), or PKCE when
 * /authorize carries the app's code_challenge (auth-js flowType 'pkce'):
 * the challenge is kept with the state and /callback answers ?code= for
 * grant_type=pkce (auth.sign_in_external_pkce).
 *
 * Linking (linkIdentity): GET /user/identities/authorize, with the user's
 * bearer token, starts the same flow for that user (auth.oauth_begin_link;
 * skip_http_redirect=true answers {"url"} instead of the 302), and its
 * /callback links the verified identity to the user (auth.link_identity),
 * never one already linked to another user.
 *
 * It never links by address (the database keys identities on provider and
 * subject), never logs tokens, codes or secrets, never sends database or
 * provider text beyond a short reason, and never redirects anywhere the
 * allowlist does not name. The pooled connection is held while the
 * provider is called (10 s timeout per call).
 */
#include "auth_oauth.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "auth_api.h"
#include "config.h"
#include "oidc.h"
#include "rest.h"
#include "sql_auth.h"
#include "tx.h"

#define ID_TOKEN_SKEW_S 60

/* ---- providers ----------------------------------------------------------- */

/* One provider of the file. OIDC when issuer is set; OAuth 2.0 otherwise. */
typedef struct OAuthProvider {
    char name[65];
    bool oidc;
    char issuer[512];
    char client_id[256];
    char client_secret[512];
    char scopes[512];
    char authorize_url[512];
    char token_url[512];
    char userinfo_url[512];
    char subject_field[64]; /* OAuth 2.0: the user-info field of the subject ("id") */
} OAuthProvider;

static pthread_mutex_t providers_lock = PTHREAD_MUTEX_INITIALIZER;
static char providers_path[1024];
static struct timespec providers_mtime;
static json_t *providers_doc;

/* The providers document for path (new reference), re-read when the file's
 * modification time changes; NULL with err when unreadable or malformed. */
static json_t *providers_load(const char *path, KilnError *err)
{
    struct stat st;
    if (!path || !*path || stat(path, &st) != 0) {
        kiln_error_set(err, 400, "validation_failed",
                       "Unsupported provider: no providers are configured");
        return NULL;
    }
    json_t *doc = NULL;
    pthread_mutex_lock(&providers_lock);
    if (providers_doc && strcmp(providers_path, path) == 0 &&
        providers_mtime.tv_sec == st.st_mtim.tv_sec &&
        providers_mtime.tv_nsec == st.st_mtim.tv_nsec) {
        doc = json_incref(providers_doc);
    } else {
        json_error_t jerr;
        json_t *fresh = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        if (json_is_object(fresh)) {
            json_decref(providers_doc);
            providers_doc = fresh;
            snprintf(providers_path, sizeof providers_path, "%s", path);
            providers_mtime = st.st_mtim;
            doc = json_incref(fresh);
        } else {
            json_decref(fresh);
        }
    }
    pthread_mutex_unlock(&providers_lock);
    if (!doc)
        kiln_error_set(err, 500, "unexpected_failure", "the providers file is not a JSON object");
    return doc;
}

void oauth_mark_providers(const char *path, json_t *external)
{
    KilnError ignored = {0};
    json_t *doc = path && *path ? providers_load(path, &ignored) : NULL;
    const char *name;
    json_t *v;
    json_object_foreach(doc, name, v)
    {
        if (json_is_object(v) && strlen(name) <= 64)
            json_object_set_new(external, name, json_true());
    }
    json_decref(doc);
}

static bool copy_opt(json_t *p, const char *key, char *out, size_t len)
{
    json_t *v = json_object_get(p, key);
    out[0] = '\0';
    if (!v)
        return true;
    if (!json_is_string(v) || strlen(json_string_value(v)) >= len)
        return false;
    snprintf(out, len, "%s", json_string_value(v));
    return true;
}

/* The provider called name, from the file at path. */
static bool provider_find(const char *path, const char *name, OAuthProvider *out, KilnError *err)
{
    memset(out, 0, sizeof *out);
    if (!name || !*name || strlen(name) >= sizeof out->name)
        return kiln_error_set(err, 400, "validation_failed",
                              "Unsupported provider: missing provider");
    json_t *doc = providers_load(path, err);
    if (!doc)
        return false;
    json_t *p = json_object_get(doc, name);
    bool ok = false;
    if (!json_is_object(p)) {
        kiln_error_set(err, 400, "validation_failed",
                       "Unsupported provider: Provider %.64s could not be found", name);
    } else if (!copy_opt(p, "issuer", out->issuer, sizeof out->issuer) ||
               !copy_opt(p, "client_id", out->client_id, sizeof out->client_id) ||
               !copy_opt(p, "client_secret", out->client_secret, sizeof out->client_secret) ||
               !copy_opt(p, "scopes", out->scopes, sizeof out->scopes) ||
               !copy_opt(p, "authorize_url", out->authorize_url, sizeof out->authorize_url) ||
               !copy_opt(p, "token_url", out->token_url, sizeof out->token_url) ||
               !copy_opt(p, "userinfo_url", out->userinfo_url, sizeof out->userinfo_url) ||
               !copy_opt(p, "subject_field", out->subject_field, sizeof out->subject_field) ||
               !out->client_id[0] ||
               (!out->issuer[0] &&
                (!out->authorize_url[0] || !out->token_url[0] || !out->userinfo_url[0]))) {
        kiln_error_set(err, 500, "unexpected_failure", "provider %.64s is misconfigured", name);
    } else {
        snprintf(out->name, sizeof out->name, "%s", name);
        out->oidc = out->issuer[0] != '\0';
        if (!out->scopes[0])
            snprintf(out->scopes, sizeof out->scopes, "%s",
                     out->oidc ? "openid email profile" : "");
        if (!out->subject_field[0])
            snprintf(out->subject_field, sizeof out->subject_field, "id");
        ok = true;
    }
    json_decref(doc);
    return ok;
}

static void provider_wipe(OAuthProvider *p)
{
    explicit_bzero(p->client_secret, sizeof p->client_secret);
}

/* The provider's authorize and token endpoints (discovery for OIDC). */
static bool provider_endpoints(const OAuthProvider *p, OidcEndpoints *e, KilnError *err)
{
    if (p->oidc)
        return oidc_discover(p->issuer, e, err);
    memset(e, 0, sizeof *e);
    snprintf(e->authorization_endpoint, sizeof e->authorization_endpoint, "%s", p->authorize_url);
    snprintf(e->token_endpoint, sizeof e->token_endpoint, "%s", p->token_url);
    snprintf(e->userinfo_endpoint, sizeof e->userinfo_endpoint, "%s", p->userinfo_url);
    return true;
}

/* ---- URLs (pure) ---------------------------------------------------------- */

static bool url_clean(const char *url)
{
    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
        return false;
    const char *host = strstr(url, "//") + 2;
    size_t hostlen = strcspn(host, "/?#");
    if (hostlen == 0 || memchr(host, '@', hostlen))
        return false;
    for (const unsigned char *c = (const unsigned char *)url; *c; c++)
        if (*c <= ' ' || *c == '\\' || *c == 0x7f)
            return false;
    return true;
}

/* url starts with base, then ends or goes on with '/', '?' or '#' (a
 * trailing '/' of base counts as the separator). */
static bool url_under(const char *base, size_t blen, const char *url)
{
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    if (blen == 0 || strncmp(url, base, blen) != 0)
        return false;
    char next = url[blen];
    return next == '\0' || next == '/' || next == '?' || next == '#';
}

/* url is base itself (a trailing '/' either way). */
static bool url_same(const char *base, size_t blen, const char *url)
{
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    if (blen == 0 || strncmp(url, base, blen) != 0)
        return false;
    return url[blen] == '\0' || (url[blen] == '/' && url[blen + 1] == '\0');
}

/* The same rule as auth._redirect_target in sql/kiln_auth/41-mail.sql (mail
 * links): the site URL and anything below it; an auth_redirect_urls entry
 * itself, or anything below it when it ends in slash-star-star. */
bool oauth_redirect_allowed(const char *site, const char *list, const char *url)
{
    if (!url || !*url || !url_clean(url))
        return false;
    if (site && *site && url_under(site, strlen(site), url))
        return true;
    for (const char *s = list; s && *s;) {
        while (*s == ' ' || *s == ',')
            s++;
        size_t n = strcspn(s, ",");
        size_t m = n;
        while (m > 0 && s[m - 1] == ' ')
            m--;
        if (m > 3 && strncmp(s + m - 3, "/**", 3) == 0) {
            if (url_under(s, m - 3, url))
                return true;
        } else if (m > 0 && url_same(s, m, url)) {
            return true;
        }
        s += n;
    }
    return false;
}

static void put_base(KilnBuf *out, const char *url)
{
    buf_append(out, url, strcspn(url, "#"));
}

static void put_param(KilnBuf *out, bool *first, const char *key, const char *value)
{
    buf_printf(out, "%s%s=", *first ? "" : "&", key);
    oidc_url_encode(out, value);
    *first = false;
}

void oauth_fragment_url(KilnBuf *out, const char *url, const char *session_json,
                        const char *provider_token)
{
    json_t *s = json_loads(session_json, 0, NULL);
    char n1[32], n2[32];
    snprintf(n1, sizeof n1, "%lld",
             (long long)json_integer_value(json_object_get(s, "expires_at")));
    snprintf(n2, sizeof n2, "%lld",
             (long long)json_integer_value(json_object_get(s, "expires_in")));
    const char *at = json_string_value(json_object_get(s, "access_token"));
    const char *rt = json_string_value(json_object_get(s, "refresh_token"));
    bool first = true;
    put_base(out, url);
    buf_putc(out, '#');
    put_param(out, &first, "access_token", at ? at : "");
    put_param(out, &first, "expires_at", n1);
    put_param(out, &first, "expires_in", n2);
    if (provider_token)
        put_param(out, &first, "provider_token", provider_token);
    put_param(out, &first, "refresh_token", rt ? rt : "");
    put_param(out, &first, "token_type", "bearer");
    json_decref(s);
}

void oauth_code_url(KilnBuf *out, const char *url, const char *code)
{
    size_t base = strcspn(url, "#");
    bool first = true;
    buf_append(out, url, base);
    buf_putc(out, memchr(url, '?', base) ? '&' : '?');
    put_param(out, &first, "code", code);
}

void oauth_error_url(KilnBuf *out, const char *url, const char *error, const char *code,
                     const char *description)
{
    size_t base = strcspn(url, "#");
    KilnBuf q = KILN_BUF_INIT;
    bool first = true;
    put_param(&q, &first, "error", error);
    put_param(&q, &first, "error_code", code);
    put_param(&q, &first, "error_description", description);
    buf_append(out, url, base);
    buf_putc(out, memchr(url, '?', base) ? '&' : '?');
    buf_puts(out, buf_str(&q));
    buf_putc(out, '#');
    buf_puts(out, buf_str(&q));
    buf_free(&q);
}

/* ---- the database ------------------------------------------------------- */

/* Runs one flow statement; *answer (new reference) is the flow's body or
 * error object, *status its HTTP status. False: the transaction failed
 * (err set, generic). */
static bool flow_run(KilnRequest *req, KilnConn *conn, bool *broken, const char *token,
                     const char *sql, int n, const char *const *params, json_t **answer,
                     int *status, KilnError *err)
{
    KilnTxResult out;
    bool ok = rest_tx(req, conn, true, false, token, sql, n, params, 0, &out, broken, err);
    *answer = NULL;
    if (ok) {
        *answer = json_loadb(out.body.data ? out.body.data : "", out.body.len, 0, NULL);
        *status = (int)out.page_rows;
        if (!json_is_object(*answer)) {
            json_decref(*answer);
            *answer = NULL;
            ok = kiln_error_set(err, 500, "unexpected_failure", "unexpected flow answer");
        }
    }
    if (out.body.data)
        explicit_bzero(out.body.data, out.body.len);
    buf_free(&out.body);
    buf_free(&out.extra);
    return ok;
}

/* A flow's error object (or a tx failure) into err. */
static bool flow_error(json_t *e, int status, KilnError *err)
{
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (!code || !msg || status < 400 || status > 599)
        return kiln_error_set(err, 500, "unexpected_failure",
                              "Unexpected failure, please check server logs for more information");
    return kiln_error_set(err, status, code, "%s", msg);
}

/* Renders err in the auth error format the request asked for (5xx keep
 * a generic message unless they are the provider's). */
static void render(KilnResponse *res, const KilnRequest *req, const KilnError *err,
                   bool token_endpoint)
{
    bool versioned = auth_api_versioned(request_header(req, "X-Supabase-Api-Version"));
    const char *msg = err->message;
    if (err->status == 401 && strncmp(err->code, "PGRST", 5) == 0) {
        auth_render_error(res, 401, "invalid_api_key", "Invalid API key", NULL, versioned, false);
        return;
    }
    if (err->status >= 500 && strcmp(err->code, "provider_error") != 0)
        msg = "Unexpected failure, please check server logs for more information";
    auth_render_error(res, err->status ? err->status : 500,
                      err->code[0] ? err->code : "unexpected_failure", msg, NULL, versioned,
                      token_endpoint);
}

static void redirect(KilnResponse *res, int status, const char *location)
{
    res->status = status;
    buf_reset(&res->body);
    response_set_header(res, "Location", location);
    response_set_header(res, "Cache-Control", "no-store");
}

/* ---- /authorize ------------------------------------------------------------ */

/* The callback URL registered with providers. */
static void callback_url(const KilnConfig *cfg, KilnBuf *out)
{
    const char *ext = cfg->auth_external_url;
    if (ext && *ext) {
        size_t n = strlen(ext);
        while (n > 0 && ext[n - 1] == '/')
            n--;
        buf_append(out, ext, n);
    } else {
        bool v6 = strchr(cfg->listen_address, ':') != NULL;
        buf_printf(out, "http://%s%s%s:%d", v6 ? "[" : "", cfg->listen_address, v6 ? "]" : "",
                   cfg->port);
    }
    buf_puts(out, "/auth/v1/callback");
}

/* The redirect target of a request: redirect_to if allowed, the site URL
 * when absent. */
static bool pick_redirect(const KilnConfig *cfg, const char *asked, const char **out,
                          KilnError *err)
{
    if (asked && *asked) {
        if (!oauth_redirect_allowed(cfg->auth_site_url, cfg->auth_redirect_urls, asked))
            return kiln_error_set(err, 400, "validation_failed",
                                  "redirect_to is not an allowed redirect URL (auth_site_url, "
                                  "auth_redirect_urls)");
        *out = asked;
        return true;
    }
    if (!cfg->auth_site_url || !*cfg->auth_site_url)
        return kiln_error_set(err, 400, "validation_failed",
                              "redirect_to is required: no auth_site_url is configured");
    *out = cfg->auth_site_url;
    return true;
}

/* The bearer token of a linking request (an apikey is required too, as on
 * every bearer endpoint). */
static bool bearer_token(const KilnRequest *req, const char **token, KilnError *err)
{
    const char *apikey = request_header(req, "apikey");
    if (!apikey || !*apikey)
        apikey = request_query(req, "apikey");
    if (!apikey || !*apikey)
        return kiln_error_set(err, 401, "no_api_key", "No API key found in request");
    KilnError ignored = {0};
    *token = NULL;
    if (!rest_pick_token(req, apikey, token, &ignored) || !*token || *token == apikey)
        return kiln_error_set(err, 401, "no_authorization",
                              "This endpoint requires a valid Bearer token");
    return true;
}

/* GET /authorize, or GET /user/identities/authorize (link: the bearer's
 * user links the identity). */
static bool serve_authorize(KilnRequest *req, bool link, KilnConn *conn, bool *broken,
                            KilnResponse *res, KilnError *err)
{
    const KilnConfig *cfg = req->cfg;
    const char *target = NULL, *token = NULL;
    const char *challenge = request_query(req, "code_challenge");
    const char *method = request_query(req, "code_challenge_method");
    if (challenge && !*challenge)
        challenge = NULL;
    if (method && !*method)
        method = NULL;
    if (!challenge != !method)
        return kiln_error_set(err, 400, "validation_failed",
                              "PKCE flow requires code_challenge_method and code_challenge");
    if (link && !bearer_token(req, &token, err))
        return false;
    OAuthProvider p;
    OidcEndpoints e;
    if (!provider_find(cfg->auth_providers, request_query(req, "provider"), &p, err) ||
        !pick_redirect(cfg, request_query(req, "redirect_to"), &target, err) ||
        !provider_endpoints(&p, &e, err)) {
        provider_wipe(&p);
        return false;
    }
    provider_wipe(&p);
    KilnBuf settings = KILN_BUF_INIT;
    auth_settings_json(cfg, &settings);
    const char *params[] = {p.name, target, buf_str(&settings), challenge, method};
    const char *sql = link        ? sql_auth_oauth_begin_link()
                      : challenge ? sql_auth_oauth_begin_pkce()
                                  : sql_auth_oauth_begin();
    json_t *a;
    int status;
    bool ran = flow_run(req, conn, broken, token, sql, link || challenge ? 5 : 3, params, &a,
                        &status, err);
    buf_free(&settings);
    if (!ran) {
        if (link && err->status == 401) /* the bearer token, not the apikey */
            kiln_error_set(err, 403, "bad_jwt", "invalid JWT: unable to parse or verify signature");
        return false;
    }
    if (status != 200) {
        flow_error(a, status, err);
        json_decref(a);
        return false;
    }
    KilnBuf url = KILN_BUF_INIT, cb = KILN_BUF_INIT;
    callback_url(cfg, &cb);
    const char *ae = e.authorization_endpoint;
    buf_puts(&url, ae);
    buf_putc(&url, strchr(ae, '?') ? '&' : '?');
    bool first = true;
    put_param(&url, &first, "response_type", "code");
    put_param(&url, &first, "client_id", p.client_id);
    put_param(&url, &first, "redirect_uri", buf_str(&cb));
    const char *extra = request_query(req, "scopes");
    KilnBuf scopes = KILN_BUF_INIT;
    buf_puts(&scopes, p.scopes);
    if (extra && *extra)
        buf_printf(&scopes, "%s%s", p.scopes[0] ? " " : "", extra);
    if (scopes.len)
        put_param(&url, &first, "scope", buf_str(&scopes));
    put_param(&url, &first, "state", json_string_value(json_object_get(a, "state")));
    put_param(&url, &first, "code_challenge",
              json_string_value(json_object_get(a, "code_challenge")));
    put_param(&url, &first, "code_challenge_method", "S256");
    if (p.oidc)
        put_param(&url, &first, "nonce", json_string_value(json_object_get(a, "nonce")));
    const char *skip = request_query(req, "skip_http_redirect");
    if (skip && strcmp(skip, "true") == 0) {
        /* linkIdentity (and signInWithOAuth's skipBrowserRedirect) read
         * the provider URL from the body. */
        res->status = 200;
        res->content_type = "application/json";
        buf_reset(&res->body);
        buf_puts(&res->body, "{\"url\":");
        buf_put_json_string(&res->body, buf_str(&url));
        buf_putc(&res->body, '}');
        response_set_header(res, "Cache-Control", "no-store");
    } else {
        redirect(res, 302, buf_str(&url));
    }
    json_decref(a);
    buf_free(&url);
    buf_free(&cb);
    buf_free(&scopes);
    return true;
}

/* ---- verified identities ------------------------------------------------- */

/* What the provider says about the person. */
typedef struct Identity {
    json_t *data; /* claims or user info (new reference) */
    char subject[256];
    bool email_verified;
} Identity;

/* Verifies an ID token of provider p (OIDC) with nonce rules x. */
static bool identity_from_id_token(const OAuthProvider *p, const char *id_token, const char *nonce,
                                   bool nonce_optional, Identity *out, KilnError *err)
{
    OidcEndpoints e;
    if (!oidc_discover(p->issuer, &e, err))
        return false;
    OidcExpect x = {.issuer = p->issuer,
                    .client_id = p->client_id,
                    .nonce = nonce,
                    .nonce_optional = nonce_optional,
                    .now = (long long)time(NULL),
                    .skew_s = ID_TOKEN_SKEW_S};
    json_t *jwks, *claims = NULL;
    bool unknown_kid = false;
    if (!oidc_jwks(e.jwks_uri, false, &jwks, err))
        return false;
    bool ok = oidc_verify_id_token(id_token, jwks, &x, &claims, &unknown_kid, err);
    json_decref(jwks);
    if (!ok && unknown_kid) { /* keys rotated at the provider: fetch once more */
        if (!oidc_jwks(e.jwks_uri, true, &jwks, err))
            return false;
        ok = oidc_verify_id_token(id_token, jwks, &x, &claims, &unknown_kid, err);
        json_decref(jwks);
    }
    if (!ok)
        return false;
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    if (strlen(sub) >= sizeof out->subject) {
        json_decref(claims);
        return kiln_error_set(err, 400, "bad_id_token", "ID token refused: sub is too long");
    }
    snprintf(out->subject, sizeof out->subject, "%s", sub);
    out->email_verified = json_is_true(json_object_get(claims, "email_verified"));
    out->data = claims;
    return true;
}

/* OAuth 2.0: the user info fetched with the access token. Addresses from
 * such providers count as unverified. */
static bool identity_from_userinfo(const OAuthProvider *p, const char *url,
                                   const char *access_token, Identity *out, KilnError *err)
{
    json_t *info;
    if (!oidc_http_get_json(url, access_token, &info, err))
        return false;
    json_t *sub = json_object_get(info, p->oidc ? "sub" : p->subject_field);
    if (json_is_integer(sub))
        snprintf(out->subject, sizeof out->subject, "%lld", (long long)json_integer_value(sub));
    else if (json_is_string(sub) && *json_string_value(sub) &&
             strlen(json_string_value(sub)) < sizeof out->subject)
        snprintf(out->subject, sizeof out->subject, "%s", json_string_value(sub));
    else {
        json_decref(info);
        return kiln_error_set(err, 502, "provider_error",
                              "the provider's user info has no usable subject");
    }
    out->email_verified = false;
    out->data = info;
    return true;
}

/* auth.sign_in_external for a verified identity: *session (new reference)
 * on success. */
static bool sign_in(KilnRequest *req, KilnConn *conn, bool *broken, const char *token,
                    const char *provider, const Identity *id, json_t **session, KilnError *err)
{
    KilnBuf settings = KILN_BUF_INIT;
    auth_settings_json(req->cfg, &settings);
    char *data = json_dumps(id->data, JSON_COMPACT);
    const char *params[] = {provider, id->subject, data, id->email_verified ? "true" : "false",
                            buf_str(&settings)};
    int status;
    bool ok = data && flow_run(req, conn, broken, token, sql_auth_sign_in_external(), 5, params,
                               session, &status, err);
    if (ok && status != 200) {
        flow_error(*session, status, err);
        json_decref(*session);
        *session = NULL;
        ok = false;
    }
    free(data);
    buf_free(&settings);
    return ok;
}

/* The end of a callback whose flow is f for a verified identity: links it
 * to the flow's user (linkIdentity), or signs in; *answer (new reference)
 * is a session, or {"code"} when the app sent a PKCE challenge. */
static bool callback_finish(KilnRequest *req, KilnConn *conn, bool *broken, json_t *f,
                            const char *provider, const Identity *id, json_t **answer,
                            KilnError *err)
{
    const char *link_user = json_string_value(json_object_get(f, "link_user_id"));
    const char *challenge = json_string_value(json_object_get(f, "code_challenge"));
    const char *method = json_string_value(json_object_get(f, "code_challenge_method"));
    if (!link_user && !challenge)
        return sign_in(req, conn, broken, NULL, provider, id, answer, err);
    KilnBuf settings = KILN_BUF_INIT;
    auth_settings_json(req->cfg, &settings);
    char *data = json_dumps(id->data, JSON_COMPACT);
    const char *verified = id->email_verified ? "true" : "false";
    const char *linkp[] = {link_user, provider,           id->subject, data,
                           verified,  buf_str(&settings), challenge,   method};
    const char *pkcep[] = {provider,           id->subject, data,  verified,
                           buf_str(&settings), challenge,   method};
    int status;
    bool ok =
        data && (link_user ? flow_run(req, conn, broken, NULL, sql_auth_link_identity(), 8, linkp,
                                      answer, &status, err)
                           : flow_run(req, conn, broken, NULL, sql_auth_sign_in_external_pkce(), 7,
                                      pkcep, answer, &status, err));
    if (ok && status != 200) {
        flow_error(*answer, status, err);
        json_decref(*answer);
        *answer = NULL;
        ok = false;
    }
    free(data);
    buf_free(&settings);
    return ok;
}

/* Audits a refusal decided here (not by a flow, which audits its own):
 * a bad ID token, a provider error, a callback without a code. Best
 * effort: a failure to write it does not change the answer. */
static void audit_refusal(KilnRequest *req, KilnConn *conn, bool *broken, const char *token,
                          const char *provider, const KilnError *e)
{
    static const char *const codes[] = {"bad_id_token", "provider_error", "bad_oauth_callback"};
    bool ours = false;
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
        ours = ours || strcmp(e->code, codes[i]) == 0;
    if (!ours || *broken)
        return;
    KilnBuf settings = KILN_BUF_INIT;
    auth_settings_json(req->cfg, &settings);
    const char *params[] = {provider ? provider : "", e->code, buf_str(&settings)};
    json_t *a = NULL;
    int status;
    KilnError ignored = {0};
    if (flow_run(req, conn, broken, token, sql_auth_oauth_failed(), 3, params, &a, &status,
                 &ignored))
        json_decref(a);
    buf_free(&settings);
}

/* ---- /callback ------------------------------------------------------------ */

/* The code exchange and identity of a callback whose flow is f. */
static bool callback_identity(KilnRequest *req, json_t *f, OAuthProvider *p, Identity *id,
                              char **provider_token, KilnError *err)
{
    const char *code = request_query(req, "code");
    if (!code || !*code)
        return kiln_error_set(err, 400, "bad_oauth_callback", "OAuth callback without a code");
    OidcEndpoints e;
    if (!provider_find(req->cfg->auth_providers, json_string_value(json_object_get(f, "provider")),
                       p, err) ||
        !provider_endpoints(p, &e, err))
        return false;
    KilnBuf form = KILN_BUF_INIT, cb = KILN_BUF_INIT;
    callback_url(req->cfg, &cb);
    bool first = true;
    put_param(&form, &first, "grant_type", "authorization_code");
    put_param(&form, &first, "code", code);
    put_param(&form, &first, "redirect_uri", buf_str(&cb));
    put_param(&form, &first, "client_id", p->client_id);
    if (p->client_secret[0])
        put_param(&form, &first, "client_secret", p->client_secret);
    put_param(&form, &first, "code_verifier",
              json_string_value(json_object_get(f, "code_verifier")));
    json_t *tok = NULL;
    bool ok = oidc_http_post_form(e.token_endpoint, buf_str(&form), &tok, err);
    explicit_bzero(form.data, form.len);
    buf_free(&form);
    buf_free(&cb);
    if (!ok)
        return false;
    const char *at = json_string_value(json_object_get(tok, "access_token"));
    const char *idt = json_string_value(json_object_get(tok, "id_token"));
    if (p->oidc && idt)
        ok = identity_from_id_token(p, idt, json_string_value(json_object_get(f, "nonce")), false,
                                    id, err);
    else if (p->oidc)
        ok = kiln_error_set(err, 502, "provider_error", "the provider sent no ID token");
    else if (at)
        ok = identity_from_userinfo(p, e.userinfo_endpoint, at, id, err);
    else
        ok = kiln_error_set(err, 502, "provider_error", "the provider sent no access token");
    if (ok && at)
        *provider_token = strdup(at);
    json_decref(tok);
    return ok;
}

static bool serve_callback(KilnRequest *req, KilnConn *conn, bool *broken, KilnResponse *res,
                           KilnError *err)
{
    const char *state = request_query(req, "state");
    if (!state || !*state)
        return kiln_error_set(err, 400, "bad_oauth_state", "OAuth state parameter missing");
    const char *params[] = {state};
    json_t *f;
    int status;
    if (!flow_run(req, conn, broken, NULL, sql_auth_oauth_consume(), 1, params, &f, &status, err))
        return false;
    if (status != 200) {
        flow_error(f, status, err);
        json_decref(f);
        return false;
    }
    /* From here on the answer goes back to the app. */
    const char *target = json_string_value(json_object_get(f, "redirect_to"));
    if (!target || !*target)
        target = req->cfg->auth_site_url;
    OAuthProvider p = {0};
    Identity id = {0};
    char *provider_token = NULL;
    json_t *session = NULL;
    KilnError e = {0};
    const char *perr = request_query(req, "error");
    bool ok;
    if (perr && *perr) {
        const char *d = request_query(req, "error_description");
        ok = kiln_error_set(&e, 403, "provider_error", "%.100s%s%.300s", perr, d ? ": " : "",
                            d ? d : "");
    } else {
        ok = callback_identity(req, f, &p, &id, &provider_token, &e) &&
             callback_finish(req, conn, broken, f, p.name, &id, &session, &e);
    }
    if (!ok)
        audit_refusal(req, conn, broken, NULL, json_string_value(json_object_get(f, "provider")),
                      &e);
    KilnBuf loc = KILN_BUF_INIT;
    const char *code = ok ? json_string_value(json_object_get(session, "code")) : NULL;
    if (ok && code) {
        oauth_code_url(&loc, target, code); /* PKCE: the app exchanges it */
        redirect(res, 302, buf_str(&loc));
    } else if (ok) {
        char *s = json_dumps(session, JSON_COMPACT);
        oauth_fragment_url(&loc, target, s ? s : "{}", provider_token);
        if (s)
            explicit_bzero(s, strlen(s));
        free(s);
        redirect(res, 302, buf_str(&loc));
    } else if (target && *target) {
        const char *kind = e.status >= 500 ? "server_error"
                           : perr && *perr ? "access_denied"
                                           : "invalid_request";
        const char *msg = e.status >= 500 && strcmp(e.code, "provider_error") != 0
                              ? "Unexpected failure, please check server logs for more information"
                              : e.message;
        oauth_error_url(&loc, target, kind, e.code[0] ? e.code : "unexpected_failure", msg);
        redirect(res, 303, buf_str(&loc));
    } else {
        *err = e;
    }
    bool answered = ok || (target && *target); /* target points into f */
    if (loc.data)
        explicit_bzero(loc.data, loc.len);
    buf_free(&loc);
    if (provider_token)
        explicit_bzero(provider_token, strlen(provider_token));
    free(provider_token);
    provider_wipe(&p);
    json_decref(id.data);
    json_decref(session);
    json_decref(f);
    return answered;
}

/* ---- POST /token?grant_type=id_token ---------------------------------- */

static bool serve_id_token(KilnRequest *req, KilnConn *conn, bool *broken, KilnResponse *res,
                           KilnError *err)
{
    const char *apikey = request_header(req, "apikey");
    if (!apikey || !*apikey)
        apikey = request_query(req, "apikey");
    if (!apikey || !*apikey)
        return kiln_error_set(err, 401, "no_api_key", "No API key found in request");
    json_t *body = NULL;
    if (req->body.len)
        body = json_loadb(req->body.data, req->body.len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return kiln_error_set(err, 400, "bad_json", "Could not parse request body as JSON");
    }
    const char *provider = json_string_value(json_object_get(body, "provider"));
    const char *id_token = json_string_value(json_object_get(body, "id_token"));
    json_t *nv = json_object_get(body, "nonce");
    const char *nonce = json_is_string(nv) && *json_string_value(nv) ? json_string_value(nv) : NULL;
    OAuthProvider p = {0};
    Identity id = {0};
    json_t *session = NULL;
    bool ok;
    if (!provider || !id_token || !*id_token)
        ok = kiln_error_set(err, 400, "validation_failed", "id_token and provider are required");
    else if (nv && !json_is_null(nv) && !json_is_string(nv))
        ok = kiln_error_set(err, 400, "bad_json", "nonce must be a string");
    else if (!provider_find(req->cfg->auth_providers, provider, &p, err))
        ok = false;
    else if (!p.oidc)
        ok = kiln_error_set(err, 400, "validation_failed",
                            "Unsupported provider: %.64s does not issue ID tokens", provider);
    else if (!identity_from_id_token(&p, id_token, nonce, false, &id, err)) {
        audit_refusal(req, conn, broken, apikey, p.name, err);
        ok = false;
    } else
        ok = sign_in(req, conn, broken, apikey, p.name, &id, &session, err);
    if (ok) {
        char *s = json_dumps(session, JSON_COMPACT);
        res->status = 200;
        res->content_type = "application/json";
        buf_reset(&res->body);
        buf_puts(&res->body, s ? s : "{}");
        free(s);
    }
    provider_wipe(&p);
    json_decref(id.data);
    json_decref(session);
    json_decref(body);
    return ok;
}

/* ---- entry ---------------------------------------------------------------- */

bool auth_oauth_wants(const KilnRequest *req, const char *rest)
{
    const char *m = req->method;
    bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
    if (get && (strcmp(rest, "authorize") == 0 || strcmp(rest, "callback") == 0 ||
                strcmp(rest, "user/identities/authorize") == 0))
        return true;
    const char *grant = request_query(req, "grant_type");
    return strcmp(m, "POST") == 0 && strcmp(rest, "token") == 0 && grant &&
           strcmp(grant, "id_token") == 0;
}

bool auth_oauth_serve(KilnRequest *req, const char *rest, KilnConn *conn, bool *conn_broken,
                      KilnResponse *res)
{
    KilnError err = {0};
    bool token = strcmp(rest, "token") == 0;
    bool link = strcmp(rest, "user/identities/authorize") == 0;
    bool ok = link || strcmp(rest, "authorize") == 0
                  ? serve_authorize(req, link, conn, conn_broken, res, &err)
              : strcmp(rest, "callback") == 0 ? serve_callback(req, conn, conn_broken, res, &err)
                                              : serve_id_token(req, conn, conn_broken, res, &err);
    if (!ok)
        render(res, req, &err, token);
    return true;
}
