package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sizeUnits are the units a size may end with: GOMEMLIMIT's (powers of
// 1024) and their powers of 1000, so that "512MB" means what it says.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// parseSize reads a number of bytes: a non-negative integer with an
// optional unit, e.g. 536870912, 512MiB, 2GiB, 500MB.
func parseSize(s string) (int64, error) {
	num, mult := s, int64(1)
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseUint(num, 10, 63)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%q is too large", s)
		}
		return 0, fmt.Errorf("%q is not a size: want bytes, or an integer with B, KiB, MiB, GiB, TiB, KB, MB, GB or TB", s)
	}
	if n > uint64(math.MaxInt64/mult) {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(n) * mult, nil
}

// formatSize writes n in the largest power-of-1024 unit that divides it.
func formatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// sizeFlag is a flag.Value holding a size; set says whether the flag or its
// environment variable gave one.
type sizeFlag struct {
	n   int64
	set bool
}

func (f *sizeFlag) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	f.n, f.set = n, true
	return nil
}

func (f *sizeFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return formatSize(f.n)
}
