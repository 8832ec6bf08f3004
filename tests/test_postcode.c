/* Unit tests for lib/src/postcode.c and lib/src/postcode_import.c: the
 * normalisation rules, importing NSPL/ONSPD, Code-Point Open and plain
 * postcode lists (quotes, CRLF, BOM, gzip, rows without a grid reference,
 * duplicates), lookups, and the index file: a truncated or damaged input
 * or index is a clean error naming the file, never a wrong answer, a
 * crash or a half-written output.
 *
 * Fixtures are written by the tests into a temporary directory; the real
 * NSPL extracts of the ONS mirror are imported by the last two tests. */
#include "support.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "format.h"
#include "internal.h"

/* ---- the file format (lib/src/format.h) ---- */

typedef fp__pc_hdr t_hdr;
typedef fp__pc_dist t_dist;

/* ---- helpers ---- */

static char root[256];

/* root + "/" + name, in one of 32 rotating buffers. */
static const char *tmp_path(const char *name)
{
    static char bufs[32][512];
    static int slot;
    char *b = bufs[slot++ & 31];
    snprintf(b, sizeof bufs[0], "%s/%s", root, name);
    return b;
}

static void write_text(const char *path, const char *text)
{
    test_write_file(path, text, strlen(text));
}

static void write_gz(const char *path, const char *text)
{
    gzFile g = gzopen(path, "wb");
    if (!g) fail_msg("%s: cannot create", path);
    assert_int_equal(gzwrite(g, text, (unsigned)strlen(text)), (int)strlen(text));
    assert_int_equal(gzclose(g), Z_OK);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* No temporary file (NAME.tmp.PID) left in root. */
static void assert_no_temp_files(void)
{
    DIR *d = opendir(root);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp.")) fail_msg("temporary file left behind: %s", e->d_name);
    closedir(d);
}

static void assert_has(const char *text, const char *needle)
{
    if (!strstr(text, needle)) fail_msg("\"%s\" does not mention \"%s\"", text, needle);
}

/* Imports the NULL-terminated list of files into out; the status. */
static int import_v(fp_ctx *ctx, const char *out, fp_postcodes_import_stats *st,
                    const char *first, ...)
{
    const char *paths[16];
    size_t n = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *p = first; p && n < 16; p = va_arg(ap, const char *)) paths[n++] = p;
    va_end(ap);
    return fp_postcodes_import(ctx, paths, n, out, st);
}

static fp_postcodes *open_ok(fp_ctx *ctx, const char *path)
{
    fp_postcodes *pc = NULL;
    int rc = fp_postcodes_open(ctx, path, &pc);
    if (rc) fail_msg("open %s: %s (%d)", path, fp_ctx_errmsg(ctx), rc);
    assert_non_null(pc);
    return pc;
}

/* The postcode is in pc at exactly (lat, lon) to 1e-6 degrees. */
static void assert_at(const fp_postcodes *pc, const char *postcode, double lat, double lon)
{
    double y = -1, x = -1;
    int rc = fp_postcodes_find(pc, postcode, &y, &x);
    if (rc != FP_OK) fail_msg("%s: status %d", postcode, rc);
    if (llround(y * 1e6) != llround(lat * 1e6) || llround(x * 1e6) != llround(lon * 1e6))
        fail_msg("%s: %.7f, %.7f, want %.7f, %.7f", postcode, y, x, lat, lon);
}

/* fp_postcodes_open must fail with `want` and a message naming the path
 * (and needle), leaving *out NULL. */
