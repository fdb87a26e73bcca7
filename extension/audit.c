/*
 * audit.c: change capture for kiln_audit.
 *
 * kiln.audit_capture() is the trigger kiln.enable_audit() attaches: AFTER
 * ... FOR EACH ROW, or FOR EACH STATEMENT with transition tables (one call
 * per statement: cheaper for bulk writes), and AFTER TRUNCATE. For every
 * changed row it records, in the same transaction, the actor from the
 * verified request context (kiln_context_current()), the database role, the
 * table, the operation, the primary key, and the values: the whole row for
 * INSERT (new) and DELETE (old), only the changed columns for UPDATE.
 * kiln.audit_guard() keeps the log append-only; kiln.audit_break_glass()
 * opens it for one transaction, superuser only, and says so in the log;
 * kiln.audit_note() records enabling (audit_ddl.c detaches and logs
 * disabling through the note functions here).
 *
 * Rows are built in a memory context reset every row; per-table facts
 * (names, primary key, output functions) are cached per relation and
 * dropped on relcache invalidation. This file never writes SQL text for the
 * log and never keeps chain state (audit_chain.c does both).
 */
#include "postgres.h"

#include "kiln.h"
#include "audit.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/datetime.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/xid8.h"

/* How a column's value becomes a jsonb value. */
typedef enum AuditKind {
    KIND_TEXT,    /* string: the type's output function */
    KIND_VARTEXT, /* string: the bytes of a text or varchar value, no copy */
    KIND_BOOL,    /* true / false */
    KIND_INT,     /* number, from int2/int4/int8 */
    KIND_NUMERIC, /* number, or string for NaN / Infinity */
    KIND_FLOAT,   /* number via the output text, or string when not finite */
    KIND_JSONB,   /* nested */
    KIND_JSON,    /* nested, parsed */
    KIND_DATETIME, /* ISO 8601 string, whatever DateStyle says; with time zone: in UTC */
} AuditKind;

typedef struct AuditCol {
    bool dropped;
    bool in_pk;
    bool byval;
    int16 typlen;
    Oid typid;
    Oid basetype;
    AuditKind kind;
    char *name; /* entry context */
    int namelen;
    FmgrInfo out; /* output function (KIND_TEXT, KIND_FLOAT) */
    /* KIND_DATETIME, by value: the last value encoded and its text, valid while memo_gen is current */
    uint64 memo_gen;
    Datum memo_value;
    char *memo_text; /* audit_row_cxt */
} AuditCol;

typedef struct AuditRel {
    Oid relid; /* hash key */
    bool valid;
    int busy; /* calls using this entry right now */
    MemoryContext cxt;
    char *schema;
    char *name;
    Datum schema_text; /* the two as text, for the log's columns */
    Datum name_text;
    bool has_pk;
    int natts;
    AuditCol *cols;
    int npk;    /* primary key columns */
    int nkeys;  /* live columns */
    int *order; /* their indexes in jsonb key order (length, then bytes) */
} AuditRel;

#define AUDIT_ROW_CXT_KEEP (4 * 1024 * 1024)

static HTAB *audit_rels = NULL;         /* CacheMemoryContext */

/* The name of the last role seen as current user, as text; dropped on pg_authid changes. */
static Oid audit_user_oid = InvalidOid;
static Datum audit_user_text = (Datum)0; /* CacheMemoryContext */
static MemoryContext audit_row_cxt = NULL; /* reset every row */
static uint64 audit_row_gen = 1;            /* counts the resets of audit_row_cxt */

static void audit_rel_invalidate(Datum arg, Oid relid)
{
    HASH_SEQ_STATUS st;
    AuditRel *e;

    if (audit_rels == NULL)
        return;
    if (OidIsValid(relid)) {
        e = hash_search(audit_rels, &relid, HASH_FIND, NULL);
        if (e != NULL)
            e->valid = false;
        return;
    }
    hash_seq_init(&st, audit_rels);
    while ((e = hash_seq_search(&st)) != NULL)
        e->valid = false;
}

/*
 * kiln_audit_init: registers the invalidation and transaction callbacks.
 * Called once per backend from _PG_init; allocates nothing (caches are
 * created on first use, when CacheMemoryContext exists).
 */
static void audit_user_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
    audit_user_oid = InvalidOid; /* the text is freed at the next lookup */
}

void kiln_audit_init(void)
{
    CacheRegisterRelcacheCallback(audit_rel_invalidate, (Datum)0);
    CacheRegisterSyscacheCallback(AUTHOID, audit_user_invalidate, (Datum)0);
    audit_chain_init();
}

