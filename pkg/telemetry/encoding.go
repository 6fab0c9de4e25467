package telemetry

import (
	"encoding/json"
	"errors"
	"fmt"
)

// A Sample has one encoding, used on the wire (a worker's or agent's sample to the
// master) and in the store (a run's telemetry): its JSON form, whose names are pinned
// by a test. JSON rather than a binary format because the set of host and GPU figures
// grows often, the master keeps and serves them as they are, and older stores hold it.

// Limits on a sample from outside (a peer, a stored record): a bigger one is refused.
const (
	MaxEncodedBytes = 256 << 10 // one encoded sample
	MaxCores        = 4096      // Host.PerCore entries
	MaxGPUs         = 64        // GPUs entries
)

// Encode returns s in its one encoding.
func Encode(s Sample) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode telemetry sample: %w", err)
	}
	return b, nil
}

// Decode reads an encoded sample, which may come from outside: it is refused when
// it is not a sample or is beyond the limits.
func Decode(b []byte) (Sample, error) {
	if len(b) > MaxEncodedBytes {
		return Sample{}, fmt.Errorf("telemetry sample of %d bytes, limit %d", len(b), MaxEncodedBytes)
	}
	var s Sample
	if err := json.Unmarshal(b, &s); err != nil {
		return Sample{}, fmt.Errorf("telemetry sample: %w", err)
	}
	if len(s.Host.PerCore) > MaxCores || len(s.GPUs) > MaxGPUs || len(s.Server) > MaxServerSeries {
		return Sample{}, errors.New("telemetry sample too large")
	}
	return s, nil
}
