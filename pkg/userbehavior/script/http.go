package script

import (
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"slices"
	"strings"

	starjson "go.starlark.net/lib/json"
	"go.starlark.net/starlark"

	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// httpValue is u.http: the user's HTTP session (cookies, connections) as methods.
// Every user shares the one value, userHTTP, and its methods: they act for the user
// whose task runs on the calling thread, the only user that can reach them.
type httpValue struct{}

var userHTTP = &httpValue{}

// httpMethodNames lists u.http's methods, sorted; httpMethods has them in this order.
var httpMethodNames = [...]string{"delete", "get", "head", "options", "patch", "post", "put", "request", "stream"}

var httpMethods = func() (m [len(httpMethodNames)]*starlark.Builtin) {
	for i, name := range httpMethodNames {
		m[i] = starlark.NewBuiltin(name, httpCall).BindReceiver(userHTTP)
	}
	return m
}()

func (h *httpValue) String() string        { return "<http>" }
func (h *httpValue) Type() string          { return "http" }
func (h *httpValue) Freeze()               {}
func (h *httpValue) Truth() starlark.Bool  { return true }
func (h *httpValue) Hash() (uint32, error) { return 0, errors.New("unhashable type: http") }
func (h *httpValue) AttrNames() []string   { return httpMethodNames[:] }

func (h *httpValue) Attr(name string) (starlark.Value, error) {
	i, ok := slices.BinarySearch(httpMethodNames[:], name)
	if !ok {
		return nil, nil
	}
	return httpMethods[i], nil
}

// requestArgs are the parameters every request method takes after its URL.
type requestArgs struct {
	method, url                                      string
	params, headers, jsonBody, data, timeout, expect starlark.Value
	name                                             string
	redirects, sse                                   bool
}

// httpCall implements every method of u.http.
func httpCall(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	t, s := running(thread)
	if s == nil {
		return nil, fmt.Errorf("http.%s: requests may only be made while a user runs a task", b.Name())
	}
	a := requestArgs{redirects: true}
	if err := a.unpack(b.Name(), args, kwargs); err != nil {
		return nil, fmt.Errorf("http.%s: %v", b.Name(), err)
	}
	// The request is built in the thread's: the client keeps nothing of it after Do,
	// and the next request on this thread starts only when Do returned.
	req := &t.req
	if b.Name() == "stream" {
		req = new(userbehavior.Request) // the stream holds it until it is iterated
	}
	if err := buildRequest(thread, &a, req); err != nil {
		return nil, fmt.Errorf("http.%s: %v", b.Name(), err)
	}
	if b.Name() == "stream" {
		return &streamValue{s: s, req: req, sse: a.sse}, nil
	}
	s.commit()
	r := &responseValue{}
	r.r = &r.resp
	s.u.HTTP.DoInto(s.ctx, req, r.r)
	s.pending = r
	return r, nil
}

// unpack reads the arguments of http.<fn> by hand: it runs for every request, and
// starlark.UnpackArgs would cost several allocations.
func (a *requestArgs) unpack(fn string, args starlark.Tuple, kwargs []starlark.Tuple) error {
	positional := 1
	a.method = verb(fn)
	if fn == "request" || fn == "stream" {
		positional = 2
	}
	if len(args) > positional {
		return fmt.Errorf("got %d positional arguments, want at most %d", len(args), positional)
	}
	for i, v := range args {
		if err := a.set(positional == 2 && i == 0, v); err != nil {
			return err
		}
	}
	for _, kv := range kwargs {
		k, v := string(kv[0].(starlark.String)), kv[1]
		var ok bool
		switch k {
		case "url":
			if len(args) == positional {
				return errors.New("got multiple values for url")
			}
			if err := a.set(false, v); err != nil {
				return err
			}
			ok = true
		case "method":
			if positional == 2 && len(args) > 0 {
				return errors.New("got multiple values for method")
			}
			if err := a.set(true, v); err != nil {
				return err
			}
			ok = positional == 2
		case "params":
			a.params, ok = v, true
		case "headers":
			a.headers, ok = v, true
		case "json":
			a.jsonBody, ok = v, true
		case "data":
			a.data, ok = v, true
		case "timeout":
			a.timeout, ok = v, true
		case "expect":
			a.expect, ok = v, true
		case "name":
			name, isStr := v.(starlark.String)
			if !isStr {
				return fmt.Errorf("for parameter name: got %s, want string", v.Type())
			}
			a.name, ok = string(name), true
		case "allow_redirects":
			a.redirects, ok = bool(v.Truth()), true
		case "sse":
			a.sse, ok = bool(v.Truth()), fn == "stream"
		}
		if !ok {
			return fmt.Errorf("unexpected keyword argument %s", k)
		}
	}
	if a.url == "" {
		return errors.New("missing argument for url")
	}
	if a.method == "" {
		return errors.New("missing argument for method")
	}
	return nil
}

// verb is the HTTP method of u.http's method fn (a constant: no allocation).
func verb(fn string) string {
	switch fn {
	case "get":
		return http.MethodGet
	case "post":
		return http.MethodPost
	case "put":
		return http.MethodPut
	case "patch":
		return http.MethodPatch
	case "delete":
		return http.MethodDelete
	case "head":
		return http.MethodHead
	case "options":
		return http.MethodOptions
	}
	return "" // request and stream take the method as an argument
}

// set assigns a positional (or url/method keyword) argument.
func (a *requestArgs) set(isMethod bool, v starlark.Value) error {
	str, ok := v.(starlark.String)
	if !ok {
		if isMethod {
			return fmt.Errorf("for parameter method: got %s, want string", v.Type())
		}
		return fmt.Errorf("for parameter url: got %s, want string", v.Type())
	}
	if isMethod {
		a.method = strings.ToUpper(string(str))
	} else {
		a.url = string(str)
	}
	return nil
}

// buildRequest fills req (overwriting it) from the arguments of a request method.
func buildRequest(thread *starlark.Thread, a *requestArgs, req *userbehavior.Request) error {
	*req = userbehavior.Request{Method: a.method, URL: a.url, Name: a.name, Deferred: true,
		NoRedirects: !a.redirects, LazyHeader: true}
	var err error
	if a.headers != nil && a.headers != starlark.None {
		h, err := stringMultiMap(a.headers, http.CanonicalHeaderKey)
		if err != nil {
			return fmt.Errorf("headers: %v", err)
		}
		req.Header = http.Header(h)
	}
	if a.params != nil && a.params != starlark.None {
		q, err := stringMultiMap(a.params, nil)
		if err != nil {
			return fmt.Errorf("params: %v", err)
		}
		req.Query = url.Values(q)
	}
	if a.timeout != nil && a.timeout != starlark.None {
		if req.Timeout, err = toDuration(a.timeout); err != nil {
			return fmt.Errorf("timeout: %v", err)
		}
	}
	if a.expect != nil && a.expect != starlark.None {
		if req.Accept, err = acceptFunc(a.expect); err != nil {
			return fmt.Errorf("expect: %v", err)
		}
	}
	contentType := ""
	switch {
	case a.jsonBody != nil && a.data != nil:
		return fmt.Errorf("give json or data, not both")
	case a.jsonBody != nil:
		v, err := starlark.Call(thread, starjson.Module.Members["encode"], starlark.Tuple{a.jsonBody}, nil)
		if err != nil {
			return fmt.Errorf("json: %v", err)
		}
		req.Body, contentType = []byte(v.(starlark.String)), "application/json"
	case a.data != nil:
		switch d := a.data.(type) {
		case starlark.String:
			req.Body = []byte(d)
		case starlark.Bytes:
			req.Body = []byte(d)
		case *starlark.Dict:
			form, err := stringMultiMap(d, nil)
			if err != nil {
				return fmt.Errorf("data: %v", err)
			}
			req.Body, contentType = []byte(url.Values(form).Encode()), "application/x-www-form-urlencoded"
		default:
			return fmt.Errorf("data must be a string, bytes or a dict (a form), got %s", a.data.Type())
		}
	}
	if contentType != "" && req.Header.Get("Content-Type") == "" {
		if req.Header == nil {
			req.Header = http.Header{}
		}
		req.Header.Set("Content-Type", contentType)
	}
	return nil
}

// stringMultiMap reads a dict of string keys to values or lists of values; values
// other than strings are written as str() writes them. key, when not nil, rewrites
// each key (keys it makes equal gather their values, in the dict's order).
func stringMultiMap(v starlark.Value, key func(string) string) (map[string][]string, error) {
	d, ok := v.(starlark.IterableMapping)
	if !ok {
		return nil, fmt.Errorf("want a dict, got %s", v.Type())
	}
	items := d.Items()
	out := make(map[string][]string, len(items))
	for _, kv := range items {
		if err := addPair(out, key, kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// addPair adds the value or values v under key k to out.
func addPair(out map[string][]string, key func(string) string, k, v starlark.Value) error {
	name, ok := starlark.AsString(k)
	if !ok {
		return fmt.Errorf("keys must be strings, got %s", k.Type())
	}
	if key != nil {
		name = key(name)
	}
	switch x := v.(type) {
	case *starlark.List, starlark.Tuple:
		seq := x.(starlark.Indexable)
		vs := out[name]
		if vs == nil {
			vs = make([]string, 0, seq.Len())
		}
		for i := range seq.Len() {
			vs = append(vs, str(seq.Index(i)))
		}
		out[name] = vs
	default:
		out[name] = append(out[name], str(x))
	}
	return nil
}

func str(v starlark.Value) string {
	if s, ok := starlark.AsString(v); ok {
		return s
	}
	return v.String()
}

// acceptFunc reads expect=: a status or a list (or range) of statuses.
func acceptFunc(v starlark.Value) (func(int) bool, error) {
	if _, ok := v.(starlark.Int); ok {
		n, err := starlark.AsInt32(v)
		if err != nil {
			return nil, err
		}
		return func(status int) bool { return status == n }, nil
	}
	if seq, ok := v.(starlark.Indexable); ok { // a list or a tuple, read in place
		statuses := make([]int, seq.Len())
		for i := range statuses {
			n, err := starlark.AsInt32(seq.Index(i))
			if err != nil {
				return nil, fmt.Errorf("want statuses (ints), got %s", seq.Index(i).Type())
			}
			statuses[i] = n
		}
		return func(status int) bool { return slices.Contains(statuses, status) }, nil
	}
	var ok200 []int
	seq, ok := v.(starlark.Iterable)
	if !ok {
		return nil, fmt.Errorf("want a status or a list of statuses, got %s", v.Type())
	}
	it := seq.Iterate()
	defer it.Done()
	var x starlark.Value
	for it.Next(&x) {
		n, err := starlark.AsInt32(x)
		if err != nil {
			return nil, fmt.Errorf("want statuses (ints), got %s", x.Type())
		}
		ok200 = append(ok200, n)
	}
	return func(status int) bool { return slices.Contains(ok200, status) }, nil
}

// responseValue is what a request returns. Until it is recorded (when the user's next
// request starts, or the task ends) check(), r.fail() and r.succeed() change its
// verdict.
type responseValue struct {
	r         *userbehavior.Response // resp, or a stream's
	headers   *starlark.Dict
	committed bool
	resp      userbehavior.Response // in the same allocation
}

var responseAttrs = []string{"elapsed", "error", "fail", "header", "headers", "json", "ok", "size", "status", "status_code", "succeed", "text", "ttfb"}

func (r *responseValue) String() string {
	return fmt.Sprintf("<response %d>", r.r.Status)
}
func (r *responseValue) Type() string          { return "response" }
func (r *responseValue) Freeze()               {}
func (r *responseValue) Truth() starlark.Bool  { return true }
func (r *responseValue) Hash() (uint32, error) { return 0, errors.New("unhashable type: response") }
func (r *responseValue) AttrNames() []string   { return responseAttrs }

func (r *responseValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "status", "status_code":
		return starlark.MakeInt(r.r.Status), nil
	case "ok":
		return starlark.Bool(r.r.OK()), nil
	case "error":
		return errorValue(r.r.Err), nil
	case "text":
		return starlark.String(r.r.Body), nil
	case "size":
		return starlark.MakeInt64(r.r.Size), nil
	case "elapsed":
		return starlark.Float(r.r.Elapsed.Seconds()), nil
	case "ttfb":
		return starlark.Float(r.r.TTFB.Seconds()), nil
	case "headers":
		if r.headers == nil {
			h := r.r.Headers()
			r.headers = starlark.NewDict(len(h))
			for k, vs := range h {
				_ = r.headers.SetKey(starlark.String(k), starlark.String(strings.Join(vs, ", ")))
			}
		}
		return r.headers, nil
	case "json", "fail", "succeed", "header":
		return responseMethods[name].BindReceiver(r), nil
	}
	return nil, nil
}

var responseMethods = map[string]*starlark.Builtin{
	"json": starlark.NewBuiltin("json", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackPositionalArgs("json", args, kwargs, 0); err != nil {
			return nil, err
		}
		r := b.Receiver().(*responseValue)
		return starlark.Call(thread, starjson.Module.Members["decode"], starlark.Tuple{starlark.String(r.r.Body)}, nil)
	}),
	"header": starlark.NewBuiltin("header", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var name string
		if err := starlark.UnpackPositionalArgs("header", args, kwargs, 1, &name); err != nil {
			return nil, err
		}
		r := b.Receiver().(*responseValue)
		if vs := r.r.Headers().Values(name); len(vs) > 0 {
			return starlark.String(strings.Join(vs, ", ")), nil
		}
		return starlark.None, nil
	}),
	"fail": starlark.NewBuiltin("fail", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		msg := "failed by the script"
		if err := starlark.UnpackPositionalArgs("fail", args, kwargs, 0, &msg); err != nil {
			return nil, err
		}
		r := b.Receiver().(*responseValue)
		if err := r.mutable("fail"); err != nil {
			return nil, err
		}
		r.r.Fail(msg)
		return starlark.None, nil
	}),
	"succeed": starlark.NewBuiltin("succeed", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if err := starlark.UnpackPositionalArgs("succeed", args, kwargs, 0); err != nil {
			return nil, err
		}
		r := b.Receiver().(*responseValue)
		if err := r.mutable("succeed"); err != nil {
			return nil, err
		}
		r.r.Succeed()
		return starlark.None, nil
	}),
}

