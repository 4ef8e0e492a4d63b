// testwebhook is a minimal mutating admission webhook for tests: it answers
// AdmissionReview v1 requests on HTTPS (POST /mutate) by adding the label
// slicer.dev/webhook-seen=true and the annotation slicer.dev/webhook-uid=<request
// uid> to the object, and appends one line per call to a log file. It proves that
// the API server calls a URL webhook on 127.0.0.1 for pod creation.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
)

type admissionReview struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Request    *admissionRequest  `json:"request,omitempty"`
	Response   *admissionResponse `json:"response,omitempty"`
}

type admissionRequest struct {
	UID       string           `json:"uid"`
	Kind      groupVersionKind `json:"kind"`
	Namespace string           `json:"namespace"`
	Name      string           `json:"name"`
	Operation string           `json:"operation"`
	Object    json.RawMessage  `json:"object"`
}

type groupVersionKind struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

type admissionResponse struct {
	UID       string `json:"uid"`
	Allowed   bool   `json:"allowed"`
	PatchType string `json:"patchType,omitempty"`
	Patch     []byte `json:"patch,omitempty"`
}

type objectMeta struct {
	Metadata struct {
		Name         string            `json:"name"`
		GenerateName string            `json:"generateName"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
	} `json:"metadata"`
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

func escape(key string) string {
	return strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
}

// mutate returns the JSON patch for one object.
func mutate(raw json.RawMessage, uid string) ([]byte, error) {
	var obj objectMeta
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("decode object: %w", err)
	}
	var ops []patchOp
	if obj.Metadata.Labels == nil {
		ops = append(ops, patchOp{"add", "/metadata/labels", map[string]string{}})
	}
	ops = append(ops, patchOp{"add", "/metadata/labels/" + escape("slicer.dev/webhook-seen"), "true"})
	if obj.Metadata.Annotations == nil {
		ops = append(ops, patchOp{"add", "/metadata/annotations", map[string]string{}})
	}
	ops = append(ops, patchOp{"add", "/metadata/annotations/" + escape("slicer.dev/webhook-uid"), uid})
	return json.Marshal(ops)
}

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "address to listen on (port 0 = any free port)")
	cert := flag.String("tls-cert", "", "serving certificate (PEM)")
	key := flag.String("tls-key", "", "serving key (PEM)")
	portFile := flag.String("port-file", "", "write the chosen port here once listening")
	callLog := flag.String("call-log", "", "append one line per admission call here")
	flag.Parse()
	if *cert == "" || *key == "" {
		fmt.Fprintln(os.Stderr, "testwebhook: --tls-cert and --tls-key are required")
		os.Exit(2)
	}

	var mu sync.Mutex
	var logf *os.File
	if *callLog != "" {
		f, err := os.OpenFile(*callLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			log.Fatalf("testwebhook: %v", err)
		}
		logf = f
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/mutate", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var review admissionReview
		if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
			http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
			return
		}
		req := review.Request
		resp := &admissionResponse{UID: req.UID, Allowed: true}
		patch, err := mutate(req.Object, req.UID)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp.PatchType = "JSONPatch"
		resp.Patch = patch
		if logf != nil {
			var obj objectMeta
			_ = json.Unmarshal(req.Object, &obj)
			name := obj.Metadata.Name
			if name == "" {
				name = obj.Metadata.GenerateName + "*"
			}
			mu.Lock()
			fmt.Fprintf(logf, "%s %s %s/%s uid=%s\n", req.Operation, req.Kind.Kind, req.Namespace, name, req.UID)
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(admissionReview{
			APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview", Response: resp,
		})
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("testwebhook: listen: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if *portFile != "" {
		if err := os.WriteFile(*portFile+".tmp", []byte(fmt.Sprintf("%d\n", port)), 0o644); err != nil {
			log.Fatalf("testwebhook: %v", err)
		}
		if err := os.Rename(*portFile+".tmp", *portFile); err != nil {
			log.Fatalf("testwebhook: %v", err)
		}
	}
	log.Printf("testwebhook: serving https on %s", ln.Addr())
	log.Fatal(http.ServeTLS(ln, mux, *cert, *key))
}
