/* Layers: the builder, the immutable layer and its per-footprint stripes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct bfeat {
    char *code, *name;
    size_t order; /* insertion order, to keep sorting stable */
} bfeat;

typedef struct bring {
    size_t start, n; /* points in the builder's pts */
    size_t feat;
} bring;

struct fp_builder {
    fp_ctx *ctx;
    fp_allocator alloc;
    bfeat *feats;
    size_t nfeats, featcap;
    bring *rings;
    size_t nrings, ringcap;
    double *pts;
    size_t npts, ptcap; /* in points */
    int failed;         /* first error is sticky */
};

void fp_index_opts_init(fp_index_opts *o)
{
    o->kind = FP_INDEX_GRID;
    o->root_bits = 0; /* auto: chosen from the layer's size when built */
    o->max_depth = 8;
    o->leaf_edges = 4;
}

/* Measured on the real layers (make bench, README): for ICB-sized layers a
 * deep, fine grid is fastest (161 M points/s, 3 MB); at LSOA scale (1.9 M
 * edges) depth costs cache misses and memory, and a coarser grid with
 * bigger leaves is both smaller (71 MB, not 303) and faster. */
static void auto_index(fp_index_opts *o, size_t nedges)
{
    if (nedges > 300000) {
        o->root_bits = 10, o->max_depth = 5, o->leaf_edges = 64;
    } else if (nedges <= 5000) {
        /* Small layers (regions, places): the same finest cells under a
         * coarser top grid, which would otherwise be most of the index and
         * of what a one-shot query must verify. */
        o->root_bits = 7, o->max_depth = 9, o->leaf_edges = 4;
    } else {
        o->root_bits = 9, o->max_depth = 8, o->leaf_edges = 4;
    }
}

int fp_builder_new(fp_ctx *ctx, fp_builder **out)
{
    *out = NULL;
    fp__clear(ctx);
    fp_builder *b = fp__calloc(&ctx->alloc, 1, sizeof *b);
    if (!b) return fp__error(ctx, FP_ENOMEM, "out of memory");
    b->ctx = ctx;
    b->alloc = ctx->alloc;
    *out = b;
    return FP_OK;
}

void fp_builder_free(fp_builder *b)
{
    if (!b) return;
    for (size_t i = 0; i < b->nfeats; i++) {
        fp__free(&b->alloc, b->feats[i].code);
        fp__free(&b->alloc, b->feats[i].name);
    }
    fp__free(&b->alloc, b->feats);
    fp__free(&b->alloc, b->rings);
    fp__free(&b->alloc, b->pts);
    fp__free(&b->alloc, b);
}

static int bfail(fp_builder *b, int code, const char *msg)
{
    if (!b->failed) {
        b->failed = code;
        fp__error(b->ctx, code, "%s", msg);
    }
    return code;
}

int fp_builder_add_footprint(fp_builder *b, const char *code,
                             const char *name)
{
    if (b->failed) return b->failed;
    if (!code || !*code)
        return bfail(b, FP_EINVAL, "footprint without a code");
    if (fp__grow(&b->alloc, (void **)&b->feats, &b->featcap, b->nfeats + 1,
                 sizeof *b->feats))
        return bfail(b, FP_ENOMEM, "out of memory");
    bfeat *f = &b->feats[b->nfeats];
    f->code = fp__strdup(&b->alloc, code);
    f->name = fp__strdup(&b->alloc, name ? name : "");
    f->order = b->nfeats;
    if (!f->code || !f->name) {
        fp__free(&b->alloc, f->code);
        fp__free(&b->alloc, f->name);
        return bfail(b, FP_ENOMEM, "out of memory");
    }
    b->nfeats++;
    return FP_OK;
}

