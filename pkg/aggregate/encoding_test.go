package aggregate

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files and seed corpora in testdata/")

// bigCounts returns a histogram holding counts above MaxUint32.
func bigCounts() *Histogram {
	h := dense(NewHistogram())
	h.addDense(indexOf(1000), 1<<33)
	h.addDense(indexOf(2_000_000), 5)
	h.total = 1<<33 + 5
	return h
}

func TestHistogramRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	tests := []struct {
		name string
		h    *Histogram
	}{
		{"empty", NewHistogram()},
		{"one value", histogramOf(time.Millisecond)},
		{"extremes", histogramOf(0, time.Microsecond, time.Hour, 5*time.Hour)},
		{"1000 samples", histogramOf(latencies(rng, 1000, 20*time.Millisecond)...)},
		{"1000 samples sparse", sparse(histogramOf(latencies(rng, 1000, 20*time.Millisecond)...))},
		{"100000 samples", histogramOf(latencies(rng, 100000, 20*time.Millisecond)...)},
		{"sparse", sparse(histogramOf(time.Second, time.Second, time.Minute))},
		{"counts above MaxUint32", bigCounts()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustMarshal(t, tt.h)
			var got Histogram
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if !got.Equal(tt.h) || got.Count() != tt.h.Count() {
				t.Fatalf("decoded histogram differs (count %d, want %d)", got.Count(), tt.h.Count())
			}
			for _, p := range []float64{0, 50, 99, 99.99, 100} {
				if got.Percentile(p) != tt.h.Percentile(p) {
					t.Errorf("Percentile(%v) = %v, want %v", p, got.Percentile(p), tt.h.Percentile(p))
				}
			}
			if again := mustMarshal(t, &got); !bytes.Equal(again, b) {
				t.Errorf("re-encoding differs: the encoding is not canonical")
			}
			appended, _ := tt.h.AppendBinary([]byte("prefix"))
			if !bytes.Equal(appended, append([]byte("prefix"), b...)) {
				t.Errorf("AppendBinary differs from MarshalBinary")
			}
		})
	}
}

func TestHistogramEncodingIsCompact(t *testing.T) {
	h := histogramOf(latencies(rand.New(rand.NewPCG(1, 1)), 1000, 20*time.Millisecond)...)
	if b := mustMarshal(t, h); len(b) > 2000 {
		t.Errorf("1000 samples encode to %d bytes, want at most 2000", len(b))
	}
}

func TestHistogramUnmarshalRejectsMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "unexpected end"},
		{"unknown version", []byte{2, 0}, "unsupported version 2"},
		{"missing bucket count", []byte{1}, "unexpected end"},
		{"truncated bucket", []byte{1, 1, 5}, "buckets claimed"},
		{"truncated count", []byte{1, 1, 5, 0x80}, "unexpected end"},
		{"trailing bytes", []byte{1, 0, 0}, "trailing"},
		{"zero count", []byte{1, 1, 5, 0}, "zero"},
		{"index beyond the array", []byte{1, 1, 0x80, 0xb8, 0x01, 1}, "beyond"},              // skip 23552
		{"second index beyond the array", []byte{1, 2, 0xfe, 0xb7, 0x01, 1, 1, 1}, "beyond"}, // 23550, then 23552
		{"huge skip", []byte{1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 1}, "beyond"},
		{"too many buckets for the array", append([]byte{1, 0x81, 0xb8, 0x01}, make([]byte, 2*23553)...), "buckets claimed"},
		{"more buckets than bytes", []byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 1}, "buckets claimed"},
		{"non-minimal varint", []byte{1, 1, 0x80, 0x00, 1}, "minimally"},
		{"varint overflow", []byte{1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, "overflows"},
		{"count above MaxInt64", []byte{1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "overflows the total"},
		{"total above MaxInt64", []byte{1, 2, 0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 2}, "overflows the total"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := histogramOf(time.Second)
			err := h.UnmarshalBinary(tt.in)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("UnmarshalBinary(%x) = %v, want an ErrMalformed mentioning %q", tt.in, err, tt.want)
			}
			if !h.Equal(histogramOf(time.Second)) {
				t.Errorf("a failed UnmarshalBinary changed the histogram")
			}
		})
	}
}

