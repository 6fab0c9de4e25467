package aggregate

import (
	"maps"
	"slices"
)

// MaxEndpoints caps the distinct rows of one Snapshot built by a Collector or by
// Merge; the requests of endpoints beyond it are counted under their method's
// OtherEndpoints row.
//
// A script that requests dynamic URLs ("/item/8271") without grouping them under a
// name ("/item/[id]") makes a row per URL: unbounded memory on the worker and the
// master, reports too large for the wire, a table nobody can read. With the cap the
// first MaxEndpoints rows keep their names, and every request, failure, byte and
// latency sample of the rest still counts, under
// Endpoint{Method: method, Name: OtherEndpoints}. Capped reports whether that happened.
//
// A Snapshot built this way holds at most MaxEndpointRows rows: MaxEndpoints named
// ones, an overflow row for each of at most MaxOtherMethods methods, one for the
// methods past those (Method OtherMethods) and one per timing kind (TimingKinds keep
// their own overflow rows, so Total still leaves them out). A decoded Snapshot holds
// what its payload holds.
const MaxEndpoints = 1000

// MaxOtherMethods bounds the methods that get an overflow row of their own.
const MaxOtherMethods = 16

// MaxEndpointRows is the most rows a Snapshot built by a Collector or Merge holds
// (MaxEndpoints named rows and the overflow rows; see MaxEndpoints).
const MaxEndpointRows = MaxEndpoints + 2*MaxOtherMethods

// OtherEndpoints is the Name of the row that counts a method's requests to endpoints
// beyond MaxEndpoints.
const OtherEndpoints = "(other: too many distinct names)"

// OtherMethods is the Method of the overflow row of methods beyond MaxOtherMethods.
const OtherMethods = "(other methods)"

// endpointKey is the row of s that ep's numbers go to: ep itself when s has it or
// has room for another row, else the overflow row of its method.
func (s *Snapshot) endpointKey(ep Endpoint) Endpoint {
	if _, ok := s.Endpoints[ep]; ok || len(s.Endpoints) < MaxEndpoints {
		return ep
	}
	other := Endpoint{Method: ep.Method, Name: OtherEndpoints}
	if _, ok := s.Endpoints[other]; ok || TimingKinds[ep.Method] {
		return other
	}
	last := Endpoint{Method: OtherMethods, Name: OtherEndpoints}
	if _, ok := s.Endpoints[last]; ok || s.overflowRows() >= MaxOtherMethods {
		return last // once that row exists, every further method goes there: no scan
	}
	return other
}

// overflowRows counts the OtherEndpoints rows of s.
func (s *Snapshot) overflowRows() int {
	n := 0
	for ep := range s.Endpoints {
		if ep.Name == OtherEndpoints {
			n++
		}
	}
	return n
}

// Capped reports whether s counts some requests under an OtherEndpoints row: its
// endpoints (or those of a Snapshot merged into it) went past MaxEndpoints.
func (s *Snapshot) Capped() bool {
	for ep := range s.Endpoints {
		if ep.Name == OtherEndpoints {
			return true
		}
	}
	return false
}

// mergeEndpoints adds o's endpoint stats to s, honouring MaxEndpoints, and returns
// where the rows of o that did not fit went (nil when all did). When the cap can be
// reached, o's rows are added in sorted order, so which rows keep their names does
// not depend on map order.
func (s *Snapshot) mergeEndpoints(o *Snapshot) map[Endpoint]Endpoint {
	if len(o.Endpoints) > 0 && s.Endpoints == nil {
		s.Endpoints = make(map[Endpoint]*Stats, len(o.Endpoints))
	}
	if len(s.Endpoints)+len(o.Endpoints) <= MaxEndpoints {
		for k, st := range o.Endpoints {
			s.addStats(k, st)
		}
		return nil
	}
	var moved map[Endpoint]Endpoint
	keys := slices.SortedFunc(maps.Keys(o.Endpoints), compareEndpoints)
	for _, k := range keys {
		to := s.endpointKey(k)
		if to != k {
			if moved == nil {
				moved = map[Endpoint]Endpoint{}
			}
			moved[k] = to
		}
		s.addStats(to, o.Endpoints[k])
	}
	return moved
}

// addStats merges st into the row k of s (a copy of st when s has no such row).
func (s *Snapshot) addStats(k Endpoint, st *Stats) {
	if mine := s.Endpoints[k]; mine != nil {
		mine.Merge(st)
	} else {
		s.Endpoints[k] = st.Clone()
	}
}
