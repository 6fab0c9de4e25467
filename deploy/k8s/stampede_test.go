package k8s_test

import (
	"net"
	"path"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The checks of the Stampede containers themselves: their flags against what the
// binaries accept and listen on.

// checkMaster: ports, probes and authentication against the master's flags.
func checkMaster(t reporter, r *rendered, cc *containerConfig) {
	c := cc.c
	headless := cc.boolValue("headless")
	listen := checkListen(t, cc, "listen", "grpc")
	ports := []int32{listen}
	listenAddr, _ := cc.value("listen")
	lhost, _, _ := net.SplitHostPort(listenAddr)
	if !loopbackHost(lhost) {
		_, token := cc.set("token")
		_, cert := cc.set("tls-cert")
		_, ca := cc.set("tls-ca")
		if !token && !(cert && ca) {
			t.Errorf("%s: --listen %s reaches beyond the pod with neither --token nor mutual TLS (--tls-cert/--tls-key/--tls-ca): the master refuses to start", cc, listenAddr)
		}
	}
	for _, f := range []string{"insecure", "web-insecure"} {
		if cc.boolValue(f) {
			t.Errorf("%s: --%s turns authentication off", cc, f)
		}
	}
	if headless {
		for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
			if p != nil {
				t.Errorf("%s: a headless master serves no web port to probe", cc)
			}
		}
	} else {
		web := checkListen(t, cc, "web-listen", "http")
		ports = append(ports, web)
		webAddr, _ := cc.value("web-listen")
		whost, _, _ := net.SplitHostPort(webAddr)
		if _, auth := cc.set("web-auth"); !loopbackHost(whost) && !auth {
			t.Errorf("%s: --web-listen %s reaches beyond the pod without --web-auth: the master refuses to start", cc, webAddr)
		}
		checkProbe(t, cc, "liveness", c.LivenessProbe, "/healthz", web, true)
		checkProbe(t, cc, "readiness", c.ReadinessProbe, "/readyz", web, true)
		checkProbe(t, cc, "startup", c.StartupProbe, "/healthz", web, false)
	}
	checkDeclaredPorts(t, cc, ports)
	checkTLSFlags(t, r, cc)
	// On SIGTERM the master stops the run and waits --stop-wait for the workers'
	// final reports; the kubelet must not kill it first.
	if v, _ := cc.value("stop-wait"); v != "" {
		if d, err := parseDuration(v); err != nil || grace(cc) <= d {
			t.Errorf("%s: terminationGracePeriodSeconds (%s) must exceed --stop-wait %s, or a stopped master loses the last reports", cc, grace(cc), v)
		}
	}
	for _, f := range []string{"db", "json", "html"} {
		if v, ok := cc.value(f); ok && v != "" {
			checkWritable(t, cc, f, v)
		}
	}
}

// checkWorker: health port and probes, the master it dials, the drain against the
// grace period, and authentication matching the master's.
func checkWorker(t reporter, r *rendered, cc *containerConfig, masters []*containerConfig) {
	c := cc.c
	if v, _ := cc.value("health-listen"); v == "" {
		t.Errorf("%s: --health-listen is not set: nothing answers the probes", cc)
	} else {
		hp := checkListen(t, cc, "health-listen", "health")
		checkProbe(t, cc, "liveness", c.LivenessProbe, "/healthz", hp, true)
		checkProbe(t, cc, "readiness", c.ReadinessProbe, "/readyz", hp, true)
		checkDeclaredPorts(t, cc, []int32{hp})
	}
	if _, ok := cc.bin.flags["drain-timeout"]; !ok {
		t.Errorf("%s: the worker has no --drain-timeout flag", cc)
	} else {
		v, _ := cc.value("drain-timeout")
		drain, err := parseDuration(v)
		switch {
		case err != nil:
			t.Errorf("%s: --drain-timeout %q: %v", cc, v, err)
		case grace(cc) <= drain:
			t.Errorf("%s: terminationGracePeriodSeconds (%s) must exceed --drain-timeout %s, or the kubelet kills the worker mid-drain", cc, grace(cc), drain)
		}
	}
	if cc.c.Lifecycle != nil && cc.c.Lifecycle.PreStop != nil {
		t.Errorf("%s: a preStop hook delays the drain that SIGTERM starts", cc)
	}
	checkTLSFlags(t, r, cc)
	for _, m := range dialedMasters(t, r, cc, masters) {
		checkAuthMatches(t, cc, m)
	}
}

