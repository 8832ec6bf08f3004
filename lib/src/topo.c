/*
 * Topology-safe simplification of a layer's shared boundaries.
 *
 * GEOS 3.11 (Debian 12) has no coverage simplification, and simplifying
 * each footprint on its own opens gaps and slivers between neighbours,
 * so this builds the layer's topology itself:
 *   1. vertices: every distinct point, near-coincident ones (snap_m) made
 *      one; rings become cycles of vertex ids (repeats and spikes gone);
 *   2. nodes: vertices where more or fewer than two boundary edges meet,
 *      i.e. where the set of footprints on either side changes;
 *   3. arcs: ring pieces between nodes, stored once however many rings
 *      use them (a ring with no node is one closed arc);
 *   4. each arc simplified once (Douglas-Peucker in local metres), never
 *      by a shortcut whose sweep holds any other vertex of the layer, so
 *      islands, enclaves and neighbouring arcs keep their side;
 *   5. checks: rings that collapse or lose half their area, arcs that
 *      cross or overlap (after rounding to the output precision), and
 *      GEOS validity per footprint; an arc involved is simplified again
 *      with half the tolerance, down to none.
 * Footprints are then reassembled from the arcs, so shared boundaries
 * stay identical on both sides.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ogr_api.h>

#include "internal.h"
#include "topo.h"

#define PI_ 3.14159265358979323846
#define EARTH_R 6371008.8
#define M_PER_DEG (EARTH_R * PI_ / 180.0)
#define NONE32 UINT32_MAX
#define NO_ROUND 255
#define MAX_ROUNDS 64

void fp_simplify_opts_init(fp_simplify_opts *o)
{
    o->tolerance_m = 0;
    o->keep_area_m2 = -1;
    o->precision = -1;
    o->snap_m = 0.001;
}

/* ---- a u64 -> u32 hash map (open addressing; keys stored + 1) ---- */

typedef struct u64map {
    uint64_t *key;
    uint32_t *val;
    size_t mask;
} u64map;

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9u;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

static int map_init(const fp_allocator *a, u64map *m, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n + 16) cap *= 2;
    m->key = fp__calloc(a, cap, sizeof *m->key);
    m->val = fp__malloc(a, cap * sizeof *m->val);
    m->mask = cap - 1;
    return m->key && m->val ? FP_OK : FP_ENOMEM;
}

static void map_free(const fp_allocator *a, u64map *m)
{
    fp__free(a, m->key);
    fp__free(a, m->val);
}

/* The value slot of key; *fresh says it was just inserted (value unset).
 * The map never fills: it is sized for every key up front. */
static uint32_t *map_slot(u64map *m, uint64_t key, int *fresh)
{
    uint64_t k = key + 1;
    size_t i = (size_t)mix64(k) & m->mask;
    while (m->key[i] && m->key[i] != k) i = (i + 1) & m->mask;
    *fresh = !m->key[i];
    m->key[i] = k;
    return &m->val[i];
}

static const uint32_t *map_get(const u64map *m, uint64_t key)
{
    uint64_t k = key + 1;
    size_t i = (size_t)mix64(k) & m->mask;
    while (m->key[i]) {
        if (m->key[i] == k) return &m->val[i];
        i = (i + 1) & m->mask;
    }
    return NULL;
}

/* ---- growable arrays ---- */

typedef struct u32vec {
    uint32_t *v;
    size_t n, cap;
} u32vec;

static int push32(const fp_allocator *a, u32vec *s, uint32_t x)
{
    if (s->n == s->cap && fp__grow(a, (void **)&s->v, &s->cap, s->n + 1, sizeof *s->v))
        return FP_ENOMEM;
    s->v[s->n++] = x;
    return FP_OK;
}

/* ---- the topology ---- */

typedef struct topo {
    fp_ctx *ctx;
    const fp_allocator *a;
    const fp_layer *L;
    size_t nfeat;
    /* vertices: snapped lon/lat, and as written (rounded) */
    size_t nv;
    double *vx, *ox;
    unsigned char *alive; /* used by a kept ring */
    unsigned char *vprec; /* decimals it is rounded to (NO_ROUND: none) */
    int precision;        /* the decimals asked for, -1 none */
    size_t bumped;        /* vertices given more decimals */
    uint32_t *stamp;      /* chain marks during simplification */
    uint32_t token;
    /* rings: cycles of vertex ids */
    size_t nr;
    size_t *rs;           /* rs[r] .. rs[r + 1] in rv */
    uint32_t *rv;
    uint32_t *rfeat;
    unsigned char *rgone; /* degenerate or dropped */
    double *rarea;        /* signed area, m^2, before simplification */
    double *rbox;         /* west, south, east, north of each ring */
    size_t *ras;          /* ras[r] .. ras[r + 1] in rarc */
    uint32_t *rarc;       /* arc << 1 | reversed */
    /* arcs: vertex ids in canonical direction (closed: last == first) */
    size_t na;
    size_t *as;
    uint32_t *av;
    unsigned char *keep;  /* per av entry */
    uint32_t *uses;
    uint32_t *side[2];    /* the first two distinct footprints using it */
    double tol;           /* metres */
    u32vec fix;           /* segments to refine: arc, from, to (positions) */
    /* vertex grid (alive vertices), CSR */
    double gx0, gy0, gcx, gcy;
    size_t gw, gh;
    uint32_t *gstart, *gv;
    fp_simplify_stats st;
} topo;

static void topo_free(topo *t)
{
    const fp_allocator *a = t->a;
    fp__free(a, t->vx);
    fp__free(a, t->ox);
    fp__free(a, t->alive);
    fp__free(a, t->vprec);
    fp__free(a, t->stamp);
    fp__free(a, t->rs);
    fp__free(a, t->rv);
    fp__free(a, t->rfeat);
    fp__free(a, t->rgone);
    fp__free(a, t->rarea);
    fp__free(a, t->rbox);
    fp__free(a, t->ras);
    fp__free(a, t->rarc);
    fp__free(a, t->as);
    fp__free(a, t->av);
    fp__free(a, t->keep);
    fp__free(a, t->uses);
    fp__free(a, t->side[0]);
    fp__free(a, t->side[1]);
    fp__free(a, t->fix.v);
    fp__free(a, t->gstart);
    fp__free(a, t->gv);
}

static int oom(topo *t) { return fp__error(t->ctx, FP_ENOMEM, "out of memory"); }

/* Signed area in m^2 of a closed lon/lat ring given by vertex ids. */
static double ids_area(const double *xy, const uint32_t *ids, size_t n)
{
    if (n < 3) return 0;
    double s = 0, lat = 0;
    double x0 = xy[2 * ids[0]], y0 = xy[2 * ids[0] + 1];
    for (size_t i = 0; i < n; i++) {
        const double *p = xy + 2 * ids[i], *q = xy + 2 * ids[(i + 1) % n];
        s += (p[0] - x0) * (q[1] - y0) - (q[0] - x0) * (p[1] - y0);
        lat += p[1];
    }
    lat /= (double)n;
    return 0.5 * s * M_PER_DEG * M_PER_DEG * cos(lat * PI_ / 180);
}

/* Removes repeated vertices and spikes (a b a) from a cycle. */
static size_t clean_cycle(uint32_t *s, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = s[i];
        if (m && s[m - 1] == v) continue;
        if (m >= 2 && s[m - 2] == v) {
            m--;
            continue;
        }
        s[m++] = v;
    }
    for (;;) { /* where the cycle closes */
        if (m >= 2 && s[m - 1] == s[0]) {
            m--;
        } else if (m >= 3 && s[m - 2] == s[0]) {
            m -= 2;
        } else if (m >= 3 && s[m - 1] == s[1]) {
            memmove(s, s + 1, (m - 1) * sizeof *s);
            m--;
        } else {
            break;
        }
    }
    return m;
}

