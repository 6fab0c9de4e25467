// Package llm is an OpenAI-compatible model server for load tests of model serving:
// chat and text completions, streamed as server-sent events or not, with a
// configurable time to first token, delay per token, tokens per chunk, jitter and a
// concurrency limit beyond which requests queue, and a Prometheus /metrics endpoint
// with vLLM-style series. It generates no text worth reading: every output token is
// the word " tok".
//
// It keeps its own ground truth: for every request, when it arrived, when each chunk
// of tokens was written (and flushed) and how many tokens it carried, and the token
// counts it reported. A test compares what a load generator measured with [Server.Log].
//
// Endpoints:
//
//	POST /v1/chat/completions   {"model", "messages": [{"role", "content"}], "max_tokens",
//	                            "stream", "stream_options": {"include_usage",
//	                            "continuous_usage_stats"}}
//	POST /v1/completions        the same with "prompt" (a string) for "messages"
//	GET  /v1/models             the one model
//	GET  /metrics               vllm:num_requests_running, vllm:num_requests_waiting,
//	                            vllm:gpu_cache_usage_perc, vllm:prompt_tokens_total,
//	                            vllm:generation_tokens_total
//	GET  /health                200
//
// Prompt tokens are the prompt's whitespace-separated words (messages' contents
// together). A request generates max_tokens tokens (Config.MaxTokens when it gives
// none) and finishes with reason "length". Streamed, the answer is vLLM's: a first
// chunk with the assistant role and no content, sent at once; then chunks of content,
// the first one TTFT after the request got a slot, each next one TokensPerChunk
// token delays later; a chunk with the finish reason; with include_usage a last chunk
// with usage and no choices; then "data: [DONE]". With continuous_usage_stats every
// content chunk carries the usage so far, as vLLM's does.
//
// Concurrency: a Server is safe for concurrent use; Start owns its goroutines.
package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config shapes the server's answers. Zero values take the defaults noted.
type Config struct {
	Model          string        // the model's name; "mock-llm"
	TTFT           time.Duration // from getting a slot to the first content token; 0: none
	TokenDelay     time.Duration // between two output tokens; 0: none
	TokensPerChunk int           // tokens per streamed chunk; 1
	Jitter         float64       // each delay times 1 ± Jitter, uniformly; 0: exact
	MaxConcurrency int           // requests generated at once; more wait in a queue; 0: no limit
	MaxTokens      int           // output tokens when a request names none; 16
	Seed           uint64        // of the jitter
	// SlowEvery, when > 0, makes every SlowEvery-th request (by arrival number) wait
	// SlowFactor times its TTFT: a second mode of time to first token, as a prefill
	// of long prompts or a cold cache gives.
	SlowEvery  int
	SlowFactor float64
}

// Chunk is one streamed chunk of content as the server wrote it.
type Chunk struct {
	At     time.Time // after it was written and flushed
	Tokens int
}

// Record is the server's own account of one request.
type Record struct {
	ID               int64
	Path             string
	Stream           bool
	Arrived          time.Time // the handler started
	Started          time.Time // it got a slot
	Chunks           []Chunk   // content chunks (streamed); one chunk at Done otherwise
	Done             time.Time // the last byte was written
	PromptTokens     int
	CompletionTokens int
	Err              string // the client went away, a bad request
}

// TTFT is the time from arrival to the first content chunk.
func (r Record) TTFT() time.Duration {
	if len(r.Chunks) == 0 {
		return 0
	}
	return r.Chunks[0].At.Sub(r.Arrived)
}

// ITL returns the inter-token latencies by the rule Stampede's client uses: a chunk
// carrying k tokens, g after the previous chunk, contributes k gaps of g/k; the
// first chunk's tokens contribute none (time to first token covers them).
func (r Record) ITL() []time.Duration {
	var out []time.Duration
	for i := 1; i < len(r.Chunks); i++ {
		c := r.Chunks[i]
		if c.Tokens <= 0 {
			continue
		}
		g := c.At.Sub(r.Chunks[i-1].At) / time.Duration(c.Tokens)
		for range c.Tokens {
			out = append(out, g)
		}
	}
	return out
}

// Server is the mock model server.
type Server struct {
	cfg  Config
	slot chan struct{} // nil: no limit
	ids  atomic.Int64

	mu  sync.Mutex
	log []Record

	reg                *prometheus.Registry
	running, waiting   prometheus.Gauge
	cache              prometheus.Gauge
	promptTok, genTok  prometheus.Counter
	nRunning, nWaiting atomic.Int64
}

