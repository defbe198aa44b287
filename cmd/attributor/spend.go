package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/attributor/attributor/pipeline"
	"github.com/attributor/attributor/schemas"
)

func init() {
	register("spend", "load ad spend exported from ad platforms: spend import FILE.csv", runSpend)
}

// spendOrigin marks the ad_spend rows that `spend import` wrote.
const spendOrigin = "import"

// maxBadRowsShown caps the invalid rows printed; the rest are counted.
const maxBadRowsShown = 100

func runSpend(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("spend import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := &envFlags{fs: fs}
	var (
		skipInvalid = e.Group("Import").fs.Bool("skip-invalid", false, "load the valid rows even when some are invalid (they are still reported)")
		dryRun      = fs.Bool("dry-run", false, "validate the file and print what would be loaded; do not connect to ClickHouse")
		rules       = e.String("channel-rules", "ATTRIBUTOR_CHANNEL_RULES", "", "channel grouping rules JSON `file` that derives a missing channel from source and medium (default: built-in grouping)")
		svc         = addServiceFlags(e)
	)
	fs.Usage = e.help(stdout, `usage: attributor spend import FILE.csv [flags]

Loads ad spend into the ad_spend table (origin 'import'). The header row names
the columns, in any order; unknown columns are ignored:
  date       YYYY-MM-DD (UTC day)                            required
  cost       amount in currency units, >= 0 (e.g. 1234.56)    required
  campaign   campaign name (may be empty)                     required
  channel    channel; derived from source and medium when empty
  source, medium, currency                                    optional
  event_id   id of the row; default: derived from (date, channel, source,
             medium, campaign, currency), so that importing a corrected
             file replaces the rows of the first import
Rows with the same derived id are added up. Invalid rows are reported with
their line numbers; unless --skip-invalid, any invalid row fails the import
(exit 1) and nothing is loaded.`)
	if len(args) == 0 {
		return exitUsage(fs, stderr, "spend", "missing subcommand (usage: attributor spend import FILE.csv [flags])")
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fs.Usage()
		return 0
	}
	if args[0] != "import" {
		return exitUsage(fs, stderr, "spend", fmt.Sprintf("unknown subcommand %q (want: spend import FILE.csv)", args[0]))
	}
	files, code, ok := parseArgs(fs, e, args[1:], stderr, "spend", true)
	if !ok {
		return code
	}
	if len(files) != 1 {
		return exitUsage(fs, stderr, "spend", "spend import takes one FILE.csv")
	}
	dec := schemas.NewDecoder(nil)
	if *rules != "" {
		b, err := readFileLimited(*rules, maxRulesFile)
		if err != nil {
			fmt.Fprintf(stderr, "attributor spend: channel-rules: %v\n", err)
			return 2
		}
		r, err := schemas.ParseChannelRules(b)
		if err != nil {
			fmt.Fprintf(stderr, "attributor spend: %s: %v\n", *rules, err)
			return 2
		}
		dec = schemas.NewDecoder(r)
	}
	chCfg, err := svc.clickHouseConfig()
	if err == nil {
		err = schemas.ValidIdentifier(chCfg.Database)
	}
	if err != nil {
		fmt.Fprintf(stderr, "attributor spend: %v\n", err)
		return 2
	}

	name := files[0]
	file, err := os.Open(name)
	if err != nil {
		fmt.Fprintf(stderr, "attributor spend: %v\n", err)
		return 1
	}
	imp, err := parseSpendCSV(&lineLimitReader{r: file, max: maxSpendLine}, dec)
	file.Close()
	if err != nil {
		fmt.Fprintf(stderr, "attributor spend: %s: %v\n", name, err)
		return 1
	}
	for i, b := range imp.bad {
		if i == maxBadRowsShown {
			fmt.Fprintf(stderr, "%s: ... and %d more invalid rows\n", name, len(imp.bad)-maxBadRowsShown)
			break
		}
		fmt.Fprintf(stderr, "%s:%d: %v\n", name, b.line, b.err)
	}
	if imp.merged > 0 {
		fmt.Fprintf(stderr, "%s: %d rows repeat the (date, channel, source, medium, campaign, currency) of an earlier row: their costs were added to it\n", name, imp.merged)
	}
	if len(imp.bad) > 0 && !*skipInvalid {
		fmt.Fprintf(stderr, "attributor spend: %s: %d invalid rows of %d; nothing loaded (fix them, or pass --skip-invalid to load the %d valid ones)\n",
			name, len(imp.bad), imp.read, imp.read-len(imp.bad))
		return 1
	}
	var total int64
	for _, r := range imp.rows {
		var ok bool
		if total, ok = addMicros(total, r.CostMicros, math.MaxInt64); !ok {
			fmt.Fprintf(stderr, "attributor spend: %s: the costs of the file add up to more than %s: out of range, nothing loaded\n", name, schemas.FormatMicros(math.MaxInt64))
			return 1
		}
	}
	summary := fmt.Sprintf("%d rows read, %d invalid, %d spend rows totalling %s", imp.read, len(imp.bad), len(imp.rows), schemas.FormatMicros(total))
	if *dryRun {
		fmt.Fprintf(stdout, "%s: %s; dry run: nothing loaded\n", name, summary)
		return 0
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn, err := pipeline.OpenClickHouse(ctx, chCfg)
	if err != nil {
		fmt.Fprintf(stderr, "attributor spend: %v\n", err)
		return 1
	}
	defer conn.Close()
	if err := pipeline.InsertSpend(ctx, conn, chCfg.Database, imp.rows, spendOrigin); err != nil {
		fmt.Fprintf(stderr, "attributor spend: %v\n(the table is created by: attributor migrate --database %s)\n", err, chCfg.Database)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s; loaded into %s.ad_spend (origin %s)\n", name, summary, chCfg.Database, spendOrigin)
	return 0
}

// maxSpendMicros is the largest cost one spend row may hold: the largest
// the ad_spend decoder accepts. Rows added up beyond it are invalid, so no
// sum can wrap around int64 (ten rows of 1e12 once did, to a negative).
const maxSpendMicros = int64(schemas.MaxRevenue * 1e6)

// maxSpendLine bounds one line of a spend file: a spend row is well under
// a kilobyte; a file without line breaks (say /dev/zero) fails at once
// instead of growing a buffer without limit.
const maxSpendLine = 64 << 10

// maxRulesFile bounds a channel rules file.
const maxRulesFile = 4 << 20

// addMicros returns a+b for a, b >= 0, and false when the sum exceeds max.
func addMicros(a, b, max int64) (int64, bool) {
	if b > max-a {
		return 0, false
	}
	return a + b, true
}

// lineLimitReader fails a read once a line runs longer than max bytes.
type lineLimitReader struct {
	r    io.Reader
	max  int
	run  int // bytes since the last line break
	line int // line breaks seen
}

func (l *lineLimitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for _, c := range p[:n] {
		if c == '\n' {
			l.run = 0
			l.line++
			continue
		}
		if l.run++; l.run > l.max {
			return 0, fmt.Errorf("line %d: longer than %d bytes: not a spend file (a row is one line of CSV)", l.line+1, l.max)
		}
	}
	return n, err
}

// badRow is an invalid row of a spend file.
type badRow struct {
	line int
	err  error
}

// spendImport is a parsed spend file.
type spendImport struct {
	rows   []schemas.AdSpend // valid rows, rows of one derived id added up
	bad    []badRow
	read   int // data rows read
	merged int // rows added to an earlier row with the same derived id
}

// spendColumns are the columns a spend file may have; the others are ignored.
var spendColumns = []string{"date", "channel", "source", "medium", "campaign", "cost", "currency", "event_id"}

// parseSpendCSV reads a spend file and validates every row with the rules
// of the ad_spend topic's decoder (schemas.Decoder.AdSpend). An error means
// the file as a whole is unusable (no header, a required column missing, a
// read error); invalid rows are returned in bad.
func parseSpendCSV(r io.Reader, dec *schemas.Decoder) (*spendImport, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("empty file: want a header row naming the columns (date, channel, campaign, cost, ...)")
	}
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	index := map[string]int{}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\uFEFF") // a byte-order mark, as spreadsheet exports write
		}
		h = strings.ToLower(strings.TrimSpace(h))
		for _, c := range spendColumns {
			if h != c {
				continue
			}
			if j, dup := index[h]; dup {
				return nil, fmt.Errorf("header: column %q twice (columns %d and %d)", h, j+1, i+1)
			}
			index[h] = i
		}
	}
	var missing []string
	for _, c := range []string{"date", "cost", "campaign"} {
		if _, ok := index[c]; !ok {
			missing = append(missing, c)
		}
	}
	_, hasChannel := index["channel"]
	_, hasSource := index["source"]
	_, hasMedium := index["medium"]
	if !hasChannel && !hasSource && !hasMedium {
		missing = append(missing, "channel (or source and medium to derive it from)")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("header: missing column %s (the header is %q)", strings.Join(missing, ", "), strings.Join(header, ","))
	}

	imp := &spendImport{}
	byID := map[string]int{}     // derived id -> index in imp.rows
	explicit := map[string]int{} // explicit event_id -> line
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, err
			}
			imp.read++
			imp.bad = append(imp.bad, badRow{pe.StartLine, pe.Err})
			continue
		}
		imp.read++
		if len(rec) != len(header) {
			imp.bad = append(imp.bad, badRow{line, fmt.Errorf("%d fields, the header has %d", len(rec), len(header))})
			continue
		}
		field := func(name string) string {
			if i, ok := index[name]; ok {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		s, err := decodeSpendRow(dec, field)
		if err != nil {
			imp.bad = append(imp.bad, badRow{line, err})
			continue
		}
		if s.EventID != "" {
			if first, dup := explicit[s.EventID]; dup {
				imp.bad = append(imp.bad, badRow{line, fmt.Errorf("event_id: %q is already on line %d", s.EventID, first)})
				continue
			}
			explicit[s.EventID] = line
			imp.rows = append(imp.rows, s)
			continue
		}
		s.EventID = spendID(&s)
		if i, ok := byID[s.EventID]; ok {
			sum, ok := addMicros(imp.rows[i].CostMicros, s.CostMicros, maxSpendMicros)
			if !ok {
				imp.bad = append(imp.bad, badRow{line, fmt.Errorf("cost: with the earlier rows of its (date, channel, source, medium, campaign, currency) it adds up to more than %s, the largest spend one row may hold",
					schemas.FormatMicros(maxSpendMicros))})
				continue
			}
			imp.rows[i].CostMicros = sum
			imp.merged++
			continue
		}
		byID[s.EventID] = len(imp.rows)
		imp.rows = append(imp.rows, s)
	}
	return imp, nil
}

