package catalog

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/controls-reference.md from the catalog")

// TestControlsReference: the committed controls reference is what the generator makes of the
// embedded catalog. Run `make docs` (this test with -update) after editing the catalog.
func TestControlsReference(t *testing.T) {
	controls, err := embedded()
	if err != nil {
		t.Fatal(err)
	}
	got := Reference(controls)
	path := filepath.Join("..", "..", "..", filepath.FromSlash(ReferencePath))
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it with make docs)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the catalog generates: run make docs and commit the result", ReferencePath)
	}
	// Every control has its section and its row.
	for _, c := range controls {
		if !bytes.Contains(got, []byte("\n## "+c.ID+"\n")) || !bytes.Contains(got, []byte("| ["+c.ID+"](#")) {
			t.Errorf("%s: no section or index row", c.ID)
		}
	}
}
