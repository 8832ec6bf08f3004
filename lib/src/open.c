/* Opening footprints from any OGR vector source.  GDAL's messages are
 * captured through a thread-local error handler into the fp_ctx. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_error.h>
#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>

#include "internal.h"

void fp_open_opts_init(fp_open_opts *o)
{
    memset(o, 0, sizeof *o);
    fp_index_opts_init(&o->index);
}

static pthread_once_t gdal_once = PTHREAD_ONCE_INIT;
static void gdal_init(void) { GDALAllRegister(); }

typedef struct capture {
    char msg[256];
} capture;

static void CPL_STDCALL on_gdal_error(CPLErr cls, CPLErrorNum no,
                                      const char *msg)
{
    (void)no;
    capture *c = CPLGetErrorHandlerUserData();
    if (c && cls >= CE_Failure && !c->msg[0])
        snprintf(c->msg, sizeof c->msg, "%s", msg);
}

typedef struct opener {
    fp_ctx *ctx;
    const char *path;
    capture cap;
    GDALDatasetH ds;
    OGRCoordinateTransformationH ct;
    OGRSpatialReferenceH dst, override;
    fp_builder *b;
    double *xy;
    size_t xycap;
} opener;

static int add_polygon(opener *o, OGRGeometryH poly, long fid)
{
    int nr = OGR_G_GetGeometryCount(poly);
    for (int r = 0; r < nr; r++) {
        OGRGeometryH ring = OGR_G_GetGeometryRef(poly, r);
        int n = OGR_G_GetPointCount(ring);
        if (n <= 0) continue;
        if (fp__grow(&o->ctx->alloc, (void **)&o->xy, &o->xycap, (size_t)n,
                     2 * sizeof(double)))
            return fp__error(o->ctx, FP_ENOMEM, "%s: out of memory", o->path);
        OGR_G_GetPoints(ring, o->xy, 2 * sizeof(double), o->xy + 1,
                        2 * sizeof(double), NULL, 0);
        for (int i = 0; i < n; i++) {
            double x = o->xy[2 * i], y = o->xy[2 * i + 1];
            if (!isfinite(x) || !isfinite(y) || x < -180 || x > 180 || y < -90 ||
                y > 90)
                return fp__error(o->ctx, FP_ECRS,
                                 "%s: feature %ld: coordinate (%g, %g) is not a "
                                 "longitude/latitude after transformation: "
                                 "wrong or missing CRS?",
                                 o->path, fid, x, y);
        }
        int rc = fp_builder_add_ring(o->b, o->xy, (size_t)n);
        if (rc) {
            char msg[FP_ERRMSG_MAX]; /* the context's buffer is rewritten */
            snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(o->ctx));
            return fp__error(o->ctx, rc, "%s: feature %ld: %s", o->path, fid, msg);
        }
    }
    return FP_OK;
}

static const char *field_list(OGRFeatureDefnH defn, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < OGR_FD_GetFieldCount(defn) && n + 2 < size; i++) {
        int w = snprintf(buf + n, size - n, "%s%s", i ? ", " : "",
                         OGR_Fld_GetNameRef(OGR_FD_GetFieldDefn(defn, i)));
        if (w < 0) break;
        n += (size_t)w;
    }
    return buf;
}

/* The ONS convention: codes in "<GEOG><YY>CD", names in "<GEOG><YY>NM". */
static int detect_field(OGRFeatureDefnH defn, const char *suffix,
                        const char *prefer_prefix)
{
    int found = -1;
    for (int i = 0; i < OGR_FD_GetFieldCount(defn); i++) {
        const char *nm = OGR_Fld_GetNameRef(OGR_FD_GetFieldDefn(defn, i));
        size_t l = strlen(nm);
        if (l < 3 || strcasecmp(nm + l - 2, suffix) != 0) continue;
        if (OGR_Fld_GetType(OGR_FD_GetFieldDefn(defn, i)) != OFTString) continue;
        if (prefer_prefix && strncasecmp(nm, prefer_prefix, l - 2) == 0 &&
            strlen(prefer_prefix) == l - 2)
            return i;
        if (found < 0) found = i;
    }
    return found;
}

