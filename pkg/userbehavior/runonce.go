package userbehavior

import (
	"context"
	"fmt"
)

// RunOnce runs one user of class synchronously for a dry run: on_start, every task
// once in the order given, on_stop, with no waits. What it does is recorded like any
// user's requests.
func (r *Runner) RunOnce(ctx context.Context, class string) error {
	c, ok := r.classes[class]
	if !ok {
		return fmt.Errorf("unknown user class %q", class)
	}
	u, err := r.newUser(c)
	if err != nil {
		return err
	}
	defer r.release(1)
	defer u.rec.Flush()
	defer u.close()
	if !r.setup(ctx, u) {
		return fmt.Errorf("user class %q: setup failed", class)
	}
	if c.OnStart != nil {
		r.guard(ctx, u, "on_start", c.OnStart)
	}
	for i := range c.Tasks {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.guard(ctx, u, c.Tasks[i].Name, c.Tasks[i].Fn)
	}
	if c.OnStop != nil {
		r.guard(ctx, u, "on_stop", c.OnStop)
	}
	return ctx.Err()
}
