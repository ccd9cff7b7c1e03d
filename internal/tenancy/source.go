package tenancy

import (
	"bytes"
	"context"
	"os"
	"sync/atomic"
	"time"
)

// Source serves the current policy of a file and re-reads it when it
// changes (a mounted ConfigMap is swapped atomically by the kubelet). A file
// that stops parsing keeps the last good policy in force: a typo never
// widens access, and never locks everyone out either.
type Source struct {
	path    string
	current atomic.Pointer[Policy]
	raw     []byte
	// OnChange is called after a new policy takes effect (to requeue work).
	OnChange func()
	// OnError reports a file that could not be read or parsed.
	OnError func(error)
}

// Load reads the policy at path; an empty path allows everything.
func Load(path string) (*Source, error) {
	s := &Source{path: path}
	if path == "" {
		s.current.Store(AllowAll())
		return s, nil
	}
	if err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Policy is the policy in force.
func (s *Source) Policy() *Policy { return s.current.Load() }

// Allows is Policy().Allows.
func (s *Source) Allows(namespace, vault, object string) bool {
	return s.Policy().Allows(namespace, vault, object)
}

// AllowsVault is Policy().AllowsVault.
func (s *Source) AllowsVault(namespace, address, mount, path string) bool {
	return s.Policy().AllowsVault(namespace, address, mount, path)
}

// DefaultPoll is how often a process re-reads the policy file (a mounted
// ConfigMap: the kubelet updates it within about a minute anyway).
const DefaultPoll = 10 * time.Second

// Watcher runs Watch as a controller-runtime runnable on every replica,
// not only the elected leader: every replica that serves must enforce the
// policy in force. (A plain runnable runs on the leader only.)
type Watcher struct {
	Source   *Source
	Interval time.Duration
}

// Start watches until ctx ends.
func (w Watcher) Start(ctx context.Context) error {
	w.Source.Watch(ctx, w.Interval)
	return nil
}

// NeedLeaderElection is false: see Watcher.
func (Watcher) NeedLeaderElection() bool { return false }

// Watch re-reads the file every interval until ctx ends.
func (s *Source) Watch(ctx context.Context, interval time.Duration) {
	if s.path == "" {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.reload(); err != nil && s.OnError != nil {
				s.OnError(err)
			}
		}
	}
}

func (s *Source) reload() error {
	raw, err := os.ReadFile(s.path)
	if err != nil {
		return err
	}
	if s.raw != nil && bytes.Equal(raw, s.raw) {
		return nil
	}
	p, err := Parse(raw)
	if err != nil {
		return err
	}
	first := s.raw == nil
	s.raw = raw
	s.current.Store(p)
	if !first && s.OnChange != nil {
		s.OnChange()
	}
	return nil
}
