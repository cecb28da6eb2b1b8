// The router's requests: POST /predictions/{model} forwarded to one variant (and maybe copied to the other), POST
// /feedback for labels that arrive later, and the health probes. The per-request work is a prefix check of the body
// (inputs.go), a request id, a few map look-ups, one JSON parse of a ~200-byte answer, four metric updates and one
// entry in the answer log.
//
// The HTTP is fasthttp's: a request's reads and writes, the client's and the variant's, stay on one goroutine (net/http
// handed each to other goroutines, which cost the router more CPU than all of its own work; serving/README.md).
//
// Outcomes (docs/contracts.md): what the router refuses itself (no config, unknown model, too large, not an image) is
// answered before any variant is picked and recorded in no variant's series; every upstream answer is recorded under
// its HTTP status as `code`, and a failed or timed-out connection as code="error". How requests may arrive (deadlines
// for head and body, requests in flight) is guard.go's; every 503 the router sends carries Retry-After.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

const (
	predictions    = "/predictions/"
	variantHeader  = "X-Visionroll-Variant"
	revisionHeader = "X-Visionroll-Revision"
	jsonType       = "application/json; charset=utf-8"
)

// Settings are the router's bounds; their defaults are the flags' (main.go).
type Settings struct {
	MaxBodyBytes      int64
	UpstreamTimeout   time.Duration
	ConnectTimeout    time.Duration
	ShadowQueue       int
	CopyQueueBytes    int64
	CopyTimeout       time.Duration
	ShadowConcurrency int
	HeaderTimeout     time.Duration
	BodyTimeout       time.Duration
	BodyBytes         int64
	MaxInFlight       int
	RetryAfter        int
	FeedbackTTL       time.Duration
	FeedbackEntries   int
	FeedbackBytes     int
	FeedbackClasses   int
}

// Router is the state the handlers share: the current routing (swapped whole on reload), the pool and the metrics.
type Router struct {
	settings   Settings
	metrics    *Metrics
	picker     atomic.Pointer[Picker]
	origin     atomic.Pointer[string]
	draining   atomic.Bool // set on SIGTERM: /readyz says 503 while the pod leaves its Service's endpoints
	upstreams  *Upstreams
	copies     *CopyQueue
	admission  *Admission
	retryAfter string
	answersMu  sync.Mutex
	answers    *AnswerLog[*Series]
	// variants that could not be reached a moment ago: stable answers their live requests (standin.go)
	reachability *Reachability
}

// NewRouter wires the router's parts and the gauges read at scrape time.
func NewRouter(s Settings, m *Metrics) (*Router, error) {
	answers, err := NewAnswerLog[*Series](s.FeedbackTTL, s.FeedbackEntries, s.FeedbackBytes, time.Now)
	if err != nil {
		return nil, err
	}
	rt := &Router{settings: s, metrics: m, upstreams: NewUpstreams(s.ConnectTimeout),
		admission: NewAdmission(s.BodyBytes, s.MaxBodyBytes, s.MaxInFlight), retryAfter: strconv.Itoa(s.RetryAfter),
		answers: answers, reachability: NewReachability(time.Now)}
	rt.copies = NewCopyQueue(rt.sendCopy, s.ShadowQueue, s.CopyQueueBytes, s.ShadowConcurrency, s.CopyTimeout)
	locked := func(read func() float64) func() float64 {
		return func() float64 {
			rt.answersMu.Lock()
			defer rt.answersMu.Unlock()
			return read()
		}
	}
	m.GaugeFunc("visionroll_router_feedback_answers", "Answers remembered for feedback",
		locked(func() float64 { return float64(rt.answers.Len()) }))
	m.GaugeFunc("visionroll_router_feedback_answers_bytes",
		"Estimated memory of the answers remembered for feedback (bounded by --feedback-bytes)",
		locked(func() float64 { return float64(rt.answers.Bytes()) }))
	m.GaugeFunc("visionroll_router_in_flight", "Client requests being forwarded", rt.admission.InFlight)
	m.GaugeFunc("visionroll_router_body_bytes_reserved",
		"Bytes reserved by the bodies of client requests in progress (bounded by --body-bytes)", rt.admission.Reserved)
	m.GaugeFunc("visionroll_router_copy_queue_bytes", "Bytes of bodies held by copies, queued and being sent",
		rt.copies.Bytes)
	m.GaugeFunc("visionroll_router_copy_queue_bytes_high_water",
		"The most bytes the copy queue has held since the router started", rt.copies.HighWater)
	m.copyQueueLimit.Set(float64(s.CopyQueueBytes))
	return rt, nil
}

