package telemetry

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
)

// counters is a reading with 2 CPUs, each busy b of t seconds, and every
// cumulative counter at n.
func counters(b, t float64, n uint64) hostCounters {
	return hostCounters{
		cpu:   []cpuTicks{{busy: b, total: t}, {busy: b / 2, total: t}},
		load1: 1.5, load5: 1, load15: 0.5,
		memTotal: 16 << 30, memAvailable: 10 << 30, swapUsed: 1 << 20,
		diskRead: n, diskWrite: 2 * n,
		netRx: 3 * n, netTx: 4 * n, netErrs: n / 100, netDrops: n / 1000,
		tcpEstablished: 40, tcpTimeWait: 7,
		tcpOpens: n / 10, tcpRetransmits: n / 50, tcpResets: n / 200,
		openFiles: 1234,
		diskOK:    true, netOK: true, tcpOK: true,
	}
}

func TestDeriveHost(t *testing.T) {
	gauges := HostSample{
		Cores: 2, PerCore: []float64{0, 0}, Load1: 1.5, Load5: 1, Load15: 0.5,
		MemTotal: 16 << 30, MemAvailable: 10 << 30, MemUsed: 6 << 30, SwapUsed: 1 << 20,
		OpenFiles: 1234, TCP: TCPSample{Established: 40, TimeWait: 7},
	}
	at := func(n uint64, edit func(*HostSample)) HostSample {
		s := gauges
		s.PerCore = slices.Clone(gauges.PerCore)
		s.DiskReadBytes, s.DiskWriteBytes, s.NetRxBytes, s.NetTxBytes = n, 2*n, 3*n, 4*n
		if edit != nil {
			edit(&s)
		}
		return s
	}
	tests := []struct {
		name      string
		prev, cur hostCounters
		dt        time.Duration
		want      HostSample
	}{
		{
			name: "first reading has no rates",
			cur:  counters(10, 100, 1000),
			want: at(1000, nil),
		},
		{
			name: "rates over two seconds",
			prev: counters(10, 100, 1000),
			cur:  counters(12, 104, 3000), // per CPU: 2 of 4 s busy, then 1 of 4
			dt:   2 * time.Second,
			want: at(3000, func(s *HostSample) {
				s.PerCore = []float64{50, 25}
				s.CPUPercent = 37.5
				s.DiskReadBps, s.DiskWriteBps = 1000, 2000
				s.NetRxBps, s.NetTxBps = 3000, 4000
				s.NetErrors, s.NetDrops = 20, 2
				s.TCP.Opened, s.TCP.Retransmits, s.TCP.Resets = 200, 40, 10
			}),
		},
		{
			name: "counters that went back count 0",
			prev: counters(10, 100, 3000),
			cur:  counters(10, 100, 1000), // and CPU time did not move
			dt:   time.Second,
			want: at(1000, nil),
		},
		{
			name: "clock that did not move forward gives no rates",
			prev: counters(10, 100, 1000),
			cur:  counters(12, 104, 3000),
			dt:   -time.Second,
			want: at(3000, nil),
		},
		{
			name: "a CPU going offline skips CPU figures once",
			prev: counters(10, 100, 1000),
			cur: func() hostCounters {
				c := counters(12, 104, 1000)
				c.cpu = c.cpu[:1]
				return c
			}(),
			dt: time.Second,
			want: at(1000, func(s *HostSample) {
				s.Cores, s.PerCore = 1, []float64{0}
			}),
		},
		{
			name: "no rates against a failed reading",
			prev: func() hostCounters {
				c := counters(10, 100, 0)
				c.diskOK, c.netOK, c.tcpOK = false, false, false
				return c
			}(),
			cur: counters(12, 104, 3000),
			dt:  2 * time.Second,
			want: at(3000, func(s *HostSample) {
				s.PerCore = []float64{50, 25}
				s.CPUPercent = 37.5
			}),
		},
		{
			name: "busier than total is clamped",
			prev: hostCounters{cpu: []cpuTicks{{busy: 0, total: 10}}},
			cur:  hostCounters{cpu: []cpuTicks{{busy: 5, total: 11}}},
			dt:   time.Second,
			want: HostSample{Cores: 1, PerCore: []float64{100}, CPUPercent: 100},
		},
		{
			name: "available above total leaves used 0",
			cur:  hostCounters{memTotal: 1, memAvailable: 2},
			want: HostSample{PerCore: []float64{}, MemTotal: 1, MemAvailable: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := deriveHost(&tt.prev, &tt.cur, tt.dt)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestHostSourceInjectedTime drives HostSource with a fake reader: rates follow
// the injected times, not the wall clock, and a failing figure is reported once.
func TestHostSourceInjectedTime(t *testing.T) {
	readings := []hostCounters{counters(10, 100, 1000), counters(12, 104, 5000), counters(13, 106, 6000)}
	i := 0
	h := &HostSource{read: func(c *hostCounters, f *failures) {
		*c = readings[i]
		i++
		f.add("host.disk", "disk counters: permission denied")
	}}
	t0 := time.Unix(1_700_000_000, 0)
	first := h.Sample(t0)
	second := h.Sample(t0.Add(4 * time.Second))
	third := h.Sample(t0.Add(5 * time.Second))
	if first.DiskReadBps != 0 || first.CPUPercent != 0 {
		t.Errorf("first sample has rates: %+v", first)
	}
	if second.DiskReadBps != 1000 || second.NetTxBps != 4000 {
		t.Errorf("second sample rates %v/%v, want 1000/4000 over 4 s", second.DiskReadBps, second.NetTxBps)
	}
	if third.DiskReadBps != 1000 || third.CPUPercent != 37.5 {
		t.Errorf("third sample rates %v, cpu %v; want 1000, 37.5", third.DiskReadBps, third.CPUPercent)
	}
	if n := h.Notices(); len(n) != 1 || n[0].Key != "host.disk" {
		t.Errorf("notices %+v, want one host.disk", n)
	}
	if n := h.Notices(); len(n) != 0 {
		t.Errorf("notices repeated: %+v", n)
	}
	if got := h.fails.counts["host.disk"]; got != 3 {
		t.Errorf("host.disk failures = %d, want 3", got)
	}
}

// TestHostSourceReal samples this machine twice and checks that the figures are
// plausible.
func TestHostSourceReal(t *testing.T) {
	h := NewHostSource()
	t0 := time.Now()
	a := h.Sample(t0)
	burn() // give the CPU counters something to count
	b := h.Sample(t0.Add(time.Second))
	for _, n := range h.Notices() {
		t.Logf("notice %s: %s", n.Key, n.Message)
	}
	t.Logf("host: %+v", b)

	cores, err := cpu.Counts(true)
	if err != nil {
		t.Fatalf("cpu.Counts: %v", err)
	}
	if b.Cores != runtime.NumCPU() && b.Cores != cores {
		t.Errorf("Cores = %d, want runtime.NumCPU() %d or the host's %d", b.Cores, runtime.NumCPU(), cores)
	}
	if len(b.PerCore) != b.Cores {
		t.Errorf("%d per-core figures for %d cores", len(b.PerCore), b.Cores)
	}
	for i, p := range append([]float64{b.CPUPercent}, b.PerCore...) {
		if p < 0 || p > 100 {
			t.Errorf("CPU figure %d = %v, outside 0..100", i, p)
		}
	}
	if b.MemTotal == 0 || b.MemUsed > b.MemTotal || b.MemAvailable > b.MemTotal {
		t.Errorf("memory used %d, available %d, total %d", b.MemUsed, b.MemAvailable, b.MemTotal)
	}
	if b.MemTotal != TotalMemory() {
		t.Errorf("MemTotal %d, TotalMemory() %d", b.MemTotal, TotalMemory())
	}
	for name, r := range map[string]float64{"disk read": b.DiskReadBps, "disk write": b.DiskWriteBps,
		"net rx": b.NetRxBps, "net tx": b.NetTxBps, "load1": b.Load1} {
		if r < 0 {
			t.Errorf("%s = %v, want >= 0", name, r)
		}
	}
	for name, c := range map[string][2]uint64{
		"disk read bytes":  {a.DiskReadBytes, b.DiskReadBytes},
		"disk write bytes": {a.DiskWriteBytes, b.DiskWriteBytes},
		"net rx bytes":     {a.NetRxBytes, b.NetRxBytes},
		"net tx bytes":     {a.NetTxBytes, b.NetTxBytes},
	} {
		if c[1] < c[0] {
			t.Errorf("%s went back: %d then %d", name, c[0], c[1])
		}
	}
	if b.TCP.Established < 0 || b.TCP.TimeWait < 0 {
		t.Errorf("tcp %+v", b.TCP)
	}
	if runtime.GOOS == "linux" && b.OpenFiles <= 0 {
		t.Errorf("OpenFiles = %d, want > 0", b.OpenFiles)
	}
}

// burn spends a little CPU, bounded by count, not time.
func burn() {
	x := uint64(1)
	for i := range 5_000_000 {
		x = x*6364136223846793005 + uint64(i)
	}
	sink = x
}

var sink uint64

func TestPhysicalDisks(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"sda/device", "nvme0n1/device", "loop0", "dm-0/dm", "zram0"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	names, none := physicalDisks(dir)
	if !slices.Equal(names, []string{"nvme0n1", "sda"}) || none {
		t.Errorf("physicalDisks = %q, %v; want [nvme0n1 sda], false", names, none)
	}
	if names, none := physicalDisks(filepath.Join(dir, "missing")); names != nil || none {
		t.Errorf("without sysfs: %q, %v; want nil, false (every device)", names, none)
	}
	if names, none := physicalDisks(filepath.Join(dir, "loop0")); names != nil || !none {
		t.Errorf("no physical disk: %q, %v; want nil, true", names, none)
	}
}

func TestKernelFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sockstat := write("sockstat", "sockets: used 12\nTCP: inuse 1 orphan 0 tw 14 alloc 1 mem 56\nUDP: inuse 0 mem 0\n")
	if n, err := timeWait(sockstat); n != 14 || err != nil {
		t.Errorf("timeWait = %d, %v; want 14", n, err)
	}
	if _, err := timeWait(write("bad", "UDP: inuse 0\n")); err == nil {
		t.Error("timeWait without a TCP line: no error")
	}
	if n, err := openFiles(write("file-nr", "4416\t0\t9223372036854775807\n")); n != 4416 || err != nil {
		t.Errorf("openFiles = %d, %v; want 4416", n, err)
	}
	if _, err := openFiles(write("empty", "")); err == nil {
		t.Error("openFiles of an empty file: no error")
	}
	if _, err := openFiles(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("openFiles of a missing file: %v", err)
	}
}
