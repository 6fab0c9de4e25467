package aggregate

import (
	"slices"
	"sync"
	"time"
	"unsafe"
)

// BatchSize is the number of samples a Recorder buffers before it hands them
// to its Collector.
const BatchSize = 64

// FlushAge is how old the first buffered sample of a Recorder may get before
// the next Record hands the batch to the Collector.
const FlushAge = 100 * time.Millisecond

// Sample is one measured request (or custom measurement).
type Sample struct {
	Endpoint Endpoint
	Latency  time.Duration
	Bytes    int64
	Err      string // "" when it succeeded
	URL      string // optional: the URL requested, when the row's name groups several
	// Service, when positive, says Latency was measured from the moment the request
	// was due (open model) and holds the time from sending it; it goes to
	// Stats.Service.
	Service time.Duration
	// Interval, when positive, is the pace the user meant to keep; the latency is
	// also recorded with coordinated omission corrected against it (Stats.Corrected).
	Interval time.Duration
	// TraceID is the W3C trace id the request carried (all zero: none); kept for
	// the slowest requests (SlowRequest.TraceID).
	TraceID [16]byte
}

// batch is a Recorder's buffer of samples, lent by its Collector.
type batch struct {
	n       int
	samples [BatchSize]Sample
	at      [BatchSize]time.Time // when each sample was measured
}

// Collector gathers the batches of many Recorders into the current interval. Safe for concurrent use.
//
// Each flushed sample adds to the current interval's Stats for its endpoint:
// Requests+1, Failures+1 when Err != "", Bytes (negative sizes count as 0),
// TotalTime (negative latencies count as 0), the latency histogram, and
// AddError(ErrorKey{Endpoint, Err}, 1) for a failure. Past MaxEndpoints distinct
// endpoints in an interval, a new endpoint's samples (and errors) go to its method's
// OtherEndpoints row.
//
// The current interval's histograms are dense (O(1) per sample). Swap returns
// them in their compact sparse form and keeps their pages for the next
// interval, so a worker does not allocate histogram memory every interval.
type Collector struct {
	mu  sync.Mutex
	cur *Snapshot // guarded by mu

	batches sync.Pool // *batch
	pages   pagePool
}

// NewCollector returns a Collector whose first interval starts at start.
func NewCollector(start time.Time) *Collector {
	return &Collector{cur: NewSnapshot(start)}
}

// NewRecorder returns a Recorder that flushes into c. Create one per goroutine.
func (c *Collector) NewRecorder() *Recorder { return &Recorder{c: c} }

// Swap returns [prev, now), starts next.
//
// Under the Collector's lock it takes the current Snapshot, sets its End to
// now, and starts a new one with Start now: samples flushed before Swap are in
// the returned Snapshot, samples flushed after it in the next. Samples still
// buffered in a Recorder are in neither until that Recorder flushes; flush
// every Recorder before the last Swap of a run.
//
// The returned Snapshot belongs to the caller; its histograms are compact
// (sparse) where they fit.
func (c *Collector) Swap(now time.Time) *Snapshot {
	c.mu.Lock()
	old := c.cur
	c.cur = &Snapshot{
		Start:     now,
		Endpoints: make(map[Endpoint]*Stats, len(old.Endpoints)),
		Errors:    make(map[ErrorKey]uint64),
	}
	c.mu.Unlock()

	// Nothing else refers to old now: convert it outside the lock.
	old.End = now
	var freed []*page
	for _, st := range old.Endpoints {
		for _, h := range [...]*Histogram{st.Latency, st.Service, st.Corrected} {
			if h != nil {
				h.pool = nil
				freed = append(freed, h.demote()...)
			}
		}
	}
	c.pages.put(freed)
	return old
}

