/*
 * auth_refresh.c: the refresh-token grant, auth.refresh_session, in C.
 *
 * The rule is the one docs/auth.md (Refresh tokens) states and the
 * PL/pgSQL version of sql/kiln_auth/40-flows.sql implemented: a token is
 * single use and rotates into its successor b64url(SHA-256(k || SHA-256(k ||
 * token))) under the session's key k; a revoked token presented again gets
 * the session's active token back when it was revoked less than
 * refresh_reuse_interval_s ago or is the active token's parent; any other
 * reuse deletes the session; sessions past their timebox or idle too long
 * end; banned and deleted users get nothing; every outcome writes its audit
 * row (auth.audit_log_entries, the payload auth._audit writes).
 *
 * Why C: the refresh runs on every client every hour and its cost was
 * executor start-up, PL/pgSQL and JSON building (docs/auth.md,
 * Performance). Here every statement is an SPI plan prepared once per
 * backend and kept (SPI_keepplan; the plan cache re-plans it when the
 * tables change), hashing is OpenSSL, and the claims, the user object and
 * the response are built as jsonb in C, through the same jsonb build and
 * output code jsonb_build_object and kiln.sign_jwt use, so the access
 * token's claims are byte for byte what auth._session_json signs.
 *
 * It runs as the SECURITY DEFINER function's owner with search_path pinned
 * (the SQL declaration says so); it never raises for a refusal (refusals
 * are returned as {"error": ...} so that what they write commits), never
 * writes a token in clear and never logs.
 */
#include "postgres.h"

#include "identity.h"

#include <openssl/evp.h>
#include <sodium.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "pgtime.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/formatting.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/* ---------------------------------------------------------------------------
 * The statements, prepared on first use and kept for the backend's life.
 *
 * Columns are named and tables schema-qualified; the function's pinned
 * search_path (pg_catalog, pg_temp) resolves operators and functions. The
 * plan cache re-analyses a kept plan when a table it reads changes, so an
 * ALTER of the auth tables needs no restart.
 */
typedef enum {
    Q_LOCK,    /* the token's session, locked: concurrent refreshes queue here */
    Q_READ,    /* the token, its user and the session's key (after the lock) */
    Q_ROTATE,  /* revoke, successor, session touched, audit row: one statement */
    Q_WALK,    /* one step of the successor chain of a reused token */
    Q_AMR,     /* the session's authentication methods, newest first */
    Q_IDENT,   /* the user's identities */
    Q_FACTORS, /* the user's MFA factors */
    Q_AUDIT,   /* any other audit row */
    Q_END,     /* deletes the session (its tokens cascade, its access tokens are revoked) */
    Q_RATE,    /* auth._rate_refusal('refresh', n) */
    Q_COUNT
} RefreshQuery;

typedef struct RefreshStmt {
    const char *sql;
    int nargs;
    Oid argtypes[9];
} RefreshStmt;

static const RefreshStmt refresh_stmts[Q_COUNT] = {
    [Q_LOCK] =
        {"SELECT s.id, s.aal::pg_catalog.text, s.not_after, s.refreshed_at, s.created_at"
         "  FROM auth.sessions s"
         " WHERE s.id = (SELECT r.session_id FROM auth.refresh_tokens r WHERE r.token_hash = $1)"
         "   FOR UPDATE OF s",
         1,
         {BYTEAOID}},
    [Q_READ] =
        {"SELECT r.id, r.revoked, r.updated_at, k.key, u.id, u.aud, u.role, u.email, u.phone,"
         "       u.raw_app_meta_data, u.raw_user_meta_data, u.created_at, u.updated_at,"
         "       u.is_anonymous, u.email_confirmed_at, u.phone_confirmed_at, u.confirmed_at,"
         "       u.confirmation_sent_at, u.last_sign_in_at, u.banned_until, u.deleted_at"
         "  FROM auth.refresh_tokens r"
         "  JOIN auth.users u ON u.id = r.user_id"
         "  LEFT JOIN auth.refresh_token_keys k ON k.session_id = r.session_id"
         " WHERE r.token_hash = $1",
         1,
         {BYTEAOID}},
    [Q_ROTATE] =
        {"WITH revoke_old AS ("
         "       UPDATE auth.refresh_tokens SET revoked = true, updated_at = now() WHERE id = $1),"
         "     store_next AS ("
         "       INSERT INTO auth.refresh_tokens (token_hash, user_id, session_id, parent)"
         "       VALUES ($2, $3, $4, $5)),"
         "     touch AS ("
         "       UPDATE auth.sessions SET refreshed_at = now() AT TIME ZONE 'UTC', updated_at = "
         "now()"
         "        WHERE id = $4)"
         " INSERT INTO auth.audit_log_entries (payload, ip_address) VALUES ($6, $7)",
         7,
         {INT8OID, BYTEAOID, UUIDOID, UUIDOID, BYTEAOID, JSONOID, TEXTOID}},
    [Q_WALK] = {"SELECT r.revoked FROM auth.refresh_tokens r WHERE r.token_hash = $1 AND "
                "r.session_id = $2",
                2,
                {BYTEAOID, UUIDOID}},
    [Q_AMR] = {"SELECT c.authentication_method, c.created_at FROM auth.mfa_amr_claims c"
               " WHERE c.session_id = $1 ORDER BY c.created_at DESC",
               1,
               {UUIDOID}},
    [Q_IDENT] =
        {"SELECT i.id, i.provider_id, i.user_id, i.identity_data, i.provider, i.last_sign_in_at,"
         "       i.created_at, i.updated_at, i.email"
         "  FROM auth.identities i WHERE i.user_id = $1 ORDER BY i.created_at, i.id",
         1,
         {UUIDOID}},
    [Q_FACTORS] =
        {"SELECT f.id, f.friendly_name, f.factor_type::text, f.status::text, f.created_at,"
         "       f.updated_at, f.last_challenged_at"
         "  FROM auth.mfa_factors f WHERE f.user_id = $1 ORDER BY f.created_at, f.id",
         1,
         {UUIDOID}},
    [Q_AUDIT] = {"INSERT INTO auth.audit_log_entries (payload, ip_address) VALUES ($1, $2)",
                 2,
                 {JSONOID, TEXTOID}},
    [Q_END] = {"DELETE FROM auth.sessions WHERE id = $1", 1, {UUIDOID}},
    [Q_RATE] = {"SELECT auth._rate_refusal('refresh', $1)", 1, {INT4OID}},
};

