// Command client drives slicer's DRA plugin (src/kubelet, served by
// test/kubelet/dra_fixture) with the kubelet's own Go client packages:
// k8s.io/kubelet v0.37.2 pkg/apis/pluginregistration/v1, pkg/apis/dra/v1 and
// pkg/apis/dra/v1beta1 on grpc-go. It dials as the kubelet does: the
// registration socket like pkg/kubelet/pluginmanager/operationexecutor
// (grpc.DialContext on the path, insecure, WithBlock, a unix dialer), the DRA
// socket like pkg/kubelet/cm/dra/plugin (grpc.NewClient("unix:"+endpoint),
// insecure, authority localhost). Any mismatch exits 1 with a message.
//
//	client -reg REG_SOCKET -dra DRA_SOCKET [-driver NAME] [-slow DURATION]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	drav1 "k8s.io/kubelet/pkg/apis/dra/v1"
	drav1beta1 "k8s.io/kubelet/pkg/apis/dra/v1beta1"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

var (
	regPath = flag.String("reg", "", "registration socket")
	draPath = flag.String("dra", "", "DRA socket")
	driver  = flag.String("driver", "mig.slicer.dev", "driver name")
	slow    = flag.Duration("slow", 1500*time.Millisecond, "the fixture's delay for slow-* claims")
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func ok(name string) { fmt.Printf("ok: %s\n", name) }

func check(err error, what string) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

// dialRegistration dials like the kubelet's plugin watcher
// (operation_generator.go: dial).
func dialRegistration(ctx context.Context) *grpc.ClientConn {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	//nolint:staticcheck // the kubelet still uses DialContext here
	c, err := grpc.DialContext(ctx, *regPath,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithBlock(),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", addr)
		}),
	)
	check(err, "dialing the registration socket")
	return c
}

// servicesSupportedByKubelet as in kubernetes v1.37.2
// pkg/kubelet/cm/dra/plugin/dra_plugin.go; the kubelet takes the first of the
// plugin's list that it supports (dra_plugin_manager.go:validateSupportedServices).
var servicesSupportedByKubelet = []string{drav1.DRAPluginService, drav1beta1.DRAPluginService}

func testRegistration(ctx context.Context) {
	conn := dialRegistration(ctx)
	defer conn.Close()
	client := registerapi.NewRegistrationClient(conn)
	cctx, cancel := context.WithTimeout(ctx, time.Second) // the watcher's GetInfo timeout
	defer cancel()
	info, err := client.GetInfo(cctx, &registerapi.InfoRequest{})
	check(err, "GetInfo")
	if info.Type != registerapi.DRAPlugin || info.Name != *driver || info.Endpoint != *draPath {
		fail("GetInfo: got type %q name %q endpoint %q", info.Type, info.Name, info.Endpoint)
	}
	want := []string{drav1.DRAPluginService, drav1beta1.DRAPluginService}
	if !slices.Equal(info.SupportedVersions, want) {
		fail("GetInfo: supported_versions %q, want %q", info.SupportedVersions, want)
	}
	chosen := ""
	for _, s := range info.SupportedVersions {
		if slices.Contains(servicesSupportedByKubelet, s) {
			chosen = s
			break
		}
	}
	if chosen != drav1.DRAPluginService {
		fail("the kubelet would choose %q", chosen)
	}
	ok("registration GetInfo (type, name, endpoint, versions; the kubelet picks v1)")

	_, err = client.NotifyRegistrationStatus(ctx, &registerapi.RegistrationStatus{
		PluginRegistered: false, Error: "refused: ünï%code\n"})
	check(err, "NotifyRegistrationStatus(false)")
	probe(ctx, "registered=0 regerr=refused: ünï%code\n")
	_, err = client.NotifyRegistrationStatus(ctx, &registerapi.RegistrationStatus{PluginRegistered: true})
	check(err, "NotifyRegistrationStatus(true)")
	probe(ctx, "registered=1 regerr=")
	ok("registration NotifyRegistrationStatus reaches the agent (false with text, then true)")
}

