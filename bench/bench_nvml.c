/* bench_nvml — the NVML shim's own cost: slice create+destroy pairs per second
 * through dlopen of the emulated libnvidia-ml.so.1 with zero latency, with the
 * emulator's state in memory and in a shared state file (flock + fsync +
 * rename per change, as the multi-process tests use it).
 * usage: bench_nvml [PATH_TO_EMULATED_LIBNVIDIA_ML] [--quick] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/catalog.h"
#include "nvml/mig.h"
#include "nvml/nvml.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Creates and destroys `pairs` 1g.5gb slices (cycling over the 7 starts);
 * returns pairs per second, or -1 on error. */
static double run(const char *lib, unsigned pairs)
{
    struct nvml *n = NULL;
    struct err *e = NULL;
    if (nvml_open(lib, &n, &e) < 0) {
        fprintf(stderr, "bench_nvml: %s\n", err_msg(e));
        err_free(&e);
        return -1;
    }
    const struct cat_gpu *m = cat_gpu_find("A100-SXM4-40GB");
    unsigned p = (unsigned)cat_profile_index(m, "1g.5gb");
    double t0 = now();
    for (unsigned i = 0; i < pairs; i++) {
        struct mig_instance mi;
        if (mig_create(n, 0, p, i % 7, &mi, &e) < 0 || mig_destroy(n, 0, p, i % 7, &e) < 0) {
            fprintf(stderr, "bench_nvml: %s\n", err_msg(e));
            err_free(&e);
            nvml_close(n);
            return -1;
        }
    }
    double rate = pairs / (now() - t0);
    nvml_close(n);
    return rate;
}

int main(int argc, char **argv)
{
    const char *lib = getenv("SLICER_NVML_LIBRARY");
    bool quick = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = true;
        else
            lib = argv[i];
    }
    if (lib == NULL) {
        fprintf(stderr, "usage: bench_nvml PATH_TO_EMULATED_LIBNVIDIA_ML [--quick]\n");
        return 2;
    }
    setenv("SLICER_EMU_GPUS", "A100-SXM4-40GB", 1);
    setenv("SLICER_EMU_LATENCY_MS", "0", 1);
    unsetenv("SLICER_EMU_FAULTS");
    unsetenv("SLICER_EMU_STATE");
    double mem = run(lib, quick ? 2000 : 20000);

    char dir[] = "/tmp/slicer-bench-nvml.XXXXXX", state[64];
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(state, sizeof state, "%s/state.json", dir);
    setenv("SLICER_EMU_STATE", state, 1);
    double file = run(lib, quick ? 200 : 1000);
    unlink(state);
    snprintf(state, sizeof state, "%s/state.json.lock", dir);
    unlink(state);
    rmdir(dir);
    if (mem < 0 || file < 0)
        return 1;

    printf("\nNVML shim on the emulated library (A100-SXM4-40GB, 1g.5gb, latency 0)\n");
    printf("%-52s %12s\n", "metric", "value");
    printf("%-52s %12.0f\n", "create+destroy pairs/s, emulator state in memory", mem);
    printf("%-52s %12.0f\n", "create+destroy pairs/s, shared state file (fsync)", file);
    printf("%-52s %12.1f\n", "us per pair, in memory", 1e6 / mem);
    return 0;
}
