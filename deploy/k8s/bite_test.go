package k8s_test

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// recorder collects what the checks report.
type recorder struct{ msgs []string }

func (r *recorder) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

// TestChecksBite breaks one thing at a time in a rendered kustomization and
// expects the checks to say so: a check that passes everything checks nothing.
func TestChecksBite(t *testing.T) {
	bins := binaries(t)
	master := func(r *rendered) *corev1.Container {
		return &r.deployment("stampede-master").Spec.Template.Spec.Containers[0]
	}
	worker := func(r *rendered) *corev1.Container {
		return &r.deployment("stampede-worker").Spec.Template.Spec.Containers[0]
	}
	workerPod := func(r *rendered) *corev1.PodSpec { return &r.deployment("stampede-worker").Spec.Template.Spec }
	tests := []struct {
		name   string
		dir    string
		mutate func(r *rendered)
		want   string
	}{
		{"unknown variable", "overlays/prod", func(r *rendered) { setEnv(worker(r), "STAMPEDE_NO_SUCH_FLAG", "1") }, "STAMPEDE_NO_SUCH_FLAG: the worker has no flag"},
		{"one-letter variable", "overlays/prod", func(r *rendered) { setEnv(master(r), "STAMPEDE_U", "5") }, "STAMPEDE_U: the master has no flag"},
		{"unknown arg", "overlays/prod", func(r *rendered) { master(r).Args = []string{"--no-such-flag=1"} }, "has no flag --no-such-flag"},
		{"flag twice", "overlays/prod", func(r *rendered) { master(r).Args = []string{"--listen=:5557"} }, "--listen is set twice"},
		{"grace below drain", "overlays/prod", func(r *rendered) { g := int64(20); workerPod(r).TerminationGracePeriodSeconds = &g }, "must exceed --drain-timeout"},
		{"drain above grace", "overlays/prod", func(r *rendered) { setEnv(worker(r), "STAMPEDE_DRAIN_TIMEOUT", "45s") }, "must exceed --drain-timeout"},
		{"master killed before the last reports", "overlays/prod", func(r *rendered) { setEnv(master(r), "STAMPEDE_STOP_WAIT", "40s") }, "must exceed --stop-wait"},
		{"preStop", "overlays/prod", func(r *rendered) {
			worker(r).Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}}
		}, "preStop"},
		{"probe path", "overlays/prod", func(r *rendered) { master(r).ReadinessProbe.HTTPGet.Path = "/ready" }, `readiness probe hits "/ready"`},
		{"probe port", "overlays/prod", func(r *rendered) { worker(r).LivenessProbe.HTTPGet.Port = intstr.FromInt32(9090) }, "probe goes to port 9090"},
		{"no readiness probe", "overlays/prod", func(r *rendered) { worker(r).ReadinessProbe = nil }, "no readiness probe"},
		{"port against listen", "overlays/prod", func(r *rendered) { setEnv(master(r), "STAMPEDE_LISTEN", ":6000") }, "container port grpc is 5557"},
		{"loopback health", "overlays/prod", func(r *rendered) { setEnv(worker(r), "STAMPEDE_HEALTH_LISTEN", "127.0.0.1:8080") }, "is loopback"},
		{"no health listener", "overlays/prod", func(r *rendered) { unsetEnv(worker(r), "STAMPEDE_HEALTH_LISTEN") }, "--health-listen is not set"},
		{"no worker auth", "overlays/dev", func(r *rendered) { unsetEnv(master(r), "STAMPEDE_TOKEN") }, "neither --token nor mutual TLS"},
		{"insecure", "overlays/dev", func(r *rendered) { setEnv(master(r), "STAMPEDE_INSECURE", "true") }, "--insecure turns authentication off"},
		{"dashboard without password", "overlays/dev", func(r *rendered) { unsetEnv(master(r), "STAMPEDE_WEB_AUTH") }, "without --web-auth"},
		{"store on the root filesystem", "overlays/prod", func(r *rendered) { setEnv(master(r), "STAMPEDE_DB", "/var/lib/stampede.db") }, "is not on a writable volume"},
		{"worker without token", "overlays/prod", func(r *rendered) { unsetEnv(worker(r), "STAMPEDE_TOKEN") }, "asks for a token and the worker has none"},
		{"token from elsewhere", "overlays/prod", func(r *rendered) {
			worker(r).Env[envIndex(worker(r), "STAMPEDE_TOKEN")].ValueFrom.SecretKeyRef.Name = "mystery"
		}, `Secret "mystery", which is neither rendered nor one the user is told to create`},
		{"worker without client certificate", "overlays/prod", func(r *rendered) {
			unsetEnv(worker(r), "STAMPEDE_TLS_CERT")
			unsetEnv(worker(r), "STAMPEDE_TLS_KEY")
		}, "requires client certificates"},
		{"TLS key readable by all", "overlays/prod", func(r *rendered) {
			mode := int32(0o644)
			r.deployment("stampede-master").Spec.Template.Spec.Volumes[0].Secret.DefaultMode = &mode
		}, "readable by every user"},
		{"master on the web port", "overlays/prod", func(r *rendered) { setEnv(worker(r), "STAMPEDE_MASTER", "stampede-master:8089") }, "but the master's --listen is :5557"},
		{"master nowhere", "overlays/prod", func(r *rendered) { setEnv(worker(r), "STAMPEDE_MASTER", "nowhere:5557") }, `no Service "nowhere"`},
		{"service links", "overlays/prod", func(r *rendered) { workerPod(r).EnableServiceLinks = nil }, "enableServiceLinks must be false"},
		{"root", "overlays/prod", func(r *rendered) { f := false; workerPod(r).SecurityContext.RunAsNonRoot = &f }, "runAsNonRoot must be true"},
		{"writable root filesystem", "overlays/prod", func(r *rendered) { f := false; master(r).SecurityContext.ReadOnlyRootFilesystem = &f }, "readOnlyRootFilesystem must be true"},
		{"no limits", "overlays/prod", func(r *rendered) { master(r).Resources.Limits = nil }, "set both a cpu request and limit"},
		{"burstable in prod", "overlays/prod", func(r *rendered) { worker(r).Resources.Requests[corev1.ResourceCPU] = mustQuantity("1") }, "want Guaranteed QoS"},
		{"replicas under an autoscaler", "overlays/prod", func(r *rendered) { n := int32(2); r.deployment("stampede-worker").Spec.Replicas = &n }, "sets replicas while HPA"},
		{"latest image", "overlays/prod", func(r *rendered) { worker(r).Image = "ghcr.io/stampede-load/stampede:latest" }, "needs a pinned tag"},
		{"job on another tag", "overlays/job", func(r *rendered) {
			r.jobs[0].Spec.Template.Spec.Containers[0].Image = "ghcr.io/stampede-load/stampede:v0.0.9"
		}, "must run the same build"},
		{"rolling master", "overlays/prod", func(r *rendered) { r.deployment("stampede-master").Spec.Strategy.Type = "RollingUpdate" }, "needs strategy Recreate"},
		{"service to nowhere", "overlays/prod", func(r *rendered) { r.services[0].Spec.Ports[1].TargetPort = intstr.FromString("web") }, "target web is no container port"},
		{"no TLS in prod", "overlays/prod", func(r *rendered) {
			for _, c := range []*corev1.Container{master(r), worker(r)} {
				for _, n := range []string{"STAMPEDE_TLS_CERT", "STAMPEDE_TLS_KEY", "STAMPEDE_TLS_CA"} {
					unsetEnv(c, n)
				}
			}
		}, "want mutual TLS"},
		{"job expects other workers", "overlays/job", func(r *rendered) { n := int32(3); r.deployment("stampede-worker").Spec.Replicas = &n }, "but 3 workers are deployed"},
		{"job unbounded", "overlays/job", func(r *rendered) { r.configMaps[0].Data["STAMPEDE_RUN_TIME"] = "0" }, "a CI run must be bounded"},
		{"job retried", "overlays/job", func(r *rendered) { n := int32(6); r.jobs[0].Spec.BackoffLimit = &n }, "backoffLimit must be 0"},
		{"job report off the volume", "overlays/job", func(r *rendered) {
			r.jobs[0].Spec.Template.Spec.Containers[0].Args = []string{"--headless", "--local-workers=0", "--json=/out/summary.json", "--html=/report.html"}
		}, "--html /report.html is not on a writable volume"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := render(t, tt.dir)
			tt.mutate(r)
			var rec recorder
			checkRendered(&rec, r, expectations[tt.dir], bins)
			for _, m := range rec.msgs {
				if strings.Contains(m, tt.want) {
					return
				}
			}
			t.Errorf("no check reported %q; they said:\n%s", tt.want, strings.Join(rec.msgs, "\n"))
		})
	}
}

