package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// groupKey is the flag annotation that files a flag under a help topic.
const groupKey = "stampede_group"

// Group is a topic of a command's flags in its help, with an example line.
type Group struct {
	Name    string   // "load"
	Title   string   // "Load: how many users, how fast, how long"
	Example string   // one command line that uses the topic's flags
	Flags   []string // long names, in the order they are listed
}

// SetGroups files cmd's flags under groups and makes its help list them topic by
// topic. It returns an error naming every flag of cmd in no group, or in a group but
// not defined, so a new flag cannot be left out of the help.
func SetGroups(cmd *cobra.Command, groups []Group) error {
	fs := cmd.Flags()
	var problems []string
	seen := map[string]string{}
	for _, g := range groups {
		for _, name := range g.Flags {
			if fs.Lookup(name) == nil {
				problems = append(problems, fmt.Sprintf("group %s names --%s, which %s lacks", g.Name, name, cmd.Name()))
				continue
			}
			if prev, ok := seen[name]; ok {
				problems = append(problems, fmt.Sprintf("--%s is in groups %s and %s", name, prev, g.Name))
			}
			seen[name] = g.Name
			_ = fs.SetAnnotation(name, groupKey, []string{g.Name})
		}
	}
	fs.VisitAll(func(f *pflag.Flag) {
		if _, ok := seen[f.Name]; !ok && f.Name != "help" {
			problems = append(problems, fmt.Sprintf("--%s of %s is in no help group", f.Name, cmd.Name()))
		}
	})
	cmd.SetUsageFunc(func(c *cobra.Command) error {
		if c != cmd { // a sub-command inherits the usage function
			groups = nil
		}
		writeUsage(c.OutOrStderr(), c, groups)
		return nil
	})
	if len(problems) > 0 {
		return fmt.Errorf("flag groups: %s", strings.Join(problems, "; "))
	}
	return nil
}

// SetHelp gives root and every command below it the house help layout: usage line,
// examples, sub-commands, then the flags (by topic where SetGroups was called).
func SetHelp(root *cobra.Command) {
	root.SetUsageFunc(func(c *cobra.Command) error {
		writeUsage(c.OutOrStderr(), c, nil)
		return nil
	})
}

func writeUsage(w io.Writer, c *cobra.Command, groups []Group) {
	var b strings.Builder
	b.WriteString("Usage:\n")
	if c.Runnable() {
		fmt.Fprintf(&b, "  %s\n", c.UseLine())
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(&b, "  %s [command]\n", c.CommandPath())
	}
	if c.HasExample() {
		fmt.Fprintf(&b, "\nExamples:\n%s\n", c.Example)
	}
	if c.HasAvailableSubCommands() {
		b.WriteString("\nCommands:\n")
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				fmt.Fprintf(&b, "  %-*s %s\n", sub.NamePadding(), sub.Name(), sub.Short)
			}
		}
	}
	if len(groups) > 0 {
		for _, g := range groups {
			set := pflag.NewFlagSet(g.Name, pflag.ContinueOnError)
			set.SortFlags = false
			for _, name := range g.Flags {
				if f := c.Flags().Lookup(name); f != nil {
					set.AddFlag(f)
				}
			}
			fmt.Fprintf(&b, "\n%s\n", g.Title)
			if g.Example != "" {
				fmt.Fprintf(&b, "  e.g. %s\n", g.Example)
			}
			b.WriteString(set.FlagUsages())
		}
		if h := c.Flags().Lookup("help"); h != nil {
			set := pflag.NewFlagSet("help", pflag.ContinueOnError)
			set.AddFlag(h)
			b.WriteString("\n" + set.FlagUsages())
		}
	} else if c.HasAvailableLocalFlags() {
		fmt.Fprintf(&b, "\nFlags:\n%s", c.LocalFlags().FlagUsages())
	}
	switch {
	case c.Flags().Lookup("config") != nil:
		fmt.Fprintf(&b, "\nA flag can also be set as %sNAME (--spawn-rate: %sSPAWN_RATE) or in the --config file;\nthe command line wins over the environment, which wins over the file.\n", EnvPrefix, EnvPrefix)
	case envFlags(c):
		fmt.Fprintf(&b, "\nA flag can also be set as %sNAME (--db: %sDB); the command line wins.\n", EnvPrefix, EnvPrefix)
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(&b, "\nUse \"%s [command] --help\" for more about a command.\n", c.CommandPath())
	}
	io.WriteString(w, b.String())
}

// GroupOf is the help topic SetGroups filed a flag under ("" for none).
func GroupOf(f *pflag.Flag) string {
	if g := f.Annotations[groupKey]; len(g) > 0 {
		return g[0]
	}
	return ""
}

// Flags is every long flag name of the tree below root (root included), sorted.
func Flags(root *cobra.Command) []string {
	var names []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	slices.Sort(names)
	return slices.Compact(names)
}

// envFlags reports whether c reads flags of its own from the environment (see
// ApplyEnv): every command but completion's and those with only --help.
func envFlags(c *cobra.Command) bool {
	for p := c; p != nil; p = p.Parent() {
		if p.Name() == "completion" {
			return false
		}
	}
	n := 0
	c.LocalFlags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" {
			n++
		}
	})
	return n > 0
}
