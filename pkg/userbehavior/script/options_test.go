package script

import (
	"strings"
	"testing"
	"time"
)

func TestScriptThresholdsAndShape(t *testing.T) {
	p := mustCompile(t, Options{}, "main.star", `
def browse(u):
    pass

Shop = user(tasks=[browse])

thresholds = ["p95<300ms", "error_rate<1%"]

def shape(elapsed):
    if elapsed < 10:
        return (int(elapsed * 5), 5)
    if elapsed < 20:
        return 50
    return None
`)
	if got := p.Thresholds(); len(got) != 2 || got[0] != "p95<300ms" {
		t.Errorf("thresholds %q", got)
	}
	if !p.HasShape() {
		t.Fatal("no shape")
	}
	for _, tc := range []struct {
		at    time.Duration
		users int
		rate  float64
		ok    bool
	}{
		{0, 0, 5, true},
		{4 * time.Second, 20, 5, true},
		{15 * time.Second, 50, 0, true},
		{25 * time.Second, 0, 0, false},
	} {
		users, rate, ok, err := p.Shape(tc.at)
		if err != nil || users != tc.users || rate != tc.rate || ok != tc.ok {
			t.Errorf("shape(%v) = %d, %v, %v, %v; want %d, %v, %v", tc.at, users, rate, ok, err, tc.users, tc.rate, tc.ok)
		}
	}
}

func TestScriptShapeErrors(t *testing.T) {
	for name, tc := range map[string]struct{ src, want string }{
		"thresholds not a list":  {"thresholds = \"p95<1s\"", "thresholds must be a list of strings"},
		"threshold not a string": {"thresholds = [95]", "thresholds[0] must be a string"},
		"shape not a function":   {"shape = 3", "shape must be a function of one argument"},
		"shape two params":       {"def shape(a, b):\n    return None", "shape must be a function of one argument"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Compile(files("main.star", "def t(u):\n    pass\nU = user(tasks=[t])\n"+tc.src+"\n"), Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
	p := mustCompile(t, Options{}, "main.star", "def t(u):\n    pass\nU = user(tasks=[t])\ndef shape(e):\n    return 1 // 0\n")
	if _, _, _, err := p.Shape(time.Second); err == nil || !strings.Contains(err.Error(), "main.star") {
		t.Errorf("a failing shape() must name where: %v", err)
	}
	p = mustCompile(t, Options{}, "main.star", "def t(u):\n    pass\nU = user(tasks=[t])\ndef shape(e):\n    return (1, 2, 3)\n")
	if _, _, _, err := p.Shape(time.Second); err == nil {
		t.Error("a 3-tuple was accepted")
	}
}
