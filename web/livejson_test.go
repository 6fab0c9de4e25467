package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/stampede-load/stampede/pkg/report"
)

// liveWith is a live view with hosts hosts and points points in every series.
func liveWith(hosts, points int) *report.Live {
	l := &report.Live{State: report.StateRunning, RunID: "r1", Users: 10, StartedAt: time.Unix(1_800_000_000, 0).UTC(),
		Workers: []report.WorkerRow{{ID: "w1", CPUPercent: 12.5}}, Endpoints: []report.Row{{Method: "GET", Name: "/x", Requests: 3}},
		Warnings: []string{"a \"quoted\" <warning>"}, SeriesStepS: 2, Latest: &report.Point{T: 99, RPS: 1.5}}
	for h := range hosts {
		hs := report.HostSeries{Host: fmt.Sprintf("w%d", h), Hostname: "box", Role: "worker"}
		for p := range points {
			hp := report.HostPoint{T: float64(2 * p), CPUPercent: 50.25, MemUsed: 1 << 30, ProcessRSS: 1 << 25, TCPEstablished: 7}
			if h == 0 {
				hp.GPUUtil, hp.GPUMemUsed, hp.GPUPowerW, hp.GPUTempC, hp.GPUStatus = []float64{90}, []uint64{1 << 33}, []float64{300}, []float64{70}, "ok"
			}
			hs.Points = append(hs.Points, hp)
		}
		l.Hosts = append(l.Hosts, hs)
	}
	for p := range points {
		l.Series = append(l.Series, report.Point{T: float64(2 * p), Users: 10, RPS: 100.5, P95: 12.25, Saturated: p%7 == 0})
	}
	return l
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v\n%.300s", err, b)
	}
	return v
}

// The streamed live view is the JSON encoding/json gives, field for field.
func TestWriteLiveIsTheLiveViewsJSON(t *testing.T) {
	for _, l := range []*report.Live{liveWith(3, 5), liveWith(0, 4), liveWith(2, 0), {}} {
		var got bytes.Buffer
		if err := writeLive(&got, l); err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := decode(t, got.Bytes()), decode(t, want); !reflect.DeepEqual(g, w) {
			t.Errorf("streamed:\n%s\nencoding/json:\n%s", got.Bytes(), want)
		}
	}
}

type countingWriter int

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}
