// Package flagenv fills a pflag.FlagSet from, in rising precedence: the defaults the
// flags were declared with, a config file, STAMPEDE_* environment variables, and the
// command line. Both binaries load their Config through it, so the rules are the same
// everywhere. It owns no flags and knows no command: cobra (in cmd/) parses the
// command line, then Apply fills in what the command line left unset.
//
// Concurrency: Parse, Apply and LongDashes are plain functions over the values they
// are given.
package flagenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// EnvName is the environment variable for a flag: spawn-rate -> STAMPEDE_SPAWN_RATE.
func EnvName(prefix, flagName string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args into fs, then applies the config file and the environment to
// the flags args did not set (Apply). It returns the positional arguments.
func Parse(fs *pflag.FlagSet, args []string, getenv func(string) string, prefix, configFlag string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := Apply(fs, getenv, prefix, configFlag); err != nil {
		return nil, err
	}
	return fs.Args(), nil
}

// Apply fills the flags the command line did not set (fs is already parsed) from the
// config file named by configFlag (when fs has that flag, set on the command line or
// in the environment), then from the environment, so the precedence is defaults <
// file < environment < command line. A repeatable flag set in the environment drops
// what the file gave it. Every problem is returned at once.
func Apply(fs *pflag.FlagSet, getenv func(string) string, prefix, configFlag string) error {
	fromArgs := map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { fromArgs[f.Name] = true })
	var errs []error
	fromFile := map[string]bool{}
	if cf := fs.Lookup(configFlag); cf != nil {
		file := cf.Value.String()
		if !fromArgs[configFlag] {
			file = getenv(EnvName(prefix, configFlag))
		}
		if file != "" {
			errs = append(errs, applyFile(fs, file, configFlag, fromArgs, fromFile))
		}
	}
	fs.VisitAll(func(f *pflag.Flag) {
		if fromArgs[f.Name] || f.Name == configFlag || f.Name == "help" {
			return
		}
		v := getenv(EnvName(prefix, f.Name))
		if v == "" {
			return
		}
		if r, ok := f.Value.(interface{ Replace([]string) error }); ok && fromFile[f.Name] {
			r.Replace(nil) // the environment's list replaces the file's
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", EnvName(prefix, f.Name), v, err))
		}
	})
	return errors.Join(errs...)
}

// applyFile reads "name = value" lines (# comments, blank lines allowed), as Locust's
// locust.conf does, into the flags the command line left alone.
func applyFile(fs *pflag.FlagSet, path, configFlag string, skip, set map[string]bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			errs = append(errs, fmt.Errorf("%s:%d: want name = value", path, n))
			continue
		}
		if name == configFlag || name == "help" || fs.Lookup(name) == nil {
			errs = append(errs, fmt.Errorf("%s:%d: unknown setting %q", path, n, name))
			continue
		}
		if skip[name] {
			continue
		}
		if err := fs.Set(name, value); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %s: %w", path, n, name, err))
		}
		set[name] = true
	}
	return errors.Join(errs...)
}

// LongDashes rewrites the single-dash long flags Go's flag package accepted
// (-users 5, -db=x) to the double-dash form pflag reads (--users 5), so command lines
// written for the old parser keep their meaning. isLong says whether a name is a long
// flag; arguments after "--" are left alone.
func LongDashes(args []string, isLong func(name string) bool) []string {
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range out {
		if a == "--" {
			break
		}
		if len(a) < 3 || a[0] != '-' || a[1] == '-' {
			continue
		}
		name, _, _ := strings.Cut(a[1:], "=")
		if len(name) > 1 && isLong(name) {
			out[i] = "-" + a
		}
	}
	return out
}
