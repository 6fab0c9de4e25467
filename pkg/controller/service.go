package controller

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/stampede-load/stampede/pkg/cluster"
)

// state is everything the loop owns.
type state struct {
	c        *Controller
	workers  map[string]*worker
	run      *run   // the active run, or the last one (over) until the next starts
	finished []*run // runs over, newest last, kept for Outcome (bounded)
}

// worker is the controller's view of one connected worker.
type worker struct {
	info       cluster.WorkerInfo
	joined     time.Time
	lastReport time.Time
	target     map[string]int // planned users per class in the active run
	users      map[string]int // last reported users per class
	lastSeq    uint64
	final      bool
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
	s := &state{c: c, workers: map[string]*worker{}}
	tick := time.NewTicker(c.opts.Interval)
	defer tick.Stop()
	for {
		r := s.run
		var runEnd, stopWait, expectWait, progress <-chan time.Time
		if r != nil && !r.over() {
			runEnd, stopWait, expectWait = r.runEnd, r.stopWait, r.expectWait
			if r.progress != nil {
				progress = r.progress.C
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
			}
			s.publish(now)
		case now := <-progress:
			r.printProgress(now)
		case <-runEnd:
			r.runEnd = nil
			r.requestStop("")
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
		s.workers[id] = w
		s.c.log.Info("worker joined", "worker_id", id)
		if active {
			r.joined(w, ev.At)
		}
	case cluster.EventLeft:
		w, ok := s.workers[id]
		if !ok {
			return
		}
		delete(s.workers, id)
		s.c.log.Warn("worker left", "worker_id", id, "reason", ev.Reason)
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
