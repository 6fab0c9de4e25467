package cluster

import (
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/scheduler"
	"github.com/stampede-load/stampede/pkg/telemetry"
	"github.com/stampede-load/stampede/pkg/userbehavior"
)

// WorkerInfo is what a worker says about itself when it joins.
type WorkerInfo struct {
	ID          string
	Hostname    string
	Version     string
	Cores       int
	MemoryBytes uint64
	Role        string // RoleWorker or RoleAgent
	Addr        string // remote address, filled in by the master
	Kind        string // what speaks for the worker: "" (Stampede's own), KindLocust or KindBoomer
}

// Kinds of worker besides Stampede's own (whose Kind is empty).
const (
	KindStampede = "stampede" // Stampede's worker, for display; WorkerInfo.Kind stays empty
	KindLocust   = "locust"   // a Python Locust worker (locust --worker)
	KindBoomer   = "boomer"   // a Go program built on github.com/myzhan/boomer
)

// Roles a peer of the master can have.
const (
	RoleWorker = "worker" // runs users
	RoleAgent  = "agent"  // on the system under test: telemetry only
)

// CommandKind is what the master asks of a worker.
type CommandKind int

// Commands.
const (
	CommandStart     CommandKind = iota + 1 // run (or move to) an absolute target
	CommandStop                             // stop the run's users, send the final report
	CommandQuit                             // exit
	CommandHeartbeat                        // the master is alive
)

// Command is one message from the master.
type Command struct {
	Kind        CommandKind
	RunID       string
	PlanVersion uint64
	Scenario    userbehavior.Scenario
	Users       map[string]int // class -> users, absolute
	SpawnRate   float64
	WorkerIndex int // this worker's place among the run's workers, 0-based
	WorkerCount int
	Reason      string // CommandQuit
	// CommandHeartbeat from the master: the last report it received on this
	// stream (empty when none yet).
	AckOrigin string
	AckSeq    uint64
	// Arrival, on CommandStart, makes the run open-model: Users is then the pool of
	// users this worker pre-allocates, and iterations arrive as the plan says.
	Arrival *Arrival
	// StopTimeout, on CommandStop, is how long the run's users may finish their
	// current task (the master's --stop-timeout); 0 cuts them at once, sleeps, waits
	// and requests in flight included. nil (a master that does not say: an older
	// one) leaves the worker's own --stop-timeout.
	StopTimeout *time.Duration
}

// Arrival is an open-model plan. The rate (iterations per second, cluster-wide)
// starts at 0 and ramps linearly to each stage's Target over its Duration (a stage
// of Duration 0 is a jump): Stages is the run's shape itself; iteration k (0-based) is due when the rate's integral reaches k+1. The worker runs
// the iterations k >= From with k % Count == Index, and keeps its earlier assignment
// for those before From.
type Arrival struct {
	Stages   scheduler.Stages
	Elapsed  time.Duration // the plan's clock when the master sent it
	From     int64
	Index    int
	Count    int
	MaxUsers int // the worker's pool may grow to this many users
	// Classes: iteration k runs a class chosen by Weight (1 to 1000), deterministically
	// from k; FixedCount is not sent.
	Classes []scheduler.Class
}

// Report is one report interval of a worker.
type Report struct {
	RunID       string
	Origin      string // the worker session that numbered it; with Seq, its identity
	Seq         uint64
	PlanVersion uint64
	Snapshot    *aggregate.Snapshot
	Users       map[string]int
	Final       bool
	Fatal       string // the worker cannot run the scenario: why
	StopRun     string // a user's script asked to stop the run: why (stop_run(reason))
}

// EventKind tells what happened to a worker.
type EventKind int

// Events.
const (
	EventJoined EventKind = iota + 1
	EventReport
	EventLeft
	EventTelemetry
	EventDraining // the worker is shutting down and asks to be drained
)

// Event is something the master hears from its workers.
type Event struct {
	Kind      EventKind
	At        time.Time
	Worker    WorkerInfo
	Report    *Report           // EventReport
	Telemetry *telemetry.Sample // EventTelemetry
	Reason    string            // EventLeft: why the worker is gone
}
