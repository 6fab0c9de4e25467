package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stampede-load/stampede/pkg/report"
)

// TestHistoryAddsUpToTheTargetsCount runs the real master headless, with one and
// with three in-process workers, and reads the stored run's history.csv as a user
// downloads it: its rows tile the run (each row covers the time since the one
// before), and Σ requests/s × interval is the number of requests the target
// itself served — the chart's and the CSV's per-second numbers add up to the truth.
func TestHistoryAddsUpToTheTargetsCount(t *testing.T) {
	masterBin, _ := binaries(t)
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d workers", workers), func(t *testing.T) {
			target := &requestLog{}
			ts := httptest.NewServer(target)
			defer ts.Close()
			db := filepath.Join(t.TempDir(), "runs.db")
			m := start(t, masterBin, "--headless", "--local-workers", strconv.Itoa(workers), "-u", "10", "-r", "100", "-t", "4s",
				"-H", ts.URL+"/x", "--wait", "5ms", "--db", db, "--exit-code-on-error", "0",
				"--stop-timeout", "10s") // users finish their request: every one served is counted
			if err := m.Wait(); err != nil {
				t.Fatalf("master: %v", err)
			}
			served, _ := target.read()
			if served == 0 {
				t.Fatal("the target served nothing")
			}
			s, run := storedRun(t, db)
			if run.Summary.Requests != uint64(served) {
				t.Errorf("stored run: %d requests, the target served %d", run.Summary.Requests, served)
			}
			view, err := loadView(s, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := report.WriteHistoryCSV(&b, view); err != nil {
				t.Fatal(err)
			}
			rows, err := csv.NewReader(&b).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			num := func(row []string, i int) float64 {
				if row[i] == "" { // a gap: no rate
					return 0
				}
				v, err := strconv.ParseFloat(row[i], 64)
				if err != nil {
					t.Fatalf("row %v column %d: %v", row, i, err)
				}
				return v
			}
			var rateTimesInterval, counted float64
			prev := 0.0
			for _, row := range rows[1:] { // Elapsed, Users, Requests/s, Failures/s, 50%, 95%, 99%, Interval, Requests, Failures
				elapsed, interval := num(row, 0), num(row, 7)
				if math.Abs(elapsed-prev-interval) > 1e-6 {
					t.Errorf("row at %.3f s covers %.3f s but follows one at %.3f s", elapsed, interval, prev)
				}
				prev = elapsed
				rateTimesInterval += num(row, 2) * interval
				counted += num(row, 8)
			}
			if counted != float64(served) || math.Abs(rateTimesInterval-float64(served)) > 1e-6*float64(served) {
				t.Errorf("history.csv adds up to %.0f requests (Σ requests/s × interval %.3f); the target served %d",
					counted, rateTimesInterval, served)
			}
		})
	}
}
