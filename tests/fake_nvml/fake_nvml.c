/*
 * A fake libnvidia-ml.so.1 for tests: the NVML symbols gpuwarden reaches through
 * nvml-wrapper, serving values from a state file the test rewrites between samples and
 * logging every setter call. See README.md next to this file for the state-file format;
 * state.c loads it.
 *
 * Build: cc -shared -fPIC -Wl,-soname,libnvidia-ml.so.1 -o libnvidia-ml.so.1 fake_nvml.c state.c
 * Define OMIT_<symbol> (e.g. -DOMIT_nvmlDeviceGetFanSpeed_v2) to leave an optional symbol
 * out, the way an older driver lacks newer functions.
 *
 * Event sets deliver the XIDs the state file lists (`gpuN.xids`), each once per set.
 */
#define _GNU_SOURCE
#include "state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct {
    unsigned int version;
    unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;
typedef struct {
    char busIdLegacy[16];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;

typedef struct {
    unsigned int pid;
    unsigned long long timeStamp;
    unsigned int smUtil, memUtil, encUtil, decUtil;
} nvmlProcessUtilizationSample_t;

struct nvmlDevice_st { int index; };
typedef struct nvmlDevice_st *nvmlDevice_t;

static struct nvmlDevice_st handles[MAX_GPUS];
static int init_count;

/* Common entry for device calls: lock, validate, apply injected errors. */
#define ENTER(dev, fn_name)                                           \
    pthread_mutex_lock(&lock);                                        \
    gpu_t *g;                                                         \
    int idx;                                                          \
    {                                                                 \
        nvmlReturn_t rc_ = enter((dev), (fn_name), &g, &idx);          \
        if (rc_) { pthread_mutex_unlock(&lock); return rc_; }          \
    }
#define RETURN(rc) do { nvmlReturn_t r_ = (rc); pthread_mutex_unlock(&lock); return r_; } while (0)

static nvmlReturn_t check_errs(gpu_t *g, const char *fn) {
    if (g->device_error) return g->device_error;
    for (int i = 0; i < g->n_errs; i++)
        if (!strcmp(g->errs[i].fn, fn)) return g->errs[i].code;
    return NVML_SUCCESS;
}

/* A real call's cost: spin (holding the lock, as the ioctl would) for call_cost_us. */
static void pay_call_cost(void) {
    if (!state.call_cost_us) return;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((unsigned long long)((now.tv_sec - start.tv_sec) * 1000000000LL + (now.tv_nsec - start.tv_nsec)) <
             state.call_cost_us * 1000ULL);
}

/* Calls per function, counted when $FAKE_NVML_CALLS names a file; written there as
 * `count function` lines when the process exits (benches/vs_nvtop.sh reads it). */
#define MAX_COUNTED 128
static struct { const char *fn; unsigned long long n; } counted[MAX_COUNTED];
static int n_counted = -1; /* -1: not yet looked at the env var; 0: off or none yet */
static const char *calls_path;

static void count_call(const char *fn) {
    if (n_counted < 0) {
        calls_path = getenv("FAKE_NVML_CALLS");
        n_counted = 0;
    }
    if (!calls_path) return;
    for (int i = 0; i < n_counted; i++)
        if (!strcmp(counted[i].fn, fn)) { counted[i].n++; return; }
    if (n_counted < MAX_COUNTED) counted[n_counted++] = (typeof(counted[0])){fn, 1};
}

__attribute__((destructor)) static void write_call_counts(void) {
    if (!calls_path || n_counted <= 0) return;
    FILE *f = fopen(calls_path, "w");
    if (!f) return;
    for (int i = 0; i < n_counted; i++) fprintf(f, "%llu %s\n", counted[i].n, counted[i].fn);
    fclose(f);
}

/* reload_every_ms: a look at the state file from any device call, at most that often. */
static void maybe_reload(void) {
    static struct timespec last;
    if (!state.reload_every_ms) return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ms = (now.tv_sec - last.tv_sec) * 1000LL + (now.tv_nsec - last.tv_nsec) / 1000000;
    if (ms < (long long)state.reload_every_ms) return;
    last = now;
    reload(0);
}

static nvmlReturn_t enter(nvmlDevice_t dev, const char *fn, gpu_t **g, int *idx) {
    if (!init_count) return NVML_ERROR_UNINITIALIZED;
    maybe_reload();
    count_call(fn);
    pay_call_cost();
    if (broken) return NVML_ERROR_UNKNOWN;
    if (dev < handles || dev >= handles + MAX_GPUS) return NVML_ERROR_INVALID_ARGUMENT;
    *idx = (int)(dev - handles);
    /* MIG device handles are the slots past device_count their GPU lists. */
    if (*idx >= state.device_count && !state.gpus[*idx].is_mig) return NVML_ERROR_INVALID_ARGUMENT;
    *g = &state.gpus[*idx];
    return check_errs(*g, fn);
}

#define VALUE(field) do { if (!g->has[field]) RETURN(NVML_ERROR_NOT_SUPPORTED); } while (0)

/* ---- library lifetime and system ---- */

nvmlReturn_t nvmlInit_v2(void) {
    pthread_mutex_lock(&lock);
    reload(1);
    if (broken) RETURN(NVML_ERROR_UNKNOWN);
    if (state.init_error) RETURN(state.init_error);
    init_count++;
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
    (void)flags;
    return nvmlInit_v2();
}

nvmlReturn_t nvmlShutdown(void) {
    pthread_mutex_lock(&lock);
    if (!init_count) RETURN(NVML_ERROR_UNINITIALIZED);
    init_count--;
    RETURN(NVML_SUCCESS);
}

const char *nvmlErrorString(nvmlReturn_t rc) {
    static char buf[32];
    snprintf(buf, sizeof buf, "fake nvml error %d", rc);
    return buf;
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    pthread_mutex_lock(&lock);
    if (!init_count) RETURN(NVML_ERROR_UNINITIALIZED);
    count_call("SystemGetDriverVersion");
    pay_call_cost();
    reload(0);
    if (broken) RETURN(NVML_ERROR_UNKNOWN);
    if (strlen(state.driver_version) + 1 > length) RETURN(NVML_ERROR_INSUFFICIENT_SIZE);
    snprintf(version, length, "%s", state.driver_version);
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length) {
    snprintf(version, length, "12.fake");
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    pthread_mutex_lock(&lock);
    if (!init_count) RETURN(NVML_ERROR_UNINITIALIZED);
    count_call("GetCount_v2");
    pay_call_cost();
    reload(0);
    /* A hung driver: block (holding the library lock, as a stuck ioctl would) until hang_ms
     * has passed or the key is gone from the state file. */
    for (unsigned long long waited = 0; state.hang_ms && waited < state.hang_ms; waited += 50) {
        struct timespec nap = {0, 50 * 1000 * 1000};
        nanosleep(&nap, NULL);
        reload(0);
    }
    if (broken) RETURN(NVML_ERROR_UNKNOWN);
    *count = (unsigned int)state.device_count;
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    pthread_mutex_lock(&lock);
    if (!init_count) RETURN(NVML_ERROR_UNINITIALIZED);
    count_call("GetHandleByIndex_v2");
    pay_call_cost();
    reload(0);
    if (broken) RETURN(NVML_ERROR_UNKNOWN);
    if (index >= (unsigned int)state.device_count) RETURN(NVML_ERROR_INVALID_ARGUMENT);
    nvmlReturn_t rc = check_errs(&state.gpus[index], "GetHandleByIndex_v2");
    /* a lost GPU still has a handle; its calls fail */
    if (rc && !(state.gpus[index].device_error && rc == state.gpus[index].device_error))
        RETURN(rc);
    handles[index].index = (int)index;
    *device = &handles[index];
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device) {
    pthread_mutex_lock(&lock);
    if (!init_count) RETURN(NVML_ERROR_UNINITIALIZED);
    count_call("GetHandleByUUID");
    pay_call_cost();
    reload(0);
    if (broken) RETURN(NVML_ERROR_UNKNOWN);
    for (int i = 0; i < state.device_count; i++) {
        if (state.gpus[i].uuid[0] && !strcmp(state.gpus[i].uuid, uuid)) {
            handles[i].index = i;
            *device = &handles[i];
            RETURN(NVML_SUCCESS);
        }
    }
    RETURN(NVML_ERROR_NOT_FOUND);
}

/* ---- identity ---- */

static nvmlReturn_t copy_string(const char *s, char *out, unsigned int length) {
    if (!s[0]) return NVML_ERROR_NOT_SUPPORTED;
    if (strlen(s) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
    snprintf(out, length, "%s", s);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int length) {
    ENTER(d, "GetName");
    RETURN(copy_string(g->name, name, length));
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int length) {
    ENTER(d, "GetUUID");
    RETURN(copy_string(g->uuid, uuid, length));
}

nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t d, unsigned int *index) {
    ENTER(d, "GetIndex");
    *index = (unsigned int)idx;
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *pci) {
    ENTER(d, "GetPciInfo_v3");
    if (!g->pci_bus_id[0]) RETURN(NVML_ERROR_NOT_SUPPORTED);
    memset(pci, 0, sizeof *pci);
    snprintf(pci->busId, sizeof pci->busId, "%s", g->pci_bus_id);
    snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%.15s", g->pci_bus_id);
    unsigned int fn = 0;
    sscanf(g->pci_bus_id, "%x:%x:%x.%x", &pci->domain, &pci->bus, &pci->device, &fn);
    pci->pciDeviceId = 0x233010de;
    RETURN(NVML_SUCCESS);
}

/* ---- utilization, memory ---- */

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u) {
    ENTER(d, "GetUtilizationRates");
    VALUE(F_UTIL_GPU);
    VALUE(F_UTIL_MEM);
    u->gpu = (unsigned int)g->v[F_UTIL_GPU];
    u->memory = (unsigned int)g->v[F_UTIL_MEM];
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t d, nvmlMemory_v2_t *m) {
    ENTER(d, "GetMemoryInfo_v2");
    if (m->version != (unsigned int)(sizeof(nvmlMemory_v2_t) | (2u << 24)))
        RETURN(NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
    VALUE(F_MEM_TOTAL);
    VALUE(F_MEM_USED);
    m->total = g->v[F_MEM_TOTAL];
    m->used = g->v[F_MEM_USED];
    m->reserved = g->has[F_MEM_RESERVED] ? g->v[F_MEM_RESERVED] : 0;
    m->free = g->has[F_MEM_FREE] ? g->v[F_MEM_FREE]
              : (m->total > m->used + m->reserved ? m->total - m->used - m->reserved : 0);
    RETURN(NVML_SUCCESS);
}

/* The first memory call (total, free, used), which older clients such as nvtop require. */
typedef struct { unsigned long long total, free, used; } nvmlMemory_v1_t;
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_v1_t *m) {
    ENTER(d, "GetMemoryInfo");
    VALUE(F_MEM_TOTAL);
    VALUE(F_MEM_USED);
    m->total = g->v[F_MEM_TOTAL];
    m->used = g->v[F_MEM_USED];
    m->free = g->has[F_MEM_FREE] ? g->v[F_MEM_FREE]
              : (m->total > m->used ? m->total - m->used : 0);
    RETURN(NVML_SUCCESS);
}

