/* resname — Kubernetes resource names for MIG profiles (ARCHITECTURE §3.1).
 *
 * A pod asks NVIDIA's way, `nvidia.com/mig-<profile>`; slicer rewrites that to
 * its own extended resource `mig.slicer.dev/<profile>`. Resource names cannot
 * hold '+', so, as NVIDIA's device plugin does, each '+' of a profile name is
 * written '.': "1g.5gb+me" is "nvidia.com/mig-1g.5gb.me", "1g.24gb+me.all" is
 * "...-1g.24gb.me.all". Blackwell's "-me" profiles keep their '-'
 * ("2g.48gb-me"), so the two spellings never collide.
 *
 * Pure functions over strings: no I/O, no allocation.
 */
#ifndef SLICER_CORE_RESNAME_H
#define SLICER_CORE_RESNAME_H

#include <stdbool.h>
#include <stddef.h>

#define RES_NVIDIA_PREFIX "nvidia.com/mig-"
#define RES_SLICER_PREFIX "mig.slicer.dev/"
#define RES_NAME_MAX      64 /* longest resource name we build, with the NUL */

/* Writes `profile` as it appears in a resource name ('+' -> '.') into
 * buf[0..cap). Returns false (buf holds "") when it does not fit. */
bool res_profile_suffix(const char *profile, char *buf, size_t cap);

/* "<prefix><suffix of profile>" into buf[0..cap); false when it does not fit. */
bool res_name(const char *prefix, const char *profile, char *buf, size_t cap);

/* Does the suffix of a resource name (the part after the prefix) spell
 * `profile`? "1g.5gb.me" spells "1g.5gb+me"; "1g.5gb" does not. */
bool res_suffix_is(const char *suffix, const char *profile);

/* The profile of the catalog (any model) whose resource suffix is `suffix`,
 * or NULL. Returns a pointer to the catalog's static name. */
const char *res_catalog_profile(const char *suffix);

/* The DNS label that stands for `profile` in object names: lower case, '.'
 * and '_' written '-', '+' written "-plus-" ("1g.5gb+me" -> "1g-5gb-plus-me",
 * Blackwell's "1g.5gb-me" -> "1g-5gb-me": the two never collide). The same
 * spelling names DRA devices (objects/resourceslice.h). Returns false (buf
 * holds "") when it does not fit. */
bool res_profile_label(const char *profile, char *buf, size_t cap);

/* The ResourceClaimTemplate slicer keeps in a namespace for `count` slices
 * of `profile` under the DRA handoff: "slicer-mig-<label>-x<count>"
 * ("slicer-mig-1g-5gb-x2"). False (buf "") when it does not fit. */
#define RES_TEMPLATE_PREFIX "slicer-mig-"
bool res_template_name(const char *profile, unsigned count, char *buf, size_t cap);

/* The reverse: the catalog profile (static name) and count a template name
 * stands for; false for any other name. */
bool res_template_parse(const char *name, const char **profile, unsigned *count);

#endif
