/*
 * rest.h: what every /rest/v1 handler shares (rest.c): schema and media
 * negotiation, the token kiln.authenticate gets, the request metadata it
 * records, and the response headers of the wire contract.
 *
 * Handlers run on a worker with a pooled connection; these helpers are
 * pure over the request (no I/O).
 */
#ifndef KILN_REST_H
#define KILN_REST_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"
#include "request.h"
#include "schema_cache.h"
#include "tx.h"

#define REST_PREFIX "/rest/v1/"

typedef enum { KILN_MEDIA_JSON, KILN_MEDIA_OBJECT, KILN_MEDIA_CSV, KILN_MEDIA_GEOJSON } KilnMedia;

/* The schema a request addresses: the value of header (Accept-Profile for
 * reads, Content-Profile for writes) when it names one of db_schemas, else
 * the first exposed schema. 406 PGRST106 for a schema not exposed. */
bool rest_negotiate_schema(const KilnRequest *req, const char *header, char *schema, size_t len,
                           KilnError *err);

/* Accept negotiation: vnd.pgrst.object+json wins when listed; otherwise
 * JSON must be acceptable (406 PGRST107). */
bool rest_negotiate_media(const char *accept, KilnMedia *out, KilnError *err);

/* Accept negotiation of a read (GET/HEAD, RPC): as rest_negotiate_media,
 * and text/csv and application/geo+json when csv_ok (the caller checks
 * that PostGIS is there: rest_geojson_check); the first acceptable type listed wins (the
 * object type wherever it is). *strip_nulls for the vnd.pgrst array or
 * object type with the parameter nulls=stripped. */
bool rest_negotiate_output(const char *accept, bool csv_ok, KilnMedia *out, bool *strip_nulls,
                           KilnError *err);

/* application/geo+json needs PostGIS (406 PGRST107 otherwise): sets
 * plan->geojson_schema. */
struct KilnPlan;
struct KilnSchemaCache;
bool rest_geojson_check(const struct KilnSchemaCache *sc, struct KilnPlan *plan,
                        KilnError *err);

/* The text/csv body: the header row (root's output names, spreads
 * flattened, quoted as RFC 4180 fields when needed), a line break, then
 * rows (what the statement built) into out. */
struct KilnPlanNode;
void rest_csv_body(const struct KilnPlanNode *root, KilnBuf *rows, KilnBuf *out);

/* The token for kiln.authenticate (supabase-wire §1.3): a Bearer JWT wins;
 * `Bearer sb_...` is a key, so the apikey header or query_apikey is used.
 * *token is NULL for anon when anon_without_key; otherwise no key is 401
 * PGRST302. */
bool rest_pick_token(const KilnRequest *req, const char *query_apikey, const char **token,
                     KilnError *err);

/* As rest_pick_token, and a 401 also gets `WWW-Authenticate: Bearer`. */
bool rest_caller_token(const KilnRequest *req, const char *query_apikey, KilnResponse *res,
                       const char **token, KilnError *err);

/* The current schema-cache snapshot with one reference (release it), or
 * NULL with 503 PGRST002 while none has loaded. */
KilnSchemaCache *rest_snapshot(const KilnRequest *req, KilnError *err);

/* Runs sql (nparams params) in one transaction as the caller: token for
 * kiln.authenticate with the request's id and client ip; read-only unless
 * write; ended by ROLLBACK when rollback. out is initialised here: on
 * success the caller owns out->body and out->extra (free both); on failure
 * both are already freed and err says why. */
bool rest_tx(KilnRequest *req, KilnConn *conn, bool write, bool rollback, const char *token,
             const char *sql, int nparams, const char *const *params, unsigned long generation,
             KilnTxResult *out, bool *broken, KilnError *err);

/* rest_tx for a read whose statement returns its rows one JSON object each
 * (plan->row_set): the body is their array, page_rows their count. */
bool rest_tx_rows(KilnRequest *req, KilnConn *conn, const char *token, const char *sql,
                  int nparams, const char *const *params, unsigned long generation,
                  KilnTxResult *out, bool *broken, KilnError *err);

/* A max-affected or single-row check that failed inside the statement
 * (sql_write_violation) becomes PostgREST's error: 400 PGRST124 or 406
 * PGRST116 (the transaction was rolled back, nothing written). Other
 * errors are left as they are. */
void rest_map_violation(KilnError *err);

/* WWW-Authenticate on a 401 (invalid or expired token). */
void rest_auth_error_headers(KilnResponse *res, const KilnError *err);

/* Content-Range: "<offset>-<last>/<total or *>"; "*" then "/<total>" when empty. */
void rest_set_content_range(KilnResponse *res, long long offset, long long page,
                            long long total);

/* The Range request header of a GET (PostgREST's "<first>-[<last>]";
 * any other shape is ignored, as is the header on other methods): the
 * root's offset/limit window becomes its intersection with the header's.
 * 416 PGRST103 when last < first. */
bool rest_apply_range(const KilnRequest *req, struct KilnPlanNode *root, KilnError *err);

/* The write handler (rest_write.c): POST, PATCH, PUT and DELETE on
 * /rest/v1/<table>, run by rest.c's entry with the request's arena and
 * schema snapshot (both outlive the call). */
struct KilnArena;
struct KilnConn;
struct KilnSchemaCache;
bool rest_write_with(KilnRequest *req, struct KilnConn *conn, bool *broken, KilnResponse *res,
                     KilnError *err, struct KilnArena *arena, const struct KilnSchemaCache *sc);

#endif
