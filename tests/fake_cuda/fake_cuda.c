/*
 * A fake libcuda.so.1 for gpuwarden's bench tests: the CUDA driver API symbols cudarc's
 * driver path calls, backed by host memory. Kernels "execute" at launch: the fake computes
 * what each embedded PTX kernel must produce (the same recurrence, in C, with fmaf) and
 * writes it to the output buffer, copies buffers, writes and checks memory patterns, so the
 * bench's real verification runs on real data.
 *
 * Behaviour from the environment:
 *   FAKE_CUDA_DEVICES=N        number of GPUs (default 2). CUDA's order is the REVERSE of
 *                              PCI order (ordinal 0 has the highest bus number), as
 *                              CUDA_DEVICE_ORDER=FASTEST_FIRST can give on real machines.
 *   FAKE_CUDA_FAIL=WHAT        no-device (cuInit -> 100), invalid-ptx (cuModuleLoadData ->
 *                              218), launch (cuLaunchKernel -> 719), flip-bit (one result
 *                              bit flipped), nan (one result NaN), pattern (one memory word
 *                              corrupted after pattern_write)
 *   FAKE_CUDA_FAIL_ORDINAL=K   inject only on CUDA ordinal K (default: every device)
 *   FAKE_CUDA_SLOW_ORDINAL=K   that device takes 20x longer per launch
 *   FAKE_CUDA_FREE_MIB=M       free memory reported (default 96)
 *   FAKE_CUDA_CC=MAJOR         compute capability major (default 9)
 *   FAKE_CUDA_LOG=PATH         append one line per module load and kernel launch
 *
 * -DOMIT_cuLaunchKernel / -DOMIT_cuDeviceGetCount leave that symbol out, like a broken or
 * too old driver (cudarc panics on a missing symbol; the bench must not).
 *
 * Build: cc -shared -fPIC -O2 -Wl,-soname,libcuda.so.1 -o libcuda.so.1 fake_cuda.c -lm
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef void *CUcontext, *CUmodule, *CUfunction, *CUstream, *CUevent;

enum {
    OK = 0,
    INVALID_VALUE = 1,
    OUT_OF_MEMORY = 2,
    NOT_INITIALIZED = 3,
    INVALID_DEVICE = 101,
    NO_DEVICE = 100,
    INVALID_PTX = 218,
    NOT_FOUND = 500,
    LAUNCH_FAILED = 719,
};

#define MAX_DEVICES 16
static int initialized;
static struct { int dev; } contexts[MAX_DEVICES];
static __thread int current = -1; /* device of the current context */

static const char *env(const char *k) { return getenv(k); }
static int env_int(const char *k, int dflt) {
    const char *v = env(k);
    return v && *v ? atoi(v) : dflt;
}
static int ndevices(void) {
    int n = env_int("FAKE_CUDA_DEVICES", 2);
    return n < 0 ? 0 : (n > MAX_DEVICES ? MAX_DEVICES : n);
}
/* Whether failure WHAT is injected on the current device. */
static int failing(const char *what) {
    const char *f = env("FAKE_CUDA_FAIL");
    if (!f || strcmp(f, what) != 0) return 0;
    const char *k = env("FAKE_CUDA_FAIL_ORDINAL");
    return !k || !*k || atoi(k) == current;
}
static void logf_(const char *fmt, const char *a, long b, long c) {
    const char *path = env("FAKE_CUDA_LOG");
    if (!path) return;
    FILE *f = fopen(path, "a");
    if (!f) return;
    fprintf(f, fmt, a, b, c);
    fputc('\n', f);
    fclose(f);
}

