package report

// UserClass is a user class as the script configures it: its weight among the
// classes and its tasks' weights. The master fills it from the compiled script.
type UserClass struct {
	Name       string       `json:"name"`
	Weight     int          `json:"weight"`
	FixedCount int          `json:"fixed_count,omitempty"`
	Sequential bool         `json:"sequential,omitempty"` // tasks run in order, each once a round
	Tasks      []TaskWeight `json:"tasks"`
}

// TaskWeight is one task of a class and its weight among the class's tasks.
type TaskWeight struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"`
}

// Ratio is Locust's "Current ratio": the share of users per class and of tasks
// per class, as the script's weights configure them and as actually running.
type Ratio struct {
	Classes []ClassRatio `json:"classes"`
	// Users are the users running, all classes, as the workers last reported;
	// TargetUsers the users the run asks for.
	Users       int `json:"users"`
	TargetUsers int `json:"target_users"`
}

// ClassRatio is one class's row of the ratio view.
type ClassRatio struct {
	Name       string `json:"name"`
	Weight     int    `json:"weight"`
	FixedCount int    `json:"fixed_count,omitempty"`
	Sequential bool   `json:"sequential,omitempty"`
	// Ratio is the class's configured share of the users by weight (Locust's
	// ratio): its weight over the weights of every class without a fixed count;
	// 0 for a class with a fixed count.
	Ratio float64 `json:"ratio"`
	// Target is the users the run's plan gives the class; Users those running,
	// as the workers last reported; UsersRatio their share of all running users.
	Target     int         `json:"target_users"`
	Users      int         `json:"users"`
	UsersRatio float64     `json:"users_ratio"`
	Tasks      []TaskRatio `json:"tasks"`
}

// TaskRatio is one task's share: within its class (Ratio, by weight; equal
// shares for a class that runs its tasks in order) and of all the tasks the
// users run (TotalRatio: the class's share times the task's, with the class's
// running share once users run, its configured one before).
type TaskRatio struct {
	Name       string  `json:"name"`
	Weight     int     `json:"weight"`
	Ratio      float64 `json:"ratio"`
	TotalRatio float64 `json:"total_ratio"`
}

// RatioOf is the ratio view of classes (as configured) in the live view l:
// the run's planned and running users per class (l.ClassTargets, l.ClassUsers).
func RatioOf(classes []UserClass, l *Live) Ratio {
	out := Ratio{Classes: []ClassRatio{}}
	weights := 0
	for _, c := range classes {
		if c.FixedCount == 0 {
			weights += c.Weight
		}
	}
	if l != nil {
		out.TargetUsers = l.TargetUsers
		for _, n := range l.ClassUsers {
			out.Users += n
		}
	}
	for _, c := range classes {
		r := ClassRatio{Name: c.Name, Weight: c.Weight, FixedCount: c.FixedCount, Sequential: c.Sequential}
		if c.FixedCount == 0 && weights > 0 {
			r.Ratio = float64(c.Weight) / float64(weights)
		}
		if l != nil {
			r.Target, r.Users = l.ClassTargets[c.Name], l.ClassUsers[c.Name]
		}
		share := r.Ratio
		if out.Users > 0 {
			r.UsersRatio = float64(r.Users) / float64(out.Users)
			share = r.UsersRatio
		}
		r.Tasks = tasksOf(c.Tasks, c.Sequential, share)
		out.Classes = append(out.Classes, r)
	}
	return out
}

// tasksOf is the tasks' shares within a class whose share of all users is share.
func tasksOf(tasks []TaskWeight, sequential bool, share float64) []TaskRatio {
	out := make([]TaskRatio, 0, len(tasks))
	sum := 0
	for _, t := range tasks {
		w := t.Weight
		if sequential {
			w = 1
		}
		sum += w
	}
	for _, t := range tasks {
		r := TaskRatio{Name: t.Name, Weight: t.Weight}
		if w := t.Weight; sum > 0 {
			if sequential {
				w = 1
			}
			r.Ratio = float64(w) / float64(sum)
			r.TotalRatio = share * r.Ratio
		}
		out = append(out, r)
	}
	return out
}
