package aggregate

import (
	"cmp"
	"iter"
	"math"
	"slices"
	"time"
)

// Latency range tracked by every Histogram: 1 µs to 1 h, 3 significant digits.
const (
	LowestLatency  = time.Microsecond
	HighestLatency = time.Hour
	SigFigs        = sigFigs
)

// The dense form splits the counts array into pages of one power-of-two
// bucket's sub-buckets each, allocated on first use: a latency distribution
// spanning a few powers of two touches a few pages (8 KiB each), not all 23.
const (
	pageBits  = subBucketHalfCountMagnitude
	pageSize  = 1 << pageBits
	pageCount = countsLen / pageSize
)

var _ [countsLen - pageCount*pageSize]struct{} // countsLen is a whole number of pages

type page [pageSize]int64

// maxSparse is the most buckets a sparse Histogram grows to by merging before
// it switches to the dense form; past it, merging sorted lists costs more than
// adding into pages.
const maxSparse = 1024

// bucket is one populated bucket of the sparse form.
type bucket struct {
	idx   uint16 // counts-array index, < countsLen
	count uint32 // > 0
}

// Histogram is a latency HdrHistogram in microseconds (1 µs .. 1 h, 3 significant
// digits). The zero value is an empty histogram ready to use; NewHistogram
// returns one.
//
// Its buckets are exactly those of github.com/HdrHistogram/hdrhistogram-go's
// Histogram for New(1, 3_600_000_000, 3), and its answers (Percentile, Min,
// Max) are exactly the library's for the same counts; geometry_test.go checks
// both against the library. It keeps the counts itself, in one of two forms
// with the same answers:
//   - sparse: the populated buckets only, sorted (decoded payloads, a worker's
//     interval once swapped out: compact, quick to encode and merge from);
//   - dense: the counts array in lazily allocated pages (anything recorded
//     into, and large merges such as cumulative statistics: O(1) per Record,
//     O(populated) to merge a sparse histogram in).
//
// A Histogram holds at most MaxInt64 latencies.
//
// A Histogram is not safe for concurrent mutation; concurrent read-only calls
// (Count, Percentile, Percentiles, Min, Max, MarshalBinary, Equal, Clone) are
// safe while nothing mutates it.
type Histogram struct {
	sparse []bucket          // ascending idx; the form in use while pages == nil
	pages  *[pageCount]*page // the dense form
	total  int64             // sum of all counts
	pool   *pagePool         // where pages come from; nil: allocate
}

// NewHistogram returns an empty Histogram.
func NewHistogram() *Histogram { return &Histogram{} }

// Record adds one latency. Latencies below 1 µs count as 1 µs and above 1 h as
// 1 h; Record never fails.
func (h *Histogram) Record(d time.Duration) {
	i := indexOf(micros(d))
	if h.pages == nil {
		h.promote()
	}
	p := h.pages[i>>pageBits]
	if p == nil {
		p = h.newPage(i >> pageBits)
	}
	p[i&(pageSize-1)]++
	h.total++
}

func (h *Histogram) newPage(n int) *page {
	p := h.pool.get()
	h.pages[n] = p
	return p
}

// promote switches h to the dense form.
func (h *Histogram) promote() {
	h.pages = new([pageCount]*page)
	for _, b := range h.sparse {
		h.addDense(int(b.idx), int64(b.count))
	}
	h.sparse = nil
}

// addDense adds c at index i of the dense form (total aside).
func (h *Histogram) addDense(i int, c int64) {
	p := h.pages[i>>pageBits]
	if p == nil {
		p = h.newPage(i >> pageBits)
	}
	p[i&(pageSize-1)] += c
}

// MaxCorrections bounds the samples RecordCorrected adds for one value, so that
// one enormous latency against a tiny interval cannot stall a worker.
const MaxCorrections = 10_000

// RecordCorrected records d and, when d is longer than interval, the values a
// user issuing one request every interval would have measured while this one
// was outstanding: d-interval, d-2·interval, ... down to interval (HdrHistogram's
// recordValueWithExpectedInterval). At most MaxCorrections values are added.
func (h *Histogram) RecordCorrected(d, interval time.Duration) {
	h.Record(d)
	if interval <= 0 {
		return
	}
	n := 0
	for missing := d - interval; missing >= interval && n < MaxCorrections; missing -= interval {
		h.Record(missing)
		n++
	}
}

