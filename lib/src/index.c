/*
 * The adaptive grid.
 *
 * A 2^R x 2^R top grid over the layer's extent; a cell crossed by more
 * than a few edges is refined into 4 x 4 children, down to a maximum depth.
 * Every cell ends as one of:
 *   - uniform: no edge crosses it, so one answer (a footprint or none)
 *     holds for every point in it;
 *   - a leaf: a short list of candidate footprints, in code order, each
 *     either "whole" (contains the entire cell: the answer if reached) or
 *     crossing (tested exactly against just its edges in the cell).
 * Edges are assigned to every cell they come within a small margin of, so
 * rounding in mapping a point to a cell can never hide an edge from it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct ib {
    fp_layer *L;
    const fp_allocator *a;
    uint32_t *fe; /* footprint of each point (edge) */
    int R, D, K, T;
    double margin;
    double w0, h0; /* top cell size */
    uint32_t *cells;
    size_t ncells, cellcap;
    uint32_t *cands;
    size_t ncands, candcap;
    size_t max_cells;
} ib;

/* Could the segment a-b touch the rectangle (already widened)? */
static int seg_hits_rect(const double *a, const double *b, double x0,
                         double y0, double x1, double y1)
{
    double minx = a[0] < b[0] ? a[0] : b[0], maxx = a[0] < b[0] ? b[0] : a[0];
    double miny = a[1] < b[1] ? a[1] : b[1], maxy = a[1] < b[1] ? b[1] : a[1];
    if (maxx < x0 || minx > x1 || maxy < y0 || miny > y1) return 0;
    double dx = b[0] - a[0], dy = b[1] - a[1];
    double s0 = dx * (y0 - a[1]) - dy * (x0 - a[0]);
    double s1 = dx * (y0 - a[1]) - dy * (x1 - a[0]);
    double s2 = dx * (y1 - a[1]) - dy * (x0 - a[0]);
    double s3 = dx * (y1 - a[1]) - dy * (x1 - a[0]);
    if (s0 > 0 && s1 > 0 && s2 > 0 && s3 > 0) return 0;
    if (s0 < 0 && s1 < 0 && s2 < 0 && s3 < 0) return 0;
    return 1;
}

/*
 * A leaf record in L->cands:
 *   [n] [X as 2 words] [Y0 as 2 words]
 *   then n candidates in code order, each
 *     [f << 2 | parity << 1 | whole]  and, unless whole, [k] [k edges]
 * (X, Y0) is a point just beyond the cell's south-east corner, inside the
 * margin within which edges were assigned to the cell; parity is the
 * footprint's exact ray parity there.  locate.c walks from it to the query
 * point, counting crossings with the listed edges only.
 */
static int put_leaf(ib *B, int level, double cx0, double cy0,
                    const uint32_t *edges, size_t ne, const uint32_t *F,
                    size_t nf, uint32_t first_whole, int has_whole,
                    uint32_t *out)
{
    double w = B->w0 / (double)(1u << (2 * level));
    double X = cx0 + w + B->margin * 0.5, Y0 = cy0 - B->margin * 0.5;
    size_t need = 5 + 2 * nf + ne + 1;
    if (B->ncands + need >= 0x3fffffffu) return FP_ENOMEM;
    if (fp__grow(B->a, (void **)&B->cands, &B->candcap, B->ncands + need,
                 sizeof *B->cands))
        return FP_ENOMEM;
    uint32_t *r = B->cands + B->ncands, n = 0;
    memcpy(r + 1, &X, sizeof X);
    memcpy(r + 3, &Y0, sizeof Y0);
    size_t k = 5, e = 0;
    for (size_t i = 0; i < nf && F[i] < first_whole; i++) {
        const fp_feat *f = &B->L->feat[F[i]];
        uint32_t par = (uint32_t)fp__feat_contains(B->L, f, X, Y0);
        r[k++] = F[i] << 2 | par << 1;
        size_t start = k++;
        while (e < ne && B->fe[edges[e]] < F[i]) e++;
        while (e < ne && B->fe[edges[e]] == F[i]) r[k++] = edges[e++];
        r[start] = (uint32_t)(k - start - 1);
        n++;
    }
    if (has_whole) {
        r[k++] = first_whole << 2 | 1;
        n++;
    }
    r[0] = n;
    *out = FP_TAG_LEAF << 30 | (uint32_t)B->ncands;
    B->ncands += k;
    return FP_OK;
}

