package examples

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/demo/llm"
	"github.com/stampede-load/stampede/pkg/userbehavior"
	"github.com/stampede-load/stampede/pkg/userbehavior/script"
)

type row struct{ Requests, Failures uint64 }

func ep(method, name string) aggregate.Endpoint {
	return aggregate.Endpoint{Method: method, Name: name}
}

// TestExamples runs every example script against its target, as a dry run does: each
// class's users run on_start, every task once in order, and on_stop, runs times. The
// statistics must match what the target served, request for request.
func TestExamples(t *testing.T) {
	tests := []struct {
		dir    string
		target http.Handler
		runs   map[string]int // class -> users run once
		want   map[aggregate.Endpoint]row
	}{
		{"rest", restAPI(), map[string]int{"Api": 3}, map[aggregate.Endpoint]row{
			ep("POST", "/api/login"):        {3, 0},
			ep("POST", "/api/items"):        {3, 0},
			ep("GET", "/api/items/[id]"):    {3, 0},
			ep("PUT", "/api/items/[id]"):    {3, 0},
			ep("DELETE", "/api/items/[id]"): {3, 0},
			ep("POST", "/api/logout"):       {3, 0},
		}},
		{"shop", shop(2), map[string]int{"Browser": 2, "Buyer": 4}, map[aggregate.Endpoint]row{
			ep("GET", "/"):                  {6, 0},
			ep("GET", "/products?page=[n]"): {6, 0},
			ep("GET", "/products/[id]"):     {6, 0},
			ep("POST", "/cart"):             {4, 0},
			ep("POST", "/checkout"):         {4, 2}, // stock 2: the last two are sold out
			ep("FLOW", "checkout flow"):     {4, 2},
		}},
		{"inference", inference(), map[string]int{"Client": 7}, map[aggregate.Endpoint]row{
			ep("POST", "/v1/models/[model]:predict"): {7, 0},
			ep("MODEL", "compute"):                   {7, 0},
		}},
		{"streaming", completions(), map[string]int{"Chat": 3}, map[aggregate.Endpoint]row{
			ep("POST", "/v1/completions"): {3, 0},
			ep("TTFC", "/v1/completions"): {3, 0},
			ep("ICL", "/v1/completions"):  {3 * 16, 0}, // 16 tokens and [DONE]: 16 gaps
		}},
		{"llm", llm.New(llm.Config{}).Handler(), map[string]int{"Chat": 3}, map[aggregate.Endpoint]row{
			ep("POST", "chat"):       {3, 0},
			ep("TTFT", "chat"):       {3, 0},
			ep("ITL", "chat"):        {3 * 31, 0}, // 32 tokens, one a chunk: 31 after the first
			ep("POST", "completion"): {3, 0},
			ep("TTFT", "completion"): {3, 0},
			ep("ITL", "completion"):  {3 * 15, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			b, err := script.LoadDir(filepath.Join(tt.dir, "main.star"))
			if err != nil {
				t.Fatal(err)
			}
			p, err := script.Compile(b, script.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var s served
			srv := httptest.NewServer(s.wrap(tt.target))
			defer srv.Close()
			col := aggregate.NewCollector(time.Now())
			tr := userbehavior.NewTransport(8)
			defer tr.CloseIdleConnections()
			r, err := userbehavior.NewRunner(userbehavior.RunnerConfig{Classes: p.Classes(), Host: srv.URL, Collector: col, Transport: tr})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range p.Classes() {
				n, ok := tt.runs[c.Name]
				if !ok {
					t.Fatalf("class %s not run by the test", c.Name)
				}
				for range n {
					if err := r.RunOnce(context.Background(), c.Name); err != nil {
						t.Fatal(err)
					}
				}
			}
			snap := col.Swap(time.Now())

			var sent, failed uint64
			for k, st := range snap.Endpoints {
				if w, ok := tt.want[k]; !ok || st.Requests != w.Requests || st.Failures != w.Failures {
					t.Errorf("%v: %d requests, %d failures; want %+v (errors: %v)", k, st.Requests, st.Failures, w, snap.Errors)
				}
				if isHTTP(k.Method) {
					sent += st.Requests
					failed += st.Failures
				}
			}
			for k := range tt.want {
				if _, ok := snap.Endpoints[k]; !ok {
					t.Errorf("no row %v", k)
				}
			}
			total, byStatus := s.counts()
			if sent != uint64(total) {
				t.Errorf("%d requests counted, %d served", sent, total)
			}
			if failed != uint64(byStatus[http.StatusConflict]) {
				t.Errorf("%d requests failed, %d were sold out (served %v)", failed, byStatus[http.StatusConflict], byStatus)
			}
		})
	}
}

func isHTTP(method string) bool {
	switch method {
	case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS":
		return true
	}
	return false
}
