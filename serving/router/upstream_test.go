package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// posts sends three requests, pause apart, and returns how many connections the upstream accepted.
func posts(t *testing.T, maxAge, pause time.Duration) int64 {
	var accepted atomic.Int64
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("{}"))
	}))
	server.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			accepted.Add(1)
		}
	}
	server.Start()
	defer server.Close()
	pool := newUpstreams(2*time.Second, maxAge)
	defer pool.Close()
	for range 3 {
		answer, err := pool.Post(server.URL, "/p", []byte("x"), "image/png", 5*time.Second)
		if err != nil || answer.Status != 200 || string(answer.Body) != "{}" {
			t.Fatalf("answer %+v, error %v", answer, err)
		}
		time.Sleep(pause)
	}
	return accepted.Load()
}

func TestAYoungConnectionIsReused(t *testing.T) {
	if got := posts(t, time.Minute, 50*time.Millisecond); got != 1 {
		t.Fatalf("%d connections, want 1", got)
	}
}

func TestAConnectionPastItsAgeIsReplaced(t *testing.T) {
	if got := posts(t, 100*time.Millisecond, 250*time.Millisecond); got != 3 {
		t.Fatalf("%d connections, want 3", got)
	}
}

func TestNoRequestStartsOnAConnectionPastItsAge(t *testing.T) {
	const maxAge = 200 * time.Millisecond
	var mu sync.Mutex
	opened := map[string]time.Time{}
	var oldest time.Duration
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		oldest = max(oldest, time.Since(opened[r.RemoteAddr]))
		mu.Unlock()
		_, _ = w.Write([]byte("{}"))
	}))
	server.Config.ConnState = func(conn net.Conn, state http.ConnState) {
		if state == http.StateNew {
			mu.Lock()
			opened[conn.RemoteAddr().String()] = time.Now()
			mu.Unlock()
		}
	}
	server.Start()
	defer server.Close()
	pool := newUpstreams(2*time.Second, maxAge)
	defer pool.Close()
	for i := range 60 { // busy, then idle pauses of up to 3 maxAge
		if _, err := pool.Post(server.URL, "/p", []byte("x"), "image/png", 5*time.Second); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(i%20) * maxAge / 40)
	}
	mu.Lock()
	defer mu.Unlock()
	if oldest >= maxAge {
		t.Fatalf("a request started on a connection %v old (max age %v)", oldest, maxAge)
	}
}

func TestTheRouterUsesTheContractsAge(t *testing.T) {
	if u := NewUpstreams(time.Second); u.maxAge != time.Duration(ConnectionMaxAgeSeconds*float64(time.Second)) {
		t.Fatalf("connections live %v", u.maxAge)
	}
}

func freeAddress(t *testing.T) string {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := listener.Addr().String()
	_ = listener.Close()
	return address
}

func TestAConnectionNotMadeIsTriedAgain(t *testing.T) {
	address := freeAddress(t)
	go func() { // the upstream starts listening after the first attempt was refused
		time.Sleep(20 * time.Millisecond)
		listener, err := net.Listen("tcp", address)
		if err != nil {
			return
		}
		_ = http.Serve(listener, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("ok"))
		}))
	}()
	pool := NewUpstreams(time.Second)
	defer pool.Close()
	answer, err := pool.Post("http://"+address, "/p", []byte("x"), "image/png", 5*time.Second)
	if err != nil || string(answer.Body) != "ok" {
		t.Fatalf("answer %+v, error %v", answer, err)
	}
}

func TestAfterTheLastAttemptTheConnectionErrorIsTheAnswer(t *testing.T) {
	pool := NewUpstreams(time.Second)
	defer pool.Close()
	started := time.Now()
	_, err := pool.Post("http://"+freeAddress(t), "/p", []byte("x"), "image/png", 5*time.Second)
	if !errors.Is(err, errConnect) {
		t.Fatalf("error %v, want a connection error", err)
	}
	if waited := time.Since(started); waited < 3*ConnectRetryDelay { // 50 ms, then 100 ms
		t.Fatalf("gave up after %v: not %d attempts", waited, ConnectAttempts)
	}
}

