package aggregate

import (
	"math"
	"slices"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Latency range tracked by every Histogram: 1 µs to 1 h, 3 significant digits.
const (
	LowestLatency  = time.Microsecond
	HighestLatency = time.Hour
	SigFigs        = sigFigs
)

// denseThreshold is the number of populated buckets above which a Histogram
// that grows by Record or Merge switches from the sparse form to a dense
// hdrhistogram-go Histogram. Sparse costs 8 bytes per populated bucket and a
// binary search per Record; dense costs ~184 KiB and O(1) per Record. At 1024
// populated buckets sparse is 8 KiB and still quick to merge.
const denseThreshold = 1024

// bucket is one populated bucket of the sparse form.
type bucket struct {
	idx   uint16 // counts-array index, < countsLen
	count uint32 // > 0
}

// Histogram is a latency HdrHistogram in microseconds (1 µs .. 1 h, 3 significant
// digits). The zero value is an empty histogram ready to use; NewHistogram
// returns one.
//
// A Histogram keeps one of two forms, chosen by how much it holds, with the
// same buckets and the same answers:
//   - sparse: the populated buckets only, sorted (small histograms: one
//     worker's report for one interval, a decoded payload);
//   - dense: a github.com/HdrHistogram/hdrhistogram-go Histogram (large
//     histograms: busy endpoints, cumulative statistics), taken when Record or
//     Merge grows the histogram past denseThreshold populated buckets.
//
// Queries on the sparse form follow hdrhistogram-go exactly (geometry_test.go
// checks them against the library).
//
// A Histogram is not safe for concurrent mutation; concurrent read-only calls
// (Count, Percentile, Min, Max, MarshalBinary, Equal) are safe while nothing
// mutates it.
type Histogram struct {
	sparse []bucket // ascending idx; the form in use while dense == nil
	total  int64    // sum of sparse counts
	dense  *hdr.Histogram
	pool   *densePool // where a dense form comes from; nil: allocate
}

// NewHistogram returns an empty Histogram.
func NewHistogram() *Histogram { return &Histogram{} }

// Record adds one latency. Latencies below 1 µs count as 1 µs and above 1 h as
// 1 h; Record never fails.
func (h *Histogram) Record(d time.Duration) {
	v := micros(d)
	if h.dense != nil {
		// Fails only when the total count would pass MaxInt64 (never in practice).
		_ = h.dense.RecordValue(v)
		return
	}
	h.recordSparse(indexOf(v))
}

func (h *Histogram) recordSparse(i int) {
	b := h.sparse
	lo, n := 0, len(b)
	if n > 0 && int(b[n-1].idx) < i {
		lo = n // past the end: common while a histogram fills up
	} else {
		for n > 0 {
			half := n >> 1
			if int(b[lo+half].idx) < i {
				lo += half + 1
				n -= half + 1
			} else {
				n = half
			}
		}
	}
	if lo < len(b) && int(b[lo].idx) == i {
		if b[lo].count == math.MaxUint32 {
			h.promote()
			_ = h.dense.RecordValue(lowestAt(i))
			return
		}
		b[lo].count++
		h.total++
		return
	}
	if len(b) >= denseThreshold {
		h.promote()
		_ = h.dense.RecordValue(lowestAt(i))
		return
	}
	h.sparse = slices.Insert(b, lo, bucket{idx: uint16(i), count: 1})
	h.total++
}

// promote switches h to the dense form.
func (h *Histogram) promote() {
	d := h.pool.get()
	for _, b := range h.sparse {
		_ = d.RecordValues(lowestAt(int(b.idx)), int64(b.count))
	}
	h.dense, h.sparse, h.total = d, nil, 0
}

// demote switches a dense h back to the sparse form and returns the dense
// histogram it no longer uses, or nil when h stays dense (a count above
// MaxUint32). scratch is reset and used for the conversion.
func (h *Histogram) demote(scratch *hdr.PackedHistogram) *hdr.Histogram {
	d := h.dense
	if d == nil {
		return nil
	}
	scratch.Reset()
	scratch.MergeFrom(d)
	sparse := make([]bucket, 0, scratch.Populated())
	fits := true
	scratch.ForEachBucket(func(v, c int64) bool {
		if c > math.MaxUint32 {
			fits = false
			return false
		}
		sparse = append(sparse, bucket{idx: uint16(indexOf(v)), count: uint32(c)})
		return true
	})
	if !fits {
		return nil
	}
	h.sparse, h.total, h.dense = sparse, d.TotalCount(), nil
	return d
}

// Merge adds every count of o to h; it is lossless (counts add bucket by
// bucket). h.Merge(h) doubles h. A nil o is empty.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.Count() == 0 {
		return
	}
	if o == h {
		o = h.Clone()
	}
	if o.dense != nil {
		if h.dense == nil {
			h.promote()
		}
		h.dense.Merge(o.dense)
		return
	}
	if h.dense != nil {
		for _, b := range o.sparse {
			_ = h.dense.RecordValues(lowestAt(int(b.idx)), int64(b.count))
		}
		return
	}
	h.mergeSparse(o.sparse, o.total)
}

