package e2e

import (
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stack is docker-compose.yml with each service's role found from what it
// mounts, so that the checks below compare names and ports instead of
// assuming them.
type stack struct {
	kit          Kit
	compose      *Compose
	collector    string // service mounting the collector config
	prometheus   string // service mounting prometheus.yml
	alertmanager string // service mounting alertmanager.yml
	grafana      string // service mounting the Grafana provisioning
}

func loadStack(t *testing.T) stack {
	t.Helper()
	kit, err := FindKit()
	require.NoError(t, err)
	c, err := LoadCompose(kit.Compose())
	require.NoError(t, err)
	s := stack{kit: kit, compose: c}
	for name, svc := range c.Services {
		mounts, err := svc.Mounts()
		require.NoError(t, err, name)
		for _, m := range mounts {
			switch s.hostPath(m.Source) {
			case kit.CollectorConfig():
				s.collector = name
			case kit.PrometheusConfig():
				s.prometheus = name
			case kit.AlertmanagerConfig():
				s.alertmanager = name
			case kit.Path("examples", "grafana", "provisioning"):
				s.grafana = name
			}
		}
	}
	require.NotEmpty(t, s.collector, "no service mounts examples/otel-collector/config.yaml")
	require.NotEmpty(t, s.prometheus, "no service mounts examples/prometheus/prometheus.yml")
	require.NotEmpty(t, s.alertmanager, "no service mounts examples/prometheus/alertmanager.yml")
	require.NotEmpty(t, s.grafana, "no service mounts examples/grafana/provisioning")
	return s
}

// hostPath resolves a bind-mount source against the compose file's folder.
func (s stack) hostPath(src string) string {
	if filepath.IsAbs(src) {
		return filepath.Clean(src)
	}
	return filepath.Join(filepath.Dir(s.kit.Compose()), src)
}

// mountSource returns the host path mounted at target in service, or "".
func (s stack) mountSource(t *testing.T, service, target string) string {
	t.Helper()
	mounts, err := s.compose.Services[service].Mounts()
	require.NoError(t, err)
	for _, m := range mounts {
		if path.Clean(m.Target) == path.Clean(target) {
			return s.hostPath(m.Source)
		}
	}
	// A file inside a mounted folder.
	for _, m := range mounts {
		if rel, ok := strings.CutPrefix(path.Clean(target), path.Clean(m.Target)+"/"); ok {
			return filepath.Join(s.hostPath(m.Source), filepath.FromSlash(rel))
		}
	}
	return ""
}

func (s stack) args(t *testing.T, service string) []string {
	t.Helper()
	a, err := s.compose.Services[service].Args()
	require.NoError(t, err)
	return a
}

// collectorConfig reads the collector config through the compose mount.
func (s stack) collectorConfig(t *testing.T) *CollectorConfig {
	t.Helper()
	cfgPath, ok := FlagValue(s.args(t, s.collector), "config")
	require.True(t, ok, "service %s: no --config in its command", s.collector)
	src := s.mountSource(t, s.collector, cfgPath)
	require.Equal(t, s.kit.CollectorConfig(), src, "service %s: --config=%s is not the mounted examples/otel-collector/config.yaml", s.collector, cfgPath)
	c, err := LoadCollectorConfig(src)
	require.NoError(t, err)
	return c
}

// listenPorts returns the container ports a service listens on, from its
// command line (-listen, --web.listen-address), its config (the collector)
// or the image's well-known default (Grafana, Prometheus).
func (s stack) listenPorts(t *testing.T, service string) []string {
	t.Helper()
	args := s.args(t, service)
	var ports []string
	add := func(addr string) {
		p, err := Port(addr)
		require.NoError(t, err, "service %s: address %q", service, addr)
		ports = append(ports, p)
	}
	if v, ok := FlagValue(args, "listen"); ok {
		add(v)
	}
	switch service {
	case s.collector:
		c := s.collectorConfig(t)
		for _, e := range []string{
			c.Receivers.OTLP.Protocols.GRPC.Endpoint,
			c.Receivers.OTLP.Protocols.HTTP.Endpoint,
			c.Exporters.Prometheus.Endpoint,
		} {
			_, def := EnvDefault(e)
			add(def)
		}
		ports = append(ports, s.collectorTelemetryPort(t))
	case s.prometheus:
		if v, ok := FlagValue(args, "web.listen-address"); ok {
			add(v)
		} else {
			ports = append(ports, "9090")
		}
	case s.alertmanager:
		if v, ok := FlagValue(args, "web.listen-address"); ok {
			add(v)
		} else {
			ports = append(ports, "9093")
		}
	case s.traceBackend(t):
		// The Jaeger image's defaults: UI and query API, OTLP gRPC and HTTP.
		ports = append(ports, "16686", "4317", "4318")
	case s.redisService(t):
		if v, ok := FlagValue(args, "port"); ok {
			ports = append(ports, v)
		} else {
			ports = append(ports, "6379") // the image's default
		}
	case s.grafana:
		env, err := s.compose.Services[service].Env()
		require.NoError(t, err)
		if p := env["GF_SERVER_HTTP_PORT"]; p != "" {
			ports = append(ports, p)
		} else {
			ports = append(ports, "3000")
		}
	}
	return ports
}

// collectorTelemetryPort returns the port of the collector's own metrics
// (its config's pull reader, 8888 by default).
func (s stack) collectorTelemetryPort(t *testing.T) string {
	t.Helper()
	for _, r := range s.collectorConfig(t).Service.Telemetry.Metrics.Readers {
		if p := r.Pull.Exporter.Prometheus.Port; p != "" {
			_, def := EnvDefault(p)
			return def
		}
	}
	return "8888"
}

// traceBackend returns the service the collector sends its traces to.
func (s stack) traceBackend(t *testing.T) string {
	t.Helper()
	_, def := EnvDefault(s.collectorConfig(t).Exporters.OTLPHTTPTraces.Endpoint)
	u, err := url.Parse(def)
	require.NoError(t, err)
	return u.Hostname()
}

// redisService returns the service the demo replicas share their breakers
// through: the host of their -redis URL ("" if none has one).
func (s stack) redisService(t *testing.T) string {
	t.Helper()
	for _, svc := range s.otlpServices(t) {
		if v, ok := FlagValue(s.args(t, svc), "redis"); ok {
			u, err := url.Parse(v)
			require.NoError(t, err, "service %s: -redis %s", svc, v)
			return u.Hostname()
		}
	}
	return ""
}

// otlpServices returns the compose services that export OTLP (the demo
// replicas), sorted by name.
func (s stack) otlpServices(t *testing.T) []string {
	t.Helper()
	var out []string
	for name, svc := range s.compose.Services {
		env, err := svc.Env()
		require.NoError(t, err)
		if _, ok := env["OTEL_EXPORTER_OTLP_ENDPOINT"]; ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// extraFlags returns a service's command-line flags but those named, which
// the live run sets itself: feature flags and the like, so that the run
// uses the compose stack's.
func (s stack) extraFlags(t *testing.T, service string, except ...string) []string {
	t.Helper()
	var out []string
	args := s.args(t, service)
	for i := 0; i < len(args); i++ {
		name := strings.TrimLeft(args[i], "-")
		if name == args[i] {
			require.Failf(t, "unexpected argument", "service %s: argument %q is not a flag", service, args[i])
		}
		k, _, hasValue := strings.Cut(name, "=")
		if slices.Contains(except, k) {
			if !hasValue {
				i++
			}
			continue
		}
		out = append(out, args[i])
	}
	return out
}

var pinnedTag = regexp.MustCompile(`^v?\d+(\.\d+)+([-.][0-9A-Za-z.-]+)?$`)

func TestComposeImagesPinnedAndBuildsExist(t *testing.T) {
	s := loadStack(t)
	require.NotEmpty(t, s.compose.Services)
	for name, svc := range s.compose.Services {
		ctx, dockerfile, hasBuild, err := svc.BuildSpec()
		require.NoError(t, err, name)
		if hasBuild {
			ctxDir := s.hostPath(ctx)
			assert.DirExists(t, ctxDir, "service %s: build context", name)
			df := filepath.Join(ctxDir, dockerfile)
			require.FileExists(t, df, "service %s: Dockerfile", name)
			b, err := os.ReadFile(df)
			require.NoError(t, err)
			for _, from := range regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(string(b), -1) {
				img := from[1]
				_, tag, ok := strings.Cut(img[strings.LastIndex(img, "/")+1:], ":")
				assert.True(t, ok && pinnedTag.MatchString(strings.Split(tag, "-")[0]), "service %s: base image %s is not pinned to a version", name, img)
			}
			continue
		}
		require.NotEmpty(t, svc.Image, "service %s has neither image nor build", name)
		ref := svc.Image
		if before, _, ok := strings.Cut(ref, "@sha256:"); ok {
			ref = before
		}
		_, tag, ok := strings.Cut(ref[strings.LastIndex(ref, "/")+1:], ":")
		assert.True(t, ok && pinnedTag.MatchString(tag), "service %s: image %s is not pinned to a version", name, svc.Image)
	}
}

func TestComposeDemoBuildsTheDemo(t *testing.T) {
	s := loadStack(t)
	var found bool
	for name, svc := range s.compose.Services {
		ctx, dockerfile, ok, err := svc.BuildSpec()
		require.NoError(t, err)
		if !ok {
			continue
		}
		found = true
		assert.Equal(t, s.kit.Root, s.hostPath(ctx), "service %s: the build context must be the repository root", name)
		assert.Equal(t, s.kit.Path("examples", "demo", "Dockerfile"), filepath.Join(s.hostPath(ctx), dockerfile))
		b, err := os.ReadFile(filepath.Join(s.hostPath(ctx), dockerfile))
		require.NoError(t, err)
		assert.Contains(t, string(b), "cd examples/demo && CGO_ENABLED=0 go build", "the Dockerfile builds the demo module")
		assert.Contains(t, string(b), "COPY examples/demo/go.mod examples/demo/go.sum", "and downloads its modules first")
		assert.GreaterOrEqual(t, strings.Count(string(b), "\nFROM "), 1, "multi-stage build")
	}
	assert.True(t, found, "no service builds the demo")
}

func TestComposeMountsExist(t *testing.T) {
	s := loadStack(t)
	for name, svc := range s.compose.Services {
		mounts, err := svc.Mounts()
		require.NoError(t, err, name)
		for _, m := range mounts {
			if !m.Bind() {
				continue
			}
			_, err := os.Stat(s.hostPath(m.Source))
			assert.NoError(t, err, "service %s mounts %s, which does not exist", name, m.Source)
			assert.True(t, path.IsAbs(m.Target), "service %s: mount target %q", name, m.Target)
		}
		deps, err := svc.DependencyConditions()
		require.NoError(t, err)
		for d, cond := range deps {
			require.Contains(t, s.compose.Services, d, "service %s depends on an unknown service", name)
			assert.Contains(t, []string{"service_started", "service_healthy"}, cond, "service %s: condition on %s", name, d)
			if cond == "service_healthy" {
				assert.NotNil(t, s.compose.Services[d].Healthcheck, "service %s waits for %s to be healthy, which has no health check", name, d)
			}
		}
		ports, err := svc.PortMappings()
		require.NoError(t, err)
		listen := s.listenPorts(t, name)
		for _, p := range ports {
			assert.Contains(t, listen, p.Target, "service %s publishes container port %s, on which it does not listen (%v)", name, p.Target, listen)
		}
	}
}

func TestComposeAgreesWithPrometheusConfig(t *testing.T) {
	s := loadStack(t)
	args := s.args(t, s.prometheus)
	cfgPath, ok := FlagValue(args, "config.file")
	if !ok {
		cfgPath = "/etc/prometheus/prometheus.yml"
	}
	require.Equal(t, s.kit.PrometheusConfig(), s.mountSource(t, s.prometheus, cfgPath),
		"service %s: --config.file=%s is not the mounted examples/prometheus/prometheus.yml", s.prometheus, cfgPath)

	cfg, err := LoadPromConfig(s.kit.PrometheusConfig())
	require.NoError(t, err)

	// Rule files resolve next to the config, in the container and in the repo.
	require.NotEmpty(t, cfg.RuleFiles)
	for _, rf := range cfg.RuleFiles {
		inContainer := rf
		if !path.IsAbs(rf) {
			inContainer = path.Join(path.Dir(cfgPath), rf)
		}
		src := s.mountSource(t, s.prometheus, inContainer)
		require.NotEmpty(t, src, "service %s: rule file %s is not mounted", s.prometheus, inContainer)
		assert.Equal(t, filepath.Join(filepath.Dir(s.kit.PrometheusConfig()), filepath.FromSlash(rf)), src,
			"rule file %s: compose mounts a different file than the one promtool checks", rf)
		assert.FileExists(t, src)
	}

	exporterPort, err := Port(func() string { _, d := EnvDefault(s.collectorConfig(t).Exporters.Prometheus.Endpoint); return d }())
	require.NoError(t, err)

	sources := map[string]string{}
	var sawCollector, sawSelf bool
	direct := map[string]bool{}
	telemetryPort := s.collectorTelemetryPort(t)
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			src := st.Labels["source"]
			for _, target := range st.Targets {
				host, port, err := splitHostPort(target)
				require.NoError(t, err, target)
				require.Contains(t, s.compose.Services, host, "job %s scrapes %s, which is not a compose service", sc.JobName, target)
				assert.Contains(t, s.listenPorts(t, host), port, "job %s scrapes %s, but service %s does not listen on %s", sc.JobName, target, host, port)
				switch {
				case host == s.collector && port == telemetryPort:
					sawSelf = true
					assert.Empty(t, src, "job %s scrapes the collector's own metrics, not breakers: no source label", sc.JobName)
					continue
				case host == s.collector:
					sawCollector = true
					assert.True(t, sc.HonorLabels, "job %s scrapes the collector and needs honor_labels: true", sc.JobName)
					assert.Equal(t, exporterPort, port, "job %s must scrape the collector's Prometheus exporter port", sc.JobName)
				default:
					direct[host] = true
				}
				assert.NotEmpty(t, src, "job %s: every target group of breakers needs a source label so the direct and collector copies of a series differ", sc.JobName)
			}
			if src == "" {
				continue
			}
			if prev, dup := sources[src]; dup && prev != sc.JobName {
				t.Errorf("jobs %s and %s share source=%q", prev, sc.JobName, src)
			}
			sources[src] = sc.JobName
		}
	}
	assert.True(t, sawCollector, "prometheus.yml does not scrape the collector")
	assert.True(t, sawSelf, "prometheus.yml does not scrape the collector's own metrics")
	for _, d := range s.otlpServices(t) {
		assert.True(t, direct[d], "prometheus.yml does not scrape replica %s directly", d)
	}

	// Alerts go to the Alertmanager of the stack.
	ams := cfg.AlertmanagerTargets()
	require.Len(t, ams, 1)
	host, port, err := splitHostPort(ams[0])
	require.NoError(t, err)
	assert.Equal(t, s.alertmanager, host)
	assert.Contains(t, s.listenPorts(t, host), port)
	amCfgPath, ok := FlagValue(s.args(t, s.alertmanager), "config.file")
	require.True(t, ok)
	assert.Equal(t, s.kit.AlertmanagerConfig(), s.mountSource(t, s.alertmanager, amCfgPath))

	// Exemplars are stored.
	assert.Contains(t, args, "--enable-feature=exemplar-storage", "Prometheus keeps exemplars only with exemplar storage on")
}

func TestComposeAgreesWithCollectorConfig(t *testing.T) {
	s := loadStack(t)
	c := s.collectorConfig(t)
	_, grpcDef := EnvDefault(c.Receivers.OTLP.Protocols.GRPC.Endpoint)
	_, httpDef := EnvDefault(c.Receivers.OTLP.Protocols.HTTP.Endpoint)
	grpcPort, err := Port(grpcDef)
	require.NoError(t, err)
	httpPort, err := Port(httpDef)
	require.NoError(t, err)

	var exporters int
	serviceNames := map[string]bool{}
	for name, svc := range s.compose.Services {
		env, err := svc.Env()
		require.NoError(t, err)
		ep, ok := env["OTEL_EXPORTER_OTLP_ENDPOINT"]
		if !ok {
			continue
		}
		exporters++
		u, err := url.Parse(ep)
		require.NoError(t, err)
		assert.Equal(t, s.collector, u.Hostname(), "service %s exports OTLP to %s, not to the collector service", name, ep)
		want := httpPort
		if strings.HasPrefix(env["OTEL_EXPORTER_OTLP_PROTOCOL"], "grpc") {
			want = grpcPort
		}
		assert.Equal(t, want, u.Port(), "service %s: OTLP endpoint port does not match the collector's receiver", name)
		assert.NotEmpty(t, env["OTEL_SERVICE_NAME"], "service %s: set OTEL_SERVICE_NAME; it becomes the job label of the collector's series", name)
		serviceNames[env["OTEL_SERVICE_NAME"]] = true
		assert.NotContains(t, env["OTEL_RESOURCE_ATTRIBUTES"], "service.instance.id", "service %s: replicas must keep their own service.instance.id", name)
		deps, err := svc.Dependencies()
		require.NoError(t, err)
		assert.Contains(t, deps, s.collector)
	}
	assert.GreaterOrEqual(t, exporters, 2, "two demo replicas should export OTLP to the collector")
	assert.Len(t, serviceNames, 1, "the replicas are one service: one OTEL_SERVICE_NAME")

	// Exemplars pass through the collector's exporter only in OpenMetrics;
	// traces go on to a trace backend of the stack.
	assert.True(t, c.Exporters.Prometheus.EnableOpenMetrics, "the collector's prometheus exporter needs enable_open_metrics: true for exemplars")
	backend := s.traceBackend(t)
	require.Contains(t, s.compose.Services, backend, "the collector sends traces to %s, which is not a compose service", backend)
	_, def := EnvDefault(c.Exporters.OTLPHTTPTraces.Endpoint)
	u, err := url.Parse(def)
	require.NoError(t, err)
	assert.Contains(t, s.listenPorts(t, backend), u.Port(), "the trace backend's OTLP/HTTP port")
	assert.Equal(t, "json", c.Exporters.OTLPHTTPTraces.Encoding, "the e2e trace receiver reads JSON")
	deps, err := s.compose.Services[s.collector].Dependencies()
	require.NoError(t, err)
	assert.Contains(t, deps, backend)
}

// Every published port is bound to loopback, and every service has a
// health check, but those whose image has no program to run one.
func TestComposeLoopbackAndHealthchecks(t *testing.T) {
	s := loadStack(t)
	noHealthcheck := map[string]bool{s.collector: true, s.traceBackend(t): true} // images without a shell or HTTP client
	for name, svc := range s.compose.Services {
		ports, err := svc.PortMappings()
		require.NoError(t, err)
		for _, p := range ports {
			assert.Equal(t, "127.0.0.1", p.HostIP, "service %s publishes %s:%s on every interface", name, p.Published, p.Target)
		}
		if noHealthcheck[name] {
			assert.Nil(t, svc.Healthcheck, "service %s: its image cannot run a health check", name)
			continue
		}
		require.NotNil(t, svc.Healthcheck, "service %s has no health check", name)
		cmd, err := svc.Healthcheck.Command()
		require.NoError(t, err, name)
		require.NotEmpty(t, cmd, name)
		if name == s.redisService(t) {
			// Redis speaks no HTTP: its image's client pings it.
			assert.Equal(t, "redis-cli", cmd[0], "service %s", name)
			assert.Equal(t, "ping", cmd[len(cmd)-1], "service %s", name)
			port, ok := FlagValue(cmd, "p")
			if !ok {
				port = "6379"
			}
			assert.Contains(t, s.listenPorts(t, name), port, "service %s: the health check pings a port it does not listen on", name)
			continue
		}
		var probe string
		for _, a := range cmd {
			if strings.HasPrefix(a, "http://") {
				probe = a
			}
		}
		require.NotEmpty(t, probe, "service %s: the health check probes no URL: %v", name, cmd)
		u, err := url.Parse(probe)
		require.NoError(t, err)
		assert.Contains(t, s.listenPorts(t, name), u.Port(), "service %s: the health check probes a port it does not listen on", name)
		if _, _, built, _ := svc.BuildSpec(); built {
			// The demo's image has no HTTP client: the demo probes itself.
			assert.Equal(t, []string{"/usr/local/bin/demo", "-healthcheck"}, cmd[:2], "service %s", name)
			b, err := os.ReadFile(s.kit.Path("examples", "demo", "Dockerfile"))
			require.NoError(t, err)
			assert.Contains(t, string(b), "/usr/local/bin/demo", "the Dockerfile installs the demo where the health check runs it")
			assert.Equal(t, "/healthz", u.Path)
		} else {
			assert.Equal(t, "wget", cmd[0], "service %s: the Prometheus, Alertmanager and Grafana images have busybox wget", name)
		}
	}
}

// The demo replicas share their breakers through the stack's Redis: one
// -redis URL for all of them, naming a service that runs Redis on the
// port it listens on, which each replica waits for.
func TestComposeReplicasShareRedis(t *testing.T) {
	s := loadStack(t)
	name := s.redisService(t)
	require.NotEmpty(t, name, "the demo replicas should share their breakers through Redis (-redis)")
	require.Contains(t, s.compose.Services, name, "-redis names %s, which is not a compose service", name)
	redisSvc := s.compose.Services[name]
	assert.True(t, strings.HasPrefix(redisSvc.Image, "redis:"), "service %s runs %s", name, redisSvc.Image)
	ports, err := redisSvc.PortMappings()
	require.NoError(t, err)
	assert.Empty(t, ports, "service %s: the shared state is the replicas' business; nothing outside the stack needs it", name)
	urls := map[string]bool{}
	for _, svc := range s.otlpServices(t) {
		v, ok := FlagValue(s.args(t, svc), "redis")
		if !assert.True(t, ok, "replica %s does not share its breakers (-redis)", svc) {
			continue
		}
		urls[v] = true
		u, err := url.Parse(v)
		require.NoError(t, err)
		assert.Equal(t, "redis", u.Scheme, "replica %s: -redis %s", svc, v)
		assert.Contains(t, s.listenPorts(t, name), u.Port(), "replica %s: -redis %s, a port %s does not listen on", svc, v, name)
		deps, err := s.compose.Services[svc].DependencyConditions()
		require.NoError(t, err)
		assert.Equal(t, "service_healthy", deps[name], "replica %s waits for Redis to answer", svc)
	}
	assert.Len(t, urls, 1, "the replicas share one Redis (and one database): %v", urls)
}

func TestComposeAgreesWithGrafanaProvisioning(t *testing.T) {
	s := loadStack(t)
	prov := s.mountSource(t, s.grafana, "/etc/grafana/provisioning")
	require.Equal(t, s.kit.Path("examples", "grafana", "provisioning"), prov)

	var ds struct {
		Datasources []struct {
			Name, Type, URL, UID string
			JSONData             struct {
				TimeInterval                string `yaml:"timeInterval"`
				ExemplarTraceIDDestinations []struct {
					Name          string `yaml:"name"`
					DatasourceUID string `yaml:"datasourceUid"`
				} `yaml:"exemplarTraceIdDestinations"`
			} `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	files, err := filepath.Glob(filepath.Join(prov, "datasources", "*.y*ml"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no datasource provisioning file")
	for _, f := range files {
		require.NoError(t, readYAML(f, &ds))
	}
	require.NotEmpty(t, ds.Datasources)
	var promDS int
	uids := map[string]string{} // uid -> type
	for _, d := range ds.Datasources {
		uids[d.UID] = d.Type
		if d.Type == "jaeger" {
			u, err := url.Parse(d.URL)
			require.NoError(t, err)
			assert.Equal(t, s.traceBackend(t), u.Hostname(), "datasource %s should point at the trace backend the collector feeds", d.Name)
			assert.Contains(t, s.listenPorts(t, u.Hostname()), u.Port())
		}
	}
	for _, d := range ds.Datasources {
		if d.Type != "prometheus" {
			continue
		}
		promDS++
		require.NotEmpty(t, d.JSONData.ExemplarTraceIDDestinations, "datasource %s: exemplars need a trace-id link", d.Name)
		for _, dst := range d.JSONData.ExemplarTraceIDDestinations {
			assert.Equal(t, "trace_id", dst.Name, "the exemplar label that holds the trace id (telemetry/prom and the collector's exporter)")
			assert.Equal(t, "jaeger", uids[dst.DatasourceUID], "exemplars link to the provisioned trace datasource")
		}
		u, err := url.Parse(d.URL)
		require.NoError(t, err)
		assert.Equal(t, s.prometheus, u.Hostname(), "datasource %s points at %s, not the prometheus service", d.Name, d.URL)
		assert.Contains(t, s.listenPorts(t, s.prometheus), u.Port(), "datasource %s port", d.Name)
		var global struct {
			Global struct {
				ScrapeInterval string `yaml:"scrape_interval"`
			} `yaml:"global"`
		}
		require.NoError(t, readYAML(s.kit.PrometheusConfig(), &global))
		assert.Equal(t, global.Global.ScrapeInterval, d.JSONData.TimeInterval, "datasource timeInterval should be the scrape interval")
	}
	assert.Equal(t, 1, promDS)

	var dp struct {
		Providers []struct {
			Name    string `yaml:"name"`
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	files, err = filepath.Glob(filepath.Join(prov, "dashboards", "*.y*ml"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no dashboard provider file")
	for _, f := range files {
		require.NoError(t, readYAML(f, &dp))
	}
	require.NotEmpty(t, dp.Providers)
	var loaded bool
	for _, p := range dp.Providers {
		assert.Equal(t, "file", p.Type)
		src := s.mountSource(t, s.grafana, p.Options.Path)
		if src == "" {
			continue
		}
		if src == s.kit.Dashboard() {
			loaded = true
			continue
		}
		if fi, err := os.Stat(src); err == nil && fi.IsDir() {
			loaded = loaded || filepath.Dir(s.kit.Dashboard()) == src
		}
	}
	// The dashboard may also be mounted as a single file inside the
	// provider's folder.
	mounts, err := s.compose.Services[s.grafana].Mounts()
	require.NoError(t, err)
	for _, m := range mounts {
		if s.hostPath(m.Source) != s.kit.Dashboard() {
			continue
		}
		for _, p := range dp.Providers {
			if path.Clean(p.Options.Path) == path.Dir(m.Target) || path.Clean(p.Options.Path) == path.Clean(m.Target) {
				loaded = true
			}
		}
	}
	assert.True(t, loaded, "no dashboard provider loads examples/grafana/dashboard.json")

	env, err := s.compose.Services[s.grafana].Env()
	require.NoError(t, err)
	if home := env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" {
		assert.Equal(t, s.kit.Dashboard(), s.mountSource(t, s.grafana, home), "home dashboard path")
	}
	deps, err := s.compose.Services[s.grafana].Dependencies()
	require.NoError(t, err)
	assert.True(t, slices.Contains(deps, s.prometheus), "grafana should depend on prometheus")
}

func splitHostPort(target string) (string, string, error) {
	u, err := url.Parse("//" + target)
	if err != nil {
		return "", "", err
	}
	return u.Hostname(), u.Port(), nil
}