int fp_builder_add_ring(fp_builder *b, const double *xy, size_t n)
{
    if (b->failed) return b->failed;
    if (!b->nfeats)
        return bfail(b, FP_EINVAL, "ring added before any footprint");
    for (size_t i = 0; i < 2 * n; i++) {
        if (!isfinite(xy[i]))
            return bfail(b, FP_EINVAL, "ring with a non-finite coordinate");
        /* Layers hold longitude/latitude; anything else is a CRS mistake
         * (and would overflow the grid's arithmetic). */
        if (fabs(xy[i]) > (i % 2 ? 90.0 : 180.0))
            return bfail(b, FP_EINVAL,
                         "ring coordinate out of longitude/latitude range");
    }
    /* Drop repeated consecutive points; count the distinct ones. */
    size_t need = b->npts + n + 1;
    if (need > UINT32_MAX / 2)
        return bfail(b, FP_ENOMEM, "too many vertices for one layer");
    if (fp__grow(&b->alloc, (void **)&b->pts, &b->ptcap, need,
                 2 * sizeof(double)))
        return bfail(b, FP_ENOMEM, "out of memory");
    double *dst = b->pts + 2 * b->npts;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && dst[2 * m - 2] == xy[2 * i] && dst[2 * m - 1] == xy[2 * i + 1])
            continue;
        dst[2 * m] = xy[2 * i];
        dst[2 * m + 1] = xy[2 * i + 1];
        m++;
    }
    if (m > 1 && dst[0] == dst[2 * m - 2] && dst[1] == dst[2 * m - 1]) m--;
    /* Fewer than three distinct points (A B A B ...) enclose nothing. */
    size_t second = 1, third = 0;
    while (second < m && dst[2 * second] == dst[0] && dst[2 * second + 1] == dst[1])
        second++;
    for (size_t i = second + 1; i < m && !third; i++)
        if ((dst[2 * i] != dst[0] || dst[2 * i + 1] != dst[1]) &&
            (dst[2 * i] != dst[2 * second] || dst[2 * i + 1] != dst[2 * second + 1]))
            third = i;
    if (m < 3 || second >= m || !third) return FP_OK;
    dst[2 * m] = dst[0];     /* close it */
    dst[2 * m + 1] = dst[1];
    m++;
    if (fp__grow(&b->alloc, (void **)&b->rings, &b->ringcap, b->nrings + 1,
                 sizeof *b->rings))
        return bfail(b, FP_ENOMEM, "out of memory");
    b->rings[b->nrings++] = (bring){b->npts, m, b->nfeats - 1};
    b->npts += m;
    return FP_OK;
}

static int cmp_bfeat(const void *pa, const void *pb)
{
    const bfeat *a = *(const bfeat *const *)pa, *b = *(const bfeat *const *)pb;
    int c = strcmp(a->code, b->code);
    if (c) return c;
    return a->order < b->order ? -1 : a->order > b->order;
}

void fp_layer_free(fp_layer *L)
{
    if (!L || L->borrowed) return; /* an atlas's layer: the atlas frees it */
    fp_allocator a = L->alloc;
    fp__free(&a, L->feat);
    fp__free(&a, L->pts);
    fp__free(&a, L->ring_start);
    fp__free(&a, L->stripe_off);
    fp__free(&a, L->stripe_edges);
    fp__free(&a, L->strings);
    fp__free(&a, L->cells);
    fp__free(&a, L->cands);
    fp__free(&a, L->map);
    fp_layer_free(L->base_owned);
    fp__free(&a, L);
}

uint32_t fp__stripe_of(const fp_feat *f, double y)
{
    double t = (y - f->sy0) * f->sinv;
    if (!(t > 0)) return 0;
    if (t >= (double)(f->nstripes - 1)) return f->nstripes - 1;
    return (uint32_t)t;
}

/* Per footprint, edges bucketed by horizontal stripe: a ray cast then
 * looks only at the edges of the point's stripe. */
typedef void (*edge_fn)(void *arg, uint32_t stripe, uint32_t edge);

static void each_stripe_edge(const fp_layer *L, const fp_feat *f, edge_fn fn,
                             void *arg)
{
    for (uint32_t r = f->ring0; r < f->ring0 + f->nrings; r++) {
        for (uint32_t e = L->ring_start[r]; e + 1 < L->ring_start[r + 1]; e++) {
            double y0 = L->pts[2 * e + 1], y1 = L->pts[2 * e + 3];
            uint32_t s0 = fp__stripe_of(f, y0 < y1 ? y0 : y1);
            uint32_t s1 = fp__stripe_of(f, y0 < y1 ? y1 : y0);
            for (uint32_t s = s0; s <= s1; s++) fn(arg, s, e);
        }
    }
}

