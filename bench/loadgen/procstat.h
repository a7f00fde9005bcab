/*
 * procstat.h - reads a process's memory and CPU time from /proc (proc(5)):
 * VmRSS from /proc/PID/status and utime, stime from /proc/PID/stat.
 * Used to charge server processes for what a scenario costs them.
 */
#ifndef SIOC_BENCH_LOADGEN_PROCSTAT_H
#define SIOC_BENCH_LOADGEN_PROCSTAT_H

#include <sys/types.h>

/** Resident set size of `pid` in KiB, or -1 when it cannot be read. */
long long procstat_rss_kb(pid_t pid);
/** User (utime) and system (stime) CPU seconds of `pid` so far: 0, or -1 when they cannot
 * be read (then the outputs are untouched). */
int procstat_cpu_split(pid_t pid, double *user_s, double *sys_s);

#endif
