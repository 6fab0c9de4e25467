package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/store"
)

func (s *Server) runs(w http.ResponseWriter, r *http.Request) {
	runs, err := s.cfg.DB.Runs()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	out := make([]report.RunSummary, 0, len(runs))
	for _, run := range runs {
		sum := report.Summarize(run)
		sum.Config = nil
		out = append(out, sum)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) run(w http.ResponseWriter, r *http.Request) {
	v, err := s.cache.get(r.PathValue("id"))
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) deleteRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	l := s.cfg.Control.Live()
	if l.RunID == id && l.State != report.StateStopped {
		writeError(w, http.StatusConflict, errors.New("the run is active: stop it first"))
		return
	}
	if err := s.cfg.DB.DeleteRun(id); err != nil {
		writeStoreError(w, err)
		return
	}
	if l.RunID == id {
		s.gone.forget(id) // the header and downloads no longer show it
	}
	s.cache.drop(id)
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) label(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Label string `json:"label"`
		Notes string `json:"notes"`
	}
	if err := readJSON(r, &b); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	id := r.PathValue("id")
	if err := s.cfg.DB.SetLabel(id, b.Label, b.Notes); err != nil {
		writeStoreError(w, err)
		return
	}
	s.cache.drop(id)
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) compare(w http.ResponseWriter, r *http.Request) {
	ids := strings.Split(r.URL.Query().Get("runs"), ",")
	if len(ids) < 2 {
		writeError(w, http.StatusBadRequest, errors.New("compare needs runs=A,B[,C...]"))
		return
	}
	tol := 10.0
	if t := r.URL.Query().Get("tolerance"); t != "" {
		v, err := strconv.ParseFloat(t, 64)
		if err != nil || v < 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("tolerance %q: want a percentage >= 0", t))
			return
		}
		tol = v
	}
	views := make([]*report.RunView, 0, len(ids))
	for _, id := range ids {
		v, err := s.cache.get(strings.TrimSpace(id))
		if err != nil {
			writeStoreError(w, err)
			return
		}
		views = append(views, v)
	}
	writeJSON(w, http.StatusOK, report.Compare(views, tol))
}

func writeStoreError(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrRunNotFound) {
		writeError(w, http.StatusNotFound, err)
		return
	}
	writeError(w, http.StatusInternalServerError, err)
}
