/*
 * libFuzzer target: postcode normalisation and the postcode index.
 *
 * An input starting with the index magic "FPPCODE\0" is an index file: it
 * is opened from a memory file as it is and again "repaired" (header,
 * district table, sources and per-district checksums recomputed, so that
 * mutations get past the checksums to the bounds and order checks), and
 * whatever opens is read back whole: every postcode by position, found
 * again by name, the batch form, and full verification.
 *
 * Any other input is a list of strings separated by NUL bytes, each
 * normalised and looked up in a small index of real postcodes: the normal
 * form must be a fixed point, lookups of a string and of its normal form
 * must agree, and a string that does not normalise must be malformed for
 * the lookup too.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* lib/src/postcode.c (private, shared with the importer). */
int fp__postcode_key(const char *in, uint64_t *key);
int fp__postcodes_write(fp_ctx *ctx, const char *path, const uint64_t *keys,
                        const int32_t *latlon, size_t n, const char *sources,
                        size_t *bytes, size_t *districts);

typedef fp__pc_hdr pc_hdr;
typedef fp__pc_dist pc_dist;

static volatile size_t sink;
static fp_ctx *ctx;
static fp_postcodes *fixed; /* the small real index for text inputs */
static char fixed_dir[256];

static void cleanup(void)
{
    fp_postcodes_free(fixed);
    if (*fixed_dir) {
        char p[300];
        snprintf(p, sizeof p, "%s/pc.idx", fixed_dir);
        unlink(p);
        rmdir(fixed_dir);
    }
    fp_ctx_free(ctx);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void setup(void)
{
    if (fp_ctx_new(&ctx)) abort();
    /* Real postcodes (ONS NSPL) of every outward shape, GIR and NPT. */
    static const struct {
        const char *pc;
        double lat, lon;
    } real[] = {
        {"S1 2HE", 53.381129, -1.470085},   {"DG1 1AA", 55.069708, -3.609592},
        {"AB10 1AA", 57.143749, -2.097520}, {"W1A 1AA", 51.518561, -0.143799},
        {"EC1A 1BB", 51.520180, -0.097430}, {"M1 1AE", 53.479251, -2.235917},
        {"B33 8TH", 52.479270, -1.775490},  {"CR2 6XH", 51.339570, -0.099890},
        {"LS1 4AP", 53.797419, -1.548640},  {"GIR 0AA", 51.474760, -0.110950},
        {"NPT 1AA", 51.588150, -2.997650},  {"SW1A 2AA", 51.503541, -0.127670},
    };
    size_t n = sizeof real / sizeof *real;
    struct {
        uint64_t key;
        int32_t ll[2];
    } rec[16];
    for (size_t i = 0; i < n; i++) {
        if (!fp__postcode_key(real[i].pc, &rec[i].key)) abort();
        rec[i].ll[0] = (int32_t)lround(real[i].lat * 1e6);
        rec[i].ll[1] = (int32_t)lround(real[i].lon * 1e6);
    }
    qsort(rec, n, sizeof rec[0], cmp_u64); /* key first: sorts by key */
    uint64_t keys[16];
    int32_t ll[32];
    for (size_t i = 0; i < n; i++)
        keys[i] = rec[i].key, ll[2 * i] = rec[i].ll[0], ll[2 * i + 1] = rec[i].ll[1];
    const char *tmp = getenv("TMPDIR");
    snprintf(fixed_dir, sizeof fixed_dir, "%s/fuzz-postcode-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fixed_dir)) abort();
    char path[300];
    snprintf(path, sizeof path, "%s/pc.idx", fixed_dir);
    if (fp__postcodes_write(ctx, path, keys, ll, n, "fuzz\n", NULL, NULL) ||
        fp_postcodes_open(ctx, path, &fixed))
        abort();
    atexit(cleanup);
}

/* ---- index files ---- */

static uint64_t block_hash(const uint8_t *keys, const uint8_t *coords, size_t n)
{
    return fp__hash64(keys, n * 2) * 0x9e3779b97f4a7c15u ^ fp__hash64(coords, n * 8);
}

/* Recomputes every checksum the layout lets us reach; 0 if none. */
static int repair(uint8_t *d, size_t size)
{
    if (size < sizeof(pc_hdr)) return 0;
    pc_hdr h;
    memcpy(&h, d, sizeof h);
    h.file_size = size;
    if (h.dist_off <= size && h.ndist <= (size - h.dist_off) / sizeof(pc_dist)) {
        for (uint32_t i = 0; i < h.ndist; i++) {
            pc_dist e;
            uint8_t *p = d + h.dist_off + (size_t)i * sizeof e;
            memcpy(&e, p, sizeof e);
            uint64_t end = (uint64_t)e.first + e.n;
            if (end <= h.count && h.keys_off <= size && h.coords_off <= size &&
                end <= (size - h.keys_off) / 2 && end <= (size - h.coords_off) / 8) {
                e.hash = block_hash(d + h.keys_off + 2 * (size_t)e.first,
                                    d + h.coords_off + 8 * (size_t)e.first, e.n);
                memcpy(p, &e, sizeof e);
            }
        }
        h.dist_hash = fp__hash64(d + h.dist_off, h.ndist * sizeof(pc_dist));
    }
    if (h.sources_off <= size && h.sources_len <= size - h.sources_off)
        h.sources_hash = fp__hash64(d + h.sources_off, (size_t)h.sources_len);
    h.header_hash = fp__hash64(&h, offsetof(pc_hdr, header_hash));
    memcpy(d, &h, sizeof h);
    return 1;
}

static void read_index(const fp_postcodes *pc)
{
    size_t n = fp_postcodes_count(pc);
    sink += fp_postcodes_districts(pc) + fp_postcodes_size(pc) +
            (size_t)fp_postcodes_created(pc) + strlen(fp_postcodes_sources(pc));
    enum { MAXQ = 512 };
    static char names[MAXQ][FP_POSTCODE_MAX];
    const char *q[MAXQ];
    size_t nq = 0;
    size_t step = n / MAXQ + 1;
    for (size_t i = 0; i < n && nq < MAXQ; i += step) {
        double lat, lon;
        char pcode[FP_POSTCODE_MAX];
        int rc = fp_postcodes_get(pc, i, pcode, &lat, &lon);
        if (rc == FP_EFORMAT) continue; /* damaged district: said so */
        if (rc != FP_OK) abort();
        /* What the index lists, it finds, where it says. */
        char norm[FP_POSTCODE_MAX];
        if (fp_postcode_normalise(pcode, norm) || strcmp(norm, pcode)) abort();
        double lat2, lon2;
        if (fp_postcodes_find(pc, pcode, &lat2, &lon2) != FP_OK) abort();
        if (!(lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180)) abort();
        (void)lat2, (void)lon2; /* duplicate keys are refused: same record */
        memcpy(names[nq], pcode, FP_POSTCODE_MAX);
        q[nq] = names[nq];
        nq++;
    }
    if (fp_postcodes_get(pc, n, NULL, NULL, NULL) != FP_EINVAL) abort();
    static double lat[MAXQ], lon[MAXQ];
    static int st[MAXQ];
    size_t found = fp_postcodes_find_n(pc, q, nq, lat, lon, st);
    if (found != nq) abort();
    static const char *const misc[] = {"S1 2HE", "ZZ99 9ZZ", "GIR 0AA", "x", ""};
    for (size_t i = 0; i < 5; i++) sink += (size_t)fp_postcodes_find(pc, misc[i], NULL, NULL);
    int rc = fp_postcodes_verify(ctx, pc);
    if (rc != FP_OK && (rc != FP_EFORMAT || !*fp_ctx_errmsg(ctx))) abort();
}

static void try_index(const uint8_t *d, size_t size)
{
    const char *input = fuzz_input_file("fuzz-postcode", d, size);
    fp_postcodes *pc = NULL;
    int rc = fp_postcodes_open(ctx, input, &pc);
    if (rc == FP_OK) {
        if (!pc) abort();
        read_index(pc);
        fp_postcodes_free(pc);
    } else {
        if (pc || (rc != FP_EFORMAT && rc != FP_EIO && rc != FP_ENOMEM)) abort();
        const char *msg = fp_ctx_errmsg(ctx);
        if (!*msg || strchr(msg, '\n')) abort();
    }
}

/* ---- strings ---- */

static void one_string(const char *s)
{
    char out[FP_POSTCODE_MAX];
    memset(out, 'x', sizeof out);
    int rc = fp_postcode_normalise(s, out);
    double lat = NAN, lon = NAN;
    int f = fp_postcodes_find(fixed, s, &lat, &lon);
    uint64_t key = 0;
    int k = fp__postcode_key(s, &key);
    if (rc != FP_OK) {
        if (rc != FP_EINVAL || out[0] != '\0' || f != FP_EINVAL || k) abort();
        return;
    }
    size_t len = strlen(out);
    if (len < 6 || len > 8 || !k || (f != FP_OK && f != FP_ENOTFOUND)) abort();
    for (size_t i = 0; i < len; i++)
        if (!((out[i] >= 'A' && out[i] <= 'Z') || (out[i] >= '0' && out[i] <= '9') ||
              (out[i] == ' ' && i == len - 4)))
            abort();
    char again[FP_POSTCODE_MAX];
    if (fp_postcode_normalise(out, again) || strcmp(again, out)) abort();
    uint64_t key2 = 0;
    if (!fp__postcode_key(out, &key2) || key2 != key) abort();
    double lat2 = NAN, lon2 = NAN;
    int f2 = fp_postcodes_find(fixed, out, &lat2, &lon2);
    if (f2 != f) abort();
    if (f == FP_OK && (lat != lat2 || lon != lon2)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) setup();
    if (size >= 8 && memcmp(data, "FPPCODE", 8) == 0) {
        try_index(data, size);
        uint8_t *copy = malloc(size);
        if (!copy) abort();
        memcpy(copy, data, size);
        if (repair(copy, size)) try_index(copy, size);
        free(copy);
        return 0;
    }
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = '\0';
    for (size_t i = 0; i <= size;) {
        one_string(s + i);
        i += strlen(s + i) + 1;
    }
    one_string(NULL);
    free(s);
    return 0;
}
