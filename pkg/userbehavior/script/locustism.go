package script

import (
	"regexp"
	"strings"

	"go.starlark.net/syntax"
)

// This file finds what a Locust user writes out of habit (class X(HttpUser), @task,
// self.client, time.sleep, import, with/try/raise, f-strings, **, a global list
// popped by users) and
// says what to write instead, each at its file:line:col. It reads the source as text,
// with strings and comments blanked out, because most of these are syntax errors to
// Starlark and its parser stops at the first: the text still shows every one.

// locustHint is one habit found in a file.
type locustHint struct {
	line, col int // 1-based
	msg       string
}

// pyScriptHint is the problem of a main script named *.py.
const pyScriptHint = "a .py file is Python (a locustfile?): Stampede runs Starlark scripts (NAME.star), a Python dialect without classes or imports; port it as docs/locust.md shows"

var (
	classRe     = regexp.MustCompile(`^\s*(class)\s+(\w+)\s*(?:\(([^)]*)\))?`)
	decoratorRe = regexp.MustCompile(`^\s*(@)([\w.]+)`)
	importRe    = regexp.MustCompile(`^\s*(import|from)\s+[\w.]+`)
	keywordRe   = regexp.MustCompile(`^\s*(with|try|except|finally|raise)\b`)
	clientRe    = regexp.MustCompile(`\b(\w+)\.client\b`)
	envRe       = regexp.MustCompile(`\b(\w+)\.environment\b`)
	waitRe      = regexp.MustCompile(`\b(\w+)\.wait\(\s*\)`)
	sleepRe     = regexp.MustCompile(`\b(time|gevent)\.sleep\b`)
	hookDefRe   = regexp.MustCompile(`^\s*def\s+(on_start|on_stop)\b`)
	globalRe    = regexp.MustCompile(`^(\w+)\s*=\s*(\[|list\()`)
	mutateRe    = regexp.MustCompile(`\b(\w+)\.(pop|append|insert|remove|extend|clear)\(`)
)

// locustHints returns the Locust habits in src, in order.
func locustHints(src []byte) []locustHint {
	code, fstrings := blankStrings(string(src))
	lines := strings.Split(code, "\n")
	var hints []locustHint
	add := func(line, col int, msg string) {
		hints = append(hints, locustHint{line, col, msg})
	}
	for _, at := range fstrings {
		add(at[0], at[1], `f-strings do not exist in Starlark: use "%s/%d" % (a, b) or "{}".format(a)`)
	}
	globals := map[string]bool{}
	for _, l := range lines {
		if m := globalRe.FindStringSubmatch(l); m != nil {
			globals[m[1]] = true
		}
	}
	// A hook's uses: its name anywhere but as a keyword (on_start=login names
	// another function).
	hookUses := map[string]int{}
	for _, hook := range []string{"on_start", "on_stop"} {
		for _, m := range regexp.MustCompile(`\b`+hook+`\b`).FindAllStringIndex(code, -1) {
			rest := strings.TrimLeft(code[m[1]:], " \t")
			if !strings.HasPrefix(rest, "=") || strings.HasPrefix(rest, "==") {
				hookUses[hook]++
			}
		}
	}
	inDef := false
	for i, l := range lines {
		n := i + 1
		if t := strings.TrimLeft(l, " \t"); t != "" && len(t) == len(l) {
			inDef = strings.HasPrefix(t, "def ") || strings.HasPrefix(t, "class ")
		}
		if m := classRe.FindStringSubmatchIndex(l); m != nil {
			name, base := l[m[4]:m[5]], ""
			if m[6] >= 0 {
				base = l[m[6]:m[7]]
			}
			var msg string
			switch {
			case strings.Contains(base, "SequentialTaskSet"):
				msg = "class " + name + "(SequentialTaskSet): Starlark has no classes: its tasks, as functions def a(u): ..., run in order as the user class's tasks=sequence(a, b, c)"
			case strings.Contains(base, "TaskSet"):
				msg = "class " + name + "(TaskSet): Starlark has no classes: its tasks, as functions def a(u): ..., become the user class's own, user(tasks={a: 1, b: 1})"
			case strings.Contains(base, "LoadTestShape"):
				msg = "class " + name + "(LoadTestShape): Starlark has no classes: its tick() is def shape(elapsed): return (users, spawn_rate), or None to end the run"
			default:
				msg = "class " + name + ": Starlark has no classes: declare the user class as " + name +
					" = user(tasks={browse: 3, buy: 1}, wait=between(1, 5)), with each task a function def browse(u): ... at the top level; see docs/locust.md"
			}
			add(n, m[2]+1, msg)
		}
		if m := decoratorRe.FindStringSubmatchIndex(l); m != nil {
			var msg string
			switch name := l[m[4]:m[5]]; name {
			case "task":
				msg = "@task: Starlark has no decorators: list the function in user(tasks={fn: weight}) (the weight of @task(3) is the dict's value)"
			case "tag":
				msg = "@tag: Starlark has no decorators: tag a task with task(fn, tags=[\"a\"]) in user(tasks=...)"
			default:
				msg = "@" + name + ": Starlark has no decorators"
			}
			add(n, m[2]+1, msg)
		}
		if m := importRe.FindStringSubmatchIndex(l); m != nil {
			add(n, m[2]+1, l[m[2]:m[3]]+`: Starlark has no import: random, time, json and math are built in, and load("lib.star", "name") reads your own files`)
		}
		if m := keywordRe.FindStringSubmatchIndex(l); m != nil {
			var msg string
			switch kw := l[m[2]:m[3]]; kw {
			case "with":
				msg = "with: Starlark has no with: r = u.http.get(...) then r.fail(\"why\") or check(cond, \"why\") decides the verdict (no catch_response needed)"
			case "raise":
				msg = "raise: use fail(\"why\"), which fails the task"
			default:
				msg = kw + ": Starlark has no try/except: a task that fails is recorded under Exceptions and the user carries on; check(cond, \"why\") fails a response"
			}
			add(n, m[2]+1, msg)
		}
		for _, m := range clientRe.FindAllStringSubmatchIndex(l, -1) {
			add(n, m[0]+1, l[m[2]:m[3]]+".client: the user's HTTP client is u.http (u.http.get(\"/path\")), with the user as the task's parameter: def browse(u): ...")
		}
		for _, m := range envRe.FindAllStringSubmatchIndex(l, -1) {
			add(n, m[0]+1, l[m[2]:m[3]]+".environment: there is none: u.worker_index, u.worker_count, u.user_count and u.run_id say where a user runs, env(\"NAME\", default) reads a --var, stop_run(reason) ends the run; see docs/locust.md")
		}
		for _, m := range waitRe.FindAllStringSubmatchIndex(l, -1) {
			add(n, m[0]+1, l[m[2]:m[3]]+".wait(): the class's wait= runs after every task by itself; to pause inside a task, use sleep(seconds)")
		}
		for _, m := range sleepRe.FindAllStringSubmatchIndex(l, -1) {
			add(n, m[0]+1, l[m[2]:m[3]]+".sleep: use sleep(seconds), which ends when the user is stopped")
		}
		for j := strings.Index(l, "**"); j >= 0; {
			if power(l, j) {
				add(n, j+1, "** is not an operator in Starlark: use math.pow(x, y) (or x * x)")
			}
			k := strings.Index(l[j+2:], "**")
			if k < 0 {
				break
			}
			j += 2 + k
		}
		if m := hookDefRe.FindStringSubmatchIndex(l); m != nil {
			if hook := l[m[2]:m[3]]; hookUses[hook] == 1 {
				add(n, strings.Index(l, "def")+1, "def "+hook+" is never passed to user(): Stampede calls no function by its name; write Name = user(tasks=..., "+hook+"="+hook+")")
			}
		}
		if inDef && (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) {
			for _, m := range mutateRe.FindAllStringSubmatchIndex(l, -1) {
				if name := l[m[2]:m[3]]; globals[name] {
					add(n, m[0]+1, name+"."+l[m[4]:m[5]]+"(): "+name+" is a global list, frozen once the script has loaded, so a user cannot change it: hand rows out with data.csv(\"rows.csv\", mode=\"unique\") (a feeder, items.next()), or keep a user's own state in u.vars")
				}
			}
		}
	}
	return hints
}

