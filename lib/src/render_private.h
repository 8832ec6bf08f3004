/* Private declarations shared by the map renderer (render*.c). */
#ifndef FP_RENDER_PRIVATE_H
#define FP_RENDER_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include <cairo.h>

#include "internal.h"

#define RD_NQUAL 8     /* qualitative fill colours */
#define RD_MAXCLASS 9  /* choropleth classes */
#define RD_NCAT 7      /* point category colours (then "other") */

/* One footprint drawn. */
typedef struct rd_feat {
    size_t src;             /* its index in the fp_layer */
    uint32_t ring0, nrings; /* its rings in the rd_layer */
    double bbox[4];         /* map units: min x, min y, max x, max y */
    int colour;             /* qualitative palette index */
    int cls;                /* choropleth class; -1 = no data */
    double value;           /* NAN = no data */
    uint32_t fill;          /* 0xRRGGBB as last drawn */
    unsigned char in_inset; /* labelled in the inset, not on the main map */
} rd_feat;

/* One layer added to the map: its footprints projected to map units. */
typedef struct rd_layer {
    const fp_layer *L;
    const fp_edition *ed;
    int role, in_extent;
    char *legend;
    size_t nf;
    rd_feat *f;
    long *of_src;           /* fp_layer index -> f index, or -1 */
    size_t nrings;
    uint32_t *rs;           /* nrings + 1 offsets into xy, in points */
    size_t npts;
    double *xy;             /* projected vertices, rings closed */
    uint8_t *node;          /* vertices every generalisation keeps */
    uint32_t *adj_off, *adj; /* neighbours of each footprint (areas) */
} rd_layer;

/* A layer's rings generalised and clipped for one view, device units:
 * ring i is xy[rs[i] .. rs[i + 1]) (points), closed; fewer than 4 points
 * = not drawn. */
typedef struct rd_geom {
    double *xy;
    size_t npts, cap;
    uint32_t *rs;
} rd_geom;

/* A frame on the page showing a rectangle of map units. */
typedef struct rd_view {
    double fx, fy, fw, fh;     /* frame on the page */
    double mx0, my0, mx1, my1; /* map units shown */
    double s;                  /* page units per map unit */
    double quant;              /* round page coordinates to this (0: no) */
    rd_geom *g;                /* per layer */
} rd_view;

typedef struct rd_label {
    fp_map_label pub;
    char *text;
    double fs;          /* font size */
    int nlines;
    uint32_t ink;       /* text colour */
} rd_label;

typedef struct rd_box { double x0, y0, x1, y1; } rd_box;

struct fp_map {
    fp_ctx *ctx;
    fp_allocator a;
    int status;
    char msg[FP_ERRMSG_MAX];
    fp_map_opts o;
    char *title, *subtitle;
    void *pjctx;           /* PJ_CONTEXT * of the map's own */
    void *pj;              /* PJ *: lon/lat -> map units */
    rd_layer *layers;
    size_t nlayers, caplayers;
    /* choropleth */
    int has_values;
    char *values_title;
    int nclasses, method;
    int ncls;                      /* classes actually made */
    double cls_lo[RD_MAXCLASS], cls_hi[RD_MAXCLASS];
    size_t cls_n[RD_MAXCLASS];
    int decimals;
    /* points */
    size_t npt, ptcap;
    double *pt;            /* map units, x y pairs */
    int32_t *pt_key;       /* category index, or layer << 24 | feature
                              (by footprint), -1 = outside */
    int pt_by_feat;
    char **cats;           /* categories in order of first sight */
    size_t ncats, capcats, capcatn;
    size_t *cat_n;         /* points per category */
    uint32_t *cathash;     /* category index + 1 by hash of its name */
    size_t catslots;
    char *pt_legend;
    char **attrib;         /* attributions added beside the editions' */
    size_t nattrib, capattrib;
    /* the last write */
    int drawn;
    double W, H;
    int vector;
    rd_view main, inset;
    int has_inset;
    rd_label *labels;
    size_t nlabels, caplabels;
    const char **dropped;
    size_t ndropped, capdropped;
};

/* ---- render.c ---- */
int rd_fail(fp_map *m, int code, const char *fmt, ...) FP_PRINTF(3, 4);
const char *rd_short_name(const char *name, char *buf, size_t size);
void rd_views_free(fp_map *m);

/* ---- render_geom.c ---- */
/* Projects n lon/lat pairs in place to map units; FP_ECRS on failure. */
int rd_project(fp_map *m, double *xy, size_t n);
/* Map units -> lon/lat (one point). */
int rd_unproject(const fp_map *m, double x, double y, double *lon, double *lat);
/* One lon/lat point to map units, without touching the map's status. */
int rd_project1(const fp_map *m, double *x, double *y);
int rd_proj_setup(fp_map *m);
void rd_proj_free(fp_map *m);
/* Marks the vertices shared arcs end at (kept by every generalisation). */
int rd_mark_nodes(const fp_allocator *a, rd_layer *ly);
/* Footprints sharing boundary: within tol map units along >= 2 vertices. */
int rd_adjacency(const fp_allocator *a, rd_layer *ly, double tol);
/* Colours f[i].colour over the adjacency: neighbours differ (and where
 * they can, are not alike: like[c] = colours hard to tell from c). */
int rd_colour(const fp_allocator *a, rd_layer *ly, int ncolours, const unsigned *like);
/* Generalises and clips a layer for a view (tol in page units). */
int rd_geom_make(const fp_allocator *a, const rd_layer *ly, const rd_view *v,
                 double tol, rd_geom *g);
void rd_geom_free(const fp_allocator *a, rd_geom *g);
/* Pole of inaccessibility of rings [r0, r0 + nr) of xy/rs (even-odd),
 * to within `precision`; its distance to the nearest edge in *dist. */
void rd_polylabel(const fp_allocator *a, const double *xy, const uint32_t *rs,
                  size_t r0, size_t nr, double precision, double *px,
                  double *py, double *dist);
/* Even-odd inside test and box tests on the same rings. */
int rd_inside(const double *xy, const uint32_t *rs, size_t r0, size_t nr,
              double x, double y);
int rd_box_inside(const double *xy, const uint32_t *rs, size_t r0, size_t nr,
                  rd_box b);
int rd_seg_box(double ax, double ay, double bx, double by, rd_box b);

/* ---- render_class.c ---- */
/* Breaks of sorted values v[0..n) into k classes: hi[0..*made) upper
 * bounds (inclusive). */
int rd_classify(const fp_allocator *a, const double *v, size_t n, int k,
                int method, double *hi, int *made);
int rd_values_apply(fp_map *m);
void rd_format_number(double v, int decimals, char *buf, size_t size);

/* ---- render_label.c ---- */
/* Places the labels of one view (inset or main) around obstacles (the
 * first nhard always avoided, the others by leader labels when they can
 * be); the land mask's summed-area table (satw x sath cells of satk page
 * units) steers leader labels to open sea. */
int rd_place_labels(fp_map *m, cairo_t *cr, rd_view *v, int inset,
                    const rd_box *obst, size_t nobst, size_t nhard,
                    const uint32_t *sat, int satw, int sath, double satk, double fs);
/* The box of a label of nlines lines at font size fs, widest line textw. */
void rd_label_box(double fs, int nlines, double textw, double *w, double *h);

/* ---- render_draw.c ---- */
int rd_write(fp_map *m, const char *path);
/* Selects the map's fonts: labels condensed, headings bold. */
void rd_font(cairo_t *cr, int bold, int condensed, double size);

#endif