/* Distinct footprints of an edge list (edges ascend, so do footprints). */
static size_t feats_of(const ib *B, const uint32_t *edges, size_t ne,
                       uint32_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < ne; i++) {
        uint32_t f = B->fe[edges[i]];
        if (!n || out[n - 1] != f) out[n++] = f;
    }
    return n;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int build_cell(ib *B, int level, double cx0, double cy0,
                      const uint32_t *edges, size_t ne, const uint32_t *whole,
                      size_t nw, uint32_t *out)
{
    uint32_t first_whole = nw ? whole[0] : UINT32_MAX;
    if (ne == 0) {
        *out = nw ? first_whole + 1 : 0;
        return FP_OK;
    }
    int rc = FP_ENOMEM;
    uint32_t *F = fp__malloc(B->a, (ne + nw + 2) * sizeof *F);
    if (!F) return FP_ENOMEM;
    size_t nf = feats_of(B, edges, ne, F);
    if (F[0] > first_whole) { /* the whole footprint wins everywhere */
        *out = first_whole + 1;
        fp__free(B->a, F);
        return FP_OK;
    }
    if ((int)ne <= B->K || level == B->D) {
        rc = put_leaf(B, level, cx0, cy0, edges, ne, F, nf, first_whole, nw > 0,
                      out);
        goto done;
    }
    /* Refine into 4 x 4 children. */
    if (B->ncells + 16 >= B->max_cells) {
        rc = FP_EINVAL; /* options asked for more cells than we allow */
        goto done;
    }
    if (fp__grow(B->a, (void **)&B->cells, &B->cellcap, B->ncells + 16,
                 sizeof *B->cells))
        goto done;
    size_t node = B->ncells;
    B->ncells += 16;
    double w = B->w0 / (double)(1u << (2 * (level + 1)));
    double h = B->h0 / (double)(1u << (2 * (level + 1)));
    double m = B->margin;
    uint32_t *buf = fp__malloc(B->a, 16 * ne * sizeof *buf);
    uint32_t *cwhole = fp__malloc(B->a, (nw + nf + 1) * sizeof *cwhole);
    uint32_t *cf = fp__malloc(B->a, (ne + 1) * sizeof *cf);
    size_t cnt[16] = {0};
    if (!buf || !cwhole || !cf) goto free_children;
    for (size_t i = 0; i < ne; i++) {
        const double *a = B->L->pts + 2 * (size_t)edges[i], *b = a + 2;
        double minx = fmin(a[0], b[0]) - m, maxx = fmax(a[0], b[0]) + m;
        double miny = fmin(a[1], b[1]) - m, maxy = fmax(a[1], b[1]) + m;
        int dx0 = (int)floor((minx - cx0) / w), dx1 = (int)floor((maxx - cx0) / w);
        int dy0 = (int)floor((miny - cy0) / h), dy1 = (int)floor((maxy - cy0) / h);
        if (dx0 < 0) dx0 = 0;
        if (dy0 < 0) dy0 = 0;
        if (dx1 > 3) dx1 = 3;
        if (dy1 > 3) dy1 = 3;
        for (int dy = dy0; dy <= dy1; dy++)
            for (int dx = dx0; dx <= dx1; dx++) {
                double x0 = cx0 + dx * w, y0 = cy0 + dy * h;
                if (seg_hits_rect(a, b, x0 - m, y0 - m, x0 + w + m, y0 + h + m))
                    buf[(dy * 4 + dx) * ne + cnt[dy * 4 + dx]++] = edges[i];
            }
    }
    /* No progress: edges spread over two or more children, each of which
     * still holds every one of them (coincident edges, or an extent below
     * the margin).  Refining can never separate them: stop here. */
    int spread = 0, all = 1;
    for (int k = 0; k < 16; k++) {
        if (!cnt[k]) continue;
        spread++;
        all &= cnt[k] == ne;
    }
    if (spread >= 2 && all) {
        B->ncells -= 16; /* the block was never used */
        fp__free(B->a, buf);
        fp__free(B->a, cwhole);
        fp__free(B->a, cf);
        rc = put_leaf(B, level, cx0, cy0, edges, ne, F, nf, first_whole, nw > 0, out);
        goto done;
    }
    for (int k = 0; k < 16; k++) {
        int dx = k & 3, dy = k >> 2;
        double x0 = cx0 + dx * w, y0 = cy0 + dy * h;
        const uint32_t *ce = buf + (size_t)k * ne;
        size_t ncf = feats_of(B, ce, cnt[k], cf);
        /* Footprints crossing the parent but not this child contain all of
         * it or none of it: ask at its centre. */
        size_t ncw = nw;
        memcpy(cwhole, whole, nw * sizeof *whole);
        size_t j = 0;
        for (size_t i = 0; i < nf; i++) {
            while (j < ncf && cf[j] < F[i]) j++;
            if (j < ncf && cf[j] == F[i]) continue;
            if (fp__feat_contains(B->L, &B->L->feat[F[i]], x0 + w / 2, y0 + h / 2))
                cwhole[ncw++] = F[i];
        }
        if (ncw > nw) qsort(cwhole, ncw, sizeof *cwhole, cmp_u32);
        uint32_t v;
        rc = build_cell(B, level + 1, x0, y0, ce, cnt[k], cwhole, ncw, &v);
        if (rc) goto free_children;
        B->cells[node + (size_t)k] = v;
    }
    *out = FP_TAG_NODE << 30 | (uint32_t)node;
    rc = FP_OK;
free_children:
    fp__free(B->a, buf);
    fp__free(B->a, cwhole);
    fp__free(B->a, cf);
done:
    fp__free(B->a, F);
    return rc;
}

