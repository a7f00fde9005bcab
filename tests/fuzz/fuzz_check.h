/*
 * fuzz_check.h - the invariant check of the fuzz targets: a broken invariant
 * prints where and what, then aborts, so libFuzzer keeps the input.
 */
#ifndef SIOC_TESTS_FUZZ_CHECK_H
#define SIOC_TESTS_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
