package web

import (
	"net/http"

	"github.com/stampede-load/stampede/pkg/report"
)

// events serves a run's events, live or stored, from the store: what the charts
// mark on their time axis (GET /api/runs/{id}/events).
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	run, err := s.cfg.DB.Run(id)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	evs, err := s.cfg.DB.Events(id)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	out := make([]report.EventRow, 0, len(evs))
	for _, e := range evs {
		out = append(out, report.EventRow{At: e.At, T: e.At.Sub(run.StartedAt).Seconds(), Kind: e.Kind, Worker: e.Worker, Detail: e.Detail})
	}
	writeJSON(w, http.StatusOK, out)
}