// add merges a batch into the current interval: one lock per batch.
func (c *Collector) add(b *batch) {
	// The endpoints of this batch: a user cycles through a few endpoints, and
	// most name them with the same strings every time. Two strings with the
	// same data pointer and length are equal, and comparing that is far
	// cheaper than hashing them for the map; other strings take the map.
	var recent [8]struct {
		method, name *byte
		lm, ln       int
		st           *Stats
		key          Endpoint // the row: the endpoint, or its overflow row past MaxEndpoints
	}
	next := 0
	c.mu.Lock()
	snap := c.cur
	slow := snap.slowThreshold()
	for i := range b.n {
		s := &b.samples[i]
		m, n := unsafe.StringData(s.Endpoint.Method), unsafe.StringData(s.Endpoint.Name)
		lm, ln := len(s.Endpoint.Method), len(s.Endpoint.Name)
		var st *Stats
		var key Endpoint
		for k := range recent {
			r := &recent[k]
			if r.name == n && r.method == m && r.ln == ln && r.lm == lm && r.st != nil {
				st, key = r.st, r.key
				break
			}
		}
		if st == nil {
			key = s.Endpoint
			st = snap.Endpoints[key]
			if st == nil {
				key = snap.endpointKey(key)
				st = snap.Endpoints[key]
			}
			if st == nil {
				st = &Stats{Latency: &Histogram{pool: &c.pages}}
				snap.Endpoints[key] = st
			}
			r := &recent[next]
			r.method, r.name, r.lm, r.ln, r.st, r.key = m, n, lm, ln, st, key
			next = (next + 1) % len(recent)
		}
		lat := max(s.Latency, 0)
		st.Requests++
		st.TotalTime += lat
		st.Bytes += uint64(max(s.Bytes, 0))
		st.Latency.Record(lat)
		if s.Service > 0 {
			if st.Service == nil {
				st.Service = &Histogram{pool: &c.pages}
			}
			st.Service.Record(s.Service)
		}
		if s.Interval > 0 {
			if st.Corrected == nil {
				st.Corrected = &Histogram{pool: &c.pages}
			}
			st.Corrected.RecordCorrected(lat, s.Interval)
		}
		if s.Err != "" {
			st.Failures++
			snap.AddError(ErrorKey{Endpoint: key, Message: s.Err}, 1)
		}
		if lat > slow {
			snap.noteSlow(SlowRequest{Endpoint: s.Endpoint, URL: s.URL, Latency: lat, At: b.at[i], Err: s.Err,
				TraceID: traceHex(s.TraceID)})
			slow = snap.slowThreshold()
		}
	}
	c.mu.Unlock()
}

func (c *Collector) getBatch() *batch {
	if b, ok := c.batches.Get().(*batch); ok {
		return b
	}
	return new(batch)
}

func (c *Collector) putBatch(b *batch) {
	clear(b.samples[:b.n]) // drop the strings it refers to
	b.n = 0
	c.batches.Put(b)
}

// Recorder buffers one goroutine's samples; not safe for concurrent use.
//
// Record appends to a batch (no lock, no channel, no allocation once the
// Collector's batch pool is warm) and hands the batch to the Collector when it
// is full (BatchSize samples) or its first sample is FlushAge old. Flush hands
// it over at once; call it before the goroutine sleeps or stops, so that no
// sample waits in an idle Recorder. An idle Recorder holds no buffer.
type Recorder struct {
	c      *Collector
	b      *batch    // nil when empty
	first  time.Time // time of the batch's first sample
	counts []pendingCount

	open     bool          // samples are measured from when they were due
	late     time.Duration // how late the current iteration started
	interval time.Duration // the pace to correct coordinated omission against
}

// SetLateness marks what follows as one open-model iteration that started late
// after it was due: every sample's Latency grows by late (the honest latency,
// from the due time) and its Service keeps the time measured from sending.
func (r *Recorder) SetLateness(late time.Duration) {
	r.open, r.late = true, max(late, 0)
}

// SetPace says the user means to run one iteration every interval (0: no pace):
// samples are also recorded corrected for coordinated omission against it.
func (r *Recorder) SetPace(interval time.Duration) { r.interval = max(interval, 0) }

// Record buffers s, measured at now.
func (r *Recorder) Record(s Sample, now time.Time) {
	if r.open && s.Service == 0 {
		s.Service = max(s.Latency, 1)
		s.Latency += r.late
	}
	if r.interval > 0 && s.Interval == 0 {
		s.Interval = r.interval
	}
	b := r.b
	if b == nil {
		b = r.c.getBatch()
		r.b = b
		r.first = now
	}
	b.samples[b.n] = s
	b.at[b.n] = now
	b.n++
	if b.n == BatchSize || now.Sub(r.first) >= FlushAge {
		r.Flush()
	}
}

// Flush hands the buffered samples to the Collector. On an empty Recorder it
// does nothing (and takes no lock).
func (r *Recorder) Flush() {
	if len(r.counts) > 0 {
		r.c.addCounts(r.counts)
		r.counts = r.counts[:0]
	}
	b := r.b
	if b == nil {
		return
	}
	r.b = nil
	r.c.add(b)
	r.c.putBatch(b)
}

// pagePool keeps the histogram pages a Collector's intervals have finished
// with, for the next interval. A nil *pagePool allocates.
type pagePool struct {
	mu   sync.Mutex
	free []*page // cleared, guarded by mu
}

func (p *pagePool) get() *page {
	if p != nil {
		p.mu.Lock()
		if n := len(p.free); n > 0 {
			pg := p.free[n-1]
			p.free[n-1] = nil
			p.free = p.free[:n-1]
			p.mu.Unlock()
			return pg
		}
		p.mu.Unlock()
	}
	return new(page)
}

// put keeps the cleared pages ps for reuse. It keeps at most len(ps) pages in
// all, the number the last interval needed, so the pool shrinks when the load
// does.
func (p *pagePool) put(ps []*page) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free = append(p.free, ps...)
	if extra := len(p.free) - len(ps); extra > 0 {
		p.free = slices.Delete(p.free, 0, extra)
	}
}
