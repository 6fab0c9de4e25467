package aggregate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// t0 is the start of every test interval.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// latencies returns n latencies with a realistic spread: log-normal around a
// median (the bulk) with a slow tail of 1% at 10x.
func latencies(rng *rand.Rand, n int, median time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		d := time.Duration(math.Exp(math.Log(float64(median)) + 0.6*rng.NormFloat64()))
		if rng.IntN(100) == 0 {
			d *= 10
		}
		out[i] = d
	}
	return out
}

// samples returns n samples over the given endpoints, about 1% failing with one
// of three messages.
func samples(rng *rand.Rand, n int, endpoints []Endpoint) []Sample {
	lat := latencies(rng, n, 20*time.Millisecond)
	out := make([]Sample, n)
	for i := range out {
		s := Sample{
			Endpoint: endpoints[rng.IntN(len(endpoints))],
			Latency:  lat[i],
			Bytes:    int64(200 + rng.IntN(5000)),
		}
		if rng.IntN(100) == 0 {
			s.Err = fmt.Sprintf("HTTP %d", 500+rng.IntN(3))
		}
		out[i] = s
	}
	return out
}

// endpoints returns n distinct endpoints.
func endpoints(n int) []Endpoint {
	methods := []string{"GET", "POST", "PUT"}
	out := make([]Endpoint, n)
	for i := range out {
		out[i] = Endpoint{Method: methods[i%len(methods)], Name: fmt.Sprintf("/api/v1/resource%02d/{id}", i)}
	}
	return out
}

// collect records samples through one Recorder of a fresh Collector and
// returns the interval [t0, end).
func collect(ss []Sample, end time.Time) *Snapshot {
	c := NewCollector(t0)
	r := c.NewRecorder()
	for _, s := range ss {
		r.Record(s, t0)
	}
	r.Flush()
	return c.Swap(end)
}

// report returns one worker's 1 s report: each endpoint with about
// perEndpoint samples.
func report(seed uint64, nEndpoints, perEndpoint int) *Snapshot {
	rng := rand.New(rand.NewPCG(seed, 7))
	return collect(samples(rng, nEndpoints*perEndpoint, endpoints(nEndpoints)), t0.Add(time.Second))
}

// histogramOf records ds into a new Histogram.
func histogramOf(ds ...time.Duration) *Histogram {
	h := NewHistogram()
	for _, d := range ds {
		h.Record(d)
	}
	return h
}

// dense returns h switched to the dense form.
func dense(h *Histogram) *Histogram {
	if h.pages == nil {
		h.promote()
	}
	return h
}

// sparse returns h switched to the sparse form.
func sparse(h *Histogram) *Histogram {
	h.demote()
	if h.pages != nil {
		panic("histogram does not fit the sparse form")
	}
	return h
}

// forms are the two forms of a Histogram, which must give the same answers.
var forms = []struct {
	name string
	to   func(*Histogram) *Histogram
}{
	{"dense", dense},
	{"sparse", sparse},
}

func mustMarshal(t testing.TB, m interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	return b
}