/* 1: vertices (snapped) and rings as vertex cycles. */
static int build_vertices(topo *t, double snap_m)
{
    const fp_layer *L = t->L;
    const fp_allocator *a = t->a;
    t->nr = L->nrings;
    size_t npts = L->npts;
    t->vx = fp__malloc(a, (2 * npts + 2) * sizeof *t->vx);
    t->rs = fp__malloc(a, (t->nr + 1) * sizeof *t->rs);
    t->rv = fp__malloc(a, (npts + 1) * sizeof *t->rv);
    t->rfeat = fp__malloc(a, (t->nr + 1) * sizeof *t->rfeat);
    t->rgone = fp__calloc(a, t->nr + 1, 1);
    t->rarea = fp__calloc(a, t->nr + 1, sizeof *t->rarea);
    t->rbox = fp__calloc(a, 4 * t->nr + 4, sizeof *t->rbox);
    uint32_t *next = fp__malloc(a, (npts + 1) * sizeof *next);
    u64map cells = {0};
    if (!t->vx || !t->rs || !t->rv || !t->rfeat || !t->rgone || !t->rarea || !t->rbox || !next ||
        map_init(a, &cells, npts)) {
        fp__free(a, next);
        map_free(a, &cells);
        return oom(t);
    }
    for (size_t f = 0; f < L->nfeat; f++)
        for (uint32_t r = L->feat[f].ring0; r < L->feat[f].ring0 + L->feat[f].nrings; r++)
            t->rfeat[r] = (uint32_t)f;
    /* Cells of the snap distance: a point's twin is in its cell or a
     * neighbouring one.  Degrees of latitude; longitude cells are the
     * same number of degrees (narrower on the ground: still exact). */
    double cell = snap_m > 0 ? snap_m / M_PER_DEG : 1e-12;
    size_t nv = 0, nrv = 0;
    for (size_t r = 0; r < t->nr; r++) {
        t->rs[r] = nrv;
        uint32_t p0 = L->ring_start[r], p1 = L->ring_start[r + 1];
        for (uint32_t p = p0; p + 1 < p1; p++) { /* the closing point repeats */
            double x = L->pts[2 * p], y = L->pts[2 * p + 1];
            int64_t ix = (int64_t)floor(x / cell), iy = (int64_t)floor(y / cell);
            uint32_t found = NONE32;
            for (int dx = -1; dx <= 1 && found == NONE32; dx++)
                for (int dy = -1; dy <= 1 && found == NONE32; dy++) {
                    if (snap_m <= 0 && (dx || dy)) continue;
                    uint64_t key = mix64((uint64_t)(ix + dx)) ^ (uint64_t)(iy + dy);
                    const uint32_t *h = map_get(&cells, key);
                    for (uint32_t v = h ? *h : NONE32; v != NONE32; v = next[v]) {
                        double ex = t->vx[2 * v], ey = t->vx[2 * v + 1];
                        if (ex == x && ey == y) {
                            found = v;
                            break;
                        }
                        /* Within the snap distance in degrees of
                         * latitude on both axes (a little less on the
                         * ground east-west: on the safe side). */
                        if (snap_m > 0 && fabs(ex - x) <= cell && fabs(ey - y) <= cell) {
                            found = v;
                            t->st.snapped++;
                            break;
                        }
                    }
                }
            if (found == NONE32) {
                /* Different cells may hash alike: the chain holds both. */
                int fresh;
                uint64_t key = mix64((uint64_t)ix) ^ (uint64_t)iy;
                uint32_t *h = map_slot(&cells, key, &fresh);
                found = (uint32_t)nv++;
                t->vx[2 * found] = x;
                t->vx[2 * found + 1] = y;
                next[found] = fresh ? NONE32 : *h;
                *h = found;
            }
            t->rv[nrv++] = found;
        }
        size_t m = clean_cycle(t->rv + t->rs[r], nrv - t->rs[r]);
        nrv = t->rs[r] + m;
        if (m < 3) {
            t->rgone[r] = 1;
            nrv = t->rs[r];
        } else {
            t->rarea[r] = ids_area(t->vx, t->rv + t->rs[r], m);
            double *b = t->rbox + 4 * r;
            b[0] = b[1] = INFINITY;
            b[2] = b[3] = -INFINITY;
            for (size_t k = t->rs[r]; k < nrv; k++) {
                const double *p = t->vx + 2 * t->rv[k];
                b[0] = fmin(b[0], p[0]), b[2] = fmax(b[2], p[0]);
                b[1] = fmin(b[1], p[1]), b[3] = fmax(b[3], p[1]);
            }
        }
    }
    t->rs[t->nr] = nrv;
    t->nv = nv;
    fp__free(a, next);
    map_free(a, &cells);
    t->ox = fp__malloc(a, (2 * nv + 2) * sizeof *t->ox);
    t->alive = fp__calloc(a, nv + 1, 1);
    t->vprec = fp__malloc(a, nv + 1);
    t->stamp = fp__calloc(a, nv + 1, sizeof *t->stamp);
    if (!t->ox || !t->alive || !t->stamp || !t->vprec) return oom(t);
    memset(t->vprec, NO_ROUND, nv + 1);
    return FP_OK;
}

static uint64_t edge_key(uint32_t a, uint32_t b)
{
    return a < b ? (uint64_t)a << 32 | b : (uint64_t)b << 32 | a;
}

/* 2 and 3: nodes, arcs, and every ring as a sequence of arcs. */
static int build_arcs(topo *t)
{
    const fp_allocator *a = t->a;
    size_t nrv = t->rs[t->nr];
    uint32_t *deg = fp__calloc(a, t->nv + 1, sizeof *deg);
    u64map edges = {0}, arcs = {0};
    u32vec av = {0}, rarc = {0}, piece = {0};
    size_t *as = NULL, ascap = 0;
    int rc = FP_OK;
    t->ras = fp__malloc(a, (t->nr + 1) * sizeof *t->ras);
    if (!deg || !t->ras || map_init(a, &edges, nrv) || map_init(a, &arcs, nrv)) {
        rc = oom(t);
        goto out;
    }
    for (size_t r = 0; r < t->nr; r++) {
        if (t->rgone[r]) continue;
        const uint32_t *s = t->rv + t->rs[r];
        size_t m = t->rs[r + 1] - t->rs[r];
        for (size_t i = 0; i < m; i++) {
            uint32_t u = s[i], v = s[(i + 1) % m];
            int fresh;
            uint32_t *c = map_slot(&edges, edge_key(u, v), &fresh);
            if (fresh) {
                *c = 0;
                deg[u]++;
                deg[v]++;
            }
            (*c)++;
        }
    }
    size_t na = 0;
    for (size_t r = 0; r < t->nr; r++) {
        t->ras[r] = rarc.n;
        if (t->rgone[r]) continue;
        const uint32_t *s = t->rv + t->rs[r];
        size_t m = t->rs[r + 1] - t->rs[r];
        size_t j0 = m;
        for (size_t i = 0; i < m && j0 == m; i++)
            if (deg[s[i]] != 2) j0 = i;
        int closed_only = j0 == m;
        if (closed_only) { /* no node: start at the smallest id */
            j0 = 0;
            for (size_t i = 1; i < m; i++)
                if (s[i] < s[j0]) j0 = i;
        }
        size_t i = j0;
        do {
            piece.n = 0;
            size_t k = i;
            int bad = 0;
            if (closed_only) { /* the whole cycle, back to its start */
                for (size_t q = 0; q < m; q++) bad |= push32(a, &piece, s[(j0 + q) % m]);
                k = j0;
            } else { /* on to the next node */
                do {
                    bad |= push32(a, &piece, s[k]);
                    k = (k + 1) % m;
                } while (deg[s[k]] == 2);
            }
            if (bad || push32(a, &piece, s[k])) {
                rc = oom(t);
                goto out;
            }
            /* Canonical direction: the smaller (first, second) pair. */
            size_t n = piece.n;
            const uint32_t *p = piece.v;
            int fwd = p[0] < p[n - 1] || (p[0] == p[n - 1] && p[1] <= p[n - 2]);
            uint64_t key = fwd ? (uint64_t)p[0] << 32 | p[1]
                               : (uint64_t)p[n - 1] << 32 | p[n - 2];
            int fresh;
            uint32_t *id = map_slot(&arcs, key, &fresh);
            if (fresh) {
                *id = (uint32_t)na;
                if (fp__grow(a, (void **)&as, &ascap, na + 2, sizeof *as)) {
                    rc = oom(t);
                    goto out;
                }
                as[na] = av.n;
                for (size_t q = 0; q < n; q++)
                    if (push32(a, &av, fwd ? p[q] : p[n - 1 - q])) {
                        rc = oom(t);
                        goto out;
                    }
                na++;
                as[na] = av.n;
            }
            if (push32(a, &rarc, *id << 1 | (uint32_t)!fwd)) {
                rc = oom(t);
                goto out;
            }
            i = k;
        } while (i != j0);
    }
    t->ras[t->nr] = rarc.n;
    t->na = na;
    t->as = as;
    t->av = av.v;
    t->rarc = rarc.v;
    as = NULL;
    av.v = rarc.v = NULL;
    if (!t->as) { /* no rings at all */
        t->as = fp__calloc(a, 1, sizeof *t->as);
        if (!t->as) {
            rc = oom(t);
            goto out;
        }
    }
    size_t nav = t->as[na];
    t->keep = fp__calloc(a, nav + 1, 1);
    t->uses = fp__calloc(a, na + 1, sizeof *t->uses);
    t->side[0] = fp__malloc(a, (na + 1) * sizeof *t->side[0]);
    t->side[1] = fp__malloc(a, (na + 1) * sizeof *t->side[1]);
    if (!t->keep || !t->uses || !t->side[0] || !t->side[1]) {
        rc = oom(t);
        goto out;
    }
    for (size_t i = 0; i < na; i++) t->side[0][i] = t->side[1][i] = NONE32;
    for (size_t r = 0; r < t->nr; r++)
        for (size_t k = t->ras[r]; k < t->ras[r + 1]; k++) {
            uint32_t arc = t->rarc[k] >> 1, f = t->rfeat[r];
            t->uses[arc]++;
            if (t->side[0][arc] == NONE32) t->side[0][arc] = f;
            else if (t->side[0][arc] != f && t->side[1][arc] == NONE32) t->side[1][arc] = f;
        }
    t->st.arcs = na;
    for (size_t i = 0; i < na; i++) t->st.shared_arcs += t->side[1][i] != NONE32;
out:
    fp__free(a, deg);
    fp__free(a, as);
    fp__free(a, av.v);
    fp__free(a, rarc.v);
    fp__free(a, piece.v);
    map_free(a, &edges);
    map_free(a, &arcs);
    return rc;
}

