package threshold

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrInvalid is matched (with [errors.Is]) by every error [Parse] and [ParseAll] return.
var ErrInvalid = errors.New("invalid threshold")

// MaxLength caps the length of one expression, in bytes.
const MaxLength = 1000

// ParseError is a threshold expression that does not parse: the expression, the 1-based column
// (in characters) where the problem is, and what it is.
type ParseError struct {
	Expr string
	Col  int
	Msg  string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("threshold %q, column %d: %s", e.Expr, e.Col, e.Msg)
}

// Unwrap returns ErrInvalid.
func (e *ParseError) Unwrap() error { return ErrInvalid }

// Request metrics and their kinds. Latencies are percentiles "pNN" and these.
var requestMetrics = map[string]kind{
	"avg": kindDuration, "med": kindDuration, "min": kindDuration, "max": kindDuration,
	"error_rate": kindFraction, "failures": kindCount, "requests": kindCount, "rps": kindRate,
}

// runMetrics take no filter.
var runMetrics = map[string]kind{"users": kindCount, "dropped": kindCount}

// tokenMetrics are measured from the counters of model requests (u.llm); they take a
// {name=...} filter (a row's own counters), no method.
var tokenMetrics = map[string]kind{
	"tokens_in": kindCount, "tokens_out": kindCount, "output_tokens_per_s": kindRate,
	"goodput": kindRate, "goodput_ratio": kindFraction,
}

// timingRows are the model rows a metric may be written on: ttft.p95 is p95 of the
// TTFT rows, itl.avg the mean of the ITL rows.
var timingRows = map[string]string{"ttft": "TTFT", "itl": "ITL"}

// funcs reduce a telemetry series to one value.
var funcs = map[string]bool{"avg": true, "min": true, "max": true, "last": true}

// spec is what a parsed metric is.
type spec struct {
	kind      kind
	request   bool    // a request metric: takes a filter
	tokens    bool    // a token metric: takes a name filter
	telemetry bool    // a telemetry series
	slope     bool    // the slope of a telemetry series
	scale     float64 // telemetry: from the source's values to the canonical unit
}

// spec returns what t's metric is (t parsed by Parse).
func (t Threshold) spec() spec {
	if t.Role != "" {
		base := strings.TrimSuffix(t.Series, slopeSuffix)
		s, ok := seriesKinds[base]
		if !ok { // scraped from the system under test: plain numbers
			s.kind, s.scale = kindCount, 1
		}
		return spec{kind: s.kind, telemetry: true, slope: base != t.Series, scale: s.scale}
	}
	if t.Percentile > 0 {
		return spec{kind: kindDuration, request: true}
	}
	if k, ok := requestMetrics[t.Metric]; ok {
		return spec{kind: k, request: true}
	}
	if k, ok := tokenMetrics[t.Metric]; ok {
		return spec{kind: k, tokens: true}
	}
	return spec{kind: runMetrics[t.Metric]}
}

// Parse reads one threshold expression:
//
//	metric[{filter}] op value[;abort[=grace]]
//
// See the package documentation for the metrics, units and options. Spaces between the parts
// are allowed. Every error is a *ParseError (matching ErrInvalid) that names the column.
func Parse(s string) (Threshold, error) {
	p := parser{src: s}
	t, err := p.threshold()
	if err != nil {
		return Threshold{}, err
	}
	return t, nil
}