// Apply makes a parsed config the current one (unless it is the current one already).
func (rt *Router) Apply(c *Config, origin string) {
	if old := rt.picker.Load(); old != nil && sameConfig(old.Config(), c) {
		return
	}
	rt.picker.Store(NewPicker(c))
	rt.origin.Store(&origin)
	weights := make([]string, len(c.Variants))
	upstreams := make([]string, len(c.Variants))
	for i, v := range c.Variants {
		weights[i] = fmt.Sprintf("%s=%d%%@%s", v.Name, v.Weight, v.Upstream)
		upstreams[i] = v.Upstream
	}
	rt.upstreams.Keep(upstreams) // every rollout names new upstreams: the pools of old ones go
	slog.Info("routing config applied", "origin", origin, "weights", strings.Join(weights, ", "),
		"shadow", c.Shadow, "paired", c.Paired)
}

func sameConfig(a, b *Config) bool { return reflect.DeepEqual(a, b) }

// Close stops the copies (queued ones get drain to go out) and the upstream pool.
func (rt *Router) Close(drain time.Duration) {
	rt.copies.Close(drain)
	rt.upstreams.Close()
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, document any) {
	var buffer bytes.Buffer
	encoder := json.NewEncoder(&buffer)
	encoder.SetEscapeHTML(false) // reasons quote what the client sent: `<` stays `<`
	_ = encoder.Encode(document)
	ctx.SetStatusCode(status)
	ctx.SetContentType(jsonType)
	ctx.SetBody(buffer.Bytes())
}

type errorDocument struct {
	Error string `json:"error"`
	Code  int    `json:"code"`
}

func writeError(ctx *fasthttp.RequestCtx, status int, message string) {
	writeJSON(ctx, status, errorDocument{message, status})
}

func (rt *Router) overloaded(ctx *fasthttp.RequestCtx, why string) {
	rt.metrics.Overloaded.Inc()
	ctx.Response.Header.Set("Retry-After", rt.retryAfter)
	ctx.SetConnectionClose()
	writeError(ctx, http.StatusServiceUnavailable, "router overloaded: "+why+"; retry later")
}

// Serve: probes at once; anything else reserves its body's bytes, has its body read under its deadline and the size
// limit, and is dispatched by method and path. Called once the head is in (the server streams bodies), so a refusal
// costs no body.
func (rt *Router) Serve(ctx *fasthttp.RequestCtx) {
	if rt.draining.Load() {
		ctx.SetConnectionClose() // the pod is leaving its Service: clients reconnect to another router
	}
	path, method := string(ctx.Path()), string(ctx.Method())
	switch {
	case path == "/healthz" && method == http.MethodGet:
		writeJSON(ctx, http.StatusOK, map[string]string{"status": "ok"})
		return
	case path == "/readyz" && method == http.MethodGet:
		rt.readyz(ctx)
		return
	}
	client := ctx.RemoteIP().String()
	isPrediction := strings.HasPrefix(path, predictions) && method == http.MethodPost
	declared := int64(ctx.Request.Header.ContentLength()) // -1: chunked, -2: none (no body)
	if declared == -2 {
		declared = 0
	}
	reserved, why := rt.admission.Reserve(isPrediction, declared, client)
	if why != "" {
		rt.overloaded(ctx, why)
		rt.linger(ctx)
		return
	}
	defer rt.admission.Unreserve(reserved)
	body, ok := rt.readBody(ctx, declared)
	if !ok {
		return
	}
	switch {
	case isPrediction:
		if model := path[len(predictions):]; model != "" && !strings.Contains(model, "/") {
			rt.predict(ctx, model, body, client)
			return
		}
	case path == "/feedback" && method == http.MethodPost:
		rt.feedback(ctx, body)
		return
	}
	writeError(ctx, http.StatusNotFound, fmt.Sprintf("no route for %s %s", method, path))
}