static void audit_caches_create(void)
{
    HASHCTL ctl;

    if (audit_rels != NULL)
        return;
    if (CacheMemoryContext == NULL)
        CreateCacheMemoryContext();
    memset(&ctl, 0, sizeof(ctl));
    ctl.keysize = sizeof(Oid);
    ctl.entrysize = sizeof(AuditRel);
    ctl.hcxt = CacheMemoryContext;
    audit_rels = hash_create("kiln audit relations", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
    /*
     * A large first block, which a reset keeps: a statement batch's many
     * small values reuse the same memory batch after batch instead of
     * being freed and faulted in again. Its pages are touched only as far
     * as a batch needs them.
     */
    audit_row_cxt = AllocSetContextCreate(TopMemoryContext, "kiln audit row", AUDIT_ROW_CXT_KEEP,
                                          ALLOCSET_DEFAULT_INITSIZE, ALLOCSET_DEFAULT_MAXSIZE);
}

static AuditKind audit_kind_of(Oid basetype)
{
    switch (basetype) {
    case BOOLOID:
        return KIND_BOOL;
    case INT2OID:
    case INT4OID:
    case INT8OID:
        return KIND_INT;
    case NUMERICOID:
        return KIND_NUMERIC;
    case FLOAT4OID:
    case FLOAT8OID:
        return KIND_FLOAT;
    case JSONBOID:
        return KIND_JSONB;
    case JSONOID:
        return KIND_JSON;
    case TEXTOID:
    case VARCHAROID:
        return KIND_VARTEXT;
    case DATEOID:
    case TIMEOID:
    case TIMETZOID:
    case TIMESTAMPOID:
    case TIMESTAMPTZOID:
        return KIND_DATETIME;
    default:
        return KIND_TEXT;
    }
}

/* Key order of jsonb objects: shorter first, then bytewise (as jsonb stores them). */
static AuditCol *audit_sort_cols;

static int audit_key_cmp(const void *a, const void *b)
{
    const AuditCol *x = &audit_sort_cols[*(const int *)a];
    const AuditCol *y = &audit_sort_cols[*(const int *)b];

    if (x->namelen != y->namelen)
        return x->namelen < y->namelen ? -1 : 1;
    return memcmp(x->name, y->name, x->namelen);
}

/* audit_rel_get: the cached facts about rel, rebuilt when invalidated. */
static AuditRel *audit_rel_get(Relation rel)
{
    Oid relid = RelationGetRelid(rel);
    TupleDesc desc = RelationGetDescr(rel);
    AuditRel *e;
    bool found;
    MemoryContext cxt, old;
    Bitmapset *pk;
    int i;

    audit_caches_create();
    e = hash_search(audit_rels, &relid, HASH_ENTER, &found);
    if (found && e->valid && e->natts == desc->natts)
        return e;
    if (found && e->cxt != NULL && e->busy == 0)
        MemoryContextDelete(e->cxt); /* else left to its context's parent: rare */

    e->valid = false;
    if (!found)
        e->busy = 0; /* a rebuilt entry keeps the count of the calls using it */
    e->cxt = NULL;
    cxt = AllocSetContextCreate(CacheMemoryContext, "kiln audit relation", ALLOCSET_SMALL_SIZES);
    old = MemoryContextSwitchTo(cxt);
    e->schema = get_namespace_name(RelationGetNamespace(rel));
    e->name = pstrdup(RelationGetRelationName(rel));
    e->schema_text = e->schema == NULL ? (Datum)0 : CStringGetTextDatum(e->schema);
    e->name_text = CStringGetTextDatum(e->name);
    e->natts = desc->natts;
    e->npk = 0;
    e->cols = palloc0(sizeof(AuditCol) * Max(desc->natts, 1));
    pk = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
    e->has_pk = !bms_is_empty(pk) || relid == audit_log_relid();
    for (i = 0; i < desc->natts; i++) {
        Form_pg_attribute att = TupleDescAttr(desc, i);
        AuditCol *c = &e->cols[i];

        c->dropped = att->attisdropped;
        if (c->dropped)
            continue;
        c->typid = att->atttypid;
        c->basetype = getBaseType(att->atttypid);
        c->byval = att->attbyval;
        c->typlen = att->attlen;
        c->kind = audit_kind_of(c->basetype);
        c->name = pstrdup(NameStr(att->attname));
        c->namelen = strlen(c->name);
        c->in_pk = bms_is_member(att->attnum - FirstLowInvalidHeapAttributeNumber, pk);
        /* The log itself has no index; its rows are named by (chain_id, seq). */
        if (relid == audit_log_relid())
            c->in_pk = i == AUDIT_COL_CHAIN_ID || i == AUDIT_COL_SEQ;
        if (c->in_pk)
            e->npk++;
        if (c->kind == KIND_TEXT || c->kind == KIND_FLOAT) {
            Oid fn;
            bool varlena;

            getTypeOutputInfo(att->atttypid, &fn, &varlena);
            fmgr_info_cxt(fn, &c->out, cxt);
        }
    }
    e->order = palloc(sizeof(int) * Max(desc->natts, 1));
    e->nkeys = 0;
    for (i = 0; i < desc->natts; i++)
        if (!e->cols[i].dropped)
            e->order[e->nkeys++] = i;
    audit_sort_cols = e->cols;
    qsort(e->order, e->nkeys, sizeof(int), audit_key_cmp);
    MemoryContextSwitchTo(old);
    bms_free(pk);
    e->cxt = cxt;
    e->valid = true;
    return e;
}

/* ------------------------------------------------------------ row to jsonb */

/*
 * A log row of one change writes its pk/old/new objects straight from the
 * column values in jsonb's on-disk format (row_jsonb) when every value is
 * a scalar. Otherwise, and for statement batches, values are built as
 * in-memory JsonbValue trees (objects with their pairs already in jsonb
 * key order, see AuditRel.order) and converted once per log row: flat
 * ones written in the on-disk format (flat_jsonb), anything nested with
 * JsonbValueToJsonb. No per-key sorting, no parse state. Built with
 * -DAUDIT_CHECK_JSONB, both flat writers compare their bytes with
 * JsonbValueToJsonb's.
 */

static void set_string(JsonbValue *v, char *s)
{
    v->type = jbvString;
    v->val.string.val = s;
    v->val.string.len = strlen(s);
}

/*
 * Numeric of an integer, as int64_to_numeric makes it (the on-disk short
 * format: header, then base-10000 digits, most significant first, no
 * leading or trailing zero digits, scale 0), without its intermediate
 * variable: a few times cheaper, and integers are most primary keys.
 */
#define AUDIT_NUMERIC_SHORT 0x8000
#define AUDIT_NUMERIC_SHORT_NEG 0x2000
#define AUDIT_NUMERIC_SHORT_WEIGHT_MASK 0x003F

/* The largest numeric of an int64: header, weight word, five digits. */
#define AUDIT_INT_NUMERIC_MAX (VARHDRSZ + sizeof(uint16) + 5 * sizeof(int16))

/* audit_int_numeric_put: writes the numeric of i at dst (room for AUDIT_INT_NUMERIC_MAX); returns its size. */
static Size audit_int_numeric_put(char *dst, int64 i)
{
    uint64 u = i < 0 ? (uint64)0 - (uint64)i : (uint64)i;
    int16 digits[5]; /* 2^64 < 10000^5; least significant first */
    int ndigits = 0, skip = 0, n, k;
    uint16 header;
    Size size;
    char *p;

    while (u != 0) {
        digits[ndigits++] = (int16)(u % 10000);
        u /= 10000;
    }
    while (skip < ndigits && digits[skip] == 0)
        skip++; /* trailing zero digits are not stored; the weight keeps the magnitude */
    n = ndigits - skip;
    header = AUDIT_NUMERIC_SHORT;
    if (n > 0) {
        header |= (uint16)((ndigits - 1) & AUDIT_NUMERIC_SHORT_WEIGHT_MASK);
        if (i < 0)
            header |= AUDIT_NUMERIC_SHORT_NEG;
    }
    size = VARHDRSZ + sizeof(uint16) + n * sizeof(int16);
    SET_VARSIZE(dst, size);
    p = VARDATA(dst);
    memcpy(p, &header, sizeof(uint16));
    p += sizeof(uint16);
    for (k = ndigits - 1; k >= skip; k--) {
        memcpy(p, &digits[k], sizeof(int16));
        p += sizeof(int16);
    }
#ifdef AUDIT_CHECK_INT_NUMERIC
    {
        Numeric ref = int64_to_numeric(i);

        if (VARSIZE(ref) != size || memcmp(ref, dst, size) != 0)
            elog(ERROR, "audit_int_numeric(" INT64_FORMAT ") differs", i);
    }
#endif
    return size;
}

static Numeric audit_int_numeric(int64 i)
{
    Numeric result = palloc(AUDIT_INT_NUMERIC_MAX);

    audit_int_numeric_put((char *)result, i);
    return result;
}

/* The value of a KIND_INT column. */
static int64 audit_int_of(const AuditCol *c, Datum d)
{
    switch (c->basetype) {
    case INT2OID:
        return DatumGetInt16(d);
    case INT4OID:
        return DatumGetInt32(d);
    default:
        return DatumGetInt64(d);
    }
}

/* value_of: the jsonb value of one column value, written to v. */
static void value_of(JsonbValue *v, AuditCol *c, Datum d, bool isnull)
{
    if (isnull) {
        v->type = jbvNull;
        return;
    }
    switch (c->kind) {
    case KIND_BOOL:
        v->type = jbvBool;
        v->val.boolean = DatumGetBool(d);
        return;
    case KIND_VARTEXT: {
        text *t = DatumGetTextPP(d); /* detoasted in the row context if need be */

        v->type = jbvString;
        v->val.string.val = VARDATA_ANY(t);
        v->val.string.len = VARSIZE_ANY_EXHDR(t);
        return;
    }
    case KIND_INT:
        v->type = jbvNumeric;
        v->val.numeric = audit_int_numeric(audit_int_of(c, d));
        return;
    case KIND_NUMERIC: {
        Numeric n = DatumGetNumeric(d);

        if (numeric_is_nan(n) || numeric_is_inf(n)) {
            set_string(v, DatumGetCString(DirectFunctionCall1(numeric_out, d)));
            return;
        }
        v->type = jbvNumeric;
        v->val.numeric = n;
        return;
    }
    case KIND_FLOAT: {
        char *s = OutputFunctionCall(&c->out, d);

        if (strcmp(s, "NaN") == 0 || strcmp(s, "Infinity") == 0 || strcmp(s, "-Infinity") == 0) {
            set_string(v, s);
            return;
        }
        v->type = jbvNumeric;
        v->val.numeric = DatumGetNumeric(DirectFunctionCall3(
            numeric_in, CStringGetDatum(s), ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
        return;
    }
    case KIND_JSON:
    case KIND_JSONB: {
        /* Unpack the container into a tree: wrap it in an array, take element 0. */
        Jsonb *jb = c->kind == KIND_JSONB
                        ? DatumGetJsonbP(d)
                        : DatumGetJsonbP(DirectFunctionCall1(
                              jsonb_in, CStringGetDatum(TextDatumGetCString(d))));
        JsonbParseState *st = NULL;
        JsonbValue bin, *arr;

        bin.type = jbvBinary;
        bin.val.binary.data = &jb->root;
        bin.val.binary.len = VARSIZE(jb) - VARHDRSZ;
        pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
        pushJsonbValue(&st, WJB_ELEM, &bin);
        arr = pushJsonbValue(&st, WJB_END_ARRAY, NULL);
        *v = arr->val.array.elems[0];
        return;
    }
    case KIND_DATETIME: {
        /* timestamptz and timetz in UTC: no time zone lookup, same text whatever TimeZone says */
        static const int utc = 0;

        /* Bulk writes often repeat a time (now()): reuse its text within the log row. */
        if (c->byval && c->memo_gen == audit_row_gen && c->memo_value == d) {
            set_string(v, c->memo_text);
            return;
        }
        set_string(v, JsonEncodeDateTime(NULL, d, c->basetype, &utc));
        if (c->byval) {
            c->memo_gen = audit_row_gen;
            c->memo_value = d;
            c->memo_text = v->val.string.val;
        }
        return;
    }
    default:
        set_string(v, OutputFunctionCall(&c->out, d));
        return;
    }
}

/*
 * row_object: {column: value} for the columns of r where want is NULL or
 * want[i] (pk_only: the primary key columns), written to obj.
 */
static void row_object(JsonbValue *obj, AuditRel *r, Datum *values, bool *nulls, const bool *want,
                       bool pk_only)
{
    JsonbPair *pairs = palloc(sizeof(JsonbPair) * Max(r->nkeys, 1));
    int n = 0;
    int k;

    for (k = 0; k < r->nkeys; k++) {
        int i = r->order[k];
        AuditCol *c = &r->cols[i];

        if ((want != NULL && !want[i]) || (pk_only && !c->in_pk))
            continue;
        pairs[n].key.type = jbvString;
        pairs[n].key.val.string.val = c->name;
        pairs[n].key.val.string.len = c->namelen;
        value_of(&pairs[n].value, c, values[i], nulls[i]);
        pairs[n].order = n;
        n++;
    }
    obj->type = jbvObject;
    obj->val.object.nPairs = n;
    obj->val.object.pairs = pairs;
}

/*
 * pk_from_row: the primary-key object of a whole-row object built by
 * row_object (same key order), sharing its values.
 */
static void pk_from_row(JsonbValue *pk, AuditRel *r, const JsonbValue *row)
{
    JsonbPair *pairs = palloc(sizeof(JsonbPair) * Max(r->npk, 1));
    int n = 0;
    int k;

    for (k = 0; k < r->nkeys; k++)
        if (r->cols[r->order[k]].in_pk) {
            pairs[n] = row->val.object.pairs[k];
            pairs[n].order = n;
            n++;
        }
    pk->type = jbvObject;
    pk->val.object.nPairs = n;
    pk->val.object.pairs = pairs;
}

/*
 * Flat jsonb: objects whose values are all scalars (what a row's columns
 * give unless one is json or jsonb), and arrays of such objects (statement
 * batches), written straight in jsonb's on-disk format: the same bytes
 * JsonbValueToJsonb makes of the same value (the pairs already in key
 * order, see AuditRel.order) for a fraction of its work.
 *
 * A container is its header (count | JB_FOBJECT or JB_FARRAY), one JEntry
 * per child (an object's keys first, then its values), then the children's
 * bytes. A nested container and a numeric start 4-byte aligned, counted
 * from the start of the datum (varlena header included); their zero
 * padding counts in their length. Every JB_OFFSET_STRIDE'th JEntry holds
 * the end offset of its child instead of the length.
 *
 * flat_object_end gives where an object written at pos ends (-1: not flat,
 * or past FLAT_JSONB_MAX), flat_object_write writes it there; both include
 * the object's leading padding.
 */
#define FLAT_JSONB_MAX ((Size)64 * 1024 * 1024) /* well below JENTRY_OFFLENMASK */

static int64 flat_object_end(const JsonbValue *obj, Size pos)
{
    int n, i;

    if (obj->type != jbvObject || obj->val.object.nPairs > (int)(FLAT_JSONB_MAX / 8))
        return -1;
    n = obj->val.object.nPairs;
    pos = INTALIGN(pos) + sizeof(uint32) + sizeof(JEntry) * 2 * (Size)n;
    for (i = 0; i < n; i++)
        pos += obj->val.object.pairs[i].key.val.string.len;
    for (i = 0; i < n && pos <= FLAT_JSONB_MAX; i++) {
        const JsonbValue *v = &obj->val.object.pairs[i].value;

        switch (v->type) {
        case jbvNull:
        case jbvBool:
            break;
        case jbvString:
            pos += v->val.string.len;
            break;
        case jbvNumeric:
            pos = INTALIGN(pos) + VARSIZE_ANY(v->val.numeric);
            break;
        default:
            return -1;
        }
    }
    return pos <= FLAT_JSONB_MAX ? (int64)pos : -1;
}

/* Zero padding up to the next 4-byte boundary of buf + pos; returns its length. */
static int flat_pad(char *buf, Size pos)
{
    int pad = INTALIGN(pos) - pos;

    memset(buf + pos, 0, pad);
    return pad;
}

/*
 * flat_scalar_write: the bytes of scalar v (null, bool, string, numeric) at
 * buf + pos, a numeric after its padding, and their JEntry type in *meta;
 * returns their length, padding included (at most flat_scalar_room(v)).
 */
static uint32 flat_scalar_write(const JsonbValue *v, char *buf, Size pos, JEntry *meta)
{
    switch (v->type) {
    case jbvNull:
        *meta = JENTRY_ISNULL;
        return 0;
    case jbvBool:
        *meta = v->val.boolean ? JENTRY_ISBOOL_TRUE : JENTRY_ISBOOL_FALSE;
        return 0;
    case jbvString:
        memcpy(buf + pos, v->val.string.val, v->val.string.len);
        *meta = JENTRY_ISSTRING;
        return v->val.string.len;
    default: { /* jbvNumeric: the callers let nothing else through */
        int pad = flat_pad(buf, pos);
        uint32 numlen = VARSIZE_ANY(v->val.numeric);

        memcpy(buf + pos + pad, v->val.numeric, numlen);
        *meta = JENTRY_ISNUMERIC;
        return pad + numlen;
    }
    }
}

static Size flat_scalar_room(const JsonbValue *v)
{
    if (v->type == jbvString)
        return v->val.string.len;
    if (v->type == jbvNumeric)
        return sizeof(uint32) - 1 + VARSIZE_ANY(v->val.numeric);
    return 0;
}

static Size flat_object_write(const JsonbValue *obj, char *buf, Size pos)
{
    int n = obj->val.object.nPairs;
    uint32 total = 0;
    JEntry *je;
    int i;

    pos += flat_pad(buf, pos);
    *(uint32 *)(buf + pos) = (uint32)n | JB_FOBJECT;
    pos += sizeof(uint32);
    je = (JEntry *)(buf + pos);
    pos += sizeof(JEntry) * 2 * n;
    for (i = 0; i < n; i++) {
        const JsonbValue *k = &obj->val.object.pairs[i].key;
        uint32 len = k->val.string.len;

        memcpy(buf + pos, k->val.string.val, len);
        pos += len;
        total += len;
        je[i] = i % JB_OFFSET_STRIDE == 0 ? (JENTRY_ISSTRING | total | JENTRY_HAS_OFF) : len;
    }
    for (i = 0; i < n; i++) {
        JEntry meta;
        uint32 len = flat_scalar_write(&obj->val.object.pairs[i].value, buf, pos, &meta);

        pos += len;
        total += len;
        meta |= (i + n) % JB_OFFSET_STRIDE == 0 ? (total | JENTRY_HAS_OFF) : len;
        je[n + i] = meta;
    }
    return pos;
}

/*
 * flat_jsonb: v (an object, or an array of objects) as jsonb written the
 * flat way; NULL when it has a value that is not flat or is too large: the
 * caller then converts it the general way.
 */
static Jsonb *flat_jsonb(const JsonbValue *v)
{
    Size size;
    char *buf;

    if (v->type == jbvObject) {
        int64 end = flat_object_end(v, VARHDRSZ);

        if (end < 0)
            return NULL;
        size = (Size)end;
        buf = palloc(size);
        if (flat_object_write(v, buf, VARHDRSZ) != size)
            elog(ERROR, "flat jsonb: size mismatch");
    } else if (v->type == jbvArray && !v->val.array.rawScalar &&
               v->val.array.nElems <= (int)(FLAT_JSONB_MAX / 8)) {
        int n = v->val.array.nElems;
        Size pos = VARHDRSZ + sizeof(uint32) + sizeof(JEntry) * (Size)n;
        uint32 total = 0;
        JEntry *je;
        int i;

        for (i = 0; i < n; i++) {
            int64 end = flat_object_end(&v->val.array.elems[i], pos);

            if (end < 0)
                return NULL;
            pos = (Size)end;
        }
        size = pos;
        buf = palloc(size);
        *(uint32 *)(buf + VARHDRSZ) = (uint32)n | JB_FARRAY;
        je = (JEntry *)(buf + VARHDRSZ + sizeof(uint32));
        pos = VARHDRSZ + sizeof(uint32) + sizeof(JEntry) * (Size)n;
        for (i = 0; i < n; i++) {
            Size end = flat_object_write(&v->val.array.elems[i], buf, pos);
            uint32 len = end - pos;

            total += len;
            je[i] = JENTRY_ISCONTAINER | (i % JB_OFFSET_STRIDE == 0 ? (total | JENTRY_HAS_OFF) : len);
            pos = end;
        }
        if (pos != size)
            elog(ERROR, "flat jsonb: size mismatch");
    } else
        return NULL;
    SET_VARSIZE(buf, size);
#ifdef AUDIT_CHECK_JSONB
    {
        Jsonb *ref = JsonbValueToJsonb((JsonbValue *)v);

        if (VARSIZE(ref) != size || memcmp(ref, buf, size) != 0)
            elog(ERROR, "flat_jsonb differs from JsonbValueToJsonb");
    }
#endif
    return (Jsonb *)buf;
}

/* value_jsonb: v as a jsonb datum, the flat way when it can. */
static Datum value_jsonb(JsonbValue *v)
{
    Jsonb *jb = flat_jsonb(v);

    return JsonbPGetDatum(jb != NULL ? jb : JsonbValueToJsonb(v));
}

/* The most an integer value takes in a flat object: padding, then its numeric. */
#define ROW_INT_ROOM (sizeof(uint32) - 1 + AUDIT_INT_NUMERIC_MAX)

/*
 * row_jsonb: the object row_object builds (same arguments), as a jsonb
 * datum written straight in the flat format, without the tree: one pass
 * over the columns into a buffer grown as needed, integers written as
 * numerics in place. A log row of one change takes this way: for the three
 * objects of a pgbench change, 1.6k instructions where building the tree
 * and writing it flat took 2.4k (callgrind). (Datum) 0 when
 * a wanted value is json or jsonb (not flat) or the object would pass
 * FLAT_JSONB_MAX: the caller then builds the tree.
 */
static Datum row_jsonb(AuditRel *r, Datum *values, bool *nulls, const bool *want, bool pk_only)
{
    int n = 0, j, k;
    Size keylen = 0, cap, pos, entries = VARHDRSZ + sizeof(uint32);
    uint32 total = 0;
    char *buf;

    for (k = 0; k < r->nkeys; k++) {
        int i = r->order[k];
        const AuditCol *c = &r->cols[i];

        if ((want != NULL && !want[i]) || (pk_only && !c->in_pk))
            continue;
        if (!nulls[i] && (c->kind == KIND_JSON || c->kind == KIND_JSONB))
            return (Datum)0;
        n++;
        keylen += c->namelen;
    }
    pos = entries + sizeof(JEntry) * 2 * (Size)n;
    cap = pos + keylen + (Size)n * ROW_INT_ROOM + 64;
    buf = palloc(cap);
    *(uint32 *)(buf + VARHDRSZ) = (uint32)n | JB_FOBJECT;

    j = 0;
    for (k = 0; k < r->nkeys; k++) {
        int i = r->order[k];
        const AuditCol *c = &r->cols[i];

        if ((want != NULL && !want[i]) || (pk_only && !c->in_pk))
            continue;
        memcpy(buf + pos, c->name, c->namelen);
        pos += c->namelen;
        total += c->namelen;
        ((JEntry *)(buf + entries))[j] =
            j % JB_OFFSET_STRIDE == 0 ? (JENTRY_ISSTRING | total | JENTRY_HAS_OFF) : (JEntry)c->namelen;
        j++;
    }
    j = 0;
    for (k = 0; k < r->nkeys; k++) {
        int i = r->order[k];
        AuditCol *c = &r->cols[i];
        JEntry meta;
        uint32 len;
        Size room;

        if ((want != NULL && !want[i]) || (pk_only && !c->in_pk))
            continue;
        if (!nulls[i] && c->kind == KIND_INT) {
            int pad = flat_pad(buf, pos); /* the room for it was counted in cap */

            len = pad + audit_int_numeric_put(buf + pos + pad, audit_int_of(c, values[i]));
            meta = JENTRY_ISNUMERIC;
        } else {
            JsonbValue v;

            value_of(&v, c, values[i], nulls[i]);
            room = flat_scalar_room(&v);
            if (pos + room > FLAT_JSONB_MAX) {
                pfree(buf);
                return (Datum)0;
            }
            /* room for this value and every later one as if an integer */
            if (pos + room + (Size)(n - j) * ROW_INT_ROOM > cap) {
                cap = Max(cap * 2, pos + room + (Size)(n - j) * ROW_INT_ROOM);
                buf = repalloc(buf, cap);
            }
            len = flat_scalar_write(&v, buf, pos, &meta);
        }
        pos += len;
        total += len;
        meta |= (n + j) % JB_OFFSET_STRIDE == 0 ? (total | JENTRY_HAS_OFF) : len;
        ((JEntry *)(buf + entries))[n + j] = meta;
        j++;
    }
    SET_VARSIZE(buf, pos);
#ifdef AUDIT_CHECK_JSONB
    {
        JsonbValue obj;
        Jsonb *ref;

        row_object(&obj, r, values, nulls, want, pk_only);
        ref = JsonbValueToJsonb(&obj);
        if (VARSIZE(ref) != pos || memcmp(ref, buf, pos) != 0)
            elog(ERROR, "row_jsonb differs from JsonbValueToJsonb");
    }
#endif
    return PointerGetDatum(buf);
}

/* ------------------------------------------------------------ capture */

/*
 * A row's columns that are the same for a whole trigger call: time, xid,
 * roles, actor, table. Filled once per call in the call's context.
 */
typedef struct AuditBase {
    Datum values[AUDIT_NCOLS];
    bool nulls[AUDIT_NCOLS];
} AuditBase;

static void set_text(AuditBase *b, AuditColumn col, const char *s)
{
    b->nulls[col] = s == NULL;
    b->values[col] = s == NULL ? (Datum)0 : CStringGetTextDatum(s);
}

static void set_uuid(AuditBase *b, AuditColumn col, bool has, const pg_uuid_t *u)
{
    b->nulls[col] = !has;
    if (has) {
        pg_uuid_t *copy = palloc(sizeof(pg_uuid_t));

        *copy = *u;
        b->values[col] = UUIDPGetDatum(copy);
    }
}

/* The current user's name as text, cached until pg_authid changes. */
static Datum audit_user_name(void)
{
    Oid user = GetUserId();

    if (user != audit_user_oid || audit_user_text == (Datum)0) {
        const char *name = GetUserNameFromId(user, false);
        MemoryContext old;

        if (audit_user_text != (Datum)0)
            pfree(DatumGetPointer(audit_user_text));
        audit_user_text = (Datum)0;
        if (CacheMemoryContext == NULL)
            CreateCacheMemoryContext();
        old = MemoryContextSwitchTo(CacheMemoryContext);
        audit_user_text = CStringGetTextDatum(name);
        MemoryContextSwitchTo(old);
        audit_user_oid = user;
    }
    return audit_user_text;
}

/*
 * audit_base_fill: the per-call columns. r, when given, supplies the table's
 * names as cached text (schema and table are then not used).
 */
static void audit_base_fill(AuditBase *b, const char *schema, const char *table, const AuditRel *r)
{
    const KilnContext *ctx = kiln_context_current();
    const char *request_id = ctx->request_id;

    memset(b->nulls, true, sizeof(b->nulls));
    b->values[AUDIT_COL_AT] = TimestampTzGetDatum(GetCurrentStatementStartTimestamp());
    b->nulls[AUDIT_COL_AT] = false;
    b->values[AUDIT_COL_TXID] = FullTransactionIdGetDatum(GetTopFullTransactionId());
    b->nulls[AUDIT_COL_TXID] = false;
    b->values[AUDIT_COL_DB_USER] = audit_user_name();
    b->nulls[AUDIT_COL_DB_USER] = false;
    if (ctx->present) {
        set_text(b, AUDIT_COL_ACTOR_ROLE, ctx->role);
        set_uuid(b, AUDIT_COL_ACTOR_USER, ctx->has_user, &ctx->user_id);
        set_uuid(b, AUDIT_COL_TENANT_ID, ctx->has_tenant, &ctx->tenant_id);
        set_uuid(b, AUDIT_COL_SESSION_ID, ctx->has_session, &ctx->session_id);
        set_text(b, AUDIT_COL_CLIENT_IP, ctx->client_ip);
    }
    /* Correlation only: without a verified context, the kiln.request_id setting. */
    if (request_id == NULL) {
        const char *g = kiln_request_id_setting();

        if (g != NULL && g[0] != '\0')
            request_id = g;
    }
    set_text(b, AUDIT_COL_REQUEST_ID, request_id);
    if (r != NULL) {
        b->values[AUDIT_COL_TABLE_SCHEMA] = r->schema_text;
        b->nulls[AUDIT_COL_TABLE_SCHEMA] = r->schema == NULL;
        b->values[AUDIT_COL_TABLE_NAME] = r->name_text;
        b->nulls[AUDIT_COL_TABLE_NAME] = false;
    } else {
        set_text(b, AUDIT_COL_TABLE_SCHEMA, schema);
        set_text(b, AUDIT_COL_TABLE_NAME, table);
    }
}

/* Changed rows per log row in statement-level capture. */
#define AUDIT_BATCH_ROWS 1000

/*
 * A log row being built: one change (row level), or up to AUDIT_BATCH_ROWS
 * changes of one statement whose pk/old/new are then arrays. Everything it
 * allocates lives in audit_row_cxt, reset by every flush.
 */
typedef struct AuditBatch {
    AuditWriter *w;
    AuditRel *r;
    const AuditBase *b;
    const char *op;
    bool array;
    int n;
    int cap;
    JsonbValue *elems[3]; /* pk, old, new: one per change (NULL: not recorded) */
    bool direct;          /* one change, its pk/old/new already jsonb in jsonb[] */
    Datum jsonb[3];       /* (Datum) 0: not recorded */
} AuditBatch;

enum { BATCH_PK = 0, BATCH_OLD = 1, BATCH_NEW = 2 };

static void batch_init(AuditBatch *bt, AuditWriter *w, AuditRel *r, const AuditBase *b,
                       const char *op, bool array)
{
    memset(bt, 0, sizeof(*bt));
    bt->w = w;
    bt->r = r;
    bt->b = b;
    bt->op = op;
    bt->array = array;
}

/*
 * op_text: the log's op value; the four operations' texts are made once
 * per backend.
 */
static Datum op_text(const char *op)
{
    static const char *const names[] = {"INSERT", "UPDATE", "DELETE", "TRUNCATE"};
    static Datum texts[lengthof(names)];
    int i;

    for (i = 0; i < lengthof(names); i++)
        if (strcmp(op, names[i]) == 0) {
            if (texts[i] == (Datum)0) {
                MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

                texts[i] = CStringGetTextDatum(names[i]);
                MemoryContextSwitchTo(old);
            }
            return texts[i];
        }
    return CStringGetTextDatum(op);
}

/*
 * batch_flush: writes the log row, also for zero changes (TRUNCATE, notes),
 * then resets the row context.
 */
static void batch_flush(AuditBatch *bt)
{
    static const AuditColumn cols[3] = {AUDIT_COL_PK, AUDIT_COL_OLD, AUDIT_COL_NEW};
    MemoryContext old = MemoryContextSwitchTo(audit_row_cxt);
    Datum values[AUDIT_NCOLS];
    bool nulls[AUDIT_NCOLS];
    int i;

    memcpy(values, bt->b->values, sizeof(values));
    memcpy(nulls, bt->b->nulls, sizeof(nulls));
    values[AUDIT_COL_OP] = op_text(bt->op);
    nulls[AUDIT_COL_OP] = false;
    values[AUDIT_COL_NROWS] = Int32GetDatum(bt->n);
    nulls[AUDIT_COL_NROWS] = false;
    for (i = 0; i < 3 && bt->direct; i++) {
        values[cols[i]] = bt->jsonb[i];
        nulls[cols[i]] = bt->jsonb[i] == (Datum)0;
    }
    for (i = 0; i < 3 && bt->n > 0 && !bt->direct; i++) {
        JsonbValue arr;

        if (bt->elems[i] == NULL)
            continue;
        if (bt->array) {
            arr.type = jbvArray;
            arr.val.array.nElems = bt->n;
            arr.val.array.elems = bt->elems[i];
            arr.val.array.rawScalar = false;
            values[cols[i]] = value_jsonb(&arr);
        } else
            values[cols[i]] = value_jsonb(&bt->elems[i][0]);
        nulls[cols[i]] = false;
    }
    audit_writer_append(bt->w, values, nulls);
    MemoryContextSwitchTo(old);
    MemoryContextReset(audit_row_cxt);
    audit_row_gen++;
    bt->n = 0;
    bt->cap = 0;
    memset(bt->elems, 0, sizeof(bt->elems));
    bt->direct = false;
    memset(bt->jsonb, 0, sizeof(bt->jsonb));
}

/*
 * The element arrays of statement batches: kept for the backend's life and
 * only grown, so that each batch does not allocate (and the kernel does not
 * fault in) them anew. One batch is built at a time, like audit_row_cxt's.
 */
static JsonbValue *batch_elems[3];
static int batch_elems_cap = 0;

/* batch_elems_reserve: room for at least n elements in each array; returns the capacity. */
static int batch_elems_reserve(int n)
{
    int i;

    if (n <= batch_elems_cap)
        return batch_elems_cap;
    for (i = 0; i < 3; i++)
        batch_elems[i] = batch_elems[i] == NULL
                             ? MemoryContextAlloc(TopMemoryContext, sizeof(JsonbValue) * n)
                             : repalloc(batch_elems[i], sizeof(JsonbValue) * n);
    batch_elems_cap = n;
    return n;
}

/*
 * batch_add_direct: a single-change log row's pk/old/new written straight
 * as jsonb (row_jsonb) into bt; false when one of them is not flat.
 */
static bool batch_add_direct(AuditBatch *bt, Datum *ov, bool *on, Datum *nv, bool *nn,
                             const bool *changed)
{
    AuditRel *r = bt->r;
    Datum jb[3] = {(Datum)0, (Datum)0, (Datum)0};

    if (ov != NULL && (jb[BATCH_OLD] = row_jsonb(r, ov, on, changed, false)) == (Datum)0)
        return false;
    if (nv != NULL && (jb[BATCH_NEW] = row_jsonb(r, nv, nn, changed, false)) == (Datum)0)
        return false;
    if (r->has_pk && (jb[BATCH_PK] = row_jsonb(r, nv != NULL ? nv : ov, nv != NULL ? nn : on,
                                                NULL, true)) == (Datum)0)
        return false;
    memcpy(bt->jsonb, jb, sizeof(jb));
    bt->direct = true;
    return true;
}

/*
 * batch_add: adds one change (old and/or new version as values/nulls
 * arrays of r's columns; NULL when absent); flushes at the row level and
 * when a statement batch is full.
 */
static void batch_add(AuditBatch *bt, Datum *ov, bool *on, Datum *nv, bool *nn)
{
    MemoryContext old = MemoryContextSwitchTo(audit_row_cxt);
    AuditRel *r = bt->r;
    bool *changed = NULL;
    int i;

    if (ov != NULL && nv != NULL) {
        changed = palloc(sizeof(bool) * Max(r->natts, 1));
        for (i = 0; i < r->natts; i++) {
            if (r->cols[i].dropped)
                changed[i] = false;
            else if (on[i] || nn[i])
                changed[i] = on[i] != nn[i];
            else /* binary: unchanged toasted values compare equal without detoasting */
                changed[i] = !datumIsEqual(ov[i], nv[i], r->cols[i].byval, r->cols[i].typlen);
        }
    }

    /* One change per log row: straight to jsonb unless a value is nested. */
    if (!bt->array && batch_add_direct(bt, ov, on, nv, nn, changed)) {
        bt->n = 1;
        MemoryContextSwitchTo(old);
        batch_flush(bt);
        return;
    }

    if (bt->n == 0 && !bt->array) {
        bt->cap = 1;
        if (r->has_pk)
            bt->elems[BATCH_PK] = palloc(sizeof(JsonbValue));
        if (ov != NULL)
            bt->elems[BATCH_OLD] = palloc(sizeof(JsonbValue));
        if (nv != NULL)
            bt->elems[BATCH_NEW] = palloc(sizeof(JsonbValue));
    } else if (bt->n == 0 || bt->n == bt->cap) {
        bt->cap = batch_elems_reserve(bt->n == 0 ? 64 : bt->cap * 2);
        bt->elems[BATCH_PK] = r->has_pk ? batch_elems[BATCH_PK] : NULL;
        bt->elems[BATCH_OLD] = ov != NULL ? batch_elems[BATCH_OLD] : NULL;
        bt->elems[BATCH_NEW] = nv != NULL ? batch_elems[BATCH_NEW] : NULL;
    }

    if (ov != NULL)
        row_object(&bt->elems[BATCH_OLD][bt->n], r, ov, on, changed, false);
    if (nv != NULL)
        row_object(&bt->elems[BATCH_NEW][bt->n], r, nv, nn, changed, false);
    if (r->has_pk) {
        if (changed == NULL) /* a whole row was just built: take its key columns */
            pk_from_row(&bt->elems[BATCH_PK][bt->n], r,
                        &bt->elems[nv != NULL ? BATCH_NEW : BATCH_OLD][bt->n]);
        else
            row_object(&bt->elems[BATCH_PK][bt->n], r, nv, nn, NULL, true);
    }
    bt->n++;
    MemoryContextSwitchTo(old);
    if (!bt->array || bt->n >= AUDIT_BATCH_ROWS)
        batch_flush(bt);
}

static const char *op_name(TriggerEvent ev)
{
    if (TRIGGER_FIRED_BY_INSERT(ev))
        return "INSERT";
    if (TRIGGER_FIRED_BY_UPDATE(ev))
        return "UPDATE";
    if (TRIGGER_FIRED_BY_DELETE(ev))
        return "DELETE";
    return "TRUNCATE";
}

/*
 * A row of a transition table, deformed from a copy in audit_row_cxt: the
 * slot's own tuple may be freed by the next fetch (a tuplestore spilled to
 * disk), while the batch keeps pointing into values until it is flushed.
 */
typedef struct AuditRow {
    Datum *values;
    bool *nulls;
} AuditRow;

static bool fetch_next(Tuplestorestate *ts, TupleTableSlot *slot, AuditRow *row)
{
    MemoryContext old;
    MinimalTuple mt;
    HeapTupleData htup;

    if (!tuplestore_gettupleslot(ts, true, false, slot))
        return false;
    old = MemoryContextSwitchTo(audit_row_cxt);
    mt = ExecCopySlotMinimalTuple(slot);
    htup.t_len = mt->t_len + MINIMAL_TUPLE_OFFSET;
    htup.t_data = (HeapTupleHeader)((char *)mt - MINIMAL_TUPLE_OFFSET);
    ItemPointerSetInvalid(&htup.t_self);
    htup.t_tableOid = InvalidOid;
    row->values = palloc(sizeof(Datum) * Max(slot->tts_tupleDescriptor->natts, 1));
    row->nulls = palloc(sizeof(bool) * Max(slot->tts_tupleDescriptor->natts, 1));
    heap_deform_tuple(&htup, slot->tts_tupleDescriptor, row->values, row->nulls);
    MemoryContextSwitchTo(old);
    return true;
}

/*
 * audit_capture_rows: the rows of one trigger call of the capture trigger.
 */
static void audit_capture_rows(TriggerData *td, AuditRel *r, AuditWriter *w, const AuditBase *b)
{
    TriggerEvent ev = td->tg_event;
    const char *op = op_name(ev);
    TupleDesc desc = RelationGetDescr(td->tg_relation);
    AuditBatch bt;

    batch_init(&bt, w, r, b, op, !TRIGGER_FIRED_FOR_ROW(ev));
    if (TRIGGER_FIRED_BY_TRUNCATE(ev)) {
        batch_flush(&bt);
        return;
    }
    if (TRIGGER_FIRED_FOR_ROW(ev)) {
        TupleTableSlot *o = NULL, *n = NULL;

        if (TRIGGER_FIRED_BY_INSERT(ev))
            n = td->tg_trigslot;
        else if (TRIGGER_FIRED_BY_DELETE(ev))
            o = td->tg_trigslot;
        else {
            o = td->tg_trigslot;
            n = td->tg_newslot;
        }
        if (o != NULL)
            slot_getallattrs(o);
        if (n != NULL)
            slot_getallattrs(n);
        batch_add(&bt, o ? o->tts_values : NULL, o ? o->tts_isnull : NULL,
                  n ? n->tts_values : NULL, n ? n->tts_isnull : NULL);
        return;
    }

    /* Statement level: walk the transition tables (old and new in step for UPDATE). */
    {
        Tuplestorestate *ots = TRIGGER_FIRED_BY_INSERT(ev) ? NULL : td->tg_oldtable;
        Tuplestorestate *nts = TRIGGER_FIRED_BY_DELETE(ev) ? NULL : td->tg_newtable;
        TupleTableSlot *os = NULL, *ns = NULL;

        if ((!TRIGGER_FIRED_BY_INSERT(ev) && ots == NULL) ||
            (!TRIGGER_FIRED_BY_DELETE(ev) && nts == NULL))
            ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                            errmsg("statement-level kiln.audit_capture() needs transition tables"),
                            errhint("Attach it with kiln.enable_audit(table, 'statement').")));
        if (ots != NULL) {
            os = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
            tuplestore_rescan(ots);
        }
        if (nts != NULL) {
            ns = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
            tuplestore_rescan(nts);
        }
        for (;;) {
            AuditRow o, n;
            bool have_o = os != NULL && fetch_next(ots, os, &o);
            bool have_n = ns != NULL && fetch_next(nts, ns, &n);

            if (!have_o && !have_n)
                break;
            if ((os != NULL && !have_o) || (ns != NULL && !have_n))
                elog(ERROR, "audit: transition tables of an UPDATE differ in length");
            batch_add(&bt, have_o ? o.values : NULL, have_o ? o.nulls : NULL,
                      have_n ? n.values : NULL, have_n ? n.nulls : NULL);
            CHECK_FOR_INTERRUPTS();
        }
        if (bt.n > 0)
            batch_flush(&bt);
        if (os != NULL)
            ExecDropSingleTupleTableSlot(os);
        if (ns != NULL)
            ExecDropSingleTupleTableSlot(ns);
    }
}

/*
 * kiln.audit_capture() returns trigger: AFTER INSERT/UPDATE/DELETE (row or
 * statement with transition tables) and AFTER TRUNCATE. Writes the audit
 * rows of the firing change; returns NULL (AFTER triggers' result is
 * ignored). Raises 39P01 when fired otherwise.
 */
PG_FUNCTION_INFO_V1(kiln_audit_capture);

Datum kiln_audit_capture(PG_FUNCTION_ARGS)
{
    TriggerData *td = (TriggerData *)fcinfo->context;
    AuditRel *r;
    AuditWriter *volatile w = NULL;
    AuditBase b;

    if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("kiln.audit_capture() must be fired as an AFTER trigger")));

    r = audit_rel_get(td->tg_relation);
    r->busy++;
    PG_TRY();
    {
        audit_base_fill(&b, NULL, NULL, r);
        w = audit_writer_open();
        audit_capture_rows(td, r, w, &b);
    }
    PG_FINALLY();
    {
        if (w != NULL)
            audit_writer_close(w);
        r->busy--;
    }
    PG_END_TRY();
    return PointerGetDatum(NULL);
}

