/* footprint leaflet: a self-contained Leaflet web map in a folder. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "footprint.h"

int cmd_leaflet(int argc, char **argv);
extern const char leaflet_help[];

#ifndef FP_DATADIR
#define FP_DATADIR "/usr/local/share/footprint/data"
#endif

const char leaflet_help[] =
    "Usage: footprint leaflet --out DIR [--view ID]... [--date YYYY-MM-DD]\n"
    "                         [--simplify METRES] [--precision N] [--title TEXT]\n"
    "                         [--data DIR] [--catalogue FILE] [--atlas FILE]\n"
    "\n"
    "Writes an interactive map into the folder DIR: index.html, the data and\n"
    "Leaflet 1.9.4, nothing fetched from elsewhere, so it works opened from\n"
    "disk (file://) or from any static web server.  A layer switcher offers\n"
    "each edition as it stood on the date; hovering highlights a footprint,\n"
    "a click (or a latitude, longitude typed in the search box) shows the\n"
    "whole chain there: region, ICB or STP, ICS, place, sub-ICB location or\n"
    "CCG, local authority.  Boundaries are simplified with shared edges kept\n"
    "(see 'footprint export').  DIR is built beside itself and renamed into\n"
    "place; an existing DIR is replaced only if empty or a map made before.\n"
    "\n"
    "  --out DIR          the folder to write\n"
    "  --view ID          offer this edition (repeatable, first shown first;\n"
    "                     default: every edition of ICBs, STPs, places, ICSs,\n"
    "                     sub-ICB locations, CCGs and regions)\n"
    "  --date YYYY-MM-DD  show each edition as on this day or its last day\n"
    "                     (default: today)\n"
    "  --simplify METRES  simplification tolerance (default 100)\n"
    "  --precision N      decimals of coordinates (default 5, about a metre)\n"
    "  --title TEXT       the page's title (default \"NHS footprints\")\n"
    "  --data DIR         data directory (default $FOOTPRINT_DATA)\n"
    "  --catalogue FILE   editions catalogue (default: built in)\n"
    "  --atlas FILE       compiled atlas (default: footprint.atlas in the data\n"
    "                     directory, when there is one)\n"
    "  -h, --help         this help\n"
    "\n"
    "The page's files come from $FOOTPRINT_WEB, else beside the program (the\n"
    "build tree) or the installed share/footprint/web.\n"
    "Exit status: 0 written, 2 usage error, 3 data or output error.\n";

enum { O_VIEW = O_FIRST_FREE, O_SIMPLIFY, O_PRECISION, O_TITLE };

#ifndef FP_CLI_LIGHT
static int source(void *arg, fp_ctx *ctx, const fp_edition *ed, const fp_layer **out)
{
    return chain_layer(ctx, arg, ed, out);
}

static int has_assets(const char *dir)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/leaflet/leaflet.js", dir);
    return access(p, R_OK) == 0;
}

/* $FOOTPRINT_WEB, then web/ beside this program (the build tree), then
 * the installed share/footprint/web. */
static const char *assets_dir(char *buf, size_t size)
{
    const char *env = getenv("FOOTPRINT_WEB");
    if (env && *env) return env;
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(buf, size, "%s/web", self);
            if (has_assets(buf)) return buf;
        }
    }
    snprintf(buf, size, "%s", FP_DATADIR);
    char *slash = strrchr(buf, '/'); /* .../share/footprint/data */
    if (slash) snprintf(slash, size - (size_t)(slash - buf), "/web");
    return buf;
}
#endif

int cmd_leaflet(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, 0, O_OUT},
        {"view", required_argument, 0, O_VIEW},
        {"date", required_argument, 0, O_DATE},
        {"simplify", required_argument, 0, O_SIMPLIFY},
        {"precision", required_argument, 0, O_PRECISION},
        {"title", required_argument, 0, O_TITLE},
        {"data", required_argument, 0, O_DATA},
        {"catalogue", required_argument, 0, O_CATALOGUE},
        {"help", no_argument, 0, 'h'},
        {"atlas", required_argument, 0, O_ATLAS},
        {0, 0, 0, 0}};
    common c = {0};
    const char *out = NULL, *title = NULL;
    const char *views[33];
    size_t nviews = 0;
    double tol = 100;
    int precision = 5;
    int o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (common_opt(o, &c)) continue;
        switch (o) {
        case O_OUT: out = optarg; break;
        case O_VIEW:
            if (nviews == 32) die_usage("leaflet ", "too many --view options (32 at most)");
            views[nviews++] = optarg;
            break;
        case O_DATE: check_date("leaflet ", "--date", optarg); c.date = optarg; break;
        case O_TITLE: title = optarg; break;
        case O_SIMPLIFY:
            tol = parse_number("leaflet ", "--simplify", optarg);
            if (!(tol >= 0) || tol > 1e6)
                die_usage("leaflet ", "--simplify: expected metres from 0 to 1000000, got '%s'",
                          optarg);
            break;
        case O_PRECISION: {
            double p = parse_number("leaflet ", "--precision", optarg);
            if (!(p >= 0 && p <= 15) || p != floor(p))
                die_usage("leaflet ", "--precision: expected 0 to 15 decimals, got '%s'", optarg);
            precision = (int)p;
            break;
        }
        case 'h': fputs(leaflet_help, stdout); return finish_stdout(EXIT_FOUND);
        default: bad_option("leaflet ", o, argv);
        }
    }
    if (optind < argc) die_usage("leaflet ", "unexpected argument '%s'", argv[optind]);
    if (!out) die_usage("leaflet ", "give the folder to write: --out DIR");
    views[nviews] = NULL;
#ifdef FP_CLI_LIGHT
    (void)title, (void)tol, (void)precision, (void)views;
    delegate(); /* GDAL writes the data */
    return EXIT_DATA;
#else
    fp_ctx *ctx;
    if (fp_ctx_new(&ctx)) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_DATA;
    }
    fp_catalogue *cat = load_catalogue(ctx, &c);
    for (size_t i = 0; i < nviews; i++)
        if (!fp_catalogue_find(cat, views[i]))
            die_usage("leaflet ", "--view: unknown edition '%s' (see 'footprint editions')",
                      views[i]);
    char buf[4096], d[11], web[4200];
    today(d);
    chain_src cs;
    open_chain_src(ctx, cat, &c, &cs, buf, sizeof buf);
    fp_webmap_opts wo;
    fp_webmap_opts_init(&wo);
    wo.assets = assets_dir(web, sizeof web);
    wo.views = nviews ? views : NULL;
    wo.today = c.date ? c.date : d;
    wo.title = title;
    wo.tolerance_m = tol;
    wo.precision = precision;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = fp_webmap_write(ctx, cat, source, &cs, out, &wo);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int status = EXIT_FOUND;
    if (rc) {
        fprintf(stderr, "%s: %s\n", prog, fp_ctx_errmsg(ctx));
        status = rc == FP_EINVAL ? EXIT_USAGE : EXIT_DATA;
    } else {
        char p[4300];
        struct stat st;
        snprintf(p, sizeof p, "%s/data.js", out);
        fprintf(stderr, "%s: wrote %s/index.html: data %.2f MB, %.1f s\n", prog, out,
                stat(p, &st) == 0 ? st.st_size / 1e6 : 0.0,
                (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
    }
    close_chain_src(&cs);
    fp_catalogue_free(cat);
    fp_ctx_free(ctx);
    return status;
#endif
}
