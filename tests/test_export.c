/* Unit tests for lib/src/export.c and lib/src/export_web.c: footprints go
 * out through OGR in every common format and come back with the same
 * codes, names and valid geometry; their facts (ODS code, parents,
 * validity) are right for Sheffield; names travel verbatim; output that
 * cannot be written is a clean error with nothing half-written; the web
 * map folder is complete and replaced only when it is one. */
#include "support.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gdal.h>
#include <ogr_api.h>

#include "internal.h"

static char root[256];
static fp_ctx *gctx; /* C-library allocator: not leak-counted */
static fp_catalogue *gcat;

/* ---- layers for the exporter: the mirror's, or a fixture's ---- */

typedef struct src {
    const fp_catalogue *cat;
    struct {
        const fp_edition *ed;
        fp_layer *L;
    } c[24];
    size_t n;
    const char *fixture_ed[4];
    const fp_layer *fixture[4];
} src;

static src real_src;

static int source(void *arg, fp_ctx *ctx, const fp_edition *ed, const fp_layer **out)
{
    src *s = arg;
    for (int k = 0; k < 4; k++)
        if (s->fixture_ed[k] && !strcmp(s->fixture_ed[k], ed->id)) {
            *out = s->fixture[k];
            return FP_OK;
        }
    for (size_t i = 0; i < s->n; i++)
        if (s->c[i].ed == ed) {
            *out = s->c[i].L;
            return FP_OK;
        }
    const char *data = test_data_dir();
    if (!data || s != &real_src) return fp__error(ctx, FP_ENOTFOUND, "no layer %s", ed->id);
    fp_layer *L;
    if (fp_catalogue_open(gctx, s->cat, ed->id, data, NULL, &L))
        return fp__error(ctx, fp_ctx_errcode(gctx), "%s", fp_ctx_errmsg(gctx));
    assert_true(s->n < 24);
    s->c[s->n].ed = ed;
    s->c[s->n++].L = L;
    *out = L;
    return FP_OK;
}

/* ---- helpers ---- */

