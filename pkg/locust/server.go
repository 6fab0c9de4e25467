package locust

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/telemetry"
)

// Config configures a Server.
type Config struct {
	Logger *slog.Logger
	// HeartbeatTimeout: a worker silent this long is lost (Locust and boomer
	// heartbeat every second); default 3 s, as for Stampede's own workers.
	HeartbeatTimeout time.Duration
	HandshakeTimeout time.Duration // ZMTP greeting and READY; default 5 s
	MaxWorkers       int           // refuse client_ready beyond this many; default 1000
	// StopTimeout is sent to workers as stop_timeout: how long a Locust user may
	// finish its task after a stop. Default 0: users stop at once.
	StopTimeout time.Duration
}

// Server is the master's end for Locust and boomer workers: a ZeroMQ ROUTER
// that turns their messages into cluster Events and cluster Commands into
// theirs. It implements the same Events/Send pair as cluster.Server.
type Server struct {
	cfg    Config
	log    *slog.Logger
	events chan cluster.Event
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup

	// emitMu orders events: whoever changes a worker's state and emits the
	// events that follow holds it across both, so events leave in the order the
	// state changed. It is never held by Send.
	emitMu sync.Mutex

	mu        sync.Mutex
	ln        net.Listener
	conns     map[*peer]struct{}
	workers   map[string]*worker // by node id
	indexes   map[string]int     // ack index per node id, stable for the Server's life
	stopAsked map[string]time.Time
}

// peer is one ZMTP connection and its writer.
type peer struct {
	z    *zconn
	addr string
	out  chan []byte // nil payload: flush and close
	gone chan struct{}
	once sync.Once
}

func (p *peer) shut() { p.once.Do(func() { close(p.gone); p.z.close() }) }

// queue hands a payload to the writer; a peer too slow to take it is cut off.
func (p *peer) queue(b []byte) bool {
	select {
	case p.out <- b:
		return true
	case <-p.gone:
		return false
	default:
		p.shut()
		return false
	}
}

// worker is one Locust or boomer worker, by node id.
type worker struct {
	info      cluster.WorkerInfo
	p         *peer
	joined    bool // EventJoined sent, EventLeft not yet
	lastHeard time.Time

	// The run this worker is part of.
	runID     string
	plan      uint64
	seq       uint64
	lastStats time.Time
	target    map[string]int // what the controller asked for
	sent      map[string]int // what the last spawn said
	known     map[string]bool
	rate      float64
	host      string
	ramp      *time.Timer
	lastStamp float64
	stopping  bool // stop sent, client_stopped not yet
	final     bool // client_stopped came: the next stats is the final report
}

// NewServer returns a Server; Serve runs it on a listener.
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = 3 * time.Second
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 5 * time.Second
	}
	if cfg.MaxWorkers <= 0 {
		cfg.MaxWorkers = 1000
	}
	return &Server{cfg: cfg, log: cfg.Logger, events: make(chan cluster.Event, 1024), done: make(chan struct{}),
		conns: map[*peer]struct{}{}, workers: map[string]*worker{}, indexes: map[string]int{}, stopAsked: map[string]time.Time{}}
}

// Events delivers joins, reports, telemetry and departures, per worker in order.
func (s *Server) Events() <-chan cluster.Event { return s.events }

// Serve accepts workers on ln until Close; it returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		ln.Close()
		return nil
	default:
	}
	s.ln = ln
	s.mu.Unlock()
	s.wg.Add(1)
	go s.watch()
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("locust listener: %w", err)
		}
		s.wg.Add(1)
		go s.serveConn(c)
	}
}

