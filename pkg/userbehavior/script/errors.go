package script

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Error is one problem of a script bundle, found before anything ran.
type Error struct {
	Pos string // "file:line:col" within the bundle; a bare file name, or "" for the bundle as a whole
	Msg string
}

func (e Error) Error() string {
	if e.Pos == "" {
		return e.Msg
	}
	return e.Pos + ": " + e.Msg
}

// Errors is every problem Compile found, in file and position order. It is never
// empty when returned as an error.
type Errors []Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// problems collects Errors while a bundle compiles.
type problems struct {
	list []problem
	seen map[Error]bool
}

type problem struct {
	pos syntax.Position
	err Error
}

func (p *problems) add(pos syntax.Position, format string, args ...any) {
	e := Error{Pos: posString(pos), Msg: fmt.Sprintf(format, args...)}
	if p.seen[e] {
		return
	}
	if p.seen == nil {
		p.seen = make(map[Error]bool)
	}
	p.seen[e] = true
	p.list = append(p.list, problem{pos, e})
}

// addErr turns an error of the Starlark parser, resolver or interpreter into
// positioned Errors.
func (p *problems) addErr(err error) {
	var (
		se syntax.Error
		rl resolve.ErrorList
		ee *starlark.EvalError
	)
	switch {
	case errors.As(err, &se):
		p.add(se.Pos, "%s", se.Msg)
	case errors.As(err, &rl):
		for _, e := range rl {
			p.add(e.Pos, "%s", e.Msg)
		}
	case errors.As(err, &ee):
		p.add(scriptPos(ee.CallStack), "%s", ee.Msg)
	default:
		p.add(syntax.Position{}, "%s", err)
	}
}

// errors returns the problems ordered by file, line and column, or nil.
func (p *problems) errors() error {
	if len(p.list) == 0 {
		return nil
	}
	sort.SliceStable(p.list, func(i, j int) bool {
		a, b := p.list[i].pos, p.list[j].pos
		if a.Filename() != b.Filename() {
			return a.Filename() < b.Filename()
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	out := make(Errors, len(p.list))
	for i, pr := range p.list {
		out[i] = pr.err
	}
	return out
}

func posString(pos syntax.Position) string {
	if !pos.IsValid() {
		return ""
	}
	return pos.String() // file:line:col, file:line or file
}

// filePos is the position of a file as a whole.
func filePos(name string) syntax.Position { return syntax.MakePosition(&name, 0, 0) }

// scriptPos is the innermost position in a script file (not in a built-in).
func scriptPos(stack starlark.CallStack) syntax.Position {
	for i := len(stack) - 1; i >= 0; i-- {
		if stack[i].Pos.Filename() != "<builtin>" {
			return stack[i].Pos
		}
	}
	return syntax.Position{}
}

// TaskError is a script error raised while a user ran a task, on_start or on_stop.
// The Runner records its message in the exceptions view with its traceback.
type TaskError struct {
	Msg   string // "file:line:col: message" of the innermost script frame
	Trace string // Starlark traceback, innermost call last
	err   error
}

func (e *TaskError) Error() string     { return e.Msg }
func (e *TaskError) Traceback() string { return e.Trace }
func (e *TaskError) Unwrap() error     { return e.err }

// taskError wraps an error returned by starlark.Call.
func taskError(err error) *TaskError {
	var ee *starlark.EvalError
	if !errors.As(err, &ee) {
		return &TaskError{Msg: err.Error(), Trace: err.Error(), err: err}
	}
	msg := ee.Msg
	if strings.Contains(msg, "frozen list") || strings.Contains(msg, "frozen dict") {
		msg += " (globals are frozen once the script has loaded: hand rows out with data.csv(..., mode=\"unique\"), keep a user's own state in u.vars)"
	}
	if pos := scriptPos(ee.CallStack); pos.IsValid() {
		msg = posString(pos) + ": " + msg
	}
	return &TaskError{Msg: msg, Trace: ee.Backtrace(), err: err}
}

// hintSyntax points a missing ':' at the end of the line that lacks it ("def
// browse(user)"), where Python would, not at the newline token the parser met, which
// it places on the next line; and it says what is missing. Other errors pass
// unchanged.
func hintSyntax(err error, src []byte) error {
	var se syntax.Error
	if !errors.As(err, &se) || se.Msg != "got newline, want ':'" || se.Pos.Line < 1 {
		return err
	}
	// The line ended without ':': the statement is the last line with code before
	// the newline's position.
	lines := strings.Split(string(src), "\n")
	at := min(int(se.Pos.Line)-1, len(lines)) - 1
	for ; at >= 0 && code(lines[at]) == ""; at-- {
	}
	if at < 0 {
		return err
	}
	stmt := code(lines[at])
	se.Pos = syntaxPos(se.Pos.Filename(), at+1, len(stmt)+1)
	se.Msg += fmt.Sprintf(" (missing ':' after %s?)", strings.TrimSpace(stmt))
	return se
}

// code is a line without its comment and trailing space. A '#' inside quotes is
// code; the quotes are counted simply, which is enough for a hint.
func code(line string) string {
	quotes := 0
	for i, r := range line {
		switch {
		case r == '"' || r == '\'':
			quotes++
		case r == '#' && quotes%2 == 0:
			return strings.TrimRight(line[:i], " \t\r")
		}
	}
	return strings.TrimRight(line, " \t\r")
}

// syntaxPos is a position within a bundle file.
func syntaxPos(name string, line, col int) syntax.Position {
	return syntax.MakePosition(&name, int32(line), int32(col))
}
