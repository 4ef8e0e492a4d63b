// Test driver: validates slicer's CDI specs with the CDI project's own Go
// library (tags.cncf.io/container-device-interface), the code container
// runtimes (containerd, CRI-O, podman) use to load specs and inject devices.
module slicer.test/cdi

go 1.26

require (
	github.com/opencontainers/runtime-spec v1.3.0
	tags.cncf.io/container-device-interface v1.1.2
)

require (
	github.com/fsnotify/fsnotify v1.7.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.19.0 // indirect
	tags.cncf.io/container-device-interface/specs-go v1.1.1 // indirect
)