/* ---- errors ---- */
static const char *name_of(CUresult r) {
    switch (r) {
    case OK: return "CUDA_SUCCESS";
    case INVALID_VALUE: return "CUDA_ERROR_INVALID_VALUE";
    case OUT_OF_MEMORY: return "CUDA_ERROR_OUT_OF_MEMORY";
    case NOT_INITIALIZED: return "CUDA_ERROR_NOT_INITIALIZED";
    case NO_DEVICE: return "CUDA_ERROR_NO_DEVICE";
    case INVALID_DEVICE: return "CUDA_ERROR_INVALID_DEVICE";
    case INVALID_PTX: return "CUDA_ERROR_INVALID_PTX";
    case NOT_FOUND: return "CUDA_ERROR_NOT_FOUND";
    case LAUNCH_FAILED: return "CUDA_ERROR_LAUNCH_FAILED";
    default: return "CUDA_ERROR_UNKNOWN";
    }
}
CUresult cuGetErrorName(CUresult r, const char **s) { *s = name_of(r); return OK; }
CUresult cuGetErrorString(CUresult r, const char **s) {
    switch (r) {
    case NO_DEVICE: *s = "no CUDA-capable device is detected"; break;
    case INVALID_PTX: *s = "a PTX JIT compilation failed"; break;
    case LAUNCH_FAILED: *s = "unspecified launch failure"; break;
    default: *s = name_of(r);
    }
    return OK;
}

/* ---- init, devices ---- */
CUresult cuInit(unsigned flags) {
    (void)flags;
    if (failing("no-device") || ndevices() == 0) return NO_DEVICE;
    initialized = 1;
    return OK;
}
CUresult cuDriverGetVersion(int *v) { *v = 12080; return OK; }
#ifndef OMIT_cuDeviceGetCount
CUresult cuDeviceGetCount(int *n) {
    if (!initialized) return NOT_INITIALIZED;
    *n = ndevices();
    return OK;
}
#endif
CUresult cuDeviceGet(CUdevice *d, int ordinal) {
    if (!initialized) return NOT_INITIALIZED;
    if (ordinal < 0 || ordinal >= ndevices()) return INVALID_DEVICE;
    *d = ordinal;
    return OK;
}
CUresult cuDeviceGetName(char *name, int len, CUdevice d) {
    (void)d; /* identical cards, as in a real box: the bench compares them */
    snprintf(name, (size_t)len, "Fake GPU (gpuwarden test double)");
    return OK;
}
CUresult cuDeviceGetPCIBusId(char *bus, int len, CUdevice d) {
    snprintf(bus, (size_t)len, "0000:%02X:00.0", 0x18 + 0x10 * (ndevices() - 1 - d));
    return OK;
}
CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice d) {
    (void)d;
    *bytes = (size_t)80 << 30;
    return OK;
}
CUresult cuDeviceGetAttribute(int *v, int attr, CUdevice d) {
    (void)d;
    switch (attr) {
    case 16: *v = 4; break;    /* multiprocessors */
    case 39: *v = 2048; break; /* threads per multiprocessor */
    case 75: *v = env_int("FAKE_CUDA_CC", 9); break;
    case 76: *v = 0; break;
    default: *v = 0; /* memory pools (115) and the rest: unsupported */
    }
    return OK;
}

/* ---- contexts ---- */
CUresult cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d) {
    if (!initialized) return NOT_INITIALIZED;
    contexts[d].dev = d;
    *c = &contexts[d];
    return OK;
}
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) { (void)d; return OK; }
CUresult cuDevicePrimaryCtxRelease(CUdevice d) { (void)d; return OK; }
CUresult cuCtxSetCurrent(CUcontext c) {
    current = c ? ((typeof(&contexts[0]))c)->dev : -1;
    return OK;
}
CUresult cuCtxGetCurrent(CUcontext *c) {
    *c = current >= 0 ? &contexts[current] : NULL;
    return OK;
}
CUresult cuCtxSynchronize(void) { return OK; }

