/* Unit tests for lib/src/open.c: fp_layer_open (any OGR source, any CRS)
 * and fp_edition_open, on the real ONS mirror and on small files written
 * here with the OGR C API.  Every open runs with stderr redirected: the
 * library must never print (GDAL's messages go into the context). */
#include "support.h"

#include <errno.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>

/* ---- helpers ---- */

static char tmpdir[256]; /* made by the group setup, removed at the end */

static const char *tmp_path(const char *name)
{
    static char bufs[4][512];
    static int slot;
    char *b = bufs[slot++ & 3];
    snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
    return b;
}

static const char *write_file(const char *name, const void *data, size_t len)
{
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("%s: %s", path, strerror(errno));
    if (len && fwrite(data, 1, len, f) != len) fail_msg("%s: short write", path);
    assert_int_equal(fclose(f), 0);
    return path;
}

static const char *write_text(const char *name, const char *text)
{
    return write_file(name, text, strlen(text));
}

static void assert_has(const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("\"%s\" does not mention \"%s\"", text, needle);
}

/* fp_layer_open with fd 2 sent to a temporary file: asserts that nothing
 * was written to it, that *out is NULL exactly when the call failed and
 * that the context holds the returned status. */
static int open_quiet(fp_ctx *ctx, const char *path, const fp_open_opts *o,
                      fp_layer **out)
{
    char name[] = "/tmp/fp_test_stderr_XXXXXX";
    int fd = mkstemp(name);
    assert_true(fd >= 0);
    unlink(name);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(fd, 2) == 2);
    *out = (fp_layer *)out; /* garbage that must be overwritten */
    int rc = fp_layer_open(ctx, path, o, out);
    fflush(stderr);
    assert_true(dup2(saved, 2) == 2);
    close(saved);
    char buf[1024];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    if (n > 0) {
        buf[n] = '\0';
        fail_msg("fp_layer_open(%s) wrote to stderr: %s", path, buf);
    }
    assert_int_equal(fp_ctx_errcode(ctx), rc);
    if (rc) {
        assert_null(*out);
        assert_true(fp_ctx_errmsg(ctx)[0] != '\0');
    } else {
        assert_non_null(*out);
        assert_string_equal(fp_ctx_errmsg(ctx), "");
    }
    return rc;
}

/* Opens and fails the test (with the message) unless it works. */
static fp_layer *open_ok(fp_ctx *ctx, const char *path, const fp_open_opts *o)
{
    fp_layer *L;
    int rc = open_quiet(ctx, path, o, &L);
    if (rc) fail_msg("%s: status %d: %s", path, rc, fp_ctx_errmsg(ctx));
    return L;
}

/* Expects the open to fail with `want`, naming the path and `needle`. */
static void open_fails(const char *path, const fp_open_opts *o, int want,
                       const char *needle)
{
    fp_ctx *ctx = test_ctx();
    fp_layer *L;
    int rc = open_quiet(ctx, path, o, &L);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(ctx));
    fp_layer_free(L);
    test_ctx_done(ctx);
    if (rc != want)
        fail_msg("%s: status %d (%s), want %d", path, rc, msg, want);
    assert_has(msg, path);
    if (needle) assert_has(msg, needle);
    assert_null(strchr(msg, '\n'));
}

static const char *code_ll(const fp_layer *L, double lat, double lon)
{
    long i = fp_layer_find(L, lat, lon);
    return i < 0 ? "none" : fp_layer_code(L, (size_t)i);
}

static const char *code_bng(fp_ctx *ctx, const fp_layer *L, double e, double n)
{
    fp_match m;
    int rc = fp_layer_locate_bng(ctx, L, e, n, 0, &m);
    if (rc) fail_msg("(%g, %g): %s", e, n, fp_ctx_errmsg(ctx));
    return m.index < 0 ? "none" : fp_layer_code(L, (size_t)m.index);
}

/* ---- the ICB 2023 label points, read with OGR ---- */

typedef struct label {
    char code[16], name[96];
    double lat, lon;
    int bng_e, bng_n;
} label;

enum { MAXLAB = 64 };

static int read_labels(const char *path, const char *layer, label *out)
{
    GDALAllRegister();
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY,
                                 NULL, NULL, NULL);
    if (!ds) fail_msg("OGR cannot open %s", path);
    OGRLayerH lyr = layer ? GDALDatasetGetLayerByName(ds, layer)
                          : GDALDatasetGetLayer(ds, 0);
    assert_non_null(lyr);
    OGRFeatureDefnH d = OGR_L_GetLayerDefn(lyr);
    int icd = OGR_FD_GetFieldIndex(d, "ICB23CD"), inm = OGR_FD_GetFieldIndex(d, "ICB23NM");
    int ilat = OGR_FD_GetFieldIndex(d, "LAT"), ilon = OGR_FD_GetFieldIndex(d, "LONG");
    int ie = OGR_FD_GetFieldIndex(d, "BNG_E"), in = OGR_FD_GetFieldIndex(d, "BNG_N");
    assert_true(icd >= 0 && inm >= 0 && ilat >= 0 && ilon >= 0 && ie >= 0 && in >= 0);
    int n = 0;
    OGRFeatureH f;
    OGR_L_ResetReading(lyr);
    while ((f = OGR_L_GetNextFeature(lyr)) != NULL) {
        assert_true(n < MAXLAB);
        snprintf(out[n].code, sizeof out[n].code, "%s", OGR_F_GetFieldAsString(f, icd));
        snprintf(out[n].name, sizeof out[n].name, "%s", OGR_F_GetFieldAsString(f, inm));
        out[n].lat = OGR_F_GetFieldAsDouble(f, ilat);
        out[n].lon = OGR_F_GetFieldAsDouble(f, ilon);
        out[n].bng_e = OGR_F_GetFieldAsInteger(f, ie);
        out[n].bng_n = OGR_F_GetFieldAsInteger(f, in);
        n++;
        OGR_F_Destroy(f);
    }
    GDALClose(ds);
    return n;
}