// decimalRe is a plain decimal number: no hexadecimal, no "Inf" or "NaN".
var decimalRe = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// decodeSpendRow validates one row by handing it to the ad_spend decoder as
// the event the topic would carry. The returned row has an empty EventID
// when the file gives none.
func decodeSpendRow(dec *schemas.Decoder, field func(string) string) (schemas.AdSpend, error) {
	if field("channel") == "" && field("source") == "" && field("medium") == "" {
		return schemas.AdSpend{}, errors.New("channel: required (or source and medium to derive it from)")
	}
	costText := field("cost")
	if costText == "" {
		return schemas.AdSpend{}, errors.New("cost: required")
	}
	cost, err := strconv.ParseFloat(costText, 64)
	if !decimalRe.MatchString(costText) || err != nil && !errors.Is(err, strconv.ErrRange) {
		return schemas.AdSpend{}, fmt.Errorf("cost: not a number: %q (write 1234.56: a dot for decimals, no thousands separator)", costText)
	}
	if math.IsNaN(cost) || math.IsInf(cost, 0) {
		return schemas.AdSpend{}, fmt.Errorf("cost: must be finite, got %q", costText)
	}
	const placeholder = "import"
	event := map[string]any{"event_id": placeholder, "date": field("date"), "cost": cost}
	for _, k := range []string{"channel", "source", "medium", "campaign", "currency"} {
		event[k] = field(k)
	}
	if id := field("event_id"); id != "" {
		event["event_id"] = id
	}
	b, err := json.Marshal(event)
	if err != nil {
		return schemas.AdSpend{}, err
	}
	s, err := dec.AdSpend(b)
	if err != nil {
		return schemas.AdSpend{}, err
	}
	if field("event_id") == "" {
		s.EventID = ""
	}
	return s, nil
}

// spendID derives the event_id of an imported row from what identifies its
// spend: the same day, channel, source, medium, campaign and currency get
// the same id in every import, so that a corrected file replaces the rows
// of the first one.
func spendID(s *schemas.AdSpend) string {
	h := sha256.New()
	for _, v := range []string{s.Date.Format(time.DateOnly), s.Channel, s.Source, s.Medium, s.Campaign, s.Currency} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(v)))
		h.Write(n[:])
		h.Write([]byte(v))
	}
	return "import-" + hex.EncodeToString(h.Sum(nil)[:16])
}
