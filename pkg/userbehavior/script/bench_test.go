package script

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// The same task, GET /x and check the status, as a script and in Go, against the
// same in-process target: the difference is the per-request cost of scripting.
// Compare with: go test -run - -bench 'ScriptedTask|GoTask' -count 10 | benchstat

func BenchmarkScriptedTask(b *testing.B) {
	p := mustCompile(b, Options{}, "main.star", `
def t(u):
    r = u.http.get("/x")
    check(r.status == 200, "status")
A = user(tasks=[t])
`)
	benchTask(b, *p.Classes()[0])
}

func BenchmarkGoTask(b *testing.B) {
	benchTask(b, userbehavior.Class{Name: "A", Weight: 1, Tasks: []userbehavior.Task{{Name: "t", Weight: 1,
		Fn: func(ctx context.Context, u *userbehavior.User) error {
			r := u.HTTP.Do(ctx, &userbehavior.Request{Method: http.MethodGet, URL: "/x"})
			if r.Status != http.StatusOK {
				r.Fail("status")
			}
			return nil
		}}}})
}

// BenchmarkScriptDispatch is the script's share alone: a task that makes no request.
func BenchmarkScriptDispatch(b *testing.B) {
	p := mustCompile(b, Options{}, "main.star", `
def t(u):
    check("/api/items/%d" % u.id != "", "status")
A = user(tasks=[t])
`)
	benchTask(b, *p.Classes()[0])
}

// benchTask runs c's first task b.N times on one user of a Runner, against a
// keep-alive target that answers every request with a fixed 200 and allocates
// nothing per request, so allocs/op and the profile are the client's and the
// script's.
func benchTask(b *testing.B, c userbehavior.Class) {
	host := fixedTarget(b)
	var u *userbehavior.User
	setup := c.Setup
	c.Setup = func(nu *userbehavior.User) { // keep the user the runner makes
		if setup != nil {
			setup(nu)
		}
		u = nu
	}
	col := aggregate.NewCollector(time.Now())
	tr := userbehavior.NewTransport(8)
	defer tr.CloseIdleConnections()
	r, err := userbehavior.NewRunner(userbehavior.RunnerConfig{Classes: []*userbehavior.Class{&c}, Host: host, Collector: col, Transport: tr})
	if err != nil {
		b.Fatal(err)
	}
	if err := r.RunOnce(context.Background(), c.Name); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background()) // as the runner's user context
	defer cancel()
	fn := c.Tasks[0].Fn
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := fn(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	snap := col.Swap(time.Now())
	for ep, st := range snap.Endpoints {
		if st.Failures > 0 {
			b.Fatalf("%v: %d failures: %v", ep, st.Failures, snap.Errors)
		}
	}
}

// BenchmarkScriptedRich is a request that uses the arguments scripts use most: a
// JSON body, headers, query parameters, a name, and reads the response's JSON.
func BenchmarkScriptedRich(b *testing.B) {
	p := mustCompile(b, Options{}, "main.star", `
def t(u):
    r = u.http.post("/items", json={"id": u.id, "tags": ["a", "b"]}, headers={"X-Trace": "bench", "Accept": "application/json"},
                    params={"page": 2}, name="/items", expect=[200, 201])
    check(r.status == 200 and r.header("Content-Type") == "text/plain", "status")
A = user(tasks=[t])
`)
	benchTask(b, *p.Classes()[0])
}

// BenchmarkScriptedItem is the scripted user of scripts/bench-generator.sh: format a
// URL, call u.http.get with a keyword argument, test the status.
func BenchmarkScriptedItem(b *testing.B) {
	p := mustCompile(b, Options{}, "main.star", `
def item(u):
    r = u.http.get("/item/%d" % (u.id % 10), name="/item/[id]")
    check(r.status == 200, "status")
Bench = user(tasks=[item])
`)
	benchTask(b, *p.Classes()[0])
}

// contentLength reads a Content-Length header line.
func contentLength(line []byte) (int, bool) {
	const name = "content-length:"
	if len(line) < len(name) || !bytes.EqualFold(line[:len(name)], []byte(name)) {
		return 0, false
	}
	n, err := strconv.Atoi(string(bytes.TrimSpace(line[len(name):])))
	return n, err == nil
}

// fixedTarget serves HTTP/1.1 keep-alive on loopback until the benchmark ends:
// every request gets "200 ok". It returns its URL.
func fixedTarget(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	b.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	reply := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
	wg.Go(func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			wg.Go(func() {
				br := bufio.NewReader(c)
				body := 0
				for {
					line, err := br.ReadSlice('\n')
					if err != nil {
						return
					}
					if n, ok := contentLength(line); ok {
						body = n
					}
					if len(line) <= 2 { // the blank line ending a request's header
						if _, err := br.Discard(body); err != nil {
							return
						}
						body = 0
						if _, err := c.Write(reply); err != nil {
							return
						}
					}
				}
			})
		}
	})
	return "http://" + ln.Addr().String()
}