static const char *path_of(const char *name)
{
    static char bufs[16][512];
    static int slot;
    char *b = bufs[slot++ & 15];
    snprintf(b, sizeof bufs[0], "%s/%s", root, name);
    return b;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("%s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    if (len) *len = (size_t)n;
    return b;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("%s: %s", path, strerror(errno));
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void export_ok(fp_ctx *ctx, const fp_catalogue *cat, src *s, const char *edition,
                      const char *path, const fp_export_opts *o, fp_simplify_stats *st)
{
    if (fp_export(ctx, cat, edition, source, s, path, o, st))
        fail_msg("export %s to %s: %s", edition, path, fp_ctx_errmsg(ctx));
}

static fp_layer *reopen(fp_ctx *ctx, const char *path)
{
    fp_open_opts o;
    fp_open_opts_init(&o);
    o.code_field = "code";
    o.name_field = "name";
    fp_layer *L = NULL;
    if (fp_layer_open(ctx, path, &o, &L)) fail_msg("reopen %s: %s", path, fp_ctx_errmsg(ctx));
    return L;
}

static void assert_same_footprints(const fp_layer *a, const fp_layer *b)
{
    assert_int_equal(fp_layer_count(a), fp_layer_count(b));
    for (size_t i = 0; i < fp_layer_count(a); i++) {
        assert_string_equal(fp_layer_code(a, i), fp_layer_code(b, i));
        assert_string_equal(fp_layer_name(a, i), fp_layer_name(b, i));
    }
}

/* The fields of the feature with this code, through OGR; every geometry
 * of the file is checked valid on the way. */
typedef struct row {
    char f[12][160];
    int null[12];
    int found;
    size_t features, invalid;
} row;

enum { F_CODE, F_ODS, F_NAME, F_LEVEL, F_EDITION, F_RCODE, F_RNAME, F_SCODE, F_SNAME, F_FROM,
       F_TO, F_ATTR };

static const char *const FIELDS[12] = {"code", "ods_code", "name", "level", "edition",
                                       "region_code", "region_name", "system_code",
                                       "system_name", "valid_from", "valid_to", "attribution"};

static row read_row(const char *path, const char *code)
{
    row r;
    memset(&r, 0, sizeof r);
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_VECTOR, NULL, NULL, NULL);
    if (!ds) fail_msg("OGR cannot open %s", path);
    OGRLayerH l = GDALDatasetGetLayer(ds, 0);
    OGRFeatureH f;
    while ((f = OGR_L_GetNextFeature(l)) != NULL) {
        r.features++;
        OGRGeometryH g = OGR_F_GetGeometryRef(f);
        if (!g || !OGR_G_IsValid(g)) r.invalid++;
        int ic = OGR_F_GetFieldIndex(f, "code");
        if (ic >= 0 && !strcmp(OGR_F_GetFieldAsString(f, ic), code)) {
            r.found = 1;
            for (int k = 0; k < 12; k++) {
                int i = OGR_F_GetFieldIndex(f, FIELDS[k]);
                r.null[k] = i < 0 || !OGR_F_IsFieldSetAndNotNull(f, i);
                if (!r.null[k]) snprintf(r.f[k], sizeof r.f[k], "%s", OGR_F_GetFieldAsString(f, i));
                /* OGR's GeoJSON reader takes ISO dates for dates and
                 * gives them back as YYYY/MM/DD. */
                if (k == F_FROM || k == F_TO)
                    for (char *p = r.f[k]; *p; p++)
                        if (*p == '/') *p = '-';
            }
        }
        OGR_F_Destroy(f);
    }
    GDALClose(ds);
    if (!r.found) fail_msg("%s: no footprint %s", path, code);
    return r;
}


/* ---- a fixture: footprints around Sheffield, one with a hostile name ---- */

#define EVIL "<img src=x onerror=alert(1)>"
#define QUOTES "Quote \" back\\slash & 'apostrophe' \xc3\xa9"

static const char FIXTURE_CAT[] =
    "id,level,name,valid_from,valid_to,path,layer,code_field,name_field,vintage,attribution\n"
    "evil2023,icb,Evil boards,2023-04-01,,boundaries/evil.geojson,,X,Y,2023,"
    "Source: Office for National Statistics licensed under the Open Government Licence v.3.0\n"
    "region2024,nhser,Regions,2024-01-01,,boundaries/region.geojson,,X,Y,2024,"
    "Source: Office for National Statistics licensed under the Open Government Licence v.3.0\n";

static fp_layer *fixture_boards(fp_ctx *ctx)
{
    fp_builder *b;
    assert_int_equal(fp_builder_new(ctx, &b), FP_OK);
    assert_int_equal(fp_builder_add_footprint(b, "E99000001", EVIL), FP_OK);
    test_add_rect(b, -1.6, 53.3, -1.4, 53.5);
    assert_int_equal(fp_builder_add_footprint(b, "E99000002", QUOTES), FP_OK);
    test_add_rect(b, -1.4, 53.3, -1.2, 53.5);
    return test_build(ctx, b, NULL);
}

static fp_layer *fixture_region(fp_ctx *ctx)
{
    fp_builder *b;
    assert_int_equal(fp_builder_new(ctx, &b), FP_OK);
    assert_int_equal(fp_builder_add_footprint(b, "E40000099", "The North"), FP_OK);
    test_add_rect(b, -2, 53, -1, 54);
    return test_build(ctx, b, NULL);
}

typedef struct fixture {
    fp_catalogue *cat;
    fp_layer *boards, *region;
    src s;
} fixture;

static void fixture_open(fp_ctx *ctx, fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    assert_int_equal(fp_catalogue_parse(ctx, FIXTURE_CAT, strlen(FIXTURE_CAT), "fixture", &fx->cat),
                     FP_OK);
    fx->boards = fixture_boards(ctx);
    fx->region = fixture_region(ctx);
    fx->s.cat = fx->cat;
    fx->s.fixture_ed[0] = "evil2023";
    fx->s.fixture[0] = fx->boards;
    fx->s.fixture_ed[1] = "region2024";
    fx->s.fixture[1] = fx->region;
}

static void fixture_close(fixture *fx)
{
    fp_layer_free(fx->boards);
    fp_layer_free(fx->region);
    fp_catalogue_free(fx->cat);
}

/* ---- tests: real boundaries ---- */

static void test_export_geojson_round_trip(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    const char *out = path_of("icb2023.geojson");
    fp_export_opts o;
    fp_export_opts_init(&o);
    o.today = "2026-11-24";
    export_ok(ctx, gcat, &real_src, "icb2023", out, &o, NULL);
    const fp_layer *src_layer;
    assert_int_equal(source(&real_src, ctx, fp_catalogue_find(gcat, "icb2023"), &src_layer), FP_OK);
    fp_layer *back = reopen(ctx, out);
    assert_same_footprints(src_layer, back);
    assert_int_equal(fp_layer_find(back, 53.381, -1.470), fp_layer_find_code(back, "E54000061"));
    fp_layer_free(back);
    row r = read_row(out, "E54000061");
    assert_int_equal(r.features, 42);
    assert_int_equal(r.invalid, 0);
    assert_string_equal(r.f[F_NAME], "NHS South Yorkshire Integrated Care Board");
    assert_string_equal(r.f[F_ODS], "QF7");
    assert_string_equal(r.f[F_LEVEL], "icb");
    assert_string_equal(r.f[F_EDITION], "icb2023");
    assert_string_equal(r.f[F_RCODE], "E40000012");
    assert_string_equal(r.f[F_RNAME], "North East and Yorkshire");
    assert_true(r.null[F_SCODE] && r.null[F_SNAME]); /* a system has none above it */
    assert_string_equal(r.f[F_FROM], "2023-04-01");
    assert_string_equal(r.f[F_TO], "2026-03-31");
    /* RFC 7946: no "crs"; the attribution as a member of the collection. */
    char *text = slurp(out, NULL);
    assert_null(strstr(text, "\"crs\""));
    assert_non_null(strstr(text, "\"attribution\": \"Source: Office for National Statistics "
                                 "licensed under the Open Government Licence v.3.0"));
    free(text);
    assert_int_equal(count_entries(root), 1); /* no temporaries left */
    unlink(out);
    test_ctx_done(ctx);
}

/* Places, sub-ICB locations: their system by where they lie; regions
 * through it; each footprint's own dates. */
static void test_export_facts_of_lower_tiers(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_export_opts o;
    fp_export_opts_init(&o);
    o.today = "2026-11-24";
    const char *out = path_of("sicbl.geojson");
    export_ok(ctx, gcat, &real_src, "sicbl2023", out, &o, NULL);
    row r = read_row(out, "E38000146");
    assert_string_equal(r.f[F_NAME], "NHS South Yorkshire ICB - 03N");
    assert_string_equal(r.f[F_SCODE], "E54000061");
    assert_string_equal(r.f[F_SNAME], "NHS South Yorkshire Integrated Care Board");
    assert_string_equal(r.f[F_RCODE], "E40000012");
    assert_true(r.null[F_ODS]);
    unlink(out);

    out = path_of("icp.geojson");
    export_ok(ctx, gcat, &real_src, "icp", out, &o, NULL);
    r = read_row(out, "E54000009-SHEFFIELD");
    assert_string_equal(r.f[F_NAME], "Sheffield");
    assert_string_equal(r.f[F_SCODE], "E54000009");
    assert_non_null(strstr(r.f[F_SNAME], "South Yorkshire"));
    assert_string_equal(r.f[F_FROM], "2017-02-01");
    assert_string_equal(r.f[F_TO], "2022-06-30");
    assert_false(r.null[F_RCODE]);
    size_t all = r.features;
    unlink(out);

    /* On a date: only the footprints valid then (the South Yorkshire
     * places had ended; the North East's had not). */
    o.date = "2024-01-01";
    export_ok(ctx, gcat, &real_src, "icp", out, &o, NULL);
    r = read_row(out, "E54000050-NORTH");
    assert_true(r.features > 0 && r.features < all);
    fp_layer *back = reopen(ctx, out);
    assert_int_equal(fp_layer_find_code(back, "E54000009-SHEFFIELD"), -1);
    fp_layer_free(back);
    unlink(out);
    test_ctx_done(ctx);
}

static void test_export_formats(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    static const struct {
        const char *name, *format, *open;
    } cases[] = {
        {"icb.gpkg", NULL, "icb.gpkg"},
        {"icb.fgb", NULL, "icb.fgb"},
        {"icb.shp", NULL, "icb.shp"},
        {"icb-shapefiles", "ESRI Shapefile", "icb-shapefiles/icb2023.shp"},
        {"icb.data", "geojson", "icb.data"},
    };
    const fp_layer *ref;
    assert_int_equal(source(&real_src, ctx, fp_catalogue_find(gcat, "icb2023"), &ref), FP_OK);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        fp_export_opts o;
        fp_export_opts_init(&o);
        o.format = cases[k].format;
        o.simplify.tolerance_m = 200;
        o.simplify.precision = 5;
        const char *out = path_of(cases[k].name);
        export_ok(ctx, gcat, &real_src, "icb2023", out, &o, NULL);
        fp_layer *back = reopen(ctx, path_of(cases[k].open));
        assert_same_footprints(ref, back);
        assert_int_equal(fp_layer_find(back, 53.381, -1.470), fp_layer_find_code(back, "E54000061"));
        fp_layer_free(back);
        row r = read_row(path_of(cases[k].open), "E54000061");
        assert_int_equal(r.invalid, 0);
        assert_string_equal(r.f[F_ODS], "QF7");
        if (strstr(cases[k].open, ".shp")) {
            /* Shapefile names: ten characters. */
            GDALDatasetH ds = GDALOpenEx(path_of(cases[k].open), GDAL_OF_VECTOR, NULL, NULL, NULL);
            OGRFeatureDefnH d = OGR_L_GetLayerDefn(GDALDatasetGetLayer(ds, 0));
            assert_true(OGR_FD_GetFieldIndex(d, "regioncode") >= 0);
            assert_true(OGR_FD_GetFieldIndex(d, "attributn") >= 0);
            GDALClose(ds);
        } else if (strstr(cases[k].open, ".data") == NULL) {
            assert_non_null(strstr(r.f[F_ATTR], "Open Government Licence"));
        }
    }
    /* Written again over itself: replaced, nothing else beside it. */
    fp_export_opts o;
    fp_export_opts_init(&o);
    o.format = "ESRI Shapefile";
    export_ok(ctx, gcat, &real_src, "icb2023", path_of("icb-shapefiles"), &o, NULL);
    export_ok(ctx, gcat, &real_src, "icb2023", path_of("icb.shp"), NULL, NULL);
    int n = count_entries(root);
    /* icb.gpkg, icb.fgb, icb.data, the folder, icb.shp .shx .dbf .prj .cpg */
    assert_int_equal(n, 9);
    test_rm_tree(root);
    assert_int_equal(mkdir(root, 0755), 0);
    test_ctx_done(ctx);
}

