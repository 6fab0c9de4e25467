package locust

import (
	"maps"
	"math"
	"slices"
	"time"

	"github.com/stampede-load/stampede/pkg/cluster"
)

// start applies a CommandStart (s.mu held). The controller sends absolute
// per-class targets and this worker's share of the spawn rate.
//
// A Locust worker starts or stops the difference to a spawn message at once (its
// master paces the ramp), so the Server paces it: a spawn every step/rate
// seconds, each moving step = max(1, floor(rate)) users toward the target, as
// Locust's own master does.
//
// boomer v1.6 restarts all of its users (and clears its unreported statistics)
// on every spawn and paces the start itself at spawn_rate, so it gets one spawn
// with the total, and none when its total did not change.
func (s *Server) start(w *worker, cmd cluster.Command) error {
	if w.runID != cmd.RunID {
		// A new run: its statistics start now.
		w.runID, w.lastStats, w.stopping, w.final = cmd.RunID, time.Now(), false, false
		w.sent = map[string]int{}
	}
	w.plan = cmd.PlanVersion
	w.target = maps.Clone(cmd.Users)
	w.rate = cmd.SpawnRate
	w.host = cmd.Scenario.Host
	if w.ramp != nil {
		w.ramp.Stop()
		w.ramp = nil
	}
	if w.info.Kind == cluster.KindBoomer {
		if total(w.target) == total(w.sent) && len(w.sent) > 0 {
			w.sent = maps.Clone(w.target)
			return nil
		}
		return s.spawn(w, maps.Clone(w.target))
	}
	return s.step(w)
}

// step sends the next spawn of a Locust worker's ramp and schedules the one after
// (s.mu held).
func (s *Server) step(w *worker) error {
	n := len(w.sent) == 0 // the first spawn of a run goes out even with no users
	size := stepSize(w.rate)
	next := stepToward(w.sent, w.target, size)
	if !n && maps.Equal(next, w.sent) {
		return nil
	}
	if err := s.spawn(w, next); err != nil {
		return err
	}
	if maps.Equal(withoutZeros(next), withoutZeros(w.target)) {
		return nil
	}
	wait := time.Duration(float64(size) / w.rate * float64(time.Second))
	runID := w.runID
	w.ramp = time.AfterFunc(wait, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if cur := s.workers[w.info.ID]; cur != w || !w.joined || w.runID != runID || w.stopping || w.final {
			return
		}
		w.ramp = nil
		if err := s.step(w); err != nil {
			s.log.Warn("locust spawn step", "worker_id", w.info.ID, "err", err)
		}
	})
	return nil
}

// spawn sends one spawn message with absolute per-class counts (s.mu held). The
// message carries what Locust 2.x reads (user_classes_count, host,
// stop_timeout, timestamp, parsed_options) and what boomer v1.6 reads
// (num_users, a float spawn_rate).
func (s *Server) spawn(w *worker, counts map[string]int) error {
	ucc := map[string]any{}
	for name, n := range counts {
		// A Locust worker crashes on a class it does not have: a class goes out
		// only once it has users, and stays (at 0) to bring them down.
		if n > 0 || w.known[name] {
			ucc[name] = n
			w.known[name] = true
		}
	}
	stamp := float64(time.Now().UnixNano()) / 1e9
	if stamp <= w.lastStamp {
		stamp = math.Nextafter(w.lastStamp, math.Inf(1))
	}
	w.lastStamp = stamp
	var host any
	if w.host != "" {
		host = w.host
	}
	rate := w.rate
	if !(rate > 0) || math.IsInf(rate, 0) {
		rate = 1e6 // boomer divides by it; the controller never sends 0 with users
	}
	data := map[string]any{
		"timestamp":          stamp,
		"user_classes_count": ucc,
		"host":               host,
		"stop_timeout":       s.cfg.StopTimeout.Seconds(),
		"parsed_options":     map[string]any{},
		"num_users":          total(counts),
		"spawn_rate":         rate,
	}
	if err := s.sendLocked(w, message{Type: "spawn", Data: data}); err != nil {
		return err
	}
	w.sent = counts
	return nil
}

// stepSize is how many users one ramp step moves: max(1, floor(rate)).
func stepSize(rate float64) int {
	if !(rate >= 1) {
		return 1
	}
	if rate > 1e6 {
		return 1_000_000
	}
	return int(math.Floor(rate))
}

// stepToward moves up to n users from cur toward target, one at a time, always
// on the class furthest from its target (ties by name), so classes ramp together
// in proportion. It returns a new map; cur is not changed.
func stepToward(cur, target map[string]int, n int) map[string]int {
	next := maps.Clone(cur)
	if next == nil {
		next = map[string]int{}
	}
	names := slices.Sorted(maps.Keys(union(cur, target)))
	for range n {
		best, gap := "", 0
		for _, name := range names {
			g := target[name] - next[name]
			if abs(g) > abs(gap) {
				best, gap = name, g
			}
		}
		if gap == 0 {
			break
		}
		if gap > 0 {
			next[best]++
		} else {
			next[best]--
		}
	}
	return next
}

func union(a, b map[string]int) map[string]int {
	u := maps.Clone(a)
	if u == nil {
		u = map[string]int{}
	}
	for k := range b {
		u[k] += 0
	}
	return u
}

func withoutZeros(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