// Close stops accepting, lets queued messages (a quit) reach the workers for a
// moment, closes every connection and waits for the Server's goroutines. It is
// idempotent.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.done)
		s.mu.Lock()
		if s.ln != nil {
			s.ln.Close()
		}
		peers := slices.Collect(maps.Keys(s.conns))
		for _, w := range s.workers {
			if w.ramp != nil {
				w.ramp.Stop()
			}
		}
		s.mu.Unlock()
		for _, p := range peers {
			select {
			case p.out <- nil: // flush, then close
			default:
				p.shut()
			}
		}
		flushed := make(chan struct{})
		go func() { s.wg.Wait(); close(flushed) }()
		select {
		case <-flushed:
		case <-time.After(2 * time.Second):
			for _, p := range peers {
				p.shut()
			}
			<-flushed
		}
	})
}

// serveConn runs one connection: handshake, a writer, and the reader here.
func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	addr := c.RemoteAddr().String()
	z, err := handshake(c, time.Now().Add(s.cfg.HandshakeTimeout))
	if err != nil {
		s.log.Warn("locust worker connection refused", "addr", addr, "err", err)
		c.Close()
		return
	}
	p := &peer{z: z, addr: addr, out: make(chan []byte, 256), gone: make(chan struct{})}
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		z.close()
		return
	default:
	}
	s.conns[p] = struct{}{}
	s.mu.Unlock()
	s.wg.Add(1)
	go s.write(p)
	s.log.Debug("locust connection", "addr", addr, "identity", z.identity)
	var why error
	for {
		frames, err := z.readMessage()
		if err != nil {
			why = err
			break
		}
		// A DEALER sends one frame; take the last, which is the payload in any case.
		m, err := decodeMessage(frames[len(frames)-1])
		if err != nil {
			s.log.Warn("bad message from a locust worker, dropping its connection", "addr", addr, "err", err)
			why = err
			break
		}
		if m.NodeID == "" {
			m.NodeID = z.identity
		}
		if err := s.handle(p, m); err != nil {
			s.log.Warn("bad message from a locust worker, dropping its connection", "worker_id", m.NodeID, "type", m.Type, "err", err)
			why = err
			break
		}
	}
	p.shut()
	s.mu.Lock()
	delete(s.conns, p)
	s.mu.Unlock()
	reason := "disconnected"
	select {
	case <-s.done:
		reason = "master shutting down"
	default:
		if why != nil && !errors.Is(why, net.ErrClosed) {
			reason = "disconnected: " + why.Error()
		}
	}
	s.dropPeer(p, reason)
}

// write sends what is queued for a peer until it is gone or asked to close.
func (s *Server) write(p *peer) {
	defer s.wg.Done()
	for {
		select {
		case b := <-p.out:
			if b == nil {
				p.shut()
				return
			}
			if err := p.z.send(b); err != nil {
				p.shut()
				return
			}
		case <-p.gone:
			return
		}
	}
}

// dropPeer marks the workers of a closed connection gone.
func (s *Server) dropPeer(p *peer, reason string) {
	s.emitMu.Lock()
	defer s.emitMu.Unlock()
	var evs []cluster.Event
	s.mu.Lock()
	for id, w := range s.workers {
		if w.p != p {
			continue
		}
		if w.joined {
			evs = append(evs, s.leave(w, reason))
		}
		delete(s.workers, id)
	}
	s.mu.Unlock()
	s.emit(evs...)
}

// leave ends a worker's membership (s.mu held) and returns the event.
func (s *Server) leave(w *worker, reason string) cluster.Event {
	w.joined = false
	if w.ramp != nil {
		w.ramp.Stop()
		w.ramp = nil
	}
	w.runID, w.stopping, w.final = "", false, false
	s.log.Warn("locust worker left", "worker_id", w.info.ID, "kind", w.info.Kind, "reason", reason)
	return cluster.Event{Kind: cluster.EventLeft, At: time.Now(), Worker: w.info, Reason: reason}
}

