/*
 * Plans: many points against one atlas.  Everything that depends only on
 * the column (which edition, membership dates, statuses, ODS codes,
 * parents) is worked out once per footprint when the column is added, into
 * a table indexed by the footprint the lookup layer returns; a point then
 * costs one index lookup per distinct lookup layer.  Editions via the same
 * finer areas (the LSOA editions) share one lookup.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* One way of answering a column: a lookup layer (the base of an edition
 * via finer areas, else the edition's own) and what each of its
 * footprints means in the column. */
typedef struct source {
    const fp_layer *lookup;
    int32_t *entry_of; /* lookup->nfeat entries: answer or -1 */
} source;

typedef struct column {
    int tier;               /* -1: a pinned edition */
    const fp_edition *ed;   /* NULL: nothing answers on the date */
    source src[2];          /* the second answers where the first finds none
                               (a region from the system's parent) */
    int nsrc;
    fp_link *answers;
    size_t nanswers;
} column;

struct fp_plan {
    fp_allocator alloc;
    const fp_atlas *atlas;
    const fp_catalogue *cat;
    column *col;
    size_t n, cap;
    /* The distinct lookup layers, each located once per point. */
    const fp_layer *lookups[2 * 64]; /* two sources per column at most */
    size_t nlookups;
};

#define MAX_COLUMNS 64
#define CHUNK 128

static int atlas_get(void *arg, fp_ctx *ctx, const fp_edition *ed, const fp_layer **out)
{
    return fp_atlas_layer(ctx, arg, ed->id, out);
}

int fp_plan_new(fp_ctx *ctx, const fp_atlas *atlas, fp_plan **out)
{
    *out = NULL;
    fp__clear(ctx);
    fp_plan *p = fp__calloc(&ctx->alloc, 1, sizeof *p);
    if (!p) return fp__error(ctx, FP_ENOMEM, "out of memory");
    p->alloc = ctx->alloc;
    p->atlas = atlas;
    p->cat = fp_atlas_catalogue(atlas);
    *out = p;
    return FP_OK;
}

void fp_plan_free(fp_plan *p)
{
    if (!p) return;
    fp_allocator a = p->alloc;
    for (size_t i = 0; i < p->n; i++) {
        for (int s = 0; s < p->col[i].nsrc; s++) fp__free(&a, p->col[i].src[s].entry_of);
        fp__free(&a, p->col[i].answers);
    }
    fp__free(&a, p->col);
    fp__free(&a, p);
}

size_t fp_plan_columns(const fp_plan *p) { return p->n; }

const fp_edition *fp_plan_edition(const fp_plan *p, size_t col)
{
    return col < p->n ? p->col[col].ed : NULL;
}

int fp_plan_tier(const fp_plan *p, size_t col) { return col < p->n ? p->col[col].tier : -1; }

const fp_link *fp_plan_answer(const fp_plan *p, size_t col, int32_t entry)
{
    if (col >= p->n || entry < 0 || (size_t)entry >= p->col[col].nanswers) return NULL;
    return &p->col[col].answers[entry];
}

/* Registers a lookup layer (once). */
static int add_lookup(fp_ctx *ctx, fp_plan *p, const fp_layer *L)
{
    for (size_t i = 0; i < p->nlookups; i++)
        if (p->lookups[i] == L) return FP_OK;
    if (p->nlookups == sizeof p->lookups / sizeof *p->lookups)
        return fp__error(ctx, FP_EINVAL, "too many distinct layers in one plan");
    p->lookups[p->nlookups++] = L;
    return FP_OK;
}

/* entry_of for a source over layer L whose footprint i answers as
 * `entry[i]` (-1 none); composes an edition via finer areas' map. */
static int make_source(fp_ctx *ctx, fp_plan *p, source *s, const fp_layer *L,
                       const int32_t *entry)
{
    s->lookup = L->base ? L->base : L;
    size_t n = s->lookup->nfeat;
    s->entry_of = fp__malloc(&ctx->alloc, (n ? n : 1) * sizeof *s->entry_of);
    if (!s->entry_of) return fp__error(ctx, FP_ENOMEM, "out of memory");
    for (size_t b = 0; b < n; b++) {
        int32_t f = L->base ? L->map[b] : (int32_t)b;
        s->entry_of[b] = f < 0 ? -1 : entry[f];
    }
    return add_lookup(ctx, p, s->lookup);
}

static column *new_column(fp_ctx *ctx, fp_plan *p, int tier)
{
    if (p->n == MAX_COLUMNS) {
        fp__error(ctx, FP_EINVAL, "more than %d columns in one plan", MAX_COLUMNS);
        return NULL;
    }
    if (fp__grow(&ctx->alloc, (void **)&p->col, &p->cap, p->n + 1, sizeof *p->col)) {
        fp__error(ctx, FP_ENOMEM, "out of memory");
        return NULL;
    }
    column *c = &p->col[p->n];
    memset(c, 0, sizeof *c);
    c->tier = tier;
    return c;
}

