/* fuzz-resume-range.c - the hub's reading of a resumed push's
 * Content-Range (hub/hub_resume.c, hub_resume_range()). Any input is fine;
 * an accepted one is "bytes A-B/T" in plain decimal digits with
 * A <= B < T <= the cap, and printing those numbers back gives the input. */
#undef NDEBUG                   /* the checks below are the point */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "hub_resume.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char in[256], out[256];
    size_t a = 7, b = 7, t = 7;

    if (size >= sizeof(in))
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    if (hub_resume_range(in, HUB_BODY_MAX, &a, &b, &t) < 0)
        return 0;
    assert(a <= b && b < t && t <= HUB_BODY_MAX);
    snprintf(out, sizeof(out), "bytes %zu-%zu/%zu", a, b, t);
    /* leading zeros are digits too: compare the numbers, not the text */
    if (strcmp(in, out) != 0) {
        size_t a2, b2, t2;
        assert(sscanf(in, "bytes %zu-%zu/%zu", &a2, &b2, &t2) == 3);
        assert(a2 == a && b2 == b && t2 == t);
    }
    return 0;
}
