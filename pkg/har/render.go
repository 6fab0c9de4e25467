package har

import (
	"fmt"
	"net/url"
	"strings"
)

// render writes the script.
func render(steps []*step, opts Options, sum Summary, w wait) string {
	var b strings.Builder
	source := opts.Source
	if source == "" {
		source = "a HAR recording"
	}
	fmt.Fprintf(&b, "# Converted from %s by `master convert`: %d requests to %s in %d steps", source, sum.Requests, sum.Host, sum.Steps)
	if len(sum.Dropped) > 0 {
		fmt.Fprintf(&b, "\n# (left out: %s)", droppedText(sum.Dropped))
	}
	b.WriteString(".\n# Check it, then run each step once against the recorded host:\n")
	b.WriteString("#   master check load.star\n")
	fmt.Fprintf(&b, "#   master --headless -f load.star -H %s --dry-run 1\n", sum.Host)
	if sum.Correlations > 0 {
		fmt.Fprintf(&b, "# %d values a response returned are read into u.vars and sent back from there; each is\n"+
			"# marked \"correlation\": the link was guessed from equal values, so review it.\n", sum.Correlations)
	}
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = fmt.Sprintf("step%02d_%s", i+1, slug(s))
		b.WriteString("\n")
		if s.title != "" {
			fmt.Fprintf(&b, "# page: %s\n", oneLine(s.title))
		}
		fmt.Fprintf(&b, "def %s(u):\n", names[i])
		for _, c := range s.calls {
			writeCall(&b, c)
		}
	}
	b.WriteString("\n")
	waitExpr := "constant(1)"
	if w.ok {
		waitExpr = fmt.Sprintf("between(%.1f, %.1f)", w.min, max(w.max, w.min))
	} else {
		b.WriteString("# One step recorded, so no think time was measured: one second between iterations.\n")
	}
	fmt.Fprintf(&b, "%s = user(tasks=[%s], wait=%s)\n", opts.Class, strings.Join(names, ", "), waitExpr)
	return b.String()
}

// writeCall writes one request, and what the script reads of its response.
func writeCall(b *strings.Builder, c *call) {
	var sets []*variable
	for _, v := range c.sets {
		if v.used {
			sets = append(sets, v)
		}
	}
	var args []string
	args = append(args, c.urlExpr())
	if len(c.query) > 0 {
		args = append(args, "params="+dict(c.query))
	}
	if len(c.headers) > 0 {
		args = append(args, "headers="+dict(c.headers))
	}
	switch c.body.kind {
	case "json":
		args = append(args, "json="+jsonExpr(c.body.json))
	case "form":
		args = append(args, "data="+dict(c.body.form))
	case "raw":
		args = append(args, "data="+c.body.raw.expr())
	}
	if c.name != "" {
		args = append(args, "name="+quote(c.name))
	}
	fn := strings.ToLower(c.method)
	switch fn {
	case "get", "post", "put", "patch", "delete", "head", "options":
	default:
		fn = "request"
		args = append([]string{quote(c.method)}, args...)
	}
	b.WriteString("    ")
	if len(sets) > 0 {
		b.WriteString("r = ")
	}
	fmt.Fprintf(b, "u.http.%s(%s)", fn, strings.Join(args, ", "))
	if s := c.e.Response.Status; s >= 400 {
		fmt.Fprintf(b, "  # recorded: %d", s)
	}
	b.WriteString("\n")
	for _, v := range sets {
		fmt.Fprintf(b, "    # correlation (guessed from equal values): %s came back in %s of this response\n", sample(v.sample), v.where)
		fmt.Fprintf(b, "    # and a later request sends it: read it here\n")
		fmt.Fprintf(b, "    u.vars[%s] = %s\n", quote(v.name), v.expr)
	}
}