var draConn *grpc.ClientConn

// dialDRA creates the connection like the kubelet's DRA plugin manager.
func dialDRA() {
	var err error
	draConn, err = grpc.NewClient("unix:"+*draPath, grpc.WithTransportCredentials(insecure.NewCredentials()))
	check(err, "grpc.NewClient for the DRA socket")
}

type claim struct{ ns, uid, name string }

func mkClaims(prefix string, names ...string) []claim {
	out := make([]claim, len(names))
	for i, n := range names {
		out[i] = claim{"ns-" + prefix, fmt.Sprintf("uid-%s-%d-%s", prefix, i, n), n}
	}
	return out
}

// result is one claim's answer, the same for both versions.
type result struct {
	err     string
	devices []*drav1.Device
}

func prepare(ctx context.Context, version string, cs []claim) (map[string]result, error) {
	out := map[string]result{}
	if version == "v1beta1" {
		req := &drav1beta1.NodePrepareResourcesRequest{}
		for _, c := range cs {
			req.Claims = append(req.Claims, &drav1beta1.Claim{Namespace: c.ns, Uid: c.uid, Name: c.name})
		}
		resp, err := drav1beta1.NewDRAPluginClient(draConn).NodePrepareResources(ctx, req)
		if err != nil {
			return nil, err
		}
		for uid, r := range resp.Claims {
			var devs []*drav1.Device
			for _, d := range r.Devices {
				devs = append(devs, &drav1.Device{RequestNames: d.RequestNames, PoolName: d.PoolName,
					DeviceName: d.DeviceName, CdiDeviceIds: d.CdiDeviceIds})
			}
			out[uid] = result{r.Error, devs}
		}
		return out, nil
	}
	req := &drav1.NodePrepareResourcesRequest{}
	for _, c := range cs {
		req.Claims = append(req.Claims, &drav1.Claim{Namespace: c.ns, Uid: c.uid, Name: c.name})
	}
	resp, err := drav1.NewDRAPluginClient(draConn).NodePrepareResources(ctx, req)
	if err != nil {
		return nil, err
	}
	for uid, r := range resp.Claims {
		if len(r.Devices) > 0 && r.Devices[0].ShareId != nil {
			return nil, fmt.Errorf("claim %s: share_id set", uid)
		}
		out[uid] = result{r.Error, r.Devices}
	}
	return out, nil
}

func unprepare(ctx context.Context, version string, cs []claim) (map[string]string, error) {
	out := map[string]string{}
	if version == "v1beta1" {
		req := &drav1beta1.NodeUnprepareResourcesRequest{}
		for _, c := range cs {
			req.Claims = append(req.Claims, &drav1beta1.Claim{Namespace: c.ns, Uid: c.uid, Name: c.name})
		}
		resp, err := drav1beta1.NewDRAPluginClient(draConn).NodeUnprepareResources(ctx, req)
		if err != nil {
			return nil, err
		}
		for uid, r := range resp.Claims {
			out[uid] = r.Error
		}
		return out, nil
	}
	req := &drav1.NodeUnprepareResourcesRequest{}
	for _, c := range cs {
		req.Claims = append(req.Claims, &drav1.Claim{Namespace: c.ns, Uid: c.uid, Name: c.name})
	}
	resp, err := drav1.NewDRAPluginClient(draConn).NodeUnprepareResources(ctx, req)
	if err != nil {
		return nil, err
	}
	for uid, r := range resp.Claims {
		out[uid] = r.Error
	}
	return out, nil
}

func refusal(c claim) string { return fmt.Sprintf("claim %s/%s refused", c.ns, c.name) }

