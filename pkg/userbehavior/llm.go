package userbehavior

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// Rows and counters of model requests (HTTPClient.Generate).
const (
	// MethodTTFT is the row of time to first token: from sending the request to the
	// first chunk that carries content (a role-only first chunk does not count).
	MethodTTFT = "TTFT"
	// MethodITL is the row of inter-token latency, one sample per output token after
	// the first chunk: a chunk carrying k tokens, g after the previous content chunk,
	// adds k samples of g/k.
	MethodITL = "ITL"
	// CounterTokensIn and CounterTokensOut count prompt and output tokens of every
	// model request, cluster-wide; CounterTokensIn+":"+name and so on per row name.
	CounterTokensIn  = "tokens_in"
	CounterTokensOut = "tokens_out"
	// CounterGoodput counts model requests that succeeded and met every SLO of
	// their request (GenerateRequest.SLO); CounterSLORequests those that were judged.
	CounterGoodput     = "goodput"
	CounterSLORequests = "slo_requests"
)

// Token counts come from, best first: the usage the server sent with every chunk
// (vLLM's continuous_usage_stats), the usage it sent at the end (tokens spread over
// the chunks by their text's length), or, with no usage at all, one token per chunk
// of content.
const (
	CountedPerChunk = "usage per chunk"
	CountedUsage    = "usage"
	CountedDeltas   = "deltas"
)

// SLO is a service-level objective one model request must meet to count as goodput.
// Zero fields are not judged.
type SLO struct {
	TTFT   time.Duration // time to first token at most
	ITL    time.Duration // the request's inter-token latency at ITLQuantile at most
	ITLQ   float64       // the quantile of ITL judged, 0 < q <= 1; 0: the mean
	E2E    time.Duration // the whole request at most
	MinTPS float64       // output tokens per second of the request at least
}

// Met reports whether g meets o.
func (o SLO) Met(g *Generation) bool {
	if o.TTFT > 0 && (g.TTFT == 0 || g.TTFT > o.TTFT) {
		return false
	}
	if o.E2E > 0 && g.Elapsed > o.E2E {
		return false
	}
	if o.ITL > 0 && len(g.ITL) > 0 {
		var v time.Duration
		if o.ITLQ > 0 {
			s := slices.Clone(g.ITL)
			slices.Sort(s)
			i := int(o.ITLQ*float64(len(s))+0.999999) - 1
			v = s[min(max(i, 0), len(s)-1)]
		} else {
			var sum time.Duration
			for _, d := range g.ITL {
				sum += d
			}
			v = sum / time.Duration(len(g.ITL))
		}
		if v > o.ITL {
			return false
		}
	}
	if o.MinTPS > 0 && g.OutputTPS() < o.MinTPS {
		return false
	}
	return true
}

// GenerateRequest is a model request: an OpenAI-compatible completion.
type GenerateRequest struct {
	Request      // method, URL, JSON body, name, timeout; Deferred as the caller wants
	Stream  bool // the body asks for a streamed answer
	Chat    bool // chat completions (choices[].delta.content), else completions (choices[].text)
	SLO     *SLO // judged for goodput when set
}

// Generation is what a model request gave.
type Generation struct {
	*Response
	Text         string
	TokensIn     int
	TokensOut    int
	Counted      string // CountedPerChunk, CountedUsage or CountedDeltas
	FinishReason string
	TTFT         time.Duration   // 0 when no content came (or not streamed)
	ITL          []time.Duration // as MethodITL records them; kept only for an SLO on ITL
	MetSLO       bool            // succeeded and met the request's SLO (false without one)
}

// OutputTPS is the request's output tokens per second, over the whole request.
func (g *Generation) OutputTPS() float64 {
	if g.Elapsed <= 0 {
		return 0
	}
	return float64(g.TokensOut) / g.Elapsed.Seconds()
}

// contentChunk is a streamed chunk that carried content: when it came, its text's
// length, and the cumulative output tokens the server said with it (-1: none).
type contentChunk struct {
	at     time.Time
	chars  int
	tokens int
}

