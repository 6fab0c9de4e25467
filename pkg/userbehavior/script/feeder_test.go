package script

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.starlark.net/starlark"
)

// csvRows is a feeder file of n rows with ids 0..n-1.
func csvRows(n int) string {
	var b strings.Builder
	b.WriteString("id,name\n")
	for i := range n {
		fmt.Fprintf(&b, "%d,user%d\n", i, i)
	}
	return b.String()
}

const feederScript = `
items = data.csv("data/items.csv", mode=%q)
def take(u):
    row = items.next()
    u.vars.setdefault("ids", []).append(row["id"])
    if row["name"] != "user" + row["id"]:
        fail("row", row)
A = user(tasks=[take])
`

func userIDs(t *testing.T, u *session) []string {
	t.Helper()
	if u.user.vars == nil { // u.vars is made on first use
		return nil
	}
	v, found, _ := u.user.vars.Get(starlark.String("ids"))
	if !found {
		return nil
	}
	var out []string
	for i := range v.(*starlark.List).Len() {
		out = append(out, string(v.(*starlark.List).Index(i).(starlark.String)))
	}
	return out
}

func TestFeederUniqueAcrossWorkers(t *testing.T) {
	const rows, workers, usersPerWorker = 100, 3, 8
	seen := map[string]int{}
	for w := range workers {
		p := mustCompile(t, Options{Slice: Slice{Index: w, Count: workers}},
			"main.star", fmt.Sprintf(feederScript, "unique"), "data/items.csv", csvRows(rows))
		c := class(t, p, "A")
		fn := taskFn(t, c, "take")
		// Users of one worker draw concurrently from the shared feeder.
		var wg sync.WaitGroup
		sessions := make([]*session, usersPerWorker)
		errs := make([]error, usersPerWorker)
		for i := range usersPerWorker {
			u := bareUser(c, i+1)
			sessions[i] = u.State.(*session)
			wg.Go(func() {
				for {
					if err := fn(context.Background(), u); err != nil {
						errs[i] = err
						return
					}
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			if want := "main.star:4:21: feeder data/items.csv exhausted"; err == nil || err.Error() != want {
				t.Errorf("worker %d user %d: error %v, want %q", w, i, err, want)
			}
		}
		for _, s := range sessions {
			for _, id := range userIDs(t, s) {
				var n int
				fmt.Sscan(id, &n)
				if n%workers != w {
					t.Errorf("worker %d got row %d, of worker %d's slice", w, n, n%workers)
				}
				seen[id]++
			}
		}
	}
	if len(seen) != rows {
		t.Errorf("%d distinct rows used, want all %d", len(seen), rows)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("row %s used %d times", id, n)
		}
	}
}

func TestFeederCycle(t *testing.T) {
	tests := []struct {
		name  string
		slice Slice
		rows  int
		want  []string
	}{
		{"all rows", Slice{}, 3, []string{"0", "1", "2", "0", "1", "2", "0"}},
		{"this worker's rows", Slice{Index: 1, Count: 2}, 5, []string{"1", "3", "1", "3", "1", "3", "1"}},
		{"all rows when the slice is empty", Slice{Index: 2, Count: 3}, 2, []string{"0", "1", "0", "1", "0", "1", "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, Options{Slice: tt.slice},
				"main.star", fmt.Sprintf(feederScript, "cycle"), "data/items.csv", csvRows(tt.rows))
			c := class(t, p, "A")
			u := bareUser(c, 1)
			for range len(tt.want) {
				if err := taskFn(t, c, "take")(context.Background(), u); err != nil {
					t.Fatal(err)
				}
			}
			if got := userIDs(t, u.State.(*session)); !slices.Equal(got, tt.want) {
				t.Errorf("rows %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFeederRejects(t *testing.T) {
	tests := []struct {
		name, src, csv, want string
	}{
		{"missing file", `items = data.csv("nope.csv")`, "", "main.star:1:17: data.csv: no file nope.csv in the script bundle"},
		{"bad mode", `items = data.csv("data/items.csv", mode="random")`, "id\n1\n", `main.star:1:17: data.csv: mode must be "unique" or "cycle", got "random"`},
		{"empty file", `items = data.csv("data/items.csv")`, "", "main.star:1:17: data.csv: data/items.csv is empty; want a header row naming the columns"},
		{"ragged rows", `items = data.csv("data/items.csv")`, "id,name\n1\n", "main.star:1:17: data.csv: data/items.csv: record on line 2: wrong number of fields"},
		{"next at the top level", `items = data.csv("data/items.csv")` + "\nx = items.next()", "id\n1\n", "main.star:2:15: feeder.next() may only be called while a user runs a task"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(files("main.star", tt.src+"\n"+okTask+"A = user(tasks=[t])\n", "data/items.csv", tt.csv), Options{})
			if err == nil || err.Error() != tt.want {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// TestFeederDefaultAndRemaining: next(default) hands out every row once, then the
// default, and remaining() counts down to 0; a cycling feeder answers its row count.
func TestFeederDefaultAndRemaining(t *testing.T) {
	const src = `
items = data.csv("data/items.csv", mode=%q)
def take(u):
    left = items.remaining()
    row = items.next(default=None)
    u.vars.setdefault("ids", []).append("%%d:%%s" %% (left, row["id"] if row else "none"))
A = user(tasks=[take])
`
	tests := []struct {
		mode string
		want []string
	}{
		{"unique", []string{"3:0", "2:1", "1:2", "0:none", "0:none"}},
		{"cycle", []string{"3:0", "3:1", "3:2", "3:0", "3:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			p := mustCompile(t, Options{}, "main.star", fmt.Sprintf(src, tt.mode), "data/items.csv", csvRows(3))
			c := class(t, p, "A")
			u := bareUser(c, 1)
			for range len(tt.want) {
				if err := taskFn(t, c, "take")(context.Background(), u); err != nil {
					t.Fatal(err)
				}
			}
			if got := userIDs(t, u.State.(*session)); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
