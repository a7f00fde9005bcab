/*
 * procstat.h - reads a process's memory and CPU time from /proc (proc(5)):
 * VmRSS from /proc/PID/status and utime + stime from /proc/PID/stat.
 * Used to charge server processes for what a scenario costs them.
 */
#ifndef SIOC_BENCH_LOADGEN_PROCSTAT_H
#define SIOC_BENCH_LOADGEN_PROCSTAT_H

#include <sys/types.h>

/** Resident set size of `pid` in KiB, or -1 when it cannot be read. */
long long procstat_rss_kb(pid_t pid);
/** User + system CPU seconds consumed by `pid` so far, or -1 when it cannot be read. */
double procstat_cpu_s(pid_t pid);

#endif
