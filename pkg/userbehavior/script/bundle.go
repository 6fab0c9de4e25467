package script

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// Bundle is a script and the files beside it: what the master validates and ships to
// every worker.
type Bundle struct {
	Main  string            // slash path of the main script within Files
	Files map[string][]byte // slash paths relative to the main script's directory
}

// MaxBundleBytes caps the total size of a bundle's files.
const MaxBundleBytes = 16 << 20

// LoadDir reads the script at mainPath and every regular file under its directory,
// recursively, skipping dot-files and dot-directories. It fails when the files
// together exceed MaxBundleBytes (naming the total and the largest files) or when a
// .star file is not UTF-8.
func LoadDir(mainPath string) (Bundle, error) {
	root := filepath.Dir(mainPath)
	mainRel, err := filepath.Rel(root, mainPath)
	if err != nil {
		return Bundle{}, err
	}
	b := Bundle{Main: filepath.ToSlash(mainRel), Files: map[string][]byte{}}
	if fi, err := os.Stat(mainPath); err != nil {
		return Bundle{}, fmt.Errorf("script: %w", err)
	} else if !fi.Mode().IsRegular() {
		return Bundle{}, fmt.Errorf("script %s is not a regular file", mainPath)
	}
	type sized struct {
		name string
		size int64
	}
	var files []sized
	var total int64
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			// A symlink to a regular file counts (a Kubernetes ConfigMap mounted as a
			// directory is made of them); to a directory or nothing, it does not.
			if fi, err = os.Stat(p); err != nil || !fi.Mode().IsRegular() {
				return nil
			}
		} else if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		files = append(files, sized{filepath.ToSlash(rel), fi.Size()})
		total += fi.Size()
		return nil
	})
	if err != nil {
		return Bundle{}, fmt.Errorf("read script bundle %s: %w", root, err)
	}
	if total > MaxBundleBytes {
		sort.Slice(files, func(i, j int) bool {
			if files[i].size != files[j].size {
				return files[i].size > files[j].size
			}
			return files[i].name < files[j].name
		})
		var big []string
		for _, f := range files[:min(3, len(files))] {
			big = append(big, fmt.Sprintf("%s (%s)", f.name, byteSize(f.size)))
		}
		return Bundle{}, fmt.Errorf("script bundle %s is %s, over the limit of %s; largest files: %s",
			root, exactSize(total), exactSize(MaxBundleBytes), strings.Join(big, ", "))
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f.name)))
		if err != nil {
			return Bundle{}, fmt.Errorf("read script bundle: %w", err)
		}
		b.Files[f.name] = data
	}
	if err := b.check(); err != nil {
		return Bundle{}, err
	}
	return b, nil
}

// Size is the total size of the bundle's files.
func (b Bundle) Size() int64 {
	var n int64
	for _, data := range b.Files {
		n += int64(len(data))
	}
	return n
}

// check validates what LoadDir guarantees, for bundles that came another way (over
// the wire): the cap, the main script, clean relative names, UTF-8 scripts.
func (b Bundle) check() error {
	var p problems
	if n := b.Size(); n > MaxBundleBytes {
		p.add(filePos(""), "script bundle is %s, over the limit of %s", exactSize(n), exactSize(MaxBundleBytes))
	}
	if _, ok := b.Files[b.Main]; !ok {
		p.add(filePos(""), "script bundle has no main script %q", b.Main)
	}
	for name, data := range b.Files {
		if !validName(name) {
			p.add(filePos(""), "script bundle file name %q is not a clean relative path", name)
			continue
		}
		if strings.HasSuffix(name, ".star") && !utf8.Valid(data) {
			line, col := firstInvalidUTF8(data)
			p.add(syntaxPos(name, line, col), "file is not valid UTF-8")
		}
	}
	return p.errors()
}

func validName(name string) bool {
	return name != "" && fs.ValidPath(name) && path.Clean(name) == name
}

// firstInvalidUTF8 is the line and column (in bytes, from 1) of the first byte
// that is not UTF-8.
func firstInvalidUTF8(data []byte) (line, col int) {
	line, col = 1, 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size <= 1 {
			return line, col
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col += size
		}
		data = data[size:]
	}
	return line, col
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func exactSize(n int64) string {
	if n < 1<<10 {
		return byteSize(n)
	}
	return fmt.Sprintf("%d bytes (%s)", n, byteSize(n))
}
