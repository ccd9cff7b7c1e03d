package resolver

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// DefaultPodCacheTTL is how long a stored pod is reused for more requests
// of the same pod (its other containers, which start within moments of
// each other). It is also how long a deleted or terminating pod may still
// be served after its deletion: short, since a stolen token outliving its
// pod is what it bounds.
const DefaultPodCacheTTL = 2 * time.Second

// PodSource reads the pod a token is bound to, by name, and keeps it by UID
// for TTL.
type PodSource struct {
	// Reader reads pods from the API server (not an informer: caching
	// every pod of the cluster would cost far more than a GET per pod).
	Reader client.Reader
	// TTL is how long a pod is reused (zero: every request reads it).
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu        sync.Mutex
	pods      map[types.UID]podEntry
	lastSweep time.Time
}

type podEntry struct {
	pod  *corev1.Pod
	read time.Time
}

// Get returns the stored pod of id: the cached copy of that UID if younger
// than TTL, else the pod of that name as the API server has it now (which
// may have another UID: Authorize refuses it). A pod that does not exist is
// a 403 Denial; a failed read another error (503).
func (s *PodSource) Get(ctx context.Context, id Identity) (*corev1.Pod, error) {
	now := s.now()
	if pod := s.cached(id.PodUID, now); pod != nil {
		return pod, nil
	}
	pod := &corev1.Pod{}
	err := s.Reader.Get(ctx, types.NamespacedName{Namespace: id.Namespace, Name: id.PodName}, pod)
	switch {
	case apierrors.IsNotFound(err):
		return nil, deny(http.StatusForbidden, protocol.CodePodNotFound, "pod %s/%s no longer exists", id.Namespace, id.PodName)
	case err != nil:
		return nil, fmt.Errorf("read pod %s/%s: %w", id.Namespace, id.PodName, err)
	}
	if pod.UID == id.PodUID && s.TTL > 0 {
		s.store(pod, now)
	}
	return pod, nil
}

func (s *PodSource) cached(uid types.UID, now time.Time) *corev1.Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.pods[uid]
	if !ok || now.Sub(e.read) >= s.TTL {
		return nil
	}
	return e.pod
}

func (s *PodSource) store(pod *corev1.Pod, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pods == nil {
		s.pods = map[types.UID]podEntry{}
	}
	s.pods[pod.UID] = podEntry{pod: pod, read: now}
	if now.Sub(s.lastSweep) >= s.TTL {
		s.lastSweep = now
		for uid, e := range s.pods {
			if now.Sub(e.read) >= s.TTL {
				delete(s.pods, uid)
			}
		}
	}
}

func (s *PodSource) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
