package k8s_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// stage is one FROM section of the Dockerfile, continuation lines joined.
type stage struct {
	from, name string
	lines      []string
}

func (s stage) has(re string) bool {
	r := regexp.MustCompile(re)
	return slices.ContainsFunc(s.lines, r.MatchString)
}

func readDockerfile(t *testing.T, file string) []stage {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages []stage
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		if l, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(l + " ")
			continue
		}
		cur.WriteString(line)
		full := cur.String()
		cur.Reset()
		if fields := strings.Fields(full); strings.EqualFold(fields[0], "FROM") {
			fields = slices.DeleteFunc(fields[1:], func(s string) bool { return strings.HasPrefix(s, "--platform=") })
			st := stage{from: fields[0]}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				st.name = fields[2]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) > 0 {
			stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, full)
		}
	}
	return stages
}

// TestDockerfile checks what can be checked without a container engine: the image
// the manifests run has both binaries where their `command:` expects them, built
// statically, running as non-root, and a gpu target exists; every file the
// Dockerfile copies from the context exists and is not ignored.
func TestDockerfile(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	stages := readDockerfile(t, filepath.Join(root, "Dockerfile"))
	if len(stages) < 3 {
		t.Fatalf("Dockerfile: %d stages, want a multi-stage build", len(stages))
	}
	byName := map[string]stage{}
	for _, s := range stages {
		byName[s.name] = s
	}
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") || !strings.HasSuffix(final.from, ":nonroot") {
		t.Errorf("default image built FROM %s: want gcr.io/distroless/static-*:nonroot", final.from)
	}
	gpu, ok := byName["gpu"]
	if !ok {
		t.Fatal("no `gpu` target")
	}
	if !strings.HasPrefix(gpu.from, "gcr.io/distroless/base") {
		t.Errorf("gpu image FROM %s: want a glibc base (distroless/base) for go-nvml's dlopen", gpu.from)
	}
	for _, s := range []stage{final, gpu} {
		what := "stage " + s.name
		if s.name == "" {
			what = "default stage"
		}
		if !s.has(`^USER 65532(:65532)?$`) {
			t.Errorf("%s: want USER 65532:65532 (numeric, so runAsNonRoot can verify it)", what)
		}
		if !s.has(`^COPY --from=\S+ /out/master /out/worker /usr/local/bin/$`) {
			t.Errorf("%s: want both binaries in /usr/local/bin/, where the manifests' command looks", what)
		}
		builder := strings.TrimPrefix(regexp.MustCompile(`--from=(\S+)`).FindString(strings.Join(s.lines, "\n")), "--from=")
		b, ok := byName[builder]
		if !ok {
			t.Errorf("%s copies from %q, which is no stage", what, builder)
			continue
		}
		cgo := "0"
		if s.name == "gpu" {
			cgo = "1"
		}
		if !b.has(`CGO_ENABLED=`+cgo+`\b.*go build .*-o /out/\$cmd ./cmd/\$cmd`) || !b.has(`for cmd in master worker`) {
			t.Errorf("stage %s: want both commands built with CGO_ENABLED=%s", builder, cgo)
		}
	}
	// Every COPY from the build context names files that are there and not ignored.
	ignore := readLines(t, filepath.Join(root, ".dockerignore"))
	for _, s := range stages {
		for _, l := range s.lines {
			f := strings.Fields(l)
			if !strings.EqualFold(f[0], "COPY") || strings.HasPrefix(f[1], "--from") {
				continue
			}
			for _, src := range f[1 : len(f)-1] {
				if src == "." {
					continue
				}
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("Dockerfile copies %s: %v", src, err)
				}
				if slices.Contains(ignore, src) || slices.Contains(ignore, filepath.Dir(src)) {
					t.Errorf("Dockerfile copies %s, which .dockerignore leaves out", src)
				}
			}
		}
	}
	for _, must := range []string{".git", "web/node_modules", "web/vendor/*", "bin"} {
		if !slices.Contains(ignore, must) {
			t.Errorf(".dockerignore should leave out %s", must)
		}
	}
	for _, keep := range []string{"cmd", "pkg", "proto", "web", "go.mod", "go.sum"} {
		if slices.Contains(ignore, keep) {
			t.Errorf(".dockerignore leaves out %s, which the build needs", keep)
		}
	}
}

func readLines(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}
