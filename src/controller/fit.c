/* fit — hard node constraints (fit.h). */
#include "controller/fit.h"

#include <stdlib.h>
#include <string.h>

const char *ctl_misfit_str(enum ctl_misfit m)
{
    switch (m) {
    case CTL_FITS:
        return "fits";
    case CTL_CORDONED:
        return "cordoned";
    case CTL_SELECTOR:
        return "not matching the pod's node selector";
    case CTL_AFFINITY:
        return "not matching the pod's required node affinity";
    case CTL_TAINT:
        return "with a taint the pod does not tolerate";
    case CTL_CPU:
        return "without enough CPU";
    case CTL_MEMORY:
        return "without enough memory";
    case CTL_PODS:
        return "with too many pods";
    default:
        return "unfit";
    }
}

static bool selector_matches(const json_t *sel, const json_t *labels)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)sel, k, v)
    {
        const char *have = json_string_value(json_object_get(labels, k));
        if (have == NULL || !json_is_string(v) || strcmp(have, json_string_value(v)) != 0)
            return false;
    }
    return true;
}

static bool in_values(const json_t *values, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach((json_t *)values, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

static bool compare_int(const char *have, const json_t *values, bool greater)
{
    if (have == NULL || json_array_size(values) != 1)
        return false;
    char *e1, *e2;
    const char *want = json_string_value(json_array_get(values, 0));
    if (want == NULL)
        return false;
    long long a = strtoll(have, &e1, 10), b = strtoll(want, &e2, 10);
    if (*e1 || *e2 || e1 == have || e2 == want)
        return false;
    return greater ? a > b : a < b;
}

/* One NodeSelectorRequirement against a value (NULL: the key is absent). */
static bool requirement_holds(const json_t *req, const char *have)
{
    const char *op = json_string_value(json_object_get(req, "operator"));
    const json_t *values = json_object_get(req, "values");
    if (op == NULL)
        return false;
    if (strcmp(op, "In") == 0)
        return have && in_values(values, have);
    if (strcmp(op, "NotIn") == 0)
        return !have || !in_values(values, have);
    if (strcmp(op, "Exists") == 0)
        return have != NULL;
    if (strcmp(op, "DoesNotExist") == 0)
        return have == NULL;
    if (strcmp(op, "Gt") == 0 || strcmp(op, "Lt") == 0)
        return compare_int(have, values, op[0] == 'G');
    return false;
}

static bool term_matches(const json_t *term, const struct ctl_node *node)
{
    const json_t *exprs = json_object_get(term, "matchExpressions");
    const json_t *fields = json_object_get(term, "matchFields");
    if (json_array_size(exprs) == 0 && json_array_size(fields) == 0)
        return false; /* an empty term matches nothing (as in kube-scheduler) */
    size_t i;
    json_t *r;
    json_array_foreach((json_t *)exprs, i, r)
    {
        const char *key = json_string_value(json_object_get(r, "key"));
        if (!key || !requirement_holds(r, json_string_value(json_object_get(node->labels, key))))
            return false;
    }
    json_array_foreach((json_t *)fields, i, r)
    {
        const char *key = json_string_value(json_object_get(r, "key"));
        if (!key || strcmp(key, "metadata.name") != 0 || !requirement_holds(r, node->name))
            return false;
    }
    return true;
}

static bool affinity_matches(const json_t *terms, const struct ctl_node *node)
{
    if (terms == NULL)
        return true;
    size_t i;
    json_t *t;
    json_array_foreach((json_t *)terms, i, t)
    {
        if (term_matches(t, node))
            return true;
    }
    return false;
}

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool tolerates(const json_t *tolerations, const json_t *taint)
{
    const char *tkey = json_string_value(json_object_get(taint, "key"));
    const char *tval = json_string_value(json_object_get(taint, "value"));
    const char *teff = json_string_value(json_object_get(taint, "effect"));
    size_t i;
    json_t *t;
    json_array_foreach((json_t *)tolerations, i, t)
    {
        const char *key = json_string_value(json_object_get(t, "key"));
        const char *op = json_string_value(json_object_get(t, "operator"));
        const char *val = json_string_value(json_object_get(t, "value"));
        const char *eff = json_string_value(json_object_get(t, "effect"));
        bool exists = op && strcmp(op, "Exists") == 0;
        if (eff && eff[0] && !str_eq(eff, teff))
            continue;
        if ((key == NULL || key[0] == '\0') && exists)
            return true; /* tolerates everything (of that effect) */
        if (str_eq(key, tkey) && (exists || str_eq(val, tval)))
            return true;
    }
    return false;
}

static bool taints_tolerated(const json_t *taints, const json_t *tolerations)
{
    size_t i;
    json_t *taint;
    json_array_foreach((json_t *)taints, i, taint)
    {
        const char *eff = json_string_value(json_object_get(taint, "effect"));
        if (eff && (strcmp(eff, "NoSchedule") == 0 || strcmp(eff, "NoExecute") == 0) &&
            !tolerates(tolerations, taint))
            return false;
    }
    return true;
}

enum ctl_misfit ctl_fit(const struct ctl_pod *pod, const struct ctl_node *node,
                        const struct ctl_room *room)
{
    if (node->unschedulable)
        return CTL_CORDONED;
    if (pod->node_selector && !selector_matches(pod->node_selector, node->labels))
        return CTL_SELECTOR;
    if (!affinity_matches(pod->affinity_terms, node))
        return CTL_AFFINITY;
    if (!taints_tolerated(node->taints, pod->tolerations))
        return CTL_TAINT;
    if (pod->cpu_milli > room->cpu_milli)
        return CTL_CPU;
    if (pod->memory_bytes > room->memory_bytes)
        return CTL_MEMORY;
    if (room->pods < 1)
        return CTL_PODS;
    return CTL_FITS;
}