/* ------------------------------------------------------------ guard, break-glass, notes */

/*
 * kiln.audit_guard() returns trigger: on kiln.audit_log and
 * kiln.audit_seals, BEFORE UPDATE/DELETE (row) and BEFORE TRUNCATE raise
 * 42501 unless break-glass is active in this transaction; when it is, each
 * changed log row is itself logged (AFTER TRUNCATE logs the truncation).
 */
PG_FUNCTION_INFO_V1(kiln_audit_guard);

Datum kiln_audit_guard(PG_FUNCTION_ARGS)
{
    TriggerData *td = (TriggerData *)fcinfo->context;
    TriggerEvent ev;
    AuditRel *r;
    AuditWriter *volatile w = NULL;
    AuditBase b;

    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("kiln.audit_guard() must be fired as a trigger")));
    ev = td->tg_event;
    if (TRIGGER_FIRED_BY_INSERT(ev))
        return PointerGetDatum(td->tg_trigtuple);
    if (!audit_break_glass_active())
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("%s of %s.%s is not allowed", op_name(ev),
                               get_namespace_name(RelationGetNamespace(td->tg_relation)),
                               RelationGetRelationName(td->tg_relation)),
                        errdetail("The audit log accepts inserts only."),
                        errhint("A superuser can call kiln.audit_break_glass(reason) first; "
                                "that is logged.")));

    /* Break-glass: log the change, then let it happen. */
    if (TRIGGER_FIRED_BY_TRUNCATE(ev) && TRIGGER_FIRED_BEFORE(ev))
        return PointerGetDatum(NULL);
    r = audit_rel_get(td->tg_relation);
    r->busy++;
    PG_TRY();
    {
        AuditBatch bt;

        audit_base_fill(&b, NULL, NULL, r);
        w = audit_writer_open();
        batch_init(&bt, w, r, &b, op_name(ev), false);
        if (TRIGGER_FIRED_BY_TRUNCATE(ev)) {
            if (RelationGetRelid(td->tg_relation) == audit_log_relid())
                audit_chain_restart();
            batch_flush(&bt);
        } else {
            TupleTableSlot *o = td->tg_trigslot;
            TupleTableSlot *n = TRIGGER_FIRED_BY_UPDATE(ev) ? td->tg_newslot : NULL;

            slot_getallattrs(o);
            if (n != NULL)
                slot_getallattrs(n);
            batch_add(&bt, o->tts_values, o->tts_isnull, n ? n->tts_values : NULL,
                      n ? n->tts_isnull : NULL);
        }
    }
    PG_FINALLY();
    {
        if (w != NULL)
            audit_writer_close(w);
        r->busy--;
    }
    PG_END_TRY();
    if (TRIGGER_FIRED_BY_UPDATE(ev))
        return PointerGetDatum(td->tg_newtuple);
    if (TRIGGER_FIRED_BY_DELETE(ev))
        return PointerGetDatum(td->tg_trigtuple);
    return PointerGetDatum(NULL);
}

