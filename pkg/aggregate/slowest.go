package aggregate

import (
	"cmp"
	"encoding/hex"
	"slices"
	"time"
)

// MaxSlowest is how many of the slowest requests a Snapshot keeps.
const MaxSlowest = 20

// SlowRequest is one of the slowest requests of a span: what the dashboard's
// "slowest requests" view lists.
type SlowRequest struct {
	Endpoint
	URL     string // the URL the user requested, query included, whatever the row's name or method
	Latency time.Duration
	At      time.Time // when it completed
	Worker  string    // set by the master when the report arrives
	Err     string
	TraceID string // the W3C trace id it carried, 32 hex digits; "" when none
}

// traceHex is id in hex, "" for the all-zero (absent) id.
func traceHex(id [16]byte) string {
	if id == [16]byte{} {
		return ""
	}
	return hex.EncodeToString(id[:])
}

// noteSlow keeps r among the MaxSlowest slowest of s, which it keeps sorted
// slowest first. A request no slower than the slowest-kept minimum of a full list
// costs one comparison.
func (s *Snapshot) noteSlow(r SlowRequest) {
	n := len(s.Slowest)
	if n == MaxSlowest && r.Latency <= s.Slowest[n-1].Latency {
		return
	}
	i, _ := slices.BinarySearchFunc(s.Slowest, r, func(a, b SlowRequest) int {
		return cmp.Compare(b.Latency, a.Latency) // descending
	})
	s.Slowest = slices.Insert(s.Slowest, i, r)
	if len(s.Slowest) > MaxSlowest {
		s.Slowest = s.Slowest[:MaxSlowest]
	}
}

// mergeSlowest keeps the slowest of s and o.
func (s *Snapshot) mergeSlowest(o *Snapshot) {
	for _, r := range o.Slowest {
		s.noteSlow(r)
	}
}

func (a SlowRequest) equal(b SlowRequest) bool {
	return a.Endpoint == b.Endpoint && a.URL == b.URL && a.Latency == b.Latency && a.At.Equal(b.At) &&
		a.Worker == b.Worker && a.Err == b.Err
}

// slowThreshold is the latency a request must exceed to enter the slowest list
// (0 while the list is not full).
func (s *Snapshot) slowThreshold() time.Duration {
	if len(s.Slowest) < MaxSlowest {
		return 0
	}
	return s.Slowest[len(s.Slowest)-1].Latency
}
