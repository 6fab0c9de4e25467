package aggregate

import "fmt"

// Limits on a Snapshot from a peer (a worker's report): what a Collector can make in
// an interval. A snapshot beyond them, or inconsistent, is refused as a whole.
const (
	MaxPeerEndpoints = MaxEndpointRows                 // endpoint rows: the cap and its overflow rows
	MaxPeerKeys      = MaxErrorKinds + MaxEndpointRows // error, counter and exception rows, each
)

// DecodeSnapshot decodes a Snapshot that came from outside (a worker's report): the
// canonical encoding (UnmarshalBinary), then Check. It is the one place the wire's
// snapshots are checked.
func DecodeSnapshot(b []byte) (*Snapshot, error) {
	s := new(Snapshot)
	if err := s.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	if err := s.Check(); err != nil {
		return nil, err
	}
	return s, nil
}

// Check reports whether s is within the peer limits and consistent: every row's
// failures and latency histogram agree with its requests, its service histogram
// holds no more samples than requests, and no time sum is negative. The Worker of
// its slowest requests is the master's to set.
func (s *Snapshot) Check() error {
	if len(s.Endpoints) > MaxPeerEndpoints || len(s.Errors) > MaxPeerKeys ||
		len(s.Counters) > MaxPeerKeys || len(s.Exceptions) > MaxPeerKeys || len(s.Slowest) > MaxSlowest {
		return fmt.Errorf("snapshot too large: %d endpoints, %d errors, %d counters, %d exceptions, %d slowest",
			len(s.Endpoints), len(s.Errors), len(s.Counters), len(s.Exceptions), len(s.Slowest))
	}
	for ep, st := range s.Endpoints {
		switch {
		case st.Failures > st.Requests || st.TotalTime < 0:
			return fmt.Errorf("snapshot: endpoint %s %s has inconsistent counters", ep.Method, ep.Name)
		case uint64(st.Latency.Count()) != st.Requests:
			return fmt.Errorf("snapshot: %s %s counts %d requests but its histogram %d", ep.Method, ep.Name, st.Requests, st.Latency.Count())
		case uint64(st.Service.Count()) > st.Requests:
			return fmt.Errorf("snapshot: service histogram of %s %s holds %d samples for %d requests",
				ep.Method, ep.Name, st.Service.Count(), st.Requests)
		}
	}
	return nil
}