/* audit_note_names: one row on kiln.audit_log for an event about schema.name. */
static void audit_note_names(const char *nsp, const char *name, const char *op, Datum detail,
                             bool detail_null)
{
    AuditBase b;
    AuditWriter *volatile w = NULL;
    Datum values[AUDIT_NCOLS];
    bool nulls[AUDIT_NCOLS];

    audit_base_fill(&b, nsp, name, NULL);
    memcpy(values, b.values, sizeof(values));
    memcpy(nulls, b.nulls, sizeof(nulls));
    values[AUDIT_COL_OP] = CStringGetTextDatum(op);
    nulls[AUDIT_COL_OP] = false;
    values[AUDIT_COL_NROWS] = Int32GetDatum(0);
    nulls[AUDIT_COL_NROWS] = false;
    values[AUDIT_COL_NEW] = detail;
    nulls[AUDIT_COL_NEW] = detail_null;
    PG_TRY();
    {
        w = audit_writer_open();
        audit_writer_append(w, values, nulls);
    }
    PG_FINALLY();
    {
        if (w != NULL)
            audit_writer_close(w);
    }
    PG_END_TRY();
}

/* audit_note_row: one row on kiln.audit_log for an event about relid. */
static void audit_note_row(Oid relid, const char *op, Datum detail, bool detail_null)
{
    char *nsp = get_namespace_name(get_rel_namespace(relid));
    char *name = get_rel_name(relid);

    if (nsp == NULL || name == NULL)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                        errmsg("relation with OID %u does not exist", relid)));
    audit_note_names(nsp, name, op, detail, detail_null);
}

