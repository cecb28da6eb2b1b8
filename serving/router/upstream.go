// The router's side toward the variants: keep-alive connections to each variant's Service (a fasthttp HostClient per
// upstream, which writes a request and reads its answer on the caller's goroutine: no hand-off to other goroutines,
// which cost net/http's client more CPU than the rest of the router; serving/README.md), the answer read whole.
//
// Through a Service a connection stays pinned to the pod it first reached (kube-proxy's DNAT, kept by conntrack),
// even after that pod has left the Service. So no connection is used longer than ConnectionMaxAgeSeconds after it
// was opened (docs/contracts.md, "Pods that leave a Service").
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// ConnectAttempts: connections tried per request to a variant (a refused one never reached a pod).
const (
	ConnectAttempts   = 3
	ConnectRetryDelay = 50 * time.Millisecond // before the second attempt, twice that before the third
	maxAnswerBytes    = 16 << 20              // an upstream answer larger than this is the variant's error
)

// ConnectStagger: while a connection to a variant is not yet made, another one is tried beside it this often, within
// the connect timeout, and the first made is used. Each goes through the Service again, and kube-proxy sends each new
// connection to an endpoint of its choosing: a pod that died but is still an endpoint (its address answers nothing
// until the endpoint is removed, which takes as long as the API server does) costs a request a few staggers, where
// one connection at a time waited out the whole connect timeout on it, once per attempt (the chaos run's 502s).
const ConnectStagger = 250 * time.Millisecond

var (
	// errConnect: the connection could not be made (refused, or not established within the connect timeout).
	errConnect = errors.New("connection to the upstream could not be made")
	// errTimeout: no whole answer within the request's timeout.
	errTimeout = errors.New("upstream timed out")
)

// Upstreams sends requests to the variants, one pool of connections per upstream (scheme://host:port).
type Upstreams struct {
	connectTimeout time.Duration
	maxAge         time.Duration
	mu             sync.RWMutex
	clients        map[string]*fasthttp.HostClient
}

// NewUpstreams: connections are replaced within ConnectionMaxAgeSeconds of opening them.
func NewUpstreams(connectTimeout time.Duration) *Upstreams {
	return newUpstreams(connectTimeout, time.Duration(ConnectionMaxAgeSeconds*float64(time.Second)))
}

func newUpstreams(connectTimeout, maxAge time.Duration) *Upstreams {
	return &Upstreams{connectTimeout: connectTimeout, maxAge: maxAge, clients: map[string]*fasthttp.HostClient{}}
}

func (u *Upstreams) client(upstream string) *fasthttp.HostClient {
	u.mu.RLock()
	client, ok := u.clients[upstream]
	u.mu.RUnlock()
	if ok {
		return client
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if client, ok = u.clients[upstream]; ok {
		return client
	}
	scheme, address, _ := strings.Cut(upstream, "://")
	timeout := u.connectTimeout
	client = &fasthttp.HostClient{
		Addr:  address,
		IsTLS: scheme == "https",
		Dial: func(address string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			conn, err := staggeredDial(ctx, address, ConnectStagger, (&net.Dialer{}).DialContext)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", errConnect, err)
			}
			return conn, nil
		},
		MaxConns: 4096,
		// fasthttp sends one last request (with Connection: close) on a connection older than MaxConnDuration, and
		// closes an idle one within two MaxIdleConnDuration. So no request starts on a connection older than maxAge.
		MaxConnDuration:               u.maxAge / 2,
		MaxIdleConnDuration:           u.maxAge / 4,
		MaxResponseBodySize:           maxAnswerBytes,
		DisableHeaderNamesNormalizing: true,
		NoDefaultUserAgentHeader:      true,
		RetryIf:                       func(*fasthttp.Request) bool { return false }, // connect failures: Post retries
	}
	u.clients[upstream] = client
	return client
}

// Keep forgets the pools of every upstream but these, and closes their idle connections. A request still in flight
// to a forgotten upstream ends on its connection; a later one (a queued copy) makes a new pool, forgotten in turn.
func (u *Upstreams) Keep(upstreams []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for upstream, client := range u.clients {
		if !slices.Contains(upstreams, upstream) {
			client.CloseIdleConnections()
			delete(u.clients, upstream)
		}
	}
}

// Close closes the idle connections.
func (u *Upstreams) Close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, client := range u.clients {
		client.CloseIdleConnections()
	}
}

// Answer is an upstream's answer, read whole.
type Answer struct {
	Status      int
	Body        []byte
	ContentType string
}

// Post sends body to `upstream + path` within timeout. A connection that could not be made is tried again
// (ConnectAttempts in all): the request never reached a pod, and the next connection through the Service may reach
// another one, e.g. while a pod that just died is still one of its endpoints. Errors: errTimeout, errConnect
// (wrapped) when no connection could be made, else what failed.
func (u *Upstreams) Post(upstream, path string, body []byte, contentType string, timeout time.Duration) (Answer,
	error) {
	client := u.client(upstream)
	deadline := time.Now().Add(timeout)
	request, response := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(request)
	defer fasthttp.ReleaseResponse(response)
	request.Header.SetMethod(fasthttp.MethodPost)
	request.SetRequestURI(upstream + path)
	request.Header.SetContentType(contentType)
	request.SetBodyRaw(body)
	for attempt := 1; ; attempt++ {
		err := client.DoDeadline(request, response, deadline)
		switch {
		case err == nil:
			return Answer{response.StatusCode(), append([]byte(nil), response.Body()...),
				string(response.Header.ContentType())}, nil
		case errors.Is(err, fasthttp.ErrTimeout):
			return Answer{}, errTimeout
		case !errors.Is(err, errConnect) || attempt == ConnectAttempts:
			return Answer{}, err
		}
		pause := ConnectRetryDelay * time.Duration(attempt)
		if time.Until(deadline) < pause {
			return Answer{}, errTimeout
		}
		time.Sleep(pause)
	}
}

type dialed struct {
	conn net.Conn
	err  error
}

// staggeredDial connects to address: one attempt at once, and one more every stagger while none has been made, until
// ctx ends. The first connection made is returned and the attempts still under way are cancelled (a connection one of
// them makes after that is closed). An attempt that fails while none other is under way ends the dial with its error
// (a refused connection is not tried again here: Post does that, after a pause).
func staggeredDial(ctx context.Context, address string, stagger time.Duration,
	dial func(context.Context, string, string) (net.Conn, error)) (net.Conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	results := make(chan dialed)
	underWay := 0
	try := func() {
		underWay++
		go func() {
			conn, err := dial(ctx, "tcp", address)
			select {
			case results <- dialed{conn, err}:
			case <-done:
				if conn != nil {
					_ = conn.Close()
				}
			}
		}()
	}
	next := time.NewTicker(stagger)
	defer next.Stop()
	try()
	for {
		select {
		case r := <-results:
			underWay--
			if r.err == nil {
				return r.conn, nil
			}
			if underWay == 0 {
				return nil, r.err
			}
		case <-next.C:
			try()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
