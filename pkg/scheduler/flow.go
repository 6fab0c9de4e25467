package scheduler

import "math"

// flowNetwork is a small min-cost max-flow solver (primal-dual: shortest paths by
// Bellman-Ford with a queue, then a blocking flow on the edges that lie on shortest paths).
// Distribute uses it to decide which workers take the users that do not divide evenly.
// Costs there take few distinct values, so there are few phases.
type flowNetwork struct {
	adj [][]flowEdge
}

type flowEdge struct {
	to   int
	rev  int // index of the reverse edge in adj[to]
	cap  int // residual capacity
	cost int
}

// edgeRef names an edge so its flow can be read after solving.
type edgeRef struct {
	from, index, capacity int
}

func newFlowNetwork(nodes int) *flowNetwork {
	return &flowNetwork{adj: make([][]flowEdge, nodes)}
}

// addEdge adds from→to with the given capacity and cost per unit.
func (g *flowNetwork) addEdge(from, to, capacity, cost int) edgeRef {
	g.adj[from] = append(g.adj[from], flowEdge{to: to, rev: len(g.adj[to]), cap: capacity, cost: cost})
	g.adj[to] = append(g.adj[to], flowEdge{to: from, rev: len(g.adj[from]) - 1, cap: 0, cost: -cost})
	return edgeRef{from: from, index: len(g.adj[from]) - 1, capacity: capacity}
}

// flow is what went through the edge.
func (g *flowNetwork) flow(e edgeRef) int {
	return e.capacity - g.adj[e.from][e.index].cap
}

// minCostMaxFlow pushes as much flow as it can from s to t, at the least total cost among
// maximum flows, and returns the flow. The graph must have no negative-cost cycle.
func (g *flowNetwork) minCostMaxFlow(s, t int) int {
	total := 0
	dist := make([]int, len(g.adj))
	level := make([]int, len(g.adj))
	next := make([]int, len(g.adj))
	for {
		g.shortestPaths(s, dist)
		if dist[t] == math.MaxInt {
			return total
		}
		// Blocking flows on the tight edges (dist[to] == dist[from]+cost) until none is left;
		// augmenting along them keeps dist a valid set of shortest distances.
		for g.levels(s, t, dist, level) {
			clear(next)
			for {
				f := g.push(s, t, math.MaxInt, dist, level, next)
				if f == 0 {
					break
				}
				total += f
			}
		}
	}
}

// shortestPaths fills dist with the least cost from s over edges with capacity left
// (math.MaxInt where unreachable), by Bellman-Ford with a queue.
func (g *flowNetwork) shortestPaths(s int, dist []int) {
	for i := range dist {
		dist[i] = math.MaxInt
	}
	inQueue := make([]bool, len(g.adj))
	queue := []int{s}
	dist[s] = 0
	inQueue[s] = true
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		inQueue[u] = false
		for _, e := range g.adj[u] {
			if e.cap > 0 && dist[u]+e.cost < dist[e.to] {
				dist[e.to] = dist[u] + e.cost
				if !inQueue[e.to] {
					inQueue[e.to] = true
					queue = append(queue, e.to)
				}
			}
		}
	}
}

func tight(dist []int, u int, e flowEdge) bool {
	return e.cap > 0 && dist[u] != math.MaxInt && dist[e.to] != math.MaxInt && dist[e.to] == dist[u]+e.cost
}

// levels is the breadth-first layering of the tight edges; it reports whether t is reached.
func (g *flowNetwork) levels(s, t int, dist, level []int) bool {
	for i := range level {
		level[i] = -1
	}
	level[s] = 0
	queue := []int{s}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, e := range g.adj[u] {
			if level[e.to] < 0 && tight(dist, u, e) {
				level[e.to] = level[u] + 1
				queue = append(queue, e.to)
			}
		}
	}
	return level[t] >= 0
}

// push sends up to limit units from u to t along tight, level-increasing edges.
func (g *flowNetwork) push(u, t, limit int, dist, level, next []int) int {
	if u == t {
		return limit
	}
	for ; next[u] < len(g.adj[u]); next[u]++ {
		e := &g.adj[u][next[u]]
		if level[e.to] != level[u]+1 || !tight(dist, u, *e) {
			continue
		}
		if f := g.push(e.to, t, min(limit, e.cap), dist, level, next); f > 0 {
			e.cap -= f
			g.adj[e.to][e.rev].cap += f
			return f
		}
	}
	return 0
}
