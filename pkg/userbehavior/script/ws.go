package script

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	starjson "go.starlark.net/lib/json"
	"go.starlark.net/starlark"

	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// wsValue is u.ws: connect() opens a WebSocket kept until the user stops.
type wsValue struct{}

var userWS = &wsValue{}

var wsConnect = starlark.NewBuiltin("connect", wsConnectCall)

func (w *wsValue) String() string        { return "<ws>" }
func (w *wsValue) Type() string          { return "ws" }
func (w *wsValue) Freeze()               {}
func (w *wsValue) Truth() starlark.Bool  { return true }
func (w *wsValue) Hash() (uint32, error) { return 0, errors.New("unhashable type: ws") }
func (w *wsValue) AttrNames() []string   { return []string{"connect"} }

func (w *wsValue) Attr(name string) (starlark.Value, error) {
	if name == "connect" {
		return wsConnect, nil
	}
	return nil, nil
}

// ws.connect(url, headers=None, subprotocols=None, name=None, timeout=None)
func wsConnectCall(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	_, s := running(thread)
	if s == nil {
		return nil, errors.New("ws.connect: sockets may only be opened while a user runs a task")
	}
	var target, name string
	var headers, protocols, timeout starlark.Value
	if err := starlark.UnpackArgs("ws.connect", args, kwargs, "url", &target, "headers?", &headers,
		"subprotocols?", &protocols, "name?", &name, "timeout?", &timeout); err != nil {
		return nil, err
	}
	d := userbehavior.WSDial{URL: target, Name: name}
	if headers != nil && headers != starlark.None {
		h, err := stringMultiMap(headers, http.CanonicalHeaderKey)
		if err != nil {
			return nil, fmt.Errorf("ws.connect: headers: %v", err)
		}
		d.Header = http.Header(h)
	}
	if protocols != nil && protocols != starlark.None {
		seq, ok := protocols.(starlark.Indexable)
		if !ok {
			return nil, fmt.Errorf("ws.connect: subprotocols: want a list of strings, got %s", protocols.Type())
		}
		for i := range seq.Len() {
			p, ok := starlark.AsString(seq.Index(i))
			if !ok {
				return nil, fmt.Errorf("ws.connect: subprotocols: want strings, got %s", seq.Index(i).Type())
			}
			d.Subprotocols = append(d.Subprotocols, p)
		}
	}
	if timeout != nil && timeout != starlark.None {
		var err error
		if d.Timeout, err = toDuration(timeout); err != nil {
			return nil, fmt.Errorf("ws.connect: timeout: %v", err)
		}
	}
	s.commit()
	c, err := s.u.DialWS(s.ctx, d)
	if err != nil {
		return nil, fmt.Errorf("ws.connect: %v", err)
	}
	return &socketValue{c: c}, nil
}

// socketValue is an open (or failed) WebSocket.
type socketValue struct {
	c *userbehavior.WSConn
}

func (v *socketValue) String() string        { return fmt.Sprintf("<websocket %s>", v.c.Name()) }
func (v *socketValue) Type() string          { return "websocket" }
func (v *socketValue) Freeze()               {}
func (v *socketValue) Truth() starlark.Bool  { return true }
func (v *socketValue) Hash() (uint32, error) { return 0, errors.New("unhashable type: websocket") }
func (v *socketValue) AttrNames() []string {
	return []string{"close", "error", "name", "ok", "ping", "recv", "request", "send", "send_json", "subprotocol"}
}

func (v *socketValue) Attr(name string) (starlark.Value, error) {
	if b, ok := socketMethods[name]; ok {
		return b.BindReceiver(v), nil
	}
	switch name {
	case "ok":
		return starlark.Bool(v.c.Open()), nil
	case "error":
		return errorValue(v.c.Err()), nil
	case "name":
		return starlark.String(v.c.Name()), nil
	case "subprotocol":
		return starlark.String(v.c.Subprotocol()), nil
	}
	return nil, nil
}

