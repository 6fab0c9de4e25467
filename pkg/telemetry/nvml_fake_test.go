package telemetry

import (
	"errors"
	"sync"
)

// fakeNVML is an in-memory NVML: devices with fixed readings, errors and panics
// injected per call, and a record of every call made.
type fakeNVML struct {
	initErr   error
	initPanic any
	countErr  error
	count     int // DeviceCount's answer; len(devices) when negative
	missing   map[string]bool
	devices   []*fakeGPU
	calls     *callLog
	shutdowns int
}

// fakeGPU is one device of a fakeNVML.
type fakeGPU struct {
	handleErr  error
	name, uuid string
	utilGPU    uint32
	utilMem    uint32
	memUsed    uint64
	memTotal   uint64
	powerMW    uint32
	limitMW    uint32
	tempC      uint32
	smMHz      uint32
	memMHz     uint32
	events     uint64
	throttle   uint64
	procs      []GPUProcess
	errs       map[string]error // by method name
	panics     map[string]any   // by method name
	calls      *callLog
}

// callLog counts calls by method name; shared by every fake of a test so that the
// coverage test can check that each NVML call the code makes was exercised.
type callLog struct {
	mu sync.Mutex
	n  map[string]int
}

func newCallLog() *callLog { return &callLog{n: map[string]int{}} }

func (c *callLog) add(name string) {
	c.mu.Lock()
	c.n[name]++
	c.mu.Unlock()
}

func (c *callLog) count(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}

func (f *fakeNVML) Init() error {
	f.calls.add("Init")
	if f.initPanic != nil {
		panic(f.initPanic)
	}
	return f.initErr
}

func (f *fakeNVML) Shutdown() error {
	f.calls.add("Shutdown")
	f.shutdowns++
	return nil
}

func (f *fakeNVML) LookupSymbol(name string) error {
	f.calls.add("LookupSymbol")
	if f.missing[name] {
		return errors.New("undefined symbol: " + name)
	}
	return nil
}

func (f *fakeNVML) DeviceCount() (int, error) {
	f.calls.add("DeviceCount")
	if f.countErr != nil {
		return 0, f.countErr
	}
	if f.count < 0 {
		return len(f.devices), nil
	}
	return f.count, nil
}

func (f *fakeNVML) Device(index int) (nvmlDevice, error) {
	f.calls.add("Device")
	d := f.devices[index]
	if d.handleErr != nil {
		return nil, d.handleErr
	}
	d.calls = f.calls
	return d, nil
}

// call records method and returns its injected error, after its injected panic.
func (d *fakeGPU) call(method string) error {
	d.calls.add(method)
	if p, ok := d.panics[method]; ok {
		panic(p)
	}
	return d.errs[method]
}

func (d *fakeGPU) Name() (string, error) {
	if err := d.call("Name"); err != nil {
		return "", err
	}
	return d.name, nil
}

func (d *fakeGPU) UUID() (string, error) {
	if err := d.call("UUID"); err != nil {
		return "", err
	}
	return d.uuid, nil
}

func (d *fakeGPU) UtilizationRates() (uint32, uint32, error) {
	if err := d.call("UtilizationRates"); err != nil {
		return 0, 0, err
	}
	return d.utilGPU, d.utilMem, nil
}

func (d *fakeGPU) MemoryInfo() (uint64, uint64, error) {
	if err := d.call("MemoryInfo"); err != nil {
		return 0, 0, err
	}
	return d.memUsed, d.memTotal, nil
}

func (d *fakeGPU) PowerUsage() (uint32, error) {
	if err := d.call("PowerUsage"); err != nil {
		return 0, err
	}
	return d.powerMW, nil
}

func (d *fakeGPU) EnforcedPowerLimit() (uint32, error) {
	if err := d.call("EnforcedPowerLimit"); err != nil {
		return 0, err
	}
	return d.limitMW, nil
}

func (d *fakeGPU) Temperature() (uint32, error) {
	if err := d.call("Temperature"); err != nil {
		return 0, err
	}
	return d.tempC, nil
}

func (d *fakeGPU) ClockInfo(c nvmlClock) (uint32, error) {
	if err := d.call("ClockInfo"); err != nil {
		return 0, err
	}
	if c == clockMem {
		return d.memMHz, nil
	}
	return d.smMHz, nil
}

func (d *fakeGPU) CurrentClocksEventReasons() (uint64, error) {
	if err := d.call("CurrentClocksEventReasons"); err != nil {
		return 0, err
	}
	return d.events, nil
}

func (d *fakeGPU) CurrentClocksThrottleReasons() (uint64, error) {
	if err := d.call("CurrentClocksThrottleReasons"); err != nil {
		return 0, err
	}
	return d.throttle, nil
}

func (d *fakeGPU) ComputeRunningProcesses() ([]GPUProcess, error) {
	if err := d.call("ComputeRunningProcesses"); err != nil {
		return nil, err
	}
	return append([]GPUProcess(nil), d.procs...), nil
}
