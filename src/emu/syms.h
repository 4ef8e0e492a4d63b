/* syms — the NVML symbols the emulator exports, numbered from the X-macro of
 * nvml/nvml_abi.h (fault injection counts calls per symbol). */
#ifndef SLICER_EMU_SYMS_H
#define SLICER_EMU_SYMS_H

#include "nvml/nvml_abi.h"

enum emu_sym {
#define EMU_SYM_ENUM(name, required, ret, params) EMU_SYM_##name,
    NVML_FUNCTIONS(EMU_SYM_ENUM)
#undef EMU_SYM_ENUM
        EMU_SYM_COUNT
};

/* The symbol called exactly `name`, or -1. */
int emu_sym_find(const char *name);

#endif