/* Every label point locates to its own footprint, whose name is the
 * feature's own. */
static void check_labels(const fp_layer *L, const label *lab, int n)
{
    for (int i = 0; i < n; i++) {
        long k = fp_layer_find_code(L, lab[i].code);
        if (k < 0) fail_msg("%s missing", lab[i].code);
        assert_string_equal(fp_layer_name(L, (size_t)k), lab[i].name);
        const char *got = code_ll(L, lab[i].lat, lab[i].lon);
        if (strcmp(got, lab[i].code))
            fail_msg("label point of %s (%.6f, %.6f) located in %s", lab[i].code,
                     lab[i].lat, lab[i].lon, got);
    }
}

/* ---- real files ---- */

static void test_open_geojson_icb2023(void **state)
{
    (void)state;
    const char *path = test_data_path("boundaries/icb_2023_bsc.geojson");
    label lab[MAXLAB];
    int n = read_labels(path, NULL, lab);
    assert_int_equal(n, 42);
    fp_ctx *ctx = test_ctx();
    fp_layer *L = open_ok(ctx, path, NULL); /* NULL opts: defaults */
    assert_int_equal(fp_layer_count(L), 42);
    for (size_t i = 0; i < 42; i++) {
        const char *c = fp_layer_code(L, i), *nm = fp_layer_name(L, i);
        assert_int_equal(strlen(c), 9);
        assert_memory_equal(c, "E54", 3);
        assert_memory_equal(nm, "NHS ", 4);
        if (i) assert_true(strcmp(fp_layer_code(L, i - 1), c) < 0);
    }
    check_labels(L, lab, n);
    /* England, in degrees. */
    double box[4];
    fp_layer_bbox(L, SIZE_MAX, box);
    assert_true(fabs(box[0] - -6.377922) < 1e-6 && fabs(box[1] - 49.882340) < 1e-6);
    assert_true(fabs(box[2] - 1.763571) < 1e-6 && fabs(box[3] - 55.811088) < 1e-6);
    assert_string_equal(code_ll(L, 53.381, -1.470), "E54000061"); /* Sheffield */
    assert_string_equal(code_ll(L, 55.95, -3.19), "none");         /* Edinburgh */
    fp_layer_free(L);
    test_ctx_done(ctx);
}

static void test_open_geopackage_bng_layer(void **state)
{
    (void)state;
    const char *gj = test_data_path("boundaries/icb_2023_bsc.geojson");
    const char *gpkg = test_data_path("boundaries_bng/nhs_footprints_bng.gpkg");
    label lab[MAXLAB], glab[MAXLAB];
    int n = read_labels(gj, NULL, lab);
    assert_int_equal(read_labels(gpkg, "icb_2023_bsc", glab), 42);
    fp_ctx *ctx = test_ctx();
    fp_layer *J = open_ok(ctx, gj, NULL);
    fp_open_opts o;
    fp_open_opts_init(&o);
    o.layer = "icb_2023_bsc";
    fp_layer *G = open_ok(ctx, gpkg, &o);
    assert_int_equal(fp_layer_count(G), 42);
    assert_int_equal(fp_layer_vertices(G), fp_layer_vertices(J));
    for (size_t i = 0; i < 42; i++) {
        assert_string_equal(fp_layer_code(G, i), fp_layer_code(J, i));
        assert_string_equal(fp_layer_name(G, i), fp_layer_name(J, i));
        /* Transformed to WGS84: the same boxes within a few metres. */
        double bj[4], bg[4];
        fp_layer_bbox(J, i, bj);
        fp_layer_bbox(G, i, bg);
        for (int k = 0; k < 4; k++)
            if (fabs(bj[k] - bg[k]) > 1e-4)
                fail_msg("%s bbox[%d]: %.7f (GeoJSON) vs %.7f (GeoPackage)",
                         fp_layer_code(J, i), k, bj[k], bg[k]);
    }
    /* All 42 GeoJSON label points get the same answer from both. */
    check_labels(G, lab, n);
    for (int i = 0; i < n; i++)
        assert_string_equal(code_ll(G, lab[i].lat, lab[i].lon),
                            code_ll(J, lab[i].lat, lab[i].lon));
    /* And the GeoPackage's own grid references, located as BNG. */
    for (int i = 0; i < 42; i++)
        assert_string_equal(code_bng(ctx, G, glab[i].bng_e, glab[i].bng_n),
                            glab[i].code);
    fp_layer_free(J);
    fp_layer_free(G);
    test_ctx_done(ctx);
}

/* No layer named: the first one (icb_2022_buc), with its own fields. */
static void test_open_geopackage_first_layer(void **state)
{
    (void)state;
    const char *gpkg = test_data_path("boundaries_bng/nhs_footprints_bng.gpkg");
    fp_ctx *ctx = test_ctx();
    fp_layer *L = open_ok(ctx, gpkg, NULL);
    assert_int_equal(fp_layer_count(L), 42);
    assert_string_equal(code_ll(L, 53.30, -1.12), "E54000060"); /* Worksop */
    assert_true(fp_layer_find_code(L, "E54000052") >= 0); /* Surrey Heartlands, 2022 code */
    assert_int_equal(fp_layer_find_code(L, "E54000063"), -1);
    fp_layer_free(L);
    test_ctx_done(ctx);
}

