package script

import (
	"os"
	"path/filepath"
	"testing"
)

// A Kubernetes ConfigMap mounted as a directory holds symlinks into a hidden
// ..data directory; the bundle must follow them.
func TestLoadDirFollowsConfigMapSymlinks(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "..2026_11_25", "sub")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "..2026_11_25", "main.star"), []byte("def t(u):\n    pass\nA = user(tasks=[t])\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "..2026_11_25", "rows.csv"), []byte("id\n1\n"), 0o644)
	os.Symlink("..2026_11_25", filepath.Join(dir, "..data"))
	os.Symlink(filepath.Join("..data", "main.star"), filepath.Join(dir, "main.star"))
	os.Symlink(filepath.Join("..data", "rows.csv"), filepath.Join(dir, "rows.csv"))
	os.Symlink("..data/sub", filepath.Join(dir, "dirlink")) // a link to a directory is skipped
	b, err := LoadDir(filepath.Join(dir, "main.star"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Files) != 2 || b.Files["main.star"] == nil || b.Files["rows.csv"] == nil {
		t.Errorf("bundle files: %v", keys(b.Files))
	}
	if _, err := Compile(b, Options{}); err != nil {
		t.Errorf("compile: %v", err)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