// demote switches a dense h to the sparse form and returns the pages it no
// longer uses, cleared; it leaves h dense (and returns nil) when a count does
// not fit the sparse form.
func (h *Histogram) demote() []*page {
	if h.pages == nil {
		return nil
	}
	n, largest := h.scanDense()
	if largest > math.MaxUint32 {
		return nil
	}
	sparse := make([]bucket, 0, n)
	var freed []*page
	for pn, p := range h.pages {
		if p == nil {
			continue
		}
		for k, c := range p {
			if c != 0 {
				sparse = append(sparse, bucket{idx: uint16(pn<<pageBits + k), count: uint32(c)})
			}
		}
		clear(p[:])
		freed = append(freed, p)
	}
	h.sparse, h.pages = sparse, nil
	return freed
}

// scanDense returns the number of populated buckets of the dense form and the
// largest count.
func (h *Histogram) scanDense() (n int, largest int64) {
	for _, p := range h.pages {
		if p == nil {
			continue
		}
		for _, c := range p {
			if c != 0 {
				n++
				largest = max(largest, c)
			}
		}
	}
	return n, largest
}

// Merge adds every count of o to h; it is lossless (counts add bucket by
// bucket). h.Merge(h) doubles h. A nil o is empty.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.total == 0 {
		return
	}
	if o == h {
		o = h.Clone()
	}
	switch {
	case h.pages == nil && o.pages == nil:
		h.mergeSparse(o.sparse)
		return
	case h.pages == nil:
		h.promote()
	}
	if o.pages == nil {
		for _, b := range o.sparse {
			h.addDense(int(b.idx), int64(b.count))
		}
	} else {
		for n, op := range o.pages {
			if op == nil {
				continue
			}
			p := h.pages[n]
			if p == nil {
				p = h.newPage(n)
			}
			for k := range p {
				p[k] += op[k]
			}
		}
	}
	h.total += o.total
}