/* ---- memory ---- */
static size_t free_bytes(void) { return (size_t)env_int("FAKE_CUDA_FREE_MIB", 96) << 20; }
CUresult cuMemGetInfo_v2(size_t *fr, size_t *total) {
    *fr = free_bytes();
    *total = (size_t)80 << 30;
    return OK;
}
CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) {
    if (n > free_bytes()) return OUT_OF_MEMORY;
    void *m = calloc(1, n ? n : 1);
    if (!m) return OUT_OF_MEMORY;
    *p = (CUdeviceptr)(uintptr_t)m;
    return OK;
}
CUresult cuMemFree_v2(CUdeviceptr p) { free((void *)(uintptr_t)p); return OK; }
CUresult cuMemsetD8Async(CUdeviceptr p, unsigned char v, size_t n, CUstream s) {
    (void)s;
    memset((void *)(uintptr_t)p, v, n);
    return OK;
}
CUresult cuMemsetD8_v2(CUdeviceptr p, unsigned char v, size_t n) { return cuMemsetD8Async(p, v, n, 0); }
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void *h, size_t n, CUstream s) {
    (void)s;
    memcpy((void *)(uintptr_t)d, h, n);
    return OK;
}
CUresult cuMemcpyDtoHAsync_v2(void *h, CUdeviceptr d, size_t n, CUstream s) {
    (void)s;
    memcpy(h, (void *)(uintptr_t)d, n);
    return OK;
}
CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void *h, size_t n) { return cuMemcpyHtoDAsync_v2(d, h, n, 0); }
CUresult cuMemcpyDtoH_v2(void *h, CUdeviceptr d, size_t n) { return cuMemcpyDtoHAsync_v2(h, d, n, 0); }

/* ---- streams and events: everything is synchronous here ---- */
static int token;
CUresult cuStreamCreate(CUstream *s, unsigned flags) { (void)flags; *s = &token; return OK; }
CUresult cuStreamDestroy_v2(CUstream s) { (void)s; return OK; }
CUresult cuStreamSynchronize(CUstream s) { (void)s; return OK; }
CUresult cuStreamWaitEvent(CUstream s, CUevent e, unsigned f) { (void)s; (void)e; (void)f; return OK; }
/* An event remembers when it was recorded; kernels ran (and slept) inside cuLaunchKernel,
 * so the time between two events is the kernel's time, as on a GPU. */
static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}
CUresult cuEventCreate(CUevent *e, unsigned flags) {
    (void)flags;
    double *t = calloc(1, sizeof *t);
    if (!t) return OUT_OF_MEMORY;
    *e = t;
    return OK;
}
CUresult cuEventDestroy_v2(CUevent e) { free(e); return OK; }
CUresult cuEventRecord(CUevent e, CUstream s) { (void)s; *(double *)e = now_s(); return OK; }
CUresult cuEventSynchronize(CUevent e) { (void)e; return OK; }
CUresult cuEventQuery(CUevent e) { (void)e; return OK; }
CUresult cuEventElapsedTime(float *ms, CUevent a, CUevent b) {
    *ms = (float)((*(double *)b - *(double *)a) * 1e3);
    return OK;
}

/* ---- modules ---- */
struct module { char *ptx; };
struct function { char name[64]; };

CUresult cuModuleLoadData(CUmodule *m, const void *image) {
    if (!initialized || current < 0) return NOT_INITIALIZED;
    const char *ptx = image;
    if (failing("invalid-ptx") || !strstr(ptx, ".version") || !strstr(ptx, ".target"))
        return INVALID_PTX;
    struct module *mod = malloc(sizeof *mod);
    mod->ptx = strdup(ptx);
    *m = mod;
    const char *entry = strstr(ptx, ".entry ");
    char first[64] = "";
    if (entry) sscanf(entry + 7, "%63[A-Za-z0-9_]", first);
    logf_("load_module first_entry=%s device=%ld bytes=%ld", first, current, (long)strlen(ptx));
    return OK;
}
CUresult cuModuleUnload(CUmodule m) {
    struct module *mod = m;
    free(mod->ptx);
    free(mod);
    return OK;
}
CUresult cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name) {
    struct module *mod = m;
    char want[96];
    snprintf(want, sizeof want, ".entry %s(", name);
    if (!strstr(mod->ptx, want)) return NOT_FOUND;
    struct function *fn = calloc(1, sizeof *fn);
    snprintf(fn->name, sizeof fn->name, "%s", name);
    *f = fn;
    return OK;
}

