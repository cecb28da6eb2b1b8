// The router's side toward the variants: keep-alive connections to each variant's Service, a request sent with its
// body whole, the answer read whole.
//
// Through a Service a connection stays pinned to the pod it first reached (kube-proxy's DNAT, kept by conntrack),
// even after that pod has left the Service. So no connection is used longer than ConnectionMaxAgeSeconds after it
// was opened: the pool is replaced every half of that, and the replaced pool closes its connections as soon as they
// are idle (docs/contracts.md, "Pods that leave a Service").
package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// ConnectAttempts: connections tried per request to a variant (a refused one never reached a pod).
const (
	ConnectAttempts   = 3
	ConnectRetryDelay = 50 * time.Millisecond // before the second attempt, twice that before the third
	maxAnswerBytes    = 16 << 20              // an upstream answer larger than this is the variant's error
)

// errConnect: the connection could not be made (refused, or not established within the connect timeout).
var errConnect = errors.New("connection to the upstream could not be made")

// Upstreams sends requests to the variants.
type Upstreams struct {
	connectTimeout time.Duration
	renewEvery     time.Duration
	pool           atomic.Pointer[http.Transport]
	stop           chan struct{}
}

// NewUpstreams starts replacing its pool every half of the connection's maximum age.
func NewUpstreams(connectTimeout time.Duration) *Upstreams {
	return newUpstreams(connectTimeout, time.Duration(ConnectionMaxAgeSeconds/2*float64(time.Second)))
}

func newUpstreams(connectTimeout, renewEvery time.Duration) *Upstreams {
	u := &Upstreams{connectTimeout: connectTimeout, renewEvery: renewEvery, stop: make(chan struct{})}
	u.pool.Store(u.newPool())
	go u.renew(renewEvery)
	return u
}

func (u *Upstreams) newPool() *http.Transport {
	dialer := &net.Dialer{Timeout: u.connectTimeout}
	return &http.Transport{
		DialContext:         dialer.DialContext,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     u.renewEvery,
		DisableCompression:  true,
		// No header timeout of its own: the request's context bounds the whole round trip.
	}
}

func (u *Upstreams) renew(every time.Duration) {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-u.stop:
			u.pool.Load().CloseIdleConnections()
			return
		case <-ticker.C:
			old := u.pool.Swap(u.newPool())
			old.CloseIdleConnections()
			// Connections busy at the swap go back to the old pool when their answer is in; close them then.
			time.AfterFunc(every, old.CloseIdleConnections)
		}
	}
}

// Close stops the renewal and closes idle connections.
func (u *Upstreams) Close() { close(u.stop) }

// Answer is an upstream's answer, read whole.
type Answer struct {
	Status      int
	Body        []byte
	ContentType string
}

// Post sends body to url within timeout. A connection that could not be made is tried again (ConnectAttempts in
// all): the request never reached a pod, and the next connection through the Service may reach another one, e.g.
// while a pod that just died is still one of its endpoints. Errors: context.DeadlineExceeded on timeout, errConnect
// (wrapped) when no connection could be made, context.Canceled when
// ctx was (the client went away), else what failed.
func (u *Upstreams) Post(ctx context.Context, url string, body []byte, contentType string, headers http.Header,
	timeout time.Duration) (Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		answer, err := u.post(ctx, url, body, contentType, headers)
		if err == nil || !errors.Is(err, errConnect) || attempt == ConnectAttempts {
			return answer, err
		}
		select {
		case <-ctx.Done():
			return Answer{}, ctx.Err()
		case <-time.After(ConnectRetryDelay * time.Duration(attempt)):
		}
	}
}

func (u *Upstreams) post(ctx context.Context, url string, body []byte, contentType string,
	headers http.Header) (Answer, error) {
	request, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Answer{}, err
	}
	for name, values := range headers {
		request.Header[name] = values
	}
	request.Header.Set("Content-Type", contentType)
	response, err := u.pool.Load().RoundTrip(request)
	if err != nil {
		return Answer{}, classify(ctx, err)
	}
	defer response.Body.Close()
	payload, err := io.ReadAll(io.LimitReader(response.Body, maxAnswerBytes+1))
	if err != nil {
		return Answer{}, classify(ctx, err)
	}
	if len(payload) > maxAnswerBytes {
		return Answer{}, errors.New("answer larger than 16 MiB")
	}
	return Answer{response.StatusCode, payload, response.Header.Get("Content-Type")}, nil
}

func classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err() // DeadlineExceeded: timed out; Canceled: the client went away
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return errors.Join(errConnect, err)
	}
	return err
}
