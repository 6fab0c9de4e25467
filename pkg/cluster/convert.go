package cluster

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/stampede-load/stampede/pkg/aggregate"
	"github.com/stampede-load/stampede/pkg/scheduler"
	"github.com/stampede-load/stampede/pkg/telemetry"
	"github.com/stampede-load/stampede/pkg/userbehavior"
	pb "github.com/stampede-load/stampede/proto"
)

// Limits on what a peer may send; a message beyond them is refused. A report's
// snapshot has its limits in aggregate (DecodeSnapshot); a telemetry sample in
// telemetry (Decode).
const (
	MaxClasses        = 1000
	MaxUsersPerWorker = 1_000_000
)

// ProtocolVersion is the master <-> worker wire protocol this build speaks (Hello and
// Welcome carry it): 2 sends a report's snapshot in aggregate's canonical encoding.
// Releases before 2 sent no version (0). Master and worker refuse a peer of another
// version: each must be of a release that speaks the same.
const ProtocolVersion = 2

// ErrProtocol is wrapped by the error of a peer that speaks another protocol version.
var ErrProtocol = errors.New("master and worker speak different protocol versions")

// protocolMismatch is the clear message for a peer (who) of protocol peer, its release
// named by version when it says; self is this side.
func protocolMismatch(who, self string, peer uint32, version string) error {
	rel := "a release before protocol versions"
	if peer != 0 {
		rel = fmt.Sprintf("protocol %d", peer)
	}
	if version != "" {
		rel += ", version " + version
	}
	return fmt.Errorf("%w: the %s speaks %s, the %s protocol %d: run master and workers of the same release",
		ErrProtocol, who, rel, self, ProtocolVersion)
}

func helloFromPB(h *pb.Hello) (WorkerInfo, error) {
	if h == nil || h.WorkerId == "" {
		return WorkerInfo{}, errors.New("hello without worker id")
	}
	if h.Protocol != ProtocolVersion {
		return WorkerInfo{}, protocolMismatch("worker", "master", h.Protocol, h.Version)
	}
	if len(h.WorkerId) > 256 {
		return WorkerInfo{}, errors.New("worker id longer than 256 bytes")
	}
	role := h.Role
	switch role {
	case "":
		role = RoleWorker
	case RoleWorker, RoleAgent:
	default:
		return WorkerInfo{}, fmt.Errorf("unknown role %q", h.Role)
	}
	return WorkerInfo{
		ID:          h.WorkerId,
		Hostname:    h.Hostname,
		Version:     h.Version,
		Cores:       int(h.Cores),
		MemoryBytes: h.MemoryBytes,
		Role:        role,
	}, nil
}

func telemetryToPB(s telemetry.Sample) (*pb.Telemetry, error) {
	b, err := telemetry.Encode(s)
	if err != nil {
		return nil, err
	}
	return &pb.Telemetry{Sample: b}, nil
}

