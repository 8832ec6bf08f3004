/* Unit tests for lib/src/render*.c: maps as PNG, SVG and PDF.
 *
 * The files are read back (PNG through cairo, SVG through GDAL's XML
 * parser), neighbours are checked against an independent adjacency (GEOS
 * through OGR on the ONS file), and bad options must fail cleanly leaving
 * no file behind.  The group setup opens icb2023, stp2017 and the places
 * (icp) from the ONS mirror with the C library's allocator; the maps are
 * made through the leak-counting one. */
#include "support.h"

#include <cairo.h>
#include <cpl_minixml.h>
#include <dirent.h>
#include <gdal.h>
#include <math.h>
#include <ogr_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "render_private.h"

/* ---- shared state ---- */

static char root[256];
static fp_ctx *gctx;
static fp_catalogue *gcat;
static fp_layer *g_icb, *g_stp, *g_icp;

static int group_setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "%s/fp-render.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root)) return -1;
    if (fp_ctx_new(&gctx)) return -1;
    gcat = test_catalogue(gctx);
    const char *d = test_data_dir();
    if (!d) return 0; /* the data tests skip */
    if (fp_catalogue_open(gctx, gcat, "icb2023", d, NULL, &g_icb) ||
        fp_catalogue_open(gctx, gcat, "stp2017", d, NULL, &g_stp) ||
        fp_catalogue_open(gctx, gcat, "icp", d, NULL, &g_icp)) {
        fprintf(stderr, "setup: %s\n", fp_ctx_errmsg(gctx));
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    fp_layer_free(g_icb);
    fp_layer_free(g_stp);
    fp_layer_free(g_icp);
    fp_catalogue_free(gcat);
    fp_ctx_free(gctx);
    test_rm_tree(root);
    return 0;
}

/* ---- helpers ---- */

static const char *tmp_path(const char *name)
{
    static char bufs[16][512];
    static int slot;
    char *b = bufs[slot++ & 15];
    snprintf(b, sizeof bufs[0], "%s/%s", root, name);
    return b;
}

static const fp_edition *ed(const char *id)
{
    const fp_edition *e = fp_catalogue_find(gcat, id);
    assert_non_null(e);
    return e;
}

/* A map of every footprint of L (edition id), fails the test on error. */
static fp_map *england(fp_ctx *ctx, const fp_layer *L, const char *id, double w, double h,
                       int labels, int projection)
{
    test_require_data();
    fp_map_opts o;
    fp_map_opts_init(&o);
    o.width = w;
    o.height = h;
    o.labels = labels;
    o.projection = projection;
    o.title = "Test map";
    fp_map *m = NULL;
    int rc = fp_map_new(ctx, &o, &m);
    if (rc) fail_msg("fp_map_new: %s", fp_ctx_errmsg(ctx));
    if (fp_map_add_layer(m, L, ed(id), NULL)) fail_msg("add: %s", fp_map_errmsg(m));
    return m;
}

static void write_ok(fp_map *m, const char *path)
{
    if (fp_map_write(m, path)) fail_msg("write %s: %s", path, fp_map_errmsg(m));
    assert_int_equal(fp_map_status(m), FP_OK);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Entries of a directory other than . and .. */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static const char *find_bytes(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(hay + i, needle, k)) return hay + i;
    return NULL;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len) *len = (size_t)n;
    return buf;
}

/* The pixel of a PNG read back through cairo, 0xRRGGBB. */
static uint32_t pixel(cairo_surface_t *s, double x, double y)
{
    int ix = (int)floor(x), iy = (int)floor(y);
    assert_true(ix >= 0 && iy >= 0 && ix < cairo_image_surface_get_width(s) &&
                iy < cairo_image_surface_get_height(s));
    const unsigned char *d = cairo_image_surface_get_data(s);
    const uint32_t *row = (const uint32_t *)(const void *)(d + (size_t)iy *
                                                           (size_t)cairo_image_surface_get_stride(s));
    return row[ix] & 0xFFFFFF;
}

/* A dot of this colour covers (x, y) or a pixel next to it. */
static int near_pixel(cairo_surface_t *s, double x, double y, uint32_t want)
{
    for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++)
            if (pixel(s, x + dx, y + dy) == want) return 1;
    return 0;
}

static cairo_surface_t *read_png(const char *path)
{
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    if (cairo_surface_status(s))
        fail_msg("%s: %s", path, cairo_status_to_string(cairo_surface_status(s)));
    cairo_surface_flush(s);
    return s;
}

static void find_elements(CPLXMLNode *n, const char *name, int *count)
{
    for (; n; n = n->psNext) {
        if (n->eType == CXT_Element && !strcmp(n->pszValue, name)) ++*count;
        find_elements(n->psChild, name, count);
    }
}

