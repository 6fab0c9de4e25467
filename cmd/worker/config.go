package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/stampede-load/stampede/pkg/flagenv"
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
	NoGPU          bool
}

func defaultConfig() Config {
	return Config{Master: "127.0.0.1:5557", SilenceTimeout: 5 * time.Second, StopTimeout: 10 * time.Second, LogLevel: "info"}
}

func parseConfig(args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.StringVar(&cfg.Master, "master", cfg.Master, "master's worker address, host:port")
	fs.StringVar(&cfg.ID, "id", cfg.ID, "worker id; default HOSTNAME_RANDOM")
	fs.DurationVar(&cfg.SilenceTimeout, "silence-timeout", cfg.SilenceTimeout, "stop all users when the master has said nothing for this long")
	fs.DurationVar(&cfg.StopTimeout, "stop-timeout", cfg.StopTimeout, "at the end of a run, how long users may take to finish their current task")
	fs.BoolVar(&cfg.Agent, "agent", cfg.Agent, "run on the system under test: send host and GPU telemetry only, generate no load")
	fs.BoolVar(&cfg.NoGPU, "no-gpu", cfg.NoGPU, "do not sample NVIDIA GPUs")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error (logs go to stderr)")
	fs.StringVar(&cfg.ConfigFile, "config", cfg.ConfigFile, "file of \"name = value\" lines, read before STAMPEDE_* variables and flags")
	rest, err := flagenv.Parse(fs, args, getenv, "STAMPEDE_", "config")
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
	if c.SilenceTimeout <= 0 || c.StopTimeout <= 0 {
		errs = append(errs, errors.New("--silence-timeout and --stop-timeout must be > 0"))
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
