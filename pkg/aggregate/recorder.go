package aggregate

import (
	"slices"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
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
}

// batch is a Recorder's buffer of samples, lent by its Collector.
type batch struct {
	n       int
	samples [BatchSize]Sample
}

// Collector gathers the batches of many Recorders into the current interval. Safe for concurrent use.
//
// Each flushed sample adds to the current interval's Stats for its endpoint:
// Requests+1, Failures+1 when Err != "", Bytes (negative sizes count as 0),
// TotalTime (negative latencies count as 0), the latency histogram, and
// AddError(ErrorKey{Endpoint, Err}, 1) for a failure.
//
// A Collector recycles the dense histograms of busy endpoints between
// intervals: Swap converts the returned Snapshot's histograms to their compact
// sparse form and keeps the dense memory for the next interval, so a worker
// does not allocate ~184 KiB per busy endpoint per interval.
type Collector struct {
	mu  sync.Mutex
	cur *Snapshot // guarded by mu

	batches sync.Pool // *batch
	dense   densePool
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
	var scratch *hdr.PackedHistogram
	var freed []*hdr.Histogram
	for _, st := range old.Endpoints {
		h := st.Latency
		h.pool = nil
		if h.dense == nil {
			continue
		}
		if scratch == nil {
			scratch = hdr.NewPacked(lowestMicros, highestMicros, sigFigs)
		}
		if d := h.demote(scratch); d != nil {
			freed = append(freed, d)
		}
	}
	c.dense.put(freed)
	return old
}

// add merges a batch into the current interval: one lock per batch.
func (c *Collector) add(b *batch) {
	c.mu.Lock()
	snap := c.cur
	var ep Endpoint
	var st *Stats
	for i := range b.n {
		s := &b.samples[i]
		if st == nil || s.Endpoint != ep {
			ep = s.Endpoint
			st = snap.Endpoints[ep]
			if st == nil {
				st = &Stats{Latency: &Histogram{pool: &c.dense}}
				snap.Endpoints[ep] = st
			}
		}
		lat := max(s.Latency, 0)
		st.Requests++
		st.TotalTime += lat
		st.Bytes += uint64(max(s.Bytes, 0))
		st.Latency.Record(lat)
		if s.Err != "" {
			st.Failures++
			snap.AddError(ErrorKey{Endpoint: ep, Message: s.Err}, 1)
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
	c     *Collector
	b     *batch    // nil when empty
	first time.Time // time of the batch's first sample
}

// Record buffers s, measured at now.
func (r *Recorder) Record(s Sample, now time.Time) {
	b := r.b
	if b == nil {
		b = r.c.getBatch()
		r.b = b
		r.first = now
	}
	b.samples[b.n] = s
	b.n++
	if b.n == BatchSize || now.Sub(r.first) >= FlushAge {
		r.Flush()
	}
}

// Flush hands the buffered samples to the Collector. On an empty Recorder it
// does nothing (and takes no lock).
func (r *Recorder) Flush() {
	b := r.b
	if b == nil {
		return
	}
	r.b = nil
	r.c.add(b)
	r.c.putBatch(b)
}

// densePool keeps the dense hdrhistogram-go histograms a Collector's intervals
// have finished with, for the next interval's busy endpoints. A nil
// *densePool allocates.
type densePool struct {
	mu   sync.Mutex
	free []*hdr.Histogram // empty, guarded by mu
}

func (p *densePool) get() *hdr.Histogram {
	if p != nil {
		p.mu.Lock()
		if n := len(p.free); n > 0 {
			d := p.free[n-1]
			p.free[n-1] = nil
			p.free = p.free[:n-1]
			p.mu.Unlock()
			return d
		}
		p.mu.Unlock()
	}
	return hdr.New(lowestMicros, highestMicros, sigFigs)
}

// put keeps ds for reuse. It keeps at most len(ds) histograms in all, the
// number the last interval needed, so the pool shrinks when endpoints go quiet.
func (p *densePool) put(ds []*hdr.Histogram) {
	for _, d := range ds {
		d.Reset()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free = append(p.free, ds...)
	if extra := len(p.free) - len(ds); extra > 0 {
		p.free = slices.Delete(p.free, 0, extra)
	}
}
