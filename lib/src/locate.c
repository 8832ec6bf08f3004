/* Point-in-footprint queries: the hot path.  Nothing here can fail. */
#include <math.h>
#include <string.h>

#include "internal.h"

#define EARTH_RADIUS_M 6371008.8
#define DEG 0.017453292519943295

/* Does the eastward ray from (x, y) cross edge a-b?  It must straddle the
 * ray's line (half-open in y) and lie strictly east of the point. */
static inline int crosses(const double *a, const double *b, double x, double y)
{
    int au = a[1] > y, bu = b[1] > y;
    if (au == bu) return 0;
    const double *lo = au ? b : a, *hi = au ? a : b;
    return fp__orient(lo[0], lo[1], hi[0], hi[1], x, y) > 0;
}

int fp__feat_contains(const fp_layer *L, const fp_feat *f, double x, double y)
{
    /* Outside the box can never be inside; the east and north sides are
     * outside by the boundary rule (the point is nudged east and north). */
    if (!(y >= f->bbox[1] && y < f->bbox[3] && x >= f->bbox[0] &&
          x < f->bbox[2]))
        return 0;
    int in = 0;
    if (!L->stripe_off) { /* an atlas's grid layer: no stripes, every edge */
        for (uint32_t r = f->ring0; r < f->ring0 + f->nrings; r++)
            for (uint32_t q = L->ring_start[r]; q + 1 < L->ring_start[r + 1]; q++) {
                const double *a = L->pts + 2 * (size_t)q;
                in ^= crosses(a, a + 2, x, y);
            }
        return in;
    }
    const uint32_t *off = L->stripe_off + f->stripe0;
    uint32_t s = fp__stripe_of(f, y);
    const uint32_t *e = L->stripe_edges + off[s], *end = L->stripe_edges + off[s + 1];
    for (; e < end; e++) {
        const double *a = L->pts + 2 * (size_t)*e;
        in ^= crosses(a, a + 2, x, y);
    }
    return in;
}

static long scan(const fp_layer *L, double x, double y)
{
    for (size_t i = 0; i < L->nfeat; i++)
        if (fp__feat_contains(L, &L->feat[i], x, y)) return (long)i;
    return -1;
}

/*
 * A leaf: for each crossing candidate, start from its exact parity at the
 * leaf's corner point c = (X, Y0) and walk c -> (X, y) -> (x, y), counting
 * crossings with the candidate's edges in the cell (no other edge can reach
 * that path).  Every test uses the same infinitesimal nudge east (d) and
 * north (e << d) as the ray rule, so the answer equals the full ray cast.
 */
static int leaf_parity(const fp_layer *L, const uint32_t *e, uint32_t k,
                       int par, double X, double Y0, double x, double y)
{
    for (uint32_t i = 0; i < k; i++) {
        const double *a = L->pts + 2 * (size_t)e[i], *b = a + 2;
        /* Westward leg along y + e from X + d to x + d. */
        int au = a[1] > y, bu = b[1] > y;
        if (au != bu) {
            const double *lo = au ? b : a, *hi = au ? a : b;
            if (fp__orient(lo[0], lo[1], hi[0], hi[1], x, y) > 0 &&
                fp__orient(lo[0], lo[1], hi[0], hi[1], X, y) <= 0)
                par ^= 1;
        }
        /* Northward leg along X + d from Y0 + e to y + e. */
        int ar = a[0] > X, br = b[0] > X;
        if (ar != br) {
            const double *l = ar ? b : a, *h = ar ? a : b; /* l.x <= X < h.x */
            int o = fp__orient(l[0], l[1], h[0], h[1], X, y);
            int below_p = o > 0 || (o == 0 && h[1] <= l[1]);
            o = fp__orient(l[0], l[1], h[0], h[1], X, Y0);
            int below_c = o > 0 || (o == 0 && h[1] <= l[1]);
            if (below_p && !below_c) par ^= 1;
        }
    }
    return par;
}

static long leaf_find(const fp_layer *L, uint32_t off, double x, double y)
{
    const uint32_t *c = L->cands + off;
    uint32_t n = c[0];
    double X, Y0;
    memcpy(&X, c + 1, sizeof X);
    memcpy(&Y0, c + 3, sizeof Y0);
    c += 5;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t w = *c++;
        if (w & 1) return (long)(w >> 2);
        uint32_t k = *c++;
        if (leaf_parity(L, c, k, (w >> 1) & 1, X, Y0, x, y)) return (long)(w >> 2);
        c += k;
    }
    return -1;
}

