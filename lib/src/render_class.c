/* Choropleth classes (quantile, equal interval, Fisher-Jenks natural
 * breaks) and the numbers the legend shows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "footprint.h"
#include "render_private.h"

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return a < b ? -1 : a > b;
}

/* Fisher's exact optimal partition of sorted values into k classes
 * (minimum total within-class squared deviation), O(k n^2): the upper
 * bound of each class into hi[0..k). */
static int jenks(const fp_allocator *a, const double *v, size_t n, int k, double *hi)
{
    size_t K = (size_t)k + 1;
    size_t *lower = fp__calloc(a, (n + 1) * K, sizeof *lower);
    double *var = fp__calloc(a, (n + 1) * K, sizeof *var);
    if (!lower || !var) {
        fp__free(a, lower);
        fp__free(a, var);
        return FP_ENOMEM;
    }
#define LO(i, j) lower[(i) * K + (j)]
#define VA(i, j) var[(i) * K + (j)]
    for (size_t j = 1; j <= (size_t)k; j++) {
        LO(1, j) = 1;
        VA(1, j) = 0;
        for (size_t i = 2; i <= n; i++) VA(i, j) = INFINITY;
    }
    for (size_t l = 2; l <= n; l++) {
        double s1 = 0, s2 = 0, w = 0, vv = 0;
        for (size_t mm = 1; mm <= l; mm++) {
            size_t i3 = l - mm + 1;
            double x = v[i3 - 1];
            s2 += x * x;
            s1 += x;
            w += 1;
            vv = s2 - s1 * s1 / w;
            size_t i4 = i3 - 1;
            if (i4)
                for (size_t j = 2; j <= (size_t)k; j++)
                    if (VA(l, j) >= vv + VA(i4, j - 1)) {
                        LO(l, j) = i3;
                        VA(l, j) = vv + VA(i4, j - 1);
                    }
        }
        LO(l, 1) = 1;
        VA(l, 1) = vv;
    }
    hi[k - 1] = v[n - 1];
    size_t at = n;
    for (int c = k; c >= 2; c--) {
        size_t id = LO(at, (size_t)c);
        hi[c - 2] = v[id >= 2 ? id - 2 : 0];
        at = id >= 2 ? id - 1 : 1;
    }
#undef LO
#undef VA
    fp__free(a, lower);
    fp__free(a, var);
    return FP_OK;
}

int rd_classify(const fp_allocator *a, const double *v, size_t n, int k, int method,
                double *hi, int *made)
{
    *made = 0;
    if (!n) return FP_OK;
    size_t distinct = 1;
    for (size_t i = 1; i < n; i++) distinct += v[i] != v[i - 1];
    if ((size_t)k > distinct) k = (int)distinct;
    if (k <= 1) {
        hi[0] = v[n - 1];
        *made = 1;
        return FP_OK;
    }
    if (method == FP_MAP_EQUAL) {
        double lo = v[0], w = (v[n - 1] - lo) / k;
        for (int c = 0; c < k; c++) hi[c] = lo + w * (c + 1);
        hi[k - 1] = v[n - 1];
        *made = k;
        return FP_OK;
    }
    if (method == FP_MAP_JENKS) {
        /* Above 3000 values the O(k n^2) search runs on an evenly spaced
         * sample of the sorted values (as QGIS does). */
        size_t ns = n > 3000 ? 3000 : n;
        double *s = (double *)v;
        if (ns < n) {
            s = fp__malloc(a, ns * sizeof *s);
            if (!s) return FP_ENOMEM;
            for (size_t i = 0; i < ns; i++) s[i] = v[i * (n - 1) / (ns - 1)];
        }
        int rc = jenks(a, s, ns, k, hi);
        if (s != v) fp__free(a, s);
        if (rc) return rc;
        hi[k - 1] = v[n - 1];
    } else {
        for (int c = 0; c < k; c++) {
            size_t idx = (size_t)ceil((double)(c + 1) * (double)n / k);
            hi[c] = v[idx ? idx - 1 : 0];
        }
    }
    /* Classes whose bound repeats (many equal values) are merged. */
    int m = 0;
    for (int c = 0; c < k; c++)
        if (!m || hi[c] > hi[m - 1]) hi[m++] = hi[c];
    *made = m;
    return FP_OK;
}

