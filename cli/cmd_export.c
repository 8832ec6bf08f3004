/* footprint export: an edition's footprints through OGR, optionally
 * simplified with shared boundaries kept. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "footprint.h"

int cmd_export(int argc, char **argv);
extern const char export_help[];

const char export_help[] =
    "Usage: footprint export --out FILE [--edition ID | --level LEVEL] [--date YYYY-MM-DD]\n"
    "                        [--format NAME] [--simplify METRES] [--keep-area M2]\n"
    "                        [--precision N] [--data DIR] [--catalogue FILE] [--atlas FILE]\n"
    "\n"
    "Writes the footprints of an edition to FILE, in any vector format GDAL\n"
    "writes, chosen by the extension (.geojson, .gpkg, .fgb, .shp) or --format:\n"
    "one MultiPolygon per footprint (WGS84; GeoJSON as RFC 7946) with code,\n"
    "ods_code, name, level, edition, region_code/name, system_code/name (for\n"
    "ICSs, places and sub-ICB locations), valid_from, valid_to, and the Open\n"
    "Government Licence attribution.  The file is written under a temporary\n"
    "name and renamed when complete.\n"
    "\n"
    "  --out FILE          where to write (a Shapefile's parts go beside it;\n"
    "                      --format 'ESRI Shapefile' with no .shp: a folder)\n"
    "  --edition ID        the edition (see 'footprint editions'); default: the\n"
    "                      system tier (ICBs, before July 2022 STPs) on the date\n"
    "  --level LEVEL       the edition of this level (icb, stp, ics, icp, sicbl,\n"
    "                      ccg, nhser, lad, ...) or tier (region, system, ics,\n"
    "                      place, sub, la) valid on the date\n"
    "  --date YYYY-MM-DD   footprints valid on this day, parents as on it\n"
    "                      (default: today for --level; with --edition, every\n"
    "                      footprint, each as on its last day up to today)\n"
    "  --format NAME       GeoJSON, GPKG, FlatGeobuf, 'ESRI Shapefile' or any\n"
    "                      GDAL vector driver that creates files\n"
    "  --simplify METRES   simplify, keeping neighbours seamless: each shared\n"
    "                      boundary is simplified once (e.g. 100 for web maps)\n"
    "  --keep-area M2      islands and holes touching no neighbour and smaller\n"
    "                      than this may go (default 4 x METRES squared); no\n"
    "                      footprint and no larger part ever does\n"
    "  --precision N       decimals of coordinates (GeoJSON default 7; 5 is\n"
    "                      about a metre)\n"
    "  --data DIR          data directory (default $FOOTPRINT_DATA)\n"
    "  --catalogue FILE    editions catalogue (default: built in)\n"
    "  --atlas FILE        compiled atlas (default: footprint.atlas in the data\n"
    "                      directory, when there is one)\n"
    "  -h, --help          this help\n"
    "\n"
    "Exit status: 0 written, 2 usage error, 3 data or output error.\n";

enum { O_FORMAT = O_FIRST_FREE, O_SIMPLIFY, O_PRECISION, O_KEEP };

#ifndef FP_CLI_LIGHT
/* Levels of a tier name, preferred first; else the level itself. */
static void levels_of(const char *name, const char *out[3])
{
    static const struct {
        const char *tier, *levels[3];
    } tiers[] = {{"region", {"nhser", NULL}}, {"system", {"icb", "stp", NULL}},
                 {"place", {"icp", NULL}},    {"sub", {"sicbl", "ccg", NULL}},
                 {"la", {"lad", NULL}}};
    for (size_t i = 0; i < sizeof tiers / sizeof *tiers; i++)
        if (strcmp(name, tiers[i].tier) == 0) {
            memcpy(out, tiers[i].levels, sizeof tiers[i].levels);
            return;
        }
    out[0] = name;
    out[1] = out[2] = NULL;
}

static int source(void *arg, fp_ctx *ctx, const fp_edition *ed, const fp_layer **out)
{
    return chain_layer(ctx, arg, ed, out);
}

/* The edition of a level (or tier) valid on the date that has boundaries
 * of its own: editions via finer areas have none to write. */
static const fp_edition *level_edition(fp_ctx *ctx, fp_catalogue *cat, chain_src *cs,
                                       const char *level, const char *date)
{
    const char *levels[3];
    levels_of(level, levels);
    int known = 0;
    for (int l = 0; l < 3 && levels[l]; l++) {
        const fp_edition *tried[32];
        size_t ntried = 0;
        while (ntried < 32) {
            const fp_edition *best = NULL;
            for (size_t i = 0; i < fp_catalogue_count(cat); i++) {
                const fp_edition *e = fp_catalogue_get(cat, i);
                if (strcmp(e->level, levels[l])) continue;
                known = 1;
                if (!fp_date_within(date, e->valid_from, e->valid_to)) continue;
                int seen = 0;
                for (size_t k = 0; k < ntried; k++) seen |= tried[k] == e;
                if (!seen && (!best || strcmp(e->valid_from, best->valid_from) > 0)) best = e;
            }
            if (!best) break;
            tried[ntried++] = best;
            const fp_layer *L;
            if (chain_layer(ctx, cs, best, &L) == FP_OK && fp_layer_vertices(L)) return best;
        }
    }
    if (!known) die_usage("export ", "--level: no edition of level '%s'", level);
    fprintf(stderr, "%s: no edition of level %s with boundaries is valid on %s\n", prog, level,
            date);
    exit(EXIT_DATA);
}
#endif

int cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, 0, O_OUT},
        {"level", required_argument, 0, O_LEVEL},
        {"date", required_argument, 0, O_DATE},
        {"format", required_argument, 0, O_FORMAT},
        {"simplify", required_argument, 0, O_SIMPLIFY},
        {"keep-area", required_argument, 0, O_KEEP},
        {"precision", required_argument, 0, O_PRECISION},
        {"edition", required_argument, 0, O_EDITION},
        {"data", required_argument, 0, O_DATA},
        {"catalogue", required_argument, 0, O_CATALOGUE},
        {"help", no_argument, 0, 'h'},
        {"atlas", required_argument, 0, O_ATLAS},
        {0, 0, 0, 0}};
    common c = {0};
    const char *out = NULL, *level = NULL, *format = NULL;
    double tol = 0, keep = -1;
    int precision = -1;
    int o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (common_opt(o, &c)) continue;
        switch (o) {
        case O_OUT: out = optarg; break;
        case O_LEVEL: level = optarg; break;
        case O_DATE: check_date("export ", "--date", optarg); c.date = optarg; break;
        case O_FORMAT: format = optarg; break;
        case O_SIMPLIFY:
            tol = parse_number("export ", "--simplify", optarg);
            if (!(tol >= 0) || tol > 1e6)
                die_usage("export ", "--simplify: expected metres from 0 to 1000000, got '%s'",
                          optarg);
            break;
        case O_KEEP:
            keep = parse_number("export ", "--keep-area", optarg);
            if (!(keep >= 0) || !isfinite(keep))
                die_usage("export ", "--keep-area: expected square metres >= 0, got '%s'", optarg);
            break;
        case O_PRECISION: {
            double p = parse_number("export ", "--precision", optarg);
            if (!(p >= 0 && p <= 15) || p != floor(p))
                die_usage("export ", "--precision: expected 0 to 15 decimals, got '%s'", optarg);
            precision = (int)p;
            break;
        }
        case 'h': fputs(export_help, stdout); return finish_stdout(EXIT_FOUND);
        default: bad_option("export ", o, argv);
        }
    }
    if (optind < argc) die_usage("export ", "unexpected argument '%s'", argv[optind]);
    if (!out) die_usage("export ", "give the file to write: --out FILE");
    if (c.edition && level) die_usage("export ", "--edition and --level: give one of them");
#ifdef FP_CLI_LIGHT
    (void)format, (void)tol, (void)keep, (void)precision;
    delegate(); /* GDAL writes the file */
    return EXIT_DATA;
#else
    fp_ctx *ctx;
    if (fp_ctx_new(&ctx)) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_DATA;
    }
    fp_catalogue *cat = load_catalogue(ctx, &c);
    char buf[4096], d[11];
    today(d);
    const fp_edition *ed = c.edition ? pick_edition("export ", cat, &c) : NULL;
    chain_src cs;
    open_chain_src(ctx, cat, &c, &cs, buf, sizeof buf);
    if (!ed) ed = level_edition(ctx, cat, &cs, level ? level : "system", c.date ? c.date : d);
    fp_export_opts eo;
    fp_export_opts_init(&eo);
    eo.format = format;
    eo.date = c.date ? c.date : (level || !c.edition ? d : NULL);
    /* --level without --date: what is valid today. */
    eo.today = d;
    eo.simplify.tolerance_m = tol;
    eo.simplify.keep_area_m2 = keep;
    eo.simplify.precision = precision;
    fp_simplify_stats st;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = fp_export(ctx, cat, ed->id, source, &cs, out, &eo, &st);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int status = EXIT_FOUND;
    if (rc) {
        fprintf(stderr, "%s: %s\n", prog, fp_ctx_errmsg(ctx));
        status = rc == FP_EINVAL ? EXIT_USAGE : EXIT_DATA;
    } else {
        struct stat sb;
        double mb = stat(out, &sb) == 0 && S_ISREG(sb.st_mode) ? sb.st_size / 1e6 : -1;
        fprintf(stderr, "%s: wrote %s: edition %s, %zu vertices", prog, out, ed->id,
                st.vertices_out);
        if (tol > 0 || precision >= 0)
            fprintf(stderr, " (of %zu; %zu arcs, %zu shared; %zu small parts dropped)",
                    st.vertices_in, st.arcs, st.shared_arcs, st.rings_dropped);
        if (st.repaired)
            fprintf(stderr, ", %zu footprint%s invalid at full detail made valid by GEOS",
                    st.repaired, st.repaired == 1 ? "" : "s");
        if (mb >= 0) fprintf(stderr, ", %.2f MB", mb);
        fprintf(stderr, ", %.2f s\n",
                (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
    }
    close_chain_src(&cs);
    fp_catalogue_free(cat);
    fp_ctx_free(ctx);
    return status;
#endif
}
