/* Unit tests for lib/src/dissolve.c: fp_catalogue_open builds a membership
 * edition's footprints as the union (GEOS) of their member areas, clipped
 * where a row says so, and fails cleanly, naming the table and the code,
 * when a member cannot be found.
 *
 * The group setup compiles one atlas of every edition of the repository's
 * catalogue except lsoa2011 (slow) from the ONS mirror, with the C
 * library's allocator; the tests compare its membership layers with their
 * member layers and with areas computed by OGR/GEOS from the boundary
 * files themselves. */
#include "support.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gdal.h>
#include <ogr_api.h>

#include "internal.h"

/* ---- shared state (made by the group setup) ---- */

static char root[256];
static fp_ctx *gctx;      /* C-library allocator: not leak-counted */
static fp_catalogue *gcat;
static fp_atlas *gatlas;  /* every edition but lsoa2011 */

/* ---- helpers ---- */

static const fp_layer *layer(const char *edition)
{
    test_require_data();
    assert_non_null(gatlas);
    const fp_layer *L = NULL;
    if (fp_atlas_layer(gctx, gatlas, edition, &L)) fail_msg("%s", fp_ctx_errmsg(gctx));
    return L;
}

static long find_code(const fp_layer *L, const char *code)
{
    long i = fp_layer_find_code(L, code);
    if (i < 0) fail_msg("no footprint %s", code);
    return i;
}

/* A deterministic generator, the same on every platform. */
static uint64_t rng_state;
static double uniform(double lo, double hi)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Is (lon x, lat y) inside footprint i of L (exactly, by the rule)? */
static int inside(const fp_layer *L, long i, double x, double y)
{
    const fp_feat *f = &L->feat[i];
    if (x < f->bbox[0] || x > f->bbox[2] || y < f->bbox[1] || y > f->bbox[3]) return 0;
    return fp__feat_contains(L, f, x, y);
}

/* Footprint i of L as an OGR geometry with the even-odd interior of its
 * rings (the symmetric difference of the rings' polygons). */
static OGRGeometryH footprint_geometry(const fp_layer *L, long i)
{
    const fp_feat *f = &L->feat[i];
    OGRGeometryH acc = NULL;
    for (uint32_t r = f->ring0; r < f->ring0 + f->nrings; r++) {
        OGRGeometryH ring = OGR_G_CreateGeometry(wkbLinearRing);
        for (uint32_t k = L->ring_start[r]; k < L->ring_start[r + 1]; k++)
            OGR_G_AddPoint_2D(ring, L->pts[2 * k], L->pts[2 * k + 1]);
        OGRGeometryH poly = OGR_G_CreateGeometry(wkbPolygon);
        OGR_G_AddGeometryDirectly(poly, ring);
        if (!acc) {
            acc = poly;
        } else {
            OGRGeometryH x = OGR_G_SymDifference(acc, poly);
            assert_non_null(x);
            OGR_G_DestroyGeometry(acc);
            OGR_G_DestroyGeometry(poly);
            acc = x;
        }
    }
    assert_non_null(acc);
    return acc;
}

/* The features of a boundary file, read with OGR. */
typedef struct feature {
    char code[32], name[160];
    OGRGeometryH g;
} feature;

typedef struct file_set {
    const char *edition;
    feature *v;
    size_t n;
} file_set;

static file_set read_edition(const char *id)
{
    const fp_edition *ed = fp_catalogue_find(gcat, id);
    assert_non_null(ed);
    assert_string_equal(ed->members, "");
    OGRDataSourceH ds = OGROpen(test_data_path(ed->path), 0, NULL);
    assert_non_null(ds);
    OGRLayerH ly = OGR_DS_GetLayer(ds, 0);
    file_set s = {id, NULL, 0};
    s.v = calloc((size_t)OGR_L_GetFeatureCount(ly, 1) + 1, sizeof *s.v);
    assert_non_null(s.v);
    OGRFeatureH f;
    OGR_L_ResetReading(ly);
    while ((f = OGR_L_GetNextFeature(ly))) {
        OGRFeatureDefnH d = OGR_F_GetDefnRef(f);
        int ci = OGR_FD_GetFieldIndex(d, ed->code_field);
        int ni = OGR_FD_GetFieldIndex(d, ed->name_field);
        assert_true(ci >= 0 && ni >= 0);
        feature *e = &s.v[s.n++];
        snprintf(e->code, sizeof e->code, "%s", OGR_F_GetFieldAsString(f, ci));
        snprintf(e->name, sizeof e->name, "%s", OGR_F_GetFieldAsString(f, ni));
        e->g = OGR_G_Clone(OGR_F_GetGeometryRef(f));
        OGR_F_Destroy(f);
    }
    OGR_DS_Destroy(ds);
    return s;
}

static OGRGeometryH set_find(const file_set *s, const char *code)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].code, code)) return s->v[i].g;
    fail_msg("%s: no feature %s", s->edition, code);
    return NULL;
}

static void set_free(file_set *s)
{
    for (size_t i = 0; i < s->n; i++) OGR_G_DestroyGeometry(s->v[i].g);
    free(s->v);
}


/* ---- what the real membership editions hold ---- */

/* Opens a membership edition of the real catalogue through a leak-counted
 * context and checks it against the atlas's copy. */
static fp_layer *open_real(fp_ctx *ctx, const char *id)
{
    const char *data = test_require_data();
    fp_catalogue *cat = test_catalogue(ctx);
    fp_layer *L = NULL;
    int rc = fp_catalogue_open(ctx, cat, id, data, NULL, &L);
    if (rc) fail_msg("%s: %s (%d)", id, fp_ctx_errmsg(ctx), rc);
    assert_int_equal(fp_ctx_errcode(ctx), FP_OK);
    fp_catalogue_free(cat);
    const fp_layer *A = layer(id);
    assert_int_equal(fp_layer_count(L), fp_layer_count(A));
    assert_int_equal(fp_layer_vertices(L), fp_layer_vertices(A));
    for (size_t i = 0; i < fp_layer_count(L); i++)
        assert_string_equal(fp_layer_code(L, i), fp_layer_code(A, i));
    return L;
}

