package controller

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/aggregate/threshold"
	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/export"
	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/store"
	"github.com/stampede-load/stampede/pkg/telemetry"
)

// run is one load test, owned by the loop.
type run struct {
	s         *state
	cfg       Config
	id        string
	requested time.Time
	started   time.Time // zero until the workers are there and it begins
	done      chan struct{}
	result    Result
	err       error
	ended     bool

	version uint64
	targets map[string]map[string]int // worker -> class -> planned users
	seqs    reportLedger              // which reports of each worker session were counted
	// lastReportEnd is, per worker, the end of the latest span it reported.
	lastReportEnd map[string]time.Time
	final         map[string]bool
	ivs           intervals       // the open interval, the totals and the recent window
	saturatedIDs  map[string]bool // workers this run warned saturated or lagging, until they recover
	stale         bool            // reports arrived since the last publish
	userSum       int             // users(), kept current report by report (counting per report is quadratic in workers)
	storeErr      bool            // a store write failed during the run
	peak          int
	stopping      bool
	reason        string
	timeline      liveSeries         // the dashboard's per-interval points and host telemetry
	readings      threshold.Readings // the telemetry thresholds read; nil without them
	warnings      []string
	notices       map[string]bool   // warnings raised once per run (warnings.go)
	stopAt        time.Time         // when the stop was asked for
	stopTimeout   time.Duration     // what the workers were told users may take to finish
	lastFinal     time.Time         // when the latest final report arrived
	problems      []string          // Result.Problems
	lost          map[string]string // workers lost during the run and not back: why
	// Per worker: reports that came while it was planned users and had never run
	// one (a Locust worker whose spawn failed on a class it lacks), and whether it
	// ran any.
	idleReports map[string]int
	ranUsers    map[string]bool
	rates       map[string]*reportRates // per worker, for the progress lines

	runEnd, stopWait, expectWait <-chan time.Time
	progress                     *time.Ticker
	shapeTick                    *time.Ticker // the users follow a shape: re-plan each tick
	verdicts                     []threshold.Result
	aborted                      bool // by a threshold
	storing                      bool // store() is ending the run
}

func (r *run) over() bool     { return r.ended }
func (r *run) began() bool    { return !r.started.IsZero() }
func (r *run) c() *Controller { return r.s.c }

// step advances the run after anything happened: begin when the workers are there,
// finish when every final report is in.
func (r *run) step() {
	switch {
	case !r.began() && !r.stopping && len(r.s.workers) >= r.cfg.ExpectWorkers:
		r.begin()
	case r.began() && r.stopping && r.allFinal():
		r.finish(r.endStatus(), r.reason)
	}
}

// endStatus is how a run that ended by its stop is stored: aborted, or completed.
func (r *run) endStatus() store.Status {
	if r.aborted {
		return store.StatusAborted
	}
	return store.StatusCompleted
}

func (r *run) begin() {
	now := time.Now()
	r.started = now
	r.id = store.NewRunID(now)
	r.ivs = newIntervals(now)
	r.s.tick.Reset(r.c().opts.Interval)
	for _, t := range r.cfg.Thresholds {
		if t.Role != "" { // telemetry: summarised only when a threshold reads it
			r.readings = threshold.Readings{}
		}
	}
	r.targets = map[string]map[string]int{}
	r.lastReportEnd = map[string]time.Time{}
	r.final = map[string]bool{}
	r.expectWait = nil
	for _, w := range r.s.workers {
		w.users = nil
	}
	if err := r.c().db.CreateRun(store.Run{ID: r.id, Status: store.StatusRunning, Label: r.cfg.Label,
		Config: r.cfg.Settings, StartedAt: now}); err != nil {
		r.started = time.Time{}
		r.end(Result{}, fmt.Errorf("store run: %w", err))
		return
	}
	r.c().log.Info("run started", "run_id", r.id, "users", r.cfg.Users, "spawn_rate", r.cfg.SpawnRate, "workers", len(r.s.workers))
	for _, w := range r.s.sortedWorkers() {
		r.event(now, store.EventWorkerJoined, w.info.ID, w.info.Hostname)
	}
	if r.cfg.RunTime > 0 {
		r.runEnd = time.After(r.cfg.RunTime)
	}
	if r.cfg.shaped() {
		r.shapeTick = time.NewTicker(time.Second)
		if !r.reshape(now) {
			return
		}
	}
	if err := r.replan(nil); err != nil {
		r.fail(err)
	}
}

