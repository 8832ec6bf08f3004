/*
 * Threads: one loaded atlas answering from 8 threads at once must give
 * exactly the single-threaded answers, for a million points, through every
 * query entry point (fp_layer_find_n, fp_layer_locate, fp_atlas_chain and
 * a batch plan), and first-use verification of a section may be raced by
 * all 8 (one verifies, the others wait, all get the same layer; a corrupt
 * section is refused to every one of them with the same message).
 *
 * The atlas is built once, in a temporary directory, from the real
 * catalogue and only the editions a 2024 chain needs.
 */
#include "support.h"
#include "internal.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NTHREADS 8
#define NPOINTS 1000000
#define DATE "2024-06-01"

static char root[4096], atlas_path[4200], bad_path[4200];
static fp_ctx *gctx;
static fp_catalogue *gcat;
static fp_atlas *gatlas;
static double *plat, *plon;

static const char *const editions[] = {"nhser2024", "icb2023", "sicbl2023", "lad2024",
                                       NULL};

/* A fixed xorshift stream: the same points every run. */
static uint64_t rng = 0x9e3779b97f4a7c15u;
static double uniform(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* Points over England's box and its coasts (some at sea, for nearest), a
 * share of them exactly on the footprints' vertices (the boundary rule's
 * hardest cases), and a few invalid ones. */
static void make_points(const fp_layer *L)
{
    const fp_layer *G = L;
    for (size_t i = 0; i < NPOINTS; i++) {
        if (i % 10 == 7 && G->npts) {
            size_t v = (size_t)(uniform() * (double)G->npts) % G->npts;
            plon[i] = G->pts[2 * v], plat[i] = G->pts[2 * v + 1];
        } else {
            plat[i] = 49.8 + uniform() * (55.9 - 49.8);
            plon[i] = -6.5 + uniform() * (2.0 + 6.5);
        }
    }
    plat[0] = NAN, plon[1] = INFINITY, plat[2] = 95.0, plon[3] = -200.0;
}

/* ---- running a job on 8 threads ---- */

typedef struct job {
    pthread_barrier_t *start;
    void (*fn)(struct job *j, size_t from, size_t to);
    size_t from, to; /* this thread's share (or all of it) */
    fp_ctx *ctx;     /* the thread's own context */
    int rc;
    void *out;
} job;

static void *trampoline(void *arg)
{
    job *j = arg;
    pthread_barrier_wait(j->start);
    j->fn(j, j->from, j->to);
    return NULL;
}

/* Runs fn over [0, NPOINTS) cut into NTHREADS contiguous shares (or, with
 * whole set, every thread over all of it, into its own out). */
static void run_threads(void (*fn)(job *, size_t, size_t), void **outs, job *jobs)
{
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, NTHREADS), 0);
    pthread_t t[NTHREADS];
    for (int k = 0; k < NTHREADS; k++) {
        jobs[k].start = &start;
        jobs[k].fn = fn;
        if (!outs) {
            jobs[k].from = NPOINTS / NTHREADS * (size_t)k;
            jobs[k].to = k == NTHREADS - 1 ? NPOINTS : NPOINTS / NTHREADS * (size_t)(k + 1);
        }
        if (outs) jobs[k].out = outs[k];
        jobs[k].ctx = test_ctx();
        jobs[k].rc = FP_OK;
        assert_int_equal(pthread_create(&t[k], NULL, trampoline, &jobs[k]), 0);
    }
    for (int k = 0; k < NTHREADS; k++) assert_int_equal(pthread_join(t[k], NULL), 0);
    pthread_barrier_destroy(&start);
    for (int k = 0; k < NTHREADS; k++) {
        if (jobs[k].rc) fail_msg("thread %d: %s", k, fp_ctx_errmsg(jobs[k].ctx));
        fp_ctx_free(jobs[k].ctx);
    }
}

