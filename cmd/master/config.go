package main

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/stampede-load/stampede/cmd/internal/cli"
	"github.com/stampede-load/stampede/pkg/flagenv"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// Exit codes.
const (
	exitOK      = cli.ExitOK
	exitFailure = cli.ExitFailure
	exitUsage   = cli.ExitUsage
)

// Config is everything the master can be told.
type Config struct {
	Headless         bool
	Users            int
	UsersGiven       bool // -u was given (a flag, STAMPEDE_USERS or the config file)
	SpawnRate        float64
	RunTime          time.Duration
	Host             string
	Method           string
	Headers          headerList
	Body             string
	GRPCMethod       string // grpcquick.go
	Proto            string
	Wait             string
	Demo             bool
	Script           string
	Vars             listFlag
	Tags             listFlag
	ExcludeTags      listFlag
	DryRun           int
	ExpectWorkers    int
	ExpectWorkersMax time.Duration
	LocalWorkers     int // -1: automatic
	HTTPClient       string
	DB               string
	Listen           string
	ListenGiven      bool // --listen was given (a flag, STAMPEDE_LISTEN or the config file)
	Insecure         bool
	JSON             string
	CSV              string // Locust's --csv PREFIX
	CSVFullHistory   bool
	OnlySummary      bool
	ExitCodeOnError  int
	Label            string
	HeartbeatTimeout time.Duration
	StopWait         time.Duration
	StopTimeout      time.Duration
	LogLevel         string
	ConfigFile       string
	HTML             string
	WebListen        string
	WebAuth          string
	WebInsecure      bool
	WebCacheRuns     int
	WebCacheTTL      time.Duration
	Token            string
	TLSCert          string
	TLSKey           string
	TLSCA            string
	MaxWorkers       int
	MinWorkers       int
	SaturationCPU    float64
	SchedLagLimit    time.Duration
	Load             loadFlags   // load shape, open model, thresholds, baseline, JUnit
	HTTP             httpFlags   // the run's HTTP measurement settings
	Export           exportFlags // remote-write (export.go)
	PprofListen      string
	LocustListen     string // locust.go
	LocustInsecure   bool
	LocustClasses    string
}

// headerList collects repeated --header "Name: value" flags.
type headerList []string

func (h *headerList) String() string            { return strings.Join(*h, ", ") }
func (h *headerList) Set(v string) error        { *h = append(*h, v); return nil }
func (h *headerList) Type() string              { return "stringArray" }
func (h *headerList) Replace(vs []string) error { *h = append((*h)[:0], vs...); return nil }

// listFlag collects a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Type() string   { return "strings" }
func (l *listFlag) Replace(vs []string) error {
	*l = (*l)[:0]
	for _, v := range vs {
		l.Set(v)
	}
	return nil
}
func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// givenInt is an int flag that remembers being given.
type givenInt struct {
	v     *int
	given *bool
}

func (g givenInt) String() string {
	if g.v == nil {
		return "0"
	}
	return strconv.Itoa(*g.v)
}
func (g givenInt) Type() string { return "int" }
func (g givenInt) Set(s string) error {
	n, err := strconv.ParseInt(s, 0, 0)
	if err != nil {
		return errors.New("want a whole number")
	}
	*g.v, *g.given = int(n), true
	return nil
}

// givenString is a string flag that remembers being given.
type givenString struct {
	v     *string
	given *bool
}

func (g givenString) String() string {
	if g.v == nil {
		return ""
	}
	return *g.v
}
func (g givenString) Type() string       { return "string" }
func (g givenString) Set(s string) error { *g.v, *g.given = s, true; return nil }

// runTime reads Locust-style durations: 90s, 20m, 1h30m, or plain seconds.
type runTime struct{ d *time.Duration }

func (r runTime) String() string {
	if r.d == nil || *r.d == 0 {
		return ""
	}
	return r.d.String()
}

func (r runTime) Type() string { return "duration" }

func (r runTime) Set(v string) error {
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(n) || n < 0 || n > 30*24*3600 {
			return errors.New("want a duration between 0 and 30 days")
		}
		*r.d = time.Duration(n * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return errors.New("want a duration such as 90s, 20m or 1h30m")
	}
	*r.d = d
	return nil
}

