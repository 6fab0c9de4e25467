package script

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// feeder is the value of data.csv(...): rows of a CSV file of the bundle, handed out
// by feeder.next() to every user of the worker. It is shared by all users and safe
// for concurrent use: the rows are frozen and the position is atomic.
type feeder struct {
	file   string
	unique bool
	rows   []*starlark.Dict // this worker's rows, frozen
	next   atomic.Uint64
}

func (f *feeder) String() string        { return fmt.Sprintf("<feeder %s>", f.file) }
func (f *feeder) Type() string          { return "feeder" }
func (f *feeder) Freeze()               {}
func (f *feeder) Truth() starlark.Bool  { return true }
func (f *feeder) Hash() (uint32, error) { return 0, errors.New("unhashable type: feeder") }
func (f *feeder) Len() int              { return len(f.rows) }
func (f *feeder) AttrNames() []string   { return []string{"next", "remaining"} }

func (f *feeder) Attr(name string) (starlark.Value, error) {
	switch name {
	case "next":
		return feederNext.BindReceiver(f), nil
	case "remaining":
		return feederRemaining.BindReceiver(f), nil
	}
	return nil, nil
}

// next(default): the next row; when a unique feeder has none left, default if given
// (None included), else an error that fails the task.
var feederNext = starlark.NewBuiltin("next", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	f := b.Receiver().(*feeder)
	var dflt starlark.Value // nil: not given
	if err := starlark.UnpackArgs("next", args, kwargs, "default?", &dflt); err != nil {
		return nil, err
	}
	if _, err := sessionFrom(thread, "feeder.next"); err != nil {
		return nil, err
	}
	if len(f.rows) == 0 {
		if dflt != nil {
			return dflt, nil
		}
		return nil, fmt.Errorf("feeder %s exhausted (no rows for this worker)", f.file)
	}
	if f.unique {
		// Only a row handed out moves the position: remaining() stays exact.
		for {
			i := f.next.Load()
			if i >= uint64(len(f.rows)) {
				if dflt != nil {
					return dflt, nil
				}
				return nil, fmt.Errorf("feeder %s exhausted", f.file)
			}
			if f.next.CompareAndSwap(i, i+1) {
				return f.rows[i], nil
			}
		}
	}
	i := f.next.Add(1) - 1
	return f.rows[i%uint64(len(f.rows))], nil
})

// remaining(): the rows a unique feeder has left on this worker; a cycling feeder
// never runs out and answers its number of rows.
var feederRemaining = starlark.NewBuiltin("remaining", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	f := b.Receiver().(*feeder)
	if err := starlark.UnpackPositionalArgs("remaining", args, kwargs, 0); err != nil {
		return nil, err
	}
	if !f.unique {
		return starlark.MakeInt(len(f.rows)), nil
	}
	return starlark.MakeInt(len(f.rows) - int(min(f.next.Load(), uint64(len(f.rows))))), nil
})

// dataModule is the data module: data.csv(path, mode="unique", delimiter=",").
func (p *Program) dataModule() *starlarkstruct.Module {
	return &starlarkstruct.Module{Name: "data", Members: starlark.StringDict{
		"csv": starlark.NewBuiltin("data.csv", p.csvBuiltin),
	}}
}

// csvBuiltin reads a CSV file of the bundle whose first row names the columns. Each
// row is a dict of column to string. mode="unique" hands each row of this worker's
// Slice out once, then fails the task with "feeder FILE exhausted" (or returns the
// default of next(default)); mode="cycle"
// goes round this worker's rows (all rows when the slice has none).
func (p *Program) csvBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	c, err := topLevel(thread, "data.csv")
	if err != nil {
		return nil, err
	}
	var file, mode, delim = "", "unique", ","
	if err := starlark.UnpackArgs("data.csv", args, kwargs, "path", &file, "mode?", &mode, "delimiter?", &delim); err != nil {
		return nil, err
	}
	if mode != "unique" && mode != "cycle" {
		return nil, fmt.Errorf("data.csv: mode must be \"unique\" or \"cycle\", got %q", mode)
	}
	if len([]rune(delim)) != 1 || delim == "\n" || delim == "\r" || delim == `"` {
		return nil, fmt.Errorf("data.csv: delimiter must be one character, got %q", delim)
	}
	name, err := bundlePath(thread.CallFrame(1).Pos.Filename(), file)
	if err != nil {
		return nil, fmt.Errorf("data.csv: %v", err)
	}
	data, ok := c.bundle.Files[name]
	if !ok {
		return nil, fmt.Errorf("data.csv: no file %s in the script bundle", name)
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = []rune(delim)[0]
	r.ReuseRecord = false
	header, err := r.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("data.csv: %s is empty; want a header row naming the columns", name)
	}
	if err != nil {
		return nil, fmt.Errorf("data.csv: %s: %v", name, err)
	}
	f := &feeder{file: file, unique: mode == "unique"}
	var all []*starlark.Dict
	slice := p.opts.Slice
	for i := 0; ; i++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("data.csv: %s: %v", name, err)
		}
		mine := slice.Count <= 1 || i%slice.Count == slice.Index
		if !mine && f.unique {
			continue
		}
		row := starlark.NewDict(len(header))
		for j, col := range header {
			_ = row.SetKey(starlark.String(col), starlark.String(rec[j]))
		}
		row.Freeze()
		all = append(all, row)
		if mine {
			f.rows = append(f.rows, row)
		}
	}
	if !f.unique && len(f.rows) == 0 {
		f.rows = all
	}
	return f, nil
}