// A payload claiming many elements must not make the decoder allocate for them.
func TestUnmarshalDoesNotTrustLengths(t *testing.T) {
	tests := []struct {
		name string
		dst  interface{ UnmarshalBinary([]byte) error }
		in   []byte
	}{
		{"histogram buckets", &Histogram{}, []byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"snapshot endpoints", &Snapshot{}, []byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0}},
		{"snapshot errors", &Snapshot{}, []byte{1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"string length", &Snapshot{}, []byte{1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const runs = 100
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range runs {
				if err := tt.dst.UnmarshalBinary(tt.in); err == nil {
					t.Fatal("hostile input accepted")
				}
			}
			runtime.ReadMemStats(&after)
			if perRun := (after.TotalAlloc - before.TotalAlloc) / runs; perRun > 4096 {
				t.Errorf("rejecting it allocated %d bytes per run", perRun)
			}
		})
	}
}

// snapshotFixture has every kind of content an encoding must carry.
func snapshotFixture() *Snapshot {
	s := report(31, 4, 300)
	s.Endpoints[Endpoint{Method: "custom", Name: "empty"}] = NewStats()
	s.Endpoints[Endpoint{Method: "", Name: "dense"}] = &Stats{
		Requests: 100001, Failures: 7, Bytes: math.MaxUint64, TotalTime: -time.Second,
		Latency: histogramOf(latencies(rand.New(rand.NewPCG(1, 2)), 100000, time.Second)...),
	}
	s.Endpoints[Endpoint{Method: "GET", Name: "big counts"}] = &Stats{Requests: 1<<33 + 5, Latency: bigCounts()}
	s.Endpoints[Endpoint{Method: "GET", Name: "ünïcode \x00 name"}] = &Stats{Requests: 1, Latency: histogramOf(time.Minute)}
	s.AddError(ErrorKey{Endpoint: Endpoint{"GET", "/x"}, Message: strings.Repeat("long message ", 50)}, math.MaxUint64)
	return s
}

func TestSnapshotRoundTrip(t *testing.T) {
	withTimes := func(start, end time.Time) *Snapshot {
		s := snapshotFixture()
		s.Start, s.End = start, end
		return s
	}
	tests := []struct {
		name string
		s    *Snapshot
	}{
		{"empty", &Snapshot{}},
		{"new", NewSnapshot(t0)},
		{"full", snapshotFixture()},
		{"zero start", withTimes(time.Time{}, t0)},
		{"zero end", withTimes(t0, time.Time{})},
		{"before 1970", withTimes(time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC), t0)},
		{"local time with monotonic clock", withTimes(time.Now(), time.Now().Add(time.Second))},
		{"nil latency", &Snapshot{Endpoints: map[Endpoint]*Stats{{"GET", "/"}: {Requests: 3}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustMarshal(t, tt.s)
			got := report(1, 2, 10) // decoding replaces what was there
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if !got.Equal(tt.s) {
				t.Fatalf("decoded snapshot differs")
			}
			if !got.Start.Equal(tt.s.Start) || !got.End.Equal(tt.s.End) || got.Start.IsZero() != tt.s.Start.IsZero() {
				t.Errorf("times [%v, %v], want [%v, %v]", got.Start, got.End, tt.s.Start, tt.s.End)
			}
			for ep, want := range tt.s.Endpoints {
				st := got.Endpoints[ep]
				if st.Requests != want.Requests || st.Failures != want.Failures || st.Bytes != want.Bytes ||
					st.TotalTime != want.TotalTime || !st.Latency.Equal(want.Latency) {
					t.Errorf("endpoint %v: got %+v, want %+v", ep, *st, *want)
				}
			}
			if again := mustMarshal(t, got); !bytes.Equal(again, b) {
				t.Errorf("re-encoding differs: the encoding is not canonical")
			}
		})
	}
}