static const fp_layer *layer_ok(fp_ctx *ctx, const fp_atlas *a, const char *ed)
{
    const fp_layer *L = NULL;
    int rc = fp_atlas_layer(ctx, a, ed, &L);
    if (rc) fail_msg("%s: %s", ed, fp_ctx_errmsg(ctx));
    return L;
}

/* ---- fp_layer_find_n: every thread all million points ---- */

static const fp_layer *find_layer;

static void find_fn(job *j, size_t from, size_t to)
{
    (void)from, (void)to;
    fp_layer_find_n(find_layer, plat, plon, NPOINTS, j->out);
}

static void test_threads_find_n_agree(void **state)
{
    (void)state;
    test_require_data();
    const char *eds[] = {"sicbl2023", "lad2024"};
    for (int e = 0; e < 2; e++) {
        find_layer = layer_ok(gctx, gatlas, eds[e]);
        int32_t *want = malloc(NPOINTS * sizeof *want);
        void *outs[NTHREADS];
        assert_non_null(want);
        for (size_t i = 0; i < NPOINTS; i++) want[i] = (int32_t)fp_layer_find(find_layer, plat[i], plon[i]);
        size_t found = 0;
        for (size_t i = 0; i < NPOINTS; i++) found += want[i] >= 0;
        /* A third of the box is England: a test whose points all miss
         * would compare nothing. */
        assert_true(found > NPOINTS / 5);
        for (int k = 0; k < NTHREADS; k++) {
            outs[k] = malloc(NPOINTS * sizeof(int32_t));
            assert_non_null(outs[k]);
        }
        job jobs[NTHREADS];
        memset(jobs, 0, sizeof jobs);
        run_threads(find_fn, outs, jobs);
        for (int k = 0; k < NTHREADS; k++) {
            const int32_t *got = outs[k];
            for (size_t i = 0; i < NPOINTS; i++)
                if (got[i] != want[i])
                    fail_msg("%s, thread %d, point %zu (%.9f, %.9f): %d, want %d", eds[e], k, i,
                             plat[i], plon[i], got[i], want[i]);
            free(outs[k]);
        }
        free(want);
    }
}

/* ---- fp_layer_locate with nearest: the million shared out ---- */

static const fp_layer *locate_layer;
static fp_match *locate_out;

static void locate_fn(job *j, size_t from, size_t to)
{
    (void)j;
    for (size_t i = from; i < to; i++)
        locate_out[i] = fp_layer_locate(locate_layer, plat[i], plon[i], 3000.0);
}

static int same_match(fp_match a, fp_match b)
{
    if (a.index != b.index || a.kind != b.kind) return 0;
    return a.distance_m == b.distance_m || (a.distance_m != a.distance_m && b.distance_m != b.distance_m);
}

static void test_threads_locate_agree(void **state)
{
    (void)state;
    test_require_data();
    locate_layer = layer_ok(gctx, gatlas, "icb2023");
    locate_out = malloc(NPOINTS * sizeof *locate_out);
    fp_match *want = malloc(NPOINTS * sizeof *want);
    assert_true(locate_out && want);
    size_t nearest = 0;
    for (size_t i = 0; i < NPOINTS; i++) {
        want[i] = fp_layer_locate(locate_layer, plat[i], plon[i], 3000.0);
        nearest += want[i].kind == FP_MATCH_NEAREST;
    }
    assert_true(nearest > 0); /* the coast was reached */
    job jobs[NTHREADS];
    memset(jobs, 0, sizeof jobs);
    run_threads(locate_fn, NULL, jobs);
    for (size_t i = 0; i < NPOINTS; i++)
        if (!same_match(locate_out[i], want[i]))
            fail_msg("point %zu: %ld/%d/%g, want %ld/%d/%g", i, locate_out[i].index,
                     locate_out[i].kind, locate_out[i].distance_m, want[i].index, want[i].kind,
                     want[i].distance_m);
    free(want);
    free(locate_out);
}

/* ---- fp_atlas_chain: the million shared out, compared by digest ---- */

static uint64_t fold(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3u; }