// ParseAll parses every expression and reports every problem at once (errors.Join). On error
// it returns no thresholds.
func ParseAll(exprs []string) ([]Threshold, error) {
	out := make([]Threshold, 0, len(exprs))
	var errs []error
	for _, e := range exprs {
		t, err := Parse(e)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, t)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

type parser struct {
	src string
	pos int // byte offset
}

func (p *parser) fail(at int, format string, args ...any) error {
	at = min(max(at, 0), len(p.src))
	return &ParseError{Expr: p.src, Col: utf8.RuneCountInString(p.src[:at]) + 1, Msg: printable(fmt.Sprintf(format, args...))}
}

// printable escapes control characters (as Go does in strings) so a message stays on one line.
func printable(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (p *parser) rest() string { return p.src[p.pos:] }

func (p *parser) skipSpace() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

// word reads a run of metric characters: letters, digits, _ . * -.
func (p *parser) word() string {
	start := p.pos
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '*' || c == '-' || c == ':' {
			p.pos++
			continue
		}
		break
	}
	return p.src[start:p.pos]
}

func (p *parser) threshold() (Threshold, error) {
	t := Threshold{Source: p.src}
	if len(p.src) > MaxLength {
		return t, p.fail(MaxLength, "longer than %d bytes", MaxLength)
	}
	for i, r := range p.src {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(p.src[i:], "\uFFFD"):
			return t, p.fail(i, "not valid UTF-8")
		case unicode.IsControl(r) && r != '\t':
			return t, p.fail(i, "control character %q", r)
		}
	}
	p.skipSpace()
	if p.pos == len(p.src) {
		return t, p.fail(p.pos, "empty threshold; write one such as p95<100ms")
	}
	start := p.pos
	name := p.word()
	if name == "" {
		return t, p.fail(start, "missing metric before %q", p.rest())
	}
	if p.pos < len(p.src) && p.src[p.pos] == '(' {
		if !funcs[name] {
			return t, p.fail(start, "unknown function %q (want avg, min, max or last)", name)
		}
		p.pos++
		p.skipSpace()
		inner := p.pos
		series := p.word()
		if err := p.metric(&t, series, inner); err != nil {
			return t, err
		}
		if !t.spec().telemetry {
			return t, p.fail(inner, "%s(...) applies to telemetry series such as agent.api.cpu, not %s", name, series)
		}
		if t.spec().slope {
			return t, p.fail(start, "%s is already one value over the run; it takes no %s(...)", series, name)
		}
		p.skipSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != ')' {
			return t, p.fail(p.pos, "missing ) after %s(%s", name, series)
		}
		p.pos++
		t.Func = name
	} else if err := p.metric(&t, name, start); err != nil {
		return t, err
	}
	sp := t.spec()
	if sp.telemetry && !sp.slope && t.Func == "" {
		t.Func = "avg"
	}
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == '{' {
		if !sp.request && !sp.tokens {
			return t, p.fail(p.pos, "%s takes no {filter}; filters apply to request metrics such as p95 and error_rate", t.Metric)
		}
		method, at := t.Filter.Method, p.pos
		t.Filter.Method = ""
		if err := p.filter(&t); err != nil {
			return t, err
		}
		switch {
		case strings.HasPrefix(t.Metric, "goodput"):
			return t, p.fail(at, "%s is judged over the whole run: it takes no {filter}", t.Metric)
		case sp.tokens && t.Filter.Method != "":
			return t, p.fail(at, "%s is counted per name: filter it with {name=...} only", t.Metric)
		case method != "" && t.Filter.Method != "":
			return t, p.fail(at, "%s already selects the %s rows: filter it with {name=...} only", name, method)
		case method != "":
			t.Filter.Method = method
		}
		p.skipSpace()
	}
	if err := p.op(&t); err != nil {
		return t, err
	}
	p.skipSpace()
	if err := p.value(&t, sp); err != nil {
		return t, err
	}
	p.skipSpace()
	for p.pos < len(p.src) && p.src[p.pos] == ';' {
		p.pos++
		if err := p.option(&t); err != nil {
			return t, err
		}
		p.skipSpace()
	}
	if p.pos < len(p.src) {
		return t, p.fail(p.pos, "unexpected %q after the value", p.rest())
	}
	return t, nil
}

