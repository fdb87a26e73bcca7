/*
 * access.h: declarations shared by the kiln_access C modules
 * (access_principals.c, access_guard.c, access_tenancy.c) and nothing else.
 *
 * Never included by modules of other extensions; kiln.h declares the one
 * entry point (kiln_access_init) that _PG_init calls.
 */
#ifndef KILN_ACCESS_H
#define KILN_ACCESS_H

/* access_guard.c: defines kiln.exposed_schemas; called by kiln_access_init. */
extern void kiln_access_guard_init(void);

/* SQLSTATE KLT01: a row names a tenant other than the request's tenant. */
#define ERRCODE_KILN_TENANT_MISMATCH MAKE_SQLSTATE('K', 'L', 'T', '0', '1')

#endif /* KILN_ACCESS_H */
