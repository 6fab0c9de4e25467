package controller

import (
	"maps"
	"math"
	"slices"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/report"
)

// currentWindow is how far back "current" rates per endpoint look.
const currentWindow = 3 * time.Second

// lateReports is how many report intervals a running worker's last report may be
// old before the dashboard shows it late.
const lateReports = 5

// targetsOf is the users a worker was given by the run, when the run began and
// gave it some; a nil run gave none.
func (r *run) targetsOf(id string) (map[string]int, bool) {
	if r == nil || !r.began() {
		return nil, false
	}
	t, ok := r.targets[id]
	return t, ok
}

// publish builds the Live view of now and hands it to readers.
func (s *state) publish(now time.Time) {
	l := &report.Live{State: report.StateIdle, UpdatedAt: now, Workers: []report.WorkerRow{},
		Endpoints: []report.Row{}, Errors: []report.ErrorRow{}, Exceptions: []report.ExceptionRow{}, Counters: []report.CounterRow{},
		Slowest: []report.SlowRow{}, Warnings: []string{}}
	r := s.run
	o := s.c.opts
	l.Agents = []report.WorkerRow{}
	for _, id := range slices.Sorted(maps.Keys(s.agents)) {
		row := s.hostRow(s.agents[id], now)
		row.State = "agent"
		l.Agents = append(l.Agents, row)
	}
	for _, w := range s.sortedWorkers() {
		row := s.hostRow(w, now)
		row.Saturated = w.hot >= o.SaturationSamples || w.lagging >= o.SaturationSamples
		if _, in := r.targetsOf(w.info.ID); in {
			switch {
			case r.over():
				row.State = "stopped" // its reports are over: not late
			case r.stopping:
				row.State = "stopping"
			default:
				row.State = "running"
			}
			row.Late = !r.over() && row.LastReportAgeS > lateReports*o.Interval.Seconds()
		}
		l.Workers = append(l.Workers, row)
	}
	l.Scale = s.scale()
	if r != nil {
		r.describe(l, now)
	}
	s.c.publish(l)
}

// scale estimates the workers the load needs: the sum of the workers' CPU load
// spread so that each stays under TargetCPU. Without telemetry it keeps the count.
func (s *state) scale() report.Scale {
	sc := report.Scale{TargetCPU: s.c.opts.TargetCPU}
	total := 0.0
	for _, w := range s.workers {
		if w.draining {
			continue
		}
		sc.Workers++
		if t := w.tele; t != nil {
			cpu := t.Host.CPUPercent
			if p := t.Process.GOMAXPROCS; p > 0 {
				cpu = max(cpu, t.Process.CPUPercent/float64(p))
			}
			total += cpu
			sc.WithSamples++
		}
	}
	if sc.WithSamples == 0 {
		sc.Wanted = sc.Workers
		return sc
	}
	sc.MeanCPU = total / float64(sc.WithSamples)
	// Workers without samples are assumed as busy as the mean.
	load := total + sc.MeanCPU*float64(sc.Workers-sc.WithSamples)
	sc.Wanted = max(1, int(math.Ceil(load/sc.TargetCPU)))
	return sc
}

// hostRow is a worker's or agent's row: identity and its latest telemetry.
func (s *state) hostRow(w *worker, now time.Time) report.WorkerRow {
	row := report.WorkerRow{ID: w.info.ID, Host: w.info.Hostname, Addr: w.info.Addr, Version: w.info.Version,
		Cores: w.info.Cores, MemoryBytes: w.info.MemoryBytes, State: "ready", Users: w.userCount(), LastReportAgeS: -1,
		Role: w.info.Role, Kind: w.info.Kind}
	if row.Kind == "" && row.Role != cluster.RoleAgent {
		row.Kind = cluster.KindStampede
	}
	if !w.lastReport.IsZero() {
		row.LastReportAgeS = now.Sub(w.lastReport).Seconds()
	}
	if t := w.tele; t != nil {
		row.CPUPercent, row.ProcessCPU = t.Host.CPUPercent, t.Process.CPUPercent
		row.MemUsed, row.MemTotal = t.Host.MemUsed, t.Host.MemTotal
		row.SchedLagMs = report.Ms(t.Process.SchedLatencyP99)
		row.GPUs, row.GPUStatus = len(t.GPUs), t.GPUStatus
		for _, g := range t.GPUs {
			row.GPUUtil += g.UtilGPU / float64(len(t.GPUs))
		}
	}
	return row
}

