/*
 * The fake NVML's state: what the state file says (see README.md) and what setters
 * changed, shared by the NVML functions (fake_nvml.c) and the loader (state.c).
 * Nothing declared here is exported from the library.
 */
#ifndef FAKE_NVML_STATE_H
#define FAKE_NVML_STATE_H

#include <pthread.h>

typedef int nvmlReturn_t;
#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_TIMEOUT 10
#define NVML_ERROR_MEMORY 20
#define NVML_ERROR_ARGUMENT_VERSION_MISMATCH 25
#define NVML_ERROR_UNKNOWN 999

#define MAX_GPUS 64
#define MAX_PROCS 64
#define MAX_ERRS 64
#define MAX_XIDS 64
#define MAX_MIGS 7 /* MIG devices per GPU, as on an A100/H100 */
#define NOT_AVAILABLE 0xFFFFFFFFFFFFFFFFULL

/* Numeric per-GPU values; a value the state file does not set is NOT_SUPPORTED. */
enum {
    F_UTIL_GPU, F_UTIL_MEM, F_MEM_TOTAL, F_MEM_USED, F_MEM_RESERVED, F_MEM_FREE,
    F_TEMP, F_TEMP_SLOWDOWN, F_TEMP_SHUTDOWN, F_POWER, F_POWER_LIMIT, F_POWER_DEFAULT,
    F_CLK_GRAPHICS, F_CLK_SM, F_CLK_MEM, F_CLK_GRAPHICS_MAX, F_CLK_SM_MAX, F_CLK_MEM_MAX,
    F_FAN, F_PSTATE, F_REASONS, F_ENCODER, F_DECODER, F_PCIE_GEN, F_PCIE_WIDTH,
    F_PCIE_RX, F_PCIE_TX, F_ECC_UNCORR_VOL, F_ECC_CORR_VOL, F_ECC_UNCORR_AGG, F_ECC_CORR_AGG,
    F_REMAP_CORR, F_REMAP_UNC, F_REMAP_PENDING, F_REMAP_FAILURE, F_RETIRED_PENDING,
    F_PCIE_GEN_MAX, F_PCIE_WIDTH_MAX, F_PCIE_REPLAYS, F_ECC_MODE,
    F_COUNT
};

typedef struct { unsigned int pid; unsigned long long mem; } proc_t;
/* One process's share of the GPU, as nvmlDeviceGetProcessUtilization reports it. */
typedef struct { unsigned int pid, sm, mem, enc, dec; } putil_t;
typedef struct { char fn[48]; int code; } err_t;
/* An injected XID: delivered once to every event set with XID events on its GPU. */
typedef struct { unsigned long long seq; unsigned int code; } xid_t;

typedef struct {
    char name[96], uuid[96], pci_bus_id[32];
    unsigned long long v[F_COUNT];
    unsigned char has[F_COUNT];
    proc_t compute[MAX_PROCS], graphics[MAX_PROCS];
    int n_compute, n_graphics, has_compute, has_graphics;
    putil_t putil[MAX_PROCS]; /* gpuN.process_utilization */
    int n_putil, has_putil;
    int device_error; /* gpuN.error: every call on the device returns it */
    err_t errs[MAX_ERRS];
    int n_errs;
    xid_t xids[MAX_XIDS]; /* gpuN.xids, in the file's order */
    int n_xids;
    /* MIG: gpuN.mig_mode, and the slots (gpuM, M >= device_count) of its MIG devices. */
    int mig_mode, has_mig_mode;
    int migs[MAX_MIGS], n_migs;
    int is_mig; /* this slot is a MIG device of another GPU */
} gpu_t;

typedef struct {
    char driver_version[80];
    int device_count, init_error;
    /* A hung driver: nvmlDeviceGetCount blocks this long (ms) while the key stays set. */
    unsigned long long hang_ms;
    /* a setter (lock, reset, power limit) blocks this long, holding the library lock */
    unsigned long long setter_hang_ms;
    /* nvmlDeviceGetPcieThroughput waits this long (without the library lock), as a real
     * driver samples the link for ~20 ms inside the call */
    unsigned long long pcie_throughput_ms;
    /* every device call busy-waits this long, holding the lock: a real call's ioctl cost */
    unsigned long long call_cost_us;
    /* also look for a new state file at any device call once this many ms have passed (0:
     * only at the calls that start a sample), for clients like nvtop that never call them */
    unsigned long long reload_every_ms;
    /* A library that answers the process-count query with SUCCESS, not INSUFFICIENT_SIZE. */
    int count_query_success;
    gpu_t gpus[MAX_GPUS];
} state_t;

/* What setters changed: driver state, so it survives rewrites of the state file. */
typedef struct {
    int clocks_locked;
    unsigned int lock_min, lock_max;
    int power_set;
    unsigned int power_limit_mw;
} applied_t;

#pragma GCC visibility push(hidden)
/* Held by every NVML call; protects everything below. */
extern pthread_mutex_t lock;
extern state_t state;
extern applied_t applied[MAX_GPUS];
extern int broken; /* no valid state loaded: every call answers UNKNOWN */

/* Re-reads the state file when it changed, or always with `force`. Caller holds `lock`. */
void reload(int force);
/* Appends one line to the setter log. */
void log_setter(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#pragma GCC visibility pop

#endif
