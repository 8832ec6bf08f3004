/*
 * footprint_render.h — Maps: PNG, SVG and PDF through cairo.
 * Part of libfootprint's public API: include footprint.h, which includes
 * this file.
 *
 * A map is a drawing object: make one with fp_map_new, add layers of
 * footprints (an edition's fp_layer, from an atlas or fp_catalogue_open),
 * optionally values for a choropleth and points, then fp_map_write it to
 * a .png, .svg or .pdf file.  Like a cairo surface, a map keeps its first
 * error: once a call has failed every later call returns that status and
 * does nothing, and fp_map_status / fp_map_errmsg say what went wrong (the
 * message is also left on the context, as for every call).
 *
 * Cartography: footprints of an area layer are filled so that no two
 * neighbours (footprints sharing boundary) share a colour, from Paul Tol's
 * colour-blind-safe "light" qualitative palette, or by class of value from
 * a colour-blind-safe sequential palette (choropleth; footprints without a
 * value are hatched and listed as "no data").  Labels sit at each
 * footprint's pole of inaccessibility; a label that does not fit inside
 * its footprint is moved out with a leader line or dropped, and no two
 * labels overlap.  Every map has a legend, a scale bar in km, a north
 * arrow and the Open Government Licence attribution of every edition
 * drawn; a title and a London inset on request.  Geometry is generalised
 * to the output resolution; SVG and PDF stay vector (no embedded raster).
 *
 * Threads and lifetimes: a map belongs to the thread of its context
 * (where it leaves its messages): free the map before the context.  The
 * layers and editions added must stay valid until the map is freed.
 */
#ifndef FOOTPRINT_RENDER_H
#define FOOTPRINT_RENDER_H

#include "footprint.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fp_map fp_map;

enum fp_map_projection {
    FP_MAP_BNG = 0,        /* British National Grid, EPSG:27700 (default) */
    FP_MAP_WEBMERCATOR = 1 /* Web Mercator, EPSG:3857 */
};

typedef struct fp_map_opts {
    double width;          /* pixels (PNG) or points (SVG, PDF); 0 = 1600
                              pixels for PNG, 595 points (A4) for SVG/PDF */
    double height;         /* 0 = from the shape of the extent */
    int projection;        /* enum fp_map_projection */
    const char *title;     /* NULL or "" = no title */
    const char *subtitle;  /* a line under the title; NULL = none */
    int labels;            /* label the area footprints (default 1) */
    int london_inset;      /* an inset of London (the map must show it) */
} fp_map_opts;

void fp_map_opts_init(fp_map_opts *opts);

/* A new, empty map.  Fails with FP_EINVAL (bad size or projection),
 * FP_ECRS (PROJ failed) or FP_ENOMEM; *out is NULL then. */
int fp_map_new(fp_ctx *ctx, const fp_map_opts *opts, fp_map **out);
void fp_map_free(fp_map *map);

/* FP_OK, or the first error the map met, and its one-line message. */
int fp_map_status(const fp_map *map);
const char *fp_map_errmsg(const fp_map *map);

/* ---- layers, drawn in the order added ---- */

enum fp_map_role {
    FP_MAP_AREAS = 0,   /* filled (neighbours differ, or the choropleth),
                           outlined and labelled */
    FP_MAP_CONTEXT = 1, /* surroundings: pale grey, thin outlines */
    FP_MAP_OUTLINE = 2  /* a heavy outline only (the system around its
                           places) */
};

typedef struct fp_map_layer_opts {
    int role;                 /* enum fp_map_role (default FP_MAP_AREAS) */
    const char *const *codes; /* only these footprints (ncodes of them);
                                 NULL = every footprint of the layer */
    size_t ncodes;
    const char *legend;       /* legend text; NULL = the edition's name */
    int in_extent;            /* -1 (default): areas and outlines set the
                                 extent, context does not; 0 or 1 */
} fp_map_layer_opts;

void fp_map_layer_opts_init(fp_map_layer_opts *opts);

/* Adds footprints of `layer` (edition `ed`, whose attribution the map
 * carries; NULL for a layer of one's own).  Fails with FP_ENOTFOUND (a
 * code not in the layer), FP_EFORMAT (a layer without geometry of its
 * own), FP_ECRS or FP_EINVAL. */
int fp_map_add_layer(fp_map *map, const fp_layer *layer, const fp_edition *ed,
                     const fp_map_layer_opts *opts);

