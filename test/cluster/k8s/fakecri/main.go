// Command fakecri serves the CRI API (runtime and image services) from memory,
// with the Kubernetes project's own fake (k8s.io/cri-client/pkg/fake), so that
// a real kubelet can run in the tests without a container runtime
// (shared/reference/kubelet-in-tests.md). Every image is "present" (with an id
// and a size, which the kubelet's image check needs). Each CreateContainer the
// kubelet sends is also written as one JSON line to RECORD: the pod, the
// container and the CDI devices the kubelet asks the runtime to inject, which
// is what a DRA driver's NodePrepareResources answer becomes.
//
//	fakecri unix:///path/to/cri.sock RECORD
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"google.golang.org/grpc"
	kubeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	fakeremote "k8s.io/cri-client/pkg/fake"
)

type recorder struct {
	*fakeremote.RemoteRuntime
	mu  sync.Mutex
	out *os.File
}

type created struct {
	Namespace  string   `json:"namespace"`
	Pod        string   `json:"pod"`
	Container  string   `json:"container"`
	CDIDevices []string `json:"cdiDevices"`
}

func (r *recorder) CreateContainer(ctx context.Context, req *kubeapi.CreateContainerRequest) (*kubeapi.CreateContainerResponse, error) {
	c := created{Container: req.GetConfig().GetMetadata().GetName(), CDIDevices: []string{}}
	if m := req.GetSandboxConfig().GetMetadata(); m != nil {
		c.Namespace, c.Pod = m.Namespace, m.Name
	}
	for _, d := range req.GetConfig().GetCDIDevices() {
		c.CDIDevices = append(c.CDIDevices, d.Name)
	}
	line, _ := json.Marshal(c)
	r.mu.Lock()
	fmt.Fprintln(r.out, string(line))
	r.out.Sync()
	r.mu.Unlock()
	return r.RemoteRuntime.CreateContainer(ctx, req)
}

func main() {
	if len(os.Args) != 3 || !strings.HasPrefix(os.Args[1], "unix://") {
		fmt.Fprintln(os.Stderr, "usage: fakecri unix:///path/to/cri.sock RECORD")
		os.Exit(2)
	}
	out, err := os.OpenFile(os.Args[2], os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakecri:", err)
		os.Exit(1)
	}
	rt := fakeremote.NewFakeRemoteRuntime()
	rt.ImageService.SetFakeImageSize(4096)
	rt.ImageService.SetFakeImages([]string{"registry.k8s.io/pause:3.10", "busybox"})
	rt.RuntimeService.FakeStatus = &kubeapi.RuntimeStatus{Conditions: []*kubeapi.RuntimeCondition{
		{Type: kubeapi.RuntimeReady, Status: true}, {Type: kubeapi.NetworkReady, Status: true}}}
	path := strings.TrimPrefix(os.Args[1], "unix://")
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakecri:", err)
		os.Exit(1)
	}
	srv := grpc.NewServer()
	rec := &recorder{RemoteRuntime: rt, out: out}
	kubeapi.RegisterRuntimeServiceServer(srv, rec)
	kubeapi.RegisterImageServiceServer(srv, rt)
	go srv.Serve(l)
	fmt.Println("fakecri: serving", os.Args[1])
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	srv.Stop()
}
