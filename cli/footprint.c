/*
 * footprint — the command-line face of libfootprint.
 *
 * Data goes to stdout, diagnostics to stderr.  Exit codes: 0 found / ok,
 * 1 no footprint, 2 usage error, 3 data or I/O error.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "footprint.h"

/* The chain over layers the CLI supplies (lib/src/chain.c). */
typedef int (*cli_layer_fn)(void *arg, fp_ctx *ctx, const fp_edition *ed,
                            const fp_layer **out);
int fp__chain(fp_ctx *ctx, const fp_catalogue *cat, cli_layer_fn get, void *arg,
              double lat, double lon, const char *date, double nearest_m,
              fp_link links[FP_TIER_COUNT]);
int fp__timeline(fp_ctx *ctx, const fp_catalogue *cat, cli_layer_fn get, void *arg,
                 double lat, double lon, const char *since, const char *until,
                 double nearest_m, fp_period *out, size_t max, size_t *n);

enum { EXIT_FOUND = 0, EXIT_NOMATCH = 1, EXIT_USAGE = 2, EXIT_DATA = 3 };

extern const unsigned char fp_cli_catalogue[];
extern const unsigned long fp_cli_catalogue_len;

#ifndef FP_DATADIR
#define FP_DATADIR "/usr/local/share/footprint/data"
#endif

static const char *prog = "footprint";

static void die_usage(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void die_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry '%s %s--help'.\n", prog, cmd ? cmd : "");
    va_end(ap);
    exit(EXIT_USAGE);
}

/* Data went to stdout: make sure it got there (a full disk, a closed
 * pipe) and say so when it did not. */
static int finish_stdout(int status)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "%s: writing output: %s\n", prog, strerror(errno));
        return EXIT_DATA;
    }
    return status;
}

/* getopt_long's verdict on a bad option, in our words. */
static void bad_option(const char *cmd, int o, char **argv)
{
    const char *arg = argv[optind - 1];
    if (o == ':')
        die_usage(cmd, "option '%s' needs a value", arg);
    die_usage(cmd, "unknown option '%s'", arg);
}

static double parse_number(const char *cmd, const char *opt, const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (*end == ' ' || *end == '\t') end++;
    if (end == s || *end || errno == ERANGE)
        die_usage(cmd, "%s: not a number: '%s'", opt, s);
    return v;
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

/* Shared by every command that reads footprints. */
typedef struct common {
    const char *data;
    const char *catalogue;
    const char *edition;
    const char *atlas;
    const char *date;
    int json;
} common;

/* The original command line, for handing a command to footprint-geo. */
static char **orig_argv;

#ifdef FP_CLI_LIGHT
/* This binary links only libfootprint's core, so it starts in
 * milliseconds; what needs GDAL or PROJ (reading boundary files, British
 * National Grid input, building an atlas) runs in footprint-geo, which
 * this process becomes. */
static void delegate(void)
{
    char self[4096], geo[4200];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) *slash = '\0';
        snprintf(geo, sizeof geo, "%s/footprint-geo", self);
        if (access(geo, X_OK) == 0) execv(geo, orig_argv);
    }
    snprintf(geo, sizeof geo, "%s/footprint-geo", FP_LIBEXECDIR);
    execv(geo, orig_argv);
    fprintf(stderr, "%s: cannot run %s: %s\n", prog, geo, strerror(errno));
    exit(EXIT_DATA);
}
#endif