// verifyPrepared checks the fixture's rules for every claim, and that the
// response holds exactly the requested claims.
func verifyPrepared(what string, cs []claim, got map[string]result) error {
	if len(got) != len(cs) {
		return fmt.Errorf("%s: %d answers for %d claims", what, len(got), len(cs))
	}
	for _, c := range cs {
		r, found := got[c.uid]
		if !found {
			return fmt.Errorf("%s: no answer for claim %s", what, c.uid)
		}
		if strings.HasPrefix(c.name, "bad-") {
			if r.err != refusal(c) || len(r.devices) != 0 {
				return fmt.Errorf("%s: claim %s: got error %q devices %d", what, c.name, r.err, len(r.devices))
			}
			continue
		}
		if r.err != "" || len(r.devices) != 1 {
			return fmt.Errorf("%s: claim %s: got error %q devices %d", what, c.name, r.err, len(r.devices))
		}
		d := r.devices[0]
		if !slices.Equal(d.RequestNames, []string{"gpu"}) || d.PoolName != "node-a" ||
			d.DeviceName != "mig-"+c.name || !slices.Equal(d.CdiDeviceIds, []string{"mig.slicer.dev/mig=" + c.uid}) {
			return fmt.Errorf("%s: claim %s: device %v", what, c.name, d)
		}
	}
	return nil
}

func verifyUnprepared(what string, cs []claim, got map[string]string) error {
	if len(got) != len(cs) {
		return fmt.Errorf("%s: %d answers for %d claims", what, len(got), len(cs))
	}
	for _, c := range cs {
		e, found := got[c.uid]
		if !found {
			return fmt.Errorf("%s: no answer for claim %s", what, c.uid)
		}
		want := ""
		if strings.HasPrefix(c.name, "bad-") {
			want = refusal(c)
		}
		if e != want {
			return fmt.Errorf("%s: claim %s: error %q, want %q", what, c.name, e, want)
		}
	}
	return nil
}

// probe asks the fixture for its counters (a Prepare of a claim named
// "probe", answered with an error text) and checks they contain `want`.
func probe(ctx context.Context, want string) string {
	cs := mkClaims("probe", "probe")
	got, err := prepare(ctx, "v1", cs)
	check(err, "probe")
	text := got[cs[0].uid].err
	if !strings.Contains(text, want) {
		fail("probe: %q does not contain %q", text, want)
	}
	return text
}

func testBasic(ctx context.Context) {
	for _, v := range []string{"v1", "v1beta1"} {
		cs := mkClaims("basic-"+v, "a", "b", "bad-c", "d")
		got, err := prepare(ctx, v, cs)
		check(err, v+" NodePrepareResources")
		check(verifyPrepared(v+" NodePrepareResources", cs, got), "")
		un, err := unprepare(ctx, v, cs)
		check(err, v+" NodeUnprepareResources")
		check(verifyUnprepared(v+" NodeUnprepareResources", cs, un), "")
		empty, err := prepare(ctx, v, nil)
		check(err, v+" empty NodePrepareResources")
		if len(empty) != 0 {
			fail("%s: empty request answered with %d claims", v, len(empty))
		}
		ok(v + " NodePrepareResources/NodeUnprepareResources, 4 claims (one refused), and an empty call")
	}
}

func testConcurrent(ctx context.Context) {
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := []string{"v1", "v1beta1"}[i%2]
			names := []string{"x", "bad-y", "z"}
			if i%4 == 0 {
				names = append(names, "slow-w")
			}
			cs := mkClaims(fmt.Sprintf("conc%d", i), names...)
			if i%3 == 0 {
				got, err := unprepare(ctx, v, cs)
				if err == nil {
					err = verifyUnprepared("concurrent unprepare", cs, got)
				}
				if err != nil {
					errs <- err
				}
				return
			}
			got, err := prepare(ctx, v, cs)
			if err == nil {
				err = verifyPrepared("concurrent prepare", cs, got)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fail("%v", err)
	}
	ok("40 concurrent calls on one connection, v1 and v1beta1, some answered late from a timer")
}

