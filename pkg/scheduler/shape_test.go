package scheduler

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestPreset(t *testing.T) {
	type point struct {
		at   time.Duration
		want float64
	}
	tests := []struct {
		name   string
		peak   int
		total  time.Duration
		points []point
	}{
		{"spike", 200, 100 * time.Second, []point{
			{0, 0}, {5 * time.Second, 10}, {10 * time.Second, 20}, {39 * time.Second, 20},
			{40 * time.Second, 200}, {59 * time.Second, 200}, {60 * time.Second, 20},
			{89 * time.Second, 20}, {95 * time.Second, 10}, {100 * time.Second, 0},
		}},
		{"stairs", 50, 10 * time.Minute, []point{
			{0, 10}, {2*time.Minute - 1, 10}, {2 * time.Minute, 20}, {5 * time.Minute, 30},
			{7 * time.Minute, 40}, {9 * time.Minute, 50}, {10 * time.Minute, 50},
		}},
		{"soak", 1000, time.Hour, []point{
			{0, 0}, {3 * time.Minute, 500}, {6 * time.Minute, 1000}, {30 * time.Minute, 1000},
			{57 * time.Minute, 1000}, {58*time.Minute + 30*time.Second, 500}, {time.Hour, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Preset(tt.name, tt.peak, tt.total)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			if d := s.Duration(); d != tt.total {
				t.Errorf("Duration() = %v, want %v", d, tt.total)
			}
			highest := 0.0
			for _, st := range s {
				highest = max(highest, st.Target)
			}
			if highest != float64(tt.peak) {
				t.Errorf("highest target %v, want the peak %d", highest, tt.peak)
			}
			for _, p := range tt.points {
				if got, _ := s.At(p.at); math.Abs(got-p.want) > 1e-6 {
					t.Errorf("%s At(%v) = %v, want %v", s, p.at, got, p.want)
				}
			}
		})
	}
}

// TestPresetOddDurations: whatever the total, the stages add up to it exactly.
func TestPresetOddDurations(t *testing.T) {
	for _, name := range Presets() {
		for _, total := range []time.Duration{time.Second, 7*time.Second + 3, 99*time.Hour + 1, math.MaxInt64} {
			s, err := Preset(name, 3, total)
			if err != nil {
				t.Fatal(err)
			}
			if d := s.Duration(); d != total {
				t.Errorf("%s over %v: Duration() = %v", name, total, d)
			}
			if err := s.Validate(); err != nil {
				t.Errorf("%s over %v: %v", name, total, err)
			}
		}
	}
}

// TestPresetArrivals: a preset used as an arrival rate keeps the arrival contract.
func TestPresetArrivals(t *testing.T) {
	for _, name := range Presets() {
		s, err := Preset(name, 100, 60*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		checkArrivals(t, s, 4)
	}
}

func TestPresetErrors(t *testing.T) {
	tests := []struct {
		name  string
		peak  int
		total time.Duration
		want  string
	}{
		{"ramp", 10, time.Minute, `preset ramp: unknown shape "ramp" (known: spike, stairs, soak)`},
		{"spike", 0, time.Minute, `preset spike: peak 0 must be between 1 and 1e+09`},
		{"soak", 10, time.Millisecond, `preset soak: duration 1ms must be at least 1s`},
		{"stairs", -1, 0, `preset stairs: peak -1 must be between 1 and 1e+09; duration 0s must be at least 1s`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := Preset(tt.name, tt.peak, tt.total)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Preset(%q, %d, %v) = %v, want %s", tt.name, tt.peak, tt.total, err, tt.want)
			}
			if !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("error %v does not match ErrInvalidRequest", err)
			}
		})
	}
}
