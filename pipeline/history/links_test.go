package history_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attributor/attributor/pipeline/history"
	"github.com/attributor/attributor/pipeline/migrate"
	"github.com/attributor/attributor/pipeline/pipelinetest"
	"github.com/attributor/attributor/schemas"
)

// LoadLinks returns the links of the homes asked for, each once: a link
// the sink wrote twice (a retried write) is returned once; no homes, no
// links.
func TestLoadLinksOfHomes(t *testing.T) {
	env := pipelinetest.New(t, pipelinetest.Options{NoTopics: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := migrate.Migrate(ctx, env.CH, env.Database); err != nil {
		t.Fatal(err)
	}
	ms := time.Date(2026, 11, 27, 9, 20, 0, 0, time.UTC).UnixMilli()
	links := []struct {
		link   schemas.Link
		home   int32
		origin string
	}{
		{schemas.Link{AnonymousID: "anon-7", UserID: "u1", EventID: "id-1", TimeMs: ms}, 2, "identity"},
		{schemas.Link{AnonymousID: "anon-7", UserID: "u2", EventID: "tp-9", TimeMs: ms + 1000}, 2, "event"}, // a conflict
		{schemas.Link{AnonymousID: "anon-8", UserID: "u3", EventID: "cv-1", TimeMs: ms + 2000}, 1, "event"},
		{schemas.Link{AnonymousID: "anon-9", UserID: "u4", EventID: "id-2", TimeMs: ms + 3000}, 0, "identity"},
	}
	for _, rows := range [][]int{{0, 1, 2, 3}, {0}} { // the second insert: a retried write of the first link
		b, err := env.CH.PrepareBatch(ctx, "INSERT INTO "+env.Database+".links (anonymous_id, user_id, ts_ms, event_id, home, origin)")
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range rows {
			l := links[i]
			if err := b.Append(l.link.AnonymousID, l.link.UserID, l.link.TimeMs, l.link.EventID, l.home, l.origin); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	loaded, err := history.LoadLinks(ctx, env.CH, env.Database, []int32{2, 0})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(loaded, func(x, y schemas.Link) int { return strings.Compare(x.EventID, y.EventID) })
	if wantL := []schemas.Link{links[0].link, links[3].link, links[1].link}; !slices.Equal(loaded, wantL) {
		t.Errorf("LoadLinks(homes 2, 0):\n%+v\nwant\n%+v", loaded, wantL)
	}
	if none, err := history.LoadLinks(ctx, env.CH, env.Database, nil); err != nil || none != nil {
		t.Errorf("LoadLinks of no homes: %v, %v; want nothing", none, err)
	}
}