static void test_dissolve_icp_nine_places(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_layer *L = open_real(ctx, "icp");
    static const char *const want[][2] = {
        {"E54000009-BARNSLEY", "Barnsley"},
        {"E54000009-BASSETLAW", "Bassetlaw"},
        {"E54000009-DONCASTER", "Doncaster"},
        {"E54000009-ROTHERHAM", "Rotherham"},
        {"E54000009-SHEFFIELD", "Sheffield"},
        {"E54000050-NORTH", "North"},
        {"E54000050-CENTRAL", "Central"},
        {"E54000050-SOUTH-TEES-VALLEY", "South (Tees Valley)"},
        {"E54000050-NORTH-CUMBRIA", "North Cumbria"},
    };
    assert_int_equal(fp_layer_count(L), 9);
    for (size_t k = 0; k < 9; k++) {
        long i = find_code(L, want[k][0]);
        assert_string_equal(fp_layer_name(L, (size_t)i), want[k][1]);
    }
    /* Three CCGs make NENC North: one footprint covers all three. */
    assert_string_equal(test_code_at(L, -1.614, 54.978), "E54000050-NORTH"); /* Newcastle */
    assert_string_equal(test_code_at(L, -1.45, 55.02), "E54000050-NORTH"); /* N Tyneside */
    assert_string_equal(test_code_at(L, -1.9, 55.3), "E54000050-NORTH"); /* Northumberland */
    assert_string_equal(test_code_at(L, -1.470, 53.381), "E54000009-SHEFFIELD");
    assert_string_equal(test_code_at(L, -0.1, 51.5), "none"); /* London */
    fp_layer_free(L);
    test_ctx_done(ctx);
}

static void test_dissolve_ics2018_fourteen_systems(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_layer *L = open_real(ctx, "ics2018");
    assert_int_equal(fp_layer_count(L), 14);
    static const char *const want[] = {
        "E54000048-BLACKPOOL-AND-FYLDE-COAST", "E54000044-BERKSHIRE-WEST",
        "E54000044-BUCKINGHAMSHIRE", "E54000041", "E54000034", "E54000024",
        "E54000014", "E54000009", "E54000035", "E54000007", "E54000043",
        "E54000023", "E54000047", "E54000005"};
    for (size_t k = 0; k < 14; k++) find_code(L, want[k]);
    /* Blackpool and Fylde Coast is two CCGs, smaller than its STP. */
    assert_string_equal(test_code_at(L, -3.05, 53.817), "E54000048-BLACKPOOL-AND-FYLDE-COAST");
    assert_string_equal(test_code_at(L, -2.70, 53.76), "none"); /* Preston */
    fp_layer_free(L);
    test_ctx_done(ctx);
}

static void test_dissolve_icb2026m_codes_are_official(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_layer *L = open_real(ctx, "icb2026m");
    file_set off = read_edition("icb2026");
    assert_int_equal(off.n, 36);
    assert_int_equal(fp_layer_count(L), 36);
    for (size_t k = 0; k < off.n; k++) {
        long i = find_code(L, off.v[k].code);
        assert_string_equal(fp_layer_name(L, (size_t)i), off.v[k].name);
    }
    set_free(&off);
    fp_layer_free(L);
    test_ctx_done(ctx);
}

/* ---- the union is the members' area ---- */

/* For every footprint of a membership edition: the area of its rings (as
 * the layer holds them) against the sum of its member areas computed by
 * OGR from the boundary files (clipped where the row says so).  Returns
 * the worst relative difference. */
static double worst_area_error(const char *id, const char **worst_code)
{
    const fp_edition *ed = fp_catalogue_find(gcat, id);
    assert_non_null(ed);
    const fp_layer *L = layer(id);
    file_set sets[4];
    size_t nsets = 0;
    double worst = 0;
    size_t nrows = fp_catalogue_member_count(gcat, ed);
    assert_true(nrows > 0);
    static char wc[64];
    for (size_t i = 0; i < fp_layer_count(L); i++) {
        const char *code = fp_layer_code(L, i);
        double want = 0;
        size_t members = 0;
        for (size_t r = 0; r < nrows; r++) {
            const fp_member *m = fp_catalogue_member(gcat, ed, r);
            if (strcmp(m->code, code)) continue;
            const char *eds[2] = {m->member_edition, m->clip_edition};
            OGRGeometryH g[2] = {NULL, NULL};
            for (int k = 0; k < 2 && *eds[k]; k++) {
                size_t s = 0;
                while (s < nsets && strcmp(sets[s].edition, eds[k])) s++;
                if (s == nsets) {
                    assert_true(nsets < 4);
                    sets[nsets++] = read_edition(eds[k]);
                }
                g[k] = set_find(&sets[s], k ? m->clip_code : m->member_code);
            }
            if (g[1]) {
                OGRGeometryH x = OGR_G_Intersection(g[0], g[1]);
                assert_non_null(x);
                want += OGR_G_Area(x);
                OGR_G_DestroyGeometry(x);
            } else {
                want += OGR_G_Area(g[0]);
            }
            members++;
        }
        assert_true(members > 0);
        OGRGeometryH got = footprint_geometry(L, (long)i);
        double err = fabs(OGR_G_Area(got) - want) / want;
        OGR_G_DestroyGeometry(got);
        if (err >= worst) {
            worst = err;
            snprintf(wc, sizeof wc, "%s", code);
        }
    }
    for (size_t s = 0; s < nsets; s++) set_free(&sets[s]);
    *worst_code = wc;
    return worst;
}

static void test_dissolve_area_is_member_sum(void **state)
{
    (void)state;
    test_require_data();
    const char *ids[] = {"icp", "ics2018", "icb2026m"};
    for (size_t k = 0; k < 3; k++) {
        const char *wc;
        double e = worst_area_error(ids[k], &wc);
        printf("# %s: union area vs member sum: worst relative difference %.2g (%s)\n",
               ids[k], e, wc);
        if (e > 0.001) fail_msg("%s: %s differs by %.4f %%", ids[k], wc, 100 * e);
    }
}

