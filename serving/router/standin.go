// Stable stands in for a variant that cannot be reached. DESIGN rule 2 sends traffic only to a revision with ready
// pods, and the operator keeps it so through the weights it writes; but it learns that a pod died only through the
// API server, and a dead pod stays an endpoint of its Service until the API server says otherwise (a second or two,
// or for as long as the API server is away: the chaos run's 502s, one request every 6 s, while the candidate's only
// pod was dead and the API server restarting). A live request that could not be connected to a variant other than
// stable never reached a pod, so stable answers it (no second inference) and the variant's failure is still counted
// against it; for UnreachableFor after that the variant's live share goes to stable at once, then it is tried again.
// Stable itself has no stand-in: the router answers 502 when it cannot reach stable.
package main

import (
	"sync"
	"time"
)

// UnreachableFor: how long a variant that could not be reached gets no live request.
const UnreachableFor = 5 * time.Second

// Reachability remembers the upstreams that could not be reached, until UnreachableFor has passed.
type Reachability struct {
	mu    sync.Mutex
	until map[string]time.Time
	now   func() time.Time
}

// NewReachability: now is the clock (time.Now).
func NewReachability(now func() time.Time) *Reachability {
	return &Reachability{until: map[string]time.Time{}, now: now}
}

// Lost records that upstream could not be reached just now.
func (r *Reachability) Lost(upstream string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.until[upstream] = r.now().Add(UnreachableFor)
}

// Down says whether upstream could not be reached less than UnreachableFor ago.
func (r *Reachability) Down(upstream string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	until, ok := r.until[upstream]
	if ok && !r.now().Before(until) {
		delete(r.until, upstream)
		return false
	}
	return ok
}

// standIn is the variant that answers for live when live cannot be reached: stable, when live is another variant
// and the config names stable; else nil.
func standIn(c *Config, live *Variant) *Variant {
	if live.Name == Stable {
		return nil
	}
	return c.VariantNamed(Stable)
}
