package main

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/demo/llm"
	"github.com/stampede-load/stampede/pkg/report"
)

// modelScript: 10 users, 10 chat requests each, one a second (a fixed rate of 10
// requests/s while no request is slow), then idle until the run ends, so no request is in flight when it
// stops and the server's log holds exactly what the run sent.
const modelScript = `
SLO = {"ttft": "1s", "e2e": "10s"}

def chat(u):
    n = u.vars.get("n", 0)
    if n >= 10:
        sleep(3600)
        return
    u.vars["n"] = n + 1
    u.llm.chat([{"role": "user", "content": "count to twenty please"}], model="mock-llm",
               max_tokens=40, name="chat", slo=SLO)

Chat = user(tasks=[chat], wait=constant_pacing(1))
`

// TestModelServing drives the mock model server over 2 worker processes and checks
// every model figure against the server's own log: requests, tokens in and out
// (exact), goodput (exact: the server's TTFT is bimodal, 400 ms or 1.6 s, and the
// objective is 1 s), and, without the race detector, TTFT p50/p99 and ITL
// p50/mean within 1 % of the server's truth. `make test` runs it both ways.
func TestModelServing(t *testing.T) {
	master, worker := binaries(t)
	srv := llm.New(llm.Config{TTFT: 400 * time.Millisecond, TokenDelay: 10 * time.Millisecond, TokensPerChunk: 2,
		Jitter: 0.1, SlowEvery: 5, SlowFactor: 4, Seed: 7})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, stop, err := srv.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	dir := t.TempDir()
	script := filepath.Join(dir, "model.star")
	if err := os.WriteFile(script, []byte(modelScript), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	summary := filepath.Join(dir, "summary.json")
	m := start(t, master, "--headless", "-f", script, "-H", base, "-u", "10", "-r", "100", "-t", "30s",
		"--expect-workers", "2", "--expect-workers-max-wait", "60s", "--local-workers", "0", "--listen", addr,
		"--db", filepath.Join(dir, "runs.db"), "--json", summary,
		"--threshold", "ttft.p50{name=chat}<800ms", "--threshold", "goodput_ratio>=50%", "--threshold", "tokens_out{name=chat}==4000",
		// The agent beside the server scrapes its /metrics: 10 users keep between 1
		// and 10 requests running.
		"--threshold", "max(agent.gpu1.vllm:num_requests_running)>=1", "--threshold", "max(agent.gpu1.vllm:num_requests_running)<=10")
	start(t, worker, "--master", addr, "--id", "w1", "--log-level", "error")
	start(t, worker, "--master", addr, "--id", "w2", "--log-level", "error")
	start(t, worker, "--master", addr, "--id", "gpu1", "--agent", "--no-gpu", "--scrape", base+"/metrics", "--scrape-match", "vllm:.*")
	waitExit(t, m, 120*time.Second)

	raw, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	var sum report.Summary
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatal(err)
	}
	if !sum.Passed || len(sum.Thresholds) != 5 {
		t.Errorf("thresholds %+v: want 5, all passed", sum.Thresholds)
	}
	log := srv.Log()
	var in, out, good uint64
	var ttft, itl []time.Duration
	for _, r := range log {
		if r.Err != "" {
			t.Errorf("request %d: %s", r.ID, r.Err)
		}
		in += uint64(r.PromptTokens)
		out += uint64(r.CompletionTokens)
		if r.TTFT() < time.Second {
			good++
		}
		ttft = append(ttft, r.TTFT())
		itl = append(itl, r.ITL()...)
	}
	if len(log) != 100 {
		t.Errorf("the server answered %d requests, want 100", len(log))
	}
	row := func(method string) report.Row {
		for _, r := range sum.Endpoints {
			if r.Method == method && r.Name == "chat" {
				return r
			}
		}
		t.Fatalf("no %s chat row in %s", method, raw)
		return report.Row{}
	}
	if got := row("POST").Requests; got != uint64(len(log)) {
		t.Errorf("POST chat: %d requests, the server answered %d", got, len(log))
	}
	if got := row("TTFT").Requests; got != uint64(len(ttft)) {
		t.Errorf("TTFT: %d samples, want one a request (%d)", got, len(ttft))
	}
	if got := row("ITL").Requests; got != uint64(len(itl)) {
		t.Errorf("ITL: %d samples, the server's chunks give %d tokens after the first chunk", got, len(itl))
	}
	tok := sum.Tokens
	if tok == nil {
		t.Fatalf("no tokens in the summary: %s", raw)
	}
	if tok.TokensIn != in || tok.TokensOut != out {
		t.Errorf("tokens in %d, out %d; the server counted %d and %d", tok.TokensIn, tok.TokensOut, in, out)
	}
	if tok.SLORequests != uint64(len(log)) || tok.Goodput != good {
		t.Errorf("goodput %d of %d; the server's log gives %d of %d", tok.Goodput, tok.SLORequests, good, len(log))
	}
	if good == 0 || good == uint64(len(log)) {
		t.Errorf("goodput %d of %d: the test's bimodal server should give both", good, len(log))
	}
	t.Logf("server truth: TTFT p50 %v p99 %v, ITL p50 %v mean %v p99 %v; Stampede: TTFT p50 %.3fms p99 %.3fms, ITL p50 %.3fms mean %.3fms p99 %.3fms",
		quantile(ttft, 0.5), quantile(ttft, 0.99), quantile(itl, 0.5), mean(itl), quantile(itl, 0.99),
		row("TTFT").MedianMs, row("TTFT").P99Ms, row("ITL").MedianMs, row("ITL").AvgMs, row("ITL").P99Ms)
	if raceEnabled {
		return // the race detector's slowdown would be measured too
	}
	for _, c := range []struct {
		what string
		got  float64
		want time.Duration
	}{
		{"TTFT p50", row("TTFT").MedianMs, quantile(ttft, 0.5)},
		{"TTFT p99", row("TTFT").P99Ms, quantile(ttft, 0.99)},
		{"ITL p50", row("ITL").MedianMs, quantile(itl, 0.5)},
		// A chunk the generator reads late lengthens one gap and shortens the next:
		// the mean keeps the truth however busy the machine; the tail takes the
		// generator's own scheduling noise (logged above, not asserted).
		{"ITL mean", row("ITL").AvgMs, mean(itl)},
	} {
		want := float64(c.want) / float64(time.Millisecond)
		if math.Abs(c.got-want) > 0.01*want {
			t.Errorf("%s: %.3f ms, the server's truth %.3f ms (more than 1 %% apart)", c.what, c.got, want)
		}
	}
}

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(max(len(ds), 1))
}

// quantile is the nearest-rank q-quantile of ds.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}
