package schemas

import "fmt"

// FieldError reports why an event is unusable. It names the offending field
// (or "json" when the bytes are not a JSON object), so that dead letters and
// replay diagnostics say exactly what to fix. A FieldError is permanent:
// retrying the same bytes can never succeed.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