static void test_open_explicit_fields(void **state)
{
    (void)state;
    const char *path = test_data_path("boundaries/icb_2023_bsc.geojson");
    label lab[MAXLAB];
    int n = read_labels(path, NULL, lab);
    fp_ctx *ctx = test_ctx();
    fp_open_opts o;
    fp_open_opts_init(&o);
    o.code_field = "ICB23NM"; /* swapped on purpose */
    o.name_field = "ICB23CD";
    fp_layer *L = open_ok(ctx, path, &o);
    assert_int_equal(fp_layer_count(L), 42);
    for (size_t i = 0; i < 42; i++) {
        assert_memory_equal(fp_layer_code(L, i), "NHS ", 4);
        assert_memory_equal(fp_layer_name(L, i), "E54", 3);
        if (i) assert_true(strcmp(fp_layer_code(L, i - 1), fp_layer_code(L, i)) < 0);
    }
    for (int i = 0; i < n; i++) {
        long k = fp_layer_find(L, lab[i].lat, lab[i].lon);
        assert_true(k >= 0);
        assert_string_equal(fp_layer_code(L, (size_t)k), lab[i].name);
        assert_string_equal(fp_layer_name(L, (size_t)k), lab[i].code);
    }
    fp_layer_free(L);
    /* The same fields given in the detected roles. */
    o.code_field = "ICB23CD";
    o.name_field = "ICB23NM";
    L = open_ok(ctx, path, &o);
    check_labels(L, lab, n);
    fp_layer_free(L);
    test_ctx_done(ctx);
}

/* s with anything unprintable (freed memory, say) shown as '?'. */
static const char *printable(const char *s, char *buf, size_t size)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < size; i++)
        buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    buf[i] = '\0';
    return buf;
}

/* A numeric code field: the codes are the numbers as text, whatever the
 * name field's type.  (Results are gathered and everything freed before
 * asserting, so that a failure does not leak into later tests.) */
static void test_open_numeric_code_field(void **state)
{
    (void)state;
    const char *path = test_data_path("boundaries/icb_2023_bsc.geojson");
    label lab[MAXLAB];
    int n = read_labels(path, NULL, lab);
    static const char *name_fields[] = {"BNG_N", "ICB23NM"};
    for (int v = 0; v < 2; v++) {
        fp_ctx *ctx = test_ctx();
        fp_open_opts o;
        fp_open_opts_init(&o);
        o.code_field = "BNG_E"; /* Integer */
        o.name_field = name_fields[v];
        fp_layer *L;
        int rc = open_quiet(ctx, path, &o, &L);
        int bad = 0;
        char first_bad[512] = "";
        size_t count = rc ? 0 : fp_layer_count(L);
        for (int i = 0; !rc && i < n; i++) {
            char e[16], want_name[96];
            snprintf(e, sizeof e, "%d", lab[i].bng_e);
            if (v == 0)
                snprintf(want_name, sizeof want_name, "%d", lab[i].bng_n);
            else
                snprintf(want_name, sizeof want_name, "%s", lab[i].name);
            long k = fp_layer_find_code(L, e);
            long at = fp_layer_find(L, lab[i].lat, lab[i].lon);
            const char *name = k >= 0 ? fp_layer_name(L, (size_t)k) : "(absent)";
            if (k < 0 || at != k || strcmp(name, want_name)) {
                char c0[24], n0[48];
                if (!bad++)
                    snprintf(first_bad, sizeof first_bad,
                             "%.15s: code %.15s %.6s, name \"%.40s\" (want \"%.40s\"); "
                             "layer[0] = \"%.20s\" / \"%.40s\"",
                             lab[i].code, e, k >= 0 ? "found" : "absent", name,
                             want_name, printable(fp_layer_code(L, 0), c0, sizeof c0),
                             printable(fp_layer_name(L, 0), n0, sizeof n0));
            }
        }
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(ctx));
        fp_layer_free(rc ? NULL : L);
        test_ctx_done(ctx);
        if (rc) fail_msg("name field %s: status %d: %s", name_fields[v], rc, msg);
        assert_int_equal(count, 42);
        if (bad)
            fail_msg("code BNG_E, name %s: %d of %d footprints wrong; first: %s",
                     name_fields[v], bad, n, first_bad);
    }
}

static void test_open_unknown_layer(void **state)
{
    (void)state;
    fp_open_opts o;
    fp_open_opts_init(&o);
    o.layer = "icb_2099_bsc";
    open_fails(test_data_path("boundaries_bng/nhs_footprints_bng.gpkg"), &o,
               FP_ENOTFOUND, "'icb_2099_bsc'");
    open_fails(test_data_path("boundaries/icb_2023_bsc.geojson"), &o,
               FP_ENOTFOUND, "'icb_2099_bsc'");
}

static void test_open_unknown_field_lists_fields(void **state)
{
    (void)state;
    const char *path = test_data_path("boundaries/icb_2023_bsc.geojson");
    const char *list = "ICB23CD, ICB23NM, BNG_E, BNG_N, LONG, LAT";
    fp_open_opts o;
    fp_open_opts_init(&o);
    o.code_field = "ICB99CD";
    open_fails(path, &o, FP_EFIELD, "'ICB99CD'");
    open_fails(path, &o, FP_EFIELD, list);
    fp_open_opts_init(&o);
    o.name_field = "ICB99NM";
    open_fails(path, &o, FP_EFIELD, "'ICB99NM'");
    open_fails(path, &o, FP_EFIELD, list);
    /* No ONS-style code field to detect. */
    const char *nocd = write_text(
        "nocd.geojson",
        "{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\","
        "\"properties\":{\"id\":\"A\",\"label\":\"x\"},\"geometry\":{\"type\":"
        "\"Polygon\",\"coordinates\":[[[0,50],[1,50],[1,51],[0,50]]]}}]}");
    open_fails(nocd, NULL, FP_EFIELD, "id, label");
}

/* ---- other OGR formats, written here ---- */

/* Two squares side by side with fields SQ24CD / SQ24NM (and a decoy name
 * field before them and an integer field), in the given CRS. */
