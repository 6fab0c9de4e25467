//go:build linux

package store

import (
	"fmt"
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// releaseMapped drops the file's pages from this process's page tables
// (madvise MADV_DONTNEED). bbolt reads the file through a shared, read-only
// mapping, and every page a transaction reads stays counted in the process's
// resident memory until the mapping is replaced; over a long run that becomes
// the whole file, and the master's RSS grows with its store. The pages stay in
// the kernel's page cache: the next read faults them back in from the same
// file, so nothing is lost and no data changes.
func (db *DB) releaseMapped() error {
	// A read transaction holds bbolt's mapping in place (a remap waits for it).
	return db.bolt.View(func(tx *bolt.Tx) error {
		if size := uintptr(tx.Size()); size > 0 {
			if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, db.bolt.Info().Data, size, syscall.MADV_DONTNEED); errno != 0 {
				return fmt.Errorf("madvise: %w", errno)
			}
		}
		return nil
	})
}
