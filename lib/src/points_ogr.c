/*
 * Points in and out of the geo world for `footprint locate` (see
 * points_ogr.h): coordinates in any CRS transformed to WGS84 with PROJ, in
 * arrays; points with attributes written through OGR to a temporary file
 * renamed into place when complete.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <proj.h>

#include "internal.h"
#include "points_ogr.h"

/* ---- coordinates in any CRS ---- */

struct fp__xy_to_wgs {
    fp_allocator alloc;
    PJ_CONTEXT *pctx;
    PJ *pj;
    int bng;
    char msg[256];
};

static void xy_log(void *data, int level, const char *msg)
{
    fp__xy_to_wgs *t = data;
    if (level <= PJ_LOG_ERROR) snprintf(t->msg, sizeof t->msg, "%s", msg);
}

int fp__xy_to_wgs_new(fp_ctx *ctx, const char *crs, fp__xy_to_wgs **out)
{
    *out = NULL;
    fp__clear(ctx);
    fp__xy_to_wgs *t = fp__calloc(&ctx->alloc, 1, sizeof *t);
    if (!t) return fp__error(ctx, FP_ENOMEM, "out of memory");
    t->alloc = ctx->alloc;
    /* PROJ objects are not thread-safe: each transform has its own
     * context, so each thread can have its own transform. */
    t->pctx = proj_context_create();
    if (!t->pctx) {
        fp__free(&t->alloc, t);
        return fp__error(ctx, FP_ENOMEM, "PROJ: no context");
    }
    proj_log_func(t->pctx, t, xy_log);
    int rc = FP_OK;
    PJ *src = proj_create(t->pctx, crs);
    PJ *bng = proj_create(t->pctx, "EPSG:27700");
    if (!src || !proj_is_crs(src)) {
        rc = fp__error(ctx, FP_ECRS, "unknown CRS '%s'%s%s", crs, t->msg[0] ? ": " : "",
                       t->msg);
    } else {
        t->bng = bng && proj_is_equivalent_to(src, bng, PJ_COMP_EQUIVALENT);
        PJ *p = proj_create_crs_to_crs(t->pctx, crs, "EPSG:4326", NULL);
        /* x, y in GIS order in; longitude, latitude out. */
        PJ *n = p ? proj_normalize_for_visualization(t->pctx, p) : NULL;
        if (p) proj_destroy(p);
        if (!n)
            rc = fp__error(ctx, FP_ECRS, "PROJ cannot transform %s to WGS84%s%s", crs,
                           t->msg[0] ? ": " : " (is proj-data installed?)", t->msg);
        t->pj = n;
    }
    if (src) proj_destroy(src);
    if (bng) proj_destroy(bng);
    if (rc) {
        fp__xy_to_wgs_free(t);
        return rc;
    }
    *out = t;
    return FP_OK;
}

void fp__xy_to_wgs_free(fp__xy_to_wgs *t)
{
    if (!t) return;
    if (t->pj) proj_destroy(t->pj);
    proj_context_destroy(t->pctx);
    fp__free(&t->alloc, t);
}

int fp__xy_to_wgs_is_bng(const fp__xy_to_wgs *t) { return t->bng; }

size_t fp__xy_to_wgs_n(fp__xy_to_wgs *t, const double *x, const double *y, size_t n,
                       double *lat, double *lon)
{
    if (lon != x) memmove(lon, x, n * sizeof *lon);
    if (lat != y) memmove(lat, y, n * sizeof *lat);
    for (size_t i = 0; i < n; i++) {
        double e = lon[i], no = lat[i];
        int bad = !isfinite(e) || !isfinite(no);
        if (t->bng) bad |= e < 0 || e > 700000 || no < 0 || no > 1300000;
        if (bad) lon[i] = lat[i] = HUGE_VAL; /* PROJ passes these through */
    }
    /* One call for the whole array: per-point calls cost more than the
     * transform itself. */
    proj_trans_generic(t->pj, PJ_FWD, lon, sizeof *lon, n, lat, sizeof *lat, n, NULL, 0,
                       0, NULL, 0, 0);
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(lon[i]) && isfinite(lat[i]) && fabs(lon[i]) <= 180 &&
            fabs(lat[i]) <= 90) {
            ok++;
        } else {
            lon[i] = lat[i] = NAN;
        }
    }
    return ok;
}

/* ---- points out through OGR ---- */

struct fp__points_out {
    fp_ctx *ctx;
    fp_allocator alloc;
    char *path, *tmp;
    GDALDatasetH ds;
    OGRLayerH lyr;
    OGRFeatureH feat;
    size_t nfields;
    int *types;
    int status;
    int in_tx;
    long tx_count;
    fp__gdal_msgs cap;
};

