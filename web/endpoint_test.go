package web

import (
	"encoding/json"
	"net/url"
	"testing"
)

// One endpoint's points over a stored run, from its intervals.
func TestEndpointSeries(t *testing.T) {
	h := newHarness(t, "")
	id := fixture(t, h.db)
	tests := []struct {
		name, query string
		status      int
		rps         float64 // of each point
	}{
		{"GET /items", "method=GET&name=" + url.QueryEscape("/items"), 200, 100},
		{"POST /buy", "method=POST&name=" + url.QueryEscape("/buy"), 200, 1},
		{"an endpoint the run did not ask for", "method=GET&name=/nope", 200, 0},
		{"no endpoint named", "method=GET", 400, 0},
		{"a timing row", "method=TTFB&name=/items", 400, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.do("GET", "/api/runs/"+id+"/endpoint?"+tt.query, "", false)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status != 200 {
				return
			}
			var s EndpointSeries
			if err := json.Unmarshal(body, &s); err != nil || len(s.Series) != 2 || s.StepS != 1 {
				t.Fatalf("series: %s (%v)", body, err)
			}
			for _, p := range s.Series {
				if p.RPS != tt.rps || float64(p.Requests) != tt.rps*p.SpanS {
					t.Errorf("point %+v: want %v/s over its span", p, tt.rps)
				}
			}
		})
	}
	if resp, _ := h.do("GET", "/api/runs/nope/endpoint?method=GET&name=/items", "", false); resp.StatusCode != 404 {
		t.Errorf("unknown run: %d", resp.StatusCode)
	}
}
