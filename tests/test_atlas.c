/* Unit tests for lib/src/atlas.c: the compiled atlas answers exactly as
 * the boundary files do, and a damaged, truncated, foreign, crafted or
 * stale file is a clean error, never a crash or a wrong answer.
 *
 * The group setup compiles icb2023 and stp2017 from the ONS mirror once
 * (with the C library's allocator, so the leak counts of the tests stay
 * their own); the corruption tests work on copies of it. */
#include "support.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "format.h"
#include "internal.h"

/* ---- the file format (lib/src/format.h) ---- */

typedef fp__atlas_hdr t_hdr;
typedef fp__atlas_sect t_sect;
typedef fp__atlas_lhdr t_lhdr;

/* ---- shared state (made by the group setup) ---- */

static char root[256];
static char atlas_path[512];    /* icb2023 + stp2017 from the mirror */
static unsigned char *pristine; /* its bytes */
static size_t pristine_len;
static fp_ctx *gctx;            /* C-library allocator: not leak-counted */
static fp_catalogue *gcat;
static fp_layer *ref_icb, *ref_stp; /* fp_edition_open's layers */

static const char *const EDITIONS[] = {"icb2023", "stp2017"};

/* ---- helpers ---- */


/* root + "/" + name, in one of 32 rotating buffers. */
static const char *tmp_path(const char *name)
{
    static char bufs[32][512];
    static int slot;
    char *b = bufs[slot++ & 31];
    snprintf(b, sizeof bufs[0], "%s/%s", root, name);
    return b;
}

static void copy_file(const char *from, const char *to)
{
    size_t n;
    unsigned char *b = test_read_file(from, &n);
    test_write_file(to, b, n);
    free(b);
}

