// Package chat is the in-repository WebSocket target of examples/websocket and the
// tests of WebSocket users: /echo answers every message with itself, /chat sends
// every message to every socket connected to it. It counts the sockets it accepted
// and the messages it got and sent itself, so tests compare Stampede's statistics
// with the target's own count.
//
// On /echo a few messages ask for faults: "close" closes the socket with 1001
// (going away), "drop" drops the connection without a close frame, and "big:N"
// answers with N bytes.
package chat

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gorilla/websocket"
)

// Server is the WebSocket target; it is an http.Handler.
type Server struct {
	up       websocket.Upgrader
	mux      *http.ServeMux
	accepted atomic.Int64
	received atomic.Int64
	sent     atomic.Int64
	open     atomic.Int64

	mu    sync.Mutex
	rooms map[*websocket.Conn]*sync.Mutex // /chat sockets, each with its write lock
}

// New returns the target.
func New() *Server {
	s := &Server{rooms: map[*websocket.Conn]*sync.Mutex{}}
	s.up.CheckOrigin = func(*http.Request) bool { return true }
	s.up.Subprotocols = []string{"chat.v1"}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/echo", s.echo)
	s.mux.HandleFunc("/chat", s.chat)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Open is how many sockets are connected now.
func (s *Server) Open() int64 { return s.open.Load() }

// Accepted, Received and Sent are the sockets accepted and the messages received
// and sent, as the target counted them.
func (s *Server) Accepted() int64 { return s.accepted.Load() }
func (s *Server) Received() int64 { return s.received.Load() }
func (s *Server) Sent() int64     { return s.sent.Load() }

func (s *Server) echo(w http.ResponseWriter, r *http.Request) {
	c, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.accepted.Add(1)
	s.open.Add(1)
	defer s.open.Add(-1)
	defer c.Close()
	for {
		kind, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		s.received.Add(1)
		text := string(msg)
		switch {
		case text == "close":
			_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "asked to close"))
			return
		case text == "drop":
			return
		case strings.HasPrefix(text, "big:"):
			n, _ := strconv.Atoi(strings.TrimPrefix(text, "big:"))
			msg = []byte(strings.Repeat("x", max(n, 0)))
		}
		if err := c.WriteMessage(kind, msg); err != nil {
			return
		}
		s.sent.Add(1)
	}
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	c, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.accepted.Add(1)
	s.open.Add(1)
	defer s.open.Add(-1)
	s.mu.Lock()
	s.rooms[c] = new(sync.Mutex)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.rooms, c)
		s.mu.Unlock()
		c.Close()
	}()
	for {
		kind, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		s.received.Add(1)
		s.mu.Lock()
		for peer, wmu := range s.rooms {
			wmu.Lock()
			if peer.WriteMessage(kind, msg) == nil {
				s.sent.Add(1)
			}
			wmu.Unlock()
		}
		s.mu.Unlock()
	}
}
