/* Labels: each area footprint's name at its pole of inaccessibility,
 * wrapped onto up to three lines to fit inside it; one that fits nowhere
 * inside is moved out with a leader line (preferring open sea, never over
 * another label, the legend or the inset), or dropped.  No two labels
 * overlap. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "footprint.h"
#include "render_private.h"

#define NVAR 6 /* 1, 2, 3 lines; at full size, then at SMALLER */
#define SMALLER 0.85
#define MAX_LEADERS 60

typedef struct variant {
    char text[300]; /* lines separated by '\n' */
    int nlines;
    double w, h;    /* box */
    double fs;
} variant;

typedef struct cand {
    size_t layer, feat;
    int context;      /* a grey neighbour: inside or not at all */
    double px, py, r; /* pole and its distance to the boundary */
    variant var[NVAR];
    int nvar, nfull; /* variants; those at full size come first */
} cand;

static double line_width(cairo_t *cr, const char *s, size_t n)
{
    char buf[300];
    if (n >= sizeof buf) n = sizeof buf - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    cairo_text_extents_t e;
    cairo_text_extents(cr, buf, &e);
    return e.x_advance;
}

/* The widest line of text split at word breaks brk[0..nb) (indices of the
 * spaces that become line ends). */
static double split_width(cairo_t *cr, const char *s, const size_t *brk, int nb)
{
    double w = 0;
    size_t start = 0;
    for (int i = 0; i <= nb; i++) {
        size_t end = i < nb ? brk[i] : strlen(s);
        w = fmax(w, line_width(cr, s + start, end - start));
        start = end + 1;
    }
    return w;
}

void rd_label_box(double fs, int nlines, double textw, double *w, double *h)
{
    *w = textw + 0.3 * fs;
    *h = nlines * 1.1 * fs + 0.1 * fs;
}

/* One line, then the most balanced two and three line splits. */
static void make_variants(cairo_t *cr, const char *s, double fs, cand *c)
{
    size_t sp[64];
    int nsp = 0;
    for (size_t i = 0; s[i] && nsp < 64; i++)
        if (s[i] == ' ') sp[nsp++] = i;
    cairo_set_font_size(cr, fs);
    for (int lines = 1; lines <= 3 && lines - 1 <= nsp; lines++) {
        size_t best[2] = {0, 0};
        double bw = INFINITY;
        if (lines == 1) {
            bw = split_width(cr, s, best, 0);
        } else if (lines == 2) {
            for (int i = 0; i < nsp; i++) {
                size_t b[1] = {sp[i]};
                double w = split_width(cr, s, b, 1);
                if (w < bw) bw = w, best[0] = sp[i];
            }
        } else {
            for (int i = 0; i < nsp; i++)
                for (int j = i + 1; j < nsp; j++) {
                    size_t b[2] = {sp[i], sp[j]};
                    double w = split_width(cr, s, b, 2);
                    if (w < bw) bw = w, best[0] = sp[i], best[1] = sp[j];
                }
        }
        variant *v = &c->var[c->nvar++];
        snprintf(v->text, sizeof v->text, "%s", s);
        for (int k = 0; k < lines - 1; k++)
            if (best[k] < sizeof v->text) v->text[best[k]] = '\n';
        v->nlines = lines;
        v->fs = fs;
        rd_label_box(fs, lines, bw, &v->w, &v->h);
    }
}

static int overlaps(rd_box a, rd_box b)
{
    return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

/* The subject first, then the neighbours; the most spacious first. */
static int cmp_cand(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    if (a->context != b->context) return a->context - b->context;
    return a->r > b->r ? -1 : a->r < b->r;
}

/* Land under a box, 0..1, from the summed-area table of the land mask
 * (satw x sath cells of satk page units). */
static double land(const uint32_t *sat, int satw, int sath, double satk, rd_box b)
{
    if (!sat) return 0;
    int x0 = (int)floor(b.x0 / satk), x1 = (int)ceil(b.x1 / satk);
    int y0 = (int)floor(b.y0 / satk), y1 = (int)ceil(b.y1 / satk);
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > satw) x1 = satw;
    if (y1 > sath) y1 = sath;
    if (x1 <= x0 || y1 <= y0) return 0;
    size_t W = (size_t)satw + 1;
    double s = (double)sat[(size_t)y1 * W + (size_t)x1] - sat[(size_t)y0 * W + (size_t)x1] -
               sat[(size_t)y1 * W + (size_t)x0] + sat[(size_t)y0 * W + (size_t)x0];
    return s / (255.0 * (x1 - x0) * (y1 - y0));
}