// checkListen checks that the address flag listens beyond loopback on the port the
// container declares under portName, and returns that port.
func checkListen(t reporter, cc *containerConfig, flag, portName string) int32 {
	addr, _ := cc.value(flag)
	host, port, err := listenPort(addr)
	if err != nil {
		t.Errorf("%s: --%s %v", cc, flag, err)
		return 0
	}
	if loopbackHost(host) {
		t.Errorf("%s: --%s %s is loopback: neither Services nor kubelet probes reach it", cc, flag, addr)
	}
	cp, ok := containerPort(cc.c, portName, 0)
	switch {
	case !ok:
		t.Errorf("%s: no container port named %q for --%s %s", cc, portName, flag, addr)
	case cp.ContainerPort != port:
		t.Errorf("%s: container port %s is %d but --%s is %s", cc, portName, cp.ContainerPort, flag, addr)
	case cp.Protocol != "" && cp.Protocol != corev1.ProtocolTCP:
		t.Errorf("%s: container port %s is %s, want TCP", cc, portName, cp.Protocol)
	}
	return port
}

// checkDeclaredPorts: every declared container port is one the binary listens on.
func checkDeclaredPorts(t reporter, cc *containerConfig, listening []int32) {
	for _, cp := range cc.c.Ports {
		if !slices.Contains(listening, cp.ContainerPort) {
			t.Errorf("%s: container port %s/%d: the %s does not listen there", cc, cp.Name, cp.ContainerPort, cc.bin.name)
		}
	}
}

func checkProbe(t reporter, cc *containerConfig, kind string, p *corev1.Probe, wantPath string, wantPort int32, required bool) {
	if p == nil {
		if required {
			t.Errorf("%s: no %s probe", cc, kind)
		}
		return
	}
	g := p.HTTPGet
	if g == nil {
		t.Errorf("%s: %s probe must be an httpGet on %s", cc, kind, wantPath)
		return
	}
	if g.Path != wantPath {
		t.Errorf("%s: %s probe hits %q, want %s", cc, kind, g.Path, wantPath)
	}
	if g.Scheme != "" && g.Scheme != corev1.URISchemeHTTP {
		t.Errorf("%s: %s probe scheme %s: the health endpoints are plain HTTP", cc, kind, g.Scheme)
	}
	var port int32
	if g.Port.Type == intstr.String {
		cp, ok := containerPort(cc.c, g.Port.StrVal, 0)
		if !ok {
			t.Errorf("%s: %s probe port %q is not a container port", cc, kind, g.Port.StrVal)
			return
		}
		port = cp.ContainerPort
	} else {
		port = g.Port.IntVal
	}
	if port != wantPort {
		t.Errorf("%s: %s probe goes to port %d, but %s is served on %d", cc, kind, port, wantPath, wantPort)
	}
}

// checkTLSFlags: the TLS files come from a mounted Secret that has them, and the
// flags come in working sets.
func checkTLSFlags(t reporter, r *rendered, cc *containerConfig) {
	_, cert := cc.set("tls-cert")
	_, key := cc.set("tls-key")
	if cert != key {
		t.Errorf("%s: --tls-cert and --tls-key go together", cc)
	}
	if _, ca := cc.set("tls-ca"); ca && cc.bin.name == "master" && !cert {
		t.Errorf("%s: --tls-ca (client certificates) needs the master's own --tls-cert", cc)
	}
	for _, f := range []string{"tls-cert", "tls-key", "tls-ca"} {
		s, ok := cc.set(f)
		if !ok {
			continue
		}
		if !s.known || !path.IsAbs(s.value) {
			t.Errorf("%s: --%s %q: want an absolute path in the manifest", cc, f, s.value)
			continue
		}
		m, v := mountFor(cc.w.spec, cc.c, s.value)
		if m == nil || v == nil || v.Secret == nil {
			t.Errorf("%s: --%s %s is not on a mounted Secret", cc, f, s.value)
			continue
		}
		if !m.ReadOnly {
			t.Errorf("%s: mount %s of %s should be readOnly", cc, m.MountPath, v.Secret.SecretName)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(s.value, m.MountPath), "/")
		key := rel
		if len(v.Secret.Items) > 0 {
			key = ""
			for _, it := range v.Secret.Items {
				if it.Path == rel {
					key = it.Key
				}
			}
			if key == "" {
				t.Errorf("%s: --%s %s: no item of Secret %s is projected there", cc, f, s.value, v.Secret.SecretName)
				continue
			}
		}
		if mode := v.Secret.DefaultMode; f == "tls-key" && (mode == nil || *mode&0o007 != 0) {
			t.Errorf("%s: the private key in Secret %s is readable by every user: set defaultMode 0440 (288)", cc, v.Secret.SecretName)
		}
		if sec := r.secret(v.Secret.SecretName); sec != nil {
			if _, ok := secretData(sec)[key]; !ok {
				t.Errorf("%s: --%s %s: Secret %s has no key %q", cc, f, s.value, sec.Name, key)
			}
		} else if !slices.Contains(tlsKeys, key) {
			t.Errorf("%s: --%s %s: key %q is not one the user's TLS Secret has (%v)", cc, f, s.value, key, tlsKeys)
		}
	}
}

