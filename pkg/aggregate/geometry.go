package aggregate

import (
	"math"
	"math/bits"
	"time"
)

// The bucket geometry every Histogram shares. It is the geometry hdrhistogram-go
// builds for New(1, 3_600_000_000, 3), written out so that both forms of a
// Histogram and the encoding agree with the library on what each counts-array
// index means; geometry_test.go checks it against the library.
//
// Values are microseconds. Values below 2048 µs have their own bucket; above
// that, each power of two is split into 1024 sub-buckets, so a bucket is never
// wider than 1/1024 of its value (better than 3 significant digits).
const (
	lowestMicros  = 1
	highestMicros = 3_600_000_000
	sigFigs       = 3

	subBucketHalfCountMagnitude = 10 // log2(subBucketHalfCount)
	subBucketHalfCount          = 1 << subBucketHalfCountMagnitude
	subBucketCount              = 2 * subBucketHalfCount
	subBucketMask               = subBucketCount - 1

	// bucketCount is the number of power-of-two buckets needed so that
	// subBucketCount<<(bucketCount-1) > highestMicros.
	bucketCount = 22
	// countsLen is the length of the counts array: the number of distinct
	// buckets a Histogram can hold.
	countsLen = (bucketCount + 1) * subBucketHalfCount
)

// The sparse form stores an index in a uint16.
var _ [math.MaxUint16 + 1 - countsLen]struct{}

// micros converts a latency to the recorded value, clamped to the tracked range.
func micros(d time.Duration) int64 {
	v := int64(d / time.Microsecond)
	if v < lowestMicros {
		return lowestMicros
	}
	if v > highestMicros {
		return highestMicros
	}
	return v
}

// duration converts a recorded value back to a latency.
func duration(v int64) time.Duration { return time.Duration(v) * time.Microsecond }

// indexOf returns the counts-array index of value v (0 <= v <= highestMicros).
func indexOf(v int64) int {
	bucket := 64 - bits.LeadingZeros64(uint64(v)|subBucketMask) - (subBucketHalfCountMagnitude + 1)
	sub := int(v >> uint(bucket))
	return (bucket+1)<<subBucketHalfCountMagnitude + sub - subBucketHalfCount
}

// bucketOf returns the power-of-two bucket of counts-array index i.
func bucketOf(i int) int {
	return max((i>>subBucketHalfCountMagnitude)-1, 0)
}

// lowestAt returns the lowest value counted at index i: the value hdrhistogram-go
// reports for the bucket.
func lowestAt(i int) int64 {
	bucket := (i >> subBucketHalfCountMagnitude) - 1
	sub := (i & (subBucketHalfCount - 1)) + subBucketHalfCount
	if bucket < 0 {
		sub -= subBucketHalfCount
		bucket = 0
	}
	return int64(sub) << uint(bucket)
}

// highestAt returns the highest value counted at index i.
func highestAt(i int) int64 {
	return lowestAt(i) + int64(1)<<uint(bucketOf(i)) - 1
}

// percentileRank is hdrhistogram-go's rank for a percentile: a target
// cumulative count in [1, total] for total > 0. NaN and negative percentiles
// give 1, percentiles above 100 give total.
func percentileRank(p float64, total int64) int64 {
	if p > 100 {
		p = 100
	}
	rank := (p/100)*float64(total) + 0.5
	if !(rank >= 1) {
		return 1
	}
	if rank >= float64(total) {
		return total
	}
	return int64(rank)
}
