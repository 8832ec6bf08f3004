/* Map geometry: projection through PROJ, shared-arc nodes, adjacency and
 * colouring, generalisation and clipping to a view, pole of
 * inaccessibility, and the inside/box tests labels use. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <proj.h>

#include "footprint.h"
#include "render_private.h"

/* ---- projection ---- */

/* PROJ's messages go to the map's context (the library never prints). */
static void proj_log(void *data, int level, const char *msg)
{
    fp_ctx *ctx = data;
    if (level > PJ_LOG_ERROR) return;
    snprintf(ctx->proj_msg, sizeof ctx->proj_msg, "%s", msg);
}

/* The transformations, written out: made from EPSG codes
 * (proj_create_crs_to_crs) they would need PROJ's database, whose opening
 * alone costs 18 ms a process, a tenth of a map.  So a map has its own
 * PROJ context, pointed where no database can be (below /dev/null), and
 * these pipelines.  British National Grid goes through the OSGB36
 * 7-parameter Helmert transformation (EPSG:1314, about 2 m): far below a
 * map's resolution, and needing no grid file, so every machine draws the
 * same map.  The map's context also frees it from the fp_ctx's lifetime
 * and thread. */
static const char BNG_PIPELINE[] =
    "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
    "+step +proj=push +v_3 +step +proj=cart +ellps=WGS84 "
    "+step +inv +proj=helmert +x=446.448 +y=-125.157 +z=542.06 +rx=0.15 "
    "+ry=0.247 +rz=0.842 +s=-20.489 +convention=position_vector "
    "+step +inv +proj=cart +ellps=airy +step +proj=pop +v_3 "
    "+step +proj=tmerc +lat_0=49 +lon_0=-2 +k=0.9996012717 +x_0=400000 "
    "+y_0=-100000 +ellps=airy";
static const char WEBMERC_PIPELINE[] =
    "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
    "+step +proj=webmerc +ellps=WGS84";

int rd_proj_setup(fp_map *m)
{
    fp_ctx *ctx = m->ctx;
    PJ_CONTEXT *pc = proj_context_create();
    if (!pc) return rd_fail(m, FP_ENOMEM, "PROJ: no context");
    m->pjctx = pc;
    proj_log_func(pc, ctx, proj_log);
    static const char *const nowhere[] = {"/dev/null/no-proj-db"};
    proj_context_set_search_paths(pc, 1, nowhere);
    ctx->proj_msg[0] = '\0';
    int web = m->o.projection == FP_MAP_WEBMERCATOR;
    PJ *p = proj_create(pc, web ? WEBMERC_PIPELINE : BNG_PIPELINE);
    if (!p)
        return rd_fail(m, FP_ECRS, "PROJ cannot make the %s transformation: %s",
                       web ? "Web Mercator" : "British National Grid",
                       ctx->proj_msg[0] ? ctx->proj_msg : "no message");
    m->pj = p;
    return FP_OK;
}

void rd_proj_free(fp_map *m)
{
    if (m->pj) proj_destroy(m->pj);
    if (m->pjctx) proj_context_destroy(m->pjctx);
    m->pj = m->pjctx = NULL;
}

int rd_project(fp_map *m, double *xy, size_t n)
{
    if (!n) return FP_OK;
    size_t st = 2 * sizeof(double);
    size_t done = proj_trans_generic(m->pj, PJ_FWD, xy, st, n, xy + 1, st, n,
                                     NULL, 0, 0, NULL, 0, 0);
    if (done != n)
        return rd_fail(m, FP_ECRS, "PROJ transformed %zu of %zu points", done, n);
    for (size_t i = 0; i < 2 * n; i++)
        if (!isfinite(xy[i]) || fabs(xy[i]) > 1e12)
            return rd_fail(m, FP_ECRS,
                           "PROJ could not transform longitude/latitude %g, %g",
                           xy[i & ~(size_t)1], xy[i | 1]);
    return FP_OK;
}

int rd_project1(const fp_map *m, double *x, double *y)
{
    PJ_COORD c = proj_trans(m->pj, PJ_FWD, proj_coord(*x, *y, 0, 0));
    if (!isfinite(c.xy.x) || !isfinite(c.xy.y) || fabs(c.xy.x) > 1e12) return FP_ECRS;
    *x = c.xy.x;
    *y = c.xy.y;
    return FP_OK;
}

int rd_unproject(const fp_map *m, double x, double y, double *lon, double *lat)
{
    PJ_COORD c = proj_trans(m->pj, PJ_INV, proj_coord(x, y, 0, 0));
    if (!isfinite(c.xy.x) || !isfinite(c.xy.y) || fabs(c.xy.x) > 1e6)
        return FP_ECRS;
    *lon = c.xy.x;
    *lat = c.xy.y;
    return FP_OK;
}

/* ---- shared-arc nodes ---- */

