/*
 * The exact orientation predicate.
 *
 * A floating-point filter settles almost every call; only points within a
 * rounding error of an edge's line take the exact path, which sums the
 * determinant's terms as an exact floating-point expansion (after Shewchuk,
 * "Adaptive Precision Floating-Point Arithmetic and Fast Robust Geometric
 * Predicates", 1997).  Exactness is what lets two footprints sharing an
 * edge agree on every point of it.
 */
#include <math.h>

#include "internal.h"

/* x + y == a + b exactly, |y| <= ulp(x) / 2. */
static inline void two_sum(double a, double b, double *x, double *y)
{
    double s = a + b, bv = s - a, av = s - bv;
    *x = s;
    *y = (a - av) + (b - bv);
}

static inline void two_diff(double a, double b, double *x, double *y)
{
    double d = a - b, bv = a - d, av = d + bv;
    *x = d;
    *y = (a - av) + (bv - b);
}

/* x + y == a * b exactly (fma computes the rounding error). */
static inline void two_product(double a, double b, double *x, double *y)
{
    double p = a * b;
    *x = p;
    *y = fma(a, b, -p);
}

/* Adds b to the non-overlapping expansion e[0..n) (increasing magnitude),
 * dropping zeros; returns the new length. */
static int grow(double *e, int n, double b)
{
    double q = b;
    int m = 0;
    for (int i = 0; i < n; i++) {
        double s, t;
        two_sum(q, e[i], &s, &t);
        if (t != 0.0) e[m++] = t;
        q = s;
    }
    if (q != 0.0 || m == 0) e[m++] = q;
    return m;
}

static int orient_exact(double ax, double ay, double bx, double by,
                        double cx, double cy)
{
    double acx, acxt, bcy, bcyt, acy, acyt, bcx, bcxt;
    two_diff(ax, cx, &acx, &acxt);
    two_diff(by, cy, &bcy, &bcyt);
    two_diff(ay, cy, &acy, &acyt);
    two_diff(bx, cx, &bcx, &bcxt);
    /* (acx + acxt)(bcy + bcyt) - (acy + acyt)(bcx + bcxt), term by term. */
    const double l[4][2] = {{acx, bcy}, {acx, bcyt}, {acxt, bcy},
                            {acxt, bcyt}};
    const double r[4][2] = {{acy, bcx}, {acy, bcxt}, {acyt, bcx},
                            {acyt, bcxt}};
    double e[17];
    int n = 0;
    for (int i = 0; i < 4; i++) {
        double p, q;
        two_product(l[i][0], l[i][1], &p, &q);
        n = grow(e, n, q);
        n = grow(e, n, p);
        two_product(r[i][0], r[i][1], &p, &q);
        n = grow(e, n, -q);
        n = grow(e, n, -p);
    }
    double top = e[n - 1];
    return (top > 0) - (top < 0);
}

int fp__orient(double ax, double ay, double bx, double by, double cx,
               double cy)
{
    double l = (ax - cx) * (by - cy);
    double r = (ay - cy) * (bx - cx);
    double det = l - r, sum;
    if (l > 0) {
        if (r <= 0) return det > 0 ? 1 : (det < 0 ? -1 : 0);
        sum = l + r;
    } else if (l < 0) {
        if (r >= 0) return det > 0 ? 1 : (det < 0 ? -1 : 0);
        sum = -l - r;
    } else {
        return det > 0 ? 1 : (det < 0 ? -1 : 0);
    }
    /* Shewchuk's ccwerrboundA: (3 + 16 eps) eps, eps = 2^-53. */
    const double bound = 3.3306690738754716e-16 * sum;
    if (det >= bound || -det >= bound) return det > 0 ? 1 : -1;
    return orient_exact(ax, ay, bx, by, cx, cy);
}
