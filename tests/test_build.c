/* Unit tests for lib/src/build.c: fp_atlas_build compiles a catalogue and
 * its boundary files into an atlas, all or nothing.  Real editions come
 * from the ONS mirror; the synthetic ones are GeoJSON files and a catalogue
 * written here, so most of the error paths run without the mirror. */
#include "support.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

/* ---- helpers ---- */

static char root[256]; /* made by the group setup, removed at the end */


/* dir + "/" + name, in one of 64 rotating buffers (a test makes fewer). */
static const char *join(const char *dir, const char *name)
{
    static char bufs[64][4200];
    static int slot;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s/%s", dir, name);
    char *b = bufs[slot++ & 63];
    memcpy(b, tmp, sizeof tmp);
    return b;
}

/* A fresh empty directory below the root. */
static const char *fresh_dir(const char *name)
{
    static char bufs[4][512];
    static int slot;
    char *d = bufs[slot++ & 3];
    snprintf(d, sizeof bufs[0], "%s/%s", root, name);
    test_rm_tree(d);
    if (mkdir(d, 0755) != 0) fail_msg("mkdir %s: %s", d, strerror(errno));
    return d;
}

static void mkdirs_for(const char *path)
{
    char buf[4200];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            fail_msg("mkdir %s: %s", buf, strerror(errno));
        *p = '/';
    }
}

static void write_file(const char *path, const void *data, size_t len)
{
    mkdirs_for(path);
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("%s: %s", path, strerror(errno));
    if (len && fwrite(data, 1, len, f) != len) fail_msg("%s: short write", path);
    assert_int_equal(fclose(f), 0);
}

/* Links data_dir/rel to the mirror's file, as geodata/fetch does. */
static void link_mirror(const char *data_dir, const char *rel)
{
    const char *dst = join(data_dir, rel);
    mkdirs_for(dst);
    unlink(dst);
    if (symlink(test_data_path(rel), dst) != 0)
        fail_msg("symlink %s: %s", dst, strerror(errno));
}

/* The whole file (malloc'd, not counted), or NULL when it is missing. */
/* Names in dir, other than . and .. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) fail_msg("opendir %s: %s", dir, strerror(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* Fails the test if dir holds a temporary file of a build. */
static void assert_no_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) fail_msg("opendir %s: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp")) {
            closedir(d);
            fail_msg("temporary file left behind: %s/%s", dir, e->d_name);
        }
    closedir(d);
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void assert_has(const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("\"%s\" does not mention \"%s\"", text, needle);
}

/* fp_atlas_build must fail with `want`, leave its message (naming
 * `needle`) on the context, and write nothing into out's directory that
 * was not there before. */
static void build_fails(fp_ctx *ctx, const fp_catalogue *cat, const char *data,
                        const char *const *only, const fp_index_opts *o,
                        const char *out, int want, const char *needle)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", out);
    char *slash = strrchr(dir, '/');
    assert_non_null(slash);
    *slash = '\0';
    struct stat st;
    int dir_ok = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
    int before = dir_ok ? count_entries(dir) : 0;
    int rc = fp_atlas_build(ctx, cat, data, only, o, out);
    if (rc != want)
        fail_msg("build %s: status %d (%s), want %d", out, rc, fp_ctx_errmsg(ctx), want);
    assert_int_equal(fp_ctx_errcode(ctx), want);
    if (needle) assert_has(fp_ctx_errmsg(ctx), needle);
    if (dir_ok) {
        assert_int_equal(count_entries(dir), before);
        assert_no_tmp(dir);
    }
}

static void build_ok(fp_ctx *ctx, const fp_catalogue *cat, const char *data,
                     const char *const *only, const fp_index_opts *o, const char *out)
{
    int rc = fp_atlas_build(ctx, cat, data, only, o, out);
    if (rc) fail_msg("build %s: %s (%d)", out, fp_ctx_errmsg(ctx), rc);
    assert_int_equal(fp_ctx_errcode(ctx), FP_OK);
    assert_string_equal(fp_ctx_errmsg(ctx), "");
}

