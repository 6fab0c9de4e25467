package aggregate

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// MaxErrorKinds caps distinct error rows in one Snapshot; the rest are counted under OtherErrors.
//
// AddError (and so Merge and the Collector) adds a new key only while the
// Snapshot holds fewer than MaxErrorKinds keys; past that, the count goes to
// ErrorKey{Endpoint: that endpoint, Message: OtherErrors}, which is added even
// when the map is full. A Snapshot built this way therefore holds at most
// MaxErrorKinds keys plus one OtherErrors key per endpoint. A decoded Snapshot
// holds what its payload holds (bounded by the payload's size).
const MaxErrorKinds = 1000

// OtherErrors is the message under which errors beyond MaxErrorKinds are counted.
const OtherErrors = "(other errors: too many distinct messages)"

// DroppedCounter is the counter of open-model iterations that were due but found no
// free user: counted, never silently skipped.
const DroppedCounter = "dropped_iterations"

// CancelledCounter is the counter of requests (and timers) in flight when the run's
// stop cut them: neither successes nor failures, and not in the failure rate.
const CancelledCounter = "cancelled_at_stop"

// LateReplanCounter is the counter of open-model iterations whose assignment to a
// worker changed after the worker had issued them: a re-plan that reached it late.
// Each may have run twice in the cluster, or not at all.
const LateReplanCounter = "replan_late_iterations"

// ErrorKey groups failures by endpoint and message.
type ErrorKey struct {
	Endpoint
	Message string
}

// Snapshot is what was measured between Start and End.
//
// A Snapshot is not safe for concurrent mutation; concurrent read-only use
// (Total, Names, Clone, MarshalBinary, Equal) is safe while nothing mutates it.
// The methods accept nil maps and Stats with a nil Latency.
type Snapshot struct {
	Start, End time.Time
	Endpoints  map[Endpoint]*Stats
	Errors     map[ErrorKey]uint64
	Counters   map[string]uint64       // custom counters, by name (may be nil)
	Exceptions map[ExceptionKey]uint64 // errors raised by tasks (may be nil)
	Slowest    []SlowRequest           // the MaxSlowest slowest requests, slowest first
}

// NewSnapshot returns an empty Snapshot starting at start.
func NewSnapshot(start time.Time) *Snapshot {
	return &Snapshot{
		Start:     start,
		Endpoints: make(map[Endpoint]*Stats),
		Errors:    make(map[ErrorKey]uint64),
	}
}

// Merge adds o to s losslessly: endpoint stats merge (an endpoint new to s is
// cloned; past MaxEndpoints it merges into its method's OtherEndpoints row, and its
// errors move with it), errors add through AddError, Start becomes the earliest non-zero
// Start and End the latest End. When the error cap is reached, o's errors are
// added in sorted order, so the result does not depend on map order.
func (s *Snapshot) Merge(o *Snapshot) {
	if !o.Start.IsZero() && (s.Start.IsZero() || o.Start.Before(s.Start)) {
		s.Start = o.Start
	}
	if o.End.After(s.End) {
		s.End = o.End
	}
	moved := s.mergeEndpoints(o)
	s.mergeExtras(o)
	s.mergeSlowest(o)
	if len(o.Errors) == 0 {
		return
	}
	if len(s.Errors)+len(o.Errors) <= MaxErrorKinds {
		for k, n := range o.Errors {
			s.AddError(errorKeyIn(k, moved), n)
		}
		return
	}
	for _, k := range sortedErrorKeys(o.Errors) {
		s.AddError(errorKeyIn(k, moved), o.Errors[k])
	}
}

// errorKeyIn is k with its endpoint replaced by the row it moved to, if it did.
func errorKeyIn(k ErrorKey, moved map[Endpoint]Endpoint) ErrorKey {
	if to, ok := moved[k.Endpoint]; ok {
		k.Endpoint = to
	}
	return k
}

// TimingKinds are the methods of rows that time a part of a request already counted
// under its own row (connect, TLS handshake, time to first byte, the server's own
// time, time to first chunk, inter-chunk latency, a model's time to first token and
// inter-token latency, a gRPC stream's time to first message and gaps between
// messages). Total leaves them out, so the aggregated figures count each request
// once.
var TimingKinds = map[string]bool{"CONNECT": true, "TLS": true, "TTFB": true, "SERVER": true, "TTFC": true, "ICL": true, "TTFT": true, "ITL": true,
	"TTFM": true, "MSG": true}

// Total returns a new Stats merging all endpoints but the TimingKinds rows.
func (s *Snapshot) Total() *Stats {
	t := NewStats()
	for ep, st := range s.Endpoints {
		if !TimingKinds[ep.Method] {
			t.Merge(st)
		}
	}
	return t
}

// Names returns the endpoints, sorted by Name, then Method.
func (s *Snapshot) Names() []Endpoint {
	names := slices.Collect(maps.Keys(s.Endpoints))
	slices.SortFunc(names, compareEndpoints)
	return names
}

func compareEndpoints(a, b Endpoint) int {
	if c := cmp.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return cmp.Compare(a.Method, b.Method)
}

func compareErrorKeys(a, b ErrorKey) int {
	if c := compareEndpoints(a.Endpoint, b.Endpoint); c != 0 {
		return c
	}
	return cmp.Compare(a.Message, b.Message)
}

func sortedErrorKeys(m map[ErrorKey]uint64) []ErrorKey {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, compareErrorKeys)
	return keys
}

// Clone returns an independent copy of s.
func (s *Snapshot) Clone() *Snapshot {
	c := &Snapshot{
		Start:     s.Start,
		End:       s.End,
		Endpoints: make(map[Endpoint]*Stats, len(s.Endpoints)),
		Errors:    maps.Clone(s.Errors),
	}
	if c.Errors == nil {
		c.Errors = make(map[ErrorKey]uint64)
	}
	c.Counters, c.Exceptions = maps.Clone(s.Counters), maps.Clone(s.Exceptions)
	c.Slowest = slices.Clone(s.Slowest)
	for k, st := range s.Endpoints {
		c.Endpoints[k] = st.Clone()
	}
	return c
}

// AddError counts n failures under k, honouring MaxErrorKinds: a key new to s
// is added only while s holds fewer than MaxErrorKinds keys; otherwise n is
// counted under ErrorKey{Endpoint: k.Endpoint, Message: OtherErrors}. n == 0
// does nothing.
func (s *Snapshot) AddError(k ErrorKey, n uint64) {
	addCapped(&s.Errors, k, n, MaxErrorKinds, ErrorKey{Endpoint: k.Endpoint, Message: OtherErrors})
}

// Equal reports whether s and o hold the same data: the same Start and End
// instants (time.Time.Equal), the same endpoints with Equal stats, and the
// same error counts.
func (s *Snapshot) Equal(o *Snapshot) bool {
	if !s.Start.Equal(o.Start) || !s.End.Equal(o.End) ||
		len(s.Endpoints) != len(o.Endpoints) || !maps.Equal(s.Errors, o.Errors) ||
		!maps.Equal(s.Counters, o.Counters) || !maps.Equal(s.Exceptions, o.Exceptions) ||
		!slices.EqualFunc(s.Slowest, o.Slowest, func(a, b SlowRequest) bool { return a.equal(b) }) {
		return false
	}
	for k, st := range s.Endpoints {
		ost, ok := o.Endpoints[k]
		if !ok || !st.Equal(ost) {
			return false
		}
	}
	return true
}
