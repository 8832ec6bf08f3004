/*
 * which.c — the smallest useful libfootprint program: which footprint of a
 * boundary file covers a latitude/longitude.
 *
 *   cc $(pkg-config --cflags footprint) which.c \
 *      $(pkg-config --libs footprint) -o which
 *   ./which ../shared/geodata/boundaries/icb_2026_bsc.geojson 53.381 -1.470
 */
#include <stdio.h>
#include <stdlib.h>

#include <footprint.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: which BOUNDARY_FILE LAT LON\n");
        return 2;
    }
    fp_ctx *ctx;
    if (fp_ctx_new(&ctx) != FP_OK) return 3;

    /* Any OGR source in any CRS; ONS code/name fields are detected. */
    fp_layer *layer;
    if (fp_layer_open(ctx, argv[1], NULL, &layer) != FP_OK) {
        fprintf(stderr, "which: %s\n", fp_ctx_errmsg(ctx));
        fp_ctx_free(ctx);
        return 3;
    }
    double lat = atof(argv[2]), lon = atof(argv[3]);
    if (fp_check_latlon(ctx, lat, lon) != FP_OK) {
        fprintf(stderr, "which: %s\n", fp_ctx_errmsg(ctx));
        fp_layer_free(layer);
        fp_ctx_free(ctx);
        return 2;
    }
    /* Queries cannot fail; within 5 km of the coast the nearest counts. */
    fp_match m = fp_layer_locate(layer, lat, lon, 5000);
    int status = 1;
    if (m.kind != FP_MATCH_NONE) {
        printf("%s\t%s\t%s\t%.0f m\n", fp_layer_code(layer, (size_t)m.index),
               fp_layer_name(layer, (size_t)m.index),
               m.kind == FP_MATCH_CONTAINED ? "contained" : "nearest",
               m.distance_m);
        status = 0;
    }
    fp_layer_free(layer);
    fp_ctx_free(ctx);
    return status;
}