static fp_atlas *open_ok(fp_ctx *ctx, const char *path)
{
    fp_atlas *a = NULL;
    int rc = fp_atlas_open(ctx, path, &a);
    if (rc) fail_msg("open %s: %s (%d)", path, fp_ctx_errmsg(ctx), rc);
    assert_non_null(a);
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

static const char *code_at(const fp_layer *L, double lat, double lon)
{
    long i = fp_layer_find(L, lat, lon);
    return i < 0 ? "none" : fp_layer_code(L, (size_t)i);
}

/* Same footprints, same answers on n pseudo-random points in box. */
static void assert_same_layer(const fp_layer *A, const fp_layer *B, const double box[4],
                              int n)
{
    assert_int_equal(fp_layer_count(A), fp_layer_count(B));
    for (size_t i = 0; i < fp_layer_count(A); i++) {
        assert_string_equal(fp_layer_code(A, i), fp_layer_code(B, i));
        assert_string_equal(fp_layer_name(A, i), fp_layer_name(B, i));
    }
    unsigned s = 12345;
    int found = 0;
    for (int k = 0; k < n; k++) {
        s = s * 1103515245u + 12345u;
        double lon = box[0] + (box[2] - box[0]) * ((s >> 8) & 0xffff) / 65536.0;
        s = s * 1103515245u + 12345u;
        double lat = box[1] + (box[3] - box[1]) * ((s >> 8) & 0xffff) / 65536.0;
        long a = fp_layer_find(A, lat, lon), b = fp_layer_find(B, lat, lon);
        if (a != b) fail_msg("(%.6f, %.6f): %ld vs %ld", lat, lon, a, b);
        found += a >= 0;
    }
    assert_true(found > n / 50); /* the points did land in footprints */
}

/* ---- synthetic data ---- */

/* Two unit squares sharing the edge lon = 1 (B2 also has an island), and
 * a triangle whose name field is found by the ONS "...NM" rule. */
static const char syn1_geojson[] =
    "{\"type\":\"FeatureCollection\",\"features\":[\n"
    "{\"type\":\"Feature\",\"properties\":{\"SYN1CD\":\"A1\",\"SYN1NM\":\"Alpha\"},"
    "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":"
    "[[[0,50],[1,50],[1,51],[0,51],[0,50]]]}},\n"
    "{\"type\":\"Feature\",\"properties\":{\"SYN1CD\":\"B2\",\"SYN1NM\":\"Beta\"},"
    "\"geometry\":{\"type\":\"MultiPolygon\",\"coordinates\":"
    "[[[[1,50],[2,50],[2,51],[1,51],[1,50]]],[[[5,55],[6,55],[6,56],[5,56],[5,55]]]]}}\n"
    "]}\n";

static const char syn2_geojson[] =
    "{\"type\":\"FeatureCollection\",\"features\":[\n"
    "{\"type\":\"Feature\",\"properties\":{\"ZZ9CD\":\"Z9\",\"ZZ9NM\":\"Zed\"},"
    "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":"
    "[[[-3,52],[-2,52],[-2.5,53],[-3,52]]]}}\n"
    "]}\n";

static const char syn_catalogue[] =
    "id,level,name,valid_from,valid_to,path,layer,code_field,name_field,vintage,"
    "attribution\n"
    "syn1,icb,Synthetic One,2020-01-01,,boundaries/syn1.geojson,,SYN1CD,SYN1NM,2020,"
    "Source: a test\n"
    "syn2,stp,Synthetic Two,2019-01-01,2019-12-31,boundaries/syn2.geojson,,ZZ9CD,,2019,"
    "Source: another test\n";

/* A data directory with both synthetic files. */
static const char *syn_data(const char *name)
{
    const char *d = fresh_dir(name);
    write_file(join(d, "boundaries/syn1.geojson"), syn1_geojson, strlen(syn1_geojson));
    write_file(join(d, "boundaries/syn2.geojson"), syn2_geojson, strlen(syn2_geojson));
    return d;
}

static fp_catalogue *syn_cat(fp_ctx *ctx)
{
    fp_catalogue *cat = NULL;
    int rc = fp_catalogue_parse(ctx, syn_catalogue, strlen(syn_catalogue), "syn", &cat);
    if (rc) fail_msg("%s", fp_ctx_errmsg(ctx));
    return cat;
}

/* The synthetic facts, for any layer of syn1. */
static void assert_syn1_answers(const fp_layer *L)
{
    assert_int_equal(fp_layer_count(L), 2);
    assert_string_equal(fp_layer_code(L, 0), "A1");
    assert_string_equal(fp_layer_name(L, 0), "Alpha");
    assert_string_equal(fp_layer_code(L, 1), "B2");
    assert_string_equal(fp_layer_name(L, 1), "Beta");
    assert_string_equal(code_at(L, 50.5, 0.5), "A1");
    assert_string_equal(code_at(L, 50.5, 1.5), "B2");
    assert_string_equal(code_at(L, 55.5, 5.5), "B2");  /* the island */
    assert_string_equal(code_at(L, 50.5, 1.0), "B2");  /* shared edge: east */
    assert_string_equal(code_at(L, 50.0, 0.5), "A1");  /* south side is in */
    assert_string_equal(code_at(L, 51.0, 0.5), "none"); /* north side is out */
    assert_string_equal(code_at(L, 52.0, 0.5), "none");
    assert_string_equal(code_at(L, 50.5, 2.5), "none");
    double box[4];
    fp_layer_bbox(L, SIZE_MAX, box);
    assert_true(box[0] == 0 && box[1] == 50 && box[2] == 6 && box[3] == 56);
    fp_layer_bbox(L, 1, box);
    assert_true(box[0] == 1 && box[1] == 50 && box[2] == 6 && box[3] == 56);
}

/* ---- real data ---- */

static void test_build_real_editions(void **state)
{
    (void)state;
    const char *data = test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = test_catalogue(ctx);
    const char *dir = fresh_dir("real");
    const char *out = join(dir, "footprint.atlas");
    const char *const only[] = {"icb2023", "stp2017", "icb2026", NULL};
    build_ok(ctx, cat, data, only, NULL, out);
    assert_int_equal(count_entries(dir), 1); /* the atlas, no temporary */
    struct stat st;
    assert_int_equal(stat(out, &st), 0);

    fp_atlas *a = open_ok(ctx, out);
    assert_int_equal(fp_atlas_size(a), (size_t)st.st_size);
    assert_int_equal(fp_atlas_check(ctx, a, cat, data), FP_OK);
    const size_t want_count[] = {42, 44, 36};
    const double england[4] = {-6.5, 49.8, 2.0, 55.9};
    for (int k = 0; k < 3; k++) {
        const fp_layer *L = layer_ok(ctx, a, only[k]);
        assert_int_equal(fp_layer_count(L), want_count[k]);
        fp_layer *ref;
        assert_int_equal(fp_edition_open(ctx, fp_catalogue_find(cat, only[k]), data,
                                         NULL, &ref), FP_OK);
        assert_same_layer(L, ref, england, 20000);
        fp_layer_free(ref);
    }
    /* Sheffield, in both ICB editions. */
    assert_string_equal(code_at(layer_ok(ctx, a, "icb2023"), 53.381, -1.470), "E54000061");
    assert_string_equal(code_at(layer_ok(ctx, a, "icb2026"), 53.381, -1.470), "E54000061");
    /* Editions left out by `only` are not in the atlas. */
    const fp_layer *L = (const fp_layer *)1;
    assert_int_equal(fp_atlas_layer(ctx, a, "icb2022", &L), FP_ENOTFOUND);
    assert_null(L);
    assert_has(fp_ctx_errmsg(ctx), "icb2022");
    assert_int_equal(fp_atlas_layer(ctx, a, "lsoa2011", &L), FP_ENOTFOUND);
    /* The atlas carries the catalogue it was built from, byte for byte. */
    const char *t1, *t2;
    size_t l1, l2;
    fp__catalogue_text(cat, &t1, &l1);
    fp__catalogue_text(fp_atlas_catalogue(a), &t2, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(t1, t2, l1);
    fp_atlas_free(a);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

/* Every edition in `only` must be in the catalogue; nothing is read or
 * written otherwise (the data directory need not even exist). */
static void test_build_unknown_edition_enotfound(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = test_catalogue(ctx);
    const char *dir = fresh_dir("unknown");
    const char *out = join(dir, "footprint.atlas");
    const char *const only1[] = {"nope", NULL};
    const char *const only2[] = {"icb2023", "stp2017", "icb2099", NULL};
    build_fails(ctx, cat, join(dir, "no-data"), only1, NULL, out, FP_ENOTFOUND, "'nope'");
    build_fails(ctx, cat, join(dir, "no-data"), only2, NULL, out, FP_ENOTFOUND, "'icb2099'");
    assert_int_equal(count_entries(dir), 0);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

/* A missing boundary file fails the build with FP_EIO naming the file,
 * even after other editions were compiled, and leaves no file at all. */
static void test_build_missing_file_eio(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = test_catalogue(ctx);
    const char *data = fresh_dir("missing-data");
    link_mirror(data, "boundaries/icb_2023_bsc.geojson");
    const char *dir = fresh_dir("missing-out");
    const char *out = join(dir, "footprint.atlas");
    /* icb2023 comes first in the catalogue: the build fails midway. */
    const char *const only[] = {"stp2017", "icb2023", NULL};
    char want[4200];
    snprintf(want, sizeof want, "%s/boundaries/stp_2017_buc.geojson", data);
    build_fails(ctx, cat, data, only, NULL, out, FP_EIO, want);
    assert_has(fp_ctx_errmsg(ctx), "stp2017");
    /* All editions: the first one in the catalogue is missing. */
    snprintf(want, sizeof want, "%s/boundaries/icb_2026_bsc.geojson", data);
    build_fails(ctx, cat, data, NULL, NULL, out, FP_EIO, want);
    assert_false(exists(out));
    assert_int_equal(count_entries(dir), 0);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

static void test_build_missing_synthetic_file_eio(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = syn_cat(ctx);
    const char *data = syn_data("syn-missing");
    assert_int_equal(unlink(join(data, "boundaries/syn2.geojson")), 0);
    const char *out = join(data, "footprint.atlas");
    build_fails(ctx, cat, data, NULL, NULL, out, FP_EIO,
                join(data, "boundaries/syn2.geojson"));
    assert_false(exists(out));
    assert_no_tmp(data);
    /* The edition that is there still builds on its own. */
    const char *const only[] = {"syn1", NULL};
    build_ok(ctx, cat, data, only, NULL, out);
    fp_atlas *a = open_ok(ctx, out);
    assert_syn1_answers(layer_ok(ctx, a, "syn1"));
    const fp_layer *L;
    assert_int_equal(fp_atlas_layer(ctx, a, "syn2", &L), FP_ENOTFOUND);
    fp_atlas_free(a);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

/* Output that cannot be written: FP_EIO naming it, nothing written. */
static void test_build_unwritable_output_eio(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = syn_cat(ctx);
    const char *data = syn_data("unwritable-data");
    const char *dir = fresh_dir("unwritable");
    int before = count_entries(data);

    /* Into a directory that does not exist. */
    const char *out = join(dir, "nodir/footprint.atlas");
    build_fails(ctx, cat, data, NULL, NULL, out, FP_EIO, out);
    assert_false(exists(join(dir, "nodir")));

    /* Below a regular file (works as root too). */
    write_file(join(dir, "plain"), "x", 1);
    out = join(dir, "plain/footprint.atlas");
    build_fails(ctx, cat, data, NULL, NULL, out, FP_EIO, out);
    size_t n;
    unsigned char *b = test_read_file(join(dir, "plain"), &n);
    assert_non_null(b);
    assert_int_equal(n, 1);
    free(b);

    /* Onto an existing directory: the rename fails, the temporary goes. */
    assert_int_equal(mkdir(join(dir, "isdir"), 0755), 0);
    out = join(dir, "isdir");
    build_fails(ctx, cat, data, NULL, NULL, out, FP_EIO, out);
    assert_int_equal(count_entries(join(dir, "isdir")), 0);
    assert_int_equal(count_entries(dir), 2);

    /* A directory without write permission (root may write anyway). */
    if (geteuid() != 0) {
        const char *ro = join(dir, "readonly");
        assert_int_equal(mkdir(ro, 0555), 0);
        out = join(ro, "footprint.atlas");
        build_fails(ctx, cat, data, NULL, NULL, out, FP_EIO, out);
        assert_int_equal(count_entries(ro), 0);
        chmod(ro, 0755);
    }
    assert_int_equal(count_entries(data), before); /* nothing beside the data */
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

/* An atlas already at out_path is replaced only by a complete one: every
 * failed build leaves its bytes as they were. */
static void test_build_failure_keeps_old_atlas(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = test_catalogue(ctx);
    const char *data = fresh_dir("keep-data");
    link_mirror(data, "boundaries/icb_2023_bsc.geojson");
    const char *dir = fresh_dir("keep");
    const char *out = join(dir, "footprint.atlas");
    const char *const first[] = {"icb2023", NULL};
    build_ok(ctx, cat, data, first, NULL, out);
    size_t n0, n1;
    unsigned char *old = test_read_file(out, &n0), *now;

    /* stp2017's file is missing: the build fails after icb2023 is done. */
    const char *const both[] = {"icb2023", "stp2017", NULL};
    build_fails(ctx, cat, data, both, NULL, out, FP_EIO, "stp_2017_buc.geojson");
    now = test_read_file(out, &n1);
    assert_non_null(now);
    assert_int_equal(n1, n0);
    assert_memory_equal(now, old, n0);
    free(now);

    /* stp2017's file is there but is not GeoJSON. */
    const char junk[] = "{\"type\": \"FeatureCollection\", \"features\": [ {{{ ";
    write_file(join(data, "boundaries/stp_2017_buc.geojson"), junk, strlen(junk));
    int rc = fp_atlas_build(ctx, cat, data, both, NULL, out);
    assert_int_not_equal(rc, FP_OK);
    assert_int_equal(fp_ctx_errcode(ctx), rc);
    now = test_read_file(out, &n1);
    assert_int_equal(n1, n0);
    assert_memory_equal(now, old, n0);
    free(now);
    assert_no_tmp(dir);

    /* Index options out of range. */
    fp_index_opts bad;
    fp_index_opts_init(&bad);
    bad.root_bits = 99;
    build_fails(ctx, cat, data, first, &bad, out, FP_EINVAL, NULL);
    now = test_read_file(out, &n1);
    assert_int_equal(n1, n0);
    assert_memory_equal(now, old, n0);
    free(now);

    /* The file fixed, the build succeeds and replaces the atlas. */
    link_mirror(data, "boundaries/stp_2017_buc.geojson");
    build_ok(ctx, cat, data, both, NULL, out);
    assert_int_equal(count_entries(dir), 1);
    now = test_read_file(out, &n1);
    assert_true(n1 > n0);
    free(now);
    fp_atlas *a = open_ok(ctx, out);
    assert_int_equal(fp_layer_count(layer_ok(ctx, a, "stp2017")), 44);
    assert_int_equal(fp_layer_count(layer_ok(ctx, a, "icb2023")), 42);
    fp_atlas_free(a);
    free(old);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

/* The disk fills up while the atlas is written (a file size limit, so it
 * works as root too): FP_EIO naming the output, the old atlas untouched,
 * the temporary file removed. */
static void test_build_write_failure_keeps_old_atlas(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = syn_cat(ctx);
    const char *data = syn_data("efbig");
    char out[4200];
    snprintf(out, sizeof out, "%s", join(data, "footprint.atlas"));
    const char *const only1[] = {"syn1", NULL};
    build_ok(ctx, cat, data, only1, NULL, out);
    size_t n0, n1;
    unsigned char *old = test_read_file(out, &n0);
    assert_true(n0 > 16 * 1024);
    int entries = count_entries(data);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        signal(SIGXFSZ, SIG_IGN); /* write() fails with EFBIG instead */
        struct rlimit rl;
        getrlimit(RLIMIT_FSIZE, &rl);
        rl.rlim_cur = (rlim_t)(n0 / 2); /* below one edition's size */
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(100);
        fp_ctx *c;
        fp_catalogue *k;
        if (fp_ctx_new(&c) ||
            fp_catalogue_parse(c, syn_catalogue, strlen(syn_catalogue), "syn", &k))
            _exit(101);
        int rc = fp_atlas_build(c, k, data, NULL, NULL, out);
        const char *m = fp_ctx_errmsg(c);
        if (write(fds[1], m, strlen(m)) < 0) _exit(102);
        _exit(rc);
    }
    close(fds[1]);
    char msg[1024] = "";
    ssize_t got = 0, k;
    while ((k = read(fds[0], msg + got, sizeof msg - 1 - (size_t)got)) > 0) got += k;
    msg[got > 0 ? got : 0] = '\0';
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != FP_EIO)
        fail_msg("build under a file size limit: status %d (%s), want FP_EIO",
                 WEXITSTATUS(status), msg);
    assert_has(msg, out);
    unsigned char *now = test_read_file(out, &n1);
    assert_non_null(now);
    assert_int_equal(n1, n0);
    assert_memory_equal(now, old, n0);
    free(now);
    free(old);
    assert_no_tmp(data);
    assert_int_equal(count_entries(data), entries);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

/* A rebuild does not disturb an atlas that is open: the old mapping keeps
 * answering, a new open sees the new file. */
static void test_build_replaces_open_atlas(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = syn_cat(ctx);
    const char *data = syn_data("replace-data");
    const char *out = join(data, "footprint.atlas");
    const char *const only1[] = {"syn1", NULL}, *const only2[] = {"syn2", NULL};
    build_ok(ctx, cat, data, only1, NULL, out);
    fp_atlas *old = open_ok(ctx, out);
    const fp_layer *L1 = layer_ok(ctx, old, "syn1");
    build_ok(ctx, cat, data, only2, NULL, out);
    assert_syn1_answers(L1);
    fp_atlas *now = open_ok(ctx, out);
    const fp_layer *L;
    assert_int_equal(fp_atlas_layer(ctx, now, "syn1", &L), FP_ENOTFOUND);
    L = layer_ok(ctx, now, "syn2");
    assert_string_equal(code_at(L, 52.2, -2.5), "Z9");
    fp_atlas_free(old);
    fp_atlas_free(now);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

/* The whole synthetic catalogue (only = NULL), without the mirror. */
static void test_build_synthetic_all_editions(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = syn_cat(ctx);
    const char *data = syn_data("syn-all");
    const char *out = join(data, "syn.atlas");
    build_ok(ctx, cat, data, NULL, NULL, out);
    assert_no_tmp(data);
    fp_atlas *a = open_ok(ctx, out);
    assert_int_equal(fp_atlas_check(ctx, a, cat, data), FP_OK);
    const fp_layer *L = layer_ok(ctx, a, "syn1");
    assert_syn1_answers(L);
    const fp_layer *L2 = layer_ok(ctx, a, "syn2");
    assert_int_equal(fp_layer_count(L2), 1);
    assert_string_equal(fp_layer_code(L2, 0), "Z9");
    assert_string_equal(fp_layer_name(L2, 0), "Zed");
    assert_string_equal(code_at(L2, 52.2, -2.5), "Z9");
    assert_string_equal(code_at(L2, 52.9, -2.9), "none");
    /* The same answers as the boundary files opened directly. */
    for (int k = 0; k < 2; k++) {
        fp_layer *ref;
        const fp_edition *ed = fp_catalogue_get(cat, (size_t)k);
        assert_int_equal(fp_edition_open(ctx, ed, data, NULL, &ref), FP_OK);
        double box[4];
        fp_layer_bbox(ref, SIZE_MAX, box);
        assert_same_layer(k ? L2 : L, ref, box, 50000);
        assert_int_equal(fp_layer_vertices(k ? L2 : L), fp_layer_vertices(ref));
        fp_layer_free(ref);
    }
    /* The catalogue comes back whole. */
    const fp_catalogue *ac = fp_atlas_catalogue(a);
    assert_int_equal(fp_catalogue_count(ac), 2);
    const fp_edition *e = fp_catalogue_find(ac, "syn2");
    assert_non_null(e);
    assert_string_equal(e->name, "Synthetic Two");
    assert_string_equal(e->valid_to, "2019-12-31");
    assert_string_equal(e->attribution, "Source: another test");
    const char *t;
    size_t tl;
    fp__catalogue_text(ac, &t, &tl);
    assert_int_equal(tl, strlen(syn_catalogue));
    assert_memory_equal(t, syn_catalogue, tl);
    fp_atlas_free(a);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

/* The index options given are the ones compiled in. */
static void test_build_index_options_kept(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = syn_cat(ctx);
    const char *data = syn_data("index");
    fp_index_opts none, small;
    fp_index_opts_init(&none);
    none.kind = FP_INDEX_NONE;
    fp_index_opts_init(&small);
    small.root_bits = 5;
    small.max_depth = 1;
    const fp_index_opts *opts[] = {&none, &small};
    for (int k = 0; k < 2; k++) {
        const char *out = join(data, k ? "small.atlas" : "none.atlas");
        build_ok(ctx, cat, data, NULL, opts[k], out);
        fp_atlas *a = open_ok(ctx, out);
        const fp_layer *L = layer_ok(ctx, a, "syn1");
        assert_syn1_answers(L);
        if (k == 0) {
            assert_int_equal(L->kind, FP_INDEX_NONE);
        } else {
            assert_int_equal(L->kind, FP_INDEX_GRID);
            assert_int_equal(L->root_bits, 5);
            assert_true(L->total_bits <= 5 + FP_SUB_BITS);
        }
        fp_layer *ref;
        assert_int_equal(fp_edition_open(ctx, fp_catalogue_get(cat, 0), data, opts[k],
                                         &ref), FP_OK);
        /* A grid layer's atlas copy leaves out the stripes. */
        size_t stripes = L->kind == FP_INDEX_GRID
                             ? (ref->nstripe_off + ref->nstripe_edges) * sizeof(uint32_t)
                             : 0;
        assert_int_equal(fp_layer_memory(L) + stripes, fp_layer_memory(ref));
        const double box[4] = {-0.5, 49.5, 6.5, 56.5};
        assert_same_layer(L, ref, box, 50000);
        fp_layer_free(ref);
        fp_atlas_free(a);
    }
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

/* An empty `only` list selects nothing, and that is an error. */
static void test_build_empty_selection_einval(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = syn_cat(ctx);
    const char *data = syn_data("empty-only");
    const char *const none[] = {NULL};
    build_fails(ctx, cat, data, none, NULL, join(data, "x.atlas"), FP_EINVAL, NULL);
    assert_false(exists(join(data, "x.atlas")));
    /* A path too long for the temporary name. */
    char longp[5000];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    memcpy(longp, data, strlen(data));
    longp[strlen(data)] = '/';
    build_fails(ctx, cat, data, NULL, NULL, longp, FP_EINVAL, NULL);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

/* The atlas records each source's path, size and modification time (ns)
 * as the file was when it was read. */
static void test_build_records_sources(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = syn_cat(ctx);
    const char *data = syn_data("sources");
    /* A distinctive mtime with nanoseconds. */
    const struct timespec ts[2] = {{1500000000, 123456789}, {1500000000, 123456789}};
    assert_int_equal(utimensat(AT_FDCWD, join(data, "boundaries/syn1.geojson"), ts, 0), 0);
    const char *out = join(data, "footprint.atlas");
    const char *const only[] = {"syn1", NULL};
    build_ok(ctx, cat, data, only, NULL, out);
    size_t n;
    unsigned char *f = test_read_file(out, &n);
    assert_true(n > 64);
    uint32_t nsect;
    memcpy(&nsect, f + 24, 4);
    assert_true(nsect >= 3 && 64 + (size_t)nsect * 64 <= n);
    const char *src = NULL;
    size_t srclen = 0;
    int layers = 0;
    for (uint32_t i = 0; i < nsect; i++) {
        const unsigned char *e = f + 64 + 64 * (size_t)i;
        uint64_t off, len;
        memcpy(&off, e + 40, 8);
        memcpy(&len, e + 48, 8);
        assert_true(off <= n && len <= n - off);
        if (!strncmp((const char *)e, "sources", 40)) src = (const char *)f + off, srclen = len;
        if (!strncmp((const char *)e, "layer/", 6)) {
            layers++;
            assert_string_equal((const char *)e, "layer/syn1");
        }
    }
    assert_int_equal(layers, 1);
    assert_non_null(src);
    char want[512];
    snprintf(want, sizeof want, "boundaries/syn1.geojson\t%zu\t1500000000123456789\n",
             strlen(syn1_geojson));
    assert_int_equal(srclen, strlen(want));
    assert_memory_equal(src, want, srclen);
    free(f);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

/* An allocation failure gives FP_ENOMEM, frees everything and writes
 * nothing: every one of the first 64 allocations, then every 29th (a build
 * makes thousands). */
static void test_build_allocation_failures(void **state)
{
    (void)state;
    fp_ctx *ctx = test_ctx();
    fp_catalogue *cat = syn_cat(ctx);
    const char *data = syn_data("alloc");
    const char *out = join(data, "footprint.atlas");
    long base = test_alloc_outstanding();
    int entries = count_entries(data);
    int rc = FP_ENOMEM;
    long n;
    const char *const only[] = {"syn2", NULL}; /* the smallest: fewest allocations */
    for (n = 0; n < 100000 && rc; n += n < 64 ? 1 : 29) {
        test_alloc_fail_after(n);
        rc = fp_atlas_build(ctx, cat, data, only, NULL, out);
        test_alloc_fail_after(-1);
        if (rc == FP_OK) break;
        if (rc != FP_ENOMEM)
            fail_msg("allocation %ld failed: status %d (%s)", n, rc, fp_ctx_errmsg(ctx));
        assert_int_equal(test_alloc_outstanding(), base);
        assert_int_equal(count_entries(data), entries);
    }
    assert_int_equal(rc, FP_OK);
    assert_true(n > 5); /* the failures did hit the build */
    assert_int_equal(test_alloc_outstanding(), base);
    fp_atlas *a = open_ok(ctx, out);
    const fp_layer *L = layer_ok(ctx, a, "syn2");
    assert_string_equal(code_at(L, 52.2, -2.5), "Z9");
    fp_atlas_free(a);
    fp_catalogue_free(cat);
    test_ctx_done(ctx);
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "%s/fp_test_build_XXXXXX",
             getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
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
        cmocka_unit_test(test_build_real_editions),
        cmocka_unit_test(test_build_unknown_edition_enotfound),
        cmocka_unit_test(test_build_missing_file_eio),
        cmocka_unit_test(test_build_missing_synthetic_file_eio),
        cmocka_unit_test(test_build_unwritable_output_eio),
        cmocka_unit_test(test_build_failure_keeps_old_atlas),
        cmocka_unit_test(test_build_write_failure_keeps_old_atlas),
        cmocka_unit_test(test_build_replaces_open_atlas),
        cmocka_unit_test(test_build_synthetic_all_editions),
        cmocka_unit_test(test_build_index_options_kept),
        cmocka_unit_test(test_build_empty_selection_einval),
        cmocka_unit_test(test_build_records_sources),
        cmocka_unit_test(test_build_allocation_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
