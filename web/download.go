package web

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"iter"
	"net/http"
	"strconv"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/store"
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
		err = WriteStatsCSV(w, v)
	case "failures.csv":
		setDownload(w, "text/csv", name)
		err = WriteFailuresCSV(w, v)
	case "exceptions.csv":
		setDownload(w, "text/csv", name)
		err = WriteExceptionsCSV(w, v)
	case "history.csv":
		setDownload(w, "text/csv", name)
		err = WriteHistoryCSV(w, v)
	case "run.json":
		setDownload(w, "application/json", name)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(v)
	case "report.html":
		setDownload(w, "text/html; charset=utf-8", name)
		err = WriteReport(w, v)
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

func f(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// locustPercentiles are the percentile columns of Locust's CSV files, in its order.
var locustPercentiles = []string{"50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%"}

// percentileFields are a row's figures for locustPercentiles; N/A without requests,
// as Locust writes them.
func percentileFields(r report.Row) []string {
	if r.Requests == 0 {
		out := make([]string, len(locustPercentiles))
		for i := range out {
			out[i] = "N/A"
		}
		return out
	}
	return []string{f(r.MedianMs), f(r.P66Ms), f(r.P75Ms), f(r.P80Ms), f(r.P90Ms), f(r.P95Ms), f(r.P98Ms),
		f(r.P99Ms), f(r.P999Ms), f(r.P9999Ms), f(r.MaxMs)}
}

// WriteStatsCSV writes the per-endpoint statistics and the Aggregated row with
// Locust's stats.csv columns (its --csv PREFIX_stats.csv).
func WriteStatsCSV(w io.Writer, v *report.RunView) error {
	c := csv.NewWriter(w)
	c.Write(append([]string{"Type", "Name", "Request Count", "Failure Count", "Median Response Time", "Average Response Time",
		"Min Response Time", "Max Response Time", "Average Content Size", "Requests/s", "Failures/s"}, locustPercentiles...))
	for _, r := range append(append([]report.Row{}, v.Endpoints...), v.Total) {
		c.Write(append([]string{r.Method, r.Name, strconv.FormatUint(r.Requests, 10), strconv.FormatUint(r.Failures, 10),
			f(r.MedianMs), f(r.AvgMs), f(r.MinMs), f(r.MaxMs), f(r.AvgSizeBytes), f(r.RPS), f(r.FailuresPerS)},
			percentileFields(r)...))
	}
	c.Flush()
	return c.Error()
}

// WriteStatsHistoryCSV writes Locust's stats_history.csv from a run's intervals: a
// row per interval with the users, the interval's rates, and the run's totals so
// far; the percentiles are the totals' so far, as Locust writes them. With full,
// every endpoint gets a row per interval too, and the percentiles are the
// interval's own (Locust's --csv-full-history). A gap (no worker reported) has no
// rates; an interval cut short (the run's last, holding the final reports) is
// folded into the one before, as the charts do (report.FoldShort), so it shows no
// rate that never happened.
func WriteStatsHistoryCSV(w io.Writer, started time.Time, intervals iter.Seq2[store.Interval, error], full bool) error {
	c := csv.NewWriter(w)
	c.Write(append(append([]string{"Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s"}, locustPercentiles...),
		"Total Request Count", "Total Failure Count", "Total Median Response Time", "Total Average Response Time",
		"Total Min Response Time", "Total Max Response Time", "Total Average Content Size"))
	sofar := aggregate.NewSnapshot(started)
	var pending *store.Interval // the last interval, written when the next is not short
	span := func(iv *store.Interval) time.Duration { return iv.Snapshot.End.Sub(iv.Snapshot.Start) }
	for iv, err := range intervals {
		if err != nil {
			return err
		}
		if iv.Snapshot == nil {
			continue
		}
		if pending != nil && span(&iv) < span(pending)/2 {
			merged := aggregate.NewSnapshot(pending.Snapshot.Start)
			merged.Merge(pending.Snapshot)
			merged.Merge(iv.Snapshot)
			iv.Snapshot, iv.Reports = merged, pending.Reports+iv.Reports
			pending = &iv
			continue
		}
		if pending != nil {
			writeHistoryRows(c, *pending, sofar, full)
		}
		pending = &iv
	}
	if pending != nil {
		writeHistoryRows(c, *pending, sofar, full)
	}
	c.Flush()
	return c.Error()
}

// writeHistoryRows writes one interval's rows, adding it to sofar first.
func writeHistoryRows(c *csv.Writer, iv store.Interval, sofar *aggregate.Snapshot, full bool) {
	sofar.Merge(iv.Snapshot)
	span := iv.Snapshot.End.Sub(iv.Snapshot.Start)
	eps := []aggregate.Endpoint{}
	if full {
		eps = iv.Snapshot.Names()
	}
	total := aggregate.Endpoint{Name: "Aggregated"}
	for _, ep := range append(eps, total) {
		now, all := iv.Snapshot.Total(), sofar.Total()
		if ep != total {
			now, all = iv.Snapshot.Endpoints[ep], sofar.Endpoints[ep]
		}
		cur, cum := report.RowOf(ep, now, span), report.RowOf(ep, all, 0)
		rates := []string{f(cur.RPS), f(cur.FailuresPerS)}
		if iv.Reports == 0 {
			rates = []string{"", ""}
		}
		pcts := percentileFields(cum)
		if full {
			pcts = percentileFields(cur)
		}
		row := append(append([]string{strconv.FormatInt(iv.At.Unix(), 10), strconv.Itoa(iv.Users), ep.Method, ep.Name}, rates...), pcts...)
		c.Write(append(row, strconv.FormatUint(cum.Requests, 10), strconv.FormatUint(cum.Failures, 10),
			f(cum.MedianMs), f(cum.AvgMs), f(cum.MinMs), f(cum.MaxMs), f(cum.AvgSizeBytes)))
	}
}

// WriteFailuresCSV writes the failures grouped by endpoint and message.
func WriteFailuresCSV(w io.Writer, v *report.RunView) error {
	c := csv.NewWriter(w)
	c.Write([]string{"Method", "Name", "Error", "Occurrences"})
	for _, e := range v.Errors {
		c.Write([]string{e.Method, e.Name, e.Message, strconv.FormatUint(e.Count, 10)})
	}
	c.Flush()
	return c.Error()
}

// WriteExceptionsCSV writes the errors the behaviour script raised, grouped by
// message and traceback (Locust's exceptions.csv columns).
func WriteExceptionsCSV(w io.Writer, v *report.RunView) error {
	c := csv.NewWriter(w)
	c.Write([]string{"Count", "Message", "Traceback", "Nodes"})
	for _, e := range v.Exceptions {
		c.Write([]string{strconv.FormatUint(e.Count, 10), e.Message, e.Traceback, ""})
	}
	c.Flush()
	return c.Error()
}

// WriteHistoryCSV writes the run's series, one row per interval.
func WriteHistoryCSV(w io.Writer, v *report.RunView) error {
	c := csv.NewWriter(w)
	// Each row covers the Interval (s) seconds ending at Elapsed: its rates are its
	// Requests and Failures over that span, so the rows add up to the run's totals.
	// A row no worker reported in is a gap: its rates and percentiles are empty.
	c.Write([]string{"Elapsed (s)", "User Count", "Requests/s", "Failures/s", "50%", "95%", "99%", "Interval (s)", "Requests", "Failures"})
	for _, p := range v.Series {
		row := []string{f(p.T), strconv.Itoa(p.Users), f(p.RPS), f(p.FailPerS), f(p.P50), f(p.P95), f(p.P99),
			f(p.SpanS), strconv.FormatUint(p.Requests, 10), strconv.FormatUint(p.Failures, 10)}
		if p.Gap {
			clear(row[2:7])
		}
		c.Write(row)
	}
	c.Flush()
	return c.Error()
}

var reportPage = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Stampede run {{.ID}}</title>
<style>{{.UPlotCSS}}</style>
<style>{{.AppCSS}}</style>
</head><body class="report">
<div id="report"></div>
<script type="application/json" id="report-data">{{.Data}}</script>
<script>{{.UPlotJS}}</script>
{{range .Scripts}}<script>{{.}}</script>
{{end}}
</body></html>
`))

// WriteReport writes the self-contained HTML report of a run: every asset inlined,
// the data embedded, nothing fetched when it is opened.
func WriteReport(w io.Writer, v *report.RunView) error {
	data, err := json.Marshal(v) // escapes <, > and & so it cannot end the script element
	if err != nil {
		return err
	}
	read := func(fsys fs.FS, name string) string {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return ""
		}
		return string(b)
	}
	st, vd := sub(staticFS, "static"), sub(vendorFS, "vendor")
	scripts := make([]template.JS, len(reportScripts))
	for i, name := range reportScripts {
		scripts[i] = template.JS(read(st, name))
	}
	return reportPage.Execute(w, map[string]any{
		"ID":       v.Run.ID,
		"Data":     template.JS(data),
		"UPlotCSS": template.CSS(read(vd, "uPlot.min.css")),
		"AppCSS":   template.CSS(read(st, "app.css")),
		"UPlotJS":  template.JS(read(vd, "uPlot.iife.min.js")),
		"Scripts":  scripts,
	})
}
