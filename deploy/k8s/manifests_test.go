package k8s_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// reporter is the part of *testing.T the checks use, so that TestChecksBite can
// collect what they report.
type reporter interface {
	Errorf(format string, args ...any)
}

// namespace is where every object lives.
const namespace = "stampede"

var tlsKeys = []string{"tls.crt", "tls.key", "ca.crt"}

// expectation is what issue 7 asks of each kustomization, and what its user must
// provide.
type expectation struct {
	// userSecrets are the Secrets (and their keys) the user creates before applying,
	// as deploy/k8s/README.md says: the manifests may use no other, and use all of them.
	userSecrets map[string][]string
	userClaims  []string // PersistentVolumeClaims made by another kustomization
	workers     int32    // fixed worker replicas; 0 when an autoscaler owns the count
	hpaMin      int32
	hpaMax      int32
	mtls        bool // master and workers authenticate each other with certificates
	guaranteed  bool // requests == limits on the Stampede containers
	job         bool // the master runs headless as a Job
}

var expectations = map[string]expectation{
	"base": {
		userSecrets: map[string][]string{"stampede-auth": {"token", "web-auth"}},
		hpaMin:      2, hpaMax: 10,
	},
	"overlays/dev": {workers: 1},
	"overlays/prod": {
		userSecrets: map[string][]string{"stampede-auth": {"token", "web-auth"},
			"stampede-master-tls": tlsKeys, "stampede-worker-tls": tlsKeys},
		hpaMin: 2, hpaMax: 20, mtls: true, guaranteed: true,
	},
	"overlays/job": {
		userSecrets: map[string][]string{"stampede-auth": {"token"}},
		workers:     2, job: true,
	},
	"overlays/job-results": {userClaims: []string{"stampede-results"}},
}

// TestManifests renders every kustomization under deploy/k8s, decodes each object
// strictly into its k8s.io/api type and checks it against the real binaries.
func TestManifests(t *testing.T) {
	bins := binaries(t)
	dirs := kustomizations(t)
	for name := range expectations {
		if !slices.Contains(dirs, name) {
			t.Errorf("expectations name %s, which has no kustomization.yaml", name)
		}
	}
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			exp, ok := expectations[dir]
			if !ok {
				t.Fatalf("%s is not in the expectations table: say what it must deploy", dir)
			}
			r := render(t, dir)
			checkRendered(t, r, exp, bins)
		})
	}
}

func checkRendered(t reporter, r *rendered, exp expectation, bins map[string]*binary) {
	checkNamespaces(t, r)
	checkReferences(t, r, exp)
	var masters, workers []*containerConfig
	for _, w := range r.workloads {
		checkPod(t, w)
		for _, c := range allContainers(w.spec) {
			checkContainerSecurity(t, w, c)
			checkResources(t, w, c)
			checkImage(t, w, c)
			cc := configOf(r, w, c, bins)
			for _, p := range cc.problems {
				t.Errorf("%s: %s", cc, p)
			}
			if cc.bin == nil {
				continue
			}
			if exp.guaranteed {
				checkGuaranteed(t, cc)
			}
			switch cc.bin.name {
			case "master":
				masters = append(masters, cc)
			case "worker":
				workers = append(workers, cc)
			}
		}
	}
	for _, m := range masters {
		checkMaster(t, r, m)
	}
	for _, w := range workers {
		checkWorker(t, r, w, masters)
	}
	checkDeployments(t, r)
	checkServices(t, r)
	checkAutoscalers(t, r)
	checkBudgets(t, r)
	checkNetworkPolicies(t, r)
	checkShape(t, r, exp, masters, workers)
}

func allContainers(spec *corev1.PodSpec) []*corev1.Container {
	var cs []*corev1.Container
	for i := range spec.InitContainers {
		cs = append(cs, &spec.InitContainers[i])
	}
	for i := range spec.Containers {
		cs = append(cs, &spec.Containers[i])
	}
	return cs
}