/* One-pair object {key: value} as a jsonb datum. */
static Datum jsonb_pair(char *key, char *value)
{
    JsonbValue obj;
    JsonbPair pair;

    set_string(&pair.key, key);
    set_string(&pair.value, value);
    pair.order = 0;
    obj.type = jbvObject;
    obj.val.object.nPairs = 1;
    obj.val.object.pairs = &pair;
    return value_jsonb(&obj);
}

void audit_note_detached(Oid relid)
{
    audit_note_row(relid, "AUDIT_DISABLE", (Datum)0, true);
}

void audit_note_dropped(const char *schema, const char *table)
{
    audit_note_names(schema, table, "AUDIT_DISABLE", jsonb_pair("reason", "table dropped"), false);
}

/*
 * kiln.audit_break_glass(reason text) returns void: superuser only (42501
 * otherwise); reason must not be blank (22023). Writes a BREAK_GLASS row
 * with the reason, then lets UPDATE/DELETE/TRUNCATE of the audit log pass
 * the guard until the end of the transaction (or until the subtransaction
 * that called it aborts, which also removes the row).
 */
PG_FUNCTION_INFO_V1(kiln_audit_break_glass);

Datum kiln_audit_break_glass(PG_FUNCTION_ARGS)
{
    char *reason = text_to_cstring(PG_GETARG_TEXT_PP(0));
    const char *p;

    if (!superuser())
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("permission denied to break the glass of the audit log"),
                        errdetail("Only a superuser may change the audit log.")));
    for (p = reason; *p != '\0' && isspace((unsigned char)*p); p++)
        ;
    if (*p == '\0')
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("a break-glass reason is required")));
    PreventCommandIfReadOnly("kiln.audit_break_glass()");

    audit_note_row(audit_log_relid(), "BREAK_GLASS", jsonb_pair("reason", reason), false);
    audit_break_glass_enable();
    PG_RETURN_VOID();
}

