/*
 * fuzz_rest_plan.c: libFuzzer harness for rest_plan.c's reading of the
 * Accept header (the plan media type, its for= and options= parameters),
 * which is untrusted input and whose for= value is echoed in the response's
 * Content-Type.
 *
 * Every input must come back accepted or refused with a 406, never a crash
 * or undefined behaviour; an accepted for= value fits its buffer and holds
 * no CR, LF or other control character; the Content-Type built from it
 * holds none either; options are only the known bits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rest_plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *accept = malloc(size + 1);
    if (!accept)
        abort();
    memcpy(accept, data, size);
    accept[size] = '\0';
    for (int enabled = 0; enabled < 2; enabled++) {
        KilnExplain ex;
        KilnError err = {0};
        if (!rest_plan_accept(accept, enabled, &ex, &err)) {
            if (err.status != 406)
                abort();
            continue;
        }
        if (ex.on && !enabled)
            abort();
        if (strlen(ex.for_type) >= sizeof ex.for_type || ex.options >= 1u << 5)
            abort();
        KilnBuf ct = KILN_BUF_INIT;
        rest_plan_content_type(&ex, &ct);
        for (const char *c = buf_str(&ct); *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                abort();
        buf_free(&ct);
    }
    free(accept);
    return 0;
}
