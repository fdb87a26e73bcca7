/*
 * context.c: the verified request context.
 *
 * kiln.authenticate(token, meta) verifies a token (JWT, opaque API key, or
 * none for anon), switches the role for this transaction with PostgreSQL's
 * own membership check (the role GUC, set transaction-locally), and records
 * the identity in C memory, where SQL cannot reach it: auth.uid(),
 * auth.role(), auth.jwt(), auth.email(), kiln.tenant_id(),
 * kiln.session_id() and kiln_context_current() read it. It is wiped at
 * commit and abort (and when the subtransaction that set it aborts).
 * kiln.act_as_tenant(uuid) lets service_role narrow itself to one tenant,
 * recorded in kiln.context_events.
 *
 * While a context exists, the role and session_authorization settings
 * cannot be changed by anything (SET, set_config, a function's SET clause):
 * their check hooks are wrapped at load. For Supabase compatibility it also
 * sets request.jwt.claims, request.jwt.claim.sub and request.jwt.claim.role
 * transaction-locally; nothing in Kiln trusts those settings.
 *
 * Also defines kiln.request_id (a correlation id only, never trusted).
 */
#include "postgres.h"

#include "identity.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

/* Longest accepted request id, in bytes. */
#define KILN_REQUEST_ID_MAX_LEN 128
/* Longest accepted client ip text. */
#define KILN_CLIENT_IP_MAX_LEN 64

/* Current value of kiln.request_id; owned by the GUC machinery. */
static char *kiln_request_id = NULL;

/* The context of the current transaction; all-zero when there is none. */
static KilnContext kiln_ctx;
/* Subtransaction that set the context; its abort wipes it. */
static SubTransactionId kiln_ctx_subid = InvalidSubTransactionId;
/* act_as_tenant: the subtransaction that narrowed the context, and what it replaced. */
static SubTransactionId kiln_tenant_subid = InvalidSubTransactionId;
static const char *kiln_tenant_prev_role = NULL;
/* Claim email of the context (TopTransactionContext), for auth.email(). */
static char *kiln_ctx_email = NULL;

/* True while this file itself sets the role setting. */
static bool kiln_switching_role = false;

/* The original check hooks of role and session_authorization. */
static GucStringCheckHook kiln_prev_check_role = NULL;
static GucStringCheckHook kiln_prev_check_session_auth = NULL;

const KilnContext *kiln_context_current(void)
{
    return &kiln_ctx;
}

static void kiln_context_wipe(void)
{
    memset(&kiln_ctx, 0, sizeof(kiln_ctx));
    kiln_ctx_subid = InvalidSubTransactionId;
    kiln_tenant_subid = InvalidSubTransactionId;
    kiln_tenant_prev_role = NULL;
    kiln_ctx_email = NULL;
}

static void kiln_xact_callback(XactEvent event, void *arg)
{
    switch (event) {
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
    case XACT_EVENT_PREPARE:
        kiln_context_wipe();
        break;
    default:
        break;
    }
}

static void kiln_subxact_callback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid,
                                  void *arg)
{
    if (!kiln_ctx.present)
        return;
    if (event == SUBXACT_EVENT_ABORT_SUB) {
        if (kiln_ctx_subid == mySubid)
            kiln_context_wipe();
        else if (kiln_tenant_subid == mySubid) {
            kiln_ctx.role = kiln_tenant_prev_role;
            kiln_ctx.has_tenant = false;
            kiln_tenant_subid = InvalidSubTransactionId;
        }
    } else if (event == SUBXACT_EVENT_COMMIT_SUB) {
        if (kiln_ctx_subid == mySubid)
            kiln_ctx_subid = parentSubid;
        if (kiln_tenant_subid == mySubid)
            kiln_tenant_subid = parentSubid;
    }
}

/*
 * Check hook wrappers: while a verified context exists, the role can only
 * be "changed" to the context's role, and the session user not at all,
 * whoever asks and however (SET, set_config, a function's SET clause).
 */
