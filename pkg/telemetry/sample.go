package telemetry

import "time"

// Sample is one reading of the host, this process and its GPUs. Rates and
// per-interval figures cover Interval, the time since the previous Sample of the
// same Sampler; the first Sample of a Sampler has Interval 0 and all of them 0.
//
// The JSON names are stable: the master stores them and thresholds refer to them.
type Sample struct {
	At       time.Time     `json:"at"`
	Interval time.Duration `json:"interval_ns"`
	Host     HostSample    `json:"host"`
	Process  ProcessSample `json:"process"`
	GPUs     []GPUSample   `json:"gpus,omitempty"` // empty when there is no GPU data
	// GPUStatus is "" when GPUs holds the data of every device NVML reports, or why
	// there is none ("no GPU: NVML library not found", ...). It is the same string
	// every second: log it once, through Sampler.Notices.
	GPUStatus string `json:"gpu_status,omitempty"`
	// Server holds the series an agent scraped from the system under test's own
	// metrics endpoint (Scraper), by name: "vllm:num_requests_waiting",
	// "vllm:e2e_request_latency_seconds.p99". Empty without --scrape.
	Server map[string]float64 `json:"server,omitempty"`
}

// HostSample is the whole machine. Rates are per second over the interval; the
// cumulative counters are since boot and only ever grow (a counter that goes back,
// such as a removed network interface, makes that interval's rate 0).
type HostSample struct {
	Cores      int       `json:"cores"`       // logical CPUs online
	CPUPercent float64   `json:"cpu_percent"` // 0..100 of the whole machine
	PerCore    []float64 `json:"per_core"`    // 0..100 each, len Cores
	Load1      float64   `json:"load1"`
	Load5      float64   `json:"load5"`
	Load15     float64   `json:"load15"`

	MemTotal     uint64 `json:"mem_total"`     // bytes
	MemAvailable uint64 `json:"mem_available"` // bytes the kernel can hand out without swapping
	MemUsed      uint64 `json:"mem_used"`      // MemTotal - MemAvailable
	SwapUsed     uint64 `json:"swap_used"`

	DiskReadBytes  uint64  `json:"disk_read_bytes"` // cumulative, physical disks only
	DiskWriteBytes uint64  `json:"disk_write_bytes"`
	DiskReadBps    float64 `json:"disk_read_bps"`
	DiskWriteBps   float64 `json:"disk_write_bps"`

	NetRxBytes uint64  `json:"net_rx_bytes"` // cumulative, every interface but loopback
	NetTxBytes uint64  `json:"net_tx_bytes"`
	NetRxBps   float64 `json:"net_rx_bps"`
	NetTxBps   float64 `json:"net_tx_bps"`
	NetErrors  uint64  `json:"net_errors"` // receive + transmit errors in the interval
	NetDrops   uint64  `json:"net_drops"`  // receive + transmit drops in the interval

	OpenFiles int       `json:"open_files"` // file handles allocated host-wide
	TCP       TCPSample `json:"tcp"`
}

// TCPSample counts the host's TCP connections, IPv4 and IPv6 together, from the
// kernel's counters (no per-connection listing, so it stays cheap with 100k
// connections).
type TCPSample struct {
	Established int    `json:"established"` // now
	TimeWait    int    `json:"time_wait"`   // now; many of them exhaust ephemeral ports
	Opened      uint64 `json:"opened"`      // active opens in the interval
	Retransmits uint64 `json:"retransmits"` // segments retransmitted in the interval
	Resets      uint64 `json:"resets"`      // resets sent in the interval
}

// ProcessSample is the process that samples: the worker or agent itself.
type ProcessSample struct {
	// CPUPercent is percent of one core, as top shows it: up to 100 × GOMAXPROCS
	// or the host's cores. Divide by GOMAXPROCS for how saturated the Go
	// scheduler is.
	CPUPercent float64 `json:"cpu_percent"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	RSS        uint64  `json:"rss"`        // bytes resident
	HeapBytes  uint64  `json:"heap_bytes"` // bytes in live and not yet swept heap objects
	Goroutines int     `json:"goroutines"`
	OpenFDs    int     `json:"open_fds"`
	FDLimit    uint64  `json:"fd_limit"` // soft RLIMIT_NOFILE, 0 when unknown

	GCCycles     uint64        `json:"gc_cycles"`       // completed in the interval
	GCPauseTotal time.Duration `json:"gc_pause_ns"`     // stop-the-world pause in the interval
	GCPauseMax   time.Duration `json:"gc_pause_max_ns"` // longest single pause in the interval
	// SchedLatencyP99 is the 99th percentile, over the interval, of the time
	// goroutines spent runnable before they ran (runtime/metrics
	// /sched/latencies:seconds): the "event loop lag" of a Go generator. Bucket
	// resolution, rounded up.
	SchedLatencyP99 time.Duration `json:"sched_latency_p99_ns"`
	SchedLatencyMax time.Duration `json:"sched_latency_max_ns"`
}

// GPUSample is one NVIDIA device. A figure NVML could not read is 0; the reason is
// reported once through Notices.
type GPUSample struct {
	Index       int          `json:"index"`
	Name        string       `json:"name"`
	UUID        string       `json:"uuid"`
	UtilGPU     float64      `json:"util_gpu"`  // percent of time a kernel ran
	UtilMem     float64      `json:"util_mem"`  // percent of time memory was read or written
	MemUsed     uint64       `json:"mem_used"`  // bytes
	MemTotal    uint64       `json:"mem_total"` // bytes
	PowerW      float64      `json:"power_w"`   // draw
	PowerLimitW float64      `json:"power_limit_w"`
	TempC       float64      `json:"temp_c"`
	SMClockMHz  uint32       `json:"sm_clock_mhz"`
	MemClockMHz uint32       `json:"mem_clock_mhz"`
	Throttle    []string     `json:"throttle,omitempty"`  // why clocks are held down: "sw_power_cap", "hw_thermal_slowdown", ...
	Processes   []GPUProcess `json:"processes,omitempty"` // compute processes on the device
}

// GPUProcess is a compute process using a GPU.
type GPUProcess struct {
	PID        uint32 `json:"pid"`
	UsedMemory uint64 `json:"used_memory"` // bytes; 0 where the driver does not say (some vGPU/MIG setups)
}

// Notice is telemetry that could not be read, and why. Each Key is reported once
// per Sampler (the first failure), however often it fails afterwards; Failures
// counts every failure.
type Notice struct {
	Key     string `json:"key"` // stable: "gpu", "gpu0.power", "host.disk", "process.fds", ...
	Message string `json:"message"`
}