static SPIPlanPtr refresh_plans[Q_COUNT];

/* Runs statement q (prepared and kept on first use); returns SPI_processed. */
static uint64 refresh_exec(RefreshQuery q, Datum *values, const char *nulls)
{
    int rc;

    if (refresh_plans[q] == NULL) {
        SPIPlanPtr p = SPI_prepare(refresh_stmts[q].sql, refresh_stmts[q].nargs,
                                   (Oid *)refresh_stmts[q].argtypes);

        if (p == NULL)
            elog(ERROR, "auth.refresh_session: SPI_prepare failed: %s",
                 SPI_result_code_string(SPI_result));
        if (SPI_keepplan(p) != 0)
            elog(ERROR, "auth.refresh_session: SPI_keepplan failed");
        refresh_plans[q] = p;
    }
    rc = SPI_execute_plan(refresh_plans[q], values, nulls, false, 0);
    if (rc < 0)
        elog(ERROR, "auth.refresh_session: SPI_execute_plan failed: %s",
             SPI_result_code_string(rc));
    return SPI_processed;
}

/* Column col (1-based) of row row of the last result; *isnull set. */
static Datum refresh_col(uint64 row, int col, bool *isnull)
{
    return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);
}

/* ---------------------------------------------------------------------------
 * jsonb building: thin helpers over pushJsonbValue, which sorts and
 * de-duplicates keys at the end of each object exactly as
 * jsonb_build_object's result does.
 */
typedef JsonbParseState *JB;

static void jb_key(JB *st, const char *k)
{
    JsonbValue v;

    v.type = jbvString;
    v.val.string.val = (char *)k;
    v.val.string.len = strlen(k);
    pushJsonbValue(st, WJB_KEY, &v);
}

/* Pushes a scalar as an object value. */
static void jb_push(JB *st, JsonbValue *v)
{
    pushJsonbValue(st, WJB_VALUE, v);
}

static void jb_str(JB *st, const char *s)
{
    JsonbValue v;

    if (s == NULL) {
        v.type = jbvNull;
    } else {
        v.type = jbvString;
        v.val.string.val = (char *)s;
        v.val.string.len = strlen(s);
    }
    jb_push(st, &v);
}

static void jb_int(JB *st, int64 n)
{
    JsonbValue v;

    v.type = jbvNumeric;
    v.val.numeric = int64_to_numeric(n);
    jb_push(st, &v);
}

static void jb_bool(JB *st, bool b)
{
    JsonbValue v;

    v.type = jbvBool;
    v.val.boolean = b;
    jb_push(st, &v);
}

/* A jsonb document as a value (NULL: JSON null). */
static void jb_jsonb(JB *st, Jsonb *j)
{
    JsonbValue v;

    if (j == NULL) {
        v.type = jbvNull;
        jb_push(st, &v);
        return;
    }
    v.type = jbvBinary;
    v.val.binary.data = &j->root;
    v.val.binary.len = VARSIZE(j) - VARHDRSZ;
    pushJsonbValue(st, WJB_VALUE, &v);
}

/* coalesce(j, '{}') as a value. */
static void jb_object(JB *st, Jsonb *j)
{
    if (j != NULL) {
        jb_jsonb(st, j);
        return;
    }
    pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
    pushJsonbValue(st, WJB_END_OBJECT, NULL);
}

static void jb_kv_str(JB *st, const char *k, const char *s)
{
    jb_key(st, k);
    jb_str(st, s);
}

/* A uuid as jsonb_build_object renders one: its text form. */
static char *uuid_text(Datum u)
{
    return DatumGetCString(DirectFunctionCall1(uuid_out, u));
}

