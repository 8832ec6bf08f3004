/*
 * points_ogr.h — points in and out of the geo world, for `footprint
 * locate` (geo side: GDAL/OGR and PROJ).  Private to libfootprint and its
 * CLI; the core never includes it.
 *
 *   - fp__xy_to_wgs: coordinates in any CRS PROJ knows, transformed in
 *     arrays to WGS84 latitude/longitude;
 *   - fp__points_out: points with string and real attributes written
 *     through OGR (GeoPackage, GeoJSON, FlatGeobuf) to a temporary file
 *     beside the target, renamed into place when complete.
 */
#ifndef FP_POINTS_OGR_H
#define FP_POINTS_OGR_H

#include <stddef.h>

#include "footprint.h"

/* ---- coordinates in any CRS ---- */

typedef struct fp__xy_to_wgs fp__xy_to_wgs;

/* A transform from `crs` ("EPSG:27700", a PROJ string, WKT: anything
 * PROJ takes) to WGS84 longitude/latitude, with x and y in the CRS's
 * traditional GIS order (easting then northing; longitude then latitude).
 * It has its own PROJ context: one per thread.  FP_ECRS when PROJ does not
 * know the CRS or cannot transform it. */
int fp__xy_to_wgs_new(fp_ctx *ctx, const char *crs, fp__xy_to_wgs **out);
void fp__xy_to_wgs_free(fp__xy_to_wgs *t);
/* Is the CRS British National Grid (EPSG:27700)?  Its points are then
 * checked against the grid (easting 0..700000, northing 0..1300000 m),
 * as fp_bng_to_latlon does. */
int fp__xy_to_wgs_is_bng(const fp__xy_to_wgs *t);
/* Transforms n points: lat[i], lon[i] from x[i], y[i] (the arrays may be
 * the same: x with lon, y with lat).  Points that are not finite, off the
 * British National Grid (for EPSG:27700) or that PROJ cannot transform
 * become NAN, NAN.  Returns how many did. */
size_t fp__xy_to_wgs_n(fp__xy_to_wgs *t, const double *x, const double *y, size_t n,
                       double *lat, double *lon);

/* ---- points out through OGR ---- */

typedef struct fp__points_out fp__points_out;

enum { FP__FIELD_STRING = 0, FP__FIELD_REAL = 1 };

/* Creates `path` (through a temporary file beside it) in `format`:
 * "gpkg", "geojson" or "fgb"; path NULL writes GeoJSON to standard output
 * (no temporary file then).  One layer named `layer` of points in WGS84
 * (EPSG:4326) with nfields attributes (names unique and non-empty; types
 * FP__FIELD_*).  `description` (the licence attribution) goes where the
 * format keeps one (GeoPackage contents, GeoJSON "description"); NULL for
 * none.  FP_EINVAL on an unknown format, FP_EIO when the file cannot be
 * created. */
int fp__points_out_new(fp_ctx *ctx, const char *path, const char *format,
                       const char *layer, size_t nfields, const char *const *names,
                       const int *types, const char *description,
                       fp__points_out **out);
/* Adds one point (lat, lon NAN: a feature without geometry, which
 * FlatGeobuf cannot hold: GDAL leaves such features out of it, so callers
 * should count them) with its attributes as text (NULL or "": null; reals
 * parsed).  Errors stick: every later call returns the first error.
 * FlatGeobuf files get a spatial index, so their features come in its
 * order, not the order added. */
int fp__points_out_add(fp__points_out *w, double lat, double lon,
                       const char *const *values);
/* Closes the dataset and renames the temporary file into place; frees w.
 * On error nothing is left at the path (nor the temporary file). */
int fp__points_out_finish(fp__points_out *w);
/* Discards the output (removes the temporary file); frees w. */
void fp__points_out_abort(fp__points_out *w);
/* The temporary file being written (NULL for standard output), for a
 * signal handler that must remove it. */
const char *fp__points_out_tmp(const fp__points_out *w);

#endif
