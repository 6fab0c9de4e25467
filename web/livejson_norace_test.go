//go:build !race

// The race detector makes sync.Pool drop what it is given at random, so the
// allocations measured here mean something only without it: `make test` runs this
// test without -race as well.

package web

import (
	"io"
	"math"
	"runtime"
	"testing"
)

// However long the run and many its hosts, /api/live does not hold its response in
// memory: writing a 4 MB view allocates a small part of that.
func TestWriteLiveStreams(t *testing.T) {
	l := liveWith(20, 1024)
	var n countingWriter
	if err := writeLive(&n, l); err != nil {
		t.Fatal(err)
	}
	// The fewest bytes of three writes, after a collection: other goroutines of the
	// test binary may allocate meanwhile, never less.
	alloc := uint64(math.MaxUint64)
	for range 3 {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := writeLive(io.Discard, l); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		alloc = min(alloc, after.TotalAlloc-before.TotalAlloc)
	}
	t.Logf("a %d-byte live view: %d bytes allocated", n, alloc)
	if alloc > uint64(n)/8 {
		t.Errorf("writing a %d-byte live view allocated %d bytes; want under an eighth of it", n, alloc)
	}
}
