// How requests may arrive: deadlines for a request's head and body, and a bound on requests in flight, so that a
// slow or greedy client costs a bounded share of the router and well-behaved clients keep their latency.
//
//   - The head: the server closes a connection that has not sent a whole request head within the header timeout
//     (fasthttp's ReadTimeout, and IdleTimeout between requests); an incomplete head gets no answer.
//   - The body: read under the body timeout and the size limit; late is a 408, too large a 413, both with a reason
//     and the connection closed.
//   - In progress: Admission bounds the bytes of bodies that requests in progress hold or may still receive (each
//     reserves its declared Content-Length, the body limit when chunked, before its body is read), and the requests
//     being forwarded, counted once the body is in, so slow bodies never hold a slot. A prediction that arrives
//     while every slot is taken is refused as soon as its head is in, before its body is read. Beyond either bound:
//     503, Retry-After and Connection: close. Health probes are always admitted.
//   - Shared fairly: once Contended (three quarters) of the slots are taken, a client address that already holds its
//     fair share is refused: the slots divided among the clients holding any, this one, and one more that may still
//     come. One client's flood cannot take the slots every other client needs.
package main

import (
	"fmt"
	"sync"
)

// Contended is the share of the forwarding slots taken from which a client holding its fair share is refused.
const Contended = 0.75

// Admission: bodies of requests in progress within BodyBytes, at most MaxInFlight requests forwarded.
type Admission struct {
	bodyBytes    int64
	maxBodyBytes int64
	maxInFlight  int
	contended    int
	mu           sync.Mutex
	reserved     int64          // bytes reserved by the bodies of requests in progress
	inFlight     int            // requests being forwarded
	held         map[string]int // forwarding slots by client address (those holding any)
}

// NewAdmission sizes the bounds.
func NewAdmission(bodyBytes, maxBodyBytes int64, maxInFlight int) *Admission {
	return &Admission{bodyBytes: bodyBytes, maxBodyBytes: maxBodyBytes, maxInFlight: maxInFlight,
		contended: max(1, int(Contended*float64(maxInFlight))), held: map[string]int{}}
}

// refusal says why client gets no forwarding slot now, or "" when it would get one. Called with mu held.
func (a *Admission) refusal(client string) string {
	if a.inFlight >= a.maxInFlight {
		return fmt.Sprintf("%d requests are being forwarded, the most it takes", a.inFlight)
	}
	if a.inFlight < a.contended {
		return ""
	}
	held := a.held[client]
	clients := len(a.held) + 1 // the holders and one still to come
	if held == 0 {
		clients++ // this client
	}
	share := max(1, a.maxInFlight/clients)
	if held >= share {
		return fmt.Sprintf("%d of %d requests are being forwarded and this client (%s) has %d of them, its share "+
			"or more", a.inFlight, a.maxInFlight, client, held)
	}
	return ""
}

// Admit takes a forwarding slot for client (give it back with Release), or says why not.
func (a *Admission) Admit(client string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if why := a.refusal(client); why != "" {
		return why
	}
	a.inFlight++
	a.held[client]++
	return ""
}

// Release gives back a slot taken by Admit.
func (a *Admission) Release(client string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inFlight--
	if a.held[client] <= 1 {
		delete(a.held, client)
	} else {
		a.held[client]--
	}
}

// Reserve, before a body is read: the bytes reserved for it (give them back with Unreserve), or why not. A
// prediction that would get no forwarding slot now is refused before its body is read. declared < 0: chunked (the
// body limit is reserved); a declared size over the limit reserves only the limit (it is refused with 413 unread).
func (a *Admission) Reserve(prediction bool, declared int64, client string) (int64, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if prediction {
		if why := a.refusal(client); why != "" {
			return 0, why
		}
	}
	size := a.maxBodyBytes
	if declared >= 0 {
		size = min(declared, a.maxBodyBytes)
	}
	if a.reserved+size > a.bodyBytes {
		return 0, fmt.Sprintf("bodies in progress hold %d bytes of the %d it takes", a.reserved, a.bodyBytes)
	}
	a.reserved += size
	return size, ""
}

// Unreserve gives back what Reserve took.
func (a *Admission) Unreserve(size int64) {
	a.mu.Lock()
	a.reserved -= size
	a.mu.Unlock()
}

// InFlight and Reserved are read at scrape time.
func (a *Admission) InFlight() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return float64(a.inFlight)
}

// Reserved: bytes reserved by the bodies of requests in progress.
func (a *Admission) Reserved() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return float64(a.reserved)
}