/* Another attribution line the map must carry (for values or points
 * derived from other licensed data); editions' own are added already. */
int fp_map_add_attribution(fp_map *map, const char *text);

/* ---- choropleth ---- */

enum fp_map_class_method {
    FP_MAP_QUANTILE = 0, /* equal counts per class */
    FP_MAP_EQUAL = 1,    /* equal intervals */
    FP_MAP_JENKS = 2     /* natural breaks (Fisher-Jenks, optimal; above
                            3000 values on an evenly spaced sample) */
};

/* One value per footprint code of the area layers (add those first);
 * `title` heads the legend.  NaN is "no data".  A code that is not a
 * footprint of the area layers, or given twice, fails (FP_ENOTFOUND,
 * FP_EINVAL) naming it. */
int fp_map_set_values(fp_map *map, size_t n, const char *const *codes,
                      const double *values, const char *title);
/* The same from a CSV file with a header: the code column (NULL = "code"
 * when there is one, else the first column) and the value column (an
 * empty cell is no data).  Errors name the file and line: FP_EIO,
 * FP_EFIELD (no such column), FP_EFORMAT (not a number), FP_ENOTFOUND
 * (unknown code). */
int fp_map_read_values(fp_map *map, const char *path, const char *code_column,
                       const char *value_column);
/* Classes of the choropleth: 2..9 (default 5), enum fp_map_class_method
 * (default quantile). */
int fp_map_set_classes(fp_map *map, int nclasses, int method);

/* ---- points ---- */

/* Points drawn as small dots: coloured by the area footprint they fall in
 * (category NULL) or by category (up to 7 colours, the rest "other"). */
int fp_map_add_points(fp_map *map, size_t n, const double *lat,
                      const double *lon, const char *const *category,
                      const char *legend);
/* The same from a CSV file with a header: latitude and longitude columns
 * (lat/latitude, lon/long/lng/longitude) or British National Grid ones
 * (easting/northing, oseast1m/osnrth1m); colour_column NULL = by
 * footprint.  Rows with both coordinates empty are skipped (and counted in
 * the legend); anything else that is not a valid point is an error naming
 * the file and line. */
int fp_map_read_points(fp_map *map, const char *path, const char *colour_column);

/* ---- output ---- */

/* Draws the map into `path`: PNG, SVG or PDF by its extension.  The file
 * is written beside the target under a temporary name and renamed when
 * complete: a failure leaves no file behind.  May be called again. */
int fp_map_write(fp_map *map, const char *path);

/* ---- what was drawn (after fp_map_write) ---- */

typedef struct fp_map_label {
    const char *code;  /* the footprint labelled */
    const char *text;  /* lines separated by '\n' */
    double x, y, w, h; /* the label's box: output units, origin top left */
    double ax, ay;     /* its anchor: the pole of inaccessibility */
    int leader;        /* moved out of its footprint with a leader line */
    int inset;         /* placed in the London inset */
    int role;          /* its layer's enum fp_map_role: FP_MAP_AREAS, or
                          FP_MAP_CONTEXT for a grey neighbour's name */
} fp_map_label;

size_t fp_map_label_count(const fp_map *map);
const fp_map_label *fp_map_label_get(const fp_map *map, size_t i);
/* Labels of area footprints that could be placed neither inside nor
 * outside with a leader line; their codes through fp_map_dropped_code. */
size_t fp_map_dropped_count(const fp_map *map);
const char *fp_map_dropped_code(const fp_map *map, size_t i);
/* The fill of an area footprint as drawn, 0xRRGGBB; -1 when the map has
 * no area footprint with this code. */
long fp_map_fill_of(const fp_map *map, const char *code);
/* Where (lat, lon) falls on the main map, in output units from the top
 * left.  FP_EINVAL before the first fp_map_write. */
int fp_map_locate(const fp_map *map, double lat, double lon, double *x,
                  double *y);

/* ---- helpers ---- */

/* The footprints of `inner` lying within footprint `index` of `outer`:
 * those whose pole of inaccessibility (a point well inside each) `outer`
 * places in footprint `index`.  Indices go to out (up to max), their count
 * to *n. */
int fp_map_members_within(fp_ctx *ctx, const fp_layer *outer, size_t index,
                          const fp_layer *inner, size_t *out, size_t max,
                          size_t *n);

#ifdef __cplusplus
}
#endif

#endif /* FOOTPRINT_RENDER_H */
