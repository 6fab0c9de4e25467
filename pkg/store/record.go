package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Record versions: bump one when its encoding changes, and keep decoding the old one.
const (
	runRecordVersion      = 1
	eventRecordVersion    = 1
	intervalRecordVersion = 2 // 2 adds the count of reports merged; 1 is still read
	finalRecordVersion    = 1
)

// runRecord is the JSON form of a Run in the runs bucket.
type runRecord struct {
	V         int             `json:"v"`
	ID        string          `json:"id"`
	Status    Status          `json:"status"`
	Label     string          `json:"label,omitempty"`
	Notes     string          `json:"notes,omitempty"`
	Config    json.RawMessage `json:"config,omitempty"`
	StartedAt time.Time       `json:"started_at"`
	EndedAt   time.Time       `json:"ended_at,omitzero"`
	Reason    string          `json:"reason,omitempty"`
	Summary   summaryRecord   `json:"summary"`
}

type summaryRecord struct {
	Requests  uint64    `json:"requests"`
	Failures  uint64    `json:"failures"`
	PeakUsers int       `json:"peak_users"`
	Since     time.Time `json:"since,omitzero"` // added in schema 1 without a version change
	RPS       float64   `json:"rps"`
	Cancelled uint64    `json:"cancelled,omitempty"` // added in schema 1 without a version change
	P50       int64     `json:"p50_ns"`
	P95       int64     `json:"p95_ns"`
	P99       int64     `json:"p99_ns"`
	// Thresholds: added in schema 1 without a version change (absent in older records).
	Thresholds []Verdict `json:"thresholds,omitempty"`
}

func recordFromRun(r Run) runRecord {
	return runRecord{
		V:         runRecordVersion,
		ID:        r.ID,
		Status:    r.Status,
		Label:     r.Label,
		Notes:     r.Notes,
		Config:    r.Config,
		StartedAt: r.StartedAt.UTC(),
		EndedAt:   utcOrZero(r.EndedAt),
		Reason:    r.Reason,
		Summary:   summaryToRecord(r.Summary),
	}
}

func (rec runRecord) run() Run {
	return Run{
		ID:        rec.ID,
		Status:    rec.Status,
		Label:     rec.Label,
		Notes:     rec.Notes,
		Config:    rec.Config,
		StartedAt: rec.StartedAt,
		EndedAt:   rec.EndedAt,
		Reason:    rec.Reason,
		Summary: Summary{
			Requests:   rec.Summary.Requests,
			Failures:   rec.Summary.Failures,
			PeakUsers:  rec.Summary.PeakUsers,
			Since:      rec.Summary.Since,
			RPS:        rec.Summary.RPS,
			Cancelled:  rec.Summary.Cancelled,
			P50:        time.Duration(rec.Summary.P50),
			P95:        time.Duration(rec.Summary.P95),
			P99:        time.Duration(rec.Summary.P99),
			Thresholds: rec.Summary.Thresholds,
		},
	}
}

func summaryToRecord(s Summary) summaryRecord {
	return summaryRecord{
		Requests:   s.Requests,
		Failures:   s.Failures,
		PeakUsers:  s.PeakUsers,
		Since:      utcOrZero(s.Since),
		RPS:        s.RPS,
		Cancelled:  s.Cancelled,
		P50:        int64(s.P50),
		Thresholds: s.Thresholds,
		P95:        int64(s.P95),
		P99:        int64(s.P99),
	}
}

func validSummary(s Summary) error {
	var errs []error
	if s.PeakUsers < 0 {
		errs = append(errs, fmt.Errorf("peak users %d is negative", s.PeakUsers))
	}
	if math.IsNaN(s.RPS) || math.IsInf(s.RPS, 0) || s.RPS < 0 {
		errs = append(errs, fmt.Errorf("RPS %v is not a finite, non-negative number", s.RPS))
	}
	if s.P50 < 0 || s.P95 < 0 || s.P99 < 0 {
		errs = append(errs, fmt.Errorf("negative percentile (p50 %s, p95 %s, p99 %s)", s.P50, s.P95, s.P99))
	}
	return errors.Join(errs...)
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// marshalJSON encodes a record without HTML escaping, so opaque JSON (Run.Config)
// keeps its text apart from insignificant white space.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func encodeRun(rec runRecord) ([]byte, error) {
	b, err := marshalJSON(rec)
	if err != nil {
		return nil, fmt.Errorf("encode run %q: %w", rec.ID, err)
	}
	return b, nil
}

func putRun(runs *bolt.Bucket, rec runRecord) error {
	b, err := encodeRun(rec)
	if err != nil {
		return err
	}
	return runs.Put([]byte(rec.ID), b)
}

// decodeRun decodes the run record stored under key. It never panics.
func decodeRun(key, val []byte) (runRecord, error) {
	var rec runRecord
	if err := json.Unmarshal(val, &rec); err != nil {
		return runRecord{}, fmt.Errorf("%w: run record %q: %w", ErrCorrupt, key, err)
	}
	var problem string
	switch {
	case rec.V != runRecordVersion:
		problem = fmt.Sprintf("unknown record version %d", rec.V)
	case rec.ID != string(key):
		problem = fmt.Sprintf("record names run %q", rec.ID)
	case !rec.Status.valid():
		problem = fmt.Sprintf("unknown status %q", rec.Status)
	case rec.StartedAt.IsZero():
		problem = "no start time"
	}
	if problem != "" {
		return runRecord{}, fmt.Errorf("%w: run record %q: %s", ErrCorrupt, key, problem)
	}
	return rec, nil
}

// eventRecord is the JSON form of an Event.
type eventRecord struct {
	V      int       `json:"v"`
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Worker string    `json:"worker,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

func encodeEvent(e Event) ([]byte, error) {
	return marshalJSON(eventRecord{V: eventRecordVersion, At: e.At.UTC(), Kind: string(e.Kind), Worker: e.Worker, Detail: e.Detail})
}

// decodeEvent decodes the event record stored under key. It never panics.
func decodeEvent(key, val []byte) (Event, error) {
	if len(key) != 8 {
		return Event{}, fmt.Errorf("%w: event key %x is not 8 bytes", ErrCorrupt, key)
	}
	var rec eventRecord
	if err := json.Unmarshal(val, &rec); err != nil {
		return Event{}, fmt.Errorf("%w: event %d: %w", ErrCorrupt, binary.BigEndian.Uint64(key), err)
	}
	var problem string
	switch {
	case rec.V != eventRecordVersion:
		problem = fmt.Sprintf("unknown record version %d", rec.V)
	case rec.Kind == "":
		problem = "no kind"
	case rec.At.IsZero():
		problem = "no time"
	}
	if problem != "" {
		return Event{}, fmt.Errorf("%w: event %d: %s", ErrCorrupt, binary.BigEndian.Uint64(key), problem)
	}
	return Event{At: rec.At, Kind: EventKind(rec.Kind), Worker: rec.Worker, Detail: rec.Detail}, nil
}

// intervalHeader is an interval record without its snapshot.
type intervalHeader struct {
	Seq     uint64
	At      time.Time
	Users   int
	Workers int
	Reports int // -1: not recorded (a version 1 record)
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// encodeInterval appends the interval record of h and the snapshot bytes snap to dst.
// A header whose Reports is not recorded (-1) is written as version 1.
func encodeInterval(dst []byte, h intervalHeader, snap []byte) []byte {
	version := byte(intervalRecordVersion)
	if h.Reports < 0 {
		version = 1
	}
	dst = appendTime(append(dst, version), h.At)
	dst = binary.AppendUvarint(dst, uint64(h.Users))
	dst = binary.AppendUvarint(dst, uint64(h.Workers))
	if version >= 2 {
		dst = binary.AppendUvarint(dst, uint64(h.Reports))
	}
	return append(dst, snap...)
}

// decodeInterval decodes the interval record stored under key into its header and
// the snapshot's bytes (a sub-slice of val). It never panics.
func decodeInterval(key, val []byte) (intervalHeader, []byte, error) {
	if len(key) != 8 {
		return intervalHeader{}, nil, fmt.Errorf("%w: interval key %x is not 8 bytes", ErrCorrupt, key)
	}
	h := intervalHeader{Seq: binary.BigEndian.Uint64(key)}
	fail := func(problem string) (intervalHeader, []byte, error) {
		return intervalHeader{}, nil, fmt.Errorf("%w: interval %d: %s", ErrCorrupt, h.Seq, problem)
	}
	if h.Seq == 0 {
		return fail("sequence number 0")
	}
	if len(val) == 0 {
		return fail("empty record")
	}
	version := val[0]
	if version != 1 && version != intervalRecordVersion {
		return fail(fmt.Sprintf("unknown record version %d", val[0]))
	}
	at, rest, problem := readTime(val[1:])
	if problem != "" {
		return fail(problem)
	}
	counts := [3]int{0, 0, -1}
	what := []string{"users", "workers", "reports"}
	if version == 1 {
		what = what[:2]
	}
	for i, what := range what {
		c, n := binary.Uvarint(rest)
		if n <= 0 || c > math.MaxInt32 {
			return fail("bad " + what + " count")
		}
		counts[i] = int(c)
		rest = rest[n:]
	}
	if len(rest) == 0 {
		return fail("no snapshot")
	}
	h.At = at
	h.Users, h.Workers, h.Reports = counts[0], counts[1], counts[2]
	return h, rest, nil
}

// appendTime appends t as a record keeps it: varint seconds, uvarint nanoseconds.
func appendTime(dst []byte, t time.Time) []byte {
	dst = binary.AppendVarint(dst, t.Unix())
	return binary.AppendUvarint(dst, uint64(t.Nanosecond()))
}

// readTime reads what appendTime wrote (in UTC) and returns the bytes after it, or
// the problem.
func readTime(b []byte) (time.Time, []byte, string) {
	sec, n := binary.Varint(b)
	if n <= 0 {
		return time.Time{}, nil, "bad time (seconds)"
	}
	b = b[n:]
	nsec, n := binary.Uvarint(b)
	if n <= 0 || nsec >= uint64(time.Second) {
		return time.Time{}, nil, "bad time (nanoseconds)"
	}
	return time.Unix(sec, int64(nsec)).UTC(), b[n:], ""
}

func encodeFinal(snap []byte) []byte {
	return append([]byte{finalRecordVersion}, snap...)
}

// decodeFinal returns the snapshot bytes of a final record. It never panics.
func decodeFinal(val []byte) ([]byte, error) {
	switch {
	case len(val) == 0:
		return nil, fmt.Errorf("%w: final record: empty", ErrCorrupt)
	case val[0] != finalRecordVersion:
		return nil, fmt.Errorf("%w: final record: unknown record version %d", ErrCorrupt, val[0])
	case len(val) == 1:
		return nil, fmt.Errorf("%w: final record: no snapshot", ErrCorrupt)
	}
	return val[1:], nil
}
