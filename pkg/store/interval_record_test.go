package store

import (
	"testing"
	"time"
)

// An interval record keeps how many reports were merged into it (version 2), and
// a version 1 record, stored before the count was, reads as "not recorded".
func TestIntervalRecordReports(t *testing.T) {
	at := time.Date(2026, 12, 8, 10, 0, 0, 5, time.UTC)
	snap := []byte{1, 2, 3}
	for _, reports := range []int{-1, 0, 1, 300} {
		h := intervalHeader{At: at, Users: 7, Workers: 3, Reports: reports}
		rec := encodeInterval(nil, h, snap)
		wantVersion := byte(2)
		if reports < 0 {
			wantVersion = 1
		}
		if rec[0] != wantVersion {
			t.Errorf("reports %d: record version %d, want %d", reports, rec[0], wantVersion)
		}
		got, gotSnap, err := decodeInterval(seqKey(4), rec)
		if err != nil {
			t.Fatalf("reports %d: %v", reports, err)
		}
		if got.Reports != reports || got.Users != 7 || got.Workers != 3 || !got.At.Equal(at) || string(gotSnap) != string(snap) {
			t.Errorf("reports %d: decoded %+v %v", reports, got, gotSnap)
		}
	}
}
