/* libFuzzer target: any bytes as the body of POST /mutate-pods. The webhook
 * must answer every input — a review or an error — and a patch it returns must
 * be a JSON array; it never crashes or leaks. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webhook/review.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct review_outcome oc;
    struct err *e = NULL;
    char *out = NULL;
    int rc = review_answer((const char *)data, size, NULL, &out, &oc, &e);
    if (rc == 0) {
        json_t *r = json_loads(out, 0, NULL);
        if (r == NULL || (oc.verdict == MUTATE_DENY) == (oc.message[0] == '\0'))
            __builtin_trap();
        json_decref(r);
    } else if (out != NULL || e == NULL) {
        __builtin_trap();
    }
    free(out);
    err_free(&e);
    return 0;
}