static int open_layer(opener *o, const fp_open_opts *opts, fp_layer **out)
{
    fp_ctx *ctx = o->ctx;
    /* Plain files get a plain-words error; GDAL's virtual paths
     * (/vsizip/, /vsicurl/, ...) go straight to GDAL. */
    if (strncmp(o->path, "/vsi", 4) != 0) {
        struct stat st;
        if (stat(o->path, &st) != 0)
            return fp__error(ctx, FP_EIO, "%s: %s", o->path, strerror(errno));
        if (S_ISREG(st.st_mode) && access(o->path, R_OK) != 0)
            return fp__error(ctx, FP_EIO, "%s: %s", o->path, strerror(errno));
        if (S_ISREG(st.st_mode) && st.st_size == 0)
            return fp__error(ctx, FP_EFORMAT, "%s: empty file", o->path);
    }

    o->ds = GDALOpenEx(o->path, GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL,
                       NULL);
    if (!o->ds)
        return fp__error(ctx, FP_EFORMAT,
                         "%s: not a vector data source GDAL can read%s%s",
                         o->path, o->cap.msg[0] ? ": " : "", o->cap.msg);
    OGRLayerH lyr;
    if (opts->layer && *opts->layer) {
        lyr = GDALDatasetGetLayerByName(o->ds, opts->layer);
        if (!lyr)
            return fp__error(ctx, FP_ENOTFOUND, "%s: no layer '%s'", o->path,
                             opts->layer);
    } else {
        if (GDALDatasetGetLayerCount(o->ds) < 1)
            return fp__error(ctx, FP_EFORMAT, "%s: no layers", o->path);
        lyr = GDALDatasetGetLayer(o->ds, 0);
    }
    OGRFeatureDefnH defn = OGR_L_GetLayerDefn(lyr);
    char fields[256];
    int icode, iname;
    if (opts->code_field && *opts->code_field) {
        icode = OGR_FD_GetFieldIndex(defn, opts->code_field);
        if (icode < 0)
            return fp__error(ctx, FP_EFIELD, "%s: no field '%s' (fields: %s)",
                             o->path, opts->code_field,
                             field_list(defn, fields, sizeof fields));
    } else {
        icode = detect_field(defn, "CD", NULL);
        if (icode < 0 && OGR_L_GetFeatureCount(lyr, 1) == 0)
            return fp__error(ctx, FP_EFORMAT, "%s: no polygon features (no features at all)", o->path);
        if (icode < 0)
            return fp__error(ctx, FP_EFIELD,
                             "%s: no ONS code field (...CD); name one "
                             "(fields: %s)", o->path,
                             field_list(defn, fields, sizeof fields));
    }
    if (opts->name_field && *opts->name_field) {
        iname = OGR_FD_GetFieldIndex(defn, opts->name_field);
        if (iname < 0)
            return fp__error(ctx, FP_EFIELD, "%s: no field '%s' (fields: %s)",
                             o->path, opts->name_field,
                             field_list(defn, fields, sizeof fields));
    } else {
        /* ICB23CD pairs with ICB23NM. */
        char prefix[64] = "";
        const char *cn = OGR_Fld_GetNameRef(OGR_FD_GetFieldDefn(defn, icode));
        size_t cl = cn ? strlen(cn) : 0;
        if (cl > 2 && cl - 2 < sizeof prefix) {
            memcpy(prefix, cn, cl - 2);
            prefix[cl - 2] = '\0';
        }
        iname = detect_field(defn, "NM", prefix[0] ? prefix : NULL);
    }

    OGRSpatialReferenceH src = o->override ? o->override : OGR_L_GetSpatialRef(lyr);
    if (!src)
        return fp__error(ctx, FP_ECRS,
                         "%s: declares no coordinate reference system; give "
                         "one (e.g. EPSG:27700)", o->path);
    o->dst = OSRNewSpatialReference(NULL);
    if (!o->dst || OSRImportFromEPSG(o->dst, 4326) != OGRERR_NONE)
        return fp__error(ctx, FP_ECRS, "PROJ/GDAL cannot create EPSG:4326%s%s",
                         o->cap.msg[0] ? ": " : "", o->cap.msg);
    OSRSetAxisMappingStrategy(o->dst, OAMS_TRADITIONAL_GIS_ORDER);
    if (!OSRIsSame(src, o->dst)) {
        o->ct = OCTNewCoordinateTransformation(src, o->dst);
        if (!o->ct)
            return fp__error(ctx, FP_ECRS,
                             "%s: cannot transform its CRS to WGS84%s%s",
                             o->path, o->cap.msg[0] ? ": " : "", o->cap.msg);
    }

    int rc = fp_builder_new(ctx, &o->b);
    if (rc) return rc;
    OGR_L_ResetReading(lyr);
    OGRFeatureH feat;
    long nfeat = 0, npoly = 0;
    while ((feat = OGR_L_GetNextFeature(lyr)) != NULL) {
        long fid = (long)OGR_F_GetFID(feat);
        nfeat++;
        OGRGeometryH g = OGR_F_GetGeometryRef(feat);
        OGRwkbGeometryType t = g ? wkbFlatten(OGR_G_GetGeometryType(g)) : wkbNone;
        /* GetFieldAsString returns a buffer the next call reuses (for
         * non-string fields): copy the code before asking for the name. */
        char code[256] = "";
        if (OGR_F_IsFieldSetAndNotNull(feat, icode))
            snprintf(code, sizeof code, "%s", OGR_F_GetFieldAsString(feat, icode));
        if ((t != wkbPolygon && t != wkbMultiPolygon) || !*code) {
            OGR_F_Destroy(feat);
            continue;
        }
        const char *name = iname >= 0 && OGR_F_IsFieldSetAndNotNull(feat, iname)
                               ? OGR_F_GetFieldAsString(feat, iname)
                               : "";
        if (o->ct && OGR_G_Transform(g, o->ct) != OGRERR_NONE) {
            rc = fp__error(ctx, FP_ECRS,
                           "%s: feature %ld: coordinates do not transform to "
                           "WGS84 (wrong CRS?)%s%s", o->path, fid,
                           o->cap.msg[0] ? ": " : "", o->cap.msg);
            OGR_F_Destroy(feat);
            return rc;
        }
        rc = fp_builder_add_footprint(o->b, code, name);
        if (!rc) {
            if (t == wkbPolygon) {
                rc = add_polygon(o, g, fid);
            } else {
                for (int k = 0; k < OGR_G_GetGeometryCount(g) && !rc; k++)
                    rc = add_polygon(o, OGR_G_GetGeometryRef(g, k), fid);
            }
        }
        OGR_F_Destroy(feat);
        if (rc) return rc;
        npoly++;
    }
    if (o->cap.msg[0] && nfeat == 0)
        return fp__error(ctx, FP_EFORMAT, "%s: %s", o->path, o->cap.msg);
    if (npoly == 0)
        return fp__error(ctx, FP_EFORMAT,
                         "%s: no polygon features with a code (%ld features "
                         "read)", o->path, nfeat);
    rc = fp_builder_build(o->b, &opts->index, out);
    if (rc) {
        char msg[FP_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(ctx));
        return fp__error(ctx, rc, "%s: %s", o->path, msg);
    }
    return FP_OK;
}

