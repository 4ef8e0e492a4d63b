/* store — where the state lives: in this process's memory, or in the file
 * SLICER_EMU_STATE shared by every process that uses the same configuration.
 *
 * File protocol, per NVML call that reads or changes MIG state: take an
 * exclusive flock on STATE.lock (a new open file description each time, so
 * forked processes exclude each other too), read and validate STATE (parsed
 * only when its text differs from what this process last read or wrote), act, and
 * if something changed write STATE.tmp, fsync it, rename it over STATE and
 * fsync the directory, then unlock. A process killed at any instant leaves the
 * file as it was before or after the call.
 *
 * Not thread-safe by itself: the caller holds the process-wide mutex. */
#ifndef SLICER_EMU_STORE_H
#define SLICER_EMU_STORE_H

#include <stdbool.h>

#include "emu/config.h"
#include "emu/model.h"
#include "emu/msg.h"
#include "emu/state.h"

/* At nvmlInit_v2: loads the state file (checking that it describes cfg's
 * GPUs) or creates it empty; without a file, resets st. 0 or -1 + message. */
int emu_store_open(struct emu_state *st, const struct emu_config *cfg,
                   const struct emu_catalog *cat, struct emu_msg *m);

/* Locks and (re)loads st. 0, or -1 + message (nothing left locked). */
int emu_store_begin(struct emu_state *st, const struct emu_config *cfg,
                    const struct emu_catalog *cat, struct emu_msg *m);

/* Saves st if `changed`, then unlocks. 0, or -1 + message when the save
 * failed (the file keeps the state from before the call). */
int emu_store_end(const struct emu_state *st, const struct emu_config *cfg, bool changed,
                  struct emu_msg *m);

/* At the last nvmlShutdown: forgets the remembered state and text. */
void emu_store_close(void);

#endif
