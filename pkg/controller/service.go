package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/store"
	"github.com/stampede-load/stampede/pkg/telemetry"
)

// state is everything the loop owns.
type state struct {
	c        *Controller
	workers  map[string]*worker // role worker: they run users
	agents   map[string]*worker // role agent: telemetry of the system under test
	run      *run               // the active run, or the last one (over) until the next starts
	finished []*run             // runs over, newest last, kept for Outcome (bounded)
	// tick closes the active run's intervals; a run's start and a reset restart
	// it, so that every interval but a run's last is a whole Interval long.
	tick *time.Ticker
}

// worker is the controller's view of one connected worker.
type worker struct {
	info       cluster.WorkerInfo
	joined     time.Time
	lastReport time.Time
	users      map[string]int    // last reported users per class
	tele       *telemetry.Sample // the latest sample, nil until one came
	draining   bool              // shutting down: gets no users
	hot        int               // consecutive samples above the saturation limit
	lagging    int               // consecutive samples with scheduling lag above its limit
}

func (w *worker) userCount() int {
	n := 0
	for _, u := range w.users {
		n += u
	}
	return n
}

// Serve runs the controller's loop until ctx ends. An active run is then stopped
// as well as it can be: workers are told to stop and the run is stored as
// interrupted.
func (c *Controller) Serve(ctx context.Context) error {
	tick := time.NewTicker(c.opts.Interval)
	defer tick.Stop()
	s := &state{c: c, workers: map[string]*worker{}, agents: map[string]*worker{}, tick: tick}
	// Reports show in the live view within PublishEvery, not at the next interval.
	fresh := time.NewTicker(c.opts.PublishEvery)
	defer fresh.Stop()
	for {
		r := s.run
		var runEnd, stopWait, expectWait, progress, shape <-chan time.Time
		if r != nil && !r.over() {
			runEnd, stopWait, expectWait = r.runEnd, r.stopWait, r.expectWait
			if r.progress != nil {
				progress = r.progress.C
			}
			if r.shapeTick != nil && !r.stopping {
				shape = r.shapeTick.C
			}
		}
		select {
		case <-ctx.Done():
			if r != nil && !r.over() {
				r.abort(ErrStopped.Error())
			}
			return ctx.Err()
		case cmd := <-c.cmds:
			cmd(s)
		case ev := <-c.cl.Events():
			s.handle(ev)
		case now := <-tick.C:
			if r != nil && !r.over() && r.began() {
				r.closeInterval(now)
				r.stale = false
			}
			s.publish(now)
		case now := <-fresh.C:
			if r != nil && !r.over() && r.stale {
				r.stale = false
				s.publish(now)
			}
		case now := <-progress:
			r.printProgress(now)
		case now := <-shape:
			r.reshape(now)
		case <-runEnd:
			r.runEnd = nil
			reason := ""
			if r.cfg.endsWithShape {
				reason = "the load shape is over"
			}
			r.requestStop(reason)
		case <-stopWait:
			r.stopWait = nil
			r.finishWithoutAll()
		case <-expectWait:
			r.expectWait = nil
			r.failStart()
		}
		if r := s.run; r != nil && !r.over() {
			r.step()
		}
	}
}

func (s *state) sortedWorkers() []*worker {
	out := make([]*worker, 0, len(s.workers))
	for _, id := range slices.Sorted(maps.Keys(s.workers)) {
		out = append(out, s.workers[id])
	}
	return out
}