// power reports whether the ** at l[j] is Python's power operator, not a **kwargs
// in a call or a def: that follows an operand.
func power(l string, j int) bool {
	before := strings.TrimRight(l[:j], " \t")
	if before == "" {
		return false
	}
	c := before[len(before)-1]
	return c == ')' || c == ']' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// blankStrings returns src with the contents of string literals and comments
// replaced by spaces (lines and columns unchanged), and the line and column of every
// f-string prefix.
func blankStrings(src string) (string, [][2]int) {
	b := []byte(src)
	var fstrings [][2]int
	line, lineStart := 1, 0
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '\n':
			line, lineStart = line+1, i+1
		case c == '#':
			for ; i < len(b) && b[i] != '\n'; i++ {
				b[i] = ' '
			}
			i--
		case c == '"' || c == '\'':
			// A prefix of letters right before the quote: f, rf, fr, b, r...
			p := i
			for p > lineStart && isLetter(b[p-1]) {
				p--
			}
			if prefix := strings.ToLower(string(b[p:i])); (p == lineStart || !isWord(b[p-1])) && strings.Contains(prefix, "f") && len(prefix) <= 2 {
				fstrings = append(fstrings, [2]int{line, p - lineStart + 1})
			}
			quote := string(c)
			if i+2 < len(b) && b[i+1] == c && b[i+2] == c {
				quote = strings.Repeat(quote, 3)
			}
			i += len(quote)
			for ; i < len(b); i++ {
				// A backslash keeps the next character in the string, raw strings
				// included (r'\'' is one string), as in Python and Starlark.
				if b[i] == '\\' && i+1 < len(b) {
					b[i] = ' '
					i++
					if b[i] == '\n' {
						line, lineStart = line+1, i+1
					} else {
						b[i] = ' '
					}
					continue
				}
				if strings.HasPrefix(string(b[i:min(i+len(quote), len(b))]), quote) {
					i += len(quote) - 1
					break
				}
				if b[i] == '\n' {
					if len(quote) == 1 {
						line, lineStart = line+1, i+1
						break // an unterminated string: the parser says so
					}
					line, lineStart = line+1, i+1
					continue
				}
				b[i] = ' '
			}
		}
	}
	return string(b), fstrings
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isWord(c byte) bool   { return isLetter(c) || c >= '0' && c <= '9' || c == '_' }

// addLocustHints records the Locust habits of a module and returns the lines they
// are on, so that a syntax error they caused is not reported twice.
func (p *problems) addLocustHints(name string, src []byte) map[int]bool {
	lines := map[int]bool{}
	for _, h := range locustHints(src) {
		p.add(syntaxPos(name, h.line, h.col), "%s", h.msg)
		lines[h.line] = true
	}
	return lines
}

// isHinted reports whether err is a syntax error on a line a Locust hint explains.
func isHinted(err error, lines map[int]bool) bool {
	se, ok := err.(syntax.Error)
	return ok && lines[int(se.Pos.Line)]
}