static pthread_once_t gdal_once = PTHREAD_ONCE_INIT;
static void gdal_init(void) { GDALAllRegister(); }

/* Features per transaction (GeoPackage: one commit per row would crawl). */
#define TX_FEATURES 65536

static int out_error(fp__points_out *w, int code, const char *what)
{
    if (w->status) return w->status;
    w->status = fp__error(w->ctx, code, "%s: %s%s%s", w->path ? w->path : "stdout", what,
                          w->cap.msg[0] ? ": " : "", w->cap.msg);
    return w->status;
}

/* Removes the temporary file and what SQLite may have left beside it. */
static void remove_tmp(const char *tmp)
{
    static const char *const sfx[] = {"", "-journal", "-wal", "-shm"};
    char p[4200];
    for (size_t i = 0; i < sizeof sfx / sizeof *sfx; i++) {
        snprintf(p, sizeof p, "%s%s", tmp, sfx[i]);
        unlink(p);
    }
}

int fp__points_out_new(fp_ctx *ctx, const char *path, const char *format,
                       const char *layer, size_t nfields, const char *const *names,
                       const int *types, const char *description,
                       fp__points_out **out)
{
    *out = NULL;
    fp__clear(ctx);
    const char *driver, *ext;
    if (!strcmp(format, "gpkg")) driver = "GPKG", ext = "gpkg";
    else if (!strcmp(format, "geojson")) driver = "GeoJSON", ext = "geojson";
    else if (!strcmp(format, "fgb")) driver = "FlatGeobuf", ext = "fgb";
    else return fp__error(ctx, FP_EINVAL, "unknown output format '%s'", format);
    if (!path && strcmp(format, "geojson"))
        return fp__error(ctx, FP_EINVAL, "%s output needs a file name", format);

    fp__points_out *w = fp__calloc(&ctx->alloc, 1, sizeof *w);
    if (!w) return fp__error(ctx, FP_ENOMEM, "out of memory");
    w->ctx = ctx;
    w->alloc = ctx->alloc;
    w->nfields = nfields;
    w->types = fp__malloc(&w->alloc, (nfields ? nfields : 1) * sizeof *w->types);
    if (path) {
        /* Beside the target (same file system: rename is atomic), the
         * extension last (GDAL's drivers look at it). */
        size_t n = strlen(path) + 64;
        w->path = fp__strdup(&w->alloc, path);
        w->tmp = fp__malloc(&w->alloc, n);
        if (w->tmp) snprintf(w->tmp, n, "%s.tmp%ld.%s", path, (long)getpid(), ext);
    }
    if (!w->types || (path && (!w->path || !w->tmp))) {
        fp__points_out_abort(w);
        return fp__error(ctx, FP_ENOMEM, "out of memory");
    }
    memcpy(w->types, types, nfields * sizeof *types);

    fp__gdal_capture_push(&w->cap);
    pthread_once(&gdal_once, gdal_init);
    GDALDriverH drv = GDALGetDriverByName(driver);
    OGRSpatialReferenceH srs = NULL;
    int rc = FP_OK;
    if (!drv) {
        rc = fp__error(ctx, FP_EINVAL, "GDAL has no %s driver", driver);
        goto done;
    }
    if (w->tmp) remove_tmp(w->tmp);
    w->ds = GDALCreate(drv, w->tmp ? w->tmp : "/vsistdout/", 0, 0, 0, GDT_Unknown, NULL);
    if (!w->ds) {
        rc = fp__error(ctx, FP_EIO, "%s: cannot create%s%s", path ? path : "stdout",
                       w->cap.msg[0] ? ": " : "", w->cap.msg);
        goto done;
    }
    srs = OSRNewSpatialReference(NULL);
    if (!srs || OSRImportFromEPSG(srs, 4326) != OGRERR_NONE) {
        rc = fp__error(ctx, FP_ECRS, "PROJ does not know EPSG:4326%s%s",
                       w->cap.msg[0] ? ": " : "", w->cap.msg);
        goto done;
    }
    OSRSetAxisMappingStrategy(srs, OAMS_TRADITIONAL_GIS_ORDER);
    char desc[1200], *opts[4] = {NULL, NULL, NULL, NULL};
    int no = 0;
    if (description && strcmp(format, "fgb")) {
        snprintf(desc, sizeof desc, "DESCRIPTION=%s", description);
        opts[no++] = desc;
    }
    if (!strcmp(format, "geojson")) opts[no++] = "RFC7946=YES";
    w->lyr = GDALDatasetCreateLayer(w->ds, layer, srs, wkbPoint, opts);
    if (!w->lyr) {
        rc = fp__error(ctx, FP_EIO, "%s: cannot create layer %s%s%s",
                       path ? path : "stdout", layer, w->cap.msg[0] ? ": " : "",
                       w->cap.msg);
        goto done;
    }
    for (size_t i = 0; i < nfields && !rc; i++) {
        OGRFieldDefnH fd = OGR_Fld_Create(names[i], types[i] == FP__FIELD_REAL ? OFTReal
                                                                               : OFTString);
        if (OGR_L_CreateField(w->lyr, fd, TRUE) != OGRERR_NONE)
            rc = fp__error(ctx, FP_EIO, "%s: cannot create field '%s'%s%s",
                           path ? path : "stdout", names[i], w->cap.msg[0] ? ": " : "",
                           w->cap.msg);
        OGR_Fld_Destroy(fd);
    }
    if (!rc) {
        w->feat = OGR_F_Create(OGR_L_GetLayerDefn(w->lyr));
        if (!w->feat) rc = fp__error(ctx, FP_ENOMEM, "out of memory");
    }
    if (!rc) w->in_tx = GDALDatasetStartTransaction(w->ds, FALSE) == OGRERR_NONE;
done:
    if (srs) OSRDestroySpatialReference(srs);
    fp__gdal_capture_pop();
    if (rc) {
        w->status = rc;
        fp__points_out_abort(w);
        return rc;
    }
    *out = w;
    return FP_OK;
}

