/*
 * audit_chain.c: the hash chains of kiln.audit_log, their writer and their
 * verification (kiln.audit_verify_chains()).
 *
 * Every backend appends to a chain of its own: a random chain id drawn at
 * its first audited write, a sequence number and the previous row's hash
 * kept in backend memory. No lock or shared state is taken on the write
 * path beyond the RowExclusiveLock every INSERT takes, so concurrent writers
 * never wait for each other. The head advances only when a row is written;
 * transaction callbacks move it back to the last committed head on abort,
 * and to the head at the start of a subtransaction when that aborts, so a
 * chain never has a gap left by rolled-back work. A prepared transaction
 * ends its chain (it may commit or roll back elsewhere); the next write
 * starts a new one.
 *
 * hash = SHA-256("kiln-audit-v1\0" || encoding of every column except seq
 * and hash, in table order, prev_hash included): a null column is the byte
 * 0x00; a value is 0x01, its length as 4 bytes big-endian, then its bytes:
 * uuid 16 raw bytes, int4 4 and timestamptz and xid8 8 bytes big-endian, text and bytea
 * their bytes, jsonb its binary form without the varlena header (canonical:
 * keys sorted and unique, numbers normalised; jsonb_in of its text gives the
 * same bytes, so a dump and restore keeps the chain verifiable). seq is not hashed: the
 * order of a chain is carried by prev_hash, so a renumbered row shows up as
 * reordered rather than edited.
 *
 * Rows are inserted with heap_insert and index_insert directly: no SQL, no
 * INSERT privilege needed by the writing role, no plan, through one writer
 * per transaction that keeps the log open and its last page pinned. This file never
 * decides what a row contains (audit.c does) and never reads the request
 * context.
 */

/*
 * The row hash uses OpenSSL's SHA256_Init/Update/Final (deprecated since
 * 3.0, still in every 3.x): OpenSSL 3.0's EVP_DigestInit_ex frees and
 * allocates its provider context and looks for engines at every init. In an
 * audited pgbench TPC-B run (perf), libcrypto took 1.7% of the server's CPU
 * through EVP and takes 0.7% this way; the block function is the same
 * either way (SHA extensions where the CPU has them).
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "postgres.h"

#include "kiln.h"
#include "audit.h"

#include <openssl/sha.h>

#include "access/genam.h"
#include "access/heapam.h"
#include "access/heaptoast.h"
#include "access/hio.h"
#include "access/toast_compression.h"
#include "access/toast_internals.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

/* ------------------------------------------------------------ chain state */

typedef struct ChainHead {
    bool active;                 /* a chain id has been drawn */
    pg_uuid_t id;
    int64 seq;                   /* seq of the last row written (0: none) */
    uint8 hash[AUDIT_HASH_LEN];  /* hash of that row (zeros: none) */
} ChainHead;

typedef struct ChainSave {
    int level;       /* subtransaction nesting level the save belongs to */
    ChainHead head;  /* head before that level's first write */
} ChainSave;

/* Current head (includes uncommitted rows) and last committed head. */
static ChainHead chain_cur;
static ChainHead chain_committed;

/* Heads saved at the first write in each open subtransaction, innermost last. */
static ChainSave *chain_saves = NULL; /* TopMemoryContext */
static int chain_nsaves = 0;
static int chain_maxsaves = 0;

/* Nesting level whose work enabled break-glass; 0 = off. */
static int break_glass_level = 0;

/* Cached Oid of kiln.audit_log and whether its shape was checked. */
static Oid audit_log_oid = InvalidOid;
static bool audit_log_shape_ok = false;

/* The digest state of the row being hashed (one row at a time). */
static SHA256_CTX hash_ctx;

/* ------------------------------------------------------------ the writer's state */

struct AuditWriter {
    Relation rel;
    int nindexes;
    Relation *indexes;
    IndexInfo **info;
    CommandId cid;
    BulkInsertState bistate; /* keeps the page rows go to pinned between rows */
    int users;               /* audit_writer_open calls not yet closed */
};