// New returns a Server answering as cfg says.
func New(cfg Config) *Server {
	if cfg.Model == "" {
		cfg.Model = "mock-llm"
	}
	if cfg.TokensPerChunk <= 0 {
		cfg.TokensPerChunk = 1
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 16
	}
	s := &Server{cfg: cfg, reg: prometheus.NewRegistry()}
	if cfg.MaxConcurrency > 0 {
		s.slot = make(chan struct{}, cfg.MaxConcurrency)
	}
	s.running = prometheus.NewGauge(prometheus.GaugeOpts{Name: "vllm:num_requests_running", Help: "Requests generating."})
	s.waiting = prometheus.NewGauge(prometheus.GaugeOpts{Name: "vllm:num_requests_waiting", Help: "Requests waiting for a slot."})
	s.cache = prometheus.NewGauge(prometheus.GaugeOpts{Name: "vllm:gpu_cache_usage_perc", Help: "Share of slots in use (0-1)."})
	s.promptTok = prometheus.NewCounter(prometheus.CounterOpts{Name: "vllm:prompt_tokens_total", Help: "Prompt tokens processed."})
	s.genTok = prometheus.NewCounter(prometheus.CounterOpts{Name: "vllm:generation_tokens_total", Help: "Tokens generated."})
	s.reg.MustRegister(s.running, s.waiting, s.cache, s.promptTok, s.genTok)
	return s
}

// Log returns a copy of the records of every request answered so far, in the
// order they finished.
func (s *Server) Log() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Record(nil), s.log...)
}

// Handler serves the endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) { s.complete(w, r, true) })
	mux.HandleFunc("POST /v1/completions", func(w http.ResponseWriter, r *http.Request) { s.complete(w, r, false) })
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"object": "list", "data": []any{map[string]any{"id": s.cfg.Model, "object": "model"}}})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {})
	return mux
}

// Start serves on addr (host:port; port 0 picks one) until ctx ends or stop is
// called; it returns the base URL.
func (s *Server) Start(ctx context.Context, addr string) (baseURL string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	return "http://" + ln.Addr().String(), func() { cancel(); <-done }, nil
}

