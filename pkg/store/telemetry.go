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
// interval's 8-byte big-endian Seq followed by the host id, value = a JSON record.
var bucketTelemetry = []byte("telemetry")

// TelemetryRecord is one host's sample for one interval of a run. The store keeps
// Sample as the JSON it was given (package telemetry owns its shape).
type TelemetryRecord struct {
	Seq    uint64          `json:"seq"`
	At     time.Time       `json:"at"`
	Host   string          `json:"host"` // worker or agent id
	Role   string          `json:"role"` // "worker" or "agent"
	Sample json.RawMessage `json:"sample"`
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
		if r.Host == "" || len(r.Host) > MaxIDLen || !json.Valid(r.Sample) {
			return fmt.Errorf("append telemetry to run %q: bad record for host %q", id, r.Host)
		}
		v, err := json.Marshal(struct {
			V int `json:"v"`
			TelemetryRecord
		}{1, r})
		if err != nil {
			return err
		}
		puts = append(puts, kv{append(seqKey(r.Seq), r.Host...), v})
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
			var r struct {
				V int `json:"v"`
				TelemetryRecord
			}
			if len(k) < 9 {
				return fmt.Errorf("%w: telemetry key %x", ErrCorrupt, k)
			}
			if err := json.Unmarshal(v, &r); err != nil || r.V != 1 || r.Seq != binary.BigEndian.Uint64(k[:8]) {
				return fmt.Errorf("%w: telemetry record %x: %v", ErrCorrupt, k, errors.Join(err, errors.New("bad version or key")))
			}
			r.Sample = append(json.RawMessage(nil), r.Sample...)
			out = append(out, r.TelemetryRecord)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("telemetry of run %q: %w", id, err)
	}
	return out, nil
}