/*
 * The transaction's writer, opened at its first audited write and kept
 * until the transaction ends or a utility command starts: opening the log,
 * listing its indexes and looking its last page up again for every row
 * cost more than forming the row. The relations, their locks and the
 * pinned page belong to TopTransactionResourceOwner, so neither the end of
 * a statement nor the abort of a subtransaction releases them; the writer
 * releases them before commit or prepare (audit_writer_release), and an
 * abort releases them through the resource owner (the pointer is then just
 * forgotten). A utility command (TRUNCATE, DROP, ALTER, CREATE INDEX on the
 * log) must not find the log open, hence the ProcessUtility hook below.
 * Memory: TopTransactionContext.
 */
static AuditWriter *xact_writer = NULL;

static ProcessUtility_hook_type audit_prev_process_utility = NULL;
static void audit_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
                                  ProcessUtilityContext context, ParamListInfo params,
                                  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc);

static void chain_new(ChainHead *h)
{
    if (!pg_strong_random(h->id.data, UUID_LEN))
        ereport(ERROR, (errcode(ERRCODE_SYSTEM_ERROR), errmsg("could not generate random bytes")));
    h->id.data[6] = (h->id.data[6] & 0x0f) | 0x40; /* version 4 */
    h->id.data[8] = (h->id.data[8] & 0x3f) | 0x80; /* RFC 4122 variant */
    h->seq = 0;
    memset(h->hash, 0, sizeof(h->hash));
    h->active = true;
}

/*
 * chain_prepare_write: makes sure a chain exists and that the head as it is
 * now can be restored if the current subtransaction aborts.
 */
static void chain_prepare_write(void)
{
    int level = GetCurrentTransactionNestLevel();

    if (level > 1 && (chain_nsaves == 0 || chain_saves[chain_nsaves - 1].level < level)) {
        if (chain_nsaves == chain_maxsaves) {
            int n = chain_maxsaves == 0 ? 8 : chain_maxsaves * 2;

            chain_saves = chain_saves == NULL
                              ? MemoryContextAlloc(TopMemoryContext, n * sizeof(ChainSave))
                              : repalloc(chain_saves, n * sizeof(ChainSave));
            chain_maxsaves = n;
        }
        chain_saves[chain_nsaves].level = level;
        chain_saves[chain_nsaves].head = chain_cur;
        chain_nsaves++;
    }
    if (!chain_cur.active)
        chain_new(&chain_cur);
}

void audit_chain_restart(void)
{
    chain_prepare_write(); /* save the head for a subtransaction abort */
    chain_cur.active = false;
}

static void audit_xact_callback(XactEvent event, void *arg)
{
    switch (event) {
    case XACT_EVENT_PRE_COMMIT:
    case XACT_EVENT_PARALLEL_PRE_COMMIT:
    case XACT_EVENT_PRE_PREPARE:
        if (xact_writer != NULL)
            xact_writer->users = 0; /* every caller has returned by now */
        audit_writer_release();
        return;
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
        chain_committed = chain_cur;
        break;
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
        chain_cur = chain_committed;
        xact_writer = NULL; /* the resource owner releases what it held */
        break;
    case XACT_EVENT_PREPARE:
        /* The prepared rows may commit or vanish elsewhere: start afresh. */
        chain_cur.active = false;
        chain_committed = chain_cur;
        break;
    default:
        return;
    }
    chain_nsaves = 0;
    break_glass_level = 0;
}

static void audit_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
                                   SubTransactionId parentSubid, void *arg)
{
    int level = GetCurrentTransactionNestLevel();

    switch (event) {
    case SUBXACT_EVENT_ABORT_SUB:
        while (chain_nsaves > 0 && chain_saves[chain_nsaves - 1].level >= level) {
            chain_cur = chain_saves[chain_nsaves - 1].head;
            chain_nsaves--;
        }
        if (break_glass_level >= level)
            break_glass_level = 0;
        break;
    case SUBXACT_EVENT_COMMIT_SUB:
        if (chain_nsaves > 0 && chain_saves[chain_nsaves - 1].level == level) {
            /* The parent keeps the earlier of its own save and this one. */
            if (level - 1 <= 1 ||
                (chain_nsaves > 1 && chain_saves[chain_nsaves - 2].level == level - 1))
                chain_nsaves--;
            else
                chain_saves[chain_nsaves - 1].level = level - 1;
        }
        if (break_glass_level == level)
            break_glass_level = level - 1;
        break;
    default:
        break;
    }
}

