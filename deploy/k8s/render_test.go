package k8s_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// rendered is the output of one kustomization, every object decoded into its type.
type rendered struct {
	dir     string // relative to deploy/k8s, e.g. "overlays/prod"
	objects []runtime.Object

	namespaces  []*corev1.Namespace
	secrets     []*corev1.Secret
	configMaps  []*corev1.ConfigMap
	services    []*corev1.Service
	claims      []*corev1.PersistentVolumeClaim
	deployments []*appsv1.Deployment
	jobs        []*batchv1.Job
	pods        []*corev1.Pod
	autoscalers []*autoscalingv2.HorizontalPodAutoscaler
	budgets     []*policyv1.PodDisruptionBudget
	netpols     []*networkingv1.NetworkPolicy
	workloads   []*workload
}

// workload is anything that runs a pod: a Deployment's or Job's template, or a Pod.
type workload struct {
	kind, name, namespace string
	labels                map[string]string
	spec                  *corev1.PodSpec
}

func (w *workload) String() string { return w.kind + "/" + w.name }

// strictDecoder decodes YAML into the registered k8s.io/api types and fails on
// unknown or duplicate fields (case-sensitively, as the API server's strict
// field validation does). Only the API versions registered here are accepted.
var strictDecoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme,
		autoscalingv2.AddToScheme, policyv1.AddToScheme, networkingv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
}()

// kustomizations lists every directory under deploy/k8s with a kustomization.yaml
// (components excluded: they only build inside an overlay).
func kustomizations(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() != "kustomization.yaml" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var head struct{ Kind string }
		if err := yaml.Unmarshal(data, &head); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if head.Kind != "Component" {
			dirs = append(dirs, filepath.Dir(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(dirs)
	return dirs
}

// render builds dir with kustomize and decodes every object strictly.
func render(t *testing.T, dir string) *rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	r := &rendered{dir: dir}
	for _, res := range m.Resources() {
		y, err := res.AsYAML()
		if err != nil {
			t.Fatalf("%s: %s: %v", dir, res.CurId(), err)
		}
		obj, _, err := strictDecoder.Decode(y, nil, nil)
		if err != nil {
			t.Errorf("%s: %s does not decode strictly: %v", dir, res.CurId(), err)
			continue
		}
		r.add(t, obj)
	}
	if len(r.objects) == 0 {
		t.Fatalf("%s renders nothing", dir)
	}
	return r
}

func (r *rendered) add(t *testing.T, obj runtime.Object) {
	r.objects = append(r.objects, obj)
	switch o := obj.(type) {
	case *corev1.Namespace:
		r.namespaces = append(r.namespaces, o)
	case *corev1.Secret:
		r.secrets = append(r.secrets, o)
	case *corev1.ConfigMap:
		r.configMaps = append(r.configMaps, o)
	case *corev1.Service:
		r.services = append(r.services, o)
	case *corev1.PersistentVolumeClaim:
		r.claims = append(r.claims, o)
	case *appsv1.Deployment:
		r.deployments = append(r.deployments, o)
		r.workloads = append(r.workloads, &workload{"Deployment", o.Name, o.Namespace, o.Spec.Template.Labels, &o.Spec.Template.Spec})
	case *batchv1.Job:
		r.jobs = append(r.jobs, o)
		r.workloads = append(r.workloads, &workload{"Job", o.Name, o.Namespace, o.Spec.Template.Labels, &o.Spec.Template.Spec})
	case *corev1.Pod:
		r.pods = append(r.pods, o)
		r.workloads = append(r.workloads, &workload{"Pod", o.Name, o.Namespace, o.Labels, &o.Spec})
	case *autoscalingv2.HorizontalPodAutoscaler:
		r.autoscalers = append(r.autoscalers, o)
	case *policyv1.PodDisruptionBudget:
		r.budgets = append(r.budgets, o)
	case *networkingv1.NetworkPolicy:
		r.netpols = append(r.netpols, o)
	default:
		t.Errorf("%s: %T: no check covers this kind; add one", r.dir, obj)
	}
}

func (r *rendered) secret(name string) *corev1.Secret {
	for _, s := range r.secrets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (r *rendered) configMap(name string) *corev1.ConfigMap {
	for _, c := range r.configMaps {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (r *rendered) claim(name string) *corev1.PersistentVolumeClaim {
	for _, c := range r.claims {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (r *rendered) deployment(name string) *appsv1.Deployment {
	for _, d := range r.deployments {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// selected returns the workloads whose pods sel matches, in namespace ns.
func (r *rendered) selected(ns string, sel labels.Selector) []*workload {
	var out []*workload
	for _, w := range r.workloads {
		if w.namespace == ns && sel.Matches(labels.Set(w.labels)) {
			out = append(out, w)
		}
	}
	return out
}

func mustSelector(t reporter, what string, ls *metav1.LabelSelector) labels.Selector {
	if ls == nil || (len(ls.MatchLabels) == 0 && len(ls.MatchExpressions) == 0) {
		t.Errorf("%s: empty selector (it would select every pod)", what)
		return labels.Nothing()
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return labels.Nothing()
	}
	return sel
}

// secretData is the Secret's keys and values, from data and stringData.
func secretData(s *corev1.Secret) map[string]string {
	m := map[string]string{}
	for k, v := range s.Data {
		m[k] = string(v)
	}
	for k, v := range s.StringData {
		m[k] = v
	}
	return m
}

// containerPort finds the container's port that p (a name or number) designates.
func containerPort(c *corev1.Container, name string, number int32) (corev1.ContainerPort, bool) {
	for _, cp := range c.Ports {
		if (name != "" && cp.Name == name) || (name == "" && cp.ContainerPort == number) {
			return cp, true
		}
	}
	return corev1.ContainerPort{}, false
}

func hasPrefixPath(path, dir string) bool {
	dir = strings.TrimSuffix(dir, "/")
	return path == dir || strings.HasPrefix(path, dir+"/")
}