func (s *state) handle(ev cluster.Event) {
	id := ev.Worker.ID
	r := s.run
	active := r != nil && !r.over()
	switch ev.Kind {
	case cluster.EventJoined:
		w := &worker{info: ev.Worker, joined: ev.At}
		if ev.Worker.Role == cluster.RoleAgent {
			s.agents[id] = w
			s.c.log.Info("agent joined", "worker_id", id)
			return
		}
		s.workers[id] = w
		if active {
			r.joined(w, ev.At)
		}
	case cluster.EventDraining:
		w, ok := s.workers[id]
		if !ok || w.draining {
			return
		}
		w.draining = true
		if active {
			r.drain(w, ev.At, ev.Reason)
		}
	case cluster.EventTelemetry:
		w, ok := s.workers[id]
		if !ok {
			w, ok = s.agents[id]
		}
		if !ok {
			return
		}
		w.tele = ev.Telemetry
		if ev.Worker.Role != cluster.RoleAgent {
			s.checkSaturation(w, ev.At, active)
		}
	case cluster.EventLeft:
		if _, ok := s.agents[id]; ok {
			delete(s.agents, id)
			return
		}
		w, ok := s.workers[id]
		if !ok {
			return
		}
		delete(s.workers, id)
		if w.draining || !active {
			s.c.log.Info("worker left", "worker_id", id, "reason", ev.Reason)
		} else {
			s.c.log.Warn("worker left", "worker_id", id, "reason", ev.Reason)
		}
		if active {
			r.left(w, ev.At, ev.Reason)
		}
	case cluster.EventReport:
		w, ok := s.workers[id]
		if !ok {
			return
		}
		w.lastReport = ev.At
		if active {
			r.noteLimits(w, ev.At, ev.Report)
			r.report(w, ev.At, ev.Report)
		}
	}
}

// newRun registers a run; it begins when enough workers are there.
func (s *state) newRun(cfg Config) *run {
	r := &run{s: s, cfg: cfg, done: make(chan struct{}), requested: time.Now()}
	if cfg.ExpectWait > 0 {
		r.expectWait = time.After(cfg.ExpectWait)
	}
	if cfg.Progress != nil {
		r.progress = time.NewTicker(cfg.ProgressEvery)
	}
	s.run = r
	return r
}

// retire keeps a finished run for Outcome, a bounded number of them.
func (s *state) retire(r *run) {
	s.finished = append(s.finished, r)
	if len(s.finished) > 16 {
		s.finished = s.finished[1:]
	}
}

// checkSaturation raises a warning on the active run when a worker's CPU stays
// above the limit, or its goroutines wait too long to be scheduled, for
// SaturationSamples samples in a row: latency measured by a saturated generator is
// not trustworthy.
func (s *state) checkSaturation(w *worker, at time.Time, active bool) {
	o := s.c.opts
	t := w.tele
	cpu := t.Host.CPUPercent
	if p := t.Process.GOMAXPROCS; p > 0 {
		cpu = max(cpu, t.Process.CPUPercent/float64(p))
	}
	wasHot := w.hot >= o.SaturationSamples || w.lagging >= o.SaturationSamples
	w.hot = next(w.hot, cpu > o.SaturationCPU)
	w.lagging = next(w.lagging, t.Process.SchedLatencyP99 > o.SchedLagLimit)
	if !active || !s.run.began() {
		return
	}
	r := s.run
	if wasHot && w.hot == 0 && w.lagging == 0 && r.saturatedIDs[w.info.ID] {
		// Only after this run said it was saturated: a worker that was hot before
		// the run began has nothing to recover from in it.
		delete(r.saturatedIDs, w.info.ID)
		r.event(at, store.EventGeneratorRecovered, w.info.ID, fmt.Sprintf("CPU %.0f%%", cpu))
	}
	if w.hot == o.SaturationSamples || w.lagging == o.SaturationSamples {
		if r.saturatedIDs == nil {
			r.saturatedIDs = map[string]bool{}
		}
		r.saturatedIDs[w.info.ID] = true
	}
	if w.hot == o.SaturationSamples {
		r.warn(at, store.EventGeneratorSaturated, w.info.ID, fmt.Sprintf("CPU at %.0f%% for %d s (limit %.0f%%): its latency figures are not trustworthy",
			cpu, o.SaturationSamples, o.SaturationCPU))
	}
	if w.lagging == o.SaturationSamples {
		r.warn(at, store.EventGeneratorLagging, w.info.ID, fmt.Sprintf("user goroutines waited %v to run (p99, limit %v): its latency figures are inflated",
			t.Process.SchedLatencyP99.Round(time.Millisecond), o.SchedLagLimit))
	}
}

func next(n int, hot bool) int {
	if hot {
		return n + 1
	}
	return 0
}
