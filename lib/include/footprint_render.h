/*
 * footprint_render.h — Maps: PNG, SVG and PDF through cairo.
 * Part of libfootprint's public API: include footprint.h, which includes
 * this file.
 */
#ifndef FOOTPRINT_RENDER_H
#define FOOTPRINT_RENDER_H

#include "footprint.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif

#endif /* FOOTPRINT_RENDER_H */
