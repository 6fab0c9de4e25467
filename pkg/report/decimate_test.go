package report

import (
	"math"
	"slices"
	"testing"
)

// span is a test reading: the readings first..last, merged.
type span struct{ first, last, n int }

func mergeSpans(a span, na int, b span, nb int) span {
	return span{first: a.first, last: b.last, n: a.n + b.n}
}

func TestDecimatedKeepsTheWholeRunInBoundedPoints(t *testing.T) {
	const size = 8
	d := NewDecimated(size, func(a span, na int, b span, nb int) span {
		if na != a.n || nb != b.n {
			t.Fatalf("merge told %d and %d readings; the points hold %d and %d", na, nb, a.n, b.n)
		}
		return mergeSpans(a, na, b, nb)
	})
	var earlier [][]span // what Points returned, with copies of it then
	var copies [][]span
	for i := 1; i <= 1000; i++ {
		d.Add(span{i, i, 1})
		pts := d.Points()
		if len(pts) >= size {
			t.Fatalf("after %d readings: %d points; want fewer than %d", i, len(pts), size)
		}
		next := 1
		for _, p := range pts {
			if p.first != next || p.n != d.Step() || p.last != p.first+p.n-1 {
				t.Fatalf("after %d readings, step %d: points %v are not consecutive groups of the step", i, d.Step(), pts)
			}
			next = p.last + 1
		}
		if pending := i - (next - 1); pending < 0 || pending >= d.Step() {
			t.Fatalf("after %d readings: %d not yet in a point, step %d", i, pending, d.Step())
		}
		earlier, copies = append(earlier, pts), append(copies, slices.Clone(pts))
	}
	if d.Step() != 128 { // the step doubles at 8, 16, 32, ... 512 readings
		t.Errorf("step after 1000 readings in 8 points = %d; want 128", d.Step())
	}
	for i := range earlier {
		if !slices.Equal(earlier[i], copies[i]) {
			t.Fatalf("the points returned after %d readings changed later: %v, were %v", i+1, earlier[i], copies[i])
		}
	}
}

func TestMergePoints(t *testing.T) {
	a := Point{T: 2, SpanS: 2, Requests: 200, Failures: 6, Users: 10, RPS: 100, FailPerS: 3, P50: 5, P95: 50, P99: 90}
	b := Point{T: 3, SpanS: 0.5, Requests: 20, Users: 12, RPS: 40, FailPerS: 0, P50: 7, P95: 40, P99: 99, Saturated: true}
	got := MergePoints(a, 2, b, 1)
	// The rates are the counts over the whole span: 220 requests in 2.5 s.
	want := Point{T: 3, SpanS: 2.5, Requests: 220, Failures: 6, Users: 12, RPS: 88, FailPerS: 2.4, P50: 7, P95: 50, P99: 99, Saturated: true}
	if got != want {
		t.Errorf("MergePoints = %+v; want %+v", got, want)
	}
	// A gap has no percentiles: merged with data, the data's are kept; two gaps stay a gap.
	gap := Point{T: 4, SpanS: 1, Gap: true, Users: 3}
	if got := MergePoints(b, 1, gap, 1); got.Gap || got.P99 != 99 || got.Requests != 20 || got.RPS != 20/1.5 || got.SpanS != 1.5 {
		t.Errorf("data then gap = %+v", got)
	}
	if got := MergePoints(gap, 1, gap, 1); !got.Gap || got.RPS != 0 || got.SpanS != 2 {
		t.Errorf("gap then gap = %+v", got)
	}
}

