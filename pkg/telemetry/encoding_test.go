package telemetry

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestEncodeDecode(t *testing.T) {
	in := Sample{At: time.Date(2026, 12, 8, 1, 0, 0, 5, time.UTC), Interval: time.Second,
		Host:    HostSample{Cores: 2, CPUPercent: 42.5, PerCore: []float64{40, 45}, MemTotal: 1 << 30},
		Process: ProcessSample{RSS: 1 << 20}, GPUs: []GPUSample{{UtilGPU: 90}}}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip:\n in %+v\nout %+v", in, out)
	}
	for name, b := range map[string][]byte{
		"not a sample":  []byte("nope"),
		"too many GPUs": []byte(`{"gpus":[` + strings.Repeat(`{},`, MaxGPUs) + `{}]}`),
		"too big":       []byte(`{"gpu_status":"` + strings.Repeat("x", MaxEncodedBytes) + `"}`),
	} {
		if _, err := Decode(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzDecode: whatever a peer sends or a store holds, Decode never panics, and a
// sample it accepts is within the limits and encodes again.
func FuzzDecode(f *testing.F) {
	b, _ := Encode(Sample{Host: HostSample{Cores: 1, PerCore: []float64{3}}, GPUs: []GPUSample{{UtilGPU: 1}}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			return
		}
		if len(s.Host.PerCore) > MaxCores || len(s.GPUs) > MaxGPUs {
			t.Fatalf("accepted a sample beyond the limits")
		}
		if _, err := Encode(s); err != nil {
			t.Fatalf("a decoded sample does not encode: %v", err)
		}
	})
}
