/*
 * kiln.h: declarations shared by the C sources of the kiln library.
 *
 * The library backs every extension of the suite (kiln, kiln_auth,
 * kiln_access, kiln_audit, kiln_platform). This header declares each
 * module's init function, called once from _PG_init, and the small leaf
 * helpers modules share. It never declares SQL-callable functions (each
 * module keeps PG_FUNCTION_INFO_V1 next to its definition) and never
 * defines data.
 */
#ifndef KILN_H
#define KILN_H

/* Include after postgres.h, like every backend header. */

/*
 * Library version, passed in by extension/Makefile from the top-level
 * VERSION file; the Makefile refuses to build when a control file's
 * default_version disagrees.
 */
#ifndef KILN_VERSION
#error "KILN_VERSION must be defined by the build (see extension/Makefile)"
#endif

/* Prefix reserved for the suite's GUCs: every setting is named kiln.*. */
#define KILN_GUC_PREFIX "kiln"

/*
 * context.c: defines the request-context GUCs. Called once per backend from
 * _PG_init, before the prefix is reserved.
 */
extern void kiln_context_init(void);

/*
 * audit.c: registers the audit module's cache invalidation and transaction
 * callbacks. Called once per backend from _PG_init.
 */
extern void kiln_audit_init(void);

/*
 * base64url.c: unpadded base64url (RFC 4648 section 5), a pure leaf.
 *
 * kiln_base64url_encoded_len: number of characters (without a terminator)
 * that encoding len bytes produces.
 *
 * kiln_base64url_encode: writes the encoding of src[0..len) to dst, which
 * must hold kiln_base64url_encoded_len(len) + 1 bytes, and terminates it.
 * Returns the number of characters written (excluding the terminator). The
 * caller owns both buffers; no allocation, no errors.
 */
extern size_t kiln_base64url_encoded_len(size_t len);
extern size_t kiln_base64url_encode(const uint8 *src, size_t len, char *dst);

#endif /* KILN_H */
