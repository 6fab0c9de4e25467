package locust

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// This file is the ZeroMQ side: the master's end of a ZMTP 3.1 ROUTER socket over
// TCP with the NULL mechanism (RFC 37/ZMTP), as much of it as Locust's and
// boomer's DEALER sockets use. Worker to master, every message is one frame (the
// msgpack payload); master to worker likewise (a ROUTER consumes the routing
// frame, so it never goes on the wire).

// Wire constants of ZMTP 3.x.
const (
	greetingLen  = 64
	flagMore     = 0x01
	flagLong     = 0x02
	flagCommand  = 0x04
	maxFrameSize = 32 << 20 // a stats report of a few thousand endpoints is far below this
	writeTimeout = 5 * time.Second
)

// greeting is what this ROUTER says first: signature, version 3.1 (boomer's gomq
// client accepts exactly 3.1; libzmq accepts any 3.x), the NULL mechanism, not
// as-server.
var greeting = func() []byte {
	g := make([]byte, greetingLen)
	g[0], g[9] = 0xff, 0x7f
	g[10], g[11] = 3, 1
	copy(g[12:32], "NULL")
	return g
}()

// errFrameTooLarge is returned for a frame above maxFrameSize.
var errFrameTooLarge = errors.New("zmtp: frame too large")

// zconn is one accepted ZMTP peer. Reads belong to one goroutine; writes may
// come from any (they are serialised).
type zconn struct {
	c        net.Conn
	r        *bufio.Reader
	identity string // the peer's ZMQ identity from its READY, may be empty
	wmu      sync.Mutex
}

// handshake exchanges greetings and READY commands with a freshly accepted
// connection; the deadline bounds it.
func handshake(c net.Conn, deadline time.Time) (*zconn, error) {
	z := &zconn{c: c, r: bufio.NewReaderSize(c, 64<<10)}
	if err := c.SetDeadline(deadline); err != nil {
		return nil, err
	}
	if _, err := c.Write(greeting); err != nil {
		return nil, fmt.Errorf("zmtp: send greeting: %w", err)
	}
	var peer [greetingLen]byte
	if _, err := io.ReadFull(z.r, peer[:]); err != nil {
		return nil, fmt.Errorf("zmtp: read greeting: %w", err)
	}
	if peer[0] != 0xff || peer[9]&0x01 != 0x01 {
		return nil, errors.New("zmtp: not a ZeroMQ peer (bad signature)")
	}
	if peer[10] < 3 {
		return nil, fmt.Errorf("zmtp: peer speaks ZMTP %d.%d, want 3.x", peer[10], peer[11])
	}
	if mech := string(bytes.TrimRight(peer[12:32], "\x00")); mech != "NULL" {
		return nil, fmt.Errorf("zmtp: peer wants the %q security mechanism; only NULL is spoken", mech)
	}
	if err := z.writeFrame(flagCommand, readyCommand("ROUTER")); err != nil {
		return nil, fmt.Errorf("zmtp: send READY: %w", err)
	}
	flags, body, err := z.readFrame()
	if err != nil {
		return nil, fmt.Errorf("zmtp: read READY: %w", err)
	}
	if flags&flagCommand == 0 {
		return nil, errors.New("zmtp: peer sent a message before READY")
	}
	name, props, err := parseCommand(body)
	if err != nil {
		return nil, err
	}
	if name == "ERROR" {
		return nil, fmt.Errorf("zmtp: peer refused the connection: %q", props)
	}
	if name != "READY" {
		return nil, fmt.Errorf("zmtp: peer sent %s instead of READY", name)
	}
	meta, err := parseProperties(props)
	if err != nil {
		return nil, err
	}
	switch st := strings.ToUpper(meta["socket-type"]); st {
	case "DEALER", "REQ", "ROUTER":
	default:
		return nil, fmt.Errorf("zmtp: a %q socket cannot talk to a ROUTER", st)
	}
	z.identity = meta["identity"]
	if err := c.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return z, nil
}

