/* Unit tests of cors.c: allowlist syntax, origin matching, the headers of
 * preflights and actual responses. */
#include "cors.h"
#include "unit.h"

/* The value of header name in out, or NULL. */
static const char *header(const KilnCorsOutput *out, const char *name)
{
    for (int i = 0; i < out->nheaders; i++)
        if (strcmp(out->headers[i].name, name) == 0)
            return out->headers[i].value;
    return NULL;
}

UNIT_TEST(allowlist_syntax)
{
    KilnError err = {0};
    CHECK(cors_allowlist_valid(NULL, &err));
    CHECK(cors_allowlist_valid("", &err));
    CHECK(cors_allowlist_valid("*", &err));
    CHECK(cors_allowlist_valid("https://app.example.com", &err));
    CHECK(cors_allowlist_valid("https://app.example.com, http://localhost:5173", &err));
    CHECK(cors_allowlist_valid("http://localhost:*,http://127.0.0.1:*, http://[::1]:*", &err));
    CHECK(cors_allowlist_valid("HTTPS://App.Example.com:8443", &err));

    const char *bad[] = {
        "app.example.com",              /* no scheme */
        "ftp://example.com",            /* not http(s) */
        "https://example.com/",         /* trailing slash */
        "https://example.com/app",      /* path */
        "https://user@example.com",     /* userinfo */
        "https://example.com:0",        /* port out of range */
        "https://example.com:65536",    /* port out of range */
        "https://example.com:80a",      /* not a number */
        "https://example.com:",         /* empty port */
        "https://",                     /* no host */
        "https://*.example.com",        /* host wildcards are not supported */
        "https://[::1",                 /* unclosed IPv6 literal */
        "https://a.com,,https://b.com", /* empty entry */
        "https://a.com,",               /* trailing comma */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.message[0] = '\0';
        CHECK(!cors_allowlist_valid(bad[i], &err));
        CHECK(err.message[0] != '\0');
    }
    CHECK(!cors_allowlist_valid("https://app.example.com/x", &err));
    CHECK(strstr(err.message, "'https://app.example.com/x' is not an origin") != NULL);
    CHECK(!cors_allowlist_valid("null", &err));
    CHECK(strstr(err.message, "'null'") != NULL);
    CHECK(!cors_allowlist_valid("*, https://a.com", &err));
    CHECK(strstr(err.message, "* alone") != NULL);
}

UNIT_TEST(origin_matching)
{
    const char *list =
        "https://app.example.com, http://localhost:*, https://admin.example.com:8443";
    CHECK(cors_origin_allowed(list, "https://app.example.com"));
    CHECK(cors_origin_allowed(list, "HTTPS://APP.EXAMPLE.COM")); /* scheme and host: any case */
    CHECK(!cors_origin_allowed(list, "http://app.example.com")); /* scheme differs */
    CHECK(!cors_origin_allowed(list, "https://app.example.com:444")); /* port differs */
    CHECK(!cors_origin_allowed(list, "https://app.example.com.evil.net"));
    CHECK(!cors_origin_allowed(list, "https://evilapp.example.com"));
    CHECK(!cors_origin_allowed(list, "https://app.example.co"));
    CHECK(!cors_origin_allowed(list, "https://app.example.com/"));
    CHECK(cors_origin_allowed(list, "http://localhost:5173"));
    CHECK(cors_origin_allowed(list, "http://localhost"));
    CHECK(!cors_origin_allowed(list, "https://localhost:5173"));
    CHECK(!cors_origin_allowed(list, "http://localhost.evil.net:5173"));
    CHECK(cors_origin_allowed(list, "https://admin.example.com:8443"));
    CHECK(!cors_origin_allowed(list, "https://admin.example.com"));
    CHECK(!cors_origin_allowed(list, "null"));
    CHECK(!cors_origin_allowed(list, ""));
    CHECK(!cors_origin_allowed(list, NULL));
    CHECK(!cors_origin_allowed(list, "http://localhost:*")); /* a real origin has a real port */
    CHECK(cors_origin_allowed("http://[::1]:*", "http://[::1]:3000"));
    CHECK(cors_origin_allowed("*", "https://anything.example"));
    CHECK(cors_origin_allowed("*", "null"));
    CHECK(!cors_origin_allowed("", "https://app.example.com"));
    CHECK(!cors_origin_allowed(NULL, "https://app.example.com"));
}