static bool kiln_check_role(char **newval, void **extra, GucSource source)
{
    if (kiln_ctx.present && !kiln_switching_role && (*newval == NULL || strcmp(*newval, kiln_ctx.role) != 0)) {
        GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
        GUC_check_errmsg("cannot change role while a verified request context is active");
        GUC_check_errdetail("The role was set by kiln.authenticate for this transaction.");
        return false;
    }
    return kiln_prev_check_role ? kiln_prev_check_role(newval, extra, source) : true;
}

static bool kiln_check_session_auth(char **newval, void **extra, GucSource source)
{
    if (kiln_ctx.present) {
        GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
        GUC_check_errmsg("cannot change the session user while a verified request context is active");
        return false;
    }
    return kiln_prev_check_session_auth ? kiln_prev_check_session_auth(newval, extra, source) : true;
}

static void kiln_wrap_guc_checks(void)
{
    struct config_generic **vars = get_guc_variables();
    int n = GetNumConfigOptions();
    int i;

    for (i = 0; i < n; i++) {
        struct config_string *s;

        if (vars[i]->vartype != PGC_STRING)
            continue;
        s = (struct config_string *)vars[i];
        if (strcmp(vars[i]->name, "role") == 0 && s->check_hook != kiln_check_role) {
            kiln_prev_check_role = s->check_hook;
            s->check_hook = kiln_check_role;
        } else if (strcmp(vars[i]->name, "session_authorization") == 0 &&
                   s->check_hook != kiln_check_session_auth) {
            kiln_prev_check_session_auth = s->check_hook;
            s->check_hook = kiln_check_session_auth;
        }
    }
    if (kiln_prev_check_role == NULL || kiln_prev_check_session_auth == NULL)
        elog(ERROR, "kiln: could not find the role settings to guard");
}

/*
 * check hook for kiln.request_id and the request id in meta: NULL, empty
 * (unset), or up to 128 printable ASCII characters other than space, so
 * that it can go into log lines and audit rows unescaped.
 */
static bool kiln_request_id_ok(const char *s, size_t len)
{
    size_t i;

    if (len > KILN_REQUEST_ID_MAX_LEN)
        return false;
    for (i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7E)
            return false;
    return true;
}

static bool kiln_check_request_id(char **newval, void **extra, GucSource source)
{
    const char *s = *newval;

    if (s == NULL)
        return true;
    if (strlen(s) > KILN_REQUEST_ID_MAX_LEN) {
        GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
        GUC_check_errdetail("A request id is at most %d bytes long.", KILN_REQUEST_ID_MAX_LEN);
        return false;
    }
    if (!kiln_request_id_ok(s, strlen(s))) {
        GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
        GUC_check_errdetail("A request id holds only printable ASCII characters other than space.");
        return false;
    }
    return true;
}

void kiln_context_init(void)
{
    DefineCustomStringVariable(
        "kiln.request_id", "Identifier of the request the current transaction serves.",
        "Set transaction-locally by the kiln daemon; empty means unset.", &kiln_request_id, NULL,
        PGC_USERSET, GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE, kiln_check_request_id, NULL, NULL);
    RegisterXactCallback(kiln_xact_callback, NULL);
    RegisterSubXactCallback(kiln_subxact_callback, NULL);
    kiln_wrap_guc_checks();
}

const char *kiln_request_id_setting(void)
{
    return kiln_request_id;
}

/* Sets a setting for this transaction only; raises on failure. */
static void kiln_set_local(const char *name, const char *value)
{
    (void)set_config_option(name, value, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, ERROR, false);
}

static void kiln_set_role_local(const char *role)
{
    kiln_switching_role = true;
    PG_TRY();
    {
        kiln_set_local("role", role);
    }
    PG_FINALLY();
    {
        kiln_switching_role = false;
    }
    PG_END_TRY();
}

static char *kiln_uuid_text(const pg_uuid_t *u)
{
    return DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum((pg_uuid_t *)u)));
}

