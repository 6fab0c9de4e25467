package telemetry

import (
	"time"

	"github.com/shirou/gopsutil/v4/mem"
)

// TotalMemory returns the host's physical memory in bytes, or 0 when it cannot be read.
func TotalMemory() uint64 {
	v, err := mem.VirtualMemory()
	if err != nil {
		return 0
	}
	return v.Total
}

// HostSource samples the whole machine through gopsutil. Rates come from the
// difference of the kernel's counters between two calls of Sample; the first call
// reports them as 0. It is not safe for concurrent use (Sampler serialises it).
type HostSource struct {
	read   func(*hostCounters, *failures) // reads the counters; tests replace it
	cur    hostCounters
	prev   hostCounters
	prevAt time.Time
	primed bool // prev holds a reading
	fails  failures
}

// NewHostSource returns a HostSource reading this machine.
func NewHostSource() *HostSource {
	r := newHostReader()
	return &HostSource{read: r.read}
}

// Sample reads the host's counters at now and derives the rates since the previous
// call.
func (h *HostSource) Sample(now time.Time) HostSample {
	h.read(&h.cur, &h.fails)
	var dt time.Duration
	if h.primed {
		dt = now.Sub(h.prevAt)
	}
	out := deriveHost(&h.prev, &h.cur, dt)
	h.prev, h.cur = h.cur, h.prev // keep both buffers: the next read reuses them
	h.prevAt, h.primed = now, true
	return out
}

// Notices returns what could not be read, once per kind of failure, since the
// previous call.
func (h *HostSource) Notices() []Notice { return h.fails.notices() }

// hostCounters is one raw reading of the host: gauges and cumulative counters, no
// rates.
type hostCounters struct {
	cpu []cpuTicks // per logical CPU

	load1, load5, load15 float64

	memTotal, memAvailable, swapUsed uint64

	diskRead, diskWrite uint64 // bytes

	netRx, netTx, netErrs, netDrops uint64

	tcpEstablished, tcpTimeWait         int
	tcpOpens, tcpRetransmits, tcpResets uint64

	openFiles int

	// Whether each group of counters was read: a rate needs two good readings, or
	// a failed read (all 0) followed by a good one would look like a burst.
	diskOK, netOK, tcpOK bool
}

// cpuTicks is one CPU's time since boot, in seconds: busy of total.
type cpuTicks struct {
	busy, total float64
}

// deriveHost turns two readings dt apart into a HostSample. dt <= 0 (no previous
// reading, or a clock that did not move forward) gives rates and per-interval
// counts of 0; gauges and cumulative counters are always cur's.
func deriveHost(prev, cur *hostCounters, dt time.Duration) HostSample {
	s := HostSample{
		Cores:          len(cur.cpu),
		PerCore:        make([]float64, len(cur.cpu)),
		Load1:          cur.load1,
		Load5:          cur.load5,
		Load15:         cur.load15,
		MemTotal:       cur.memTotal,
		MemAvailable:   cur.memAvailable,
		SwapUsed:       cur.swapUsed,
		DiskReadBytes:  cur.diskRead,
		DiskWriteBytes: cur.diskWrite,
		NetRxBytes:     cur.netRx,
		NetTxBytes:     cur.netTx,
		OpenFiles:      cur.openFiles,
		TCP: TCPSample{
			Established: cur.tcpEstablished,
			TimeWait:    cur.tcpTimeWait,
		},
	}
	if cur.memAvailable <= cur.memTotal {
		s.MemUsed = cur.memTotal - cur.memAvailable
	}
	if dt <= 0 {
		return s
	}
	if len(prev.cpu) == len(cur.cpu) { // a CPU going on- or offline skips one interval
		var all, prevAll cpuTicks
		for i, c := range cur.cpu {
			s.PerCore[i] = busyPercent(prev.cpu[i], c)
			all.busy += c.busy
			all.total += c.total
			prevAll.busy += prev.cpu[i].busy
			prevAll.total += prev.cpu[i].total
		}
		s.CPUPercent = busyPercent(prevAll, all)
	}
	secs := dt.Seconds()
	if prev.diskOK && cur.diskOK {
		s.DiskReadBps = float64(delta(prev.diskRead, cur.diskRead)) / secs
		s.DiskWriteBps = float64(delta(prev.diskWrite, cur.diskWrite)) / secs
	}
	if prev.netOK && cur.netOK {
		s.NetRxBps = float64(delta(prev.netRx, cur.netRx)) / secs
		s.NetTxBps = float64(delta(prev.netTx, cur.netTx)) / secs
		s.NetErrors = delta(prev.netErrs, cur.netErrs)
		s.NetDrops = delta(prev.netDrops, cur.netDrops)
	}
	if prev.tcpOK && cur.tcpOK {
		s.TCP.Opened = delta(prev.tcpOpens, cur.tcpOpens)
		s.TCP.Retransmits = delta(prev.tcpRetransmits, cur.tcpRetransmits)
		s.TCP.Resets = delta(prev.tcpResets, cur.tcpResets)
	}
	return s
}

// busyPercent is the share of time busy between two readings, 0..100.
func busyPercent(prev, cur cpuTicks) float64 {
	total := cur.total - prev.total
	busy := cur.busy - prev.busy
	if total <= 0 || busy <= 0 {
		return 0
	}
	return min(100*busy/total, 100)
}

// delta is cur - prev for a counter that only grows; a counter that went back
// (reset, wrapped, or an interface that went away) counts 0.
func delta(prev, cur uint64) uint64 {
	if cur < prev {
		return 0
	}
	return cur - prev
}
