/* Opening footprints from any OGR vector source.  GDAL's messages are
 * captured through a thread-local error handler into the fp_ctx. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
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

static void CPL_STDCALL on_gdal_error(CPLErr cls, CPLErrorNum no,
                                      const char *msg)
{
    (void)no;
    fp__gdal_msgs *c = CPLGetErrorHandlerUserData();
    if (c && cls >= CE_Failure && !c->msg[0])
        snprintf(c->msg, sizeof c->msg, "%s", msg);
}

void fp__gdal_capture_push(fp__gdal_msgs *m)
{
    m->msg[0] = '\0';
    CPLPushErrorHandlerEx(on_gdal_error, m);
}

void fp__gdal_capture_pop(void) { CPLPopErrorHandler(); }

typedef struct opener opener;
/* Called with each polygon feature, its geometry already in WGS84. */
typedef int (*feature_fn)(opener *o, const char *code, const char *name,
                          OGRGeometryH g, long fid);

struct opener {
    fp_ctx *ctx;
    const char *path;
    feature_fn each;
    void *arg;
    fp__gdal_msgs cap;
    GDALDatasetH ds;
    OGRCoordinateTransformationH ct;
    OGRSpatialReferenceH dst, override;
    fp_builder *b;
    double *xy;
    size_t xycap;
};

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

static int read_features(opener *o, const fp_open_opts *opts)
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
        if (icode < 0 && OGR_L_GetFeatureCount(lyr, 1) == 0)
            return fp__error(ctx, FP_EFORMAT, "%s: no polygon features (no features at all)", o->path);
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

    int rc;
    OGR_L_ResetReading(lyr);
    OGRFeatureH feat;
    long nfeat = 0, npoly = 0;
    while ((feat = OGR_L_GetNextFeature(lyr)) != NULL) {
        long fid = (long)OGR_F_GetFID(feat);
        nfeat++;
        OGRGeometryH g = OGR_F_GetGeometryRef(feat), owned = NULL;
        OGRwkbGeometryType t = g ? wkbFlatten(OGR_G_GetGeometryType(g)) : wkbNone;
        /* Curves (CurvePolygon, MultiSurface) and collections holding
         * polygons become plain MultiPolygons: every OGR source counts. */
        if (g && t != wkbPolygon && t != wkbMultiPolygon &&
            (t == wkbCurvePolygon || t == wkbMultiSurface || t == wkbGeometryCollection)) {
            owned = OGR_G_HasCurveGeometry(g, TRUE) ? OGR_G_GetLinearGeometry(g, 0, NULL)
                                                    : OGR_G_Clone(g);
            if (owned) owned = OGR_G_ForceToMultiPolygon(owned);
            g = owned;
            t = g ? wkbFlatten(OGR_G_GetGeometryType(g)) : wkbNone;
            if (t == wkbMultiPolygon && OGR_G_GetGeometryCount(g) == 0) t = wkbNone;
        }
        /* GetFieldAsString returns a buffer the next call reuses (for
         * non-string fields): copy the code before asking for the name. */
        char code[256] = "";
        if (OGR_F_IsFieldSetAndNotNull(feat, icode))
            snprintf(code, sizeof code, "%s", OGR_F_GetFieldAsString(feat, icode));
        if ((t != wkbPolygon && t != wkbMultiPolygon) || !*code) {
            if (owned) OGR_G_DestroyGeometry(owned);
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
            if (owned) OGR_G_DestroyGeometry(owned);
            OGR_F_Destroy(feat);
            return rc;
        }
        rc = o->each(o, code, name, g, fid);
        if (owned) OGR_G_DestroyGeometry(owned);
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
    return FP_OK;
}

