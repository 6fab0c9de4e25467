package scheduler

import (
	"errors"
	"math"
	"testing"
)

// TestValidateAgreesWithDistribute: Validate refuses exactly what Distribute refuses
// whatever the workers, with the same message; ValidateLoad what it refuses in a user
// count and spawn rate alone.
func TestValidateAgreesWithDistribute(t *testing.T) {
	one := []Class{{Name: "A", Weight: 1}}
	for name, req := range map[string]Request{
		"good":            {Classes: one, Users: 10, SpawnRate: 2},
		"no classes":      {Users: 10, SpawnRate: 2},
		"negative users":  {Classes: one, Users: -1, SpawnRate: 2},
		"zero rate":       {Classes: one, Users: 1},
		"NaN rate":        {Classes: one, Users: 1, SpawnRate: math.NaN()},
		"several at once": {Classes: []Class{{Name: "A", Weight: -1}, {Name: "A"}}, Users: -5, SpawnRate: math.Inf(1)},
	} {
		t.Run(name, func(t *testing.T) {
			_, derr := Distribute(req, []string{"w1", "w2"}, nil)
			verr := req.Validate()
			if (derr == nil) != (verr == nil) || (derr != nil && derr.Error() != verr.Error()) {
				t.Errorf("Distribute: %v\nValidate: %v", derr, verr)
			}
			if verr != nil && !errors.Is(verr, ErrInvalidRequest) {
				t.Errorf("Validate: %v does not wrap ErrInvalidRequest", verr)
			}
			_, lerr := Distribute(Request{Classes: one, Users: req.Users, SpawnRate: req.SpawnRate}, []string{"w"}, nil)
			if got := ValidateLoad(req.Users, req.SpawnRate); (got == nil) != (lerr == nil) || (got != nil && got.Error() != lerr.Error()) {
				t.Errorf("ValidateLoad: %v, Distribute with one class: %v", got, lerr)
			}
		})
	}
}
