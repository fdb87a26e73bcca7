/* Unit tests of rest_parse.c: URL decoding, the select grammar, every
 * filter operator with its modifiers, logic trees, embed-scoped keys,
 * order, limit/offset, and the hard limits (400/414/416, never a crash). */
#include "buf.h"
#include "rest_parse.h"
#include "unit.h"

static KilnRestQuery *parse(KilnArena *a, const char *qs, KilnError *err)
{
    KilnRestQuery *q = NULL;
    memset(err, 0, sizeof *err);
    if (!rest_parse_query(a, qs, &kiln_rest_default_limits, &q, err))
        return NULL;
    return q;
}

UNIT_TEST(url_decoding)
{
    KilnArena *a = arena_create();
    char *out;
    CHECK(rest_url_decode(a, "a+b%20c%2Cd", 11, &out));
    CHECK_STR_EQ(out, "a b c,d");
    CHECK(rest_url_decode(a, "%e2%82%ac", 9, &out));
    CHECK_STR_EQ(out, "\xe2\x82\xac");
    CHECK(!rest_url_decode(a, "bad%2", 5, &out));
    CHECK(!rest_url_decode(a, "bad%zz", 6, &out));
    CHECK(!rest_url_decode(a, "nul%00", 6, &out));
    arena_free(a);
}

UNIT_TEST(select_columns_aliases_casts_json_paths)
{
    KilnArena *a = arena_create();
    KilnError err;
    KilnRestQuery *q = parse(a, "select=id,full:name,age::text,data->a->>b,n:data->list->0", &err);
    CHECK(q != NULL);
    if (!q)
        goto out;
    KilnSelect *s = q->select;
    CHECK(s->kind == KILN_SEL_FIELD && !s->alias);
    CHECK_STR_EQ(s->field.name, "id");
    s = s->next;
    CHECK_STR_EQ(s->alias, "full");
    CHECK_STR_EQ(s->field.name, "name");
    s = s->next;
    CHECK_STR_EQ(s->cast, "text");
    s = s->next;
    CHECK_STR_EQ(s->field.name, "data");
    CHECK(s->field.path && !s->field.path->as_text);
    CHECK_STR_EQ(s->field.path->key, "a");
    CHECK(s->field.path->next->as_text);
    CHECK_STR_EQ(s->field.path->next->key, "b");
    s = s->next;
    CHECK_STR_EQ(s->alias, "n");
    CHECK(s->field.path->next->index);
    CHECK(s->next == NULL);
out:
    arena_free(a);
}

UNIT_TEST(select_star_embeds_hints_spread)
{
    KilnArena *a = arena_create();
    KilnError err;
    KilnRestQuery *q = parse(
        a, "select=*,owner:profiles!todos_user_id_fkey(name),items!inner(*),...cat!left!fk(n),x()",
        &err);
    CHECK(q != NULL);
    if (!q)
        goto out;
    KilnSelect *s = q->select;
    CHECK(s->kind == KILN_SEL_STAR);
    s = s->next;
    CHECK(s->kind == KILN_SEL_EMBED);
    CHECK_STR_EQ(s->alias, "owner");
    CHECK_STR_EQ(s->rel, "profiles");
    CHECK_STR_EQ(s->hint, "todos_user_id_fkey");
    CHECK(s->children && s->children->kind == KILN_SEL_FIELD);
    s = s->next;
    CHECK(s->kind == KILN_SEL_EMBED && s->join == KILN_JOIN_INNER && !s->hint);
    CHECK(s->children->kind == KILN_SEL_STAR);
    s = s->next;
    CHECK(s->kind == KILN_SEL_SPREAD && s->join == KILN_JOIN_LEFT);
    CHECK_STR_EQ(s->hint, "fk");
    s = s->next;
    CHECK(s->kind == KILN_SEL_EMBED && s->children == NULL);
out:
    arena_free(a);
}

UNIT_TEST(select_quoted_names_and_count)
{
    KilnArena *a = arena_create();
    KilnError err;
    KilnRestQuery *q = parse(a, "select=%22a%2Cb%22,%22q%5C%22x%22,total:count()", &err);
    CHECK(q != NULL);
    if (q) {
        CHECK_STR_EQ(q->select->field.name, "a,b");
        CHECK_STR_EQ(q->select->next->field.name, "q\"x");
        CHECK(q->select->next->next->kind == KILN_SEL_COUNT);
    }
    arena_free(a);
}

