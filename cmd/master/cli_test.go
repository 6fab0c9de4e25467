package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// result is what a finished process left.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs a binary to its end (at most two minutes) with stdout and stderr apart.
func runCLI(t *testing.T, bin string, args ...string) result {
	t.Helper()
	return runIn(t, "", bin, args...)
}

// runIn is runCLI in the working directory dir.
func runIn(t *testing.T, dir, bin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()} // no STAMPEDE_* of the caller
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s %q did not finish:\n%s%s", filepath.Base(bin), args, stdout.String(), stderr.String())
	}
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

// want checks a result's exit code and that stderr is empty (code 0) or exactly
// one line that starts with prefix and ends in a newline.
func (r result) want(t *testing.T, code int, prefix string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	if prefix == "" {
		return
	}
	if !strings.HasPrefix(r.stderr, prefix) || !strings.HasSuffix(r.stderr, "\n") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr %q: want one line starting with %q, ending in a newline", r.stderr, prefix)
	}
}

// seedRuns stores two real runs in db: "fast" against a target that answers at
// once, "slow" against one that takes 30 ms. It returns their ids.
func seedRuns(t *testing.T, master, db string) (fast, slow string) {
	t.Helper()
	quick := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer quick.Close()
	sluggish := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { time.Sleep(30 * time.Millisecond) }))
	defer sluggish.Close()
	id := func(label, url string) string {
		sum := filepath.Join(t.TempDir(), label+".json")
		r := runCLI(t, master, "--headless", "-u", "2", "-r", "100", "-t", "1s", "--wait", "10ms", "-H", url+"/x",
			"--listen", "127.0.0.1:0", "--db", db, "--label", label, "--json", sum)
		r.want(t, 0, "")
		var s struct {
			RunID string `json:"run_id"`
		}
		data, _ := os.ReadFile(sum)
		if err := json.Unmarshal(data, &s); err != nil || s.RunID == "" {
			t.Fatalf("summary of the %s run: %q (%v)", label, data, err)
		}
		return s.RunID
	}
	return id("fast", quick.URL), id("slow", sluggish.URL)
}

