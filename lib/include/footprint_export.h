/*
 * footprint_export.h — Export through OGR and web maps.
 * Part of libfootprint's public API: include footprint.h, which includes
 * this file.
 *
 * Simplification keeps neighbours seamless: the boundaries of a layer are
 * cut into arcs (stretches between the points where the set of footprints
 * on either side changes), every arc is simplified once, and each
 * footprint is reassembled from the simplified arcs, so two footprints
 * that shared a boundary share it exactly afterwards: no gaps, no
 * slivers.  A simplified arc never passes over another vertex of the
 * layer (so islands and enclaves stay on their side), arcs never cross,
 * no ring loses half its area, and every footprint is checked valid by
 * GEOS; where any of this breaks, the vertex farthest from the offending
 * shortcut is put back and the check repeated, down to full detail.
 */
#ifndef FOOTPRINT_EXPORT_H
#define FOOTPRINT_EXPORT_H

#include "footprint.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Topology-safe simplification                                         */

typedef struct fp_simplify_opts {
    double tolerance_m;  /* Douglas-Peucker tolerance in metres on the
                            ground (0: keep every vertex) */
    double keep_area_m2; /* islands and holes touching no other footprint
                            and smaller than this may be dropped; larger
                            ones never are, nor a footprint's largest part.
                            < 0 (default): 4 * tolerance_m squared */
    int precision;       /* round coordinates to this many decimals
                            (0..15; 5 is about a metre), checked like the
                            simplification; -1 (default): keep them */
    double snap_m;       /* vertices closer than this are one vertex, and
                            a vertex this close to another ring's edge is
                            inserted into it (default 0.001) */
} fp_simplify_opts;

typedef struct fp_simplify_stats {
    size_t vertices_in, vertices_out; /* rings closed */
    size_t arcs, shared_arcs;         /* shared: between two footprints */
    size_t rings_dropped;     /* small unshared islands and holes */
    size_t snapped;           /* near-coincident vertices merged and
                                 vertices inserted into nearby edges */
    size_t restored;          /* vertices put back where an arc crossed
                                 another, a ring collapsed or GEOS found
                                 a footprint invalid */
    size_t rounds;            /* passes of checks */
    int precision_used;       /* the most decimals a vertex kept: where
                                 rounding made boundaries meet, their
                                 vertices keep two more (and more) */
    size_t repaired;          /* footprints still invalid with every arc
                                 at full detail (invalid input), made
                                 valid by GEOS */
} fp_simplify_stats;

void fp_simplify_opts_init(fp_simplify_opts *opts);

/* A new layer with the footprints of `in` simplified (codes, names and
 * order kept; no footprint is ever dropped).  stats may be NULL.  Fails
 * with FP_EINVAL (bad options; an edition with no geometry of its own),
 * FP_ENOMEM or FP_EFORMAT (GEOS failed). */
int fp_layer_simplify(fp_ctx *ctx, const fp_layer *in, const fp_simplify_opts *opts,
                      fp_layer **out, fp_simplify_stats *stats);

/* ------------------------------------------------------------------ */
/* Export through OGR                                                   */

/* Where the exporters find the layers of editions (the one exported and,
 * for parent codes, others): the layer stays owned by the source.  Return
 * FP_ENOTFOUND for an edition the source does not have. */
typedef int (*fp_layer_source)(void *arg, fp_ctx *ctx, const fp_edition *ed,
                               const fp_layer **out);

typedef struct fp_export_opts {
    const char *format;   /* OGR driver ("GeoJSON", "GPKG", "FlatGeobuf",
                             "ESRI Shapefile", or any vector driver that
                             creates files); NULL: from the extension
                             (.geojson .json .gpkg .fgb .shp, then GDAL's
                             own list) */
    const char *date;     /* YYYY-MM-DD: only footprints valid on the date
                             (membership editions date each footprint),
                             parents as on that date; it must fall within
                             the edition's validity.  NULL: every
                             footprint, each with its parents as on the
                             last day of its validity up to `today` */
    const char *today;    /* YYYY-MM-DD for the above; NULL: the latest
                             facts known */
    const char *layer_name; /* NULL: the edition id */
    fp_simplify_opts simplify; /* precision -1: the format's default
                             (GeoJSON 7 decimals, RFC 7946); tolerance 0
                             and precision -1 write the stored geometry */
} fp_export_opts;

void fp_export_opts_init(fp_export_opts *opts);

/*
 * Writes edition `edition` of `cat` to `path`, one feature per footprint
 * (MultiPolygon, WGS84 longitude/latitude; GeoJSON as RFC 7946) with the
 * fields
 *   code, ods_code (null when unknown), name, level, edition,
 *   region_code, region_name   the NHS region (parent facts, or through
 *                              the system footprint for lower tiers),
 *   system_code, system_name   for first-wave ICSs, places and sub-ICB
 *                              locations/CCGs: the ICB or STP that holds
 *                              (99 % of) the footprint,
 *   valid_from, valid_to       YYYY-MM-DD, null when open,
 * and the Open Government Licence attribution: a top-level "attribution"
 * member in GeoJSON, an `attribution` field elsewhere (Shapefile names are
 * cut to 10 characters: regioncode, regionname, systemcode, systemname,
 * attributn).  The file is written beside the target under a temporary
 * name and renamed when complete (a Shapefile's parts are built in a
 * temporary directory), so a failure leaves the old file or none.
 * FP_EINVAL (bad options, unknown format, an edition without geometry of
 * its own), FP_ENOTFOUND, FP_EIO (cannot write), FP_ENOMEM.  stats may
 * be NULL.
 */
int fp_export(fp_ctx *ctx, const fp_catalogue *cat, const char *edition,
              fp_layer_source get, void *arg, const char *path,
              const fp_export_opts *opts, fp_simplify_stats *stats);

/* fp_export from an atlas's catalogue and layers. */
int fp_atlas_export(fp_ctx *ctx, const fp_atlas *atlas, const char *edition,
                    const char *path, const fp_export_opts *opts,
                    fp_simplify_stats *stats);

/* ------------------------------------------------------------------ */
/* Web maps (Leaflet)                                                   */

typedef struct fp_webmap_opts {
    const char *assets;   /* directory holding index.html, footprint.js,
                             footprint.css and leaflet/ (Leaflet 1.9.4, as
                             the build vendors it); required */
    const char *const *views; /* NULL-terminated edition ids the layer
                             switcher offers, the first shown first; NULL:
                             every polygon edition of the NHS tiers */
    const char *today;    /* YYYY-MM-DD: each view shows its edition as on
                             this day, or its last day; NULL: the latest */
    const char *title;    /* NULL: "NHS footprints" */
    double tolerance_m;   /* default 100 */
    int precision;        /* default 5 */
} fp_webmap_opts;

void fp_webmap_opts_init(fp_webmap_opts *opts);

/*
 * Writes a self-contained Leaflet map into the directory `dir`: index.html,
 * footprint.js, footprint.css, leaflet/ and data.js (every layer the views
 * need, simplified, as GeoJSON assigned to a global, so the page works
 * from file:// as from any static server).  The directory is built beside
 * `dir` under a temporary name and renamed into place when complete; an
 * existing `dir` is replaced only when it is empty or a map written
 * before (it holds .footprint-map).
 */
int fp_webmap_write(fp_ctx *ctx, const fp_catalogue *cat, fp_layer_source get,
                    void *arg, const char *dir, const fp_webmap_opts *opts);

#ifdef __cplusplus
}
#endif

#endif /* FOOTPRINT_EXPORT_H */