static fp_catalogue *load_catalogue(fp_ctx *ctx, const common *c)
{
    fp_catalogue *cat = NULL;
    const char *file = c->catalogue ? c->catalogue : getenv("FOOTPRINT_CATALOGUE");
    int rc = file && *file
                 ? fp_catalogue_load(ctx, file, &cat)
                 : fp_catalogue_parse(ctx, (const char *)fp_cli_catalogue,
                                      (size_t)fp_cli_catalogue_len,
                                      "built-in catalogue", &cat);
    if (rc) {
        fprintf(stderr, "%s: %s\n", prog, fp_ctx_errmsg(ctx));
        exit(EXIT_DATA);
    }
    return cat;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* --data, $FOOTPRINT_DATA, ~/.local/share/footprint, then the installed
 * data directory: the first that exists. */
static const char *data_dir(const common *c, char *buf, size_t size)
{
    if (c->data) return c->data;
    const char *env = getenv("FOOTPRINT_DATA");
    if (env && *env) return env;
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    if (xdg && *xdg) {
        snprintf(buf, size, "%s/footprint", xdg);
        if (is_dir(buf)) return buf;
    } else if (home && *home) {
        snprintf(buf, size, "%s/.local/share/footprint", home);
        if (is_dir(buf)) return buf;
    }
    return FP_DATADIR;
}

static void today(char out[11])
{
    /* NHS changes take effect at midnight in England, not UTC. */
    time_t t = time(NULL);
    struct tm tm;
    setenv("TZ", "Europe/London", 1);
    tzset();
    localtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

static const fp_edition *pick_edition(const char *cmd, const fp_catalogue *cat,
                                      const common *c)
{
    if (c->edition) {
        const fp_edition *ed = fp_catalogue_find(cat, c->edition);
        if (!ed) {
            char ids[512] = "";
            size_t n = 0;
            for (size_t i = 0; i < fp_catalogue_count(cat) && n < sizeof ids - 32; i++)
                n += (size_t)snprintf(ids + n, sizeof ids - n, "%s%s", i ? ", " : "",
                                      fp_catalogue_get(cat, i)->id);
            die_usage(cmd, "unknown edition '%s' (known: %s)", c->edition, ids);
        }
        return ed;
    }
    char d[11];
    today(d);
    const fp_edition *ed = fp_catalogue_valid_on(cat, "icb", d);
    if (!ed) {
        fprintf(stderr, "%s: the catalogue has no ICB edition valid on %s; "
                        "choose one with --edition\n", prog, d);
        exit(EXIT_DATA);
    }
    return ed;
}

/* The compiled atlas to answer from: --atlas FILE, or footprint.atlas in
 * the data directory when there is one; NULL when there is none.  A stale
 * or damaged atlas is reported, never used.  An explicit --atlas is checked
 * for damage and catalogue, but its sources (recorded relative to the
 * directory it was built from) only when it is the data directory's own. */
static fp_atlas *open_atlas(fp_ctx *ctx, const fp_catalogue *cat, const common *c,
                            const char *dir)
{
    char apath[4200];
    if (c->atlas)
        snprintf(apath, sizeof apath, "%s", c->atlas);
    else
        snprintf(apath, sizeof apath, "%s/footprint.atlas", dir);
    if (!c->atlas && access(apath, F_OK) != 0) return NULL;
    fp_atlas *a = NULL;
    if (fp_atlas_open(ctx, apath, &a) ||
        fp_atlas_check(ctx, a, cat, c->atlas ? NULL : dir)) {
        fprintf(stderr, "%s: %s\n", prog, fp_ctx_errmsg(ctx));
        exit(EXIT_DATA);
    }
    return a;
}

/* Where a command's footprints come from: the compiled atlas when there is
 * one (--atlas FILE, or footprint.atlas in the data directory), else the
 * edition's boundary file. */
typedef struct footprints {
    fp_atlas *atlas;
    fp_layer *owned;
    const fp_layer *layer;
} footprints;

static void close_footprints(footprints *f)
{
    fp_layer_free(f->owned);
    fp_atlas_free(f->atlas);
}

static const fp_layer *open_footprints(fp_ctx *ctx, const fp_catalogue *cat,
                                       const fp_edition *ed, const common *c,
                                       footprints *f)
{
    char buf[4096];
    const char *dir = data_dir(c, buf, sizeof buf);
    memset(f, 0, sizeof *f);
    if ((f->atlas = open_atlas(ctx, cat, c, dir)) != NULL) {
        if (fp_atlas_layer(ctx, f->atlas, ed->id, &f->layer)) {
            fprintf(stderr, "%s: %s\n", prog, fp_ctx_errmsg(ctx));
            exit(EXIT_DATA);
        }
        return f->layer;
    }
#ifdef FP_CLI_LIGHT
    (void)cat;
    delegate();
    return NULL;
#else
    int rc = fp_catalogue_open(ctx, cat, ed->id, dir, NULL, &f->owned);
    if (rc) {
        fprintf(stderr, "%s: edition %s: %s\n", prog, ed->id, fp_ctx_errmsg(ctx));
        if (rc == FP_EIO)
            fprintf(stderr,
                    "%s: no data in %s: give --data DIR or set FOOTPRINT_DATA "
                    "to a directory prepared by 'geodata/fetch' (from the ONS "
                    "downloads or a mirror such as ../shared/geodata)\n",
                    prog, dir);
        exit(EXIT_DATA);
    }
    f->layer = f->owned;
    return f->layer;
#endif
}

/* Layers for chains and timelines: the atlas's, or (footprint-geo without
 * an atlas) each edition read from its files once. */
typedef struct chain_src {
    fp_atlas *atlas;
    fp_catalogue *cat;
    const char *dir;
    struct {
        const fp_edition *ed;
        fp_layer *layer;
    } cache[32];
    size_t ncache;
} chain_src;

#ifndef FP_CLI_LIGHT
static int file_layer(void *arg, fp_ctx *ctx, const fp_edition *ed, const fp_layer **out)
{
    chain_src *cs = arg;
    for (size_t i = 0; i < cs->ncache; i++)
        if (cs->cache[i].ed == ed) {
            *out = cs->cache[i].layer;
            return FP_OK;
        }
    fp_layer *L;
    int rc = fp_catalogue_open(ctx, cs->cat, ed->id, cs->dir, NULL, &L);
    if (rc) return rc;
    if (cs->ncache == sizeof cs->cache / sizeof *cs->cache) {
        fp_layer_free(L);
        fprintf(stderr, "%s: more than %zu editions in one chain\n", prog,
                sizeof cs->cache / sizeof *cs->cache);
        exit(EXIT_DATA);
    }
    cs->cache[cs->ncache].ed = ed;
    cs->cache[cs->ncache++].layer = L;
    *out = L;
    return FP_OK;
}
#endif

/* Opens what chains need, or hands over to footprint-geo. */
static void open_chain_src(fp_ctx *ctx, fp_catalogue *cat, const common *c,
                           chain_src *cs, char *buf, size_t size)
{
    memset(cs, 0, sizeof *cs);
    cs->cat = cat;
    cs->dir = data_dir(c, buf, size);
    cs->atlas = open_atlas(ctx, cat, c, cs->dir);
#ifdef FP_CLI_LIGHT
    if (!cs->atlas) delegate();
#endif
}

static void close_chain_src(chain_src *cs)
{
    for (size_t i = 0; i < cs->ncache; i++) fp_layer_free(cs->cache[i].layer);
    fp_atlas_free(cs->atlas);
}

static int chain_at(fp_ctx *ctx, chain_src *cs, double lat, double lon,
                    const char *date, double nearest, fp_link *links)
{
    if (cs->atlas) return fp_atlas_chain(ctx, cs->atlas, lat, lon, date, nearest, links);
#ifdef FP_CLI_LIGHT
    (void)lat, (void)lon, (void)date, (void)nearest, (void)links;
    return FP_EINVAL; /* unreachable: delegated */
#else
    return fp__chain(ctx, cs->cat, file_layer, cs, lat, lon, date, nearest, links);
#endif
}

static void check_date(const char *cmd, const char *opt, const char *d)
{
    if (!fp_date_valid(d))
        die_usage(cmd, "%s: expected a calendar date YYYY-MM-DD, got '%s'", opt, d);
}

static void print_link_json(const fp_link *k)
{
    printf("{\"tier\":\"%s\",\"code\":", fp_tier_name(k->tier));
    if (!k->code) {
        printf("null}");
        return;
    }
    json_string(stdout, k->code);
    printf(",\"name\":");
    json_string(stdout, k->name);
    printf(",\"edition\":");
    if (k->edition) json_string(stdout, k->edition->id); else printf("null");
    printf(",\"ods_code\":");
    if (*k->ods_code) json_string(stdout, k->ods_code); else printf("null");
    printf(",\"status\":");
    json_string(stdout, k->status);
    printf(",\"match\":\"%s\"", k->kind == FP_MATCH_NEAREST ? "nearest" : "contained");
    if (k->kind == FP_MATCH_NEAREST) printf(",\"distance_m\":%.1f", k->distance_m);
    printf("}");
}

static void print_link_text(const fp_link *k, const char *prefix)
{
    printf("%s%s\t%s\t%s\t%s\t%s\t%s\n", prefix, fp_tier_name(k->tier),
           k->code ? k->code : "-", k->code ? k->name : "-",
           k->edition ? k->edition->id : (k->code ? "parent" : "-"),
           *k->status ? k->status : "-", *k->ods_code ? k->ods_code : "-");
}

static int which_chain(fp_ctx *ctx, fp_catalogue *cat, const common *c, double lat,
                       double lon, double nearest)
{
    char buf[4096], d[11];
    chain_src cs;
    open_chain_src(ctx, cat, c, &cs, buf, sizeof buf);
    if (c->date)
        snprintf(d, sizeof d, "%s", c->date);
    else
        today(d);
    fp_link links[FP_TIER_COUNT];
    int rc = chain_at(ctx, &cs, lat, lon, d, nearest, links);
    if (rc) {
        fprintf(stderr, "%s: %s\n", prog, fp_ctx_errmsg(ctx));
        close_chain_src(&cs);
        return rc == FP_EINVAL ? EXIT_USAGE : EXIT_DATA;
    }
    int found = 0;
    for (int t = 0; t < FP_TIER_COUNT; t++) found |= links[t].code != NULL;
    if (c->json) {
        printf("{\"date\":\"%s\",\"lat\":%.7f,\"lon\":%.7f,\"chain\":[", d, lat, lon);
        for (int t = 0; t < FP_TIER_COUNT; t++) {
            if (t) printf(",");
            print_link_json(&links[t]);
        }
        printf("],\"attribution\":[");
        int first = 1;
        for (int t = 0; t < FP_TIER_COUNT; t++) {
            if (!links[t].edition) continue;
            int dup = 0;
            for (int u = 0; u < t; u++)
                dup |= links[u].edition && !strcmp(links[u].edition->attribution,
                                                   links[t].edition->attribution);
            if (dup) continue;
            printf("%s", first ? "" : ",");
            json_string(stdout, links[t].edition->attribution);
            first = 0;
        }
        printf("]}\n");
    } else {
        for (int t = 0; t < FP_TIER_COUNT; t++) print_link_text(&links[t], "");
    }
    if (!found)
        fprintf(stderr, "%s: no footprint covers %.6f, %.6f on %s\n", prog, lat, lon, d);
    close_chain_src(&cs);
    return finish_stdout(found ? EXIT_FOUND : EXIT_NOMATCH);
}

/* ---- which ---- */

static const char which_help[] =
    "Usage: footprint which (--lat LAT --lon LON | --easting E --northing N)\n"
    "                       [--date YYYY-MM-DD | --edition ID] [--nearest METRES]\n"
    "                       [--json] [--data DIR] [--catalogue FILE] [--atlas FILE]\n"
    "\n"
    "Which footprints cover a point.  By default, the whole chain in force on\n"
    "the date (today unless --date): one line per tier, tab-separated:\n"
    "tier (region, system, ics, place, sub, la), code, name, edition, status,\n"
    "ODS code (\"-\" where none).  With --edition, one footprint of that\n"
    "edition: code and name.  --json gives a JSON object either way.\n"
    "\n"
    "  --lat LAT, --lon LON     WGS84 latitude and longitude (degrees)\n"
    "  --easting E, --northing N\n"
    "                           British National Grid (EPSG:27700), metres\n"
    "  --date YYYY-MM-DD        the day the chain is for (default: today)\n"
    "  --edition ID             one footprint set instead of the chain (see\n"
    "                           'footprint editions')\n"
    "  --nearest METRES         outside every footprint, answer the nearest\n"
    "                           one within METRES and say how far it is\n"
    "  --json                   JSON output\n"
    "  --data DIR               data directory (default $FOOTPRINT_DATA)\n"
    "  --catalogue FILE         editions catalogue (default: built in)\n"
    "  --atlas FILE             compiled atlas (default: footprint.atlas in the\n"
    "                           data directory, when there is one)\n"
    "  -h, --help               this help\n"
    "\n"
    "A point on a boundary belongs to the footprint immediately east of it\n"
    "(north of it on an east-west boundary).\n"
    "Exit status: 0 found, 1 no footprint, 2 usage error, 3 data error.\n";

enum { O_LAT = 256, O_LON, O_EAST, O_NORTH, O_EDITION, O_NEAREST, O_JSON,
       O_DATA, O_CATALOGUE, O_ATLAS, O_OUT, O_DATE, O_SINCE, O_UNTIL, O_LEVEL };

static const struct option common_opts[] = {
    {"edition", required_argument, 0, O_EDITION},
    {"json", no_argument, 0, O_JSON},
    {"data", required_argument, 0, O_DATA},
    {"catalogue", required_argument, 0, O_CATALOGUE},
    {"help", no_argument, 0, 'h'},
    {"atlas", required_argument, 0, O_ATLAS},
};

static int common_opt(int o, common *c)
{
    switch (o) {
    case O_EDITION: c->edition = optarg; return 1;
    case O_JSON: c->json = 1; return 1;
    case O_DATA: c->data = optarg; return 1;
    case O_CATALOGUE: c->catalogue = optarg; return 1;
    case O_ATLAS: c->atlas = optarg; return 1;
    default: return 0;
    }
}

static int cmd_which(int argc, char **argv)
{
    static const struct option opts[] = {
        {"lat", required_argument, 0, O_LAT},
        {"lon", required_argument, 0, O_LON},
        {"easting", required_argument, 0, O_EAST},
        {"northing", required_argument, 0, O_NORTH},
        {"nearest", required_argument, 0, O_NEAREST},
        {"date", required_argument, 0, O_DATE},
        common_opts[0], common_opts[1], common_opts[2], common_opts[3],
        common_opts[4], common_opts[5], {0, 0, 0, 0}};
    common c = {0};
    const char *s_lat = NULL, *s_lon = NULL, *s_e = NULL, *s_n = NULL;
    double nearest = 0;
    int o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (common_opt(o, &c)) continue;
        switch (o) {
        case O_LAT: s_lat = optarg; break;
        case O_LON: s_lon = optarg; break;
        case O_EAST: s_e = optarg; break;
        case O_NORTH: s_n = optarg; break;
        case O_DATE: check_date("which ", "--date", optarg); c.date = optarg; break;
        case O_NEAREST:
            nearest = parse_number("which ", "--nearest", optarg);
            if (!(nearest >= 0) || !isfinite(nearest))
                die_usage("which ", "--nearest: expected a distance in metres "
                                    ">= 0, got '%s'", optarg);
            break;
        case 'h': fputs(which_help, stdout); return finish_stdout(EXIT_FOUND);
        default: bad_option("which ", o, argv);
        }
    }
    if (optind < argc) die_usage("which ", "unexpected argument '%s'", argv[optind]);
    if (c.edition && c.date)
        die_usage("which ", "--date picks the editions in force; --edition pins one: "
                            "give one of them");
    int ll = s_lat || s_lon, en = s_e || s_n;
    if (ll && en)
        die_usage("which ", "give --lat/--lon or --easting/--northing, not both");
    if (!ll && !en) die_usage("which ", "give a point: --lat and --lon, or "
                                        "--easting and --northing");
    if (ll && !(s_lat && s_lon)) die_usage("which ", "--lat and --lon go together");
    if (en && !(s_e && s_n))
        die_usage("which ", "--easting and --northing go together");

    fp_ctx *ctx;
    if (fp_ctx_new(&ctx)) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_DATA;
    }
    double lat, lon, e = NAN, n = NAN;
    if (ll) {
        lat = parse_number("which ", "--lat", s_lat);
        lon = parse_number("which ", "--lon", s_lon);
        if (fp_check_latlon(ctx, lat, lon))
            die_usage("which ", "%s", fp_ctx_errmsg(ctx));
    } else {
        e = parse_number("which ", "--easting", s_e);
        n = parse_number("which ", "--northing", s_n);
#ifdef FP_CLI_LIGHT
        delegate(); /* PROJ does the transform */
#endif
        int rc = fp_bng_to_latlon(ctx, e, n, &lat, &lon);
        if (rc == FP_EINVAL) die_usage("which ", "%s", fp_ctx_errmsg(ctx));
        if (rc) {
            fprintf(stderr, "%s: %s\n", prog, fp_ctx_errmsg(ctx));
            return EXIT_DATA;
        }
    }
    fp_catalogue *cat = load_catalogue(ctx, &c);
    if (!c.edition) { /* the whole chain on the date */
        int st = which_chain(ctx, cat, &c, lat, lon, nearest);
        fp_catalogue_free(cat);
        fp_ctx_free(ctx);
        return st;
    }
    const fp_edition *ed = pick_edition("which ", cat, &c);
    footprints src;
    const fp_layer *layer = open_footprints(ctx, cat, ed, &c, &src);
    fp_match m = fp_layer_locate(layer, lat, lon, nearest);
    const char *kind = m.kind == FP_MATCH_CONTAINED ? "contained"
                       : m.kind == FP_MATCH_NEAREST ? "nearest" : "none";
    if (c.json) {
        printf("{\"edition\":");
        json_string(stdout, ed->id);
        printf(",\"level\":");
        json_string(stdout, ed->level);
        printf(",\"lat\":%.7f,\"lon\":%.7f", lat, lon);
        if (en) printf(",\"easting\":%.3f,\"northing\":%.3f", e, n);
        printf(",\"match\":\"%s\",\"code\":", kind);
        if (m.index >= 0) {
            json_string(stdout, fp_layer_code(layer, (size_t)m.index));
            printf(",\"name\":");
            json_string(stdout, fp_layer_name(layer, (size_t)m.index));
            printf(",\"distance_m\":%.1f", m.distance_m);
        } else {
            printf("null,\"name\":null,\"distance_m\":null");
        }
        printf(",\"attribution\":");
        json_string(stdout, ed->attribution);
        printf("}\n");
    } else if (m.index >= 0) {
        printf("%s\t%s", fp_layer_code(layer, (size_t)m.index),
               fp_layer_name(layer, (size_t)m.index));
        if (m.kind == FP_MATCH_NEAREST) printf("\tnearest\t%.0f m", m.distance_m);
        printf("\n");
    }
    if (m.index < 0)
        fprintf(stderr, "%s: no %s footprint %s %.6f, %.6f\n", prog, ed->id,
                nearest > 0 ? "within reach of" : "contains", lat, lon);
    int status = finish_stdout(m.index >= 0 ? EXIT_FOUND : EXIT_NOMATCH);
    close_footprints(&src);
    fp_catalogue_free(cat);
    fp_ctx_free(ctx);
    return status;
}

