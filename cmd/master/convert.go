package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/stampede-load/stampede/cmd/internal/cli"
	"github.com/stampede-load/stampede/pkg/har"
	"github.com/stampede-load/stampede/pkg/userbehavior/script"
)

// newConvertCommand is `master convert RECORDING.har -o load.star`: a first script
// from a browser recording.
func newConvertCommand(stdout io.Writer) *cobra.Command {
	var (
		out        string
		hosts      listFlag
		keepStatic bool
		class      string
		stepGap    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "convert RECORDING.har [flags]",
		Short: "Turn a browser recording (HAR) into a behaviour script: requests in order, think time, names, correlation",
		Long: `convert turns a HAR file (as a browser's DevTools export it) into a working script: one user
class whose tasks replay the recorded steps in order, think time from the recorded gaps,
dynamic URLs grouped with name=, bodies and needed headers kept, cookies left to each
user's jar, and values a response returned and a later request sent back read into u.vars.
Static assets and other hosts are left out unless asked for. The script is checked before
it is written.`,
		Example: `  master convert recording.har -o load.star
  master convert recording.har -o load.star --include-host api.example.test --keep-static`,
		Args: cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if stepGap < 0 {
				return fmt.Errorf("--step-gap must be >= 0, got %v", stepGap)
			}
			if err := convertRecording(args[0], out, har.Options{Source: filepath.Base(args[0]), IncludeHosts: hosts,
				KeepStatic: keepStatic, Class: class, StepGap: stepGap}, stdout); err != nil {
				return cli.Failure(err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "script file to write (default: standard output)")
	cmd.Flags().Var(&hosts, "include-host", "also keep requests to this host or host:port (repeatable)")
	cmd.Flags().BoolVar(&keepStatic, "keep-static", false, "keep static assets (styles, scripts, images, fonts, media)")
	cmd.Flags().StringVar(&class, "class", har.DefaultClass, "name of the user class")
	cmd.Flags().DurationVar(&stepGap, "step-gap", har.DefaultStepGap, "an idle gap this long (or a new page) starts a new task")
	return cmd
}

// convertRecording converts, checks that the script compiles, and writes it.
func convertRecording(path, out string, opts har.Options, stdout io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rec, err := har.Read(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	src, sum, err := har.Convert(rec, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	name := "load.star"
	if out != "" {
		name = filepath.Base(out)
	}
	if _, err := script.Compile(script.Bundle{Main: name, Files: map[string][]byte{name: []byte(src)}}, script.Options{}); err != nil {
		return fmt.Errorf("the converted script does not compile (a bug in convert: please report it): %w", err)
	}
	if out == "" {
		_, err := io.WriteString(stdout, src)
		return err
	}
	if err := os.WriteFile(out, []byte(src), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d requests in %d tasks, %d rows, %d correlated values, to %s\n",
		out, sum.Requests, sum.Steps, sum.Names, sum.Correlations, sum.Host)
	for _, reason := range slices.Sorted(maps.Keys(sum.Dropped)) {
		fmt.Fprintf(stdout, "  left out: %d %s\n", sum.Dropped[reason], reason)
	}
	fmt.Fprintf(stdout, "next: master check %s && master --headless -f %s -H %s --dry-run 1\n", out, out, sum.Host)
	return nil
}
