package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSecretFromEnvOrFile(t *testing.T) {
	t.Setenv("ATTRIBUTOR_TEST_SECRET", "from-env")
	if v, err := secret("ATTRIBUTOR_TEST_SECRET"); err != nil || v != "from-env" {
		t.Fatalf("secret from the variable = %q, %v", v, err)
	}
	t.Setenv("ATTRIBUTOR_TEST_SECRET", "")
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ATTRIBUTOR_TEST_SECRET_FILE", file)
	if v, err := secret("ATTRIBUTOR_TEST_SECRET"); err != nil || v != "from-file" {
		t.Fatalf("secret from the _FILE = %q, %v; want the file's content without its newline", v, err)
	}
	t.Setenv("ATTRIBUTOR_TEST_SECRET_FILE", filepath.Join(t.TempDir(), "missing"))
	if _, err := secret("ATTRIBUTOR_TEST_SECRET"); err == nil {
		t.Fatal("a _FILE that does not exist is not an error")
	}
}