static uint64_t str_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u;
    while (s && *s) h = fold(h, (unsigned char)*s++);
    return h;
}

/* Everything a chain says, in one number (codes are compared by their
 * address in the atlas: one mapping, so equal codes share it). */
static uint64_t chain_digest(const fp_link links[FP_TIER_COUNT])
{
    uint64_t h = 1469598103934665603u;
    for (int t = 0; t < FP_TIER_COUNT; t++) {
        const fp_link *k = &links[t];
        h = fold(h, (uint64_t)k->tier);
        h = fold(h, (uint64_t)(uintptr_t)k->edition);
        h = fold(h, str_hash(k->code));
        h = fold(h, str_hash(k->name));
        h = fold(h, str_hash(k->ods_code));
        h = fold(h, str_hash(k->status));
        h = fold(h, (uint64_t)k->kind);
        uint64_t bits;
        memcpy(&bits, &k->distance_m, sizeof bits);
        h = fold(h, k->distance_m == k->distance_m ? bits : 0);
    }
    return h;
}

static uint64_t *chain_out;

static void chain_fn(job *j, size_t from, size_t to)
{
    for (size_t i = from; i < to && !j->rc; i++) {
        fp_link links[FP_TIER_COUNT];
        j->rc = fp_atlas_chain(j->ctx, gatlas, plat[i], plon[i], DATE, 1000.0, links);
        chain_out[i] = chain_digest(links);
    }
}

static void test_threads_chain_agree(void **state)
{
    (void)state;
    test_require_data();
    chain_out = malloc(NPOINTS * sizeof *chain_out);
    uint64_t *want = malloc(NPOINTS * sizeof *want);
    assert_true(chain_out && want);
    size_t full = 0;
    for (size_t i = 0; i < NPOINTS; i++) {
        fp_link links[FP_TIER_COUNT];
        assert_int_equal(fp_atlas_chain(gctx, gatlas, plat[i], plon[i], DATE, 1000.0, links),
                         FP_OK);
        want[i] = chain_digest(links);
        full += links[FP_TIER_REGION].code && links[FP_TIER_SYSTEM].code &&
                links[FP_TIER_SUB].code && links[FP_TIER_LA].code;
    }
    assert_true(full > NPOINTS / 5); /* the chains are not empty */
    job jobs[NTHREADS];
    memset(jobs, 0, sizeof jobs);
    run_threads(chain_fn, NULL, jobs);
    for (size_t i = 0; i < NPOINTS; i++)
        if (chain_out[i] != want[i]) fail_msg("point %zu (%.9f, %.9f): chains differ", i, plat[i], plon[i]);
    free(want);
    free(chain_out);
}

/* ---- a batch plan: the million shared out ---- */

static const fp_plan *gplan;
static fp_hit *plan_out;

static void plan_fn(job *j, size_t from, size_t to)
{
    (void)j;
    size_t nc = fp_plan_columns(gplan);
    fp_plan_locate_n(gplan, plat + from, plon + from, to - from, 1000.0, plan_out + from * nc);
}