func checkNamespaces(t reporter, r *rendered) {
	for _, obj := range r.objects {
		m, err := metaOf(obj)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		kind := fmt.Sprintf("%T", obj)
		if _, isNS := obj.(*corev1.Namespace); isNS {
			if m.GetName() != namespace {
				t.Errorf("Namespace %q: want %q", m.GetName(), namespace)
			}
			if got := m.GetLabels()["pod-security.kubernetes.io/enforce"]; got != "restricted" {
				t.Errorf("Namespace %s: pod-security.kubernetes.io/enforce=%q, want restricted", m.GetName(), got)
			}
			continue
		}
		if m.GetNamespace() != namespace {
			t.Errorf("%s %s is in namespace %q, want %q", kind, m.GetName(), m.GetNamespace(), namespace)
		}
		if m.GetLabels()["app.kubernetes.io/name"] != "stampede" {
			t.Errorf("%s %s lacks the label app.kubernetes.io/name=stampede", kind, m.GetName())
		}
	}
}

func metaOf(obj runtime.Object) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no object metadata", obj)
	}
	return m, nil
}

// checkReferences: every Secret, ConfigMap and claim a pod uses is rendered or is
// one the user is told to create, with the keys used.
func checkReferences(t reporter, r *rendered, exp expectation) {
	usedSecrets := map[string]map[string]bool{}
	useSecret := func(name, key string) {
		if usedSecrets[name] == nil {
			usedSecrets[name] = map[string]bool{}
		}
		usedSecrets[name][key] = true
	}
	usedClaims := map[string]bool{}
	for _, w := range r.workloads {
		for _, v := range w.spec.Volumes {
			switch {
			case v.PersistentVolumeClaim != nil:
				name := v.PersistentVolumeClaim.ClaimName
				usedClaims[name] = true
				if r.claim(name) == nil && !slices.Contains(exp.userClaims, name) {
					t.Errorf("%s: volume %s claims %q, which is neither rendered nor expected to exist", w, v.Name, name)
				}
			case v.Secret != nil:
				if len(v.Secret.Items) == 0 {
					useSecret(v.Secret.SecretName, "")
				}
				for _, it := range v.Secret.Items {
					useSecret(v.Secret.SecretName, it.Key)
				}
			case v.ConfigMap != nil:
				if r.configMap(v.ConfigMap.Name) == nil {
					t.Errorf("%s: volume %s uses ConfigMap %q, which is not rendered", w, v.Name, v.ConfigMap.Name)
				}
			case v.EmptyDir != nil:
			default:
				t.Errorf("%s: volume %s: only PVC, emptyDir, Secret and ConfigMap volumes are expected", w, v.Name)
			}
		}
		for _, c := range allContainers(w.spec) {
			for _, m := range c.VolumeMounts {
				if !slices.ContainsFunc(w.spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name }) {
					t.Errorf("%s container %s mounts volume %q, which the pod lacks", w, c.Name, m.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if ref := e.ValueFrom.SecretKeyRef; ref != nil {
					useSecret(ref.Name, ref.Key)
				}
				if ref := e.ValueFrom.ConfigMapKeyRef; ref != nil {
					if cm := r.configMap(ref.Name); cm == nil {
						t.Errorf("%s: env %s uses ConfigMap %q, which is not rendered", w, e.Name, ref.Name)
					} else if _, ok := cm.Data[ref.Key]; !ok {
						t.Errorf("%s: env %s uses key %q that ConfigMap %s lacks", w, e.Name, ref.Key, ref.Name)
					}
				}
			}
		}
	}
	for name, keys := range usedSecrets {
		if s := r.secret(name); s != nil {
			if _, alsoUser := exp.userSecrets[name]; alsoUser {
				t.Errorf("Secret %s is rendered and also expected from the user", name)
			}
			data := secretData(s)
			for k := range keys {
				if _, ok := data[k]; k != "" && !ok {
					t.Errorf("Secret %s has no key %q, which a pod uses", name, k)
				}
			}
			continue
		}
		want, ok := exp.userSecrets[name]
		if !ok {
			t.Errorf("pods use Secret %q, which is neither rendered nor one the user is told to create", name)
			continue
		}
		for k := range keys {
			if k != "" && !slices.Contains(want, k) {
				t.Errorf("pods use key %q of Secret %s, which the user is not told to create", k, name)
			}
		}
	}
	for name, keys := range exp.userSecrets {
		for _, k := range keys {
			if !usedSecrets[name][k] && !usedSecrets[name][""] {
				t.Errorf("the user is told to create Secret %s with key %q, but no pod uses it", name, k)
			}
		}
	}
	for _, name := range exp.userClaims {
		if !usedClaims[name] {
			t.Errorf("claim %s is expected but no pod uses it", name)
		}
	}
}

func checkPod(t reporter, w *workload) {
	s := w.spec
	if s.EnableServiceLinks == nil || *s.EnableServiceLinks {
		t.Errorf("%s: enableServiceLinks must be false: Service stampede-master would inject STAMPEDE_MASTER_PORT=tcp://... and the binaries read every STAMPEDE_* variable as a flag", w)
	}
	if s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken must be false: Stampede needs no Kubernetes API access", w)
	}
	if s.HostNetwork || s.HostPID || s.HostIPC {
		t.Errorf("%s: uses host namespaces", w)
	}
}

