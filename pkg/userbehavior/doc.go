// Package userbehavior owns what a simulated user is and does: user classes with
// weighted or sequential tasks, wait strategies, on_start/on_stop hooks, the per-user
// HTTP client that records every request, and the Runner that starts and stops users
// on a worker.
//
// It does not decide how many users run where (that is package scheduler), it does
// not talk to the master, and it does not aggregate across workers. It imports only
// package aggregate, to record.
//
// Concurrency: a Class is immutable once handed to a Runner and is shared by all its
// users. Each user runs its tasks one at a time on goroutines the Runner starts;
// between tasks an idle user holds no goroutine, only a timer that resumes it. A user
// owns its User value, its HTTPClient and its aggregate.Recorder, so recording takes
// no lock. Runner methods are safe for concurrent use; every user is owned by the
// Runner and stopped by Retire, StopAll or Kill.
//
// The HTTP client (HTTPClient) sends through a sender chosen by HTTPConfig.Client:
// fasthttp's parser over a keep-alive pool of this package (the default, the cheaper
// per request) or net/http. The pool and the options are shared by a Runner's users;
// the cookie jar, the sender and the recorder are each user's own.
//
// gRPC (GRPCConn, from User.DialGRPC) calls with dynamic messages: their types come
// from descriptors the caller gives (a script's .proto files) or from the server's
// reflection, learned once per Runner and method. A user's connections are its own
// and closed when it stops; calls are recorded like requests, under "GRPC".
//
// The engine that runs a task is a plain Go function (Task.Fn), so a script engine
// plugs in by producing Classes whose task functions call into the script.
package userbehavior