// describe fills the run's part of the view.
func (r *run) describe(l *report.Live, now time.Time) {
	l.TargetUsers, l.SpawnRate, l.Host = r.cfg.Users, r.cfg.SpawnRate, r.cfg.Scenario.Host
	l.Scenario = scenarioName(r)
	switch {
	case r.over():
		l.State = report.StateStopped
		l.RunID = r.id
		if r.err != nil {
			l.Error = r.err.Error()
		}
		l.Status, l.Reason = string(r.result.Run.Status), r.result.Run.Reason
	case !r.began():
		l.State = report.StateWaiting
		return
	case r.stopping:
		l.State = report.StateStopping
	default:
		l.State = report.StateRunning
		// Ramping until the reported users reach the target (Locust's "spawning").
		// An open-model run's users are a pool borrowed from: never spawning.
		l.Spawning = r.cfg.Arrival == nil && r.users() != r.cfg.Users
	}
	if !r.began() {
		return
	}
	l.RunID, l.StartedAt = r.id, r.started
	end := now
	if r.over() {
		end = r.ivs.total.End
	}
	l.ElapsedS = end.Sub(r.started).Seconds()
	if !r.over() {
		l.Users = r.users()
		l.ClassUsers, l.ClassTargets = r.classUsers()
	}
	cum := r.ivs.running // closed intervals and the open one: a report shows at once
	if r.over() {
		cum = r.ivs.total
	}
	// Totals and rates cover the statistics window: from the start, or the last
	// reset, to now (the stored run's summary says the same at the end).
	l.StatsSinceS = r.ivs.total.Start.Sub(r.started).Seconds()
	rows, total := report.Rows(cum, end.Sub(r.ivs.total.Start))
	cur := r.ivs.recent(now, currentWindow)
	secs := currentWindow.Seconds()
	if r.over() {
		cur = aggregate.NewSnapshot(now)
	}
	for i := range rows {
		ep := aggregate.Endpoint{Method: rows[i].Method, Name: rows[i].Name}
		if st := cum.Endpoints[ep]; st != nil && st.Latency != nil {
			rows[i].Buckets = st.Latency.CountsAtOrBelow(report.LatencyBounds)
		}
		if st := cur.Endpoints[ep]; st != nil {
			rows[i].CurrentRPS = float64(st.Requests) / secs
			rows[i].CurrentFailPerS = float64(st.Failures) / secs
		}
	}
	ct := cur.Total()
	total.CurrentRPS, total.CurrentFailPerS = float64(ct.Requests)/secs, float64(ct.Failures)/secs
	if rows != nil {
		l.Endpoints = rows
	}
	l.Total = total
	l.Errors = report.Errors(cum)
	l.Exceptions = report.Exceptions(cum)
	l.Counters = report.Counters(cum)
	l.Slowest = report.Slowest(cum)
	report.LinkTraces(l.Slowest, report.TraceURLOf(r.cfg.Settings))
	l.Warnings = append([]string{}, r.warnings...)
	r.timeline.fill(l, r.c().opts.Interval)
	l.Thresholds = report.Verdicts(r.verdicts)
	l.OpenModel = r.cfg.Arrival != nil
}

func scenarioName(r *run) string {
	sc := r.cfg.Scenario
	switch {
	case sc.Script != nil:
		return "script " + sc.Script.Main
	case sc.Quick != nil:
		return sc.Quick.Method + " " + sc.Quick.URL
	}
	return sc.Builtin
}

// liveSeries is a run's timeline for the dashboard: its per-interval points and each
// worker's and agent's telemetry, bounded (a long run's points merge, as
// report.Decimated does). The zero value is empty and ready.
type liveSeries struct {
	points *report.Decimated[report.Point]
	latest *report.Point // the last interval's point
	hosts  map[string]*hostSeries
}

// addPoint appends a closed interval's point; limit bounds the points kept.
func (ls *liveSeries) addPoint(limit int, p report.Point) {
	if ls.points == nil {
		ls.points = report.NewDecimated(limit, report.MergePoints)
	}
	ls.points.Add(p)
	ls.latest = &p
}

// addHost appends a host's point to its series (host without points names it).
func (ls *liveSeries) addHost(limit int, host report.HostSeries, p report.HostPoint) {
	if ls.hosts == nil {
		ls.hosts = map[string]*hostSeries{}
	}
	hs := ls.hosts[host.Host]
	if hs == nil {
		hs = &hostSeries{HostSeries: host, points: report.NewDecimated(limit, report.MergeHostPoints)}
		ls.hosts[host.Host] = hs
	}
	hs.points.Add(p)
}

// fill puts the timeline into the live view; interval is the report interval.
func (ls *liveSeries) fill(l *report.Live, interval time.Duration) {
	for _, id := range slices.Sorted(maps.Keys(ls.hosts)) {
		l.Hosts = append(l.Hosts, ls.hosts[id].series())
	}
	if ls.points != nil {
		l.Series, l.Latest = report.FoldShort(ls.points.Points()), ls.latest
		// A short last interval (the final reports) folded into the point before:
		// the latest point is that folded one, as in the series.
		if n := len(l.Series); n > 0 && ls.latest != nil && l.Series[n-1].T == ls.latest.T {
			l.Latest = &l.Series[n-1]
		}
		l.SeriesStepS = float64(ls.points.Step()) * interval.Seconds()
	}
}

// hostSeries is one worker's or agent's telemetry on the run's timeline.
type hostSeries struct {
	report.HostSeries // without its points
	points            *report.Decimated[report.HostPoint]
}

// series is the host's series for the live view.
func (h *hostSeries) series() report.HostSeries {
	s := h.HostSeries
	s.Points = h.points.Points()
	return s
}
