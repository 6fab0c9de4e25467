package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/stampede-load/stampede/cmd/internal/cli"
	"github.com/stampede-load/stampede/pkg/flagenv"
	"github.com/stampede-load/stampede/pkg/telemetry"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// Config is everything the worker can be told.
type Config struct {
	Master         string
	ID             string
	SilenceTimeout time.Duration
	StopTimeout    time.Duration
	LogLevel       string
	ConfigFile     string
	Agent          bool
	Scrape         []string // Prometheus endpoints of the system under test, read with every sample
	ScrapeMatch    []string // regular expressions on the metric names kept
	NoGPU          bool
	Token          string
	TLSCA          string
	TLSCert        string
	TLSKey         string
	TLSServerName  string
	DrainTimeout   time.Duration
	HealthListen   string
	HTTPClient     string
	MaxMemory      string // memory budget of the users: 512MiB, 2GiB; "" follows GOMEMLIMIT
}

func defaultConfig() Config {
	return Config{Master: "127.0.0.1:5557", SilenceTimeout: 5 * time.Second, StopTimeout: 10 * time.Second, LogLevel: "info",
		DrainTimeout: 25 * time.Second}
}

// registerFlags declares the worker's flags on fs, with cfg's values as defaults.
func registerFlags(fs *pflag.FlagSet, cfg *Config) {
	fs.StringVar(&cfg.Master, "master", cfg.Master, "master's worker address, host:port")
	fs.StringVar(&cfg.ID, "id", cfg.ID, "worker id; default HOSTNAME_RANDOM")
	fs.DurationVar(&cfg.SilenceTimeout, "silence-timeout", cfg.SilenceTimeout, "stop all users when the master has said nothing for this long")
	fs.DurationVar(&cfg.StopTimeout, "stop-timeout", cfg.StopTimeout, "at the end of a run, how long users may take to finish their current task, when the master does not say (an older master); a master sends its own --stop-timeout")
	fs.BoolVar(&cfg.Agent, "agent", cfg.Agent, "run on the system under test: send host and GPU telemetry only, generate no load")
	fs.BoolVar(&cfg.NoGPU, "no-gpu", cfg.NoGPU, "do not sample NVIDIA GPUs")
	fs.StringArrayVar(&cfg.Scrape, "scrape", cfg.Scrape, "read this Prometheus endpoint of the system under test with every telemetry sample, e.g. http://127.0.0.1:8000/metrics (repeatable)")
	fs.StringArrayVar(&cfg.ScrapeMatch, "scrape-match", cfg.ScrapeMatch, "keep only the scraped metrics whose name matches this regular expression, e.g. 'vllm:.*' (repeatable; default all)")
	fs.StringVar(&cfg.Token, "token", cfg.Token, "shared token the master asks for (prefer the STAMPEDE_TOKEN variable)")
	fs.StringVar(&cfg.TLSCA, "tls-ca", cfg.TLSCA, "CA certificate that signed the master's certificate: connect with TLS")
	fs.StringVar(&cfg.TLSCert, "tls-cert", cfg.TLSCert, "this worker's certificate, for mutual TLS")
	fs.StringVar(&cfg.TLSKey, "tls-key", cfg.TLSKey, "this worker's private key, for mutual TLS")
	fs.StringVar(&cfg.TLSServerName, "tls-server-name", cfg.TLSServerName, "name to verify the master's certificate against (default: the host of --master)")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "on SIGTERM, how long to wait for the master to move this worker's users before stopping anyway")
	fs.StringVar(&cfg.HealthListen, "health-listen", cfg.HealthListen, "serve /healthz and /readyz (ready = connected to a master) on this address, e.g. :8080")
	fs.StringVar(&cfg.HTTPClient, "http-client", cfg.HTTPClient, "HTTP client of the users: fasthttp (default) or nethttp (HTTP/2)")
	fs.StringVar(&cfg.MaxMemory, "max-memory", cfg.MaxMemory, "memory budget of the users (512MiB, 2GiB): past it no new user starts and the master is told; default 90% of GOMEMLIMIT when set, else none")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error (logs go to stderr)")
	fs.StringVar(&cfg.ConfigFile, "config", cfg.ConfigFile, "file of \"name = value\" lines, read before STAMPEDE_* variables and flags")
}

// parseConfig reads defaults < config file < STAMPEDE_* < flags, as the worker's
// root command does (newRootCommand), and validates the result.
func parseConfig(args []string, getenv func(string) string) (Config, error) {
	cfg := defaultConfig()
	fs := pflag.NewFlagSet("worker", pflag.ContinueOnError)
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
	if _, _, err := net.SplitHostPort(c.Master); err != nil {
		errs = append(errs, fmt.Errorf("--master %q: want host:port", c.Master))
	}
	if c.SilenceTimeout <= 0 || c.StopTimeout <= 0 || c.DrainTimeout <= 0 {
		errs = append(errs, errors.New("--silence-timeout, --stop-timeout and --drain-timeout must be > 0"))
	}
	if err := (userbehavior.HTTPConfig{Client: c.HTTPClient}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--http-client: %w", err))
	}
	if _, err := c.scraper(); err != nil {
		errs = append(errs, fmt.Errorf("--scrape: %w", err))
	}
	if _, err := c.maxMemory(); err != nil {
		errs = append(errs, err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if len(c.ID) > 256 {
		errs = append(errs, errors.New("--id longer than 256 bytes"))
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel))
	}
	return errors.Join(errs...)
}

func (c *Config) workerID() string {
	if c.ID != "" {
		return c.ID
	}
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return host + "_" + hex.EncodeToString(b)
}

// maxMemory is the users' memory budget in bytes (0: none): --max-memory, else 90% of
// GOMEMLIMIT when the runtime has one.
func (c *Config) maxMemory() (int64, error) {
	if c.MaxMemory == "" {
		if limit := debug.SetMemoryLimit(-1); limit < math.MaxInt64 {
			return limit / 10 * 9, nil
		}
		return 0, nil
	}
	s := strings.TrimSpace(c.MaxMemory)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(v), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("--max-memory %q: want a size such as 512MiB, 2GiB or 1073741824 (bytes)", c.MaxMemory)
	}
	return n * mult, nil
}

// scraper is the Scraper of --scrape, or nil without it.
func (c *Config) scraper() (*telemetry.Scraper, error) {
	if len(c.Scrape) == 0 {
		if len(c.ScrapeMatch) > 0 {
			return nil, errors.New("--scrape-match needs --scrape")
		}
		return nil, nil
	}
	return telemetry.NewScraper(telemetry.ScrapeConfig{URLs: c.Scrape, Match: c.ScrapeMatch, Timeout: 800 * time.Millisecond})
}