/* ---- list ---- */

static const char list_help[] =
    "Usage: footprint list [--edition ID | --level L [--date YYYY-MM-DD]]\n"
    "                      [--json] [--data DIR] [--catalogue FILE] [--atlas FILE]\n"
    "\n"
    "The footprints of an edition: code and name, tab-separated, one per\n"
    "line in code order; the count goes to stderr (and into the JSON).\n"
    "\n"
    "  --edition ID     footprint set (default: the ICB edition in force today)\n"
    "  --level L        the edition of level L (icb, stp, icp, ics, sicbl, ccg,\n"
    "                   nhser, lad, lsoa) in force on --date (default today)\n"
    "  --date DATE      with --level: the day (YYYY-MM-DD)\n"
    "  --json           JSON output\n"
    "  --data DIR       data directory (default $FOOTPRINT_DATA)\n"
    "  --catalogue FILE editions catalogue (default: built in)\n"
    "  --atlas FILE     compiled atlas (default: footprint.atlas in the data\n"
    "                   directory, when there is one)\n"
    "  -h, --help       this help\n";

static int cmd_list(int argc, char **argv)
{
    static const struct option opts[] = {common_opts[0], common_opts[1],
                                         common_opts[2], common_opts[3],
                                         common_opts[4], common_opts[5],
                                         {"level", required_argument, 0, O_LEVEL},
                                         {"date", required_argument, 0, O_DATE},
                                         {0, 0, 0, 0}};
    common c = {0};
    const char *level = NULL;
    int o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (common_opt(o, &c)) continue;
        if (o == O_LEVEL) {
            level = optarg;
            continue;
        }
        if (o == O_DATE) {
            check_date("list ", "--date", optarg);
            c.date = optarg;
            continue;
        }
        if (o == 'h') {
            fputs(list_help, stdout);
            return finish_stdout(EXIT_FOUND);
        }
        bad_option("list ", o, argv);
    }
    if (optind < argc) die_usage("list ", "unexpected argument '%s'", argv[optind]);
    fp_ctx *ctx;
    if (fp_ctx_new(&ctx)) return EXIT_DATA;
    fp_catalogue *cat = load_catalogue(ctx, &c);
    const fp_edition *ed;
    if (c.date && !level) die_usage("list ", "--date goes with --level");
    if (level && !c.edition) { /* the edition of that level on the date */
        char d[11];
        if (c.date)
            snprintf(d, sizeof d, "%s", c.date);
        else
            today(d);
        ed = fp_catalogue_valid_on(cat, level, d);
        if (!ed) die_usage("list ", "no edition of level '%s' in force on %s", level, d);
    } else {
        ed = pick_edition("list ", cat, &c);
        if (level && strcmp(ed->level, level) != 0)
            die_usage("list ", "edition %s is of level %s, not %s", ed->id, ed->level, level);
    }
    footprints src;
    const fp_layer *layer = open_footprints(ctx, cat, ed, &c, &src);
    size_t n = fp_layer_count(layer);
    if (c.json) {
        printf("{\"edition\":");
        json_string(stdout, ed->id);
        printf(",\"name\":");
        json_string(stdout, ed->name);
        printf(",\"count\":%zu,\"footprints\":[", n);
        for (size_t i = 0; i < n; i++) {
            printf("%s{\"code\":", i ? "," : "");
            json_string(stdout, fp_layer_code(layer, i));
            printf(",\"name\":");
            json_string(stdout, fp_layer_name(layer, i));
            printf("}");
        }
        printf("],\"attribution\":");
        json_string(stdout, ed->attribution);
        printf("}\n");
    } else {
        for (size_t i = 0; i < n; i++)
            printf("%s\t%s\n", fp_layer_code(layer, i), fp_layer_name(layer, i));
    }
    fprintf(stderr, "%zu footprints in %s (%s)\n", n, ed->id, ed->name);
    int status = finish_stdout(EXIT_FOUND);
    close_footprints(&src);
    fp_catalogue_free(cat);
    fp_ctx_free(ctx);
    return status;
}