static void write_squares(const char *driver, const char *path,
                          const char *layer, int epsg)
{
    GDALAllRegister();
    GDALDriverH drv = GDALGetDriverByName(driver);
    if (!drv) skip();
    GDALDatasetH ds = GDALCreate(drv, path, 0, 0, 0, GDT_Unknown, NULL);
    if (!ds) fail_msg("cannot create %s as %s: %s", path, driver, CPLGetLastErrorMsg());
    OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
    assert_int_equal(OSRImportFromEPSG(srs, epsg), OGRERR_NONE);
    OSRSetAxisMappingStrategy(srs, OAMS_TRADITIONAL_GIS_ORDER);
    OGRLayerH lyr = GDALDatasetCreateLayer(ds, layer, srs, wkbPolygon, NULL);
    assert_non_null(lyr);
    const char *names[] = {"OTHERNM", "SQ24CD", "SQ24NM"};
    for (int i = 0; i < 3; i++) {
        OGRFieldDefnH fd = OGR_Fld_Create(names[i], OFTString);
        assert_int_equal(OGR_L_CreateField(lyr, fd, 1), OGRERR_NONE);
        OGR_Fld_Destroy(fd);
    }
    OGRFieldDefnH fd = OGR_Fld_Create("POP", OFTInteger);
    assert_int_equal(OGR_L_CreateField(lyr, fd, 1), OGRERR_NONE);
    OGR_Fld_Destroy(fd);
    char wkt[2][256];
    if (epsg == 27700) {
        snprintf(wkt[0], sizeof wkt[0], "POLYGON ((400000 370000,430000 370000,"
                 "430000 400000,400000 400000,400000 370000))");
        snprintf(wkt[1], sizeof wkt[1], "POLYGON ((430000 370000,460000 370000,"
                 "460000 400000,430000 400000,430000 370000))");
    } else {
        snprintf(wkt[0], sizeof wkt[0], "POLYGON ((-2 53,-1.5 53,-1.5 53.5,-2 53.5,-2 53))");
        snprintf(wkt[1], sizeof wkt[1], "POLYGON ((-1.5 53,-1 53,-1 53.5,-1.5 53.5,-1.5 53))");
    }
    const char *codes[] = {"W01", "E01"}, *nms[] = {"West square", "East square"};
    for (int i = 0; i < 2; i++) {
        OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(lyr));
        OGR_F_SetFieldString(f, 0, "decoy");
        OGR_F_SetFieldString(f, 1, codes[i]);
        OGR_F_SetFieldString(f, 2, nms[i]);
        OGR_F_SetFieldInteger(f, 3, 1000 + i);
        OGRGeometryH g = NULL;
        char *w = wkt[i];
        assert_int_equal(OGR_G_CreateFromWkt(&w, srs, &g), OGRERR_NONE);
        assert_int_equal(OGR_F_SetGeometryDirectly(f, g), OGRERR_NONE);
        assert_int_equal(OGR_L_CreateFeature(lyr, f), OGRERR_NONE);
        OGR_F_Destroy(f);
    }
    OSRDestroySpatialReference(srs);
    GDALClose(ds);
}

static void check_squares(fp_ctx *ctx, const fp_layer *L, int epsg)
{
    assert_int_equal(fp_layer_count(L), 2);
    assert_string_equal(fp_layer_code(L, 0), "E01");
    assert_string_equal(fp_layer_name(L, 0), "East square"); /* not the decoy */
    assert_string_equal(fp_layer_code(L, 1), "W01");
    assert_string_equal(fp_layer_name(L, 1), "West square");
    assert_int_equal(fp_layer_vertices(L), 10);
    if (epsg == 27700) {
        assert_string_equal(code_bng(ctx, L, 415000, 385000), "W01");
        assert_string_equal(code_bng(ctx, L, 435000, 387000), "E01"); /* Sheffield */
        assert_string_equal(code_bng(ctx, L, 470000, 385000), "none");
        assert_string_equal(code_ll(L, 53.381, -1.470), "E01");
        /* 400000 E is the central meridian (-2): the west edge stays on it. */
        double box[4];
        fp_layer_bbox(L, 1, box);
        assert_true(fabs(box[0] - -2.0) < 0.01 && fabs(box[1] - 53.2) < 0.1);
    } else {
        assert_string_equal(code_ll(L, 53.25, -1.75), "W01");
        assert_string_equal(code_ll(L, 53.25, -1.25), "E01");
        assert_string_equal(code_ll(L, 53.25, -1.5), "E01"); /* shared edge: east */
        assert_string_equal(code_ll(L, 52.9, -1.5), "none");
        double box[4];
        fp_layer_bbox(L, SIZE_MAX, box);
        assert_true(box[0] == -2 && box[1] == 53 && box[2] == -1 && box[3] == 53.5);
    }
}

static void test_open_other_formats(void **state)
{
    (void)state;
    static const struct {
        const char *driver, *file, *layer;
        int epsg;
    } cases[] = {
        {"ESRI Shapefile", "squares.shp", "squares", 27700},
        {"FlatGeobuf", "squares.fgb", "squares", 4326},
        {"GPKG", "squares_bng.gpkg", "sq_bng", 27700},
        {"GPKG", "squares_wgs.gpkg", "sq_wgs", 4326},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *path = tmp_path(cases[i].file);
        write_squares(cases[i].driver, path, cases[i].layer, cases[i].epsg);
        fp_ctx *ctx = test_ctx();
        fp_layer *L = open_ok(ctx, path, NULL);
        check_squares(ctx, L, cases[i].epsg);
        fp_layer_free(L);
        fp_open_opts o; /* by layer name, with the fields named */
        fp_open_opts_init(&o);
        o.layer = cases[i].layer;
        o.code_field = "SQ24CD";
        o.name_field = "SQ24NM";
        L = open_ok(ctx, path, &o);
        check_squares(ctx, L, cases[i].epsg);
        fp_layer_free(L);
        test_ctx_done(ctx);
    }
    /* A directory holding a Shapefile is a data source too. */
    char dir[512];
    snprintf(dir, sizeof dir, "%s", tmp_path("shpdir"));
    assert_int_equal(mkdir(dir, 0700), 0);
    char shp[600];
    snprintf(shp, sizeof shp, "%s/only.shp", dir);
    write_squares("ESRI Shapefile", shp, "only", 27700);
    fp_ctx *ctx = test_ctx();
    fp_layer *L = open_ok(ctx, dir, NULL);
    check_squares(ctx, L, 27700);
    fp_layer_free(L);
    test_ctx_done(ctx);
}