// metric sets t's metric from name (which starts at byte at).
func (p *parser) metric(t *Threshold, name string, at int) error {
	if name == "" {
		return p.fail(at, "missing metric before %q", p.src[at:])
	}
	if len(name) > 1 && name[0] == 'p' && (name[1] >= '0' && name[1] <= '9' || name[1] == '.') {
		v, ok := decimal(name[1:])
		if !ok {
			return p.fail(at, "percentile %q: want p followed by a number, such as p95 or p99.9", name)
		}
		if v <= 0 || v > 100 {
			return p.fail(at, "percentile %s: want a number above 0 and at most 100", name)
		}
		t.Percentile, t.Metric = v, "p"+formatNumber(v)
		return nil
	}
	if _, ok := requestMetrics[name]; ok {
		t.Metric = name
		return nil
	}
	if _, ok := runMetrics[name]; ok {
		t.Metric = name
		return nil
	}
	if _, ok := tokenMetrics[name]; ok {
		t.Metric = name
		return nil
	}
	if row, stat, ok := strings.Cut(name, "."); ok && timingRows[row] != "" {
		if err := p.metric(t, stat, at+len(row)+1); err != nil || t.Percentile == 0 && requestMetrics[t.Metric] != kindDuration {
			return p.fail(at, "%s: want %s.pNN, %s.avg, .med, .min or .max, such as %s.p95", name, row, row, row)
		}
		t.Filter.Method = timingRows[row]
		return nil
	}
	if timingRows[name] != "" {
		return p.fail(at, "%s: say which figure, such as %s.p95 or %s.avg", name, name, name)
	}
	role, rest, _ := strings.Cut(name, ".")
	if role != "agent" && role != "worker" {
		if _, ok := seriesKinds[strings.TrimSuffix(name, slopeSuffix)]; ok {
			return p.fail(at, "unknown metric %q: telemetry is written <role>.<host>.<series>, such as agent.*.%s", name, name)
		}
		if strings.Contains(name, ".") {
			return p.fail(at, "unknown telemetry role %q in %s (want agent.<host>.<series> or worker.<host>.<series>)", role, name)
		}
		return p.fail(at, "unknown metric %q (want pNN, avg, med, min, max, error_rate, failures, requests, rps, users, dropped, ttft.pNN, itl.pNN, tokens_in, tokens_out, output_tokens_per_s, goodput, goodput_ratio, or agent|worker.<host>.<series>)", name)
	}
	host, series, _ := strings.Cut(rest, ".")
	if host == "" || series == "" {
		return p.fail(at, "telemetry %q: want %s.<host>.<series>, with * for every host, such as %s.*.cpu", name, role, role)
	}
	if host != "*" && strings.Contains(host, "*") {
		return p.fail(at, "telemetry host %q: write one host id or * for every host", host)
	}
	base := strings.TrimSuffix(series, slopeSuffix)
	if _, ok := seriesKinds[base]; !ok {
		// Any other name is a series scraped from the system under test (worker
		// --scrape), unless it is a typo of a built-in one.
		for known := range seriesKinds {
			if d := editDistance(base, known); d > 0 && d <= 2 {
				return p.fail(at, "unknown telemetry series %q: did you mean %s? (built-in: %s, or one of them with %s; any other name is a series the agent scraped)",
					series, known, strings.Join(slices.Sorted(maps.Keys(seriesKinds)), ", "), slopeSuffix)
			}
		}
	}
	t.Metric, t.Role, t.Host, t.Series = name, role, host, series
	return nil
}

