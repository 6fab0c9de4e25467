package userbehavior

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// A request with LazyHeader gets the same status, body and header (from Headers) as
// one without, on every client; fasthttp leaves Header nil until Headers is called.
func TestHTTPClientLazyHeader(t *testing.T) {
	eachClient(t, func(t *testing.T, kind string) {
		ts := newTarget(t)
		st := newStack(t, kind)
		tests := []Request{
			{URL: "/ok"},
			{URL: "/status/204"},
			{URL: "/status/404"},
			{URL: "/redirect"},
			{URL: "/redirect", NoRedirects: true},
			{URL: "/big"},
			{URL: "/login?user=ann"},
			{URL: "/ok", Method: http.MethodHead},
			{URL: "/short"},
		}
		for _, req := range tests {
			t.Run(req.Method+req.URL, func(t *testing.T) {
				c := newTestClient(t, st, ts.URL)
				eager := c.Do(context.Background(), &req)
				lazyReq := req
				lazyReq.LazyHeader = true
				lazy := c.Do(context.Background(), &lazyReq)
				if kind == ClientFast && lazy.Header != nil {
					t.Errorf("Header = %v before Headers()", lazy.Header)
				}
				if lazy.Status != eager.Status || string(lazy.Body) != string(eager.Body) || lazy.Size != eager.Size ||
					errString(lazy.Err) != errString(eager.Err) {
					t.Errorf("lazy: %d %q %d %v; eager: %d %q %d %v", lazy.Status, lazy.Body, lazy.Size, lazy.Err,
						eager.Status, eager.Body, eager.Size, eager.Err)
				}
				got, want := lazy.Headers().Clone(), eager.Headers().Clone()
				if len(want) == 0 {
					t.Fatalf("eager response has no header")
				}
				got.Del("Date") // the two responses may straddle a second
				want.Del("Date")
				if !reflect.DeepEqual(got, want) {
					t.Errorf("Headers() = %v, want %v", got, want)
				}
				if kind == ClientFast && cap(lazy.Body) != len(lazy.Body) {
					t.Errorf("Body has capacity %d beyond its %d bytes: an append would write into the header", cap(lazy.Body), len(lazy.Body))
				}
			})
		}
	})
}

func TestParseRawHeaderMalformed(t *testing.T) {
	for _, raw := range []string{"\x05ab", "\x02ab\x09c", "\xff\xff\xff\xff\xff\x01", "\x01a"} {
		if h := parseRawHeader([]byte(raw)); len(h) != 0 {
			t.Errorf("parseRawHeader(%q) = %v, want empty", raw, h)
		}
	}
	if h := parseRawHeader([]byte("\x01a\x01b\x01a\x01c\x01d\x00")); !reflect.DeepEqual(h, http.Header{"a": {"b", "c"}, "d": {""}}) {
		t.Errorf("parseRawHeader = %v", h)
	}
}