/* Two footprints sharing a boundary carry the same vertices along it.  A
 * vertex where the set of rings owning it changes (or three or more meet)
 * ends a shared arc; generalising every arc between such nodes with a
 * direction-independent Douglas-Peucker gives neighbours the same
 * simplified boundary, so no slivers or gaps open between them. */

/* One distinct vertex: where it first occurs and the rings through it.
 * Kept small: on some virtual machines touching fresh memory costs more
 * than hashing into it. */
typedef struct vkey {
    uint32_t first; /* point index + 1; 0 = empty slot */
    uint32_t count; /* rings through it */
    uint32_t sum;   /* sum of owner hashes: the owner set, in one number */
    uint32_t last;  /* last ring counted (a ring passes a vertex once) */
} vkey;

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t hash_xy(double x, double y)
{
    uint64_t a, b;
    memcpy(&a, &x, 8);
    memcpy(&b, &y, 8);
    return mix64(a ^ mix64(b));
}

static vkey *vfind(vkey *t, size_t mask, const double *xy, uint32_t i)
{
    double x = xy[2 * i], y = xy[2 * i + 1];
    size_t h = (size_t)hash_xy(x, y) & mask;
    while (t[h].first && !(xy[2 * (t[h].first - 1)] == x && xy[2 * (t[h].first - 1) + 1] == y))
        h = (h + 1) & mask;
    if (!t[h].first) t[h].first = i + 1;
    return &t[h];
}

int rd_mark_nodes(const fp_allocator *a, rd_layer *ly)
{
    size_t cap = 16;
    while (cap < ly->npts + ly->npts / 2) cap <<= 1;
    vkey *t = fp__calloc(a, cap, sizeof *t);
    ly->node = fp__calloc(a, ly->npts ? ly->npts : 1, 1);
    if (!t || !ly->node) {
        fp__free(a, t);
        return FP_ENOMEM;
    }
    size_t mask = cap - 1;
    for (size_t r = 0; r < ly->nrings; r++) {
        uint32_t owner = (uint32_t)mix64(r + 1);
        for (uint32_t i = ly->rs[r]; i + 1 < ly->rs[r + 1]; i++) {
            vkey *v = vfind(t, mask, ly->xy, i);
            if (v->last == r + 1) continue;
            v->count++;
            v->sum += owner;
            v->last = (uint32_t)(r + 1);
        }
    }
    for (size_t r = 0; r < ly->nrings; r++) {
        uint32_t s = ly->rs[r], n = ly->rs[r + 1] - s; /* closed: n - 1 distinct */
        if (n < 4) continue;
        uint32_t m = n - 1;
        const vkey *vp = vfind(t, mask, ly->xy, s + m - 1), *v = vfind(t, mask, ly->xy, s);
        for (uint32_t i = 0; i < m; i++) {
            const vkey *vn = vfind(t, mask, ly->xy, s + (i + 1) % m);
            if (v->count >= 3 || v->count != vp->count || v->sum != vp->sum ||
                v->count != vn->count || v->sum != vn->sum)
                ly->node[s + i] = 1;
            vp = v;
            v = vn;
        }
    }
    fp__free(a, t);
    return FP_OK;
}

/* ---- adjacency ---- */

static int cmp_u64(const void *pa, const void *pb)
{
    uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
    return a < b ? -1 : a > b;
}

static double seg_dist2(double px, double py, double ax, double ay, double bx,
                        double by)
{
    double dx = bx - ax, dy = by - ay, l2 = dx * dx + dy * dy;
    double t = l2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / l2 : 0;
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    double qx = ax + t * dx - px, qy = ay + t * dy - py;
    return qx * qx + qy * qy;
}

/* A uniform grid of segments (counting sort into cells): each segment is
 * listed in every cell its tol-widened box touches. */
typedef struct seggrid {
    double x0, y0, cs;
    size_t gx, gy;
    uint32_t *start; /* gx * gy + 1 */
    uint32_t *seg;   /* segment = index of its first point */
    uint32_t *feat;
} seggrid;

static void cell_range(const seggrid *G, double lo, double hi, double o, size_t n, size_t *a,
                       size_t *b)
{
    double fa = floor((lo - o) / G->cs), fb = floor((hi - o) / G->cs);
    *a = fa < 0 ? 0 : fa >= (double)n ? n - 1 : (size_t)fa;
    *b = fb < 0 ? 0 : fb >= (double)n ? n - 1 : (size_t)fb;
}

