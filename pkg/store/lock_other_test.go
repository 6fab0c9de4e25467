//go:build !unix

package store

import "os"

func tryLock(*os.File) error { return nil }
