package locust

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"github.com/vmihailenco/msgpack/v5"
)

// message is one Locust RPC message: msgpack [type, data, node_id].
type message struct {
	Type   string
	Data   any // decoded untyped: maps are map[any]any, numbers int64/uint64/float64
	NodeID string
}

// decodeMessage reads a worker's payload. Maps decode untyped because Locust's
// response-time maps have integer (and, before 2.43.4, float) keys.
func decodeMessage(b []byte) (message, error) {
	d := msgpack.NewDecoder(bytes.NewReader(b))
	d.SetMapDecoder(func(d *msgpack.Decoder) (any, error) { return d.DecodeUntypedMap() })
	n, err := d.DecodeArrayLen()
	if err != nil {
		return message{}, fmt.Errorf("locust message: %w", err)
	}
	if n != 3 {
		return message{}, fmt.Errorf("locust message: want [type, data, node_id], got an array of %d", n)
	}
	var m message
	if m.Type, err = d.DecodeString(); err != nil {
		return message{}, fmt.Errorf("locust message type: %w", err)
	}
	if m.Data, err = d.DecodeInterface(); err != nil {
		return message{}, fmt.Errorf("locust %s data: %w", m.Type, err)
	}
	id, err := d.DecodeInterface()
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
