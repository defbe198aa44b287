package main

import (
	"log/slog"
	"math"
	"os"
	"runtime/debug"
)

// limitedGCPercent is the GC's target with a memory limit in force and no
// GOGC set: the heap may grow to three times the live heap instead of
// twice between two collections, so the collector runs half as often
// (about 5% of the attributor's CPU per event in the throughput
// benchmark, docs/BENCHMARKS.md), and near the limit the limit governs
// as before. Without a limit it is not applied: nothing would then bound
// the extra heap.
const limitedGCPercent = 200

// applyMemoryLimit sets the Go runtime's soft memory limit to --memory-limit
// when it was given (it then overrides GOMEMLIMIT, which the runtime read at
// start), and logs the limit in force and where it came from. With a limit
// in force and GOGC not set in the environment, it sets the GC's target to
// limitedGCPercent; gcPercent is the target in force either way.
func applyMemoryLimit(f *sizeFlag, log *slog.Logger) (limit int64, source string, gcPercent int) {
	if f.set {
		debug.SetMemoryLimit(f.n)
		limit, source = f.n, "memory-limit"
	} else if limit = debug.SetMemoryLimit(-1); limit != math.MaxInt64 {
		source = "GOMEMLIMIT"
	} else {
		limit, source = 0, "none"
	}
	gcPercent = debug.SetGCPercent(-1) // reads it (and turns the GC off until the line below)
	debug.SetGCPercent(gcPercent)
	gogc, gogcSet := os.LookupEnv("GOGC")
	if limit != 0 && !gogcSet {
		debug.SetGCPercent(limitedGCPercent)
		gcPercent = limitedGCPercent
	}
	switch {
	case limit == 0:
		log.Info("memory limit: none; the heap may grow to twice the live heap (GOGC)", "gc_percent", gcPercent)
	case gogcSet:
		log.Info("memory limit", "limit", formatSize(limit), "bytes", limit, "from", source, "gc_percent", gcPercent, "gc_percent_from", "GOGC="+gogc)
	default:
		log.Info("memory limit; the heap may grow to three times the live heap below it (GOGC not set)", "limit", formatSize(limit), "bytes", limit, "from", source, "gc_percent", gcPercent)
	}
	return limit, source, gcPercent
}