// errorValue is a verdict's error as the script sees it: None or its message.
func errorValue(err error) starlark.Value {
	if err == nil {
		return starlark.None
	}
	return starlark.String(err.Error())
}

func (r *responseValue) fail(msg string) { r.r.Fail(msg) }

func (r *responseValue) commit() {
	r.r.Commit()
	r.committed = true
}

func (r *responseValue) mutable(fn string) error {
	if r.committed {
		return fmt.Errorf("response.%s: the response was already recorded; call %s() before the user's next request", fn, fn)
	}
	return nil
}

// streamValue is what http.stream returns: iterating it sends the request and yields
// the body as it arrives (each chunk, or with sse=True each event's data); after the
// loop, s.response is the response.
type streamValue struct {
	s        *session
	req      *userbehavior.Request
	sse      bool
	started  bool
	response *responseValue
}

func (v *streamValue) String() string        { return fmt.Sprintf("<stream %s %s>", v.req.Method, v.req.URL) }
func (v *streamValue) Type() string          { return "stream" }
func (v *streamValue) Freeze()               {}
func (v *streamValue) Truth() starlark.Bool  { return true }
func (v *streamValue) Hash() (uint32, error) { return 0, errors.New("unhashable type: stream") }
func (v *streamValue) AttrNames() []string   { return []string{"response"} }