/* Visits the top cells an edge (or box) may touch. */
static void top_range(const ib *B, double minx, double miny, double maxx,
                      double maxy, int r[4])
{
    const fp_layer *L = B->L;
    int n = 1 << B->R;
    double fx0 = floor((minx - B->margin - L->gx0) / B->w0);
    double fx1 = floor((maxx + B->margin - L->gx0) / B->w0);
    double fy0 = floor((miny - B->margin - L->gy0) / B->h0);
    double fy1 = floor((maxy + B->margin - L->gy0) / B->h0);
    r[0] = fx0 < 0 ? 0 : (fx0 > n - 1 ? n - 1 : (int)fx0);
    r[1] = fy0 < 0 ? 0 : (fy0 > n - 1 ? n - 1 : (int)fy0);
    r[2] = fx1 < 0 ? 0 : (fx1 > n - 1 ? n - 1 : (int)fx1);
    r[3] = fy1 < 0 ? 0 : (fy1 > n - 1 ? n - 1 : (int)fy1);
}

int fp__index_build(fp_ctx *ctx, fp_layer *L, const fp_index_opts *o)
{
    ib B;
    memset(&B, 0, sizeof B);
    B.L = L;
    B.a = &L->alloc;
    B.R = o->root_bits;
    B.D = o->max_depth;
    B.K = o->leaf_edges;
    B.T = B.R + FP_SUB_BITS * B.D;
    /* 2^28 cells (1 GiB): far beyond any sane layer; stops option
     * combinations that would refine every boundary to full depth. */
    B.max_cells = (size_t)1 << 28;
    double maxabs = fmax(fmax(fabs(L->bbox[0]), fabs(L->bbox[2])),
                         fmax(fabs(L->bbox[1]), fabs(L->bbox[3])));
    B.margin = 1e-11 * (1 + maxabs);
    double pad = 8 * B.margin;
    L->gx0 = L->bbox[0] - pad;
    L->gy0 = L->bbox[1] - pad;
    L->gx1 = L->bbox[2] + pad;
    L->gy1 = L->bbox[3] + pad;
    L->root_bits = B.R;
    L->total_bits = B.T;
    L->gmax = (uint32_t)((1ull << B.T) - 1);
    L->gsx = (double)(1ull << B.T) / (L->gx1 - L->gx0);
    L->gsy = (double)(1ull << B.T) / (L->gy1 - L->gy0);
    B.w0 = (L->gx1 - L->gx0) / (double)(1u << B.R);
    B.h0 = (L->gy1 - L->gy0) / (double)(1u << B.R);

    int rc = FP_ENOMEM;
    size_t ntop = (size_t)1 << (2 * B.R);
    uint32_t *eoff = NULL, *eds = NULL, *foff = NULL, *fds = NULL, *cur = NULL;
    uint32_t *whole = NULL, *F = NULL;
    B.fe = fp__malloc(B.a, (L->npts + 1) * sizeof *B.fe);
    B.cellcap = ntop + 16;
    B.cells = fp__malloc(B.a, B.cellcap * sizeof *B.cells);
    eoff = fp__calloc(B.a, ntop + 1, sizeof *eoff);
    foff = fp__calloc(B.a, ntop + 1, sizeof *foff);
    cur = fp__malloc(B.a, (ntop + 1) * sizeof *cur);
    if (!B.fe || !B.cells || !eoff || !foff || !cur) goto out;
    B.ncells = ntop;
    for (size_t f = 0; f < L->nfeat; f++) {
        const fp_feat *ft = &L->feat[f];
        for (uint32_t p = L->ring_start[ft->ring0];
             p < L->ring_start[ft->ring0 + ft->nrings]; p++)
            B.fe[p] = (uint32_t)f;
    }

    /* Edges and bounding-box candidates of each top cell (counted, then
     * placed: compressed rows). */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t f = 0; f < L->nfeat; f++) {
            const fp_feat *ft = &L->feat[f];
            for (uint32_t r = ft->ring0; r < ft->ring0 + ft->nrings; r++)
                for (uint32_t e = L->ring_start[r]; e + 1 < L->ring_start[r + 1];
                     e++) {
                    const double *a = L->pts + 2 * (size_t)e, *b = a + 2;
                    int g[4];
                    top_range(&B, fmin(a[0], b[0]), fmin(a[1], b[1]),
                              fmax(a[0], b[0]), fmax(a[1], b[1]), g);
                    for (int y = g[1]; y <= g[3]; y++)
                        for (int x = g[0]; x <= g[2]; x++) {
                            double x0 = L->gx0 + x * B.w0, y0 = L->gy0 + y * B.h0;
                            double m = B.margin;
                            if (!seg_hits_rect(a, b, x0 - m, y0 - m,
                                               x0 + B.w0 + m, y0 + B.h0 + m))
                                continue;
                            size_t c = ((size_t)y << B.R) | (size_t)x;
                            if (pass == 0)
                                eoff[c + 1]++;
                            else
                                eds[cur[c]++] = e;
                        }
                }
            if (pass == 0) {
                int g[4];
                top_range(&B, ft->bbox[0], ft->bbox[1], ft->bbox[2],
                          ft->bbox[3], g);
                for (int y = g[1]; y <= g[3]; y++)
                    for (int x = g[0]; x <= g[2]; x++)
                        foff[(((size_t)y << B.R) | (size_t)x) + 1]++;
            }
        }
        if (pass == 0) {
            for (size_t c = 0; c < ntop; c++) {
                eoff[c + 1] += eoff[c];
                foff[c + 1] += foff[c];
            }
            eds = fp__malloc(B.a, ((size_t)eoff[ntop] + 1) * sizeof *eds);
            fds = fp__malloc(B.a, ((size_t)foff[ntop] + 1) * sizeof *fds);
            if (!eds || !fds) goto out;
            memcpy(cur, eoff, ntop * sizeof *cur);
            cur[ntop] = 0;
        }
    }
    /* Bounding-box candidates, placed (footprints ascend in each row). */
    memcpy(cur, foff, ntop * sizeof *cur);
    for (size_t f = 0; f < L->nfeat; f++) {
        const fp_feat *ft = &L->feat[f];
        int g[4];
        top_range(&B, ft->bbox[0], ft->bbox[1], ft->bbox[2], ft->bbox[3], g);
        for (int y = g[1]; y <= g[3]; y++)
            for (int x = g[0]; x <= g[2]; x++)
                fds[cur[((size_t)y << B.R) | (size_t)x]++] = (uint32_t)f;
    }

    size_t maxrow = 1;
    for (size_t c = 0; c < ntop; c++) {
        size_t n = (size_t)(eoff[c + 1] - eoff[c]) + (foff[c + 1] - foff[c]);
        if (n > maxrow) maxrow = n;
    }
    whole = fp__malloc(B.a, (maxrow + 1) * sizeof *whole);
    F = fp__malloc(B.a, (maxrow + 1) * sizeof *F);
    if (!whole || !F) goto out;
    for (size_t c = 0; c < ntop; c++) {
        const uint32_t *ce = eds + eoff[c];
        size_t ne = eoff[c + 1] - eoff[c];
        size_t nf = feats_of(&B, ce, ne, F);
        double x0 = L->gx0 + (double)(c & ((1u << B.R) - 1)) * B.w0;
        double y0 = L->gy0 + (double)(c >> B.R) * B.h0;
        size_t nw = 0, j = 0;
        for (uint32_t k = foff[c]; k < foff[c + 1]; k++) {
            uint32_t f = fds[k];
            while (j < nf && F[j] < f) j++;
            if (j < nf && F[j] == f) continue;
            if (fp__feat_contains(L, &L->feat[f], x0 + B.w0 / 2, y0 + B.h0 / 2))
                whole[nw++] = f;
        }
        uint32_t v;
        rc = build_cell(&B, 0, x0, y0, ce, ne, whole, nw, &v);
        if (rc) goto out;
        B.cells[c] = v;
    }
    rc = FP_OK;
out:
    fp__free(B.a, B.fe);
    fp__free(B.a, eoff);
    fp__free(B.a, eds);
    fp__free(B.a, foff);
    fp__free(B.a, fds);
    fp__free(B.a, cur);
    fp__free(B.a, whole);
    fp__free(B.a, F);
    if (rc) {
        fp__free(B.a, B.cells);
        fp__free(B.a, B.cands);
        if (rc == FP_EINVAL)
            return fp__error(ctx, rc,
                             "grid index would exceed %zu cells: lower "
                             "max_depth or raise leaf_edges", B.max_cells);
        return fp__error(ctx, rc, "out of memory building the grid index");
    }
    /* Shrink to fit: the layer lives long. */
    uint32_t *c2 = fp__realloc(B.a, B.cells, B.ncells * sizeof *B.cells);
    L->cells = c2 ? c2 : B.cells;
    L->ncells = B.ncells;
    if (B.ncands) {
        uint32_t *k2 = fp__realloc(B.a, B.cands, B.ncands * sizeof *B.cands);
        L->cands = k2 ? k2 : B.cands;
    } else {
        fp__free(B.a, B.cands);
        L->cands = NULL;
    }
    L->ncands = B.ncands;
    return FP_OK;
}