static void assert_has(const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("\"%s\" does not mention \"%s\"", text, needle);
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

static double uniform(double lo, double hi)
{
    return lo + (hi - lo) * (double)(rnd() >> 11) * (1.0 / 9007199254740992.0);
}

/* Points over England and around it, with a tenth well outside. */
static void random_points(double *lat, double *lon, size_t n, uint64_t seed)
{
    rng_state = seed;
    for (size_t i = 0; i < n; i++) {
        if (i % 10 == 9) {
            lat[i] = uniform(45, 62);
            lon[i] = uniform(-12, 6);
        } else {
            lat[i] = uniform(49.8, 55.9);
            lon[i] = uniform(-6.5, 2.0);
        }
    }
}

/* Section `name` of the atlas image f: its table entry, or NULL. */
static t_sect *find_sect(unsigned char *f, const char *name)
{
    t_hdr h;
    memcpy(&h, f, sizeof h);
    for (uint32_t i = 0; i < h.nsect; i++) {
        t_sect *s = (t_sect *)(f + 64 + 64 * (size_t)i);
        if (strncmp(s->name, name, 40) == 0) return s;
    }
    return NULL;
}

/* Recomputes every checksum of the image, as a forger would. */
static void reseal(unsigned char *f)
{
    t_hdr h;
    memcpy(&h, f, sizeof h);
    for (uint32_t i = 0; i < h.nsect; i++) {
        t_sect *s = (t_sect *)(f + 64 + 64 * (size_t)i);
        s->hash = fp__hash64(f + s->offset, (size_t)s->length);
    }
    h.table_hash = fp__hash64(f + 64, 64 * (size_t)h.nsect);
    memcpy(f, &h, sizeof h);
}

/* fp_atlas_open must fail with `want` and a message naming the path (and
 * `needle`), leaving *out NULL. */
static void open_fails(const char *path, int want, const char *needle)
{
    fp_ctx *ctx = test_ctx();
    fp_atlas *a = (fp_atlas *)1;
    int rc = fp_atlas_open(ctx, path, &a);
    if (rc != want)
        fail_msg("open %s: status %d (%s), want %d", path, rc, fp_ctx_errmsg(ctx), want);
    assert_null(a);
    assert_int_equal(fp_ctx_errcode(ctx), want);
    assert_has(fp_ctx_errmsg(ctx), path);
    if (needle) assert_has(fp_ctx_errmsg(ctx), needle);
    test_ctx_done(ctx);
}

static fp_atlas *open_ok(fp_ctx *ctx, const char *path)
{
    fp_atlas *a = NULL;
    int rc = fp_atlas_open(ctx, path, &a);
    if (rc) fail_msg("open %s: %s (%d)", path, fp_ctx_errmsg(ctx), rc);
    assert_non_null(a);
    assert_int_equal(fp_ctx_errcode(ctx), FP_OK);
    return a;
}

static const fp_layer *layer_ok(fp_ctx *ctx, const fp_atlas *a, const char *ed)
{
    const fp_layer *L = NULL;
    int rc = fp_atlas_layer(ctx, a, ed, &L);
    if (rc) fail_msg("layer %s: %s (%d)", ed, fp_ctx_errmsg(ctx), rc);
    assert_non_null(L);
    return L;
}

/* Footprints, strings and boxes identical. */
static void assert_same_footprints(const fp_layer *A, const fp_layer *B)
{
    assert_int_equal(fp_layer_count(A), fp_layer_count(B));
    assert_int_equal(fp_layer_vertices(A), fp_layer_vertices(B));
    double ba[4], bb[4];
    fp_layer_bbox(A, SIZE_MAX, ba);
    fp_layer_bbox(B, SIZE_MAX, bb);
    assert_memory_equal(ba, bb, sizeof ba);
    for (size_t i = 0; i < fp_layer_count(A); i++) {
        assert_string_equal(fp_layer_code(A, i), fp_layer_code(B, i));
        assert_string_equal(fp_layer_name(A, i), fp_layer_name(B, i));
        fp_layer_bbox(A, i, ba);
        fp_layer_bbox(B, i, bb);
        assert_memory_equal(ba, bb, sizeof ba);
        assert_int_equal(fp_layer_find_code(A, fp_layer_code(B, i)), (long)i);
    }
    assert_null(fp_layer_code(A, fp_layer_count(A)));
}

/* Counts how many of n sample points A answers differently from B. */
static size_t count_differences(const fp_layer *A, const fp_layer *B, const double *lat,
                                const double *lon, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += fp_layer_find(A, lat[i], lon[i]) !=
                                          fp_layer_find(B, lat[i], lon[i]);
    return bad;
}

/* For damaged files: the atlas is refused cleanly, or every layer in it
 * that verifies is the reference, answer for answer.  Returns 1 when
 * something was refused. */
enum { SAMPLE = 3000 };
static double sample_lat[SAMPLE], sample_lon[SAMPLE];

static int damaged_is_clean(const char *path, size_t where)
{
    fp_ctx *ctx = test_ctx();
    fp_atlas *a = NULL;
    int refused = 0;
    int rc = fp_atlas_open(ctx, path, &a);
    if (rc) {
        if (rc != FP_EFORMAT)
            fail_msg("damage at %zu: open status %d (%s)", where, rc, fp_ctx_errmsg(ctx));
        assert_null(a);
        assert_has(fp_ctx_errmsg(ctx), path);
        refused = 1;
    } else {
        const fp_layer *refs[2] = {ref_icb, ref_stp};
        for (int k = 0; k < 2; k++) {
            const fp_layer *L = NULL;
            rc = fp_atlas_layer(ctx, a, EDITIONS[k], &L);
            if (rc) {
                if (rc != FP_EFORMAT)
                    fail_msg("damage at %zu: layer %s status %d (%s)", where, EDITIONS[k],
                             rc, fp_ctx_errmsg(ctx));
                assert_null(L);
                assert_has(fp_ctx_errmsg(ctx), path);
                assert_has(fp_ctx_errmsg(ctx), EDITIONS[k]);
                refused = 1;
                continue;
            }
            assert_same_footprints(L, refs[k]);
            size_t d = count_differences(L, refs[k], sample_lat, sample_lon, SAMPLE);
            if (d) fail_msg("damage at %zu: %s gives %zu wrong answers", where, EDITIONS[k], d);
        }
        fp_atlas_free(a);
    }
    test_ctx_done(ctx);
    return refused;
}

/* ---- round trip ---- */

/* Every postcode of the NSPL extract: the atlas's icb2023 answers exactly
 * as the GeoJSON does, nearest-boundary answers included. */
static void test_atlas_roundtrip_postcodes(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_atlas *a = open_ok(ctx, atlas_path);
    const fp_layer *L = layer_ok(ctx, a, "icb2023");
    char *text;
    size_t len;
    assert_int_equal(fp__read_file(ctx, test_data_path("postcodes/postcodes_nspl_nov2021.csv"),
                                   &text, &len), FP_OK);
    fp_csv csv;
    const char *why;
    fp__csv_init(&csv, &test_alloc, text, len);
    assert_int_equal(fp__csv_next(&csv, &why), 1);
    int c_lat = -1, c_lon = -1;
    for (size_t i = 0; i < csv.nfields; i++) {
        if (!strcmp(csv.fields[i], "lat")) c_lat = (int)i;
        if (!strcmp(csv.fields[i], "long")) c_lon = (int)i;
    }
    assert_true(c_lat >= 0 && c_lon >= 0);
    long rows = 0, inside = 0, nearest = 0;
    int got;
    while ((got = fp__csv_next(&csv, &why)) == 1) {
        double lat = atof(csv.fields[c_lat]), lon = atof(csv.fields[c_lon]);
        fp_match m = fp_layer_locate(L, lat, lon, 3000);
        fp_match r = fp_layer_locate(ref_icb, lat, lon, 3000);
        if (m.index != r.index || m.kind != r.kind ||
            (m.kind == FP_MATCH_NEAREST && m.distance_m != r.distance_m))
            fail_msg("%s (%s, %s): atlas %ld/%d, GeoJSON %ld/%d", csv.fields[0],
                     csv.fields[c_lat], csv.fields[c_lon], m.index, m.kind, r.index, r.kind);
        rows++;
        inside += m.kind == FP_MATCH_CONTAINED;
        nearest += m.kind == FP_MATCH_NEAREST;
    }
    assert_int_equal(got, 0);
    fp__csv_free(&csv);
    test_alloc.free(text);
    print_message("# %ld postcodes agree (%ld inside, %ld nearest)\n", rows, inside, nearest);
    assert_true(rows > 60000);
    assert_true(inside > 40000);
    assert_true(nearest > 0);
    fp_atlas_free(a);
    test_ctx_done(ctx);
}

/* 200,000 random points, one by one and in a batch, both editions. */
static void test_atlas_roundtrip_random_points(void **state)
{
    (void)state;
    test_require_data();
    enum { N = 200000 };
    double *lat = malloc(N * sizeof *lat), *lon = malloc(N * sizeof *lon);
    int32_t *batch = malloc(N * sizeof *batch);
    assert_true(lat && lon && batch);
    random_points(lat, lon, N, 42);
    fp_ctx *ctx = test_ctx();
    fp_atlas *a = open_ok(ctx, atlas_path);
    const fp_layer *refs[2] = {ref_icb, ref_stp};
    for (int k = 0; k < 2; k++) {
        const fp_layer *L = layer_ok(ctx, a, EDITIONS[k]);
        long found = 0;
        for (size_t i = 0; i < N; i++) {
            long x = fp_layer_find(L, lat[i], lon[i]), y = fp_layer_find(refs[k], lat[i], lon[i]);
            if (x != y)
                fail_msg("%s (%.9f, %.9f): atlas %ld, GeoJSON %ld", EDITIONS[k], lat[i], lon[i],
                         x, y);
            found += x >= 0;
        }
        assert_true(found > N / 4);
        fp_layer_find_n(L, lat, lon, N, batch);
        for (size_t i = 0; i < N; i++)
            assert_int_equal(batch[i], fp_layer_find(refs[k], lat[i], lon[i]));
        /* Nearest boundaries off the coast. */
        for (size_t i = 0; i < N; i += 20) {
            fp_match m = fp_layer_locate(L, lat[i], lon[i], 20000);
            fp_match r = fp_layer_locate(refs[k], lat[i], lon[i], 20000);
            assert_int_equal(m.index, r.index);
            assert_int_equal(m.kind, r.kind);
            if (m.kind == FP_MATCH_NEAREST) assert_true(m.distance_m == r.distance_m);
        }
    }
    fp_atlas_free(a);
    test_ctx_done(ctx);
    free(lat);
    free(lon);
    free(batch);
}

/* Counts, codes, names, boxes, vertices and even the memory figure. */
static void test_atlas_roundtrip_footprints(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_atlas *a = open_ok(ctx, atlas_path);
    const fp_layer *L = layer_ok(ctx, a, "icb2023");
    assert_int_equal(fp_layer_count(L), 42);
    assert_same_footprints(L, ref_icb);
    /* Everything but the stripes, which a grid layer's atlas copy leaves
     * out (its queries never read them). */
    assert_int_equal(fp_layer_memory(L) + (ref_icb->nstripe_off + ref_icb->nstripe_edges) * sizeof(uint32_t),
                     fp_layer_memory(ref_icb));
    assert_int_equal(fp_layer_find_code(L, "E54000061"), fp_layer_find_code(ref_icb, "E54000061"));
    assert_true(fp_layer_find_code(L, "E54000061") >= 0);
    assert_int_equal(fp_layer_find_code(L, "E54999999"), -1);
    assert_string_equal(fp_layer_code(L, (size_t)fp_layer_find(L, 53.381, -1.470)), "E54000061");
    const fp_layer *S = layer_ok(ctx, a, "stp2017");
    assert_int_equal(fp_layer_count(S), 44);
    assert_same_footprints(S, ref_stp);
    /* The same object on every call. */
    assert_ptr_equal(layer_ok(ctx, a, "icb2023"), L);
    /* The atlas's layer belongs to the atlas: freeing it does nothing. */
    fp_layer_free((fp_layer *)L);
    assert_string_equal(fp_layer_code(L, 0), fp_layer_code(ref_icb, 0));
    fp_atlas_free(a);
    test_ctx_done(ctx);
}

/* The catalogue inside equals the one the atlas was built from. */
static void test_atlas_catalogue_equals(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = test_catalogue(ctx);
    fp_atlas *a = open_ok(ctx, atlas_path);
    const fp_catalogue *ac = fp_atlas_catalogue(a);
    assert_non_null(ac);
    assert_int_equal(fp_catalogue_count(ac), fp_catalogue_count(cat));
    for (size_t i = 0; i < fp_catalogue_count(cat); i++) {
        const fp_edition *x = fp_catalogue_get(ac, i), *y = fp_catalogue_get(cat, i);
        assert_string_equal(x->id, y->id);
        assert_string_equal(x->level, y->level);
        assert_string_equal(x->name, y->name);
        assert_string_equal(x->valid_from, y->valid_from);
        assert_string_equal(x->valid_to, y->valid_to);
        assert_string_equal(x->path, y->path);
        assert_string_equal(x->layer, y->layer);
        assert_string_equal(x->code_field, y->code_field);
        assert_string_equal(x->name_field, y->name_field);
        assert_int_equal(x->vintage, y->vintage);
        assert_string_equal(x->attribution, y->attribution);
    }
    const char *t1, *t2;
    size_t l1, l2;
    fp__catalogue_text(cat, &t1, &l1);
    fp__catalogue_text(ac, &t2, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(t1, t2, l1);
    assert_int_equal(fp_atlas_check(ctx, a, cat, NULL), FP_OK);
    assert_int_equal(fp_atlas_size(a), pristine_len);
    fp_atlas_free(a);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

/* Editions that are not in the atlas: FP_ENOTFOUND naming them. */
static void test_atlas_layer_unknown_enotfound(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_atlas *a = open_ok(ctx, atlas_path);
    char longid[200];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    /* In the catalogue but not built; not in the catalogue; the names of
     * the other sections; a prefix of a built edition; too long. */
    const char *ids[] = {"icb2026", "nope", "", "catalogue", "sources", "icb202",
                         "icb2023x", longid};
    for (size_t k = 0; k < sizeof ids / sizeof *ids; k++) {
        const fp_layer *L = (const fp_layer *)1;
        int rc = fp_atlas_layer(ctx, a, ids[k], &L);
        if (rc != FP_ENOTFOUND)
            fail_msg("'%s': status %d (%s)", ids[k], rc, fp_ctx_errmsg(ctx));
        assert_null(L);
        assert_int_equal(fp_ctx_errcode(ctx), FP_ENOTFOUND);
        assert_has(fp_ctx_errmsg(ctx), atlas_path);
        if (k < 2) assert_has(fp_ctx_errmsg(ctx), ids[k]);
    }
    fp_atlas_free(a);
    test_ctx_done(ctx);
}

/* fp_ctx_errcode/errmsg describe the last call: a successful
 * fp_atlas_layer after a failed one must leave FP_OK and "". */
static void test_atlas_layer_success_clears_error(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_atlas *a = open_ok(ctx, atlas_path);
    const fp_layer *L;
    assert_int_equal(fp_atlas_layer(ctx, a, "nope", &L), FP_ENOTFOUND);
    assert_int_equal(fp_atlas_layer(ctx, a, "icb2023", &L), FP_OK);
    assert_non_null(L);
    /* Checked after cleaning up, so that a failure leaks nothing into the
     * counts of the tests that follow. */
    int code = fp_ctx_errcode(ctx);
    char msg[FP_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(ctx));
    fp_atlas_free(a);
    test_ctx_done(ctx);
    if (code != FP_OK || *msg)
        fail_msg("after a successful fp_atlas_layer the context still says %d \"%s\"",
                 code, msg);
}

/* ---- files that are not (whole) atlases ---- */

static void test_atlas_open_missing_empty_dir(void **state)
{
    (void)state;
    open_fails(tmp_path("no-such.atlas"), FP_EIO, "No such file");
    const char *empty = tmp_path("empty.atlas");
    test_write_file(empty, "", 0);
    open_fails(empty, FP_EFORMAT, NULL);
    const char *dir = tmp_path("a-dir.atlas");
    mkdir(dir, 0755);
    open_fails(dir, FP_EIO, NULL);
    open_fails("/dev/null", FP_EIO, NULL);
    /* Text, shorter and longer than a header. */
    const char *txt = tmp_path("text.atlas");
    test_write_file(txt, "id,level\n", 9);
    open_fails(txt, FP_EFORMAT, NULL);
    const char junk[200] = "this is not an atlas, it is a long line of text that goes on";
    test_write_file(txt, junk, sizeof junk);
    open_fails(txt, FP_EFORMAT, "not a footprint atlas");
    if (geteuid() != 0) {
        const char *unreadable = tmp_path("unreadable.atlas");
        test_write_file(unreadable, junk, sizeof junk);
        chmod(unreadable, 0);
        open_fails(unreadable, FP_EIO, NULL);
    }
    fp_atlas_free(NULL);
}

/* A FIFO is not a regular file: the open must say so, not wait for a
 * writer forever. */
static void test_atlas_open_fifo_does_not_block(void **state)
{
    (void)state;
    const char *fifo = tmp_path("fifo.atlas");
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fp_ctx *ctx;
        fp_atlas *a;
        if (fp_ctx_new(&ctx)) _exit(100);
        int rc = fp_atlas_open(ctx, fifo, &a);
        _exit(rc == FP_EIO && strstr(fp_ctx_errmsg(ctx), fifo) ? 0 : 10 + rc);
    }
    int status = 0, waited = 0;
    for (int i = 0; i < 200 && !waited; i++) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            waited = 1;
            break;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (!waited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        unlink(fifo);
        fail_msg("fp_atlas_open(%s) still blocked after 2 s (opening a FIFO for "
                 "reading waits for a writer)", fifo);
    }
    unlink(fifo);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0)
        fail_msg("fp_atlas_open on a FIFO: status %d, want FP_EIO naming it",
                 WEXITSTATUS(status) - 10);
}

static void test_atlas_truncated_eformat(void **state)
{
    (void)state;
    test_require_data();
    t_hdr h;
    memcpy(&h, pristine, sizeof h);
    size_t table_end = 64 + 64 * (size_t)h.nsect, n = pristine_len;
    const size_t cuts[] = {1, 8, 63, 64, 65, table_end - 1, table_end, table_end + 1,
                           n / 3, n / 2, n - 4096, n - 8, n - 1};
    const char *path = tmp_path("truncated.atlas");
    for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
        test_write_file(path, pristine, cuts[k]);
        open_fails(path, FP_EFORMAT, NULL);
    }
    /* Longer than the header says. */
    unsigned char *longer = malloc(n + 4096);
    assert_non_null(longer);
    memcpy(longer, pristine, n);
    memset(longer + n, 0, 4096);
    test_write_file(path, longer, n + 1);
    open_fails(path, FP_EFORMAT, NULL);
    test_write_file(path, longer, n + 4096);
    open_fails(path, FP_EFORMAT, NULL);
    free(longer);
    /* Truncated, and the header's size made to match: the sections past
     * the end are out of bounds. */
    unsigned char *f = malloc(n);
    memcpy(f, pristine, n);
    h.file_size = n / 2;
    memcpy(f, &h, sizeof h);
    test_write_file(path, f, n / 2);
    open_fails(path, FP_EFORMAT, NULL);
    free(f);
}

