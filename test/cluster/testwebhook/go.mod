// A tiny mutating admission webhook used by the cluster acceptance test. Standard
// library only.
module slicer.dev/test/cluster/testwebhook

go 1.26.0