/* ---- kernels, executed on the host ---- */
static const float FP32_C[8] = {1e-4f, 2e-4f, 3e-4f, 4e-4f, 5e-4f, 6e-4f, 7e-4f, 8e-4f};
__attribute__((unused)) static float fp32_value(unsigned iters) {
    float a[8];
    for (int k = 0; k < 8; k++) a[k] = -(float)(k + 1);
    for (unsigned long s = 0; s < (unsigned long)iters * 4; s++)
        for (int k = 0; k < 8; k++) a[k] = fmaf(a[k], 0.9999f, FP32_C[k]);
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}
__attribute__((unused)) static uint32_t pattern(uint64_t w, uint32_t seed) {
    return ((uint32_t)w * 0x9E3779B1u) ^ ((uint32_t)(w >> 32) * 0x85EBCA77u) ^ seed;
}
__attribute__((unused)) static void pause_us(long us) {
    struct timespec t = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&t, NULL);
}

#ifndef OMIT_cuLaunchKernel
CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                        unsigned by, unsigned bz, unsigned shmem, CUstream s, void **params,
                        void **extra) {
    (void)gy; (void)gz; (void)by; (void)bz; (void)shmem; (void)s; (void)extra;
    struct function *fn = f;
    if (failing("launch")) return LAUNCH_FAILED;
    size_t threads = (size_t)gx * bx;
    long us = 1000;
    if (strcmp(fn->name, "burn_fp32") == 0 || strcmp(fn->name, "burn_tensor") == 0) {
        float *out = *(float **)params[0];
        unsigned iters = *(unsigned *)params[1];
        float v = fn->name[5] == 'f' ? fp32_value(iters) : 1000.0f;
        for (size_t i = 0; i < threads; i++) out[i] = v;
        if (failing("flip-bit")) {
            uint32_t bits;
            memcpy(&bits, &out[threads / 2], 4);
            bits ^= 1u << 7;
            memcpy(&out[threads / 2], &bits, 4);
        }
        if (failing("nan")) out[threads - 1] = NAN;
        /* Time grows with the work, like a real kernel: ~2 ms at the longest launch. */
        us = 200 + (long)(iters >> (fn->name[5] == 'f' ? 6 : 9));
    } else if (strcmp(fn->name, "copy_stream") == 0) {
        void *src = *(void **)params[0], *dst = *(void **)params[1];
        uint64_t n16 = *(uint64_t *)params[2];
        memcpy(dst, src, n16 * 16);
    } else if (strcmp(fn->name, "pattern_write") == 0) {
        uint32_t *buf = *(uint32_t **)params[0];
        uint64_t n16 = *(uint64_t *)params[1];
        uint32_t seed = *(uint32_t *)params[2];
        for (uint64_t w = 0; w < n16 * 4; w++) buf[w] = pattern(w, seed);
        if (failing("pattern") && n16 > 0) buf[n16 * 2] ^= 1u << 13;
    } else if (strcmp(fn->name, "pattern_verify") == 0) {
        uint32_t *buf = *(uint32_t **)params[0];
        uint64_t n16 = *(uint64_t *)params[1];
        uint32_t seed = *(uint32_t *)params[2];
        uint32_t *errors = *(uint32_t **)params[3];
        for (uint64_t w = 0; w < n16 * 4; w++) *errors += buf[w] != pattern(w, seed);
    } else {
        return NOT_FOUND;
    }
    logf_("launch %s device=%ld grid=%ld", fn->name, current, (long)gx);
    const char *slow = env("FAKE_CUDA_SLOW_ORDINAL");
    if (slow && *slow && atoi(slow) == current) us *= 20;
    pause_us(us);
    return OK;
}
#endif