static void audit_relcache_callback(Datum arg, Oid relid)
{
    if (relid == InvalidOid || relid == audit_log_oid) {
        audit_log_oid = InvalidOid;
        audit_log_shape_ok = false;
    }
}

void audit_chain_init(void)
{
    RegisterXactCallback(audit_xact_callback, NULL);
    audit_prev_process_utility = ProcessUtility_hook;
    ProcessUtility_hook = audit_process_utility;
    RegisterSubXactCallback(audit_subxact_callback, NULL);
    CacheRegisterRelcacheCallback(audit_relcache_callback, (Datum)0);
}

void audit_break_glass_enable(void)
{
    int level = GetCurrentTransactionNestLevel();

    if (break_glass_level == 0 || level < break_glass_level)
        break_glass_level = level;
}

bool audit_break_glass_active(void)
{
    return break_glass_level > 0;
}

/* ------------------------------------------------------------ hashing */

static void hash_fail(void)
{
    ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("SHA-256 computation failed")));
}

/*
 * The canonical encoding of a row is gathered in hash_buf and handed to the
 * digest in as few updates as possible (one for a typical row): each
 * SHA256_Update call costs more than the bytes of a small field. The
 * bytes hashed are exactly those of the encoding, in order, so the result
 * does not depend on how they are split. A field longer than the buffer
 * goes to the digest directly.
 */
#define HASH_BUF_LEN 2048

static uint8 hash_buf[HASH_BUF_LEN];
static int hash_buf_used = 0;

static void hash_flush(void)
{
    if (hash_buf_used > 0 && SHA256_Update(&hash_ctx, hash_buf, hash_buf_used) != 1)
        hash_fail();
    hash_buf_used = 0;
}

/* hash_bytes_slow: hash_bytes when data does not fit in what is left of the buffer. */
static void hash_bytes_slow(const void *data, uint32 len)
{
    hash_flush();
    if (len > HASH_BUF_LEN) {
        if (SHA256_Update(&hash_ctx, data, len) != 1)
            hash_fail();
        return;
    }
    memcpy(hash_buf, data, len);
    hash_buf_used = len;
}

static inline void hash_bytes(const void *data, uint32 len)
{
    if (unlikely(len > HASH_BUF_LEN - hash_buf_used)) {
        hash_bytes_slow(data, len);
        return;
    }
    memcpy(hash_buf + hash_buf_used, data, len);
    hash_buf_used += len;
}

/* A value: 0x01, its length as 4 bytes big-endian, its bytes. */
static inline void hash_field(const void *data, uint32 len)
{
    uint32 be = pg_hton32(len);

    if (likely((int64)len + 5 <= HASH_BUF_LEN - hash_buf_used)) {
        uint8 *p = hash_buf + hash_buf_used;

        p[0] = 1;
        memcpy(p + 1, &be, 4);
        memcpy(p + 5, data, len);
        hash_buf_used += 5 + len;
        return;
    }
    {
        uint8 hdr[5];

        hdr[0] = 1;
        memcpy(hdr + 1, &be, 4);
        hash_bytes(hdr, 5);
        hash_bytes(data, len);
    }
}

/*
 * audit_hash_row: the row hash over values/nulls (every column but seq and
 * hash), written to out. Allocates (jsonb text) in the current context.
 */