// mergeSparse merges sparse buckets into sparse h, switching h to the dense
// form when the union grows past maxSparse or a count would not fit.
func (h *Histogram) mergeSparse(o []bucket) {
	a := h.sparse
	union := len(a)
	fits := true
	var oTotal int64
	for i, j := 0, 0; j < len(o); {
		switch {
		case i < len(a) && a[i].idx < o[j].idx:
			i++
		case i < len(a) && a[i].idx == o[j].idx:
			fits = fits && uint64(a[i].count)+uint64(o[j].count) <= math.MaxUint32
			oTotal += int64(o[j].count)
			i++
			j++
		default:
			union++
			oTotal += int64(o[j].count)
			j++
		}
	}
	if !fits || (union > maxSparse && union > len(a)) {
		h.promote()
		for _, b := range o {
			h.addDense(int(b.idx), int64(b.count))
		}
		h.total += oTotal
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
func (h *Histogram) Count() int64 { return h.countOrZero() }

// Percentile returns the latency at percentile p (in percent: 50, 99.9), as
// hdrhistogram-go's ValueAtPercentile defines it: the highest latency of the
// bucket where the cumulative count reaches p% of the total (the lowest, for
// p <= 0). p is clamped to [0, 100]. An empty histogram returns 0.
func (h *Histogram) Percentile(p float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	ranks := [1]int64{percentileRank(p, h.total)}
	var at [1]int
	h.indexesAtRanks(ranks[:], at[:])
	return valueAt(at[0], p)
}

// Percentiles returns Percentile(p) for each p, in order, with one pass over
// the histogram.
func (h *Histogram) Percentiles(ps ...float64) []time.Duration {
	out := make([]time.Duration, len(ps))
	if h.total == 0 || len(ps) == 0 {
		return out
	}
	order := make([]int, len(ps)) // positions in ps, by ascending rank
	ranks := make([]int64, len(ps))
	for k := range order {
		order[k] = k
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Compare(percentileRank(ps[a], h.total), percentileRank(ps[b], h.total))
	})
	for k, at := range order {
		ranks[k] = percentileRank(ps[at], h.total)
	}
	at := make([]int, len(ps))
	h.indexesAtRanks(ranks, at)
	for k, pos := range order {
		out[pos] = valueAt(at[k], ps[pos])
	}
	return out
}

// valueAt is the latency reported for a percentile p that falls in bucket i:
// its lowest value for p <= 0, else its highest (NaN counts as above 0, as in
// hdrhistogram-go).
func valueAt(i int, p float64) time.Duration {
	if p <= 0 {
		return duration(lowestAt(i))
	}
	return duration(highestAt(i))
}

// indexesAtRanks sets at[k] to the index of the bucket where the cumulative
// count first reaches ranks[k]. ranks ascend, within [1, h.total].
func (h *Histogram) indexesAtRanks(ranks []int64, at []int) {
	var running int64
	next := 0
	if h.pages == nil {
		for _, b := range h.sparse {
			running += int64(b.count)
			for next < len(ranks) && running >= ranks[next] {
				at[next] = int(b.idx)
				next++
			}
			if next == len(ranks) {
				return
			}
		}
		return
	}
	for pn, p := range h.pages {
		if p == nil {
			continue
		}
		// Skip whole blocks of 8 buckets that cannot reach the next rank.
		for j := 0; j < pageSize; j += 8 {
			blk := p[j : j+8 : j+8]
			sum := blk[0] + blk[1] + blk[2] + blk[3] + blk[4] + blk[5] + blk[6] + blk[7]
			if running+sum < ranks[next] {
				running += sum
				continue
			}
			for k, c := range blk {
				running += c
				for next < len(ranks) && c != 0 && running >= ranks[next] {
					at[next] = pn<<pageBits + j + k
					next++
				}
				if next == len(ranks) {
					return
				}
			}
		}
	}
}

// Min returns the lowest latency of the lowest populated bucket (0 when empty).
func (h *Histogram) Min() time.Duration {
	if h.total == 0 {
		return 0
	}
	if h.pages == nil {
		return duration(lowestAt(int(h.sparse[0].idx)))
	}
	for n, p := range h.pages {
		if p == nil {
			continue
		}
		for k, c := range p {
			if c != 0 {
				return duration(lowestAt(n<<pageBits + k))
			}
		}
	}
	return 0
}

// Max returns the highest latency of the highest populated bucket (0 when
// empty).
func (h *Histogram) Max() time.Duration {
	if h.total == 0 {
		return 0
	}
	if h.pages == nil {
		return duration(highestAt(int(h.sparse[len(h.sparse)-1].idx)))
	}
	for n := pageCount - 1; n >= 0; n-- {
		if p := h.pages[n]; p != nil {
			for k := pageSize - 1; k >= 0; k-- {
				if p[k] != 0 {
					return duration(highestAt(n<<pageBits + k))
				}
			}
		}
	}
	return 0
}

// Reset empties h, keeping its memory.
func (h *Histogram) Reset() {
	if h.pages != nil {
		for _, p := range h.pages {
			if p != nil {
				clear(p[:])
			}
		}
	}
	h.sparse = h.sparse[:0]
	h.total = 0
}

// Clone returns an independent copy of h.
func (h *Histogram) Clone() *Histogram {
	c := &Histogram{total: h.total}
	if h.pages == nil {
		if len(h.sparse) > 0 {
			c.sparse = slices.Clone(h.sparse)
		}
		return c
	}
	c.pages = new([pageCount]*page)
	for n, p := range h.pages {
		if p != nil {
			cp := *p
			c.pages[n] = &cp
		}
	}
	return c
}

// Equal reports whether h and o hold the same counts in the same buckets. A
// nil Histogram equals an empty one.
func (h *Histogram) Equal(o *Histogram) bool {
	if h == nil || o == nil {
		return h.countOrZero() == o.countOrZero()
	}
	if h.total != o.total {
		return false
	}
	if h.pages == nil && o.pages == nil {
		return slices.Equal(h.sparse, o.sparse)
	}
	// The encoding is canonical: equal bytes, equal buckets.
	return string(h.appendBody(nil)) == string(o.appendBody(nil))
}

func (h *Histogram) countOrZero() int64 {
	if h == nil {
		return 0
	}
	return h.total
}

// CountsAtOrBelow returns, for each bound (ascending), how many recorded latencies
// lie in buckets whose every value is at or below it: the cumulative buckets of a
// classic Prometheus histogram. A bucket straddling a bound counts for the next one.
func (h *Histogram) CountsAtOrBelow(bounds []time.Duration) []uint64 {
	delta := make([]uint64, len(bounds)+1)
	for v, c := range h.Buckets() {
		k, _ := slices.BinarySearch(bounds, v) // first bound >= v
		delta[k] += uint64(c)
	}
	out := make([]uint64, len(bounds))
	var run uint64
	for k := range bounds {
		run += delta[k]
		out[k] = run
	}
	return out
}

// Buckets yields every populated bucket in ascending order: the highest latency
// the bucket holds (the value Percentile reports for it) and its count. For
// exporters that re-bucket the exact counts (Prometheus native histograms).
// Read-only: safe beside other readers while nothing mutates h.
func (h *Histogram) Buckets() iter.Seq2[time.Duration, int64] {
	return func(yield func(time.Duration, int64) bool) {
		if h == nil {
			return
		}
		if h.pages == nil {
			for _, b := range h.sparse {
				if !yield(duration(highestAt(int(b.idx))), int64(b.count)) {
					return
				}
			}
			return
		}
		for pn, p := range h.pages {
			if p == nil {
				continue
			}
			for j, c := range p {
				if c != 0 && !yield(duration(highestAt(pn<<pageBits+j)), c) {
					return
				}
			}
		}
	}
}