/* ---- PNG, SVG, PDF ---- */

static void test_render_png_size(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_map *m = england(ctx, g_icb, "icb2023", 700, 500, 1, FP_MAP_BNG);
    const char *p = tmp_path("size.png");
    write_ok(m, p);
    cairo_surface_t *s = read_png(p);
    assert_int_equal(cairo_image_surface_get_width(s), 700);
    assert_int_equal(cairo_image_surface_get_height(s), 500);
    /* Not blank: the map has colour in it. */
    assert_int_not_equal(pixel(s, 350, 250) & 0xFFFFFF, 0);
    cairo_surface_destroy(s);
    /* Height from the extent: England is taller than wide. */
    fp_map_free(m);
    m = england(ctx, g_icb, "icb2023", 640, 0, 0, FP_MAP_BNG);
    write_ok(m, p);
    s = read_png(p);
    assert_int_equal(cairo_image_surface_get_width(s), 640);
    assert_true(cairo_image_surface_get_height(s) > 640);
    cairo_surface_destroy(s);
    /* The attribution travels in the PNG too (iTXt). */
    size_t n;
    char *bytes = slurp(p, &n);
    assert_non_null(find_bytes(bytes, n, "iTXtCopyright"));
    assert_non_null(find_bytes(bytes, n, "Open Government Licence"));
    free(bytes);
    fp_map_free(m);
    test_ctx_done(ctx);
}

static void test_render_svg_wellformed_vector_attributed(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_map *m = england(ctx, g_icb, "icb2023", 2000, 0, 1, FP_MAP_BNG);
    const char *p = tmp_path("england.svg");
    write_ok(m, p);
    size_t n;
    char *svg = slurp(p, &n);
    /* Generalised to the page: an England SVG at 2000 pt stays small. */
    assert_true(n < 1500000);
    CPLXMLNode *doc = CPLParseXMLString(svg);
    if (!doc) fail_msg("%s: not well-formed XML", p);
    CPLXMLNode *root_el = CPLGetXMLNode(doc, "=svg");
    assert_non_null(root_el);
    int paths = 0, images = 0;
    find_elements(root_el, "path", &paths);
    find_elements(root_el, "image", &images);
    assert_true(paths > 42);
    assert_int_equal(images, 0); /* vector stays vector */
    const char *desc = CPLGetXMLValue(root_el, "desc", "");
    assert_non_null(strstr(desc, ed("icb2023")->attribution));
    assert_string_equal(CPLGetXMLValue(root_el, "title", ""), "Test map");
    CPLDestroyXMLNode(doc);
    free(svg);
    fp_map_free(m);
    test_ctx_done(ctx);
}

static void test_render_pdf_vector(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_map *m = england(ctx, g_stp, "stp2017", 0, 0, 1, FP_MAP_BNG);
    const char *p = tmp_path("england.pdf");
    write_ok(m, p);
    size_t n;
    char *pdf = slurp(p, &n);
    assert_true(n > 1000 && !memcmp(pdf, "%PDF-", 5));
    assert_null(find_bytes(pdf, n, "/Image"));
    assert_non_null(find_bytes(pdf, n, "%%EOF"));
    free(pdf);
    fp_map_free(m);
    test_ctx_done(ctx);
}

/* ---- cartography ---- */

/* Every pair of footprints whose intersection GEOS finds to be a line (a
 * shared boundary, not a point) gets different fills. */
static void test_render_adjacent_colours_differ(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_map *m = england(ctx, g_icb, "icb2023", 1200, 0, 0, FP_MAP_BNG);
    write_ok(m, tmp_path("adj.png"));
    GDALAllRegister();
    GDALDatasetH ds = GDALOpenEx(test_data_path("boundaries/icb_2023_bsc.geojson"),
                                 GDAL_OF_VECTOR | GDAL_OF_READONLY, NULL, NULL, NULL);
    assert_non_null(ds);
    OGRLayerH lyr = GDALDatasetGetLayer(ds, 0);
    OGRGeometryH geom[64];
    char code[64][16];
    int n = 0;
    OGRFeatureH f;
    OGR_L_ResetReading(lyr);
    while ((f = OGR_L_GetNextFeature(lyr)) != NULL && n < 64) {
        int fi = OGR_F_GetFieldIndex(f, "ICB23CD");
        snprintf(code[n], sizeof code[n], "%s", OGR_F_GetFieldAsString(f, fi));
        geom[n++] = OGR_G_Clone(OGR_F_GetGeometryRef(f));
        OGR_F_Destroy(f);
    }
    assert_int_equal(n, 42);
    int pairs = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            if (!OGR_G_Intersects(geom[i], geom[j])) continue;
            OGRGeometryH x = OGR_G_Intersection(geom[i], geom[j]);
            int line = x && !OGR_G_IsEmpty(x) && OGR_G_GetDimension(x) >= 1;
            OGR_G_DestroyGeometry(x);
            if (!line) continue;
            pairs++;
            long a = fp_map_fill_of(m, code[i]), b = fp_map_fill_of(m, code[j]);
            assert_true(a >= 0 && b >= 0);
            if (a == b) fail_msg("neighbours %s and %s share the fill %06lx", code[i], code[j], a);
        }
    assert_true(pairs >= 80); /* England's ICBs have about a hundred borders */
    for (int i = 0; i < n; i++) OGR_G_DestroyGeometry(geom[i]);
    GDALClose(ds);
    fp_map_free(m);
    test_ctx_done(ctx);
}