int fp_layer_open(fp_ctx *ctx, const char *path, const fp_open_opts *opts,
                  fp_layer **out)
{
    *out = NULL;
    fp__clear(ctx);
    fp_open_opts defaults;
    if (!opts) {
        fp_open_opts_init(&defaults);
        opts = &defaults;
    }
    opener o;
    memset(&o, 0, sizeof o);
    o.ctx = ctx;
    o.path = path;
    /* Handler first: nothing GDAL says, even while registering drivers,
     * reaches stderr. */
    CPLPushErrorHandlerEx(on_gdal_error, &o.cap);
    pthread_once(&gdal_once, gdal_init);
    int rc = FP_OK;
    if (opts->crs && *opts->crs) {
        o.override = OSRNewSpatialReference(NULL);
        if (!o.override || OSRSetFromUserInput(o.override, opts->crs) != OGRERR_NONE)
            rc = fp__error(ctx, FP_ECRS, "%s: unknown CRS '%s'%s%s", path,
                           opts->crs, o.cap.msg[0] ? ": " : "", o.cap.msg);
        else
            OSRSetAxisMappingStrategy(o.override, OAMS_TRADITIONAL_GIS_ORDER);
    }
    if (!rc) rc = open_layer(&o, opts, out);
    if (o.ct) OCTDestroyCoordinateTransformation(o.ct);
    if (o.dst) OSRDestroySpatialReference(o.dst);
    if (o.override) OSRDestroySpatialReference(o.override);
    if (o.ds) GDALClose(o.ds);
    fp_builder_free(o.b);
    fp__free(&ctx->alloc, o.xy);
    CPLPopErrorHandler();
    return rc;
}

int fp_edition_open(fp_ctx *ctx, const fp_edition *ed, const char *data_dir,
                    const fp_index_opts *index, fp_layer **out)
{
    char path[4096];
    *out = NULL;
    int n = snprintf(path, sizeof path, "%s/%s", data_dir, ed->path);
    if (n < 0 || (size_t)n >= sizeof path)
        return fp__error(ctx, FP_EINVAL, "data directory path too long");
    fp_open_opts o;
    fp_open_opts_init(&o);
    o.layer = ed->layer;
    o.code_field = ed->code_field;
    o.name_field = ed->name_field;
    if (index) o.index = *index;
    return fp_layer_open(ctx, path, &o, out);
}
