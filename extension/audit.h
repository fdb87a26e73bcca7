/*
 * audit.h: interface between the two halves of the audit module.
 *
 * audit.c captures changes (trigger functions, row to jsonb, actor) and
 * fills an AuditRecord; audit_chain.c owns the per-backend hash chain, the
 * canonical encoding, the writer of kiln.audit_log and its verification.
 * Only those two files include this header; nothing here is SQL-callable.
 */
#ifndef KILN_AUDIT_H
#define KILN_AUDIT_H

#include "utils/jsonb.h"
#include "utils/relcache.h"
#include "utils/uuid.h"

/*
 * Columns of kiln.audit_log, in table order (sql/kiln_audit/10-audit.sql).
 * The writer refuses a table whose shape differs.
 */
typedef enum AuditColumn {
    AUDIT_COL_CHAIN_ID = 0,
    AUDIT_COL_SEQ,
    AUDIT_COL_AT,
    AUDIT_COL_TXID,
    AUDIT_COL_DB_USER,
    AUDIT_COL_ACTOR_ROLE,
    AUDIT_COL_ACTOR_USER,
    AUDIT_COL_TENANT_ID,
    AUDIT_COL_SESSION_ID,
    AUDIT_COL_REQUEST_ID,
    AUDIT_COL_CLIENT_IP,
    AUDIT_COL_TABLE_SCHEMA,
    AUDIT_COL_TABLE_NAME,
    AUDIT_COL_OP,
    AUDIT_COL_NROWS,
    AUDIT_COL_PK,
    AUDIT_COL_OLD,
    AUDIT_COL_NEW,
    AUDIT_COL_PREV_HASH,
    AUDIT_COL_HASH,
    AUDIT_NCOLS
} AuditColumn;

#define AUDIT_HASH_LEN 32

/*
 * An open writer: kiln.audit_log and its indexes, locked RowExclusive for
 * the rest of the transaction, and the log page rows go to, kept pinned.
 * One per transaction (audit_chain.c owns it): audit_writer_open returns
 * the same writer to every caller until the transaction ends or a utility
 * command starts, and each caller pairs it with audit_writer_close (also
 * when it errors out: PG_FINALLY), which only ends that caller's use.
 */
typedef struct AuditWriter AuditWriter;

/*
 * audit_writer_open: the transaction's writer of kiln.audit_log, opened on
 * first use. Raises 55000 when kiln_audit is not installed in this
 * database, 0A000 in a parallel worker or a read-only transaction path
 * that cannot write.
 */
extern AuditWriter *audit_writer_open(void);
extern void audit_writer_close(AuditWriter *w);

/*
 * audit_writer_release: closes the transaction's writer unless a caller is
 * using it (commit, prepare and every utility command call it, so that
 * TRUNCATE or DDL never find the log in use). Never fails.
 */
extern void audit_writer_release(void);

/*
 * audit_writer_append: appends one row. values/nulls hold every column;
 * the caller fills all but chain_id, seq, prev_hash and hash, which this
 * function sets from the backend's chain. Allocates in the current memory
 * context (callers reset a per-row context around it). The chain head
 * advances only if the insert succeeded; an abort of the (sub)transaction
 * rolls it back (xact callbacks in audit_chain.c).
 */
extern void audit_writer_append(AuditWriter *w, Datum *values, bool *nulls);

/*
 * audit_chain_restart: the next row starts a new chain (seq 1). Used after
 * a break-glass TRUNCATE of the log removed the chain's earlier rows.
 */
extern void audit_chain_restart(void);

/* The Oid of kiln.audit_log, InvalidOid when not installed. Cached. */
extern Oid audit_log_relid(void);

/* Registers the transaction callbacks; called once from kiln_audit_init. */
extern void audit_chain_init(void);

/*
 * Break-glass state, kept with the chain's transaction callbacks: enabled
 * for the current transaction by kiln.audit_break_glass(), cleared at its
 * end or when the subtransaction that enabled it aborts.
 */
extern void audit_break_glass_enable(void);
extern bool audit_break_glass_active(void);


/*
 * audit_note_dropped (audit.c): writes an AUDIT_DISABLE row, detail
 * {"reason": "table dropped"}, for schema.table, which is being dropped.
 */
extern void audit_note_dropped(const char *schema, const char *table);

/* audit_note_detached (audit.c): writes an AUDIT_DISABLE row for relid. */
extern void audit_note_detached(Oid relid);

#endif /* KILN_AUDIT_H */
