package telemetry

import "maps"

// failures counts failed reads by key and queues a Notice for the first failure of
// each key, so that a figure missing every second becomes one log line, not 3600
// an hour.
type failures struct {
	counts  map[string]uint64
	pending []Notice
}

// add records a failure of key; the first one queues a Notice with message.
func (f *failures) add(key, message string) {
	if f.counts == nil {
		f.counts = make(map[string]uint64)
	}
	f.counts[key]++
	if f.counts[key] == 1 {
		f.pending = append(f.pending, Notice{Key: key, Message: message})
	}
}

// notices returns the Notices queued since the previous call.
func (f *failures) notices() []Notice {
	out := f.pending
	f.pending = nil
	return out
}

// copyCounts adds the failure counts into dst.
func (f *failures) copyCounts(dst map[string]uint64) {
	maps.Copy(dst, f.counts)
}