/* England's ICBs at a web tolerance: well under a megabyte, seamless
 * (checked in test_topo), valid, smaller than the stored geometry. */
static void test_export_web_size(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_export_opts o;
    fp_export_opts_init(&o);
    const char *full = path_of("full.geojson"), *web = path_of("web.geojson");
    export_ok(ctx, gcat, &real_src, "icb2023", full, &o, NULL);
    o.simplify.tolerance_m = 100;
    o.simplify.precision = 5;
    fp_simplify_stats st;
    export_ok(ctx, gcat, &real_src, "icb2023", web, &o, &st);
    struct stat a, b;
    assert_int_equal(stat(full, &a), 0);
    assert_int_equal(stat(web, &b), 0);
    assert_true(b.st_size < 1000000);
    assert_true(b.st_size < a.st_size * 3 / 4);
    assert_true(st.vertices_out < st.vertices_in);
    row r = read_row(web, "E54000061");
    assert_int_equal(r.invalid, 0);
    unlink(full);
    unlink(web);
    test_ctx_done(ctx);
}

/* ---- tests: fixtures ---- */

/* Names are data: they come back byte for byte, whatever they hold. */
static void test_export_names_verbatim(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fixture fx;
    fixture_open(ctx, &fx);
    const char *out = path_of("evil.geojson");
    export_ok(ctx, fx.cat, &fx.s, "evil2023", out, NULL, NULL);
    fp_layer *back = reopen(ctx, out);
    assert_same_footprints(fx.boards, back);
    assert_string_equal(fp_layer_name(back, 0), EVIL);
    assert_string_equal(fp_layer_name(back, 1), QUOTES);
    fp_layer_free(back);
    row r = read_row(out, "E99000001");
    assert_string_equal(r.f[F_RCODE], "E40000099"); /* by the region polygons */
    unlink(out);
    out = path_of("evil.gpkg");
    export_ok(ctx, fx.cat, &fx.s, "evil2023", out, NULL, NULL);
    back = reopen(ctx, out);
    assert_string_equal(fp_layer_name(back, 0), EVIL);
    fp_layer_free(back);
    unlink(out);
    fixture_close(&fx);
    test_ctx_done(ctx);
}

