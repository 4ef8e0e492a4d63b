// Command call makes one kubelet DRA call on a plugin's sockets, as the kubelet
// does, with the kubelet's own Go client packages (k8s.io/kubelet v0.37.2), and
// prints the answer as one JSON line; for the end-to-end tests of the agent
// (test/e2e/dra.sh), which check what slicer's agent answers.
//
//	call -reg SOCKET register                  GetInfo, then NotifyRegistrationStatus(ok)
//	call -dra SOCKET [-v v1|v1beta1] prepare NS/NAME/UID...
//	call -dra SOCKET [-v v1|v1beta1] unprepare NS/NAME/UID...
//
// Exit codes: 0 the call returned (claims may still carry errors: read the
// JSON), 1 the call failed (gRPC error, printed), 2 usage.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	drav1 "k8s.io/kubelet/pkg/apis/dra/v1"
	drav1beta1 "k8s.io/kubelet/pkg/apis/dra/v1beta1"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

var (
	regPath = flag.String("reg", "", "registration socket")
	draPath = flag.String("dra", "", "DRA socket")
	version = flag.String("v", "v1", "DRA service version: v1 or v1beta1")
	timeout = flag.Duration("timeout", 150*time.Second, "how long to wait for the answer")
)

func die(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "call: "+format+"\n", args...)
	os.Exit(code)
}

func emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		die(1, "encoding the answer: %v", err)
	}
	fmt.Println(string(b))
}

func claims(args []string) []*drav1.Claim {
	var out []*drav1.Claim
	for _, a := range args {
		p := strings.SplitN(a, "/", 3)
		if len(p) != 3 {
			die(2, "a claim is NS/NAME/UID, not %q", a)
		}
		out = append(out, &drav1.Claim{Namespace: p[0], Name: p[1], Uid: p[2]})
	}
	return out
}

func register(ctx context.Context) {
	// As the kubelet's plugin watcher dials (pluginmanager operation_generator.go).
	//nolint:staticcheck // the kubelet still uses DialContext here
	conn, err := grpc.DialContext(ctx, *regPath, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithBlock(), grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", addr)
		}))
	if err != nil {
		die(1, "dialing %s: %v", *regPath, err)
	}
	defer conn.Close()
	c := registerapi.NewRegistrationClient(conn)
	info, err := c.GetInfo(ctx, &registerapi.InfoRequest{})
	if err != nil {
		die(1, "GetInfo: %v", err)
	}
	if _, err := c.NotifyRegistrationStatus(ctx, &registerapi.RegistrationStatus{PluginRegistered: true}); err != nil {
		die(1, "NotifyRegistrationStatus: %v", err)
	}
	emit(info)
}

func dra(ctx context.Context, verb string, cl []*drav1.Claim) {
	conn, err := grpc.NewClient("unix:"+*draPath, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithAuthority("localhost"))
	if err != nil {
		die(1, "dialing %s: %v", *draPath, err)
	}
	defer conn.Close()
	switch {
	case *version == "v1" && verb == "prepare":
		r, err := drav1.NewDRAPluginClient(conn).NodePrepareResources(ctx, &drav1.NodePrepareResourcesRequest{Claims: cl})
		if err != nil {
			die(1, "NodePrepareResources: %v", err)
		}
		emit(r)
	case *version == "v1" && verb == "unprepare":
		r, err := drav1.NewDRAPluginClient(conn).NodeUnprepareResources(ctx, &drav1.NodeUnprepareResourcesRequest{Claims: cl})
		if err != nil {
			die(1, "NodeUnprepareResources: %v", err)
		}
		emit(r)
	case *version == "v1beta1" && verb == "prepare":
		var b []*drav1beta1.Claim
		for _, c := range cl {
			b = append(b, &drav1beta1.Claim{Namespace: c.Namespace, Name: c.Name, Uid: c.Uid})
		}
		r, err := drav1beta1.NewDRAPluginClient(conn).NodePrepareResources(ctx, &drav1beta1.NodePrepareResourcesRequest{Claims: b})
		if err != nil {
			die(1, "NodePrepareResources (v1beta1): %v", err)
		}
		emit(r)
	default:
		die(2, "unknown call %s %s", *version, verb)
	}
}

func main() {
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	args := flag.Args()
	if len(args) == 0 {
		die(2, "usage: call -reg SOCKET register | call -dra SOCKET prepare|unprepare NS/NAME/UID...")
	}
	switch args[0] {
	case "register":
		register(ctx)
	case "prepare", "unprepare":
		if len(args) < 2 {
			die(2, "%s needs at least one claim", args[0])
		}
		dra(ctx, args[0], claims(args[1:]))
	default:
		die(2, "unknown verb %q", args[0])
	}
}
