// Package flagenv fills a flag.FlagSet from, in rising precedence: the defaults the
// flags were declared with, a config file, STAMPEDE_* environment variables, and the
// command line. Both binaries load their Config through it, so the rules are the same
// everywhere.
//
// Concurrency: Parse is a plain function over the FlagSet it is given.
package flagenv

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// EnvName is the environment variable for a flag: spawn-rate -> STAMPEDE_SPAWN_RATE.
func EnvName(prefix, flagName string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse applies the config file named by configFlag (when that flag exists and is
// set, on the command line or in the environment), then the environment, then args.
// Single-letter aliases are not read from the environment. It returns the positional
// arguments left after the flags.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string, prefix, configFlag string) ([]string, error) {
	var errs []error
	file := getenv(EnvName(prefix, configFlag))
	if v, ok := scanFlag(args, configFlag); ok {
		file = v
	}
	if file != "" {
		if err := applyFile(fs, file, configFlag); err != nil {
			errs = append(errs, err)
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if len(f.Name) == 1 {
			return
		}
		if v := getenv(EnvName(prefix, f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", EnvName(prefix, f.Name), v, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return fs.Args(), nil
}

// scanFlag finds --name=value or --name value in args without parsing them.
func scanFlag(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == "--" {
			break
		}
		for _, p := range []string{"--" + name, "-" + name} {
			if v, ok := strings.CutPrefix(a, p+"="); ok {
				return v, true
			}
			if a == p && i+1 < len(args) {
				return args[i+1], true
			}
		}
	}
	return "", false
}

// applyFile reads "name = value" lines (# comments, blank lines allowed), as Locust's
// locust.conf does.
func applyFile(fs *flag.FlagSet, path, configFlag string) error {
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
		if name == configFlag || fs.Lookup(name) == nil {
			errs = append(errs, fmt.Errorf("%s:%d: unknown setting %q", path, n, name))
			continue
		}
		if err := fs.Set(name, value); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %s: %w", path, n, name, err))
		}
	}
	return errors.Join(errs...)
}