static void audit_hash_row(Datum *values, bool *nulls, uint8 out[AUDIT_HASH_LEN])
{
    static const char tag[] = "kiln-audit-v1";
    int col;

    if (SHA256_Init(&hash_ctx) != 1)
        hash_fail();
    hash_buf_used = 0;
    hash_bytes(tag, sizeof(tag));

    for (col = 0; col < AUDIT_NCOLS; col++) {
        if (col == AUDIT_COL_SEQ || col == AUDIT_COL_HASH)
            continue;
        if (nulls[col]) {
            static const uint8 z = 0;

            hash_bytes(&z, 1);
            continue;
        }
        switch (col) {
        case AUDIT_COL_CHAIN_ID:
        case AUDIT_COL_ACTOR_USER:
        case AUDIT_COL_TENANT_ID:
        case AUDIT_COL_SESSION_ID:
            hash_field(DatumGetUUIDP(values[col])->data, UUID_LEN);
            break;
        case AUDIT_COL_NROWS: {
            uint32 be = pg_hton32((uint32)DatumGetInt32(values[col]));

            hash_field(&be, 4);
            break;
        }
        case AUDIT_COL_AT:
        case AUDIT_COL_TXID: {
            uint64 be = pg_hton64((uint64)DatumGetInt64(values[col]));

            hash_field(&be, 8);
            break;
        }
        case AUDIT_COL_PK:
        case AUDIT_COL_OLD:
        case AUDIT_COL_NEW: {
            Jsonb *jb = DatumGetJsonbP(values[col]);

            hash_field(VARDATA(jb), VARSIZE(jb) - VARHDRSZ);
            break;
        }
        default: { /* text and bytea */
            struct varlena *v = pg_detoast_datum_packed((struct varlena *)DatumGetPointer(values[col]));

            hash_field(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
            break;
        }
        }
    }
    hash_flush();
    StaticAssertStmt(SHA256_DIGEST_LENGTH == AUDIT_HASH_LEN, "audit hashes are SHA-256");
    if (SHA256_Final(out, &hash_ctx) != 1)
        hash_fail();
}

static bytea *hash_to_bytea(const uint8 *hash)
{
    bytea *b = palloc(VARHDRSZ + AUDIT_HASH_LEN);

    SET_VARSIZE(b, VARHDRSZ + AUDIT_HASH_LEN);
    memcpy(VARDATA(b), hash, AUDIT_HASH_LEN);
    return b;
}

/* ------------------------------------------------------------ writer */

/* Expected column types of kiln.audit_log, by AuditColumn. */
static const Oid audit_col_types[AUDIT_NCOLS] = {
    UUIDOID,  INT8OID,  TIMESTAMPTZOID, XID8OID,  TEXTOID,  TEXTOID,  UUIDOID,
    UUIDOID,  UUIDOID,  TEXTOID,        TEXTOID,  TEXTOID,  TEXTOID,  TEXTOID,
    INT4OID,  JSONBOID, JSONBOID,       JSONBOID, BYTEAOID, BYTEAOID,
};

Oid audit_log_relid(void)
{
    if (!OidIsValid(audit_log_oid)) {
        Oid nsp = get_namespace_oid("kiln", true);

        if (OidIsValid(nsp))
            audit_log_oid = get_relname_relid("audit_log", nsp);
    }
    return audit_log_oid;
}

static void audit_check_shape(Relation rel)
{
    TupleDesc desc = RelationGetDescr(rel);
    int i;

    if (audit_log_shape_ok)
        return;
    if (desc->natts != AUDIT_NCOLS)
        goto bad;
    for (i = 0; i < AUDIT_NCOLS; i++) {
        Form_pg_attribute att = TupleDescAttr(desc, i);

        if (att->attisdropped || att->atttypid != audit_col_types[i])
            goto bad;
    }
    audit_log_shape_ok = true;
    return;
bad:
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("kiln.audit_log does not have the shape kiln_audit created"),
                    errhint("Reinstall the extension kiln_audit.")));
}

/*
 * Opens the log, its indexes and an insert state into w (zeroed) in the
 * current context and resource owner; on an error, w says what is open.
 */
static void audit_writer_create(AuditWriter *w, Oid relid)
{
    List *idx;
    ListCell *lc;
    int i = 0;

    w->rel = table_open(relid, RowExclusiveLock);
    audit_check_shape(w->rel);
    idx = RelationGetIndexList(w->rel);
    w->indexes = palloc(sizeof(Relation) * Max(list_length(idx), 1));
    w->info = palloc(sizeof(IndexInfo *) * Max(list_length(idx), 1));
    foreach (lc, idx) { /* nindexes counts the ones open so far */
        Relation ir = index_open(lfirst_oid(lc), RowExclusiveLock);
        IndexInfo *ii = BuildIndexInfo(ir);

        w->indexes[i] = ir;
        w->info[i] = ii;
        w->nindexes = ++i;
        if (ii->ii_Expressions != NIL || ii->ii_Predicate != NIL || ii->ii_ExclusionOps != NULL)
            ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                            errmsg("kiln.audit_log has an index the audit writer cannot maintain"),
                            errdetail("Index \"%s\" has expressions, a predicate or exclusion.",
                                      RelationGetRelationName(ir))));
    }
    list_free(idx);
    /* No buffer ring: log pages stay in shared buffers like any table's. */
    w->bistate = palloc0(sizeof(BulkInsertStateData));
    w->bistate->strategy = NULL;
    w->bistate->current_buf = InvalidBuffer;
}

