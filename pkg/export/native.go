package export

import (
	"math"
	"slices"
	"time"

	"github.com/prometheus/prometheus/prompb"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// Schema is the native-histogram schema Stampede writes: 2^8 buckets per power of
// two, so each bucket is 2^(1/256) ≈ 1.0027 times as wide as its lower bound
// (0.27 %), the finest Prometheus accepts. The HdrHistogram underneath resolves
// 0.1 %; a quantile read back from Prometheus is within one bucket of ours.
const Schema = 8

// zeroThreshold is the zero bucket's width: Stampede records nothing below 1 µs.
var zeroThreshold = math.Ldexp(1, -128)

// nativeIndex returns the index of the schema-8 bucket holding v > 0 seconds:
// bucket i holds (2^((i-1)/256), 2^(i/256)].
func nativeIndex(v float64) int32 {
	i := int32(math.Ceil(math.Log2(v) * (1 << Schema)))
	// Log2's rounding may land one bucket off at a boundary: settle it exactly.
	for v <= upperBound(i-1) {
		i--
	}
	for v > upperBound(i) {
		i++
	}
	return i
}

// upperBound is the upper bound (inclusive) of bucket i.
func upperBound(i int32) float64 { return math.Exp2(float64(i) / (1 << Schema)) }

// native is one endpoint's cumulative latency as a native histogram.
type native struct {
	buckets map[int32]uint64
	count   uint64
	sum     float64 // seconds
}

// add adds a merged interval's latencies: each HdrHistogram bucket's count goes
// to the native bucket holding the bucket's highest value (the value the
// HdrHistogram reports for a percentile falling there).
func (n *native) add(h *aggregate.Histogram, sum time.Duration) {
	if n.buckets == nil {
		n.buckets = map[int32]uint64{}
	}
	for v, c := range h.Buckets() {
		n.buckets[nativeIndex(v.Seconds())] += uint64(c)
		n.count += uint64(c)
	}
	n.sum += sum.Seconds()
}

// proto returns the histogram at ts (ms) in remote-write form: spans of
// consecutive populated buckets, counts as deltas from the previous bucket.
func (n *native) proto(ts int64) prompb.Histogram {
	h := prompb.Histogram{Count: &prompb.Histogram_CountInt{CountInt: n.count}, Sum: n.sum, Schema: Schema,
		ZeroThreshold: zeroThreshold, ZeroCount: &prompb.Histogram_ZeroCountInt{ZeroCountInt: 0}, Timestamp: ts}
	idx := make([]int32, 0, len(n.buckets))
	for i := range n.buckets {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	var prev int64
	for k, i := range idx {
		switch {
		case k == 0:
			h.PositiveSpans = append(h.PositiveSpans, prompb.BucketSpan{Offset: i, Length: 1})
		case i == idx[k-1]+1:
			h.PositiveSpans[len(h.PositiveSpans)-1].Length++
		default:
			h.PositiveSpans = append(h.PositiveSpans, prompb.BucketSpan{Offset: i - idx[k-1] - 1, Length: 1})
		}
		c := int64(n.buckets[i])
		h.PositiveDeltas = append(h.PositiveDeltas, c-prev)
		prev = c
	}
	return h
}