// urlExpr is the request's URL: its path (absolute for another host), with the
// correlated segments read from u.vars.
func (c *call) urlExpr() string {
	var v value
	if c.abs {
		v = append(v, piece{lit: c.u.Scheme + "://" + c.u.Host})
	}
	for i, seg := range c.path {
		if i > 0 {
			v = append(v, piece{lit: "/"})
		}
		v = append(v, seg...)
	}
	if len(v) == 0 || (len(v) == 1 && v[0].v == nil && v[0].lit == "") {
		v = value{{lit: "/"}}
	}
	return v.expr()
}

// expr is a string value as Starlark: literals and u.vars reads joined with +.
func (v value) expr() string {
	var parts []string
	lit := ""
	pending := false
	for _, p := range v {
		if p.v == nil {
			lit += p.lit
			pending = true
			continue
		}
		if pending && lit != "" {
			parts = append(parts, quote(lit))
		}
		lit, pending = "", false
		parts = append(parts, p.v.read(true))
	}
	if pending && lit != "" || len(parts) == 0 {
		parts = append(parts, quote(lit))
	}
	return strings.Join(parts, " + ")
}

// read is the script's read of the variable, as a string (asString) or as it was.
func (v *variable) read(asString bool) string {
	r := "u.vars[" + quote(v.name) + "]"
	if asString && v.number {
		return "str(" + r + ")"
	}
	return r
}

// dict writes fields as a Starlark dict; a name given more than once gets a list.
func dict(fs []field) string {
	var order []string
	vals := map[string][]string{}
	for _, f := range fs {
		if _, ok := vals[f.name]; !ok {
			order = append(order, f.name)
		}
		vals[f.name] = append(vals[f.name], f.val.expr())
	}
	items := make([]string, len(order))
	for i, k := range order {
		vs := vals[k]
		if len(vs) == 1 {
			items[i] = quote(k) + ": " + vs[0]
		} else {
			items[i] = quote(k) + ": [" + strings.Join(vs, ", ") + "]"
		}
	}
	return "{" + strings.Join(items, ", ") + "}"
}

// jsonExpr writes an ordered JSON value as a Starlark literal.
func jsonExpr(j any) string {
	switch x := j.(type) {
	case jsonObject:
		items := make([]string, len(x.keys))
		for i, k := range x.keys {
			items[i] = quote(k) + ": " + jsonExpr(x.vals[i])
		}
		return "{" + strings.Join(items, ", ") + "}"
	case []any:
		items := make([]string, len(x))
		for i, v := range x {
			items[i] = jsonExpr(v)
		}
		return "[" + strings.Join(items, ", ") + "]"
	case string:
		return quote(x)
	case jsonNumber:
		return string(x)
	case bool:
		if x {
			return "True"
		}
		return "False"
	case nil:
		return "None"
	case value:
		return x.expr() // a string leaf holding correlated values
	case numberValue:
		if x.v.number {
			return x.v.read(false)
		}
		return "int(" + x.v.read(false) + ")"
	}
	return "None"
}

// numberValue is a JSON number leaf sent from a variable.
type numberValue struct{ v *variable }

// slug names a step after its page title, else after its first request.
func slug(s *step) string {
	src := s.title
	if u, err := url.Parse(src); err == nil && u.Scheme != "" && u.Host != "" {
		src = u.Path // a page titled by its URL: its path says more than its host
		if src == "/" || src == "" {
			return "root"
		}
	}
	if src == "" {
		c := s.calls[0]
		src = strings.ToLower(c.method) + " " + c.rowName()
	}
	var b strings.Builder
	for _, r := range strings.ToLower(src) {
		if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			b.WriteRune(r)
		} else if b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
			b.WriteByte('_')
		}
		if b.Len() >= 32 {
			break
		}
	}
	out := strings.Trim(b.String(), "_")
	if out == "" || out == "get" {
		return "root"
	}
	return out
}

// sample shortens a recorded value for a comment.
func sample(s string) string {
	if len(s) > 24 {
		s = s[:20] + "…"
	}
	return oneLine(quote(s))
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