func TestSnapshotUnmarshalRejectsMalformed(t *testing.T) {
	valid := mustMarshal(t, report(41, 2, 20))
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "unexpected end"},
		{"unknown version", []byte{9, 0, 0, 0}, "unsupported version 9"},
		{"unknown flags", []byte{1, 4, 0, 0}, "unknown flags"},
		{"missing start", []byte{1, 1}, "unexpected end"},
		{"no error count", []byte{1, 0, 0}, "unexpected end"},
		{"trailing bytes", []byte{1, 0, 0, 0, 0}, "trailing"},
		{"endpoints claimed", []byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0}, "elements claimed"},
		{"errors claimed", []byte{1, 0, 0, 0xff, 0xff, 0x03}, "elements claimed"},
		{"string past the end", []byte{1, 0, 1, 100, 'G', 'E', 'T', 0, 0, 0, 0, 0, 0}, "string of 100 bytes"},
		{"repeated endpoint", []byte{1, 0, 2, 0, 1, 'a', 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 0, 0, 0, 0}, "out of order"},
		{"endpoints out of order", []byte{1, 0, 2, 0, 1, 'b', 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 0, 0, 0, 0}, "out of order"},
		{"errors out of order", []byte{1, 0, 0, 2, 0, 0, 1, 'b', 1, 0, 0, 1, 'a', 1}, "out of order"},
		{"bad histogram", []byte{1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, "zero"},
		{"truncated valid", valid[:len(valid)-1], "unexpected end"},
		{"valid plus a byte", append(append([]byte{}, valid...), 0), "trailing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := report(1, 2, 10)
			err := s.UnmarshalBinary(tt.in)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("UnmarshalBinary = %v, want an ErrMalformed mentioning %q", err, tt.want)
			}
			if !s.Equal(report(1, 2, 10)) {
				t.Errorf("a failed UnmarshalBinary changed the snapshot")
			}
		})
	}
}

// Every truncation of a valid payload is rejected, without a panic.
func TestSnapshotUnmarshalEveryTruncation(t *testing.T) {
	valid := mustMarshal(t, snapshotFixture())
	for n := range len(valid) {
		var s Snapshot
		if err := s.UnmarshalBinary(valid[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d of %d bytes: err = %v, want ErrMalformed", n, len(valid), err)
		}
	}
}

// decodesTo checks that testdata/snapshot-vN.hex, the encoding of an older
// version, still decodes to want.
func decodesTo(t *testing.T, version int, want *Snapshot) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", fmt.Sprintf("snapshot-v%d.hex", version)))
	if err != nil {
		t.Fatal(err)
	}
	old, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	var got Snapshot
	if err := got.UnmarshalBinary(old); err != nil || !got.Equal(want) {
		t.Errorf("version %d encoding no longer decodes to the same data: %v", version, err)
	}
}

// The encoding of a fixed snapshot is pinned: a change to it needs a new
// version byte (and a decoder for the old one, since stores keep old runs).
func TestSnapshotEncodingGolden(t *testing.T) {
	s := NewSnapshot(t0)
	s.End = t0.Add(time.Second)
	get, post := Endpoint{"GET", "/items"}, Endpoint{"POST", "/items"}
	s.Endpoints[get] = &Stats{Requests: 3, Failures: 1, Bytes: 4096, TotalTime: 1234567 * time.Microsecond,
		Latency: histogramOf(time.Millisecond, time.Millisecond, 1232567*time.Microsecond)}
	s.Endpoints[post] = &Stats{Requests: 1, Bytes: 10, TotalTime: 5 * time.Microsecond, Latency: histogramOf(5 * time.Microsecond)}
	s.AddError(ErrorKey{Endpoint: get, Message: "HTTP 503"}, 1)

	// Version 1 (no counters, no exceptions) is still read: stores keep old runs.
	decodesTo(t, 1, s)

	s.AddCount("cache_hit", 7)
	s.AddException(ExceptionKey{Message: "key error", Traceback: "main.star:3:5: in task"}, 2)
	// Version 2 (no slowest requests) is still read.
	decodesTo(t, 2, s)
	s.noteSlow(SlowRequest{Endpoint: get, URL: "/items?page=2", Latency: 1232567 * time.Microsecond,
		At: t0.Add(time.Second), Worker: "w1", Err: "HTTP 503"})
	// Version 3 (no service or corrected latency) is still read.
	decodesTo(t, 3, s)
	s.Endpoints[get].Service = histogramOf(3*time.Millisecond, 40*time.Millisecond)
	s.Endpoints[get].Corrected = histogramOf(9*time.Millisecond, 450*time.Millisecond, 350*time.Millisecond)
	// Version 4 (no trace ids) is still read.
	decodesTo(t, 4, s)
	s.Slowest[0].TraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	got := hex.EncodeToString(mustMarshal(t, s)) + "\n"
	path := filepath.Join("testdata", "snapshot-v5.hex")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("encoding changed\n got %s\nwant %s", got, want)
	}
	var back Snapshot
	if err := back.UnmarshalBinary(mustMarshal(t, s)); err != nil || !back.Equal(s) {
		t.Errorf("golden snapshot does not round-trip: %v", err)
	}
}
