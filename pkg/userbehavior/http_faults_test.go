package userbehavior

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

// hugeBody serves a 1 GiB body written 64 KiB at a time, never held in memory, with
// or without its length declared; it stops when the client hangs up. conns counts the
// connections the server accepted.
func hugeTarget(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var conns atomic.Int64
	const size = 1 << 30
	chunk := make([]byte, 64<<10)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/small" {
			fmt.Fprint(w, "ok")
			return
		}
		if r.URL.Query().Get("declared") == "1" {
			w.Header().Set("Content-Length", strconv.Itoa(size))
		}
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	ts.Start()
	t.Cleanup(ts.Close)
	return ts, &conns
}

func TestHTTPClientBodyCap(t *testing.T) {
	ts, conns := hugeTarget(t)
	tests := []struct {
		name    string
		maxBody int64
		req     Request
		err     string
	}{
		{"default cap, chunked, kept", 0, Request{URL: "/huge"}, "body exceeds 10 MiB cap"},
		{"default cap, declared, kept", 0, Request{URL: "/huge?declared=1"}, "body exceeds 10 MiB cap"},
		{"1 MiB cap, chunked, discarded", 1 << 20, Request{URL: "/huge", Discard: true}, "body exceeds 1 MiB cap"},
		{"1 MiB cap, declared, discarded", 1 << 20, Request{URL: "/huge?declared=1", Discard: true}, "body exceeds 1 MiB cap"},
		{"1 MiB cap, streamed", 1 << 20, Request{URL: "/huge", OnChunk: func([]byte) error { return nil }}, "body exceeds 1 MiB cap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eachClient(t, func(t *testing.T, kind string) {
				c := newTestClient(t, newStack(t, kind, HTTPConfig{MaxBody: tt.maxBody}), ts.URL)
				max := tt.maxBody
				if max == 0 {
					max = DefaultMaxBody
				}
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				conns0 := conns.Load()
				req := tt.req
				resp := c.Do(context.Background(), &req)
				runtime.ReadMemStats(&after)

				if got := errString(resp.Err); got != tt.err {
					t.Errorf("Err = %q, want %q", got, tt.err)
				}
				if resp.Size > max || int64(len(resp.Body)) > max {
					t.Errorf("Size %d, body of %d bytes: more than the %d-byte cap", resp.Size, len(resp.Body), max)
				}
				// What the request allocated, the test server's writes included, stays
				// within a few caps of the 1 GiB body.
				if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(4*max+8<<20) {
					t.Errorf("the request allocated %d MiB for a %d MiB cap", alloc>>20, max>>20)
				}
				// The connection is not reused: the next request needs a new one.
				if r := c.Get(context.Background(), "/small"); !r.OK() {
					t.Fatalf("next request: %v", r.Err)
				}
				if n := conns.Load() - conns0; n != 2 {
					t.Errorf("the server accepted %d connections for the capped and the next request, want 2", n)
				}
				snap := c.recorded()
				ep := endpoint("GET", strings.SplitN(tt.req.URL, "?", 2)[0])
				if tt.req.URL != ep.Name {
					ep.Name = tt.req.URL
				}
				if st := snap.Endpoints[ep]; st == nil || st.Requests != 1 || st.Failures != 1 {
					t.Errorf("recorded %v: %+v, want one failure", snap.Names(), st)
				}
			})
		})
	}
}

func TestHTTPClientSlowloris(t *testing.T) {
	// A response that never ends: a byte every few milliseconds. It ends at the
	// request's timeout, as a failure.
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
				if _, err := w.Write([]byte("x")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}
	}))
	t.Cleanup(ts.Close)
	for _, discard := range []bool{false, true} {
		t.Run(fmt.Sprintf("discard=%v", discard), func(t *testing.T) {
			eachClient(t, func(t *testing.T, kind string) {
				c := newTestClient(t, newStack(t, kind), ts.URL)
				resp := c.Do(context.Background(), &Request{URL: "/drip", Timeout: 100 * time.Millisecond, Discard: discard})
				if got := errString(resp.Err); got != "reading body: timeout" {
					t.Errorf("Err = %q, want reading body: timeout", got)
				}
				if resp.Status != http.StatusOK {
					t.Errorf("Status = %d, want 200", resp.Status)
				}
				if resp.Elapsed < 100*time.Millisecond {
					t.Errorf("ended after %v, before its 100 ms timeout", resp.Elapsed)
				}
				checkOneRequest(t, c.recorded(), endpoint("GET", "/drip"), resp)
			})
		})
	}
}