/* A string member of meta (NULL when absent or null); 22023 when not a string. */
static char *kiln_meta_string(Jsonb *meta, const char *key)
{
    JsonbValue k;
    JsonbValue *v;

    if (meta == NULL || !JB_ROOT_IS_OBJECT(meta) || JB_ROOT_IS_SCALAR(meta))
        return NULL;
    k.type = jbvString;
    k.val.string.val = (char *)key;
    k.val.string.len = (int)strlen(key);
    v = findJsonbValueFromContainer(&meta->root, JB_FOBJECT, &k);
    if (v == NULL || v->type == jbvNull)
        return NULL;
    if (v->type != jbvString)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("meta member \"%s\" must be a string", key)));
    return pnstrdup(v->val.string.val, v->val.string.len);
}

/* A boolean member of meta (false when absent or null); 22023 when not a boolean. */
static bool kiln_meta_bool(Jsonb *meta, const char *key)
{
    JsonbValue k;
    JsonbValue *v;

    if (meta == NULL || !JB_ROOT_IS_OBJECT(meta) || JB_ROOT_IS_SCALAR(meta))
        return false;
    k.type = jbvString;
    k.val.string.val = (char *)key;
    k.val.string.len = (int)strlen(key);
    v = findJsonbValueFromContainer(&meta->root, JB_FOBJECT, &k);
    if (v == NULL || v->type == jbvNull)
        return false;
    if (v->type != jbvBool)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("meta member \"%s\" must be a boolean", key)));
    return v->val.boolean;
}

static bool kiln_starts_with(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);

    return len >= n && memcmp(s, prefix, n) == 0;
}

/* Verifies token (cache first) into *v; raises KL001/KL002/KL003. */
static void kiln_verify_token(const char *tok, size_t len, KilnVerified *v)
{
    uint8 h[32];

    kiln_token_hash(tok, len, h);
    if (kiln_token_cache_get(h, v))
        return;
    if (kiln_starts_with(tok, len, "sb_publishable_") || kiln_starts_with(tok, len, "sb_secret_")) {
        if (!kiln_api_key_lookup(tok, len, v))
            ereport(ERROR, (errcode(KILN_ERRCODE_INVALID_TOKEN), errmsg("invalid token"),
                            errdetail("The API key is unknown.")));
    } else {
        kiln_jwt_verify(tok, len, v);
        if (v->has_session && kiln_session_revoked(&v->session_id))
            ereport(ERROR, (errcode(KILN_ERRCODE_REVOKED_TOKEN), errmsg("token revoked"),
                            errdetail("The token's session was revoked.")));
        kiln_verified_claims(v);
    }
    kiln_token_cache_put(h, v);
}

/* Who may call kiln.authenticate, and when: 42501 otherwise. */
static void kiln_authenticate_allowed(void)
{
    if (kiln_ctx.present)
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("a verified request context already exists in this transaction"),
                        errdetail("kiln.authenticate switches identity once per transaction.")));
    if (GetUserId() != GetSessionUserId() || InSecurityRestrictedOperation() || InLocalUserIdChange())
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("kiln.authenticate must be called as the session user"),
                        errdetail("It cannot be called after SET ROLE or from a security-definer function.")));
}

/*
 * The body of both kiln.authenticate forms, after kiln_authenticate_allowed:
 * request_id and client_ip may be NULL (checked here), token NULL or empty
 * means anon.
 */
