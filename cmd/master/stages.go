package main

// The master's components stop in these stages (lifecycle.Group runs them in one
// group); the store is opened before them and closed after them.
const (
	// stageRun: the headless run, or the dashboard (which first stops its active
	// run and waits for the workers' final reports) and the controller's loop.
	stageRun = iota
	// stageLocust: the Locust listener, after the controller's last quit, which its
	// Close lets reach the Locust workers; then the merge of its events.
	stageLocust
	// stageWorkers: the in-process workers hang up.
	stageWorkers
	// stageGRPC: the gRPC servers let queued commands reach the workers, then end
	// their streams.
	stageGRPC
	// stageLast: the demo target and the pprof server, which nothing depends on.
	stageLast
)