// streamEvent is the part of an OpenAI-compatible stream event (or whole
// non-streamed answer) read here.
type streamEvent struct {
	Choices []struct {
		Text  *string `json:"text"`
		Delta *struct {
			Content *string `json:"content"`
		} `json:"delta"`
		Message *struct {
			Content *string `json:"content"`
		} `json:"message"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

func (e *streamEvent) content() (string, bool) {
	var b strings.Builder
	have := false
	for _, c := range e.Choices {
		var p *string
		switch {
		case c.Delta != nil:
			p = c.Delta.Content
		case c.Message != nil:
			p = c.Message.Content
		default:
			p = c.Text
		}
		if p != nil && *p != "" {
			b.WriteString(*p)
			have = true
		}
	}
	return b.String(), have
}

// Generate sends a model request and records, besides the request's own row (its
// whole time, E2E), TTFT and ITL rows under its name and the token counters. A
// streamed answer is read as server-sent events up to "[DONE]".
func (c *HTTPClient) Generate(ctx context.Context, gr *GenerateRequest) *Generation {
	g := &Generation{}
	var text strings.Builder
	var chunks []contentChunk
	var usageIn, usageOut = -1, -1
	var parseErr string
	req := &gr.Request
	wasDeferred := req.Deferred
	req.Deferred = true // rows and counters first, then the request's own verdict
	if gr.Stream {
		req.SSE = true
		req.noChunkRows = true
		req.OnChunk = func(data []byte) error {
			data = bytes.TrimSpace(data)
			if len(data) == 0 || bytes.Equal(data, []byte("[DONE]")) {
				return nil
			}
			at := time.Now()
			var ev streamEvent
			if err := json.Unmarshal(data, &ev); err != nil {
				if parseErr == "" {
					parseErr = "stream event is not JSON: " + err.Error()
				}
				return nil
			}
			if ev.Error != nil && parseErr == "" {
				parseErr = "server error in stream: " + ev.Error.Message
			}
			for _, ch := range ev.Choices {
				if ch.FinishReason != nil && *ch.FinishReason != "" {
					g.FinishReason = *ch.FinishReason
				}
			}
			cum := -1
			if ev.Usage != nil {
				usageIn, usageOut = ev.Usage.PromptTokens, ev.Usage.CompletionTokens
				cum = ev.Usage.CompletionTokens
			}
			if s, ok := ev.content(); ok {
				text.WriteString(s)
				chunks = append(chunks, contentChunk{at: at, chars: len(s), tokens: cum})
			}
			return nil
		}
	}
	g.Response = c.Do(ctx, req)
	req.Deferred = wasDeferred
	resp := g.Response
	if !gr.Stream && resp.Err == nil {
		var ev streamEvent
		if err := json.Unmarshal(resp.Body, &ev); err != nil {
			parseErr = "answer is not JSON: " + err.Error()
		} else {
			if s, ok := ev.content(); ok {
				text.WriteString(s)
				chunks = append(chunks, contentChunk{at: resp.end, chars: len(s), tokens: -1})
			}
			for _, ch := range ev.Choices {
				if ch.FinishReason != nil {
					g.FinishReason = *ch.FinishReason
				}
			}
			if ev.Usage != nil {
				usageIn, usageOut = ev.Usage.PromptTokens, ev.Usage.CompletionTokens
			}
		}
	}
	g.Text = text.String()
	perChunk := spreadTokens(chunks, usageOut)
	g.Counted = CountedUsage
	switch {
	case usageOut < 0:
		g.Counted = CountedDeltas
		g.TokensOut = len(chunks)
	case len(chunks) > 0 && chunks[len(chunks)-1].tokens >= 0 && allCounted(chunks):
		g.Counted = CountedPerChunk
		g.TokensOut = usageOut
	default:
		g.TokensOut = usageOut
	}
	g.TokensIn = max(usageIn, 0)
	if resp.Err == nil && parseErr != "" {
		resp.Fail(parseErr)
	}
	name := resp.sample.Endpoint.Name
	start := resp.end.Add(-resp.Elapsed)
	if gr.Stream && len(chunks) > 0 {
		g.TTFT = chunks[0].at.Sub(start)
		c.rec.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: MethodTTFT, Name: name}, Latency: g.TTFT}, chunks[0].at)
		keepITL := gr.SLO != nil && gr.SLO.ITL > 0 // only an ITL objective reads them
		for i := 1; i < len(chunks); i++ {
			k := perChunk[i]
			if k <= 0 {
				continue
			}
			gap := chunks[i].at.Sub(chunks[i-1].at) / time.Duration(k)
			for range k {
				if keepITL {
					g.ITL = append(g.ITL, gap)
				}
				c.rec.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: MethodITL, Name: name}, Latency: gap}, chunks[i].at)
			}
		}
	}
	if g.TokensIn > 0 {
		c.rec.Count(CounterTokensIn, int64(g.TokensIn))
		c.rec.Count(CounterTokensIn+":"+name, int64(g.TokensIn))
	}
	if g.TokensOut > 0 {
		c.rec.Count(CounterTokensOut, int64(g.TokensOut))
		c.rec.Count(CounterTokensOut+":"+name, int64(g.TokensOut))
	}
	if gr.SLO != nil {
		c.rec.Count(CounterSLORequests, 1)
		if resp.Err == nil && gr.SLO.Met(g) {
			g.MetSLO = true
			c.rec.Count(CounterGoodput, 1)
		}
	}
	if !wasDeferred {
		resp.Commit()
	}
	return g
}

func allCounted(chunks []contentChunk) bool {
	for _, c := range chunks {
		if c.tokens < 0 {
			return false
		}
	}
	return true
}

// spreadTokens returns how many output tokens each content chunk carried: the
// difference of the cumulative counts when every chunk has one; else total spread
// by each chunk's share of the text (largest remainder, so they add up to total,
// and every chunk at least one while there are tokens enough); with no total, one
// each.
func spreadTokens(chunks []contentChunk, total int) []int {
	out := make([]int, len(chunks))
	if len(chunks) == 0 {
		return out
	}
	if allCounted(chunks) {
		prev := 0
		for i, c := range chunks {
			out[i] = max(c.tokens-prev, 0)
			prev = c.tokens
		}
		return out
	}
	if total < 0 {
		for i := range out {
			out[i] = 1
		}
		return out
	}
	if total < len(chunks) { // fewer tokens than chunks: the first ones carry one
		for i := range total {
			out[i] = 1
		}
		return out
	}
	chars := 0
	for _, c := range chunks {
		chars += c.chars
	}
	if chars == 0 {
		chars = len(chunks)
		for i := range chunks {
			chunks[i].chars = 1
		}
	}
	// By share of the text, largest remainder first; then a chunk left with none
	// takes one from the chunk with the most: every chunk of content carried one.
	type rem struct{ i, r int }
	rems := make([]rem, len(chunks))
	given := 0
	for i, c := range chunks {
		q := total * c.chars
		out[i] = q / chars
		given += q / chars
		rems[i] = rem{i, q % chars}
	}
	slices.SortStableFunc(rems, func(a, b rem) int { return b.r - a.r })
	for j := 0; given < total; j++ {
		out[rems[j].i]++
		given++
	}
	for i := range out {
		if out[i] == 0 {
			most := 0
			for j := range out {
				if out[j] > out[most] {
					most = j
				}
			}
			out[most]--
			out[i]++
		}
	}
	return out
}
