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

#include "config.h"
#include "footprint.h"

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
    int json;
} common;

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
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
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

static fp_layer *open_edition(fp_ctx *ctx, const fp_edition *ed, const common *c)
{
    char buf[4096];
    const char *dir = data_dir(c, buf, sizeof buf);
    fp_layer *layer = NULL;
    int rc = fp_edition_open(ctx, ed, dir, NULL, &layer);
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
    return layer;
}

/* ---- which ---- */

static const char which_help[] =
    "Usage: footprint which (--lat LAT --lon LON | --easting E --northing N)\n"
    "                       [--edition ID] [--nearest METRES] [--json]\n"
    "                       [--data DIR] [--catalogue FILE]\n"
    "\n"
    "Which footprint covers a point.  Prints the footprint's code and name\n"
    "(tab-separated), or a JSON object with --json.\n"
    "\n"
    "  --lat LAT, --lon LON     WGS84 latitude and longitude (degrees)\n"
    "  --easting E, --northing N\n"
    "                           British National Grid (EPSG:27700), metres\n"
    "  --edition ID             footprint set (default: the ICB edition in\n"
    "                           force today; see 'footprint editions')\n"
    "  --nearest METRES         outside every footprint, answer the nearest\n"
    "                           one within METRES and say how far it is\n"
    "  --json                   JSON output\n"
    "  --data DIR               data directory (default $FOOTPRINT_DATA)\n"
    "  --catalogue FILE         editions catalogue (default: built in)\n"
    "  -h, --help               this help\n"
    "\n"
    "A point on a boundary belongs to the footprint immediately east of it\n"
    "(north of it on an east-west boundary).\n"
    "Exit status: 0 found, 1 no footprint, 2 usage error, 3 data error.\n";

enum { O_LAT = 256, O_LON, O_EAST, O_NORTH, O_EDITION, O_NEAREST, O_JSON,
       O_DATA, O_CATALOGUE };

static const struct option common_opts[] = {
    {"edition", required_argument, 0, O_EDITION},
    {"json", no_argument, 0, O_JSON},
    {"data", required_argument, 0, O_DATA},
    {"catalogue", required_argument, 0, O_CATALOGUE},
    {"help", no_argument, 0, 'h'},
};

static int common_opt(int o, common *c)
{
    switch (o) {
    case O_EDITION: c->edition = optarg; return 1;
    case O_JSON: c->json = 1; return 1;
    case O_DATA: c->data = optarg; return 1;
    case O_CATALOGUE: c->catalogue = optarg; return 1;
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
        common_opts[0], common_opts[1], common_opts[2], common_opts[3],
        common_opts[4], {0, 0, 0, 0}};
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
        int rc = fp_bng_to_latlon(ctx, e, n, &lat, &lon);
        if (rc == FP_EINVAL) die_usage("which ", "%s", fp_ctx_errmsg(ctx));
        if (rc) {
            fprintf(stderr, "%s: %s\n", prog, fp_ctx_errmsg(ctx));
            return EXIT_DATA;
        }
    }
    fp_catalogue *cat = load_catalogue(ctx, &c);
    const fp_edition *ed = pick_edition("which ", cat, &c);
    fp_layer *layer = open_edition(ctx, ed, &c);
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
    fp_layer_free(layer);
    fp_catalogue_free(cat);
    fp_ctx_free(ctx);
    return status;
}

/* ---- list ---- */

static const char list_help[] =
    "Usage: footprint list [--edition ID] [--json] [--data DIR]\n"
    "                      [--catalogue FILE]\n"
    "\n"
    "The footprints of an edition: code and name, tab-separated, one per\n"
    "line in code order; the count goes to stderr (and into the JSON).\n"
    "\n"
    "  --edition ID     footprint set (default: the ICB edition in force today)\n"
    "  --json           JSON output\n"
    "  --data DIR       data directory (default $FOOTPRINT_DATA)\n"
    "  --catalogue FILE editions catalogue (default: built in)\n"
    "  -h, --help       this help\n";

static int cmd_list(int argc, char **argv)
{
    static const struct option opts[] = {common_opts[0], common_opts[1],
                                         common_opts[2], common_opts[3],
                                         common_opts[4], {0, 0, 0, 0}};
    common c = {0};
    int o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (common_opt(o, &c)) continue;
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
    const fp_edition *ed = pick_edition("list ", cat, &c);
    fp_layer *layer = open_edition(ctx, ed, &c);
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
    fp_layer_free(layer);
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

static const char main_help[] =
    "Usage: footprint COMMAND [OPTIONS]\n"
    "\n"
    "NHS England health geography: which Integrated Care Board, STP or other\n"
    "NHS footprint covers a point, from ONS boundary files.\n"
    "\n"
    "Commands:\n"
    "  which      which footprint covers a point (--lat/--lon or\n"
    "             --easting/--northing)\n"
    "  list       the footprints of an edition\n"
    "  editions   the editions footprint knows\n"
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
    if (!strcmp(cmd, "help")) {
        const char *sub = sargc > 1 ? sargv[1] : NULL;
        if (!sub) fputs(main_help, stdout);
        else if (!strcmp(sub, "which")) fputs(which_help, stdout);
        else if (!strcmp(sub, "list")) fputs(list_help, stdout);
        else if (!strcmp(sub, "editions")) fputs(editions_help, stdout);
        else die_usage(NULL, "no command '%s'", sub);
        return finish_stdout(EXIT_FOUND);
    }
    die_usage(NULL, "no command '%s'", cmd);
    return EXIT_USAGE;
}
