package examples

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stampede-load/stampede/examples/websocket/chat"
	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// startChat serves the in-repository WebSocket target; its ws:// base URL.
func startChat(t *testing.T) (*chat.Server, string) {
	t.Helper()
	s := chat.New()
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, "ws" + strings.TrimPrefix(ts.URL, "http")
}

// TestWebSocketExample runs examples/websocket against its target: every handshake
// and every request is counted once, as the target counted them.
func TestWebSocketExample(t *testing.T) {
	const users = 4
	srv, base := startChat(t)
	snap := runScript(t, filepath.Join("websocket", "main.star"), base, users)
	want := map[aggregate.Endpoint]row{
		ep("WS", "connect echo"): {users, 0},
		ep("WS", "connect chat"): {users, 0},
		ep("WS", "echo"):         {users, 0},
		ep("WS", "chat"):         {users, 0},
	}
	for k, w := range want {
		if st := snap.Endpoints[k]; st.Requests != w.Requests || st.Failures != w.Failures {
			t.Errorf("%v: %+v, want %+v (errors %v)", k, st, w, snap.Errors)
		}
	}
	if len(snap.Endpoints) != len(want) {
		t.Errorf("rows %v", snap.Endpoints)
	}
	if got := srv.Accepted(); got != 2*users {
		t.Errorf("the target accepted %d sockets, we connected %d", got, 2*users)
	}
	if got := srv.Received(); got != 2*users {
		t.Errorf("the target got %d messages, we sent %d requests", got, 2*users)
	}
	// Each user's sockets closed when it stopped (the target sees the close frames).
	eventually(t, "the target to see every socket closed", func() bool { return srv.Open() == 0 })
}

// TestWebSocketFailures: a socket the server closes, one it drops, a message over
// the body cap, a reply that never comes, a refused handshake: each a failed row
// with its cause, counted once.
func TestWebSocketFailures(t *testing.T) {
	const users = 2
	srv, base := startChat(t)
	snap := runInline(t, `
def t(u):
    ws = u.ws.connect("/echo", name="closed")
    check(ws.request("close", timeout=5) == None and not ws.ok, "still open")
    check(ws.request("again", timeout=5) == None, "a closed socket answered")
    ws = u.ws.connect("/echo", name="dropped")
    ws.request("drop", timeout=5)
    ws = u.ws.connect("/echo", name="big")
    ws.request("big:%d" % (10 * 1024 * 1024 + 1), timeout=5)
    ws = u.ws.connect("/echo", name="silent")
    check(ws.recv(timeout=0.02) == None and ws.ok, "a recv that times out leaves the socket open")
    ws.request("x", until=lambda m: False, timeout=0.05)
    check(ws.request("y", timeout=5) == "y", "the socket died after a timed-out wait")
    bad = u.ws.connect("/nowhere", name="refused")
    check(not bad.ok, "connected to nothing")
U = user(tasks=[t])
`, false, base, users)
	if len(snap.Exceptions) > 0 {
		t.Fatalf("exceptions %v", snap.Exceptions)
	}
	for name, w := range map[string]row{"closed": {2 * users, 2 * users}, "dropped": {users, users}, "big": {users, users}, "silent": {2 * users, users},
		"connect refused": {users, users}} {
		if st := snap.Endpoints[ep("WS", name)]; st.Requests != w.Requests || st.Failures != w.Failures {
			t.Errorf("%s: %+v, want %+v", name, st, w)
		}
	}
	checkErrors(t, snap, map[string]uint64{
		"closed by the server: 1001 asked to close":                users,
		"socket closed: closed by the server: 1001 asked to close": users,
		"connection closed by the server without a close frame":    users,
		"message exceeds 10 MiB cap":                               users,
		"timeout: no reply within 50ms":                            users,
		"handshake: HTTP 404 Not Found":                            users,
	})
	// Every message sent reached the target (the one on a closed socket was never sent).
	if got, want := srv.Received(), int64(users*5); got != want {
		t.Errorf("the target got %d messages, want %d", got, want)
	}
}

// TestWebSocketTLS: wss verifies the target's certificate unless the run says
// --insecure-target-tls (HTTPConfig.InsecureSkipVerify).
func TestWebSocketTLS(t *testing.T) {
	srv := chat.New()
	ts := httptest.NewTLSServer(srv)
	defer ts.Close()
	base := "wss" + strings.TrimPrefix(ts.URL, "https")
	p, err := compileInline(`
def t(u):
    u.ws.connect("/echo", name="echo").request("x", timeout=5)
U = user(tasks=[t])
`, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, insecure := range []bool{false, true} {
		col := aggregate.NewCollector(time.Now())
		r, err := userbehavior.NewRunner(userbehavior.RunnerConfig{Classes: p.Classes(), Host: base, Collector: col,
			HTTP: userbehavior.HTTPConfig{InsecureSkipVerify: insecure}})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.RunOnce(context.Background(), "U"); err != nil {
			t.Fatal(err)
		}
		snap := col.Swap(time.Now())
		conn := snap.Endpoints[ep("WS", "connect echo")]
		if insecure {
			if conn.Requests != 1 || conn.Failures != 0 || snap.Endpoints[ep("WS", "echo")].Requests != 1 {
				t.Errorf("insecure: rows %v (errors %v)", snap.Endpoints, snap.Errors)
			}
			continue
		}
		if conn.Requests != 1 || conn.Failures != 1 {
			t.Errorf("verified: connect %+v, want one failure", conn)
		}
		for e := range snap.Errors {
			if e.Name == "connect echo" && !strings.HasPrefix(e.Message, "tls: failed to verify certificate") {
				t.Errorf("error %q", e.Message)
			}
		}
	}
	if srv.Received() != 1 {
		t.Errorf("the target got %d messages, want 1", srv.Received())
	}
}
