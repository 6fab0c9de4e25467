package telemetry

import (
	"errors"
	"fmt"
	"strconv"
)

// nvmlLibrary is the part of NVML that GPUSource calls, and nothing more. In cgo
// builds on Linux nvmlBinding adapts github.com/NVIDIA/go-nvml to it; tests use a
// fake. Errors are nil for NVML_SUCCESS; the conditions GPUSource branches on are
// errNVMLLibraryNotFound, errNVMLDriverNotLoaded and errNVMLNotSupported.
type nvmlLibrary interface {
	Init() error
	Shutdown() error
	// LookupSymbol reports whether the loaded library exports the C function name.
	// Calling a function the library lacks kills the process ("symbol lookup
	// error", not a recoverable panic), so every optional call is checked first.
	LookupSymbol(name string) error
	DeviceCount() (int, error)
	Device(index int) (nvmlDevice, error)
}

// nvmlDevice is the part of an NVML device handle that GPUSource calls.
type nvmlDevice interface {
	Name() (string, error)
	UUID() (string, error)
	UtilizationRates() (gpu, mem uint32, err error) // percent
	MemoryInfo() (used, total uint64, err error)    // bytes
	PowerUsage() (milliwatts uint32, err error)
	EnforcedPowerLimit() (milliwatts uint32, err error)
	Temperature() (celsius uint32, err error) // the GPU die sensor
	ClockInfo(c nvmlClock) (mhz uint32, err error)
	CurrentClocksEventReasons() (uint64, error)    // NVML 12.2 and later
	CurrentClocksThrottleReasons() (uint64, error) // its older name
	ComputeRunningProcesses() ([]GPUProcess, error)
}

// nvmlClock names the clock domains GPUSource reads.
type nvmlClock int

const (
	clockSM nvmlClock = iota
	clockMem
)

var (
	errNVMLLibraryNotFound = errors.New("NVML library not found")
	errNVMLDriverNotLoaded = errors.New("NVIDIA driver not loaded")
	errNVMLNotSupported    = errors.New("not supported")
)

// gpuField is one figure of a GPUSample that its own NVML call reads.
type gpuField int

const (
	fieldUtil gpuField = iota
	fieldMemory
	fieldPower
	fieldPowerLimit
	fieldTemp
	fieldSMClock
	fieldMemClock
	fieldThrottle
	fieldProcesses
	numFields
)

// gpuFields names each field (for Notice keys) and the C function that reads it.
var gpuFields = [numFields]struct{ name, symbol string }{
	fieldUtil:       {"util", "nvmlDeviceGetUtilizationRates"},
	fieldMemory:     {"memory", "nvmlDeviceGetMemoryInfo"},
	fieldPower:      {"power", "nvmlDeviceGetPowerUsage"},
	fieldPowerLimit: {"power_limit", "nvmlDeviceGetEnforcedPowerLimit"},
	fieldTemp:       {"temperature", "nvmlDeviceGetTemperature"},
	fieldSMClock:    {"sm_clock", "nvmlDeviceGetClockInfo"},
	fieldMemClock:   {"mem_clock", "nvmlDeviceGetClockInfo"},
	fieldThrottle:   {"throttle", "nvmlDeviceGetCurrentClocksThrottleReasons"},
	fieldProcesses:  {"processes", "nvmlDeviceGetComputeRunningProcesses"},
}

const symbolClocksEventReasons = "nvmlDeviceGetCurrentClocksEventReasons"

type gpuState int

const (
	gpuNew gpuState = iota // NVML not tried yet
	gpuReady
	gpuOff // no GPU data from now on; status says why
)

// GPUSource samples NVIDIA GPUs through NVML, loaded at run time. NVML is
// initialised once, on the first Sample; without the library, the driver or a
// device, GPUSource reports why in its status and never tries again. A figure that
// fails on one device stays 0 (and a figure the device does not support is not
// asked for again); each is reported once through Notices. Names and UUIDs are read
// once. GPUSource never panics on NVML's account. It is not safe for concurrent use
// (Sampler serialises it).
type GPUSource struct {
	open     func() (nvmlLibrary, error)
	lib      nvmlLibrary // non-nil while NVML is initialised
	state    gpuState
	status   string
	devices  []*gpuDevice
	symbols  [numFields]bool // the library has the field's function
	byEvents bool            // read throttle reasons with the NVML 12.2 call
	fails    failures
}

// gpuDevice is an opened device and what is known about it for good.
type gpuDevice struct {
	index       int
	key         string // "gpu0"
	dev         nvmlDevice
	name, uuid  string
	unsupported [numFields]bool
}

// NewGPUSource returns a GPUSource that loads the NVML shared library at path on
// first use ("" for libnvidia-ml.so.1 from the dynamic loader's path). Nothing is
// loaded until the first Sample or Status.
func NewGPUSource(path string) *GPUSource {
	return newGPUSource(func() (nvmlLibrary, error) { return openNVML(path) })
}