// watch declares silent workers lost.
func (s *Server) watch() {
	defer s.wg.Done()
	tick := time.NewTicker(max(s.cfg.HeartbeatTimeout/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-s.done:
			return
		case now := <-tick.C:
			s.emitMu.Lock()
			var evs []cluster.Event
			s.mu.Lock()
			for _, id := range slices.Sorted(maps.Keys(s.workers)) {
				w := s.workers[id]
				if !w.joined || now.Sub(w.lastHeard) < s.cfg.HeartbeatTimeout {
					continue
				}
				evs = append(evs, s.leave(w, fmt.Sprintf("lost: nothing heard for %v", s.cfg.HeartbeatTimeout)))
				// Should it still listen, it stops its users (its share has moved
				// on); it may come back with client_ready and join afresh.
				s.sendLocked(w, message{Type: "stop"})
			}
			s.mu.Unlock()
			s.emit(evs...)
			s.emitMu.Unlock()
		}
	}
}

func (s *Server) emit(evs ...cluster.Event) {
	for _, e := range evs {
		select {
		case s.events <- e:
		case <-s.done:
			return
		}
	}
}

// handle applies one message from a worker.
func (s *Server) handle(p *peer, m message) error {
	s.emitMu.Lock()
	defer s.emitMu.Unlock()
	now := time.Now()
	var evs []cluster.Event
	s.mu.Lock()
	evs, err := s.apply(p, m, now)
	s.mu.Unlock()
	s.emit(evs...)
	return err
}

// apply changes state for one message (s.mu held) and returns the events.
func (s *Server) apply(p *peer, m message, now time.Time) ([]cluster.Event, error) {
	id := m.NodeID
	if id == "" {
		return nil, errors.New("message without node_id")
	}
	w := s.workers[id]
	if w != nil && w.p != p {
		// The same worker on a new connection (a DEALER reconnects by itself):
		// the old one is dead.
		old := w.p
		w.p = p
		old.shut()
	}
	if m.Type == "client_ready" {
		return s.ready(p, w, m, now)
	}
	if w == nil || !w.joined {
		return nil, s.stranger(p, w, m, now)
	}
	w.lastHeard = now
	switch m.Type {
	case "heartbeat":
		return s.heartbeat(w, m, now), nil
	case "stats":
		return s.stats(w, m, now)
	case "client_stopped":
		return s.clientStopped(w, now), nil
	case "exception":
		return s.exception(w, m, now), nil
	case "quit":
		ev := s.leave(w, "quit: the worker is shutting down")
		delete(s.workers, id)
		return []cluster.Event{ev}, nil
	case "spawning", "spawning_complete", "logs":
	default:
		s.log.Debug("locust message ignored", "worker_id", id, "type", m.Type)
	}
	return nil, nil
}

// ready handles client_ready: any version is accepted (Debian's Locust sends an empty string,
// boomer v1 nil, newer boomer -1); the worker is acked and, if new, joins.
func (s *Server) ready(p *peer, w *worker, m message, now time.Time) ([]cluster.Event, error) {
	id := m.NodeID
	if w == nil {
		if len(s.workers) >= s.cfg.MaxWorkers {
			s.log.Warn("locust worker refused: the master has its maximum of workers", "worker_id", id, "max", s.cfg.MaxWorkers)
			return nil, nil
		}
		w = &worker{p: p, known: map[string]bool{}}
		s.workers[id] = w
	}
	kind, version := cluster.KindLocust, ""
	switch v := m.Data.(type) {
	case string:
		version = v
	case []byte:
		version = string(v)
	case nil:
		kind = cluster.KindBoomer // boomer v1.x sends no version
	default:
		if n, ok := number(v); ok && n == -1 {
			kind = cluster.KindBoomer // later boomers ask to skip the version check
		} else {
			return nil, fmt.Errorf("client_ready version %v (%T)", v, v)
		}
	}
	if kind == cluster.KindLocust && version == "" {
		version = "unknown" // Debian's build reports an empty version
	}
	idx, ok := s.indexes[id]
	if !ok {
		idx = len(s.indexes)
		s.indexes[id] = idx
	}
	w.lastHeard = now
	s.sendLocked(w, message{Type: "ack", Data: map[string]any{"index": idx}, NodeID: id})
	delete(s.stopAsked, id)
	if w.joined {
		return nil, nil // again after a stop: it is ready for the next spawn
	}
	host, _, _ := strings.Cut(id, "_")
	if i := strings.LastIndex(id, "_"); i > 0 {
		host = id[:i]
	}
	w.info = cluster.WorkerInfo{ID: id, Hostname: host, Version: version, Role: cluster.RoleWorker, Addr: p.addr, Kind: kind}
	if kind == cluster.KindLocust {
		w.info.Cores = 1 // one Python process runs on one core
	}
	w.joined = true
	w.sent, w.known = map[string]int{}, map[string]bool{}
	s.log.Info("locust worker joined", "worker_id", id, "kind", kind, "version", version, "addr", p.addr)
	return []cluster.Event{{Kind: cluster.EventJoined, At: now, Worker: w.info}}, nil
}