// filter reads {key=value,...}.
func (p *parser) filter(t *Threshold) error {
	open := p.pos
	p.pos++ // {
	seen := map[string]bool{}
	for {
		p.skipSpace()
		keyAt := p.pos
		key := p.word()
		if key == "" {
			if p.pos >= len(p.src) {
				return p.fail(open, "unclosed {: missing }")
			}
			return p.fail(keyAt, "missing filter key before %q (want name= or method=)", p.rest())
		}
		if key != "name" && key != "method" {
			return p.fail(keyAt, "unknown filter key %q (want name or method)", key)
		}
		if seen[key] {
			return p.fail(keyAt, "filter key %q given twice", key)
		}
		seen[key] = true
		p.skipSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != '=' {
			return p.fail(p.pos, "missing = after filter key %q", key)
		}
		p.pos++
		p.skipSpace()
		valueAt := p.pos
		var v string
		if p.pos < len(p.src) && p.src[p.pos] == '"' {
			q, err := strconv.QuotedPrefix(p.rest())
			if err != nil {
				return p.fail(valueAt, "malformed quoted value %s", p.rest())
			}
			v, _ = strconv.Unquote(q)
			p.pos += len(q)
		} else {
			end := strings.IndexAny(p.rest(), ",}")
			if end < 0 {
				return p.fail(open, "unclosed {: missing }")
			}
			v = strings.TrimSpace(p.src[p.pos : p.pos+end])
			p.pos += end
		}
		if v == "" {
			return p.fail(valueAt, "empty value for filter key %q", key)
		}
		if key == "name" {
			t.Filter.Name = v
		} else {
			t.Filter.Method = v
		}
		p.skipSpace()
		if p.pos >= len(p.src) {
			return p.fail(open, "unclosed {: missing }")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return nil
		default:
			return p.fail(p.pos, "unexpected %q in filter (want , or })", p.rest())
		}
	}
}

// op reads the comparison.
func (p *parser) op(t *Threshold) error {
	for _, o := range []Op{LessEqual, GreaterEqual, Equal, NotEqual, Less, Greater} {
		if strings.HasPrefix(p.rest(), o.String()) {
			t.Op = o
			p.pos += len(o.String())
			return nil
		}
	}
	if strings.HasPrefix(p.rest(), "=") {
		return p.fail(p.pos, "single = : compare with == (or <, <=, >, >=, !=)")
	}
	if p.pos >= len(p.src) {
		return p.fail(p.pos, "missing operator and value after %s (want <, <=, >, >=, == or !=)", p.src[:p.pos])
	}
	return p.fail(p.pos, "missing operator before %q (want <, <=, >, >=, == or !=)", p.rest())
}

// number reads a decimal number with an optional leading '-'.
func (p *parser) number() (float64, string, bool) {
	start := p.pos
	if p.pos < len(p.src) && p.src[p.pos] == '-' {
		p.pos++
	}
	for p.pos < len(p.src) && (p.src[p.pos] >= '0' && p.src[p.pos] <= '9' || p.src[p.pos] == '.') {
		p.pos++
	}
	text := p.src[start:p.pos]
	v, ok := decimal(strings.TrimPrefix(text, "-"))
	if strings.HasPrefix(text, "-") {
		v = -v
	}
	return v, text, ok
}

