/* bench_kube — the kube client's watch path and its cache's memory.
 *  1. decode: a watch stream of realistic pod events (about 3 kB each), fed in
 *     16 kB chunks through the line splitter, the event decoder and the
 *     cache (objects/s, CPU only, no server);
 *  2. memory: bytes the cache holds per pod (malloc'd bytes measured with
 *     mallinfo2, cache table + entry + the extracted struct);
 *  3. live (only when SLICER_BENCH_KUBECONFIG names a kubeconfig of a test
 *     cluster): N pods created while a cache watches them (events/s
 *     end to end, bounded by the apiserver), then a second cache listing and
 *     watching them (objects/s from start to synced).
 * usage: bench_kube [--quick] */
#include <jansson.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kube/kube_cache.h"
#include "kube/kube_config.h"
#include "kube/kube_req.h"
#include "kube/kube_watch.h"

static bool quick;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* What a controller keeps of a pod. */
struct pod_lite {
    char uid[37];
    unsigned char phase;
    bool gated;
    unsigned short mig;
    char *node;
};

static void *extract_pod(void *arg, json_t *pod)
{
    (void)arg;
    struct pod_lite *p = calloc(1, sizeof *p);
    json_t *meta = json_object_get(pod, "metadata"), *spec = json_object_get(pod, "spec");
    snprintf(p->uid, sizeof p->uid, "%s", json_string_value(json_object_get(meta, "uid")) ?: "");
    const char *phase = json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));
    p->phase = phase && strcmp(phase, "Running") == 0 ? 2 : 1;
    p->gated = json_array_size(json_object_get(spec, "schedulingGates")) > 0;
    const char *node = json_string_value(json_object_get(spec, "nodeName"));
    p->node = node ? strdup(node) : NULL;
    p->mig = 1;
    return p;
}

static void free_pod(void *item)
{
    struct pod_lite *p = item;
    free(p->node);
    free(p);
}

#define POD_FMT                                                                                    \
    "{\"type\":\"%s\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":"  \
    "\"train-%06d\",\"namespace\":\"ml-team\",\"uid\":\"6f1c2a4e-0000-4000-8000-%012d\","          \
    "\"resourceVersion\":\"%d\",\"creationTimestamp\":\"2026-12-01T20:00:00Z\",\"labels\":{"       \
    "\"app\":\"trainer\",\"slicer.dev/managed\":\"true\",\"pod-template-hash\":\"7d9f8c6b5\"},"    \
    "\"annotations\":{\"slicer.dev/devices-0\":\"MIG-5d3c2b1a-0000-5000-9000-00000000abcd\"},"     \
    "\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":"           \
    "\"trainer-7d9f8c6b5\",\"uid\":\"0b8e1f2a-1111-4111-8111-111111111111\",\"controller\":true,"  \
    "\"blockOwnerDeletion\":true}],\"managedFields\":[{\"manager\":\"kube-controller-manager\","   \
    "\"operation\":\"Update\",\"apiVersion\":\"v1\",\"time\":\"2026-12-01T20:00:00Z\","            \
    "\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:metadata\":{\"f:labels\":{\".\":{},\"f:app\":"  \
    "{}}},\"f:spec\":{\"f:containers\":{\"k:{\\\"name\\\":\\\"main\\\"}\":{\".\":{},\"f:image\":"  \
    "{},\"f:name\":{},\"f:resources\":{\".\":{},\"f:limits\":{}}}}}}}]},\"spec\":{\"nodeName\":"   \
    "\"gpu-node-%d\",\"schedulerName\":\"default-scheduler\",\"restartPolicy\":\"Always\","        \
    "\"terminationGracePeriodSeconds\":30,\"dnsPolicy\":\"ClusterFirst\",\"serviceAccountName\":"  \
    "\"default\",\"tolerations\":[{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":"         \
    "\"Exists\",\"effect\":\"NoExecute\",\"tolerationSeconds\":300},{\"key\":"                     \
    "\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\",\"effect\":\"NoExecute\","         \
    "\"tolerationSeconds\":300}],\"containers\":[{\"name\":\"main\",\"image\":"                    \
    "\"registry.example.com/ml/trainer:2026.11\",\"command\":[\"python\",\"train.py\","            \
    "\"--epochs=10\"],\"env\":[{\"name\":\"NVIDIA_VISIBLE_DEVICES\",\"valueFrom\":{\"fieldRef\":"  \
    "{\"fieldPath\":\"metadata.annotations['slicer.dev/devices-0']\"}}},{\"name\":"                \
    "\"CUDA_VISIBLE_DEVICES\",\"value\":\"0\"}],\"resources\":{\"limits\":{\"cpu\":\"4\","         \
    "\"memory\":\"16Gi\",\"mig.slicer.dev/1g.5gb\":\"1\"},\"requests\":{\"cpu\":\"4\",\"memory\":" \
    "\"16Gi\",\"mig.slicer.dev/1g.5gb\":\"1\"}},\"volumeMounts\":[{\"name\":\"kube-api-access\","  \
    "\"mountPath\":\"/var/run/secrets/kubernetes.io/serviceaccount\",\"readOnly\":true}],"         \
    "\"terminationMessagePath\":\"/dev/termination-log\",\"imagePullPolicy\":\"IfNotPresent\"}]}," \
    "\"status\":{\"phase\":\"Running\",\"hostIP\":\"10.0.0.%d\",\"podIP\":\"10.244.%d.%d\","       \
    "\"startTime\":\"2026-12-01T20:00:05Z\",\"qosClass\":\"Guaranteed\",\"conditions\":[{"         \
    "\"type\":"                                                                                    \
    "\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"2026-12-01T20:00:07Z\"},{\"type\":"    \
    "\"PodScheduled\",\"status\":\"True\",\"lastTransitionTime\":\"2026-12-01T20:00:01Z\"}]}}}\n"