static int build_topo(topo *t, fp_ctx *ctx, const fp_layer *L, double snap_m)
{
    memset(t, 0, sizeof *t);
    t->ctx = ctx;
    t->a = &ctx->alloc;
    t->L = L;
    t->nfeat = L->nfeat;
    int rc = build_vertices(t, snap_m);
    if (!rc) rc = build_arcs(t);
    return rc;
}

/* ---- the vertex grid ---- */

static int build_grid(topo *t)
{
    const fp_allocator *a = t->a;
    double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
    size_t n = 0;
    for (size_t v = 0; v < t->nv; v++) {
        if (!t->alive[v]) continue;
        double x = t->vx[2 * v], y = t->vx[2 * v + 1];
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
        n++;
    }
    if (!n) x0 = y0 = 0, x1 = y1 = 1;
    double w = x1 - x0, h = y1 - y0;
    if (!(w > 0)) w = 1e-9;
    if (!(h > 0)) h = 1e-9;
    /* About two vertices a cell. */
    double cells = (double)n / 2 + 1;
    double gw = ceil(sqrt(cells * w / h)), gh = ceil(sqrt(cells * h / w));
    if (gw < 1) gw = 1;
    if (gh < 1) gh = 1;
    if (gw > 4096) gw = 4096;
    if (gh > 4096) gh = 4096;
    t->gw = (size_t)gw;
    t->gh = (size_t)gh;
    t->gx0 = x0;
    t->gy0 = y0;
    t->gcx = t->gw / w * (1 - 1e-12);
    t->gcy = t->gh / h * (1 - 1e-12);
    size_t nc = t->gw * t->gh;
    t->gstart = fp__calloc(a, nc + 2, sizeof *t->gstart);
    t->gv = fp__malloc(a, (n + 1) * sizeof *t->gv);
    if (!t->gstart || !t->gv) return oom(t);
    for (size_t v = 0; v < t->nv; v++) {
        if (!t->alive[v]) continue;
        size_t cx = (size_t)((t->vx[2 * v] - x0) * t->gcx);
        size_t cy = (size_t)((t->vx[2 * v + 1] - y0) * t->gcy);
        t->gstart[cy * t->gw + cx + 2]++;
    }
    for (size_t c = 2; c < nc + 2; c++) t->gstart[c] += t->gstart[c - 1];
    for (size_t v = 0; v < t->nv; v++) {
        if (!t->alive[v]) continue;
        size_t cx = (size_t)((t->vx[2 * v] - x0) * t->gcx);
        size_t cy = (size_t)((t->vx[2 * v + 1] - y0) * t->gcy);
        t->gv[t->gstart[cy * t->gw + cx + 1]++] = (uint32_t)v;
    }
    return FP_OK;
}

static size_t clampcell(double c, size_t n)
{
    if (!(c > 0)) return 0;
    if (c >= (double)n) return n - 1;
    return (size_t)c;
}

/* ---- simplification of one arc ---- */

typedef struct proj {
    double kx, ky; /* metres per degree of longitude / latitude */
} proj;

static double seg_dist(const proj *pj, const double *p, const double *a, const double *b)
{
    double ax = a[0] * pj->kx, ay = a[1] * pj->ky, bx = b[0] * pj->kx, by = b[1] * pj->ky;
    double px = p[0] * pj->kx, py = p[1] * pj->ky;
    double dx = bx - ax, dy = by - ay, l2 = dx * dx + dy * dy;
    double u = l2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / l2 : 0;
    if (u < 0) u = 0;
    if (u > 1) u = 1;
    double ex = ax + u * dx - px, ey = ay + u * dy - py;
    return sqrt(ex * ex + ey * ey);
}

/* Is w inside or on the closed polygon of vertex ids c[0..n-1] (closed
 * by c[n-1] -> c[0])?  Even-odd, exact. */
static int in_chain(const double *xy, const uint32_t *c, size_t n, const double *w)
{
    int in = 0;
    for (size_t i = 0; i < n; i++) {
        const double *p = xy + 2 * c[i], *q = xy + 2 * c[(i + 1) % n];
        int o = fp__orient(p[0], p[1], q[0], q[1], w[0], w[1]);
        if (o == 0 && w[0] >= fmin(p[0], q[0]) && w[0] <= fmax(p[0], q[0]) &&
            w[1] >= fmin(p[1], q[1]) && w[1] <= fmax(p[1], q[1]))
            return 1; /* on the boundary: as good as inside */
        if (p[1] <= w[1] && q[1] > w[1] && o > 0) in = !in;
        else if (q[1] <= w[1] && p[1] > w[1] && o < 0) in = !in;
    }
    return in;
}

/* Would replacing chain c[i..j] by its chord sweep over another vertex? */
static int blocked(topo *t, const proj *pj, const uint32_t *c, size_t i, size_t j, double tol)
{
    if (++t->token == 0) { /* wrapped: clear the marks */
        memset(t->stamp, 0, t->nv * sizeof *t->stamp);
        t->token = 1;
    }
    double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
    for (size_t k = i; k <= j; k++) {
        const double *p = t->vx + 2 * c[k];
        t->stamp[c[k]] = t->token;
        x0 = fmin(x0, p[0]), x1 = fmax(x1, p[0]);
        y0 = fmin(y0, p[1]), y1 = fmax(y1, p[1]);
    }
    size_t cx0 = clampcell((x0 - t->gx0) * t->gcx, t->gw), cx1 = clampcell((x1 - t->gx0) * t->gcx, t->gw);
    size_t cy0 = clampcell((y0 - t->gy0) * t->gcy, t->gh), cy1 = clampcell((y1 - t->gy0) * t->gcy, t->gh);
    const double *a = t->vx + 2 * c[i], *b = t->vx + 2 * c[j];
    for (size_t cy = cy0; cy <= cy1; cy++)
        for (size_t cx = cx0; cx <= cx1; cx++) {
            size_t cell = cy * t->gw + cx;
            for (uint32_t k = t->gstart[cell]; k < t->gstart[cell + 1]; k++) {
                uint32_t v = t->gv[k];
                if (t->stamp[v] == t->token) continue;
                const double *w = t->vx + 2 * v;
                if (w[0] < x0 || w[0] > x1 || w[1] < y0 || w[1] > y1) continue;
                /* The sweep lies within tol of the chord: a cheap reject. */
                if (seg_dist(pj, w, a, b) > tol * (1 + 1e-9) + 1e-6) continue;
                if (in_chain(t->vx, c + i, j - i + 1, w)) return 1;
            }
        }
    return 0;
}

typedef struct span {
    size_t i, j;
} span;

/* Douglas-Peucker between kept vertices i and j of arc c[] (keep[] set at
 * both ends), with the sweep check. */
