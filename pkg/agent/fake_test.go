package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// The fakes of this file let a worker's whole loop run in a testing/synctest bubble:
// the master's end of the stream is in memory (fakeMaster, fakeLink), and so is the
// system under test (memTarget). Every goroutine and channel is made inside the
// bubble, so a test moves the bubble's clock by sleeping, and "3 s of silence"
// takes no real time.

// fakeMaster is the master, as a worker dials it: each dial takes the next result
// the test hands over (a link or an error), or waits until ctx ends.
type fakeMaster struct {
	results chan any // a *fakeLink or an error, for the next dial

	mu    sync.Mutex
	dials []time.Time // when each dial began
}

func newFakeMaster() *fakeMaster {
	return &fakeMaster{results: make(chan any)}
}

func (m *fakeMaster) dial(ctx context.Context) (link, error) {
	m.mu.Lock()
	m.dials = append(m.dials, time.Now())
	m.mu.Unlock()
	select {
	case r := <-m.results:
		if l, ok := r.(*fakeLink); ok {
			return l, nil
		}
		return nil, r.(error)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// accept lets the worker's next dial connect, and returns the new session. Its
// master is alive: it answers each heartbeat of the worker with its own, which
// acknowledges the last report (as cluster.Server does on its own ticker).
func (m *fakeMaster) accept() *fakeLink { return m.acceptWith(nil) }

// acceptWith is accept with the session's behaviour changed by set (silent,
// lingering).
func (m *fakeMaster) acceptWith(set func(*fakeLink)) *fakeLink {
	l := newFakeLink()
	if set != nil {
		set(l)
	}
	m.results <- l // blocks until the worker dials
	return l
}

// silent: the master never speaks unless the test makes it.
func silent(l *fakeLink) { l.silent = true }

// lingering: the master does not end the stream when the worker half-closes it;
// the test does, with drop.
func lingering(l *fakeLink) { l.lingers = true }

// dialTimes returns when each dial began, since origin.
func (m *fakeMaster) dialTimes(origin time.Time) []time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []time.Duration
	for _, at := range m.dials {
		out = append(out, at.Sub(origin))
	}
	return out
}

// fakeLink is one session's stream, the master's end held by the test: it sends
// commands, and reads what the worker sent.
type fakeLink struct {
	cmds   chan cluster.Command
	ended  chan struct{} // the master ended the stream (after the worker's half-close)
	closed chan struct{} // the worker closed the stream

	silent  bool // no heartbeat answers
	lingers bool // a half-close does not end the stream

	mu       sync.Mutex
	sent     []toMaster
	closedAt time.Time
	// the last report received, which the next heartbeat acknowledges
	lastOrigin string
	lastSeq    uint64
	endOnce    sync.Once
	once       sync.Once
}

func newFakeLink() *fakeLink {
	return &fakeLink{cmds: make(chan cluster.Command, 64), ended: make(chan struct{}), closed: make(chan struct{})}
}

var errLinkClosed = errors.New("link closed")

func (l *fakeLink) Recv() (cluster.Command, error) {
	select {
	case <-l.closed:
		return cluster.Command{}, errLinkClosed
	default:
	}
	select {
	case c := <-l.cmds:
		return c, nil
	case <-l.ended:
		return cluster.Command{}, io.EOF
	case <-l.closed:
		return cluster.Command{}, errLinkClosed
	}
}

func (l *fakeLink) Send(m toMaster) error {
	select {
	case <-l.closed:
		return errLinkClosed
	case <-l.ended:
		return io.EOF
	default:
	}
	l.mu.Lock()
	l.sent = append(l.sent, m)
	if m.report != nil {
		l.lastOrigin, l.lastSeq = m.report.Origin, m.report.Seq
	}
	ack := cluster.Command{Kind: cluster.CommandHeartbeat, AckOrigin: l.lastOrigin, AckSeq: l.lastSeq}
	l.mu.Unlock()
	if m.heartbeat != nil && !l.silent {
		select {
		case l.cmds <- ack:
		default: // the worker is not reading: it will hear the next one
		}
	}
	if m == (toMaster{}) && !l.lingers {
		l.drop() // the master has read all: it ends the stream
	}
	return nil
}

func (l *fakeLink) Close() error {
	l.once.Do(func() {
		l.mu.Lock()
		l.closedAt = time.Now()
		l.mu.Unlock()
		close(l.closed)
	})
	return nil
}

// drop ends the stream from the master's side, as a master that goes away does.
func (l *fakeLink) drop() { l.endOnce.Do(func() { close(l.ended) }) }

// send sends the worker a command.
func (l *fakeLink) send(c cluster.Command) { l.cmds <- c }

// messages returns what the worker sent so far.
func (l *fakeLink) messages() []toMaster {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.sent)
}