// checkWritable: the file the flag names is on a writable volume, not on the
// read-only root filesystem.
func checkWritable(t reporter, cc *containerConfig, flag, file string) {
	if !path.IsAbs(file) {
		t.Errorf("%s: --%s %q: want an absolute path on a volume (the root filesystem is read-only)", cc, flag, file)
		return
	}
	m, v := mountFor(cc.w.spec, cc.c, path.Dir(file))
	if m == nil || v == nil || (v.PersistentVolumeClaim == nil && v.EmptyDir == nil) {
		t.Errorf("%s: --%s %s is not on a writable volume (the root filesystem is read-only)", cc, flag, file)
		return
	}
	if m.ReadOnly || (v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ReadOnly) {
		t.Errorf("%s: --%s %s is on read-only mount %s", cc, flag, file, m.MountPath)
	}
}

// dialedMasters follows the worker's --master through a Service to master
// containers and their gRPC port.
func dialedMasters(t reporter, r *rendered, cc *containerConfig, masters []*containerConfig) []*containerConfig {
	addr, known := cc.value("master")
	host, portText, err := net.SplitHostPort(addr)
	if !known || err != nil {
		t.Errorf("%s: --master %q: want a literal host:port", cc, addr)
		return nil
	}
	port, _ := strconv.Atoi(portText)
	var svc *corev1.Service
	for _, s := range r.services {
		names := []string{s.Name + "." + s.Namespace, s.Name + "." + s.Namespace + ".svc", s.Name + "." + s.Namespace + ".svc.cluster.local"}
		if (host == s.Name && s.Namespace == cc.w.namespace) || slices.Contains(names, host) {
			svc = s
		}
	}
	if svc == nil {
		t.Errorf("%s: --master %s: no Service %q is deployed with it", cc, addr, host)
		return nil
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if int(svc.Spec.Ports[i].Port) == port {
			sp = &svc.Spec.Ports[i]
		}
	}
	if sp == nil {
		t.Errorf("%s: --master %s: Service %s has no port %d", cc, addr, svc.Name, port)
		return nil
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var found []*containerConfig
	for _, m := range masters {
		if m.w.namespace != svc.Namespace || !sel.Matches(labels.Set(m.w.labels)) {
			continue
		}
		target := sp.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(sp.Port)
		}
		listen, _ := m.value("listen")
		_, lport, _ := listenPort(listen)
		var cp corev1.ContainerPort
		var ok bool
		if target.Type == intstr.String {
			cp, ok = containerPort(m.c, target.StrVal, 0)
		} else {
			cp, ok = containerPort(m.c, "", target.IntVal)
		}
		if !ok || cp.ContainerPort != lport {
			t.Errorf("%s: --master %s: Service port %d goes to %s port %s, but the master's --listen is %s", cc, addr, port, m, target.String(), listen)
			continue
		}
		found = append(found, m)
	}
	if len(found) == 0 {
		t.Errorf("%s: --master %s: Service %s selects no master", cc, addr, svc.Name)
	}
	return found
}

// checkAuthMatches: the worker presents what the master asks for.
func checkAuthMatches(t reporter, w, m *containerConfig) {
	if mt, ok := m.set("token"); ok {
		wt, ok := w.set("token")
		switch {
		case !ok:
			t.Errorf("%s: %s asks for a token and the worker has none", w, m)
		case mt.ref != nil && (wt.ref == nil || *wt.ref != *mt.ref):
			t.Errorf("%s: token from %v, the master's from %v", w, wt.ref, mt.ref)
		case mt.ref == nil && wt.value != mt.value:
			t.Errorf("%s: token differs from %s's", w, m)
		}
	}
	_, mCert := m.set("tls-cert")
	_, mCA := m.set("tls-ca")
	_, wCA := w.set("tls-ca")
	_, wCert := w.set("tls-cert")
	if mCert != wCA {
		t.Errorf("%s: master TLS (--tls-cert) %v but worker --tls-ca %v: they would not agree on TLS", w, mCert, wCA)
	}
	if mCA && !wCert {
		t.Errorf("%s: the master requires client certificates (--tls-ca) and the worker has no --tls-cert", w)
	}
}
