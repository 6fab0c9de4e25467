package controller

import (
	"fmt"
	"slices"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/store"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// Warnings raised from what the workers measure, once per run each: in the live
// view, the progress output, the run's events and the log.

// noteCap warns once per run when the run's endpoints went past
// aggregate.MaxEndpoints: names past the cap count under "other" rows.
func (r *run) noteCap(at time.Time, s *aggregate.Snapshot) {
	if !s.Capped() || !r.firstTime("endpoints_capped") {
		return
	}
	r.warnRun(at, store.EventEndpointsCapped, fmt.Sprintf("endpoint names capped at %d: group dynamic URLs with name=... (the requests past the cap count under %q rows)",
		aggregate.MaxEndpoints, aggregate.OtherEndpoints))
}

// noteLateReplan warns once per run when workers counted open-model iterations
// that a re-plan re-assigned after they were issued (aggregate.LateReplanCounter).
func (r *run) noteLateReplan(at time.Time, s *aggregate.Snapshot) {
	n := s.Counters[aggregate.LateReplanCounter]
	if n == 0 || !r.firstTime("replan_late") {
		return
	}
	r.warnRun(at, store.EventOpenModelReplanLate, fmt.Sprintf("a re-plan reached a worker after iterations it re-assigned were issued: "+
		"%d iterations may have run twice or not at all (counter %s; a worker's link to the master is slow)", n, aggregate.LateReplanCounter))
}

// warnRun raises a warning about the whole run: in the live view, the run's
// events, the log and the terminal.
func (r *run) warnRun(at time.Time, kind store.EventKind, msg string) {
	r.warnings = append(r.warnings, msg)
	r.event(at, kind, "", msg)
	r.c().log.Warn("run warning", "run_id", r.id, "kind", kind, "detail", msg)
	r.printf("WARNING: %s\n", msg)
}

// noteLimits warns once per worker and message when a worker's report says it
// refused users for want of a resource (userbehavior.LimitTraceback exceptions).
func (r *run) noteLimits(w *worker, at time.Time, rep *cluster.Report) {
	if !r.began() || rep.RunID != r.id || rep.Snapshot == nil {
		return
	}
	var msgs []string
	for k := range rep.Snapshot.Exceptions {
		if k.Traceback == userbehavior.LimitTraceback {
			msgs = append(msgs, k.Message)
		}
	}
	slices.Sort(msgs)
	for _, msg := range msgs {
		if len(r.notices) < maxNotices && r.firstTime("users_capped\x00"+w.info.ID+"\x00"+msg) {
			r.warn(at, store.EventUsersCapped, w.info.ID, msg)
		}
	}
}

// maxNotices bounds the distinct worker-limit warnings of a run.
const maxNotices = 100

// firstTime reports whether key is new to the run, and notes it.
func (r *run) firstTime(key string) bool {
	if r.notices == nil {
		r.notices = map[string]bool{}
	}
	if r.notices[key] {
		return false
	}
	r.notices[key] = true
	return true
}
