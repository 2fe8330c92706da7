package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Kit holds the paths of the operations kit inside the repository.
type Kit struct {
	Root string
}

// FindKit locates the repository root from the working directory (the e2e
// module's folder when run by go test), or from FUSEBOX_ROOT when set.
func FindKit() (Kit, error) {
	if r := os.Getenv("FUSEBOX_ROOT"); r != "" {
		return Kit{Root: r}, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return Kit{}, err
	}
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/fusebox-go/fusebox\n") {
			return Kit{Root: d}, nil
		}
		if filepath.Dir(d) == d {
			return Kit{}, fmt.Errorf("no fusebox repository root above %s", dir)
		}
	}
}

// Path joins elements to the repository root.
func (k Kit) Path(elem ...string) string {
	return filepath.Join(append([]string{k.Root}, elem...)...)
}

// Compose is the path of docker-compose.yml.
func (k Kit) Compose() string { return k.Path("docker-compose.yml") }

// PrometheusConfig is the path of the kit's Prometheus configuration.
func (k Kit) PrometheusConfig() string { return k.Path("examples", "prometheus", "prometheus.yml") }

// AlertmanagerConfig is the path of the kit's Alertmanager configuration.
func (k Kit) AlertmanagerConfig() string { return k.Path("examples", "prometheus", "alertmanager.yml") }

// Alerts is the path of the alert rules.
func (k Kit) Alerts() string { return k.Path("examples", "prometheus", "alerts.yml") }

// Dashboard is the path of the Grafana dashboard.
func (k Kit) Dashboard() string { return k.Path("examples", "grafana", "dashboard.json") }

// CollectorConfig is the path of the collector's configuration.
func (k Kit) CollectorConfig() string { return k.Path("examples", "otel-collector", "config.yaml") }

// Runbook is the path of the alerts' runbook.
func (k Kit) Runbook() string { return k.Path("docs", "runbook.md") }

// Prometheus3Module is the folder of the module that pins the Prometheus 3
// release the e2e test builds (the one docker-compose.yml runs).
func (k Kit) Prometheus3Module() string { return k.Path("e2e", "prometheus3") }

// ---- Prometheus rules ----

// Rule is an alerting or recording rule.
type Rule struct {
	Alert         string            `yaml:"alert"`
	Record        string            `yaml:"record"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for"`
	KeepFiringFor string            `yaml:"keep_firing_for"`
	Labels        map[string]string `yaml:"labels"`
	Annotations   map[string]string `yaml:"annotations"`
}

// Name is the alert or recording rule's name.
func (r Rule) Name() string {
	if r.Alert != "" {
		return r.Alert
	}
	return r.Record
}

// RuleFile is a Prometheus rule file.
type RuleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []Rule `yaml:"rules"`
	} `yaml:"groups"`
}

