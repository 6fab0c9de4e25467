//go:build !race

// The race detector makes sync.Pool drop what it is given at random, so the
// allocations measured here mean something only without it: `make test` runs this
// test without -race as well.

package web

import (
	"io"
	"runtime"
	"testing"
)

// However long the run and many its hosts, /api/live does not hold its response in
// memory: writing a 10 MB view allocates a small part of that.
func TestWriteLiveStreams(t *testing.T) {
	l := liveWith(20, 1024)
	var n countingWriter
	if err := writeLive(&n, l); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := writeLive(io.Discard, l); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("a %d-byte live view: %d bytes allocated", n, alloc)
	if alloc > uint64(n)/8 {
		t.Errorf("writing a %d-byte live view allocated %d bytes; want under an eighth of it", n, alloc)
	}
}