/* Adds a feature's polygons to the builder: the plain opener's callback. */
/* The rings of a Polygon, or of every Polygon part of a collection. */
static int add_rings(opener *o, OGRGeometryH g, long fid)
{
    if (wkbFlatten(OGR_G_GetGeometryType(g)) == wkbPolygon) return add_polygon(o, g, fid);
    int rc = FP_OK;
    for (int k = 0; k < OGR_G_GetGeometryCount(g) && !rc; k++) {
        OGRGeometryH part = OGR_G_GetGeometryRef(g, k);
        if (wkbFlatten(OGR_G_GetGeometryType(part)) == wkbPolygon)
            rc = add_polygon(o, part, fid);
    }
    return rc;
}

static int add_feature(opener *o, const char *code, const char *name,
                       OGRGeometryH g, long fid)
{
    int rc = fp_builder_add_footprint(o->b, code, name);
    return rc ? rc : add_rings(o, g, fid);
}

/* Features are gathered first: a code that occurs more than once (a
 * footprint split over several features) is dissolved with GEOS, so
 * overlapping or repeated parts never cancel out under even-odd. */
typedef struct gathered {
    char *code, *name;
    OGRGeometryH g;
    long fid; /* for messages */
} gathered;

typedef struct gather {
    const fp_allocator *a;
    gathered *v;
    size_t n, cap;
} gather;

static int gather_feature(opener *o, const char *code, const char *name,
                          OGRGeometryH g, long fid)
{
    gather *s = o->arg;
    if (fp__grow(s->a, (void **)&s->v, &s->cap, s->n + 1, sizeof *s->v))
        return fp__error(o->ctx, FP_ENOMEM, "%s: out of memory", o->path);
    gathered *e = &s->v[s->n];
    e->code = fp__strdup(s->a, code);
    e->name = fp__strdup(s->a, name);
    e->g = OGR_G_Clone(g);
    e->fid = fid;
    if (!e->code || !e->name || !e->g) {
        fp__free(s->a, e->code);
        fp__free(s->a, e->name);
        if (e->g) OGR_G_DestroyGeometry(e->g);
        return fp__error(o->ctx, FP_ENOMEM, "%s: out of memory", o->path);
    }
    s->n++;
    return FP_OK;
}

static int cmp_gathered(const void *x, const void *y)
{
    const gathered *a = *(const gathered *const *)x, *b = *(const gathered *const *)y;
    int c = strcmp(a->code, b->code);
    return c ? c : (a < b ? -1 : a > b);
}

static int build_layer(opener *o, const fp_open_opts *opts, fp_layer **out)
{
    gather s = {&o->ctx->alloc, NULL, 0, 0};
    gathered **order = NULL;
    o->each = gather_feature;
    o->arg = &s;
    int rc = fp_builder_new(o->ctx, &o->b);
    if (!rc) rc = read_features(o, opts);
    if (!rc) {
        order = fp__malloc(s.a, (s.n + 1) * sizeof *order);
        if (!order) rc = fp__error(o->ctx, FP_ENOMEM, "%s: out of memory", o->path);
    }
    if (!rc) {
        for (size_t i = 0; i < s.n; i++) order[i] = &s.v[i];
        qsort(order, s.n, sizeof *order, cmp_gathered);
    }
    for (size_t i = 0; i < s.n && !rc; ) {
        size_t j = i + 1;
        while (j < s.n && strcmp(order[j]->code, order[i]->code) == 0) j++;
        OGRGeometryH g = order[i]->g, merged = NULL;
        if (j - i > 1) {
            OGRGeometryH mp = OGR_G_CreateGeometry(wkbMultiPolygon);
            for (size_t k = i; k < j; k++) {
                OGRGeometryH part = order[k]->g;
                if (wkbFlatten(OGR_G_GetGeometryType(part)) == wkbPolygon)
                    OGR_G_AddGeometry(mp, part);
                else
                    for (int q = 0; q < OGR_G_GetGeometryCount(part); q++)
                        OGR_G_AddGeometry(mp, OGR_G_GetGeometryRef(part, q));
            }
            merged = OGR_G_UnionCascaded(mp);
            OGR_G_DestroyGeometry(mp);
            if (!merged) {
                rc = fp__error(o->ctx, FP_EFORMAT,
                               "%s: footprint %s: its %zu features could not be "
                               "merged%s%s", o->path, order[i]->code, j - i,
                               o->cap.msg[0] ? ": " : "", o->cap.msg);
                break;
            }
            g = merged;
        }
        rc = add_feature(o, order[i]->code, order[i]->name, g, order[i]->fid);
        if (merged) OGR_G_DestroyGeometry(merged);
        i = j;
    }
    for (size_t i = 0; i < s.n; i++) {
        fp__free(s.a, s.v[i].code);
        fp__free(s.a, s.v[i].name);
        OGR_G_DestroyGeometry(s.v[i].g);
    }
    fp__free(s.a, s.v);
    fp__free(s.a, order);
    if (rc) return rc;
    rc = fp_builder_build(o->b, &opts->index, out);
    if (rc) {
        char msg[FP_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(o->ctx));
        return fp__error(o->ctx, rc, "%s: %s", o->path, msg);
    }
    return FP_OK;
}