static void count_edge(void *arg, uint32_t s, uint32_t e)
{
    (void)e;
    ((uint32_t *)arg)[s + 1]++;
}

typedef struct fill_arg {
    uint32_t *cursor, *edges;
} fill_arg;

static void fill_edge(void *arg, uint32_t s, uint32_t e)
{
    fill_arg *fa = arg;
    fa->edges[fa->cursor[s]++] = e;
}

static int build_stripes(fp_layer *L)
{
    size_t offs = 0, maxns = 1;
    for (size_t i = 0; i < L->nfeat; i++) {
        fp_feat *f = &L->feat[i];
        size_t nedges = 0;
        for (uint32_t r = f->ring0; r < f->ring0 + f->nrings; r++)
            nedges += L->ring_start[r + 1] - L->ring_start[r] - 1;
        size_t ns = nedges / 4 + 1;
        if (ns > 65536) ns = 65536;
        double h = f->bbox[3] - f->bbox[1];
        if (!(h > 0)) ns = 1;
        f->nstripes = (uint32_t)ns;
        f->sy0 = f->bbox[1];
        f->sinv = ns > 1 ? (double)ns / h : 0;
        f->stripe0 = (uint32_t)offs;
        offs += ns + 1;
        if (ns > maxns) maxns = ns;
    }
    L->nstripe_off = offs;
    L->stripe_off = fp__calloc(&L->alloc, offs, sizeof(uint32_t));
    uint32_t *cursor = fp__malloc(&L->alloc, maxns * sizeof(uint32_t));
    if (!L->stripe_off || !cursor) {
        fp__free(&L->alloc, cursor);
        return FP_ENOMEM;
    }
    /* off[s] = start of stripe s, off[ns] = end: counts, then sums. */
    size_t total = 0;
    for (size_t i = 0; i < L->nfeat; i++) {
        const fp_feat *f = &L->feat[i];
        uint32_t *off = L->stripe_off + f->stripe0;
        each_stripe_edge(L, f, count_edge, off);
        off[0] = (uint32_t)total;
        for (uint32_t s = 1; s <= f->nstripes; s++) off[s] += off[s - 1];
        total = off[f->nstripes];
        if (total > UINT32_MAX / 2) {
            fp__free(&L->alloc, cursor);
            return FP_ENOMEM;
        }
    }
    L->nstripe_edges = total;
    L->stripe_edges = fp__malloc(&L->alloc, total * sizeof(uint32_t));
    if (!L->stripe_edges) {
        fp__free(&L->alloc, cursor);
        return FP_ENOMEM;
    }
    for (size_t i = 0; i < L->nfeat; i++) {
        const fp_feat *f = &L->feat[i];
        memcpy(cursor, L->stripe_off + f->stripe0,
               f->nstripes * sizeof(uint32_t));
        fill_arg fa = {cursor, L->stripe_edges};
        each_stripe_edge(L, f, fill_edge, &fa);
    }
    fp__free(&L->alloc, cursor);
    return FP_OK;
}

