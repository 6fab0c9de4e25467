package controller

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/scheduler"
	"github.com/stampede-load/stampede/pkg/store"
)

// The run's plan: which worker runs how many users of each class (scheduler), and in
// an open-model run which share of the iterations, sent to each worker as an absolute
// target with a new plan version whenever a worker joins, leaves, drains or the run
// is edited.

// replan distributes the request over the live workers and sends each its target;
// lost holds the targets of workers just gone, whose users the others take over.
func (r *run) replan(lost map[string]map[string]int) error {
	var ids []string
	for _, id := range slices.Sorted(maps.Keys(r.s.workers)) {
		w := r.s.workers[id]
		if w.draining {
			continue
		}
		if r.cfg.Arrival != nil && w.info.Kind != "" {
			// Locust and boomer workers run closed-model users only: a share of the
			// iterations sent to one would never run. They sit this run out.
			if r.firstTime("open_model_skipped\x00" + id) {
				r.warn(time.Now(), store.EventOpenModelSkipped, id, fmt.Sprintf("a %s worker cannot run open-model iterations: it gets none", w.info.Kind))
			}
			continue
		}
		ids = append(ids, id)
	}
	current := scheduler.Assignment{}
	for id, t := range r.targets {
		current[id] = t
	}
	for id, t := range lost {
		if t != nil {
			current[id] = t
		}
	}
	plan, err := scheduler.Distribute(scheduler.Request{Classes: r.cfg.Classes, Users: r.cfg.Users, SpawnRate: r.cfg.SpawnRate}, ids, current)
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	r.version++
	defer func() { r.userSum = r.users() }()
	arrival := r.arrivalPlan(len(ids))
	for i, id := range ids {
		wp := plan.Workers[id]
		r.targets[id] = wp.Users
		if _, ok := r.final[id]; !ok {
			r.final[id] = false
		}
		cmd := cluster.Command{Kind: cluster.CommandStart, RunID: r.id, PlanVersion: r.version,
			Scenario: r.cfg.Scenario, Users: wp.Users, SpawnRate: wp.SpawnRate, WorkerIndex: i, WorkerCount: len(ids)}
		if arrival != nil {
			a := *arrival
			a.Index = i
			cmd.Arrival = &a
		}
		err := r.c().cl.Send(id, cmd)
		if err != nil {
			// The worker is going; its departure re-plans without it.
			r.c().log.Warn("could not send plan", "run_id", r.id, "worker_id", id, "err", err)
		}
	}
	return nil
}

// arrivalLead is how far ahead of now a re-plan of an open-model run takes effect:
// the iterations due before then stay with the workers that had them, so none is
// run twice or skipped by workers that hear of the new plan a little late.
const arrivalLead = time.Second

// arrivalGrace is how long an open-model run goes on after its shape, so the
// iterations due at its very end reach every worker before the stop does.
const arrivalGrace = 500 * time.Millisecond

// arrivalPlan is the open-model plan for count workers (Index left 0), or nil.
func (r *run) arrivalPlan(count int) *cluster.Arrival {
	if r.cfg.Arrival == nil || count == 0 {
		return nil
	}
	elapsed := time.Since(r.started)
	a := &cluster.Arrival{Elapsed: elapsed, Count: count, MaxUsers: (r.cfg.MaxPool + count - 1) / count}
	if r.version > 1 {
		a.From = r.cfg.Arrival.Count(elapsed + arrivalLead)
	}
	a.Stages = slices.Clone(r.cfg.Arrival)
	for _, c := range r.cfg.Classes {
		if c.Weight > 0 || c.FixedCount > 0 {
			// Iterations are shared by weight: a fixed count weighs as its count.
			a.Classes = append(a.Classes, scheduler.Class{Name: c.Name, Weight: min(max(c.Weight, c.FixedCount, 1), 1000)})
		}
	}
	return a
}
