// Copies of a client's request sent to the other variant, and the comparison of the two top-1 answers: a bounded
// queue and a fixed number of senders, so a slow or dead variant costs the client nothing but a non-blocking send.
// The queue is bounded twice: by copies, and by the bytes of the bodies it holds (queued and being sent), which is
// what bounds the router's memory when a shadow hangs and 1 MiB bodies pile up. A copy that would pass either bound
// is dropped and counted (reason="queue_full"); the most bytes ever held is kept as a high-water mark. A copy that
// waited in the queue longer than its round trip may take (the copy timeout) is dropped and counted when a sender
// takes it (reason="expired"): when a variant that hung answers again, it gets the copies of now, not a burst of the
// whole queue (up to --copy-queue-bytes of old bodies at once, on the cores the live requests need).
//
// Two kinds, told apart by the `traffic` label of their series:
//   - shadow: a mirror to the shadow variant, queued before the live request is sent, so the shadow's inference
//     runs beside the live one (as nginx's `mirror` does);
//   - paired: on canary and split, a copy of a request that one variant answered, queued once the live answer is
//     in, so it never competes with the live request it copies.
//
// The comparison is by role, whichever answer was live: it counts only when stable gave a top-1, and is agree,
// disagree, or error when the candidate gave none. It is recorded on the candidate's labels under the copy's
// traffic, so the agreement of a candidate is one series whatever the strategy.
package main

import (
	"sync"
	"sync/atomic"
	"time"
)

// LiveAnswer is the live request's top-1 (nil when it gave none), known once the live request is over.
type LiveAnswer struct {
	mu      sync.Mutex
	done    bool
	top     *TopOne
	waiting []func(*TopOne)
}

// Resolve sets the live top-1 and runs what waited for it.
func (l *LiveAnswer) Resolve(top *TopOne) {
	l.mu.Lock()
	l.done, l.top = true, top
	waiting := l.waiting
	l.waiting = nil
	l.mu.Unlock()
	for _, then := range waiting {
		then(top)
	}
}

// Then runs f with the live top-1, now or once it is known.
func (l *LiveAnswer) Then(f func(*TopOne)) {
	l.mu.Lock()
	if !l.done {
		l.waiting = append(l.waiting, f)
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	f(l.top)
}

// Resolved is a LiveAnswer already known (a paired copy leaves once the live answer is in).
func Resolved(top *TopOne) *LiveAnswer { return &LiveAnswer{done: true, top: top} }

// CopyJob is one copy to send.
type CopyJob struct {
	Upstream     string // scheme://host:port
	Path         string
	Body         []byte
	ContentType  string
	Live         *LiveAnswer
	Series       *Series // the copy's own request is recorded here: its variant, traffic shadow|paired
	Comparisons  *Series // the candidate's series of the same traffic: the comparison is recorded here
	CopyIsStable bool    // a paired copy of a candidate answer goes to stable
	queued       time.Time
}

// CopyQueue holds copies until one of its senders is free.
type CopyQueue struct {
	send      func(*CopyJob) *TopOne
	queue     chan *CopyJob
	maxBytes  int64
	maxWait   time.Duration // in the queue; longer, and the copy is dropped as expired
	bytes     atomic.Int64  // bodies held by copies: queued, and being sent
	highWater atomic.Int64  // the most bytes has been since start
	senders   sync.WaitGroup
	closing   chan struct{}
}

// NewCopyQueue starts `concurrency` senders; a copy queued longer than maxWait is dropped, not sent.
func NewCopyQueue(send func(*CopyJob) *TopOne, queueSize int, queueBytes int64, concurrency int,
	maxWait time.Duration) *CopyQueue {
	q := &CopyQueue{send: send, queue: make(chan *CopyJob, queueSize), maxBytes: queueBytes, maxWait: maxWait,
		closing: make(chan struct{})}
	for range concurrency {
		q.senders.Add(1)
		go q.work()
	}
	return q
}

// Offer queues a copy without waiting; false (and counted as dropped) when the queue is full, by copies or bytes.
func (q *CopyQueue) Offer(job *CopyJob) bool {
	size := int64(len(job.Body))
	job.queued = time.Now()
	held := q.bytes.Add(size)
	if held > q.maxBytes {
		q.bytes.Add(-size)
		job.Series.Dropped("queue_full")
		return false
	}
	select {
	case q.queue <- job:
	default:
		q.bytes.Add(-size)
		job.Series.Dropped("queue_full")
		return false
	}
	for {
		high := q.highWater.Load()
		if held <= high || q.highWater.CompareAndSwap(high, held) {
			return true
		}
	}
}

// Bytes and HighWater are read at scrape time.
func (q *CopyQueue) Bytes() float64 { return float64(q.bytes.Load()) }

// HighWater: the most bytes the queue has held since start.
func (q *CopyQueue) HighWater() float64 { return float64(q.highWater.Load()) }

func (q *CopyQueue) work() {
	defer q.senders.Done()
	for {
		select {
		case <-q.closing:
			return
		case job := <-q.queue:
			if time.Since(job.queued) > q.maxWait {
				q.bytes.Add(-int64(len(job.Body)))
				job.Series.Dropped("expired")
				continue
			}
			copy := q.send(job)
			q.bytes.Add(-int64(len(job.Body)))
			// Compared once the live answer is known too; the sender does not wait for it.
			job.Live.Then(func(live *TopOne) { record(job, copy, live) })
		}
	}
}

// Close gives queued copies up to drain to be sent, then stops the senders; leftovers count as dropped.
func (q *CopyQueue) Close(drain time.Duration) {
	deadline := time.Now().Add(drain)
	for len(q.queue) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	close(q.closing)
	q.senders.Wait()
	for {
		select {
		case job := <-q.queue:
			q.bytes.Add(-int64(len(job.Body)))
			job.Series.Dropped("shutdown")
		default:
			return
		}
	}
}

func record(job *CopyJob, copy, live *TopOne) {
	stable, candidate := live, copy
	if job.CopyIsStable {
		stable, candidate = copy, live
	}
	if result := Compare(stable, candidate); result != "" {
		job.Comparisons.Compared(result)
	}
}

// Compare gives the result of one comparison; "" (not counted) when stable gave no top-1 to compare with.
func Compare(stable, candidate *TopOne) string {
	switch {
	case stable == nil:
		return ""
	case candidate == nil:
		return "error"
	case candidate.Label == stable.Label:
		return "agree"
	default:
		return "disagree"
	}
}
