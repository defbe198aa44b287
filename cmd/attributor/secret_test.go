package main

import (
	"os"
	"path/filepath"
	"strings"
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

// A _FILE naming something endless or huge is a clear error, read no
// further than the limit.
func TestSecretFileIsBounded(t *testing.T) {
	t.Setenv("ATTRIBUTOR_TEST_SECRET", "")
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, make([]byte, maxSecretFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{big, "/dev/zero"} {
		if _, err := os.Stat(path); err != nil {
			continue
		}
		t.Setenv("ATTRIBUTOR_TEST_SECRET_FILE", path)
		_, err := secret("ATTRIBUTOR_TEST_SECRET")
		if err == nil || !strings.Contains(err.Error(), "ATTRIBUTOR_TEST_SECRET_FILE: "+path+": larger than 65536 bytes") {
			t.Fatalf("%s: err %v", path, err)
		}
	}
}