static int grid_build(const fp_allocator *a, const rd_layer *ly, double tol, seggrid *G)
{
    double minx = INFINITY, miny = INFINITY, maxx = -INFINITY, maxy = -INFINITY;
    for (size_t i = 0; i < ly->nf; i++) {
        minx = fmin(minx, ly->f[i].bbox[0]), miny = fmin(miny, ly->f[i].bbox[1]);
        maxx = fmax(maxx, ly->f[i].bbox[2]), maxy = fmax(maxy, ly->f[i].bbox[3]);
    }
    double span = fmax(maxx - minx, maxy - miny);
    G->cs = fmax(tol * 2, span / 256);
    if (!(G->cs > 0)) G->cs = 1;
    G->x0 = minx - tol, G->y0 = miny - tol;
    G->gx = (size_t)((maxx - minx + 2 * tol) / G->cs) + 1;
    G->gy = (size_t)((maxy - miny + 2 * tol) / G->cs) + 1;
    size_t nc = G->gx * G->gy;
    G->start = fp__calloc(a, nc + 1, sizeof *G->start);
    if (!G->start) return FP_ENOMEM;
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t fi = 0; fi < ly->nf; fi++) {
            const rd_feat *f = &ly->f[fi];
            for (uint32_t r = f->ring0; r < f->ring0 + f->nrings; r++)
                for (uint32_t i = ly->rs[r]; i + 1 < ly->rs[r + 1]; i++) {
                    const double *p = ly->xy + 2 * i;
                    size_t ax, bx, ay, by;
                    cell_range(G, fmin(p[0], p[2]) - tol, fmax(p[0], p[2]) + tol, G->x0, G->gx,
                               &ax, &bx);
                    cell_range(G, fmin(p[1], p[3]) - tol, fmax(p[1], p[3]) + tol, G->y0, G->gy,
                               &ay, &by);
                    for (size_t cy = ay; cy <= by; cy++)
                        for (size_t cx = ax; cx <= bx; cx++) {
                            size_t c = cy * G->gx + cx;
                            if (!pass) {
                                G->start[c + 1]++;
                            } else {
                                uint32_t k = G->start[c]++;
                                G->seg[k] = i;
                                G->feat[k] = fi;
                            }
                        }
                }
        }
        if (!pass) {
            for (size_t c = 0; c < nc; c++) G->start[c + 1] += G->start[c];
            size_t total = G->start[nc];
            G->seg = fp__malloc(a, (total ? total : 1) * sizeof *G->seg);
            G->feat = fp__malloc(a, (total ? total : 1) * sizeof *G->feat);
            if (!G->seg || !G->feat) return FP_ENOMEM;
        }
    }
    /* The second pass advanced every start to the next cell's. */
    for (size_t c = nc; c > 0; c--) G->start[c] = G->start[c - 1];
    G->start[0] = 0;
    return FP_OK;
}

static void grid_free(const fp_allocator *a, seggrid *G)
{
    fp__free(a, G->start);
    fp__free(a, G->seg);
    fp__free(a, G->feat);
}

/* Footprints are neighbours when at least two vertices of one lie within
 * tol of the other's boundary: a shared edge (or a gap narrower than tol,
 * an estuary the eye would not see at this scale), not a mere corner. */
int rd_adjacency(const fp_allocator *a, rd_layer *ly, double tol)
{
    fp__free(a, ly->adj_off);
    fp__free(a, ly->adj);
    ly->adj_off = ly->adj = NULL;
    seggrid G;
    memset(&G, 0, sizeof G);
    uint64_t *pairs = NULL;
    size_t npair = 0, cappair = 0;
    int rc = FP_ENOMEM;
    if (grid_build(a, ly, tol, &G)) goto out;
    double tol2 = tol * tol;
    for (uint32_t fi = 0; fi < ly->nf; fi++) {
        const rd_feat *f = &ly->f[fi];
        for (uint32_t r = f->ring0; r < f->ring0 + f->nrings; r++)
            for (uint32_t i = ly->rs[r]; i + 1 < ly->rs[r + 1]; i++) {
                double x = ly->xy[2 * i], y = ly->xy[2 * i + 1];
                size_t cx, cy, dummy;
                cell_range(&G, x, x, G.x0, G.gx, &cx, &dummy);
                cell_range(&G, y, y, G.y0, G.gy, &cy, &dummy);
                size_t c = cy * G.gx + cx;
                /* Each neighbour once per vertex. */
                uint32_t seen[8];
                int nseen = 0;
                for (uint32_t k = G.start[c]; k < G.start[c + 1]; k++) {
                    uint32_t g = G.feat[k];
                    if (g == fi) continue;
                    int dup = 0;
                    for (int q = 0; q < nseen && !dup; q++) dup = seen[q] == g;
                    if (dup) continue;
                    const double *p = ly->xy + 2 * G.seg[k];
                    /* Most segments of a cell are nowhere near: boxes first. */
                    if (x < fmin(p[0], p[2]) - tol || x > fmax(p[0], p[2]) + tol ||
                        y < fmin(p[1], p[3]) - tol || y > fmax(p[1], p[3]) + tol)
                        continue;
                    if (seg_dist2(x, y, p[0], p[1], p[2], p[3]) > tol2) continue;
                    if (nseen < 8) seen[nseen++] = g;
                    if (fp__grow(a, (void **)&pairs, &cappair, npair + 1, sizeof *pairs))
                        goto out;
                    pairs[npair++] = (uint64_t)fi << 32 | g; /* directed */
                }
            }
    }
    if (npair) qsort(pairs, npair, sizeof *pairs, cmp_u64);
    /* Keep pairs where two or more vertices of one footprint lie on the
     * other (a single shared corner is not a neighbour). */
    size_t nuniq = 0;
    for (size_t i = 0; i < npair;) {
        size_t j = i;
        while (j < npair && pairs[j] == pairs[i]) j++;
        if (j - i >= 2) {
            uint64_t u = pairs[i] >> 32, w = pairs[i] & 0xffffffffu;
            pairs[nuniq++] = u < w ? u << 32 | w : w << 32 | u;
        }
        i = j;
    }
    if (nuniq) qsort(pairs, nuniq, sizeof *pairs, cmp_u64);
    size_t k2 = 0;
    for (size_t i = 0; i < nuniq; i++)
        if (!k2 || pairs[k2 - 1] != pairs[i]) pairs[k2++] = pairs[i];
    nuniq = k2;
    ly->adj_off = fp__calloc(a, ly->nf + 1, sizeof *ly->adj_off);
    ly->adj = fp__calloc(a, nuniq * 2 + 1, sizeof *ly->adj);
    if (!ly->adj_off || !ly->adj) goto out;
    for (size_t i = 0; i < nuniq; i++) {
        ly->adj_off[(pairs[i] >> 32) + 1]++;
        ly->adj_off[(pairs[i] & 0xffffffffu) + 1]++;
    }
    for (size_t i = 0; i < ly->nf; i++) ly->adj_off[i + 1] += ly->adj_off[i];
    uint32_t *fill = fp__calloc(a, ly->nf + 1, sizeof *fill);
    if (!fill) goto out;
    for (size_t i = 0; i < nuniq; i++) {
        uint32_t u = (uint32_t)(pairs[i] >> 32), w = (uint32_t)(pairs[i] & 0xffffffffu);
        ly->adj[ly->adj_off[u] + fill[u]++] = w;
        ly->adj[ly->adj_off[w] + fill[w]++] = u;
    }
    fp__free(a, fill);
    rc = FP_OK;
out:
    grid_free(a, &G);
    fp__free(a, pairs);
    if (rc) {
        fp__free(a, ly->adj_off);
        fp__free(a, ly->adj);
        ly->adj_off = ly->adj = NULL;
    }
    return rc;
}

