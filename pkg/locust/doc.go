// Package locust lets the master accept workers that speak Locust's distributed
// protocol: Python Locust workers (locust --worker, tested with Debian's 2.12.1)
// and Go programs built on github.com/myzhan/boomer (v1.6.0). Server is a ZeroMQ
// ROUTER (its own small ZMTP 3.1 implementation, NULL mechanism: see zmtp.go) that
// turns their msgpack messages into cluster Events and cluster Commands into
// theirs, so the controller plans, watches and merges them like its own workers
// (cluster.Merge puts both behind one Cluster).
//
// What it translates:
//   - client_ready (any version: an empty string, nil and -1 included) → ack and EventJoined;
//     the worker's kind (cluster.KindLocust or KindBoomer) comes from its version.
//   - CommandStart → spawn messages with absolute per-class counts, paced at the
//     worker's share of the spawn rate for Locust; one spawn for boomer.
//   - stats (every 3 s) → EventReport with increasing Seq; response times arrive
//     bucketed by the worker (about 2 significant digits) and go into the
//     histogram at that resolution, so merged percentiles are as exact as the
//     worker allows and no more.
//   - heartbeat → liveness (a worker silent for HeartbeatTimeout is lost:
//     EventLeft) and EventTelemetry (process CPU and memory).
//   - CommandStop → stop; client_stopped → the final report (Locust's next stats;
//     boomer drops what it had not reported, so its final report is empty).
//   - exception → a report carrying the exception.
//
// It does not plan users (scheduler), decide what a run is (controller) or read
// locustfiles: user class names come from the master's configuration, and a
// Locust worker asked for a class it lacks exits.
//
// Security: Locust's protocol has no authentication. Anyone who can reach the
// port can join as a worker (and receive the target host) or pose as one; bind
// to loopback or a trusted private network.
//
// Concurrency: Server is safe for concurrent use. Serve runs an accept loop; each
// connection has a reader and a writer goroutine, and one goroutine watches
// heartbeats; Close ends them all and waits. Send never blocks on the network.
// Events for one worker are delivered in the order they happened.
package locust