// ServerError answers what fasthttp refuses before the handler runs. A deadline that passed there is a head that
// never ended (or a body of which not one byte came): the connection is closed with no answer, as there is no
// request to answer. Anything else is the client's fault, in the one error form.
func (rt *Router) ServerError(ctx *fasthttp.RequestCtx, err error) {
	var timeout net.Error
	if errors.As(err, &timeout) && timeout.Timeout() {
		_ = ctx.Conn().Close()
		return
	}
	var small *fasthttp.ErrSmallBuffer
	if errors.As(err, &small) {
		writeError(ctx, http.StatusRequestHeaderFieldsTooLarge,
			fmt.Sprintf("request head larger than %d KiB", MaxHeadBytes>>10))
	} else {
		writeError(ctx, http.StatusBadRequest, "malformed request: "+err.Error())
	}
	// The rest of the request is unread: the answer goes out here, with a lingering close (fasthttp then closes).
	ctx.SetConnectionClose()
	lingeringClose(ctx.Conn(), wire(&ctx.Response))
	ctx.Response.Reset()
}

// readBody reads the whole body within the body timeout (the server's read deadline from the head's end) and the
// size limit; else answers 408 or 413 (closing, after a lingering close).
func (rt *Router) readBody(ctx *fasthttp.RequestCtx, declared int64) ([]byte, bool) {
	limit := rt.settings.MaxBodyBytes
	if declared > limit {
		rt.refuseBody(ctx, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("request body of %d bytes exceeds the limit of %d bytes", declared, limit))
		return nil, false
	}
	if declared == 0 {
		return nil, true
	}
	stream := ctx.RequestBodyStream()
	if stream == nil { // the whole body came with the head, in fasthttp's buffer (reused after the handler: copied)
		body := append([]byte(nil), ctx.Request.Body()...)
		if int64(len(body)) > limit {
			rt.refuseBody(ctx, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("request body exceeds the limit of %d bytes", limit))
			return nil, false
		}
		return body, true
	}
	body, err := readAll(stream, declared, limit)
	got := len(body)
	if err == nil {
		return body, true
	}
	var timeout net.Error
	switch {
	case errors.Is(err, errTooLarge):
		rt.refuseBody(ctx, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes",
			limit))
	case errors.As(err, &timeout) && timeout.Timeout() || errors.Is(err, os.ErrDeadlineExceeded):
		rt.metrics.BodyTimedOut.Inc()
		of := ""
		if declared >= 0 {
			of = fmt.Sprintf(" of %d", declared)
		}
		seconds := strconv.FormatFloat(rt.settings.BodyTimeout.Seconds(), 'g', -1, 64)
		rt.refuseBody(ctx, http.StatusRequestTimeout, fmt.Sprintf(
			"request body not received within %ss (%d%s bytes arrived): send it faster", seconds, got, of))
	default:
		rt.refuseBody(ctx, http.StatusBadRequest, "request body could not be read: "+err.Error())
	}
	return nil, false
}

// MaxHeadBytes is the largest request head (then 431), and the read buffer each client connection holds while a
// request comes in: 16 KiB (nginx's default head line is 8 KiB), so 2,000 connections opened at once hold 32 MiB.
const MaxHeadBytes = 16 << 10

// LingeringClose: after an answer that refuses a body, what the client still sends is read and dropped for at most
// this long before the connection is closed, so that a client still sending gets to read the answer (closing with
// unread data would reset the connection and lose it).
const LingeringClose = time.Second

// refuseBody answers a request whose body is not taken (413, 408, 400), then closes the connection after a
// lingering close.
func (rt *Router) refuseBody(ctx *fasthttp.RequestCtx, status int, message string) {
	writeError(ctx, status, message)
	rt.linger(ctx)
}

