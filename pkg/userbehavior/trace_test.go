package userbehavior

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
)

// TestTraceContextHeaders: with TraceContext each request carries one valid W3C
// traceparent with a trace id of its own, the one Response.TraceID reports and the
// recorder keeps for the slowest; a task's own traceparent and tracestate pass as
// they are; with TraceSample 1 every one says sampled, with 0 none does.
func TestTraceContextHeaders(t *testing.T) {
	valid := regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$`)
	eachClient(t, func(t *testing.T, kind string) {
		var mu sync.Mutex
		var got []http.Header
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			got = append(got, r.Header.Clone())
			mu.Unlock()
		}))
		defer ts.Close()
		for _, sample := range []float64{0, 1} {
			got = nil
			c := newTestClient(t, newStack(t, kind, HTTPConfig{TraceContext: true, TraceSample: sample}), ts.URL)
			ids := map[string]bool{}
			for range 50 {
				resp := c.Do(context.Background(), &Request{URL: "/x"})
				if resp.Err != nil {
					t.Fatal(resp.Err)
				}
				ids[resp.TraceID()] = true
			}
			own := &Request{URL: "/own", Header: http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
				"Tracestate": {"vendor=x"}}}
			if resp := c.Do(context.Background(), own); resp.TraceID() != "" {
				t.Errorf("a task's own traceparent: the client reports trace id %q", resp.TraceID())
			}
			for i, h := range got[:50] {
				tp := h.Values("Traceparent")
				m := valid.FindStringSubmatch(tp[0])
				if len(tp) != 1 || m == nil {
					t.Fatalf("request %d: traceparent %v", i, tp)
				}
				if !ids[m[1]] {
					t.Errorf("request %d: trace id %s is not one Response.TraceID reported", i, m[1])
				}
				if want := map[float64]string{0: "00", 1: "01"}[sample]; m[3] != want {
					t.Errorf("sample %v: flags %s", sample, m[3])
				}
			}
			if len(ids) != 50 {
				t.Errorf("%d distinct trace ids in 50 requests", len(ids))
			}
			last := got[50]
			if last.Get("Traceparent") != own.Header.Get("Traceparent") || last.Get("Tracestate") != "vendor=x" || len(last.Values("Traceparent")) != 1 {
				t.Errorf("the task's own trace context did not pass as it was: %v", last)
			}
			snap := c.recorded()
			for _, s := range snap.Slowest {
				if s.Endpoint.Name == "/x" && !ids[s.TraceID] {
					t.Errorf("slow request keeps trace id %q, not one that was sent", s.TraceID)
				}
			}
		}
	})
}