static void expect_eio(fp_ctx *ctx, fixture *fx, const char *out)
{
    assert_int_equal(fp_export(ctx, fx->cat, "evil2023", source, &fx->s, out, NULL, NULL), FP_EIO);
    if (!strstr(fp_ctx_errmsg(ctx), out))
        fail_msg("'%s' does not name %s", fp_ctx_errmsg(ctx), out);
}

/* Output that cannot be written: FP_EIO naming it, nothing written; an
 * existing file survives every failure whole. */
static void test_export_unwritable_output(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fixture fx;
    fixture_open(ctx, &fx);
    expect_eio(ctx, &fx, path_of("nodir/x.geojson"));
    assert_int_equal(count_entries(root), 0);
    write_text(path_of("plain"), "x");
    expect_eio(ctx, &fx, path_of("plain/x.geojson")); /* as root too */
    expect_eio(ctx, &fx, path_of("plain/x.shp"));
    assert_int_equal(count_entries(root), 1);
    if (geteuid() != 0) {
        assert_int_equal(mkdir(path_of("ro"), 0555), 0);
        expect_eio(ctx, &fx, path_of("ro/x.geojson"));
        assert_int_equal(count_entries(path_of("ro")), 0);
        rmdir(path_of("ro"));
    }
    /* Failing anywhere (out of memory at every step in turn) leaves the
     * old file as it was and no temporary beside it. */
    const char *keep = path_of("keep.geojson");
    write_text(keep, "old");
    fp_export_opts o;
    fp_export_opts_init(&o);
    o.simplify.tolerance_m = 1000;
    int ok = 0;
    for (long n = 0; n < 20000 && !ok; n++) {
        test_alloc_fail_after(n);
        int rc = fp_export(ctx, fx.cat, "evil2023", source, &fx.s, keep, &o, NULL);
        test_alloc_fail_after(-1);
        if (rc == FP_OK) {
            ok = 1;
            break;
        }
        assert_int_equal(rc, FP_ENOMEM);
        char *t = slurp(keep, NULL);
        assert_string_equal(t, "old");
        free(t);
        assert_int_equal(count_entries(root), 2);
    }
    assert_true(ok);
    fp_layer *back = reopen(ctx, keep);
    assert_int_equal(fp_layer_count(back), 2);
    fp_layer_free(back);
    assert_int_equal(count_entries(root), 2);
    unlink(keep);
    unlink(path_of("plain"));
    fixture_close(&fx);
    test_ctx_done(ctx);
}

