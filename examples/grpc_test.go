package examples

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/stampede-load/stampede/examples/grpc/service"
	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/userbehavior"
	"github.com/stampede-load/stampede/pkg/userbehavior/script"
)

// startEcho serves the in-repository gRPC target on a loopback port.
func startEcho(t *testing.T, reflection bool) (*service.Server, string) {
	t.Helper()
	s, addr, err := service.Start(service.Options{Reflection: reflection}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s, addr
}

// runScript runs users of each class of the script once, as a dry run does, against
// host, and returns what was recorded.
func runScript(t *testing.T, main, host string, users int) *aggregate.Snapshot {
	t.Helper()
	b, err := script.LoadDir(main)
	if err != nil {
		t.Fatal(err)
	}
	p, err := script.Compile(b, script.Options{})
	if err != nil {
		t.Fatal(err)
	}
	snap := runProgram(t, p, host, users)
	if len(snap.Exceptions) > 0 {
		t.Errorf("exceptions: %+v", snap.Exceptions)
	}
	return snap
}

// runProgram runs users of each class of p once each against host.
func runProgram(t *testing.T, p *script.Program, host string, users int) *aggregate.Snapshot {
	t.Helper()
	col := aggregate.NewCollector(time.Now())
	r, err := userbehavior.NewRunner(userbehavior.RunnerConfig{Classes: p.Classes(), Host: host, Collector: col})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Classes() {
		for range users {
			if err := r.RunOnce(context.Background(), c.Name); err != nil {
				t.Fatal(err)
			}
		}
	}
	return col.Swap(time.Now())
}

// TestGRPCExamples runs the gRPC examples against the in-repository Echo service,
// with reflection and from the .proto beside the script, and checks every row
// against the calls the server counted itself.
func TestGRPCExamples(t *testing.T) {
	const users = 4
	say, health := "/stampede.echo.v1.Echo/Say", "/grpc.health.v1.Health/Check"
	count, chat := "/stampede.echo.v1.Echo/Count", "/stampede.echo.v1.Echo/Chat"
	t.Run("reflection", func(t *testing.T) {
		srv, addr := startEcho(t, true)
		snap := runScript(t, filepath.Join("grpc", "reflection", "main.star"), "grpc://"+addr, users)
		want := map[aggregate.Endpoint]row{
			ep("GRPC", say):                        {uint64(srv.Calls(say, codes.OK)), 0},
			ep("GRPC", "Say (NOT_FOUND expected)"): {uint64(srv.Calls(say, codes.NotFound)), 0},
			ep("GRPC", health):                     {uint64(srv.Calls(health, codes.OK)), 0},
			ep("GRPC", count):                      {uint64(srv.Calls(count, codes.OK)), 0},
			ep("GRPC", chat):                       {uint64(srv.Calls(chat, codes.OK)), 0},
		}
		checkRows(t, snap, want, users)
		// Stream rows: one TTFM per call, one MSG per message after the first, as
		// many messages as the server sent.
		for _, m := range []string{count, chat} {
			sent := uint64(srv.Messages(m, true))
			ttfm, msg := snap.Endpoints[ep("TTFM", m)], snap.Endpoints[ep("MSG", m)]
			if ttfm.Requests != users || ttfm.Requests+msg.Requests != sent || msg.Failures+ttfm.Failures != 0 {
				t.Errorf("%s: TTFM %+v, MSG %+v; the server sent %d messages to %d users", m, ttfm, msg, sent, users)
			}
		}
		if got := srv.Messages(chat, false); got != 3*users {
			t.Errorf("the server got %d chat messages, want %d", got, 3*users)
		}
		if total := snap.Total(); total.Requests != 5*users {
			t.Errorf("aggregated: %d calls, want %d (TTFM and MSG rows are not calls)", total.Requests, 5*users)
		}
	})
	t.Run("proto", func(t *testing.T) {
		srv, addr := startEcho(t, false)
		snap := runScript(t, filepath.Join("grpc", "proto", "main.star"), "grpc://"+addr, users)
		checkRows(t, snap, map[aggregate.Endpoint]row{ep("GRPC", say): {uint64(srv.Calls(say, codes.OK)), 0}}, users)
		if got := snap.Counters["served"]; got != users {
			t.Errorf("served counter %d, want %d", got, users)
		}
	})
}

// checkRows compares every row with want, and each with the users that ran.
func checkRows(t *testing.T, snap *aggregate.Snapshot, want map[aggregate.Endpoint]row, users uint64) {
	t.Helper()
	for k, w := range want {
		if w.Requests != users {
			t.Errorf("%v: the server counted %d calls, want %d (one per user)", k, w.Requests, users)
		}
		st, ok := snap.Endpoints[k]
		if !ok {
			t.Errorf("no row %v (have %v)", k, snap.Endpoints)
			continue
		}
		if st.Requests != w.Requests || st.Failures != w.Failures {
			t.Errorf("%v: %d calls, %d failures; the server counted %+v (errors: %v)", k, st.Requests, st.Failures, w, snap.Errors)
		}
	}
	calls := 0
	for k := range snap.Endpoints {
		if k.Method == "GRPC" {
			calls++
		}
	}
	if calls != len(want) {
		t.Errorf("rows %v, want %d GRPC rows", snap.Endpoints, len(want))
	}
}

// compileInline compiles a bundle of main.star (and echo.proto when withProto).
func compileInline(src string, withProto bool) (*script.Program, error) {
	files := map[string][]byte{"main.star": []byte(src)}
	if withProto {
		proto, err := os.ReadFile(filepath.Join("grpc", "service", "echo.proto"))
		if err != nil {
			return nil, err
		}
		files["echo.proto"] = proto
	}
	return script.Compile(script.Bundle{Main: "main.star", Files: files}, script.Options{})
}

// runInline runs users of every class of src once each against host.
func runInline(t *testing.T, src string, withProto bool, host string, users int) *aggregate.Snapshot {
	t.Helper()
	p, err := compileInline(src, withProto)
	if err != nil {
		t.Fatal(err)
	}
	return runProgram(t, p, host, users)
}

// TestGRPCCheck: a method the bundle's .proto lacks is an error before the run.
func TestGRPCCheck(t *testing.T) {
	src := `
def t(u):
    u.grpc.connect().invoke("stampede.echo.v1.Echo/Shout", {})
    u.grpc.connect().invoke("no-slash", {})
    u.grpc.connect().invoke("other.Service/Anything", {})  # left to reflection
U = user(tasks=[t])
`
	_, err := compileInline(src, true)
	if err == nil {
		t.Fatal("compiled")
	}
	for _, want := range []string{"main.star:3:29: invoke: gRPC service stampede.echo.v1.Echo has no method Shout (it has Say, Count, Chat)",
		`main.star:4:29: invoke: gRPC method "no-slash"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nlacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "other.Service") {
		t.Errorf("error %q names a service the protos do not define", err)
	}
	if _, err := compileInline("U = user(tasks=[lambda u: None])\n", false); err != nil {
		t.Errorf("no protos: %v", err)
	}
	if _, err := script.Compile(script.Bundle{Main: "main.star", Files: map[string][]byte{
		"main.star": []byte("U = user(tasks=[lambda u: None])\n"), "bad.proto": []byte("syntax = \"proto3\";\nmessage {")}}, script.Options{}); err == nil || !strings.Contains(err.Error(), "bad.proto:2:") {
		t.Errorf("a broken .proto: %v, want its position", err)
	}
}

// TestGRPCFailures: failed calls are counted once each and grouped by status code
// and message, never by address; script mistakes are task exceptions.
func TestGRPCFailures(t *testing.T) {
	const users = 3
	say := "/stampede.echo.v1.Echo/Say"
	srv, addr := startEcho(t, true)
	snap := runInline(t, `
def t(u):
    c = u.grpc.connect()
    c.invoke("stampede.echo.v1.Echo/Say", {"fail_code": 8})
    c.invoke("stampede.echo.v1.Echo/Say", {"delay_ms": 2000}, timeout=0.05, name="slow")
    r = c.invoke("stampede.echo.v1.Echo/Say", {"text": "x"})
    r.fail("judged bad")
    c.invoke("stampede.echo.v1.Echo/Say", {"text": "x" * (10 * 1024 * 1024 + u.id)})
U = user(tasks=[t])
`, false, "grpc://"+addr, users)
	st := snap.Endpoints[ep("GRPC", say)]
	if st.Requests != users*3 || st.Failures != users*3 {
		t.Errorf("Say row %+v, want %d calls all failed", st, users*3)
	}
	if got := uint64(srv.Calls(say, codes.ResourceExhausted) + srv.Calls(say, codes.OK)); got != st.Requests {
		t.Errorf("server counted %d Say calls besides the slow ones, we %d", got, st.Requests)
	}
	slow := snap.Endpoints[ep("GRPC", "slow")]
	if slow.Requests != users || slow.Failures != users {
		t.Errorf("slow row %+v, want %d failed", slow, users)
	}
	wantErrs := map[string]uint64{
		"RESOURCE_EXHAUSTED: asked to fail with ResourceExhausted": users,
		"DEADLINE_EXCEEDED: context deadline exceeded":             users,
		"judged bad": users,
		"RESOURCE_EXHAUSTED: message exceeds 10 MiB cap": users, // a reply over the body cap
	}
	checkErrors(t, snap, wantErrs)

	// Nothing listens: every call fails UNAVAILABLE, one row of errors for all ports.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	snap = runInline(t, `
def t(u):
    u.grpc.connect().invoke("stampede.echo.v1.Echo/Say", {})
U = user(tasks=[t])
`, false, "grpc://"+dead, users)
	st = snap.Endpoints[ep("GRPC", say)]
	if st.Requests != users || st.Failures != users {
		t.Errorf("unreachable: %+v, want %d failed calls", st, users)
	}
	for e := range snap.Errors {
		if strings.Contains(e.Message, dead) || !strings.HasPrefix(e.Message, "UNAVAILABLE: ") {
			t.Errorf("error %q: want UNAVAILABLE without the address", e.Message)
		}
	}

	// A method the server does not have, a field its message lacks: exceptions.
	snap = runInline(t, `
def t(u):
    c = u.grpc.connect()
    c.invoke("stampede.echo.v1.Echo/Shout", {})
U = user(tasks=[t])
def f(u):
    u.grpc.connect().invoke("stampede.echo.v1.Echo/Say", {"colour": "red"})
V = user(tasks=[f])
`, false, "grpc://"+addr, 1)
	var msgs []string
	for e := range snap.Exceptions {
		msgs = append(msgs, e.Message)
	}
	sort.Strings(msgs)
	if len(snap.Endpoints) != 0 || len(msgs) != 2 || !strings.Contains(msgs[0], "has no method Shout") ||
		!strings.Contains(msgs[1], `unknown field "colour"`) {
		t.Errorf("unknown method: rows %v, exceptions %q", snap.Endpoints, msgs)
	}
}

func checkErrors(t *testing.T, snap *aggregate.Snapshot, want map[string]uint64) {
	t.Helper()
	got := map[string]uint64{}
	for e, n := range snap.Errors {
		got[e.Message] += n
	}
	for msg, n := range want {
		if got[msg] != n {
			t.Errorf("error %q: %d, want %d (all: %v)", msg, got[msg], n, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("errors %v, want %v", got, want)
	}
}

// eventually polls cond until it holds, for counts a real server updates after a
// call's client has moved on (a cancelled stream's handler ends a moment later).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGRPCStreamFailures: a stream the server ends mid-way, a recv that times out
// (the client resets the stream), and a stream the script leaves early, each
// counted once, as the server counted them.
func TestGRPCStreamFailures(t *testing.T) {
	const users = 3
	count := "/stampede.echo.v1.Echo/Count"
	srv, addr := startEcho(t, true)
	snap := runInline(t, `
def aborted(u):
    s = u.grpc.connect().stream("stampede.echo.v1.Echo/Count", {"n": 5, "abort_after": 2}, name="aborted")
    got = 0
    for _ in range(10):
        if s.recv(timeout=5) == None:
            break
        got += 1
    check(got == 2 and s.status == "UNAVAILABLE", "got %d, %s" % (got, s.status))
U = user(tasks=[aborted])

def stalled(u):
    s = u.grpc.connect().stream("stampede.echo.v1.Echo/Count", {"n": 3, "interval_ms": 60000}, name="stalled")
    check(s.recv(timeout=5) != None, "no first reply")
    check(s.recv(timeout=0.05) == None and s.status == "DEADLINE_EXCEEDED", "second reply: %s" % s.status)
V = user(tasks=[stalled])

def left(u):
    s = u.grpc.connect().stream("stampede.echo.v1.Echo/Count", {"n": 1000, "interval_ms": 10}, name="left")
    s.recv(timeout=5)
    s.recv(timeout=5)
    s.close()
    check(s.ok, "leaving a stream early is no failure")
W = user(tasks=[left])
`, false, "grpc://"+addr, users)
	if len(snap.Exceptions) > 0 {
		t.Fatalf("exceptions %v", snap.Exceptions)
	}
	for name, want := range map[string]row{"aborted": {users, users}, "stalled": {users, users}, "left": {users, 0}} {
		if st := snap.Endpoints[ep("GRPC", name)]; st.Requests != want.Requests || st.Failures != want.Failures {
			t.Errorf("%s: %+v, want %+v", name, st, want)
		}
		if st := snap.Endpoints[ep("TTFM", name)]; st.Requests != users {
			t.Errorf("%s: TTFM %+v, want %d", name, st, users)
		}
	}
	checkErrors(t, snap, map[string]uint64{
		"UNAVAILABLE: stream aborted after 2 replies":             users,
		"DEADLINE_EXCEEDED: recv timeout: no message within 50ms": users,
	})
	// The server saw every stream end: aborted by itself, reset by the client.
	eventually(t, "the server to count every stream", func() bool {
		return srv.Calls(count, codes.Unavailable) == users && srv.Calls(count, codes.Canceled) == 2*users
	})
	if sent, got := srv.Messages(count, true), snap.Endpoints[ep("TTFM", "aborted")].Requests+snap.Endpoints[ep("MSG", "aborted")].Requests+
		snap.Endpoints[ep("TTFM", "stalled")].Requests+snap.Endpoints[ep("TTFM", "left")].Requests+snap.Endpoints[ep("MSG", "left")].Requests; got > uint64(sent) {
		t.Errorf("%d messages recorded, the server sent %d", got, sent)
	}
}

// TestGRPCGoAway: a server that ends connections after a maximum age (GOAWAY) loses
// no call: grpc-go moves new calls to a fresh connection, and every call is counted
// once, as the server counted it.
func TestGRPCGoAway(t *testing.T) {
	srv, addr, err := service.Start(service.Options{Reflection: true, MaxConnectionAge: 20 * time.Millisecond}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	snap := runInline(t, `
def t(u):
    c = u.grpc.connect()
    for i in range(200):
        c.invoke("stampede.echo.v1.Echo/Say", {"text": "x", "delay_ms": 1})
U = user(tasks=[t])
`, false, "grpc://"+addr, 2)
	say := "/stampede.echo.v1.Echo/Say"
	st := snap.Endpoints[ep("GRPC", say)]
	if st.Requests != 400 || st.Failures != 0 || uint64(srv.Calls(say, codes.OK)) != st.Requests {
		t.Errorf("%+v; the server served %d (errors %v)", st, srv.Calls(say, codes.OK), snap.Errors)
	}
	if srv.Connections() < 3 {
		t.Errorf("%d connections: the server's GOAWAY did not move calls to new ones", srv.Connections())
	}
}

// TestGRPCConnectReuse: connect() in every task returns the user's open connection
// (one per user, as the server's connection count shows); after close() it opens a
// new one.
func TestGRPCConnectReuse(t *testing.T) {
	const users = 2
	srv, addr := startEcho(t, true)
	snap := runInline(t, `
def t(u):
    for i in range(5):
        u.grpc.connect().invoke("stampede.echo.v1.Echo/Say", {"text": "x"})
    c = u.grpc.connect()
    c.close()
    u.grpc.connect().invoke("stampede.echo.v1.Echo/Say", {"text": "after close"})
U = user(tasks=[t])
`, false, "grpc://"+addr, users)
	say := "/stampede.echo.v1.Echo/Say"
	if st := snap.Endpoints[ep("GRPC", say)]; st.Requests != 6*users || st.Failures != 0 || uint64(srv.Calls(say, codes.OK)) != st.Requests {
		t.Errorf("%+v; the server served %d", st, srv.Calls(say, codes.OK))
	}
	if got := srv.Connections(); got != 2*users {
		t.Errorf("%d connections, want %d (one per user, and one after close)", got, 2*users)
	}
}

// TestGRPCDeadlineStorm: 30 concurrent users whose every call outlives its 10 ms
// deadline, for a second. Every call is a failure under one row and one error
// message (whether the client's deadline or the server's reset came first), none is
// an exception; the server saw no more calls than were counted;
// and when the users stop, their connections close (the goroutines grpc-go ran for
// them end).
func TestGRPCDeadlineStorm(t *testing.T) {
	const users = 30
	srv, addr := startEcho(t, true)
	p, err := compileInline(`
def t(u):
    u.grpc.connect().invoke("stampede.echo.v1.Echo/Say", {"delay_ms": 200}, timeout=0.01)
U = user(tasks=[t])
`, false)
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	col := aggregate.NewCollector(time.Now())
	r, err := userbehavior.NewRunner(userbehavior.RunnerConfig{Classes: p.Classes(), Host: "grpc://" + addr, Collector: col})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range users {
		if err := r.Spawn(ctx, "U"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second) // the storm's length: a bound, not an assertion
	stop, cancelStop := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelStop()
	r.StopAll(stop)
	snap := col.Swap(time.Now())
	say := "/stampede.echo.v1.Echo/Say"
	st := snap.Endpoints[ep("GRPC", say)]
	if st.Requests < users || st.Failures != st.Requests || len(snap.Endpoints) != 1 || len(snap.Exceptions) != 0 {
		t.Errorf("row %+v (rows %v, exceptions %v): want every call failed", st, snap.Endpoints, snap.Exceptions)
	}
	// One cause, one message; calls whose deadline passed before their connection
	// was ready (never sent: a slow start, under -race) keep grpc-go's own words.
	var failed uint64
	for e, n := range snap.Errors {
		failed += n
		if e.Message != "DEADLINE_EXCEEDED: context deadline exceeded" &&
			e.Message != "DEADLINE_EXCEEDED: context deadline exceeded while waiting for connections to become ready" {
			t.Errorf("error %q (%d)", e.Message, n)
		}
	}
	if failed != st.Requests {
		t.Errorf("%d errors for %d failed calls", failed, st.Requests)
	}
	eventually(t, "the server to finish the calls it got", func() bool {
		n := srv.Calls(say, codes.DeadlineExceeded) + srv.Calls(say, codes.Canceled)
		return n > 0 && uint64(n) <= st.Requests && srv.Calls(say, codes.OK) == 0
	})
	eventually(t, "the users' connections to close", func() bool { return runtime.NumGoroutine() <= before+5 })
}

// TestGRPCSharedConnection: users that connect with shared=True use one connection
// per worker (the server counts one), every call still counted once and recorded by
// its own user; a user closing it leaves it open for the others; StopAll closes it.
func TestGRPCSharedConnection(t *testing.T) {
	const users = 5
	srv, addr := startEcho(t, true)
	p, err := compileInline(`
def t(u):
    c = u.grpc.connect(shared=True)
    for i in range(3):
        c.invoke("stampede.echo.v1.Echo/Say", {"text": "x"})
    c.close()
U = user(tasks=[t])
`, false)
	if err != nil {
		t.Fatal(err)
	}
	col := aggregate.NewCollector(time.Now())
	r, err := userbehavior.NewRunner(userbehavior.RunnerConfig{Classes: p.Classes(), Host: "grpc://" + addr, Collector: col})
	if err != nil {
		t.Fatal(err)
	}
	for range users {
		if err := r.RunOnce(context.Background(), "U"); err != nil {
			t.Fatal(err)
		}
	}
	r.StopAll(context.Background())
	snap := col.Swap(time.Now())
	say := "/stampede.echo.v1.Echo/Say"
	if st := snap.Endpoints[ep("GRPC", say)]; st.Requests != 3*users || st.Failures != 0 || uint64(srv.Calls(say, codes.OK)) != st.Requests {
		t.Errorf("%+v (errors %v); the server served %d", st, snap.Errors, srv.Calls(say, codes.OK))
	}
	if got := srv.Connections(); got != 1 {
		t.Errorf("%d connections, want 1 shared by %d users", got, users)
	}
}