UNIT_TEST(select_errors_are_pgrst100)
{
    static const char *bad[] = {
        "select=id,", "select=id,((", "select=%22open", "select=a(b", "select=a!b!c!d(x)",
        "select=a::", "select=a::int;drop", "select=a->", "select=,", "select=a)",
        "select=a::text)--",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        KilnArena *a = arena_create();
        KilnError err;
        CHECK(parse(a, bad[i], &err) == NULL);
        CHECK(err.status == 400);
        CHECK_STR_EQ(err.code, "PGRST100");
        arena_free(a);
    }
    /* aggregates parse (the planner decides whether they are enabled) */
    KilnArena *a = arena_create();
    KilnError err;
    KilnRestQuery *q = parse(a, "select=t:amount::numeric.sum()::int,amount.count(),count()", &err);
    CHECK(q != NULL);
    CHECK(q && q->select->agg == KILN_AGG_SUM && strcmp(q->select->cast, "numeric") == 0 &&
          strcmp(q->select->agg_cast, "int") == 0 && strcmp(q->select->alias, "t") == 0);
    CHECK(q && q->select->next->agg == KILN_AGG_COUNT && !q->select->next->agg_cast);
    CHECK(q && q->select->next->next->kind == KILN_SEL_COUNT);
    static const char *const bad_aggs[] = {"select=amount.sum", "select=amount.median()",
                                           "select=amount.sum()x", "select=amount.sum();--",
                                           "select=amount.sum()::int)--"};
    for (size_t i = 0; i < sizeof bad_aggs / sizeof bad_aggs[0]; i++) {
        CHECK(parse(a, bad_aggs[i], &err) == NULL);
        CHECK_STR_EQ(err.code, "PGRST100");
    }
    arena_free(a);
}

