/*
 * A fake libnvidia-ml.so.1 for tests: the NVML symbols gpuwarden reaches through
 * nvml-wrapper, serving values from a state file the test rewrites between samples and
 * logging every setter call. See README.md next to this file for the state-file format.
 *
 * Build: cc -shared -fPIC -Wl,-soname,libnvidia-ml.so.1 -o libnvidia-ml.so.1 fake_nvml.c
 * Define OMIT_<symbol> (e.g. -DOMIT_nvmlDeviceGetFanSpeed_v2) to leave an optional symbol
 * out, the way an older driver lacks newer functions.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef int nvmlReturn_t;
#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_ARGUMENT_VERSION_MISMATCH 25
#define NVML_ERROR_UNKNOWN 999

#define MAX_GPUS 64
#define MAX_PROCS 64
#define MAX_ERRS 64
#define NOT_AVAILABLE 0xFFFFFFFFFFFFFFFFULL

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

/* Numeric per-GPU values; a value the state file does not set is NOT_SUPPORTED. */
enum {
    F_UTIL_GPU, F_UTIL_MEM, F_MEM_TOTAL, F_MEM_USED, F_MEM_RESERVED, F_MEM_FREE,
    F_TEMP, F_TEMP_SLOWDOWN, F_TEMP_SHUTDOWN, F_POWER, F_POWER_LIMIT, F_POWER_DEFAULT,
    F_CLK_GRAPHICS, F_CLK_SM, F_CLK_MEM, F_CLK_GRAPHICS_MAX, F_CLK_SM_MAX, F_CLK_MEM_MAX,
    F_FAN, F_PSTATE, F_REASONS, F_ENCODER, F_DECODER, F_PCIE_GEN, F_PCIE_WIDTH,
    F_PCIE_RX, F_PCIE_TX, F_ECC_UNCORR_VOL, F_ECC_CORR_VOL, F_ECC_UNCORR_AGG, F_ECC_CORR_AGG,
    F_COUNT
};
static const char *FIELD_NAMES[F_COUNT] = {
    "utilization_gpu_pct", "utilization_memory_pct", "memory_total_bytes", "memory_used_bytes",
    "memory_reserved_bytes", "memory_free_bytes", "temperature_c", "temperature_slowdown_c",
    "temperature_shutdown_c", "power_mw", "power_limit_mw", "power_default_limit_mw",
    "clock_graphics_mhz", "clock_sm_mhz", "clock_mem_mhz", "clock_graphics_max_mhz",
    "clock_sm_max_mhz", "clock_mem_max_mhz", "fan_pct", "pstate", "clocks_event_reasons",
    "encoder_pct", "decoder_pct", "pcie_link_gen", "pcie_link_width", "pcie_rx_kbps",
    "pcie_tx_kbps", "ecc_uncorrected_volatile", "ecc_corrected_volatile",
    "ecc_uncorrected_aggregate", "ecc_corrected_aggregate",
};

/* Functions whose return code `gpuN.error.<name>` can force. */
static const char *FUNCTIONS[] = {
    "GetHandleByIndex_v2", "GetName", "GetUUID", "GetPciInfo_v3", "GetIndex",
    "GetUtilizationRates", "GetMemoryInfo_v2", "GetTemperature", "GetTemperatureThreshold",
    "GetPowerUsage", "GetEnforcedPowerLimit", "GetPowerManagementDefaultLimit",
    "GetClockInfo", "GetMaxClockInfo", "GetFanSpeed_v2", "GetPerformanceState",
    "GetCurrentClocksEventReasons", "GetCurrentClocksThrottleReasons",
    "GetEncoderUtilization", "GetDecoderUtilization", "GetCurrPcieLinkGeneration",
    "GetCurrPcieLinkWidth", "GetPcieThroughput", "GetTotalEccErrors",
    "GetComputeRunningProcesses_v3", "GetGraphicsRunningProcesses_v3",
    "SetGpuLockedClocks", "ResetGpuLockedClocks", "SetPowerManagementLimit", NULL,
};

typedef struct { unsigned int pid; unsigned long long mem; } proc_t;
typedef struct { char fn[48]; int code; } err_t;

typedef struct {
    char name[96], uuid[96], pci_bus_id[32];
    unsigned long long v[F_COUNT];
    unsigned char has[F_COUNT];
    proc_t compute[MAX_PROCS], graphics[MAX_PROCS];
    int n_compute, n_graphics, has_compute, has_graphics;
    int device_error; /* gpuN.error: every call on the device returns it */
    err_t errs[MAX_ERRS];
    int n_errs;
} gpu_t;