static int dp(topo *t, const proj *pj, const uint32_t *c, unsigned char *keep, size_t i0,
              size_t j0, double tol, span **stack, size_t *cap)
{
    size_t top = 0;
    if (fp__grow(t->a, (void **)stack, cap, 1, sizeof **stack)) return oom(t);
    (*stack)[top++] = (span){i0, j0};
    while (top) {
        span s = (*stack)[--top];
        if (s.j - s.i < 2) continue;
        const double *a = t->vx + 2 * c[s.i], *b = t->vx + 2 * c[s.j];
        double dmax = -1;
        size_t m = s.i + 1;
        for (size_t k = s.i + 1; k < s.j; k++) {
            double d = seg_dist(pj, t->vx + 2 * c[k], a, b);
            if (d > dmax) dmax = d, m = k;
        }
        if (dmax <= tol && !blocked(t, pj, c, s.i, s.j, tol)) continue;
        keep[m] = 1;
        if (fp__grow(t->a, (void **)stack, cap, top + 2, sizeof **stack)) return oom(t);
        (*stack)[top++] = (span){s.i, m};
        (*stack)[top++] = (span){m, s.j};
    }
    return FP_OK;
}

/* Metres per degree about an arc's mean latitude. */
static proj arc_proj(const topo *t, size_t arc)
{
    const uint32_t *c = t->av + t->as[arc];
    size_t n = t->as[arc + 1] - t->as[arc];
    double lat0 = 0;
    for (size_t k = 0; k < n; k++) lat0 += t->vx[2 * c[k] + 1];
    lat0 /= (double)(n ? n : 1);
    return (proj){M_PER_DEG * cos(lat0 * PI_ / 180), M_PER_DEG};
}

static int simplify_arc(topo *t, size_t arc, span **stack, size_t *cap)
{
    const uint32_t *c = t->av + t->as[arc];
    size_t n = t->as[arc + 1] - t->as[arc];
    unsigned char *keep = t->keep + t->as[arc];
    double tol = t->tol;
    if (tol <= 0 || n <= 2) {
        memset(keep, 1, n);
        return FP_OK;
    }
    memset(keep, 0, n);
    keep[0] = keep[n - 1] = 1;
    proj pj = arc_proj(t, arc);
    if (c[0] != c[n - 1]) return dp(t, &pj, c, keep, 0, n - 1, tol, stack, cap);
    /* A closed arc: split at its farthest vertex, and keep a triangle at
     * least (the ring checks decide whether that is enough). */
    if (n < 4) {
        memset(keep, 1, n);
        return FP_OK;
    }
    size_t far = 1;
    double best = -1;
    const double *p0 = t->vx + 2 * c[0];
    for (size_t k = 1; k + 1 < n; k++) {
        const double *p = t->vx + 2 * c[k];
        double dx = (p[0] - p0[0]) * pj.kx, dy = (p[1] - p0[1]) * pj.ky;
        if (dx * dx + dy * dy > best) best = dx * dx + dy * dy, far = k;
    }
    keep[far] = 1;
    int rc = dp(t, &pj, c, keep, 0, far, tol, stack, cap);
    if (!rc) rc = dp(t, &pj, c, keep, far, n - 1, tol, stack, cap);
    if (rc) return rc;
    size_t kept = 0;
    for (size_t k = 0; k < n; k++) kept += keep[k];
    if (kept < 4) {
        size_t m = 0;
        double dm = -1;
        for (size_t k = 1; k + 1 < n; k++) {
            if (k == far) continue;
            double d = seg_dist(&pj, t->vx + 2 * c[k], p0, t->vx + 2 * c[far]);
            if (d > dm) dm = d, m = k;
        }
        if (m) keep[m] = 1;
    }
    return FP_OK;
}

/* ---- reassembly and checks ---- */

/* The vertex ids of ring r as simplified (open cycle, no repeats). */
static int ring_ids(topo *t, size_t r, u32vec *out)
{
    out->n = 0;
    for (size_t k = t->ras[r]; k < t->ras[r + 1]; k++) {
        uint32_t arc = t->rarc[k] >> 1, rev = t->rarc[k] & 1;
        const uint32_t *c = t->av + t->as[arc];
        const unsigned char *keep = t->keep + t->as[arc];
        size_t n = t->as[arc + 1] - t->as[arc];
        for (size_t q = 0; q + 1 < n; q++) { /* the last is the next's first */
            size_t i = rev ? n - 1 - q : q;
            if (keep[i] && push32(t->a, out, c[i])) return oom(t);
        }
    }
    return FP_OK;
}

/* Two more decimals for vertex v (rounding made it meet another
 * boundary, and no vertex is left to restore there). */
static void bump(topo *t, uint32_t v)
{
    if (t->vprec[v] == NO_ROUND || t->vprec[v] >= 15) return;
    t->vprec[v] = (unsigned char)(t->vprec[v] + 2 > 15 ? 15 : t->vprec[v] + 2);
    t->bumped++;
}

/* Marks the stretch of arc between kept positions i and j for refining;
 * at full detail already, its ends get more decimals instead. */
static int flag_seg(topo *t, uint32_t arc, uint32_t i, uint32_t j)
{
    if (j - i < 2) {
        const uint32_t *c = t->av + t->as[arc];
        bump(t, c[i]);
        bump(t, c[j]);
        return FP_OK;
    }
    if (push32(t->a, &t->fix, arc) || push32(t->a, &t->fix, i) || push32(t->a, &t->fix, j))
        return oom(t);
    return FP_OK;
}

static int flag_ring(topo *t, size_t r)
{
    for (size_t k = t->ras[r]; k < t->ras[r + 1]; k++) {
        uint32_t arc = t->rarc[k] >> 1;
        const unsigned char *keep = t->keep + t->as[arc];
        size_t n = t->as[arc + 1] - t->as[arc], prev = 0;
        for (size_t q = 1; q < n; q++) {
            if (!keep[q]) continue;
            if (flag_seg(t, arc, (uint32_t)prev, (uint32_t)q)) return FP_ENOMEM;
            prev = q;
        }
    }
    return FP_OK;
}

static int droppable(topo *t, uint32_t r);
static void drop_ring(topo *t, uint32_t r);

/* Rings that collapsed, turned over or lost half their area. */
static int check_rings(topo *t, u32vec *ids, size_t *bad)
{
    for (size_t r = 0; r < t->nr; r++) {
        if (t->rgone[r]) continue;
        int rc = ring_ids(t, r, ids);
        if (rc) return rc;
        /* Rounding can make neighbours equal. */
        size_t m = 0;
        for (size_t i = 0; i < ids->n; i++) {
            const double *p = t->ox + 2 * ids->v[i];
            if (m && t->ox[2 * ids->v[m - 1]] == p[0] && t->ox[2 * ids->v[m - 1] + 1] == p[1])
                continue;
            ids->v[m++] = ids->v[i];
        }
        double a = ids_area(t->ox, ids->v, m), a0 = t->rarea[r];
        if (m < 3 || a * a0 <= 0 || fabs(a) < 0.5 * fabs(a0)) {
            size_t before = t->fix.n, bumped = t->bumped;
            if (t->tol > 0 || t->precision < 0 || !droppable(t, (uint32_t)r)) {
                if (flag_ring(t, r)) return FP_ENOMEM;
                if (t->fix.n > before || t->bumped > bumped) (*bad)++;
            } else {
                /* Only rounding could collapse it: an islet smaller than
                 * the grid of the output precision. */
                t->bumped = bumped;
                drop_ring(t, (uint32_t)r);
                (*bad)++;
            }
        }
    }
    return FP_OK;
}

/* Segments of the simplified arcs, for the crossing check. */
typedef struct seg {
    uint32_t a, b;   /* vertex ids */
    uint32_t arc;
    uint32_t pa, pb; /* their positions in the arc */
} seg;

