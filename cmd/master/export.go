package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/stampede-load/stampede/pkg/export"
)

// exportFlags are the remote-write settings (docs/export.md).
type exportFlags struct {
	URLs        []string
	Headers     headerList
	Auth        string
	CA          string
	Cert, Key   string
	InsecureTLS bool
	Interval    time.Duration
	Tags        []string
}

func (e *exportFlags) register(fs *pflag.FlagSet) {
	if e.Interval == 0 {
		e.Interval = 5 * time.Second
	}
	fs.StringArrayVar(&e.URLs, "remote-write", e.URLs, "push the live run's series to this Prometheus remote-write URL, e.g. http://127.0.0.1:9090/api/v1/write (repeatable)")
	fs.Var(&e.Headers, "remote-write-header", "header on every remote-write push, \"Name: value\" (repeatable)")
	fs.StringVar(&e.Auth, "remote-write-auth", e.Auth, "user:password for remote-write pushes (HTTP basic auth)")
	fs.StringVar(&e.CA, "remote-write-ca", e.CA, "CA certificate (PEM) that signs the remote-write receiver's certificate")
	fs.StringVar(&e.Cert, "remote-write-cert", e.Cert, "client certificate (PEM) for remote-write pushes (mutual TLS)")
	fs.StringVar(&e.Key, "remote-write-key", e.Key, "private key of --remote-write-cert")
	fs.BoolVar(&e.InsecureTLS, "remote-write-insecure-tls", e.InsecureTLS, "accept any TLS certificate from the remote-write receiver")
	fs.DurationVar(&e.Interval, "remote-write-interval", e.Interval, "how often the live run's series are pushed")
	fs.StringArrayVar(&e.Tags, "tag", e.Tags, "key=value label on every remote-written series, e.g. testid=checkout-42 (repeatable; not --tags)")
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// reservedLabels are the labels Stampede's series carry themselves.
var reservedLabels = map[string]bool{"run_id": true, "label": true, "method": true, "name": true, "error": true,
	"host": true, "role": true, "gpu": true, "threshold": true}

func (e *exportFlags) validate() []error {
	var errs []error
	for _, u := range e.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("--remote-write %q is not an http(s) URL such as http://127.0.0.1:9090/api/v1/write", u))
		}
	}
	if _, err := e.tags(); err != nil {
		errs = append(errs, err)
	}
	if len(e.URLs) == 0 && (len(e.Headers) > 0 || e.Auth != "" || e.CA != "" || e.Cert != "" || e.InsecureTLS || len(e.Tags) > 0) {
		errs = append(errs, errors.New("--remote-write-* and --tag need --remote-write URL"))
	}
	if e.Auth != "" && !strings.Contains(e.Auth, ":") {
		errs = append(errs, errors.New("--remote-write-auth must be user:password"))
	}
	if (e.Cert == "") != (e.Key == "") {
		errs = append(errs, errors.New("--remote-write-cert and --remote-write-key go together"))
	}
	if e.Interval < 100*time.Millisecond || e.Interval > time.Hour {
		errs = append(errs, fmt.Errorf("--remote-write-interval must be between 100ms and 1h, got %v", e.Interval))
	}
	for _, h := range e.Headers {
		if name, _, ok := strings.Cut(h, ":"); !ok || strings.TrimSpace(name) == "" {
			errs = append(errs, fmt.Errorf("--remote-write-header %q: want \"Name: value\"", h))
		}
	}
	return errs
}

func (e *exportFlags) tags() (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range e.Tags {
		k, v, ok := strings.Cut(kv, "=")
		switch {
		case !ok || !labelName.MatchString(k) || strings.HasPrefix(k, "__"):
			return nil, fmt.Errorf("--tag %q: want key=value with a Prometheus label name as key (script task tags are --tags)", kv)
		case reservedLabels[k]:
			return nil, fmt.Errorf("--tag %q: %s is a label Stampede sets itself", kv, k)
		}
		m[k] = v
	}
	return m, nil
}

// exporter returns the remote-write exporter the flags ask for, started; nil without --remote-write.
func (e *exportFlags) exporter(log *slog.Logger) (*export.Exporter, error) {
	if len(e.URLs) == 0 {
		return nil, nil
	}
	tags, err := e.tags()
	if err != nil {
		return nil, err
	}
	cfg := export.Config{URLs: e.URLs, Interval: e.Interval, Tags: tags, Logger: log}
	for _, h := range e.Headers {
		name, value, _ := strings.Cut(h, ":")
		if cfg.Header == nil {
			cfg.Header = map[string][]string{}
		}
		cfg.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	cfg.User, cfg.Password, _ = strings.Cut(e.Auth, ":")
	if e.CA != "" || e.Cert != "" || e.InsecureTLS {
		tc := &tls.Config{InsecureSkipVerify: e.InsecureTLS}
		if e.CA != "" {
			pem, err := os.ReadFile(e.CA)
			if err != nil {
				return nil, fmt.Errorf("--remote-write-ca: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--remote-write-ca %s: no PEM certificate in it", e.CA)
			}
		}
		if e.Cert != "" {
			c, err := tls.LoadX509KeyPair(e.Cert, e.Key)
			if err != nil {
				return nil, fmt.Errorf("--remote-write-cert: %w", err)
			}
			tc.Certificates = []tls.Certificate{c}
		}
		cfg.TLS = tc
	}
	exp, err := export.New(cfg)
	if err != nil {
		return nil, err
	}
	exp.Start()
	return exp, nil
}

// flushExport sends what remote-write still holds (the run's last state) within
// a bounded time and says how the pushes went.
func flushExport(exp *export.Exporter, out io.Writer) {
	if exp == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := exp.Close(ctx)
	s := exp.Stats()
	fmt.Fprintf(out, "remote-write: %d pushes accepted, %d dropped\n", s.Pushed, s.Dropped)
	if err != nil {
		fmt.Fprintf(out, "WARNING: %v (the run's own figures are complete; the receiver's are not)\n", err)
	}
}