/* ---- editions ---- */

static const char editions_help[] =
    "Usage: footprint editions [--json] [--catalogue FILE]\n"
    "\n"
    "The editions footprint knows: id, level, valid from, valid to (empty:\n"
    "still in force), name, and the boundary file (relative to the data\n"
    "directory), tab-separated.\n"
    "\n"
    "  --json           JSON output\n"
    "  --catalogue FILE editions catalogue (default: built in)\n"
    "  -h, --help       this help\n";

static int cmd_editions(int argc, char **argv)
{
    static const struct option opts[] = {common_opts[1], common_opts[3],
                                         common_opts[4], {0, 0, 0, 0}};
    common c = {0};
    int o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (common_opt(o, &c)) continue;
        if (o == 'h') {
            fputs(editions_help, stdout);
            return finish_stdout(EXIT_FOUND);
        }
        bad_option("editions ", o, argv);
    }
    if (optind < argc)
        die_usage("editions ", "unexpected argument '%s'", argv[optind]);
    fp_ctx *ctx;
    if (fp_ctx_new(&ctx)) return EXIT_DATA;
    fp_catalogue *cat = load_catalogue(ctx, &c);
    if (c.json) printf("[");
    for (size_t i = 0; i < fp_catalogue_count(cat); i++) {
        const fp_edition *e = fp_catalogue_get(cat, i);
        if (c.json) {
            printf("%s{\"id\":", i ? "," : "");
            json_string(stdout, e->id);
            printf(",\"level\":");
            json_string(stdout, e->level);
            printf(",\"valid_from\":");
            json_string(stdout, e->valid_from);
            printf(",\"valid_to\":");
            if (*e->valid_to)
                json_string(stdout, e->valid_to);
            else
                printf("null");
            printf(",\"name\":");
            json_string(stdout, e->name);
            printf(",\"path\":");
            json_string(stdout, e->path);
            printf("}");
        } else {
            printf("%s\t%s\t%s\t%s\t%s\t%s\n", e->id, e->level, e->valid_from,
                   e->valid_to, e->name, e->path);
        }
    }
    if (c.json) printf("]\n");
    fp_catalogue_free(cat);
    fp_ctx_free(ctx);
    return finish_stdout(EXIT_FOUND);
}