// reshape sets the users the shape asks for at now; false when the run is over.
func (r *run) reshape(now time.Time) bool {
	elapsed := now.Sub(r.started)
	var users int
	var rate float64
	switch {
	case r.cfg.Stages != nil:
		var done bool
		users, rate, done = r.cfg.Stages.UsersAt(elapsed)
		if done {
			r.requestStop("the load shape is over")
			return false
		}
	default:
		var ok bool
		var err error
		users, rate, ok, err = r.cfg.Shape(elapsed)
		if err != nil {
			r.fail(fmt.Errorf("shape(): %w", err))
			return false
		}
		if !ok {
			r.requestStop("shape() ended the run")
			return false
		}
	}
	users = min(max(users, 0), MaxUsers)
	if rate <= 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
		rate = max(float64(abs(users-r.cfg.Users)), 1)
	}
	if users == r.cfg.Users && rate == r.cfg.SpawnRate {
		return true
	}
	r.cfg.Users, r.cfg.SpawnRate = users, rate
	if r.version > 0 { // begin plans the first time itself
		if err := r.replan(nil); err != nil {
			r.fail(err)
			return false
		}
	}
	return true
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func (r *run) joined(w *worker, at time.Time) {
	if !r.began() {
		return
	}
	delete(r.lost, w.info.ID) // back (a healed partition): not lost after all
	r.event(at, store.EventWorkerJoined, w.info.ID, w.info.Hostname)
	if r.stopping {
		return // it never ran this run's users; nothing to wait for
	}
	if err := r.replan(nil); err != nil {
		r.fail(err)
	}
}

func (r *run) left(w *worker, at time.Time, reason string) {
	if !r.began() {
		return
	}
	id := w.info.ID
	lost := r.targets[id]
	delete(r.targets, id)
	delete(r.final, id)
	r.userSum = r.users()
	// A worker names each session's reports (Origin) and sends the ones this master
	// did not acknowledge again from its next session, so their numbers stay open.
	// A worker that does not name them (an older one) counts from Seq 1 again: its
	// sequence ends here, and what it skipped will not come.
	key := seqKey(id, "")
	r.missingReports(at, id, key)
	r.seqs.end(key)
	if w.draining {
		r.event(at, store.EventWorkerLeft, id, "drained")
		return // its users moved when it started draining
	}
	detail := reason
	if end, ok := r.lastReportEnd[id]; ok {
		// Said, not hidden: what it measured after its last report is not in the
		// totals unless it reconnects and sends it.
		detail = fmt.Sprintf("%s; its measurements after %s (its last report) are missing unless it reconnects",
			reason, end.UTC().Format(time.RFC3339Nano))
	}
	r.event(at, store.EventWorkerLost, id, detail)
	r.printf("WARNING: worker %s lost: %s\n", id, detail)
	if r.lost == nil {
		r.lost = map[string]string{}
	}
	r.lost[id] = reason
	if min := r.c().opts.MinWorkers; min > 0 && !r.stopping && r.liveWorkers() < min {
		r.fail(fmt.Errorf("aborted: %d workers left, fewer than --min-workers %d", r.liveWorkers(), min))
		return
	}
	if r.stopping || r.liveWorkers() == 0 {
		return
	}
	if err := r.replan(map[string]map[string]int{id: lost}); err != nil {
		r.fail(err)
	}
}