func defaultConfig() Config {
	return Config{Users: 1, SpawnRate: 1, Method: http.MethodGet, Wait: "none", LocalWorkers: -1,
		DB: "stampede.db", Listen: "127.0.0.1:5557", ExitCodeOnError: 1,
		HeartbeatTimeout: 3 * time.Second, StopWait: 20 * time.Second, LogLevel: "warn",
		WebListen: "127.0.0.1:8089", WebCacheRuns: 16, WebCacheTTL: 10 * time.Minute, MaxWorkers: 1000,
		SaturationCPU: 90, SchedLagLimit: 50 * time.Millisecond}
}

// registerFlags declares the run's flags on fs, with cfg's values as defaults.
func registerFlags(fs *pflag.FlagSet, cfg *Config) {
	fs.BoolVar(&cfg.Headless, "headless", cfg.Headless, "run without the web UI: start at once, print progress, exit when done")
	fs.VarP(givenInt{&cfg.Users, &cfg.UsersGiven}, "users", "u", "peak number of concurrent users, cluster-wide")
	fs.Float64VarP(&cfg.SpawnRate, "spawn-rate", "r", cfg.SpawnRate, "users started per second, cluster-wide")
	fs.VarP(runTime{&cfg.RunTime}, "run-time", "t", "stop after this long (90s, 20m, 1h30m); default: until Ctrl-C")
	fs.StringVarP(&cfg.Host, "host", "H", cfg.Host, "target: without a scenario, the URL every user requests (path and query included); with --demo, the base URL")
	fs.StringVar(&cfg.Method, "method", cfg.Method, "HTTP method of the plain user")
	fs.Var(&cfg.Headers, "header", "request header of the plain user, \"Name: value\" (repeatable; gRPC metadata with --grpc-method)")
	fs.StringVar(&cfg.Body, "body", cfg.Body, "request body of the plain user (with --grpc-method, the message as JSON); @FILE reads a file")
	fs.StringVar(&cfg.GRPCMethod, "grpc-method", cfg.GRPCMethod, "plain gRPC user: call package.Service/Method of --host grpc://host:port over and over (--body, --header as metadata)")
	fs.StringVar(&cfg.Proto, "proto", cfg.Proto, "with --grpc-method: the .proto file (its directory's .proto files ship too) or .protoset, for servers without reflection")
	fs.StringVar(&cfg.Wait, "wait", cfg.Wait, "wait between a user's requests: none, 1s, 1s..3s, pacing:2s, throughput:5")
	fs.BoolVar(&cfg.Demo, "demo", cfg.Demo, "run the demo: a built-in target on loopback (unless --host is given) and its user classes")
	fs.StringVarP(&cfg.Script, "script", "f", cfg.Script, "Starlark behaviour script; the files beside it ship with it as its bundle")
	fs.Var(&cfg.Vars, "var", "KEY=VALUE a script reads with env(\"KEY\", default) (repeatable)")
	fs.VarP(&cfg.Tags, "tags", "T", "run only script tasks with one of these tags (comma-separated, repeatable)")
	fs.VarP(&cfg.ExcludeTags, "exclude-tags", "E", "leave out script tasks with any of these tags")
	fs.IntVar(&cfg.DryRun, "dry-run", cfg.DryRun, "run every task of every user class N times against the host, print what happened, store nothing")
	fs.IntVar(&cfg.ExpectWorkers, "expect-workers", cfg.ExpectWorkers, "wait for this many workers (local ones included) before starting")
	fs.DurationVar(&cfg.ExpectWorkersMax, "expect-workers-max-wait", cfg.ExpectWorkersMax, "give up waiting for workers after this long; 0 waits forever")
	fs.IntVar(&cfg.LocalWorkers, "local-workers", cfg.LocalWorkers, "in-process workers; default 1 when no remote worker is expected, else 0")
	fs.StringVar(&cfg.HTTPClient, "http-client", cfg.HTTPClient, "HTTP client of local workers' users: fasthttp (default) or nethttp (HTTP/2)")
	fs.StringVar(&cfg.DB, "db", cfg.DB, "bbolt file that stores every run")
	fs.Var(givenString{&cfg.Listen, &cfg.ListenGiven}, "listen", "address workers connect to (gRPC); a headless run with local workers only and no --listen takes a free loopback port")
	fs.BoolVar(&cfg.Insecure, "insecure", cfg.Insecure, "allow --listen beyond loopback without authentication")
	fs.StringVar(&cfg.JSON, "json", cfg.JSON, "write a machine-readable summary of the run to this file")
	fs.StringVar(&cfg.CSV, "csv", cfg.CSV, "headless: write Locust's CSV files PREFIX_stats.csv, _stats_history.csv, _failures.csv and _exceptions.csv at the end")
	fs.BoolVar(&cfg.CSVFullHistory, "csv-full-history", cfg.CSVFullHistory, "with --csv: every endpoint's row in _stats_history.csv, not only the Aggregated one")
	fs.BoolVar(&cfg.OnlySummary, "only-summary", cfg.OnlySummary, "headless: print no progress lines, only the final summary")
	fs.IntVar(&cfg.ExitCodeOnError, "exit-code-on-error", cfg.ExitCodeOnError, "exit code when the run had any failed request or task exception (as Locust's)")
	fs.StringVar(&cfg.Label, "label", cfg.Label, "label stored with the run")
	fs.DurationVar(&cfg.HeartbeatTimeout, "heartbeat-timeout", cfg.HeartbeatTimeout, "a worker silent this long is lost and its users move to the others")
	fs.DurationVar(&cfg.StopWait, "stop-wait", cfg.StopWait, "how long to wait for the workers' final reports at the end, past --stop-timeout")
	fs.DurationVar(&cfg.StopTimeout, "stop-timeout", cfg.StopTimeout, "at the end of a run, how long users may finish their current task (sent to every worker); 0 stops them at once, cutting sleeps and requests in flight (counted as cancelled at stop, not failures)")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error (logs go to stderr)")
	fs.StringVar(&cfg.Token, "token", cfg.Token, "shared token every worker must present (prefer the STAMPEDE_TOKEN variable)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", cfg.TLSCert, "serve workers over TLS with this certificate")
	fs.StringVar(&cfg.TLSKey, "tls-key", cfg.TLSKey, "private key of --tls-cert")
	fs.StringVar(&cfg.TLSCA, "tls-ca", cfg.TLSCA, "CA that signs worker certificates: require mutual TLS")
	fs.IntVar(&cfg.MaxWorkers, "max-workers", cfg.MaxWorkers, "refuse workers beyond this many")
	fs.IntVar(&cfg.MinWorkers, "min-workers", cfg.MinWorkers, "abort a running test when fewer workers than this remain (0: never)")
	fs.Float64Var(&cfg.SaturationCPU, "saturation-cpu", cfg.SaturationCPU, "warn when a worker's CPU stays above this percent (its latency is not trustworthy)")
	fs.DurationVar(&cfg.SchedLagLimit, "sched-lag-limit", cfg.SchedLagLimit, "warn when a worker's user goroutines wait longer than this (p99) to run")
	fs.StringVar(&cfg.HTML, "html", cfg.HTML, "headless: write the run's self-contained HTML report to this file")
	fs.StringVar(&cfg.WebListen, "web-listen", cfg.WebListen, "address of the web dashboard (without --headless)")
	fs.StringVar(&cfg.WebAuth, "web-auth", cfg.WebAuth, "user:password the dashboard asks for (HTTP basic auth)")
	fs.BoolVar(&cfg.WebInsecure, "web-insecure", cfg.WebInsecure, "allow --web-listen beyond loopback without --web-auth")
	fs.IntVar(&cfg.WebCacheRuns, "web-cache-runs", cfg.WebCacheRuns, "stored runs the dashboard keeps decoded in memory")
	fs.DurationVar(&cfg.WebCacheTTL, "web-cache-ttl", cfg.WebCacheTTL, "how long the dashboard keeps a decoded stored run")
	cfg.Load.register(fs)
	cfg.HTTP.register(fs)
	cfg.Export.register(fs)
	registerPprof(fs, &cfg.PprofListen)
	fs.StringVar(&cfg.ConfigFile, "config", cfg.ConfigFile, "file of \"name = value\" lines, read before STAMPEDE_* variables and flags")
	locustFlags(fs, cfg)
}