/* Format errors with their own messages. */
static void test_atlas_magic_version_byte_order(void **state)
{
    (void)state;
    test_require_data();
    const char *path = tmp_path("header.atlas");
    unsigned char *f = malloc(pristine_len);
    assert_non_null(f);
    t_hdr h;

    memcpy(f, pristine, pristine_len);
    memcpy(f, "FPATLAZ", 8);
    test_write_file(path, f, pristine_len);
    open_fails(path, FP_EFORMAT, "not a footprint atlas");

    const uint32_t versions[] = {0, 1, 3, 0x01000000u};
    for (int k = 0; k < 3; k++) {
        memcpy(f, pristine, pristine_len);
        memcpy(&h, f, sizeof h);
        h.version = versions[k];
        memcpy(f, &h, sizeof h);
        test_write_file(path, f, pristine_len);
        char want[64];
        snprintf(want, sizeof want, "atlas format %u", versions[k]);
        open_fails(path, FP_EFORMAT, want);
    }

    memcpy(f, pristine, pristine_len);
    memcpy(&h, f, sizeof h);
    h.bom = 0x04030201u;
    memcpy(f, &h, sizeof h);
    test_write_file(path, f, pristine_len);
    open_fails(path, FP_EFORMAT, "byte order");

    /* Section counts the table cannot hold. */
    const uint32_t counts[] = {0, 4097, 0xffffffffu};
    for (int k = 0; k < 3; k++) {
        memcpy(f, pristine, pristine_len);
        memcpy(&h, f, sizeof h);
        h.nsect = counts[k];
        memcpy(f, &h, sizeof h);
        test_write_file(path, f, pristine_len);
        open_fails(path, FP_EFORMAT, NULL);
    }
    free(f);
}

/* One flipped bit in each checked field of the header. */
static void test_atlas_header_bit_flips(void **state)
{
    (void)state;
    test_require_data();
    const char *path = tmp_path("header-flip.atlas");
    unsigned char *f = malloc(pristine_len);
    assert_non_null(f);
    /* magic, bom, version, file size, section count, table checksum */
    const size_t checked[][2] = {{0, 8}, {8, 12}, {12, 16}, {16, 24}, {24, 28}, {32, 40}};
    for (size_t r = 0; r < 6; r++)
        for (size_t byte = checked[r][0]; byte < checked[r][1]; byte++) {
            int bit = (int)(byte * 5 % 8);
            memcpy(f, pristine, pristine_len);
            f[byte] ^= (unsigned char)(1u << bit);
            test_write_file(path, f, pristine_len);
            open_fails(path, FP_EFORMAT, NULL);
        }
    /* The other bytes (reserved, creation time, version string) carry no
     * meaning for reading: refused or exactly right. */
    for (size_t byte = 28; byte < 64; byte++) {
        if (byte >= 32 && byte < 40) continue;
        memcpy(f, pristine, pristine_len);
        f[byte] ^= 0x10;
        test_write_file(path, f, pristine_len);
        damaged_is_clean(path, byte);
    }
    free(f);
}

/* The section table is covered by its checksum: any flipped bit is
 * refused at open. */
