#include "emu/syms.h"

#include <string.h>

static const char *const names[EMU_SYM_COUNT] = {
#define EMU_SYM_NAME(name, required, ret, params) #name,
    NVML_FUNCTIONS(EMU_SYM_NAME)
#undef EMU_SYM_NAME
};

int emu_sym_find(const char *name)
{
    for (int i = 0; i < EMU_SYM_COUNT; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}
