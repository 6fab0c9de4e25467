package userbehavior

import (
	"fmt"
	"runtime/metrics"
)

// LimitTraceback is the traceback of the exception a Runner records each time it
// refuses a user because the worker is out of a resource: the fault is the
// worker's, not a task's. The master turns these into warnings.
const LimitTraceback = "(worker resource limit)"

// FDReserve is how many file descriptors a Runner leaves to the rest of the worker
// (its connection to the master, telemetry, DNS lookups, logs) when it plans users
// against the open-file limit.
const FDReserve = 64

// CapError is why a Runner refused another user: the worker is out of a resource.
// The users it already runs go on.
type CapError struct {
	Users  int    // users the runner had when it refused this one: the cap
	Reason string // what ran out, and how to get more of it
}

func (e *CapError) Error() string { return fmt.Sprintf("users capped at %d: %s", e.Users, e.Reason) }

// limits is what a Runner checks before it makes a user.
type limits struct {
	fdUsers   int    // users the open-file limit leaves room for; < 0: no limit known
	fdReason  string // why, for CapError
	maxMemory int64  // memory budget in bytes (runtime's view, as GOMEMLIMIT); 0: none
}

// newLimits plans users against the open-file limit (fileLimit, or the process's
// RLIMIT_NOFILE when 0): each user may hold a connection, and FDReserve stay for the
// rest of the worker. maxMemory > 0 is a budget for the memory the Go runtime holds.
func newLimits(fileLimit int, maxMemory int64) limits {
	l := limits{fdUsers: -1, maxMemory: max(maxMemory, 0)}
	if fileLimit == 0 {
		fileLimit = openFileLimit()
	}
	if fileLimit <= 0 {
		return l
	}
	open := openFiles()
	if open < 0 {
		open = 0
	}
	l.fdUsers = max(fileLimit-open-FDReserve, 0)
	l.fdReason = fmt.Sprintf("too many open files: RLIMIT_NOFILE %d leaves room for %d users "+
		"(one connection each, %d descriptors kept for the worker); raise it (ulimit -n) or add workers", fileLimit, l.fdUsers, FDReserve)
	return l
}

// check returns a *CapError when a runner with users users has no room for another.
func (l *limits) check(users int) error {
	if l.fdUsers >= 0 && users >= l.fdUsers {
		return &CapError{Users: users, Reason: l.fdReason}
	}
	if l.maxMemory > 0 {
		if used := runtimeMemory(); used >= l.maxMemory {
			return &CapError{Users: users, Reason: fmt.Sprintf("memory headroom: the worker reached its %s budget "+
				"(--max-memory or GOMEMLIMIT); add workers or give it more memory", formatBytes(l.maxMemory))}
		}
	}
	return nil
}

// runtimeMemory is the memory the Go runtime holds from the system and has not
// returned: what GOMEMLIMIT limits.
func runtimeMemory() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64() - s[1].Value.Uint64())
}