/* ---- temperature, power ---- */

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, unsigned int sensor, unsigned int *t) {
    ENTER(d, "GetTemperature");
    if (sensor != 0) RETURN(NVML_ERROR_INVALID_ARGUMENT);
    VALUE(F_TEMP);
    *t = (unsigned int)g->v[F_TEMP];
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetTemperatureThreshold(nvmlDevice_t d, unsigned int kind,
                                               unsigned int *t) {
    ENTER(d, "GetTemperatureThreshold");
    int f = kind == 0 ? F_TEMP_SHUTDOWN : kind == 1 ? F_TEMP_SLOWDOWN : -1;
    if (f < 0) RETURN(NVML_ERROR_NOT_SUPPORTED);
    VALUE(f);
    *t = (unsigned int)g->v[f];
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *mw) {
    ENTER(d, "GetPowerUsage");
    VALUE(F_POWER);
    *mw = (unsigned int)g->v[F_POWER];
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t d, unsigned int *mw) {
    ENTER(d, "GetEnforcedPowerLimit");
    if (applied[idx].power_set) { *mw = applied[idx].power_limit_mw; RETURN(NVML_SUCCESS); }
    VALUE(F_POWER_LIMIT);
    *mw = (unsigned int)g->v[F_POWER_LIMIT];
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetPowerManagementDefaultLimit(nvmlDevice_t d, unsigned int *mw) {
    ENTER(d, "GetPowerManagementDefaultLimit");
    VALUE(F_POWER_DEFAULT);
    *mw = (unsigned int)g->v[F_POWER_DEFAULT];
    RETURN(NVML_SUCCESS);
}

/* ---- clocks ---- */

static int clock_field(unsigned int type, int max) {
    switch (type) {
    case 0: return max ? F_CLK_GRAPHICS_MAX : F_CLK_GRAPHICS;
    case 1: return max ? F_CLK_SM_MAX : F_CLK_SM;
    case 2: return max ? F_CLK_MEM_MAX : F_CLK_MEM;
    default: return -1;
    }
}

nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t d, unsigned int type, unsigned int *mhz) {
    ENTER(d, "GetClockInfo");
    int f = clock_field(type, 0);
    if (f < 0) RETURN(NVML_ERROR_NOT_SUPPORTED);
    VALUE(f);
    unsigned long long v = g->v[f];
    /* a locked clock range caps the graphics/SM clock, as the driver would */
    if (type != 2 && applied[idx].clocks_locked && v > applied[idx].lock_max)
        v = applied[idx].lock_max;
    *mhz = (unsigned int)v;
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t d, unsigned int type, unsigned int *mhz) {
    ENTER(d, "GetMaxClockInfo");
    int f = clock_field(type, 1);
    if (f < 0) RETURN(NVML_ERROR_NOT_SUPPORTED);
    VALUE(f);
    *mhz = (unsigned int)g->v[f];
    RETURN(NVML_SUCCESS);
}

#ifndef OMIT_nvmlDeviceGetFanSpeed_v2
nvmlReturn_t nvmlDeviceGetFanSpeed_v2(nvmlDevice_t d, unsigned int fan, unsigned int *pct) {
    ENTER(d, "GetFanSpeed_v2");
    if (fan != 0) RETURN(NVML_ERROR_INVALID_ARGUMENT);
    VALUE(F_FAN);
    *pct = (unsigned int)g->v[F_FAN];
    RETURN(NVML_SUCCESS);
}
#endif

/* The unversioned call (fan 0), which older clients such as nvtop require. */
nvmlReturn_t nvmlDeviceGetFanSpeed(nvmlDevice_t d, unsigned int *pct) {
    ENTER(d, "GetFanSpeed");
    VALUE(F_FAN);
    *pct = (unsigned int)g->v[F_FAN];
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t d, unsigned int *pstate) {
    ENTER(d, "GetPerformanceState");
    VALUE(F_PSTATE);
    *pstate = (unsigned int)g->v[F_PSTATE];
    RETURN(NVML_SUCCESS);
}

#ifndef OMIT_nvmlDeviceGetCurrentClocksEventReasons
nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t d, unsigned long long *r) {
    ENTER(d, "GetCurrentClocksEventReasons");
    VALUE(F_REASONS);
    *r = g->v[F_REASONS];
    RETURN(NVML_SUCCESS);
}
#endif