int fp_builder_build(fp_builder *b, const fp_index_opts *opts,
                     fp_layer **out)
{
    fp_ctx *ctx = b->ctx;
    *out = NULL;
    if (b->failed) return b->failed;
    fp_index_opts o;
    if (opts)
        o = *opts;
    else
        fp_index_opts_init(&o);
    if (o.kind != FP_INDEX_GRID && o.kind != FP_INDEX_NONE)
        return fp__error(ctx, FP_EINVAL, "unknown index kind %d", o.kind);
    if (o.kind == FP_INDEX_GRID && o.root_bits == 0) auto_index(&o, b->npts);
    if (o.kind == FP_INDEX_GRID &&
        (o.root_bits < 4 || o.root_bits > 12 || o.max_depth < 0 ||
         o.max_depth > 10 || o.leaf_edges < 1 ||
         o.root_bits + FP_SUB_BITS * o.max_depth > 30))
        return fp__error(ctx, FP_EINVAL,
                         "index options out of range (root_bits 4..12, "
                         "max_depth 0..10, root_bits + 2 * max_depth <= 30, "
                         "leaf_edges >= 1)");

    fp__clear(ctx);
    const fp_allocator *a = &b->alloc;
    int rc = FP_ENOMEM;
    fp_layer *L = NULL;
    bfeat **order = NULL;
    size_t *featmap = NULL, *ringorder = NULL, *nring_of = NULL;

    /* Footprints in code order; equal codes merge into the first. */
    order = fp__malloc(a, (b->nfeats + 1) * sizeof *order);
    featmap = fp__malloc(a, (b->nfeats + 1) * sizeof *featmap);
    if (!order || !featmap) goto fail;
    for (size_t i = 0; i < b->nfeats; i++) order[i] = &b->feats[i];
    qsort(order, b->nfeats, sizeof *order, cmp_bfeat);
    size_t nfeat = 0;
    for (size_t i = 0; i < b->nfeats; i++) {
        if (i && strcmp(order[i]->code, order[i - 1]->code) == 0) {
            featmap[order[i]->order] = nfeat - 1;
        } else {
            order[nfeat] = order[i];
            featmap[order[i]->order] = nfeat++;
        }
    }
    /* Footprints without a ring enclose nothing: drop them. */
    nring_of = fp__calloc(a, nfeat + 1, sizeof *nring_of);
    if (!nring_of) goto fail;
    for (size_t r = 0; r < b->nrings; r++) nring_of[featmap[b->rings[r].feat]]++;
    size_t kept = 0;
    size_t *newidx = fp__malloc(a, (nfeat + 1) * sizeof *newidx);
    if (!newidx) goto fail;
    for (size_t i = 0; i < nfeat; i++) {
        newidx[i] = nring_of[i] ? kept : SIZE_MAX;
        if (nring_of[i]) {
            order[kept] = order[i];
            nring_of[kept] = nring_of[i];
            kept++;
        }
    }
    for (size_t i = 0; i < b->nfeats; i++) featmap[i] = newidx[featmap[i]];
    fp__free(a, newidx);
    nfeat = kept;
    if (nfeat == 0) {
        rc = fp__error(ctx, FP_EFORMAT, "no polygons: nothing to locate in");
        goto fail_noerr;
    }
    if (nfeat >= (1u << 29)) {
        rc = fp__error(ctx, FP_EINVAL, "too many footprints");
        goto fail_noerr;
    }

    L = fp__calloc(a, 1, sizeof *L);
    if (!L) goto fail;
    L->alloc = *a;
    L->kind = o.kind;
    L->nfeat = nfeat;
    L->feat = fp__calloc(a, nfeat, sizeof *L->feat);
    L->nrings = b->nrings;
    L->ring_start = fp__malloc(a, (b->nrings + 1) * sizeof(uint32_t));
    L->npts = b->npts;
    L->pts = fp__malloc(a, (b->npts + 1) * 2 * sizeof(double));
    ringorder = fp__malloc(a, (b->nrings + 1) * sizeof *ringorder);
    if (!L->feat || !L->ring_start || !L->pts || !ringorder) goto fail;

    /* Rings grouped by footprint (counting sort, stable). */
    {
        size_t *pos = fp__calloc(a, nfeat + 1, sizeof *pos);
        if (!pos) goto fail;
        for (size_t i = 0; i < nfeat; i++) pos[i + 1] = pos[i] + nring_of[i];
        for (size_t i = 0; i < nfeat; i++) {
            L->feat[i].ring0 = (uint32_t)pos[i];
            L->feat[i].nrings = (uint32_t)nring_of[i];
        }
        for (size_t r = 0; r < b->nrings; r++)
            ringorder[pos[featmap[b->rings[r].feat]]++] = r;
        fp__free(a, pos);
    }
    size_t p = 0;
    for (size_t k = 0; k < b->nrings; k++) {
        const bring *r = &b->rings[ringorder[k]];
        L->ring_start[k] = (uint32_t)p;
        memcpy(L->pts + 2 * p, b->pts + 2 * r->start, r->n * 2 * sizeof(double));
        p += r->n;
    }
    L->ring_start[b->nrings] = (uint32_t)p;

    /* Bounding boxes and strings. */
    size_t slen = 0;
    for (size_t i = 0; i < nfeat; i++)
        slen += strlen(order[i]->code) + strlen(order[i]->name) + 2;
    L->strings = fp__malloc(a, slen);
    if (!L->strings) goto fail;
    L->strings_len = slen;
    slen = 0;
    L->bbox[0] = L->bbox[1] = INFINITY;
    L->bbox[2] = L->bbox[3] = -INFINITY;
    for (size_t i = 0; i < nfeat; i++) {
        fp_feat *f = &L->feat[i];
        size_t n = strlen(order[i]->code) + 1;
        memcpy(L->strings + slen, order[i]->code, n);
        f->code = (uint32_t)slen;
        slen += n;
        n = strlen(order[i]->name) + 1;
        memcpy(L->strings + slen, order[i]->name, n);
        f->name = (uint32_t)slen;
        slen += n;
        f->bbox[0] = f->bbox[1] = INFINITY;
        f->bbox[2] = f->bbox[3] = -INFINITY;
        for (uint32_t q = L->ring_start[f->ring0];
             q < L->ring_start[f->ring0 + f->nrings]; q++) {
            double x = L->pts[2 * q], y = L->pts[2 * q + 1];
            if (x < f->bbox[0]) f->bbox[0] = x;
            if (y < f->bbox[1]) f->bbox[1] = y;
            if (x > f->bbox[2]) f->bbox[2] = x;
            if (y > f->bbox[3]) f->bbox[3] = y;
        }
        for (int k = 0; k < 2; k++) {
            if (f->bbox[k] < L->bbox[k]) L->bbox[k] = f->bbox[k];
            if (f->bbox[k + 2] > L->bbox[k + 2]) L->bbox[k + 2] = f->bbox[k + 2];
        }
    }
    if (build_stripes(L)) goto fail;
    if (o.kind == FP_INDEX_GRID) {
        rc = fp__index_build(ctx, L, &o);
        if (rc) goto fail_noerr;
    }
    fp__free(a, order);
    fp__free(a, featmap);
    fp__free(a, ringorder);
    fp__free(a, nring_of);
    *out = L;
    return FP_OK;

fail:
    rc = fp__error(ctx, FP_ENOMEM, "out of memory building the layer");
fail_noerr:
    fp__free(a, order);
    fp__free(a, featmap);
    fp__free(a, ringorder);
    fp__free(a, nring_of);
    fp_layer_free(L);
    return rc;
}