static text *kiln_authenticate_core(text *token, char *request_id, char *client_ip, bool read_only)
{
    KilnVerified v;
    MemoryContext old;
    KilnContext c;

    if (request_id != NULL && !kiln_request_id_ok(request_id, strlen(request_id)))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("invalid request_id in meta"),
                        errdetail("A request id is at most 128 printable ASCII characters other than space.")));
    if (client_ip != NULL &&
        (strlen(client_ip) > KILN_CLIENT_IP_MAX_LEN || strspn(client_ip, "0123456789abcdefABCDEF.:") != strlen(client_ip)))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("invalid client_ip in meta"),
                        errdetail("client_ip holds an IPv4 or IPv6 address.")));

    if (token == NULL || VARSIZE_ANY_EXHDR(token) == 0) {
        static const char anon_claims[] = "{\"role\": \"anon\"}";

        memset(&v, 0, sizeof(v));
        v.role = kiln_role_static("anon");
        v.claims_text = (char *)anon_claims;
        v.claims = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(anon_claims)));
    } else {
        kiln_verify_token(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token), &v);
    }

    /* Copy out of the token cache into the transaction before anything can invalidate it. */
    memset(&c, 0, sizeof(c));
    old = MemoryContextSwitchTo(TopTransactionContext);
    c.present = true;
    c.role = v.role;
    c.has_user = v.has_user;
    c.user_id = v.user_id;
    c.has_tenant = v.has_tenant;
    c.tenant_id = v.tenant_id;
    c.has_session = v.has_session;
    c.session_id = v.session_id;
    c.aal = v.aal ? pstrdup(v.aal) : NULL;
    c.request_id = request_id ? pstrdup(request_id) : NULL;
    c.client_ip = client_ip ? pstrdup(client_ip) : NULL;
    c.claims = palloc(VARSIZE(v.claims));
    memcpy(c.claims, v.claims, VARSIZE(v.claims));
    MemoryContextSwitchTo(old);
    {
        char *claims_text = pstrdup(v.claims_text);
        char *email = v.email ? MemoryContextStrdup(TopTransactionContext, v.email) : NULL;

        /* Before the role switch: nothing below runs read-write. Turning it
         * off again later fails with 25001 (a snapshot has been taken). */
        if (read_only)
            kiln_set_local("transaction_read_only", "on");
        /* PostgreSQL checks that the session user may become the role. */
        kiln_set_role_local(c.role);
        kiln_set_local("request.jwt.claims", claims_text);
        kiln_set_local("request.jwt.claim.sub", c.has_user ? kiln_uuid_text(&c.user_id) : "");
        kiln_set_local("request.jwt.claim.role", c.role);
        if (request_id != NULL)
            kiln_set_local("kiln.request_id", request_id);
        kiln_ctx = c;
        kiln_ctx_subid = GetCurrentSubTransactionId();
        kiln_ctx_email = email;
    }
    return cstring_to_text(c.role);
}


/*
 * kiln.authenticate(token text, meta jsonb default '{}') returns text: the
 * role the transaction now runs as. Not STRICT: a NULL or empty token means
 * anon. meta may carry request_id and client_ip (strings) and read_only
 * (boolean): true makes the rest of the transaction read-only (as SET LOCAL
 * transaction_read_only = on; nothing can turn it back, since the call
 * itself has taken the transaction's first snapshot), so a request sent as
 * an implicit transaction (no BEGIN) keeps a GET from writing.
 *
 * Rules (docs/sql.md): EXECUTE is granted to authenticator only; the caller
 * must act as its session user (no SET ROLE, not inside a security-definer
 * function), and there must be no context in this transaction yet, so an
 * app role can never call it to switch again: 42501 otherwise. Token
 * failures: KL001/KL002/KL003. 22023 for bad meta values.
 */
PG_FUNCTION_INFO_V1(kiln_authenticate);

Datum kiln_authenticate(PG_FUNCTION_ARGS)
{
    Jsonb *meta;
    char *request_id, *client_ip;
    bool read_only;

    kiln_authenticate_allowed();
    meta = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
    request_id = kiln_meta_string(meta, "request_id");
    client_ip = kiln_meta_string(meta, "client_ip");
    read_only = kiln_meta_bool(meta, "read_only");
    PG_RETURN_TEXT_P(kiln_authenticate_core(PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0),
                                            request_id, client_ip, read_only));
}

/*
 * kiln.authenticate(token text, request_id text, client_ip text, read_only
 * boolean) returns text: the same, with meta's members as arguments (NULL
 * for absent; read_only NULL is false). What the daemon calls on every
 * request: nothing to parse as JSON.
 */
PG_FUNCTION_INFO_V1(kiln_authenticate_args);

Datum kiln_authenticate_args(PG_FUNCTION_ARGS)
{
    char *request_id, *client_ip;
    bool read_only;

    kiln_authenticate_allowed();
    request_id = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
    client_ip = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
    read_only = !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);
    PG_RETURN_TEXT_P(kiln_authenticate_core(PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0),
                                            request_id, client_ip, read_only));
}

/* act_as_tenant: the audit row, written as the owner of schema kiln. */
typedef struct KilnActAs {
    pg_uuid_t tenant;
} KilnActAs;