// TestCommands drives every sub-command of the real binary over a store of real
// runs, with flags before, between and after the arguments.
func TestCommands(t *testing.T) {
	master, _ := binaries(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "s.db")
	fast, slow := seedRuns(t, master, db)

	t.Run("runs list", func(t *testing.T) {
		r := runCLI(t, master, "runs", "list", "--db", db)
		r.want(t, 0, "")
		for _, s := range []string{fast, slow, "fast", "slow", "completed"} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("runs list does not show %q:\n%s", s, r.stdout)
			}
		}
	})
	t.Run("runs show", func(t *testing.T) {
		r := runCLI(t, master, "runs", "show", slow, "--db", db)
		r.want(t, 0, "")
		for _, s := range []string{"run      " + slow, "status   completed", "label    slow", "/x", "Aggregated"} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("runs show does not show %q:\n%s", s, r.stdout)
			}
		}
		runCLI(t, master, "runs", "show", "no-such-run", "--db", db).want(t, 1, "master runs show: ")
	})
	t.Run("compare formats", func(t *testing.T) {
		table := runCLI(t, master, "runs", "compare", fast, slow, "--db", db)
		table.want(t, 0, "")
		md := runCLI(t, master, "runs", "compare", fast, slow, "--db", db, "--format", "markdown")
		md.want(t, 0, "")
		js := runCLI(t, master, "runs", "--db", db, "compare", "--format=json", fast, slow)
		js.want(t, 0, "")
		if !strings.Contains(table.stdout, "regression(s) beyond a tolerance of 10%") || !strings.Contains(table.stdout, "#2 "+slow) {
			t.Errorf("table:\n%s", table.stdout)
		}
		if !strings.Contains(md.stdout, "| ") || !strings.Contains(md.stdout, "---") {
			t.Errorf("markdown has no table:\n%s", md.stdout)
		}
		var c struct {
			Regressions int `json:"regressions"`
		}
		if err := json.Unmarshal([]byte(js.stdout), &c); err != nil || c.Regressions == 0 {
			t.Errorf("json: %v, %d regressions, want some for the slow run:\n%s", err, c.Regressions, js.stdout)
		}
		runCLI(t, master, "runs", "compare", fast, slow, "--db", db, "--format", "yaml").want(t, 2, "master runs compare: --format")
		runCLI(t, master, "runs", "compare", fast, "--db", db).want(t, 2, "master runs compare: want at least 2")
	})
	t.Run("fail on regression", func(t *testing.T) {
		runCLI(t, master, "runs", "compare", fast, slow, "--db", db, "--fail-on-regression").want(t, 1, "")
		runCLI(t, master, "runs", "compare", fast, fast, "--db", db, "--fail-on-regression").want(t, 0, "")
		runCLI(t, master, "runs", "compare", slow, fast, "--db", db, "--fail-on-regression").want(t, 0, "")
		// 30 ms instead of well under 1 ms is many thousand percent: a tolerance
		// beyond that forgives it.
		runCLI(t, master, "runs", "compare", fast, slow, "--db", db, "--fail-on-regression", "--tolerance", "1e7").want(t, 0, "")
		runCLI(t, master, "runs", "compare", fast, slow, "--db", db, "--tolerance", "-1").want(t, 2, "master runs compare: --tolerance")
	})
	t.Run("report", func(t *testing.T) {
		out := filepath.Join(dir, "report.html")
		r := runCLI(t, master, "report", fast, "-o", out, "--db", db)
		r.want(t, 0, "")
		html, err := os.ReadFile(out)
		if err != nil || !bytes.Contains(html, []byte("<html")) || !bytes.Contains(html, []byte(fast)) {
			t.Errorf("report %s: %v, %d bytes", out, err, len(html))
		}
		runCLI(t, master, "report", "--db", db).want(t, 2, "master report: want 1 argument")
		runCLI(t, master, "report", "no-such-run", "--db", db, "--output", filepath.Join(dir, "none.html")).want(t, 1, "master report: ")
		if _, err := os.Stat(filepath.Join(dir, "none.html")); err == nil {
			t.Error("a report of no run was written")
		}
	})
	t.Run("environment", func(t *testing.T) {
		cmd := exec.Command(master, "runs", "list")
		cmd.Env = []string{"STAMPEDE_DB=" + db}
		out, err := cmd.Output()
		if err != nil || !strings.Contains(string(out), fast) {
			t.Errorf("STAMPEDE_DB: %v\n%s", err, out)
		}
	})
	// Last: these change the store.
	t.Run("runs label", func(t *testing.T) {
		runCLI(t, master, "runs", "label", slow, "after-cache", "--db", db, "--notes", "cache off").want(t, 0, "")
		runCLI(t, master, "runs", "label", "no-such-run", "x", "--db", db).want(t, 1, "master runs label: ")
		runCLI(t, master, "runs", "label", slow, "x", "--db", filepath.Join(dir, "typo.db")).want(t, 1, "master runs label: ")
		if _, err := os.Stat(filepath.Join(dir, "typo.db")); err == nil {
			t.Error("a --db typo created a store")
		}
		show := runCLI(t, master, "runs", "show", slow, "--db", db)
		if !strings.Contains(show.stdout, "after-cache") || !strings.Contains(show.stdout, "cache off") {
			t.Errorf("runs show after label:\n%s", show.stdout)
		}
	})
	t.Run("runs delete", func(t *testing.T) {
		runCLI(t, master, "runs", "delete", fast, "no-such-run", "--db", db).want(t, 1, "master runs delete: ")
		runCLI(t, master, "runs", "show", fast, "--db", db).want(t, 0, "") // all or none: still there
		runCLI(t, master, "runs", "delete", fast, "--db", db).want(t, 0, "")
		runCLI(t, master, "runs", "show", fast, "--db", db).want(t, 1, "master runs show: ")
		if list := runCLI(t, master, "runs", "list", "--db", db); strings.Contains(list.stdout, fast) || !strings.Contains(list.stdout, slow) {
			t.Errorf("runs list after delete:\n%s", list.stdout)
		}
	})
}