UNIT_TEST(actual_response_headers)
{
    KilnCorsOutput out;
    KilnCorsInput in = {.allowlist = "https://app.example.com",
                        .origin = "https://app.example.com"};
    cors_actual(&in, &out);
    CHECK(out.verdict == KILN_CORS_ALLOWED);
    CHECK_STR_EQ(header(&out, "Access-Control-Allow-Origin"), "https://app.example.com");
    CHECK_STR_EQ(header(&out, "Vary"), "Origin");
    const char *expose = header(&out, "Access-Control-Expose-Headers");
    CHECK(expose != NULL);
    const char *needed[] = {"Content-Range",      "Content-Location",       "Location",
                            "Preference-Applied", "X-Total-Count",          "Link",
                            "X-Request-Id",       "X-Supabase-Api-Version", "Content-Profile",
                            "Range-Unit",         "Proxy-Status",           "Retry-After"};
    for (size_t i = 0; expose && i < sizeof needed / sizeof needed[0]; i++)
        CHECK(strstr(expose, needed[i]) != NULL);
    CHECK(header(&out, "Access-Control-Allow-Credentials") == NULL);

    in.origin = "https://evil.example.com";
    cors_actual(&in, &out);
    CHECK(out.verdict == KILN_CORS_REFUSED);
    CHECK(out.nheaders == 1);
    CHECK_STR_EQ(header(&out, "Vary"), "Origin");
    CHECK(header(&out, "Access-Control-Allow-Origin") == NULL);

    in.origin = NULL; /* not a cross-origin browser request */
    cors_actual(&in, &out);
    CHECK(out.verdict == KILN_CORS_NONE && out.nheaders == 0);

    in.allowlist = ""; /* CORS off: nothing, whoever asks */
    in.origin = "https://app.example.com";
    cors_actual(&in, &out);
    CHECK(out.verdict == KILN_CORS_NONE && out.nheaders == 0);

    in.allowlist = "*"; /* any origin: the literal *, no Vary needed */
    cors_actual(&in, &out);
    CHECK(out.verdict == KILN_CORS_ALLOWED);
    CHECK_STR_EQ(header(&out, "Access-Control-Allow-Origin"), "*");
    CHECK(header(&out, "Vary") == NULL);
}

UNIT_TEST(preflight_headers)
{
    KilnCorsOutput out;
    KilnCorsInput in = {
        .allowlist = "http://localhost:*",
        .origin = "http://localhost:5173",
        .request_method = "GET",
        .request_headers = "authorization, x-client-info, apikey, accept-profile",
        .allow_methods = "GET, HEAD",
    };
    CHECK(cors_is_preflight("OPTIONS", in.origin, in.request_method));
    CHECK(!cors_is_preflight("OPTIONS", in.origin, NULL));
    CHECK(!cors_is_preflight("OPTIONS", NULL, "GET"));
    CHECK(!cors_is_preflight("GET", in.origin, "GET"));

    cors_preflight(&in, &out);
    CHECK(out.verdict == KILN_CORS_ALLOWED);
    CHECK_STR_EQ(header(&out, "Access-Control-Allow-Origin"), "http://localhost:5173");
    CHECK_STR_EQ(header(&out, "Access-Control-Allow-Methods"), "GET, HEAD, OPTIONS");
    CHECK_STR_EQ(header(&out, "Access-Control-Allow-Headers"),
                 "authorization, x-client-info, apikey, accept-profile");
    CHECK_STR_EQ(header(&out, "Access-Control-Max-Age"), "7200");
    CHECK(strstr(header(&out, "Vary") ? header(&out, "Vary") : "", "Origin") != NULL);
    CHECK(header(&out, "Access-Control-Allow-Credentials") == NULL);
    CHECK(header(&out, "Access-Control-Expose-Headers") == NULL);

    /* A requested header list that is not header names is never reflected. */
    in.request_headers = "x-a, x-b\r\nSet-Cookie: a=b";
    cors_preflight(&in, &out);
    CHECK(out.verdict == KILN_CORS_ALLOWED);
    CHECK(header(&out, "Access-Control-Allow-Headers") == NULL);
    in.request_headers = "x-a,,x-b";
    cors_preflight(&in, &out);
    CHECK(header(&out, "Access-Control-Allow-Headers") == NULL);
    in.request_headers = NULL;
    cors_preflight(&in, &out);
    CHECK(header(&out, "Access-Control-Allow-Headers") == NULL);

    in.origin = "https://evil.example.com";
    cors_preflight(&in, &out);
    CHECK(out.verdict == KILN_CORS_REFUSED);
    CHECK(header(&out, "Access-Control-Allow-Origin") == NULL);
    CHECK(header(&out, "Access-Control-Allow-Methods") == NULL);

    in.allowlist = NULL; /* CORS off: a preflight is refused */
    in.origin = "http://localhost:5173";
    cors_preflight(&in, &out);
    CHECK(out.verdict == KILN_CORS_REFUSED);
    CHECK(out.nheaders == 0);
}

UNIT_TEST(methods_with_options)
{
    char buf[64];
    CHECK_STR_EQ(cors_methods_with_options("GET, HEAD", buf, sizeof buf), "GET, HEAD, OPTIONS");
    CHECK_STR_EQ(cors_methods_with_options("GET, OPTIONS", buf, sizeof buf), "GET, OPTIONS");
    CHECK_STR_EQ(cors_methods_with_options("", buf, sizeof buf), "OPTIONS");
    CHECK_STR_EQ(cors_methods_with_options(NULL, buf, sizeof buf), "OPTIONS");
}

UNIT_MAIN()