/* A point is in a dissolved place iff it is in one of its member CCGs:
 * exact, on 100,000 random points in each place's bounding box, and
 * places never overlap. */
static void test_dissolve_icp_points_match_members(void **state)
{
    (void)state;
    test_require_data();
    const fp_edition *ed = fp_catalogue_find(gcat, "icp");
    const fp_layer *P = layer("icp"), *C = layer("ccg2021");
    rng_state = 1;
    for (size_t i = 0; i < fp_layer_count(P); i++) {
        const char *code = fp_layer_code(P, i);
        long members[8];
        size_t nm = 0;
        for (size_t r = 0; r < fp_catalogue_member_count(gcat, ed); r++) {
            const fp_member *m = fp_catalogue_member(gcat, ed, r);
            if (!strcmp(m->code, code)) {
                assert_string_equal(m->member_edition, "ccg2021");
                members[nm++] = find_code(C, m->member_code);
            }
        }
        assert_true(nm >= 1 && nm <= 3);
        double box[4];
        fp_layer_bbox(P, i, box);
        size_t in = 0;
        for (int k = 0; k < 100000; k++) {
            double x = uniform(box[0], box[2]), y = uniform(box[1], box[3]);
            int want = 0;
            for (size_t j = 0; j < nm; j++) want |= inside(C, members[j], x, y);
            int got = inside(P, (long)i, x, y);
            if (got != want)
                fail_msg("%s at %.9f,%.9f: %s, members say %s", code, y, x,
                         got ? "in" : "out", want ? "in" : "out");
            /* The layer's own answer agrees, and siblings do not overlap. */
            long f = fp_layer_find(P, y, x);
            if (want) assert_int_equal(f, (long)i);
            else assert_true(f != (long)i);
            in += (size_t)want;
        }
        assert_true(in > 10000); /* the box is not mostly empty */
    }
}

/* The five places of South Yorkshire and Bassetlaw partition it: a random
 * point of the STP is in exactly one place, never two.  stp2021 comes from
 * the same ONS series as the member CCGs (ccg2021), so it must match to
 * the last point; stp2017 is another generalisation (2017 BUC), so points
 * near its outer edge may be in no place, but only near the edge (a gap
 * inside would be far from every place's boundary). */
static void test_dissolve_syb_places_partition(void **state)
{
    (void)state;
    test_require_data();
    const fp_layer *P = layer("icp");
    static const char *const places[] = {"E54000009-BARNSLEY", "E54000009-BASSETLAW",
                                         "E54000009-DONCASTER", "E54000009-ROTHERHAM",
                                         "E54000009-SHEFFIELD"};
    long idx[5];
    for (int k = 0; k < 5; k++) idx[k] = find_code(P, places[k]);
    const char *stps[] = {"stp2021", "stp2017"};
    for (int e = 0; e < 2; e++) {
        const fp_layer *S = layer(stps[e]);
        long syb = find_code(S, "E54000009");
        double box[4];
        fp_layer_bbox(S, (size_t)syb, box);
        rng_state = 7;
        size_t n = 0, one = 0;
        double far = 0;
        while (n < 100000) {
            double x = uniform(box[0], box[2]), y = uniform(box[1], box[3]);
            if (!inside(S, syb, x, y)) continue;
            n++;
            int c = 0;
            for (int k = 0; k < 5; k++) c += inside(P, idx[k], x, y);
            if (c > 1) fail_msg("%.9f,%.9f is in %d places", y, x, c);
            one += c == 1;
            if (c == 0) {
                fp_match m = fp_layer_locate(P, y, x, 5000);
                double d = m.kind == FP_MATCH_NEAREST ? m.distance_m : 1e9;
                if (d > far) far = d;
            }
        }
        printf("# SYB: %.4f %% of %zu points of %s E54000009 in exactly one place; "
               "the others within %.0f m of a place\n",
               100.0 * (double)one / (double)n, n, stps[e], far);
        if (e == 0) assert_true((double)one >= 0.9999 * (double)n);
        else assert_true((double)one >= 0.999 * (double)n && far < 500);
    }

    /* On the shared edges themselves: every vertex of a place and every
     * edge midpoint is claimed by at most one place, and one exactly when
     * a sibling has the same edge (the edges are shared vertex for vertex). */
    size_t shared = 0;
    for (int k = 0; k < 5; k++) {
        const fp_feat *f = &P->feat[idx[k]];
        for (uint32_t r = f->ring0; r < f->ring0 + f->nrings; r++)
            for (uint32_t v = P->ring_start[r]; v + 1 < P->ring_start[r + 1]; v++) {
                const double *a = &P->pts[2 * v], *b = &P->pts[2 * v + 2];
                /* Is a-b an edge of a sibling? */
                int sib = 0;
                for (int q = 0; q < 5 && !sib; q++) {
                    if (q == k) continue;
                    const fp_feat *g = &P->feat[idx[q]];
                    for (uint32_t s = g->ring0; s < g->ring0 + g->nrings && !sib; s++)
                        for (uint32_t w = P->ring_start[s]; w + 1 < P->ring_start[s + 1]; w++) {
                            const double *c = &P->pts[2 * w], *d = &P->pts[2 * w + 2];
                            if ((a[0] == d[0] && a[1] == d[1] && b[0] == c[0] && b[1] == c[1]) ||
                                (a[0] == c[0] && a[1] == c[1] && b[0] == d[0] && b[1] == d[1])) {
                                sib = 1;
                                break;
                            }
                        }
                }
                double pts[2][2] = {{a[0], a[1]}, {(a[0] + b[0]) / 2, (a[1] + b[1]) / 2}};
                for (int t = 0; t < 2; t++) {
                    int c = 0;
                    for (int q = 0; q < 5; q++) c += inside(P, idx[q], pts[t][0], pts[t][1]);
                    if (c > 1 || (sib && t == 1 && c != 1))
                        fail_msg("%s edge point %.9f,%.9f: in %d places (shared: %d)",
                                 places[k], pts[t][1], pts[t][0], c, sib);
                }
                shared += (size_t)sib;
            }
    }
    assert_true(shared > 100);
}