// parseConfig reads defaults < config file < STAMPEDE_* < flags, as the master's root
// command does (newRootCommand), and validates the result.
func parseConfig(args []string, getenv func(string) string) (Config, error) {
	cfg := defaultConfig()
	fs := pflag.NewFlagSet("master", pflag.ContinueOnError)
	registerFlags(fs, &cfg)
	rest, err := flagenv.Parse(fs, args, getenv, cli.EnvPrefix, "config")
	if err != nil {
		return cfg, err
	}
	if len(rest) > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", rest[0])
	}
	return cfg, cfg.Validate()
}

// Validate returns every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Users < 0 || c.Users > 1_000_000 {
		errs = append(errs, fmt.Errorf("--users must be 0..1000000, got %d", c.Users))
	}
	if !(c.SpawnRate > 0) || c.SpawnRate > 1e6 {
		errs = append(errs, fmt.Errorf("--spawn-rate must be > 0, got %v", c.SpawnRate))
	}
	if c.RunTime < 0 || c.RunTime > 30*24*time.Hour {
		errs = append(errs, fmt.Errorf("--run-time must be between 0 and 30 days, got %v", c.RunTime))
	}
	if c.ExpectWorkersMax < 0 {
		errs = append(errs, fmt.Errorf("--expect-workers-max-wait must be >= 0, got %v", c.ExpectWorkersMax))
	}
	if c.Host == "" && !c.Demo && c.Script == "" && (c.Headless || c.DryRun > 0) {
		errs = append(errs, errors.New("--host is required (or --demo, or --script)"))
	}
	if c.Demo && c.Script != "" {
		errs = append(errs, errors.New("--demo and --script exclude each other"))
	}
	if _, err := c.vars(); err != nil {
		errs = append(errs, err)
	}
	if c.DryRun < 0 || c.DryRun > 1000 {
		errs = append(errs, fmt.Errorf("--dry-run must be 0..1000, got %d", c.DryRun))
	}
	if c.Host != "" && c.GRPCMethod == "" {
		if err := checkHost(c.Host, c.Script != ""); err != nil {
			errs = append(errs, fmt.Errorf("--host %w", err))
		}
	}
	errs = append(errs, c.validateGRPC()...)
	if _, err := userbehavior.ParseWait(c.Wait); err != nil {
		errs = append(errs, fmt.Errorf("--wait: %w", err))
	}
	if _, err := c.header(); err != nil {
		errs = append(errs, err)
	}
	if c.ExpectWorkers < 0 {
		errs = append(errs, fmt.Errorf("--expect-workers must be >= 0, got %d", c.ExpectWorkers))
	}
	if err := (userbehavior.HTTPConfig{Client: c.HTTPClient}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--http-client: %w", err))
	}
	if c.LocalWorkers < -1 || c.LocalWorkers > 64 {
		errs = append(errs, fmt.Errorf("--local-workers must be 0..64, got %d", c.LocalWorkers))
	}
	if c.ExitCodeOnError < 0 || c.ExitCodeOnError > 125 {
		errs = append(errs, fmt.Errorf("--exit-code-on-error must be 0..125, got %d", c.ExitCodeOnError))
	}
	if c.DB == "" {
		errs = append(errs, errors.New("--db must name a file"))
	}
	if c.CSVFullHistory && c.CSV == "" {
		errs = append(errs, errors.New("--csv-full-history goes with --csv PREFIX"))
	}
	if c.HeartbeatTimeout <= 0 || c.StopWait <= 0 {
		errs = append(errs, errors.New("--heartbeat-timeout and --stop-wait must be > 0"))
	}
	if c.StopTimeout < 0 {
		errs = append(errs, fmt.Errorf("--stop-timeout must be >= 0, got %v", c.StopTimeout))
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.TLSCA != "" && c.TLSCert == "" {
		errs = append(errs, errors.New("--tls-ca (mutual TLS) needs --tls-cert and --tls-key"))
	}
	if !(c.SaturationCPU > 0 && c.SaturationCPU <= 100) || c.SchedLagLimit <= 0 {
		errs = append(errs, errors.New("--saturation-cpu must be in (0, 100] and --sched-lag-limit > 0"))
	}
	if c.MaxWorkers < 1 || c.MinWorkers < 0 {
		errs = append(errs, errors.New("--max-workers must be >= 1 and --min-workers >= 0"))
	}
	if err := checkListen(c.Listen, c.Insecure || c.Token != "" || c.TLSCA != ""); err != nil {
		errs = append(errs, err)
	}
	if !c.Headless && c.DryRun == 0 {
		if err := checkWebListen(c.WebListen, c.WebAuth, c.WebInsecure); err != nil {
			errs = append(errs, err)
		}
	}
	if c.WebAuth != "" && !strings.Contains(c.WebAuth, ":") {
		errs = append(errs, errors.New("--web-auth must be user:password"))
	}
	if c.WebCacheRuns < 1 || c.WebCacheTTL <= 0 {
		errs = append(errs, errors.New("--web-cache-runs must be >= 1 and --web-cache-ttl > 0"))
	}
	errs = append(errs, c.Load.validate(c)...)
	errs = append(errs, c.Export.validate()...)
	if _, err := c.HTTP.options(); err != nil {
		errs = append(errs, err)
	}
	if err := checkPprof(c.PprofListen); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.validateLocust()...)
	return errors.Join(errs...)
}

