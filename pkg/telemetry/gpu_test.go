package telemetry

import (
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// h100 is a healthy fake device i and wantH100 what it should sample as.
func h100(i int) *fakeGPU {
	return &fakeGPU{
		name: "NVIDIA H100 80GB HBM3", uuid: "GPU-0000000" + strconv.Itoa(i),
		utilGPU: 87, utilMem: 41, memUsed: 30 << 30, memTotal: 80 << 30,
		powerMW: 350500, limitMW: 700000, tempC: 64, smMHz: 1980, memMHz: 2619,
		events: 0x4 | 0x1000, throttle: 0x40,
		procs: []GPUProcess{{PID: uint32(4242 + i), UsedMemory: 29 << 30}},
	}
}

func wantH100(i int) GPUSample {
	return GPUSample{
		Index: i, Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-0000000" + strconv.Itoa(i),
		UtilGPU: 87, UtilMem: 41, MemUsed: 30 << 30, MemTotal: 80 << 30,
		PowerW: 350.5, PowerLimitW: 700, TempC: 64, SMClockMHz: 1980, MemClockMHz: 2619,
		Throttle:  []string{"sw_power_cap", "0x1000"},
		Processes: []GPUProcess{{PID: uint32(4242 + i), UsedMemory: 29 << 30}},
	}
}

// with applies edit to a copy of s.
func with(s GPUSample, edit func(*GPUSample)) GPUSample {
	edit(&s)
	return s
}

func TestGPUSource(t *testing.T) {
	errUnknown := errors.New("ERROR_UNKNOWN")
	calls := newCallLog() // across every case: see the coverage check at the end

	tests := []struct {
		name    string
		lib     func() *fakeNVML // nil: opening NVML fails (a build without cgo)
		samples int              // default 3

		wantStatus  string
		wantGPUs    []GPUSample // every sample
		wantNotices []string    // keys, in order, over all samples: each once
		wantCalls   map[string]int
		wantFails   map[string]uint64
		wantDown    int // Shutdown calls before Close
	}{
		{
			name:        "library missing",
			lib:         func() *fakeNVML { return &fakeNVML{initErr: errNVMLLibraryNotFound} },
			wantStatus:  "no GPU: NVML library not found",
			wantNotices: []string{"gpu"},
			wantCalls:   map[string]int{"Init": 1, "DeviceCount": 0},
		},
		{
			name:        "built without NVML",
			wantStatus:  "no GPU: NVML support not built in",
			wantNotices: []string{"gpu"},
		},
		{
			name:        "driver not loaded",
			lib:         func() *fakeNVML { return &fakeNVML{initErr: errNVMLDriverNotLoaded} },
			wantStatus:  "no GPU: NVIDIA driver not loaded",
			wantNotices: []string{"gpu"},
			wantCalls:   map[string]int{"Init": 1},
		},
		{
			name:        "init fails otherwise",
			lib:         func() *fakeNVML { return &fakeNVML{initErr: errors.New("ERROR_NO_PERMISSION")} },
			wantStatus:  "no GPU: NVML init: ERROR_NO_PERMISSION",
			wantNotices: []string{"gpu"},
			wantCalls:   map[string]int{"Init": 1},
		},
		{
			name:        "init panics",
			lib:         func() *fakeNVML { return &fakeNVML{initPanic: "dlopen went wrong"} },
			wantStatus:  "no GPU: NVML panicked during initialisation: dlopen went wrong",
			wantNotices: []string{"gpu"},
			wantCalls:   map[string]int{"Init": 1},
		},
		{
			name:        "no device",
			lib:         func() *fakeNVML { return &fakeNVML{} },
			wantStatus:  "no GPU: no NVIDIA device found",
			wantNotices: []string{"gpu"},
			wantCalls:   map[string]int{"Init": 1, "DeviceCount": 1, "Device": 0},
			wantDown:    1,
		},
		{
			name:        "device count fails",
			lib:         func() *fakeNVML { return &fakeNVML{countErr: errUnknown} },
			wantStatus:  "no GPU: NVML device count: ERROR_UNKNOWN",
			wantNotices: []string{"gpu"},
			wantCalls:   map[string]int{"DeviceCount": 1},
			wantDown:    1,
		},
		{
			name: "two devices",
			lib: func() *fakeNVML {
				return &fakeNVML{count: -1, devices: []*fakeGPU{h100(0), h100(1)}}
			},
			wantGPUs: []GPUSample{wantH100(0), wantH100(1)},
			// Names and UUIDs are read once; figures every sample.
			wantCalls: map[string]int{"Init": 1, "Device": 2, "Name": 2, "UUID": 2,
				"PowerUsage": 6, "ClockInfo": 12, "CurrentClocksEventReasons": 6,
				"CurrentClocksThrottleReasons": 0, "Shutdown": 0},
		},
		{
			name: "one call fails",
			lib: func() *fakeNVML {
				d := h100(0)
				d.errs = map[string]error{"PowerUsage": errUnknown}
				return &fakeNVML{count: -1, devices: []*fakeGPU{d}}
			},
			wantGPUs:    []GPUSample{with(wantH100(0), func(s *GPUSample) { s.PowerW = 0 })},
			wantNotices: []string{"gpu0.power"},
			wantCalls:   map[string]int{"PowerUsage": 3}, // still asked: it may recover
			wantFails:   map[string]uint64{"gpu0.power": 3},
		},
		{
			name: "field not supported",
			lib: func() *fakeNVML {
				d := h100(0)
				d.errs = map[string]error{"Temperature": errNVMLNotSupported, "ComputeRunningProcesses": errNVMLNotSupported}
				return &fakeNVML{count: -1, devices: []*fakeGPU{d}}
			},
			wantGPUs:    []GPUSample{with(wantH100(0), func(s *GPUSample) { s.TempC, s.Processes = 0, nil })},
			wantNotices: []string{"gpu0.temperature", "gpu0.processes"},
			wantCalls:   map[string]int{"Temperature": 1, "ComputeRunningProcesses": 1}, // not asked again
			wantFails:   map[string]uint64{"gpu0.temperature": 1, "gpu0.processes": 1},
		},
		{
			name: "function missing from an old library",
			lib: func() *fakeNVML {
				return &fakeNVML{count: -1, devices: []*fakeGPU{h100(0)}, missing: map[string]bool{
					"nvmlDeviceGetPowerUsage": true, symbolClocksEventReasons: true, "nvmlDeviceGetUUID": true,
				}}
			},
			wantGPUs: []GPUSample{with(wantH100(0), func(s *GPUSample) {
				s.PowerW, s.UUID = 0, ""
				s.Throttle = []string{"hw_thermal_slowdown"} // from the older call
			})},
			wantNotices: []string{"gpu0.uuid", "gpu.power"},
			wantCalls: map[string]int{"PowerUsage": 0, "UUID": 0, "CurrentClocksEventReasons": 0,
				"CurrentClocksThrottleReasons": 3},
		},
		{
			name: "name fails",
			lib: func() *fakeNVML {
				d := h100(0)
				d.errs = map[string]error{"Name": errUnknown}
				return &fakeNVML{count: -1, devices: []*fakeGPU{d}}
			},
			wantGPUs:    []GPUSample{with(wantH100(0), func(s *GPUSample) { s.Name = "" })},
			wantNotices: []string{"gpu0.name"},
			wantCalls:   map[string]int{"Name": 1},
		},
		{
			name: "one of two devices cannot be opened",
			lib: func() *fakeNVML {
				d := h100(0)
				d.handleErr = errors.New("ERROR_GPU_IS_LOST")
				return &fakeNVML{count: -1, devices: []*fakeGPU{d, h100(1)}}
			},
			wantStatus:  "1 of 2 GPUs sampled; gpu0: ERROR_GPU_IS_LOST",
			wantGPUs:    []GPUSample{wantH100(1)},
			wantNotices: []string{"gpu0"},
			wantCalls:   map[string]int{"Device": 2},
		},
		{
			name: "no device can be opened",
			lib: func() *fakeNVML {
				d := h100(0)
				d.handleErr = errors.New("ERROR_NO_PERMISSION")
				return &fakeNVML{count: -1, devices: []*fakeGPU{d}}
			},
			wantStatus:  "no GPU: none of 1 NVIDIA devices could be opened (gpu0: ERROR_NO_PERMISSION)",
			wantNotices: []string{"gpu0", "gpu"},
			wantDown:    1,
		},
		{
			name: "a call panics while sampling",
			lib: func() *fakeNVML {
				d := h100(0)
				d.panics = map[string]any{"MemoryInfo": "cgo went wrong"}
				return &fakeNVML{count: -1, devices: []*fakeGPU{d}}
			},
			wantStatus:  "GPU sampling stopped: NVML panicked: cgo went wrong",
			wantNotices: []string{"gpu"},
			wantCalls:   map[string]int{"MemoryInfo": 1}, // off after the first
			wantDown:    1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var lib *fakeNVML
			caseCalls := newCallLog()
			open := func() (nvmlLibrary, error) { return nil, errors.New("NVML support not built in") }
			if tt.lib != nil {
				lib = tt.lib()
				lib.calls = caseCalls
				open = func() (nvmlLibrary, error) { return lib, nil }
			}
			g := newGPUSource(open)
			samples := orDefault(tt.samples, 3)
			var notices []string
			for i := range samples {
				got, status := g.Sample()
				if !strings.HasPrefix(status, tt.wantStatus) || (tt.wantStatus == "") != (status == "") {
					t.Errorf("sample %d: status %q, want %q", i, status, tt.wantStatus)
				}
				if !reflect.DeepEqual(got, tt.wantGPUs) {
					t.Errorf("sample %d:\n got %+v\nwant %+v", i, got, tt.wantGPUs)
				}
				for _, n := range g.Notices() {
					notices = append(notices, n.Key)
					if n.Message == "" {
						t.Errorf("notice %q has no message", n.Key)
					}
				}
			}
			if !slices.Equal(notices, tt.wantNotices) {
				t.Errorf("notices %q, want %q (each once)", notices, tt.wantNotices)
			}
			for name, want := range tt.wantCalls {
				if got := caseCalls.count(name); got != want {
					t.Errorf("%s called %d times, want %d", name, got, want)
				}
			}
			counts := map[string]uint64{}
			g.fails.copyCounts(counts)
			for key, want := range tt.wantFails {
				if counts[key] != want {
					t.Errorf("failures[%q] = %d, want %d", key, counts[key], want)
				}
			}
			if lib != nil && lib.shutdowns != tt.wantDown {
				t.Errorf("Shutdown called %d times before Close, want %d", lib.shutdowns, tt.wantDown)
			}
			if err := g.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if lib != nil && lib.shutdowns > 1 {
				t.Errorf("Shutdown called %d times, want at most 1", lib.shutdowns)
			}
			if got, _ := g.Sample(); got != nil {
				t.Errorf("after Close: %d GPU samples, want none", len(got))
			}
			caseCalls.mu.Lock()
			for name, n := range caseCalls.n {
				for range n {
					calls.add(name)
				}
			}
			caseCalls.mu.Unlock()
		})
	}

	// Every NVML call the code can make has been made by some case above, so
	// that each one's failure and success paths run without a GPU.
	for _, typ := range []reflect.Type{reflect.TypeFor[nvmlLibrary](), reflect.TypeFor[nvmlDevice]()} {
		for m := range typ.Methods() {
			if calls.count(m.Name) == 0 {
				t.Errorf("%s.%s is never called by the fakes", typ.Name(), m.Name)
			}
		}
	}
}

