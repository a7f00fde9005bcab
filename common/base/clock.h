/*
 * clock.h - monotonic and wall time in milliseconds.
 */
#ifndef SIOC_COMMON_BASE_CLOCK_H
#define SIOC_COMMON_BASE_CLOCK_H

/** Monotonic milliseconds (arbitrary origin). */
long long clock_ms(void);
/** Monotonic microseconds. */
long long clock_us(void);
/** Wall-clock seconds since the epoch. */
long long clock_unix(void);
/** Wall-clock milliseconds since the epoch. */
long long clock_unix_ms(void);

#endif
