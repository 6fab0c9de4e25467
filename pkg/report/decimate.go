package report

// MaxLivePoints is the most points a live run keeps in memory per series (the
// run's own and each host's): past it, neighbouring points are merged, so that
// a run of any length costs the master the same memory and the dashboard the
// same payload. The store keeps every second.
const MaxLivePoints = 1024

// Decimated is a per-second series kept in at most max points. While it has
// room every reading is a point; when it fills up, neighbouring points are
// merged in pairs, and from then on every point covers twice as many readings
// (Step), later readings being gathered into groups of that size before they
// are kept. The whole run is always there, at a step that doubles as it grows.
//
// Points already returned by Points are never changed: a merge writes a new
// array. So a reader may hold them while readings keep coming, as the live view
// does.
type Decimated[P any] struct {
	max   int
	merge func(a P, na int, b P, nb int) P // a, of na readings, then b, of nb
	kept  []P
	step  int
	group P   // the readings since the last kept point, merged
	n     int // how many
}

// NewDecimated returns an empty series of at most size points (rounded down to
// an even number, at least 2), merged with merge.
//
// The points' memory is taken at once, for all size points: a series costs the
// same from its first reading to its last.
func NewDecimated[P any](size int, merge func(a P, na int, b P, nb int) P) *Decimated[P] {
	size = max(2, size&^1)
	return &Decimated[P]{max: size, merge: merge, step: 1, kept: make([]P, 0, size)}
}

// Add takes the next reading.
func (d *Decimated[P]) Add(p P) {
	if d.n == 0 {
		d.group = p
	} else {
		d.group = d.merge(d.group, d.n, p, 1)
	}
	d.n++
	if d.n < d.step {
		return
	}
	d.kept = append(d.kept, d.group)
	d.n = 0
	if len(d.kept) < d.max {
		return
	}
	half := make([]P, 0, d.max)
	for i := 0; i+1 < len(d.kept); i += 2 {
		half = append(half, d.merge(d.kept[i], d.step, d.kept[i+1], d.step))
	}
	d.kept, d.step = half, 2*d.step
}

// Points returns the kept points, oldest first; the readings of a group not yet
// complete are not among them. The caller must not modify them.
func (d *Decimated[P]) Points() []P { return d.kept[:len(d.kept):len(d.kept)] }

// Step is how many readings each point covers.
func (d *Decimated[P]) Step() int { return d.step }

// MergePoints merges two neighbouring run points, a of na readings then b of nb,
// into one: the later time, the spans and counts added (so the rates stay exact
// averages over the merged span), the most users and the highest percentiles of
// the points that have data (a gap merged with data is data).
func MergePoints(a Point, _ int, b Point, _ int) Point {
	p := Point{T: b.T, SpanS: a.SpanS + b.SpanS, Requests: a.Requests + b.Requests, Failures: a.Failures + b.Failures,
		Gap: a.Gap && b.Gap, Users: max(a.Users, b.Users), Saturated: a.Saturated || b.Saturated}
	switch {
	case a.Gap:
		p.P50, p.P95, p.P99 = b.P50, b.P95, b.P99
	case b.Gap:
		p.P50, p.P95, p.P99 = a.P50, a.P95, a.P99
	default:
		p.P50, p.P95, p.P99 = max(a.P50, b.P50), max(a.P95, b.P95), max(a.P99, b.P99)
	}
	p.setRates()
	return p
}

// MergeHostPoints merges two neighbouring telemetry points, a of na samples then
// b of nb, into one: the later time and totals, the mean utilisation and
// rates, and the highest memory, lag, temperature and connection count.
func MergeHostPoints(a HostPoint, na int, b HostPoint, nb int) HostPoint {
	p := HostPoint{T: b.T, CPUPercent: mean(a.CPUPercent, na, b.CPUPercent, nb), MemUsed: max(a.MemUsed, b.MemUsed),
		MemTotal: b.MemTotal, ProcessCPU: mean(a.ProcessCPU, na, b.ProcessCPU, nb), ProcessRSS: max(a.ProcessRSS, b.ProcessRSS),
		NetRxBps: mean(a.NetRxBps, na, b.NetRxBps, nb), NetTxBps: mean(a.NetTxBps, na, b.NetTxBps, nb),
		SchedLagP99Ms: max(a.SchedLagP99Ms, b.SchedLagP99Ms), GPUStatus: b.GPUStatus,
		TCPEstablished: max(a.TCPEstablished, b.TCPEstablished), Server: mergeServer(a.Server, na, b.Server, nb)}
	if len(a.GPUUtil) != len(b.GPUUtil) { // the GPUs changed: keep the later reading
		p.GPUUtil, p.GPUMemUsed, p.GPUPowerW, p.GPUTempC = b.GPUUtil, b.GPUMemUsed, b.GPUPowerW, b.GPUTempC
		return p
	}
	for i := range b.GPUUtil {
		p.GPUUtil = append(p.GPUUtil, mean(a.GPUUtil[i], na, b.GPUUtil[i], nb))
		p.GPUMemUsed = append(p.GPUMemUsed, max(at(a.GPUMemUsed, i), at(b.GPUMemUsed, i)))
		p.GPUPowerW = append(p.GPUPowerW, mean(at(a.GPUPowerW, i), na, at(b.GPUPowerW, i), nb))
		p.GPUTempC = append(p.GPUTempC, max(at(a.GPUTempC, i), at(b.GPUTempC, i)))
	}
	return p
}

// mergeServer merges scraped series: the mean where both points have a reading,
// else the one there is.
func mergeServer(a map[string]float64, na int, b map[string]float64, nb int) map[string]float64 {
	if len(a) == 0 {
		return b
	}
	if len(b) == 0 {
		return a
	}
	out := make(map[string]float64, len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if av, ok := a[k]; ok {
			v = mean(av, na, v, nb)
		}
		out[k] = v
	}
	return out
}

// mean is the mean of a over na readings and b over nb.
func mean(a float64, na int, b float64, nb int) float64 {
	return (a*float64(na) + b*float64(nb)) / float64(na+nb)
}

// at is s[i], or zero past its end.
func at[T any](s []T, i int) T {
	var zero T
	if i < len(s) {
		return s[i]
	}
	return zero
}

// FoldShort returns series with every point whose span is under half its
// neighbour's merged into that neighbour (MergePoints): the one before it, or for
// the first point the one after. Such a point is a window cut short (the run's
// last, after its stop, holds the workers' final reports; one cut by a statistics
// reset): a second's requests over a few milliseconds would draw a spike that
// never happened. Merged, the spans still tile the run and the counts add up to
// the same total. series is not modified; it is returned as is when no point is
// short.
func FoldShort(series []Point) []Point {
	short := func(p, neighbour Point) bool { return p.SpanS < neighbour.SpanS/2 }
	n := len(series)
	need := false
	for i := range n {
		if n > 1 && ((i > 0 && short(series[i], series[i-1])) || (i == 0 && short(series[0], series[1]))) {
			need = true
			break
		}
	}
	if !need {
		return series
	}
	out := make([]Point, 0, n)
	for i, p := range series {
		switch {
		case i == 0 && n > 1 && short(p, series[1]):
			// The next point absorbs it below.
			out = append(out, p)
		case i == 1 && len(out) == 1 && short(out[0], p):
			out[0] = MergePoints(out[0], 1, p, 1)
		case len(out) > 0 && short(p, out[len(out)-1]):
			out[len(out)-1] = MergePoints(out[len(out)-1], 1, p, 1)
		default:
			out = append(out, p)
		}
	}
	return out
}
