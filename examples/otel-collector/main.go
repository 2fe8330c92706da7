// Command otelcol-fusebox is an OpenTelemetry Collector built from the
// upstream components that config.yaml in this folder uses, and no others:
// the OTLP receiver, the batch processor, the Prometheus, OTLP/HTTP and
// debug exporters. The end-to-end tests run it with that exact config, so the
// config the docker-compose stack gives the upstream contrib image is the one
// that was tested.
//
//	go build -o ../../bin/otelcol-fusebox .
//	../../bin/otelcol-fusebox --config config.yaml
package main

import (
	"fmt"
	"os"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusexporter"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/batchprocessor"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

// version is the collector release line this binary is built from; keep it in
// step with go.mod and the contrib image tag in docker-compose.yml.
const version = "0.165.0"

// components returns the factories for exactly the components config.yaml
// names. Adding a component to the config means adding its factory here.
func components() (otelcol.Factories, error) {
	receivers, err := otelcol.MakeFactoryMap[receiver.Factory](
		otlpreceiver.NewFactory(),
	)
	if err != nil {
		return otelcol.Factories{}, err
	}
	processors, err := otelcol.MakeFactoryMap[processor.Factory](
		batchprocessor.NewFactory(),
	)
	if err != nil {
		return otelcol.Factories{}, err
	}
	exporters, err := otelcol.MakeFactoryMap[exporter.Factory](
		prometheusexporter.NewFactory(),
		debugexporter.NewFactory(),
		otlphttpexporter.NewFactory(),
	)
	if err != nil {
		return otelcol.Factories{}, err
	}
	return otelcol.Factories{
		Receivers:  receivers,
		Processors: processors,
		Exporters:  exporters,
		Telemetry:  otelconftelemetry.NewFactory(),
	}, nil
}

func settings() otelcol.CollectorSettings {
	return otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{
			Command:     "otelcol-fusebox",
			Description: "OpenTelemetry Collector for the fusebox examples",
			Version:     version,
		},
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{
					envprovider.NewFactory(),
					fileprovider.NewFactory(),
				},
				// A bare --config path is a file.
				DefaultScheme: "file",
			},
		},
	}
}

func main() {
	cmd := otelcol.NewCommand(settings())
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "otelcol-fusebox:", err)
		os.Exit(1)
	}
}
