package flow

import (
	"github.com/attributor/attributor/attribution"
	"github.com/attributor/attributor/schemas"
)

// History is what the store holds of some users: touchpoints and the
// conversions already attributed.
type History struct {
	Touchpoints map[string][]attribution.Touchpoint
	Conversions map[string][]schemas.Conversion
}
