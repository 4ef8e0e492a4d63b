/* view — the scheduler's view of the cluster and one pod's next step (view.h). */
#include "controller/view.h"

#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

/* ---- the view -------------------------------------------------------------------------- */

static bool usable(const struct ctl_gpunode_gpu *g)
{
    return g->mig && g->model != NULL;
}

static size_t usable_gpus(const struct ctl_gpunode *gn)
{
    size_t n = 0;
    for (size_t i = 0; i < gn->ngpus; i++)
        n += usable(&gn->gpus[i]);
    return n;
}

/* Marks [start, start+size) taken on g: as an instance when the engine's rules
 * accept it there, else at least its memory slices. */
static void take(struct place_gpu *g, int profile, unsigned start, unsigned size)
{
    if (start + size > g->model->mem_slices)
        size = start < g->model->mem_slices ? g->model->mem_slices - start : 0;
    uint16_t mask = cat_mask(start, size);
    if ((g->used & mask) == mask && size > 0)
        return; /* already taken (a slice and the instance that realises it) */
    if (profile >= 0 && place_add(g, (unsigned)profile, start, 0) == PLACE_OK)
        return;
    g->used |= mask;
}

static void add_node(struct ctl_view *v, const struct ctl_node *node, const struct ctl_gpunode *gn,
                     struct place_gpu *storage)
{
    struct ctl_gpu_node *n = &v->nodes[v->n];
    const char **uuids = xcalloc(CTL_MAX_GPUS, sizeof *uuids);
    *n = (struct ctl_gpu_node){
        .node = node, .room = {node->cpu_milli, node->memory_bytes, node->pods}, .gpus = storage};
    for (size_t i = 0; i < gn->ngpus && n->ngpus < CTL_MAX_GPUS; i++) {
        const struct ctl_gpunode_gpu *g = &gn->gpus[i];
        if (!usable(g))
            continue;
        struct place_gpu *pg = &storage[n->ngpus];
        place_gpu_init(pg, g->model);
        for (unsigned k = 0; k < g->ninst; k++)
            take(pg, g->inst[k].profile, g->inst[k].start, g->inst[k].size);
        uuids[n->ngpus++] = g->uuid;
    }
    v->uuids[v->n++] = uuids;
}

static int find_node(const struct ctl_view *v, const char *name)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->nodes[i].node->name, name) == 0)
            return (int)i;
    return -1;
}

static void apply_taken(struct ctl_view *v, const struct ctl_taken *t)
{
    int i = find_node(v, t->node);
    if (i < 0)
        return;
    struct ctl_gpu_node *n = &v->nodes[i];
    for (size_t g = 0; g < n->ngpus; g++)
        if (strcmp(v->uuids[i][g], t->gpu_uuid) == 0)
            take(&n->gpus[g], cat_profile_index(n->gpus[g].model, t->profile), t->start, t->size);
}

void ctl_view_build(const struct ctl_view_in *in, struct ctl_view *out)
{
    size_t ngpus = 0;
    for (size_t i = 0; i < in->nnodes; i++)
        if (in->gpunodes[i] && in->gpunodes[i]->ready)
            ngpus += usable_gpus(in->gpunodes[i]);
    *out = (struct ctl_view){0};
    out->nodes = xcalloc(in->nnodes ? in->nnodes : 1, sizeof *out->nodes);
    out->uuids = xcalloc(in->nnodes ? in->nnodes : 1, sizeof *out->uuids);
    out->gpus = xcalloc(ngpus ? ngpus : 1, sizeof *out->gpus);
    size_t used = 0;
    for (size_t i = 0; i < in->nnodes; i++) {
        const struct ctl_gpunode *gn = in->gpunodes[i];
        if (gn == NULL || !gn->ready || usable_gpus(gn) == 0)
            continue;
        add_node(out, in->nodes[i], gn, out->gpus + used);
        used += out->nodes[out->n - 1].ngpus;
    }
    for (size_t t = 0; t < in->ntaken; t++)
        apply_taken(out, &in->taken[t]);
    for (size_t u = 0; u < in->nusage; u++) {
        int i = find_node(out, in->usage[u].node);
        if (i < 0)
            continue;
        out->nodes[i].room.cpu_milli -= in->usage[u].cpu_milli;
        out->nodes[i].room.memory_bytes -= in->usage[u].memory_bytes;
        out->nodes[i].room.pods -= 1;
    }
}