static uint32_t str_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The colour for footprint i given its coloured neighbours: the one its
 * code hashes to when no neighbour has it or one like it (so a footprint
 * keeps its colour from one edition to the next where it can), else the
 * least used free one unlike the neighbours', else the least used free
 * one, else (more neighbours than colours) the least clashing.  like[c]
 * is the set of colours hard to tell from c. */
static int pick_colour(const rd_layer *ly, size_t i, int nc, const int *used,
                       const unsigned *like)
{
    unsigned seen = 0, near = 0;
    int clash[32] = {0};
    for (uint32_t k = ly->adj_off[i]; k < ly->adj_off[i + 1]; k++) {
        int c = ly->f[ly->adj[k]].colour;
        if (c >= 0) seen |= 1u << c, near |= like[c], clash[c]++;
    }
    unsigned avoid = seen | near;
    int want = (int)(str_hash(fp_layer_code(ly->L, ly->f[i].src)) % (uint32_t)nc), pick = -1;
    if (!(avoid & (1u << want))) return want;
    for (int c = 0; c < nc; c++)
        if (!(avoid & (1u << c)) && (pick < 0 || used[c] < used[pick])) pick = c;
    if (pick >= 0) return pick;
    for (int c = 0; c < nc; c++)
        if (!(seen & (1u << c)) && (pick < 0 || used[c] < used[pick])) pick = c;
    if (pick >= 0) return pick;
    pick = 0;
    for (int c = 1; c < nc; c++)
        if (clash[c] < clash[pick]) pick = c;
    return pick;
}

static int sat_of(const rd_layer *ly, size_t i)
{
    unsigned seen = 0;
    for (uint32_t k = ly->adj_off[i]; k < ly->adj_off[i + 1]; k++) {
        int c = ly->f[ly->adj[k]].colour;
        if (c >= 0) seen |= 1u << c;
    }
    return __builtin_popcount(seen);
}

/* DSATUR (Brelaz): colour next the footprint whose neighbours already use
 * the most distinct colours (ties: most neighbours).  Quadratic: beyond a
 * few thousand footprints (LSOAs) Welsh-Powell order (most neighbours
 * first) instead. */