// checkContainerSecurity: non-root, read-only root filesystem, no privilege
// escalation, no capabilities, a seccomp profile (the "restricted" standard).
func checkContainerSecurity(t reporter, w *workload, c *corev1.Container) {
	psc := w.spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	csc := c.SecurityContext
	if csc == nil {
		t.Errorf("%s container %s: no securityContext", w, c.Name)
		return
	}
	where := fmt.Sprintf("%s container %s", w, c.Name)
	nonRoot := firstBool(csc.RunAsNonRoot, psc.RunAsNonRoot)
	if nonRoot == nil || !*nonRoot {
		t.Errorf("%s: runAsNonRoot must be true", where)
	}
	if uid := firstInt(csc.RunAsUser, psc.RunAsUser); uid == nil || *uid == 0 {
		t.Errorf("%s: runAsUser must be set to a non-zero UID", where)
	}
	if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
		t.Errorf("%s: readOnlyRootFilesystem must be true", where)
	}
	if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation must be false", where)
	}
	if csc.Privileged != nil && *csc.Privileged {
		t.Errorf("%s: privileged", where)
	}
	if csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") || len(csc.Capabilities.Add) > 0 {
		t.Errorf("%s: capabilities must drop ALL and add none", where)
	}
	sp := csc.SeccompProfile
	if sp == nil {
		sp = psc.SeccompProfile
	}
	if sp == nil || (sp.Type != corev1.SeccompProfileTypeRuntimeDefault && sp.Type != corev1.SeccompProfileTypeLocalhost) {
		t.Errorf("%s: seccompProfile must be RuntimeDefault", where)
	}
}

func firstBool(vs ...*bool) *bool {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

func firstInt(vs ...*int64) *int64 {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

func checkResources(t reporter, w *workload, c *corev1.Container) {
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := c.Resources.Requests[name]
		lim, hasLim := c.Resources.Limits[name]
		if !hasReq || !hasLim {
			t.Errorf("%s container %s: set both a %s request and limit", w, c.Name, name)
			continue
		}
		if req.Cmp(lim) > 0 {
			t.Errorf("%s container %s: %s request %s above limit %s", w, c.Name, name, req.String(), lim.String())
		}
	}
}

func checkGuaranteed(t reporter, cc *containerConfig) {
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, lim := cc.c.Resources.Requests[name], cc.c.Resources.Limits[name]
		if req.Cmp(lim) != 0 {
			t.Errorf("%s: %s request %s != limit %s (want Guaranteed QoS)", cc, name, req.String(), lim.String())
		}
	}
	if cpu := cc.c.Resources.Limits[corev1.ResourceCPU]; cpu.MilliValue()%1000 != 0 {
		t.Errorf("%s: CPU limit %s is not whole cores (GOMAXPROCS follows it)", cc, cpu.String())
	}
}

func checkImage(t reporter, w *workload, c *corev1.Container) {
	img := c.Image
	if strings.Contains(img, "@sha256:") {
		return
	}
	i := strings.LastIndex(img, ":")
	if i < 0 || strings.Contains(img[i:], "/") || img[i+1:] == "latest" {
		t.Errorf("%s container %s: image %q needs a pinned tag or digest", w, c.Name, img)
	}
}

func checkDeployments(t reporter, r *rendered) {
	for _, d := range r.deployments {
		sel := mustSelector(t, "Deployment "+d.Name, d.Spec.Selector)
		if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("Deployment %s: selector %s does not match its pod labels", d.Name, sel)
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.PersistentVolumeClaim == nil {
				continue
			}
			pvc := r.claim(v.PersistentVolumeClaim.ClaimName)
			if pvc != nil && slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteOnce) {
				if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
					t.Errorf("Deployment %s: a ReadWriteOnce volume needs strategy Recreate (bbolt also locks its file)", d.Name)
				}
				if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
					t.Errorf("Deployment %s: a ReadWriteOnce volume allows 1 replica", d.Name)
				}
			}
		}
	}
}