static int segs_touch(const double *xy, const seg *s, const seg *u)
{
    const double *p = xy + 2 * s->a, *q = xy + 2 * s->b, *r = xy + 2 * u->a, *w = xy + 2 * u->b;
    int shared = (s->a == u->a) + (s->a == u->b) + (s->b == u->a) + (s->b == u->b);
    if (shared >= 2) return 1; /* the same edge twice: a collapse */
    if (shared == 1) {
        /* Meeting at a common vertex is fine; running on together is not. */
        const double *o, *e1, *e2;
        if (s->a == u->a) o = p, e1 = q, e2 = w;
        else if (s->a == u->b) o = p, e1 = q, e2 = r;
        else if (s->b == u->a) o = q, e1 = p, e2 = w;
        else o = q, e1 = p, e2 = r;
        if (fp__orient(o[0], o[1], e1[0], e1[1], e2[0], e2[1]) != 0) return 0;
        return (e1[0] - o[0]) * (e2[0] - o[0]) + (e1[1] - o[1]) * (e2[1] - o[1]) > 0;
    }
    int o1 = fp__orient(p[0], p[1], q[0], q[1], r[0], r[1]);
    int o2 = fp__orient(p[0], p[1], q[0], q[1], w[0], w[1]);
    int o3 = fp__orient(r[0], r[1], w[0], w[1], p[0], p[1]);
    int o4 = fp__orient(r[0], r[1], w[0], w[1], q[0], q[1]);
    if (o1 * o2 > 0 || o3 * o4 > 0) return 0;
    if (o1 || o2 || o3 || o4) return 1;
    /* Collinear: do the projections overlap? */
    int ax = p[0] != q[0];
    double s0 = fmin(p[!ax], q[!ax]), s1 = fmax(p[!ax], q[!ax]);
    double u0 = fmin(r[!ax], w[!ax]), u1 = fmax(r[!ax], w[!ax]);
    return s0 <= u1 && u0 <= s1;
}

static int check_crossings(topo *t, size_t *bad)
{
    const fp_allocator *a = t->a;
    seg *segs = NULL;
    size_t ns = 0, cap = 0;
    double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
    for (size_t arc = 0; arc < t->na; arc++) {
        if (!t->uses[arc]) continue;
        const uint32_t *c = t->av + t->as[arc];
        const unsigned char *keep = t->keep + t->as[arc];
        size_t n = t->as[arc + 1] - t->as[arc], prev = 0;
        for (size_t k = 1; k < n; k++) {
            if (!keep[k]) continue;
            const double *p = t->ox + 2 * c[prev], *q = t->ox + 2 * c[k];
            if (p[0] == q[0] && p[1] == q[1] && c[prev] != c[k]) {
                /* Two vertices rounded onto one point: one of them goes
                 * (never a node); an arc left as a point fails the ring
                 * check. */
                if (k + 1 < n) {
                    t->keep[t->as[arc] + k] = 0;
                    continue;
                }
                if (prev > 0) {
                    t->keep[t->as[arc] + prev] = 0;
                    size_t q2 = prev;
                    while (q2 > 0 && !keep[--q2]) {}
                    prev = q2;
                    ns--; /* the segment that ended at it */
                    /* (its grid box stays a little large: harmless) */
                }
            }
            if (fp__grow(a, (void **)&segs, &cap, ns + 1, sizeof *segs)) {
                fp__free(a, segs);
                return oom(t);
            }
            segs[ns++] = (seg){c[prev], c[k], (uint32_t)arc, (uint32_t)prev, (uint32_t)k};
            x0 = fmin(x0, fmin(p[0], q[0])), x1 = fmax(x1, fmax(p[0], q[0]));
            y0 = fmin(y0, fmin(p[1], q[1])), y1 = fmax(y1, fmax(p[1], q[1]));
            prev = k;
        }
    }
    if (ns < 2) {
        fp__free(a, segs);
        return FP_OK;
    }
    /* A grid of about one segment a cell; each segment in every cell its
     * box meets; a pair is tested in the cell holding the low corner of
     * the overlap of their boxes only. */
    double w = fmax(x1 - x0, 1e-9), h = fmax(y1 - y0, 1e-9);
    double gwd = ceil(sqrt((double)ns * w / h)), ghd = ceil(sqrt((double)ns * h / w));
    size_t gw = (size_t)fmin(fmax(gwd, 1), 2048), gh = (size_t)fmin(fmax(ghd, 1), 2048);
    double cx = gw / w * (1 - 1e-12), cy = gh / h * (1 - 1e-12);
    size_t nc = gw * gh;
    uint32_t *start = fp__calloc(a, nc + 2, sizeof *start);
    uint32_t *list = NULL;
    size_t total = 0;
    int rc = FP_OK;
    if (!start) {
        fp__free(a, segs);
        return oom(t);
    }
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < ns; i++) {
            const double *p = t->ox + 2 * segs[i].a, *q = t->ox + 2 * segs[i].b;
            size_t gx0 = clampcell((fmin(p[0], q[0]) - x0) * cx, gw), gx1 = clampcell((fmax(p[0], q[0]) - x0) * cx, gw);
            size_t gy0 = clampcell((fmin(p[1], q[1]) - y0) * cy, gh), gy1 = clampcell((fmax(p[1], q[1]) - y0) * cy, gh);
            for (size_t gy = gy0; gy <= gy1; gy++)
                for (size_t gx = gx0; gx <= gx1; gx++) {
                    if (pass == 0) start[gy * gw + gx + 2]++;
                    else list[start[gy * gw + gx + 1]++] = (uint32_t)i;
                }
        }
        if (pass == 0) {
            for (size_t c = 2; c < nc + 2; c++) start[c] += start[c - 1];
            total = start[nc + 1];
            list = fp__malloc(a, (total + 1) * sizeof *list);
            if (!list) {
                rc = oom(t);
                break;
            }
        }
    }
    for (size_t cell = 0; cell < nc && !rc; cell++) {
        size_t gx = cell % gw, gy = cell / gw;
        for (uint32_t i = start[cell]; i < start[cell + 1]; i++)
            for (uint32_t j = i + 1; j < start[cell + 1]; j++) {
                const seg *s = &segs[list[i]], *u = &segs[list[j]];
                const double *p = t->ox + 2 * s->a, *q = t->ox + 2 * s->b;
                const double *r = t->ox + 2 * u->a, *v = t->ox + 2 * u->b;
                double ox0 = fmax(fmin(p[0], q[0]), fmin(r[0], v[0]));
                double oy0 = fmax(fmin(p[1], q[1]), fmin(r[1], v[1]));
                if (ox0 > fmin(fmax(p[0], q[0]), fmax(r[0], v[0])) ||
                    oy0 > fmin(fmax(p[1], q[1]), fmax(r[1], v[1])))
                    continue;
                if (clampcell((ox0 - x0) * cx, gw) != gx || clampcell((oy0 - y0) * cy, gh) != gy)
                    continue;
                if (segs_touch(t->ox, s, u)) {
                    if (flag_seg(t, s->arc, s->pa, s->pb) || flag_seg(t, u->arc, u->pa, u->pb))
                        rc = FP_ENOMEM;
                    (*bad)++;
                }
            }
    }
    fp__free(a, start);
    fp__free(a, list);
    fp__free(a, segs);
    return rc;
}

/* Footprint f's kept rings as coordinate arrays (closed). */
typedef struct ringset {
    double **pts;
    size_t *np, *off;
    size_t n, cap;
    double *buf;
    size_t nbuf, bufcap;
} ringset;

static void ringset_free(const fp_allocator *a, ringset *s)
{
    fp__free(a, s->pts);
    fp__free(a, s->np);
    fp__free(a, s->off);
    fp__free(a, s->buf);
}

static int ringset_room(const fp_allocator *a, ringset *s)
{
    if (s->n < s->cap) return FP_OK;
    size_t cap = s->cap ? 2 * s->cap : 8;
    double **pts = fp__realloc(a, s->pts, cap * sizeof *pts);
    if (pts) s->pts = pts;
    size_t *np = pts ? fp__realloc(a, s->np, cap * sizeof *np) : NULL;
    if (np) s->np = np;
    size_t *off = np ? fp__realloc(a, s->off, cap * sizeof *off) : NULL;
    if (off) s->off = off;
    if (!off) return FP_ENOMEM;
    s->cap = cap;
    return FP_OK;
}

