/* libFuzzer target: bytes of a kubelet DRA request stream, as the agent's
 * gRPC server sees them: split into DATA chunks (the first byte chooses the
 * chunk size), reassembled into one Length-Prefixed-Message under a 64 KiB
 * cap, then decoded as a NodePrepareResourcesRequest (v1) by protobuf-c's
 * generated code from our .proto, and every claim's strings read. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dra_v1.pb-c.h"
#include "kubelet/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] % 16 + 1;
    data++;
    size--;
    struct kl_frame_rx rx = {.cap = 64 * 1024};
    enum kl_frame_rc rc = KL_FRAME_OK;
    for (size_t off = 0; off < size && rc == KL_FRAME_OK; off += chunk)
        rc = kl_frame_feed(&rx, data + off, size - off < chunk ? size - off : chunk);
    if (rc == KL_FRAME_OK && kl_frame_complete(&rx)) {
        if (rx.got != rx.len)
            __builtin_trap();
        K8s__Io__Kubelet__Pkg__Apis__Dra__V1__NodePrepareResourcesRequest *req =
            k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resources_request__unpack(
                NULL, rx.len, rx.buf);
        if (req) {
            size_t total = 0;
            for (size_t i = 0; i < req->n_claims; i++)
                total += strlen(req->claims[i]->namespace_) + strlen(req->claims[i]->uid) +
                         strlen(req->claims[i]->name);
            (void)total;
            k8s__io__kubelet__pkg__apis__dra__v1__node_prepare_resources_request__free_unpacked(
                req, NULL);
        }
    }
    kl_frame_rx_free(&rx);
    return 0;
}