/* Sets up GDAL (error capture, CRS) around `body`, then tears it down. */
static int with_source(fp_ctx *ctx, const char *path, const fp_open_opts *opts,
                       feature_fn each, void *arg, fp_layer **out)
{
    opener o;
    memset(&o, 0, sizeof o);
    o.ctx = ctx;
    o.path = path;
    o.each = each;
    o.arg = arg;
    /* Handler first: nothing GDAL says, even while registering drivers,
     * reaches stderr. */
    fp__gdal_capture_push(&o.cap);
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
    if (!rc) rc = out ? build_layer(&o, opts, out) : read_features(&o, opts);
    if (o.ct) OCTDestroyCoordinateTransformation(o.ct);
    if (o.dst) OSRDestroySpatialReference(o.dst);
    if (o.override) OSRDestroySpatialReference(o.override);
    if (o.ds) GDALClose(o.ds);
    fp_builder_free(o.b);
    fp__free(&ctx->alloc, o.xy);
    fp__gdal_capture_pop();
    return rc;
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
    return with_source(ctx, path, opts, add_feature, NULL, out);
}

/* Hands each (code, name, WGS84 geometry) of an edition's file to fn. */
typedef struct geom_cb {
    int (*fn)(void *arg, const char *code, const char *name, void *ogr_geom);
    void *arg;
} geom_cb;

static int call_geom(opener *o, const char *code, const char *name,
                     OGRGeometryH g, long fid)
{
    (void)fid;
    const geom_cb *cb = o->arg;
    return cb->fn(cb->arg, code, name, g);
}

int fp__edition_geometries(fp_ctx *ctx, const fp_edition *ed, const char *data_dir,
                           int (*fn)(void *arg, const char *code, const char *name,
                                     void *ogr_geom),
                           void *arg)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", data_dir, ed->path);
    if (n < 0 || (size_t)n >= sizeof path)
        return fp__error(ctx, FP_EINVAL, "data directory path too long");
    fp_open_opts o;
    fp_open_opts_init(&o);
    o.layer = ed->layer;
    o.code_field = ed->code_field;
    o.name_field = ed->name_field;
    geom_cb cb = {fn, arg};
    return with_source(ctx, path, &o, call_geom, &cb, NULL);
}

/* For the dissolver: adds an OGR (Multi)Polygon's rings to a builder. */
int fp__builder_add_ogr(fp_builder *b, fp_ctx *ctx, const char *what, void *ogr_geom)
{
    opener o;
    memset(&o, 0, sizeof o);
    o.ctx = ctx;
    o.path = what;
    o.b = b;
    int rc = add_rings(&o, ogr_geom, 0);
    fp__free(&ctx->alloc, o.xy);
    return rc;
}

int fp_edition_open(fp_ctx *ctx, const fp_edition *ed, const char *data_dir,
                    const fp_index_opts *index, fp_layer **out)
{
    if (ed->members && *ed->members) {
        *out = NULL;
        return fp__error(ctx, FP_EINVAL,
                         "edition %s is built from members: open it through "
                         "its catalogue", ed->id);
    }
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