#ifndef OMIT_nvmlDeviceGetCurrentClocksThrottleReasons
nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t d, unsigned long long *r) {
    ENTER(d, "GetCurrentClocksThrottleReasons");
    VALUE(F_REASONS);
    *r = g->v[F_REASONS];
    RETURN(NVML_SUCCESS);
}
#endif

/* ---- encoder, decoder, PCIe, ECC ---- */

nvmlReturn_t nvmlDeviceGetEncoderUtilization(nvmlDevice_t d, unsigned int *u, unsigned int *us) {
    ENTER(d, "GetEncoderUtilization");
    VALUE(F_ENCODER);
    *u = (unsigned int)g->v[F_ENCODER];
    *us = 167000;
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetDecoderUtilization(nvmlDevice_t d, unsigned int *u, unsigned int *us) {
    ENTER(d, "GetDecoderUtilization");
    VALUE(F_DECODER);
    *u = (unsigned int)g->v[F_DECODER];
    *us = 167000;
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetCurrPcieLinkGeneration(nvmlDevice_t d, unsigned int *gen) {
    ENTER(d, "GetCurrPcieLinkGeneration");
    VALUE(F_PCIE_GEN);
    *gen = (unsigned int)g->v[F_PCIE_GEN];
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetCurrPcieLinkWidth(nvmlDevice_t d, unsigned int *width) {
    ENTER(d, "GetCurrPcieLinkWidth");
    VALUE(F_PCIE_WIDTH);
    *width = (unsigned int)g->v[F_PCIE_WIDTH];
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetMaxPcieLinkGeneration(nvmlDevice_t d, unsigned int *gen) {
    ENTER(d, "GetMaxPcieLinkGeneration");
    VALUE(F_PCIE_GEN_MAX);
    *gen = (unsigned int)g->v[F_PCIE_GEN_MAX];
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetMaxPcieLinkWidth(nvmlDevice_t d, unsigned int *width) {
    ENTER(d, "GetMaxPcieLinkWidth");
    VALUE(F_PCIE_WIDTH_MAX);
    *width = (unsigned int)g->v[F_PCIE_WIDTH_MAX];
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetPcieReplayCounter(nvmlDevice_t d, unsigned int *value) {
    ENTER(d, "GetPcieReplayCounter");
    VALUE(F_PCIE_REPLAYS);
    *value = (unsigned int)g->v[F_PCIE_REPLAYS];
    RETURN(NVML_SUCCESS);
}

/* ECC mode: the value is the current mode (0/1); the pending mode is the same. */
nvmlReturn_t nvmlDeviceGetEccMode(nvmlDevice_t d, int *current, int *pending) {
    ENTER(d, "GetEccMode");
    VALUE(F_ECC_MODE);
    *current = *pending = (int)g->v[F_ECC_MODE];
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t d, unsigned int counter, unsigned int *kbps) {
    ENTER(d, "GetPcieThroughput");
    int f = counter == 0 ? F_PCIE_TX : counter == 1 ? F_PCIE_RX : -1;
    if (f < 0) RETURN(NVML_ERROR_INVALID_ARGUMENT);
    VALUE(f);
    *kbps = (unsigned int)g->v[f];
    /* The driver samples the link inside the call: wait without the lock, in steps, until
     * pcie_throughput_ms has passed or the key is gone from the state file. */
    for (unsigned long long waited = 0; state.pcie_throughput_ms && waited < state.pcie_throughput_ms;) {
        unsigned long long step = state.pcie_throughput_ms - waited < 50 ? state.pcie_throughput_ms - waited : 50;
        pthread_mutex_unlock(&lock);
        struct timespec nap = {0, (long)(step * 1000 * 1000)};
        nanosleep(&nap, NULL);
        pthread_mutex_lock(&lock);
        reload(0);
        waited += step;
    }
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t d, unsigned int error_type,
                                         unsigned int counter_type, unsigned long long *count) {
    ENTER(d, "GetTotalEccErrors");
    if (error_type > 1 || counter_type > 1) RETURN(NVML_ERROR_INVALID_ARGUMENT);
    int f = error_type == 1 ? (counter_type == 0 ? F_ECC_UNCORR_VOL : F_ECC_UNCORR_AGG)
                            : (counter_type == 0 ? F_ECC_CORR_VOL : F_ECC_CORR_AGG);
    VALUE(f);
    *count = g->v[f];
    RETURN(NVML_SUCCESS);
}

/* Served only when all four `remapped_rows_*` keys are set; otherwise NOT_SUPPORTED, as on
 * GPUs before Ampere. */
#ifndef OMIT_nvmlDeviceGetRemappedRows
nvmlReturn_t nvmlDeviceGetRemappedRows(nvmlDevice_t d, unsigned int *corr, unsigned int *unc,
                                       unsigned int *pending, unsigned int *failure) {
    ENTER(d, "GetRemappedRows");
    VALUE(F_REMAP_CORR);
    VALUE(F_REMAP_UNC);
    VALUE(F_REMAP_PENDING);
    VALUE(F_REMAP_FAILURE);
    *corr = (unsigned int)g->v[F_REMAP_CORR];
    *unc = (unsigned int)g->v[F_REMAP_UNC];
    *pending = (unsigned int)g->v[F_REMAP_PENDING];
    *failure = (unsigned int)g->v[F_REMAP_FAILURE];
    RETURN(NVML_SUCCESS);
}
#endif

/* nvmlEnableState_t: 0 = no pages pending, 1 = pending; served as the state file says. */
#ifndef OMIT_nvmlDeviceGetRetiredPagesPendingStatus
nvmlReturn_t nvmlDeviceGetRetiredPagesPendingStatus(nvmlDevice_t d, int *pending) {
    ENTER(d, "GetRetiredPagesPendingStatus");
    VALUE(F_RETIRED_PENDING);
    *pending = (int)g->v[F_RETIRED_PENDING];
    RETURN(NVML_SUCCESS);
}
#endif

/* ---- processes ---- */

static nvmlReturn_t list_procs(const proc_t *procs, int n, unsigned int *count,
                               nvmlProcessInfo_t *infos) {
    if (infos == NULL || *count < (unsigned int)n) {
        *count = (unsigned int)n;
        /* NVML answers the count query with INSUFFICIENT_SIZE; some libraries say SUCCESS. */
        return n == 0 || state.count_query_success ? NVML_SUCCESS
                                                   : NVML_ERROR_INSUFFICIENT_SIZE;
    }
    for (int i = 0; i < n; i++) {
        infos[i].pid = procs[i].pid;
        infos[i].usedGpuMemory = procs[i].mem;
        infos[i].gpuInstanceId = 0xFFFFFFFFu;
        infos[i].computeInstanceId = 0xFFFFFFFFu;
    }
    *count = (unsigned int)n;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned int *count,
                                                     nvmlProcessInfo_t *infos) {
    ENTER(d, "GetComputeRunningProcesses_v3");
    if (!g->has_compute) RETURN(NVML_ERROR_NOT_SUPPORTED);
    RETURN(list_procs(g->compute, g->n_compute, count, infos));
}

#ifndef OMIT_nvmlDeviceGetGraphicsRunningProcesses_v3
nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t d, unsigned int *count,
                                                      nvmlProcessInfo_t *infos) {
    ENTER(d, "GetGraphicsRunningProcesses_v3");
    if (!g->has_graphics) RETURN(NVML_ERROR_NOT_SUPPORTED);
    RETURN(list_procs(g->graphics, g->n_graphics, count, infos));
}
#endif

/* The first process-list calls (pid and memory only), which older clients such as nvtop
 * require next to _v3. */
typedef struct { unsigned int pid; unsigned long long usedGpuMemory; } nvmlProcessInfo_v1_t;

static nvmlReturn_t list_procs_v1(const proc_t *procs, int n, unsigned int *count,
                                  nvmlProcessInfo_v1_t *infos) {
    if (infos == NULL || *count < (unsigned int)n) {
        *count = (unsigned int)n;
        return n == 0 || state.count_query_success ? NVML_SUCCESS
                                                   : NVML_ERROR_INSUFFICIENT_SIZE;
    }
    for (int i = 0; i < n; i++) {
        infos[i].pid = procs[i].pid;
        infos[i].usedGpuMemory = procs[i].mem;
    }
    *count = (unsigned int)n;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t d, unsigned int *count,
                                                  nvmlProcessInfo_v1_t *infos) {
    ENTER(d, "GetComputeRunningProcesses");
    if (!g->has_compute) RETURN(NVML_ERROR_NOT_SUPPORTED);
    RETURN(list_procs_v1(g->compute, g->n_compute, count, infos));
}

nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses(nvmlDevice_t d, unsigned int *count,
                                                   nvmlProcessInfo_v1_t *infos) {
    ENTER(d, "GetGraphicsRunningProcesses");
    if (!g->has_graphics) RETURN(NVML_ERROR_NOT_SUPPORTED);
    RETURN(list_procs_v1(g->graphics, g->n_graphics, count, infos));
}

/* Every listed process has one sample, stamped now (µs since the epoch), so each call finds
 * samples newer than the caller's last one, as a driver does while processes run. No
 * process listed: NOT_FOUND, as NVML answers when it has no samples. */
#ifndef OMIT_nvmlDeviceGetProcessUtilization
nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t d,
                                             nvmlProcessUtilizationSample_t *samples,
                                             unsigned int *count,
                                             unsigned long long last_seen) {
    ENTER(d, "GetProcessUtilization");
    (void)last_seen;
    if (!g->has_putil) RETURN(NVML_ERROR_NOT_SUPPORTED);
    if (count == NULL) RETURN(NVML_ERROR_INVALID_ARGUMENT);
    int n = g->n_putil;
    if (n == 0) RETURN(NVML_ERROR_NOT_FOUND);
    if (samples == NULL || *count < (unsigned int)n) {
        *count = (unsigned int)n;
        RETURN(NVML_ERROR_INSUFFICIENT_SIZE);
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    unsigned long long stamp =
        (unsigned long long)now.tv_sec * 1000000ULL + (unsigned long long)now.tv_nsec / 1000;
    for (int i = 0; i < n; i++) {
        samples[i].pid = g->putil[i].pid;
        samples[i].timeStamp = stamp;
        samples[i].smUtil = g->putil[i].sm;
        samples[i].memUtil = g->putil[i].mem;
        samples[i].encUtil = g->putil[i].enc;
        samples[i].decUtil = g->putil[i].dec;
    }
    *count = (unsigned int)n;
    RETURN(NVML_SUCCESS);
}
#endif

/* ---- MIG ---- */

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned int *current, unsigned int *pending) {
    ENTER(d, "GetMigMode");
    if (!g->has_mig_mode) RETURN(NVML_ERROR_NOT_SUPPORTED);
    *current = *pending = (unsigned int)g->mig_mode;
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t d, unsigned int *count) {
    ENTER(d, "GetMaxMigDeviceCount");
    if (!g->has_mig_mode) RETURN(NVML_ERROR_NOT_SUPPORTED);
    *count = MAX_MIGS;
    RETURN(NVML_SUCCESS);
}

/* Index i names the i-th slot of `gpuN.mig_devices`; past them: NOT_FOUND, as for a MIG
 * slot without an instance. */
nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t d, unsigned int index,
                                                 nvmlDevice_t *mig) {
    ENTER(d, "GetMigDeviceHandleByIndex");
    if (!g->has_mig_mode) RETURN(NVML_ERROR_NOT_SUPPORTED);
    if (!g->mig_mode) RETURN(NVML_ERROR_INVALID_ARGUMENT);
    if (index >= (unsigned int)g->n_migs) RETURN(NVML_ERROR_NOT_FOUND);
    int slot = g->migs[index];
    handles[slot].index = slot;
    *mig = &handles[slot];
    RETURN(NVML_SUCCESS);
}

/* ---- setters: logged, applied to what the getters report ---- */

static nvmlReturn_t setter_enter(nvmlDevice_t d, const char *fn, gpu_t **g, int *idx) {
    if (!init_count) return NVML_ERROR_UNINITIALIZED;
    reload(0);
    /* A setter stuck in the driver: block, holding the library lock, until setter_hang_ms
     * has passed or the key is gone from the state file. */
    for (unsigned long long waited = 0; state.setter_hang_ms && waited < state.setter_hang_ms;
         waited += 50) {
        struct timespec nap = {0, 50 * 1000 * 1000};
        nanosleep(&nap, NULL);
        reload(0);
    }
    return enter(d, fn, g, idx);
}

nvmlReturn_t nvmlDeviceSetGpuLockedClocks(nvmlDevice_t d, unsigned int min, unsigned int max) {
    pthread_mutex_lock(&lock);
    gpu_t *g = NULL;
    int idx = -1;
    nvmlReturn_t rc = setter_enter(d, "SetGpuLockedClocks", &g, &idx);
    if (!rc && min > max) rc = NVML_ERROR_INVALID_ARGUMENT;
    const char *uuid = g ? g->uuid : "?";
    if (rc) {
        log_setter("SetGpuLockedClocks %s %u %u ERROR %d", uuid, min, max, rc);
        RETURN(rc);
    }
    applied[idx].clocks_locked = 1;
    applied[idx].lock_min = min;
    applied[idx].lock_max = max;
    log_setter("SetGpuLockedClocks %s %u %u", uuid, min, max);
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceResetGpuLockedClocks(nvmlDevice_t d) {
    pthread_mutex_lock(&lock);
    gpu_t *g = NULL;
    int idx = -1;
    nvmlReturn_t rc = setter_enter(d, "ResetGpuLockedClocks", &g, &idx);
    const char *uuid = g ? g->uuid : "?";
    if (rc) {
        log_setter("ResetGpuLockedClocks %s ERROR %d", uuid, rc);
        RETURN(rc);
    }
    applied[idx].clocks_locked = 0;
    log_setter("ResetGpuLockedClocks %s", uuid);
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceSetPowerManagementLimit(nvmlDevice_t d, unsigned int mw) {
    pthread_mutex_lock(&lock);
    gpu_t *g = NULL;
    int idx = -1;
    nvmlReturn_t rc = setter_enter(d, "SetPowerManagementLimit", &g, &idx);
    if (!rc && mw == 0) rc = NVML_ERROR_INVALID_ARGUMENT;
    const char *uuid = g ? g->uuid : "?";
    if (rc) {
        log_setter("SetPowerManagementLimit %s %u ERROR %d", uuid, mw, rc);
        RETURN(rc);
    }
    applied[idx].power_set = 1;
    applied[idx].power_limit_mw = mw;
    log_setter("SetPowerManagementLimit %s %u", uuid, mw);
    RETURN(NVML_SUCCESS);
}

/* ---- events: XIDs injected through the state file (`gpuN.xids`) ---- */

#define EVENT_XID 0x8ULL
/* single-bit ECC, double-bit ECC, P-state, XID, clock */
#define SUPPORTED_EVENTS 0x1fULL
#define MAX_SETS 16

typedef struct {
    nvmlDevice_t device;
    unsigned long long eventType, eventData;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlEventData_t;

/* What one set listens for, and the last XID sequence number it delivered, per GPU. */
struct nvmlEventSet_st {
    int used;
    unsigned long long mask[MAX_GPUS], delivered[MAX_GPUS];
};
typedef struct nvmlEventSet_st *nvmlEventSet_t;

static struct nvmlEventSet_st sets[MAX_SETS];

static int valid_set(nvmlEventSet_t set) {
    return set >= sets && set < sets + MAX_SETS && set->used;
}

nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set) {
    pthread_mutex_lock(&lock);
    if (!init_count) RETURN(NVML_ERROR_UNINITIALIZED);
    for (int i = 0; i < MAX_SETS; i++) {
        if (!sets[i].used) {
            memset(&sets[i], 0, sizeof sets[i]);
            sets[i].used = 1;
            *set = &sets[i];
            RETURN(NVML_SUCCESS);
        }
    }
    RETURN(NVML_ERROR_MEMORY);
}

nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set) {
    pthread_mutex_lock(&lock);
    if (!init_count) RETURN(NVML_ERROR_UNINITIALIZED);
    if (!valid_set(set)) RETURN(NVML_ERROR_INVALID_ARGUMENT);
    set->used = 0;
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t d, unsigned long long *types) {
    ENTER(d, "GetSupportedEventTypes");
    *types = SUPPORTED_EVENTS;
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t d, unsigned long long types,
                                      nvmlEventSet_t set) {
    ENTER(d, "RegisterEvents");
    if (!valid_set(set)) RETURN(NVML_ERROR_INVALID_ARGUMENT);
    if (types & ~SUPPORTED_EVENTS) RETURN(NVML_ERROR_NOT_SUPPORTED);
    set->mask[idx] |= types;
    RETURN(NVML_SUCCESS);
}

#ifndef OMIT_nvmlEventSetWait_v2
static unsigned long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

/* The next XID for `set`: the lowest sequence number above what it delivered, per GPU. */
static int next_xid(nvmlEventSet_t set, nvmlEventData_t *data) {
    for (int i = 0; i < state.device_count; i++) {
        if (!(set->mask[i] & EVENT_XID)) continue;
        const gpu_t *g = &state.gpus[i];
        const xid_t *best = NULL;
        for (int j = 0; j < g->n_xids; j++)
            if (g->xids[j].seq > set->delivered[i] && (!best || g->xids[j].seq < best->seq))
                best = &g->xids[j];
        if (!best) continue;
        set->delivered[i] = best->seq;
        handles[i].index = i;
        data->device = &handles[i];
        data->eventType = EVENT_XID;
        data->eventData = best->code;
        data->gpuInstanceId = data->computeInstanceId = 0xFFFFFFFFu;
        return 1;
    }
    return 0;
}

/* Delivers the next pending XID, or returns TIMEOUT when none came within `timeoutms`.
 * Looks at the state file every 50 ms meanwhile (cheap enough for the daemon-cost bench). */
nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data,
                                 unsigned int timeoutms) {
    unsigned long long deadline = now_ms() + timeoutms;
    for (;;) {
        pthread_mutex_lock(&lock);
        if (!init_count) RETURN(NVML_ERROR_UNINITIALIZED);
        reload(0);
        if (broken) RETURN(NVML_ERROR_UNKNOWN);
        if (!valid_set(set)) RETURN(NVML_ERROR_INVALID_ARGUMENT);
        if (next_xid(set, data)) RETURN(NVML_SUCCESS);
        pthread_mutex_unlock(&lock);
        unsigned long long now = now_ms();
        if (now >= deadline) return NVML_ERROR_TIMEOUT;
        unsigned long long left = deadline - now;
        struct timespec nap = {0, (long)((left < 50 ? left : 50) * 1000000)};
        nanosleep(&nap, NULL);
    }
}
#endif
