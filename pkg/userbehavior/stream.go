package userbehavior

import (
	"bufio"
	"bytes"
	"io"
	"time"
)

// maxSSELine bounds one line of a server-sent event stream.
const maxSSELine = 1 << 20

// consumerError is an error returned by Request.OnChunk: it ends the read.
type consumerError struct{ err error }

func (e *consumerError) Error() string { return "stream consumer: " + e.err.Error() }
func (e *consumerError) Unwrap() error { return e.err }

// readChunks hands the body to req.OnChunk as it arrives, noting when each chunk
// came: raw reads, or with req.SSE the data of each event.
func readChunks(body io.Reader, req *Request, resp *Response) error {
	deliver := func(chunk []byte) error {
		resp.chunkTimes = append(resp.chunkTimes, time.Now())
		if err := req.OnChunk(chunk); err != nil {
			return &consumerError{err}
		}
		return nil
	}
	if !req.SSE {
		buf := make([]byte, 32<<10)
		for {
			n, err := body.Read(buf)
			if n > 0 {
				resp.Size += int64(n)
				if derr := deliver(buf[:n]); derr != nil {
					return derr
				}
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 4096), maxSSELine)
	var data []byte
	have := false
	for sc.Scan() {
		line := sc.Bytes()
		resp.Size += int64(len(line)) + 1
		switch {
		case len(line) == 0: // end of an event
			if have {
				if err := deliver(data); err != nil {
					return err
				}
			}
			data, have = data[:0], false
		case bytes.HasPrefix(line, []byte("data:")):
			v := bytes.TrimPrefix(line[5:], []byte(" "))
			if have {
				data = append(data, '\n')
			}
			data = append(data, v...)
			have = true
		}
		// Comments (":") and the event, id and retry fields carry no data.
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if have { // a last event without its blank line
		return deliver(data)
	}
	return nil
}
