/*
 * unit.h: the C unit-test framework, header only.
 *
 *   UNIT_TEST(name) { CHECK(x == 1); CHECK_STR_EQ(a, "b"); }
 *   ...
 *   UNIT_MAIN()
 *
 * Each test binary prints one TAP-like line per test ("ok N - name" or
 * "not ok N - name" with the failed checks before it) and exits non-zero
 * if any test failed. tests/run-all counts these lines.
 */
#ifndef KILN_UNIT_H
#define KILN_UNIT_H

#include <stdio.h>
#include <string.h>

typedef void (*UnitFn)(int *failures);

typedef struct UnitCase {
    const char *name;
    UnitFn fn;
} UnitCase;

#define UNIT_MAX_TESTS 256
static UnitCase unit_cases[UNIT_MAX_TESTS];
static int unit_ncases;

#define UNIT_TEST(name)                                                                            \
    static void unit_##name(int *unit_failures);                                                   \
    __attribute__((constructor)) static void unit_register_##name(void)                            \
    {                                                                                              \
        if (unit_ncases < UNIT_MAX_TESTS)                                                          \
            unit_cases[unit_ncases++] = (UnitCase){#name, unit_##name};                            \
    }                                                                                              \
    static void unit_##name(int *unit_failures)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("#   %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);                    \
            (*unit_failures)++;                                                                    \
        }                                                                                          \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                                         \
    do {                                                                                           \
        const char *unit_a = (a), *unit_b = (b);                                                   \
        if (!unit_a || !unit_b || strcmp(unit_a, unit_b) != 0) {                                   \
            printf("#   %s:%d: %s == %s failed\n#     got:      \"%s\"\n#     expected: \"%s\"\n",    \
                   __FILE__, __LINE__, #a, #b, unit_a ? unit_a : "(null)",                         \
                   unit_b ? unit_b : "(null)");                                                    \
            (*unit_failures)++;                                                                    \
        }                                                                                          \
    } while (0)

#define UNIT_MAIN()                                                                                \
    int main(void)                                                                                 \
    {                                                                                              \
        int failed = 0;                                                                            \
        for (int i = 0; i < unit_ncases; i++) {                                                    \
            int f = 0;                                                                             \
            unit_cases[i].fn(&f);                                                                  \
            printf("%sok %d - %s\n", f ? "not " : "", i + 1, unit_cases[i].name);                  \
            failed += f != 0;                                                                      \
        }                                                                                          \
        printf("1..%d\n", unit_ncases);                                                            \
        return failed ? 1 : 0;                                                                     \
    }

#endif