// drain moves a leaving worker's users to the others (at the spawn rate) and stops
// it; its final report still counts.
func (r *run) drain(w *worker, at time.Time, reason string) {
	if !r.began() {
		return
	}
	id := w.info.ID
	r.event(at, store.EventWorkerDraining, id, reason)
	lost, ok := r.targets[id]
	if !ok {
		return
	}
	delete(r.targets, id)
	r.userSum = r.users()
	if _, waiting := r.final[id]; waiting {
		r.final[id] = false // its final report is still to come
	}
	if err := r.c().cl.Send(id, cluster.Command{Kind: cluster.CommandStop, RunID: r.id, StopTimeout: new(r.cfg.StopTimeout)}); err != nil {
		r.c().log.Warn("could not stop a draining worker", "worker_id", id, "err", err)
	}
	if r.stopping || r.liveWorkers() == 0 {
		return
	}
	if err := r.replan(map[string]map[string]int{id: lost}); err != nil {
		r.fail(err)
	}
}

// liveWorkers counts the workers that can take users.
func (r *run) liveWorkers() int {
	n := 0
	for _, w := range r.s.workers {
		if !w.draining {
			n++
		}
	}
	return n
}

func (r *run) report(w *worker, at time.Time, rep *cluster.Report) {
	if !r.began() || rep.RunID != r.id {
		return
	}
	id := w.info.ID
	if rep.Seq != 0 && !r.seqs.fresh(seqKey(id, rep.Origin), rep.Seq) {
		r.c().log.Warn("duplicate report ignored", "run_id", r.id, "worker_id", id, "seq", rep.Seq)
		r.event(at, store.EventReportRepeated, id, fmt.Sprintf("report %d arrived again: not counted twice", rep.Seq))
		return
	}
	if rep.Fatal != "" {
		r.event(at, store.EventWorkerFailed, id, rep.Fatal)
		r.fail(fmt.Errorf("worker %s cannot run the scenario: %s", id, rep.Fatal))
		return
	}
	if rep.StopRun != "" && r.firstTime("stop_run") {
		reason := fmt.Sprintf("stop_run(%q) by a user on worker %s", rep.StopRun, id)
		r.event(at, "stop_run", id, rep.StopRun)
		r.printf("STOP: %s\n", reason)
		r.requestStop(reason)
	}
	if w.info.Kind != "" && r.firstTime("statistics_rounded\x00"+id) {
		r.warn(at, store.EventStatisticsRounded, id, fmt.Sprintf("a %s worker: its response times are %s (percentiles at its bucket resolution)",
			w.info.Kind, report.RoundedNote))
	}
	_, counted := r.targets[id]
	if counted {
		r.userSum -= w.userCount()
	}
	w.users = rep.Users
	if counted {
		r.userSum += w.userCount()
	}
	if !rep.Final && counted && !r.ranUsers[id] && sum(r.targets[id]) > 0 {
		if w.userCount() > 0 {
			if r.ranUsers == nil {
				r.ranUsers = map[string]bool{}
			}
			r.ranUsers[id] = true
		} else {
			if r.idleReports == nil {
				r.idleReports = map[string]int{}
			}
			r.idleReports[id]++
		}
	}
	if !rep.Final {
		r.peak = max(r.peak, r.userSum) // a short run may end before an interval closes with users in it
	}
	r.ivs.add(rep.Snapshot, r.userSum, rep.Final)
	if end := rep.Snapshot.End; end.After(r.lastReportEnd[id]) {
		r.lastReportEnd[id] = end
	}
	r.stale = true
	if rep.Final {
		r.final[id] = true
		r.lastFinal = at
	}
	r.noteRates(id, w.joined, at, rep.Snapshot)
}

// missingReports records which report numbers a worker's session skipped and never
// sent: data lost, but not silently.
func (r *run) missingReports(at time.Time, id, key string) {
	if seqs := r.seqs.missing(key); len(seqs) > 0 {
		r.event(at, store.EventReportMissing, id, fmt.Sprintf("reports %v never arrived", seqs))
	}
}

func (r *run) edit(users int, rate float64) error {
	r.cfg.Users, r.cfg.SpawnRate = users, rate
	if !r.began() {
		return nil
	}
	r.event(time.Now(), store.EventEdited, "", fmt.Sprintf("users %d, spawn rate %g/s", users, rate))
	return r.replan(nil)
}

