/* slice — GPUSlice, GPUNode and ungate as the controller writes and reads them (slice.h). */
#include "controller/slice.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "objects/resourceclaim.h"

/* ---- names and the object the controller creates ---------------------------------------- */

void ctl_slice_name(const char *pod_name, const char *pod_uid, unsigned n, char *buf, size_t cap)
{
    size_t len = strnlen(pod_name, 40);
    while (len > 0 && (pod_name[len - 1] == '-' || pod_name[len - 1] == '.'))
        len--;
    snprintf(buf, cap, "%.*s-%.8s-%u", (int)len, pod_name, pod_uid, n);
}

json_t *ctl_slice_build(const struct ctl_pod *pod, unsigned n, const struct ctl_choice *choice,
                        const char *node, const char *gpu_uuid)
{
    char name[CTL_SLICE_NAME_MAX];
    ctl_slice_name(pod->name, pod->uid, n, name, sizeof name);
    const struct ctl_ask *ask = &pod->asks[choice->ask];
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}, s:[{s:s, s:s, s:s, s:s, s:b}], s:[s]},"
                     " s:{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:i, s:i}}}",
                     "apiVersion", CTL_GROUP "/" CTL_VERSION, "kind", "GPUSlice", "metadata",
                     "name", name, "namespace", pod->ns, "labels", CTL_LABEL_NODE, node,
                     CTL_LABEL_POD_UID, pod->uid, "ownerReferences", "apiVersion", "v1", "kind",
                     "Pod", "name", pod->name, "uid", pod->uid, "controller", 1, "finalizers",
                     CTL_FINALIZER, "spec", "podName", pod->name, "podUID", pod->uid, "container",
                     ask->container, "profile", ask->profile, "nodeName", node, "gpuUUID", gpu_uuid,
                     "placement", "start", (int)choice->start, "size", (int)choice->size);
}

json_t *ctl_slice_build_claim(const struct rclaim *c, unsigned i, const char *profile,
                              unsigned start, unsigned size, const char *gpu_uuid)
{
    char name[CTL_SLICE_NAME_MAX];
    ctl_slice_name(c->name, c->uid, i, name, sizeof name);
    const struct rclaim_result *r = &c->res[i];
    const char *pod = c->pod_name[0] ? c->pod_name : c->name;
    const char *pod_uid = c->pod_uid[0] ? c->pod_uid : c->uid;
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s, s:s}, s:[{s:s, s:s, s:s, s:s, s:b}],"
                     " s:[s]}, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:i, s:i}}}",
                     "apiVersion", CTL_GROUP "/" CTL_VERSION, "kind", "GPUSlice", "metadata",
                     "name", name, "namespace", c->ns, "labels", CTL_LABEL_NODE, r->pool,
                     CTL_LABEL_POD_UID, pod_uid, CTL_LABEL_CLAIM, c->uid, "ownerReferences",
                     "apiVersion", "resource.k8s.io/v1", "kind", "ResourceClaim", "name", c->name,
                     "uid", c->uid, "controller", 1, "finalizers", CTL_FINALIZER, "spec", "podName",
                     pod, "podUID", pod_uid, "container", r->request, "profile", profile,
                     "nodeName", r->pool, "gpuUUID", gpu_uuid, "placement", "start", (int)start,
                     "size", (int)size);
}

/* ---- reading GPUSlices ---------------------------------------------------------------- */

const char *ctl_phase_name(enum ctl_phase p)
{
    static const char *const names[] = {"Pending", "Creating", "Ready", "Releasing", "Failed"};
    return (unsigned)p < sizeof names / sizeof names[0] ? names[p] : "Pending";
}

static enum ctl_phase phase_of(const char *s)
{
    for (int p = CTL_PHASE_PENDING; p <= CTL_PHASE_FAILED; p++)
        if (s && strcmp(s, ctl_phase_name((enum ctl_phase)p)) == 0)
            return (enum ctl_phase)p;
    return CTL_PHASE_PENDING;
}

