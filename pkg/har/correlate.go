package har

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
)

// value is a string the script builds: literal pieces and correlated variables.
type value []piece

// piece is a literal (v == nil) or a variable.
type piece struct {
	lit string
	v   *variable
}

// variable is a value a response provided that a later request sent back: the script
// reads it into u.vars[name] with expr (on the response r) right after that response.
type variable struct {
	name   string
	expr   string // Starlark on the response r
	sample string // the recorded value
	number bool   // a JSON number: u.vars holds an int
	from   string // "METHOD URL" of the response, for the comment
	where  string // what the response held it in, for the comment
	used   bool
}

// jsonObject is a JSON object with its keys in the recorded order.
type jsonObject struct {
	keys []string
	vals []any
}

// jsonNumber is a JSON number's literal.
type jsonNumber string

// correlator finds values that responses returned and later requests sent back.
type correlator struct {
	known map[string]*variable // by recorded value: the latest response that held it
	sent  []string             // every string the client sent so far: values it knew itself
	names map[string]int       // variable names given, for unique names
	used  int
}

func newCorrelator() *correlator {
	return &correlator{known: map[string]*variable{}, names: map[string]int{}}
}

// Minimum lengths of a value worth correlating: shorter ones match by chance.
const (
	minToken      = 8 // any string with a digit
	minHinted     = 4 // a string whose key says token, id, csrf, ...
	minDigits     = 5 // a number
	maxCorrelated = 4096
)

var hint = regexp.MustCompile(`(?i)(token|csrf|xsrf|nonce|session|auth|secret|key|(^|_|-)id$|Id$|ID$)`)

// candidate tells a value worth correlating: long enough not to match by chance,
// without spaces, not a URL or a time.
func candidate(key, s string, number bool) bool {
	if number {
		return len(strings.TrimLeft(s, "-")) >= minDigits && !strings.ContainsAny(s, ".eE")
	}
	if len(s) > maxCorrelated || strings.IndexFunc(s, unicode.IsSpace) >= 0 || strings.Contains(s, "://") {
		return false
	}
	if _, err := time.Parse(time.RFC3339, s); err == nil {
		return false
	}
	if hint.MatchString(key) && len(s) >= minHinted {
		return true
	}
	return len(s) >= minToken && strings.IndexFunc(s, unicode.IsDigit) >= 0
}

// request prepares a call's request parts, sending back what earlier responses gave.
func (c *correlator) request(cl *call) {
	e := cl.e
	u := cl.u
	var sent []string
	// Path: each segment on its own, so a correlated id becomes its own piece.
	segs := strings.Split(u.EscapedPath(), "/")
	nameSegs := make([]string, len(segs))
	dynamic := false
	for i, s := range segs {
		dec, err := url.PathUnescape(s)
		if err != nil {
			dec = s
		}
		v := c.sub(s, false)
		cl.path = append(cl.path, v)
		sent = append(sent, dec)
		nameSegs[i] = s
		if ph := placeholder(v, dec); ph != "" {
			nameSegs[i], dynamic = ph, true
		}
	}
	// Query, in the recorded order.
	query := e.Request.QueryString
	if len(query) == 0 && u.RawQuery != "" {
		for _, kv := range strings.Split(u.RawQuery, "&") {
			k, v, _ := strings.Cut(kv, "=")
			k, _ = url.QueryUnescape(k)
			v, _ = url.QueryUnescape(v)
			query = append(query, NameValue{k, v})
		}
	}
	var qnames []string
	for _, q := range query {
		cl.query = append(cl.query, field{q.Name, c.sub(q.Value, false)})
		sent = append(sent, q.Value)
		if !slices.Contains(qnames, q.Name) {
			qnames = append(qnames, q.Name)
		}
	}
	if dynamic || len(qnames) > 0 || cl.abs {
		name := strings.Join(nameSegs, "/")
		if cl.abs { // another host's rows say which host
			name = u.Scheme + "://" + u.Host + name
		}
		for i, k := range qnames {
			name += string("?&"[min(i, 1)]) + k + "=[" + k + "]"
		}
		cl.name = name
	}
	for _, h := range e.Request.Headers {
		if needed(h.Name, h.Value) {
			cl.headers = append(cl.headers, field{h.Name, c.sub(h.Value, true)})
			sent = append(sent, h.Value)
		}
	}
	if pd := e.Request.PostData; pd != nil {
		c.requestBody(cl, pd, &sent)
	}
	c.sent = append(c.sent, sent...)
}

