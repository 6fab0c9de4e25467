package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketTelemetry holds a run's host samples: rundata/<run>/telemetry, key = the
// interval's 8-byte big-endian Seq followed by the host id, value = a record:
//
//	version 2: byte 2, varint At (seconds), uvarint At (nanoseconds), uvarint
//	           len(Role), Role, then the sample's bytes as they were given
//	version 1: a JSON object {"v":1,"seq","at","host","role","sample"} (written
//	           by releases before version 2; still read; its first byte is '{')
var bucketTelemetry = []byte("telemetry")

const telemetryRecordVersion = 2

// maxSampleBytes bounds one stored sample (package telemetry's own limit is lower).
const maxSampleBytes = 1 << 20

// TelemetryRecord is one host's sample for one interval of a run. The store keeps
// Sample as the bytes it was given, in package telemetry's one encoding (the same
// a worker sends): the store does not interpret them.
type TelemetryRecord struct {
	Seq    uint64    `json:"seq"`
	At     time.Time `json:"at"`
	Host   string    `json:"host"` // worker or agent id
	Role   string    `json:"role"` // "worker" or "agent"
	Sample []byte    `json:"-"`
}

func encodeTelemetry(r TelemetryRecord) []byte {
	dst := appendTime([]byte{telemetryRecordVersion}, r.At)
	dst = binary.AppendUvarint(dst, uint64(len(r.Role)))
	dst = append(dst, r.Role...)
	return append(dst, r.Sample...)
}

// decodeTelemetry decodes the record stored under key (either version); the sample
// is copied out of val. It never panics.
func decodeTelemetry(key, val []byte) (TelemetryRecord, error) {
	fail := func(problem string) (TelemetryRecord, error) {
		return TelemetryRecord{}, fmt.Errorf("%w: telemetry record %x: %s", ErrCorrupt, key, problem)
	}
	if len(key) < 9 {
		return fail("short key")
	}
	r := TelemetryRecord{Seq: binary.BigEndian.Uint64(key[:8]), Host: string(key[8:])}
	if len(val) > 0 && val[0] == '{' { // version 1
		var v1 struct {
			V      int             `json:"v"`
			Seq    uint64          `json:"seq"`
			At     time.Time       `json:"at"`
			Host   string          `json:"host"`
			Role   string          `json:"role"`
			Sample json.RawMessage `json:"sample"`
		}
		if err := json.Unmarshal(val, &v1); err != nil || v1.V != 1 || v1.Seq != r.Seq {
			return fail(fmt.Sprint(errors.Join(err, errors.New("bad version or key"))))
		}
		r.At, r.Host, r.Role, r.Sample = v1.At, v1.Host, v1.Role, append([]byte(nil), v1.Sample...)
		return r, nil
	}
	if len(val) == 0 || val[0] != telemetryRecordVersion {
		return fail("unknown record version")
	}
	at, rest, problem := readTime(val[1:])
	if problem != "" {
		return fail(problem)
	}
	l, n := binary.Uvarint(rest)
	if n <= 0 || l > uint64(len(rest)-n) {
		return fail("bad role")
	}
	rest = rest[n:]
	r.At = at
	r.Role, rest = string(rest[:l]), rest[l:]
	if len(rest) == 0 {
		return fail("no sample")
	}
	r.Sample = append([]byte(nil), rest...)
	return r, nil
}

// AppendTelemetry stores samples for interval seq of a running run, in one
// transaction.
func (db *DB) AppendTelemetry(id string, recs []TelemetryRecord) error {
	if len(recs) == 0 {
		return nil
	}
	type kv struct{ k, v []byte }
	var puts []kv
	for _, r := range recs {
		if r.Host == "" || len(r.Host) > MaxIDLen || len(r.Sample) == 0 || len(r.Sample) > maxSampleBytes || len(r.Role) > MaxIDLen {
			return fmt.Errorf("append telemetry to run %q: bad record for host %q", id, r.Host)
		}
		puts = append(puts, kv{append(seqKey(r.Seq), r.Host...), encodeTelemetry(r)})
	}
	err := db.update(func(tx *bolt.Tx) error {
		run, err := getRun(tx, id)
		if err != nil {
			return err
		}
		if run.Status != StatusRunning {
			return fmt.Errorf("run is %s", run.Status)
		}
		data, err := runData(tx, id)
		if err != nil {
			return err
		}
		b, err := data.CreateBucketIfNotExists(bucketTelemetry)
		if err != nil {
			return err
		}
		for _, p := range puts {
			if err := b.Put(p.k, p.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append telemetry to run %q: %w", id, err)
	}
	return nil
}

// Telemetry returns a run's host samples in interval order (then host order).
func (db *DB) Telemetry(id string) ([]TelemetryRecord, error) {
	var out []TelemetryRecord
	err := db.view(func(tx *bolt.Tx) error {
		if _, err := getRun(tx, id); err != nil {
			return err
		}
		data, err := runData(tx, id)
		if err != nil {
			return err
		}
		b := data.Bucket(bucketTelemetry)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			r, err := decodeTelemetry(k, v)
			if err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("telemetry of run %q: %w", id, err)
	}
	return out, nil
}