/* Closes what w has open (the current resource owner holds it). */
static void audit_writer_destroy(AuditWriter *w)
{
    int i;

    if (w->bistate != NULL)
        ReleaseBulkInsertStatePin(w->bistate);
    for (i = 0; i < w->nindexes; i++)
        index_close(w->indexes[i], NoLock);
    if (w->rel != NULL)
        table_close(w->rel, NoLock);
}

AuditWriter *audit_writer_open(void)
{
    Oid relid = audit_log_relid();

    if (!OidIsValid(relid))
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("the audit log does not exist in this database"),
                        errhint("Run CREATE EXTENSION kiln_audit.")));
    if (IsInParallelMode())
        ereport(ERROR, (errcode(ERRCODE_INVALID_TRANSACTION_STATE),
                        errmsg("cannot write audit rows during a parallel operation")));
    PreventCommandIfReadOnly("audit");

    if (xact_writer != NULL && RelationGetRelid(xact_writer->rel) != relid)
        audit_writer_release();
    if (xact_writer == NULL) {
        ResourceOwner owner = CurrentResourceOwner;
        MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
        AuditWriter *w = palloc0(sizeof(AuditWriter));

        CurrentResourceOwner = TopTransactionResourceOwner;
        PG_TRY();
        {
            audit_writer_create(w, relid);
        }
        PG_CATCH();
        {
            /* A savepoint may catch this: leave nothing open for commit to find. */
            audit_writer_destroy(w);
            CurrentResourceOwner = owner;
            MemoryContextSwitchTo(old);
            PG_RE_THROW();
        }
        PG_END_TRY();
        CurrentResourceOwner = owner;
        MemoryContextSwitchTo(old);
        xact_writer = w;
    }
    xact_writer->cid = GetCurrentCommandId(true);
    xact_writer->users++;
    return xact_writer;
}

void audit_writer_close(AuditWriter *w)
{
    if (w->users > 0)
        w->users--;
}

void audit_writer_release(void)
{
    AuditWriter *w = xact_writer;
    ResourceOwner owner = CurrentResourceOwner;

    if (w == NULL || w->users > 0)
        return;
    xact_writer = NULL;
    CurrentResourceOwner = TopTransactionResourceOwner;
    audit_writer_destroy(w);
    CurrentResourceOwner = owner;
}

/* Before any utility command: the log must not be open when DDL or TRUNCATE checks it is unused. */
static void audit_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
                                  ProcessUtilityContext context, ParamListInfo params,
                                  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
    audit_writer_release();
    if (audit_prev_process_utility != NULL)
        audit_prev_process_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
    else
        standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
}