// stranger handles a message from a worker that is not a member: one that was
// declared lost, or that outlived an earlier master. It may still run users
// nobody plans for, so it is told to stop (at most every few seconds); after the
// stop a Locust worker says client_ready and joins again.
func (s *Server) stranger(p *peer, w *worker, m message, now time.Time) error {
	if m.Type == "quit" {
		if w != nil {
			delete(s.workers, m.NodeID)
		}
		return nil
	}
	if t, ok := s.stopAsked[m.NodeID]; ok && now.Sub(t) < 5*time.Second {
		return nil
	}
	if len(s.stopAsked) > 4*s.cfg.MaxWorkers {
		clear(s.stopAsked)
	}
	s.stopAsked[m.NodeID] = now
	s.log.Warn("message from a worker that is not a member: telling it to stop", "worker_id", m.NodeID, "type", m.Type, "addr", p.addr)
	b, err := encodeMessage(message{Type: "stop", NodeID: m.NodeID})
	if err != nil {
		return err
	}
	p.queue(b)
	return nil
}

func (s *Server) heartbeat(w *worker, m message, now time.Time) []cluster.Event {
	d := asMap(m.Data)
	cpu, okCPU := number(field(d, "current_cpu_usage"))
	mem, okMem := number(field(d, "current_memory_usage"))
	if !okCPU && !okMem {
		return nil
	}
	t := &telemetry.Sample{At: now, Interval: time.Second}
	// Locust: percent of one core of a single-threaded process. boomer: percent of
	// the whole machine. Either way GOMAXPROCS 1 makes the controller read it as
	// the share of what the worker can use.
	t.Process.CPUPercent, t.Process.GOMAXPROCS = max(cpu, 0), 1
	if okMem && mem > 0 {
		t.Process.RSS = uint64(mem)
	}
	return []cluster.Event{{Kind: cluster.EventTelemetry, At: now, Worker: w.info, Telemetry: t}}
}

func (s *Server) stats(w *worker, m message, now time.Time) ([]cluster.Event, error) {
	if w.runID == "" {
		return nil, nil // between runs a Locust worker reports empty stats every 3 s
	}
	start := w.lastStats
	ws, err := parseStats(m.Data, start, now)
	if err != nil {
		return nil, err
	}
	w.lastStats = now
	users := ws.Users
	if users == nil && ws.UserCount >= 0 {
		users = splitUsers(ws.UserCount, w.sent)
	}
	if w.stopping || w.final {
		users = nil // stopped: nobody runs
	}
	w.seq++
	rep := &cluster.Report{RunID: w.runID, Seq: w.seq, PlanVersion: w.plan, Snapshot: ws.Snapshot, Users: users, Final: w.final}
	if w.final {
		s.endRun(w)
	}
	return []cluster.Event{{Kind: cluster.EventReport, At: now, Worker: w.info, Report: rep}}, nil
}

