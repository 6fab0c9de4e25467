package userbehavior

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestScenarioClasses(t *testing.T) {
	shop := []*Class{{Name: "Shopper", Weight: 1, Tasks: []Task{{Name: "t", Weight: 1, Fn: noop}}}}
	builtins := Builtins{"shop": func() []*Class { return shop }, "blog": func() []*Class { return nil }}
	tests := []struct {
		name      string
		sc        Scenario
		wantClass string // the one class's name
		wantErr   string
	}{
		{name: "quick", sc: Scenario{Quick: &QuickSpec{URL: "http://example.test/x"}}, wantClass: QuickClassName},
		{name: "builtin", sc: Scenario{Builtin: "shop"}, wantClass: "Shopper"},
		{name: "unknown builtin", sc: Scenario{Builtin: "bank"}, wantErr: `unknown built-in scenario "bank" (have: blog, shop)`},
		{name: "both", sc: Scenario{Builtin: "shop", Quick: &QuickSpec{URL: "http://example.test/x"}}, wantErr: "both a quick request and a built-in"},
		{name: "neither", sc: Scenario{Host: "http://example.test"}, wantErr: "scenario has nothing to run"},
		{name: "quick with a bad URL", sc: Scenario{Quick: &QuickSpec{URL: "/x"}}, wantErr: "is not absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := tt.sc.Classes(builtins)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Classes() = %v, %v; want error containing %q", cs, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cs) != 1 || cs[0].Name != tt.wantClass {
				t.Fatalf("Classes() = %v, want one class %q", cs, tt.wantClass)
			}
		})
	}
}

func TestQuickClass(t *testing.T) {
	tests := []struct {
		name    string
		spec    QuickSpec
		wantErr string
	}{
		{name: "plain", spec: QuickSpec{URL: "http://example.test/a?b=1"}},
		{name: "https with wait", spec: QuickSpec{URL: "https://example.test/", Wait: Wait{Kind: WaitConstant, Min: time.Second}}},
		{name: "no scheme", spec: QuickSpec{URL: "example.test/a"}, wantErr: "is not absolute"},
		{name: "no host", spec: QuickSpec{URL: "http:///a"}, wantErr: "is not absolute"},
		{name: "not http", spec: QuickSpec{URL: "ftp://example.test/a"}, wantErr: "scheme must be http or https"},
		{name: "bad wait", spec: QuickSpec{URL: "http://example.test/", Wait: Wait{Kind: WaitConstant, Min: -1}}, wantErr: "negative duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := QuickClass(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("QuickClass = %v; want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Name != QuickClassName || c.Wait != tt.spec.Wait || len(c.Tasks) != 1 {
				t.Errorf("QuickClass = %+v", c)
			}
		})
	}
}

func TestQuickUserRequest(t *testing.T) {
	// The plain user sends its method, headers and body, and records under path and query.
	ts := newTarget(t)
	c, err := QuickClass(QuickSpec{Method: "PATCH", URL: ts.URL + "/echo?q=1", Body: []byte("b"),
		Header: http.Header{"X-Test": {"quick"}}})
	if err != nil {
		t.Fatal(err)
	}
	eachClient(t, func(t *testing.T, kind string) {
		tc := newTestClient(t, newStack(t, kind), "")
		u := &User{ID: 1, Class: c, HTTP: tc.HTTPClient, Vars: map[string]any{}}
		if err := c.Tasks[0].Fn(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		snap := tc.recorded()
		st := snap.Endpoints[endpoint("PATCH", "/echo?q=1")]
		// The body is discarded, but its size tells that the target got what was sent.
		echo := "PATCH /echo q=1 host=" + strings.TrimPrefix(ts.URL, "http://") + " x-test=quick ct= body=b"
		if st == nil || st.Requests != 1 || st.Failures != 0 || st.Bytes != uint64(len(echo)) {
			t.Errorf("recorded %v: %+v, want one success of %d bytes", snap.Names(), st, len(echo))
		}
	})
}
