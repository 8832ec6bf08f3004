/* Private: shared-boundary topology (topo.c), used by the exporters. */
#ifndef FP_TOPO_H
#define FP_TOPO_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* How n rings of one footprint nest: depth[i] = how many of the others
 * contain ring i (even: an exterior, odd: a hole), parent[i] = the
 * innermost of them (-1: none).  pts[i] holds np[i] closed lon/lat points.
 * Rings may touch but not cross (valid polygons). */
int fp__ring_nesting(fp_ctx *ctx, size_t n, const double *const *pts,
                     const size_t *np, int *depth, long *parent);

/* The rings as an OGR MultiPolygon (an OGRGeometryH): exteriors
 * counter-clockwise, holes clockwise, each hole in its exterior.  NULL
 * with an error on ctx when out of memory. */
void *fp__rings_ogr(fp_ctx *ctx, size_t n, const double *const *pts,
                    const size_t *np);

/* Footprint i of L as an OGR MultiPolygon (see fp__rings_ogr). */
void *fp__feature_ogr(fp_ctx *ctx, const fp_layer *L, size_t i);

/* Pairs of footprints of L that share a stretch of boundary (a, b with
 * a < b, 2 * *npairs entries, sorted); for colouring maps. */
int fp__layer_neighbours(fp_ctx *ctx, const fp_layer *L, uint32_t **pairs,
                         size_t *npairs);

#endif
