package locust

import (
	"fmt"
	"math"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// maxReportRequests bounds one endpoint's requests in one report (3 s): a worker
// that claims more is sending garbage, and the master records every bucket's
// requests one by one.
const maxReportRequests = 1 << 30

// workerStats is one Locust "stats" message as Stampede uses it.
type workerStats struct {
	Snapshot  *aggregate.Snapshot
	Users     map[string]int // per class; nil when the worker did not say (boomer)
	UserCount int            // -1 when the worker did not say
}

// parseStats converts a stats payload (deltas since the worker's previous
// report) into a Snapshot from start to end. Response times come bucketed by
// the worker (1 ms below 100 ms, 10 ms below 1 s, 100 ms below 10 s, 1 s above),
// so each bucket's value is recorded as many times as it counts: the histogram is
// exactly what Locust knows, no finer.
func parseStats(data any, start, end time.Time) (workerStats, error) {
	m := asMap(data)
	if m == nil {
		return workerStats{}, fmt.Errorf("stats: %w", errNotMap)
	}
	snap := aggregate.NewSnapshot(start)
	snap.End = end
	entries, _ := field(m, "stats").([]any)
	for i, e := range entries {
		em := asMap(e)
		if em == nil {
			return workerStats{}, fmt.Errorf("stats entry %d: %w", i, errNotMap)
		}
		ep := aggregate.Endpoint{Method: text(field(em, "method")), Name: text(field(em, "name"))}
		st, err := parseEntry(em)
		if err != nil {
			return workerStats{}, fmt.Errorf("stats entry %q: %w", ep.Name, err)
		}
		if st.Requests == 0 && st.Failures == 0 {
			continue
		}
		if mine := snap.Endpoints[ep]; mine != nil {
			mine.Merge(st)
		} else {
			snap.Endpoints[ep] = st
		}
	}
	for _, e := range asMap(field(m, "errors")) {
		em := asMap(e)
		if em == nil {
			continue
		}
		n, err := count(field(em, "occurrences"))
		if err != nil {
			return workerStats{}, fmt.Errorf("stats error occurrences: %w", err)
		}
		snap.AddError(aggregate.ErrorKey{
			Endpoint: aggregate.Endpoint{Method: text(field(em, "method")), Name: text(field(em, "name"))},
			Message:  text(field(em, "error")),
		}, n)
	}
	ws := workerStats{Snapshot: snap, UserCount: -1}
	if uc := asMap(field(m, "user_classes_count")); uc != nil {
		ws.Users = map[string]int{}
		for k, v := range uc {
			n, err := count(v)
			if err != nil {
				return workerStats{}, fmt.Errorf("stats user_classes_count: %w", err)
			}
			ws.Users[text(k)] = int(n)
		}
	}
	if v := field(m, "user_count"); v != nil {
		n, err := count(v)
		if err != nil {
			return workerStats{}, fmt.Errorf("stats user_count: %w", err)
		}
		ws.UserCount = int(n)
	}
	return ws, nil
}

// parseEntry reads one StatsEntry dict.
func parseEntry(em map[any]any) (*aggregate.Stats, error) {
	st := aggregate.NewStats()
	var err error
	if st.Requests, err = count(field(em, "num_requests")); err != nil {
		return nil, fmt.Errorf("num_requests: %w", err)
	}
	if st.Requests > maxReportRequests {
		return nil, fmt.Errorf("num_requests %d in one report", st.Requests)
	}
	if v := field(em, "num_failures"); v != nil {
		if st.Failures, err = count(v); err != nil {
			return nil, fmt.Errorf("num_failures: %w", err)
		}
	}
	if v := field(em, "total_content_length"); v != nil {
		if st.Bytes, err = count(v); err != nil {
			return nil, fmt.Errorf("total_content_length: %w", err)
		}
	}
	if v := field(em, "total_response_time"); v != nil {
		ms, ok := number(v)
		if !ok || ms < 0 || ms > float64(math.MaxInt64/int64(time.Millisecond)) {
			return nil, fmt.Errorf("total_response_time: %v", v)
		}
		st.TotalTime = time.Duration(math.Round(ms * float64(time.Millisecond)))
	}
	var recorded uint64
	for k, v := range asMap(field(em, "response_times")) {
		ms, ok := number(k)
		if !ok || ms < 0 || ms > float64(aggregate.HighestLatency/time.Millisecond) {
			return nil, fmt.Errorf("response time bucket %v", k)
		}
		n, err := count(v)
		if err != nil || n > st.Requests-recorded {
			return nil, fmt.Errorf("response time bucket %v: count %v beyond the entry's %d requests", k, v, st.Requests)
		}
		recorded += n
		d := time.Duration(math.Round(ms * float64(time.Millisecond)))
		for range n {
			st.Latency.Record(d)
		}
	}
	return st, nil
}