/* ---- bad input ---- */

static void test_open_missing_file_eio(void **state)
{
    (void)state;
    const char *path = tmp_path("no/such/file.geojson");
    open_fails(path, NULL, FP_EIO, strerror(ENOENT));
    open_fails(tmp_path("missing.gpkg"), NULL, FP_EIO, strerror(ENOENT));
}

static void test_open_directory_without_data(void **state)
{
    (void)state;
    const char *dir = tmp_path("emptydir");
    assert_int_equal(mkdir(dir, 0700), 0);
    open_fails(dir, NULL, FP_EFORMAT, NULL);
    /* Files GDAL does not know do not make it a data source. */
    char f[600];
    snprintf(f, sizeof f, "%s/readme.txt", dir);
    FILE *fp = fopen(f, "w");
    assert_non_null(fp);
    fputs("nothing to see\n", fp);
    fclose(fp);
    open_fails(dir, NULL, FP_EFORMAT, NULL);
}

static void test_open_empty_file_eformat(void **state)
{
    (void)state;
    open_fails(write_file("zero.geojson", "", 0), NULL, FP_EFORMAT, "empty file");
    open_fails(write_file("zero.gpkg", "", 0), NULL, FP_EFORMAT, "empty file");
}

static void test_open_corrupt_bytes_eformat(void **state)
{
    (void)state;
    unsigned char junk[4096];
    unsigned s = 1;
    for (size_t i = 0; i < sizeof junk; i++) {
        s = s * 1103515245u + 12345u;
        junk[i] = (unsigned char)(s >> 16);
    }
    open_fails(write_file("junk.geojson", junk, sizeof junk), NULL, FP_EFORMAT, NULL);
    open_fails(write_file("junk.bin", junk, sizeof junk), NULL, FP_EFORMAT, NULL);
    /* A GeoPackage's magic followed by garbage. */
    memcpy(junk, "SQLite format 3", 16);
    open_fails(write_file("junk.gpkg", junk, sizeof junk), NULL, FP_EFORMAT, NULL);
    /* A FlatGeobuf's magic followed by garbage. */
    const unsigned char fgb_magic[8] = {0x66, 0x67, 0x62, 0x03, 0x66, 0x67, 0x62, 0x00};
    memcpy(junk, fgb_magic, 8);
    open_fails(write_file("junk.fgb", junk, sizeof junk), NULL, FP_EFORMAT, NULL);
    open_fails(write_text("notjson.geojson", "{\"type\": \"FeatureCollection\", "
                          "\"features\": [ this is not json ]}"),
               NULL, FP_EFORMAT, NULL);
}

static void test_open_truncated_geojson_eformat(void **state)
{
    (void)state;
    const char *src = test_data_path("boundaries/icb_2023_bsc.geojson");
    FILE *f = fopen(src, "rb");
    assert_non_null(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(n > 500000 && n < sizeof buf);
    /* Cut mid-file, in the last feature, and just before the closing
     * brackets: never a partial layer. */
    const size_t cuts[] = {n / 2, n - 200, n - 4};
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "truncated%d.geojson", i);
        open_fails(write_file(name, buf, cuts[i]), NULL, FP_EFORMAT, NULL);
    }
}

static void test_open_points_only_eformat(void **state)
{
    (void)state;
    const char *path = write_text(
        "points.geojson",
        "{\"type\":\"FeatureCollection\",\"features\":["
        "{\"type\":\"Feature\",\"properties\":{\"AREA24CD\":\"A\",\"AREA24NM\":\"a\"},"
        "\"geometry\":{\"type\":\"Point\",\"coordinates\":[-1.47,53.38]}},"
        "{\"type\":\"Feature\",\"properties\":{\"AREA24CD\":\"B\",\"AREA24NM\":\"b\"},"
        "\"geometry\":{\"type\":\"Point\",\"coordinates\":[-1.61,54.97]}}]}");
    open_fails(path, NULL, FP_EFORMAT, "no polygon");
    open_fails(path, NULL, FP_EFORMAT, "2 features");
}

/* A FeatureCollection without features has no polygons (FP_EFORMAT), not
 * a missing field: it has no fields at all because it has no features. */
static void test_open_no_features_eformat(void **state)
{
    (void)state;
    const char *none = write_text(
        "nofeatures.geojson",
        "{\"type\":\"FeatureCollection\",\"features\":[]}");
    open_fails(none, NULL, FP_EFORMAT, "no polygon");
}

static const char *bng_geojson(const char *name, const char *crs_member)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"type\":\"FeatureCollection\",%s\"features\":["
             "{\"type\":\"Feature\",\"properties\":{\"AREA24CD\":\"SHF\","
             "\"AREA24NM\":\"Sheffield box\"},\"geometry\":{\"type\":\"Polygon\","
             "\"coordinates\":[[[430000,380000],[440000,380000],[440000,390000],"
             "[430000,390000],[430000,380000]]]}}]}",
             crs_member);
    return write_text(name, text);
}

static void test_open_bng_coordinates_without_crs_ecrs(void **state)
{
    (void)state;
    const char *path = bng_geojson("bng_nocrs.geojson", "");
    open_fails(path, NULL, FP_ECRS, "CRS");
}

