package aggregate

import "time"

// Endpoint names one statistics row: method (or kind, for custom measurements) and name.
type Endpoint struct {
	Method string
	Name   string
}

// Stats is one endpoint's numbers over a span.
//
// A Stats is not safe for concurrent mutation. NewStats gives a non-nil
// Latency; the methods also accept a Stats whose Latency is nil (empty).
type Stats struct {
	Requests  uint64
	Failures  uint64
	Bytes     uint64        // response body bytes, all requests
	TotalTime time.Duration // exact sum of latencies (for the mean)
	Latency   *Histogram    // all requests, failed ones included
}

// NewStats returns empty Stats.
func NewStats() *Stats { return &Stats{Latency: NewHistogram()} }

// Merge adds o to s losslessly: counters add, histograms merge.
func (s *Stats) Merge(o *Stats) {
	s.Requests += o.Requests
	s.Failures += o.Failures
	s.Bytes += o.Bytes
	s.TotalTime += o.TotalTime
	if o.Latency == nil {
		return
	}
	if s.Latency == nil {
		s.Latency = NewHistogram()
	}
	s.Latency.Merge(o.Latency)
}

// Mean returns the exact mean latency, TotalTime / Requests (0 without requests).
func (s *Stats) Mean() time.Duration {
	if s.Requests == 0 {
		return 0
	}
	return s.TotalTime / time.Duration(s.Requests)
}

// AvgBytes returns the mean response size, Bytes / Requests (0 without requests).
func (s *Stats) AvgBytes() float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.Bytes) / float64(s.Requests)
}

// Clone returns an independent copy of s (with a non-nil Latency).
func (s *Stats) Clone() *Stats {
	c := *s
	if s.Latency != nil {
		c.Latency = s.Latency.Clone()
	} else {
		c.Latency = NewHistogram()
	}
	return &c
}

// Equal reports whether s and o hold the same counters and the same histogram
// buckets (a nil Latency equals an empty one).
func (s *Stats) Equal(o *Stats) bool {
	return s.Requests == o.Requests && s.Failures == o.Failures && s.Bytes == o.Bytes &&
		s.TotalTime == o.TotalTime && s.Latency.Equal(o.Latency)
}
