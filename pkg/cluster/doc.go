// Package cluster is the edge between master and workers: the gRPC Coordinator
// service on the master (Server), the worker's end of the stream (Session), and the
// one place where protobuf messages are converted to and from domain types
// (convert.go). Everything above this package speaks Command, Report and Event.
//
// It does not plan (scheduler), run users (userbehavior, agent) or decide what a run
// is (controller).
//
// Concurrency: Server is safe for concurrent use; it runs one goroutine pair per worker
// stream, owned by the gRPC handler and ended when the stream ends. Events are
// delivered on one channel in the order each worker sent them. A Session belongs to
// one goroutine for sending and one for receiving.
package cluster
