/*
 * access_context_shim.h: INTERIM copy of the verified-context interface of
 * docs/security-core.md, until the identity branch (context.c) is merged.
 *
 * Declares KilnContext and kiln_context_current() exactly as the interface
 * fixes them, so access_*.c compile against the final API. Deleted, with
 * access_context_shim.c, when kiln.h carries these declarations.
 */
#ifndef ACCESS_CONTEXT_SHIM_H
#define ACCESS_CONTEXT_SHIM_H

#include "utils/jsonb.h"
#include "utils/uuid.h"

typedef struct KilnContext {
    bool present;
    const char *role;
    bool has_user;
    pg_uuid_t user_id;
    bool has_tenant;
    pg_uuid_t tenant_id;
    bool has_session;
    pg_uuid_t session_id;
    const char *request_id;
    const char *client_ip;
    const char *aal;
    Jsonb *claims;
} KilnContext;

extern const KilnContext *kiln_context_current(void);

#endif /* ACCESS_CONTEXT_SHIM_H */
