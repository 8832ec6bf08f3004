/* Point transforms with PROJ: one PJ_CONTEXT per fp_ctx (PROJ objects are
 * not thread-safe), created on first use; PROJ's messages are captured. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <proj.h>

#include "internal.h"

static void proj_log(void *data, int level, const char *msg)
{
    fp_ctx *ctx = data;
    if (level > PJ_LOG_ERROR) return;
    snprintf(ctx->proj_msg, sizeof ctx->proj_msg, "%s", msg);
}

static void release(fp_ctx *ctx)
{
    if (ctx->bng_to_wgs) proj_destroy(ctx->bng_to_wgs);
    if (ctx->proj) proj_context_destroy(ctx->proj);
    ctx->bng_to_wgs = ctx->proj = NULL;
}

static int bng_ready(fp_ctx *ctx)
{
    if (ctx->bng_to_wgs) return FP_OK;
    if (!ctx->proj) {
        ctx->proj = proj_context_create();
        if (!ctx->proj) return fp__error(ctx, FP_ENOMEM, "PROJ: no context");
        proj_log_func(ctx->proj, ctx, proj_log);
        ctx->proj_release = release;
    }
    ctx->proj_msg[0] = '\0';
    PJ *p = proj_create_crs_to_crs(ctx->proj, "EPSG:27700", "EPSG:4326", NULL);
    if (!p)
        return fp__error(ctx, FP_ECRS,
                         "PROJ cannot transform EPSG:27700 to EPSG:4326: %s",
                         ctx->proj_msg[0] ? ctx->proj_msg : "no message "
                                                            "(is proj-data "
                                                            "installed?)");
    /* Easting/northing in, longitude/latitude out, whatever the
     * authorities' axis order. */
    PJ *n = proj_normalize_for_visualization(ctx->proj, p);
    proj_destroy(p);
    if (!n)
        return fp__error(ctx, FP_ECRS, "PROJ: cannot normalise axis order: %s",
                         ctx->proj_msg);
    ctx->bng_to_wgs = n;
    return FP_OK;
}

static int bng_range(fp_ctx *ctx, double e, double n)
{
    if (!isfinite(e) || !isfinite(n))
        return fp__error(ctx, FP_EINVAL,
                         "easting/northing must be finite numbers (got %g, %g)",
                         e, n);
    if (e < 0 || e > 700000 || n < 0 || n > 1300000)
        return fp__error(ctx, FP_EINVAL,
                         "easting %g, northing %g outside the British National "
                         "Grid (easting 0..700000, northing 0..1300000 m)", e, n);
    return FP_OK;
}

int fp_bng_to_latlon(fp_ctx *ctx, double e, double n, double *lat, double *lon)
{
    fp__clear(ctx);
    int rc = bng_range(ctx, e, n);
    if (rc || (rc = bng_ready(ctx))) return rc;
    PJ_COORD c = proj_trans(ctx->bng_to_wgs, PJ_FWD, proj_coord(e, n, 0, 0));
    if (!isfinite(c.xy.x) || !isfinite(c.xy.y) || c.xy.x == HUGE_VAL)
        return fp__error(ctx, FP_ECRS,
                         "PROJ could not transform easting %g, northing %g", e, n);
    *lon = c.xy.x;
    *lat = c.xy.y;
    return FP_OK;
}

int fp_latlon_to_bng(fp_ctx *ctx, double lat, double lon, double *e, double *n)
{
    fp__clear(ctx);
    if (!isfinite(lat) || !isfinite(lon) || lat < -90 || lat > 90 ||
        lon < -180 || lon > 180)
        return fp__error(ctx, FP_EINVAL,
                         "latitude %g, longitude %g out of range", lat, lon);
    int rc = bng_ready(ctx);
    if (rc) return rc;
    PJ_COORD c = proj_trans(ctx->bng_to_wgs, PJ_INV, proj_coord(lon, lat, 0, 0));
    if (!isfinite(c.xy.x) || !isfinite(c.xy.y) || c.xy.x == HUGE_VAL)
        return fp__error(ctx, FP_ECRS,
                         "PROJ could not transform latitude %g, longitude %g",
                         lat, lon);
    if (bng_range(ctx, c.xy.x, c.xy.y))
        return fp__error(ctx, FP_EINVAL,
                         "latitude %g, longitude %g is off the British "
                         "National Grid (easting %.0f, northing %.0f)",
                         lat, lon, c.xy.x, c.xy.y);
    *e = c.xy.x;
    *n = c.xy.y;
    return FP_OK;
}

int fp_layer_locate_bng(fp_ctx *ctx, const fp_layer *layer, double easting,
                        double northing, double nearest_m, fp_match *out)
{
    double lat, lon;
    int rc = fp_bng_to_latlon(ctx, easting, northing, &lat, &lon);
    if (rc) return rc;
    *out = fp_layer_locate(layer, lat, lon, nearest_m);
    return FP_OK;
}