static void test_atlas_table_bit_flips(void **state)
{
    (void)state;
    test_require_data();
    t_hdr h;
    memcpy(&h, pristine, sizeof h);
    const char *path = tmp_path("table-flip.atlas");
    unsigned char *f = malloc(pristine_len);
    assert_non_null(f);
    for (uint32_t i = 0; i < h.nsect; i++)
        for (size_t at = 0; at < 64; at += 5) { /* name, offset, length, hash */
            size_t byte = 64 + 64 * (size_t)i + at;
            memcpy(f, pristine, pristine_len);
            f[byte] ^= (unsigned char)(1u << (at % 8));
            test_write_file(path, f, pristine_len);
            open_fails(path, FP_EFORMAT, "section table");
        }
    free(f);
}

/* The catalogue and sources sections are checked when the atlas opens. */
static void test_atlas_catalogue_section_corrupt(void **state)
{
    (void)state;
    test_require_data();
    const char *path = tmp_path("cat-flip.atlas");
    unsigned char *f = malloc(pristine_len);
    assert_non_null(f);
    const char *names[] = {"catalogue", "sources"};
    for (int k = 0; k < 2; k++) {
        memcpy(f, pristine, pristine_len);
        t_sect *s = find_sect(f, names[k]);
        assert_non_null(s);
        assert_true(s->length > 10);
        uint64_t at[] = {0, s->length / 2, s->length - 1};
        for (int j = 0; j < 3; j++) {
            memcpy(f, pristine, pristine_len);
            f[s->offset + at[j]] ^= 0x04;
            test_write_file(path, f, pristine_len);
            char want[64];
            snprintf(want, sizeof want, "section %s is corrupt", names[k]);
            open_fails(path, FP_EFORMAT, want);
        }
    }
    free(f);
}

/* A damaged layer is found when it is first used, and only that one. */
static void test_atlas_layer_section_corrupt(void **state)
{
    (void)state;
    test_require_data();
    const char *path = tmp_path("layer-flip.atlas");
    unsigned char *f = malloc(pristine_len);
    assert_non_null(f);
    memcpy(f, pristine, pristine_len);
    t_sect *s = find_sect(f, "layer/icb2023");
    assert_non_null(s);
    uint64_t at[] = {0, 170, s->length / 2, s->length - 1};
    random_points(sample_lat, sample_lon, SAMPLE, 7);
    for (int j = 0; j < 4; j++) {
        memcpy(f, pristine, pristine_len);
        f[s->offset + at[j]] ^= 0x80;
        test_write_file(path, f, pristine_len);
        fp_ctx *ctx = test_ctx();
        fp_atlas *a = open_ok(ctx, path); /* lazily: the open does not look */
        const fp_layer *L = (const fp_layer *)1;
        for (int again = 0; again < 2; again++) {
            assert_int_equal(fp_atlas_layer(ctx, a, "icb2023", &L), FP_EFORMAT);
            assert_null(L);
            assert_int_equal(fp_ctx_errcode(ctx), FP_EFORMAT);
            assert_has(fp_ctx_errmsg(ctx), path);
            assert_has(fp_ctx_errmsg(ctx), "layer/icb2023");
            assert_has(fp_ctx_errmsg(ctx), "checksum");
        }
        /* The other layer is whole and answers. */
        const fp_layer *S = layer_ok(ctx, a, "stp2017");
        assert_same_footprints(S, ref_stp);
        assert_int_equal(count_differences(S, ref_stp, sample_lat, sample_lon, SAMPLE), 0);
        fp_atlas_free(a);
        test_ctx_done(ctx);
    }
    free(f);
}

/* 200 single-bit flips anywhere in the file: each gives a clean refusal
 * or (in padding and unused header bytes) exactly the right answers. */
static void test_atlas_random_bit_flips(void **state)
{
    (void)state;
    test_require_data();
    const char *path = tmp_path("random-flip.atlas");
    test_write_file(path, pristine, pristine_len);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    random_points(sample_lat, sample_lon, SAMPLE, 99);
    rng_state = 2024;
    int refused = 0, fine = 0;
    for (int k = 0; k < 200; k++) {
        size_t at = (size_t)(rnd() % pristine_len);
        unsigned char b = pristine[at] ^ (unsigned char)(1u << (rnd() % 8));
        assert_int_equal(pwrite(fd, &b, 1, (off_t)at), 1);
        uint64_t seed = rng_state;
        if (damaged_is_clean(path, at))
            refused++;
        else
            fine++;
        rng_state = seed;
        assert_int_equal(pwrite(fd, pristine + at, 1, (off_t)at), 1);
    }
    close(fd);
    print_message("# 200 flipped bits: %d refused, %d harmless\n", refused, fine);
    assert_true(refused >= 190); /* almost every byte is covered by a checksum */
}

/* A forger who recomputes the checksums: every offset and count in a layer
 * is still checked, each failure named. */
static void test_atlas_crafted_layer_refused(void **state)
{
    (void)state;
    test_require_data();
    const char *path = tmp_path("crafted.atlas");
    unsigned char *f = malloc(pristine_len);
    assert_non_null(f);
    memcpy(f, pristine, pristine_len);
    t_sect *s = find_sect(f, "layer/icb2023");
    assert_non_null(s);
    size_t base = (size_t)s->offset;
    t_lhdr h0;
    memcpy(&h0, f + base, sizeof h0);
    assert_int_equal(h0.kind, FP_INDEX_GRID);
    /* Where each array starts (8-byte aligned, in writing order). */
#define PAD8(x) (((x) + 7) & ~(size_t)7)
    size_t o_feat = base + PAD8(sizeof h0);
    size_t o_pts = o_feat + PAD8(h0.nfeat * sizeof(fp_feat));
    size_t o_ring = o_pts + PAD8(h0.npts * 16);
    size_t o_soff = o_ring + PAD8((h0.nrings + 1) * 4);
    size_t o_sedge = o_soff + PAD8(h0.nstripe_off * 4);
    size_t o_str = o_sedge + PAD8(h0.nstripe_edges * 4);
    size_t o_cells = o_str + PAD8(h0.strings_len);
    size_t o_cands = o_cells + PAD8(h0.ncells * 4);
    assert_int_equal(o_cands + PAD8(h0.ncands * 4), base + s->length);
    /* Find a node cell and a leaf cell among the top cells. */
    size_t ntop = (size_t)1 << (2 * h0.root_bits), node = SIZE_MAX, leaf = SIZE_MAX;
    for (size_t i = 0; i < ntop; i++) {
        uint32_t c;
        memcpy(&c, f + o_cells + 4 * i, 4);
        if (FP_CELL_TAG(c) == FP_TAG_NODE && node == SIZE_MAX) node = i;
        if (FP_CELL_TAG(c) == FP_TAG_LEAF && leaf == SIZE_MAX) leaf = i;
    }
    assert_true(node != SIZE_MAX && leaf != SIZE_MAX);

    struct edit {
        const char *what; /* the reason the message must give */
        size_t at;        /* byte offset in the file */
        uint64_t value;
        int width; /* bytes written */
    } edits[] = {
        {"not a layer", base + 0, 0x12345678, 4},
        {"index kind", base + 4, 7, 4},
        {"grid parameters", base + 8, 3, 4},                /* root_bits */
        {"grid parameters", base + 16, h0.gmax - 1, 4},     /* gmax */
        {"footprint count", base + 24, 0, 8},               /* nfeat = 0 */
        {"section shorter", base + 32, h0.npts + 1000000, 8},
        {"section shorter", base + 64, UINT64_MAX / 2, 8},  /* strings_len */
        {"section shorter", base + 80, UINT64_MAX, 8},      /* ncands */
        {"ring count", base + 40, UINT32_MAX, 8},
        {"ring table", o_ring, 1, 4},
        {"ring table", o_ring + 4 * h0.nrings, (uint32_t)h0.npts - 1, 4},
        {"footprint rings", o_feat + 32, 1, 4},             /* feat[0].ring0 */
        {"footprint rings", o_feat + 36, 0, 4},             /* feat[0].nrings */
        {"footprint strings", o_feat + 40, h0.strings_len, 4},
        {"footprint strings", o_feat + 72 + 44, 0xffffffffu, 4}, /* feat[1].name */
        {"footprint order", o_feat + 72 + 40, 0, 4},        /* feat[1].code = feat[0]'s? */
        /* A grid layer's atlas copy has no stripes: its footprints' stripe
         * fields must then be zero. */
        {"footprint stripes", o_feat + 52, h0.nstripe_off ? 0 : 1, 4}, /* nstripes */
        {"footprint stripes", o_feat + 48, h0.nstripe_off ? (uint32_t)h0.nstripe_off : 1, 4},
        {h0.nstripe_off ? "stripe table" : "footprint stripes",
         h0.nstripe_off ? o_soff + 4 : o_feat + 52, h0.nstripe_off ? 0xfffffff0u : 7, 4},
        {h0.nstripe_off ? "stripe edges" : "footprint stripes",
         h0.nstripe_off ? o_sedge : o_feat + 48, h0.nstripe_off ? (uint32_t)h0.npts - 1 : 3, 4},
        {"string table", o_str + h0.strings_len - 1, 'x', 1},
        {"grid cell", o_cells, (uint64_t)h0.nfeat + 1, 4},  /* uniform, too far */
        {"grid cell", o_cells, 1u << 30, 4},                /* tag 1 unused */
        {"grid node", o_cells + 4 * node, (2u << 30) | 0u, 4},  /* points back */
        {"grid node", o_cells + 4 * node, (2u << 30) | (uint32_t)(h0.ncells - 8), 4},
        {"grid leaf", o_cells + 4 * leaf, (3u << 30) | (uint32_t)(h0.ncands - 2), 4},
    };
    /* feat[1].code = feat[0].code makes two equal codes: out of order. */
    uint32_t code0;
    memcpy(&code0, f + o_feat + 40, 4);
    edits[15].value = code0;
    for (size_t k = 0; k < sizeof edits / sizeof *edits; k++) {
        memcpy(f, pristine, pristine_len);
        uint64_t v = edits[k].value;
        memcpy(f + edits[k].at, &v, (size_t)edits[k].width); /* little-endian */
        reseal(f);
        test_write_file(path, f, pristine_len);
        fp_ctx *ctx = test_ctx();
        fp_atlas *a = open_ok(ctx, path);
        const fp_layer *L = (const fp_layer *)1;
        int rc = fp_atlas_layer(ctx, a, "icb2023", &L);
        if (rc != FP_EFORMAT)
            fail_msg("edit %zu (%s): status %d (%s)", k, edits[k].what, rc, fp_ctx_errmsg(ctx));
        assert_null(L);
        assert_has(fp_ctx_errmsg(ctx), "layer/icb2023");
        if (!strstr(fp_ctx_errmsg(ctx), edits[k].what))
            fail_msg("edit %zu: \"%s\" does not say \"%s\"", k, fp_ctx_errmsg(ctx),
                     edits[k].what);
        layer_ok(ctx, a, "stp2017");
        fp_atlas_free(a);
        test_ctx_done(ctx);
    }
    /* Unchanged but resealed: accepted (the forger's tools work). */
    memcpy(f, pristine, pristine_len);
    reseal(f);
    assert_memory_equal(f, pristine, pristine_len);
    free(f);
#undef PAD8
}

