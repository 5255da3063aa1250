/*
 * Loading the fake NVML's state file (format in README.md) and writing its setter log.
 */
#define _GNU_SOURCE
#include "state.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *FIELD_NAMES[F_COUNT] = {
    "utilization_gpu_pct", "utilization_memory_pct", "memory_total_bytes", "memory_used_bytes",
    "memory_reserved_bytes", "memory_free_bytes", "temperature_c", "temperature_slowdown_c",
    "temperature_shutdown_c", "power_mw", "power_limit_mw", "power_default_limit_mw",
    "clock_graphics_mhz", "clock_sm_mhz", "clock_mem_mhz", "clock_graphics_max_mhz",
    "clock_sm_max_mhz", "clock_mem_max_mhz", "fan_pct", "pstate", "clocks_event_reasons",
    "encoder_pct", "decoder_pct", "pcie_link_gen", "pcie_link_width", "pcie_rx_kbps",
    "pcie_tx_kbps", "ecc_uncorrected_volatile", "ecc_corrected_volatile",
    "ecc_uncorrected_aggregate", "ecc_corrected_aggregate", "remapped_rows_correctable",
    "remapped_rows_uncorrectable", "remapped_rows_pending", "remapped_rows_failure",
    "retired_pages_pending", "pcie_link_gen_max", "pcie_link_width_max", "pcie_replay_counter",
    "ecc_mode",
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
    "GetRemappedRows", "GetRetiredPagesPendingStatus", "GetMaxPcieLinkGeneration",
    "GetMaxPcieLinkWidth", "GetPcieReplayCounter", "GetEccMode",
    "GetComputeRunningProcesses_v3", "GetGraphicsRunningProcesses_v3", "GetProcessUtilization",
    "GetMigMode", "GetMaxMigDeviceCount", "GetMigDeviceHandleByIndex",
    "SetGpuLockedClocks", "ResetGpuLockedClocks", "SetPowerManagementLimit",
    "GetSupportedEventTypes", "RegisterEvents", NULL,
};


pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
state_t state;
applied_t applied[MAX_GPUS];
int broken = 1;
static state_t scratch;
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

/* `pid:sm:mem:enc:dec …`: each process's share of the GPU. */
static int parse_putil(char *s, putil_t *out, int *n) {
    *n = 0;
    for (char *tok = strtok(s, " \t"); tok; tok = strtok(NULL, " \t")) {
        unsigned long long v[5];
        char *part = tok;
        if (*n >= MAX_PROCS) return -1;
        for (int i = 0; i < 5; i++) {
            char *colon = strchr(part, ':');
            if ((i < 4) != (colon != NULL)) return -1;
            if (colon) *colon = 0;
            if (parse_u64(part, &v[i])) return -1;
            part = colon ? colon + 1 : part;
        }
        out[*n] = (putil_t){(unsigned)v[0], (unsigned)v[1], (unsigned)v[2], (unsigned)v[3],
                            (unsigned)v[4]};
        (*n)++;
    }
    return 0;
}

/* `seq:code seq:code …`: the XIDs injected on one GPU, each with a sequence number. */
static int parse_xids(char *s, xid_t *xids, int *n) {
    *n = 0;
    for (char *tok = strtok(s, " \t"); tok; tok = strtok(NULL, " \t")) {
        char *colon = strchr(tok, ':');
        unsigned long long seq, code;
        if (!colon || *n >= MAX_XIDS) return -1;
        *colon = 0;
        if (parse_u64(tok, &seq) || seq == 0 || parse_u64(colon + 1, &code)) return -1;
        xids[*n].seq = seq;
        xids[*n].code = (unsigned int)code;
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
    if (!strcmp(key, "count_query_success")) {
        if (parse_u64(val, &n) || n > 1) return "bad flag (0 or 1)";
        st->count_query_success = (int)n;
        return NULL;
    }
    if (!strcmp(key, "hang_ms")) {
        if (parse_u64(val, &n)) return "bad number";
        st->hang_ms = n;
        return NULL;
    }
    if (!strcmp(key, "pcie_throughput_ms")) {
        if (parse_u64(val, &n)) return "bad number";
        st->pcie_throughput_ms = n;
        return NULL;
    }
    if (!strcmp(key, "call_cost_us")) {
        if (parse_u64(val, &n)) return "bad number";
        st->call_cost_us = n;
        return NULL;
    }
    if (!strcmp(key, "reload_every_ms")) {
        if (parse_u64(val, &n)) return "bad number";
        st->reload_every_ms = n;
        return NULL;
    }
    if (!strcmp(key, "setter_hang_ms")) {
        if (parse_u64(val, &n)) return "bad number";
        st->setter_hang_ms = n;
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
    if (!strcmp(f, "mig_mode")) {
        if (parse_u64(val, &n) || n > 1) return "bad flag (0 or 1)";
        g->mig_mode = (int)n;
        g->has_mig_mode = 1;
        return NULL;
    }
    if (!strcmp(f, "mig_devices")) {
        g->n_migs = 0;
        for (char *tok = strtok(val, " \t"); tok; tok = strtok(NULL, " \t")) {
            if (g->n_migs >= MAX_MIGS || parse_u64(tok, &n) || n >= MAX_GPUS)
                return "bad MIG device list";
            g->migs[g->n_migs++] = (int)n;
        }
        return NULL;
    }
    if (!strcmp(f, "process_utilization")) {
        g->has_putil = 1;
        return parse_putil(val, g->putil, &g->n_putil) ? "bad process utilization list" : NULL;
    }
    if (!strcmp(f, "xids"))
        return parse_xids(val, g->xids, &g->n_xids) ? "bad xid list" : NULL;
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

/* Re-reads the state file when it changed (inode, size or mtime). */
void reload(int force) {
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
    for (int i = 0; i < MAX_GPUS; i++)
        for (int k = 0; k < scratch.gpus[i].n_migs; k++) {
            int slot = scratch.gpus[i].migs[k];
            if (slot < scratch.device_count || slot == i) {
                fprintf(stderr, "fake_nvml: %s: gpu%d.mig_devices: gpu%d is not past device_count\n",
                        state_path, i, slot);
                bad = 1;
            }
            scratch.gpus[slot].is_mig = 1;
        }
    broken = bad;
    if (!bad) {
        memcpy(&state, &scratch, sizeof state);
        loaded_stat = sb;
    }
}

void log_setter(const char *fmt, ...) {
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
