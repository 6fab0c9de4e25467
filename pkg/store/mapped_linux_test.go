//go:build linux

package store

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// mappedRSS is how much of the file at path is resident in this process's page
// tables, in bytes (the Rss of its mappings in /proc/self/smaps).
func mappedRSS(t *testing.T, path string) uint64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var total uint64
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":"):
			in = len(fields) >= 6 && fields[5] == path
		case in && len(fields) == 3 && fields[0] == "Rss:":
			kb, err := strconv.ParseUint(fields[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			total += kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}

// A long run's store must not count in the master's resident memory: every
// releaseEvery writes, the pages bbolt's reads mapped in are dropped from the
// process's page tables, and reading again still finds every record.
func TestMappedPagesAreReleased(t *testing.T) {
	db, path := newTestDB(t)
	path, err := filepath.EvalSymlinks(path) // smaps names the file by its real path
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, db, testRun("r1", t0))
	sample := []byte(`{"pad":"` + strings.Repeat("x", 2000) + `"}`)
	const records = 4000 // about 8 MB
	for seq := uint64(1); seq <= records/100; seq++ {
		var recs []TelemetryRecord
		for h := range 100 {
			recs = append(recs, TelemetryRecord{Seq: seq, At: t0, Host: fmt.Sprintf("h%03d", h), Role: "worker", Sample: sample})
		}
		if err := db.AppendTelemetry("r1", recs); err != nil {
			t.Fatal(err)
		}
	}
	read := func() {
		t.Helper()
		recs, err := db.Telemetry("r1")
		if err != nil || len(recs) != records {
			t.Fatalf("Telemetry: %d records, %v; want %d", len(recs), err, records)
		}
	}
	read() // maps in every page of the records
	if got := mappedRSS(t, path); got < 4<<20 {
		t.Fatalf("after reading 8 MB through the mapping, %d bytes of it are resident; want at least 4 MiB (is smaps parsed right?)", got)
	}
	// Writes up to the next release.
	for db.writes.Load()%releaseEvery != releaseEvery-1 {
		if err := db.AppendEvent("r1", Event{At: t0, Kind: "note"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := mappedRSS(t, path); got < 4<<20 {
		t.Fatalf("one write before a release, %d bytes resident; want the earlier reads' pages still mapped", got)
	}
	if err := db.AppendEvent("r1", Event{At: t0, Kind: "note"}); err != nil {
		t.Fatal(err)
	}
	if got := mappedRSS(t, path); got > 512<<10 {
		t.Fatalf("after the release, %d bytes of the file are still resident; want under 512 KiB", got)
	}
	read()
}