static void test_render_labels_do_not_overlap(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    for (int inset = 0; inset < 2; inset++) {
        fp_map_opts o;
        fp_map_opts_init(&o);
        o.width = 1400;
        o.london_inset = inset;
        fp_map *m = NULL;
        test_require_data();
        assert_int_equal(fp_map_new(ctx, &o, &m), FP_OK);
        assert_int_equal(fp_map_add_layer(m, g_icb, ed("icb2023"), NULL), FP_OK);
        write_ok(m, tmp_path("labels.png"));
        size_t n = fp_map_label_count(m), leaders = 0, in_inset = 0;
        /* Every footprint is labelled or reported dropped. */
        assert_int_equal(n + fp_map_dropped_count(m), 42);
        assert_true(n >= 38);
        for (size_t i = 0; i < n; i++) {
            const fp_map_label *a = fp_map_label_get(m, i);
            assert_true(a->w > 0 && a->h > 0);
            assert_true(a->x >= 0 && a->y >= 0 && a->x + a->w <= 1400);
            assert_true(fp_layer_find_code(g_icb, a->code) >= 0);
            leaders += a->leader;
            in_inset += a->inset;
            if (!a->leader) { /* at the pole: centred on its anchor */
                assert_true(fabs(a->x + a->w / 2 - a->ax) < 1e-6);
                assert_true(fabs(a->y + a->h / 2 - a->ay) < 1e-6);
            }
            for (size_t j = i + 1; j < n; j++) {
                const fp_map_label *b = fp_map_label_get(m, j);
                int hit = a->x < b->x + b->w && b->x < a->x + a->w && a->y < b->y + b->h &&
                          b->y < a->y + a->h;
                if (hit) fail_msg("labels '%s' and '%s' overlap", a->text, b->text);
            }
        }
        if (inset) assert_true(in_inset >= 5); /* London's five ICBs */
        else assert_true(leaders >= 1);        /* London's cannot fit */
        assert_null(fp_map_label_get(m, n));
        fp_map_free(m);
    }
    test_ctx_done(ctx);
}

/* The pixel at Sheffield (Town Hall) has South Yorkshire's fill, and one
 * at Derby Derbyshire's, in both projections. */
static void test_render_sheffield_pixel(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    long sy = fp_layer_find(g_icb ? g_icb : NULL, 53.3811, -1.4701);
    test_require_data();
    assert_true(sy >= 0);
    assert_string_equal(fp_layer_name(g_icb, (size_t)sy),
                        "NHS South Yorkshire Integrated Care Board");
    long dy = fp_layer_find(g_icb, 52.9225, -1.4746);
    assert_true(dy >= 0 && dy != sy);
    for (int proj = 0; proj < 2; proj++) {
        fp_map *m = england(ctx, g_icb, "icb2023", 900, 0, 0, proj);
        const char *p = tmp_path("sheffield.png");
        write_ok(m, p);
        double x, y;
        assert_int_equal(fp_map_locate(m, 53.3811, -1.4701, &x, &y), FP_OK);
        cairo_surface_t *s = read_png(p);
        long fill = fp_map_fill_of(m, fp_layer_code(g_icb, (size_t)sy));
        assert_true(fill >= 0);
        assert_int_equal(pixel(s, x, y), (uint32_t)fill);
        assert_int_equal(fp_map_locate(m, 52.9225, -1.4746, &x, &y), FP_OK);
        long fd = fp_map_fill_of(m, fp_layer_code(g_icb, (size_t)dy));
        assert_int_equal(pixel(s, x, y), (uint32_t)fd);
        assert_int_not_equal(fill, fd);
        cairo_surface_destroy(s);
        fp_map_free(m);
    }
    test_ctx_done(ctx);
}