/* A stream of n pods added then each modified once. */
static char *make_stream(int n, size_t *len, size_t *per_event)
{
    size_t cap = (size_t)n * 2 * 4096, off = 0;
    char *s = malloc(cap);
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < n; i++) {
            int k = snprintf(s + off, cap - off, POD_FMT, r ? "MODIFIED" : "ADDED", i, i,
                             1000 + r * n + i, i % 64, i % 250, i % 250, i % 250);
            off += (size_t)k;
        }
    *len = off;
    *per_event = off / (size_t)(2 * n);
    return s;
}

static int feed_line(void *arg, const char *line, size_t n)
{
    enum kube_ev t;
    json_t *o = NULL;
    if (kube_watch_decode(line, n, &t, &o, NULL) < 0)
        return -1;
    kube_cache_apply(arg, t, o);
    json_decref(o);
    return 0;
}

static const struct kube_gvr pods = {"", "v1", "pods", true};

static void bench_decode(void)
{
    int n = quick ? 5000 : 50000;
    size_t len, per;
    char *stream = make_stream(n, &len, &per);
    struct kube_cache_opts o = {
        .spec = {.gvr = &pods}, .extract = extract_pod, .free_item = free_pod};
    struct kube_cache *c = kube_cache_new_detached(&o);
    struct kube_lines l;
    kube_lines_init(&l, 0);
    double t0 = now();
    for (size_t off = 0; off < len; off += 16384) {
        size_t k = len - off < 16384 ? len - off : 16384;
        if (kube_lines_feed(&l, stream + off, k, feed_line, c, NULL) < 0) {
            fprintf(stderr, "bench_kube: the stream did not decode\n");
            exit(1);
        }
    }
    double dt = now() - t0;
    printf(
        "watch stream -> cache (decode + extract + store), %d pods, 2 events each, %zu B/event\n",
        n, per);
    printf("  %-40s %12.0f events/s   %8.1f MB/s\n", "events through the watch path", 2.0 * n / dt,
           (double)len / dt / 1e6);
    kube_lines_free(&l);
    kube_cache_stop(c);
    free(stream);
}

static void bench_memory(void)
{
    int n = quick ? 10000 : 100000;
    size_t len, per;
    char *stream = make_stream(n, &len, &per);
    struct kube_cache_opts o = {
        .spec = {.gvr = &pods}, .extract = extract_pod, .free_item = free_pod};
    malloc_trim(0);
    size_t before = mallinfo2().uordblks;
    struct kube_cache *c = kube_cache_new_detached(&o);
    struct kube_lines l;
    kube_lines_init(&l, 0);
    (void)!kube_lines_feed(&l, stream, len / 2, feed_line, c, NULL); /* the ADDED half */
    kube_lines_free(&l);
    size_t after = mallinfo2().uordblks;
    printf("\ncache memory, %d pods (malloc'd bytes, mallinfo2)\n", n);
    printf("  %-40s %12.1f B/pod   (%zu B of it the cache's own table+entry)\n", "held per pod",
           (double)(after - before) / n, kube_cache_overhead(c) / (size_t)n);
    printf("  %-40s %12zu B/pod\n", "the same pod as JSON on the wire", per);
    kube_cache_stop(c);
    free(stream);
}

