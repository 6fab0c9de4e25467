// Package telemetry samples the host a worker (or an agent) runs on. For now it
// answers what a worker says about itself when it joins; the periodic host and GPU
// sampler arrives with the telemetry work.
//
// It imports no package of ours. Concurrency: its functions are safe for concurrent
// use.
package telemetry