// checkServices: each Service selects pods, and each port reaches a container port.
func checkServices(t reporter, r *rendered) {
	for _, s := range r.services {
		if len(s.Spec.Selector) == 0 {
			t.Errorf("Service %s has no selector", s.Name)
			continue
		}
		ws := r.selected(s.Namespace, labels.SelectorFromSet(s.Spec.Selector))
		if len(ws) == 0 {
			t.Errorf("Service %s selects no pod", s.Name)
		}
		for _, sp := range s.Spec.Ports {
			for _, w := range ws {
				if !podHasPort(w, sp.TargetPort, sp.Port) {
					t.Errorf("Service %s port %d: target %s is no container port of %s", s.Name, sp.Port, sp.TargetPort.String(), w)
				}
			}
		}
	}
}

func podHasPort(w *workload, target intstr.IntOrString, servicePort int32) bool {
	for _, c := range w.spec.Containers {
		switch {
		case target.Type == intstr.String:
			if _, ok := containerPort(&c, target.StrVal, 0); ok {
				return true
			}
		case target.IntVal == 0:
			if _, ok := containerPort(&c, "", servicePort); ok {
				return true
			}
		default:
			if _, ok := containerPort(&c, "", target.IntVal); ok {
				return true
			}
		}
	}
	return false
}

func checkAutoscalers(t reporter, r *rendered) {
	for _, h := range r.autoscalers {
		ref := h.Spec.ScaleTargetRef
		d := r.deployment(ref.Name)
		if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || d == nil {
			t.Errorf("HPA %s scales %s %s (%s), which is not a rendered apps/v1 Deployment", h.Name, ref.Kind, ref.Name, ref.APIVersion)
			continue
		}
		if d.Spec.Replicas != nil {
			t.Errorf("Deployment %s sets replicas while HPA %s scales it: every kubectl apply would reset the count and drain workers mid-run", d.Name, h.Name)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
			t.Errorf("HPA %s: want 1 <= minReplicas <= maxReplicas", h.Name)
		}
		for _, m := range h.Spec.Metrics {
			if m.Type != autoscalingv2.ResourceMetricSourceType || m.Resource == nil {
				continue
			}
			for _, c := range d.Spec.Template.Spec.Containers {
				if _, ok := c.Resources.Requests[m.Resource.Name]; !ok && m.Resource.Target.Type == autoscalingv2.UtilizationMetricType {
					t.Errorf("HPA %s: %s utilization needs a %s request on container %s", h.Name, m.Resource.Name, m.Resource.Name, c.Name)
				}
			}
		}
	}
}

func checkBudgets(t reporter, r *rendered) {
	for _, b := range r.budgets {
		if len(r.selected(b.Namespace, mustSelector(t, "PDB "+b.Name, b.Spec.Selector))) == 0 {
			t.Errorf("PDB %s selects no pod", b.Name)
		}
		if p := b.Spec.UnhealthyPodEvictionPolicy; p == nil || *p != "AlwaysAllow" {
			t.Errorf("PDB %s: unhealthyPodEvictionPolicy AlwaysAllow, or workers without a master block node drains", b.Name)
		}
	}
}

func checkNetworkPolicies(t reporter, r *rendered) {
	for _, np := range r.netpols {
		ws := r.selected(np.Namespace, mustSelector(t, "NetworkPolicy "+np.Name, &np.Spec.PodSelector))
		if len(ws) == 0 {
			t.Errorf("NetworkPolicy %s selects no pod", np.Name)
		}
		for _, rule := range np.Spec.Ingress {
			for _, p := range rule.Ports {
				if p.Port == nil {
					continue
				}
				for _, w := range ws {
					if !podHasPort(w, *p.Port, p.Port.IntVal) {
						t.Errorf("NetworkPolicy %s: port %s is no container port of %s", np.Name, p.Port.String(), w)
					}
				}
			}
		}
	}
}