static void drop_column(fp_plan *p, column *c)
{
    for (int s = 0; s < c->nsrc; s++) fp__free(&p->alloc, c->src[s].entry_of);
    fp__free(&p->alloc, c->answers);
}

/* Room for n more answers in column c. */
static int more_answers(fp_ctx *ctx, column *c, size_t n)
{
    fp_link *more = fp__realloc(&ctx->alloc, c->answers, (c->nanswers + n + 1) * sizeof *more);
    if (!more) return fp__error(ctx, FP_ENOMEM, "out of memory");
    c->answers = more;
    return FP_OK;
}

/* Answers of every footprint of L (edition ed) on date (NULL: any). */
static int fill_footprints(fp_ctx *ctx, fp_plan *p, column *c, const fp_edition *ed,
                           const fp_layer *L, const char *date, int tier)
{
    size_t n = L->nfeat;
    int32_t *entry = fp__malloc(&ctx->alloc, (n ? n : 1) * sizeof *entry);
    if (!entry || more_answers(ctx, c, n)) {
        fp__free(&ctx->alloc, entry);
        return fp__error(ctx, FP_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        fp_link *k = &c->answers[c->nanswers];
        fp__link_init(k, tier < 0 ? FP_TIER_SYSTEM : tier);
        entry[i] = fp__link_fill(p->cat, ed, L, i, date, k) ? (int32_t)c->nanswers++ : -1;
    }
    int rc = make_source(ctx, p, &c->src[c->nsrc++], L, entry);
    fp__free(&ctx->alloc, entry);
    return rc;
}

/* A region by the parents of the system tier's footprints. */
static int fill_parents(fp_ctx *ctx, fp_plan *p, column *c, const char *date)
{
    const fp_edition *sed;
    const fp_layer *S;
    int rc = fp__tier_layer(ctx, p->cat, atlas_get, (void *)p->atlas, FP_TIER_SYSTEM,
                            date, &sed, &S);
    if (rc || !sed) return rc;
    size_t n = S->nfeat;
    int32_t *entry = fp__malloc(&ctx->alloc, (n ? n : 1) * sizeof *entry);
    if (!entry || more_answers(ctx, c, n)) {
        fp__free(&ctx->alloc, entry);
        return fp__error(ctx, FP_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        fp_link k, sys;
        fp__link_init(&k, FP_TIER_REGION);
        fp__link_init(&sys, FP_TIER_SYSTEM);
        entry[i] = -1;
        /* As fp__chain: only a footprint the system tier answers with. */
        if (!fp__link_fill(p->cat, sed, S, i, date, &sys)) continue;
        if (!fp__link_parent(p->cat, fp_layer_code(S, i), date, &k)) continue;
        for (size_t j = 0; j < c->nanswers && entry[i] < 0; j++)
            if (!c->answers[j].edition && strcmp(c->answers[j].code, k.code) == 0 &&
                strcmp(c->answers[j].name, k.name) == 0)
                entry[i] = (int32_t)j;
        if (entry[i] < 0) {
            c->answers[c->nanswers] = k;
            entry[i] = (int32_t)c->nanswers++;
        }
    }
    rc = make_source(ctx, p, &c->src[c->nsrc++], S, entry);
    fp__free(&ctx->alloc, entry);
    return rc;
}

int fp_plan_add_tier(fp_ctx *ctx, fp_plan *p, int tier, const char *date)
{
    fp__clear(ctx);
    if (tier < 0 || tier >= FP_TIER_COUNT)
        return fp__error(ctx, FP_EINVAL, "no tier %d", tier);
    if (!date || !fp__valid_date(date))
        return fp__error(ctx, FP_EINVAL, "date '%s' is not a valid YYYY-MM-DD date",
                         date ? date : "(null)");
    column *c = new_column(ctx, p, tier);
    if (!c) return fp_ctx_errcode(ctx);
    const fp_edition *ed;
    const fp_layer *L;
    int rc = FP_OK;
    /* As fp__chain: a region is the system footprint's parent; region
     * boundaries only where that gives none. */
    if (tier == FP_TIER_REGION) rc = fill_parents(ctx, p, c, date);
    if (!rc) rc = fp__tier_layer(ctx, p->cat, atlas_get, (void *)p->atlas, tier, date, &ed, &L);
    if (!rc && ed) {
        c->ed = ed;
        rc = fill_footprints(ctx, p, c, ed, L, date, tier);
    }
    if (rc) {
        drop_column(p, c);
        return rc;
    }
    p->n++;
    return FP_OK;
}

int fp_plan_add_edition(fp_ctx *ctx, fp_plan *p, const char *edition)
{
    fp__clear(ctx);
    const fp_layer *L;
    int rc = fp_atlas_layer(ctx, p->atlas, edition, &L);
    if (rc) return rc;
    column *c = new_column(ctx, p, -1);
    if (!c) return fp_ctx_errcode(ctx);
    c->ed = fp_catalogue_find(p->cat, edition);
    if (!c->ed) { /* the atlas's catalogue names every layer it holds */
        return fp__error(ctx, FP_ENOTFOUND, "no edition '%s' in the atlas's catalogue",
                         edition);
    }
    rc = fill_footprints(ctx, p, c, c->ed, L, NULL, -1);
    if (rc) {
        drop_column(p, c);
        return rc;
    }
    p->n++;
    return FP_OK;
}

/* Is lookup L some column's first source?  Layers only ever second are
 * located just for the points the first leaves unanswered. */
static int is_primary(const fp_plan *p, const fp_layer *L)
{
    for (size_t c = 0; c < p->n; c++)
        if (p->col[c].nsrc && p->col[c].src[0].lookup == L) return 1;
    return 0;
}

static size_t lookup_no(const fp_plan *p, const fp_layer *L)
{
    size_t l = 0;
    while (p->lookups[l] != L) l++;
    return l;
}

/* The answer of source s for lookup result f (-1 none, -2 - i nearest i). */
static inline void hit_of(const source *s, int32_t f, double d, fp_hit *h)
{
    if (f == -1) return;
    int near = f < -1;
    int32_t e = s->entry_of[near ? -2 - f : f];
    if (e < 0) return;
    h->entry = e;
    h->kind = near ? FP_MATCH_NEAREST : FP_MATCH_CONTAINED;
    h->distance_m = near ? d : 0;
}

void fp_plan_locate_n(const fp_plan *p, const double *lat, const double *lon, size_t n,
                      double nearest_m, fp_hit *out)
{
    /* A fixed stack budget: fewer points per chunk when lookups are many. */
    enum { SCRATCH = 20 * CHUNK };
    int32_t idx[SCRATCH];
    double dist[SCRATCH]; /* metres to the nearest footprint, for misses */
    double qlat[CHUNK], qlon[CHUNK];
    int32_t qix[CHUNK];
    size_t qat[CHUNK];
    size_t nc = p->n;
    size_t chunk = SCRATCH / (p->nlookups ? p->nlookups : 1);
    if (chunk > CHUNK) chunk = CHUNK;
    enum { MAXL = sizeof p->lookups / sizeof *p->lookups };
    int primary[MAXL];
    size_t li[MAX_COLUMNS][2]; /* each column's sources' lookup numbers */
    for (size_t l = 0; l < p->nlookups; l++) primary[l] = is_primary(p, p->lookups[l]);
    for (size_t c = 0; c < nc; c++)
        for (int s = 0; s < p->col[c].nsrc; s++) li[c][s] = lookup_no(p, p->col[c].src[s].lookup);
    for (size_t at = 0; at < n; at += chunk) {
        size_t m = n - at < chunk ? n - at : chunk;
        /* First sources before second: a second's work depends on them. */
        for (int pass = 1; pass >= 0; pass--) {
            for (size_t l = 0; l < p->nlookups; l++) {
                if (primary[l] != pass) continue;
                const fp_layer *L = p->lookups[l];
                int32_t *ix = idx + l * chunk;
                double *ds = dist + l * chunk;
                size_t q = m;
                if (pass) {
                    fp_layer_find_n(L, lat + at, lon + at, m, ix);
                    for (size_t i = 0; i < m; i++) qat[i] = i;
                } else {
                    /* The points whose first source, in some column
                     * having L second, gave nothing. */
                    q = 0;
                    for (size_t i = 0; i < m; i++) {
                        int need = 0;
                        ix[i] = -1, ds[i] = 0;
                        for (size_t c = 0; c < nc && !need; c++) {
                            const column *col = &p->col[c];
                            if (col->nsrc < 2 || li[c][1] != l) continue;
                            fp_hit h = {-1, FP_MATCH_NONE, NAN};
                            hit_of(&col->src[0], idx[li[c][0] * chunk + i], 0, &h);
                            need = h.entry < 0;
                        }
                        if (need) qlat[q] = lat[at + i], qlon[q] = lon[at + i], qat[q++] = i;
                    }
                    if (q) fp_layer_find_n(L, qlat, qlon, q, qix);
                    for (size_t j = 0; j < q; j++) ix[qat[j]] = qix[j];
                }
                for (size_t j = 0; j < q; j++) {
                    size_t i = qat[j];
                    ds[i] = 0;
                    if (ix[i] >= 0 || !(nearest_m > 0)) continue;
                    fp_match r = fp_layer_locate(L, lat[at + i], lon[at + i], nearest_m);
                    ix[i] = r.index >= 0 ? -2 - (int32_t)r.index : -1; /* nearest */
                    ds[i] = r.distance_m;
                }
            }
        }
        /* Row by row, each hit made in registers and stored once: the
         * output is written in order, never read back. */
        fp_hit *h = out + at * nc;
        for (size_t i = 0; i < m; i++) {
            for (size_t c = 0; c < nc; c++, h++) {
                const column *col = &p->col[c];
                fp_hit r = {-1, FP_MATCH_NONE, NAN};
                for (int s = 0; s < col->nsrc && r.entry < 0; s++)
                    hit_of(&col->src[s], idx[li[c][s] * chunk + i],
                           dist[li[c][s] * chunk + i], &r);
                *h = r;
            }
        }
    }
}
