package store

import (
	"bytes"
	"errors"
	"testing"
)

// The record decoders read a file on disk, so they must never panic and must return
// ErrCorrupt for what they cannot decode. Seeds live in testdata/fuzz.

func FuzzDecodeInterval(f *testing.F) {
	f.Fuzz(func(t *testing.T, key, val []byte) {
		h, snap, err := decodeInterval(key, val)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if h.Seq == 0 || h.Users < 0 || h.Workers < 0 || len(snap) == 0 {
			t.Fatalf("decoded an invalid interval %+v with %d snapshot bytes", h, len(snap))
		}
		// What decodes re-encodes to a record that decodes the same.
		h2, snap2, err := decodeInterval(key, encodeInterval(nil, h, snap))
		if err != nil {
			t.Fatalf("re-encoded %+v does not decode: %v", h, err)
		}
		if h2.Seq != h.Seq || !h2.At.Equal(h.At) || h2.Users != h.Users || h2.Workers != h.Workers || h2.Reports != h.Reports || !bytes.Equal(snap2, snap) {
			t.Fatalf("round trip: %+v, want %+v", h2, h)
		}
	})
}

func FuzzDecodeRun(f *testing.F) {
	f.Fuzz(func(t *testing.T, key, val []byte) {
		rec, err := decodeRun(key, val)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if rec.ID != string(key) || !rec.Status.valid() || rec.StartedAt.IsZero() {
			t.Fatalf("decoded an invalid run %+v", rec)
		}
		b, err := encodeRun(rec)
		if err != nil {
			t.Fatalf("decoded run %+v does not encode: %v", rec, err)
		}
		rec2, err := decodeRun(key, b)
		if err != nil {
			t.Fatalf("re-encoded run does not decode: %v\n%s", err, b)
		}
		if d := runDiff(rec2.run(), rec.run()); d != "" {
			t.Fatalf("round trip: %s", d)
		}
	})
}

func FuzzDecodeEvent(f *testing.F) {
	f.Fuzz(func(t *testing.T, key, val []byte) {
		e, err := decodeEvent(key, val)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if e.Kind == "" || e.At.IsZero() {
			t.Fatalf("decoded an invalid event %+v", e)
		}
		b, err := encodeEvent(e)
		if err != nil {
			t.Fatalf("decoded event %+v does not encode: %v", e, err)
		}
		e2, err := decodeEvent(key, b)
		if err != nil || !e2.At.Equal(e.At) || e2.Kind != e.Kind || e2.Worker != e.Worker || e2.Detail != e.Detail {
			t.Fatalf("round trip: %+v, %v; want %+v", e2, err, e)
		}
	})
}

func FuzzDecodeTelemetry(f *testing.F) {
	key := append(seqKey(3), "w1"...)
	f.Add(key, encodeTelemetry(TelemetryRecord{Seq: 3, At: t0, Host: "w1", Role: "worker", Sample: []byte(`{"host":{"cores":2}}`)}))
	f.Add(key, []byte(`{"v":1,"seq":3,"at":"2026-12-08T00:58:14Z","host":"w1","role":"worker","sample":{"host":{"cores":2}}}`))
	f.Fuzz(func(t *testing.T, key, val []byte) {
		r, err := decodeTelemetry(key, val)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if len(r.Sample) == 0 && val[0] != '{' {
			t.Fatalf("decoded a record without a sample: %+v", r)
		}
		if val[0] == '{' { // version 1 is only read
			return
		}
		// What decodes re-encodes to a record that decodes the same.
		r2, err := decodeTelemetry(key, encodeTelemetry(r))
		if err != nil || r2.Seq != r.Seq || !r2.At.Equal(r.At) || r2.Role != r.Role || r2.Host != r.Host || !bytes.Equal(r2.Sample, r.Sample) {
			t.Fatalf("round trip: %+v, %v; want %+v", r2, err, r)
		}
	})
}