/* simplified: the kept vertices as rounded (ox); else the input (vx). */
static int feature_rings(topo *t, size_t f, int simplified, u32vec *ids, ringset *s)
{
    const fp_feat *ft = &t->L->feat[f];
    s->n = 0;
    s->nbuf = 0;
    for (uint32_t r = ft->ring0; r < ft->ring0 + ft->nrings; r++) {
        if (t->rgone[r]) continue;
        int rc;
        if (simplified) {
            rc = ring_ids(t, r, ids);
        } else {
            ids->n = 0;
            rc = FP_OK;
            for (size_t k = t->rs[r]; k < t->rs[r + 1] && !rc; k++) rc = push32(t->a, ids, t->rv[k]);
        }
        if (rc) return rc;
        if (!ids->n) continue;
        const double *xy = simplified ? t->ox : t->vx;
        if (fp__grow(t->a, (void **)&s->buf, &s->bufcap, 2 * (s->nbuf + ids->n + 1), sizeof *s->buf) ||
            ringset_room(t->a, s))
            return oom(t);
        s->off[s->n] = s->nbuf;
        size_t m = 0;
        for (size_t i = 0; i <= ids->n; i++) {
            const double *p = xy + 2 * ids->v[i % ids->n];
            double *d = s->buf + 2 * (s->nbuf + m);
            if (m && i < ids->n && d[-2] == p[0] && d[-1] == p[1]) continue;
            d[0] = p[0];
            d[1] = p[1];
            m++;
        }
        s->np[s->n++] = m;
        s->nbuf += m;
    }
    for (size_t i = 0; i < s->n; i++) s->pts[i] = s->buf + 2 * s->off[i];
    return FP_OK;
}

/* GEOS validity of every footprint (simplified: from ox; else the
 * input); valid[f] = 1 / 0. */
static int check_valid(topo *t, int simplified, const unsigned char *skip, unsigned char *valid,
                       size_t *bad)
{
    u32vec ids = {0};
    ringset s = {0};
    int rc = FP_OK;
    fp__gdal_msgs cap;
    fp__gdal_capture_push(&cap);
    for (size_t f = 0; f < t->nfeat && !rc; f++) {
        valid[f] = 1;
        if (skip && skip[f]) continue;
        rc = feature_rings(t, f, simplified, &ids, &s);
        if (rc || !s.n) continue;
        OGRGeometryH g = fp__rings_ogr(t->ctx, s.n, (const double *const *)s.pts, s.np);
        if (!g) {
            rc = FP_ENOMEM;
            break;
        }
        valid[f] = OGR_G_IsValid(g) ? 1 : 0;
        OGR_G_DestroyGeometry(g);
        if (!valid[f]) {
            (*bad)++;
            const fp_feat *ft = &t->L->feat[f];
            for (uint32_t r = ft->ring0; r < ft->ring0 + ft->nrings && !rc; r++)
                if (!t->rgone[r]) rc = flag_ring(t, r);
        }
    }
    fp__gdal_capture_pop();
    fp__free(t->a, ids.v);
    ringset_free(t->a, &s);
    return rc;
}

/* Small islands and holes that touch nothing may go (never a footprint's
 * largest ring, never one with another vertex inside). */
/* May ring r go?  Not a footprint's largest ring, touching no other
 * ring, with no other vertex inside (the grid holds them), and inside no
 * other ring (an islet in another footprint's lake is ground the union
 * would lose). */
static int droppable(topo *t, uint32_t r)
{
    const fp_feat *ft = &t->L->feat[t->rfeat[r]];
    for (uint32_t q = ft->ring0; q < ft->ring0 + ft->nrings; q++)
        if (q != r && !t->rgone[q] && fabs(t->rarea[q]) > fabs(t->rarea[r])) goto not_largest;
    return 0;
not_largest:
    for (size_t k = t->ras[r]; k < t->ras[r + 1]; k++)
        if (t->uses[t->rarc[k] >> 1] > 1) return 0;
    const uint32_t *c = t->rv + t->rs[r];
    size_t n = t->rs[r + 1] - t->rs[r];
    const double *w0 = t->vx + 2 * c[0];
    for (uint32_t q = 0; q < t->nr; q++) {
        const double *b = t->rbox + 4 * q;
        if (q == r || t->rgone[q] || w0[0] < b[0] || w0[0] > b[2] || w0[1] < b[1] || w0[1] > b[3])
            continue;
        if (in_chain(t->vx, t->rv + t->rs[q], t->rs[q + 1] - t->rs[q], w0)) return 0;
    }
    if (++t->token == 0) {
        memset(t->stamp, 0, t->nv * sizeof *t->stamp);
        t->token = 1;
    }
    double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
    for (size_t k = 0; k < n; k++) {
        const double *p = t->vx + 2 * c[k];
        t->stamp[c[k]] = t->token;
        x0 = fmin(x0, p[0]), x1 = fmax(x1, p[0]);
        y0 = fmin(y0, p[1]), y1 = fmax(y1, p[1]);
    }
    size_t cx0 = clampcell((x0 - t->gx0) * t->gcx, t->gw), cx1 = clampcell((x1 - t->gx0) * t->gcx, t->gw);
    size_t cy0 = clampcell((y0 - t->gy0) * t->gcy, t->gh), cy1 = clampcell((y1 - t->gy0) * t->gcy, t->gh);
    for (size_t cy = cy0; cy <= cy1; cy++)
        for (size_t cx = cx0; cx <= cx1; cx++) {
            size_t cell = cy * t->gw + cx;
            for (uint32_t k = t->gstart[cell]; k < t->gstart[cell + 1]; k++) {
                uint32_t v = t->gv[k];
                const double *w = t->vx + 2 * v;
                if (t->stamp[v] == t->token || w[0] < x0 || w[0] > x1 || w[1] < y0 || w[1] > y1)
                    continue;
                if (in_chain(t->vx, c, n, w)) return 0;
            }
        }
    return 1;
}

static void drop_ring(topo *t, uint32_t r)
{
    t->rgone[r] = 1;
    t->st.rings_dropped++;
    for (size_t k = t->ras[r]; k < t->ras[r + 1]; k++) t->uses[t->rarc[k] >> 1]--;
}

/* Small islands and holes that touch nothing may go. */
static int drop_small(topo *t, double keep_m2)
{
    for (uint32_t r = 0; r < t->nr; r++)
        if (!t->rgone[r] && fabs(t->rarea[r]) < keep_m2 && droppable(t, r)) drop_ring(t, r);
    return FP_OK;
}

static void round_vertices(topo *t)
{
    double scale[16];
    for (int p = 0; p < 16; p++) scale[p] = pow(10, p);
    for (size_t v = 0; v < t->nv; v++) {
        unsigned p = t->vprec[v];
        if (p == NO_ROUND) {
            t->ox[2 * v] = t->vx[2 * v];
            t->ox[2 * v + 1] = t->vx[2 * v + 1];
        } else {
            t->ox[2 * v] = round(t->vx[2 * v] * scale[p]) / scale[p];
            t->ox[2 * v + 1] = round(t->vx[2 * v + 1] * scale[p]) / scale[p];
        }
    }
}

/* Extracts the polygons of any geometry into the MultiPolygon mp. */
static void collect_polygons(OGRGeometryH mp, OGRGeometryH g)
{
    OGRwkbGeometryType ty = wkbFlatten(OGR_G_GetGeometryType(g));
    if (ty == wkbPolygon) {
        OGR_G_AddGeometry(mp, g);
    } else if (ty == wkbMultiPolygon || ty == wkbGeometryCollection) {
        for (int k = 0; k < OGR_G_GetGeometryCount(g); k++)
            collect_polygons(mp, OGR_G_GetGeometryRef(g, k));
    }
}

static int emit(topo *t, const unsigned char *valid, fp_layer **out)
{
    fp_builder *b = NULL;
    u32vec ids = {0};
    ringset s = {0};
    int rc = fp_builder_new(t->ctx, &b);
    size_t nout = 0;
    for (size_t f = 0; f < t->nfeat && !rc; f++) {
        rc = fp_builder_add_footprint(b, fp_layer_code(t->L, f), fp_layer_name(t->L, f));
        if (!rc) rc = feature_rings(t, f, 1, &ids, &s);
        if (rc) break;
        if (valid[f] || !s.n) {
            for (size_t i = 0; i < s.n && !rc; i++) {
                rc = fp_builder_add_ring(b, s.pts[i], s.np[i]);
                nout += s.np[i];
            }
            continue;
        }
        /* Still invalid with every arc at full detail: the input was. */
        fp__gdal_msgs cap;
        fp__gdal_capture_push(&cap);
        OGRGeometryH g = fp__rings_ogr(t->ctx, s.n, (const double *const *)s.pts, s.np);
        OGRGeometryH v = g ? OGR_G_MakeValid(g) : NULL;
        OGRGeometryH mp = v ? OGR_G_CreateGeometry(wkbMultiPolygon) : NULL;
        if (mp) collect_polygons(mp, v);
        if (mp && OGR_G_GetGeometryCount(mp) > 0) {
            rc = fp__builder_add_ogr(b, t->ctx, "simplified footprint", mp);
            t->st.repaired++;
            for (int k = 0; k < OGR_G_GetGeometryCount(mp); k++) {
                OGRGeometryH poly = OGR_G_GetGeometryRef(mp, k);
                for (int q = 0; q < OGR_G_GetGeometryCount(poly); q++)
                    nout += (size_t)OGR_G_GetPointCount(OGR_G_GetGeometryRef(poly, q));
            }
        } else { /* GEOS could not: keep the rings as they are */
            for (size_t i = 0; i < s.n && !rc; i++) {
                rc = fp_builder_add_ring(b, s.pts[i], s.np[i]);
                nout += s.np[i];
            }
        }
        if (mp) OGR_G_DestroyGeometry(mp);
        if (v) OGR_G_DestroyGeometry(v);
        if (g) OGR_G_DestroyGeometry(g);
        fp__gdal_capture_pop();
    }
    fp__free(t->a, ids.v);
    ringset_free(t->a, &s);
    if (!rc) rc = fp_builder_build(b, NULL, out);
    fp_builder_free(b);
    t->st.vertices_out = nout;
    return rc;
}