// TestIssueTranscripts replays what a new user typed (issue 18), on the real
// binaries: each now does what it says, or fails once, on one line, with the command.
func TestIssueTranscripts(t *testing.T) {
	master, _ := binaries(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "s.db")
	fast, slow := seedRuns(t, master, db)

	// 1. The README's report line, with -o after the run id.
	out := filepath.Join(dir, "report.html")
	runCLI(t, master, "report", fast, "-o", out, "--db", db).want(t, 0, "")
	if _, err := os.Stat(out); err != nil {
		t.Errorf("report not written: %v", err)
	}
	// 2. --db after the run ids; a store that does not exist is named once and not created.
	runCLI(t, master, "runs", "compare", fast, slow, "--db", db, "--format", "markdown").want(t, 0, "")
	missing := filepath.Join(dir, "missing.db")
	r := runCLI(t, master, "runs", "compare", "A", "B", "--db", missing)
	r.want(t, 1, "master runs compare: open store: ")
	if strings.Count(r.stderr, "open store") != 1 {
		t.Errorf("stderr %q says open store more than once", r.stderr)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("a failed compare created the store")
	}
	// 3. --db before the sub-command.
	runCLI(t, master, "runs", "--db", db, "compare", fast, slow).want(t, 0, "")
	// 4. A script error is printed once, on its own line; wait=none() is a call like
	// the other waits, and a script using it runs.
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer target.Close()
	hit := filepath.Join(t.TempDir(), "hit.star")
	os.WriteFile(hit, []byte("def hit(user):\n    user.http.get(\"/\")\n\nHit = user(tasks=[hit], wait=none())\n"), 0o644)
	runCLI(t, master, "--headless", "-f", hit, "-H", target.URL, "-u", "1", "-t", "1s", "--listen", "127.0.0.1:0",
		"--db", filepath.Join(dir, "hit.db")).want(t, 0, "")
	bad := filepath.Join(t.TempDir(), "bad.star")
	os.WriteFile(bad, []byte("def hit(user):\n    user.get(\"/\")\n\nHit = user(tasks=[hit], wait=sometimes())\n"), 0o644)
	badDB := filepath.Join(dir, "bad.db")
	r = runCLI(t, master, "--headless", "-f", bad, "-H", target.URL, "-t", "1s", "--db", badDB)
	r.want(t, 2, "master: bad.star:4:")
	if _, err := os.Stat(badDB); err == nil {
		t.Error("a bad script created the store")
	}
	// 5. check of a missing file: prefixed, one line, a newline at the end.
	runCLI(t, master, "check", filepath.Join(dir, "missing.star")).want(t, 1, "master check: ")
}

// TestUsageErrors: what the user typed wrong exits 2 with one line naming the command.
func TestUsageErrors(t *testing.T) {
	master, worker := binaries(t)
	tests := []struct {
		bin    string
		args   []string
		prefix string
	}{
		{master, []string{"--no-such-flag"}, "master: unknown flag: --no-such-flag"},
		{master, []string{"nonsense"}, "master: unknown command \"nonsense\""},
		{master, []string{"runs"}, "master runs: want a command"},
		{master, []string{"runs", "remove", "x"}, "master runs: unknown command \"remove\""},
		{master, []string{"runs", "delete"}, "master runs delete: "},
		{master, []string{"check"}, "master check: want 1 argument"},
		{master, []string{"--headless", "-u", "-5", "-H", "http://127.0.0.1:1/"}, "master: --users must be"},
		{master, []string{"version", "extra"}, "master version: unknown command"},
		{master, []string{"--headless", "-H", "grpc://127.0.0.1:1", "-t", "1s"}, "master: --host \"grpc://127.0.0.1:1\": a grpc:// host needs --script"},
		{master, []string{"--headless", "-H", "http://127.0.0.1:1", "--grpc-method", "a.B/C"}, "master: --grpc-method needs --host grpc://host:port"},
		{master, []string{"--headless", "-H", "grpc://127.0.0.1:1", "--grpc-method", "stampede.echo.v1.Echo/Shout", "--listen", "127.0.0.1:0",
			"--proto", "../../examples/grpc/service/echo.proto"}, "master: grpc-quick.star:9:24: invoke: gRPC service stampede.echo.v1.Echo has no method Shout"},
		{worker, []string{"--master", "nohostport"}, "worker: --master"},
		{worker, []string{"stray"}, "worker: unknown command \"stray\""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			runCLI(t, tt.bin, tt.args...).want(t, 2, tt.prefix)
		})
	}
}

