//go:build !linux

package store

// releaseMapped does nothing here: madvise(MADV_DONTNEED) on a shared file
// mapping only has the meaning it relies on under Linux.
func (db *DB) releaseMapped() error { return nil }