static void dsatur(rd_layer *ly, int nc, const unsigned *like)
{
    size_t n = ly->nf;
    int used[32] = {0};
    for (size_t i = 0; i < n; i++) ly->f[i].colour = -1;
    if (n > 2000) {
        for (uint32_t deg = 0;; deg++) { /* by degree, descending */
            uint32_t maxdeg = 0;
            for (size_t i = 0; i < n; i++) {
                uint32_t d = ly->adj_off[i + 1] - ly->adj_off[i];
                if (ly->f[i].colour < 0 && d > maxdeg) maxdeg = d;
            }
            int any = 0;
            for (size_t i = 0; i < n; i++)
                if (ly->f[i].colour < 0 && ly->adj_off[i + 1] - ly->adj_off[i] == maxdeg) {
                    int c = pick_colour(ly, i, nc, used, like);
                    ly->f[i].colour = c;
                    used[c]++;
                    any = 1;
                }
            if (!any || maxdeg == 0) break;
            (void)deg;
        }
        for (size_t i = 0; i < n; i++)
            if (ly->f[i].colour < 0) {
                int c = pick_colour(ly, i, nc, used, like);
                ly->f[i].colour = c;
                used[c]++;
            }
        return;
    }
    for (size_t done = 0; done < n; done++) {
        size_t best = 0;
        int bsat = -1;
        uint32_t bdeg = 0;
        for (size_t i = 0; i < n; i++) {
            if (ly->f[i].colour >= 0) continue;
            int sat = sat_of(ly, i);
            uint32_t deg = ly->adj_off[i + 1] - ly->adj_off[i];
            if (sat > bsat || (sat == bsat && deg > bdeg)) best = i, bsat = sat, bdeg = deg;
        }
        int c = pick_colour(ly, best, nc, used, like);
        ly->f[best].colour = c;
        used[c]++;
    }
}

typedef struct hkey {
    uint32_t h;
    uint32_t i;
} hkey;

static int cmp_hkey(const void *pa, const void *pb)
{
    const hkey *a = pa, *b = pb;
    if (a->h != b->h) return a->h < b->h ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* Colours so that neighbours differ.  First greedily in an order fixed by
 * the codes (their hashes): a footprint whose neighbourhood did not change
 * between editions then meets the same choices and keeps its colour.  If
 * that runs out of colours somewhere, DSATUR, which needs fewer. */
int rd_colour(const fp_allocator *a, rd_layer *ly, int nc, const unsigned *like)
{
    size_t n = ly->nf;
    hkey *order = fp__malloc(a, (n ? n : 1) * sizeof *order);
    if (!order) return FP_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        order[i].h = str_hash(fp_layer_code(ly->L, ly->f[i].src));
        order[i].i = (uint32_t)i;
        ly->f[i].colour = -1;
    }
    qsort(order, n, sizeof *order, cmp_hkey);
    int used[32] = {0}, ok = 1;
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k].i;
        int c = pick_colour(ly, i, nc, used, like);
        ly->f[i].colour = c;
        used[c]++;
    }
    for (size_t i = 0; i < n && ok; i++)
        for (uint32_t k = ly->adj_off[i]; k < ly->adj_off[i + 1] && ok; k++)
            ok = ly->f[ly->adj[k]].colour != ly->f[i].colour;
    fp__free(a, order);
    if (!ok) dsatur(ly, nc, like);
    return FP_OK;
}

/* ---- generalisation ---- */

/* Douglas-Peucker between two kept points, the same whichever way the arc
 * is walked: the chord is measured from its lexicographically smaller end
 * and ties go to the lexicographically smaller point, so both footprints
 * along a shared arc keep the same vertices. */
static int lex_less(const double *p, const double *q)
{
    return p[0] < q[0] || (p[0] == q[0] && p[1] < q[1]);
}

typedef struct span { uint32_t a, b; } span;

static int dp_ring(const fp_allocator *a, const double *p, uint32_t m,
                   uint8_t *keep, double tol2, span **stk, size_t *stkcap)
{
    /* keep[] marks anchors already; p has m distinct points, cyclic. */
    uint32_t first = UINT32_MAX;
    for (uint32_t i = 0; i < m; i++)
        if (keep[i]) { first = i; break; }
    if (first == UINT32_MAX) return FP_OK;
    size_t top = 0;
    uint32_t i = first;
    do {
        uint32_t j = (i + 1) % m;
        while (!keep[j]) j = (j + 1) % m;
        if (fp__grow(a, (void **)stk, stkcap, top + 1, sizeof **stk)) return FP_ENOMEM;
        (*stk)[top++] = (span){i, j};
        i = j;
    } while (i != first);
    while (top) {
        span s = (*stk)[--top];
        uint32_t len = (s.b + m - s.a) % m;
        if (len == 0) len = m;
        if (len < 2) continue;
        const double *A = p + 2 * s.a, *B = p + 2 * s.b;
        if (lex_less(B, A)) { const double *t = A; A = B; B = t; }
        double dx = B[0] - A[0], dy = B[1] - A[1], l2 = dx * dx + dy * dy;
        double best = -1;
        uint32_t bi = 0;
        for (uint32_t k = (s.a + 1) % m; k != s.b; k = (k + 1) % m) {
            const double *q = p + 2 * k;
            double d;
            if (l2 > 0) {
                double c = (q[0] - A[0]) * dy - (q[1] - A[1]) * dx;
                d = c * c / l2;
            } else {
                d = (q[0] - A[0]) * (q[0] - A[0]) + (q[1] - A[1]) * (q[1] - A[1]);
            }
            if (d > best || (d == best && lex_less(q, p + 2 * bi))) best = d, bi = k;
        }
        if (best > tol2) {
            keep[bi] = 1;
            if (fp__grow(a, (void **)stk, stkcap, top + 2, sizeof **stk)) return FP_ENOMEM;
            (*stk)[top++] = (span){s.a, bi};
            (*stk)[top++] = (span){bi, s.b};
        }
    }
    return FP_OK;
}