static void test_open_crs_override(void **state)
{
    (void)state;
    const char *path = bng_geojson("bng_override.geojson", "");
    fp_ctx *ctx = test_ctx();
    fp_open_opts o;
    fp_open_opts_init(&o);
    o.crs = "EPSG:27700";
    fp_layer *L = open_ok(ctx, path, &o);
    assert_int_equal(fp_layer_count(L), 1);
    assert_string_equal(fp_layer_code(L, 0), "SHF");
    assert_string_equal(fp_layer_name(L, 0), "Sheffield box");
    assert_string_equal(code_ll(L, 53.381, -1.470), "SHF");
    assert_string_equal(code_bng(ctx, L, 435000, 387000), "SHF");
    assert_string_equal(code_bng(ctx, L, 445000, 387000), "none");
    assert_string_equal(code_ll(L, 51.5074, -0.1278), "none"); /* London */
    double box[4];
    fp_layer_bbox(L, 0, box); /* about -1.55..-1.39, 53.31..53.41 */
    assert_true(box[0] > -1.56 && box[0] < -1.53 && box[2] > -1.41 && box[2] < -1.38);
    assert_true(box[1] > 53.30 && box[1] < 53.33 && box[3] > 53.39 && box[3] < 53.42);
    fp_layer_free(L);
    test_ctx_done(ctx);
}

static void test_open_unknown_crs_override_ecrs(void **state)
{
    (void)state;
    const char *path = bng_geojson("bng_badcrs.geojson", "");
    fp_open_opts o;
    fp_open_opts_init(&o);
    o.crs = "EPSG:99999999";
    fp_ctx *ctx = test_ctx();
    fp_layer *L;
    int rc = open_quiet(ctx, path, &o, &L);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(ctx));
    test_ctx_done(ctx);
    assert_int_equal(rc, FP_ECRS);
    assert_has(msg, "EPSG:99999999");
    o.crs = "not a CRS at all";
    ctx = test_ctx();
    rc = open_quiet(ctx, path, &o, &L);
    snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(ctx));
    test_ctx_done(ctx);
    assert_int_equal(rc, FP_ECRS);
    assert_has(msg, "not a CRS at all");
}

/* Like every other failure of fp_layer_open, the unknown-CRS message names
 * the file being opened. */
static void test_open_unknown_crs_message_names_path(void **state)
{
    (void)state;
    const char *path = bng_geojson("bng_badcrs2.geojson", "");
    fp_open_opts o;
    fp_open_opts_init(&o);
    o.crs = "EPSG:99999999";
    open_fails(path, &o, FP_ECRS, "EPSG:99999999");
}

/* A declared CRS whose coordinates cannot be in it. */
static void test_open_coordinates_outside_declared_crs_ecrs(void **state)
{
    (void)state;
    const char *path = write_text(
        "far.geojson",
        "{\"type\":\"FeatureCollection\",\"crs\":{\"type\":\"name\",\"properties\":"
        "{\"name\":\"urn:ogc:def:crs:EPSG::27700\"}},\"features\":["
        "{\"type\":\"Feature\",\"properties\":{\"AREA24CD\":\"FAR\"},"
        "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[1e12,1e12],"
        "[2e12,1e12],[2e12,2e12],[1e12,1e12]]]}}]}");
    open_fails(path, NULL, FP_ECRS, "CRS");
}

static void test_open_skips_null_geometry_and_empty_code(void **state)
{
    (void)state;
#define SQ(x) "{\"type\":\"Polygon\",\"coordinates\":[[[" #x ",53],[" #x ".5,53],[" \
              #x ".5,53.5],[" #x ",53.5],[" #x ",53]]]}"
    const char *path = write_text(
        "mixed.geojson",
        "{\"type\":\"FeatureCollection\",\"features\":["
        "{\"type\":\"Feature\",\"properties\":{\"AREA24CD\":\"NOGEOM\",\"AREA24NM\":\"n\"},"
        "\"geometry\":null},"
        "{\"type\":\"Feature\",\"properties\":{\"AREA24CD\":\"\",\"AREA24NM\":\"empty\"},"
        "\"geometry\":" SQ(-3) "},"
        "{\"type\":\"Feature\",\"properties\":{\"AREA24CD\":null,\"AREA24NM\":\"null\"},"
        "\"geometry\":" SQ(-2) "},"
        "{\"type\":\"Feature\",\"properties\":{\"AREA24NM\":\"unset\"},"
        "\"geometry\":" SQ(-1) "},"
        "{\"type\":\"Feature\",\"properties\":{\"AREA24CD\":\"KEEP\",\"AREA24NM\":\"kept\"},"
        "\"geometry\":" SQ(0) "},"
        "{\"type\":\"Feature\",\"properties\":{\"AREA24CD\":\"LINE\",\"AREA24NM\":\"l\"},"
        "\"geometry\":{\"type\":\"LineString\",\"coordinates\":[[1,53],[2,54]]}},"
        "{\"type\":\"Feature\",\"properties\":{\"AREA24CD\":\"MULTI\",\"AREA24NM\":\"m\"},"
        "\"geometry\":{\"type\":\"MultiPolygon\",\"coordinates\":["
        "[[[3,53],[3.5,53],[3.5,53.5],[3,53]]],[[[4,53],[4.5,53],[4.5,53.5],[4,53]]]]}}"
        "]}");
#undef SQ
    fp_ctx *ctx = test_ctx();
    fp_layer *L = open_ok(ctx, path, NULL);
    assert_int_equal(fp_layer_count(L), 2);
    assert_string_equal(fp_layer_code(L, 0), "KEEP");
    assert_string_equal(fp_layer_name(L, 0), "kept");
    assert_string_equal(fp_layer_code(L, 1), "MULTI");
    assert_int_equal(fp_layer_find_code(L, "NOGEOM"), -1);
    assert_int_equal(fp_layer_find_code(L, "LINE"), -1);
    assert_string_equal(code_ll(L, 53.25, 0.25), "KEEP");
    assert_string_equal(code_ll(L, 53.1, 3.4), "MULTI");
    assert_string_equal(code_ll(L, 53.1, 4.4), "MULTI");
    assert_string_equal(code_ll(L, 53.25, -2.75), "none"); /* empty code */
    assert_string_equal(code_ll(L, 53.25, -1.75), "none"); /* null code */
    assert_string_equal(code_ll(L, 53.25, -0.75), "none"); /* unset code */
    fp_layer_free(L);
    test_ctx_done(ctx);
}

