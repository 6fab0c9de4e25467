package threshold

import (
	"testing"
	"time"
)

// BenchmarkEval is one live evaluation (the master does it every second) of a typical set:
// percentiles over all endpoints and one endpoint, error rate, rps and a telemetry series.
func BenchmarkEval(b *testing.B) {
	ts, err := ParseAll([]string{"p95<100ms", "p99{name=/login}<300ms", "error_rate<1%", "rps>200", "worker.*.cpu<85%"})
	if err != nil {
		b.Fatal(err)
	}
	in := Input{Snapshot: runSnapshot(), Elapsed: time.Minute, Users: 50, Telemetry: telemetry()}
	b.ReportAllocs()
	for b.Loop() {
		EvalAll(ts, in, nil)
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("p99.9{method=POST,name=/api/x}<1s;abort=30s"); err != nil {
			b.Fatal(err)
		}
	}
}
