package k8s_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestManifestsRun starts the master and worker binaries, as local processes on
// loopback, with the configuration each kustomization gives its containers: the
// same flags and STAMPEDE_* variables, Secrets and ConfigMaps resolved, volumes as
// temporary directories. Only the listen addresses (to 127.0.0.1 and free ports)
// and, for the CI Job, the run's target and length are changed. It checks that the
// master starts, that the probes' endpoints answer where the probes look, that the
// worker authenticates (token, mTLS) and becomes ready, that /metrics carries the
// autoscaler's gauge, and that a worker told to stop exits within its grace period.
func TestManifestsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binaries")
	}
	bins := binaries(t)
	for _, dir := range kustomizations(t) {
		t.Run(dir, func(t *testing.T) {
			exp := expectations[dir]
			r := render(t, dir)
			var masters, workers []*containerConfig
			for _, w := range r.workloads {
				for _, c := range allContainers(w.spec) {
					cc := configOf(r, w, c, bins)
					switch {
					case cc.bin == nil:
					case cc.bin.name == "master":
						masters = append(masters, cc)
					case cc.bin.name == "worker":
						workers = append(workers, cc)
					}
				}
			}
			if len(masters) != 1 || len(workers) != 1 {
				t.Skipf("%d masters, %d worker kinds: nothing to start", len(masters), len(workers))
			}
			env := newLocalCluster(t, r, exp)
			if exp.job {
				runJob(t, env, masters[0], workers[0])
			} else {
				runService(t, env, masters[0], workers[0])
			}
		})
	}
}

// localCluster turns pod specs into local processes.
type localCluster struct {
	t       *testing.T
	r       *rendered
	root    string
	secrets map[string]map[string]string // user-provided Secrets, made up here
}

func newLocalCluster(t *testing.T, r *rendered, exp expectation) *localCluster {
	lc := &localCluster{t: t, r: r, root: t.TempDir(), secrets: map[string]map[string]string{}}
	made := testSecrets(t)
	for name := range exp.userSecrets {
		s, ok := made[name]
		if !ok {
			t.Fatalf("the user is told to create Secret %s, and this test has no stand-in for it", name)
		}
		lc.secrets[name] = s
	}
	return lc
}

// testSecrets stands in for what the user creates: a random token and dashboard
// password, and a CA with a server certificate for "stampede-master" and a client
// certificate for the workers.
func testSecrets(t *testing.T) map[string]map[string]string {
	t.Helper()
	random := func() string {
		b := make([]byte, 16)
		rand.Read(b)
		return hex.EncodeToString(b)
	}
	ca := newCert(t, nil, &x509.Certificate{
		Subject: pkix.Name{CommonName: "stampede test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	})
	server := newCert(t, ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "stampede-master"},
		DNSNames:    []string{"stampede-master", "stampede-master.stampede", "stampede-master.stampede.svc", "stampede-master.stampede.svc.cluster.local"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature,
	})
	client := newCert(t, ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "stampede-worker"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature,
	})
	return map[string]map[string]string{
		"stampede-auth":       {"token": random(), "web-auth": "admin:" + random()},
		"stampede-master-tls": {"tls.crt": server.certPEM, "tls.key": server.keyPEM, "ca.crt": ca.certPEM},
		"stampede-worker-tls": {"tls.crt": client.certPEM, "tls.key": client.keyPEM, "ca.crt": ca.certPEM},
	}
}

// keyPair is a certificate and its private key.
type keyPair struct {
	key             *ecdsa.PrivateKey
	cert            *x509.Certificate
	keyPEM, certPEM string
}

// newCert signs tmpl with parent, or self-signs it when parent is nil.
func newCert(t *testing.T, parent *keyPair, tmpl *x509.Certificate) *keyPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	signer, signerCert := key, tmpl
	if parent != nil {
		signer, signerCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &keyPair{key: key, cert: cert,
		keyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})),
		certPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// secretValue reads a key of a rendered or user-provided Secret.
func (lc *localCluster) secretValue(name, key string) string {
	if s := lc.r.secret(name); s != nil {
		return secretData(s)[key]
	}
	v, ok := lc.secrets[name][key]
	if !ok {
		lc.t.Fatalf("Secret %s/%s: neither rendered nor provided", name, key)
	}
	return v
}