static int geom_push(const fp_allocator *a, rd_geom *g, double x, double y)
{
    if (fp__grow(a, (void **)&g->xy, &g->cap, 2 * (g->npts + 1), sizeof *g->xy))
        return FP_ENOMEM;
    g->xy[2 * g->npts] = x;
    g->xy[2 * g->npts + 1] = y;
    g->npts++;
    return FP_OK;
}

/* Sutherland-Hodgman against one edge of a rectangle: side 0..3 = x >= v,
 * x <= v, y >= v, y <= v. */
static size_t clip_edge(const double *in, size_t n, double *out, int side, double v)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const double *p = in + 2 * i, *q = in + 2 * ((i + 1) % n);
        double cp = side < 2 ? p[0] : p[1], cq = side < 2 ? q[0] : q[1];
        int ip = (side & 1) ? cp <= v : cp >= v, iq = (side & 1) ? cq <= v : cq >= v;
        if (ip) out[2 * k] = p[0], out[2 * k + 1] = p[1], k++;
        if (ip != iq) {
            double t = (v - cp) / (cq - cp);
            out[2 * k] = p[0] + t * (q[0] - p[0]);
            out[2 * k + 1] = p[1] + t * (q[1] - p[1]);
            k++;
        }
    }
    return k;
}

int rd_geom_make(const fp_allocator *a, const rd_layer *ly, const rd_view *v,
                 double tol, rd_geom *g)
{
    rd_geom_free(a, g);
    g->rs = fp__calloc(a, ly->nrings + 1, sizeof *g->rs);
    if (!g->rs) return FP_ENOMEM;
    /* The frame widened by a margin: clipped edges stay out of sight. */
    double mg = 4 * tol + 8;
    double cx0 = v->fx - mg, cy0 = v->fy - mg, cx1 = v->fx + v->fw + mg,
           cy1 = v->fy + v->fh + mg;
    double *dev = NULL, *b1 = NULL, *b2 = NULL;
    size_t devcap = 0, bcap1 = 0, bcap2 = 0, stkcap = 0, keepcap = 0;
    uint8_t *keep = NULL;
    span *stk = NULL;
    int rc = FP_OK;
    for (size_t fi = 0; fi < ly->nf && !rc; fi++) {
        const rd_feat *f = &ly->f[fi];
        double bx0 = v->fx + (f->bbox[0] - v->mx0) * v->s;
        double bx1 = v->fx + (f->bbox[2] - v->mx0) * v->s;
        double by0 = v->fy + (v->my1 - f->bbox[3]) * v->s;
        double by1 = v->fy + (v->my1 - f->bbox[1]) * v->s;
        int off = bx1 < cx0 || bx0 > cx1 || by1 < cy0 || by0 > cy1;
        for (uint32_t r = f->ring0; r < f->ring0 + f->nrings && !rc; r++) {
            g->rs[r] = (uint32_t)g->npts;
            uint32_t s = ly->rs[r], n = ly->rs[r + 1] - s;
            if (off || n < 4) continue;
            uint32_t m = n - 1;
            if ((rc = fp__grow(a, (void **)&dev, &devcap, 2 * (size_t)m, sizeof *dev)) ||
                (rc = fp__grow(a, (void **)&keep, &keepcap, m, 1)))
                break;
            double rx0 = INFINITY, ry0 = INFINITY, rx1 = -INFINITY, ry1 = -INFINITY;
            for (uint32_t i = 0; i < m; i++) {
                double x = v->fx + (ly->xy[2 * (s + i)] - v->mx0) * v->s;
                double y = v->fy + (v->my1 - ly->xy[2 * (s + i) + 1]) * v->s;
                dev[2 * i] = x, dev[2 * i + 1] = y;
                rx0 = fmin(rx0, x), rx1 = fmax(rx1, x);
                ry0 = fmin(ry0, y), ry1 = fmax(ry1, y);
                keep[i] = ly->node[s + i];
            }
            /* Off the frame, or smaller than the resolution: not drawn. */
            if (rx1 < cx0 || rx0 > cx1 || ry1 < cy0 || ry0 > cy1) continue;
            if (rx1 - rx0 < tol && ry1 - ry0 < tol) continue;
            /* A ring without nodes (an island): anchor at a point and the
             * point farthest from it. */
            int any = 0;
            for (uint32_t i = 0; i < m && !any; i++) any = keep[i];
            if (!any) {
                uint32_t far = 0;
                double fd = -1;
                uint32_t lo = 0;
                for (uint32_t i = 1; i < m; i++)
                    if (lex_less(dev + 2 * i, dev + 2 * lo)) lo = i;
                for (uint32_t i = 0; i < m; i++) {
                    double dx = dev[2 * i] - dev[2 * lo], dy = dev[2 * i + 1] - dev[2 * lo + 1];
                    if (dx * dx + dy * dy > fd) fd = dx * dx + dy * dy, far = i;
                }
                keep[lo] = keep[far] = 1;
            }
            if ((rc = dp_ring(a, dev, m, keep, tol * tol, &stk, &stkcap))) break;
            size_t k = 0;
            for (uint32_t i = 0; i < m; i++)
                if (keep[i]) dev[2 * k] = dev[2 * i], dev[2 * k + 1] = dev[2 * i + 1], k++;
            if (k < 3) continue;
            const double *out = dev;
            int inside = rx0 >= cx0 && rx1 <= cx1 && ry0 >= cy0 && ry1 <= cy1;
            if (!inside) {
                size_t need = 2 * (k * 2 + 8);
                if ((rc = fp__grow(a, (void **)&b1, &bcap1, need, sizeof *b1)) ||
                    (rc = fp__grow(a, (void **)&b2, &bcap2, need, sizeof *b2)))
                    break;
                k = clip_edge(dev, k, b1, 0, cx0);
                k = clip_edge(b1, k, b2, 1, cx1);
                k = clip_edge(b2, k, b1, 2, cy0);
                k = clip_edge(b1, k, b2, 3, cy1);
                if (k < 3) continue;
                out = b2;
            }
            /* On vector pages, coordinates on a 1/8 unit grid print short
             * (identical arcs stay identical). */
            double q = v->quant;
            for (size_t i = 0; i < k && !rc; i++)
                rc = q > 0 ? geom_push(a, g, round(out[2 * i] / q) * q, round(out[2 * i + 1] / q) * q)
                           : geom_push(a, g, out[2 * i], out[2 * i + 1]);
            if (!rc) rc = geom_push(a, g, g->xy[2 * g->rs[r]], g->xy[2 * g->rs[r] + 1]);
        }
    }
    /* A ring not drawn ends where it began: empty. */
    g->rs[ly->nrings] = (uint32_t)g->npts;
    fp__free(a, dev);
    fp__free(a, b1);
    fp__free(a, b2);
    fp__free(a, keep);
    fp__free(a, stk);
    return rc;
}