int rd_values_apply(fp_map *m)
{
    size_t n = 0;
    for (size_t l = 0; l < m->nlayers; l++)
        if (m->layers[l].role == FP_MAP_AREAS)
            for (size_t i = 0; i < m->layers[l].nf; i++)
                n += !isnan(m->layers[l].f[i].value);
    double *v = fp__malloc(&m->a, (n ? n : 1) * sizeof *v);
    if (!v) return rd_fail(m, FP_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t l = 0; l < m->nlayers; l++)
        if (m->layers[l].role == FP_MAP_AREAS)
            for (size_t i = 0; i < m->layers[l].nf; i++)
                if (!isnan(m->layers[l].f[i].value)) v[k++] = m->layers[l].f[i].value;
    qsort(v, n, sizeof *v, cmp_double);
    double hi[RD_MAXCLASS];
    int made = 0;
    if (rd_classify(&m->a, v, n, m->nclasses, m->method, hi, &made)) {
        fp__free(&m->a, v);
        return rd_fail(m, FP_ENOMEM, "out of memory");
    }
    m->ncls = made;
    for (int c = 0; c < made; c++) {
        m->cls_n[c] = 0;
        m->cls_lo[c] = INFINITY;
        m->cls_hi[c] = -INFINITY;
    }
    for (size_t l = 0; l < m->nlayers; l++) {
        rd_layer *ly = &m->layers[l];
        if (ly->role != FP_MAP_AREAS) continue;
        for (size_t i = 0; i < ly->nf; i++) {
            rd_feat *f = &ly->f[i];
            f->cls = -1;
            if (isnan(f->value)) continue;
            int c = 0;
            while (c < made - 1 && f->value > hi[c]) c++;
            f->cls = c;
            m->cls_n[c]++;
            m->cls_lo[c] = fmin(m->cls_lo[c], f->value);
            m->cls_hi[c] = fmax(m->cls_hi[c], f->value);
        }
    }
    /* Equal intervals show the intervals (some may be empty); the other
     * methods the values each class holds. */
    if (m->method == FP_MAP_EQUAL && made > 1) {
        double lo = v[0];
        for (int c = 0; c < made; c++) {
            m->cls_lo[c] = c ? hi[c - 1] : lo;
            m->cls_hi[c] = hi[c];
        }
    }
    double span = v[n - 1] - v[0];
    int integral = 1;
    for (size_t i = 0; i < n && integral; i++) integral = v[i] == floor(v[i]) && fabs(v[i]) < 1e15;
    int d;
    if (integral && (m->method != FP_MAP_EQUAL || span / made >= 10))
        d = 0;
    else if (span >= 100)
        d = 0;
    else if (span >= 10)
        d = 1;
    else if (span >= 1)
        d = 2;
    else
        d = span > 0 ? (int)ceil(-log10(span)) + 2 : 2;
    m->decimals = d > 6 ? 6 : d;
    fp__free(&m->a, v);
    return FP_OK;
}

/* 1234567.5 -> "1,234,567.5" (British style: comma thousands). */
void rd_format_number(double v, int decimals, char *buf, size_t size)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.*f", decimals, v);
    if (!strcmp(tmp, "-0") || (tmp[0] == '-' && strspn(tmp + 1, "0.") == strlen(tmp + 1)))
        memmove(tmp, tmp + 1, strlen(tmp)); /* no "-0" */
    const char *p = tmp;
    size_t o = 0;
    if (*p == '-') {
        if (o + 1 < size) buf[o++] = '-';
        p++;
    }
    size_t intlen = strcspn(p, ".");
    for (size_t i = 0; p[i]; i++) {
        if (i < intlen && i > 0 && (intlen - i) % 3 == 0 && o + 1 < size) buf[o++] = ',';
        if (o + 1 < size) buf[o++] = p[i];
    }
    buf[o < size ? o : size - 1] = '\0';
}
