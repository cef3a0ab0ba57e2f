/* check.h - the tests' assertion: report and count, keep going. */
#ifndef IG_TEST_CHECK_H
#define IG_TEST_CHECK_H

#include <stdio.h>

static int failures;
#define CHECK(cond, ...)                                \
    do {                                                \
        if (!(cond)) {                                  \
            printf("FAIL %s:%d: ", __FILE__, __LINE__); \
            printf(__VA_ARGS__);                        \
            printf("\n");                               \
            failures++;                                 \
        }                                               \
    } while (0)

#endif
