package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The command line is the standard flag package plus this thin layer
// (see envFlags): a flag error is one line and a pointer to --help, exit 2;
// --help prints the flags grouped, as --flag, on stdout; durations take days.

// durationValue is a flag.Value of a duration that also takes days.
type durationValue time.Duration

func (d *durationValue) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

func (d *durationValue) String() string {
	if d == nil {
		return ""
	}
	return formatDuration(time.Duration(*d))
}

func (d *durationValue) Get() any { return time.Duration(*d) }

// dayUnit is a number of days inside a duration: the 30 of "30d", the 1.5
// of "1.5d12h".
var dayUnit = regexp.MustCompile(`([0-9]*\.?[0-9]+)d`)

// parseDuration reads a Go duration (90s, 15m, 12h, 1h30m) in which d
// counts days of 24 hours: 30d, 1d12h, 1.5d. A day is always 24 hours: the
// windows are in event time, which is UTC.
func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	var bad bool
	t = dayUnit.ReplaceAllStringFunc(t, func(m string) string {
		days, err := strconv.ParseFloat(strings.TrimSuffix(m, "d"), 64)
		if err != nil || days*24 > math.MaxInt64/float64(time.Hour) {
			bad = true
			return m
		}
		return strconv.FormatFloat(days*24, 'f', -1, 64) + "h"
	})
	d, err := time.ParseDuration(t)
	if bad || err != nil {
		return 0, fmt.Errorf("%q is not a duration: write a number and a unit (s, m, h, d), e.g. 90s, 15m, 12h, 30d or 1d12h", s)
	}
	return d, nil
}

// formatDuration writes d the way parseDuration reads it, shortest first:
// 30d, 1d12h, 5m, 250ms.
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	days := d / (24 * time.Hour)
	rest := d % (24 * time.Hour)
	s := ""
	if days > 0 {
		s = strconv.FormatInt(int64(days), 10) + "d"
	}
	if rest > 0 {
		r := rest.String() // 12h0m0s, 5m0s, 1h30m0s, 250ms, 1.5s
		if strings.HasSuffix(r, "m0s") {
			r = strings.TrimSuffix(r, "0s")
		}
		if strings.HasSuffix(r, "h0m") {
			r = strings.TrimSuffix(r, "0m")
		}
		s += r
	}
	return sign + s
}

// dayDurations makes the duration flags registered straight on fs (fs.Duration)
// take days too, by parsing with parseDuration and handing the result on.
func dayDurations(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		g, ok := f.Value.(flag.Getter)
		if _, ours := f.Value.(*durationValue); !ok || ours {
			return
		}
		if _, isDur := g.Get().(time.Duration); isDur {
			f.Value = stdDuration{g}
		}
	})
}

type stdDuration struct{ flag.Getter }

func (s stdDuration) Set(v string) error {
	d, err := parseDuration(v)
	if err != nil {
		return err
	}
	return s.Getter.Set(d.String())
}

func (s stdDuration) String() string {
	if d, ok := s.Get().(time.Duration); ok {
		return formatDuration(d)
	}
	return s.Getter.String()
}

// help returns a flag.FlagSet Usage that prints header, then the flags of
// e grouped, to w (stdout: `attributor run --help | less` works).
func (e *envFlags) help(w io.Writer, header string) func() {
	return func() {
		if c, ok := w.(*flagCollector); ok {
			c.e = e
			return
		}
		fmt.Fprintln(w, strings.TrimRight(header, "\n"))
		e.printFlags(w)
	}
}

// flagCollector is a writer the completion passes as stdout with --help:
// the command's help then hands over its flags instead of printing them.
type flagCollector struct {
	io.Writer
	e *envFlags
}

