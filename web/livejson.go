package web

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"

	"github.com/stampede-load/stampede/pkg/report"
)

// writeLive writes l as JSON, with the fields json.Marshal would give it, but
// streams the run's series and every host's points one point at a time: the
// response never sits whole in the master's memory, however long the run or
// many its hosts (a thousand workers' telemetry is hundreds of megabytes).
func writeLive(w io.Writer, l *report.Live) error {
	head := *l
	head.Series, head.Hosts = nil, nil // omitempty: left out here, streamed below
	b, err := json.Marshal(&head)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	bw.Write(b[:len(b)-1]) // without its closing brace
	sep := ","
	if len(b) == 2 { // "{}"
		sep = ""
	}
	enc := json.NewEncoder(bw) // each point ends with a newline: JSON whitespace
	if len(l.Hosts) > 0 {
		bw.WriteString(sep + `"hosts":[`)
		sep = ","
		for i, h := range l.Hosts {
			if i > 0 {
				bw.WriteByte(',')
			}
			if err := writeHost(bw, enc, h); err != nil {
				return err
			}
		}
		bw.WriteByte(']')
	}
	if len(l.Series) > 0 {
		bw.WriteString(sep + `"series":[`)
		for i := range l.Series {
			if i > 0 {
				bw.WriteByte(',')
			}
			if err := enc.Encode(&l.Series[i]); err != nil { // a pointer: no copy to box
				return err
			}
		}
		bw.WriteByte(']')
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

// emptyPoints is how a HostSeries without points ends, its points last.
var emptyPoints = []byte(`"points":[]}`)

// writeHost writes one host's series, its points one at a time.
func writeHost(bw *bufio.Writer, enc *json.Encoder, h report.HostSeries) error {
	if h.Points == nil { // "points":null
		return enc.Encode(h)
	}
	meta := h
	meta.Points = []report.HostPoint{}
	b, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	if !bytes.HasSuffix(b, emptyPoints) { // not the shape expected: whole, then
		return enc.Encode(h)
	}
	bw.Write(b[:len(b)-2]) // up to and with the points' opening bracket
	for i := range h.Points {
		if i > 0 {
			bw.WriteByte(',')
		}
		if err := enc.Encode(&h.Points[i]); err != nil {
			return err
		}
	}
	_, err = bw.WriteString("]}")
	return err
}