func TestVersionHelpCompletion(t *testing.T) {
	master, worker := binaries(t)
	for _, bin := range []string{master, worker} {
		name := filepath.Base(bin)
		r := runCLI(t, bin, "version")
		r.want(t, 0, "")
		if !strings.HasPrefix(r.stdout, "stampede "+name+" ") {
			t.Errorf("%s version: %q", name, r.stdout)
		}
		for _, shell := range []string{"bash", "zsh", "fish"} {
			if r := runCLI(t, bin, "completion", shell); r.code != 0 || !strings.Contains(r.stdout, name) {
				t.Errorf("%s completion %s: exit %d, %d bytes", name, shell, r.code, len(r.stdout))
			}
		}
		// The bash script loads in bash.
		load := exec.Command("bash", "-c", "source <("+bin+" completion bash) && complete -p "+name)
		if out, err := load.CombinedOutput(); err != nil {
			t.Errorf("bash could not load %s's completion: %v\n%s", name, err, out)
		}
	}
	help := runCLI(t, master, "--help")
	help.want(t, 0, "")
	last := -1
	for _, g := range flagGroups {
		i := strings.Index(help.stdout, "\n"+g.Title+"\n  e.g. "+g.Example+"\n")
		if i < last {
			t.Errorf("master --help: group %q missing or out of order", g.Name)
		}
		last = i
	}
	// Flags after the arguments, and -- ends the flags: a script named like a flag.
	wd := t.TempDir()
	os.WriteFile(filepath.Join(wd, "-x.star"), []byte("def t(user):\n    pass\nT = user(tasks=[t])\n"), 0o644)
	r := runIn(t, wd, master, "check", "--var", "A=1", "--", "-x.star")
	r.want(t, 0, "")
	if !strings.Contains(r.stdout, "-x.star: ok, 1 user classes") {
		t.Errorf("check -- -x.star: %q", r.stdout)
	}
}

func TestCheck(t *testing.T) {
	master, _ := binaries(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.star")
	os.WriteFile(good, []byte("def browse(user):\n    user.get(\"/\")\n\nShop = user(tasks=[browse], wait=none())\n"), 0o644)
	r := runCLI(t, master, "check", good)
	r.want(t, 0, "")
	if !strings.Contains(r.stdout, "ok, 1 user classes") || !strings.Contains(r.stdout, "Shop: weight 1, wait none") {
		t.Errorf("check %s: %q", good, r.stdout)
	}
	ordered := filepath.Join(dir, "ordered.star")
	os.WriteFile(ordered, []byte("def a(u):\n    pass\ndef b(u):\n    pass\nA = user(tasks=[a, b])\ndef shape(elapsed):\n    return None\n"), 0o644)
	r = runCLI(t, master, "check", ordered)
	r.want(t, 0, "")
	for _, want := range []string{"tasks in order: a, b", orderNote, "shape(): the script sets the users and ends the run"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check %s: %q lacks %q", ordered, r.stdout, want)
		}
	}
	py := filepath.Join(dir, "locustfile.py")
	os.WriteFile(py, []byte("from locust import HttpUser, task\n\nclass Shop(HttpUser):\n    @task\n    def browse(self):\n        self.client.get(\"/\")\n"), 0o644)
	r = runCLI(t, master, "check", py)
	if r.code != 1 {
		t.Errorf("check %s: exit %d, want 1", py, r.code)
	}
	// One problem a line, then how many.
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	want := []string{"locustfile.py: a .py file", "locustfile.py:1:1: from:", "locustfile.py:3:1: class Shop:", "locustfile.py:4:5: @task:",
		"locustfile.py:6:9: self.client:", "master check: 5 problems"}
	if len(lines) != len(want) {
		t.Fatalf("check %s: stderr %q, want %d lines", py, r.stderr, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("check %s: line %d %q, want it to begin %q", py, i+1, lines[i], want[i])
		}
	}
	// The ports of Locust's examples pass, with no hint.
	ports, _ := filepath.Glob(filepath.Join("..", "..", "examples", "locust", "*", "main.star"))
	if len(ports) != 10 {
		t.Errorf("%d ports of Locust's examples, want 10", len(ports))
	}
	for _, port := range ports {
		runCLI(t, master, "check", port).want(t, 0, "")
	}
	broken := filepath.Join(dir, "broken.star")
	os.WriteFile(broken, []byte("def browse(user)\n    user.get(\"/\")\n\nShop = user(tasks=[browse])\n"), 0o644)
	runCLI(t, master, "check", broken).want(t, 1,
		"master check: broken.star:1:17: got newline, want ':' (missing ':' after def browse(user)?)\n")
}