/* ---- timeline ---- */

static const char timeline_help[] =
    "Usage: footprint timeline --lat LAT --lon LON [--since DATE] [--until DATE]\n"
    "                          [--nearest METRES] [--json] [--data DIR]\n"
    "                          [--atlas FILE] [--catalogue FILE]\n"
    "\n"
    "Every footprint that covered a point from 2017 to today, one row per\n"
    "period in which the whole chain stayed the same: from, to (\"-\" = still),\n"
    "then per tier (region, system, ics, place, sub, la) the code and name\n"
    "(tab-separated, \"-\" where none).\n"
    "\n"
    "  --since DATE     first day (default 2017-02-01, the STP footprints)\n"
    "  --until DATE     last day (default today)\n"
    "  --nearest METRES as for 'which'\n"
    "  --json           JSON output\n"
    "  -h, --help       this help\n";

static int cmd_timeline(int argc, char **argv)
{
    static const struct option opts[] = {
        {"lat", required_argument, 0, O_LAT}, {"lon", required_argument, 0, O_LON},
        {"since", required_argument, 0, O_SINCE}, {"until", required_argument, 0, O_UNTIL},
        {"nearest", required_argument, 0, O_NEAREST},
        common_opts[1], common_opts[2], common_opts[3], common_opts[4],
        common_opts[5], {0, 0, 0, 0}};
    common c = {0};
    const char *s_lat = NULL, *s_lon = NULL, *since = "2017-02-01", *until = NULL;
    double nearest = 0;
    int o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (common_opt(o, &c)) continue;
        switch (o) {
        case O_LAT: s_lat = optarg; break;
        case O_LON: s_lon = optarg; break;
        case O_SINCE: check_date("timeline ", "--since", optarg); since = optarg; break;
        case O_UNTIL: check_date("timeline ", "--until", optarg); until = optarg; break;
        case O_NEAREST:
            nearest = parse_number("timeline ", "--nearest", optarg);
            if (!(nearest >= 0) || !isfinite(nearest))
                die_usage("timeline ", "--nearest: expected metres >= 0, got '%s'", optarg);
            break;
        case 'h': fputs(timeline_help, stdout); return finish_stdout(EXIT_FOUND);
        default: bad_option("timeline ", o, argv);
        }
    }
    if (optind < argc) die_usage("timeline ", "unexpected argument '%s'", argv[optind]);
    if (!s_lat || !s_lon) die_usage("timeline ", "give --lat and --lon");
    fp_ctx *ctx;
    if (fp_ctx_new(&ctx)) return EXIT_DATA;
    double lat = parse_number("timeline ", "--lat", s_lat);
    double lon = parse_number("timeline ", "--lon", s_lon);
    if (fp_check_latlon(ctx, lat, lon)) die_usage("timeline ", "%s", fp_ctx_errmsg(ctx));
    char d[11];
    today(d);
    if (!until) until = d;
    if (strcmp(since, until) > 0) die_usage("timeline ", "--since is after --until");
    fp_catalogue *cat = load_catalogue(ctx, &c);
    char buf[4096];
    chain_src cs;
    open_chain_src(ctx, cat, &c, &cs, buf, sizeof buf);
    static fp_period periods[512];
    size_t n = 0;
    int rc = cs.atlas ? fp_atlas_timeline(ctx, cs.atlas, lat, lon, since, until, nearest,
                                          periods, 512, &n)