func orDefault(n, dflt int) int {
	if n == 0 {
		return dflt
	}
	return n
}

func TestGPUSourceClose(t *testing.T) {
	lib := &fakeNVML{count: -1, devices: []*fakeGPU{h100(0)}, calls: newCallLog()}
	g := newGPUSource(func() (nvmlLibrary, error) { return lib, nil })
	if got, status := g.Sample(); len(got) != 1 || status != "" {
		t.Fatalf("Sample = %d GPUs, status %q; want 1, \"\"", len(got), status)
	}
	for range 2 {
		if err := g.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if lib.shutdowns != 1 {
		t.Errorf("Shutdown called %d times, want 1", lib.shutdowns)
	}
	if got, status := g.Sample(); got != nil || status != "GPU sampling closed" {
		t.Errorf("after Close: %d GPUs, status %q", len(got), status)
	}
	if n := lib.calls.count("Init"); n != 1 {
		t.Errorf("Init called %d times, want 1", n)
	}
}

func TestGPUSourceStatusInitialisesOnce(t *testing.T) {
	lib := &fakeNVML{initErr: errNVMLLibraryNotFound, calls: newCallLog()}
	g := newGPUSource(func() (nvmlLibrary, error) { return lib, nil })
	if s := g.Status(); s != "no GPU: NVML library not found" {
		t.Errorf("Status = %q", s)
	}
	g.Sample()
	g.Status()
	if n := lib.calls.count("Init"); n != 1 {
		t.Errorf("Init called %d times, want 1", n)
	}
}

func TestThrottleReasons(t *testing.T) {
	tests := []struct {
		mask uint64
		want []string
	}{
		{0, nil},
		{0x1, []string{"gpu_idle"}},
		{0x4 | 0x20 | 0x40, []string{"sw_power_cap", "sw_thermal_slowdown", "hw_thermal_slowdown"}},
		{0x100, []string{"display_clock_setting"}},
		{1 << 63, []string{"0x8000000000000000"}},
	}
	for _, tt := range tests {
		if got := throttleReasons(tt.mask); !slices.Equal(got, tt.want) {
			t.Errorf("throttleReasons(%#x) = %q, want %q", tt.mask, got, tt.want)
		}
	}
}

// TestGPUSourceReal runs the real NVML path of this build on this machine. Without
// a GPU (or without cgo) it must say so cleanly, once; with one, every device must
// read plausibly.
func TestGPUSourceReal(t *testing.T) {
	g := NewGPUSource("")
	defer func() {
		if err := g.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	gpus, status := g.Sample()
	if status != "" && strings.HasPrefix(status, "no GPU: ") {
		if len(gpus) != 0 {
			t.Errorf("status %q with %d GPU samples", status, len(gpus))
		}
		notices := g.Notices()
		if len(notices) != 1 || notices[0].Key != "gpu" || notices[0].Message != status {
			t.Errorf("notices %+v, want one \"gpu\" notice with the status", notices)
		}
		if _, again := g.Sample(); again != status || len(g.Notices()) != 0 {
			t.Errorf("second sample: status %q and new notices; want the same status, no notice", again)
		}
		t.Logf("no GPU here: %s", status)
		return
	}
	if len(gpus) == 0 {
		t.Fatalf("status %q and no GPU samples", status)
	}
	for _, s := range gpus {
		t.Logf("gpu%d %s %s: util %.0f%%/%.0f%% mem %d/%d power %.1f/%.1f W %.0f°C clocks %d/%d MHz throttle %v procs %v",
			s.Index, s.Name, s.UUID, s.UtilGPU, s.UtilMem, s.MemUsed, s.MemTotal, s.PowerW, s.PowerLimitW,
			s.TempC, s.SMClockMHz, s.MemClockMHz, s.Throttle, s.Processes)
		if s.Name == "" || s.UUID == "" || s.MemTotal == 0 || s.MemUsed > s.MemTotal ||
			s.UtilGPU > 100 || s.UtilMem > 100 {
			t.Errorf("implausible GPU sample %+v", s)
		}
	}
	for _, n := range g.Notices() {
		t.Logf("notice %s: %s", n.Key, n.Message)
	}
}
