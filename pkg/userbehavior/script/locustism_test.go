package script

import (
	"strings"
	"testing"
)

// TestLocustHints: each habit a Locust user brings gets one hint, at its
// file:line:col, before anything runs, and the syntax error it caused is not
// reported beside it.
func TestLocustHints(t *testing.T) {
	const tail = "def t(u):\n    pass\nA = user(tasks=[t])\n"
	tests := []struct {
		name, main, src string
		want            []string // every line of the error, in order
	}{
		{"class", "main.star", "class Shopper(HttpUser):\n    pass\n" + tail,
			[]string{"main.star:1:1: class Shopper: Starlark has no classes: declare the user class as Shopper = user(tasks={browse: 3, buy: 1}, wait=between(1, 5)), with each task a function def browse(u): ... at the top level; see docs/locust.md"}},
		{"TaskSet", "main.star", "class UserTasks(TaskSet):\n    pass\n" + tail,
			[]string{"main.star:1:1: class UserTasks(TaskSet): Starlark has no classes: its tasks, as functions def a(u): ..., become the user class's own, user(tasks={a: 1, b: 1})"}},
		{"SequentialTaskSet", "main.star", "class Steps(SequentialTaskSet):\n    pass\n" + tail,
			[]string{"main.star:1:1: class Steps(SequentialTaskSet): Starlark has no classes: its tasks, as functions def a(u): ..., run in order as the user class's tasks=sequence(a, b, c)"}},
		{"LoadTestShape", "main.star", "class Stages(LoadTestShape):\n    pass\n" + tail,
			[]string{"main.star:1:1: class Stages(LoadTestShape): Starlark has no classes: its tick() is def shape(elapsed): return (users, spawn_rate), or None to end the run"}},
		{"@task", "main.star", "@task(3)\ndef browse(u):\n    pass\nA = user(tasks=[browse])\n",
			[]string{"main.star:1:1: @task: Starlark has no decorators: list the function in user(tasks={fn: weight}) (the weight of @task(3) is the dict's value)"}},
		{"self.client", "main.star", "def t(self):\n    self.client.get(\"/\")\nA = user(tasks=[t])\n",
			[]string{`main.star:2:5: self.client: the user's HTTP client is u.http (u.http.get("/path")), with the user as the task's parameter: def browse(u): ...`}},
		{"u.client", "main.star", "def t(u):\n    u.client.post(\"/\")\nA = user(tasks=[t])\n",
			[]string{`main.star:2:5: u.client: the user's HTTP client is u.http (u.http.get("/path")), with the user as the task's parameter: def browse(u): ...`}},
		{"u.environment", "main.star", "def t(u):\n    n = u.environment.runner.user_count\nA = user(tasks=[t])\n",
			[]string{`main.star:2:9: u.environment: there is none: u.worker_index, u.worker_count, u.user_count and u.run_id say where a user runs, env("NAME", default) reads a --var, stop_run(reason) ends the run; see docs/locust.md`}},
		{"u.wait()", "main.star", "def t(u):\n    u.wait()\nA = user(tasks=[t])\n",
			[]string{"main.star:2:5: u.wait(): the class's wait= runs after every task by itself; to pause inside a task, use sleep(seconds)"}},
		{"time.sleep", "main.star", "def t(u):\n    time.sleep(1)\nA = user(tasks=[t])\n",
			[]string{"main.star:2:5: time.sleep: use sleep(seconds), which ends when the user is stopped"}},
		{"f-string", "main.star", "def t(u):\n    u.http.get(f\"/item/{u.id}\")\nA = user(tasks=[t])\n",
			[]string{`main.star:2:16: f-strings do not exist in Starlark: use "%s/%d" % (a, b) or "{}".format(a)`}},
		{"power", "main.star", "X = 2 ** 10\n" + tail,
			[]string{"main.star:1:7: ** is not an operator in Starlark: use math.pow(x, y) (or x * x)"}},
		{"import", "main.star", "import random\n" + tail,
			[]string{`main.star:1:1: import: Starlark has no import: random, time, json and math are built in, and load("lib.star", "name") reads your own files`}},
		{"from import", "main.star", "from locust import HttpUser, task\n" + tail,
			[]string{`main.star:1:1: from: Starlark has no import: random, time, json and math are built in, and load("lib.star", "name") reads your own files`}},
		{"a .py file", "locustfile.py", tail,
			[]string{"locustfile.py: " + pyScriptHint}},
		{"on_start never passed", "main.star", "def on_start(u):\n    pass\n" + tail,
			[]string{"main.star:1:1: def on_start is never passed to user(): Stampede calls no function by its name; write Name = user(tasks=..., on_start=on_start)"}},
		{"on_stop defined, another passed", "main.star", "def on_stop(u):\n    pass\ndef bye(u):\n    pass\n" + "def t(u):\n    pass\nA = user(tasks=[t], on_stop=bye)\n",
			[]string{"main.star:1:1: def on_stop is never passed to user(): Stampede calls no function by its name; write Name = user(tasks=..., on_stop=on_stop)"}},
		{"with catch_response", "main.star", "def t(u):\n    with u.http.get(\"/\") as r:\n        r.fail(\"x\")\nA = user(tasks=[t])\n",
			[]string{`main.star:2:5: with: Starlark has no with: r = u.http.get(...) then r.fail("why") or check(cond, "why") decides the verdict (no catch_response needed)`}},
		{"try and raise", "main.star", "def t(u):\n    try:\n        raise ValueError(\"x\")\n    except ValueError:\n        pass\nA = user(tasks=[t])\n",
			[]string{
				`main.star:2:5: try: Starlark has no try/except: a task that fails is recorded under Exceptions and the user carries on; check(cond, "why") fails a response`,
				`main.star:3:9: raise: use fail("why"), which fails the task`,
				`main.star:4:5: except: Starlark has no try/except: a task that fails is recorded under Exceptions and the user carries on; check(cond, "why") fails a response`}},
		{"pop from a global list", "main.star", "CREDS = [(\"a\", \"b\")]\ndef t(u):\n    name, pw = CREDS.pop()\nA = user(tasks=[t])\n",
			[]string{`main.star:3:16: CREDS.pop(): CREDS is a global list, frozen once the script has loaded, so a user cannot change it: hand rows out with data.csv("rows.csv", mode="unique") (a feeder, items.next()), or keep a user's own state in u.vars`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(files(tt.main, tt.src), Options{})
			if err == nil {
				t.Fatal("compiled")
			}
			if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", err, strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestLocustHintsNotMisled: what looks like a habit but is not one passes.
func TestLocustHintsNotMisled(t *testing.T) {
	src := `
# class Shopper(HttpUser): in a comment; self.client.get("/") too; import os
NOTE = "use u.client or time.sleep(1) or f'x' here, 2 ** 3"
ROWS = [1, 2, 3]
def on_start(u):
    u.vars["row"] = ROWS[u.id % 3]
    u.http.get("/", **{"name": "x"})
def opts(**kw):
    return kw
def t(u):
    items = []
    items.append(1)
    items.pop()
    sleep(0)
ROWS.append(4)
A = user(tasks=[t], on_start=on_start)
`
	if _, err := Compile(files("main.star", src), Options{}); err != nil {
		t.Fatal(err)
	}
}

// TestLocustfileHints: a locustfile as a Locust user would paste it gets a hint for
// each habit, every one of them at once.
func TestLocustfileHints(t *testing.T) {
	src := `from locust import HttpUser, task, between
import time

USERS = [("u1", "p1"), ("u2", "p2")]

class QuickstartUser(HttpUser):
    wait_time = between(1, 2)

    def on_start(self):
        name, pw = USERS.pop()
        self.client.post("/login", json={"username": name, "password": pw})

    @task(3)
    def view_items(self):
        for item_id in range(10):
            self.client.get(f"/item?id={item_id}", name="/item")
            time.sleep(1)
            self.wait()
        n = self.environment.runner.user_count ** 2
`
	_, err := Compile(files("locustfile.py", src), Options{})
	if err == nil {
		t.Fatal("compiled")
	}
	want := []string{
		"locustfile.py: a .py file",
		"locustfile.py:1:1: from:",
		"locustfile.py:2:1: import:",
		"locustfile.py:6:1: class QuickstartUser:",
		"locustfile.py:9:5: def on_start is never passed",
		"locustfile.py:10:20: USERS.pop():",
		"locustfile.py:11:9: self.client:",
		"locustfile.py:13:5: @task:",
		"locustfile.py:16:13: self.client:",
		"locustfile.py:16:29: f-strings",
		"locustfile.py:17:13: time.sleep:",
		"locustfile.py:18:13: self.wait():",
		"locustfile.py:19:13: self.environment:",
		"locustfile.py:19:48: ** is not an operator",
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Fatalf("%d problems, want %d:\n%s", len(got), len(want), err)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d: %q, want it to begin %q", i, got[i], want[i])
		}
	}
}
