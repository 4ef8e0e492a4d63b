/* config — the emulator's configuration, read from the environment by
 * nvmlInit_v2 (docs/emulator.md):
 *   SLICER_EMU_GPUS          models, "A100-SXM4-40GB,H100-80GB:4" (default one A100-SXM4-40GB)
 *   SLICER_EMU_STATE         file holding all GPUs' MIG state, shared between processes
 *   SLICER_EMU_MIG_DISABLED  GPU indices whose MIG mode is off, "1,3"
 *   SLICER_EMU_LATENCY_MS    sleep in every GI/CI create and destroy
 *   SLICER_EMU_FAULTS        FUNCTION:N:ACTION[,...] fault injection
 */
#ifndef SLICER_EMU_CONFIG_H
#define SLICER_EMU_CONFIG_H

#include <limits.h>
#include <stdbool.h>

#include "emu/model.h"
#include "emu/msg.h"
#include "emu/uuid.h"
#include "nvml/nvml_abi.h"

#define EMU_MAX_GPUS       64
#define EMU_MAX_FAULTS     64
#define EMU_MAX_LATENCY_MS 600000

enum emu_fault_action {
    EMU_FAULT_ERROR,       /* return `code` without doing anything */
    EMU_FAULT_CRASH,       /* SIGKILL before the call does anything */
    EMU_FAULT_CRASH_AFTER, /* do the call, persist, then SIGKILL before returning */
};

struct emu_fault {
    int sym;           /* enum emu_sym */
    unsigned long nth; /* 1-based call number of that symbol in this process */
    enum emu_fault_action action;
    nvmlReturn_t code; /* for EMU_FAULT_ERROR */
};

struct emu_config {
    unsigned ngpus;
    const struct emu_model *gpus[EMU_MAX_GPUS];
    char uuids[EMU_MAX_GPUS][EMU_UUID_LEN];
    bool mig_disabled[EMU_MAX_GPUS];
    bool has_state; /* false: the state lives in this process's memory */
    char state_path[PATH_MAX];
    unsigned latency_ms;
    unsigned nfaults;
    struct emu_fault faults[EMU_MAX_FAULTS];
};

/* Reads the environment into cfg (models from cat). 0, or -1 with a message
 * that names the variable and the bad entry. */
int emu_config_load(struct emu_config *cfg, const struct emu_catalog *cat, struct emu_msg *m);

#endif
