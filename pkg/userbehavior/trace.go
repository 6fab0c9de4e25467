package userbehavior

import (
	"encoding/hex"
	"math/rand/v2"
)

// traceContext is one request's W3C trace context (https://www.w3.org/TR/trace-context/):
// the traceparent header "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>".
type traceContext struct {
	id     [16]byte
	header [55]byte
	set    bool
}

// traceparentHeader is the header's canonical name (net/http's form).
const traceparentHeader = "Traceparent"

// fill draws a fresh trace id and parent id; sampled sets the flags' sampled bit.
// math/rand/v2's global source is per-thread and lock-free: no lock per request.
func (t *traceContext) fill(sampled bool) {
	var span [8]byte
	for {
		a, b := rand.Uint64(), rand.Uint64()
		if a|b != 0 { // an all-zero trace id is invalid
			putUint64(t.id[:8], a)
			putUint64(t.id[8:], b)
			break
		}
	}
	for s := uint64(0); s == 0; { // so is an all-zero parent id
		s = rand.Uint64()
		putUint64(span[:], s)
	}
	h := t.header[:]
	copy(h, "00-")
	hex.Encode(h[3:35], t.id[:])
	h[35] = '-'
	hex.Encode(h[36:52], span[:])
	copy(h[52:], "-00")
	if sampled {
		h[54] = '1'
	}
	t.set = true
}

func putUint64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (56 - 8*i))
	}
}

// traceFor gives resp a fresh trace context when the client adds them and the
// request carries no traceparent of its own.
func (o *clientOptions) traceFor(req *Request, resp *Response) {
	if o == nil || !o.trace {
		return
	}
	if req.Header != nil && len(req.Header[traceparentHeader]) > 0 {
		return
	}
	resp.trace.fill(o.traceSample > 0 && rand.Float64() < o.traceSample)
}

// TraceID is the trace id this client put in the request's traceparent, as 32
// hex digits; "" when it added none.
func (r *Response) TraceID() string {
	if !r.trace.set {
		return ""
	}
	return hex.EncodeToString(r.trace.id[:])
}