size_t fp_layer_count(const fp_layer *L) { return L->nfeat; }

const char *fp_layer_code(const fp_layer *L, size_t i)
{
    return i < L->nfeat ? L->strings + L->feat[i].code : NULL;
}

const char *fp_layer_name(const fp_layer *L, size_t i)
{
    return i < L->nfeat ? L->strings + L->feat[i].name : NULL;
}

void fp_layer_bbox(const fp_layer *L, size_t i, double box[4])
{
    const double *src = i < L->nfeat ? L->feat[i].bbox : L->bbox;
    memcpy(box, src, 4 * sizeof(double));
}

long fp_layer_find_code(const fp_layer *L, const char *code)
{
    /* Footprints are in code order: binary search. */
    size_t lo = 0, hi = L->nfeat;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(L->strings + L->feat[mid].code, code);
        if (c == 0) return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

size_t fp_layer_memory(const fp_layer *L)
{
    return sizeof *L + L->nfeat * sizeof *L->feat +
           L->npts * 2 * sizeof(double) + (L->nrings + 1) * sizeof(uint32_t) +
           L->nstripe_off * sizeof(uint32_t) +
           L->nstripe_edges * sizeof(uint32_t) + L->strings_len +
           L->ncells * sizeof(uint32_t) + L->ncands * sizeof(uint32_t) +
           (L->base ? L->base->nfeat * sizeof(int32_t) : 0);
}

size_t fp_layer_vertices(const fp_layer *L) { return L->npts; }
