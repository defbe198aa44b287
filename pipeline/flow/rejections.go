package flow

import (
	"errors"
	"log/slog"
	"sort"
	"sync"

	"github.com/attributor/attributor/schemas"
)

// Rejections counts dead-lettered events per reason and logs the first few
// of each reason with where they came from, so that why events are rejected
// shows in the run's own output, not only in the dead-letter topic.
type Rejections struct {
	mu     sync.Mutex
	counts map[string]int64
	Log    *slog.Logger
	Limit  int // first rejections logged per reason; <= 0: none
}

// ReasonCount is how many events were rejected for one reason.
type ReasonCount struct {
	Reason string // the dead-letter reason, and for invalid events the field at fault: "invalid timestamp"
	Count  int64
}

// RejectionReason is the reason as counted: the dead-letter reason, and for
// an invalid event the field its error names.
func RejectionReason(reason string, err error) string {
	var fe *schemas.FieldError
	if reason == ReasonInvalid && errors.As(err, &fe) {
		return reason + " " + fe.Field
	}
	return reason
}

// Record counts one rejection and logs it while its reason has been
// logged fewer than limit times. Safe for concurrent use; nil-safe.
func (r *Rejections) Record(reason, topic string, partition int, offset int64, msg string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	if r.counts == nil {
		r.counts = map[string]int64{}
	}
	r.counts[reason]++
	n := r.counts[reason]
	r.mu.Unlock()
	if r.Log == nil || int64(r.Limit) < n {
		return
	}
	// slog quotes values holding control characters; msg is SafeText
	// already, as every dead-letter error is.
	r.Log.Warn("event rejected (sent to the dead-letter topic)", "reason", reason, "topic", topic, "partition", partition, "offset", offset, "error", msg)
	if int64(r.Limit) == n {
		r.Log.Warn("further rejections for this reason are counted in the summary, not logged", "reason", reason, "logged", n)
	}
}

// Counts returns the counts, largest first.
func (r *Rejections) Counts() []ReasonCount {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	out := make([]ReasonCount, 0, len(r.counts))
	for k, v := range r.counts {
		out = append(out, ReasonCount{k, v})
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Reason < out[j].Reason
	})
	return out
}