func (v *streamValue) Attr(name string) (starlark.Value, error) {
	if name != "response" {
		return nil, nil
	}
	if v.response == nil {
		return starlark.None, nil
	}
	return v.response, nil
}

// Iterate sends the request. The HTTP client hands chunks to a callback; iter.Pull
// turns that into the pull iterator Starlark wants, running the request as a
// coroutine that only advances while the loop asks for the next chunk, so the user's
// recorder is never used by two goroutines at once.
func (v *streamValue) Iterate() starlark.Iterator {
	s := v.s
	if v.started || s.ctx == nil {
		return emptyIterator{}
	}
	v.started = true
	s.commit()
	it := &streamIterator{v: v}
	req := *v.req
	req.SSE = v.sse
	ctx := s.ctx
	seq := func(yield func(string) bool) {
		req.OnChunk = func(chunk []byte) error {
			if !yield(string(chunk)) {
				it.stopped = true
				return errStreamStopped
			}
			return nil
		}
		it.resp = s.u.HTTP.Do(ctx, &req)
	}
	it.next, it.stop = iter.Pull(iter.Seq[string](seq))
	return it
}

var errStreamStopped = errors.New("stream left by the script")

type streamIterator struct {
	v       *streamValue
	next    func() (string, bool)
	stop    func()
	resp    *userbehavior.Response
	stopped bool // the loop left before the body ended
	done    bool
}

func (it *streamIterator) Next(p *starlark.Value) bool {
	if it.done {
		return false
	}
	chunk, ok := it.next()
	if !ok {
		it.finish()
		return false
	}
	*p = starlark.String(chunk)
	return true
}

func (it *streamIterator) Done() {
	if !it.done {
		it.stop()
		it.finish()
	}
}

// finish makes the finished request the user's pending response. A stream the
// script left early counts as a success when its status was accepted.
func (it *streamIterator) finish() {
	it.done = true
	resp := it.resp
	if resp == nil {
		return
	}
	if it.stopped && accepted(it.v.req, resp.Status) {
		resp.Succeed()
	}
	s := it.v.s
	s.commit()
	r := &responseValue{r: resp}
	it.v.response = r
	s.pending = r
}

func accepted(req *userbehavior.Request, status int) bool {
	if status == 0 {
		return false
	}
	if req.Accept != nil {
		return req.Accept(status)
	}
	return status < 400
}

type emptyIterator struct{}

func (emptyIterator) Next(*starlark.Value) bool { return false }
func (emptyIterator) Done()                     {}