/* ---- the 2026 ICBs from their members against the official ones ---- */

static void test_dissolve_icb2026m_agrees_with_official(void **state)
{
    (void)state;
    test_require_data();
    const fp_layer *M = layer("icb2026m"), *O = layer("icb2026"), *R = layer("nhser2024");
    /* Every English postcode of the NSPL sample. */
    FILE *f = fopen(test_data_path("postcodes/postcodes_nspl_nov2021.csv"), "r");
    assert_non_null(f);
    char line[1024];
    assert_non_null(fgets(line, sizeof line, f)); /* header: pcds,lat,long,...,ctry,... */
    size_t n = 0, agree = 0, found = 0;
    while (fgets(line, sizeof line, f)) {
        char *save = NULL, *fld[10];
        int k = 0;
        for (char *t = strtok_r(line, ",", &save); t && k < 10; t = strtok_r(NULL, ",", &save))
            fld[k++] = t;
        if (k < 9 || strcmp(fld[8], "E92000001")) continue;
        double lat = atof(fld[1]), lon = atof(fld[2]);
        long a = fp_layer_find(M, lat, lon), b = fp_layer_find(O, lat, lon);
        n++;
        found += a >= 0;
        agree += (a < 0 && b < 0) ||
                 (a >= 0 && b >= 0 &&
                  !strcmp(fp_layer_code(M, (size_t)a), fp_layer_code(O, (size_t)b)));
    }
    fclose(f);
    double pc = 100.0 * (double)agree / (double)n;
    printf("# icb2026m = icb2026 on %.3f %% of %zu English postcodes\n", pc, n);
    assert_true(n > 40000);
    assert_true(found > n * 99 / 100);
    assert_true(pc >= 99.0);
    /* 200,000 random points inside England. */
    double box[4];
    fp_layer_bbox(R, SIZE_MAX, box);
    rng_state = 2026;
    n = agree = 0;
    while (n < 200000) {
        double x = uniform(box[0], box[2]), y = uniform(box[1], box[3]);
        if (fp_layer_find(R, y, x) < 0) continue;
        long a = fp_layer_find(M, y, x), b = fp_layer_find(O, y, x);
        n++;
        agree += (a < 0 && b < 0) ||
                 (a >= 0 && b >= 0 &&
                  !strcmp(fp_layer_code(M, (size_t)a), fp_layer_code(O, (size_t)b)));
    }
    pc = 100.0 * (double)agree / (double)n;
    printf("# icb2026m = icb2026 on %.3f %% of %zu random points in England\n", pc, n);
    assert_true(pc >= 99.0);
    /* Merged ICBs hold their predecessors' places. */
    assert_string_equal(test_code_at(M, 0.469, 51.736), "E54000066"); /* Chelmsford */
    assert_string_equal(test_code_at(O, 0.469, 51.736), "E54000066");
    assert_string_equal(test_code_at(M, -0.75, 51.29), "E54000067"); /* Farnborough */
    assert_string_equal(test_code_at(O, -0.75, 51.29), "E54000067");
    assert_string_equal(test_code_at(layer("icb2023"), -0.75, 51.29), "E54000034");
}

/* ---- small catalogues made for the purpose ---- */

static const char ED_HEAD[] =
    "id,level,name,valid_from,valid_to,path,layer,code_field,name_field,vintage,"
    "attribution,members\n";
static const char ED_FILES[] =
    "ccg2021,ccg,CCGs,2021-04-01,2022-06-30,boundaries/ccg_2021_buc.geojson,,CCG21CD,"
    "CCG21NM,2021,OGL v3,\n"
    "icb2023,icb,ICBs,2023-04-01,,boundaries/icb_2023_bsc.geojson,,ICB23CD,ICB23NM,2023,"
    "OGL v3,\n"
    "lad2024,lad,LADs,2024-05-01,,boundaries/lad_2024_bsc.geojson,,LAD24CD,LAD24NM,2024,"
    "OGL v3,\n";
static const char MEM_HEAD[] =
    "code,name,ods_code,member_edition,member_code,clip_edition,clip_code,valid_from,"
    "valid_to,source\n";

/* A bundle: editions.csv (the three file editions, plus `extra_editions`)
 * and, when `members` is not NULL, members/x.csv. */
static char *bundle(const char *extra_editions, const char *members, size_t *len)
{
    static char buf[16384];
    char ed[4096];
    snprintf(ed, sizeof ed, "%s%s%s", ED_HEAD, ED_FILES, extra_editions);
    int n = snprintf(buf, sizeof buf, "@@file editions.csv %zu\n%s\n", strlen(ed), ed);
    if (members) {
        char mem[8192];
        snprintf(mem, sizeof mem, "%s%s", MEM_HEAD, members);
        n += snprintf(buf + n, sizeof buf - (size_t)n, "@@file members/x.csv %zu\n%s\n",
                      strlen(mem), mem);
    }
    assert_true(n > 0 && (size_t)n < sizeof buf);
    *len = (size_t)n;
    return buf;
}

#define X_EDITION "x,x,Made up,2020-01-01,,,,,,2021,OGL v3,members/x.csv\n"

static fp_catalogue *parse_ok(fp_ctx *ctx, const char *members)
{
    size_t len;
    const char *text = bundle(X_EDITION, members, &len);
    fp_catalogue *cat = NULL;
    int rc = fp_catalogue_parse(ctx, text, len, "t", &cat);
    if (rc) fail_msg("parse: %s", fp_ctx_errmsg(ctx));
    return cat;
}

