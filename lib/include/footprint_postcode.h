/*
 * footprint_postcode.h — Postcode directory: normalisation, import, lookup.
 * Part of libfootprint's public API: include footprint.h, which includes
 * this file.
 */
#ifndef FOOTPRINT_POSTCODE_H
#define FOOTPRINT_POSTCODE_H

#include "footprint.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* FOOTPRINT_POSTCODE_H */
