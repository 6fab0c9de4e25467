package aggregate

import (
	"cmp"
	"maps"
	"slices"
)

// MaxCounters caps distinct counters in one Snapshot; the rest are counted under
// OtherCounters.
const MaxCounters = 1000

// OtherCounters is the counter under which counts beyond MaxCounters go.
const OtherCounters = "(other counters: too many distinct names)"

// OtherExceptions is the message under which exceptions beyond MaxErrorKinds go.
const OtherExceptions = "(other exceptions: too many distinct messages)"

// ExceptionKey groups errors raised by tasks (script exceptions): same message,
// same traceback.
type ExceptionKey struct {
	Message   string
	Traceback string
}

// AddCount adds n to the counter name, honouring MaxCounters.
func (s *Snapshot) AddCount(name string, n uint64) {
	addCapped(&s.Counters, name, n, MaxCounters, OtherCounters)
}

// AddException counts n occurrences of k, honouring MaxErrorKinds.
func (s *Snapshot) AddException(k ExceptionKey, n uint64) {
	addCapped(&s.Exceptions, k, n, MaxErrorKinds, ExceptionKey{Message: OtherExceptions})
}

// addCapped adds n under k in *m, creating the map when needed; a key new to a map
// that already holds limit keys is counted under overflow instead. n == 0 does
// nothing.
func addCapped[K comparable](m *map[K]uint64, k K, n uint64, limit int, overflow K) {
	if n == 0 {
		return
	}
	if *m == nil {
		*m = make(map[K]uint64)
	}
	if _, ok := (*m)[k]; ok || len(*m) < limit {
		(*m)[k] += n
		return
	}
	(*m)[overflow] += n
}

// mergeExtras adds o's counters and exceptions to s, in sorted order so the
// result never depends on map order when a cap is reached.
func (s *Snapshot) mergeExtras(o *Snapshot) {
	for _, k := range slices.Sorted(maps.Keys(o.Counters)) {
		s.AddCount(k, o.Counters[k])
	}
	for _, k := range sortedExceptionKeys(o.Exceptions) {
		s.AddException(k, o.Exceptions[k])
	}
}

func compareExceptionKeys(a, b ExceptionKey) int {
	if c := cmp.Compare(a.Message, b.Message); c != 0 {
		return c
	}
	return cmp.Compare(a.Traceback, b.Traceback)
}

func sortedExceptionKeys(m map[ExceptionKey]uint64) []ExceptionKey {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, compareExceptionKeys)
	return keys
}

// Count adds n to a counter (a cache hit, an order placed). Counts are buffered
// with the Recorder's samples and merged cluster-wide like them.
func (r *Recorder) Count(name string, n int64) {
	if n <= 0 {
		return
	}
	for i := range r.counts {
		if r.counts[i].name == name {
			r.counts[i].n += uint64(n)
			return
		}
	}
	r.counts = append(r.counts, pendingCount{name, uint64(n)})
	if len(r.counts) >= BatchSize {
		r.Flush()
	}
}

// Exception records an error raised by a task, with where it happened. Rare by
// nature, so it goes to the Collector at once.
func (r *Recorder) Exception(message, traceback string) {
	r.c.mu.Lock()
	r.c.cur.AddException(ExceptionKey{Message: message, Traceback: traceback}, 1)
	r.c.mu.Unlock()
}

type pendingCount struct {
	name string
	n    uint64
}

// addCounts merges a Recorder's pending counts into the current interval.
func (c *Collector) addCounts(counts []pendingCount) {
	c.mu.Lock()
	for _, pc := range counts {
		c.cur.AddCount(pc.name, pc.n)
	}
	c.mu.Unlock()
}