// checkHost accepts an absolute http(s) URL; for a script, also grpc(s)://host:port
// and ws(s)://host[:port] (what u.grpc.connect() and u.ws.connect() default to).
func checkHost(h string, script bool) error {
	u, err := url.Parse(h)
	if err == nil && u.Host != "" {
		switch u.Scheme {
		case "http", "https":
			return nil
		case "grpc", "grpcs", "ws", "wss":
			if script {
				return nil
			}
			return fmt.Errorf("%q: a %s:// host needs --script (or, for grpc://, --grpc-method)", h, u.Scheme)
		}
	}
	return fmt.Errorf("%q is not an http(s) URL such as http://127.0.0.1:8080/path", h)
}

// loopback reports whether a listen address stays on this machine.
func loopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("%q: want host:port", addr)
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// checkWebListen refuses a dashboard reachable from other machines without a
// password unless the user opted out: the dashboard can start load against any host.
func checkWebListen(addr, auth string, insecure bool) error {
	local, err := loopback(addr)
	if err != nil {
		return fmt.Errorf("--web-listen %w", err)
	}
	if !local && auth == "" && !insecure {
		return fmt.Errorf("--web-listen %q is reachable beyond this machine and the dashboard can start load against any host: give --web-auth user:password, listen on 127.0.0.1, or pass --web-insecure on a trusted network", addr)
	}
	return nil
}

