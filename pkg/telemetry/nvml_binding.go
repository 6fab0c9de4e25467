//go:build linux && cgo

package telemetry

import (
	"errors"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// openNVML prepares go-nvml to load the library at path ("" for
// libnvidia-ml.so.1); nothing is loaded before Init. go-nvml dlopens the library
// at run time, so the binary starts, and Init fails cleanly, where it is absent.
func openNVML(path string) (nvmlLibrary, error) {
	var opts []nvml.LibraryOption
	if path != "" {
		opts = append(opts, nvml.WithLibraryPath(path))
	}
	return nvmlBinding{lib: nvml.New(opts...)}, nil
}

// nvmlBinding adapts go-nvml to nvmlLibrary, one call to one call.
type nvmlBinding struct{ lib nvml.Interface }

var (
	_ nvmlLibrary = nvmlBinding{}
	_ nvmlDevice  = nvmlDeviceBinding{}
)

func (b nvmlBinding) Init() error     { return nvmlError(b.lib.Init()) }
func (b nvmlBinding) Shutdown() error { return nvmlError(b.lib.Shutdown()) }

func (b nvmlBinding) LookupSymbol(name string) error {
	return b.lib.Extensions().LookupSymbol(name)
}

func (b nvmlBinding) DeviceCount() (int, error) {
	n, r := b.lib.DeviceGetCount()
	return n, nvmlError(r)
}

func (b nvmlBinding) Device(index int) (nvmlDevice, error) {
	d, r := b.lib.DeviceGetHandleByIndex(index)
	if err := nvmlError(r); err != nil {
		return nil, err
	}
	return nvmlDeviceBinding{d}, nil
}

// nvmlDeviceBinding adapts a go-nvml device handle to nvmlDevice.
type nvmlDeviceBinding struct{ d nvml.Device }

func (b nvmlDeviceBinding) Name() (string, error) {
	s, r := b.d.GetName()
	return s, nvmlError(r)
}

func (b nvmlDeviceBinding) UUID() (string, error) {
	s, r := b.d.GetUUID()
	return s, nvmlError(r)
}

func (b nvmlDeviceBinding) UtilizationRates() (gpu, mem uint32, err error) {
	u, r := b.d.GetUtilizationRates()
	return u.Gpu, u.Memory, nvmlError(r)
}

func (b nvmlDeviceBinding) MemoryInfo() (used, total uint64, err error) {
	m, r := b.d.GetMemoryInfo()
	return m.Used, m.Total, nvmlError(r)
}

func (b nvmlDeviceBinding) PowerUsage() (uint32, error) {
	mw, r := b.d.GetPowerUsage()
	return mw, nvmlError(r)
}

func (b nvmlDeviceBinding) EnforcedPowerLimit() (uint32, error) {
	mw, r := b.d.GetEnforcedPowerLimit()
	return mw, nvmlError(r)
}

func (b nvmlDeviceBinding) Temperature() (uint32, error) {
	c, r := b.d.GetTemperature(nvml.TEMPERATURE_GPU)
	return c, nvmlError(r)
}

func (b nvmlDeviceBinding) ClockInfo(c nvmlClock) (uint32, error) {
	t := nvml.CLOCK_SM
	if c == clockMem {
		t = nvml.CLOCK_MEM
	}
	mhz, r := b.d.GetClockInfo(t)
	return mhz, nvmlError(r)
}

func (b nvmlDeviceBinding) CurrentClocksEventReasons() (uint64, error) {
	m, r := b.d.GetCurrentClocksEventReasons()
	return m, nvmlError(r)
}

func (b nvmlDeviceBinding) CurrentClocksThrottleReasons() (uint64, error) {
	m, r := b.d.GetCurrentClocksThrottleReasons()
	return m, nvmlError(r)
}

func (b nvmlDeviceBinding) ComputeRunningProcesses() ([]GPUProcess, error) {
	ps, r := b.d.GetComputeRunningProcesses()
	if err := nvmlError(r); err != nil {
		return nil, err
	}
	out := make([]GPUProcess, len(ps))
	for i, p := range ps {
		out[i] = GPUProcess{PID: p.Pid, UsedMemory: p.UsedGpuMemory}
		if p.UsedGpuMemory == ^uint64(0) { // NVML_VALUE_NOT_AVAILABLE
			out[i].UsedMemory = 0
		}
	}
	return out, nil
}

// nvmlError maps an NVML return code to nil, one of the sentinels GPUSource
// branches on, or an error carrying NVML's text.
func nvmlError(r nvml.Return) error {
	switch r {
	case nvml.SUCCESS:
		return nil
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return errNVMLLibraryNotFound
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return errNVMLDriverNotLoaded
	case nvml.ERROR_NOT_SUPPORTED, nvml.ERROR_FUNCTION_NOT_FOUND:
		return errNVMLNotSupported
	default:
		return errors.New(r.Error())
	}
}