/* South Yorkshire and Bassetlaw in 2019: the STP around its five places. */
static void test_render_focus_members(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    test_require_data();
    long syb = fp_layer_find_code(g_stp, "E54000009");
    assert_true(syb >= 0);
    size_t idx[32], n = 0;
    assert_int_equal(fp_map_members_within(ctx, g_stp, (size_t)syb, g_icp, idx, 32, &n), FP_OK);
    assert_int_equal(n, 5);
    const char *codes[5];
    int bassetlaw = 0;
    for (size_t i = 0; i < n; i++) {
        codes[i] = fp_layer_code(g_icp, idx[i]);
        assert_memory_equal(codes[i], "E54000009-", 10);
        bassetlaw |= !strcmp(codes[i], "E54000009-BASSETLAW");
    }
    assert_true(bassetlaw);
    fp_map_opts o;
    fp_map_opts_init(&o);
    o.width = 800;
    fp_map *m = NULL;
    assert_int_equal(fp_map_new(ctx, &o, &m), FP_OK);
    fp_map_layer_opts lo;
    fp_map_layer_opts_init(&lo);
    lo.role = FP_MAP_CONTEXT;
    assert_int_equal(fp_map_add_layer(m, g_stp, ed("stp2017"), &lo), FP_OK);
    fp_map_layer_opts_init(&lo);
    lo.codes = codes;
    lo.ncodes = n;
    assert_int_equal(fp_map_add_layer(m, g_icp, ed("icp"), &lo), FP_OK);
    const char *self[] = {"E54000009"};
    fp_map_layer_opts_init(&lo);
    lo.role = FP_MAP_OUTLINE;
    lo.codes = self;
    lo.ncodes = 1;
    assert_int_equal(fp_map_add_layer(m, g_stp, ed("stp2017"), &lo), FP_OK);
    const char *p = tmp_path("syb.svg");
    write_ok(m, p);
    /* Every place labelled inside itself (before any neighbour's name);
     * both editions attributed. */
    assert_true(fp_map_label_count(m) >= 5);
    for (size_t i = 0; i < fp_map_label_count(m); i++) {
        const fp_map_label *L = fp_map_label_get(m, i);
        assert_int_equal(L->role, i < 5 ? FP_MAP_AREAS : FP_MAP_CONTEXT);
        assert_false(L->leader);
        if (i < 5) assert_memory_equal(L->code, "E54000009-", 10);
    }
    assert_int_equal(fp_map_dropped_count(m), 0);
    char *svg = slurp(p, NULL);
    assert_non_null(strstr(svg, ed("stp2017")->attribution));
    assert_non_null(strstr(svg, ed("icp")->attribution));
    free(svg);
    /* The places differ where they meet (Sheffield, Rotherham, ...). */
    assert_int_not_equal(fp_map_fill_of(m, "E54000009-SHEFFIELD"),
                         fp_map_fill_of(m, "E54000009-ROTHERHAM"));
    assert_int_equal(fp_map_fill_of(m, "E54000009"), -1); /* an outline */
    fp_map_free(m);
    test_ctx_done(ctx);
}

/* ---- choropleth ---- */