static void test_export_bad_requests(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fixture fx;
    fixture_open(ctx, &fx);
    fp_export_opts o;
    fp_export_opts_init(&o);
    o.format = "NoSuchFormat";
    assert_int_equal(fp_export(ctx, fx.cat, "evil2023", source, &fx.s, path_of("x.geojson"), &o, NULL),
                     FP_EINVAL);
    assert_non_null(strstr(fp_ctx_errmsg(ctx), "NoSuchFormat"));
    assert_int_equal(fp_export(ctx, fx.cat, "evil2023", source, &fx.s, path_of("noext"), NULL, NULL),
                     FP_EINVAL);
    assert_non_null(strstr(fp_ctx_errmsg(ctx), "extension"));
    assert_int_equal(fp_export(ctx, fx.cat, "evil2023", source, &fx.s, path_of("x.nosuchext"), NULL, NULL),
                     FP_EINVAL);
    fp_export_opts_init(&o);
    o.date = "2020-01-01"; /* before the edition */
    assert_int_equal(fp_export(ctx, fx.cat, "evil2023", source, &fx.s, path_of("x.geojson"), &o, NULL),
                     FP_EINVAL);
    assert_non_null(strstr(fp_ctx_errmsg(ctx), "2020-01-01"));
    o.date = "2023-02-30";
    assert_int_equal(fp_export(ctx, fx.cat, "evil2023", source, &fx.s, path_of("x.geojson"), &o, NULL),
                     FP_EINVAL);
    assert_int_equal(fp_export(ctx, fx.cat, "nope", source, &fx.s, path_of("x.geojson"), NULL, NULL),
                     FP_ENOTFOUND);
    fp_export_opts_init(&o);
    o.simplify.tolerance_m = -5;
    assert_int_equal(fp_export(ctx, fx.cat, "evil2023", source, &fx.s, path_of("x.geojson"), &o, NULL),
                     FP_EINVAL);
    /* An edition via finer areas: codes and names, no geometry. */
    fp_layer via = *fx.boards;
    via.npts = 0;
    fx.s.fixture[0] = &via;
    assert_int_equal(fp_export(ctx, fx.cat, "evil2023", source, &fx.s, path_of("x.geojson"), NULL, NULL),
                     FP_EINVAL);
    assert_non_null(strstr(fp_ctx_errmsg(ctx), "no boundaries of its own"));
    assert_int_equal(count_entries(root), 0);
    fixture_close(&fx);
    test_ctx_done(ctx);
}

