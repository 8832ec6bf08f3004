#!/usr/bin/env python3
"""chain.py - libfootprint from Python through ctypes: the footprint chain
of many points at once, from a compiled atlas (no GDAL needed at run time).

    footprint build                      # once: DATA/footprint.atlas
    python3 examples/chain.py DATA/footprint.atlas 2019-06-01 \\
        53.381,-1.470 53.30,-1.12

Prints, per point and tier, the code and name of the footprint covering it
on that date (tab-separated), "-" where none does.  The library is found as
libfootprint.so.0 on the usual search path, or through $FOOTPRINT_LIB.
"""
import ctypes
import os
import sys

TIERS = ["region", "system", "ics", "place", "sub", "la"]


class Link(ctypes.Structure):
    """struct fp_link (footprint.h)."""
    _fields_ = [("tier", ctypes.c_int), ("edition", ctypes.c_void_p),
                ("code", ctypes.c_char_p), ("name", ctypes.c_char_p),
                ("ods_code", ctypes.c_char_p), ("status", ctypes.c_char * 48),
                ("kind", ctypes.c_int), ("distance_m", ctypes.c_double)]


class Hit(ctypes.Structure):
    """struct fp_hit (footprint.h)."""
    _fields_ = [("entry", ctypes.c_int32), ("kind", ctypes.c_int32),
                ("distance_m", ctypes.c_double)]


def load(path=None):
    lib = ctypes.CDLL(path or os.environ.get("FOOTPRINT_LIB", "libfootprint.so.0"))
    p, pp = ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)
    sigs = {
        "fp_version": (ctypes.c_char_p, []),
        "fp_ctx_new": (ctypes.c_int, [pp]),
        "fp_ctx_free": (None, [p]),
        "fp_ctx_errmsg": (ctypes.c_char_p, [p]),
        "fp_atlas_open": (ctypes.c_int, [p, ctypes.c_char_p, pp]),
        "fp_atlas_free": (None, [p]),
        "fp_plan_new": (ctypes.c_int, [p, p, pp]),
        "fp_plan_free": (None, [p]),
        "fp_plan_add_tier": (ctypes.c_int, [p, p, ctypes.c_int, ctypes.c_char_p]),
        "fp_plan_columns": (ctypes.c_size_t, [p]),
        "fp_plan_answer": (ctypes.POINTER(Link), [p, ctypes.c_size_t, ctypes.c_int32]),
        "fp_plan_locate_n": (None, [p, ctypes.POINTER(ctypes.c_double),
                                    ctypes.POINTER(ctypes.c_double), ctypes.c_size_t,
                                    ctypes.c_double, ctypes.POINTER(Hit)]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


def main(argv):
    if len(argv) < 4:
        sys.stderr.write("usage: chain.py ATLAS YYYY-MM-DD LAT,LON...\n")
        return 2
    atlas_path, date, points = argv[1], argv[2], argv[3:]
    try:
        coords = [tuple(float(v) for v in p.split(",")) for p in points]
        if any(len(c) != 2 for c in coords):
            raise ValueError
    except ValueError:
        sys.stderr.write("chain.py: points are LAT,LON pairs\n")
        return 2
    lib = load()
    ctx, atlas, plan = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
    if lib.fp_ctx_new(ctypes.byref(ctx)) != 0:
        return 3
    try:
        if lib.fp_atlas_open(ctx, atlas_path.encode(), ctypes.byref(atlas)) != 0 or \
           lib.fp_plan_new(ctx, atlas, ctypes.byref(plan)) != 0:
            sys.stderr.write("chain.py: %s\n" % lib.fp_ctx_errmsg(ctx).decode())
            return 3
        for tier in range(len(TIERS)):
            if lib.fp_plan_add_tier(ctx, plan, tier, date.encode()) != 0:
                sys.stderr.write("chain.py: %s\n" % lib.fp_ctx_errmsg(ctx).decode())
                return 2
        n, ncol = len(coords), lib.fp_plan_columns(plan)
        lat = (ctypes.c_double * n)(*[c[0] for c in coords])
        lon = (ctypes.c_double * n)(*[c[1] for c in coords])
        hits = (Hit * (n * ncol))()
        lib.fp_plan_locate_n(plan, lat, lon, n, 0.0, hits)
        for i, (la, lo) in enumerate(coords):
            for col in range(ncol):
                h = hits[i * ncol + col]
                if h.entry < 0:
                    code, name = "-", "-"
                else:
                    k = lib.fp_plan_answer(plan, col, h.entry).contents
                    code, name = k.code.decode(), k.name.decode()
                print("%.6f,%.6f\t%s\t%s\t%s" % (la, lo, TIERS[col], code, name))
        return 0
    finally:
        lib.fp_plan_free(plan)
        lib.fp_atlas_free(atlas)
        lib.fp_ctx_free(ctx)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