/* For each flagged stretch of an arc: keep its vertex farthest from the
 * chord, then simplify both halves again (with the sweep check). */
static int refine(topo *t, span **stack, size_t *cap, size_t *restored)
{
    for (size_t k = 0; k + 2 < t->fix.n; k += 3) {
        uint32_t arc = t->fix.v[k], i = t->fix.v[k + 1], j = t->fix.v[k + 2];
        const uint32_t *c = t->av + t->as[arc];
        unsigned char *keep = t->keep + t->as[arc];
        int done = 0; /* flagged twice in one round */
        for (uint32_t q = i + 1; q < j && !done; q++) done = keep[q];
        if (done) continue;
        proj pj = arc_proj(t, arc);
        const double *a = t->vx + 2 * c[i], *b = t->vx + 2 * c[j];
        double dmax = -1;
        uint32_t m = i + 1;
        for (uint32_t q = i + 1; q < j; q++) {
            double d = a[0] == b[0] && a[1] == b[1]
                           ? hypot((t->vx[2 * c[q]] - a[0]) * pj.kx, (t->vx[2 * c[q] + 1] - a[1]) * pj.ky)
                           : seg_dist(&pj, t->vx + 2 * c[q], a, b);
            if (d > dmax) dmax = d, m = q;
        }
        keep[m] = 1;
        (*restored)++;
        int rc = dp(t, &pj, c, keep, i, m, t->tol, stack, cap);
        if (!rc) rc = dp(t, &pj, c, keep, m, j, t->tol, stack, cap);
        if (rc) return rc;
    }
    t->st.restored += *restored;
    return FP_OK;
}

int fp_layer_simplify(fp_ctx *ctx, const fp_layer *in, const fp_simplify_opts *opts,
                      fp_layer **out, fp_simplify_stats *stats)
{
    *out = NULL;
    fp__clear(ctx);
    fp_simplify_opts o;
    if (opts) o = *opts;
    else fp_simplify_opts_init(&o);
    if (!isfinite(o.tolerance_m) || o.tolerance_m < 0 || o.tolerance_m > 1e6)
        return fp__error(ctx, FP_EINVAL, "simplification tolerance %g m: expected 0..1000000 metres",
                         o.tolerance_m);
    if (o.precision < -1 || o.precision > 15)
        return fp__error(ctx, FP_EINVAL, "precision %d: expected 0..15 decimals", o.precision);
    if (!isfinite(o.snap_m) || o.snap_m < 0 || o.snap_m > 1)
        return fp__error(ctx, FP_EINVAL, "snap distance %g m: expected 0..1 metre", o.snap_m);
    if (isnan(o.keep_area_m2))
        return fp__error(ctx, FP_EINVAL, "keep area: not a number");
    double keep = o.keep_area_m2 < 0 ? 4 * o.tolerance_m * o.tolerance_m : o.keep_area_m2;
    if (in->nfeat && fp_layer_vertices(in) == 0)
        return fp__error(ctx, FP_EINVAL, "the layer has no geometry of its own "
                                         "(an edition via finer areas)");
    topo t;
    int rc = build_topo(&t, ctx, in, o.snap_m);
    span *stack = NULL;
    size_t stackcap = 0;
    u32vec ids = {0};
    unsigned char *valid = NULL, *invalid_in = NULL;
    if (!rc) {
        valid = fp__calloc(t.a, t.nfeat + 1, 1);
        invalid_in = fp__calloc(t.a, t.nfeat + 1, 1);
        if (!valid || !invalid_in) rc = oom(&t);
    }
    t.st.vertices_in = in->npts;
    /* Every ring's vertices count until rings are dropped. */
    for (size_t r = 0; r < t.nr && !rc; r++)
        if (!t.rgone[r])
            for (size_t k = t.rs[r]; k < t.rs[r + 1]; k++) t.alive[t.rv[k]] = 1;
    if (!rc) rc = build_grid(&t);
    if (!rc && o.tolerance_m > 0) {
        rc = drop_small(&t, keep);
        if (!rc && t.st.rings_dropped) { /* their vertices no longer count */
            memset(t.alive, 0, t.nv);
            for (size_t r = 0; r < t.nr; r++)
                if (!t.rgone[r])
                    for (size_t k = t.rs[r]; k < t.rs[r + 1]; k++) t.alive[t.rv[k]] = 1;
            fp__free(t.a, t.gstart);
            fp__free(t.a, t.gv);
            t.gstart = t.gv = NULL;
            rc = build_grid(&t);
        }
    }
    /* Footprints invalid as given are not held to validity (they are
     * repaired at the end if still invalid). */
    size_t bad_in = 0;
    if (!rc) rc = check_valid(&t, 0, NULL, invalid_in, &bad_in);
    for (size_t f = 0; f < t.nfeat && !rc; f++) invalid_in[f] = !invalid_in[f];
    t.tol = o.tolerance_m;
    t.precision = o.precision;
    if (!rc && o.precision >= 0) memset(t.vprec, (unsigned char)o.precision, t.nv);
    t.fix.n = 0;
    for (size_t i = 0; i < t.na && !rc; i++) rc = simplify_arc(&t, i, &stack, &stackcap);
    for (size_t round = 0; !rc && round < MAX_ROUNDS; round++) {
        round_vertices(&t);
        t.st.rounds++;
        size_t bad = 0, dropped = t.st.rings_dropped, bumped = t.bumped;
        t.fix.n = 0;
        rc = check_rings(&t, &ids, &bad);
        if (!rc) rc = check_crossings(&t, &bad);
        if (!rc && !bad) rc = check_valid(&t, 1, invalid_in, valid, &bad);
        if (rc || !bad) break;
        /* Put back detail where it went wrong; stop when none is left. */
        size_t restored = 0;
        rc = refine(&t, &stack, &stackcap, &restored);
        if (!restored && t.st.rings_dropped == dropped && t.bumped == bumped) break;
    }
    if (!rc) { /* validity as emitted decides the repairs */
        size_t bad = 0;
        rc = check_valid(&t, 1, NULL, valid, &bad);
    }
    if (!rc) rc = emit(&t, valid, out);
    t.st.precision_used = o.precision;
    for (size_t v = 0; !rc && v < t.nv && o.precision >= 0; v++)
        if (t.alive[v] && t.vprec[v] != NO_ROUND && t.vprec[v] > t.st.precision_used)
            t.st.precision_used = t.vprec[v];
    if (stats) *stats = t.st;
    fp__free(t.a, stack);
    fp__free(t.a, ids.v);
    fp__free(t.a, valid);
    fp__free(t.a, invalid_in);
    topo_free(&t);
    if (rc == FP_ENOMEM && fp_ctx_errcode(ctx) != FP_ENOMEM) oom(&t);
    return rc;
}

/* ---- nesting and OGR polygons ---- */

static double ring_area_deg(const double *p, size_t n)
{
    double s = 0;
    for (size_t i = 0; i + 1 < n; i++)
        s += (p[2 * i] - p[0]) * (p[2 * i + 3] - p[1]) - (p[2 * i + 2] - p[0]) * (p[2 * i + 1] - p[1]);
    return 0.5 * s;
}

