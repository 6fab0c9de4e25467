package userbehavior

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestParseWait(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Wait
		wantErr string // substring; "" means no error
	}{
		{name: "empty", in: "", want: Wait{Kind: WaitNone}},
		{name: "none", in: "none", want: Wait{Kind: WaitNone}},
		{name: "zero", in: "0", want: Wait{Kind: WaitNone}},
		{name: "spaces", in: "  none ", want: Wait{Kind: WaitNone}},
		{name: "constant", in: "1s", want: Wait{Kind: WaitConstant, Min: time.Second}},
		{name: "constant zero with unit", in: "0s", want: Wait{Kind: WaitConstant}},
		{name: "constant fraction", in: "1.5s", want: Wait{Kind: WaitConstant, Min: 1500 * time.Millisecond}},
		{name: "between", in: "1s..3s", want: Wait{Kind: WaitBetween, Min: time.Second, Max: 3 * time.Second}},
		{name: "between equal", in: "2s..2s", want: Wait{Kind: WaitBetween, Min: 2 * time.Second, Max: 2 * time.Second}},
		{name: "pacing", in: "pacing:2s", want: Wait{Kind: WaitConstantPacing, Min: 2 * time.Second}},
		{name: "throughput", in: "throughput:5", want: Wait{Kind: WaitConstantThroughput, PerSecond: 5}},
		{name: "throughput fraction", in: "throughput:0.5", want: Wait{Kind: WaitConstantThroughput, PerSecond: 0.5}},

		{name: "between reversed", in: "3s..1s", wantErr: "want 0 <= min <= max"},
		{name: "between garbage", in: "1s..x", wantErr: "want MIN..MAX"},
		{name: "garbage", in: "x", wantErr: "want none, 1s"},
		{name: "number without unit", in: "5", wantErr: "want none, 1s"},
		{name: "negative constant", in: "-1s", wantErr: "negative duration"},
		{name: "throughput zero", in: "throughput:0", wantErr: "want tasks per second > 0"},
		{name: "throughput negative", in: "throughput:-2", wantErr: "want tasks per second > 0"},
		{name: "throughput NaN", in: "throughput:NaN", wantErr: "want tasks per second > 0"},
		{name: "throughput garbage", in: "throughput:fast", wantErr: `wait "throughput:fast"`},
		{name: "throughput too slow", in: "throughput:1e-12", wantErr: "longer than"},
		{name: "pacing negative", in: "pacing:-1s", wantErr: "negative duration"},
		{name: "pacing garbage", in: "pacing:soon", wantErr: `wait "pacing:soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseWait(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseWait(%q) = %+v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				if got != (Wait{}) {
					t.Errorf("ParseWait(%q) returned %+v with its error; want the zero Wait", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseWait(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseWait(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestWaitDelay(t *testing.T) {
	start := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		w       Wait
		elapsed time.Duration // how long the task took
		want    time.Duration
	}{
		{name: "zero value", w: Wait{}, elapsed: time.Second, want: 0},
		{name: "none", w: Wait{Kind: WaitNone}, elapsed: time.Second, want: 0},
		{name: "constant ignores task time", w: Wait{Kind: WaitConstant, Min: time.Second}, elapsed: 5 * time.Second, want: time.Second},
		{name: "between degenerate", w: Wait{Kind: WaitBetween, Min: time.Second, Max: time.Second}, want: time.Second},
		{name: "pacing subtracts elapsed", w: Wait{Kind: WaitConstantPacing, Min: 2 * time.Second}, elapsed: 500 * time.Millisecond, want: 1500 * time.Millisecond},
		{name: "pacing exact", w: Wait{Kind: WaitConstantPacing, Min: 2 * time.Second}, elapsed: 2 * time.Second, want: 0},
		{name: "pacing floors at 0", w: Wait{Kind: WaitConstantPacing, Min: 2 * time.Second}, elapsed: 3 * time.Second, want: 0},
		{name: "throughput 1/n", w: Wait{Kind: WaitConstantThroughput, PerSecond: 4}, want: 250 * time.Millisecond},
		{name: "throughput subtracts elapsed", w: Wait{Kind: WaitConstantThroughput, PerSecond: 4}, elapsed: 100 * time.Millisecond, want: 150 * time.Millisecond},
		{name: "throughput floors at 0", w: Wait{Kind: WaitConstantThroughput, PerSecond: 4}, elapsed: time.Second, want: 0},
		{name: "throughput below 1/s", w: Wait{Kind: WaitConstantThroughput, PerSecond: 0.5}, want: 2 * time.Second},
		{name: "throughput infinite", w: Wait{Kind: WaitConstantThroughput, PerSecond: math.Inf(1)}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(1, 2))
			if got := tt.w.Delay(start, start.Add(tt.elapsed), rnd); got != tt.want {
				t.Errorf("%+v.Delay(after %v) = %v, want %v", tt.w, tt.elapsed, got, tt.want)
			}
		})
	}
}

func TestWaitDelayBetweenStaysInRange(t *testing.T) {
	tests := []struct {
		name     string
		min, max time.Duration
	}{
		{name: "seconds", min: time.Second, max: 3 * time.Second},
		{name: "from zero", min: 0, max: time.Millisecond},
		{name: "one nanosecond apart", min: time.Second, max: time.Second + 1},
		{name: "widest", min: 0, max: math.MaxInt64}, // Max-Min+1 overflows int64
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := Wait{Kind: WaitBetween, Min: tt.min, Max: tt.max}
			rnd := rand.New(rand.NewPCG(42, 7))
			now := time.Now()
			lo, hi := tt.max, tt.min
			var sum float64
			const draws = 10000
			for range draws {
				d := w.Delay(now, now, rnd)
				if d < tt.min || d > tt.max {
					t.Fatalf("Delay = %v, outside [%v, %v]", d, tt.min, tt.max)
				}
				lo, hi = min(lo, d), max(hi, d)
				sum += float64(d)
			}
			// The draws spread over the range: both ends are approached and the mean
			// sits near the middle.
			span := tt.max - tt.min
			if lo-tt.min > span/10 || tt.max-hi > span/10 {
				t.Errorf("draws cover [%v, %v] of [%v, %v]", lo, hi, tt.min, tt.max)
			}
			mean := sum / draws
			mid := float64(tt.min) + float64(span)/2
			if math.Abs(mean-mid) > float64(span)/20+1 {
				t.Errorf("mean delay %v, want about %v", time.Duration(mean), time.Duration(mid))
			}
		})
	}
}

func TestWaitStringRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		w    Wait
		want string
	}{
		{name: "zero value", w: Wait{}, want: "none"},
		{name: "none", w: Wait{Kind: WaitNone}, want: "none"},
		{name: "constant", w: Wait{Kind: WaitConstant, Min: 1500 * time.Millisecond}, want: "1.5s"},
		{name: "constant zero", w: Wait{Kind: WaitConstant}, want: "0s"},
		{name: "between", w: Wait{Kind: WaitBetween, Min: time.Second, Max: 3 * time.Second}, want: "1s..3s"},
		{name: "between sub-second", w: Wait{Kind: WaitBetween, Min: 100 * time.Millisecond, Max: 2 * time.Minute}, want: "100ms..2m0s"},
		{name: "pacing", w: Wait{Kind: WaitConstantPacing, Min: 2 * time.Second}, want: "pacing:2s"},
		{name: "throughput", w: Wait{Kind: WaitConstantThroughput, PerSecond: 5}, want: "throughput:5"},
		{name: "throughput fraction", w: Wait{Kind: WaitConstantThroughput, PerSecond: 0.25}, want: "throughput:0.25"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.w.String()
			if s != tt.want {
				t.Errorf("String() = %q, want %q", s, tt.want)
			}
			back, err := ParseWait(s)
			if err != nil {
				t.Fatalf("ParseWait(%q): %v", s, err)
			}
			want := tt.w
			if want.Kind == "" {
				want.Kind = WaitNone
			}
			if back != want {
				t.Errorf("ParseWait(%q) = %+v, want %+v", s, back, want)
			}
		})
	}
}

func TestWaitValidate(t *testing.T) {
	tests := []struct {
		name    string
		w       Wait
		wantErr string
	}{
		{name: "zero value", w: Wait{}},
		{name: "unknown kind", w: Wait{Kind: "sometimes"}, wantErr: `unknown wait strategy "sometimes"`},
		{name: "between negative min", w: Wait{Kind: WaitBetween, Min: -1, Max: time.Second}, wantErr: "want 0 <= min <= max"},
		{name: "constant negative", w: Wait{Kind: WaitConstant, Min: -time.Second}, wantErr: "negative duration"},
		{name: "throughput tiny", w: Wait{Kind: WaitConstantThroughput, PerSecond: 1e-10}, wantErr: "longer than"},
		{name: "throughput smallest allowed", w: Wait{Kind: WaitConstantThroughput, PerSecond: 1.0 / maxThroughputInterval.Seconds()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.w.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}
