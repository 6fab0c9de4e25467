package k8s_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// TestScaleOnHint renders the prod overlay with the scale-on-hint component, as
// deploy/k8s/README.md tells people to, and checks the autoscaler then follows the
// master's gauge (which TestManifestsRun finds on /metrics).
func TestScaleOnHint(t *testing.T) {
	bins := binaries(t)
	dir := t.TempDir()
	rel := func(p string) string { // kustomize takes no absolute paths
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		r, err := filepath.Rel(dir, a)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	k := fmt.Sprintf("resources:\n  - %s\ncomponents:\n  - %s\n", rel("overlays/prod"), rel("components/scale-on-hint"))
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	r := render(t, dir)
	checkRendered(t, r, expectations["overlays/prod"], bins)
	if len(r.autoscalers) != 1 {
		t.Fatalf("%d autoscalers, want 1", len(r.autoscalers))
	}
	m := r.autoscalers[0].Spec.Metrics
	if len(m) != 1 || m[0].Type != autoscalingv2.ExternalMetricSourceType || m[0].External.Metric.Name != "stampede_workers_wanted" ||
		m[0].External.Target.Type != autoscalingv2.AverageValueMetricType || m[0].External.Target.AverageValue.String() != "1" {
		t.Errorf("HPA metrics %+v: want the external metric stampede_workers_wanted, average value 1", m)
	}
}

// TestJobOverride renders a CI overlay on top of the job overlay as
// deploy/k8s/README.md shows it, and checks the run's settings reach the Job.
func TestJobOverride(t *testing.T) {
	bins := binaries(t)
	dir := t.TempDir()
	job, err := filepath.Abs("overlays/job")
	if err != nil {
		t.Fatal(err)
	}
	job, err = filepath.Rel(dir, job)
	if err != nil {
		t.Fatal(err)
	}
	k := "resources:\n  - " + job + `
configMapGenerator:
  - name: stampede-run
    behavior: merge
    literals:
      - STAMPEDE_HOST=http://my-service.my-ns.svc:8080/
      - STAMPEDE_RUN_TIME=5m
`
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	r := render(t, dir)
	checkRendered(t, r, expectations["overlays/job"], bins)
	if len(r.jobs) != 1 {
		t.Fatalf("%d Jobs, want 1", len(r.jobs))
	}
	var master *containerConfig
	for _, w := range r.workloads {
		if w.kind == "Job" {
			master = configOf(r, w, &w.spec.Containers[0], bins)
		}
	}
	for flag, want := range map[string]string{"host": "http://my-service.my-ns.svc:8080/", "run-time": "5m", "users": "100"} {
		if got, _ := master.value(flag); got != want {
			t.Errorf("--%s = %q, want %q", flag, got, want)
		}
	}
}