void rd_geom_free(const fp_allocator *a, rd_geom *g)
{
    fp__free(a, g->xy);
    fp__free(a, g->rs);
    memset(g, 0, sizeof *g);
}

/* ---- inside tests and pole of inaccessibility ---- */

int rd_inside(const double *xy, const uint32_t *rs, size_t r0, size_t nr, double x,
              double y)
{
    int in = 0;
    for (size_t r = r0; r < r0 + nr; r++) {
        uint32_t s = rs[r], e = rs[r + 1];
        if (e - s < 4) continue;
        for (uint32_t i = s; i + 1 < e; i++) {
            double ax = xy[2 * i], ay = xy[2 * i + 1], bx = xy[2 * i + 2], by = xy[2 * i + 3];
            if ((ay > y) != (by > y) && x < ax + (y - ay) * (bx - ax) / (by - ay)) in = !in;
        }
    }
    return in;
}

int rd_seg_box(double ax, double ay, double bx, double by, rd_box b)
{
    if (fmax(ax, bx) < b.x0 || fmin(ax, bx) > b.x1 || fmax(ay, by) < b.y0 ||
        fmin(ay, by) > b.y1)
        return 0;
    /* The box's corners on both sides of the line (or on it): crossing. */
    double dx = bx - ax, dy = by - ay;
    double c[4] = {(b.x0 - ax) * dy - (b.y0 - ay) * dx, (b.x1 - ax) * dy - (b.y0 - ay) * dx,
                   (b.x0 - ax) * dy - (b.y1 - ay) * dx, (b.x1 - ax) * dy - (b.y1 - ay) * dx};
    int pos = 0, neg = 0;
    for (int i = 0; i < 4; i++) pos |= c[i] >= 0, neg |= c[i] <= 0;
    return pos && neg;
}