/* A folder of Shapefiles replaces only a folder of Shapefiles. */
static void test_export_shapefile_folder_keeps_other_files(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fixture fx;
    fixture_open(ctx, &fx);
    assert_int_equal(mkdir(path_of("mine"), 0755), 0);
    write_text(path_of("mine/notes.txt"), "keep me");
    fp_export_opts o;
    fp_export_opts_init(&o);
    o.format = "ESRI Shapefile";
    assert_int_equal(fp_export(ctx, fx.cat, "evil2023", source, &fx.s, path_of("mine"), &o, NULL),
                     FP_EIO);
    assert_non_null(strstr(fp_ctx_errmsg(ctx), "not replacing"));
    assert_int_equal(count_entries(path_of("mine")), 1);
    assert_int_equal(count_entries(root), 1);
    test_rm_tree(path_of("mine"));
    fixture_close(&fx);
    test_ctx_done(ctx);
}

/* ---- the web map ---- */

/* Stand-ins for the page's files and the vendored Leaflet. */
static const char *fake_assets(void)
{
    static char a[512];
    snprintf(a, sizeof a, "%s", path_of("assets"));
    mkdir(a, 0755);
    mkdir(path_of("assets/leaflet"), 0755);
    mkdir(path_of("assets/leaflet/images"), 0755);
    write_text(path_of("assets/index.html"), "<!DOCTYPE html>");
    write_text(path_of("assets/footprint.js"), "/* page */");
    write_text(path_of("assets/footprint.css"), "/* style */");
    write_text(path_of("assets/leaflet/leaflet.js"), "/* leaflet */");
    write_text(path_of("assets/leaflet/leaflet.css"), "/* leaflet css */");
    write_text(path_of("assets/leaflet/images/layers.png"), "png");
    return a;
}

static void test_webmap_writes_folder(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fixture fx;
    fixture_open(ctx, &fx);
    fp_webmap_opts o;
    fp_webmap_opts_init(&o);
    o.assets = fake_assets();
    o.today = "2026-11-24";
    o.title = "Test </script> map";
    const char *dir = path_of("map");
    if (fp_webmap_write(ctx, fx.cat, source, &fx.s, dir, &o)) fail_msg("%s", fp_ctx_errmsg(ctx));
    static const char *const files[] = {"index.html", "footprint.js", "footprint.css",
                                        "leaflet/leaflet.js", "leaflet/leaflet.css",
                                        "leaflet/images/layers.png", "data.js", ".footprint-map",
                                        "layers/0.js", "layers/1.js"};
    for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, files[k]);
        if (access(p, R_OK) != 0) fail_msg("%s missing", p);
    }
    char *data = slurp(path_of("map/data.js"), NULL);
    assert_non_null(strstr(data, "window.FOOTPRINT_MAP = {"));
    /* Two views (boards, regions), the boards' chain has the region. */
    assert_non_null(strstr(data, "{\"edition\":\"evil2023\""));
    assert_non_null(strstr(data, "\"tiers\":{\"region\":\"region2024\",\"system\":\"evil2023\"}"));
    assert_non_null(strstr(data, "\"day\":\"2026-11-24\""));
    assert_non_null(strstr(data, "\"file\":\"layers/1.js\""));
    assert_non_null(strstr(data, "Test \\u003c/script\\u003e map")); /* no raw markup */
    free(data);
    /* The layer: a JSON string for JSON.parse, the names intact in it. */
    char *layer = slurp(path_of("map/layers/1.js"), NULL); /* 0: the regions */
    assert_int_equal(strncmp(layer, "FOOTPRINT_LAYER(\"evil2023\"", 26), 0);
    assert_non_null(strstr(layer, ", JSON.parse('{"));
    assert_non_null(strstr(layer, EVIL));
    assert_non_null(strstr(layer, "'apostrophe\\'")); /* quotes escaped for the string */
    assert_true(strchr(layer, '\n') == layer + strlen(layer) - 1); /* one line */
    free(layer);
    /* Written again: the old map is replaced, nothing left beside it. */
    if (fp_webmap_write(ctx, fx.cat, source, &fx.s, dir, &o)) fail_msg("%s", fp_ctx_errmsg(ctx));
    assert_int_equal(count_entries(root), 2); /* assets, map */
    test_rm_tree(dir);
    test_rm_tree(path_of("assets"));
    fixture_close(&fx);
    test_ctx_done(ctx);
}

