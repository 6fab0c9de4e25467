package userbehavior

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/demo/llm"
)

func TestSpreadTokens(t *testing.T) {
	cc := func(chars ...int) []contentChunk {
		out := make([]contentChunk, len(chars))
		for i, c := range chars {
			out[i] = contentChunk{chars: c, tokens: -1}
		}
		return out
	}
	tests := []struct {
		name   string
		chunks []contentChunk
		total  int
		want   []int
	}{
		{"no usage: one a chunk", cc(4, 8, 4), -1, []int{1, 1, 1}},
		{"equal text", cc(8, 8, 8), 6, []int{2, 2, 2}},
		{"by share of the text", cc(4, 12, 4), 5, []int{1, 3, 1}},
		{"remainders go to the largest", cc(5, 5, 10), 5, []int{1, 1, 3}},
		{"fewer tokens than chunks", cc(4, 4, 4), 2, []int{1, 1, 0}},
		{"cumulative usage", []contentChunk{{tokens: 2}, {tokens: 5}, {tokens: 6}}, 6, []int{2, 3, 1}},
		{"none", nil, 3, []int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := spreadTokens(tt.chunks, tt.total)
			if !slices.Equal(got, tt.want) {
				t.Errorf("spreadTokens = %v, want %v", got, tt.want)
			}
			sum := 0
			for _, k := range got {
				sum += k
			}
			if tt.total >= 0 && len(tt.chunks) > 0 && sum != tt.total {
				t.Errorf("tokens add up to %d, want %d", sum, tt.total)
			}
		})
	}
}