// mergeSparse merges sparse buckets into sparse h, switching h to dense when the
// union grows past denseThreshold or a count would not fit.
func (h *Histogram) mergeSparse(o []bucket, oTotal int64) {
	a := h.sparse
	union := len(a)
	fits := true
	for i, j := 0, 0; j < len(o); {
		switch {
		case i < len(a) && a[i].idx < o[j].idx:
			i++
		case i < len(a) && a[i].idx == o[j].idx:
			if uint64(a[i].count)+uint64(o[j].count) > math.MaxUint32 {
				fits = false
			}
			i++
			j++
		default:
			union++
			j++
		}
	}
	if !fits || (union > denseThreshold && union > len(a)) {
		h.promote()
		for _, b := range o {
			_ = h.dense.RecordValues(lowestAt(int(b.idx)), int64(b.count))
		}
		return
	}
	// Merge in place from the end: every slot of a is read before the write
	// position reaches it.
	n := len(a)
	a = slices.Grow(a, union-n)[:union]
	i, j, out := n-1, len(o)-1, union-1
	for j >= 0 {
		switch {
		case i >= 0 && a[i].idx > o[j].idx:
			a[out] = a[i]
			i--
		case i >= 0 && a[i].idx == o[j].idx:
			a[out] = bucket{idx: a[i].idx, count: a[i].count + o[j].count}
			i--
			j--
		default:
			a[out] = o[j]
			j--
		}
		out--
	}
	h.sparse = a
	h.total += oTotal
}

// Count returns the number of recorded latencies.
func (h *Histogram) Count() int64 {
	if h.dense != nil {
		return h.dense.TotalCount()
	}
	return h.total
}

// Percentile returns the latency at percentile p (in percent: 50, 99.9), as
// hdrhistogram-go's ValueAtPercentile defines it: the highest latency of the
// bucket where the cumulative count reaches p% of the total (the lowest, for
// p <= 0). p is clamped to [0, 100]. An empty histogram returns 0.
func (h *Histogram) Percentile(p float64) time.Duration {
	if h.dense != nil {
		return duration(h.dense.ValueAtPercentile(p))
	}
	if h.total == 0 {
		return 0
	}
	if p > 100 {
		p = 100
	} else if p < 0 {
		p = 0
	}
	i := h.indexAtRank(percentileRank(p, h.total))
	if p == 0 {
		return duration(lowestAt(i))
	}
	return duration(highestAt(i))
}

// indexAtRank returns the index of the sparse bucket where the cumulative
// count reaches rank (1 <= rank <= h.total).
func (h *Histogram) indexAtRank(rank int64) int {
	var running int64
	for _, b := range h.sparse {
		running += int64(b.count)
		if running >= rank {
			return int(b.idx)
		}
	}
	return int(h.sparse[len(h.sparse)-1].idx)
}

// Percentiles returns Percentile(p) for each p, in order, with one pass over
// the histogram.
func (h *Histogram) Percentiles(ps ...float64) []time.Duration {
	out := make([]time.Duration, len(ps))
	if h.dense != nil {
		for i, v := range h.dense.ValueAtPercentilesSlice(ps) {
			out[i] = duration(v)
		}
		return out
	}
	for i, p := range ps {
		out[i] = h.Percentile(p)
	}
	return out
}

// Min returns the lowest latency of the lowest populated bucket (0 when empty).
func (h *Histogram) Min() time.Duration {
	if h.Count() == 0 {
		return 0
	}
	if h.dense != nil {
		// The same value as Min(), from the library's faster counts scan.
		return duration(h.dense.ValueAtPercentile(0))
	}
	return duration(lowestAt(int(h.sparse[0].idx)))
}

// Max returns the highest latency of the highest populated bucket (0 when
// empty).
func (h *Histogram) Max() time.Duration {
	if h.Count() == 0 {
		return 0
	}
	if h.dense != nil {
		// The same value as Max(), from the library's faster counts scan.
		return duration(h.dense.ValueAtPercentile(100))
	}
	return duration(highestAt(int(h.sparse[len(h.sparse)-1].idx)))
}

// Reset empties h, keeping its memory.
func (h *Histogram) Reset() {
	if h.dense != nil {
		h.dense.Reset()
		return
	}
	h.sparse = h.sparse[:0]
	h.total = 0
}

// Clone returns an independent copy of h.
func (h *Histogram) Clone() *Histogram {
	c := &Histogram{total: h.total}
	if h.dense != nil {
		c.dense = h.dense.Clone()
	} else if len(h.sparse) > 0 {
		c.sparse = slices.Clone(h.sparse)
	}
	return c
}

// Equal reports whether h and o hold the same counts in the same buckets. A
// nil Histogram equals an empty one.
func (h *Histogram) Equal(o *Histogram) bool {
	if h == nil || o == nil {
		return h.countOrZero() == o.countOrZero()
	}
	if h.Count() != o.Count() {
		return false
	}
	if h.dense == nil && o.dense == nil {
		return slices.Equal(h.sparse, o.sparse)
	}
	// The encoding is canonical: equal bytes, equal buckets.
	return string(h.appendBody(nil)) == string(o.appendBody(nil))
}

func (h *Histogram) countOrZero() int64 {
	if h == nil {
		return 0
	}
	return h.Count()
}

// packed returns the buckets of a dense h as an hdrhistogram-go
// PackedHistogram: the library's allocation-light way to read a dense
// histogram's populated buckets.
func (h *Histogram) packed() *hdr.PackedHistogram {
	p := hdr.NewPacked(lowestMicros, highestMicros, sigFigs)
	p.MergeFrom(h.dense)
	return p
}
