//go:build !linux || !cgo

package telemetry

import "errors"

// errNVMLNotBuiltIn is why a build without cgo, or not for Linux, has no GPU
// data: go-nvml needs cgo to dlopen the library.
var errNVMLNotBuiltIn = errors.New("NVML support not built in (needs cgo on Linux)")

func openNVML(string) (nvmlLibrary, error) { return nil, errNVMLNotBuiltIn }
