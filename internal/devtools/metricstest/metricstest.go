// Package metricstest checks that a latchkey component exposes akv2k8s
// 1.8.4's metrics as akv2k8s did: the same names, types, help and label
// names, and only the label values akv2k8s used. The reference is
// akv2k8s.yaml, written from akv2k8s's source (not from latchkey's code, so
// the check can fail).
package metricstest

import (
	_ "embed"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/yaml"
)

//go:embed akv2k8s.yaml
var fixtureYAML []byte

// Metric is one of akv2k8s's metrics.
type Metric struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Help   string   `json:"help"`
	Labels []string `json:"labels,omitempty"`
	// Series are the label values akv2k8s counted, by label name.
	Series []map[string]string `json:"series,omitempty"`
}

// Fixture is akv2k8s.yaml.
type Fixture struct {
	// Components maps a latchkey component (controller, webhook, resolver)
	// to the akv2k8s metrics it carries on.
	Components map[string][]Metric `json:"components"`
	// Absent are names no latchkey component may expose.
	Absent []string `json:"absent"`
}

// Load reads the fixture strictly.
func Load() (Fixture, error) {
	var f Fixture
	if err := yaml.UnmarshalStrict(fixtureYAML, &f); err != nil {
		return f, fmt.Errorf("akv2k8s.yaml: %w", err)
	}
	return f, nil
}

// Check gathers g and compares its akv2k8s_* families with akv2k8s's
// metrics for component: each must be there (a metric with labels appears
// once a series is counted: exercise the component first) with akv2k8s's
// type, help and label names, each series with label values akv2k8s used;
// no other akv2k8s_* family may be there.
func Check(t testing.TB, g prometheus.Gatherer, component string) {
	t.Helper()
	for _, problem := range Compare(t, g, component) {
		t.Error(problem)
	}
}

// Compare is Check's findings, one line per problem.
func Compare(t testing.TB, g prometheus.Gatherer, component string) []string {
	t.Helper()
	f, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	want, ok := f.Components[component]
	if !ok {
		t.Fatalf("akv2k8s.yaml has no component %q", component)
	}
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.MetricFamily{}
	for _, fam := range families {
		if strings.HasPrefix(fam.GetName(), "akv2k8s_") {
			got[fam.GetName()] = fam
		}
	}
	var problems []string
	for _, m := range want {
		fam, ok := got[m.Name]
		delete(got, m.Name)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: not exposed", m.Name))
			continue
		}
		problems = append(problems, compareFamily(m, fam)...)
	}
	for _, name := range slices.Sorted(maps.Keys(got)) {
		why := "not one of akv2k8s's " + component + " metrics"
		if slices.Contains(f.Absent, name) {
			why = "removed from akv2k8s before 1.8.4"
		}
		problems = append(problems, fmt.Sprintf("%s: exposed, but %s", name, why))
	}
	return problems
}

func compareFamily(m Metric, fam *dto.MetricFamily) []string {
	var problems []string
	if typ := strings.ToLower(fam.GetType().String()); typ != m.Type {
		problems = append(problems, fmt.Sprintf("%s: type %s, akv2k8s's is %s", m.Name, typ, m.Type))
	}
	if fam.GetHelp() != m.Help {
		problems = append(problems, fmt.Sprintf("%s: help %q, akv2k8s's is %q", m.Name, fam.GetHelp(), m.Help))
	}
	wantNames := slices.Sorted(slices.Values(m.Labels))
	for _, s := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range s.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if names := slices.Sorted(maps.Keys(labels)); !slices.Equal(names, wantNames) {
			problems = append(problems, fmt.Sprintf("%s: series with labels %v, akv2k8s's are %v", m.Name, names, wantNames))
			continue
		}
		if len(m.Labels) > 0 && !slices.ContainsFunc(m.Series, func(v map[string]string) bool { return maps.Equal(v, labels) }) {
			problems = append(problems, fmt.Sprintf("%s: series %s, which akv2k8s never counted", m.Name, format(labels)))
		}
	}
	return problems
}

// format writes labels as Prometheus does: {a="x",b="y"}.
func format(labels map[string]string) string {
	keys := slices.Collect(maps.Keys(labels))
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, labels[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}
