package telemetry

import "github.com/shirou/gopsutil/v4/mem"

// TotalMemory returns the host's physical memory in bytes, or 0 when it cannot be read.
func TotalMemory() uint64 {
	v, err := mem.VirtualMemory()
	if err != nil {
		return 0
	}
	return v.Total
}
