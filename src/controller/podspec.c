/* podspec — pods and nodes as the controller keeps them (podspec.h). */
#include "controller/podspec.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/xalloc.h"
#include "core/resname.h"

/* ---- quantities ----------------------------------------------------------------------- */

static bool mul_ok(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/* The multiplier of a quantity suffix, in thousandths; 0 when unknown. */
static int64_t suffix_milli(const char *s)
{
    static const struct {
        const char *s;
        int64_t m;
    } tab[] = {{"", 1000},
               {"m", 1},
               {"k", 1000LL * 1000},
               {"M", 1000LL * 1000 * 1000},
               {"G", 1000LL * 1000 * 1000 * 1000},
               {"T", 1000LL * 1000 * 1000 * 1000 * 1000},
               {"Ki", 1000LL << 10},
               {"Mi", 1000LL << 20},
               {"Gi", 1000LL << 30},
               {"Ti", 1000LL << 40},
               {"Pi", 1000LL << 50}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(s, tab[i].s) == 0)
            return tab[i].m;
    return 0;
}

bool ctl_quantity_milli(const char *q, int64_t *milli)
{
    int64_t whole = 0, frac = 0, frac_div = 1;
    const char *p = q;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++)
        if (!mul_ok(whole, 10, &whole) || __builtin_add_overflow(whole, *p - '0', &whole))
            return false;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++)
            if (frac_div < 1000000000) {
                frac = frac * 10 + (*p - '0');
                frac_div *= 10;
            }
    }
    int64_t m;
    if (*p == 'e' || *p == 'E') { /* 1e3: a decimal exponent */
        int exp = 0;
        for (p++; *p >= '0' && *p <= '9' && exp < 30; p++)
            exp = exp * 10 + (*p - '0');
        if (*p != '\0' || exp > 15)
            return false;
        m = 1000;
        while (exp-- > 0)
            if (!mul_ok(m, 10, &m))
                return false;
    } else if ((m = suffix_milli(p)) == 0) {
        return false;
    }
    int64_t a, b;
    if (!mul_ok(whole, m, &a))
        return false;
    b = (int64_t)((__int128)frac * m / frac_div);
    if (__builtin_add_overflow(a, b, milli))
        return false;
    return true;
}

/* ---- pods ----------------------------------------------------------------------------- */

static int64_t demand(const json_t *container, const char *resource)
{
    const json_t *res = json_object_get(container, "resources");
    const char *q = json_string_value(json_object_get(json_object_get(res, "requests"), resource));
    if (q == NULL)
        q = json_string_value(json_object_get(json_object_get(res, "limits"), resource));
    int64_t v = 0;
    return q && ctl_quantity_milli(q, &v) ? v : 0;
}

/* Effective requests: the sum over containers, or the largest init container if more. */
static void pod_demands(const json_t *spec, struct ctl_pod *p)
{
    size_t i;
    json_t *c;
    int64_t cpu = 0, mem = 0, icpu = 0, imem = 0;
    json_array_foreach(json_object_get(spec, "containers"), i, c)
    {
        cpu += demand(c, "cpu");
        mem += demand(c, "memory");
    }
    json_array_foreach(json_object_get(spec, "initContainers"), i, c)
    {
        int64_t a = demand(c, "cpu"), b = demand(c, "memory");
        icpu = a > icpu ? a : icpu;
        imem = b > imem ? b : imem;
    }
    p->cpu_milli = cpu > icpu ? cpu : icpu;
    p->memory_bytes = (mem > imem ? mem : imem) / 1000;
}

static int parse_count(const json_t *q, unsigned *out)
{
    int64_t v;
    const char *s = json_string_value(q);
    if (s == NULL || !ctl_quantity_milli(s, &v) || v % 1000 != 0 || v < 1000 || v > 64000)
        return -EINVAL;
    *out = (unsigned)(v / 1000);
    return 0;
}

