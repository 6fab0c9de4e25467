package scheduler

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestDebugJoin(t *testing.T) {
	raw, _ := os.ReadFile("testdata/fuzz/FuzzDistribute/" + os.Getenv("CASE"))
	line := strings.Split(string(raw), "\n")[1]
	s, _ := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(line, "[]byte("), ")"))
	d := decodeDistribute([]byte(s))
	fmt.Printf("req %+v workers %v current %v\n", d.req, d.workers, d.current)
	plan, _ := Distribute(d.req, d.workers, d.current)
	sorted := slices.Sorted(slices.Values(d.workers))
	for _, id := range sorted {
		fmt.Println(id, plan.Workers[id].Users)
	}
	joined := append(sorted, "w-new")
	after, _ := Distribute(d.req, joined, plan.Assignment())
	for _, id := range joined {
		fmt.Println("after", id, after.Workers[id].Users)
	}
	fmt.Printf("%+v best %+v\n", score(d.req, joined, plan.Assignment(), after.Assignment()), bestMovement(t, d.req, joined, plan.Assignment()))
}
