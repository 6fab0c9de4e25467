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
	// Service is the time from sending each request to its end, kept beside Latency
	// when Latency is measured from the moment the request was due (open-model
	// runs): Latency is then the honest figure and Service what the server took.
	// nil when the run measured no such thing.
	Service *Histogram
	// Corrected holds Latency with coordinated omission corrected (HdrHistogram's
	// expected-interval correction) for closed-model users with a fixed pace:
	// every sample longer than the pace adds the samples a steady user would have
	// seen meanwhile. nil when the users had no pace to correct against.
	Corrected *Histogram
}

// NewStats returns empty Stats.
func NewStats() *Stats { return &Stats{Latency: NewHistogram()} }

// Merge adds o to s losslessly: counters add, histograms merge.
func (s *Stats) Merge(o *Stats) {
	s.Requests += o.Requests
	s.Failures += o.Failures
	s.Bytes += o.Bytes
	s.TotalTime += o.TotalTime
	s.Latency = mergeInto(s.Latency, o.Latency)
	s.Service = mergeInto(s.Service, o.Service)
	s.Corrected = mergeInto(s.Corrected, o.Corrected)
}

// mergeInto merges o into h, allocating h when o has something to add.
func mergeInto(h, o *Histogram) *Histogram {
	if o == nil {
		return h
	}
	if h == nil {
		h = NewHistogram()
	}
	h.Merge(o)
	return h
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
	if s.Service != nil {
		c.Service = s.Service.Clone()
	}
	if s.Corrected != nil {
		c.Corrected = s.Corrected.Clone()
	}
	return &c
}

// Equal reports whether s and o hold the same counters and the same histogram
// buckets (a nil Latency equals an empty one).
func (s *Stats) Equal(o *Stats) bool {
	return s.Requests == o.Requests && s.Failures == o.Failures && s.Bytes == o.Bytes &&
		s.TotalTime == o.TotalTime && s.Latency.Equal(o.Latency) &&
		s.Service.Equal(o.Service) && s.Corrected.Equal(o.Corrected)
}
