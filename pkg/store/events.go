package store

// EventKind is what an Event says happened. Kinds are stored as these strings, so
// a kind is never renamed: stores written by earlier releases hold them.
type EventKind string

// The kinds of event the master records during a run.
const (
	EventWorkerJoined   EventKind = "worker_joined"   // Worker joined (Detail: its hostname)
	EventWorkerLeft     EventKind = "worker_left"     // Worker left after draining
	EventWorkerLost     EventKind = "worker_lost"     // Worker went silent or its stream broke
	EventWorkerDraining EventKind = "worker_draining" // Worker is shutting down and asked to be drained
	EventWorkerFailed   EventKind = "worker_failed"   // Worker could not run the scenario
	EventReportMissing  EventKind = "report_missing"  // reports of Worker never arrived
	EventReportRepeated EventKind = "report_duplicate"
	EventEdited         EventKind = "edited"      // users or spawn rate changed mid-run
	EventStatsReset     EventKind = "stats_reset" // the statistics restart here
	EventThresholdAbort EventKind = "threshold_abort"
	EventAborted        EventKind = "aborted" // the run was aborted (Detail: why): its load cut at once

	// Warnings about one worker's figures (WorkerWarning).
	EventGeneratorSaturated EventKind = "generator_saturated"
	EventGeneratorLagging   EventKind = "generator_lagging"
	EventGeneratorRecovered EventKind = "generator_recovered" // the end of a saturated or lagging spell
	EventUsersCapped        EventKind = "users_capped"
	EventStatisticsRounded  EventKind = "statistics_rounded"
	EventOpenModelSkipped   EventKind = "open_model_skipped"

	// Warnings about the whole run.
	EventEndpointsCapped     EventKind = "endpoints_capped"
	EventOpenModelReplanLate EventKind = "open_model_replan_late"
	EventSetupFailed         EventKind = "setup_failed"    // the script's setup raised: no user started (Detail: message and traceback)
	EventTeardownFailed      EventKind = "teardown_failed" // the script's teardown raised (Detail: message and traceback)
)

// WorkerWarning reports whether an event of kind k warns that one worker's figures
// are not to be trusted as they are (a stored run lists it as "worker W: detail").
func (k EventKind) WorkerWarning() bool {
	switch k {
	case EventGeneratorSaturated, EventGeneratorLagging, EventUsersCapped, EventStatisticsRounded, EventOpenModelSkipped:
		return true
	}
	return false
}

// RunWarning reports whether a stored run lists an event of kind k among its
// warnings as its detail alone.
func (k EventKind) RunWarning() bool {
	return k == EventEndpointsCapped || k == EventThresholdAbort || k == EventSetupFailed || k == EventTeardownFailed
}

// Saturating reports whether an event of kind k starts a spell in which its worker's
// latency is not trustworthy; Recovering whether it ends one.
func (k EventKind) Saturating() bool {
	return k == EventGeneratorSaturated || k == EventGeneratorLagging
}

// Recovering: see Saturating.
func (k EventKind) Recovering() bool { return k == EventGeneratorRecovered || k == EventWorkerLost }