int fp__points_out_add(fp__points_out *w, double lat, double lon,
                       const char *const *values)
{
    if (w->status) return w->status;
    fp__gdal_capture_push(&w->cap);
    OGRFeatureH f = w->feat;
    for (size_t i = 0; i < w->nfields; i++) {
        const char *v = values[i];
        if (!v || !*v) {
            OGR_F_SetFieldNull(f, (int)i);
        } else if (w->types[i] == FP__FIELD_REAL) {
            char *end;
            double d = strtod(v, &end);
            if (*end || !isfinite(d))
                OGR_F_SetFieldNull(f, (int)i);
            else
                OGR_F_SetFieldDouble(f, (int)i, d);
        } else {
            OGR_F_SetFieldString(f, (int)i, v);
        }
    }
    OGRGeometryH g = NULL;
    if (isfinite(lat) && isfinite(lon)) {
        g = OGR_G_CreateGeometry(wkbPoint);
        OGR_G_SetPoint_2D(g, 0, lon, lat);
    }
    OGR_F_SetGeometryDirectly(f, g);
    OGR_F_SetFID(f, OGRNullFID);
    if (OGR_L_CreateFeature(w->lyr, f) != OGRERR_NONE) {
        out_error(w, FP_EIO, "cannot write a feature");
    } else if (w->in_tx && ++w->tx_count == TX_FEATURES) {
        w->tx_count = 0;
        if (GDALDatasetCommitTransaction(w->ds) != OGRERR_NONE)
            out_error(w, FP_EIO, "cannot commit");
        else
            w->in_tx = GDALDatasetStartTransaction(w->ds, FALSE) == OGRERR_NONE;
    }
    fp__gdal_capture_pop();
    return w->status;
}

int fp__points_out_finish(fp__points_out *w)
{
    fp__gdal_capture_push(&w->cap);
    if (!w->status && w->in_tx && GDALDatasetCommitTransaction(w->ds) != OGRERR_NONE)
        out_error(w, FP_EIO, "cannot commit");
    w->in_tx = 0;
    if (w->feat) OGR_F_Destroy(w->feat);
    w->feat = NULL;
    w->cap.msg[0] = '\0';
    GDALClose(w->ds); /* writes FlatGeobuf's index, GeoJSON's end */
    w->ds = NULL;
    if (!w->status && w->cap.msg[0]) out_error(w, FP_EIO, "cannot finish the file");
    fp__gdal_capture_pop();
    int rc = w->status;
    if (!rc && w->tmp && rename(w->tmp, w->path) != 0)
        rc = fp__error(w->ctx, FP_EIO, "%s: %s", w->path, strerror(errno));
    if (rc) {
        fp__points_out_abort(w);
        return rc;
    }
    fp__free(&w->alloc, w->types);
    fp__free(&w->alloc, w->path);
    fp__free(&w->alloc, w->tmp);
    fp__free(&w->alloc, w);
    return FP_OK;
}

void fp__points_out_abort(fp__points_out *w)
{
    if (!w) return;
    fp__gdal_msgs cap;
    fp__gdal_capture_push(&cap);
    if (w->feat) OGR_F_Destroy(w->feat);
    if (w->ds) GDALClose(w->ds);
    fp__gdal_capture_pop();
    if (w->tmp) remove_tmp(w->tmp);
    fp__free(&w->alloc, w->types);
    fp__free(&w->alloc, w->path);
    fp__free(&w->alloc, w->tmp);
    fp__free(&w->alloc, w);
}

const char *fp__points_out_tmp(const fp__points_out *w) { return w->tmp; }