/* Features of one code merge; the index options reach the builder. */
static void test_open_merges_codes_and_passes_index_opts(void **state)
{
    (void)state;
    const char *path = write_text(
        "dups.geojson",
        "{\"type\":\"FeatureCollection\",\"features\":["
        "{\"type\":\"Feature\",\"properties\":{\"X24CD\":\"B\",\"X24NM\":\"b1\"},"
        "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[0,50],[1,50],[1,51],[0,51],[0,50]]]}},"
        "{\"type\":\"Feature\",\"properties\":{\"X24CD\":\"A\",\"X24NM\":\"a\"},"
        "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[1,50],[2,50],[2,51],[1,51],[1,50]]]}},"
        "{\"type\":\"Feature\",\"properties\":{\"X24CD\":\"B\",\"X24NM\":\"b2\"},"
        "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[2,50],[3,50],[3,51],[2,51],[2,50]]]}}"
        "]}");
    fp_ctx *ctx = test_ctx();
    fp_open_opts o;
    fp_open_opts_init(&o);
    o.index.kind = FP_INDEX_NONE;
    fp_layer *L = open_ok(ctx, path, &o);
    assert_int_equal(fp_layer_count(L), 2);
    assert_string_equal(fp_layer_code(L, 1), "B");
    assert_string_equal(fp_layer_name(L, 1), "b1");
    assert_string_equal(code_ll(L, 50.5, 0.5), "B");
    assert_string_equal(code_ll(L, 50.5, 2.5), "B");
    assert_string_equal(code_ll(L, 50.5, 1.5), "A");
    fp_layer_free(L);
    test_ctx_done(ctx);
    fp_open_opts_init(&o);
    o.index.root_bits = 13;
    open_fails(path, &o, FP_EINVAL, "root_bits");
}

/* Out of memory at each of the library's own allocations while opening
 * (GDAL's are its own): FP_ENOMEM with a message saying so, nothing
 * leaked, and success once the allocations run out. */
static void test_open_out_of_memory(void **state)
{
    (void)state;
    const char *path = write_text(
        "oom.geojson",
        "{\"type\":\"FeatureCollection\",\"features\":["
        "{\"type\":\"Feature\",\"properties\":{\"X24CD\":\"B\",\"X24NM\":\"b\"},"
        "\"geometry\":{\"type\":\"MultiPolygon\",\"coordinates\":["
        "[[[0,50],[1,50],[1,51],[0,51],[0,50]],[[0.2,50.2],[0.4,50.2],[0.4,50.4],[0.2,50.2]]],"
        "[[[5,50],[6,50],[6,51],[5,50]]]]}},"
        "{\"type\":\"Feature\",\"properties\":{\"X24CD\":\"A\",\"X24NM\":\"a\"},"
        "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[1,50],[2,50],[2,51],[1,51],[1,50]]]}}"
        "]}");
    fp_open_opts o;
    fp_open_opts_init(&o);
    o.index.root_bits = 4; /* quick rebuilds */
    int ok = 0;
    long n, garbled = 0;
    char first_garbled[1100] = "";
    for (n = 0; n < 5000 && !ok; n++) {
        fp_ctx *ctx = test_ctx();
        test_alloc_fail_after(n);
        fp_layer *L;
        int rc = open_quiet(ctx, path, &o, &L);
        test_alloc_fail_after(-1);
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(ctx));
        size_t count = rc ? 0 : fp_layer_count(L);
        fp_layer_free(L);
        test_ctx_done(ctx); /* nothing leaked */
        if (rc == FP_OK) {
            assert_int_equal(count, 2);
            ok = 1;
        } else if (rc != FP_ENOMEM) {
            fail_msg("allocation %ld failed: status %d (%s)", n, rc, msg);
        } else if (!strstr(msg, "out of memory") && !garbled++) {
            snprintf(first_garbled, sizeof first_garbled, "%ld: \"%s\"", n, msg);
        }
    }
    assert_true(ok);
    assert_true(n > 20); /* the failures really happened */
    if (garbled)
        fail_msg("%ld of %ld failed allocations left a message that does not say "
                 "out of memory; first: allocation %s", garbled, n - 1, first_garbled);
}

/* ---- editions ---- */

