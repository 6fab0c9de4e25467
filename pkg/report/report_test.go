package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func fixture() *aggregate.Snapshot {
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	col := aggregate.NewCollector(start)
	rec := col.NewRecorder()
	for i := range 1000 {
		rec.Record(aggregate.Sample{Endpoint: aggregate.Endpoint{Method: "GET", Name: "/api/items"},
			Latency: time.Duration(1+i%100) * time.Millisecond, Bytes: 4000}, start)
	}
	for i := range 200 {
		s := aggregate.Sample{Endpoint: aggregate.Endpoint{Method: "POST", Name: "/api/checkout"},
			Latency: time.Duration(50+i) * time.Millisecond, Bytes: 72}
		switch {
		case i%20 == 0:
			s.Err = "HTTP 503 Service Unavailable"
		case i%50 == 1:
			s.Err = "timeout"
		}
		rec.Record(s, start)
	}
	rec.Flush()
	return col.Swap(start.Add(10 * time.Second))
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestWriteTableGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, fixture(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	golden(t, "table.golden", b.Bytes())
}

func TestSummaryGolden(t *testing.T) {
	snap := fixture()
	s := NewSummary("20261125-120000-abcd", "completed", "", snap.Start, snap.End, 50, 50, snap)
	if s.Total.Requests != 1200 || s.Total.Failures != 14 {
		t.Errorf("total %d requests %d failures, want 1200 and 14", s.Total.Requests, s.Total.Failures)
	}
	var b bytes.Buffer
	if err := WriteJSON(&b, s); err != nil {
		t.Fatal(err)
	}
	golden(t, "summary.golden.json", b.Bytes())
}

func TestMillis(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "-", 1500 * time.Microsecond: "1.50ms", 42 * time.Millisecond: "42.0ms", 1234 * time.Millisecond: "1234ms"} {
		if got := Millis(d); got != want {
			t.Errorf("Millis(%v) = %q, want %q", d, got, want)
		}
	}
}