func (r *run) reset() {
	if !r.began() {
		return
	}
	now := time.Now()
	r.closeInterval(now) // what came before the reset stays in the stored series
	r.s.tick.Reset(r.c().opts.Interval)
	r.ivs.reset(now)
	r.event(now, store.EventStatsReset, "", "statistics restart here: the run's totals, rates and percentiles cover what follows")
}

// requestStop ends the run: workers stop their users, giving them the run's stop
// timeout to finish their task, and send final reports.
func (r *run) requestStop(reason string) { r.stopWithin(reason, r.cfg.StopTimeout) }

// requestAbort ends the run at once, whatever its stop timeout (even while it is
// already stopping), to be stored as aborted.
func (r *run) requestAbort(at time.Time, reason string) {
	if r.aborted || r.over() {
		return
	}
	r.aborted = true
	if r.began() {
		r.event(at, store.EventAborted, "", reason)
	}
	if r.stopping && r.began() {
		r.reason = reason
		r.stopTimeout = 0
		r.sendStop(0) // users given time to finish are cut now
		return
	}
	r.stopWithin(reason, 0)
}

// stopWithin stops the run, the users having timeout to finish their task.
func (r *run) stopWithin(reason string, timeout time.Duration) {
	if r.stopping {
		return
	}
	r.stopping = true
	r.reason = reason
	r.runEnd = nil
	if !r.began() {
		r.end(Result{}, fmt.Errorf("%w: %d of %d joined before the run was stopped", ErrNoWorkers, len(r.s.workers), r.cfg.ExpectWorkers))
		return
	}
	r.stopAt, r.stopTimeout = time.Now(), timeout
	r.printf("stopping: waiting for %d workers' final reports\n", len(r.targets))
	r.sendStop(timeout)
	r.stopWait = time.After(timeout + r.cfg.StopWait)
}

// sendStop tells every worker of the run to stop, its users having timeout to finish.
func (r *run) sendStop(timeout time.Duration) {
	for _, id := range slices.Sorted(maps.Keys(r.targets)) {
		if err := r.c().cl.Send(id, cluster.Command{Kind: cluster.CommandStop, RunID: r.id, StopTimeout: new(timeout)}); err != nil {
			r.c().log.Warn("could not send stop", "run_id", r.id, "worker_id", id, "err", err)
		}
	}
}

func (r *run) allFinal() bool {
	for _, ok := range r.final {
		if !ok {
			return false
		}
	}
	return true
}

// finishWithoutAll ends the run when some final reports never came.
func (r *run) finishWithoutAll() {
	var missing []string
	for _, id := range slices.Sorted(maps.Keys(r.final)) {
		if !r.final[id] {
			missing = append(missing, id)
		}
	}
	r.c().log.Warn("finishing without every final report", "run_id", r.id, "missing", missing)
	reason := fmt.Sprintf("no final report from %v within %v", missing, r.stopTimeout+r.cfg.StopWait)
	if r.reason != "" {
		reason = r.reason + "; " + reason
	}
	r.finish(r.endStatus(), reason)
}

// failStart gives up waiting for workers.
func (r *run) failStart() {
	r.end(Result{}, fmt.Errorf("%w: %d of %d joined in %v", ErrNoWorkers, len(r.s.workers), r.cfg.ExpectWorkers, r.cfg.ExpectWait))
}

// fail ends the run as failed: no worker keeps its users.
func (r *run) fail(err error) {
	r.sendStop(0)
	r.store(store.StatusFailed, err.Error(), err)
}

// abort ends the run because the master is going away.
func (r *run) abort(reason string) {
	if !r.began() {
		r.end(Result{}, ErrStopped)
		return
	}
	r.sendStop(0)
	r.store(store.StatusInterrupted, reason, ErrStopped)
}

