//go:build unix

package web

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/store"
)

// BenchmarkSSEPush measures one dashboard push: a new live view of a run with 50
// endpoints (and their latency buckets, errors and 4 workers) published once and
// streamed as a Server-Sent Event over real HTTP on loopback to N subscribed
// clients. An iteration ends when every client has read the whole event, so pushes
// never coalesce. Building the view is the controller's work and is left out.
// Figures: ns/op (wall), cpu-ns/push (user + system CPU of the
// process, the clients' reading included) and bytes/push (one client's event).
func BenchmarkSSEPush(b *testing.B) {
	snap := pushSnapshot()
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			db, err := store.Open(filepath.Join(b.TempDir(), "push.db"), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			ctl := &fakeControl{live: pushView(snap, start, 0)}
			srv, err := NewServer(Config{Control: ctl, DB: db})
			if err != nil {
				b.Fatal(err)
			}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			events := make(chan int, n) // bytes of each event a client read
			for range n {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/stream", nil)
				if err != nil {
					b.Fatal(err)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				go readEvents(resp, events)
			}
			for range n { // every client's first view
				<-events
			}
			// Two views, published in turn: each push is a new view to encode once.
			views := []*report.Live{pushView(snap, start, 1), pushView(snap, start, 2)}
			var size int
			cpu0 := cpuNanos()
			i := 0
			for b.Loop() {
				i++
				ctl.publish(views[i%2])
				for range n {
					size = <-events
				}
			}
			b.ReportMetric(float64(cpuNanos()-cpu0)/float64(i), "cpu-ns/push")
			b.ReportMetric(float64(size), "bytes/push")
			cancel()
		})
	}
}

// readEvents reads SSE events until the stream ends, sending each event's size.
func readEvents(resp *http.Response, events chan<- int) {
	defer resp.Body.Close()
	r := bufio.NewReaderSize(resp.Body, 1<<16)
	size := 0
	for {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			size += len(line)
			continue
		}
		if err != nil {
			return
		}
		size += len(line)
		if len(bytes.TrimSpace(line)) == 0 && size > 1 {
			events <- size
			size = 0
		}
	}
}

// pushSnapshot is a run's cumulative snapshot: 50 endpoints, log-normal latencies,
// 1 % failures.
func pushSnapshot() *aggregate.Snapshot {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	col := aggregate.NewCollector(t0)
	rec := col.NewRecorder()
	for e := range 50 {
		ep := aggregate.Endpoint{Method: "GET", Name: fmt.Sprintf("/api/endpoint/%02d", e)}
		for range 2000 {
			s := aggregate.Sample{Endpoint: ep, Latency: time.Duration(float64(20*time.Millisecond) * math.Exp(0.8*rng.NormFloat64())), Bytes: 700}
			if rng.IntN(100) == 0 {
				s.Err = "HTTP 500 Internal Server Error"
			}
			rec.Record(s, t0)
		}
	}
	rec.Flush()
	return col.Swap(t0.Add(time.Minute))
}

// pushView is the live view the controller publishes i seconds into the run.
func pushView(snap *aggregate.Snapshot, start time.Time, i int) *report.Live {
	now := start.Add(time.Duration(60+i) * time.Second)
	rows, total := report.Rows(snap, now.Sub(start))
	for k := range rows {
		ep := aggregate.Endpoint{Method: rows[k].Method, Name: rows[k].Name}
		rows[k].Buckets = snap.Endpoints[ep].Latency.CountsAtOrBelow(report.LatencyBounds)
		rows[k].CurrentRPS = 33
	}
	l := &report.Live{State: report.StateRunning, RunID: "20261125-120000-push", Users: 500, TargetUsers: 500, SpawnRate: 50,
		StartedAt: start, ElapsedS: now.Sub(start).Seconds(), UpdatedAt: now, Endpoints: rows, Total: total,
		Errors: report.Errors(snap), Exceptions: []report.ExceptionRow{}, Counters: []report.CounterRow{},
		Slowest: report.Slowest(snap), Warnings: []string{}, Agents: []report.WorkerRow{}}
	for w := range 4 {
		l.Workers = append(l.Workers, report.WorkerRow{ID: fmt.Sprintf("worker-%d", w), Host: "host", State: "running",
			Users: 125, Cores: 2, CPUPercent: 40, ProcessCPU: 70, MemUsed: 1 << 30, MemTotal: 4 << 30})
	}
	for t := range 60 + i {
		l.Series = append(l.Series, report.Point{T: float64(t + 1), Users: 500, RPS: 1650, P50: 20, P95: 70, P99: 130})
	}
	l.Latest = &l.Series[len(l.Series)-1]
	return l
}

func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
