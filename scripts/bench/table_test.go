package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

func TestMeasureSections(t *testing.T) {
	ok := section{"store", func() ([]row, error) {
		return []row{{name: "store append", unit: "intervals/s", values: []float64{1}, ratio: nan}}, nil
	}}
	broken := section{"generator", func() ([]row, error) {
		return nil, errors.New("scripts/bench-generator.sh: exit status 1")
	}}
	partial := section{"memory", func() ([]row, error) {
		return []row{{name: "idle user RSS", unit: "KiB/user", values: []float64{2}, ratio: nan}}, errors.New("usermem: signal: killed")
	}}
	lost := section{"master", func() ([]row, error) {
		return []row{{name: "master: CPU", unit: "cores", values: []float64{0.1}, ratio: nan, note: "REPORTS LOST: run 1"}},
			fmt.Errorf("%w: run 1", errReportsLost)
	}}
	tests := []struct {
		name     string
		smoke    bool
		skip     string
		sections []section
		wantErr  []string // in the error, in this order; none: no error
		wantNote []string // in the printed table
	}{
		{"all measured", true, "", []section{ok}, nil, nil},
		{"smoke: a section that fails to measure fails the table", true, "", []section{broken, ok},
			[]string{"1 section(s) failed", "generator: scripts/bench-generator.sh: exit status 1"},
			[]string{"note: generator: not measured: scripts/bench-generator.sh: exit status 1"}},
		{"smoke: a section measured in part fails too", true, "", []section{ok, partial},
			[]string{"memory: usermem: signal: killed"}, []string{"note: memory: measured in part: usermem: signal: killed"}},
		{"full run: a section that cannot run here is a note", false, "", []section{broken, ok},
			nil, []string{"note: generator: not measured"}},
		{"lost reports fail a full run", false, "", []section{ok, lost},
			[]string{"master: reports lost: run 1"}, []string{"REPORTS LOST"}},
		{"lost reports fail the smoke", true, "", []section{lost, broken},
			[]string{"2 section(s) failed", "master: reports lost", "generator:"}, nil},
		{"a skipped section is not run", true, "generator", []section{broken, ok}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tableConfig{smoke: tt.smoke, skip: map[string]bool{}}
			if tt.skip != "" {
				cfg.skip[tt.skip] = true
			}
			rows, err := measureSections(cfg, io.Discard, tt.sections)
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("error %v, want none", err)
			}
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("no error, want one")
				}
				assertInOrder(t, "error", err.Error(), tt.wantErr)
			}
			var table bytes.Buffer
			writeTable(&table, rows)
			assertInOrder(t, "table", table.String(), tt.wantNote)
		})
	}
}

// TestTableSmokeFailsWithoutMaster is the reproduction of issue 15: the table's
// smoke with only the generator section, and no master binary to run.
func TestTableSmokeFailsWithoutMaster(t *testing.T) {
	t.Chdir("../..") // the table runs ./scripts/bench-generator.sh
	t.Setenv("BENCH_MASTER", filepath.Join(t.TempDir(), "no-master"))
	var out bytes.Buffer
	err := tableCommand(context.Background(), []string{"-smoke", "-skip", "memory,merge,master,spawn,store,push"}, &out)
	if err == nil {
		t.Fatalf("table -smoke without a master: no error; printed:\n%s", out.String())
	}
	if !strings.Contains(err.Error(), "generator") {
		t.Errorf("error %q does not name the generator section", err)
	}
	if !strings.Contains(out.String(), "note: generator: not measured") {
		t.Errorf("the table lacks the generator's note:\n%s", out.String())
	}
}

func assertInOrder(t *testing.T, what, s string, want []string) {
	t.Helper()
	rest := s
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Errorf("%s lacks %q (in this order):\n%s", what, w, s)
			return
		}
		rest = rest[i+len(w):]
	}
}