static void test_render_classes(void **state)
{
    (void)state;
    const fp_allocator a = test_alloc;
    double hi[RD_MAXCLASS];
    int made;
    const double v[] = {1, 2, 3, 10, 11, 12, 20, 21, 22};
    assert_int_equal(rd_classify(&a, v, 9, 3, FP_MAP_JENKS, hi, &made), FP_OK);
    assert_int_equal(made, 3);
    assert_true(hi[0] == 3 && hi[1] == 12 && hi[2] == 22);
    assert_int_equal(rd_classify(&a, v, 9, 3, FP_MAP_QUANTILE, hi, &made), FP_OK);
    assert_true(made == 3 && hi[0] == 3 && hi[1] == 12 && hi[2] == 22);
    const double e[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    assert_int_equal(rd_classify(&a, e, 11, 5, FP_MAP_EQUAL, hi, &made), FP_OK);
    assert_int_equal(made, 5);
    for (int c = 0; c < 5; c++) assert_true(fabs(hi[c] - 2 * (c + 1)) < 1e-12);
    /* Many equal values: fewer classes, never empty quantiles. */
    const double r[] = {5, 5, 5, 5, 5, 5, 9};
    assert_int_equal(rd_classify(&a, r, 7, 4, FP_MAP_QUANTILE, hi, &made), FP_OK);
    assert_true(made == 2 && hi[0] == 5 && hi[1] == 9);
    /* Jenks past the sampling threshold stays sorted and ends at the max. */
    static double big[5000];
    for (int i = 0; i < 5000; i++) big[i] = i < 2500 ? i * 0.001 : 100 + i;
    assert_int_equal(rd_classify(&a, big, 5000, 2, FP_MAP_JENKS, hi, &made), FP_OK);
    assert_true(made == 2 && hi[0] < 100 && hi[1] == big[4999]);
    char buf[64];
    rd_format_number(1234567.25, 1, buf, sizeof buf);
    assert_string_equal(buf, "1,234,567.2");
    rd_format_number(-999, 0, buf, sizeof buf);
    assert_string_equal(buf, "-999");
    rd_format_number(-0.0001, 2, buf, sizeof buf);
    assert_string_equal(buf, "0.00");
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_render_choropleth_no_data_hatched(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_map *m = england(ctx, g_icb, "icb2023", 800, 0, 0, FP_MAP_BNG);
    long sy = fp_layer_find(g_icb, 53.3811, -1.4701);
    long dy = fp_layer_find(g_icb, 52.9225, -1.4746);
    const char *v = tmp_path("values.csv");
    char text[512];
    snprintf(text, sizeof text, "name,code,count\nSheffield's,%s,10\r\nDerby's,%s,\n",
             fp_layer_code(g_icb, (size_t)sy), fp_layer_code(g_icb, (size_t)dy));
    write_text(v, text);
    assert_int_equal(fp_map_read_values(m, v, NULL, "count"), FP_OK);
    assert_int_equal(fp_map_set_classes(m, 3, FP_MAP_JENKS), FP_OK);
    const char *p = tmp_path("choro.png");
    write_ok(m, p);
    cairo_surface_t *s = read_png(p);
    double x, y;
    fp_map_locate(m, 53.3811, -1.4701, &x, &y);
    long fill = fp_map_fill_of(m, fp_layer_code(g_icb, (size_t)sy));
    assert_int_equal(pixel(s, x, y), (uint32_t)fill);
    /* No value (an empty cell), no row at all: pale and hatched. */
    long nd1 = fp_map_fill_of(m, fp_layer_code(g_icb, (size_t)dy));
    long nd2 = fp_map_fill_of(m, fp_layer_code(g_icb, 0));
    assert_int_equal(nd1, nd2);
    assert_int_not_equal(nd1, fill);
    cairo_surface_destroy(s);
    fp_map_free(m);
    test_ctx_done(ctx);
}

/* ---- points ---- */

static void test_render_points(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_map *m = england(ctx, g_icb, "icb2023", 800, 0, 0, FP_MAP_BNG);
    const char *c = tmp_path("points.csv");
    write_text(c, "pcds,lat,long,kind\nS1 2HH,53.3811,-1.4701,gp\nDE1 2FS,52.9225,-1.4746,"
                  "gp\nLS1 1UR,53.7997,-1.5492,hospital\n");
    assert_int_equal(fp_map_read_points(m, c, "kind"), FP_OK);
    const char *p = tmp_path("points.png");
    write_ok(m, p);
    cairo_surface_t *s = read_png(p);
    double x, y;
    fp_map_locate(m, 53.3811, -1.4701, &x, &y);
    assert_true(near_pixel(s, x, y, 0xE69F00)); /* the commonest: Okabe-Ito orange */
    fp_map_locate(m, 53.7997, -1.5492, &x, &y);
    assert_true(near_pixel(s, x, y, 0x56B4E9));
    cairo_surface_destroy(s);
    fp_map_free(m);
    /* By footprint, from easting/northing; a row without a point (as
     * locate keeps them) is skipped, half a point is an error. */
    m = england(ctx, g_icb, "icb2023", 800, 0, 0, FP_MAP_BNG);
    write_text(c, "id,easting,northing\n1,435000,387000\n2,,\n");
    assert_int_equal(fp_map_read_points(m, c, NULL), FP_OK);
    assert_int_equal(m->npt, 1);
    write_ok(m, p);
    fp_map_free(m);
    m = england(ctx, g_icb, "icb2023", 800, 0, 0, FP_MAP_BNG);
    write_text(c, "id,easting,northing\n1,435000,\n");
    assert_int_equal(fp_map_read_points(m, c, NULL), FP_EFORMAT);
    assert_non_null(strstr(fp_map_errmsg(m), "line 2"));
    fp_map_free(m);
    /* Bad files are errors naming the file and line. */
    m = england(ctx, g_icb, "icb2023", 800, 0, 0, FP_MAP_BNG);
    write_text(c, "lat,lon\n53.3,-1.4\nx,-1.4\n");
    assert_int_equal(fp_map_read_points(m, c, NULL), FP_EFORMAT);
    assert_non_null(strstr(fp_map_errmsg(m), "line 3"));
    assert_non_null(strstr(fp_ctx_errmsg(ctx), c));
    fp_map_free(m);
    m = england(ctx, g_icb, "icb2023", 800, 0, 0, FP_MAP_BNG);
    write_text(c, "a,b\n1,2\n");
    assert_int_equal(fp_map_read_points(m, c, NULL), FP_EFIELD);
    fp_map_free(m);
    test_ctx_done(ctx);
}

/* ---- bad options: clear errors, nothing left behind ---- */

static void test_render_bad_options(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_map *m = NULL;
    fp_map_opts o;
    /* Zero, negative, NaN and huge sizes. */
    const double bad[][2] = {{0, 100}, {-5, 0}, {NAN, 0}, {640, -1}, {50, 0}, {30000, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fp_map_opts_init(&o);
        o.width = bad[i][0];
        o.height = bad[i][1];
        assert_int_equal(fp_map_new(ctx, &o, &m), FP_EINVAL);
        assert_null(m);
        assert_non_null(strstr(fp_ctx_errmsg(ctx), "map size"));
    }
    fp_map_opts_init(&o);
    o.projection = 7;
    assert_int_equal(fp_map_new(ctx, &o, &m), FP_EINVAL);
    fp_map_free(NULL);
    assert_int_equal(fp_map_status(NULL), FP_EINVAL);

    test_require_data();
    /* An unknown code: named; the map keeps the error (sticky). */
    assert_int_equal(fp_map_new(ctx, NULL, &m), FP_OK);
    fp_map_layer_opts lo;
    fp_map_layer_opts_init(&lo);
    const char *codes[] = {"E54000050", "E54999999"};
    lo.codes = codes;
    lo.ncodes = 2;
    assert_int_equal(fp_map_add_layer(m, g_icb, ed("icb2023"), &lo), FP_ENOTFOUND);
    assert_non_null(strstr(fp_map_errmsg(m), "E54999999"));
    assert_int_equal(fp_map_add_layer(m, g_icb, ed("icb2023"), NULL), FP_ENOTFOUND);
    const char *p = tmp_path("sticky.png");
    assert_int_equal(fp_map_write(m, p), FP_ENOTFOUND);
    assert_int_equal(fp_ctx_errcode(ctx), FP_ENOTFOUND);
    assert_false(exists(p));
    fp_map_free(m);

    /* Unwritable places: a missing directory, a file as directory, a
     * directory as file, an unknown extension. */
    write_text(tmp_path("plain"), "x");
    const char *where[] = {"nodir/map.png", "plain/map.svg", ".", "map.gif", "map"};
    const int want[] = {FP_EIO, FP_EIO, FP_EIO, FP_EINVAL, FP_EINVAL};
    for (size_t i = 0; i < 5; i++) {
        int before = dir_entries(root);
        m = england(ctx, g_icb, "icb2023", 400, 0, 0, FP_MAP_BNG);
        const char *path = !strcmp(where[i], ".") ? root : tmp_path(where[i]);
        assert_int_equal(fp_map_write(m, path), want[i]);
        assert_non_null(strstr(fp_map_errmsg(m), path));
        assert_int_equal(dir_entries(root), before);
        fp_map_free(m);
    }

    /* Values: an unknown column, an unknown code, a repeated code, not a
     * number; each names what is wrong. */
    const char *v = tmp_path("bad.csv");
    struct {
        const char *text, *col;
        int rc;
        const char *says;
    } cases[] = {
        {"code,n\nE54000050,1\n", "count", FP_EFIELD, "no column 'count'"},
        {"code,n\nE54000050,1\nE54999999,2\n", "n", FP_ENOTFOUND, "line 3: code E54999999"},
        {"code,n\nE54000050,1\nE54000050,2\n", "n", FP_EFORMAT, "E54000050 has a value"},
        {"code,n\nE54000050,many\n", "n", FP_EFORMAT, "line 2: n 'many'"},
        {"code,n\n", "n", FP_EFORMAT, "no values"},
        {"code,n\nE54000050,\n", "n", FP_EFORMAT, "no footprint has a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_text(v, cases[i].text);
        m = england(ctx, g_icb, "icb2023", 400, 0, 0, FP_MAP_BNG);
        assert_int_equal(fp_map_read_values(m, v, NULL, cases[i].col), cases[i].rc);
        if (!strstr(fp_map_errmsg(m), cases[i].says))
            fail_msg("'%s' lacks '%s'", fp_map_errmsg(m), cases[i].says);
        const char *out = tmp_path("values.png");
        assert_int_equal(fp_map_write(m, out), cases[i].rc);
        assert_false(exists(out));
        fp_map_free(m);
    }
    assert_int_equal(fp_map_new(ctx, NULL, &m), FP_OK);
    assert_int_equal(fp_map_read_values(m, tmp_path("missing.csv"), NULL, "n"), FP_EIO);
    fp_map_free(m);
    assert_int_equal(fp_map_new(ctx, NULL, &m), FP_OK);
    assert_int_equal(fp_map_set_classes(m, 12, FP_MAP_QUANTILE), FP_EINVAL);
    fp_map_free(m);
    /* Nothing to draw. */
    assert_int_equal(fp_map_new(ctx, NULL, &m), FP_OK);
    assert_int_equal(fp_map_write(m, tmp_path("empty.png")), FP_EINVAL);
    fp_map_free(m);
    /* The London inset needs London on the map. */
    fp_map_opts_init(&o);
    o.london_inset = 1;
    assert_int_equal(fp_map_new(ctx, &o, &m), FP_OK);
    const char *nenc[] = {"E54000050"};
    fp_map_layer_opts_init(&lo);
    lo.codes = nenc;
    lo.ncodes = 1;
    assert_int_equal(fp_map_add_layer(m, g_icb, ed("icb2023"), &lo), FP_OK);
    assert_int_equal(fp_map_write(m, tmp_path("inset.png")), FP_EINVAL);
    assert_non_null(strstr(fp_map_errmsg(m), "London"));
    assert_false(exists(tmp_path("inset.png")));
    fp_map_free(m);
    test_ctx_done(ctx);
}

/* Out of memory at any allocation: a clean FP_ENOMEM, no leak, no file. */
static void test_render_out_of_memory(void **state)
{
    (void)state;
    test_require_data();
    const char *p = tmp_path("oom.svg");
    int failures = 0, before = dir_entries(root);
    for (long k = 0; k < 100000; k += k < 40 ? 1 : 11) {
        fp_ctx *ctx = test_ctx();
        fp_map *m = NULL;
        test_alloc_fail_after(k);
        int rc = fp_map_new(ctx, NULL, &m);
        if (!rc) rc = fp_map_add_layer(m, g_stp, ed("stp2017"), NULL);
        if (!rc) rc = fp_map_write(m, p);
        test_alloc_fail_after(-1);
        if (rc) {
            assert_int_equal(rc, FP_ENOMEM);
            assert_false(exists(p));
            failures++;
        } else {
            unlink(p);
        }
        fp_map_free(m);
        test_ctx_done(ctx);
        if (!rc) break; /* past the last allocation */
    }
    assert_true(failures > 40);
    assert_int_equal(dir_entries(root), before); /* no temporary left */
}

/* ---- geometry units (no data needed) ---- */

/* Neighbours share arcs: a long shared edge zig-zags slightly; generalised
 * both ways it must keep the same vertices, and the neighbours (not the
 * corner-touching square) must get different colours. */
static void test_render_shared_arcs_and_adjacency(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_builder *b;
    assert_int_equal(fp_builder_new(ctx, &b), FP_OK);
    /* A: x in [0, 1] with a wiggly east edge at x = 1; B east of it with
     * the same edge; C touching B only at a corner. */
    double A[2 * 64], B[2 * 64];
    size_t na = 0, nb = 0;
    A[na++] = 0, A[na++] = 50;
    for (int i = 0; i <= 20; i++) A[na++] = 1 + 0.005 * ((i * 7) % 5), A[na++] = 50 + i * 0.05;
    A[na++] = 0, A[na++] = 51;
    for (int i = 20; i >= 0; i--) B[nb++] = 1 + 0.005 * ((i * 7) % 5), B[nb++] = 50 + i * 0.05;
    B[nb++] = 2, B[nb++] = 50;
    B[nb++] = 2, B[nb++] = 51;
    assert_int_equal(fp_builder_add_footprint(b, "A", "Alpha"), FP_OK);
    assert_int_equal(fp_builder_add_ring(b, A, na / 2), FP_OK);
    assert_int_equal(fp_builder_add_footprint(b, "B", "Beta"), FP_OK);
    assert_int_equal(fp_builder_add_ring(b, B, nb / 2), FP_OK);
    assert_int_equal(fp_builder_add_footprint(b, "C", "Gamma"), FP_OK);
    test_add_rect(b, 2, 51, 3, 52);
    fp_layer *L = test_build(ctx, b, NULL);
    fp_map_opts o;
    fp_map_opts_init(&o);
    o.width = 300;
    fp_map *m = NULL;
    assert_int_equal(fp_map_new(ctx, &o, &m), FP_OK);
    assert_int_equal(fp_map_add_layer(m, L, NULL, NULL), FP_OK);
    write_ok(m, tmp_path("arcs.svg"));
    rd_layer *ly = &m->layers[0];
    assert_int_equal(ly->nf, 3);
    /* A-B neighbours; C touches B at one corner only. */
    assert_int_equal(ly->adj_off[1] - ly->adj_off[0], 1);
    assert_int_equal(ly->adj[ly->adj_off[0]], 1);
    assert_int_equal(ly->adj_off[3] - ly->adj_off[2], 0);
    assert_int_not_equal(fp_map_fill_of(m, "A"), fp_map_fill_of(m, "B"));
    /* The generalised shared edge: the same points in A and in B. */
    const rd_geom *g = &m->main.g[0];
    int shared_a = 0, shared_b = 0, common = 0;
    for (uint32_t i = g->rs[0]; i < g->rs[1]; i++) {
        double x = g->xy[2 * i];
        shared_a += x > g->xy[2 * g->rs[0]] + 1; /* east side of A */
    }
    for (uint32_t i = g->rs[0]; i + 1 < g->rs[1]; i++)
        for (uint32_t j = g->rs[1]; j + 1 < g->rs[2]; j++)
            common += g->xy[2 * i] == g->xy[2 * j] && g->xy[2 * i + 1] == g->xy[2 * j + 1];
    for (uint32_t j = g->rs[1]; j + 1 < g->rs[2]; j++) shared_b++;
    assert_true(common >= 4); /* the wiggles outlive generalisation */
    /* B's ring is the shared arc plus its two eastern corners. */
    assert_int_equal(common, shared_b - 2);
    (void)shared_a;
    fp_map_free(m);
    fp_layer_free(L);
    test_ctx_done(ctx);
}

/* The British National Grid transformation agrees with PROJ's own choice
 * for EPSG:4326 -> EPSG:27700 (cs2cs: 435352.89 387258.55). */
static void test_render_bng_projection(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_map *m = NULL;
    assert_int_equal(fp_map_new(ctx, NULL, &m), FP_OK);
    double x = -1.47, y = 53.381;
    assert_int_equal(rd_project1(m, &x, &y), FP_OK);
    assert_true(fabs(x - 435352.89) < 0.5 && fabs(y - 387258.55) < 0.5);
    fp_map_free(m);
    fp_map_opts o;
    fp_map_opts_init(&o);
    o.projection = FP_MAP_WEBMERCATOR;
    assert_int_equal(fp_map_new(ctx, &o, &m), FP_OK);
    x = -1.47, y = 53.381;
    assert_int_equal(rd_project1(m, &x, &y), FP_OK);
    /* Spherical Mercator on the WGS84 semi-major axis. */
    const double pi = 3.14159265358979323846;
    double R = 6378137, lat = 53.381 * pi / 180;
    assert_true(fabs(x - R * -1.47 * pi / 180) < 0.01);
    assert_true(fabs(y - R * log(tan(pi / 4 + lat / 2))) < 0.01);
    fp_map_free(m);
    test_ctx_done(ctx);
}

static void test_render_short_names(void **state)
{
    (void)state;
    char buf[200];
    assert_string_equal(rd_short_name("NHS Cheshire and Merseyside Integrated Care Board", buf,
                                      sizeof buf),
                        "Cheshire and Merseyside");
    assert_string_equal(rd_short_name("NHS South Yorkshire ICB - 02P", buf, sizeof buf),
                        "South Yorkshire 02P");
    assert_string_equal(rd_short_name("NHS Barnsley CCG", buf, sizeof buf), "Barnsley");
    assert_string_equal(rd_short_name("West Yorkshire", buf, sizeof buf), "West Yorkshire");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_png_size),
        cmocka_unit_test(test_render_svg_wellformed_vector_attributed),
        cmocka_unit_test(test_render_pdf_vector),
        cmocka_unit_test(test_render_adjacent_colours_differ),
        cmocka_unit_test(test_render_labels_do_not_overlap),
        cmocka_unit_test(test_render_sheffield_pixel),
        cmocka_unit_test(test_render_focus_members),
        cmocka_unit_test(test_render_classes),
        cmocka_unit_test(test_render_choropleth_no_data_hatched),
        cmocka_unit_test(test_render_points),
        cmocka_unit_test(test_render_bad_options),
        cmocka_unit_test(test_render_out_of_memory),
        cmocka_unit_test(test_render_shared_arcs_and_adjacency),
        cmocka_unit_test(test_render_bng_projection),
        cmocka_unit_test(test_render_short_names),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