// requestBody prepares the body: JSON as a literal, a form as a dict, anything else
// as a string with its Content-Type.
func (c *correlator) requestBody(cl *call, pd *PostData, sent *[]string) {
	mime := strings.ToLower(pd.MimeType)
	if strings.Contains(mime, "json") {
		if j, err := decodeOrdered(pd.Text); err == nil {
			cl.body = body{kind: "json", json: c.subJSON(j, sent)}
			return
		}
	}
	if strings.HasPrefix(mime, "application/x-www-form-urlencoded") {
		params := pd.Params
		if len(params) == 0 {
			for _, kv := range strings.Split(pd.Text, "&") {
				if kv == "" {
					continue
				}
				k, v, _ := strings.Cut(kv, "=")
				k, _ = url.QueryUnescape(k)
				v, _ = url.QueryUnescape(v)
				params = append(params, NameValue{k, v})
			}
		}
		cl.body.kind = "form"
		for _, p := range params {
			cl.body.form = append(cl.body.form, field{p.Name, c.sub(p.Value, false)})
			*sent = append(*sent, p.Value)
		}
		return
	}
	if pd.Text == "" {
		return
	}
	cl.body = body{kind: "raw", raw: c.sub(pd.Text, true)}
	*sent = append(*sent, pd.Text)
	ct := cmp.Or(pd.MimeType, header(cl.e.Request.Headers, "Content-Type"))
	if ct != "" && !slices.ContainsFunc(cl.headers, func(f field) bool { return strings.EqualFold(f.name, "Content-Type") }) {
		cl.headers = append(cl.headers, field{"Content-Type", value{{lit: ct}}})
	}
}

// placeholder is the name segment of a dynamic path segment, "" for a literal one.
func placeholder(v value, s string) string {
	if len(v) == 1 && v[0].v != nil {
		return "[" + v[0].v.name + "]"
	}
	switch {
	case s == "":
		return ""
	case strings.Trim(s, "0123456789") == "":
		return "[id]"
	case uuidRE.MatchString(s):
		return "[uuid]"
	case len(s) >= 16 && strings.Trim(strings.ToLower(s), "0123456789abcdef") == "":
		return "[hash]"
	case len(s) >= 20 && tokenRE.MatchString(s) && strings.IndexFunc(s, unicode.IsDigit) >= 0 &&
		strings.IndexFunc(s, unicode.IsLetter) >= 0:
		return "[token]"
	}
	return ""
}

var (
	uuidRE  = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	tokenRE = regexp.MustCompile(`^[A-Za-z0-9_.=~-]+$`)
)

// needed tells the request headers a server may need: Authorization, custom X-
// headers, an Accept that asks for something particular. The rest is the browser's
// (or, like cookies, the client's: each user keeps a cookie jar).
func needed(name, val string) bool {
	n := strings.ToLower(name)
	switch {
	case strings.HasPrefix(n, ":"):
		return false
	case n == "authorization":
		return true
	case n == "accept":
		return val != "*/*" && !strings.Contains(val, "text/html")
	case strings.HasPrefix(n, "x-"):
		return n != "x-client-data" && !strings.HasPrefix(n, "x-devtools")
	}
	return false
}

// sub turns s into a value, with the correlated variables it holds: the whole of s,
// or (with within) any part of it.
func (c *correlator) sub(s string, within bool) value {
	if v, ok := c.known[s]; ok {
		c.use(v)
		return value{{v: v}}
	}
	if !within {
		return value{{lit: s}}
	}
	// The longest known values first, so a token is not split by a shorter one inside it.
	var hits []*variable
	for k, v := range c.known {
		if !v.number && strings.Contains(s, k) {
			hits = append(hits, v)
		}
	}
	if len(hits) == 0 {
		return value{{lit: s}}
	}
	slices.SortFunc(hits, func(a, b *variable) int { return len(b.sample) - len(a.sample) })
	out := value{{lit: s}}
	for _, v := range hits {
		var next value
		for _, p := range out {
			if p.v != nil || !strings.Contains(p.lit, v.sample) {
				next = append(next, p)
				continue
			}
			parts := strings.Split(p.lit, v.sample)
			for i, part := range parts {
				if i > 0 {
					next = append(next, piece{v: v})
				}
				if part != "" {
					next = append(next, piece{lit: part})
				}
			}
			c.use(v)
		}
		out = next
	}
	return out
}

func (c *correlator) use(v *variable) {
	if !v.used {
		v.used = true
		c.used++
	}
}

// subJSON replaces the correlated leaves of a JSON body and notes every leaf as sent.
func (c *correlator) subJSON(j any, sent *[]string) any {
	switch x := j.(type) {
	case jsonObject:
		for i := range x.vals {
			x.vals[i] = c.subJSON(x.vals[i], sent)
		}
		return x
	case []any:
		for i := range x {
			x[i] = c.subJSON(x[i], sent)
		}
		return x
	case string:
		*sent = append(*sent, x)
		if v := c.sub(x, true); len(v) != 1 || v[0].v != nil {
			return v
		}
		return x
	case jsonNumber:
		*sent = append(*sent, string(x))
		if v, ok := c.known[string(x)]; ok {
			c.use(v)
			return numberValue{v}
		}
		return x
	}
	return j
}