/* A grid block whose cells are the finest there are (the walk's shift is
 * down to 0 there), in the tree below top cell gx, gy; or found = 0. */
typedef struct finest {
    int found;
    size_t block;
    uint32_t gx, gy; /* finest-cell coordinates of the block's first cell */
} finest;

static void find_finest(const unsigned char *cells, size_t ncells, size_t block, int sh,
                        uint32_t gx, uint32_t gy, finest *d)
{
    if (sh == 0) {
        if (block + 16 < ncells - 16) *d = (finest){1, block, gx, gy};
        return;
    }
    for (uint32_t k = 0; k < 16 && !d->found; k++) {
        uint32_t c;
        memcpy(&c, cells + 4 * (block + k), 4);
        if (FP_CELL_TAG(c) == FP_TAG_NODE)
            find_finest(cells, ncells, FP_CELL_VAL(c), sh - FP_SUB_BITS,
                        gx + ((k & 3) << sh), gy + ((k >> 2) << sh), d);
    }
}

/* A forged node among the finest cells: the walk would go a level below
 * the grid (a shift by a negative amount, undefined behaviour in C).  The
 * layer must be refused. */
static void test_atlas_crafted_grid_too_deep_refused(void **state)
{
    (void)state;
    test_require_data();
    const char *path = tmp_path("too-deep.atlas");
    unsigned char *f = malloc(pristine_len);
    assert_non_null(f);
    memcpy(f, pristine, pristine_len);
    t_sect *s = find_sect(f, "layer/icb2023");
    assert_non_null(s);
    size_t base = (size_t)s->offset;
    t_lhdr h;
    memcpy(&h, f + base, sizeof h);
#define PAD8(x) (((x) + 7) & ~(size_t)7)
    size_t o_cells = base + PAD8(sizeof h) + PAD8(h.nfeat * sizeof(fp_feat)) +
                     PAD8(h.npts * 16) + PAD8((h.nrings + 1) * 4) +
                     PAD8(h.nstripe_off * 4) + PAD8(h.nstripe_edges * 4) +
                     PAD8(h.strings_len);
#undef PAD8
    const unsigned char *cells = f + o_cells;
    int sh0 = (int)(h.total_bits - h.root_bits);
    size_t ntop = (size_t)1 << (2 * h.root_bits);
    finest d = {0, 0, 0, 0};
    for (size_t t = 0; t < ntop && !d.found; t++) {
        uint32_t c;
        memcpy(&c, cells + 4 * t, 4);
        if (FP_CELL_TAG(c) != FP_TAG_NODE) continue;
        uint32_t tx = (uint32_t)(t & (((size_t)1 << h.root_bits) - 1));
        uint32_t ty = (uint32_t)(t >> h.root_bits);
        find_finest(cells, (size_t)h.ncells, FP_CELL_VAL(c), sh0 - FP_SUB_BITS,
                    tx << sh0, ty << sh0, &d);
    }
    if (!d.found) {
        free(f);
        skip(); /* the grid never reaches its full depth */
    }
    /* The block's first cell becomes a node pointing at the last block (a
     * forward reference, as the check requires). */
    uint32_t node = (FP_TAG_NODE << 30) | (uint32_t)(h.ncells - 16);
    memcpy(f + o_cells + 4 * d.block, &node, 4);
    reseal(f);
    test_write_file(path, f, pristine_len);
    free(f);
    fp_ctx *ctx = test_ctx();
    fp_atlas *a = open_ok(ctx, path);
    const fp_layer *L = NULL;
    int rc = fp_atlas_layer(ctx, a, "icb2023", &L);
    char msg[FP_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", fp_ctx_errmsg(ctx));
    /* Not queried here: the walk below the grid is undefined behaviour and
     * could take the whole test program down. */
    double lon = h.gx0 + (d.gx + 0.5) / h.gsx, lat = h.gy0 + (d.gy + 0.5) / h.gsy;
    fp_atlas_free(a);
    test_ctx_done(ctx);
    if (rc != FP_EFORMAT)
        fail_msg("a node below the finest grid level was accepted (status %d): "
                 "fp_layer_find(L, %.9f, %.9f) would walk past the last level",
                 rc, lat, lon);
    assert_has(msg, "layer/icb2023");
}

/* Forged random damage to a layer's tables (checksums recomputed): the
 * layer is refused, or queries on it stay inside the mapping. */
static void test_atlas_crafted_fuzz_no_crash(void **state)
{
    (void)state;
    test_require_data();
    const char *path = tmp_path("fuzz.atlas");
    test_write_file(path, pristine, pristine_len);
    unsigned char *f = malloc(pristine_len);
    assert_non_null(f);
    memcpy(f, pristine, pristine_len);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    const char *eds[] = {"icb2023", "stp2017"};
    enum { Q = 2000 };
    static double qlat[Q], qlon[Q];
    static int32_t qout[Q];
    random_points(qlat, qlon, Q, 5);
    rng_state = 77;
    int refused = 0, accepted = 0;
    for (int it = 0; it < 300; it++) {
        t_sect *s = find_sect(f, it & 1 ? "layer/stp2017" : "layer/icb2023");
        assert_non_null(s);
        size_t base = (size_t)s->offset, slen = (size_t)s->length;
        t_lhdr h;
        memcpy(&h, f + base, sizeof h);
        size_t pts0 = base + 168 + ((h.nfeat * sizeof(fp_feat) + 7) & ~(size_t)7);
        size_t pts1 = pts0 + h.npts * 16;
        size_t at[3];
        int nflip = 1 + (int)(rnd() % 3);
        for (int j = 0; j < nflip; j++) {
            /* Headers and index tables, not the coordinates. */
            do
                at[j] = rnd() % 4 == 0 ? base + rnd() % 168 : base + rnd() % slen;
            while (at[j] >= pts0 && at[j] < pts1);
            f[at[j]] ^= (unsigned char)(1u << (rnd() % 8));
        }
        uint64_t old_hash = s->hash;
        t_hdr hd;
        memcpy(&hd, f, sizeof hd);
        uint64_t old_table = hd.table_hash;
        reseal(f);
        for (int j = 0; j < nflip; j++)
            assert_int_equal(pwrite(fd, f + at[j], 1, (off_t)at[j]), 1);
        assert_int_equal(pwrite(fd, f, 64 + 64 * (size_t)hd.nsect, 0),
                         (ssize_t)(64 + 64 * (size_t)hd.nsect));

        fp_ctx *ctx = test_ctx();
        fp_atlas *a = open_ok(ctx, path);
        const fp_layer *L = NULL;
        int rc = fp_atlas_layer(ctx, a, eds[it & 1], &L);
        if (rc) {
            assert_int_equal(rc, FP_EFORMAT);
            assert_has(fp_ctx_errmsg(ctx), eds[it & 1]);
            refused++;
        } else {
            accepted++;
            /* Everything a caller can do with a layer. */
            size_t n = fp_layer_count(L);
            for (size_t i = 0; i < n; i++) {
                const char *c = fp_layer_code(L, i), *nm = fp_layer_name(L, i);
                assert_true(strlen(c) < L->strings_len && strlen(nm) < L->strings_len);
                (void)fp_layer_find_code(L, c);
                double box[4];
                fp_layer_bbox(L, i, box);
            }
            fp_layer_find_n(L, qlat, qlon, Q, qout);
            for (size_t i = 0; i < Q; i++) {
                long x = fp_layer_find(L, qlat[i], qlon[i]);
                assert_true(x >= -1 && x < (long)n);
                assert_int_equal(qout[i], x);
                if (i % 4 == 0) {
                    fp_match m = fp_layer_locate(L, qlat[i], qlon[i], 30000);
                    assert_true(m.index >= -1 && m.index < (long)n);
                }
            }
        }
        fp_atlas_free(a);
        test_ctx_done(ctx);

        /* Undo. */
        for (int j = nflip - 1; j >= 0; j--) {
            f[at[j]] = pristine[at[j]];
            assert_int_equal(pwrite(fd, f + at[j], 1, (off_t)at[j]), 1);
        }
        s->hash = old_hash;
        hd.table_hash = old_table;
        memcpy(f, &hd, sizeof hd);
        assert_int_equal(pwrite(fd, f, 64 + 64 * (size_t)hd.nsect, 0),
                         (ssize_t)(64 + 64 * (size_t)hd.nsect));
    }
    close(fd);
    assert_memory_equal(f, pristine, pristine_len);
    free(f);
    print_message("# 300 forged layers: %d refused, %d accepted and queried\n", refused,
                  accepted);
    assert_true(refused > 100);
}

/* ---- staleness ---- */

/* ---- index values that wrap in 32-bit arithmetic ---- */

/* A 4 x 4 checkerboard of squares: 16 footprints, rings, edges between
 * them; a grid fine enough to have leaves, or no grid. */
static fp_layer *checkerboard(fp_ctx *ctx, int kind)
{
    fp_builder *b = NULL;
    assert_int_equal(fp_builder_new(ctx, &b), FP_OK);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) {
            char code[16];
            snprintf(code, sizeof code, "r%dc%d", r & 3, c & 3);
            assert_int_equal(fp_builder_add_footprint(b, code, code), FP_OK);
            test_add_rect(b, -2 + 0.25 * c, 52 + 0.25 * r, -1.75 + 0.25 * c, 52.25 + 0.25 * r);
        }
    fp_index_opts o;
    fp_index_opts_init(&o);
    o.kind = kind;
    if (kind == FP_INDEX_GRID) o.root_bits = 4, o.max_depth = 2, o.leaf_edges = 1;
    return test_build(ctx, b, &o);
}

