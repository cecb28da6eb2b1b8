// visionroll-router: the built-in router in front of a VisionModel's variants (docs/contracts.md for router.json).
//
// It forwards POST /predictions/{model} to the stable or the candidate by weight, copies requests to the other
// variant (shadow mirrors, paired copies) and compares the two answers, takes ground-truth labels on POST /feedback,
// and exports what it saw to Prometheus on its metrics port. It reads its routing from a file (local runs) or from
// the VisionModel's routing ConfigMap, which the operator rewrites at every step.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"k8s.io/client-go/kubernetes"
)

type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

type options struct {
	configFile, configMap, kubeconfig, host, logLevel, checkConfig string
	pprof                                                          bool
	port, metricsPort                                              int
	resolve                                                        repeated
	drainSeconds, shutdownTimeout                                  float64
	settings                                                       Settings
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("visionroll-router", flag.ContinueOnError)
	fs.StringVar(&o.configFile, "config-file", "", "router.json on disk, reloaded when it changes")
	fs.StringVar(&o.configMap, "configmap", "", "NAMESPACE/NAME: watch this ConfigMap's key router.json")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig for --configmap (default: $KUBECONFIG or in-cluster)")
	fs.StringVar(&o.checkConfig, "check-config", "", "validate this router.json, print why it is refused, and exit")
	fs.StringVar(&o.host, "host", "0.0.0.0", "address to listen on")
	fs.IntVar(&o.port, "port", 8080, "client port")
	fs.IntVar(&o.metricsPort, "metrics-port", 9090, "Prometheus metrics port")
	fs.Var(&o.resolve, "resolve", "HOST:PORT=IP:PORT: map an upstream; repeatable")
	s := &o.settings
	fs.Int64Var(&s.MaxBodyBytes, "max-body-bytes", 1<<20, "largest request body")
	upstreamTimeout := fs.Float64("upstream-timeout", 10, "seconds for a live request's round trip")
	connectTimeout := fs.Float64("connect-timeout", 2, "seconds to connect to a variant")
	fs.IntVar(&s.ShadowQueue, "shadow-queue", 1000, "copies (shadow, paired) queued")
	fs.Int64Var(&s.CopyQueueBytes, "copy-queue-bytes", 64<<20,
		"bytes of bodies held by copies (queued and being sent); beyond, copies are dropped and counted")
	copyTimeout := fs.Float64("copy-timeout", 5, "seconds for a copy's round trip; a copy that waited in the "+
		"queue longer is dropped and counted (reason expired), not sent")
	headerTimeout := fs.Float64("header-timeout", 10,
		"seconds to send a request head, from a connection's start or its previous answer; then it is closed")
	bodyTimeout := fs.Float64("body-timeout", 10, "seconds to send a body; then 408")
	fs.Int64Var(&s.BodyBytes, "body-bytes", 128<<20,
		"bytes the bodies of requests in progress may hold, by declared size; beyond, 503 with Retry-After")
	// Size it to what the upstreams serve at once (TorchServe's workers x batch size, over the router replicas)
	// times a few: a larger bound lets a flood queue in TorchServe, where every client waits behind it.
	fs.IntVar(&s.MaxInFlight, "max-in-flight", 32, "client requests forwarded at once; beyond, 503 with "+
		"Retry-After (once three quarters are taken, a client address holding its fair share is refused too)")
	fs.IntVar(&s.RetryAfter, "retry-after", 1, "seconds, in every 503")
	fs.IntVar(&s.ShadowConcurrency, "shadow-concurrency", 16, "copies (shadow, paired) in flight")
	feedbackTTL := fs.Float64("feedback-ttl", 3600, "seconds an answer is kept for feedback")
	fs.IntVar(&s.FeedbackEntries, "feedback-entries", 200_000, "answers kept at most")
	fs.IntVar(&s.FeedbackBytes, "feedback-bytes", 64<<20, "their memory at most")
	fs.IntVar(&s.FeedbackClasses, "feedback-classes", 1000, "distinct true classes counted")
	fs.Float64Var(&o.drainSeconds, "drain-seconds", 0, "after SIGTERM, keep accepting and serving this long "+
		"before stopping (every answer closes its connection, /readyz says 503): time for the pod to leave its "+
		"Service's endpoints (the operator's Deployment sets it)")
	fs.Float64Var(&o.shutdownTimeout, "shutdown-timeout", 10, "seconds to finish requests in flight when stopping")
	fs.StringVar(&o.logLevel, "log-level", "INFO", "DEBUG, INFO, WARNING or ERROR")
	fs.BoolVar(&o.pprof, "pprof", false, "serve Go's profiles under /debug/pprof/ on the metrics port "+
		"(bench/profile_router.py); off by default: the metrics port is reachable by the cluster's Prometheus")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	s.UpstreamTimeout, s.ConnectTimeout, s.CopyTimeout = seconds(*upstreamTimeout), seconds(*connectTimeout),
		seconds(*copyTimeout)
	s.HeaderTimeout, s.BodyTimeout, s.FeedbackTTL = seconds(*headerTimeout), seconds(*bodyTimeout),
		seconds(*feedbackTTL)
	if o.checkConfig == "" && (o.configFile == "") == (o.configMap == "") {
		return nil, errors.New("give exactly one of --config-file or --configmap")
	}
	for name, value := range map[string]int64{"--max-body-bytes": s.MaxBodyBytes, "--shadow-queue": int64(s.ShadowQueue), "--copy-queue-bytes": s.CopyQueueBytes, "--body-bytes": s.BodyBytes,
		"--max-in-flight": int64(s.MaxInFlight), "--shadow-concurrency": int64(s.ShadowConcurrency),
		"--retry-after": int64(s.RetryAfter), "--feedback-classes": int64(s.FeedbackClasses)} {
		if value < 1 {
			return nil, fmt.Errorf("%s must be at least 1, got %d", name, value)
		}
	}
	return o, nil
}

