package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/stampede-load/stampede/pkg/report"
)

// download serves a run's files: the run named by ?run=ID, else the live one.
func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	v, err := s.viewFor(r.URL.Query().Get("run"), file != "stats.csv" && file != "failures.csv" && file != "exceptions.csv")
	if err != nil {
		writeStoreError(w, err)
		return
	}
	name := "stampede-" + v.Run.ID + "-" + file
	switch file {
	case "stats.csv":
		setDownload(w, "text/csv", name)
		err = report.WriteStatsCSV(w, v)
	case "failures.csv":
		setDownload(w, "text/csv", name)
		err = report.WriteFailuresCSV(w, v)
	case "exceptions.csv":
		setDownload(w, "text/csv", name)
		err = report.WriteExceptionsCSV(w, v)
	case "history.csv":
		setDownload(w, "text/csv", name)
		err = report.WriteHistoryCSV(w, v)
	case "run.json":
		setDownload(w, "application/json", name)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(v)
	case "report.html":
		setDownload(w, "text/html; charset=utf-8", name)
		err = report.WriteHTML(w, v, ReportAssets())
	default:
		writeError(w, http.StatusNotFound, fmt.Errorf("no download %q", file))
		return
	}
	if err != nil {
		s.log.Error("download", "file", file, "err", err)
	}
}

func setDownload(w http.ResponseWriter, contentType, name string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
}

// viewFor is the stored run id, or the live run when id is empty; series asks
// for the live run's every second, which only the store has.
func (s *Server) viewFor(id string, series bool) (*report.RunView, error) {
	if id != "" {
		return s.cache.get(id)
	}
	l := s.current()
	if l.RunID == "" {
		return nil, errors.New("no run yet: start one, or name a stored run with ?run=ID")
	}
	v := liveView(l)
	// A long run's live series is merged (report.MaxLivePoints); the store has
	// every second so far, and the hosts' telemetry.
	if series && s.cfg.DB != nil {
		stored, err := s.cache.get(l.RunID)
		if err != nil { // the live view's merged points, then, rather than nothing
			s.log.Warn("live run's series from the store; serving the live view's", "run_id", l.RunID, "err", err)
			return v, nil
		}
		v.Series, v.Hosts = stored.Series, stored.Hosts
		// What only the stored run records: the run's label, notes, configuration
		// and events, so the live report says what the stored one says.
		v.Run.Label, v.Run.Notes, v.Run.Config = stored.Run.Label, stored.Run.Notes, stored.Run.Config
		v.Events, v.Warnings = stored.Events, stored.Warnings
	}
	return v, nil
}

// liveView presents the live run like a stored one.
func liveView(l *report.Live) *report.RunView {
	status := l.Status
	if status == "" {
		status = "running"
	}
	v := &report.RunView{Run: report.RunSummary{ID: l.RunID, Status: status, Reason: l.Reason, StartedAt: l.StartedAt,
		DurationS: l.ElapsedS, Requests: l.Total.Requests, Failures: l.Total.Failures, RPS: l.Total.RPS,
		P50Ms: l.Total.MedianMs, P95Ms: l.Total.P95Ms, P99Ms: l.Total.P99Ms, PeakUsers: l.Users},
		Endpoints: l.Endpoints, Total: l.Total, Errors: l.Errors, Exceptions: l.Exceptions, Counters: l.Counters, Slowest: l.Slowest,
		Series: l.Series, Events: []report.EventRow{}}
	if l.Total.Requests > 0 {
		v.Run.FailurePct = 100 * float64(l.Total.Failures) / float64(l.Total.Requests)
	}
	for _, p := range l.Series {
		v.Run.PeakUsers = max(v.Run.PeakUsers, p.Users)
	}
	return v
}
