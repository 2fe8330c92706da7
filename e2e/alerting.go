package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"

	"gopkg.in/yaml.v3"
)

// AlertmanagerConfig is the part of alertmanager.yml the tests read.
type AlertmanagerConfig struct {
	Route struct {
		Receiver string   `yaml:"receiver"`
		GroupBy  []string `yaml:"group_by"`
	} `yaml:"route"`
	Receivers []struct {
		Name string `yaml:"name"`
	} `yaml:"receivers"`
	InhibitRules []struct {
		SourceMatchers []string `yaml:"source_matchers"`
		TargetMatchers []string `yaml:"target_matchers"`
		Equal          []string `yaml:"equal"`
	} `yaml:"inhibit_rules"`
}

// LoadAlertmanagerConfig reads alertmanager.yml.
func LoadAlertmanagerConfig(path string) (*AlertmanagerConfig, error) {
	var c AlertmanagerConfig
	if err := readYAML(path, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// RewriteAlertmanagerConfig returns the Alertmanager config at path with a
// webhook to url added to every receiver, and the route's (and its
// children's) group_wait and group_interval set to wait, so that
// notifications come within a short test; grouping, routes and inhibition
// are kept as written.
func RewriteAlertmanagerConfig(path, url, wait string) ([]byte, error) {
	var doc map[string]any
	if err := readYAML(path, &doc); err != nil {
		return nil, err
	}
	receivers, _ := doc["receivers"].([]any)
	if len(receivers) == 0 {
		return nil, fmt.Errorf("%s: no receivers", path)
	}
	for _, r := range receivers {
		rm, _ := r.(map[string]any)
		hooks, _ := rm["webhook_configs"].([]any)
		rm["webhook_configs"] = append(hooks, map[string]any{"url": url, "send_resolved": true})
	}
	var timings func(route map[string]any)
	timings = func(route map[string]any) {
		for _, k := range []string{"group_wait", "group_interval"} {
			if _, ok := route[k]; ok {
				route[k] = wait
			}
		}
		children, _ := route["routes"].([]any)
		for _, c := range children {
			if cm, ok := c.(map[string]any); ok {
				timings(cm)
			}
		}
	}
	route, ok := doc["route"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: no route", path)
	}
	timings(route)
	return yaml.Marshal(doc)
}

// Notification is one webhook notification of Alertmanager.
type Notification struct {
	Receiver    string            `json:"receiver"`
	Status      string            `json:"status"`
	GroupLabels map[string]string `json:"groupLabels"`
	Alerts      []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"alerts"`
}

// WebhookSink receives Alertmanager's notifications.
type WebhookSink struct {
	mu   sync.Mutex
	seen []Notification
}

// ServeHTTP records one Alertmanager webhook notification.
func (s *WebhookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var n Notification
	b, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(b, &n)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.seen = append(s.seen, n)
	s.mu.Unlock()
}

// Notifications returns what was received so far.
func (s *WebhookSink) Notifications() []Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Notification(nil), s.seen...)
}