func logLevel(name string) (slog.Level, error) {
	switch strings.ToUpper(name) {
	case "DEBUG":
		return slog.LevelDebug, nil
	case "INFO":
		return slog.LevelInfo, nil
	case "WARNING", "WARN":
		return slog.LevelWarn, nil
	case "ERROR":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("--log-level %q: expected DEBUG, INFO, WARNING or ERROR", name)
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "visionroll-router:", err)
		os.Exit(2)
	}
	if o.checkConfig != "" {
		os.Exit(checkConfig(o.checkConfig))
	}
	level, err := logLevel(o.logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "visionroll-router:", err)
		os.Exit(2)
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	if err := serve(o); err != nil {
		fatal("router stopped", "error", err)
	}
}

// checkConfig prints why a router.json is refused (exit 1), or nothing (exit 0).
func checkConfig(path string) int {
	text, err := os.ReadFile(path)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	if _, err := ParseConfig(text, nil); err != nil {
		fmt.Println(err)
		return 1
	}
	return 0
}

func serve(o *options) error {
	resolve, err := ParseResolve(o.resolve)
	if err != nil {
		return err
	}
	metrics := NewMetrics()
	router, err := NewRouter(o.settings, metrics)
	if err != nil {
		return err
	}
	apply := func(text []byte, origin string) {
		config, err := ParseConfig(text, resolve)
		if err != nil {
			slog.Error("routing config rejected, keeping the previous one", "origin", origin, "error", err)
			return
		}
		router.Apply(config, origin)
	}
	ctx, stopSources := context.WithCancel(context.Background())
	defer stopSources()
	if o.configFile != "" {
		go WatchFile(ctx, o.configFile, apply, 500*time.Millisecond)
	} else {
		namespace, name, ok := strings.Cut(o.configMap, "/")
		if !ok || namespace == "" || name == "" {
			return fmt.Errorf("--configmap must be NAMESPACE/NAME, got %q", o.configMap)
		}
		restConfig, err := KubeConfig(o.kubeconfig)
		if err != nil {
			return fmt.Errorf("cannot load Kubernetes credentials for --configmap: %w", err)
		}
		client, err := kubernetes.NewForConfig(restConfig)
		if err != nil {
			return err
		}
		go WatchConfigMap(ctx, client, namespace, name, apply)
	}
	quiet := log.New(discard{}, "", 0) // the HTTP stacks' own messages (TLS probes, resets) are not the operator's
	s := o.settings
	server := &fasthttp.Server{
		Handler:      router.Serve,
		ErrorHandler: router.ServerError,
		// The head within this long of the connection's start, or of the previous answer after an idle wait as long.
		ReadTimeout: s.HeaderTimeout,
		IdleTimeout: s.HeaderTimeout,
		// The body within this long of the head's end, read by the handler (router.go: readBody, under its own size
		// limit), so that a refusal costs no body. fasthttp reads up to MaxRequestBodySize of a body before the
		// handler runs, and streams the rest: 1 byte, so that a slow body meets the handler's deadline and reason.
		HeaderReceived: func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
			return fasthttp.RequestConfig{ReadTimeout: s.BodyTimeout, MaxRequestBodySize: 1}
		},
		StreamRequestBody:            true,
		MaxRequestBodySize:           1,
		ReadBufferSize:               MaxHeadBytes,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
		Logger:                       quiet,
	}
	metricsMux := http.NewServeMux()
	metricsMux.Handle("GET /metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}))
	if o.pprof {
		metricsMux.HandleFunc("GET /debug/pprof/", pprof.Index)
		metricsMux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	}
	metricsServer := &http.Server{Handler: metricsMux, ReadHeaderTimeout: s.HeaderTimeout, ErrorLog: quiet}
	listener, err := net.Listen("tcp", net.JoinHostPort(o.host, strconv.Itoa(o.port)))
	if err != nil {
		return err
	}
	metricsListener, err := net.Listen("tcp", net.JoinHostPort(o.host, strconv.Itoa(o.metricsPort)))
	if err != nil {
		return err
	}
	served := make(chan error, 2)
	go func() { served <- server.Serve(listener) }()
	go func() { served <- metricsServer.Serve(metricsListener) }()
	slog.Info("router listening", "address", listener.Addr().String(), "metrics", metricsListener.Addr().String(),
		"settings", fmt.Sprintf("%+v", s))

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-signals:
	case err := <-served:
		return err
	}
	if o.drainSeconds > 0 {
		slog.Info("draining: still serving, answers close their connections, /readyz says 503",
			"seconds", o.drainSeconds)
		router.draining.Store(true) // every answer closes its connection
		time.Sleep(seconds(o.drainSeconds))
	}
	slog.Info("shutting down: finishing requests in flight", "timeout_seconds", o.shutdownTimeout)
	stopSources()
	shutdown, cancel := context.WithTimeout(context.Background(), seconds(o.shutdownTimeout))
	defer cancel()
	_ = server.ShutdownWithContext(shutdown) // stops accepting, waits for requests in progress
	router.Close(2 * time.Second)            // drains the copy queue briefly, closes the upstream connections
	closing, cancelMetrics := context.WithTimeout(context.Background(), time.Second)
	defer cancelMetrics()
	_ = metricsServer.Shutdown(closing)
	slog.Info("stopped")
	return nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
