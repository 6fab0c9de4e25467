package store

import (
	"path/filepath"
	"testing"
	"time"
)

func TestTelemetryRoundTrip(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	if err := db.CreateRun(Run{ID: "r1", Status: StatusRunning, StartedAt: start}); err != nil {
		t.Fatal(err)
	}
	recs := []TelemetryRecord{
		{Seq: 1, At: start.Add(time.Second), Host: "w1", Role: "worker", Sample: []byte(`{"host":{"cpu_percent":42}}`)},
		{Seq: 1, At: start.Add(time.Second), Host: "agent-db", Role: "agent", Sample: []byte(`{"host":{"cpu_percent":7}}`)},
	}
	if err := db.AppendTelemetry("r1", recs); err != nil {
		t.Fatal(err)
	}
	if err := db.AppendTelemetry("r1", []TelemetryRecord{{Seq: 2, Host: "w1"}}); err == nil {
		t.Error("a record without a sample accepted")
	}
	got, err := db.Telemetry("r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Host != "agent-db" || got[1].Role != "worker" || string(got[1].Sample) != `{"host":{"cpu_percent":42}}` || !got[0].At.Equal(recs[1].At) {
		t.Errorf("got %+v", got)
	}
	if err := db.Check(); err != nil {
		t.Errorf("check with telemetry: %v", err)
	}
	if err := db.FinishRun("r1", StatusCompleted, "", start.Add(2*time.Second), Summary{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.AppendTelemetry("r1", recs); err == nil {
		t.Error("telemetry appended to a finished run")
	}
}
