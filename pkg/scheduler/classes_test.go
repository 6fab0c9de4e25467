package scheduler

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestSplitClasses(t *testing.T) {
	tests := []struct {
		name    string
		classes []Class
		users   int
		want    []int
	}{
		{
			name:    "weights 3:1 over 100",
			classes: []Class{{Name: "a", Weight: 3}, {Name: "b", Weight: 1}},
			users:   100,
			want:    []int{75, 25},
		},
		{
			name:    "single class takes all",
			classes: []Class{{Name: "a", Weight: 1}},
			users:   7,
			want:    []int{7},
		},
		{
			name:    "zero users",
			classes: []Class{{Name: "a", Weight: 3}, {Name: "b", Weight: 1}},
			users:   0,
			want:    []int{0, 0},
		},
		{
			name:    "equal remainders go to earlier classes",
			classes: []Class{{Name: "a", Weight: 1}, {Name: "b", Weight: 1}, {Name: "c", Weight: 1}},
			users:   5,
			want:    []int{2, 2, 1},
		},
		{
			name:    "largest remainder wins over class order",
			classes: []Class{{Name: "a", Weight: 1}, {Name: "b", Weight: 2}},
			users:   2, // quotas 0.67 and 1.33
			want:    []int{1, 1},
		},
		{
			name:    "largest remainder, three classes",
			classes: []Class{{Name: "a", Weight: 1}, {Name: "b", Weight: 1}, {Name: "c", Weight: 5}},
			users:   10, // quotas 1.43, 1.43, 7.14
			want:    []int{2, 1, 7},
		},
		{
			name:    "zero weight class gets nothing",
			classes: []Class{{Name: "a", Weight: 0}, {Name: "b", Weight: 1}, {Name: "c", Weight: 1}},
			users:   3,
			want:    []int{0, 2, 1},
		},
		{
			name:    "fixed counts first, rest by weight",
			classes: []Class{{Name: "a", Weight: 1}, {Name: "admin", FixedCount: 2}, {Name: "b", Weight: 3}},
			users:   10,
			want:    []int{2, 2, 6},
		},
		{
			name:    "weight of a fixed class is ignored",
			classes: []Class{{Name: "admin", Weight: 100, FixedCount: 1}, {Name: "a", Weight: 1}},
			users:   5,
			want:    []int{1, 4},
		},
		{
			name:    "fixed counts exceed users: filled in order",
			classes: []Class{{Name: "a", FixedCount: 3}, {Name: "b", Weight: 5}, {Name: "c", FixedCount: 4}, {Name: "d", FixedCount: 2}},
			users:   5,
			want:    []int{3, 0, 2, 0},
		},
		{
			name:    "fixed counts use every user, weights all zero",
			classes: []Class{{Name: "a", FixedCount: 3}, {Name: "b"}},
			users:   3,
			want:    []int{3, 0},
		},
		{
			name:    "huge weights do not overflow",
			classes: []Class{{Name: "a", Weight: math.MaxInt / 2}, {Name: "b", Weight: math.MaxInt / 2}},
			users:   math.MaxInt,
			want:    []int{math.MaxInt/2 + 1, math.MaxInt / 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitClasses(tt.classes, tt.users)
			if err != nil {
				t.Fatalf("SplitClasses: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("SplitClasses = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSplitClassesErrors(t *testing.T) {
	tests := []struct {
		name    string
		classes []Class
		users   int
		want    []string // substrings, one per joined error, in order
	}{
		{name: "no classes", users: 1, want: []string{"no user classes"}},
		{
			name:    "empty name",
			classes: []Class{{Name: "", Weight: 1}},
			want:    []string{"class 0: empty name"},
		},
		{
			name:    "duplicate name",
			classes: []Class{{Name: "a", Weight: 1}, {Name: "a", Weight: 2}},
			want:    []string{`class 1: duplicate name "a" (also class 0)`},
		},
		{
			name:    "negative weight",
			classes: []Class{{Name: "a", Weight: -1}},
			want:    []string{`class "a": weight -1`},
		},
		{
			name:    "negative fixed count",
			classes: []Class{{Name: "a", FixedCount: -2}},
			want:    []string{`class "a": fixed count -2`},
		},
		{
			name:    "negative users",
			classes: []Class{{Name: "a", Weight: 1}},
			users:   -1,
			want:    []string{"users -1"},
		},
		{
			name:    "all weights zero",
			classes: []Class{{Name: "a"}, {Name: "b"}},
			users:   1,
			want:    []string{"1 users left after fixed counts"},
		},
		{
			name:    "users left but only fixed classes",
			classes: []Class{{Name: "a", FixedCount: 2, Weight: 1}},
			users:   3,
			want:    []string{"1 users left after fixed counts"},
		},
		{
			name:    "weights overflow",
			classes: []Class{{Name: "a", Weight: math.MaxInt}, {Name: "b", Weight: 1}},
			users:   1,
			want:    []string{"sum of class weights overflows"},
		},
		{
			name:    "all at once",
			classes: []Class{{Name: "", Weight: -1}, {Name: "b", FixedCount: -1}, {Name: "b"}},
			users:   -5,
			want: []string{
				"users -5",
				"class 0: empty name",
				`class "": weight -1`,
				`class "b": fixed count -1`,
				`class 2: duplicate name "b"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitClasses(tt.classes, tt.users)
			if err == nil {
				t.Fatalf("SplitClasses = %v, want error", got)
			}
			if !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("error %v does not match ErrInvalidRequest", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("error has %d lines, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, want := range tt.want {
				if !strings.Contains(lines[i], want) {
					t.Errorf("error line %d = %q, want it to contain %q", i, lines[i], want)
				}
			}
		})
	}
}