// reports returns the reports the worker sent so far.
func (l *fakeLink) reports() []cluster.Report {
	var out []cluster.Report
	for _, m := range l.messages() {
		if m.report != nil {
			out = append(out, *m.report)
		}
	}
	return out
}

// closeTime returns when the worker closed the stream (zero while open).
func (l *fakeLink) closeTime() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closedAt
}

// total merges reports as the master counts them: each (origin, seq) once.
func total(reports ...cluster.Report) *aggregate.Snapshot {
	type id struct {
		origin string
		seq    uint64
	}
	seen := map[id]bool{}
	sum := aggregate.NewSnapshot(time.Time{})
	for _, r := range reports {
		k := id{r.Origin, r.Seq}
		if r.Seq != 0 && seen[k] {
			continue
		}
		seen[k] = true
		sum.Merge(r.Snapshot)
	}
	return sum
}

// agentRun is the worker's loop, run against a fakeMaster in the test's bubble.
type agentRun struct {
	t        *testing.T
	cancel   context.CancelFunc
	finished chan struct{}
	err      error // what run returned, once finished is closed
	// done yields what run returned, when it returns by itself.
	done <-chan error
}

// startAgent runs the worker's loop against m. The test's cleanup ends it, so that
// a failed test still ends its bubble.
func startAgent(t *testing.T, cfg Config, m *fakeMaster) *agentRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	a := &agentRun{t: t, cancel: cancel, finished: make(chan struct{}), done: done}
	go func() {
		defer close(a.finished)
		a.err = run(ctx, cfg, m.dial)
		done <- a.err
	}()
	t.Cleanup(func() {
		cancel()
		<-a.finished
	})
	return a
}

// stop cancels the loop, which must return nil.
func (a *agentRun) stop() {
	a.t.Helper()
	a.cancel()
	<-a.finished
	if a.err != nil {
		a.t.Errorf("run: %v", a.err)
	}
}

// hitEndpoint is the one endpoint memTarget serves.
var hitEndpoint = aggregate.Endpoint{Method: "GET", Name: "/hit"}

// memTarget is an in-memory system under test: a request takes latency of the
// bubble's clock, answers 3 bytes, and is recorded as the HTTP client records one
// (a request aborted by the brake as a failure, one cut by the run's stop as
// cancelled at stop). It notes when each began.
type memTarget struct {
	origin  time.Time
	latency time.Duration

	mu     sync.Mutex
	issued []time.Duration // when each request began, since origin
}

func (tg *memTarget) hit(ctx context.Context, u *userbehavior.User) error {
	began := time.Now()
	tg.mu.Lock()
	tg.issued = append(tg.issued, began.Sub(tg.origin))
	tg.mu.Unlock()
	s := aggregate.Sample{Endpoint: hitEndpoint, Latency: tg.latency, Bytes: 3}
	t := time.NewTimer(tg.latency)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		if userbehavior.StoppedAtStop(ctx) {
			// As the HTTP client counts a request the run's stop cut.
			u.Count(aggregate.CancelledCounter, 1)
			return nil
		}
		s.Latency, s.Bytes, s.Err = time.Since(began), 0, "aborted"
	}
	u.Record(s)
	return nil
}

// requests returns when each request began, since origin.
func (tg *memTarget) requests() []time.Duration {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return slices.Clone(tg.issued)
}

// spawns notes when users start (their on_start), since origin.
type spawns struct {
	origin time.Time
	mu     sync.Mutex
	at     []time.Duration
}

func (s *spawns) onStart(context.Context, *userbehavior.User) error {
	s.mu.Lock()
	s.at = append(s.at, time.Since(s.origin))
	s.mu.Unlock()
	return nil
}

func (s *spawns) times() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.at)
}

// memBuiltins: "idle" users A and B that do nothing for an hour at a time, noting
// when they start in sp (may be nil), and "hits" users H that start a request on tg
// every pace.
func memBuiltins(sp *spawns, tg *memTarget, pace time.Duration) userbehavior.Builtins {
	return userbehavior.Builtins{
		"idle": func() []*userbehavior.Class {
			classes := idleClasses("A", "B")
			if sp != nil {
				for _, c := range classes {
					c.OnStart = sp.onStart
				}
			}
			return classes
		},
		"hits": func() []*userbehavior.Class {
			return []*userbehavior.Class{{Name: "H", Weight: 1,
				Wait:  userbehavior.Wait{Kind: userbehavior.WaitConstantPacing, Min: pace},
				Tasks: []userbehavior.Task{{Name: "hit", Weight: 1, Fn: tg.hit}}}}
		},
	}
}

// logHook is a slog.Handler that tells when a message is logged.
type logHook struct {
	msg  string
	seen chan struct{} // cap 1
}

func (h *logHook) Enabled(context.Context, slog.Level) bool { return true }
func (h *logHook) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logHook) WithGroup(string) slog.Handler            { return h }
func (h *logHook) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.seen <- struct{}{}:
		default:
		}
	}
	return nil
}