func testCancelled(ctx context.Context) {
	before := probe(ctx, "dead=")
	// A deadline shorter than the fixture's delay: grpc-timeout is sent, the
	// client gives up, the fixture answers later into a dead call.
	dctx, cancel := context.WithTimeout(ctx, *slow*3/10)
	_, err := prepare(dctx, "v1", mkClaims("deadline", "slow-a", "b"))
	cancel()
	if status.Code(err) != codes.DeadlineExceeded {
		fail("a call past its deadline: got %v, want DeadlineExceeded", err)
	}
	// An explicit cancel (RST_STREAM CANCEL) of a v1beta1 unprepare.
	cctx, cancel2 := context.WithCancel(ctx)
	go func() { time.Sleep(*slow * 3 / 10); cancel2() }()
	_, err = unprepare(cctx, "v1beta1", mkClaims("cancel", "slow-a"))
	if status.Code(err) != codes.Canceled {
		fail("a cancelled call: got %v, want Canceled", err)
	}
	time.Sleep(2 * *slow) // both late answers are due by now, with room for a loaded machine
	after := probe(ctx, "dead=")
	var d0, d1 int
	fmt.Sscanf(before, "dead=%d", &d0)
	fmt.Sscanf(after, "dead=%d", &d1)
	if d1-d0 != 2 {
		fail("dead answers went from %d to %d, want +2 (one per late claim)", d0, d1)
	}
	// The connection still serves.
	cs := mkClaims("aftercancel", "a")
	got, err := prepare(ctx, "v1", cs)
	check(err, "prepare after cancellations")
	check(verifyPrepared("prepare after cancellations", cs, got), "")
	ok("a call past its grpc-timeout and a cancelled call: late answers dropped, the plugin goes on")
}

func testLarge(ctx context.Context) {
	names := make([]string, 10000)
	for i := range names {
		names[i] = fmt.Sprintf("claim-%05d-%s", i, strings.Repeat("n", 20))
	}
	cs := mkClaims("large", names...)
	got, err := prepare(ctx, "v1", cs)
	check(err, "a 10000-claim NodePrepareResources")
	check(verifyPrepared("a 10000-claim NodePrepareResources", cs, got), "")
	ok("10000 claims in one call (request and answer span many DATA frames and window updates)")

	big := mkClaims("toolarge", strings.Repeat("x", 5<<20))
	_, err = prepare(ctx, "v1beta1", big)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(status.Convert(err).Message(), "exceeds the limit") {
		fail("a 5 MiB request: got %v, want ResourceExhausted", err)
	}
	ok("a 5 MiB request is refused with RESOURCE_EXHAUSTED")
}

func testUnknown(ctx context.Context) {
	for _, m := range []string{
		"/k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin/NodeReticulateSplines",
		"/pluginregistration.Registration/GetInfo", // on the DRA socket
		"/k8s.io.kubelet.pkg.apis.dra.v1alpha4.Node/NodePrepareResources",
	} {
		err := draConn.Invoke(ctx, m, &drav1.NodePrepareResourcesRequest{}, &drav1.NodePrepareResourcesResponse{})
		if status.Code(err) != codes.Unimplemented || !strings.Contains(status.Convert(err).Message(), m) {
			fail("unknown method %s: got %v, want Unimplemented naming it", m, err)
		}
	}
	ok("unknown methods answer UNIMPLEMENTED with the path in grpc-message")
}

func main() {
	flag.Parse()
	if *regPath == "" || *draPath == "" {
		fmt.Fprintln(os.Stderr, "usage: client -reg SOCKET -dra SOCKET")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dialDRA()
	defer draConn.Close()
	testRegistration(ctx)
	testBasic(ctx)
	testConcurrent(ctx)
	testCancelled(ctx)
	testLarge(ctx)
	testUnknown(ctx)
	testRegistration(ctx) // still serving after all of it
	if err := ctx.Err(); err != nil && !errors.Is(err, context.Canceled) {
		fail("%v", err)
	}
	fmt.Println("PASS")
}
