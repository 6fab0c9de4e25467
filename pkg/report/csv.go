package report

import (
	"encoding/csv"
	"io"
	"iter"
	"strconv"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/store"
)

func f(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// locustPercentiles are the percentile columns of Locust's CSV files, in its order.
var locustPercentiles = []string{"50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%"}

// percentileFields are a row's figures for locustPercentiles; N/A without requests,
// as Locust writes them.
func percentileFields(r Row) []string {
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
func WriteStatsCSV(w io.Writer, v *RunView) error {
	c := csv.NewWriter(w)
	c.Write(append([]string{"Type", "Name", "Request Count", "Failure Count", "Median Response Time", "Average Response Time",
		"Min Response Time", "Max Response Time", "Average Content Size", "Requests/s", "Failures/s"}, locustPercentiles...))
	for _, r := range append(append([]Row{}, v.Endpoints...), v.Total) {
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
// folded into the one before, as the charts do (FoldShort), so it shows no
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
		cur, cum := RowOf(ep, now, span), RowOf(ep, all, 0)
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
func WriteFailuresCSV(w io.Writer, v *RunView) error {
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
func WriteExceptionsCSV(w io.Writer, v *RunView) error {
	c := csv.NewWriter(w)
	c.Write([]string{"Count", "Message", "Traceback", "Nodes"})
	for _, e := range v.Exceptions {
		c.Write([]string{strconv.FormatUint(e.Count, 10), e.Message, e.Traceback, ""})
	}
	c.Flush()
	return c.Error()
}

// WriteHistoryCSV writes the run's series, one row per interval.
func WriteHistoryCSV(w io.Writer, v *RunView) error {
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
