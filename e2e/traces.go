package e2e

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"sync"
)

// TraceSink is an OTLP/HTTP trace receiver for the JSON encoding: it keeps
// the trace ids and counts the names of the spans it is sent, standing in
// for the trace backend (Jaeger in docker-compose.yml).
type TraceSink struct {
	mu     sync.Mutex
	traces map[string]bool
	names  map[string]int
	spans  int
}

// otlpTraces is the part of an OTLP ExportTraceServiceRequest in JSON the
// sink reads; trace ids are hex strings in that encoding.
type otlpTraces struct {
	ResourceSpans []struct {
		ScopeSpans []struct {
			Spans []struct {
				TraceID string `json:"traceId"`
				Name    string `json:"name"`
			} `json:"spans"`
		} `json:"scopeSpans"`
	} `json:"resourceSpans"`
}

// ServeHTTP records the spans of one OTLP/HTTP trace export.
func (s *TraceSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		http.NotFound(w, r)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer zr.Close()
		body = zr
	}
	var req otlpTraces
	if err := json.NewDecoder(body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	if s.traces == nil {
		s.traces, s.names = map[string]bool{}, map[string]int{}
	}
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				s.traces[sp.TraceID] = true
				s.names[sp.Name]++
				s.spans++
			}
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{}")
}

// Has reports whether a span of the trace arrived.
func (s *TraceSink) Has(traceID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.traces[traceID]
}

// Counts returns how many traces and spans arrived.
func (s *TraceSink) Counts() (traces, spans int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.traces), s.spans
}

// SpansNamed returns how many spans of that name arrived.
func (s *TraceSink) SpansNamed(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.names[name]
}
