/* Contexts, errors, allocation and versions. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const fp_allocator default_alloc = {malloc, realloc, free};

const char *fp_version(void) { return FP_VERSION_STRING; }
int fp_version_number(void) { return FP_VERSION_NUMBER; }

const char *fp_status_str(int status)
{
    switch (status) {
    case FP_OK: return "ok";
    case FP_ENOMEM: return "out of memory";
    case FP_EINVAL: return "invalid argument";
    case FP_EIO: return "input/output error";
    case FP_EFORMAT: return "unusable data";
    case FP_ECRS: return "coordinate reference system error";
    case FP_EFIELD: return "missing field";
    case FP_ENOTFOUND: return "not found";
    default: return "unknown status";
    }
}

void *fp__malloc(const fp_allocator *a, size_t n)
{
    return a->malloc(n ? n : 1);
}

void *fp__calloc(const fp_allocator *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) return NULL;
    void *p = fp__malloc(a, n * size);
    if (p) memset(p, 0, n * size);
    return p;
}

void *fp__realloc(const fp_allocator *a, void *p, size_t n)
{
    return a->realloc(p, n ? n : 1);
}

void fp__free(const fp_allocator *a, void *p)
{
    if (p) a->free(p);
}

char *fp__strdup(const fp_allocator *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = fp__malloc(a, n);
    if (d) memcpy(d, s, n);
    return d;
}

int fp__grow(const fp_allocator *a, void **p, size_t *cap, size_t need,
             size_t size)
{
    if (need <= *cap) return FP_OK;
    size_t ncap = *cap ? *cap : 16;
    if (ncap > SIZE_MAX / size) return FP_ENOMEM;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / size) return FP_ENOMEM;
        ncap *= 2;
    }
    void *np = fp__realloc(a, *p, ncap * size);
    if (!np) return FP_ENOMEM;
    *p = np;
    *cap = ncap;
    return FP_OK;
}

int fp_ctx_new_with_allocator(const fp_allocator *allocator, fp_ctx **out)
{
    const fp_allocator *a = allocator ? allocator : &default_alloc;
    *out = NULL;
    fp_ctx *ctx = fp__calloc(a, 1, sizeof *ctx);
    if (!ctx) return FP_ENOMEM;
    ctx->alloc = *a;
    *out = ctx;
    return FP_OK;
}

int fp_ctx_new(fp_ctx **out) { return fp_ctx_new_with_allocator(NULL, out); }

void fp_ctx_free(fp_ctx *ctx)
{
    if (!ctx) return;
    if (ctx->proj_release) ctx->proj_release(ctx);
    fp_allocator a = ctx->alloc;
    fp__free(&a, ctx);
}

int fp_ctx_errcode(const fp_ctx *ctx) { return ctx ? ctx->errcode : FP_OK; }

const char *fp_ctx_errmsg(const fp_ctx *ctx) { return ctx ? ctx->errmsg : ""; }

void fp__clear(fp_ctx *ctx)
{
    if (!ctx) return;
    ctx->errcode = FP_OK;
    ctx->errmsg[0] = '\0';
}

int fp__verror(fp_ctx *ctx, int code, const char *fmt, va_list ap)
{
    if (!ctx) return code;
    ctx->errcode = code;
    vsnprintf(ctx->errmsg, sizeof ctx->errmsg, fmt, ap);
    /* One line, always: GDAL and PROJ messages may carry newlines. */
    for (char *p = ctx->errmsg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return code;
}

int fp__error(fp_ctx *ctx, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fp__verror(ctx, code, fmt, ap);
    va_end(ap);
    return code;
}

int fp_check_latlon(fp_ctx *ctx, double lat, double lon)
{
    fp__clear(ctx);
    if (!isfinite(lat) || !isfinite(lon))
        return fp__error(ctx, FP_EINVAL,
                         "latitude/longitude must be finite numbers "
                         "(got %g, %g)", lat, lon);
    if (lat < -90 || lat > 90 || lon < -180 || lon > 180)
        return fp__error(ctx, FP_EINVAL,
                         "latitude %g, longitude %g out of range "
                         "(latitude -90..90, longitude -180..180)", lat, lon);
    /* Great Britain spans latitude 49.8..60.9 and longitude -8.7..1.8;
     * the reverse pair is a transposition, not a place anyone meant. */
    int lat_like_lon = lat >= -8.7 && lat <= 1.8;
    int lon_like_lat = lon >= 49.8 && lon <= 60.9;
    if (lat_like_lon && lon_like_lat)
        return fp__error(ctx, FP_EINVAL,
                         "latitude %g, longitude %g look swapped: did you "
                         "mean latitude %g, longitude %g?", lat, lon, lon,
                         lat);
    return FP_OK;
}
