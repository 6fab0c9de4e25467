package script

import (
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/stampede-load/stampede/pkg/userbehavior"
)

func TestParseSLO(t *testing.T) {
	dict := func(kv ...any) *starlark.Dict {
		d := starlark.NewDict(len(kv) / 2)
		for i := 0; i < len(kv); i += 2 {
			var v starlark.Value
			switch x := kv[i+1].(type) {
			case string:
				v = starlark.String(x)
			case float64:
				v = starlark.Float(x)
			case int:
				v = starlark.MakeInt(x)
			}
			d.SetKey(starlark.String(kv[i].(string)), v)
		}
		return d
	}
	got, err := parseSLO(dict("ttft", "500ms", "itl.p99", "60ms", "e2e", 10, "tps", 20.0))
	want := userbehavior.SLO{TTFT: 500 * time.Millisecond, ITL: 60 * time.Millisecond, ITLQ: 0.99, E2E: 10 * time.Second, MinTPS: 20}
	if err != nil || *got != want {
		t.Errorf("parseSLO = %+v, %v; want %+v", got, err, want)
	}
	got, err = parseSLO(dict("itl", "50ms"))
	if err != nil || got.ITL != 50*time.Millisecond || got.ITLQ != 0 {
		t.Errorf("itl: %+v, %v; want the mean at 50ms", got, err)
	}
	for _, bad := range []struct {
		v    starlark.Value
		want string
	}{
		{starlark.String("ttft<500ms"), "want a dict"},
		{dict("ttfb", "1s"), `unknown objective "ttfb"`},
		{dict("ttft", "soon"), `want a positive duration such as "500ms"`},
		{dict("ttft", "-1s"), "want a positive duration"},
		{dict("itl.p0", "1s"), "itl.pNN"},
		{dict("itl.p101", "1s"), "itl.pNN"},
		{dict("tps", "fast"), "tps: want a positive number"},
	} {
		if _, err := parseSLO(bad.v); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("parseSLO(%v) = %v, want an error with %q", bad.v, err, bad.want)
		}
	}
}
