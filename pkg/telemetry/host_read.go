package telemetry

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"
)

// hostReader reads the host's counters through gopsutil, plus two small kernel
// files gopsutil does not parse (/proc/net/sockstat, /proc/sys/fs/file-nr). Each
// figure is read on its own: one that fails stays 0 and is recorded in failures.
// Nothing here lists processes or connections, so the cost does not grow with the
// load.
type hostReader struct {
	disks    []string // physical disks to sum; nil: every device gopsutil reports
	noDisks  bool     // the machine has no physical disk: skip the read
	tcpProto []string
}

func newHostReader() *hostReader {
	r := &hostReader{tcpProto: []string{"tcp"}}
	r.disks, r.noDisks = physicalDisks("/sys/block")
	return r
}

func (r *hostReader) read(c *hostCounters, f *failures) {
	*c = hostCounters{cpu: c.cpu[:0]} // what fails to read stays 0
	r.readCPU(c, f)
	if l, err := load.Avg(); err != nil {
		f.add("host.load", "load average: "+err.Error())
	} else {
		c.load1, c.load5, c.load15 = l.Load1, l.Load5, l.Load15
	}
	if v, err := mem.VirtualMemory(); err != nil {
		f.add("host.mem", "memory: "+err.Error())
	} else {
		c.memTotal, c.memAvailable = v.Total, v.Available
		c.swapUsed = delta(v.SwapFree, v.SwapTotal)
	}
	r.readDisks(c, f)
	r.readNet(c, f)
	r.readTCP(c, f)
	if n, err := openFiles("/proc/sys/fs/file-nr"); err != nil {
		f.add("host.open_files", "open files: "+err.Error())
	} else {
		c.openFiles = n
	}
}

func (r *hostReader) readCPU(c *hostCounters, f *failures) {
	times, err := cpu.Times(true)
	if err != nil {
		f.add("host.cpu", "cpu times: "+err.Error())
		return
	}
	for _, t := range times {
		// Linux counts guest time inside user time already.
		total := t.User + t.System + t.Idle + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
		c.cpu = append(c.cpu, cpuTicks{busy: total - t.Idle - t.Iowait, total: total})
	}
}

func (r *hostReader) readDisks(c *hostCounters, f *failures) {
	if r.noDisks {
		c.diskOK = true // nothing to count
		return
	}
	counters, err := disk.IOCounters(r.disks...)
	if err != nil {
		f.add("host.disk", "disk counters: "+err.Error())
		return
	}
	for _, d := range counters {
		c.diskRead += d.ReadBytes
		c.diskWrite += d.WriteBytes
	}
	c.diskOK = true
}

func (r *hostReader) readNet(c *hostCounters, f *failures) {
	nics, err := net.IOCounters(true)
	if err != nil {
		f.add("host.net", "network counters: "+err.Error())
		return
	}
	for _, n := range nics {
		if n.Name == "lo" || n.Name == "lo0" {
			continue
		}
		c.netRx += n.BytesRecv
		c.netTx += n.BytesSent
		c.netErrs += n.Errin + n.Errout
		c.netDrops += n.Dropin + n.Dropout
	}
	c.netOK = true
}

func (r *hostReader) readTCP(c *hostCounters, f *failures) {
	protos, err := net.ProtoCounters(r.tcpProto)
	switch {
	case err != nil:
		f.add("host.tcp", "tcp counters: "+err.Error())
	case len(protos) == 0:
		f.add("host.tcp", "tcp counters: none reported")
	default:
		st := protos[0].Stats
		c.tcpEstablished = int(st["CurrEstab"])
		c.tcpOpens = uint64(max(st["ActiveOpens"], 0))
		c.tcpRetransmits = uint64(max(st["RetransSegs"], 0))
		c.tcpResets = uint64(max(st["OutRsts"], 0))
		c.tcpOK = true
	}
	tw, err := timeWait("/proc/net/sockstat")
	if err != nil {
		f.add("host.tcp_time_wait", "tcp time-wait: "+err.Error())
		return
	}
	c.tcpTimeWait = tw
}

// physicalDisks lists the block devices backed by hardware (those with a device
// link in sysfs: sda, nvme0n1, vda; not partitions, loop, zram, dm or md devices),
// so that bytes written through LVM or RAID count once. Without a readable sysfs it
// returns nil, false: sum every device.
func physicalDisks(sysBlock string) (names []string, none bool) {
	entries, err := os.ReadDir(sysBlock)
	if err != nil {
		return nil, false
	}
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(sysBlock, e.Name(), "device")); err == nil {
			names = append(names, e.Name())
		}
	}
	return names, len(names) == 0
}

// timeWait reads the number of TCP sockets in TIME-WAIT from /proc/net/sockstat
// ("TCP: inuse 5 orphan 0 tw 14 alloc 7 mem 1").
func timeWait(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("TCP:"))
		if !ok {
			continue
		}
		fields := bytes.Fields(rest)
		for i := 0; i+1 < len(fields); i += 2 {
			if string(fields[i]) == "tw" {
				return strconv.Atoi(string(fields[i+1]))
			}
		}
	}
	return 0, fmt.Errorf("%s: no TCP tw field", path)
}

// openFiles reads the number of allocated file handles from /proc/sys/fs/file-nr
// ("allocated free max").
func openFiles(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	fields := bytes.Fields(b)
	if len(fields) == 0 {
		return 0, fmt.Errorf("%s: empty", path)
	}
	return strconv.Atoi(string(fields[0]))
}