static uint8_t ordinal_of(const char *name)
{
    const char *dash = strrchr(name, '-');
    long v = dash ? strtol(dash + 1, NULL, 10) : 0;
    return v >= 0 && v < 256 ? (uint8_t)v : 0;
}

static char *dup_or_empty(const char *s)
{
    return xstrdup(s ? s : "");
}

/* The name of the ResourceClaim among the owners, or NULL. */
static const char *claim_owner(const json_t *meta)
{
    size_t i;
    const json_t *o;
    json_array_foreach(json_object_get(meta, "ownerReferences"), i, o)
    {
        const char *kind = json_string_value(json_object_get(o, "kind"));
        if (kind && strcmp(kind, "ResourceClaim") == 0)
            return json_string_value(json_object_get(o, "name"));
    }
    return NULL;
}

int ctl_slice_parse(const json_t *obj, struct ctl_slice *out, struct err **err)
{
    memset(out, 0, sizeof *out);
    const char *ns = NULL, *name = NULL, *pod = NULL, *uid = NULL, *cont = NULL, *prof = NULL,
               *node = NULL, *gpu = NULL;
    json_int_t start = -1, size = -1;
    json_error_t je;
    if (json_unpack_ex((json_t *)obj, &je, 0,
                       "{s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:I, s:I}}}", "metadata",
                       "namespace", &ns, "name", &name, "spec", "podName", &pod, "podUID", &uid,
                       "container", &cont, "profile", &prof, "nodeName", &node, "gpuUUID", &gpu,
                       "placement", "start", &start, "size", &size) < 0)
        return err_set(err, EINVAL, "not a GPUSlice: %s", je.text);
    if (start < 0 || start > 15 || size < 1 || size > 16)
        return err_set(err, EINVAL, "GPUSlice %s/%s: placement out of range", ns, name);
    const json_t *st = json_object_get(obj, "status");
    const json_t *meta = json_object_get(obj, "metadata");
    *out = (struct ctl_slice){
        .ns = xstrdup(ns),
        .name = xstrdup(name),
        .pod_name = xstrdup(pod),
        .pod_uid = xstrdup(uid),
        .container = xstrdup(cont),
        .profile = xstrdup(prof),
        .node = xstrdup(node),
        .gpu_uuid = xstrdup(gpu),
        .mig_uuid = dup_or_empty(json_string_value(json_object_get(st, "migUUID"))),
        .message = dup_or_empty(json_string_value(json_object_get(st, "message"))),
        .start = (uint8_t)start,
        .size = (uint8_t)size,
        .ordinal = ordinal_of(name),
        .claim_uid = dup_or_empty(
            json_string_value(json_object_get(json_object_get(meta, "labels"), CTL_LABEL_CLAIM))),
        .claim_name = dup_or_empty(claim_owner(meta)),
        .deleting = json_object_get(meta, "deletionTimestamp") != NULL,
        .phase = phase_of(json_string_value(json_object_get(st, "phase"))),
    };
    return 0;
}

void ctl_slice_free(struct ctl_slice *s)
{
    free(s->ns);
    free(s->name);
    free(s->pod_name);
    free(s->pod_uid);
    free(s->container);
    free(s->profile);
    free(s->node);
    free(s->gpu_uuid);
    free(s->mig_uuid);
    free(s->message);
    free(s->claim_uid);
    free(s->claim_name);
    memset(s, 0, sizeof *s);
}

/* ---- GPUNodes ------------------------------------------------------------------------- */

static bool ready_condition(const json_t *status)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(status, "conditions"), i, c)
    {
        const char *type = json_string_value(json_object_get(c, "type"));
        const char *st = json_string_value(json_object_get(c, "status"));
        if (type && strcmp(type, "Ready") == 0)
            return st && strcmp(st, "True") == 0;
    }
    return false;
}