// linger: the answer, marked as the connection's last, is written by the connection's new owner (fasthttp closes a
// connection marked to close before it would hand it over), then a lingering close.
func (rt *Router) linger(ctx *fasthttp.RequestCtx) {
	ctx.SetConnectionClose()
	answer := wire(&ctx.Response)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(conn net.Conn) { lingeringClose(conn, answer) })
}

// wire is the answer as it goes on the connection (Response.String would allocate a 4 KiB writer per refusal).
func wire(response *fasthttp.Response) []byte {
	body := response.Body()
	response.Header.SetContentLength(len(body))
	return append(response.Header.AppendBytes(nil), body...)
}

// lingeringClose writes the answer, stops sending, and reads and drops what still comes for at most LingeringClose
// (the caller then closes). Closing with the client's bytes unread would reset the connection and lose the answer.
func lingeringClose(conn net.Conn, answer []byte) {
	_ = conn.SetDeadline(time.Now().Add(LingeringClose))
	if _, err := conn.Write(answer); err != nil {
		return
	}
	if inner, ok := conn.(interface{ UnsafeConn() net.Conn }); ok {
		conn = inner.UnsafeConn()
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, conn)
}

var errTooLarge = errors.New("request body too large")

// readAll reads a body of the declared size (-1: chunked) into one buffer, failing with errTooLarge past limit bytes
// (chunked bodies too), and returns what it read so far with an error, for the 408's count. Unlike io.ReadAll or
// io.Copy it allocates no buffer beyond the body's own.
func readAll(stream io.Reader, declared, limit int64) ([]byte, error) {
	size := declared
	if size < 0 {
		size = 4096
	}
	body := make([]byte, 0, min(size, limit)+1) // one byte more: a body longer than the limit is seen at once
	for {
		if len(body) == cap(body) {
			body = append(body, 0)[:len(body)]
		}
		n, err := stream.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if int64(len(body)) > limit {
			return body[:limit], errTooLarge
		}
		if err == io.EOF {
			return body, nil
		}
		if err != nil {
			return body, err
		}
	}
}

