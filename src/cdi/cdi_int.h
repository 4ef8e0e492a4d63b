/* Shared between the files of the cdi module; not part of its API. */
#ifndef SLICER_CDI_CDI_INT_H
#define SLICER_CDI_CDI_INT_H

#include <stddef.h>

#include "cdi/cdi.h"

/* A file the container gets: where it is on the host, where it goes. */
struct cdi_file {
    char *host;
    char *container;
};

struct cdi_files {
    struct cdi_file *v;
    size_t n, cap;
};

struct cdi_strs {
    char **v;
    size_t n, cap;
};

struct cdi_driver {
    char *root;                /* the driver root, resolved ("/" for the host) */
    char *host_root;           /* the same folder as the host sees it (hostPath prefix) */
    char version[64];          /* "550.54.15" */
    struct cdi_strs lib_dirs;  /* container folders of the lib*.so.<version> */
    struct cdi_files libs;     /* driver libraries, resolved, read-only mounts */
    struct cdi_files bins;     /* nvidia-smi and friends */
    struct cdi_files firmware; /* GSP firmware of this version */
    struct cdi_files ipc;      /* persistenced / fabricmanager sockets, MPS folder */
    struct cdi_strs links;     /* "target::link" for the create-symlinks hook */
};

/* root + path, with root NULL, "" or "/" meaning none. Returns a new string. */
char *cdi_path_join(const char *root, const char *path);
/* The field or its default when NULL or "". */
const char *cdi_or(const char *value, const char *dflt);

/* Appends a copy and returns 1, or returns 0 when s already holds the string. */
int cdi_strs_add(struct cdi_strs *s, const char *str);
int cdi_strs_has(const struct cdi_strs *s, const char *str);
void cdi_strs_free(struct cdi_strs *s);
void cdi_files_add(struct cdi_files *f, const char *host, const char *container);
int cdi_files_has(const struct cdi_files *f, const char *container);
void cdi_files_free(struct cdi_files *f);

#endif
