/* jsonptr — JSON Pointer escaping (jsonptr.h). */
#include "base/jsonptr.h"

size_t jsonptr_escape(char *dst, size_t cap, const char *seg)
{
    size_t need = 0;
    for (const char *p = seg; *p; p++) {
        const char *rep = *p == '~' ? "~0" : *p == '/' ? "~1" : NULL;
        size_t k = rep ? 2 : 1;
        for (size_t i = 0; i < k; i++, need++)
            if (need + 1 < cap)
                dst[need] = rep ? rep[i] : *p;
    }
    if (cap)
        dst[need < cap ? need : cap - 1] = '\0';
    return need;
}
