package rendezvous

import "errors"

// ErrInvalidConfig is wrapped by every error New returns for a Config it
// rejects before binding anything.
var ErrInvalidConfig = errors.New("rendezvous: invalid config")