#ifdef FP_CLI_LIGHT
                      : FP_EINVAL;
#else
                      : fp__timeline(ctx, cat, file_layer, &cs, lat, lon, since, until,
                                     nearest, periods, 512, &n);
#endif
    int status = EXIT_FOUND, until_given = until != d;
    int covered = 0;
    for (size_t i = 0; i < n; i++)
        for (int t = 0; t < FP_TIER_COUNT; t++) covered |= periods[i].links[t].code != NULL;
    /* A period cut off by --until ends there, not "still". */
    if (!rc && n && until_given && !periods[n - 1].to[0])
        snprintf(periods[n - 1].to, sizeof periods[n - 1].to, "%s", until);
    if (rc) {
        fprintf(stderr, "%s: %s\n", prog, fp_ctx_errmsg(ctx));
        status = EXIT_DATA;
    } else if (!covered) {
        fprintf(stderr, "%s: no footprint covered %.6f, %.6f from %s to %s\n", prog, lat,
                lon, since, until);
        status = EXIT_NOMATCH;
    }
    if (rc || !covered) {
        /* nothing on stdout: the message above says why */
    } else if (c.json) {
        printf("{\"lat\":%.7f,\"lon\":%.7f,\"periods\":[", lat, lon);
        for (size_t i = 0; i < n; i++) {
            printf("%s{\"from\":\"%s\",\"to\":", i ? "," : "", periods[i].from);
            if (periods[i].to[0]) printf("\"%s\"", periods[i].to); else printf("null");
            printf(",\"chain\":[");
            for (int t = 0; t < FP_TIER_COUNT; t++) {
                if (t) printf(",");
                print_link_json(&periods[i].links[t]);
            }
            printf("]}");
        }
        printf("]}\n");
    } else {
        for (size_t i = 0; i < n; i++) {
            printf("%s\t%s", periods[i].from, periods[i].to[0] ? periods[i].to : "-");
            for (int t = 0; t < FP_TIER_COUNT; t++) {
                const fp_link *k = &periods[i].links[t];
                printf("\t%s\t%s", k->code ? k->code : "-", k->code ? k->name : "-");
            }
            printf("\n");
        }
    }
    close_chain_src(&cs);
    fp_catalogue_free(cat);
    fp_ctx_free(ctx);
    return status ? status : finish_stdout(EXIT_FOUND);
}

