package k8s_test

import (
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// keyRef is a value taken from a key of a Secret or ConfigMap.
type keyRef struct{ kind, name, key string }

func (k keyRef) String() string { return k.kind + " " + k.name + "/" + k.key }

// setting is one flag a container's manifest gives its binary.
type setting struct {
	flag  string
	from  string // "arg --x", "env STAMPEDE_X", "envFrom ConfigMap y"
	value string
	known bool    // value is a literal or read from a rendered object
	ref   *keyRef // set when the value comes from a Secret or ConfigMap key
}

// containerConfig is what a Stampede container will run with: the binary and every
// flag its args, env and envFrom set. Problems are manifest errors found on the way.
type containerConfig struct {
	w        *workload
	c        *corev1.Container
	bin      *binary // nil for a container that does not run a Stampede binary
	settings map[string]setting
	problems []string
}

func (cc *containerConfig) String() string { return cc.w.String() + " container " + cc.c.Name }

func (cc *containerConfig) problem(format string, args ...any) {
	cc.problems = append(cc.problems, fmt.Sprintf(format, args...))
}

// set reports whether the manifest sets flag (to anything, even from a Secret).
func (cc *containerConfig) set(flag string) (setting, bool) {
	s, ok := cc.settings[flag]
	return s, ok
}

// value is the flag's value as the binary will see it: the manifest's literal, or
// the binary's default. ok is false when it comes from an object not rendered here.
func (cc *containerConfig) value(flag string) (v string, ok bool) {
	if s, set := cc.settings[flag]; set {
		return s.value, s.known
	}
	return cc.bin.flags[flag].defval, true
}

// boolValue reads a bool flag (given without a value it is true).
func (cc *containerConfig) boolValue(flag string) bool {
	v, _ := cc.value(flag)
	b, _ := strconv.ParseBool(v)
	return b
}

// configOf reads a container's command, args, env and envFrom against the flags of
// the binary it runs.
func configOf(r *rendered, w *workload, c *corev1.Container, bins map[string]*binary) *containerConfig {
	cc := &containerConfig{w: w, c: c, settings: map[string]setting{}}
	if len(c.Command) == 0 {
		if strings.Contains(c.Image, "stampede") {
			cc.problem("the image holds two binaries and no entrypoint: set command to /usr/local/bin/master or /usr/local/bin/worker")
		}
		return cc
	}
	cc.bin = bins[path.Base(c.Command[0])]
	if cc.bin == nil {
		return cc
	}
	if want := "/usr/local/bin/" + cc.bin.name; c.Command[0] != want || len(c.Command) != 1 {
		cc.problem("command %q: want [%q] (where the Dockerfile installs it), flags in args", c.Command, want)
	}
	if !strings.Contains(c.Image, "stampede") {
		cc.problem("runs %s from image %q, not the stampede image", cc.bin.name, c.Image)
	}
	b := cc.bin
	add := func(s setting) {
		if prev, dup := cc.settings[s.flag]; dup {
			cc.problem("--%s is set twice (%s, %s): set it once", s.flag, prev.from, s.from)
		}
		cc.settings[s.flag] = s
	}
	// envFrom first: Kubernetes lets env override it, but both at once is a trap.
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm := r.configMap(ef.ConfigMapRef.Name)
			if cm == nil {
				cc.problem("envFrom ConfigMap %q is not rendered: its keys cannot be checked against the %s's flags", ef.ConfigMapRef.Name, b.name)
				continue
			}
			for k, v := range cm.Data {
				name := ef.Prefix + k
				if !strings.HasPrefix(name, "STAMPEDE_") {
					continue
				}
				f, ok := b.envFlag(name)
				if !ok {
					cc.problem("envFrom ConfigMap %s sets %s: the %s has no flag for it", cm.Name, name, b.name)
					continue
				}
				add(setting{flag: f.name, from: "envFrom ConfigMap " + cm.Name + " " + name, value: v, known: true,
					ref: &keyRef{"ConfigMap", cm.Name, k}})
			}
		case ef.SecretRef != nil:
			cc.problem("envFrom Secret %q: its keys cannot be checked against the %s's flags; use env with secretKeyRef", ef.SecretRef.Name, b.name)
		}
	}
	for _, e := range c.Env {
		if !strings.HasPrefix(e.Name, "STAMPEDE_") {
			continue
		}
		f, ok := b.envFlag(e.Name)
		if !ok {
			cc.problem("env %s: the %s has no flag it maps to (%s -h lists them; one-letter flags have no variable)", e.Name, b.name, b.name)
			continue
		}
		s := setting{flag: f.name, from: "env " + e.Name, value: e.Value, known: e.ValueFrom == nil}
		if vf := e.ValueFrom; vf != nil {
			switch {
			case vf.SecretKeyRef != nil:
				s.ref = &keyRef{"Secret", vf.SecretKeyRef.Name, vf.SecretKeyRef.Key}
				if sec := r.secret(s.ref.name); sec != nil {
					s.value, s.known = secretData(sec)[s.ref.key], true
				}
			case vf.ConfigMapKeyRef != nil:
				s.ref = &keyRef{"ConfigMap", vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key}
				if cm := r.configMap(s.ref.name); cm != nil {
					s.value, s.known = cm.Data[s.ref.key], true
				}
			}
		}
		add(s)
	}
	for i := 0; i < len(c.Args); i++ {
		a := c.Args[i]
		name, val, hasVal := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if !strings.HasPrefix(a, "-") || name == "" {
			cc.problem("argument %q is not a flag", a)
			continue
		}
		f, ok := b.flags[name]
		if !ok {
			cc.problem("arg %s: the %s has no flag --%s", a, b.name, name)
			continue
		}
		if len(name) == 1 {
			cc.problem("arg %s: spell the flag out (%s -h lists the long names)", a, b.name)
		}
		switch {
		case f.isBool && !hasVal:
			val = "true"
		case !hasVal:
			if i+1 >= len(c.Args) {
				cc.problem("arg %s has no value", a)
				continue
			}
			i++
			val = c.Args[i]
		}
		add(setting{flag: f.name, from: "arg " + a, value: val, known: true})
	}
	return cc
}

// listenPort is the port of a listen address such as ":8080" or "0.0.0.0:5557".
func listenPort(addr string) (host string, port int32, err error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q: want host:port", addr)
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return "", 0, fmt.Errorf("%q: want a fixed port", addr)
	}
	return h, int32(n), nil
}

// loopbackHost mirrors the master's rule: only localhost and loopback IPs stay on
// the machine; an empty host listens everywhere.
func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// parseDuration reads a duration flag as the binaries do: Go durations, and for
// --run-time plain seconds too.
func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	return time.ParseDuration(v)
}

// mountFor finds the volume mount that holds file p, the innermost one.
func mountFor(spec *corev1.PodSpec, c *corev1.Container, p string) (*corev1.VolumeMount, *corev1.Volume) {
	var best *corev1.VolumeMount
	for i := range c.VolumeMounts {
		m := &c.VolumeMounts[i]
		if hasPrefixPath(p, m.MountPath) && (best == nil || len(m.MountPath) > len(best.MountPath)) {
			best = m
		}
	}
	if best == nil {
		return nil, nil
	}
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == best.Name {
			return best, &spec.Volumes[i]
		}
	}
	return best, nil
}
