/* Private: what the OGR exporter (export.c) and the web map writer
 * (export_web.c) share. */
#ifndef FP_EXPORT_H
#define FP_EXPORT_H

#include <stdio.h>

#include "internal.h"

/* The edition answering `tier` on `date` that has geometry of its own,
 * and its layer (the latest-starting of the tier's levels in order, as
 * chains pick them; editions the source lacks or that have no vertices
 * give way to the next).  *ed NULL when none. */
int fp__polygon_edition(fp_ctx *ctx, const fp_catalogue *cat, fp_layer_source get,
                        void *arg, int tier, const char *date, const fp_edition **ed,
                        const fp_layer **L);

/* The tier (enum fp_tier) of an edition's level, or -1. */
int fp__level_tier(const char *level);

/* The span of dates footprint i of `ed` is valid ("" = open): the
 * edition's, narrowed by the footprint's membership row. */
void fp__footprint_span(const fp_catalogue *cat, const fp_edition *ed, const char *code,
                        const char **from, const char **to);

/* `now` clamped into from..to ("" open), written to out. */
void fp__clamp_date(const char *now, const char *from, const char *to, char out[11]);

/* A fresh directory beside `target` (".NAME.tmp-PID-N"), path in out. */
int fp__temp_dir_beside(fp_ctx *ctx, const char *target, char *out, size_t size);
/* Removes a tree (best effort). */
void fp__rm_tree(const char *path);
/* Puts directory `tmp` in the place of `target`: renamed in when target
 * is absent; an existing target is swapped out and removed, but only if
 * it is empty or holds the file `marker` (NULL: any directory). */
int fp__replace_dir(fp_ctx *ctx, const char *tmp, const char *target, const char *marker);

/* s as a JSON string; also escapes <, >, & and U+2028/9, so the text is
 * safe inside an HTML <script> too. */
void fp__json_string(FILE *f, const char *s);

#endif