func TestMergeHostPoints(t *testing.T) {
	a := HostPoint{T: 1, CPUPercent: 10, MemUsed: 500, MemTotal: 1000, ProcessCPU: 4, ProcessRSS: 90, NetRxBps: 10, NetTxBps: 20,
		SchedLagP99Ms: 3, TCPEstablished: 7, GPUUtil: []float64{10, 30}, GPUMemUsed: []uint64{5, 6}, GPUPowerW: []float64{100, 200},
		GPUTempC: []float64{60, 70}, GPUStatus: "ok"}
	b := HostPoint{T: 2, CPUPercent: 40, MemUsed: 400, MemTotal: 1000, ProcessCPU: 1, ProcessRSS: 95, NetRxBps: 40, NetTxBps: 50,
		SchedLagP99Ms: 1, TCPEstablished: 5, GPUUtil: []float64{40, 0}, GPUMemUsed: []uint64{7, 2}, GPUPowerW: []float64{300, 100},
		GPUTempC: []float64{65, 66}, GPUStatus: "ok"}
	got := MergeHostPoints(a, 1, b, 2)
	want := HostPoint{T: 2, CPUPercent: 30, MemUsed: 500, MemTotal: 1000, ProcessCPU: 2, ProcessRSS: 95, NetRxBps: 30, NetTxBps: 40,
		SchedLagP99Ms: 3, TCPEstablished: 7, GPUUtil: []float64{30, 10}, GPUMemUsed: []uint64{7, 6}, GPUPowerW: []float64{700.0 / 3, 400.0 / 3},
		GPUTempC: []float64{65, 70}, GPUStatus: "ok"}
	if !hostPointsEqual(got, want) {
		t.Errorf("MergeHostPoints = %+v; want %+v", got, want)
	}
	// A GPU that came or went: the later sample's GPUs.
	b.GPUUtil, b.GPUMemUsed, b.GPUPowerW, b.GPUTempC = []float64{50}, []uint64{1}, []float64{2}, []float64{3}
	got = MergeHostPoints(a, 1, b, 1)
	if !slices.Equal(got.GPUUtil, b.GPUUtil) || !slices.Equal(got.GPUTempC, b.GPUTempC) {
		t.Errorf("GPUs after a change = %v %v; want the later sample's", got.GPUUtil, got.GPUTempC)
	}
}

func hostPointsEqual(a, b HostPoint) bool {
	near := func(x, y []float64) bool {
		return slices.EqualFunc(x, y, func(p, q float64) bool { return p-q < 1e-9 && q-p < 1e-9 })
	}
	if !near(a.GPUUtil, b.GPUUtil) || !slices.Equal(a.GPUMemUsed, b.GPUMemUsed) || !near(a.GPUPowerW, b.GPUPowerW) || !near(a.GPUTempC, b.GPUTempC) {
		return false
	}
	a.GPUUtil, a.GPUMemUsed, a.GPUPowerW, a.GPUTempC = nil, nil, nil, nil
	b.GPUUtil, b.GPUMemUsed, b.GPUPowerW, b.GPUTempC = nil, nil, nil, nil
	return a.T == b.T && a.CPUPercent == b.CPUPercent && a.MemUsed == b.MemUsed && a.MemTotal == b.MemTotal &&
		a.ProcessCPU == b.ProcessCPU && a.ProcessRSS == b.ProcessRSS && a.NetRxBps == b.NetRxBps && a.NetTxBps == b.NetTxBps &&
		a.SchedLagP99Ms == b.SchedLagP99Ms && a.TCPEstablished == b.TCPEstablished && a.GPUStatus == b.GPUStatus
}

func TestFoldShort(t *testing.T) {
	pt := func(at, span float64, req uint64) Point {
		p := Point{T: at, SpanS: span, Requests: req}
		p.setRates()
		return p
	}
	whole := []Point{pt(1, 1, 10), pt(2, 1, 10)}
	if got := FoldShort(whole); &got[0] != &whole[0] {
		t.Error("a series without short points was copied")
	}
	// A short first point, a reset's short point mid-run, and the final reports'
	// few milliseconds at the end: each merges into its neighbour.
	series := []Point{pt(0.2, 0.2, 1), pt(1.2, 1, 10), pt(2.2, 1, 10), pt(2.5, 0.3, 9), pt(3.5, 1, 10), pt(3.51, 0.01, 10)}
	got := FoldShort(series)
	want := []Point{pt(1.2, 1.2, 11), pt(2.5, 1.3, 19), pt(3.51, 1.01, 20)}
	if len(got) != len(want) {
		t.Fatalf("FoldShort = %+v; want %+v", got, want)
	}
	for i := range want {
		if math.Abs(got[i].T-want[i].T) > 1e-9 || math.Abs(got[i].SpanS-want[i].SpanS) > 1e-9 || got[i].Requests != want[i].Requests ||
			math.Abs(got[i].RPS-want[i].RPS) > 1e-9 {
			t.Errorf("point %d = %+v; want %+v", i, got[i], want[i])
		}
	}
}