/* Where the arrays of the layer section `name` start in image f. */
typedef struct t_arrays {
    t_lhdr h;
    size_t ring, sedge, cands;
} t_arrays;

static t_arrays arrays_of(unsigned char *f, const char *name)
{
    t_sect *s = find_sect(f, name);
    assert_non_null(s);
    t_arrays a;
    memcpy(&a.h, f + s->offset, sizeof a.h);
#define PAD8(x) (((x) + 7) & ~(size_t)7)
    size_t o = (size_t)s->offset + PAD8(sizeof a.h) + PAD8(a.h.nfeat * sizeof(fp_feat)) +
               PAD8(a.h.npts * 16);
    a.ring = o;
    o += PAD8((a.h.nrings + 1) * 4);
    o += PAD8(a.h.nstripe_off * 4);
    a.sedge = o;
    o += PAD8(a.h.nstripe_edges * 4) + PAD8(a.h.strings_len);
    o += PAD8(a.h.ncells * 4);
    a.cands = o;
#undef PAD8
    return a;
}

/* Index values of 0xffffffff: in 32-bit arithmetic x + 1 is 0 and x + 2
 * is 1, so checks written as "x + 1 >= npts" or "next < x + 2" let them
 * through, and queries then read up to 64 GB past the mapping (found with
 * fuzz/fuzz_atlas.c; a forger recomputes the checksums).  Each must be
 * refused when the section is verified. */
static void test_atlas_crafted_index_wraparound_refused(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_layer *G = checkerboard(ctx, FP_INDEX_GRID), *N = checkerboard(ctx, FP_INDEX_NONE);
    assert_true(G->ncands > 0 && N->nstripe_edges > 0 && G->nrings >= 2);
    size_t clen;
    unsigned char *cat = test_read_file("geodata/editions.csv", &clen);
    const char *path = tmp_path("wrap.atlas");
    fp_atlas_writer *w = NULL;
    if (fp__atlas_writer_new(ctx, path, &w) ||
        fp__atlas_add_text(w, "catalogue", (const char *)cat, clen) ||
        fp__atlas_add_text(w, "sources", "", 0) || fp__atlas_add_layer(w, "grid", G) ||
        fp__atlas_add_layer(w, "none", N) || fp__atlas_writer_finish(w))
        fail_msg("%s", fp_ctx_errmsg(ctx));
    free(cat);
    fp_layer_free(G);
    fp_layer_free(N);
    size_t len;
    unsigned char *good = test_read_file(path, &len), *f = malloc(len);
    assert_non_null(f);
    /* Sound as written. */
    fp_atlas *a = open_ok(ctx, path);
    layer_ok(ctx, a, "grid");
    layer_ok(ctx, a, "none");
    fp_atlas_free(a);

    t_arrays g = arrays_of(good, "layer/grid"), n = arrays_of(good, "layer/none");
    /* The first edge of the first leaf record that lists edges. */
    size_t leaf_edge = 0;
    const unsigned char *cands = good + g.cands;
    for (size_t v = 0; v < g.h.ncands && !leaf_edge;) {
        uint32_t cnt, k = 5; /* [n] [X: 2 words] [Y0: 2 words] */
        memcpy(&cnt, cands + 4 * v, 4);
        for (uint32_t j = 0; j < cnt && !leaf_edge; j++) {
            uint32_t wd, ne;
            memcpy(&wd, cands + 4 * (v + k++), 4);
            if (wd & 1) continue;
            memcpy(&ne, cands + 4 * (v + k++), 4);
            if (ne) leaf_edge = g.cands + 4 * (v + k);
            k += ne;
        }
        v += k;
    }
    assert_true(leaf_edge != 0);
    const struct {
        const char *edition, *what;
        size_t at;
    } edits[] = {
        {"grid", "ring table", g.ring + 4},   /* ring_start[1] */
        {"none", "ring table", n.ring + 4},
        {"grid", "grid leaf edge", leaf_edge}, /* an edge of a leaf */
        {"none", "stripe edges", n.sedge},     /* stripe_edges[0] */
    };
    /* Failures are collected, and reported after everything is freed, so
     * that a failure here leaves the leak counts of later tests alone. */
    char why[1024] = "";
    for (size_t k = 0; k < sizeof edits / sizeof *edits; k++) {
        memcpy(f, good, len);
        const uint32_t bad = 0xffffffffu;
        memcpy(f + edits[k].at, &bad, 4);
        reseal(f);
        test_write_file(path, f, len);
        a = open_ok(ctx, path);
        const fp_layer *L = (const fp_layer *)1;
        int rc = fp_atlas_layer(ctx, a, edits[k].edition, &L);
        /* Not queried when accepted: the query would read far outside. */
        size_t at = strlen(why);
        if (rc != FP_EFORMAT || L)
            snprintf(why + at, sizeof why - at, "; %s of %s = 0xffffffff accepted (status %d)",
                     edits[k].what, edits[k].edition, rc);
        else if (!strstr(fp_ctx_errmsg(ctx), edits[k].what))
            snprintf(why + at, sizeof why - at, "; \"%s\" does not say \"%s\"",
                     fp_ctx_errmsg(ctx), edits[k].what);
        fp_atlas_free(a);
    }
    free(f);
    free(good);
    test_ctx_done(ctx);
    if (*why) fail_msg("%s", why + 2);
}