/* Does relid carry a trigger calling kiln.audit_capture()? */
static bool audit_attached(Relation rel)
{
    TriggerDesc *trig = rel->trigdesc;
    Oid fn = InvalidOid;
    int i;

    if (trig == NULL)
        return false;
    {
        Oid nsp = get_namespace_oid("kiln", true);

        if (OidIsValid(nsp)) {
            List *names = list_make2(makeString("kiln"), makeString("audit_capture"));

            fn = LookupFuncName(names, 0, NULL, true);
        }
    }
    for (i = 0; i < trig->numtriggers; i++)
        if (trig->triggers[i].tgfoid == fn)
            return true;
    return false;
}

/*
 * kiln.audit_note(t regclass, op text, detail jsonb) returns void: writes
 * an AUDIT_ENABLE row for t (any other op: 22023). The caller must own t
 * (42501) and the note must be true: the capture trigger is attached
 * (55000). AUDIT_DISABLE rows come from kiln.audit_detach().
 */
PG_FUNCTION_INFO_V1(kiln_audit_note);

Datum kiln_audit_note(PG_FUNCTION_ARGS)
{
    Oid relid;
    char *op;
    Relation rel;
    bool attached;

    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("table and operation must not be null")));
    relid = PG_GETARG_OID(0);
    op = text_to_cstring(PG_GETARG_TEXT_PP(1));
    if (strcmp(op, "AUDIT_ENABLE") != 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("audit note must be AUDIT_ENABLE")));
    if (!pg_class_ownercheck(relid, GetUserId()))
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("must be owner of table %s", get_rel_name(relid))));
    CommandCounterIncrement(); /* see triggers just created or dropped */
    rel = table_open(relid, AccessShareLock);
    attached = audit_attached(rel);
    table_close(rel, AccessShareLock);
    if (!attached)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("audit note %s does not match the table's triggers", op)));
    audit_note_row(relid, op, PG_ARGISNULL(2) ? (Datum)0 : PG_GETARG_DATUM(2), PG_ARGISNULL(2));
    PG_RETURN_VOID();
}
