package locust_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/controller"
	"github.com/stampede-load/stampede/pkg/locust"
	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/store"
)

// testMaster is the master's side for real Locust and boomer workers: the
// locust.Server on a loopback port, behind cluster.Merge, a controller and a
// store in a temp dir.
type testMaster struct {
	t    *testing.T
	srv  *locust.Server
	proc *os.Process // the last boomer worker started
	ctl  *controller.Controller
	db   *store.DB
	host string
	port int
}

func newTestMaster(t *testing.T, cfg locust.Config) *testMaster {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "runs.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := locust.NewServer(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	merged := cluster.Merge(ctx, srv)
	ctl := controller.New(merged, db, controller.Options{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); srv.Serve(ln) }()
	go func() { defer wg.Done(); ctl.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		srv.Close()
		wg.Wait()
		merged.Wait()
		db.Close()
	})
	a := ln.Addr().(*net.TCPAddr)
	return &testMaster{t: t, srv: srv, ctl: ctl, db: db, host: a.IP.String(), port: a.Port}
}

// waitLive waits until the live view satisfies ok, or fails the test at the
// context's deadline.
func (m *testMaster) waitLive(ctx context.Context, what string, ok func(*report.Live) bool) *report.Live {
	m.t.Helper()
	ch, unsub := m.ctl.Subscribe()
	defer unsub()
	for {
		if l := m.ctl.Live(); ok(l) {
			return l
		}
		select {
		case <-ch:
		case <-ctx.Done():
			l := m.ctl.Live()
			m.t.Fatalf("waiting for %s: %v; live: state %s, users %d, requests %d, workers %+v", what, ctx.Err(), l.State, l.Users, l.Total.Requests, l.Workers)
			return nil
		}
	}
}

// countingTarget is an httptest server on 127.0.0.1 that counts what it served.
func countingTarget(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Write([]byte("ok"))
	}))
	t.Cleanup(ts.Close)
	return ts, &n
}

var (
	helperOnce sync.Once
	helperBin  string
	helperErr  error
)

// boomerHelper builds the boomer v1.6.0 worker of internal/boomerworker once per
// test binary. It is built without -race: boomer v1.6.0 has data races of its own.
func boomerHelper(t *testing.T) string {
	t.Helper()
	helperOnce.Do(func() {
		dir, err := os.MkdirTemp("", "boomerworker")
		if err != nil {
			helperErr = err
			return
		}
		helperBin = filepath.Join(dir, "boomerworker")
		cmd := exec.Command("go", "build", "-o", helperBin, "./internal/boomerworker")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			helperErr = &buildError{err: err, out: string(out)}
		}
	})
	if helperErr != nil {
		t.Fatalf("build the boomer worker: %v", helperErr)
	}
	return helperBin
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if helperBin != "" {
		os.RemoveAll(filepath.Dir(helperBin))
	}
	os.Exit(code)
}

// startBoomer runs the helper against the master; it ends with the test. The
// channel closes when the process has exited.
func (m *testMaster) startBoomer(ctx context.Context, target string, requests int) <-chan struct{} {
	m.t.Helper()
	bin := boomerHelper(m.t)
	cmd := exec.CommandContext(ctx, bin, "--master-host", m.host, "--master-port", strconv.Itoa(m.port),
		"--target", target, "--requests", strconv.Itoa(requests), "--lifetime", "90s")
	log := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	m.proc = cmd.Process
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	m.t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if m.t.Failed() {
			m.t.Logf("boomer worker output:\n%s", log.String())
		}
	})
	return exited
}

func (m *testMaster) boomerProcess(t *testing.T) *os.Process {
	t.Helper()
	if m.proc == nil {
		t.Fatal("no boomer worker started")
	}
	return m.proc
}

type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

// deadline bounds a test that waits on real processes.
func deadline(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
