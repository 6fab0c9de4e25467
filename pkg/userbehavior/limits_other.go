//go:build !unix

package userbehavior

// openFileLimit is 0: no open-file limit to plan against on this system.
func openFileLimit() int { return 0 }

// openFiles is -1: not known on this system.
func openFiles() int { return -1 }