type request struct {
	Model    string `json:"model"`
	Prompt   any    `json:"prompt"`
	Messages []struct {
		Role    string `json:"role"`
		Content any    `json:"content"`
	} `json:"messages"`
	MaxTokens           int  `json:"max_tokens"`
	MaxCompletionTokens int  `json:"max_completion_tokens"`
	Stream              bool `json:"stream"`
	StreamOptions       struct {
		IncludeUsage         bool `json:"include_usage"`
		ContinuousUsageStats bool `json:"continuous_usage_stats"`
	} `json:"stream_options"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func (s *Server) complete(w http.ResponseWriter, r *http.Request, chat bool) {
	rec := Record{ID: s.ids.Add(1), Path: r.URL.Path, Arrived: time.Now()}
	defer func() {
		if rec.Done.IsZero() {
			rec.Done = time.Now()
		}
		s.mu.Lock()
		s.log = append(s.log, rec)
		s.mu.Unlock()
	}()
	var req request
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		rec.Err = "bad request: " + err.Error()
		http.Error(w, `{"error":{"message":"bad JSON"}}`, http.StatusBadRequest)
		return
	}
	prompt := promptText(&req, chat)
	rec.PromptTokens = len(strings.Fields(prompt))
	n := req.MaxTokens
	if req.MaxCompletionTokens > 0 {
		n = req.MaxCompletionTokens
	}
	if n <= 0 {
		n = s.cfg.MaxTokens
	}
	rec.Stream = req.Stream
	if err := s.acquire(r.Context()); err != nil {
		rec.Err = "client gone while queued"
		return
	}
	defer s.release()
	rec.Started = time.Now()
	s.promptTok.Add(float64(rec.PromptTokens))
	rng := rand.New(rand.NewPCG(s.cfg.Seed, uint64(rec.ID)))
	wait := func(d time.Duration) bool {
		if d <= 0 {
			return true
		}
		if j := s.cfg.Jitter; j > 0 {
			d = time.Duration(float64(d) * (1 + j*(2*rng.Float64()-1)))
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-r.Context().Done():
			return false
		}
	}
	ttft := s.cfg.TTFT
	if s.cfg.SlowEvery > 0 && rec.ID%int64(s.cfg.SlowEvery) == 0 && s.cfg.SlowFactor > 0 {
		ttft = time.Duration(float64(ttft) * s.cfg.SlowFactor)
	}
	id := fmt.Sprintf("cmpl-%d", rec.ID)
	created := rec.Arrived.Unix()
	if !req.Stream {
		if !wait(ttft) || !wait(time.Duration(n-1)*s.cfg.TokenDelay) {
			rec.Err = "client gone"
			return
		}
		text := strings.Repeat(" tok", n)
		u := usage{rec.PromptTokens, n, rec.PromptTokens + n}
		var body map[string]any
		if chat {
			body = map[string]any{"id": id, "object": "chat.completion", "created": created, "model": s.cfg.Model,
				"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": text}, "finish_reason": "length"}},
				"usage":   u}
		} else {
			body = map[string]any{"id": id, "object": "text_completion", "created": created, "model": s.cfg.Model,
				"choices": []any{map[string]any{"index": 0, "text": text, "finish_reason": "length"}}, "usage": u}
		}
		writeJSON(w, body)
		rec.Done = time.Now()
		rec.Chunks = []Chunk{{At: rec.Done, Tokens: n}}
		rec.CompletionTokens = n
		s.genTok.Add(float64(n))
		return
	}
	fl, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	object := "text_completion"
	if chat {
		object = "chat.completion.chunk"
	}
	send := func(v any) error {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return err
		}
		if fl != nil {
			fl.Flush()
		}
		return nil
	}
	choice := func(text string, finish any) map[string]any {
		if chat {
			delta := map[string]any{"content": text}
			if text == "" && finish == nil {
				delta["role"] = "assistant"
			}
			return map[string]any{"index": 0, "delta": delta, "finish_reason": finish}
		}
		return map[string]any{"index": 0, "text": text, "finish_reason": finish}
	}
	chunk := func(choices []any, u *usage) map[string]any {
		m := map[string]any{"id": id, "object": object, "created": created, "model": s.cfg.Model, "choices": choices}
		if u != nil {
			m["usage"] = u
		}
		return m
	}
	if chat {
		if send(chunk([]any{choice("", nil)}, nil)) != nil {
			rec.Err = "client gone"
			return
		}
	}
	sent := 0
	for sent < n {
		k := min(s.cfg.TokensPerChunk, n-sent)
		d := time.Duration(k) * s.cfg.TokenDelay
		if sent == 0 {
			d = ttft + time.Duration(k-1)*s.cfg.TokenDelay
		}
		if !wait(d) {
			rec.Err = "client gone"
			return
		}
		sent += k
		var u *usage
		if req.StreamOptions.ContinuousUsageStats {
			u = &usage{rec.PromptTokens, sent, rec.PromptTokens + sent}
		}
		if send(chunk([]any{choice(strings.Repeat(" tok", k), nil)}, u)) != nil {
			rec.Err = "client gone"
			return
		}
		rec.Chunks = append(rec.Chunks, Chunk{At: time.Now(), Tokens: k})
		rec.CompletionTokens = sent
		s.genTok.Add(float64(k))
	}
	send(chunk([]any{choice("", "length")}, nil))
	if req.StreamOptions.IncludeUsage {
		send(chunk([]any{}, &usage{rec.PromptTokens, n, rec.PromptTokens + n}))
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	if fl != nil {
		fl.Flush()
	}
	rec.Done = time.Now()
}

func promptText(req *request, chat bool) string {
	if !chat {
		if p, ok := req.Prompt.(string); ok {
			return p
		}
		return ""
	}
	var b strings.Builder
	for _, m := range req.Messages {
		if c, ok := m.Content.(string); ok {
			b.WriteString(c)
			b.WriteByte(' ')
		}
	}
	return b.String()
}

func (s *Server) acquire(ctx context.Context) error {
	if s.slot == nil {
		s.running.Set(float64(s.nRunning.Add(1)))
		return nil
	}
	s.waiting.Set(float64(s.nWaiting.Add(1)))
	defer func() { s.waiting.Set(float64(s.nWaiting.Add(-1))) }()
	select {
	case s.slot <- struct{}{}:
		n := s.nRunning.Add(1)
		s.running.Set(float64(n))
		s.cache.Set(float64(n) / float64(cap(s.slot)))
		return nil
	case <-ctx.Done():
		return errors.New("gone")
	}
}

func (s *Server) release() {
	n := s.nRunning.Add(-1)
	s.running.Set(float64(n))
	if s.slot != nil {
		<-s.slot
		s.cache.Set(float64(n) / float64(cap(s.slot)))
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