// process is a started binary.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // valid after done
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs the container's binary as a local process. overrides replace (or
// add) flag values; every absolute path in a value moves onto the directory that
// stands in for the volume mounted there.
func (lc *localCluster) start(name string, cc *containerConfig, overrides map[string]string) *process {
	t := lc.t
	t.Helper()
	mounts := lc.mountVolumes(name, cc)
	mapPath := func(v string) string {
		if !path.IsAbs(v) {
			return v
		}
		best := ""
		for mp := range mounts {
			if hasPrefixPath(v, mp) && len(mp) > len(best) {
				best = mp
			}
		}
		if best == "" {
			return v
		}
		return filepath.Join(mounts[best], strings.TrimPrefix(v, best))
	}
	home := filepath.Join(lc.root, name, "home")
	os.MkdirAll(home, 0o755)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
	var args []string
	seen := map[string]bool{}
	for flag, s := range cc.settings {
		seen[flag] = true
		v := s.value
		if s.ref != nil && s.ref.kind == "Secret" {
			v = lc.secretValue(s.ref.name, s.ref.key)
		} else if !s.known {
			t.Fatalf("%s: --%s (%s) has no value this test can resolve", cc, flag, s.from)
		}
		if o, ok := overrides[flag]; ok {
			v = o
		}
		v = mapPath(v)
		if strings.HasPrefix(s.from, "arg ") {
			args = append(args, "--"+flag+"="+v)
		} else {
			env = append(env, cc.bin.flags[flag].env+"="+v)
		}
	}
	for flag, v := range overrides {
		if !seen[flag] {
			args = append(args, "--"+flag+"="+v)
		}
	}
	for _, e := range cc.c.Env { // variables that are not flags travel as they are
		if !strings.HasPrefix(e.Name, "STAMPEDE_") && e.ValueFrom == nil {
			env = append(env, e.Name+"="+e.Value)
		}
	}
	p := &process{name: name, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(cc.bin.path, args...)
	p.cmd.Env = env
	p.cmd.Dir = home
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("%s %s %s\n%s", strings.Join(env[2:], " "), name, strings.Join(args, " "), p.out.String())
		}
	})
	return p
}

