package main

import (
	"log/slog"
	"math"
	"runtime/debug"
)

// applyMemoryLimit sets the Go runtime's soft memory limit to --memory-limit
// when it was given (it then overrides GOMEMLIMIT, which the runtime read at
// start), and logs the limit in force and where it came from.
func applyMemoryLimit(f *sizeFlag, log *slog.Logger) (limit int64, source string) {
	if f.set {
		debug.SetMemoryLimit(f.n)
		limit, source = f.n, "memory-limit"
	} else if limit = debug.SetMemoryLimit(-1); limit != math.MaxInt64 {
		source = "GOMEMLIMIT"
	} else {
		limit, source = 0, "none"
	}
	if limit == 0 {
		log.Info("memory limit: none; the heap may grow to twice the live heap (GOGC)")
	} else {
		log.Info("memory limit", "limit", formatSize(limit), "bytes", limit, "from", source)
	}
	return limit, source
}