static int container_asks(const json_t *c, const char *prefix, size_t index, struct ctl_pod *p,
                          struct err **err)
{
    const json_t *limits = json_object_get(json_object_get(c, "resources"), "limits");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)limits, key, v)
    {
        if (strncmp(key, RES_SLICER_PREFIX, strlen(RES_SLICER_PREFIX)) != 0)
            continue;
        const char *profile = res_catalog_profile(key + strlen(RES_SLICER_PREFIX));
        struct ctl_ask *a = &p->asks[p->nasks];
        if (profile == NULL)
            return err_set(err, EINVAL, "unknown profile in %s", key);
        if (p->nasks >= CTL_MAX_ASKS)
            return err_set(err, E2BIG, "more than %d MIG asks", CTL_MAX_ASKS);
        if (parse_count(v, &a->count) < 0)
            return err_set(err, EINVAL, "%s is not a whole count from 1 to 64", key);
        snprintf(a->container, sizeof a->container, "%s%zu", prefix, index);
        snprintf(a->profile, sizeof a->profile, "%s", profile);
        p->nasks++;
    }
    return 0;
}

/* spec.resourceClaims, with the claims made from templates by now. */
static int pod_claims(const json_t *pod, struct ctl_pod *p, struct err **err)
{
    const json_t *list = json_object_get(json_object_get(pod, "spec"), "resourceClaims");
    const json_t *made = json_object_get(json_object_get(pod, "status"), "resourceClaimStatuses");
    size_t n = json_array_size(list), i;
    if (n > CTL_MAX_POD_CLAIMS)
        return err_set(err, E2BIG, "more than %d resourceClaims", CTL_MAX_POD_CLAIMS);
    p->claims = xcalloc(n ? n : 1, sizeof *p->claims);
    const json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *claim = json_string_value(json_object_get(e, "resourceClaimName"));
        const char *tmpl = json_string_value(json_object_get(e, "resourceClaimTemplateName"));
        if (name == NULL || strlen(name) > 63 || (claim == NULL) == (tmpl == NULL))
            return err_set(err, EINVAL, "resourceClaims[%zu] is malformed", i);
        struct ctl_pod_claim *pc = &p->claims[p->nclaims++];
        pc->name = xstrdup(name);
        pc->tmpl = xstrdup(tmpl ? tmpl : "");
        pc->generated = tmpl != NULL;
        size_t k;
        const json_t *s;
        json_array_foreach(made, k, s)
        {
            const char *sn = json_string_value(json_object_get(s, "name"));
            const char *rc = json_string_value(json_object_get(s, "resourceClaimName"));
            if (tmpl && sn && rc && strcmp(sn, name) == 0 && claim == NULL)
                claim = rc;
        }
        pc->claim = xstrdup(claim ? claim : "");
    }
    return 0;
}

static enum ctl_gate_state gate_state(const json_t *gates)
{
    bool ours = false;
    size_t i, others = 0;
    json_t *g;
    json_array_foreach((json_t *)gates, i, g)
    {
        const char *name = json_string_value(json_object_get(g, "name"));
        if (name && strcmp(name, CTL_GATE) == 0)
            ours = true;
        else
            others++;
    }
    return !ours ? CTL_GATE_NONE : others ? CTL_GATE_WAITING : CTL_GATE_LAST;
}

static json_t *copy_of(const json_t *v)
{
    return v ? json_deep_copy(v) : NULL;
}