// printFlags writes the flags by group, in the order of the Group calls,
// "Other" last; within a group alphabetically (the flag package keeps no
// order of registration).
func (e *envFlags) printFlags(w io.Writer) {
	e.sweep()
	dayDurations(e.fs)
	byGroup := map[string][]*flag.Flag{}
	e.fs.VisitAll(func(f *flag.Flag) {
		g := e.groups[f.Name]
		if g == "" {
			g = "Other"
		}
		byGroup[g] = append(byGroup[g], f)
	})
	var order []string
	for _, g := range append(slices.Clone(e.seq), "Other") {
		if len(byGroup[g]) > 0 && !slices.Contains(order, g) {
			order = append(order, g)
		}
	}
	for _, g := range order {
		fmt.Fprintf(w, "\n%s:\n", g)
		for _, f := range byGroup[g] {
			e.printFlag(w, f)
		}
	}
}

func (e *envFlags) printFlag(w io.Writer, f *flag.Flag) {
	name, usage := flag.UnquoteUsage(f)
	switch f.Value.(type) {
	case *durationValue, stdDuration:
		if name == "value" {
			name = "duration"
		}
	}
	if isBool(f) {
		name = ""
	} else {
		name = strings.ToUpper(name)
	}
	line := "  --" + f.Name
	if name != "" {
		line += " " + name
	}
	var notes []string
	if def := defaultText(f); def != "" {
		notes = append(notes, "default "+def)
	}
	if env := e.envs[f.Name]; env != "" {
		notes = append(notes, "env "+env)
	}
	if len(notes) > 0 {
		usage += " [" + strings.Join(notes, "; ") + "]"
	}
	fmt.Fprintln(w, line)
	for _, l := range wrap(usage, 72) {
		fmt.Fprintln(w, "        "+l)
	}
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// defaultText is the default of f as the help shows it; "" for a zero value.
func defaultText(f *flag.Flag) string {
	def := f.DefValue
	if g, ok := f.Value.(flag.Getter); ok {
		if _, ok := g.Get().(time.Duration); ok {
			d, err := parseDuration(def) // "30d", or the flag package's "24h0m0s"
			if err != nil || d == 0 {
				return ""
			}
			return formatDuration(d)
		}
	}
	switch def {
	case "", "0", "false", "0s":
		return ""
	}
	return def
}

// wrap breaks s into lines of at most width runes, at spaces.
func wrap(s string, width int) []string {
	var lines []string
	var cur strings.Builder
	for _, word := range strings.Fields(s) {
		if cur.Len() > 0 && cur.Len()+1+len(word) > width {
			lines = append(lines, cur.String())
			cur.Reset()
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(word)
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}

// parseArgs parses args with fs. With interspersed, flags may come before,
// between or after positional arguments, which it returns. On --help it
// prints the help (fs.Usage) and returns code 0 and ok false; on a flag
// error it prints the error and one line pointing at --help, code 2.
func parseArgs(fs *flag.FlagSet, e *envFlags, args []string, stderr io.Writer, name string, interspersed bool) (pos []string, code int, ok bool) {
	help := fs.Usage
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	defer func() { fs.Usage = help }()
	if e != nil {
		e.sweep()
	}
	dayDurations(fs)
	var err error
	if interspersed {
		pos, err = parseInterspersed(fs, args)
	} else if err = fs.Parse(args); err == nil {
		pos = fs.Args()
	}
	if errors.Is(err, flag.ErrHelp) {
		help()
		return nil, 0, false
	}
	if err != nil {
		return nil, exitUsage(fs, stderr, name, flagError(err)), false
	}
	if e != nil && len(e.errs) > 0 {
		fmt.Fprintf(stderr, "attributor %s: invalid environment:\n  %s\n", name, strings.Join(e.errs, "\n  "))
		return nil, 2, false
	}
	return pos, 0, true
}

// flagError rewrites the flag package's messages with --flag, as the help
// and the README spell flags.
func flagError(err error) string {
	s := err.Error()
	for _, p := range []string{"flag provided but not defined: -", "flag needs an argument: -", " for flag -", "bad flag syntax: -"} {
		if i := strings.Index(s, p); i >= 0 && !strings.HasPrefix(s[i+len(p):], "-") {
			s = s[:i+len(p)] + "-" + s[i+len(p):]
		}
	}
	return s
}

// usageHint is the line under a usage error.
func usageHint(name string) string {
	return fmt.Sprintf("Run 'attributor %s --help' for usage.", name)
}
