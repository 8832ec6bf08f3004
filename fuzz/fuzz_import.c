/*
 * libFuzzer target: the postcode importer (fp_postcodes_import), which
 * reads NSPL, ONSPD and Code-Point Open CSVs, plain or gzip, by its own
 * streaming reader.  Each input is one file.  The import either fails
 * with a message and leaves nothing behind (no index, no temporary file),
 * or writes an index that opens, verifies, holds exactly the postcodes the
 * statistics count, and gives every postcode back by name at the
 * coordinates it lists.  A geo target: British National Grid rows go
 * through PROJ, so it links the whole library.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fp_ctx *ctx;
static char dir[256], out[300];

static void cleanup(void)
{
    unlink(out);
    rmdir(dir);
    fp_ctx_free(ctx);
}

static void setup(void)
{
    if (fp_ctx_new(&ctx)) abort();
    /* Memory-backed where there is one: each run writes an index. */
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/fuzz-import-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) abort();
    snprintf(out, sizeof out, "%s/pc.fpi", dir);
    atexit(cleanup);
}

/* Nothing but (at most) the index in the output directory. */
static void only_index(int want_index)
{
    DIR *d = opendir(dir);
    if (!d) abort();
    int index = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (strcmp(e->d_name, "pc.fpi") != 0) {
            fprintf(stderr, "left behind: %s\n", e->d_name);
            abort();
        }
        index = 1;
    }
    closedir(d);
    if (index != want_index) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) setup();
    unlink(out);
    const char *in = fuzz_input_file("fuzz-import", data, size);
    fp_postcodes_import_stats st;
    memset(&st, 0xa5, sizeof st); /* every field must be written */
    int rc = fp_postcodes_import(ctx, &in, 1, out, &st);
    if (rc != FP_OK) {
        const char *msg = fp_ctx_errmsg(ctx);
        if (!msg || !*msg || strchr(msg, '\n')) abort(); /* one line */
        only_index(0);
        return 0;
    }
    only_index(1);
    if (st.files != 1 || st.postcodes == 0 || st.postcodes > st.rows ||
        st.no_grid + st.malformed + st.duplicates + st.postcodes != st.rows ||
        st.moved > st.duplicates)
        abort();
    fp_postcodes *pc;
    if (fp_postcodes_open(ctx, out, &pc) != FP_OK || fp_postcodes_verify(ctx, pc) != FP_OK)
        abort();
    if (fp_postcodes_count(pc) != st.postcodes) abort();
    for (size_t i = 0; i < fp_postcodes_count(pc); i++) {
        char p[FP_POSTCODE_MAX], q[FP_POSTCODE_MAX];
        double lat, lon, lat2, lon2;
        if (fp_postcodes_get(pc, i, p, &lat, &lon) != FP_OK) abort();
        if (!(lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180)) abort();
        if (fp_postcode_normalise(p, q) != FP_OK || strcmp(p, q) != 0) abort();
        if (fp_postcodes_find(pc, p, &lat2, &lon2) != FP_OK || lat2 != lat || lon2 != lon)
            abort();
    }
    fp_postcodes_free(pc);
    return 0;
}
