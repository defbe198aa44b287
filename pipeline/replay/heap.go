package replay

import "github.com/attributor/attributor/schemas"

// pendingConv is a conversion waiting for the watermark.
type pendingConv struct {
	conv schemas.Conversion
	user *user
}