// response notes the values a call's response returned that a later request may send
// back: JSON fields, non-standard headers, hidden form fields and CSRF meta tags.
// Values the client had sent before are its own, not the server's.
func (c *correlator) response(cl *call) {
	from := cl.method + " " + cl.u.String()
	add := func(key, val, expr, where string, number bool) {
		if !candidate(key, val, number) || c.clientKnew(val) {
			return
		}
		v := &variable{name: c.varName(key), expr: expr, sample: val, number: number, from: from, where: where}
		c.known[val] = v
		cl.sets = append(cl.sets, v)
	}
	for _, h := range cl.e.Response.Headers {
		n := strings.ToLower(h.Name)
		if strings.HasPrefix(n, "x-") && !strings.HasPrefix(n, "x-content") && !strings.HasPrefix(n, "x-frame") &&
			n != "x-powered-by" && n != "x-xss-protection" {
			add(h.Name, h.Value, fmt.Sprintf("r.header(%s)", quote(h.Name)), "header "+h.Name, false)
		}
	}
	text := cl.e.Response.Content.Body()
	mime := strings.ToLower(cl.e.Response.Content.MimeType)
	switch {
	case strings.Contains(mime, "json"):
		j, err := decodeOrdered(text)
		if err != nil {
			return
		}
		walkJSON(j, "r.json()", "", func(key, expr string, leaf any) {
			switch x := leaf.(type) {
			case string:
				add(key, x, expr, "JSON "+strings.TrimPrefix(expr, "r.json()"), false)
			case jsonNumber:
				add(key, string(x), expr, "JSON "+strings.TrimPrefix(expr, "r.json()"), true)
			}
		})
	case strings.Contains(mime, "html"):
		for _, m := range htmlValueRE.FindAllStringSubmatchIndex(text, -1) {
			key := text[m[2]:m[3]]
			val, start := text[m[4]:m[5]], m[4]
			if !candidate(key, val, false) || c.clientKnew(val) {
				continue
			}
			// r.text.split(before)[1].split(quote)[0], where before is the shortest text
			// ending at the value whose first occurrence is this one.
			for n := start - max(m[2]-len(`name="`), 0); n <= start; n++ {
				before := text[start-n : start]
				if strings.Index(text, before) == start-n {
					add(key, val, fmt.Sprintf("r.text.split(%s)[1].split(%s)[0]", quote(before), quote(text[m[5]:m[5]+1])),
						"the page's "+key+" field", false)
					break
				}
			}
		}
	}
}

// htmlValueRE finds hidden inputs (name then value) and meta tags (name then
// content) of a page; group 1 is the name, group 2 the value.
var htmlValueRE = regexp.MustCompile(`(?i)<(?:input[^>]*type=["']hidden["'][^>]*name|meta[^>]*name)=["']([^"']+)["'][^>]*(?:value|content)=["']([^"']*)["']`)

// clientKnew tells a value the client sent before any response could give it.
func (c *correlator) clientKnew(val string) bool {
	for _, s := range c.sent {
		if strings.Contains(s, val) {
			return true
		}
	}
	return false
}

// varName makes a unique snake_case name from a key.
func (c *correlator) varName(key string) string {
	var b strings.Builder
	for i, r := range key {
		switch {
		case unicode.IsUpper(r):
			if i > 0 && b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
		case r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "_"):
			b.WriteByte('_')
		}
	}
	name := strings.Trim(b.String(), "_")
	if name == "" {
		name = "value"
	}
	c.names[name]++
	if n := c.names[name]; n > 1 {
		return fmt.Sprintf("%s_%d", name, n)
	}
	return name
}

// walkJSON calls fn for every leaf with its key and its Starlark path on root.
func walkJSON(j any, expr, key string, fn func(key, expr string, leaf any)) {
	switch x := j.(type) {
	case jsonObject:
		for i, k := range x.keys {
			walkJSON(x.vals[i], expr+"["+quote(k)+"]", k, fn)
		}
	case []any:
		for i, v := range x {
			walkJSON(v, fmt.Sprintf("%s[%d]", expr, i), key, fn)
		}
	default:
		fn(key, expr, j)
	}
}

// decodeOrdered decodes JSON keeping the keys of objects in order.
func decodeOrdered(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			var o jsonObject
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				o.keys, o.vals = append(o.keys, k.(string)), append(o.vals, v)
			}
			_, err := dec.Token()
			return o, err
		case '[':
			a := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := dec.Token()
			return a, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case json.Number:
		return jsonNumber(t), nil
	}
	return tok, nil // string, bool, nil
}

// quote writes s as a Starlark string literal.
func quote(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b bytes.Buffer
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
