package userbehavior

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// benchUser is one user of class as the Runner makes it, recording into col.
func benchUser(class *Class, s sender, col *aggregate.Collector) *User {
	rec := col.NewRecorder()
	return &User{ID: 1, Class: class, HTTP: &HTTPClient{rec: rec, s: s, timeout: time.Minute},
		Vars: map[string]any{}, Rand: rand.New(rand.NewPCG(1, 1)), rec: rec}
}

// runTask runs class's one task b.N times as u and checks that each was recorded.
func runTask(b *testing.B, u *User, col *aggregate.Collector) {
	task := u.Class.Tasks[0].Fn
	ctx := context.Background()
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		if err := task(ctx, u); err != nil {
			b.Fatal(err)
		}
		n++
	}
	u.rec.Flush()
	tot := col.Swap(time.Now()).Total()
	if tot.Requests != uint64(n) || tot.Failures != 0 {
		b.Fatalf("recorded %d requests, %d failures; want %d, 0", tot.Requests, tot.Failures, n)
	}
}

// BenchmarkQuickUser is one plain user (QuickClass) against a tiny local handler: the
// whole cost of a request on the worker, network stack and target included. One op is
// one request.
func BenchmarkQuickUser(b *testing.B) {
	body := []byte("hello")
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	defer ts.Close()
	class, err := QuickClass(QuickSpec{URL: ts.URL + "/bench?x=1"})
	if err != nil {
		b.Fatal(err)
	}
	for _, kind := range clients {
		b.Run(kind, func(b *testing.B) {
			st := newStack(b, kind)
			col := aggregate.NewCollector(time.Now())
			runTask(b, benchUser(class, st.newSender(), col), col)
		})
	}
}

// nopSender answers every request at once, without a network.
type nopSender struct{}

func (nopSender) send(_ context.Context, _ *Request, _ *url.URL, _ time.Time, _ time.Duration, resp *Response) error {
	resp.Status = http.StatusOK
	resp.Size = 5
	return nil
}

// BenchmarkHTTPClientOverhead is what the client and the recorder add to a request:
// URL resolution, timing, the success check and the record, without a network.
func BenchmarkHTTPClientOverhead(b *testing.B) {
	class, err := QuickClass(QuickSpec{URL: "http://example.test/bench?x=1"})
	if err != nil {
		b.Fatal(err)
	}
	col := aggregate.NewCollector(time.Now())
	runTask(b, benchUser(class, nopSender{}, col), col)
}