static void test_threads_plan_agree(void **state)
{
    (void)state;
    test_require_data();
    fp_ctx *ctx = test_ctx();
    fp_plan *plan = NULL;
    assert_int_equal(fp_plan_new(ctx, gatlas, &plan), FP_OK);
    for (int t = 0; t < FP_TIER_COUNT; t++)
        assert_int_equal(fp_plan_add_tier(ctx, plan, t, DATE), FP_OK);
    assert_int_equal(fp_plan_add_edition(ctx, plan, "icb2023"), FP_OK);
    size_t nc = fp_plan_columns(plan);
    assert_int_equal(nc, FP_TIER_COUNT + 1);
    gplan = plan;
    fp_hit *want = calloc(NPOINTS * nc, sizeof *want);
    plan_out = calloc(NPOINTS * nc, sizeof *plan_out);
    assert_true(want && plan_out);
    fp_plan_locate_n(plan, plat, plon, NPOINTS, 1000.0, want);
    size_t hits = 0;
    for (size_t i = 0; i < NPOINTS * nc; i++) hits += want[i].entry >= 0;
    assert_true(hits > NPOINTS);
    job jobs[NTHREADS];
    memset(jobs, 0, sizeof jobs);
    run_threads(plan_fn, NULL, jobs);
    for (size_t i = 0; i < NPOINTS * nc; i++) {
        const fp_hit *a = &plan_out[i], *b = &want[i];
        if (a->entry != b->entry || a->kind != b->kind ||
            !(a->distance_m == b->distance_m ||
              (a->distance_m != a->distance_m && b->distance_m != b->distance_m)))
            fail_msg("point %zu column %zu: %d/%d, want %d/%d", i / nc, i % nc, a->entry,
                     a->kind, b->entry, b->kind);
    }
    /* The pinned edition's column is fp_layer_find's answer. */
    const fp_layer *icb = layer_ok(ctx, gatlas, "icb2023");
    for (size_t i = 0; i < NPOINTS; i += 97) {
        long f = fp_layer_find(icb, plat[i], plon[i]);
        const fp_hit *h = &want[i * nc + FP_TIER_COUNT];
        if (f >= 0) {
            assert_int_equal(h->kind, FP_MATCH_CONTAINED);
            const fp_link *k = fp_plan_answer(plan, FP_TIER_COUNT, h->entry);
            assert_non_null(k);
            assert_string_equal(k->code, fp_layer_code(icb, (size_t)f));
        } else {
            assert_int_not_equal(h->kind, FP_MATCH_CONTAINED);
        }
    }
    free(want);
    free(plan_out);
    fp_plan_free(plan);
    test_ctx_done(ctx);
}

/* ---- first use: 8 threads verify the same fresh sections ---- */

typedef struct race {
    const fp_atlas *atlas;
    const fp_layer *layers[4];
    int rc[4];
    char msg[4][FP_ERRMSG_MAX];
} race;

static race races[NTHREADS];

static void race_fn(job *j, size_t from, size_t to)
{
    (void)from, (void)to;
    race *r = j->out;
    /* Threads take the editions in different orders, so each section is
     * first touched by several threads at once in every round. */
    int k = (int)(r - races);
    for (int e = 0; e < 4; e++) {
        int i = (e + k) % 4;
        r->rc[i] = fp_atlas_layer(j->ctx, r->atlas, editions[i], &r->layers[i]);
        snprintf(r->msg[i], sizeof r->msg[i], "%s", fp_ctx_errmsg(j->ctx));
        if (r->rc[i] == FP_OK) (void)fp_layer_find(r->layers[i], 53.381, -1.470);
    }
}

static void race_once(const char *path, int want_bad)
{
    fp_ctx *ctx = test_ctx();
    fp_atlas *a = NULL;
    if (fp_atlas_open(ctx, path, &a)) fail_msg("%s", fp_ctx_errmsg(ctx));
    void *outs[NTHREADS];
    memset(races, 0, sizeof races);
    for (int k = 0; k < NTHREADS; k++) races[k].atlas = a, outs[k] = &races[k];
    job jobs[NTHREADS];
    memset(jobs, 0, sizeof jobs);
    run_threads(race_fn, outs, jobs);
    for (int i = 0; i < 4; i++) {
        int bad = want_bad && i == 2; /* sicbl2023 is the damaged one */
        for (int k = 0; k < NTHREADS; k++) {
            if (bad) {
                assert_int_equal(races[k].rc[i], FP_EFORMAT);
                assert_null(races[k].layers[i]);
                assert_non_null(strstr(races[k].msg[i], "layer/sicbl2023"));
                assert_string_equal(races[k].msg[i], races[0].msg[i]);
            } else {
                if (races[k].rc[i]) fail_msg("thread %d: %s", k, races[k].msg[i]);
                assert_ptr_equal(races[k].layers[i], races[0].layers[i]);
            }
        }
        if (!bad) {
            /* The raced section answers as the settled one does. */
            const fp_layer *ref = layer_ok(gctx, gatlas, editions[i]);
            const fp_layer *L = races[0].layers[i];
            assert_int_equal(fp_layer_count(L), fp_layer_count(ref));
            for (size_t p = 0; p < NPOINTS; p += 1009)
                assert_int_equal(fp_layer_find(L, plat[p], plon[p]),
                                 fp_layer_find(ref, plat[p], plon[p]));
        }
    }
    fp_atlas_free(a);
    test_ctx_done(ctx);
}