int rd_box_inside(const double *xy, const uint32_t *rs, size_t r0, size_t nr, rd_box b)
{
    if (!rd_inside(xy, rs, r0, nr, (b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2)) return 0;
    for (size_t r = r0; r < r0 + nr; r++) {
        uint32_t s = rs[r], e = rs[r + 1];
        if (e - s < 4) continue;
        for (uint32_t i = s; i + 1 < e; i++)
            if (rd_seg_box(xy[2 * i], xy[2 * i + 1], xy[2 * i + 2], xy[2 * i + 3], b))
                return 0;
    }
    return 1;
}

/* Signed distance from (x, y) to the rings: > 0 inside. */
static double sdist(const double *xy, const uint32_t *rs, size_t r0, size_t nr, double x,
                    double y)
{
    int in = 0;
    double best = INFINITY;
    for (size_t r = r0; r < r0 + nr; r++) {
        uint32_t s = rs[r], e = rs[r + 1];
        if (e - s < 4) continue;
        for (uint32_t i = s; i + 1 < e; i++) {
            double ax = xy[2 * i], ay = xy[2 * i + 1], bx = xy[2 * i + 2], by = xy[2 * i + 3];
            if ((ay > y) != (by > y) && x < ax + (y - ay) * (bx - ax) / (by - ay)) in = !in;
            double d = seg_dist2(x, y, ax, ay, bx, by);
            if (d < best) best = d;
        }
    }
    return (in ? 1 : -1) * sqrt(best);
}

typedef struct cell {
    double x, y, h, d, max;
} cell;

static cell mkcell(const double *xy, const uint32_t *rs, size_t r0, size_t nr, double x,
                   double y, double h)
{
    cell c = {x, y, h, sdist(xy, rs, r0, nr, x, y), 0};
    c.max = c.d + h * 1.4142135623730951;
    return c;
}

static void heap_push(cell *hp, size_t *n, cell c)
{
    size_t i = (*n)++;
    hp[i] = c;
    while (i && hp[(i - 1) / 2].max < hp[i].max) {
        cell t = hp[i];
        hp[i] = hp[(i - 1) / 2];
        hp[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static cell heap_pop(cell *hp, size_t *n)
{
    cell top = hp[0];
    hp[0] = hp[--*n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, b = i;
        if (l < *n && hp[l].max > hp[b].max) b = l;
        if (r < *n && hp[r].max > hp[b].max) b = r;
        if (b == i) break;
        cell t = hp[i];
        hp[i] = hp[b];
        hp[b] = t;
        i = b;
    }
    return top;
}

/* Polylabel (Agafonkin, Mapbox 2016): best-first search over a quadtree
 * of cells, pruning cells that cannot beat the best distance so far. */
void rd_polylabel(const fp_allocator *a, const double *xy, const uint32_t *rs, size_t r0,
                  size_t nr, double precision, double *px, double *py, double *dist)
{
    double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
    double cxs = 0, cys = 0, area = 0;
    for (size_t r = r0; r < r0 + nr; r++) {
        uint32_t s = rs[r], e = rs[r + 1];
        if (e - s < 4) continue;
        for (uint32_t i = s; i + 1 < e; i++) {
            double ax = xy[2 * i], ay = xy[2 * i + 1], bx = xy[2 * i + 2], by = xy[2 * i + 3];
            x0 = fmin(x0, ax), x1 = fmax(x1, ax), y0 = fmin(y0, ay), y1 = fmax(y1, ay);
            double f = ax * by - bx * ay;
            cxs += (ax + bx) * f, cys += (ay + by) * f, area += f * 3;
        }
    }
    *dist = 0;
    if (!(x1 >= x0)) {
        *px = *py = NAN;
        return;
    }
    double w = x1 - x0, h = y1 - y0, cs = fmin(w, h);
    *px = x0, *py = y0;
    if (cs <= 0) return;
    double hh = cs / 2;
    size_t nx = (size_t)ceil(w / cs), ny = (size_t)ceil(h / cs);
    size_t cap = nx * ny + 4096;
    cell *hp = fp__malloc(a, cap * sizeof *hp);
    cell best = mkcell(xy, rs, r0, nr, x0 + w / 2, y0 + h / 2, 0);
    if (area != 0) {
        cell c = mkcell(xy, rs, r0, nr, cxs / area, cys / area, 0);
        if (c.d > best.d) best = c;
    }
    if (!hp) {
        *px = best.x, *py = best.y, *dist = best.d;
        return;
    }
    size_t n = 0;
    for (double x = x0; x < x1; x += cs)
        for (double y = y0; y < y1; y += cs)
            if (n < cap) heap_push(hp, &n, mkcell(xy, rs, r0, nr, x + hh, y + hh, hh));
    while (n) {
        cell c = heap_pop(hp, &n);
        if (c.d > best.d) best = c;
        if (c.max - best.d <= precision) continue;
        double q = c.h / 2;
        if (n + 4 > cap) {
            cell *nh = fp__realloc(a, hp, 2 * cap * sizeof *hp);
            if (!nh) break;
            hp = nh, cap *= 2;
        }
        heap_push(hp, &n, mkcell(xy, rs, r0, nr, c.x - q, c.y - q, q));
        heap_push(hp, &n, mkcell(xy, rs, r0, nr, c.x + q, c.y - q, q));
        heap_push(hp, &n, mkcell(xy, rs, r0, nr, c.x - q, c.y + q, q));
        heap_push(hp, &n, mkcell(xy, rs, r0, nr, c.x + q, c.y + q, q));
    }
    fp__free(a, hp);
    *px = best.x, *py = best.y, *dist = best.d;
}