/* The first of `needles` (NULL-terminated) missing from msg, or NULL. */
static const char *lacks(const char *msg, const char *const *needles)
{
    for (const char *const *s = needles; *s; s++)
        if (!strstr(msg, *s)) return *s;
    return NULL;
}

/* Parsing must fail with FP_EFORMAT and a message holding every string
 * of `needles`.  Cleans up before failing, so that one failure does not
 * spill leaks into the next test. */
static void parse_fails(const char *extra, const char *members, const char *const *needles)
{
    fp_ctx *ctx = test_ctx();
    size_t len;
    const char *text = bundle(extra, members, &len);
    fp_catalogue *cat = (fp_catalogue *)0x1;
    int rc = fp_catalogue_parse(ctx, text, len, "t", &cat);
    char msg[FP_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(ctx));
    int code = fp_ctx_errcode(ctx);
    fp_catalogue *got = cat;
    if (rc == FP_OK) fp_catalogue_free(cat);
    test_ctx_done(ctx);
    if (rc != FP_EFORMAT)
        fail_msg("parse of\n%s%s\ngave %d (%s), want FP_EFORMAT", extra,
                 members ? members : "(no members/x.csv)", rc, msg);
    assert_null(got);
    assert_int_equal(code, FP_EFORMAT);
    const char *miss = lacks(msg, needles);
    if (miss) fail_msg("message '%s' lacks '%s'", msg, miss);
}

/* fp_catalogue_open of x must fail with `want` and a message holding
 * every string of `needles`; nothing leaks. */
static void open_fails(const char *members, const char *data, int want,
                       const char *const *needles)
{
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = parse_ok(ctx, members);
    fp_layer *L = (fp_layer *)0x1;
    int rc = fp_catalogue_open(ctx, cat, "x", data, NULL, &L);
    char msg[FP_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(ctx));
    int code = fp_ctx_errcode(ctx);
    fp_layer *got = L;
    if (rc == FP_OK) fp_layer_free(L);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
    if (rc != want) fail_msg("open gave %d (%s), want %d", rc, msg, want);
    assert_null(got);
    assert_int_equal(code, want);
    const char *miss = lacks(msg, needles);
    if (miss) fail_msg("message '%s' lacks '%s'", msg, miss);
}

static void test_dissolve_unknown_member_code_eformat(void **state)
{
    (void)state;
    const char *data = test_require_data();
    /* The first row, a later row of a later footprint, a clip code. */
    open_fails("A,A,,ccg2021,E38999999,,,,,s\n", data, FP_EFORMAT,
               (const char *const[]){"members/x.csv", "E38999999", "ccg2021", NULL});
    open_fails("A,A,,ccg2021,E38000146,,,,,s\n"
               "B,B,,ccg2021,E38000006,,,,,s\n"
               "B,B,,ccg2021,E38000000,,,,,s\n",
               data, FP_EFORMAT,
               (const char *const[]){"members/x.csv", "E38000000", "B", NULL});
    open_fails("A,A,,icb2023,E54000034,lad2024,E07999999,,,s\n", data, FP_EFORMAT,
               (const char *const[]){"members/x.csv", "E07999999", "lad2024", NULL});
    /* A code of another edition is not a member of this one. */
    open_fails("A,A,,ccg2021,E54000009,,,,,s\n", data, FP_EFORMAT,
               (const char *const[]){"members/x.csv", "E54000009", NULL});
}

static void test_dissolve_member_file_missing_eio(void **state)
{
    (void)state;
    test_require_data();
    /* The group's empty directory holds no boundary files. */
    open_fails("A,A,,ccg2021,E38000146,,,,,s\n", root, FP_EIO,
               (const char *const[]){"ccg_2021_buc.geojson", NULL});
}

