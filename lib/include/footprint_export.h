/*
 * footprint_export.h — Export through OGR and web maps.
 * Part of libfootprint's public API: include footprint.h, which includes
 * this file.
 */
#ifndef FOOTPRINT_EXPORT_H
#define FOOTPRINT_EXPORT_H

#include "footprint.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* FOOTPRINT_EXPORT_H */