/*
 * A time as auth._ts renders it (RFC 3339 in UTC with microseconds), or
 * NULL when it has none (infinity). Years outside 1..9999 go through
 * to_char itself.
 */
static char *refresh_ts(TimestampTz t)
{
    struct pg_tm tm;
    fsec_t fsec;

    if (TIMESTAMP_NOT_FINITE(t))
        return NULL;
    if (timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0 || tm.tm_year < 1 || tm.tm_year > 9999) {
        /* t AT TIME ZONE 'UTC' is the same number as a timestamp. */
        text *s = DatumGetTextPP(
            DirectFunctionCall2(timestamp_to_char, TimestampGetDatum(t),
                                CStringGetTextDatum("YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"")));
        return text_to_cstring(s);
    }
    return psprintf("%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year, tm.tm_mon, tm.tm_mday,
                    tm.tm_hour, tm.tm_min, tm.tm_sec, (int)fsec);
}

/* floor(extract(epoch FROM t)) */
static int64 refresh_epoch(TimestampTz t)
{
    int64 us = t + (int64)(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;

    return us >= 0 ? us / USECS_PER_SEC : -((-us + USECS_PER_SEC - 1) / USECS_PER_SEC);
}

/* The refusal the flows return: {"error": {status, code, message}}. */
static Jsonb *refresh_err(int status, const char *code, const char *message)
{
    JB st = NULL;
    JsonbValue *r;

    pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
    jb_key(&st, "error");
    pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
    jb_key(&st, "status");
    jb_int(&st, status);
    jb_kv_str(&st, "code", code);
    jb_kv_str(&st, "message", message);
    pushJsonbValue(&st, WJB_END_OBJECT, NULL);
    r = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
    return JsonbValueToJsonb(r);
}

/* ---------------------------------------------------------------------------
 * Settings, read as auth._setting_int reads them.
 */

/* settings -> name, or NULL when settings is not an object or lacks it. */
static JsonbValue *refresh_setting(Jsonb *settings, const char *name, JsonbValue *buf)
{
    if (settings == NULL || !JB_ROOT_IS_OBJECT(settings) || JB_ROOT_IS_SCALAR(settings))
        return NULL;
    return getKeyJsonValueFromContainer(&settings->root, name, strlen(name), buf);
}

/* least(greatest(coalesce(number::numeric::int4, def), lo), hi) */
static int32 refresh_setting_int(Jsonb *settings, const char *name, int32 def, int32 lo, int32 hi)
{
    JsonbValue buf;
    JsonbValue *v = refresh_setting(settings, name, &buf);
    int32 n = def;

    if (v != NULL && v->type == jbvNumeric)
        n = DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(v->val.numeric)));
    return n < lo ? lo : n > hi ? hi : n;
}

/* settings ->> name, NULL for an absent key or JSON null. */
static char *refresh_setting_text(Jsonb *settings, const char *name)
{
    JsonbValue buf;
    JsonbValue *v = refresh_setting(settings, name, &buf);

    if (v == NULL || v->type == jbvNull)
        return NULL;
    if (v->type == jbvString)
        return pnstrdup(v->val.string.val, v->val.string.len);
    if (v->type == jbvNumeric)
        return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
    if (v->type == jbvBool)
        return pstrdup(v->val.boolean ? "true" : "false");
    return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
}

/* The issuer claim: settings' issuer, else the first of kiln.jwt_issuers, else "kiln". */
extern char *kiln_jwt_issuers;

static char *refresh_issuer(Jsonb *settings)
{
    char *s = refresh_setting_text(settings, "issuer");
    const char *list = kiln_jwt_issuers;
    const char *end;

    if (s != NULL && s[0] != '\0')
        return s;
    if (list != NULL) {
        while (*list == ' ')
            list++;
        end = strchr(list, ',');
        if (end == NULL)
            end = list + strlen(list);
        while (end > list && end[-1] == ' ')
            end--;
        if (end > list)
            return pnstrdup(list, end - list);
    }
    return pstrdup("kiln");
}

/* ---------------------------------------------------------------------------
 * Token hashing.
 */

/* SHA-256 of the concatenation of a[0..alen) and b[0..blen). */
static void refresh_sha256(const uint8 *a, size_t alen, const uint8 *b, size_t blen, uint8 out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    bool ok = ctx != NULL && kiln_sha256_md() != NULL &&
              EVP_DigestInit_ex(ctx, kiln_sha256_md(), NULL) && EVP_DigestUpdate(ctx, a, alen) &&
              (blen == 0 || EVP_DigestUpdate(ctx, b, blen)) && EVP_DigestFinal_ex(ctx, out, &n) &&
              n == 32;

    EVP_MD_CTX_free(ctx);
    if (!ok)
        elog(ERROR, "SHA-256 failed");
}

/* A token's bytes as UTF-8 (convert_to(token, 'UTF8')). */
static const char *refresh_utf8(const char *token, size_t *len)
{
    const char *u = (const char *)pg_server_to_any(token, (int)*len, PG_UTF8);

    if (u != token)
        *len = strlen(u);
    return u;
}

/* auth._token_hash: SHA-256 of the token as UTF-8, as a bytea. */
static bytea *refresh_token_hash(const char *token, size_t len)
{
    bytea *h = palloc(VARHDRSZ + 32);
    const char *u = refresh_utf8(token, &len);

    SET_VARSIZE(h, VARHDRSZ + 32);
    refresh_sha256((const uint8 *)u, len, NULL, 0, (uint8 *)VARDATA(h));
    return h;
}

/* auth._successor: b64url(SHA-256(key || SHA-256(key || token))), palloc'd. */
static char *refresh_successor(const bytea *key, const char *token)
{
    size_t len = strlen(token);
    const char *u = refresh_utf8(token, &len);
    size_t klen = VARSIZE_ANY_EXHDR(key);
    uint8 *buf = palloc(klen + 32);
    uint8 inner[32];
    uint8 outer[32];
    char *s = palloc(kiln_base64url_encoded_len(32) + 1);

    memcpy(buf, VARDATA_ANY(key), klen);
    refresh_sha256(buf, klen, (const uint8 *)u, len, inner);
    memcpy(buf + klen, inner, 32);
    refresh_sha256(buf, klen + 32, NULL, 0, outer);
    kiln_base64url_encode(outer, 32, s);
    sodium_memzero(buf, klen + 32);
    return s;
}

/* ---------------------------------------------------------------------------
 * What a refresh reads (Q_LOCK and Q_READ), copied out of the SPI results.
 */
typedef struct RefreshUser {
    Datum id; /* uuid */
    char *aud, *role, *email, *phone;
    Jsonb *app_meta, *user_meta;
    bool is_anonymous;
    /* times; has_* false when NULL */
    TimestampTz created_at, updated_at, email_confirmed_at, phone_confirmed_at, confirmed_at,
        confirmation_sent_at, last_sign_in_at, banned_until, deleted_at;
    bool has_created_at, has_updated_at, has_email_confirmed_at, has_phone_confirmed_at,
        has_confirmed_at, has_confirmation_sent_at, has_last_sign_in_at, has_banned_until,
        has_deleted_at;
} RefreshUser;

typedef struct RefreshSession {
    Datum id;  /* uuid */
    char *aal; /* NULL: aal1 */
    bool has_not_after, has_refreshed_at, has_created_at;
    TimestampTz not_after, created_at;
    Timestamp refreshed_at; /* UTC wall time (timestamp without time zone) */
} RefreshSession;

typedef struct RefreshToken {
    int64 id;
    bool revoked;
    TimestampTz updated_at;
    bool has_updated_at;
    bytea *key; /* the session's key; NULL when it has none */
} RefreshToken;

static char *col_text(uint64 row, int col)
{
    bool isnull;
    Datum d = refresh_col(row, col, &isnull);

    return isnull ? NULL : TextDatumGetCString(d);
}

static TimestampTz col_time(uint64 row, int col, bool *has)
{
    bool isnull;
    Datum d = refresh_col(row, col, &isnull);

    *has = !isnull;
    return isnull ? 0 : DatumGetTimestampTz(d);
}

static Jsonb *col_jsonb(uint64 row, int col)
{
    bool isnull;
    Datum d = refresh_col(row, col, &isnull);

    return isnull ? NULL : DatumGetJsonbP(d);
}

static void refresh_read_user(RefreshToken *t, RefreshUser *u)
{
    bool isnull;
    Datum d;

    t->id = DatumGetInt64(refresh_col(0, 1, &isnull));
    t->revoked = DatumGetBool(refresh_col(0, 2, &isnull));
    t->updated_at = col_time(0, 3, &t->has_updated_at);
    d = refresh_col(0, 4, &isnull);
    t->key = isnull ? NULL : DatumGetByteaPP(d);

    u->id = refresh_col(0, 5, &isnull);
    u->aud = col_text(0, 6);
    u->role = col_text(0, 7);
    u->email = col_text(0, 8);
    u->phone = col_text(0, 9);
    u->app_meta = col_jsonb(0, 10);
    u->user_meta = col_jsonb(0, 11);
    u->created_at = col_time(0, 12, &u->has_created_at);
    u->updated_at = col_time(0, 13, &u->has_updated_at);
    u->is_anonymous = DatumGetBool(refresh_col(0, 14, &isnull));
    u->email_confirmed_at = col_time(0, 15, &u->has_email_confirmed_at);
    u->phone_confirmed_at = col_time(0, 16, &u->has_phone_confirmed_at);
    u->confirmed_at = col_time(0, 17, &u->has_confirmed_at);
    u->confirmation_sent_at = col_time(0, 18, &u->has_confirmation_sent_at);
    u->last_sign_in_at = col_time(0, 19, &u->has_last_sign_in_at);
    u->banned_until = col_time(0, 20, &u->has_banned_until);
    u->deleted_at = col_time(0, 21, &u->has_deleted_at);
}

/* ---------------------------------------------------------------------------
 * Audit rows, as auth._audit writes them (log_type token).
 */

/*
 * An audit row's payload and ip_address, as auth._audit writes them: the
 * payload built as jsonb (GoTrue's layout plus request_id and actor_role
 * from the verified context) and stored as its json text, which is what
 * jsonb_build_object(...)::json gives; the client ip cut to 64 characters,
 * '' without one.
 */
static void refresh_audit_row(const char *action, const RefreshUser *u, Jsonb *traits,
                              Datum *payload, Datum *ip)
{
    const KilnContext *c = kiln_context_current();
    const char *ipt = c->present && c->client_ip != NULL ? c->client_ip : "";
    JB st = NULL;
    Jsonb *j;

    pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
    jb_kv_str(&st, "action", action);
    jb_kv_str(&st, "actor_id", uuid_text(u->id));
    jb_kv_str(&st, "actor_username", u->email != NULL ? u->email : "");
    jb_key(&st, "actor_via_sso");
    jb_bool(&st, false);
    jb_kv_str(&st, "log_type", "token");
    jb_key(&st, "traits");
    jb_jsonb(&st, traits);
    jb_kv_str(&st, "request_id", c->present ? c->request_id : NULL);
    jb_kv_str(&st, "actor_role", c->present ? c->role : NULL);
    j = JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
    *payload = CStringGetTextDatum(JsonbToCString(NULL, &j->root, VARSIZE(j)));
    *ip = PointerGetDatum(cstring_to_text_with_len(ipt, pg_mbcharcliplen(ipt, strlen(ipt), 64)));
}

/* traits: {"session_id": sid} plus one more member (a string, or true when s is NULL). */
static Jsonb *refresh_traits(Datum sid, const char *key, const char *s)
{
    JB st = NULL;

    pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
    jb_kv_str(&st, "session_id", uuid_text(sid));
    if (key != NULL) {
        jb_key(&st, key);
        if (s != NULL)
            jb_str(&st, s);
        else
            jb_bool(&st, true);
    }
    return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

static void refresh_audit(const char *action, const RefreshUser *u, Jsonb *traits)
{
    Datum v[2];

    refresh_audit_row(action, u, traits, &v[0], &v[1]);
    refresh_exec(Q_AUDIT, v, NULL);
}

/* Ends the session: deleted (tokens cascade, access tokens revoked at commit). */
static void refresh_end_session(Datum sid)
{
    Datum v[1] = {sid};

    refresh_exec(Q_END, v, NULL);
}

/* ---------------------------------------------------------------------------
 * The session response (auth._session_json, with the user object of
 * auth._user_json).
 */

/* "amr": the session's methods, newest first. */
static void refresh_push_amr(JB *st, Datum sid)
{
    Datum v[1] = {sid};
    uint64 n = refresh_exec(Q_AMR, v, NULL);
    uint64 i;

    jb_key(st, "amr");
    pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
    for (i = 0; i < n; i++) {
        bool has;
        TimestampTz at;

        pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
        jb_kv_str(st, "method", col_text(i, 1));
        at = col_time(i, 2, &has);
        jb_key(st, "timestamp");
        if (has && !TIMESTAMP_NOT_FINITE(at))
            jb_int(st, refresh_epoch(at));
        else
            jb_str(st, NULL);
        pushJsonbValue(st, WJB_END_OBJECT, NULL);
    }
    pushJsonbValue(st, WJB_END_ARRAY, NULL);
}

/*
 * kiln.default_tenant(user) when kiln_access is installed, else NULL:
 * called through fmgr (its SECURITY DEFINER and SET clauses apply) after
 * the privilege check a SQL call would make, without a statement around it.
 */
static char *refresh_tenant(Datum uid)
{
    Oid argtypes[1] = {UUIDOID};
    List *name = list_make2(makeString("kiln"), makeString("default_tenant"));
    Oid fn = LookupFuncName(name, 1, argtypes, true);
    FmgrInfo flinfo;
    LOCAL_FCINFO(fcinfo, 1);
    Datum d;

    if (!OidIsValid(fn))
        return NULL;
    if (pg_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
        aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_FUNCTION, "kiln.default_tenant");
    fmgr_info(fn, &flinfo);
    InitFunctionCallInfoData(*fcinfo, &flinfo, 1, InvalidOid, NULL, NULL);
    fcinfo->args[0].value = uid;
    fcinfo->args[0].isnull = false;
    d = FunctionCallInvoke(fcinfo);
    return fcinfo->isnull ? NULL : uuid_text(d);
}

/* The access token's claims, as auth._session_json builds them, signed. */
static char *refresh_access_token(const RefreshUser *u, const RefreshSession *s, Jsonb *settings,
                                  int64 iat, int32 ttl)
{
    JB st = NULL;
    char *tenant = refresh_tenant(u->id);
    Jsonb *claims;

    pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
    jb_kv_str(&st, "iss", refresh_issuer(settings));
    jb_kv_str(&st, "sub", uuid_text(u->id));
    jb_kv_str(&st, "aud", u->aud != NULL ? u->aud : "authenticated");
    jb_key(&st, "exp");
    jb_int(&st, iat + ttl);
    jb_key(&st, "iat");
    jb_int(&st, iat);
    jb_kv_str(&st, "email", u->email != NULL ? u->email : "");
    jb_kv_str(&st, "phone", u->phone != NULL ? u->phone : "");
    jb_key(&st, "app_metadata");
    jb_object(&st, u->app_meta);
    jb_key(&st, "user_metadata");
    jb_object(&st, u->user_meta);
    /* Always authenticated, whatever a seed wrote into auth.users.role. */
    jb_kv_str(&st, "role", "authenticated");
    jb_kv_str(&st, "aal", s->aal != NULL ? s->aal : "aal1");
    refresh_push_amr(&st, s->id);
    jb_kv_str(&st, "session_id", uuid_text(s->id));
    jb_key(&st, "is_anonymous");
    jb_bool(&st, u->is_anonymous);
    if (tenant != NULL)
        jb_kv_str(&st, "tenant_id", tenant);
    claims = JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
    return kiln_jwt_sign_active(JsonbToCString(NULL, &claims->root, VARSIZE(claims)));
}

static void jb_kv_ts(JB *st, const char *k, bool has, TimestampTz t)
{
    jb_kv_str(st, k, has ? refresh_ts(t) : NULL);
}

/* Like jb_kv_ts, but leaves the member out when there is no time (jsonb_strip_nulls). */
static void jb_kv_ts_opt(JB *st, const char *k, bool has, TimestampTz t)
{
    char *s = has ? refresh_ts(t) : NULL;

    if (s != NULL)
        jb_kv_str(st, k, s);
}

static void refresh_push_identities(JB *st, Datum uid)
{
    Datum v[1] = {uid};
    uint64 n = refresh_exec(Q_IDENT, v, NULL);
    uint64 i;
    bool isnull;
    bool has;
    TimestampTz t;

    jb_key(st, "identities");
    pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
    for (i = 0; i < n; i++) {
        pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
        jb_kv_str(st, "identity_id", uuid_text(refresh_col(i, 1, &isnull)));
        jb_kv_str(st, "id", col_text(i, 2));
        jb_kv_str(st, "user_id", uuid_text(refresh_col(i, 3, &isnull)));
        jb_key(st, "identity_data");
        jb_jsonb(st, col_jsonb(i, 4));
        jb_kv_str(st, "provider", col_text(i, 5));
        t = col_time(i, 6, &has);
        jb_kv_ts(st, "last_sign_in_at", has, t);
        t = col_time(i, 7, &has);
        jb_kv_ts(st, "created_at", has, t);
        t = col_time(i, 8, &has);
        jb_kv_ts(st, "updated_at", has, t);
        jb_kv_str(st, "email", col_text(i, 9));
        pushJsonbValue(st, WJB_END_OBJECT, NULL);
    }
    pushJsonbValue(st, WJB_END_ARRAY, NULL);
}

/* "factors" (auth._factors_json): left out when the user has none. */
static void refresh_push_factors(JB *st, Datum uid)
{
    Datum v[1] = {uid};
    uint64 n = refresh_exec(Q_FACTORS, v, NULL);
    uint64 i;
    bool isnull;
    bool has;
    TimestampTz t;
    char *name;

    if (n == 0)
        return;
    jb_key(st, "factors");
    pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
    for (i = 0; i < n; i++) {
        pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
        jb_kv_str(st, "id", uuid_text(refresh_col(i, 1, &isnull)));
        name = col_text(i, 2);
        jb_kv_str(st, "friendly_name", name != NULL ? name : "");
        jb_kv_str(st, "factor_type", col_text(i, 3));
        jb_kv_str(st, "status", col_text(i, 4));
        t = col_time(i, 5, &has);
        jb_kv_ts(st, "created_at", has, t);
        t = col_time(i, 6, &has);
        jb_kv_ts(st, "updated_at", has, t);
        t = col_time(i, 7, &has);
        jb_kv_ts_opt(st, "last_challenged_at", has, t);
        pushJsonbValue(st, WJB_END_OBJECT, NULL);
    }
    pushJsonbValue(st, WJB_END_ARRAY, NULL);
}

/* The user object (auth._user_json). */
static void refresh_push_user(JB *st, const RefreshUser *u)
{
    jb_key(st, "user");
    pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
    jb_kv_str(st, "id", uuid_text(u->id));
    jb_kv_str(st, "aud", u->aud != NULL ? u->aud : "");
    jb_kv_str(st, "role", u->role != NULL ? u->role : "");
    jb_kv_str(st, "email", u->email != NULL ? u->email : "");
    jb_kv_str(st, "phone", u->phone != NULL ? u->phone : "");
    jb_key(st, "app_metadata");
    jb_object(st, u->app_meta);
    jb_key(st, "user_metadata");
    jb_object(st, u->user_meta);
    refresh_push_identities(st, u->id);
    jb_kv_ts(st, "created_at", u->has_created_at, u->created_at);
    jb_kv_ts(st, "updated_at", u->has_updated_at, u->updated_at);
    jb_key(st, "is_anonymous");
    jb_bool(st, u->is_anonymous);
    jb_kv_ts_opt(st, "email_confirmed_at", u->has_email_confirmed_at, u->email_confirmed_at);
    jb_kv_ts_opt(st, "phone_confirmed_at", u->has_phone_confirmed_at, u->phone_confirmed_at);
    jb_kv_ts_opt(st, "confirmed_at", u->has_confirmed_at, u->confirmed_at);
    jb_kv_ts_opt(st, "confirmation_sent_at", u->has_confirmation_sent_at, u->confirmation_sent_at);
    jb_kv_ts_opt(st, "last_sign_in_at", u->has_last_sign_in_at, u->last_sign_in_at);
    jb_kv_ts_opt(st, "banned_until", u->has_banned_until, u->banned_until);
    jb_kv_ts_opt(st, "deleted_at", u->has_deleted_at, u->deleted_at);
    refresh_push_factors(st, u->id);
    pushJsonbValue(st, WJB_END_OBJECT, NULL);
}

/* The whole session response for refresh token token. */
static Jsonb *refresh_session_json(const RefreshUser *u, const RefreshSession *s, const char *token,
                                   Jsonb *settings)
{
    int32 ttl = refresh_setting_int(settings, "access_token_ttl_s", 3600, 30, 86400);
    int64 iat = refresh_epoch(GetCurrentTransactionStartTimestamp());
    char *access = refresh_access_token(u, s, settings, iat, ttl);
    JB st = NULL;

    pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
    jb_kv_str(&st, "access_token", access);
    jb_kv_str(&st, "token_type", "bearer");
    jb_key(&st, "expires_in");
    jb_int(&st, ttl);
    jb_key(&st, "expires_at");
    jb_int(&st, iat + ttl);
    jb_kv_str(&st, "refresh_token", token);
    refresh_push_user(&st, u);
    return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/* ---------------------------------------------------------------------------
 * The grant.
 */

/* Settings of one refresh (auth._setting_int's defaults and bounds). */
typedef struct RefreshSettings {
    Jsonb *json;
    int32 window_s;   /* refresh_reuse_interval_s */
    int32 inactive_s; /* session_inactivity_timeout_s, 0 = none */
    int32 rate;       /* rate_limit_refresh, 0 = none */
} RefreshSettings;

/* Copies the session row of Q_LOCK's result. */
static void refresh_read_session(RefreshSession *s)
{
    bool isnull;
    Datum d;

    s->id = refresh_col(0, 1, &isnull);
    s->aal = col_text(0, 2);
    s->not_after = col_time(0, 3, &s->has_not_after);
    d = refresh_col(0, 4, &isnull);
    s->has_refreshed_at = !isnull;
    s->refreshed_at = isnull ? 0 : DatumGetTimestamp(d);
    s->created_at = col_time(0, 5, &s->has_created_at);
}

/* The rotation of an unrevoked token: one statement, then the response. */
static Jsonb *refresh_rotate(const RefreshToken *t, const RefreshUser *u, const RefreshSession *s,
                             bytea *h, const char *token, Jsonb *settings)
{
    char *next;
    Datum v[7];

    if (t->key == NULL)
        ereport(ERROR,
                (errcode(ERRCODE_DATA_CORRUPTED), errmsg("session has no refresh key"),
                 errdetail("Every session gets a row in auth.refresh_token_keys when it starts.")));
    next = refresh_successor(t->key, token);
    v[0] = Int64GetDatum(t->id);
    v[1] = PointerGetDatum(refresh_token_hash(next, strlen(next)));
    v[2] = u->id;
    v[3] = s->id;
    v[4] = PointerGetDatum(h);
    refresh_audit_row("token_refreshed", u, refresh_traits(s->id, NULL, NULL), &v[5], &v[6]);
    refresh_exec(Q_ROTATE, v, NULL);
    return refresh_session_json(u, s, next, settings);
}

/*
 * A revoked token presented again: walks its successors to the session's
 * active token. Inside the reuse window, or for the active token's parent,
 * the answer is that token again; otherwise the session ends.
 */
static Jsonb *refresh_reuse(const RefreshToken *t, const RefreshUser *u, const RefreshSession *s,
                            const char *token, const RefreshSettings *cfg)
{
    TimestampTz now = GetCurrentTransactionStartTimestamp();
    const char *cur = token;
    char *active = NULL;
    int steps = 0;

    while (t->key != NULL) {
        char *next;
        Datum v[2];
        bool isnull;

        if (++steps > 1000)
            break;
        next = refresh_successor(t->key, cur);
        v[0] = PointerGetDatum(refresh_token_hash(next, strlen(next)));
        v[1] = s->id;
        if (refresh_exec(Q_WALK, v, NULL) == 0)
            break;
        if (!DatumGetBool(refresh_col(0, 1, &isnull))) {
            active = next;
            break;
        }
        cur = next;
    }
    if (active != NULL &&
        ((t->has_updated_at && t->updated_at > now - (int64)cfg->window_s * USECS_PER_SEC) ||
         steps == 1)) {
        refresh_audit("token_refreshed", u, refresh_traits(s->id, "reused", NULL));
        return refresh_session_json(u, s, active, cfg->json);
    }
    /* Anything else is a replay: the session goes, and with it every token. */
    refresh_end_session(s->id);
    refresh_audit("token_revoked", u, refresh_traits(s->id, "reason", "refresh_token_reused"));
    return refresh_err(400, "refresh_token_already_used", "Invalid Refresh Token: Already Used");
}

/* The grant, inside SPI. Returns the response or refusal (SPI memory). */
static Jsonb *refresh_run(text *token_text, const RefreshSettings *cfg)
{
    TimestampTz now = GetCurrentTransactionStartTimestamp();
    RefreshSession s;
    RefreshToken t;
    RefreshUser u;
    char *token;
    bytea *h;
    Datum v[1];
    bool expired_tb;
    bool idle;

    if (cfg->rate > 0) {
        bool isnull;
        Datum r;

        v[0] = Int32GetDatum(cfg->rate);
        refresh_exec(Q_RATE, v, NULL);
        r = refresh_col(0, 1, &isnull);
        if (!isnull)
            return DatumGetJsonbP(r);
    }
    if (token_text == NULL || VARSIZE_ANY_EXHDR(token_text) == 0)
        return refresh_err(400, "validation_failed", "refresh_token required");
    token = text_to_cstring(token_text);
    h = refresh_token_hash(token, strlen(token));

    /*
     * Concurrent refreshes of one session queue on this lock; the next
     * statement, with a snapshot of its own, then sees the token as the one
     * before left it.
     */
    v[0] = PointerGetDatum(h);
    if (refresh_exec(Q_LOCK, v, NULL) == 0)
        return refresh_err(400, "refresh_token_not_found",
                           "Invalid Refresh Token: Refresh Token Not Found");
    refresh_read_session(&s);
    if (refresh_exec(Q_READ, v, NULL) == 0)
        return refresh_err(400, "refresh_token_not_found",
                           "Invalid Refresh Token: Refresh Token Not Found");
    refresh_read_user(&t, &u);

    if (u.has_deleted_at)
        return refresh_err(400, "refresh_token_not_found",
                           "Invalid Refresh Token: Refresh Token Not Found");
    if (u.has_banned_until && u.banned_until > now) {
        refresh_audit("token_refresh_failed", &u, refresh_traits(s.id, "reason", "user_banned"));
        return refresh_err(400, "user_banned", "User is banned");
    }
    /*
     * Absolute lifetime (not_after, set at sign-in) and inactivity (no
     * refresh for that long; refreshed_at is UTC wall time, the same
     * number as the timestamptz it was taken from).
     */
    expired_tb = s.has_not_after && s.not_after < now;
    idle = cfg->inactive_s > 0 && (s.has_refreshed_at || s.has_created_at) &&
           (s.has_refreshed_at ? s.refreshed_at : s.created_at) <
               now - (int64)cfg->inactive_s * USECS_PER_SEC;
    if (expired_tb || idle) {
        refresh_end_session(s.id);
        refresh_audit(
            "token_revoked", &u,
            refresh_traits(s.id, "reason", expired_tb ? "session_timebox" : "session_inactivity"));
        return refresh_err(400, "session_expired", "Invalid Refresh Token: Session Expired");
    }
    if (!t.revoked)
        return refresh_rotate(&t, &u, &s, h, token, cfg->json);
    return refresh_reuse(&t, &u, &s, token, cfg);
}

/*
 * auth.refresh_session(refresh_token text, settings jsonb DEFAULT '{}')
 * returns jsonb: the session response (supabase-wire §3.3) or a refusal
 * {"error": {status, code, message}}: 400 validation_failed,
 * refresh_token_not_found, refresh_token_already_used, session_expired,
 * user_banned; 429 over_request_rate_limit. Declared SECURITY DEFINER with
 * a pinned search_path (sql/kiln_auth/40-flows.sql); not STRICT. The
 * result is palloc'd in the caller's context.
 */
PG_FUNCTION_INFO_V1(kiln_refresh_session);

Datum kiln_refresh_session(PG_FUNCTION_ARGS)
{
    RefreshSettings cfg;
    Jsonb *r;
    Jsonb *out;

    cfg.json = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
    cfg.window_s = refresh_setting_int(cfg.json, "refresh_reuse_interval_s", 10, 0, 300);
    cfg.inactive_s =
        refresh_setting_int(cfg.json, "session_inactivity_timeout_s", 604800, 0, 315360000);
    cfg.rate = refresh_setting_int(cfg.json, "rate_limit_refresh", 0, 0, 1000000);

    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "auth.refresh_session: SPI_connect failed");
    r = refresh_run(PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0), &cfg);
    out = SPI_palloc(VARSIZE(r));
    memcpy(out, r, VARSIZE(r));
    SPI_finish();
    PG_RETURN_JSONB_P(out);
}
