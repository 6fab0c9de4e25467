package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/store"
)

// Control is what the dashboard needs of the master's run controller.
type Control interface {
	Live() *report.Live
	Subscribe() (<-chan struct{}, func())
	StartRun(ctx context.Context, req StartRequest) error
	Stop(ctx context.Context, reason string) error
	Edit(ctx context.Context, users int, spawnRate float64) error
	Reset(ctx context.Context) error
}

// StartRequest is the dashboard's start form.
type StartRequest struct {
	Users     int           `json:"users"`
	SpawnRate float64       `json:"spawn_rate"`
	Host      string        `json:"host"`
	RunTime   time.Duration `json:"-"`
	Label     string        `json:"label"`
}

// ErrBadRequest marks a start request the controller refused as invalid (HTTP 400).
var ErrBadRequest = errors.New("bad request")

// Config configures a Server.
type Config struct {
	Control  Control
	DB       *store.DB
	Logger   *slog.Logger
	Auth     string        // "user:password" for HTTP basic auth; empty: none
	CacheMax int           // decoded stored runs kept; default 16
	CacheTTL time.Duration // how long one is kept; default 10 min
	Defaults Defaults      // the start form's defaults: the master's flags
}

// Server is the dashboard's HTTP handler.
type Server struct {
	cfg   Config
	log   *slog.Logger
	csrf  string
	index *template.Template
	cache *runCache
	mux   *http.ServeMux
	sse   encoded   // the SSE payload of the latest view, built once for every client
	gone  forgotten // the live run, once deleted, is no longer served
}

// NewServer builds the handler.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Auth != "" && !strings.Contains(cfg.Auth, ":") {
		return nil, errors.New("web auth must be user:password")
	}
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	idx, err := template.ParseFS(staticFS, "static/index.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard page: %w", err)
	}
	cfg.Defaults = cfg.Defaults.withFallbacks()
	s := &Server{cfg: cfg, log: cfg.Logger, csrf: hex.EncodeToString(tok), index: idx,
		cache: newRunCache(cfg.DB, cfg.CacheMax, cfg.CacheTTL), mux: http.NewServeMux()}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /{$}", s.page)
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(sub(staticFS, "static"))))
	m.Handle("GET /vendor/", http.StripPrefix("/vendor/", http.FileServerFS(sub(vendorFS, "vendor"))))
	m.HandleFunc("GET /api/live", s.live)
	m.HandleFunc("GET /api/defaults", s.defaults)
	m.HandleFunc("GET /api/ratio", s.ratio)
	m.HandleFunc("GET /api/runs/{id}/events", s.events)
	m.HandleFunc("GET /api/runs/{id}/endpoint", s.endpointSeries)
	m.HandleFunc("GET /api/stream", s.stream)
	m.HandleFunc("POST /api/start", s.start)
	m.HandleFunc("POST /api/stop", s.stop)
	m.HandleFunc("POST /api/edit", s.edit)
	m.HandleFunc("POST /api/reset", s.reset)
	m.HandleFunc("GET /api/runs", s.runs)
	m.HandleFunc("GET /api/runs/{id}", s.run)
	m.HandleFunc("DELETE /api/runs/{id}", s.deleteRun)
	m.HandleFunc("POST /api/runs/{id}/label", s.label)
	m.HandleFunc("GET /api/compare", s.compare)
	m.HandleFunc("GET /download/{file}", s.download)
	m.HandleFunc("GET /api/scale", s.scale)
	m.HandleFunc("GET /api/telemetry", s.telemetryNames)
	m.HandleFunc("GET /healthz", s.healthz)
	m.HandleFunc("GET /readyz", s.readyz)
	m.Handle("GET /metrics", metricsHandler(s.cfg.Control))
}

// ServeHTTP checks authentication and CSRF, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; p == "/healthz" || p == "/readyz" {
		s.mux.ServeHTTP(w, r) // probes carry no credentials
		return
	}
	if s.cfg.Auth != "" {
		u, p, ok := r.BasicAuth()
		want := []byte(s.cfg.Auth)
		if !ok || subtle.ConstantTimeCompare([]byte(u+":"+p), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="stampede"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Stampede-CSRF")), []byte(s.csrf)) != 1 {
			writeError(w, http.StatusForbidden, errors.New("missing or wrong X-Stampede-CSRF header: reload the page"))
			return
		}
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	s.mux.ServeHTTP(w, r)
}

// CSRF returns the token control requests must carry (for tests and tools).
func (s *Server) CSRF() string { return s.csrf }

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.index.Execute(w, struct {
		CSRF     string
		Charts   bool
		Defaults Defaults
		RunTime  string
		Scripts  []string
	}{s.csrf, vendorReady(), s.cfg.Defaults, s.cfg.Defaults.runTime(), dashboardScripts}); err != nil {
		s.log.Error("dashboard page", "err", err)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		return // the client went away
	}
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// readJSON decodes a small JSON body strictly.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return nil
}

var _ fs.FS = staticFS
