#include "emu/emu.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "emu/msg.h"
#include "emu/store.h"

struct emu_runtime emu_rt;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* Calls per symbol in this process (reset in a forked child). */
static unsigned long calls[EMU_SYM_COUNT];
static pid_t calls_pid;

static _Noreturn void die(void)
{
    kill(getpid(), SIGKILL);
    for (;;)
        pause();
}

/* Counts a call of sym and applies the fault due on it, if any. */
static nvmlReturn_t apply_fault(enum emu_sym sym, bool *crash_after)
{
    *crash_after = false;
    pid_t pid = getpid();
    if (pid != calls_pid) {
        memset(calls, 0, sizeof calls);
        calls_pid = pid;
    }
    unsigned long nth = ++calls[sym];
    const struct emu_config *cfg = emu_rt.cfg;
    for (unsigned i = 0; i < cfg->nfaults; i++) {
        const struct emu_fault *f = &cfg->faults[i];
        if (f->sym != (int)sym || f->nth != nth)
            continue;
        if (f->action == EMU_FAULT_CRASH)
            die();
        if (f->action == EMU_FAULT_CRASH_AFTER) {
            *crash_after = true;
            return NVML_SUCCESS;
        }
        return f->code;
    }
    return NVML_SUCCESS;
}

nvmlReturn_t emu_call_begin(struct emu_call *c, enum emu_sym sym)
{
    pthread_mutex_lock(&mu);
    c->crash_after = false;
    if (emu_rt.refcount == 0)
        return NVML_ERROR_UNINITIALIZED;
    return apply_fault(sym, &c->crash_after);
}

nvmlReturn_t emu_call_end(const struct emu_call *c, nvmlReturn_t r)
{
    pthread_mutex_unlock(&mu);
    if (c->crash_after)
        die();
    return r;
}

void emu_call_latency(void)
{
    pthread_mutex_lock(&mu);
    unsigned ms = emu_rt.refcount ? emu_rt.cfg->latency_ms : 0;
    pthread_mutex_unlock(&mu);
    if (ms == 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        continue;
}

/* ---- init and shutdown ------------------------------------------------------------------ */

static void *xcalloc(size_t size)
{
    void *p = calloc(1, size);
    if (p == NULL)
        abort();
    return p;
}

static void free_all(void)
{
    emu_handles_free();
    free(emu_rt.cat);
    free(emu_rt.cfg);
    free(emu_rt.st);
    emu_rt = (struct emu_runtime){0};
}

/* The tables and the environment: no side effects. */
static int load_config(struct emu_msg *m)
{
    emu_rt.cat = xcalloc(sizeof *emu_rt.cat);
    emu_rt.cfg = xcalloc(sizeof *emu_rt.cfg);
    emu_rt.st = xcalloc(sizeof *emu_rt.st);
    if (emu_catalog_load(emu_rt.cat, m) < 0 || emu_config_load(emu_rt.cfg, emu_rt.cat, m) < 0)
        return -1;
    for (unsigned i = 0; i < emu_rt.cfg->ngpus; i++)
        emu_handle_dev(i);
    return 0;
}

static nvmlReturn_t first_init(bool *crash_after)
{
    struct emu_msg m;
    if (load_config(&m) < 0) {
        emu_report(&m);
        free_all();
        return NVML_ERROR_UNKNOWN;
    }
    nvmlReturn_t r = apply_fault(EMU_SYM_nvmlInit_v2, crash_after);
    if (r == NVML_SUCCESS && emu_store_open(emu_rt.st, emu_rt.cfg, emu_rt.cat, &m) < 0) {
        emu_report(&m);
        r = NVML_ERROR_UNKNOWN;
    }
    if (r != NVML_SUCCESS) {
        free_all();
        return r;
    }
    emu_rt.refcount = 1;
    return NVML_SUCCESS;
}

nvmlReturn_t emu_init(void)
{
    struct emu_call c = {false};
    pthread_mutex_lock(&mu);
    nvmlReturn_t r;
    if (emu_rt.refcount == 0) {
        r = first_init(&c.crash_after);
    } else {
        r = apply_fault(EMU_SYM_nvmlInit_v2, &c.crash_after);
        if (r == NVML_SUCCESS)
            emu_rt.refcount++;
    }
    return emu_call_end(&c, r);
}

nvmlReturn_t emu_shutdown(void)
{
    struct emu_call c;
    nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_nvmlShutdown);
    if (r == NVML_SUCCESS && --emu_rt.refcount == 0) {
        free_all();
        emu_store_close();
    }
    return emu_call_end(&c, r);
}

/* ---- state transactions ----------------------------------------------------------------- */

nvmlReturn_t emu_txn_begin(struct emu_state **st)
{
    struct emu_msg m;
    if (emu_store_begin(emu_rt.st, emu_rt.cfg, emu_rt.cat, &m) < 0) {
        emu_report(&m);
        return NVML_ERROR_UNKNOWN;
    }
    *st = emu_rt.st;
    return NVML_SUCCESS;
}

nvmlReturn_t emu_txn_end(bool changed, nvmlReturn_t r)
{
    struct emu_msg m;
    if (emu_store_end(emu_rt.st, emu_rt.cfg, changed && r == NVML_SUCCESS, &m) < 0) {
        emu_report(&m);
        return NVML_ERROR_UNKNOWN;
    }
    return r;
}