/* ---- members ---- */

static const char members_help[] =
    "Usage: footprint members CODE [--json] [--catalogue FILE]\n"
    "\n"
    "The constituents of a footprint from footprint's membership tables:\n"
    "its member areas (for footprints built from members) and the places\n"
    "within it, one per line, tab-separated: footprint code, edition, member\n"
    "edition, member code, clipped to (edition:code or \"-\"), valid from,\n"
    "valid to, source.  Exit status 1 when nothing is known of CODE.\n"
    "\n"
    "  --json           JSON output\n"
    "  -h, --help       this help\n";

static int cmd_members(int argc, char **argv)
{
    static const struct option opts[] = {common_opts[1], common_opts[3],
                                         common_opts[4], {0, 0, 0, 0}};
    common c = {0};
    int o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (common_opt(o, &c)) continue;
        if (o == 'h') {
            fputs(members_help, stdout);
            return finish_stdout(EXIT_FOUND);
        }
        bad_option("members ", o, argv);
    }
    if (optind + 1 != argc) die_usage("members ", "give one footprint CODE");
    const char *code = argv[optind];
    size_t clen = strlen(code);
    fp_ctx *ctx;
    if (fp_ctx_new(&ctx)) return EXIT_DATA;
    fp_catalogue *cat = load_catalogue(ctx, &c);
    size_t shown = 0;
    if (c.json) {
        printf("{\"code\":");
        json_string(stdout, code);
        printf(",\"members\":[");
    }
    for (size_t e = 0; e < fp_catalogue_count(cat); e++) {
        const fp_edition *ed = fp_catalogue_get(cat, e);
        for (size_t r = 0; r < fp_catalogue_member_count(cat, ed); r++) {
            const fp_member *m = fp_catalogue_member(cat, ed, r);
            /* Its own rows, and those of footprints within it ("CODE-..."). */
            int own = strcmp(m->code, code) == 0;
            int within = strncmp(m->code, code, clen) == 0 && m->code[clen] == '-';
            if (!own && !within) continue;
            if (c.json) {
                printf("%s{\"footprint\":", shown ? "," : "");
                json_string(stdout, m->code);
                printf(",\"name\":");
                json_string(stdout, m->name);
                printf(",\"edition\":");
                json_string(stdout, ed->id);
                printf(",\"level\":");
                json_string(stdout, ed->level);
                printf(",\"member_edition\":");
                json_string(stdout, m->member_edition);
                printf(",\"member_code\":");
                json_string(stdout, m->member_code);
                printf(",\"clip_edition\":");
                if (*m->clip_edition) json_string(stdout, m->clip_edition); else printf("null");
                printf(",\"clip_code\":");
                if (*m->clip_code) json_string(stdout, m->clip_code); else printf("null");
                printf(",\"valid_from\":");
                if (*m->valid_from) json_string(stdout, m->valid_from); else printf("null");
                printf(",\"valid_to\":");
                if (*m->valid_to) json_string(stdout, m->valid_to); else printf("null");
                printf(",\"source\":");
                json_string(stdout, m->source);
                printf("}");
            } else {
                printf("%s\t%s\t%s\t%s\t%s%s%s\t%s\t%s\t%s\n", m->code, ed->id,
                       m->member_edition, m->member_code,
                       *m->clip_edition ? m->clip_edition : "-",
                       *m->clip_edition ? ":" : "", m->clip_code,
                       *m->valid_from ? m->valid_from : "-",
                       *m->valid_to ? m->valid_to : "-", m->source);
            }
            shown++;
        }
    }
    if (c.json) printf("]}\n");
    if (!shown) fprintf(stderr, "%s: no membership facts for %s\n", prog, code);
    fp_catalogue_free(cat);
    fp_ctx_free(ctx);
    return finish_stdout(shown ? EXIT_FOUND : EXIT_NOMATCH);
}

/* ---- build ---- */

static const char build_help[] =
    "Usage: footprint build [--data DIR] [--out FILE] [--edition ID]...\n"
    "                       [--catalogue FILE]\n"
    "\n"
    "Compiles the catalogue and every edition's boundary file into one atlas\n"
    "(default: footprint.atlas in the data directory), which the query\n"
    "commands then use: they start in milliseconds and never parse a\n"
    "boundary file.  The atlas records what it was built from; a query on an\n"
    "atlas whose sources or catalogue changed stops and says so.\n"
    "\n"
    "  --data DIR       data directory (default $FOOTPRINT_DATA)\n"
    "  --out FILE       where to write the atlas\n"
    "  --edition ID     only this edition (repeatable; default: all)\n"
    "  --catalogue FILE editions catalogue (default: built in)\n"
    "  -h, --help       this help\n";