static void test_webmap_refuses_and_fails_cleanly(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fixture fx;
    fixture_open(ctx, &fx);
    fp_webmap_opts o;
    fp_webmap_opts_init(&o);
    o.assets = fake_assets();
    /* Not a map folder: left alone. */
    assert_int_equal(mkdir(path_of("docs"), 0755), 0);
    write_text(path_of("docs/report.txt"), "keep me");
    assert_int_equal(fp_webmap_write(ctx, fx.cat, source, &fx.s, path_of("docs"), &o), FP_EIO);
    assert_non_null(strstr(fp_ctx_errmsg(ctx), path_of("docs")));
    assert_int_equal(count_entries(path_of("docs")), 1);
    /* Nowhere to write. */
    write_text(path_of("plain"), "x");
    assert_int_equal(fp_webmap_write(ctx, fx.cat, source, &fx.s, path_of("plain/map"), &o), FP_EIO);
    assert_int_equal(fp_webmap_write(ctx, fx.cat, source, &fx.s, path_of("no/map"), &o), FP_EIO);
    assert_int_equal(count_entries(root), 3); /* assets, docs, plain */
    /* Unknown view; a view of an edition without boundaries. */
    const char *views[] = {"nope", NULL};
    o.views = views;
    assert_int_equal(fp_webmap_write(ctx, fx.cat, source, &fx.s, path_of("m"), &o), FP_ENOTFOUND);
    fp_layer via = *fx.boards;
    via.npts = 0;
    fx.s.fixture[0] = &via;
    views[0] = "evil2023";
    assert_int_equal(fp_webmap_write(ctx, fx.cat, source, &fx.s, path_of("m"), &o), FP_EINVAL);
    assert_non_null(strstr(fp_ctx_errmsg(ctx), "no boundaries"));
    fx.s.fixture[0] = fx.boards;
    /* No Leaflet among the assets. */
    unlink(path_of("assets/leaflet/leaflet.js"));
    assert_int_equal(fp_webmap_write(ctx, fx.cat, source, &fx.s, path_of("m"), &o), FP_EIO);
    assert_non_null(strstr(fp_ctx_errmsg(ctx), "leaflet.js"));
    assert_int_equal(count_entries(root), 3);
    test_rm_tree(path_of("docs"));
    test_rm_tree(path_of("assets"));
    unlink(path_of("plain"));
    fixture_close(&fx);
    test_ctx_done(ctx);
}

static int setup(void **state)
{
    (void)state;
    GDALAllRegister();
    snprintf(root, sizeof root, "%s/fp-export.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root)) return -1;
    if (fp_ctx_new(&gctx)) return -1;
    gcat = test_catalogue(gctx);
    real_src.cat = gcat;
    return gcat ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < real_src.n; i++) fp_layer_free(real_src.c[i].L);
    fp_catalogue_free(gcat);
    fp_ctx_free(gctx);
    test_rm_tree(root);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_geojson_round_trip),
        cmocka_unit_test(test_export_facts_of_lower_tiers),
        cmocka_unit_test(test_export_formats),
        cmocka_unit_test(test_export_web_size),
        cmocka_unit_test(test_export_names_verbatim),
        cmocka_unit_test(test_export_unwritable_output),
        cmocka_unit_test(test_export_bad_requests),
        cmocka_unit_test(test_export_shapefile_folder_keeps_other_files),
        cmocka_unit_test(test_webmap_writes_folder),
        cmocka_unit_test(test_webmap_refuses_and_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
