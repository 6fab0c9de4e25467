package telemetry

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSamplerWithFakeGPUs(t *testing.T) {
	d1 := h100(1)
	d1.errs = map[string]error{"PowerUsage": errors.New("ERROR_UNKNOWN")}
	lib := &fakeNVML{count: -1, devices: []*fakeGPU{h100(0), d1}, calls: newCallLog()}
	s := &Sampler{host: NewHostSource(), proc: NewProcessSource(),
		gpu: newGPUSource(func() (nvmlLibrary, error) { return lib, nil })}

	t0 := time.Unix(1_700_000_000, 0)
	first := s.Sample(t0)
	second := s.Sample(t0.Add(time.Second))
	if first.Interval != 0 || second.Interval != time.Second || !second.At.Equal(t0.Add(time.Second)) {
		t.Errorf("intervals %v, %v; at %v", first.Interval, second.Interval, second.At)
	}
	if second.GPUStatus != "" || len(second.GPUs) != 2 {
		t.Fatalf("GPUs %d, status %q", len(second.GPUs), second.GPUStatus)
	}
	if second.GPUs[0].PowerW != 350.5 || second.GPUs[1].PowerW != 0 || second.GPUs[1].TempC != 64 {
		t.Errorf("power %v/%v, temp %v", second.GPUs[0].PowerW, second.GPUs[1].PowerW, second.GPUs[1].TempC)
	}
	var keys []string
	for _, n := range s.Notices() {
		keys = append(keys, n.Key)
	}
	if !slices.Contains(keys, "gpu1.power") || slices.Contains(keys, "gpu") {
		t.Errorf("notices %q: want gpu1.power, no gpu", keys)
	}
	if got := s.Failures()["gpu1.power"]; got != 2 {
		t.Errorf("gpu1.power failed %d times, want 2", got)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil || lib.shutdowns != 1 {
		t.Errorf("second Close: %v, %d shutdowns", err, lib.shutdowns)
	}
}

func TestSamplerNoGPU(t *testing.T) {
	s := NewSampler(Options{NoGPU: true})
	defer s.Close()
	got := s.Sample(time.Now())
	if got.GPUStatus != "GPU sampling off" || got.GPUs != nil {
		t.Errorf("GPUs %v, status %q", got.GPUs, got.GPUStatus)
	}
}

// TestSamplerReal is the worker's view on this machine: real host, process and
// NVML path. Without a GPU the status says so and "gpu" is noticed exactly once.
func TestSamplerReal(t *testing.T) {
	s := NewSampler(Options{})
	defer s.Close()
	t0 := time.Now()
	var gpuNotices int
	var status string
	for i := range 3 {
		got := s.Sample(t0.Add(time.Duration(i) * time.Second))
		status = got.GPUStatus
		for _, n := range s.Notices() {
			t.Logf("notice %s: %s", n.Key, n.Message)
			if n.Key == "gpu" {
				gpuNotices++
			}
		}
	}
	if strings.HasPrefix(status, "no GPU: ") && gpuNotices != 1 {
		t.Errorf("status %q noticed %d times, want once", status, gpuNotices)
	}
	if status == "" && gpuNotices != 0 {
		t.Errorf("GPUs sampled, yet %d \"gpu\" notices", gpuNotices)
	}
}

// TestSampleJSONNames pins the JSON names the master stores and thresholds use.
func TestSampleJSONNames(t *testing.T) {
	b, err := json.Marshal(Sample{GPUs: []GPUSample{{Throttle: []string{"x"}, Processes: []GPUProcess{{}}}}, GPUStatus: "x"})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	keys := func(v any) []string {
		var out []string
		for k := range v.(map[string]any) {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	want := map[string][]string{
		"sample": {"at", "gpu_status", "gpus", "host", "interval_ns", "process"},
		"host": {"cores", "cpu_percent", "disk_read_bps", "disk_read_bytes", "disk_write_bps",
			"disk_write_bytes", "load1", "load15", "load5", "mem_available", "mem_total", "mem_used",
			"net_drops", "net_errors", "net_rx_bps", "net_rx_bytes", "net_tx_bps", "net_tx_bytes",
			"open_files", "per_core", "swap_used", "tcp"},
		"tcp": {"established", "opened", "resets", "retransmits", "time_wait"},
		"process": {"cpu_percent", "fd_limit", "gc_cycles", "gc_pause_max_ns", "gc_pause_ns",
			"gomaxprocs", "goroutines", "heap_bytes", "open_fds", "rss", "sched_latency_max_ns",
			"sched_latency_p99_ns"},
		"gpu": {"index", "mem_clock_mhz", "mem_total", "mem_used", "name", "power_limit_w", "power_w",
			"processes", "sm_clock_mhz", "temp_c", "throttle", "util_gpu", "util_mem", "uuid"},
		"gpu process": {"pid", "used_memory"},
	}
	gpu := m["gpus"].([]any)[0]
	got := map[string][]string{
		"sample": keys(m), "host": keys(m["host"]), "tcp": keys(m["host"].(map[string]any)["tcp"]),
		"process": keys(m["process"]), "gpu": keys(gpu),
		"gpu process": keys(gpu.(map[string]any)["processes"].([]any)[0]),
	}
	for name, w := range want {
		if !slices.Equal(got[name], w) {
			t.Errorf("%s JSON names\n got %q\nwant %q", name, got[name], w)
		}
	}
}

// TestSamplerConcurrentUse: Sample, Notices, Failures and Close may race (the
// race detector checks).
func TestSamplerConcurrentUse(t *testing.T) {
	s := NewSampler(Options{})
	t0 := time.Now()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 5 {
				s.Sample(t0.Add(time.Duration(i*10+j) * time.Second))
				s.Notices()
				s.Failures()
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkSample is one full Sample as a worker takes it every second: host,
// process and the NVML path of this build and machine.
func BenchmarkSample(b *testing.B) {
	s := NewSampler(Options{})
	defer s.Close()
	now := time.Now()
	s.Sample(now)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		s.Sample(now)
	}
}

// BenchmarkSampleFakeGPUs adds two fake GPUs: the cost of this package's GPU code,
// not of NVML itself.
func BenchmarkSampleFakeGPUs(b *testing.B) {
	lib := &fakeNVML{count: -1, devices: []*fakeGPU{h100(0), h100(1)}, calls: newCallLog()}
	s := &Sampler{host: NewHostSource(), proc: NewProcessSource(),
		gpu: newGPUSource(func() (nvmlLibrary, error) { return lib, nil })}
	now := time.Now()
	s.Sample(now)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		s.Sample(now)
	}
}

func BenchmarkHostSample(b *testing.B) {
	h := NewHostSource()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		h.Sample(now)
	}
}

func BenchmarkProcessSample(b *testing.B) {
	p := NewProcessSource()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		p.Sample(now)
	}
}