// mountVolumes makes a directory for each volume the container mounts (Secrets
// written out as files) and returns mount path -> directory.
func (lc *localCluster) mountVolumes(name string, cc *containerConfig) map[string]string {
	t := lc.t
	mounts := map[string]string{}
	for _, m := range cc.c.VolumeMounts {
		var vol *corev1.Volume
		for i := range cc.w.spec.Volumes {
			if cc.w.spec.Volumes[i].Name == m.Name {
				vol = &cc.w.spec.Volumes[i]
			}
		}
		dir := filepath.Join(lc.root, name, "volumes", m.Name)
		if vol.PersistentVolumeClaim != nil { // a claim is shared by whoever mounts it
			dir = filepath.Join(lc.root, "claims", vol.PersistentVolumeClaim.ClaimName)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if s := vol.Secret; s != nil {
			var keys map[string]string
			if rs := lc.r.secret(s.SecretName); rs != nil {
				keys = secretData(rs)
			} else {
				keys = lc.secrets[s.SecretName]
			}
			for k, v := range keys {
				dst := k
				if len(s.Items) > 0 {
					dst = ""
					for _, it := range s.Items {
						if it.Key == k {
							dst = it.Path
						}
					}
				}
				if dst != "" {
					if err := os.WriteFile(filepath.Join(dir, dst), []byte(v), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		mounts[m.MountPath] = dir
	}
	return mounts
}

// stop sends SIGTERM and waits up to limit for the exit.
func (p *process) stop(t *testing.T, limit time.Duration) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return time.Since(start), p.err
	case <-time.After(limit):
		return limit, fmt.Errorf("%s still running %s after SIGTERM", p.name, limit)
	}
}

// freeAddr is a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitHTTP polls url until it answers want, the process exits, or the time is up.
func waitHTTP(t *testing.T, p *process, url string, want int, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	last := "no answer"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) before %s answered %d; it said:\n%s", p.name, p.err, url, want, p.out.String())
		case <-ctx.Done():
			t.Fatalf("%s: %s did not answer %d within %s (last: %s)", p.name, url, want, limit, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// workerOverrides points the worker at the local master and moves its health
// listener to loopback. The certificate is still checked against the host the
// manifest dials (stampede-master), not against 127.0.0.1.
func workerOverrides(t *testing.T, w *containerConfig, masterAddr string) (map[string]string, string) {
	health := freeAddr(t)
	o := map[string]string{"master": masterAddr, "health-listen": health}
	if _, tls := w.set("tls-ca"); tls {
		if _, set := w.set("tls-server-name"); !set {
			if _, ok := w.bin.flags["tls-server-name"]; !ok {
				t.Fatal("the worker has no --tls-server-name: the test cannot keep checking the name stampede-master while dialling 127.0.0.1")
			}
			dial, _ := w.value("master")
			host, _, _ := net.SplitHostPort(dial)
			o["tls-server-name"] = host
		}
	}
	return o, health
}

// runService: the long-lived master (dashboard) and a worker.
func runService(t *testing.T, lc *localCluster, m, w *containerConfig) {
	grpcAddr, webAddr := freeAddr(t), freeAddr(t)
	master := lc.start("master", m, map[string]string{"listen": grpcAddr, "web-listen": webAddr})
	// The kubelet's probes carry no credentials.
	waitHTTP(t, master, "http://"+webAddr+"/healthz", http.StatusOK, 20*time.Second)
	waitHTTP(t, master, "http://"+webAddr+"/readyz", http.StatusOK, 20*time.Second)

	o, health := workerOverrides(t, w, grpcAddr)
	worker := lc.start("worker", w, o)
	waitHTTP(t, worker, "http://"+health+"/healthz", http.StatusOK, 20*time.Second)
	// Ready means connected to the master: the token / certificates the manifests
	// hand the worker are the ones the master asks for.
	waitHTTP(t, worker, "http://"+health+"/readyz", http.StatusOK, 20*time.Second)

	// The gauge an external-metric autoscaler would use.
	checkMetric(t, lc, m, webAddr, "stampede_workers_wanted")

	took, err := worker.stop(t, grace(w))
	if err != nil {
		t.Errorf("worker after SIGTERM: %v (the kubelet would SIGKILL it after %s)", err, grace(w))
	}
	t.Logf("worker exited %s after SIGTERM (grace period %s)", took.Round(time.Millisecond), grace(w))
	if _, err := master.stop(t, 20*time.Second); err != nil {
		t.Errorf("master after SIGTERM: %v", err)
	}
}

func checkMetric(t *testing.T, lc *localCluster, m *containerConfig, webAddr, metric string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+webAddr+"/metrics", nil)
	if s, ok := m.set("web-auth"); ok {
		v := s.value
		if s.ref != nil {
			v = lc.secretValue(s.ref.name, s.ref.key)
		}
		user, pass, _ := strings.Cut(v, ":")
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("/metrics: %v", err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/metrics: %s", resp.Status)
		return
	}
	if !bytes.Contains(body, []byte("\n"+metric+" ")) && !bytes.HasPrefix(body, []byte(metric+" ")) {
		t.Errorf("/metrics has no %s, which deploy/k8s documents for the autoscaler", metric)
	}
}

// runJob: the CI Job against a loopback target, with as many workers as the
// overlay deploys; the run is shortened to 4 s.
func runJob(t *testing.T, lc *localCluster, m, w *containerConfig) {
	const flowing = 20 // requests served: the run is under way
	var served atomic.Int64
	underWay := make(chan struct{})
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) == flowing {
			close(underWay)
		}
		io.WriteString(w, "ok")
	}))
	defer target.Close()
	d := lc.r.deployment(w.w.name)
	if d == nil || d.Spec.Replicas == nil {
		t.Fatalf("%s: want a worker Deployment with fixed replicas", w)
	}
	grpcAddr := freeAddr(t)
	master := lc.start("master", m, map[string]string{
		"listen": grpcAddr, "host": target.URL + "/", "users": "4", "spawn-rate": "4",
		"run-time": "4s", "expect-workers-max-wait": "30s", "wait": "100ms",
	})
	var workers []*process
	for i := range int(*d.Spec.Replicas) {
		o, health := workerOverrides(t, w, grpcAddr)
		p := lc.start(fmt.Sprintf("worker-%d", i), w, o)
		waitHTTP(t, p, "http://"+health+"/readyz", http.StatusOK, 20*time.Second)
		workers = append(workers, p)
	}
	// A worker leaves mid-run, as on a scale-down or node drain: it must drain and
	// exit within its grace period, and the run must still complete.
	select {
	case <-underWay:
	case <-master.done:
		t.Fatalf("the master exited (%v) before the target served %d requests; it said:\n%s", master.err, flowing, master.out.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("the target served %d requests in 90 s, want %d: no run under way", served.Load(), flowing)
	}
	took, err := workers[0].stop(t, grace(w))
	if err != nil {
		t.Errorf("worker after SIGTERM mid-run: %v (the kubelet would SIGKILL it after %s)", err, grace(w))
	}
	t.Logf("worker drained mid-run and exited %s after SIGTERM (grace period %s)", took.Round(time.Millisecond), grace(w))
	select {
	case <-master.done:
	case <-time.After(90 * time.Second):
		t.Fatal("the headless master did not finish a 4 s run within 90 s")
	}
	var exit *exec.ExitError
	if master.err != nil && !errors.As(master.err, &exit) {
		t.Fatalf("master: %v", master.err)
	}
	if master.err != nil {
		t.Errorf("master exited %v: the Job would fail", master.err)
	}
	for _, f := range []string{"json", "html"} {
		v, _ := m.value(f)
		rel, err := filepath.Rel("/out", v)
		if err != nil || strings.HasPrefix(rel, "..") {
			t.Errorf("--%s %s is not under /out, the results volume", f, v)
			continue
		}
		claim := ""
		for _, vol := range m.w.spec.Volumes {
			if vol.PersistentVolumeClaim != nil {
				claim = vol.PersistentVolumeClaim.ClaimName
			}
		}
		data, err := os.ReadFile(filepath.Join(lc.root, "claims", claim, rel))
		if err != nil || len(data) == 0 {
			t.Errorf("--%s: nothing written on the results volume: %v", f, err)
			continue
		}
		if f == "json" && !json.Valid(data) {
			t.Errorf("--json %s is not JSON", v)
		}
	}
	for _, p := range workers[1:] {
		if _, err := p.stop(t, grace(w)); err != nil {
			t.Error(err)
		}
	}
}

// grace is the pod's terminationGracePeriodSeconds.
func grace(cc *containerConfig) time.Duration {
	if g := cc.w.spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return time.Duration(corev1.DefaultTerminationGracePeriodSeconds) * time.Second
}