static void kiln_act_as_spi(void *arg)
{
    KilnActAs *a = arg;
    Oid types[6] = {UUIDOID, TEXTOID, TEXTOID, UUIDOID, TEXTOID, TEXTOID};
    Datum values[6];
    char nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
    int rc;

    values[0] = UUIDPGetDatum(&a->tenant);
    values[1] = CStringGetTextDatum(kiln_ctx.role);
    values[2] = CStringGetTextDatum(GetUserNameFromId(GetSessionUserId(), false));
    if (kiln_ctx.has_user)
        values[3] = UUIDPGetDatum(&kiln_ctx.user_id);
    else
        nulls[3] = 'n';
    if (kiln_ctx.request_id)
        values[4] = CStringGetTextDatum(kiln_ctx.request_id);
    else
        nulls[4] = 'n';
    if (kiln_ctx.client_ip)
        values[5] = CStringGetTextDatum(kiln_ctx.client_ip);
    else
        nulls[5] = 'n';
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    rc = SPI_execute_with_args("INSERT INTO kiln.context_events"
                               " (event, tenant_id, actor_role, session_user_name, user_id, request_id, client_ip)"
                               " VALUES ('act_as_tenant', $1, $2, $3, $4, $5, $6)",
                               6, types, values, nulls, false, 0);
    if (rc != SPI_OK_INSERT)
        elog(ERROR, "writing kiln.context_events failed: %d", rc);
    SPI_finish();
}

/*
 * kiln.act_as_tenant(tenant uuid) returns void: a service_role context
 * narrows itself to one tenant for the rest of the transaction: the role
 * becomes tenant_service (no row-security bypass) and kiln.tenant_id() the
 * tenant; a row goes to kiln.context_events. STRICT. 42501 without a
 * service_role context (anything else, including an earlier act_as_tenant).
 */
PG_FUNCTION_INFO_V1(kiln_act_as_tenant);

Datum kiln_act_as_tenant(PG_FUNCTION_ARGS)
{
    KilnActAs a;
    const char *prev = kiln_ctx.role;

    if (!kiln_ctx.present || strcmp(kiln_ctx.role, "service_role") != 0 || kiln_ctx.has_tenant)
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("kiln.act_as_tenant needs a verified service_role context"),
                        errdetail("Call kiln.authenticate with a secret key first; a transaction acts for one tenant at most.")));
    memcpy(&a.tenant, PG_GETARG_UUID_P(0), sizeof(pg_uuid_t));
    kiln_as_owner(kiln_act_as_spi, &a);

    kiln_set_role_local("tenant_service");
    kiln_set_local("request.jwt.claim.role", "tenant_service");
    kiln_tenant_prev_role = prev;
    kiln_tenant_subid = GetCurrentSubTransactionId();
    kiln_ctx.role = kiln_role_static("tenant_service");
    kiln_ctx.tenant_id = a.tenant;
    kiln_ctx.has_tenant = true;
    PG_RETURN_VOID();
}

/*
 * Readers of the context. STABLE, PARALLEL RESTRICTED (the context lives in
 * the leader), LEAKPROOF: they never raise errors. NULL without a context.
 */
PG_FUNCTION_INFO_V1(kiln_auth_uid);

Datum kiln_auth_uid(PG_FUNCTION_ARGS)
{
    pg_uuid_t *u;

    if (!kiln_ctx.present || !kiln_ctx.has_user)
        PG_RETURN_NULL();
    u = palloc(sizeof(pg_uuid_t));
    *u = kiln_ctx.user_id;
    PG_RETURN_UUID_P(u);
}

PG_FUNCTION_INFO_V1(kiln_auth_role);

Datum kiln_auth_role(PG_FUNCTION_ARGS)
{
    if (!kiln_ctx.present)
        PG_RETURN_NULL();
    PG_RETURN_TEXT_P(cstring_to_text(kiln_ctx.role));
}

PG_FUNCTION_INFO_V1(kiln_auth_jwt);

