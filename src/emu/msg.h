/* msg — the emulator's error text: a fixed buffer filled by the function that
 * fails and printed once, at the NVML entry point, as one stderr line. */
#ifndef SLICER_EMU_MSG_H
#define SLICER_EMU_MSG_H

#define EMU_MSG_LEN 2048

struct emu_msg {
    char text[EMU_MSG_LEN];
};

/* Formats into m (truncating safely) and returns -1, so a failing function can
 * `return emu_fail(m, ...)`. */
int emu_fail(struct emu_msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes m with `fmt...: ` (context on the way up). Returns -1. */
int emu_wrap(struct emu_msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "slicer-emu: <text>" as one line on stderr. */
void emu_report(const struct emu_msg *m);

#endif