/* 1 inside, 0 outside, -1 on the boundary of closed ring q (n points). */
static int point_in_ring(const double *q, size_t n, const double *w)
{
    int in = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        const double *p = q + 2 * i, *r = q + 2 * i + 2;
        int o = fp__orient(p[0], p[1], r[0], r[1], w[0], w[1]);
        if (o == 0 && w[0] >= fmin(p[0], r[0]) && w[0] <= fmax(p[0], r[0]) &&
            w[1] >= fmin(p[1], r[1]) && w[1] <= fmax(p[1], r[1]))
            return -1;
        if (p[1] <= w[1] && r[1] > w[1] && o > 0) in = !in;
        else if (r[1] <= w[1] && p[1] > w[1] && o < 0) in = !in;
    }
    return in;
}

int fp__ring_nesting(fp_ctx *ctx, size_t n, const double *const *pts, const size_t *np,
                     int *depth, long *parent)
{
    size_t *order = fp__malloc(&ctx->alloc, (n + 1) * sizeof *order);
    double *area = fp__malloc(&ctx->alloc, (n + 1) * sizeof *area);
    double *box = fp__malloc(&ctx->alloc, (4 * n + 1) * sizeof *box);
    if (!order || !area || !box) {
        fp__free(&ctx->alloc, order);
        fp__free(&ctx->alloc, area);
        fp__free(&ctx->alloc, box);
        return fp__error(ctx, FP_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        order[i] = i;
        area[i] = fabs(ring_area_deg(pts[i], np[i]));
        double *b = box + 4 * i;
        b[0] = b[1] = INFINITY;
        b[2] = b[3] = -INFINITY;
        for (size_t k = 0; k < np[i]; k++) {
            b[0] = fmin(b[0], pts[i][2 * k]), b[2] = fmax(b[2], pts[i][2 * k]);
            b[1] = fmin(b[1], pts[i][2 * k + 1]), b[3] = fmax(b[3], pts[i][2 * k + 1]);
        }
        depth[i] = 0;
        parent[i] = -1;
    }
    /* Larger rings first (insertion sort: few rings a footprint). */
    for (size_t i = 1; i < n; i++) {
        size_t v = order[i], j = i;
        while (j && area[order[j - 1]] < area[v]) order[j] = order[j - 1], j--;
        order[j] = v;
    }
    for (size_t oi = 0; oi < n; oi++) {
        size_t i = order[oi];
        const double *bi = box + 4 * i;
        for (size_t oj = 0; oj < oi; oj++) {
            size_t j = order[oj];
            const double *bj = box + 4 * j;
            if (bi[0] < bj[0] || bi[2] > bj[2] || bi[1] < bj[1] || bi[3] > bj[3]) continue;
            int in = -1;
            for (size_t k = 0; k + 1 < np[i] && in < 0; k++)
                in = point_in_ring(pts[j], np[j], pts[i] + 2 * k);
            if (in == 1) {
                depth[i]++;
                parent[i] = (long)j; /* larger first: the last is innermost */
            }
        }
    }
    /* The innermost container is the one with the greatest depth. */
    for (size_t i = 0; i < n; i++) {
        if (parent[i] < 0) continue;
        for (size_t j = 0; j < n; j++) {
            if (j == i || depth[j] != depth[i] - 1) continue;
            const double *bi = box + 4 * i, *bj = box + 4 * j;
            if (bi[0] < bj[0] || bi[2] > bj[2] || bi[1] < bj[1] || bi[3] > bj[3]) continue;
            int in = -1;
            for (size_t k = 0; k + 1 < np[i] && in < 0; k++)
                in = point_in_ring(pts[j], np[j], pts[i] + 2 * k);
            if (in == 1) {
                parent[i] = (long)j;
                break;
            }
        }
    }
    fp__free(&ctx->alloc, order);
    fp__free(&ctx->alloc, area);
    fp__free(&ctx->alloc, box);
    return FP_OK;
}

static OGRGeometryH ogr_ring(const double *p, size_t n, int ccw)
{
    OGRGeometryH r = OGR_G_CreateGeometry(wkbLinearRing);
    if (!r) return NULL;
    int is_ccw = ring_area_deg(p, n) > 0;
    OGR_G_SetPointCount(r, (int)n);
    for (size_t k = 0; k < n; k++) {
        size_t i = is_ccw == ccw ? k : n - 1 - k;
        OGR_G_SetPoint_2D(r, (int)k, p[2 * i], p[2 * i + 1]);
    }
    return r;
}

void *fp__rings_ogr(fp_ctx *ctx, size_t n, const double *const *pts, const size_t *np)
{
    int *depth = fp__malloc(&ctx->alloc, (n + 1) * sizeof *depth);
    long *parent = fp__malloc(&ctx->alloc, (n + 1) * sizeof *parent);
    OGRGeometryH mp = NULL;
    if (!depth || !parent || fp__ring_nesting(ctx, n, pts, np, depth, parent)) goto out;
    mp = OGR_G_CreateGeometry(wkbMultiPolygon);
    for (size_t i = 0; i < n && mp; i++) {
        if (depth[i] % 2) continue;
        OGRGeometryH poly = OGR_G_CreateGeometry(wkbPolygon);
        OGRGeometryH ext = ogr_ring(pts[i], np[i], 1);
        if (!poly || !ext) goto fail;
        OGR_G_AddGeometryDirectly(poly, ext);
        for (size_t j = 0; j < n; j++) {
            if (parent[j] != (long)i || depth[j] % 2 == 0) continue;
            OGRGeometryH hole = ogr_ring(pts[j], np[j], 0);
            if (!hole) goto fail;
            OGR_G_AddGeometryDirectly(poly, hole);
        }
        OGR_G_AddGeometryDirectly(mp, poly);
        continue;
    fail:
        if (poly) OGR_G_DestroyGeometry(poly);
        OGR_G_DestroyGeometry(mp);
        mp = NULL;
    }
out:
    if (!mp && fp_ctx_errcode(ctx) == FP_OK) fp__error(ctx, FP_ENOMEM, "out of memory");
    fp__free(&ctx->alloc, depth);
    fp__free(&ctx->alloc, parent);
    return mp;
}

void *fp__feature_ogr(fp_ctx *ctx, const fp_layer *L, size_t i)
{
    const fp_feat *f = &L->feat[i];
    const double **pts = fp__malloc(&ctx->alloc, (f->nrings + 1) * sizeof *pts);
    size_t *np = fp__malloc(&ctx->alloc, (f->nrings + 1) * sizeof *np);
    void *g = NULL;
    if (pts && np) {
        for (uint32_t k = 0; k < f->nrings; k++) {
            uint32_t r = f->ring0 + k;
            pts[k] = L->pts + 2 * L->ring_start[r];
            np[k] = L->ring_start[r + 1] - L->ring_start[r];
        }
        g = fp__rings_ogr(ctx, f->nrings, pts, np);
    } else {
        fp__error(ctx, FP_ENOMEM, "out of memory");
    }
    fp__free(&ctx->alloc, pts);
    fp__free(&ctx->alloc, np);
    return g;
}

static int cmp_pair(const void *x, const void *y)
{
    const uint32_t *a = x, *b = y;
    if (a[0] != b[0]) return a[0] < b[0] ? -1 : 1;
    return a[1] < b[1] ? -1 : a[1] > b[1];
}

int fp__layer_neighbours(fp_ctx *ctx, const fp_layer *L, uint32_t **pairs, size_t *npairs)
{
    *pairs = NULL;
    *npairs = 0;
    topo t;
    int rc = build_topo(&t, ctx, L, 0);
    uint32_t *p = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < t.na && !rc; i++) {
        if (t.side[1][i] == NONE32) continue;
        uint32_t a = t.side[0][i], b = t.side[1][i];
        if (fp__grow(t.a, (void **)&p, &cap, 2 * n + 2, sizeof *p)) {
            rc = oom(&t);
            break;
        }
        p[2 * n] = a < b ? a : b;
        p[2 * n + 1] = a < b ? b : a;
        n++;
    }
    if (!rc && n) {
        qsort(p, n, 2 * sizeof *p, cmp_pair);
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (!m || cmp_pair(p + 2 * i, p + 2 * (m - 1))) {
                p[2 * m] = p[2 * i];
                p[2 * m + 1] = p[2 * i + 1];
                m++;
            }
        n = m;
    }
    topo_free(&t);
    if (rc) {
        fp__free(&ctx->alloc, p);
        return rc;
    }
    *pairs = p;
    *npairs = n;
    return FP_OK;
}