// checkListen refuses a non-loopback listener without authentication unless the user
// opted out with --insecure; authenticated is true with a token or mutual TLS.
func checkListen(addr string, authenticated bool) error {
	local, err := loopback(addr)
	if err != nil {
		return fmt.Errorf("--listen %w", err)
	}
	if !local && !authenticated {
		return fmt.Errorf("--listen %q is reachable beyond this machine and workers are not authenticated: anyone who connects could run load from here; give --token (or STAMPEDE_TOKEN), or mutual TLS (--tls-cert, --tls-key, --tls-ca), listen on 127.0.0.1, or pass --insecure on a trusted network", addr)
	}
	return nil
}

// localWorkers is how many in-process workers to start.
func (c *Config) localWorkers() int {
	if c.LocalWorkers >= 0 {
		return c.LocalWorkers
	}
	if c.ExpectWorkers > 0 || c.LocustListen != "" {
		return 0
	}
	return 1
}

// listen is the address workers connect to: a free loopback port for a headless
// run whose workers are all in-process and no --listen was given, so two such runs
// can run side by side.
func (c *Config) listen() string {
	if c.Headless && !c.ListenGiven && c.LocustListen == "" && c.localWorkers() > 0 && c.ExpectWorkers <= c.localWorkers() {
		return "127.0.0.1:0"
	}
	return c.Listen
}

// expectWorkers is how many workers the run waits for.
func (c *Config) expectWorkers() int {
	return max(c.ExpectWorkers, c.localWorkers(), 1)
}

func (c *Config) vars() (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range c.Vars {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--var %q: want KEY=VALUE", kv)
		}
		m[k] = v
	}
	return m, nil
}

func (c *Config) header() (http.Header, error) {
	h := http.Header{}
	for _, line := range c.Headers {
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("--header %q: want \"Name: value\"", line)
		}
		h.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return h, nil
}

func (c *Config) body() ([]byte, error) {
	if f, ok := strings.CutPrefix(c.Body, "@"); ok {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--body: %w", err)
		}
		return b, nil
	}
	if c.Body == "" {
		return nil, nil
	}
	return []byte(c.Body), nil
}
