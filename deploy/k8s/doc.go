// Package k8s holds no code: deploy/k8s is the kustomize base and overlays that run
// Stampede on Kubernetes (see README.md there). Its tests render every kustomization
// with sigs.k8s.io/kustomize/api, decode each object strictly into its k8s.io/api
// type, check the manifests against the flags the real master and worker binaries
// accept, and start those binaries on loopback with the configuration the manifests
// give them.
package k8s