func (rt *Router) predict(ctx *fasthttp.RequestCtx, model string, body []byte, client string) {
	rid := RequestID(string(ctx.Request.Header.Peek(RequestIDHeader)))
	h := &ctx.Response.Header
	h.Set(RequestIDHeader, rid)
	picker := rt.picker.Load()
	if picker == nil {
		h.Set("Retry-After", rt.retryAfter)
		writeError(ctx, http.StatusServiceUnavailable, "no valid routing config loaded yet")
		return
	}
	config := picker.Config()
	if model != config.Model {
		writeError(ctx, http.StatusNotFound, fmt.Sprintf("unknown model %s; this router serves %s",
			pyRepr(model), pyRepr(config.Model)))
		return
	}
	contentType := string(ctx.Request.Header.ContentType())
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	// A client fault the router can see is its own 400, counted against no variant (inputs.go).
	if reason := Refusal(body, contentType); reason != "" {
		writeError(ctx, http.StatusBadRequest, reason)
		return
	}
	if why := rt.admission.Admit(client); why != "" {
		rt.overloaded(ctx, why)
		return
	}
	sticky := ""
	if config.StickyHeader != "" {
		sticky = string(ctx.Request.Header.Peek(config.StickyHeader))
	}
	route := picker.Route(rand.Float64(), rand.Float64(), rand.Float64(), sticky)
	live, stable := route.Live, standIn(config, route.Live)
	if stable != nil && rt.reachability.Down(live.Upstream) { // could not be reached a moment ago (standin.go)
		live, stable, route.Paired = stable, nil, nil
	}
	series := rt.metrics.Series(config, live, Live)
	h.Set(variantHeader, live.Name)
	h.Set(revisionHeader, live.Revision)
	var liveTop *LiveAnswer
	if route.Shadow != nil {
		liveTop = &LiveAnswer{}
		rt.copies.Offer(rt.copyJob(config, live, route.Shadow, ShadowCopy, body, contentType, liveTop))
	}
	var top *TopOne
	forward := func() (Answer, float64, error) {
		started := time.Now()
		answer, err := rt.upstreams.Post(live.Upstream, predictions+config.Model+"/"+live.Version, body,
			contentType, rt.settings.UpstreamTimeout)
		return answer, time.Since(started).Seconds(), err
	}
	answer, elapsed, err := forward()
	if stable != nil && errors.Is(err, errConnect) { // it never reached a pod: stable answers (standin.go)
		series.Observe(Unreachable, elapsed, nil)
		rt.reachability.Lost(live.Upstream)
		live, route.Paired = stable, nil
		series = rt.metrics.Series(config, live, Live)
		h.Set(variantHeader, live.Name)
		h.Set(revisionHeader, live.Revision)
		answer, elapsed, err = forward()
	}
	switch {
	case errors.Is(err, errTimeout):
		series.Observe(Unreachable, elapsed, nil)
		writeError(ctx, http.StatusGatewayTimeout, fmt.Sprintf("upstream %s timed out", live.Name))
	case err != nil:
		series.Observe(Unreachable, elapsed, nil)
		writeError(ctx, http.StatusBadGateway, fmt.Sprintf("upstream %s failed: %v", live.Name, err))
	default:
		if answer.Status == http.StatusOK {
			if parsed, ok := ParseTopOne(answer.Body); ok {
				top = &parsed
			}
		}
		series.Observe(strconv.Itoa(answer.Status), elapsed, top)
		if top != nil {
			rt.answersMu.Lock()
			rt.answers.Remember(rid, series, top.Label)
			rt.answersMu.Unlock()
		}
		payload, answerType := answer.Body, answer.ContentType
		if answer.Status >= 300 {
			if rewritten, ok := ErrorBody(answer.Status, payload, live.Name); ok {
				payload, answerType = rewritten, jsonType
			}
		}
		if answer.Status == http.StatusServiceUnavailable { // e.g. TorchServe's job queue is full
			h.Set("Retry-After", rt.retryAfter)
		}
		ctx.SetStatusCode(answer.Status)
		if answerType != "" {
			ctx.SetContentType(answerType)
		}
		ctx.SetBody(payload)
	}
	rt.admission.Release(client)
	if liveTop != nil {
		liveTop.Resolve(top)
	}
	// The paired copy leaves once the live answer is in: it never competes with the request it copies. A stable
	// answer without a top-1 has nothing to be compared with, so it is not copied.
	if paired := route.Paired; paired != nil && (top != nil || paired.Name == Stable) {
		rt.copies.Offer(rt.copyJob(config, live, paired, PairedCopy, body, contentType, Resolved(top)))
	}
}

func (rt *Router) copyJob(c *Config, live, to *Variant, traffic string, body []byte, contentType string,
	liveTop *LiveAnswer) *CopyJob {
	series := rt.metrics.Series(c, to, traffic)
	copyIsStable := to.Name == Stable
	comparisons := series // comparisons sit on the candidate's labels, whichever side the copy went to
	if copyIsStable {
		comparisons = rt.metrics.Series(c, live, traffic)
	}
	return &CopyJob{Upstream: to.Upstream, Path: predictions + c.Model + "/" + to.Version, Body: body,
		ContentType: contentType, Live: liveTop, Series: series, Comparisons: comparisons, CopyIsStable: copyIsStable}
}

func (rt *Router) sendCopy(job *CopyJob) *TopOne {
	started := time.Now()
	answer, err := rt.upstreams.Post(job.Upstream, job.Path, job.Body, job.ContentType, rt.settings.CopyTimeout)
	elapsed := time.Since(started).Seconds()
	if err != nil {
		job.Series.Observe(Unreachable, elapsed, nil)
		slog.Debug("copy failed", "upstream", job.Upstream, "error", err)
		return nil
	}
	var top *TopOne
	if answer.Status == http.StatusOK {
		if parsed, ok := ParseTopOne(answer.Body); ok {
			top = &parsed
		}
	}
	job.Series.Observe(strconv.Itoa(answer.Status), elapsed, top)
	return top
}

