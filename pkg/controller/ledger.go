package controller

import (
	"maps"
	"slices"
)

// maxSeqGaps bounds the report numbers a worker's session may skip and send later.
const maxSeqGaps = 64

// seqKey names the numbering a report belongs to: its worker and the session that
// numbered it.
func seqKey(workerID, origin string) string { return workerID + "\x00" + origin }

// reportLedger is a run's account of which report numbers each worker session's
// reports carried: so a report sent again counts once, and one skipped and never sent
// is said, not hidden. The zero value is empty and ready.
type reportLedger struct {
	last map[string]uint64          // seqKey -> highest report number counted
	gaps map[string]map[uint64]bool // seqKey -> report numbers skipped, still expected
}

// fresh tells whether report seq of a worker's session (key) is one not counted yet,
// and notes it as counted. A report that comes after a later one (a gap) still counts
// once; one seen before does not.
func (l *reportLedger) fresh(key string, seq uint64) bool {
	last, seen := l.last[key]
	if !seen {
		// A session numbers its reports across runs: its first one in this run
		// starts this run's count; the numbers before it were other runs'.
		if l.last == nil {
			l.last = map[string]uint64{}
		}
		l.last[key] = seq
		return true
	}
	if seq > last {
		from := last + 1
		if seq > maxSeqGaps {
			from = max(from, seq-maxSeqGaps)
		}
		for s := from; s < seq; s++ {
			if l.gaps == nil {
				l.gaps = map[string]map[uint64]bool{}
			}
			if l.gaps[key] == nil {
				l.gaps[key] = map[uint64]bool{}
			}
			l.gaps[key][s] = true
		}
		l.last[key] = seq
		return true
	}
	if l.gaps[key][seq] {
		delete(l.gaps[key], seq)
		return true
	}
	return false
}

// missing returns, in order, the report numbers of session key still expected, and
// stops expecting them.
func (l *reportLedger) missing(key string) []uint64 {
	seqs := slices.Sorted(maps.Keys(l.gaps[key]))
	delete(l.gaps, key)
	return seqs
}

// end closes session key's numbering: a worker that counts from 1 again on its next
// session starts afresh.
func (l *reportLedger) end(key string) { delete(l.last, key) }

// withGaps returns, in order, the sessions with report numbers still expected.
func (l *reportLedger) withGaps() []string { return slices.Sorted(maps.Keys(l.gaps)) }
