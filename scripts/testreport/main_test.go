package main

import (
	"strings"
	"testing"
)

// Lines of `go test -json`, as Go 1.26 prints them (times left out).
const (
	passing = `{"Action":"start","Package":"m/a"}
{"Action":"run","Package":"m/a","Test":"TestQuick"}
{"Action":"output","Package":"m/a","Test":"TestQuick","Output":"=== RUN   TestQuick\n"}
{"Action":"output","Package":"m/a","Test":"TestQuick","Output":"    a_test.go:5: chatter of a passing test\n"}
{"Action":"output","Package":"m/a","Test":"TestQuick","Output":"--- PASS: TestQuick (0.00s)\n"}
{"Action":"pass","Package":"m/a","Test":"TestQuick","Elapsed":0.01}
{"Action":"run","Package":"m/a","Test":"TestSlow"}
{"Action":"run","Package":"m/a","Test":"TestSlow/sub"}
{"Action":"pass","Package":"m/a","Test":"TestSlow/sub","Elapsed":2.5}
{"Action":"pass","Package":"m/a","Test":"TestSlow","Elapsed":2.5}
{"Action":"run","Package":"m/a","Test":"TestSkipped"}
{"Action":"skip","Package":"m/a","Test":"TestSkipped","Elapsed":0}
{"Action":"output","Package":"m/a","Output":"PASS\n"}
{"Action":"output","Package":"m/a","Output":"ok  \tm/a\t2.600s\n"}
{"Action":"pass","Package":"m/a","Elapsed":2.6}
{"Action":"start","Package":"m/none"}
{"Action":"output","Package":"m/none","Output":"?   \tm/none\t[no test files]\n"}
{"Action":"skip","Package":"m/none","Elapsed":0}
`
	failing = `{"Action":"start","Package":"m/b"}
{"Action":"run","Package":"m/b","Test":"TestBad"}
{"Action":"output","Package":"m/b","Test":"TestBad","Output":"=== RUN   TestBad\n"}
{"Action":"run","Package":"m/b","Test":"TestBad/case"}
{"Action":"output","Package":"m/b","Test":"TestBad/case","Output":"    b_test.go:9: got 3, want 4\n"}
{"Action":"output","Package":"m/b","Test":"TestBad/case","Output":"--- FAIL: TestBad/case (0.00s)\n"}
{"Action":"fail","Package":"m/b","Test":"TestBad/case","Elapsed":0}
{"Action":"output","Package":"m/b","Test":"TestBad","Output":"--- FAIL: TestBad (4.02s)\n"}
{"Action":"fail","Package":"m/b","Test":"TestBad","Elapsed":4.02}
{"Action":"output","Package":"m/b","Output":"FAIL\n"}
{"Action":"output","Package":"m/b","Output":"FAIL\tm/b\t4.100s\n"}
{"Action":"fail","Package":"m/b","Elapsed":4.1}
`
	buildFailure = `{"ImportPath":"m/c [m/c.test]","Action":"build-output","Output":"# m/c [m/c.test]\n"}
{"ImportPath":"m/c [m/c.test]","Action":"build-output","Output":"c.go:3:12: undefined: x\n"}
{"ImportPath":"m/c [m/c.test]","Action":"build-fail"}
{"Action":"start","Package":"m/c"}
{"Action":"output","Package":"m/c","Output":"FAIL\tm/c [build failed]\n"}
{"Action":"fail","Package":"m/c","Elapsed":0,"FailedBuild":"m/c [m/c.test]"}
`
	// The test binary was killed in the middle of a test: no result follows.
	cutShort = `{"Action":"start","Package":"m/d"}
{"Action":"run","Package":"m/d","Test":"TestHangs"}
{"Action":"output","Package":"m/d","Test":"TestHangs","Output":"=== RUN   TestHangs\n"}
{"Action":"output","Package":"m/d","Test":"TestHangs","Output":"    d_test.go:7: waiting for the worker\n"}
`
)

func TestReport(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		ok     bool
		want   []string // in the output, in this order
		absent []string
	}{
		{"passing", passing, true, []string{
			"ok  \tm/a\t2.600s\n", "?   \tm/none\t[no test files]\n",
			"slowest 2 of 3 tests:\n", "2.50s  m/a TestSlow\n", "0.01s  m/a TestQuick\n",
			"tests: 2 passed, 0 failed, 1 skipped\n"},
			[]string{"chatter of a passing test", "PASS\n", "failed:"}},
		{"a failing test is shown in full", passing + failing, false, []string{
			"ok  \tm/a", "=== RUN   TestBad\n", "    b_test.go:9: got 3, want 4\n", "--- FAIL: TestBad/case", "--- FAIL: TestBad (4.02s)\n",
			"FAIL\tm/b\t4.100s\n", "4.02s  m/b TestBad\n", "2.50s  m/a TestSlow\n",
			"failed: 1 tests, 1 packages\n  FAIL m/b TestBad\n  FAIL m/b\n", "tests: 2 passed, 1 failed, 1 skipped\n"}, nil},
		{"a build failure fails", buildFailure, false, []string{
			"# m/c [m/c.test]\n", "c.go:3:12: undefined: x\n", "FAIL\tm/c [build failed]\n", "  FAIL m/c\n", "tests: 0 passed, 0 failed, 0 skipped\n"}, nil},
		{"output that ends without a result fails", passing + cutShort, false, []string{
			"=== RUN   TestHangs\n", "waiting for the worker\n", "FAIL\tm/d\t(the output ended without the package's result)\n", "  FAIL m/d\n"}, nil},
		{"the go command's own lines pass through", "go: downloading example.com/x v1.0.0\n" + passing, true, []string{
			"go: downloading example.com/x v1.0.0\n", "ok  \tm/a"}, nil},
		{"no input: nothing failed", "", true, []string{"tests: 0 passed, 0 failed, 0 skipped\n"}, []string{"slowest"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, summary strings.Builder
			if ok := report(strings.NewReader(tt.in), &out, 2, &summary); ok != tt.ok {
				t.Errorf("report = %v, want %v", ok, tt.ok)
			}
			got := out.String()
			if !strings.HasSuffix(got, summary.String()) || !strings.HasSuffix(summary.String(), "skipped\n") {
				t.Errorf("the summary is not the output's end:\n%s", summary.String())
			}
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in this order):\n%s", w, got)
				}
				rest = rest[i+len(w):]
			}
			for _, a := range tt.absent {
				if strings.Contains(got, a) {
					t.Errorf("output has %q:\n%s", a, got)
				}
			}
		})
	}
}