// checkShape: what issue 7 asks of this kustomization.
func checkShape(t reporter, r *rendered, exp expectation, masters, workers []*containerConfig) {
	for _, cc := range append(slices.Clone(masters), workers...) {
		_, ca := cc.set("tls-ca")
		_, cert := cc.set("tls-cert")
		if exp.mtls && !(ca && cert) {
			t.Errorf("%s: want mutual TLS (--tls-cert, --tls-key, --tls-ca)", cc)
		}
		if !exp.mtls && (ca || cert) {
			t.Errorf("%s: no TLS expected here", cc)
		}
	}
	var fixedWorkers int32
	for _, d := range r.deployments {
		if !slices.ContainsFunc(workers, func(cc *containerConfig) bool { return cc.w.kind == "Deployment" && cc.w.name == d.Name }) {
			continue
		}
		scaled := slices.ContainsFunc(r.autoscalers, func(h *autoscalingv2.HorizontalPodAutoscaler) bool { return h.Spec.ScaleTargetRef.Name == d.Name })
		switch {
		case exp.workers == 0 && !scaled:
			t.Errorf("Deployment %s: no HPA scales the workers", d.Name)
		case exp.workers > 0 && scaled:
			t.Errorf("Deployment %s: no HPA wanted here", d.Name)
		case exp.workers > 0 && (d.Spec.Replicas == nil || *d.Spec.Replicas != exp.workers):
			t.Errorf("Deployment %s: want %d replicas", d.Name, exp.workers)
		}
		if d.Spec.Replicas != nil {
			fixedWorkers += *d.Spec.Replicas
		}
	}
	if exp.workers > 0 && fixedWorkers != exp.workers {
		t.Errorf("want %d workers, got %d", exp.workers, fixedWorkers)
	}
	for _, h := range r.autoscalers {
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != exp.hpaMin || h.Spec.MaxReplicas != exp.hpaMax {
			t.Errorf("HPA %s: want min %d max %d", h.Name, exp.hpaMin, exp.hpaMax)
		}
	}
	for _, cc := range workers {
		for _, m := range masters {
			if cc.c.Image != m.c.Image {
				t.Errorf("%s runs image %s, %s runs %s: master and workers must run the same build", cc, cc.c.Image, m, m.c.Image)
			}
		}
	}
	if len(workers) > 0 && len(masters) == 0 {
		t.Errorf("workers are deployed without a master")
	}
	if len(masters) > 1 {
		t.Errorf("%d masters: want one", len(masters))
	}
	for _, m := range masters {
		headless := m.boolValue("headless")
		if exp.job != (m.w.kind == "Job") || exp.job != headless {
			t.Errorf("%s: headless=%v; want the master as a headless Job: %v", m, headless, exp.job)
		}
		if m.w.kind == "Deployment" {
			if d := r.deployment(m.w.name); d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType || d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
				t.Errorf("%s: the master Deployment wants 1 replica and strategy Recreate", m)
			}
		}
		if m.w.kind == "Job" {
			checkJob(t, r, m, fixedWorkers)
		}
	}
}

// checkJob: a CI run is bounded, never retried, and waits for the workers deployed
// with it.
func checkJob(t reporter, r *rendered, m *containerConfig, workers int32) {
	for _, j := range r.jobs {
		if j.Name != m.w.name {
			continue
		}
		if j.Spec.BackoffLimit == nil || *j.Spec.BackoffLimit != 0 {
			t.Errorf("Job %s: backoffLimit must be 0: a retry is a second load test", j.Name)
		}
		if j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("Job %s: restartPolicy must be Never", j.Name)
		}
		var total time.Duration
		for _, f := range []string{"run-time", "expect-workers-max-wait", "stop-wait"} {
			v, _ := m.value(f)
			d, err := parseDuration(v)
			if err != nil || d <= 0 {
				t.Errorf("%s: --%s %q: a CI run must be bounded", m, f, v)
			}
			total += d
		}
		if ads := j.Spec.ActiveDeadlineSeconds; ads == nil || time.Duration(*ads)*time.Second <= total {
			t.Errorf("Job %s: activeDeadlineSeconds must exceed run-time + expect-workers-max-wait + stop-wait (%s)", j.Name, total)
		}
		v, _ := m.value("expect-workers")
		if n, err := strconv.Atoi(v); err != nil || int32(n) != workers {
			t.Errorf("%s: --expect-workers %q, but %d workers are deployed", m, v, workers)
		}
		if v, _ := m.value("local-workers"); v != "0" {
			t.Errorf("%s: --local-workers %q: want 0, the load comes from the worker pods", m, v)
		}
		for _, f := range []string{"json", "html"} {
			if v, _ := m.value(f); v == "" {
				t.Errorf("%s: --%s: a CI run keeps its %s on the results volume", m, f, f)
			}
		}
	}
}