func (r *run) finish(status store.Status, reason string) {
	r.store(status, reason, nil)
	if r.cfg.QuitWorkers {
		for _, w := range r.s.sortedWorkers() {
			if err := r.c().cl.Send(w.info.ID, cluster.Command{Kind: cluster.CommandQuit, Reason: "run " + r.id + " is over"}); err != nil {
				r.c().log.Warn("could not tell a worker to quit", "worker_id", w.info.ID, "err", err)
			}
		}
	}
}

// store closes the last interval, stores the run's end and ends it. The run's window
// ends when its load did (loadEnd), not when the master got round to storing it.
func (r *run) store(status store.Status, reason string, cause error) {
	now := time.Now()
	end := r.loadEnd(now)
	r.storing = true // the run is ending: thresholds are judged, they abort nothing
	for _, key := range r.seqs.withGaps() {
		id, _, _ := strings.Cut(key, "\x00")
		r.missingReports(now, id, key)
	}
	r.closeInterval(end) // judges the thresholds a last time: the final verdicts
	r.ivs.total.End = end
	sum := r.summary(end)
	sum.Thresholds = report.Verdicts(r.verdicts)
	if status == store.StatusCompleted || status == store.StatusAborted {
		r.problems = r.soundness(sum)
		for _, p := range r.problems {
			r.printf("WARNING: %s\n", p)
			reason = joinReason(reason, p)
		}
	}
	db := r.c().db
	err := db.FinishRun(r.id, status, reason, end, sum, r.ivs.total)
	var res Result
	if err == nil {
		var stored store.Run
		stored, err = db.Run(r.id)
		res = Result{Run: stored, Final: r.ivs.total, Duration: end.Sub(r.started), Thresholds: r.verdicts, Aborted: r.aborted,
			Problems: r.problems}
	}
	if err != nil {
		err = fmt.Errorf("store final: %w", err)
	}
	r.c().log.Info("run finished", "run_id", r.id, "status", status, "requests", sum.Requests, "failures", sum.Failures)
	r.end(res, errors.Join(cause, err))
}

// loadEnd is when the run's load ended, for its window (duration, RPS, last
// interval): when the last final report came after the stop; when some never came,
// the end of the users' time to finish (their worker is gone or silent). A run
// that did not stop (it failed, the master is going) ends now.
func (r *run) loadEnd(now time.Time) time.Time {
	if r.stopAt.IsZero() {
		return now
	}
	end := r.lastFinal
	if !r.allFinal() {
		end = later(end, r.stopAt.Add(r.stopTimeout))
	}
	end = later(end, r.stopAt, r.ivs.start) // an interval the ticker closed stays whole
	if end.After(now) {
		end = now
	}
	return end
}

func later(t time.Time, ts ...time.Time) time.Time {
	for _, u := range ts {
		if u.After(t) {
			t = u
		}
	}
	return t
}

// soundness lists why a run that ended by its stop did not measure what it should:
// it sent no request, or a worker died or left with an error during it.
func (r *run) soundness(sum store.Summary) []string {
	var out []string
	if sum.Requests == 0 && sum.Cancelled == 0 {
		out = append(out, "the run sent no request")
	}
	for _, id := range slices.Sorted(maps.Keys(r.lost)) {
		out = append(out, fmt.Sprintf("worker %s died or left with an error during the run: %s", id, r.lost[id]))
	}
	for _, id := range slices.Sorted(maps.Keys(r.idleReports)) {
		if _, lost := r.lost[id]; lost || r.ranUsers[id] || r.idleReports[id] < minIdleReports {
			continue
		}
		out = append(out, fmt.Sprintf("worker %s ran none of the users planned for it in %d reports: it failed to start them "+
			"(a Locust worker does on a user class its locustfile lacks: check --locust-classes)", id, r.idleReports[id]))
	}
	return out
}

// minIdleReports is how many reports of a worker planned users, and running none,
// make it a problem of the run: a worker starts its first user at once, so the first
// report may come before it, not the second.
const minIdleReports = 2

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func joinReason(reason, more string) string {
	if reason == "" {
		return more
	}
	return reason + "; " + more
}

// end marks the run over and wakes whoever waits for it.
func (r *run) end(res Result, err error) {
	if r.ended {
		return
	}
	r.ended = true
	r.result, r.err = res, err
	r.runEnd, r.stopWait, r.expectWait = nil, nil, nil
	if r.progress != nil {
		r.progress.Stop()
	}
	if r.shapeTick != nil {
		r.shapeTick.Stop()
	}
	r.s.retire(r)
	close(r.done)
	r.s.publish(time.Now()) // the view says at once that the run is over
}

func (r *run) users() int {
	n := 0
	for id := range r.targets {
		if w, ok := r.s.workers[id]; ok {
			n += w.userCount()
		}
	}
	return n
}

// classUsers returns the users per class: those running, as the run's workers
// last reported them, and those the plan gives each class.
func (r *run) classUsers() (running, planned map[string]int) {
	running, planned = map[string]int{}, map[string]int{}
	for id, t := range r.targets {
		for c, n := range t {
			planned[c] += n
		}
		if w, ok := r.s.workers[id]; ok {
			for c, n := range w.users {
				running[c] += n
			}
		}
	}
	return running, planned
}

// storeFailed puts the first storage failure of a run on the run itself (warnings,
// terminal), so an incomplete stored series never goes unnoticed.
func (r *run) storeFailed(what string, err error) {
	if r.storeErr {
		return
	}
	r.storeErr = true
	msg := fmt.Sprintf("the store could not keep the run's %s (%v): the stored series is incomplete", what, err)
	r.warnings = append(r.warnings, msg)
	r.printf("WARNING: %s\n", msg)
}

// warn records a warning on the run: an event, a line in the progress output and
// in the live view.
func (r *run) warn(at time.Time, kind store.EventKind, workerID, detail string) {
	msg := fmt.Sprintf("worker %s: %s", workerID, detail)
	r.warnings = append(r.warnings, msg)
	r.event(at, kind, workerID, detail)
	r.c().log.Warn("generator warning", "run_id", r.id, "worker_id", workerID, "kind", kind, "detail", detail)
	r.printf("WARNING: %s\n", msg)
}

// saturated reports whether some worker of the run is over a limit now.
func (r *run) saturated() bool {
	for id := range r.targets {
		if w, ok := r.s.workers[id]; ok && (w.hot >= r.c().opts.SaturationSamples || w.lagging >= r.c().opts.SaturationSamples) {
			return true
		}
	}
	return false
}

// storeTelemetry keeps the latest sample of every worker and agent with interval seq.
func (r *run) storeTelemetry(seq uint64, at time.Time) {
	var recs []store.TelemetryRecord
	add := func(ws map[string]*worker, role string) {
		for _, id := range slices.Sorted(maps.Keys(ws)) {
			w := ws[id]
			if w.tele == nil {
				continue
			}
			b, err := telemetry.Encode(*w.tele)
			if err != nil {
				continue
			}
			recs = append(recs, store.TelemetryRecord{Seq: seq, At: at, Host: id, Role: role, Sample: b})
			p := report.HostPointOf(at.Sub(r.started).Seconds(), w.tele)
			r.timeline.addHost(r.c().opts.LivePoints, report.HostSeries{Host: id, Hostname: w.info.Hostname, Role: role}, p)
			if r.readings != nil {
				report.AddThresholdReadings(r.readings, role, id, r.started, p)
			}
		}
	}
	add(r.s.workers, cluster.RoleWorker)
	add(r.s.agents, cluster.RoleAgent)
	if err := r.c().db.AppendTelemetry(r.id, recs); err != nil {
		r.c().log.Error("store telemetry", "run_id", r.id, "err", err)
		r.storeFailed("telemetry", err)
	}
}