void ctl_view_free(struct ctl_view *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->uuids[i]);
    free(v->uuids);
    free(v->nodes);
    free(v->gpus);
    memset(v, 0, sizeof *v);
}

/* ---- one pod's next step ------------------------------------------------------------- */

const char *ctl_release_why_str(enum ctl_release_why why)
{
    switch (why) {
    case CTL_REL_POD_GONE:
        return "the pod is gone";
    case CTL_REL_POD_DONE:
        return "the pod has ended";
    case CTL_REL_TERMINATING:
        return "the pod is being deleted before it started";
    case CTL_REL_GATE_REMOVED:
        return "the scheduling gate was removed by someone else";
    case CTL_REL_FAILED:
        return "a slice failed";
    case CTL_REL_PARTIAL:
        return "the pod's slices are incomplete";
    case CTL_REL_INVALID:
        return "the pod's MIG asks cannot be read";
    case CTL_REL_CONTINUE:
        return "a release is under way";
    default:
        return "";
    }
}

unsigned ctl_pod_slices(const struct ctl_pod *p)
{
    unsigned n = 0;
    for (unsigned a = 0; a < p->nasks; a++)
        n += p->asks[a].count;
    return n;
}

static enum ctl_action release(enum ctl_release_why r, enum ctl_release_why *why)
{
    *why = r;
    return CTL_ACT_RELEASE;
}

/* The pod exists, may be placed (its asks read), has our gate last, and is not ending. */
static enum ctl_action decide_gated(const struct ctl_pod_facts *f, enum ctl_release_why *why)
{
    unsigned want = ctl_pod_slices(f->pod), ready = 0;
    if (f->nslices == 0)
        return f->assumed ? CTL_ACT_WAIT : CTL_ACT_PLACE;
    for (size_t i = 0; i < f->nslices; i++) {
        const struct ctl_slice *s = f->slices[i];
        if (s->ordinal >= want || strcmp(s->node, f->slices[0]->node) != 0)
            return release(CTL_REL_PARTIAL, why);
        ready += s->phase == CTL_PHASE_READY;
    }
    if (f->nslices + f->assumed < want)
        return release(CTL_REL_PARTIAL, why);
    if (f->nslices > want)
        return release(CTL_REL_PARTIAL, why);
    return ready == want && f->nslices == want ? CTL_ACT_UNGATE : CTL_ACT_WAIT;
}

enum ctl_action ctl_decide(const struct ctl_pod_facts *f, enum ctl_release_why *why)
{
    const struct ctl_pod *p = f->pod;
    bool any = f->nslices > 0, failed = false, releasing = false;
    *why = CTL_REL_NONE;
    for (size_t i = 0; i < f->nslices; i++) {
        failed |= f->slices[i]->phase == CTL_PHASE_FAILED;
        releasing |= f->slices[i]->deleting || f->slices[i]->phase == CTL_PHASE_RELEASING;
    }
    if (p == NULL)
        return any ? release(CTL_REL_POD_GONE, why) : CTL_ACT_NONE;
    if (f->invalid)
        return any ? release(CTL_REL_INVALID, why) : CTL_ACT_INVALID;
    if (strcmp(p->phase, "Succeeded") == 0 || strcmp(p->phase, "Failed") == 0)
        return any ? release(CTL_REL_POD_DONE, why) : CTL_ACT_NONE;
    if (p->gate == CTL_GATE_NONE) {
        if (f->devices_set) /* we ungated it: its slices stay until it ends */
            return failed && !p->terminating ? CTL_ACT_LOST : CTL_ACT_NONE;
        return release(CTL_REL_GATE_REMOVED, why); /* (also with no slices: the Event) */
    }
    if (p->terminating)
        return any ? release(CTL_REL_TERMINATING, why) : CTL_ACT_NONE;
    if (failed)
        return release(CTL_REL_FAILED, why);
    if (releasing)
        return release(CTL_REL_CONTINUE, why);
    if (p->gate == CTL_GATE_WAITING)
        return any || f->assumed ? CTL_ACT_WAIT : CTL_ACT_NONE;
    return decide_gated(f, why);
}