// A plain path is resolved without url.Parse into what the general path makes of it:
// the reference joined onto the base's path (joined), its request URI the row name.
func TestResolvePlainPath(t *testing.T) {
	// joined is ref joined onto base's path as Locust does, built from the parsed
	// parts: a reference with a host or scheme resolves by RFC 3986.
	joined := func(base, ref *url.URL, raw string) *url.URL {
		if ref.Scheme != "" || strings.HasPrefix(raw, "//") {
			return base.ResolveReference(ref)
		}
		u := *base
		u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = ref.RawQuery, ref.ForceQuery, ref.Fragment, ref.RawFragment
		if ref.Path != "" {
			esc := strings.TrimSuffix(base.EscapedPath(), "/") + "/" + strings.TrimPrefix(ref.EscapedPath(), "/")
			path, err := url.PathUnescape(esc)
			if err != nil {
				t.Fatal(err)
			}
			u.Path, u.RawPath = path, esc
		}
		return &u
	}
	paths := []string{"/", "/x", "/item/7", "/a/b/", "/a-b_c.d~e", "/a.b/c", "/v1/items/42/reviews",
		"/./x", "/a/../b", "/a/.", "//x", "/a//b", "/a b", "/a%20b", "/a?b", "/a#b", "x", "", "/é", "/a:b", "/a;b=c"}
	for c := 0; c < 256; c++ {
		paths = append(paths, "/a"+string(rune(c))+"b", "/"+string([]byte{byte(c)}))
	}
	bases := []string{"http://127.0.0.1:8080", "http://127.0.0.1:8080/", "https://u:p@example.test/api/v2?q=1#f", "http://h/x/"}
	plain := 0
	for _, b := range bases {
		base, err := url.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			ref, err := url.Parse(p)
			if err != nil {
				if plainPath(p) {
					t.Errorf("plainPath(%q) but url.Parse fails: %v", p, err)
				}
				continue
			}
			want := joined(base, ref, p)
			c := &HTTPClient{base: base}
			got, name, err := c.resolve(&Request{URL: p})
			if err != nil {
				t.Errorf("resolve(%q) against %s: %v", p, b, err)
				continue
			}
			if got.String() != want.String() || name != want.RequestURI() {
				t.Errorf("resolve(%q) against %s = %s named %q, want %s named %q", p, b, got, name, want, want.RequestURI())
			}
			for _, q := range []url.Values{{"b": {"2", "1"}, "a": {"x y&z"}}, {"empty": {}}} {
				wantQ := *want
				merged := wantQ.Query()
				for k, vs := range q {
					for _, v := range vs {
						merged.Add(k, v)
					}
				}
				wantQ.RawQuery = merged.Encode()
				got, name, err := c.resolve(&Request{URL: p, Query: q})
				if err != nil || got.String() != wantQ.String() || name != wantQ.RequestURI() {
					t.Errorf("resolve(%q, query %v) against %s = %s named %q (%v), want %s named %q", p, q, b, got, name, err, &wantQ, wantQ.RequestURI())
				}
			}
			if plainPath(p) {
				plain++
				// and again, from the resolution kept
				if again, name2, _ := c.resolve(&Request{URL: p}); again != got || name2 != name {
					t.Errorf("resolve(%q) again = %s, %q: not the resolution kept", p, again, name2)
				}
			}
		}
	}
	if plain < 100 {
		t.Errorf("only %d plain paths: the fast path is hardly tested", plain)
	}
}

// Both clients show a response's header alike: no field the target did not send (a
// 204 has no Content-Type).
func TestHTTPClientHeadersAgree(t *testing.T) {
	ts := newTarget(t)
	headers := map[string][]http.Header{}
	for _, kind := range clients {
		c := newTestClient(t, newStack(t, kind), ts.URL)
		for _, req := range []Request{{URL: "/ok"}, {URL: "/status/204"}, {URL: "/status/404"}, {URL: "/login?user=ann"},
			{URL: "/redirect", NoRedirects: true}, {URL: "/ok", Method: http.MethodHead}} {
			h := c.Do(context.Background(), &req).Headers().Clone()
			h.Del("Date")
			headers[kind] = append(headers[kind], h)
		}
	}
	if got, want := headers[ClientFast], headers[ClientNetHTTP]; !reflect.DeepEqual(got, want) {
		t.Errorf("fasthttp headers %v\nnet/http headers %v", got, want)
	}
	if ct, ok := headers[ClientFast][1]["Content-Type"]; ok {
		t.Errorf("a 204 without Content-Type has Content-Type %q", ct)
	}
}

// A header kept as it came reads back as the header headerOf copies, whatever the
// target sent.
func FuzzRawHeader(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n")
	f.Add("HTTP/1.1 302 Found\r\nLocation: /x\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 0\r\n\r\n")
	f.Add("HTTP/1.1 204 No Content\r\nX-Empty:\r\nX-Long: " + strings.Repeat("v", 300) + "\r\n\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		var fh fasthttp.ResponseHeader
		fh.SetNoDefaultContentType(true)
		if err := fh.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			return
		}
		want := headerOf(&fh)
		if got := parseRawHeader(appendRawHeader(nil, &fh)); !reflect.DeepEqual(got, want) {
			t.Errorf("parseRawHeader(appendRawHeader) = %v, want %v", got, want)
		}
	})
}