// TestGenerate sends model requests to the mock model server and checks every
// figure against the server's own log: tokens in and out, one TTFT row a streamed
// request, one ITL sample per token after the first chunk, goodput.
func TestGenerate(t *testing.T) {
	srv := llm.New(llm.Config{TTFT: 5 * time.Millisecond, TokenDelay: time.Millisecond, TokensPerChunk: 3, MaxTokens: 10})
	base, stop, err := srv.Start(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	eachClient(t, func(t *testing.T, kind string) {
		c := newTestClient(t, newStack(t, kind), base)
		body := func(stream bool, extra string) []byte {
			return fmt.Appendf(nil, `{"model":"m","messages":[{"role":"user","content":"one two three"}],"max_tokens":10,"stream":%v%s}`, stream, extra)
		}
		req := func(b []byte, name string) Request {
			return Request{Method: http.MethodPost, URL: "/v1/chat/completions", Body: b, Name: name,
				Header: http.Header{"Content-Type": {"application/json"}}}
		}
		n0 := len(srv.Log())
		// Streamed, usage at the end; streamed, usage with every chunk; streamed, no
		// usage (counted from deltas); not streamed.
		usage := `,"stream_options":{"include_usage":true}`
		cont := `,"stream_options":{"include_usage":true,"continuous_usage_stats":true}`
		cases := []struct {
			gr      GenerateRequest
			counted string
			out     int
		}{
			{GenerateRequest{Request: req(body(true, usage), "usage"), Stream: true, Chat: true, SLO: &SLO{TTFT: 10 * time.Second}}, CountedUsage, 10},
			{GenerateRequest{Request: req(body(true, cont), "cont"), Stream: true, Chat: true, SLO: &SLO{TTFT: time.Nanosecond}}, CountedPerChunk, 10},
			{GenerateRequest{Request: req(body(true, ""), "deltas"), Stream: true, Chat: true}, CountedDeltas, 4}, // 3+3+3+1: 4 chunks
			{GenerateRequest{Request: req(body(false, ""), "whole"), Chat: true, SLO: &SLO{E2E: 10 * time.Second}}, CountedUsage, 10},
		}
		for _, tc := range cases {
			g := c.Generate(context.Background(), &tc.gr)
			if g.Err != nil {
				t.Fatalf("%s: %v", tc.gr.Name, g.Err)
			}
			if g.Counted != tc.counted || g.TokensOut != tc.out || g.TokensIn != 3 && tc.counted != CountedDeltas {
				t.Errorf("%s: counted %q, %d tokens out, %d in; want %q, %d, 3", tc.gr.Name, g.Counted, g.TokensOut, g.TokensIn, tc.counted, tc.out)
			}
			if g.Text != " tok tok tok tok tok tok tok tok tok tok" {
				t.Errorf("%s: text %q", tc.gr.Name, g.Text)
			}
			if g.FinishReason != "length" {
				t.Errorf("%s: finish reason %q", tc.gr.Name, g.FinishReason)
			}
		}
		log := srv.Log()[n0:]
		if len(log) != len(cases) {
			t.Fatalf("server answered %d requests, want %d", len(log), len(cases))
		}
		snap := c.recorded()
		for _, name := range []string{"usage", "cont", "deltas"} {
			ttft, itl := snap.Endpoints[endpoint(MethodTTFT, name)], snap.Endpoints[endpoint(MethodITL, name)]
			if ttft == nil || ttft.Requests != 1 {
				t.Errorf("%s: TTFT rows %v, want 1", name, ttft)
			}
			want := uint64(10 - 3) // every token after the first chunk
			if name == "deltas" {
				want = 3 // counted one a chunk: 3 chunks after the first
			}
			if itl == nil || itl.Requests != want {
				t.Errorf("%s: ITL samples %v, want %d", name, itl, want)
			}
		}
		if snap.Endpoints[endpoint(MethodTTFT, "whole")] != nil {
			t.Error("a request not streamed has a TTFT row")
		}
		if got := snap.Total().Requests; got != uint64(len(cases)) {
			t.Errorf("Aggregated counts %d requests, want %d (TTFT and ITL rows are not requests)", got, len(cases))
		}
		var in, out uint64
		for _, r := range log {
			in += uint64(r.PromptTokens)
			out += uint64(r.CompletionTokens)
		}
		// deltas counted 4 of its 10 tokens and no prompt: the counters say what
		// the client knew.
		if got := snap.Counters[CounterTokensOut]; got != out-6 {
			t.Errorf("tokens_out %d, want the server's %d less the 6 the deltas request could not see", got, out)
		}
		if got := snap.Counters[CounterTokensIn]; got != in-3 {
			t.Errorf("tokens_in %d, want the server's %d less the deltas request's 3", got, in)
		}
		if got := snap.Counters[CounterTokensOut+":usage"]; got != 10 {
			t.Errorf("tokens_out:usage %d, want 10", got)
		}
		if snap.Counters[CounterSLORequests] != 3 || snap.Counters[CounterGoodput] != 2 {
			t.Errorf("slo_requests %d, goodput %d; want 3 and 2 (a 1 ns TTFT is never met)",
				snap.Counters[CounterSLORequests], snap.Counters[CounterGoodput])
		}
	})
}

// TestGenerateFailures: a server error or an answer that is not JSON fails the
// request; the counters hold what came.
func TestGenerateFailures(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/bad", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {not json\n\ndata: [DONE]\n\n")
	})
	mux.HandleFunc("/busy", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"message":"overloaded"}}`, http.StatusServiceUnavailable)
	})
	target := httptest.NewServer(mux)
	defer target.Close()
	c := newTestClient(t, newStack(t, ClientFast), target.URL)
	for _, path := range []string{"/bad", "/busy"} {
		g := c.Generate(context.Background(), &GenerateRequest{Request: Request{Method: http.MethodPost, URL: path}, Stream: true, Chat: true,
			SLO: &SLO{TTFT: time.Hour}})
		if g.Err == nil {
			t.Errorf("%s: no error", path)
		}
		if g.MetSLO {
			t.Errorf("%s: a failed request counted as goodput", path)
		}
	}
	snap := c.recorded()
	if snap.Total().Failures != 2 || snap.Counters[CounterGoodput] != 0 {
		t.Errorf("failures %d, goodput %d; want 2 and 0", snap.Total().Failures, snap.Counters[CounterGoodput])
	}
}

func TestSLOMet(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	g := &Generation{Response: &Response{Elapsed: time.Second}, TokensOut: 50, TTFT: ms(200),
		ITL: []time.Duration{ms(10), ms(10), ms(10), ms(40)}}
	for _, tt := range []struct {
		o    SLO
		want bool
	}{
		{SLO{TTFT: ms(200)}, true},
		{SLO{TTFT: ms(199)}, false},
		{SLO{ITL: ms(18)}, true},              // mean 17.5 ms
		{SLO{ITL: ms(17)}, false},             // mean 17.5 ms
		{SLO{ITL: ms(39), ITLQ: 0.75}, true},  // p75: the third of four
		{SLO{ITL: ms(39), ITLQ: 0.99}, false}, // p99: the 40 ms gap
		{SLO{E2E: ms(999)}, false},
		{SLO{MinTPS: 50}, true},
		{SLO{MinTPS: 51}, false},
	} {
		if got := tt.o.Met(g); got != tt.want {
			t.Errorf("%+v: met %v, want %v", tt.o, got, tt.want)
		}
	}
}