/* A data directory of its own: real copies (their times can change). */
static const char *copy_data(const char *name)
{
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    test_rm_tree(dir);
    char sub[600];
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(sub, sizeof sub, "%s/boundaries", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    const char *files[] = {"boundaries/icb_2023_bsc.geojson", "boundaries/stp_2017_buc.geojson"};
    for (int k = 0; k < 2; k++) {
        char to[700];
        snprintf(to, sizeof to, "%s/%s", dir, files[k]);
        copy_file(test_data_path(files[k]), to);
    }
    return dir;
}

static void check_stale(fp_ctx *ctx, const fp_atlas *a, const fp_catalogue *cat,
                        const char *data, const char *needle)
{
    int rc = fp_atlas_check(ctx, a, cat, data);
    if (rc != FP_EFORMAT)
        fail_msg("check: status %d (%s), want FP_EFORMAT", rc, fp_ctx_errmsg(ctx));
    assert_int_equal(fp_ctx_errcode(ctx), FP_EFORMAT);
    assert_has(fp_ctx_errmsg(ctx), "stale");
    if (needle) assert_has(fp_ctx_errmsg(ctx), needle);
}

static void check_ok(fp_ctx *ctx, const fp_atlas *a, const fp_catalogue *cat,
                     const char *data)
{
    int rc = fp_atlas_check(ctx, a, cat, data);
    if (rc) fail_msg("check: %s (%d)", fp_ctx_errmsg(ctx), rc);
    assert_int_equal(fp_ctx_errcode(ctx), FP_OK);
    assert_string_equal(fp_ctx_errmsg(ctx), "");
}

static void test_atlas_check_catalogue(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = test_catalogue(ctx);
    fp_atlas *a = open_ok(ctx, atlas_path);
    check_ok(ctx, a, cat, NULL);
    check_ok(ctx, a, NULL, NULL);
    check_ok(ctx, a, fp_atlas_catalogue(a), NULL);
    const char *text;
    size_t len;
    fp__catalogue_text(cat, &text, &len);
    char *copy = malloc(len + 2);
    assert_non_null(copy);
    /* One byte changed in a name; one in a date. */
    const char *hit = strstr(text, "Integrated Care Boards (April 2023)");
    const char *hit2 = strstr(text, "2017-02-01");
    assert_non_null(hit);
    assert_non_null(hit2);
    for (int k = 0; k < 2; k++) {
        memcpy(copy, text, len);
        size_t n = len;
        if (k == 0)
            copy[hit - text + 11] = 'c'; /* "Care" -> "care" */
        else
            copy[hit2 - text + 9] = '2'; /* 1 February -> 2 February */
        fp_catalogue *other = NULL;
        int rc = fp_catalogue_parse(ctx, copy, n, "changed", &other);
        if (rc) fail_msg("%s", fp_ctx_errmsg(ctx));
        check_stale(ctx, a, other, NULL, atlas_path);
        fp_catalogue_free(other);
    }
    check_ok(ctx, a, cat, NULL); /* a failed check changed nothing */
    free(copy);
    fp_atlas_free(a);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

static void test_atlas_check_sources(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = test_catalogue(ctx);
    const char *data = copy_data("check-data");
    char out[700], icb[700], moved[720];
    snprintf(out, sizeof out, "%s/footprint.atlas", data);
    snprintf(icb, sizeof icb, "%s/boundaries/icb_2023_bsc.geojson", data);
    snprintf(moved, sizeof moved, "%s.moved", icb);
    const char *const only[] = {"icb2023", "stp2017", NULL};
    assert_int_equal(fp_atlas_build(ctx, cat, data, only, NULL, out), FP_OK);
    fp_atlas *a = open_ok(ctx, out);
    check_ok(ctx, a, cat, data);
    struct stat st;
    assert_int_equal(stat(icb, &st), 0);

    /* The modification time moves by one nanosecond. */
    struct timespec ts[2] = {st.st_atim, st.st_mtim};
    ts[1].tv_nsec = (ts[1].tv_nsec + 1) % 1000000000;
    assert_int_equal(utimensat(AT_FDCWD, icb, ts, 0), 0);
    check_stale(ctx, a, cat, data, icb);
    check_stale(ctx, a, NULL, data, "changed");
    /* Back as it was: current again. */
    ts[1] = st.st_mtim;
    assert_int_equal(utimensat(AT_FDCWD, icb, ts, 0), 0);
    check_ok(ctx, a, cat, data);

    /* Same time, one byte longer. */
    FILE *fh = fopen(icb, "ab");
    assert_non_null(fh);
    fputc('\n', fh);
    fclose(fh);
    assert_int_equal(utimensat(AT_FDCWD, icb, ts, 0), 0);
    check_stale(ctx, a, cat, data, icb);
    assert_int_equal(truncate(icb, st.st_size), 0);
    assert_int_equal(utimensat(AT_FDCWD, icb, ts, 0), 0);
    check_ok(ctx, a, cat, data);

    /* Gone. */
    assert_int_equal(rename(icb, moved), 0);
    check_stale(ctx, a, cat, data, icb);
    check_ok(ctx, a, cat, NULL); /* no data directory: not looked at */
    assert_int_equal(rename(moved, icb), 0);
    check_ok(ctx, a, cat, data);

    /* Another data directory that lacks the files. */
    check_stale(ctx, a, cat, root, "boundaries/");

    /* Symbolic links are followed: a directory of links to the same files
     * (as geodata/fetch makes) is current, and touching a link itself
     * changes nothing. */
    char links[700], lb[800], target[800];
    snprintf(links, sizeof links, "%s/links", root);
    test_rm_tree(links);
    snprintf(lb, sizeof lb, "%s/boundaries", links);
    assert_int_equal(mkdir(links, 0755), 0);
    assert_int_equal(mkdir(lb, 0755), 0);
    const char *files[] = {"icb_2023_bsc.geojson", "stp_2017_buc.geojson"};
    for (int k = 0; k < 2; k++) {
        snprintf(target, sizeof target, "%s/boundaries/%s", data, files[k]);
        snprintf(lb, sizeof lb, "%s/boundaries/%s", links, files[k]);
        assert_int_equal(symlink(target, lb), 0);
    }
    check_ok(ctx, a, cat, links);
    const struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
    assert_int_equal(utimensat(AT_FDCWD, lb, old, AT_SYMLINK_NOFOLLOW), 0);
    check_ok(ctx, a, cat, links);
    /* But the file behind it is what counts. */
    snprintf(target, sizeof target, "%s/boundaries/%s", data, files[1]);
    assert_int_equal(utimensat(AT_FDCWD, target, old, 0), 0);
    check_stale(ctx, a, cat, links, files[1]);

    fp_atlas_free(a);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

/* ---- threads ---- */

enum { NTHREADS = 8, TPOINTS = 100000 };

typedef struct job {
    pthread_barrier_t *start;
    fp_ctx *ctx;
    const fp_atlas *atlas;
    const double *lat, *lon;
    const fp_layer *layer;
    int rc;
    long *out;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    pthread_barrier_wait(j->start);
    j->rc = fp_atlas_layer(j->ctx, j->atlas, "icb2023", &j->layer);
    if (j->rc == FP_OK)
        for (size_t i = 0; i < TPOINTS; i++) j->out[i] = fp_layer_find(j->layer, j->lat[i], j->lon[i]);
    return NULL;
}

/* Eight threads verify the same fresh section at once and query it. */
static void test_atlas_threads_agree(void **state)
{
    (void)state;
    test_require_data();
    double *lat = malloc(TPOINTS * sizeof *lat), *lon = malloc(TPOINTS * sizeof *lon);
    long *want = malloc(TPOINTS * sizeof *want);
    assert_true(lat && lon && want);
    random_points(lat, lon, TPOINTS, 1234);
    for (size_t i = 0; i < TPOINTS; i++) want[i] = fp_layer_find(ref_icb, lat[i], lon[i]);
    for (int round = 0; round < 4; round++) {
        fp_ctx *ctx = test_ctx();
        fp_atlas *a = open_ok(ctx, atlas_path); /* sections not yet verified */
        pthread_barrier_t start;
        assert_int_equal(pthread_barrier_init(&start, NULL, NTHREADS), 0);
        job jobs[NTHREADS];
        pthread_t t[NTHREADS];
        for (int k = 0; k < NTHREADS; k++) {
            jobs[k] = (job){&start, test_ctx(), a, lat, lon, NULL, -1,
                            malloc(TPOINTS * sizeof(long))};
            assert_non_null(jobs[k].out);
        }
        for (int k = 0; k < NTHREADS; k++)
            assert_int_equal(pthread_create(&t[k], NULL, worker, &jobs[k]), 0);
        for (int k = 0; k < NTHREADS; k++) pthread_join(t[k], NULL);
        pthread_barrier_destroy(&start);
        for (int k = 0; k < NTHREADS; k++) {
            if (jobs[k].rc) fail_msg("thread %d: %s", k, fp_ctx_errmsg(jobs[k].ctx));
            assert_ptr_equal(jobs[k].layer, jobs[0].layer);
            for (size_t i = 0; i < TPOINTS; i++)
                if (jobs[k].out[i] != want[i])
                    fail_msg("thread %d, point %zu: %ld, want %ld", k, i, jobs[k].out[i], want[i]);
            free(jobs[k].out);
            fp_ctx_free(jobs[k].ctx);
        }
        fp_atlas_free(a);
        test_ctx_done(ctx);
    }
    free(lat);
    free(lon);
    free(want);
}

/* ---- memory ---- */

/* The atlas keeps its own copy of the allocator: it outlives its context,
 * and every block is returned. */
static void test_atlas_outlives_context(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_atlas *a = open_ok(ctx, atlas_path);
    const fp_layer *L = layer_ok(ctx, a, "icb2023");
    fp_ctx_free(ctx);
    assert_true(test_alloc_outstanding() > 0);
    assert_string_equal(fp_layer_code(L, (size_t)fp_layer_find(L, 53.381, -1.470)), "E54000061");
    assert_int_equal(fp_catalogue_count(fp_atlas_catalogue(a)) > 0, 1);
    fp_atlas_free(a);
    fp_atlas_free(NULL);
    assert_int_equal(test_alloc_outstanding(), 0);
}

/* Every allocation of an open can fail: FP_ENOMEM, nothing leaked. */
static void test_atlas_open_allocation_failures(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    long base = test_alloc_outstanding();
    int rc = FP_ENOMEM;
    long n;
    fp_atlas *a = NULL;
    for (n = 0; n < 1000; n++) {
        test_alloc_fail_after(n);
        rc = fp_atlas_open(ctx, atlas_path, &a);
        test_alloc_fail_after(-1);
        if (rc == FP_OK) break;
        if (rc != FP_ENOMEM)
            fail_msg("allocation %ld failed: status %d (%s)", n, rc, fp_ctx_errmsg(ctx));
        assert_null(a);
        assert_int_equal(test_alloc_outstanding(), base);
    }
    assert_int_equal(rc, FP_OK);
    assert_true(n >= 3); /* atlas, slots, catalogue at least */
    assert_int_equal(fp_layer_count(layer_ok(ctx, a, "stp2017")), 44);
    fp_atlas_free(a);
    test_ctx_done(ctx);
}

/* ---- setup ---- */

static int setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/fp_test_atlas_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(root)) return -1;
    const char *data = test_data_dir();
    if (!data) return 0; /* the real-data tests skip themselves */
    if (fp_ctx_new(&gctx)) return -1;
    const char *src = getenv("FOOTPRINT_TEST_CATALOGUE");
    if (fp_catalogue_load(gctx, src && *src ? src : "geodata/editions.csv", &gcat)) {
        fprintf(stderr, "setup: %s\n", fp_ctx_errmsg(gctx));
        return -1;
    }
    snprintf(atlas_path, sizeof atlas_path, "%s/fresh.atlas", root);
    const char *const only[] = {"icb2023", "stp2017", NULL};
    if (fp_atlas_build(gctx, gcat, data, only, NULL, atlas_path) ||
        fp_edition_open(gctx, fp_catalogue_find(gcat, "icb2023"), data, NULL, &ref_icb) ||
        fp_edition_open(gctx, fp_catalogue_find(gcat, "stp2017"), data, NULL, &ref_stp)) {
        fprintf(stderr, "setup: %s\n", fp_ctx_errmsg(gctx));
        return -1;
    }
    FILE *f = fopen(atlas_path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    pristine_len = (size_t)ftell(f);
    rewind(f);
    pristine = malloc(pristine_len);
    if (!pristine || fread(pristine, 1, pristine_len, f) != pristine_len) return -1;
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fp_layer_free(ref_icb);
    fp_layer_free(ref_stp);
    fp_catalogue_free(gcat);
    fp_ctx_free(gctx);
    free(pristine);
    test_rm_tree(root);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_atlas_roundtrip_postcodes),
        cmocka_unit_test(test_atlas_roundtrip_random_points),
        cmocka_unit_test(test_atlas_roundtrip_footprints),
        cmocka_unit_test(test_atlas_catalogue_equals),
        cmocka_unit_test(test_atlas_layer_unknown_enotfound),
        cmocka_unit_test(test_atlas_layer_success_clears_error),
        cmocka_unit_test(test_atlas_open_missing_empty_dir),
        cmocka_unit_test(test_atlas_open_fifo_does_not_block),
        cmocka_unit_test(test_atlas_truncated_eformat),
        cmocka_unit_test(test_atlas_magic_version_byte_order),
        cmocka_unit_test(test_atlas_header_bit_flips),
        cmocka_unit_test(test_atlas_table_bit_flips),
        cmocka_unit_test(test_atlas_catalogue_section_corrupt),
        cmocka_unit_test(test_atlas_layer_section_corrupt),
        cmocka_unit_test(test_atlas_random_bit_flips),
        cmocka_unit_test(test_atlas_crafted_layer_refused),
        cmocka_unit_test(test_atlas_crafted_grid_too_deep_refused),
        cmocka_unit_test(test_atlas_crafted_fuzz_no_crash),
        cmocka_unit_test(test_atlas_crafted_index_wraparound_refused),
        cmocka_unit_test(test_atlas_check_catalogue),
        cmocka_unit_test(test_atlas_check_sources),
        cmocka_unit_test(test_atlas_threads_agree),
        cmocka_unit_test(test_atlas_outlives_context),
        cmocka_unit_test(test_atlas_open_allocation_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