static void open_fails(const char *path, int want, const char *needle)
{
    fp_ctx *ctx = test_ctx();
    fp_postcodes *pc = (fp_postcodes *)1;
    int rc = fp_postcodes_open(ctx, path, &pc);
    if (rc != want) fail_msg("open %s: status %d (%s), want %d", path, rc, fp_ctx_errmsg(ctx), want);
    assert_null(pc);
    assert_has(fp_ctx_errmsg(ctx), path);
    if (needle) assert_has(fp_ctx_errmsg(ctx), needle);
    test_ctx_done(ctx);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* A CSV "pcds,lat,long" of n synthetic postcodes in about n/200 districts
 * (malloc'd); the i-th row's coordinates derive from i. */
static char *synthetic_csv(size_t n)
{
    size_t cap = 64 + n * 40, len = 0;
    char *t = malloc(cap);
    assert_non_null(t);
    len += (size_t)snprintf(t, cap, "pcds,lat,long\n");
    for (size_t i = 0; i < n; i++) {
        size_t d = i / 200, k = i % 200;
        len += (size_t)snprintf(t + len, cap - len, "%c%c%zu %zu%c%c,%.6f,%.6f\n",
                                'A' + (int)(d / 26 % 26), 'A' + (int)(d % 26), d % 99 + 1,
                                k % 10, 'A' + (int)(k / 10), 'A' + (int)(k % 7),
                                50 + (double)i * 1e-5, -3 + (double)i * 2e-6);
    }
    return t;
}

/* Recomputes every checksum of an index image, as a forger would. */
static void reseal(unsigned char *f, size_t len)
{
    t_hdr h;
    memcpy(&h, f, sizeof h);
    /* Only where the counts fit the image (a forger's care, and no
     * overflow in the sums below). */
    if (h.dist_off < len && h.ndist < len && h.keys_off < len && h.count < len &&
        h.coords_off < len && h.dist_off + (uint64_t)h.ndist * sizeof(t_dist) <= len &&
        h.keys_off + h.count * 2 <= len && h.coords_off + h.count * 8 <= len) {
        for (uint32_t i = 0; i < h.ndist; i++) {
            t_dist d; /* copied: a crafted offset may be misaligned */
            memcpy(&d, f + h.dist_off + i * sizeof(t_dist), sizeof d);
            if (d.first + (uint64_t)d.n > h.count) continue;
            d.hash = fp__hash64(f + h.keys_off + 2 * (size_t)d.first, 2 * (size_t)d.n) *
                         0x9e3779b97f4a7c15u ^
                     fp__hash64(f + h.coords_off + 8 * (size_t)d.first, 8 * (size_t)d.n);
            memcpy(f + h.dist_off + i * sizeof(t_dist), &d, sizeof d);
        }
        h.dist_hash = fp__hash64(f + h.dist_off, h.ndist * sizeof(t_dist));
    }
    if (h.sources_off < len && h.sources_len < len && h.sources_off + h.sources_len <= len)
        h.sources_hash = fp__hash64(f + h.sources_off, h.sources_len);
    h.header_hash = fp__hash64(&h, offsetof(t_hdr, header_hash));
    memcpy(f, &h, sizeof h);
}

/* A small index of n synthetic postcodes at `path`. */
static void make_synthetic(const char *path, size_t n)
{
    char *csv = synthetic_csv(n);
    write_text(tmp_path("synthetic.csv"), csv);
    free(csv);
    fp_ctx *ctx = test_ctx();
    fp_postcodes_import_stats st;
    int rc = import_v(ctx, path, &st, tmp_path("synthetic.csv"), NULL);
    if (rc) fail_msg("%s", fp_ctx_errmsg(ctx));
    assert_int_equal(st.postcodes, n);
    test_ctx_done(ctx);
}

/* ---- normalisation ---- */

static void test_postcode_normalise_table(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want; /* want NULL: malformed */
    } cases[] = {
        {"s1 2he", "S1 2HE"},       {"S12HE", "S1 2HE"},       {"  S1   2HE  ", "S1 2HE"},
        {"S1\t2HE", "S1 2HE"},      {"S1 2HE\r\n", "S1 2HE"},  {"S1\xC2\xA0" "2HE", "S1 2HE"},
        {"AB101AA", "AB10 1AA"},    {"ab10 1aa", "AB10 1AA"},  {"ab1 0aa", "AB1 0AA"},
        {"AB10AA", "AB1 0AA"},      {"EC1A1BB", "EC1A 1BB"},   {"ec1a 1bb", "EC1A 1BB"},
        {"W1A 0AX", "W1A 0AX"},     {"w1a0ax", "W1A 0AX"},     {"M1 1AE", "M1 1AE"},
        {"B33 8TH", "B33 8TH"},     {"CR2 6XH", "CR2 6XH"},    {"DN55 1PT", "DN55 1PT"},
        {"SW1A 2AA", "SW1A 2AA"},   {"GIR 0AA", "GIR 0AA"},    {"gir0aa", "GIR 0AA"},
        {"NPT 0AD", "NPT 0AD"},     {"sW1a 1aA", "SW1A 1AA"},  {"E1 6AN", "E1 6AN"},
        /* malformed */
        {"", NULL},                 {"   ", NULL},             {"S1", NULL},
        {"2HE", NULL},              {"S1 2H", NULL},           {"S1 2HEE", NULL},
        {"S1-2HE", NULL},           {"S 1 2HE", NULL},         {"S1 2 HE", NULL},
        {"S12 HE", NULL},           {"SW1A1AAA", NULL},        {"ABCD 1AA", NULL},
        {"GIR 1AA", NULL},          {"ABC 1AA", NULL},         {"1S 2HE", NULL},
        {"S1 ZHE", NULL},           {"S1 22E", NULL},          {"S1 2H3", NULL},
        {"AB1000AA", NULL},         {"S1 2H\xC3\x89", NULL},   {"S1_2HE", NULL},
        {"S1 2HE x", NULL},         {"12345", NULL},           {"EC1A1BB1", NULL},
        {"A9A9 1AA", NULL},         {"AA9AA 1AA", NULL},       {"S1\xC2" "2HE", NULL},
        {"S1.2HE", NULL},           {"'S1 2HE'", NULL},        {"\"S1 2HE\"", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char out[FP_POSTCODE_MAX];
        memset(out, 'x', sizeof out);
        int rc = fp_postcode_normalise(cases[i].in, out);
        if (cases[i].want) {
            if (rc != FP_OK || strcmp(out, cases[i].want) != 0)
                fail_msg("'%s': status %d '%s', want '%s'", cases[i].in, rc, rc ? "" : out,
                         cases[i].want);
        } else if (rc != FP_EINVAL || out[0] != '\0') {
            fail_msg("'%s': status %d '%s', want malformed", cases[i].in, rc, out);
        }
    }
    char out[FP_POSTCODE_MAX];
    assert_int_equal(fp_postcode_normalise(NULL, out), FP_EINVAL);
    assert_string_equal(out, "");
    /* Long input is rejected without reading past its end. */
    char longs[4096];
    memset(longs, 'A', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    assert_int_equal(fp_postcode_normalise(longs, out), FP_EINVAL);
}

/* Random strings over the characters that matter: whatever is accepted
 * normalises to itself, has the normal shape, and fits the buffer. */
static void test_postcode_normalise_random_idempotent(void **state)
{
    (void)state;
    static const char alpha[] = "AB1 0aZz9 \t-GIRNPT";
    rng_state = 42;
    size_t accepted = 0;
    for (int i = 0; i < 200000; i++) {
        char in[12], out[FP_POSTCODE_MAX], again[FP_POSTCODE_MAX];
        size_t n = rnd() % 11;
        for (size_t k = 0; k < n; k++) in[k] = alpha[rnd() % (sizeof alpha - 1)];
        in[n] = '\0';
        if (fp_postcode_normalise(in, out) != FP_OK) continue;
        accepted++;
        size_t len = strlen(out);
        assert_true(len >= 6 && len <= 8);
        assert_int_equal(out[len - 4], ' ');
        assert_int_equal(fp_postcode_normalise(out, again), FP_OK);
        assert_string_equal(out, again);
        for (size_t k = 0; k < len; k++)
            assert_true(out[k] == ' ' || (out[k] >= 'A' && out[k] <= 'Z') ||
                        (out[k] >= '0' && out[k] <= '9'));
    }
    assert_true(accepted > 100); /* the test exercised the accepting path */
}

/* ---- import ---- */

static const char NSPL_CSV[] =
    "\xEF\xBB\xBF\"pcds\",\"lat\",\"long\",\"oseast1m\",\"osnrth1m\",\"name\"\r\n"
    "S1 2HE,53.381710,-1.469380,435240,0387159,\"Sheffield, city centre\"\r\n"
    "\"AB101AA\",57.148210,-2.096650,394200,806400,\"multi\r\nline\"\r\n"
    "ZZ9 9ZZ,99.999999,0.000000,,,\"no grid reference\"\r\n"
    "\"ec1a 1bb\",51.524560,-0.112010,531500,182500,plain\r\n"
    "\r\n"
    "W1A 0AX , 51.524561 , -0.112011 ,,,\"say \"\"hello\"\"\"\r\n";

static void test_postcodes_import_nspl_quotes_crlf_bom(void **state)
{
    (void)state;
    write_text(tmp_path("nspl.csv"), NSPL_CSV);
    fp_ctx *ctx = test_ctx();
    fp_postcodes_import_stats st;
    const char *out = tmp_path("nspl.fpi");
    int rc = import_v(ctx, out, &st, tmp_path("nspl.csv"), NULL);
    if (rc) fail_msg("%s", fp_ctx_errmsg(ctx));
    assert_int_equal(st.files, 1);
    assert_int_equal(st.rows, 5);
    assert_int_equal(st.no_grid, 1);
    assert_int_equal(st.malformed, 0);
    assert_int_equal(st.duplicates, 0);
    assert_int_equal(st.postcodes, 4);
    assert_int_equal(st.districts, 4);
    fp_postcodes *pc = open_ok(ctx, out);
    assert_int_equal(fp_postcodes_count(pc), 4);
    assert_int_equal(fp_postcodes_districts(pc), 4);
    assert_int_equal((long)fp_postcodes_size(pc), (long)st.bytes);
    assert_at(pc, "S1 2HE", 53.381710, -1.469380);
    assert_at(pc, "ab10 1aa", 57.148210, -2.096650);
    assert_at(pc, "EC1A1BB", 51.524560, -0.112010);
    assert_at(pc, "W1A 0AX", 51.524561, -0.112011);
    assert_int_equal(fp_postcodes_find(pc, "ZZ9 9ZZ", NULL, NULL), FP_ENOTFOUND);
    long long now = (long long)time(NULL);
    assert_true(fp_postcodes_created(pc) <= now && fp_postcodes_created(pc) > now - 600);
    char want[700];
    snprintf(want, sizeof want, "%s\t%zu\t5\t4\t1\t0\n", tmp_path("nspl.csv"),
             sizeof NSPL_CSV - 1);
    assert_string_equal(fp_postcodes_sources(pc), want);
    assert_int_equal(fp_postcodes_verify(ctx, pc), FP_OK);
    fp_postcodes_free(pc);
    test_ctx_done(ctx);
}

/* Code-Point Open has no header: postcode, quality, easting, northing. */
static void test_postcodes_import_codepoint_bng(void **state)
{
    (void)state;
    write_text(tmp_path("cpo.csv"),
               "\"S1 2HE\",10,435240,387159,\"E92000001\",\"E19000003\",\"\",\"\",\"E08000019\"\n"
               "\"S1 2HF\",10,435300,387250,\"E92000001\",\"E19000003\",\"\",\"\",\"E08000019\"\n"
               "\"S1 9ZZ\",90,0,0,\"E92000001\",\"\",\"\",\"\",\"\"\n"
               "\"DN551PT\",10,458000,403000,\"E92000001\",\"\",\"\",\"\",\"\"\n");
    write_text(tmp_path("cpo_hdr.csv"), "PC,PQ,EA,NO,CY\nS1 2HE,10,435240,387159,E92000001\n");
    fp_ctx *ctx = test_ctx();
    fp_postcodes_import_stats st;
    int rc = import_v(ctx, tmp_path("cpo.fpi"), &st, tmp_path("cpo.csv"), NULL);
    if (rc) fail_msg("%s", fp_ctx_errmsg(ctx));
    assert_int_equal(st.rows, 4); /* the first row is data, not a header */
    assert_int_equal(st.no_grid, 1);
    assert_int_equal(st.postcodes, 3);
    fp_postcodes *pc = open_ok(ctx, tmp_path("cpo.fpi"));
    static const struct { const char *pc; double e, n; } want[] = {
        {"S1 2HE", 435240, 387159}, {"S1 2HF", 435300, 387250}, {"DN55 1PT", 458000, 403000}};
    for (size_t i = 0; i < 3; i++) {
        double lat, lon;
        assert_int_equal(fp_bng_to_latlon(ctx, want[i].e, want[i].n, &lat, &lon), FP_OK);
        assert_at(pc, want[i].pc, lat, lon);
    }
    /* Sheffield, sanity of the transform itself. */
    double lat, lon;
    assert_int_equal(fp_postcodes_find(pc, "S1 2HE", &lat, &lon), FP_OK);
    assert_true(fabs(lat - 53.38011) < 0.0001 && fabs(lon + 1.47171) < 0.0001); /* cs2cs */
    assert_int_equal(fp_postcodes_find(pc, "S1 9ZZ", &lat, &lon), FP_ENOTFOUND);
    fp_postcodes_free(pc);

    rc = import_v(ctx, tmp_path("cpo_hdr.fpi"), &st, tmp_path("cpo_hdr.csv"), NULL);
    if (rc) fail_msg("%s", fp_ctx_errmsg(ctx));
    assert_int_equal(st.rows, 1);
    assert_int_equal(st.postcodes, 1);
    test_ctx_done(ctx);
}

/* ONSPD's layout: pcd (7 characters, "S1  2HE"), pcd2 (8), pcds, and
 * both coordinate kinds; pcds and lat/long are preferred.  Numbers in
 * other spellings, and more decimals than the index keeps. */
static void test_postcodes_import_onspd_columns_and_numbers(void **state)
{
    (void)state;
    write_text(tmp_path("onspd.csv"),
               "pcd,pcd2,pcds,dointr,doterm,oseast1m,osnrth1m,osgrdind,lat,long\n"
               "S1  2HE,S1   2HE,S1 2HE,198001,,435240,0387159,1,53.3817105,-1.4693805\n"
               "AB101AA,AB10 1AA,AB10 1AA,198001,,,,9,99.999999,0.000000\n"
               "DN551PT,DN55 1PT,DN55 1PT,198001,,458000,403000,1,5.35e1,+.5\n"
               "W1A 0AX,W1A  0AX,W1A 0AX,198001,,,,1,51.,-0.1120104999\n");
    write_text(tmp_path("pcd_only.csv"), "pcd,lat,long\nS1  2HE,53.38171,-1.46938\n");
    fp_ctx *ctx = test_ctx();
    fp_postcodes_import_stats st;
    int rc = import_v(ctx, tmp_path("onspd.fpi"), &st, tmp_path("onspd.csv"), NULL);
    if (rc) fail_msg("%s", fp_ctx_errmsg(ctx));
    assert_int_equal(st.postcodes, 3);
    assert_int_equal(st.no_grid, 1);
    fp_postcodes *pc = open_ok(ctx, tmp_path("onspd.fpi"));
    assert_at(pc, "S1 2HE", 53.381711, -1.469381); /* half away from zero */
    assert_at(pc, "DN55 1PT", 53.5, 0.5);
    assert_at(pc, "W1A 0AX", 51.0, -0.112010);
    assert_int_equal(fp_postcodes_find(pc, "AB10 1AA", NULL, NULL), FP_ENOTFOUND);
    fp_postcodes_free(pc);
    rc = import_v(ctx, tmp_path("pcd.fpi"), &st, tmp_path("pcd_only.csv"), NULL);
    if (rc) fail_msg("%s", fp_ctx_errmsg(ctx));
    pc = open_ok(ctx, tmp_path("pcd.fpi"));
    assert_at(pc, "S1 2HE", 53.38171, -1.46938);
    fp_postcodes_free(pc);
    test_ctx_done(ctx);
}

/* Every postcode of two indexes, in order, is the same. */
static void assert_same_index(const char *a, const char *b)
{
    fp_ctx *ctx = test_ctx();
    fp_postcodes *x = open_ok(ctx, a), *y = open_ok(ctx, b);
    assert_int_equal(fp_postcodes_count(x), fp_postcodes_count(y));
    for (size_t i = 0; i < fp_postcodes_count(x); i++) {
        char p[FP_POSTCODE_MAX], q[FP_POSTCODE_MAX];
        double la, lo, lb, lob;
        assert_int_equal(fp_postcodes_get(x, i, p, &la, &lo), FP_OK);
        assert_int_equal(fp_postcodes_get(y, i, q, &lb, &lob), FP_OK);
        assert_string_equal(p, q);
        assert_true(la == lb && lo == lob);
    }
    fp_postcodes_free(x);
    fp_postcodes_free(y);
    test_ctx_done(ctx);
}

static void test_postcodes_import_gzip(void **state)
{
    (void)state;
    char *csv = synthetic_csv(3000);
    write_text(tmp_path("plain.csv"), csv);
    write_gz(tmp_path("packed.csv.gz"), csv);
    write_gz(tmp_path("packed_no_suffix"), csv); /* told apart by content */
    write_gz(tmp_path("nspl.csv.gz"), NSPL_CSV);
    free(csv);
    fp_ctx *ctx = test_ctx();
    fp_postcodes_import_stats st;
    assert_int_equal(import_v(ctx, tmp_path("plain.fpi"), &st, tmp_path("plain.csv"), NULL), FP_OK);
    assert_int_equal(st.postcodes, 3000);
    assert_int_equal(import_v(ctx, tmp_path("gz.fpi"), &st, tmp_path("packed.csv.gz"), NULL), FP_OK);
    assert_int_equal(st.postcodes, 3000);
    assert_int_equal(import_v(ctx, tmp_path("gz2.fpi"), &st, tmp_path("packed_no_suffix"), NULL),
                     FP_OK);
    assert_int_equal(import_v(ctx, tmp_path("nsplgz.fpi"), &st, tmp_path("nspl.csv.gz"), NULL),
                     FP_OK);
    assert_int_equal(st.postcodes, 4);
    assert_int_equal(st.no_grid, 1);
    test_ctx_done(ctx);
    assert_same_index(tmp_path("plain.fpi"), tmp_path("gz.fpi"));
    assert_same_index(tmp_path("plain.fpi"), tmp_path("gz2.fpi"));
}

/* An import that fails leaves the output path as it was: absent, or the
 * previous index byte for byte; and no temporary file.  The bad file is
 * tried alone and after a good one (whose rows must not be written
 * either). */
static void import_fails(const char *input, int want, const char *needle)
{
    const char *out = tmp_path("guarded.fpi"), *fresh = tmp_path("fresh.fpi");
    unlink(fresh);
    size_t before_len;
    unsigned char *before = test_read_file(out, &before_len);
    fp_ctx *ctx = test_ctx();
    fp_postcodes_import_stats st;
    int rc = import_v(ctx, out, &st, input, NULL);
    if (rc != want) fail_msg("%s: status %d (%s), want %d", input, rc, fp_ctx_errmsg(ctx), want);
    assert_has(fp_ctx_errmsg(ctx), input);
    if (needle) assert_has(fp_ctx_errmsg(ctx), needle);
    assert_int_equal(st.postcodes, 0);
    rc = import_v(ctx, fresh, &st, tmp_path("first.csv"), input, NULL);
    if (rc != want) fail_msg("%s after a good file: status %d (%s)", input, rc, fp_ctx_errmsg(ctx));
    assert_has(fp_ctx_errmsg(ctx), input);
    test_ctx_done(ctx);
    assert_false(exists(fresh));
    size_t after_len;
    unsigned char *after = test_read_file(out, &after_len);
    assert_int_equal(after_len, before_len);
    assert_memory_equal(after, before, before_len);
    free(before);
    free(after);
    assert_no_temp_files();
}

static void prepare_guarded(void)
{
    write_text(tmp_path("first.csv"), "pcds,lat,long\nS1 2HE,53.38171,-1.46938\n");
    fp_ctx *ctx = test_ctx();
    assert_int_equal(import_v(ctx, tmp_path("guarded.fpi"), NULL, tmp_path("first.csv"), NULL),
                     FP_OK);
    test_ctx_done(ctx);
}

static void test_postcodes_import_truncated_csv(void **state)
{
    (void)state;
    prepare_guarded();
    /* Cut mid-row: too few fields. */
    write_text(tmp_path("short.csv"), "pcds,lat,long\nS1 2HE,53.381710,-1.469380\nS1 2HF,53.38");
    import_fails(tmp_path("short.csv"), FP_EFORMAT, "line 3");
    /* Cut mid-number: the fields are all there but the line end is not. */
    write_text(tmp_path("cut.csv"), "pcds,lat,long\nS1 2HE,53.381710,-1.469380\nS1 2HF,53.381,-1.4");
    import_fails(tmp_path("cut.csv"), FP_EFORMAT, "truncated");
    /* Cut inside a quoted field. */
    write_text(tmp_path("quote.csv"), "pcds,lat,long,name\nS1 2HE,53.381710,-1.469380,\"Shef");
    import_fails(tmp_path("quote.csv"), FP_EFORMAT, "unterminated quoted field");
    /* Cut after the header. */
    write_text(tmp_path("header.csv"), "pcds,lat,lo");
    import_fails(tmp_path("header.csv"), FP_EFIELD, "coordinate");
}

static void test_postcodes_import_truncated_gzip(void **state)
{
    (void)state;
    prepare_guarded();
    char *csv = synthetic_csv(5000);
    write_gz(tmp_path("whole.csv.gz"), csv);
    free(csv);
    size_t len;
    unsigned char *gz = test_read_file(tmp_path("whole.csv.gz"), &len);
    /* Anywhere: mid-stream, just before the trailer, inside the trailer. */
    const size_t cuts[] = {len / 3, len / 2, len - 9, len - 4, len - 1, 20};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        test_write_file(tmp_path("cut.csv.gz"), gz, cuts[i]);
        import_fails(tmp_path("cut.csv.gz"), FP_EFORMAT, NULL);
    }
    /* A damaged stream is no better. */
    gz[len / 2] ^= 0x55;
    test_write_file(tmp_path("bad.csv.gz"), gz, len);
    import_fails(tmp_path("bad.csv.gz"), FP_EFORMAT, NULL);
    free(gz);
}

static void test_postcodes_import_bad_inputs(void **state)
{
    (void)state;
    prepare_guarded();
    import_fails(tmp_path("missing.csv"), FP_EIO, "No such file");
    mkdir(tmp_path("adir"), 0755);
    import_fails(tmp_path("adir"), FP_EIO, "directory");
    write_text(tmp_path("empty.csv"), "");
    import_fails(tmp_path("empty.csv"), FP_EFORMAT, "empty");
    write_text(tmp_path("nopc.csv"), "code,lat,long\nX,53.3,-1.4\n");
    import_fails(tmp_path("nopc.csv"), FP_EFIELD, "postcode column");
    write_text(tmp_path("nocoord.csv"), "pcds,ctry\nS1 2HE,E92000001\n");
    import_fails(tmp_path("nocoord.csv"), FP_EFIELD, "coordinate");
    write_text(tmp_path("noheader.csv"), "S1 2HE,53.38171,-1.46938\n");
    import_fails(tmp_path("noheader.csv"), FP_EFORMAT, "no header");
    write_text(tmp_path("nan.csv"), "pcds,lat,long\nS1 2HE,53.38171,-1.46938\nS1 2HF,north,-1.4\n");
    import_fails(tmp_path("nan.csv"), FP_EFORMAT, "line 3");
    write_text(tmp_path("range.csv"), "pcds,lat,long\nS1 2HE,153.38171,-1.46938\n");
    import_fails(tmp_path("range.csv"), FP_EFORMAT, "out of range");
    write_text(tmp_path("inf.csv"), "pcds,lat,long\nS1 2HE,inf,-1.46938\n");
    import_fails(tmp_path("inf.csv"), FP_EFORMAT, "line 2");
    write_text(tmp_path("offgrid.csv"), "pcds,oseast1m,osnrth1m\nS1 2HE,935240,387159\n");
    import_fails(tmp_path("offgrid.csv"), FP_EFORMAT, "line 2");
    /* A binary file is not a CSV. */
    unsigned char junk[3000];
    rng_state = 7;
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)rnd();
    test_write_file(tmp_path("junk.bin"), junk, sizeof junk);
    fp_ctx *ctx = test_ctx();
    assert_int_not_equal(import_v(ctx, tmp_path("junk.fpi"), NULL, tmp_path("junk.bin"), NULL),
                         FP_OK);
    assert_has(fp_ctx_errmsg(ctx), "junk.bin");
    assert_false(exists(tmp_path("junk.fpi")));
    /* Nothing to index. */
    write_text(tmp_path("nogrid.csv"), "pcds,lat,long\nZZ9 9ZZ,99.999999,0.000000\nJUNK,1,1\n");
    fp_postcodes_import_stats st;
    assert_int_equal(import_v(ctx, tmp_path("nogrid.fpi"), &st, tmp_path("nogrid.csv"), NULL),
                     FP_EFORMAT);
    assert_has(fp_ctx_errmsg(ctx), "nogrid.csv");
    assert_has(fp_ctx_errmsg(ctx), "no postcode with coordinates");
    assert_int_equal(st.no_grid, 1);
    assert_int_equal(st.malformed, 1);
    assert_false(exists(tmp_path("nogrid.fpi")));
    /* No inputs, unwritable output. */
    assert_int_equal(fp_postcodes_import(ctx, NULL, 0, tmp_path("x.fpi"), NULL), FP_EINVAL);
    assert_int_equal(import_v(ctx, tmp_path("no/such/dir/x.fpi"), NULL, tmp_path("first.csv"), NULL),
                     FP_EIO);
    assert_has(fp_ctx_errmsg(ctx), "no/such/dir/x.fpi");
    test_ctx_done(ctx);
    assert_no_temp_files();
}

static void test_postcodes_import_skips_malformed(void **state)
{
    (void)state;
    write_text(tmp_path("mixed.csv"), "pcd,lat,long\n"
                                      "S1 2HE,53.38171,-1.46938\n"
                                      "NOT A POSTCODE,53.1,-1.1\n"
                                      ",53.1,-1.1\n"
                                      "S1  2HF,53.38,-1.47\n");
    fp_ctx *ctx = test_ctx();
    fp_postcodes_import_stats st;
    assert_int_equal(import_v(ctx, tmp_path("mixed.fpi"), &st, tmp_path("mixed.csv"), NULL), FP_OK);
    assert_int_equal(st.rows, 4);
    assert_int_equal(st.malformed, 2);
    assert_int_equal(st.postcodes, 2);
    assert_has(st.first_malformed, "mixed.csv line 3");
    assert_has(st.first_malformed, "NOT A POSTCODE");
    test_ctx_done(ctx);
}

/* The last occurrence wins, within a file and across files. */
static void test_postcodes_import_duplicates_last_wins(void **state)
{
    (void)state;
    write_text(tmp_path("old.csv"), "pcds,lat,long\n"
                                    "S1 2HE,53.0,-1.0\n"
                                    "AB1 0AA,57.1,-2.2\n"
                                    "DN55 1PT,53.5,-1.1\n");
    write_text(tmp_path("new.csv"), "pcds,lat,long\n"
                                    "S12HE,53.381710,-1.469380\n"
                                    "AB101AA,57.14821,-2.09665\n"
                                    "ab10 1aa,57.14822,-2.09666\n"
                                    "DN55 1PT,53.5,-1.1\n");
    fp_ctx *ctx = test_ctx();
    fp_postcodes_import_stats st;
    assert_int_equal(import_v(ctx, tmp_path("dup.fpi"), &st, tmp_path("old.csv"),
                              tmp_path("new.csv"), NULL),
                     FP_OK);
    assert_int_equal(st.files, 2);
    assert_int_equal(st.rows, 7);
    assert_int_equal(st.duplicates, 3);
    assert_int_equal(st.moved, 2); /* S1 2HE, AB10 1AA; DN55 1PT unchanged */
    assert_int_equal(st.postcodes, 4);
    fp_postcodes *pc = open_ok(ctx, tmp_path("dup.fpi"));
    assert_at(pc, "S1 2HE", 53.381710, -1.469380);
    assert_at(pc, "AB10 1AA", 57.14822, -2.09666);
    assert_at(pc, "AB1 0AA", 57.1, -2.2);
    assert_at(pc, "DN55 1PT", 53.5, -1.1);
    /* The sources list both, in order. */
    const char *s = fp_postcodes_sources(pc);
    const char *a = strstr(s, "old.csv"), *b = strstr(s, "new.csv");
    assert_true(a && b && a < b);
    fp_postcodes_free(pc);
    test_ctx_done(ctx);
}

/* ---- lookups ---- */

static void test_postcodes_find_unknown_and_malformed(void **state)
{
    (void)state;
    write_text(tmp_path("few.csv"), NSPL_CSV);
    fp_ctx *ctx = test_ctx();
    assert_int_equal(import_v(ctx, tmp_path("few.fpi"), NULL, tmp_path("few.csv"), NULL), FP_OK);
    fp_postcodes *pc = open_ok(ctx, tmp_path("few.fpi"));
    double lat = 7, lon = 7;
    assert_int_equal(fp_postcodes_find(pc, "S1 2HF", &lat, &lon), FP_ENOTFOUND); /* district known */
    assert_int_equal(fp_postcodes_find(pc, "S2 2HE", &lat, &lon), FP_ENOTFOUND); /* district unknown */
    assert_int_equal(fp_postcodes_find(pc, "A1 1AA", &lat, &lon), FP_ENOTFOUND); /* before the first */
    assert_int_equal(fp_postcodes_find(pc, "ZZ99 9ZZ", &lat, &lon), FP_ENOTFOUND); /* after the last */
    assert_true(lat == 7 && lon == 7); /* untouched */
    assert_int_equal(fp_postcodes_find(pc, "S1-2HE", &lat, &lon), FP_EINVAL);
    assert_int_equal(fp_postcodes_find(pc, "", &lat, &lon), FP_EINVAL);
    assert_int_equal(fp_postcodes_find(pc, NULL, &lat, &lon), FP_EINVAL);
    assert_int_equal(fp_postcodes_find(pc, "s1 2he", NULL, NULL), FP_OK);
    assert_int_equal(fp_postcodes_find(pc, " S12HE ", NULL, &lon), FP_OK);
    assert_true(fabs(lon + 1.46938) < 1e-9);

    const char *q[] = {"S1 2HE", "junk", "S1 2HF", "ec1a1bb"};
    double la[4], lo[4];
    int stv[4];
    assert_int_equal(fp_postcodes_find_n(pc, q, 4, la, lo, stv), 2);
    assert_int_equal(stv[0], FP_OK);
    assert_int_equal(stv[1], FP_EINVAL);
    assert_int_equal(stv[2], FP_ENOTFOUND);
    assert_int_equal(stv[3], FP_OK);
    assert_true(la[0] == 53.38171 && lo[0] == -1.46938);
    assert_true(isnan(la[1]) && isnan(lo[2]));
    assert_true(la[3] == 51.52456);
    fp_postcodes_free(pc);
    test_ctx_done(ctx);
}

static void test_postcodes_get_in_order(void **state)
{
    (void)state;
    const char *path = tmp_path("order.fpi");
    make_synthetic(path, 5000);
    fp_ctx *ctx = test_ctx();
    fp_postcodes *pc = open_ok(ctx, path);
    char prev[FP_POSTCODE_MAX] = "";
    char prevo[5] = "";
    for (size_t i = 0; i < fp_postcodes_count(pc); i++) {
        char p[FP_POSTCODE_MAX];
        double lat, lon, y, x;
        assert_int_equal(fp_postcodes_get(pc, i, p, &lat, &lon), FP_OK);
        assert_int_equal(fp_postcodes_find(pc, p, &y, &x), FP_OK);
        assert_true(y == lat && x == lon);
        char o[5] = "";
        sscanf(p, "%4s", o);
        if (i && strcmp(o, prevo) == 0)
            assert_true(strcmp(p, prev) > 0);
        else if (i) /* districts in byte order of their NUL-padded codes */
            assert_true(memcmp(o, prevo, 4) > 0);
        strcpy(prev, p);
        strcpy(prevo, o);
    }
    char p[FP_POSTCODE_MAX];
    assert_int_equal(fp_postcodes_get(pc, fp_postcodes_count(pc), p, NULL, NULL), FP_EINVAL);
    assert_string_equal(p, "");
    fp_postcodes_free(pc);
    test_ctx_done(ctx);
}

typedef struct thread_arg {
    const fp_postcodes *pc;
    size_t from, step;
    int bad;
} thread_arg;

static void *finder(void *p)
{
    thread_arg *t = p;
    for (size_t i = t->from; i < fp_postcodes_count(t->pc); i += t->step) {
        char pcs[FP_POSTCODE_MAX];
        double lat, lon, y, x;
        /* find first: the districts are verified by whichever thread comes first */
        if (fp_postcodes_get(t->pc, i, pcs, &lat, &lon) != FP_OK ||
            fp_postcodes_find(t->pc, pcs, &y, &x) != FP_OK || y != lat || x != lon)
            t->bad++;
    }
    return NULL;
}

static void test_postcodes_threads_agree(void **state)
{
    (void)state;
    const char *path = tmp_path("threads.fpi");
    make_synthetic(path, 20000);
    fp_ctx *ctx = test_ctx();
    fp_postcodes *pc = open_ok(ctx, path);
    pthread_t th[4];
    thread_arg ta[4];
    for (int i = 0; i < 4; i++) {
        ta[i] = (thread_arg){pc, (size_t)i, 4, 0};
        assert_int_equal(pthread_create(&th[i], NULL, finder, &ta[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ta[i].bad, 0);
    }
    fp_postcodes_free(pc);
    test_ctx_done(ctx);
}

static void test_postcodes_outlive_context(void **state)
{
    (void)state;
    const char *path = tmp_path("outlive.fpi");
    make_synthetic(path, 300);
    fp_ctx *ctx = test_ctx();
    fp_postcodes *pc = open_ok(ctx, path);
    fp_ctx_free(ctx);
    assert_int_equal(fp_postcodes_count(pc), 300);
    assert_int_equal(fp_postcodes_find(pc, "AA1 0AA", NULL, NULL), FP_OK);
    fp_postcodes_free(pc);
    fp_postcodes_free(NULL);
    assert_int_equal(test_alloc_outstanding(), 0);
}

/* ---- the index file: damage ---- */

static void test_postcodes_open_not_an_index(void **state)
{
    (void)state;
    open_fails(tmp_path("nothing.fpi"), FP_EIO, "No such file");
    mkdir(tmp_path("dir.fpi"), 0755);
    open_fails(tmp_path("dir.fpi"), FP_EIO, "not a regular file");
    unlink(tmp_path("fifo.fpi"));
    assert_int_equal(mkfifo(tmp_path("fifo.fpi"), 0644), 0);
    open_fails(tmp_path("fifo.fpi"), FP_EIO, "not a regular file");
    write_text(tmp_path("small.fpi"), "FPPCODE");
    open_fails(tmp_path("small.fpi"), FP_EFORMAT, "not a footprint postcode index");
    write_text(tmp_path("csv.fpi"), NSPL_CSV);
    open_fails(tmp_path("csv.fpi"), FP_EFORMAT, "not a footprint postcode index");

    const char *path = tmp_path("good.fpi");
    make_synthetic(path, 400);
    size_t len;
    unsigned char *f = test_read_file(path, &len);
    t_hdr *h = (t_hdr *)f;
    h->version = 2;
    reseal(f, len);
    test_write_file(tmp_path("v2.fpi"), f, len);
    open_fails(tmp_path("v2.fpi"), FP_EFORMAT, "format 2");
    h->version = 1;
    h->bom = 0x04030201;
    reseal(f, len);
    test_write_file(tmp_path("bom.fpi"), f, len);
    open_fails(tmp_path("bom.fpi"), FP_EFORMAT, "byte order");
    free(f);
}

static void test_postcodes_truncated_index(void **state)
{
    (void)state;
    const char *path = tmp_path("whole.fpi");
    make_synthetic(path, 400);
    size_t len;
    unsigned char *f = test_read_file(path, &len);
    for (size_t cut = 0; cut < len; cut += cut < 256 ? 1 : 7) {
        test_write_file(tmp_path("cut.fpi"), f, cut);
        open_fails(tmp_path("cut.fpi"), FP_EFORMAT, NULL);
    }
    /* Extended is no better than truncated. */
    unsigned char *g = calloc(1, len + 8);
    memcpy(g, f, len);
    test_write_file(tmp_path("long.fpi"), g, len + 8);
    open_fails(tmp_path("long.fpi"), FP_EFORMAT, "truncated or extended");
    free(g);
    free(f);
}

/* Opens the image; returns 1 when the damage was caught (open or verify
 * failed), 0 when the index checks out.  Either way, no lookup may give
 * an answer that differs from the original's. */
static int damage_caught(const unsigned char *img, size_t len, const char *const *pcs,
                         const double *lat, const double *lon, size_t n)
{
    const char *path = tmp_path("damaged.fpi");
    test_write_file(path, img, len);
    fp_ctx *ctx = test_ctx();
    fp_postcodes *pc = NULL;
    int rc = fp_postcodes_open(ctx, path, &pc);
    int caught = rc != FP_OK;
    if (rc) {
        assert_int_equal(rc, FP_EFORMAT);
        assert_has(fp_ctx_errmsg(ctx), path);
    } else {
        for (size_t i = 0; i < n; i++) {
            double y, x;
            int st = fp_postcodes_find(pc, pcs[i], &y, &x);
            if (st == FP_OK && (y != lat[i] || x != lon[i]))
                fail_msg("%s: wrong answer from a damaged index", pcs[i]);
            if (st != FP_OK && st != FP_EFORMAT)
                fail_msg("%s: status %d from a damaged index", pcs[i], st);
            caught |= st == FP_EFORMAT;
        }
        rc = fp_postcodes_verify(ctx, pc);
        if (rc) {
            assert_int_equal(rc, FP_EFORMAT);
            assert_has(fp_ctx_errmsg(ctx), "damaged");
            caught = 1;
        }
        fp_postcodes_free(pc);
    }
    test_ctx_done(ctx);
    return caught;
}

/* Every single-bit flip anywhere in the file is caught. */
static void test_postcodes_bit_flips_caught(void **state)
{
    (void)state;
    const char *path = tmp_path("flip.fpi");
    make_synthetic(path, 250); /* two districts */
    size_t len;
    unsigned char *f = test_read_file(path, &len);
    fp_ctx *ctx = test_ctx();
    fp_postcodes *pc = open_ok(ctx, path);
    size_t n = fp_postcodes_count(pc);
    char(*names)[FP_POSTCODE_MAX] = calloc(n, sizeof *names);
    const char **pcs = calloc(n, sizeof *pcs);
    double *lat = calloc(n, sizeof *lat), *lon = calloc(n, sizeof *lon);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(fp_postcodes_get(pc, i, names[i], &lat[i], &lon[i]), FP_OK);
        pcs[i] = names[i];
    }
    fp_postcodes_free(pc);
    test_ctx_done(ctx);
    /* Every bit of the header and district table; one bit (rotating) of
     * every other byte: each byte is covered by exactly one checksum or
     * zero check, so that is all of them. */
    for (size_t byte = 0; byte < len; byte++)
        for (int bit = byte < 128 + 2 * 24 ? 0 : (int)(byte % 8); bit < 8;
             bit += byte < 128 + 2 * 24 ? 1 : 8) {
            f[byte] ^= (unsigned char)(1u << bit);
            if (!damage_caught(f, len, pcs, lat, lon, n))
                fail_msg("flip of bit %d of byte %zu (of %zu) went unnoticed", bit, byte, len);
            f[byte] ^= (unsigned char)(1u << bit);
        }
    assert_int_equal(damage_caught(f, len, pcs, lat, lon, n), 0); /* restored: fine */
    free(names);
    free(pcs);
    free(lat);
    free(lon);
    free(f);
}

/* A damaged district fails its own lookups and no others. */
static void test_postcodes_damaged_district_is_local(void **state)
{
    (void)state;
    const char *path = tmp_path("local.fpi");
    make_synthetic(path, 1000); /* districts AA1..AE5, 200 postcodes each */
    size_t len;
    unsigned char *f = test_read_file(path, &len);
    t_hdr h;
    memcpy(&h, f, sizeof h);
    assert_int_equal(h.ndist, 5);
    t_dist *d1 = (t_dist *)(f + h.dist_off + sizeof(t_dist));
    f[h.coords_off + 8 * (size_t)d1->first + 8 * 17] ^= 1; /* one coordinate of district 1 */
    char code[5] = {0};
    memcpy(code, d1->code, 4);
    test_write_file(path, f, len);
    fp_ctx *ctx = test_ctx();
    fp_postcodes *pc = open_ok(ctx, path);
    char q[16];
    snprintf(q, sizeof q, "%s 0AA", code);
    assert_int_equal(fp_postcodes_find(pc, q, NULL, NULL), FP_EFORMAT);
    assert_int_equal(fp_postcodes_find(pc, q, NULL, NULL), FP_EFORMAT); /* remembered */
    char p[FP_POSTCODE_MAX];
    assert_int_equal(fp_postcodes_get(pc, d1->first + 3, p, NULL, NULL), FP_EFORMAT);
    assert_int_equal(fp_postcodes_get(pc, 0, p, NULL, NULL), FP_OK);
    assert_int_equal(fp_postcodes_find(pc, p, NULL, NULL), FP_OK);
    assert_int_equal(fp_postcodes_verify(ctx, pc), FP_EFORMAT);
    assert_has(fp_ctx_errmsg(ctx), path);
    assert_has(fp_ctx_errmsg(ctx), code);
    assert_has(fp_ctx_errmsg(ctx), "checksum");
    fp_postcodes_free(pc);
    test_ctx_done(ctx);
    free(f);
}

/* A forger who recomputes every checksum still cannot make the reader
 * leave the file or give an answer from records out of order. */
static void test_postcodes_crafted_refused(void **state)
{
    (void)state;
    const char *path = tmp_path("craft.fpi"), *bad = tmp_path("crafted.fpi");
    make_synthetic(path, 1000);
    size_t len;
    unsigned char *orig = test_read_file(path, &len), *f = malloc(len);
    t_hdr h0;
    memcpy(&h0, orig, sizeof h0);
    /* Header fields, one at a time, set to damaging values. */
    static const size_t fields[] = {offsetof(t_hdr, count), offsetof(t_hdr, ndist),
                                    offsetof(t_hdr, dist_off), offsetof(t_hdr, keys_off),
                                    offsetof(t_hdr, coords_off), offsetof(t_hdr, sources_off),
                                    offsetof(t_hdr, sources_len), offsetof(t_hdr, file_size)};
    static const uint64_t values[] = {0, 1, 2, 7, 1000, 999, 1001, 4096, UINT32_MAX,
                                      (uint64_t)1 << 40, UINT64_MAX, UINT64_MAX - 7};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        for (size_t v = 0; v < sizeof values / sizeof *values; v++) {
            memcpy(f, orig, len);
            size_t w = fields[i] == offsetof(t_hdr, ndist) ? 4 : 8;
            uint64_t val = values[v];
            memcpy(f + fields[i], &val, w); /* little-endian: low bytes first */
            reseal(f, len);
            if (memcmp(f, orig, sizeof(t_hdr)) == 0) continue;
            test_write_file(bad, f, len);
            open_fails(bad, FP_EFORMAT, NULL);
        }
    /* District entries pointing outside, overlapping, out of order. */
    for (int k = 0; k < 6; k++) {
        memcpy(f, orig, len);
        t_dist *d = (t_dist *)(f + h0.dist_off);
        switch (k) {
        case 0: d[1].first += 1; break;
        case 1: d[4].n += 1; break;
        case 2: d[0].n = 0, d[1].first = 0, d[1].n += 200; break;
        case 3: memcpy(d[0].code, "ZZ9", 4); break;
        case 4: memcpy(d[2].code, "A-1", 4); break;
        case 5: d[3].reserved = 1; break;
        }
        reseal(f, len);
        test_write_file(bad, f, len);
        open_fails(bad, FP_EFORMAT, NULL);
    }
    /* Records out of order or out of range behind a valid checksum. */
    for (int k = 0; k < 3; k++) {
        memcpy(f, orig, len);
        uint16_t *keys = (uint16_t *)(f + h0.keys_off);
        int32_t *c = (int32_t *)(f + h0.coords_off);
        if (k == 0) {
            uint16_t t = keys[5];
            keys[5] = keys[6], keys[6] = t;
        } else if (k == 1) {
            keys[7] = 7000;
        } else {
            c[2 * 9] = 95000000;
        }
        reseal(f, len);
        test_write_file(bad, f, len);
        fp_ctx *ctx = test_ctx();
        fp_postcodes *pc = open_ok(ctx, bad);
        assert_int_equal(fp_postcodes_find(pc, "AA1 0AA", NULL, NULL), FP_EFORMAT);
        assert_int_equal(fp_postcodes_verify(ctx, pc), FP_EFORMAT);
        fp_postcodes_free(pc);
        test_ctx_done(ctx);
    }
    /* Random garbage with a sealed header: never a crash. */
    rng_state = 99;
    for (int k = 0; k < 1000; k++) {
        memcpy(f, orig, len);
        int nflip = 1 + (int)(rnd() % 8);
        for (int j = 0; j < nflip; j++) {
            size_t at = rnd() % (k % 2 ? len : sizeof(t_hdr) + 5 * sizeof(t_dist));
            f[at] = (unsigned char)rnd();
        }
        reseal(f, len);
        test_write_file(bad, f, len);
        fp_ctx *ctx = test_ctx();
        fp_postcodes *pc = NULL;
        if (fp_postcodes_open(ctx, bad, &pc) == FP_OK) {
            for (size_t i = 0; i < fp_postcodes_count(pc); i += 37) {
                char p[FP_POSTCODE_MAX];
                if (fp_postcodes_get(pc, i, p, NULL, NULL) == FP_OK)
                    assert_int_not_equal(fp_postcodes_find(pc, p, NULL, NULL), FP_EINVAL);
            }
            (void)fp_postcodes_verify(ctx, pc);
            fp_postcodes_free(pc);
        }
        test_ctx_done(ctx);
    }
    free(f);
    free(orig);
}

/* Found by fuzz_postcode: a resealed index listing "GIR 5GB" opened, and
 * fp_postcodes_get returned a postcode that find calls malformed. */
static void test_postcodes_crafted_gir_refused(void **state)
{
    (void)state;
    const char *csv = tmp_path("gir.csv"), *path = tmp_path("gir.fpi"),
               *bad = tmp_path("gir-bad.fpi");
    write_text(csv, "pcds,lat,long\nGIR 0AA,51.501,-0.142\nAB1 2CD,57.1,-2.1\n");
    fp_ctx *ctx = test_ctx();
    fp_postcodes_import_stats st;
    if (import_v(ctx, path, &st, csv, NULL)) fail_msg("%s", fp_ctx_errmsg(ctx));
    assert_int_equal(st.postcodes, 2);
    fp_postcodes *pc = open_ok(ctx, path);
    assert_at(pc, "gir0aa", 51.501, -0.142);
    fp_postcodes_free(pc);

    size_t len;
    unsigned char *f = test_read_file(path, &len);
    t_hdr h;
    memcpy(&h, f, sizeof h);
    int found = 0;
    for (uint32_t i = 0; i < h.ndist; i++) {
        t_dist d;
        memcpy(&d, f + h.dist_off + i * sizeof d, sizeof d);
        if (memcmp(d.code, "GIR", 4) != 0) continue;
        assert_int_equal(d.n, 1);
        uint16_t key = 1 * 26 * 26 + 6 * 26 + 1; /* an inward code 1GB */
        memcpy(f + h.keys_off + 2 * (size_t)d.first, &key, sizeof key);
        found = 1;
    }
    assert_true(found);
    reseal(f, len);
    test_write_file(bad, f, len);
    pc = open_ok(ctx, bad);
    char p[FP_POSTCODE_MAX];
    int got_gir = 0;
    for (size_t i = 0; i < fp_postcodes_count(pc); i++) {
        int rc = fp_postcodes_get(pc, i, p, NULL, NULL);
        if (rc == FP_OK) {
            assert_int_not_equal(fp_postcodes_find(pc, p, NULL, NULL), FP_EINVAL);
        } else {
            assert_int_equal(rc, FP_EFORMAT);
            got_gir = 1;
        }
    }
    assert_true(got_gir);
    assert_int_equal(fp_postcodes_find(pc, "AB1 2CD", NULL, NULL), FP_OK);
    assert_int_equal(fp_postcodes_verify(ctx, pc), FP_EFORMAT);
    assert_has(fp_ctx_errmsg(ctx), "GIR");
    fp_postcodes_free(pc);

    /* Nor does the writer make such an index. */
    int32_t ll[2] = {51501000, -142000};
    uint64_t gir;
    assert_true(fp__postcode_key("GIR 0AA", &gir));
    const char *w = tmp_path("gir-written.fpi");
    assert_int_equal(fp__postcodes_write(ctx, w, &gir, ll, 1, "test\n", NULL, NULL), FP_OK);
    gir += 1; /* GIR 0AB */
    assert_int_equal(fp__postcodes_write(ctx, w, &gir, ll, 1, "test\n", NULL, NULL), FP_EINVAL);
    test_ctx_done(ctx);
    free(f);
}

/* ---- allocation failures ---- */

static void test_postcodes_import_allocation_failures(void **state)
{
    (void)state;
    write_text(tmp_path("alloc.csv"), NSPL_CSV);
    const char *out = tmp_path("alloc.fpi");
    int ok = 0;
    for (long k = 0; k < 2000 && !ok; k++) {
        unlink(out);
        fp_ctx *ctx = test_ctx();
        test_alloc_fail_after(k);
        int rc = import_v(ctx, out, NULL, tmp_path("alloc.csv"), NULL);
        test_alloc_fail_after(-1);
        if (rc == FP_OK) {
            ok = 1;
        } else {
            if (rc != FP_ENOMEM) fail_msg("failing allocation %ld: %s (%d)", k, fp_ctx_errmsg(ctx), rc);
            assert_false(exists(out));
        }
        test_ctx_done(ctx);
    }
    assert_true(ok);
    assert_no_temp_files();
}

static void test_postcodes_open_allocation_failures(void **state)
{
    (void)state;
    const char *path = tmp_path("allocopen.fpi");
    make_synthetic(path, 300);
    int ok = 0;
    for (long k = 0; k < 50 && !ok; k++) {
        fp_ctx *ctx = test_ctx();
        fp_postcodes *pc = NULL;
        test_alloc_fail_after(k);
        int rc = fp_postcodes_open(ctx, path, &pc);
        test_alloc_fail_after(-1);
        if (rc == FP_OK) {
            ok = 1;
            assert_int_equal(fp_postcodes_find(pc, "AA1 0AA", NULL, NULL), FP_OK);
            fp_postcodes_free(pc);
        } else {
            assert_int_equal(rc, FP_ENOMEM);
            assert_null(pc);
        }
        test_ctx_done(ctx);
    }
    assert_true(ok);
}

/* ---- the real ONS files ---- */

/* Splits a CSV line of plain fields (no quotes) in place. */
static size_t split(char *line, char **f, size_t max)
{
    size_t n = 0;
    char *p = line;
    while (n < max) {
        f[n++] = p;
        p = strchr(p, ',');
        if (!p) break;
        *p++ = '\0';
    }
    return n;
}

/* Every row of postcodes_nspl_nov2021.csv is in the index, at exactly the
 * coordinates the file gives. */
static void test_postcodes_real_nspl(void **state)
{
    (void)state;
    const char *src = test_data_path("postcodes/postcodes_nspl_nov2021.csv");
    const char *out = tmp_path("nspl2021.fpi");
    fp_ctx *ctx = test_ctx();
    fp_postcodes_import_stats st;
    int rc = import_v(ctx, out, &st, src, NULL);
    if (rc) fail_msg("%s", fp_ctx_errmsg(ctx));
    assert_int_equal(st.rows, 66542);
    assert_int_equal(st.postcodes, 66542);
    assert_int_equal(st.no_grid + st.malformed + st.duplicates, 0);
    fp_postcodes *pc = open_ok(ctx, out);
    assert_int_equal(fp_postcodes_verify(ctx, pc), FP_OK);
    assert_at(pc, "DG1 1AA", 55.069708, -3.609592);
    assert_at(pc, "dg11ag", 55.186600, -3.598957);
    FILE *f = fopen(src, "r");
    assert_non_null(f);
    char line[1024];
    size_t rows = 0;
    assert_non_null(fgets(line, sizeof line, f)); /* header */
    while (fgets(line, sizeof line, f)) {
        char *fl[4];
        assert_true(split(line, fl, 4) >= 3);
        double lat, lon;
        rc = fp_postcodes_find(pc, fl[0], &lat, &lon);
        if (rc) fail_msg("%s: status %d", fl[0], rc);
        if (llround(lat * 1e6) != llround(strtod(fl[1], NULL) * 1e6) ||
            llround(lon * 1e6) != llround(strtod(fl[2], NULL) * 1e6))
            fail_msg("%s: %.6f %.6f, file says %s %s", fl[0], lat, lon, fl[1], fl[2]);
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, 66542);
    fp_postcodes_free(pc);
    test_ctx_done(ctx);
}

/* The 2.63M-row gzip list with both spacing styles, imported after the
 * 2021 extract: the 2025 rows win; a sample of rows checked against the
 * file. */
static void test_postcodes_real_gb_gzip(void **state)
{
    (void)state;
    const char *old = test_data_path("postcodes/postcodes_nspl_nov2021.csv");
    const char *src = test_data_path("postcodes/postcodes_latlon_gb_nspl_may2025.csv.gz");
    const char *out = tmp_path("gb.fpi");
    fp_ctx *ctx = test_ctx();
    fp_postcodes_import_stats st;
    int rc = import_v(ctx, out, &st, old, src, NULL);
    if (rc) fail_msg("%s", fp_ctx_errmsg(ctx));
    assert_int_equal(st.rows, 66542 + 2630686);
    assert_int_equal(st.malformed + st.no_grid, 0);
    assert_int_equal(st.postcodes + st.duplicates, st.rows);
    assert_int_equal(st.duplicates, 66542); /* every 2021 postcode is in the 2025 list */
    assert_int_equal(st.postcodes, 2630686);
    assert_true(st.moved > 0);
    fp_postcodes *pc = open_ok(ctx, out);
    assert_true(fp_postcodes_size(pc) < 40u * 1000 * 1000);
    /* In both files: the 2025 value (5 decimals). */
    assert_at(pc, "DG1 1AA", 55.06963, -3.60972); /* 2021: 55.069708, -3.609592 */
    gzFile g = gzopen(src, "rb");
    assert_non_null(g);
    char line[256];
    size_t rows = 0, nospace = 0;
    assert_non_null(gzgets(g, line, sizeof line));
    while (gzgets(g, line, sizeof line)) {
        if (rows++ % 509) continue;
        char *fl[4];
        assert_int_equal(split(line, fl, 4), 3);
        nospace += strchr(fl[0], ' ') == NULL;
        assert_at(pc, fl[0], strtod(fl[1], NULL), strtod(fl[2], NULL));
    }
    gzclose(g);
    assert_int_equal(rows, 2630686);
    assert_true(nospace > 1000); /* the AB101AA style was exercised */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(fp_postcodes_verify(ctx, pc), FP_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print_message("# %zu postcodes, %zu districts, %.1f MB; full verification %.1f ms\n",
                  fp_postcodes_count(pc), fp_postcodes_districts(pc),
                  fp_postcodes_size(pc) / 1e6,
                  ((double)(t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6));
    fp_postcodes_free(pc);
    test_ctx_done(ctx);
}

static int setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/fp-test-postcode.XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    test_rm_tree(root);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_postcode_normalise_table),
        cmocka_unit_test(test_postcode_normalise_random_idempotent),
        cmocka_unit_test(test_postcodes_import_nspl_quotes_crlf_bom),
        cmocka_unit_test(test_postcodes_import_codepoint_bng),
        cmocka_unit_test(test_postcodes_import_onspd_columns_and_numbers),
        cmocka_unit_test(test_postcodes_import_gzip),
        cmocka_unit_test(test_postcodes_import_truncated_csv),
        cmocka_unit_test(test_postcodes_import_truncated_gzip),
        cmocka_unit_test(test_postcodes_import_bad_inputs),
        cmocka_unit_test(test_postcodes_import_skips_malformed),
        cmocka_unit_test(test_postcodes_import_duplicates_last_wins),
        cmocka_unit_test(test_postcodes_find_unknown_and_malformed),
        cmocka_unit_test(test_postcodes_get_in_order),
        cmocka_unit_test(test_postcodes_threads_agree),
        cmocka_unit_test(test_postcodes_outlive_context),
        cmocka_unit_test(test_postcodes_open_not_an_index),
        cmocka_unit_test(test_postcodes_truncated_index),
        cmocka_unit_test(test_postcodes_bit_flips_caught),
        cmocka_unit_test(test_postcodes_damaged_district_is_local),
        cmocka_unit_test(test_postcodes_crafted_refused),
        cmocka_unit_test(test_postcodes_crafted_gir_refused),
        cmocka_unit_test(test_postcodes_import_allocation_failures),
        cmocka_unit_test(test_postcodes_open_allocation_failures),
        cmocka_unit_test(test_postcodes_real_nspl),
        cmocka_unit_test(test_postcodes_real_gb_gzip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
