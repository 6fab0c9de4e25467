package demo

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestStallingTargetPhases(t *testing.T) {
	st := &StallingTarget{Period: 5 * time.Second, Stall: time.Second, start: time.Unix(0, 0)}
	for _, tc := range []struct {
		at, want time.Duration
	}{
		{0, 0},
		{3999 * time.Millisecond, 0},
		{4 * time.Second, time.Second},
		{4250 * time.Millisecond, 750 * time.Millisecond},
		{5 * time.Second, 0},
		{9500 * time.Millisecond, 500 * time.Millisecond},
	} {
		if got := st.stallLeft(time.Unix(0, 0).Add(tc.at)); got != tc.want {
			t.Errorf("at %v: held %v, want %v", tc.at, got, tc.want)
		}
	}
}

func TestStallingTargetLogsAndPercentiles(t *testing.T) {
	st := NewStallingTarget(0, 0) // never stalls
	rec := httptest.NewRecorder()
	st.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 200 || len(st.Log()) != 1 {
		t.Fatalf("code %d, log %d", rec.Code, len(st.Log()))
	}
	t0 := time.Unix(100, 0)
	var log []Served
	for i := 1; i <= 100; i++ {
		log = append(log, Served{Arrived: t0, Completed: t0.Add(time.Duration(i) * time.Millisecond)})
	}
	got := Percentiles(log, 50, 90, 99, 100)
	want := []time.Duration{50 * time.Millisecond, 90 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("percentiles %v, want %v", got, want)
			break
		}
	}
}