func newGPUSource(open func() (nvmlLibrary, error)) *GPUSource {
	return &GPUSource{open: open}
}

// Status is "" while GPU data is complete, or why it is not ("no GPU: NVML library
// not found", ...). It initialises NVML if no Sample has yet.
func (g *GPUSource) Status() string {
	if g.state == gpuNew {
		g.start()
	}
	return g.status
}

// Sample reads every opened device. It returns no samples and a status saying why
// when there is no GPU data.
func (g *GPUSource) Sample() ([]GPUSample, string) {
	if g.state == gpuNew {
		g.start()
	}
	if g.state != gpuReady {
		return nil, g.status
	}
	out, err := g.sampleDevices()
	if err != nil {
		g.stop("GPU sampling stopped: " + err.Error())
		return nil, g.status
	}
	return out, g.status
}

// Notices returns what could not be read, once per kind of failure, since the
// previous call. The first "no GPU" status is one of them, with key "gpu".
func (g *GPUSource) Notices() []Notice { return g.fails.notices() }

// Close shuts NVML down if it was initialised. It is idempotent; Samples after it
// report no GPU data.
func (g *GPUSource) Close() error {
	if g.state == gpuOff && g.lib == nil {
		return nil
	}
	err := g.shutdown()
	g.state, g.status, g.devices = gpuOff, "GPU sampling closed", nil
	return err
}

// start initialises NVML and opens every device, or turns the source off with the
// reason as status.
func (g *GPUSource) start() {
	defer func() {
		if r := recover(); r != nil {
			g.stop(fmt.Sprintf("no GPU: NVML panicked during initialisation: %v", r))
		}
	}()
	lib, err := g.open()
	if err != nil {
		g.stop("no GPU: " + err.Error())
		return
	}
	if err := lib.Init(); err != nil {
		switch {
		case errors.Is(err, errNVMLLibraryNotFound), errors.Is(err, errNVMLDriverNotLoaded):
			g.stop("no GPU: " + err.Error())
		default:
			g.stop("no GPU: NVML init: " + err.Error())
		}
		return
	}
	g.lib = lib
	n, err := lib.DeviceCount()
	if err != nil {
		g.stop("no GPU: NVML device count: " + err.Error())
		return
	}
	if n <= 0 {
		g.stop("no GPU: no NVIDIA device found")
		return
	}
	for f := range numFields {
		g.symbols[f] = lib.LookupSymbol(gpuFields[f].symbol) == nil
	}
	if lib.LookupSymbol(symbolClocksEventReasons) == nil {
		g.symbols[fieldThrottle], g.byEvents = true, true
	}
	var failed []string
	for i := range n {
		key := "gpu" + strconv.Itoa(i)
		dev, err := lib.Device(i)
		if err != nil {
			g.fails.add(key, key+": cannot open device: "+err.Error())
			failed = append(failed, key+": "+err.Error())
			continue
		}
		d := &gpuDevice{index: i, key: key, dev: dev}
		d.name = g.static(d, "name", "nvmlDeviceGetName", dev.Name)
		d.uuid = g.static(d, "uuid", "nvmlDeviceGetUUID", dev.UUID)
		g.devices = append(g.devices, d)
	}
	switch {
	case len(g.devices) == 0:
		g.stop(fmt.Sprintf("no GPU: none of %d NVIDIA devices could be opened (%s)", n, failed[0]))
		return
	case len(failed) > 0:
		g.status = fmt.Sprintf("%d of %d GPUs sampled; %s", len(g.devices), n, failed[0])
	}
	for f := range numFields {
		if !g.symbols[f] {
			g.fails.add("gpu."+gpuFields[f].name, fmt.Sprintf("gpu %s: %s missing from the NVML library; left 0", gpuFields[f].name, gpuFields[f].symbol))
		}
	}
	g.state = gpuReady
}

// static reads a string that does not change while the process runs.
func (g *GPUSource) static(d *gpuDevice, name, symbol string, read func() (string, error)) string {
	if g.lib.LookupSymbol(symbol) != nil {
		g.fails.add(d.key+"."+name, fmt.Sprintf("%s %s: %s missing from the NVML library", d.key, name, symbol))
		return ""
	}
	s, err := read()
	if err != nil {
		g.fails.add(d.key+"."+name, fmt.Sprintf("%s %s: %v", d.key, name, err))
		return ""
	}
	return s
}

// stop turns the source off for good with status as the reason, reported once.
func (g *GPUSource) stop(status string) {
	_ = g.shutdown() // a failed shutdown cannot be helped; the status says what went wrong first
	g.state, g.status, g.devices = gpuOff, status, nil
	g.fails.add("gpu", status)
}

