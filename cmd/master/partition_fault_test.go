package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// netnsWorld is a network namespace the test creates for one worker, joined to the
// root namespace by two veth pairs: one to the master (the link the test cuts) and
// one to the target (which stays up, so the target sees whether the worker still
// fires). All addresses are in a random 10.x.y.0/29 only this test uses.
type netnsWorld struct {
	ns                     string
	masterLink             string // root end of the master link
	masterIP, targetIP     string // root-side addresses
	workerIP, workerTarget string // the worker's addresses on the two links
}

// newNetns builds the namespace, or skips where ip netns cannot run (not root, no
// iproute2); under CI (CI=true, root) it fails instead.
func newNetns(t *testing.T) *netnsWorld {
	t.Helper()
	skip := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI runs the partition tests as root: "+format, args...)
		}
		t.Skipf("partition test needs root and ip netns (iproute2): "+format, args...)
	}
	if os.Geteuid() != 0 {
		skip("not root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		skip("no ip command: %v", err)
	}
	id := fmt.Sprintf("%04x", rand.IntN(1<<16))
	a, b := 100+rand.IntN(150), rand.IntN(32)*8
	w := &netnsWorld{ns: "stampede-" + id, masterLink: "stm" + id,
		masterIP: fmt.Sprintf("10.%d.%d.1", a, b), workerIP: fmt.Sprintf("10.%d.%d.2", a, b),
		targetIP: fmt.Sprintf("10.%d.%d.5", a, b), workerTarget: fmt.Sprintf("10.%d.%d.6", a, b)}
	ip := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := ip("netns", "add", w.ns); err != nil {
		skip("%v", err)
	}
	t.Cleanup(func() {
		_ = ip("link", "del", w.masterLink)
		_ = ip("link", "del", "stt"+id)
		_ = ip("netns", "del", w.ns)
	})
	for _, l := range []struct{ root, peer, rootIP, peerIP string }{
		{w.masterLink, "stm" + id + "p", w.masterIP, w.workerIP},
		{"stt" + id, "stt" + id + "p", w.targetIP, w.workerTarget},
	} {
		for _, args := range [][]string{
			{"link", "add", l.root, "type", "veth", "peer", "name", l.peer},
			{"link", "set", l.peer, "netns", w.ns},
			{"addr", "add", l.rootIP + "/30", "dev", l.root},
			{"link", "set", l.root, "up"},
			{"-n", w.ns, "addr", "add", l.peerIP + "/30", "dev", l.peer},
			{"-n", w.ns, "link", "set", l.peer, "up"},
		} {
			if err := ip(args...); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := ip("-n", w.ns, "link", "set", "lo", "up"); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *netnsWorld) setMasterLink(t *testing.T, state string) {
	t.Helper()
	if out, err := exec.Command("ip", "link", "set", w.masterLink, state).CombinedOutput(); err != nil {
		t.Fatalf("ip link set %s %s: %v: %s", w.masterLink, state, err, out)
	}
}

// sourceLog counts requests per client address and when each last came.
type sourceLog struct {
	mu     sync.Mutex
	served map[string]int
	last   map[string]time.Time
}

func (s *sourceLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	s.mu.Lock()
	s.served[host]++
	s.last[host] = time.Now()
	s.mu.Unlock()
}

func (s *sourceLog) read(host string) (int, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served[host], s.last[host]
}

// TestPartitionWorkerNetns runs one worker process in its own network namespace and
// takes its link to the master down for 10 s, then up: the master marks it lost and
// moves its users to the other worker, the cut-off worker stops its load by itself
// (the target, reachable over another link, sees it go quiet), and once the link is
// back it rejoins and takes users again.
func TestPartitionWorkerNetns(t *testing.T) {
	masterBin, workerBin := binaries(t)
	w := newNetns(t)
	target := &sourceLog{served: map[string]int{}, last: map[string]time.Time{}}
	ts := serveOn(t, w.targetIP+":0", target)

	addr := net.JoinHostPort(w.masterIP, strings.Split(freePort(t), ":")[1])
	db := filepath.Join(t.TempDir(), "runs.db")
	m := exec.Command(masterBin, "--headless", "-u", "10", "-r", "100", "-t", "25s", "-H", ts.URL+"/x",
		"--wait", "50ms", "--expect-workers", "2", "--listen", addr, "--token", "partition-test", "--db", db,
		"--exit-code-on-error", "0")
	progress := followMaster(t, m)
	start(t, workerBin, "--master", addr, "--id", "rooted", "--token", "partition-test", "--log-level", "error")
	start(t, "ip", "netns", "exec", w.ns, workerBin, "--master", addr, "--id", "cut", "--token", "partition-test", "--log-level", "error")
	waitFor(t, 20*time.Second, "load from the worker in the namespace", func() bool { n, _ := target.read(w.workerTarget); return n > 50 })

	w.setMasterLink(t, "down")
	cut := time.Now()
	at := progress.len()
	waitFor(t, 15*time.Second, "the users to move to the other worker", func() bool {
		ok, _ := progress.since(at, "users 10/10  workers 1 ")
		return ok
	})
	waitFor(t, 60*time.Second, "the cut-off worker to stop its load", func() bool {
		_, last := target.read(w.workerTarget)
		return time.Since(last) > 1500*time.Millisecond
	})
	nCut, last := target.read(w.workerTarget)
	t.Logf("fault timing: a partitioned worker stopped its load %v after the cut (target <= 7s)", last.Sub(cut).Round(time.Millisecond))
	if d := time.Until(cut.Add(10 * time.Second)); d > 0 {
		time.Sleep(d) // the partition lasts 10 s
	}
	w.setMasterLink(t, "up")
	healed := time.Now()
	at = progress.len()
	waitFor(t, 25*time.Second, "the worker to rejoin and take users", func() bool {
		ok, _ := progress.since(at, "users 10/10  workers 2 ")
		return ok
	})
	waitFor(t, 10*time.Second, "load from the rejoined worker", func() bool { n, _ := target.read(w.workerTarget); return n > nCut })
	t.Logf("cut: users moved, worker quiet %v after the cut; rejoined %v after the heal",
		last.Sub(cut).Round(time.Millisecond), time.Since(healed).Round(time.Millisecond))
	if err := m.Wait(); err != nil {
		t.Fatalf("master: %v", err)
	}
	s, run := storedRun(t, db)
	events, _ := s.Events(run.ID)
	var kinds []string
	for _, e := range events {
		if e.Worker == "cut" {
			kinds = append(kinds, string(e.Kind))
		}
	}
	if got := strings.Join(kinds, " "); !strings.Contains(got, "worker_joined worker_lost worker_joined") {
		t.Errorf("events of the cut-off worker: %s", got)
	}
}