// telemetryFromPB decodes a peer's sample: outside input, checked by telemetry.Decode.
func telemetryFromPB(t *pb.Telemetry) (*telemetry.Sample, error) {
	s, err := telemetry.Decode(t.Sample)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

func helloToPB(w WorkerInfo) *pb.Hello {
	return &pb.Hello{WorkerId: w.ID, Hostname: w.Hostname, Version: w.Version,
		Cores: int32(w.Cores), MemoryBytes: w.MemoryBytes, Role: w.Role, Protocol: ProtocolVersion}
}

func commandToPB(c Command) (*pb.MasterMessage, error) {
	switch c.Kind {
	case CommandStart:
		users := make(map[string]int32, len(c.Users))
		for k, v := range c.Users {
			if v < 0 || v > MaxUsersPerWorker {
				return nil, fmt.Errorf("start with %d users of %q: at most %d per worker", v, k, MaxUsersPerWorker)
			}
			users[k] = int32(v)
		}
		sc, err := scenarioToPB(c.Scenario)
		if err != nil {
			return nil, err
		}
		return &pb.MasterMessage{Body: &pb.MasterMessage_Start{Start: &pb.Start{
			RunId: c.RunID, PlanVersion: c.PlanVersion, Scenario: sc, Users: users, SpawnRate: c.SpawnRate,
			WorkerIndex: int32(c.WorkerIndex), WorkerCount: int32(c.WorkerCount), Arrival: arrivalToPB(c.Arrival),
		}}}, nil
	case CommandStop:
		stop := &pb.Stop{RunId: c.RunID}
		if c.StopTimeout != nil {
			stop.StopTimeoutNanos = new(max(int64(*c.StopTimeout), 0))
		}
		return &pb.MasterMessage{Body: &pb.MasterMessage_Stop{Stop: stop}}, nil
	case CommandQuit:
		return &pb.MasterMessage{Body: &pb.MasterMessage_Quit{Quit: &pb.Quit{Reason: c.Reason}}}, nil
	case CommandHeartbeat:
		return &pb.MasterMessage{Body: &pb.MasterMessage_Heartbeat{Heartbeat: &pb.Heartbeat{UnixNano: time.Now().UnixNano(),
			AckedOrigin: c.AckOrigin, AckedSeq: c.AckSeq}}}, nil
	}
	return nil, fmt.Errorf("unknown command kind %d", c.Kind)
}

func commandFromPB(m *pb.MasterMessage) (Command, error) {
	switch b := m.GetBody().(type) {
	case *pb.MasterMessage_Start:
		s := b.Start
		if s.RunId == "" {
			return Command{}, errors.New("start without run id")
		}
		if len(s.Users) > MaxClasses {
			return Command{}, fmt.Errorf("start names %d classes, limit %d", len(s.Users), MaxClasses)
		}
		if math.IsNaN(s.SpawnRate) || math.IsInf(s.SpawnRate, 0) || s.SpawnRate < 0 {
			return Command{}, fmt.Errorf("start with spawn rate %v", s.SpawnRate)
		}
		users := make(map[string]int, len(s.Users))
		total := 0
		for k, v := range s.Users {
			if v < 0 {
				return Command{}, fmt.Errorf("start with %d users of %q", v, k)
			}
			users[k] = int(v)
			total += int(v)
		}
		if total > MaxUsersPerWorker {
			return Command{}, fmt.Errorf("start with %d users: at most %d per worker", total, MaxUsersPerWorker)
		}
		if s.WorkerCount < 0 || s.WorkerIndex < 0 || (s.WorkerCount > 0 && s.WorkerIndex >= s.WorkerCount) {
			return Command{}, fmt.Errorf("start places the worker at %d of %d", s.WorkerIndex, s.WorkerCount)
		}
		sc, err := scenarioFromPB(s.Scenario)
		if err != nil {
			return Command{}, err
		}
		arr, err := arrivalFromPB(s.Arrival)
		if err != nil {
			return Command{}, err
		}
		return Command{Kind: CommandStart, RunID: s.RunId, PlanVersion: s.PlanVersion,
			Scenario: sc, Users: users, SpawnRate: s.SpawnRate,
			WorkerIndex: int(s.WorkerIndex), WorkerCount: int(s.WorkerCount), Arrival: arr}, nil
	case *pb.MasterMessage_Stop:
		c := Command{Kind: CommandStop, RunID: b.Stop.RunId}
		if b.Stop.StopTimeoutNanos != nil {
			c.StopTimeout = new(time.Duration(max(b.Stop.GetStopTimeoutNanos(), 0)))
		}
		return c, nil
	case *pb.MasterMessage_Quit:
		return Command{Kind: CommandQuit, Reason: b.Quit.Reason}, nil
	case *pb.MasterMessage_Heartbeat:
		if len(b.Heartbeat.AckedOrigin) > MaxOriginLen {
			return Command{}, errors.New("heartbeat acknowledges a report of an overlong origin")
		}
		return Command{Kind: CommandHeartbeat, AckOrigin: b.Heartbeat.AckedOrigin, AckSeq: b.Heartbeat.AckedSeq}, nil
	case *pb.MasterMessage_Welcome:
		return Command{}, errors.New("unexpected welcome")
	}
	return Command{}, errors.New("empty or unknown message from master")
}

func scenarioToPB(s userbehavior.Scenario) (*pb.Scenario, error) {
	out := &pb.Scenario{Host: s.Host}
	if o := s.HTTP; o != (userbehavior.HTTPOptions{}) {
		out.Http = &pb.HTTPOptions{Timings: o.Timings, ServerTimeHeader: o.ServerTimeHeader, MaxBody: o.MaxBody,
			InsecureSkipVerify: o.InsecureSkipVerify, TraceContext: o.TraceContext, TraceSample: o.TraceSample}
	}
	switch {
	case s.Quick != nil:
		q := &pb.QuickHTTP{Method: s.Quick.Method, Url: s.Quick.URL, Body: s.Quick.Body, Wait: &pb.Wait{
			Kind:       string(s.Quick.Wait.Kind),
			MinSeconds: s.Quick.Wait.Min.Seconds(),
			MaxSeconds: s.Quick.Wait.Max.Seconds(),
			PerSecond:  s.Quick.Wait.PerSecond,
		}}
		for name, vs := range s.Quick.Header {
			for _, v := range vs {
				q.Headers = append(q.Headers, &pb.Header{Name: name, Value: v})
			}
		}
		out.Kind = &pb.Scenario_Quick{Quick: q}
	case s.Builtin != "":
		out.Kind = &pb.Scenario_Builtin{Builtin: s.Builtin}
	case s.Script != nil:
		out.Kind = &pb.Scenario_Script{Script: &pb.ScriptBundle{Main: s.Script.Main, Files: s.Script.Files,
			Vars: s.Script.Vars, Tags: s.Script.Tags, ExcludeTags: s.Script.ExcludeTags, SetupData: s.Script.SetupData}}
	default:
		return nil, errors.New("scenario has nothing to run")
	}
	return out, nil
}

func scenarioFromPB(s *pb.Scenario) (userbehavior.Scenario, error) {
	if s == nil {
		return userbehavior.Scenario{}, errors.New("start without scenario")
	}
	out := userbehavior.Scenario{Host: s.Host}
	if o := s.Http; o != nil {
		out.HTTP = userbehavior.HTTPOptions{Timings: o.Timings, ServerTimeHeader: o.ServerTimeHeader, MaxBody: o.MaxBody,
			InsecureSkipVerify: o.InsecureSkipVerify, TraceContext: o.TraceContext, TraceSample: o.TraceSample}
		if o.MaxBody < -1 || len(o.ServerTimeHeader) > 256 || !(o.TraceSample >= 0 && o.TraceSample <= 1) {
			return userbehavior.Scenario{}, fmt.Errorf("start with HTTP options %v", o)
		}
	}
	switch k := s.Kind.(type) {
	case *pb.Scenario_Quick:
		q := k.Quick
		w := q.GetWait()
		spec := &userbehavior.QuickSpec{Method: q.Method, URL: q.Url, Body: q.Body, Header: http.Header{},
			Wait: userbehavior.Wait{
				Kind:      userbehavior.WaitKind(w.GetKind()),
				Min:       seconds(w.GetMinSeconds()),
				Max:       seconds(w.GetMaxSeconds()),
				PerSecond: w.GetPerSecond(),
			}}
		for _, h := range q.Headers {
			spec.Header.Add(h.Name, h.Value)
		}
		if err := spec.Wait.Validate(); err != nil {
			return userbehavior.Scenario{}, err
		}
		out.Quick = spec
	case *pb.Scenario_Builtin:
		out.Builtin = k.Builtin
	case *pb.Scenario_Script:
		b := k.Script
		if b.Main == "" || b.Files[b.Main] == nil {
			return userbehavior.Scenario{}, fmt.Errorf("script bundle without its main file %q", b.Main)
		}
		out.Script = &userbehavior.ScriptSpec{Main: b.Main, Files: b.Files, Vars: b.Vars, Tags: b.Tags, ExcludeTags: b.ExcludeTags,
			SetupData: b.SetupData}
	default:
		return userbehavior.Scenario{}, errors.New("scenario has nothing to run")
	}
	return out, nil
}

func seconds(s float64) time.Duration {
	if math.IsNaN(s) || s < 0 || s > 1e6 {
		return -1 // rejected by Wait.Validate
	}
	return time.Duration(s * float64(time.Second))
}

// MaxOriginLen bounds a report's origin (a worker session's id).
const MaxOriginLen = 64

// MaxStopReasonLen bounds the reason of a script's stop_run(reason) in a report.
const MaxStopReasonLen = 1024

// MaxRateStages bounds the stages of an arrival plan; MaxRate its rate (iterations
// per second, cluster-wide).
const (
	MaxRateStages = 1000
	MaxRate       = 10_000_000
)

func arrivalToPB(a *Arrival) *pb.Arrival {
	if a == nil {
		return nil
	}
	out := &pb.Arrival{ElapsedNanos: int64(a.Elapsed), From: a.From,
		Index: int32(a.Index), Count: int32(a.Count), MaxUsers: int32(a.MaxUsers)}
	for _, st := range a.Stages {
		out.Stages = append(out.Stages, &pb.RateStage{DurationNanos: int64(st.Duration), Target: st.Target})
	}
	for _, c := range a.Classes {
		out.Classes = append(out.Classes, &pb.ClassWeight{Name: c.Name, Weight: int32(c.Weight)})
	}
	return out
}

// arrivalFromPB converts and checks an arrival plan: a bad one must not make a
// worker spin or fire without bound.
func arrivalFromPB(a *pb.Arrival) (*Arrival, error) {
	if a == nil {
		return nil, nil
	}
	rateOK := func(r float64) bool { return !math.IsNaN(r) && r >= 0 && r <= MaxRate }
	switch {
	case len(a.Stages) == 0 || len(a.Stages) > MaxRateStages:
		return nil, fmt.Errorf("arrival plan with %d stages (1 to %d)", len(a.Stages), MaxRateStages)
	case a.Count < 1 || a.Index < 0 || a.Index >= a.Count || a.From < 0 || a.ElapsedNanos < 0:
		return nil, fmt.Errorf("arrival plan places the worker at %d of %d from iteration %d", a.Index, a.Count, a.From)
	case a.MaxUsers < 1 || a.MaxUsers > MaxUsersPerWorker:
		return nil, fmt.Errorf("arrival plan with a pool of %d users (1 to %d)", a.MaxUsers, MaxUsersPerWorker)
	case len(a.Classes) == 0 || len(a.Classes) > MaxClasses:
		return nil, fmt.Errorf("arrival plan with %d classes", len(a.Classes))
	}
	out := &Arrival{Elapsed: time.Duration(a.ElapsedNanos), From: a.From,
		Index: int(a.Index), Count: int(a.Count), MaxUsers: int(a.MaxUsers)}
	for i, st := range a.Stages {
		if st.DurationNanos < 0 || !rateOK(st.Target) {
			return nil, fmt.Errorf("arrival stage %d: %v to rate %v", i, time.Duration(st.DurationNanos), st.Target)
		}
		out.Stages = append(out.Stages, scheduler.Stage{Duration: time.Duration(st.DurationNanos), Target: st.Target})
	}
	for _, c := range a.Classes {
		if c.Weight < 1 || c.Weight > 1000 {
			return nil, fmt.Errorf("arrival class %q with weight %d (1 to 1000)", c.Name, c.Weight)
		}
		out.Classes = append(out.Classes, scheduler.Class{Name: c.Name, Weight: int(c.Weight)})
	}
	return out, nil
}

func reportToPB(r Report) (*pb.Report, error) {
	out := &pb.Report{RunId: r.RunID, Origin: r.Origin, Seq: r.Seq, PlanVersion: r.PlanVersion, Final: r.Final, Fatal: r.Fatal,
		StopRun: r.StopRun, Users: make(map[string]int32, len(r.Users))}
	for k, v := range r.Users {
		out.Users[k] = int32(v)
	}
	if r.Snapshot != nil {
		b, err := r.Snapshot.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("encode report %d: %w", r.Seq, err)
		}
		out.Snapshot = b
	}
	return out, nil
}