static void test_open_edition_icb2026(void **state)
{
    (void)state;
    const char *dir = test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = test_catalogue(ctx);
    const fp_edition *ed = fp_catalogue_find(cat, "icb2026");
    assert_non_null(ed);
    fp_layer *L = (fp_layer *)&L;
    int rc = fp_edition_open(ctx, ed, dir, NULL, &L);
    if (rc) fail_msg("%s", fp_ctx_errmsg(ctx));
    assert_int_equal(fp_layer_count(L), 36);
    for (size_t i = 0; i < 36; i++) {
        assert_memory_equal(fp_layer_code(L, i), "E54", 3);
        assert_memory_equal(fp_layer_name(L, i), "NHS ", 4);
    }
    assert_true(fp_layer_find_code(L, "E54000071") >= 0); /* new in 2026 */
    assert_int_equal(fp_layer_find_code(L, "E54000034"), -1); /* Frimley, gone */
    assert_string_equal(code_ll(L, 53.381, -1.470), "E54000061");
    fp_layer_free(L);
    /* Index options are passed on. */
    fp_index_opts io;
    fp_index_opts_init(&io);
    io.root_bits = 9; /* explicit options (0 would choose them all) */
    io.max_depth = 11;
    L = (fp_layer *)&L;
    assert_int_equal(fp_edition_open(ctx, ed, dir, &io, &L), FP_EINVAL);
    assert_null(L);
    assert_has(fp_ctx_errmsg(ctx), "icb_2026_bsc.geojson");
    assert_has(fp_ctx_errmsg(ctx), "max_depth");
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

/* An edition whose boundaries are one layer of a GeoPackage. */
static void test_open_edition_geopackage_layer(void **state)
{
    (void)state;
    const char *dir = test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_edition ed = {
        .id = "icb2026bng", .level = "icb", .name = "ICB 2026 (BNG)",
        .valid_from = "2026-04-01", .valid_to = "",
        .path = "boundaries_bng/nhs_footprints_bng.gpkg", .layer = "icb_2026_bsc",
        .code_field = "ICB26CD", .name_field = "ICB26NM", .vintage = 2026,
        .attribution = "",
    };
    fp_layer *L = NULL;
    int rc = fp_edition_open(ctx, &ed, dir, NULL, &L);
    if (rc) fail_msg("%s", fp_ctx_errmsg(ctx));
    assert_int_equal(fp_layer_count(L), 36);
    assert_string_equal(code_ll(L, 53.381, -1.470), "E54000061");
    assert_string_equal(code_ll(L, 51.29, -0.75), "E54000067"); /* Farnborough */
    fp_layer_free(L);
    test_ctx_done(ctx);
}

static void test_open_edition_missing_data_dir_eio(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = test_catalogue(ctx);
    const fp_edition *ed = fp_catalogue_find(cat, "icb2026");
    assert_non_null(ed);
    const char *dir = tmp_path("no-such-data-dir");
    char want[1024];
    snprintf(want, sizeof want, "%s/boundaries/icb_2026_bsc.geojson", dir);
    fp_layer *L = (fp_layer *)&L;
    assert_int_equal(fp_edition_open(ctx, ed, dir, NULL, &L), FP_EIO);
    assert_null(L);
    assert_int_equal(fp_ctx_errcode(ctx), FP_EIO);
    assert_has(fp_ctx_errmsg(ctx), want);
    assert_has(fp_ctx_errmsg(ctx), strerror(ENOENT));
    /* A data directory path too long for the buffer. */
    static char longdir[5000];
    memset(longdir, 'd', sizeof longdir - 1);
    longdir[0] = '/';
    L = (fp_layer *)&L;
    assert_int_equal(fp_edition_open(ctx, ed, longdir, NULL, &L), FP_EINVAL);
    assert_null(L);
    assert_has(fp_ctx_errmsg(ctx), "too long");
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

/* A context that failed once reports success cleanly afterwards. */
static void test_open_error_cleared_by_success(void **state)
{
    (void)state;
    const char *good = bng_geojson("clear_ok.geojson", "");
    fp_ctx *ctx = test_ctx();
    fp_layer *L;
    assert_int_equal(open_quiet(ctx, tmp_path("nothing-here.geojson"), NULL, &L), FP_EIO);
    fp_open_opts o;
    fp_open_opts_init(&o);
    o.crs = "EPSG:27700";
    assert_int_equal(open_quiet(ctx, good, &o, &L), FP_OK); /* checks errmsg "" */
    fp_layer_free(L);
    test_ctx_done(ctx);
}

/* ---- setup ---- */

/* rm -r, for the temporary directory (no symbolic links are made in it). */
static int remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return -1;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return -1;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            remove_tree(sub);
        }
        closedir(d);
    }
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fp_test_open_XXXXXX");
    /* No GDALAllRegister here: the first fp_layer_open of the process
     * (the first test) registers the drivers, inside its stderr check. */
    if (!mkdtemp(tmpdir)) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return remove_tree(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* First: GDAL is not yet initialised in this process. */
        cmocka_unit_test(test_open_bng_coordinates_without_crs_ecrs),
        cmocka_unit_test(test_open_geojson_icb2023),
        cmocka_unit_test(test_open_geopackage_bng_layer),
        cmocka_unit_test(test_open_geopackage_first_layer),
        cmocka_unit_test(test_open_explicit_fields),
        cmocka_unit_test(test_open_numeric_code_field),
        cmocka_unit_test(test_open_unknown_layer),
        cmocka_unit_test(test_open_unknown_field_lists_fields),
        cmocka_unit_test(test_open_other_formats),
        cmocka_unit_test(test_open_missing_file_eio),
        cmocka_unit_test(test_open_directory_without_data),
        cmocka_unit_test(test_open_empty_file_eformat),
        cmocka_unit_test(test_open_corrupt_bytes_eformat),
        cmocka_unit_test(test_open_truncated_geojson_eformat),
        cmocka_unit_test(test_open_points_only_eformat),
        cmocka_unit_test(test_open_no_features_eformat),
        cmocka_unit_test(test_open_crs_override),
        cmocka_unit_test(test_open_unknown_crs_override_ecrs),
        cmocka_unit_test(test_open_unknown_crs_message_names_path),
        cmocka_unit_test(test_open_coordinates_outside_declared_crs_ecrs),
        cmocka_unit_test(test_open_skips_null_geometry_and_empty_code),
        cmocka_unit_test(test_open_merges_codes_and_passes_index_opts),
        cmocka_unit_test(test_open_out_of_memory),
        cmocka_unit_test(test_open_edition_icb2026),
        cmocka_unit_test(test_open_edition_geopackage_layer),
        cmocka_unit_test(test_open_edition_missing_data_dir_eio),
        cmocka_unit_test(test_open_error_cleared_by_success),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