/* ---- live, against a test cluster --------------------------------------- */

struct live {
    int pending, failed;
};

static void created(void *arg, json_t *obj, const struct err *e)
{
    struct live *l = arg;
    json_decref(obj);
    l->pending--;
    l->failed += e != NULL;
}

static int step(struct kube_client *c)
{
    struct err *e = NULL;
    if (kube_client_step(c, 100, &e) < 0) {
        fprintf(stderr, "bench_kube: %s\n", err_msg(e));
        err_free(&e);
        return -1;
    }
    return 0;
}

static void bench_live(const char *kubeconfig)
{
    struct kube_config *cfg = NULL;
    struct kube_client *c = NULL;
    struct err *e = NULL;
    struct kube_client_opts co = {.qps = -1};
    if (kube_config_load_file(kubeconfig, NULL, &cfg, &e) < 0 ||
        kube_client_new(cfg, &co, &c, &e) < 0) {
        fprintf(stderr, "bench_kube: %s\n", err_msg(e));
        err_free(&e);
        kube_config_free(cfg);
        return;
    }
    kube_config_free(cfg);
    char ns[64];
    snprintf(ns, sizeof ns, "bench-kube-%d", (int)getpid());
    json_t *nso = json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
                            "metadata", "name", ns);
    if (kube_create(c, &(struct kube_call){.gvr = &KUBE_NAMESPACES}, nso, NULL, &e) < 0) {
        fprintf(stderr, "bench_kube: %s\n", err_msg(e));
        err_free(&e);
        json_decref(nso);
        kube_client_free(c);
        return;
    }
    json_decref(nso);
    int n = quick ? 300 : 2000;
    struct kube_cache_opts o = {
        .spec = {.gvr = &KUBE_PODS, .ns = ns}, .extract = extract_pod, .free_item = free_pod};
    struct kube_cache *w = kube_cache_start(c, &o);
    while (!kube_cache_synced(w))
        if (step(c) < 0)
            return;
    struct live l = {0};
    double t0 = now();
    for (int i = 0; i < n || kube_cache_len(w) < (size_t)(n - l.failed);) {
        while (i < n && l.pending < 64) {
            char name[32];
            snprintf(name, sizeof name, "p-%d", i++);
            json_t *pod = json_pack("{s:s,s:s,s:{s:s},s:{s:[{s:s,s:s}]}}", "apiVersion", "v1",
                                    "kind", "Pod", "metadata", "name", name, "spec", "containers",
                                    "name", "main", "image", "busybox");
            kube_send(c, KUBE_CREATE, &(struct kube_call){.gvr = &KUBE_PODS, .ns = ns}, pod,
                      created, &l, NULL);
            json_decref(pod);
            l.pending++;
        }
        if (step(c) < 0 || now() - t0 > 300)
            break;
    }
    double dt = now() - t0;
    printf("\nlive, %d pods on the test cluster (%d creates failed)\n", n, l.failed);
    printf("  %-40s %12.0f objects/s\n", "create -> watch event -> cache", kube_cache_len(w) / dt);
    struct kube_cache *w2 = kube_cache_start(c, &o);
    t0 = now();
    while (!kube_cache_synced(w2) && now() - t0 < 120)
        if (step(c) < 0)
            break;
    dt = now() - t0;
    printf("  %-40s %12.0f objects/s\n", "list (500/page) -> cache, until synced",
           kube_cache_len(w2) / dt);
    kube_cache_stop(w2);
    kube_cache_stop(w);
    (void)!kube_delete(c, &(struct kube_call){.gvr = &KUBE_NAMESPACES, .name = ns}, NULL);
    kube_client_free(c);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        quick |= strcmp(argv[i], "--quick") == 0;
    bench_decode();
    bench_memory();
    const char *kc = getenv("SLICER_BENCH_KUBECONFIG");
    if (kc && *kc)
        bench_live(kc);
    else
        printf("\nlive: skipped (set SLICER_BENCH_KUBECONFIG to a test cluster's kubeconfig)\n");
    return 0;
}