// reportFromPB converts and checks a worker's report: it is outside input. Its
// snapshot is checked by aggregate.DecodeSnapshot, the one place that does.
func reportFromPB(r *pb.Report) (*Report, error) {
	if r.RunId == "" {
		return nil, errors.New("report without run id")
	}
	if len(r.Origin) > MaxOriginLen {
		return nil, fmt.Errorf("report origin of %d bytes (at most %d)", len(r.Origin), MaxOriginLen)
	}
	if len(r.Users) > MaxClasses {
		return nil, fmt.Errorf("report too large: %d classes", len(r.Users))
	}
	if len(r.StopRun) > MaxStopReasonLen {
		return nil, fmt.Errorf("report: stop_run reason of %d bytes (at most %d)", len(r.StopRun), MaxStopReasonLen)
	}
	snap := aggregate.NewSnapshot(time.Time{})
	if len(r.Snapshot) > 0 {
		var err error
		if snap, err = aggregate.DecodeSnapshot(r.Snapshot); err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
	}
	users := make(map[string]int, len(r.Users))
	for k, v := range r.Users {
		if v < 0 {
			return nil, fmt.Errorf("report: %d users of %q", v, k)
		}
		users[k] = int(v)
	}
	return &Report{RunID: r.RunId, Origin: r.Origin, Seq: r.Seq, PlanVersion: r.PlanVersion, Snapshot: snap, Users: users,
		Final: r.Final, Fatal: r.Fatal, StopRun: r.StopRun}, nil
}
