package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/pipeline/flow"
	"github.com/attributor/attributor/pipeline/sink"
	"github.com/attributor/attributor/schemas"
)

// fillStats is what a fill wrote.
type fillStats struct {
	conversions, versions, touchpoints int
	credited                           int64 // credited rows the sink acknowledged
	revenue                            int64 // total revenue of the conversions, micros
	seconds                            float64
	sample                             string // a re-attributed conversion's id, near the middle
}

// noDLQ stands in for the dead-letter topic: the generated rows are valid,
// so the sink never writes a dead letter; if it did, the fill fails.
type noDLQ struct{}

func (noDLQ) WriteMessages(context.Context, ...kafka.Message) error {
	return errors.New("the fill has no dead-letter topic: a generated row was refused")
}

// delayed is a later version of a conversion, credited some conversions
// after the first: late touchpoints arrive after the allowed lateness.
type delayed struct {
	due int // conversion index after which it is written
	c   genConv
	k   int // its version, 0-based
}

// fill writes cfg's conversions through the sink into db: per conversion
// its raw conversion row, its touchpoints (each when its version arrives)
// and its credited rows per version, as the attributor's shards hand them
// to the sink. Later versions follow their first after reDelay conversions.
func fill(ctx context.Context, conn driver.Conn, db string, cfg genConfig, flushRows, unitConvs, reDelay int, progress time.Duration) (fillStats, error) {
	eng, err := attribution.NewEngine(attribution.Config{})
	if err != nil {
		return fillStats{}, err
	}
	var models []string
	for _, m := range eng.Models() {
		models = append(models, m.Name())
	}
	st := &flow.Stats{}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s := sink.New(conn, noDLQ{}, sink.Config{Database: db, Shards: 1, FlushRows: flushRows, Logger: logger}.WithDefaults(), st)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(sctx) }()

	var (
		fs      fillStats
		seq     uint64
		u       = flow.GetUnit()
		res     attribution.Result
		vis     []attribution.Touchpoint
		queue   []delayed
		began   = time.Now()
		lastLog = began
		mid     = cfg.Conversions / 2
	)
	send := func() error {
		if u.Empty() {
			return nil
		}
		seq++
		if !s.Send(sctx, 0, seq, u) {
			return fmt.Errorf("sink stopped: %w", context.Cause(sctx))
		}
		u = flow.GetUnit()
		return nil
	}
	credit := func(c *genConv, k int) {
		vis = c.visible(k, vis[:0])
		conv := attribution.Conversion{ID: c.ID, TimeMs: c.TimeMs, RevenueMicros: c.Revenue}
		eng.Attribute(conv, vis, attribution.NoReset, &res)
		cr := &u.Credits
		cr.Models = models
		cr.Sets = append(cr.Sets, flow.CreditSet{
			ConversionID: c.ID, ConversionType: c.Type, UserKey: c.UserKey, Currency: "EUR",
			TimeMs: c.TimeMs, Version: c.Version(k),
			Path: uint32(len(cr.Path)), PathLen: uint32(len(res.Path)),
			Cells: uint32(len(cr.Cells)), CellsLen: uint32(len(res.Credits)),
		})
		cr.Path = append(cr.Path, res.Path...)
		for _, r := range res.Credits {
			cr.Cells = append(cr.Cells, flow.CreditCell{Fraction: r.Fraction, Revenue: r.RevenueMicros, Position: uint32(r.Position), Model: uint16(r.Model)})
		}
		// The touchpoints that arrived for this version: all but the late
		// ones for the first, then one late touchpoint per version.
		addTP := func(tp *attribution.Touchpoint) {
			inter := schemas.InteractionClick
			if tp.Impression {
				inter = schemas.InteractionImpression
			}
			u.TPs = append(u.TPs, flow.TPRow{TP: schemas.Touchpoint{EventID: tp.ID, UserID: c.UserKey, TimeMs: tp.TimeMs,
				Interaction: inter, Channel: tp.Channel, Source: tp.Source, Medium: tp.Medium, Campaign: tp.Campaign}, SessionStart: tp.TimeMs})
			fs.touchpoints++
		}
		if k == 0 {
			for i := range c.Path {
				if !slices.Contains(c.Late, i) {
					addTP(&c.Path[i])
				}
			}
			u.Convs = append(u.Convs, flow.ConvRow{CV: schemas.Conversion{EventID: c.ID, UserID: c.UserKey, TimeMs: c.TimeMs,
				ConversionType: c.Type, RevenueMicros: c.Revenue, Currency: "EUR"}})
		} else {
			addTP(&c.Path[c.Late[k-1]])
		}
		fs.versions++
	}
	for i := 0; i < cfg.Conversions; i++ {
		c := gen(cfg, i)
		fs.revenue += c.Revenue
		credit(&c, 0)
		if c.Versions() > 1 {
			queue = append(queue, delayed{due: i + reDelay, c: c, k: 1})
			if fs.sample == "" && i >= mid {
				fs.sample = c.ID
			}
		}
		for len(queue) > 0 && queue[0].due <= i {
			d := queue[0]
			queue = queue[1:]
			credit(&d.c, d.k)
			if d.k+1 < d.c.Versions() {
				queue = append(queue, delayed{due: i + reDelay, c: d.c, k: d.k + 1})
			}
		}
		if (i+1)%unitConvs == 0 {
			if err := send(); err != nil {
				return fs, err
			}
		}
		if progress > 0 && time.Since(lastLog) >= progress {
			lastLog = time.Now()
			fmt.Fprintf(os.Stderr, "queries: fill %d/%d conversions, %d credited rows acknowledged, %.0fs\n",
				i+1, cfg.Conversions, st.CreditedRows.Load(), time.Since(began).Seconds())
		}
	}
	for _, d := range queue { // the versions still due at the end
		for k := d.k; k < d.c.Versions(); k++ {
			credit(&d.c, k)
		}
	}
	fs.conversions = cfg.Conversions
	if err := send(); err != nil {
		return fs, err
	}
	flow.PutUnit(u)
	// A barrier returns once everything sent before it is durable.
	done := make(chan error, 1)
	select {
	case s.In <- sink.Msg{Barrier: done}:
	case err := <-runErr:
		return fs, fmt.Errorf("sink stopped: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			return fs, err
		}
	case err := <-runErr:
		return fs, fmt.Errorf("sink stopped: %v", err)
	}
	fs.seconds = time.Since(began).Seconds()
	fs.credited = st.CreditedRows.Load()
	if n := st.InsertErrors.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "queries: the sink retried %d failed inserts during the fill\n", n)
	}
	stop()
	<-runErr
	return fs, nil
}
