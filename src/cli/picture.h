/* picture — draws a GPU's MIG memory slices and the instances in them, in
 * plain ASCII, for `slicer plan` and `slicer status` (docs/cli.md):
 *
 *     GPU 0: NVIDIA A100-SXM4-40GB  compute 7/7, memory slices 8/8, instances 5/7
 *           0       1       2       3       4       5       6       7
 *       +-------+-------+-------+-------+-------------------------------+
 *       | 1g.5gb| 1g.5gb| 1g.5gb| 1g.5gb| 3g.20gb                       |
 *       | #2    | #3    | #4    | #5    | #1                            |
 *       +-------+-------+-------+-------+-------------------------------+
 *       can still add: nothing
 *
 * One box per instance spans its memory slices; free slices hold a dot. The
 * cell width adapts to the labels (4-, 8- and 12-slice grids stay within
 * about 100 columns). Reads the GPU only; writes to `out` only.
 */
#ifndef SLICER_CLI_PICTURE_H
#define SLICER_CLI_PICTURE_H

#include <stddef.h>
#include <stdio.h>

#include "core/place.h"

/* Writes the second line of an instance's box (who holds it: "#3", a pod,
 * a pid) into buf[0..cap), NUL-terminated. Too long a label is cut. */
typedef void (*picture_label_fn)(const struct place_inst *inst, char *buf, size_t cap, void *ctx);

/* "GPU 0: NVIDIA A100-SXM4-40GB  compute 4/7, memory slices 5/8, instances 2/7" */
void picture_header(FILE *out, const struct place_gpu *g, unsigned index);

/* The ruler of slice numbers and the boxes. Boxes hold the profile name and,
 * when `label` is not NULL, a second line from it. */
void picture_grid(FILE *out, const struct place_gpu *g, picture_label_fn label, void *ctx);

/* "can still add: 1g.5gb x2, 2g.10gb x1" (place_fits_more > 0 only), or
 * "can still add: nothing"; wrapped at 100 columns. */
void picture_can_add(FILE *out, const struct place_gpu *g);

/* picture_header, picture_grid and picture_can_add. */
void picture_gpu(FILE *out, const struct place_gpu *g, unsigned index, picture_label_fn label,
                 void *ctx);

#endif
