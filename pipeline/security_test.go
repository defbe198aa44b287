package pipeline

import (
	"strings"
	"testing"
)

// A ClickHouse password that is wrong must not show in the error.
func TestClickHousePasswordNotInErrors(t *testing.T) {
	cfg := Config{ClickHouse: ClickHouseConfig{Addr: "127.0.0.1:1", Password: "s3cret-pw"}}.WithDefaults()
	cfg.ClickHouse.DialTimeout = 200_000_000
	_, err := OpenClickHouse(t.Context(), cfg.ClickHouse)
	if err == nil {
		t.Fatal("connecting to 127.0.0.1:1 succeeded")
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("the error shows the password: %v", err)
	}
}
