/*
 * openapi.h: the OpenAPI 2.0 (Swagger) description of one exposed schema,
 * served at GET /rest/v1/ (openapi.c), as PostgREST describes it: a path
 * per table or view and per function (/rpc/<fn>), a definition per table
 * or view with its columns (JSON type, PostgreSQL type as format, primary
 * keys noted), and the shared query parameters.
 *
 * openapi_build is pure (no I/O, no globals); the handler asks the database,
 * as the caller, which of the candidates the caller may use.
 */
#ifndef KILN_OPENAPI_H
#define KILN_OPENAPI_H

#include <stdbool.h>

#include "buf.h"
#include "schema_cache.h"

/* Appends the document for schema to out. tables[i] / funcs[i] say whether
 * sc->tables[i] / sc->funcs[i] are described (NULL: all of the schema's).
 * write_methods says which of POST, PATCH, DELETE the daemon serves on
 * tables (a KILN_* mask from route.h; 0: reads only). */
void openapi_build(const KilnSchemaCache *sc, const char *schema, const bool *tables,
                   const bool *funcs, unsigned write_methods, KilnBuf *out);

#endif