UNIT_TEST(every_operator)
{
    static const struct {
        const char *v;
        KilnOp op;
    } cases[] = {
        {"eq.1", KILN_OP_EQ},       {"neq.1", KILN_OP_NEQ},       {"gt.1", KILN_OP_GT},
        {"gte.1", KILN_OP_GTE},     {"lt.1", KILN_OP_LT},         {"lte.1", KILN_OP_LTE},
        {"like.a*", KILN_OP_LIKE},  {"ilike.a*", KILN_OP_ILIKE},  {"match.^a", KILN_OP_MATCH},
        {"imatch.^a", KILN_OP_IMATCH}, {"in.(1,2)", KILN_OP_IN},  {"is.null", KILN_OP_IS},
        {"isdistinct.1", KILN_OP_ISDISTINCT}, {"cs.{a}", KILN_OP_CS}, {"cd.{a}", KILN_OP_CD},
        {"ov.[1,2)", KILN_OP_OV},   {"sl.[1,2)", KILN_OP_SL},     {"sr.[1,2)", KILN_OP_SR},
        {"nxr.[1,2)", KILN_OP_NXR}, {"nxl.[1,2)", KILN_OP_NXL},   {"adj.[1,2)", KILN_OP_ADJ},
        {"fts.a", KILN_OP_FTS},     {"plfts.a", KILN_OP_PLFTS},   {"phfts.a b", KILN_OP_PHFTS},
        {"wfts.a", KILN_OP_WFTS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        KilnArena *a = arena_create();
        KilnFilter f = {0};
        KilnError err = {0};
        CHECK(rest_parse_filter(a, cases[i].v, &f, &err));
        CHECK(f.op == cases[i].op && !f.negate);
        arena_free(a);
    }
}

UNIT_TEST(operator_modifiers)
{
    KilnArena *a = arena_create();
    KilnFilter f = {0};
    KilnError err = {0};
    CHECK(rest_parse_filter(a, "not.like(all).{a*,b*}", &f, &err));
    CHECK(f.negate && f.op == KILN_OP_LIKE && f.quant == KILN_QUANT_ALL);
    CHECK_STR_EQ(f.value, "{a*,b*}");
    memset(&f, 0, sizeof f);
    CHECK(rest_parse_filter(a, "eq(any).{1,2}", &f, &err));
    CHECK(f.quant == KILN_QUANT_ANY);
    memset(&f, 0, sizeof f);
    CHECK(rest_parse_filter(a, "fts(english).fat cats", &f, &err));
    CHECK_STR_EQ(f.fts_config, "english");
    CHECK_STR_EQ(f.value, "fat cats");
    memset(&f, 0, sizeof f);
    CHECK(rest_parse_filter(a, "is.NOT_NULL", &f, &err));
    CHECK(f.is == KILN_IS_NOT_NULL);
    memset(&f, 0, sizeof f);
    CHECK(rest_parse_filter(a, "eq.a.b.c", &f, &err)); /* the value keeps its dots */
    CHECK_STR_EQ(f.value, "a.b.c");
    memset(&f, 0, sizeof f);
    CHECK(!rest_parse_filter(a, "neq(any).{1}", &f, &err)); /* neq takes no modifier */
    CHECK(!rest_parse_filter(a, "is.maybe", &f, &err));
    CHECK(!rest_parse_filter(a, "bogus.1", &f, &err));
    CHECK(!rest_parse_filter(a, "eq", &f, &err));
    CHECK(!rest_parse_filter(a, "fts().x", &f, &err));
    CHECK(err.status == 400);
    arena_free(a);
}

UNIT_TEST(in_lists_with_quoting)
{
    KilnArena *a = arena_create();
    KilnFilter f = {0};
    KilnError err = {0};
    CHECK(rest_parse_filter(a, "in.(a,\"b,c\",\"d\\\"e\",\"\",f)", &f, &err));
    CHECK(f.nlist == 5);
    if (f.nlist == 5) {
        CHECK_STR_EQ(f.list[0], "a");
        CHECK_STR_EQ(f.list[1], "b,c");
        CHECK_STR_EQ(f.list[2], "d\"e");
        CHECK_STR_EQ(f.list[3], "");
        CHECK_STR_EQ(f.list[4], "f");
    }
    memset(&f, 0, sizeof f);
    CHECK(rest_parse_filter(a, "not.in.()", &f, &err));
    CHECK(f.negate && f.nlist == 0);
    CHECK(!rest_parse_filter(a, "in.(a,b", &f, &err));
    CHECK(!rest_parse_filter(a, "in.a,b", &f, &err));
    CHECK(!rest_parse_filter(a, "in.(\"a)", &f, &err));
    arena_free(a);
}

UNIT_TEST(logic_trees_nested)
{
    KilnArena *a = arena_create();
    KilnError err;
    KilnRestQuery *q =
        parse(a, "or=(a.eq.1,and(b.gt.2,not.or(c.lt.3,d.in.(x,%22y,z%22))),e.eq.%22q,)%22)", &err);
    CHECK(q != NULL);
    if (!q)
        goto out;
    KilnLogic *g = q->conds->tree;
    CHECK(!g->is_leaf && g->is_or && !g->negate);
    KilnLogic *c1 = g->children, *c2 = c1->next, *c3 = c2->next;
    CHECK(c1->is_leaf && c1->filter.op == KILN_OP_EQ);
    CHECK_STR_EQ(c1->filter.value, "1");
    CHECK(!c2->is_leaf && !c2->is_or);
    KilnLogic *inner = c2->children->next;
    CHECK(!inner->is_leaf && inner->is_or && inner->negate);
    CHECK(inner->children->next->filter.nlist == 2);
    CHECK_STR_EQ(inner->children->next->filter.list[1], "y,z");
    CHECK_STR_EQ(c3->filter.value, "q,)");
    CHECK(q->nfilters == 5);
    q = parse(a, "not.and=(a.eq.1,b.eq.2)&books.or=(x.is.null)", &err);
    CHECK(q && q->conds->tree->negate && !q->conds->tree->is_or);
    CHECK(q && q->conds->next->path.n == 1);
    CHECK(parse(a, "or=(a.eq.1", &err) == NULL && err.status == 400);
    CHECK(parse(a, "or=a.eq.1", &err) == NULL && err.status == 400);
    CHECK(parse(a, "or=(a.eq.1))", &err) == NULL && err.status == 400);
    CHECK(parse(a, "or=()", &err) == NULL && err.status == 400);
out:
    arena_free(a);
}

UNIT_TEST(embed_scoped_keys_order_and_ranges)
{
    KilnArena *a = arena_create();
    KilnError err;
    KilnRestQuery *q = parse(a,
                             "select=*,books(*)&books.title=eq.x&books.order=id.desc.nullslast,"
                             "title&books.limit=2&books.offset=1&limit=10&offset=5&order=data->>k."
                             "asc.nullsfirst&apikey=sb_x&columns=a",
                             &err);
    CHECK(q != NULL);
    if (!q)
        goto out;
    CHECK(q->conds->path.n == 1);
    CHECK_STR_EQ(q->conds->path.names[0], "books");
    CHECK_STR_EQ(q->conds->tree->filter.field.name, "title");
    KilnOrder *o = q->orders;
    CHECK(o->path.n == 1 && o->terms->desc && o->terms->nulls == KILN_NULLS_LAST);
    CHECK(o->terms->next && !o->terms->next->desc);
    CHECK(o->next->path.n == 0 && o->next->terms->field.path);
    CHECK(o->next->terms->nulls == KILN_NULLS_FIRST);
    KilnRange *r = q->ranges;
    CHECK(r->path.n == 1 && r->limit == 2 && r->offset == 1);
    CHECK(r->next->path.n == 0 && r->next->limit == 10 && r->next->offset == 5);
    CHECK_STR_EQ(q->apikey, "sb_x");
    q = parse(a, "order=author(name).desc", &err);
    CHECK(q && q->orders->terms->rel && q->orders->terms->desc);
    CHECK(parse(a, "order=id.sideways", &err) == NULL && err.status == 400);
    /* Names are free text to the parser; the planner refuses unknown ones. */
    q = parse(a, "order=id;drop", &err);
    CHECK(q && strcmp(q->orders->terms->field.name, "id;drop") == 0);
    CHECK(parse(a, "limit=-1", &err) == NULL && err.status == 416);
    CHECK_STR_EQ(err.code, "PGRST103");
    CHECK(parse(a, "limit=abc", &err) == NULL && err.status == 400);
    CHECK(parse(a, "offset=-1", &err) == NULL && err.status == 400);
    CHECK(parse(a, "limit=99999999999999999999", &err) == NULL && err.status == 400);
    CHECK(parse(a, "a..b=eq.1", &err) == NULL && err.status == 400);
    CHECK(parse(a, "id=eq.1%zz", &err) == NULL && err.status == 400);
out:
    arena_free(a);
}

UNIT_TEST(hard_limits)
{
    KilnArena *a = arena_create();
    KilnError err;
    KilnBuf b = KILN_BUF_INIT;
    /* Embeds nested too deep. */
    buf_puts(&b, "select=");
    for (int i = 0; i < 40; i++)
        buf_puts(&b, "a(");
    buf_puts(&b, "x");
    for (int i = 0; i < 40; i++)
        buf_puts(&b, ")");
    CHECK(parse(a, buf_str(&b), &err) == NULL && err.status == 400);
    /* Logic trees nested too deep. */
    buf_reset(&b);
    buf_puts(&b, "or=(");
    for (int i = 0; i < 40; i++)
        buf_puts(&b, "and(");
    buf_puts(&b, "a.eq.1");
    for (int i = 0; i < 41; i++)
        buf_puts(&b, ")");
    CHECK(parse(a, buf_str(&b), &err) == NULL && err.status == 400);
    /* Too many filters. */
    buf_reset(&b);
    for (int i = 0; i < 300; i++)
        buf_printf(&b, "%sa=eq.%d", i ? "&" : "", i);
    CHECK(parse(a, buf_str(&b), &err) == NULL && err.status == 400);
    /* Too long. */
    buf_reset(&b);
    for (int i = 0; i < 20000; i++)
        buf_putc(&b, 'x');
    CHECK(parse(a, buf_str(&b), &err) == NULL && err.status == 414);
    buf_free(&b);
    arena_free(a);
}

UNIT_MAIN()