// closeInterval stores the interval that ends now and starts the next. The
// interval spans the master's own clock, from the last close to now: a report
// merged into it counts here whatever span it measured, so the series' counts
// add up to the run's total, its spans tile the run, and its rates are counts
// over the interval's length.
func (r *run) closeInterval(now time.Time) {
	iv := r.ivs.close(now)
	// The interval's users: the most seen in it (the count at its end would read 0
	// for the last interval of a run, when every worker has stopped).
	users := max(r.users(), iv.peakSeen)
	r.peak = max(r.peak, users)
	stored := store.Interval{Seq: iv.seq, At: now, Users: users, Workers: len(r.targets), Reports: iv.reports, Snapshot: iv.snap}
	if err := r.c().db.AppendInterval(r.id, stored); err != nil {
		r.c().log.Error("store interval", "run_id", r.id, "seq", iv.seq, "err", err)
		r.storeFailed("interval", err)
	}
	r.noteCap(now, r.ivs.total)
	r.noteLateReplan(now, r.ivs.total)
	p := report.PointOf(stored, r.started)
	p.Saturated = r.saturated()
	r.timeline.addPoint(r.c().opts.LivePoints, p)
	r.storeTelemetry(iv.seq, now)
	r.checkThresholds(now)
	r.export(stored)
}

// export hands the closed interval to the Options' Export sink, if any.
func (r *run) export(iv store.Interval) {
	sink := r.c().opts.Export
	if sink == nil {
		return
	}
	var hosts []export.Host
	add := func(ws map[string]*worker, role string) {
		for _, id := range slices.Sorted(maps.Keys(ws)) {
			if t := ws[id].tele; t != nil {
				hosts = append(hosts, export.Host{ID: id, Role: role, Point: report.HostPointOf(iv.At.Sub(r.started).Seconds(), t)})
			}
		}
	}
	add(r.s.workers, cluster.RoleWorker)
	add(r.s.agents, cluster.RoleAgent)
	sink.Interval(export.Interval{RunID: r.id, Label: r.cfg.Label, Started: r.started, At: iv.At, Snapshot: iv.Snapshot, Users: iv.Users,
		Workers: iv.Workers, Hosts: hosts, Thresholds: slices.Clone(r.verdicts), Final: r.storing})
}

// thresholdInput is what thresholds are evaluated on at now.
func (r *run) thresholdInput(now time.Time) threshold.Input {
	in := threshold.Input{Snapshot: r.ivs.total, Elapsed: now.Sub(r.started), Users: r.users(),
		Dropped: r.ivs.total.Counters[aggregate.DroppedCounter]}
	if r.readings != nil {
		in.Telemetry = r.readings
	}
	return in
}

// checkThresholds evaluates the thresholds on what has been merged; a failing one
// that asks to abort stops the run.
func (r *run) checkThresholds(now time.Time) {
	if len(r.cfg.Thresholds) == 0 {
		return
	}
	r.verdicts = threshold.EvalAll(r.cfg.Thresholds, r.thresholdInput(now), r.cfg.Baseline)
	if r.stopping || r.storing {
		return
	}
	for _, v := range r.verdicts {
		if v.Abort {
			reason := fmt.Sprintf("threshold %s failed (observed %s): aborted", v.Threshold, v.ObservedText)
			r.event(now, store.EventThresholdAbort, "", reason)
			r.printf("ABORT: %s\n", reason)
			r.requestAbort(now, reason)
			return
		}
	}
}

func (r *run) summary(now time.Time) store.Summary {
	t := r.ivs.total.Total()
	s := store.Summary{Requests: t.Requests, Failures: t.Failures, PeakUsers: r.peak, Since: r.ivs.total.Start,
		Cancelled: r.ivs.total.Counters[aggregate.CancelledCounter],
		P50:       t.Latency.Percentile(50), P95: t.Latency.Percentile(95), P99: t.Latency.Percentile(99)}
	if d := now.Sub(r.ivs.total.Start).Seconds(); d > 0 {
		s.RPS = float64(t.Requests) / d
	}
	return s
}

func (r *run) event(at time.Time, kind store.EventKind, workerID, detail string) {
	if err := r.c().db.AppendEvent(r.id, store.Event{At: at, Kind: kind, Worker: workerID, Detail: detail}); err != nil {
		r.c().log.Error("store event", "run_id", r.id, "err", err)
	}
}

func (r *run) printf(format string, args ...any) {
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, format, args...)
	}
}