int ctl_pod_parse(const json_t *pod, struct ctl_pod *out, struct err **err)
{
    memset(out, 0, sizeof *out);
    const json_t *meta = json_object_get(pod, "metadata"), *spec = json_object_get(pod, "spec");
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *uid = json_string_value(json_object_get(meta, "uid"));
    if (!ns || !name || !uid || !json_is_object(spec))
        return err_set(err, EINVAL, "not a pod: metadata.namespace, name, uid and spec needed");
    out->ns = xstrdup(ns);
    out->name = xstrdup(name);
    out->uid = xstrdup(uid);
    out->terminating = json_object_get(meta, "deletionTimestamp") != NULL;
    const char *phase = json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));
    snprintf(out->phase, sizeof out->phase, "%s", phase ? phase : "Pending");
    out->gate = gate_state(json_object_get(spec, "schedulingGates"));
    out->asks = xcalloc(CTL_MAX_ASKS, sizeof *out->asks); /* shrunk to nasks below */
    size_t i;
    json_t *c;
    int rc = 0;
    json_array_foreach(json_object_get(spec, "initContainers"), i, c)
    {
        if (rc == 0)
            rc = container_asks(c, "devices-init-", i, out, err);
    }
    json_array_foreach(json_object_get(spec, "containers"), i, c)
    {
        if (rc == 0)
            rc = container_asks(c, "devices-", i, out, err);
    }
    if (rc == 0)
        rc = pod_claims(pod, out, err);
    if (rc < 0) {
        ctl_pod_free(out);
        return err_wrap(err, "pod %s/%s", ns, name);
    }
    out->asks = xreallocarray(out->asks, out->nasks ? out->nasks : 1, sizeof *out->asks);
    pod_demands(spec, out);
    out->node_selector = copy_of(json_object_get(spec, "nodeSelector"));
    out->tolerations = copy_of(json_object_get(spec, "tolerations"));
    const json_t *na = json_object_get(json_object_get(spec, "affinity"), "nodeAffinity");
    out->affinity_terms = copy_of(
        json_object_get(json_object_get(na, "requiredDuringSchedulingIgnoredDuringExecution"),
                        "nodeSelectorTerms"));
    return 0;
}

void ctl_pod_free(struct ctl_pod *p)
{
    free(p->ns);
    free(p->name);
    free(p->uid);
    free(p->asks);
    for (unsigned i = 0; i < p->nclaims; i++) {
        free(p->claims[i].name);
        free(p->claims[i].claim);
        free(p->claims[i].tmpl);
    }
    free(p->claims);
    json_decref(p->node_selector);
    json_decref(p->affinity_terms);
    json_decref(p->tolerations);
    memset(p, 0, sizeof *p);
}

/* ---- nodes ---------------------------------------------------------------------------- */

static int64_t allocatable(const json_t *node, const char *resource)
{
    const json_t *alloc = json_object_get(json_object_get(node, "status"), "allocatable");
    const char *q = json_string_value(json_object_get(alloc, resource));
    int64_t v = 0;
    return q && ctl_quantity_milli(q, &v) ? v : 0;
}

int ctl_node_parse(const json_t *node, struct ctl_node *out, struct err **err)
{
    memset(out, 0, sizeof *out);
    const json_t *meta = json_object_get(node, "metadata"), *spec = json_object_get(node, "spec");
    const char *name = json_string_value(json_object_get(meta, "name"));
    if (name == NULL)
        return err_set(err, EINVAL, "not a node: no metadata.name");
    out->name = xstrdup(name);
    out->unschedulable = json_is_true(json_object_get(spec, "unschedulable"));
    const json_t *labels = json_object_get(meta, "labels");
    out->labels = json_is_object(labels) ? json_deep_copy(labels) : json_object();
    out->taints = copy_of(json_object_get(spec, "taints"));
    out->cpu_milli = allocatable(node, "cpu");
    out->memory_bytes = allocatable(node, "memory") / 1000;
    out->pods = allocatable(node, "pods") / 1000;
    return 0;
}

void ctl_node_free(struct ctl_node *n)
{
    free(n->name);
    json_decref(n->labels);
    json_decref(n->taints);
    memset(n, 0, sizeof *n);
}

static bool json_same(const json_t *a, const json_t *b)
{
    return (a == NULL && b == NULL) || (a && b && json_equal(a, b));
}

bool ctl_node_equal(const struct ctl_node *a, const struct ctl_node *b)
{
    return strcmp(a->name, b->name) == 0 && a->unschedulable == b->unschedulable &&
           a->cpu_milli == b->cpu_milli && a->memory_bytes == b->memory_bytes &&
           a->pods == b->pods && json_same(a->labels, b->labels) && json_same(a->taints, b->taints);
}
