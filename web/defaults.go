package web

import (
	"net/http"
	"sync"
	"time"

	"github.com/stampede-load/stampede/pkg/report"
)

// Defaults pre-fill the dashboard's start form and name the target before any
// run: the master's own flags (master --demo -u 50 -r 10 shows 50 users, rate 10
// and the demo target's URL).
type Defaults struct {
	Users     int           `json:"users"`
	SpawnRate float64       `json:"spawn_rate"`
	Host      string        `json:"host,omitempty"`
	RunTime   time.Duration `json:"-"`
	// Classes are the script's user classes with their weights and their tasks'
	// weights, for the ratio view (GET /api/ratio).
	Classes []report.UserClass `json:"-"`
}

// withFallbacks is d with the form's own defaults where d says nothing.
func (d Defaults) withFallbacks() Defaults {
	if d.Users <= 0 {
		d.Users = 1
	}
	if !(d.SpawnRate > 0) {
		d.SpawnRate = 1
	}
	return d
}

// runTime is the run time as the form's text field takes it; "" for none.
func (d Defaults) runTime() string {
	if d.RunTime <= 0 {
		return ""
	}
	return d.RunTime.String()
}

// defaults serves the start form's defaults (GET /api/defaults).
func (s *Server) defaults(w http.ResponseWriter, r *http.Request) {
	d := s.cfg.Defaults
	writeJSON(w, http.StatusOK, struct {
		Defaults
		RunTime string `json:"run_time,omitempty"`
	}{d, d.runTime()})
}

// ratio serves Locust's "Current ratio" (GET /api/ratio): the share of users per
// class and of tasks per class, as the script's weights configure them and as the
// live run's workers report their users.
func (s *Server) ratio(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, report.RatioOf(s.cfg.Defaults.Classes, s.current()))
}

// forgotten hides the live view's run once it is deleted: the master keeps its
// last run's view until the next one starts, but the dashboard's header,
// stream and downloads must not serve a run that no longer exists.
type forgotten struct {
	mu   sync.Mutex
	id   string       // the deleted run the live view may still show
	from *report.Live // the view last hidden ...
	view *report.Live // ... and what is shown instead
}

// forget hides run id from the live view while the view still shows it.
func (f *forgotten) forget(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.id, f.from, f.view = id, nil, nil
}

// hide returns l, or when l shows the deleted run, l without that run: its
// workers and agents stay, the master reads idle.
func (f *forgotten) hide(l *report.Live) *report.Live {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.id == "" || l.RunID != f.id {
		return l
	}
	if f.from != l {
		f.from = l
		f.view = &report.Live{State: report.StateIdle, UpdatedAt: l.UpdatedAt, Workers: l.Workers, Agents: l.Agents,
			Scale: l.Scale, Endpoints: []report.Row{}, Errors: []report.ErrorRow{}, Exceptions: []report.ExceptionRow{},
			Counters: []report.CounterRow{}, Slowest: []report.SlowRow{}, Warnings: []string{}}
	}
	return f.view
}

// current is the live view the dashboard serves.
func (s *Server) current() *report.Live { return s.gone.hide(s.cfg.Control.Live()) }
