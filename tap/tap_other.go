//go:build !linux

package tap

// New returns ErrUnsupported: TAP devices are implemented on Linux only.
// The Config is still validated first, so bad input is reported as such.
func New(cfg Config) (*Device, error) {
	if _, err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	return nil, ErrUnsupported
}

func (d *Device) close() error {
	if d.file == nil {
		return nil
	}
	return d.file.Close()
}
