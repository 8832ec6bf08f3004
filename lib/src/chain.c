/*
 * Chains and timelines: which footprints of every tier covered a point on
 * a date, built from the catalogue's editions (chosen by date), membership
 * dates, status facts and parent regions.  Core code: layers come from a
 * provider (the atlas, or footprint-geo reading files).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *const tier_names[FP_TIER_COUNT] = {"region", "system", "ics",
                                                      "place", "sub", "la"};
/* The levels of each tier, preferred first. */
static const char *const tier_levels[FP_TIER_COUNT][3] = {
    {"nhser", NULL}, {"icb", "stp", NULL}, {"ics", NULL},
    {"icp", NULL},   {"sicbl", "ccg", NULL}, {"lad", NULL}};

const char *fp_tier_name(int tier)
{
    return tier >= 0 && tier < FP_TIER_COUNT ? tier_names[tier] : "";
}

/* Is `word` one of the comma-separated items of `list`? */
static int listed(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == n && strncmp(p, word, n) == 0) return 1;
        if (!c) break;
        p = c + 1;
    }
    return 0;
}

/* Statuses of `code` on `date`, comma-separated; whole items only.  (ICB
 * codes reuse STP codes: the facts' dates keep the eras apart.) */
static void statuses(const fp_catalogue *cat, const char *code, const char *date,
                     char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < fp_catalogue_status_count(cat); i++) {
        const fp_status_fact *s = fp_catalogue_status_get(cat, i);
        if (strcmp(s->code, code) || !fp_date_within(date, s->valid_from, s->valid_to))
            continue;
        if (listed(out, s->status)) continue;
        size_t need = strlen(s->status) + (n ? 1 : 0);
        if (n + need >= size) break; /* no room for the whole item */
        if (n) out[n++] = ',';
        memcpy(out + n, s->status, strlen(s->status) + 1);
        n += strlen(s->status);
    }
}

/* An ODS code for a footprint: the ODS facts on the date, else any
 * membership row that gives one. */
static const char *ods_of(const fp_catalogue *cat, const char *code, const char *date)
{
    const char *o = fp_catalogue_ods_on(cat, code, date);
    if (o) return o;
    for (size_t e = 0; e < fp_catalogue_count(cat); e++) {
        const fp_edition *ed = fp_catalogue_get(cat, e);
        if (!*ed->members) continue;
        const fp_member *m = fp_catalogue_footprint_row(cat, ed->id, code);
        if (m && *m->ods_code) return m->ods_code;
    }
    return "";
}

int fp__tier_layer(fp_ctx *ctx, const fp_catalogue *cat, fp__layer_provider get,
                   void *arg, int tier, const char *date, const fp_edition **ed,
                   const fp_layer **layer)
{
    *ed = NULL;
    *layer = NULL;
    /* Levels in order of preference; within a level, editions via finer
     * areas (answering as ONS assigns postcodes) before boundary files,
     * and the latest-starting first.  An edition the provider lacks (an
     * atlas built with some editions only) gives way to the next. */
    for (int l = 0; tier_levels[tier][l]; l++) {
        const fp_edition *tried[8];
        size_t ntried = 0;
        for (;;) {
            const fp_edition *best = NULL;
            for (size_t i = 0; i < fp_catalogue_count(cat); i++) {
                const fp_edition *e = fp_catalogue_get(cat, i);
                if (strcmp(e->level, tier_levels[tier][l]) ||
                    !fp_date_within(date, e->valid_from, e->valid_to))
                    continue;
                int done = 0;
                for (size_t k = 0; k < ntried; k++) done |= tried[k] == e;
                if (done) continue;
                if (!best || (*e->via && !*best->via) ||
                    (!*e->via == !*best->via && strcmp(e->valid_from, best->valid_from) > 0))
                    best = e;
            }
            if (!best) break;
            int rc = get(arg, ctx, best, layer);
            if (rc == FP_OK) {
                *ed = best;
                return FP_OK;
            }
            if (rc != FP_ENOTFOUND) return rc;
            fp__clear(ctx);
            if (ntried == sizeof tried / sizeof *tried) break;
            tried[ntried++] = best;
        }
    }
    return FP_OK;
}