func TestATimeoutIsTold(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
	}))
	defer server.Close()
	pool := NewUpstreams(time.Second)
	defer pool.Close()
	if _, err := pool.Post(server.URL, "/", nil, "image/png", 50*time.Millisecond); !errors.Is(err, errTimeout) {
		t.Fatalf("error %v, want a timeout", err)
	}
}

func TestTheUpstreamsAConfigNoLongerNamesAreForgottenAndTheirConnectionsClosed(t *testing.T) {
	var closed atomic.Int64
	servers := make([]*httptest.Server, 2)
	for i := range servers {
		servers[i] = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("{}"))
		}))
		servers[i].Config.ConnState = func(_ net.Conn, state http.ConnState) {
			if state == http.StateClosed {
				closed.Add(1)
			}
		}
		servers[i].Start()
		defer servers[i].Close()
	}
	kept, gone := servers[0].URL, servers[1].URL
	pool := NewUpstreams(time.Second)
	defer pool.Close()
	for _, upstream := range []string{kept, gone} {
		if _, err := pool.Post(upstream, "/p", nil, "image/png", 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	pool.Keep([]string{kept})
	if _, ok := pool.clients[gone]; ok || len(pool.clients) != 1 {
		t.Fatalf("pools of %d upstreams kept, want only %s's", len(pool.clients), kept)
	}
	deadline := time.Now().Add(2 * time.Second)
	for closed.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := closed.Load(); got != 1 {
		t.Fatalf("%d connections closed, want the forgotten upstream's one", got)
	}
}

// stubConn is a connection that says whether it was closed.
type stubConn struct {
	net.Conn
	closed atomic.Bool
}

func (c *stubConn) Close() error {
	c.closed.Store(true)
	return nil
}

func TestAConnectionThatHangsGetsAnotherTriedBesideItAndTheFirstMadeIsUsed(t *testing.T) {
	// The first attempt reaches a dead pod (nothing answers until the deadline); the second reaches a live one.
	made := &stubConn{}
	var attempts atomic.Int32
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		if attempts.Add(1) == 1 {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return made, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := staggeredDial(ctx, "upstream:8080", 10*time.Millisecond, dial)
	if err != nil || conn != made {
		t.Fatalf("connection %v, error %v: want the second attempt's", conn, err)
	}
	if made.closed.Load() {
		t.Fatal("the connection returned was closed")
	}
}

func TestAConnectionMadeAfterAnotherWasUsedIsClosed(t *testing.T) {
	first, late := &stubConn{}, &stubConn{}
	release := make(chan struct{})
	lateClosed := make(chan struct{})
	var attempts atomic.Int32
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		if attempts.Add(1) == 1 {
			<-release // made only after the second attempt's connection was returned
			return &closeSignal{late, lateClosed}, nil
		}
		return first, nil
	}
	conn, err := staggeredDial(context.Background(), "upstream:8080", time.Millisecond, dial)
	if err != nil || conn != first {
		t.Fatalf("connection %v, error %v", conn, err)
	}
	close(release)
	select {
	case <-lateClosed:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection made after the dial returned was never closed")
	}
}

// closeSignal closes done when it is closed.
type closeSignal struct {
	*stubConn
	done chan struct{}
}

func (c *closeSignal) Close() error {
	close(c.done)
	return c.stubConn.Close()
}

func TestWhenNoAttemptIsMadeBeforeTheDeadlineTheDialFailsAfterSeveral(t *testing.T) {
	var attempts atomic.Int32
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		attempts.Add(1)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := staggeredDial(ctx, "upstream:8080", 10*time.Millisecond, dial); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the deadline", err)
	}
	if n := attempts.Load(); n < 2 {
		t.Fatalf("%d attempts: none was tried beside the first", n)
	}
}

func TestARefusedAttemptWithNoneOtherUnderWayEndsTheDialWithItsError(t *testing.T) {
	refused := errors.New("connection refused")
	var attempts atomic.Int32
	dial := func(context.Context, string, string) (net.Conn, error) {
		attempts.Add(1)
		return nil, refused
	}
	if _, err := staggeredDial(context.Background(), "upstream:8080", time.Hour, dial); !errors.Is(err, refused) {
		t.Fatalf("error %v, want the refusal", err)
	}
	if n := attempts.Load(); n != 1 {
		t.Fatalf("%d attempts, want 1 (Post tries a refused connection again, after a pause)", n)
	}
}
