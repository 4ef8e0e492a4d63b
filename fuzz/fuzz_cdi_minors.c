/* libFuzzer target: /proc/driver/nvidia-caps/mig-minors text through the CDI
 * module's parser (what the agent reads from the host before writing specs).
 * Every success must answer lookups consistently; every failure must say why. */
#include <stddef.h>
#include <stdint.h>

#include "cdi/cdi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cdi_minors *m = NULL;
    struct err *e = NULL;
    if (cdi_minors_parse((const char *)data, size, "fuzz", &m, &e) == 0) {
        if (m == NULL)
            __builtin_trap();
        for (unsigned g = 0; g < 4; g++)
            for (unsigned gi = 0; gi < 4; gi++) {
                long a = cdi_minors_gi(m, g, gi), c = cdi_minors_ci(m, g, gi, 0);
                if (a < -1 || c < -1 || a >= (1L << 20) || c >= (1L << 20))
                    __builtin_trap(); /* minors are bounded, -1 is "absent" */
            }
        cdi_minors_free(m);
    } else if (!e) {
        __builtin_trap();
    }
    err_free(&e);
    return 0;
}
