// The router's Prometheus series, named and labelled exactly as docs/contracts.md says. The comparison and drop
// series keep their `shadow_` names from when mirrors were the only copies; their `traffic` label tells the copies
// apart. The children of one (variant, traffic) label set are looked up once and kept in a Series, so recording a
// request is a few map look-ups under no lock of ours.
package main

import (
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
)

// Traffic kinds: a client's own request is live; copies are shadow (mirrors) or paired.
const (
	Live        = "live"
	ShadowCopy  = "shadow"
	PairedCopy  = "paired"
	Unreachable = "error" // the `code` label when there is no HTTP status: connection failed or timed out
)

var (
	common = []string{"namespace", "visionmodel", "variant", "revision", "traffic"}
	// Fine at the low end (p99 of a few ms on loopback) and reaching seconds (a slow or overloaded model).
	latencyBuckets = []float64{
		0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0065, 0.008, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.03,
		0.04, 0.05, 0.065, 0.08, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
	}
	confidenceBuckets = []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0}
	outcomes          = []string{"correct", "wrong"} // of a ground-truth label against the answer's top-1
	// Requests the router answers itself because of how they arrive, not what they hold (guard.go).
	refusals = []string{"overloaded", "body_timeout"}
)

func with(labels []string, more ...string) []string {
	return append(append([]string{}, labels...), more...)
}

// Metrics holds every series of the router and the label sets made so far.
type Metrics struct {
	Registry          *prometheus.Registry
	requests          *prometheus.CounterVec
	duration          *prometheus.HistogramVec
	predictions       *prometheus.CounterVec
	confidence        *prometheus.HistogramVec
	comparisons       *prometheus.CounterVec
	dropped           *prometheus.CounterVec
	feedback          *prometheus.CounterVec
	feedbackClass     *prometheus.CounterVec
	feedbackRequests  *prometheus.CounterVec
	Overloaded        prometheus.Counter
	BodyTimedOut      prometheus.Counter
	copyQueueLimit    prometheus.Gauge
	mu                sync.Mutex
	series            map[seriesKey]*Series
	feedbackClasses   map[string]bool // true classes seen in feedback (their count is bounded by the caller)
	FeedbackClassesMu sync.Mutex      // held by the feedback handler around its check-and-add of a class
}

type seriesKey struct{ namespace, visionmodel, variant, revision, traffic string }

// NewMetrics registers every series; gauges read at scrape time are wired by the caller (GaugeFunc).
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{Registry: r, series: map[seriesKey]*Series{}, feedbackClasses: map[string]bool{}}
	m.requests = counterVec(r, "visionroll_router_requests_total", "Requests by upstream HTTP status", with(common, "code"))
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "visionroll_router_request_duration_seconds", Help: "Upstream round trip as seen by the router",
		Buckets: latencyBuckets,
	}, common)
	m.predictions = counterVec(r, "visionroll_router_predictions_total", "Answers by predicted top-1 class",
		with(common, "class"))
	m.confidence = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "visionroll_router_prediction_confidence", Help: "Top-1 score of answers", Buckets: confidenceBuckets,
	}, common)
	r.MustRegister(m.duration, m.confidence)
	m.comparisons = counterVec(r, "visionroll_router_shadow_comparisons_total",
		"Candidate top-1 compared with stable's for the same input, on mirrored (traffic=shadow) or paired copies",
		with(common, "result"))
	m.dropped = counterVec(r, "visionroll_router_shadow_dropped_total", "Copies (traffic=shadow or paired) not sent",
		with(common, "reason"))
	m.feedback = counterVec(r, "visionroll_router_feedback_total",
		"Ground-truth labels received for live answers, by whether the answer's top-1 was the label",
		with(common, "outcome"))
	m.feedbackClass = counterVec(r, "visionroll_router_feedback_class_total",
		"Ground-truth labels by true class and outcome (per-class recall = correct / all of a class)",
		with(common, "class", "outcome"))
	m.feedbackRequests = counterVec(r, "visionroll_router_feedback_requests_total",
		"POST /feedback requests by what became of them", []string{"namespace", "visionmodel", "result"})
	refused := counterVec(r, "visionroll_router_refused_total",
		"Requests the router answered itself for how they arrived: overloaded (503), body_timeout (408)",
		[]string{"reason"})
	m.Overloaded, m.BodyTimedOut = refused.WithLabelValues(refusals[0]), refused.WithLabelValues(refusals[1])
	m.copyQueueLimit = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "visionroll_router_copy_queue_bytes_limit", Help: "The copy queue's bound in bytes (--copy-queue-bytes)",
	})
	r.MustRegister(m.copyQueueLimit)
	// process_resident_memory_bytes and friends, plus the peak, for the abuse run and the dashboard.
	r.MustRegister(memoryCollector{collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})})
	return m
}

var residentPeakDesc = prometheus.NewDesc("visionroll_router_resident_memory_peak_bytes",
	"Resident memory high-water mark (VmHWM)", nil, nil)

// memoryCollector sends the process collector's series and then the resident-memory peak: the larger of VmHWM and
// the process_resident_memory_bytes it has just sent. The kernel keeps resident memory in per-CPU counters and their
// high-water mark lazily, so a VmHWM read after the resident memory can still be a few pages below it (seen: 12 KiB);
// within one scrape the peak is never below the resident memory.
type memoryCollector struct{ process prometheus.Collector }

func (c memoryCollector) Describe(ch chan<- *prometheus.Desc) {
	c.process.Describe(ch)
	ch <- residentPeakDesc
}

