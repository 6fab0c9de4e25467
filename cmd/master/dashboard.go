package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/stampede-load/stampede/cmd/internal/lifecycle"
	"github.com/stampede-load/stampede/pkg/controller"
	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/store"
	"github.com/stampede-load/stampede/pkg/userbehavior"
	"github.com/stampede-load/stampede/web"
)

// userClasses are the compiled script's classes as the ratio view shows them:
// their weights and their tasks' weights.
func userClasses(classes []*userbehavior.Class) []report.UserClass {
	out := make([]report.UserClass, 0, len(classes))
	for _, c := range classes {
		u := report.UserClass{Name: c.Name, Weight: c.Weight, FixedCount: c.FixedCount, Sequential: c.Sequential,
			Tasks: make([]report.TaskWeight, 0, len(c.Tasks))}
		for _, t := range c.Tasks {
			u.Tasks = append(u.Tasks, report.TaskWeight{Name: t.Name, Weight: t.Weight})
		}
		out = append(out, u)
	}
	return out
}

// dashboard serves the web UI until ctx ends; runs start from the browser.
func dashboard(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) (int, error) {
	m, code, err := bringUp(cfg, log, stdout)
	if err != nil {
		return code, err
	}
	defer m.close()
	wc := &webControl{Controller: m.ctl, m: m, cfg: cfg, log: log}
	srv, err := web.NewServer(web.Config{Control: wc, DB: m.db, Logger: log,
		Auth: cfg.WebAuth, CacheMax: cfg.WebCacheRuns, CacheTTL: cfg.WebCacheTTL,
		Defaults: web.Defaults{Users: cfg.Users, SpawnRate: cfg.SpawnRate, Host: m.scenario.Host, RunTime: cfg.RunTime,
			Classes: userClasses(m.classes)}})
	if err != nil {
		return exitFailure, err
	}
	lis, err := net.Listen("tcp", cfg.WebListen)
	if err != nil {
		return exitFailure, fmt.Errorf("listen for the dashboard: %w", err)
	}
	// First among the master's components: the signal, which ends the group
	// without an error; the dashboard, which stops an active run gracefully before
	// it shuts down; the controller's loop.
	signalled, stopWaiting := context.WithCancel(ctx)
	m.life.Add(lifecycle.Component{Stage: stageRun, Stop: stopWaiting, Run: func() error {
		<-signalled.Done()
		return nil
	}})
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	m.life.Add(lifecycle.Component{Name: "dashboard", Stage: stageRun,
		Run: func() error {
			if err := hs.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
		Stop: func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			m.stopActiveRun(sctx)
			hs.Shutdown(sctx)
			lis.Close() // when Serve never took it
		}})
	// A run's teardown finishes before the master goes, within its limit.
	waitTeardowns, teardownsDone := lifecycle.UntilStopped()
	m.life.Add(lifecycle.Component{Stage: stageRun, Run: waitTeardowns, Stop: func() {
		defer teardownsDone()
		waited := make(chan struct{})
		go func() { wc.teardowns.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(teardownLimit + 5*time.Second):
		}
	}})
	lctx, stopLoop := context.WithCancel(context.Background())
	loopDone := make(chan struct{})
	m.life.Add(lifecycle.Component{Stage: stageRun,
		Run: func() error {
			defer close(loopDone)
			m.ctl.Serve(lctx)
			if lctx.Err() == nil {
				return errors.New("the run controller stopped")
			}
			return nil
		},
		Stop: func() {
			stopLoop()
			<-loopDone
		}})
	fmt.Fprintf(stdout, "dashboard on http://%s  (workers connect to %s; Ctrl-C to quit)\n", lis.Addr(), m.addr)
	if err := m.life.Run(); err != nil {
		return exitFailure, err
	}
	return exitOK, nil
}

// stopActiveRun stops the active run gracefully and gives the workers' final
// reports until sctx ends, before the controller's loop goes (which would store
// the run as interrupted).
func (m *master) stopActiveRun(sctx context.Context) {
	l := m.ctl.Live()
	if l.State != report.StateRunning && l.State != report.StateStopping {
		return
	}
	if err := m.ctl.Stop(sctx, "master shutting down"); err != nil {
		return
	}
	updates, cancel := m.ctl.Subscribe()
	defer cancel()
	for m.ctl.Live().State != report.StateStopped && sctx.Err() == nil {
		select {
		case <-updates:
		case <-sctx.Done():
		}
	}
}

// webControl lets the dashboard start runs with the master's flags as defaults.
type webControl struct {
	*controller.Controller
	m         *master
	cfg       Config
	log       *slog.Logger
	teardowns sync.WaitGroup // a run's teardown, running after the run
}

func (c *webControl) StartRun(ctx context.Context, req web.StartRequest) error {
	cfg := c.cfg
	cfg.Users, cfg.SpawnRate, cfg.RunTime, cfg.Label = req.Users, req.SpawnRate, req.RunTime, req.Label
	if cfg.Users < 0 || !(cfg.SpawnRate > 0) {
		return fmt.Errorf("%w: users must be >= 0 and spawn rate > 0", web.ErrBadRequest)
	}
	sc := c.m.scenario
	if req.Host != "" {
		if err := checkHost(req.Host, sc.Script != nil); err != nil {
			return fmt.Errorf("%w: %v", web.ErrBadRequest, err)
		}
		sc.Host = req.Host
		if sc.Quick != nil {
			q := *sc.Quick
			q.URL = req.Host
			sc.Quick = &q
		}
	}
	if sc.Quick != nil && sc.Quick.URL == "" {
		return fmt.Errorf("%w: give the host (the URL every user requests)", web.ErrBadRequest)
	}
	cfg.Host = sc.Host
	if l := c.Live(); l.State == report.StateRunning || l.State == report.StateStopping {
		return controller.ErrRunActive // before setup runs for a run that cannot start
	}
	hk, err := newHooks(sc)
	if err != nil {
		return fmt.Errorf("%w: %v", web.ErrBadRequest, err)
	}
	if hk != nil {
		if sc, err = hk.setup(ctx, io.Discard); err != nil {
			// No user started: the run is stored as failed with the traceback, and the
			// form shows the error.
			var he *hookError
			errors.As(err, &he)
			storeSetupFailure(c.m.db, cfg.Label, he)
			msg := he.Error()
			if he.traceback != "" {
				msg += "\n" + he.traceback
			}
			return fmt.Errorf("%w: %s", web.ErrBadRequest, msg)
		}
	}
	rc, err := c.m.runConfig(cfg, sc, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", web.ErrBadRequest, err)
	}
	done, err := c.Start(ctx, rc)
	if errors.Is(err, controller.ErrRunActive) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%w: %v", web.ErrBadRequest, err)
	}
	if hk != nil {
		c.teardowns.Add(1)
		go func() { // owned by c.teardowns, which dashboard waits for
			defer c.teardowns.Done()
			<-done
			if err := hk.teardown(context.Background(), io.Discard); err != nil {
				c.log.Error("teardown failed", "err", err)
				if res, oerr := c.Outcome(done); oerr == nil {
					var he *hookError
					errors.As(err, &he)
					c.m.db.AppendEvent(res.Run.ID, store.Event{At: time.Now(), Kind: store.EventTeardownFailed, Detail: he.Error() + "\n" + he.traceback})
				}
			}
		}()
	}
	return nil
}

func writeReportFile(db *store.DB, id, path string) error {
	v, err := loadView(db, id)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := report.WriteHTML(f, v, web.ReportAssets()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