// readyCommand encodes READY with the Socket-Type property.
func readyCommand(socketType string) []byte {
	var b bytes.Buffer
	b.WriteByte(5)
	b.WriteString("READY")
	b.WriteByte(byte(len("Socket-Type")))
	b.WriteString("Socket-Type")
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(socketType)))
	b.Write(n[:])
	b.WriteString(socketType)
	return b.Bytes()
}

// parseCommand splits a command frame into its name and body.
func parseCommand(body []byte) (string, []byte, error) {
	if len(body) == 0 || int(body[0]) > len(body)-1 {
		return "", nil, errors.New("zmtp: malformed command")
	}
	n := int(body[0])
	return string(body[1 : 1+n]), body[1+n:], nil
}

// parseProperties reads ZMTP metadata; names are case-insensitive, so the map's
// keys are lower case.
func parseProperties(b []byte) (map[string]string, error) {
	m := map[string]string{}
	for len(b) > 0 {
		n := int(b[0])
		if len(b) < 1+n+4 {
			return nil, errors.New("zmtp: malformed metadata")
		}
		name := strings.ToLower(string(b[1 : 1+n]))
		vl := binary.BigEndian.Uint32(b[1+n : 5+n])
		b = b[5+n:]
		if uint64(vl) > uint64(len(b)) {
			return nil, errors.New("zmtp: malformed metadata value")
		}
		m[name] = string(b[:vl])
		b = b[vl:]
	}
	return m, nil
}

// readFrame reads one frame: its flags and body.
func (z *zconn) readFrame() (byte, []byte, error) {
	flags, err := z.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	if flags&^(flagMore|flagLong|flagCommand) != 0 {
		return 0, nil, fmt.Errorf("zmtp: bad frame flags %#x", flags)
	}
	var size uint64
	if flags&flagLong != 0 {
		var b [8]byte
		if _, err := io.ReadFull(z.r, b[:]); err != nil {
			return 0, nil, err
		}
		size = binary.BigEndian.Uint64(b[:])
	} else {
		b, err := z.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		size = uint64(b)
	}
	if size > maxFrameSize {
		return 0, nil, fmt.Errorf("%w: %d bytes", errFrameTooLarge, size)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(z.r, body); err != nil {
		return 0, nil, err
	}
	return flags, body, nil
}

// readMessage returns the next message's frames, answering PING on the way and
// skipping other commands.
func (z *zconn) readMessage() ([][]byte, error) {
	var frames [][]byte
	size := 0
	for {
		flags, body, err := z.readFrame()
		if err != nil {
			return nil, err
		}
		if flags&flagCommand != 0 {
			name, rest, err := parseCommand(body)
			if err != nil {
				return nil, err
			}
			if name == "PING" && len(rest) >= 2 {
				// PONG echoes the ping's context (after its 2-byte TTL).
				pong := append([]byte{4, 'P', 'O', 'N', 'G'}, rest[2:]...)
				if err := z.writeFrame(flagCommand, pong); err != nil {
					return nil, err
				}
			}
			continue
		}
		size += len(body)
		if size > maxFrameSize {
			return nil, fmt.Errorf("%w: message of %d bytes", errFrameTooLarge, size)
		}
		frames = append(frames, body)
		if flags&flagMore == 0 {
			return frames, nil
		}
	}
}

// send writes one single-frame message.
func (z *zconn) send(payload []byte) error { return z.writeFrame(0, payload) }

func (z *zconn) writeFrame(flags byte, body []byte) error {
	z.wmu.Lock()
	defer z.wmu.Unlock()
	hdr := make([]byte, 0, 9+len(body))
	if len(body) > 255 {
		hdr = append(hdr, flags|flagLong)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(len(body)))
	} else {
		hdr = append(hdr, flags, byte(len(body)))
	}
	// A peer that stops reading must not hold the master up for long.
	if err := z.c.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	_, err := z.c.Write(append(hdr, body...))
	return err
}

func (z *zconn) close() error { return z.c.Close() }
