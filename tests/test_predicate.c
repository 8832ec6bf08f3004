/* The exact orientation predicate (lib/src/predicate.c). */
#include <math.h>

#include "internal.h"
#include "support.h"

static void test_predicate_simple_signs(void **state)
{
    (void)state;
    assert_int_equal(fp__orient(0, 0, 1, 0, 0, 1), 1);  /* left */
    assert_int_equal(fp__orient(0, 0, 1, 0, 0, -1), -1); /* right */
    assert_int_equal(fp__orient(0, 0, 1, 0, 2, 0), 0);  /* on the line */
    assert_int_equal(fp__orient(0, 0, 0, 0, 5, 5), 0);  /* degenerate */
}

/* Kettner et al.'s classroom example: with q and r on y = x, the exact
 * sign of orient(p, q, r) is sign(py - px).  A plain double determinant
 * gets many of these wrong. */
static void test_predicate_exact_near_collinear(void **state)
{
    (void)state;
    const double u = ldexp(1.0, -53);
    int naive_wrong = 0;
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < 64; j++) {
            double px = 0.5 + i * u, py = 0.5 + j * u;
            int want = (j > i) - (j < i);
            assert_int_equal(fp__orient(px, py, 12, 12, 24, 24), want);
            double det = (px - 24) * (12 - 24) - (py - 24) * (12 - 24);
            if (((det > 0) - (det < 0)) != want) naive_wrong++;
        }
    /* The test only proves something if the naive formula fails here. */
    assert_true(naive_wrong > 0);
}

/* Orientation is antisymmetric under swapping a and b, whatever the
 * rounding: the property shared edges rely on. */
static void test_predicate_antisymmetric(void **state)
{
    (void)state;
    unsigned s = 12345;
    for (int k = 0; k < 20000; k++) {
        double v[6];
        for (int i = 0; i < 6; i++) {
            s = s * 1103515245u + 12345u;
            v[i] = -1.5 + (s >> 8) * 1e-9;
        }
        /* c on the segment a-b, rounded: the hard case. */
        double t = (k % 97) / 97.0;
        v[4] = v[0] + t * (v[2] - v[0]);
        v[5] = v[1] + t * (v[3] - v[1]);
        int o1 = fp__orient(v[0], v[1], v[2], v[3], v[4], v[5]);
        int o2 = fp__orient(v[2], v[3], v[0], v[1], v[4], v[5]);
        assert_int_equal(o1, -o2);
        /* Cyclic rotations agree. */
        assert_int_equal(o1, fp__orient(v[2], v[3], v[4], v[5], v[0], v[1]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_predicate_simple_signs),
        cmocka_unit_test(test_predicate_exact_near_collinear),
        cmocka_unit_test(test_predicate_antisymmetric),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