void audit_writer_append(AuditWriter *w, Datum *values, bool *nulls)
{
    uint8 hash[AUDIT_HASH_LEN];
    HeapTuple tup;
    int i;

    chain_prepare_write();
    values[AUDIT_COL_CHAIN_ID] = UUIDPGetDatum(&chain_cur.id);
    nulls[AUDIT_COL_CHAIN_ID] = false;
    values[AUDIT_COL_SEQ] = Int64GetDatum(chain_cur.seq + 1);
    nulls[AUDIT_COL_SEQ] = false;
    values[AUDIT_COL_PREV_HASH] = PointerGetDatum(hash_to_bytea(chain_cur.hash));
    nulls[AUDIT_COL_PREV_HASH] = false;
    audit_hash_row(values, nulls, hash);
    values[AUDIT_COL_HASH] = PointerGetDatum(hash_to_bytea(hash));
    nulls[AUDIT_COL_HASH] = false;

    /*
     * Large pk/old/new values (statement batches) are compressed here, as
     * the toaster would compress them anyway, so that the row is formed
     * at its compressed size rather than copied whole first. The hash above
     * covers the uncompressed values; what is stored reads back the same.
     */
    for (i = AUDIT_COL_PK; i <= AUDIT_COL_NEW; i++) {
        Form_pg_attribute att = TupleDescAttr(RelationGetDescr(w->rel), i);
        char cmethod = att->attcompression;
        Datum c;

        if (nulls[i] || att->attstorage != TYPSTORAGE_EXTENDED ||
            VARATT_IS_EXTENDED(DatumGetPointer(values[i])) ||
            VARSIZE(DatumGetPointer(values[i])) <= TOAST_TUPLE_THRESHOLD)
            continue;
        if (!CompressionMethodIsValid(cmethod))
            cmethod = default_toast_compression;
        c = toast_compress_datum(values[i], cmethod);
        if (DatumGetPointer(c) != NULL)
            values[i] = c;
    }
    tup = heap_form_tuple(RelationGetDescr(w->rel), values, nulls);
    {
        /* The page stays pinned after the insert: by the transaction, not the statement. */
        ResourceOwner owner = CurrentResourceOwner;

        CurrentResourceOwner = TopTransactionResourceOwner;
        PG_TRY();
        {
            heap_insert(w->rel, tup, w->cid, 0, w->bistate);
        }
        PG_FINALLY();
        {
            CurrentResourceOwner = owner;
        }
        PG_END_TRY();
    }

    for (i = 0; i < w->nindexes; i++) {
        IndexInfo *ii = w->info[i];
        Datum iv[INDEX_MAX_KEYS];
        bool in[INDEX_MAX_KEYS];
        int k;

        for (k = 0; k < ii->ii_NumIndexAttrs; k++) {
            AttrNumber a = ii->ii_IndexAttrNumbers[k];

            iv[k] = values[a - 1];
            in[k] = nulls[a - 1];
        }
        index_insert(w->indexes[i], iv, in, &tup->t_self, w->rel,
                     w->indexes[i]->rd_index->indisunique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
                     false, ii);
    }

    chain_cur.seq++;
    memcpy(chain_cur.hash, hash, AUDIT_HASH_LEN);
}

/* ------------------------------------------------------------ verification */

#define VERIFY_BATCH 1000

static void verify_report(Tuplestorestate *ts, TupleDesc desc, const pg_uuid_t *chain, int64 seq,
                          const char *problem, const char *detail)
{
    Datum v[4];
    bool n[4] = {false, false, false, false};

    v[0] = UUIDPGetDatum(chain);
    v[1] = Int64GetDatum(seq);
    v[2] = CStringGetTextDatum(problem);
    v[3] = CStringGetTextDatum(detail);
    tuplestore_putvalues(ts, desc, v, n);
}

/* seq of the row of chain whose hash is hash, or 0 when there is none. */
static int64 verify_find_hash(const pg_uuid_t *chain, const uint8 *hash)
{
    Oid types[2] = {UUIDOID, BYTEAOID};
    Datum args[2];
    bool isnull;
    int64 seq = 0;

    args[0] = UUIDPGetDatum(chain);
    args[1] = PointerGetDatum(hash_to_bytea(hash));
    if (SPI_execute_with_args("SELECT seq FROM kiln.audit_log WHERE chain_id = $1 AND hash = $2 "
                              "ORDER BY seq LIMIT 1",
                              2, types, args, NULL, true, 1) != SPI_OK_SELECT)
        elog(ERROR, "audit verify: lookup failed");
    if (SPI_processed == 1) {
        Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

        if (!isnull)
            seq = DatumGetInt64(d);
    }
    return seq;
}

/*
 * kiln.audit_verify_chains() returns setof (chain_id, seq, problem, detail):
 * for each chain in seq order, rows whose content does not match their
 * hash ("edited"), gaps ("removed": reported at the row after the gap),
 * rows that do not link to the row before them ("reordered" when the row
 * they link to is elsewhere in the chain, "broken link" otherwise). No
 * rows: every chain is intact as far as the log itself can tell.
 */
PG_FUNCTION_INFO_V1(kiln_audit_verify_chains);

