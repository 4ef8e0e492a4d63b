/* Exported: initialisation, shutdown, error strings, driver version. */
#include "emu/emu.h"
#include "emu/errors.h"
#include "emu/lookup.h"

EMU_EXPORT nvmlReturn_t nvmlInit_v2(void)
{
    return emu_init();
}

EMU_EXPORT nvmlReturn_t nvmlShutdown(void)
{
    return emu_shutdown();
}

/* Works before nvmlInit_v2 too, as NVML's does; counted for fault injection
 * (CRASH / CRASH_AFTER) only while initialised. */
EMU_EXPORT const char *nvmlErrorString(nvmlReturn_t result)
{
    struct emu_call c;
    (void)emu_call_begin(&c, EMU_SYM_nvmlErrorString);
    emu_call_end(&c, NVML_SUCCESS);
    return emu_error_text(result);
}

EMU_EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlSystemGetDriverVersion);
    if (r == NVML_SUCCESS)
        r = emu_copy_out(version, length, EMU_DRIVER_VERSION);
    return emu_call_end(&c, r);
}