static void test_dissolve_open_without_tables(void **state)
{
    (void)state;
    const char *data = test_require_data();
    fp_ctx *ctx = test_ctx();
    /* A lone editions.csv lists x but has not loaded its table. */
    char ed[4096];
    snprintf(ed, sizeof ed, "%s%s%s", ED_HEAD, ED_FILES, X_EDITION);
    fp_catalogue *cat = NULL;
    assert_int_equal(fp_catalogue_parse(ctx, ed, strlen(ed), "e.csv", &cat), FP_OK);
    fp_layer *L = (fp_layer *)0x1;
    assert_int_equal(fp_catalogue_open(ctx, cat, "x", data, NULL, &L), FP_EFORMAT);
    assert_null(L);
    assert_non_null(strstr(fp_ctx_errmsg(ctx), "members/x.csv"));
    assert_int_equal(fp_catalogue_open(ctx, cat, "nope", data, NULL, &L), FP_ENOTFOUND);
    assert_non_null(strstr(fp_ctx_errmsg(ctx), "nope"));
    /* A file edition opens as its file. */
    assert_int_equal(fp_catalogue_open(ctx, cat, "ccg2021", data, NULL, &L), FP_OK);
    assert_int_equal(fp_layer_count(L), 106);
    assert_string_equal(fp_ctx_errmsg(ctx), "");
    fp_layer_free(L);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

static void test_dissolve_parse_errors_name_file_and_line(void **state)
{
    (void)state;
    /* member_edition unknown (line 3: header, one good row, the bad). */
    parse_fails(X_EDITION, "A,A,,ccg2021,E38000146,,,,,s\nB,B,,ccg2099,E38000006,,,,,s\n",
                (const char *const[]){"members/x.csv", "line 3", "ccg2099", NULL});
    /* member_edition is itself a membership edition. */
    parse_fails(X_EDITION, "A,A,,x,A,,,,,s\n",
                (const char *const[]){"members/x.csv", "line 2", NULL});
    /* clip_edition without clip_code, and the other way round. */
    parse_fails(X_EDITION, "A,A,,icb2023,E54000034,lad2024,,,,s\n",
                (const char *const[]){"members/x.csv", "line 2", NULL});
    parse_fails(X_EDITION, "A,A,,icb2023,E54000034,,E07000092,,,s\n",
                (const char *const[]){"members/x.csv", "line 2", NULL});
    parse_fails(X_EDITION, "A,A,,icb2023,E54000034,lad2099,E07000092,,,s\n",
                (const char *const[]){"members/x.csv", "line 2", NULL});
    /* Bad dates. */
    parse_fails(X_EDITION, "A,A,,ccg2021,E38000146,,,2026-02-30,,s\n",
                (const char *const[]){"members/x.csv", "line 2", NULL});
    parse_fails(X_EDITION, "A,A,,ccg2021,E38000146,,,,,s\nA,A,,ccg2021,E38000006,,,,31/12/2022,s\n",
                (const char *const[]){"members/x.csv", "line 3", NULL});
    /* No code, no member code, no source. */
    parse_fails(X_EDITION, ",A,,ccg2021,E38000146,,,,,s\n",
                (const char *const[]){"members/x.csv", "line 2", NULL});
    parse_fails(X_EDITION, "A,A,,ccg2021,,,,,,s\n",
                (const char *const[]){"members/x.csv", "line 2", NULL});
    parse_fails(X_EDITION, "A,A,,ccg2021,E38000146,,,,,\n",
                (const char *const[]){"members/x.csv", "line 2", NULL});
    /* The table is not in the bundle. */
    parse_fails(X_EDITION "y,y,Other,2020-01-01,,,,,,2021,OGL v3,members/y.csv\n",
                "A,A,,ccg2021,E38000146,,,,,s\n",
                (const char *const[]){"members/y.csv", "y", NULL});
    /* A table with no rows. */
    parse_fails(X_EDITION, "", (const char *const[]){"members/x.csv", NULL});
}

/* A bundle that holds editions.csv alone is still a bundle: the tables it
 * names are missing from it (only a bare editions.csv, not a bundle, may
 * list membership editions without their tables). */
static void test_dissolve_one_file_bundle_missing_table(void **state)
{
    (void)state;
    parse_fails(X_EDITION, NULL,
                (const char *const[]){"members/x.csv", "missing", NULL});
}

/* ---- what a dissolve keeps ---- */

/* Opens x of cat; on failure frees cat and ctx first (no leak spills into
 * the next test), then fails. */
static fp_layer *open_x(fp_ctx *ctx, fp_catalogue *cat, const char *data)
{
    fp_layer *L = NULL;
    int rc = fp_catalogue_open(ctx, cat, "x", data, NULL, &L);
    if (rc) {
        char msg[FP_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(ctx));
        fp_catalogue_free(cat);
        test_ctx_done(ctx);
        fail_msg("open x: %s (%d)", msg, rc);
    }
    assert_string_equal(fp_ctx_errmsg(ctx), "");
    return L;
}

static size_t feat_vertices(const fp_layer *L, long i)
{
    const fp_feat *f = &L->feat[i];
    return L->ring_start[f->ring0 + f->nrings] - L->ring_start[f->ring0];
}

static void test_dissolve_one_member_kept_exactly(void **state)
{
    (void)state;
    const char *data = test_require_data();
    fp_ctx *ctx = test_ctx();
    /* TWO's rows need not be next to each other. */
    fp_catalogue *cat = parse_ok(ctx, "TWO,Two,,ccg2021,E38000141,,,,,s\n"
                                      "SHEF,Sheffield,,ccg2021,E38000146,,,,,s\n"
                                      "TWO,Two,,ccg2021,E38000006,,,,,s\n");
    fp_layer *L = open_x(ctx, cat, data);
    assert_int_equal(fp_layer_count(L), 2);
    const fp_layer *C = layer("ccg2021");
    long a = find_code(L, "SHEF"), c = find_code(C, "E38000146");
    assert_string_equal(fp_layer_name(L, (size_t)a), "Sheffield");
    /* One whole member: its rings, vertex for vertex. */
    const fp_feat *fa = &L->feat[a], *fc = &C->feat[c];
    assert_int_equal(fa->nrings, fc->nrings);
    for (uint32_t r = 0; r < fa->nrings; r++) {
        uint32_t s0 = L->ring_start[fa->ring0 + r], s1 = L->ring_start[fa->ring0 + r + 1];
        uint32_t t0 = C->ring_start[fc->ring0 + r], t1 = C->ring_start[fc->ring0 + r + 1];
        assert_int_equal(s1 - s0, t1 - t0);
        assert_memory_equal(&L->pts[2 * s0], &C->pts[2 * t0], 2 * sizeof(double) * (s1 - s0));
    }
    /* Rotherham and Barnsley: one footprint, the seam between them gone
     * (fewer vertices and rings than the two have). */
    long two = find_code(L, "TWO");
    long ro = find_code(C, "E38000141"), ba = find_code(C, "E38000006");
    assert_true(inside(L, two, -1.36, 53.43));   /* Rotherham */
    assert_true(inside(L, two, -1.48, 53.55));   /* Barnsley */
    assert_false(inside(L, two, -1.470, 53.381)); /* Sheffield */
    assert_false(inside(L, two, -1.13, 53.52));   /* Doncaster */
    size_t vt = feat_vertices(L, two), vr = feat_vertices(C, ro), vb = feat_vertices(C, ba);
    assert_true(vt + 10 < vr + vb);
    assert_true(L->feat[two].nrings < C->feat[ro].nrings + C->feat[ba].nrings);
    fp_layer_free(L);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

static void test_dissolve_clip_intersects(void **state)
{
    (void)state;
    const char *data = test_require_data();
    fp_ctx *ctx = test_ctx();
    /* Frimley's Hampshire part (Rushmoor and Hart) and its Surrey Heath
     * part. */
    fp_catalogue *cat = parse_ok(ctx, "HANTS,Frimley in Hampshire,,icb2023,E54000034,lad2024,E07000092,,,s\n"
                                      "HANTS,Frimley in Hampshire,,icb2023,E54000034,lad2024,E07000089,,,s\n"
                                      "SH,Surrey Heath part,,icb2023,E54000034,lad2024,E07000214,,,s\n");
    fp_layer *L = open_x(ctx, cat, data);
    long h = find_code(L, "HANTS"), r = find_code(L, "SH");
    int in[6] = {
        inside(L, h, -0.75, 51.29),  /* Farnborough (Rushmoor) */
        inside(L, h, -0.84, 51.28),  /* Fleet (Hart) */
        !inside(L, h, -0.74, 51.34), /* Camberley (Surrey Heath) */
        !inside(L, h, -0.6, 51.45),  /* Windsor */
        inside(L, r, -0.74, 51.34),
        !inside(L, r, -0.75, 51.29),
    };
    /* Areas as GEOS computes them from the files. */
    file_set icb = read_edition("icb2023"), lad = read_edition("lad2024");
    OGRGeometryH fr = set_find(&icb, "E54000034");
    OGRGeometryH x1 = OGR_G_Intersection(fr, set_find(&lad, "E07000092"));
    OGRGeometryH x2 = OGR_G_Intersection(fr, set_find(&lad, "E07000089"));
    OGRGeometryH x3 = OGR_G_Intersection(fr, set_find(&lad, "E07000214"));
    double want_h = OGR_G_Area(x1) + OGR_G_Area(x2), want_r = OGR_G_Area(x3);
    double whole = OGR_G_Area(fr);
    OGRGeometryH gh = footprint_geometry(L, h), gr = footprint_geometry(L, r);
    double got_h = OGR_G_Area(gh), got_r = OGR_G_Area(gr);
    OGR_G_DestroyGeometry(x1), OGR_G_DestroyGeometry(x2), OGR_G_DestroyGeometry(x3);
    OGR_G_DestroyGeometry(gh), OGR_G_DestroyGeometry(gr);
    set_free(&icb), set_free(&lad);
    fp_layer_free(L);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
    for (int k = 0; k < 6; k++)
        if (!in[k]) fail_msg("point %d on the wrong side of a clipped footprint", k);
    if (fabs(got_h - want_h) >= 1e-6 * want_h || fabs(got_r - want_r) >= 1e-6 * want_r)
        fail_msg("clipped areas: HANTS %.9g, want %.9g; SH %.9g, want %.9g (deg^2)", got_h,
                 want_h, got_r, want_r);
    assert_true(got_h < 0.5 * whole && got_r < 0.5 * whole); /* parts, not the whole */
}

/* Siblings that share ground are refused, naming the table and both;
 * the slivers of differently generalised files are not (ics2018 opens). */
static void test_dissolve_overlapping_siblings_eformat(void **state)
{
    (void)state;
    const char *data = test_require_data();
    open_fails("SHEF,Sheffield,,ccg2021,E38000146,,,,,s\n"
               "BIG,Sheffield and Rotherham,,ccg2021,E38000146,,,,,s\n"
               "BIG,Sheffield and Rotherham,,ccg2021,E38000141,,,,,s\n",
               data, FP_EFORMAT,
               (const char *const[]){"members/x.csv", "SHEF", "BIG", "overlap", NULL});
    /* A part of a footprint and the footprint. */
    open_fails("FRIMLEY,Frimley,,icb2023,E54000034,,,,,s\n"
               "RUSH,Rushmoor part,,icb2023,E54000034,lad2024,E07000092,,,s\n",
               data, FP_EFORMAT,
               (const char *const[]){"members/x.csv", "FRIMLEY", "RUSH", NULL});
    /* Neighbours (shared edges, no shared ground) are fine. */
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = parse_ok(ctx, "SHEF,Sheffield,,ccg2021,E38000146,,,,,s\n"
                                      "ROTH,Rotherham,,ccg2021,E38000141,,,,,s\n");
    fp_layer *L = open_x(ctx, cat, data);
    assert_int_equal(fp_layer_count(L), 2);
    fp_layer_free(L);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

/* A footprint of the table whose members add up to no area (a clip that
 * misses its member) is an error naming it, not a footprint that quietly
 * vanishes from the layer. */
static void test_dissolve_empty_footprint_eformat(void **state)
{
    (void)state;
    const char *data = test_require_data();
    /* Frimley clipped by Hartlepool. */
    open_fails("EMPTY,Empty,,icb2023,E54000034,lad2024,E06000001,,,s\n"
               "SHEF,Sheffield,,ccg2021,E38000146,,,,,s\n",
               data, FP_EFORMAT, (const char *const[]){"members/x.csv", "EMPTY", NULL});
}

/* The overlap rule holds however many footprints an edition has: here
 * 512 single-LSOA footprints and then a 513th that repeats the first. */
static void test_dissolve_overlap_checked_beyond_512(void **state)
{
    (void)state;
    const char *data = test_require_data();
    fp_ctx *ctx = test_ctx();
    size_t cap = 64 * 1024, n = 0;
    char *mem = malloc(cap), *text = malloc(cap + 4096);
    assert_true(mem && text);
    n += (size_t)snprintf(mem + n, cap - n, "%s", MEM_HEAD);
    /* The first 512 LSOAs of the April 2024 lookup (all in the file). */
    FILE *f = fopen(test_data_path("lookups/lookup_lsoa21_sicbl24_icb24_lad24.csv"), "r");
    assert_non_null(f);
    char line[512], first[16] = "";
    assert_non_null(fgets(line, sizeof line, f));
    for (int k = 0; k < 512; k++) {
        assert_non_null(fgets(line, sizeof line, f));
        line[9] = '\0';
        if (!k) memcpy(first, line, 10);
        n += (size_t)snprintf(mem + n, cap - n, "L%03d,L%03d,,lsoa2021,%s,,,,,s\n", k, k,
                              line);
    }
    fclose(f);
    n += (size_t)snprintf(mem + n, cap - n, "Z,Z,,lsoa2021,%s,,,,,s\n", first);
    assert_true(n < cap);
    char ed[4096];
    snprintf(ed, sizeof ed, "%s%s%s%s", ED_HEAD, ED_FILES,
             "lsoa2021,lsoa,LSOAs,2021-12-01,,boundaries/lsoa_2021_bsc.geojson,,LSOA21CD,"
             "LSOA21NM,2022,OGL v3,\n", X_EDITION);
    int len = snprintf(text, cap + 4096, "@@file editions.csv %zu\n%s\n@@file members/x.csv %zu\n%s\n",
                       strlen(ed), ed, n, mem);
    fp_catalogue *cat = NULL;
    int rc = fp_catalogue_parse(ctx, text, (size_t)len, "t", &cat);
    free(mem), free(text);
    if (rc) fail_msg("%s", fp_ctx_errmsg(ctx));
    fp_layer *L = NULL;
    rc = fp_catalogue_open(ctx, cat, "x", data, NULL, &L);
    char msg[FP_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(ctx));
    size_t count = L ? fp_layer_count(L) : 0;
    fp_layer_free(L);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
    if (rc != FP_EFORMAT)
        fail_msg("open gave %d (%s; %zu footprints): Z repeats L000 and was let through",
                 rc, msg, count);
    if (!strstr(msg, "L000") || !strstr(msg, "Z")) fail_msg("message '%s'", msg);
}

/* Every allocation the dissolve makes may fail: FP_ENOMEM, no leak, and
 * success once there is memory. */
static void test_dissolve_allocation_failures(void **state)
{
    (void)state;
    const char *data = test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = parse_ok(ctx, "A,A,,ccg2021,E38000146,,,,,s\n"
                                      "B,B,,ccg2021,E38000006,,,,,s\n"
                                      "B,B,,ccg2021,E38000141,,,,,s\n");
    /* How many allocations a successful open makes: the least count that
     * lets it through (found by doubling, then bisecting). */
    long hi = 1;
    for (;;) {
        fp_layer *L = NULL;
        test_alloc_fail_after(hi);
        int rc = fp_catalogue_open(ctx, cat, "x", data, NULL, &L);
        test_alloc_fail_after(-1);
        fp_layer_free(L);
        if (rc == FP_OK) break;
        assert_int_equal(rc, FP_ENOMEM);
        assert_true(hi < (1L << 24));
        hi *= 2;
    }
    long lo = hi / 2;
    while (lo + 1 < hi) {
        long mid = (lo + hi) / 2;
        fp_layer *L = NULL;
        test_alloc_fail_after(mid);
        int rc = fp_catalogue_open(ctx, cat, "x", data, NULL, &L);
        test_alloc_fail_after(-1);
        fp_layer_free(L);
        if (rc == FP_OK) hi = mid;
        else lo = mid;
    }
    /* Forty failure points spread over them, each with its leak check. */
    for (int k = 0; k < 40; k++) {
        long at = hi * k / 40;
        long before = test_alloc_outstanding();
        fp_layer *L = (fp_layer *)0x1;
        test_alloc_fail_after(at);
        int rc = fp_catalogue_open(ctx, cat, "x", data, NULL, &L);
        test_alloc_fail_after(-1);
        if (rc != FP_ENOMEM)
            fail_msg("allocation %ld of %ld failing: %d (%s)", at, hi, rc, fp_ctx_errmsg(ctx));
        assert_null(L);
        assert_int_equal(test_alloc_outstanding(), before);
    }
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

/* ---- setup ---- */

static int setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/fp_test_dissolve_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(root)) return -1;
    const char *data = test_data_dir();
    if (!data) return 0; /* the tests skip themselves */
    GDALAllRegister();
    if (fp_ctx_new(&gctx)) return -1;
    const char *src = getenv("FOOTPRINT_TEST_CATALOGUE");
    if (fp_catalogue_load(gctx, src && *src ? src : "geodata/editions.csv", &gcat)) {
        fprintf(stderr, "setup: %s\n", fp_ctx_errmsg(gctx));
        return -1;
    }
    const char *only[64];
    size_t n = 0;
    for (size_t i = 0; i < fp_catalogue_count(gcat) && n < 63; i++) {
        const char *id = fp_catalogue_get(gcat, i)->id;
        if (strcmp(id, "lsoa2011")) only[n++] = id;
    }
    only[n] = NULL;
    char path[600];
    snprintf(path, sizeof path, "%s/dissolve.atlas", root);
    if (fp_atlas_build(gctx, gcat, data, only, NULL, path) ||
        fp_atlas_open(gctx, path, &gatlas)) {
        fprintf(stderr, "setup: %s\n", fp_ctx_errmsg(gctx));
        return -1;
    }
    unlink(path); /* mapped: the directory stays empty for the EIO test */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fp_atlas_free(gatlas);
    fp_catalogue_free(gcat);
    fp_ctx_free(gctx);
    test_rm_tree(root);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dissolve_icp_nine_places),
        cmocka_unit_test(test_dissolve_ics2018_fourteen_systems),
        cmocka_unit_test(test_dissolve_icb2026m_codes_are_official),
        cmocka_unit_test(test_dissolve_area_is_member_sum),
        cmocka_unit_test(test_dissolve_icp_points_match_members),
        cmocka_unit_test(test_dissolve_syb_places_partition),
        cmocka_unit_test(test_dissolve_icb2026m_agrees_with_official),
        cmocka_unit_test(test_dissolve_unknown_member_code_eformat),
        cmocka_unit_test(test_dissolve_member_file_missing_eio),
        cmocka_unit_test(test_dissolve_open_without_tables),
        cmocka_unit_test(test_dissolve_parse_errors_name_file_and_line),
        cmocka_unit_test(test_dissolve_one_file_bundle_missing_table),
        cmocka_unit_test(test_dissolve_one_member_kept_exactly),
        cmocka_unit_test(test_dissolve_clip_intersects),
        cmocka_unit_test(test_dissolve_overlapping_siblings_eformat),
        cmocka_unit_test(test_dissolve_overlap_checked_beyond_512),
        cmocka_unit_test(test_dissolve_empty_footprint_eformat),
        cmocka_unit_test(test_dissolve_allocation_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
