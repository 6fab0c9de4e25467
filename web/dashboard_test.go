package web

import (
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/store"
)

// The master's flags pre-fill the start form and name the host before any run.
func TestStartFormDefaults(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "runs.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctl := &fakeControl{live: &report.Live{State: report.StateIdle}}
	srv, err := NewServer(Config{Control: ctl, DB: db,
		Defaults: Defaults{Users: 50, SpawnRate: 10, Host: "http://127.0.0.1:4321", RunTime: 90 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	h := &harness{t: t, srv: srv, ctl: ctl, db: db, http: ts}
	_, page := h.do("GET", "/", "", false)
	for _, want := range []string{`id="f-users" name="users" type="number" min="1" step="1" required value="50"`,
		`required value="10"`, `value="http://127.0.0.1:4321"`, `value="1m30s"`,
		`data-default="http://127.0.0.1:4321">http://127.0.0.1:4321</dd>`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page lacks %s", want)
		}
	}
	_, body := h.do("GET", "/api/defaults", "", false)
	var d struct {
		Users     int     `json:"users"`
		SpawnRate float64 `json:"spawn_rate"`
		Host      string  `json:"host"`
		RunTime   string  `json:"run_time"`
	}
	if err := json.Unmarshal(body, &d); err != nil || d.Users != 50 || d.SpawnRate != 10 || d.Host != "http://127.0.0.1:4321" || d.RunTime != "1m30s" {
		t.Errorf("/api/defaults: %s (%v)", body, err)
	}

	// Without flags, the form's own defaults.
	h = newHarness(t, "")
	_, page = h.do("GET", "/", "", false)
	if !strings.Contains(string(page), `required value="1"`) || !strings.Contains(string(page), `data-default="">&mdash;</dd>`) {
		t.Error("page without defaults: want 1 user, rate 1, no host")
	}
}

// Deleting the live run (once stopped) takes it off the header, the stream and
// the downloads; the next run shows again.
func TestDeletedLiveRunIsNotServed(t *testing.T) {
	h := newHarness(t, "")
	id := fixture(t, h.db)
	h.ctl.publish(&report.Live{State: report.StateRunning, RunID: id, Workers: []report.WorkerRow{{ID: "w1"}}})
	if resp, _ := h.do("DELETE", "/api/runs/"+id, "", true); resp.StatusCode != 409 {
		t.Fatalf("delete an active run: %d, want 409", resp.StatusCode)
	}
	h.ctl.publish(&report.Live{State: report.StateStopped, RunID: id, Host: "http://x", Workers: []report.WorkerRow{{ID: "w1", State: "stopped"}},
		Total: report.Row{Requests: 202}})
	if resp, body := h.do("DELETE", "/api/runs/"+id, "", true); resp.StatusCode != 200 {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	_, body := h.do("GET", "/api/live", "", false)
	var l report.Live
	if err := json.Unmarshal(body, &l); err != nil || l.RunID != "" || l.State != report.StateIdle || l.Host != "" ||
		l.Total.Requests != 0 || len(l.Workers) != 1 {
		t.Errorf("live view after deleting its run: %s", body)
	}
	for _, f := range []string{"stats.csv", "report.html", "history.csv"} {
		if resp, body := h.do("GET", "/download/"+f, "", false); resp.StatusCode == 200 {
			t.Errorf("download %s of the deleted live run: %d %.80s", f, resp.StatusCode, body)
		}
	}
	h.ctl.publish(&report.Live{State: report.StateRunning, RunID: "r2"})
	if _, body := h.do("GET", "/api/live", "", false); !strings.Contains(string(body), `"run_id":"r2"`) {
		t.Errorf("the next run is not shown: %s", body)
	}
}

// A run's events, live or stored, for the charts' marks.
func TestRunEvents(t *testing.T) {
	h := newHarness(t, "")
	id := fixture(t, h.db)
	resp, body := h.do("GET", "/api/runs/"+id+"/events", "", false)
	var evs []report.EventRow
	if err := json.Unmarshal(body, &evs); err != nil || resp.StatusCode != 200 || len(evs) != 1 || evs[0].Kind != "worker_joined" || evs[0].T != 0 {
		t.Errorf("events: %d %s", resp.StatusCode, body)
	}
	if resp, _ := h.do("GET", "/api/runs/nope/events", "", false); resp.StatusCode != 404 {
		t.Errorf("events of an unknown run: %d", resp.StatusCode)
	}
}
