package agent

import (
	"github.com/stampede-load/stampede/pkg/cluster"
	"github.com/stampede-load/stampede/pkg/telemetry"
)

// link is the worker's end of its stream to the master: a *cluster.Session
// (grpcLink), or in tests an in-memory fake.
type link interface {
	// Recv waits for the next command, heartbeats included. One goroutine calls it.
	Recv() (cluster.Command, error)
	// Send sends one message to the master. Sends come from one goroutine.
	Send(m toMaster) error
	// Close ends the stream at once: a Recv or a Send blocked on it returns.
	Close() error
}

// toMaster is one message to the master: the one field set says which. With none
// set it half-closes the stream: the worker sends nothing more, and the master
// ends the stream once it has read all.
type toMaster struct {
	report    *cluster.Report
	heartbeat *int // the users the worker runs
	telemetry *telemetry.Sample
	goodbye   string // why the worker leaves
}

// grpcLink is a link over gRPC.
type grpcLink struct{ *cluster.Session }

func (l grpcLink) Send(m toMaster) error {
	switch {
	case m.report != nil:
		return l.SendReport(*m.report)
	case m.heartbeat != nil:
		return l.SendHeartbeat(*m.heartbeat)
	case m.telemetry != nil:
		return l.SendTelemetry(*m.telemetry)
	case m.goodbye != "":
		return l.SendGoodbye(m.goodbye)
	}
	return l.CloseSend()
}
