package userbehavior

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Scenario says what a run's users do: a plain repeated request (Quick) or a named
// set of classes compiled into the binaries (Builtin). The script engine adds a third
// kind.
type Scenario struct {
	Host    string // base URL for relative request URLs
	Builtin string
	Quick   *QuickSpec
	Script  *ScriptSpec
	HTTP    HTTPOptions // the run's measurement settings, on top of the worker's HTTPConfig
}

// HTTPOptions are the HTTP settings a run asks of every worker (the rest of a
// worker's HTTPConfig, such as its client, is the worker's own).
type HTTPOptions struct {
	Timings            bool
	ServerTimeHeader   string
	MaxBody            int64 // 0: the worker's
	InsecureSkipVerify bool
	TraceContext       bool    // a W3C traceparent on every request (HTTPConfig.TraceContext)
	TraceSample        float64 // the share of those marked sampled
}

// Apply returns c with the run's options laid over it.
func (o HTTPOptions) Apply(c HTTPConfig) HTTPConfig {
	c.Timings = c.Timings || o.Timings
	c.InsecureSkipVerify = c.InsecureSkipVerify || o.InsecureSkipVerify
	if o.TraceContext {
		c.TraceContext, c.TraceSample = true, o.TraceSample
	}
	if o.ServerTimeHeader != "" {
		c.ServerTimeHeader = o.ServerTimeHeader
	}
	if o.MaxBody != 0 {
		c.MaxBody = o.MaxBody
	}
	return c
}

// ScriptSpec is a behaviour script as shipped to workers: the bundle of files and
// what the run adds to it. Package userbehavior/script compiles it.
type ScriptSpec struct {
	Main        string            // path of the main script within Files
	Files       map[string][]byte // the bundle, slash-separated relative paths
	Vars        map[string]string // env(NAME, default)
	Tags        []string
	ExcludeTags []string
	SetupData   []byte // what the script's setup(ctx) returned for this run, as JSON: u.setup
}

// Builtins maps a built-in scenario name to the function that makes its classes.
type Builtins map[string]func() []*Class

// Classes returns the scenario's user classes.
func (s Scenario) Classes(builtins Builtins) ([]*Class, error) {
	switch {
	case s.Script != nil:
		return nil, errors.New("a script scenario is compiled by package userbehavior/script")
	case s.Quick != nil && s.Builtin != "":
		return nil, errors.New("scenario is both a quick request and a built-in")
	case s.Quick != nil:
		c, err := QuickClass(*s.Quick)
		if err != nil {
			return nil, err
		}
		return []*Class{c}, nil
	case s.Builtin != "":
		build, ok := builtins[s.Builtin]
		if !ok {
			names := builtinNames(builtins)
			return nil, fmt.Errorf("unknown built-in scenario %q (have: %s)", s.Builtin, names)
		}
		return build(), nil
	}
	return nil, errors.New("scenario has nothing to run")
}

func builtinNames(b Builtins) string {
	names := make([]string, 0, len(b))
	for n := range b {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
