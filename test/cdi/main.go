// cdicheck loads every CDI spec in one directory with the CDI library's cache,
// fails on any spec or directory error, resolves the given fully qualified
// device names, injects them into an empty OCI spec and prints what the
// container would get, as JSON on stdout:
//
//	{"devices": ["mig.slicer.dev/mig=a", ...],          // every device the cache knows
//	 "deviceNodes": [{"path", "hostPath"?, "type", "major", "minor"}],
//	 "mounts": [{"source", "destination", "options"}],
//	 "hooks": [{"stage", "path", "args"}],
//	 "env": ["K=V", ...]}
//
// usage: cdicheck SPEC_DIR QUALIFIED_NAME...
// Exit status: 0 ok, 1 a spec error or an unresolved device, 2 usage.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	oci "github.com/opencontainers/runtime-spec/specs-go"
	"tags.cncf.io/container-device-interface/pkg/cdi"
)

type node struct {
	Path  string `json:"path"`
	Type  string `json:"type"`
	Major int64  `json:"major"`
	Minor int64  `json:"minor"`
}

type mount struct {
	Source      string   `json:"source"`
	Destination string   `json:"destination"`
	Options     []string `json:"options"`
}

type hook struct {
	Stage string   `json:"stage"`
	Path  string   `json:"path"`
	Args  []string `json:"args"`
	Env   []string `json:"env"`
}

type result struct {
	Devices     []string `json:"devices"`
	DeviceNodes []node   `json:"deviceNodes"`
	Cgroup      []string `json:"cgroupAllow"`
	Mounts      []mount  `json:"mounts"`
	Hooks       []hook   `json:"hooks"`
	Env         []string `json:"env"`
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "cdicheck: "+format+"\n", args...)
	os.Exit(code)
}

func load(dir string) *cdi.Cache {
	cache, err := cdi.NewCache(cdi.WithSpecDirs(dir), cdi.WithAutoRefresh(false))
	if err != nil {
		fail(1, "creating the cache: %v", err)
	}
	if err := cache.Refresh(); err != nil {
		fail(1, "loading %s: %v", dir, err)
	}
	for d, err := range cache.GetSpecDirErrors() {
		fail(1, "spec dir %s: %v", d, err)
	}
	for path, errs := range cache.GetErrors() {
		if len(errs) > 0 {
			fail(1, "spec %s: %v", path, errs)
		}
	}
	return cache
}

func hooksOf(h *oci.Hooks) []hook {
	out := []hook{}
	if h == nil {
		return out
	}
	stages := []struct {
		name  string
		hooks []oci.Hook
	}{
		{"prestart", h.Prestart}, //nolint:staticcheck // reported as the library fills it
		{"createRuntime", h.CreateRuntime},
		{"createContainer", h.CreateContainer},
		{"startContainer", h.StartContainer},
		{"poststart", h.Poststart},
		{"poststop", h.Poststop},
	}
	for _, s := range stages {
		for _, x := range s.hooks {
			out = append(out, hook{Stage: s.name, Path: x.Path, Args: x.Args, Env: x.Env})
		}
	}
	return out
}

func main() {
	if len(os.Args) < 3 {
		fail(2, "usage: cdicheck SPEC_DIR QUALIFIED_NAME...")
	}
	cache := load(os.Args[1])
	spec := &oci.Spec{Process: &oci.Process{}, Linux: &oci.Linux{}}
	unresolved, err := cache.InjectDevices(spec, os.Args[2:]...)
	if err != nil {
		fail(1, "injecting %v (unresolved %v): %v", os.Args[2:], unresolved, err)
	}
	res := result{Devices: cache.ListDevices(), DeviceNodes: []node{}, Cgroup: []string{},
		Mounts: []mount{}, Env: spec.Process.Env}
	sort.Strings(res.Devices)
	for _, d := range spec.Linux.Devices {
		res.DeviceNodes = append(res.DeviceNodes, node{d.Path, d.Type, d.Major, d.Minor})
	}
	if r := spec.Linux.Resources; r != nil {
		for _, d := range r.Devices {
			if d.Major != nil && d.Minor != nil {
				res.Cgroup = append(res.Cgroup,
					fmt.Sprintf("%s %d:%d %s allow=%v", d.Type, *d.Major, *d.Minor, d.Access, d.Allow))
			}
		}
	}
	for _, m := range spec.Mounts {
		res.Mounts = append(res.Mounts, mount{m.Source, m.Destination, m.Options})
	}
	res.Hooks = hooksOf(spec.Hooks)
	if res.Env == nil {
		res.Env = []string{}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(res); err != nil {
		fail(1, "writing the result: %v", err)
	}
}
