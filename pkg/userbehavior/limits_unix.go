//go:build unix

package userbehavior

import (
	"os"
	"syscall"
)

// openFileLimit is the process's soft RLIMIT_NOFILE, or 0 when it has none worth
// planning against.
func openFileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 || rl.Cur > 1<<30 {
		return 0
	}
	return int(rl.Cur)
}

// openFiles counts the process's open file descriptors, or -1 when it cannot.
func openFiles() int {
	for _, dir := range []string{"/proc/self/fd", "/dev/fd"} {
		f, err := os.Open(dir)
		if err != nil {
			continue
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err == nil {
			return len(names) - 1 // the directory itself was open while it was read
		}
	}
	return -1
}