static inline long grid_find(const fp_layer *L, double x, double y)
{
    /* Also rejects NaN: every comparison with it is false. */
    if (!(x >= L->gx0 && x < L->gx1 && y >= L->gy0 && y < L->gy1)) return -1;
    double fx = (x - L->gx0) * L->gsx, fy = (y - L->gy0) * L->gsy;
    /* Clamped in double: casting an out-of-range double is undefined. */
    uint32_t gx = fx < (double)L->gmax ? (uint32_t)fx : L->gmax;
    uint32_t gy = fy < (double)L->gmax ? (uint32_t)fy : L->gmax;
    int sh = L->total_bits - L->root_bits;
    uint32_t c = L->cells[((gy >> sh) << L->root_bits) | (gx >> sh)];
    while (FP_CELL_TAG(c) == FP_TAG_NODE) {
        sh -= FP_SUB_BITS;
        c = L->cells[FP_CELL_VAL(c) + ((((gy >> sh) & 3) << 2) | ((gx >> sh) & 3))];
    }
    if (FP_LIKELY(FP_CELL_TAG(c) == FP_TAG_UNIFORM)) return (long)c - 1;
    return leaf_find(L, FP_CELL_VAL(c), x, y);
}

long fp_layer_find(const fp_layer *L, double lat, double lon)
{
    if (L->base) {
        long b = fp_layer_find(L->base, lat, lon);
        return b < 0 ? -1 : L->map[b];
    }
    if (L->kind == FP_INDEX_NONE) {
        if (!(lon >= L->bbox[0] && lon < L->bbox[2] && lat >= L->bbox[1] &&
              lat < L->bbox[3]))
            return -1;
        return scan(L, lon, lat);
    }
    return grid_find(L, lon, lat);
}

void fp_layer_find_n(const fp_layer *L, const double *lat, const double *lon,
                     size_t n, int32_t *out)
{
    if (L->base) {
        fp_layer_find_n(L->base, lat, lon, n, out);
        for (size_t i = 0; i < n; i++)
            if (out[i] >= 0) out[i] = L->map[out[i]];
        return;
    }
    if (L->kind == FP_INDEX_NONE) {
        for (size_t i = 0; i < n; i++)
            out[i] = (int32_t)fp_layer_find(L, lat[i], lon[i]);
        return;
    }
    for (size_t i = 0; i < n; i++) out[i] = (int32_t)grid_find(L, lon[i], lat[i]);
}

/* Squared distance from the origin to segment a-b (local metres). */
static double seg_dist2(double ax, double ay, double bx, double by)
{
    double dx = bx - ax, dy = by - ay;
    double len2 = dx * dx + dy * dy;
    double t = len2 > 0 ? -(ax * dx + ay * dy) / len2 : 0;
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    double px = ax + t * dx, py = ay + t * dy;
    return px * px + py * py;
}

typedef struct near_state {
    double x, y, kx, ky, rx, ry;
    double best;
    long bestf;
} near_state;

static void near_edge(const fp_layer *L, near_state *ns, uint32_t ei, long f)
{
    const double *a = L->pts + 2 * (size_t)ei, *b = a + 2;
    if (fmax(a[0], b[0]) < ns->x - ns->rx || fmin(a[0], b[0]) > ns->x + ns->rx ||
        fmax(a[1], b[1]) < ns->y - ns->ry || fmin(a[1], b[1]) > ns->y + ns->ry)
        return;
    double d2 = seg_dist2((a[0] - ns->x) * ns->kx, (a[1] - ns->y) * ns->ky,
                          (b[0] - ns->x) * ns->kx, (b[1] - ns->y) * ns->ky);
    if (d2 < ns->best || (d2 <= ns->best && (ns->bestf < 0 || f < ns->bestf))) {
        ns->best = d2;
        ns->bestf = f;
    }
}

/* The grid's cells within the search box, in finest-cell coordinates. */
typedef struct near_box {
    uint32_t x0, y0, x1, y1;
} near_box;

/* Every boundary edge lies in the leaf cells it crosses (uniform cells are
 * crossed by none), so the nearest edge within reach is among the leaves
 * the search box overlaps: visit those, not every footprint. */
static void near_cell(const fp_layer *L, near_state *ns, const near_box *bx, uint32_t c,
                      int sh, uint32_t cx, uint32_t cy)
{
    if (FP_CELL_TAG(c) == FP_TAG_NODE) {
        int s2 = sh - FP_SUB_BITS;
        for (uint32_t j = 0; j < 4; j++) {
            uint32_t y = (cy << FP_SUB_BITS) | j;
            if ((y << s2) > bx->y1 || (((y + 1) << s2) - 1) < bx->y0) continue;
            for (uint32_t i = 0; i < 4; i++) {
                uint32_t x = (cx << FP_SUB_BITS) | i;
                if ((x << s2) > bx->x1 || (((x + 1) << s2) - 1) < bx->x0) continue;
                near_cell(L, ns, bx, L->cells[FP_CELL_VAL(c) + (j << 2 | i)], s2, x, y);
            }
        }
        return;
    }
    if (FP_CELL_TAG(c) != FP_TAG_LEAF) return;
    const uint32_t *r = L->cands + FP_CELL_VAL(c);
    uint32_t n = r[0];
    r += 5;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t w = *r++;
        if (w & 1) continue; /* the footprint covers the cell: no edge here */
        uint32_t k = *r++;
        for (uint32_t e = 0; e < k; e++) near_edge(L, ns, r[e], (long)(w >> 2));
        r += k;
    }
}