type feedbackAnswer struct {
	RequestID string `json:"requestId"`
	Variant   string `json:"variant"`
	Revision  string `json:"revision"`
	Outcome   string `json:"outcome"`
}

// feedback: POST /feedback, a true label for an answered request id (feedback.go, docs/contracts.md).
func (rt *Router) feedback(ctx *fasthttp.RequestCtx, body []byte) {
	picker := rt.picker.Load()
	if picker == nil {
		ctx.Response.Header.Set("Retry-After", rt.retryAfter)
		writeError(ctx, http.StatusServiceUnavailable, "no valid routing config loaded yet")
		return
	}
	config, m := picker.Config(), rt.metrics
	if len(body) > MaxFeedbackBytes {
		m.FeedbackRequest(config, "malformed")
		writeError(ctx, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("feedback body of %d bytes exceeds %d bytes", len(body), MaxFeedbackBytes))
		return
	}
	feedback, err := ParseFeedback(body)
	if err != nil {
		m.FeedbackRequest(config, "malformed")
		writeError(ctx, http.StatusBadRequest, err.Error())
		return
	}
	m.FeedbackClassesMu.Lock()
	defer m.FeedbackClassesMu.Unlock()
	known, limit := m.HasFeedbackClass(feedback.Label), rt.settings.FeedbackClasses
	if !known && m.FeedbackClassCount() >= limit {
		m.FeedbackRequest(config, "malformed")
		writeError(ctx, http.StatusBadRequest, fmt.Sprintf(
			"label %s would be a new class beyond the %d this router counts", pyRepr(feedback.Label), limit))
		return
	}
	rt.answersMu.Lock()
	series, predicted, labelled, found := rt.answers.Label(feedback.RequestID)
	ttl, entries := rt.answers.TTL(), rt.answers.MaxEntries()
	rt.answersMu.Unlock()
	switch {
	case !found:
		m.FeedbackRequest(config, "unknown")
		writeError(ctx, http.StatusNotFound, fmt.Sprintf("request id %s is unknown or expired: this router remembers "+
			"the requests it answered with a prediction for %ss, at most %d of them", pyRepr(feedback.RequestID),
			strconv.FormatFloat(ttl.Seconds(), 'g', -1, 64), entries))
		return
	case labelled:
		m.FeedbackRequest(config, "duplicate")
		writeError(ctx, http.StatusConflict, fmt.Sprintf("request id %s was labelled already; a label counts once",
			pyRepr(feedback.RequestID)))
		return
	}
	if !known {
		m.AddFeedbackClass(config, feedback.Label)
	}
	outcome := "wrong"
	if feedback.Label == predicted {
		outcome = "correct"
	}
	series.Labelled(feedback.Label, outcome)
	m.FeedbackRequest(config, "counted")
	labels := series.Labels()
	writeJSON(ctx, http.StatusOK, feedbackAnswer{feedback.RequestID, labels[2], labels[3], outcome})
}

type readiness struct {
	Ready    bool     `json:"ready"`
	Reason   string   `json:"reason,omitempty"`
	Origin   string   `json:"origin,omitempty"`
	Variants []string `json:"variants,omitempty"`
}

func (rt *Router) readyz(ctx *fasthttp.RequestCtx) {
	picker := rt.picker.Load()
	switch {
	case rt.draining.Load():
		writeJSON(ctx, http.StatusServiceUnavailable, readiness{Reason: "shutting down"})
	case picker == nil:
		ctx.Response.Header.Set("Retry-After", rt.retryAfter)
		writeJSON(ctx, http.StatusServiceUnavailable, readiness{Reason: "no valid routing config loaded"})
	default:
		names := []string{}
		for _, v := range picker.Config().Variants {
			names = append(names, v.Name)
		}
		writeJSON(ctx, http.StatusOK, readiness{Ready: true, Origin: *rt.origin.Load(), Variants: names})
	}
}

// fatal logs and exits: for start-up errors only.
func fatal(message string, args ...any) {
	slog.Error(message, args...)
	os.Exit(2)
}