static int add_label(fp_map *m, const cand *c, const variant *v, rd_box b, int leader,
                     int inset, double fs)
{
    if (fp__grow(&m->a, (void **)&m->labels, &m->caplabels, m->nlabels + 1,
                 sizeof *m->labels))
        return FP_ENOMEM;
    rd_label *L = &m->labels[m->nlabels];
    memset(L, 0, sizeof *L);
    if (!(L->text = fp__strdup(&m->a, v->text))) return FP_ENOMEM;
    const rd_layer *ly = &m->layers[c->layer];
    L->pub.code = fp_layer_code(ly->L, ly->f[c->feat].src);
    L->pub.text = L->text;
    L->pub.x = b.x0, L->pub.y = b.y0, L->pub.w = b.x1 - b.x0, L->pub.h = b.y1 - b.y0;
    L->pub.ax = c->px, L->pub.ay = c->py;
    L->pub.leader = leader;
    L->pub.inset = inset;
    L->pub.role = ly->role;
    L->fs = fs;
    L->nlines = v->nlines;
    uint32_t fill = ly->f[c->feat].fill;
    double lum = (0.2126 * (fill >> 16 & 255) + 0.7152 * (fill >> 8 & 255) +
                  0.0722 * (fill & 255)) / 255;
    L->ink = c->context ? 0x6B6B6B : !leader && lum < 0.45 ? 0xFFFFFF : 0x1A1A1A;
    m->nlabels++;
    return FP_OK;
}

static int drop(fp_map *m, const rd_layer *ly, size_t i)
{
    if (fp__grow(&m->a, (void **)&m->dropped, &m->capdropped, m->ndropped + 1,
                 sizeof *m->dropped))
        return FP_ENOMEM;
    m->dropped[m->ndropped++] = fp_layer_code(ly->L, ly->f[i].src);
    return FP_OK;
}

static double orient(double ax, double ay, double bx, double by, double cx, double cy)
{
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
}

static int segs_cross(double ax, double ay, double bx, double by, double cx, double cy,
                      double dx, double dy)
{
    double d1 = orient(cx, cy, dx, dy, ax, ay), d2 = orient(cx, cy, dx, dy, bx, by);
    double d3 = orient(ax, ay, bx, by, cx, cy), d4 = orient(ax, ay, bx, by, dx, dy);
    return ((d1 > 0) != (d2 > 0)) && ((d3 > 0) != (d4 > 0)) && d1 && d2 && d3 && d4;
}

static int free_spot(const fp_map *m, size_t first, rd_box b, const rd_box *obst,
                     size_t nobst, double gap)
{
    rd_box g = {b.x0 - gap, b.y0 - gap, b.x1 + gap, b.y1 + gap};
    for (size_t i = first; i < m->nlabels; i++) {
        const fp_map_label *p = &m->labels[i].pub;
        rd_box o = {p->x, p->y, p->x + p->w, p->y + p->h};
        if (overlaps(g, o)) return 0;
    }
    for (size_t i = 0; i < nobst; i++)
        if (overlaps(g, obst[i])) return 0;
    return 1;
}

