package script

import (
	"errors"
	"testing"
)

// FuzzCompile feeds arbitrary bytes to Compile as the main script: it must return a
// Program or Errors, never panic or hang (the step budget bounds the top level).
// The seed corpus in testdata/fuzz/FuzzCompile holds valid scripts and near misses.
func FuzzCompile(f *testing.F) {
	f.Add([]byte(okTask + "A = user(tasks=[t])\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		b := Bundle{Main: "main.star", Files: map[string][]byte{
			"main.star":      src,
			"lib.star":       []byte("def helper(u):\n    pass\nweight = 2\n"),
			"data/items.csv": []byte("id,name\n1,a\n2,b\n"),
		}}
		p, err := Compile(b, Options{StepBudget: 100_000, Vars: map[string]string{"HOST": "x"}})
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %T %v is not a non-empty Errors", err, err)
			}
			return
		}
		if len(p.Classes()) == 0 {
			t.Fatal("Compile succeeded without classes")
		}
		for _, c := range p.Classes() {
			if err := c.Validate(); err != nil {
				t.Fatalf("class %s: %v", c.Name, err)
			}
		}
	})
}
