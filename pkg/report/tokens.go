package report

import (
	"fmt"
	"io"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// Counters of model requests, as pkg/userbehavior's Generate counts them (report
// does not import userbehavior: the names are the contract).
const (
	counterTokensIn    = "tokens_in"
	counterTokensOut   = "tokens_out"
	counterGoodput     = "goodput"
	counterSLORequests = "slo_requests"
)

// TokenSummary is what a run's model requests produced, cluster-wide: exact sums of
// the workers' counters, rates over the run's duration.
type TokenSummary struct {
	TokensIn         uint64  `json:"tokens_in"`
	TokensOut        uint64  `json:"tokens_out"`
	OutputTokensPerS float64 `json:"output_tokens_per_s"`
	// Goodput: requests that succeeded and met every objective of their slo=,
	// per second of the run and as a share of the requests judged.
	SLORequests  uint64  `json:"slo_requests"`
	Goodput      uint64  `json:"goodput"`
	GoodputPerS  float64 `json:"goodput_per_s"`
	GoodputRatio float64 `json:"goodput_ratio"`
}

// Tokens returns the run's token figures, or nil when it made no model request.
func Tokens(snap *aggregate.Snapshot, duration time.Duration) *TokenSummary {
	c := snap.Counters
	if c[counterTokensIn] == 0 && c[counterTokensOut] == 0 && c[counterSLORequests] == 0 {
		return nil
	}
	t := &TokenSummary{TokensIn: c[counterTokensIn], TokensOut: c[counterTokensOut],
		SLORequests: c[counterSLORequests], Goodput: c[counterGoodput]}
	if secs := duration.Seconds(); secs > 0 {
		t.OutputTokensPerS = float64(t.TokensOut) / secs
		t.GoodputPerS = float64(t.Goodput) / secs
	}
	if t.SLORequests > 0 {
		t.GoodputRatio = float64(t.Goodput) / float64(t.SLORequests)
	}
	return t
}

// writeTokens writes the tokens block of the terminal summary.
func writeTokens(w io.Writer, t *TokenSummary) {
	if t == nil {
		return
	}
	fmt.Fprintf(w, "\nTokens: %d in, %d out, %.1f output tokens/s", t.TokensIn, t.TokensOut, t.OutputTokensPerS)
	if t.SLORequests > 0 {
		fmt.Fprintf(w, "; goodput %d of %d requests (%.1f%%), %.2f/s", t.Goodput, t.SLORequests, 100*t.GoodputRatio, t.GoodputPerS)
	}
	fmt.Fprintln(w)
}