typedef struct {
    char driver_version[80];
    int device_count, init_error;
    gpu_t gpus[MAX_GPUS];
} state_t;

/* What setters changed: driver state, so it survives rewrites of the state file. */
typedef struct {
    int clocks_locked;
    unsigned int lock_min, lock_max;
    int power_set;
    unsigned int power_limit_mw;
} applied_t;

struct nvmlDevice_st { int index; };
typedef struct nvmlDevice_st *nvmlDevice_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static state_t state, scratch;
static applied_t applied[MAX_GPUS];
static struct nvmlDevice_st handles[MAX_GPUS];
static int init_count;
static int broken = 1; /* no valid state loaded yet */
static struct stat loaded_stat;
static char state_path[4096], log_path[4096];

static void paths(void) {
    if (state_path[0]) return;
    char dir[4096] = ".";
    Dl_info info;
    if (dladdr((void *)&paths, &info) && info.dli_fname) {
        snprintf(dir, sizeof dir, "%s", info.dli_fname);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0; else snprintf(dir, sizeof dir, ".");
    }
    const char *s = getenv("FAKE_NVML_STATE"), *l = getenv("FAKE_NVML_LOG");
    if (s && *s) snprintf(state_path, sizeof state_path, "%s", s);
    else snprintf(state_path, sizeof state_path, "%s/state", dir);
    if (l && *l) snprintf(log_path, sizeof log_path, "%s", l);
    else snprintf(log_path, sizeof log_path, "%s/setters.log", dir);
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r')) *--e = 0;
    return s;
}

static int parse_u64(const char *s, unsigned long long *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *trim(end)) return -1;
    *out = v;
    return 0;
}

static int parse_procs(char *s, proc_t *procs, int *n) {
    *n = 0;
    for (char *tok = strtok(s, " \t"); tok; tok = strtok(NULL, " \t")) {
        char *colon = strchr(tok, ':');
        unsigned long long pid, mem = NOT_AVAILABLE;
        if (!colon || *n >= MAX_PROCS) return -1;
        *colon = 0;
        if (parse_u64(tok, &pid)) return -1;
        if (strcmp(colon + 1, "-") && parse_u64(colon + 1, &mem)) return -1;
        procs[*n].pid = (unsigned int)pid;
        procs[*n].mem = mem;
        (*n)++;
    }
    return 0;
}

static int known_function(const char *fn) {
    for (int i = 0; FUNCTIONS[i]; i++)
        if (!strcmp(FUNCTIONS[i], fn)) return 1;
    return 0;
}

/* Parses one `key = value` line into `st`; returns an error text or NULL. */
static const char *parse_line(state_t *st, char *key, char *val, int *max_index) {
    unsigned long long n;
    if (!strcmp(key, "driver_version")) {
        snprintf(st->driver_version, sizeof st->driver_version, "%s", val);
        return NULL;
    }
    if (!strcmp(key, "device_count") || !strcmp(key, "init_error")) {
        if (parse_u64(val, &n) || (key[0] == 'd' && n > MAX_GPUS)) return "bad number";
        if (key[0] == 'd') st->device_count = (int)n; else st->init_error = (int)n;
        return NULL;
    }
    char *end;
    if (strncmp(key, "gpu", 3)) return "unknown key";
    long idx = strtol(key + 3, &end, 10);
    if (end == key + 3 || *end != '.' || idx < 0 || idx >= MAX_GPUS) return "bad gpu index";
    if (idx > *max_index) *max_index = (int)idx;
    gpu_t *g = &st->gpus[idx];
    const char *f = end + 1;
    if (!strcmp(f, "name")) { snprintf(g->name, sizeof g->name, "%s", val); return NULL; }
    if (!strcmp(f, "uuid")) { snprintf(g->uuid, sizeof g->uuid, "%s", val); return NULL; }
    if (!strcmp(f, "pci_bus_id")) {
        snprintf(g->pci_bus_id, sizeof g->pci_bus_id, "%s", val);
        return NULL;
    }
    if (!strcmp(f, "compute_processes")) {
        g->has_compute = 1;
        return parse_procs(val, g->compute, &g->n_compute) ? "bad process list" : NULL;
    }
    if (!strcmp(f, "graphics_processes")) {
        g->has_graphics = 1;
        return parse_procs(val, g->graphics, &g->n_graphics) ? "bad process list" : NULL;
    }
    if (!strcmp(f, "error")) {
        if (parse_u64(val, &n)) return "bad error code";
        g->device_error = (int)n;
        return NULL;
    }
    if (!strncmp(f, "error.", 6)) {
        if (!known_function(f + 6)) return "unknown function in error key";
        if (parse_u64(val, &n)) return "bad error code";
        if (g->n_errs >= MAX_ERRS) return "too many errors";
        snprintf(g->errs[g->n_errs].fn, sizeof g->errs[0].fn, "%s", f + 6);
        g->errs[g->n_errs++].code = (int)n;
        return NULL;
    }
    for (int i = 0; i < F_COUNT; i++) {
        if (!strcmp(f, FIELD_NAMES[i])) {
            if (parse_u64(val, &n)) return "bad number";
            g->v[i] = n;
            g->has[i] = 1;
            return NULL;
        }
    }
    return "unknown key";
}

