/* emu — the emulated libnvidia-ml.so.1's runtime: initialisation reference
 * count, configuration, tables, state, the process-wide mutex, and the frame
 * every exported NVML function runs in (docs/emulator.md).
 *
 * Every exported function is
 *     struct emu_call c;
 *     nvmlReturn_t r = emu_call_begin(&c, EMU_SYM_<name>);
 *     if (r == NVML_SUCCESS)
 *         r = <the work>;
 *     return emu_call_end(&c, r);
 * so that it runs under the mutex, returns UNINITIALIZED outside
 * nvmlInit_v2..nvmlShutdown, and obeys SLICER_EMU_FAULTS. */
#ifndef SLICER_EMU_EMU_H
#define SLICER_EMU_EMU_H

#include <stdbool.h>

#include "emu/config.h"
#include "emu/handles.h"
#include "emu/model.h"
#include "emu/state.h"
#include "emu/syms.h"
#include "nvml/nvml_abi.h"

#define EMU_EXPORT __attribute__((visibility("default")))

/* Prototypes of every exported symbol, from the one list in nvml_abi.h: the
 * compiler checks each definition against it. */
#define EMU_DECLARE(name, required, ret, params) EMU_EXPORT ret name params;
NVML_FUNCTIONS(EMU_DECLARE)
#undef EMU_DECLARE

#define EMU_DRIVER_VERSION "999.99-slicer-emu"

/* Valid between nvmlInit_v2 and the last nvmlShutdown, under the mutex. */
struct emu_runtime {
    unsigned refcount;
    struct emu_catalog *cat;
    struct emu_config *cfg;
    struct emu_state *st;
};
extern struct emu_runtime emu_rt;

struct emu_call {
    bool crash_after;
};

/* Takes the mutex. UNINITIALIZED when NVML is not initialised; else counts
 * the call and applies a fault due on it: returns its error, or SIGKILLs the
 * process (CRASH), or marks c for emu_call_end (CRASH_AFTER). */
nvmlReturn_t emu_call_begin(struct emu_call *c, enum emu_sym sym);

/* Releases the mutex; SIGKILLs the process if a CRASH_AFTER fault was due.
 * Returns r. */
nvmlReturn_t emu_call_end(const struct emu_call *c, nvmlReturn_t r);

/* Sleeps SLICER_EMU_LATENCY_MS (create/destroy calls, before emu_call_begin:
 * outside every lock). */
void emu_call_latency(void);

nvmlReturn_t emu_init(void);
nvmlReturn_t emu_shutdown(void);

/* Inside a call: locks and loads the state (UNKNOWN, reported on stderr, if
 * the state file cannot be used)... */
nvmlReturn_t emu_txn_begin(struct emu_state **st);
/* ...and ends the transaction: saves the state when `changed` and r is
 * SUCCESS, unlocks. Returns r, or UNKNOWN if the save failed. */
nvmlReturn_t emu_txn_end(bool changed, nvmlReturn_t r);

#endif