static void test_threads_first_use_verification_race(void **state)
{
    (void)state;
    test_require_data();
    for (int round = 0; round < 8; round++) race_once(atlas_path, 0);
}

/* A damaged section: every racing thread is refused, the same way. */
static void test_threads_corrupt_section_race(void **state)
{
    (void)state;
    test_require_data();
    for (int round = 0; round < 4; round++) race_once(bad_path, 1);
}

/* ---- setup ---- */

/* Copies the atlas to bad_path with one byte of sicbl2023's section
 * flipped (found through the section table: name, offset, length). */
static int write_damaged(void)
{
    FILE *f = fopen(atlas_path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    size_t n = (size_t)ftell(f);
    rewind(f);
    unsigned char *d = malloc(n);
    if (!d || fread(d, 1, n, f) != n) return -1;
    fclose(f);
    uint32_t nsect;
    memcpy(&nsect, d + 24, 4);
    int done = 0;
    for (uint32_t i = 0; i < nsect; i++) {
        const unsigned char *e = d + 64 + 64 * (size_t)i;
        if (strncmp((const char *)e, "layer/sicbl2023", 40)) continue;
        uint64_t off, len;
        memcpy(&off, e + 40, 8);
        memcpy(&len, e + 48, 8);
        if (off + len > n || len < 1000) return -1;
        d[off + len / 2] ^= 0x10;
        done = 1;
    }
    f = fopen(bad_path, "wb");
    if (!done || !f || fwrite(d, 1, n, f) != n || fclose(f)) return -1;
    free(d);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/fp_test_threads_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(root)) return -1;
    const char *data = test_data_dir();
    if (!data) return 0; /* the tests skip themselves */
    if (fp_ctx_new(&gctx)) return -1;
    const char *src = getenv("FOOTPRINT_TEST_CATALOGUE");
    snprintf(atlas_path, sizeof atlas_path, "%s/threads.atlas", root);
    snprintf(bad_path, sizeof bad_path, "%s/damaged.atlas", root);
    if (fp_catalogue_load(gctx, src && *src ? src : "geodata/editions.csv", &gcat) ||
        fp_atlas_build(gctx, gcat, data, editions, NULL, atlas_path) ||
        fp_atlas_open(gctx, atlas_path, &gatlas)) {
        fprintf(stderr, "setup: %s\n", fp_ctx_errmsg(gctx));
        return -1;
    }
    if (write_damaged()) {
        fprintf(stderr, "setup: cannot write a damaged copy\n");
        return -1;
    }
    const fp_layer *L = NULL;
    plat = malloc(NPOINTS * sizeof *plat);
    plon = malloc(NPOINTS * sizeof *plon);
    if (!plat || !plon || fp_atlas_layer(gctx, gatlas, "sicbl2023", &L)) return -1;
    make_points(L);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fp_atlas_free(gatlas);
    fp_catalogue_free(gcat);
    fp_ctx_free(gctx);
    free(plat);
    free(plon);
    test_rm_tree(root);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_find_n_agree),
        cmocka_unit_test(test_threads_locate_agree),
        cmocka_unit_test(test_threads_chain_agree),
        cmocka_unit_test(test_threads_plan_agree),
        cmocka_unit_test(test_threads_first_use_verification_race),
        cmocka_unit_test(test_threads_corrupt_section_race),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