static void grid_nearest(const fp_layer *L, near_state *ns)
{
    double x0 = (ns->x - ns->rx - L->gx0) * L->gsx, x1 = (ns->x + ns->rx - L->gx0) * L->gsx;
    double y0 = (ns->y - ns->ry - L->gy0) * L->gsy, y1 = (ns->y + ns->ry - L->gy0) * L->gsy;
    double g = (double)L->gmax;
    if (!(x1 >= 0 && y1 >= 0 && x0 <= g && y0 <= g)) return; /* beyond the grid */
    /* Clamped in double before the casts (out-of-range casts are undefined). */
    near_box bx = {x0 > 0 ? (uint32_t)x0 : 0, y0 > 0 ? (uint32_t)y0 : 0,
                   x1 < g ? (uint32_t)x1 : L->gmax, y1 < g ? (uint32_t)y1 : L->gmax};
    int sh = L->total_bits - L->root_bits;
    for (uint32_t cy = bx.y0 >> sh; cy <= bx.y1 >> sh; cy++)
        for (uint32_t cx = bx.x0 >> sh; cx <= bx.x1 >> sh; cx++)
            near_cell(L, ns, &bx, L->cells[(cy << L->root_bits) | cx], sh, cx, cy);
}

static fp_match nearest(const fp_layer *L, double x, double y, double max_m)
{
    fp_match m = {-1, FP_MATCH_NONE, NAN};
    near_state ns;
    ns.x = x, ns.y = y;
    ns.ky = DEG * EARTH_RADIUS_M;
    ns.kx = ns.ky * cos(y * DEG);
    if (ns.kx < ns.ky * 1e-6) ns.kx = ns.ky * 1e-6; /* the poles: keep it finite */
    ns.rx = max_m / ns.kx, ns.ry = max_m / ns.ky;
    ns.best = max_m * max_m;
    ns.bestf = -1;
    if (L->kind == FP_INDEX_GRID) {
        /* Widening boxes: an edge found within r is the nearest, since
         * every edge within r lies in that box; most points outside a
         * footprint are near one, so a small box usually settles it. */
        for (double r = fmin(max_m, 250.0);; r = fmin(max_m, r * 4)) {
            ns.rx = r / ns.kx, ns.ry = r / ns.ky;
            ns.best = r * r;
            grid_nearest(L, &ns);
            if (ns.bestf >= 0 || r >= max_m) break;
        }
        if (ns.bestf >= 0) {
            m.index = ns.bestf;
            m.kind = FP_MATCH_NEAREST;
            m.distance_m = sqrt(ns.best);
        }
        return m;
    }
    for (size_t i = 0; i < L->nfeat; i++) {
        const fp_feat *f = &L->feat[i];
        if (x < f->bbox[0] - ns.rx || x > f->bbox[2] + ns.rx || y < f->bbox[1] - ns.ry ||
            y > f->bbox[3] + ns.ry)
            continue;
        if (L->stripe_off) { /* the edges of the stripes near y */
            const uint32_t *off = L->stripe_off + f->stripe0;
            uint32_t s0 = fp__stripe_of(f, y - ns.ry), s1 = fp__stripe_of(f, y + ns.ry);
            for (const uint32_t *e = L->stripe_edges + off[s0],
                                *end = L->stripe_edges + off[s1 + 1];
                 e < end; e++)
                near_edge(L, &ns, *e, (long)i);
        } else { /* an atlas's grid layer keeps no stripes: every edge */
            for (uint32_t r = f->ring0; r < f->ring0 + f->nrings; r++)
                for (uint32_t q = L->ring_start[r]; q + 1 < L->ring_start[r + 1]; q++)
                    near_edge(L, &ns, q, (long)i);
        }
    }
    if (ns.bestf >= 0) {
        m.index = ns.bestf;
        m.kind = FP_MATCH_NEAREST;
        m.distance_m = sqrt(ns.best);
    }
    return m;
}

fp_match fp_layer_locate(const fp_layer *L, double lat, double lon,
                         double nearest_m)
{
    fp_match m = {-1, FP_MATCH_NONE, NAN};
    if (L->base) { /* the nearest finer area, as ONS assigns */
        m = fp_layer_locate(L->base, lat, lon, nearest_m);
        if (m.index >= 0 && (m.index = L->map[m.index]) < 0) {
            m.kind = FP_MATCH_NONE;
            m.distance_m = NAN;
        }
        return m;
    }
    long i = fp_layer_find(L, lat, lon);
    if (i >= 0) {
        m.index = i;
        m.kind = FP_MATCH_CONTAINED;
        m.distance_m = 0;
        return m;
    }
    if (!(nearest_m > 0) || !isfinite(lat) || !isfinite(lon) || lat < -90 ||
        lat > 90 || lon < -180 || lon > 180)
        return m;
    if (nearest_m > 2e7) nearest_m = 2e7; /* half the globe is plenty */
    return nearest(L, lon, lat, nearest_m);
}