func (c memoryCollector) Collect(ch chan<- prometheus.Metric) {
	process := make(chan prometheus.Metric)
	go func() {
		c.process.Collect(process)
		close(process)
	}()
	resident := 0.0
	for metric := range process {
		if strings.Contains(metric.Desc().String(), `"process_resident_memory_bytes"`) {
			var read dto.Metric
			if metric.Write(&read) == nil {
				resident = read.GetGauge().GetValue()
			}
		}
		ch <- metric
	}
	ch <- prometheus.MustNewConstMetric(residentPeakDesc, prometheus.GaugeValue, max(residentPeakBytes(), resident))
}

func counterVec(r *prometheus.Registry, name, help string, labels []string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	r.MustRegister(c)
	return c
}

// GaugeFunc registers a gauge read at scrape time: nothing on the request path.
func (m *Metrics) GaugeFunc(name, help string, read func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, read))
}

// residentPeakBytes is the process's resident-memory high-water mark (VmHWM), 0 where /proc does not say.
func residentPeakBytes() float64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				kb, err := strconv.ParseFloat(fields[0], 64)
				if err == nil {
					return kb * 1024
				}
			}
		}
	}
	return 0
}

// Series returns the children of one (namespace, visionmodel, variant, revision, traffic) label set, made on first
// use. Copies' drop series and live feedback series start at 0, so a dashboard shows 0, not "no data".
func (m *Metrics) Series(c *Config, v *Variant, traffic string) *Series {
	key := seriesKey{c.Namespace, c.VisionModel, v.Name, v.Revision, traffic}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.series[key]; ok {
		return s
	}
	labels := []string{key.namespace, key.visionmodel, key.variant, key.revision, key.traffic}
	s := &Series{metrics: m, labels: labels, codes: map[string]prometheus.Counter{},
		classes: map[string]prometheus.Counter{}, results: map[string]prometheus.Counter{},
		duration: m.duration.WithLabelValues(labels...), confidence: m.confidence.WithLabelValues(labels...)}
	switch traffic {
	case ShadowCopy, PairedCopy:
		for _, reason := range []string{"queue_full", "expired", "shutdown"} {
			m.dropped.WithLabelValues(with(labels, reason)...)
		}
	case Live:
		for _, outcome := range outcomes {
			m.feedback.WithLabelValues(with(labels, outcome)...)
		}
		m.FeedbackClassesMu.Lock()
		for class := range m.feedbackClasses {
			s.ExpectLabels(class)
		}
		m.FeedbackClassesMu.Unlock()
	}
	m.series[key] = s
	return s
}

// HasFeedbackClass and AddFeedbackClass are called with FeedbackClassesMu held.
func (m *Metrics) HasFeedbackClass(class string) bool { return m.feedbackClasses[class] }

// FeedbackClassCount is called with FeedbackClassesMu held.
func (m *Metrics) FeedbackClassCount() int { return len(m.feedbackClasses) }

// AddFeedbackClass: a true class seen in feedback for the first time. The live series of the variants routed now
// start counting it at 0, and so do those made later (Series). A revision's labels are then all seen, its first ones
// included, where a series born at its first label loses what it counted before Prometheus first scraped it
// (`increase()` starts from the first sample). Called with FeedbackClassesMu held; the caller bounds the count.
func (m *Metrics) AddFeedbackClass(c *Config, class string) {
	m.feedbackClasses[class] = true
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range c.Variants {
		v := &c.Variants[i]
		if s, ok := m.series[seriesKey{c.Namespace, c.VisionModel, v.Name, v.Revision, Live}]; ok {
			s.ExpectLabels(class)
		}
	}
}

// FeedbackRequest counts a POST /feedback by what became of it.
func (m *Metrics) FeedbackRequest(c *Config, result string) {
	m.feedbackRequests.WithLabelValues(c.Namespace, c.VisionModel, result).Inc()
}

// Series is the children of one label set.
type Series struct {
	metrics    *Metrics
	labels     []string
	duration   prometheus.Observer
	confidence prometheus.Observer
	mu         sync.Mutex
	codes      map[string]prometheus.Counter
	classes    map[string]prometheus.Counter
	results    map[string]prometheus.Counter
}

// Labels: namespace, visionmodel, variant, revision, traffic.
func (s *Series) Labels() []string { return s.labels }

func (s *Series) child(cache map[string]prometheus.Counter, vec *prometheus.CounterVec, value string) prometheus.Counter {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := cache[value]
	if !ok {
		c = vec.WithLabelValues(with(s.labels, value)...)
		cache[value] = c
	}
	return c
}

// Observe records one upstream answer (code: its HTTP status, or Unreachable), its round trip and its top-1.
func (s *Series) Observe(code string, seconds float64, top *TopOne) {
	s.child(s.codes, s.metrics.requests, code).Inc()
	s.duration.Observe(seconds)
	if top != nil {
		s.child(s.classes, s.metrics.predictions, top.Label).Inc()
		s.confidence.Observe(top.Score)
	}
}

// Compared records one comparison's result: agree, disagree or error.
func (s *Series) Compared(result string) { s.child(s.results, s.metrics.comparisons, result).Inc() }

// Dropped counts a copy not sent: queue_full, expired or shutdown.
func (s *Series) Dropped(reason string) {
	s.metrics.dropped.WithLabelValues(with(s.labels, reason)...).Inc()
}

// ExpectLabels starts a true class's feedback series at 0.
func (s *Series) ExpectLabels(class string) {
	for _, outcome := range outcomes {
		s.metrics.feedbackClass.WithLabelValues(with(s.labels, class, outcome)...)
	}
}

// Labelled counts a ground-truth label for an answer of this series.
func (s *Series) Labelled(class, outcome string) {
	s.metrics.feedback.WithLabelValues(with(s.labels, outcome)...).Inc()
	s.metrics.feedbackClass.WithLabelValues(with(s.labels, class, outcome)...).Inc()
}