// wsMessage is what send takes: text (a string), binary (bytes) or, with asJSON, any
// value encoded as JSON text.
func wsMessage(thread *starlark.Thread, v starlark.Value, asJSON bool) (text bool, data []byte, err error) {
	if asJSON {
		s, err := starlark.Call(thread, starjson.Module.Members["encode"], starlark.Tuple{v}, nil)
		if err != nil {
			return false, nil, err
		}
		return true, []byte(s.(starlark.String)), nil
	}
	switch m := v.(type) {
	case starlark.String:
		return true, []byte(m), nil
	case starlark.Bytes:
		return false, []byte(m), nil
	case *starlark.Dict, *starlark.List:
		return wsMessage(thread, v, true)
	}
	return false, nil, fmt.Errorf("want a string, bytes or a dict (sent as JSON), got %s", v.Type())
}

func frameValue(text bool, data []byte) starlark.Value {
	if text {
		return starlark.String(data)
	}
	return starlark.Bytes(data)
}

func sessionOrErr(thread *starlark.Thread, fn string) (*session, error) {
	_, s := running(thread)
	if s == nil {
		return nil, fmt.Errorf("%s: sockets may only be used while a user runs a task", fn)
	}
	return s, nil
}

func optDuration(fn string, v starlark.Value) (time.Duration, error) {
	if v == nil || v == starlark.None {
		return 0, nil
	}
	d, err := toDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: timeout: %v", fn, err)
	}
	return d, nil
}

var socketMethods = map[string]*starlark.Builtin{
	"send":      starlark.NewBuiltin("send", socketSend),
	"send_json": starlark.NewBuiltin("send_json", socketSend),
	"recv": starlark.NewBuiltin("recv", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		s, err := sessionOrErr(thread, "recv")
		if err != nil {
			return nil, err
		}
		var timeout starlark.Value
		if err := starlark.UnpackArgs("recv", args, kwargs, "timeout?", &timeout); err != nil {
			return nil, err
		}
		d, err := optDuration("recv", timeout)
		if err != nil {
			return nil, err
		}
		text, data, ok := b.Receiver().(*socketValue).c.Recv(s.ctx, d)
		if !ok {
			return starlark.None, nil
		}
		return frameValue(text, data), nil
	}),
	"ping": starlark.NewBuiltin("ping", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackPositionalArgs("ping", args, kwargs, 0); err != nil {
			return nil, err
		}
		return starlark.None, b.Receiver().(*socketValue).c.Ping()
	}),
	"close": starlark.NewBuiltin("close", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackPositionalArgs("close", args, kwargs, 0); err != nil {
			return nil, err
		}
		_ = b.Receiver().(*socketValue).c.Close()
		return starlark.None, nil
	}),
	"request": starlark.NewBuiltin("request", socketRequest),
}

// ws.send(msg) / ws.send_json(value)
func socketSend(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var msg starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &msg); err != nil {
		return nil, err
	}
	text, data, err := wsMessage(thread, msg, b.Name() == "send_json")
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	if err := b.Receiver().(*socketValue).c.Send(text, data); err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	return starlark.None, nil
}

// ws.request(msg, until=None, timeout=None): send msg, wait for the first reply until
// accepts (any, without it), record the round trip; the reply, or None.
func socketRequest(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	s, err := sessionOrErr(thread, "request")
	if err != nil {
		return nil, err
	}
	var msg, until, timeout starlark.Value
	if err := starlark.UnpackArgs("request", args, kwargs, "msg", &msg, "until?", &until, "timeout?", &timeout); err != nil {
		return nil, err
	}
	text, data, err := wsMessage(thread, msg, false)
	if err != nil {
		return nil, fmt.Errorf("request: %v", err)
	}
	d, err := optDuration("request", timeout)
	if err != nil {
		return nil, err
	}
	var accept func(bool, []byte) (bool, error)
	if until != nil && until != starlark.None {
		fn, ok := until.(starlark.Callable)
		if !ok {
			return nil, fmt.Errorf("request: until: want a function, got %s", until.Type())
		}
		accept = func(text bool, data []byte) (bool, error) {
			r, err := starlark.Call(thread, fn, starlark.Tuple{frameValue(text, data)}, nil)
			if err != nil {
				return false, err
			}
			return bool(r.Truth()), nil
		}
	}
	s.commit()
	rt, reply, ok, err := b.Receiver().(*socketValue).c.Request(s.ctx, text, data, accept, d)
	if err != nil {
		return nil, err
	}
	if !ok {
		return starlark.None, nil
	}
	return frameValue(rt, reply), nil
}