/* Re-reads the state file when it changed (inode, size or mtime). Caller holds `lock`. */
static void reload(int force) {
    struct stat sb;
    paths();
    if (stat(state_path, &sb)) {
        if (!broken) fprintf(stderr, "fake_nvml: cannot read state file %s\n", state_path);
        broken = 1;
        return;
    }
    if (!force && !broken && sb.st_ino == loaded_stat.st_ino && sb.st_dev == loaded_stat.st_dev &&
        sb.st_size == loaded_stat.st_size && sb.st_mtim.tv_sec == loaded_stat.st_mtim.tv_sec &&
        sb.st_mtim.tv_nsec == loaded_stat.st_mtim.tv_nsec)
        return;
    FILE *fp = fopen(state_path, "r");
    if (!fp) { broken = 1; return; }
    memset(&scratch, 0, sizeof scratch);
    snprintf(scratch.driver_version, sizeof scratch.driver_version, "0.0");
    scratch.device_count = -1;
    char line[8192];
    int lineno = 0, max_index = -1, bad = 0;
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        char *l = trim(line);
        if (!*l || *l == '#') continue;
        char *eq = strchr(l, '=');
        const char *err = "expected key = value";
        if (eq) {
            *eq = 0;
            err = parse_line(&scratch, trim(l), trim(eq + 1), &max_index);
        }
        if (err) {
            fprintf(stderr, "fake_nvml: %s:%d: %s\n", state_path, lineno, err);
            bad = 1;
        }
    }
    fclose(fp);
    if (scratch.device_count < 0) scratch.device_count = max_index + 1;
    broken = bad;
    if (!bad) {
        memcpy(&state, &scratch, sizeof state);
        loaded_stat = sb;
    }
}

static void log_setter(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_setter(const char *fmt, ...) {
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) { fprintf(stderr, "fake_nvml: cannot open %s\n", log_path); return; }
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
    buf[n++] = '\n';
    if (write(fd, buf, (size_t)n) != n) fprintf(stderr, "fake_nvml: short write to log\n");
    close(fd);
}

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

static nvmlReturn_t enter(nvmlDevice_t dev, const char *fn, gpu_t **g, int *idx) {
    if (!init_count) return NVML_ERROR_UNINITIALIZED;
    if (broken) return NVML_ERROR_UNKNOWN;
    if (dev < handles || dev >= handles + MAX_GPUS) return NVML_ERROR_INVALID_ARGUMENT;
    *idx = (int)(dev - handles);
    if (*idx >= state.device_count) return NVML_ERROR_INVALID_ARGUMENT;
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
    reload(0);
    if (broken) RETURN(NVML_ERROR_UNKNOWN);
    *count = (unsigned int)state.device_count;
    RETURN(NVML_SUCCESS);
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    pthread_mutex_lock(&lock);
    if (!init_count) RETURN(NVML_ERROR_UNINITIALIZED);
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

nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t d, unsigned int counter, unsigned int *kbps) {
    ENTER(d, "GetPcieThroughput");
    int f = counter == 0 ? F_PCIE_TX : counter == 1 ? F_PCIE_RX : -1;
    if (f < 0) RETURN(NVML_ERROR_INVALID_ARGUMENT);
    VALUE(f);
    *kbps = (unsigned int)g->v[f];
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

/* ---- processes ---- */

static nvmlReturn_t list_procs(const proc_t *procs, int n, unsigned int *count,
                               nvmlProcessInfo_t *infos) {
    if (infos == NULL || *count < (unsigned int)n) {
        *count = (unsigned int)n;
        return n == 0 ? NVML_SUCCESS : NVML_ERROR_INSUFFICIENT_SIZE;
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

/* ---- setters: logged, applied to what the getters report ---- */

static nvmlReturn_t setter_enter(nvmlDevice_t d, const char *fn, gpu_t **g, int *idx) {
    if (!init_count) return NVML_ERROR_UNINITIALIZED;
    reload(0);
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