Datum kiln_auth_jwt(PG_FUNCTION_ARGS)
{
    Jsonb *copy;

    if (!kiln_ctx.present || kiln_ctx.claims == NULL)
        PG_RETURN_NULL();
    copy = palloc(VARSIZE(kiln_ctx.claims));
    memcpy(copy, kiln_ctx.claims, VARSIZE(kiln_ctx.claims));
    PG_RETURN_JSONB_P(copy);
}

PG_FUNCTION_INFO_V1(kiln_auth_email);

Datum kiln_auth_email(PG_FUNCTION_ARGS)
{
    if (!kiln_ctx.present || kiln_ctx_email == NULL)
        PG_RETURN_NULL();
    PG_RETURN_TEXT_P(cstring_to_text(kiln_ctx_email));
}

PG_FUNCTION_INFO_V1(kiln_get_tenant_id);

Datum kiln_get_tenant_id(PG_FUNCTION_ARGS)
{
    pg_uuid_t *u;

    if (!kiln_ctx.present || !kiln_ctx.has_tenant)
        PG_RETURN_NULL();
    u = palloc(sizeof(pg_uuid_t));
    *u = kiln_ctx.tenant_id;
    PG_RETURN_UUID_P(u);
}

PG_FUNCTION_INFO_V1(kiln_get_session_id);

Datum kiln_get_session_id(PG_FUNCTION_ARGS)
{
    pg_uuid_t *u;

    if (!kiln_ctx.present || !kiln_ctx.has_session)
        PG_RETURN_NULL();
    u = palloc(sizeof(pg_uuid_t));
    *u = kiln_ctx.session_id;
    PG_RETURN_UUID_P(u);
}

/*
 * kiln.request_id() returns text: the request id of the verified context
 * (meta.request_id), else the setting kiln.request_id; NULL when neither
 * is set or it is empty. Correlation only, never authorisation.
 */
PG_FUNCTION_INFO_V1(kiln_get_request_id);

Datum kiln_get_request_id(PG_FUNCTION_ARGS)
{
    if (kiln_ctx.present && kiln_ctx.request_id != NULL)
        PG_RETURN_TEXT_P(cstring_to_text(kiln_ctx.request_id));
    if (kiln_request_id == NULL || kiln_request_id[0] == '\0')
        PG_RETURN_NULL();
    PG_RETURN_TEXT_P(cstring_to_text(kiln_request_id));
}

/*
 * kiln.current_context() returns jsonb: the verified context as an object
 * {role, user_id, tenant_id, session_id, request_id, client_ip, aal}
 * (absent members are null), or NULL without a context. For diagnostics.
 */
PG_FUNCTION_INFO_V1(kiln_current_context);

Datum kiln_current_context(PG_FUNCTION_ARGS)
{
    StringInfoData b;

    if (!kiln_ctx.present)
        PG_RETURN_NULL();
    initStringInfo(&b);
    appendStringInfoString(&b, "{\"role\": ");
    escape_json(&b, kiln_ctx.role);
#define KILN_JSON_UUID(name, has, val)                                                                       \
    appendStringInfoString(&b, ", \"" name "\": ");                                                         \
    if (has)                                                                                                 \
        escape_json(&b, kiln_uuid_text(&(val)));                                                             \
    else                                                                                                     \
        appendStringInfoString(&b, "null");
#define KILN_JSON_STR(name, val)                                                                             \
    appendStringInfoString(&b, ", \"" name "\": ");                                                         \
    if (val)                                                                                                 \
        escape_json(&b, val);                                                                                \
    else                                                                                                     \
        appendStringInfoString(&b, "null");
    KILN_JSON_UUID("user_id", kiln_ctx.has_user, kiln_ctx.user_id);
    KILN_JSON_UUID("tenant_id", kiln_ctx.has_tenant, kiln_ctx.tenant_id);
    KILN_JSON_UUID("session_id", kiln_ctx.has_session, kiln_ctx.session_id);
    KILN_JSON_STR("request_id", kiln_ctx.request_id);
    KILN_JSON_STR("client_ip", kiln_ctx.client_ip);
    KILN_JSON_STR("aal", kiln_ctx.aal);
#undef KILN_JSON_UUID
#undef KILN_JSON_STR
    appendStringInfoChar(&b, '}');
    PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(b.data)));
}
