package threshold

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzParse: Parse never panics; what it rejects is a one-line *ParseError; what it accepts
// prints (String) to an expression that parses back to the same threshold, and evaluates
// without panicking.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"p95<100ms", "p99{name=/login}<300ms", "p99.9{method=POST,name=/api/x}<1s", "error_rate<1%",
		"max(agent.api.cpu)<90%", "agent.api.mem_slope<1MiB/min", "worker.*.cpu<85%", "p95<=baseline*1.10",
		"p95<100ms;abort=30s", `p95{name="a,b}"}<1s`, "p95<100", "rps>-1", "agent.api.cpu_slope<-0.5%/s",
	} {
		f.Add(seed)
	}
	in := Input{Snapshot: runSnapshot(), Elapsed: time.Second, Users: 3, Telemetry: telemetry()}
	f.Fuzz(func(t *testing.T, s string) {
		th, err := Parse(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalid) || pe.Col < 1 {
				t.Fatalf("Parse(%q): error %v is not a *ParseError with a column", s, err)
			}
			if strings.ContainsAny(pe.Msg, "\n\r") {
				t.Fatalf("Parse(%q): error message spans lines: %q", s, pe.Msg)
			}
			return
		}
		text := th.String()
		if len(text) > MaxLength {
			return // quoting can lengthen an expression at the limit beyond it
		}
		again, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(%q) = %+v; its String() %q does not parse: %v", s, th, text, err)
		}
		again.Source = th.Source
		if !reflect.DeepEqual(again, th) {
			t.Fatalf("Parse(%q) round trip through %q:\n got %+v\nwant %+v", s, text, again, th)
		}
		if again.String() != text {
			t.Fatalf("String() not stable: %q then %q", text, again.String())
		}
		if strings.ContainsAny(text, "\n\r") {
			t.Fatalf("String() spans lines: %q", text)
		}
		r := th.Eval(in, &in)
		if r.Err != "" && r.Pass {
			t.Fatalf("%q passed without data: %+v", s, r)
		}
	})
}