int rd_place_labels(fp_map *m, cairo_t *cr, rd_view *v, int inset, const rd_box *obst,
                    size_t nobst, size_t nhard, const uint32_t *sat, int satw, int sath,
                    double satk, double fs)
{
    cand *cs = NULL;
    size_t nc = 0, cap = 0;
    size_t first = m->nlabels; /* labels of this view start here */
    rd_font(cr, 0, 1, fs);
    double prec = fmax(0.5, fs / 10);
    for (size_t l = 0; l < m->nlayers; l++) {
        const rd_layer *ly = &m->layers[l];
        /* Areas, and on the main map their grey neighbours. */
        if (ly->role == FP_MAP_OUTLINE || (ly->role == FP_MAP_CONTEXT && inset)) continue;
        int context = ly->role == FP_MAP_CONTEXT;
        const rd_geom *g = &v->g[l];
        for (size_t i = 0; i < ly->nf; i++) {
            const rd_feat *f = &ly->f[i];
            if (!!f->in_inset != !!inset) continue;
            size_t pts = g->rs[f->ring0 + f->nrings] - g->rs[f->ring0];
            if (!pts) continue;
            /* Smaller on the page than a letter: no name can be read
             * there (LSOAs on a map of England); dropped unsought. */
            if (fmax(f->bbox[2] - f->bbox[0], f->bbox[3] - f->bbox[1]) * v->s < 0.8 * fs) {
                if (!context && drop(m, ly, i)) {
                    fp__free(&m->a, cs);
                    return rd_fail(m, FP_ENOMEM, "out of memory");
                }
                continue;
            }
            double px, py, d;
            rd_polylabel(&m->a, g->xy, g->rs, f->ring0, f->nrings, prec, &px, &py, &d);
            if (!isfinite(px) || px < v->fx || px > v->fx + v->fw || py < v->fy ||
                py > v->fy + v->fh)
                continue;
            if (fp__grow(&m->a, (void **)&cs, &cap, nc + 1, sizeof *cs)) {
                fp__free(&m->a, cs);
                return rd_fail(m, FP_ENOMEM, "out of memory");
            }
            cand *c = &cs[nc++];
            c->layer = l, c->feat = i, c->px = px, c->py = py, c->r = d;
            c->context = context;
            char nm[300];
            rd_short_name(fp_layer_name(ly->L, f->src), nm, sizeof nm);
            c->nvar = 0;
            if (context) { /* smaller, and never moved out */
                make_variants(cr, nm, fs * SMALLER, c);
                c->nfull = 0;
                continue;
            }
            make_variants(cr, nm, fs, c);
            c->nfull = c->nvar;
            /* A size smaller, inside only, while still legible. */
            if (fs * SMALLER >= (m->vector ? 5 : 8)) make_variants(cr, nm, fs * SMALLER, c);
        }
    }
    if (nc) qsort(cs, nc, sizeof *cs, cmp_cand);
    unsigned char *done = fp__calloc(&m->a, nc ? nc : 1, 1);
    if (!done) {
        fp__free(&m->a, cs);
        return rd_fail(m, FP_ENOMEM, "out of memory");
    }
    int rc = FP_OK;
    rd_box frame = {v->fx, v->fy, v->fx + v->fw, v->fy + v->fh};
    double gap = 0.15 * fs;
    /* Inside, at the pole: the most spacious footprints first. */
    for (size_t k = 0; k < nc && !rc; k++) {
        const cand *c = &cs[k];
        const rd_geom *g = &v->g[c->layer];
        const rd_feat *f = &m->layers[c->layer].f[c->feat];
        for (int j = 0; j < c->nvar; j++) {
            const variant *vr = &c->var[j];
            if (c->r < vr->h / 2 - 0.2 * vr->fs) continue; /* cannot fit */
            rd_box b = {c->px - vr->w / 2, c->py - vr->h / 2, c->px + vr->w / 2,
                        c->py + vr->h / 2};
            if (b.x0 < frame.x0 || b.x1 > frame.x1 || b.y0 < frame.y0 || b.y1 > frame.y1)
                continue;
            /* The ink sits a little inside the box. */
            double vf = vr->fs;
            rd_box ink = {b.x0 + 0.1 * vf, b.y0 + 0.12 * vf, b.x1 - 0.1 * vf,
                          b.y1 - 0.08 * vf};
            if (!rd_box_inside(g->xy, g->rs, f->ring0, f->nrings, ink)) continue;
            if (!free_spot(m, first, b, obst, nobst, gap)) continue;
            rc = add_label(m, c, vr, b, 0, inset, vf);
            done[k] = 1;
            break;
        }
    }
    /* Moved out with a leader line: the nearest free spot, preferring
     * open sea to land.  Unless more than MAX_LEADERS are left: a map that
     * dense would be all leaders, so those names are dropped. */
    size_t left = 0;
    for (size_t k = 0; k < nc; k++) left += !done[k] && !cs[k].context;
    for (size_t k = 0; k < nc && !rc; k++) {
        if (done[k] || cs[k].context) continue;
        const cand *c = &cs[k];
        if (left > MAX_LEADERS) {
            rc = drop(m, &m->layers[c->layer], c->feat);
            continue;
        }
        double best = INFINITY;
        rd_box bb = {0, 0, 0, 0};
        int bj = -1;
        /* Clear of every obstacle; failing that, of the hard ones. */
        for (int pass = 0; pass < 2 && bj < 0; pass++) {
        size_t no = pass ? nhard : nobst;
        if (pass && nhard == nobst) break;
        for (int j = 0; j < c->nfull; j++) {
            const variant *vr = &c->var[j];
            if (vr->nlines > 2 && c->nfull > 2) continue;
            for (int step = 1; step <= 28; step++) {
                double dist = fmax(c->r, 0) * 0.5 + step * 0.8 * fs;
                if (dist - fmax(c->r, 0) * 0.5 > best) break; /* cannot win */
                for (int a = 0; a < 24; a++) {
                    double th = (a * 15 + 7.5) * 3.14159265358979323846 / 180;
                    double dx = cos(th), dy = -sin(th);
                    double ext = fabs(vr->w / 2 * dx) + fabs(vr->h / 2 * dy);
                    double cx = c->px + dx * (dist + ext), cy = c->py + dy * (dist + ext);
                    rd_box b = {cx - vr->w / 2, cy - vr->h / 2, cx + vr->w / 2, cy + vr->h / 2};
                    if (b.x0 < frame.x0 + gap || b.x1 > frame.x1 - gap ||
                        b.y0 < frame.y0 + gap || b.y1 > frame.y1 - gap)
                        continue;
                    /* Near, over open sea, and compact (a long name on
                     * two lines rather than one). */
                    double score = dist + 4 * fs * land(sat, satw, sath, satk, b) +
                                   0.15 * vr->w;
                    if (score >= best) continue;
                    if (!free_spot(m, first, b, obst, no, gap)) continue;
                    /* Nor hide another footprint's anchor (its label may
                     * need to start there). */
                    int covers = 0;
                    for (size_t q = 0; q < nc && !covers; q++)
                        covers = q != k && !cs[q].context && cs[q].px >= b.x0 - gap &&
                                 cs[q].px <= b.x1 + gap && cs[q].py >= b.y0 - gap &&
                                 cs[q].py <= b.y1 + gap;
                    if (covers) continue;
                    /* The leader must not cross another label. */
                    double qx = fmin(fmax(c->px, b.x0), b.x1), qy = fmin(fmax(c->py, b.y0), b.y1);
                    int crosses = 0;
                    for (size_t i = first; i < m->nlabels && !crosses; i++) {
                        const fp_map_label *p = &m->labels[i].pub;
                        rd_box o = {p->x, p->y, p->x + p->w, p->y + p->h};
                        crosses = rd_seg_box(c->px, c->py, qx, qy, o);
                        /* Nor another leader line. */
                        if (!crosses && p->leader) {
                            double rx = fmin(fmax(p->ax, p->x), p->x + p->w);
                            double ry = fmin(fmax(p->ay, p->y), p->y + p->h);
                            crosses = segs_cross(c->px, c->py, qx, qy, p->ax, p->ay, rx, ry);
                        }
                    }
                    if (crosses) continue;
                    best = score, bb = b, bj = j;
                }
            }
        }
        }
        if (bj >= 0)
            rc = add_label(m, c, &c->var[bj], bb, 1, inset, fs);
        else
            rc = drop(m, &m->layers[c->layer], c->feat);
    }
    fp__free(&m->a, done);
    fp__free(&m->a, cs);
    if (rc) return rd_fail(m, FP_ENOMEM, "out of memory");
    return FP_OK;
}