int fp__link_fill(const fp_catalogue *cat, const fp_edition *ed, const fp_layer *L,
                  size_t index, const char *date, fp_link *k)
{
    const char *code = fp_layer_code(L, index);
    if (date && *ed->members) { /* membership footprints have their own dates */
        const fp_member *row = fp_catalogue_footprint_row(cat, ed->id, code);
        if (row && !fp_date_within(date, row->valid_from, row->valid_to)) return 0;
    }
    k->edition = ed;
    k->code = code;
    k->name = fp_layer_name(L, index);
    k->ods_code = ods_of(cat, code, date);
    if (date) statuses(cat, code, date, k->status, sizeof k->status);
    return 1;
}

int fp__link_parent(const fp_catalogue *cat, const char *system_code, const char *date,
                    fp_link *region)
{
    const fp_parent *p = fp_catalogue_parent_on(cat, system_code, date);
    if (!p) return 0;
    region->edition = NULL;
    region->code = p->parent_code;
    region->name = p->parent_name;
    return 1;
}

void fp__link_init(fp_link *k, int tier)
{
    memset(k, 0, sizeof *k);
    k->tier = tier;
    k->ods_code = "";
    k->distance_m = NAN;
}

int fp__chain(fp_ctx *ctx, const fp_catalogue *cat, fp__layer_provider get,
              void *arg, double lat, double lon, const char *date,
              double nearest_m, fp_link links[FP_TIER_COUNT])
{
    if (!fp__valid_date(date))
        return fp__error(ctx, FP_EINVAL, "date '%s' is not a valid YYYY-MM-DD date", date);
    for (int t = 0; t < FP_TIER_COUNT; t++) fp__link_init(&links[t], t);
    /* The region last: regions are made of whole systems (ICBs, STPs), so
     * the system footprint's parent answers it, consistently with the
     * system tier; region boundaries only where no parent is known. */
    static const int order[FP_TIER_COUNT] = {FP_TIER_SYSTEM, FP_TIER_ICS, FP_TIER_PLACE,
                                             FP_TIER_SUB, FP_TIER_LA, FP_TIER_REGION};
    _Static_assert(FP_TIER_COUNT == 6, "a tier missing from the order");
    for (int i = 0; i < FP_TIER_COUNT; i++) {
        int t = order[i];
        fp_link *k = &links[t];
        if (t == FP_TIER_REGION) {
            const fp_link *s = &links[FP_TIER_SYSTEM];
            if (s->code && fp__link_parent(cat, s->code, date, k)) {
                k->kind = s->kind;
                k->distance_m = s->distance_m;
                continue;
            }
        }
        const fp_edition *ed;
        const fp_layer *L;
        int rc = fp__tier_layer(ctx, cat, get, arg, t, date, &ed, &L);
        if (rc) return rc;
        if (!ed) continue;
        fp_match m = fp_layer_locate(L, lat, lon, nearest_m);
        if (m.index < 0 || !fp__link_fill(cat, ed, L, (size_t)m.index, date, k)) continue;
        k->kind = m.kind;
        k->distance_m = m.distance_m;
    }
    return FP_OK;
}

/* ---- dates ---- */

static long days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(long z, char out[11])
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
    long m = mp + (mp < 10 ? 3 : -9);
    char buf[64]; /* dates here are years 1000..9999: 10 characters */
    snprintf(buf, sizeof buf, "%04ld-%02ld-%02ld", y + (m <= 2), m, d);
    memcpy(out, buf, 10);
    out[10] = '\0';
}

static long day_of(const char *s)
{
    int y, m, d;
    sscanf(s, "%d-%d-%d", &y, &m, &d);
    return days_from_civil(y, m, d);
}

static int same_chain(const fp_link *a, const fp_link *b)
{
    for (int t = 0; t < FP_TIER_COUNT; t++) {
        if (!a[t].code != !b[t].code) return 0;
        if (a[t].code && strcmp(a[t].code, b[t].code)) return 0;
        if (strcmp(a[t].status, b[t].status)) return 0;
        if ((a[t].edition == NULL) != (b[t].edition == NULL)) return 0;
        if (a[t].edition && a[t].edition != b[t].edition &&
            strcmp(a[t].edition->level, b[t].edition->level))
            return 0;
    }
    return 1;
}