static void parse_instances(const json_t *list, struct ctl_gpunode_gpu *g)
{
    size_t i;
    json_t *in;
    json_array_foreach(list, i, in)
    {
        json_int_t start = json_integer_value(json_object_get(in, "start"));
        json_int_t size = json_integer_value(json_object_get(in, "size"));
        const char *prof = json_string_value(json_object_get(in, "profile"));
        if (g->ninst >= sizeof g->inst / sizeof g->inst[0] || start < 0 || start > 15 || size < 1 ||
            size > 16)
            continue;
        int idx = g->model && prof ? cat_profile_index(g->model, prof) : -1;
        g->inst[g->ninst++] =
            (struct ctl_instance){(uint8_t)start, (uint8_t)size, (int8_t)(idx < 0 ? -1 : idx)};
    }
}

int ctl_gpunode_parse(const json_t *obj, struct ctl_gpunode *out, struct err **err)
{
    memset(out, 0, sizeof *out);
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    if (name == NULL)
        return err_set(err, EINVAL, "not a GPUNode: no metadata.name");
    const json_t *status = json_object_get(obj, "status");
    const json_t *gpus = json_object_get(status, "gpus");
    size_t n = json_array_size(gpus);
    if (n > CTL_MAX_GPUS)
        n = CTL_MAX_GPUS;
    out->name = xstrdup(name);
    out->ready = ready_condition(status);
    out->gpus = xcalloc(n ? n : 1, sizeof *out->gpus);
    for (size_t i = 0; i < n; i++) {
        const json_t *g = json_array_get(gpus, i);
        const char *uuid = json_string_value(json_object_get(g, "uuid"));
        const char *model = json_string_value(json_object_get(g, "model"));
        if (uuid == NULL)
            continue;
        struct ctl_gpunode_gpu *o = &out->gpus[out->ngpus++];
        o->uuid = xstrdup(uuid);
        json_int_t index = json_integer_value(json_object_get(g, "index"));
        o->index = json_is_integer(json_object_get(g, "index")) && index >= 0 ? (uint32_t)index
                                                                              : (uint32_t)i;
        o->model = model ? cat_gpu_find(model) : NULL;
        o->mig = json_is_true(json_object_get(g, "migMode"));
        parse_instances(json_object_get(g, "instances"), o);
    }
    return 0;
}

void ctl_gpunode_free(struct ctl_gpunode *g)
{
    for (size_t i = 0; i < g->ngpus; i++)
        free(g->gpus[i].uuid);
    free(g->gpus);
    free(g->name);
    memset(g, 0, sizeof *g);
}

bool ctl_gpunode_equal(const struct ctl_gpunode *a, const struct ctl_gpunode *b)
{
    if (a->ready != b->ready || a->ngpus != b->ngpus)
        return false;
    for (size_t i = 0; i < a->ngpus; i++) {
        const struct ctl_gpunode_gpu *x = &a->gpus[i], *y = &b->gpus[i];
        if (strcmp(x->uuid, y->uuid) != 0 || x->model != y->model || x->mig != y->mig ||
            x->ninst != y->ninst || memcmp(x->inst, y->inst, x->ninst * sizeof x->inst[0]) != 0)
            return false;
    }
    return true;
}

/* ---- ungate --------------------------------------------------------------------------- */

static int cmp_ordinal(const void *a, const void *b)
{
    const struct ctl_slice *x = *(const struct ctl_slice *const *)a;
    const struct ctl_slice *y = *(const struct ctl_slice *const *)b;
    return (x->ordinal > y->ordinal) - (x->ordinal < y->ordinal);
}

/* Sets annotations[slicer.dev/devices-<i>] for every container of the slices
 * (sorted by ordinal): its MIG UUIDs, comma-joined. */
static void set_devices(json_t *annotations, const struct ctl_slice **sorted, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcmp(sorted[k]->container, sorted[i]->container) == 0;
        if (seen)
            continue;
        size_t len = 1;
        for (size_t k = i; k < n; k++)
            if (strcmp(sorted[k]->container, sorted[i]->container) == 0)
                len += strlen(sorted[k]->mig_uuid) + 1;
        char *v = xcalloc(1, len);
        size_t at = 0;
        for (size_t k = i; k < n; k++)
            if (strcmp(sorted[k]->container, sorted[i]->container) == 0)
                at +=
                    (size_t)snprintf(v + at, len - at, "%s%s", at ? "," : "", sorted[k]->mig_uuid);
        char key[96];
        snprintf(key, sizeof key, "slicer.dev/%s", sorted[i]->container);
        json_object_set_new(annotations, key, json_string(v));
        free(v);
    }
}