// TestWorkerRefused: a worker the master turns away (a wrong token, a certificate of
// another CA, a master certificate it does not trust) exits 1 at once, saying why,
// instead of retrying forever.
func TestWorkerRefused(t *testing.T) {
	master, worker := binaries(t)
	dir := t.TempDir()
	ca, foreign := newTestCA(t, dir, "ca"), newTestCA(t, dir, "foreign")
	ca.issue(t, dir, "master", true)
	ca.issue(t, dir, "worker", false)
	foreign.issue(t, dir, "stranger", false)
	file := func(name string) string { return filepath.Join(dir, name) }

	tokenAddr, tlsAddr := freePort(t), freePort(t)
	common := []string{"--headless", "-H", "http://127.0.0.1:1/", "-t", "1m", "--expect-workers", "1", "--local-workers", "0"}
	start(t, master, append(common, "--listen", tokenAddr, "--token", "right", "--db", filepath.Join(dir, "a.db"))...)
	start(t, master, append(common, "--listen", tlsAddr, "--db", filepath.Join(dir, "b.db"),
		"--tls-cert", file("master.crt"), "--tls-key", file("master.key"), "--tls-ca", file("ca.crt"))...)
	tests := []struct {
		name string
		args []string
		says string
	}{
		{"wrong token", []string{"--master", tokenAddr, "--token", "wrong"}, "refused"},
		{"foreign certificate", []string{"--master", tlsAddr, "--tls-ca", file("ca.crt"),
			"--tls-cert", file("stranger.crt"), "--tls-key", file("stranger.key")}, "refused this worker's TLS"},
		{"untrusted master", []string{"--master", tlsAddr, "--tls-ca", file("foreign.crt"),
			"--tls-cert", file("worker.crt"), "--tls-key", file("worker.key")}, "refused this worker's TLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, worker, append(tt.args, "--log-level", "error")...)
			r.want(t, 1, "worker: ")
			if !strings.Contains(r.stderr, tt.says) {
				t.Errorf("stderr %q does not say %q", r.stderr, tt.says)
			}
		})
	}
}

// testCA signs certificates for the TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// newTestCA writes dir/name.crt, a self-signed CA.
func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	ca := &testCA{}
	ca.cert, ca.key = writeCert(t, dir, name, &x509.Certificate{IsCA: true, KeyUsage: x509.KeyUsageCertSign,
		BasicConstraintsValid: true}, nil)
	return ca
}

// issue writes dir/name.crt and dir/name.key, a server (127.0.0.1) or client
// certificate of the CA.
func (ca *testCA) issue(t *testing.T, dir, name string, server bool) {
	t.Helper()
	tmpl := &x509.Certificate{KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	writeCert(t, dir, name, tmpl, ca)
}

// writeCert completes tmpl, signs it (by parent, or itself when nil) and writes it
// with its key as PEM files.
func writeCert(t *testing.T, dir, name string, tmpl *x509.Certificate, parent *testCA) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.Subject = pkix.Name{CommonName: name}
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	signer, signKey := tmpl, key
	if parent != nil {
		signer, signKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}
