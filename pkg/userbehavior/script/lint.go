package script

import (
	"slices"
	"strings"

	"go.starlark.net/syntax"
)

// lint checks, before anything runs, the calls of http methods (x.http.get(...) and
// the others) whose arguments are literals of the wrong type or unknown keywords.
// Tasks only run on the workers, so these mistakes would otherwise surface only
// mid-run, as task errors.
func lint(f *syntax.File, p *problems) {
	syntax.Walk(f, func(n syntax.Node) bool {
		call, ok := n.(*syntax.CallExpr)
		if !ok {
			return true
		}
		dot, ok := call.Fn.(*syntax.DotExpr)
		if !ok {
			return true
		}
		recv, ok := dot.X.(*syntax.DotExpr)
		if !ok || recv.Name.Name != "http" {
			return true
		}
		if _, known := slices.BinarySearch(httpMethodNames[:], dot.Name.Name); known {
			lintHTTPCall(call, dot.Name.Name, p)
		}
		return true
	})
}

// httpParams are the literal kinds each keyword of the http methods accepts ("" is any).
var httpParams = map[string][]string{
	"params":          {"dict"},
	"headers":         {"dict"},
	"json":            nil,
	"data":            {"string", "bytes", "dict"},
	"name":            {"string"},
	"timeout":         {"int", "float"},
	"expect":          {"int", "list", "tuple"},
	"allow_redirects": {"bool"},
	"sse":             {"bool"},
	"url":             {"string"},
	"method":          {"string"},
}

func lintHTTPCall(call *syntax.CallExpr, method string, p *problems) {
	fn := "http." + method
	positional := []string{"url"}
	if method == "request" || method == "stream" {
		positional = []string{"method", "url"}
	}
	npos := 0
	for _, arg := range call.Args {
		name, val := "", arg
		if b, ok := arg.(*syntax.BinaryExpr); ok && b.Op == syntax.EQ {
			id, _ := b.X.(*syntax.Ident)
			if id == nil {
				continue
			}
			name, val = id.Name, b.Y
		} else if u, ok := arg.(*syntax.UnaryExpr); ok && (u.Op == syntax.STAR || u.Op == syntax.STARSTAR) {
			return // *args or **kwargs: nothing more to know statically
		} else {
			if npos >= len(positional) {
				start, _ := arg.Span()
				p.add(start, "%s: got %d positional arguments, want at most %d (%s)", fn, countPositional(call), len(positional), strings.Join(positional, ", "))
				return
			}
			name = positional[npos]
			npos++
		}
		want, known := httpParams[name]
		if !known || (name == "sse" && method != "stream") || ((name == "method") && len(positional) == 1) {
			start, _ := arg.Span()
			p.add(start, "%s: unexpected keyword argument %s", fn, name)
			continue
		}
		if want == nil {
			continue
		}
		if got := literalKind(val); got != "" && !slices.Contains(want, got) {
			start, _ := val.Span()
			p.add(start, "%s: %s must be %s, got %s", fn, name, strings.Join(want, " or "), got)
		}
	}
}

func countPositional(call *syntax.CallExpr) int {
	n := 0
	for _, arg := range call.Args {
		if b, ok := arg.(*syntax.BinaryExpr); ok && b.Op == syntax.EQ {
			continue
		}
		n++
	}
	return n
}

// literalKind is the type of a literal expression, or "" when it cannot be known
// without running the script.
func literalKind(e syntax.Expr) string {
	switch e := e.(type) {
	case *syntax.Literal:
		switch e.Token {
		case syntax.STRING:
			return "string"
		case syntax.BYTES:
			return "bytes"
		case syntax.INT:
			return "int"
		case syntax.FLOAT:
			return "float"
		}
	case *syntax.DictExpr:
		return "dict"
	case *syntax.ListExpr:
		return "list"
	case *syntax.TupleExpr:
		return "tuple"
	case *syntax.Comprehension:
		if e.Curly {
			return "dict"
		}
		return "list"
	case *syntax.ParenExpr:
		return literalKind(e.X)
	case *syntax.Ident:
		switch e.Name {
		case "True", "False":
			return "bool"
		case "None":
			return "" // None means "not given" for every parameter
		}
	case *syntax.BinaryExpr:
		if e.Op == syntax.PERCENT && literalKind(e.X) == "string" {
			return "string"
		}
	}
	return ""
}