func envIndex(c *corev1.Container, name string) int {
	for i, e := range c.Env {
		if e.Name == name {
			return i
		}
	}
	return -1
}

func setEnv(c *corev1.Container, name, value string) {
	if i := envIndex(c, name); i >= 0 {
		c.Env[i] = corev1.EnvVar{Name: name, Value: value}
		return
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
}

func unsetEnv(c *corev1.Container, name string) {
	if i := envIndex(c, name); i >= 0 {
		c.Env = append(c.Env[:i], c.Env[i+1:]...)
	}
}

// TestStrictDecode: the decoder the manifests go through rejects what the API
// server's strict field validation rejects.
func TestStrictDecode(t *testing.T) {
	const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: x
spec:
  selector:
    matchLabels: {app: x}
  template:
    metadata:
      labels: {app: x}
    spec:
      containers:
        - name: x
          image: x:1
          %s
`
	tests := []struct {
		name, doc string
		ok        bool
	}{
		{"valid", fmt.Sprintf(deployment, "ports: [{containerPort: 1}]"), true},
		{"unknown field", fmt.Sprintf(deployment, "containerPorts: [{containerPort: 1}]"), false},
		{"wrong case", fmt.Sprintf(deployment, "Ports: [{containerPort: 1}]"), false},
		{"duplicate field", fmt.Sprintf(deployment, "ports: []\n          ports: []"), false},
		{"wrong type", fmt.Sprintf(deployment, "ports: [{containerPort: http}]"), false},
		{"retired API version", "apiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata: {name: x}\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := strictDecoder.Decode([]byte(tt.doc), nil, nil)
			if (err == nil) != tt.ok {
				t.Errorf("decode error %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }
