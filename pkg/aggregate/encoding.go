package aggregate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// ErrMalformed is wrapped by every error UnmarshalBinary returns: the payload
// is not a valid encoding (truncated, corrupt, or of an unknown version).
var ErrMalformed = errors.New("malformed aggregate encoding")

// Encoding versions. A change to the format or to the histogram geometry
// takes a new version.
const (
	histogramVersion = 1
	snapshotVersion  = 5 // 2 added counters and exceptions, 3 the slowest requests, 4 service and corrected latency, 5 the slowest requests' trace ids; older ones are still read
)

// Snapshot flags.
const (
	flagStart  = 1 << iota // Start is set (not the zero time)
	flagEnd                // End is set
	flagsKnown = flagStart | flagEnd
)

// Endpoint extras (version 4).
const (
	extraService   = 1 << iota // Stats.Service follows
	extraCorrected             // Stats.Corrected follows
	extrasKnown    = extraService | extraCorrected
)

// Smallest encodings, to bound what a length prefix may claim.
const (
	minBucketSize   = 2 // uvarint skip, uvarint count
	minEndpointSize = 7 // method, name, requests, failures, bytes, total time, bucket count
	minErrorSize    = 4 // method, name, message, count
)

// The encodings are canonical: every value has exactly one encoding, and
// UnmarshalBinary accepts no other (varints are minimal, endpoints and errors
// are sorted and unique, counts are positive). So two histograms or snapshots
// hold the same data exactly when their encodings are equal.
//
// Histogram (MarshalBinary), version 1:
//
//	byte     version (1)
//	body:
//	uvarint  n, the number of populated buckets (<= countsLen)
//	n times: uvarint skip, uvarint count
//
// where a bucket's counts-array index is the previous bucket's index + 1 + skip
// (the first: skip), below countsLen, and count > 0; the counts sum to at
// most MaxInt64.
//
// Snapshot (MarshalBinary), version 5; versions 1 to 4 are still read:
//
//	byte     version (5)
//	byte     flags: 1 = Start set, 2 = End set
//	varint   Start, unix nanoseconds (when set)
//	varint   End, unix nanoseconds (when set)
//	uvarint  number of endpoints, then for each, sorted by Name then Method:
//	         string Method, string Name, uvarint Requests, uvarint Failures,
//	         uvarint Bytes, varint TotalTime (ns), histogram body (Latency),
//	         byte extras: 1 = a Service histogram body follows, 2 = a
//	         Corrected one follows (in that order; only non-empty ones)
//	uvarint  number of errors, then for each, sorted by Name, Method, Message:
//	         string Method, string Name, string Message, uvarint count
//	uvarint  number of counters, then for each, sorted by name:
//	         string name, uvarint count
//	uvarint  number of exceptions, then for each, sorted by Message then
//	         Traceback: string Message, string Traceback, uvarint count
//	uvarint  number of slowest requests (<= MaxSlowest), slowest first:
//	         string Method, string Name, string URL, varint Latency (ns),
//	         varint At (unix nanoseconds, 0 = unset), string Worker, string Err,
//	         string TraceID (version 5)
//
// Older versions lack parts of it: version 1 has no endpoint extras byte and
// ends after the errors; version 2 adds the counters and exceptions, version 3
// the slowest requests, version 4 the endpoint extras byte (Stats.Service and
// Stats.Corrected), version 5 each slow request's TraceID.
//
// A string is a uvarint length and the bytes; varint is zigzag (as
// encoding/binary). Times decode in UTC; only the instant is kept (and only
// times between the years 1678 and 2262, which UnixNano represents).

// MarshalBinary returns the compact, lossless encoding of h.
func (h *Histogram) MarshalBinary() ([]byte, error) {
	return h.AppendBinary(nil)
}

// AppendBinary appends the encoding of h (as MarshalBinary) to dst.
func (h *Histogram) AppendBinary(dst []byte) ([]byte, error) {
	return h.appendBody(append(dst, histogramVersion)), nil
}

// appendBody appends the populated buckets of h.
func (h *Histogram) appendBody(dst []byte) []byte {
	if h == nil {
		return append(dst, 0)
	}
	if h.pages == nil {
		dst = binary.AppendUvarint(dst, uint64(len(h.sparse)))
		prev := -1
		for _, b := range h.sparse {
			dst = binary.AppendUvarint(dst, uint64(int(b.idx)-prev-1))
			dst = binary.AppendUvarint(dst, uint64(b.count))
			prev = int(b.idx)
		}
		return dst
	}
	n, _ := h.scanDense()
	dst = binary.AppendUvarint(dst, uint64(n))
	prev := -1
	for pn, p := range h.pages {
		if p == nil {
			continue
		}
		for k, c := range p {
			if c != 0 {
				i := pn<<pageBits + k
				dst = binary.AppendUvarint(dst, uint64(i-prev-1))
				dst = binary.AppendUvarint(dst, uint64(c))
				prev = i
			}
		}
	}
	return dst
}

// UnmarshalBinary replaces the contents of h with the decoded b (and does not
// keep b). On error (wrapping ErrMalformed) h is unchanged.
func (h *Histogram) UnmarshalBinary(b []byte) error {
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != histogramVersion {
		return fmt.Errorf("decode histogram: unsupported version %d: %w", v, ErrMalformed)
	}
	var n Histogram
	n.decodeBody(&d)
	d.end()
	if d.err != nil {
		return fmt.Errorf("decode histogram: %w", d.err)
	}
	*h = n
	return nil
}

// decodeBody reads a histogram body into the empty h.
func (h *Histogram) decodeBody(d *decoder) {
	n := d.uvarint()
	if d.err != nil {
		return
	}
	if n > countsLen || n > uint64(d.remaining()/minBucketSize) {
		d.fail("%d buckets claimed, at most %d possible", n, min(countsLen, d.remaining()/minBucketSize))
		return
	}
	sparse := make([]bucket, 0, n)
	prev := -1
	var total int64
	for range n {
		// One-byte varints inline: most skips and counts are below 128.
		var skip, c uint64
		if d.off+1 < len(d.b) && d.b[d.off] < 0x80 && d.b[d.off+1] < 0x80 {
			skip, c = uint64(d.b[d.off]), uint64(d.b[d.off+1])
			d.off += 2
		} else {
			skip, c = d.uvarint(), d.uvarint()
			if d.err != nil {
				return
			}
		}
		if skip >= countsLen || prev+1+int(skip) >= countsLen {
			d.fail("bucket index beyond %d", countsLen-1)
			return
		}
		if c == 0 || c > math.MaxInt64 || int64(c) > math.MaxInt64-total {
			d.fail("bucket count %d is zero or overflows the total", c)
			return
		}
		i := prev + 1 + int(skip)
		prev = i
		total += int64(c)
		if h.pages == nil && c > math.MaxUint32 {
			h.sparse = sparse
			h.promote()
		}
		if h.pages != nil {
			h.addDense(i, int64(c))
			continue
		}
		sparse = append(sparse, bucket{idx: uint16(i), count: uint32(c)})
	}
	if h.pages == nil {
		h.sparse = sparse
	}
	h.total = total
}

// MarshalBinary returns the compact, lossless encoding of s.
func (s *Snapshot) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(nil)
}

// AppendBinary appends the encoding of s (as MarshalBinary) to dst.
func (s *Snapshot) AppendBinary(dst []byte) ([]byte, error) {
	dst = slices.Grow(dst, s.sizeHint())
	var flags byte
	if !s.Start.IsZero() {
		flags |= flagStart
	}
	if !s.End.IsZero() {
		flags |= flagEnd
	}
	dst = append(dst, snapshotVersion, flags)
	if flags&flagStart != 0 {
		dst = binary.AppendVarint(dst, s.Start.UnixNano())
	}
	if flags&flagEnd != 0 {
		dst = binary.AppendVarint(dst, s.End.UnixNano())
	}
	dst = binary.AppendUvarint(dst, uint64(len(s.Endpoints)))
	for _, ep := range s.Names() {
		st := s.Endpoints[ep]
		if st == nil {
			st = &Stats{}
		}
		dst = appendString(dst, ep.Method)
		dst = appendString(dst, ep.Name)
		dst = binary.AppendUvarint(dst, st.Requests)
		dst = binary.AppendUvarint(dst, st.Failures)
		dst = binary.AppendUvarint(dst, st.Bytes)
		dst = binary.AppendVarint(dst, int64(st.TotalTime))
		dst = st.Latency.appendBody(dst)
		var extra byte
		if st.Service.countOrZero() > 0 {
			extra |= extraService
		}
		if st.Corrected.countOrZero() > 0 {
			extra |= extraCorrected
		}
		dst = append(dst, extra)
		if extra&extraService != 0 {
			dst = st.Service.appendBody(dst)
		}
		if extra&extraCorrected != 0 {
			dst = st.Corrected.appendBody(dst)
		}
	}
	dst = binary.AppendUvarint(dst, uint64(len(s.Errors)))
	for _, k := range sortedErrorKeys(s.Errors) {
		dst = appendString(dst, k.Method)
		dst = appendString(dst, k.Name)
		dst = appendString(dst, k.Message)
		dst = binary.AppendUvarint(dst, s.Errors[k])
	}
	dst = binary.AppendUvarint(dst, uint64(len(s.Counters)))
	for _, name := range slices.Sorted(maps.Keys(s.Counters)) {
		dst = appendString(dst, name)
		dst = binary.AppendUvarint(dst, s.Counters[name])
	}
	dst = binary.AppendUvarint(dst, uint64(len(s.Exceptions)))
	for _, k := range sortedExceptionKeys(s.Exceptions) {
		dst = appendString(dst, k.Message)
		dst = appendString(dst, k.Traceback)
		dst = binary.AppendUvarint(dst, s.Exceptions[k])
	}
	dst = binary.AppendUvarint(dst, uint64(len(s.Slowest)))
	for _, r := range s.Slowest {
		dst = appendString(dst, r.Method)
		dst = appendString(dst, r.Name)
		dst = appendString(dst, r.URL)
		dst = binary.AppendVarint(dst, int64(r.Latency))
		dst = binary.AppendVarint(dst, unixNanoOrZero(r.At))
		dst = appendString(dst, r.Worker)
		dst = appendString(dst, r.Err)
		dst = appendString(dst, r.TraceID)
	}
	return dst, nil
}

// sizeHint estimates the encoded size of s: exact for sparse histograms whose
// skips and counts are below 128, low for dense ones.
func (s *Snapshot) sizeHint() int {
	n := 32
	for ep, st := range s.Endpoints {
		n += len(ep.Method) + len(ep.Name) + 16
		if st != nil && st.Latency != nil {
			n += 3 + 2*len(st.Latency.sparse)
		}
	}
	for k := range s.Errors {
		n += len(k.Method) + len(k.Name) + len(k.Message) + 8
	}
	return n
}

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// UnmarshalBinary replaces the contents of s with the decoded b (and does not
// keep b). On error (wrapping ErrMalformed) s is unchanged.
func (s *Snapshot) UnmarshalBinary(b []byte) error {
	d := decoder{b: b}
	v := d.byte()
	if d.err == nil && (v < 1 || v > snapshotVersion) {
		return fmt.Errorf("decode snapshot: unsupported version %d: %w", v, ErrMalformed)
	}
	n := Snapshot{}
	flags := d.byte()
	if d.err == nil && flags&^flagsKnown != 0 {
		return fmt.Errorf("decode snapshot: unknown flags %#x: %w", flags, ErrMalformed)
	}
	if flags&flagStart != 0 {
		n.Start = time.Unix(0, d.varint()).UTC()
	}
	if flags&flagEnd != 0 {
		n.End = time.Unix(0, d.varint()).UTC()
	}
	if err := n.decodeEndpoints(&d, v); err != nil {
		return fmt.Errorf("decode snapshot: %w", err)
	}
	if err := n.decodeErrors(&d); err != nil {
		return fmt.Errorf("decode snapshot: %w", err)
	}
	if v >= 2 {
		if err := n.decodeExtras(&d, v); err != nil {
			return fmt.Errorf("decode snapshot: %w", err)
		}
	}
	d.end()
	if d.err != nil {
		return fmt.Errorf("decode snapshot: %w", d.err)
	}
	*s = n
	return nil
}

func (s *Snapshot) decodeEndpoints(d *decoder, version byte) error {
	count := d.count(minEndpointSize)
	s.Endpoints = make(map[Endpoint]*Stats, count)
	var prev Endpoint
	for i := range count {
		ep := Endpoint{Method: d.string(), Name: d.string()}
		st := &Stats{
			Requests:  d.uvarint(),
			Failures:  d.uvarint(),
			Bytes:     d.uvarint(),
			TotalTime: time.Duration(d.varint()),
			Latency:   &Histogram{},
		}
		st.Latency.decodeBody(d)
		if version >= 4 {
			st.decodeExtras(d)
		}
		if d.err != nil {
			return fmt.Errorf("endpoint %d: %w", i, d.err)
		}
		if i > 0 && compareEndpoints(prev, ep) >= 0 {
			return fmt.Errorf("endpoint %d %s %q: out of order or repeated: %w", i, ep.Method, ep.Name, ErrMalformed)
		}
		prev = ep
		s.Endpoints[ep] = st
	}
	return d.err
}

// decodeExtras reads the optional histograms of a version 4 endpoint. An
// extra that is present must be non-empty: the encoding stays canonical.
func (st *Stats) decodeExtras(d *decoder) {
	extra := d.byte()
	if d.err != nil {
		return
	}
	if extra&^extrasKnown != 0 {
		d.fail("unknown endpoint extras %#x", extra)
		return
	}
	for _, f := range [...]struct {
		bit byte
		h   **Histogram
	}{{extraService, &st.Service}, {extraCorrected, &st.Corrected}} {
		if extra&f.bit == 0 {
			continue
		}
		h := &Histogram{}
		h.decodeBody(d)
		if d.err != nil {
			return
		}
		if h.total == 0 {
			d.fail("empty optional histogram")
			return
		}
		*f.h = h
	}
}

func (s *Snapshot) decodeErrors(d *decoder) error {
	count := d.count(minErrorSize)
	s.Errors = make(map[ErrorKey]uint64, count)
	var prev ErrorKey
	for i := range count {
		k := ErrorKey{Endpoint: Endpoint{Method: d.string(), Name: d.string()}, Message: d.string()}
		n := d.uvarint()
		if d.err != nil {
			return fmt.Errorf("error %d: %w", i, d.err)
		}
		if i > 0 && compareErrorKeys(prev, k) >= 0 {
			return fmt.Errorf("error %d %q: out of order or repeated: %w", i, k.Message, ErrMalformed)
		}
		prev = k
		s.Errors[k] = n
	}
	return d.err
}

func (s *Snapshot) decodeExtras(d *decoder, version byte) error {
	count := d.count(2)
	if count > 0 {
		s.Counters = make(map[string]uint64, count)
	}
	prev := ""
	for i := range count {
		name, n := d.string(), d.uvarint()
		if d.err != nil {
			return fmt.Errorf("counter %d: %w", i, d.err)
		}
		if i > 0 && name <= prev {
			return fmt.Errorf("counter %d %q: out of order or repeated: %w", i, name, ErrMalformed)
		}
		prev = name
		s.Counters[name] = n
	}
	count = d.count(3)
	if count > 0 {
		s.Exceptions = make(map[ExceptionKey]uint64, count)
	}
	var prevKey ExceptionKey
	for i := range count {
		k := ExceptionKey{Message: d.string(), Traceback: d.string()}
		n := d.uvarint()
		if d.err != nil {
			return fmt.Errorf("exception %d: %w", i, d.err)
		}
		if i > 0 && compareExceptionKeys(prevKey, k) >= 0 {
			return fmt.Errorf("exception %d: out of order or repeated: %w", i, ErrMalformed)
		}
		prevKey = k
		s.Exceptions[k] = n
	}
	if version < 3 {
		return d.err
	}
	count = d.count(7)
	if count > MaxSlowest {
		return fmt.Errorf("%d slowest requests, at most %d: %w", count, MaxSlowest, ErrMalformed)
	}
	for i := range count {
		r := SlowRequest{Endpoint: Endpoint{Method: d.string(), Name: d.string()}, URL: d.string(),
			Latency: time.Duration(d.varint()), At: timeOrZero(d.varint()), Worker: d.string(), Err: d.string()}
		if version >= 5 {
			r.TraceID = d.string()
		}
		if d.err != nil {
			return fmt.Errorf("slow request %d: %w", i, d.err)
		}
		if r.Latency < 0 || (i > 0 && r.Latency > s.Slowest[i-1].Latency) {
			return fmt.Errorf("slow request %d: out of order: %w", i, ErrMalformed)
		}
		s.Slowest = append(s.Slowest, r)
	}
	return d.err
}

// decoder reads an encoding. The first problem is kept in err (wrapping
// ErrMalformed); after it, every read returns a zero value.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("at byte %d: %s: %w", d.off, fmt.Sprintf(format, args...), ErrMalformed)
	}
}

func (d *decoder) remaining() int { return len(d.b) - d.off }

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail("unexpected end")
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

// uvarint reads a minimally encoded uvarint.
func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	if d.off < len(d.b) && d.b[d.off] < 0x80 {
		v := d.b[d.off]
		d.off++
		return uint64(v)
	}
	v, n := binary.Uvarint(d.b[d.off:])
	switch {
	case n == 0:
		d.fail("unexpected end")
		return 0
	case n < 0:
		d.fail("varint overflows 64 bits")
		return 0
	case d.b[d.off+n-1] == 0:
		d.fail("varint not minimally encoded")
		return 0
	}
	d.off += n
	return v
}

// varint reads a minimally encoded zigzag varint.
func (d *decoder) varint() int64 {
	u := d.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

// count reads an element count, refusing one that the remaining bytes cannot
// hold at minSize bytes per element.
func (d *decoder) count(minSize int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(d.remaining()/minSize) {
		d.fail("%d elements claimed, at most %d possible", n, d.remaining()/minSize)
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(d.remaining()) {
		d.fail("string of %d bytes claimed, %d left", n, d.remaining())
		return ""
	}
	s := string(d.b[d.off : d.off+int(n)])
	d.off += int(n)
	return s
}

// end fails unless every byte was read.
func (d *decoder) end() {
	if d.err == nil && d.off != len(d.b) {
		d.fail("%d unexpected trailing bytes", len(d.b)-d.off)
	}
}

// unixNanoOrZero encodes the zero time as 0 (time.Time{}.UnixNano is out of range).
func unixNanoOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func timeOrZero(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
