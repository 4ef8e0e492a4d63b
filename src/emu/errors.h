/* errors — nvmlReturn_t names and NVML's texts for them. */
#ifndef SLICER_EMU_ERRORS_H
#define SLICER_EMU_ERRORS_H

#include "nvml/nvml_abi.h"

/* NVML's text for r ("Insufficient Resources"); "Unknown Error" for values
 * NVML does not define. Never NULL; static storage. */
const char *emu_error_text(nvmlReturn_t r);

/* Parses an error as fault injection accepts it: a name with or without the
 * "NVML_ERROR_" prefix ("IN_USE", "NVML_ERROR_IN_USE", any case), or a decimal
 * number that is a defined error. NVML_SUCCESS is not an error. Returns 0 and
 * sets *out, or -1. */
int emu_error_parse(const char *s, nvmlReturn_t *out);

#endif