// clientStopped: the worker stopped its users. A Locust worker's stats reporter
// sends what it measured up to the stop within 3 s: that report is the final
// one. boomer drops what it had not reported yet, so its final report is empty
// and comes at once.
func (s *Server) clientStopped(w *worker, now time.Time) []cluster.Event {
	if w.runID == "" || !w.stopping {
		return nil
	}
	w.stopping = false
	w.final = true
	if w.info.Kind == cluster.KindLocust {
		return nil
	}
	w.seq++
	rep := &cluster.Report{RunID: w.runID, Seq: w.seq, PlanVersion: w.plan, Snapshot: emptySnapshot(w.lastStats, now), Final: true}
	s.endRun(w)
	return []cluster.Event{{Kind: cluster.EventReport, At: now, Worker: w.info, Report: rep}}
}

func (s *Server) exception(w *worker, m message, now time.Time) []cluster.Event {
	if w.runID == "" {
		return nil
	}
	d := asMap(m.Data)
	snap := emptySnapshot(now, now)
	snap.AddException(aggregate.ExceptionKey{Message: text(field(d, "msg")), Traceback: text(field(d, "traceback"))}, 1)
	w.seq++
	rep := &cluster.Report{RunID: w.runID, Seq: w.seq, PlanVersion: w.plan, Snapshot: snap, Users: nil}
	if w.stopping || w.final {
		return []cluster.Event{{Kind: cluster.EventReport, At: now, Worker: w.info, Report: rep}}
	}
	rep.Users = maps.Clone(w.sent)
	return []cluster.Event{{Kind: cluster.EventReport, At: now, Worker: w.info, Report: rep}}
}

// endRun forgets the run after the worker's final report.
func (s *Server) endRun(w *worker) {
	if w.ramp != nil {
		w.ramp.Stop()
		w.ramp = nil
	}
	w.runID, w.stopping, w.final = "", false, false
	w.sent = map[string]int{}
}

func emptySnapshot(start, end time.Time) *aggregate.Snapshot {
	snap := aggregate.NewSnapshot(start)
	snap.End = end
	return snap
}

// splitUsers spreads a worker's user count over the classes it was sent, in
// their proportions (boomer reports only a total).
func splitUsers(total int, sent map[string]int) map[string]int {
	out := map[string]int{}
	names := slices.Sorted(maps.Keys(sent))
	planned := 0
	for _, n := range names {
		planned += sent[n]
	}
	if planned == 0 {
		if total > 0 {
			out[""] = total
		}
		return out
	}
	left := total
	for _, n := range names {
		k := min(left, int(math.Round(float64(total)*float64(sent[n])/float64(planned))))
		out[n] = k
		left -= k
	}
	if left > 0 {
		out[names[0]] += left
	}
	return out
}

// Send carries out a command for one worker. It never blocks on the network.
func (s *Server) Send(workerID string, cmd cluster.Command) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.workers[workerID]
	if !ok || !w.joined {
		return fmt.Errorf("%w: locust worker %s", cluster.ErrUnknownWorker, workerID)
	}
	switch cmd.Kind {
	case cluster.CommandStart:
		return s.start(w, cmd)
	case cluster.CommandStop:
		if w.runID == "" || (cmd.RunID != "" && cmd.RunID != w.runID) || w.stopping || w.final {
			return nil
		}
		if w.ramp != nil {
			w.ramp.Stop()
			w.ramp = nil
		}
		w.stopping = true
		return s.sendLocked(w, message{Type: "stop"})
	case cluster.CommandQuit:
		return s.sendLocked(w, message{Type: "quit"})
	case cluster.CommandHeartbeat:
		return nil // Locust 2.12 workers do not know it; they rely on the TCP connection
	}
	return fmt.Errorf("unknown command %d", cmd.Kind)
}

// sendLocked queues a message for a worker (s.mu held); NodeID defaults to the
// worker's id, which boomer insists on.
func (s *Server) sendLocked(w *worker, m message) error {
	if m.NodeID == "" {
		m.NodeID = w.info.ID
	}
	b, err := encodeMessage(m)
	if err != nil {
		return err
	}
	if !w.p.queue(b) {
		return fmt.Errorf("locust worker %s: connection closed", w.info.ID)
	}
	return nil
}