static bool remove_gate(json_t *spec)
{
    json_t *gates = json_object_get(spec, "schedulingGates");
    size_t i;
    json_t *g;
    json_array_foreach(gates, i, g)
    {
        const char *name = json_string_value(json_object_get(g, "name"));
        if (name && strcmp(name, CTL_GATE) == 0) {
            json_array_remove(gates, i);
            if (json_array_size(gates) == 0)
                json_object_del(spec, "schedulingGates");
            return true;
        }
    }
    return false;
}

static json_t *object_at(json_t *parent, const char *key)
{
    json_t *o = json_object_get(parent, key);
    if (!json_is_object(o)) {
        o = json_object();
        json_object_set_new(parent, key, o);
    }
    return o;
}

static int check_slices(const char *uid, const struct ctl_slice *const *slices, size_t n,
                        struct err **err)
{
    if (n == 0 || n > CTL_MAX_SLICES)
        return err_set(err, EINVAL, "%zu slices", n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(slices[i]->pod_uid, uid) != 0)
            return err_set(err, ESTALE, "slice %s is not this pod's", slices[i]->name);
        if (slices[i]->phase != CTL_PHASE_READY || slices[i]->mig_uuid[0] == '\0')
            return err_set(err, EINVAL, "slice %s is not Ready", slices[i]->name);
        if (strcmp(slices[i]->node, slices[0]->node) != 0)
            return err_set(err, EINVAL, "slices on two nodes (%s, %s)", slices[0]->node,
                           slices[i]->node);
        if (strncmp(slices[i]->container, "devices-", 8) != 0)
            return err_set(err, EINVAL, "slice %s: bad container %s", slices[i]->name,
                           slices[i]->container);
    }
    return 0;
}

int ctl_ungate_apply(json_t *pod, const struct ctl_slice *const *slices, size_t n, struct err **err)
{
    json_t *meta = json_object_get(pod, "metadata"), *spec = json_object_get(pod, "spec");
    const char *uid = json_string_value(json_object_get(meta, "uid"));
    if (!json_is_object(meta) || !json_is_object(spec) || uid == NULL)
        return err_set(err, EINVAL, "not a pod");
    int rc = check_slices(uid, slices, n, err);
    if (rc < 0)
        return rc;
    if (!remove_gate(spec))
        return err_set(err, ENOENT, "the gate %s is gone", CTL_GATE);
    const struct ctl_slice *sorted[CTL_MAX_SLICES];
    memcpy(sorted, slices, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_ordinal);
    set_devices(object_at(meta, "annotations"), sorted, n);
    json_object_set_new(object_at(spec, "nodeSelector"), CTL_HOSTNAME,
                        json_string(slices[0]->node));
    return 0;
}

json_t *ctl_ungate_patch(const char *uid, const char *rv, const struct ctl_slice *const *slices,
                         size_t n, struct err **err)
{
    if (uid == NULL || rv == NULL || *rv == '\0') {
        err_set(err, EINVAL, "no uid or resourceVersion to patch");
        return NULL;
    }
    if (check_slices(uid, slices, n, err) < 0)
        return NULL;
    const struct ctl_slice *sorted[CTL_MAX_SLICES];
    memcpy(sorted, slices, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_ordinal);
    json_t *annotations = json_object();
    set_devices(annotations, sorted, n);
    /* uid too: a pod made again under the same name fails the patch (uid is immutable) even
     * if the version check were skipped. */
    return json_pack("{s:{s:s, s:s, s:o}, s:{s:{s:s}, s:n}}", "metadata", "resourceVersion", rv,
                     "uid", uid, "annotations", annotations, "spec", "nodeSelector", CTL_HOSTNAME,
                     slices[0]->node, "schedulingGates");
}