func (g *GPUSource) shutdown() (err error) {
	if g.lib == nil {
		return nil
	}
	lib := g.lib
	g.lib = nil
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("NVML shutdown panicked: %v", r)
		}
	}()
	if err := lib.Shutdown(); err != nil {
		return fmt.Errorf("NVML shutdown: %w", err)
	}
	return nil
}

// sampleDevices reads every device; a panic inside NVML's bindings comes back as
// an error.
func (g *GPUSource) sampleDevices() (out []GPUSample, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("NVML panicked: %v", r)
		}
	}()
	out = make([]GPUSample, len(g.devices))
	for i, d := range g.devices {
		g.sampleDevice(d, &out[i])
	}
	return out, nil
}

func (g *GPUSource) sampleDevice(d *gpuDevice, s *GPUSample) {
	s.Index, s.Name, s.UUID = d.index, d.name, d.uuid
	if g.want(d, fieldUtil) {
		gpu, mem, err := d.dev.UtilizationRates()
		if g.ok(d, fieldUtil, err) {
			s.UtilGPU, s.UtilMem = float64(gpu), float64(mem)
		}
	}
	if g.want(d, fieldMemory) {
		used, total, err := d.dev.MemoryInfo()
		if g.ok(d, fieldMemory, err) {
			s.MemUsed, s.MemTotal = used, total
		}
	}
	if g.want(d, fieldPower) {
		mw, err := d.dev.PowerUsage()
		if g.ok(d, fieldPower, err) {
			s.PowerW = float64(mw) / 1000
		}
	}
	if g.want(d, fieldPowerLimit) {
		mw, err := d.dev.EnforcedPowerLimit()
		if g.ok(d, fieldPowerLimit, err) {
			s.PowerLimitW = float64(mw) / 1000
		}
	}
	if g.want(d, fieldTemp) {
		c, err := d.dev.Temperature()
		if g.ok(d, fieldTemp, err) {
			s.TempC = float64(c)
		}
	}
	if g.want(d, fieldSMClock) {
		mhz, err := d.dev.ClockInfo(clockSM)
		if g.ok(d, fieldSMClock, err) {
			s.SMClockMHz = mhz
		}
	}
	if g.want(d, fieldMemClock) {
		mhz, err := d.dev.ClockInfo(clockMem)
		if g.ok(d, fieldMemClock, err) {
			s.MemClockMHz = mhz
		}
	}
	if g.want(d, fieldThrottle) {
		read := d.dev.CurrentClocksThrottleReasons
		if g.byEvents {
			read = d.dev.CurrentClocksEventReasons
		}
		mask, err := read()
		if g.ok(d, fieldThrottle, err) {
			s.Throttle = throttleReasons(mask)
		}
	}
	if g.want(d, fieldProcesses) {
		procs, err := d.dev.ComputeRunningProcesses()
		if g.ok(d, fieldProcesses, err) && len(procs) > 0 {
			s.Processes = procs
		}
	}
}

// want reports whether field is worth asking d for.
func (g *GPUSource) want(d *gpuDevice, f gpuField) bool {
	return g.symbols[f] && !d.unsupported[f]
}

// ok records err for field f of d and reports whether the value is good. A field
// the device does not support is not asked for again.
func (g *GPUSource) ok(d *gpuDevice, f gpuField, err error) bool {
	if err == nil {
		return true
	}
	key := d.key + "." + gpuFields[f].name
	if errors.Is(err, errNVMLNotSupported) {
		d.unsupported[f] = true
		g.fails.add(key, fmt.Sprintf("%s %s: not supported by the device; left 0", d.key, gpuFields[f].name))
		return false
	}
	g.fails.add(key, fmt.Sprintf("%s %s: %v; left 0 while it fails", d.key, gpuFields[f].name, err))
	return false
}

// throttleNames are NVML's clocks event reasons, by bit.
var throttleNames = [...]string{
	"gpu_idle",                    // 0x1
	"applications_clocks_setting", // 0x2
	"sw_power_cap",                // 0x4
	"hw_slowdown",                 // 0x8
	"sync_boost",                  // 0x10
	"sw_thermal_slowdown",         // 0x20
	"hw_thermal_slowdown",         // 0x40
	"hw_power_brake_slowdown",     // 0x80
	"display_clock_setting",       // 0x100
}

// throttleReasons names the bits set in an NVML clocks event reasons mask; a bit
// this code does not know is named by its value ("0x400").
func throttleReasons(mask uint64) []string {
	if mask == 0 {
		return nil
	}
	var out []string
	for bit := range 64 {
		if mask&(1<<bit) == 0 {
			continue
		}
		if bit < len(throttleNames) {
			out = append(out, throttleNames[bit])
		} else {
			out = append(out, "0x"+strconv.FormatUint(1<<bit, 16))
		}
	}
	return out
}