static int add_day(long *days, size_t *n, size_t max, const char *date, int after,
                   long lo, long hi)
{
    if (!*date || !fp__valid_date(date)) return 0;
    long d = day_of(date) + (after ? 1 : 0);
    if (d <= lo || d > hi) return 0;
    for (size_t i = 0; i < *n; i++)
        if (days[i] == d) return 0;
    if (*n == max) return -1;
    days[(*n)++] = d;
    return 0;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

int fp__timeline(fp_ctx *ctx, const fp_catalogue *cat, fp__layer_provider get,
                 void *arg, double lat, double lon, const char *since,
                 const char *until, double nearest_m, fp_period *out, size_t max,
                 size_t *n)
{
    *n = 0;
    if (!fp__valid_date(since) || !fp__valid_date(until) || strcmp(since, until) > 0)
        return fp__error(ctx, FP_EINVAL, "bad period %s..%s", since, until);
    /* Every day on which something could change: edition, membership,
     * status and parent boundaries. */
    enum { MAXDAYS = 4096 };
    static _Thread_local long days[MAXDAYS];
    size_t nd = 0;
    long lo = day_of(since), hi = day_of(until);
    days[nd++] = lo;
    int over = 0;
    for (size_t i = 0; i < fp_catalogue_count(cat); i++) {
        const fp_edition *e = fp_catalogue_get(cat, i);
        over |= add_day(days, &nd, MAXDAYS, e->valid_from, 0, lo, hi);
        over |= add_day(days, &nd, MAXDAYS, e->valid_to, 1, lo, hi);
        for (size_t r = 0; r < fp_catalogue_member_count(cat, e); r++) {
            const fp_member *m = fp_catalogue_member(cat, e, r);
            over |= add_day(days, &nd, MAXDAYS, m->valid_from, 0, lo, hi);
            over |= add_day(days, &nd, MAXDAYS, m->valid_to, 1, lo, hi);
        }
    }
    for (size_t i = 0; i < fp_catalogue_status_count(cat); i++) {
        const fp_status_fact *s = fp_catalogue_status_get(cat, i);
        over |= add_day(days, &nd, MAXDAYS, s->valid_from, 0, lo, hi);
        over |= add_day(days, &nd, MAXDAYS, s->valid_to, 1, lo, hi);
    }
    for (size_t i = 0; i < fp_catalogue_parent_count(cat); i++) {
        const fp_parent *p = fp_catalogue_parent_get(cat, i);
        over |= add_day(days, &nd, MAXDAYS, p->valid_from, 0, lo, hi);
        over |= add_day(days, &nd, MAXDAYS, p->valid_to, 1, lo, hi);
    }
    if (over) return fp__error(ctx, FP_EINVAL, "too many change dates in the catalogue");
    qsort(days, nd, sizeof *days, cmp_long);
    for (size_t i = 0; i < nd; i++) {
        char d[11];
        civil_from_days(days[i], d);
        fp_link links[FP_TIER_COUNT];
        int rc = fp__chain(ctx, cat, get, arg, lat, lon, d, nearest_m, links);
        if (rc) return rc;
        if (*n && same_chain(out[*n - 1].links, links)) continue;
        if (*n == max) return fp__error(ctx, FP_EINVAL, "timeline longer than %zu periods", max);
        if (*n) civil_from_days(days[i] - 1, out[*n - 1].to);
        fp_period *p = &out[(*n)++];
        snprintf(p->from, sizeof p->from, "%s", d);
        p->to[0] = '\0';
        memcpy(p->links, links, sizeof links);
    }
    return FP_OK;
}

/* ---- over an atlas ---- */

static int atlas_get(void *arg, fp_ctx *ctx, const fp_edition *ed, const fp_layer **out)
{
    return fp_atlas_layer(ctx, arg, ed->id, out);
}

int fp_atlas_chain(fp_ctx *ctx, const fp_atlas *atlas, double lat, double lon,
                   const char *date, double nearest_m, fp_link links[FP_TIER_COUNT])
{
    fp__clear(ctx);
    return fp__chain(ctx, fp_atlas_catalogue(atlas), atlas_get, (void *)atlas, lat,
                     lon, date, nearest_m, links);
}

int fp_atlas_timeline(fp_ctx *ctx, const fp_atlas *atlas, double lat, double lon,
                      const char *since, const char *until, double nearest_m,
                      fp_period *out, size_t max, size_t *n)
{
    fp__clear(ctx);
    return fp__timeline(ctx, fp_atlas_catalogue(atlas), atlas_get, (void *)atlas,
                        lat, lon, since, until, nearest_m, out, max, n);
}
