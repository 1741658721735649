// Package state keeps what a node was told through its API, so that it
// survives a restart: one JSON file, state.json in the node's data dir,
// with a section per feature (networks, policy, services, forwards, the
// address book, names). Each feature owns its section's Go type; this
// package only stores sections, whole, and never loses one it was given:
// every Put writes the whole file atomically (a temporary file, fsync,
// rename, fsync of the directory), so a crash or a kill -9 leaves either
// the old file or the new one.
//
// A file that cannot be read or parsed is an error that names it; it is
// never replaced silently.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// FileName is the state file's name in the data dir.
const FileName = "state.json"

// version is the file format's version.
const version = 1

// file is the state file's shape.
type file struct {
	Version  int                        `json:"version"`
	Sections map[string]json.RawMessage `json:"sections"`
}

// Store is a node's state file.
type Store struct {
	path string

	mu       sync.Mutex
	sections map[string]json.RawMessage
}

// ErrCorrupt wraps a state file that exists but cannot be used.
var ErrCorrupt = errors.New("state file unreadable")

// Open reads the state file in dir, or starts an empty one when there is
// none yet (it is written at the first Put).
func Open(dir string) (*Store, error) {
	s := &Store{path: filepath.Join(dir, FileName), sections: map[string]json.RawMessage{}}
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("state: %w: %w", ErrCorrupt, err)
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("state: %w: %s: %w (move it away to start afresh)", ErrCorrupt, s.path, err)
	}
	if f.Version != version {
		return nil, fmt.Errorf("state: %w: %s: version %d, this reachd reads %d", ErrCorrupt, s.path, f.Version, version)
	}
	if f.Sections != nil {
		s.sections = f.Sections
	}
	return s, nil
}

// Path is the state file's path.
func (s *Store) Path() string { return s.path }

// Get reads section name into v; false when the file has no such
// section. A section that does not decode into v is an error naming the
// file and the section.
func (s *Store) Get(name string, v any) (bool, error) {
	s.mu.Lock()
	raw, ok := s.sections[name]
	s.mu.Unlock()
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("state: %w: %s: section %q: %w", ErrCorrupt, s.path, name, err)
	}
	return true, nil
}

// Put replaces section name with v and writes the file before it
// returns: what Put acknowledged survives a crash.
func (s *Store) Put(name string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("state: section %q: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.sections[name]
	s.sections[name] = raw
	if err := s.writeLocked(); err != nil {
		if had {
			s.sections[name] = old
		} else {
			delete(s.sections, name)
		}
		return err
	}
	return nil
}

// writeLocked writes the whole file atomically; s.mu is held.
func (s *Store) writeLocked() error {
	b, err := json.MarshalIndent(file{Version: version, Sections: s.sections}, "", "  ")
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, FileName+".*.tmp")
	if err != nil {
		return fmt.Errorf("state: write %s: %w", s.path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing to remove
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("state: write %s: %w", s.path, err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("state: write %s: %w", s.path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("state: write %s: %w", s.path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("state: write %s: %w", s.path, err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("state: write %s: %w", s.path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // make the new name durable; best effort
		d.Close()
	}
	return nil
}