// LoadRules reads a rule file.
func LoadRules(path string) (*RuleFile, error) {
	var f RuleFile
	if err := readYAML(path, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// Rules returns every rule of every group.
func (f *RuleFile) Rules() []Rule {
	var out []Rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// Exprs returns the expression of every rule. Alerts of the same name (the
// tiers of one alert) are told apart by their severity.
func (f *RuleFile) Exprs() []Expr {
	var out []Expr
	names := map[string]int{}
	for _, r := range f.Rules() {
		names[r.Name()]++
	}
	for _, r := range f.Rules() {
		origin := "record " + r.Name()
		if r.Alert != "" {
			origin = "alert " + r.Name()
			if names[r.Name()] > 1 {
				origin += " (" + r.Labels["severity"] + ")"
			}
		}
		out = append(out, Expr{Origin: origin, Expr: strings.TrimSpace(r.Expr), Alert: r.Alert})
	}
	return out
}

var trailingComparison = regexp.MustCompile(`(?s)^(.*\S)\s*(?:>|>=|<|<=|==|!=)\s*[0-9.eE+-]+\s*$`)

// WithoutThreshold returns expr without its final comparison with a
// number, the data an alert fires on: sum(x) > 0 gives sum(x). ok is false
// when expr does not end with such a comparison.
func WithoutThreshold(expr string) (string, bool) {
	m := trailingComparison.FindStringSubmatch(strings.TrimSpace(expr))
	if m == nil {
		return expr, false
	}
	return m[1], true
}

// WithoutThresholds returns the data an alert with a traffic floor fires
// on: each operand of its top-level "and"s without its final comparison
// with a number, so that (a / b) > 1.5 and c >= 0.1 gives (a / b) and c.
// An expression without "and" is WithoutThreshold's. ok is false when an
// operand does not end with such a comparison.
func WithoutThresholds(expr string) (string, bool) {
	parts := splitTopLevelAnd(expr)
	out := make([]string, len(parts))
	for i, p := range parts {
		data, ok := WithoutThreshold(p)
		if !ok {
			return expr, false
		}
		out[i] = data
	}
	return strings.Join(out, "\nand\n"), true
}

// splitTopLevelAnd splits expr at the "and" operators outside parentheses,
// braces, brackets and strings.
func splitTopLevelAnd(expr string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(expr); i++ {
		switch c := expr[i]; c {
		case '(', '{', '[':
			depth++
		case ')', '}', ']':
			depth--
		case '"', '\'', '`':
			if j, err := skipString(expr, i); err == nil {
				i = j - 1
			}
		case 'a':
			if depth == 0 && strings.HasPrefix(expr[i:], "and") && (i == 0 || !isIdent(expr[i-1])) &&
				(i+3 == len(expr) || !isIdent(expr[i+3])) {
				parts = append(parts, strings.TrimSpace(expr[start:i]))
				start = i + 3
				i += 2
			}
		}
	}
	return append(parts, strings.TrimSpace(expr[start:]))
}

// ScaleRules returns the rule file at path with every for and
// keep_firing_for duration divided by factor (at least one second), and
// everything else, expressions included, as written: alerts then fire
// within a test that runs the demo's scenario factor times faster.
func ScaleRules(path string, factor float64) ([]byte, error) {
	var doc map[string]any
	if err := readYAML(path, &doc); err != nil {
		return nil, err
	}
	groups, _ := doc["groups"].([]any)
	for _, g := range groups {
		gm, _ := g.(map[string]any)
		rules, _ := gm["rules"].([]any)
		for _, r := range rules {
			rm, _ := r.(map[string]any)
			for _, key := range []string{"for", "keep_firing_for"} {
				v, ok := rm[key].(string)
				if !ok {
					continue
				}
				d, err := time.ParseDuration(v) // the rules use s, m and h only
				if err != nil {
					return nil, fmt.Errorf("rule %v: %s %q: %w", rm["alert"], key, v, err)
				}
				scaled := max(time.Duration(float64(d)/factor).Round(time.Second), time.Second)
				rm[key] = scaled.String()
			}
		}
	}
	return yaml.Marshal(doc)
}

// ---- Prometheus config ----

// PromConfig is the part of prometheus.yml the tests read.
type PromConfig struct {
	RuleFiles     []string       `yaml:"rule_files"`
	ScrapeConfigs []ScrapeConfig `yaml:"scrape_configs"`
	Alerting      struct {
		Alertmanagers []struct {
			StaticConfigs []StaticConfig `yaml:"static_configs"`
		} `yaml:"alertmanagers"`
	} `yaml:"alerting"`
}

// AlertmanagerTargets returns the addresses of the Alertmanagers.
func (c *PromConfig) AlertmanagerTargets() []string {
	var out []string
	for _, am := range c.Alerting.Alertmanagers {
		for _, sc := range am.StaticConfigs {
			out = append(out, sc.Targets...)
		}
	}
	return out
}

// ScrapeConfig is one scrape job.
type ScrapeConfig struct {
	JobName       string         `yaml:"job_name"`
	HonorLabels   bool           `yaml:"honor_labels"`
	MetricsPath   string         `yaml:"metrics_path"`
	StaticConfigs []StaticConfig `yaml:"static_configs"`
}

// StaticConfig is a static target group.
type StaticConfig struct {
	Targets []string          `yaml:"targets"`
	Labels  map[string]string `yaml:"labels"`
}

// LoadPromConfig reads prometheus.yml.
func LoadPromConfig(path string) (*PromConfig, error) {
	var c PromConfig
	if err := readYAML(path, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// RewritePromConfig returns the Prometheus config at path with its static
// targets and Alertmanagers replaced through targets (compose "host:port"
// -> local address), its rule files replaced through rules (as written ->
// local path; relative ones not listed made absolute), and the global
// scrape and evaluation intervals set to interval. Everything else,
// relabelling and target labels included, is kept as written. A target
// missing from targets is an error, so a new scrape target cannot go
// untested.
func RewritePromConfig(path string, targets, rules map[string]string, interval string) ([]byte, error) {
	var doc map[string]any
	if err := readYAML(path, &doc); err != nil {
		return nil, err
	}
	global, _ := doc["global"].(map[string]any)
	if global == nil {
		global = map[string]any{}
	}
	global["scrape_interval"] = interval
	global["evaluation_interval"] = interval
	doc["global"] = global

	if rf, ok := doc["rule_files"].([]any); ok {
		for i, f := range rf {
			s, _ := f.(string)
			if local, ok := rules[s]; ok {
				rf[i] = local
			} else if s != "" && !filepath.IsAbs(s) {
				rf[i] = filepath.Join(filepath.Dir(path), s)
			}
		}
	}
	mapStatics := func(what string, statics []any) error {
		for _, st := range statics {
			sm, _ := st.(map[string]any)
			ts, _ := sm["targets"].([]any)
			for i, t := range ts {
				s, _ := t.(string)
				local, ok := targets[s]
				if !ok {
					return fmt.Errorf("%s: no local address for target %q", what, s)
				}
				ts[i] = local
			}
		}
		return nil
	}
	scs, _ := doc["scrape_configs"].([]any)
	for _, sc := range scs {
		m, _ := sc.(map[string]any)
		statics, _ := m["static_configs"].([]any)
		if err := mapStatics(fmt.Sprintf("job %v", m["job_name"]), statics); err != nil {
			return nil, err
		}
	}
	if alerting, ok := doc["alerting"].(map[string]any); ok {
		ams, _ := alerting["alertmanagers"].([]any)
		for _, am := range ams {
			m, _ := am.(map[string]any)
			statics, _ := m["static_configs"].([]any)
			if err := mapStatics("alertmanager", statics); err != nil {
				return nil, err
			}
		}
	}
	return yaml.Marshal(doc)
}

// ---- docker compose ----

// Compose is the part of a compose file the tests read.
type Compose struct {
	Services map[string]Service `yaml:"services"`
}

// Service is a compose service; list-or-map fields are normalised by the
// accessor methods.
type Service struct {
	Image       string       `yaml:"image"`
	Build       yaml.Node    `yaml:"build"`
	Command     yaml.Node    `yaml:"command"`
	Entrypoint  yaml.Node    `yaml:"entrypoint"`
	Environment yaml.Node    `yaml:"environment"`
	Volumes     yaml.Node    `yaml:"volumes"`
	Ports       yaml.Node    `yaml:"ports"`
	DependsOn   yaml.Node    `yaml:"depends_on"`
	Healthcheck *Healthcheck `yaml:"healthcheck"`
}

// Healthcheck is a service's health check.
type Healthcheck struct {
	Test     yaml.Node `yaml:"test"`
	Interval string    `yaml:"interval"`
	Disable  bool      `yaml:"disable"`
}

// Command returns the check's command: the arguments of a CMD test, or the
// shell line of a CMD-SHELL or string test.
func (h Healthcheck) Command() ([]string, error) {
	l, err := stringList(h.Test)
	if err != nil || len(l) == 0 {
		return l, err
	}
	if h.Test.Kind == yaml.ScalarNode {
		return []string{"sh", "-c", h.Test.Value}, nil
	}
	switch l[0] {
	case "CMD":
		return l[1:], nil
	case "CMD-SHELL":
		return []string{"sh", "-c", strings.Join(l[1:], " ")}, nil
	}
	return nil, fmt.Errorf("health check test must start with CMD or CMD-SHELL, got %q", l[0])
}

// LoadCompose reads a compose file.
func LoadCompose(path string) (*Compose, error) {
	var c Compose
	if err := readYAML(path, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// BuildSpec returns the build context and Dockerfile (relative to the
// context), or ok false when the service has no build section.
func (s Service) BuildSpec() (context, dockerfile string, ok bool, err error) {
	switch s.Build.Kind {
	case 0:
		return "", "", false, nil
	case yaml.ScalarNode:
		return s.Build.Value, "Dockerfile", true, nil
	case yaml.MappingNode:
		var b struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		}
		if err := s.Build.Decode(&b); err != nil {
			return "", "", false, err
		}
		if b.Context == "" {
			b.Context = "."
		}
		if b.Dockerfile == "" {
			b.Dockerfile = "Dockerfile"
		}
		return b.Context, b.Dockerfile, true, nil
	}
	return "", "", false, fmt.Errorf("unexpected build section at line %d", s.Build.Line)
}

// Args returns the command as a list of arguments.
func (s Service) Args() ([]string, error) { return stringList(s.Command) }

// Env returns the environment as a map.
func (s Service) Env() (map[string]string, error) {
	out := map[string]string{}
	switch s.Environment.Kind {
	case 0:
		return out, nil
	case yaml.MappingNode:
		var m map[string]string
		if err := s.Environment.Decode(&m); err != nil {
			return nil, err
		}
		return m, nil
	case yaml.SequenceNode:
		var l []string
		if err := s.Environment.Decode(&l); err != nil {
			return nil, err
		}
		for _, kv := range l {
			k, v, _ := strings.Cut(kv, "=")
			out[k] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected environment at line %d", s.Environment.Line)
}

// Mount is a volume entry.
type Mount struct {
	Type, Source, Target string
	ReadOnly             bool
}

// Bind reports whether the mount is a bind mount of a host path.
func (m Mount) Bind() bool { return m.Type == "bind" }

// Mounts returns the volume entries in both short and long syntax.
func (s Service) Mounts() ([]Mount, error) {
	if s.Volumes.Kind == 0 {
		return nil, nil
	}
	var out []Mount
	for _, n := range s.Volumes.Content {
		switch n.Kind {
		case yaml.ScalarNode:
			parts := strings.Split(n.Value, ":")
			m := Mount{Source: parts[0]}
			if len(parts) > 1 {
				m.Target = parts[1]
			}
			if len(parts) > 2 {
				m.ReadOnly = strings.Contains(parts[2], "ro")
			}
			if strings.HasPrefix(m.Source, ".") || strings.HasPrefix(m.Source, "/") || strings.HasPrefix(m.Source, "~") {
				m.Type = "bind"
			} else {
				m.Type = "volume"
			}
			out = append(out, m)
		case yaml.MappingNode:
			var l struct {
				Type     string `yaml:"type"`
				Source   string `yaml:"source"`
				Target   string `yaml:"target"`
				ReadOnly bool   `yaml:"read_only"`
			}
			if err := n.Decode(&l); err != nil {
				return nil, err
			}
			out = append(out, Mount{Type: l.Type, Source: l.Source, Target: l.Target, ReadOnly: l.ReadOnly})
		default:
			return nil, fmt.Errorf("unexpected volume entry at line %d", n.Line)
		}
	}
	return out, nil
}

// PortMapping is a published port.
type PortMapping struct {
	HostIP    string
	Published string
	Target    string // container port
}

// PortMappings returns the published ports in short or long syntax.
func (s Service) PortMappings() ([]PortMapping, error) {
	if s.Ports.Kind == 0 {
		return nil, nil
	}
	var out []PortMapping
	for _, n := range s.Ports.Content {
		switch n.Kind {
		case yaml.ScalarNode:
			v, _, _ := strings.Cut(n.Value, "/") // drop /tcp
			parts := strings.Split(v, ":")
			var p PortMapping
			switch len(parts) {
			case 1:
				p.Target = parts[0]
			case 2:
				p.Published, p.Target = parts[0], parts[1]
			case 3:
				p.HostIP, p.Published, p.Target = parts[0], parts[1], parts[2]
			default:
				return nil, fmt.Errorf("cannot read port %q", n.Value)
			}
			out = append(out, p)
		case yaml.MappingNode:
			var l struct {
				Target    string `yaml:"target"`
				Published string `yaml:"published"`
				HostIP    string `yaml:"host_ip"`
			}
			if err := n.Decode(&l); err != nil {
				return nil, err
			}
			out = append(out, PortMapping{HostIP: l.HostIP, Published: l.Published, Target: l.Target})
		}
	}
	return out, nil
}

// DependencyConditions returns the services this one depends on and the
// condition each must meet (service_started when not given).
func (s Service) DependencyConditions() (map[string]string, error) {
	out := map[string]string{}
	switch s.DependsOn.Kind {
	case 0:
		return out, nil
	case yaml.SequenceNode:
		l, err := stringList(s.DependsOn)
		for _, d := range l {
			out[d] = "service_started"
		}
		return out, err
	case yaml.MappingNode:
		var m map[string]struct {
			Condition string `yaml:"condition"`
		}
		if err := s.DependsOn.Decode(&m); err != nil {
			return nil, err
		}
		for d, c := range m {
			if c.Condition == "" {
				c.Condition = "service_started"
			}
			out[d] = c.Condition
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected depends_on at line %d", s.DependsOn.Line)
}

// Dependencies returns the names of the services this one depends on.
func (s Service) Dependencies() ([]string, error) {
	switch s.DependsOn.Kind {
	case 0:
		return nil, nil
	case yaml.SequenceNode:
		return stringList(s.DependsOn)
	case yaml.MappingNode:
		var out []string
		for i := 0; i+1 < len(s.DependsOn.Content); i += 2 {
			out = append(out, s.DependsOn.Content[i].Value)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected depends_on at line %d", s.DependsOn.Line)
}

func stringList(n yaml.Node) ([]string, error) {
	switch n.Kind {
	case 0:
		return nil, nil
	case yaml.ScalarNode:
		return strings.Fields(n.Value), nil
	case yaml.SequenceNode:
		var l []string
		err := n.Decode(&l)
		return l, err
	}
	return nil, fmt.Errorf("expected a string or a list at line %d", n.Line)
}

// FlagValue returns the value of a command-line flag in args, accepting
// -name value, -name=value, --name value and --name=value.
func FlagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		t := strings.TrimLeft(a, "-")
		if t == a { // not a flag
			continue
		}
		if k, v, ok := strings.Cut(t, "="); ok && k == name {
			return v, true
		}
		if t == name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// ---- collector config ----

var envDefaultRE = regexp.MustCompile(`^\$\{env:([A-Za-z_][A-Za-z0-9_]*):-([^}]*)\}$`)

// EnvDefault splits a collector config value of the form
// ${env:NAME:-default}; a plain value is returned as its own default.
func EnvDefault(v string) (name, def string) {
	if m := envDefaultRE.FindStringSubmatch(v); m != nil {
		return m[1], m[2]
	}
	return "", v
}

// CollectorConfig is the part of the collector config the tests read.
type CollectorConfig struct {
	Receivers struct {
		OTLP struct {
			Protocols struct {
				GRPC struct {
					Endpoint string `yaml:"endpoint"`
				} `yaml:"grpc"`
				HTTP struct {
					Endpoint string `yaml:"endpoint"`
				} `yaml:"http"`
			} `yaml:"protocols"`
		} `yaml:"otlp"`
	} `yaml:"receivers"`
	Exporters struct {
		Prometheus struct {
			Endpoint          string `yaml:"endpoint"`
			EnableOpenMetrics bool   `yaml:"enable_open_metrics"`
		} `yaml:"prometheus"`
		OTLPHTTPTraces struct {
			Endpoint string `yaml:"endpoint"`
			Encoding string `yaml:"encoding"`
		} `yaml:"otlphttp/traces"`
	} `yaml:"exporters"`
	Service struct {
		Telemetry struct {
			Metrics struct {
				Readers []struct {
					Pull struct {
						Exporter struct {
							Prometheus struct {
								Host string `yaml:"host"`
								Port string `yaml:"port"`
							} `yaml:"prometheus"`
						} `yaml:"exporter"`
					} `yaml:"pull"`
				} `yaml:"readers"`
			} `yaml:"metrics"`
		} `yaml:"telemetry"`
	} `yaml:"service"`
}

// LoadCollectorConfig reads the collector config.
func LoadCollectorConfig(path string) (*CollectorConfig, error) {
	var c CollectorConfig
	if err := readYAML(path, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// Port returns the port of a host:port address.
func Port(addr string) (string, error) {
	_, p, err := net.SplitHostPort(addr)
	return p, err
}

func readYAML(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
