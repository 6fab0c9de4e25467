package locust

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// message is one Locust RPC message: msgpack [type, data, node_id].
type message struct {
	Type   string
	Data   any // decoded untyped: maps are map[any]any, numbers int64/uint64/float64
	NodeID string
}

// decodeMessage reads a worker's payload. Maps decode untyped because Locust's
// response-time maps have integer (and, before 2.43.4, float) keys.
func decodeMessage(b []byte) (m message, err error) {
	// The library is not hardened against every malformed input; a peer's bytes
	// must never take the master down.
	defer func() {
		if r := recover(); r != nil {
			m, err = message{}, fmt.Errorf("locust message: malformed msgpack (%v)", r)
		}
	}()
	d := msgpack.NewDecoder(bytes.NewReader(b))
	n, err := d.DecodeArrayLen()
	if err != nil {
		return message{}, fmt.Errorf("locust message: %w", err)
	}
	if n != 3 {
		return message{}, fmt.Errorf("locust message: want [type, data, node_id], got an array of %d", n)
	}
	if m.Type, err = d.DecodeString(); err != nil {
		return message{}, fmt.Errorf("locust message type: %w", err)
	}
	if m.Data, err = decodeValue(d, 0); err != nil {
		return message{}, fmt.Errorf("locust %s data: %w", m.Type, err)
	}
	id, err := decodeValue(d, 0)
	if err != nil {
		return message{}, fmt.Errorf("locust %s node_id: %w", m.Type, err)
	}
	switch v := id.(type) {
	case string:
		m.NodeID = v
	case []byte:
		m.NodeID = string(v)
	case nil:
	default:
		return message{}, fmt.Errorf("locust %s: node_id is a %T", m.Type, id)
	}
	return m, nil
}

// maxDepth bounds nesting in a peer's payload (Locust's go 4 deep).
const maxDepth = 32

// decodeValue decodes any value untyped: maps as map[any]any (Locust's
// response-time maps have int and float keys), arrays as []any, scalars as the
// library does. Arrays and maps are decoded here, not by the library, whose
// array decoding allocates whatever length the peer claims.
func decodeValue(d *msgpack.Decoder, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("nested too deep")
	}
	c, err := d.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		return decodeMap(d, depth)
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := d.DecodeArrayLen()
		if err != nil {
			return nil, err
		}
		out := make([]any, 0, min(n, 1024))
		for range n {
			v, err := decodeValue(d, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	return d.DecodeInterface()
}

// decodeMap decodes a map, accepting only keys that can be map keys (scalars; a
// bin key becomes a string).
func decodeMap(d *msgpack.Decoder, depth int) (any, error) {
	n, err := d.DecodeMapLen()
	if err != nil || n < 0 {
		return nil, err
	}
	m := make(map[any]any, min(n, 1024))
	for range n {
		k, err := decodeValue(d, depth+1)
		if err != nil {
			return nil, err
		}
		switch kk := k.(type) {
		case []byte:
			k = string(kk)
		case nil, bool, string, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32, float64:
		default:
			return nil, fmt.Errorf("map key of type %T", k)
		}
		v, err := decodeValue(d, depth+1)
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, nil
}

// encodeMessage writes a master's message. Strings go out as msgpack str, floats
// as float64 (boomer type-asserts spawn_rate to float64), integers compact.
func encodeMessage(m message) ([]byte, error) {
	var b bytes.Buffer
	e := msgpack.NewEncoder(&b)
	e.UseCompactInts(true)
	e.SetSortMapKeys(true)
	if err := e.EncodeArrayLen(3); err != nil {
		return nil, err
	}
	if err := e.EncodeString(m.Type); err != nil {
		return nil, err
	}
	if err := e.Encode(m.Data); err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.Type, err)
	}
	if err := e.EncodeString(m.NodeID); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Accessors for untyped decoded data: every numeric field may arrive as any
// integer width or a float, and anything may be nil.

func asMap(v any) map[any]any {
	switch m := v.(type) {
	case map[any]any:
		return m
	case map[string]any:
		out := make(map[any]any, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return nil
}

func field(m map[any]any, key string) any {
	if m == nil {
		return nil
	}
	return m[key]
}

// number reads an integer or float; ok is false for anything else (nil included).
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float64:
		return n, !math.IsNaN(n) && !math.IsInf(n, 0)
	case float32:
		return float64(n), !math.IsNaN(float64(n)) && !math.IsInf(float64(n), 0)
	case int8:
		return float64(n), true
	case int16:
		return float64(n), true
	case int32:
		return float64(n), true
	case int:
		return float64(n), true
	case uint8:
		return float64(n), true
	case uint16:
		return float64(n), true
	case uint32:
		return float64(n), true
	}
	return 0, false
}

// count reads a non-negative whole number.
func count(v any) (uint64, error) {
	f, ok := number(v)
	if !ok || f < 0 || f > math.MaxInt64 || f != math.Trunc(f) {
		return 0, fmt.Errorf("want a count, got %v (%T)", v, v)
	}
	return uint64(f), nil
}

func text(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	}
	return ""
}

// errNotMap is returned where a message's data must be a map.
var errNotMap = errors.New("data is not a map")
