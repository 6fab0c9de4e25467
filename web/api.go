package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/stampede-load/stampede/pkg/report"
)

func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if err := writeLive(w, s.current()); err != nil {
		s.log.Debug("write live view", "err", err) // the client went away
	}
}

// streamed is the SSE form of a Live view: without the full series, with the
// latest point.
type streamed struct {
	*report.Live
	Series []report.Point      `json:"series,omitempty"`
	Hosts  []report.HostSeries `json:"hosts,omitempty"`
	Latest *report.Point       `json:"latest,omitempty"`
	Point  *report.Point       `json:"point"`
}

// encoded caches the SSE payload of the latest view, so it is built once per
// view however many clients there are.
type encoded struct {
	mu   sync.Mutex
	live *report.Live
	data []byte
}

func (e *encoded) of(l *report.Live) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if l == e.live {
		return e.data, nil
	}
	v := streamed{Live: l, Point: l.Latest}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	e.live, e.data = l, b
	return b, nil
}

// stream pushes every new live view as a Server-Sent Event. A slow client only
// misses intermediate views: it always gets the latest.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, errors.New("streaming unsupported"))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	updates, cancel := s.cfg.Control.Subscribe()
	defer cancel()
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	send := func() bool {
		b, err := s.sse.of(s.current())
		if err != nil {
			s.log.Error("encode live view", "err", err)
			return false
		}
		if _, err := fmt.Fprintf(w, "event: live\ndata: %s\n\n", b); err != nil {
			return false
		}
		flusher.Flush()
		return true
	}
	if !send() {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-updates:
			if !send() {
				return
			}
		case <-keepAlive.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}

type startBody struct {
	Users     int     `json:"users"`
	SpawnRate float64 `json:"spawn_rate"`
	Host      string  `json:"host"`
	RunTime   string  `json:"run_time"`
	Label     string  `json:"label"`
}

func (s *Server) start(w http.ResponseWriter, r *http.Request) {
	var b startBody
	if err := readJSON(r, &b); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	req := StartRequest{Users: b.Users, SpawnRate: b.SpawnRate, Host: b.Host, Label: b.Label}
	if b.RunTime != "" {
		d, err := parseRunTime(b.RunTime)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		req.RunTime = d
	}
	s.control(w, s.cfg.Control.StartRun(r.Context(), req))
}

// parseRunTime reads 90s, 20m, 1h30m or plain seconds.
func parseRunTime(v string) (time.Duration, error) {
	const limit = 30 * 24 * time.Hour
	if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 && n <= limit.Seconds() {
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > limit {
		return 0, fmt.Errorf("%w: run time %q: want 90s, 20m or 1h30m", ErrBadRequest, v)
	}
	return d, nil
}

func (s *Server) stop(w http.ResponseWriter, r *http.Request) {
	s.control(w, s.cfg.Control.Stop(r.Context(), "stopped from the dashboard"))
}

func (s *Server) edit(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Users     int     `json:"users"`
		SpawnRate float64 `json:"spawn_rate"`
	}
	if err := readJSON(r, &b); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	s.control(w, s.cfg.Control.Edit(r.Context(), b.Users, b.SpawnRate))
}

func (s *Server) reset(w http.ResponseWriter, r *http.Request) {
	s.control(w, s.cfg.Control.Reset(r.Context()))
}

// control answers a control action: 200, or 400 for a refused request, 409 for an
// action that does not fit the run's state.
func (s *Server) control(w http.ResponseWriter, err error) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	case errors.Is(err, ErrBadRequest):
		writeError(w, http.StatusBadRequest, err)
	default:
		writeError(w, http.StatusConflict, err)
	}
}
