package web

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/store"
)

// EndpointSeries is one endpoint's points over a run.
type EndpointSeries struct {
	Method string         `json:"method"`
	Name   string         `json:"name"`
	StepS  float64        `json:"step_s"` // seconds of intervals each point covers (1 s intervals)
	Series []report.Point `json:"series"`
}

// endpointSeries serves one endpoint's RPS, failures/s and percentiles over a run,
// live or stored, from the store's intervals (GET
// /api/runs/{id}/endpoint?method=GET&name=/path). A long run's points are merged
// as the live series' are (report.MaxLivePoints), so the answer stays small.
func (s *Server) endpointSeries(w http.ResponseWriter, r *http.Request) {
	id, q := r.PathValue("id"), r.URL.Query()
	ep := aggregate.Endpoint{Method: q.Get("method"), Name: q.Get("name")}
	if ep.Method == "" || ep.Name == "" {
		writeError(w, http.StatusBadRequest, errors.New("name the endpoint: ?method=GET&name=/path"))
		return
	}
	if aggregate.TimingKinds[ep.Method] {
		writeError(w, http.StatusBadRequest, fmt.Errorf("%s rows time a part of a request: chart the request's own row", ep.Method))
		return
	}
	run, err := s.cfg.DB.Run(id)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	d := report.NewDecimated(report.MaxLivePoints, report.MergePoints)
	err = s.cfg.DB.ForEachInterval(id, func(iv store.Interval) error {
		d.Add(endpointPoint(iv, ep, run.StartedAt))
		return nil
	})
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, EndpointSeries{Method: ep.Method, Name: ep.Name, StepS: float64(d.Step()),
		Series: append([]report.Point{}, d.Points()...)})
}

// endpointPoint is the chart point of one endpoint in one interval: the run's
// point (report.PointOf) of the interval with only that endpoint in it.
func endpointPoint(iv store.Interval, ep aggregate.Endpoint, started time.Time) report.Point {
	one := aggregate.NewSnapshot(iv.Snapshot.Start)
	one.End = iv.Snapshot.End
	if st := iv.Snapshot.Endpoints[ep]; st != nil {
		one.Endpoints[ep] = st
	}
	iv.Snapshot = one
	return report.PointOf(iv, started)
}
