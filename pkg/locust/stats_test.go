package locust

import (
	"bytes"
	"maps"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// pythonStats is a stats payload as Locust 2.12.1 packs it: float keys for
// buckets of 100 ms and above, int keys below, float totals, nil method on the
// total, and an error.
func pythonStats(t *testing.T) []byte {
	t.Helper()
	entry := map[string]any{
		"name": "/", "method": "GET", "last_request_timestamp": 1.7e9, "start_time": 1.7e9,
		"num_requests": 100, "num_none_requests": 0, "num_failures": 2,
		"total_response_time": 2345.5, "max_response_time": 3012.7, "min_response_time": 0.9,
		"total_content_length": 1000,
		"response_times":       map[any]any{int64(1): 50, int64(2): 30, int64(10): 15, 150.0: 4, 3000.0: 1},
		"num_reqs_per_sec":     map[any]any{int64(1700000000): 100}, "num_fail_per_sec": map[any]any{int64(1700000000): 2},
	}
	total := maps.Clone(entry)
	total["name"], total["method"] = "Aggregated", nil
	data := map[string]any{
		"stats": []any{entry}, "stats_total": total,
		"errors":             map[string]any{"abc": map[string]any{"name": "/", "method": "GET", "error": "HTTPError('500')", "occurrences": 2}},
		"user_classes_count": map[string]any{"WebsiteUser": 3, "ApiUser": 1}, "user_count": 4,
	}
	var b bytes.Buffer
	e := msgpack.NewEncoder(&b)
	if err := e.Encode([]any{"stats", data, "host_0123"}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestParseStats(t *testing.T) {
	m, err := decodeMessage(pythonStats(t))
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != "stats" || m.NodeID != "host_0123" {
		t.Fatalf("decoded %q from %q", m.Type, m.NodeID)
	}
	start := time.Unix(1_700_000_000, 0)
	ws, err := parseStats(m.Data, start, start.Add(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	st := ws.Snapshot.Endpoints[aggregate.Endpoint{Method: "GET", Name: "/"}]
	if st == nil || len(ws.Snapshot.Endpoints) != 1 {
		t.Fatalf("endpoints %v", ws.Snapshot.Endpoints)
	}
	if st.Requests != 100 || st.Failures != 2 || st.Bytes != 1000 || st.TotalTime != 2345500*time.Microsecond {
		t.Errorf("stats %+v", st)
	}
	// The histogram holds the buckets' values: its percentiles (the value at rank
	// ceil(p% of 100)) are bucket values. Locust's own percentile takes the next
	// rank up (p50 2, p95 150, p99 3000 here).
	for p, want := range map[float64]time.Duration{50: 1 * time.Millisecond, 90: 10 * time.Millisecond, 95: 10 * time.Millisecond,
		99: 150 * time.Millisecond, 100: 3000 * time.Millisecond} {
		got := st.Latency.Percentile(p)
		if d := got - want; d < -want/500 || d > want/500 { // the histogram's 3 significant digits
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if st.Latency.Count() != 100 {
		t.Errorf("histogram holds %d", st.Latency.Count())
	}
	if n := ws.Snapshot.Errors[aggregate.ErrorKey{Endpoint: aggregate.Endpoint{Method: "GET", Name: "/"}, Message: "HTTPError('500')"}]; n != 2 {
		t.Errorf("errors %v", ws.Snapshot.Errors)
	}
	if !maps.Equal(ws.Users, map[string]int{"WebsiteUser": 3, "ApiUser": 1}) || ws.UserCount != 4 {
		t.Errorf("users %v, %d", ws.Users, ws.UserCount)
	}
}

func TestParseStatsRejects(t *testing.T) {
	tests := map[string]any{
		"not a map":             []any{1},
		"negative requests":     map[any]any{"stats": []any{map[any]any{"name": "/", "num_requests": int64(-1)}}},
		"more buckets than req": map[any]any{"stats": []any{map[any]any{"name": "/", "num_requests": int64(1), "response_times": map[any]any{int64(5): int64(2)}}}},
		"negative bucket":       map[any]any{"stats": []any{map[any]any{"name": "/", "num_requests": int64(1), "response_times": map[any]any{int64(-5): int64(1)}}}},
		"absurd requests":       map[any]any{"stats": []any{map[any]any{"name": "/", "num_requests": int64(1) << 40}}},
		"fractional user count": map[any]any{"user_count": 1.5},
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := parseStats(data, time.Time{}, time.Time{}); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestEncodeSpawnForBoomerAndLocust(t *testing.T) {
	b, err := encodeMessage(message{Type: "spawn", NodeID: "w_1", Data: map[string]any{
		"spawn_rate": 2.0, "num_users": 3, "user_classes_count": map[string]any{"A": 3}, "host": nil}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	d := asMap(m.Data)
	if _, ok := d["spawn_rate"].(float64); !ok {
		t.Errorf("spawn_rate is %T: boomer v1.6.0 type-asserts float64", d["spawn_rate"])
	}
	if n, _ := count(d["num_users"]); n != 3 || m.NodeID != "w_1" {
		t.Errorf("decoded %+v", m)
	}
}

func TestStepToward(t *testing.T) {
	tests := []struct {
		name      string
		cur, want map[string]int
		n         int
		next      map[string]int
	}{
		{"ramp up by the largest gap", map[string]int{}, map[string]int{"A": 3, "B": 1}, 2, map[string]int{"A": 2, "B": 0}},
		{"finish", map[string]int{"A": 2}, map[string]int{"A": 3, "B": 1}, 5, map[string]int{"A": 3, "B": 1}},
		{"ramp down", map[string]int{"A": 3, "B": 1}, map[string]int{"A": 1}, 2, map[string]int{"A": 1, "B": 1}},
		{"nothing to do", map[string]int{"A": 1}, map[string]int{"A": 1}, 3, map[string]int{"A": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := maps.Clone(tt.cur)
			got := stepToward(tt.cur, tt.want, tt.n)
			if !maps.Equal(withoutZeros(got), withoutZeros(tt.next)) {
				t.Errorf("got %v, want %v", got, tt.next)
			}
			if !maps.Equal(before, tt.cur) {
				t.Error("changed its input")
			}
		})
	}
	for rate, want := range map[float64]int{0.5: 1, 1: 1, 2.5: 2, 10: 10} {
		if got := stepSize(rate); got != want {
			t.Errorf("stepSize(%v) = %d, want %d", rate, got, want)
		}
	}
}

func TestSplitUsers(t *testing.T) {
	if got := splitUsers(4, map[string]int{"A": 3, "B": 1}); !maps.Equal(got, map[string]int{"A": 3, "B": 1}) {
		t.Errorf("got %v", got)
	}
	if got := splitUsers(2, map[string]int{"A": 3, "B": 1}); total(got) != 2 {
		t.Errorf("got %v", got)
	}
}

// FuzzDecode feeds arbitrary payloads to the decoder and the stats parser: they
// must return an error, never panic or run away.
func FuzzDecode(f *testing.F) {
	b, err := encodeMessage(message{Type: "client_ready", Data: "", NodeID: "h_1"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{0x93, 0xa5, 's', 't', 'a', 't', 's', 0xc0, 0xc0})
	f.Fuzz(func(t *testing.T, p []byte) {
		m, err := decodeMessage(p)
		if err != nil {
			return
		}
		parseStats(m.Data, time.Time{}, time.Time{})
	})
}