// rawTarget serves each connection with serve, on a loopback port of its own.
func rawTarget(t *testing.T, serve func(c *net.TCPConn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			serve(c.(*net.TCPConn))
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return "http://" + ln.Addr().String()
}

// readRequest reads one request's header from c.
func readRequest(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil || line == "\r\n" {
			return
		}
	}
}

func TestHTTPClientBrokenTargets(t *testing.T) {
	// Each misbehaviour, at two targets on different ports: the failures read the
	// same, so they make one error row, whatever the port.
	tests := []struct {
		name  string
		serve func(c *net.TCPConn)
		err   string
	}{
		{"connection reset", func(c *net.TCPConn) {
			readRequest(c)
			c.SetLinger(0) // close with a RST
			c.Close()
		}, "read tcp: read: connection reset by peer"},
		{"garbage", func(c *net.TCPConn) {
			readRequest(c)
			fmt.Fprintf(c, "SSH-2.0-OpenSSH_9.2 %d\r\n\r\n", time.Now().UnixNano())
			c.Close()
		}, "malformed HTTP response"},
		{"closed without an answer", func(c *net.TCPConn) {
			readRequest(c)
			c.Close()
		}, "connection closed before the response"},
		{"body cut short", func(c *net.TCPConn) {
			readRequest(c)
			fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
			c.Close()
		}, "reading body: unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eachClient(t, func(t *testing.T, kind string) {
				c := newTestClient(t, newStack(t, kind), "")
				for range 2 {
					resp := c.Do(context.Background(), &Request{URL: rawTarget(t, tt.serve) + "/x", Name: "/x"})
					if got := errString(resp.Err); got != tt.err {
						t.Errorf("Err = %q, want %q", got, tt.err)
					}
				}
				snap := c.recorded()
				want := map[aggregate.ErrorKey]uint64{{Endpoint: endpoint("GET", "/x"), Message: tt.err}: 2}
				if len(snap.Errors) != 1 || snap.Errors[aggregate.ErrorKey{Endpoint: endpoint("GET", "/x"), Message: tt.err}] != 2 {
					t.Errorf("errors %v, want %v", snap.Errors, want)
				}
			})
		})
	}
}

func TestHTTPClientStaleKeepAlive(t *testing.T) {
	// The target closes each connection after one answer, without saying so: the
	// next GET finds its pooled connection dead and is sent again on a new one.
	var served atomic.Int64
	url := rawTarget(t, func(c *net.TCPConn) {
		readRequest(c)
		served.Add(1)
		fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		c.Close()
	})
	eachClient(t, func(t *testing.T, kind string) {
		served.Store(0)
		c := newTestClient(t, newStack(t, kind), url)
		for i := range 3 {
			if resp := c.Get(context.Background(), "/x"); !resp.OK() {
				t.Fatalf("request %d: %v", i, resp.Err)
			}
		}
		if n := served.Load(); n != 3 {
			t.Errorf("target served %d requests, want 3", n)
		}
		if st := c.recorded().Endpoints[endpoint("GET", "/x")]; st.Requests != 3 || st.Failures != 0 {
			t.Errorf("recorded %+v, want 3 successes", st)
		}
	})
}

func TestHTTPClientAbortReleasesConnection(t *testing.T) {
	// A request aborted while the target holds it fails as the context says, and its
	// connection serves nobody else: the next request, on the same pool, succeeds.
	arrived := make(chan struct{}, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			arrived <- struct{}{}
			<-r.Context().Done()
			return
		}
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(ts.Close)
	eachClient(t, func(t *testing.T, kind string) {
		st := newStack(t, kind, HTTPConfig{MaxConnsPerHost: 1})
		c := newTestClient(t, st, ts.URL)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan *Response)
		go func() { done <- c.Do(ctx, &Request{URL: "/block"}) }()
		<-arrived
		cancel()
		if resp := <-done; errString(resp.Err) != "aborted: user stopped" {
			t.Errorf("aborted request: %v, want aborted: user stopped", resp.Err)
		}
		for range 2 {
			if resp := c.Get(context.Background(), "/ok"); !resp.OK() {
				t.Errorf("request after an abort: %v", resp.Err)
			}
		}
	})
}