static int cmd_build(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, 0, O_OUT}, common_opts[0], common_opts[2],
        common_opts[3], common_opts[4], {0, 0, 0, 0}};
    common c = {0};
    const char *out = NULL;
    const char *only[64];
    size_t nonly = 0;
    int o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (o == O_EDITION) {
            int dup = 0;
            for (size_t i = 0; i < nonly; i++) dup |= strcmp(only[i], optarg) == 0;
            if (dup) continue;
            if (nonly == sizeof only / sizeof *only - 1)
                die_usage("build ", "too many --edition options");
            only[nonly++] = optarg;
            continue;
        }
        if (common_opt(o, &c)) continue;
        if (o == O_OUT) {
            out = optarg;
            continue;
        }
        if (o == 'h') {
            fputs(build_help, stdout);
            return finish_stdout(EXIT_FOUND);
        }
        bad_option("build ", o, argv);
    }
    if (optind < argc) die_usage("build ", "unexpected argument '%s'", argv[optind]);
#ifdef FP_CLI_LIGHT
    (void)out;
    delegate();
    return EXIT_DATA;
#else
    only[nonly] = NULL;
    fp_ctx *ctx;
    if (fp_ctx_new(&ctx)) return EXIT_DATA;
    fp_catalogue *cat = load_catalogue(ctx, &c);
    char buf[4096], path[4200];
    const char *dir = data_dir(&c, buf, sizeof buf);
    if (!out) {
        snprintf(path, sizeof path, "%s/footprint.atlas", dir);
        out = path;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = fp_atlas_build(ctx, cat, dir, nonly ? only : NULL, NULL, out);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int status = EXIT_FOUND;
    if (rc) {
        fprintf(stderr, "%s: %s\n", prog, fp_ctx_errmsg(ctx));
        status = rc == FP_EINVAL || rc == FP_ENOTFOUND ? EXIT_USAGE : EXIT_DATA;
    } else {
        fp_atlas *a;
        if (fp_atlas_open(ctx, out, &a) == FP_OK) {
            size_t ned = nonly ? nonly : fp_catalogue_count(cat);
            fprintf(stderr, "%s: built %s: %zu edition%s, %.1f MB, %.1f s\n", prog, out,
                    ned, ned == 1 ? "" : "s", fp_atlas_size(a) / 1e6,
                    (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
            fp_atlas_free(a);
        }
    }
    fp_catalogue_free(cat);
    fp_ctx_free(ctx);
    return status;
#endif
}

static const char main_help[] =
    "Usage: footprint COMMAND [OPTIONS]\n"
    "\n"
    "NHS England health geography: which Integrated Care Board, STP or other\n"
    "NHS footprint covers a point, from ONS boundary files.\n"
    "\n"
    "Commands:\n"
    "  which      the footprints covering a point on a date: region, ICB or\n"
    "             STP, ICS, place, sub-ICB or CCG, local authority\n"
    "  list       the footprints of an edition\n"
    "  editions   the editions footprint knows\n"
    "  timeline   every footprint that covered a point, period by period\n"
    "  members    the constituents of a footprint\n"
    "  build      compile the catalogue and boundary files into an atlas\n"
    "  help [COMMAND]\n"
    "\n"
    "Options:\n"
    "  -h, --help     this help ('footprint COMMAND --help' for a command's)\n"
    "  --version      print the version\n"
    "  --data DIR     (before the command) data directory for every command\n"
    "\n"
    "Data: boundary files are read from --data DIR, $FOOTPRINT_DATA,\n"
    "~/.local/share/footprint or " FP_DATADIR ",\n"
    "laid out as 'geodata/fetch' prepares them.\n"
    "Exit status: 0 found/ok, 1 no footprint, 2 usage error, 3 data error.\n"
    "Boundaries: Source: Office for National Statistics licensed under the\n"
    "Open Government Licence v.3.0; Contains OS data (c) Crown copyright and\n"
    "database right.\n";

int main(int argc, char **argv)
{
    const char *global_data = NULL;
    orig_argv = argv;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(main_help, stdout);
            return finish_stdout(EXIT_FOUND);
        } else if (!strcmp(argv[i], "--version")) {
            printf("footprint %s (libfootprint %s)\n", FP_VERSION_STRING,
                   fp_version());
            return finish_stdout(EXIT_FOUND);
        } else if (!strcmp(argv[i], "--data") && i + 1 < argc) {
            global_data = argv[++i];
        } else if (!strncmp(argv[i], "--data=", 7)) {
            global_data = argv[i] + 7;
        } else {
            die_usage(NULL, "unknown option '%s'", argv[i]);
        }
    }
    if (i >= argc) die_usage(NULL, "no command given (which, list, editions)");
    if (global_data) setenv("FOOTPRINT_DATA", global_data, 1);
    const char *cmd = argv[i];
    int sargc = argc - i;
    char **sargv = argv + i;
    if (!strcmp(cmd, "which")) return cmd_which(sargc, sargv);
    if (!strcmp(cmd, "list")) return cmd_list(sargc, sargv);
    if (!strcmp(cmd, "editions")) return cmd_editions(sargc, sargv);
    if (!strcmp(cmd, "build")) return cmd_build(sargc, sargv);
    if (!strcmp(cmd, "timeline")) return cmd_timeline(sargc, sargv);
    if (!strcmp(cmd, "members")) return cmd_members(sargc, sargv);
    if (!strcmp(cmd, "help")) {
        const char *sub = sargc > 1 ? sargv[1] : NULL;
        if (!sub) fputs(main_help, stdout);
        else if (!strcmp(sub, "which")) fputs(which_help, stdout);
        else if (!strcmp(sub, "list")) fputs(list_help, stdout);
        else if (!strcmp(sub, "editions")) fputs(editions_help, stdout);
        else if (!strcmp(sub, "build")) fputs(build_help, stdout);
        else if (!strcmp(sub, "timeline")) fputs(timeline_help, stdout);
        else if (!strcmp(sub, "members")) fputs(members_help, stdout);
        else die_usage(NULL, "no command '%s'", sub);
        return finish_stdout(EXIT_FOUND);
    }
    die_usage(NULL, "no command '%s'", cmd);
    return EXIT_USAGE;
}