Datum kiln_audit_verify_chains(PG_FUNCTION_ARGS)
{
    ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
    Portal portal;
    SPIPlanPtr plan;
    MemoryContext rowcxt;
    pg_uuid_t chain;
    bool have_chain = false;
    int64 last_seq = 0;
    uint8 last_hash[AUDIT_HASH_LEN];

    InitMaterializedSRF(fcinfo, 0);
    rowcxt = AllocSetContextCreate(CurrentMemoryContext, "kiln audit verify row",
                                   ALLOCSET_DEFAULT_SIZES);

    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "audit verify: SPI_connect failed");
    plan = SPI_prepare("SELECT chain_id, seq, at, txid, db_user, actor_role, actor_user, tenant_id, "
                       "session_id, request_id, client_ip, table_schema, table_name, op, nrows, pk, old, "
                       "new, prev_hash, hash FROM kiln.audit_log ORDER BY chain_id, seq",
                       0, NULL);
    if (plan == NULL)
        elog(ERROR, "audit verify: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
    portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);

    for (;;) {
        SPITupleTable *tt;
        uint64 r, n;

        SPI_cursor_fetch(portal, true, VERIFY_BATCH);
        tt = SPI_tuptable;
        n = SPI_processed;
        if (n == 0)
            break;
        for (r = 0; r < n; r++) {
            Datum values[AUDIT_NCOLS];
            bool nulls[AUDIT_NCOLS];
            uint8 computed[AUDIT_HASH_LEN];
            const uint8 *stored, *prev;
            pg_uuid_t id;
            int64 seq;
            int c;
            MemoryContext old = MemoryContextSwitchTo(rowcxt);

            for (c = 0; c < AUDIT_NCOLS; c++)
                values[c] = SPI_getbinval(tt->vals[r], tt->tupdesc, c + 1, &nulls[c]);
            id = *DatumGetUUIDP(values[AUDIT_COL_CHAIN_ID]);
            seq = DatumGetInt64(values[AUDIT_COL_SEQ]);
            if (!have_chain || memcmp(id.data, chain.data, UUID_LEN) != 0) {
                chain = id;
                have_chain = true;
                last_seq = 0;
                memset(last_hash, 0, sizeof(last_hash));
            }

            {
                bytea *hb = DatumGetByteaPP(values[AUDIT_COL_HASH]);
                bytea *pb = DatumGetByteaPP(values[AUDIT_COL_PREV_HASH]);
                bool stored_ok = VARSIZE_ANY_EXHDR(hb) == AUDIT_HASH_LEN;
                bool prev_ok = VARSIZE_ANY_EXHDR(pb) == AUDIT_HASH_LEN;
                static const uint8 zero[AUDIT_HASH_LEN];

                stored = stored_ok ? (const uint8 *)VARDATA_ANY(hb) : zero;
                prev = prev_ok ? (const uint8 *)VARDATA_ANY(pb) : zero;

                audit_hash_row(values, nulls, computed);
                MemoryContextSwitchTo(old);
                if (!stored_ok || !prev_ok || memcmp(computed, stored, AUDIT_HASH_LEN) != 0)
                    verify_report(rsinfo->setResult, rsinfo->setDesc, &chain, seq, "edited",
                                  "the row's content does not match its hash");
                if (seq > last_seq + 1)
                    verify_report(rsinfo->setResult, rsinfo->setDesc, &chain, seq, "removed",
                                  last_seq + 1 == seq - 1
                                      ? psprintf("row %lld is missing", (long long)(seq - 1))
                                      : psprintf("rows %lld to %lld are missing",
                                                 (long long)(last_seq + 1), (long long)(seq - 1)));
                else if (memcmp(prev, last_hash, AUDIT_HASH_LEN) != 0) {
                    int64 follows = prev_ok ? verify_find_hash(&chain, prev) : 0;

                    if (follows > 0)
                        verify_report(rsinfo->setResult, rsinfo->setDesc, &chain, seq,
                                      "reordered",
                                      psprintf("the row was written after row %lld, not after row %lld",
                                               (long long)follows, (long long)last_seq));
                    else
                        verify_report(rsinfo->setResult, rsinfo->setDesc, &chain, seq,
                                      "broken link",
                                      psprintf("the row does not follow row %lld: that row was "
                                               "edited and re-hashed, or replaced",
                                               (long long)last_seq));
                }
                last_seq = seq;
                memcpy(last_hash, stored, AUDIT_HASH_LEN);
            }
            MemoryContextReset(rowcxt);
        }
        SPI_freetuptable(tt);
    }
    SPI_cursor_close(portal);
    SPI_finish();
    MemoryContextDelete(rowcxt);
    return (Datum)0;
}