// decimal parses digits with at most one '.', at least one digit; finite.
func decimal(s string) (float64, bool) {
	digits, dots := 0, 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return 0, false
		}
	}
	if digits == 0 || dots > 1 {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

// value reads the right-hand side: a number with its unit, or baseline[*factor].
func (p *parser) value(t *Threshold, sp spec) error {
	at := p.pos
	if strings.HasPrefix(p.rest(), "baseline") {
		if t.Host == "*" {
			return p.fail(at, "baseline compares one series: name a host instead of *")
		}
		p.pos += len("baseline")
		t.Baseline, t.Number, t.Value = true, 1, 1
		p.skipSpace()
		if p.pos < len(p.src) && p.src[p.pos] == '*' {
			p.pos++
			p.skipSpace()
			numAt := p.pos
			v, text, ok := p.number()
			if !ok || v < 0 {
				return p.fail(numAt, "malformed factor %q after baseline* (want a number such as 1.10)", text+p.word())
			}
			t.Number, t.Value = v, v
		}
		return nil
	}
	v, text, ok := p.number()
	if text == "" {
		if p.pos >= len(p.src) {
			return p.fail(at, "missing value after %s", p.src[:at])
		}
		return p.fail(at, "malformed number %q (want a number such as 100ms, or baseline*1.1)", p.unitToken())
	}
	if !ok {
		return p.fail(at, "malformed number %q", text)
	}
	if v < 0 && !sp.slope {
		return p.fail(at, "negative value %s: only slopes can be negative", text)
	}
	p.skipSpace()
	unitAt := p.pos
	unit := p.unitToken()
	t.Number, t.Unit = v, unit
	scale, err := p.unitScale(t, sp, unitAt)
	if err != nil {
		return err
	}
	t.Value = v * scale
	return nil
}

// unitToken reads the unit: everything up to a space, ';' or the end.
func (p *parser) unitToken() string {
	start := p.pos
	for p.pos < len(p.src) && p.src[p.pos] != ';' && p.src[p.pos] != ' ' && p.src[p.pos] != '\t' {
		p.pos++
	}
	return p.src[start:p.pos]
}

// unitScale checks t.Unit against the metric and returns the factor to the canonical unit.
func (p *parser) unitScale(t *Threshold, sp spec, at int) (float64, error) {
	unit, what := t.Unit, t.Metric
	if sp.slope {
		if unit == "" && t.Number == 0 {
			return 1, nil
		}
		i := strings.LastIndex(unit, "/")
		per, ok := 0.0, false
		if i >= 0 {
			per, ok = perUnits[unit[i:]]
		}
		if !ok {
			return 0, p.fail(at, "%s is a slope and needs a unit per time, such as 1%s/min (want /s or /min)", what, unitExample[sp.kind])
		}
		scale, err := p.kindScale(sp.kind, unit[:i], what, at, t.Number)
		if err != nil {
			return 0, err
		}
		return scale / per, nil
	}
	return p.kindScale(sp.kind, unit, what, at, t.Number)
}

// kindScale checks that unit fits kind k for number (a zero needs no unit).
func (p *parser) kindScale(k kind, unit, what string, at int, number float64) (float64, error) {
	zero := number == 0
	switch k {
	case kindCount:
		if unit != "" {
			return 0, p.fail(at, "%s is %s and takes no unit, not %q", what, kindName[k], unit)
		}
		return 1, nil
	case kindRate:
		if unit != "" && unit != "/s" {
			return 0, p.fail(at, "%s is %s: write a plain number or /s, not %q", what, kindName[k], unit)
		}
		return 1, nil
	}
	if unit == "" {
		switch {
		case zero:
			return 1, nil
		case k == kindFraction && number <= 1:
			return 0, p.fail(at, "%s is %s and needs %%: for the fraction %s write %s%%", what, kindName[k],
				formatNumber(number), formatNumber(number*100))
		}
		return 0, p.fail(at, "%s is %s and needs a unit such as %s", what, kindName[k], unitExample[k])
	}
	u, ok := units[unit]
	if !ok {
		return 0, p.fail(at, "unknown unit %q (%s takes %s)", unit, what, unitList(k))
	}
	if u.kind != k {
		return 0, p.fail(at, "unit mismatch: %s is %s, %q is %s (want %s)", what, kindName[k], unit, kindName[u.kind], unitList(k))
	}
	return u.scale, nil
}

// option reads one option after ';'.
func (p *parser) option(t *Threshold) error {
	p.skipSpace()
	at := p.pos
	name := p.word()
	if name != "abort" {
		if name == "" {
			name = p.rest()
		}
		return p.fail(at, "unknown option %q (want abort or abort=30s)", name)
	}
	if t.Abort {
		return p.fail(at, "option abort given twice")
	}
	t.Abort = true
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == '=' {
		p.pos++
		p.skipSpace()
		graceAt := p.pos
		text := p.unitToken()
		d, err := time.ParseDuration(text)
		if err != nil || d < 0 {
			return p.fail(graceAt, "abort grace %q: want a duration such as 30s", text)
		}
		t.AbortGrace = d
	}
	return nil
}

// editDistance is the Levenshtein distance of a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
